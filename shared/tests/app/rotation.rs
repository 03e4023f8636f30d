//! Key rotation and the token format against DynamoDB Local: a token or session made under
//! the previous key keeps working (and `GET .../token/` returns the token unchanged) until it
//! is regenerated; anything under a key that is not ours, or with a tag our key did not make,
//! is refused before it costs a read; a superseded token is logged as such.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use lambda_http::{Body, Response};
use serde_json::{Value, json};
use shared::http::handlers;
use shared::tokens::{KeyRing, TokenKey};
use testkit::{TestApp, bearer, parts, request, session_headers};

fn key(text: &str) -> TokenKey {
    TokenKey::new(text.as_bytes()).unwrap()
}

const OLD: &str = "the key before the rotation, 32 bytes or more";
const NEW: &str = "the key after the rotation, 32 bytes or more!!";

/// Apps on one table: before the rotation, after it, and with neither key.
async fn apps() -> (TestApp, TestApp, TestApp) {
    let before = TestApp::new().await;
    let (endpoint, table) = (
        testkit::dynamodb_local().endpoint(),
        before.app.store().table().to_string(),
    );
    let before = TestApp::with_keys(endpoint, &table, None, KeyRing::single(key(OLD))).await;
    let after = KeyRing::new(key(NEW), Some(key(OLD))).unwrap();
    let after = TestApp::with_keys(endpoint, &table, None, after).await;
    let stranger = KeyRing::single(key("a key that made none of this, 32+ bytes"));
    let stranger = TestApp::with_keys(endpoint, &table, None, stranger).await;
    (before, after, stranger)
}

async fn get(test: &TestApp, path: &str, headers: &[(&str, String)]) -> (u16, Value) {
    let request = request("GET", path, headers);
    let response: Response<Body> = match path {
        "/api/users/me/token/" => handlers::get_access_token(&test.app, request).await,
        "/api/v3/auth/user" => handlers::get_auth_user(&test.app, request).await,
        _ => handlers::get_current_user(&test.app, request).await,
    };
    parts(&response)
}

async fn regenerate(test: &TestApp, headers: &[(&str, String)]) -> (u16, Value) {
    let request = request("POST", "/api/users/me/token/regenerate/", headers);
    parts(&handlers::regenerate_access_token(&test.app, request).await)
}

#[tokio::test]
async fn what_the_previous_key_made_keeps_working_until_it_is_regenerated() {
    let (before, after, _) = apps().await;
    let (user, old) = before.user("ann@example.com").await;
    let session = before.session(&user, Duration::from_secs(600)).await;

    for path in ["/api/users/me/", "/api/v3/auth/user"] {
        assert_eq!(get(&after, path, &[bearer(&old)]).await.0, 200, "{path}");
    }
    let unchanged = (200, json!({"access_token": old.to_string()}));
    assert_eq!(
        get(&after, "/api/users/me/token/", &[bearer(&old)]).await,
        unchanged
    );
    assert_eq!(
        get(&after, "/api/users/me/token/", &session_headers(&session, false)).await,
        unchanged,
        "a session made under the previous key, and the token it returns"
    );

    let (status, body) = regenerate(&after, &session_headers(&session, true)).await;
    assert_eq!(status, 200, "{body}");
    let new: shared::tokens::AccessToken = body["access_token"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        new.key_id(),
        key(NEW).id(),
        "a regenerate makes it under the current key"
    );
    assert_eq!(get(&after, "/api/users/me/", &[bearer(&new)]).await.0, 200);
    assert_eq!(get(&after, "/api/users/me/", &[bearer(&old)]).await.0, 401);
    // A process still on the old key alone does not know the new key.
    assert_eq!(get(&before, "/api/users/me/", &[bearer(&new)]).await.0, 401);
}

#[tokio::test]
async fn a_token_or_session_under_a_key_not_ours_is_refused_at_zero_reads() {
    let (before, _, stranger) = apps().await;
    let (user, token) = before.user("ann@example.com").await;
    let session = before.session(&user, Duration::from_secs(600)).await;
    stranger.requests.take();
    let refused = (401, json!({"detail": "Not authenticated"}));
    assert_eq!(get(&stranger, "/api/users/me/", &[bearer(&token)]).await, refused);
    assert_eq!(regenerate(&stranger, &[bearer(&token)]).await, refused);
    assert_eq!(
        get(
            &stranger,
            "/api/users/me/token/",
            &session_headers(&session, false)
        )
        .await,
        refused
    );
    assert_eq!(
        regenerate(&stranger, &session_headers(&session, true)).await,
        refused
    );
    assert_eq!(stranger.requests.take(), 0, "no read, no write");
}

#[tokio::test]
async fn a_tag_our_key_did_not_make_is_refused_at_zero_reads() {
    let test = TestApp::new().await;
    let (user, token) = test.user("ann@example.com").await;
    let session = test.session(&user, Duration::from_secs(600)).await;
    let forged_token = testkit::forged(&token);
    // The session id's last byte is in its tag.
    let mut forged_session = session.session_id.to_string();
    let last = forged_session.pop().unwrap();
    forged_session.push(if last == 'A' { 'B' } else { 'A' });
    test.requests.take();
    let refused = (401, json!({"detail": "Not authenticated"}));
    assert_eq!(
        get(&test, "/api/users/me/", &[bearer(&forged_token)]).await,
        refused
    );
    let cookie = ("cookie", format!("sessionid={forged_session}"));
    assert_eq!(get(&test, "/api/users/me/token/", &[cookie]).await, refused);
    assert_eq!(test.requests.take(), 0, "no read");
    // The genuine ones still work.
    assert_eq!(get(&test, "/api/users/me/", &[bearer(&token)]).await.0, 200);
}

/// Log lines written by this test binary's functions (the global subscriber's output).
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    Arc::clone(LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        tracing_subscriber::fmt()
            .json()
            .with_writer(move || Sink(Arc::clone(&sink)))
            .init();
        logs
    }))
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_superseded_token_is_logged_apart_from_forgeries_with_the_user_id_only() {
    let logs = logs();
    let test = TestApp::new().await;
    let (user, old) = test.user("ann@example.com").await;
    let (status, _) = regenerate(&test, &[bearer(&old)]).await;
    assert_eq!(status, 200);
    assert_eq!(get(&test, "/api/users/me/", &[bearer(&old)]).await.0, 401);
    assert_eq!(
        get(&test, "/api/users/me/", &[bearer(&testkit::forged(&old))])
            .await
            .0,
        401
    );
    let written = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    let superseded: Vec<Value> = written
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["fields"]["event"] == "superseded_token")
        .filter(|line| line["fields"]["user_id"] == user.id.to_string())
        .collect();
    assert_eq!(
        superseded.len(),
        1,
        "one superseded token, the forgery not among them: {written}"
    );
    assert!(
        !written.contains(&old.to_string()),
        "the token itself is never logged"
    );
}
