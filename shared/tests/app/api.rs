//! The four handlers against AWS's DynamoDB Local: the contract, end to end below HTTP.

use std::sync::Arc;
use std::time::Duration;

use lambda_http::{Body, Response};
use serde_json::{Value, json};
use shared::App;
use shared::app::AppError;
use shared::http::handlers;
use shared::users::NewUser;
use testkit::{TestApp, bearer, header, parts, request, session_headers};

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Endpoint {
    CurrentUser,
    AccessToken,
    Regenerate,
    AuthUser,
}

use Endpoint::*;

impl Endpoint {
    pub(crate) const ALL: [Endpoint; 4] = [CurrentUser, AccessToken, Regenerate, AuthUser];

    fn method(self) -> &'static str {
        if self == Regenerate { "POST" } else { "GET" }
    }

    fn path(self) -> &'static str {
        match self {
            CurrentUser => "/api/users/me/",
            AccessToken => "/api/users/me/token/",
            Regenerate => "/api/users/me/token/regenerate/",
            AuthUser => "/api/v3/auth/user",
        }
    }

    pub(crate) async fn call(self, app: &App, headers: &[(&str, String)]) -> Response<Body> {
        self.call_with(app, self.method(), headers).await
    }

    async fn call_with(self, app: &App, method: &str, headers: &[(&str, String)]) -> Response<Body> {
        let request = request(method, self.path(), headers);
        match self {
            CurrentUser => handlers::get_current_user(app, request).await,
            AccessToken => handlers::get_access_token(app, request).await,
            Regenerate => handlers::regenerate_access_token(app, request).await,
            AuthUser => handlers::get_auth_user(app, request).await,
        }
    }

    /// The contract's 401 body for this endpoint's family.
    fn unauthorized_body(self) -> Value {
        if self == AuthUser {
            json!({"data": null, "success": false, "errno": -100000, "error": "Invalid or expired token"})
        } else {
            json!({"detail": "Not authenticated"})
        }
    }
}

fn assert_unauthorized(endpoint: Endpoint, response: &Response<Body>, challenge: &str) {
    assert_eq!(
        parts(response),
        (401, endpoint.unauthorized_body()),
        "{endpoint:?}"
    );
    assert_eq!(
        header(response, "www-authenticate"),
        Some(challenge),
        "{endpoint:?}"
    );
}

const INVALID_TOKEN: &str = r#"Bearer error="invalid_token""#;

#[tokio::test]
async fn get_current_user_returns_the_profile_field_by_field() {
    let test = TestApp::new().await;
    let new = NewUser {
        email: "john@example.com".into(),
        username: Some("user".into()),
        first_name: "John".into(),
        last_name: "Doe".into(),
        email_confirmed: true,
        ..NewUser::default()
    };
    let (user, token) = test.app.create_user(new).await.unwrap();
    let response = CurrentUser.call(&test.app, &[bearer(&token)]).await;
    assert_eq!(
        parts(&response),
        (
            200,
            json!({
                "external_id": user.id.to_string(),
                "email": "john@example.com",
                "email_verified": true,
                "username": "user",
                "first_name": "John",
                "last_name": "Doe",
                "is_authenticated": true,
                "access_token": token.to_string(),
            })
        )
    );
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
}

#[tokio::test]
async fn get_auth_user_returns_the_envelope_field_by_field() {
    let test = TestApp::new().await;
    let new = NewUser {
        email: "user@example.com".into(),
        phone: Some("+15550100".into()),
        phone_confirmed: true,
        user_metadata: json!({"name": "John Doe"}).as_object().cloned().unwrap(),
        app_metadata: json!({"provider": "email", "roles": ["user"]})
            .as_object()
            .cloned()
            .unwrap(),
        ..NewUser::default()
    };
    let (user, token) = test.app.create_user(new).await.unwrap();
    let (status, body) = parts(&AuthUser.call(&test.app, &[bearer(&token)]).await);
    assert_eq!(status, 200);
    let created = user.created_at.to_string();
    assert_eq!(
        body,
        json!({
            "data": {
                "id": user.id.to_string(),
                "email": "user@example.com",
                "emailConfirmedAt": null,
                "phone": "+15550100",
                "phoneConfirmedAt": created,
                "createdAt": created,
                "updatedAt": created,
                "userMetadata": {"name": "John Doe"},
                "appMetadata": {"provider": "email", "roles": ["user"]},
            },
            "success": true,
            "errno": 0,
            "error": null,
        })
    );
    assert!(uuid::Uuid::parse_str(body["data"]["id"].as_str().unwrap()).is_ok());
    let timestamp = body["data"]["createdAt"].as_str().unwrap();
    assert!(
        timestamp.len() == 20 && timestamp.ends_with('Z') && !timestamp.contains('.'),
        "{timestamp}"
    );
}

#[tokio::test]
async fn email_verified_and_email_confirmed_at_come_from_one_record() {
    let test = TestApp::new().await;
    for confirmed in [false, true] {
        let new = NewUser {
            email: format!("{confirmed}@example.com"),
            email_confirmed: confirmed,
            ..NewUser::default()
        };
        let (_, token) = test.app.create_user(new).await.unwrap();
        let (_, v1) = parts(&CurrentUser.call(&test.app, &[bearer(&token)]).await);
        let (_, v3) = parts(&AuthUser.call(&test.app, &[bearer(&token)]).await);
        assert_eq!(v1["email_verified"], confirmed);
        assert_eq!(!v3["data"]["emailConfirmedAt"].is_null(), confirmed);
    }
}

#[tokio::test]
async fn get_access_token_returns_the_current_token_by_bearer_and_by_session() {
    let test = TestApp::new().await;
    let (user, token) = test.user("ann@example.com").await;
    let expected = (200, json!({"access_token": token.to_string()}));
    assert_eq!(
        parts(&AccessToken.call(&test.app, &[bearer(&token)]).await),
        expected
    );
    let session = test.session(&user, Duration::from_secs(3600)).await;
    let by_session = AccessToken
        .call(&test.app, &session_headers(&session, false))
        .await;
    assert_eq!(parts(&by_session), expected);
}

#[tokio::test]
async fn no_credential_is_401_with_a_bare_challenge_on_every_endpoint() {
    let test = TestApp::new().await;
    for endpoint in Endpoint::ALL {
        for headers in [
            vec![],
            vec![("authorization", String::new())],
            vec![("authorization", "Basic dTpw".into())],
        ] {
            assert_unauthorized(endpoint, &endpoint.call(&test.app, &headers).await, "Bearer");
        }
    }
    assert_eq!(test.requests.take(), 0, "no credential, no store call");
}

#[tokio::test]
async fn malformed_wrong_and_forged_tokens_are_401_invalid_token_on_every_endpoint() {
    let test = TestApp::new().await;
    let (user, token) = test.user("ann@example.com").await;
    let text = token.to_string();
    let other_key = shared::tokens::TokenKey::new(b"another key that is 32 bytes long!!").unwrap();
    let other_key = shared::tokens::KeyRing::single(other_key).access_token(user.id, token.nonce());
    let forged = testkit::forged(&token);
    let wrong_nonce = test
        .app
        .keys()
        .access_token(user.id, shared::tokens::TokenNonce::generate().unwrap());
    let unknown_user = test
        .app
        .keys()
        .access_token(shared::tokens::new_user_id().unwrap(), token.nonce());
    let values = [
        "Bearer".to_string(),
        "Bearer ".to_string(),
        format!("Bearer {text} extra"),
        format!("Bearer {}", "A".repeat(10 * 1024)),
        format!("Bearer {}", &text[..50]),
        format!("Bearer {forged}"),
        format!("Bearer {other_key}"),
        format!("Bearer {wrong_nonce}"),
        format!("Bearer {unknown_user}"),
    ];
    for endpoint in Endpoint::ALL {
        for value in &values {
            let response = endpoint
                .call(&test.app, &[("authorization", value.clone())])
                .await;
            assert_unauthorized(endpoint, &response, INVALID_TOKEN);
        }
    }
    // The genuine token still works after all that.
    assert_eq!(
        parts(&CurrentUser.call(&test.app, &[bearer(&token)]).await).0,
        200
    );
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let test = TestApp::new().await;
    let (_, token) = test.user("ann@example.com").await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let response = AuthUser
            .call(&test.app, &[("authorization", format!("{scheme} {token}"))])
            .await;
        assert_eq!(parts(&response).0, 200, "{scheme}");
    }
}

#[tokio::test]
async fn after_a_regenerate_the_old_token_is_dead_on_every_endpoint() {
    let test = TestApp::new().await;
    let (_, old) = test.user("ann@example.com").await;
    let (status, body) = parts(&Regenerate.call(&test.app, &[bearer(&old)]).await);
    assert_eq!(status, 200);
    let new = body["access_token"].as_str().unwrap().to_string();
    assert_ne!(new, old.to_string());
    assert_eq!(body, json!({"access_token": new}));
    for endpoint in Endpoint::ALL {
        assert_unauthorized(
            endpoint,
            &endpoint.call(&test.app, &[bearer(&old)]).await,
            INVALID_TOKEN,
        );
    }
    for endpoint in [CurrentUser, AccessToken, AuthUser] {
        assert_eq!(
            parts(&endpoint.call(&test.app, &[bearer(&new)]).await).0,
            200,
            "{endpoint:?}"
        );
    }
    let (_, current) = parts(&AccessToken.call(&test.app, &[bearer(&new)]).await);
    assert_eq!(current["access_token"], new);
}

#[tokio::test]
async fn sessions_are_refused_where_the_contract_says_bearer_only() {
    let test = TestApp::new().await;
    let (user, _) = test.user("ann@example.com").await;
    let session = test.session(&user, Duration::from_secs(3600)).await;
    for endpoint in [CurrentUser, AuthUser] {
        let response = endpoint.call(&test.app, &session_headers(&session, true)).await;
        assert_unauthorized(endpoint, &response, "Bearer");
    }
}

#[tokio::test]
async fn a_session_regenerate_needs_a_csrf_token_bound_to_the_session() {
    let test = TestApp::new().await;
    let (user, old) = test.user("ann@example.com").await;
    let session = test.session(&user, Duration::from_secs(3600)).await;
    let cookie_only = session_headers(&session, false);
    let (status, body) = parts(&Regenerate.call(&test.app, &cookie_only).await);
    assert_eq!(
        (status, body),
        (403, json!({"detail": "CSRF Failed: CSRF token missing."}))
    );

    let without_csrf_cookie = vec![
        ("cookie", format!("sessionid={}", session.session_id)),
        ("x-csrftoken", session.csrf_token.clone()),
    ];
    let (status, body) = parts(&Regenerate.call(&test.app, &without_csrf_cookie).await);
    assert_eq!(
        (status, body),
        (403, json!({"detail": "CSRF Failed: CSRF cookie not set."}))
    );

    let other = test.session(&user, Duration::from_secs(3600)).await;
    let foreign_csrf = vec![
        (
            "cookie",
            format!("sessionid={}; csrftoken={}", session.session_id, other.csrf_token),
        ),
        ("x-csrftoken", other.csrf_token.clone()),
    ];
    let (status, body) = parts(&Regenerate.call(&test.app, &foreign_csrf).await);
    assert_eq!(
        (status, body),
        (403, json!({"detail": "CSRF Failed: CSRF token incorrect."}))
    );
    assert_eq!(test.requests.take(), 0, "a CSRF failure writes nothing");
    assert_eq!(
        parts(&CurrentUser.call(&test.app, &[bearer(&old)]).await).0,
        200,
        "old token still valid"
    );

    let (status, body) = parts(&Regenerate.call(&test.app, &session_headers(&session, true)).await);
    assert_eq!(status, 200);
    let new = body["access_token"].as_str().unwrap();
    assert_unauthorized(
        CurrentUser,
        &CurrentUser.call(&test.app, &[bearer(&old)]).await,
        INVALID_TOKEN,
    );
    assert_eq!(parts(&CurrentUser.call(&test.app, &[bearer(&new)]).await).0, 200);
    let (_, by_session) = parts(
        &AccessToken
            .call(&test.app, &session_headers(&session, false))
            .await,
    );
    assert_eq!(by_session["access_token"], new);
}

#[tokio::test]
async fn bearer_needs_no_csrf_and_wins_over_a_session() {
    let test = TestApp::new().await;
    let (ann, ann_token) = test.user("ann@example.com").await;
    let (bob, bob_token) = test.user("bob@example.com").await;
    let bob_session = test.session(&bob, Duration::from_secs(3600)).await;
    // Ann's bearer token with Bob's session cookie and no CSRF header: Ann's token is regenerated.
    let mut headers = session_headers(&bob_session, false);
    headers.push(bearer(&ann_token));
    let (status, _) = parts(&Regenerate.call(&test.app, &headers).await);
    assert_eq!(status, 200);
    assert_unauthorized(
        AuthUser,
        &AuthUser.call(&test.app, &[bearer(&ann_token)]).await,
        INVALID_TOKEN,
    );
    let (_, bob_view) = parts(&AuthUser.call(&test.app, &[bearer(&bob_token)]).await);
    assert_eq!(bob_view["data"]["id"], bob.id.to_string());
    assert_ne!(ann.id, bob.id);
}

#[tokio::test]
async fn expired_tokens_and_sessions_are_refused_and_a_regenerate_restarts_the_clock() {
    let test = TestApp::with_ttl(Some(3)).await;
    let (user, token) = test.user("ann@example.com").await;
    let long_session = test.session(&user, Duration::from_secs(3600)).await;
    let short_session = test.session(&user, Duration::from_secs(1)).await;
    assert_eq!(
        parts(&CurrentUser.call(&test.app, &[bearer(&token)]).await).0,
        200
    );

    // Whole seconds: 3.1 s later the token is at least 3 s old by the store's clock.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    for endpoint in Endpoint::ALL {
        assert_unauthorized(
            endpoint,
            &endpoint.call(&test.app, &[bearer(&token)]).await,
            INVALID_TOKEN,
        );
    }
    let expired_session = AccessToken
        .call(&test.app, &session_headers(&short_session, false))
        .await;
    assert_unauthorized(AccessToken, &expired_session, "Bearer");
    // A valid session is not handed the expired token (every Bearer endpoint refuses it).
    let expired_token = AccessToken
        .call(&test.app, &session_headers(&long_session, false))
        .await;
    assert_eq!(
        parts(&expired_token),
        (401, json!({"detail": "Access token expired; regenerate it."}))
    );
    // No bearer token was presented, so the bare challenge (RFC 6750 section 3.1).
    assert_eq!(header(&expired_token, "www-authenticate"), Some("Bearer"));
    let expired_session = Regenerate
        .call(&test.app, &session_headers(&short_session, true))
        .await;
    assert_unauthorized(Regenerate, &expired_session, "Bearer");

    let (status, body) = parts(
        &Regenerate
            .call(&test.app, &session_headers(&long_session, true))
            .await,
    );
    assert_eq!(status, 200);
    let fresh = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(parts(&AuthUser.call(&test.app, &[bearer(&fresh)]).await).0, 200);
    let (status, body) = parts(
        &AccessToken
            .call(&test.app, &session_headers(&long_session, false))
            .await,
    );
    assert_eq!((status, body), (200, json!({"access_token": fresh})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_twenty_concurrent_regenerations_with_one_token_exactly_one_wins() {
    let test = Arc::new(TestApp::new().await);
    let (_, token) = test.user("ann@example.com").await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let test = Arc::clone(&test);
        let headers = vec![bearer(&token)];
        tasks.spawn(async move { parts(&Regenerate.call(&test.app, &headers).await) });
    }
    let outcomes = tasks.join_all().await;
    let winners: Vec<&Value> = outcomes
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|(status, _)| *status == 401).count(), 19);
    let new = winners[0]["access_token"].as_str().unwrap();
    let (_, current) = parts(&AccessToken.call(&test.app, &[bearer(&new)]).await);
    assert_eq!(current["access_token"], new);
    assert_unauthorized(
        AccessToken,
        &AccessToken.call(&test.app, &[bearer(&token)]).await,
        INVALID_TOKEN,
    );
}

#[tokio::test]
async fn every_request_makes_exactly_one_dynamodb_call() {
    let test = TestApp::new().await;
    let (user, mut token) = test.user("ann@example.com").await;
    let session = test.session(&user, Duration::from_secs(3600)).await;
    let expected = [
        (CurrentUser, "bearer", "GetItem"),
        (AccessToken, "bearer", "GetItem"),
        (AccessToken, "session", "BatchGetItem"),
        (Regenerate, "bearer", "UpdateItem"),
        (Regenerate, "session", "TransactWriteItems"),
        (AuthUser, "bearer", "GetItem"),
    ];
    for (endpoint, mode, operation) in expected {
        let headers = if mode == "bearer" {
            vec![bearer(&token)]
        } else {
            session_headers(&session, true)
        };
        let (status, body) = parts(&endpoint.call(&test.app, &headers).await);
        assert_eq!(status, 200, "{endpoint:?} {mode}");
        assert_eq!(
            test.requests.operations(),
            vec![format!("DynamoDB_20120810.{operation}")],
            "{endpoint:?} {mode}"
        );
        assert_eq!(test.requests.take(), 1, "{endpoint:?} {mode}");
        if let Some(new) = body["access_token"].as_str().filter(|_| endpoint == Regenerate) {
            token = new.parse().unwrap();
        }
    }
}

#[tokio::test]
async fn an_options_request_is_a_cors_preflight_for_the_endpoints_method() {
    let test = TestApp::new().await;
    for endpoint in Endpoint::ALL {
        let response = endpoint.call_with(&test.app, "OPTIONS", &[]).await;
        assert_eq!(response.status(), 204, "{endpoint:?}");
        assert_eq!(
            header(&response, "access-control-allow-methods"),
            Some(format!("{}, OPTIONS", endpoint.method()).as_str())
        );
    }
    assert_eq!(test.requests.take(), 0, "a preflight reads nothing");
}

#[tokio::test]
async fn a_method_the_endpoint_does_not_serve_is_api_gateways_404() {
    let test = TestApp::new().await;
    let (_, token) = test.user("ann@example.com").await;
    let not_found = (404, json!({"message": "Not Found"}));
    assert_eq!(
        parts(&Regenerate.call_with(&test.app, "GET", &[bearer(&token)]).await),
        not_found
    );
    assert_eq!(
        parts(&AuthUser.call_with(&test.app, "DELETE", &[bearer(&token)]).await),
        not_found
    );
    assert_eq!(test.requests.take(), 0);
    let (status, _) = parts(&CurrentUser.call(&test.app, &[bearer(&token)]).await);
    assert_eq!(status, 200, "nothing changed");
}

#[tokio::test]
async fn emails_are_unique_whatever_their_letter_case() {
    let test = TestApp::new().await;
    test.user("ann@example.com").await;
    let again = NewUser {
        email: "ANN@Example.com".into(),
        ..NewUser::default()
    };
    assert!(matches!(
        test.app.create_user(again).await,
        Err(AppError::EmailTaken)
    ));
}

#[tokio::test]
async fn a_session_for_a_user_that_does_not_exist_is_not_created() {
    let test = TestApp::new().await;
    let nobody = shared::tokens::new_user_id().unwrap();
    assert!(
        test.app
            .create_session(nobody, Duration::from_secs(60))
            .await
            .unwrap()
            .is_none()
    );
}
