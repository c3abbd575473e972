//! What each state asks for: one action, or "too early, come back at T".
//!
//! The plan is a pure function of the stored state, the clock and the policy, so a driver that
//! crashed after logging an intent computes the same action again on restart; every action is
//! idempotent, so doing it twice is harmless. Guards that keep the promise:
//! - `Publish` only with a fresh verdict that the zone is DNSSEC-secure (a TLSA record in an
//!   insecure zone is ignored by senders, RFC 7672 §2.2);
//! - `Deploy` of the next key only from `AwaitingSwap`, only when the clock reads at least its
//!   safe time (a clock that went back waits again), and only after its record was seen served
//!   everywhere within `poll_interval`;
//! - `Retire` never names the current key's record.

use time::OffsetDateTime;

use super::clock::later;
use super::input::{Action, Next, TooEarly, Waiting};
use super::policy::{Policy, retry_delay};
use super::state::{Rollover, Stage};

impl Rollover {
    /// What to do now. `TooEarly` carries the moment to come back.
    pub fn plan(&self, now: OffsetDateTime, policy: &Policy) -> Next {
        if let Some(retry) = &self.retry {
            let until = later(retry.last_failure_at, retry_delay(retry.failures));
            if now < until {
                return too_early(until, Waiting::Retry);
            }
        }
        if self.same_key_renewal
            && let Some(current) = self.stage.current()
        {
            return Next::Act(Action::Deploy {
                record: current.record.clone(),
            });
        }
        let poll = |checked_at: Option<OffsetDateTime>, waiting: Waiting| {
            checked_at
                .map(|at| later(at, policy.poll_interval))
                .filter(|until| now < *until)
                .map(|until| too_early(until, waiting))
        };
        match &self.stage {
            Stage::AwaitingCurrentKey => Next::Act(Action::Inspect),
            Stage::AwaitingCurrentPublication { current, .. } => {
                self.zone_gate(now, policy).unwrap_or_else(|| {
                    Next::Act(Action::Publish {
                        record: current.record.clone(),
                    })
                })
            }
            Stage::AwaitingCurrentPropagation {
                current,
                checked_at,
                ..
            } => poll(*checked_at, Waiting::Propagation).unwrap_or_else(|| {
                Next::Act(Action::Observe {
                    records: vec![current.record.clone()],
                })
            }),
            Stage::AwaitingNextKey { .. } => Next::Act(Action::GenerateNextKey),
            Stage::AwaitingPublication { incoming, .. } => {
                self.zone_gate(now, policy).unwrap_or_else(|| {
                    Next::Act(Action::Publish {
                        record: incoming.next.record.clone(),
                    })
                })
            }
            Stage::AwaitingPropagation {
                incoming,
                checked_at,
                ..
            } => poll(*checked_at, Waiting::Propagation).unwrap_or_else(|| {
                Next::Act(Action::Observe {
                    records: vec![incoming.next.record.clone()],
                })
            }),
            Stage::AwaitingCacheExpiry {
                incoming,
                propagated,
                ..
            } => {
                // Keep looking while caches drain: a server that stops serving the record
                // restarts the clock, and a longer TTL seen meanwhile lengthens the wait. At
                // the safe time, one more look confirms it before calling it safe.
                let safe_at = propagated.safe_at(policy.safety_factor);
                let next_look = later(propagated.last_look(), policy.poll_interval);
                let due = if now < safe_at {
                    safe_at.min(next_look)
                } else if propagated.unconfirmed_at.is_some() {
                    // The last look could not confirm it: look again a poll_interval later.
                    next_look
                } else {
                    now
                };
                if now < due {
                    too_early(due, Waiting::CacheExpiry)
                } else {
                    Next::Act(Action::Observe {
                        records: vec![incoming.next.record.clone()],
                    })
                }
            }
            Stage::Ready { current, next } => {
                // An unproven miss at the last recheck: look again soon (see `UnconfirmedMiss`).
                let recheck = match &self.unconfirmed {
                    Some(miss) => later(miss.at, policy.poll_interval),
                    None => later(next.checked_at, policy.recheck_interval),
                };
                if now >= recheck {
                    Next::Act(Action::Observe {
                        records: vec![current.record.clone(), next.record.clone()],
                    })
                } else {
                    let key_age = later(current.live_since, policy.key_max_age);
                    too_early(recheck.min(key_age), Waiting::Steady)
                }
            }
            Stage::AwaitingSwap {
                next,
                swap,
                requested_at,
                ..
            } => {
                if now < next.safe_since {
                    // The clock went back since the key became safe: wait until it reads the
                    // safe time again rather than trust the earlier reading.
                    too_early(next.safe_since, Waiting::CacheExpiry)
                } else if now >= later(next.checked_at, policy.poll_interval) {
                    Next::Act(Action::Observe {
                        records: vec![next.record.clone()],
                    })
                } else if swap.staged {
                    Next::Act(Action::Deploy {
                        record: next.record.clone(),
                    })
                } else if let Some(renewal) = &self.renewing {
                    // Another run is renewing (one order at a time): look again later.
                    too_early(
                        later(now.max(renewal.since), policy.poll_interval),
                        Waiting::Certificate,
                    )
                } else if requested_at.is_none() {
                    Next::Act(Action::RequestCertificate {
                        record: next.record.clone(),
                    })
                } else {
                    Next::Act(Action::Inspect)
                }
            }
            Stage::AwaitingLiveConfirmation {
                current,
                checked_at,
                ..
            } => poll(*checked_at, Waiting::LiveCheck).unwrap_or_else(|| {
                Next::Act(Action::VerifyLive {
                    expected: current.record.clone(),
                })
            }),
            Stage::AwaitingRetirement { current, retiring } => {
                let keep = vec![current.record.clone()];
                match retiring.first() {
                    Some(record) => Next::Act(Action::Retire {
                        record: record.clone(),
                        keep,
                    }),
                    // Only a hand-edited state file gets here; any input settles it into
                    // AwaitingNextKey.
                    None => Next::Act(Action::Inspect),
                }
            }
        }
    }

    /// `None` when publishing is allowed: a fresh verdict says the zone is secure. Otherwise the
    /// preflight to run, or the wait for an insecure zone's verdict to expire.
    fn zone_gate(&self, now: OffsetDateTime, policy: &Policy) -> Option<Next> {
        match &self.zone {
            Some(zone) if now < later(zone.checked_at, policy.preflight_valid_for) => {
                if zone.secure {
                    None
                } else {
                    Some(too_early(
                        later(zone.checked_at, policy.preflight_valid_for),
                        Waiting::SecureZone,
                    ))
                }
            }
            _ => Some(Next::Act(Action::Preflight)),
        }
    }
}

fn too_early(until: OffsetDateTime, waiting_for: Waiting) -> Next {
    Next::TooEarly(TooEarly { until, waiting_for })
}
