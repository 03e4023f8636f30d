//! Access tokens: `uat_` and the base64url of key id, user id, nonce, tag and checksum.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{
    ACCESS_TOKEN_LEN, ACCESS_TOKEN_PREFIX, CHECKSUM_LEN, KEY_ID_LEN, KeyId, Malformed, NONCE_LEN, TAG_LEN,
    TokenNonce, USER_ID_LEN, decode_exact,
};

/// A parsed access token. Parsing checks its shape and checksum; see [`KeyRing::verify`].
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub(super) key_id: KeyId,
    pub(super) user_id: Uuid,
    pub(super) nonce: TokenNonce,
    pub(super) tag: [u8; TAG_LEN],
}

impl AccessToken {
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    pub fn nonce(&self) -> TokenNonce {
        self.nonce
    }

    /// This token with one bit of its tag flipped: well formed (its checksum is computed
    /// anew), naming the same key, user and nonce, but a tag no key of ours made. What a
    /// deployment check presents to see forgeries refused.
    pub fn forged(&self) -> Self {
        let mut forged = self.clone();
        forged.tag[TAG_LEN - 1] ^= 1;
        forged
    }

    /// Everything but the checksum, which is computed over the prefix and these.
    fn body(&self) -> Vec<u8> {
        [
            &self.key_id.0[..],
            self.user_id.as_bytes(),
            &self.nonce.0,
            &self.tag,
        ]
        .concat()
    }
}

/// CRC-32 (IEEE) of the prefix and the token's body, as a scanner would compute it.
fn checksum(body: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut crc = crc32fast::Hasher::new();
    crc.update(ACCESS_TOKEN_PREFIX.as_bytes());
    crc.update(body);
    crc.finalize().to_be_bytes()
}

impl fmt::Display for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = self.body();
        let checksum = checksum(&bytes);
        bytes.extend_from_slice(&checksum);
        write!(f, "{ACCESS_TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AccessToken(user {}, key {}, <redacted>)",
            self.user_id, self.key_id
        )
    }
}

impl FromStr for AccessToken {
    type Err = Malformed;

    fn from_str(text: &str) -> Result<Self, Malformed> {
        let encoded = text.strip_prefix(ACCESS_TOKEN_PREFIX).ok_or(Malformed)?;
        let bytes: [u8; ACCESS_TOKEN_LEN] = decode_exact(encoded)?;
        let (body, sum) = bytes.split_at(ACCESS_TOKEN_LEN - CHECKSUM_LEN);
        if !bool::from(checksum(body).ct_eq(sum)) {
            return Err(Malformed);
        }
        let (key_id, rest) = body.split_at(KEY_ID_LEN);
        let (user_id, rest) = rest.split_at(USER_ID_LEN);
        let (nonce, tag) = rest.split_at(NONCE_LEN);
        Ok(Self {
            key_id: KeyId::from_bytes(key_id).ok_or(Malformed)?,
            user_id: Uuid::from_slice(user_id).map_err(|_| Malformed)?,
            nonce: TokenNonce::from_bytes(nonce).ok_or(Malformed)?,
            tag: tag.try_into().map_err(|_| Malformed)?,
        })
    }
}
