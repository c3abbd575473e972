//! Inputs a state does not wait for are typed errors that change nothing; every state
//! survives a round trip through its stored form.

use super::*;

/// One state of each kind, for the wrong-state table.
fn one_of_each() -> Vec<Rollover> {
    let propagated = Propagated {
        first_served_everywhere_at: at(0),
        resolver_ttl_bound: Duration::from_secs(300),
        bound_set_by: None,
        confirmed_at: None,
        unconfirmed_at: None,
    };
    let swap = SwapRequest {
        trigger: Trigger::Operator,
        staged: false,
        superseded: vec![],
    };
    [
        Stage::AwaitingCurrentKey,
        Stage::AwaitingCurrentPublication {
            current: current(A),
            retiring: vec![],
        },
        Stage::AwaitingCurrentPropagation {
            current: current(A),
            retiring: vec![],
            published_at: at(0),
            checked_at: None,
            missing: vec![],
        },
        Stage::AwaitingNextKey {
            current: current(A),
            swap: None,
        },
        Stage::AwaitingPublication {
            current: current(A),
            incoming: incoming(B),
        },
        Stage::AwaitingPropagation {
            current: current(A),
            incoming: incoming(B),
            published_at: at(0),
            checked_at: None,
            missing: vec![],
        },
        Stage::AwaitingCacheExpiry {
            current: current(A),
            incoming: incoming(B),
            propagated,
        },
        Stage::Ready {
            current: current(A),
            next: safe(B, 0),
        },
        Stage::AwaitingSwap {
            current: current(A),
            next: safe(B, 0),
            swap,
            requested_at: None,
        },
        Stage::AwaitingLiveConfirmation {
            current: current(B),
            retiring: vec![rec(A)],
            checked_at: None,
            attempts: 0,
        },
        Stage::AwaitingRetirement {
            current: current(B),
            retiring: vec![rec(A)],
        },
    ]
    .into_iter()
    .map(with)
    .collect()
}

/// Every input that only some states accept, with the states that accept it.
#[test]
fn inputs_in_the_wrong_state_are_typed_errors_and_change_nothing() {
    use StateName::*;
    let cases: Vec<(Input, Vec<StateName>)> = vec![
        (
            Input::Rollover {
                trigger: Trigger::Operator,
            },
            vec![
                AwaitingNextKey,
                AwaitingPublication,
                AwaitingPropagation,
                AwaitingCacheExpiry,
                Ready,
                AwaitingSwap,
            ],
        ),
        (
            Input::KeyGenerated { record: rec(C) },
            vec![AwaitingNextKey],
        ),
        (
            Input::Published {
                record: rec(B),
                already_present: true,
            },
            vec![AwaitingPublication],
        ),
        (
            Input::Published {
                record: rec(A),
                already_present: true,
            },
            vec![AwaitingCurrentPublication],
        ),
        (
            observed(&[B], everywhere(0, 300)),
            vec![AwaitingPropagation, AwaitingCacheExpiry, AwaitingSwap],
        ),
        (
            observed(&[A], everywhere(0, 300)),
            vec![AwaitingCurrentPropagation],
        ),
        (observed(&[A, B], everywhere(0, 300)), vec![Ready]),
        (
            Input::CertificateRequested { record: rec(B) },
            vec![AwaitingSwap],
        ),
        (
            Input::Deployed { record: rec(B) },
            // Accepted as the swap, or as a same-key redeploy where B is current.
            vec![AwaitingSwap, AwaitingLiveConfirmation, AwaitingRetirement],
        ),
        (
            Input::Live {
                presented: rec(B),
                seen: vec![],
            },
            vec![AwaitingLiveConfirmation],
        ),
        (
            Input::Retired {
                record: rec(A),
                already_absent: false,
            },
            vec![AwaitingRetirement],
        ),
    ];
    for (input, accepted_in) in cases {
        for state in one_of_each() {
            let name = state.stage.name();
            let mut r = state.clone();
            let result = r.step(input.clone(), at(10_000), &policy());
            if accepted_in.contains(&name) {
                assert!(result.is_ok(), "{} in {name}: {result:?}", input.name());
            } else {
                let err = result.expect_err(&format!("{} accepted in {name}", input.name()));
                assert_eq!(r, state, "{} in {name} changed the state", input.name());
                let text = err.to_string();
                assert!(
                    text.contains("mx1.example.net") && text.contains(name.as_str()),
                    "{text}"
                );
            }
        }
    }
    // Inputs every state accepts.
    for input in [
        Input::Tick,
        secure(),
        disk(A, None),
        Input::Failed {
            action: ActionKind::Observe,
            error: "timeout".into(),
        },
    ] {
        for state in one_of_each() {
            let mut r = state.clone();
            assert!(
                r.step(input.clone(), at(10_000), &policy()).is_ok(),
                "{} in {}",
                input.name(),
                state.stage.name()
            );
        }
    }
}

#[test]
fn wrong_state_errors_say_what_was_expected_and_what_came() {
    let mut r = with(Stage::AwaitingLiveConfirmation {
        current: current(B),
        retiring: vec![rec(A)],
        checked_at: None,
        attempts: 0,
    });
    let err = r
        .step(
            Input::Rollover {
                trigger: Trigger::Operator,
            },
            at(0),
            &policy(),
        )
        .unwrap_err();
    assert!(matches!(
        err,
        MachineError::WrongState {
            state: StateName::AwaitingLiveConfirmation,
            input: "rollover",
            ..
        }
    ));
    assert!(err.to_string().contains("expected a current key"), "{err}");
}

#[test]
fn outcomes_about_other_records_are_refused() {
    let mut r = with(Stage::AwaitingPublication {
        current: current(A),
        incoming: incoming(B),
    });
    let err = r
        .step(
            Input::Published {
                record: rec(C),
                already_present: false,
            },
            at(0),
            &policy(),
        )
        .unwrap_err();
    assert!(matches!(err, MachineError::WrongRecord { .. }), "{err}");
    assert!(err.to_string().contains(&rec(C).short()), "{err}");

    // The live key's record is never retired, whatever the outcome says.
    let mut r = with(Stage::AwaitingRetirement {
        current: current(B),
        retiring: vec![rec(A)],
    });
    let err = r
        .step(
            Input::Retired {
                record: rec(B),
                already_absent: false,
            },
            at(0),
            &policy(),
        )
        .unwrap_err();
    assert!(matches!(err, MachineError::WrongRecord { .. }));

    // A generator that hands back the current key is refused.
    let mut r = with(Stage::AwaitingNextKey {
        current: current(A),
        swap: None,
    });
    assert!(
        r.step(Input::KeyGenerated { record: rec(A) }, at(0), &policy())
            .is_err()
    );
}

#[test]
fn every_state_round_trips_through_json() {
    for state in one_of_each() {
        let json = serde_json::to_string(&state).unwrap();
        let back: Rollover = serde_json::from_str(&json).unwrap();
        assert_eq!(back, state, "{json}");
        assert!(
            json.contains(&format!("\"state\":\"{}\"", state.stage.name())),
            "{json}"
        );
    }
}
