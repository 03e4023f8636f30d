//! Putting the service together at init: the deployment's settings ([`settings`]), the AWS
//! clients ([`aws`]), and which endpoints count as this machine's ([`local`]).

pub mod aws;
pub mod local;
pub mod settings;

pub use aws::{LambdaEnvironment, TEST_CA_VARIABLE, aws_sdk_config, https_client, operator_sdk_config};
pub use local::{is_local_store, is_loopback, refuse_public_key_off_local};
pub use settings::{KeySource, Settings};

use crate::App;
use crate::http::cors::AllowedOrigins;
use crate::store::Store;

/// A setting is missing or unusable. Names the variable, never echoes a secret value.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub(crate) String);

/// The init phase of a cold start: reads the settings, builds the clients, and opens the
/// DynamoDB connection while the keys are read (from Secrets Manager, when that is where
/// they are), so the first request pays for none of it and init waits for the longer of
/// the two, not both. Returns the service and the browser origins its answers allow.
pub async fn from_env() -> Result<(App, AllowedOrigins), SetupError> {
    let settings = Settings::from_env()?;
    let aws = LambdaEnvironment::from_env()?;
    let store = Store::new(aws.dynamodb(), settings.table_name.clone());
    let (keys, ()) = tokio::join!(settings.key_source.load(|| aws.secretsmanager()), store.warm_up());
    let keys = keys?;
    refuse_public_key_off_local(&keys.ring(), aws.store_is_local())?;
    let policy = settings.policy();
    Ok((App::new(store, keys, policy), settings.allowed_origins))
}
