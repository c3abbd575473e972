//! The transitions: a command or an observation moves a host's [`Rollover`] to its next state.
//!
//! No I/O and no clock: `now` and the [`Policy`] are passed in, so every transition is a pure
//! function and a crash can only lose work, never order. The rules that keep the promise live
//! here, each in one place:
//! - a key goes live only from [`Stage::AwaitingSwap`], which holds a [`SafeKey`]: its record has
//!   been served by every authoritative server for `safety_factor` × the resolver TTL bound
//!   (RFC 7671 §8.1), and was seen served again within `poll_interval` before the deploy;
//! - a record is retired only from [`Stage::AwaitingRetirement`], reached after the live service
//!   was seen presenting the current key, and `current` is never in `retiring`;
//! - nothing is published without a fresh "zone is DNSSEC-secure" verdict (see `plan.rs`);
//! - a renewal that brings a key which is not safe yet is staged, never deployed; an unexpected
//!   key in a staged certificate is published at once and swapped in when safe;
//! - keys are adopted only from the deployed files or a staged certificate: a key the live
//!   service presents that daneroll did not read from its own files is an alert, never
//!   published (it may be an attacker's on the path to port 25).

use daneroll_providers::Tlsa;
use time::OffsetDateTime;

use super::clock::later;
use super::input::{ActionKind, Input, Missing, Next, Notice, PropagationReport, ZoneVerdict};
use super::policy::Policy;
use super::state::{
    CurrentKey, Incoming, KeyOrigin, NextKey, Retry, Rollover, RolloverRequest, SafeKey, Stage,
    StateName, SwapRequest, Trigger, UnconfirmedMiss, ZoneCheck,
};

/// The result of a transition: notices for the operator, and what to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub notices: Vec<Notice>,
    pub next: Next,
}

/// An input the machine cannot accept in its current state. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MachineError {
    /// A command or an outcome arrived in a state that does not wait for it.
    #[error("host {host}: {input} is not expected while {state}; expected {expected}")]
    WrongState {
        host: String,
        state: StateName,
        input: &'static str,
        expected: &'static str,
    },
    /// An outcome names records other than the ones the state waits for.
    #[error("host {host}: {input} is about {got} while {state} waits for {expected}")]
    WrongRecord {
        host: String,
        state: StateName,
        input: &'static str,
        expected: String,
        got: String,
    },
}

impl Rollover {
    /// Feeds one input and returns what to do next. On error the rollover is unchanged.
    pub fn step(
        &mut self,
        input: Input,
        now: OffsetDateTime,
        policy: &Policy,
    ) -> Result<Step, MachineError> {
        let mut next = self.clone();
        let mut notices = Vec::new();
        let retry_before = next.retry.clone();
        let succeeded = success_kind(&input);
        next.apply(input, now, policy, &mut notices)?;
        next.settle(now, policy, &mut notices);
        let moved = next.stage.name() != self.stage.name();
        let same_failure_again = next.retry != retry_before;
        if moved
            || (!same_failure_again
                && succeeded.is_some()
                && next.retry.as_ref().map(|r| r.action) == succeeded)
        {
            next.retry = None;
        }
        if next.stage.current().map(|c| &c.record) != self.stage.current().map(|c| &c.record) {
            next.same_key_renewal = false;
            if let Some(request) = &mut next.requested {
                request.swapped = true;
            }
        }
        if !matches!(next.stage, Stage::Ready { .. }) {
            next.unconfirmed = None;
        }
        if matches!(next.stage, Stage::Ready { .. })
            && next.requested.as_ref().is_some_and(|r| r.swapped)
        {
            // The operator's rollover is complete: a later `rollover` is a new request.
            next.requested = None;
        }
        *self = next;
        Ok(Step {
            notices,
            next: self.plan(now, policy),
        })
    }

    fn apply(
        &mut self,
        input: Input,
        now: OffsetDateTime,
        policy: &Policy,
        notices: &mut Vec<Notice>,
    ) -> Result<(), MachineError> {
        let name = input.name();
        match input {
            Input::Tick => Ok(()),
            Input::Rollover { trigger } => self.on_rollover(trigger, now, name),
            Input::Preflight(verdict) => {
                self.on_preflight(verdict, now, notices);
                Ok(())
            }
            Input::Certificates(view) => {
                self.on_certificates(view, now, policy, notices);
                Ok(())
            }
            Input::KeyGenerated { record } => self.on_key_generated(record, now, name),
            Input::Published {
                record,
                already_present,
            } => self.on_published(record, already_present, now, name, notices),
            Input::Propagation { records, report } => {
                self.on_propagation(records, report, now, policy, name, notices)
            }
            Input::CertificateRequested { record } => match &mut self.stage {
                Stage::AwaitingSwap {
                    next, requested_at, ..
                } if next.record == record => {
                    *requested_at = Some(now);
                    Ok(())
                }
                Stage::AwaitingSwap { next, .. } => {
                    let expected = [next.record.clone()];
                    Err(self.wrong_record(name, &expected, &[record]))
                }
                _ => Err(self.wrong_state(name, "awaiting swap")),
            },
            Input::Deployed { record } => self.on_deployed(record, now, name),
            Input::Live { presented, seen } => {
                self.on_live(presented, seen, now, policy, name, notices)
            }
            Input::Retired { record, .. } => self.on_retired(record, name),
            Input::Failed { action, error } => {
                self.fail(action, error, now);
                Ok(())
            }
        }
    }

    /// Time-driven moves: the current key reaching its maximum age.
    fn settle(&mut self, now: OffsetDateTime, policy: &Policy, notices: &mut Vec<Notice>) {
        if let Stage::AwaitingRetirement { current, retiring } = &self.stage
            && retiring.is_empty()
        {
            self.stage = Stage::AwaitingNextKey {
                current: current.clone(),
                swap: None,
            };
        }
        if let Stage::Ready { current, .. } = &self.stage
            && now >= later(current.live_since, policy.key_max_age)
        {
            notices.push(Notice::KeyAgeReached {
                record: current.record.clone(),
            });
            self.begin_swap(Trigger::KeyAge, false);
        }
    }

    fn on_rollover(
        &mut self,
        trigger: Trigger,
        now: OffsetDateTime,
        name: &'static str,
    ) -> Result<(), MachineError> {
        if trigger == Trigger::Operator && !self.stage.finishing() {
            self.requested = Some(RolloverRequest {
                at: now,
                swapped: false,
            });
        }
        match &mut self.stage {
            Stage::AwaitingNextKey { swap, .. } => {
                swap.get_or_insert(trigger);
            }
            Stage::AwaitingPublication { incoming, .. }
            | Stage::AwaitingPropagation { incoming, .. }
            | Stage::AwaitingCacheExpiry { incoming, .. } => {
                incoming.swap.get_or_insert(SwapRequest {
                    trigger,
                    staged: false,
                    superseded: Vec::new(),
                });
            }
            Stage::Ready { .. } => self.begin_swap(trigger, false),
            Stage::AwaitingSwap { .. } => {}
            _ => {
                return Err(self.wrong_state(
                    name,
                    "a current key and no swap being finished (awaiting next key, publication, \
                     propagation, cache expiry, ready or swap)",
                ));
            }
        }
        Ok(())
    }

    /// Ready → AwaitingSwap.
    pub(super) fn begin_swap(&mut self, trigger: Trigger, staged: bool) {
        let stage = std::mem::replace(&mut self.stage, Stage::AwaitingCurrentKey);
        self.stage = match stage {
            Stage::Ready { current, next } => Stage::AwaitingSwap {
                current,
                next,
                swap: SwapRequest {
                    trigger,
                    staged,
                    superseded: Vec::new(),
                },
                requested_at: None,
            },
            other => other,
        };
    }

    fn on_preflight(
        &mut self,
        verdict: ZoneVerdict,
        now: OffsetDateTime,
        notices: &mut Vec<Notice>,
    ) {
        if !verdict.secure {
            notices.push(Notice::ZoneNotSecure {
                zone: verdict.zone.clone(),
                detail: verdict.detail.clone(),
            });
        }
        self.zone = Some(ZoneCheck {
            zone: verdict.zone,
            secure: verdict.secure,
            detail: verdict.detail,
            checked_at: now,
        });
    }

    fn on_key_generated(
        &mut self,
        record: Tlsa,
        now: OffsetDateTime,
        name: &'static str,
    ) -> Result<(), MachineError> {
        let Stage::AwaitingNextKey { current, swap } = &self.stage else {
            return Err(self.wrong_state(name, "awaiting next key"));
        };
        if record == current.record {
            return Err(MachineError::WrongRecord {
                host: self.host.clone(),
                state: self.stage.name(),
                input: name,
                expected: "a key other than the current one".into(),
                got: record.short(),
            });
        }
        self.stage = Stage::AwaitingPublication {
            current: current.clone(),
            incoming: Incoming {
                next: NextKey {
                    record,
                    origin: KeyOrigin::Generated,
                    since: now,
                },
                swap: swap.map(|trigger| SwapRequest {
                    trigger,
                    staged: false,
                    superseded: Vec::new(),
                }),
            },
        };
        Ok(())
    }

    fn on_published(
        &mut self,
        record: Tlsa,
        already_present: bool,
        now: OffsetDateTime,
        name: &'static str,
        notices: &mut Vec<Notice>,
    ) -> Result<(), MachineError> {
        let stage = std::mem::replace(&mut self.stage, Stage::AwaitingCurrentKey);
        self.stage = match stage {
            Stage::AwaitingPublication { current, incoming } if incoming.next.record == record => {
                Stage::AwaitingPropagation {
                    current,
                    incoming,
                    published_at: now,
                    checked_at: None,
                    missing: Vec::new(),
                }
            }
            Stage::AwaitingCurrentPublication { current, retiring } if current.record == record => {
                if !already_present {
                    notices.push(Notice::LiveKeyWasUnpublished { record });
                }
                Stage::AwaitingCurrentPropagation {
                    current,
                    retiring,
                    published_at: now,
                    checked_at: None,
                    missing: Vec::new(),
                }
            }
            other => {
                self.stage = other;
                return Err(match &self.stage {
                    Stage::AwaitingPublication { incoming, .. } => self.wrong_record(
                        name,
                        std::slice::from_ref(&incoming.next.record),
                        &[record],
                    ),
                    Stage::AwaitingCurrentPublication { current, .. } => {
                        self.wrong_record(name, std::slice::from_ref(&current.record), &[record])
                    }
                    _ => self.wrong_state(name, "awaiting publication or current publication"),
                });
            }
        };
        Ok(())
    }

    fn on_propagation(
        &mut self,
        records: Vec<Tlsa>,
        report: PropagationReport,
        now: OffsetDateTime,
        policy: &Policy,
        name: &'static str,
        notices: &mut Vec<Notice>,
    ) -> Result<(), MachineError> {
        let Some(expected) = self.observed_records() else {
            return Err(self.wrong_state(
                name,
                "awaiting current propagation, propagation, cache expiry, ready or swap",
            ));
        };
        if records != expected {
            return Err(self.wrong_record(name, &expected, &records));
        }
        let earlier = self.unconfirmed.take();
        let stage = std::mem::replace(&mut self.stage, Stage::AwaitingCurrentKey);
        self.stage = match (stage, report) {
            (
                Stage::AwaitingCurrentPropagation {
                    current, retiring, ..
                },
                PropagationReport::Everywhere(_),
            ) => after_current_confirmed(current, retiring),
            (
                Stage::AwaitingPropagation {
                    current, incoming, ..
                },
                PropagationReport::Everywhere(propagated),
            ) => Stage::AwaitingCacheExpiry {
                current,
                incoming,
                propagated,
            },
            (
                Stage::AwaitingCurrentPropagation {
                    current,
                    retiring,
                    published_at,
                    ..
                },
                PropagationReport::Incomplete { missing },
            ) => {
                let servers = servers_of(&missing);
                if now >= later(published_at, policy.propagation_alert_after) {
                    notices.push(Notice::PropagationSlow {
                        record: current.record.clone(),
                        servers: servers.clone(),
                        published_at,
                    });
                }
                Stage::AwaitingCurrentPropagation {
                    current,
                    retiring,
                    published_at,
                    checked_at: Some(now),
                    missing: servers,
                }
            }
            (
                Stage::AwaitingPropagation {
                    current,
                    incoming,
                    published_at,
                    ..
                },
                PropagationReport::Incomplete { missing },
            ) => {
                let servers = servers_of(&missing);
                if now >= later(published_at, policy.propagation_alert_after) {
                    notices.push(Notice::PropagationSlow {
                        record: incoming.next.record.clone(),
                        servers: servers.clone(),
                        published_at,
                    });
                }
                Stage::AwaitingPropagation {
                    current,
                    incoming,
                    published_at,
                    checked_at: Some(now),
                    missing: servers,
                }
            }
            (
                Stage::AwaitingCacheExpiry {
                    current,
                    incoming,
                    mut propagated,
                },
                PropagationReport::Everywhere(seen),
            ) => {
                // The clock keeps its start; the TTL bound only grows (`dns::safe_time`).
                propagated.absorb(&seen, now);
                let safe_at = propagated.safe_at(policy.safety_factor);
                if now < safe_at {
                    Stage::AwaitingCacheExpiry {
                        current,
                        incoming,
                        propagated,
                    }
                } else {
                    let next = SafeKey {
                        record: incoming.next.record,
                        origin: incoming.next.origin,
                        safe_since: safe_at,
                        checked_at: now,
                    };
                    match incoming.swap {
                        Some(swap) => Stage::AwaitingSwap {
                            current,
                            next,
                            swap,
                            requested_at: None,
                        },
                        None => Stage::Ready { current, next },
                    }
                }
            }
            (
                Stage::AwaitingCacheExpiry {
                    current,
                    incoming,
                    mut propagated,
                },
                PropagationReport::Incomplete { missing },
            ) => {
                if missing.iter().any(|m| m.proven) {
                    // A validated answer without the record: that server stopped serving it,
                    // a resolver may cache that, so its clock restarts (`dns::safe_time`).
                    notices.push(vanished(&incoming.next.record, &missing));
                    Stage::AwaitingPublication { current, incoming }
                } else {
                    // Silence or an answer that does not validate is no evidence either way:
                    // the clock keeps its start, but the record is not confirmed by this look,
                    // so it is not safe until a later look confirms it.
                    propagated.looked_without_confirmation(now);
                    Stage::AwaitingCacheExpiry {
                        current,
                        incoming,
                        propagated,
                    }
                }
            }
            (Stage::Ready { current, mut next }, PropagationReport::Everywhere(_)) => {
                next.checked_at = now;
                Stage::Ready { current, next }
            }
            (Stage::Ready { current, next }, PropagationReport::Incomplete { missing }) => {
                // Gone only when proven absent, or the same answer from the same server twice
                // in a row (issue #13 item 6: one timeout must not retire the safe next key).
                let confirmed: Vec<Missing> = missing
                    .iter()
                    .filter(|m| m.proven || earlier.as_ref().is_some_and(|e| e.missing.contains(m)))
                    .cloned()
                    .collect();
                if confirmed.is_empty() {
                    notices.push(Notice::RecheckUnconfirmed {
                        servers: servers_of(&missing),
                        answers: answers_of(&missing),
                    });
                    self.unconfirmed = Some(UnconfirmedMiss { at: now, missing });
                    Stage::Ready { current, next }
                } else {
                    let missing = confirmed;
                    if missing.iter().any(|m| m.record == current.record) {
                        notices.push(vanished(&current.record, &missing));
                        Stage::AwaitingCurrentPublication {
                            current,
                            retiring: vec![next.record],
                        }
                    } else {
                        notices.push(vanished(&next.record, &missing));
                        Stage::AwaitingPublication {
                            current,
                            incoming: Incoming {
                                next: next.demote(),
                                swap: None,
                            },
                        }
                    }
                }
            }
            (
                Stage::AwaitingSwap {
                    current,
                    mut next,
                    swap,
                    requested_at,
                },
                PropagationReport::Everywhere(_),
            ) => {
                next.checked_at = now;
                Stage::AwaitingSwap {
                    current,
                    next,
                    swap,
                    requested_at,
                }
            }
            (
                Stage::AwaitingSwap {
                    current,
                    next,
                    swap,
                    ..
                },
                PropagationReport::Incomplete { missing },
            ) => {
                notices.push(vanished(&next.record, &missing));
                Stage::AwaitingPublication {
                    current,
                    incoming: Incoming {
                        next: next.demote(),
                        swap: Some(swap),
                    },
                }
            }
            // invariant: observed_records() returned Some only for the stages matched above.
            (other, _) => other,
        };
        Ok(())
    }

    /// The records a propagation report must be about in this state (see `plan.rs`).
    pub(super) fn observed_records(&self) -> Option<Vec<Tlsa>> {
        match &self.stage {
            Stage::AwaitingCurrentPropagation { current, .. } => Some(vec![current.record.clone()]),
            Stage::AwaitingPropagation { incoming, .. }
            | Stage::AwaitingCacheExpiry { incoming, .. } => {
                Some(vec![incoming.next.record.clone()])
            }
            Stage::Ready { current, next } => {
                Some(vec![current.record.clone(), next.record.clone()])
            }
            Stage::AwaitingSwap { next, .. } => Some(vec![next.record.clone()]),
            _ => None,
        }
    }

    fn on_deployed(
        &mut self,
        record: Tlsa,
        now: OffsetDateTime,
        name: &'static str,
    ) -> Result<(), MachineError> {
        if self.stage.current().is_some_and(|c| c.record == record) {
            // A renewal with the same key (or a repeated outcome after a crash).
            self.same_key_renewal = false;
            return Ok(());
        }
        let stage = std::mem::replace(&mut self.stage, Stage::AwaitingCurrentKey);
        match stage {
            Stage::AwaitingSwap {
                current,
                next,
                swap,
                ..
            } if next.record == record => {
                self.stage = went_live(current, next, swap.superseded, now);
                Ok(())
            }
            other => {
                self.stage = other;
                let expected: Vec<Tlsa> = match &self.stage {
                    Stage::AwaitingSwap { current, next, .. } => {
                        vec![current.record.clone(), next.record.clone()]
                    }
                    stage => stage
                        .current()
                        .map(|c| c.record.clone())
                        .into_iter()
                        .collect(),
                };
                if expected.is_empty() {
                    Err(self.wrong_state(name, "awaiting swap"))
                } else {
                    Err(self.wrong_record(name, &expected, &[record]))
                }
            }
        }
    }

    fn on_live(
        &mut self,
        presented: Tlsa,
        seen: Vec<String>,
        now: OffsetDateTime,
        policy: &Policy,
        name: &'static str,
        notices: &mut Vec<Notice>,
    ) -> Result<(), MachineError> {
        let Stage::AwaitingLiveConfirmation {
            current,
            retiring,
            checked_at,
            attempts,
        } = &mut self.stage
        else {
            return Err(self.wrong_state(name, "awaiting live confirmation"));
        };
        if presented == current.record {
            let current = current.clone();
            let retiring = std::mem::take(retiring);
            self.stage = if retiring.is_empty() {
                Stage::AwaitingNextKey {
                    current,
                    swap: None,
                }
            } else {
                Stage::AwaitingRetirement { current, retiring }
            };
        } else if retiring.contains(&presented) {
            // The MTA still presents an old key (not reloaded yet): keep its record, look again.
            *attempts += 1;
            *checked_at = Some(now);
            if *attempts >= policy.live_check_alert_after {
                notices.push(Notice::LiveStillOld {
                    presented,
                    expected: current.record.clone(),
                    attempts: *attempts,
                });
            }
        } else {
            // Seen only on the network: never published. Keep every record, alert, look again
            // after a backoff (the operator repairs the MTA; the files still hold `current`).
            *checked_at = Some(now);
            let expected = current.record.clone();
            let error = format!(
                "the live service presents {}, a key daneroll did not read from its files, \
                 instead of {}; nothing published (seen: {})",
                presented.short(),
                expected.short(),
                seen.join("; ")
            );
            notices.push(Notice::UnexpectedLiveKey {
                presented,
                expected,
                seen,
            });
            self.fail(ActionKind::VerifyLive, error, now);
        }
        Ok(())
    }

    fn on_retired(&mut self, record: Tlsa, name: &'static str) -> Result<(), MachineError> {
        let Stage::AwaitingRetirement { current, retiring } = &mut self.stage else {
            return Err(self.wrong_state(name, "awaiting retirement"));
        };
        let Some(position) = retiring.iter().position(|r| *r == record) else {
            let expected = retiring.clone();
            return Err(self.wrong_record(name, &expected, &[record]));
        };
        retiring.remove(position);
        if retiring.is_empty() {
            self.stage = Stage::AwaitingNextKey {
                current: current.clone(),
                swap: None,
            };
        }
        Ok(())
    }

    pub(super) fn fail(&mut self, action: ActionKind, error: String, now: OffsetDateTime) {
        let failures = match &self.retry {
            Some(retry) if retry.action == action => retry.failures.saturating_add(1),
            _ => 1,
        };
        self.retry = Some(Retry {
            action,
            failures,
            last_failure_at: now,
            error,
        });
    }

    fn wrong_state(&self, input: &'static str, expected: &'static str) -> MachineError {
        MachineError::WrongState {
            host: self.host.clone(),
            state: self.stage.name(),
            input,
            expected,
        }
    }

    fn wrong_record(&self, input: &'static str, expected: &[Tlsa], got: &[Tlsa]) -> MachineError {
        MachineError::WrongRecord {
            host: self.host.clone(),
            state: self.stage.name(),
            input,
            expected: list(expected),
            got: list(got),
        }
    }
}

/// The next key is live: confirm it, then retire the old key's record and replaced ones.
pub(super) fn went_live(
    current: CurrentKey,
    next: SafeKey,
    superseded: Vec<Tlsa>,
    now: OffsetDateTime,
) -> Stage {
    let mut retiring = vec![current.record];
    for record in superseded {
        if record != next.record && !retiring.contains(&record) {
            retiring.push(record);
        }
    }
    Stage::AwaitingLiveConfirmation {
        current: CurrentKey {
            record: next.record,
            live_since: now,
        },
        retiring,
        checked_at: None,
        attempts: 0,
    }
}

/// The current key is served everywhere (adoption) or presented live (after a swap).
fn after_current_confirmed(current: CurrentKey, retiring: Vec<Tlsa>) -> Stage {
    if retiring.is_empty() {
        Stage::AwaitingNextKey {
            current,
            swap: None,
        }
    } else {
        Stage::AwaitingLiveConfirmation {
            current,
            retiring,
            checked_at: None,
            attempts: 0,
        }
    }
}

/// Which action's success an input reports (RequestCertificate only succeeds when a certificate
/// appears, which moves the stage).
fn success_kind(input: &Input) -> Option<ActionKind> {
    match input {
        Input::Preflight(_) => Some(ActionKind::Preflight),
        Input::Certificates(_) => Some(ActionKind::Inspect),
        Input::KeyGenerated { .. } => Some(ActionKind::GenerateNextKey),
        Input::Published { .. } => Some(ActionKind::Publish),
        Input::Propagation { .. } => Some(ActionKind::Observe),
        Input::Deployed { .. } => Some(ActionKind::Deploy),
        Input::Live { .. } => Some(ActionKind::VerifyLive),
        Input::Retired { .. } => Some(ActionKind::Retire),
        Input::Tick
        | Input::Rollover { .. }
        | Input::CertificateRequested { .. }
        | Input::Failed { .. } => None,
    }
}

fn servers_of(missing: &[Missing]) -> Vec<String> {
    let mut servers: Vec<String> = missing.iter().map(|m| m.server.clone()).collect();
    servers.sort();
    servers.dedup();
    servers
}

/// Each server's answer, for the operator: `ns2.example.net. (192.0.2.53): no answer`.
fn answers_of(missing: &[Missing]) -> Vec<String> {
    let mut answers: Vec<String> = missing
        .iter()
        .map(|m| format!("{}: {}", m.server, m.answer))
        .collect();
    answers.sort();
    answers.dedup();
    answers
}

fn vanished(record: &Tlsa, missing: &[Missing]) -> Notice {
    Notice::RecordVanished {
        record: record.clone(),
        servers: servers_of(missing),
    }
}

fn list(records: &[Tlsa]) -> String {
    if records.is_empty() {
        return "no record".into();
    }
    records
        .iter()
        .map(|r| r.short())
        .collect::<Vec<_>>()
        .join(" + ")
}

mod certificates;

#[cfg(test)]
mod tests;
