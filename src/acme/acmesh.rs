//! acme.sh: the deploy hook's arguments, and where its next key lives.
//!
//! acme.sh *sources* `deploy/NAME.sh` in a subshell and calls `NAME_deploy _cdomain _ckey _ccert
//! _cca _cfullchain _cpfx`; a non-zero return is reported as a failed deploy and retried at the
//! next renewal. The function sees acme.sh's variables (`Le_Alt`, the other names, comma
//! separated or `no`; `Le_Next_Domain_Key`) but they are not exported, so `hooks/acme.sh/
//! daneroll.sh` passes `Le_Alt` on as `DANEROLL_ACMESH_ALT`.
//!
//! Keys: acme.sh reuses `D.key` by default. With `--always-force-new-domain-key` it keeps a
//! pre-generated `D.key.next`, promotes it at the next renewal (copies it to `D.key` and empties
//! it) and writes a fresh `.next` before ordering: daneroll writes its own next key there
//! whenever it generates one, i.e. again after each renewal. ECDSA certificates
//! live in `D_ecc/` and need `--ecc` on `--renew`.

use std::path::{Path, PathBuf};

use daneroll_providers::Tlsa;

use super::files::{KeyBackup, record_of, write_key};
use super::{
    Client, HookError, HookEvent, HookInput, InjectError, RenewCommand, RenewedCertificate,
    split_domains,
};

/// The variable the hook script fills from acme.sh's `Le_Alt`.
pub const ALT_NAMES_VAR: &str = "DANEROLL_ACMESH_ALT";

/// Reads an acme.sh deploy call: `_cdomain _ckey _ccert _cca _cfullchain [_cpfx]`.
pub fn parse(input: &HookInput) -> Result<HookEvent, HookError> {
    let bad = |problem: String| HookError::BadArguments {
        client: Client::AcmeSh,
        problem,
    };
    if !(5..=6).contains(&input.args.len()) {
        return Err(bad(format!(
            "expected the arguments _cdomain _ckey _ccert _cca _cfullchain [_cpfx], got {}",
            input.args.len()
        )));
    }
    let arg = |i: usize, name: &str| {
        let value = input.args[i].trim();
        if value.is_empty() {
            Err(bad(format!("{name} is empty")))
        } else {
            Ok(value.to_string())
        }
    };
    let mut domains = split_domains(&arg(0, "_cdomain")?);
    if let Some(alt) = input.var(ALT_NAMES_VAR).filter(|alt| *alt != "no") {
        for name in split_domains(alt) {
            if !domains.contains(&name) {
                domains.push(name);
            }
        }
    }
    let optional = |i: usize| {
        let value = input.args[i].trim();
        (!value.is_empty()).then(|| PathBuf::from(value))
    };
    Ok(HookEvent::Deployed(RenewedCertificate {
        client: Client::AcmeSh,
        domains,
        key_path: arg(1, "_ckey")?.into(),
        cert_path: arg(2, "_ccert")?.into(),
        chain_path: optional(3),
        fullchain_path: optional(4),
    }))
}

/// One acme.sh certificate: `HOME/D/` or `HOME/D_ecc/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcmeShCertificate {
    /// acme.sh's `--home` (or `--cert-home`; default `~/.acme.sh`).
    pub home: PathBuf,
    pub domain: String,
    /// An ECDSA certificate (`D_ecc/`, `--ecc`).
    pub ecc: bool,
}

impl AcmeShCertificate {
    pub fn new(home: &Path, domain: &str, ecc: bool) -> Self {
        Self {
            home: home.to_path_buf(),
            domain: domain.to_string(),
            ecc,
        }
    }

    pub fn dir(&self) -> PathBuf {
        let suffix = if self.ecc { "_ecc" } else { "" };
        self.home.join(format!("{}{suffix}", self.domain))
    }

    /// The key acme.sh uses now.
    pub fn key_file(&self) -> PathBuf {
        self.dir().join(format!("{}.key", self.domain))
    }

    /// The key acme.sh promotes at its next renewal (`--always-force-new-domain-key`).
    pub fn next_key_file(&self) -> PathBuf {
        self.dir().join(format!("{}.key.next", self.domain))
    }

    pub fn cert_file(&self) -> PathBuf {
        self.dir().join(format!("{}.cer", self.domain))
    }

    /// The stock forced renewal.
    pub fn renew_command(&self) -> RenewCommand {
        let mut args = vec![
            "--renew".to_string(),
            "--force".into(),
            "-d".into(),
            self.domain.clone(),
            "--home".into(),
            self.home.display().to_string(),
        ];
        if self.ecc {
            args.push("--ecc".into());
        }
        RenewCommand::new("acme.sh", args)
    }

    /// Puts daneroll's next key where acme.sh takes its next key from; acme.sh uses it at its
    /// own next renewal.
    pub fn stage_next_key(&self, next_key_pem: &[u8]) -> Result<(), InjectError> {
        self.require_dir()?;
        write_key(&self.next_key_file(), next_key_pem, 0o600)
    }

    /// Renews now with the next key: written as `D.key` (reused by default) and `D.key.next`
    /// (promoted with `--always-force-new-domain-key`). On failure `D.key` is restored and the
    /// next key written to `D.key.next` again: acme.sh promotes `.next` and makes a fresh one
    /// *before* it sends the order, so a failed order leaves its own key there.
    pub fn renew_with_key(
        &self,
        next_key_pem: &[u8],
        next: &Tlsa,
        command: &RenewCommand,
    ) -> Result<(), InjectError> {
        self.require_dir()?;
        let backup = KeyBackup::take(&self.key_file())?;
        let result = write_key(backup.path(), next_key_pem, 0o600)
            .and_then(|()| write_key(&self.next_key_file(), next_key_pem, 0o600))
            .and_then(|()| command.run());
        if let Err(error) = result {
            backup.restore()?;
            self.stage_next_key(next_key_pem)?;
            return Err(error);
        }
        drop(backup);
        let _ = std::fs::remove_file(super::files::backup_path_of(&self.key_file()));
        let found = record_of(&self.cert_file())?;
        if &found != next {
            return Err(InjectError::KeyNotUsed {
                program: command.display(),
                cert: self.cert_file(),
                expected: next.clone(),
                found,
            });
        }
        Ok(())
    }

    fn require_dir(&self) -> Result<(), InjectError> {
        let dir = self.dir();
        if dir.is_dir() {
            return Ok(());
        }
        Err(InjectError::Layout {
            path: dir,
            problem: format!(
                "is not an acme.sh certificate directory (issued with acme.sh --issue -d {}{}?)",
                self.domain,
                if self.ecc {
                    ""
                } else {
                    "; ECDSA certificates live in D_ecc/"
                }
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> HookInput {
        HookInput {
            args: list.iter().map(|s| s.to_string()).collect(),
            env: Default::default(),
        }
    }

    const SIX: [&str; 6] = [
        "mx1.example.net",
        "/root/.acme.sh/mx1.example.net_ecc/mx1.example.net.key",
        "/root/.acme.sh/mx1.example.net_ecc/mx1.example.net.cer",
        "/root/.acme.sh/mx1.example.net_ecc/ca.cer",
        "/root/.acme.sh/mx1.example.net_ecc/fullchain.cer",
        "",
    ];

    #[test]
    fn the_six_deploy_arguments() {
        let HookEvent::Deployed(cert) = parse(&args(&SIX)).unwrap() else {
            panic!("not a deploy")
        };
        assert_eq!(cert.client, Client::AcmeSh);
        assert_eq!(cert.domains, vec!["mx1.example.net"]);
        assert_eq!(cert.key_path, PathBuf::from(SIX[1]));
        assert_eq!(cert.cert_path, PathBuf::from(SIX[2]));
        assert_eq!(cert.chain_path, Some(PathBuf::from(SIX[3])));
        assert_eq!(cert.fullchain_path, Some(PathBuf::from(SIX[4])));
    }

    #[test]
    fn alt_names_come_from_le_alt_and_no_means_none() {
        let mut input = args(&SIX);
        input.env.insert(
            ALT_NAMES_VAR.into(),
            "mx2.example.net,mx1.example.net".into(),
        );
        let HookEvent::Deployed(cert) = parse(&input).unwrap() else {
            panic!()
        };
        assert_eq!(cert.domains, vec!["mx1.example.net", "mx2.example.net"]);
        input.env.insert(ALT_NAMES_VAR.into(), "no".into());
        let HookEvent::Deployed(cert) = parse(&input).unwrap() else {
            panic!()
        };
        assert_eq!(cert.domains, vec!["mx1.example.net"]);
    }

    #[test]
    fn wrong_argument_counts_and_empty_paths_are_errors() {
        assert!(parse(&args(&SIX[..4])).is_err());
        let mut seven = SIX.to_vec();
        seven.push("x");
        assert!(parse(&args(&seven)).is_err());
        let mut no_key = SIX;
        no_key[1] = "";
        let error = parse(&args(&no_key)).unwrap_err().to_string();
        assert!(error.contains("_ckey"), "{error}");
    }

    #[test]
    fn ecc_layout_and_command() {
        let cert = AcmeShCertificate {
            home: "/root/.acme.sh".into(),
            domain: "mx1.example.net".into(),
            ecc: true,
        };
        assert_eq!(
            cert.next_key_file(),
            PathBuf::from("/root/.acme.sh/mx1.example.net_ecc/mx1.example.net.key.next")
        );
        assert!(cert.renew_command().display().ends_with("--ecc"));
        let rsa = AcmeShCertificate { ecc: false, ..cert };
        assert!(!rsa.renew_command().display().contains("--ecc"));
    }

    #[test]
    fn a_failed_renewal_restores_the_key_and_stages_the_next_key_again() {
        let dir = tempfile::tempdir().unwrap();
        let cert = AcmeShCertificate {
            home: dir.path().into(),
            domain: "mx1.example.net".into(),
            ecc: true,
        };
        std::fs::create_dir(cert.dir()).unwrap();
        std::fs::write(cert.key_file(), "current").unwrap();
        // What acme.sh --renew does with --always-force-new-domain-key before the order fails.
        let command = RenewCommand::new(
            "sh",
            vec![
                "-c".into(),
                format!(
                    "cat {next} > {key}; echo fresh > {next}; exit 1",
                    next = cert.next_key_file().display(),
                    key = cert.key_file().display()
                ),
            ],
        );
        let next: Tlsa = format!("3 1 1 {}", "ab".repeat(32)).parse().unwrap();
        let error = cert.renew_with_key(b"next", &next, &command).unwrap_err();
        assert!(matches!(error, InjectError::RenewFailed { .. }), "{error}");
        assert_eq!(std::fs::read(cert.key_file()).unwrap(), b"current");
        assert_eq!(std::fs::read(cert.next_key_file()).unwrap(), b"next");
    }

    #[test]
    fn staging_needs_the_certificate_directory() {
        let dir = tempfile::tempdir().unwrap();
        let cert = AcmeShCertificate {
            home: dir.path().into(),
            domain: "mx1.example.net".into(),
            ecc: true,
        };
        let error = cert.stage_next_key(b"k").unwrap_err().to_string();
        assert!(error.contains("mx1.example.net_ecc"), "{error}");
        std::fs::create_dir(cert.dir()).unwrap();
        cert.stage_next_key(b"k").unwrap();
        assert_eq!(std::fs::read(cert.next_key_file()).unwrap(), b"k");
    }
}
