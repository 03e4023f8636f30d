//! Least privilege, measured: each function's policy against what its code really sends to
//! DynamoDB, action by action, attribute by attribute.

use std::collections::BTreeSet;
use std::time::Duration;

use lambda_http::{Body, Request, Response};
use shared::App;
use shared::http::handlers;
use testkit::{TestApp, bearer, request, session_headers};

use crate::template::*;

async fn call(binary: &str, app: &App, method: &str, headers: &[(&str, String)]) -> Response<Body> {
    let request: Request = request(method, "/", headers);
    call_with(binary, app, request).await
}

async fn call_with(binary: &str, app: &App, request: Request) -> Response<Body> {
    match binary {
        "login" => handlers::login(app, request).await,
        "logout" => handlers::logout(app, request).await,
        PAGE => shared::http::page::account_page(request).await,
        "get-current-user" => handlers::get_current_user(app, request).await,
        "get-access-token" => handlers::get_access_token(app, request).await,
        "regenerate-access-token" => handlers::regenerate_access_token(app, request).await,
        "get-auth-user" => handlers::get_auth_user(app, request).await,
        other => panic!("template.yaml names a function the API does not have: {other}"),
    }
}

#[tokio::test]
async fn each_function_may_call_exactly_the_dynamodb_actions_its_code_calls() {
    for (binary, declared) in functions() {
        let test = TestApp::new().await;
        let (user, token) = test.user("ann@example.com").await;
        let session = test.session(&user, Duration::from_secs(600)).await;
        // The init phase (App::from_env; the page has none), then every way in.
        if binary != PAGE {
            test.app.store().warm_up().await;
        }
        let forged = testkit::forged(&token);
        let ways = [
            vec![bearer(&token)],
            session_headers(&session, true),
            vec![bearer(&forged)],
            vec![],
        ];
        if binary == "login" {
            // An unknown email and a wrong password (both counted), then the right one (a
            // session opened).
            assert!(test.app.set_password(&user, "the right password").await.unwrap());
            test.requests.take();
            test.app.store().warm_up().await;
            for (email, password) in [
                ("nobody@example.com", "a password"),
                ("ann@example.com", "a wrong password"),
                ("ann@example.com", "the right password"),
            ] {
                let body = serde_json::json!({"email": email, "password": password});
                let request = lambda_http::http::Request::builder()
                    .method("POST")
                    .uri("/api/auth/login/")
                    .header("content-type", "application/json")
                    .body(Body::Text(body.to_string()))
                    .unwrap();
                call_with(&binary, &test.app, request).await;
            }
        }
        for headers in ways {
            let response = call(&binary, &test.app, &declared.method, &headers).await;
            assert!(
                response.status().as_u16() < 500,
                "{binary}: {}",
                response.status()
            );
        }
        let used = test.requests.by_action();
        assert_eq!(
            declared.actions,
            used.keys().cloned().collect(),
            "{binary}: template.yaml grants what the code calls, no more"
        );
        assert!(
            declared.resources.iter().all(|resource| resource == TABLE_ARN),
            "{binary}: {:?}",
            declared.resources
        );
        // Where a role is limited, each action is allowed exactly the attributes its requests
        // name, on the partitions they touch, and reads must project (no whole items).
        for (action, limits) in &declared.limits {
            let used = &used[action];
            assert_eq!(
                limits.attributes, used.attributes,
                "{binary}: {action}: dynamodb:Attributes lists exactly the attributes its requests name"
            );
            if !limits.leading_keys.is_empty() {
                for key in &used.leading_keys {
                    assert!(
                        limits
                            .leading_keys
                            .iter()
                            .any(|pattern| string_like(pattern, key)),
                        "{binary}: {action} on {key} is outside dynamodb:LeadingKeys {:?}",
                        limits.leading_keys
                    );
                }
            }
            if ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"].contains(&action.as_str()) {
                assert!(
                    limits.projected_reads_only,
                    "{binary}: {action} needs dynamodb:Select"
                );
                assert!(!used.unprojected, "{binary}: {action} reads whole items");
            }
        }
        // Each function reads the token key's secret at init, and nothing else beyond the
        // table; the page reads nothing at all.
        let secret = (
            "[secretsmanager:GetSecretValue]".to_string(),
            "If [CreateTokenKey, Ref TokenKey, Ref ExistingTokenKeySecretArn]".to_string(),
        );
        let expected = if binary == PAGE { vec![] } else { vec![secret] };
        assert_eq!(declared.others, expected, "{binary}");
    }
    // The regenerate role can rewrite a token and nothing else; sign-in and sign-out roles
    // touch only what they need: every action they have is limited.
    for limited in ["regenerate-access-token", "login", "logout"] {
        let function = &functions()[limited];
        let limited_actions: BTreeSet<String> = function.limits.keys().cloned().collect();
        assert_eq!(limited_actions, function.actions, "{limited}");
    }
    assert!(string_like("USER#*", "USER#42") && !string_like("USER#*", "EMAIL#a"));
    assert!(string_like("USER#warm-up", "USER#warm-up") && !string_like("USER#warm-up", "USER#x"));
}

/// Whether `text` matches an IAM `StringLike` pattern (`*` for any run of characters).
fn string_like(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, rest)) => {
            text.starts_with(head)
                && (0..=text.len() - head.len()).any(|skip| {
                    text.is_char_boundary(head.len() + skip) && string_like(rest, &text[head.len() + skip..])
                })
        }
    }
}
