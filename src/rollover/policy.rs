//! When a record counts as safe, and how often the engine looks again.
//!
//! RFC 7671 §8.1 asks for the next key's record to be published "at least two TTLs or longer
//! before the new chain is deployed". A resolver may hold the *old* TLSA RRset (or, if the name
//! had none, the negative answer, RFC 2308 §5) for up to its TTL after the new RRset reached every
//! authoritative server. So the clock starts when the last authoritative server began serving the
//! new record DNSSEC-valid, and runs for `safety_factor` × the longest TTL a resolver may still
//! honour. The DNS layer measures both numbers; this module only does the arithmetic, so it is
//! pure and tested on its own.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::clock::{later, secs};
pub use crate::dns::safe_time::{BadSafetyFactor, SafetyFactor};
use crate::dns::safe_time::{TtlBound, TtlKind};

/// What the propagation observer established about a record (or a set of records): every
/// authoritative server serves it, DNSSEC-validated, since `first_served_everywhere_at`.
///
/// *Stored type*: part of the state file; new fields need `#[serde(default)]` (state files
/// written before them must still load).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Propagated {
    /// The moment the observer first saw every authoritative server serve the record.
    #[serde(with = "time::serde::rfc3339")]
    pub first_served_everywhere_at: OffsetDateTime,
    /// The longest time a resolver may keep an answer that lacks the record: the largest TTL
    /// seen so far (served, RRSIG original, validated negative TTL). It only grows.
    #[serde(with = "secs")]
    pub resolver_ttl_bound: Duration,
    /// What set `resolver_ttl_bound`, for `status` and `--dry-run`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_set_by: Option<TtlBound>,
    /// The last look that found every server serving it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub confirmed_at: Option<OffsetDateTime>,
    /// The last look that could not confirm it (a server silent or bogus), if later.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub unconfirmed_at: Option<OffsetDateTime>,
}

impl Propagated {
    /// Served everywhere since `at` (confirmed then), with the TTL bound `bound`.
    pub fn new(at: OffsetDateTime, bound: TtlBound) -> Self {
        Self {
            first_served_everywhere_at: at,
            resolver_ttl_bound: bound.duration(),
            bound_set_by: Some(bound),
            confirmed_at: Some(at),
            unconfirmed_at: None,
        }
    }

    /// The moment from which no validating resolver can still hold an answer without the record:
    /// `first_served_everywhere_at + safety_factor × resolver_ttl_bound`.
    pub fn safe_at(&self, factor: SafetyFactor) -> OffsetDateTime {
        later(
            self.first_served_everywhere_at,
            factor.scale(self.resolver_ttl_bound),
        )
    }

    /// A later look, at `now`, that found the record served everywhere again: the clock keeps
    /// its start, the bound grows to anything longer the look saw (it never shrinks).
    pub fn absorb(&mut self, later: &Propagated, now: OffsetDateTime) {
        if later.resolver_ttl_bound > self.resolver_ttl_bound {
            self.resolver_ttl_bound = later.resolver_ttl_bound;
            self.bound_set_by = later.bound_set_by.clone();
        }
        self.confirmed_at = Some(self.confirmed_at.map_or(now, |at| at.max(now)));
        self.unconfirmed_at = None;
    }

    /// A look at `now` that could not confirm the record everywhere, without proof that any
    /// server stopped serving it (silence, a lame or bogus answer).
    pub fn looked_without_confirmation(&mut self, now: OffsetDateTime) {
        self.unconfirmed_at = Some(now);
    }

    /// When the last look was made, confirmed or not.
    pub fn last_look(&self) -> OffsetDateTime {
        self.last_confirmed()
            .max(self.unconfirmed_at.unwrap_or(OffsetDateTime::UNIX_EPOCH))
    }

    /// The last time the record was confirmed served everywhere.
    pub fn last_confirmed(&self) -> OffsetDateTime {
        self.confirmed_at.unwrap_or(self.first_served_everywhere_at)
    }

    /// What set the wait, in the operator's words: `2 × TTL 3600 (RRSIG original TTL at …)`.
    pub fn wait_reason(&self, factor: SafetyFactor) -> String {
        let bound = self.bound_set_by.clone().unwrap_or_else(|| {
            let ttl = u32::try_from(self.resolver_ttl_bound.as_secs()).unwrap_or(u32::MAX);
            TtlBound::new(ttl, TtlKind::Served, None)
        });
        if self.bound_set_by.is_some() {
            format!("{factor} × {bound}")
        } else {
            format!("{factor} × TTL {}", bound.ttl)
        }
    }
}

/// The rotation and timing policy (the `[policy]` table of the config).
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Multiplier on the resolver TTL bound before a record counts as safe.
    pub safety_factor: SafetyFactor,
    /// How long to wait between two looks at the DNS (propagation, live check) while waiting.
    pub poll_interval: Duration,
    /// How often, in the steady state, to confirm that both records are still served.
    pub recheck_interval: Duration,
    /// How long a key stays live before the engine moves to the next one on its own. Keys are
    /// kept across certificate renewals (a renewal reuses the key); this is the deliberate
    /// rotation that keeps the procedure exercised.
    pub key_max_age: Duration,
    /// How long a preflight verdict ("the zone is DNSSEC-secure") stays valid before publishing
    /// needs a fresh one.
    pub preflight_valid_for: Duration,
    /// After this long without every authoritative server serving a published record, each look
    /// raises an alert (a secondary that does not transfer, a broken signer).
    pub propagation_alert_after: Duration,
    /// Live checks that still show the old key before an alert (the MTA was not reloaded).
    pub live_check_alert_after: u32,
}

impl Default for Policy {
    fn default() -> Self {
        const MINUTE: u64 = 60;
        const DAY: u64 = 24 * 60 * MINUTE;
        Self {
            safety_factor: SafetyFactor::DEFAULT,
            poll_interval: Duration::from_secs(MINUTE),
            recheck_interval: Duration::from_secs(6 * 60 * MINUTE),
            key_max_age: Duration::from_secs(365 * DAY),
            preflight_valid_for: Duration::from_secs(60 * MINUTE),
            propagation_alert_after: Duration::from_secs(60 * MINUTE),
            live_check_alert_after: 3,
        }
    }
}

/// How long to wait before retrying after the `failures`-th failure in a row. Explicit so the
/// elapsed time is easy to reason about: 30 s, 1 min 30 s, 6 min 30 s, 21 min 30 s, then every
/// hour (a cron tick every 15 minutes meets each step).
pub fn retry_delay(failures: u32) -> Duration {
    const TABLE: [u64; 5] = [30, 60, 5 * 60, 15 * 60, 60 * 60];
    let index = (failures.max(1) as usize - 1).min(TABLE.len() - 1);
    Duration::from_secs(TABLE[index])
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn safe_at_is_propagation_plus_factor_times_bound() {
        let propagated = Propagated {
            first_served_everywhere_at: datetime!(2026-05-01 12:00 UTC),
            resolver_ttl_bound: Duration::from_secs(3600),
            bound_set_by: None,
            confirmed_at: None,
            unconfirmed_at: None,
        };
        assert_eq!(
            propagated.safe_at(SafetyFactor::DEFAULT),
            datetime!(2026-05-01 14:00 UTC)
        );
        let factor = SafetyFactor::new(1.5).unwrap();
        assert_eq!(propagated.safe_at(factor), datetime!(2026-05-01 13:30 UTC));
    }

    #[test]
    fn huge_bounds_saturate_instead_of_panicking() {
        let propagated = Propagated {
            first_served_everywhere_at: datetime!(2026-05-01 12:00 UTC),
            resolver_ttl_bound: Duration::MAX,
            bound_set_by: None,
            confirmed_at: None,
            unconfirmed_at: None,
        };
        let safe = propagated.safe_at(SafetyFactor::new(100.0).unwrap());
        assert!(safe > datetime!(9000-01-01 0:00 UTC));
    }

    #[test]
    fn retry_delays_grow_then_cap() {
        assert_eq!(retry_delay(0), Duration::from_secs(30));
        assert_eq!(retry_delay(1), Duration::from_secs(30));
        assert_eq!(retry_delay(3), Duration::from_secs(300));
        assert_eq!(retry_delay(50), Duration::from_secs(3600));
    }

    #[test]
    fn propagated_round_trips_as_json() {
        let propagated = Propagated {
            first_served_everywhere_at: datetime!(2026-05-01 12:00 UTC),
            resolver_ttl_bound: Duration::from_secs(300),
            bound_set_by: None,
            confirmed_at: None,
            unconfirmed_at: None,
        };
        let json = serde_json::to_string(&propagated).unwrap();
        assert_eq!(
            json,
            r#"{"first_served_everywhere_at":"2026-05-01T12:00:00Z","resolver_ttl_bound":300}"#
        );
        assert_eq!(
            serde_json::from_str::<Propagated>(&json).unwrap(),
            propagated
        );
    }

    #[test]
    fn a_state_file_from_before_the_ttl_source_still_loads_and_keeps_its_bound() {
        let old =
            r#"{"first_served_everywhere_at":"2026-05-01T12:00:00Z","resolver_ttl_bound":300}"#;
        let mut propagated: Propagated = serde_json::from_str(old).unwrap();
        assert_eq!(propagated.bound_set_by, None);
        assert_eq!(propagated.wait_reason(SafetyFactor::DEFAULT), "2 × TTL 300");
        // A later look with a shorter TTL does not lower what was stored.
        let shorter = Propagated::new(
            datetime!(2026-05-01 12:01 UTC),
            TtlBound::new(
                60,
                TtlKind::RrsigOriginal,
                Some("ns1 (127.0.0.1:53)".into()),
            ),
        );
        propagated.absorb(&shorter, datetime!(2026-05-01 12:01 UTC));
        assert_eq!(propagated.resolver_ttl_bound, Duration::from_secs(300));
        assert_eq!(
            propagated.safe_at(SafetyFactor::DEFAULT),
            datetime!(2026-05-01 12:10 UTC)
        );
        let json = serde_json::to_string(&propagated).unwrap();
        let again: Propagated = serde_json::from_str(&json).unwrap();
        assert_eq!(again, propagated);
        assert_eq!(again.last_confirmed(), datetime!(2026-05-01 12:01 UTC));
    }
}
