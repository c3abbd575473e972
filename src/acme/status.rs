//! What `daneroll status` says about a host's ACME client: where that client takes its next key
//! from, whether the client's key files agree with daneroll's view, and the one command that
//! repairs each disagreement.
//!
//! Why: the swap happens without waiting only if the client's renewal uses the key whose record
//! daneroll pre-published (RFC 7671 §8.1). acme.sh and dehydrated keep their next key in a file
//! (`D.key.next`, `privkey.roll.pem`) that must hold daneroll's next key between renewals; every
//! client's current key must be the key daneroll believes is deployed, else a renewal happened
//! that daneroll has not seen (its hook is not installed, or failed). Reading only files, no
//! lock and no DNS: status is safe to run any time.

use std::path::{Path, PathBuf};

use daneroll_providers::Tlsa;
use serde::Serialize;

use super::acmesh::AcmeShCertificate;
use super::certbot::Lineage;
use super::dehydrated::DehydratedCertificate;
use super::files::{backup_path_of, record_of};
use super::lego::LegoCertificate;
use super::{Client, RenewCommand};
use crate::config::AcmeSource;

/// daneroll's view of a host, as the status check needs it.
#[derive(Debug, Clone, Default)]
pub struct DanerollView {
    pub host: String,
    /// The key daneroll believes is deployed.
    pub current: Option<Tlsa>,
    /// daneroll's next key, and the file it keeps it in (absent: not a key daneroll made).
    pub next: Option<(Tlsa, Option<PathBuf>)>,
    /// The key of the certificate the client's hook staged, if any.
    pub staged: Option<Tlsa>,
    /// Options that `daneroll` needs to find this config and state (`--config …`), for the
    /// repair commands: environment assignments first, then `daneroll`'s own flags.
    pub env_prefix: Vec<String>,
    pub flags: Vec<String>,
}

/// One host's ACME client, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientStatus {
    pub client: Client,
    /// Where the client takes the next certificate's key from.
    pub next_key_file: PathBuf,
    /// `kept`: the file holds daneroll's next key between renewals; `at_rotation`: daneroll
    /// writes it just before it renews through the client.
    pub next_key_written: NextKeyWritten,
    pub checks: Vec<KeyCheck>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NextKeyWritten {
    Kept,
    AtRotation,
}

/// One comparison between a client key file and daneroll's view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyCheck {
    pub check: CheckKind,
    pub file: PathBuf,
    pub verdict: Agreement,
    /// The record daneroll expects the file's key to have.
    pub expected: Option<Tlsa>,
    /// The record of the key in the file (absent: missing or unreadable).
    pub found: Option<Tlsa>,
    /// The one command that repairs a disagreement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repair: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// The client's current key against the deployed key.
    CurrentKey,
    /// The client's next-key file against daneroll's next key.
    NextKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Agreement {
    Agrees,
    /// The client renewed with daneroll's next key; the engine deploys it.
    Ahead,
    /// The client took daneroll's next key but handed over no certificate for it (its renewal
    /// failed or is running): a renewal through daneroll finishes the job.
    Pending,
    /// The client renewed with a key daneroll did not publish; the hook staged it and the
    /// engine's emergency path publishes it first.
    Staged,
    /// The file holds a key daneroll does not expect there.
    Differs,
    /// The file is missing or unreadable.
    Missing,
    /// daneroll stopped during a renewal and left the client's key replaced (a backup exists).
    Interrupted,
}

impl Agreement {
    pub fn is_ok(self) -> bool {
        matches!(self, Agreement::Agrees)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Agreement::Agrees => "agrees",
            Agreement::Ahead => "holds the next key (renewed, not yet deployed)",
            Agreement::Pending => "holds the next key, but no certificate for it was handed over",
            Agreement::Staged => "holds a key daneroll did not publish (staged: emergency path)",
            Agreement::Differs => "DIFFERS",
            Agreement::Missing => "MISSING",
            Agreement::Interrupted => "INTERRUPTED renewal (daneroll's backup is still there)",
        }
    }
}

/// The client's files for one host.
struct Layout {
    client: Client,
    /// The client's current key and certificate.
    key_file: PathBuf,
    cert_file: PathBuf,
    /// The file daneroll overwrites (and backs up) when it renews through the client.
    replaced: PathBuf,
    next_key_file: PathBuf,
    written: NextKeyWritten,
    /// The command that hands the client's current certificate to daneroll (its hook).
    hand_over: Repair,
}

/// A repair command: `daneroll` with the hook's environment and arguments, or another program.
enum Repair {
    Daneroll {
        env: Vec<(&'static str, String)>,
        args: Vec<String>,
    },
    Other(Vec<String>),
}

impl Repair {
    fn daneroll(args: &[&str]) -> Self {
        Repair::Daneroll {
            env: Vec::new(),
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// One shell line; `daneroll` gets the view's environment and flags first.
    fn line(&self, view: &DanerollView) -> String {
        match self {
            Repair::Other(words) => words.join(" "),
            Repair::Daneroll { env, args } => {
                let mut words = view.env_prefix.clone();
                words.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
                words.push("daneroll".into());
                words.extend(view.flags.iter().cloned());
                words.extend(args.iter().cloned());
                words.join(" ")
            }
        }
    }
}

/// The stock renew command of `source`'s client (what runs without `renew_command`).
pub fn stock_renew_command(source: &AcmeSource) -> RenewCommand {
    match source {
        AcmeSource::Certbot {
            config_dir,
            cert_name,
        } => Lineage::new(config_dir, cert_name).renew_command(None),
        AcmeSource::AcmeSh { home, domain, ecc } => {
            AcmeShCertificate::new(home, domain, *ecc).renew_command()
        }
        AcmeSource::Dehydrated { cert_dir, domain } => {
            DehydratedCertificate::new(cert_dir, domain).renew_command()
        }
        AcmeSource::Lego {
            path,
            domain,
            email,
        } => LegoCertificate::new(path, domain, email).renew_command(),
    }
}

/// Compares the client's key files with daneroll's view.
pub fn check(source: &AcmeSource, view: &DanerollView) -> ClientStatus {
    let layout = layout(source, view);
    let mut checks = vec![current_check(&layout, view)];
    if layout.written == NextKeyWritten::Kept
        && let Some((next, Some(key_path))) = &view.next
        && key_path.is_file()
    {
        checks.push(next_check(&layout, next, key_path, view));
    }
    ClientStatus {
        client: layout.client,
        next_key_file: layout.next_key_file,
        next_key_written: layout.written,
        checks,
    }
}

fn current_check(layout: &Layout, view: &DanerollView) -> KeyCheck {
    let file = layout.key_file.clone();
    let found = record_of(&file).ok();
    let tick = Repair::daneroll(&["tick", "--host", &view.host]).line(view);
    let hand_over = layout.hand_over.line(view);
    let backup = backup_path_of(&layout.replaced);
    let (verdict, repair) = if backup.exists() {
        (
            Agreement::Interrupted,
            Some(format!(
                "mv -f {} {}",
                shell(&backup),
                shell(&layout.replaced)
            )),
        )
    } else if found.is_none() {
        (Agreement::Missing, Some(config_check(view)))
    } else if found == view.current {
        (Agreement::Agrees, None)
    } else if found.is_some() && found == view.staged {
        let next = view.next.as_ref().map(|(next, _)| next);
        let verdict = if found.as_ref() == next {
            Agreement::Ahead
        } else {
            Agreement::Staged
        };
        (verdict, Some(tick))
    } else if found.is_some() && found.as_ref() == view.next.as_ref().map(|(next, _)| next) {
        if record_of(&layout.cert_file).ok() == found {
            // Renewed with the next key, but the hook never handed the certificate over.
            (Agreement::Ahead, Some(hand_over))
        } else {
            let rollover = Repair::daneroll(&["rollover", "--host", &view.host]).line(view);
            (Agreement::Pending, Some(rollover))
        }
    } else {
        // A renewal daneroll has not seen: hand it over (the engine decides what is safe).
        (Agreement::Differs, Some(hand_over))
    };
    KeyCheck {
        check: CheckKind::CurrentKey,
        file,
        verdict,
        expected: view.current.clone(),
        found,
        repair,
    }
}

fn next_check(layout: &Layout, next: &Tlsa, key_path: &Path, view: &DanerollView) -> KeyCheck {
    let file = layout.next_key_file.clone();
    let found = record_of(&file).ok();
    let dir_exists = file.parent().is_some_and(Path::is_dir);
    let (verdict, repair) = if found.as_ref() == Some(next) {
        (Agreement::Agrees, None)
    } else if !dir_exists {
        (Agreement::Missing, Some(config_check(view)))
    } else {
        let verdict = if found.is_some() {
            Agreement::Differs
        } else {
            Agreement::Missing
        };
        let install = format!("install -m 0600 {} {}", shell(key_path), shell(&file));
        (verdict, Some(install))
    };
    KeyCheck {
        check: CheckKind::NextKey,
        file,
        verdict,
        expected: Some(next.clone()),
        found,
        repair,
    }
}

fn layout(source: &AcmeSource, view: &DanerollView) -> Layout {
    match source {
        AcmeSource::Certbot {
            config_dir,
            cert_name,
        } => {
            let lineage = Lineage::new(config_dir, cert_name);
            let live = lineage.live_dir();
            let key_file = live.join("privkey.pem");
            let target = lineage.key_file().unwrap_or_else(|_| key_file.clone());
            Layout {
                client: Client::Certbot,
                next_key_file: target.clone(),
                replaced: target,
                key_file,
                cert_file: live.join("cert.pem"),
                written: NextKeyWritten::AtRotation,
                hand_over: Repair::Daneroll {
                    env: vec![
                        ("RENEWED_LINEAGE", shell(&live)),
                        ("RENEWED_DOMAINS", view.host.clone()),
                    ],
                    args: vec!["hook".into(), "certbot".into()],
                },
            }
        }
        AcmeSource::AcmeSh { home, domain, ecc } => {
            let cert = AcmeShCertificate::new(home, domain, *ecc);
            let mut deploy = vec![
                "acme.sh".to_string(),
                "--deploy".into(),
                "-d".into(),
                domain.clone(),
            ];
            if *ecc {
                deploy.push("--ecc".into());
            }
            deploy.extend(["--deploy-hook".into(), "daneroll".into()]);
            deploy.extend(["--home".into(), shell(home)]);
            Layout {
                client: Client::AcmeSh,
                key_file: cert.key_file(),
                replaced: cert.key_file(),
                cert_file: cert.cert_file(),
                next_key_file: cert.next_key_file(),
                written: NextKeyWritten::Kept,
                // acme.sh runs the hook itself (and saves it for later renewals).
                hand_over: Repair::Other(deploy),
            }
        }
        AcmeSource::Dehydrated { cert_dir, domain } => {
            let cert = DehydratedCertificate::new(cert_dir, domain);
            let dir = cert.dir();
            let mut call = vec![
                "hook".to_string(),
                "dehydrated".into(),
                "deploy_cert".into(),
            ];
            call.push(domain.clone());
            for name in ["privkey.pem", "cert.pem", "fullchain.pem", "chain.pem"] {
                call.push(shell(&dir.join(name)));
            }
            call.push("0".into());
            Layout {
                client: Client::Dehydrated,
                key_file: cert.key_file(),
                replaced: cert.next_key_file(),
                cert_file: cert.cert_file(),
                next_key_file: cert.next_key_file(),
                written: NextKeyWritten::Kept,
                hand_over: Repair::Daneroll {
                    env: Vec::new(),
                    args: call,
                },
            }
        }
        AcmeSource::Lego {
            path,
            domain,
            email,
        } => {
            let cert = LegoCertificate::new(path, domain, email);
            Layout {
                client: Client::Lego,
                key_file: cert.key_file(),
                replaced: cert.key_file(),
                cert_file: cert.cert_file(),
                next_key_file: cert.key_file(),
                written: NextKeyWritten::AtRotation,
                hand_over: Repair::Daneroll {
                    env: vec![
                        ("LEGO_CERT_DOMAIN", domain.clone()),
                        ("LEGO_CERT_PATH", shell(&cert.cert_file())),
                        ("LEGO_CERT_KEY_PATH", shell(&cert.key_file())),
                    ],
                    args: vec!["hook".into(), "lego".into()],
                },
            }
        }
    }
}

/// `daneroll config check`: names what is wrong with the host's `[host.source]`.
fn config_check(view: &DanerollView) -> String {
    Repair::daneroll(&["config", "check"]).line(view)
}

/// A path as one shell word (quoted when it holds anything but safe characters).
pub fn shell(path: &Path) -> String {
    let text = path.display().to_string();
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+:,@=".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        text
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{KeyType, generate_key};

    const HOST: &str = "mx1.example.net";

    struct Keys {
        pem: String,
        record: Tlsa,
    }

    fn key() -> Keys {
        let key = generate_key(KeyType::EcdsaP256).unwrap();
        Keys {
            pem: key.private_key_pem(),
            record: key.record(),
        }
    }

    fn view(current: &Keys, next: &Keys, next_path: &Path) -> DanerollView {
        DanerollView {
            host: HOST.into(),
            current: Some(current.record.clone()),
            next: Some((next.record.clone(), Some(next_path.to_path_buf()))),
            staged: None,
            env_prefix: vec![],
            flags: vec!["--config".into(), "/etc/d.toml".into()],
        }
    }

    #[test]
    fn dehydrated_roll_key_agrees_or_says_how_to_install_it() {
        let dir = tempfile::tempdir().unwrap();
        let (current, next) = (key(), key());
        let next_path = dir.path().join("next.pem");
        std::fs::write(&next_path, &next.pem).unwrap();
        let certs = dir.path().join("certs");
        let cert_dir = certs.join(HOST);
        std::fs::create_dir_all(&cert_dir).unwrap();
        std::fs::write(cert_dir.join("privkey.pem"), &current.pem).unwrap();
        std::fs::write(cert_dir.join("privkey.roll.pem"), &next.pem).unwrap();
        let source = AcmeSource::Dehydrated {
            cert_dir: certs.clone(),
            domain: HOST.into(),
        };
        let status = check(&source, &view(&current, &next, &next_path));
        assert_eq!(status.next_key_file, cert_dir.join("privkey.roll.pem"));
        assert_eq!(status.next_key_written, NextKeyWritten::Kept);
        assert!(
            status.checks.iter().all(|c| c.verdict.is_ok()),
            "{status:?}"
        );

        // dehydrated made its own roll key: install daneroll's.
        std::fs::write(cert_dir.join("privkey.roll.pem"), key().pem).unwrap();
        let status = check(&source, &view(&current, &next, &next_path));
        let next_check = &status.checks[1];
        assert_eq!(next_check.verdict, Agreement::Differs);
        assert_eq!(
            next_check.repair.as_deref(),
            Some(
                format!(
                    "install -m 0600 {} {}",
                    next_path.display(),
                    cert_dir.join("privkey.roll.pem").display()
                )
                .as_str()
            )
        );
    }

    #[test]
    fn a_renewal_daneroll_has_not_seen_is_handed_over_with_the_hook() {
        let dir = tempfile::tempdir().unwrap();
        let (current, next, fresh) = (key(), key(), key());
        let next_path = dir.path().join("next.pem");
        std::fs::write(&next_path, &next.pem).unwrap();
        let home = dir.path().join("acme");
        let cert_dir = home.join(format!("{HOST}_ecc"));
        std::fs::create_dir_all(&cert_dir).unwrap();
        std::fs::write(cert_dir.join(format!("{HOST}.key")), &fresh.pem).unwrap();
        let source = AcmeSource::AcmeSh {
            home: home.clone(),
            domain: HOST.into(),
            ecc: true,
        };
        let mut seen = view(&current, &next, &next_path);
        let status = check(&source, &seen);
        let current_check = &status.checks[0];
        assert_eq!(current_check.verdict, Agreement::Differs);
        assert_eq!(
            current_check.repair.as_deref(),
            Some(
                format!(
                    "acme.sh --deploy -d {HOST} --ecc --deploy-hook daneroll --home {}",
                    home.display()
                )
                .as_str()
            )
        );
        // .key.next is missing: acme.sh would make a fresh key at its next renewal.
        assert_eq!(status.checks[1].verdict, Agreement::Missing);
        assert!(
            status.checks[1]
                .repair
                .as_deref()
                .unwrap()
                .starts_with("install -m 0600")
        );

        // Once the hook staged it, the emergency path runs: the repair is a tick.
        seen.staged = Some(fresh.record.clone());
        let status = check(&source, &seen);
        assert_eq!(status.checks[0].verdict, Agreement::Staged);
        assert_eq!(
            status.checks[0].repair.as_deref(),
            Some(format!("daneroll --config /etc/d.toml tick --host {HOST}").as_str())
        );
    }

    #[test]
    fn certbot_and_lego_get_the_next_key_at_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let (current, next) = (key(), key());
        let next_path = dir.path().join("next.pem");
        std::fs::write(&next_path, &next.pem).unwrap();
        let lineage = Lineage::new(dir.path().join("le"), HOST);
        let archive = dir.path().join(format!("le/archive/{HOST}"));
        std::fs::create_dir_all(&archive).unwrap();
        std::fs::create_dir_all(lineage.live_dir()).unwrap();
        std::fs::write(archive.join("privkey2.pem"), &current.pem).unwrap();
        std::os::unix::fs::symlink(
            format!("../../archive/{HOST}/privkey2.pem"),
            lineage.live_dir().join("privkey.pem"),
        )
        .unwrap();
        let source = AcmeSource::Certbot {
            config_dir: dir.path().join("le"),
            cert_name: HOST.into(),
        };
        let status = check(&source, &view(&current, &next, &next_path));
        assert_eq!(status.next_key_written, NextKeyWritten::AtRotation);
        assert!(
            status
                .next_key_file
                .ends_with("archive/mx1.example.net/privkey2.pem")
        );
        assert_eq!(status.checks.len(), 1);
        assert!(status.checks[0].verdict.is_ok());

        // daneroll died during a renewal: the backup is put back.
        std::fs::write(archive.join("privkey2.pem.daneroll-backup"), &current.pem).unwrap();
        let status = check(&source, &view(&current, &next, &next_path));
        assert_eq!(status.checks[0].verdict, Agreement::Interrupted);
        assert!(
            status.checks[0]
                .repair
                .as_deref()
                .unwrap()
                .starts_with("mv -f "),
            "{status:?}"
        );

        let source = AcmeSource::Lego {
            path: dir.path().join("lego"),
            domain: HOST.into(),
            email: "h@example.net".into(),
        };
        let status = check(&source, &view(&current, &next, &next_path));
        assert_eq!(status.checks[0].verdict, Agreement::Missing);
        assert_eq!(
            status.checks[0].repair.as_deref(),
            Some("daneroll --config /etc/d.toml config check")
        );
        assert!(
            status
                .next_key_file
                .ends_with("certificates/mx1.example.net.key")
        );

        // lego holds the next key but has no certificate for it: a renewal failed.
        std::fs::create_dir_all(dir.path().join("lego/certificates")).unwrap();
        std::fs::write(status.next_key_file.clone(), &next.pem).unwrap();
        let status = check(&source, &view(&current, &next, &next_path));
        assert_eq!(status.checks[0].verdict, Agreement::Pending);
        assert_eq!(
            status.checks[0].repair.as_deref(),
            Some(format!("daneroll --config /etc/d.toml rollover --host {HOST}").as_str())
        );
    }

    #[test]
    fn paths_are_quoted_for_the_shell() {
        assert_eq!(
            shell(Path::new("/etc/le/live/a.example")),
            "/etc/le/live/a.example"
        );
        assert_eq!(shell(Path::new("/a b/it's")), "'/a b/it'\\''s'");
    }
}
