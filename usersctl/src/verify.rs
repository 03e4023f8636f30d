//! `usersctl verify-deployment --base-url URL [--origin ORIGIN]`: proves a deployed stack
//! serves the contract, in a minute, after every deploy. It makes a throwaway user in the
//! stack's table (with the store and key settings every command takes), runs the checks of
//! [`checks`] against URL as that user, and removes the user and its sessions at the end,
//! whatever happened: a failed check, a request that timed out, Ctrl-C or SIGTERM.

mod checks;
mod client;
mod expect;
mod report;

use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Args;
use hyper::Uri;
use serde_json::{Value, json};
use shared::App;
use shared::passwords;
use shared::setup::is_loopback;
use shared::tokens::{KeyRing, TokenKey, TokenNonce, new_user_id, random_bytes};
use shared::users::NewUser;
use tokio::signal::unix::{SignalKind, signal};

use checks::Subject;
use client::Api;
use report::Report;

#[derive(Args)]
pub struct VerifyArgs {
    /// The stack's ApiUrl output (the stage included); https:// unless the host is a
    /// loopback address.
    #[arg(long, value_parser = base_url)]
    base_url: String,
    /// A browser origin of the stack's AllowedOrigins: also check CORS for it.
    #[arg(long)]
    origin: Option<String>,
    /// How long one request may take, in seconds (none is retried).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=120))]
    request_timeout: u64,
}

/// An absolute http(s) URL, `https://` unless its host is this machine's loopback interface:
/// the checks send a live token and a password, which plain HTTP would show to the network.
fn base_url(text: &str) -> Result<String, String> {
    let uri: Uri = text.parse().map_err(|_| {
        format!("{text:?} is not a URL like https://abc123.execute-api.eu-west-1.amazonaws.com/prod")
    })?;
    match (uri.scheme_str(), uri.host()) {
        (Some("https"), Some(_)) => {}
        (Some("http"), Some(_)) if is_loopback(text) => {}
        (Some("http"), Some(_)) => {
            return Err(format!(
                "plain HTTP is refused for {text}: the checks send a token and a password; use https:// (http:// only for a loopback address)"
            ));
        }
        _ => return Err(format!("{text:?} is not an http(s) URL with a host")),
    }
    if uri.query().is_some() {
        return Err(format!("{text:?}: a base URL takes no query"));
    }
    Ok(text.trim_end_matches('/').to_string())
}

/// How a run ended.
pub struct Verdict {
    pub report: Value,
    pub failed: usize,
    pub interrupted: bool,
}

impl Verdict {
    /// 0 when every check passed, 1 when one failed, 130 when interrupted (as a shell
    /// reports Ctrl-C).
    pub fn exit_code(&self) -> u8 {
        match (self.interrupted, self.failed) {
            (true, _) => 130,
            (false, 0) => 0,
            (false, _) => 1,
        }
    }
}

/// The throwaway user's address: recognisable, and in a domain that never receives mail.
fn throwaway_email() -> anyhow::Result<String> {
    let tag: [u8; 8] = random_bytes()?;
    let hex: String = tag.iter().map(|byte| format!("{byte:02x}")).collect();
    Ok(format!("verify-{hex}@example.invalid"))
}

/// Runs the checks against `args.base_url` as a throwaway user of `app`'s table. `Err` when
/// the run could not start (the user could not be made); the checks' failures are in the
/// verdict. Lines are printed as checks end unless `quiet` (`--json` prints the report).
pub async fn verify_deployment(app: &App, args: &VerifyArgs, quiet: bool) -> anyhow::Result<Verdict> {
    // Listening before the user exists, so a signal at any point is seen.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let api = Api::new(&args.base_url, Duration::from_secs(args.request_timeout))?;

    let email = throwaway_email()?;
    let password = URL_SAFE_NO_PAD.encode(random_bytes::<24>()?);
    let hash = passwords::hash(&password)?;
    let new = NewUser {
        email: email.clone(),
        first_name: "Deployment".into(),
        last_name: "Check".into(),
        email_confirmed: true,
        user_metadata: json!({"created_by": "usersctl verify-deployment"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        ..NewUser::default()
    };
    let id = new_user_id()?;
    let nonce = TokenNonce::generate()?;
    let (user, token) = app
        .insert_user(new, id, nonce, Some(hash))
        .await
        .context("cannot create the throwaway user")?;
    // A token for this user that the stack cannot know: made with a key of our own.
    let other_key = TokenKey::new(&random_bytes::<32>()?).context("a 32-byte key is long enough")?;
    let foreign_token = KeyRing::single(other_key)
        .access_token(id, TokenNonce::generate()?)
        .to_string();
    let mut subject = Subject {
        id,
        email: email.clone(),
        password,
        token: token.to_string(),
        forged_token: token.forged().to_string(),
        foreign_token,
    };
    let mut report = Report::new(quiet);
    for secret in [
        &subject.password,
        &subject.token,
        &subject.forged_token,
        &subject.foreign_token,
    ] {
        report.keep_secret(secret);
    }
    if !quiet {
        println!("Checking {} as {email} (removed at the end)", args.base_url);
    }

    let interrupted = tokio::select! {
        () = checks::run(&api, &mut report, &mut subject, args.origin.as_deref()) => false,
        _ = interrupt.recv() => true,
        _ = terminate.recv() => true,
    };

    let removed = app.delete_user(&user).await;
    let verdict = Verdict {
        report: report.to_json(),
        failed: report.failed(),
        interrupted,
    };
    if !quiet {
        if interrupted {
            println!("interrupted");
        }
        println!("{} passed, {} failed", report.passed(), report.failed());
    }
    removed.with_context(|| {
        format!(
            "could not remove the throwaway user {email} ({}); remove it with `usersctl delete-user --email {email}`",
            user.id
        )
    })?;
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_except_on_loopback() {
        assert!(base_url("https://abc.execute-api.eu-west-1.amazonaws.com/prod/").is_ok());
        assert_eq!(
            base_url("http://127.0.0.1:3000/").as_deref(),
            Ok("http://127.0.0.1:3000")
        );
        assert!(base_url("http://localhost:3000").is_ok());
        assert!(base_url("http://[::1]:3000").is_ok());
        for refused in [
            "http://abc.execute-api.eu-west-1.amazonaws.com/prod",
            "http://localhost@evil.example/",
            "http://127.0.0.1.nip.io/",
            "ftp://example.com",
            "abc.execute-api.eu-west-1.amazonaws.com",
            "https://example.com/prod?x=1",
        ] {
            assert!(base_url(refused).is_err(), "{refused}");
        }
        assert!(
            base_url("http://example.com")
                .unwrap_err()
                .contains("plain HTTP is refused")
        );
    }
}
