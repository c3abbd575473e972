//! The state directory on a real file system: modes, atomic writes, history, locks.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::thread;

use time::macros::datetime;

use super::*;
use crate::rollover::history::{Entry, Event};
use crate::rollover::input::{Action, ActionKind, Input, Notice, TooEarly, Waiting};
use crate::rollover::state::{CurrentKey, Stage, StateName};

const HOST: &str = "mx1.example.net";

fn rec(n: u8) -> Tlsa {
    Tlsa::new(3, 1, 1, vec![n; 32])
}

fn temp() -> tempfile::TempDir {
    // invariant: the system temp dir is writable in tests.
    tempfile::tempdir().expect("temp dir")
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn rollover(n: u8) -> Rollover {
    let mut r = Rollover::new(HOST);
    r.stage = Stage::AwaitingNextKey {
        current: CurrentKey {
            record: rec(n),
            live_since: datetime!(2026-05-01 12:00 UTC),
        },
        swap: None,
    };
    r
}

const NOW: OffsetDateTime = datetime!(2026-05-01 12:00 UTC);

#[test]
fn state_round_trips_with_private_modes() {
    let dir = temp();
    let store = Store::open(dir.path().join("state")).unwrap();
    let lock = store.lock(HOST, LockWait::NoWait).unwrap();
    assert_eq!(store.load(&lock).unwrap(), None);
    store.save(&lock, &rollover(1), NOW).unwrap();
    assert_eq!(store.load(&lock).unwrap(), Some(rollover(1)));

    let state = store.state_path(HOST).unwrap();
    assert_eq!(mode(&state), 0o600);
    assert_eq!(mode(store.dir()), 0o700);
    assert_eq!(mode(&store.host_dir(HOST).unwrap()), 0o700);
    let text = fs::read_to_string(&state).unwrap();
    assert!(
        text.trim_start().starts_with("{\n  \"schema\": 1,"),
        "{text}"
    );
    assert_eq!(store.hosts().unwrap(), vec![HOST.to_string()]);
    let saved = store.read_state(HOST).unwrap().unwrap();
    assert_eq!(saved.saved_at, NOW);
}

#[test]
fn an_existing_loose_state_dir_is_tightened() {
    let dir = temp();
    let path = dir.path().join("state");
    fs::create_dir(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    Store::open(&path).unwrap();
    assert_eq!(mode(&path), 0o700);
}

#[test]
fn readers_never_see_a_partial_state_file() {
    let dir = temp();
    let store = Store::open(dir.path()).unwrap();
    let lock = store.lock(HOST, LockWait::NoWait).unwrap();
    store.save(&lock, &rollover(0), NOW).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let store = store.clone();
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let mut reads = 0u32;
            while !done.load(Ordering::Relaxed) || reads == 0 {
                // Every read is a whole file: the old state or the new one.
                let saved = store.read_state(HOST).unwrap().unwrap();
                assert_eq!(saved.rollover.host, HOST);
                reads += 1;
            }
            reads
        })
    };
    for n in 0..100u8 {
        store.save(&lock, &rollover(n), NOW).unwrap();
    }
    done.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    // No temp file is left behind.
    let leftovers: Vec<_> = fs::read_dir(store.host_dir(HOST).unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_stray_temp_file_from_a_crash_is_ignored() {
    let dir = temp();
    let store = Store::open(dir.path()).unwrap();
    let lock = store.lock(HOST, LockWait::NoWait).unwrap();
    store.save(&lock, &rollover(1), NOW).unwrap();
    let host_dir = store.host_dir(HOST).unwrap();
    fs::write(
        host_dir.join(".state.json.tmp.999.0"),
        "{\"schema\": 1, \"rollo",
    )
    .unwrap();
    assert_eq!(store.load(&lock).unwrap(), Some(rollover(1)));
    store.save(&lock, &rollover(2), NOW).unwrap();
    assert_eq!(store.load(&lock).unwrap(), Some(rollover(2)));
}

#[test]
fn unreadable_state_files_are_errors_naming_the_file() {
    let dir = temp();
    let store = Store::open(dir.path()).unwrap();
    let lock = store.lock(HOST, LockWait::NoWait).unwrap();
    let path = store.state_path(HOST).unwrap();

    fs::write(&path, "{\"schema\": 7, \"whatever\": true}").unwrap();
    let err = store.load(&lock).unwrap_err();
    assert!(matches!(err, StoreError::Schema { found: 7, .. }), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );

    fs::write(&path, "not json").unwrap();
    let err = store.load(&lock).unwrap_err();
    assert!(matches!(err, StoreError::Parse { .. }), "{err}");
    assert!(err.to_string().contains("state.json"), "{err}");

    let mut other = rollover(1);
    other.host = "mx2.example.net".into();
    let file =
        serde_json::json!({"schema": 1, "saved_at": "2026-05-01T12:00:00Z", "rollover": other});
    fs::write(&path, file.to_string()).unwrap();
    let err = store.load(&lock).unwrap_err();
    assert!(matches!(err, StoreError::HostMismatch { .. }), "{err}");
    // Saving the wrong host's state under this lock is refused too.
    assert!(store.save(&lock, &other, NOW).is_err());
}

#[test]
fn host_names_cannot_escape_the_state_dir() {
    let dir = temp();
    let store = Store::open(dir.path()).unwrap();
    for bad in [
        "",
        "..",
        "../etc",
        "a/b",
        ".hidden",
        "mx1..example",
        "mx 1",
        "mx1\0",
    ] {
        let err = store.lock(bad, LockWait::NoWait).unwrap_err();
        assert!(matches!(err, StoreError::BadHostName(_)), "{bad:?}: {err}");
    }
    assert!(store.lock("mx-1.example_net.", LockWait::NoWait).is_ok());
}

#[test]
fn private_keys_are_0600_in_a_0700_dir() {
    let dir = temp();
    let store = Store::open(dir.path()).unwrap();
    let lock = store.lock(HOST, LockWait::NoWait).unwrap();
    let pem = b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
    let path = store.write_private_key(&lock, &rec(7), pem).unwrap();
    assert_eq!(path, store.private_key_path(HOST, &rec(7)).unwrap());
    assert_eq!(fs::read(&path).unwrap(), pem);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    assert!(
        path.file_name()
            .unwrap()
            .to_string_lossy()
            .contains(&rec(7).data_hex())
    );
}

fn entries() -> Vec<Entry> {
    let at = NOW;
    let host = HOST.to_string();
    let events = vec![
        Event::Command(Input::Tick),
        Event::Intent(Action::Publish { record: rec(2) }),
        Event::Outcome(Input::Failed {
            action: ActionKind::Publish,
            error: "ns0.example.net. answered REFUSED".into(),
        }),
        Event::Outcome(Input::Published {
            record: rec(2),
            already_present: false,
        }),
        Event::Transition {
            from: StateName::AwaitingPublication,
            to: StateName::AwaitingPropagation,
        },
        Event::Notice(Notice::UnexpectedKey { record: rec(3) }),
        Event::Wait(TooEarly {
            until: NOW,
            waiting_for: Waiting::CacheExpiry,
        }),
        Event::Error {
            error: "refused".into(),
        },
    ];
    events
        .into_iter()
        .map(|event| Entry {
            at,
            host: host.clone(),
            event,
        })
        .collect()
}

#[test]
fn history_is_appended_and_read_back() {
    let dir = temp();
    let store = Store::open(dir.path()).unwrap();
    let lock = store.lock(HOST, LockWait::NoWait).unwrap();
    let path = store.history_path(HOST).unwrap();
    let mut previous = Vec::new();
    for entry in entries() {
        store.append_history(&lock, &entry).unwrap();
        let now = fs::read(&path).unwrap();
        assert!(now.starts_with(&previous), "history was rewritten");
        previous = now;
    }
    assert_eq!(mode(&path), 0o600);
    let history = store.read_history(HOST).unwrap();
    assert_eq!(history.entries, entries());
    assert!(history.damaged_lines.is_empty());
    let first = fs::read_to_string(&path).unwrap();
    assert!(
        first.lines().next().unwrap().starts_with(r#"{"at":"2026-05-01T12:00:00Z","host":"mx1.example.net","event":"command","input":"tick"}"#),
        "{first}"
    );
}

#[test]
fn a_torn_last_history_line_is_reported_not_fatal() {
    let dir = temp();
    let store = Store::open(dir.path()).unwrap();
    let lock = store.lock(HOST, LockWait::NoWait).unwrap();
    store.append_history(&lock, &entries()[0]).unwrap();
    let path = store.history_path(HOST).unwrap();
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(b"{\"at\":\"2026-05-01T12:").unwrap();
    let history = store.read_history(HOST).unwrap();
    assert_eq!(history.entries.len(), 1);
    let lines: Vec<usize> = history.damaged_lines.iter().map(|d| d.line).collect();
    assert_eq!(lines, vec![2]);
    assert_eq!(history.damaged_lines[0].path, path);
}

/// #13: the entry appended after a torn line (a crash mid-append) is kept, on its own line.
#[test]
fn an_entry_after_a_torn_line_is_not_swallowed() {
    let dir = temp();
    let store = Store::open(dir.path()).unwrap();
    let lock = store.lock(HOST, LockWait::NoWait).unwrap();
    store.append_history(&lock, &entries()[0]).unwrap();
    let path = store.history_path(HOST).unwrap();
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(b"{\"at\":\"2026-05-01T12:").unwrap();
    store.append_history(&lock, &entries()[1]).unwrap();
    let history = store.read_history(HOST).unwrap();
    assert_eq!(history.entries, entries()[..2].to_vec());
    let lines: Vec<usize> = history.damaged_lines.iter().map(|d| d.line).collect();
    assert_eq!(lines, vec![2]);
}

/// #13: the history is bounded; reading goes across the rotated files, oldest first.
#[test]
fn the_history_rotates_and_reads_across_rotated_files() {
    use crate::rollover::history::{HISTORY_MAX_BYTES, HISTORY_ROTATED};
    let dir = temp();
    let store = Store::open(dir.path()).unwrap();
    let lock = store.lock(HOST, LockWait::NoWait).unwrap();
    let path = store.history_path(HOST).unwrap();
    let entry = entries()[0].clone();
    let mut line = serde_json::to_vec(&entry).unwrap();
    line.push(b'\n');
    let per_file = (HISTORY_MAX_BYTES / line.len() as u64) as usize;
    // A full history file as years of ticks leave it (written at once: fsyncing each line of
    // megabytes is slow), then the entry that rotates it.
    let fill = || {
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&line.repeat(per_file - 1)).unwrap();
    };
    store.append_history(&lock, &entry).unwrap();
    for _ in 0..3 {
        fill();
        store.append_history(&lock, &entry).unwrap();
    }
    assert!(fs::metadata(&path).unwrap().len() <= HISTORY_MAX_BYTES);
    assert!(path.with_file_name("history.1.jsonl").exists());
    assert!(path.with_file_name("history.3.jsonl").exists());
    let history = store.read_history(HOST).unwrap();
    assert_eq!(history.entries.len(), 3 * per_file + 1);
    assert!(history.damaged_lines.is_empty());
    // Past the bound the oldest file is dropped: the total stays bounded.
    for _ in 0..HISTORY_ROTATED + 2 {
        fill();
        store.append_history(&lock, &entry).unwrap();
    }
    let beyond = format!("history.{}.jsonl", HISTORY_ROTATED + 1);
    assert!(!path.with_file_name(beyond).exists());
    let kept = store.read_history(HOST).unwrap().entries.len();
    assert!(kept <= per_file * (HISTORY_ROTATED + 1), "{kept}");
}

#[test]
fn a_second_locker_is_told_busy() {
    let dir = temp();
    let store = Store::open(dir.path()).unwrap();
    let held = store.lock(HOST, LockWait::NoWait).unwrap();
    let err = store.lock(HOST, LockWait::NoWait).unwrap_err();
    assert!(matches!(err, StoreError::Busy { .. }), "{err}");
    assert!(err.to_string().contains(HOST), "{err}");
    let err = store
        .lock(HOST, LockWait::WaitFor(Duration::from_millis(120)))
        .unwrap_err();
    assert!(matches!(err, StoreError::Busy { .. }), "{err}");
    // Another host is independent.
    assert!(store.lock("mx2.example.net", LockWait::NoWait).is_ok());
    drop(held);
    assert!(store.lock(HOST, LockWait::NoWait).is_ok());
}

#[test]
fn a_waiting_locker_gets_the_lock_only_after_release() {
    let dir = temp();
    let store = Store::open(dir.path()).unwrap();
    let held = store.lock(HOST, LockWait::NoWait).unwrap();
    let released = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = mpsc::channel();
    let waiter = {
        let store = store.clone();
        let released = Arc::clone(&released);
        thread::spawn(move || {
            started_tx.send(()).unwrap();
            let lock = store.lock(HOST, LockWait::Wait).unwrap();
            // The lock can only be ours once the holder let go.
            assert!(
                released.load(Ordering::SeqCst),
                "got the lock while it was held"
            );
            drop(lock);
        })
    };
    started_rx.recv().unwrap();
    // Give the waiter a chance to (wrongly) get in; correctness does not depend on this pause.
    thread::sleep(Duration::from_millis(50));
    released.store(true, Ordering::SeqCst);
    drop(held);
    waiter.join().unwrap();
}

#[test]
fn a_released_lock_lets_another_process_in_and_is_taken_back() {
    let dir = temp();
    let store = Store::open(dir.path()).unwrap();
    let lock = store.lock(HOST, LockWait::NoWait).unwrap();
    lock.release().unwrap();
    let other = store.lock(HOST, LockWait::NoWait).unwrap();
    assert!(matches!(
        lock.reacquire(LockWait::NoWait),
        Err(StoreError::Busy { .. })
    ));
    drop(other);
    lock.reacquire(LockWait::NoWait).unwrap();
    assert!(store.lock(HOST, LockWait::NoWait).is_err());
}

#[test]
fn a_dropped_lock_is_free_even_while_a_forked_child_still_shares_its_descriptor() {
    let dir = temp();
    let store = Store::open(dir.path()).unwrap();
    let lock = store.lock("mx1.example.net", LockWait::NoWait).unwrap();
    // What another thread's `Command::spawn` does between fork and exec: the child holds a copy
    // of every descriptor, ours included, for a moment. Here that moment is 2 s.
    // SAFETY: the child only sleeps and exits (async-signal-safe calls).
    let child = unsafe { libc::fork() };
    if child == 0 {
        unsafe {
            libc::sleep(2);
            libc::_exit(0);
        }
    }
    assert!(child > 0, "fork failed");
    drop(lock);
    let again = store.lock("mx1.example.net", LockWait::NoWait);
    let mut status = 0;
    unsafe { libc::waitpid(child, &mut status, 0) };
    again.expect("the lock was dropped; a forked child's copy of the descriptor must not hold it");
}
