//! dehydrated: the hook's handler calls, and where its next key lives.
//!
//! dehydrated executes its hook as `HOOK HANDLER ARGS…` for many handlers (`deploy_challenge`,
//! `clean_challenge`, `startup_hook`, `exit_hook`, `unchanged_cert`, `deploy_ocsp`, …, and new
//! ones over time). Only `deploy_cert DOMAIN KEYFILE CERTFILE FULLCHAINFILE CHAINFILE TIMESTAMP`
//! concerns daneroll; every other handler must succeed silently (exit 0), or dehydrated aborts.
//! With a `generate_csr` hook, KEYFILE names the old key: daneroll reads the certificate.
//!
//! Keys: with `PRIVATE_KEY_ROLLOVER=yes` (and `PRIVATE_KEY_RENEW=yes`, the default) dehydrated
//! keeps the next key in `certs/D/privkey.roll.pem`, uses it at the next renewal and writes a
//! new one; daneroll writes its own next key there (and again after each renewal). Both settings
//! must be in dehydrated's config (or `certs/D/config`): dehydrated resets them to its defaults
//! before reading the config, so the environment cannot set them. dehydrated moves the roll key
//! into use *before* it sends the order, and makes a fresh roll key, so a failed renewal would
//! lose daneroll's key: daneroll writes it back after a failure.

use std::path::{Path, PathBuf};

use daneroll_providers::Tlsa;

use super::files::{record_of, write_key};
use super::{
    Client, HookError, HookEvent, HookInput, InjectError, RenewCommand, RenewedCertificate,
    split_domains,
};

/// Reads a dehydrated hook call.
pub fn parse(input: &HookInput) -> Result<HookEvent, HookError> {
    let bad = |problem: String| HookError::BadArguments {
        client: Client::Dehydrated,
        problem,
    };
    let Some(handler) = input.args.first() else {
        return Err(bad(
            "no handler name (dehydrated calls `HOOK HANDLER ARGS…`)".into(),
        ));
    };
    if handler != "deploy_cert" {
        return Ok(HookEvent::Ignored {
            handler: handler.clone(),
        });
    }
    let args = &input.args[1..];
    if args.len() < 5 {
        return Err(bad(format!(
            "deploy_cert expects DOMAIN KEYFILE CERTFILE FULLCHAINFILE CHAINFILE TIMESTAMP, got {} \
             arguments",
            args.len()
        )));
    }
    let path = |i: usize, name: &str| {
        let value = args[i].trim();
        if value.is_empty() {
            Err(bad(format!("deploy_cert: {name} is empty")))
        } else {
            Ok(PathBuf::from(value))
        }
    };
    let domains = split_domains(&args[0]);
    if domains.is_empty() {
        return Err(bad("deploy_cert: DOMAIN is empty".into()));
    }
    Ok(HookEvent::Deployed(RenewedCertificate {
        client: Client::Dehydrated,
        domains,
        key_path: path(1, "KEYFILE")?,
        cert_path: path(2, "CERTFILE")?,
        fullchain_path: Some(path(3, "FULLCHAINFILE")?),
        chain_path: Some(path(4, "CHAINFILE")?),
    }))
}

/// One dehydrated certificate: `CERTDIR/D/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DehydratedCertificate {
    /// dehydrated's `CERTDIR` (default `BASEDIR/certs`; Debian: `/var/lib/dehydrated/certs`).
    pub cert_dir: PathBuf,
    /// The certificate's directory name (its first domain, or its alias).
    pub name: String,
}

impl DehydratedCertificate {
    pub fn new(cert_dir: &Path, name: &str) -> Self {
        Self {
            cert_dir: cert_dir.to_path_buf(),
            name: name.to_string(),
        }
    }

    pub fn dir(&self) -> PathBuf {
        self.cert_dir.join(&self.name)
    }

    /// The key dehydrated switches to at the next renewal.
    pub fn next_key_file(&self) -> PathBuf {
        self.dir().join("privkey.roll.pem")
    }

    pub fn cert_file(&self) -> PathBuf {
        self.dir().join("cert.pem")
    }

    /// The current key (`privkey.pem`, a link to `privkey-TIMESTAMP.pem`).
    pub fn key_file(&self) -> PathBuf {
        self.dir().join("privkey.pem")
    }

    /// The stock forced renewal of this one certificate: `--domain` for each of its names (read
    /// from the certificate, so no name is dropped; `--domain` replaces the domains.txt line)
    /// and `--alias` for its directory. dehydrated reads its config (`/etc/dehydrated/config`),
    /// where `PRIVATE_KEY_ROLLOVER=yes` must be set.
    pub fn renew_command(&self) -> RenewCommand {
        let names = super::files::names_of(&self.cert_file())
            .ok()
            .filter(|names| !names.is_empty())
            .unwrap_or_else(|| vec![self.name.clone()]);
        let mut args = vec!["--cron".to_string(), "--force".into()];
        for name in names {
            args.push("--domain".into());
            args.push(name);
        }
        args.push("--alias".into());
        args.push(self.name.clone());
        RenewCommand::new("dehydrated", args)
    }

    /// Puts daneroll's next key where dehydrated takes its next key from.
    pub fn stage_next_key(&self, next_key_pem: &[u8]) -> Result<(), InjectError> {
        let dir = self.dir();
        if !dir.is_dir() {
            return Err(InjectError::Layout {
                path: dir,
                problem: "is not a dehydrated certificate directory (wrong CERTDIR or name?)"
                    .into(),
            });
        }
        write_key(&self.next_key_file(), next_key_pem, 0o600)
    }

    /// Renews now with the next key (staged as `privkey.roll.pem`); after a failure the next
    /// key is staged again (dehydrated replaced it with a fresh one before ordering).
    pub fn renew_with_key(
        &self,
        next_key_pem: &[u8],
        next: &Tlsa,
        command: &RenewCommand,
    ) -> Result<(), InjectError> {
        self.stage_next_key(next_key_pem)?;
        if let Err(error) = command.run() {
            self.stage_next_key(next_key_pem)?;
            return Err(error);
        }
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

    #[test]
    fn deploy_cert_arguments() {
        let d = "/var/lib/dehydrated/certs/mx1.example.net";
        let HookEvent::Deployed(cert) = parse(&args(&[
            "deploy_cert",
            "mx1.example.net",
            &format!("{d}/privkey.pem"),
            &format!("{d}/cert.pem"),
            &format!("{d}/fullchain.pem"),
            &format!("{d}/chain.pem"),
            "1700000000",
        ]))
        .unwrap() else {
            panic!("not a deploy")
        };
        assert_eq!(cert.domains, vec!["mx1.example.net"]);
        assert_eq!(cert.key_path, PathBuf::from(format!("{d}/privkey.pem")));
        assert_eq!(cert.cert_path, PathBuf::from(format!("{d}/cert.pem")));
        assert_eq!(
            cert.fullchain_path,
            Some(PathBuf::from(format!("{d}/fullchain.pem")))
        );
        assert_eq!(
            cert.chain_path,
            Some(PathBuf::from(format!("{d}/chain.pem")))
        );
    }

    #[test]
    fn every_other_handler_is_ignored() {
        for handler in [
            "startup_hook",
            "deploy_challenge",
            "clean_challenge",
            "unchanged_cert",
            "deploy_ocsp",
            "invalid_challenge",
            "request_failure",
            "generate_csr",
            "exit_hook",
            "this_hookscript_is_broken__dehydrated_is_working_fine__please_ignore_unknown_hooks_in_your_script",
        ] {
            assert_eq!(
                parse(&args(&[handler, "x"])).unwrap(),
                HookEvent::Ignored {
                    handler: handler.into()
                }
            );
        }
    }

    #[test]
    fn short_deploy_cert_and_no_handler_are_errors() {
        assert!(parse(&args(&["deploy_cert", "a.example", "k", "c"])).is_err());
        assert!(parse(&args(&[])).is_err());
        let error = parse(&args(&[
            "deploy_cert",
            "a.example",
            "",
            "c",
            "f",
            "ch",
            "1",
        ]))
        .unwrap_err()
        .to_string();
        assert!(error.contains("KEYFILE"), "{error}");
    }

    #[test]
    fn a_failed_renewal_stages_the_next_key_again() {
        let dir = tempfile::tempdir().unwrap();
        let cert = DehydratedCertificate {
            cert_dir: dir.path().into(),
            name: "mx1.example.net".into(),
        };
        std::fs::create_dir(cert.dir()).unwrap();
        // As dehydrated does before it orders: the roll key moves into use, a fresh one is
        // made, then the order fails.
        let roll = cert.next_key_file();
        let command = RenewCommand::new(
            "sh",
            vec![
                "-c".into(),
                format!(
                    "mv {roll} {used}; echo fresh > {roll}; exit 1",
                    roll = roll.display(),
                    used = cert.dir().join("privkey-1.pem").display()
                ),
            ],
        );
        let next: Tlsa = format!("3 1 1 {}", "ab".repeat(32)).parse().unwrap();
        let error = cert.renew_with_key(b"next", &next, &command).unwrap_err();
        assert!(matches!(error, InjectError::RenewFailed { .. }), "{error}");
        assert_eq!(std::fs::read(&roll).unwrap(), b"next");
    }

    #[test]
    fn roll_key_location_and_command() {
        let cert = DehydratedCertificate {
            cert_dir: "/var/lib/dehydrated/certs".into(),
            name: "mx1.example.net".into(),
        };
        assert_eq!(
            cert.next_key_file(),
            PathBuf::from("/var/lib/dehydrated/certs/mx1.example.net/privkey.roll.pem")
        );
        // No certificate to read the names from: the directory name.
        let command = cert.renew_command();
        assert_eq!(
            command.display(),
            "dehydrated --cron --force --domain mx1.example.net --alias mx1.example.net"
        );
    }
}
