//! lego: the hook's environment (v4 and v5 names), and renewing with a given key.
//!
//! lego 4 runs `--renew-hook` / `--run-hook` with `LEGO_CERT_DOMAIN`, `LEGO_CERT_PATH` and
//! `LEGO_CERT_KEY_PATH`; lego 5 renamed them `LEGO_HOOK_CERT_*` (`LEGO_HOOK_CERT_DOMAINS` is a
//! comma separated list). A failing hook makes lego report an error after the certificate is
//! already saved. `certificates/D.crt` is the bundle (leaf first) unless `--no-bundle`; the
//! issuer is in `D.issuer.crt`.
//!
//! Keys: `renew` makes a new key unless `--reuse-key`, which reads `certificates/D.key`: daneroll
//! overwrites that file with the next key and runs `renew --reuse-key`, restoring the old key if
//! the renewal fails. `--no-random-sleep` skips lego's random delay before renewing.

use std::path::{Path, PathBuf};

use daneroll_providers::Tlsa;

use super::files::{KeyBackup, backup_path_of, record_of, write_key};
use super::{
    Client, HookError, HookEvent, HookInput, InjectError, RenewCommand, RenewedCertificate,
    split_domains,
};

/// Reads a lego hook call (v5 names first, then v4).
pub fn parse(input: &HookInput) -> Result<HookEvent, HookError> {
    let missing = |what| HookError::Missing {
        client: Client::Lego,
        what,
    };
    let (cert, key, domains) = if let Some(cert) = input.var("LEGO_HOOK_CERT_PATH") {
        let key = input
            .var("LEGO_HOOK_CERT_KEY_PATH")
            .ok_or_else(|| missing("LEGO_HOOK_CERT_KEY_PATH"))?;
        let domains = input
            .var("LEGO_HOOK_CERT_DOMAINS")
            .or_else(|| input.var("LEGO_HOOK_CERT_DOMAIN"))
            .ok_or_else(|| missing("LEGO_HOOK_CERT_DOMAINS"))?;
        (cert, key, domains)
    } else {
        let cert = input
            .var("LEGO_CERT_PATH")
            .ok_or_else(|| missing("LEGO_CERT_PATH (or lego 5's LEGO_HOOK_CERT_PATH)"))?;
        let key = input
            .var("LEGO_CERT_KEY_PATH")
            .ok_or_else(|| missing("LEGO_CERT_KEY_PATH"))?;
        let domains = input
            .var("LEGO_CERT_DOMAIN")
            .ok_or_else(|| missing("LEGO_CERT_DOMAIN"))?;
        (cert, key, domains)
    };
    let domains = split_domains(domains);
    if domains.is_empty() {
        return Err(missing("LEGO_CERT_DOMAIN"));
    }
    let cert_path = PathBuf::from(cert);
    let chain_path = input
        .var("LEGO_HOOK_ISSUER_CERT_PATH")
        .map(PathBuf::from)
        .or_else(|| issuer_next_to(&cert_path));
    Ok(HookEvent::Deployed(RenewedCertificate {
        client: Client::Lego,
        domains,
        fullchain_path: Some(cert_path.clone()),
        cert_path,
        key_path: PathBuf::from(key),
        chain_path,
    }))
}

/// `certificates/D.crt` → `certificates/D.issuer.crt`.
fn issuer_next_to(cert: &Path) -> Option<PathBuf> {
    let name = cert.file_name()?.to_str()?;
    let stem = name.strip_suffix(".crt")?;
    Some(cert.with_file_name(format!("{stem}.issuer.crt")))
}

/// lego's file name for a domain (`*.example.net` → `_.example.net`).
pub fn file_stem(domain: &str) -> String {
    domain.replace('*', "_")
}

/// One lego certificate: `PATH/certificates/D.{crt,key}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegoCertificate {
    /// lego's `--path` (default `./.lego`).
    pub path: PathBuf,
    /// The first `--domains` value.
    pub domain: String,
    /// The account email (`--email`), which `renew` needs.
    pub email: String,
}

impl LegoCertificate {
    pub fn new(path: &Path, domain: &str, email: &str) -> Self {
        Self {
            path: path.to_path_buf(),
            domain: domain.to_string(),
            email: email.to_string(),
        }
    }

    pub fn key_file(&self) -> PathBuf {
        self.path
            .join("certificates")
            .join(format!("{}.key", file_stem(&self.domain)))
    }

    pub fn cert_file(&self) -> PathBuf {
        self.path
            .join("certificates")
            .join(format!("{}.crt", file_stem(&self.domain)))
    }

    /// The stock renewal: `--days` larger than any certificate lifetime forces it. lego keeps no
    /// settings of its own, so the challenge is lego's built-in HTTP-01 server on port 80
    /// (`--http`); any other challenge (`--dns PROVIDER`, `--http.webroot`, another `--server`)
    /// needs `renew_command` in the config.
    pub fn renew_command(&self) -> RenewCommand {
        RenewCommand::new(
            "lego",
            vec![
                "--accept-tos".into(),
                "--email".into(),
                self.email.clone(),
                "--path".into(),
                self.path.display().to_string(),
                "--domains".into(),
                self.domain.clone(),
                "--http".into(),
                "renew".into(),
                "--reuse-key".into(),
                "--no-random-sleep".into(),
                "--days".into(),
                "100000".into(),
            ],
        )
    }

    /// Renews with the next key: overwrite `D.key`, `renew --reuse-key`, restore on failure.
    pub fn renew_with_key(
        &self,
        next_key_pem: &[u8],
        next: &Tlsa,
        command: &RenewCommand,
    ) -> Result<(), InjectError> {
        let backup = KeyBackup::take(&self.key_file())?;
        let result = write_key(backup.path(), next_key_pem, 0o600).and_then(|()| command.run());
        if let Err(error) = result {
            backup.restore()?;
            return Err(error);
        }
        drop(backup);
        let _ = std::fs::remove_file(backup_path_of(&self.key_file()));
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

    fn env(vars: &[(&str, &str)]) -> HookInput {
        HookInput {
            args: vec![],
            env: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn lego_4_variables() {
        let HookEvent::Deployed(cert) = parse(&env(&[
            ("LEGO_CERT_DOMAIN", "mx1.example.net"),
            (
                "LEGO_CERT_PATH",
                "/var/lib/lego/certificates/mx1.example.net.crt",
            ),
            (
                "LEGO_CERT_KEY_PATH",
                "/var/lib/lego/certificates/mx1.example.net.key",
            ),
        ]))
        .unwrap() else {
            panic!()
        };
        assert_eq!(cert.domains, vec!["mx1.example.net"]);
        assert_eq!(
            cert.key_path,
            PathBuf::from("/var/lib/lego/certificates/mx1.example.net.key")
        );
        assert_eq!(
            cert.chain_path,
            Some(PathBuf::from(
                "/var/lib/lego/certificates/mx1.example.net.issuer.crt"
            ))
        );
        assert_eq!(cert.fullchain_path.as_ref(), Some(&cert.cert_path));
    }

    #[test]
    fn lego_5_variables_win() {
        let HookEvent::Deployed(cert) = parse(&env(&[
            ("LEGO_HOOK_CERT_DOMAINS", "mx1.example.net,mx2.example.net"),
            ("LEGO_HOOK_CERT_PATH", "/l/certificates/mx1.example.net.crt"),
            (
                "LEGO_HOOK_CERT_KEY_PATH",
                "/l/certificates/mx1.example.net.key",
            ),
            ("LEGO_HOOK_ISSUER_CERT_PATH", "/l/certificates/issuer.crt"),
            ("LEGO_CERT_PATH", "/stale.crt"),
        ]))
        .unwrap() else {
            panic!()
        };
        assert_eq!(cert.domains, vec!["mx1.example.net", "mx2.example.net"]);
        assert_eq!(
            cert.cert_path,
            PathBuf::from("/l/certificates/mx1.example.net.crt")
        );
        assert_eq!(
            cert.chain_path,
            Some(PathBuf::from("/l/certificates/issuer.crt"))
        );
    }

    #[test]
    fn missing_variables_are_named() {
        let error = parse(&env(&[])).unwrap_err().to_string();
        assert!(error.contains("LEGO_CERT_PATH"), "{error}");
        let error = parse(&env(&[
            ("LEGO_CERT_PATH", "/a.crt"),
            ("LEGO_CERT_DOMAIN", "a"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(error.contains("LEGO_CERT_KEY_PATH"), "{error}");
    }

    #[test]
    fn wildcard_file_names() {
        let cert = LegoCertificate {
            path: "/var/lib/lego".into(),
            domain: "*.example.net".into(),
            email: "hostmaster@example.net".into(),
        };
        assert_eq!(
            cert.key_file(),
            PathBuf::from("/var/lib/lego/certificates/_.example.net.key")
        );
        let command = cert.renew_command().display();
        assert!(
            command.contains("renew --reuse-key --no-random-sleep"),
            "{command}"
        );
    }
}
