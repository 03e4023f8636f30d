//! The endpoints. Each reads like the contract: check the method, read the credential (or
//! the form), make one store call (a login: a read, then a write), answer in the endpoint's
//! family.

use lambda_http::http::header::SET_COOKIE;
use lambda_http::http::{HeaderValue, Method};
use lambda_http::{Body, Request, Response};

use super::bodies::{AccessTokenBody, AuthUser, CurrentUser, SignedIn};
use super::credentials;
use super::login;
use super::responses::{Failure, Family, no_content};
use crate::App;
use crate::tokens::{Credential, Refusal};
use crate::users::Email;

/// `GET /api/users/me/` (Bearer).
pub async fn get_current_user(app: &App, request: Request) -> Response<Body> {
    Family::V1.respond(
        async {
            allow(&request, Method::GET)?;
            let token = credentials::bearer_token(&request)?;
            let user = app.authenticate(&Credential::Bearer(token.clone())).await?;
            Ok(CurrentUser::new(user, &token))
        }
        .await,
    )
}

/// `GET /api/users/me/token/` (Bearer or session).
pub async fn get_access_token(app: &App, request: Request) -> Response<Body> {
    Family::V1.respond(
        async {
            allow(&request, Method::GET)?;
            let credential = credentials::bearer_or_session(&request)?;
            let user = app.authenticate(&credential).await?;
            Ok(AccessTokenBody::new(&app.usable_access_token(&user).await?))
        }
        .await,
    )
}

/// `POST /api/users/me/token/regenerate/` (Bearer, or session with CSRF).
pub async fn regenerate_access_token(app: &App, request: Request) -> Response<Body> {
    Family::V1.respond(
        async {
            allow(&request, Method::POST)?;
            let credential = credentials::bearer_or_session(&request)?;
            if let Credential::Session(session) = &credential {
                credentials::check_csrf(&request, &app.csrf_token(session).await?)?;
            }
            let token = app.regenerate_token(&credential).await?;
            Ok(AccessTokenBody::new(&token))
        }
        .await,
    )
}

/// `GET /api/v3/auth/user` (Bearer), in the `{data, success, errno, error}` envelope.
pub async fn get_auth_user(app: &App, request: Request) -> Response<Body> {
    Family::V3.respond(
        async {
            allow(&request, Method::GET)?;
            let token = credentials::bearer_token(&request)?;
            let user = app.authenticate(&Credential::Bearer(token)).await?;
            Ok(AuthUser::from(user))
        }
        .await,
    )
}

/// `POST /api/auth/login/`: email and password (JSON or a form) for a new session, handed
/// out in the `sessionid` and `csrftoken` cookies.
pub async fn login(app: &App, request: Request) -> Response<Body> {
    let outcome = async {
        allow(&request, Method::POST)?;
        let form = login::parse_form(&request)?;
        Ok(app.sign_in(&Email::lookup(&form.email), &form.password).await?)
    }
    .await;
    match outcome {
        Ok(session) => {
            let cookies = login::session_cookies(&session, app.session_ttl());
            let body = SignedIn::new(&session);
            with_cookies(Family::V1.respond(Ok(body)), &cookies)
        }
        Err(failure) => Family::V1.respond::<()>(Err(failure)),
    }
}

/// `POST /api/auth/logout/` (session with CSRF): ends the session and both cookies; 204.
pub async fn logout(app: &App, request: Request) -> Response<Body> {
    let outcome = async {
        allow(&request, Method::POST)?;
        let Credential::Session(session) = credentials::bearer_or_session(&request)? else {
            return Err(Failure::NotAuthenticated(Refusal::Missing));
        };
        credentials::check_csrf(&request, &app.csrf_token(&session).await?)?;
        Ok(app.sign_out(&session).await?)
    }
    .await;
    match outcome {
        Ok(()) => with_cookies(no_content(), &login::expired_cookies()),
        Err(failure) => Family::V1.respond::<()>(Err(failure)),
    }
}

fn with_cookies(mut response: Response<Body>, cookies: &[String]) -> Response<Body> {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

/// The endpoint's method passes; `OPTIONS` is a CORS preflight for it. API Gateway answers
/// other methods itself (404); direct invokes get the same answer from here.
fn allow(request: &Request, allowed: Method) -> Result<(), Failure> {
    match request.method() {
        method if *method == allowed => Ok(()),
        &Method::OPTIONS => Err(Failure::Preflight(allowed)),
        _ => Err(Failure::RouteNotFound),
    }
}
