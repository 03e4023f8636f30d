//! Sessions: opened by a sign-in (or an administrator), checked by CSRF token, ended by a
//! sign-out or a revocation. Every session id is fresh randomness, but for the local demo's.

use std::time::Duration;

use uuid::Uuid;

use super::{App, AppError};
use crate::clock::Timestamp;
use crate::lockout::{self, MAX_FAILURES};
use crate::obs::audit::{self, Event};
use crate::passwords;
use crate::store::SignInWrite;
use crate::tokens::{KeyRing, SessionId};
use crate::users::Email;

/// A session as the web app sets it in the browser.
#[derive(Debug)]
pub struct NewSession {
    /// The `sessionid` cookie value.
    pub session_id: SessionId,
    /// The `csrftoken` cookie value, to be echoed in `X-CSRFToken` on POST.
    pub csrf_token: String,
    pub expires_at: Timestamp,
}

impl App {
    /// Opens a new session for the user with a fresh random id, valid for `ttl`
    /// (`usersctl create-session` and the tests). `Ok(None)` when there is no such user.
    pub async fn create_session(&self, user_id: Uuid, ttl: Duration) -> Result<Option<NewSession>, AppError> {
        let session_id = self.keys.current(None).await.new_session(user_id)?;
        let opened = self.open_session(session_id, ttl).await?;
        if opened.is_some() {
            audit::record(Event::SessionOpened, Some(user_id), "admin");
        }
        Ok(opened)
    }

    /// The fixed local demo session (`usersctl seed-demo`): a chosen id, so only under a
    /// public development key (a chosen id anywhere else is a fixation hazard).
    pub async fn open_demo_session(
        &self,
        user_id: Uuid,
        secret: [u8; 32],
        ttl: Duration,
    ) -> Result<Option<NewSession>, AppError> {
        let session_id = self
            .keys
            .ring()
            .demo_session(user_id, secret)
            .ok_or(AppError::DemoNeedsPublicKey)?;
        self.open_session(session_id, ttl).await
    }

    /// Stores `session_id` as a session of its user, valid for `ttl`: the one function
    /// that writes sessions outside a sign-in. `Ok(None)` when there is no such user.
    async fn open_session(
        &self,
        session_id: SessionId,
        ttl: Duration,
    ) -> Result<Option<NewSession>, AppError> {
        let user_id = session_id.user_id();
        let now = Timestamp::now();
        let expires_at = now.saturating_add(ttl);
        let (lookup, csrf_token) = session_handles(&self.keys.ring(), &session_id)?;
        if !self
            .store
            .create_session(user_id, &lookup, now, expires_at)
            .await?
        {
            return Ok(None);
        }
        Ok(Some(NewSession {
            session_id,
            csrf_token,
            expires_at,
        }))
    }

    /// Signs in with an email and a password: one `GetItem` of the account's email claim,
    /// then one `TransactWriteItems` that opens a fresh random session (never one the client
    /// chose) and clears the failed attempts. A wrong password or an unknown email is the same
    /// [`AppError::BadCredentials`], after the same Argon2id work and the same conditional
    /// `UpdateItem` (a failure counted; for an unknown email, nothing written); a locked
    /// account is refused before its password is checked.
    pub async fn sign_in(&self, email: &Email, password: &str) -> Result<NewSession, AppError> {
        let now = Timestamp::now();
        let window_start = lockout::window_start(now);
        let Some(record) = self.store.get_sign_in(email).await? else {
            passwords::verify(None, password);
            self.store
                .record_failed_login_of_unknown_email(email, window_start, now)
                .await?;
            audit::record(Event::SignInFailed, None, "unknown_email");
            return Err(AppError::BadCredentials);
        };
        if let Some(seconds) = record.failures.locked_for(now) {
            audit::record(Event::SignInFailed, Some(record.user_id), "locked");
            return Err(AppError::Locked(seconds));
        }
        if !passwords::verify(record.password_hash.as_deref(), password) {
            self.store
                .record_failed_login(email, record.failures.since, window_start, now)
                .await?;
            audit::record(Event::SignInFailed, Some(record.user_id), "wrong_password");
            return Err(AppError::BadCredentials);
        }
        let keys = self.keys.current(None).await;
        let session_id = keys.new_session(record.user_id)?;
        let (lookup, csrf_token) = session_handles(&keys, &session_id)?;
        let expires_at = now.saturating_add(self.policy.session_ttl);
        let written = self
            .store
            .open_signed_in_session(
                email,
                record.user_id,
                &lookup,
                (MAX_FAILURES, window_start),
                now,
                expires_at,
            )
            .await?;
        if written == SignInWrite::Refused {
            audit::record(Event::SignInFailed, Some(record.user_id), "locked");
            return Err(AppError::Locked(lockout::FAILURE_WINDOW.as_secs()));
        }
        audit::record(Event::SessionOpened, Some(record.user_id), "sign_in");
        Ok(NewSession {
            session_id,
            csrf_token,
            expires_at,
        })
    }

    /// The CSRF token bound to this session, with the keys that know the session's: what a
    /// session POST must echo (Django's rule, checked in `http::credentials`).
    pub async fn csrf_token(&self, session: &SessionId) -> Result<String, AppError> {
        let keys = self.keys.current(Some(session.key_id())).await;
        keys.csrf_token(session).map_err(AppError::NotSignedIn)
    }

    /// The session's record key, once the session id is known to be ours.
    pub(super) async fn session_lookup(&self, session: &SessionId) -> Result<String, AppError> {
        let keys = self.keys.current(Some(session.key_id())).await;
        keys.session_lookup(session).map_err(AppError::NotSignedIn)
    }

    /// Ends a session (a sign-out): one `DeleteItem`. The CSRF check is the caller's.
    pub async fn sign_out(&self, session: &SessionId) -> Result<(), AppError> {
        let lookup = self.session_lookup(session).await?;
        self.store.delete_session(session.user_id(), &lookup).await?;
        audit::record(Event::SessionRevoked, Some(session.user_id()), "sign_out");
        Ok(())
    }

    /// Ends every session of the user (the administrator's); how many there were.
    pub async fn revoke_sessions(&self, user_id: Uuid) -> Result<usize, AppError> {
        let revoked = self.store.revoke_sessions(user_id).await?;
        if revoked > 0 {
            audit::record(Event::SessionRevoked, Some(user_id), "admin");
        }
        Ok(revoked)
    }
}

/// A session's record key and its CSRF token, once the session id is known to be ours.
fn session_handles(keys: &KeyRing, session: &SessionId) -> Result<(String, String), AppError> {
    let lookup = keys.session_lookup(session).map_err(AppError::NotSignedIn)?;
    let csrf_token = keys.csrf_token(session).map_err(AppError::NotSignedIn)?;
    Ok((lookup, csrf_token))
}
