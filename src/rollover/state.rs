//! The rollover's states, each holding exactly the keys and times that are valid in it.
//!
//! A key is known by its TLSA record (`3 1 1` over its SubjectPublicKeyInfo, RFC 6698 §2.1): the
//! record is what DNS serves and what the live certificate is matched against, so it is the
//! identity the promise is stated in. Private key bytes never appear here; the driver finds a
//! generated key's file from its record.
//!
//! The life of a key change (RFC 7671 §8.1): the next key exists → its record is published →
//! every authoritative server serves it → resolver caches that may hold the old RRset expire →
//! `Ready` (current + next, both safe: a renewal may switch at any moment) → the swap → the live
//! certificate is confirmed → the old record is retired.
//!
//! *Stored types*: everything in this file is written to the state file. Renaming a field or a
//! variant needs a schema upgrade (see `store.rs`).

use std::fmt;

use daneroll_providers::Tlsa;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::policy::Propagated;

/// The key the host presents now (its certificate is in the files the MTA reads).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentKey {
    pub record: Tlsa,
    /// When daneroll deployed (or first saw deployed) a certificate with this key; key age counts
    /// from here.
    #[serde(with = "time::serde::rfc3339")]
    pub live_since: OffsetDateTime,
}

/// Where a next key came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyOrigin {
    /// daneroll generated it into its key directory.
    Generated,
    /// A certificate renewal brought it (someone renewed with a fresh key).
    Renewal,
}

/// The key that goes live at the next swap, while its record is on its way in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextKey {
    pub record: Tlsa,
    pub origin: KeyOrigin,
    /// When it was generated or first seen.
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
}

/// A next key whose record every validating resolver can see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafeKey {
    pub record: Tlsa,
    pub origin: KeyOrigin,
    /// The moment its record became safe (propagation + safety factor × resolver TTL bound).
    #[serde(with = "time::serde::rfc3339")]
    pub safe_since: OffsetDateTime,
    /// The last time every authoritative server was seen serving it.
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
}

impl SafeKey {
    /// Back to a key in transit (its record vanished from a server).
    pub fn demote(self) -> NextKey {
        NextKey {
            record: self.record,
            origin: self.origin,
            since: self.safe_since,
        }
    }
}

/// Why the next key is to go live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// `daneroll rollover`.
    Operator,
    /// The current key reached `key_max_age`.
    KeyAge,
    /// A renewed certificate with the next key appeared (possibly before it was safe: staged).
    Renewal,
    /// A renewed certificate with a key daneroll did not expect appeared.
    UnexpectedKey,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Trigger::Operator => "requested by the operator",
            Trigger::KeyAge => "the current key reached key_max_age",
            Trigger::Renewal => "a renewed certificate with the next key is staged",
            Trigger::UnexpectedKey => "a renewed certificate with an unexpected key is staged",
        })
    }
}

/// A swap that is wanted as soon as the next key is safe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwapRequest {
    pub trigger: Trigger,
    /// A certificate with the next key is staged (written by the ACME client, not yet deployed).
    pub staged: bool,
    /// Records of next keys an unexpected key replaced: retired after the swap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub superseded: Vec<Tlsa>,
}

/// A next key on its way in, and whether it is to go live as soon as it is safe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incoming {
    pub next: NextKey,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<SwapRequest>,
}

/// Where a host's rollover stands; each state is named after what it waits for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Stage {
    /// A first look at the certificate the MTA uses (a host daneroll has not seen before).
    AwaitingCurrentKey,
    /// The live key's record to be published: a host being adopted, or a key that went live
    /// behind daneroll's back (an emergency). `retiring` are records to remove once the live
    /// key is confirmed.
    AwaitingCurrentPublication {
        current: CurrentKey,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        retiring: Vec<Tlsa>,
    },
    /// Every authoritative server to serve the live key's record.
    AwaitingCurrentPropagation {
        current: CurrentKey,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        retiring: Vec<Tlsa>,
        #[serde(with = "time::serde::rfc3339")]
        published_at: OffsetDateTime,
        #[serde(default, with = "time::serde::rfc3339::option")]
        checked_at: Option<OffsetDateTime>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        missing: Vec<String>,
    },
    /// A next key to be generated.
    AwaitingNextKey {
        current: CurrentKey,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        swap: Option<Trigger>,
    },
    /// The next key's record to be published (the zone must be secure first).
    AwaitingPublication {
        current: CurrentKey,
        incoming: Incoming,
    },
    /// Every authoritative server to serve the next key's record, DNSSEC-valid.
    AwaitingPropagation {
        current: CurrentKey,
        incoming: Incoming,
        #[serde(with = "time::serde::rfc3339")]
        published_at: OffsetDateTime,
        #[serde(default, with = "time::serde::rfc3339::option")]
        checked_at: Option<OffsetDateTime>,
        /// Servers that did not serve it at the last look.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        missing: Vec<String>,
    },
    /// Caches that may hold the RRset without the next key's record to expire.
    AwaitingCacheExpiry {
        current: CurrentKey,
        incoming: Incoming,
        propagated: Propagated,
    },
    /// The steady state (RFC 7671 §8.1): current and next published and safe; a renewal may
    /// switch to the next key at any moment.
    Ready { current: CurrentKey, next: SafeKey },
    /// A certificate with the (safe) next key to be deployed.
    AwaitingSwap {
        current: CurrentKey,
        next: SafeKey,
        swap: SwapRequest,
        /// When a certificate for the next key was requested (swap command / ACME client).
        #[serde(default, with = "time::serde::rfc3339::option")]
        requested_at: Option<OffsetDateTime>,
    },
    /// The live service to present the newly deployed key.
    AwaitingLiveConfirmation {
        current: CurrentKey,
        retiring: Vec<Tlsa>,
        #[serde(default, with = "time::serde::rfc3339::option")]
        checked_at: Option<OffsetDateTime>,
        /// Live checks so far that showed another key.
        #[serde(default)]
        attempts: u32,
    },
    /// The records of keys that are no longer live to be removed.
    AwaitingRetirement {
        current: CurrentKey,
        retiring: Vec<Tlsa>,
    },
}

/// The name of a state, for errors, history and `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateName {
    AwaitingCurrentKey,
    AwaitingCurrentPublication,
    AwaitingCurrentPropagation,
    AwaitingNextKey,
    AwaitingPublication,
    AwaitingPropagation,
    AwaitingCacheExpiry,
    Ready,
    AwaitingSwap,
    AwaitingLiveConfirmation,
    AwaitingRetirement,
}

impl StateName {
    /// The snake_case name used in JSON and history.
    pub fn as_str(self) -> &'static str {
        match self {
            StateName::AwaitingCurrentKey => "awaiting_current_key",
            StateName::AwaitingCurrentPublication => "awaiting_current_publication",
            StateName::AwaitingCurrentPropagation => "awaiting_current_propagation",
            StateName::AwaitingNextKey => "awaiting_next_key",
            StateName::AwaitingPublication => "awaiting_publication",
            StateName::AwaitingPropagation => "awaiting_propagation",
            StateName::AwaitingCacheExpiry => "awaiting_cache_expiry",
            StateName::Ready => "ready",
            StateName::AwaitingSwap => "awaiting_swap",
            StateName::AwaitingLiveConfirmation => "awaiting_live_confirmation",
            StateName::AwaitingRetirement => "awaiting_retirement",
        }
    }
}

impl fmt::Display for StateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Stage {
    pub fn name(&self) -> StateName {
        match self {
            Stage::AwaitingCurrentKey => StateName::AwaitingCurrentKey,
            Stage::AwaitingCurrentPublication { .. } => StateName::AwaitingCurrentPublication,
            Stage::AwaitingCurrentPropagation { .. } => StateName::AwaitingCurrentPropagation,
            Stage::AwaitingNextKey { .. } => StateName::AwaitingNextKey,
            Stage::AwaitingPublication { .. } => StateName::AwaitingPublication,
            Stage::AwaitingPropagation { .. } => StateName::AwaitingPropagation,
            Stage::AwaitingCacheExpiry { .. } => StateName::AwaitingCacheExpiry,
            Stage::Ready { .. } => StateName::Ready,
            Stage::AwaitingSwap { .. } => StateName::AwaitingSwap,
            Stage::AwaitingLiveConfirmation { .. } => StateName::AwaitingLiveConfirmation,
            Stage::AwaitingRetirement { .. } => StateName::AwaitingRetirement,
        }
    }

    /// The key the host presents (or is being confirmed to present), if known.
    pub fn current(&self) -> Option<&CurrentKey> {
        match self {
            Stage::AwaitingCurrentKey => None,
            Stage::AwaitingCurrentPublication { current, .. }
            | Stage::AwaitingCurrentPropagation { current, .. }
            | Stage::AwaitingNextKey { current, .. }
            | Stage::AwaitingPublication { current, .. }
            | Stage::AwaitingPropagation { current, .. }
            | Stage::AwaitingCacheExpiry { current, .. }
            | Stage::Ready { current, .. }
            | Stage::AwaitingSwap { current, .. }
            | Stage::AwaitingLiveConfirmation { current, .. }
            | Stage::AwaitingRetirement { current, .. } => Some(current),
        }
    }

    /// The next key's record, while there is one.
    pub fn next_record(&self) -> Option<&Tlsa> {
        match self {
            Stage::AwaitingPublication { incoming, .. }
            | Stage::AwaitingPropagation { incoming, .. }
            | Stage::AwaitingCacheExpiry { incoming, .. } => Some(&incoming.next.record),
            Stage::Ready { next, .. } | Stage::AwaitingSwap { next, .. } => Some(&next.record),
            _ => None,
        }
    }

    /// Records waiting to be removed (after a swap, or replaced next keys).
    pub fn retiring(&self) -> &[Tlsa] {
        match self {
            Stage::AwaitingCurrentPublication { retiring, .. }
            | Stage::AwaitingCurrentPropagation { retiring, .. }
            | Stage::AwaitingLiveConfirmation { retiring, .. }
            | Stage::AwaitingRetirement { retiring, .. } => retiring,
            Stage::AwaitingPublication { incoming, .. }
            | Stage::AwaitingPropagation { incoming, .. }
            | Stage::AwaitingCacheExpiry { incoming, .. } => incoming
                .swap
                .as_ref()
                .map_or(&[][..], |swap| &swap.superseded),
            Stage::AwaitingSwap { swap, .. } => &swap.superseded,
            Stage::AwaitingCurrentKey | Stage::AwaitingNextKey { .. } | Stage::Ready { .. } => &[],
        }
    }

    /// Whether a host is being adopted or a swap finished: a `rollover` command is refused now
    /// (a foreground run keeps it until the machine can take it).
    pub fn finishing(&self) -> bool {
        matches!(
            self,
            Stage::AwaitingCurrentKey
                | Stage::AwaitingCurrentPublication { .. }
                | Stage::AwaitingCurrentPropagation { .. }
                | Stage::AwaitingLiveConfirmation { .. }
                | Stage::AwaitingRetirement { .. }
        )
    }

    /// Every record this state knows of: current, next, and those waiting to be retired.
    pub fn known_records(&self) -> Vec<Tlsa> {
        let mut records: Vec<Tlsa> = self
            .current()
            .map(|c| c.record.clone())
            .into_iter()
            .collect();
        records.extend(self.next_record().cloned());
        records.extend(self.retiring().iter().cloned());
        records
    }
}

/// A zone's DNSSEC verdict from the preflight check, kept while it is fresh.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneCheck {
    pub zone: String,
    pub secure: bool,
    /// Why (the chain of trust, or where it breaks).
    pub detail: String,
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
}

/// Failures in a row of one kind of action, for the retry backoff.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retry {
    pub action: super::input::ActionKind,
    pub failures: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub last_failure_at: OffsetDateTime,
    /// The last error, as reported (never holds a secret: the world redacts).
    pub error: String,
}

/// A steady-state recheck in which some server did not serve a record without proving it
/// absent (a timeout, SERVFAIL, an answer that does not validate). One such look is not a
/// vanished record: the next look comes after `poll_interval`, and only a validated absence or
/// the same answer from the same server again starts the emergency path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnconfirmedMiss {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub missing: Vec<super::input::Missing>,
}

/// A certificate request (swap command or ACME client) running without the host's lock. Saved
/// before the lock is released, so a concurrent `tick` or hook never starts a second order (nor
/// overwrites the client's key backup); the runner also holds the host's renewal lock, so a run
/// that finds this set and the renewal lock free knows the runner died and recovers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Renewal {
    pub record: Tlsa,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    pub pid: u32,
}

/// A rollover the operator asked for (`daneroll rollover`), kept until the host is back in the
/// steady state after its swap: a re-run after a crash finishes it instead of starting another
/// key change (with an ACME source, another certificate order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloverRequest {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The swap it asked for has happened (the current key changed since).
    #[serde(default)]
    pub swapped: bool,
}

/// One host's (or one group of hosts sharing a key) rollover: the stage plus what is known about
/// its zone and recent failures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollover {
    pub host: String,
    pub stage: Stage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<ZoneCheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Retry>,
    /// A renewed certificate with the current key is staged and waits to be deployed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub same_key_renewal: bool,
    /// The operator's rollover in progress, until the steady state after its swap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<RolloverRequest>,
    /// A certificate request running now (or interrupted by a crash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewing: Option<Renewal>,
    /// In `ready`: the last recheck's unproven misses, to compare with the next look.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unconfirmed: Option<UnconfirmedMiss>,
}

impl Rollover {
    /// A host daneroll has not seen before.
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            stage: Stage::AwaitingCurrentKey,
            zone: None,
            retry: None,
            same_key_renewal: false,
            requested: None,
            renewing: None,
            unconfirmed: None,
        }
    }

    /// The operator's rollover whose swap happened but whose end (old record retired, next key
    /// safe again) has not been reached: a crashed `rollover` run left it unfinished.
    pub fn interrupted_request(&self) -> Option<&RolloverRequest> {
        self.requested.as_ref().filter(|r| r.swapped)
    }
}
