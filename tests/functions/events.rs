//! Every file in events/ through the real function binaries and a Lambda Runtime API, as
//! `cargo lambda invoke` would run them, so the events never rot (`testkit::events` says what
//! each must answer; tests/http/sam_local.rs (the glibc check: tests/deployment/bootstraps.rs) checks the same under `sam local invoke`).

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use testkit::events::{self, DEV_KEY, FUNCTIONS};
use testkit::runtime_api::{Outcome, RuntimeApi};
use testkit::workspace_root;

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

#[test]
fn every_event_gets_the_contracts_answer_from_the_built_function() {
    let table = format!("events-{}", testkit::free_port());
    let settings = settings(&table);
    usersctl(&settings, &["create-table"]);
    let env: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let all = events::all();
    for function in FUNCTIONS {
        let binary = workspace_root().join("target/debug").join(function);
        let (api, _) = RuntimeApi::with_function(&binary, &env, Stdio::null());
        let mine: Vec<_> = all.iter().filter(|event| event.function == function).collect();
        assert!(!mine.is_empty(), "{function} has events");
        for event in mine {
            let demo = usersctl(&settings, &["seed-demo"]);
            let Outcome::Response(response) = api.invoke(&event.text, Duration::from_secs(10)) else {
                panic!("{}: the function reported an error", event.name());
            };
            let response: Value = serde_json::from_str(&response).unwrap();
            events::assert_answer(event, &response, &demo);
        }
    }
    assert_eq!(
        all.len(),
        events::file_count() - 1,
        "every event checked (all files but local-env.json)"
    );
}
