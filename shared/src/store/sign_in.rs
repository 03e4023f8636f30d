//! What a sign-in reads and writes on an account's email claim: the hash and the failure
//! count, kept with conditional writes, and the session opened on success.

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use uuid::Uuid;

use super::codec::{SignInRecord, number, session_item, sign_in_from_item};
use super::schema::email_key;
use super::{CONDITION_FAILED, Store, StoreError, Transaction, applied};
use crate::clock::Timestamp;
use crate::users::Email;

/// What [`Store::open_signed_in_session`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum SignInWrite {
    Opened,
    /// Locked meanwhile, or the email no longer belongs to the user: nothing written.
    Refused,
}

impl Store {
    /// What a login needs, in one consistent `GetItem` of the email claim (only the
    /// attributes named here: the sign-in role may read no others).
    pub async fn get_sign_in(&self, email: &Email) -> Result<Option<SignInRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(email_key(email)))
            .projection_expression("user_id, password_hash, failed_logins, failures_since")
            .consistent_read(true)
            .send()
            .await?;
        output.item.as_ref().map(sign_in_from_item).transpose()
    }

    /// Sets the password hash of the user who holds `email` and clears its failed logins.
    /// `false` when the email is not that user's.
    pub async fn set_password_hash(
        &self,
        email: &Email,
        user_id: Uuid,
        hash: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(email_key(email)))
            .update_expression("SET password_hash = :hash REMOVE failed_logins, failures_since")
            .condition_expression("user_id = :user_id")
            .expression_attribute_values(":hash", AttributeValue::S(hash.into()))
            .expression_attribute_values(":user_id", AttributeValue::S(user_id.to_string()))
            .send()
            .await;
        applied(result)
    }

    /// Counts a failed login on the account, in one conditional `UpdateItem`: a window that
    /// started before `window_start` (or none) starts again at `now` with one failure;
    /// otherwise the count goes up by one (atomically, however many attempts race).
    /// `seen_since` is the window the login read: the write that fits it is tried first, and
    /// the other only if a racing attempt moved the window meanwhile. An email claim that is
    /// gone is left gone.
    pub async fn record_failed_login(
        &self,
        email: &Email,
        seen_since: Option<Timestamp>,
        window_start: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let restart = self.restart_failures(email, window_start, now);
        let count = self.failed_login_update(
            email,
            window_start,
            "ADD failed_logins :one",
            "failures_since > :window_start",
        );
        let (likely, other) = if seen_since.is_some_and(|since| since > window_start) {
            (count, restart)
        } else {
            (restart, count)
        };
        if !applied(likely.send().await)? {
            applied(other.send().await)?;
        }
        Ok(())
    }

    /// What a failed login on an email no account has costs: the same conditional
    /// `UpdateItem` as on an account's first failure, which finds no item and writes nothing.
    /// A wrong password and an unknown email then take the same round trips, so their timing
    /// does not tell which emails have accounts (and an attacker cannot grow the table).
    pub async fn record_failed_login_of_unknown_email(
        &self,
        email: &Email,
        window_start: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        applied(self.restart_failures(email, window_start, now).send().await)?;
        Ok(())
    }

    /// The write that starts a new failure window at `now` with one failure, if the account
    /// exists and its window (if any) started before `window_start`.
    fn restart_failures(
        &self,
        email: &Email,
        window_start: Timestamp,
        now: Timestamp,
    ) -> UpdateItemFluentBuilder {
        self.failed_login_update(
            email,
            window_start,
            "SET failed_logins = :one, failures_since = :now",
            "attribute_exists(pk) AND (attribute_not_exists(failures_since) OR failures_since <= :window_start)",
        )
        .expression_attribute_values(":now", number(now.epoch_seconds()))
    }

    fn failed_login_update(
        &self,
        email: &Email,
        window_start: Timestamp,
        update: &str,
        condition: &str,
    ) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(email_key(email)))
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":window_start", number(window_start.epoch_seconds()))
    }

    /// Opens a session after a good password, in one `TransactWriteItems`: the session is
    /// written and the account's failed logins cleared, only if the email still belongs to
    /// the user and the account is not locked (fewer than `max_failures` since
    /// `window_start`): a right password racing the attempt that locked the account loses.
    pub async fn open_signed_in_session(
        &self,
        email: &Email,
        user_id: Uuid,
        session_lookup: &str,
        lockout: (u32, Timestamp),
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<SignInWrite, StoreError> {
        let (max_failures, window_start) = lockout;
        let put_session = Put::builder()
            .table_name(&self.table)
            .set_item(Some(session_item(user_id, session_lookup, now, expires_at)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(StoreError::unbuildable)?;
        let clear_failures = Update::builder()
            .table_name(&self.table)
            .set_key(Some(email_key(email)))
            .update_expression("REMOVE failed_logins, failures_since")
            .condition_expression(
                "user_id = :user_id AND (attribute_not_exists(failed_logins) OR failed_logins < :max OR failures_since <= :window_start)",
            )
            .expression_attribute_values(":user_id", AttributeValue::S(user_id.to_string()))
            .expression_attribute_values(":max", number(i64::from(max_failures)))
            .expression_attribute_values(":window_start", number(window_start.epoch_seconds()))
            .build()
            .map_err(StoreError::unbuildable)?;
        let items = [
            TransactWriteItem::builder().put(put_session).build(),
            TransactWriteItem::builder().update(clear_failures).build(),
        ];
        match self.transact(items).await? {
            Transaction::Committed => Ok(SignInWrite::Opened),
            Transaction::Cancelled(codes) if codes.get(1).is_some_and(|code| code == CONDITION_FAILED) => {
                Ok(SignInWrite::Refused)
            }
            Transaction::Cancelled(codes) => Err(StoreError::cancelled(&codes)),
        }
    }
}
