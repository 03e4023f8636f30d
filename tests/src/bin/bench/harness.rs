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
#[derive(Clone)]
pub(crate) struct Setting {
    /// The round-trip time the proxies add.
    pub(crate) rtt: Duration,
    pub(crate) proxy: Arc<FaultProxy>,
    /// The cgroup the functions start in, which counts their CPU time: unlimited (on-demand
    /// Lambda's init at a full vCPU), or a share (provisioned concurrency's init); `None`
    /// where this machine has no cgroups.
    pub(crate) cpu: Option<Arc<CpuQuota>>,
    /// The share a function moves to at its first `next` (the invocations'), if any.
    pub(crate) invocation_cpu: Option<Arc<CpuQuota>>,
    /// What the setting is called in the report.
    pub(crate) label: String,
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
        format!("TLS, {} ms RTT, {}", self.rtt.as_millis(), self.label)
    }

    /// At `rtt` behind `proxy`, started in `cpu` (which counts) and moving to
    /// `invocation_cpu` at the first `next`; the key from `TOKEN_KEY`.
    pub(crate) fn new(
        rtt: Duration,
        proxy: &Arc<FaultProxy>,
        label: String,
        cpu: Option<CpuQuota>,
        invocation_cpu: Option<CpuQuota>,
    ) -> Self {
        Setting {
            rtt,
            proxy: Arc::clone(proxy),
            cpu: cpu.map(Arc::new),
            invocation_cpu: invocation_cpu.map(Arc::new),
            label,
            secret: None,
        }
    }

    /// Whether the invocations' CPU is limited (a memory size's share).
    pub(crate) fn limited(&self) -> bool {
        self.invocation_cpu
            .as_ref()
            .or(self.cpu.as_ref())
            .is_some_and(|cpu| cpu.is_limited())
    }

    /// A function's start: in the counting group, moving to the invocations' share (if
    /// any) at its first `next`.
    pub(crate) fn launch(&self) -> Launch {
        Launch {
            cgroups: self.cpu.as_ref().map(|cpu| cpu.procs_files()).unwrap_or_default(),
            invocation_cgroups: self
                .invocation_cpu
                .as_ref()
                .map(|cpu| vec![cpu.share_procs_file()])
                .unwrap_or_default(),
            ..Launch::default()
        }
    }

    /// `bare-call`'s warm loop: all of it at the invocations' share (it has no `next` to
    /// mark the end of an init; its first call is left out of the warm figures anyway).
    pub(crate) fn bare_launch(&self) -> Launch {
        let group = self.invocation_cpu.as_ref().or(self.cpu.as_ref());
        Launch {
            cgroups: group.map(|cpu| cpu.procs_files()).unwrap_or_default(),
            ..Launch::default()
        }
    }

    /// The same setting in a new execution environment: new cgroups with the same shares,
    /// their quota unspent (the last process may have spent this period's, which would make
    /// a cold start wait for the next period, or not, by chance). New groups rather than a
    /// wait for the period to pass: an idle pause before each start slowed what followed it.
    pub(crate) fn fresh(&self) -> Setting {
        let renew = |cpu: &Option<Arc<CpuQuota>>| {
            cpu.as_ref()
                .map(|cpu| cpu.renewed().map(Arc::new).unwrap_or_else(|_| Arc::clone(cpu)))
        };
        Setting {
            cpu: renew(&self.cpu),
            invocation_cpu: renew(&self.invocation_cpu),
            ..self.clone()
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
    /// The run's tokio runtime, which drives the test app's connections.
    pub(crate) runtime: tokio::runtime::Handle,
    /// The user's session cookies (`sessionid`, `csrftoken`), for the sign-out's events.
    pub(crate) session: (String, String),
}

/// The bench user's password, for the sign-in's events.
pub(crate) const PASSWORD: &str = "the bench's password";

/// `events/<name>.json`, parsed.
fn event_file(name: &str) -> Value {
    let path = testkit::workspace_root().join(format!("events/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_str(&text).expect("an event in JSON")
}

/// The sign-in's event (`events/login.json-body.json`) with this email and password.
pub(crate) fn login_event(email: &str, password: &str) -> String {
    let mut event = event_file("login.json-body");
    let body = serde_json::json!({"email": email, "password": password});
    event["body"] = Value::String(body.to_string());
    event.to_string()
}

impl Bench {
    /// Gives the user a token of ours again (after `bare-call update` replaced it).
    pub(crate) fn renew_token(&mut self) {
        let (app, user) = (&self.test.app, self.user_id);
        if let Ok(Some(token)) = self.runtime.block_on(app.reset_token(user)) {
            self.token = token.to_string();
        }
    }

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

    /// The event `binary` is benchmarked with: the contract's functions get their bearer
    /// event with the current token (hello-world too), the sign-in a right password, the
    /// sign-out the user's session with its CSRF token, the page its `GET /`.
    pub(crate) fn event(&self, binary: &str) -> String {
        match binary {
            "login" => login_event("bench@example.com", PASSWORD),
            "logout" => {
                let mut event = event_file("logout.session");
                let (sessionid, csrftoken) = &self.session;
                let cookie = format!("sessionid={sessionid}; csrftoken={csrftoken}");
                for (name, value) in [("Cookie", cookie), ("X-CSRFToken", csrftoken.clone())] {
                    event["headers"][name] = Value::String(value.clone());
                    event["multiValueHeaders"][name] = serde_json::json!([value]);
                }
                event.to_string()
            }
            "account-page" => event_file("account-page.get").to_string(),
            "hello-world" => testkit::bearer_event("get-current-user", &self.token),
            function => testkit::bearer_event(function, &self.token),
        }
    }

    /// One invocation with [`event`](Self::event); returns how long the answer took, and
    /// keeps the token current.
    pub(crate) fn invoke(&mut self, api: &RuntimeApi, binary: &str) -> Duration {
        let event = self.event(binary);
        let started = Instant::now();
        let Outcome::Response(response) = api.invoke(&event, Duration::from_secs(60)) else {
            panic!("{binary} reported an error");
        };
        let elapsed = started.elapsed();
        if binary == "hello-world" {
            return elapsed;
        }
        let response: Value = serde_json::from_str(&response).expect("a response document");
        let status = response["statusCode"].as_u64().unwrap_or_default();
        assert!((200..300).contains(&status), "{binary}: {response}");
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
            let setting = setting.fresh();
            let cpu_before = setting.cpu_used();
            let (api, init) = self.start(binary, &setting);
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
    /// it can answer), with no Lambda runtime: spawn to first call, per run.
    pub(crate) fn bare_cold(&self, setting: &Setting, runs: usize) -> Vec<Duration> {
        let args = ["get".to_string(), self.user_id.to_string(), "0".to_string()];
        let program = self.release.join("bare-call");
        let mut totals = Vec::new();
        for _ in 0..runs {
            let setting = setting.fresh();
            let started = Instant::now();
            let mut process =
                setting
                    .launch()
                    .spawn(&self.settings(&setting), &program, &args, Stdio::piped());
            let output = process.stdout().expect("piped");
            let first = BufReader::new(output).lines().map_while(Result::ok).next();
            let elapsed = started.elapsed();
            assert!(
                first.is_some_and(|line| line.starts_with("first ")),
                "bare-call failed"
            );
            process.wait();
            totals.push(elapsed);
        }
        totals
    }

    /// The floor: `bare-call` in the setting's quota, `count` calls; `(first, latencies)`.
    pub(crate) fn bare(&self, operation: &str, setting: &Setting, count: usize) -> (Duration, Vec<Duration>) {
        let args = [operation.to_string(), self.user_id.to_string(), count.to_string()];
        let program = self.release.join("bare-call");
        let mut process =
            setting
                .bare_launch()
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

/// The settings the functions are measured in, all at `rtt` behind `proxy`: a whole CPU;
/// on-demand 128 MB (init at a whole CPU, the invocations at 7.2%) over the shortest period
/// the kernel allows and over its default 100 ms; and provisioned concurrency at 128 MB,
/// whose init gets the share too. Each has a counting group of its own.
pub(crate) fn lambda_settings(rtt: Duration, proxy: &Arc<FaultProxy>) -> Result<Vec<Setting>, String> {
    let setting = |label: String, cpu: CpuQuota, invocation_cpu: Option<CpuQuota>| {
        Setting::new(rtt, proxy, label, Some(cpu), invocation_cpu)
    };
    let shortest = CpuQuota::lambda(128)?;
    let period = |quota: &CpuQuota| format!("{:.1} ms", quota.period().as_secs_f64() * 1000.0);
    let on_demand = format!(
        "on-demand 128 MB: init at a whole CPU, invocations at 7.2% (1 ms per {})",
        period(&shortest)
    );
    let kernel_period = CpuQuota::lambda_over(128, Duration::from_millis(100))?;
    let provisioned = CpuQuota::lambda(128)?;
    Ok(vec![
        setting("whole CPU".into(), CpuQuota::unlimited()?, None),
        setting(on_demand, CpuQuota::unlimited()?, Some(shortest)),
        setting(
            "on-demand 128 MB, the kernel's default period: invocations at 7.2 ms per 100 ms".into(),
            CpuQuota::unlimited()?,
            Some(kernel_period),
        ),
        setting(
            format!(
                "provisioned concurrency 128 MB: init at 7.2% too (1 ms per {})",
                period(&provisioned)
            ),
            provisioned,
            None,
        ),
    ])
}
