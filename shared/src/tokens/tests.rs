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
fn tags_are_hmac_sha256_of_the_length_prefixed_parts() {
    // Computed apart (Python's hmac and hashlib): tokens issued before a change of HMAC
    // implementation must still verify after it.
    assert_eq!(keys().current().id().0, [0x7e, 0xe6, 0x43, 0xa4]);
    let user_id = uuid::Uuid::from_bytes(std::array::from_fn(|i| i as u8));
    let nonce = TokenNonce(std::array::from_fn(|i| 100 + i as u8));
    let expected = "2f68a35e219e9bc332c90ad8aef3b2b1b0015adbd5d42685399ce5e14d2afb41";
    let tag: String = keys()
        .access_token(user_id, nonce)
        .tag
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(tag, expected);
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
