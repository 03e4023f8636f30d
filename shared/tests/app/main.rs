//! The service through its handlers, against AWS's DynamoDB Local (one per run of this
//! binary, a fresh table per test): every endpoint field by field ([`api`]), sign-in
//! ([`sign_in`]), keys and their rotation ([`keys`], [`rotation`]), races ([`races`]), lost
//! responses ([`lost_responses`]), store failures ([`store_failures`]), and properties of every parser of untrusted input
//! ([`properties`]).

mod api;
mod keys;
mod lost_responses;
mod properties;
mod races;
mod rotation;
mod sign_in;
mod store_failures;
