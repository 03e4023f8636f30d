//! Every file in events/ through the real function binaries and a Lambda Runtime API, as
//! `sam local invoke` or `cargo lambda invoke` would run them, so the events never rot.
//! Their credentials are the demo user's (`usersctl seed-demo`, under the public dev key).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use testkit::runtime_api::{Outcome, RuntimeApi};
use testkit::workspace_root;

const DEV_KEY: &str = "dev-only-insecure-token-key-do-not-deploy";

/// The settings the functions and usersctl get: the test binary's DynamoDB Local, a fresh
/// table, and the public dev key the demo credentials in events/ are made with.
fn settings(table: &str) -> Vec<(&'static str, String)> {
    let mut settings = testkit::function_settings(table);
    settings.retain(|(name, _)| *name != "TOKEN_KEY");
    settings.extend([
        ("TOKEN_KEY", DEV_KEY.into()),
        ("ALLOWED_ORIGINS", "https://app.example.com".into()),
        ("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true".into()),
    ]);
    settings
}

fn usersctl(settings: &[(&str, String)], args: &[&str]) -> Value {
    testkit::usersctl(settings.iter().map(|(name, value)| (name, value)), args)
}

/// The events of one function: `case -> event JSON`.
fn events_of(function: &str) -> BTreeMap<String, String> {
    let mut events = BTreeMap::new();
    for entry in std::fs::read_dir(workspace_root().join("events")).unwrap() {
        let path: PathBuf = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if let Some(case) = name
            .strip_prefix(&format!("{function}."))
            .and_then(|rest| rest.strip_suffix(".json"))
        {
            events.insert(case.to_string(), std::fs::read_to_string(&path).unwrap());
        }
    }
    events
}

/// What the contract says each case answers: status, `WWW-Authenticate`, body (`None`: checked apart).
fn expected(function: &str, case: &str, demo: &Value) -> (u16, Option<&'static str>, Option<Value>) {
    let v1_401 = json!({"detail": "Not authenticated"});
    let v3_401 =
        json!({"data": null, "success": false, "errno": -100000, "error": "Invalid or expired token"});
    let unauthorized = if function == "get-auth-user" {
        v3_401
    } else {
        v1_401
    };
    let token = json!({"access_token": demo["access_token"]});
    match (function, case) {
        (_, "missing-credential") => (401, Some("Bearer"), Some(unauthorized)),
        (_, "malformed-header") => (401, Some(r#"Bearer error="invalid_token""#), Some(unauthorized)),
        // Bearer-only endpoints do not look at the session cookie.
        ("get-current-user" | "get-auth-user", "session") => (401, Some("Bearer"), Some(unauthorized)),
        ("get-access-token", "bearer" | "session" | "session-among-other-cookies") => {
            (200, None, Some(token))
        }
        ("login", "json-body" | "form-body") => (
            200,
            None,
            Some(json!({"external_id": demo["id"], "is_authenticated": true})),
        ),
        ("login", "wrong-password") => (
            401,
            Some("Bearer"),
            Some(json!({"detail": "Invalid email or password."})),
        ),
        ("regenerate-access-token" | "logout", "session-without-csrf") => (
            403,
            None,
            Some(json!({"detail": "CSRF Failed: CSRF token missing."})),
        ),
        _ => (200, None, None),
    }
}

#[test]
fn every_event_gets_the_contracts_answer_from_the_built_function() {
    let table = format!("events-{}", testkit::free_port());
    let settings = settings(&table);
    usersctl(&settings, &["create-table"]);
    let env: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut checked = 0;
    for function in [
        "get-current-user",
        "get-access-token",
        "regenerate-access-token",
        "get-auth-user",
        "login",
        "logout",
        "account-page",
    ] {
        let events = events_of(function);
        assert!(!events.is_empty(), "{function} has events");
        let binary = workspace_root().join("target/debug").join(function);
        let (api, _) = RuntimeApi::with_function(&binary, &env, Stdio::null());
        for (case, event) in &events {
            // A fresh demo each time: a regenerate event must not spoil the next one.
            let demo = usersctl(&settings, &["seed-demo"]);
            let Outcome::Response(response) = api.invoke(event, Duration::from_secs(10)) else {
                panic!("{function}.{case}: the function reported an error");
            };
            let response: Value = serde_json::from_str(&response).unwrap();
            // A REST API proxy response: lambda_http puts every header in multiValueHeaders.
            let headers: serde_json::Map<String, Value> = response["multiValueHeaders"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(name, values)| (name.clone(), values[0].clone()))
                .collect();
            let headers = Value::Object(headers);
            if case == "preflight" {
                // A browser on the configured origin may send the POST with its credentials.
                assert_eq!(response["statusCode"], 204, "{function}.{case}: {response}");
                assert_eq!(headers["access-control-allow-origin"], "https://app.example.com");
                assert_eq!(headers["access-control-allow-credentials"], "true");
                assert_eq!(headers["access-control-allow-methods"], "POST, OPTIONS");
                assert_eq!(
                    headers["access-control-allow-headers"],
                    "Authorization, Content-Type, X-CSRFToken"
                );
                checked += 1;
                continue;
            }
            if function == "logout" && case == "session" {
                // Signed out: no body, and both cookies expired.
                assert_eq!(response["statusCode"], 204, "{function}.{case}: {response}");
                let cookies = &response["multiValueHeaders"]["set-cookie"];
                assert!(
                    cookies.to_string().contains("sessionid=\\\"\\\"; Max-Age=0"),
                    "{cookies}"
                );
                checked += 1;
                continue;
            }
            if function == "account-page" {
                assert_eq!(response["statusCode"], 200, "{function}.{case}: {response}");
                assert_eq!(headers["content-type"], "text/html; charset=utf-8");
                assert_eq!(headers["x-frame-options"], "DENY");
                assert!(
                    response["body"]
                        .as_str()
                        .unwrap()
                        .contains("<form id=\"sign-in\"")
                );
                checked += 1;
                continue;
            }
            let (status, challenge, body) = expected(function, case, &demo);
            assert_eq!(response["statusCode"], status, "{function}.{case}: {response}");
            assert_eq!(headers["content-type"], "application/json", "{function}.{case}");
            assert_eq!(
                headers.get("www-authenticate").and_then(Value::as_str),
                challenge,
                "{function}.{case}"
            );
            let actual: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
            match body {
                Some(body) => assert_eq!(actual, body, "{function}.{case}"),
                None if function == "regenerate-access-token" => {
                    let new = actual["access_token"].as_str().unwrap();
                    assert!(
                        new.len() == 100 && new != demo["access_token"],
                        "{function}.{case}: {actual}"
                    );
                }
                None if function == "get-current-user" => {
                    assert_eq!(actual["email"], demo["email"], "{function}.{case}");
                    assert_eq!(actual["access_token"], demo["access_token"], "{function}.{case}");
                }
                None => {
                    assert_eq!(actual["data"]["id"], demo["id"], "{function}.{case}");
                    assert_eq!(actual["success"], true, "{function}.{case}");
                }
            }
            checked += 1;
        }
    }
    let files = std::fs::read_dir(workspace_root().join("events"))
        .unwrap()
        .count();
    assert_eq!(
        checked,
        files - 1,
        "every event checked (all files but local-env.json)"
    );
}
