//! Sign-in: its round trips, and its latency at 1,024 MB and 128 MB against a wrong password's and an unknown email's.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use shared::http::handlers;
use testkit::cpu::CpuQuota;
use testkit::{request, session_headers};

use crate::*;

/// `POST /api/auth/login/` with this email and password, as the page sends it.
pub(crate) fn login_request(email: &str, password: &str) -> lambda_http::Request {
    let body = json!({"email": email, "password": password}).to_string();
    lambda_http::http::Request::builder()
        .method("POST")
        .uri("/api/auth/login/")
        .header("content-type", "application/json")
        .body(lambda_http::Body::Text(body))
        .expect("a login request")
}

/// The sign-in endpoints' round trips: a login reads the account's email claim, then writes
/// (the session, or the failure); a locked account or an unknown email costs the read only.
pub(crate) fn sign_in_round_trips(runtime: &tokio::runtime::Runtime, bench: &mut Bench, report: &mut String) {
    let test = &bench.test;
    let password = PASSWORD;
    let (locked, _) = runtime.block_on(test.user("locked@example.com"));
    runtime.block_on(async {
        let user = test
            .app
            .store()
            .get_user(bench.user_id)
            .await
            .ok()
            .flatten()
            .expect("the bench user");
        test.app.set_password(&user, password).await.expect("a password");
        test.app
            .set_password(&locked, password)
            .await
            .expect("a password");
        for _ in 0..shared::lockout::MAX_FAILURES {
            handlers::login(&test.app, login_request("locked@example.com", "wrong")).await;
        }
    });
    let cases = [
        ("right password", login_request("bench@example.com", password)),
        (
            "wrong password",
            login_request("bench@example.com", "not the password"),
        ),
        ("unknown email", login_request("nobody@example.com", password)),
        ("locked account", login_request("locked@example.com", password)),
    ];
    for (case, request) in cases {
        test.requests.take();
        let response = runtime.block_on(handlers::login(&test.app, request));
        row(report, "login", case, response.status().as_u16(), test);
    }
    let user = runtime
        .block_on(test.app.store().get_user(bench.user_id))
        .ok()
        .flatten()
        .expect("the bench user");
    let session = runtime.block_on(test.session(&user, Duration::from_secs(600)));
    test.requests.take();
    let request = request("POST", "/api/auth/logout/", &session_headers(&session, true));
    let response = runtime.block_on(handlers::logout(&test.app, request));
    row(report, "logout", "session", response.status().as_u16(), test);
}

/// The login function's latency, warm, at 1 ms RTT with the CPU share of its 1,024 MB (as
/// deployed) and of 128 MB, for a right password, a wrong one and an unknown email (which
/// must cost about the same as a wrong password: nothing to tell an attacker which emails
/// have accounts).
pub(crate) fn sign_in_latency(
    runtime: &tokio::runtime::Runtime,
    bench: &mut Bench,
    lambda_like: &Setting,
    runs: usize,
    report: &mut String,
) {
    let password = PASSWORD;
    // Wrong passwords spread over enough accounts that none reaches the lockout.
    let per_account = (shared::lockout::MAX_FAILURES - 1) as usize;
    let accounts: Vec<String> = (0..runs.div_ceil(per_account))
        .map(|n| format!("signin-{n}@example.com"))
        .collect();
    runtime.block_on(async {
        for email in &accounts {
            let (user, _) = bench.test.user(email).await;
            bench
                .test
                .app
                .set_password(&user, password)
                .await
                .expect("a password");
        }
    });
    let _ = writeln!(
        report,
        "\n## Sign-in latency (warm, TLS, 1 ms RTT, {runs} requests each, p50 / p99 ms)\n\nOne login: a `GetItem`, Argon2id (19 MiB, 2 passes), and a write. An unknown email is verified against a fixed hash with the same parameters, so it should cost what a wrong password does.\n\n| memory (CPU share) | right password (200) | wrong password (401) | unknown email (401) | unknown / wrong (p50) | peak RSS, MB |\n|---|---|---|---|---|---|"
    );
    for memory in [1024, 128] {
        // As on demand: the init at a whole CPU, the logins at the memory size's share.
        let share = CpuQuota::lambda(memory).ok().map(Arc::new);
        let setting = Setting {
            label: share.as_ref().map_or("whole CPU".into(), |cpu| cpu.describe()),
            invocation_cpu: share,
            secret: None,
            ..lambda_like.clone()
        };
        let (api, _) = bench.start("login", &setting);
        let time = |event: String, status: u64| {
            let started = Instant::now();
            let (answered, body) = api.call(&event);
            let elapsed = started.elapsed();
            assert_eq!(answered, status, "login: {body}");
            elapsed
        };
        // Untimed: a right password on every account clears its failures (from an earlier
        // memory size), and the process's first login is out of the samples.
        for email in &accounts {
            time(login_event(email, password), 200);
        }
        let right: Vec<Duration> = (0..runs)
            .map(|_| time(login_event(&accounts[0], password), 200))
            .collect();
        let wrong: Vec<Duration> = (0..runs)
            .map(|n| time(login_event(&accounts[n / per_account], "not the password"), 401))
            .collect();
        let unknown: Vec<Duration> = (0..runs)
            .map(|_| time(login_event("nobody@example.com", password), 401))
            .collect();
        let both = |sample: &[Duration]| format!("{} / {}", ms(median(sample)), ms(percentile(sample, 0.99)));
        let share = &setting.label;
        let (peak_kib, _) = api.function_pid().map(memory_kib).unwrap_or_default();
        let _ = writeln!(
            report,
            "| {memory} MB ({share}) | {} | {} | {} | {:.2}x | {:.1} |",
            both(&right),
            both(&wrong),
            both(&unknown),
            median(&unknown).as_secs_f64() / median(&wrong).as_secs_f64(),
            peak_kib as f64 / 1024.0,
        );
        eprintln!("sign-in latency measured: {memory} MB");
    }
}
