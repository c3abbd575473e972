//! Issue #13 item 10: re-running `rollover` after a run was killed once its swap had happened
//! finishes that rollover and stops; it does not change the key a second time (with an ACME
//! source that would be a second certificate order). `--again` rolls once more.

use crate::lab::Lab;
use crate::rollover::Setup;
use crate::util::Run;

fn next_of(setup: &Setup) -> String {
    setup.state()["rollover"]["stage"]["next"]["record"]
        .as_str()
        .and_then(|r| r.rsplit(' ').next())
        .unwrap_or_else(|| panic!("no next key: {}", setup.state()))
        .to_uppercase()
}

fn deploys(setup: &Setup) -> usize {
    setup.history().matches("\"action\":\"deploy\"").count()
}

#[test]
fn a_rerun_after_a_rollover_killed_after_its_swap_finishes_it_without_a_second_key_change() {
    let lab = Lab::shared();
    let setup = Setup::new(lab, "rerun1");
    let first = setup.deployed();
    setup.tick_until_ready();
    let new = next_of(&setup);

    // Killed (SIGKILL) right after the old record's retirement: the swap is done, the
    // rollover is not (its outcome is not recorded, no following next key yet).
    let killed = Run::from_output(
        setup
            .daneroll(&["rollover", "--host", &setup.host])
            .env("DANEROLL_FAILPOINT", "retire:1")
            .output()
            .unwrap(),
    );
    assert_eq!(killed.status, None, "{}\n{}", killed.stdout, killed.stderr);
    assert!(killed.stderr.contains("(SIGKILL)"), "{}", killed.stderr);
    assert_eq!(setup.deployed(), new);
    assert_eq!(deploys(&setup), 1, "{}", setup.history());

    // The operator runs it again: it finishes (retirement, the following next key) and stops.
    let rerun = setup.run(&["rollover", "--host", &setup.host]);
    rerun.expect_status(0);
    assert!(
        rerun.stdout.contains("interrupted after its swap"),
        "{}",
        rerun.stdout
    );
    assert_eq!(setup.stage(), "ready");
    assert_eq!(
        setup.deployed(),
        new,
        "a second key change:\n{}",
        rerun.stdout
    );
    assert_ne!(setup.deployed(), first);
    assert_eq!(deploys(&setup), 1, "{}", setup.history());

    // Finished: `--again` (or a later plain `rollover`) is a new key change.
    let following = next_of(&setup);
    let again = setup.run(&["rollover", "--again", "--host", &setup.host]);
    again.expect_status(0);
    assert_eq!(setup.deployed(), following, "{}", again.stdout);
    assert_eq!(deploys(&setup), 2, "{}", setup.history());
}
