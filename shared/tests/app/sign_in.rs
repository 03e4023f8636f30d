//! Sign-in and sign-out against DynamoDB Local: the session a login opens works for the
//! session endpoints, a wrong password and an unknown email get the same 401, the brute-force
//! limit refuses without checking the password, a form post works as JSON does, and the round
//! trips are what docs/security.md says (login: 2, a refused one: 1 or 2, logout: 1).

use std::time::Duration;

use lambda_http::http::header::{RETRY_AFTER, SET_COOKIE};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::http::handlers;
use shared::lockout::MAX_FAILURES;
use shared::users::User;
use testkit::{TestApp, parts, session_headers};

const PASSWORD: &str = "correct horse battery staple";

async fn user_with_password(test: &TestApp, email: &str) -> User {
    let (user, _) = test.user(email).await;
    assert!(test.app.set_password(&user, PASSWORD).await.unwrap());
    test.requests.take();
    user
}

fn login_request(content_type: &str, body: &str) -> Request {
    lambda_http::http::Request::builder()
        .method("POST")
        .uri("/api/auth/login/")
        .header("content-type", content_type)
        .body(Body::Text(body.to_string()))
        .unwrap()
}

async fn login(test: &TestApp, email: &str, password: &str) -> Response<Body> {
    let body = json!({"email": email, "password": password}).to_string();
    handlers::login(&test.app, login_request("application/json", &body)).await
}

fn cookies(response: &Response<Body>) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().to_string())
        .collect()
}

/// `name=value` of the cookie `name` set by the response.
fn cookie_value(response: &Response<Body>, name: &str) -> String {
    cookies(response)
        .iter()
        .find_map(|cookie| {
            cookie
                .strip_prefix(&format!("{name}="))
                .map(|rest| rest.split(';').next().unwrap().to_string())
        })
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", cookies(response)))
}

#[tokio::test]
async fn a_login_opens_a_session_that_reads_and_regenerates_the_token() {
    let test = TestApp::new().await;
    let user = user_with_password(&test, "ann@example.com").await;
    let response = login(&test, "ANN@example.com", PASSWORD).await;
    let set = cookies(&response);
    let (status, body) = parts(&response);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"external_id": user.id.to_string(), "is_authenticated": true})
    );
    assert_eq!(test.requests.take(), 2, "one read of the claim, one transaction");
    assert!(
        set[0].starts_with("sessionid=")
            && set[0].ends_with("; Max-Age=1209600; Path=/; Secure; SameSite=Lax; HttpOnly"),
        "{set:?}"
    );
    assert!(
        set[1].starts_with("csrftoken=")
            && set[1].ends_with("; Max-Age=1209600; Path=/; Secure; SameSite=Lax"),
        "{set:?}"
    );

    let sessionid = cookie_value(&response, "sessionid");
    let csrftoken = cookie_value(&response, "csrftoken");
    let cookie = format!("sessionid={sessionid}; csrftoken={csrftoken}");
    let read = testkit::request("GET", "/api/users/me/token/", &[("cookie", cookie.clone())]);
    let (status, token) = parts(&handlers::get_access_token(&test.app, read).await);
    assert_eq!(status, 200);
    assert_eq!(
        token["access_token"],
        test.app.access_token(&user).await.unwrap().to_string()
    );
    let regenerate = testkit::request(
        "POST",
        "/api/users/me/token/regenerate/",
        &[("cookie", cookie), ("x-csrftoken", csrftoken)],
    );
    assert_eq!(
        parts(&handlers::regenerate_access_token(&test.app, regenerate).await).0,
        200
    );
}

#[tokio::test]
async fn a_form_post_signs_in_as_json_does_and_bad_bodies_are_400s() {
    let test = TestApp::new().await;
    user_with_password(&test, "bob@example.com").await;
    let form = "email=bob%40example.com&password=correct+horse+battery+staple";
    let response = handlers::login(
        &test.app,
        login_request("application/x-www-form-urlencoded", form),
    )
    .await;
    assert_eq!(parts(&response).0, 200);
    test.requests.take();
    for (content_type, body) in [
        ("application/json", "{\"email\": \"bob@example.com\"}"),
        ("application/json", "not json"),
        ("application/json", "{\"email\": 1, \"password\": 2}"),
        ("text/plain", "email=bob@example.com&password=x"),
        ("application/json", ""),
    ] {
        let (status, body) = parts(&handlers::login(&test.app, login_request(content_type, body)).await);
        assert_eq!(status, 400, "{content_type} {body}");
        assert!(body["detail"].as_str().unwrap().contains("password"), "{body}");
    }
    assert_eq!(test.requests.take(), 0, "a bad body costs no read");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let test = TestApp::new().await;
    user_with_password(&test, "cat@example.com").await;
    let wrong = login(&test, "cat@example.com", "not the password").await;
    assert!(cookies(&wrong).is_empty());
    let (status, body) = parts(&wrong);
    assert_eq!(test.requests.take(), 2, "the claim read, the failure counted");
    let unknown = login(&test, "nobody@example.com", "not the password").await;
    assert_eq!(parts(&unknown), (status, body.clone()));
    // The same round trips (timing does not tell which emails have accounts), and the
    // conditional write finds nothing to write.
    assert_eq!(
        test.requests.operations(),
        ["DynamoDB_20120810.GetItem", "DynamoDB_20120810.UpdateItem"],
        "the claim read, the same conditional write"
    );
    test.requests.take();
    let found = test
        .app
        .store()
        .get_sign_in(&shared::users::Email::lookup("nobody@example.com"))
        .await
        .unwrap();
    assert!(found.is_none(), "nothing is written for an unknown email");
    assert_eq!(
        (status, body),
        (401, json!({"detail": "Invalid email or password."}))
    );
    // No password set yet: the same refusal.
    test.user("dan@example.com").await;
    assert_eq!(parts(&login(&test, "dan@example.com", "").await).0, 401);
}

#[tokio::test]
async fn after_the_limit_an_account_is_refused_without_checking_the_password() {
    let test = TestApp::new().await;
    user_with_password(&test, "eve@example.com").await;
    for _ in 0..MAX_FAILURES {
        assert_eq!(parts(&login(&test, "eve@example.com", "guess").await).0, 401);
    }
    test.requests.take();
    let refused = login(&test, "eve@example.com", PASSWORD).await;
    let retry_after: u64 = refused.headers()[RETRY_AFTER].to_str().unwrap().parse().unwrap();
    let (status, body) = parts(&refused);
    assert_eq!(status, 429);
    assert_eq!(
        body,
        json!({"detail": "Too many failed sign-in attempts; try again later."})
    );
    assert!((1..=15 * 60).contains(&retry_after), "{retry_after}");
    assert_eq!(
        test.requests.take(),
        1,
        "the claim read, nothing else: no password check, no write"
    );
    // An administrator's new password opens the account again.
    let user = test
        .app
        .store()
        .find_user_id(&shared::users::Email::lookup("eve@example.com"))
        .await
        .unwrap()
        .unwrap();
    let user = test.app.store().get_user(user).await.unwrap().unwrap();
    test.app
        .set_password(&user, "a brand new password")
        .await
        .unwrap();
    assert_eq!(
        parts(&login(&test, "eve@example.com", "a brand new password").await).0,
        200
    );
}

#[tokio::test]
async fn concurrent_wrong_passwords_are_all_counted() {
    let test = std::sync::Arc::new(TestApp::new().await);
    user_with_password(&test, "fay@example.com").await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..MAX_FAILURES {
        let test = std::sync::Arc::clone(&test);
        tasks.spawn(async move { parts(&login(&test, "fay@example.com", "guess").await).0 });
    }
    assert!(tasks.join_all().await.iter().all(|status| *status == 401));
    assert_eq!(parts(&login(&test, "fay@example.com", PASSWORD).await).0, 429);
}

#[tokio::test]
async fn logout_ends_the_session_in_one_write_and_needs_csrf() {
    let test = TestApp::new().await;
    let (user, _) = test.user("gus@example.com").await;
    let session = test.session(&user, Duration::from_secs(600)).await;
    test.requests.take();
    let without_csrf = testkit::request("POST", "/api/auth/logout/", &session_headers(&session, false));
    let (status, body): (u16, Value) = parts(&handlers::logout(&test.app, without_csrf).await);
    assert_eq!(
        (status, body),
        (403, json!({"detail": "CSRF Failed: CSRF token missing."}))
    );
    assert_eq!(test.requests.take(), 0);

    let logout = testkit::request("POST", "/api/auth/logout/", &session_headers(&session, true));
    let response = handlers::logout(&test.app, logout).await;
    assert_eq!(response.status(), 204);
    assert_eq!(test.requests.take(), 1, "one DeleteItem");
    let set = cookies(&response);
    assert!(
        set.iter().any(|c| c.starts_with("sessionid=\"\"; Max-Age=0")),
        "{set:?}"
    );
    assert!(
        set.iter().any(|c| c.starts_with("csrftoken=\"\"; Max-Age=0")),
        "{set:?}"
    );
    let read = testkit::request("GET", "/api/users/me/token/", &session_headers(&session, false));
    assert_eq!(
        parts(&handlers::get_access_token(&test.app, read).await).0,
        401,
        "the session is gone"
    );

    let no_session = testkit::request("POST", "/api/auth/logout/", &[]);
    assert_eq!(parts(&handlers::logout(&test.app, no_session).await).0, 401);
}
