//! AWS's own local emulator on this machine: `sam local invoke` and `sam local start-api`
//! (SAM's Runtime Interface Emulator in a container) running the bootstraps `sam build` made
//! for this machine's architecture.
//!
//! Everything lives under `target/sam/`: a Docker daemon of its own with no bridge, no
//! iptables rule and no forwarding (all traffic stays on loopback), its data, SAM's home and
//! temporary files, and the base image SAM wants for `provided.al2023`, which cannot be
//! pulled here: a Debian rootfs from `debootstrap`, imported under SAM's name for it. SAM runs
//! through `tests/sam_local.py`, which puts its Lambda containers on the host's network (the
//! file says why). [`SamLocal::shut_down`] stops everything by PID and says what, if
//! anything, it left behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{TiedProcess, free_port, wait_for_port, workspace_root};

/// Lambda's name for this machine's architecture (SAM's `Architectures`, the template's
/// `Architecture` parameter).
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        other => other,
    }
}

/// Where `make build` (arm64) and `make build-x86_64` leave `sam build`'s output.
pub fn build_dir(architecture: &str) -> PathBuf {
    let dir = match architecture {
        "arm64" => ".aws-sam/build",
        _ => ".aws-sam/build-x86_64",
    };
    workspace_root().join(dir)
}

/// The image SAM 1.170 builds its emulator image from for `provided.al2023`
/// (samcli/local/docker/lambda_image.py: `public.ecr.aws/lambda/` + `provided:al2023` + `-<arch>`).
fn base_image(architecture: &str) -> String {
    format!("public.ecr.aws/lambda/provided:al2023-{architecture}")
}

/// Paths dockerd and containerd create outside their configured folders (fixed in their code):
/// removed at the end unless they were there before.
const FIXED_RUN_DIRS: [&str; 4] = [
    "/run/docker/plugins",
    "/run/docker",
    "/run/containerd/s",
    "/run/containerd",
];

/// Why `sam local` cannot run on this machine, if it cannot.
pub fn unavailable() -> Option<String> {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().next().map(str::to_string))
        });
    if uid.as_deref() != Some("0") {
        return Some("not root: a Docker daemon of the tests' own needs root".into());
    }
    for (command, package) in [("dockerd", "docker.io"), ("debootstrap", "debootstrap")] {
        if !on_path(command) {
            return Some(format!(
                "{command} is not installed (make sam-local installs the Debian package {package})"
            ));
        }
    }
    let build = build_dir(host_architecture());
    if !build.join("template.yaml").is_file() {
        return Some(format!(
            "no {} build in {} (make sam-local builds it)",
            host_architecture(),
            build.display()
        ));
    }
    None
}

fn on_path(command: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {command}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// What a run could leave on the host: network interfaces, firewall rules, mounts, the
/// daemons' fixed folders and processes.
#[derive(Debug, PartialEq, Eq)]
struct HostState {
    links: Vec<String>,
    firewall_rules: Vec<String>,
    mounts: Vec<String>,
    run_dirs: Vec<String>,
    processes: Vec<String>,
}

impl HostState {
    fn now(root: &Path) -> Self {
        let lines = |program: &str, args: &[&str]| -> Vec<String> {
            Command::new(program)
                .args(args)
                .output()
                .map(|output| {
                    String::from_utf8_lossy(&output.stdout)
                        .lines()
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let links = lines("ip", &["-o", "link"])
            .iter()
            .filter_map(|line| line.split(": ").nth(1).map(str::to_string))
            .collect();
        let mut firewall_rules: Vec<String> = lines("iptables-save", &[]);
        firewall_rules.extend(lines("ip6tables-save", &[]));
        firewall_rules.retain(|rule| rule.starts_with("-A"));
        let root_text = root.display().to_string();
        let mounts = std::fs::read_to_string("/proc/mounts")
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains(&root_text))
            .map(str::to_string)
            .collect();
        let run_dirs = FIXED_RUN_DIRS
            .iter()
            .filter(|dir| Path::new(dir).exists())
            .map(|dir| dir.to_string())
            .collect();
        let mut processes: Vec<String> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|entry| std::fs::read_to_string(entry.path().join("comm")).ok())
            .map(|name| name.trim().to_string())
            .filter(|name| {
                ["dockerd", "containerd", "containerd-shim", "aws-lambda-rie"]
                    .iter()
                    .any(|daemon| name.starts_with(daemon))
            })
            .collect();
        processes.sort();
        Self {
            links,
            firewall_rules,
            mounts,
            run_dirs,
            processes,
        }
    }
}

/// A Docker daemon of the tests' own, with the base image in it, and SAM to run against it.
pub struct SamLocal {
    root: PathBuf,
    architecture: &'static str,
    dockerd: Option<TiedProcess>,
    before: HostState,
}

impl SamLocal {
    /// Starts the daemon and makes the base image if its data does not hold it yet (the first
    /// run: `debootstrap`, about a minute and a half). Call [`unavailable`] first.
    pub fn start() -> Self {
        let root = workspace_root().join("target/sam");
        let before = HostState::now(&root);
        for dir in ["data", "exec", "home", "tmp"] {
            std::fs::create_dir_all(root.join(dir)).expect("target/sam is writable");
        }
        // Its own configuration file: dockerd would otherwise read /etc/docker/daemon.json and
        // write its key to /etc/docker/key.json (there is no command-line flag for that path).
        let key_path = root.join("key.json");
        std::fs::write(
            root.join("daemon.json"),
            serde_json::json!({"deprecated-key-path": key_path}).to_string(),
        )
        .expect("target/sam is writable");
        let path = |name: &str| root.join(name).display().to_string();
        let script = r#"exec dockerd "$@" >"$0" 2>&1"#;
        let log = path("dockerd.log");
        let config = path("daemon.json");
        let data = path("data");
        let exec = path("exec");
        let pidfile = path("dockerd.pid");
        let socket = format!("unix://{}", path("docker.sock"));
        let args: Vec<&std::ffi::OsStr> = [
            "-c",
            script,
            &log,
            "--config-file",
            &config,
            // No bridge, no iptables or ip6tables rule, no forwarding or masquerading: the
            // containers use the host's network, and only its loopback.
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-forward=false",
            "--ip-masq=false",
            "--data-root",
            &data,
            "--exec-root",
            &exec,
            "--pidfile",
            &pidfile,
            "-H",
            &socket,
        ]
        .into_iter()
        .map(std::ffi::OsStr::new)
        .collect();
        let dockerd = TiedProcess::spawn("sh", &args, Stdio::null());
        let mut sam = Self {
            root,
            architecture: host_architecture(),
            dockerd: Some(dockerd),
            before,
        };
        sam.wait_for_docker();
        sam.ensure_base_image();
        sam
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(args)
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.root.join("docker.sock").display()),
            )
            .output()
            .expect("the docker client runs")
    }

    fn wait_for_docker(&mut self) {
        let started = Instant::now();
        while !self.docker(&["version"]).status.success() {
            let exited = self.dockerd.as_mut().and_then(TiedProcess::exited).is_some();
            let log = || std::fs::read_to_string(self.root.join("dockerd.log")).unwrap_or_default();
            assert!(!exited, "dockerd exited: {}", log());
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "dockerd did not answer in 60 s: {}",
                log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SAM's base image for `provided.al2023`, made from a Debian rootfs (no image can be
    /// pulled here); SAM adds its emulator to it itself (`--skip-pull-image`).
    fn ensure_base_image(&self) {
        let image = base_image(self.architecture);
        if self.docker(&["image", "inspect", &image]).status.success() {
            return;
        }
        let rootfs = self.root.join("rootfs");
        if !rootfs.join("bin/sh").exists() {
            let status = Command::new("debootstrap")
                .args(["--variant=minbase", "bookworm"])
                .arg(&rootfs)
                .stdout(Stdio::null())
                .status()
                .expect("debootstrap runs");
            assert!(status.success(), "debootstrap failed");
        }
        let import = r#"tar -C "$0" -c . | docker import - "$1" >/dev/null && rm -rf "$0""#;
        let status = Command::new("sh")
            .args(["-c", import])
            .arg(&rootfs)
            .arg(&image)
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.root.join("docker.sock").display()),
            )
            .status()
            .expect("sh runs");
        assert!(status.success(), "docker import of {image} failed");
    }

    /// `sam <args>` through tests/sam_local.py, as a command line for `env`: SAM's state under
    /// target/sam, no telemetry, no AWS credentials of the caller's (SAM then gives functions
    /// its own, `defaultkey`), and the built template of this machine's architecture.
    fn sam_command(&self, args: &[&str]) -> Vec<String> {
        let root = workspace_root();
        let build = build_dir(self.architecture);
        let mut line: Vec<String> = [
            "-u",
            "AWS_ACCESS_KEY_ID",
            "-u",
            "AWS_SECRET_ACCESS_KEY",
            "-u",
            "AWS_SESSION_TOKEN",
            "-u",
            "AWS_PROFILE",
        ]
        .iter()
        .map(|arg| arg.to_string())
        .collect();
        line.extend([
            format!("DOCKER_HOST=unix://{}", self.root.join("docker.sock").display()),
            format!("HOME={}", self.root.join("home").display()),
            format!("TMPDIR={}", self.root.join("tmp").display()),
            "SAM_CLI_TELEMETRY=0".into(),
            "AWS_EC2_METADATA_DISABLED=true".into(),
            "AWS_DEFAULT_REGION=us-east-1".into(),
            root.join(".tools/venv/bin/python").display().to_string(),
            root.join("tests/sam_local.py").display().to_string(),
        ]);
        line.extend(args.iter().map(|arg| arg.to_string()));
        line.extend([
            "--template".into(),
            build.join("template.yaml").display().to_string(),
            "--parameter-overrides".into(),
            format!("Architecture={}", self.architecture),
            "--skip-pull-image".into(),
            // What Docker Desktop gives containers, and what `--add-host
            // host.docker.internal:host-gateway` gives them on Linux: here the host's own
            // loopback, since the containers share its network.
            "--add-host".into(),
            "host.docker.internal:127.0.0.1".into(),
        ]);
        line
    }

    /// `sam local invoke <function> --event <event> --env-vars <env_vars>`: the function's
    /// answer (stdout) and SAM's and the function's logs (stderr).
    pub fn invoke(&self, function: &str, event: &Path, env_vars: &Path) -> (String, String) {
        let event = event.display().to_string();
        let env_vars = env_vars.display().to_string();
        let output = Command::new("env")
            .args(self.sam_command(&[
                "local",
                "invoke",
                function,
                "--event",
                &event,
                "--env-vars",
                &env_vars,
            ]))
            .current_dir(workspace_root())
            .stdin(Stdio::null())
            .output()
            .expect("sam runs");
        (
            String::from_utf8_lossy(&output.stdout).to_string(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    }

    /// `sam local start-api` on a free loopback port, with warm containers started on first
    /// use; returns once it listens. Its output goes to `target/sam/start-api.log`.
    pub fn start_api(&self, env_vars: &Path) -> StartApi {
        let port = free_port();
        let port_text = port.to_string();
        let env_vars = env_vars.display().to_string();
        let log = self.root.join("start-api.log").display().to_string();
        let mut args: Vec<String> = vec![
            "-c".into(),
            r#"cd "$1" && shift && exec env "$@" >"$0" 2>&1"#.into(),
            log.clone(),
            workspace_root().display().to_string(),
        ];
        args.extend(self.sam_command(&[
            "local",
            "start-api",
            "--env-vars",
            &env_vars,
            "--warm-containers",
            "LAZY",
            "--host",
            "127.0.0.1",
            "--port",
            &port_text,
        ]));
        let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
        let mut process = TiedProcess::spawn("sh", &args, Stdio::null());
        wait_for_port(port, &mut process, "sam local start-api");
        StartApi {
            base_url: format!("http://127.0.0.1:{port}"),
            log: PathBuf::from(log),
            process,
        }
    }

    /// A copy of events/local-env.json (docs/local-runs.md's, for `make run`'s store on port 8000)
    /// pointing at the DynamoDB Local at `endpoint` instead; written under target/sam.
    pub fn env_vars(&self, endpoint: &str) -> PathBuf {
        let path = workspace_root().join("events/local-env.json");
        let text = std::fs::read_to_string(&path).expect("events/local-env.json");
        let mut settings: Value = serde_json::from_str(&text).expect("local-env.json is JSON");
        let port = endpoint.rsplit(':').next().unwrap_or_default();
        let readme = settings["Parameters"]["AWS_ENDPOINT_URL_DYNAMODB"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            readme, "http://host.docker.internal:8000",
            "docs/local-runs.md's store"
        );
        settings["Parameters"]["AWS_ENDPOINT_URL_DYNAMODB"] =
            Value::from(format!("http://host.docker.internal:{port}"));
        let copy = self.root.join("local-env.json");
        std::fs::write(&copy, settings.to_string()).expect("target/sam is writable");
        copy
    }

    /// Stops everything it started, by PID, and lists what the run left on the host that was
    /// not there before (empty: nothing).
    pub fn shut_down(mut self) -> Vec<String> {
        self.stop();
        let started = Instant::now();
        loop {
            let after = HostState::now(&self.root);
            let mut left = Vec::new();
            let new = |before: &[String], after: &[String]| -> Vec<String> {
                after
                    .iter()
                    .filter(|item| !before.contains(item))
                    .cloned()
                    .collect()
            };
            left.extend(
                new(&self.before.links, &after.links)
                    .into_iter()
                    .map(|l| format!("network interface {l}")),
            );
            left.extend(
                new(&self.before.firewall_rules, &after.firewall_rules)
                    .into_iter()
                    .map(|r| format!("firewall rule {r}")),
            );
            left.extend(
                new(&self.before.mounts, &after.mounts)
                    .into_iter()
                    .map(|m| format!("mount {m}")),
            );
            left.extend(
                new(&self.before.run_dirs, &after.run_dirs)
                    .into_iter()
                    .map(|d| format!("folder {d}")),
            );
            left.extend(
                new(&self.before.processes, &after.processes)
                    .into_iter()
                    .map(|p| format!("process {p}")),
            );
            if left.is_empty() || started.elapsed() > Duration::from_secs(15) {
                return left;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn stop(&mut self) {
        let Some(mut dockerd) = self.dockerd.take() else {
            return;
        };
        // Containers SAM left (it removes its own when it stops; a killed SAM does not).
        let listed = self.docker(&["ps", "-aq", "--filter", "label=sam.cli.container.type"]);
        let ids = String::from_utf8_lossy(&listed.stdout).to_string();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            self.docker(&[&["rm", "-f"][..], &ids].concat());
        }
        dockerd.stop();
        // libnetwork's namespace bind mount (exec-root/netns/default) outlives dockerd.
        let root = self.root.display().to_string();
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/mounts")
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.split_whitespace().nth(1).map(str::to_string))
            .filter(|mount| mount.starts_with(&root))
            .collect();
        mounts.sort_by(|a, b| b.cmp(a));
        for mount in mounts {
            let _ = Command::new("umount").arg(&mount).status();
        }
        for dir in FIXED_RUN_DIRS {
            if !self.before.run_dirs.iter().any(|existing| existing == dir) {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

impl Drop for SamLocal {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running `sam local start-api`.
pub struct StartApi {
    pub base_url: String,
    log: PathBuf,
    process: TiedProcess,
}

impl StartApi {
    /// What SAM and the functions printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops SAM (SIGTERM: it removes its warm containers) and waits until it is gone.
    pub fn stop(mut self) {
        self.process.stop();
    }
}

/// The template's logical id of the function built from binary `function` (its
/// `Metadata: BuildProperties: Binary`), as `sam local invoke` names it.
pub fn logical_id(function: &str) -> String {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).expect("template.yaml");
    let template: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("template.yaml is YAML");
    template["Resources"]
        .as_mapping()
        .into_iter()
        .flatten()
        .find(|(_, resource)| resource["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(function))
        .and_then(|(id, _)| id.as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no function builds the binary {function} in template.yaml"))
}
