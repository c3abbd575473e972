//! A full rollover against a real Postfix (issue #4), watched the whole time by Postfix's own
//! DANE client.
//!
//! The lab's BIND serves the signed `mx.example.` (TSIG updates, TTL 5 s); Postfix listens on
//! `mail.mx.example.`:25 (the MX of `corp.example.`), reads daneroll's deploy target as its
//! `smtpd_tls_chain_files`, reuses its `smtpd` processes as in production, and is reloaded with
//! `postfix reload`; the live check probes port 25. Meanwhile a loop runs `posttls-finger -l dane
//! corp.example` through the lab's validating unbound, as a sending MTA would: every run must
//! verify the server through DANE, before, during and after the swap (RFC 7672 §2.2; the
//! ordering of RFC 7671 §8.1 is what makes that possible).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use crate::lab::Lab;
use crate::lab::postfix::Postfix;
use crate::rollover::{Mta, Setup, assert_promise, served_everywhere};
use crate::util::{Dir, Run};

const HOST: &str = "mail.mx.example";
/// The MX domain whose mail the checks "deliver": `MX 10 mail.mx.example.`.
const DOMAIN: &str = "corp.example";
/// Bounds on the check loop, whatever happens to the test.
const MAX_CHECKS: usize = 1000;
const CHECK_LIMIT: Duration = Duration::from_secs(240);
/// Between two checks (the machine's two cores are shared).
const PAUSE: Duration = Duration::from_millis(200);

/// Where the rollover was when a check started. Each phase is entered once the previous one is
/// known to be over, so a check's phase is a lower bound on what had happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// `tick` adopts the deployed key, publishes a next key and waits out the caches.
    Adopting,
    /// Steady state: current + next published, the first key live.
    Ready,
    /// `daneroll rollover` runs; the new certificate may be going in.
    Swapping,
    /// The new certificate is installed and Postfix was reloaded; the old record is published.
    Swapped,
    /// The old record is retired; the following next key is published and waited for.
    Retired,
    /// The rollover returned and the resolver's cache was flushed.
    Settled,
}

const PHASES: [Phase; 6] = [
    Phase::Adopting,
    Phase::Ready,
    Phase::Swapping,
    Phase::Swapped,
    Phase::Retired,
    Phase::Settled,
];

/// One `posttls-finger` run.
struct Check {
    phase: Phase,
    /// The `3 1 1` digest (upper-case hex) Postfix verified the server with; None: not verified.
    matched: Option<String>,
    text: String,
}

/// The check loop and what it saw, shared with the test's main thread.
struct Checks {
    phase: AtomicU8,
    stop: AtomicBool,
    done: Mutex<Vec<Check>>,
}

impl Checks {
    fn new() -> Self {
        Self {
            phase: AtomicU8::new(0),
            stop: AtomicBool::new(false),
            done: Mutex::new(Vec::new()),
        }
    }

    /// Runs checks until stopped (bounded in count and time).
    fn run(&self, lab: &Lab, postfix: &Postfix) {
        let start = Instant::now();
        for _ in 0..MAX_CHECKS {
            if self.stop.load(Ordering::SeqCst) || start.elapsed() > CHECK_LIMIT {
                break;
            }
            let phase = PHASES[usize::from(self.phase.load(Ordering::SeqCst))];
            let text = postfix.posttls_finger(lab.resolver, "dane", DOMAIN);
            let check = Check {
                phase,
                matched: verified_record(&text),
                text,
            };
            self.lock().push(check);
            std::thread::sleep(PAUSE);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Check>> {
        // invariant: the loop never panics while holding the lock.
        self.done.lock().expect("checks lock")
    }

    /// Enters `phase` at once.
    fn enter(&self, phase: Phase) {
        let index = PHASES.iter().position(|p| *p == phase);
        // invariant: PHASES lists every phase.
        let index = u8::try_from(index.expect("known phase")).expect("few phases");
        self.phase.store(index, Ordering::SeqCst);
    }

    /// Enters `phase` and waits until `runs` checks started in it have finished: every check of
    /// the earlier phases is then over.
    fn enter_and_wait(&self, phase: Phase, runs: usize) {
        self.enter(phase);
        let start = Instant::now();
        while self.lock().iter().filter(|c| c.phase == phase).count() < runs {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no posttls-finger run finished in phase {phase:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Stops the check loop when the test ends, panicking or not (the scope joins the loop).
struct StopOnDrop<'a>(&'a Checks);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// The record Postfix matched when it printed "Verified TLS connection established".
fn verified_record(text: &str) -> Option<String> {
    if !text.contains("Verified TLS connection established") {
        return None;
    }
    text.lines().find_map(|line| {
        let (_, rest) = line.split_once(" certificate at depth ")?;
        let (_, record) = rest.split_once(": ")?;
        Some(record.split_whitespace().last()?.to_uppercase())
    })
}

/// The next key's digest (upper-case hex) in the steady state.
fn next_record(setup: &Setup) -> String {
    let state = setup.state();
    let record = state["rollover"]["stage"]["next"]["record"].as_str();
    let digest = record.and_then(|r| r.rsplit(' ').next());
    digest
        .unwrap_or_else(|| panic!("no next key in the state: {state}"))
        .to_uppercase()
}

/// Runs `daneroll rollover --host HOST` in the foreground and moves the checks' phase as its
/// output says what it did. Returns how it ended.
fn rollover(setup: &Setup, checks: &Checks) -> Run {
    use std::io::BufRead;
    let mut child = setup
        .daneroll(&["rollover", "--host", HOST])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let mut stdout = String::new();
    for line in std::io::BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
    {
        if line.contains("installed the certificate") {
            checks.enter(Phase::Swapped);
        }
        if line.contains("retired _25._tcp.") {
            checks.enter(Phase::Retired);
        }
        stdout.push_str(&line);
        stdout.push('\n');
    }
    let status = child.wait().unwrap();
    Run {
        status: status.code(),
        stdout,
        stderr: errors.join().unwrap(),
    }
}

#[test]
fn a_rollover_through_postfix_never_fails_postfix_dane_check() {
    let lab = Lab::start();
    let dir = Dir::new();
    let chain = Setup::first_certificate(&dir, HOST);
    let mta_dir = Dir::new();
    let postfix = Postfix::try_start_many(
        mta_dir.path(),
        HOST,
        &[(lab.mx.host_addr, chain)],
        // Postfix's default: an smtpd serves many connections; only the reload retires it.
        true,
    )
    .unwrap_or_else(|e| panic!("postfix did not start: {e}"));
    let mta = Mta {
        chain_file: postfix.chain_file(),
        reload: vec![
            "postfix".into(),
            "-c".into(),
            postfix.config_dir().display().to_string(),
            "reload".into(),
        ],
        live_check: "probe",
    };
    let setup = Setup::with_mta(&lab, dir, HOST, mta);
    let first = setup.deployed();
    let checks = Checks::new();

    let (run, new, following) = std::thread::scope(|scope| {
        let _stop = StopOnDrop(&checks);
        scope.spawn(|| checks.run(&lab, &postfix));

        // Adoption: the deployed key's record (published before daneroll) and a next key.
        setup.tick_until_ready();
        checks.enter_and_wait(Phase::Ready, 1);
        assert_promise(&lab, &setup, "ready");
        let next = next_record(&setup);
        let served = served_everywhere(&lab, &setup.owner());
        assert!(
            served
                .iter()
                .all(|s| s.contains(&first) && s.contains(&next)),
            "current + next: {served:?}"
        );

        // The swap: deploy into Postfix's chain file, `postfix reload`, probe port 25, retire,
        // then publish the following next key and wait until it is safe.
        checks.enter_and_wait(Phase::Swapping, 1);
        let run = rollover(&setup, &checks);
        run.expect_status(0);
        lab.wait_secondary_synced();
        assert_promise(&lab, &setup, "after the rollover");
        let following = next_record(&setup);

        // Every cache forgets the RRset that still held the old record: checks now see only
        // what is published after the rollover.
        lab.flush_resolver();
        checks.enter_and_wait(Phase::Settled, 2);
        checks.stop();
        (run, next, following)
    });

    // Postfix's DANE client verified the server in every run, with the key that was live.
    let checks = checks.done.into_inner().unwrap();
    let count = |phase: Phase| checks.iter().filter(|c| c.phase == phase).count();
    let counts: Vec<(Phase, usize)> = PHASES.iter().map(|p| (*p, count(*p))).collect();
    if let Some(failed) = checks.iter().find(|c| c.matched.is_none()) {
        panic!(
            "posttls-finger did not verify the server in phase {:?} (runs per phase: {counts:?}):\n{}\n\
             daneroll:\n{}\nhistory:\n{}",
            failed.phase,
            failed.text,
            run.stdout,
            setup.history()
        );
    }
    for check in &checks {
        let matched = check.matched.as_deref().unwrap_or_default();
        let expected: &[&String] = match check.phase {
            Phase::Adopting | Phase::Ready => &[&first],
            Phase::Swapping | Phase::Swapped => &[&first, &new],
            Phase::Retired | Phase::Settled => &[&new],
        };
        assert!(
            expected.iter().any(|e| **e == matched),
            "phase {:?}: matched {matched}, expected one of {expected:?}:\n{}",
            check.phase,
            check.text
        );
    }
    assert!(count(Phase::Retired) >= 3, "{counts:?}");
    assert!(count(Phase::Settled) >= 2, "{counts:?}");
    eprintln!("posttls-finger runs per phase: {counts:?}");

    // The rollover swapped to the safe next key through Postfix's reload and the probe.
    assert_eq!(setup.deployed(), new, "{}", run.stdout);
    assert_eq!(setup.stage(), "ready");
    for said in [
        "running the swap command",
        "ran postfix -c ",
        "live check: ",
        "retired _25._tcp.mail.mx.example.",
    ] {
        assert!(run.stdout.contains(said), "{said:?}:\n{}", run.stdout);
    }
    assert!(
        postfix.log().contains("reload -- version"),
        "{}",
        postfix.log()
    );
    let history = setup.history();
    let deploy_at = history.find("\"action\":\"deploy\"").unwrap();
    let live_at = history.find("\"input\":\"live\"").unwrap();
    let retire_at = history.find("\"action\":\"retire\"").unwrap();
    assert!(deploy_at < live_at && live_at < retire_at, "{history}");
    // The old record is gone; the new one and the following next key are published.
    let served = served_everywhere(&lab, &setup.owner());
    assert!(
        served
            .iter()
            .all(|s| *s == sorted(&[new.clone(), following.clone()])),
        "old {first}, new {new}, following {following}: {served:?}"
    );
}

fn sorted(records: &[String]) -> Vec<String> {
    let mut records = records.to_vec();
    records.sort();
    records
}

/// The operator's reload command did nothing: Postfix keeps presenting the old key after the
/// new certificate is installed. The live check sees the old key, the engine keeps the old
/// record and looks again (no failure, no backoff); once Postfix really reloads, the swap is
/// confirmed and the old record retired.
#[test]
fn a_reload_that_did_not_happen_keeps_the_old_record_until_postfix_presents_the_new_key() {
    let lab = Lab::start();
    let dir = Dir::new();
    let chain = Setup::first_certificate(&dir, HOST);
    let mta_dir = Dir::new();
    let postfix = Postfix::try_start_many(mta_dir.path(), HOST, &[(lab.mx.host_addr, chain)], true)
        .unwrap_or_else(|e| panic!("postfix did not start: {e}"));
    let mta = Mta {
        chain_file: postfix.chain_file(),
        reload: vec!["/bin/true".into()],
        live_check: "probe",
    };
    let setup = Setup::with_mta(&lab, dir, HOST, mta);
    let first = setup.deployed();
    setup.tick_until_ready();
    let new = next_record(&setup);

    let (mut child, seen) =
        crate::util::spawn_lines(&mut setup.daneroll(&["rollover", "--host", HOST]));
    // Wait until the probe has looked twice after the install and still found the old key.
    let mut output = String::new();
    let mut old_seen = 0;
    while old_seen < 2 {
        let line = seen
            .recv_timeout(Duration::from_secs(90))
            .unwrap_or_else(|_| panic!("the live check never saw the old key:\n{output}"));
        if output.contains("installed the certificate") && line.contains("live check: ") {
            assert!(!line.contains("matches at depth"), "{line}\n{output}");
            old_seen += 1;
        }
        output.push_str(&line);
        output.push('\n');
    }
    // The new certificate is on disk, Postfix still presents the old key: nothing retired,
    // and the engine is waiting, not failing.
    assert_eq!(setup.deployed(), new);
    lab.wait_secondary_synced();
    let served = served_everywhere(&lab, &setup.owner());
    assert!(served.iter().all(|s| s.contains(&first)), "{served:?}");
    assert_eq!(setup.stage(), "awaiting_live_confirmation", "{output}");
    assert!(
        !setup.history().contains("\"failed\""),
        "{}",
        setup.history()
    );

    // The real reload: the next look confirms the swap and the old record goes.
    postfix.reload();
    for line in seen.iter() {
        output.push_str(&line);
        output.push('\n');
    }
    let status = child.wait().unwrap();
    assert!(
        matches!(status.code(), Some(0) | Some(4)),
        "{status}:\n{output}"
    );
    assert!(
        output.contains("retired _25._tcp.mail.mx.example."),
        "{output}"
    );
    assert_eq!(setup.stage(), "ready");
    lab.wait_secondary_synced();
    let served = served_everywhere(&lab, &setup.owner());
    assert!(served.iter().all(|s| !s.contains(&first)), "{served:?}");
    assert_promise(&lab, &setup, "after the real reload");
}
