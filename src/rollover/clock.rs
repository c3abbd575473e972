//! Time arithmetic that never panics, and the serde forms of times and durations in stored
//! types. The engine never reads the clock itself: `now` is always passed in.

use std::time::Duration;

use time::OffsetDateTime;
use time::macros::datetime;

/// The latest moment the state file can hold (RFC 3339 has four-digit years). Waits that would
/// end later end here: "never" in practice.
pub const FAR_FUTURE: OffsetDateTime = datetime!(9999-12-31 23:59:59 UTC);

/// `at + duration`, saturating at [`FAR_FUTURE`].
pub fn later(at: OffsetDateTime, duration: Duration) -> OffsetDateTime {
    time::Duration::try_from(duration)
        .ok()
        .and_then(|d| at.checked_add(d))
        .map_or(FAR_FUTURE, |t| t.min(FAR_FUTURE))
}

/// Serde for a [`Duration`] as whole seconds (TTLs and policy intervals are whole seconds).
pub mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(duration.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_adds_and_saturates() {
        let t = datetime!(2026-01-01 0:00 UTC);
        assert_eq!(
            later(t, Duration::from_secs(90)),
            datetime!(2026-01-01 0:01:30 UTC)
        );
        assert_eq!(later(t, Duration::MAX), FAR_FUTURE);
        assert_eq!(later(t, Duration::from_secs(u64::MAX / 4)), FAR_FUTURE);
    }
}
