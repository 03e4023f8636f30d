//! `usersctl seed-demo`: the fixed local demo user and session that `make run` prints and
//! events/ carry. Fixed, so the credentials in events/ stay valid on any local store seeded
//! under the public dev key, and on nothing else.

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use shared::App;
use shared::app::AppError;
use shared::passwords;
use shared::tokens::{PUBLIC_DEV_KEY_PREFIX, TokenNonce};
use shared::users::NewUser;
use uuid::Uuid;

use crate::connect::Target;
use crate::output::{session_json, user_json};

const EMAIL: &str = "demo@example.com";
const USER_ID: &str = "00000000-0000-4000-8000-00000000de70";
const TOKEN_NONCE: [u8; 16] = *b"demo-token-nonce";
const SESSION_SECRET: [u8; 32] = *b"demo-session-secret, public, dev";
/// A day: long enough for a working session, short enough to show expiry is real.
const SESSION_TTL_SECONDS: u64 = 86_400;
/// The account page's sign-in, as public as the dev key.
const PASSWORD: &str = "demo-password";

pub async fn seed(app: &App, target: &Target) -> anyhow::Result<Value> {
    if !app.keys().current().is_public_dev_key() {
        bail!(
            "seed-demo makes well-known credentials: it runs only with a public dev key (TOKEN_KEY={PUBLIC_DEV_KEY_PREFIX}...)"
        );
    }
    let id = Uuid::parse_str(USER_ID)?;
    let explain = |error| target.explain(error);
    if let Some(existing) = app
        .store()
        .get_user(id)
        .await
        .map_err(|error| explain(AppError::Store(error)))?
    {
        app.delete_user(&existing).await.map_err(explain)?;
    }
    let new = NewUser {
        email: EMAIL.into(),
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
    let nonce = TokenNonce::from_bytes(&TOKEN_NONCE).context("the demo nonce is 16 bytes")?;
    let password_hash = passwords::hash(PASSWORD)?;
    let (user, token) = match app.insert_user(new, id, nonce, Some(password_hash)).await {
        Ok(created) => created,
        Err(AppError::EmailTaken) => bail!("{EMAIL} belongs to another user: delete it first"),
        Err(other) => return Err(explain(other)),
    };
    let ttl = SESSION_TTL_SECONDS;
    let session = app
        .open_demo_session(id, SESSION_SECRET, Duration::from_secs(ttl))
        .await
        .map_err(explain)?
        .context("the demo user vanished while seeding")?;
    let mut output = user_json(&user, Some(&token));
    if let Some(object) = output.as_object_mut() {
        object.insert("password".into(), Value::String(PASSWORD.into()));
    }
    if let (Some(object), Value::Object(session)) =
        (output.as_object_mut(), session_json(&user, &session, ttl))
    {
        object.extend(session.into_iter().filter(|(key, _)| key != "user_id"));
    }
    Ok(output)
}
