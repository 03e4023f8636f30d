//! Deployment settings, read once at init from the environment.
//!
//! | variable | meaning |
//! |---|---|
//! | `TABLE_NAME` | the DynamoDB table (required) |
//! | `TOKEN_KEY_SECRET_ARN` | the Secrets Manager secret holding the token keys (deployments) |
//! | `TOKEN_KEY`, `TOKEN_KEY_PREVIOUS` | or the keys themselves, at least 32 bytes each; the previous one only verifies (local runs, tests, `usersctl`) |
//! | `TOKEN_TTL_SECONDS` | access-token lifetime; unset or empty = tokens never expire |
//! | `SESSION_TTL_SECONDS` | how long a sign-in lasts; unset or empty = 14 days (Django's default) |
//! | `ALLOWED_ORIGINS` | comma-separated origins allowed to call the API from a browser, with credentials |
//! | `AWS_REGION`, `AWS_ENDPOINT_URL_DYNAMODB`, ... | the standard AWS configuration |
//!
//! A function reads its AWS settings from Lambda's environment ([`LambdaEnvironment`]);
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
use lambda_http::http::Uri;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::cors::AllowedOrigins;
use crate::keys::Keys;
use crate::metrics::StoreTiming;
use crate::tokens::{KeyRing, MIN_KEY_LEN, TokenKey};

pub struct Config {
    pub table_name: String,
    pub key_source: KeySource,
    pub token_ttl: Option<Duration>,
    /// How long a session opened by a sign-in lasts.
    pub session_ttl: Duration,
    pub allowed_origins: AllowedOrigins,
}

/// The longest `TOKEN_TTL_SECONDS` or `SESSION_TTL_SECONDS`: nine digits.
pub const MAX_TTL_SECONDS: u64 = 999_999_999;

/// A sign-in lasts this long unless `SESSION_TTL_SECONDS` says otherwise (Django's
/// `SESSION_COOKIE_AGE`).
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(14 * 24 * 3600);

/// Where the token keys come from.
#[derive(Debug)]
pub enum KeySource {
    /// `TOKEN_KEY` and, during a rotation, `TOKEN_KEY_PREVIOUS`. For local runs, tests and
    /// `usersctl` only: in a function's environment the key is readable by whoever may read
    /// its configuration.
    Environment(Box<KeyRing>),
    /// `TOKEN_KEY_SECRET_ARN`: read at init (see [`crate::keys`]).
    SecretsManager(String),
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

impl KeySource {
    /// The keys: the environment's as they are, or the secret's as read now (with
    /// `secretsmanager`, called only then).
    pub async fn load(
        &self,
        secretsmanager: impl FnOnce() -> aws_sdk_secretsmanager::Client,
    ) -> Result<Keys, ConfigError> {
        match self {
            Self::Environment(ring) => Ok(Keys::fixed(ring.as_ref().clone())),
            Self::SecretsManager(secret_id) => Keys::from_secret(secretsmanager(), secret_id.clone())
                .await
                .map_err(|error| ConfigError(error.to_string())),
        }
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let table_name = lookup("TABLE_NAME")
            .filter(|name| !name.is_empty())
            .ok_or_else(|| ConfigError("TABLE_NAME is not set".into()))?;
        let key = |name: &str| -> Result<Option<TokenKey>, ConfigError> {
            match lookup(name).filter(|key| !key.is_empty()) {
                None => Ok(None),
                Some(key) => TokenKey::new(key.as_bytes()).map(Some).ok_or_else(|| {
                    ConfigError(format!("{name} must be a secret of at least {MIN_KEY_LEN} bytes"))
                }),
            }
        };
        let secret = lookup("TOKEN_KEY_SECRET_ARN").filter(|arn| !arn.is_empty());
        let key_source = match (secret, key("TOKEN_KEY")?, key("TOKEN_KEY_PREVIOUS")?) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(ConfigError(
                    "set TOKEN_KEY_SECRET_ARN or TOKEN_KEY, not both".into(),
                ));
            }
            (Some(arn), None, None) => KeySource::SecretsManager(arn),
            (None, Some(current), previous) => {
                KeySource::Environment(Box::new(KeyRing::new(current, previous).ok_or_else(|| {
                    ConfigError("TOKEN_KEY_PREVIOUS is the same key as TOKEN_KEY".into())
                })?))
            }
            (None, None, _) => {
                return Err(ConfigError(format!(
                    "set TOKEN_KEY_SECRET_ARN, or TOKEN_KEY to a secret of at least {MIN_KEY_LEN} bytes"
                )));
            }
        };
        let seconds = |name: &str| match lookup(name).as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            // Nine digits (about 31 years), as template.yaml's parameter allows: any instant
            // that far ahead is still a date the store and cookies print.
            Some(text) => match text.parse::<u64>() {
                Ok(seconds) if seconds > 0 && seconds <= MAX_TTL_SECONDS => {
                    Ok(Some(Duration::from_secs(seconds)))
                }
                _ => Err(ConfigError(format!(
                    "{name} must be a whole number of seconds from 1 to {MAX_TTL_SECONDS}, not {text:?}"
                ))),
            },
        };
        let token_ttl = seconds("TOKEN_TTL_SECONDS")?;
        let session_ttl = seconds("SESSION_TTL_SECONDS")?.unwrap_or(DEFAULT_SESSION_TTL);
        let origins = lookup("ALLOWED_ORIGINS").unwrap_or_default();
        let allowed_origins = AllowedOrigins::parse(&origins).ok_or_else(|| {
            ConfigError(format!(
                "ALLOWED_ORIGINS must list origins like https://app.example.com (never *), not {origins:?}"
            ))
        })?;
        Ok(Self {
            table_name,
            key_source,
            token_ttl,
            session_ttl,
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

/// The host a client given the endpoint `url` connects to (`::1` without its brackets), as
/// the HTTP stack parses it; `None` for what is not an absolute URL, or one with user
/// information (`http://localhost@evil.example` connects to evil.example: judged as never
/// local).
fn host(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    uri.scheme()?;
    let authority = uri.authority()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let host = authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|bracketed| bracketed.strip_suffix(']'))
        .unwrap_or(host);
    Some(host.to_ascii_lowercase())
}

/// Whether `url`'s host is this machine's loopback interface.
pub fn is_loopback(url: &str) -> bool {
    host(url).is_some_and(|host| {
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|address| address.is_loopback())
    })
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
        .timeout_config(timeouts(OPERATION_TIMEOUT))
        .retry_config(retries())
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
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &str| lookup(name).ok_or_else(|| ConfigError(format!("{name} is not set")));
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
            return Err(ConfigError(format!(
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
            .retry_config(retries());
        if let Some(endpoint) = &self.secretsmanager_endpoint {
            config = config.endpoint_url(endpoint);
        }
        aws_sdk_secretsmanager::Client::from_conf(config.build())
    }
}

/// Whether a DynamoDB endpoint is this machine's, or the host of a `sam local` container.
pub fn is_local_store(endpoint: Option<&str>) -> bool {
    endpoint.is_some_and(|endpoint| {
        is_loopback(endpoint) || host(endpoint).is_some_and(|host| host == "host.docker.internal")
    })
}

/// The public development key (`dev-only-...`) is refused unless the store is a local one:
/// its tokens are forgeable by anyone who has read this repository.
pub fn refuse_public_key_off_local(keys: &KeyRing, store_is_local: bool) -> Result<(), ConfigError> {
    let public = keys.keys().any(TokenKey::is_public_dev_key);
    if public && !store_is_local {
        return Err(ConfigError(
            "the token key is the public development key (dev-only-...): it is refused unless AWS_ENDPOINT_URL_DYNAMODB is a local DynamoDB (localhost, 127.0.0.1, ::1, host.docker.internal)".into(),
        ));
    }
    Ok(())
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
        assert!(
            error.starts_with("set TOKEN_KEY_SECRET_ARN, or TOKEN_KEY"),
            "{error}"
        );
    }

    #[test]
    fn keys_come_from_the_environment_or_a_secret_not_both() {
        let base = [("TABLE_NAME", "users")];
        let with = |vars: &[(&str, &str)]| config(&[base.as_slice(), vars].concat());
        assert!(matches!(
            with(&[(
                "TOKEN_KEY_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:k"
            )]),
            Ok(Config {
                key_source: KeySource::SecretsManager(_),
                ..
            })
        ));
        let previous = "fedcba9876543210fedcba9876543210";
        let Ok(Config {
            key_source: KeySource::Environment(keys),
            ..
        }) = with(&[("TOKEN_KEY", KEY), ("TOKEN_KEY_PREVIOUS", previous)])
        else {
            panic!("two environment keys")
        };
        assert!(keys.previous().is_some());
        assert!(with(&[("TOKEN_KEY", KEY), ("TOKEN_KEY_PREVIOUS", KEY)]).is_err());
        assert!(with(&[("TOKEN_KEY", KEY), ("TOKEN_KEY_SECRET_ARN", "arn")]).is_err());
        let error = with(&[("TOKEN_KEY", KEY), ("TOKEN_KEY_PREVIOUS", "short")])
            .err()
            .unwrap();
        assert!(error.to_string().starts_with("TOKEN_KEY_PREVIOUS must be"));
    }

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

    #[test]
    fn the_token_ttl_is_optional_and_positive() {
        let base = [("TABLE_NAME", "users"), ("TOKEN_KEY", KEY)];
        assert_eq!(config(&base).unwrap().token_ttl, None);
        let with = |ttl| config(&[base[0], base[1], ("TOKEN_TTL_SECONDS", ttl)]);
        assert_eq!(with("").unwrap().token_ttl, None);
        assert_eq!(with("3600").unwrap().token_ttl, Some(Duration::from_secs(3600)));
        assert!(with("999999999").is_ok());
        for bad in ["0", "-5", "1h", "1.5", "1000000000"] {
            assert!(with(bad).is_err(), "{bad}");
        }
    }
}
