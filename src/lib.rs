//! daneroll: rolls DANE TLSA records (RFC 6698, 7671, 7672) for mail servers without breaking
//! mail.
//!
//! The promise: at every moment, the key that each MX host presents on port 25 matches a TLSA
//! record that every validating resolver can see. The library is split the way that promise is
//! kept: `pki` turns certificates and keys into records, `dns` proves what the authoritative
//! servers serve, `rollover` decides (without I/O) what may happen next and its driver does it.

pub mod acme;
pub mod backend;
pub mod cli;
pub mod config;
mod config_engine;
pub mod demo;
pub mod dns;
pub mod exit;
pub mod output;
pub mod pki;
pub mod probe;
pub mod process;
pub mod reports;
pub mod rollover;
pub mod sts;
