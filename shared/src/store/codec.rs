//! Items to records and back: what an item of each kind holds, and the typed reads that
//! refuse a damaged one.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::StoreError;
use super::schema::{Item, TTL_ATTRIBUTE, session_key, user_key};
use crate::clock::Timestamp;
use crate::lockout::Failures;
use crate::tokens::{KeyId, TokenNonce};
use crate::users::{Email, TokenState, User};

/// The update that replaces a user's token (its values: [`token_values`]).
pub(super) const SET_TOKEN: &str =
    "SET token_nonce = :nonce, token_key_id = :key_id, token_issued_at = :issued_at";

pub(super) fn token_values(token: &TokenState) -> Item {
    HashMap::from([
        (":nonce".into(), blob(token.nonce.as_bytes())),
        (":key_id".into(), blob(token.key_id.as_bytes())),
        (":issued_at".into(), number(token.issued_at.epoch_seconds())),
    ])
}

/// A session's item: its key, when it was opened, and its expiry (the TTL attribute).
pub(super) fn session_item(
    user_id: Uuid,
    session_lookup: &str,
    created_at: Timestamp,
    expires_at: Timestamp,
) -> Item {
    let mut item = session_key(user_id, session_lookup);
    item.insert("created_at".into(), number(created_at.epoch_seconds()));
    item.insert(TTL_ATTRIBUTE.into(), number(expires_at.epoch_seconds()));
    item
}

pub(super) fn number(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn blob(bytes: &[u8]) -> AttributeValue {
    AttributeValue::B(Blob::new(bytes))
}

pub(super) fn user_item(user: &User) -> Item {
    let mut item = user_key(user.id);
    let mut set = |name: &str, value: AttributeValue| {
        item.insert(name.into(), value);
    };
    set("email", AttributeValue::S(user.email.as_str().into()));
    set("username", AttributeValue::S(user.username.clone()));
    set("first_name", AttributeValue::S(user.first_name.clone()));
    set("last_name", AttributeValue::S(user.last_name.clone()));
    if let Some(phone) = &user.phone {
        set("phone", AttributeValue::S(phone.clone()));
    }
    if let Some(at) = user.email_confirmed_at {
        set("email_confirmed_at", number(at.epoch_seconds()));
    }
    if let Some(at) = user.phone_confirmed_at {
        set("phone_confirmed_at", number(at.epoch_seconds()));
    }
    set("created_at", number(user.created_at.epoch_seconds()));
    set("updated_at", number(user.updated_at.epoch_seconds()));
    set(
        "user_metadata",
        AttributeValue::S(Value::Object(user.user_metadata.clone()).to_string()),
    );
    set(
        "app_metadata",
        AttributeValue::S(Value::Object(user.app_metadata.clone()).to_string()),
    );
    set("token_nonce", blob(user.token.nonce.as_bytes()));
    set("token_key_id", blob(user.token.key_id.as_bytes()));
    set("token_issued_at", number(user.token.issued_at.epoch_seconds()));
    item
}

pub(super) fn user_from_item(item: &Item) -> Result<User, StoreError> {
    let fields = Fields(item);
    let id = fields.string("pk")?;
    let id = id
        .strip_prefix("USER#")
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| StoreError::corrupt("a user key is not USER#<uuid>"))?;
    Ok(User {
        id,
        email: Email::lookup(&fields.string("email")?),
        username: fields.string("username")?,
        first_name: fields.string("first_name")?,
        last_name: fields.string("last_name")?,
        phone: fields.optional_string("phone")?,
        email_confirmed_at: fields.optional_timestamp("email_confirmed_at")?,
        phone_confirmed_at: fields.optional_timestamp("phone_confirmed_at")?,
        created_at: fields.timestamp("created_at")?,
        updated_at: fields.timestamp("updated_at")?,
        user_metadata: fields.json_object("user_metadata")?,
        app_metadata: fields.json_object("app_metadata")?,
        token: TokenState {
            nonce: fields.nonce("token_nonce")?,
            key_id: fields.key_id("token_key_id")?,
            issued_at: fields.timestamp("token_issued_at")?,
        },
    })
}

/// A login's read: the account behind an email, its password hash (`None`: no password set)
/// and its failed logins in the current window.
#[derive(Clone)]
pub struct SignInRecord {
    pub user_id: Uuid,
    pub password_hash: Option<String>,
    pub failures: Failures,
}

/// Without the hash: a debug print or a panic message never holds one.
impl std::fmt::Debug for SignInRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInRecord")
            .field("user_id", &self.user_id)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<redacted>"),
            )
            .field("failures", &self.failures)
            .finish()
    }
}

pub(super) fn sign_in_from_item(item: &Item) -> Result<SignInRecord, StoreError> {
    let fields = Fields(item);
    let user_id = Uuid::parse_str(&fields.string("user_id")?)
        .map_err(|_| StoreError::corrupt("an email claim's user_id is not a UUID"))?;
    let failed_logins = match fields.optional("failed_logins") {
        None => 0,
        Some(value) => value
            .as_n()
            .ok()
            .and_then(|n| n.parse::<u32>().ok())
            .ok_or_else(|| StoreError::corrupt("failed_logins is not a small whole number"))?,
    };
    Ok(SignInRecord {
        user_id,
        password_hash: fields.optional_string("password_hash")?,
        failures: Failures {
            count: failed_logins,
            since: fields.optional_timestamp("failures_since")?,
        },
    })
}

/// Typed reads of an item's attributes; a missing or mistyped one is a corrupt item.
pub(super) struct Fields<'a>(pub(super) &'a Item);

impl Fields<'_> {
    pub(super) fn optional(&self, name: &str) -> Option<&AttributeValue> {
        self.0.get(name).filter(|value| !value.is_null())
    }

    pub(super) fn optional_string(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.optional(name)
            .map(|value| {
                value
                    .as_s()
                    .cloned()
                    .map_err(|_| StoreError::corrupt(format!("{name} is not a string")))
            })
            .transpose()
    }

    pub(super) fn string(&self, name: &str) -> Result<String, StoreError> {
        self.optional_string(name)?
            .ok_or_else(|| StoreError::corrupt(format!("{name} is missing")))
    }

    pub(super) fn optional_timestamp(&self, name: &str) -> Result<Option<Timestamp>, StoreError> {
        self.optional(name)
            .map(|value| {
                value
                    .as_n()
                    .ok()
                    .and_then(|n| n.parse::<i64>().ok())
                    .and_then(Timestamp::from_epoch_seconds)
                    .ok_or_else(|| {
                        StoreError::corrupt(format!(
                            "{name} is not whole epoch seconds between years 1 and 9999"
                        ))
                    })
            })
            .transpose()
    }

    pub(super) fn timestamp(&self, name: &str) -> Result<Timestamp, StoreError> {
        self.optional_timestamp(name)?
            .ok_or_else(|| StoreError::corrupt(format!("{name} is missing")))
    }

    pub(super) fn json_object(&self, name: &str) -> Result<Map<String, Value>, StoreError> {
        match self.optional_string(name)? {
            None => Ok(Map::new()),
            Some(text) => match serde_json::from_str(&text) {
                Ok(Value::Object(object)) => Ok(object),
                _ => Err(StoreError::corrupt(format!("{name} is not a JSON object"))),
            },
        }
    }

    pub(super) fn key_id(&self, name: &str) -> Result<KeyId, StoreError> {
        self.optional(name)
            .and_then(|value| value.as_b().ok())
            .and_then(|blob| KeyId::from_bytes(blob.as_ref()))
            .ok_or_else(|| StoreError::corrupt(format!("{name} is missing or not 4 bytes")))
    }

    pub(super) fn nonce(&self, name: &str) -> Result<TokenNonce, StoreError> {
        self.optional(name)
            .and_then(|value| value.as_b().ok())
            .and_then(|blob| TokenNonce::from_bytes(blob.as_ref()))
            .ok_or_else(|| StoreError::corrupt(format!("{name} is missing or not 16 bytes")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::NewUser;
    use serde_json::json;

    #[test]
    fn a_user_survives_the_round_trip_through_an_item() {
        let now = Timestamp::from_epoch_seconds(1_705_312_800).unwrap();
        let token = TokenState {
            nonce: TokenNonce::generate().unwrap(),
            key_id: crate::tokens::KeyId::from([1, 2, 3, 4]),
            issued_at: now,
        };
        let user = NewUser {
            email: "Ann@Example.com".into(),
            phone: Some("+15550100".into()),
            phone_confirmed: true,
            user_metadata: json!({"name": "Ann", "n": 1.5}).as_object().unwrap().clone(),
            ..NewUser::default()
        }
        .into_user(crate::tokens::new_user_id().unwrap(), now, token)
        .unwrap();
        assert_eq!(user_from_item(&user_item(&user)).unwrap(), user);
    }

    #[test]
    fn a_damaged_item_is_an_error_not_a_panic() {
        let mut item = user_key(Uuid::nil());
        assert!(user_from_item(&item).is_err());
        item.insert("email".into(), AttributeValue::N("1".into()));
        assert!(user_from_item(&item).is_err());
    }

    #[test]
    fn a_timestamp_no_date_format_can_print_is_a_damaged_item() {
        let now = Timestamp::now();
        let token = TokenState {
            nonce: TokenNonce::generate().unwrap(),
            key_id: crate::tokens::KeyId::from([1, 2, 3, 4]),
            issued_at: now,
        };
        let user = NewUser {
            email: "ann@example.com".into(),
            ..NewUser::default()
        }
        .into_user(crate::tokens::new_user_id().unwrap(), now, token)
        .unwrap();
        for (attribute, value) in [
            ("created_at", "1000000000000"),
            ("updated_at", "-99999999999999"),
            ("token_issued_at", "9223372036854775807"),
            ("email_confirmed_at", "1e12"),
        ] {
            let mut item = user_item(&user);
            item.insert(attribute.into(), AttributeValue::N(value.into()));
            let error = user_from_item(&item).expect_err(attribute).to_string();
            assert!(error.contains(attribute), "{error}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Whatever number text a damaged or hand-edited item holds where an instant belongs
        /// (exponents, fractions, 40 digits, signs), the item is read or refused as damaged;
        /// a user that is read prints every instant.
        #[test]
        fn any_stored_number_is_read_or_refused(
            attribute in proptest::sample::select(vec!["created_at", "updated_at", "token_issued_at", "email_confirmed_at"]),
            number in "[-+]?[0-9]{0,40}(\\.[0-9]{0,5})?([eE][-+]?[0-9]{1,4})?",
        ) {
            let now = Timestamp::now();
            let token = TokenState {
                nonce: TokenNonce::from_bytes(&[7; 16]).unwrap(),
                key_id: crate::tokens::KeyId::from([1, 2, 3, 4]),
                issued_at: now,
            };
            let user = NewUser {
                email: "ann@example.com".into(),
                ..NewUser::default()
            }
            .into_user(Uuid::nil(), now, token)
            .unwrap();
            let mut item = user_item(&user);
            item.insert(attribute.into(), AttributeValue::N(number));
            if let Ok(read) = user_from_item(&item) {
                for instant in [read.created_at, read.updated_at, read.token.issued_at] {
                    proptest::prop_assert_eq!(instant.to_string().len(), 20);
                }
            }
        }
    }

    #[test]
    fn the_email_claim_ignores_letter_case() {
        assert_eq!(
            super::super::schema::email_key(&Email::lookup("Ann@Example.COM")),
            super::super::schema::email_key(&Email::lookup("ann@example.com"))
        );
    }
}
