//! DynamoDB round trips per request, counted by the SDK.

use std::fmt::Write as _;

use shared::http::handlers;
use testkit::{TestApp, bearer, request, session_headers};

use crate::*;

/// The SDK's requests per endpoint and auth mode, in-process.
pub(crate) fn round_trips(
    runtime: &tokio::runtime::Runtime,
    bench: &mut Bench,
    session: &shared::app::NewSession,
    report: &mut String,
) {
    let _ = writeln!(
        report,
        "## DynamoDB round trips per request\n\n| endpoint | auth | requests sent by the SDK | operations |\n|---|---|---|---|"
    );
    let forged = testkit::forged(&bench.token);
    for (function, _) in FUNCTIONS {
        let modes: &[&str] = match function {
            "get-access-token" | "regenerate-access-token" => &["bearer", "session", "forged token", "none"],
            _ => &["bearer", "forged token", "none"],
        };
        for mode in modes {
            let headers = match *mode {
                "bearer" => vec![bearer(&bench.token)],
                "session" => session_headers(session, true),
                "forged token" => vec![bearer(&forged)],
                _ => vec![],
            };
            let test = &bench.test;
            test.requests.take();
            let method = if function == "regenerate-access-token" {
                "POST"
            } else {
                "GET"
            };
            let request = request(method, "/", &headers);
            let response = runtime.block_on(async {
                match function {
                    "get-current-user" => handlers::get_current_user(&test.app, request).await,
                    "get-access-token" => handlers::get_access_token(&test.app, request).await,
                    "regenerate-access-token" => handlers::regenerate_access_token(&test.app, request).await,
                    _ => handlers::get_auth_user(&test.app, request).await,
                }
            });
            row(report, function, mode, response.status().as_u16(), test);
            if function == "regenerate-access-token" && response.status() == 200 {
                let (_, body) = testkit::parts(&response);
                bench.token = body["access_token"].as_str().unwrap_or_default().to_string();
            }
        }
    }
    sign_in_round_trips(runtime, bench, report);
}

/// One line of the round-trip table: what the SDK sent since the last `take`.
pub(crate) fn row(report: &mut String, endpoint: &str, auth: &str, status: u16, test: &TestApp) {
    let operations = test
        .requests
        .operations()
        .iter()
        .map(|op| op.rsplit('.').next().unwrap_or_default().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let count = test.requests.take();
    let operations = if operations.is_empty() {
        "-".to_string()
    } else {
        operations
    };
    let _ = writeln!(
        report,
        "| {endpoint} | {auth} ({status}) | {count} | {operations} |"
    );
}
