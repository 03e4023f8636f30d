//! The token keys from AWS Secrets Manager: the secret's `AWSCURRENT` version makes new
//! tokens, sessions and CSRF tokens, its `AWSPREVIOUS` version (while there is one) still
//! verifies what it made. A rotation (`put-secret-value`) moves the labels; docs/security.md's
//! runbook says what to do then.
//!
//! `AWSCURRENT` alone is read at init, beside the DynamoDB warm-up: one call, since a second
//! one in parallel would open a second connection and cost a second handshake of CPU that a
//! 128 MB function does not have (BENCHMARKS.md). Both are read when a request presents a key
//! id this process does not know (a token from before or after a rotation), at most once a
//! minute, and at the first request after the keys are [`MAX_AGE`] old, so that within that
//! time of a rotation every warm process signs with the new key.

use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;

use crate::tokens::{KeyId, KeyRing, MIN_KEY_LEN, TokenKey};

/// A process looks for a new key at most this often, however many unknown key ids it is shown.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// A process reads the keys again at its first request after they are this old.
pub const MAX_AGE: Duration = Duration::from_secs(15 * 60);

/// The secret could not be read, or does not hold a usable key. Names the secret and the
/// stage, never echoes a value.
#[derive(Debug)]
pub struct KeyError(String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

/// Where a process's keys come from, and the keys it has now.
pub struct Keys {
    ring: RwLock<Arc<KeyRing>>,
    vault: Option<Vault>,
}

struct Vault {
    client: Client,
    secret_id: String,
    reads: Mutex<Reads>,
}

/// When the secret was last read, and last read because of an unknown key id.
struct Reads {
    last: Instant,
    last_for_unknown_key: Option<Instant>,
}

impl Keys {
    /// Keys that never change (the environment's, or a test's).
    pub fn fixed(ring: KeyRing) -> Self {
        Self {
            ring: RwLock::new(Arc::new(ring)),
            vault: None,
        }
    }

    /// The keys in the secret now, and the means to read it again.
    pub async fn from_secret(client: Client, secret_id: String) -> Result<Self, KeyError> {
        let current = version(&client, &secret_id, "AWSCURRENT")
            .await?
            .ok_or_else(|| no_current_version(&secret_id))?;
        let ring = KeyRing::single(current);
        Ok(Self {
            ring: RwLock::new(Arc::new(ring)),
            vault: Some(Vault {
                client,
                secret_id,
                reads: Mutex::new(Reads {
                    last: Instant::now(),
                    last_for_unknown_key: None,
                }),
            }),
        })
    }

    /// The keys as they are.
    pub fn ring(&self) -> Arc<KeyRing> {
        Arc::clone(&self.ring.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The keys, read again from the secret first if they are over [`MAX_AGE`] old, or if
    /// `id` is not among them (a token made after a rotation by a process that started after
    /// it then works here too), at most once per [`REFRESH_INTERVAL`] for that reason. A read
    /// that fails keeps the keys there are.
    pub async fn current(&self, id: Option<KeyId>) -> Arc<KeyRing> {
        let ring = self.ring();
        let Some(vault) = &self.vault else {
            return ring;
        };
        {
            let mut reads = vault.reads.lock().unwrap_or_else(|e| e.into_inner());
            let unknown = id.is_some_and(|id| ring.key(id).is_none())
                && reads
                    .last_for_unknown_key
                    .is_none_or(|at| at.elapsed() >= REFRESH_INTERVAL);
            if !unknown && reads.last.elapsed() < MAX_AGE {
                return ring;
            }
            let now = Instant::now();
            reads.last = now;
            if unknown {
                reads.last_for_unknown_key = Some(now);
            }
        }
        match read(&vault.client, &vault.secret_id).await {
            Ok(fresh) => {
                tracing::info!(
                    event = "token_keys_reloaded",
                    current = %fresh.current().id(),
                    previous = %fresh.previous().map(|key| key.id().to_string()).unwrap_or_default(),
                    "read the token keys again"
                );
                let fresh = Arc::new(fresh);
                *self.ring.write().unwrap_or_else(|e| e.into_inner()) = Arc::clone(&fresh);
                fresh
            }
            Err(error) => {
                tracing::warn!(%error, "could not read the token keys again");
                ring
            }
        }
    }
}

/// `AWSCURRENT` and, if the secret has one, `AWSPREVIOUS`, in two concurrent calls.
async fn read(client: &Client, secret_id: &str) -> Result<KeyRing, KeyError> {
    let (current, previous) = tokio::join!(
        version(client, secret_id, "AWSCURRENT"),
        version(client, secret_id, "AWSPREVIOUS")
    );
    let current = current?.ok_or_else(|| no_current_version(secret_id))?;
    KeyRing::new(current, previous?).ok_or_else(|| {
        KeyError(format!(
            "the secret {secret_id}'s AWSCURRENT and AWSPREVIOUS hold the same key: rotate it to a new one"
        ))
    })
}

fn no_current_version(secret_id: &str) -> KeyError {
    KeyError(format!(
        "the secret {secret_id} does not exist, or has no AWSCURRENT version"
    ))
}

/// One version of the secret as a key; `None` if the secret has no version with that label.
async fn version(client: &Client, secret_id: &str, stage: &str) -> Result<Option<TokenKey>, KeyError> {
    let output = match client
        .get_secret_value()
        .secret_id(secret_id)
        .version_stage(stage)
        .send()
        .await
    {
        Ok(output) => output,
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|error| error.is_resource_not_found_exception()) =>
        {
            return Ok(None);
        }
        Err(error) => {
            return Err(KeyError(format!(
                "cannot read {stage} of the secret {secret_id}: {}",
                DisplayErrorContext(error)
            )));
        }
    };
    let secret = output.secret_string().unwrap_or_default();
    TokenKey::new(secret.as_bytes()).map(Some).ok_or_else(|| {
        KeyError(format!(
            "{stage} of the secret {secret_id} is not a key of at least {MIN_KEY_LEN} bytes"
        ))
    })
}
