//! The server keys: what names them, what they derive, and the ring of those in use.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{
    AccessToken, KEY_ID_LEN, MIN_KEY_LEN, PUBLIC_DEV_KEY_PREFIX, RandomnessUnavailable, Refusal,
    SESSION_SECRET_LEN, SESSION_TAG_LEN, SessionId, TAG_LEN, TokenNonce, random_bytes,
};

/// Which key made a token or session: see the module's documentation.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub(super) [u8; KEY_ID_LEN]);

impl From<[u8; KEY_ID_LEN]> for KeyId {
    fn from(bytes: [u8; KEY_ID_LEN]) -> Self {
        Self(bytes)
    }
}

impl KeyId {
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A server secret tokens, session lookups and CSRF tokens are derived with. HMAC-SHA256
/// by ring (already here for TLS): its assembly SHA-256 costs a fraction of the portable
/// one built at the release profile's "z" (about 8,700 instructions a block, callgrind), and
/// a warm request makes one to three of these tags.
#[derive(Clone)]
pub struct TokenKey {
    mac: hmac::Key,
    id: KeyId,
    public_dev_key: bool,
}

impl TokenKey {
    /// `None` when the key is shorter than [`MIN_KEY_LEN`] bytes.
    pub fn new(secret: &[u8]) -> Option<Self> {
        if secret.len() < MIN_KEY_LEN {
            return None;
        }
        let mut key = Self {
            mac: hmac::Key::new(hmac::HMAC_SHA256, secret),
            id: KeyId([0; KEY_ID_LEN]),
            public_dev_key: secret.starts_with(PUBLIC_DEV_KEY_PREFIX.as_bytes()),
        };
        let id = key.tag("key-id", &[]);
        key.id = KeyId([id[0], id[1], id[2], id[3]]);
        Some(key)
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    /// Whether this is a public development key (`dev-only-...`), fit for local runs only.
    pub fn is_public_dev_key(&self) -> bool {
        self.public_dev_key
    }

    /// HMAC over length-prefixed parts, under a purpose label, so that no two
    /// derivations (token, session, lookup, CSRF, key id) can ever produce the same input.
    fn tag(&self, purpose: &str, parts: &[&[u8]]) -> [u8; TAG_LEN] {
        let mut mac = hmac::Context::with_key(&self.mac);
        for part in std::iter::once(purpose.as_bytes()).chain(parts.iter().copied()) {
            mac.update(&(part.len() as u32).to_be_bytes());
            mac.update(part);
        }
        let mut tag = [0; TAG_LEN];
        tag.copy_from_slice(mac.sign().as_ref());
        tag
    }

    fn access_token(&self, user_id: Uuid, nonce: TokenNonce) -> AccessToken {
        let tag = self.tag("access-token", &[&self.id.0, user_id.as_bytes(), &nonce.0]);
        AccessToken {
            key_id: self.id,
            user_id,
            nonce,
            tag,
        }
    }

    fn session_tag(&self, user_id: Uuid, secret: &[u8]) -> [u8; SESSION_TAG_LEN] {
        let tag = self.tag("session-id", &[&self.id.0, user_id.as_bytes(), secret]);
        let mut short = [0; SESSION_TAG_LEN];
        short.copy_from_slice(&tag[..SESSION_TAG_LEN]);
        short
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenKey({}, <redacted>)", self.id)
    }
}

/// The keys in use: the current one makes every new token, session and CSRF token; the
/// previous one, during a rotation, still verifies what it made.
#[derive(Clone, Debug)]
pub struct KeyRing {
    current: TokenKey,
    previous: Option<TokenKey>,
}

impl KeyRing {
    /// `None` if both keys have the same id (the same key twice, or a 1 in 2^32 chance:
    /// rotate again).
    pub fn new(current: TokenKey, previous: Option<TokenKey>) -> Option<Self> {
        if previous
            .as_ref()
            .is_some_and(|previous| previous.id == current.id)
        {
            return None;
        }
        Some(Self { current, previous })
    }

    pub fn single(current: TokenKey) -> Self {
        Self {
            current,
            previous: None,
        }
    }

    pub fn current(&self) -> &TokenKey {
        &self.current
    }

    pub fn previous(&self) -> Option<&TokenKey> {
        self.previous.as_ref()
    }

    /// The keys in use: the current one, then the previous one if there is one.
    pub fn keys(&self) -> impl Iterator<Item = &TokenKey> {
        std::iter::once(&self.current).chain(&self.previous)
    }

    /// The key with this id, if it is one of ours.
    pub fn key(&self, id: KeyId) -> Option<&TokenKey> {
        self.keys().find(|key| key.id == id)
    }

    /// A new access token, under the current key.
    pub fn access_token(&self, user_id: Uuid, nonce: TokenNonce) -> AccessToken {
        self.current.access_token(user_id, nonce)
    }

    /// The token the key `key_id` made for this user and nonce; `None` when that key is no
    /// longer in use (the token died with it).
    pub fn rebuild(&self, key_id: KeyId, user_id: Uuid, nonce: TokenNonce) -> Option<AccessToken> {
        self.key(key_id).map(|key| key.access_token(user_id, nonce))
    }

    /// Whether one of our keys made this token (constant time). This says nothing of whether
    /// it is still the user's current token: only the store knows that.
    pub fn verify(&self, token: &AccessToken) -> Result<(), Refusal> {
        let key = self.key(token.key_id).ok_or(Refusal::UnknownKey)?;
        let expected = key.access_token(token.user_id, token.nonce);
        if bool::from(expected.tag.ct_eq(&token.tag)) {
            Ok(())
        } else {
            Err(Refusal::Forged)
        }
    }

    /// A new session of the user, under the current key, with a fresh random secret.
    pub fn new_session(&self, user_id: Uuid) -> Result<SessionId, RandomnessUnavailable> {
        Ok(self.session_with_secret(user_id, random_bytes()?))
    }

    /// A session with a chosen secret: only for the fixed local demo, so only under a public
    /// development key (`None` otherwise): a chosen id is a fixation hazard anywhere else.
    pub fn demo_session(&self, user_id: Uuid, secret: [u8; SESSION_SECRET_LEN]) -> Option<SessionId> {
        self.current
            .is_public_dev_key()
            .then(|| self.session_with_secret(user_id, secret))
    }

    fn session_with_secret(&self, user_id: Uuid, secret: [u8; SESSION_SECRET_LEN]) -> SessionId {
        SessionId {
            key_id: self.current.id,
            user_id,
            tag: self.current.session_tag(user_id, &secret),
            secret,
        }
    }

    /// The key that made this session id, if one of ours did (constant time).
    fn session_key(&self, session: &SessionId) -> Result<&TokenKey, Refusal> {
        let key = self.key(session.key_id).ok_or(Refusal::UnknownKey)?;
        let expected = key.session_tag(session.user_id, &session.secret);
        if bool::from(expected.ct_eq(&session.tag)) {
            Ok(key)
        } else {
            Err(Refusal::Forged)
        }
    }

    /// The key under which the session's record is stored (a keyed hash: the table never
    /// holds a usable session id), once the session id is known to be ours.
    pub fn session_lookup(&self, session: &SessionId) -> Result<String, Refusal> {
        let key = self.session_key(session)?;
        let parts: [&[u8]; 2] = [session.user_id.as_bytes(), &session.secret];
        Ok(URL_SAFE_NO_PAD.encode(key.tag("session", &parts)))
    }

    /// The CSRF token bound to this session (the `csrftoken` cookie and `X-CSRFToken` header).
    pub fn csrf_token(&self, session: &SessionId) -> Result<String, Refusal> {
        let key = self.session_key(session)?;
        let parts: [&[u8]; 2] = [session.user_id.as_bytes(), &session.secret];
        Ok(URL_SAFE_NO_PAD.encode(key.tag("csrf", &parts)))
    }
}
