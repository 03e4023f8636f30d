//! The conditions a function runs under (RTT, CPU share, where its key comes from), and running it: cold starts and warm requests.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use shared::setup::TEST_CA_VARIABLE;
use testkit::cpu::CpuQuota;
use testkit::proxy::{Conditions, FaultProxy, TestCa};
use testkit::runtime_api::{Launch, Outcome, RuntimeApi};
use testkit::{KEY, TestApp};

/// Where the functions' store is, and what CPU they get.
pub(crate) struct Setting {
    /// The round-trip time the proxies add.
    pub(crate) rtt: Duration,
    pub(crate) proxy: Arc<FaultProxy>,
    /// The cgroup the functions run in: a 128 MB function's share, or unlimited (counting
    /// CPU time only); `None` where this machine has no cgroups.
    pub(crate) cpu: Option<Arc<CpuQuota>>,
    /// The key from this secret (as deployed) instead of `TOKEN_KEY`.
    pub(crate) secret: Option<Arc<KeySecret>>,
}

/// The token key in moto's Secrets Manager, behind its own TLS proxy with the setting's RTT.
pub(crate) struct KeySecret {
    pub(crate) arn: String,
    pub(crate) proxy: FaultProxy,
}

impl Setting {
    pub(crate) fn name(&self) -> String {
        format!("TLS, {} ms RTT, {}", self.rtt.as_millis(), self.cpu_share())
    }

    /// `"7.2% CPU"`, or `"whole CPU"`.
    pub(crate) fn cpu_share(&self) -> String {
        self.cpu.as_ref().map_or("whole CPU".into(), |cpu| cpu.describe())
    }

    /// Whether the CPU is limited (a 128 MB function's share).
    pub(crate) fn limited(&self) -> bool {
        self.cpu.as_ref().is_some_and(|cpu| cpu.is_limited())
    }

    pub(crate) fn launch(&self) -> Launch {
        Launch {
            cgroups: self.cpu.as_ref().map(|cpu| cpu.procs_files()).unwrap_or_default(),
            ..Launch::default()
        }
    }

    /// Waits until a quota is whole again: a new execution environment starts with its
    /// share unused, while the process that ran before in this cgroup may have spent this
    /// period's (which would make a cold start wait for the next period, or not, by chance).
    pub(crate) fn fresh_quota(&self) {
        if let Some(cpu) = self.cpu.as_ref().filter(|cpu| cpu.is_limited()) {
            std::thread::sleep(cpu.period() * 2);
        }
    }

    /// The CPU the setting's processes have used so far (zero without cgroups).
    pub(crate) fn cpu_used(&self) -> Duration {
        self.cpu.as_ref().map(|cpu| cpu.cpu_used()).unwrap_or_default()
    }
}

/// What the run shares: the store, the CA, the user and its current credentials.
pub(crate) struct Bench {
    pub(crate) test: TestApp,
    pub(crate) user_id: uuid::Uuid,
    pub(crate) token: String,
    pub(crate) ca: Arc<TestCa>,
    pub(crate) release: PathBuf,
}

impl Bench {
    /// The functions' environment for a store behind `proxy`.
    pub(crate) fn settings(&self, setting: &Setting) -> Vec<(&'static str, String)> {
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
    pub(crate) fn start(&self, binary: &str, setting: &Setting) -> (RuntimeApi, Duration) {
        let binary = self.release.join(binary);
        let settings = self.settings(setting);
        let init_limit = Duration::from_secs(60);
        RuntimeApi::with_function_in(&binary, &settings, Stdio::null(), &setting.launch(), init_limit)
    }

    /// One invocation: the function's bearer event with the current token (hello-world gets
    /// the same event); returns how long the answer took, and keeps the token current.
    pub(crate) fn invoke(&mut self, api: &RuntimeApi, binary: &str) -> Duration {
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
    pub(crate) fn cold(&mut self, binary: &str, setting: &Setting, runs: usize) -> ColdStart {
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
    pub(crate) fn warm(&mut self, binary: &str, setting: &Setting, count: usize) -> Warm {
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
    pub(crate) fn bare_cold(&self, setting: &Setting, runs: usize) -> (Vec<Duration>, Vec<Duration>) {
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
    pub(crate) fn bare(&self, operation: &str, setting: &Setting, count: usize) -> (Duration, Vec<Duration>) {
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
pub(crate) struct ColdStart {
    pub(crate) init: Vec<Duration>,
    pub(crate) first: Vec<Duration>,
    pub(crate) total: Vec<Duration>,
    /// CPU time (the process's, counted by its cgroup) of the init and of the first response.
    pub(crate) init_cpu: Vec<Duration>,
    pub(crate) first_cpu: Vec<Duration>,
}

pub(crate) struct Warm {
    pub(crate) latencies: Vec<Duration>,
    pub(crate) handshakes: usize,
    pub(crate) memory: (u64, u64),
}

/// `VmHWM` (peak) and `VmRSS` of a process, in KiB.
pub(crate) fn memory_kib(pid: u32) -> (u64, u64) {
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

/// A TLS proxy (the run's test CA) in front of `upstream`, adding `rtt`, closing connections
/// idle for `close_idle_after` if set.
pub(crate) fn tls_proxy(
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
