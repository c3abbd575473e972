//! The rollover engine end to end: `daneroll tick` and `daneroll rollover` against the lab's
//! real BIND (signed `mx.example.`, TSIG, TTL 5 s), deploying into files and running a reload
//! command; the dry run; crashes between actions; two ticks at once.
//!
//! The promise checked throughout: the key in the MTA's files always has a record served by
//! every authoritative server of the zone.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::lab::Lab;
use crate::util::{Dir, Run, daneroll};

/// A host of a lab with its own owner name, its MTA files and its ACME output.
pub struct Setup {
    pub dir: Dir,
    pub host: String,
    pub config: PathBuf,
    /// The combined key + chain file the MTA reads (daneroll's deploy target).
    pub chain: PathBuf,
}

/// How daneroll reaches the host's MTA: where it installs, how it reloads, how it confirms.
pub struct Mta {
    /// The combined file (key, then chain) the MTA reads.
    pub chain_file: PathBuf,
    /// The reload command.
    pub reload: Vec<String>,
    /// `live_check`: `"files"` or `"probe"`.
    pub live_check: &'static str,
}

impl Mta {
    /// No MTA listens: the first certificate goes into `postfix/chain.pem` in `dir`, the
    /// reload appends a line to `reloads`, the live check reads the files.
    pub fn files(dir: &Dir, host: &str) -> Self {
        let chain = Setup::first_certificate(dir, host);
        let chain_file = dir.write("postfix/chain.pem", chain);
        let reload = format!("echo reload >> {}/reloads", dir.path().display());
        Self {
            chain_file,
            reload: vec!["/bin/sh".into(), "-c".into(), reload],
            live_check: "files",
        }
    }
}

/// The `[dns.NAME]` table daneroll publishes through.
pub struct Backend {
    pub name: &'static str,
    /// The table's lines (`type = …` and the backend's settings).
    pub table: String,
}

fn sh(script: &str) -> String {
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .output()
        // invariant: /bin/sh exists on every test machine.
        .expect("run sh");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `3 1 1` digest (upper-case hex) of the first certificate in `pem`.
pub fn record_of(pem: &Path) -> String {
    sh(&format!(
        "openssl x509 -in {} -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1",
        pem.display()
    ))
    .to_uppercase()
}

impl Setup {
    /// A host `LABEL.mx.example` of the shared lab whose MTA is only files (no listener).
    pub fn new(lab: &Lab, label: &str) -> Self {
        let dir = Dir::new();
        let host = format!("{label}.mx.example");
        let mta = Mta::files(&dir, &host);
        Self::with_mta(lab, dir, &host, mta)
    }

    /// Makes the key and certificate the MTA uses when daneroll first sees the host
    /// (`first.key`, `acme/fullchain.pem` in `dir`) and returns the MTA's combined file: key,
    /// then certificate.
    pub fn first_certificate(dir: &Dir, host: &str) -> String {
        std::fs::create_dir_all(dir.join("acme")).unwrap();
        let d = dir.path().display();
        sh(&format!(
            "cd {d} && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out first.key 2>/dev/null \
             && openssl req -new -x509 -key first.key -subj /CN={host} -days 30 -out acme/fullchain.pem \
             && cat first.key acme/fullchain.pem"
        )) + "\n"
    }

    /// Configures daneroll for `host` through the lab's RFC 2136 backend (see
    /// [`Self::configure`]) and publishes the deployed key's record first, as in production.
    pub fn with_mta(lab: &Lab, dir: Dir, host: &str, mta: Mta) -> Self {
        let backend = Backend {
            name: "lab",
            table: format!(
                "type = \"rfc2136\"\ntsig_key_file = \"{}\"\n",
                lab.keys.mx.bind_file.display()
            ),
        };
        let setup = Self::configure(lab, dir, host, mta, &backend);
        lab.nsupdate(
            &lab.keys.mx,
            &lab.mx,
            &format!(
                "update add {} 5 TLSA 3 1 1 {}",
                setup.owner(),
                setup.deployed()
            ),
        )
        .unwrap();
        lab.wait_secondary_synced();
        setup
    }

    /// Configures daneroll for `host` (TTL 5 s, publishing through `backend`, deploying into
    /// `mta`, the swap command issuing a certificate for the next key into
    /// `acme/fullchain.pem`). The caller publishes the deployed key's record.
    pub fn configure(lab: &Lab, dir: Dir, host: &str, mta: Mta, backend: &Backend) -> Self {
        let d = dir.path().display().to_string();
        let swap = format!(
            "openssl req -new -x509 -key \"$DANEROLL_NEXT_KEY\" -subj /CN={host} -days 30 -out {d}/acme/fullchain.pem"
        );
        let live_check = match mta.live_check {
            "files" => "# No MTA listens in this test: the deployed files stand in for what port 25 presents.\n\
                        live_check = \"files\"\n"
                .to_string(),
            other => format!("live_check = \"{other}\"\n"),
        };
        let reload: Vec<String> = mta.reload.iter().map(|arg| format!("{arg:?}")).collect();
        let config = dir.write(
            "daneroll.toml",
            format!(
                r#"state_dir = "{d}/state"

[dns.{backend_name}]
{backend_table}
[validation]
trust_anchor_file = "{anchor}"
resolver = "{resolver}"

[policy]
safety_factor = 2
poll_interval = "1s"

[[host]]
name = "{host}"
dns = "{backend_name}"
ttl = 5
{live_check}
[host.deploy]
combined_file = "{chain}"
reload = [{reload}]

[host.source]
certificate_file = "{d}/acme/fullchain.pem"
command = ["/bin/sh", "-c", {swap:?}]
"#,
                backend_name = backend.name,
                backend_table = backend.table,
                anchor = lab.trust_anchor.display(),
                resolver = lab.resolver,
                chain = mta.chain_file.display(),
                reload = reload.join(", "),
            ),
        );
        Self {
            dir,
            host: host.to_string(),
            config,
            chain: mta.chain_file,
        }
    }

    pub fn daneroll(&self, args: &[&str]) -> Command {
        let mut command = daneroll();
        command.arg("--config").arg(&self.config).args(args);
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from_output(self.daneroll(args).output().unwrap())
    }

    pub fn owner(&self) -> String {
        format!("_25._tcp.{}.", self.host)
    }

    pub fn state(&self) -> serde_json::Value {
        let path = self
            .dir
            .join(&format!("state/hosts/{}/state.json", self.host));
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or(serde_json::Value::Null)
    }

    pub fn stage(&self) -> String {
        self.state()["rollover"]["stage"]["state"]
            .as_str()
            .unwrap_or("none")
            .to_string()
    }

    pub fn deployed(&self) -> String {
        record_of(&self.chain)
    }

    pub fn history(&self) -> String {
        std::fs::read_to_string(
            self.dir
                .join(&format!("state/hosts/{}/history.jsonl", self.host)),
        )
        .unwrap_or_default()
    }

    /// Ticks (each returns at once) until the host is in the steady state.
    pub fn tick_until_ready(&self) {
        let start = Instant::now();
        while self.stage() != "ready" {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "not ready: {}\n{}",
                self.stage(),
                self.history()
            );
            let run = self.run(&["tick", "--quiet"]);
            assert!(
                matches!(run.status, Some(0)),
                "tick: {}\n{}",
                run.stdout,
                run.stderr
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// Digests (upper-case hex) every authoritative server of mx.example. serves at the owner.
pub fn served_everywhere(lab: &Lab, owner: &str) -> Vec<Vec<String>> {
    lab.mx
        .servers()
        .into_iter()
        .map(|server| {
            lab.dig_short(server, owner, "TLSA")
                .iter()
                .map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    fields.get(3..).unwrap_or_default().concat().to_uppercase()
                })
                .collect::<std::collections::BTreeSet<String>>()
                .into_iter()
                .collect()
        })
        .collect()
}

/// The promise: the deployed key's record is served by every authoritative server.
pub fn assert_promise(lab: &Lab, setup: &Setup, when: &str) {
    let deployed = setup.deployed();
    for (i, served) in served_everywhere(lab, &setup.owner()).iter().enumerate() {
        assert!(
            served.contains(&deployed),
            "{when}: server {i} does not serve the deployed key {deployed}: {served:?}\n{}",
            setup.history()
        );
    }
}

fn keys_in(setup: &Setup) -> usize {
    std::fs::read_dir(setup.dir.join(&format!("state/hosts/{}/keys", setup.host)))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn tick_adopts_then_rollover_swaps_deploys_reloads_and_retires_after_the_swap() {
    let lab = Lab::shared();
    let setup = Setup::new(lab, "roll1");
    let first = setup.deployed();
    setup.tick_until_ready();
    let next = setup.state()["rollover"]["stage"]["next"]["record"]
        .as_str()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_uppercase();
    let served = served_everywhere(lab, &setup.owner());
    assert!(
        served
            .iter()
            .all(|s| s.contains(&first) && s.contains(&next)),
        "{served:?}"
    );
    assert_promise(lab, &setup, "ready");

    // The dry run changes nothing: no key, no DNS change, same state, no history. (The zone's
    // serial is not compared: other tests share the lab's zone.)
    let history = setup.history();
    let keys = keys_in(&setup);
    let state = setup.state();
    let run = setup.run(&["rollover", "--dry-run", "--host", &setup.host]);
    run.expect_status(0);
    assert!(run.stdout.contains("remove _25._tcp."), "{}", run.stdout);
    assert!(run.stdout.contains("add    _25._tcp."), "{}", run.stdout);
    assert!(run.stdout.contains("TLSA RRset TTL 5s"), "{}", run.stdout);
    assert!(run.stdout.contains("swap: run /bin/sh"), "{}", run.stdout);
    assert!(
        run.stdout.contains("postfix/chain.pem, then run"),
        "{}",
        run.stdout
    );
    assert_eq!(served_everywhere(lab, &setup.owner()), served);
    assert_eq!(setup.history(), history);
    assert_eq!(keys_in(&setup), keys);
    assert_eq!(setup.state(), state);

    // The foreground rollover: swap to the safe next key, reload, confirm, retire the old one.
    let run = setup.run(&["rollover", "--host", &setup.host]);
    run.expect_status(0);
    assert!(
        run.stdout.contains("running the swap command"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("retired"), "{}", run.stdout);
    let deployed = setup.deployed();
    assert!(
        next.ends_with(&deployed),
        "deployed {deployed}, next was {next}"
    );
    assert_eq!(setup.stage(), "ready");
    let reloads = std::fs::read_to_string(setup.dir.join("reloads")).unwrap();
    assert_eq!(reloads.lines().count(), 1);
    lab.wait_secondary_synced();
    let served = served_everywhere(lab, &setup.owner());
    assert!(
        served.iter().all(|s| !s.contains(&first)),
        "old record still served: {served:?}"
    );
    assert_promise(lab, &setup, "after the rollover");
    // The old record was retired only after the swap was deployed and confirmed.
    let history = setup.history();
    let deploy_at = history.find("\"action\":\"deploy\"").unwrap();
    let live_at = history.find("\"input\":\"live\"").unwrap();
    let retire_at = history.find("\"action\":\"retire\"").unwrap();
    assert!(deploy_at < live_at && live_at < retire_at, "{history}");
    // The combined file keeps the mode it had (#13: the MTA may read it as a group), minus
    // any permission for others: it holds the key. The test wrote it 0644.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(setup.dir.join("postfix/chain.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
}

#[test]
fn a_rollover_killed_after_every_action_resumes_and_keeps_the_promise() {
    let lab = Lab::shared();
    let setup = Setup::new(lab, "crash1");
    let first = setup.deployed();
    assert_promise(lab, &setup, "start");
    let mut crashes = 0;
    let mut runs = 0;
    loop {
        runs += 1;
        assert!(runs < 60, "no end after {runs} runs\n{}", setup.history());
        // Each run redoes the change the last run crashed in, makes one more, and is killed
        // (SIGKILL).
        // `rollover` until the new key is deployed (a rerun is the operator asking again),
        // then `tick` (another `rollover` would ask for one more key change).
        let swapped = setup.deployed() != first;
        if swapped && setup.stage() == "ready" {
            break;
        }
        let args: &[&str] = if swapped {
            &["tick"]
        } else {
            &["rollover", "--host", &setup.host]
        };
        let run = Run::from_output(
            setup
                .daneroll(args)
                .env("DANEROLL_FAILPOINT", "write:2")
                .output()
                .unwrap(),
        );
        assert_promise(lab, &setup, &format!("after run {runs}"));
        match run.status {
            None => {
                assert!(run.stderr.contains("(SIGKILL)"), "{}", run.stderr);
                crashes += 1;
            }
            Some(0) => std::thread::sleep(Duration::from_millis(500)),
            Some(status) => panic!("run {runs} exited {status}: {}\n{}", run.stdout, run.stderr),
        }
    }
    assert!(crashes >= 5, "only {crashes} crashes");
    assert_eq!(setup.stage(), "ready");
    assert_ne!(setup.deployed(), first);
    lab.wait_secondary_synced();
    let served = served_everywhere(lab, &setup.owner());
    assert!(served.iter().all(|s| !s.contains(&first)), "{served:?}");
    assert!(
        served.iter().all(|s| s.len() == 2),
        "current + next: {served:?}"
    );
}

#[test]
fn two_ticks_at_once_do_the_work_once_and_a_held_lock_is_busy() {
    let lab = Lab::shared();
    let setup = Setup::new(lab, "busy1");
    let mut first = setup.daneroll(&["tick"]).spawn().unwrap();
    let mut second = setup.daneroll(&["tick"]).spawn().unwrap();
    assert!(first.wait().unwrap().success());
    assert!(second.wait().unwrap().success());
    let history = setup.history();
    let mut published: Vec<&str> = history
        .lines()
        .filter(|line| line.contains("\"action\":\"publish\""))
        .collect();
    let count = published.len();
    published.sort();
    published.dedup_by(|a, b| a.split("\"record\"").nth(1) == b.split("\"record\"").nth(1));
    assert_eq!(
        published.len(),
        count,
        "a record was published twice: {history}"
    );
    assert!(count >= 1, "{history}");

    // Another process holds the host's lock: --no-wait says busy, changes nothing.
    let lock = setup.dir.join(&format!("state/hosts/{}/lock", setup.host));
    let mut holder = Command::new("flock")
        .arg(&lock)
        .args(["-c", "sleep 3"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let before = setup.history();
    let run = setup.run(&["tick", "--no-wait"]);
    run.expect_status(3);
    assert!(run.stderr.contains("busy"), "{}", run.stderr);
    assert_eq!(setup.history(), before);
    holder.wait().unwrap();
}

#[test]
fn config_check_validates_the_example_and_names_missing_files() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/daneroll.toml");
    let run = Run::from_output(
        daneroll()
            .args(["config", "check"])
            .arg(&example)
            .output()
            .unwrap(),
    );
    run.expect_status(4);
    assert!(
        run.stdout.contains("key_max_age = \"365d\""),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("combined_file"), "{}", run.stdout);
    assert!(run.stderr.contains("tsig.key"), "{}", run.stderr);
    assert!(
        run.stderr.contains("does not exist (yet)"),
        "{}",
        run.stderr
    );

    let dir = Dir::new();
    let broken = dir.write(
        "broken.toml",
        "[policy]\nsafety_factor = 2\nkey_max_age = \"1y\"\n",
    );
    let run = Run::from_output(
        daneroll()
            .args(["config", "check"])
            .arg(&broken)
            .output()
            .unwrap(),
    );
    run.expect_status(2);
    assert!(
        run.stderr.contains("line 3, policy.key_max_age"),
        "{}",
        run.stderr
    );

    let secret = dir.write(
        "rest.toml",
        "[dns.hosted]\ntype = \"desec\"\ntoken = \"s3cr3t-token\"\n",
    );
    let run = Run::from_output(
        daneroll()
            .args(["config", "check"])
            .arg(&secret)
            .output()
            .unwrap(),
    );
    run.expect_status(2);
    assert!(run.stderr.contains("line 3"), "{}", run.stderr);
    assert!(!run.stderr.contains("s3cr3t"), "{}", run.stderr);
}

#[test]
fn completions_and_man_page_come_from_the_cli() {
    let run = Run::from_output(daneroll().args(["completions", "bash"]).output().unwrap());
    run.expect_status(0);
    assert!(run.stdout.contains("rollover"), "{}", run.stdout);
    let run = Run::from_output(daneroll().arg("man").output().unwrap());
    run.expect_status(0);
    assert!(run.stdout.contains(".TH daneroll"), "{}", run.stdout);
}

#[test]
fn a_swap_the_probe_cannot_confirm_keeps_the_old_record() {
    let lab = Lab::shared();
    let setup = Setup::new(lab, "roll5");
    // The default live check: STARTTLS to every address of the host. No MTA answers for this
    // host, so the swap can never be confirmed and the old record must stay published.
    let text = std::fs::read_to_string(&setup.config).unwrap();
    std::fs::write(&setup.config, text.replace("live_check = \"files\"\n", "")).unwrap();
    let first = setup.deployed();
    setup.tick_until_ready();

    let (mut child, seen) =
        crate::util::spawn_lines(&mut setup.daneroll(&["rollover", "--host", &setup.host]));
    let mut output = String::new();
    let refused = loop {
        match seen.recv_timeout(Duration::from_secs(90)) {
            Ok(line) => {
                output.push_str(&line);
                output.push('\n');
                // The failed live check is retried after a backoff: the first wait after the
                // swap means the probe refused to confirm it.
                if output.contains("installed the certificate") && line.contains("waiting") {
                    break true;
                }
            }
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(refused, "no retry after the live check:\n{output}");
    // The new certificate was deployed, the probe could not confirm it: nothing retired.
    assert_ne!(setup.deployed(), first);
    lab.wait_secondary_synced();
    let served = served_everywhere(lab, &setup.owner());
    assert!(
        served.iter().all(|s| s.contains(&first)),
        "old record retired without a confirmed swap: {served:?}\n{output}"
    );
    assert!(
        !setup.history().contains("\"action\":\"retire\""),
        "{}",
        setup.history()
    );
}

#[test]
fn rollover_without_host_rolls_every_host_at_once() {
    let lab = Lab::shared();
    let first = Setup::new(lab, "multi1");
    let second = Setup::new(lab, "multi2");
    // One configuration with both hosts (the first setup's state directory).
    let text = std::fs::read_to_string(&first.config).unwrap();
    let other = std::fs::read_to_string(&second.config).unwrap();
    let other_host = &other[other.find("[[host]]").unwrap()..];
    let config = first
        .dir
        .write("both.toml", format!("{text}\n{other_host}"));
    let state_dir = first.dir.join("state");
    let stage_of = |host: &str| -> String {
        let path = state_dir.join(format!("hosts/{host}/state.json"));
        std::fs::read_to_string(path)
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|state| {
                state["rollover"]["stage"]["state"]
                    .as_str()
                    .map(String::from)
            })
            .unwrap_or_else(|| "none".into())
    };
    let run = |args: &[&str]| {
        let mut command = daneroll();
        command.arg("--config").arg(&config).args(args);
        Run::from_output(command.output().unwrap())
    };
    let start = Instant::now();
    while stage_of(&first.host) != "ready" || stage_of(&second.host) != "ready" {
        assert!(start.elapsed() < Duration::from_secs(120), "never ready");
        run(&["tick", "--quiet"]).expect_status(0);
        std::thread::sleep(Duration::from_millis(500));
    }
    let before = [first.deployed(), second.deployed()];

    let rolled = run(&["rollover"]);
    rolled.expect_status(0);
    for setup in [&first, &second] {
        // Several hosts: every line says which host it is about.
        assert!(
            rolled
                .stdout
                .contains(&format!("{}: retired _25._tcp.{}.", setup.host, setup.host)),
            "{}",
            rolled.stdout
        );
        assert_eq!(stage_of(&setup.host), "ready");
        assert_promise(lab, setup, "after the rollover of both");
    }
    let after = [first.deployed(), second.deployed()];
    assert!(
        before[0] != after[0] && before[1] != after[1],
        "{before:?} {after:?}"
    );
    // The waits overlapped: the two hosts' swaps interleave in one run's output rather than
    // the second host starting after the first one finished.
    let swap = |setup: &Setup| {
        rolled
            .stdout
            .find(&format!("{}: running the swap command", setup.host))
            .unwrap()
    };
    let retired = |setup: &Setup| {
        rolled
            .stdout
            .find(&format!("{}: retired", setup.host))
            .unwrap()
    };
    assert!(
        swap(&first) < retired(&second) && swap(&second) < retired(&first),
        "{}",
        rolled.stdout
    );
}

#[test]
fn other_names_roll_with_the_host_one_key_for_the_group() {
    let lab = Lab::shared();
    let setup = Setup::new(lab, "group1");
    let other = "group2.mx.example";
    let other_owner = format!("_25._tcp.{other}.");
    // mx2 presents the same certificate: its record is the same key's, published beforehand.
    let text = std::fs::read_to_string(&setup.config).unwrap();
    let name_line = format!("name = \"{}\"\n", setup.host);
    std::fs::write(
        &setup.config,
        text.replace(
            &name_line,
            &format!("{name_line}other_names = [\"{other}\"]\n"),
        ),
    )
    .unwrap();
    let first = setup.deployed();
    lab.nsupdate(
        &lab.keys.mx,
        &lab.mx,
        &format!("update add {other_owner} 5 TLSA 3 1 1 {first}"),
    )
    .unwrap();
    lab.wait_secondary_synced();

    setup.tick_until_ready();
    lab.wait_secondary_synced();
    let both = |owner: &str| served_everywhere(lab, owner);
    let ready = both(&setup.owner());
    assert_eq!(both(&other_owner), ready, "the group's names differ");
    assert!(
        ready.iter().all(|s| s.len() == 2 && s.contains(&first)),
        "{ready:?}"
    );

    setup
        .run(&["rollover", "--host", &setup.host])
        .expect_status(0);
    lab.wait_secondary_synced();
    let after = both(&setup.owner());
    assert_eq!(both(&other_owner), after, "the group's names differ");
    let deployed = setup.deployed();
    assert_ne!(deployed, first);
    assert!(
        after
            .iter()
            .all(|s| s.len() == 2 && s.contains(&deployed) && !s.contains(&first)),
        "{after:?}"
    );
    // One key for the group: one state, under the host's name.
    assert!(!setup.dir.join(&format!("state/hosts/{other}")).exists());
}
