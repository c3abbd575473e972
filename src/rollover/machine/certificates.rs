//! What the certificates on disk mean for the rollover: the key the MTA reads (adopted on
//! first sight; a change behind daneroll's back is an emergency), and a renewal staged beside
//! it (same key: deploy; next key: swap when safe; unexpected key: publish at once, swap when
//! safe, keep the current certificate meanwhile — RFC 7671 §8.1).

use daneroll_providers::Tlsa;
use time::OffsetDateTime;

use super::went_live;
use crate::rollover::input::{ActionKind, CertSeen, DiskView, Notice};
use crate::rollover::policy::Policy;
use crate::rollover::state::{
    CurrentKey, Incoming, KeyOrigin, NextKey, Rollover, Stage, SwapRequest, Trigger,
};

impl Rollover {
    pub(super) fn on_certificates(
        &mut self,
        view: DiskView,
        now: OffsetDateTime,
        policy: &Policy,
        notices: &mut Vec<Notice>,
    ) {
        let Some(deployed) = view.deployed else {
            notices.push(Notice::NoDeployedCertificate);
            self.fail(
                ActionKind::Inspect,
                "no deployed certificate found".into(),
                now,
            );
            return;
        };
        let Some(current) = self.stage.current().cloned() else {
            // First sight of this host: adopt what is deployed, make sure its record is served.
            self.stage = Stage::AwaitingCurrentPublication {
                current: CurrentKey {
                    record: deployed.record,
                    live_since: now,
                },
                retiring: Vec::new(),
            };
            return;
        };
        if deployed.record != current.record {
            if self.reload_failed_after_install(&deployed.record) {
                return;
            }
            if matches!(self.stage, Stage::Ready { .. } | Stage::AwaitingSwap { .. })
                && self.stage.next_record() == Some(&deployed.record)
            {
                // The safe next key went live (a swap command did it, or someone by hand).
                let stage = std::mem::replace(&mut self.stage, Stage::AwaitingCurrentKey);
                self.stage = match stage {
                    Stage::Ready { current, next } => went_live(current, next, Vec::new(), now),
                    Stage::AwaitingSwap {
                        current,
                        next,
                        swap,
                        ..
                    } => went_live(current, next, swap.superseded, now),
                    other => other,
                };
            } else {
                notices.push(Notice::UnexpectedDeployment {
                    record: deployed.record.clone(),
                    expected: Some(current.record),
                });
                self.adopt_in_emergency(deployed.record, now);
            }
            return;
        }
        if let Some(staged) = &view.staged {
            self.on_staged(staged, now, notices);
        }
        self.check_staged_still_there(view.staged.as_ref().map(|s| &s.record), notices);
        if let Stage::AwaitingSwap {
            next,
            swap,
            requested_at,
            ..
        } = &mut self.stage
            && requested_at.is_some()
            && !swap.staged
        {
            // The request ran, yet no certificate with the next key: ask again after a backoff.
            notices.push(Notice::NoCertificateForNextKey {
                record: next.record.clone(),
            });
            *requested_at = None;
            self.fail(
                ActionKind::RequestCertificate,
                "no certificate with the next key appeared".into(),
                now,
            );
        }
        self.check_expiry(&deployed, now, policy, notices);
    }

    /// The files hold the safe next key because daneroll's deploy installed it, but that deploy
    /// failed (the reload did): the MTA may still serve the old key, and with `live_check =
    /// "files"` nothing else would notice. The swap stays pending and the deploy (install and
    /// reload) is retried after its backoff; the old record stays until a reload succeeds.
    fn reload_failed_after_install(&mut self, deployed: &Tlsa) -> bool {
        let deploy_failed = self
            .retry
            .as_ref()
            .is_some_and(|r| r.action == ActionKind::Deploy);
        match &mut self.stage {
            Stage::AwaitingSwap { next, swap, .. } if deploy_failed && next.record == *deployed => {
                swap.staged = true;
                true
            }
            _ => false,
        }
    }

    fn on_staged(&mut self, staged: &CertSeen, now: OffsetDateTime, notices: &mut Vec<Notice>) {
        let record = &staged.record;
        if self.stage.current().is_some_and(|c| c.record == *record) {
            notices.push(Notice::SameKeyRenewal {
                record: record.clone(),
            });
            self.same_key_renewal = true;
            return;
        }
        if self.stage.next_record() == Some(record) {
            match &mut self.stage {
                Stage::AwaitingPublication { incoming, .. }
                | Stage::AwaitingPropagation { incoming, .. }
                | Stage::AwaitingCacheExpiry { incoming, .. } => match &mut incoming.swap {
                    Some(swap) if swap.staged => {}
                    Some(swap) => {
                        swap.staged = true;
                        notices.push(Notice::RenewalStaged {
                            record: record.clone(),
                        });
                    }
                    None => {
                        incoming.swap = Some(SwapRequest {
                            trigger: Trigger::Renewal,
                            staged: true,
                            superseded: Vec::new(),
                        });
                        notices.push(Notice::RenewalStaged {
                            record: record.clone(),
                        });
                    }
                },
                Stage::AwaitingSwap { swap, .. } => swap.staged = true,
                Stage::Ready { .. } => self.begin_swap(Trigger::Renewal, true),
                _ => {}
            }
            return;
        }
        if self.stage.retiring().contains(record) {
            notices.push(Notice::StagedRetiredKey {
                record: record.clone(),
            });
            return;
        }
        // A key daneroll did not expect: publish it at once, swap to it once it is safe, keep
        // the current certificate deployed meanwhile. A next key it replaces is retired later.
        let stage = std::mem::replace(&mut self.stage, Stage::AwaitingCurrentKey);
        let (current, mut superseded) = match stage {
            Stage::AwaitingNextKey { current, .. } => (current, Vec::new()),
            Stage::AwaitingPublication { current, incoming }
            | Stage::AwaitingPropagation {
                current, incoming, ..
            }
            | Stage::AwaitingCacheExpiry {
                current, incoming, ..
            } => {
                let superseded = incoming.swap.map(|s| s.superseded).unwrap_or_default();
                let mut superseded = superseded;
                superseded.push(incoming.next.record);
                (current, superseded)
            }
            Stage::Ready { current, next } => (current, vec![next.record]),
            Stage::AwaitingSwap {
                current,
                next,
                mut swap,
                ..
            } => {
                swap.superseded.push(next.record);
                (current, swap.superseded)
            }
            other => {
                self.stage = other;
                notices.push(Notice::UnexpectedKeyDeferred {
                    record: record.clone(),
                });
                return;
            }
        };
        superseded.dedup();
        notices.push(Notice::UnexpectedKey {
            record: record.clone(),
        });
        self.stage = Stage::AwaitingPublication {
            current,
            incoming: Incoming {
                next: NextKey {
                    record: record.clone(),
                    origin: KeyOrigin::Renewal,
                    since: now,
                },
                swap: Some(SwapRequest {
                    trigger: Trigger::UnexpectedKey,
                    staged: true,
                    superseded,
                }),
            },
        };
    }

    /// A staged certificate the swap counts on was replaced or removed. For a key daneroll
    /// generated, a certificate is requested again when it is time; a key that only came with
    /// that certificate cannot go live any more, so its record is retired.
    fn check_staged_still_there(&mut self, staged: Option<&Tlsa>, notices: &mut Vec<Notice>) {
        let (next, swap) = match &mut self.stage {
            Stage::AwaitingPublication { incoming, .. }
            | Stage::AwaitingPropagation { incoming, .. }
            | Stage::AwaitingCacheExpiry { incoming, .. } => match &mut incoming.swap {
                Some(swap) => ((incoming.next.record.clone(), incoming.next.origin), swap),
                None => return,
            },
            Stage::AwaitingSwap { next, swap, .. } => ((next.record.clone(), next.origin), swap),
            _ => return,
        };
        let (record, origin) = next;
        if !swap.staged || staged == Some(&record) {
            return;
        }
        swap.staged = false;
        if origin == KeyOrigin::Generated {
            return;
        }
        let mut retiring = vec![record.clone()];
        retiring.extend(swap.superseded.iter().cloned());
        notices.push(Notice::StagedCertificateGone { record });
        // invariant: every stage matched above has a current key.
        let current = self
            .stage
            .current()
            .cloned()
            .expect("stage with a current key");
        self.stage = Stage::AwaitingRetirement { current, retiring };
    }

    /// A renewal waits for its key to be safe: say so loudly if the deployed certificate expires
    /// before then. It stays deployed anyway (see [`Notice::ExpiresBeforeSafe`]).
    fn check_expiry(
        &self,
        deployed: &CertSeen,
        now: OffsetDateTime,
        policy: &Policy,
        notices: &mut Vec<Notice>,
    ) {
        let (incoming, safe_at) = match &self.stage {
            Stage::AwaitingPublication { incoming, .. }
            | Stage::AwaitingPropagation { incoming, .. } => (incoming, None),
            Stage::AwaitingCacheExpiry {
                incoming,
                propagated,
                ..
            } => (incoming, Some(propagated.safe_at(policy.safety_factor))),
            _ => return,
        };
        if !incoming.swap.as_ref().is_some_and(|s| s.staged) {
            return;
        }
        let expires_first = match safe_at {
            Some(safe_at) => deployed.not_after < safe_at,
            None => deployed.not_after <= now,
        };
        if expires_first {
            notices.push(Notice::ExpiresBeforeSafe {
                record: deployed.record.clone(),
                not_after: deployed.not_after,
                safe_at,
            });
        }
    }

    /// A key went live that daneroll did not put there: make sure its record is served at once,
    /// and retire every other record once it is confirmed live.
    pub(super) fn adopt_in_emergency(&mut self, live: Tlsa, now: OffsetDateTime) {
        let mut retiring: Vec<Tlsa> = Vec::new();
        for record in self.stage.known_records() {
            if record != live && !retiring.contains(&record) {
                retiring.push(record);
            }
        }
        self.stage = Stage::AwaitingCurrentPublication {
            current: CurrentKey {
                record: live,
                live_since: now,
            },
            retiring,
        };
    }
}
