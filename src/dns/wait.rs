//! Waiting for a change to be safe: poll, judge, track, report — until the safe time passes.
//!
//! There is no fixed sleep here: the loop polls every address until all of them serve the
//! change, then keeps polling (less often) while the caches drain, so that a server that falls
//! back to the old data restarts the clock (`safe_time`). It sleeps only until the next poll,
//! never past the safe time or the deadline, through the injected clock.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use super::chain::ZoneStatus;
use super::clock::Clock;
use super::observation::{AuthServer, Expected, Observation, ServerVerdict};
use super::observer::{Observer, ResolverView};
use super::safe_time::{Propagation, SafetyFactor, Status, TtlBound};
use super::transport::Transport;

/// How to wait.
#[derive(Debug, Clone)]
pub struct WaitSettings {
    /// Multiplier of the TTL bound (RFC 7671 §8.1: at least 2).
    pub safety_factor: SafetyFactor,
    /// Time between polls while the change propagates.
    pub interval: Duration,
    /// Give up after this long.
    pub timeout: Option<Duration>,
    /// What the caller knew before the change (the old RRset's TTL as it read it, or the
    /// validated TTLs of a poll made before the change): the bound starts there.
    pub known: Option<TtlBound>,
}

impl Default for WaitSettings {
    fn default() -> Self {
        Self {
            safety_factor: SafetyFactor::DEFAULT,
            interval: Duration::from_secs(2),
            timeout: None,
            known: None,
        }
    }
}

/// What one poll showed, for a live display or a log line.
#[derive(Debug)]
pub struct PollReport<'a> {
    /// Every address's answer.
    pub observations: &'a [Observation],
    /// The validating resolver's answer.
    pub resolver: &'a ResolverView,
    /// Where the propagation stands.
    pub status: &'a Status,
    /// The TTL bound the safe time uses, and what set it.
    pub bound: TtlBound,
    /// The safety factor.
    pub factor: SafetyFactor,
    /// DNS messages sent so far.
    pub queries_sent: u64,
    /// When the poll was judged.
    pub now: SystemTime,
}

/// How a wait ended.
#[derive(Debug, Clone, PartialEq)]
pub enum WaitOutcome {
    /// Served everywhere since `served_at`; every cache has expired at `safe_at`.
    Safe {
        served_at: SystemTime,
        safe_at: SystemTime,
        bound: TtlBound,
        factor: SafetyFactor,
    },
    /// The deadline passed first.
    TimedOut {
        /// The addresses that did not serve the change at the last poll, and why.
        laggards: Vec<(AuthServer, ServerVerdict)>,
        /// The safe time, if every address served the change but it had not passed yet.
        safe_at: Option<SystemTime>,
    },
}

/// Why waiting makes no sense.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WaitError {
    #[error(
        "zone {zone} is {status}; a TLSA record there protects no mail, so there is nothing to wait for"
    )]
    NotSecure { zone: String, status: String },
}

fn pause(status: &Status, bound: &TtlBound, interval: Duration) -> Duration {
    match status {
        Status::Holding {
            remaining,
            unconfirmed,
            ..
        } if unconfirmed.is_empty() && !remaining.is_zero() => {
            // Keep polling while caches drain (a server that stops serving restarts the clock),
            // a little less often for long TTLs, and never past the safe time.
            let relaxed =
                Duration::from_secs(u64::from(bound.ttl) / 10).min(Duration::from_secs(60));
            (*remaining).min(interval.max(relaxed))
        }
        _ => interval,
    }
}

/// Polls until `expected` is served validated by every address and the safe time has passed.
pub async fn wait_until_safe<T: Transport>(
    observer: &Observer<T>,
    expected: &Expected,
    settings: &WaitSettings,
    clock: &dyn Clock,
    mut on_poll: impl FnMut(&PollReport<'_>),
) -> Result<WaitOutcome, WaitError> {
    if !matches!(observer.zone_status(), ZoneStatus::Secure(_)) {
        return Err(WaitError::NotSecure {
            zone: observer.zone().to_string(),
            status: observer.zone_status().to_string(),
        });
    }
    let servers: Vec<(SocketAddr, String)> = observer
        .servers()
        .iter()
        .map(|s| (s.addr, s.to_string()))
        .collect();
    let mut tracker = Propagation::new(servers, settings.safety_factor, settings.known.clone());
    tracker.note_zone_ttl(observer.zone_ttl());
    let deadline = settings.timeout.map(|timeout| clock.now() + timeout);
    loop {
        let observations = observer.poll(clock).await;
        let resolver = observer.resolver_view().await;
        for observation in &observations {
            tracker.observe(
                observation.server.addr,
                observation.at,
                observation.state(expected),
            );
        }
        tracker.settle();
        let now = clock.now();
        let status = tracker.status(now);
        let bound = tracker.bound();
        on_poll(&PollReport {
            observations: &observations,
            resolver: &resolver,
            status: &status,
            bound: bound.clone(),
            factor: tracker.factor(),
            queries_sent: observer.transport().queries_sent(),
            now,
        });
        if let Status::Safe { safe_at } = status {
            return Ok(WaitOutcome::Safe {
                // invariant: Safe implies every address serves the change.
                served_at: tracker.served_everywhere_at().expect("served everywhere"),
                safe_at,
                bound,
                factor: tracker.factor(),
            });
        }
        let mut next = pause(&status, &bound, settings.interval);
        if let Some(deadline) = deadline {
            match deadline.duration_since(now) {
                Ok(left) if !left.is_zero() => next = next.min(left),
                _ => {
                    let laggards = observations
                        .iter()
                        .map(|o| (o.server.clone(), o.verdict(expected)))
                        .filter(|(_, verdict)| *verdict != ServerVerdict::Serving)
                        .collect();
                    return Ok(WaitOutcome::TimedOut {
                        laggards,
                        safe_at: tracker.safe_at(),
                    });
                }
            }
        }
        clock.sleep(next).await;
    }
}
