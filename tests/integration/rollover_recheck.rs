//! Issue #13 item 6: one bad poll is not a vanished record. In `ready`, the lab's secondary
//! (real BIND) stops answering during the steady-state recheck: the safe next key stays safe,
//! nothing is published or retired, no alert; the next look, soon after, finds it answering.

use std::time::Duration;

use crate::lab::Lab;
use crate::rollover::{Mta, Setup};
use crate::util::Dir;

#[test]
fn a_server_timing_out_on_the_recheck_does_not_start_the_emergency_path() {
    let lab = Lab::start();
    let dir = Dir::new();
    let host = "recheck1.mx.example";
    let mta = Mta::files(&dir, host);
    let setup = Setup::with_mta(&lab, dir, host, mta);
    // Recheck every 2 s instead of every 6 h.
    let config = std::fs::read_to_string(&setup.config).unwrap();
    std::fs::write(
        &setup.config,
        config.replace(
            "poll_interval = \"1s\"",
            "poll_interval = \"1s\"\nrecheck_interval = \"2s\"",
        ),
    )
    .unwrap();
    setup.tick_until_ready();
    let before = setup.state()["rollover"]["stage"].clone();

    lab.pause_secondary();
    std::thread::sleep(Duration::from_secs(3));
    let tick = setup.run(&["tick"]);
    lab.resume_secondary();
    tick.expect_status(0);
    let history = setup.history();
    assert!(history.contains("recheck_unconfirmed"), "{history}");
    assert!(!history.contains("record_vanished"), "{history}");
    assert_eq!(setup.stage(), "ready", "{history}");
    assert_eq!(setup.state()["rollover"]["stage"]["next"], before["next"]);

    // The secondary answers again: the next look (after poll_interval) confirms both records.
    std::thread::sleep(Duration::from_secs(2));
    let tick = setup.run(&["tick"]);
    tick.expect_status(0);
    assert_eq!(setup.stage(), "ready");
    assert!(setup.state()["rollover"]["unconfirmed"].is_null());
    assert_eq!(
        setup.state()["rollover"]["stage"]["next"]["record"],
        before["next"]["record"]
    );
    assert!(!setup.history().contains("record_vanished"));
}
