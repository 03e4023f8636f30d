//! The user record, its email address, and what an administrator gives to create one.

use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::clock::Timestamp;
use crate::tokens::{KeyId, TokenNonce};

/// One record serves both API families.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub id: Uuid,
    pub email: Email,
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

/// Why these details cannot make a user (nothing is written).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidUser(String);

/// An email address as an account holds it: trimmed as given, with the form it is unique
/// under (lower case), made once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    text: String,
    normalized: String,
}

impl Email {
    /// A new account's address, checked: one `@`, a dotted domain, no spaces, at most 254
    /// characters. Deliberately plain: enough to catch typos, without pretending to
    /// implement RFC 5322.
    pub fn parse(text: &str) -> Result<Self, InvalidUser> {
        let email = Self::lookup(text);
        let invalid = || InvalidUser(format!("{:?} is not a valid email address", email.text));
        let (local, domain) = email.text.split_once('@').ok_or_else(invalid)?;
        let well_formed = email.text.len() <= 254
            && !local.is_empty()
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !email.text.chars().any(|c| c.is_whitespace() || c.is_control());
        if well_formed { Ok(email) } else { Err(invalid()) }
    }

    /// What someone typed to find an account (a sign-in, `usersctl --email`), or what an
    /// account already holds: trimmed and normalised, not checked. A malformed one finds no
    /// account, at the cost of an unknown one.
    pub fn lookup(text: &str) -> Self {
        let text = text.trim().to_string();
        Self {
            normalized: text.to_lowercase(),
            text,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The form under which an email is unique: case-insensitive.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Email {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl NewUser {
    /// The record to store, or why these details cannot make one.
    pub fn into_user(self, id: Uuid, now: Timestamp, token: TokenState) -> Result<User, InvalidUser> {
        let email = Email::parse(&self.email)?;
        if self.phone_confirmed && self.phone.is_none() {
            return Err(InvalidUser(
                "a phone can only be confirmed if there is one (--phone)".into(),
            ));
        }
        let username = match self.username {
            Some(username) if username.trim().is_empty() => {
                return Err(InvalidUser("the username must not be empty".into()));
            }
            Some(username) => username,
            None => email.as_str().split('@').next().unwrap_or_default().to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::{KeyRing, TokenKey};

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
        let email = Email::lookup(" John@Example.COM ");
        assert_eq!(
            (email.as_str(), email.normalized()),
            ("John@Example.COM", "john@example.com")
        );
        assert_eq!(Email::parse(" John@Example.COM ").ok(), Some(email));
    }
}
