//! The audit trail: security-relevant events as log lines with a stable schema, for a team
//! to route to their SIEM (docs/operations.md, "Audit trail"). With `AWS_LAMBDA_LOG_FORMAT=JSON` each is
//!
//! ```json
//! {"level":"INFO","fields":{"message":"audit","event":"token_regenerated","user_id":"<uuid>",
//!  "detail":"bearer","request_id":"<API Gateway requestId>","source_ip":"203.0.113.7"},...}
//! ```
//!
//! `event` is one of [`Event`]'s names; `user_id` is empty when there is none (an unknown
//! email); `detail` says how (`bearer`, `session`, `sign_in`, `admin`) or why (a sign-in
//! failure's reason); `request_id` and `source_ip` come from API Gateway's request context
//! and are empty outside a request (usersctl). Never a token, a session id, a CSRF token, an
//! email or a password.

use std::future::Future;

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use uuid::Uuid;

/// A security-relevant event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    TokenRegenerated,
    SessionOpened,
    SessionRevoked,
    UserCreated,
    UserDeleted,
    SignInFailed,
    /// A replaced (or deleted user's) token was presented: a client that missed an update,
    /// or a leaked copy being tried.
    SupersededToken,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TokenRegenerated => "token_regenerated",
            Self::SessionOpened => "session_opened",
            Self::SessionRevoked => "session_revoked",
            Self::UserCreated => "user_created",
            Self::UserDeleted => "user_deleted",
            Self::SignInFailed => "sign_in_failed",
            Self::SupersededToken => "superseded_token",
        }
    }

    /// Failures and replays are warnings; the rest is the account's ordinary history.
    fn is_warning(self) -> bool {
        matches!(self, Self::SignInFailed | Self::SupersededToken)
    }
}

/// Where the request being served came from.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    request_id: String,
    source_ip: String,
}

impl Origin {
    /// API Gateway's request id (the one its access logs carry) and the client's address.
    pub fn of(request: &Request) -> Self {
        match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV1(context)) => Self {
                request_id: context.request_id.clone().unwrap_or_default(),
                source_ip: context.identity.source_ip.clone().unwrap_or_default(),
            },
            _ => Self::default(),
        }
    }
}

tokio::task_local! {
    static ORIGIN: Origin;
}

/// Runs `future` (a request's handling) with `origin` as the origin of its audit events.
pub async fn within<F: Future>(origin: Origin, future: F) -> F::Output {
    ORIGIN.scope(origin, future).await
}

/// The events' log target, whatever this module's path: a SIEM filter or `usersctl`'s
/// stderr may select on it.
pub const TARGET: &str = "shared::audit";

/// Records `event` for `user_id` (if known), with `detail` (how, or why).
pub fn record(event: Event, user_id: Option<Uuid>, detail: &'static str) {
    let origin = ORIGIN.try_with(Origin::clone).unwrap_or_default();
    let user_id = user_id.map(|id| id.to_string()).unwrap_or_default();
    let (request_id, source_ip) = (origin.request_id, origin.source_ip);
    let name = event.as_str();
    if event.is_warning() {
        tracing::warn!(target: TARGET, event = name, user_id, detail, request_id, source_ip, "audit");
    } else {
        tracing::info!(target: TARGET, event = name, user_id, detail, request_id, source_ip, "audit");
    }
}
