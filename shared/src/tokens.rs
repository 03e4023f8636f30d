//! Access tokens, session ids and CSRF tokens: how they are made, written and checked.
//!
//! An access token is `base64url(user id ‖ nonce ‖ HMAC-SHA256(key, "access-token" ‖ user id ‖ nonce))`.
//! - the user id lets one `GetItem` find the user (no index, strongly consistent);
//! - the nonce (128 bits from the OS CSPRNG) is stored on the user item, and a regenerate
//!   replaces it with a conditional write: the old token dies with it;
//! - the tag can only be made with the server key, so a copy of the table alone yields no
//!   usable token, while the service can still rebuild the current token for `GET .../token/`.
//!
//! A session id is `base64url(user id ‖ 256-bit secret)`; the table keeps only a keyed hash of
//! the secret, and the CSRF token is another keyed hash of it (bound to the session, nothing stored).

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use rand::TryRng;
use rand::rngs::SysRng;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use uuid::Uuid;

const USER_ID_LEN: usize = 16;
const NONCE_LEN: usize = 16;
const TAG_LEN: usize = 32;
const SESSION_SECRET_LEN: usize = 32;
const ACCESS_TOKEN_LEN: usize = USER_ID_LEN + NONCE_LEN + TAG_LEN;
const SESSION_ID_LEN: usize = USER_ID_LEN + SESSION_SECRET_LEN;

/// The shortest server key accepted: as many bytes as the HMAC-SHA256 output.
pub const MIN_KEY_LEN: usize = 32;

/// The server secret every token, session lookup and CSRF token is derived with.
#[derive(Clone)]
pub struct TokenKey(Hmac<Sha256>);

impl TokenKey {
    /// `None` when the key is shorter than [`MIN_KEY_LEN`] bytes.
    pub fn new(key: &[u8]) -> Option<Self> {
        if key.len() < MIN_KEY_LEN {
            return None;
        }
        Hmac::new_from_slice(key).ok().map(Self)
    }

    /// HMAC over length-prefixed parts, under a purpose label, so that no two
    /// derivations (token, session lookup, CSRF) can ever produce the same input.
    fn tag(&self, purpose: &str, parts: &[&[u8]]) -> [u8; TAG_LEN] {
        let mut mac = self.0.clone();
        for part in std::iter::once(purpose.as_bytes()).chain(parts.iter().copied()) {
            mac.update(&(part.len() as u32).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The access token for this user and nonce.
    pub fn access_token(&self, user_id: Uuid, nonce: TokenNonce) -> AccessToken {
        let tag = self.tag("access-token", &[user_id.as_bytes(), &nonce.0]);
        AccessToken { user_id, nonce, tag }
    }

    /// Whether the token was made with this key (constant time). This says nothing of
    /// whether it is still the user's current token: only the store knows that.
    pub fn signed(&self, token: &AccessToken) -> bool {
        let expected = self.tag("access-token", &[token.user_id.as_bytes(), &token.nonce.0]);
        bool::from(expected.ct_eq(&token.tag))
    }

    /// The key under which the session's record is stored: a keyed hash, so the
    /// table never holds a usable session id.
    pub fn session_lookup(&self, session: &SessionId) -> String {
        URL_SAFE_NO_PAD.encode(self.tag("session", &[session.user_id.as_bytes(), &session.secret]))
    }

    /// The CSRF token bound to this session (the `csrftoken` cookie and `X-CSRFToken` header).
    pub fn csrf_token(&self, session: &SessionId) -> String {
        URL_SAFE_NO_PAD.encode(self.tag("csrf", &[session.user_id.as_bytes(), &session.secret]))
    }
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(<redacted>)")
    }
}

/// The random part of an access token, stored on the user item.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenNonce([u8; NONCE_LEN]);

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

fn random_bytes<const N: usize>() -> Result<[u8; N], RandomnessUnavailable> {
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

/// A parsed access token. Parsing checks only its shape; see [`TokenKey::signed`].
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    user_id: Uuid,
    nonce: TokenNonce,
    tag: [u8; TAG_LEN],
}

impl AccessToken {
    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    pub fn nonce(&self) -> TokenNonce {
        self.nonce
    }
}

impl fmt::Display for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encode(&[self.user_id.as_bytes(), &self.nonce.0, &self.tag]))
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessToken(user {}, <redacted>)", self.user_id)
    }
}

/// The text is not a token of ours (wrong length, alphabet or padding).
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed;

impl FromStr for AccessToken {
    type Err = Malformed;

    fn from_str(text: &str) -> Result<Self, Malformed> {
        let bytes: [u8; ACCESS_TOKEN_LEN] = decode_exact(text)?;
        let (user_id, rest) = bytes.split_at(USER_ID_LEN);
        let (nonce, tag) = rest.split_at(NONCE_LEN);
        Ok(Self {
            user_id: Uuid::from_slice(user_id).map_err(|_| Malformed)?,
            nonce: TokenNonce::from_bytes(nonce).ok_or(Malformed)?,
            tag: tag.try_into().map_err(|_| Malformed)?,
        })
    }
}

/// The value of the `sessionid` cookie.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId {
    user_id: Uuid,
    secret: [u8; SESSION_SECRET_LEN],
}

impl SessionId {
    pub fn generate(user_id: Uuid) -> Result<Self, RandomnessUnavailable> {
        Ok(Self::from_parts(user_id, random_bytes()?))
    }

    /// A session id with a chosen secret: only for the local demo (`usersctl seed-demo`).
    pub fn from_parts(user_id: Uuid, secret: [u8; SESSION_SECRET_LEN]) -> Self {
        Self { user_id, secret }
    }

    pub fn user_id(&self) -> Uuid {
        self.user_id
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encode(&[self.user_id.as_bytes(), &self.secret]))
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId(user {}, <redacted>)", self.user_id)
    }
}

impl FromStr for SessionId {
    type Err = Malformed;

    fn from_str(text: &str) -> Result<Self, Malformed> {
        let bytes: [u8; SESSION_ID_LEN] = decode_exact(text)?;
        let (user_id, secret) = bytes.split_at(USER_ID_LEN);
        Ok(Self {
            user_id: Uuid::from_slice(user_id).map_err(|_| Malformed)?,
            secret: secret.try_into().map_err(|_| Malformed)?,
        })
    }
}

/// Unpadded base64url of the parts laid end to end: the text form of tokens and session ids.
fn encode(parts: &[&[u8]]) -> String {
    URL_SAFE_NO_PAD.encode(parts.concat())
}

/// Decodes unpadded base64url of exactly `N` bytes; the length is checked before any
/// decoding, so a 10 KB header costs nothing.
fn decode_exact<const N: usize>(text: &str) -> Result<[u8; N], Malformed> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> TokenKey {
        TokenKey::new(b"a test key that is long enough for hmac-sha256").unwrap()
    }

    fn token() -> AccessToken {
        key().access_token(new_user_id().unwrap(), TokenNonce::generate().unwrap())
    }

    #[test]
    fn keys_shorter_than_32_bytes_are_refused() {
        assert!(TokenKey::new(&[7; 31]).is_none());
        assert!(TokenKey::new(&[7; 32]).is_some());
    }

    #[test]
    fn an_access_token_is_86_url_safe_characters_and_parses_back() {
        let token = token();
        let text = token.to_string();
        assert_eq!(text.len(), 86);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(text.parse::<AccessToken>(), Ok(token));
    }

    #[test]
    fn a_token_is_signed_only_under_the_key_that_made_it() {
        let token = token();
        assert!(key().signed(&token));
        let other = TokenKey::new(b"another key, also long enough for hmac-sha256").unwrap();
        assert!(!other.signed(&token));
    }

    #[test]
    fn a_token_with_its_user_part_swapped_is_not_signed() {
        let token = token();
        let mut forged = token.clone();
        forged.user_id = new_user_id().unwrap();
        assert!(!key().signed(&forged));
    }

    #[test]
    fn two_tokens_never_repeat() {
        assert_ne!(token().to_string(), token().to_string());
    }

    #[test]
    fn malformed_texts_are_refused() {
        let good = token().to_string();
        for bad in [
            String::new(),
            good[1..].to_string(),
            format!("{good}A"),
            format!("{}=", &good[..85]),
            good.replace(|c: char| c.is_ascii_alphabetic(), "+"),
            "é".repeat(43),
            "A".repeat(10_000),
        ] {
            assert_eq!(bad.parse::<AccessToken>(), Err(Malformed), "{bad:?}");
        }
    }

    #[test]
    fn non_canonical_base64_is_refused() {
        // The last character of an 86-character encoding of 64 bytes carries 2 padding bits.
        let good = token().to_string();
        let last = good.as_bytes()[85];
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let index = alphabet.iter().position(|&c| c == last).unwrap();
        let sibling = alphabet[index ^ 1] as char;
        let tampered = format!("{}{sibling}", &good[..85]);
        assert_eq!(tampered.parse::<AccessToken>(), Err(Malformed));
    }

    #[test]
    fn a_session_id_parses_back_and_derives_distinct_values() {
        let session = SessionId::generate(new_user_id().unwrap()).unwrap();
        let text = session.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<SessionId>(), Ok(session.clone()));
        let key = key();
        assert_ne!(key.session_lookup(&session), key.csrf_token(&session));
        assert_ne!(key.csrf_token(&session), text);
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let token = token();
        let printed = format!("{token:?} {:?} {:?}", token.nonce(), key());
        assert!(!printed.contains(&token.to_string()));
        assert!(printed.contains("redacted"));
        let session = SessionId::generate(token.user_id()).unwrap();
        assert!(!format!("{session:?}").contains(&session.to_string()));
    }

    #[test]
    fn new_user_ids_are_version_4_uuids() {
        assert_eq!(new_user_id().unwrap().get_version_num(), 4);
    }
}
