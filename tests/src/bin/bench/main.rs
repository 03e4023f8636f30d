//! `make bench`: the functions measured under what Lambda gives them, each figure against a
//! baseline measured in the same run under the same conditions.
//!
//! The conditions: the store behind TLS (testkit's proxy in front of DynamoDB Local, with a
//! test CA: a real handshake and chain check) at 1 ms round-trip time, and the CPU Lambda
//! gives (model.md, the report's first section): init at a whole CPU, the invocations at the
//! memory's share (a cgroup v1 quota from the first `GET /runtime/invocation/next` on, see
//! `testkit::cpu`), at two periods; provisioned concurrency throttles init too. Functions run
//! as real release processes behind testkit's Runtime API. The baselines: a hello-world
//! Lambda with the same release profile, and the bare DynamoDB call from the same SDK client
//! (`bare-call`). CPU cost is counted in instructions by callgrind (`make instructions`).
//!
//! Prints the tables; writes BENCHMARKS.md (and docs/memory.svg) only with BENCH_REPORT=1
//! (`make bench-report`). Settings: BENCH_RUNS (cold starts per binary and setting, 20),
//! BENCH_WARM (warm requests per function at a whole CPU, 1000), BENCH_LAMBDA_WARM (under a
//! share, over which handshakes are counted: 10000), BENCH_MEMORY_RUNS, BENCH_MEMORY_WARM and
//! BENCH_MEMORY_LOGINS (the memory table: 5, 300, 20), BENCH_FREEZE_SECONDS (25),
//! BENCH_SECTIONS (any of `instructions,cold,warm,memory,freeze,keys,signin`; all by
//! default), BENCH_FUNCTIONS (the instruction table for a few), BENCH_BIN_DIR (other builds
//! of the same binaries, e.g. a symbolized one for callgrind_annotate).
//! Nothing here asserts a time.

mod freezes;
mod harness;
mod instructions;
mod keys;
mod memory;
mod report;
mod round_trips;
mod sign_in;
mod stats;

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use shared::clock::Timestamp;
use testkit::proxy::TestCa;
use testkit::{TestApp, workspace_root};

use freezes::*;
use harness::*;
use instructions::*;
use keys::*;
use memory::*;
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
/// How the bench models Lambda's CPU, and the evidence for it: the report's first words.
const MODEL: &str = include_str!("model.md");
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
    // BENCH_BIN_DIR: other builds of the same binaries (a symbolized one, for callgrind_annotate).
    // Made absolute: valgrind runs the binaries from another working directory.
    let release = std::env::var_os("BENCH_BIN_DIR")
        .map(std::path::PathBuf::from)
        .map(|dir| std::fs::canonicalize(&dir).unwrap_or(dir))
        .unwrap_or_else(|| workspace_root().join("target/release"));
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
        runtime: runtime.handle().clone(),
        session: (session.session_id.to_string(), session.csrf_token.clone()),
    };
    runtime
        .block_on(bench.test.app.set_password(&user, PASSWORD))
        .expect("the bench user gets a password");
    let mut report = String::new();

    let sections = std::env::var("BENCH_SECTIONS")
        .unwrap_or_else(|_| "instructions,cold,warm,memory,freeze,keys,signin".into());
    let section = |name: &str| sections.split(',').any(|s| s.trim() == name);

    let _ = writeln!(report, "\n{MODEL}");

    // Round trips: counted by the SDK (an interceptor), per endpoint and auth mode.
    round_trips(&runtime, &mut bench, &session, &mut report);

    let rtt = Duration::from_millis(1);
    let store_proxy = proxy(rtt, None);
    let settings = match lambda_settings(rtt, &store_proxy) {
        Ok(settings) => settings,
        Err(reason) => {
            let _ = writeln!(
                report,
                "\n**cgroups unavailable ({reason}): only the whole-CPU figures are measured.**"
            );
            vec![Setting::new(rtt, &store_proxy, "whole CPU".into(), None, None)]
        }
    };
    // On-demand 128 MB with the shortest period the kernel allows: the setting the goals
    // are judged in (the whole CPU when cgroups are missing).
    let lambda_like = settings.len().min(2) - 1;

    if section("instructions") {
        match valgrind_missing() {
            Some(reason) => {
                let _ = writeln!(report, "\n**{reason}: the instruction table is skipped.**");
            }
            None => {
                // Instructions do not depend on the CPU share: counted at a whole CPU.
                instructions_table(&mut bench, &settings[0], &mut report);
            }
        }
    }

    // Cold starts: spawn to the first 200, against hello-world's plus bare-call's first call.
    let mut first_requests = Vec::new();
    if section("cold") {
        let _ = writeln!(
            report,
            "\n## Cold start ({runs} runs each, medians, ms)\n\nInit is from the spawn (a small shell joins the cgroups and becomes the binary, so only the binary is counted; each run in new cgroups, as a new execution environment starts with its quota unspent) to its first `GET /runtime/invocation/next`; the first response is the first invocation after it; their sum is spawn to the first 200. The floor is hello-world's spawn to first response in the same setting plus `bare-call`'s first call (connection, TLS handshake, one signed `GetItem`) at a whole CPU, as an init makes it. CPU is each phase's CPU time, counted by the cgroup (`cpuacct.usage`). Goal, on-demand 128 MB: at most 1.2x the floor. Not emulated: DNS resolution of the endpoint at init (the functions here reach the store by address), and Lambda's own sandbox start before the process (the same for every function, and outside the function's control)."
        );
        let bare_first = bench.bare_cold(&settings[0], runs);
        let bare_first = median(&bare_first);
        for (index, setting) in settings.iter().enumerate() {
            let hello = bench.cold("hello-world", setting, runs);
            let hello_total = median(&hello.total);
            let floor = hello_total + bare_first;
            let _ = writeln!(
                report,
                "\n### {}\n\n| binary | init | first response | spawn to first 200 | floor | vs floor | CPU: init | CPU: first response |\n|---|---|---|---|---|---|---|---|\n| hello-world | {} | {} | {} | | | {} | {} |\n| bare-call's first call (whole CPU) | | | {} | | | | |",
                setting.name(),
                ms(median(&hello.init)),
                ms(median(&hello.first)),
                ms(hello_total),
                ms(median(&hello.init_cpu)),
                ms(median(&hello.first_cpu)),
                ms(bare_first),
            );
            for (function, _) in FUNCTIONS {
                let cold = bench.cold(function, setting, runs);
                let total = median(&cold.total);
                let verdict = if index == lambda_like {
                    ratio_verdict(total, floor, 1.2)
                } else {
                    format!("{:.2}x", total.as_secs_f64() / floor.as_secs_f64())
                };
                let _ = writeln!(
                    report,
                    "| {function} | {} | {} | {} | {} | {verdict} | {} | {} |",
                    ms(median(&cold.init)),
                    ms(median(&cold.first)),
                    ms(total),
                    ms(floor),
                    ms(median(&cold.init_cpu)),
                    ms(median(&cold.first_cpu)),
                );
                if index == lambda_like {
                    first_requests.push((function, median(&cold.first)));
                }
            }
            eprintln!("cold starts measured: {}", setting.name());
        }
    }

    // Warm requests at 1 ms RTT, against the floor in the same setting.
    let mut memory = String::new();
    let mut lambda_warm_p50 = Vec::new();
    if section("warm") {
        let _ = writeln!(
            report,
            "\n## Warm requests at 1 ms RTT (ms)\n\nThe floor is the bare DynamoDB call from the same SDK client in a process at the same CPU share (`bare-call`), plus hello-world's round trip through the same Runtime API at that share: two processes, each with its own quota, so under a share the sum is a rough yardstick, not a bound (the instruction counts above are the measure of CPU cost). Handshakes are counted by the proxy over the process's whole life (its init included)."
        );
        for (index, setting) in settings.iter().enumerate() {
            let count = if setting.limited() {
                lambda_warm
            } else {
                warm_requests
            };
            let hello = bench.warm("hello-world", setting, count.min(warm_requests));
            let (_, bare_get) = bench.bare("get", setting, count.min(warm_requests));
            let (_, bare_update) = bench.bare("update", setting, count.min(warm_requests));
            // bare-call's updates replaced the user's token: give it a known one again.
            bench.renew_token();
            let _ = writeln!(
                report,
                "\n### {} ({count} requests each)\n\n| function | p50 | p99 | floor p50 | floor p99 | p50 − floor | p99 − floor | handshakes |\n|---|---|---|---|---|---|---|---|",
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
                let difference = |value: Duration, floor: Duration| {
                    let ms = value.as_secs_f64() * 1000.0 - floor.as_secs_f64() * 1000.0;
                    format!("{ms:+.2}")
                };
                let _ = writeln!(
                    report,
                    "| {function} | {} | {} | {} | {} | {} | {} | {} |",
                    ms(p50),
                    ms(p99),
                    ms(floor50),
                    ms(floor99),
                    difference(p50, floor50),
                    difference(p99, floor99),
                    if warm.handshakes == 1 {
                        "1 (goal 1: met)".to_string()
                    } else {
                        format!("**{} (goal 1: MISSED)**", warm.handshakes)
                    }
                );
                if index == lambda_like {
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
    }

    if section("memory") {
        memory_table(
            &mut bench,
            &store_proxy,
            runs.min(setting("BENCH_MEMORY_RUNS", 5)),
            &mut report,
        );
    }

    // First request against a warm one, in the Lambda-like setting.
    if !first_requests.is_empty() && !lambda_warm_p50.is_empty() {
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
    }

    if section("freeze") {
        freezes(&mut bench, &settings[lambda_like], &proxy, freeze, &mut report);
    }
    if section("signin") {
        sign_in_latency(&runtime, &mut bench, &settings[lambda_like], runs, &mut report);
    }
    if section("keys") {
        key_from_secret(&runtime, &mut bench, &settings[..=lambda_like], runs, &mut report);
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
        "\n## Peak RSS ({}, after the warm requests, MB)\n\n| function | peak RSS | RSS at the end | goal: peak < 16 MB |\n|---|---|---|---|\n{memory}",
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
        let chart = workspace_root().join("target/bench/memory.svg");
        if chart.exists() {
            std::fs::copy(&chart, workspace_root().join("docs/memory.svg")).expect("write docs/memory.svg");
        }
        eprintln!("\nWritten to BENCHMARKS.md");
    }
}
