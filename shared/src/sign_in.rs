//! Signing in with an email and a password: the form, the brute-force limit, and the
//! cookies a session is handed out with.
//!
//! The limit: after [`MAX_FAILURES`] wrong passwords for one account within
//! [`FAILURE_WINDOW`] of the first, further attempts get 429 with `Retry-After` until the
//! window ends, and the password is not even checked. The count is kept on the account's
//! email claim with conditional writes (`Store::record_failed_login`), and a right password
//! clears it in the same transaction that opens the session.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::app::NewSession;
use crate::clock::Timestamp;
use crate::responses::Failure;
use crate::store::SignInRecord;

/// Wrong passwords an account takes within [`FAILURE_WINDOW`] before it is locked.
pub const MAX_FAILURES: u32 = 5;
/// The window failures are counted in; a locked account opens again when it ends.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// `POST /api/auth/login/`'s body, as JSON or as a form post.
#[derive(Deserialize)]
pub struct LoginForm {
    pub email: String,
    pub password: String,
}

/// The login's answer: the fields of `GET /api/users/me/` the page needs before it fetches
/// the token (with the new session) and the profile (with the token).
#[derive(Debug, Serialize)]
pub struct SignedIn {
    pub external_id: String,
    pub is_authenticated: bool,
}

/// Seconds until a locked account opens again; `None` if it is not locked at `now`.
pub fn locked_for(record: &SignInRecord, now: Timestamp) -> Option<u64> {
    let since = record.failures_since?;
    let reopens = since.saturating_add(FAILURE_WINDOW);
    (record.failed_logins >= MAX_FAILURES && reopens > now).then(|| {
        u64::try_from(reopens.epoch_seconds() - now.epoch_seconds())
            .unwrap_or(1)
            .max(1)
    })
}

/// The start of the window that counts at `now`.
pub fn window_start(now: Timestamp) -> Timestamp {
    now.saturating_sub(FAILURE_WINDOW)
}

/// The request's login form, or a 400 that says what is wrong.
pub fn parse_form(request: &lambda_http::Request) -> Result<LoginForm, Failure> {
    use lambda_http::RequestPayloadExt;
    match request.payload::<LoginForm>() {
        Ok(Some(form)) => Ok(form),
        Ok(None) => Err(Failure::BadRequest(
            "Send {\"email\": ..., \"password\": ...} as application/json or application/x-www-form-urlencoded.",
        )),
        Err(_) => Err(Failure::BadRequest(
            "The body must hold a string email and a string password.",
        )),
    }
}

/// The `Set-Cookie` values that hand out `session`, valid for `max_age`: the session id
/// `HttpOnly` (no script reads it), the CSRF token readable by the page's script (which
/// echoes it in `X-CSRFToken`, as Django's is); both `Secure`, `SameSite=Lax`, `Path=/`.
pub fn session_cookies(session: &NewSession, max_age: Duration) -> [String; 2] {
    let attributes = format!("Max-Age={}; Path=/; Secure; SameSite=Lax", max_age.as_secs());
    [
        format!("sessionid={}; {attributes}; HttpOnly", session.session_id),
        format!("csrftoken={}; {attributes}", session.csrf_token),
    ]
}

/// The `Set-Cookie` values that end both cookies in the browser (a sign-out).
pub fn expired_cookies() -> [String; 2] {
    let attributes = "Max-Age=0; Path=/; Secure; SameSite=Lax";
    [
        format!("sessionid=\"\"; {attributes}; HttpOnly"),
        format!("csrftoken=\"\"; {attributes}"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn record(failed_logins: u32, since: Option<i64>) -> SignInRecord {
        SignInRecord {
            user_id: Uuid::nil(),
            password_hash: None,
            failed_logins,
            failures_since: since.and_then(Timestamp::from_epoch_seconds),
        }
    }

    #[test]
    fn an_account_locks_at_the_limit_until_its_window_ends() {
        let now = Timestamp::from_epoch_seconds(1_800_000_000).unwrap();
        let started = now.epoch_seconds() - 60;
        assert_eq!(locked_for(&record(MAX_FAILURES - 1, Some(started)), now), None);
        assert_eq!(
            locked_for(&record(MAX_FAILURES, Some(started)), now),
            Some(14 * 60)
        );
        let long_ago = now.epoch_seconds() - FAILURE_WINDOW.as_secs() as i64;
        assert_eq!(locked_for(&record(MAX_FAILURES + 3, Some(long_ago)), now), None);
        assert_eq!(locked_for(&record(0, None), now), None);
    }
}
