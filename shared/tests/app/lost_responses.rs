//! A regenerate whose DynamoDB response is lost on the way back: the write happened, the
//! SDK's attempt times out and it sends the same request again. The client must still get
//! 200 with a token that works, and the old token must be dead, through either way in.

use std::time::Duration;

use serde_json::Value;
use shared::http::handlers;
use testkit::proxy::FaultProxy;
use testkit::{TestApp, bearer, parts, request, session_headers};

/// A test app whose store calls go through a proxy that can lose responses.
async fn app_behind_proxy() -> (TestApp, FaultProxy) {
    let direct = TestApp::new().await;
    let proxy = FaultProxy::start(testkit::dynamodb_local().address());
    let behind = TestApp::on(&proxy.endpoint(), direct.app.store().table(), None).await;
    (behind, proxy)
}

async fn call(test: &TestApp, method: &str, path: &str, headers: &[(&str, String)]) -> (u16, Value) {
    let request = request(method, path, headers);
    let response = match path {
        "/api/users/me/token/regenerate/" => handlers::regenerate_access_token(&test.app, request).await,
        "/api/users/me/token/" => handlers::get_access_token(&test.app, request).await,
        _ => handlers::get_current_user(&test.app, request).await,
    };
    parts(&response)
}

/// The regenerate through `headers` succeeds although its first response was lost.
async fn regenerate_losing_the_first_response(
    test: &TestApp,
    proxy: &FaultProxy,
    headers: &[(&str, String)],
) -> String {
    test.requests.take();
    proxy.lose_next_response();
    let started = std::time::Instant::now();
    let (status, body) = call(test, "POST", "/api/users/me/token/regenerate/", headers).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(proxy.responses_lost(), 1, "the first response was lost");
    assert_eq!(test.requests.take(), 2, "the SDK sent the request twice");
    eprintln!("regenerate with a lost response: 200 in {:?}", started.elapsed());
    body["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_bearer_regenerate_survives_a_lost_response() {
    let (test, proxy) = app_behind_proxy().await;
    let (_, old) = test.user("ann@example.com").await;
    let new = regenerate_losing_the_first_response(&test, &proxy, &[bearer(&old)]).await;
    assert_ne!(new, old.to_string());
    let (status, body) = call(&test, "GET", "/api/users/me/", &[bearer(&new)]).await;
    assert_eq!((status, &body["access_token"]), (200, &Value::from(new.clone())));
    assert_eq!(call(&test, "GET", "/api/users/me/", &[bearer(&old)]).await.0, 401);
    // The retry's acceptance is no loophole: the old token cannot regenerate again.
    let (status, _) = call(&test, "POST", "/api/users/me/token/regenerate/", &[bearer(&old)]).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_session_regenerate_survives_a_lost_response() {
    let (test, proxy) = app_behind_proxy().await;
    let (user, old) = test.user("ann@example.com").await;
    let session = test.session(&user, Duration::from_secs(3600)).await;
    let new = regenerate_losing_the_first_response(&test, &proxy, &session_headers(&session, true)).await;
    assert_ne!(new, old.to_string());
    let (status, body) = call(
        &test,
        "GET",
        "/api/users/me/token/",
        &session_headers(&session, false),
    )
    .await;
    assert_eq!((status, &body["access_token"]), (200, &Value::from(new.clone())));
    assert_eq!(call(&test, "GET", "/api/users/me/", &[bearer(&new)]).await.0, 200);
    assert_eq!(call(&test, "GET", "/api/users/me/", &[bearer(&old)]).await.0, 401);
}
