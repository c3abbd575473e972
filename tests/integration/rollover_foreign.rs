//! Issue #13 item 1: daneroll publishes only keys it read from its own files. A real Postfix
//! whose reload makes it present a key daneroll never saw on disk (an attacker on the path to
//! port 25 looks the same from outside): nothing is published, the old record is kept, the
//! operator is alerted (exit 4) and `status` and `history` say what was seen where. Once Postfix
//! presents the deployed key again, the rollover completes on its own.

use std::time::{Duration, Instant};

use crate::lab::Lab;
use crate::lab::postfix::Postfix;
use crate::rollover::{Mta, Setup, record_of, served_everywhere};
use crate::util::Dir;

const HOST: &str = "mail.mx.example";

#[test]
fn a_reload_that_makes_postfix_present_a_foreign_key_publishes_nothing_and_alerts() {
    let lab = Lab::start();
    let dir = Dir::new();
    let chain = Setup::first_certificate(&dir, HOST);
    let mta_dir = Dir::new();
    let postfix = Postfix::try_start_many(mta_dir.path(), HOST, &[(lab.mx.host_addr, chain)], true)
        .unwrap_or_else(|e| panic!("postfix did not start: {e}"));
    // A key and certificate daneroll never reads: only Postfix's master.cf points at it.
    let foreign_dir = Dir::new();
    let foreign = foreign_dir.write("foreign.pem", Setup::first_certificate(&foreign_dir, HOST));
    let foreign_record = record_of(&foreign);
    let master_cf = postfix.config_dir().join("master.cf");
    let deployed_file = postfix.chain_file();
    let switch = format!(
        "sed -i 's|{}|{}|' {} && postfix -c {} reload",
        deployed_file.display(),
        foreign.display(),
        master_cf.display(),
        postfix.config_dir().display()
    );
    let mta = Mta {
        chain_file: deployed_file.clone(),
        reload: vec!["/bin/sh".into(), "-c".into(), switch],
        live_check: "probe",
    };
    let setup = Setup::with_mta(&lab, dir, HOST, mta);
    let first = setup.deployed();
    setup.tick_until_ready();
    let new = setup.state()["rollover"]["stage"]["next"]["record"]
        .as_str()
        .and_then(|r| r.rsplit(' ').next())
        .unwrap()
        .to_uppercase();

    let run = setup.run(&["rollover", "--host", HOST]);
    // Exit 4: done what it safely could, the operator must look.
    run.expect_status(4);
    assert!(
        run.stdout.contains("NOTHING is published"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&foreign_record[..8]),
        "the alert names the foreign key: {}",
        run.stdout
    );
    // The new certificate is in the files; Postfix presents the foreign key.
    assert_eq!(setup.deployed(), new);
    lab.wait_secondary_synced();
    for served in served_everywhere(&lab, &setup.owner()) {
        assert!(
            !served.contains(&foreign_record),
            "the foreign key was published: {served:?}\n{}",
            setup.history()
        );
        assert!(
            served.contains(&first) && served.contains(&new),
            "old and new records stay: {served:?}\n{}",
            setup.history()
        );
    }
    assert_eq!(setup.stage(), "awaiting_live_confirmation");
    let history = setup.history();
    assert!(!history.contains("\"action\":\"retire\""), "{history}");
    // `history` and `status` say what was seen where.
    let state_dir = setup.dir.join("state").display().to_string();
    let shown = setup.run(&["history", "--state-dir", &state_dir, "--host", HOST]);
    shown.expect_status(0);
    assert!(shown.stdout.contains("ALERT"), "{}", shown.stdout);
    assert!(
        shown.stdout.contains(&format!("[{}]:25", lab.mx.host_addr)),
        "the address that presented it: {}",
        shown.stdout
    );
    let status = setup.run(&["status"]);
    assert!(
        status.stdout.contains("did not read from its files"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains(&foreign_record[..8]),
        "{}",
        status.stdout
    );
    assert!(
        status
            .stdout
            .contains(&format!("[{}]:25", lab.mx.host_addr)),
        "{}",
        status.stdout
    );

    // The operator puts Postfix back on the deployed files: the swap completes, the old record
    // goes, and the foreign key was never published.
    std::fs::write(
        &master_cf,
        std::fs::read_to_string(&master_cf).unwrap().replace(
            &foreign.display().to_string(),
            &deployed_file.display().to_string(),
        ),
    )
    .unwrap();
    postfix.reload();
    let start = Instant::now();
    while setup.stage() != "ready" {
        assert!(
            start.elapsed() < Duration::from_secs(150),
            "{}\n{}",
            setup.stage(),
            setup.history()
        );
        let tick = setup.run(&["tick", "--quiet"]);
        assert!(matches!(tick.status, Some(0) | Some(4)), "{}", tick.stderr);
        std::thread::sleep(Duration::from_secs(1));
    }
    lab.wait_secondary_synced();
    for served in served_everywhere(&lab, &setup.owner()) {
        assert!(!served.contains(&first), "{served:?}");
        assert!(!served.contains(&foreign_record), "{served:?}");
        assert!(served.contains(&new), "{served:?}");
    }
}
