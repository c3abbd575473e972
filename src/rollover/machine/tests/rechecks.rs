//! Issue #13 item 6: one bad poll is not a vanished record. In `ready`, a server that times out
//! (or answers SERVFAIL, or unvalidated) on the steady-state recheck leaves the state alone; the
//! record counts as gone only when its absence is validated, or the same server gives the same
//! answer on consecutive looks.

use super::*;

fn unproven(n: u8, server: &str, answer: &str) -> PropagationReport {
    PropagationReport::Incomplete {
        missing: vec![Missing {
            server: server.into(),
            record: rec(n),
            proven: false,
            answer: answer.into(),
        }],
    }
}

const NS2: &str = "ns2.example.net. (192.0.2.54)";
const SIX_HOURS: u64 = 6 * 3600;

#[test]
fn one_timeout_on_the_recheck_keeps_ready_and_looks_again_soon() {
    let mut r = ready(A, B);
    assert_eq!(
        r.plan(at(SIX_HOURS), &policy()),
        Next::Act(Action::Observe {
            records: vec![rec(A), rec(B)]
        })
    );
    let step = feed(
        &mut r,
        observed(&[A, B], unproven(B, NS2, "no answer")),
        SIX_HOURS,
    );
    assert_eq!(r.stage, ready(A, B).stage, "the safe next key stays safe");
    assert!(alerts(&step).is_empty(), "{:?}", step.notices);
    assert!(matches!(
        step.notices[..],
        [Notice::RecheckUnconfirmed { .. }]
    ));
    assert!(step.notices[0].to_string().contains("no answer"));
    // The next look comes after poll_interval, not after another six hours.
    assert_eq!(
        step.next,
        Next::TooEarly(TooEarly {
            until: at(SIX_HOURS + 60),
            waiting_for: Waiting::Steady
        })
    );
    // It answers this time: all is well, back to the six-hourly rhythm.
    let step = feed(
        &mut r,
        observed(&[A, B], everywhere(0, 300)),
        SIX_HOURS + 60,
    );
    assert!(r.unconfirmed.is_none());
    assert_eq!(
        step.next,
        Next::TooEarly(TooEarly {
            until: at(2 * SIX_HOURS + 60),
            waiting_for: Waiting::Steady
        })
    );
}

#[test]
fn the_same_answer_from_the_same_server_twice_is_a_vanished_record() {
    let mut r = ready(A, B);
    feed(
        &mut r,
        observed(&[A, B], unproven(B, NS2, "not authoritative (SERVFAIL)")),
        SIX_HOURS,
    );
    // Another answer from that server: still nothing proven.
    feed(
        &mut r,
        observed(&[A, B], unproven(B, NS2, "no answer")),
        SIX_HOURS + 60,
    );
    assert_eq!(r.stage.name(), StateName::Ready);
    // The same answer again: now it is a fact, and the emergency path starts.
    let step = feed(
        &mut r,
        observed(&[A, B], unproven(B, NS2, "no answer")),
        SIX_HOURS + 120,
    );
    assert!(
        matches!(alerts(&step)[..], [Notice::RecordVanished { .. }]),
        "{:?}",
        step.notices
    );
    assert_eq!(r.stage.name(), StateName::AwaitingPublication);
    assert!(r.unconfirmed.is_none());
}

#[test]
fn a_validated_absence_is_acted_on_at_once() {
    let mut r = ready(A, B);
    let step = feed(&mut r, observed(&[A, B], missing(B, NS2)), SIX_HOURS);
    assert!(matches!(alerts(&step)[..], [Notice::RecordVanished { .. }]));
    assert_eq!(r.stage.name(), StateName::AwaitingPublication);
}
