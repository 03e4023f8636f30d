//! Session ids: the `sessionid` cookie's value.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use super::{
    KEY_ID_LEN, KeyId, Malformed, SESSION_ID_LEN, SESSION_SECRET_LEN, SESSION_TAG_LEN, USER_ID_LEN,
    decode_exact,
};

/// The value of the `sessionid` cookie. Parsing checks only its shape; see
/// [`KeyRing::session_lookup`].
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId {
    pub(super) key_id: KeyId,
    pub(super) user_id: Uuid,
    pub(super) secret: [u8; SESSION_SECRET_LEN],
    pub(super) tag: [u8; SESSION_TAG_LEN],
}

impl SessionId {
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    pub fn user_id(&self) -> Uuid {
        self.user_id
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = [
            &self.key_id.0[..],
            self.user_id.as_bytes(),
            &self.secret,
            &self.tag,
        ]
        .concat();
        f.write_str(&URL_SAFE_NO_PAD.encode(bytes))
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SessionId(user {}, key {}, <redacted>)",
            self.user_id, self.key_id
        )
    }
}

impl FromStr for SessionId {
    type Err = Malformed;

    fn from_str(text: &str) -> Result<Self, Malformed> {
        let bytes: [u8; SESSION_ID_LEN] = decode_exact(text)?;
        let (key_id, rest) = bytes.split_at(KEY_ID_LEN);
        let (user_id, rest) = rest.split_at(USER_ID_LEN);
        let (secret, tag) = rest.split_at(SESSION_SECRET_LEN);
        Ok(Self {
            key_id: KeyId::from_bytes(key_id).ok_or(Malformed)?,
            user_id: Uuid::from_slice(user_id).map_err(|_| Malformed)?,
            secret: secret.try_into().map_err(|_| Malformed)?,
            tag: tag.try_into().map_err(|_| Malformed)?,
        })
    }
}
