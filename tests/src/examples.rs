//! The spec's own code examples (tests/examples/, verbatim: curl, Python, JavaScript, Ruby,
//! PHP, Go), run unchanged but for the base URL and the token against an API on this
//! machine: `make run`'s (tests/http/e2e.rs) or `sam local start-api`'s (tests/http/sam_local.rs (the glibc check: tests/deployment/bootstraps.rs)).

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use crate::workspace_root;

/// An API the examples can be run against, and a way to make its users.
pub trait ExampleTarget {
    fn base_url(&self) -> &str;
    /// A new user: `(email, token)`.
    fn new_user(&self) -> (String, String);
    /// The id of the user with this email.
    fn user_id(&self, email: &str) -> String;
}

/// An interpreter for the spec's examples, by file extension.
fn interpreter(extension: &str) -> Option<Vec<String>> {
    let command: &[&str] = match extension {
        "sh" => &["bash"],
        "py" => {
            let python = workspace_root().join(".tools/venv/bin/python");
            return Some(vec![python.display().to_string()]);
        }
        "mjs" => &["node"],
        "rb" => &["ruby"],
        "php" => &["php"],
        "go" => &["go", "run"],
        _ => return None,
    };
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {}", command[0])])
        .output()
        .is_ok_and(|output| output.status.success());
    found.then(|| command.iter().map(|part| part.to_string()).collect())
}

/// Runs one example from tests/examples against `base_url` with `token`, and returns what it
/// printed; `None` (said where `cargo test` shows it) when its interpreter is not installed.
pub fn run(base_url: &str, file: &str, token: &str) -> Option<String> {
    let extension = file.rsplit('.').next().unwrap_or_default();
    let Some(interpreter) = interpreter(extension) else {
        // curl, Python and JavaScript are required; the others run where Debian could install them.
        assert!(
            !["sh", "py", "mjs"].contains(&extension),
            "no interpreter for {file}"
        );
        crate::skip(&format!(
            "{file}: its interpreter is not installed (make test installs it where apt can)"
        ));
        return None;
    };
    let source = std::fs::read_to_string(workspace_root().join("tests/examples").join(file))
        .unwrap_or_else(|error| panic!("{file}: {error}"));
    let mut source = source
        .replace("<BASE_URL>", base_url)
        .replace("<ACCESS_TOKEN>", token)
        .replace("https://cadenza-api-uat.algo724.com", base_url)
        .replace("eyJhbGciOiJIUzI1NiIs...", token);
    if file == "get_auth_user.py" {
        // The spec's snippet takes the token from a variable the reader already has.
        source = format!("access_token = \"{token}\"\n{source}");
    }
    let dir = std::env::temp_dir().join(format!("spec-examples-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let path: PathBuf = dir.join(file);
    std::fs::write(&path, source).expect("the example is written");
    let output = Command::new(&interpreter[0])
        .args(&interpreter[1..])
        .arg(&path)
        .env("GOCACHE", dir.join("go-cache"))
        .env("GOPATH", dir.join("go-path"))
        .output()
        .unwrap_or_else(|error| panic!("{file}: {error}"));
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{file} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(stdout)
}

/// `GET /api/users/me/` with this token: the status.
fn me_status(base_url: &str, token: &str) -> u16 {
    let authorization = format!("Bearer {token}");
    crate::http::call(
        base_url,
        "GET",
        "/api/users/me/",
        &[("Authorization", &authorization)],
    )
    .status
}

/// Every example, in every language whose interpreter is there, prints what the spec shows:
/// the profile and the token, the token alone, a new token (after which the old one is
/// refused and the new one works), and the v3 user in its envelope. Returns the tokens
/// used, so the caller can check they never reached a log.
pub fn assert_all_print_what_the_spec_shows(target: &impl ExampleTarget) -> Vec<String> {
    let base_url = target.base_url();
    let mut tokens = Vec::new();
    for extension in ["sh", "py", "mjs", "rb", "php", "go"] {
        let (email, token) = target.new_user();
        for example in ["get_current_user", "get_access_token"] {
            let file = format!("{example}.{extension}");
            if let Some(output) = run(base_url, &file, &token) {
                assert!(output.contains(&token), "{file} printed {output}");
                if example == "get_current_user" {
                    assert!(
                        output.contains(&email) && output.contains("external_id"),
                        "{file} printed {output}"
                    );
                }
            }
        }
        let file = format!("regenerate_access_token.{extension}");
        if let Some(output) = run(base_url, &file, &token) {
            let new = match extension {
                // curl prints the body itself.
                "sh" => serde_json::from_str::<Value>(&output)
                    .ok()
                    .and_then(|body| body["access_token"].as_str().map(str::to_string))
                    .unwrap_or_else(|| panic!("{file}: {output}")),
                _ => output
                    .trim()
                    .strip_prefix("New token: ")
                    .unwrap_or_else(|| panic!("{file}: {output}"))
                    .to_string(),
            };
            assert_eq!(new.len(), 100, "{file} printed {output}");
            assert_eq!(me_status(base_url, &token), 401, "{file}: the old token is dead");
            assert_eq!(me_status(base_url, &new), 200, "{file}: the new token works");
            tokens.push(new);
        }
        tokens.push(token);
    }
    let (email, token) = target.new_user();
    let id = target.user_id(&email);
    let output = run(base_url, "get_auth_user.py", &token).expect("Python is required");
    assert_eq!(output, format!("User ID: {id}\nEmail: {email}\n"));
    let output = run(base_url, "get_auth_user.sh", &token).expect("curl is required");
    let body: Value = serde_json::from_str(&output).unwrap_or_else(|_| panic!("{output}"));
    assert_eq!(
        (&body["success"], &body["data"]["id"]),
        (&json!(true), &json!(id))
    );
    tokens.push(token);
    tokens
}
