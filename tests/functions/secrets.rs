//! The token keys in Secrets Manager, as the deployed stack keeps them: the functions read
//! AWSCURRENT at init and AWSPREVIOUS when a request needs it (from moto's server, a real
//! Secrets Manager emulator), and a rotation (`put-secret-value`) logs nobody out.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use testkit::runtime_api::{Launch, RuntimeApi};
use testkit::{TestApp, workspace_root};

const FIRST_KEY: &str = "the first key in the secret, 32 bytes or more";
const SECOND_KEY: &str = "the second key, after a rotation, 32+ bytes long";

/// A function's environment: the test's stores, its keys in the secret `arn`.
fn settings(table: &str, arn: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "AWS_ENDPOINT_URL_DYNAMODB",
            testkit::dynamodb_local().endpoint().to_string(),
        ),
        (
            "AWS_ENDPOINT_URL_SECRETS_MANAGER",
            testkit::moto().endpoint().to_string(),
        ),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "local".into()),
        ("AWS_SECRET_ACCESS_KEY", "local".into()),
        ("TABLE_NAME", table.into()),
        ("TOKEN_KEY_SECRET_ARN", arn.into()),
    ]
}

/// A function process whose keys are in the secret `arn`.
fn start(function: &str, table: &str, arn: &str) -> RuntimeApi {
    let mut settings = settings(table, arn);
    settings.push(("AWS_LAMBDA_LOG_LEVEL", "info".into()));
    let binary = workspace_root().join("target/debug").join(function);
    let (api, _) = RuntimeApi::with_function(&binary, &settings, Stdio::null());
    api
}

/// `(status, body)` of the function's bearer event with `token`.
fn call(api: &RuntimeApi, function: &str, token: &str) -> (u64, Value) {
    api.call(&testkit::bearer_event(function, token))
}

/// The rotation: the second key becomes AWSCURRENT, the first AWSPREVIOUS.
async fn rotate(arn: &str) {
    testkit::secrets_client()
        .put_secret_value()
        .secret_id(arn)
        .secret_string(SECOND_KEY)
        .send()
        .await
        .unwrap();
}

/// A fresh table and secret (holding the first key), and a user whose token the first key
/// made (usersctl's way: the key from the secret): `(test, table, secret ARN, token)`.
async fn user_under_the_first_key(email: &str) -> (TestApp, String, String, String) {
    let test = TestApp::new().await;
    let table = test.app.store().table().to_string();
    let arn = testkit::create_secret(&format!("token-key-{}", testkit::free_port()), FIRST_KEY).await;
    let created = testkit::usersctl(settings(&table, &arn), &["create-user", "--email", email]);
    let token = created["access_token"].as_str().unwrap().to_string();
    (test, table, arn, token)
}

#[tokio::test]
async fn functions_read_their_keys_from_the_secret_and_a_rotation_logs_nobody_out() {
    let (_test, table, arn, old_token) = user_under_the_first_key("ann@example.com").await;
    let before = start("get-access-token", &table, &arn);
    assert_eq!(call(&before, "get-access-token", &old_token).0, 200);

    rotate(&arn).await;
    let after = start("regenerate-access-token", &table, &arn);
    let reader = start("get-access-token", &table, &arn);
    // The old token still works, and is the one GET .../token/ returns, unchanged.
    let (status, body) = call(&reader, "get-access-token", &old_token);
    assert_eq!((status, body), (200, json!({"access_token": old_token})));
    // A regenerate makes a token under the new key...
    let (status, body) = call(&after, "regenerate-access-token", &old_token);
    assert_eq!(status, 200, "{body}");
    let new_token = body["access_token"].as_str().unwrap().to_string();
    assert_ne!(&new_token[4..12], &old_token[4..12], "a new key id");
    // ...which the process started before the rotation learns of (it reads the secret again).
    let (status, body) = call(&before, "get-access-token", &new_token);
    assert_eq!((status, body), (200, json!({"access_token": new_token})));
    assert_eq!(
        call(&before, "get-access-token", &old_token).0,
        401,
        "the old token is dead"
    );
}

/// `get-access-token`'s session event with this `sessionid`.
fn session_event(sessionid: &str) -> String {
    let path = workspace_root().join("events/get-access-token.session.json");
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cookie = format!("sessionid={sessionid}");
    event["headers"]["Cookie"] = json!(cookie);
    event["multiValueHeaders"]["Cookie"] = json!([cookie]);
    event.to_string()
}

#[tokio::test]
async fn a_session_made_after_a_rotation_gets_the_token_the_previous_key_made() {
    let (_test, table, arn, old_token) = user_under_the_first_key("bo@example.com").await;
    rotate(&arn).await;
    // A sign-in after the rotation: the session is under the new key, the token still under
    // the previous one. A process started now has read only the new key at its init.
    let session = testkit::usersctl(
        settings(&table, &arn),
        &["create-session", "--email", "bo@example.com", "--ttl", "3600"],
    );
    let sessionid = session["sessionid"].as_str().unwrap();
    let fresh = start("get-access-token", &table, &arn);
    let (status, body) = fresh.call(&session_event(sessionid));
    assert_eq!((status, body), (200, json!({"access_token": old_token})));
}

#[tokio::test]
async fn a_function_whose_secret_cannot_be_read_fails_its_init_with_the_reason() {
    let test = TestApp::new().await;
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-secret";
    let settings = settings(test.app.store().table(), arn);
    let log_path = std::env::temp_dir().join(format!("init-error-{}.log", testkit::free_port()));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut api = RuntimeApi::start();
    // Lambda keeps stdout and stderr alike in the log group: both go to the file here.
    let both_streams = Launch {
        wrapper: vec!["sh".into(), "-c".into(), r#"exec "$0" 2>&1"#.into()],
        ..Launch::default()
    };
    let binary = workspace_root().join("target/debug/get-current-user");
    api.spawn_function_with(&binary, &settings, Stdio::from(log), &both_streams);
    // Lambda reports an init that exits as Runtime.ExitError and keeps the process's output in
    // the function's log group: the reason must be there.
    let error = api
        .try_wait_for_init(Duration::from_secs(30))
        .unwrap_err()
        .to_string();
    assert!(error.contains("exited"), "{error}");
    let output = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    assert!(
        output.contains("secret:no-such-secret does not exist"),
        "{output}"
    );
}
