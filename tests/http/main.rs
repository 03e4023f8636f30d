//! The API as `make run` serves it (scripts/run-local.sh: DynamoDB Local, the real function
//! binaries behind `local-api`, the REST API emulation), over real HTTP: one stack for the
//! whole binary, functions logging at TRACE. Against it: every endpoint and the spec's own
//! examples ([`e2e`]), the account page in Chromium ([`browser`]), and AWS's own emulator
//! serving the same store ([`sam_local`]).

mod browser;
mod e2e;
mod sam_local;

use std::sync::OnceLock;

use testkit::local_api::LocalApi;

/// The stack of this test binary, started on first use, stopped when it exits.
fn stack() -> &'static LocalApi {
    static STACK: OnceLock<LocalApi> = OnceLock::new();
    STACK.get_or_init(|| LocalApi::start("trace"))
}
