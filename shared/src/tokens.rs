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

use crate::responses::Refusal;

/// The prefix of every access token.
pub const ACCESS_TOKEN_PREFIX: &str = "uat_";
/// The prefix of a public development key, which is refused with any store but a local one.
pub const PUBLIC_DEV_KEY_PREFIX: &str = "dev-only-";
/// The shortest server key accepted: as many bytes as the HMAC-SHA256 output.
pub const MIN_KEY_LEN: usize = 32;

const KEY_ID_LEN: usize = 4;
const USER_ID_LEN: usize = 16;
const NONCE_LEN: usize = 16;
const TAG_LEN: usize = 32;
const CHECKSUM_LEN: usize = 4;
const SESSION_SECRET_LEN: usize = 32;
const SESSION_TAG_LEN: usize = 20;
const ACCESS_TOKEN_LEN: usize = KEY_ID_LEN + USER_ID_LEN + NONCE_LEN + TAG_LEN + CHECKSUM_LEN;
const SESSION_ID_LEN: usize = KEY_ID_LEN + USER_ID_LEN + SESSION_SECRET_LEN + SESSION_TAG_LEN;

/// Which key made a token or session: see the module's documentation.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; KEY_ID_LEN]);

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

/// A server secret tokens, session lookups and CSRF tokens are derived with.
#[derive(Clone)]
pub struct TokenKey {
    mac: Hmac<Sha256>,
    id: KeyId,
    public_dev_key: bool,
}

impl TokenKey {
    /// `None` when the key is shorter than [`MIN_KEY_LEN`] bytes.
    pub fn new(secret: &[u8]) -> Option<Self> {
        if secret.len() < MIN_KEY_LEN {
            return None;
        }
        let mac = Hmac::new_from_slice(secret).ok()?;
        let mut key = Self {
            mac,
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
        let mut mac = self.mac.clone();
        for part in std::iter::once(purpose.as_bytes()).chain(parts.iter().copied()) {
            mac.update(&(part.len() as u32).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
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

/// A parsed access token. Parsing checks its shape and checksum; see [`KeyRing::verify`].
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    key_id: KeyId,
    user_id: Uuid,
    nonce: TokenNonce,
    tag: [u8; TAG_LEN],
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

/// The text is not a token of ours (wrong prefix, length, alphabet or checksum).
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed;

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

/// The value of the `sessionid` cookie. Parsing checks only its shape; see
/// [`KeyRing::session_lookup`].
#[derive(Clone, PartialEq, Eq)]
pub struct SessionId {
    key_id: KeyId,
    user_id: Uuid,
    secret: [u8; SESSION_SECRET_LEN],
    tag: [u8; SESSION_TAG_LEN],
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

    fn key(text: &str) -> TokenKey {
        TokenKey::new(text.as_bytes()).unwrap()
    }

    fn keys() -> KeyRing {
        KeyRing::single(key("a test key that is long enough for hmac-sha256"))
    }

    fn token() -> AccessToken {
        keys().access_token(new_user_id().unwrap(), TokenNonce::generate().unwrap())
    }

    #[test]
    fn keys_shorter_than_32_bytes_are_refused() {
        assert!(TokenKey::new(&[7; 31]).is_none());
        assert!(TokenKey::new(&[7; 32]).is_some());
    }

    #[test]
    fn an_access_token_is_uat_and_96_url_safe_characters_and_parses_back() {
        let token = token();
        let text = token.to_string();
        assert_eq!(text.len(), 100);
        assert!(text.starts_with("uat_"));
        assert!(
            text[4..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(text.parse::<AccessToken>(), Ok(token));
    }

    #[test]
    fn a_scanner_can_check_a_token_with_nothing_but_crc32() {
        // What the README tells a scanner to do, written independently of the code above.
        let text = token().to_string();
        let bytes = URL_SAFE_NO_PAD.decode(&text[4..]).unwrap();
        let (body, sum) = bytes.split_at(bytes.len() - 4);
        let mut crc = crc32fast::Hasher::new();
        crc.update(b"uat_");
        crc.update(body);
        assert_eq!(crc.finalize().to_be_bytes(), sum);
    }

    #[test]
    fn a_mistyped_or_truncated_token_fails_its_checksum_without_a_key() {
        let text = token().to_string();
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for position in 4..text.len() {
            let original = text.as_bytes()[position] as char;
            let typo = alphabet.chars().find(|c| *c != original).unwrap();
            let mut mistyped = text.clone();
            mistyped.replace_range(position..position + 1, &typo.to_string());
            assert_eq!(mistyped.parse::<AccessToken>(), Err(Malformed), "{position}");
        }
        for cut in [1, 2, 10, 50] {
            assert_eq!(text[..text.len() - cut].parse::<AccessToken>(), Err(Malformed));
        }
        assert_eq!(text[4..].parse::<AccessToken>(), Err(Malformed), "no prefix");
        assert_eq!(
            format!("ghp_{}", &text[4..]).parse::<AccessToken>(),
            Err(Malformed)
        );
    }

    #[test]
    fn a_token_verifies_only_under_a_key_of_the_ring() {
        let token = token();
        assert_eq!(keys().verify(&token), Ok(()));
        let other = KeyRing::single(key("another key, also long enough for hmac-sha256"));
        assert_eq!(other.verify(&token), Err(Refusal::UnknownKey));
    }

    #[test]
    fn a_rotated_key_still_verifies_and_rebuilds_what_it_made() {
        let old = key("the key before the rotation, 32 bytes or more");
        let new = key("the key after the rotation, 32 bytes or more!!");
        let before = KeyRing::single(old.clone());
        let token = before.access_token(new_user_id().unwrap(), TokenNonce::generate().unwrap());
        let after = KeyRing::new(new.clone(), Some(old.clone())).unwrap();
        assert_eq!(after.verify(&token), Ok(()));
        assert_eq!(
            after.rebuild(token.key_id(), token.user_id(), token.nonce()),
            Some(token.clone())
        );
        let fresh = after.access_token(token.user_id(), TokenNonce::generate().unwrap());
        assert_eq!(fresh.key_id(), new.id());
        // Retired: the old key's tokens are unknown, and cannot be rebuilt.
        let retired = KeyRing::single(new);
        assert_eq!(retired.verify(&token), Err(Refusal::UnknownKey));
        assert_eq!(
            retired.rebuild(token.key_id(), token.user_id(), token.nonce()),
            None
        );
        assert!(
            KeyRing::new(old.clone(), Some(old)).is_none(),
            "a key cannot be its own predecessor"
        );
    }

    #[test]
    fn a_token_with_any_part_swapped_does_not_verify() {
        let keys = keys();
        let token = token();
        let mut forged = token.clone();
        forged.user_id = new_user_id().unwrap();
        assert_eq!(keys.verify(&forged), Err(Refusal::Forged));
        let mut forged = token;
        forged.nonce = TokenNonce::generate().unwrap();
        assert_eq!(keys.verify(&forged), Err(Refusal::Forged));
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
            good.replace(|c: char| c.is_ascii_alphabetic(), "+"),
            format!("uat_{}", "é".repeat(48)),
            "A".repeat(10_000),
        ] {
            assert_eq!(bad.parse::<AccessToken>(), Err(Malformed), "{bad:?}");
        }
    }

    #[test]
    fn a_session_id_is_96_characters_parses_back_and_is_checked_by_its_tag() {
        let keys = keys();
        let session = keys.new_session(new_user_id().unwrap()).unwrap();
        let text = session.to_string();
        assert_eq!(text.len(), 96);
        assert_eq!(text.parse::<SessionId>(), Ok(session.clone()));
        assert_ne!(keys.session_lookup(&session), keys.csrf_token(&session));
        assert_ne!(keys.csrf_token(&session).unwrap(), text);
        let mut forged = session.clone();
        forged.secret = [7; SESSION_SECRET_LEN];
        assert_eq!(keys.session_lookup(&forged), Err(Refusal::Forged));
        assert_eq!(keys.csrf_token(&forged), Err(Refusal::Forged));
        let stranger = KeyRing::single(key("another key, also long enough for hmac-sha256"));
        assert_eq!(stranger.session_lookup(&session), Err(Refusal::UnknownKey));
    }

    #[test]
    fn only_a_public_dev_key_may_open_a_chosen_session() {
        let user = new_user_id().unwrap();
        assert!(keys().demo_session(user, [1; 32]).is_none());
        let dev = KeyRing::single(key("dev-only-insecure-token-key-do-not-deploy"));
        assert!(dev.current().is_public_dev_key());
        let session = dev.demo_session(user, [1; 32]).unwrap();
        assert!(dev.session_lookup(&session).is_ok());
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let keys = keys();
        let token = token();
        let printed = format!("{token:?} {:?} {:?}", token.nonce(), keys);
        assert!(!printed.contains(&token.to_string()));
        assert!(printed.contains("redacted"));
        let session = keys.new_session(token.user_id()).unwrap();
        assert!(!format!("{session:?}").contains(&session.to_string()));
    }

    #[test]
    fn new_user_ids_are_version_4_uuids() {
        assert_eq!(new_user_id().unwrap().get_version_num(), 4);
    }
}
