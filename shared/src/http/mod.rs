//! The HTTP face of the service: the [`handlers`] (one per function), reading credentials
//! off a request ([`credentials`]), the answers of both API families ([`responses`], with
//! their bodies in [`bodies`]), [`cors`], the sign-in form and cookies ([`login`]), the
//! account [`page`], and the one serving loop every function runs ([`serve`]).

pub mod bodies;
pub mod cors;
pub mod credentials;
pub mod handlers;
pub mod login;
pub mod page;
pub mod responses;
mod serve;

pub use serve::{serve, serve_app};
