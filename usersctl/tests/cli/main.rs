//! The real `usersctl` binary against DynamoDB Local; what it prints is then used
//! against the functions' handlers, as a newcomer would use it.

mod verify_deployment;

use std::process::{Command, Output};

use serde_json::{Value, json};
use shared::http::handlers;
use testkit::{KEY, TestApp, bearer, parts, request};

/// A fresh table and the environment that points `usersctl` at it.
struct Cli {
    table: String,
    endpoint: String,
}

impl Cli {
    async fn new() -> Self {
        let test = TestApp::new().await;
        Self {
            table: test.app.store().table().to_string(),
            endpoint: testkit::dynamodb_local().endpoint().to_string(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_usersctl"));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_ENDPOINT_URL_DYNAMODB", &self.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env("TABLE_NAME", &self.table)
            .env("TOKEN_KEY", KEY);
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("usersctl runs")
    }

    /// `--json` output of a command that must succeed.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let output = self.run(&all);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("one JSON object")
    }

    /// The one-line error of a command that must fail.
    fn error(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(!output.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        assert!(output.stdout.is_empty());
        stderr
    }

    /// An app on the same table, to call the handlers with what usersctl printed.
    async fn app(&self) -> TestApp {
        TestApp::on(&self.endpoint, &self.table, None).await
    }
}

fn count_users(cli: &Cli) -> usize {
    cli.json(&["list-users"])["users"].as_array().unwrap().len()
}

#[tokio::test]
async fn create_table_is_idempotent() {
    let cli = Cli {
        table: format!("fresh-{}", shared::tokens::new_user_id().unwrap().simple()),
        endpoint: testkit::dynamodb_local().endpoint().to_string(),
    };
    assert_eq!(
        cli.json(&["create-table"]),
        json!({"table": cli.table, "created": true})
    );
    assert_eq!(
        cli.json(&["create-table"]),
        json!({"table": cli.table, "created": false})
    );
}

#[tokio::test]
async fn a_created_user_can_call_the_api_with_the_printed_token() {
    let cli = Cli::new().await;
    let user = cli.json(&[
        "create-user",
        "--email",
        "ann@example.com",
        "--first-name",
        "Ann",
        "--last-name",
        "Lee",
        "--email-confirmed",
        "--user-metadata",
        r#"{"name": "Ann Lee"}"#,
        "--app-metadata",
        r#"{"provider": "email", "roles": ["user"]}"#,
    ]);
    assert_eq!(user["email"], "ann@example.com");
    assert_eq!(user["username"], "ann");
    let token = user["access_token"].as_str().unwrap();

    let test = cli.app().await;
    let response =
        handlers::get_current_user(&test.app, request("GET", "/api/users/me/", &[bearer(&token)])).await;
    let (status, body) = parts(&response);
    assert_eq!(status, 200);
    assert_eq!(body["external_id"], user["id"]);
    assert_eq!(body["first_name"], "Ann");
    assert_eq!(body["email_verified"], true);
    let response =
        handlers::get_auth_user(&test.app, request("GET", "/api/v3/auth/user", &[bearer(&token)])).await;
    let (_, body) = parts(&response);
    assert_eq!(body["data"]["userMetadata"], json!({"name": "Ann Lee"}));
    assert_eq!(
        body["data"]["appMetadata"],
        json!({"provider": "email", "roles": ["user"]})
    );
}

#[tokio::test]
async fn human_output_is_readable_and_carries_the_token() {
    let cli = Cli::new().await;
    let output = cli.run(&["create-user", "--email", "bob@example.com"]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let token_line = text
        .lines()
        .find(|line| line.starts_with("access_token"))
        .unwrap();
    let token = token_line.split_whitespace().last().unwrap();
    assert!(token.starts_with("uat_") && token.len() == 100, "{token}");
    assert!(text.contains("bob@example.com"));
}

#[tokio::test]
async fn get_user_shows_the_live_token_only_when_asked_and_escapes_stored_names() {
    let cli = Cli::new().await;
    // A name with a terminal escape, a right-to-left override and a zero-width space, as a
    // stored value could hold.
    let name = "Eve\u{1b}[2J\u{202e}gnp.exe\u{200b}";
    let created = cli.json(&["create-user", "--email", "eve@example.com", "--first-name", name]);
    let shown = cli.json(&["get-user", "--email", "eve@example.com"]);
    assert!(
        shown.get("access_token").is_none(),
        "a read does not print the token: {shown}"
    );
    let asked = cli.json(&["get-user", "--email", "eve@example.com", "--show-token"]);
    assert_eq!(asked["access_token"], created["access_token"]);
    let output = cli.run(&["get-user", "--email", "eve@example.com"]);
    let text = String::from_utf8(output.stdout).unwrap();
    for hidden in ['\u{1b}', '\u{202e}', '\u{200b}'] {
        assert!(!text.contains(hidden), "{text:?}");
    }
    assert!(text.contains("Eve\\u{1b}[2J\\u{202e}gnp.exe\\u{200b}"), "{text}");
    assert!(!text.contains("access_token"), "{text}");
}

#[tokio::test]
async fn a_second_user_with_the_same_email_is_refused_and_nothing_is_written() {
    let cli = Cli::new().await;
    cli.json(&["create-user", "--email", "ann@example.com"]);
    let error = cli.error(&["create-user", "--email", "ANN@example.COM", "--username", "other"]);
    assert!(error.contains("already exists"), "{error}");
    assert_eq!(count_users(&cli), 1);
}

#[tokio::test]
async fn bad_input_is_refused_before_any_write() {
    let cli = Cli::new().await;
    let error = cli.error(&["create-user", "--email", "not-an-email"]);
    assert!(error.contains("not a valid email address"), "{error}");
    let error = cli.error(&[
        "create-user",
        "--email",
        "a@example.com",
        "--user-metadata",
        "{oops",
    ]);
    assert!(error.contains("not valid JSON"), "{error}");
    let error = cli.error(&["create-user", "--email", "a@example.com", "--app-metadata", "[1]"]);
    assert!(error.contains("JSON object"), "{error}");
    let error = cli.error(&["create-user", "--email", "a@example.com", "--phone-confirmed"]);
    assert!(error.contains("--phone"), "{error}");
    assert_eq!(count_users(&cli), 0);
    let error = cli.error(&["get-user", "--email", "nobody@example.com"]);
    assert!(
        error.contains("no user with email \"nobody@example.com\""),
        "{error}"
    );
    let error = cli.error(&["get-user", "--id", "not-a-uuid"]);
    assert!(error.contains("--id"), "{error}");
    let error = cli.error(&["get-user"]);
    assert!(error.contains("--email") || error.contains("--id"), "{error}");
    // An expiry no date format can print is refused, not a crash (or a session that never ends).
    cli.json(&["create-user", "--email", "ann@example.com"]);
    for ttl in ["100000000000", "315360001", "0"] {
        let error = cli.error(&["create-session", "--email", "ann@example.com", "--ttl", ttl]);
        assert!(error.contains("--ttl") && error.contains("315360000"), "{error}");
    }
}

#[tokio::test]
async fn get_user_finds_by_email_or_id_and_list_users_stops_at_the_limit() {
    let cli = Cli::new().await;
    let created: Vec<Value> = (0..5)
        .map(|n| cli.json(&["create-user", "--email", &format!("user{n}@example.com")]))
        .collect();
    let by_email = cli.json(&["get-user", "--email", "USER3@example.com", "--show-token"]);
    assert_eq!(by_email, created[3]);
    let by_id = cli.json(&[
        "get-user",
        "--id",
        created[3]["id"].as_str().unwrap(),
        "--show-token",
    ]);
    assert_eq!(by_id, created[3]);
    let listed = cli.json(&["list-users", "--limit", "3"]);
    assert_eq!(listed["users"].as_array().unwrap().len(), 3);
    assert!(
        listed["users"][0].get("access_token").is_none(),
        "lists carry no tokens"
    );
    assert_eq!(count_users(&cli), 5);
}

#[tokio::test]
async fn regenerate_token_kills_the_old_token() {
    let cli = Cli::new().await;
    let old = cli.json(&["create-user", "--email", "ann@example.com"])["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let new = cli.json(&["regenerate-token", "--email", "ann@example.com"])["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let test = cli.app().await;
    let call = |token: String| {
        let app = &test.app;
        async move {
            parts(
                &handlers::get_access_token(app, request("GET", "/api/users/me/token/", &[bearer(&token)]))
                    .await,
            )
        }
    };
    assert_eq!(call(old).await.0, 401);
    assert_eq!(call(new.clone()).await, (200, json!({"access_token": new})));
}

#[tokio::test]
async fn a_printed_session_works_in_the_browser_flow_until_revoked() {
    let cli = Cli::new().await;
    cli.json(&["create-user", "--email", "ann@example.com"]);
    let session = cli.json(&["create-session", "--email", "ann@example.com", "--ttl", "600"]);
    let cookie = format!(
        "sessionid={}; csrftoken={}",
        session["sessionid"].as_str().unwrap(),
        session["csrftoken"].as_str().unwrap()
    );
    let csrf = session["csrftoken"].as_str().unwrap().to_string();
    assert!(session["set_cookie"][0].as_str().unwrap().contains("HttpOnly"));

    let test = cli.app().await;
    let headers = vec![("cookie", cookie.clone()), ("x-csrftoken", csrf)];
    let regenerate = request("POST", "/api/users/me/token/regenerate/", &headers);
    assert_eq!(
        parts(&handlers::regenerate_access_token(&test.app, regenerate).await).0,
        200
    );

    assert_eq!(
        cli.json(&["revoke-sessions", "--email", "ann@example.com"])["revoked_sessions"],
        1
    );
    let read = request("GET", "/api/users/me/token/", &[("cookie", cookie)]);
    assert_eq!(parts(&handlers::get_access_token(&test.app, read).await).0, 401);
}

#[tokio::test]
async fn delete_user_removes_the_user_its_sessions_and_its_email() {
    let cli = Cli::new().await;
    let user = cli.json(&["create-user", "--email", "ann@example.com"]);
    let token = user["access_token"].as_str().unwrap().to_string();
    let session = cli.json(&["create-session", "--id", user["id"].as_str().unwrap()]);
    assert_eq!(
        cli.json(&["delete-user", "--email", "ann@example.com"])["deleted"],
        user["id"]
    );

    let test = cli.app().await;
    let by_token = request("GET", "/api/users/me/", &[bearer(&token)]);
    assert_eq!(
        parts(&handlers::get_current_user(&test.app, by_token).await).0,
        401
    );
    let cookie = format!("sessionid={}", session["sessionid"].as_str().unwrap());
    let by_session = request("GET", "/api/users/me/token/", &[("cookie", cookie)]);
    assert_eq!(
        parts(&handlers::get_access_token(&test.app, by_session).await).0,
        401
    );
    let error = cli.error(&["get-user", "--id", user["id"].as_str().unwrap()]);
    assert!(error.contains("no user with id"), "{error}");
    // The email is free again.
    cli.json(&["create-user", "--email", "ann@example.com"]);
}

#[tokio::test]
async fn a_missing_table_and_an_unreachable_endpoint_are_explained() {
    let cli = Cli::new().await;
    let missing = Cli {
        table: "no-such-table".into(),
        endpoint: cli.endpoint.clone(),
    };
    let error = missing.error(&["list-users"]);
    assert!(
        error.contains("\"no-such-table\" does not exist at http://127.0.0.1:"),
        "{error}"
    );

    let closed = Cli {
        table: cli.table.clone(),
        endpoint: format!("http://127.0.0.1:{}", testkit::free_port()),
    };
    let error = closed.error(&["get-user", "--email", "ann@example.com"]);
    assert!(
        error.contains("cannot reach DynamoDB at http://127.0.0.1:"),
        "{error}"
    );
}

#[tokio::test]
async fn every_command_has_help_with_an_example() {
    let cli = Cli::new().await;
    for command in [
        "create-table",
        "create-user",
        "get-user",
        "list-users",
        "delete-user",
        "regenerate-token",
        "create-session",
        "revoke-sessions",
    ] {
        let output = cli.run(&[command, "--help"]);
        assert!(output.status.success(), "{command}");
        let help = String::from_utf8(output.stdout).unwrap();
        assert!(help.contains("Example"), "{command}: {help}");
    }
}

#[tokio::test]
async fn seed_demo_is_repeatable_and_refused_with_a_real_key() {
    let cli = Cli::new().await;
    let mut dev = cli.command(&["--json", "seed-demo"]);
    dev.env("TOKEN_KEY", "dev-only-insecure-token-key-do-not-deploy");
    let first: Value = serde_json::from_slice(&dev.output().unwrap().stdout).unwrap();
    let second: Value = serde_json::from_slice(&dev.output().unwrap().stdout).unwrap();
    assert_eq!(
        first["access_token"], second["access_token"],
        "the demo's token is fixed"
    );
    assert_eq!(first["sessionid"], second["sessionid"]);
    assert_eq!(first["email"], "demo@example.com");

    let error = cli.error(&["seed-demo"]);
    assert!(error.contains("public dev key"), "{error}");

    // The public key against AWS's own DynamoDB: refused before any request.
    let mut off_local = cli.command(&["list-users"]);
    off_local.env("TOKEN_KEY", "dev-only-insecure-token-key-do-not-deploy");
    off_local.env_remove("AWS_ENDPOINT_URL_DYNAMODB");
    let output = off_local.output().unwrap();
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && error.contains("public development key"),
        "{error}"
    );
}

#[tokio::test]
async fn what_a_run_changes_is_an_audit_line_on_stderr_without_secrets() {
    let cli = Cli::new().await;
    let created = cli.run(&["--json", "create-user", "--email", "audit@example.com"]);
    assert!(created.status.success());
    let user: Value = serde_json::from_slice(&created.stdout).unwrap();
    let audit = |stderr: &[u8]| -> Vec<Value> {
        String::from_utf8_lossy(stderr)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
            .collect()
    };
    let lines = audit(&created.stderr);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["fields"]["event"], "user_created");
    assert_eq!(lines[0]["fields"]["user_id"], user["id"]);
    assert_eq!(lines[0]["fields"]["detail"], "admin");
    let token = user["access_token"].as_str().unwrap();
    assert!(!String::from_utf8_lossy(&created.stderr).contains(token));
    assert!(!String::from_utf8_lossy(&created.stderr).contains("audit@example.com"));

    let deleted = cli.run(&["--json", "delete-user", "--email", "audit@example.com"]);
    let lines = audit(&deleted.stderr);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["fields"]["event"], "user_deleted");
    assert_eq!(lines[0]["fields"]["user_id"], user["id"]);
}

impl Cli {
    /// A command that reads `stdin` (a password), as `printf ... | usersctl ...` runs it.
    fn with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write as _;
        use std::process::Stdio;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("usersctl runs");
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(stdin.as_bytes())
            .expect("usersctl reads its stdin");
        child.wait_with_output().expect("usersctl ends")
    }
}

#[tokio::test]
async fn passwords_come_from_stdin_never_from_the_command_line() {
    let cli = Cli::new().await;
    let app = cli.app().await;
    let password = "correct horse battery staple";
    // create-user --password-stdin: the account can sign in with that password at once.
    let created = cli.with_stdin(
        &[
            "--json",
            "create-user",
            "--email",
            "pat@example.com",
            "--password-stdin",
        ],
        &format!("{password}\n"),
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert!(
        app.app
            .sign_in(&shared::users::Email::lookup("pat@example.com"), password)
            .await
            .is_ok()
    );
    assert!(
        app.app
            .sign_in(
                &shared::users::Email::lookup("pat@example.com"),
                "another password"
            )
            .await
            .is_err()
    );

    // set-password: the new one works, the old one no longer does.
    let changed = cli.with_stdin(
        &["--json", "set-password", "--email", "pat@example.com"],
        "a brand new passphrase\r\n",
    );
    assert!(
        changed.status.success(),
        "{}",
        String::from_utf8_lossy(&changed.stderr)
    );
    let output: Value = serde_json::from_slice(&changed.stdout).unwrap();
    assert_eq!(output["password_set"], true);
    assert!(
        app.app
            .sign_in(
                &shared::users::Email::lookup("pat@example.com"),
                "a brand new passphrase"
            )
            .await
            .is_ok()
    );
    assert!(
        app.app
            .sign_in(&shared::users::Email::lookup("pat@example.com"), password)
            .await
            .is_err()
    );

    // A password too short to keep is refused, in one line, and nothing changes.
    let short = cli.with_stdin(&["set-password", "--email", "pat@example.com"], "short\n");
    assert!(!short.status.success());
    let error = String::from_utf8(short.stderr).unwrap();
    assert_eq!(error.trim_end().lines().count(), 1, "{error}");
    assert!(!error.contains("short\n"), "the password is not echoed: {error}");
    assert!(
        app.app
            .sign_in(
                &shared::users::Email::lookup("pat@example.com"),
                "a brand new passphrase"
            )
            .await
            .is_ok()
    );

    // There is no way to pass one on the command line (where `ps` and shell history see it).
    for args in [
        [
            "set-password",
            "--email",
            "pat@example.com",
            "--password",
            "on-the-command-line",
        ],
        [
            "create-user",
            "--email",
            "kim@example.com",
            "--password",
            "on-the-command-line",
        ],
    ] {
        assert!(!cli.run(&args).status.success(), "{args:?}");
    }
}
