//! Everything the functions share. One home per concern:
//!
//! - [`config`]: deployment settings and the AWS SDK configuration;
//! - [`clock`]: instants as stored and as printed;
//! - [`cors`]: which browser origins may call the API;
//! - [`metrics`]: CloudWatch metrics as EMF log lines;
//! - [`logging`]: Lambda's log controls, minus the runtime's raw-event line;
//! - [`tokens`]: access tokens, session ids and CSRF tokens, and the keys (the cryptography);
//! - [`keys`]: where the keys come from (the environment, or Secrets Manager);
//! - [`auth`]: reading credentials off a request;
//! - [`passwords`]: Argon2id password hashes;
//! - [`sign_in`]: the login form, the brute-force limit and the session cookies;
//! - [`store`]: the DynamoDB table;
//! - [`users`]: the user record and its contract views;
//! - [`responses`]: status codes and bodies of both API families;
//! - [`audit`]: the audit trail's events;
//! - [`app`]: the service state and account operations;
//! - [`api`]: the handlers;
//! - [`page`]: the account page (`GET /`).

pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod cors;
pub mod keys;
pub mod logging;
pub mod metrics;
pub mod page;
pub mod passwords;
pub mod responses;
pub mod sign_in;
pub mod store;
pub mod tokens;
pub mod users;

pub use app::App;
