//! Instructions, counted by callgrind: the CPU cost of an init and of a warm request for
//! every function, each against its floor in the same run. Counts repeat exactly for the
//! same binary and input whatever else the machine does, so this is the measure of what a
//! function costs in CPU; wall time under a quota only multiplies it.
//!
//! Each figure is a difference of whole runs (start, init, requests, stop), so the process's
//! start and exit cancel out: init = a run that stops at its first `next`; the first request
//! = a run with one request, less that; a warm request = (a run with 1 + N requests, less the
//! run with one) / N. The floor of a warm request is hello-world's warm invocation (the
//! Lambda runtime, the event, the response) plus `bare-call`'s warm call of the same store
//! operation (the SDK alone); of an init, hello-world's init plus `bare-call`'s first call
//! (its connection, TLS handshake and one signed request; the clients alone subtracted).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use testkit::runtime_api::{Launch, RuntimeApi};

use crate::*;

/// Warm requests in the long run: enough that one request's noise (a random nonce's bytes)
/// is nothing against the mean.
const WARM: usize = 100;
/// The sign-in's: each is an Argon2id hash (about 480 M instructions), so a few are plenty.
const WARM_SIGN_INS: usize = 3;

/// The store operations of a function's request, as `bare-call` names them; `None`: it
/// makes none (the page).
pub(crate) fn operation(function: &str) -> Option<&'static str> {
    match function {
        "regenerate-access-token" => Some("update"),
        "login" => Some("signin"),
        "logout" => Some("delete"),
        "account-page" => None,
        _ => Some("get"),
    }
}

/// What one function costs, in instructions.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counts {
    pub(crate) init: u64,
    pub(crate) first: u64,
    pub(crate) warm: u64,
}

/// The instructions callgrind counted in a run (its `summary:` line).
fn total(file: &Path) -> u64 {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .find_map(|line| {
            line.strip_prefix("summary:")
                .or_else(|| line.strip_prefix("totals:"))
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no callgrind totals in {}", file.display()))
}

fn callgrind(out: &Path) -> Launch {
    Launch {
        wrapper: vec![
            "valgrind".into(),
            "--tool=callgrind".into(),
            "-q".into(),
            format!("--callgrind-out-file={}", out.display()),
        ],
        ..Launch::default()
    }
}

pub(crate) fn valgrind_missing() -> Option<String> {
    let found = std::process::Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    (!found).then(|| "valgrind is not installed (apt-get install valgrind)".to_string())
}

impl Bench {
    /// A function run under callgrind through its init and `requests` invocations: its total.
    fn counted(&mut self, binary: &str, setting: &Setting, requests: usize, dir: &Path) -> u64 {
        let out = dir.join(format!("{binary}-{requests}.out"));
        let _ = std::fs::remove_file(&out);
        let program = self.release.join(binary);
        let settings = self.settings(setting);
        let launch = callgrind(&out);
        let mut api = RuntimeApi::start();
        api.spawn_function_with(&program, &settings, Stdio::null(), &launch);
        api.wait_for_init(Duration::from_secs(120));
        for _ in 0..requests {
            self.invoke(&api, binary);
        }
        api.stop_function();
        total(&out)
    }

    /// `binary`'s init, first request and warm request, in instructions.
    pub(crate) fn instructions(&mut self, binary: &str, setting: &Setting, dir: &Path) -> Counts {
        let warm = if binary == "login" { WARM_SIGN_INS } else { WARM };
        let none = self.counted(binary, setting, 0, dir);
        let one = self.counted(binary, setting, 1, dir);
        let many = self.counted(binary, setting, 1 + warm, dir);
        Counts {
            init: none,
            first: one.saturating_sub(none),
            warm: many.saturating_sub(one) / warm as u64,
        }
    }

    /// `bare-call <operation>` under callgrind with `count` calls after the first; its total.
    fn bare_counted(&self, operation: &str, setting: &Setting, count: usize, dir: &Path) -> u64 {
        let out = dir.join(format!("bare-call-{operation}-{count}.out"));
        let _ = std::fs::remove_file(&out);
        let args = [operation.to_string(), self.user_id.to_string(), count.to_string()];
        let program = self.release.join("bare-call");
        // Waited for to its own end (a TiedProcess's wait would stop it).
        let status = std::process::Command::new("valgrind")
            .args(&callgrind(&out).wrapper[1..])
            .arg(&program)
            .args(&args)
            .envs(self.settings(setting))
            .stdout(Stdio::null())
            .status()
            .expect("valgrind runs");
        assert!(status.success(), "bare-call {operation} under callgrind failed");
        total(&out)
    }

    /// `bare-call`'s first call and warm call of `operation`, in instructions: `(first, warm)`.
    pub(crate) fn bare_instructions(&self, operation: &str, setting: &Setting, dir: &Path) -> (u64, u64) {
        let clients = self.bare_counted("none", setting, 0, dir);
        let one = self.bare_counted(operation, setting, 0, dir);
        let many = self.bare_counted(operation, setting, WARM, dir);
        (
            one.saturating_sub(clients),
            many.saturating_sub(one) / WARM as u64,
        )
    }
}

/// `1.23 M`
pub(crate) fn millions(count: u64) -> String {
    format!("{:.2} M", count as f64 / 1e6)
}

/// The table: every function's init and warm request against its floor, then the goals'
/// verdicts.
pub(crate) fn instructions_table(bench: &mut Bench, setting: &Setting, report: &mut String) {
    let dir: PathBuf = workspace_root().join("target/bench-callgrind");
    std::fs::create_dir_all(&dir).expect("target/ is writable");
    let hello = bench.instructions("hello-world", setting, &dir);
    let mut floors = std::collections::BTreeMap::new();
    for operation in ["get", "update", "signin", "delete"] {
        floors.insert(operation, bench.bare_instructions(operation, setting, &dir));
        // `update` replaced the user's token: the functions need a real one.
        bench.renew_token();
    }
    let _ = writeln!(
        report,
        "\n## Instructions per init and per warm request (callgrind, {})\n\nCounted by `valgrind --tool=callgrind` on the release binaries (the same instructions as `make build`'s, for this machine's architecture): repeatable to the instruction on a shared machine. The floor of a warm request is hello-world's warm invocation ({}) plus `bare-call`'s warm call of the same store operation; of an init, hello-world's init ({}) plus `bare-call`'s first `GetItem` (connection, TLS handshake, one signed request: what every function's init does to warm its connection). `bare-call update` sends a regenerate's conditional `UpdateItem`, presenting the nonce it wrote last. Goals for the contract's four: a warm request at most 1.10x its floor, and beyond it a whole warm request under 0.65 M (aws-samples/serverless-rust-demo's get-product, one `GetItem` on SDK 0.7 and lambda_runtime 0.5, counted the same way for issue 22: 0.65 M as shipped, 0.46 M without its logging).\n\n| function | store calls | init | init floor | init vs floor | first request | warm request | warm floor | warm vs floor |\n|---|---|---|---|---|---|---|---|---|",
        setting.name(),
        millions(hello.warm),
        millions(hello.init),
    );
    let mut warm = Vec::new();
    // BENCH_FUNCTIONS: a comma-separated few (all when unset), to count one change quickly.
    let only = std::env::var("BENCH_FUNCTIONS").unwrap_or_default();
    let chosen = |function: &str| only.is_empty() || only.split(',').any(|name| name.trim() == function);
    for (function, _) in FUNCTIONS
        .iter()
        .chain(&SIGN_IN_FUNCTIONS)
        .filter(|(name, _)| chosen(name))
    {
        let counts = bench.instructions(function, setting, &dir);
        // Every function's init warms its connection with a `GetItem`, whatever its request
        // then does: the init floor is `bare-call`'s first `get` for all of them.
        let (bare_first, bare_warm) = match operation(function).and_then(|op| floors.get(op)) {
            Some(&(_, warm)) => (floors["get"].0, warm),
            None => (0, 0),
        };
        let (init_floor, warm_floor) = (hello.init + bare_first, hello.warm + bare_warm);
        let goal = FUNCTIONS.iter().any(|(name, _)| name == function);
        let ratio = counts.warm as f64 / warm_floor as f64;
        let verdict = match (goal, ratio <= 1.10) {
            (true, true) => format!("{ratio:.2}x (goal ≤ 1.10x: met)"),
            (true, false) => format!("**{ratio:.2}x (goal ≤ 1.10x: MISSED)**"),
            (false, _) => format!("{ratio:.2}x"),
        };
        let _ = writeln!(
            report,
            "| {function} | {} | {} | {} | {:.2}x | {} | {} | {} | {verdict} |",
            operation(function).unwrap_or("none"),
            millions(counts.init),
            millions(init_floor),
            counts.init as f64 / init_floor as f64,
            millions(counts.first),
            millions(counts.warm),
            millions(warm_floor),
        );
        warm.push((function, counts.warm));
        eprintln!("instructions counted: {function}");
    }
    for (function, count) in warm
        .iter()
        .filter(|(name, _)| FUNCTIONS.iter().any(|(f, _)| f == *name))
    {
        let verdict = if *count < 650_000 { "met" } else { "**MISSED**" };
        let _ = writeln!(
            report,
            "\n- {function}: a whole warm request {} (goal < 0.65 M: {verdict})",
            millions(*count)
        );
    }
    let _ = writeln!(
        report,
        "\nThe floor itself, a warm request's: hello-world {} + `bare-call get` {} = {}. `bare-call`'s first `get` (connection, handshake, signed request): {}.",
        millions(hello.warm),
        millions(floors["get"].1),
        millions(hello.warm + floors["get"].1),
        millions(floors["get"].0),
    );
}
