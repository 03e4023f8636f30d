//! The user record, and the two ways the contract shows it: the v1 profile
//! (`GET /api/users/me/`) and the v3 `data` object (`GET /api/v3/auth/user`).

use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::clock::Timestamp;
use crate::store::StoreError;
use crate::tokens::{AccessToken, KeyId, RandomnessUnavailable, TokenNonce};

/// One record serves both API families.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub email_confirmed_at: Option<Timestamp>,
    pub phone_confirmed_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub user_metadata: Map<String, Value>,
    pub app_metadata: Map<String, Value>,
    pub token: TokenState,
}

/// What the store keeps of the current access token: the nonce it is derived from, the key
/// that made it (so it can be rebuilt after a rotation), and when it was issued (for
/// `TOKEN_TTL_SECONDS`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TokenState {
    pub nonce: TokenNonce,
    pub key_id: KeyId,
    pub issued_at: Timestamp,
}

/// `GET /api/users/me/`: exactly the fields of the contract.
#[derive(Debug, Serialize)]
pub struct CurrentUser {
    external_id: String,
    email: String,
    email_verified: bool,
    username: String,
    first_name: String,
    last_name: String,
    is_authenticated: bool,
    access_token: String,
}

impl CurrentUser {
    pub fn new(user: User, access_token: &AccessToken) -> Self {
        Self {
            external_id: user.id.to_string(),
            email_verified: user.email_confirmed_at.is_some(),
            email: user.email,
            username: user.username,
            first_name: user.first_name,
            last_name: user.last_name,
            is_authenticated: true,
            access_token: access_token.to_string(),
        }
    }
}

/// `GET /api/users/me/token/` and `POST .../regenerate/`.
#[derive(Debug, Serialize)]
pub struct AccessTokenBody {
    access_token: String,
}

impl AccessTokenBody {
    pub fn new(access_token: &AccessToken) -> Self {
        Self {
            access_token: access_token.to_string(),
        }
    }
}

/// The `data` of `GET /api/v3/auth/user`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthUser {
    id: String,
    email: String,
    email_confirmed_at: Option<Timestamp>,
    phone: Option<String>,
    phone_confirmed_at: Option<Timestamp>,
    created_at: Timestamp,
    updated_at: Timestamp,
    user_metadata: Map<String, Value>,
    app_metadata: Map<String, Value>,
}

impl From<User> for AuthUser {
    fn from(user: User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email,
            email_confirmed_at: user.email_confirmed_at,
            phone: user.phone,
            phone_confirmed_at: user.phone_confirmed_at,
            created_at: user.created_at,
            updated_at: user.updated_at,
            user_metadata: user.user_metadata,
            app_metadata: user.app_metadata,
        }
    }
}

/// What an administrator gives to create a user (see `usersctl create-user`).
#[derive(Clone, Debug, Default)]
pub struct NewUser {
    pub email: String,
    /// Defaults to the part of the email before the `@`.
    pub username: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub email_confirmed: bool,
    pub phone_confirmed: bool,
    pub user_metadata: Map<String, Value>,
    pub app_metadata: Map<String, Value>,
}

/// Why a user was not created. Nothing was written in any case.
#[derive(Debug)]
pub enum CreateUserError {
    Invalid(String),
    EmailTaken,
    Store(StoreError),
    Randomness(RandomnessUnavailable),
}

impl std::fmt::Display for CreateUserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(reason) => f.write_str(reason),
            Self::EmailTaken => f.write_str("a user with this email already exists"),
            Self::Store(error) => error.fmt(f),
            Self::Randomness(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for CreateUserError {}

impl From<StoreError> for CreateUserError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<RandomnessUnavailable> for CreateUserError {
    fn from(error: RandomnessUnavailable) -> Self {
        Self::Randomness(error)
    }
}

impl NewUser {
    /// The record to store, or why these details cannot make one.
    pub fn into_user(self, id: Uuid, now: Timestamp, token: TokenState) -> Result<User, CreateUserError> {
        let email = self.email.trim().to_string();
        validate_email(&email)?;
        if self.phone_confirmed && self.phone.is_none() {
            return Err(CreateUserError::Invalid(
                "a phone can only be confirmed if there is one (--phone)".into(),
            ));
        }
        let username = match self.username {
            Some(username) if username.trim().is_empty() => {
                return Err(CreateUserError::Invalid("the username must not be empty".into()));
            }
            Some(username) => username,
            None => email.split('@').next().unwrap_or_default().to_string(),
        };
        let confirmed = |yes: bool| yes.then_some(now);
        Ok(User {
            id,
            username,
            first_name: self.first_name,
            last_name: self.last_name,
            email_confirmed_at: confirmed(self.email_confirmed),
            phone_confirmed_at: confirmed(self.phone_confirmed),
            phone: self.phone,
            created_at: now,
            updated_at: now,
            user_metadata: self.user_metadata,
            app_metadata: self.app_metadata,
            email,
            token,
        })
    }
}

/// A deliberately plain check (one `@`, a dotted domain, no spaces, at most 254
/// characters): enough to catch typos, without pretending to implement RFC 5322.
fn validate_email(email: &str) -> Result<(), CreateUserError> {
    let invalid = || CreateUserError::Invalid(format!("{email:?} is not a valid email address"));
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let well_formed = email.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if well_formed { Ok(()) } else { Err(invalid()) }
}

/// The form under which an email is unique: case-insensitive.
pub fn normalized_email(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::{KeyRing, TokenKey, new_user_id};
    use serde_json::json;

    fn keys() -> KeyRing {
        KeyRing::single(TokenKey::new(&[1; 32]).unwrap())
    }

    fn token_state() -> TokenState {
        TokenState {
            nonce: TokenNonce::generate().unwrap(),
            key_id: keys().current().id(),
            issued_at: Timestamp::from_epoch_seconds(1_705_312_800).unwrap(),
        }
    }

    fn user(new: NewUser) -> User {
        new.into_user(
            new_user_id().unwrap(),
            Timestamp::from_epoch_seconds(1_705_312_800).unwrap(),
            token_state(),
        )
        .unwrap()
    }

    #[test]
    fn the_v1_profile_has_exactly_the_contract_fields() {
        let user = user(NewUser {
            email: "john@example.com".into(),
            first_name: "John".into(),
            last_name: "Doe".into(),
            email_confirmed: true,
            ..NewUser::default()
        });
        let token = keys().access_token(user.id, user.token.nonce);
        let body = serde_json::to_value(CurrentUser::new(user.clone(), &token)).unwrap();
        assert_eq!(
            body,
            json!({
                "external_id": user.id.to_string(),
                "email": "john@example.com",
                "email_verified": true,
                "username": "john",
                "first_name": "John",
                "last_name": "Doe",
                "is_authenticated": true,
                "access_token": token.to_string(),
            })
        );
    }

    #[test]
    fn the_v3_data_uses_nulls_and_empty_objects_for_what_is_unset() {
        let user = user(NewUser {
            email: "user@example.com".into(),
            ..NewUser::default()
        });
        assert_eq!(
            serde_json::to_value(AuthUser::from(user.clone())).unwrap(),
            json!({
                "id": user.id.to_string(),
                "email": "user@example.com",
                "emailConfirmedAt": null,
                "phone": null,
                "phoneConfirmedAt": null,
                "createdAt": "2024-01-15T10:00:00Z",
                "updatedAt": "2024-01-15T10:00:00Z",
                "userMetadata": {},
                "appMetadata": {},
            })
        );
    }

    #[test]
    fn email_verified_follows_the_confirmation_time() {
        let unconfirmed = user(NewUser {
            email: "a@example.com".into(),
            ..NewUser::default()
        });
        let token = keys().access_token(unconfirmed.id, unconfirmed.token.nonce);
        let body = serde_json::to_value(CurrentUser::new(unconfirmed, &token)).unwrap();
        assert_eq!(body["email_verified"], false);
    }

    #[test]
    fn bad_details_are_refused() {
        for email in [
            "",
            "plain",
            "@example.com",
            "a@b",
            "a@.com",
            "a b@example.com",
            "a@b@example.com",
        ] {
            let new = NewUser {
                email: email.into(),
                ..NewUser::default()
            };
            assert!(
                new.into_user(Uuid::nil(), Timestamp::now(), token_state())
                    .is_err(),
                "{email}"
            );
        }
        let new = NewUser {
            email: "a@example.com".into(),
            phone_confirmed: true,
            ..NewUser::default()
        };
        assert!(
            new.into_user(Uuid::nil(), Timestamp::now(), token_state())
                .is_err()
        );
    }

    #[test]
    fn emails_are_unique_without_regard_to_case() {
        assert_eq!(normalized_email(" John@Example.COM "), "john@example.com");
    }
}
