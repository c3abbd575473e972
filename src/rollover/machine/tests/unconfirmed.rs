//! Issue #16 item 4: the DNS observer, not the provider API's "200 OK", decides when a change is
//! live. A backend answering an add with success (`Published`, not already present) only moves
//! the rollover to watching DNS; it advances once the observation shows the record served by
//! every authoritative server, and a look that still misses it on one server keeps it waiting
//! (a provider that applies changes asynchronously).

use super::*;

#[test]
fn an_accepted_add_is_not_live_until_the_observer_sees_it_everywhere() {
    let mut r = with(Stage::AwaitingPublication {
        current: current(A),
        incoming: incoming(B),
    });
    let step = feed(
        &mut r,
        Input::Published {
            record: rec(B),
            already_present: false,
        },
        1,
    );
    assert_eq!(r.stage.name(), StateName::AwaitingPropagation);
    assert!(
        matches!(act(&step), Action::Observe { records } if records.contains(&rec(B))),
        "{:?}",
        step.next
    );
    // The API said yes; one server does not serve it yet: still waiting to look again.
    let step = feed(&mut r, observed(&[B], missing(B, "ns2")), 2);
    assert_eq!(r.stage.name(), StateName::AwaitingPropagation);
    assert!(
        matches!(
            &step.next,
            Next::TooEarly(_) | Next::Act(Action::Observe { .. })
        ),
        "{:?}",
        step.next
    );
    // Served everywhere: only now does the wait for caches start.
    feed(&mut r, observed(&[B], everywhere(3, 300)), 3);
    assert_eq!(r.stage.name(), StateName::AwaitingCacheExpiry);
}
