//! ACME clients against a real ACME server (pebble on loopback), and the shell glue of the hook
//! scripts in `hooks/`.
//!
//! certbot: issue, then renew with daneroll's next key (it must be exactly that key), with the
//! deploy hook (`hooks/certbot/daneroll` → `daneroll hook certbot`) staging the certificate each
//! time; then the ACME server down during a forced renewal: certbot's key is restored.

use std::path::{Path, PathBuf};
use std::process::Command;

use daneroll::acme::certbot::{Lineage, renew_with_key};
use daneroll::acme::staged;
use daneroll::acme::{InjectError, RenewCommand};
use daneroll::pki::{KeyType, generate_key};
use daneroll::rollover::store::Store;
use daneroll_providers::Tlsa;

use crate::lab::pebble::Pebble;
use crate::util::{Dir, Run, repo_root};

const HOST: &str = "mail.acme.example";

/// PATH with the daneroll binary first (the hook scripts call `daneroll`).
fn path_with_daneroll(extra: Option<&Path>) -> String {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_daneroll"));
    // invariant: the binary lives in a directory.
    let mut dirs = vec![bin.parent().expect("bin dir").display().to_string()];
    if let Some(extra) = extra {
        dirs.insert(0, extra.display().to_string());
    }
    dirs.push(std::env::var("PATH").unwrap_or_default());
    dirs.join(":")
}

/// A config with one host, and the state dir the hook writes to.
fn daneroll_setup(dir: &Dir) -> (PathBuf, PathBuf) {
    let key = dir.write(
        "tsig.key",
        "key \"k\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\";\n};\n",
    );
    let config = dir.write(
        "daneroll.toml",
        format!(
            "[dns.lab]\ntype = \"rfc2136\"\nserver = \"127.0.0.1:53\"\ntsig_key_file = \"{}\"\n\n\
             [[host]]\nname = \"{HOST}\"\ndns = \"lab\"\n",
            key.display()
        ),
    );
    (config, dir.join("state"))
}

struct Certbot<'a> {
    dir: &'a Dir,
    pebble: &'a Pebble,
    config: PathBuf,
    state: PathBuf,
}

impl Certbot<'_> {
    fn dirs(&self) -> Vec<String> {
        let p = |name: &str| self.dir.join(name).display().to_string();
        vec![
            "--config-dir".into(),
            p("letsencrypt"),
            "--work-dir".into(),
            p("work"),
            "--logs-dir".into(),
            p("logs"),
        ]
    }

    fn command(&self, args: &[String]) -> Command {
        let mut command = Command::new("certbot");
        command
            .args(args)
            .args(self.dirs())
            .envs(self.pebble.trust_env())
            .env("PATH", path_with_daneroll(None))
            .env("DANEROLL_CONFIG", &self.config)
            .env("DANEROLL_STATE_DIR", &self.state);
        command
    }

    fn issue(&self) -> Run {
        let hook = repo_root().join("hooks/certbot/daneroll");
        let args: Vec<String> = [
            "certonly",
            "--non-interactive",
            "--agree-tos",
            "--email",
            "hostmaster@acme.example",
            "--server",
            &self.pebble.directory,
            "--manual",
            "--manual-auth-hook",
            "true",
            "--preferred-challenges",
            "http",
            "--key-type",
            "ecdsa",
            "--reuse-key",
            "--cert-name",
            HOST,
            "-d",
            HOST,
            "--deploy-hook",
            &hook.display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // invariant: certbot is installed for these tests (.ci/run installs it).
        Run::from_output(self.command(&args).output().expect("run certbot"))
    }

    fn lineage(&self) -> Lineage {
        Lineage::new(self.dir.join("letsencrypt"), HOST)
    }

    fn renew_command(&self) -> RenewCommand {
        let mut command = self.lineage().renew_command(None);
        // The stock command already names --config-dir; the test adds its other dirs.
        command.args.extend(self.dirs().into_iter().skip(2));
        command.env.extend(self.pebble.trust_env());
        command.env.push(("PATH".into(), path_with_daneroll(None)));
        command
            .env
            .push(("DANEROLL_CONFIG".into(), self.config.display().to_string()));
        command.env.push((
            "DANEROLL_STATE_DIR".into(),
            self.state.display().to_string(),
        ));
        command
    }

    fn live(&self, name: &str) -> PathBuf {
        self.lineage().live_dir().join(name)
    }
}

fn record_of(path: &Path) -> Tlsa {
    let run = crate::util::run(
        &["tlsa", "--usage", "3", "--selector", "1", "--mtype", "1"]
            .iter()
            .copied()
            .chain([path.to_str().unwrap_or_default()])
            .collect::<Vec<_>>(),
    );
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

fn staged_record(state: &Path) -> Option<Tlsa> {
    staged::read(&Store::existing(state), HOST)
        .expect("read staged certificate")
        .map(|s| s.record)
}

#[test]
fn certbot_renews_with_the_pre_generated_key_and_restores_on_failure() {
    let dir = Dir::new();
    let mut pebble = Pebble::start(&dir.join("pebble")).unwrap_or_else(|e| panic!("{e}"));
    let (config, state) = daneroll_setup(&dir);
    let certbot = Certbot {
        dir: &dir,
        pebble: &pebble,
        config,
        state,
    };
    certbot.issue().ok();
    let first = record_of(&certbot.live("cert.pem"));
    // The deploy hook ran on the first certonly and staged the certificate.
    assert_eq!(staged_record(&certbot.state), Some(first.clone()));

    // daneroll's next key (published and safe by now, in production).
    let next = generate_key(KeyType::EcdsaP256).expect("key generation");
    assert_ne!(next.record(), first);
    renew_with_key(
        &certbot.lineage(),
        next.private_key_pem().as_bytes(),
        &next.record(),
        &certbot.renew_command(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(record_of(&certbot.live("cert.pem")), next.record());
    assert_eq!(record_of(&certbot.live("privkey.pem")), next.record());
    // The deploy hook ran for the renewal and staged the new certificate.
    assert_eq!(staged_record(&certbot.state), Some(next.record()));
    // The previous archive key still matches the previous certificate.
    let archive = certbot.dir.join(&format!("letsencrypt/archive/{HOST}"));
    assert_eq!(record_of(&archive.join("privkey1.pem")), first);

    // The ACME server is down during the next forced renewal: everything stays as it was.
    let (lineage, command) = (certbot.lineage(), certbot.renew_command());
    let (live, state) = (lineage.live_dir(), certbot.state.clone());
    let key_before = std::fs::read(live.join("privkey.pem")).expect("read live key");
    let after = generate_key(KeyType::EcdsaP256).expect("key generation");
    pebble.stop();
    let error = renew_with_key(
        &lineage,
        after.private_key_pem().as_bytes(),
        &after.record(),
        &command,
    )
    .unwrap_err();
    assert!(matches!(error, InjectError::RenewFailed { .. }), "{error}");
    assert_eq!(
        std::fs::read(live.join("privkey.pem")).expect("read live key"),
        key_before
    );
    assert_eq!(record_of(&live.join("cert.pem")), next.record());
    assert_eq!(staged_record(&state), Some(next.record()));
    let leftover = std::fs::read_dir(&archive)
        .expect("archive dir")
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().contains("daneroll-backup"));
    assert!(!leftover, "the key backup was not cleaned up");
}

/// Sources the acme.sh hook in a subshell as acme.sh does and calls `daneroll_deploy` with the
/// six arguments, with a `daneroll` on PATH that records what it was given.
fn acmesh_deploy(dir: &Dir, stub_status: i32) -> (Run, Vec<String>, String) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    let stub = dir.write(
        "bin/daneroll",
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > {argv}\n\
             printf '%s' \"$DANEROLL_ACMESH_ALT\" > {alt}\nexit {stub_status}\n",
            argv = dir.join("argv").display(),
            alt = dir.join("alt").display()
        ),
    );
    std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod stub");
    let hook = repo_root().join("hooks/acme.sh/daneroll.sh");
    // What acme.sh's _deploy does: a subshell, `. hook`, then NAME_deploy with six arguments.
    let script = format!(
        "Le_Alt='mx2.acme.example'\n\
         Le_Next_Domain_Key='/root/.acme.sh/{HOST}_ecc/{HOST}.key.next'\n\
         ( . '{hook}'; daneroll_deploy \"$@\" ); echo \"rc=$?\"",
        hook = hook.display()
    );
    let d = format!("/root/.acme.sh/{HOST}_ecc");
    let output = Command::new("sh")
        .args(["-c", &script, "sh", HOST])
        .args([
            format!("{d}/{HOST}.key"),
            format!("{d}/{HOST}.cer"),
            format!("{d}/ca.cer"),
            format!("{d}/fullchain.cer"),
            String::new(),
        ])
        .env("PATH", path_with_daneroll(Some(&bin)))
        .output()
        .expect("run sh");
    let argv = std::fs::read_to_string(dir.join("argv")).unwrap_or_default();
    let alt = std::fs::read_to_string(dir.join("alt")).unwrap_or_default();
    (
        Run::from_output(output),
        argv.lines().map(String::from).collect(),
        alt,
    )
}

#[test]
fn acmesh_hook_passes_the_six_arguments_and_le_alt() {
    let dir = Dir::new();
    let (run, argv, alt) = acmesh_deploy(&dir, 0);
    assert!(run.stdout.contains("rc=0"), "{}", run.stdout);
    let d = format!("/root/.acme.sh/{HOST}_ecc");
    assert_eq!(
        argv,
        vec![
            "hook".to_string(),
            "acme.sh".into(),
            HOST.into(),
            format!("{d}/{HOST}.key"),
            format!("{d}/{HOST}.cer"),
            format!("{d}/ca.cer"),
            format!("{d}/fullchain.cer"),
            String::new(),
        ]
    );
    assert_eq!(alt, "mx2.acme.example");
}

#[test]
fn acmesh_hook_returns_daneroll_status() {
    let dir = Dir::new();
    let (run, _, _) = acmesh_deploy(&dir, 4);
    assert!(run.stdout.contains("rc=4"), "{}", run.stdout);
}

#[test]
fn dehydrated_hook_ignores_other_handlers() {
    let hook = repo_root().join("hooks/dehydrated/daneroll-hook.sh");
    for handler in [
        "startup_hook",
        "deploy_challenge",
        "clean_challenge",
        "unchanged_cert",
        "exit_hook",
        "some_future_handler",
    ] {
        let output = Command::new(&hook)
            .args([handler, "a.example", "x", "y"])
            .env("PATH", path_with_daneroll(None))
            .env("DANEROLL_CONFIG", "/nonexistent/daneroll.toml")
            .output()
            .expect("run hook");
        Run::from_output(output).ok();
    }
}

#[test]
fn hook_for_an_unconfigured_name_is_not_an_error() {
    let dir = Dir::new();
    let (config, state) = daneroll_setup(&dir);
    let output = crate::util::daneroll()
        .args(["hook", "certbot"])
        .env("RENEWED_LINEAGE", "/etc/letsencrypt/live/www.other.example")
        .env("RENEWED_DOMAINS", "www.other.example")
        .env("DANEROLL_CONFIG", &config)
        .env("DANEROLL_STATE_DIR", &state)
        .output()
        .expect("run daneroll");
    let run = Run::from_output(output);
    run.ok();
    assert!(run.stderr.contains("matches no [[host]]"), "{}", run.stderr);
}

#[test]
fn hook_with_missing_variables_is_bad_input() {
    let output = crate::util::daneroll()
        .args(["hook", "lego"])
        .env_remove("LEGO_CERT_PATH")
        .env_remove("LEGO_HOOK_CERT_PATH")
        .output()
        .expect("run daneroll");
    let run = Run::from_output(output);
    run.expect_status(2);
    assert!(run.stderr.contains("LEGO_CERT_PATH"), "{}", run.stderr);
}

#[test]
fn lego_renews_with_the_pre_generated_key_and_restores_on_failure() {
    use daneroll::acme::lego::LegoCertificate;
    let dir = Dir::new();
    let mut pebble = Pebble::start(&dir.join("pebble")).unwrap_or_else(|e| panic!("{e}"));
    let (config, state) = daneroll_setup(&dir);
    let hook = repo_root().join("hooks/lego/daneroll-hook.sh");
    let http = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let cert = LegoCertificate {
        path: dir.join("lego"),
        domain: HOST.into(),
        email: "hostmaster@acme.example".into(),
    };
    // lego's global flags go before the command.
    let global = [
        "--server".to_string(),
        pebble.directory.clone(),
        "--http".into(),
        "--http.port".into(),
        http.to_string(),
    ];
    let env = |command: &mut Command| {
        command
            .envs(pebble.trust_env())
            .env("PATH", path_with_daneroll(None))
            .env("DANEROLL_CONFIG", &config)
            .env("DANEROLL_STATE_DIR", &state);
    };
    let mut issue = Command::new("lego");
    issue
        .args(["--accept-tos", "--email", &cert.email, "--path"])
        .arg(&cert.path)
        .args(["--domains", HOST])
        .args(&global)
        .args(["run", "--run-hook"])
        .arg(&hook);
    env(&mut issue);
    Run::from_output(issue.output().expect("run lego")).ok();
    let first = record_of(&cert.cert_file());
    assert_eq!(staged_record(&state), Some(first.clone()));

    let mut command = cert.renew_command();
    let at = command
        .args
        .iter()
        .position(|a| a == "renew")
        .expect("renew");
    command.args.splice(at..at, global.iter().cloned());
    command.args.push("--renew-hook".into());
    command.args.push(hook.display().to_string());
    command.env.extend(pebble.trust_env());
    command.env.push(("PATH".into(), path_with_daneroll(None)));
    command
        .env
        .push(("DANEROLL_CONFIG".into(), config.display().to_string()));
    command
        .env
        .push(("DANEROLL_STATE_DIR".into(), state.display().to_string()));
    let next = generate_key(KeyType::EcdsaP256).expect("key generation");
    cert.renew_with_key(next.private_key_pem().as_bytes(), &next.record(), &command)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(record_of(&cert.cert_file()), next.record());
    assert_eq!(record_of(&cert.key_file()), next.record());
    assert_eq!(staged_record(&state), Some(next.record()));

    let key_before = std::fs::read(cert.key_file()).expect("read key");
    let after = generate_key(KeyType::EcdsaP256).expect("key generation");
    pebble.stop();
    let error = cert
        .renew_with_key(
            after.private_key_pem().as_bytes(),
            &after.record(),
            &command,
        )
        .unwrap_err();
    assert!(matches!(error, InjectError::RenewFailed { .. }), "{error}");
    assert_eq!(
        std::fs::read(cert.key_file()).expect("read key"),
        key_before
    );
    assert_eq!(record_of(&cert.cert_file()), next.record());
}
