//! Certificates on disk: renewals (same key, next key, unexpected key), deployments behind
//! daneroll's back, live keys it did not expect.

use super::*;

#[test]
fn an_early_renewal_with_the_next_key_is_staged_until_safe() {
    let mut r = with(Stage::AwaitingPropagation {
        current: current(A),
        incoming: incoming(B),
        published_at: at(0),
        checked_at: None,
        missing: vec![],
    });
    let step = feed(&mut r, disk(A, Some(B)), 5);
    assert_eq!(step.notices, vec![Notice::RenewalStaged { record: rec(B) }]);
    assert!(alerts(&step).is_empty());
    assert_eq!(
        act(&step),
        &Action::Observe {
            records: vec![rec(B)]
        }
    );
    // Seen again: no second notice.
    assert!(feed(&mut r, disk(A, Some(B)), 6).notices.is_empty());
    feed(&mut r, observed(&[B], everywhere(10, 300)), 10);
    assert!(matches!(
        wait(&feed(&mut r, Input::Tick, 11)).waiting_for,
        Waiting::CacheExpiry
    ));
    feed(&mut r, Input::Tick, 610);
    let step = feed(&mut r, observed(&[B], everywhere(610, 300)), 610);
    let Stage::AwaitingSwap { swap, .. } = &r.stage else {
        panic!("{:?}", r.stage)
    };
    assert!(swap.staged);
    assert_eq!(act(&step), &Action::Deploy { record: rec(B) });
}

#[test]
fn a_staged_renewal_expiring_before_the_safe_time_is_loud_but_kept() {
    let mut r = with(Stage::AwaitingCacheExpiry {
        current: current(A),
        incoming: Incoming {
            next: next_key(B),
            swap: Some(SwapRequest {
                trigger: Trigger::Renewal,
                staged: true,
                superseded: vec![],
            }),
        },
        propagated: Propagated {
            first_served_everywhere_at: at(0),
            resolver_ttl_bound: Duration::from_secs(86400),
            bound_set_by: None,
            confirmed_at: None,
            unconfirmed_at: None,
        },
    });
    let view = DiskView {
        deployed: Some(CertSeen {
            record: rec(A),
            not_after: at(3600),
        }),
        staged: Some(seen(B)),
    };
    let step = feed(&mut r, Input::Certificates(view), 10);
    assert!(matches!(
        alerts(&step)[..],
        [Notice::ExpiresBeforeSafe {
            safe_at: Some(_),
            ..
        }]
    ));
    assert_eq!(r.stage.name(), StateName::AwaitingCacheExpiry);
    assert_eq!(wait(&step).waiting_for, Waiting::CacheExpiry);
}

#[test]
fn an_unexpected_key_is_published_at_once_and_the_old_cert_stays() {
    let mut r = ready(A, B);
    let step = feed(&mut r, disk(A, Some(X)), 10);
    assert_eq!(
        alerts(&step),
        vec![&Notice::UnexpectedKey { record: rec(X) }]
    );
    let Stage::AwaitingPublication { current, incoming } = &r.stage else {
        panic!("{:?}", r.stage)
    };
    assert_eq!(current.record, rec(A));
    assert_eq!(incoming.next.record, rec(X));
    assert_eq!(incoming.next.origin, KeyOrigin::Renewal);
    let swap = incoming.swap.as_ref().unwrap();
    assert_eq!(
        (swap.trigger, swap.staged, swap.superseded.clone()),
        (Trigger::UnexpectedKey, true, vec![rec(B)])
    );
    assert_eq!(act(&step), &Action::Publish { record: rec(X) });
}

#[test]
fn an_unexpected_key_during_propagation_supersedes_the_next_key() {
    let mut r = with(Stage::AwaitingSwap {
        current: current(A),
        next: safe(B, 0),
        swap: SwapRequest {
            trigger: Trigger::UnexpectedKey,
            staged: true,
            superseded: vec![rec(C)],
        },
        requested_at: None,
    });
    feed(&mut r, disk(A, Some(X)), 10);
    assert_eq!(r.stage.retiring(), &[rec(C), rec(B)]);
    // ... and after the swap every superseded record is retired with the old current one.
    let mut r = with(Stage::AwaitingSwap {
        current: current(A),
        next: safe(X, 0),
        swap: SwapRequest {
            trigger: Trigger::UnexpectedKey,
            staged: true,
            superseded: vec![rec(C), rec(B)],
        },
        requested_at: None,
    });
    feed(&mut r, Input::Deployed { record: rec(X) }, 20);
    assert_eq!(r.stage.retiring(), &[rec(A), rec(C), rec(B)]);
}

#[test]
fn an_unexpected_key_waits_while_a_swap_is_being_finished() {
    let mut r = with(Stage::AwaitingLiveConfirmation {
        current: current(B),
        retiring: vec![rec(A)],
        checked_at: None,
        attempts: 0,
    });
    let before = r.stage.clone();
    let step = feed(&mut r, disk(B, Some(X)), 10);
    assert_eq!(
        step.notices,
        vec![Notice::UnexpectedKeyDeferred { record: rec(X) }]
    );
    assert_eq!(r.stage, before);
}

#[test]
fn a_staged_certificate_with_a_retiring_key_is_not_deployed() {
    let mut r = with(Stage::AwaitingRetirement {
        current: current(B),
        retiring: vec![rec(A)],
    });
    let step = feed(&mut r, disk(B, Some(A)), 10);
    assert_eq!(
        alerts(&step),
        vec![&Notice::StagedRetiredKey { record: rec(A) }]
    );
    assert_eq!(
        act(&step),
        &Action::Retire {
            record: rec(A),
            keep: vec![rec(B)]
        }
    );
}

#[test]
fn a_same_key_renewal_is_deployed_in_any_state() {
    let mut r = with(Stage::AwaitingPropagation {
        current: current(A),
        incoming: incoming(B),
        published_at: at(0),
        checked_at: Some(at(0)),
        missing: vec![],
    });
    let step = feed(&mut r, disk(A, Some(A)), 10);
    assert_eq!(
        step.notices,
        vec![Notice::SameKeyRenewal { record: rec(A) }]
    );
    assert_eq!(act(&step), &Action::Deploy { record: rec(A) });
    let step = feed(&mut r, Input::Deployed { record: rec(A) }, 11);
    assert!(!r.same_key_renewal);
    assert_eq!(r.stage.name(), StateName::AwaitingPropagation);
    assert_eq!(wait(&step).waiting_for, Waiting::Propagation);
}

#[test]
fn a_deployment_behind_our_back_is_adopted_as_an_emergency() {
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
    // B went live before it was safe: not our doing, but its record must be served now.
    let step = feed(&mut r, disk(B, None), 10);
    assert!(matches!(
        alerts(&step)[..],
        [Notice::UnexpectedDeployment { .. }]
    ));
    assert_eq!(
        r.stage,
        Stage::AwaitingCurrentPublication {
            current: CurrentKey {
                record: rec(B),
                live_since: at(10)
            },
            retiring: vec![rec(A)]
        }
    );
    assert_eq!(act(&step), &Action::Publish { record: rec(B) });
    feed(
        &mut r,
        Input::Published {
            record: rec(B),
            already_present: true,
        },
        11,
    );
    let step = feed(&mut r, observed(&[B], everywhere(11, 300)), 12);
    // The old record goes only after the live service is seen presenting B.
    assert_eq!(act(&step), &Action::VerifyLive { expected: rec(B) });
}

/// Issue #13 item 1: a key seen only on port 25 is never published. The state (and with it
/// every record) stays; an alert says what was seen where; the live check is retried later.
#[test]
fn a_live_key_seen_only_on_the_network_is_never_published_or_adopted() {
    let before = with(Stage::AwaitingLiveConfirmation {
        current: current(B),
        retiring: vec![rec(A)],
        checked_at: None,
        attempts: 0,
    });
    let mut r = before.clone();
    let step = feed(
        &mut r,
        Input::Live {
            presented: rec(X),
            seen: vec!["mx1.example.net[192.0.2.1]:25: presents X".into()],
        },
        10,
    );
    let [
        Notice::UnexpectedLiveKey {
            presented, seen, ..
        },
    ] = &alerts(&step)[..]
    else {
        panic!("{:?}", step.notices)
    };
    assert_eq!(presented, &rec(X));
    assert_eq!(seen.len(), 1);
    assert!(step.notices[0].to_string().contains("NOTHING is published"));
    // Same state: B current, A still to retire after B is seen live; X nowhere.
    let Stage::AwaitingLiveConfirmation {
        current: now_current,
        retiring,
        ..
    } = &r.stage
    else {
        panic!("{:?}", r.stage)
    };
    assert_eq!(now_current, &current(B));
    assert_eq!(retiring, &vec![rec(A)]);
    assert!(!r.stage.known_records().contains(&rec(X)));
    let retry = r.retry.as_ref().expect("a failed live check");
    assert_eq!(retry.action, ActionKind::VerifyLive);
    // Nothing is published or retired: the next step is the backoff, then the live check again.
    assert!(matches!(
        step.next,
        Next::TooEarly(TooEarly {
            waiting_for: Waiting::Retry,
            ..
        })
    ));
    assert_eq!(
        r.plan(at(10 + 60), &policy()),
        Next::Act(Action::VerifyLive { expected: rec(B) })
    );
    // Once the MTA presents B, the swap is confirmed and A is retired.
    let step = feed(
        &mut r,
        Input::Live {
            presented: rec(B),
            seen: vec![],
        },
        70,
    );
    assert!(r.retry.is_none());
    assert_eq!(
        act(&step),
        &Action::Retire {
            record: rec(A),
            keep: vec![rec(B)]
        }
    );
}

#[test]
fn an_unexpected_key_whose_certificate_vanished_is_retired() {
    let mut r = ready(A, B);
    feed(&mut r, disk(A, Some(X)), 10);
    // The ACME client renewed again, keeping the current key: X's certificate is gone.
    let step = feed(&mut r, disk(A, Some(A)), 20);
    assert!(
        step.notices
            .contains(&Notice::StagedCertificateGone { record: rec(X) }),
        "{:?}",
        step.notices
    );
    assert_eq!(
        r.stage,
        Stage::AwaitingRetirement {
            current: current(A),
            retiring: vec![rec(X), rec(B)]
        }
    );
    // The renewal with the current key is deployed first, then the records go.
    assert_eq!(act(&step), &Action::Deploy { record: rec(A) });
}

#[test]
fn a_generated_next_key_whose_staged_certificate_vanished_requests_a_new_one() {
    let mut r = with(Stage::AwaitingSwap {
        current: current(A),
        next: safe(B, 0),
        swap: SwapRequest {
            trigger: Trigger::Renewal,
            staged: true,
            superseded: vec![],
        },
        requested_at: None,
    });
    let step = feed(&mut r, disk(A, None), 10);
    let Stage::AwaitingSwap { swap, .. } = &r.stage else {
        panic!("{:?}", r.stage)
    };
    assert!(!swap.staged);
    assert_eq!(act(&step), &Action::RequestCertificate { record: rec(B) });
}

#[test]
fn deploy_waits_when_the_clock_reads_before_the_safe_time() {
    let r = with(Stage::AwaitingSwap {
        current: current(A),
        next: safe(B, 600),
        swap: SwapRequest {
            trigger: Trigger::Renewal,
            staged: true,
            superseded: vec![],
        },
        requested_at: None,
    });
    assert_eq!(
        r.plan(at(599), &policy()),
        Next::TooEarly(TooEarly {
            until: at(600),
            waiting_for: Waiting::CacheExpiry
        })
    );
    assert_eq!(
        r.plan(at(600), &policy()),
        Next::Act(Action::Deploy { record: rec(B) })
    );
}

/// Issue #13 item 4: the new certificate is in the files but the reload failed. Seeing the next
/// key in the files is not "live" (with `live_check = "files"` nothing else would look): the
/// swap stays pending and the deploy, with its reload, is retried after the backoff.
#[test]
fn a_failed_reload_after_the_install_is_not_taken_as_live() {
    let mut r = with(Stage::AwaitingSwap {
        current: current(A),
        next: safe(B, 0),
        swap: SwapRequest {
            trigger: Trigger::Renewal,
            staged: true,
            superseded: vec![],
        },
        requested_at: None,
    });
    feed(
        &mut r,
        Input::Failed {
            action: ActionKind::Deploy,
            error: "command \"postfix reload\" failed: exit status: 1".into(),
        },
        10,
    );
    // Next run: the files hold B (installed before the reload failed), no staged copy left.
    let step = feed(&mut r, disk(B, None), 15);
    assert_eq!(r.stage.name(), StateName::AwaitingSwap);
    assert!(alerts(&step).is_empty(), "{:?}", step.notices);
    assert_eq!(r.retry.as_ref().map(|f| f.action), Some(ActionKind::Deploy));
    assert!(matches!(
        step.next,
        Next::TooEarly(TooEarly {
            waiting_for: Waiting::Retry,
            ..
        })
    ));
    let step = feed(&mut r, disk(B, None), 45);
    assert_eq!(act(&step), &Action::Deploy { record: rec(B) });
    // The reload succeeds: now the swap is confirmed and A retired after the live check.
    let step = feed(&mut r, Input::Deployed { record: rec(B) }, 46);
    assert!(r.retry.is_none());
    assert_eq!(act(&step), &Action::VerifyLive { expected: rec(B) });
}
