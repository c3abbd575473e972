//! The ACME hook connected to the rollover engine, end to end: the lab's real BIND (signed
//! `mx.example.`, TSIG, TLSA TTL 5 s), pebble, and certbot renewing through daneroll.
//!
//! The engine adopts the certbot certificate, pre-generates and publishes the next key, and on
//! `daneroll rollover` renews through certbot with exactly that key; certbot's deploy hook
//! (`hooks/certbot/daneroll`) stages the certificate, the engine deploys it, confirms it, and
//! only then retires the old record and publishes the following next key.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use daneroll_providers::Tlsa;

use daneroll::rollover::store::Store;

use crate::lab::Lab;
use crate::lab::pebble::Pebble;
use crate::util::{Dir, Run, daneroll, repo_root};

/// PATH with the daneroll binary first (the hook script calls `daneroll`).
fn path_with_daneroll() -> String {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_daneroll"));
    // invariant: the binary lives in a directory.
    let bin_dir = bin.parent().expect("bin dir").display().to_string();
    format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default())
}

/// The `3 1 1` record of the first certificate (or the key) in a PEM file.
pub(crate) fn record_of(path: &Path) -> Tlsa {
    let run = crate::util::run(&[
        "tlsa",
        "--usage",
        "3",
        "--selector",
        "1",
        "--mtype",
        "1",
        path.to_str().unwrap_or_default(),
    ]);
    run.ok();
    // invariant: `daneroll tlsa` printed one record for one file (checked by ok()).
    let line = run
        .lines()
        .into_iter()
        .find(|l| !l.trim().is_empty())
        .expect("a record");
    let data = line.split_whitespace().last().expect("record data");
    format!("3 1 1 {data}").parse().expect("a TLSA record")
}

/// One MX host of the lab whose certificate comes from an ACME client against pebble.
pub(crate) struct Setup {
    pub dir: Dir,
    pub host: String,
    pub config: PathBuf,
    trust_env: Vec<(String, String)>,
}

impl Setup {
    pub fn env(&self, command: &mut Command) {
        command
            .envs(self.trust_env.iter().cloned())
            .env("PATH", path_with_daneroll())
            .env("XDG_CONFIG_HOME", self.dir.join("xdg"))
            .env("DANEROLL_CONFIG", &self.config)
            .env_remove("DANEROLL_STATE_DIR");
    }

    pub fn certbot(&self, args: &[&str]) -> Run {
        let mut command = Command::new("certbot");
        command
            .args(args)
            .arg("--config-dir")
            .arg(self.dir.join("letsencrypt"));
        self.env(&mut command);
        // invariant: certbot is installed for these tests (.ci/run installs it).
        Run::from_output(command.output().expect("run certbot"))
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let mut command = daneroll();
        command.arg("--config").arg(&self.config).args(args);
        self.env(&mut command);
        // invariant: the binary was built by cargo for this test run.
        Run::from_output(command.output().expect("run daneroll"))
    }

    pub fn live(&self, name: &str) -> PathBuf {
        self.dir
            .join(&format!("letsencrypt/live/{}/{name}", self.host))
    }

    pub fn host_dir(&self) -> PathBuf {
        self.dir.join(&format!("state/hosts/{}", self.host))
    }

    pub fn state(&self) -> serde_json::Value {
        std::fs::read_to_string(self.host_dir().join("state.json"))
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

    pub fn next(&self) -> Tlsa {
        let text = self.state()["rollover"]["stage"]["next"]["record"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        text.parse()
            .unwrap_or_else(|e| panic!("next record {text:?}: {e}"))
    }

    pub fn history(&self) -> String {
        std::fs::read_to_string(self.host_dir().join("history.jsonl")).unwrap_or_default()
    }

    pub fn deployed(&self) -> Tlsa {
        record_of(&self.dir.join("postfix/chain.pem"))
    }

    pub fn owner(&self) -> String {
        format!("_25._tcp.{}.", self.host)
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
            self.run(&["tick", "--quiet"]).expect_status(0);
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// The records every authoritative server of mx.example. serves at `owner`.
pub(crate) fn served_everywhere(lab: &Lab, owner: &str) -> Vec<Vec<Tlsa>> {
    lab.mx
        .servers()
        .into_iter()
        .map(|server| {
            lab.dig_short(server, owner, "TLSA")
                .iter()
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let data = fields.get(3..).unwrap_or_default().concat();
                    format!("3 1 1 {data}").parse().ok()
                })
                .collect()
        })
        .collect()
}

fn setup(lab: &Lab, pebble: &Pebble, label: &str, policy: &str) -> Setup {
    let dir = Dir::new();
    let d = dir.path().display().to_string();
    let source = format!("type = \"certbot\"\nconfig_dir = \"{d}/letsencrypt\"\n");
    setup_in(dir, lab, &pebble.trust_env(), label, policy, "", &source)
}

/// A lab host `LABEL.mx.example` in `dir` with the `[policy]` lines `policy`, extra `[[host]]`
/// lines `host_extra` and the `[host.source]` lines `source`; the MTA's file is
/// `postfix/chain.pem`, every reload is logged in `reloads`.
pub(crate) fn setup_in(
    dir: Dir,
    lab: &Lab,
    trust_env: &[(String, String)],
    label: &str,
    policy: &str,
    host_extra: &str,
    source: &str,
) -> Setup {
    let host = format!("{label}.mx.example");
    let d = dir.path().display().to_string();
    std::fs::create_dir_all(dir.join("postfix")).unwrap();
    std::fs::create_dir_all(dir.join("xdg/letsencrypt")).unwrap();
    // certbot's work and log dirs for every run, `renew` included (daneroll runs it).
    dir.write(
        "xdg/letsencrypt/cli.ini",
        format!("work-dir = {d}/work\nlogs-dir = {d}/logs\n"),
    );
    let config = dir.write(
        "daneroll.toml",
        format!(
            r#"state_dir = "{d}/state"

[dns.lab]
type = "rfc2136"
tsig_key_file = "{key}"

[validation]
trust_anchor_file = "{anchor}"
resolver = "{resolver}"

[policy]
safety_factor = 2
poll_interval = "1s"
{policy}

[[host]]
name = "{host}"
dns = "lab"
ttl = 5
# No MTA listens in this test: the deployed files stand in for what port 25 presents.
live_check = "files"
{host_extra}

[host.deploy]
combined_file = "{d}/postfix/chain.pem"
reload = ["/bin/sh", "-c", "echo reload >> {d}/reloads"]

[host.source]
{source}"#,
            key = lab.keys.mx.bind_file.display(),
            anchor = lab.trust_anchor.display(),
            resolver = lab.resolver,
        ),
    );
    Setup {
        dir,
        host,
        config,
        trust_env: trust_env.to_vec(),
    }
}

/// Installs the client's first certificate into the MTA's file (key, then chain) and publishes
/// its record, as an operator does before daneroll manages the host. Returns its record.
pub(crate) fn install_first(lab: &Lab, setup: &Setup, key: &Path, chain: &Path) -> Tlsa {
    let first = record_of(chain);
    let mut combined = std::fs::read(key).unwrap();
    combined.extend(std::fs::read(chain).unwrap());
    std::fs::write(setup.dir.join("postfix/chain.pem"), combined).unwrap();
    lab.nsupdate(
        &lab.keys.mx,
        &lab.mx,
        &format!("update add {} 5 TLSA {first}", setup.owner()),
    )
    .unwrap();
    lab.wait_secondary_synced();
    first
}

/// Issues the first certificate with certbot (before daneroll manages the host), saves the
/// deploy hook in the lineage's renewal settings as hooks/README.md says, installs it into the
/// MTA's file and publishes its record. Returns its record.
pub(crate) fn issue(lab: &Lab, setup: &Setup, directory: &str) -> Tlsa {
    let host = setup.host.clone();
    setup
        .certbot(&[
            "certonly",
            "--non-interactive",
            "--agree-tos",
            "--email",
            "hostmaster@mx.example",
            "--server",
            directory,
            "--manual",
            "--manual-auth-hook",
            "true",
            "--preferred-challenges",
            "http",
            "--key-type",
            "ecdsa",
            "--cert-name",
            &host,
            "-d",
            &host,
        ])
        .ok();
    let hook = repo_root().join("hooks/certbot/daneroll");
    let renewal = setup.dir.join(&format!("letsencrypt/renewal/{host}.conf"));
    let conf = std::fs::read_to_string(&renewal).unwrap();
    let conf = conf.replacen(
        "[renewalparams]\n",
        &format!("[renewalparams]\nrenew_hook = {}\n", hook.display()),
        1,
    );
    std::fs::write(&renewal, conf).unwrap();
    // The live key's record is published before daneroll starts (as in production).
    install_first(
        lab,
        setup,
        &setup.live("privkey.pem"),
        &setup.live("fullchain.pem"),
    )
}

#[test]
fn certbot_rotation_through_the_engine_uses_the_pre_published_next_key() {
    let lab = Lab::shared();
    let dir = Dir::new();
    let pebble = Pebble::start(&dir.join("pebble")).unwrap_or_else(|e| panic!("{e}"));
    let setup = setup(lab, &pebble, "acme1", "");
    let host = setup.host.clone();
    let first = issue(lab, &setup, &pebble.directory);

    // The engine adopts the host, pre-generates the next key and publishes it.
    setup.tick_until_ready();
    let next = setup.next();
    assert_ne!(next, first);
    let served = served_everywhere(lab, &setup.owner());
    assert!(
        served
            .iter()
            .all(|s| s.contains(&first) && s.contains(&next)),
        "{served:?}"
    );

    // The rotation: certbot renews with exactly the pre-published key; its hook stages the
    // certificate; the engine deploys it, confirms it, retires the old record.
    let run = setup.run(&["rollover", "--host", &host]);
    run.expect_status(0);
    assert_eq!(record_of(&setup.live("cert.pem")), next, "{}", run.stdout);
    assert_eq!(record_of(&setup.live("privkey.pem")), next);
    assert_eq!(setup.deployed(), next, "{}\n{}", run.stdout, run.stderr);
    let log = std::fs::read_to_string(setup.dir.join("logs/letsencrypt.log")).unwrap();
    assert!(
        log.contains("Running deploy-hook command") && log.contains("hooks/certbot/daneroll"),
        "certbot did not run the deploy hook"
    );
    // The staged certificate is forgotten once deployed.
    assert!(!setup.host_dir().join("staged.json").exists());
    let reloads = std::fs::read_to_string(setup.dir.join("reloads")).unwrap();
    assert_eq!(reloads.lines().count(), 1);

    // The state advanced: old record retired only after the swap; a new next key published.
    assert_eq!(setup.stage(), "ready");
    let following = setup.next();
    assert!(following != next && following != first);
    lab.wait_secondary_synced();
    let served = served_everywhere(lab, &setup.owner());
    assert!(
        served
            .iter()
            .all(|s| !s.contains(&first) && s.contains(&next) && s.contains(&following)),
        "{served:?}\n{}",
        setup.history()
    );
    let history = setup.history();
    let request_at = history.find("\"action\":\"request_certificate\"");
    let deploy_at = history.find("\"action\":\"deploy\"").unwrap();
    let live_at = history.find("\"input\":\"live\"").unwrap();
    let retire_at = history.find("\"action\":\"retire\"").unwrap();
    assert!(
        request_at.is_some_and(|r| r < deploy_at) && deploy_at < live_at && live_at < retire_at,
        "{history}"
    );

    // certbot renews on its own (no daneroll pass running) with the pre-published key in its
    // key file: the hook stages it and its one engine pass deploys it at once.
    let key = Store::existing(setup.dir.join("state"))
        .private_key_path(&host, &following)
        .unwrap();
    let archive_key = std::fs::canonicalize(setup.live("privkey.pem")).unwrap();
    std::fs::copy(&key, &archive_key).unwrap();
    let renew = |extra: &str| {
        setup.certbot(&[
            "renew",
            "--non-interactive",
            "--cert-name",
            &host,
            "--force-renewal",
            extra,
            "--no-random-sleep-on-renew",
        ])
    };
    renew("--reuse-key").ok();
    assert_eq!(record_of(&setup.live("cert.pem")), following);
    assert_eq!(setup.deployed(), following, "{}", setup.history());
    // The hook's pass did not wait for the following key to propagate: the next tick does.
    let history = setup.history();
    let retire_at = history.rfind("\"action\":\"retire\"").unwrap();
    assert!(
        history[retire_at..].contains("\"action\":\"publish\""),
        "{history}"
    );
    setup.tick_until_ready();
    let after = setup.next();
    assert!(after != following && after != next);
    lab.wait_secondary_synced();
    let served = served_everywhere(lab, &setup.owner());
    assert!(
        served
            .iter()
            .all(|s| !s.contains(&next) && s.contains(&following) && s.contains(&after)),
        "{served:?}\n{}",
        setup.history()
    );

    // The hook run again for the same certificate (a retried hook): nothing changes.
    let state_before = setup.state();
    let mut again = daneroll();
    again
        .args(["hook", "certbot"])
        .env("RENEWED_LINEAGE", setup.live(""))
        .env("RENEWED_DOMAINS", &host);
    setup.env(&mut again);
    let again = Run::from_output(again.output().unwrap());
    again.expect_status(0);
    assert_eq!(setup.deployed(), following);
    assert_eq!(setup.state()["rollover"], state_before["rollover"]);

    // A renewal with a fresh key behind daneroll's back: the hook's pass takes the emergency
    // path (the key's record is published now) and the MTA keeps the safe key meanwhile.
    let run = renew("--new-key");
    let fresh = record_of(&setup.live("cert.pem"));
    assert!(fresh != following && fresh != after, "{}", run.stderr);
    assert_eq!(setup.deployed(), following, "{}", setup.history());
    let log = std::fs::read_to_string(setup.dir.join("logs/letsencrypt.log")).unwrap();
    assert!(log.contains("ALERT"), "the hook raised no alert");
    lab.wait_secondary_synced();
    let served = served_everywhere(lab, &setup.owner());
    assert!(
        served
            .iter()
            .all(|s| s.contains(&fresh) && s.contains(&following)),
        "{served:?}\n{}",
        setup.history()
    );
    // Once the fresh key's record is safe, ticks deploy the staged certificate.
    let start = Instant::now();
    while setup.deployed() != fresh {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the fresh certificate was never deployed\n{}",
            setup.history()
        );
        let run = setup.run(&["tick", "--quiet"]);
        assert!(
            matches!(run.status, Some(0 | 4)),
            "{:?} {}{}\n{}",
            run.status,
            run.stdout,
            run.stderr,
            setup.history()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn acme_server_down_during_the_engines_renewal_restores_certbots_key_and_keeps_the_state() {
    let lab = Lab::shared();
    let dir = Dir::new();
    let mut pebble = Pebble::start(&dir.join("pebble")).unwrap_or_else(|e| panic!("{e}"));
    // Keys older than a second are due: the first tick after `ready` rotates.
    let setup = setup(lab, &pebble, "acme2", "key_max_age = \"1s\"");
    let first = issue(lab, &setup, &pebble.directory);
    let live_key = std::fs::read(setup.live("privkey.pem")).unwrap();
    let archive_key = std::fs::canonicalize(setup.live("privkey.pem")).unwrap();
    pebble.stop();
    // Ticks until the engine, once the next key is safe, has tried to renew through certbot.
    let failed = "\"input\":\"failed\",\"action\":\"request_certificate\"";
    let start = Instant::now();
    while !setup.history().contains(failed) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no renewal attempt\n{}",
            setup.history()
        );
        let run = setup.run(&["tick", "--quiet"]);
        assert!(matches!(run.status, Some(0 | 1)), "{}", run.stderr);
        std::thread::sleep(Duration::from_millis(500));
    }
    let next = setup.next();
    let history = setup.history();
    assert!(
        history.contains("\"action\":\"request_certificate\""),
        "{history}"
    );
    // certbot's key and certificate agree again; nothing was deployed or retired.
    assert_eq!(std::fs::read(setup.live("privkey.pem")).unwrap(), live_key);
    assert_eq!(
        std::fs::canonicalize(setup.live("privkey.pem")).unwrap(),
        archive_key
    );
    assert_eq!(record_of(&setup.live("cert.pem")), first);
    assert_eq!(setup.deployed(), first);
    assert_eq!(setup.next(), next);
    assert!(!history.contains("\"action\":\"retire\""), "{history}");
    let served = served_everywhere(lab, &setup.owner());
    assert!(
        served
            .iter()
            .all(|s| s.contains(&first) && s.contains(&next)),
        "{served:?}"
    );
}
