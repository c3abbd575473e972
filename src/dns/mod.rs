//! What the DNS really serves, proven with DNSSEC, and when caches are safe.
//!
//! Every other DANE tool guesses here: it sleeps a fixed time, asks one recursive resolver, or
//! trusts the AD bit of whatever resolver the host happens to use. A TLSA record only protects
//! mail if a validating sender can see it (RFC 7672 §2.2), so before daneroll swaps a key it must
//! *know* three things, and this module proves each of them itself:
//!
//! 1. The zone is **secure**: an unbroken chain of DS and DNSKEY RRsets from a trust anchor down
//!    to the zone's DNSKEY RRset (RFC 4033 §5, RFC 4035 §5). `chain` walks it once per run,
//!    `preflight` turns the result into plain words, and publishing into an insecure or bogus
//!    zone is refused with the broken link named.
//! 2. Every authoritative server **serves the change, signed**: the observer asks each address
//!    of each NS name directly and verifies the RRSIG over the TLSA RRset (or the NSEC/NSEC3
//!    proof that it is absent, RFC 4035 §5.4) against the validated DNSKEY RRset, with
//!    inception and expiration checked against an injected clock (`dnssec`, `denial`).
//! 3. Every cache that may hold the **old answer has expired**: `safe_time` adds
//!    `safety_factor` × the longest TTL a resolver may hold (RFC 7671 §8.1: "at least two TTLs";
//!    the negative TTL of RFC 2308 §5 if the name had no TLSA) to the moment the last server
//!    started serving the change.
//!
//! The network sits behind [`Transport`] (real: [`net::HickoryTransport`]); decisions are pure
//! functions over observations so they are unit-tested with a scripted network and a fake clock.

pub mod addresses;
pub mod chain;
pub mod clock;
pub mod denial;
pub mod dnssec;
pub mod net;
pub mod observation;
pub mod observer;
pub mod preflight;
pub mod safe_time;
#[cfg(test)]
pub(crate) mod testing;
pub mod transport;
pub mod trust_anchor;
pub mod wait;

pub use clock::{Clock, SystemClock};
pub use transport::{QueryError, Question, Transport};
