//! The driver against the fake world: whole runs, crashes at every step, busy hosts, failures.

use std::pin::pin;
use std::task::{Context, Poll, Waker};

use time::macros::datetime;

use super::fake::{CrashPoint, FakeWorld};
use super::*;
use crate::rollover::clock::later;
use crate::rollover::history::Event;
use crate::rollover::input::Action;

mod properties;

const HOST: &str = "mx1.example.net";
const START: OffsetDateTime = datetime!(2026-05-01 12:00 UTC);

pub(super) fn rec(n: u8) -> Tlsa {
    Tlsa::new(3, 1, 1, vec![n; 32])
}

/// A state dir on tmpfs when there is one (fsync there is cheap), else in the temp dir.
pub(super) fn temp() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    let builder = tempfile::Builder::new()
        .prefix("daneroll-test-")
        .tempdir_in(shm);
    // invariant: the system temp dir is writable in tests.
    builder.or_else(|_| tempfile::tempdir()).expect("temp dir")
}

/// Polls a run once: the fake world never blocks, so a run either finishes or has crashed.
pub(super) fn run_once<F: Future>(run: F) -> Option<F::Output> {
    let mut run = pin!(run);
    match run.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

fn run(
    store: &Store,
    world: &mut FakeWorld,
    command: Command,
    mode: Mode,
) -> Option<Result<RunReport, DriverError>> {
    let policy = Policy::default();
    world.start_run();
    let mut driver = Driver::new(store, world, &policy, LockWait::NoWait);
    run_once(driver.run(HOST, command, mode))
}

fn finished(outcome: Option<Result<RunReport, DriverError>>) -> RunReport {
    match outcome {
        Some(Ok(report)) => report,
        Some(Err(error)) => panic!("run failed: {error}"),
        None => panic!("run crashed"),
    }
}

fn saved(store: &Store) -> Rollover {
    store.read_state(HOST).unwrap().unwrap().rollover
}

fn events(store: &Store) -> Vec<Event> {
    store
        .read_history(HOST)
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.event)
        .collect()
}

/// The steady state, in the state file and in the world.
fn assert_steady(store: &Store, world: &FakeWorld) -> (Tlsa, Tlsa) {
    let Stage::Ready { current, next } = saved(store).stage else {
        panic!("not ready: {:?}", saved(store).stage)
    };
    assert_eq!(world.live.as_ref(), Some(&current.record));
    assert_eq!(world.deployed.as_ref(), Some(&current.record));
    let mut expected = vec![current.record.clone(), next.record.clone()];
    expected.sort();
    assert_eq!(world.rrset(), expected);
    assert!(world.violations.is_empty(), "{:?}", world.violations);
    (current.record, next.record)
}

#[test]
fn tick_adopts_a_new_host_and_stops_at_the_first_wait() {
    let dir = temp();
    let store = Store::open(dir.path()).unwrap();
    let mut world = FakeWorld::new(store.clone(), START, rec(0xA));
    let report = finished(run(&store, &mut world, Command::Tick, Mode::Once));
    assert_eq!(report.state, StateName::AwaitingPropagation);
    let wait = report.come_back.unwrap();
    assert_eq!(wait.waiting_for, Waiting::Propagation);
    assert_eq!(wait.until, later(START, Policy::default().poll_interval));
    assert!(!report.needs_action(), "{:?}", report.notices);
    assert_eq!(saved(&store).stage.name(), StateName::AwaitingPropagation);

    let intents: Vec<_> = events(&store)
        .into_iter()
        .filter_map(|e| match e {
            Event::Intent(action) => Some(action.kind()),
            _ => None,
        })
        .collect();
    use crate::rollover::ActionKind::*;
    assert_eq!(
        intents,
        vec![
            Inspect,
            Preflight,
            Publish,
            Observe,
            GenerateNextKey,
            Publish,
            Observe
        ]
    );
    // Every intent is followed by its outcome.
    let history = events(&store);
    for (i, event) in history.iter().enumerate() {
        if matches!(event, Event::Intent(_)) {
            assert!(
                matches!(history[i + 1], Event::Outcome(_)),
                "{:?}",
                &history[i..]
            );
        }
    }
    // A second tick right away has nothing to do but look at the disk.
    let report = finished(run(&store, &mut world, Command::Tick, Mode::Once));
    assert_eq!(report.actions, 1);
}

#[test]
fn ticks_reach_the_steady_state_and_stay_there() {
    let dir = temp();
    let store = Store::open(dir.path()).unwrap();
    let mut world = FakeWorld::new(store.clone(), START, rec(0xA));
    // Bounded: the cache-expiry wait takes a look every poll_interval until the safe time.
    for _ in 0..1000 {
        let report = finished(run(&store, &mut world, Command::Tick, Mode::Once));
        world.now = world.now.max(report.come_back.unwrap().until);
        if matches!(saved(&store).stage, Stage::Ready { .. }) {
            break;
        }
    }
    let (current, _) = assert_steady(&store, &world);
    assert_eq!(current, rec(0xA));
}

#[test]
fn a_foreground_rollover_on_a_new_host_goes_all_the_way() {
    let dir = temp();
    let store = Store::open(dir.path()).unwrap();
    let mut world = FakeWorld::new(store.clone(), START, rec(0xA));
    let report = finished(run(
        &store,
        &mut world,
        Command::Rollover(Trigger::Operator),
        Mode::Foreground,
    ));
    assert_eq!(report.state, StateName::Ready);
    let (current, _) = assert_steady(&store, &world);
    assert_ne!(current, rec(0xA));
    // The old record went only after the live check showed the new key.
    let log = world.log.join("\n");
    let verified = log.find("verify live").unwrap();
    let retired = log.find(&format!("retire {}", rec(0xA).short())).unwrap();
    assert!(verified < retired, "{log}");
}

#[test]
fn a_crash_at_any_step_resumes_to_the_same_end() {
    let dir = temp();
    let store = Store::open(dir.path()).unwrap();
    let mut world = FakeWorld::new(store.clone(), START, rec(0xA));
    let command = Command::Rollover(Trigger::Operator);
    finished(run(&store, &mut world, command, Mode::Foreground));
    let calls = world.log.len() as u32;
    assert!(calls > 15, "{calls}");

    for call in 1..=calls {
        for after_effect in [false, true] {
            let dir = temp();
            let store = Store::open(dir.path()).unwrap();
            let mut world = FakeWorld::new(store.clone(), START, rec(0xA));
            world.crash = Some(CrashPoint { call, after_effect });
            assert!(run(&store, &mut world, command, Mode::Foreground).is_none());
            assert!(world.crashed);
            // Rerun: finish what was recorded, then the rollover if it was lost in the crash.
            finished(run(&store, &mut world, Command::Tick, Mode::Foreground));
            if assert_steady(&store, &world).0 == rec(0xA) {
                finished(run(&store, &mut world, command, Mode::Foreground));
            }
            let (current, _) = assert_steady(&store, &world);
            assert_ne!(current, rec(0xA), "crash at {call} (after: {after_effect})");
        }
    }
}

#[test]
fn a_busy_host_is_reported_and_left_alone() {
    let dir = temp();
    let store = Store::open(dir.path()).unwrap();
    let mut world = FakeWorld::new(store.clone(), START, rec(0xA));
    let held = store.lock(HOST, LockWait::NoWait).unwrap();
    let error = run(&store, &mut world, Command::Tick, Mode::Once)
        .unwrap()
        .unwrap_err();
    assert!(error.is_busy(), "{error}");
    assert!(world.log.is_empty());
    drop(held);
    assert!(store.read_state(HOST).unwrap().is_none());
}

#[test]
fn dns_failures_are_logged_and_retried_later() {
    let dir = temp();
    let store = Store::open(dir.path()).unwrap();
    let mut world = FakeWorld::new(store.clone(), START, rec(0xA));
    world.faults.dns_down = true;
    let report = finished(run(&store, &mut world, Command::Tick, Mode::Once));
    assert_eq!(report.failures, 1);
    assert_eq!(report.come_back.unwrap().waiting_for, Waiting::Retry);
    assert!(events(&store).iter().any(|e| matches!(
        e,
        Event::Outcome(Input::Failed { error, .. }) if error.contains("ns1.fake.example.")
    )));
    // Foreground sits through the short backoffs (30 s, 1 min) and returns at the first long
    // one (5 min), saying what it waits for, instead of retrying hourly through an outage.
    let report = finished(run(&store, &mut world, Command::Tick, Mode::Foreground));
    assert_eq!(report.failures, 2, "{report:?}");
    let wait = report.come_back.unwrap();
    assert_eq!(wait.waiting_for, Waiting::Retry);
    assert_eq!(
        wait.until,
        later(world.now, std::time::Duration::from_secs(300))
    );
    world.faults.dns_down = false;
    world.now = later(world.now, std::time::Duration::from_secs(3600));
    finished(run(&store, &mut world, Command::Tick, Mode::Foreground));
    assert_steady(&store, &world);
}

#[test]
fn a_hook_that_calls_back_during_the_request_is_not_undone() {
    let dir = temp();
    let store = Store::open(dir.path()).unwrap();
    let mut world = FakeWorld::new(store.clone(), START, rec(0xA));
    world.hook_deploys = true;
    finished(run(
        &store,
        &mut world,
        Command::Rollover(Trigger::Operator),
        Mode::Foreground,
    ));
    let (current, _) = assert_steady(&store, &world);
    assert_ne!(current, rec(0xA));
    assert!(events(&store).iter().any(|e| matches!(
        e,
        Event::Error { error } if error.contains("moved on")
    )));
    assert!(
        !events(&store)
            .iter()
            .any(|e| matches!(e, Event::Intent(Action::Deploy { .. })))
    );
}
