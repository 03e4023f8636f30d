//! Reading credentials off a request: the `Authorization: Bearer` header, the `sessionid`
//! cookie, and the CSRF pair (`csrftoken` cookie + `X-CSRFToken` header) that a
//! session-authenticated POST must carry. Nothing here touches the store.

use lambda_http::Request;
use lambda_http::http::header::{AUTHORIZATION, COOKIE};
use subtle::ConstantTimeEq;

use super::responses::Failure;
use crate::tokens::{AccessToken, Credential, Refusal};

pub const SESSION_COOKIE: &str = "sessionid";
pub const CSRF_COOKIE: &str = "csrftoken";
pub const CSRF_HEADER: &str = "x-csrftoken";

/// What the `Authorization` header holds.
enum Authorization {
    Absent,
    /// Another scheme (e.g. `Basic`): not ours to judge, as DRF's TokenAuthentication does.
    OtherScheme,
    Bearer(Result<AccessToken, Failure>),
}

fn authorization(request: &Request) -> Authorization {
    let mut values = request.headers().get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Authorization::Absent;
    };
    let malformed = || Authorization::Bearer(Err(Failure::InvalidToken(Refusal::Malformed)));
    if values.next().is_some() {
        // Two Authorization headers: which one the client meant is anyone's guess.
        return malformed();
    }
    let Ok(value) = value.to_str() else {
        return malformed();
    };
    let mut parts = value.split_ascii_whitespace();
    match parts.next() {
        None => Authorization::Absent,
        Some(scheme) if !scheme.eq_ignore_ascii_case("bearer") => Authorization::OtherScheme,
        Some(_) => match (parts.next(), parts.next()) {
            (Some(token), None) => match token.parse() {
                Ok(token) => Authorization::Bearer(Ok(token)),
                Err(_) => malformed(),
            },
            // `Bearer` alone, or with extra parts.
            _ => malformed(),
        },
    }
}

/// The bearer token, for endpoints that accept nothing else.
pub fn bearer_token(request: &Request) -> Result<AccessToken, Failure> {
    match authorization(request) {
        Authorization::Bearer(token) => token,
        Authorization::Absent | Authorization::OtherScheme => {
            Err(Failure::NotAuthenticated(Refusal::Missing))
        }
    }
}

/// The bearer token if there is one (it wins over a session), else the session cookie.
pub fn bearer_or_session(request: &Request) -> Result<Credential, Failure> {
    match authorization(request) {
        Authorization::Bearer(token) => token.map(Credential::Bearer),
        Authorization::Absent | Authorization::OtherScheme => match cookie(request, SESSION_COOKIE) {
            None => Err(Failure::NotAuthenticated(Refusal::Missing)),
            Some(value) => value
                .parse()
                .map(Credential::Session)
                .map_err(|_| Failure::NotAuthenticated(Refusal::Malformed)),
        },
    }
}

/// Django's CSRF rule for a session-authenticated unsafe request: the `csrftoken` cookie
/// must be `expected`, the token bound to this session (`App::csrf_token`), and the
/// `X-CSRFToken` header must repeat it. A cross-site attacker can make the browser send the
/// cookies but cannot read them to set the header.
pub fn check_csrf(request: &Request, expected: &str) -> Result<(), Failure> {
    let cookie = cookie(request, CSRF_COOKIE).ok_or(Failure::CsrfFailed("CSRF cookie not set."))?;
    let header = request
        .headers()
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok())
        .ok_or(Failure::CsrfFailed("CSRF token missing."))?;
    if !bool::from(header.as_bytes().ct_eq(cookie.as_bytes())) {
        return Err(Failure::CsrfFailed(
            "CSRF token from the 'X-Csrftoken' HTTP header incorrect.",
        ));
    }
    if !bool::from(cookie.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(Failure::CsrfFailed("CSRF token incorrect."));
    }
    Ok(())
}

/// The first value of the named cookie (RFC 6265 lists the most specific path first).
/// Read as bytes: API Gateway hands over every cookie of the domain in one `Cookie` header,
/// so a non-ASCII byte in another application's cookie must not hide ours. A value that is
/// not UTF-8 is no value of ours.
fn cookie<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request
        .headers()
        .get_all(COOKIE)
        .iter()
        .flat_map(|header| header.as_bytes().split(|&byte| byte == b';'))
        .filter_map(|pair| {
            let equals = pair.iter().position(|&byte| byte == b'=')?;
            Some((pair[..equals].trim_ascii(), pair[equals + 1..].trim_ascii()))
        })
        .find(|(cookie_name, _)| *cookie_name == name.as_bytes())
        .and_then(|(_, value)| std::str::from_utf8(value).ok())
        .map(|value| value.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::{KeyRing, SessionId, TokenNonce, new_user_id};
    use lambda_http::Body;
    use lambda_http::http::HeaderValue;

    fn keys() -> KeyRing {
        KeyRing::single(crate::tokens::TokenKey::new(&[9; 32]).unwrap())
    }

    fn token() -> AccessToken {
        keys().access_token(new_user_id().unwrap(), TokenNonce::generate().unwrap())
    }

    fn session() -> SessionId {
        keys().new_session(new_user_id().unwrap()).unwrap()
    }

    fn request(headers: &[(&str, &[u8])]) -> Request {
        let mut request = Request::new(Body::Empty);
        for (name, value) in headers {
            let name: lambda_http::http::HeaderName = name.parse().unwrap();
            request
                .headers_mut()
                .append(name, HeaderValue::from_bytes(value).unwrap());
        }
        request
    }

    fn with_authorization(value: &str) -> Request {
        request(&[("authorization", value.as_bytes())])
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let token = token();
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let parsed = bearer_token(&with_authorization(&format!("{scheme} {token}"))).unwrap();
            assert_eq!(parsed, token);
        }
    }

    #[test]
    fn no_header_or_another_scheme_is_not_authenticated() {
        assert!(matches!(
            bearer_token(&request(&[])),
            Err(Failure::NotAuthenticated(_))
        ));
        assert!(matches!(
            bearer_token(&with_authorization("")),
            Err(Failure::NotAuthenticated(_))
        ));
        assert!(matches!(
            bearer_token(&with_authorization("Basic dXNlcjpwYXNz")),
            Err(Failure::NotAuthenticated(_))
        ));
    }

    #[test]
    fn malformed_bearer_credentials_are_invalid_tokens() {
        let token = token().to_string();
        let long = "A".repeat(10 * 1024);
        for value in [
            "Bearer".to_string(),
            "Bearer ".to_string(),
            format!("Bearer {token} extra"),
            format!("Bearer {long}"),
            "Bearer not-a-token".to_string(),
            format!("Bearer {}", &token[..40]),
        ] {
            assert!(
                matches!(
                    bearer_token(&with_authorization(&value)),
                    Err(Failure::InvalidToken(_))
                ),
                "{value}"
            );
        }
        let non_ascii = request(&[("authorization", "Bearer é".as_bytes())]);
        assert!(matches!(bearer_token(&non_ascii), Err(Failure::InvalidToken(_))));
        let twice = request(&[
            ("authorization", format!("Bearer {token}").as_bytes()),
            ("authorization", b"Bearer x"),
        ]);
        assert!(matches!(bearer_token(&twice), Err(Failure::InvalidToken(_))));
        // API Gateway delivers repeated headers joined with commas.
        let joined = with_authorization(&format!("Bearer {token},Bearer {token}"));
        assert!(matches!(bearer_token(&joined), Err(Failure::InvalidToken(_))));
    }

    #[test]
    fn bearer_wins_over_the_session_cookie() {
        let token = token();
        let session = keys().new_session(token.user_id()).unwrap();
        let both = request(&[
            ("authorization", format!("Bearer {token}").as_bytes()),
            ("cookie", format!("sessionid={session}").as_bytes()),
        ]);
        assert!(matches!(bearer_or_session(&both), Ok(Credential::Bearer(t)) if t == token));
        let broken_bearer = request(&[
            ("authorization", b"Bearer broken"),
            ("cookie", format!("sessionid={session}").as_bytes()),
        ]);
        assert!(matches!(
            bearer_or_session(&broken_bearer),
            Err(Failure::InvalidToken(_))
        ));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let session = session();
        let cookies = format!("theme=dark; sessionid={session}; csrftoken=abc");
        let found = bearer_or_session(&request(&[("cookie", cookies.as_bytes())]));
        assert!(matches!(found, Ok(Credential::Session(s)) if s == session));
        let split = request(&[
            ("cookie", b"theme=dark"),
            ("cookie", format!("sessionid={session}").as_bytes()),
        ]);
        assert!(matches!(bearer_or_session(&split), Ok(Credential::Session(_))));
    }

    #[test]
    fn a_non_ascii_byte_in_another_cookie_does_not_hide_the_session() {
        let session = session();
        // Another application on the domain, as UTF-8 and as a stray Latin-1 byte, before and after.
        for others in [&b"name=Jos\xc3\xa9"[..], b"pref=caf\xe9", b"\xff\xfe=\x80"] {
            let mut before = others.to_vec();
            before.extend_from_slice(format!("; sessionid={session}").as_bytes());
            let mut after = format!("sessionid={session};").into_bytes();
            after.extend_from_slice(others);
            // lambda_http joins payload-2.0 cookies with ";" and no space.
            let mut joined = others.to_vec();
            joined.extend_from_slice(format!(";sessionid={session}").as_bytes());
            for cookies in [before, after, joined] {
                let found = bearer_or_session(&request(&[("cookie", &cookies)]));
                assert!(
                    matches!(&found, Ok(Credential::Session(s)) if *s == session),
                    "{:?}: {found:?}",
                    String::from_utf8_lossy(&cookies)
                );
            }
        }
    }

    #[test]
    fn bad_session_cookies_are_not_authenticated() {
        for cookies in [
            &b"sessionid="[..],
            b"sessionid=garbage",
            b"session=x",
            b"sessionid=\xff\xfe",
        ] {
            assert!(
                matches!(
                    bearer_or_session(&request(&[("cookie", cookies)])),
                    Err(Failure::NotAuthenticated(_))
                ),
                "{cookies:?}"
            );
        }
    }

    #[test]
    fn csrf_needs_the_cookie_and_a_matching_header_bound_to_the_session() {
        let key = keys();
        let session = session();
        let csrf = key.csrf_token(&session).unwrap();
        let cookie = format!("sessionid={session}; csrftoken={csrf}");
        let reason = |headers: &[(&str, &[u8])]| match check_csrf(&request(headers), &csrf) {
            Ok(()) => "ok",
            Err(Failure::CsrfFailed(reason)) => reason,
            Err(other) => panic!("{other:?}"),
        };
        assert_eq!(
            reason(&[("cookie", cookie.as_bytes()), ("x-csrftoken", csrf.as_bytes())]),
            "ok"
        );
        assert_eq!(
            reason(&[("x-csrftoken", csrf.as_bytes())]),
            "CSRF cookie not set."
        );
        assert_eq!(reason(&[("cookie", cookie.as_bytes())]), "CSRF token missing.");
        assert_eq!(
            reason(&[("cookie", cookie.as_bytes()), ("x-csrftoken", b"other")]),
            "CSRF token from the 'X-Csrftoken' HTTP header incorrect."
        );
        let other_session = keys().new_session(new_user_id().unwrap()).unwrap();
        let foreign = key.csrf_token(&other_session).unwrap();
        let foreign_cookie = format!("csrftoken={foreign}");
        assert_eq!(
            reason(&[
                ("cookie", foreign_cookie.as_bytes()),
                ("x-csrftoken", foreign.as_bytes())
            ]),
            "CSRF token incorrect."
        );
    }
}
