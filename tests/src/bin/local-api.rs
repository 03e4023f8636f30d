//! `local-api`: the API as deployed, on this machine. template.yaml's REST API (Lambda proxy
//! integration, payload format 1.0) in front of the function binaries, each invocation on an
//! instance that Lambda would have kept or started (see `testkit::gateway`). `make run` runs it.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use clap::builder::BoolishValueParser;
use testkit::gateway::{self, Api, Functions, Gateway};
use testkit::workspace_root;
use tokio::net::TcpListener;

/// Serves template.yaml's REST API from the function binaries, as API Gateway and Lambda would.
#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 3000)]
    port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Relative to the workspace root.
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// Where the function binaries are, relative to the workspace root.
    #[arg(long, default_value = "target/debug")]
    bin_dir: PathBuf,
    /// Start one instance of each function before serving (otherwise on first use, as Lambda).
    #[arg(long)]
    warm: bool,
    /// Instances per function at most; more concurrent requests wait for one.
    #[arg(long, env = "LOCAL_API_CONCURRENCY", default_value_t = 4)]
    concurrency: usize,
    /// The stage name in the events (`requestContext.stage`, `requestContext.path`).
    #[arg(long, env = "LOCAL_API_STAGE", default_value = "prod")]
    stage: String,
    /// Rebuild and reload the functions when their sources change (0: never).
    #[arg(long, env = "WATCH", default_value = "1", value_parser = BoolishValueParser::new())]
    watch: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("local-api: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let root = workspace_root();
    let template = root.join(&args.template);
    let text = std::fs::read_to_string(&template)
        .map_err(|error| format!("cannot read {}: {error}", template.display()))?;
    let api = Api::from_template(&text)?;
    let functions = Arc::new(Functions::new(&api, &root.join(&args.bin_dir), args.concurrency));
    for pool in functions.pools().filter(|pool| !pool.binary().is_file()) {
        eprintln!(
            "local-api: {} is missing (cargo build --bins)",
            pool.binary().display()
        );
    }
    let listener = TcpListener::bind((args.bind, args.port))
        .await
        .map_err(|error| format!("cannot listen on {}:{}: {error}", args.bind, args.port))?;
    if args.warm {
        let warming = Arc::clone(&functions);
        let failures = tokio::task::spawn_blocking(move || warming.warm())
            .await
            .map_err(|error| format!("warming up: {error}"))?;
        for (function, error) in failures {
            eprintln!("local-api: {function} did not start: {error}");
        }
    }
    println!(
        "local-api: listening on http://{}:{} (REST API emulation of {}: {} routes)",
        args.bind,
        args.port,
        args.template.display(),
        api.routes.len()
    );
    for route in &api.routes {
        println!("{} {} -> {}", route.method, route.resource, route.function);
    }
    if args.watch {
        gateway::watch(root, Arc::clone(&functions));
    }
    let stage = args.stage;
    gateway::serve(
        listener,
        Arc::new(Gateway {
            api,
            functions,
            stage,
        }),
    )
    .await;
    Ok(())
}
