//! The four endpoints. Each reads like the contract: check the method, read the
//! credential, make one store call, answer in the endpoint's family.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

use crate::App;
use crate::auth::{self, Credential};
use crate::responses::{Failure, Family};
use crate::users::{AccessTokenBody, AuthUser, CurrentUser};

/// `GET /api/users/me/` (Bearer).
pub async fn get_current_user(app: &App, request: Request) -> Response<Body> {
    Family::V1.respond(
        async {
            allow(&request, Method::GET)?;
            let token = auth::bearer_token(&request)?;
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
            let credential = auth::bearer_or_session(&request)?;
            let user = app.authenticate(&credential).await?;
            Ok(AccessTokenBody::new(&app.usable_access_token(&user)?))
        }
        .await,
    )
}

/// `POST /api/users/me/token/regenerate/` (Bearer, or session with CSRF).
pub async fn regenerate_access_token(app: &App, request: Request) -> Response<Body> {
    Family::V1.respond(
        async {
            allow(&request, Method::POST)?;
            let credential = auth::bearer_or_session(&request)?;
            if let Credential::Session(session) = &credential {
                auth::check_csrf(&request, app.token_key(), session)?;
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
            let token = auth::bearer_token(&request)?;
            let user = app.authenticate(&Credential::Bearer(token)).await?;
            Ok(AuthUser::from(user))
        }
        .await,
    )
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
