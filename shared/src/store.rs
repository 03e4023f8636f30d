//! The DynamoDB table: every read and write of the service, one call per API request.
//!
//! One table, keys `pk` and `sk` (both strings):
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
use std::fmt;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, KeySchemaElement, KeyType,
    KeysAndAttributes, Put, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem, Update,
};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::clock::Timestamp;
use crate::tokens::{KeyId, TokenNonce};
use crate::users::{CreateUserError, TokenState, User, normalized_email};

/// The TTL attribute of session items (declared in `template.yaml` and by [`Store::create_table`]).
pub const TTL_ATTRIBUTE: &str = "expires_at";

type Item = HashMap<String, AttributeValue>;

#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
}

/// A DynamoDB call failed. The text is for logs (it never holds a token or a session id:
/// keys only carry user ids and keyed hashes); clients see only the contract's 5xx.
#[derive(Debug)]
pub struct StoreError {
    /// Worth retrying: timeouts, connection failures, throttling, DynamoDB 5xx.
    pub transient: bool,
    /// DynamoDB's error code, when it answered with one.
    code: Option<String>,
    message: String,
}

impl StoreError {
    /// DynamoDB answered, refusing the request with an error code (`AccessDeniedException`
    /// from a role that lacks a permission, `ResourceNotFoundException` for a missing table,
    /// `ValidationException`): a deployment or code problem, not an outage.
    pub fn answered_with_error(&self) -> bool {
        !self.transient && self.code.is_some()
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    fn corrupt(what: impl fmt::Display) -> Self {
        Self {
            transient: false,
            code: None,
            message: format!("unreadable item: {what}"),
        }
    }

    /// A request the SDK refused to build (a missing required field: a bug of ours).
    fn unbuildable(error: aws_sdk_dynamodb::error::BuildError) -> Self {
        Self {
            transient: false,
            code: None,
            message: format!("cannot build the request: {}", DisplayErrorContext(error)),
        }
    }

    /// A transaction DynamoDB cancelled for another reason than the caller expected.
    fn cancelled(codes: &[String]) -> Self {
        let retry_later = [
            "TransactionConflict",
            "ThrottlingError",
            "ProvisionedThroughputExceeded",
        ];
        Self {
            transient: codes.iter().any(|code| retry_later.contains(&code.as_str())),
            code: Some("TransactionCanceledException".into()),
            message: format!("transaction cancelled: {codes:?}"),
        }
    }

    /// The table does not exist (or is not visible to these credentials in this region).
    pub fn is_missing_table(&self) -> bool {
        self.code.as_deref() == Some("ResourceNotFoundException")
    }
}

impl<E> From<SdkError<E, HttpResponse>> for StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    fn from(error: SdkError<E, HttpResponse>) -> Self {
        let transient = match &error {
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(service) => {
                service.raw().status().is_server_error()
                    || matches!(
                        service.err().code(),
                        Some(
                            "ProvisionedThroughputExceededException"
                                | "ThrottlingException"
                                | "RequestLimitExceeded"
                                | "TransactionInProgressException"
                        )
                    )
            }
            _ => false,
        };
        Self {
            transient,
            code: error.code().map(str::to_string),
            message: DisplayErrorContext(&error).to_string(),
        }
    }
}

/// How a write conditioned on a session turned out.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionWrite {
    Done,
    /// The session (or its user) is gone or expired.
    SessionInvalid,
    /// Another transaction on the same items was under way; nothing was written.
    Conflict,
}

/// Whether [`Store::create_table`] made the table or found it there.
#[derive(Debug, PartialEq, Eq)]
pub enum TableCreation {
    Created,
    AlreadyExists,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// One cheap read of a key that never exists, at init: it opens the connection and sets
    /// up the SDK's lazy parts (trust roots, endpoint), so the first request does not. A
    /// store that is down then is only logged: requests will answer 503 until it is back.
    pub async fn warm_up(&self) {
        // In a user's partition and asking for its key only, so that a role limited to users'
        // items and to some attributes (the regenerate function's) may make it.
        let key = HashMap::from([
            ("pk".to_string(), AttributeValue::S("USER#warm-up".into())),
            ("sk".to_string(), AttributeValue::S("WARM-UP".into())),
        ]);
        let result = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .projection_expression("pk")
            .send()
            .await;
        if let Err(error) = result {
            tracing::warn!(error = %StoreError::from(error), "DynamoDB did not answer at init");
        }
    }

    /// The user, read strongly consistently (a regenerate is visible to the very next read).
    pub async fn get_user(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        self.get_item(user_key(id))
            .await?
            .as_ref()
            .map(user_from_item)
            .transpose()
    }

    /// One strongly consistent `GetItem`.
    async fn get_item(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await?;
        Ok(output.item)
    }

    /// The user and the expiry of one of their sessions, in one consistent `BatchGetItem`.
    pub async fn get_user_and_session(
        &self,
        id: Uuid,
        session_lookup: &str,
    ) -> Result<(Option<User>, Option<Timestamp>), StoreError> {
        let keys = KeysAndAttributes::builder()
            .keys(user_key(id))
            .keys(session_key(id, session_lookup))
            .consistent_read(true)
            .build()
            .map_err(StoreError::unbuildable)?;
        let output = self
            .client
            .batch_get_item()
            .request_items(&self.table, keys)
            .send()
            .await?;
        if output
            .unprocessed_keys
            .as_ref()
            .is_some_and(|keys| !keys.is_empty())
        {
            // Only under throttling: say so rather than spend a second round trip.
            return Err(StoreError {
                transient: true,
                code: None,
                message: "BatchGetItem left keys unprocessed (throttled)".into(),
            });
        }
        let mut user = None;
        let mut session_expiry = None;
        for item in output
            .responses
            .and_then(|mut tables| tables.remove(&self.table))
            .unwrap_or_default()
        {
            if item
                .get("sk")
                .and_then(|sk| sk.as_s().ok())
                .is_some_and(|sk| sk == USER_SK)
            {
                user = Some(user_from_item(&item)?);
            } else {
                session_expiry = Some(Fields(&item).timestamp(TTL_ATTRIBUTE)?);
            }
        }
        Ok((user, session_expiry))
    }

    /// Replaces the user's token if `current` is still its nonce (and, with a TTL, it was
    /// issued after `expired_before`), in one conditional `UpdateItem`: of concurrent
    /// callers presenting the same token exactly one wins. `false` when the condition failed.
    ///
    /// The condition also accepts the nonce being written: when a response is lost, the SDK
    /// retries the same request, and if the first attempt already wrote, the retry must
    /// succeed rather than report the (now replaced) presented token as invalid. The new
    /// nonce is 128 fresh random bits, so only this request's own earlier attempt can match.
    pub async fn replace_token(
        &self,
        id: Uuid,
        current: TokenNonce,
        expired_before: Option<Timestamp>,
        new: TokenState,
    ) -> Result<bool, StoreError> {
        let mut presented = "token_nonce = :current".to_string();
        let mut values = vec![(":current", blob(current.as_bytes()))];
        if let Some(expired_before) = expired_before {
            presented.push_str(" AND token_issued_at > :expired_before");
            values.push((":expired_before", number(expired_before.epoch_seconds())));
        }
        let condition = format!("({presented}) OR token_nonce = :nonce");
        self.set_token(id, &condition, values, new).await
    }

    /// Replaces the token of an existing user whatever it is now (the administrator's
    /// regenerate). `false` when there is no such user.
    pub async fn reset_token(&self, id: Uuid, new: TokenState) -> Result<bool, StoreError> {
        self.set_token(id, "attribute_exists(pk)", Vec::new(), new).await
    }

    /// The one conditional `UpdateItem` behind both: `false` when `condition` failed.
    async fn set_token(
        &self,
        id: Uuid,
        condition: &str,
        condition_values: Vec<(&str, AttributeValue)>,
        new: TokenState,
    ) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(user_key(id)))
            .update_expression(SET_TOKEN)
            .condition_expression(condition)
            .set_expression_attribute_values(Some(token_values(&new)));
        for (name, value) in condition_values {
            request = request.expression_attribute_values(name, value);
        }
        applied(request.send().await)
    }

    /// Replaces the user's token if the session is still valid at `now`, in one
    /// `TransactWriteItems` (a condition check on the session + the update of the user).
    pub async fn replace_token_for_session(
        &self,
        id: Uuid,
        session_lookup: &str,
        now: Timestamp,
        new: TokenState,
    ) -> Result<SessionWrite, StoreError> {
        let check_session = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(session_key(id, session_lookup)))
            .condition_expression("expires_at > :now")
            .expression_attribute_values(":now", number(now.epoch_seconds()))
            .build()
            .map_err(StoreError::unbuildable)?;
        let update_user = Update::builder()
            .table_name(&self.table)
            .set_key(Some(user_key(id)))
            .update_expression(SET_TOKEN)
            .condition_expression("attribute_exists(pk)")
            .set_expression_attribute_values(Some(token_values(&new)))
            .build()
            .map_err(StoreError::unbuildable)?;
        let items = [
            TransactWriteItem::builder()
                .condition_check(check_session)
                .build(),
            TransactWriteItem::builder().update(update_user).build(),
        ];
        match self.transact(items).await? {
            Transaction::Committed => Ok(SessionWrite::Done),
            Transaction::Cancelled(codes) if codes.iter().any(|code| code == CONDITION_FAILED) => {
                Ok(SessionWrite::SessionInvalid)
            }
            Transaction::Cancelled(codes) if codes.iter().any(|code| code == "TransactionConflict") => {
                Ok(SessionWrite::Conflict)
            }
            Transaction::Cancelled(codes) => Err(StoreError::cancelled(&codes)),
        }
    }

    /// Writes a new user and claims its email, in one transaction: if the email is
    /// taken (in any letter case) nothing is written.
    pub async fn create_user(&self, user: &User, password_hash: Option<&str>) -> Result<(), CreateUserError> {
        let put = |item: Item| {
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map(|put| TransactWriteItem::builder().put(put).build())
                .map_err(|error| CreateUserError::Store(StoreError::unbuildable(error)))
        };
        let mut claim = email_key(&user.email);
        claim.insert("user_id".into(), AttributeValue::S(user.id.to_string()));
        if let Some(hash) = password_hash {
            claim.insert("password_hash".into(), AttributeValue::S(hash.into()));
        }
        match self.transact([put(user_item(user))?, put(claim)?]).await? {
            Transaction::Committed => Ok(()),
            // The second item is the email claim.
            Transaction::Cancelled(codes) if codes.get(1).is_some_and(|code| code == CONDITION_FAILED) => {
                Err(CreateUserError::EmailTaken)
            }
            Transaction::Cancelled(codes) => Err(CreateUserError::Store(StoreError::cancelled(&codes))),
        }
    }

    /// Stores a session of an existing user until `expires_at`. `false` (nothing
    /// written) when there is no such user.
    pub async fn create_session(
        &self,
        user_id: Uuid,
        session_lookup: &str,
        created_at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let user_exists = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(user_key(user_id)))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(StoreError::unbuildable)?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(session_item(
                user_id,
                session_lookup,
                created_at,
                expires_at,
            )))
            .build()
            .map_err(StoreError::unbuildable)?;
        let items = [
            TransactWriteItem::builder().condition_check(user_exists).build(),
            TransactWriteItem::builder().put(put).build(),
        ];
        match self.transact(items).await? {
            Transaction::Committed => Ok(true),
            Transaction::Cancelled(codes) if codes.first().is_some_and(|code| code == CONDITION_FAILED) => {
                Ok(false)
            }
            Transaction::Cancelled(codes) => Err(StoreError::cancelled(&codes)),
        }
    }

    /// The id of the user who holds this email (any letter case).
    pub async fn find_user_id(&self, email: &str) -> Result<Option<Uuid>, StoreError> {
        self.get_item(email_key(email))
            .await?
            .map(|item| {
                let id = Fields(&item).string("user_id")?;
                Uuid::parse_str(&id)
                    .map_err(|_| StoreError::corrupt("an email claim's user_id is not a UUID"))
            })
            .transpose()
    }

    /// What a login needs, in one consistent `GetItem` of the email claim (only the
    /// attributes named here: the sign-in role may read no others).
    pub async fn get_sign_in(&self, email: &str) -> Result<Option<SignInRecord>, StoreError> {
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
        email: &str,
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
        email: &str,
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
        email: &str,
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
        email: &str,
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
        email: &str,
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
        email: &str,
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

    /// Deletes one session (a sign-out): one `DeleteItem`, whether or not it still exists.
    pub async fn delete_session(&self, user_id: Uuid, session_lookup: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(session_key(user_id, session_lookup)))
            .send()
            .await?;
        Ok(())
    }

    /// Up to `limit` users, reading the table page by page (never all of it at once).
    pub async fn list_users(&self, limit: usize) -> Result<Vec<User>, StoreError> {
        let mut users = Vec::new();
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("sk = :user")
            .expression_attribute_values(":user", AttributeValue::S(USER_SK.into()))
            .into_paginator()
            .send();
        while users.len() < limit {
            let Some(page) = pages.next().await else { break };
            for item in page?.items() {
                if users.len() == limit {
                    break;
                }
                users.push(user_from_item(item)?);
            }
        }
        Ok(users)
    }

    /// Deletes the user, its email claim and its sessions. The user item and the claim go
    /// in one transaction, so the token dies at once; the sessions (useless without their
    /// user) are swept after. `false` when there was no such user.
    pub async fn delete_user(&self, user: &User) -> Result<bool, StoreError> {
        let delete_user = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .set_key(Some(user_key(user.id)))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(StoreError::unbuildable)?;
        let release_email = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .set_key(Some(email_key(&user.email)))
            .build()
            .map_err(StoreError::unbuildable)?;
        let items = [
            TransactWriteItem::builder().delete(delete_user).build(),
            TransactWriteItem::builder().delete(release_email).build(),
        ];
        match self.transact(items).await? {
            Transaction::Committed => {}
            Transaction::Cancelled(codes) if codes.first().is_some_and(|code| code == CONDITION_FAILED) => {
                return Ok(false);
            }
            Transaction::Cancelled(codes) => return Err(StoreError::cancelled(&codes)),
        }
        self.revoke_sessions(user.id).await?;
        Ok(true)
    }

    /// Deletes every session of the user; returns how many there were.
    pub async fn revoke_sessions(&self, user_id: Uuid) -> Result<usize, StoreError> {
        let mut revoked = 0;
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :session)")
            .expression_attribute_values(":pk", AttributeValue::S(format!("USER#{user_id}")))
            .expression_attribute_values(":session", AttributeValue::S("SESSION#".into()))
            .projection_expression("pk, sk")
            .consistent_read(true)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let keys: Vec<Item> = page?.items().to_vec();
            // BatchWriteItem takes at most 25 requests.
            for chunk in keys.chunks(25) {
                let mut pending: Vec<_> = chunk
                    .iter()
                    .map(|key| {
                        aws_sdk_dynamodb::types::DeleteRequest::builder()
                            .set_key(Some(key.clone()))
                            .build()
                            .map(|delete| {
                                aws_sdk_dynamodb::types::WriteRequest::builder()
                                    .delete_request(delete)
                                    .build()
                            })
                            .map_err(StoreError::unbuildable)
                    })
                    .collect::<Result<_, _>>()?;
                while !pending.is_empty() {
                    let output = self
                        .client
                        .batch_write_item()
                        .request_items(&self.table, pending)
                        .send()
                        .await?;
                    pending = output
                        .unprocessed_items
                        .and_then(|mut tables| tables.remove(&self.table))
                        .unwrap_or_default();
                }
                revoked += chunk.len();
            }
        }
        Ok(revoked)
    }

    /// One `TransactWriteItems`. A cancellation is an answer, not an error: its reason
    /// codes (one per item, in order) tell the caller which condition failed.
    async fn transact(
        &self,
        items: impl IntoIterator<Item = TransactWriteItem>,
    ) -> Result<Transaction, StoreError> {
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items.into_iter().collect()))
            .send()
            .await;
        let error = match result {
            Ok(_) => return Ok(Transaction::Committed),
            Err(error) => error,
        };
        match error.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                Ok(Transaction::Cancelled(
                    cancelled
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().unwrap_or("None").to_string())
                        .collect(),
                ))
            }
            _ => Err(error.into()),
        }
    }

    /// Creates the table as `template.yaml` declares it (keys, on-demand billing, the
    /// TTL attribute) and waits until it is usable; does nothing if it exists.
    pub async fn create_table(&self) -> Result<TableCreation, StoreError> {
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(StoreError::unbuildable)
        };
        let key = |name: &str, key_type| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
                .map_err(StoreError::unbuildable)
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(attribute("pk")?)
            .attribute_definitions(attribute("sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|error| error.is_resource_in_use_exception()) =>
            {
                return Ok(TableCreation::AlreadyExists);
            }
            Err(error) => return Err(error.into()),
        }
        aws_sdk_dynamodb::client::Waiters::wait_until_table_exists(&self.client)
            .table_name(&self.table)
            .wait(std::time::Duration::from_secs(120))
            .await
            .map_err(|error| StoreError {
                transient: true,
                code: None,
                message: format!(
                    "table {} was not ready in time: {}",
                    self.table,
                    DisplayErrorContext(error)
                ),
            })?;
        let ttl = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name(TTL_ATTRIBUTE)
            .build()
            .map_err(StoreError::unbuildable)?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await?;
        Ok(TableCreation::Created)
    }
}

const USER_SK: &str = "USER";

/// The update that replaces a user's token (its values: [`token_values`]).
const SET_TOKEN: &str = "SET token_nonce = :nonce, token_key_id = :key_id, token_issued_at = :issued_at";

fn token_values(token: &TokenState) -> Item {
    HashMap::from([
        (":nonce".into(), blob(token.nonce.as_bytes())),
        (":key_id".into(), blob(token.key_id.as_bytes())),
        (":issued_at".into(), number(token.issued_at.epoch_seconds())),
    ])
}

/// A login's read: the account behind an email, its password hash (`None`: no password set)
/// and its failed logins in the current window.
#[derive(Clone)]
pub struct SignInRecord {
    pub user_id: Uuid,
    pub password_hash: Option<String>,
    pub failed_logins: u32,
    pub failures_since: Option<Timestamp>,
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
            .field("failed_logins", &self.failed_logins)
            .field("failures_since", &self.failures_since)
            .finish()
    }
}

/// What [`Store::open_signed_in_session`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum SignInWrite {
    Opened,
    /// Locked meanwhile, or the email no longer belongs to the user: nothing written.
    Refused,
}

fn sign_in_from_item(item: &Item) -> Result<SignInRecord, StoreError> {
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
        failed_logins,
        failures_since: fields.optional_timestamp("failures_since")?,
    })
}

/// Whether a conditional `UpdateItem` was applied: `Ok(false)` when its condition failed.
fn applied<T>(result: Result<T, SdkError<UpdateItemError, HttpResponse>>) -> Result<bool, StoreError> {
    match result {
        Ok(_) => Ok(true),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(UpdateItemError::is_conditional_check_failed_exception) =>
        {
            Ok(false)
        }
        Err(error) => Err(error.into()),
    }
}

/// The cancellation reason of an item whose condition failed.
const CONDITION_FAILED: &str = "ConditionalCheckFailed";

enum Transaction {
    Committed,
    Cancelled(Vec<String>),
}

fn user_key(id: Uuid) -> Item {
    HashMap::from([
        ("pk".into(), AttributeValue::S(format!("USER#{id}"))),
        ("sk".into(), AttributeValue::S(USER_SK.into())),
    ])
}

fn session_key(user_id: Uuid, session_lookup: &str) -> Item {
    HashMap::from([
        ("pk".into(), AttributeValue::S(format!("USER#{user_id}"))),
        (
            "sk".into(),
            AttributeValue::S(format!("SESSION#{session_lookup}")),
        ),
    ])
}

/// A session's item: its key, when it was opened, and its expiry (the TTL attribute).
fn session_item(user_id: Uuid, session_lookup: &str, created_at: Timestamp, expires_at: Timestamp) -> Item {
    let mut item = session_key(user_id, session_lookup);
    item.insert("created_at".into(), number(created_at.epoch_seconds()));
    item.insert(TTL_ATTRIBUTE.into(), number(expires_at.epoch_seconds()));
    item
}

fn email_key(email: &str) -> Item {
    HashMap::from([
        (
            "pk".into(),
            AttributeValue::S(format!("EMAIL#{}", normalized_email(email))),
        ),
        ("sk".into(), AttributeValue::S("EMAIL".into())),
    ])
}

fn number(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn blob(bytes: &[u8]) -> AttributeValue {
    AttributeValue::B(Blob::new(bytes))
}

fn user_item(user: &User) -> Item {
    let mut item = user_key(user.id);
    let mut set = |name: &str, value: AttributeValue| {
        item.insert(name.into(), value);
    };
    set("email", AttributeValue::S(user.email.clone()));
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

fn user_from_item(item: &Item) -> Result<User, StoreError> {
    let fields = Fields(item);
    let id = fields.string("pk")?;
    let id = id
        .strip_prefix("USER#")
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| StoreError::corrupt("a user key is not USER#<uuid>"))?;
    Ok(User {
        id,
        email: fields.string("email")?,
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

/// Typed reads of an item's attributes; a missing or mistyped one is a corrupt item.
struct Fields<'a>(&'a Item);

impl Fields<'_> {
    fn optional(&self, name: &str) -> Option<&AttributeValue> {
        self.0.get(name).filter(|value| !value.is_null())
    }

    fn optional_string(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.optional(name)
            .map(|value| {
                value
                    .as_s()
                    .cloned()
                    .map_err(|_| StoreError::corrupt(format!("{name} is not a string")))
            })
            .transpose()
    }

    fn string(&self, name: &str) -> Result<String, StoreError> {
        self.optional_string(name)?
            .ok_or_else(|| StoreError::corrupt(format!("{name} is missing")))
    }

    fn optional_timestamp(&self, name: &str) -> Result<Option<Timestamp>, StoreError> {
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

    fn timestamp(&self, name: &str) -> Result<Timestamp, StoreError> {
        self.optional_timestamp(name)?
            .ok_or_else(|| StoreError::corrupt(format!("{name} is missing")))
    }

    fn json_object(&self, name: &str) -> Result<Map<String, Value>, StoreError> {
        match self.optional_string(name)? {
            None => Ok(Map::new()),
            Some(text) => match serde_json::from_str(&text) {
                Ok(Value::Object(object)) => Ok(object),
                _ => Err(StoreError::corrupt(format!("{name} is not a JSON object"))),
            },
        }
    }

    fn key_id(&self, name: &str) -> Result<KeyId, StoreError> {
        self.optional(name)
            .and_then(|value| value.as_b().ok())
            .and_then(|blob| KeyId::from_bytes(blob.as_ref()))
            .ok_or_else(|| StoreError::corrupt(format!("{name} is missing or not 4 bytes")))
    }

    fn nonce(&self, name: &str) -> Result<TokenNonce, StoreError> {
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
                let printed = serde_json::to_value(crate::users::AuthUser::from(read)).unwrap();
                proptest::prop_assert_eq!(printed["createdAt"].as_str().map(str::len), Some(20));
            }
        }
    }

    #[test]
    fn the_email_claim_ignores_letter_case() {
        assert_eq!(email_key("Ann@Example.COM"), email_key("ann@example.com"));
    }
}
