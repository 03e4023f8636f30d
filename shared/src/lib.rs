//! Everything the functions share, one home per concern, dependencies pointing one way:
//! the domain, then the store, then the application, then HTTP; `setup` puts them together
//! and `obs` is what every layer reports through.
//!
//! - domain: [`tokens`] (keys, access tokens, session ids, randomness, why a credential is
//!   refused), [`clock`], [`passwords`], [`users`], [`lockout`] (the sign-in limit);
//! - [`store`]: the DynamoDB table; [`vault`]: the token keys from Secrets Manager;
//! - [`app`]: the service and its account operations, failing in domain words ([`app::AppError`]);
//! - [`http`]: the handlers, credentials off a request, responses of both API families,
//!   CORS, sign-in cookies, the account page, and the one serving loop;
//! - [`setup`]: settings from the environment, the AWS clients, the local-endpoint rule;
//! - [`obs`]: metrics, the audit trail, logging.

pub mod app;
pub mod clock;
pub mod http;
pub mod lockout;
pub mod obs;
pub mod passwords;
pub mod setup;
pub mod store;
pub mod tokens;
pub mod users;
pub mod vault;

pub use app::App;
