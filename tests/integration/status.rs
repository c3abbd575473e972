//! `daneroll status` and `daneroll history` over a state directory written by the engine's own
//! store: what an operator sees after cron ran `tick`.

use daneroll::rollover::Rollover;
use daneroll::rollover::history::{Entry, Event};
use daneroll::rollover::input::{Action, Input};
use daneroll::rollover::state::{CurrentKey, KeyOrigin, SafeKey, Stage, StateName};
use daneroll::rollover::store::{LockWait, Store};
use daneroll_providers::Tlsa;
use time::macros::datetime;

use crate::util::{Dir, run};

const HOST: &str = "mx1.example.net";

fn rec(n: u8) -> Tlsa {
    Tlsa::new(3, 1, 1, vec![n; 32])
}

/// A state dir with one host in the steady state and a short history.
fn state_dir() -> Dir {
    let dir = Dir::new();
    let store = Store::open(dir.path()).unwrap();
    let lock = store.lock(HOST, LockWait::NoWait).unwrap();
    let mut rollover = Rollover::new(HOST);
    rollover.stage = Stage::Ready {
        current: CurrentKey {
            record: rec(0xA),
            live_since: datetime!(2026-01-01 0:00 UTC),
        },
        next: SafeKey {
            record: rec(0xB),
            origin: KeyOrigin::Generated,
            safe_since: datetime!(2026-01-01 1:00 UTC),
            checked_at: datetime!(2026-01-01 1:00 UTC),
        },
    };
    store
        .save(&lock, &rollover, datetime!(2026-01-01 1:00 UTC))
        .unwrap();
    let at = datetime!(2026-01-01 0:50 UTC);
    for event in [
        Event::Intent(Action::Publish { record: rec(0xB) }),
        Event::Outcome(Input::Published {
            record: rec(0xB),
            already_present: false,
        }),
        Event::Transition {
            from: StateName::AwaitingCacheExpiry,
            to: StateName::Ready,
        },
    ] {
        let entry = Entry {
            at,
            host: HOST.into(),
            event,
        };
        store.append_history(&lock, &entry).unwrap();
    }
    dir
}

#[test]
fn status_shows_each_host_in_text_and_json() {
    let dir = state_dir();
    let state_dir = dir.path().to_str().unwrap();
    let text = run(&["status", "--state-dir", state_dir]);
    text.ok();
    assert!(
        text.stdout.starts_with("mx1.example.net: ready ("),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains(&rec(0xB).short()), "{}", text.stdout);

    let json = run(&["status", "--state-dir", state_dir, "--json"]);
    json.ok();
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value[0]["host"], HOST);
    assert_eq!(value[0]["state"], "ready");
    assert_eq!(value[0]["current"]["record"], rec(0xA).to_string());
}

#[test]
fn status_of_an_unknown_host_is_bad_input() {
    let dir = state_dir();
    let state_dir = dir.path().to_str().unwrap();
    let out = run(&[
        "status",
        "--state-dir",
        state_dir,
        "--host",
        "mx9.example.net",
    ]);
    out.expect_status(2);
    assert!(out.stderr.contains("mx9.example.net"), "{}", out.stderr);
}

#[test]
fn history_lists_intents_and_outcomes_in_order() {
    let dir = state_dir();
    let state_dir = dir.path().to_str().unwrap();
    let out = run(&["history", "--state-dir", state_dir, "--host", HOST]);
    out.ok();
    let lines = out.lines();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    assert!(
        lines[0].contains("intent") && lines[0].contains("publish 3 1 1 0B0B"),
        "{}",
        lines[0]
    );
    assert!(
        lines[2].ends_with("awaiting_cache_expiry -> ready"),
        "{}",
        lines[2]
    );

    let json = run(&["history", "--state-dir", state_dir, "--json"]);
    json.ok();
    for line in json.lines() {
        let entry: Entry = serde_json::from_str(line).unwrap();
        assert_eq!(entry.host, HOST);
    }
}

/// #13: `history` reads the config's `state_dir`, as `status` does (it read the default).
#[test]
fn history_reads_the_configs_state_dir() {
    let dir = state_dir();
    let config = Dir::new();
    let path = config.write(
        "daneroll.toml",
        format!("state_dir = {:?}\n", dir.path().to_str().unwrap()),
    );
    let config = path.to_str().unwrap();
    let out = run(&["--config", config, "history", "--host", HOST]);
    out.ok();
    assert_eq!(out.lines().len(), 3, "{}", out.stdout);
    let status = run(&["--config", config, "status", "--host", HOST]);
    status.ok();
}

#[test]
fn status_with_a_config_that_cannot_be_read_is_bad_input() {
    let dir = state_dir();
    let state_dir = dir.path().to_str().unwrap();
    let out = run(&[
        "--config",
        "/nonexistent/daneroll.toml",
        "status",
        "--state-dir",
        state_dir,
    ]);
    out.expect_status(2);
    assert!(
        out.stderr.contains("/nonexistent/daneroll.toml"),
        "{}",
        out.stderr
    );
}

#[test]
fn status_reads_the_state_dir_from_the_config() {
    let dir = state_dir();
    let config = dir.write(
        "daneroll.toml",
        format!("state_dir = {:?}\n", dir.path().display().to_string()),
    );
    let out = run(&["--config", config.to_str().unwrap(), "status", "--json"]);
    out.ok();
    let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(value[0]["host"], HOST);
    // No [host.source] type: no ACME client to report on.
    assert!(value[0].get("acme").is_none(), "{}", out.stdout);
}
