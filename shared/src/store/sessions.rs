//! The session items: a user read with one of their sessions, a regenerate conditioned on a
//! session, and sessions opened, ended and swept.

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, KeysAndAttributes, Put, TransactWriteItem, Update,
};
use uuid::Uuid;

use super::codec::{Fields, SET_TOKEN, number, session_item, token_values, user_from_item};
use super::schema::{Item, TTL_ATTRIBUTE, USER_SK, session_key, user_key};
use super::{CONDITION_FAILED, Store, StoreError, Transaction};
use crate::clock::Timestamp;
use crate::users::{TokenState, User};

/// How a write conditioned on a session turned out.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionWrite {
    Done,
    /// The session (or its user) is gone or expired.
    SessionInvalid,
    /// Another transaction on the same items was under way; nothing was written.
    Conflict,
}

impl Store {
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
            return Err(StoreError::transient(
                "BatchGetItem left keys unprocessed (throttled)".into(),
                None,
            ));
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
}
