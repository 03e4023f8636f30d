//! AWS's own emulator, `sam local invoke` and `sam local start-api`, on the
//! host-architecture build (`testkit::sam_local`, which needs root and Docker; `make
//! sam-local` requires it, `make test` runs it where it can).

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Value, json};
use testkit::examples::{self, ExampleTarget};
use testkit::local_api::LocalApi;
use testkit::sam_local::{self, SamLocal};
use testkit::{events, workspace_root};

/// The spec's examples against `sam local start-api`, with users made on `make run`'s store.
struct SamApi<'a> {
    base_url: String,
    store: &'a LocalApi,
}

impl ExampleTarget for SamApi<'_> {
    fn base_url(&self) -> &str {
        &self.base_url
    }

    fn new_user(&self) -> (String, String) {
        self.store.new_user()
    }

    fn user_id(&self, email: &str) -> String {
        self.store.user_id(email)
    }
}

/// `(status, headers, JSON body)` of a request to start-api, whatever its status.
fn call(
    base_url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, BTreeMap<String, String>, Value) {
    let reply = testkit::http::call(base_url, method, path, headers);
    (reply.status, reply.header_map(), reply.json())
}

/// `make sam-local` (and `make test` where it can): every event through `sam local invoke`
/// with the answers `testkit::events` expects, then `sam local start-api` against the
/// contract: the spec's examples, both slash forms, the v3 envelope, a session read, a
/// regenerate that kills the old token, and the places SAM answers otherwise than the
/// deployed REST API (docs/local-runs.md, "sam local"). The store is `make run`'s: DynamoDB Local with
/// one database for every access key (`-sharedDb`), since SAM gives the functions other
/// credentials than usersctl's. Afterwards nothing is left on the host.
#[test]
fn sam_local_runs_the_built_functions_as_the_contract_says() {
    let required = std::env::var("SAM_LOCAL").as_deref() == Ok("required");
    if let Some(reason) = sam_local::unavailable() {
        assert!(!required, "make sam-local cannot run here: {reason}");
        testkit::skip(&format!("sam local: {reason}"));
        return;
    }
    let store = crate::stack();
    let started = Instant::now();
    let sam = SamLocal::start();
    eprintln!(
        "sam local: Docker and the base image ready in {:.1?}",
        started.elapsed()
    );
    let endpoint = &store.env["AWS_ENDPOINT_URL_DYNAMODB"];
    let env_vars = sam.env_vars(endpoint);

    // Every event, through SAM's emulator.
    let started = Instant::now();
    let all = events::all();
    for event in &all {
        let demo = store.usersctl(&["seed-demo"]);
        let (answer, logs) = sam.invoke(&sam_local::logical_id(&event.function), &event.path, &env_vars);
        // SAM exits 0 whatever happened (a timeout, a crash): only the answer says.
        let response: Value = serde_json::from_str(answer.trim()).unwrap_or_else(|_| {
            panic!(
                "{}: sam local invoke printed no answer: {answer}\n{logs}",
                event.name()
            )
        });
        events::assert_answer(event, &response, &demo);
    }
    assert_eq!(all.len(), events::file_count() - 1, "every event checked");
    eprintln!(
        "sam local invoke: {} events in {:.1?} ({:.1?} each)",
        all.len(),
        started.elapsed(),
        started.elapsed() / all.len() as u32
    );

    // The API, through SAM's local API Gateway.
    let started = Instant::now();
    let server = sam.start_api(&env_vars);
    let base = server.base_url.clone();
    let (email, token) = store.new_user();
    let bearer = format!("Bearer {token}");
    for resource in ["/api/users/me", "/api/users/me/token", "/api/v3/auth/user"] {
        for path in [resource.to_string(), format!("{resource}/")] {
            let (status, _, body) = call(&base, "GET", &path, &[("Authorization", &bearer)]);
            assert_eq!(status, 200, "GET {path}: {body}");
        }
    }
    eprintln!(
        "sam local start-api: first requests (cold containers) in {:.1?}",
        started.elapsed()
    );
    let (_, _, me) = call(&base, "GET", "/api/users/me/", &[("Authorization", &bearer)]);
    assert_eq!(
        (&me["email"], &me["access_token"]),
        (&json!(email), &json!(token))
    );
    let (_, _, v3) = call(&base, "GET", "/api/v3/auth/user", &[("Authorization", &bearer)]);
    assert_eq!(
        (&v3["success"], &v3["errno"], &v3["error"], &v3["data"]["email"]),
        (&json!(true), &json!(0), &Value::Null, &json!(email))
    );
    // A session reads the token; a regenerate through it (with CSRF) kills the old one.
    let (sessionid, csrftoken) = store.new_session(&email);
    let cookie = format!("sessionid={sessionid}; csrftoken={csrftoken}");
    let (status, _, body) = call(&base, "GET", "/api/users/me/token/", &[("Cookie", &cookie)]);
    assert_eq!((status, &body["access_token"]), (200, &json!(token)));
    let csrf = [("Cookie", cookie.as_str()), ("X-CSRFToken", csrftoken.as_str())];
    let (status, _, body) = call(&base, "POST", "/api/users/me/token/regenerate/", &csrf);
    assert_eq!(status, 200, "{body}");
    let (status, headers, body) = call(&base, "GET", "/api/users/me/", &[("Authorization", &bearer)]);
    assert_eq!((status, &body), (401, &json!({"detail": "Not authenticated"})));
    // SAM passes the function's challenge through by its own name; a deployed REST API hands it
    // over as x-amzn-Remapped-WWW-Authenticate (and local-api, emulating it, does too).
    assert_eq!(
        headers.get("www-authenticate").map(String::as_str),
        Some(r#"Bearer error="invalid_token""#)
    );
    assert!(!headers.contains_key("x-amzn-remapped-www-authenticate"));
    // SAM ignores the template's gateway responses: an unknown route is its own 403, where the
    // deployed stack (and local-api) answers 404 {"message":"Not Found"}.
    let (status, _, body) = call(&base, "GET", "/api/unknown", &[("Authorization", &bearer)]);
    assert_eq!(
        (status, &body),
        (403, &json!({"message": "Missing Authentication Token"}))
    );

    let started = Instant::now();
    let tokens = examples::assert_all_print_what_the_spec_shows(&SamApi {
        base_url: base,
        store,
    });
    eprintln!(
        "sam local start-api: the spec's examples in {:.1?}",
        started.elapsed()
    );
    // The deployment check against SAM: what fails is exactly where SAM answers otherwise than
    // the deployed stack (docs/local-runs.md, "sam local"), nothing else.
    let output = std::process::Command::new(workspace_root().join("target/debug/usersctl"))
        .args([
            "verify-deployment",
            "--base-url",
            &server.base_url,
            "--origin",
            "https://app.example.com",
        ])
        .envs(&store.env)
        .output()
        .expect("usersctl runs");
    let report = String::from_utf8_lossy(&output.stdout);
    eprintln!("usersctl verify-deployment against sam local start-api:\n{report}");
    let failed: Vec<&str> = report
        .lines()
        .filter_map(|line| line.strip_prefix("FAIL  "))
        .collect();
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert_eq!(failed.len(), 4, "{report}");
    assert!(
        failed
            .iter()
            .all(|line| line.contains("the gateway's 404: expected 404, got 403")),
        "only the unknown routes, answered 403 by SAM: {report}"
    );
    let log = server.log();
    for token in &tokens {
        assert!(
            !log.contains(token.as_str()),
            "a token reached SAM's or a function's log"
        );
    }
    server.stop();
    let left = sam.shut_down();
    assert!(left.is_empty(), "sam local left behind: {left:#?}");
}
