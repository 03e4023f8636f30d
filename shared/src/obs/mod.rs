//! What the service reports: CloudWatch metrics as EMF lines ([`metrics`]), the audit trail
//! ([`audit`]), and logging under Lambda's controls ([`logging`]).

pub mod audit;
pub mod logging;
pub mod metrics;
