//! Property tests of everything that parses untrusted input: access tokens, session ids,
//! the Authorization header, cookies and the CSRF pair. No input panics, and
//! parse(format(x)) == x.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::http::{HeaderName, HeaderValue};
use lambda_http::{Body, Request};
use proptest::prelude::*;
use shared::clock::Timestamp;
use shared::http::credentials;
use shared::tokens::Credential;
use shared::tokens::{AccessToken, KeyRing, SessionId, TokenKey, TokenNonce};
use uuid::Uuid;

fn keys() -> KeyRing {
    KeyRing::single(TokenKey::new(b"property-test key, at least 32 bytes long").unwrap())
}

/// The text of 72 bytes as an access token: `uat_`, base64url, the CRC-32 made right.
fn token_text(mut bytes: Vec<u8>) -> String {
    let mut crc = crc32fast::Hasher::new();
    crc.update(b"uat_");
    crc.update(&bytes[..68]);
    bytes[68..].copy_from_slice(&crc.finalize().to_be_bytes());
    format!("uat_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A request with these raw header values (any bytes a header may hold).
fn request(headers: &[(&'static str, Vec<u8>)]) -> Option<Request> {
    let mut request = Request::new(Body::Empty);
    for (name, value) in headers {
        let value = HeaderValue::from_bytes(value).ok()?;
        request.headers_mut().append(HeaderName::from_static(name), value);
    }
    Some(request)
}

/// Bytes a header value may hold: visible ASCII, spaces, tabs and obs-text (0x80-0xFF).
fn header_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![0x20u8..0x7f, Just(b'\t'), 0x80u8..=0xff], 0..max)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_text_either_is_a_canonical_token_or_is_refused(text in "\\PC{0,120}") {
        if let Ok(token) = text.parse::<AccessToken>() {
            prop_assert_eq!(token.to_string(), text.clone());
        }
        if let Ok(session) = text.parse::<SessionId>() {
            prop_assert_eq!(session.to_string(), text);
        }
    }

    #[test]
    fn any_72_bytes_with_their_checksum_make_a_token_that_parses_back(bytes in prop::collection::vec(any::<u8>(), 72)) {
        let text = token_text(bytes);
        let token: AccessToken = text.parse().unwrap();
        prop_assert_eq!(token.to_string(), text.clone());
        prop_assert_eq!(token.to_string().parse::<AccessToken>().unwrap(), token);
    }

    #[test]
    fn a_token_whose_checksum_is_wrong_never_parses(bytes in prop::collection::vec(any::<u8>(), 72), flip in 0usize..72 * 8) {
        let text = token_text(bytes);
        let mut raw = URL_SAFE_NO_PAD.decode(&text[4..]).unwrap();
        raw[flip / 8] ^= 1 << (flip % 8);
        let damaged = format!("uat_{}", URL_SAFE_NO_PAD.encode(raw));
        prop_assert!(damaged.parse::<AccessToken>().is_err());
    }

    #[test]
    fn any_72_bytes_make_a_session_id_that_parses_back(bytes in prop::collection::vec(any::<u8>(), 72)) {
        let text = URL_SAFE_NO_PAD.encode(&bytes);
        let session: SessionId = text.parse().unwrap();
        prop_assert_eq!(session.to_string(), text);
    }

    #[test]
    fn tokens_made_by_the_key_parse_back_and_stay_signed(id in any::<u128>(), nonce in any::<[u8; 16]>()) {
        let keys = keys();
        let token = keys.access_token(Uuid::from_u128(id), TokenNonce::from_bytes(&nonce).unwrap());
        let parsed: AccessToken = token.to_string().parse().unwrap();
        prop_assert_eq!(keys.verify(&parsed), Ok(()));
        prop_assert_eq!(parsed, token);
    }

    #[test]
    fn the_bearer_header_is_read_whatever_the_scheme_case_and_spacing(
        id in any::<u128>(),
        nonce in any::<[u8; 16]>(),
        scheme in "[bB][eE][aA][rR][eE][rR]",
        gap in "[ \t]{1,4}",
        trailing in "[ \t]{0,3}",
    ) {
        let token = keys().access_token(Uuid::from_u128(id), TokenNonce::from_bytes(&nonce).unwrap());
        let value = format!("{scheme}{gap}{token}{trailing}").into_bytes();
        let request = request(&[("authorization", value)]).unwrap();
        prop_assert_eq!(credentials::bearer_token(&request).ok(), Some(token));
    }

    #[test]
    fn no_header_value_makes_the_parsers_panic(
        authorization in prop::option::of(header_bytes(300)),
        cookie in prop::option::of(header_bytes(300)),
        csrf in prop::option::of(header_bytes(100)),
    ) {
        let mut headers = Vec::new();
        headers.extend(authorization.map(|value| ("authorization", value)));
        headers.extend(cookie.map(|value| ("cookie", value)));
        headers.extend(csrf.map(|value| ("x-csrftoken", value)));
        if let Some(request) = request(&headers) {
            let _ = credentials::bearer_token(&request);
            if let Ok(Credential::Session(session)) = credentials::bearer_or_session(&request)
                && let Ok(expected) = keys().csrf_token(&session)
            {
                let _ = credentials::check_csrf(&request, &expected);
            }
        }
    }

    #[test]
    fn the_first_session_cookie_wins_among_any_others(
        id in any::<u128>(),
        before in prop::collection::vec("[a-z]{1,8}=[A-Za-z0-9]{0,12}", 0..4),
        after in prop::collection::vec("[a-z]{1,8}=[A-Za-z0-9]{0,12}", 0..4),
    ) {
        let session = keys().new_session(Uuid::from_u128(id)).unwrap();
        let before: Vec<String> = before.into_iter().filter(|c| !c.starts_with("sessionid=")).collect();
        let mut cookies = before;
        cookies.push(format!("sessionid={session}"));
        cookies.extend(after);
        cookies.push("sessionid=a-later-duplicate".to_string());
        let request = request(&[("cookie", cookies.join("; ").into_bytes())]).unwrap();
        match credentials::bearer_or_session(&request) {
            Ok(Credential::Session(found)) => prop_assert_eq!(found, session),
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn no_bytes_in_other_cookies_hide_the_session(
        id in any::<u128>(),
        before in prop::collection::vec(cookie_bytes(), 0..4),
        after in prop::collection::vec(cookie_bytes(), 0..4),
        separator in prop_oneof![Just(&b"; "[..]), Just(&b";"[..])],
    ) {
        let session = keys().new_session(Uuid::from_u128(id)).unwrap();
        let mut cookies: Vec<Vec<u8>> = before;
        cookies.push(format!("sessionid={session}").into_bytes());
        cookies.extend(after);
        let header = cookies.join(separator);
        let request = request(&[("cookie", header)]).unwrap();
        match credentials::bearer_or_session(&request) {
            Ok(Credential::Session(found)) => prop_assert_eq!(found, session),
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn any_stored_seconds_either_print_or_are_refused(seconds in any::<i64>(), ttl in any::<u64>()) {
        match Timestamp::from_epoch_seconds(seconds) {
            Some(instant) => {
                prop_assert_eq!(instant.to_string().len(), 20);
                let later = instant.saturating_add(std::time::Duration::from_secs(ttl));
                prop_assert!(later >= instant && later <= Timestamp::MAX);
                prop_assert_eq!(later.to_string().len(), 20);
            }
            None => prop_assert!(seconds < Timestamp::MIN.epoch_seconds() || seconds > Timestamp::MAX.epoch_seconds()),
        }
    }
}

/// Another application's cookie: any bytes a header may hold but `;`, and never our name.
fn cookie_bytes() -> impl Strategy<Value = Vec<u8>> {
    header_bytes(40).prop_filter("not a cookie of ours", |bytes| {
        !bytes.contains(&b';') && !bytes.trim_ascii_start().starts_with(b"sessionid")
    })
}
