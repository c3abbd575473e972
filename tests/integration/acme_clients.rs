//! lego and dehydrated renewing through the rollover engine against pebble, the lab's real BIND
//! (signed `mx.example.`, TSIG, TLSA TTL 5 s), and the hooks in `hooks/`; each host's
//! `renew_command` is the configured one (the stock commands name Let's Encrypt, which a
//! loopback-only test cannot reach, so a renewal against pebble proves the configured command
//! ran).
//!
//! Every host rotates with `key_max_age = "1s"`, driven by `tick` alone as cron would: the engine
//! pre-publishes the next key, renews through the client with exactly that key, the client's
//! deploy hook stages the certificate, the engine deploys it, confirms it and only then retires
//! the old record and publishes the following next key. Then the ACME server goes down during
//! the forced renewal: the client's key files are restored, nothing is deployed or retired; once
//! the server is back (and the retry backoff has passed) the engine retries with the same key
//! (lego's retry runs without its hook: daneroll stages the renewal from lego's files).
//! certbot: a change of key type (the lineage is ECDSA, the host's keys RSA) renews with the
//! `--key-type` flags certbot needs to accept the injected key.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use daneroll::acme::key_type_of_pem;
use daneroll::pki::KeyType;
use daneroll_providers::Tlsa;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::acme_engine::{Setup, install_first, issue, record_of, served_everywhere, setup_in};
use crate::lab::Lab;
use crate::lab::pebble::Pebble;
use crate::util::{Dir, Run, repo_root};

const EMAIL: &str = "hostmaster@mx.example";

/// A TOML array of strings.
fn toml_array(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// A hook that logs its call to `hook.log` and then runs the real hook script from `hooks/`.
fn logging_hook(dir: &Dir, real: &str) -> PathBuf {
    let path = dir.write(
        "bin/hook",
        format!(
            "#!/bin/sh\necho \"$1 ${{LEGO_CERT_DOMAIN:-}}\" >> {log}\nexec {real} \"$@\"\n",
            log = dir.join("hook.log").display(),
            real = repo_root().join(real).display()
        ),
    );
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod hook");
    path
}

/// The history as JSON values.
pub(crate) fn entries(setup: &Setup) -> Vec<Value> {
    setup
        .history()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

fn is_outcome(entry: &Value, input: &str) -> bool {
    entry["event"] == "outcome" && entry["input"] == input
}

pub(crate) fn is_intent(entry: &Value, action: &str) -> bool {
    entry["event"] == "intent" && entry["action"] == action
}

/// The records of the certificates the engine obtained through the client, in order.
fn renewals(setup: &Setup) -> Vec<Tlsa> {
    entries(setup)
        .iter()
        .filter(|e| is_outcome(e, "certificate_requested"))
        .filter_map(|e| e["record"].as_str()?.parse().ok())
        .collect()
}

fn failed_renewals(setup: &Setup) -> usize {
    entries(setup)
        .iter()
        .filter(|e| is_outcome(e, "failed") && e["action"] == "request_certificate")
        .count()
}

pub(crate) fn retirements(setup: &Setup) -> usize {
    entries(setup)
        .iter()
        .filter(|e| is_intent(e, "retire"))
        .count()
}

fn current(setup: &Setup) -> Tlsa {
    let text = setup.state()["rollover"]["stage"]["current"]["record"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    text.parse()
        .unwrap_or_else(|e| panic!("current record {text:?}: {e}"))
}

/// daneroll's next key, wherever the stage keeps it (`next` once safe, `incoming` before).
pub(crate) fn next_key(setup: &Setup) -> Option<Tlsa> {
    let stage = &setup.state()["rollover"]["stage"];
    [
        &stage["next"]["record"],
        &stage["incoming"]["next"]["record"],
    ]
    .into_iter()
    .find_map(|v| v.as_str()?.parse().ok())
}

/// Ticks (each returns at once, as from cron) until `done`.
fn tick_until(setup: &Setup, what: &str, done: impl Fn(&Setup) -> bool) {
    let start = Instant::now();
    while !done(setup) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "never {what}\n{}",
            setup.history()
        );
        let run = setup.run(&["tick", "--quiet"]);
        assert!(
            matches!(run.status, Some(0 | 1)),
            "{:?} {}{}\n{}",
            run.status,
            run.stdout,
            run.stderr,
            setup.history()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Moves the last failure back by two minutes: the retry backoff (30 s after one failure) has
/// passed, as it would have by the next cron tick.
fn let_the_backoff_pass(setup: &Setup) {
    let path = setup.host_dir().join("state.json");
    let mut state: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let at = &mut state["rollover"]["retry"]["last_failure_at"];
    let earlier = OffsetDateTime::parse(at.as_str().expect("a failure"), &Rfc3339).unwrap()
        - time::Duration::minutes(2);
    *at = Value::String(earlier.format(&Rfc3339).unwrap());
    std::fs::write(&path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
}

/// The first rotation through the engine, checked against the issue's promises. Returns the
/// renewed key's record and the following next key.
fn first_rotation(lab: &Lab, setup: &Setup, first: &Tlsa, renewed_key: &Path) -> (Tlsa, Tlsa) {
    tick_until(setup, "rotated through the client", |s| {
        !renewals(s).is_empty() && retirements(s) > 0
    });
    let next = renewals(setup)[0].clone();
    assert_ne!(&next, first);
    // The renewal used exactly the key pre-published earlier.
    let history = entries(setup);
    let published_at = history
        .iter()
        .position(|e| is_intent(e, "publish") && e["record"] == next.to_string())
        .expect("the next key was published");
    let pos = |f: &dyn Fn(&Value) -> bool| history.iter().position(f).expect("in history");
    let request_at = pos(&|e| is_intent(e, "request_certificate"));
    let deployed_at = pos(&|e| is_outcome(e, "deployed"));
    let live_at = pos(&|e| is_outcome(e, "live"));
    let retire_at = pos(&|e| is_intent(e, "retire"));
    assert!(
        published_at < request_at
            && request_at < deployed_at
            && deployed_at < live_at
            && live_at < retire_at,
        "{}",
        setup.history()
    );
    assert_eq!(record_of(renewed_key), next);
    assert_eq!(setup.deployed(), next, "{}", setup.history());
    let log = std::fs::read_to_string(setup.dir.join("hook.log")).unwrap_or_default();
    assert!(!log.is_empty(), "the deploy hook never ran");
    assert!(!setup.host_dir().join("staged.json").exists());
    // The old record is gone; the following next key is published beside the new one.
    let following = next_key(setup).expect("a following next key");
    assert!(&following != first && following != next);
    lab.wait_secondary_synced();
    let served = served_everywhere(lab, &setup.owner());
    assert!(
        served
            .iter()
            .all(|s| !s.contains(first) && s.contains(&next) && s.contains(&following)),
        "{served:?}\n{}",
        setup.history()
    );
    (next, following)
}

/// The ACME server is down at the next forced renewal: `files` are exactly as before, nothing
/// is deployed or retired, the next key stays. Then the server is back and the engine retries
/// with the same key.
fn outage_then_retry(
    lab: &Lab,
    pebble: &mut Pebble,
    setup: &Setup,
    files: &[PathBuf],
    before_retry: impl Fn(&Setup),
) -> Tlsa {
    let (live, next) = (current(setup), next_key(setup).expect("a next key"));
    let before: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    pebble.go_down();
    tick_until(setup, "tried to renew", |s| failed_renewals(s) > 0);
    let after: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    for (file, (before, after)) in files.iter().zip(before.iter().zip(&after)) {
        assert!(before == after, "{} changed", file.display());
    }
    assert_eq!(renewals(setup).len(), 1);
    assert_eq!(retirements(setup), 1, "{}", setup.history());
    assert_eq!(
        (current(setup), next_key(setup)),
        (live.clone(), Some(next.clone()))
    );
    assert_eq!(setup.deployed(), live);
    let served = served_everywhere(lab, &setup.owner());
    assert!(
        served
            .iter()
            .all(|s| s.contains(&live) && s.contains(&next)),
        "{served:?}"
    );
    let status = setup.run(&["status", "--json"]);
    status.ok();
    let json: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(json[0]["last_failure"]["action"], "request_certificate");

    before_retry(setup);
    pebble.come_back();
    let_the_backoff_pass(setup);
    tick_until(setup, "retried", |s| {
        renewals(s).len() == 2 && retirements(s) == 2
    });
    assert_eq!(renewals(setup)[1], next, "the retry used another key");
    assert_eq!(setup.deployed(), next);
    next
}

/// `daneroll status --json` for the host: its `acme` object.
fn acme_status(setup: &Setup) -> Value {
    let run = setup.run(&["status", "--json"]);
    run.ok();
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    json[0]["acme"].clone()
}

#[test]
fn lego_rotation_through_the_engine_with_a_configured_renew_command_and_an_acme_outage() {
    let lab = Lab::shared();
    let dir = Dir::new();
    let mut pebble = Pebble::start(&dir.join("pebble")).unwrap_or_else(|e| panic!("{e}"));
    let setup_dir = Dir::new();
    let d = setup_dir.path().display().to_string();
    let host = "lego1.mx.example";
    let http = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .to_string();
    let hook = logging_hook(&setup_dir, "hooks/lego/daneroll-hook.sh");
    let global: Vec<String> = [
        "--accept-tos",
        "--email",
        EMAIL,
        "--path",
        &format!("{d}/lego"),
        "--domains",
        host,
        "--server",
        &pebble.directory,
        "--http",
        "--http.port",
        &http,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut renew = vec!["lego".to_string()];
    renew.extend(global.iter().cloned());
    renew.extend(
        [
            "renew",
            "--reuse-key",
            "--no-random-sleep",
            "--days",
            "100000",
            "--renew-hook",
        ]
        .map(String::from),
    );
    renew.push(hook.display().to_string());
    let source = format!(
        "type = \"lego\"\npath = \"{d}/lego\"\nemail = \"{EMAIL}\"\nrenew_command = {}\n",
        toml_array(&renew)
    );
    let setup = setup_in(
        setup_dir,
        lab,
        &pebble.trust_env(),
        "lego1",
        "key_max_age = \"1s\"",
        "",
        &source,
    );
    // The first certificate, before daneroll manages the host.
    let mut issue = Command::new("lego");
    issue.args(&global).arg("run");
    setup.env(&mut issue);
    Run::from_output(issue.output().expect("run lego")).ok();
    let certs = setup.dir.join("lego/certificates");
    let (key, crt) = (
        certs.join(format!("{host}.key")),
        certs.join(format!("{host}.crt")),
    );
    let first = install_first(lab, &setup, &key, &crt);

    let (next, _) = first_rotation(lab, &setup, &first, &crt);
    assert_eq!(record_of(&key), next);
    let log = std::fs::read_to_string(setup.dir.join("hook.log")).unwrap();
    assert!(log.contains(host), "{log}");

    // The retry runs without the hook (an operator who left `--renew-hook` out of the renew
    // command): daneroll stages the renewal from lego's files itself.
    let drop_the_hook = |setup: &Setup| {
        let config = std::fs::read_to_string(&setup.config).unwrap();
        let hook_arg = format!(", \"--renew-hook\", {:?}", hook.display().to_string());
        assert!(config.contains(&hook_arg), "{config}");
        std::fs::write(&setup.config, config.replace(&hook_arg, "")).unwrap();
    };
    let calls = std::fs::read_to_string(setup.dir.join("hook.log")).unwrap();
    outage_then_retry(
        lab,
        &mut pebble,
        &setup,
        &[key.clone(), crt.clone()],
        drop_the_hook,
    );
    assert_eq!(record_of(&key), record_of(&crt));
    let after = std::fs::read_to_string(setup.dir.join("hook.log")).unwrap();
    assert_eq!(calls, after, "the hook ran during the retry");

    // status: lego takes the next key from certificates/D.key, written at rotation; its
    // current key is the deployed one.
    let acme = acme_status(&setup);
    assert_eq!(acme["client"], "lego");
    assert_eq!(acme["next_key_file"], key.display().to_string());
    assert_eq!(acme["next_key_written"], "at_rotation");
    assert_eq!(acme["checks"][0]["verdict"], "agrees", "{acme}");
}

/// dehydrated's config for pebble: rollover keys on, the hook, curl trusting pebble's listener.
fn dehydrated_config(dir: &Dir, pebble: &Pebble, hook: Option<&Path>) -> PathBuf {
    let d = dir.path().display();
    std::fs::create_dir_all(dir.join("dehydrated/wellknown")).unwrap();
    let hook = hook.map_or(String::new(), |h| format!("HOOK={}\n", h.display()));
    dir.write(
        "dehydrated/config",
        format!(
            "CA={directory}\nBASEDIR={d}/dehydrated\nWELLKNOWN={d}/dehydrated/wellknown\n\
             CURL_OPTS=\"--cacert {ca}\"\nCONTACT_EMAIL={EMAIL}\nKEY_ALGO=prime256v1\n\
             KEYSIZE=2048\nPRIVATE_KEY_RENEW=yes\nPRIVATE_KEY_ROLLOVER=yes\n{hook}",
            directory = pebble.directory,
            ca = pebble.tls_ca.display(),
        ),
    )
}

#[test]
fn dehydrated_rotation_through_the_engine_keeps_the_next_key_in_the_roll_key_and_survives_an_outage()
 {
    let lab = Lab::shared();
    let dir = Dir::new();
    let mut pebble = Pebble::start(&dir.join("pebble")).unwrap_or_else(|e| panic!("{e}"));
    let setup_dir = Dir::new();
    let d = setup_dir.path().display().to_string();
    let host = "dehydrated1.mx.example";
    let config = dehydrated_config(&setup_dir, &pebble, None);
    let renew = [
        "dehydrated",
        "--config",
        &config.display().to_string(),
        "--cron",
        "--force",
        "--domain",
        host,
    ]
    .map(String::from);
    let source = format!(
        "type = \"dehydrated\"\ncert_dir = \"{d}/dehydrated/certs\"\nrenew_command = {}\n",
        toml_array(&renew)
    );
    let setup = setup_in(
        setup_dir,
        lab,
        &pebble.trust_env(),
        "dehydrated1",
        "key_max_age = \"1s\"",
        "",
        &source,
    );
    let dehydrated = |args: &[&str]| {
        let mut command = Command::new("dehydrated");
        command.arg("--config").arg(&config).args(args);
        setup.env(&mut command);
        // invariant: dehydrated is installed for these tests (.ci/run installs it).
        Run::from_output(command.output().expect("run dehydrated"))
    };
    dehydrated(&["--register", "--accept-terms"]).ok();
    dehydrated(&["--cron", "--domain", host]).ok();
    // The hook is installed once the first certificate is in place (hooks/README.md).
    let hook = logging_hook(&setup.dir, "hooks/dehydrated/daneroll-hook.sh");
    dehydrated_config(&setup.dir, &pebble, Some(&hook));
    let cert_dir = setup.dir.join(&format!("dehydrated/certs/{host}"));
    let (key, cert, roll) = (
        cert_dir.join("privkey.pem"),
        cert_dir.join("cert.pem"),
        cert_dir.join("privkey.roll.pem"),
    );
    let dehydrated_own_roll_key = record_of(&roll);
    let first = install_first(lab, &setup, &key, &cert_dir.join("fullchain.pem"));

    // The next key daneroll generates replaces dehydrated's own roll key at once.
    tick_until(&setup, "generated a next key", |s| next_key(s).is_some());
    let staged_next = record_of(&roll);
    assert_ne!(staged_next, dehydrated_own_roll_key);

    let (next, following) = first_rotation(lab, &setup, &first, &cert);
    assert_eq!(next, staged_next);
    assert_eq!(record_of(&key), next);
    // dehydrated made a fresh roll key after the renewal; daneroll replaced it with its own.
    assert_eq!(record_of(&roll), following);
    let log = std::fs::read_to_string(setup.dir.join("hook.log")).unwrap();
    assert!(log.lines().any(|l| l.starts_with("deploy_cert")), "{log}");

    let files = [key.clone(), cert.clone(), roll.clone()];
    let retried = outage_then_retry(lab, &mut pebble, &setup, &files, |_| {});
    assert_eq!(retried, following);
    assert_eq!(record_of(&cert), following);
    assert_eq!(Some(record_of(&roll)), next_key(&setup));

    // status: the roll key holds daneroll's next key, the current key is the deployed one.
    let acme = acme_status(&setup);
    assert_eq!(acme["client"], "dehydrated");
    assert_eq!(acme["next_key_file"], roll.display().to_string());
    assert_eq!(acme["next_key_written"], "kept");
    let checks = acme["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 2, "{acme}");
    assert!(checks.iter().all(|c| c["verdict"] == "agrees"), "{acme}");
}

#[test]
fn certbot_key_type_change_through_the_engine_adds_the_key_type_flags() {
    let lab = Lab::shared();
    let dir = Dir::new();
    let pebble = Pebble::start(&dir.join("pebble")).unwrap_or_else(|e| panic!("{e}"));
    let setup_dir = Dir::new();
    let d = setup_dir.path().display().to_string();
    let source = format!("type = \"certbot\"\nconfig_dir = \"{d}/letsencrypt\"\n");
    // The lineage is ECDSA P-256; the host's keys are to be RSA from now on.
    let setup = setup_in(
        setup_dir,
        lab,
        &pebble.trust_env(),
        "acme3",
        "key_max_age = \"1s\"",
        "key_type = \"rsa-2048\"",
        &source,
    );
    let host = setup.host.clone();
    let first = issue(lab, &setup, &pebble.directory);
    let renewal = setup.dir.join(&format!("letsencrypt/renewal/{host}.conf"));
    assert!(
        std::fs::read_to_string(&renewal)
            .unwrap()
            .contains("key_type = ecdsa")
    );

    // certbot refuses a reused key of another type without the flags: stop at the first
    // attempt either way.
    tick_until(&setup, "renewed through certbot", |s| {
        failed_renewals(s) > 0 || (!renewals(s).is_empty() && retirements(s) > 0)
    });
    assert_eq!(failed_renewals(&setup), 0, "{}", setup.history());
    let next = renewals(&setup)[0].clone();
    let cert = setup.live("cert.pem");
    assert_eq!(record_of(&cert), next);
    assert_eq!(
        key_type_of_pem(&std::fs::read(&cert).unwrap()),
        Some(KeyType::Rsa2048)
    );
    assert_eq!(setup.deployed(), next);
    // certbot took the type from the flags and saved it for its own renewals.
    let conf = std::fs::read_to_string(&renewal).unwrap();
    assert!(
        conf.contains("key_type = rsa") && conf.contains("rsa_key_size = 2048"),
        "{conf}"
    );
    lab.wait_secondary_synced();
    let served = served_everywhere(lab, &setup.owner());
    assert!(
        served
            .iter()
            .all(|s| !s.contains(&first) && s.contains(&next)),
        "{served:?}"
    );
}
