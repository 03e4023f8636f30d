//! What a deployed function tells its operators, from the real binary: one Embedded Metric
//! Format line per request on stdout, with the outcome's class (a forged token counted apart),
//! the cold start once and the store's latency only where the store was called; and the
//! audit trail's line for a security event, with API Gateway's request id and source address.

use std::process::Stdio;

use serde_json::Value;
use testkit::runtime_api::RuntimeApi;
use testkit::{TestApp, free_port, workspace_root};

#[tokio::test]
async fn each_request_is_one_emf_line_with_its_outcome() {
    let test = TestApp::new().await;
    let (_, token) = test.user("ann@example.com").await;
    let mut settings = testkit::function_settings(test.app.store().table());
    settings.push(("AWS_LAMBDA_LOG_LEVEL", "warn".into()));
    let path = std::env::temp_dir().join(format!("metrics-{}.log", free_port()));
    let output = std::fs::File::create(&path).unwrap();
    let binary = workspace_root().join("target/debug/get-current-user");
    let (api, _) = RuntimeApi::with_function(&binary, &settings, Stdio::from(output));
    let forged = testkit::forged(&token);
    for token in [token.to_string(), forged.clone(), token.to_string()] {
        api.call(&testkit::bearer_event("get-current-user", &token));
    }
    drop(api);
    let lines: Vec<Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.get("_aws").is_some())
        .collect();
    let _ = std::fs::remove_file(&path);
    let summary: Vec<(String, u64, bool)> = lines
        .iter()
        .map(|line| {
            (
                line["Outcome"].as_str().unwrap().to_string(),
                line["ColdStart"].as_u64().unwrap(),
                line.get("StoreLatency").is_some(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("2xx".to_string(), 1, true),
            ("401_forged".to_string(), 0, false),
            ("2xx".to_string(), 0, true),
        ]
    );
    for line in &lines {
        assert_eq!(line["FunctionName"], "get-current-user");
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "UsersTokenApi");
        assert!(
            !line.to_string().contains(&forged[4..]),
            "no credential in a metrics line"
        );
    }
}

#[test]
fn the_account_page_counts_its_requests_too() {
    let path = std::env::temp_dir().join(format!("page-metrics-{}.log", free_port()));
    let output = std::fs::File::create(&path).unwrap();
    let binary = workspace_root().join("target/debug/account-page");
    let (api, _) =
        RuntimeApi::with_function(&binary, &[("AWS_LAMBDA_LOG_LEVEL", "warn")], Stdio::from(output));
    let event = std::fs::read_to_string(workspace_root().join("events/account-page.get.json")).unwrap();
    let mut post: Value = serde_json::from_str(&event).unwrap();
    post["httpMethod"] = "POST".into();
    post["requestContext"]["httpMethod"] = "POST".into();
    for event in [event, post.to_string()] {
        api.invoke(&event, std::time::Duration::from_secs(30));
    }
    drop(api);
    let outcomes: Vec<(String, u64)> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.get("_aws").is_some())
        .map(|line| {
            assert_eq!(line["FunctionName"], "account-page");
            (
                line["Outcome"].as_str().unwrap().to_string(),
                line["ColdStart"].as_u64().unwrap(),
            )
        })
        .collect();
    let _ = std::fs::remove_file(&path);
    assert_eq!(outcomes, [("2xx".to_string(), 1), ("404".to_string(), 0)]);
}

#[tokio::test]
async fn a_regenerate_is_an_audit_line_with_the_request_id_and_source_ip() {
    let test = TestApp::new().await;
    let (user, token) = test.user("ann@example.com").await;
    let mut settings = testkit::function_settings(test.app.store().table());
    settings.push(("AWS_LAMBDA_LOG_LEVEL", "info".into()));
    settings.push(("AWS_LAMBDA_LOG_FORMAT", "JSON".into()));
    let path = std::env::temp_dir().join(format!("audit-{}.log", free_port()));
    let output = std::fs::File::create(&path).unwrap();
    let binary = workspace_root().join("target/debug/regenerate-access-token");
    let (api, _) = RuntimeApi::with_function(&binary, &settings, Stdio::from(output));
    let event: Value = serde_json::from_str(&testkit::bearer_event(
        "regenerate-access-token",
        &token.to_string(),
    ))
    .unwrap();
    let (status, body) = api.call(&event.to_string());
    assert_eq!(status, 200, "{body}");
    drop(api);
    let written = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let audit: Vec<Value> = written
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["fields"]["message"] == "audit")
        .collect();
    assert_eq!(audit.len(), 1, "{written}");
    let fields = &audit[0]["fields"];
    assert_eq!(fields["event"], "token_regenerated");
    assert_eq!(fields["user_id"], user.id.to_string());
    assert_eq!(fields["detail"], "bearer");
    assert_eq!(fields["request_id"], event["requestContext"]["requestId"]);
    assert_eq!(
        fields["source_ip"],
        event["requestContext"]["identity"]["sourceIp"]
    );
    for secret in [
        token.to_string(),
        body["access_token"].as_str().unwrap().to_string(),
    ] {
        assert!(!written.contains(&secret), "a token reached the log");
    }
}
