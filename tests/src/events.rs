//! The files in events/ and what each must answer, in one place for every way a function is
//! invoked with them: the built binaries behind testkit's Runtime API (tests/functions/events.rs) and
//! `sam local invoke` under AWS's own emulator (tests/http/sam_local.rs (the glibc check: tests/deployment/bootstraps.rs)). Their credentials are the demo
//! user's and session's (`usersctl seed-demo`, under the public development key).

use std::path::PathBuf;

use serde_json::{Map, Value, json};

use crate::workspace_root;

/// The public development key the demo credentials in events/ are made with.
pub const DEV_KEY: &str = "dev-only-insecure-token-key-do-not-deploy";

/// The functions, as `functions/` and the template's `Binary:` name them.
pub const FUNCTIONS: [&str; 7] = [
    "get-current-user",
    "get-access-token",
    "regenerate-access-token",
    "get-auth-user",
    "login",
    "logout",
    "account-page",
];

/// One file of events/: `<function>.<case>.json`.
pub struct Event {
    pub function: String,
    pub case: String,
    pub path: PathBuf,
    pub text: String,
}

impl Event {
    /// `function.case`, as messages name it.
    pub fn name(&self) -> String {
        format!("{}.{}", self.function, self.case)
    }
}

/// Every event of events/ (all files but `local-env.json`), by function then case.
pub fn all() -> Vec<Event> {
    let dir = workspace_root().join("events");
    let mut events: Vec<Event> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.strip_suffix(".json")?.to_string();
            let (function, case) = name.split_once('.')?;
            FUNCTIONS.contains(&function).then(|| Event {
                function: function.to_string(),
                case: case.to_string(),
                text: std::fs::read_to_string(&path).expect("an event file is readable"),
                path,
            })
        })
        .collect();
    events.sort_by_key(Event::name);
    events
}

/// How many files events/ holds: each is an event, but `local-env.json`.
pub fn file_count() -> usize {
    std::fs::read_dir(workspace_root().join("events"))
        .map(|entries| entries.count())
        .unwrap_or_default()
}

/// Fails the caller unless `response` (a REST API proxy response, as the function printed
/// it) is what the contract says `event` gets. `demo` is `usersctl seed-demo`'s output,
/// seeded afresh before the event (a regenerate must not spoil the next one).
pub fn assert_answer(event: &Event, response: &Value, demo: &Value) {
    let name = event.name();
    let status = &response["statusCode"];
    // lambda_http puts every header in multiValueHeaders; the first of each is enough here.
    let headers: Map<String, Value> = response["multiValueHeaders"]
        .as_object()
        .unwrap_or_else(|| panic!("{name}: no multiValueHeaders in {response}"))
        .iter()
        .map(|(header, values)| (header.to_ascii_lowercase(), values[0].clone()))
        .collect();
    let header = |header: &str| headers.get(header).and_then(Value::as_str);
    let body = response["body"].as_str().unwrap_or_default();
    match (event.function.as_str(), event.case.as_str()) {
        (_, "preflight") => {
            // A browser on the configured origin may send the POST with its credentials.
            assert_eq!(status, 204, "{name}: {response}");
            assert_eq!(
                header("access-control-allow-origin"),
                Some("https://app.example.com"),
                "{name}"
            );
            assert_eq!(header("access-control-allow-credentials"), Some("true"), "{name}");
            assert_eq!(
                header("access-control-allow-methods"),
                Some("POST, OPTIONS"),
                "{name}"
            );
            assert_eq!(
                header("access-control-allow-headers"),
                Some("Authorization, Content-Type, X-CSRFToken"),
                "{name}"
            );
            return;
        }
        ("logout", "session") => {
            // Signed out: no body, and both cookies expired.
            assert_eq!(status, 204, "{name}: {response}");
            let cookies = response["multiValueHeaders"]["set-cookie"].to_string();
            assert!(
                cookies.contains("sessionid=\\\"\\\"; Max-Age=0"),
                "{name}: {cookies}"
            );
            return;
        }
        ("account-page", _) => {
            assert_eq!(status, 200, "{name}: {response}");
            assert_eq!(header("content-type"), Some("text/html; charset=utf-8"), "{name}");
            assert_eq!(header("x-frame-options"), Some("DENY"), "{name}");
            assert!(body.contains("<form id=\"sign-in\""), "{name}: {body}");
            return;
        }
        _ => {}
    }
    let (expected_status, challenge, expected_body) = expected(&event.function, &event.case, demo);
    assert_eq!(status, expected_status, "{name}: {response}");
    assert_eq!(header("content-type"), Some("application/json"), "{name}");
    assert_eq!(header("www-authenticate"), challenge, "{name}");
    let actual: Value = serde_json::from_str(body).unwrap_or_else(|error| panic!("{name}: {error}: {body}"));
    match expected_body {
        Some(expected) => assert_eq!(actual, expected, "{name}"),
        None if event.function == "regenerate-access-token" => {
            let new = actual["access_token"].as_str().unwrap_or_default();
            assert!(
                new.len() == 100 && new != demo["access_token"],
                "{name}: {actual}"
            );
        }
        None if event.function == "get-current-user" => {
            assert_eq!(actual["email"], demo["email"], "{name}");
            assert_eq!(actual["access_token"], demo["access_token"], "{name}");
        }
        None => {
            assert_eq!(actual["data"]["id"], demo["id"], "{name}");
            assert_eq!(actual["success"], true, "{name}");
        }
    }
}

/// What the contract says a JSON case answers: status, `WWW-Authenticate`, body (`None`:
/// checked by [`assert_answer`] itself).
fn expected(function: &str, case: &str, demo: &Value) -> (u16, Option<&'static str>, Option<Value>) {
    let unauthorized = if function == "get-auth-user" {
        json!({"data": null, "success": false, "errno": -100000, "error": "Invalid or expired token"})
    } else {
        json!({"detail": "Not authenticated"})
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
