//! Deployment settings, read once at init from the environment.
//!
//! | variable | meaning |
//! |---|---|
//! | `TABLE_NAME` | the DynamoDB table (required) |
//! | `TOKEN_KEY` | the server secret tokens are derived with, at least 32 bytes (required) |
//! | `TOKEN_TTL_SECONDS` | access-token lifetime; unset or empty = tokens never expire |
//! | `ALLOWED_ORIGINS` | comma-separated origins allowed to call the API from a browser, with credentials |
//! | `AWS_REGION`, `AWS_ENDPOINT_URL_DYNAMODB`, ... | the standard AWS configuration |
//!
//! A function reads its AWS settings from Lambda's environment ([`function_client`]);
//! `usersctl` and the tests use every standard source ([`aws_sdk_config`]).

use std::fmt;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileRegionProvider;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, RuntimeComponents, SharedHttpClient};
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpConnector};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::cors::AllowedOrigins;
use crate::tokens::{MIN_KEY_LEN, TokenKey};

pub struct Config {
    pub table_name: String,
    pub token_key: TokenKey,
    pub token_ttl: Option<Duration>,
    pub allowed_origins: AllowedOrigins,
}

/// A setting is missing or unusable. Names the variable, never echoes a secret value.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table_name = lookup("TABLE_NAME")
            .filter(|name| !name.is_empty())
            .ok_or_else(|| ConfigError("TABLE_NAME is not set".into()))?;
        let token_key = lookup("TOKEN_KEY")
            .and_then(|key| TokenKey::new(key.as_bytes()))
            .ok_or_else(|| {
                ConfigError(format!(
                    "TOKEN_KEY must be set to a secret of at least {MIN_KEY_LEN} bytes"
                ))
            })?;
        let token_ttl = match lookup("TOKEN_TTL_SECONDS").as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => match text.parse::<u64>() {
                Ok(seconds) if seconds > 0 => Some(Duration::from_secs(seconds)),
                _ => {
                    return Err(ConfigError(format!(
                        "TOKEN_TTL_SECONDS must be a positive whole number of seconds, not {text:?}"
                    )));
                }
            },
        };
        let origins = lookup("ALLOWED_ORIGINS").unwrap_or_default();
        let allowed_origins = AllowedOrigins::parse(&origins).ok_or_else(|| {
            ConfigError(format!(
                "ALLOWED_ORIGINS must list origins like https://app.example.com (never *), not {origins:?}"
            ))
        })?;
        Ok(Self {
            table_name,
            token_key,
            token_ttl,
            allowed_origins,
        })
    }
}

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

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The wait before the one retry, times a random jitter (0 to 1) times 2. The SDK's default
/// (1 s) suits throttling, not what the retry here is for: a pooled connection that died
/// while the environment was frozen, or an answer that was lost, where a fresh connection at
/// once is the cure (measured in `make bench`: a silently dropped connection cost 1.35 s
/// with the default, the attempt timeout plus up to a second of waiting).
pub const RETRY_BACKOFF: Duration = Duration::from_millis(20);

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
pub fn https_client(extra_root_pem: Option<&str>) -> Result<SharedHttpClient, ConfigError> {
    let mut roots = TrustStore::empty();
    roots.add_pem_certificate(AMAZON_TRUST_ROOTS.as_bytes());
    if let Some(pem) = extra_root_pem {
        // The SDK panics on a PEM it cannot parse: check it first.
        let parsed: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
        if !parsed.is_ok_and(|certificates| !certificates.is_empty()) {
            return Err(ConfigError(format!(
                "{TEST_CA_VARIABLE} is not a PEM certificate"
            )));
        }
        roots.add_pem_certificate(pem.as_bytes());
    }
    let tls = TlsContext::builder()
        .with_trust_store(roots)
        .build()
        .map_err(|error| ConfigError(format!("TLS settings: {error}")))?;
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

/// Whether `url`'s host is this machine's loopback interface.
fn is_loopback(url: &str) -> bool {
    let authority = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// The AWS configuration of `usersctl` and the tests: every standard source (environment,
/// profiles, `AWS_ENDPOINT_URL_DYNAMODB`, ...), with the timeouts above.
pub async fn aws_sdk_config() -> SdkConfig {
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
        .timeout_config(timeouts())
        .retry_config(retries())
        .load()
        .await
}

/// The DynamoDB client of a function, from Lambda's environment alone: `AWS_REGION`, the
/// execution role's credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, valid for the life of the execution environment) and, for local
/// runs, `AWS_ENDPOINT_URL_DYNAMODB`. No profile files are read at cold start, and no
/// credential chain (STS, SSO, IMDS) is linked into the functions.
pub fn function_client() -> Result<Client, ConfigError> {
    function_client_from(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
}

fn function_client_from(lookup: impl Fn(&str) -> Option<String>) -> Result<Client, ConfigError> {
    let required = |name: &str| lookup(name).ok_or_else(|| ConfigError(format!("{name} is not set")));
    let credentials = Credentials::new(
        required("AWS_ACCESS_KEY_ID")?,
        required("AWS_SECRET_ACCESS_KEY")?,
        lookup("AWS_SESSION_TOKEN"),
        None,
        "lambda-environment",
    );
    let endpoint = lookup("AWS_ENDPOINT_URL_DYNAMODB");
    let test_ca = lookup(TEST_CA_VARIABLE);
    if test_ca.is_some() && !endpoint.as_deref().is_some_and(is_loopback) {
        return Err(ConfigError(format!(
            "{TEST_CA_VARIABLE} is for local tests: it is refused unless AWS_ENDPOINT_URL_DYNAMODB is a loopback address"
        )));
    }
    let mut config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(required("AWS_REGION")?))
        .credentials_provider(credentials)
        .http_client(https_client(test_ca.as_deref())?)
        .timeout_config(timeouts())
        .retry_config(retries());
    if let Some(endpoint) = endpoint {
        config = config.endpoint_url(endpoint);
    }
    Ok(Client::from_conf(config.build()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn table_and_key_are_required() {
        assert_eq!(
            config(&[("TOKEN_KEY", KEY)]).err().unwrap().to_string(),
            "TABLE_NAME is not set"
        );
        let error = config(&[("TABLE_NAME", "users")]).err().unwrap().to_string();
        assert!(error.starts_with("TOKEN_KEY must be set"), "{error}");
    }

    #[test]
    fn a_short_key_is_refused_without_echoing_it() {
        let error = config(&[("TABLE_NAME", "users"), ("TOKEN_KEY", "short-secret")])
            .err()
            .unwrap();
        assert!(!error.to_string().contains("short-secret"));
    }

    #[test]
    fn allowed_origins_are_optional_and_never_a_wildcard() {
        let base = [("TABLE_NAME", "users"), ("TOKEN_KEY", KEY)];
        assert_eq!(config(&base).unwrap().allowed_origins, AllowedOrigins::default());
        let with = |origins| config(&[base[0], base[1], ("ALLOWED_ORIGINS", origins)]);
        assert!(with("https://app.example.com,https://admin.example.com").is_ok());
        assert!(with("*").is_err());
    }

    #[test]
    fn a_function_client_needs_a_region_and_credentials() {
        let with = |vars: &[(&str, &str)]| {
            function_client_from(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
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
        let client = with(&full).unwrap();
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
            function_client_from(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
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

    #[test]
    fn the_token_ttl_is_optional_and_positive() {
        let base = [("TABLE_NAME", "users"), ("TOKEN_KEY", KEY)];
        assert_eq!(config(&base).unwrap().token_ttl, None);
        let with = |ttl| config(&[base[0], base[1], ("TOKEN_TTL_SECONDS", ttl)]);
        assert_eq!(with("").unwrap().token_ttl, None);
        assert_eq!(with("3600").unwrap().token_ttl, Some(Duration::from_secs(3600)));
        for bad in ["0", "-5", "1h", "1.5"] {
            assert!(with(bad).is_err(), "{bad}");
        }
    }
}
