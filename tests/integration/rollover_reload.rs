//! Issue #13 item 4: with `live_check = "files"`, a reload that fails after the new certificate
//! was installed is not taken as live. The old record stays until a reload succeeds.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::lab::Lab;
use crate::rollover::{Mta, Setup, served_everywhere};
use crate::util::Dir;

#[test]
fn a_failed_reload_keeps_the_old_record_until_a_reload_succeeds() {
    let lab = Lab::shared();
    let dir = Dir::new();
    let host = "reload1.mx.example";
    let mut mta = Mta::files(&dir, host);
    let broken = dir.join("reload-broken");
    let reloads = dir.join("reloads");
    mta.reload = vec![
        "/bin/sh".into(),
        "-c".into(),
        format!(
            "test ! -e {} && echo reload >> {}",
            broken.display(),
            reloads.display()
        ),
    ];
    let setup = Setup::with_mta(lab, dir, host, mta);
    let first = setup.deployed();
    setup.tick_until_ready();
    let next = setup.state()["rollover"]["stage"]["next"]["record"]
        .as_str()
        .and_then(|r| r.rsplit(' ').next())
        .unwrap()
        .to_uppercase();

    // A renewal with the safe next key appears; the MTA's reload is broken.
    std::fs::write(&broken, "").unwrap();
    let key = setup
        .dir
        .join(&format!("state/hosts/{host}/keys/key-{next}.pem"));
    let renewed = Command::new("openssl")
        .args(["req", "-new", "-x509", "-days", "30"])
        .arg("-key")
        .arg(&key)
        .args(["-subj", &format!("/CN={host}"), "-out"])
        .arg(setup.dir.join("acme/fullchain.pem"))
        .status()
        .unwrap();
    assert!(renewed.success());
    let tick = setup.run(&["tick"]);
    tick.expect_status(1);
    assert!(
        setup.history().contains("\"action\":\"deploy\""),
        "{}\n{}\n{}",
        tick.stdout,
        tick.stderr,
        setup.history()
    );
    assert_eq!(setup.deployed(), next, "installed, not reloaded");

    // Later ticks (the deploy is in its backoff) must not take the files as live.
    for _ in 0..3 {
        let tick = setup.run(&["tick"]);
        assert!(matches!(tick.status, Some(0) | Some(1)), "{}", tick.stderr);
        assert_eq!(setup.stage(), "awaiting_swap", "{}", setup.history());
        lab.wait_secondary_synced();
        for served in served_everywhere(lab, &setup.owner()) {
            assert!(served.contains(&first), "old record retired: {served:?}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(!reloads.exists());

    // The reload works again: after the backoff the deploy reloads, then the old record goes.
    std::fs::remove_file(&broken).unwrap();
    let start = Instant::now();
    while setup.stage() != "ready" {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{}\n{}",
            setup.stage(),
            setup.history()
        );
        std::thread::sleep(Duration::from_secs(2));
        let tick = setup.run(&["tick", "--quiet"]);
        assert!(matches!(tick.status, Some(0)), "{}", tick.stderr);
    }
    assert!(reloads.exists());
    lab.wait_secondary_synced();
    for served in served_everywhere(lab, &setup.owner()) {
        assert!(!served.contains(&first), "{served:?}");
    }
}
