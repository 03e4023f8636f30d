//! CORS for the web app's origins (`ALLOWED_ORIGINS`). Behind a REST API's Lambda proxy
//! integration this is the function's job: "your backend is responsible for returning the
//! Access-Control-Allow-Origin and Access-Control-Allow-Headers headers" (API Gateway
//! developer guide, how-to-cors). Credentials (the session cookie) are allowed, so an origin
//! is echoed only when it is one of the configured ones, never `*`.

use lambda_http::http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, VARY,
};
use lambda_http::http::{HeaderMap, HeaderValue, Method};

/// The request headers a browser may send cross-origin.
const ALLOWED_HEADERS: &str = "Authorization, Content-Type, X-CSRFToken";
/// The response headers browser code may read: the 401 challenge (under the name a REST API
/// renames it to, too: see `testkit::gateway`) and the 503 back-off.
const EXPOSED_HEADERS: &str = "WWW-Authenticate, x-amzn-Remapped-WWW-Authenticate, Retry-After";
/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE: &str = "600";

/// The origins allowed to call the API with credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<String>);

impl AllowedOrigins {
    /// Parses `https://a.example, https://b.example`; `None` if any entry is `*` or not an
    /// origin (`scheme://host[:port]`, no path). Each is kept as a browser serializes it
    /// (RFC 6454: scheme and host in lower case, no trailing `/`), so `https://App.example/`
    /// in a deployment parameter still matches what browsers send.
    pub fn parse(list: &str) -> Option<Self> {
        let origins: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(|origin| origin.strip_suffix('/').unwrap_or(origin).to_ascii_lowercase())
            .collect();
        origins
            .iter()
            .all(|origin| is_origin(origin))
            .then_some(Self(origins))
    }

    fn allows(&self, origin: &HeaderValue) -> bool {
        self.0
            .iter()
            .any(|allowed| allowed.as_bytes() == origin.as_bytes())
    }

    /// Adds the CORS headers to a response for a request from `origin`: the origin is echoed
    /// with credentials allowed if it is one of ours; otherwise any `Access-Control-*` header
    /// is removed, so a browser refuses the response to that page.
    pub fn decorate(&self, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
        // Caches must keep one answer per origin.
        headers.append(VARY, HeaderValue::from_static("Origin"));
        match origin.filter(|origin| self.allows(origin)) {
            Some(origin) => {
                headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
                headers.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
                if !headers.contains_key(ACCESS_CONTROL_ALLOW_METHODS) {
                    headers.insert(
                        ACCESS_CONTROL_EXPOSE_HEADERS,
                        HeaderValue::from_static(EXPOSED_HEADERS),
                    );
                }
            }
            None => {
                for name in [
                    ACCESS_CONTROL_ALLOW_ORIGIN,
                    ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    ACCESS_CONTROL_ALLOW_METHODS,
                    ACCESS_CONTROL_ALLOW_HEADERS,
                    ACCESS_CONTROL_MAX_AGE,
                    ACCESS_CONTROL_EXPOSE_HEADERS,
                ] {
                    headers.remove(name);
                }
            }
        }
    }
}

/// The headers of a preflight answer for an endpoint that serves `method` (the origin is
/// added by [`AllowedOrigins::decorate`], or the whole answer is stripped).
pub fn preflight_headers(method: &Method, headers: &mut HeaderMap) {
    let methods = format!("{method}, OPTIONS");
    if let Ok(methods) = HeaderValue::from_str(&methods) {
        headers.insert(ACCESS_CONTROL_ALLOW_METHODS, methods);
    }
    headers.insert(
        ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOWED_HEADERS),
    );
    headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
}

/// `scheme://host[:port]` with an http(s) scheme and nothing after the authority.
fn is_origin(text: &str) -> bool {
    let Some((scheme, authority)) = text.split_once("://") else {
        return false;
    };
    matches!(scheme, "https" | "http")
        && !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins() -> AllowedOrigins {
        AllowedOrigins::parse("https://app.example.com, http://localhost:5173").unwrap()
    }

    fn decorated(origin: Option<&str>, preflight: bool) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if preflight {
            preflight_headers(&Method::POST, &mut headers);
        }
        let origin = origin.map(|origin| HeaderValue::from_str(origin).unwrap());
        origins().decorate(origin.as_ref(), &mut headers);
        headers
    }

    #[test]
    fn a_configured_origin_is_echoed_with_credentials_and_exposed_headers() {
        let headers = decorated(Some("https://app.example.com"), false);
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example.com");
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(headers[ACCESS_CONTROL_EXPOSE_HEADERS], EXPOSED_HEADERS);
        assert_eq!(headers[VARY], "Origin");
    }

    #[test]
    fn another_origin_or_none_gets_no_cors_headers() {
        for origin in [
            None,
            Some("https://evil.example"),
            Some("https://app.example.com.evil"),
        ] {
            for preflight in [false, true] {
                let headers = decorated(origin, preflight);
                assert!(
                    headers
                        .keys()
                        .all(|name| !name.as_str().starts_with("access-control-")),
                    "{origin:?}: {headers:?}"
                );
                assert_eq!(headers[VARY], "Origin");
            }
        }
    }

    #[test]
    fn a_preflight_names_the_method_headers_and_max_age() {
        let headers = decorated(Some("http://localhost:5173"), true);
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_METHODS], "POST, OPTIONS");
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_HEADERS], ALLOWED_HEADERS);
        assert_eq!(headers[ACCESS_CONTROL_MAX_AGE], "600");
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], "http://localhost:5173");
        assert!(!headers.contains_key(ACCESS_CONTROL_EXPOSE_HEADERS));
    }

    #[test]
    fn wildcards_and_non_origins_are_refused() {
        for bad in [
            "*",
            "https://a.example, *",
            "app.example.com",
            "https://a.example/path",
            "ftp://a",
        ] {
            assert_eq!(AllowedOrigins::parse(bad), None, "{bad}");
        }
        assert_eq!(AllowedOrigins::parse(""), Some(AllowedOrigins::default()));
    }

    #[test]
    fn origins_are_kept_as_browsers_send_them() {
        let origins = AllowedOrigins::parse("https://App.Example.com/, HTTP://localhost:5173").unwrap();
        let mut headers = HeaderMap::new();
        origins.decorate(
            Some(&HeaderValue::from_static("https://app.example.com")),
            &mut headers,
        );
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example.com");
        let mut headers = HeaderMap::new();
        origins.decorate(
            Some(&HeaderValue::from_static("http://localhost:5173")),
            &mut headers,
        );
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], "http://localhost:5173");
    }
}
