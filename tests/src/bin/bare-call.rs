//! `bare-call <operation> <user-id> <count>`: the benchmark's floor. The same AWS clients a
//! function builds (`shared::setup::LambdaEnvironment`, from the same environment), in a
//! process of its own so it can run under the same CPU quota or under callgrind, making the
//! store calls one request needs, `count` times after one call that opens the connection:
//!
//! - `get`: the user's `GetItem` (the three read endpoints with a token);
//! - `update`: the token's conditional `UpdateItem` as a Bearer regenerate sends it (the
//!   presented nonce in the condition), each call presenting the nonce the last one wrote;
//! - `signin`: the email claim's `GetItem`, then the `TransactWriteItems` that opens a
//!   session (a sign-in, without its Argon2id);
//! - `delete`: a session's `DeleteItem` (a sign-out);
//! - `secret`: the init's `GetSecretValue` of TOKEN_KEY_SECRET_ARN;
//! - `none`: no call at all (the process and its clients alone: what the others cost less
//!   it is their calls).
//!
//! Prints `first <microseconds>` for the first call, then each call's microseconds.

use std::process::ExitCode;
use std::time::Instant;

use shared::clock::Timestamp;
use shared::lockout::{self, MAX_FAILURES};
use shared::setup::{LambdaEnvironment, Settings};
use shared::store::Store;
use shared::tokens::{KeyId, TokenNonce, random_bytes};
use shared::users::{Email, TokenState};
use uuid::Uuid;

/// The account `signin` reads: the bench's user's.
const EMAIL: &str = "bench@example.com";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(operation), Some(Ok(user)), Some(Ok(count))) = (
        args.first(),
        args.get(1).map(|id| Uuid::parse_str(id)),
        args.get(2).map(|count| count.parse::<usize>()),
    ) else {
        eprintln!("usage: bare-call <get|update|signin|delete|secret|none> <user-id> <count>");
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
    if operation == "none" {
        return ExitCode::SUCCESS;
    }
    let secret_arn = std::env::var("TOKEN_KEY_SECRET_ARN").unwrap_or_default();
    // `update` presents the user's current nonce, as a regenerate does: read it once.
    let mut presented = None;
    if operation == "update" {
        match store.get_user(user).await {
            Ok(Some(found)) => presented = Some(found.token.nonce),
            Ok(None) => {
                eprintln!("bare-call: no user {user}");
                return ExitCode::FAILURE;
            }
            Err(error) => {
                eprintln!("bare-call: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    let mut latencies = Vec::with_capacity(count);
    for n in 0..=count {
        let started = Instant::now();
        let outcome = match operation.as_str() {
            "get" => store.get_user(user).await.map(|_| ()).map_err(|e| e.to_string()),
            "secret" => secrets
                .get_secret_value()
                .secret_id(&secret_arn)
                .send()
                .await
                .map(|_| ())
                .map_err(|error| aws_sdk_secretsmanager::error::DisplayErrorContext(error).to_string()),
            "signin" => sign_in(&store, user).await,
            "delete" => store
                .delete_session(user, &lookup())
                .await
                .map_err(|e| e.to_string()),
            _ => regenerate(&store, user, &mut presented).await,
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

/// A session lookup nobody has, the shape of a real one (`KeyRing::session_lookup`: a
/// 32-byte tag in unpadded base64url).
fn lookup() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = random_bytes().unwrap_or([7; 32]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A sign-in's two store calls, as `App::sign_in` makes them for a right password.
async fn sign_in(store: &Store, user: Uuid) -> Result<(), String> {
    let email = Email::lookup(EMAIL);
    store.get_sign_in(&email).await.map_err(|e| e.to_string())?;
    let now = Timestamp::now();
    let expires_at = now.saturating_add(std::time::Duration::from_secs(3600));
    let lockout = (MAX_FAILURES, lockout::window_start(now));
    store
        .open_signed_in_session(&email, user, &lookup(), lockout, now, expires_at)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A Bearer regenerate's store call: the token replaced on condition that `presented` is
/// still the user's nonce; the nonce written is the one the next call presents.
async fn regenerate(store: &Store, user: Uuid, presented: &mut Option<TokenNonce>) -> Result<(), String> {
    let current = presented.ok_or("no nonce to present")?;
    let fresh = TokenState {
        nonce: TokenNonce::generate().map_err(|error| error.to_string())?,
        // Any key will do: the bench gives the user a real token afterwards.
        key_id: KeyId::from([0; 4]),
        issued_at: Timestamp::now(),
    };
    match store.replace_token(user, current, None, fresh).await {
        Ok(true) => {
            *presented = Some(fresh.nonce);
            Ok(())
        }
        Ok(false) => Err("the presented nonce was not the user's".into()),
        Err(error) => Err(error.to_string()),
    }
}
