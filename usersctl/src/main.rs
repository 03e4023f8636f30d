//! `usersctl`: provision users, tokens and sessions in the service's table, on AWS or on
//! DynamoDB Local, through the standard AWS configuration (`AWS_PROFILE`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL_DYNAMODB`), and check a deployed stack. Every read and write goes
//! through `shared`.

mod cli;
mod connect;
mod demo;
mod output;
mod sessions;
mod users;
mod verify;

use std::process::ExitCode;

use clap::Parser;
use serde_json::{Value, json};
use shared::store::{Store, TableCreation};

use cli::{Cli, Command};

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
                output::print_human(&output);
            }
            ExitCode::SUCCESS
        }
        Ok(Outcome::Verified(verdict)) => {
            if json_output {
                println!("{}", verdict.report);
            }
            ExitCode::from(verdict.exit_code())
        }
        Err(error) => {
            // The causes on the same line: "context: cause: cause".
            eprintln!("usersctl: {error:#}");
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

async fn create_table(store: &Store, target: &connect::Target) -> anyhow::Result<Value> {
    let outcome = store
        .create_table()
        .await
        .map_err(|error| target.explain_store(error))?;
    Ok(json!({"table": store.table(), "created": outcome == TableCreation::Created}))
}

async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    // The only command that needs no key.
    if let Command::CreateTable = cli.command {
        let (store, target, _, _) = connect::store(cli.table).await?;
        return create_table(&store, &target).await.map(Outcome::Printed);
    }
    let (app, target) = connect::app(cli.table).await?;
    let output = match cli.command {
        Command::CreateTable => create_table(app.store(), &target).await,
        Command::CreateUser(args) => users::create(&app, &target, args).await,
        Command::SetPassword(which) => users::set_password(&app, &target, &which).await,
        Command::GetUser { which, show_token } => users::get(&app, &target, &which, show_token).await,
        Command::ListUsers { limit } => users::list(&app, &target, limit).await,
        Command::DeleteUser(which) => users::delete(&app, &target, &which).await,
        Command::RegenerateToken(which) => users::regenerate_token(&app, &target, &which).await,
        Command::CreateSession { which, ttl } => sessions::create(&app, &target, &which, ttl).await,
        Command::RevokeSessions(which) => sessions::revoke(&app, &target, &which).await,
        Command::SeedDemo => demo::seed(&app, &target).await,
        Command::VerifyDeployment(args) => {
            let verdict = verify::verify_deployment(&app, &args, cli.json).await?;
            return Ok(Outcome::Verified(verdict));
        }
    };
    output.map(Outcome::Printed)
}
fn audit_log_on_stderr() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let audit_only = tracing_subscriber::filter::Targets::new()
        .with_target(shared::obs::audit::TARGET, tracing::Level::INFO);
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_writer(std::io::stderr);
    tracing_subscriber::registry().with(json).with(audit_only).init();
}
