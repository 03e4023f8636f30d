//! `usersctl verify-deployment` against `make run`'s stack: all pass; against a stack broken
//! on purpose (testkit's FaultyProxy): the failing checks are named; and never a throwaway
//! user left behind.

use std::process::Command;

use std::collections::HashMap;
use std::sync::OnceLock;

use testkit::local_api::LocalApi;

/// `make run`'s stack on this binary's DynamoDB Local (`make run` against a store of its
/// own), and the settings that reach its table: once for the checks below.
struct Stack {
    api: LocalApi,
    base_url: String,
    env: HashMap<String, String>,
}

fn local_stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        let env: HashMap<String, String> = [
            (
                "AWS_ENDPOINT_URL_DYNAMODB",
                testkit::dynamodb_local().endpoint().to_string(),
            ),
            ("TABLE_NAME", format!("verify-{}", testkit::free_port())),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "local".into()),
            ("AWS_SECRET_ACCESS_KEY", "local".into()),
            ("TOKEN_KEY", testkit::KEY.into()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect();
        let settings: Vec<String> = env
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        let api = LocalApi::start_with("info", &settings);
        Stack {
            base_url: api.base_url.clone(),
            api,
            env,
        }
    })
}

/// `usersctl verify-deployment --base-url <base_url> <extra>` with the stack's store and key.
fn verify_command(base_url: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_usersctl"));
    command
        .args(["verify-deployment", "--base-url", base_url])
        .args(extra)
        .envs(&local_stack().env)
        .stdin(std::process::Stdio::null());
    command
}

/// `(exit code, stdout, stderr)`, and fails if any of it holds a token or a password.
fn verify(base_url: &str, extra: &[&str]) -> (i32, String, String) {
    let output = verify_command(base_url, extra).output().expect("usersctl runs");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        !stdout.contains("uat_") && !stderr.contains("uat_"),
        "a token was printed:\n{stdout}\n{stderr}"
    );
    (output.status.code().unwrap_or(-1), stdout, stderr)
}

/// The run's throwaway user (named on its first line) is gone from the stack's table. (Runs
/// of the other tests may have theirs in the table meanwhile.)
fn assert_no_throwaway_user(stdout: &str) {
    let email = stdout
        .lines()
        .next()
        .and_then(|line| line.split(" as ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no throwaway user named: {stdout}"));
    assert!(
        email.starts_with("verify-") && email.ends_with("@example.invalid"),
        "{email}"
    );
    let output = Command::new(env!("CARGO_BIN_EXE_usersctl"))
        .args(["get-user", "--email", email])
        .envs(&local_stack().env)
        .output()
        .expect("usersctl runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("no user with email"),
        "{email} is still there: {stderr}"
    );
}

fn failed_checks(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix("FAIL  "))
        .map(|line| line.split(": ").next().unwrap_or(line))
        .collect()
}

#[test]
fn verify_deployment_passes_against_make_runs_stack_and_leaves_no_user() {
    let stack = local_stack();

    let (code, stdout, stderr) = verify(&stack.base_url, &["--origin", &stack.api.origin]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let summary = stdout.lines().last().unwrap_or_default();
    let passed: usize = summary
        .strip_suffix(" passed, 0 failed")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("summary: {summary}"));
    assert_eq!(
        stdout.lines().filter(|line| line.starts_with("ok    ")).count(),
        passed
    );
    // The list, each at least once: both slash forms of every endpoint, both families'
    // 401s, regenerate, sessions, the gateway's 404s, CORS, the page.
    for expected in [
        "GET /api/users/me (Bearer)",
        "GET /api/users/me/token/ (Bearer)",
        "GET /api/v3/auth/user/ (Bearer)",
        "POST /api/users/me/token/regenerate (Bearer)",
        "GET /api/v3/auth/user with another key's token: 401",
        "POST /api/users/me/token/regenerate/ with a forged token",
        "GET /api/users/me/ with the replaced token",
        "(session, no CSRF token): 403",
        "POST /api/auth/logout/",
        "DELETE /api/users/me/ with a Bearer header: the gateway's 404",
        "from another origin: no allow header",
        "GET /: the account page",
    ] {
        assert!(stdout.contains(expected), "no check {expected:?}:\n{stdout}");
    }
    assert!((40..=60).contains(&passed), "a few dozen requests: {passed}");
    assert_no_throwaway_user(&stdout);
}

#[test]
fn verify_deployment_names_what_a_broken_stack_gets_wrong() {
    use testkit::http::{Fault, FaultyProxy};
    let stack = local_stack();
    let lost_slashes = FaultyProxy::start(&stack.base_url, Fault::SlashPaths404);
    let (code, stdout, _) = verify(&lost_slashes.base_url, &[]);
    assert_eq!(code, 1, "{stdout}");
    let failed = failed_checks(&stdout);
    assert!(failed.contains(&"GET /api/users/me/ (Bearer)"), "{stdout}");
    assert!(failed.contains(&"GET /api/v3/auth/user/ (Bearer)"), "{stdout}");
    assert!(
        !failed.contains(&"GET /api/users/me (Bearer)"),
        "the slashless form works: {stdout}"
    );
    assert!(stdout.contains("expected 200, got 404"), "{stdout}");
    assert_no_throwaway_user(&stdout);

    let no_challenge = FaultyProxy::start(&stack.base_url, Fault::DropChallenge);
    let (code, stdout, _) = verify(&no_challenge.base_url, &[]);
    assert_eq!(code, 1, "{stdout}");
    let failed = failed_checks(&stdout);
    assert!(
        failed.contains(&"GET /api/users/me/ without a credential"),
        "{stdout}"
    );
    assert!(stdout.contains("expected the challenge \"Bearer\""), "{stdout}");
    let fails: Vec<&str> = stdout.lines().filter(|line| line.starts_with("FAIL")).collect();
    assert!(
        fails
            .iter()
            .all(|line| line.contains(": 401") && line.contains("got None")),
        "only the 401s fail, for the missing challenge: {stdout}"
    );
    assert_no_throwaway_user(&stdout);
}

#[test]
fn verify_deployment_cleans_up_after_a_timeout_and_an_interrupt() {
    use testkit::http::{Fault, FaultyProxy};
    let stack = local_stack();
    // The first request never answers: that check fails on its time limit, the run goes on.
    let slow = FaultyProxy::start(&stack.base_url, Fault::HangFirst);
    let (code, stdout, _) = verify(&slow.base_url, &["--request-timeout", "1"]);
    assert_eq!(code, 1, "{stdout}");
    assert_eq!(
        failed_checks(&stdout),
        ["GET /api/users/me/ (Bearer)"],
        "{stdout}"
    );
    assert!(stdout.contains("no answer within 1 s"), "{stdout}");
    assert_no_throwaway_user(&stdout);

    // Ctrl-C while a request hangs: the user is removed all the same.
    let stuck = FaultyProxy::start(&stack.base_url, Fault::HangAll);
    let child = verify_command(&stuck.base_url, &[])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("usersctl runs");
    let started = std::time::Instant::now();
    while stuck.held.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "no request came"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(interrupted.success());
    let output = child.wait_with_output().expect("usersctl ends");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("interrupted"), "{stdout}");
    assert_no_throwaway_user(&stdout);
}

#[test]
fn verify_deployment_refuses_plain_http_off_loopback_and_a_store_it_cannot_use() {
    let (code, _, stderr) = verify("http://abc123.execute-api.eu-west-1.amazonaws.com/prod", &[]);
    assert_eq!(code, 2);
    assert!(stderr.contains("plain HTTP is refused"), "{stderr}");
    let output = verify_command(&local_stack().base_url, &[])
        .env("TABLE_NAME", "no-such-table")
        .output()
        .expect("usersctl runs");
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot create the throwaway user"));
}
