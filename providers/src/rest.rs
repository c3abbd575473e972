//! What the REST backends share: names relative to a zone, finding the zone in the provider's
//! zone list, and the two ways of keeping the backend contract (`lib.rs`) on top of an API.
//!
//! # Whole-RRset APIs (PowerDNS, deSEC, Gandi): read, modify, write, verify
//!
//! These APIs replace the whole TLSA RRset at a name, so adding one record means reading the
//! set, adding the record and writing the set back ([`rrset_add`], [`rrset_remove`]). Another
//! writer can act between our read and our write:
//!
//! - If they write **after** our write (their read was older than it), their write drops our
//!   record. We re-read after writing, see that our change is gone and do it again (at most
//!   [`ROUNDS`] times, then a [`crate::http::ApiError::ChangeFailed`]).
//! - If they write **between** our read and our write, our write replaces theirs and nothing on
//!   our side can see it: that is the remaining race window, one HTTP round trip plus the
//!   provider's processing time (well under a second on PowerDNS). None of these APIs offers a
//!   conditional write (no ETag / If-Match, no prerequisite), so it cannot be closed from the
//!   client. daneroll holds a per-host lock, so the window is only open to *other* tools or
//!   humans editing the same TLSA name at the same moment; the other writer's own re-read (if it
//!   has one) sees the loss. A compare-and-swap ([`crate::DnsBackend::remove_if_unchanged`])
//!   checks the fresh read against what the caller saw, so it too is exact up to this window.
//!
//! # Per-record APIs: one record at a time
//!
//! Cloudflare, Hetzner, Technitium, OVH, Infomaniak, netcup, Porkbun, ClouDNS, DNSimple and INWX
//! add and delete single records ([`record_add`], [`record_remove`]), so other records are never
//! rewritten and there is no lost-update window. Compare-and-swap compares a fresh list
//! with what the caller saw and then deletes one record; a record someone adds in between
//! survives (it is never touched), the caller just does not learn about it before deleting.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::BackendError;
use crate::http::Api;
use crate::record::Tlsa;
use crate::{Outcome, TlsaRrset};

/// How often a whole-RRset change is redone when a concurrent writer replaced it.
pub(crate) const ROUNDS: usize = 3;

/// A zone as a provider knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZoneRef {
    /// The zone's name, absolute and lower case (`example.com.`).
    pub name: String,
    /// The provider's handle for it (Cloudflare's id, PowerDNS's zone id, or the name).
    pub id: String,
    /// The TTL records get when their own is unset (Hetzner's zone default).
    pub default_ttl: Option<u32>,
}

/// The owner name, absolute and lower case, or [`BackendError::InvalidOwner`].
pub(crate) fn owner_name(owner: &str) -> Result<String, BackendError> {
    Ok(crate::zone::parse_owner(owner)?.to_string())
}

/// `name` absolute and lower case.
pub(crate) fn absolute(name: &str) -> String {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    format!("{name}.")
}

/// `owner` relative to `zone` (both absolute): `_25._tcp.mail`, or `""` at the apex; `None`
/// when the owner is outside the zone.
pub(crate) fn relative<'a>(owner: &'a str, zone: &str) -> Option<&'a str> {
    if owner == zone {
        return Some("");
    }
    if zone == "." {
        return owner.strip_suffix('.');
    }
    owner.strip_suffix(zone)?.strip_suffix('.')
}

/// The most specific zone among `zones` (names in any case, with or without the final dot)
/// that holds `owner` (absolute).
pub(crate) fn longest_zone<'a>(
    owner: &str,
    zones: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    zones
        .into_iter()
        .map(absolute)
        .filter(|zone| zone != "." && relative(owner, zone).is_some())
        .max_by_key(String::len)
}

/// Checks that `owner` is in `zone`, as the error the engine expects.
pub(crate) fn inside(owner: &str, zone: &ZoneRef) -> Result<(), BackendError> {
    match relative(owner, &zone.name) {
        Some(_) => Ok(()),
        None => Err(BackendError::OutsideZone {
            owner: owner.to_string(),
            zone: zone.name.clone(),
        }),
    }
}

/// Zones found per owner name, so a rollover's many calls look the zone up once.
#[derive(Debug, Default)]
pub(crate) struct ZoneCache(Mutex<HashMap<String, ZoneRef>>);

impl ZoneCache {
    pub fn get(&self, owner: &str) -> Option<ZoneRef> {
        self.0.lock().ok()?.get(owner).cloned()
    }

    pub fn put(&self, owner: &str, zone: &ZoneRef) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(owner.to_string(), zone.clone());
        }
    }

    /// The cached zone of `owner`, else the result of `find` (awaited only then), remembered.
    pub async fn get_or_find(
        &self,
        owner: &str,
        find: impl std::future::Future<Output = Result<ZoneRef, BackendError>>,
    ) -> Result<ZoneRef, BackendError> {
        if let Some(zone) = self.get(owner) {
            return Ok(zone);
        }
        let zone = find.await?;
        self.put(owner, &zone);
        Ok(zone)
    }
}

/// The stale-prerequisite error for REST backends.
pub(crate) fn stale(api: &Api, zone: &ZoneRef, owner: &str, now: &TlsaRrset) -> BackendError {
    BackendError::Stale {
        at: Box::new(api.target(&zone.name)),
        owner: owner.to_string(),
        rcode: format!(
            "{} now holds {} record(s), not the ones read",
            api.provider(),
            now.records().len()
        ),
    }
}

/// A whole-RRset API (see the module docs).
#[async_trait]
pub(crate) trait RrsetStore: Send + Sync {
    fn api(&self) -> &Api;

    /// What the backend is called in `describe` and errors, e.g. `deSEC API`.
    fn label(&self) -> &'static str;

    /// How the provider signs zones; the backend module's `DNSSEC`.
    fn dnssec(&self) -> crate::DnssecSupport {
        crate::DnssecSupport::PRIMARY
    }

    /// The zone holding `owner` (absolute, validated).
    async fn zone(&self, owner: &str) -> Result<ZoneRef, BackendError>;

    /// The TLSA RRset at `owner` as the API has it.
    async fn load(&self, zone: &ZoneRef, owner: &str) -> Result<TlsaRrset, BackendError>;

    /// The TLSA RRset at `owner` for a plain read (no write follows); `load` unless the API has
    /// a cheaper form.
    async fn read_served(&self, zone: &ZoneRef, owner: &str) -> Result<TlsaRrset, BackendError> {
        self.load(zone, owner).await
    }

    /// Replaces the RRset `before` at `owner` with `after` (deleting it when `after` is empty);
    /// `record` is what is being added or removed, for error messages.
    async fn store(
        &self,
        zone: &ZoneRef,
        owner: &str,
        before: &TlsaRrset,
        after: &TlsaRrset,
        record: &Tlsa,
    ) -> Result<(), BackendError>;
}

/// Adds `record` at `owner` through a whole-RRset API: read, add, write, re-read and verify.
async fn rrset_add_inner(
    store: &dyn RrsetStore,
    owner: &str,
    record: &Tlsa,
    ttl: u32,
) -> Result<Outcome, BackendError> {
    let owner = owner_name(owner)?;
    let zone = store.zone(&owner).await?;
    for round in 0..ROUNDS {
        let before = store.load(&zone, &owner).await?;
        if before.contains(record) {
            return Ok(if round == 0 {
                Outcome::Unchanged
            } else {
                Outcome::Changed
            });
        }
        let mut records = before.records().to_vec();
        records.push(record.clone());
        let after = TlsaRrset::new(records, Some(before.ttl().unwrap_or(ttl)));
        store.store(&zone, &owner, &before, &after, record).await?;
        if store.load(&zone, &owner).await?.contains(record) {
            return Ok(Outcome::Changed);
        }
    }
    Err(gave_up(store.api(), &zone, &owner, "added"))
}

/// Removes `record` from `owner` through a whole-RRset API; with `seen`, only if the RRset still
/// holds exactly `seen`'s records (compare-and-swap).
async fn rrset_remove_inner(
    store: &dyn RrsetStore,
    owner: &str,
    record: &Tlsa,
    seen: Option<&TlsaRrset>,
) -> Result<Outcome, BackendError> {
    let owner = owner_name(owner)?;
    let zone = store.zone(&owner).await?;
    for round in 0..ROUNDS {
        let before = store.load(&zone, &owner).await?;
        if let Some(seen) = seen
            && !before.same_records(seen)
        {
            return Err(stale(store.api(), &zone, &owner, &before));
        }
        if !before.contains(record) {
            return Ok(if round == 0 {
                Outcome::Unchanged
            } else {
                Outcome::Changed
            });
        }
        let records = before
            .records()
            .iter()
            .filter(|r| *r != record)
            .cloned()
            .collect();
        let after = TlsaRrset::new(records, before.ttl());
        store.store(&zone, &owner, &before, &after, record).await?;
        let now = store.load(&zone, &owner).await?;
        if !now.contains(record) {
            return Ok(Outcome::Changed);
        }
        if seen.is_some() {
            // Someone wrote the record back after our write: the set is not what the caller
            // decided on any more.
            return Err(stale(store.api(), &zone, &owner, &now));
        }
    }
    Err(gave_up(store.api(), &zone, &owner, "removed"))
}

fn gave_up(api: &Api, zone: &ZoneRef, owner: &str, what: &str) -> BackendError {
    api.change_failed(
        &zone.name,
        owner,
        format!(
            "the record was {what} {ROUNDS} times and each time another writer replaced the \
             RRset right after; find out who else edits it"
        ),
    )
    .into()
}

/// One record as a per-record API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub record: Tlsa,
    pub ttl: u32,
    /// The provider's id for this record (Cloudflare), or empty where records are addressed by
    /// value (Hetzner).
    pub id: String,
}

/// The RRset a per-record API's entries form; its TTL is the longest, which is what caches may
/// hold on to.
pub(crate) fn rrset_of(entries: &[Entry]) -> TlsaRrset {
    let ttl = entries.iter().map(|e| e.ttl).max();
    TlsaRrset::new(entries.iter().map(|e| e.record.clone()).collect(), ttl)
}

/// A per-record API (see the module docs).
#[async_trait]
pub(crate) trait RecordStore: Send + Sync {
    fn api(&self) -> &Api;

    /// What the backend is called in `describe` and errors, e.g. `Cloudflare API`.
    fn label(&self) -> &'static str;

    /// How the provider signs zones; the backend module's `DNSSEC`.
    fn dnssec(&self) -> crate::DnssecSupport {
        crate::DnssecSupport::PRIMARY
    }

    async fn zone(&self, owner: &str) -> Result<ZoneRef, BackendError>;

    /// Every TLSA record at `owner`.
    async fn list(&self, zone: &ZoneRef, owner: &str) -> Result<Vec<Entry>, BackendError>;

    /// Creates `record` at `owner` with `ttl`; `existing` are the records already there.
    async fn create(
        &self,
        zone: &ZoneRef,
        owner: &str,
        record: &Tlsa,
        ttl: u32,
        existing: &[Entry],
    ) -> Result<(), BackendError>;

    /// Deletes one record.
    async fn delete(&self, zone: &ZoneRef, owner: &str, entry: &Entry) -> Result<(), BackendError>;
}

/// Adds `record` at `owner` through a per-record API. A new RRset gets `ttl`, an existing one's
/// TTL is kept. If creating fails, a re-read decides: a retried request may have succeeded.
async fn record_add_inner(
    store: &dyn RecordStore,
    owner: &str,
    record: &Tlsa,
    ttl: u32,
) -> Result<Outcome, BackendError> {
    let owner = owner_name(owner)?;
    let zone = store.zone(&owner).await?;
    let entries = store.list(&zone, &owner).await?;
    if entries.iter().any(|e| &e.record == record) {
        return Ok(Outcome::Unchanged);
    }
    let ttl = rrset_of(&entries).ttl().unwrap_or(ttl);
    if let Err(error) = store.create(&zone, &owner, record, ttl, &entries).await {
        // A retried create may have been applied before the failure that ended it.
        match store.list(&zone, &owner).await {
            Ok(now) if now.iter().any(|e| &e.record == record) => {}
            _ => return Err(error),
        }
    }
    Ok(Outcome::Changed)
}

/// Removes `record` from `owner` through a per-record API; with `seen`, only if the records
/// there are exactly `seen`'s.
async fn record_remove_inner(
    store: &dyn RecordStore,
    owner: &str,
    record: &Tlsa,
    seen: Option<&TlsaRrset>,
) -> Result<Outcome, BackendError> {
    let owner = owner_name(owner)?;
    let zone = store.zone(&owner).await?;
    let entries = store.list(&zone, &owner).await?;
    if let Some(seen) = seen {
        let now = rrset_of(&entries);
        if !now.same_records(seen) {
            return Err(stale(store.api(), &zone, &owner, &now));
        }
    }
    let ours: Vec<&Entry> = entries.iter().filter(|e| &e.record == record).collect();
    if ours.is_empty() {
        return Ok(Outcome::Unchanged);
    }
    for entry in ours {
        if let Err(error) = store.delete(&zone, &owner, entry).await {
            // A retried delete may have been applied before the failure that ended it.
            match store.list(&zone, &owner).await {
                Ok(now) if !now.iter().any(|e| e.id == entry.id && &e.record == record) => {}
                _ => return Err(error),
            }
        }
    }
    Ok(Outcome::Changed)
}

/// `adding _25._tcp.mail.example.com. TLSA 3 1 1 0A1B2C3D…`, for [`BackendError::during`].
pub(crate) fn action(verb: &str, owner: &str, record: &Tlsa) -> String {
    format!("{verb} {owner} TLSA {}", record.short())
}

/// What a failed read was doing, for [`BackendError::during`].
pub(crate) fn reading(owner: &str) -> String {
    format!("reading TLSA at {owner}")
}

fn verb(seen: Option<&TlsaRrset>) -> &'static str {
    if seen.is_some() {
        "removing (if unchanged)"
    } else {
        "removing"
    }
}

/// Adds `record` at `owner` through a whole-RRset API: read, add, write, re-read and verify.
pub(crate) async fn rrset_add(
    store: &dyn RrsetStore,
    owner: &str,
    record: &Tlsa,
    ttl: u32,
) -> Result<Outcome, BackendError> {
    rrset_add_inner(store, owner, record, ttl)
        .await
        .map_err(|e| e.during(action("adding", owner, record)))
}

/// Removes `record` from `owner` through a whole-RRset API; with `seen`, only if the RRset still
/// holds exactly `seen`'s records (compare-and-swap).
pub(crate) async fn rrset_remove(
    store: &dyn RrsetStore,
    owner: &str,
    record: &Tlsa,
    seen: Option<&TlsaRrset>,
) -> Result<Outcome, BackendError> {
    rrset_remove_inner(store, owner, record, seen)
        .await
        .map_err(|e| e.during(action(verb(seen), owner, record)))
}

/// Adds `record` at `owner` through a per-record API. A new RRset gets `ttl`, an existing one's
/// TTL is kept. If creating fails, a re-read decides: a retried request may have succeeded.
pub(crate) async fn record_add(
    store: &dyn RecordStore,
    owner: &str,
    record: &Tlsa,
    ttl: u32,
) -> Result<Outcome, BackendError> {
    record_add_inner(store, owner, record, ttl)
        .await
        .map_err(|e| e.during(action("adding", owner, record)))
}

/// Removes `record` from `owner` through a per-record API; with `seen`, only if the records
/// there are exactly `seen`'s.
pub(crate) async fn record_remove(
    store: &dyn RecordStore,
    owner: &str,
    record: &Tlsa,
    seen: Option<&TlsaRrset>,
) -> Result<Outcome, BackendError> {
    record_remove_inner(store, owner, record, seen)
        .await
        .map_err(|e| e.during(action(verb(seen), owner, record)))
}

/// The zone holding `owner`, through a whole-RRset API.
pub(crate) async fn rrset_zone_of(
    store: &dyn RrsetStore,
    owner: &str,
) -> Result<String, BackendError> {
    Ok(store.zone(&owner_name(owner)?).await?.name)
}

/// The TLSA RRset at `owner`, through a whole-RRset API.
pub(crate) async fn rrset_read(
    store: &dyn RrsetStore,
    owner: &str,
) -> Result<TlsaRrset, BackendError> {
    let result = async {
        let name = owner_name(owner)?;
        let zone = store.zone(&name).await?;
        store.read_served(&zone, &name).await
    };
    result.await.map_err(|e| e.during(reading(owner)))
}

/// The zone holding `owner`, through a per-record API.
pub(crate) async fn record_zone_of(
    store: &dyn RecordStore,
    owner: &str,
) -> Result<String, BackendError> {
    Ok(store.zone(&owner_name(owner)?).await?.name)
}

/// The TLSA RRset at `owner`, through a per-record API.
pub(crate) async fn record_read(
    store: &dyn RecordStore,
    owner: &str,
) -> Result<TlsaRrset, BackendError> {
    let result = async {
        let name = owner_name(owner)?;
        let zone = store.zone(&name).await?;
        Ok(rrset_of(&store.list(&zone, &name).await?))
    };
    result
        .await
        .map_err(|e: BackendError| e.during(reading(owner)))
}

/// Implements [`crate::DnsBackend`] for a REST backend through the shared functions of this
/// module: `rest_backend!(Desec, rrset)` for a whole-RRset API, `rest_backend!(Cloudflare,
/// record)` for a per-record API.
macro_rules! rest_backend {
    ($backend:ty, rrset) => {
        $crate::rest::rest_backend!(@impl $backend, RrsetStore, rrset_zone_of, rrset_read, rrset_add, rrset_remove);
    };
    ($backend:ty, record) => {
        $crate::rest::rest_backend!(@impl $backend, RecordStore, record_zone_of, record_read, record_add, record_remove);
    };
    // A conditional-write API (`cas.rs`).
    ($backend:ty, cas) => {
        $crate::rest::rest_backend!(@impl $backend, cas, CasStore, cas_zone_of, cas_read, cas_add, cas_remove);
    };
    (@impl $backend:ty, $store:ident, $zone_of:ident, $read:ident, $add:ident, $remove:ident) => {
        $crate::rest::rest_backend!(@impl $backend, rest, $store, $zone_of, $read, $add, $remove);
    };
    (@impl $backend:ty, $module:ident, $store:ident, $zone_of:ident, $read:ident, $add:ident, $remove:ident) => {
        #[async_trait::async_trait]
        impl $crate::DnsBackend for $backend {
            fn describe(&self) -> String {
                use $crate::$module::$store;
                format!("{} {}", $store::label(self), $store::api(self).base())
            }

            fn dnssec(&self) -> $crate::DnssecSupport {
                $crate::$module::$store::dnssec(self)
            }

            async fn zone_of(&self, owner: &str) -> Result<String, $crate::BackendError> {
                $crate::$module::$zone_of(self, owner).await
            }

            async fn read(&self, owner: &str) -> Result<$crate::TlsaRrset, $crate::BackendError> {
                $crate::$module::$read(self, owner).await
            }

            async fn add(
                &self,
                owner: &str,
                record: &$crate::Tlsa,
                ttl: u32,
            ) -> Result<$crate::Outcome, $crate::BackendError> {
                $crate::$module::$add(self, owner, record, ttl).await
            }

            async fn remove(
                &self,
                owner: &str,
                record: &$crate::Tlsa,
            ) -> Result<$crate::Outcome, $crate::BackendError> {
                $crate::$module::$remove(self, owner, record, None).await
            }

            async fn remove_if_unchanged(
                &self,
                owner: &str,
                record: &$crate::Tlsa,
                seen: &$crate::TlsaRrset,
            ) -> Result<$crate::Outcome, $crate::BackendError> {
                $crate::$module::$remove(self, owner, record, Some(seen)).await
            }
        }
    };
}
pub(crate) use rest_backend;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_names() {
        assert_eq!(
            relative("_25._tcp.mail.example.com.", "example.com."),
            Some("_25._tcp.mail")
        );
        assert_eq!(relative("example.com.", "example.com."), Some(""));
        assert_eq!(
            relative("_25._tcp.mail.badexample.com.", "example.com."),
            None
        );
        assert_eq!(relative("a.example.", "."), Some("a.example"));
    }

    #[test]
    fn the_most_specific_zone_wins() {
        let zones = [
            "example.com",
            "mail.example.com.",
            "other.org",
            "Example.COM.",
        ];
        assert_eq!(
            longest_zone("_25._tcp.mx.mail.example.com.", zones).as_deref(),
            Some("mail.example.com.")
        );
        assert_eq!(
            longest_zone("_25._tcp.mx.example.com.", zones).as_deref(),
            Some("example.com.")
        );
        assert_eq!(longest_zone("_25._tcp.mx.notexample.com.", zones), None);
    }

    #[test]
    fn rrset_of_entries_uses_the_longest_ttl() {
        let entry = |byte, ttl| Entry {
            record: Tlsa::new(3, 1, 1, vec![byte; 32]),
            ttl,
            id: String::new(),
        };
        let rrset = rrset_of(&[entry(1, 300), entry(2, 3600)]);
        assert_eq!(rrset.ttl(), Some(3600));
        assert_eq!(rrset.records().len(), 2);
        assert!(rrset_of(&[]).is_empty());
    }
}
