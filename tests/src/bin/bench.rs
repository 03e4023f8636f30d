//! `make bench`: round trips, cold start, warm overhead, size and memory of the four
//! functions, each against a baseline measured in the same run: a hello-world Lambda built
//! with the same release profile, and the bare DynamoDB call from the same SDK client.
//! Functions run as real processes behind testkit's Runtime API emulator, on DynamoDB Local.
//! Prints the table and writes BENCHMARKS.md. Nothing here asserts a time.
//!
//! Settings: BENCH_RUNS (cold starts per binary, default 20), BENCH_WARM (warm requests,
//! default 1000), BENCH_BIN_DIR (the binaries to measure, default target/release; the
//! report goes to BENCHMARKS.md only for the default).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shared::api;
use shared::clock::Timestamp;
use shared::tokens::TokenNonce;
use shared::users::TokenState;
use testkit::runtime_api::{Outcome, RuntimeApi};
use testkit::{KEY, TestApp, bearer, request, session_headers, workspace_root};

const FUNCTIONS: [(&str, &str); 4] = [
    ("get-current-user", "GetCurrentUserFunction"),
    ("get-access-token", "GetAccessTokenFunction"),
    ("regenerate-access-token", "RegenerateAccessTokenFunction"),
    ("get-auth-user", "GetAuthUserFunction"),
];
const SIZE_GOAL_BYTES: u64 = 5 * 1024 * 1024;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Median, minimum and maximum of a sample.
#[derive(Clone, Copy)]
struct Spread {
    median: Duration,
    min: Duration,
    max: Duration,
}

impl Spread {
    fn of(sample: &[Duration]) -> Self {
        let mut sorted = sample.to_vec();
        sorted.sort();
        Self {
            median: sorted[sorted.len() / 2],
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        }
    }
}

fn percentile(sample: &[Duration], p: f64) -> Duration {
    let mut sorted = sample.to_vec();
    sorted.sort();
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1000.0)
}

fn spread(spread: Spread) -> String {
    format!("{} ({}–{})", ms(spread.median), ms(spread.min), ms(spread.max))
}

fn verdict(ratio: f64, goal: f64) -> String {
    if ratio <= goal {
        format!("{ratio:.2}x (goal ≤ {goal}x: met)")
    } else {
        format!("**{ratio:.2}x (goal ≤ {goal}x: MISSED)**")
    }
}

/// The run's credentials, kept current as regenerations replace the token.
struct Credentials {
    token: String,
    session_id: String,
    csrf: String,
}

/// The function's bearer event from events/, carrying the run's current token.
fn bearer_event(function: &str, credentials: &Credentials) -> String {
    let path = workspace_root().join(format!("events/{function}.bearer.json"));
    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("events/")).expect("JSON");
    let authorization = format!("Bearer {}", credentials.token);
    event["headers"]["Authorization"] = json!(authorization);
    event["multiValueHeaders"]["Authorization"] = json!([authorization]);
    event.to_string()
}

/// Sends one event; returns how long the answer took, and keeps the token current.
fn invoke(api: &RuntimeApi, function: &str, credentials: &mut Credentials) -> Duration {
    let event = bearer_event(function, credentials);
    let started = Instant::now();
    let Outcome::Response(response) = api.invoke(&event, Duration::from_secs(30)) else {
        panic!("{function} reported an error");
    };
    let elapsed = started.elapsed();
    let response: Value = serde_json::from_str(&response).expect("a response document");
    assert_eq!(response["statusCode"], 200, "{function}: {response}");
    if function == "regenerate-access-token" {
        let body: Value =
            serde_json::from_str(response["body"].as_str().unwrap_or_default()).unwrap_or_default();
        credentials.token = body["access_token"].as_str().unwrap_or_default().to_string();
    }
    elapsed
}

/// A binary started as Lambda would, ready (its init done); returns the init time.
fn start(binary: &Path, settings: &[(&str, String)]) -> (RuntimeApi, Duration) {
    let env: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    RuntimeApi::with_function(binary, &env, Stdio::null())
}

/// `VmHWM` (peak) and `VmRSS` of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn main() {
    let runs = setting("BENCH_RUNS", 20);
    let warm_requests = setting("BENCH_WARM", 1000);
    let default_dir = workspace_root().join("target/release");
    let release = std::env::var_os("BENCH_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| default_dir.clone());
    let hello = release.join("hello-world");
    for binary in FUNCTIONS
        .iter()
        .map(|(name, _)| release.join(name))
        .chain([hello.clone()])
    {
        assert!(
            binary.exists(),
            "{} is not built: run `make bench`",
            binary.display()
        );
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let test = runtime.block_on(TestApp::new());
    let (user, token) = runtime.block_on(test.user("bench@example.com"));
    let session = runtime.block_on(test.session(&user, Duration::from_secs(3600)));
    let mut credentials = Credentials {
        token: token.to_string(),
        session_id: session.session_id.to_string(),
        csrf: session.csrf_token.clone(),
    };
    let settings: Vec<(&str, String)> = vec![
        (
            "AWS_ENDPOINT_URL_DYNAMODB",
            testkit::dynamodb_local().endpoint().to_string(),
        ),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "local".into()),
        ("AWS_SECRET_ACCESS_KEY", "local".into()),
        ("TABLE_NAME", test.app.store().table().to_string()),
        ("TOKEN_KEY", KEY.into()),
        ("AWS_LAMBDA_LOG_LEVEL", "warn".into()),
    ];
    let mut report = String::new();

    // Round trips: counted by the SDK (an interceptor), per endpoint and auth mode.
    let _ = writeln!(
        report,
        "## DynamoDB round trips per request\n\n| endpoint | auth | requests sent by the SDK | operations |\n|---|---|---|---|"
    );
    let forged = "A".repeat(86);
    for (function, _) in FUNCTIONS {
        let modes: &[&str] = match function {
            "get-access-token" | "regenerate-access-token" => &["bearer", "session", "forged token", "none"],
            _ => &["bearer", "forged token", "none"],
        };
        for mode in modes {
            let headers = match *mode {
                "bearer" => vec![bearer(&credentials.token)],
                "session" => {
                    let session = shared::app::NewSession {
                        session_id: credentials.session_id.parse().expect("a session id"),
                        csrf_token: credentials.csrf.clone(),
                        expires_at: Timestamp::now(),
                    };
                    session_headers(&session, true)
                }
                "forged token" => vec![bearer(&forged)],
                _ => vec![],
            };
            test.requests.take();
            let method = if function == "regenerate-access-token" {
                "POST"
            } else {
                "GET"
            };
            let request = request(method, "/", &headers);
            let response = runtime.block_on(async {
                match function {
                    "get-current-user" => api::get_current_user(&test.app, request).await,
                    "get-access-token" => api::get_access_token(&test.app, request).await,
                    "regenerate-access-token" => api::regenerate_access_token(&test.app, request).await,
                    _ => api::get_auth_user(&test.app, request).await,
                }
            });
            let operations = test
                .requests
                .operations()
                .iter()
                .map(|op| op.rsplit('.').next().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let count = test.requests.take();
            if function == "regenerate-access-token" && response.status() == 200 {
                let (_, body) = testkit::parts(&response);
                credentials.token = body["access_token"].as_str().unwrap_or_default().to_string();
            }
            let _ = writeln!(
                report,
                "| {function} | {mode} ({}) | {count} | {} |",
                response.status().as_u16(),
                if operations.is_empty() {
                    "-".to_string()
                } else {
                    operations
                }
            );
        }
    }

    // Baselines, measured in this run.
    let mut hello_init = Vec::new();
    let mut hello_first = Vec::new();
    for _ in 0..runs {
        let (api, init) = start(&hello, &settings);
        hello_init.push(init);
        let started = Instant::now();
        let _ = api.invoke("{}", Duration::from_secs(10));
        hello_first.push(started.elapsed());
    }
    let (hello_api, _) = start(&hello, &settings);
    let hello_warm: Vec<Duration> = (0..warm_requests)
        .map(|_| {
            let started = Instant::now();
            let _ = hello_api.invoke(
                &bearer_event("get-current-user", &credentials),
                Duration::from_secs(10),
            );
            started.elapsed()
        })
        .collect();
    drop(hello_api);
    // Timed inside one task, as a function's handler runs: no runtime entry per call.
    let store = test.app.store();
    let bare_get: Vec<Duration> = runtime.block_on(async {
        let mut sample = Vec::with_capacity(warm_requests);
        for _ in 0..warm_requests {
            let started = Instant::now();
            store.get_user(user.id).await.expect("GetItem");
            sample.push(started.elapsed());
        }
        sample
    });
    let bare_update: Vec<Duration> = runtime.block_on(async {
        let mut sample = Vec::with_capacity(warm_requests);
        for _ in 0..warm_requests {
            let fresh = TokenState {
                nonce: TokenNonce::generate().expect("randomness"),
                issued_at: Timestamp::now(),
            };
            let started = Instant::now();
            store.reset_token(user.id, fresh).await.expect("UpdateItem");
            sample.push(started.elapsed());
            credentials.token = test
                .app
                .token_key()
                .access_token(user.id, fresh.nonce)
                .to_string();
        }
        sample
    });
    let (hello_init, hello_first) = (Spread::of(&hello_init), Spread::of(&hello_first));
    let hello_p50 = percentile(&hello_warm, 0.5);

    // Cold starts, then warm latency and memory, per function.
    let mut cold = String::new();
    let mut warm = String::new();
    let mut memory = String::new();
    for (function, _) in FUNCTIONS {
        let binary = release.join(function);
        let mut inits = Vec::new();
        let mut firsts = Vec::new();
        for _ in 0..runs {
            let (api, init) = start(&binary, &settings);
            inits.push(init);
            firsts.push(invoke(&api, function, &mut credentials));
        }
        let (api, _) = start(&binary, &settings);
        for _ in 0..20 {
            invoke(&api, function, &mut credentials);
        }
        let mut latencies = Vec::new();
        let mut rss_at_100 = 0;
        for n in 0..warm_requests {
            latencies.push(invoke(&api, function, &mut credentials));
            if n == 99 {
                rss_at_100 = api.function_pid().map(|pid| memory_kib(pid).1).unwrap_or(0);
            }
        }
        let (peak, rss_at_end) = api.function_pid().map(memory_kib).unwrap_or((0, 0));
        let (init, first) = (Spread::of(&inits), Spread::of(&firsts));
        let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
        let (floor_name, bare) = if function == "regenerate-access-token" {
            ("UpdateItem", &bare_update)
        } else {
            ("GetItem", &bare_get)
        };
        let floor = percentile(bare, 0.5) + hello_p50;
        let _ = writeln!(
            cold,
            "| {function} | {} | {} | {} | {} |",
            spread(init),
            verdict(init.median.as_secs_f64() / hello_init.median.as_secs_f64(), 1.2),
            spread(first),
            verdict(first.median.as_secs_f64() / p50.as_secs_f64(), 2.0),
        );
        let _ = writeln!(
            warm,
            "| {function} | {} | {} | {} ({floor_name} {} + hello {}) | {} |",
            ms(p50),
            ms(p99),
            ms(floor),
            ms(percentile(bare, 0.5)),
            ms(hello_p50),
            verdict(p50.as_secs_f64() / floor.as_secs_f64(), 1.15),
        );
        let _ = writeln!(
            memory,
            "| {function} | {:.1} | {:.1} | {:.1} |",
            peak as f64 / 1024.0,
            rss_at_100 as f64 / 1024.0,
            rss_at_end as f64 / 1024.0
        );
    }

    let _ = writeln!(
        report,
        "\n## Cold start ({runs} runs each: median (min–max), ms)\n\nInit is process spawn to the first `GET /runtime/invocation/next`; first request is the first invocation after it.\n\n| binary | init | init vs hello-world | first request | first request vs warm p50 |\n|---|---|---|---|---|"
    );
    let _ = writeln!(
        report,
        "| hello-world (baseline) | {} | 1.00x | {} | |",
        spread(hello_init),
        spread(hello_first)
    );
    report.push_str(&cold);
    let _ = writeln!(
        report,
        "\n## Warm requests ({warm_requests} each, ms)\n\nThe floor is the bare DynamoDB call from the same SDK client on the same DynamoDB Local (p50), plus the hello-world round trip through the same emulator (p50).\n\n| function | p50 | p99 | floor (p50) | p50 vs floor |\n|---|---|---|---|---|"
    );
    report.push_str(&warm);
    let _ = writeln!(
        report,
        "\n## Size (release profile)\n\n| binary | x86_64 (this machine) | vs hello-world | arm64 (`sam build`) | goal ≤ 5 MB |\n|---|---|---|---|---|"
    );
    let size = |path: &Path| std::fs::metadata(path).map(|m| m.len()).ok();
    let hello_size = size(&hello).unwrap_or(1);
    let _ = writeln!(
        report,
        "| hello-world | {:.2} MB | 1.00x | | |",
        hello_size as f64 / 1048576.0
    );
    for (function, logical_id) in FUNCTIONS {
        let x86 = size(&release.join(function)).unwrap_or(0);
        let arm: Option<u64> = size(&workspace_root().join(format!(".aws-sam/build/{logical_id}/bootstrap")));
        let largest = arm.unwrap_or(0).max(x86);
        let _ = writeln!(
            report,
            "| {function} | {:.2} MB | {:.2}x | {} | {} |",
            x86 as f64 / 1048576.0,
            x86 as f64 / hello_size as f64,
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
        "\n## Memory ({warm_requests} warm requests, MB)\n\nLambda bills by memory; the functions are given 128 MB.\n\n| function | peak RSS | RSS after 100 | RSS after {warm_requests} |\n|---|---|---|---|"
    );
    report.push_str(&memory);

    print!("{report}");
    let document = format!(
        "# Benchmarks\n\nLast run: {} on {}.\nReproduce with `make bench` (BENCH_RUNS={runs}, BENCH_WARM={warm_requests}). Every ratio is against a baseline measured in the same run; figures are medians over repeated runs, with min and max.\n\n{report}\n{}",
        Timestamp::now(),
        machine(),
        REFERENCE_POINTS
    );
    if release == default_dir {
        std::fs::write(workspace_root().join("BENCHMARKS.md"), document).expect("write BENCHMARKS.md");
        eprintln!("\nWritten to BENCHMARKS.md");
    }
}

const REFERENCE_POINTS: &str = "## Reference points (public figures, not measured here)\n\nA daily cold-start benchmark of hello-world functions (2026-08 medians of init duration): Rust on provided.al2023 13.8 ms arm64 / 15.8 ms x86_64, Go 43 ms, Python 3.13 80 ms, Node 22 128 ms. A 2021 Rust + DynamoDB sample measured 122.8 ms p50 cold and 5.1 ms p50 warm at 128 MB.\n";

/// CPU, cores, memory, kernel and toolchain of this machine.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown CPU")
        .trim()
        .to_string();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            })
        })
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "{cpu}, {cores} cores, {:.0} GiB, Linux {}, {rustc}, DynamoDB Local (in memory) on loopback",
        memory as f64 / 1048576.0,
        kernel.trim()
    )
}
