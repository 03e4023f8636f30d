//! The built function binaries as Lambda runs them, behind testkit's Runtime API, against
//! this binary's DynamoDB Local: every file of events/ ([`events`]), the store over TLS,
//! frozen and dropped connections ([`lambda_conditions`]), keys from Secrets Manager and a
//! rotation ([`secrets`]), metrics and audit lines ([`metrics`]), and instances replaced by
//! reloads while they serve ([`reload`]).

mod events;
mod lambda_conditions;
mod metrics;
mod reload;
mod secrets;
