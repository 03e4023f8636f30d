//! Randomness from the OS CSPRNG: nonces, user ids, secrets.

use std::fmt;

use rand::TryRng;
use rand::rngs::SysRng;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::NONCE_LEN;

/// The random part of an access token, stored on the user item.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenNonce(pub(super) [u8; NONCE_LEN]);

impl TokenNonce {
    pub fn generate() -> Result<Self, RandomnessUnavailable> {
        Ok(Self(random_bytes()?))
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Constant-time equality: the stored nonce is compared with the presented one.
    pub fn matches(&self, other: &TokenNonce) -> bool {
        bool::from(self.0.ct_eq(&other.0))
    }
}

impl fmt::Debug for TokenNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenNonce(<redacted>)")
    }
}

/// The OS random source failed: the only sane answer is to refuse to mint a secret.
#[derive(Debug)]
pub struct RandomnessUnavailable;

impl fmt::Display for RandomnessUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the operating system's random number generator is unavailable")
    }
}

impl std::error::Error for RandomnessUnavailable {}

/// `N` bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomnessUnavailable> {
    let mut bytes = [0u8; N];
    SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(|_| RandomnessUnavailable)?;
    Ok(bytes)
}

/// A new random user id (UUID version 4), from the OS CSPRNG.
pub fn new_user_id() -> Result<Uuid, RandomnessUnavailable> {
    Ok(uuid::Builder::from_random_bytes(random_bytes()?).into_uuid())
}
