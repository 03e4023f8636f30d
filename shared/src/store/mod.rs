//! The DynamoDB table: every read and write of the service, one call per API request. The
//! table's layout is [`schema`]'s; items become records in [`codec`]; each group of
//! operations is an `impl Store` of its own: [`users`], [`sessions`], [`sign_in`], [`table`].

mod codec;
mod error;
mod schema;
mod sessions;
mod sign_in;
mod table;
mod users;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use std::collections::HashMap;

pub use codec::SignInRecord;
pub use error::StoreError;
pub use schema::TTL_ATTRIBUTE;
pub use sessions::SessionWrite;
pub use sign_in::SignInWrite;
pub use table::TableCreation;
pub use users::UserWrite;

use schema::Item;

#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    table: String,
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
            let error = StoreError::from(error);
            tracing::warn!(error = %DisplayErrorContext(&error), "DynamoDB did not answer at init");
        }
    }

    /// One strongly consistent `GetItem`.
    pub(super) async fn get_item(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let request = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true);
        // Boxed, as the serving loop boxes a handler's future (`http::serve`): the SDK's
        // future is kilobytes, and each caller's state would otherwise copy it.
        let output = Box::pin(request.send()).await?;
        Ok(output.item)
    }

    /// One `TransactWriteItems`. A cancellation is an answer, not an error: its reason
    /// codes (one per item, in order) tell the caller which condition failed.
    pub(super) async fn transact(
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
}

/// Whether a conditional `UpdateItem` was applied: `Ok(false)` when its condition failed.
pub(super) fn applied<T>(
    result: Result<T, SdkError<UpdateItemError, HttpResponse>>,
) -> Result<bool, StoreError> {
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
pub(super) const CONDITION_FAILED: &str = "ConditionalCheckFailed";

pub(super) enum Transaction {
    Committed,
    Cancelled(Vec<String>),
}
