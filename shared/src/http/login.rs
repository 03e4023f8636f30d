//! Signing in over HTTP: the login form, and the cookies a session is handed out with.

use std::time::Duration;

use serde::Deserialize;

use super::responses::Failure;
use crate::app::NewSession;

/// `POST /api/auth/login/`'s body, as JSON or as a form post.
#[derive(Deserialize)]
pub struct LoginForm {
    pub email: String,
    pub password: String,
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
