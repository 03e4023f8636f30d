//! The AWS SDK's configuration: the HTTPS client (rustls on ring, Amazon's roots compiled
//! in), the time budgets and retries of every call, and the functions' clients built from
//! Lambda's environment alone ([`LambdaEnvironment`]); `usersctl` and the tests take every
//! standard source instead ([`aws_sdk_config`]).

use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileRegionProvider;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{
    BehaviorVersion, Credentials, Region, RuntimeComponents, SharedHttpClient, StalledStreamProtectionConfig,
};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpConnector};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::SetupError;
use super::local::{is_local_store, is_loopback};
use crate::obs::metrics::StoreTiming;

/// The time budget for one DynamoDB call. A `GetItem` takes milliseconds in-region, so an
/// attempt that has not answered in 1 s is retried once, and the whole call gives up after
/// 2.5 s: a store outage becomes a 503 well inside the function's timeout, never a hang.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);
pub const OPERATION_TIMEOUT: Duration = Duration::from_millis(2500);
pub const MAX_ATTEMPTS: u32 = 2;

/// A pooled connection idle this long is dropped rather than reused: below DynamoDB's own
/// idle limit (about 60 s, aws/aws-sdk-java#1365; rusoto#1686 saw Lambda failures past it),
/// so a connection the server may already have closed is not tried. hyper's default is 90 s.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(50);

/// Secrets Manager's whole budget: a request that reads the keys again (a key id this
/// process lacks) then makes its DynamoDB call, and both together must end inside the
/// function's 5 s timeout with a clean answer: 1.5 s + 2.5 s.
pub const SECRETS_OPERATION_TIMEOUT: Duration = Duration::from_millis(1500);

/// A call's time budget: [`OPERATION_TIMEOUT`] for DynamoDB, [`SECRETS_OPERATION_TIMEOUT`]
/// for Secrets Manager.
fn timeouts(operation: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(operation)
        .build()
}

/// The wait before the one retry, times a random jitter (0 to 1) times 2. The SDK's default
/// (1 s) suits throttling, not what the retry here is for: a pooled connection that died
/// while the environment was frozen, or an answer that was lost, where a fresh connection at
/// once is the cure (measured in `make bench`: a silently dropped connection cost 1.35 s
/// with the default, the attempt timeout plus up to a second of waiting).
pub const RETRY_BACKOFF: Duration = Duration::from_millis(20);

/// No stalled-stream protection: it watches streaming bodies, "upload and download streams
/// that stall (stream no data) for longer than a configured grace period" (20 s by default;
/// aws-smithy-runtime-api, `stalled_stream_protection`; SDK for Rust Developer Guide,
/// timeouts). DynamoDB's and Secrets Manager's bodies are a few hundred bytes of JSON read
/// inside the attempt, where [`ATTEMPT_TIMEOUT`] (1 s) already ends a stalled answer, as the
/// outage test's listener that accepts and never answers shows (a 503 within 2.5 s). Yet
/// it wraps every request and response body in a throughput check: about 22,000
/// instructions a request (callgrind, `make instructions`).
fn no_stalled_stream_protection() -> StalledStreamProtectionConfig {
    StalledStreamProtectionConfig::disabled()
}

fn retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(RETRY_BACKOFF)
}

/// The roots AWS endpoints chain to, compiled in (the file says which and why): no trust
/// store is read from the filesystem at init, and five roots cost a fraction of a system
/// bundle's ~150 to parse on a 128 MB function's sliver of CPU.
const AMAZON_TRUST_ROOTS: &str = include_str!("amazon-trust-roots.pem");

/// Test-only: the PEM of one more root to trust, the test harness's TLS endpoint's CA. It is
/// refused unless every AWS endpoint the client is given is on this machine's loopback, so
/// configuration alone can never make a deployed function trust a man in the middle.
pub const TEST_CA_VARIABLE: &str = "TEST_ONLY_EXTRA_CA_PEM";

/// HTTPS with rustls on ring (one small crypto library in every binary), trusting Amazon's
/// roots and, for tests only, `extra_root_pem`.
pub fn https_client(extra_root_pem: Option<&str>) -> Result<SharedHttpClient, SetupError> {
    let mut roots = TrustStore::empty();
    roots.add_pem_certificate(AMAZON_TRUST_ROOTS.as_bytes());
    if let Some(pem) = extra_root_pem {
        // The SDK panics on a PEM it cannot parse: check it first.
        let parsed: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
        if !parsed.is_ok_and(|certificates| !certificates.is_empty()) {
            return Err(SetupError(format!("{TEST_CA_VARIABLE} is not a PEM certificate")));
        }
        roots.add_pem_certificate(pem.as_bytes());
    }
    let tls = TlsContext::builder()
        .with_trust_store(roots)
        .build()
        .map_err(|error| SetupError(format!("TLS settings: {error}")))?;
    let client = aws_smithy_http_client::Builder::new()
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .tls_context(tls)
        .build_https();
    Ok(SharedHttpClient::new(BuiltOnFirstUse(client)))
}

/// The SDK's HTTPS client, minus one thing: when a client is built, the SDK has it make a
/// connector (TLS settings, trust roots) and throws it away, "so that native certs load at
/// client initialization time" (aws-smithy-http-client, `validate_base_client_config`). With
/// the roots compiled in there is nothing to load early, and the connector the first call
/// makes (the init's warm-up) is the one kept: one build instead of two, 9% of a cold
/// start's instructions (callgrind, `make bench`'s conditions).
#[derive(Debug)]
struct BuiltOnFirstUse(SharedHttpClient);

impl HttpClient for BuiltOnFirstUse {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// The tests' AWS configuration: every standard source (environment, profiles,
/// `AWS_ENDPOINT_URL_DYNAMODB`, ...), with the functions' time budget above.
pub async fn aws_sdk_config() -> SdkConfig {
    sdk_config(timeouts(OPERATION_TIMEOUT), retries()).await
}

/// An operator's time budget (`usersctl`): from a laptop to a region, through a VPN or a busy
/// machine, a call may take seconds, and only the person who typed the command waits on it:
/// 5 s an attempt, three attempts, 20 s in all (the functions' budget above fits a request
/// inside Lambda's 5 s, which is not this).
pub const OPERATOR_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
pub const OPERATOR_OPERATION_TIMEOUT: Duration = Duration::from_secs(20);
pub const OPERATOR_MAX_ATTEMPTS: u32 = 3;

/// `usersctl`'s AWS configuration: every standard source, with the operator's time budget.
pub async fn operator_sdk_config() -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(OPERATOR_ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATOR_OPERATION_TIMEOUT)
        .build();
    sdk_config(
        timeouts,
        RetryConfig::standard().with_max_attempts(OPERATOR_MAX_ATTEMPTS),
    )
    .await
}

async fn sdk_config(timeouts: TimeoutConfig, retries: RetryConfig) -> SdkConfig {
    // Region from the environment or the profile only: the default chain would also ask the
    // EC2 metadata endpoint, a 1 s wait per try off EC2.
    let region =
        RegionProviderChain::first_try(aws_config::environment::EnvironmentVariableRegionProvider::new())
            .or_else(ProfileFileRegionProvider::new())
            .or_else(Region::from_static("us-east-1"));
    // Amazon's roots alone cannot fail to parse.
    let http_client = https_client(None).unwrap_or_else(|_| unreachable!());
    aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .http_client(http_client)
        .timeout_config(timeouts)
        .retry_config(retries)
        .load()
        .await
}

/// A function's AWS clients, from Lambda's environment alone: `AWS_REGION`, the execution
/// role's credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, valid
/// for the life of the execution environment) and, for local runs, `AWS_ENDPOINT_URL_DYNAMODB`
/// and `AWS_ENDPOINT_URL_SECRETS_MANAGER`. No profile files are read at cold start, and no
/// credential chain (STS, SSO, IMDS) is linked into the functions. Both clients share one
/// HTTPS client (one connector, one pool).
pub struct LambdaEnvironment {
    region: Region,
    credentials: Credentials,
    http: SharedHttpClient,
    dynamodb_endpoint: Option<String>,
    secretsmanager_endpoint: Option<String>,
}

impl LambdaEnvironment {
    pub fn from_env() -> Result<Self, SetupError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SetupError> {
        let required = |name: &str| lookup(name).ok_or_else(|| SetupError(format!("{name} is not set")));
        let credentials = Credentials::new(
            required("AWS_ACCESS_KEY_ID")?,
            required("AWS_SECRET_ACCESS_KEY")?,
            lookup("AWS_SESSION_TOKEN"),
            None,
            "lambda-environment",
        );
        let dynamodb_endpoint = lookup("AWS_ENDPOINT_URL_DYNAMODB");
        // The SDK's own name for it: the service id "Secrets Manager" (aws-sdk-secretsmanager's
        // `service_config_key("Secrets Manager", "AWS_ENDPOINT_URL", ..)`), so usersctl agrees.
        let secretsmanager_endpoint = lookup("AWS_ENDPOINT_URL_SECRETS_MANAGER");
        let test_ca = lookup(TEST_CA_VARIABLE);
        let all_loopback = dynamodb_endpoint.as_deref().is_some_and(is_loopback)
            && secretsmanager_endpoint.as_deref().is_none_or(is_loopback);
        if test_ca.is_some() && !all_loopback {
            return Err(SetupError(format!(
                "{TEST_CA_VARIABLE} is for local tests: it is refused unless AWS_ENDPOINT_URL_DYNAMODB (and AWS_ENDPOINT_URL_SECRETS_MANAGER, if set) is a loopback address"
            )));
        }
        Ok(Self {
            region: Region::new(required("AWS_REGION")?),
            credentials,
            http: https_client(test_ca.as_deref())?,
            dynamodb_endpoint,
            secretsmanager_endpoint,
        })
    }

    /// Whether DynamoDB is this machine's, or the host of a `sam local` container: where the
    /// public development key may be used.
    pub fn store_is_local(&self) -> bool {
        is_local_store(self.dynamodb_endpoint.as_deref())
    }

    pub fn dynamodb(&self) -> Client {
        let mut config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(self.region.clone())
            .credentials_provider(self.credentials.clone())
            .http_client(self.http.clone())
            .timeout_config(timeouts(OPERATION_TIMEOUT))
            .retry_config(retries())
            .stalled_stream_protection(no_stalled_stream_protection())
            .interceptor(StoreTiming::new());
        if let Some(endpoint) = &self.dynamodb_endpoint {
            config = config.endpoint_url(endpoint);
        }
        Client::from_conf(config.build())
    }

    pub fn secretsmanager(&self) -> aws_sdk_secretsmanager::Client {
        let mut config = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .region(self.region.clone())
            .credentials_provider(self.credentials.clone())
            .http_client(self.http.clone())
            .timeout_config(timeouts(SECRETS_OPERATION_TIMEOUT))
            .retry_config(retries())
            .stalled_stream_protection(no_stalled_stream_protection());
        if let Some(endpoint) = &self.secretsmanager_endpoint {
            config = config.endpoint_url(endpoint);
        }
        aws_sdk_secretsmanager::Client::from_conf(config.build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::refuse_public_key_off_local;
    use crate::tokens::{KeyRing, TokenKey};

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn the_public_dev_key_is_refused_unless_the_store_is_local() {
        let dev = KeyRing::single(TokenKey::new(b"dev-only-insecure-token-key-do-not-deploy").unwrap());
        let real = KeyRing::single(TokenKey::new(KEY.as_bytes()).unwrap());
        let store_is_local = |endpoint: Option<&str>| {
            let mut vars = vec![
                ("AWS_REGION", "eu-west-1"),
                ("AWS_ACCESS_KEY_ID", "a"),
                ("AWS_SECRET_ACCESS_KEY", "b"),
            ];
            vars.extend(endpoint.map(|endpoint| ("AWS_ENDPOINT_URL_DYNAMODB", endpoint)));
            LambdaEnvironment::from_lookup(|name| {
                vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
            })
            .unwrap()
            .store_is_local()
        };
        for endpoint in [None, Some("https://dynamodb.eu-west-1.amazonaws.com")] {
            assert!(!store_is_local(endpoint));
            let error = refuse_public_key_off_local(&dev, store_is_local(endpoint))
                .err()
                .unwrap();
            assert!(error.to_string().contains("public development key"), "{error}");
            assert!(refuse_public_key_off_local(&real, store_is_local(endpoint)).is_ok());
        }
        for endpoint in [
            "http://127.0.0.1:8000",
            "http://localhost:8000",
            "http://LOCALHOST:8000/",
            "http://[::1]:8000",
            "http://host.docker.internal:8000",
        ] {
            assert!(store_is_local(Some(endpoint)), "{endpoint}");
            assert!(refuse_public_key_off_local(&dev, store_is_local(Some(endpoint))).is_ok());
        }
        // Look-alikes: each connects somewhere else.
        for endpoint in [
            "http://localhost:8000@evil.example",
            "http://127.0.0.1@evil.example:8000",
            "http://[::1]@evil.example",
            "http://localhost.evil.example:8000",
            "http://127.0.0.1.nip.io:8000",
            "http://evil.example/127.0.0.1",
            "127.0.0.1:8000",
        ] {
            assert!(!store_is_local(Some(endpoint)), "{endpoint}");
            assert!(refuse_public_key_off_local(&dev, store_is_local(Some(endpoint))).is_err());
        }
    }

    #[test]
    fn a_function_client_needs_a_region_and_credentials() {
        let with = |vars: &[(&str, &str)]| {
            LambdaEnvironment::from_lookup(|name| {
                vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
            })
        };
        let error = with(&[("AWS_REGION", "eu-west-1")]).err().unwrap().to_string();
        assert_eq!(error, "AWS_ACCESS_KEY_ID is not set");
        let error = with(&[("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "b")])
            .err()
            .unwrap();
        assert_eq!(error.to_string(), "AWS_REGION is not set");
        let full = [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "a"),
            ("AWS_SECRET_ACCESS_KEY", "b"),
        ];
        let client = with(&full).unwrap().dynamodb();
        assert_eq!(
            client.config().region().map(|r| r.to_string()),
            Some("eu-west-1".into())
        );
    }

    #[test]
    fn a_test_ca_is_refused_unless_the_store_is_on_loopback() {
        let with = |endpoint: Option<&str>, ca: &str| {
            let mut vars = vec![
                ("AWS_REGION", "eu-west-1"),
                ("AWS_ACCESS_KEY_ID", "a"),
                ("AWS_SECRET_ACCESS_KEY", "b"),
                (TEST_CA_VARIABLE, ca),
            ];
            vars.extend(endpoint.map(|endpoint| ("AWS_ENDPOINT_URL_DYNAMODB", endpoint)));
            LambdaEnvironment::from_lookup(|name| {
                vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
            })
        };
        let ca = AMAZON_TRUST_ROOTS;
        for endpoint in [
            None,
            Some("https://dynamodb.eu-west-1.amazonaws.com"),
            Some("https://127.0.0.1.evil.example:443"),
        ] {
            let error = with(endpoint, ca).err().unwrap().to_string();
            assert!(error.contains("loopback"), "{endpoint:?}: {error}");
        }
        for endpoint in [
            "https://127.0.0.1:4443",
            "https://localhost:4443/",
            "https://[::1]:4443",
        ] {
            assert!(with(Some(endpoint), ca).is_ok(), "{endpoint}");
        }
        let error = with(Some("https://127.0.0.1:4443"), "not a certificate")
            .err()
            .unwrap();
        assert!(error.to_string().contains("not a PEM certificate"));
    }
}
