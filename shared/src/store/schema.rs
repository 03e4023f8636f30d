//! The table's layout. One table, keys `pk` and `sk` (both strings):
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | user | `USER#<id>` | `USER` | profile, `token_nonce` (B), `token_key_id` (B), `token_issued_at` (N) |
//! | session | `USER#<id>` | `SESSION#<keyed hash of the session id>` | `expires_at` (N, the TTL attribute) |
//! | email claim | `EMAIL#<lower-cased email>` | `EMAIL` | `user_id`: makes emails unique; `password_hash` (PHC string), `failed_logins` (N), `failures_since` (N): what a login reads in one `GetItem` |
//!
//! Sessions live in their user's partition, so removing a user finds them with one `Query`.
//! Timestamps are whole epoch seconds; metadata are JSON text.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use uuid::Uuid;

use crate::users::Email;

pub(super) type Item = HashMap<String, AttributeValue>;

/// The TTL attribute of session items (declared in `template.yaml` and by [`Store::create_table`]).
pub const TTL_ATTRIBUTE: &str = "expires_at";

pub(super) const USER_SK: &str = "USER";

pub(super) fn user_key(id: Uuid) -> Item {
    HashMap::from([
        ("pk".into(), AttributeValue::S(format!("USER#{id}"))),
        ("sk".into(), AttributeValue::S(USER_SK.into())),
    ])
}

pub(super) fn session_key(user_id: Uuid, session_lookup: &str) -> Item {
    HashMap::from([
        ("pk".into(), AttributeValue::S(format!("USER#{user_id}"))),
        (
            "sk".into(),
            AttributeValue::S(format!("SESSION#{session_lookup}")),
        ),
    ])
}

pub(super) fn email_key(email: &Email) -> Item {
    HashMap::from([
        (
            "pk".into(),
            AttributeValue::S(format!("EMAIL#{}", email.normalized())),
        ),
        ("sk".into(), AttributeValue::S("EMAIL".into())),
    ])
}
