//! The API as `make run` serves it: scripts/run-local.sh (DynamoDB Local, the real function
//! binaries behind `local-api`, the REST API emulation) on free ports, with its printed
//! settings read back.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::{TiedProcess, free_port, workspace_root};

pub struct LocalApi {
    pub base_url: String,
    /// What the script prints for another terminal (AWS_ENDPOINT_URL_DYNAMODB, TABLE_NAME, ...).
    pub env: HashMap<String, String>,
    /// Everything the script and the functions printed, stderr included.
    pub logs: Arc<Mutex<String>>,
    /// The one browser origin allowed to call it with credentials.
    pub origin: String,
    process: Mutex<TiedProcess>,
}

impl LocalApi {
    /// Starts the local API, functions logging at `log_level`, without hot reload; returns
    /// once it prints `Ready:`. It stops when dropped or when this process ends.
    pub fn start(log_level: &str) -> Self {
        Self::start_with(log_level, &[])
    }

    /// [`start`](Self::start) with more settings (`NAME=value`) for the script.
    pub fn start_with(log_level: &str, settings: &[String]) -> Self {
        let root = workspace_root();
        assert!(
            root.join("target/debug/local-api").exists(),
            "local-api is not built: run `make test`"
        );
        let script = root.join("scripts/run-local.sh");
        let (port, dynamodb_port) = (
            format!("PORT={}", free_port()),
            format!("DYNAMODB_PORT={}", free_port()),
        );
        let log_level = format!("AWS_LAMBDA_LOG_LEVEL={log_level}");
        let origin = "http://localhost:5173".to_string();
        let origins = format!("ALLOWED_ORIGINS={origin}");
        // Its own store and key, whatever this shell points at; stderr into the same pipe.
        let args: Vec<&OsStr> = [
            "-u",
            "AWS_ENDPOINT_URL_DYNAMODB",
            "-u",
            "TABLE_NAME",
            "-u",
            "TOKEN_KEY",
            &port,
            &dynamodb_port,
            &log_level,
            &origins,
            "WATCH=0",
        ]
        .into_iter()
        .chain(settings.iter().map(String::as_str))
        .chain(["bash", "-c", "exec \"$0\" 2>&1"])
        .map(OsStr::new)
        .chain([script.as_os_str()])
        .collect();
        let mut process = TiedProcess::spawn("env", &args, Stdio::piped());
        let stdout = process.stdout().expect("stdout is piped");
        let logs = Arc::new(Mutex::new(String::new()));
        let (lines_tx, lines_rx) = mpsc::channel();
        let sink = Arc::clone(&logs);
        // Drain the output for the whole run, or the functions would block on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&format!("{line}\n"));
                let _ = lines_tx.send(line);
            }
        });
        let mut env = HashMap::new();
        loop {
            let Ok(line) = lines_rx.recv_timeout(Duration::from_secs(600)) else {
                panic!(
                    "make run never became ready:\n{}",
                    logs.lock().unwrap_or_else(|e| e.into_inner())
                );
            };
            if let Some(exports) = line.strip_prefix("export ") {
                for pair in exports.split_whitespace() {
                    if let Some((name, value)) = pair.split_once('=') {
                        env.insert(name.to_string(), value.to_string());
                    }
                }
            }
            if line.starts_with("Ready: ") {
                break;
            }
        }
        Self {
            base_url: env.get("BASE_URL").cloned().unwrap_or_default(),
            env,
            logs,
            origin,
            process: Mutex::new(process),
        }
    }

    /// `usersctl --json <args>` on this API's table with `stdin` as its input (a password).
    pub fn usersctl_with_stdin(&self, args: &[&str], stdin: &str) -> Value {
        use std::io::Write;
        let mut child = std::process::Command::new(workspace_root().join("target/debug/usersctl"))
            .arg("--json")
            .args(args)
            .envs(&self.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("usersctl runs");
        if let Some(mut input) = child.stdin.take() {
            input.write_all(stdin.as_bytes()).expect("usersctl reads stdin");
        }
        let output = child.wait_with_output().expect("usersctl ends");
        assert!(
            output.status.success(),
            "usersctl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("usersctl prints JSON")
    }

    /// `usersctl --json <args>` on this API's table; fails the caller on error.
    pub fn usersctl(&self, args: &[&str]) -> Value {
        crate::usersctl(&self.env, args)
    }

    /// A new user made with usersctl: `(email, token)`.
    pub fn new_user(&self) -> (String, String) {
        static USERS: AtomicUsize = AtomicUsize::new(0);
        let n = USERS.fetch_add(1, Ordering::SeqCst);
        let email = format!("user-{}-{n}@example.com", std::process::id());
        let user = self.usersctl(&["create-user", "--email", &email, "--email-confirmed"]);
        (
            email,
            user["access_token"].as_str().unwrap_or_default().to_string(),
        )
    }

    /// A new session of the user: `(sessionid, csrftoken)`.
    pub fn new_session(&self, email: &str) -> (String, String) {
        let session = self.usersctl(&["create-session", "--email", email]);
        let field = |name: &str| session[name].as_str().unwrap_or_default().to_string();
        (field("sessionid"), field("csrftoken"))
    }
}

impl crate::examples::ExampleTarget for LocalApi {
    fn base_url(&self) -> &str {
        &self.base_url
    }

    fn new_user(&self) -> (String, String) {
        LocalApi::new_user(self)
    }

    fn user_id(&self, email: &str) -> String {
        let user = self.usersctl(&["get-user", "--email", email]);
        user["id"].as_str().unwrap_or_default().to_string()
    }
}

impl Drop for LocalApi {
    fn drop(&mut self) {
        self.process.lock().unwrap_or_else(|e| e.into_inner()).stop();
    }
}
