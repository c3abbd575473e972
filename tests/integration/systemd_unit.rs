//! The shipped systemd unit works with the shipped example config (#13 item 9): `daneroll tick`
//! and `rollover` run under the read-only mounts `examples/systemd/daneroll.service` sets up,
//! emulated in a private mount namespace (`unshare -m`), against the lab's BIND, pebble and
//! certbot. The deploy into the MTA's directory under /etc and certbot's key injection into
//! /etc/letsencrypt must still work.
//!
//! The unit's paths are mapped under a test directory `ROOT`: `/etc/X` is `ROOT/etc/X`,
//! `/var/X` is `ROOT/var/X`. `ProtectSystem=full` makes `ROOT/etc` (and the real /usr)
//! read-only; every `ReadWritePaths=` entry is bind-mounted writable again, as systemd does.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::acme_engine::{record_of, served_everywhere};
use crate::lab::Lab;
use crate::lab::pebble::Pebble;
use crate::util::{Dir, Run, repo_root};

/// What the unit's `[Service]` section says about the file system.
struct Mounts {
    read_only: Vec<String>,
    read_write: Vec<String>,
}

fn unit_mounts() -> Mounts {
    let text = std::fs::read_to_string(repo_root().join("examples/systemd/daneroll.service"))
        .expect("examples/systemd/daneroll.service");
    let value = |key: &str| {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
            .flat_map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect::<Vec<String>>()
    };
    // systemd.exec(5): "full" makes /usr, /boot, /efi and /etc read-only; "strict" all of /.
    let read_only = match value("ProtectSystem").first().map(String::as_str) {
        Some("full") => vec!["/usr", "/boot", "/efi", "/etc"],
        Some("yes" | "true") => vec!["/usr", "/boot", "/efi"],
        Some("strict") => vec!["/usr", "/boot", "/efi", "/etc", "/var"],
        _ => Vec::new(),
    };
    Mounts {
        read_only: read_only.into_iter().map(str::to_string).collect(),
        read_write: value("ReadWritePaths")
            .into_iter()
            .map(|p| p.trim_start_matches(['-', '+']).to_string())
            .collect(),
    }
}

/// A shell script that sets up the unit's mounts (mapped under `root`) and runs its arguments.
fn namespace_script(root: &Path, mounts: &Mounts) -> String {
    let mut script = String::from("set -e\nmount --make-rprivate /\n");
    let mapped = |p: &str| {
        if p == "/etc" || p.starts_with("/etc/") || p == "/var" || p.starts_with("/var/") {
            Some(format!("{}{p}", root.display()))
        } else if p == "/usr" {
            Some(p.to_string())
        } else {
            None
        }
    };
    for path in &mounts.read_only {
        if let Some(path) = mapped(path).filter(|p| Path::new(p).is_dir()) {
            script.push_str(&format!(
                "mount --bind '{path}' '{path}'\nmount -o remount,bind,ro '{path}'\n"
            ));
        }
    }
    for path in &mounts.read_write {
        if let Some(path) = mapped(path).filter(|p| Path::new(p).is_dir()) {
            script.push_str(&format!(
                "mount --bind '{path}' '{path}'\nmount -o remount,bind,rw '{path}'\n"
            ));
        }
    }
    script.push_str("exec \"$@\"\n");
    script
}

struct Host {
    root: PathBuf,
    name: String,
    config: PathBuf,
    env: Vec<(String, String)>,
    script: String,
}

impl Host {
    fn command(&self, program: &str, args: &[&str], contained: bool) -> Command {
        let mut command = if contained {
            let mut c = Command::new("unshare");
            c.args([
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                &self.script,
                "sh",
            ]);
            c.arg(program);
            c
        } else {
            Command::new(program)
        };
        command.args(args).envs(self.env.iter().cloned());
        command
    }

    fn daneroll(&self, args: &[&str]) -> Run {
        let mut all = vec!["--config", self.config.to_str().unwrap()];
        all.extend_from_slice(args);
        let mut command = self.command(env!("CARGO_BIN_EXE_daneroll"), &all, true);
        Run::from_output(command.output().expect("run daneroll under unshare"))
    }

    fn etc(&self, path: &str) -> PathBuf {
        self.root.join("etc").join(path)
    }

    fn history(&self) -> String {
        let path = self.root.join(format!(
            "var/lib/daneroll/hosts/{}/history.jsonl",
            self.name
        ));
        std::fs::read_to_string(path).unwrap_or_default()
    }

    fn stage(&self) -> String {
        let path = self
            .root
            .join(format!("var/lib/daneroll/hosts/{}/state.json", self.name));
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["rollover"]["stage"]["state"].as_str().map(String::from))
            .unwrap_or_default()
    }
}

#[test]
fn tick_and_rollover_work_under_the_units_read_only_mounts() {
    let mounts = unit_mounts();
    let lab = Lab::shared();
    let dir = Dir::new();
    let root = dir.path().to_path_buf();
    let r = root.display().to_string();
    let pebble = Pebble::start(&dir.join("pebble")).unwrap_or_else(|e| panic!("{e}"));
    let name = "unit.mx.example".to_string();
    for sub in [
        "etc/postfix/daneroll",
        "etc/letsencrypt",
        "etc/daneroll",
        "var/lib/letsencrypt",
        "var/log/letsencrypt",
        "var/lib/daneroll",
        "xdg/letsencrypt",
    ] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    dir.write(
        "xdg/letsencrypt/cli.ini",
        format!("work-dir = {r}/var/lib/letsencrypt\nlogs-dir = {r}/var/log/letsencrypt\n"),
    );
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_daneroll"));
    let mut env = pebble.trust_env();
    env.push((
        "PATH".into(),
        format!(
            "{}:{}",
            bin.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    ));
    env.push(("XDG_CONFIG_HOME".into(), format!("{r}/xdg")));
    let config = root.join("etc/daneroll/daneroll.toml");
    env.push(("DANEROLL_CONFIG".into(), config.display().to_string()));
    let host = Host {
        root: root.clone(),
        name: name.clone(),
        config: config.clone(),
        env,
        script: namespace_script(&root, &mounts),
    };
    // The example config's layout: the MTA's combined file under /etc/postfix/daneroll,
    // certbot's lineage in /etc/letsencrypt, the state in /var/lib/daneroll.
    std::fs::write(
        &config,
        format!(
            r#"state_dir = "{r}/var/lib/daneroll"

[dns.lab]
type = "rfc2136"
tsig_key_file = "{key}"

[validation]
trust_anchor_file = "{anchor}"
resolver = "{resolver}"

[policy]
poll_interval = "1s"

[[host]]
name = "{name}"
dns = "lab"
ttl = 5
live_check = "files"

[host.deploy]
combined_file = "{r}/etc/postfix/daneroll/{name}.pem"
reload = ["/bin/sh", "-c", "echo reload >> {r}/var/lib/daneroll/reloads"]

[host.source]
type = "certbot"
config_dir = "{r}/etc/letsencrypt"
"#,
            key = lab.keys.mx.bind_file.display(),
            anchor = lab.trust_anchor.display(),
            resolver = lab.resolver,
        ),
    )
    .unwrap();

    // The first certificate, issued before daneroll manages the host (outside the unit).
    let config_dir = format!("{r}/etc/letsencrypt");
    let issued = host
        .command(
            "certbot",
            &[
                "certonly",
                "--config-dir",
                &config_dir,
                "--non-interactive",
                "--agree-tos",
                "--email",
                "hostmaster@mx.example",
                "--server",
                &pebble.directory,
                "--manual",
                "--manual-auth-hook",
                "true",
                "--preferred-challenges",
                "http",
                "--key-type",
                "ecdsa",
                "--cert-name",
                &name,
                "-d",
                &name,
            ],
            false,
        )
        .output()
        .unwrap();
    Run::from_output(issued).ok();
    let renewal = host.etc(&format!("letsencrypt/renewal/{name}.conf"));
    let conf = std::fs::read_to_string(&renewal).unwrap().replacen(
        "[renewalparams]\n",
        &format!(
            "[renewalparams]\nrenew_hook = {}\n",
            repo_root().join("hooks/certbot/daneroll").display()
        ),
        1,
    );
    std::fs::write(&renewal, conf).unwrap();
    let live = |file: &str| host.etc(&format!("letsencrypt/live/{name}/{file}"));
    let deployed = host.etc(&format!("postfix/daneroll/{name}.pem"));
    let mut combined = std::fs::read(live("privkey.pem")).unwrap();
    combined.extend(std::fs::read(live("fullchain.pem")).unwrap());
    std::fs::write(&deployed, combined).unwrap();
    let first = record_of(&live("fullchain.pem"));
    let owner = format!("_25._tcp.{name}.");
    lab.nsupdate(
        &lab.keys.mx,
        &lab.mx,
        &format!("update add {owner} 5 TLSA {first}"),
    )
    .unwrap();
    lab.wait_secondary_synced();

    // The namespace really is read-only where the unit says so.
    let probe = Run::from_output(
        host.command(
            "touch",
            &[host.etc("daneroll/probe").to_str().unwrap()],
            true,
        )
        .output()
        .unwrap(),
    );
    assert_ne!(probe.status, Some(0), "{}/etc is not read-only", r);

    // Under the unit's mounts: ticks reach the steady state (next key published).
    let started = Instant::now();
    while host.stage() != "ready" {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not ready: {}",
            host.stage()
        );
        let tick = host.daneroll(&["tick", "--quiet"]);
        assert_eq!(
            tick.status,
            Some(0),
            "{}\n{}\n{}",
            tick.stdout,
            tick.stderr,
            host.history()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // The rotation: certbot's key injection into /etc/letsencrypt and the deploy into
    // /etc/postfix/daneroll.
    let run = host.daneroll(&["rollover", "--host", &name]);
    assert!(
        !run.stderr.contains("Read-only file system") && !run.stdout.contains("Read-only"),
        "EROFS under the unit's mounts:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    run.expect_status(0);
    let now = record_of(&deployed);
    assert_ne!(now, first, "{}", run.stdout);
    assert_eq!(record_of(&live("privkey.pem")), now);
    let served = served_everywhere(lab, &owner);
    assert!(served.iter().all(|s| s.contains(&now)), "{served:?}");
}
