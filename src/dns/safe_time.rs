//! When every cache that may hold the old answer has expired: the safe time.
//!
//! RFC 7671 §8.1 asks that the next key's TLSA record be published "at least two TTLs or longer
//! before the new chain is deployed", and the same holds for retiring the old record. The TTL
//! that matters is the one a resolver may already hold: the *old* RRset's TTL, or, if the name
//! had no TLSA, the negative-caching TTL, min(SOA TTL, SOA MINIMUM) (RFC 2308 §5). The clock
//! starts only when the *last* authoritative address serves the change, validated: a resolver
//! may have fetched the old answer from a lagging secondary a moment before.
//!
//! So: safe time = (moment every address was first seen serving the change, continuously)
//! plus `safety_factor` × the longest hold. An address that answers stale again, stops answering,
//! or fails validation loses its "serving since" and the clock restarts from its next good
//! answer. Everything here is pure; time comes in as values.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

/// RFC 7671 §8.1: "at least two TTLs".
pub const DEFAULT_SAFETY_FACTOR: u32 = 2;

/// What a resolver may have cached before the change, as known by whoever made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldAnswer {
    /// The TLSA RRset as it was before the change, and its TTL.
    Rrset { ttl: u32 },
    /// There was no TLSA RRset: resolvers may cache that for the negative TTL.
    NoRrset { negative_ttl: u32 },
}

/// What one address served in one poll, as far as the safe time cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// It serves the change, validated. `rrset_ttl` is the TLSA RRset's TTL if one remains.
    Serving { rrset_ttl: Option<u32> },
    /// It serves the old state, validated or not: that is what resolvers may cache.
    Stale { old: OldAnswer },
    /// No answer, not authoritative, or the answer does not validate.
    Unconfirmed,
}

/// Where the hold time comes from, for the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldSource {
    /// The old RRset's TTL.
    OldRrset,
    /// The negative TTL: the name had no TLSA.
    Negative,
    /// Nothing showed the old state; the longest TTL in sight is assumed.
    Assumed,
}

/// The longest time a resolver may keep the old answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    /// Seconds.
    pub ttl: u32,
    /// Why.
    pub source: HoldSource,
}

impl fmt::Display for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.source {
            HoldSource::OldRrset => write!(f, "old RRset TTL {}s", self.ttl),
            HoldSource::Negative => {
                write!(f, "negative TTL {}s: the name had no TLSA record", self.ttl)
            }
            HoldSource::Assumed => write!(
                f,
                "{}s, the longest TTL seen: the old answer was not observed",
                self.ttl
            ),
        }
    }
}

/// Where a propagation stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Some addresses do not serve the change yet.
    Propagating { waiting_for: Vec<SocketAddr> },
    /// Every address serves it; caches may still hold the old answer until `safe_at`.
    Holding {
        served_at: SystemTime,
        safe_at: SystemTime,
        remaining: Duration,
    },
    /// Every address serves it and every cache has expired.
    Safe { safe_at: SystemTime },
}

/// The running record of one propagation: per address, since when it has served the change.
#[derive(Debug, Clone)]
pub struct Propagation {
    factor: u32,
    serving_since: BTreeMap<SocketAddr, Option<SystemTime>>,
    declared: Option<OldAnswer>,
    old_rrset_ttl: Option<u32>,
    old_negative_ttl: Option<u32>,
    new_rrset_ttl: Option<u32>,
    negative_ttl: Option<u32>,
    zone_ttl: Option<u32>,
}

fn raise(slot: &mut Option<u32>, value: u32) {
    *slot = Some(slot.map_or(value, |v| v.max(value)));
}

impl Propagation {
    /// Starts tracking `servers`. `declared` is the old answer if the caller knows it (it read
    /// the RRset before changing it); otherwise it is learned from stale answers.
    pub fn new(
        servers: impl IntoIterator<Item = SocketAddr>,
        factor: u32,
        declared: Option<OldAnswer>,
    ) -> Self {
        Self {
            factor: factor.max(1),
            serving_since: servers.into_iter().map(|s| (s, None)).collect(),
            declared,
            old_rrset_ttl: None,
            old_negative_ttl: None,
            new_rrset_ttl: None,
            negative_ttl: None,
            zone_ttl: None,
        }
    }

    /// The zone's negative TTL (min of SOA TTL and MINIMUM) as a server reported it.
    pub fn note_negative_ttl(&mut self, ttl: u32) {
        raise(&mut self.negative_ttl, ttl);
    }

    /// A TTL of the zone's infrastructure (SOA, NS, DNSKEY): the last resort when nothing
    /// showed how long the old answer lives.
    pub fn note_zone_ttl(&mut self, ttl: u32) {
        raise(&mut self.zone_ttl, ttl);
    }

    /// Records what `server` served at `at`.
    pub fn observe(&mut self, server: SocketAddr, at: SystemTime, state: ServerState) {
        let since = self.serving_since.entry(server).or_insert(None);
        match state {
            ServerState::Serving { rrset_ttl } => {
                if since.is_none() {
                    *since = Some(at);
                }
                if let Some(ttl) = rrset_ttl {
                    raise(&mut self.new_rrset_ttl, ttl);
                }
            }
            ServerState::Stale { old } => {
                *since = None;
                match old {
                    OldAnswer::Rrset { ttl } => raise(&mut self.old_rrset_ttl, ttl),
                    OldAnswer::NoRrset { negative_ttl } => {
                        raise(&mut self.old_negative_ttl, negative_ttl)
                    }
                }
            }
            ServerState::Unconfirmed => *since = None,
        }
    }

    /// The addresses that do not (or not continuously) serve the change.
    pub fn laggards(&self) -> Vec<SocketAddr> {
        self.serving_since
            .iter()
            .filter(|(_, since)| since.is_none())
            .map(|(server, _)| *server)
            .collect()
    }

    /// Since when every address has served the change; `None` while any does not.
    pub fn served_everywhere_at(&self) -> Option<SystemTime> {
        if self.serving_since.is_empty() {
            return None;
        }
        self.serving_since
            .values()
            .copied()
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .max()
    }

    /// The longest a resolver may keep the old answer.
    pub fn hold(&self) -> Hold {
        fn consider(best: &mut Option<Hold>, ttl: Option<u32>, source: HoldSource) {
            if let Some(ttl) = ttl
                && best.is_none_or(|b| ttl > b.ttl)
            {
                *best = Some(Hold { ttl, source });
            }
        }
        let mut best: Option<Hold> = None;
        match self.declared {
            Some(OldAnswer::Rrset { ttl }) => consider(&mut best, Some(ttl), HoldSource::OldRrset),
            Some(OldAnswer::NoRrset { negative_ttl }) => {
                consider(&mut best, Some(negative_ttl), HoldSource::Negative)
            }
            None => {}
        }
        consider(&mut best, self.old_rrset_ttl, HoldSource::OldRrset);
        consider(&mut best, self.old_negative_ttl, HoldSource::Negative);
        if let Some(hold) = best {
            return hold;
        }
        consider(&mut best, self.new_rrset_ttl, HoldSource::Assumed);
        consider(&mut best, self.negative_ttl, HoldSource::Assumed);
        if self.new_rrset_ttl.is_none() {
            consider(&mut best, self.zone_ttl, HoldSource::Assumed);
        }
        best.unwrap_or(Hold {
            ttl: 0,
            source: HoldSource::Assumed,
        })
    }

    /// The safety factor in force.
    pub fn factor(&self) -> u32 {
        self.factor
    }

    /// The safe time, once every address serves the change.
    pub fn safe_at(&self) -> Option<SystemTime> {
        let served = self.served_everywhere_at()?;
        Some(served + Duration::from_secs(u64::from(self.hold().ttl) * u64::from(self.factor)))
    }

    /// Where things stand at `now`.
    pub fn status(&self, now: SystemTime) -> Status {
        match (self.served_everywhere_at(), self.safe_at()) {
            (Some(served_at), Some(safe_at)) => match safe_at.duration_since(now) {
                Ok(remaining) if !remaining.is_zero() => Status::Holding {
                    served_at,
                    safe_at,
                    remaining,
                },
                _ => Status::Safe { safe_at },
            },
            _ => Status::Propagating {
                waiting_for: self.laggards(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::clock::{Clock, ManualClock};

    fn server(n: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 3, n], 53))
    }

    const SERVING: ServerState = ServerState::Serving {
        rrset_ttl: Some(300),
    };

    #[test]
    fn safe_time_is_last_server_plus_two_old_ttls() {
        let clock = ManualClock::at(1_000_000);
        let mut p = Propagation::new([server(1), server(2)], 2, None);
        let old = OldAnswer::Rrset { ttl: 600 };
        p.observe(server(1), clock.now(), SERVING);
        p.observe(server(2), clock.now(), ServerState::Stale { old });
        assert_eq!(
            p.status(clock.now()),
            Status::Propagating {
                waiting_for: vec![server(2)]
            }
        );
        clock.advance(Duration::from_secs(10));
        let served = clock.now();
        p.observe(server(1), served, SERVING);
        p.observe(server(2), served, SERVING);
        assert_eq!(
            p.hold(),
            Hold {
                ttl: 600,
                source: HoldSource::OldRrset
            }
        );
        let safe = served + Duration::from_secs(1200);
        assert_eq!(p.safe_at(), Some(safe));
        clock.advance(Duration::from_secs(1199));
        assert!(matches!(
            p.status(clock.now()),
            Status::Holding { remaining, .. } if remaining == Duration::from_secs(1)
        ));
        clock.advance(Duration::from_secs(1));
        assert_eq!(p.status(clock.now()), Status::Safe { safe_at: safe });
    }

    #[test]
    fn negative_ttl_rules_when_the_name_had_no_tlsa() {
        let clock = ManualClock::at(2_000_000);
        let mut p = Propagation::new([server(1), server(2)], 2, None);
        p.note_negative_ttl(60);
        p.observe(server(1), clock.now(), SERVING);
        p.observe(
            server(2),
            clock.now(),
            ServerState::Stale {
                old: OldAnswer::NoRrset { negative_ttl: 60 },
            },
        );
        clock.advance(Duration::from_secs(5));
        p.observe(server(2), clock.now(), SERVING);
        let hold = p.hold();
        assert_eq!(
            hold,
            Hold {
                ttl: 60,
                source: HoldSource::Negative
            }
        );
        assert!(hold.to_string().contains("negative TTL 60s"));
        assert_eq!(p.safe_at(), Some(clock.now() + Duration::from_secs(120)));
    }

    #[test]
    fn declared_negative_ttl_is_used_even_if_no_server_was_seen_stale() {
        let clock = ManualClock::at(3_000_000);
        let declared = OldAnswer::NoRrset { negative_ttl: 30 };
        let mut p = Propagation::new([server(1)], 3, Some(declared));
        p.observe(server(1), clock.now(), SERVING);
        assert_eq!(p.hold().source, HoldSource::Negative);
        assert_eq!(p.safe_at(), Some(clock.now() + Duration::from_secs(90)));
    }

    #[test]
    fn a_server_going_stale_again_restarts_the_clock() {
        let clock = ManualClock::at(4_000_000);
        let mut p = Propagation::new(
            [server(1), server(2)],
            2,
            Some(OldAnswer::Rrset { ttl: 100 }),
        );
        p.observe(server(1), clock.now(), SERVING);
        p.observe(server(2), clock.now(), SERVING);
        let first = p.safe_at().unwrap();
        clock.advance(Duration::from_secs(50));
        p.observe(server(2), clock.now(), ServerState::Unconfirmed);
        assert_eq!(p.safe_at(), None);
        assert_eq!(p.laggards(), vec![server(2)]);
        clock.advance(Duration::from_secs(50));
        p.observe(server(2), clock.now(), SERVING);
        let second = p.safe_at().unwrap();
        assert_eq!(second, first + Duration::from_secs(100));
        // A server that keeps serving keeps its original start.
        p.observe(server(1), clock.now(), SERVING);
        assert_eq!(p.safe_at(), Some(second));
    }

    #[test]
    fn unknown_old_answer_assumes_the_longest_ttl_in_sight() {
        let clock = ManualClock::at(5_000_000);
        let mut p = Propagation::new([server(1)], 2, None);
        p.note_negative_ttl(900);
        p.observe(server(1), clock.now(), SERVING);
        assert_eq!(
            p.hold(),
            Hold {
                ttl: 900,
                source: HoldSource::Assumed
            }
        );
        let mut empty = Propagation::new([server(1)], 2, None);
        empty.note_negative_ttl(60);
        empty.note_zone_ttl(3600);
        empty.observe(
            server(1),
            clock.now(),
            ServerState::Serving { rrset_ttl: None },
        );
        assert_eq!(empty.hold().ttl, 3600);
    }

    #[test]
    fn no_servers_never_become_safe() {
        let p = Propagation::new([], 2, None);
        assert_eq!(p.safe_at(), None);
    }
}
