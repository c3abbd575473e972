//! The operator's `rollover` request is remembered until the steady state after its swap, so a
//! re-run after a crash finishes it instead of changing the key again (issue #13 item 10).

use super::*;

#[test]
fn the_operators_request_is_kept_until_the_steady_state_after_its_swap() {
    let mut r = ready(A, B);
    feed(
        &mut r,
        Input::Rollover {
            trigger: Trigger::Operator,
        },
        10,
    );
    assert_eq!(r.stage.name(), StateName::AwaitingSwap);
    assert!(r.requested.as_ref().is_some_and(|q| !q.swapped));
    assert!(r.interrupted_request().is_none());

    feed(&mut r, Input::Deployed { record: rec(B) }, 20);
    // The swap happened: a run killed from here on left the request unfinished.
    assert_eq!(r.interrupted_request().map(|q| q.at), Some(at(10)));
    feed(
        &mut r,
        Input::Live {
            presented: rec(B),
            seen: vec![],
        },
        21,
    );
    feed(
        &mut r,
        Input::Retired {
            record: rec(A),
            already_absent: false,
        },
        22,
    );
    feed(&mut r, Input::KeyGenerated { record: rec(C) }, 23);
    assert!(r.interrupted_request().is_some());
    feed(
        &mut r,
        Input::Published {
            record: rec(C),
            already_present: false,
        },
        24,
    );
    feed(&mut r, observed(&[C], everywhere(25, 10)), 25);
    assert!(r.interrupted_request().is_some());
    feed(&mut r, observed(&[C], everywhere(25, 10)), 50);
    assert_eq!(r.stage.name(), StateName::Ready);
    // Done: a later `rollover` is a new request.
    assert_eq!(r.requested, None);
}

#[test]
fn a_swap_not_asked_by_the_operator_records_no_request() {
    let mut r = ready(A, B);
    feed(
        &mut r,
        Input::Rollover {
            trigger: Trigger::KeyAge,
        },
        10,
    );
    feed(&mut r, Input::Deployed { record: rec(B) }, 20);
    assert_eq!(r.requested, None);
}
