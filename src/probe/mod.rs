//! Live verification: what a DANE-enforcing sender sees when it connects to an MX host.
//!
//! "Never assume a published record works." A TLSA record only protects mail if the key the
//! server presents on port 25 matches it; the rollover engine must therefore look at the live
//! server before it retires a record, and operators want the same check from the command line
//! and from their monitoring.
//!
//! The module is split the way a sending MTA works (RFC 7672 §2.2):
//! - [`smtp`]: the sans-I/O part of the SMTP dialogue (reply parsing, EHLO keywords; RFC 5321).
//! - [`starttls`]: the network client: connect, banner, EHLO, STARTTLS (RFC 3207) or implicit
//!   TLS (RFC 8314), capture the chain the server sends, QUIT. It never sends mail.
//! - [`tls`]: the rustls configuration that accepts any certificate (DANE, not WebPKI, decides)
//!   while still checking the handshake signature.
//! - [`dane`]: pure RFC 7672 matching of a presented chain against a TLSA RRset.
//! - [`guard`]: the question the engine asks before removing a record.

pub mod assess;
pub mod dane;
pub mod guard;
pub mod lookup;
pub mod smtp;
pub mod starttls;
pub mod tls;

pub use dane::{
    ChainProblem, DaneReport, DaneUsage, Match, RecordOutcome, RecordVerdict, authenticate,
};
pub use guard::{AddressOutcome, AddressVerdict, HostVerdict, verify_host_presents};
pub use starttls::{
    Phase, Presented, ProbeError, ProbeReport, ProbeSettings, Prober, Target, Timeouts, TlsMode,
};
