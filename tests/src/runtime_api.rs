//! A minimal Lambda Runtime API: the four calls a function makes (`next`, `response`,
//! `error`, `init/error`), over HTTP/1.1 on loopback. It runs a real function binary on
//! events, as Lambda would, and notes when the function first asks for work: the end of
//! its init phase (what a cold-start benchmark measures).

use std::collections::{HashMap, VecDeque};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::TiedProcess;

/// What a function answered for one invocation.
#[derive(Debug)]
pub enum Outcome {
    /// The function's response document (for a REST API, the proxy response JSON).
    Response(String),
    /// The function reported an error (invocation or init).
    Error(String),
}

/// Why an invocation got no answer (see [`RuntimeApi::try_invoke`]).
#[derive(Debug)]
pub enum NoAnswer {
    /// The function reported an init error (`/init/error`).
    InitError(String),
    /// The function process is gone (it crashed or exited).
    Exited,
    /// No answer within the limit.
    TimedOut(Duration),
}

impl std::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InitError(error) => write!(f, "init error: {error}"),
            Self::Exited => f.write_str("the function process exited"),
            Self::TimedOut(limit) => write!(f, "no answer within {limit:?}"),
        }
    }
}

/// How often a wait checks that the function process is still there.
const LIVENESS_POLL: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Queue {
    events: VecDeque<(String, String)>,
    waiting: HashMap<String, Sender<Outcome>>,
    first_next: Option<Instant>,
    init_error: Option<String>,
    next_id: u64,
    /// Where the function process moves at its first `next` (its invocations' CPU share),
    /// and its pid once spawned.
    move_at_first_next: Option<(Vec<std::path::PathBuf>, Option<u32>)>,
}

/// How a function process is started, beyond Lambda's variables.
#[derive(Clone, Debug, Default)]
pub struct Launch {
    /// The `cgroup.procs` files of the groups to run in (see [`crate::cpu::CpuQuota`]). With
    /// any, the binary is started as Lambda starts a bootstrap, with nothing of the harness's
    /// counted or limited with it ([`TiedProcess::spawn_in_cgroups`]).
    pub cgroups: Vec<std::path::PathBuf>,
    /// A program the binary runs under (e.g. `strace -f -o FILE`).
    pub wrapper: Vec<String>,
    /// The `cgroup.procs` files the process moves to at its first `GET .../invocation/next`,
    /// the end of its init: on-demand Lambda runs init at a full vCPU and only the
    /// invocations at the memory size's share (see `testkit::cpu`). Empty: it stays put.
    pub invocation_cgroups: Vec<std::path::PathBuf>,
}

impl Launch {
    /// Starts `program args` with `env`: in the groups (see [`cgroups`](Self::cgroups)), or
    /// as `env NAME=value ... [wrapper ...] program args` under the watchdog shell.
    pub fn spawn<K: AsRef<str>, V: AsRef<str>>(
        &self,
        env: &[(K, V)],
        program: &Path,
        args: &[String],
        output: Stdio,
    ) -> TiedProcess {
        if !self.cgroups.is_empty() {
            assert!(self.wrapper.is_empty(), "a wrapper would run in the groups too");
            return TiedProcess::spawn_in_cgroups(program, args, env, &self.cgroups, output);
        }
        let mut argv: Vec<String> = vec!["env".into()];
        argv.extend(env.iter().map(|(k, v)| format!("{}={}", k.as_ref(), v.as_ref())));
        argv.extend(self.wrapper.iter().cloned());
        argv.push(program.display().to_string());
        argv.extend(args.iter().cloned());
        let (program, rest) = argv.split_first().expect("a command");
        let rest: Vec<&OsStr> = rest.iter().map(OsStr::new).collect();
        TiedProcess::spawn(program, &rest, output)
    }
}

/// A Runtime API endpoint with one function process behind it.
pub struct RuntimeApi {
    address: SocketAddr,
    shared: Arc<(Mutex<Queue>, Condvar)>,
    function: Option<(TiedProcess, Instant)>,
}

impl RuntimeApi {
    /// Listens on a free loopback port.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let address = listener.local_addr().expect("a bound address");
        let shared = Arc::new((Mutex::new(Queue::default()), Condvar::new()));
        let accepted = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let shared = Arc::clone(&accepted);
                std::thread::spawn(move || serve_connection(stream, &shared));
            }
        });
        Self {
            address,
            shared,
            function: None,
        }
    }

    /// A Runtime API with `binary` started behind it and through its init; returns the
    /// init time too (see [`wait_for_init`](Self::wait_for_init)).
    pub fn with_function<K: AsRef<str>, V: AsRef<str>>(
        binary: &Path,
        env: &[(K, V)],
        output: Stdio,
    ) -> (Self, Duration) {
        Self::with_function_in(binary, env, output, &Launch::default(), Duration::from_secs(30))
    }

    /// [`with_function`](Self::with_function) under `launch`, allowing `init_limit` for the init.
    pub fn with_function_in<K: AsRef<str>, V: AsRef<str>>(
        binary: &Path,
        env: &[(K, V)],
        output: Stdio,
        launch: &Launch,
        init_limit: Duration,
    ) -> (Self, Duration) {
        let mut api = Self::start();
        api.spawn_function_with(binary, env, output, launch);
        let init = api.wait_for_init(init_limit);
        (api, init)
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// Starts `binary` as Lambda would (the runtime's variables plus `env`); its stdout
    /// (the function's logs) goes to `output`, its stderr is inherited.
    pub fn spawn_function<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        binary: &Path,
        env: &[(K, V)],
        output: Stdio,
    ) {
        self.spawn_function_with(binary, env, output, &Launch::default());
    }

    /// [`spawn_function`](Self::spawn_function) under a CPU quota and/or a wrapper program.
    pub fn spawn_function_with<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        binary: &Path,
        env: &[(K, V)],
        output: Stdio,
        launch: &Launch,
    ) {
        let name = binary.file_name().and_then(OsStr::to_str).unwrap_or("function");
        let mut all = vec![
            ("AWS_LAMBDA_RUNTIME_API".to_string(), self.address()),
            ("AWS_LAMBDA_FUNCTION_NAME".to_string(), name.to_string()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".to_string(), "128".to_string()),
            ("AWS_LAMBDA_FUNCTION_VERSION".to_string(), "$LATEST".to_string()),
        ];
        all.extend(
            env.iter()
                .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string())),
        );
        if !launch.invocation_cgroups.is_empty() {
            let mut queue = self.shared.0.lock().unwrap_or_else(|e| e.into_inner());
            queue.move_at_first_next = Some((launch.invocation_cgroups.clone(), None));
        }
        let spawned_at = Instant::now();
        let process = launch.spawn(&all, binary, &[], output);
        let pid = process.is_direct().then(|| process.pid());
        self.function = Some((process, spawned_at));
        let (lock, ready) = &*self.shared;
        {
            let mut queue = lock.lock().unwrap_or_else(|e| e.into_inner());
            match (pid, queue.move_at_first_next.as_mut()) {
                (Some(pid), Some((_, slot))) => *slot = Some(pid),
                // Only a process started directly (in cgroups) has a pid of its own to move.
                (None, _) => queue.move_at_first_next = None,
                (_, None) => {}
            }
        }
        ready.notify_all();
    }

    /// Waits until the function has finished its init (its first `next` call) and returns
    /// how long that took from spawn; panics if it failed its init or took over `limit`.
    pub fn wait_for_init(&self, limit: Duration) -> Duration {
        self.try_wait_for_init(limit)
            .unwrap_or_else(|error| panic!("the function did not finish its init: {error}"))
    }

    /// Sends one event and waits for the function's answer; panics without one.
    pub fn invoke(&self, event: &str, limit: Duration) -> Outcome {
        self.try_invoke(event, limit)
            .unwrap_or_else(|error| panic!("no answer: {error}"))
    }

    /// `(statusCode, JSON body)` of the proxy response to `event`; panics if the function
    /// reported an error.
    pub fn call(&self, event: &str) -> (u64, serde_json::Value) {
        let Outcome::Response(response) = self.invoke(event, Duration::from_secs(30)) else {
            panic!("the function reported an error");
        };
        let response: serde_json::Value = serde_json::from_str(&response).expect("a proxy response");
        let body = response["body"].as_str().expect("a body");
        let body = serde_json::from_str(body).expect("a JSON body");
        (response["statusCode"].as_u64().expect("a status code"), body)
    }

    /// Sends `signal` (e.g. `-STOP`, `-CONT`: Lambda's freeze and thaw) to the function
    /// process; whether it was delivered.
    pub fn signal_function(&self, signal: &str) -> bool {
        self.function_pid().is_some_and(|pid| {
            std::process::Command::new("kill")
                .args([signal, &pid.to_string()])
                .status()
                .is_ok_and(|status| status.success())
        })
    }

    /// [`wait_for_init`](Self::wait_for_init) that reports an init error, a crash or a slow
    /// init instead of panicking.
    pub fn try_wait_for_init(&self, limit: Duration) -> Result<Duration, NoAnswer> {
        let spawned_at = self
            .function
            .as_ref()
            .map(|(_, at)| *at)
            .ok_or(NoAnswer::Exited)?;
        let (lock, ready) = &*self.shared;
        let mut queue = lock.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = Instant::now() + limit;
        loop {
            if let Some(at) = queue.first_next {
                return Ok(at - spawned_at);
            }
            if let Some(error) = &queue.init_error {
                return Err(NoAnswer::InitError(error.clone()));
            }
            if self.function_exited() {
                return Err(NoAnswer::Exited);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(NoAnswer::TimedOut(limit));
            }
            queue = ready
                .wait_timeout(queue, left.min(LIVENESS_POLL))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// [`invoke`](Self::invoke) that reports a timeout, a crash or an init error instead of
    /// panicking; a crash is noticed within [`LIVENESS_POLL`], not at the end of `limit`.
    pub fn try_invoke(&self, event: &str, limit: Duration) -> Result<Outcome, NoAnswer> {
        let receiver = self.enqueue(event);
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(NoAnswer::TimedOut(limit));
            }
            if let Ok(outcome) = receiver.recv_timeout(left.min(LIVENESS_POLL)) {
                return Ok(outcome);
            }
            let init_error = self
                .shared
                .0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .init_error
                .clone();
            if let Some(error) = init_error {
                return Err(NoAnswer::InitError(error));
            }
            if self.function_exited() {
                // It may have answered just before it went.
                return receiver.try_recv().map_err(|_| NoAnswer::Exited);
            }
        }
    }

    fn enqueue(&self, event: &str) -> Receiver<Outcome> {
        let (lock, ready) = &*self.shared;
        let mut queue = lock.lock().unwrap_or_else(|e| e.into_inner());
        queue.next_id += 1;
        let id = format!("request-{}", queue.next_id);
        let (sender, receiver) = mpsc::channel();
        queue.waiting.insert(id.clone(), sender);
        queue.events.push_back((id, event.to_string()));
        ready.notify_all();
        receiver
    }

    /// The function process's pid (itself, or a child of the watchdog shell), to read its
    /// memory.
    pub fn function_pid(&self) -> Option<u32> {
        let (process, _) = self.function.as_ref()?;
        if process.is_direct() {
            return Some(process.pid());
        }
        let shell = process.pid();
        let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).ok()?;
        children
            .split_whitespace()
            .filter_map(|pid| pid.parse().ok())
            .find(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() != "cat")
            })
    }

    /// Whether the function process has ended, as opposed to still running or not started
    /// yet. The watchdog shell forks the function before `cat`, so `cat` without a live
    /// function means it is gone. False when /proc cannot tell.
    pub fn function_exited(&self) -> bool {
        let Some((process, _)) = self.function.as_ref() else {
            return true;
        };
        if process.is_direct() {
            return process.has_exited();
        }
        let shell = process.pid();
        let Ok(children) = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")) else {
            return false;
        };
        let (mut function_alive, mut function_gone) = (false, false);
        for pid in children.split_whitespace() {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            match (comm.trim() == "cat", crate::process_ended(pid)) {
                (false, false) => function_alive = true,
                (false, true) | (true, _) => function_gone = true,
            }
        }
        function_gone && !function_alive
    }

    /// Stops the function process.
    pub fn stop_function(&mut self) {
        if let Some((mut process, _)) = self.function.take() {
            process.stop();
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.stop_function();
    }
}

/// One keep-alive connection: the runtime client reuses it for every call.
fn serve_connection(stream: TcpStream, shared: &(Mutex<Queue>, Condvar)) {
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = write_half;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or_default().to_string(),
            parts.next().unwrap_or_default().to_string(),
        );
        let mut content_length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = String::from_utf8_lossy(&body).to_string();
        let reply = route(&method, &path, body, shared);
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn route(method: &str, path: &str, body: String, shared: &(Mutex<Queue>, Condvar)) -> String {
    let (lock, ready) = shared;
    let accepted = http_response(202, &[], "{\"status\":\"OK\"}");
    let segments: Vec<&str> = path
        .trim_start_matches("/2018-06-01/runtime/")
        .split('/')
        .collect();
    match (method, segments.as_slice()) {
        ("GET", ["invocation", "next"]) => {
            let mut queue = lock.lock().unwrap_or_else(|e| e.into_inner());
            if queue.first_next.is_none() {
                // The init is over now: from here on the invocations' CPU share, if one is
                // set (the pid is filled in just after the spawn). The move is the harness's
                // cost, not the function's: a task's first move between cgroups waits for
                // the kernel (8 ms here, an RCU grace period), so the init ends before it,
                // and the first event is handed out only after it.
                let init_over = Instant::now();
                while let Some((_, None)) = &queue.move_at_first_next {
                    queue = ready.wait(queue).unwrap_or_else(|e| e.into_inner());
                }
                if let Some((files, Some(pid))) = queue.move_at_first_next.take() {
                    for file in files {
                        let _ = std::fs::write(&file, pid.to_string());
                    }
                }
                queue.first_next = Some(init_over);
            }
            ready.notify_all();
            let (id, event) = loop {
                if let Some(next) = queue.events.pop_front() {
                    break next;
                }
                queue = ready.wait(queue).unwrap_or_else(|e| e.into_inner());
            };
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|now| (now + Duration::from_secs(30)).as_millis())
                .unwrap_or_default()
                .to_string();
            let headers = [
                ("Lambda-Runtime-Aws-Request-Id", id.as_str()),
                ("Lambda-Runtime-Deadline-Ms", deadline.as_str()),
                (
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:us-east-1:000000000000:function:local",
                ),
                (
                    "Lambda-Runtime-Trace-Id",
                    "Root=1-00000000-000000000000000000000000;Sampled=0",
                ),
            ];
            http_response(200, &headers, &event)
        }
        ("POST", ["invocation", id, kind @ ("response" | "error")]) => {
            let waiting = lock.lock().unwrap_or_else(|e| e.into_inner()).waiting.remove(*id);
            if let Some(sender) = waiting {
                let outcome = if *kind == "response" {
                    Outcome::Response(body)
                } else {
                    Outcome::Error(body)
                };
                let _ = sender.send(outcome);
            }
            accepted
        }
        ("POST", ["init", "error"]) => {
            lock.lock().unwrap_or_else(|e| e.into_inner()).init_error = Some(body);
            ready.notify_all();
            accepted
        }
        _ => http_response(404, &[], "{\"errorMessage\":\"unknown Runtime API call\"}"),
    }
}

fn http_response(status: u16, headers: &[(&str, &str)], body: &str) -> String {
    let mut text = format!(
        "HTTP/1.1 {status} OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    text
}
