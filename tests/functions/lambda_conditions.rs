//! The functions under what Lambda gives them and loopback does not: the store behind TLS
//! (a test CA, a real handshake and chain check), trust roots that must not come from the
//! filesystem, and environments frozen between invocations while the network closes or
//! forgets their connections. Behaviour only: the times are `make bench`'s job.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use shared::setup::TEST_CA_VARIABLE;
use testkit::cpu::CpuQuota;
use testkit::proxy::{Conditions, FaultProxy, TestCa};
use testkit::runtime_api::{Launch, RuntimeApi};
use testkit::{KEY, TestApp, workspace_root};

const FUNCTION: &str = "get-current-user";

/// A user on a fresh table, reachable through a TLS proxy made with `conditions`.
struct Setup {
    test: TestApp,
    token: String,
    proxy: FaultProxy,
    ca: Arc<TestCa>,
}

async fn setup(close_idle_after: Option<Duration>) -> Setup {
    let test = TestApp::new().await;
    let (_, token) = test.user("ann@example.com").await;
    let ca = Arc::new(TestCa::new());
    let proxy = FaultProxy::with(
        testkit::dynamodb_local().address(),
        Conditions {
            tls: Some(Arc::clone(&ca)),
            close_idle_after,
            ..Conditions::default()
        },
    );
    Setup {
        token: token.to_string(),
        test,
        proxy,
        ca,
    }
}

impl Setup {
    /// The function's settings: the proxy as its store, trusting the test CA if asked.
    fn settings(&self, trust_test_ca: bool) -> Vec<(&'static str, String)> {
        let mut settings = vec![
            ("AWS_ENDPOINT_URL_DYNAMODB", self.proxy.endpoint()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "local".into()),
            ("AWS_SECRET_ACCESS_KEY", "local".into()),
            ("TABLE_NAME", self.test.app.store().table().to_string()),
            ("TOKEN_KEY", KEY.into()),
            ("AWS_LAMBDA_LOG_LEVEL", "warn".into()),
        ];
        if trust_test_ca {
            settings.push((TEST_CA_VARIABLE, self.ca.root_pem.clone()));
        }
        settings
    }

    fn start(&self, trust_test_ca: bool, launch: &Launch) -> RuntimeApi {
        let binary = workspace_root().join("target/debug").join(FUNCTION);
        let settings = self.settings(trust_test_ca);
        let init_limit = Duration::from_secs(30);
        RuntimeApi::with_function_in(&binary, &settings, Stdio::null(), launch, init_limit).0
    }

    fn request(&self, api: &RuntimeApi) -> (u64, Value) {
        api.call(&testkit::bearer_event(FUNCTION, &self.token))
    }

    /// Thaws the frozen function: five requests succeed, over one new connection in all.
    fn thaw_and_reconnect_once(&self, api: &RuntimeApi, message: &str) {
        assert!(api.signal_function("-CONT"));
        for _ in 0..5 {
            assert_eq!(self.request(api).0, 200);
        }
        assert_eq!(self.proxy.handshakes(), 2, "{message}");
    }
}

#[tokio::test]
async fn functions_reach_the_store_over_tls_on_one_connection() {
    let setup = setup(None).await;
    let api = setup.start(true, &Launch::default());
    for _ in 0..20 {
        assert_eq!(setup.request(&api).0, 200);
    }
    assert_eq!(
        setup.proxy.handshakes(),
        1,
        "init's handshake serves every request"
    );
}

#[tokio::test]
async fn a_store_whose_certificate_no_trusted_root_signed_is_refused() {
    let setup = setup(None).await;
    // The test CA is not among Amazon's roots: the handshake fails, the request is a 503.
    let api = setup.start(false, &Launch::default());
    let (status, body) = setup.request(&api);
    assert_eq!(
        (status, body),
        (
            503,
            json!({"detail": "Service temporarily unavailable, try again later."})
        )
    );
    assert_eq!(setup.proxy.handshakes(), 0);
}

/// The bench's model of on-demand Lambda (tests/src/bin/bench/model.md): init at a whole CPU,
/// the invocations at the memory's share, from the function's first `next` on.
#[tokio::test]
async fn the_function_takes_up_its_cpu_share_when_its_init_ends() {
    let (counting, share) = match (CpuQuota::unlimited(), CpuQuota::lambda(128)) {
        (Ok(counting), Ok(share)) => (counting, share),
        (Err(reason), _) | (_, Err(reason)) => {
            testkit::skip(&format!("no CPU quota here: {reason}"));
            return;
        }
    };
    let setup = setup(None).await;
    let launch = Launch {
        cgroups: counting.procs_files(),
        invocation_cgroups: vec![share.share_procs_file()],
        ..Launch::default()
    };
    let api = setup.start(true, &launch);
    let pid = api
        .function_pid()
        .expect("a function started in cgroups has a pid");
    let init_cpu = counting.cpu_used();
    assert!(init_cpu > Duration::ZERO, "the init's CPU is counted");
    assert_eq!(
        share.throttled_periods(),
        0,
        "nothing ran under the share during init"
    );
    assert!(
        share.holds(pid),
        "after its first `next` the function runs under the share"
    );
    for _ in 0..5 {
        assert_eq!(setup.request(&api).0, 200);
    }
    assert!(share.holds(pid));
    assert!(
        counting.cpu_used() > init_cpu,
        "the invocations' CPU is still counted where the init's was"
    );
}

#[tokio::test]
async fn init_reads_no_trust_store_from_the_filesystem() {
    let strace = Command::new("strace").arg("-V").output();
    if !strace.is_ok_and(|output| output.status.success()) {
        testkit::skip("strace is not installed (make test installs it where apt can)");
        return;
    }
    let setup = setup(None).await;
    let trace = std::env::temp_dir().join(format!("init-trace-{}", std::process::id()));
    let launch = Launch {
        wrapper: ["strace", "-f", "-qq", "-e", "trace=%file", "-o"]
            .into_iter()
            .map(String::from)
            .chain([trace.display().to_string()])
            .collect(),
        ..Launch::default()
    };
    let mut api = setup.start(true, &launch);
    // The init is over (it asked for work) and it made its connection (its warm-up read).
    // The function ends first, so that strace, its parent, ends with it.
    let strace = api.function_pid().expect("strace's pid");
    let function = std::fs::read_to_string(format!("/proc/{strace}/task/{strace}/children")).unwrap();
    for pid in function.split_whitespace() {
        let _ = Command::new("kill").args(["-KILL", pid]).status();
    }
    api.stop_function();
    let trace = std::fs::read_to_string(&trace).unwrap();
    let trust_store: Vec<&str> = trace
        .lines()
        .filter(|line| line.contains("/etc/ssl") || line.contains("/etc/pki"))
        .collect();
    assert!(
        trace.lines().any(|line| line.contains(FUNCTION)),
        "the trace saw the function start: {trace}"
    );
    assert!(
        trust_store.is_empty(),
        "{} trust-store accesses: {trust_store:#?}",
        trust_store.len()
    );
    assert_eq!(setup.proxy.handshakes(), 1, "the init did connect, over TLS");
}

#[tokio::test]
async fn a_connection_closed_while_the_function_is_frozen_costs_a_reconnect_not_a_failure() {
    let setup = setup(Some(Duration::from_secs(2))).await;
    let api = setup.start(true, &Launch::default());
    assert_eq!(setup.request(&api).0, 200);
    // SIGSTOP, as Lambda freezes an environment between invocations.
    assert!(api.signal_function("-STOP"));
    // Frozen for longer than the far end keeps an idle connection.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        setup.proxy.idle_closes(),
        1,
        "the proxy closed the idle connection"
    );
    setup.thaw_and_reconnect_once(&api, "one reconnect, then that connection serves");
}

#[tokio::test]
async fn a_silently_dropped_connection_costs_one_attempt_then_a_fresh_connection_serves() {
    let setup = setup(None).await;
    let api = setup.start(true, &Launch::default());
    assert_eq!(setup.request(&api).0, 200);
    assert!(api.signal_function("-STOP"));
    // A NAT on the path forgets the connection: no FIN, no RST, just silence.
    setup.proxy.silence_open_connections();
    std::thread::sleep(Duration::from_secs(1));
    setup.thaw_and_reconnect_once(&api, "one fresh connection, then it serves");
}
