//! Access tokens, session ids and CSRF tokens: how they are made, written and checked, and
//! the keys they are made with.
//!
//! An **access token** is `uat_` followed by 96 base64url characters, 100 in all:
//! `base64url(key id ‖ user id ‖ nonce ‖ tag ‖ checksum)`:
//! - `uat_` ("user access token"): a fixed prefix, so secret scanners (GitHub secret scanning,
//!   GitGuardian) can recognise a leaked token, as GitHub's `ghp_` and Stripe's `sk_live_`;
//! - key id (4 bytes): which server key made it, so a rotated key can still verify it;
//! - user id (16): one `GetItem` finds the user (no index, strongly consistent);
//! - nonce (16, from the OS CSPRNG): stored on the user item; a regenerate replaces it with a
//!   conditional write, and the old token dies with it;
//! - tag (32): HMAC-SHA256 under that key of the key id, user id and nonce: only the service
//!   can make one, so a copy of the table yields no usable token, while the service can
//!   rebuild the current token for `GET .../token/`;
//! - checksum (4): CRC-32 (IEEE) of `uat_` and the 68 bytes before it, big-endian: a scanner,
//!   or the parser here, rejects a mistyped or truncated token without any key.
//!
//! A **session id** (the `sessionid` cookie) is `base64url(key id ‖ user id ‖ secret ‖ tag)`,
//! 96 characters: a 256-bit secret, and a 160-bit HMAC tag so that a forged session id is
//! refused before any read. The table keeps only a keyed hash of the secret (the session's
//! lookup), and the CSRF token is another keyed hash of it (bound to the session, nothing
//! stored).
//!
//! A **key id** is the first 4 bytes of HMAC-SHA256(key, "key-id"): it names a key without
//! revealing anything of it, whether the key came from the environment or Secrets Manager.

mod access;
mod keys;
mod random;
mod session;
#[cfg(test)]
mod tests;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub use access::AccessToken;
pub use keys::{KeyId, KeyRing, TokenKey};
pub use random::{RandomnessUnavailable, TokenNonce, new_user_id, random_bytes};
pub use session::SessionId;

/// The prefix of every access token.
pub const ACCESS_TOKEN_PREFIX: &str = "uat_";
/// The prefix of a public development key, which is refused with any store but a local one.
pub const PUBLIC_DEV_KEY_PREFIX: &str = "dev-only-";
/// The shortest server key accepted: as many bytes as the HMAC-SHA256 output.
pub const MIN_KEY_LEN: usize = 32;

pub(super) const KEY_ID_LEN: usize = 4;
pub(super) const USER_ID_LEN: usize = 16;
pub(super) const NONCE_LEN: usize = 16;
pub(super) const TAG_LEN: usize = 32;
pub(super) const CHECKSUM_LEN: usize = 4;
pub(super) const SESSION_SECRET_LEN: usize = 32;
pub(super) const SESSION_TAG_LEN: usize = 20;
pub(super) const ACCESS_TOKEN_LEN: usize = KEY_ID_LEN + USER_ID_LEN + NONCE_LEN + TAG_LEN + CHECKSUM_LEN;
pub(super) const SESSION_ID_LEN: usize = KEY_ID_LEN + USER_ID_LEN + SESSION_SECRET_LEN + SESSION_TAG_LEN;

/// Why a credential was refused. Clients get the same 401 whatever the reason (telling a
/// forger which part failed helps nobody else); logs and metrics get the reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No credential this endpoint accepts.
    Missing,
    /// Not a token or session id of ours: shape, alphabet or checksum.
    Malformed,
    /// Made under a key that is not in use: retired by a rotation, or never ours.
    UnknownKey,
    /// Its tag does not verify: not made by us.
    Forged,
    /// Genuine, but past `TOKEN_TTL_SECONDS`, or an expired session.
    Expired,
    /// Genuine, but replaced by a regenerate, its user deleted or its session revoked: a
    /// client that missed an update, or a leaked copy being tried.
    Superseded,
}

impl Refusal {
    /// The reason as logs and metrics name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::UnknownKey => "unknown_key",
            Self::Forged => "forged",
            Self::Expired => "expired",
            Self::Superseded => "superseded",
        }
    }
}

/// Who the request claims to be.
#[derive(Debug)]
pub enum Credential {
    Bearer(AccessToken),
    Session(SessionId),
}

impl Credential {
    /// The key the credential says made it.
    pub fn key_id(&self) -> KeyId {
        match self {
            Self::Bearer(token) => token.key_id(),
            Self::Session(session) => session.key_id(),
        }
    }
}

/// The text is not a token of ours (wrong prefix, length, alphabet or checksum).
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed;

/// Decodes unpadded base64url of exactly `N` bytes; the length is checked before any
/// decoding, so a 10 KB header costs nothing.
pub(super) fn decode_exact<const N: usize>(text: &str) -> Result<[u8; N], Malformed> {
    if text.len() != base64::encoded_len(N, false).ok_or(Malformed)? {
        return Err(Malformed);
    }
    let mut bytes = [0u8; N];
    match URL_SAFE_NO_PAD.decode_slice(text, &mut bytes) {
        // Canonical only: a text that decodes but is not what we would write is not ours.
        Ok(len) if len == N && URL_SAFE_NO_PAD.encode(bytes) == text => Ok(bytes),
        _ => Err(Malformed),
    }
}
