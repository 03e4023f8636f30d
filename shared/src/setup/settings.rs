//! The deployment's settings, read once at init from the environment:
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

use std::time::Duration;

use super::SetupError;
use crate::app::Policy;
use crate::http::cors::AllowedOrigins;
use crate::tokens::{KeyRing, MIN_KEY_LEN, TokenKey};
use crate::vault::Keys;

pub struct Settings {
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
    /// `TOKEN_KEY_SECRET_ARN`: read at init (see [`crate::vault`]).
    SecretsManager(String),
}

impl KeySource {
    /// The keys: the environment's as they are, or the secret's as read now (with
    /// `secretsmanager`, called only then).
    pub async fn load(
        &self,
        secretsmanager: impl FnOnce() -> aws_sdk_secretsmanager::Client,
    ) -> Result<Keys, SetupError> {
        match self {
            Self::Environment(ring) => Ok(Keys::fixed(ring.as_ref().clone())),
            Self::SecretsManager(secret_id) => Keys::from_secret(secretsmanager(), secret_id.clone())
                .await
                .map_err(|error| SetupError(error.to_string())),
        }
    }
}

impl Settings {
    /// How long tokens and sessions last, as the service applies it.
    pub fn policy(&self) -> Policy {
        Policy {
            token_ttl: self.token_ttl,
            session_ttl: self.session_ttl,
        }
    }

    pub fn from_env() -> Result<Self, SetupError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SetupError> {
        let table_name = lookup("TABLE_NAME")
            .filter(|name| !name.is_empty())
            .ok_or_else(|| SetupError("TABLE_NAME is not set".into()))?;
        let key = |name: &str| -> Result<Option<TokenKey>, SetupError> {
            match lookup(name).filter(|key| !key.is_empty()) {
                None => Ok(None),
                Some(key) => TokenKey::new(key.as_bytes()).map(Some).ok_or_else(|| {
                    SetupError(format!("{name} must be a secret of at least {MIN_KEY_LEN} bytes"))
                }),
            }
        };
        let secret = lookup("TOKEN_KEY_SECRET_ARN").filter(|arn| !arn.is_empty());
        let key_source = match (secret, key("TOKEN_KEY")?, key("TOKEN_KEY_PREVIOUS")?) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(SetupError(
                    "set TOKEN_KEY_SECRET_ARN or TOKEN_KEY, not both".into(),
                ));
            }
            (Some(arn), None, None) => KeySource::SecretsManager(arn),
            (None, Some(current), previous) => {
                KeySource::Environment(Box::new(KeyRing::new(current, previous).ok_or_else(|| {
                    SetupError("TOKEN_KEY_PREVIOUS is the same key as TOKEN_KEY".into())
                })?))
            }
            (None, None, _) => {
                return Err(SetupError(format!(
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
                _ => Err(SetupError(format!(
                    "{name} must be a whole number of seconds from 1 to {MAX_TTL_SECONDS}, not {text:?}"
                ))),
            },
        };
        let token_ttl = seconds("TOKEN_TTL_SECONDS")?;
        let session_ttl = seconds("SESSION_TTL_SECONDS")?.unwrap_or(DEFAULT_SESSION_TTL);
        let origins = lookup("ALLOWED_ORIGINS").unwrap_or_default();
        let allowed_origins = AllowedOrigins::parse(&origins).ok_or_else(|| {
            SetupError(format!(
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn config(vars: &[(&str, &str)]) -> Result<Settings, SetupError> {
        let vars: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|name| vars.get(name).cloned())
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
            Ok(Settings {
                key_source: KeySource::SecretsManager(_),
                ..
            })
        ));
        let previous = "fedcba9876543210fedcba9876543210";
        let Ok(Settings {
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
