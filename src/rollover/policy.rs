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

/// What the propagation observer established about a record (or a set of records): every
/// authoritative server serves it, DNSSEC-validated, since `first_served_everywhere_at`.
///
/// *Stored type*: part of the state file; change it only with a schema upgrade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Propagated {
    /// The moment the observer first saw every authoritative server serve the record.
    #[serde(with = "time::serde::rfc3339")]
    pub first_served_everywhere_at: OffsetDateTime,
    /// The longest time a resolver may keep an answer that lacks the record: the largest of the
    /// old TLSA RRset's TTL, the new one's, and the zone's negative TTL (SOA minimum).
    #[serde(with = "secs")]
    pub resolver_ttl_bound: Duration,
}

impl Propagated {
    /// The moment from which no validating resolver can still hold an answer without the record:
    /// `first_served_everywhere_at + safety_factor × resolver_ttl_bound`.
    pub fn safe_at(&self, factor: SafetyFactor) -> OffsetDateTime {
        later(
            self.first_served_everywhere_at,
            factor.scale(self.resolver_ttl_bound),
        )
    }
}

/// How many times the resolver TTL bound to wait after propagation (RFC 7671 §8.1 asks for at
/// least two TTLs; 1.0 is the bare minimum a cache needs).
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
        };
        assert_eq!(
            propagated.safe_at(SafetyFactor::DEFAULT),
            datetime!(2026-05-01 14:00 UTC)
        );
        let factor = SafetyFactor::new(1.5).unwrap();
        assert_eq!(propagated.safe_at(factor), datetime!(2026-05-01 13:30 UTC));
    }

    #[test]
    fn scale_rounds_up_to_whole_seconds() {
        let factor = SafetyFactor::new(1.1).unwrap();
        assert_eq!(factor.scale(Duration::from_secs(5)), Duration::from_secs(6));
        assert_eq!(SafetyFactor::DEFAULT.scale(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn huge_bounds_saturate_instead_of_panicking() {
        let propagated = Propagated {
            first_served_everywhere_at: datetime!(2026-05-01 12:00 UTC),
            resolver_ttl_bound: Duration::MAX,
        };
        let safe = propagated.safe_at(SafetyFactor::new(100.0).unwrap());
        assert!(safe > datetime!(9000-01-01 0:00 UTC));
    }

    #[test]
    fn safety_factor_rejects_out_of_range() {
        assert!(SafetyFactor::new(0.5).is_err());
        assert!(SafetyFactor::new(f64::NAN).is_err());
        assert!(SafetyFactor::new(1000.0).is_err());
        let err = serde_json::from_str::<SafetyFactor>("0.1").unwrap_err();
        assert!(err.to_string().contains("safety_factor"), "{err}");
        assert_eq!(
            serde_json::from_str::<SafetyFactor>("3").unwrap().value(),
            3.0
        );
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
}
