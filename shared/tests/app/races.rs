//! Races against DynamoDB Local: concurrent regenerations with one token or one session,
//! and a regenerate racing with reads.

use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::{Duration, Instant};

use lambda_http::{Body, Response};
use serde_json::Value;
use shared::http::handlers;
use testkit::{TestApp, bearer, parts, request, session_headers};

async fn regenerate(test: &TestApp, headers: &[(&str, String)]) -> (u16, Value) {
    let request = request("POST", "/api/users/me/token/regenerate/", headers);
    parts(&handlers::regenerate_access_token(&test.app, request).await)
}

async fn read_token(test: &TestApp, headers: &[(&str, String)]) -> Response<Body> {
    handlers::get_access_token(&test.app, request("GET", "/api/users/me/token/", headers)).await
}

/// Every item in the user's partition: the user itself and its sessions, nothing else.
async fn partition(test: &TestApp, user_id: uuid::Uuid) -> Vec<String> {
    let client = testkit::local_client(testkit::dynamodb_local().endpoint()).await;
    let output = client
        .query()
        .table_name(test.app.store().table())
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{user_id}")),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    output
        .items()
        .iter()
        .map(|item| item["sk"].as_s().unwrap().split('#').next().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_a_hundred_concurrent_regenerations_with_one_token_exactly_one_wins() {
    let test = Arc::new(TestApp::new().await);
    let (user, old) = test.user("ann@example.com").await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let test = Arc::clone(&test);
        let headers = vec![bearer(&old)];
        tasks.spawn(async move { regenerate(&test, &headers).await });
    }
    let outcomes = tasks.join_all().await;
    let winners: Vec<&Value> = outcomes
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(winners.len(), 1);
    assert_eq!(outcomes.iter().filter(|(status, _)| *status == 401).count(), 99);

    let new = winners[0]["access_token"].as_str().unwrap().to_string();
    assert_eq!(parts(&read_token(&test, &[bearer(&new)]).await).0, 200);
    assert_eq!(parts(&read_token(&test, &[bearer(&old)]).await).0, 401);
    // One current token, stored as the winner's nonce; no stray item beside the user.
    let stored = test.app.store().get_user(user.id).await.unwrap().unwrap();
    assert_eq!(test.app.access_token(&stored).await.unwrap().to_string(), new);
    assert_eq!(partition(&test, user.id).await, vec!["USER"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_regenerations_through_one_session_end_cleanly_with_one_valid_token() {
    let test = Arc::new(TestApp::new().await);
    let (user, _) = test.user("ann@example.com").await;
    let session = test.session(&user, Duration::from_secs(600)).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let test = Arc::clone(&test);
        let headers = session_headers(&session, true);
        tasks.spawn(async move { regenerate(&test, &headers).await });
    }
    let outcomes = tasks.join_all().await;
    // 409 for a transaction that lost; on a loaded machine DynamoDB Local can also be slower
    // than the SDK's attempt timeout, which is the contract's clean 503 (and its write may
    // still have landed, so the current token need not be one that was returned then).
    for (status, body) in &outcomes {
        assert!(matches!(*status, 200 | 409 | 503), "{status} {body}");
    }
    let timed_out = outcomes.iter().any(|(status, _)| *status == 503);
    let returned: Vec<String> = outcomes
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body["access_token"].as_str().unwrap().to_string())
        .collect();
    assert!(!returned.is_empty(), "at least one regeneration succeeds");

    // The current token is one that a successful response returned, and no other returned
    // token works. (Which success committed last cannot be told from the order the
    // responses arrive in: two commits' answers can cross on the way back.)
    let (_, current) = parts(&read_token(&test, &session_headers(&session, false)).await);
    let current = current["access_token"].as_str().unwrap();
    assert!(
        timed_out || returned.iter().any(|token| token == current),
        "{current} was returned"
    );
    for token in returned.iter().filter(|token| *token != current) {
        assert_eq!(
            parts(&read_token(&test, &[bearer(token)]).await).0,
            401,
            "only one token is valid"
        );
    }
    assert_eq!(partition(&test, user.id).await, vec!["SESSION", "USER"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_regenerate_racing_with_reads_never_shows_a_user_without_a_valid_token() {
    let test = Arc::new(TestApp::new().await);
    let (user, old) = test.user("ann@example.com").await;
    let session = test.session(&user, Duration::from_secs(600)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let mut readers = tokio::task::JoinSet::new();
    for reader in 0..8 {
        let (test, stop, reads) = (Arc::clone(&test), Arc::clone(&stop), Arc::clone(&reads));
        let headers = if reader % 2 == 0 {
            session_headers(&session, false)
        } else {
            vec![bearer(&old)]
        };
        readers.spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(SeqCst) {
                let started = Instant::now();
                let (status, body) = parts(&read_token(&test, &headers).await);
                seen.push((started, status, body["access_token"].as_str().map(str::to_string)));
                reads.fetch_add(1, SeqCst);
            }
            (reader % 2 == 0, seen)
        });
    }
    // Paced by reads, not by time, so the race happens however slow the machine is.
    let reads_reach = |target: usize| {
        let reads = Arc::clone(&reads);
        async move {
            while reads.load(SeqCst) < target {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    reads_reach(16).await;
    let (status, body) = regenerate(&test, &[bearer(&old)]).await;
    let returned_at = Instant::now();
    assert_eq!(status, 200);
    let new = body["access_token"].as_str().unwrap().to_string();
    reads_reach(reads.load(SeqCst) + 16).await;
    stop.store(true, SeqCst);

    let old = old.to_string();
    let mut after = (0, 0);
    for (by_session, seen) in readers.join_all().await {
        for (started, status, token) in seen {
            if started > returned_at {
                if by_session { after.0 += 1 } else { after.1 += 1 }
            }
            if by_session {
                // A session always finds a user with a valid token: the old one, then the new one.
                assert_eq!(status, 200);
                let token = token.unwrap();
                assert!(token == old || token == new, "an unknown token");
                if started > returned_at {
                    assert_eq!(
                        token, new,
                        "a read after the regenerate returned sees the new token"
                    );
                }
            } else {
                assert!(status == 200 || status == 401, "{status}");
                if started > returned_at {
                    assert_eq!(
                        status, 401,
                        "the old token authenticated after the regenerate returned"
                    );
                }
            }
        }
    }
    assert!(
        after.0 > 0 && after.1 > 0,
        "both kinds of read ran after the regenerate: {after:?}"
    );
}
