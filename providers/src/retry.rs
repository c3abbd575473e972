//! When and how long to wait before trying a request again; see [`crate::http`] for the table
//! and why.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

/// How often and how long a request is retried, and how long asynchronous changes are awaited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait before each retry when the server sends no `Retry-After`; its length is the
    /// number of retries.
    pub delays: Vec<Duration>,
    /// The most time one request spends waiting between attempts, `Retry-After` included.
    pub budget: Duration,
    /// How long one attempt may take (connect, send, receive).
    pub timeout: Duration,
    /// How often an asynchronous change (Hetzner's actions) is polled …
    pub poll_interval: Duration,
    /// … and for how long at most.
    pub poll_limit: Duration,
}

impl Default for RetryPolicy {
    /// The table in [`crate::http`]: 1, 2, 4, 8, 16 s; at most 60 s of waiting; 30 s per attempt.
    fn default() -> Self {
        Self {
            delays: [1, 2, 4, 8, 16].map(Duration::from_secs).to_vec(),
            budget: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
            poll_interval: Duration::from_millis(500),
            poll_limit: Duration::from_secs(60),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    Retry(Duration),
    GiveUp,
}

impl RetryPolicy {
    /// The decision after `retries` retries that waited `waited` in total, when the server asked
    /// for `retry_after` (if it did).
    pub(crate) fn next(
        &self,
        retries: usize,
        waited: Duration,
        retry_after: Option<Duration>,
    ) -> Next {
        let Some(table) = self.delays.get(retries) else {
            return Next::GiveUp;
        };
        let wait = retry_after.unwrap_or(*table);
        if waited + wait > self.budget {
            Next::GiveUp
        } else {
            Next::Retry(wait)
        }
    }
}

/// 429 and server errors that may go away (not 501 Not Implemented, 505 Version Not Supported).
pub(crate) fn is_retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || (status.is_server_error()
            && status != StatusCode::NOT_IMPLEMENTED
            && status != StatusCode::HTTP_VERSION_NOT_SUPPORTED)
}

/// How long the server asks us to wait, from `now`: `Retry-After` (RFC 9110 §10.2.3:
/// delta-seconds or HTTP-date), or else Hetzner's `RateLimit-Reset` or DNSimple's
/// `X-RateLimit-Reset` (a Unix time) when the matching `…-Remaining` is 0.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| headers.get(name)?.to_str().ok().map(str::trim);
    let Some(value) = text("retry-after") else {
        // Hetzner's `RateLimit-*`, DNSimple's `X-RateLimit-*`: the same fields.
        let (remaining, reset) = ["", "x-"].into_iter().find_map(|prefix| {
            let remaining = text(&format!("{prefix}ratelimit-remaining"))?;
            Some((remaining, text(&format!("{prefix}ratelimit-reset"))?))
        })?;
        if remaining != "0" {
            return None;
        }
        let reset = SystemTime::UNIX_EPOCH + Duration::from_secs(reset.parse().ok()?);
        return Some(reset.duration_since(now).unwrap_or(Duration::ZERO));
    };
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7), the form servers send.
fn parse_http_date(value: &str) -> Option<SystemTime> {
    let fields: Vec<&str> = value.split_whitespace().collect();
    let [_weekday, day, month, year, time, "GMT"] = fields.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let day: i64 = day.parse().ok()?;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<i64> = time
        .split(':')
        .map(|part| part.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + h * 3600 + m * 60 + s;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderValue, RETRY_AFTER};

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn backoff_follows_the_table_then_gives_up() {
        let policy = RetryPolicy::default();
        let mut waited = Duration::ZERO;
        let mut waits = Vec::new();
        for retries in 0.. {
            match policy.next(retries, waited, None) {
                Next::Retry(wait) => {
                    waits.push(wait.as_secs());
                    waited += wait;
                }
                Next::GiveUp => break,
            }
        }
        assert_eq!(waits, [1, 2, 4, 8, 16]);
        assert_eq!(waited, secs(31));
    }

    #[test]
    fn retry_after_replaces_the_table_within_the_budget() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.next(0, secs(0), Some(secs(7))), Next::Retry(secs(7)));
        assert_eq!(
            policy.next(1, secs(50), Some(secs(10))),
            Next::Retry(secs(10))
        );
        // Longer than what is left of the budget: give up now, do not sleep for nothing.
        assert_eq!(policy.next(1, secs(50), Some(secs(11))), Next::GiveUp);
        assert_eq!(policy.next(0, secs(0), Some(secs(3600))), Next::GiveUp);
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + secs(784_111_777);
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("120"));
        assert_eq!(retry_after(&headers, now), Some(secs(120)));
        // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example).
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:50:07 GMT"),
        );
        assert_eq!(retry_after(&headers, now), Some(secs(30)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:00 GMT"),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);

        let mut hetzner = HeaderMap::new();
        hetzner.insert("ratelimit-remaining", HeaderValue::from_static("0"));
        hetzner.insert("ratelimit-reset", HeaderValue::from_static("784111797"));
        assert_eq!(retry_after(&hetzner, now), Some(secs(20)));
        hetzner.insert("ratelimit-remaining", HeaderValue::from_static("12"));
        assert_eq!(retry_after(&hetzner, now), None);
        let mut dnsimple = HeaderMap::new();
        dnsimple.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        dnsimple.insert("x-ratelimit-reset", HeaderValue::from_static("784111787"));
        assert_eq!(retry_after(&dnsimple, now), Some(secs(10)));
        assert_eq!(
            parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(SystemTime::UNIX_EPOCH)
        );
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2028 12:00:00 GMT"),
            Some(SystemTime::UNIX_EPOCH + secs(1_835_438_400))
        );
    }

    #[test]
    fn retryable_statuses() {
        for code in [429, 500, 502, 503, 504] {
            assert!(is_retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
        for code in [200, 400, 401, 403, 404, 409, 422, 501, 505] {
            assert!(!is_retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
    }
}
