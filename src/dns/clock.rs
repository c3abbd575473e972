//! The clock, injected: signature validity (RFC 4034 §3.1.5) and the safe time both depend on
//! "now", and tests must be able to move it without sleeping.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Wall-clock time as the DNSSEC validity checks and the safe time see it.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// Waits `duration` (the real clock sleeps; a test clock just moves).
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The system's real-time clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that only moves when told to; for tests (unit and integration).
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<SystemTime>>,
}

impl ManualClock {
    /// A clock standing at `unix_seconds` after the epoch.
    pub fn at(unix_seconds: u64) -> Self {
        Self {
            now: Arc::new(Mutex::new(UNIX_EPOCH + Duration::from_secs(unix_seconds))),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        // invariant: the lock is never held across a panic.
        let mut now = self.now.lock().expect("clock lock");
        *now += by;
    }

    /// Sets the clock.
    pub fn set(&self, to: SystemTime) {
        // invariant: the lock is never held across a panic.
        *self.now.lock().expect("clock lock") = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        // invariant: the lock is never held across a panic.
        *self.now.lock().expect("clock lock")
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.advance(duration);
        Box::pin(std::future::ready(()))
    }
}

/// Seconds since the epoch, truncated to 32 bits as RRSIG timestamps are (RFC 4034 §3.1.5).
pub fn dnssec_now(time: SystemTime) -> u32 {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // RRSIG times are serial numbers modulo 2^32 (RFC 1982); truncation is intended.
    seconds as u32
}

/// The `SystemTime` of an RRSIG timestamp, taking the one closest to `reference` among the
/// times that share its low 32 bits (RFC 4034 §3.1.5 serial arithmetic).
pub fn from_dnssec_time(stamp: u32, reference: SystemTime) -> SystemTime {
    let now = dnssec_now(reference);
    let delta = stamp.wrapping_sub(now) as i32;
    if delta >= 0 {
        reference + Duration::from_secs(u64::from(delta.unsigned_abs()))
    } else {
        reference
            .checked_sub(Duration::from_secs(u64::from(delta.unsigned_abs())))
            .unwrap_or(UNIX_EPOCH)
    }
}

/// A time as operators read it in messages: `2026-03-01T12:00:00Z`.
pub fn stamp(time: SystemTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from(time)
        .format(&format)
        .unwrap_or_else(|_| format!("{time:?}"))
}

/// `a` is at or before `b` in RFC 1982 serial number arithmetic.
pub fn serial_at_or_before(a: u32, b: u32) -> bool {
    (b.wrapping_sub(a) as i32) >= 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::at(1_000);
        assert_eq!(dnssec_now(clock.now()), 1_000);
        clock.advance(Duration::from_secs(5));
        assert_eq!(dnssec_now(clock.now()), 1_005);
    }

    #[test]
    fn serial_arithmetic_wraps() {
        assert!(serial_at_or_before(10, 20));
        assert!(!serial_at_or_before(20, 10));
        assert!(serial_at_or_before(u32::MAX - 5, 3));
        assert!(serial_at_or_before(7, 7));
    }

    #[test]
    fn dnssec_time_round_trips_near_reference() {
        let reference = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let later = from_dnssec_time(1_700_000_100, reference);
        assert_eq!(later, UNIX_EPOCH + Duration::from_secs(1_700_000_100));
        let earlier = from_dnssec_time(1_699_999_000, reference);
        assert_eq!(earlier, UNIX_EPOCH + Duration::from_secs(1_699_999_000));
    }
}
