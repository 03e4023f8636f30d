//! `GET /`: the account page. Plain HTML with its CSS and JavaScript inline (served from the
//! same API, so the session cookie is first-party and no CORS is involved), under a
//! Content-Security-Policy that allows exactly those two inline blocks (by their SHA-256)
//! and calls to this origin: no third-party asset, no framing, no other script.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lambda_http::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use ring::digest::{SHA256, digest};

use super::responses::route_not_found;

const HTML: &str = include_str!("page/account.html");
const STYLE: &str = include_str!("page/account.css");
const SCRIPT: &str = include_str!("page/account.js");

struct Page {
    html: String,
    policy: String,
}

fn page() -> &'static Page {
    static PAGE: OnceLock<Page> = OnceLock::new();
    PAGE.get_or_init(|| {
        let hash = |text: &str| STANDARD.encode(digest(&SHA256, text.as_bytes()));
        Page {
            html: HTML.replace("/*STYLE*/", STYLE).replace("/*SCRIPT*/", SCRIPT),
            policy: format!(
                "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; connect-src 'self'; \
                 img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
                hash(SCRIPT),
                hash(STYLE)
            ),
        }
    })
}

/// The page for `GET` (and `HEAD`); API Gateway's 404 for anything else.
pub async fn account_page(request: Request) -> Response<Body> {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return route_not_found();
    }
    let page = page();
    let mut response = Response::new(Body::Text(page.html.clone()));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(policy) = HeaderValue::from_str(&page.policy) {
        headers.insert("content-security-policy", policy);
    }
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_page_allows_only_its_own_inline_code_and_no_framing() {
        let response = account_page(Request::default()).await;
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        assert_eq!(headers[CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(headers["x-frame-options"], "DENY");
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(
            policy.starts_with("default-src 'none'; script-src 'sha256-"),
            "{policy}"
        );
        assert!(
            policy.contains("frame-ancestors 'none'") && !policy.contains("unsafe"),
            "{policy}"
        );
        let Body::Text(html) = response.body() else {
            panic!("an HTML body")
        };
        // Exactly one script and one style block, the ones the policy hashes.
        assert_eq!(html.matches("<script>").count(), 1);
        assert_eq!(html.matches("<style>").count(), 1);
        assert!(html.contains(SCRIPT) && html.contains(STYLE));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no third-party assets"
        );
    }

    #[tokio::test]
    async fn other_methods_get_the_gateways_404() {
        let mut request = Request::default();
        *request.method_mut() = Method::POST;
        assert_eq!(account_page(request).await.status(), 404);
    }
}
