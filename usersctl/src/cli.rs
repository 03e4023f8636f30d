//! The command line: every command, its arguments and its help (with an example each).

use clap::{Args, Parser, Subcommand};
use serde_json::{Map, Value};
use uuid::Uuid;

const EXAMPLES: &str = "\
Examples (DynamoDB Local):
  export AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8000 AWS_REGION=us-east-1 \\
         AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \\
         TABLE_NAME=users TOKEN_KEY=dev-only-insecure-token-key-0123456789abcdef
  usersctl create-table
  usersctl create-user --email ann@example.com --first-name Ann --email-confirmed
  usersctl --json get-user --email ann@example.com

Against a deployed stack, leave AWS_ENDPOINT_URL_DYNAMODB unset, use your AWS profile,
and take TABLE_NAME and TOKEN_KEY from the stack (docs/deploying.md).";

#[derive(Parser)]
#[command(name = "usersctl", version, about = "Provision users, access tokens and sessions.", after_help = EXAMPLES)]
pub struct Cli {
    /// The DynamoDB table.
    #[arg(long, env = "TABLE_NAME", global = true)]
    pub table: Option<String>,
    /// Print one JSON object (stable field names) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
    VerifyDeployment(crate::verify::VerifyArgs),
}

/// Ten years: a session expiry must stay a date the API can print (years up to 9999), and a
/// longer session is a mistake, not a choice.
pub const MAX_SESSION_TTL_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// Which user: by email (any letter case) or by id.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct Which {
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long)]
    pub id: Option<Uuid>,
}

#[derive(Args)]
pub struct CreateUser {
    #[arg(long)]
    pub email: String,
    /// Defaults to the part of the email before the @.
    #[arg(long)]
    pub username: Option<String>,
    #[arg(long, default_value = "")]
    pub first_name: String,
    #[arg(long, default_value = "")]
    pub last_name: String,
    #[arg(long)]
    pub phone: Option<String>,
    /// Mark the email as confirmed now.
    #[arg(long)]
    pub email_confirmed: bool,
    /// Mark the phone as confirmed now (needs --phone).
    #[arg(long)]
    pub phone_confirmed: bool,
    /// A JSON object, e.g. '{"name": "Ann"}'.
    #[arg(long, value_parser = json_object, default_value = "{}")]
    pub user_metadata: Map<String, Value>,
    /// A JSON object, e.g. '{"provider": "email", "roles": ["user"]}'.
    #[arg(long, value_parser = json_object, default_value = "{}")]
    pub app_metadata: Map<String, Value>,
    /// Read a password for the account page's sign-in from stdin (one line; prompted for
    /// twice without echo when stdin is a terminal).
    #[arg(long)]
    pub password_stdin: bool,
}

fn json_object(text: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err("must be a JSON object, like '{\"name\": \"Ann\"}'".into()),
        Err(error) => Err(format!("is not valid JSON: {error}")),
    }
}
