//! Creating the table as `template.yaml` declares it (`usersctl create-table`, tests).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
};

use super::schema::TTL_ATTRIBUTE;
use super::{Store, StoreError};

/// Whether [`Store::create_table`] made the table or found it there.
#[derive(Debug, PartialEq, Eq)]
pub enum TableCreation {
    Created,
    AlreadyExists,
}

impl Store {
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
            .map_err(|error| {
                StoreError::transient(
                    format!("table {} was not ready in time", self.table),
                    Some(Box::new(error)),
                )
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
