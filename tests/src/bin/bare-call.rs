//! `bare-call <get|update|secret> <user-id> <count>`: the benchmark's floor. The same AWS
//! clients a function builds (`shared::setup::LambdaEnvironment`, from the same environment),
//! in a process of its own so it can run under the same CPU quota, making the one call a
//! request needs (or, for `secret`, the init's `GetSecretValue` of TOKEN_KEY_SECRET_ARN),
//! `count` times after one call that opens the connection. Prints
//! `first <microseconds>` for that one, then each call's microseconds, one per line.

use std::process::ExitCode;
use std::time::Instant;

use shared::clock::Timestamp;
use shared::setup::{LambdaEnvironment, Settings};
use shared::store::Store;
use shared::tokens::{KeyId, TokenNonce};
use shared::users::TokenState;
use uuid::Uuid;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(operation), Some(Ok(user)), Some(Ok(count))) = (
        args.first(),
        args.get(1).map(|id| Uuid::parse_str(id)),
        args.get(2).map(|count| count.parse::<usize>()),
    ) else {
        eprintln!("usage: bare-call <get|update|secret> <user-id> <count>");
        return ExitCode::from(2);
    };
    let (store, secrets) = match (Settings::from_env(), LambdaEnvironment::from_env()) {
        (Ok(config), Ok(aws)) => (
            Store::new(aws.dynamodb(), config.table_name),
            aws.secretsmanager(),
        ),
        (Err(error), _) | (_, Err(error)) => {
            eprintln!("bare-call: {error}");
            return ExitCode::FAILURE;
        }
    };
    let secret_arn = std::env::var("TOKEN_KEY_SECRET_ARN").unwrap_or_default();
    let mut latencies = Vec::with_capacity(count);
    for n in 0..=count {
        let started = Instant::now();
        let outcome = match operation.as_str() {
            "get" => store.get_user(user).await.map(|_| ()),
            "secret" => match secrets.get_secret_value().secret_id(&secret_arn).send().await {
                Ok(_) => Ok(()),
                Err(error) => {
                    eprintln!(
                        "bare-call: {}",
                        aws_sdk_secretsmanager::error::DisplayErrorContext(error)
                    );
                    return ExitCode::FAILURE;
                }
            },
            _ => match TokenNonce::generate() {
                Ok(nonce) => {
                    let fresh = TokenState {
                        nonce,
                        // Any key will do: the bench gives the user a real token afterwards.
                        key_id: KeyId::from([0; 4]),
                        issued_at: Timestamp::now(),
                    };
                    store.reset_token(user, fresh).await.map(|_| ())
                }
                Err(error) => {
                    eprintln!("bare-call: {error}");
                    return ExitCode::FAILURE;
                }
            },
        };
        if let Err(error) = outcome {
            eprintln!("bare-call: {error}");
            return ExitCode::FAILURE;
        }
        // The first call opens the connection (TCP, TLS), as a function's init does.
        if n == 0 {
            println!("first {}", started.elapsed().as_micros());
        } else {
            latencies.push(started.elapsed().as_micros());
        }
    }
    for micros in latencies {
        println!("{micros}");
    }
    ExitCode::SUCCESS
}
