//! The user items: reads, the token's conditional writes, creation with the email claim,
//! listing and deletion.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use uuid::Uuid;

use super::codec::{Fields, SET_TOKEN, blob, number, token_values, user_from_item, user_item};
use super::schema::{Item, USER_SK, email_key, user_key};
use super::{CONDITION_FAILED, Store, StoreError, Transaction, applied};
use crate::clock::Timestamp;
use crate::tokens::TokenNonce;
use crate::users::{Email, TokenState, User};

/// How [`Store::create_user`] turned out.
#[derive(Debug, PartialEq, Eq)]
pub enum UserWrite {
    Created,
    /// Another user holds the email (in any letter case): nothing was written.
    EmailTaken,
}

impl Store {
    /// The user, read strongly consistently (a regenerate is visible to the very next read).
    pub async fn get_user(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        self.get_item(user_key(id))
            .await?
            .as_ref()
            .map(user_from_item)
            .transpose()
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
        // Boxed for the reason `Store::get_item` gives.
        applied(Box::pin(request.send()).await)
    }

    /// Writes a new user and claims its email, in one transaction: if the email is
    /// taken (in any letter case) nothing is written.
    pub async fn create_user(
        &self,
        user: &User,
        password_hash: Option<&str>,
    ) -> Result<UserWrite, StoreError> {
        let put = |item: Item| {
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map(|put| TransactWriteItem::builder().put(put).build())
                .map_err(StoreError::unbuildable)
        };
        let mut claim = email_key(&user.email);
        claim.insert("user_id".into(), AttributeValue::S(user.id.to_string()));
        if let Some(hash) = password_hash {
            claim.insert("password_hash".into(), AttributeValue::S(hash.into()));
        }
        match self.transact([put(user_item(user))?, put(claim)?]).await? {
            Transaction::Committed => Ok(UserWrite::Created),
            // The second item is the email claim.
            Transaction::Cancelled(codes) if codes.get(1).is_some_and(|code| code == CONDITION_FAILED) => {
                Ok(UserWrite::EmailTaken)
            }
            Transaction::Cancelled(codes) => Err(StoreError::cancelled(&codes)),
        }
    }

    /// The id of the user who holds this email (any letter case).
    pub async fn find_user_id(&self, email: &Email) -> Result<Option<Uuid>, StoreError> {
        self.get_item(email_key(email))
            .await?
            .map(|item| {
                let id = Fields(&item).string("user_id")?;
                Uuid::parse_str(&id)
                    .map_err(|_| StoreError::corrupt("an email claim's user_id is not a UUID"))
            })
            .transpose()
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
}
