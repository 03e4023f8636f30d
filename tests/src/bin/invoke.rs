//! `invoke <function> <event.json>`: runs one function binary on one event, as Lambda would
//! (a Runtime API in front of the real process), and prints its proxy response. The local
//! equivalent of `sam local invoke`, without Docker; the function reads its settings from
//! this environment (`make run` prints them).

use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use testkit::runtime_api::{Outcome, RuntimeApi};
use testkit::workspace_root;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [function, event_file] = args.as_slice() else {
        eprintln!(
            "usage: invoke <function> <event.json>   e.g. invoke get-current-user events/get-current-user.bearer.json"
        );
        return ExitCode::from(2);
    };
    let event = match std::fs::read_to_string(event_file) {
        Ok(event) => event,
        Err(error) => {
            eprintln!("invoke: cannot read {event_file}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let binary: PathBuf = workspace_root().join("target/debug").join(function);
    if !binary.is_file() {
        eprintln!("invoke: {} is not built (cargo build --bins)", binary.display());
        return ExitCode::FAILURE;
    }
    // The function's own logs go to stderr, its answer to stdout.
    let mut api = RuntimeApi::start();
    api.spawn_function(&binary, &[] as &[(&str, &str)], Stdio::from(std::io::stderr()));
    if let Err(error) = api.try_wait_for_init(Duration::from_secs(30)) {
        eprintln!("invoke: {function} did not start: {error}");
        return ExitCode::FAILURE;
    }
    match api.try_invoke(&event, Duration::from_secs(30)) {
        Ok(Outcome::Response(response)) => {
            println!("{response}");
            ExitCode::SUCCESS
        }
        Ok(Outcome::Error(error)) => {
            eprintln!("invoke: {function} reported an error: {error}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("invoke: {function} did not answer: {error}");
            ExitCode::FAILURE
        }
    }
}
