//! Every response the service sends, in the format of its API family.
//!
//! | status | v1 (`/api/users/me/...`) `detail` | v3 (`/api/v3/...`) `errno`, `error` | when |
//! |---|---|---|---|
//! | 200 | the resource | `0`, `null` (resource in `data`) | success |
//! | 204 | (no body) | (no body) | a CORS preflight (`OPTIONS`) |
//! | 401 | `Not authenticated` | `-100000`, `Invalid or expired token` | no credential, or a wrong, expired or revoked one |
//! | 401 | `Access token expired; regenerate it.` | | `GET .../token/` through a valid session whose token has expired, or was made under a retired key |
//! | 400 | what is wrong with the body | (not used) | a login without a JSON or form body holding `email` and `password` |
//! | 401 | `Invalid email or password.` | (not used) | a login with a wrong password or an unknown email (the same answer, in about the same time) |
//! | 429 | `Too many failed sign-in attempts; try again later.` | (not used) | a login for an account locked by failed attempts; `Retry-After` says when it opens |
//! | 403 | `CSRF Failed: <reason>` | (not used) | session-authenticated POST without a matching CSRF token |
//! | 409 | `Token regeneration conflicted with another request; try again.` | (not used) | two regenerations through one session at the same instant |
//! | 500 | `A server error occurred.` | `-200000`, `Internal server error` | misconfiguration or a damaged record |
//! | 503 | `Service temporarily unavailable, try again later.` | `-200001`, `Service temporarily unavailable` | DynamoDB unreachable, timing out or throttling |
//!
//! A method or path the API does not serve is `404 {"message":"Not Found"}` in both
//! families: API Gateway's own answer, which the deployed stack gives before any function
//! runs; the handlers give the same one (for direct invokes and the local router).
//!
//! Every 401 carries `WWW-Authenticate: Bearer`, with `error="invalid_token"` when a bearer
//! token was presented but refused (RFC 6750). Every response is `application/json` and
//! `Cache-Control: no-store` (they hold tokens and personal data).

use aws_sdk_dynamodb::error::DisplayErrorContext;
use lambda_http::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use lambda_http::http::{HeaderValue, Method, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;
use serde_json::json;

use crate::app::AppError;
use crate::obs::metrics::Outcome;
use crate::store::StoreError;
use crate::tokens::Refusal;

/// `errno` values of the v3 envelope.
pub mod errno {
    pub const OK: i64 = 0;
    pub const UNAUTHORIZED: i64 = -100_000;
    pub const CSRF_FAILED: i64 = -100_002;
    pub const CONFLICT: i64 = -100_003;
    pub const BAD_REQUEST: i64 = -100_004;
    pub const TOO_MANY_ATTEMPTS: i64 = -100_005;
    pub const INTERNAL: i64 = -200_000;
    pub const UNAVAILABLE: i64 = -200_001;
}

/// What went wrong, as the client will be told.
#[derive(Debug)]
pub enum Failure {
    /// No credential this endpoint accepts was presented, or the session is not valid.
    NotAuthenticated(Refusal),
    /// A bearer token was presented but refused.
    InvalidToken(Refusal),
    /// The reason, in Django's words (e.g. `CSRF cookie not set.`).
    CsrfFailed(&'static str),
    /// The session is valid but the user's access token has expired (`TOKEN_TTL_SECONDS`):
    /// the token it would return is one every Bearer endpoint refuses.
    TokenExpired,
    /// No route for this method and path: answered as API Gateway does.
    RouteNotFound,
    /// A CORS preflight for an endpoint that serves this method: not a failure, but it ends
    /// the request before the endpoint runs.
    Preflight(Method),
    Conflict,
    /// The request body is not what the endpoint takes; the detail says what is wrong.
    BadRequest(&'static str),
    /// A login with a wrong password or an unknown email: one answer for both.
    InvalidCredentials,
    /// A login for an account locked by failed attempts, for this many more seconds.
    TooManyAttempts(u64),
    Store(StoreError),
    Internal(String),
}

impl Failure {
    /// The failure as the metrics count it ([`crate::obs::metrics`]).
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::NotAuthenticated(reason) | Self::InvalidToken(reason) => Outcome::refused(*reason),
            Self::TokenExpired => Outcome::refused(Refusal::Expired),
            Self::InvalidCredentials => Outcome::BAD_CREDENTIALS,
            Self::CsrfFailed(_) => Outcome::CSRF,
            Self::BadRequest(_) => Outcome::BAD_REQUEST,
            Self::TooManyAttempts(_) => Outcome::TOO_MANY_ATTEMPTS,
            Self::Conflict => Outcome::CONFLICT,
            Self::RouteNotFound => Outcome::NOT_FOUND,
            Self::Preflight(_) => Outcome::SUCCESS,
            Self::Store(store) if store.transient => Outcome::STORE_UNAVAILABLE,
            Self::Store(store) if store.answered_with_error() => Outcome::STORE_REFUSED,
            Self::Store(_) | Self::Internal(_) => Outcome::INTERNAL,
        }
    }
}

/// The one place the application's failures become the contract's answers.
impl From<AppError> for Failure {
    fn from(error: AppError) -> Self {
        match error {
            AppError::TokenRefused(reason) => Self::InvalidToken(reason),
            AppError::NotSignedIn(reason) => Self::NotAuthenticated(reason),
            AppError::TokenExpired => Self::TokenExpired,
            AppError::Conflict => Self::Conflict,
            AppError::BadCredentials => Self::InvalidCredentials,
            AppError::Locked(seconds) => Self::TooManyAttempts(seconds),
            AppError::Store(error) => Self::Store(error),
            // Administrators' failures: no endpoint meets them.
            other @ (AppError::EmailTaken
            | AppError::InvalidUser(_)
            | AppError::Password(_)
            | AppError::DemoNeedsPublicKey
            | AppError::Randomness(_)) => Self::Internal(other.to_string()),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Family {
    /// `{"detail": ...}` errors, DRF style.
    V1,
    /// The `{data, success, errno, error}` envelope.
    V3,
}

impl Family {
    /// The response for a handler's outcome.
    pub fn respond<T: Serialize>(self, outcome: Result<T, Failure>) -> Response<Body> {
        let resource = match outcome {
            Ok(resource) => resource,
            Err(failure) => return self.failure(failure),
        };
        // Serialized from the structs, so fields keep the contract's order.
        let body = match self {
            Family::V1 => serde_json::to_string(&resource),
            Family::V3 => serde_json::to_string(&Envelope {
                data: resource,
                success: true,
                errno: errno::OK,
                error: None,
            }),
        };
        match body {
            Ok(body) => {
                let mut response = json_response(StatusCode::OK, body);
                response.extensions_mut().insert(Outcome::SUCCESS);
                response
            }
            Err(error) => self.failure(Failure::Internal(format!("serializing the response: {error}"))),
        }
    }

    fn failure(self, failure: Failure) -> Response<Body> {
        match failure {
            Failure::RouteNotFound => return route_not_found(),
            Failure::Preflight(method) => return preflight(&method),
            _ => {}
        }
        let (status, detail, errno, error) = match &failure {
            Failure::TokenExpired => (
                StatusCode::UNAUTHORIZED,
                "Access token expired; regenerate it.".to_string(),
                errno::UNAUTHORIZED,
                "Invalid or expired token",
            ),
            Failure::NotAuthenticated(_) | Failure::InvalidToken(_) => (
                StatusCode::UNAUTHORIZED,
                "Not authenticated".to_string(),
                errno::UNAUTHORIZED,
                "Invalid or expired token",
            ),
            Failure::CsrfFailed(reason) => (
                StatusCode::FORBIDDEN,
                format!("CSRF Failed: {reason}"),
                errno::CSRF_FAILED,
                "CSRF failed",
            ),
            Failure::Conflict => (
                StatusCode::CONFLICT,
                "Token regeneration conflicted with another request; try again.".to_string(),
                errno::CONFLICT,
                "Conflict",
            ),
            Failure::BadRequest(detail) => (
                StatusCode::BAD_REQUEST,
                (*detail).to_string(),
                errno::BAD_REQUEST,
                "Bad request",
            ),
            Failure::InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                "Invalid email or password.".to_string(),
                errno::UNAUTHORIZED,
                "Invalid email or password",
            ),
            Failure::TooManyAttempts(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed sign-in attempts; try again later.".to_string(),
                errno::TOO_MANY_ATTEMPTS,
                "Too many attempts",
            ),
            Failure::Store(store) if store.transient => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Service temporarily unavailable, try again later.".to_string(),
                errno::UNAVAILABLE,
                "Service temporarily unavailable",
            ),
            Failure::RouteNotFound | Failure::Preflight(_) | Failure::Store(_) | Failure::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "A server error occurred.".to_string(),
                errno::INTERNAL,
                "Internal server error",
            ),
        };
        match &failure {
            Failure::Store(cause) => {
                tracing::error!(cause = %DisplayErrorContext(cause), "store call failed")
            }
            Failure::Internal(cause) => tracing::error!(%cause, "internal error"),
            _ => {}
        }
        let body = match self {
            Family::V1 => json!({ "detail": detail }).to_string(),
            Family::V3 => serde_json::to_string(&Envelope::<Option<()>> {
                data: None,
                success: false,
                errno,
                error: Some(error),
            })
            .unwrap_or_default(),
        };
        let mut response = json_response(status, body);
        response.extensions_mut().insert(failure.outcome());
        let headers = response.headers_mut();
        match failure {
            // No bearer token was presented (a session's expired token included): the bare
            // challenge. RFC 6750 section 3.1 keeps invalid_token for a presented one.
            Failure::NotAuthenticated(_) | Failure::InvalidCredentials | Failure::TokenExpired => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Failure::TooManyAttempts(seconds) => {
                headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
            }
            Failure::InvalidToken(_) => {
                let challenge = HeaderValue::from_static(r#"Bearer error="invalid_token""#);
                headers.insert(WWW_AUTHENTICATE, challenge);
            }
            Failure::Store(StoreError { transient: true, .. }) => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

/// API Gateway's answer to a method or path with no route (template.yaml's gateway
/// responses for MISSING_AUTHENTICATION_TOKEN and INCOMPLETE_SIGNATURE).
pub fn route_not_found() -> Response<Body> {
    json_response(StatusCode::NOT_FOUND, json!({"message": "Not Found"}).to_string())
}

/// `204 No Content`: done, nothing to say (a sign-out).
pub fn no_content() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `204 No Content` with the preflight headers; the origin is added by the CORS step.
fn preflight(method: &Method) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    super::cors::preflight_headers(method, response.headers_mut());
    response
}

#[derive(Serialize)]
struct Envelope<T> {
    data: T,
    success: bool,
    errno: i64,
    error: Option<&'static str>,
}

fn json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(response: &Response<Body>) -> serde_json::Value {
        match response.body() {
            Body::Text(text) => serde_json::from_str(text).unwrap(),
            other => panic!("not a text body: {other:?}"),
        }
    }

    #[test]
    fn v3_success_is_wrapped_in_the_envelope() {
        let response = Family::V3.respond(Ok(json!({"id": "x"})));
        assert_eq!(response.status(), 200);
        assert_eq!(
            body(&response),
            json!({"data": {"id": "x"}, "success": true, "errno": 0, "error": null})
        );
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
    }

    #[test]
    fn unauthorized_bodies_match_the_contract() {
        let v1 = Family::V1.respond::<()>(Err(Failure::NotAuthenticated(Refusal::Missing)));
        assert_eq!(v1.status(), 401);
        assert_eq!(body(&v1), json!({"detail": "Not authenticated"}));
        assert_eq!(v1.headers()[WWW_AUTHENTICATE], "Bearer");
        let v3 = Family::V3.respond::<()>(Err(Failure::InvalidToken(Refusal::Forged)));
        assert_eq!(
            body(&v3),
            json!({"data": null, "success": false, "errno": -100000, "error": "Invalid or expired token"})
        );
        assert_eq!(v3.headers()[WWW_AUTHENTICATE], r#"Bearer error="invalid_token""#);
    }

    #[test]
    fn internal_details_stay_out_of_the_body() {
        let response = Family::V1.respond::<()>(Err(Failure::Internal("secret table layout".into())));
        assert_eq!(response.status(), 500);
        assert_eq!(body(&response), json!({"detail": "A server error occurred."}));
    }

    #[test]
    fn no_route_is_api_gateways_404_in_both_families() {
        for family in [Family::V1, Family::V3] {
            let response = family.respond::<()>(Err(Failure::RouteNotFound));
            assert_eq!(response.status(), 404);
            assert_eq!(body(&response), json!({"message": "Not Found"}));
        }
    }

    #[test]
    fn fields_keep_the_order_of_the_struct() {
        #[derive(Serialize)]
        struct Ordered {
            zebra: u8,
            apple: u8,
        }
        let response = Family::V3.respond(Ok(Ordered { zebra: 1, apple: 2 }));
        let Body::Text(text) = response.body() else {
            panic!("text body")
        };
        assert_eq!(
            text,
            r#"{"data":{"zebra":1,"apple":2},"success":true,"errno":0,"error":null}"#
        );
    }
}
