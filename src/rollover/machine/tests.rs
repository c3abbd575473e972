//! Every transition, and every input in a state that does not wait for it, with a fake clock.

use std::time::Duration;

use time::macros::datetime;

use super::*;
use crate::rollover::input::{Action, CertSeen, DiskView, Missing, TooEarly, Waiting};
use crate::rollover::policy::{Propagated, SafetyFactor};
use crate::rollover::state::ZoneCheck;

mod certificates;
mod rechecks;
mod refusals;
mod requests;
mod unconfirmed;

const A: u8 = 0xA;
const B: u8 = 0xB;
const C: u8 = 0xC;
const X: u8 = 0x5;

fn rec(n: u8) -> Tlsa {
    Tlsa::new(3, 1, 1, vec![n; 32])
}

/// The fake clock: seconds after a fixed start.
fn at(secs: u64) -> OffsetDateTime {
    later(datetime!(2026-05-01 12:00 UTC), Duration::from_secs(secs))
}

fn policy() -> Policy {
    Policy::default()
}

fn current(n: u8) -> CurrentKey {
    CurrentKey {
        record: rec(n),
        live_since: at(0),
    }
}

fn next_key(n: u8) -> NextKey {
    NextKey {
        record: rec(n),
        origin: KeyOrigin::Generated,
        since: at(0),
    }
}

fn safe(n: u8, since: u64) -> SafeKey {
    SafeKey {
        record: rec(n),
        origin: KeyOrigin::Generated,
        safe_since: at(since),
        checked_at: at(since),
    }
}

fn incoming(n: u8) -> Incoming {
    Incoming {
        next: next_key(n),
        swap: None,
    }
}

fn with(stage: Stage) -> Rollover {
    let mut rollover = Rollover::new("mx1.example.net");
    rollover.stage = stage;
    rollover.zone = Some(ZoneCheck {
        zone: "example.net.".into(),
        secure: true,
        detail: "signed, chain to the root".into(),
        checked_at: at(0),
    });
    rollover
}

fn ready(cur: u8, next: u8) -> Rollover {
    with(Stage::Ready {
        current: current(cur),
        next: safe(next, 0),
    })
}

fn feed(rollover: &mut Rollover, input: Input, now: u64) -> Step {
    rollover
        .step(input, at(now), &policy())
        .unwrap_or_else(|e| panic!("step failed: {e}"))
}

fn act(step: &Step) -> &Action {
    match &step.next {
        Next::Act(action) => action,
        Next::TooEarly(wait) => panic!("expected an action, got {wait:?}"),
    }
}

fn wait(step: &Step) -> TooEarly {
    match &step.next {
        Next::TooEarly(wait) => *wait,
        Next::Act(action) => panic!("expected too early, got {action:?}"),
    }
}

fn everywhere(since: u64, ttl: u64) -> PropagationReport {
    PropagationReport::Everywhere(Propagated {
        first_served_everywhere_at: at(since),
        resolver_ttl_bound: Duration::from_secs(ttl),
        bound_set_by: None,
        confirmed_at: None,
        unconfirmed_at: None,
    })
}

fn missing(n: u8, server: &str) -> PropagationReport {
    PropagationReport::Incomplete {
        missing: vec![Missing {
            server: server.into(),
            record: rec(n),
            proven: true,
            answer: "absent, validated".into(),
        }],
    }
}

fn observed(records: &[u8], report: PropagationReport) -> Input {
    Input::Propagation {
        records: records.iter().map(|n| rec(*n)).collect(),
        report,
    }
}

fn seen(n: u8) -> CertSeen {
    CertSeen {
        record: rec(n),
        not_after: at(90 * 86400),
    }
}

fn disk(deployed: u8, staged: Option<u8>) -> Input {
    Input::Certificates(DiskView {
        deployed: Some(seen(deployed)),
        staged: staged.map(seen),
    })
}

fn secure() -> Input {
    Input::Preflight(ZoneVerdict {
        zone: "example.net.".into(),
        secure: true,
        detail: "signed".into(),
    })
}

fn alerts(step: &Step) -> Vec<&Notice> {
    step.notices.iter().filter(|n| n.is_alert()).collect()
}

#[test]
fn adopts_the_deployed_key_and_makes_sure_its_record_is_served() {
    let mut r = Rollover::new("mx1.example.net");
    assert_eq!(r.plan(at(0), &policy()), Next::Act(Action::Inspect));
    let step = feed(&mut r, disk(A, None), 0);
    assert_eq!(r.stage.name(), StateName::AwaitingCurrentPublication);
    assert_eq!(act(&step), &Action::Preflight);
    let step = feed(&mut r, secure(), 1);
    assert_eq!(act(&step), &Action::Publish { record: rec(A) });
    let step = feed(
        &mut r,
        Input::Published {
            record: rec(A),
            already_present: true,
        },
        2,
    );
    assert!(alerts(&step).is_empty());
    assert_eq!(
        act(&step),
        &Action::Observe {
            records: vec![rec(A)]
        }
    );
    let step = feed(&mut r, observed(&[A], everywhere(2, 300)), 3);
    assert_eq!(r.stage.name(), StateName::AwaitingNextKey);
    assert_eq!(act(&step), &Action::GenerateNextKey);
}

#[test]
fn adopting_a_live_key_without_a_record_alerts() {
    let mut r = with(Stage::AwaitingCurrentPublication {
        current: current(A),
        retiring: vec![],
    });
    let step = feed(
        &mut r,
        Input::Published {
            record: rec(A),
            already_present: false,
        },
        1,
    );
    assert_eq!(
        alerts(&step),
        vec![&Notice::LiveKeyWasUnpublished { record: rec(A) }]
    );
}

#[test]
fn no_deployed_certificate_alerts_and_backs_off() {
    let mut r = Rollover::new("mx1.example.net");
    let step = feed(&mut r, Input::Certificates(DiskView::default()), 10);
    assert_eq!(alerts(&step), vec![&Notice::NoDeployedCertificate]);
    assert_eq!(r.stage.name(), StateName::AwaitingCurrentKey);
    let w = wait(&step);
    assert_eq!(w.waiting_for, Waiting::Retry);
    assert_eq!(w.until, at(40));
    assert_eq!(r.plan(at(40), &policy()), Next::Act(Action::Inspect));
}

#[test]
fn next_key_goes_from_generated_to_ready_only_after_cache_expiry() {
    let mut r = with(Stage::AwaitingNextKey {
        current: current(A),
        swap: None,
    });
    let step = feed(&mut r, Input::KeyGenerated { record: rec(B) }, 0);
    assert_eq!(r.stage.name(), StateName::AwaitingPublication);
    assert_eq!(act(&step), &Action::Publish { record: rec(B) });
    let step = feed(
        &mut r,
        Input::Published {
            record: rec(B),
            already_present: false,
        },
        1,
    );
    assert_eq!(r.stage.name(), StateName::AwaitingPropagation);
    assert_eq!(
        act(&step),
        &Action::Observe {
            records: vec![rec(B)]
        }
    );

    let step = feed(&mut r, observed(&[B], missing(B, "ns2.example.net.")), 2);
    let w = wait(&step);
    assert_eq!((w.until, w.waiting_for), (at(62), Waiting::Propagation));
    let Stage::AwaitingPropagation {
        missing: servers, ..
    } = &r.stage
    else {
        panic!("{:?}", r.stage)
    };
    assert_eq!(servers, &vec!["ns2.example.net.".to_string()]);

    let step = feed(&mut r, observed(&[B], everywhere(62, 300)), 62);
    assert_eq!(r.stage.name(), StateName::AwaitingCacheExpiry);
    // Caches drain until 62 + 2 × 300 = 662; meanwhile a look every poll_interval (60 s).
    let w = wait(&step);
    assert_eq!((w.until, w.waiting_for), (at(122), Waiting::CacheExpiry));
    assert_eq!(
        act(&feed(&mut r, Input::Tick, 122)),
        &Action::Observe {
            records: vec![rec(B)]
        }
    );
    let step = feed(&mut r, observed(&[B], everywhere(122, 300)), 122);
    assert_eq!(wait(&step).until, at(182));
    let step = feed(&mut r, observed(&[B], everywhere(640, 300)), 640);
    assert_eq!(wait(&step).until, at(662), "never past the safe time");
    assert_eq!(wait(&feed(&mut r, Input::Tick, 661)).until, at(662));

    // Time is up: confirm the record is still served before calling it safe.
    let step = feed(&mut r, Input::Tick, 662);
    assert_eq!(
        act(&step),
        &Action::Observe {
            records: vec![rec(B)]
        }
    );
    let step = feed(&mut r, observed(&[B], everywhere(700, 300)), 700);
    let Stage::Ready { next, .. } = &r.stage else {
        panic!("{:?}", r.stage)
    };
    assert_eq!(next.safe_since, at(662));
    assert_eq!(wait(&step).waiting_for, Waiting::Steady);
}

#[test]
fn safe_time_follows_the_safety_factor() {
    let mut policy = policy();
    policy.safety_factor = SafetyFactor::new(3.0).unwrap();
    policy.poll_interval = Duration::from_secs(86_400);
    let r = with(Stage::AwaitingCacheExpiry {
        current: current(A),
        incoming: incoming(B),
        propagated: Propagated {
            first_served_everywhere_at: at(100),
            resolver_ttl_bound: Duration::from_secs(3600),
            bound_set_by: None,
            confirmed_at: None,
            unconfirmed_at: None,
        },
    });
    assert_eq!(
        r.plan(at(100), &policy),
        Next::TooEarly(TooEarly {
            until: at(100 + 3 * 3600),
            waiting_for: Waiting::CacheExpiry
        })
    );
}

#[test]
fn a_clock_that_jumps_back_never_makes_a_key_safe_early() {
    let mut r = with(Stage::AwaitingCacheExpiry {
        current: current(A),
        incoming: incoming(B),
        propagated: Propagated {
            first_served_everywhere_at: at(1000),
            resolver_ttl_bound: Duration::from_secs(300),
            bound_set_by: None,
            confirmed_at: None,
            unconfirmed_at: None,
        },
    });
    // An observation fed while the clock reads before the safe time changes nothing but the
    // time of the next look.
    let step = feed(&mut r, observed(&[B], everywhere(1000, 300)), 500);
    assert_eq!(r.stage.name(), StateName::AwaitingCacheExpiry);
    assert_eq!(wait(&step).until, at(560));
    let step = feed(&mut r, observed(&[B], everywhere(1000, 300)), 1590);
    assert_eq!(r.stage.name(), StateName::AwaitingCacheExpiry);
    assert_eq!(wait(&step).until, at(1600));
}

#[test]
fn while_caches_drain_a_timeout_keeps_the_clock_and_a_validated_absence_restarts_it() {
    let hold = || {
        with(Stage::AwaitingCacheExpiry {
            current: current(A),
            incoming: incoming(B),
            propagated: Propagated {
                first_served_everywhere_at: at(1000),
                resolver_ttl_bound: Duration::from_secs(300),
                bound_set_by: None,
                confirmed_at: None,
                unconfirmed_at: None,
            },
        })
    };
    let silent = || PropagationReport::Incomplete {
        missing: vec![Missing {
            server: "ns2.example.net. (192.0.2.2:53)".into(),
            record: rec(B),
            proven: false,
            answer: "no answer".into(),
        }],
    };
    // One timeout: the clock keeps its start, the next look comes a poll_interval later...
    let mut r = hold();
    let step = feed(&mut r, observed(&[B], silent()), 1100);
    assert_eq!(r.stage.name(), StateName::AwaitingCacheExpiry);
    assert_eq!(wait(&step).until, at(1160));
    // ...and at the safe time an unconfirmed look does not make the key safe.
    let step = feed(&mut r, observed(&[B], silent()), 1600);
    assert_eq!(r.stage.name(), StateName::AwaitingCacheExpiry);
    assert_eq!(wait(&step).until, at(1660));
    let step = feed(&mut r, observed(&[B], everywhere(1660, 300)), 1660);
    let Stage::Ready { next, .. } = &r.stage else {
        panic!("{:?}", r.stage)
    };
    assert_eq!(next.safe_since, at(1600));
    assert_eq!(wait(&step).waiting_for, Waiting::Steady);

    // A validated answer without the record (a server stopped serving it, or replays the old
    // RRset with its still-valid RRSIG): the clock restarts from publication.
    let mut r = hold();
    feed(&mut r, observed(&[B], missing(B, "ns2.example.net.")), 1100);
    assert_eq!(r.stage.name(), StateName::AwaitingPublication);
}

#[test]
fn a_longer_ttl_seen_while_caches_drain_lengthens_the_wait_and_a_shorter_one_does_not() {
    let mut r = with(Stage::AwaitingCacheExpiry {
        current: current(A),
        incoming: incoming(B),
        propagated: Propagated {
            first_served_everywhere_at: at(1000),
            resolver_ttl_bound: Duration::from_secs(300),
            bound_set_by: None,
            confirmed_at: None,
            unconfirmed_at: None,
        },
    });
    // Found broken on the old main: a later look's TTL was dropped, the wait stayed 2 × 300.
    let step = feed(&mut r, observed(&[B], everywhere(1060, 900)), 1060);
    assert_eq!(wait(&step).until, at(1120));
    let step = feed(&mut r, observed(&[B], everywhere(1120, 60)), 1610);
    assert_eq!(
        r.stage.name(),
        StateName::AwaitingCacheExpiry,
        "{:?}",
        r.stage
    );
    assert_eq!(wait(&step).until, at(1670));
    let Stage::AwaitingCacheExpiry { propagated, .. } = &r.stage else {
        unreachable!()
    };
    assert_eq!(propagated.resolver_ttl_bound, Duration::from_secs(900));
    assert_eq!(propagated.first_served_everywhere_at, at(1000));
    let step = feed(&mut r, observed(&[B], everywhere(2800, 60)), 2800);
    let Stage::Ready { next, .. } = &r.stage else {
        panic!("{:?}", r.stage)
    };
    assert_eq!(next.safe_since, at(2800));
    assert_eq!(wait(&step).waiting_for, Waiting::Steady);
}

#[test]
fn ready_rechecks_both_records_and_repairs_a_vanished_next() {
    let mut r = ready(A, B);
    let recheck = policy().recheck_interval.as_secs();
    assert_eq!(wait(&feed(&mut r, Input::Tick, 10)).until, at(recheck));
    let step = feed(&mut r, Input::Tick, recheck);
    assert_eq!(
        act(&step),
        &Action::Observe {
            records: vec![rec(A), rec(B)]
        }
    );
    feed(&mut r, observed(&[A, B], everywhere(0, 300)), recheck);
    let Stage::Ready { next, .. } = &r.stage else {
        panic!()
    };
    assert_eq!(next.checked_at, at(recheck));

    let step = feed(&mut r, observed(&[A, B], missing(B, "ns1")), recheck + 1);
    assert!(matches!(alerts(&step)[..], [Notice::RecordVanished { .. }]));
    let Stage::AwaitingPublication { current, incoming } = &r.stage else {
        panic!("{:?}", r.stage)
    };
    assert_eq!(
        (current.record.clone(), incoming.next.record.clone()),
        (rec(A), rec(B))
    );
}

#[test]
fn ready_republishes_a_vanished_current_record_at_once() {
    let mut r = ready(A, B);
    let step = feed(&mut r, observed(&[A, B], missing(A, "ns1")), 1);
    assert!(matches!(alerts(&step)[..], [Notice::RecordVanished { .. }]));
    assert_eq!(
        r.stage,
        Stage::AwaitingCurrentPublication {
            current: current(A),
            retiring: vec![rec(B)]
        }
    );
    assert_eq!(act(&step), &Action::Publish { record: rec(A) });
}

#[test]
fn a_full_swap_confirms_live_before_retiring_the_old_record() {
    let p = policy();
    let mut r = ready(A, B);
    let step = feed(
        &mut r,
        Input::Rollover {
            trigger: Trigger::Operator,
        },
        100,
    );
    assert_eq!(r.stage.name(), StateName::AwaitingSwap);
    // The next key's record was last seen long ago: look again before anything goes live.
    assert_eq!(
        act(&step),
        &Action::Observe {
            records: vec![rec(B)]
        }
    );
    let step = feed(&mut r, observed(&[B], everywhere(0, 300)), 101);
    assert_eq!(act(&step), &Action::RequestCertificate { record: rec(B) });
    let step = feed(&mut r, Input::CertificateRequested { record: rec(B) }, 102);
    assert_eq!(act(&step), &Action::Inspect);
    let step = feed(&mut r, disk(A, Some(B)), 103);
    assert_eq!(act(&step), &Action::Deploy { record: rec(B) });
    let step = feed(&mut r, Input::Deployed { record: rec(B) }, 104);
    assert_eq!(
        r.stage,
        Stage::AwaitingLiveConfirmation {
            current: CurrentKey {
                record: rec(B),
                live_since: at(104)
            },
            retiring: vec![rec(A)],
            checked_at: None,
            attempts: 0
        }
    );
    assert_eq!(act(&step), &Action::VerifyLive { expected: rec(B) });

    // The MTA still presents the old key: keep its record, look again, alert after a few.
    let mut now = 105;
    for attempt in 1..=p.live_check_alert_after {
        let step = feed(
            &mut r,
            Input::Live {
                presented: rec(A),
                seen: vec![],
            },
            now,
        );
        assert_eq!(wait(&step).waiting_for, Waiting::LiveCheck);
        assert_eq!(
            !alerts(&step).is_empty(),
            attempt >= p.live_check_alert_after,
            "attempt {attempt}"
        );
        now += p.poll_interval.as_secs();
        assert_eq!(
            act(&feed(&mut r, Input::Tick, now)),
            &Action::VerifyLive { expected: rec(B) }
        );
    }
    let step = feed(
        &mut r,
        Input::Live {
            presented: rec(B),
            seen: vec![],
        },
        now,
    );
    assert_eq!(r.stage.name(), StateName::AwaitingRetirement);
    assert_eq!(
        act(&step),
        &Action::Retire {
            record: rec(A),
            keep: vec![rec(B)]
        }
    );
    let step = feed(
        &mut r,
        Input::Retired {
            record: rec(A),
            already_absent: false,
        },
        now,
    );
    assert_eq!(
        r.stage,
        Stage::AwaitingNextKey {
            current: CurrentKey {
                record: rec(B),
                live_since: at(104)
            },
            swap: None
        }
    );
    assert_eq!(act(&step), &Action::GenerateNextKey);
}

#[test]
fn a_request_that_yields_no_certificate_is_retried_after_a_backoff() {
    let mut r = with(Stage::AwaitingSwap {
        current: current(A),
        next: safe(B, 0),
        swap: SwapRequest {
            trigger: Trigger::Operator,
            staged: false,
            superseded: vec![],
        },
        requested_at: Some(at(10)),
    });
    let step = feed(&mut r, disk(A, None), 10);
    assert_eq!(
        alerts(&step),
        vec![&Notice::NoCertificateForNextKey { record: rec(B) }]
    );
    assert_eq!(wait(&step).waiting_for, Waiting::Retry);
    // After the backoff the request runs again (the record was seen within poll_interval).
    let step = feed(&mut r, Input::Tick, 40);
    assert_eq!(act(&step), &Action::RequestCertificate { record: rec(B) });
    // Later, the record is confirmed again first.
    let step = feed(&mut r, Input::Tick, 60);
    assert_eq!(
        act(&step),
        &Action::Observe {
            records: vec![rec(B)]
        }
    );
}

#[test]
fn a_command_mode_swap_is_detected_on_disk() {
    let mut r = ready(A, B);
    feed(&mut r, disk(B, None), 50);
    assert_eq!(r.stage.name(), StateName::AwaitingLiveConfirmation);
    assert_eq!(r.stage.retiring(), &[rec(A)]);
}

#[test]
fn key_age_starts_the_swap() {
    let mut r = ready(A, B);
    let age = policy().key_max_age.as_secs();
    let step = feed(&mut r, observed(&[A, B], everywhere(0, 300)), age - 1);
    assert_eq!(r.stage.name(), StateName::Ready);
    assert_eq!(wait(&step).until, at(age));
    let step = feed(&mut r, Input::Tick, age);
    assert_eq!(step.notices, vec![Notice::KeyAgeReached { record: rec(A) }]);
    let Stage::AwaitingSwap { swap, .. } = &r.stage else {
        panic!()
    };
    assert_eq!(swap.trigger, Trigger::KeyAge);
}

#[test]
fn nothing_is_published_into_an_insecure_zone() {
    let mut r = with(Stage::AwaitingPublication {
        current: current(A),
        incoming: incoming(B),
    });
    r.zone = None;
    let step = feed(&mut r, Input::Tick, 0);
    assert_eq!(act(&step), &Action::Preflight);
    let insecure = Input::Preflight(ZoneVerdict {
        zone: "example.net.".into(),
        secure: false,
        detail: "no DS at the parent".into(),
    });
    let step = feed(&mut r, insecure, 1);
    assert!(matches!(alerts(&step)[..], [Notice::ZoneNotSecure { .. }]));
    let w = wait(&step);
    assert_eq!(w.waiting_for, Waiting::SecureZone);
    assert_eq!(w.until, at(1 + policy().preflight_valid_for.as_secs()));
    assert_eq!(
        act(&feed(&mut r, Input::Tick, 1 + 3600)),
        &Action::Preflight
    );
}

#[test]
fn a_stale_secure_verdict_is_renewed_before_publishing() {
    let mut r = with(Stage::AwaitingPublication {
        current: current(A),
        incoming: incoming(B),
    });
    assert_eq!(
        act(&feed(&mut r, Input::Tick, 10)),
        &Action::Publish { record: rec(B) }
    );
    assert_eq!(act(&feed(&mut r, Input::Tick, 3600)), &Action::Preflight);
}

#[test]
fn a_record_that_vanished_before_the_swap_is_published_again() {
    let mut r = with(Stage::AwaitingCacheExpiry {
        current: current(A),
        incoming: incoming(B),
        propagated: Propagated {
            first_served_everywhere_at: at(0),
            resolver_ttl_bound: Duration::from_secs(300),
            bound_set_by: None,
            confirmed_at: None,
            unconfirmed_at: None,
        },
    });
    feed(&mut r, observed(&[B], missing(B, "ns1")), 600);
    assert_eq!(r.stage.name(), StateName::AwaitingPublication);

    let mut r = with(Stage::AwaitingSwap {
        current: current(A),
        next: safe(B, 0),
        swap: SwapRequest {
            trigger: Trigger::Operator,
            staged: true,
            superseded: vec![],
        },
        requested_at: None,
    });
    let step = feed(&mut r, observed(&[B], missing(B, "ns1")), 600);
    assert!(matches!(alerts(&step)[..], [Notice::RecordVanished { .. }]));
    let Stage::AwaitingPublication { incoming, .. } = &r.stage else {
        panic!()
    };
    assert_eq!(
        incoming.swap.as_ref().map(|s| s.trigger),
        Some(Trigger::Operator)
    );
}

#[test]
fn slow_propagation_alerts_after_the_threshold() {
    let mut r = with(Stage::AwaitingPropagation {
        current: current(A),
        incoming: incoming(B),
        published_at: at(0),
        checked_at: None,
        missing: vec![],
    });
    assert!(
        feed(&mut r, observed(&[B], missing(B, "ns2")), 60)
            .notices
            .is_empty()
    );
    let step = feed(&mut r, observed(&[B], missing(B, "ns2")), 3600);
    assert!(matches!(
        alerts(&step)[..],
        [Notice::PropagationSlow { .. }]
    ));
}

#[test]
fn rollover_is_remembered_until_the_next_key_is_safe() {
    let mut r = with(Stage::AwaitingNextKey {
        current: current(A),
        swap: None,
    });
    feed(
        &mut r,
        Input::Rollover {
            trigger: Trigger::Operator,
        },
        0,
    );
    feed(&mut r, Input::KeyGenerated { record: rec(B) }, 1);
    let Stage::AwaitingPublication { incoming, .. } = &r.stage else {
        panic!()
    };
    assert_eq!(
        incoming.swap.as_ref().map(|s| s.trigger),
        Some(Trigger::Operator)
    );
    // A second command changes nothing; in AwaitingSwap it is accepted too.
    let before = r.clone();
    feed(
        &mut r,
        Input::Rollover {
            trigger: Trigger::KeyAge,
        },
        2,
    );
    assert_eq!(r, before);
    let mut swapping = ready(A, B);
    feed(
        &mut swapping,
        Input::Rollover {
            trigger: Trigger::Operator,
        },
        3,
    );
    let before = swapping.clone();
    feed(
        &mut swapping,
        Input::Rollover {
            trigger: Trigger::Operator,
        },
        3,
    );
    assert_eq!(swapping, before);
}

#[test]
fn failures_back_off_and_success_clears_them() {
    let mut r = with(Stage::AwaitingPublication {
        current: current(A),
        incoming: incoming(B),
    });
    let fail = || Input::Failed {
        action: ActionKind::Publish,
        error: "ns0.example.net. refused the update (REFUSED)".into(),
    };
    assert_eq!(wait(&feed(&mut r, fail(), 100)).until, at(130));
    assert_eq!(
        act(&feed(&mut r, Input::Tick, 130)),
        &Action::Publish { record: rec(B) }
    );
    assert_eq!(wait(&feed(&mut r, fail(), 130)).until, at(190));
    assert_eq!(r.retry.as_ref().map(|r| r.failures), Some(2));
    feed(
        &mut r,
        Input::Published {
            record: rec(B),
            already_present: false,
        },
        200,
    );
    assert_eq!(r.retry, None);
}
