//! A store outage under warm function processes: DynamoDB Local stopped, then an endpoint
//! that accepts connections but never answers, then DynamoDB back on the same port with
//! the same data. Every endpoint answers the contract's 503 within the SDK's time budget,
//! never hangs, never panics, and the same processes serve again with nothing lost.

use std::net::TcpListener;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use testkit::runtime_api::{Outcome, RuntimeApi};
use testkit::{free_port, start_dynamodb_local_persistent, workspace_root};

const FUNCTIONS: [&str; 4] = [
    "get-current-user",
    "get-access-token",
    "regenerate-access-token",
    "get-auth-user",
];

/// Lambda's timeout in template.yaml: a 503 must come well before it.
const LAMBDA_TIMEOUT: Duration = Duration::from_secs(5);

fn event(function: &str, case: &str) -> String {
    std::fs::read_to_string(workspace_root().join(format!("events/{function}.{case}.json"))).unwrap()
}

/// `(status, body)` of one invocation, and how long it took.
fn invoke(api: &RuntimeApi, event: &str) -> ((u64, Value), Duration) {
    let started = Instant::now();
    let Outcome::Response(response) = api.invoke(event, Duration::from_secs(30)) else {
        panic!("the function reported an error instead of answering");
    };
    let elapsed = started.elapsed();
    let response: Value = serde_json::from_str(&response).unwrap();
    let body = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    ((response["statusCode"].as_u64().unwrap(), body), elapsed)
}

fn unavailable(function: &str) -> Value {
    if function == "get-auth-user" {
        json!({"data": null, "success": false, "errno": -200001, "error": "Service temporarily unavailable"})
    } else {
        json!({"detail": "Service temporarily unavailable, try again later."})
    }
}

#[test]
fn warm_functions_answer_503_during_an_outage_and_serve_again_after_it() {
    let port = free_port();
    let data = std::env::temp_dir().join(format!("outage-{}", std::process::id()));
    std::fs::create_dir_all(&data).unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");
    let settings = [
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("TABLE_NAME", "users"),
        ("TOKEN_KEY", "dev-only-insecure-token-key-do-not-deploy"),
    ];
    let usersctl = |args: &[&str]| testkit::usersctl(settings, args);

    let store = start_dynamodb_local_persistent(port, &data);
    usersctl(&["create-table"]);
    let demo = usersctl(&["seed-demo"]);
    let mut apis = Vec::new();
    for function in FUNCTIONS {
        let binary = workspace_root().join("target/debug").join(function);
        let (api, _) = RuntimeApi::with_function(&binary, &settings, Stdio::null());
        apis.push((function, api));
    }
    // Written before the outage: a regenerated token.
    let (regenerated, _) = invoke(&apis[2].1, &event("regenerate-access-token", "session"));
    assert_eq!(regenerated.0, 200);
    let token = regenerated.1["access_token"].as_str().unwrap().to_string();
    let with_token =
        |function: &str| event(function, "bearer").replace(demo["access_token"].as_str().unwrap(), &token);
    for (function, api) in &apis {
        if *function != "regenerate-access-token" {
            assert_eq!(
                invoke(api, &with_token(function)).0.0,
                200,
                "{function} before the outage"
            );
        }
    }

    // Outage 1: nothing listens on the port (connections are refused).
    store.stop();
    for (function, api) in &apis {
        let (answer, elapsed) = invoke(api, &with_token(function));
        assert_eq!(answer, (503, unavailable(function)), "{function}, store stopped");
        assert!(
            elapsed < LAMBDA_TIMEOUT,
            "{function} took {elapsed:?} with the store stopped"
        );
        eprintln!("{function}: 503 in {elapsed:?} with the store stopped");
    }

    // Outage 2: the port accepts connections and never answers (the SDK's timeouts).
    let black_hole = BlackHole::open(port);
    for (function, api) in &apis {
        let (answer, elapsed) = invoke(api, &with_token(function));
        assert_eq!(
            answer,
            (503, unavailable(function)),
            "{function}, store not answering"
        );
        assert!(
            elapsed < LAMBDA_TIMEOUT,
            "{function} took {elapsed:?} with the store not answering"
        );
        eprintln!("{function}: 503 in {elapsed:?} with the store not answering");
    }
    black_hole.close();

    // The store comes back on the same port with the same data: the same processes serve,
    // and the token written before the outage is still the current one.
    let store = start_dynamodb_local_persistent(port, &data);
    for (function, api) in &apis {
        if *function == "regenerate-access-token" {
            continue;
        }
        let ((status, body), _) = invoke(api, &with_token(function));
        assert_eq!(status, 200, "{function} after the outage: {body}");
        if *function == "get-access-token" {
            assert_eq!(
                body,
                json!({"access_token": token}),
                "nothing written before the outage is lost"
            );
        }
    }
    let (regenerated, _) = invoke(&apis[2].1, &event("regenerate-access-token", "session"));
    assert_eq!(regenerated.0, 200, "the regenerate function serves again too");
    store.stop();
    let _ = std::fs::remove_dir_all(&data);
}

/// A listener that accepts connections and never answers, until closed.
struct BlackHole {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl BlackHole {
    fn open(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let running = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !running.load(SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self { stop, thread }
    }

    /// Drops the listener and every connection it held, freeing the port.
    fn close(self) {
        self.stop.store(true, SeqCst);
        let _ = self.thread.join();
    }
}
