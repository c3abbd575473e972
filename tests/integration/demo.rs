//! `daneroll demo`: the whole rollover against the in-process lab (signed zone on 127.53.0.x
//! port 53, STARTTLS MX on port 25 of the same address; needs root for the ports).

use crate::util::run;

#[test]
fn demo_completes_a_rollover_and_the_independent_check_never_fails() {
    let run = run(&["demo", "--json"]);
    run.ok();
    let summary: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("JSON summary ({e}):\n{}\n{}", run.stdout, run.stderr));
    assert_eq!(summary["completed"], true, "{summary:#}");
    assert_eq!(summary["failed_actions"], 0, "{summary:#}");
    assert_eq!(summary["failed_checks"], 0, "{summary:#}");
    assert!(summary["checks"].as_u64().unwrap_or(0) >= 3, "{summary:#}");
    assert_ne!(summary["live_key"], summary["previous_key"]);
    assert_eq!(summary["state"], "ready", "{summary:#}");
    // The steps happened in the order the promise needs: publish, wait, swap, verify, retire.
    let history = summary["history"].as_array().expect("history");
    let position = |needle: &str| {
        history
            .iter()
            .position(|e| e.to_string().contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in the history: {summary:#}"))
    };
    let previous = &summary["previous_key"];
    let retired = history
        .iter()
        .position(|e| e["input"] == "retired" && e["record"] == *previous)
        .unwrap_or_else(|| panic!("the previous key was not retired: {summary:#}"));
    assert!(position("awaiting_publication") < position("awaiting_cache_expiry"));
    assert!(position("awaiting_cache_expiry") < position("awaiting_swap"));
    assert!(position("awaiting_swap") < position("awaiting_live_confirmation"));
    assert!(position("awaiting_live_confirmation") < position("awaiting_retirement"));
    assert!(position("awaiting_retirement") < retired);
}

/// #13: the demo's files (a TSIG key, a config whose commands run as root) live in a freshly
/// created private directory: 0700 and not named after the process id.
#[test]
fn demo_writes_into_a_fresh_private_directory() {
    use std::os::unix::fs::PermissionsExt;
    use std::time::{Duration, Instant};
    let tmp = crate::util::Dir::new();
    let mut command = crate::util::daneroll();
    command.args(["demo", "--keep"]).env("TMPDIR", tmp.path());
    let (mut child, lines) = crate::util::spawn_lines(&mut command);
    let started = Instant::now();
    let mut files = None;
    while started.elapsed() < Duration::from_secs(240) {
        match lines.recv_timeout(Duration::from_secs(5)) {
            Ok(line) => {
                if let Some(dir) = line.strip_prefix("files: ") {
                    files = Some(std::path::PathBuf::from(dir));
                    break;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(_) => break,
        }
    }
    let files = files.map(|dir| {
        let mode = std::fs::metadata(&dir).map(|m| m.permissions().mode() & 0o777);
        (dir, mode)
    });
    // SAFETY: kill(2) on the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let _ = child.wait();
    let (dir, mode) = files.expect("the demo printed where its files are");
    assert!(dir.starts_with(tmp.path()), "{}", dir.display());
    assert_eq!(mode.unwrap(), 0o700, "{}", dir.display());
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    assert_ne!(
        name,
        format!("daneroll-demo-{}", child.id()),
        "a predictable name"
    );
    assert!(!dir.exists(), "the directory is removed at the end");
}
