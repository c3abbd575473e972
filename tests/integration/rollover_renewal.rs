//! Issue #13 item 7: one renewal at a time. While a run performs the certificate request (the
//! swap command here; an ACME client the same way) it has released the host's lock; the request
//! is saved as an intent first, so a concurrent `tick` does not start a second one. A run killed
//! during the request (SIGKILL) leaves the intent; the next run sees its runner is gone,
//! inspects what the command left, and carries on without running the command again when it
//! had finished.

use std::time::{Duration, Instant};

use crate::lab::Lab;
use crate::rollover::Setup;
use crate::util::Run;

/// Makes the swap command count its runs in `swaps` and take `seconds`.
fn counted_swap(setup: &Setup, seconds: u32) -> std::path::PathBuf {
    let swaps = setup.dir.join("swaps");
    let config = std::fs::read_to_string(&setup.config).unwrap();
    let slow = config.replace(
        "command = [\"/bin/sh\", \"-c\", \"",
        &format!(
            "command = [\"/bin/sh\", \"-c\", \"echo run >> {} && sleep {seconds} && ",
            swaps.display()
        ),
    );
    assert_ne!(slow, config);
    std::fs::write(&setup.config, slow).unwrap();
    swaps
}

fn runs(swaps: &std::path::Path) -> usize {
    std::fs::read_to_string(swaps)
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

#[test]
fn a_tick_during_a_running_request_does_not_start_a_second_one() {
    let lab = Lab::shared();
    let setup = Setup::new(lab, "renew1");
    setup.tick_until_ready();
    let swaps = counted_swap(&setup, 4);
    let mut rollover = setup
        .daneroll(&["rollover", "--host", &setup.host])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while runs(&swaps) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{}",
            setup.history()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The request runs without the lock: a tick gets in, and must not request again.
    let tick = setup.run(&["tick"]);
    assert_eq!(tick.status, Some(0), "{}\n{}", tick.stdout, tick.stderr);
    assert_eq!(runs(&swaps), 1, "{}", setup.history());
    assert!(rollover.wait().unwrap().success(), "{}", setup.history());
    assert_eq!(runs(&swaps), 1, "{}", setup.history());
    assert_eq!(setup.stage(), "ready");
    assert!(setup.state()["rollover"]["renewing"].is_null());
}

#[test]
fn a_request_killed_after_the_command_ran_is_recovered_without_running_it_again() {
    let lab = Lab::shared();
    let setup = Setup::new(lab, "renew2");
    setup.tick_until_ready();
    let first = setup.deployed();
    let swaps = counted_swap(&setup, 0);
    let killed = Run::from_output(
        setup
            .daneroll(&["rollover", "--host", &setup.host])
            .env("DANEROLL_FAILPOINT", "request_certificate:1")
            .output()
            .unwrap(),
    );
    assert_eq!(killed.status, None, "{}\n{}", killed.stdout, killed.stderr);
    assert_eq!(runs(&swaps), 1);
    assert!(!setup.state()["rollover"]["renewing"].is_null());

    // The next tick: the runner is gone; the certificate it made is on disk and is deployed.
    let start = Instant::now();
    while setup.stage() != "ready" || setup.deployed() == first {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "{}",
            setup.history()
        );
        let tick = setup.run(&["tick"]);
        assert!(matches!(tick.status, Some(0)), "{}", tick.stderr);
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        runs(&swaps),
        1,
        "the command ran again:\n{}",
        setup.history()
    );
    assert!(
        setup
            .history()
            .contains("did not finish (the process died)")
    );
    assert!(setup.state()["rollover"]["renewing"].is_null());
}
