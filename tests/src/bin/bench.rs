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

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shared::api;
use shared::clock::Timestamp;
use shared::config::TEST_CA_VARIABLE;
use testkit::cpu::CpuQuota;
use testkit::proxy::{Conditions, FaultProxy, TestCa};
use testkit::runtime_api::{Launch, Outcome, RuntimeApi};
use testkit::{KEY, TestApp, bearer, request, session_headers, workspace_root};

const FUNCTIONS: [(&str, &str); 4] = [
    ("get-current-user", "GetCurrentUserFunction"),
    ("get-access-token", "GetAccessTokenFunction"),
    ("regenerate-access-token", "RegenerateAccessTokenFunction"),
    ("get-auth-user", "GetAuthUserFunction"),
];
/// The sign-in functions: measured apart (their events are not bearer events), sized alike.
const SIGN_IN_FUNCTIONS: [(&str, &str); 3] = [
    ("login", "LoginFunction"),
    ("logout", "LogoutFunction"),
    ("account-page", "AccountPageFunction"),
];
const SIZE_GOAL_BYTES: u64 = 5 * 1024 * 1024;
const RSS_GOAL_KIB: u64 = 16 * 1024;
/// The far end closes connections idle this long in the freeze run (the figure;
/// DynamoDB's own is about 60 s: aws/aws-sdk-java#1365).
const SERVER_IDLE_CLOSE: Duration = Duration::from_secs(20);

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn median(sample: &[Duration]) -> Duration {
    percentile(sample, 0.5)
}

fn percentile(sample: &[Duration], p: f64) -> Duration {
    let mut sorted = sample.to_vec();
    sorted.sort();
    sorted
        .get(((sorted.len().max(1) - 1) as f64 * p).round() as usize)
        .copied()
        .unwrap_or_default()
}

fn ms(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1000.0)
}

/// `ratio (goal ≤ x: met)` or a bold MISSED.
fn ratio_verdict(value: Duration, baseline: Duration, goal: f64) -> String {
    let ratio = value.as_secs_f64() / baseline.as_secs_f64().max(1e-9);
    if ratio <= goal {
        format!("{ratio:.2}x (≤ {goal}x: met)")
    } else {
        format!("**{ratio:.2}x (≤ {goal}x: MISSED)**")
    }
}

/// `+x ms (goal ≤ +y ms: met)` for a value over a floor.
fn margin_verdict(value: Duration, floor: Duration, allowed_ms: f64) -> String {
    let over = (value.as_secs_f64() - floor.as_secs_f64()) * 1000.0;
    if over <= allowed_ms {
        format!("{over:+.2} ms (≤ +{allowed_ms} ms: met)")
    } else {
        format!("**{over:+.2} ms (≤ +{allowed_ms} ms: MISSED)**")
    }
}

/// Where the functions' store is, and what CPU they get.
struct Setting {
    /// The round-trip time the proxies add.
    rtt: Duration,
    proxy: Arc<FaultProxy>,
    /// The cgroup the functions run in: a 128 MB function's share, or unlimited (counting
    /// CPU time only); `None` where this machine has no cgroups.
    cpu: Option<Arc<CpuQuota>>,
    /// The key from this secret (as deployed) instead of `TOKEN_KEY`.
    secret: Option<Arc<KeySecret>>,
}

/// The token key in moto's Secrets Manager, behind its own TLS proxy with the setting's RTT.
struct KeySecret {
    arn: String,
    proxy: FaultProxy,
}

impl Setting {
    fn name(&self) -> String {
        format!("TLS, {} ms RTT, {}", self.rtt.as_millis(), self.cpu_share())
    }

    /// `"7.2% CPU"`, or `"whole CPU"`.
    fn cpu_share(&self) -> String {
        self.cpu.as_ref().map_or("whole CPU".into(), |cpu| cpu.describe())
    }

    /// Whether the CPU is limited (a 128 MB function's share).
    fn limited(&self) -> bool {
        self.cpu.as_ref().is_some_and(|cpu| cpu.is_limited())
    }

    fn launch(&self) -> Launch {
        Launch {
            cgroups: self.cpu.as_ref().map(|cpu| cpu.procs_files()).unwrap_or_default(),
            ..Launch::default()
        }
    }

    /// Waits until a quota is whole again: a new execution environment starts with its
    /// share unused, while the process that ran before in this cgroup may have spent this
    /// period's (which would make a cold start wait for the next period, or not, by chance).
    fn fresh_quota(&self) {
        if let Some(cpu) = self.cpu.as_ref().filter(|cpu| cpu.is_limited()) {
            std::thread::sleep(cpu.period() * 2);
        }
    }

    /// The CPU the setting's processes have used so far (zero without cgroups).
    fn cpu_used(&self) -> Duration {
        self.cpu.as_ref().map(|cpu| cpu.cpu_used()).unwrap_or_default()
    }
}

/// What the run shares: the store, the CA, the user and its current credentials.
struct Bench {
    test: TestApp,
    user_id: uuid::Uuid,
    token: String,
    ca: Arc<TestCa>,
    release: PathBuf,
}

impl Bench {
    /// The functions' environment for a store behind `proxy`.
    fn settings(&self, setting: &Setting) -> Vec<(&'static str, String)> {
        let key = match &setting.secret {
            None => vec![("TOKEN_KEY", KEY.to_string())],
            Some(secret) => vec![
                ("TOKEN_KEY_SECRET_ARN", secret.arn.clone()),
                ("AWS_ENDPOINT_URL_SECRETS_MANAGER", secret.proxy.endpoint()),
            ],
        };
        let mut settings = vec![
            ("AWS_ENDPOINT_URL_DYNAMODB", setting.proxy.endpoint()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "local".into()),
            ("AWS_SECRET_ACCESS_KEY", "local".into()),
            ("TABLE_NAME", self.test.app.store().table().to_string()),
            ("AWS_LAMBDA_LOG_LEVEL", "warn".into()),
            ("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true".into()),
            (TEST_CA_VARIABLE, self.ca.root_pem.clone()),
        ];
        settings.extend(key);
        settings
    }

    /// A binary started as Lambda would in `setting`; returns it with its init time.
    fn start(&self, binary: &str, setting: &Setting) -> (RuntimeApi, Duration) {
        let binary = self.release.join(binary);
        let settings = self.settings(setting);
        let init_limit = Duration::from_secs(60);
        RuntimeApi::with_function_in(&binary, &settings, Stdio::null(), &setting.launch(), init_limit)
    }

    /// One invocation: the function's bearer event with the current token (hello-world gets
    /// the same event); returns how long the answer took, and keeps the token current.
    fn invoke(&mut self, api: &RuntimeApi, binary: &str) -> Duration {
        // hello-world gets the same event as the function it stands beside.
        let function = if binary == "hello-world" {
            "get-current-user"
        } else {
            binary
        };
        let event = testkit::bearer_event(function, &self.token);
        let started = Instant::now();
        let Outcome::Response(response) = api.invoke(&event, Duration::from_secs(60)) else {
            panic!("{binary} reported an error");
        };
        let elapsed = started.elapsed();
        if binary == "hello-world" {
            return elapsed;
        }
        let response: Value = serde_json::from_str(&response).expect("a response document");
        assert_eq!(response["statusCode"], 200, "{binary}: {response}");
        if binary == "regenerate-access-token" {
            let body: Value =
                serde_json::from_str(response["body"].as_str().unwrap_or_default()).unwrap_or_default();
            self.token = body["access_token"].as_str().unwrap_or_default().to_string();
        }
        elapsed
    }

    /// Cold starts: `(init, first response, spawn to first response)` medians over `runs`.
    fn cold(&mut self, binary: &str, setting: &Setting, runs: usize) -> ColdStart {
        let mut sample = ColdStart::default();
        for _ in 0..runs {
            setting.fresh_quota();
            let cpu_before = setting.cpu_used();
            let (api, init) = self.start(binary, setting);
            let cpu_at_init = setting.cpu_used();
            let first = self.invoke(&api, binary);
            sample.init_cpu.push(cpu_at_init.saturating_sub(cpu_before));
            sample
                .first_cpu
                .push(setting.cpu_used().saturating_sub(cpu_at_init));
            sample.init.push(init);
            sample.first.push(first);
            sample.total.push(init + first);
        }
        sample
    }

    /// `count` warm requests on one process (after its first); also its peak and final RSS.
    fn warm(&mut self, binary: &str, setting: &Setting, count: usize) -> Warm {
        let handshakes_before = setting.proxy.handshakes();
        let (api, _) = self.start(binary, setting);
        // The first request is the cold start's: not among the warm ones.
        self.invoke(&api, binary);
        let latencies = (0..count).map(|_| self.invoke(&api, binary)).collect();
        let memory = api.function_pid().map(memory_kib).unwrap_or_default();
        Warm {
            latencies,
            handshakes: setting.proxy.handshakes() - handshakes_before,
            memory,
        }
    }

    /// `bare-call`'s cold starts: spawn to its first `GetItem` done (connection, TLS
    /// handshake, one signed request: the least any function that reads DynamoDB does before
    /// it can answer), with no Lambda runtime; and its CPU time (to its exit, so slightly
    /// more). `(spawn to first call, CPU)` per run.
    fn bare_cold(&self, setting: &Setting, runs: usize) -> (Vec<Duration>, Vec<Duration>) {
        let args = ["get".to_string(), self.user_id.to_string(), "0".to_string()];
        let program = self.release.join("bare-call");
        let (mut totals, mut cpu) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            setting.fresh_quota();
            let cpu_before = setting.cpu_used();
            let started = Instant::now();
            let mut process =
                setting
                    .launch()
                    .spawn(&self.settings(setting), &program, &args, Stdio::piped());
            let output = process.stdout().expect("piped");
            let first = BufReader::new(output).lines().map_while(Result::ok).next();
            let elapsed = started.elapsed();
            assert!(
                first.is_some_and(|line| line.starts_with("first ")),
                "bare-call failed"
            );
            process.wait();
            totals.push(elapsed);
            cpu.push(setting.cpu_used().saturating_sub(cpu_before));
        }
        (totals, cpu)
    }

    /// The floor: `bare-call` in the setting's quota, `count` calls; `(first, latencies)`.
    fn bare(&self, operation: &str, setting: &Setting, count: usize) -> (Duration, Vec<Duration>) {
        let args = [operation.to_string(), self.user_id.to_string(), count.to_string()];
        let program = self.release.join("bare-call");
        let mut process = setting
            .launch()
            .spawn(&self.settings(setting), &program, &args, Stdio::piped());
        let output = process.stdout().expect("piped");
        let mut first = Duration::ZERO;
        let mut latencies = Vec::with_capacity(count);
        // As many lines as it prints: the watchdog shell holds the pipe open until stopped.
        for line in BufReader::new(output)
            .lines()
            .map_while(Result::ok)
            .take(count + 1)
        {
            let micros = |text: &str| Duration::from_micros(text.trim().parse().unwrap_or(0));
            match line.strip_prefix("first ") {
                Some(value) => first = micros(value),
                None => latencies.push(micros(&line)),
            }
        }
        process.stop();
        assert_eq!(latencies.len(), count, "bare-call {operation} failed");
        (first, latencies)
    }
}

#[derive(Default)]
struct ColdStart {
    init: Vec<Duration>,
    first: Vec<Duration>,
    total: Vec<Duration>,
    /// CPU time (the process's, counted by its cgroup) of the init and of the first response.
    init_cpu: Vec<Duration>,
    first_cpu: Vec<Duration>,
}

struct Warm {
    latencies: Vec<Duration>,
    handshakes: usize,
    memory: (u64, u64),
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

/// What reading the key from Secrets Manager at init costs: the same cold start with the key
/// in the environment and in a secret (moto behind a TLS proxy with the setting's RTT), and
/// each store's first call alone (`bare-call`: connect, handshake, one request).
fn key_from_secret(
    runtime: &tokio::runtime::Runtime,
    bench: &mut Bench,
    settings: &[Setting],
    runs: usize,
    report: &mut String,
) {
    let arn = runtime.block_on(testkit::create_secret(
        &format!("bench-key-{}", std::process::id()),
        KEY,
    ));
    let _ = writeln!(
        report,
        "\n## The key from Secrets Manager at init ({runs} runs each, medians, ms)\n\nThe key is read concurrently with the DynamoDB warm-up, over the same HTTPS client, so init should grow by at most the difference between the two first calls (each measured alone by `bare-call`: connection, TLS handshake, one request), not by their sum. Secrets Manager here is moto (a Python server, slower per request than the real one) behind its own TLS proxy with the same RTT.\n\n| setting | init, key in environment | init, key from the secret | growth | first DynamoDB call alone | first GetSecretValue alone |\n|---|---|---|---|---|---|"
    );
    for setting in settings.iter().filter(|s| s.rtt == Duration::from_millis(1)) {
        let with_secret = Setting {
            rtt: setting.rtt,
            proxy: Arc::clone(&setting.proxy),
            cpu: setting.cpu.clone(),
            secret: Some(Arc::new(KeySecret {
                arn: arn.clone(),
                proxy: tls_proxy(testkit::moto().address(), &bench.ca, setting.rtt, None),
            })),
        };
        let from_env = bench.cold("get-current-user", setting, runs);
        let from_secret = bench.cold("get-current-user", &with_secret, runs);
        let (store_first, _) = bench.bare("get", setting, 1);
        let (secret_first, _) = bench.bare("secret", &with_secret, 1);
        let (env_init, secret_init) = (median(&from_env.init), median(&from_secret.init));
        let _ = writeln!(
            report,
            "| {} | {} | {} | {} | {} | {} |",
            setting.name(),
            ms(env_init),
            ms(secret_init),
            ms(secret_init.saturating_sub(env_init)),
            ms(store_first),
            ms(secret_first)
        );
        eprintln!("key from the secret measured: {}", setting.name());
    }
}

/// A TLS proxy (the run's test CA) in front of `upstream`, adding `rtt`, closing connections
/// idle for `close_idle_after` if set.
fn tls_proxy(
    upstream: SocketAddr,
    ca: &Arc<TestCa>,
    rtt: Duration,
    close_idle_after: Option<Duration>,
) -> FaultProxy {
    FaultProxy::with(
        upstream,
        Conditions {
            tls: Some(Arc::clone(ca)),
            one_way_delay: rtt / 2,
            close_idle_after,
        },
    )
}

/// The SDK's requests per endpoint and auth mode, in-process.
fn round_trips(
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
                    "get-current-user" => api::get_current_user(&test.app, request).await,
                    "get-access-token" => api::get_access_token(&test.app, request).await,
                    "regenerate-access-token" => api::regenerate_access_token(&test.app, request).await,
                    _ => api::get_auth_user(&test.app, request).await,
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

/// `POST /api/auth/login/` with this email and password, as the page sends it.
fn login_request(email: &str, password: &str) -> lambda_http::Request {
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
fn sign_in_round_trips(runtime: &tokio::runtime::Runtime, bench: &mut Bench, report: &mut String) {
    let test = &bench.test;
    let password = "the bench's password";
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
        for _ in 0..shared::sign_in::MAX_FAILURES {
            api::login(&test.app, login_request("locked@example.com", "wrong")).await;
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
        let response = runtime.block_on(api::login(&test.app, request));
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
    let response = runtime.block_on(api::logout(&test.app, request));
    row(report, "logout", "session", response.status().as_u16(), test);
}

/// The login function's latency, warm, at 1 ms RTT with the CPU share of its 1,024 MB (as
/// deployed) and of 128 MB, for a right password, a wrong one and an unknown email (which
/// must cost about the same as a wrong password: nothing to tell an attacker which emails
/// have accounts).
fn sign_in_latency(
    runtime: &tokio::runtime::Runtime,
    bench: &mut Bench,
    lambda_like: &Setting,
    runs: usize,
    report: &mut String,
) {
    let password = "the bench's password";
    // Wrong passwords spread over enough accounts that none reaches the lockout.
    let per_account = (shared::sign_in::MAX_FAILURES - 1) as usize;
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
    let template = std::fs::read_to_string(workspace_root().join("events/login.json-body.json"))
        .expect("events/login.json-body.json");
    let template: Value = serde_json::from_str(&template).expect("an event in JSON");
    let event = |email: &str, password: &str| {
        let mut event = template.clone();
        event["body"] = json!(json!({"email": email, "password": password}).to_string());
        event.to_string()
    };
    let _ = writeln!(
        report,
        "\n## Sign-in latency (warm, TLS, 1 ms RTT, {runs} requests each, p50 / p99 ms)\n\nOne login: a `GetItem`, Argon2id (19 MiB, 2 passes), and a write. An unknown email is verified against a fixed hash with the same parameters, so it should cost what a wrong password does.\n\n| memory (CPU share) | right password (200) | wrong password (401) | unknown email (401) | unknown / wrong (p50) | peak RSS, MB |\n|---|---|---|---|---|---|"
    );
    for memory in [1024, 128] {
        let cpu = match CpuQuota::lambda(memory) {
            Ok(quota) => Some(Arc::new(quota)),
            Err(_) if memory == 128 => lambda_like.cpu.clone(),
            Err(_) => None,
        };
        let setting = Setting {
            rtt: lambda_like.rtt,
            proxy: Arc::clone(&lambda_like.proxy),
            cpu,
            secret: None,
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
            time(event(email, password), 200);
        }
        let right: Vec<Duration> = (0..runs)
            .map(|_| time(event(&accounts[0], password), 200))
            .collect();
        let wrong: Vec<Duration> = (0..runs)
            .map(|n| time(event(&accounts[n / per_account], "not the password"), 401))
            .collect();
        let unknown: Vec<Duration> = (0..runs)
            .map(|_| time(event("nobody@example.com", password), 401))
            .collect();
        let both = |sample: &[Duration]| format!("{} / {}", ms(median(sample)), ms(percentile(sample, 0.99)));
        let share = setting.cpu_share();
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

/// One line of the round-trip table: what the SDK sent since the last `take`.
fn row(report: &mut String, endpoint: &str, auth: &str, status: u16, test: &TestApp) {
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

/// Connection life across freezes, in the Lambda-like setting: the far end closes idle
/// connections while the process is stopped; then a path that silently drops one.
fn freezes(
    bench: &mut Bench,
    lambda_like: &Setting,
    proxy: &dyn Fn(Duration, Option<Duration>) -> Arc<FaultProxy>,
    freeze: Duration,
    report: &mut String,
) {
    let closing = Setting {
        rtt: Duration::from_millis(1),
        proxy: proxy(Duration::from_millis(1), Some(SERVER_IDLE_CLOSE)),
        cpu: lambda_like.cpu.clone(),
        secret: None,
    };
    let function = "get-current-user";
    let warm = bench.warm(function, &closing, 200);
    let p99 = percentile(&warm.latencies, 0.99);
    let (first, bare) = bench.bare("get", &closing, 50);
    let reconnect = first.saturating_sub(median(&bare));
    let (api, _) = bench.start(function, &closing);
    bench.invoke(&api, function);
    let signal = |name: &str| api.signal_function(name);
    let handshakes = closing.proxy.handshakes();
    signal("-STOP");
    std::thread::sleep(freeze);
    signal("-CONT");
    let thawed = bench.invoke(&api, function);
    let after_thaw = bench.invoke(&api, function);
    let reconnects = closing.proxy.handshakes() - handshakes;
    // The silent path: a NAT forgets the connection; no FIN, no RST.
    let handshakes = closing.proxy.handshakes();
    closing.proxy.silence_open_connections();
    let silenced = bench.invoke(&api, function);
    let after_silence = bench.invoke(&api, function);
    let silent_reconnects = closing.proxy.handshakes() - handshakes;
    let budget = p99 * 3 + reconnect;
    let attempt = shared::config::ATTEMPT_TIMEOUT;
    let _ = writeln!(
        report,
        "\n## Connection life across freezes ({}, {function}, ms)\n\nWarm p99 here {}; one reconnect (a fresh connection's first call minus a warm one, from `bare-call`) {}. The pool drops connections idle over {} s (shared/src/config.rs).\n\n| what | the request after it | the next request | new connections | goal |\n|---|---|---|---|---|\n| frozen {} s while the far end closed the idle connection at {} s | {} | {} | {reconnects} | {} |\n| the path silently drops the connection (no FIN, no RST) | {} | {} | {silent_reconnects} | {} |",
        closing.name(),
        ms(p99),
        ms(reconnect),
        shared::config::POOL_IDLE_TIMEOUT.as_secs(),
        freeze.as_secs(),
        SERVER_IDLE_CLOSE.as_secs(),
        ms(thawed),
        ms(after_thaw),
        if thawed <= budget {
            format!("≤ 3 × p99 + one reconnect = {}: met", ms(budget))
        } else {
            format!("**≤ 3 × p99 + one reconnect = {}: MISSED**", ms(budget))
        },
        ms(silenced),
        ms(after_silence),
        if silenced <= attempt + budget {
            format!("≤ one attempt timeout ({} ms) + that: met", attempt.as_millis())
        } else {
            format!(
                "**≤ one attempt timeout ({} ms) + that: MISSED**",
                attempt.as_millis()
            )
        },
    );
}

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
        "{cpu}, {cores} cores, {:.0} GiB, Linux {}, {rustc}, DynamoDB Local (in memory) behind testkit's TLS proxy on loopback",
        memory as f64 / 1048576.0,
        kernel.trim()
    )
}
