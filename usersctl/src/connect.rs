//! Reaching the service's table: the standard AWS configuration (profiles, SSO, the
//! environment), the table and store endpoint the command names, and the keys; and errors
//! that say which table, on which endpoint.

use anyhow::{Context, anyhow};
use aws_sdk_dynamodb::Client;
use shared::App;
use shared::app::AppError;
use shared::setup::{Settings, is_local_store, operator_sdk_config, refuse_public_key_off_local};
use shared::store::{Store, StoreError};

/// Where the store is, for error messages.
pub struct Target {
    pub table: String,
    endpoint: String,
}

impl Target {
    /// A failure of the store, said with the table and endpoint; any other as it is.
    pub fn explain(&self, error: AppError) -> anyhow::Error {
        match error {
            AppError::Store(error) => self.explain_store(error),
            other => anyhow::Error::new(other),
        }
    }

    pub fn explain_store(&self, error: StoreError) -> anyhow::Error {
        let Target { table, endpoint } = self;
        if error.is_missing_table() {
            anyhow!("table {table:?} does not exist at {endpoint} (create it with `usersctl create-table`)")
        } else if error.transient {
            anyhow::Error::new(error).context(format!("cannot reach DynamoDB at {endpoint}"))
        } else {
            anyhow::Error::new(error).context(format!(
                "DynamoDB at {endpoint} refused the request on table {table:?}"
            ))
        }
    }
}

/// The store on `table`, through every standard AWS source, and where it is.
pub async fn store(
    table: Option<String>,
) -> anyhow::Result<(Store, Target, Option<String>, aws_config::SdkConfig)> {
    let table = table
        .filter(|table| !table.is_empty())
        .context("no table: pass --table or set TABLE_NAME")?;
    let sdk_config = operator_sdk_config().await;
    // The store's endpoint, set on the client explicitly: the public dev key is checked
    // against the store this client really uses (the SDK alone could also take one from a
    // profile, or drop the variable under AWS_IGNORE_CONFIGURED_ENDPOINT_URLS).
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .ok()
        .filter(|endpoint| !endpoint.is_empty());
    let described = endpoint.clone().unwrap_or_else(|| {
        let region = sdk_config
            .region()
            .map(|region| region.to_string())
            .unwrap_or_default();
        format!("DynamoDB in {region}")
    });
    let mut client_config = aws_sdk_dynamodb::config::Builder::from(&sdk_config);
    client_config.set_endpoint_url(endpoint.clone());
    let store = Store::new(Client::from_conf(client_config.build()), &table);
    let target = Target {
        table,
        endpoint: described,
    };
    Ok((store, target, endpoint, sdk_config))
}

/// The service on `table`, with the keys the environment names (`TOKEN_KEY`, or
/// `TOKEN_KEY_SECRET_ARN` read as the functions read it).
pub async fn app(table: Option<String>) -> anyhow::Result<(App, Target)> {
    let (store, target, endpoint, sdk_config) = store(table).await?;
    let settings = Settings::from_lookup(|name| match name {
        "TABLE_NAME" => Some(target.table.clone()),
        other => std::env::var(other).ok(),
    })?;
    let keys = settings
        .key_source
        .load(|| aws_sdk_secretsmanager::Client::new(&sdk_config))
        .await?;
    refuse_public_key_off_local(&keys.ring(), is_local_store(endpoint.as_deref()))?;
    Ok((App::new(store, keys, settings.policy()), target))
}
