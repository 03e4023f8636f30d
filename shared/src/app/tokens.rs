//! Credentials and access tokens: who a credential is, the user's current token, and the
//! one conditional write that replaces it.

use uuid::Uuid;

use super::{App, AppError};
use crate::clock::Timestamp;
use crate::obs::audit::{self, Event};
use crate::store::SessionWrite;
use crate::tokens::{AccessToken, Credential, Refusal, TokenNonce};
use crate::users::{TokenState, User};

impl App {
    /// The user's current access token, rebuilt from the stored nonce with the key that
    /// made it (read from the secret first if this process does not have it: a process
    /// started after a rotation knows only the new key until then); `None` if that key has
    /// been retired (the token died with it).
    pub async fn access_token(&self, user: &User) -> Option<AccessToken> {
        self.keys
            .current(Some(user.token.key_id))
            .await
            .rebuild(user.token.key_id, user.id, user.token.nonce)
    }

    /// The user's current access token for `GET .../token/`, unless it has expired or its
    /// key has been retired: a session must not be handed a token that every Bearer
    /// endpoint refuses. The web app then offers to regenerate it (a POST, with CSRF: never
    /// a side effect of a GET).
    pub async fn usable_access_token(&self, user: &User) -> Result<AccessToken, AppError> {
        if self.expired(&user.token, Timestamp::now()) {
            return Err(AppError::TokenExpired);
        }
        self.access_token(user).await.ok_or(AppError::TokenExpired)
    }

    /// The user behind a credential: one consistent read (`GetItem` for a token,
    /// `BatchGetItem` of user + session for a session). A token or session id that is not
    /// ours (unknown key, forged tag) is refused before it costs a read.
    pub async fn authenticate(&self, credential: &Credential) -> Result<User, AppError> {
        let now = Timestamp::now();
        match credential {
            Credential::Bearer(token) => {
                let keys = self.keys.current(Some(token.key_id())).await;
                keys.verify(token).map_err(AppError::TokenRefused)?;
                match self.store.get_user(token.user_id()).await? {
                    Some(user) if user.token.nonce.matches(&token.nonce()) => {
                        if self.expired(&user.token, now) {
                            Err(AppError::TokenRefused(Refusal::Expired))
                        } else {
                            Ok(user)
                        }
                    }
                    _ => Err(superseded(token.user_id())),
                }
            }
            Credential::Session(session) => {
                let lookup = self.session_lookup(session).await?;
                match self
                    .store
                    .get_user_and_session(session.user_id(), &lookup)
                    .await?
                {
                    (Some(user), Some(expires_at)) if expires_at > now => Ok(user),
                    (Some(_), Some(_)) => Err(AppError::NotSignedIn(Refusal::Expired)),
                    _ => Err(AppError::NotSignedIn(Refusal::Superseded)),
                }
            }
        }
    }

    /// Replaces the user's token and returns the new one (under the current key), in one
    /// conditional write: the old token is dead when this returns. Of concurrent
    /// regenerations presenting the same bearer token exactly one succeeds; the others get
    /// [`AppError::TokenRefused`].
    pub async fn regenerate_token(&self, credential: &Credential) -> Result<AccessToken, AppError> {
        let now = Timestamp::now();
        // The keys that know the credential's (read again first if it names one we lack).
        let keys = self.keys.current(Some(credential.key_id())).await;
        let fresh = TokenState {
            nonce: TokenNonce::generate()?,
            key_id: keys.current().id(),
            issued_at: now,
        };
        let user_id = match credential {
            Credential::Bearer(token) => {
                keys.verify(token).map_err(AppError::TokenRefused)?;
                let expired_before = self.policy.token_ttl.map(|ttl| now.saturating_sub(ttl));
                if !self
                    .store
                    .replace_token(token.user_id(), token.nonce(), expired_before, fresh)
                    .await?
                {
                    return Err(superseded(token.user_id()));
                }
                token.user_id()
            }
            Credential::Session(session) => {
                let lookup = keys.session_lookup(session).map_err(AppError::NotSignedIn)?;
                match self
                    .store
                    .replace_token_for_session(session.user_id(), &lookup, now, fresh)
                    .await?
                {
                    SessionWrite::Done => session.user_id(),
                    SessionWrite::SessionInvalid => {
                        return Err(AppError::NotSignedIn(Refusal::Superseded));
                    }
                    SessionWrite::Conflict => return Err(AppError::Conflict),
                }
            }
        };
        let via = match credential {
            Credential::Bearer(_) => "bearer",
            Credential::Session(_) => "session",
        };
        audit::record(Event::TokenRegenerated, Some(user_id), via);
        Ok(keys.access_token(user_id, fresh.nonce))
    }

    /// Gives an existing user a new token whatever the current one is (the administrator's
    /// regenerate: the old token dies as with the endpoint). `Ok(None)` when there is no such user.
    pub async fn reset_token(&self, user_id: Uuid) -> Result<Option<AccessToken>, AppError> {
        let keys = self.keys.current(None).await;
        let fresh = self.fresh_token(&keys, TokenNonce::generate()?);
        let replaced = self.store.reset_token(user_id, fresh).await?;
        if replaced {
            audit::record(Event::TokenRegenerated, Some(user_id), "admin");
        }
        Ok(replaced.then(|| keys.access_token(user_id, fresh.nonce)))
    }
}

/// A token that was really issued and since replaced (or whose user was deleted): a client
/// that missed an update, or a leaked copy being tried. Logged apart from forgeries, with the
/// user id only (docs/operations.md, "Audit trail").
fn superseded(user_id: Uuid) -> AppError {
    audit::record(Event::SupersededToken, Some(user_id), "bearer");
    AppError::TokenRefused(Refusal::Superseded)
}
