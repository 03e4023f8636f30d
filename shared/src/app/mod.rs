//! The service: the store and the keys, built once per process, and the account operations
//! the handlers and `usersctl` share: credentials and tokens ([`tokens`]), sessions and
//! sign-in ([`sessions`]), users ([`users`]). They fail with an [`AppError`].

mod error;
mod sessions;
mod tokens;
mod users;

use std::sync::Arc;
use std::time::Duration;

pub use error::AppError;
pub use sessions::NewSession;

use crate::clock::Timestamp;
use crate::store::Store;
use crate::tokens::{KeyRing, TokenNonce};
use crate::users::TokenState;
use crate::vault::Keys;

/// How long what the service hands out lasts.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// An access token's lifetime; `None`: tokens never expire.
    pub token_ttl: Option<Duration>,
    /// How long a sign-in lasts (the session cookie's `Max-Age`).
    pub session_ttl: Duration,
}

pub struct App {
    store: Store,
    keys: Keys,
    policy: Policy,
}

impl App {
    pub fn new(store: Store, keys: Keys, policy: Policy) -> Self {
        Self { store, keys, policy }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The keys as they are now.
    pub fn keys(&self) -> Arc<KeyRing> {
        self.keys.ring()
    }

    /// How long a sign-in lasts (the session cookie's `Max-Age`).
    pub fn session_ttl(&self) -> Duration {
        self.policy.session_ttl
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
        self.policy
            .token_ttl
            .is_some_and(|ttl| token.issued_at.saturating_add(ttl) <= now)
    }
}
