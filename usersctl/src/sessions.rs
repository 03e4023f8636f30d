//! The commands on sessions: open one (its cookies printed as the web app sets them), end
//! a user's every session.

use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use shared::App;

use crate::cli::Which;
use crate::connect::Target;
use crate::output::session_json;
use crate::users::find;

pub async fn create(app: &App, target: &Target, which: &Which, ttl: u64) -> anyhow::Result<Value> {
    let user = find(app, target, which).await?;
    let session = app
        .create_session(user.id, Duration::from_secs(ttl))
        .await
        .map_err(|error| target.explain(error))?
        .with_context(|| format!("user {} was deleted meanwhile", user.id))?;
    Ok(session_json(&user, &session, ttl))
}

pub async fn revoke(app: &App, target: &Target, which: &Which) -> anyhow::Result<Value> {
    let user = find(app, target, which).await?;
    let revoked = app
        .revoke_sessions(user.id)
        .await
        .map_err(|error| target.explain(error))?;
    Ok(json!({"id": user.id.to_string(), "revoked_sessions": revoked}))
}
