//! `make bench`: the functions measured under what Lambda gives them, each figure against a
//! baseline measured in the same run under the same conditions.
//!
//! The conditions: the store behind TLS (testkit's proxy in front of DynamoDB Local, with a
//! test CA: a real handshake and chain check), a round-trip time added by the proxy (0 and
//! 1 ms), and the CPU a 128 MB function gets (7.2% of one CPU, a cgroup v1 quota: see
//! `testkit::cpu`) or a whole CPU, the CPU time of each process counted by its cgroup. Functions run as real release processes behind testkit's Runtime
//! API. The baselines: a hello-world Lambda with the same release profile, and the bare
//! DynamoDB call from the same SDK client (`bare-call`, in the same quota).
//!
//! Prints the tables; writes BENCHMARKS.md only with BENCH_REPORT=1 (`make bench-report`).
//! Settings: BENCH_RUNS (cold starts per binary and condition, 20), BENCH_WARM (warm requests
//! per function at a whole CPU, 1000), BENCH_LAMBDA_WARM (warm requests per function in the
//! Lambda-like setting, over which handshakes are counted: 10000), BENCH_FREEZE_SECONDS (25),
//! BENCH_SECTIONS (any of `cold,warm,freeze,keys,signin`; all by default).
//! Nothing here asserts a time.

mod freezes;
mod harness;
mod keys;
mod report;
mod round_trips;
mod sign_in;
mod stats;

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use shared::clock::Timestamp;
use testkit::cpu::CpuQuota;
use testkit::proxy::TestCa;
use testkit::{TestApp, workspace_root};

use freezes::*;
use harness::*;
use keys::*;
use report::*;
use round_trips::*;
use sign_in::*;
use stats::*;

pub(crate) const FUNCTIONS: [(&str, &str); 4] = [
    ("get-current-user", "GetCurrentUserFunction"),
    ("get-access-token", "GetAccessTokenFunction"),
    ("regenerate-access-token", "RegenerateAccessTokenFunction"),
    ("get-auth-user", "GetAuthUserFunction"),
];
/// The sign-in functions: measured apart (their events are not bearer events), sized alike.
pub(crate) const SIGN_IN_FUNCTIONS: [(&str, &str); 3] = [
    ("login", "LoginFunction"),
    ("logout", "LogoutFunction"),
    ("account-page", "AccountPageFunction"),
];
pub(crate) const SIZE_GOAL_BYTES: u64 = 5 * 1024 * 1024;
pub(crate) const RSS_GOAL_KIB: u64 = 16 * 1024;
/// The far end closes connections idle this long in the freeze run (the figure;
/// DynamoDB's own is about 60 s: aws/aws-sdk-java#1365).
pub(crate) const SERVER_IDLE_CLOSE: Duration = Duration::from_secs(20);

fn main() {
    let runs = setting("BENCH_RUNS", 20);
    let warm_requests = setting("BENCH_WARM", 1000);
    let lambda_warm = setting("BENCH_LAMBDA_WARM", 10_000);
    let freeze = Duration::from_secs(setting("BENCH_FREEZE_SECONDS", 25) as u64);
    let release = workspace_root().join("target/release");
    for binary in FUNCTIONS
        .iter()
        .chain(&SIGN_IN_FUNCTIONS)
        .map(|(name, _)| *name)
        .chain(["hello-world", "bare-call"])
    {
        assert!(
            release.join(binary).exists(),
            "{} is not built: run `make bench`",
            release.join(binary).display()
        );
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let test = runtime.block_on(TestApp::new());
    let (user, token) = runtime.block_on(test.user("bench@example.com"));
    let session = runtime.block_on(test.session(&user, Duration::from_secs(3600)));
    let store = testkit::dynamodb_local().address();
    let ca = Arc::new(TestCa::new());
    let proxy = |rtt: Duration, close_idle_after: Option<Duration>| {
        Arc::new(tls_proxy(store, &ca, rtt, close_idle_after))
    };
    let mut bench = Bench {
        test,
        user_id: user.id,
        token: token.to_string(),
        ca: Arc::clone(&ca),
        release,
    };
    let mut report = String::new();

    let sections = std::env::var("BENCH_SECTIONS").unwrap_or_else(|_| "cold,warm,freeze,keys,signin".into());
    let section = |name: &str| sections.split(',').any(|s| s.trim() == name);

    // Round trips: counted by the SDK (an interceptor), per endpoint and auth mode.
    round_trips(&runtime, &mut bench, &session, &mut report);

    // The settings: 0 and 1 ms RTT, a whole CPU and a 128 MB function's share, each in a
    // cgroup of its own that counts the CPU its processes use.
    let (whole, quota) = match (CpuQuota::unlimited(), CpuQuota::lambda(128)) {
        (Ok(whole), Ok(quota)) => {
            let _ = writeln!(
                report,
                "\nThe 128 MB share: a cgroup v1 CFS quota of 1 ms per {:.1} ms (the kernel's smallest quota is 1 ms, so 7.2% cannot have a 10 ms period).",
                quota.period().as_secs_f64() * 1000.0
            );
            (Some(Arc::new(whole)), Some(Arc::new(quota)))
        }
        (Err(reason), _) | (_, Err(reason)) => {
            let _ = writeln!(
                report,
                "\n**cgroups unavailable ({reason}): the 7.2% columns and CPU times are skipped.**"
            );
            (None, None)
        }
    };
    let mut settings = Vec::new();
    for rtt in [Duration::ZERO, Duration::from_millis(1)] {
        let proxy = proxy(rtt, None);
        settings.push(Setting {
            rtt,
            proxy: Arc::clone(&proxy),
            cpu: whole.clone(),
            secret: None,
        });
        if quota.is_some() {
            settings.push(Setting {
                rtt,
                proxy,
                cpu: quota.clone(),
                secret: None,
            });
        }
    }
    // The setting a 128 MB function really has (or the closest this machine allows).
    let lambda_like = settings.len() - 1;

    // Cold starts in every setting.
    let _ = writeln!(
        report,
        "\n## Cold start ({runs} runs each, medians, ms)\n\nInit is from the spawn (a small shell joins the cgroup and becomes the binary, so only the binary is counted and limited) to its first `GET /runtime/invocation/next`; the first response is the first invocation after it; their sum is spawn to the first 200. CPU is the process's CPU time in each phase, counted by its cgroup (`cpuacct.usage`): what a CPU quota turns into waiting. hello-world does not talk to a store: the difference is one TLS handshake and one read, plus what the SDK costs to set up."
    );
    let mut first_requests = Vec::new();
    for (index, setting) in settings.iter().enumerate().filter(|_| section("cold")) {
        let hello = bench.cold("hello-world", setting, runs);
        let hello_total = median(&hello.total);
        let goal = if index == lambda_like { 1.3 } else { f64::INFINITY };
        let _ = writeln!(
            report,
            "\n### {}\n\n| binary | init | first response | spawn to first 200 | vs hello-world | CPU: init | CPU: first response |\n|---|---|---|---|---|---|---|\n| hello-world (baseline) | {} | {} | {} | 1.00x | {} | {} |",
            setting.name(),
            ms(median(&hello.init)),
            ms(median(&hello.first)),
            ms(hello_total),
            ms(median(&hello.init_cpu)),
            ms(median(&hello.first_cpu)),
        );
        let (bare_totals, bare_cpu) = bench.bare_cold(setting, runs);
        let bare_total = median(&bare_totals);
        let _ = writeln!(
            report,
            "| bare-call: the SDK's floor (one `GetItem` over TLS, no Lambda runtime) | | | {} | {:.2}x | {} | |",
            ms(bare_total),
            bare_total.as_secs_f64() / hello_total.as_secs_f64(),
            ms(median(&bare_cpu)),
        );
        for (function, _) in FUNCTIONS {
            let cold = bench.cold(function, setting, runs);
            let total = median(&cold.total);
            let verdict = if goal.is_finite() {
                ratio_verdict(total, hello_total, goal)
            } else {
                format!("{:.2}x", total.as_secs_f64() / hello_total.as_secs_f64())
            };
            let _ = writeln!(
                report,
                "| {function} | {} | {} | {} | {verdict} | {} | {} |",
                ms(median(&cold.init)),
                ms(median(&cold.first)),
                ms(total),
                ms(median(&cold.init_cpu)),
                ms(median(&cold.first_cpu)),
            );
            if index == lambda_like {
                first_requests.push((function, median(&cold.first)));
            }
        }
        eprintln!("cold starts measured: {}", setting.name());
    }

    // Warm requests at 1 ms RTT, whole CPU and 7.2%, against the floor in the same setting.
    let mut memory = String::new();
    let mut lambda_warm_p50 = Vec::new();
    let _ = writeln!(
        report,
        "\n## Warm requests at 1 ms RTT (ms)\n\nThe floor is the bare DynamoDB call from the same SDK client in a process with the same CPU (`bare-call`), plus the hello-world round trip through the same Runtime API in the same CPU; p50 and p99 each. Handshakes are counted by the proxy over the process's whole life (its init included)."
    );
    for setting in settings
        .iter()
        .filter(|s| s.rtt == Duration::from_millis(1) && section("warm"))
    {
        let count = if setting.limited() {
            lambda_warm
        } else {
            warm_requests
        };
        let hello = bench.warm("hello-world", setting, count.min(warm_requests));
        let (_, bare_get) = bench.bare("get", setting, count.min(warm_requests));
        let (_, bare_update) = bench.bare("update", setting, count.min(warm_requests));
        runtime.block_on(async {
            // bare-call's updates replaced the user's token: give it a known one again.
            if let Ok(Some(token)) = bench.test.app.reset_token(bench.user_id).await {
                bench.token = token.to_string();
            }
        });
        let _ = writeln!(
            report,
            "\n### {} ({count} requests each)\n\n| function | p50 | p99 | floor p50 | floor p99 | p50 over floor | p99 over floor | handshakes |\n|---|---|---|---|---|---|---|---|",
            setting.name()
        );
        for (function, _) in FUNCTIONS {
            let warm = bench.warm(function, setting, count);
            let bare = if function == "regenerate-access-token" {
                &bare_update
            } else {
                &bare_get
            };
            let floor50 = median(bare) + median(&hello.latencies);
            let floor99 = percentile(bare, 0.99) + percentile(&hello.latencies, 0.99);
            let (p50, p99) = (median(&warm.latencies), percentile(&warm.latencies, 0.99));
            let _ = writeln!(
                report,
                "| {function} | {} | {} | {} | {} | {} | {} | {} |",
                ms(p50),
                ms(p99),
                ms(floor50),
                ms(floor99),
                margin_verdict(p50, floor50, 0.2),
                margin_verdict(p99, floor99, 1.0),
                if warm.handshakes == 1 {
                    "1 (goal 1: met)".to_string()
                } else {
                    format!("**{} (goal 1: MISSED)**", warm.handshakes)
                }
            );
            if setting.limited() {
                lambda_warm_p50.push((function, p50));
                let _ = writeln!(
                    memory,
                    "| {function} | {:.1} | {:.1} | {} |",
                    warm.memory.0 as f64 / 1024.0,
                    warm.memory.1 as f64 / 1024.0,
                    if warm.memory.0 < RSS_GOAL_KIB {
                        "met"
                    } else {
                        "**MISSED**"
                    }
                );
            }
        }
        eprintln!("warm requests measured: {}", setting.name());
    }

    // First request against a warm one, in the Lambda-like setting.
    let _ = writeln!(
        report,
        "\n## First request vs warm ({}, ms)\n\nThe connection and handshake are made in init, so the first request pays for neither.\n\n| function | first request (median of cold starts) | warm p50 | ratio |\n|---|---|---|---|",
        settings[lambda_like].name()
    );
    for ((function, first), (_, p50)) in first_requests.iter().zip(&lambda_warm_p50) {
        let _ = writeln!(
            report,
            "| {function} | {} | {} | {} |",
            ms(*first),
            ms(*p50),
            ratio_verdict(*first, *p50, 1.2)
        );
    }

    if section("freeze") {
        freezes(&mut bench, &settings[lambda_like], &proxy, freeze, &mut report);
    }
    if section("signin") {
        sign_in_latency(&runtime, &mut bench, &settings[lambda_like], runs, &mut report);
    }
    if section("keys") {
        key_from_secret(&runtime, &mut bench, &settings, runs, &mut report);
    }

    // Size and memory.
    let _ = writeln!(
        report,
        "\n## Size (release profile)\n\n| binary | x86_64 (this machine) | arm64 (`sam build`) | goal ≤ 5 MB |\n|---|---|---|---|"
    );
    let size = |path: &Path| std::fs::metadata(path).map(|m| m.len()).ok();
    let _ = writeln!(
        report,
        "| hello-world | {:.2} MB | | |",
        size(&bench.release.join("hello-world")).unwrap_or(0) as f64 / 1048576.0
    );
    for (function, logical_id) in FUNCTIONS.iter().chain(&SIGN_IN_FUNCTIONS) {
        let x86 = size(&bench.release.join(function)).unwrap_or(0);
        let arm = size(&workspace_root().join(format!(".aws-sam/build/{logical_id}/bootstrap")));
        let largest = arm.unwrap_or(0).max(x86);
        let _ = writeln!(
            report,
            "| {function} | {:.2} MB | {} | {} |",
            x86 as f64 / 1048576.0,
            arm.map(|bytes| format!("{:.2} MB", bytes as f64 / 1048576.0))
                .unwrap_or_else(|| "not built (make build)".into()),
            if largest <= SIZE_GOAL_BYTES {
                "met"
            } else {
                "**MISSED**"
            },
        );
    }
    let _ = writeln!(
        report,
        "\n## Memory ({}, after the warm requests, MB)\n\n| function | peak RSS | RSS at the end | goal: peak < 16 MB |\n|---|---|---|---|\n{memory}",
        settings[lambda_like].name()
    );

    print!("{report}");
    if std::env::var("BENCH_REPORT").is_ok_and(|value| value == "1") {
        let document = format!(
            "# Benchmarks\n\nLast run: {} on {}.\nReproduce with `make bench-report` (`make bench` prints the same without writing this file). BENCH_RUNS={runs}, BENCH_WARM={warm_requests}, BENCH_LAMBDA_WARM={lambda_warm}, BENCH_FREEZE_SECONDS={}. Every comparison is against a baseline measured in the same run under the same conditions.\n{report}",
            Timestamp::now(),
            machine(),
            freeze.as_secs()
        );
        std::fs::write(workspace_root().join("BENCHMARKS.md"), document).expect("write BENCHMARKS.md");
        eprintln!("\nWritten to BENCHMARKS.md");
    }
}
