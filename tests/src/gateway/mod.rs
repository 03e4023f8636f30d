//! A local API Gateway: the REST API of template.yaml (Lambda proxy integration, payload
//! format 1.0) in front of the real function binaries. The binary `local-api` serves it for
//! `make run` and the end-to-end tests.
//!
//! - [`Api::from_template`]: the routes, timeouts, environment and "no route" answer.
//! - [`Api::route`]: a request's resource and method, matched as a REST API does.
//! - [`event`]: the proxy event a function receives; [`ProxyResponse::parse`]: its answer.
//! - [`Functions`]: each function's instances, kept as Lambda keeps them, and swapped for
//!   new ones after a rebuild ([`watch`]) without failing or holding up a request.
//! - [`serve`]: the HTTP/1.1 server (hyper) in front of it all.

mod event;
mod pool;
mod response;
mod routing;
mod server;
mod template;
#[cfg(test)]
mod tests;
mod watch;

pub use event::*;
pub use pool::*;
pub use response::*;
pub use routing::*;
pub use server::*;
pub use template::*;
pub use watch::*;

use std::time::Duration;

/// API Gateway's limit on a request body: 10 MB.
pub const MAX_BODY: usize = 10 * 1024 * 1024;

/// Lambda's timeout when the template sets none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// Lambda's limit on a function's init phase.
const INIT_LIMIT: Duration = Duration::from_secs(10);
