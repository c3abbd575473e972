//! Issue #13 item 5: `records remove` is as careful as the engine. It takes the host's lock,
//! refuses to remove the engine's current or next key without `--force`, and never leaves only
//! usage 0/1 records (which SMTP ignores, RFC 7672 §3.1.3) without `--allow-empty`.

use std::process::Command;
use std::time::Duration;

use crate::lab::Lab;
use crate::rollover::{Setup, served_everywhere};

fn digest(setup: &Setup, key: &str) -> String {
    setup.state()["rollover"]["stage"][key]["record"]
        .as_str()
        .and_then(|r| r.rsplit(' ').next())
        .unwrap()
        .to_uppercase()
}

#[test]
fn remove_refuses_the_engines_keys_waits_for_its_lock_and_keeps_a_usable_record() {
    let lab = Lab::shared();
    let setup = Setup::new(lab, "remove1");
    setup.tick_until_ready();
    let host = setup.host.clone();
    let current = format!("3 1 1 {}", digest(&setup, "current"));
    let next = format!("3 1 1 {}", digest(&setup, "next"));

    // The engine's next key: refused, naming it; nothing removed.
    for record in [&next, &current] {
        let run = setup.run(&["records", "remove", &host, record]);
        run.expect_status(2);
        assert!(run.stderr.contains("the engine's"), "{}", run.stderr);
        assert!(run.stderr.contains("--force"), "{}", run.stderr);
    }
    lab.wait_secondary_synced();
    for served in served_everywhere(lab, &setup.owner()) {
        assert_eq!(served.len(), 2, "{served:?}");
    }

    // A record of the operator's: the lock held by a running engine step makes it wait, then
    // say busy (exit 3) rather than race the rollover.
    let theirs = format!("3 1 1 {}", "AB".repeat(32));
    setup
        .run(&["records", "add", &host, &theirs, "--ttl", "5"])
        .expect_status(0);
    let lock = setup.dir.join(&format!("state/hosts/{host}/lock"));
    let mut holder = Command::new("flock")
        .arg(&lock)
        .args(["-c", "sleep 14"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let run = setup.run(&["records", "remove", &host, &theirs, "--force"]);
    holder.wait().unwrap();
    run.expect_status(3);
    assert!(run.stderr.contains("busy"), "{}", run.stderr);
    // Free again: removed (nothing listens on port 25 for this host, hence --force).
    setup
        .run(&["records", "remove", &host, &theirs, "--force"])
        .expect_status(0);

    // Only usage 0/1 records would remain: refused without --allow-empty, even with --force.
    // (daneroll refuses to publish usage 0/1 itself: someone else did.)
    let pkix = format!("1 1 1 {}", "CD".repeat(32));
    lab.nsupdate(
        &lab.keys.mx,
        &lab.mx,
        &format!("update add {} 5 TLSA {pkix}", setup.owner()),
    )
    .unwrap();
    setup
        .run(&["records", "remove", &host, &next, "--force"])
        .expect_status(0);
    let run = setup.run(&["records", "remove", &host, &current, "--force"]);
    run.expect_status(2);
    assert!(run.stderr.contains("usage 0/1"), "{}", run.stderr);
    lab.wait_secondary_synced();
    for served in served_everywhere(lab, &setup.owner()) {
        assert!(
            served.contains(&digest(&setup, "current")),
            "the usable record stays: {served:?}"
        );
    }
}
