//! Everything the four functions share. One home per concern:
//!
//! - [`config`]: deployment settings and the AWS SDK configuration;
//! - [`clock`]: instants as stored and as printed;
//! - [`cors`]: which browser origins may call the API;
//! - [`logging`]: Lambda's log controls, minus the runtime's raw-event line;
//! - [`tokens`]: access tokens, session ids and CSRF tokens (the cryptography);
//! - [`auth`]: reading credentials off a request;
//! - [`store`]: the DynamoDB table;
//! - [`users`]: the user record and its contract views;
//! - [`responses`]: status codes and bodies of both API families;
//! - [`app`]: the service state and account operations;
//! - [`api`]: the four handlers.

pub mod api;
pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod cors;
pub mod logging;
pub mod responses;
pub mod store;
pub mod tokens;
pub mod users;

pub use app::App;
