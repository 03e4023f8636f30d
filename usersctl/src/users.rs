//! The commands on users: create, find, list, delete, a new token, a password.

use anyhow::{Context, bail};
use serde_json::{Value, json};
use shared::App;
use shared::app::AppError;
use shared::passwords;
use shared::tokens::{TokenNonce, new_user_id};
use shared::users::{Email, NewUser, User};

use crate::cli::{CreateUser, Which};
use crate::connect::Target;
use crate::output::user_json;

pub async fn create(app: &App, target: &Target, args: CreateUser) -> anyhow::Result<Value> {
    let password_hash = if args.password_stdin {
        Some(passwords::hash(&read_password()?)?)
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
    let (user, token) = app
        .insert_user(new, new_user_id()?, TokenNonce::generate()?, password_hash)
        .await
        .map_err(|error| target.explain(error))?;
    Ok(user_json(&user, Some(&token)))
}

pub async fn set_password(app: &App, target: &Target, which: &Which) -> anyhow::Result<Value> {
    let user = find(app, target, which).await?;
    let password = read_password()?;
    match app.set_password(&user, &password).await {
        Ok(true) => Ok(json!({"id": user.id.to_string(), "email": user.email, "password_set": true})),
        Ok(false) => bail!("user {} was deleted meanwhile", user.id),
        Err(error) => Err(target.explain(error)),
    }
}

pub async fn get(app: &App, target: &Target, which: &Which, show_token: bool) -> anyhow::Result<Value> {
    let user = find(app, target, which).await?;
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

pub async fn list(app: &App, target: &Target, limit: usize) -> anyhow::Result<Value> {
    let users = app
        .store()
        .list_users(limit)
        .await
        .map_err(|error| target.explain_store(error))?;
    Ok(json!({"users": users.iter().map(|user| user_json(user, None)).collect::<Vec<_>>()}))
}

pub async fn delete(app: &App, target: &Target, which: &Which) -> anyhow::Result<Value> {
    let user = find(app, target, which).await?;
    if !app
        .delete_user(&user)
        .await
        .map_err(|error| target.explain(error))?
    {
        bail!("user {} was deleted meanwhile", user.id);
    }
    Ok(json!({"deleted": user.id.to_string(), "email": user.email}))
}

pub async fn regenerate_token(app: &App, target: &Target, which: &Which) -> anyhow::Result<Value> {
    let user = find(app, target, which).await?;
    let token = app
        .reset_token(user.id)
        .await
        .map_err(|error| target.explain(error))?
        .with_context(|| format!("user {} was deleted meanwhile", user.id))?;
    Ok(json!({"id": user.id.to_string(), "access_token": token.to_string()}))
}

/// The user `which` names, by id or by email (any letter case).
pub async fn find(app: &App, target: &Target, which: &Which) -> anyhow::Result<User> {
    let explain = |error| target.explain(AppError::Store(error));
    let (id, description) = match (&which.id, &which.email) {
        (Some(id), _) => (Some(*id), format!("id {id}")),
        (None, Some(email)) => {
            let id = app
                .store()
                .find_user_id(&Email::lookup(email))
                .await
                .map_err(explain)?;
            (id, format!("email {email:?}"))
        }
        (None, None) => (None, "no id or email".into()),
    };
    let user = match id {
        Some(id) => app.store().get_user(id).await.map_err(explain)?,
        None => None,
    };
    user.with_context(|| format!("no user with {description} in table {:?}", target.table))
}

/// A password from stdin (its first line), or prompted for twice without echo when stdin
/// is a terminal: never from the command line, where other users and shell history see it.
pub fn read_password() -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password: ")?;
        let again = rpassword::prompt_password("Again: ")?;
        if first != again {
            bail!("the two passwords differ");
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    Ok(password.strip_suffix('\r').unwrap_or(password).to_string())
}
