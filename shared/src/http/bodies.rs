//! The bodies of the contract's answers: the v1 profile (`GET /api/users/me/`), a token
//! (`GET .../token/`, `POST .../regenerate/`), the v3 `data` object (`GET
//! /api/v3/auth/user`), and the sign-in's answer. Fields are in the contract's order.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::app::NewSession;
use crate::clock::Timestamp;
use crate::tokens::AccessToken;
use crate::users::User;

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
            email: user.email.to_string(),
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
            email: user.email.to_string(),
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

/// The login's answer: the fields of `GET /api/users/me/` the page needs before it fetches
/// the token (with the new session) and the profile (with the token).
#[derive(Debug, Serialize)]
pub struct SignedIn {
    external_id: String,
    is_authenticated: bool,
}

impl SignedIn {
    pub fn new(session: &NewSession) -> Self {
        Self {
            external_id: session.session_id.user_id().to_string(),
            is_authenticated: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::{KeyRing, TokenKey, TokenNonce, new_user_id};
    use crate::users::{NewUser, TokenState};
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
}
