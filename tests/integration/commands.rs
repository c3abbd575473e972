//! The operator's commands as daneroll runs them (#13 item 2), against the lab's BIND: a reload
//! that never returns is stopped after its timeout and retried, and no longer blocks the next
//! tick; a command's environment never holds the token a `[dns.*] token_env` names.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::lab::Lab;
use crate::rollover::{Mta, Setup};
use crate::util::{Dir, Run};

/// A host whose reload is `reload` (argv) and whose config gets `extra` lines after it.
fn setup_with_reload(lab: &Lab, label: &str, reload: &[&str], deploy_extra: &str) -> Setup {
    let dir = Dir::new();
    let host = format!("{label}.mx.example");
    let mut mta = Mta::files(&dir, &host);
    mta.reload = reload.iter().map(|s| s.to_string()).collect();
    let setup = Setup::with_mta(lab, dir, &host, mta);
    let text = std::fs::read_to_string(&setup.config).unwrap();
    let text = text.replacen(
        "[host.deploy]\n",
        &format!("[host.deploy]\n{deploy_extra}"),
        1,
    );
    std::fs::write(&setup.config, text).unwrap();
    setup
}

/// Waits for `child` at most `limit`; kills it and returns `None` if it is still running.
fn wait_at_most(child: &mut Child, limit: Duration) -> Option<i32> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn a_reload_that_never_returns_is_stopped_and_does_not_block_later_ticks() {
    let lab = Lab::shared();
    let setup = setup_with_reload(
        lab,
        "hang1",
        &["sleep", "infinity"],
        "reload_timeout = \"2s\"\n",
    );
    let text = std::fs::read_to_string(&setup.config).unwrap();
    let text = text.replacen("[policy]\n", "[policy]\nlock_wait = \"30s\"\n", 1);
    std::fs::write(&setup.config, text).unwrap();
    setup.tick_until_ready();

    // The swap reaches the deploy, whose reload hangs.
    let mut rollover = setup
        .daneroll(&["rollover", "--host", &setup.host])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !setup.history().contains("did not finish within 2s") {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the hung reload was not stopped:\n{}",
            setup.history()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // A tick meanwhile gets the lock within lock_wait (or reports the host busy): it returns.
    let mut tick = setup
        .daneroll(&["tick", "--host", &setup.host])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_at_most(&mut tick, Duration::from_secs(90));
    let _ = rollover.kill();
    let _ = rollover.wait();
    assert!(
        matches!(status, Some(0 | 1 | 3 | 4)),
        "the tick did not return ({status:?}):\n{}",
        setup.history()
    );
    // The timeout is a failed deploy in the history (retried with the engine's backoff).
    let history = setup.history();
    assert!(
        history
            .lines()
            .any(|l| l.contains("deploy") && l.contains("did not finish within 2s")),
        "{history}"
    );
}

#[test]
fn commands_never_see_the_token_variable() {
    let lab = Lab::shared();
    let token = "tok-8e21-secret";
    let probe = Dir::new();
    let env_file = probe.join("reload-env");
    let script = format!("env > {}", env_file.display());
    let setup = setup_with_reload(lab, "envscrub1", &["/bin/sh", "-c", &script], "");
    // A provider section whose token is in the environment (used by no host here: every
    // token daneroll knows of is kept from its commands).
    let text = std::fs::read_to_string(&setup.config).unwrap();
    let text = text.replacen(
        "[validation]\n",
        "[dns.hosted]\ntype = \"desec\"\ntoken_env = \"DANEROLL_TEST_DESEC_TOKEN\"\n\n[validation]\n",
        1,
    );
    std::fs::write(&setup.config, text).unwrap();
    setup.tick_until_ready();
    let run = Run::from_output(
        setup
            .daneroll(&["rollover", "--host", &setup.host])
            .env("DANEROLL_TEST_DESEC_TOKEN", token)
            .env("SOME_COPY_OF_IT", token)
            .env("DANEROLL_TEST_ORDINARY", "kept")
            .output()
            .unwrap(),
    );
    run.ok();
    let env = std::fs::read_to_string(&env_file).expect("the reload ran");
    assert!(!env.contains(token), "{env}");
    assert!(!env.contains("DANEROLL_TEST_DESEC_TOKEN"), "{env}");
    assert!(env.contains("DANEROLL_TEST_ORDINARY=kept"), "{env}");
    assert!(
        env.contains(&format!("DANEROLL_HOST={}", setup.host)),
        "{env}"
    );
}

/// #13: a tick waits for a host another process holds at most `[policy] lock_wait`, then
/// reports it busy (exit 3); it used to wait as long as the holder (a hung reload: for ever).
#[test]
fn a_tick_waits_for_a_busy_host_at_most_lock_wait_then_exits_3() {
    let lab = Lab::shared();
    let setup = setup_with_reload(lab, "busy1", &["/bin/true"], "");
    let text = std::fs::read_to_string(&setup.config).unwrap();
    let text = text.replacen("[policy]\n", "[policy]\nlock_wait = \"2s\"\n", 1);
    std::fs::write(&setup.config, text).unwrap();
    let host_dir = setup.dir.join(&format!("state/hosts/{}", setup.host));
    std::fs::create_dir_all(&host_dir).unwrap();
    let lock = host_dir.join("lock");
    let held = host_dir.join("held");
    // Another process holds the host's lock (flock(1), as a hung daneroll would).
    let mut holder = std::process::Command::new("flock");
    holder
        .arg("-x")
        .arg(&lock)
        .args(["sh", "-c"])
        .arg(format!("touch {}; sleep 300", held.display()));
    std::os::unix::process::CommandExt::process_group(&mut holder, 0);
    let mut holder = holder.spawn().unwrap();
    let started = Instant::now();
    while !held.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "flock did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut tick = setup
        .daneroll(&["tick", "--host", &setup.host])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_at_most(&mut tick, Duration::from_secs(120));
    // SAFETY: kill(2) on the process group this test started.
    unsafe { libc::kill(-(holder.id() as i32), libc::SIGKILL) };
    let _ = holder.wait();
    assert_eq!(status, Some(3), "the tick did not give up on the busy host");
}
