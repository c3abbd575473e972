//! DNS backends for daneroll: the one interface through which TLSA records are read, published
//! and retired, and one module per backend.
//!
//! The record type lives here because every backend, the observer and the engine share it.

mod record;

pub use record::{ParseTlsaError, Tlsa, tlsa_owner};
