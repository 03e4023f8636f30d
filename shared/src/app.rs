//! The service: configuration, the store and the key, built once per process, and the
//! account operations the handlers and `usersctl` share.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use lambda_http::http::header::ORIGIN;
use lambda_http::{Body, Request, Response, service_fn};
use uuid::Uuid;

use crate::auth::Credential;
use crate::clock::Timestamp;
use crate::config::{Config, ConfigError, function_client};
use crate::responses::Failure;
use crate::store::{SessionWrite, Store};
use crate::tokens::{AccessToken, SessionId, TokenKey, TokenNonce, new_user_id};
use crate::users::{CreateUserError, NewUser, TokenState, User};

pub struct App {
    config: Config,
    store: Store,
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
    /// The init phase of a cold start: reads the configuration, builds the DynamoDB client
    /// and opens its connection, so the first request pays for none of it.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let app = Self::new(Config::from_env()?, function_client()?);
        app.store.warm_up().await;
        Ok(app)
    }

    pub fn new(config: Config, client: Client) -> Self {
        let store = Store::new(client, config.table_name.clone());
        Self { config, store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn token_key(&self) -> &TokenKey {
        &self.config.token_key
    }

    /// The user's current access token, rebuilt from the stored nonce.
    pub fn access_token(&self, user: &User) -> AccessToken {
        self.config.token_key.access_token(user.id, user.token.nonce)
    }

    /// The user's current access token for `GET .../token/`, unless it has expired: a
    /// session must not be handed a token that every Bearer endpoint refuses. The web app
    /// then offers to regenerate it (a POST, with CSRF: never a side effect of a GET).
    pub fn usable_access_token(&self, user: &User) -> Result<AccessToken, Failure> {
        if self.expired(&user.token, Timestamp::now()) {
            return Err(Failure::TokenExpired);
        }
        Ok(self.access_token(user))
    }

    /// The user behind a credential: one consistent read (`GetItem` for a token,
    /// `BatchGetItem` of user + session for a session).
    pub async fn authenticate(&self, credential: &Credential) -> Result<User, Failure> {
        let now = Timestamp::now();
        match credential {
            Credential::Bearer(token) => {
                // Forged tokens are turned away before they cost a read.
                if !self.config.token_key.signed(token) {
                    return Err(Failure::InvalidToken);
                }
                match self.store.get_user(token.user_id()).await? {
                    Some(user)
                        if user.token.nonce.matches(&token.nonce()) && !self.expired(&user.token, now) =>
                    {
                        Ok(user)
                    }
                    _ => Err(Failure::InvalidToken),
                }
            }
            Credential::Session(session) => {
                let lookup = self.config.token_key.session_lookup(session);
                match self
                    .store
                    .get_user_and_session(session.user_id(), &lookup)
                    .await?
                {
                    (Some(user), Some(expires_at)) if expires_at > now => Ok(user),
                    _ => Err(Failure::NotAuthenticated),
                }
            }
        }
    }

    /// Replaces the user's token and returns the new one, in one conditional write: the
    /// old token is dead when this returns. Of concurrent regenerations presenting the
    /// same bearer token exactly one succeeds; the others get [`Failure::InvalidToken`].
    pub async fn regenerate_token(&self, credential: &Credential) -> Result<AccessToken, Failure> {
        let now = Timestamp::now();
        let fresh = TokenState {
            nonce: TokenNonce::generate()?,
            issued_at: now,
        };
        let user_id = match credential {
            Credential::Bearer(token) => {
                if !self.config.token_key.signed(token) {
                    return Err(Failure::InvalidToken);
                }
                let expired_before = self.config.token_ttl.map(|ttl| now.saturating_sub(ttl));
                if !self
                    .store
                    .replace_token(token.user_id(), token.nonce(), expired_before, fresh)
                    .await?
                {
                    return Err(Failure::InvalidToken);
                }
                token.user_id()
            }
            Credential::Session(session) => {
                let lookup = self.config.token_key.session_lookup(session);
                match self
                    .store
                    .replace_token_for_session(session.user_id(), &lookup, now, fresh)
                    .await?
                {
                    SessionWrite::Done => session.user_id(),
                    SessionWrite::SessionInvalid => return Err(Failure::NotAuthenticated),
                    SessionWrite::Conflict => return Err(Failure::Conflict),
                }
            }
        };
        Ok(self.config.token_key.access_token(user_id, fresh.nonce))
    }

    /// Gives an existing user a new token whatever the current one is (the administrator's
    /// regenerate: the old token dies as with the endpoint). `Ok(None)` when there is no such user.
    pub async fn reset_token(&self, user_id: Uuid) -> Result<Option<AccessToken>, Failure> {
        let fresh = TokenState {
            nonce: TokenNonce::generate()?,
            issued_at: Timestamp::now(),
        };
        let replaced = self.store.reset_token(user_id, fresh).await?;
        Ok(replaced.then(|| self.config.token_key.access_token(user_id, fresh.nonce)))
    }

    /// Opens a new session for the user, valid for `ttl` (the web app's login,
    /// `usersctl create-session` and the tests all call this). `Ok(None)` when there is no
    /// such user.
    pub async fn create_session(&self, user_id: Uuid, ttl: Duration) -> Result<Option<NewSession>, Failure> {
        self.open_session(SessionId::generate(user_id)?, ttl).await
    }

    /// Stores `session_id` as a session of its user, valid for `ttl`: the one function
    /// that writes sessions. `Ok(None)` when there is no such user.
    pub async fn open_session(
        &self,
        session_id: SessionId,
        ttl: Duration,
    ) -> Result<Option<NewSession>, Failure> {
        let user_id = session_id.user_id();
        let now = Timestamp::now();
        let expires_at = now.saturating_add(ttl);
        let lookup = self.config.token_key.session_lookup(&session_id);
        if !self
            .store
            .create_session(user_id, &lookup, now, expires_at)
            .await?
        {
            return Ok(None);
        }
        let csrf_token = self.config.token_key.csrf_token(&session_id);
        Ok(Some(NewSession {
            session_id,
            csrf_token,
            expires_at,
        }))
    }

    /// Creates a user with a fresh id and access token. The email is unique
    /// (case-insensitive): DynamoDB enforces it in the same transaction that writes the user.
    pub async fn create_user(&self, new: NewUser) -> Result<(User, AccessToken), CreateUserError> {
        self.insert_user(new, new_user_id()?, TokenNonce::generate()?)
            .await
    }

    /// [`create_user`](Self::create_user) with a chosen id and nonce (the local demo user).
    pub async fn insert_user(
        &self,
        new: NewUser,
        id: Uuid,
        nonce: TokenNonce,
    ) -> Result<(User, AccessToken), CreateUserError> {
        let token = TokenState {
            nonce,
            issued_at: Timestamp::now(),
        };
        let user = new.into_user(id, token.issued_at, token)?;
        self.store.create_user(&user).await?;
        let access_token = self.access_token(&user);
        Ok((user, access_token))
    }

    fn expired(&self, token: &TokenState, now: Timestamp) -> bool {
        self.config
            .token_ttl
            .is_some_and(|ttl| token.issued_at.saturating_add(ttl) <= now)
    }

    /// Serves `handler` with the Lambda runtime until the process ends; every answer gets
    /// the CORS headers its request's origin is due.
    pub async fn serve<F, Fut>(self, handler: F) -> Result<(), lambda_http::Error>
    where
        F: Fn(&'static App, Request) -> Fut,
        Fut: Future<Output = Response<Body>> + Send + 'static,
    {
        // The state lives as long as the process, so it is leaked rather than reference-counted.
        let app: &'static App = Box::leak(Box::new(self));
        lambda_http::run(service_fn(move |request: Request| {
            let origin = request.headers().get(ORIGIN).cloned();
            let response = handler(app, request);
            async move {
                let mut response = response.await;
                let origins = &app.config.allowed_origins;
                origins.decorate(origin.as_ref(), response.headers_mut());
                Ok::<_, Infallible>(response)
            }
        }))
        .await
    }
}
