//! Why an account operation did not happen, in the domain's words. The HTTP layer turns each
//! into the contract's answer in one place (`http::responses`); `usersctl` prints them.

use crate::passwords::PasswordError;
use crate::store::StoreError;
use crate::tokens::{RandomnessUnavailable, Refusal};
use crate::users::InvalidUser;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A bearer token was presented and refused.
    #[error("the access token was refused ({})", .0.as_str())]
    TokenRefused(Refusal),
    /// No credential the operation accepts, or a session that is not (or no longer) valid.
    #[error("not signed in ({})", .0.as_str())]
    NotSignedIn(Refusal),
    /// The session is valid, but the user's token has expired (`TOKEN_TTL_SECONDS`) or its
    /// key was retired: the token it would hand out is one every Bearer endpoint refuses.
    #[error("the access token has expired")]
    TokenExpired,
    /// Another regeneration through the same session was under way; nothing was written.
    #[error("another regeneration was under way")]
    Conflict,
    /// A sign-in with a wrong password or an unknown email: one answer for both.
    #[error("wrong email or password")]
    BadCredentials,
    /// A sign-in for an account locked by failed attempts, for this many more seconds.
    #[error("too many failed sign-ins: the account opens again in {0} s")]
    Locked(u64),
    #[error("a user with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    InvalidUser(#[from] InvalidUser),
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// A chosen session id anywhere but under the public development key is a fixation hazard.
    #[error("a demo session needs the public development key")]
    DemoNeedsPublicKey,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Randomness(#[from] RandomnessUnavailable),
}
