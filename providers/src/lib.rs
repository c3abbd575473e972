//! DNS backends for daneroll: the one interface through which TLSA records are read, published
//! and retired, and one module per backend.
//!
//! # The contract every backend keeps
//!
//! A DANE rollover publishes the next key's record beside the current one and, much later,
//! retires the old one (RFC 7671 §8.1). Operators often have other TLSA records at the same name
//! (a `2 1 1` for their CA, a record another tool manages), so a backend works on **single
//! records, never whole RRsets**:
//!
//! - [`DnsBackend::read`] returns the TLSA RRset at a name as the *source of truth* serves it
//!   (the primary server for RFC 2136, the provider's API for REST), records and TTL.
//! - [`DnsBackend::add`] adds one record. Adding a present record changes nothing and succeeds
//!   ([`Outcome::Unchanged`]).
//! - [`DnsBackend::remove`] removes one record. Removing an absent record changes nothing and
//!   succeeds.
//! - [`DnsBackend::remove_if_unchanged`] removes one record only if the RRset is still exactly
//!   what the caller last read (RFC 2136 §2.4.2, "RRset exists, value dependent"). If anyone
//!   changed it in between, nothing is changed and the error is [`BackendError::Stale`]: the
//!   caller re-reads and decides again. This is what keeps two daneroll runs (or daneroll and a
//!   human) from retiring a record the other just relied on.
//! - No operation ever touches another record at the name or another name.
//!
//! # Fitting REST providers to it
//!
//! The trait speaks of records, not of a wire protocol, so REST backends implement it unchanged:
//! - per-record APIs (Cloudflare, Hetzner, Technitium, OVH, Infomaniak, netcup, Porkbun,
//!   ClouDNS, DNSimple, INWX): `read` lists the TLSA records at
//!   the name; `add` creates one unless present; `remove` deletes the one whose content matches.
//! - whole-RRset APIs (PowerDNS `PATCH … changetype: REPLACE`, deSEC, Gandi): `add`/`remove`
//!   read the RRset, change one member and write the set back, then re-read to verify; they keep
//!   the RRset's TTL. `remove_if_unchanged` compares the fresh read with `seen` before writing
//!   and reports [`BackendError::Stale`] if it differs (and uses the API's conditional write where
//!   there is one).
//! - errors map onto the same [`BackendError`] variants (401/403 → [`BackendError::Refused`] or
//!   [`BackendError::UnknownKey`], 429 → transient), with [`Target`] naming the API endpoint,
//!   the zone and the token's label.
//!
//! The trait is object-safe: the engine holds `Box<dyn DnsBackend>` chosen from configuration.

mod api_error;
pub mod azure;
mod cas;
pub mod cloudflare;
pub mod cloudns;
pub mod credential;
pub mod desec;
pub mod dnsimple;
mod error;
mod exchange;
pub mod gandi;
pub mod google;
pub mod hetzner;
pub mod http;
pub mod infomaniak;
pub mod inwx;
pub mod netcup;
mod oauth;
pub mod ovh;
pub mod porkbun;
pub mod powerdns;
mod record;
mod rest;
mod retry;
pub mod rfc2136;
pub mod route53;
pub mod settings;
pub mod technitium;
pub mod tsig;
pub mod zone;

use async_trait::async_trait;

pub use error::{BackendError, Target};
pub use record::{ParseTlsaError, Tlsa, tlsa_owner};

/// The TLSA RRset at one name, as the backend's source of truth serves it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsaRrset {
    /// The records, sorted, without duplicates.
    records: Vec<Tlsa>,
    /// The RRset's TTL; `None` when there are no records.
    ttl: Option<u32>,
}

impl TlsaRrset {
    /// An RRset from records in any order (duplicates are dropped: an RRset is a set,
    /// RFC 2181 §5).
    pub fn new(mut records: Vec<Tlsa>, ttl: Option<u32>) -> Self {
        records.sort();
        records.dedup();
        let ttl = if records.is_empty() { None } else { ttl };
        Self { records, ttl }
    }

    /// No records at the name.
    pub fn empty() -> Self {
        Self::default()
    }

    pub fn records(&self) -> &[Tlsa] {
        &self.records
    }

    pub fn ttl(&self) -> Option<u32> {
        self.ttl
    }

    pub fn contains(&self, record: &Tlsa) -> bool {
        self.records.binary_search(record).is_ok()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Whether both hold the same records; TTLs are not compared (RFC 2136 §2.4.2 ignores
    /// them too).
    pub fn same_records(&self, other: &TlsaRrset) -> bool {
        self.records == other.records
    }
}

/// How a DNS host gets DNSSEC signatures onto the zones it serves (RFC 4033 §2): without them a
/// TLSA record is ignored by every sender (RFC 7672 §2.2), so `config check` and the preflight's
/// refusal say what to do at this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnssecSupport {
    /// Whether zones hosted there can be signed at all.
    pub signs: bool,
    /// How signing is switched on and the DS published, in the operator's words; for a host
    /// that cannot sign, what to do instead.
    pub how: &'static str,
}

impl DnssecSupport {
    /// A host that signs once the operator asks it to.
    pub const fn switch(how: &'static str) -> Self {
        Self { signs: true, how }
    }

    /// What a self-run primary needs.
    pub const PRIMARY: Self = Self::switch(
        "sign the zone on its primary server (BIND: `dnssec-policy default;` in the zone; Knot: \
         `dnssec-signing: on`) and publish its DS record at the parent zone (the registrar)",
    );
}

/// What an add or remove did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The record was added or removed.
    Changed,
    /// Nothing to do: the record was already present (add) or absent (remove).
    Unchanged,
}

/// A place TLSA records are published: an RFC 2136 server or a DNS provider's API.
///
/// `owner` is the TLSA owner name, `_PORT._tcp.HOST.` ([`tlsa_owner`]); a missing final dot is
/// accepted. Implementations validate it before sending anything.
#[async_trait]
pub trait DnsBackend: Send + Sync {
    /// A short description for logs and messages, e.g. `RFC 2136 (key daneroll)`.
    fn describe(&self) -> String;

    /// How zones published through this backend get signed (see [`DnssecSupport`]).
    fn dnssec(&self) -> DnssecSupport {
        DnssecSupport::PRIMARY
    }

    /// The zone (absolute name) that holds `owner` for this backend.
    async fn zone_of(&self, owner: &str) -> Result<String, BackendError>;

    /// The TLSA RRset at `owner` as the source of truth serves it.
    async fn read(&self, owner: &str) -> Result<TlsaRrset, BackendError>;

    /// Adds `record` at `owner`, leaving other records there alone. A new RRset gets `ttl`; an
    /// existing RRset keeps its TTL (all records of an RRset share one, RFC 2181 §5.2, and the
    /// rollover's waiting time was computed from it).
    async fn add(&self, owner: &str, record: &Tlsa, ttl: u32) -> Result<Outcome, BackendError>;

    /// Removes `record` from `owner`, leaving other records there alone.
    async fn remove(&self, owner: &str, record: &Tlsa) -> Result<Outcome, BackendError>;

    /// Removes `record` only if the RRset at `owner` still holds exactly the records of
    /// `seen`; otherwise changes nothing and fails with [`BackendError::Stale`].
    async fn remove_if_unchanged(
        &self,
        owner: &str,
        record: &Tlsa,
        seen: &TlsaRrset,
    ) -> Result<Outcome, BackendError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(byte: u8) -> Tlsa {
        Tlsa::new(3, 1, 1, vec![byte; 32])
    }

    #[test]
    fn rrset_is_a_sorted_set() {
        let rrset = TlsaRrset::new(vec![record(2), record(1), record(2)], Some(300));
        assert_eq!(rrset.records(), &[record(1), record(2)]);
        assert!(rrset.contains(&record(2)) && !rrset.contains(&record(3)));
        assert!(TlsaRrset::new(vec![], Some(300)).ttl().is_none());
    }

    #[test]
    fn same_records_ignores_ttl() {
        let a = TlsaRrset::new(vec![record(1)], Some(300));
        let b = TlsaRrset::new(vec![record(1)], Some(60));
        assert!(a.same_records(&b));
        assert!(!a.same_records(&TlsaRrset::empty()));
    }

    #[test]
    fn backend_is_object_safe() {
        fn takes(_: Option<Box<dyn DnsBackend>>) {}
        takes(None);
    }
}
