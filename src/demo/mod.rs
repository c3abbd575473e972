//! `daneroll demo`: a complete rollover with zero setup, in this process, on loopback.
//!
//! WHY: an operator deciding whether to trust daneroll with their MX wants to watch it do the
//! whole job first. The demo starts the two things a rollover touches, a DNSSEC-signed
//! authoritative name server ([`dns`]) and a STARTTLS mail server ([`smtp`]), and then runs the
//! production code against them unchanged: RFC 2136 backend, observer and chain walk, rollover
//! driver, STARTTLS probe. Only the servers are the demo's own.

pub mod dns;
mod signed_answers;
pub mod smtp;
