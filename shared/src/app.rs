//! The service: configuration, the store and the keys, built once per process, and the
//! account operations the handlers and `usersctl` share.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use lambda_http::http::header::ORIGIN;
use lambda_http::{Body, Request, Response, service_fn};
use uuid::Uuid;

use crate::audit::{self, Event};
use crate::auth::{self, Credential};
use crate::clock::Timestamp;
use crate::config::{Config, ConfigError, LambdaEnvironment, refuse_public_key_off_local};
use crate::cors::AllowedOrigins;
use crate::keys::Keys;
use crate::metrics::Recorder;
use crate::passwords;
use crate::responses::{Failure, Refusal};
use crate::sign_in::{self, SignedIn};
use crate::store::{SessionWrite, SignInWrite, Store, StoreError};
use crate::tokens::{AccessToken, KeyRing, SessionId, TokenNonce, new_user_id};
use crate::users::{CreateUserError, NewUser, TokenState, User};

pub struct App {
    store: Store,
    keys: Keys,
    token_ttl: Option<Duration>,
    session_ttl: Duration,
    allowed_origins: AllowedOrigins,
}

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
    /// The init phase of a cold start: reads the configuration, builds the clients, and
    /// opens the DynamoDB connection while the keys are read (from Secrets Manager, when
    /// that is where they are), so the first request pays for none of it and init waits
    /// for the longer of the two, not both.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let aws = LambdaEnvironment::from_env()?;
        let store = Store::new(aws.dynamodb(), config.table_name.clone());
        let (keys, ()) = tokio::join!(config.key_source.load(|| aws.secretsmanager()), store.warm_up());
        let keys = keys?;
        refuse_public_key_off_local(&keys.ring(), aws.store_is_local())?;
        Ok(Self {
            store,
            keys,
            token_ttl: config.token_ttl,
            session_ttl: config.session_ttl,
            allowed_origins: config.allowed_origins,
        })
    }

    /// An app on `client` with these keys (tests, `usersctl`).
    pub fn new(config: Config, client: Client, keys: Keys) -> Self {
        Self {
            store: Store::new(client, config.table_name),
            keys,
            token_ttl: config.token_ttl,
            session_ttl: config.session_ttl,
            allowed_origins: config.allowed_origins,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The keys as they are now.
    pub fn keys(&self) -> Arc<KeyRing> {
        self.keys.ring()
    }

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
    pub async fn usable_access_token(&self, user: &User) -> Result<AccessToken, Failure> {
        if self.expired(&user.token, Timestamp::now()) {
            return Err(Failure::TokenExpired);
        }
        self.access_token(user).await.ok_or(Failure::TokenExpired)
    }

    /// The user behind a credential: one consistent read (`GetItem` for a token,
    /// `BatchGetItem` of user + session for a session). A token or session id that is not
    /// ours (unknown key, forged tag) is refused before it costs a read.
    pub async fn authenticate(&self, credential: &Credential) -> Result<User, Failure> {
        let now = Timestamp::now();
        match credential {
            Credential::Bearer(token) => {
                let keys = self.keys.current(Some(token.key_id())).await;
                keys.verify(token).map_err(Failure::InvalidToken)?;
                match self.store.get_user(token.user_id()).await? {
                    Some(user) if user.token.nonce.matches(&token.nonce()) => {
                        if self.expired(&user.token, now) {
                            Err(Failure::InvalidToken(Refusal::Expired))
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
                    (Some(_), Some(_)) => Err(Failure::NotAuthenticated(Refusal::Expired)),
                    _ => Err(Failure::NotAuthenticated(Refusal::Superseded)),
                }
            }
        }
    }

    /// Django's CSRF rule for a session POST ([`auth::check_csrf`]), with the keys that know
    /// the session's.
    pub async fn check_csrf(&self, request: &Request, session: &SessionId) -> Result<(), Failure> {
        let keys = self.keys.current(Some(session.key_id())).await;
        auth::check_csrf(request, &keys, session)
    }

    /// The session's record key, once the session id is known to be ours.
    async fn session_lookup(&self, session: &SessionId) -> Result<String, Failure> {
        let keys = self.keys.current(Some(session.key_id())).await;
        keys.session_lookup(session).map_err(Failure::NotAuthenticated)
    }

    /// Replaces the user's token and returns the new one (under the current key), in one
    /// conditional write: the old token is dead when this returns. Of concurrent
    /// regenerations presenting the same bearer token exactly one succeeds; the others get
    /// [`Failure::InvalidToken`].
    pub async fn regenerate_token(&self, credential: &Credential) -> Result<AccessToken, Failure> {
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
                keys.verify(token).map_err(Failure::InvalidToken)?;
                let expired_before = self.token_ttl.map(|ttl| now.saturating_sub(ttl));
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
                let lookup = keys.session_lookup(session).map_err(Failure::NotAuthenticated)?;
                match self
                    .store
                    .replace_token_for_session(session.user_id(), &lookup, now, fresh)
                    .await?
                {
                    SessionWrite::Done => session.user_id(),
                    SessionWrite::SessionInvalid => {
                        return Err(Failure::NotAuthenticated(Refusal::Superseded));
                    }
                    SessionWrite::Conflict => return Err(Failure::Conflict),
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
    pub async fn reset_token(&self, user_id: Uuid) -> Result<Option<AccessToken>, Failure> {
        let keys = self.keys.current(None).await;
        let fresh = self.fresh_token(&keys, TokenNonce::generate()?);
        let replaced = self.store.reset_token(user_id, fresh).await?;
        if replaced {
            audit::record(Event::TokenRegenerated, Some(user_id), "admin");
        }
        Ok(replaced.then(|| keys.access_token(user_id, fresh.nonce)))
    }

    /// Opens a new session for the user with a fresh random id, valid for `ttl` (the web
    /// app's login, `usersctl create-session` and the tests all call this). `Ok(None)` when
    /// there is no such user.
    pub async fn create_session(&self, user_id: Uuid, ttl: Duration) -> Result<Option<NewSession>, Failure> {
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
    ) -> Result<Option<NewSession>, Failure> {
        let session_id = self
            .keys
            .ring()
            .demo_session(user_id, secret)
            .ok_or_else(|| Failure::Internal("a demo session needs the public development key".into()))?;
        self.open_session(session_id, ttl).await
    }

    /// Stores `session_id` as a session of its user, valid for `ttl`: the one function
    /// that writes sessions. `Ok(None)` when there is no such user.
    async fn open_session(
        &self,
        session_id: SessionId,
        ttl: Duration,
    ) -> Result<Option<NewSession>, Failure> {
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

    /// Creates a user with a fresh id and access token. The email is unique
    /// (case-insensitive): DynamoDB enforces it in the same transaction that writes the user.
    pub async fn create_user(&self, new: NewUser) -> Result<(User, AccessToken), CreateUserError> {
        self.insert_user(new, new_user_id()?, TokenNonce::generate()?, None)
            .await
    }

    /// [`create_user`](Self::create_user) with a chosen id and nonce (the local demo user)
    /// and, if given, a password hash, written in the same transaction.
    pub async fn insert_user(
        &self,
        new: NewUser,
        id: Uuid,
        nonce: TokenNonce,
        password_hash: Option<String>,
    ) -> Result<(User, AccessToken), CreateUserError> {
        let keys = self.keys.ring();
        let token = self.fresh_token(&keys, nonce);
        let user = new.into_user(id, token.issued_at, token)?;
        self.store.create_user(&user, password_hash.as_deref()).await?;
        audit::record(Event::UserCreated, Some(user.id), "admin");
        let access_token = keys.access_token(user.id, nonce);
        Ok((user, access_token))
    }

    /// Sets the user's password (Argon2id; [`passwords::hash`] says what is accepted) and
    /// clears the account's failed sign-ins. `Ok(false)` when the user is gone.
    pub async fn set_password(&self, user: &User, password: &str) -> Result<bool, SetPasswordError> {
        let hash = passwords::hash(password).map_err(SetPasswordError::Refused)?;
        Ok(self.store.set_password_hash(&user.email, user.id, &hash).await?)
    }

    /// A token issued now, under the current key.
    fn fresh_token(&self, keys: &KeyRing, nonce: TokenNonce) -> TokenState {
        TokenState {
            nonce,
            key_id: keys.current().id(),
            issued_at: Timestamp::now(),
        }
    }

    fn expired(&self, token: &TokenState, now: Timestamp) -> bool {
        self.token_ttl
            .is_some_and(|ttl| token.issued_at.saturating_add(ttl) <= now)
    }

    /// Signs in with an email and a password: one `GetItem` of the account's email claim,
    /// then one `TransactWriteItems` that opens a fresh random session (never one the client
    /// chose) and clears the failed attempts. A wrong password or an unknown email is the same
    /// [`Failure::InvalidCredentials`], after the same Argon2id work and the same conditional
    /// `UpdateItem` (a failure counted; for an unknown email, nothing written); a locked
    /// account is refused before its password is checked.
    pub async fn sign_in(&self, email: &str, password: &str) -> Result<SignedInSession, Failure> {
        let now = Timestamp::now();
        let Some(record) = self.store.get_sign_in(email).await? else {
            passwords::verify(None, password);
            self.store
                .record_failed_login_of_unknown_email(email, sign_in::window_start(now), now)
                .await?;
            audit::record(Event::SignInFailed, None, "unknown_email");
            return Err(Failure::InvalidCredentials);
        };
        if let Some(seconds) = sign_in::locked_for(&record, now) {
            audit::record(Event::SignInFailed, Some(record.user_id), "locked");
            return Err(Failure::TooManyAttempts(seconds));
        }
        if !passwords::verify(record.password_hash.as_deref(), password) {
            self.store
                .record_failed_login(email, record.failures_since, sign_in::window_start(now), now)
                .await?;
            audit::record(Event::SignInFailed, Some(record.user_id), "wrong_password");
            return Err(Failure::InvalidCredentials);
        }
        let keys = self.keys.current(None).await;
        let session_id = keys.new_session(record.user_id)?;
        let (lookup, csrf_token) = session_handles(&keys, &session_id)?;
        let expires_at = now.saturating_add(self.session_ttl);
        let lockout = (sign_in::MAX_FAILURES, sign_in::window_start(now));
        let written = self
            .store
            .open_signed_in_session(email, record.user_id, &lookup, lockout, now, expires_at)
            .await?;
        if written == SignInWrite::Refused {
            audit::record(Event::SignInFailed, Some(record.user_id), "locked");
            return Err(Failure::TooManyAttempts(sign_in::FAILURE_WINDOW.as_secs()));
        }
        audit::record(Event::SessionOpened, Some(record.user_id), "sign_in");
        Ok(SignedInSession {
            body: SignedIn {
                external_id: record.user_id.to_string(),
                is_authenticated: true,
            },
            session: NewSession {
                session_id,
                csrf_token,
                expires_at,
            },
        })
    }

    /// Ends a session (a sign-out): one `DeleteItem`. The CSRF check is the caller's.
    pub async fn sign_out(&self, session: &SessionId) -> Result<(), Failure> {
        let lookup = self.session_lookup(session).await?;
        self.store.delete_session(session.user_id(), &lookup).await?;
        audit::record(Event::SessionRevoked, Some(session.user_id()), "sign_out");
        Ok(())
    }

    /// Deletes the user, its email claim and its sessions (the administrator's); `false`
    /// when it was gone already.
    pub async fn delete_user(&self, user: &User) -> Result<bool, StoreError> {
        let deleted = self.store.delete_user(user).await?;
        if deleted {
            audit::record(Event::UserDeleted, Some(user.id), "admin");
        }
        Ok(deleted)
    }

    /// Ends every session of the user (the administrator's); how many there were.
    pub async fn revoke_sessions(&self, user_id: Uuid) -> Result<usize, StoreError> {
        let revoked = self.store.revoke_sessions(user_id).await?;
        if revoked > 0 {
            audit::record(Event::SessionRevoked, Some(user_id), "admin");
        }
        Ok(revoked)
    }

    /// How long a sign-in lasts (the session cookie's `Max-Age`).
    pub fn session_ttl(&self) -> Duration {
        self.session_ttl
    }

    /// Serves `handler` with the Lambda runtime until the process ends; every answer gets
    /// the CORS headers its request's origin is due, and one metrics line ([`crate::metrics`]).
    pub async fn serve<F, Fut>(self, handler: F) -> Result<(), lambda_http::Error>
    where
        F: Fn(&'static App, Request) -> Fut,
        Fut: Future<Output = Response<Body>> + Send + 'static,
    {
        // The state lives as long as the process, so it is leaked rather than reference-counted.
        let app: &'static App = Box::leak(Box::new(self));
        let metrics: &'static Recorder = Box::leak(Box::new(Recorder::from_env()));
        lambda_http::run(service_fn(move |request: Request| {
            let origin = request.headers().get(ORIGIN).cloned();
            metrics.start_request();
            let origin_of_events = audit::Origin::of(&request);
            let response = audit::within(origin_of_events, handler(app, request));
            async move {
                let mut response = response.await;
                let origins = &app.allowed_origins;
                origins.decorate(origin.as_ref(), response.headers_mut());
                metrics.finish_request(&response);
                Ok::<_, Infallible>(response)
            }
        }))
        .await
    }
}

/// A session's record key and its CSRF token, once the session id is known to be ours.
fn session_handles(keys: &KeyRing, session: &SessionId) -> Result<(String, String), Failure> {
    let lookup = keys.session_lookup(session).map_err(Failure::NotAuthenticated)?;
    let csrf_token = keys.csrf_token(session).map_err(Failure::NotAuthenticated)?;
    Ok((lookup, csrf_token))
}

/// Why a password could not be set.
#[derive(Debug)]
pub enum SetPasswordError {
    Refused(passwords::PasswordError),
    Store(StoreError),
}

impl From<StoreError> for SetPasswordError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

/// A new session from a sign-in, and the body that answers it.
pub struct SignedInSession {
    pub body: SignedIn,
    pub session: NewSession,
}

/// A token that was really issued and since replaced (or whose user was deleted): a client
/// that missed an update, or a leaked copy being tried. Logged apart from forgeries, with the
/// user id only (README: Logs).
fn superseded(user_id: Uuid) -> Failure {
    audit::record(Event::SupersededToken, Some(user_id), "bearer");
    Failure::InvalidToken(Refusal::Superseded)
}
