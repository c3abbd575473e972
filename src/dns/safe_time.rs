//! When every cache that may hold the old answer has expired: the safe time. The one rule, used
//! by `records wait` (through [`Propagation`]) and by the engine (through [`TtlBound`] and
//! [`safe_at`], persisted in `rollover::policy::Propagated`).
//!
//! RFC 7671 §8.1 asks that the next key's TLSA record be published "at least two TTLs or longer
//! before the new chain is deployed", and the same holds for retiring the old record. The TTL
//! that matters is the longest a validating resolver may keep an answer for the name:
//!
//! - the TLSA RRset's TTL, taken as the **larger** of the TTL the server sent (which no signature
//!   covers, so a server or an attacker on the path can lower it) and the RRSIG's original TTL
//!   (RFC 4034 §3.1.4, covered by the signature; RFC 4035 §5.3.3 lets a resolver keep the RRset
//!   that long);
//! - the negative TTL, min(SOA TTL, SOA MINIMUM) (RFC 2308 §5), read **only** from an SOA whose
//!   RRSIG verified against the zone's keys;
//! - and everything seen earlier in the same wait: the bound only grows.
//!
//! The clock starts only when the *last* authoritative address serves the change, validated: a
//! resolver may have fetched the old answer from a lagging server a moment before. Polling goes
//! on until the safe time. An address whose validated answer lacks the change (it stopped
//! serving it, or an old RRset with its still-valid RRSIG is replayed) loses its clock, which
//! restarts at its next good answer. An address that does not answer, answers lamely or fails
//! validation keeps its clock (no resolver caches what it did not get or could not validate),
//! but it is not confirmed for that poll, so the change is not called safe until it confirms
//! again.
//!
//! So: safe time = (the moment every address was serving the change, continuously) +
//! `safety_factor` × the TTL bound. Everything here is pure; time comes in as values.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// How many times the TTL bound to wait after propagation (RFC 7671 §8.1 asks for at least two
/// TTLs; 1.0 is the bare minimum a cache needs).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct SafetyFactor(f64);

/// A safety factor outside `1.0..=100.0` (or not a number).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "safety_factor {0} is out of range: it must be a number from 1.0 to 100.0 (RFC 7671 §8.1 suggests 2)"
)]
pub struct BadSafetyFactor(pub f64);

impl SafetyFactor {
    /// RFC 7671 §8.1: "at least two TTLs".
    pub const DEFAULT: SafetyFactor = SafetyFactor(2.0);

    /// A factor from 1.0 to 100.0.
    pub fn new(factor: f64) -> Result<Self, BadSafetyFactor> {
        if factor.is_finite() && (1.0..=100.0).contains(&factor) {
            Ok(Self(factor))
        } else {
            Err(BadSafetyFactor(factor))
        }
    }

    /// The factor as a number.
    pub fn value(self) -> f64 {
        self.0
    }

    /// `duration` × factor, rounded up to whole seconds (so a wait is never shorter).
    pub fn scale(self, duration: Duration) -> Duration {
        let scaled = (duration.as_secs_f64() * self.0).ceil();
        Duration::try_from_secs_f64(scaled).unwrap_or(Duration::MAX)
    }
}

impl TryFrom<f64> for SafetyFactor {
    type Error = BadSafetyFactor;
    fn try_from(value: f64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<SafetyFactor> for f64 {
    fn from(factor: SafetyFactor) -> f64 {
        factor.0
    }
}

impl Default for SafetyFactor {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for SafetyFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The safe time: `served_everywhere_at` + `factor` × `ttl` seconds (saturating).
pub fn safe_at(served_everywhere_at: SystemTime, ttl: u32, factor: SafetyFactor) -> SystemTime {
    let wait = factor.scale(Duration::from_secs(u64::from(ttl)));
    served_everywhere_at
        .checked_add(wait)
        .unwrap_or(SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_799))
}

/// Which number set the TTL bound.
///
/// *Stored type*: part of the state file (through `TtlBound`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TtlKind {
    /// The RRSIG's original TTL over the TLSA RRset (RFC 4034 §3.1.4): signed.
    RrsigOriginal,
    /// The TTL a server sent with the TLSA RRset (not signed, but a resolver may use it).
    Served,
    /// min(SOA TTL, MINIMUM) of the validated SOA (RFC 2308 §5).
    Negative,
    /// The old RRset's TTL, as whoever changed it read it before the change.
    Declared,
    /// The zone's SOA, NS or DNSKEY TTL: nothing showed the TLSA RRset's TTL.
    Zone,
}

impl fmt::Display for TtlKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RrsigOriginal => "RRSIG original TTL",
            Self::Served => "TTL served",
            Self::Negative => "negative TTL of the validated SOA",
            Self::Declared => "the old RRset's TTL before the change",
            Self::Zone => "the zone's longest TTL, no TLSA TTL seen",
        })
    }
}

/// The longest a resolver may keep an answer for the name, and what set it.
///
/// *Stored type*: part of the state file; new fields need `#[serde(default)]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtlBound {
    /// Seconds.
    pub ttl: u32,
    /// Which number it is.
    pub kind: TtlKind,
    /// The server that showed it (`ns2.example (127.0.0.1:53)`), if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

impl TtlBound {
    /// A bound of `ttl` seconds set by `kind`, seen at `server`.
    pub fn new(ttl: u32, kind: TtlKind, server: Option<String>) -> Self {
        Self { ttl, kind, server }
    }

    /// Raises `slot` to `candidate` if it is longer: the bound never shrinks. On a tie the
    /// earlier reason stays.
    pub fn raise(slot: &mut Option<TtlBound>, candidate: TtlBound) {
        if slot.as_ref().is_none_or(|b| candidate.ttl > b.ttl) {
            *slot = Some(candidate);
        }
    }

    /// Raises `slot` with every number of one validated answer from `server`. On a tie the
    /// signed number (the RRSIG's original TTL) is the one named.
    pub fn raise_from(slot: &mut Option<TtlBound>, server: &str, evidence: TtlEvidence) {
        let candidates = [
            (evidence.rrsig_original, TtlKind::RrsigOriginal),
            (evidence.served, TtlKind::Served),
            (evidence.negative, TtlKind::Negative),
        ];
        for (ttl, kind) in candidates {
            if let Some(ttl) = ttl {
                Self::raise(slot, Self::new(ttl, kind, Some(server.to_string())));
            }
        }
    }

    /// Whether it is a TLSA RRset's TTL (rather than a negative or zone TTL).
    pub fn is_rrset_ttl(&self) -> bool {
        matches!(
            self.kind,
            TtlKind::RrsigOriginal | TtlKind::Served | TtlKind::Declared
        )
    }

    /// The bound as a duration.
    pub fn duration(&self) -> Duration {
        Duration::from_secs(u64::from(self.ttl))
    }
}

impl fmt::Display for TtlBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TTL {} ({}", self.ttl, self.kind)?;
        if let Some(server) = &self.server {
            write!(f, " at {server}")?;
        }
        write!(f, ")")
    }
}

/// The TTLs one validated answer showed. Only numbers from a verified answer go here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TtlEvidence {
    /// The TLSA RRset's TTL as served.
    pub served: Option<u32>,
    /// The RRSIG's original TTL over the TLSA RRset.
    pub rrsig_original: Option<u32>,
    /// min(SOA TTL, MINIMUM) of an SOA whose RRSIG verified.
    pub negative: Option<u32>,
}

/// What one address served in one poll, as far as the safe time cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// A validated answer with the change.
    Serving(TtlEvidence),
    /// A validated answer without the change: the old state (or a replay of it). Resolvers may
    /// cache it, so the address's clock restarts.
    Stale(TtlEvidence),
    /// No answer, a lame or non-authoritative one, or one that does not validate: no evidence
    /// either way. The address keeps its clock but is not confirmed for this poll.
    Unconfirmed,
}

/// Where a propagation stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Some addresses do not serve the change (or stopped): no clock yet.
    Propagating { waiting_for: Vec<SocketAddr> },
    /// Every address serves it; caches may still hold the old answer until `safe_at`, or some
    /// address (`unconfirmed`) did not confirm at the last poll.
    Holding {
        served_at: SystemTime,
        safe_at: SystemTime,
        remaining: Duration,
        unconfirmed: Vec<SocketAddr>,
    },
    /// Every address serves it, confirmed at the last poll, and every cache has expired.
    Safe { safe_at: SystemTime },
}

#[derive(Debug, Clone)]
struct ServerClock {
    name: String,
    serving_since: Option<SystemTime>,
    confirmed: bool,
}

/// The running record of one propagation: per address, since when it has served the change,
/// and the TTL bound so far.
#[derive(Debug, Clone)]
pub struct Propagation {
    factor: SafetyFactor,
    servers: BTreeMap<SocketAddr, ServerClock>,
    bound: Option<TtlBound>,
    tlsa_ttl_seen: bool,
    zone_ttl: Option<u32>,
}

impl Propagation {
    /// Starts tracking `servers` (address and the name shown for it). `known` is what the
    /// caller learned before the change: the old RRset's TTL as it read it, or the validated
    /// TTLs of a poll made before the change.
    pub fn new(
        servers: impl IntoIterator<Item = (SocketAddr, String)>,
        factor: SafetyFactor,
        known: Option<TtlBound>,
    ) -> Self {
        Self {
            factor,
            servers: servers
                .into_iter()
                .map(|(addr, name)| {
                    let clock = ServerClock {
                        name,
                        serving_since: None,
                        confirmed: false,
                    };
                    (addr, clock)
                })
                .collect(),
            tlsa_ttl_seen: known.as_ref().is_some_and(TtlBound::is_rrset_ttl),
            bound: known,
            zone_ttl: None,
        }
    }

    /// A TTL of the zone's infrastructure (SOA, NS, DNSKEY): counted only while no TLSA TTL has
    /// been seen (a retire whose old RRset was never observed).
    pub fn note_zone_ttl(&mut self, ttl: u32) {
        self.zone_ttl = Some(self.zone_ttl.map_or(ttl, |t| t.max(ttl)));
    }

    /// Records what `server` served at `at`.
    pub fn observe(&mut self, server: SocketAddr, at: SystemTime, state: ServerState) {
        let clock = self.servers.entry(server).or_insert_with(|| ServerClock {
            name: server.to_string(),
            serving_since: None,
            confirmed: false,
        });
        let name = clock.name.clone();
        let evidence = match state {
            ServerState::Serving(evidence) => {
                clock.serving_since.get_or_insert(at);
                clock.confirmed = true;
                Some(evidence)
            }
            ServerState::Stale(evidence) => {
                clock.serving_since = None;
                clock.confirmed = false;
                Some(evidence)
            }
            ServerState::Unconfirmed => {
                clock.confirmed = false;
                None
            }
        };
        if let Some(evidence) = evidence {
            self.note(&name, evidence);
        }
    }

    fn note(&mut self, server: &str, evidence: TtlEvidence) {
        TtlBound::raise_from(&mut self.bound, server, evidence);
        self.tlsa_ttl_seen |= evidence.served.is_some() || evidence.rrsig_original.is_some();
    }

    /// The addresses that do not serve the change or did not confirm it at the last poll.
    pub fn laggards(&self) -> Vec<SocketAddr> {
        self.servers
            .iter()
            .filter(|(_, c)| c.serving_since.is_none() || !c.confirmed)
            .map(|(addr, _)| *addr)
            .collect()
    }

    /// Since when every address has served the change; `None` while any does not.
    pub fn served_everywhere_at(&self) -> Option<SystemTime> {
        if self.servers.is_empty() {
            return None;
        }
        self.servers
            .values()
            .map(|c| c.serving_since)
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .max()
    }

    /// The TTL bound so far: the longest a resolver may keep an answer for the name.
    pub fn bound(&self) -> TtlBound {
        let mut bound = self.bound.clone();
        if !self.tlsa_ttl_seen
            && let Some(ttl) = self.zone_ttl
        {
            TtlBound::raise(&mut bound, TtlBound::new(ttl, TtlKind::Zone, None));
        }
        bound.unwrap_or(TtlBound::new(0, TtlKind::Zone, None))
    }

    /// Freezes the zone fallback into the bound once a poll is done, so it cannot shrink when a
    /// TLSA TTL shows up later.
    pub fn settle(&mut self) {
        self.bound = Some(self.bound());
    }

    /// The safety factor in force.
    pub fn factor(&self) -> SafetyFactor {
        self.factor
    }

    /// The safe time, once every address serves the change.
    pub fn safe_at(&self) -> Option<SystemTime> {
        let served = self.served_everywhere_at()?;
        Some(safe_at(served, self.bound().ttl, self.factor))
    }

    /// Where things stand at `now`.
    pub fn status(&self, now: SystemTime) -> Status {
        let (Some(served_at), Some(safe_at)) = (self.served_everywhere_at(), self.safe_at()) else {
            return Status::Propagating {
                waiting_for: self.laggards(),
            };
        };
        let unconfirmed = self.laggards();
        let remaining = safe_at.duration_since(now).unwrap_or_default();
        if remaining.is_zero() && unconfirmed.is_empty() {
            Status::Safe { safe_at }
        } else {
            Status::Holding {
                served_at,
                safe_at,
                remaining,
                unconfirmed,
            }
        }
    }
}

#[cfg(test)]
#[path = "safe_time_tests.rs"]
mod tests;
