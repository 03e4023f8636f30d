//! `usersctl`: provision users, tokens and sessions in the service's table, on AWS or on
//! DynamoDB Local, through the standard AWS configuration (`AWS_PROFILE`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL_DYNAMODB`). Every read and write goes through `shared`.

use std::process::ExitCode;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use clap::{Args, Parser, Subcommand};
use serde_json::{Map, Value, json};
use shared::App;
use shared::app::NewSession;
use shared::app::SetPasswordError;
use shared::config::{Config, aws_sdk_config, is_local_store, refuse_public_key_off_local};
use shared::passwords;
use shared::responses::Failure;
use shared::sign_in::session_cookies;
use shared::store::{Store, StoreError, TableCreation};
use shared::tokens::{AccessToken, PUBLIC_DEV_KEY_PREFIX, TokenNonce, new_user_id};
use shared::users::{CreateUserError, NewUser, User};
use uuid::Uuid;

mod verify;

const EXAMPLES: &str = "\
Examples (DynamoDB Local):
  export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8000 AWS_REGION=us-east-1 \\
         AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \\
         TABLE_NAME=users TOKEN_KEY=dev-only-insecure-token-key-0123456789abcdef
  usersctl create-table
  usersctl create-user --email ann@example.com --first-name Ann --email-confirmed
  usersctl --json get-user --email ann@example.com

Against a deployed stack, leave AWS_ENDPOINT_URL_DYNAMODB unset, use your AWS profile,
and take TABLE_NAME and TOKEN_KEY from the stack (see the README).";

#[derive(Parser)]
#[command(name = "usersctl", version, about = "Provision users, access tokens and sessions.", after_help = EXAMPLES)]
struct Cli {
    /// The DynamoDB table.
    #[arg(long, env = "TABLE_NAME", global = true)]
    table: Option<String>,
    /// Print one JSON object (stable field names) instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the table as template.yaml defines it (keys, TTL attribute); does nothing if it exists.
    #[command(after_help = "Example:\n  usersctl --table users create-table")]
    CreateTable,
    /// Create a user and print it with its access token.
    #[command(
        after_help = "Example:\n  usersctl create-user --email ann@example.com --first-name Ann \\\n    --email-confirmed --app-metadata '{\"roles\": [\"user\"]}'"
    )]
    CreateUser(CreateUser),
    /// Set a user's password for the account page's sign-in (Argon2id); clears failed sign-ins.
    /// The password is read from stdin, or prompted for (twice, not echoed) on a terminal:
    /// never from the command line, where other users and shell history could see it.
    #[command(
        after_help = "Examples:\n  usersctl set-password --email ann@example.com\n  printf '%s' \"$PASSWORD\" | usersctl set-password --email ann@example.com"
    )]
    SetPassword(Which),
    /// Print a user (and, with --show-token, its current access token).
    #[command(after_help = "Example:\n  usersctl get-user --email ann@example.com --show-token")]
    GetUser {
        #[command(flatten)]
        which: Which,
        /// Also print the user's live access token (a secret: mind the terminal's scrollback).
        #[arg(long)]
        show_token: bool,
    },
    /// List users (reads the table page by page, stops at --limit).
    #[command(after_help = "Example:\n  usersctl list-users --limit 20")]
    ListUsers {
        /// How many users at most.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Delete a user, its sessions and its email claim; its token dies with it.
    #[command(after_help = "Example:\n  usersctl delete-user --email ann@example.com")]
    DeleteUser(Which),
    /// Give a user a new access token; the old one stops working at once.
    #[command(after_help = "Example:\n  usersctl regenerate-token --email ann@example.com")]
    RegenerateToken(Which),
    /// Open a web session and print its cookies (sessionid, csrftoken) as the web app sets them.
    #[command(after_help = "Example:\n  usersctl create-session --email ann@example.com --ttl 3600")]
    CreateSession {
        #[command(flatten)]
        which: Which,
        /// Lifetime in seconds, at most ten years (default: two weeks, as Django's).
        #[arg(long, default_value_t = 1_209_600, value_parser = clap::value_parser!(u64).range(1..=MAX_SESSION_TTL_SECONDS))]
        ttl: u64,
    },
    /// End every session of a user.
    #[command(after_help = "Example:\n  usersctl revoke-sessions --email ann@example.com")]
    RevokeSessions(Which),
    /// (Re)create the fixed demo user and session that `make run` prints and events/ use.
    /// Local only: refused unless TOKEN_KEY is a public dev key (dev-only-...).
    #[command(
        after_help = "Example:\n  TOKEN_KEY=dev-only-insecure-token-key-do-not-deploy usersctl seed-demo"
    )]
    SeedDemo,
    /// Check that a deployed stack serves the contract: one line per check, then `N passed, M
    /// failed`. It creates a throwaway user (verify-<random>@example.invalid) in the table and
    /// removes it with its sessions at the end, also on a failure or Ctrl-C. Exit status: 0 all
    /// passed, 1 a check failed, 2 it could not run, 130 interrupted.
    #[command(
        after_help = "Example (after `sam deploy`, with the stack's TABLE_NAME and TOKEN_KEY_SECRET_ARN):\n  usersctl verify-deployment --base-url https://abc123.execute-api.eu-west-1.amazonaws.com/prod \\\n    --origin https://app.example.com"
    )]
    VerifyDeployment(verify::VerifyArgs),
}

/// Ten years: a session expiry must stay a date the API can print (years up to 9999), and a
/// longer session is a mistake, not a choice.
const MAX_SESSION_TTL_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// The demo user and session are fixed, so the credentials in events/ stay valid on any
/// local store seeded under the public dev key, and on nothing else.
mod demo {
    pub const EMAIL: &str = "demo@example.com";
    pub const USER_ID: &str = "00000000-0000-4000-8000-00000000de70";
    pub const TOKEN_NONCE: [u8; 16] = *b"demo-token-nonce";
    pub const SESSION_SECRET: [u8; 32] = *b"demo-session-secret, public, dev";
    /// A day: long enough for a working session, short enough to show expiry is real.
    pub const SESSION_TTL_SECONDS: u64 = 86_400;
    /// The account page's sign-in, as public as the dev key.
    pub const PASSWORD: &str = "demo-password";
}

/// Which user: by email (any letter case) or by id.
#[derive(Args)]
#[group(required = true, multiple = false)]
struct Which {
    #[arg(long)]
    email: Option<String>,
    #[arg(long)]
    id: Option<Uuid>,
}

#[derive(Args)]
struct CreateUser {
    #[arg(long)]
    email: String,
    /// Defaults to the part of the email before the @.
    #[arg(long)]
    username: Option<String>,
    #[arg(long, default_value = "")]
    first_name: String,
    #[arg(long, default_value = "")]
    last_name: String,
    #[arg(long)]
    phone: Option<String>,
    /// Mark the email as confirmed now.
    #[arg(long)]
    email_confirmed: bool,
    /// Mark the phone as confirmed now (needs --phone).
    #[arg(long)]
    phone_confirmed: bool,
    /// A JSON object, e.g. '{"name": "Ann"}'.
    #[arg(long, value_parser = json_object, default_value = "{}")]
    user_metadata: Map<String, Value>,
    /// A JSON object, e.g. '{"provider": "email", "roles": ["user"]}'.
    #[arg(long, value_parser = json_object, default_value = "{}")]
    app_metadata: Map<String, Value>,
    /// Read a password for the account page's sign-in from stdin (one line; prompted for
    /// twice without echo when stdin is a terminal).
    #[arg(long)]
    password_stdin: bool,
}

/// A password from stdin (its first line), or prompted for twice without echo when stdin
/// is a terminal.
fn read_password() -> Result<String, String> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password: ").map_err(|error| error.to_string())?;
        let again = rpassword::prompt_password("Again: ").map_err(|error| error.to_string())?;
        if first != again {
            return Err("the two passwords differ".into());
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|error| format!("cannot read the password from stdin: {error}"))?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    Ok(password.strip_suffix('\r').unwrap_or(password).to_string())
}

fn json_object(text: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err("must be a JSON object, like '{\"name\": \"Ann\"}'".into()),
        Err(error) => Err(format!("is not valid JSON: {error}")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    audit_log_on_stderr();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => {
            // --help and --version
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            // One line, as scripts expect: clap's message up to its usage block, joined.
            let rendered = error.render().to_string();
            let message: Vec<&str> = rendered
                .lines()
                .map(str::trim)
                .take_while(|line| !line.is_empty() && !line.starts_with("Usage:"))
                .collect();
            eprintln!("usersctl: {}", message.join(" ").trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    let json_output = cli.json;
    // A check that could not run is 2, so a pipeline tells it from a stack that failed one.
    let could_not_run = match cli.command {
        Command::VerifyDeployment(_) => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    };
    match run(cli).await {
        Ok(Outcome::Printed(output)) => {
            if json_output {
                println!("{output}");
            } else {
                print_human(&output);
            }
            ExitCode::SUCCESS
        }
        Ok(Outcome::Verified(verdict)) => {
            if json_output {
                println!("{}", verdict.report);
            }
            ExitCode::from(verdict.exit_code())
        }
        Err(message) => {
            eprintln!("usersctl: {message}");
            could_not_run
        }
    }
}

/// What a command did: output to print, or a deployment check's verdict (its lines are
/// printed as it goes).
enum Outcome {
    Printed(Value),
    Verified(verify::Verdict),
}

/// Where the store is, for error messages.
struct Target {
    table: String,
    endpoint: String,
}

impl Target {
    fn explain(&self, error: &StoreError) -> String {
        let Target { table, endpoint } = self;
        if error.is_missing_table() {
            format!("table {table:?} does not exist at {endpoint} (create it with `usersctl create-table`)")
        } else if error.transient {
            format!("cannot reach DynamoDB at {endpoint}: {error}")
        } else {
            format!("DynamoDB at {endpoint} refused the request on table {table:?}: {error}")
        }
    }

    fn explain_failure(&self, failure: Failure) -> String {
        match failure {
            Failure::Store(error) => self.explain(&error),
            other => format!("{other:?}"),
        }
    }
}

/// What a run changed (user created or deleted, token regenerated, sessions opened or
/// revoked) goes to stderr as the functions log it: the audit trail's JSON lines
/// (`shared::audit`), with the time. Nothing else is logged: stdout is the command's output.
fn audit_log_on_stderr() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let audit_only =
        tracing_subscriber::filter::Targets::new().with_target("shared::audit", tracing::Level::INFO);
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_writer(std::io::stderr);
    tracing_subscriber::registry().with(json).with(audit_only).init();
}

async fn run(cli: Cli) -> Result<Outcome, String> {
    let table = cli
        .table
        .filter(|table| !table.is_empty())
        .ok_or("no table: pass --table or set TABLE_NAME")?;
    let sdk_config = aws_sdk_config().await;
    // The store's endpoint, set on the client explicitly: the public dev key is checked
    // below against the store this client really uses (the SDK alone could also take one from
    // a profile, or drop the variable under AWS_IGNORE_CONFIGURED_ENDPOINT_URLS).
    let store_endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .ok()
        .filter(|endpoint| !endpoint.is_empty());
    let endpoint = store_endpoint.clone().unwrap_or_else(|| {
        let region = sdk_config
            .region()
            .map(|region| region.to_string())
            .unwrap_or_default();
        format!("DynamoDB in {region}")
    });
    let target = Target {
        table: table.clone(),
        endpoint,
    };
    let mut client_config = aws_sdk_dynamodb::config::Builder::from(&sdk_config);
    client_config.set_endpoint_url(store_endpoint.clone());
    let client = Client::from_conf(client_config.build());

    // The only command that needs no TOKEN_KEY.
    if let Command::CreateTable = cli.command {
        return create_table(&Store::new(client, &table), &target)
            .await
            .map(Outcome::Printed);
    }

    let config = Config::from_lookup(|name| match name {
        "TABLE_NAME" => Some(table.clone()),
        other => std::env::var(other).ok(),
    })
    .map_err(|error| error.to_string())?;
    let keys = config
        .key_source
        .load(|| aws_sdk_secretsmanager::Client::new(&sdk_config))
        .await
        .map_err(|error| error.to_string())?;
    refuse_public_key_off_local(&keys.ring(), is_local_store(store_endpoint.as_deref()))
        .map_err(|error| error.to_string())?;
    let app = App::new(config, client, keys);

    let output = match cli.command {
        Command::CreateTable => create_table(app.store(), &target).await,
        Command::CreateUser(args) => {
            let password_hash = if args.password_stdin {
                let password = read_password()?;
                Some(passwords::hash(&password).map_err(|error| error.to_string())?)
            } else {
                None
            };
            let new = NewUser {
                email: args.email,
                username: args.username,
                first_name: args.first_name,
                last_name: args.last_name,
                phone: args.phone,
                email_confirmed: args.email_confirmed,
                phone_confirmed: args.phone_confirmed,
                user_metadata: args.user_metadata,
                app_metadata: args.app_metadata,
            };
            let (id, nonce) = (
                new_user_id().map_err(|error| error.to_string())?,
                TokenNonce::generate().map_err(|error| error.to_string())?,
            );
            match app.insert_user(new, id, nonce, password_hash).await {
                Ok((user, token)) => Ok(user_json(&user, Some(&token))),
                Err(CreateUserError::Store(error)) => Err(target.explain(&error)),
                Err(CreateUserError::EmailTaken) => Err("a user with this email already exists".into()),
                Err(other) => Err(other.to_string()),
            }
        }
        Command::SetPassword(which) => {
            let user = find_user(&app, &target, &which).await?;
            let password = read_password()?;
            match app.set_password(&user, &password).await {
                Ok(true) => Ok(json!({"id": user.id.to_string(), "email": user.email, "password_set": true})),
                Ok(false) => Err(format!("user {} was deleted meanwhile", user.id)),
                Err(SetPasswordError::Refused(reason)) => Err(reason.to_string()),
                Err(SetPasswordError::Store(error)) => Err(target.explain(&error)),
            }
        }
        Command::GetUser { which, show_token } => {
            let user = find_user(&app, &target, &which).await?;
            let token = if show_token {
                app.access_token(&user).await
            } else {
                None
            };
            let mut output = user_json(&user, token.as_ref());
            if show_token && token.is_none() {
                // Its key was retired: the token is dead; regenerate-token gives a new one.
                if let Some(object) = output.as_object_mut() {
                    object.insert("access_token".into(), Value::Null);
                }
            }
            Ok(output)
        }
        Command::ListUsers { limit } => {
            let users = app
                .store()
                .list_users(limit)
                .await
                .map_err(|error| target.explain(&error))?;
            Ok(json!({"users": users.iter().map(|user| user_json(user, None)).collect::<Vec<_>>()}))
        }
        Command::DeleteUser(which) => {
            let user = find_user(&app, &target, &which).await?;
            let deleted = app
                .delete_user(&user)
                .await
                .map_err(|error| target.explain(&error))?;
            if !deleted {
                return Err(format!("user {} was deleted meanwhile", user.id));
            }
            Ok(json!({"deleted": user.id.to_string(), "email": user.email}))
        }
        Command::RegenerateToken(which) => {
            let user = find_user(&app, &target, &which).await?;
            let token = app
                .reset_token(user.id)
                .await
                .map_err(|failure| target.explain_failure(failure))?
                .ok_or_else(|| format!("user {} was deleted meanwhile", user.id))?;
            Ok(json!({"id": user.id.to_string(), "access_token": token.to_string()}))
        }
        Command::CreateSession { which, ttl } => {
            let user = find_user(&app, &target, &which).await?;
            let session = app
                .create_session(user.id, Duration::from_secs(ttl))
                .await
                .map_err(|failure| target.explain_failure(failure))?
                .ok_or_else(|| format!("user {} was deleted meanwhile", user.id))?;
            Ok(session_json(&user, &session, ttl))
        }
        Command::SeedDemo => seed_demo(&app, &target).await,
        Command::RevokeSessions(which) => {
            let user = find_user(&app, &target, &which).await?;
            let revoked = app
                .revoke_sessions(user.id)
                .await
                .map_err(|error| target.explain(&error))?;
            Ok(json!({"id": user.id.to_string(), "revoked_sessions": revoked}))
        }
        Command::VerifyDeployment(args) => {
            let verdict = verify::verify_deployment(&app, &args, cli.json).await?;
            return Ok(Outcome::Verified(verdict));
        }
    };
    output.map(Outcome::Printed)
}

async fn seed_demo(app: &App, target: &Target) -> Result<Value, String> {
    if !app.keys().current().is_public_dev_key() {
        return Err(format!(
            "seed-demo makes well-known credentials: it runs only with a public dev key (TOKEN_KEY={PUBLIC_DEV_KEY_PREFIX}...)"
        ));
    }
    let id = Uuid::parse_str(demo::USER_ID).map_err(|error| error.to_string())?;
    if let Some(existing) = app
        .store()
        .get_user(id)
        .await
        .map_err(|error| target.explain(&error))?
    {
        app.delete_user(&existing)
            .await
            .map_err(|error| target.explain(&error))?;
    }
    let new = NewUser {
        email: demo::EMAIL.into(),
        username: Some("demo".into()),
        first_name: "Demo".into(),
        last_name: "User".into(),
        email_confirmed: true,
        user_metadata: json!({"name": "Demo User"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        app_metadata: json!({"provider": "email", "roles": ["user"]})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        ..NewUser::default()
    };
    let nonce = TokenNonce::from_bytes(&demo::TOKEN_NONCE).ok_or("the demo nonce is 16 bytes")?;
    let password_hash = passwords::hash(demo::PASSWORD).map_err(|error| error.to_string())?;
    let (user, token) = match app.insert_user(new, id, nonce, Some(password_hash)).await {
        Ok(created) => created,
        Err(CreateUserError::Store(error)) => return Err(target.explain(&error)),
        Err(CreateUserError::EmailTaken) => {
            return Err(format!(
                "{} belongs to another user: delete it first",
                demo::EMAIL
            ));
        }
        Err(other) => return Err(other.to_string()),
    };
    let ttl = demo::SESSION_TTL_SECONDS;
    let session = app
        .open_demo_session(id, demo::SESSION_SECRET, Duration::from_secs(ttl))
        .await
        .map_err(|failure| target.explain_failure(failure))?
        .ok_or("the demo user vanished while seeding")?;
    let mut output = user_json(&user, Some(&token));
    if let Some(object) = output.as_object_mut() {
        object.insert("password".into(), Value::String(demo::PASSWORD.into()));
    }
    if let (Some(object), Value::Object(session)) =
        (output.as_object_mut(), session_json(&user, &session, ttl))
    {
        object.extend(session.into_iter().filter(|(key, _)| key != "user_id"));
    }
    Ok(output)
}

async fn create_table(store: &Store, target: &Target) -> Result<Value, String> {
    let outcome = store
        .create_table()
        .await
        .map_err(|error| target.explain(&error))?;
    Ok(json!({"table": store.table(), "created": outcome == TableCreation::Created}))
}

async fn find_user(app: &App, target: &Target, which: &Which) -> Result<User, String> {
    let id = match (&which.id, &which.email) {
        (Some(id), _) => Some(*id),
        (None, Some(email)) => app
            .store()
            .find_user_id(email)
            .await
            .map_err(|error| target.explain(&error))?,
        (None, None) => None,
    };
    let description = match (&which.id, &which.email) {
        (Some(id), _) => format!("id {id}"),
        (None, Some(email)) => format!("email {email:?}"),
        (None, None) => "no id or email".into(),
    };
    let user = match id {
        Some(id) => app
            .store()
            .get_user(id)
            .await
            .map_err(|error| target.explain(&error))?,
        None => None,
    };
    user.ok_or_else(|| format!("no user with {description} in table {:?}", target.table))
}

fn user_json(user: &User, access_token: Option<&AccessToken>) -> Value {
    let mut value = json!({
        "id": user.id.to_string(),
        "email": user.email,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "phone": user.phone,
        "email_confirmed_at": user.email_confirmed_at,
        "phone_confirmed_at": user.phone_confirmed_at,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
        "user_metadata": user.user_metadata,
        "app_metadata": user.app_metadata,
    });
    if let (Some(token), Some(object)) = (access_token, value.as_object_mut()) {
        object.insert("access_token".into(), Value::String(token.to_string()));
    }
    value
}

fn session_json(user: &User, session: &NewSession, ttl: u64) -> Value {
    json!({
        "user_id": user.id.to_string(),
        "sessionid": session.session_id.to_string(),
        "csrftoken": session.csrf_token,
        "expires_at": session.expires_at,
        "set_cookie": session_cookies(session, Duration::from_secs(ttl)),
    })
}

/// `key: value` lines, one list entry per block; `-` for null.
fn print_human(output: &Value) {
    match output {
        Value::Object(object) => {
            let width = object.keys().map(String::len).max().unwrap_or(0);
            for (key, value) in object {
                match value {
                    Value::Array(items) if items.iter().all(Value::is_object) && !items.is_empty() => {
                        for item in items {
                            print_human(item);
                            println!();
                        }
                    }
                    Value::Array(items) if items.iter().all(Value::is_string) => {
                        for item in items {
                            println!("{key:width$}  {}", printable(item.as_str().unwrap_or_default()));
                        }
                    }
                    _ => println!("{key:width$}  {}", human(value)),
                }
            }
        }
        other => println!("{}", human(other)),
    }
}

fn human(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(text) => printable(text),
        other => printable(&other.to_string()),
    }
}

/// `text` safe for a terminal: control characters (escape sequences), bidirectional
/// overrides (text that reads differently from what it is) and invisible format characters
/// (zero-width spaces and joiners, line and paragraph separators, the byte-order mark) from
/// stored names are shown as `\u{...}` escapes instead of being obeyed or hidden.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}');
            let invisible = matches!(c, '\u{00ad}' | '\u{200b}'..='\u{200d}' | '\u{2028}' | '\u{2029}' | '\u{2060}'..='\u{2064}' | '\u{feff}');
            if c.is_control() || bidi || invisible {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}
