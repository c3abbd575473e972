//! APIs with a conditional write (Route 53's change batches, Google Cloud DNS's `changes`,
//! Azure DNS's `If-Match`): the contract (`lib.rs`) kept by compare-and-swap on the whole
//! TLSA RRset.
//!
//! These APIs replace a whole RRset too, but only if it is still what the client read: Route 53
//! and Google apply a batch "delete this exact set, create this one" atomically or not at all;
//! Azure accepts a `PUT` only while the set's ETag is the one read (RFC 9110 §13.1.1). So a
//! writer between our read and our write makes our write fail — it never loses their change —
//! and we read again and redo ours ([`ROUNDS`] times at most). This closes the window the
//! read-modify-write APIs (`rest.rs`) leave open.
//!
//! A writer right *after* ours that does not use the condition (Route 53's `UPSERT`, a `PUT`
//! without `If-Match`) can still replace the set with what it read before our write: we re-read
//! after writing and redo the change if ours is gone, as for the other whole-RRset APIs.
//! `remove_if_unchanged` compares the fresh read with what the caller saw, then makes the
//! conditional write: any change in between is a [`BackendError::Stale`].

use async_trait::async_trait;

use crate::error::BackendError;
use crate::http::Api;
use crate::record::Tlsa;
use crate::rest::{self, ROUNDS, ZoneRef};
use crate::{Outcome, TlsaRrset};

/// The TLSA RRset at a name with what a conditional write needs to name it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Held {
    pub rrset: TlsaRrset,
    /// The set's TTL (the one asked for when there is no set yet).
    pub ttl: u32,
    /// The values exactly as the API returned them (a Route 53 or Google deletion repeats
    /// them).
    pub values: Vec<String>,
    /// The set's ETag (Azure), `None` when there is no set.
    pub etag: Option<String>,
}

impl Held {
    pub fn exists(&self) -> bool {
        !self.values.is_empty() || self.etag.is_some()
    }
}

/// How a conditional write ended.
pub(crate) enum Applied {
    Done,
    /// Refused because the set is not what was read any more.
    Conflict,
}

/// An API with a conditional whole-RRset write (see the module docs).
#[async_trait]
pub(crate) trait CasStore: Send + Sync {
    fn api(&self) -> &Api;

    /// What the backend is called in `describe` and errors, e.g. `Route 53 API`.
    fn label(&self) -> &'static str;

    /// How the provider signs zones; the backend module's `DNSSEC`.
    fn dnssec(&self) -> crate::DnssecSupport {
        crate::DnssecSupport::PRIMARY
    }

    /// The zone holding `owner` (absolute, validated).
    async fn zone(&self, owner: &str) -> Result<ZoneRef, BackendError>;

    /// The TLSA RRset at `owner` as the API holds it.
    async fn load(&self, zone: &ZoneRef, owner: &str) -> Result<Held, BackendError>;

    /// Replaces `before` (exactly as read) by `after` (deleting the set when empty), with
    /// `before.ttl`, only if the set is still `before`; `record` is what is being added or
    /// removed, for error messages. Returns once the provider says the change is applied.
    async fn apply(
        &self,
        zone: &ZoneRef,
        owner: &str,
        before: &Held,
        after: &[Tlsa],
        record: &Tlsa,
    ) -> Result<Applied, BackendError>;
}

async fn add_inner(
    store: &dyn CasStore,
    owner: &str,
    record: &Tlsa,
    ttl: u32,
) -> Result<Outcome, BackendError> {
    let owner = rest::owner_name(owner)?;
    let zone = store.zone(&owner).await?;
    for round in 0..ROUNDS {
        let mut before = store.load(&zone, &owner).await?;
        if before.rrset.contains(record) {
            return Ok(if round == 0 {
                Outcome::Unchanged
            } else {
                Outcome::Changed
            });
        }
        if !before.exists() {
            // A new set gets the TTL asked for; an existing one keeps its own.
            before.ttl = ttl;
        }
        let mut after = before.rrset.records().to_vec();
        after.push(record.clone());
        if let Applied::Conflict = store.apply(&zone, &owner, &before, &after, record).await? {
            continue;
        }
        if store.load(&zone, &owner).await?.rrset.contains(record) {
            return Ok(Outcome::Changed);
        }
    }
    Err(gave_up(store.api(), &zone, &owner, "added"))
}

async fn remove_inner(
    store: &dyn CasStore,
    owner: &str,
    record: &Tlsa,
    seen: Option<&TlsaRrset>,
) -> Result<Outcome, BackendError> {
    let owner = rest::owner_name(owner)?;
    let zone = store.zone(&owner).await?;
    for round in 0..ROUNDS {
        let before = store.load(&zone, &owner).await?;
        if let Some(seen) = seen
            && !before.rrset.same_records(seen)
        {
            return Err(rest::stale(store.api(), &zone, &owner, &before.rrset));
        }
        if !before.rrset.contains(record) {
            return Ok(if round == 0 {
                Outcome::Unchanged
            } else {
                Outcome::Changed
            });
        }
        let after: Vec<Tlsa> = before
            .rrset
            .records()
            .iter()
            .filter(|r| *r != record)
            .cloned()
            .collect();
        if let Applied::Conflict = store.apply(&zone, &owner, &before, &after, record).await? {
            if seen.is_some() {
                // Changed between our read and our write: the caller decides again.
                let now = store.load(&zone, &owner).await?;
                return Err(rest::stale(store.api(), &zone, &owner, &now.rrset));
            }
            continue;
        }
        let now = store.load(&zone, &owner).await?;
        if !now.rrset.contains(record) {
            return Ok(Outcome::Changed);
        }
        if seen.is_some() {
            // Someone wrote the record back right after us.
            return Err(rest::stale(store.api(), &zone, &owner, &now.rrset));
        }
    }
    Err(gave_up(store.api(), &zone, &owner, "removed"))
}

fn gave_up(api: &Api, zone: &ZoneRef, owner: &str, what: &str) -> BackendError {
    api.change_failed(
        &zone.name,
        owner,
        format!(
            "the record was {what} {ROUNDS} times and each time another writer changed the \
             RRset first or replaced it right after; find out who else edits it"
        ),
    )
    .into()
}

pub(crate) async fn cas_zone_of(store: &dyn CasStore, owner: &str) -> Result<String, BackendError> {
    Ok(store.zone(&rest::owner_name(owner)?).await?.name)
}

pub(crate) async fn cas_read(store: &dyn CasStore, owner: &str) -> Result<TlsaRrset, BackendError> {
    let result = async {
        let name = rest::owner_name(owner)?;
        let zone = store.zone(&name).await?;
        Ok(store.load(&zone, &name).await?.rrset)
    };
    result
        .await
        .map_err(|e: BackendError| e.during(rest::reading(owner)))
}

pub(crate) async fn cas_add(
    store: &dyn CasStore,
    owner: &str,
    record: &Tlsa,
    ttl: u32,
) -> Result<Outcome, BackendError> {
    add_inner(store, owner, record, ttl)
        .await
        .map_err(|e| e.during(rest::action("adding", owner, record)))
}

pub(crate) async fn cas_remove(
    store: &dyn CasStore,
    owner: &str,
    record: &Tlsa,
    seen: Option<&TlsaRrset>,
) -> Result<Outcome, BackendError> {
    let verb = if seen.is_some() {
        "removing (if unchanged)"
    } else {
        "removing"
    };
    remove_inner(store, owner, record, seen)
        .await
        .map_err(|e| e.during(rest::action(verb, owner, record)))
}
