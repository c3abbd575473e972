//! certbot: the deploy hook's environment, and renewing a lineage with a given key.
//!
//! A deploy hook (`--deploy-hook`, or an executable in `renewal-hooks/deploy/`) runs after the
//! new certificate is already in `live/NAME/`, with `RENEWED_LINEAGE=/etc/letsencrypt/live/NAME`
//! and `RENEWED_DOMAINS="a.example b.example"`; it also runs on the first `certonly`. certbot
//! sets both variables in its own environment, so pre- and post-hooks that run later in the same
//! process see the *last* lineage's values: a call from a post-hook looks exactly like a deploy
//! hook call for a certificate already handled. daneroll therefore never trusts the variables
//! alone: the hook reads the certificate the lineage holds now and hands its key record to the
//! engine, where a certificate already known is a no-op (the hook is idempotent).
//!
//! To renew with daneroll's next key (as danebot does): the live `privkey.pem` is a symlink to
//! `archive/NAME/privkeyN.pem`; write the next key there, run `certbot renew --cert-name NAME
//! --force-renewal --reuse-key --no-random-sleep-on-renew`, and certbot builds its CSR from that
//! key and stores it as `privkey(N+1).pem`. `privkeyN.pem` is then put back (on success it
//! matches `certN.pem` again; on failure the lineage is exactly as before). A different key type
//! needs `--key-type` and `--rsa-key-size` / `--elliptic-curve`, else certbot refuses the key.

use std::path::{Path, PathBuf};

use daneroll_providers::Tlsa;

use super::files::{KeyBackup, record_of, resolve_link, write_key};
use super::{Client, HookError, HookEvent, HookInput, InjectError, RenewCommand, split_domains};
use crate::pki::KeyType;

/// Reads a certbot deploy hook call.
pub fn parse(input: &HookInput) -> Result<HookEvent, HookError> {
    let missing = |what| HookError::Missing {
        client: Client::Certbot,
        what,
    };
    let lineage = input
        .var("RENEWED_LINEAGE")
        .ok_or_else(|| missing("RENEWED_LINEAGE"))?;
    let domains = split_domains(
        input
            .var("RENEWED_DOMAINS")
            .ok_or_else(|| missing("RENEWED_DOMAINS"))?,
    );
    if domains.is_empty() {
        return Err(missing("RENEWED_DOMAINS"));
    }
    let lineage = PathBuf::from(lineage);
    let in_live = lineage
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|name| name == "live");
    if !lineage.is_absolute() || !in_live {
        return Err(HookError::BadArguments {
            client: Client::Certbot,
            problem: format!(
                "RENEWED_LINEAGE={} is not a lineage directory (…/live/NAME)",
                lineage.display()
            ),
        });
    }
    Ok(HookEvent::Deployed(super::RenewedCertificate {
        client: Client::Certbot,
        domains,
        cert_path: lineage.join("cert.pem"),
        key_path: lineage.join("privkey.pem"),
        fullchain_path: Some(lineage.join("fullchain.pem")),
        chain_path: Some(lineage.join("chain.pem")),
    }))
}

/// One certbot certificate: `CONFIG_DIR/live/NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lineage {
    /// certbot's `--config-dir` (default `/etc/letsencrypt`).
    pub config_dir: PathBuf,
    /// The certificate name (`--cert-name`).
    pub name: String,
}

impl Lineage {
    pub fn new(config_dir: impl Into<PathBuf>, name: impl Into<String>) -> Self {
        Self {
            config_dir: config_dir.into(),
            name: name.into(),
        }
    }

    pub fn live_dir(&self) -> PathBuf {
        self.config_dir.join("live").join(&self.name)
    }

    /// The archive file `live/NAME/privkey.pem` points to: where the next key is written.
    pub fn key_file(&self) -> Result<PathBuf, InjectError> {
        let link = self.live_dir().join("privkey.pem");
        let target = resolve_link(&link)?;
        if target == link {
            return Err(InjectError::Layout {
                path: link,
                problem: "is not a symlink into archive/ (not a certbot lineage?)".into(),
            });
        }
        Ok(target)
    }

    /// The renewal settings file, `CONFIG_DIR/renewal/NAME.conf`.
    pub fn renewal_conf(&self) -> PathBuf {
        self.config_dir
            .join("renewal")
            .join(format!("{}.conf", self.name))
    }

    /// The key type the lineage's renewal settings name (`key_type`, `rsa_key_size`,
    /// `elliptic_curve` under `[renewalparams]`, with certbot's defaults for absent ones).
    /// `None` when the file cannot be read or names a type daneroll does not generate.
    pub fn configured_key_type(&self) -> Option<KeyType> {
        let text = std::fs::read_to_string(self.renewal_conf()).ok()?;
        key_type_in_renewal_conf(&text)
    }

    /// The key type flags a renewal with a `next` key needs: `Some(next)` unless the lineage's
    /// settings already name that type. certbot refuses `--reuse-key` with a key whose type
    /// differs from its settings, and takes the type from the flags.
    pub fn key_type_change(&self, next: KeyType) -> Option<KeyType> {
        (self.configured_key_type() != Some(next)).then_some(next)
    }

    /// The stock renew command for this lineage, with key type flags when the key type changes.
    pub fn renew_command(&self, key_type: Option<KeyType>) -> RenewCommand {
        let mut args: Vec<String> = [
            "renew",
            "--non-interactive",
            "--cert-name",
            &self.name,
            "--force-renewal",
            "--reuse-key",
            "--no-random-sleep-on-renew",
            "--config-dir",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(self.config_dir.display().to_string());
        if let Some(key_type) = key_type {
            args.extend(key_type_args(key_type).iter().map(|s| s.to_string()));
        }
        RenewCommand::new("certbot", args)
    }
}

/// The key type a renewal configuration asks for. certbot restores an absent `key_type` as
/// `rsa` (lineages older than certbot 1.25) and defaults to 2048 bits and secp256r1.
fn key_type_in_renewal_conf(text: &str) -> Option<KeyType> {
    let mut in_params = false;
    let (mut kind, mut size, mut curve) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_params = line == "[renewalparams]";
            continue;
        }
        let Some((key, value)) = line.split_once('=').filter(|_| in_params) else {
            continue;
        };
        let value = value.trim().to_ascii_lowercase();
        match key.trim() {
            "key_type" => kind = Some(value),
            "rsa_key_size" => size = Some(value),
            "elliptic_curve" => curve = Some(value),
            _ => {}
        }
    }
    match kind.as_deref().unwrap_or("rsa") {
        "rsa" => match size.as_deref().unwrap_or("2048") {
            "2048" => Some(KeyType::Rsa2048),
            "3072" => Some(KeyType::Rsa3072),
            "4096" => Some(KeyType::Rsa4096),
            _ => None,
        },
        "ecdsa" => match curve.as_deref().unwrap_or("secp256r1") {
            "secp256r1" | "prime256v1" | "p-256" => Some(KeyType::EcdsaP256),
            "secp384r1" | "p-384" => Some(KeyType::EcdsaP384),
            _ => None,
        },
        _ => None,
    }
}

/// certbot's flags for a key type.
pub fn key_type_args(key_type: KeyType) -> [&'static str; 4] {
    match key_type {
        KeyType::EcdsaP256 => ["--key-type", "ecdsa", "--elliptic-curve", "secp256r1"],
        KeyType::EcdsaP384 => ["--key-type", "ecdsa", "--elliptic-curve", "secp384r1"],
        KeyType::Rsa2048 => ["--key-type", "rsa", "--rsa-key-size", "2048"],
        KeyType::Rsa3072 => ["--key-type", "rsa", "--rsa-key-size", "3072"],
        KeyType::Rsa4096 => ["--key-type", "rsa", "--rsa-key-size", "4096"],
    }
}

/// Renews `lineage` with the next key (`next_key_pem`, whose record is `next`): back up,
/// write, renew, restore the archive key, and check that the new certificate carries `next`.
pub fn renew_with_key(
    lineage: &Lineage,
    next_key_pem: &[u8],
    next: &Tlsa,
    command: &RenewCommand,
) -> Result<(), InjectError> {
    let key_file = lineage.key_file()?;
    let backup = KeyBackup::take(&key_file)?;
    if let Err(error) = write_key(&key_file, next_key_pem, 0o600) {
        backup.restore()?;
        return Err(error);
    }
    let renewed = command.run();
    // Success or not, archive/NAME/privkeyN.pem goes back to the key of certN.pem.
    backup.restore()?;
    renewed?;
    let cert = lineage.live_dir().join("cert.pem");
    let found = record_of(&cert)?;
    if &found != next {
        return Err(InjectError::KeyNotUsed {
            program: command.display(),
            cert,
            expected: next.clone(),
            found,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acme::RenewedCertificate;

    fn input(vars: &[(&str, &str)]) -> HookInput {
        HookInput {
            args: vec![],
            env: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn deploy_hook_environment() {
        let event = parse(&input(&[
            ("RENEWED_LINEAGE", "/etc/letsencrypt/live/mx1.example.net"),
            ("RENEWED_DOMAINS", "mx1.example.net MX2.example.net"),
        ]))
        .unwrap();
        let live = Path::new("/etc/letsencrypt/live/mx1.example.net");
        assert_eq!(
            event,
            HookEvent::Deployed(RenewedCertificate {
                client: Client::Certbot,
                domains: vec!["mx1.example.net".into(), "mx2.example.net".into()],
                cert_path: live.join("cert.pem"),
                key_path: live.join("privkey.pem"),
                fullchain_path: Some(live.join("fullchain.pem")),
                chain_path: Some(live.join("chain.pem")),
            })
        );
    }

    #[test]
    fn key_type_from_renewal_settings() {
        let conf = |params: &str| {
            key_type_in_renewal_conf(&format!(
                "version = 2.1.0\narchive_dir = /a\n\n[renewalparams]\n{params}\n[[webroot_map]]\nkey_type = x\n"
            ))
        };
        assert_eq!(
            conf("key_type = ecdsa\nelliptic_curve = secp384r1"),
            Some(KeyType::EcdsaP384)
        );
        assert_eq!(conf("key_type = ecdsa"), Some(KeyType::EcdsaP256));
        assert_eq!(
            conf("key_type = rsa\nrsa_key_size = 4096"),
            Some(KeyType::Rsa4096)
        );
        // Lineages from before certbot 1.25 have no key_type: RSA 2048.
        assert_eq!(conf("authenticator = standalone"), Some(KeyType::Rsa2048));
        assert_eq!(conf("key_type = rsa\nrsa_key_size = 1024"), None);
    }

    #[test]
    fn key_type_flags_only_when_the_type_changes() {
        let dir = tempfile::tempdir().unwrap();
        let lineage = Lineage::new(dir.path(), "mx");
        // Unknown settings: the flags (which match the key) are always safe to add.
        assert_eq!(
            lineage.key_type_change(KeyType::EcdsaP256),
            Some(KeyType::EcdsaP256)
        );
        std::fs::create_dir_all(dir.path().join("renewal")).unwrap();
        std::fs::write(
            lineage.renewal_conf(),
            "[renewalparams]\nkey_type = ecdsa\nelliptic_curve = secp256r1\n",
        )
        .unwrap();
        assert_eq!(lineage.key_type_change(KeyType::EcdsaP256), None);
        assert_eq!(
            lineage.key_type_change(KeyType::Rsa2048),
            Some(KeyType::Rsa2048)
        );
        let command = lineage.renew_command(lineage.key_type_change(KeyType::Rsa2048));
        assert!(
            command
                .display()
                .ends_with("--key-type rsa --rsa-key-size 2048"),
            "{}",
            command.display()
        );
    }

    #[test]
    fn missing_variables_are_named() {
        let error = parse(&input(&[("RENEWED_DOMAINS", "a.example")])).unwrap_err();
        assert!(error.to_string().contains("RENEWED_LINEAGE"), "{error}");
        let error = parse(&input(&[("RENEWED_LINEAGE", "/etc/letsencrypt/live/a")])).unwrap_err();
        assert!(error.to_string().contains("RENEWED_DOMAINS"), "{error}");
        let error = parse(&input(&[
            ("RENEWED_LINEAGE", "/etc/letsencrypt/live/a"),
            ("RENEWED_DOMAINS", "  "),
        ]))
        .unwrap_err();
        assert!(error.to_string().contains("RENEWED_DOMAINS"), "{error}");
    }

    #[test]
    fn a_lineage_outside_live_is_refused() {
        for lineage in ["relative/live/a", "/etc/letsencrypt/archive/a", "/"] {
            let error = parse(&input(&[
                ("RENEWED_LINEAGE", lineage),
                ("RENEWED_DOMAINS", "a.example"),
            ]))
            .unwrap_err();
            assert!(
                matches!(error, HookError::BadArguments { .. }),
                "{lineage}: {error}"
            );
        }
    }

    #[test]
    fn renew_command_is_stock_and_adds_key_type_only_when_asked() {
        let lineage = Lineage::new("/etc/letsencrypt", "mx1.example.net");
        let plain = lineage.renew_command(None).display();
        assert_eq!(
            plain,
            "certbot renew --non-interactive --cert-name mx1.example.net --force-renewal \
             --reuse-key --no-random-sleep-on-renew --config-dir /etc/letsencrypt"
        );
        let rsa = lineage.renew_command(Some(KeyType::Rsa3072)).display();
        assert!(rsa.ends_with("--key-type rsa --rsa-key-size 3072"), "{rsa}");
    }

    #[test]
    fn key_file_follows_the_live_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let lineage = Lineage::new(dir.path(), "mx");
        std::fs::create_dir_all(dir.path().join("archive/mx")).unwrap();
        std::fs::create_dir_all(lineage.live_dir()).unwrap();
        std::fs::write(dir.path().join("archive/mx/privkey2.pem"), "k").unwrap();
        std::os::unix::fs::symlink(
            "../../archive/mx/privkey2.pem",
            lineage.live_dir().join("privkey.pem"),
        )
        .unwrap();
        let target = lineage.key_file().unwrap();
        assert!(target.ends_with("archive/mx/privkey2.pem"), "{target:?}");
    }

    #[test]
    fn failed_renewal_restores_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let lineage = Lineage::new(dir.path(), "mx");
        std::fs::create_dir_all(dir.path().join("archive/mx")).unwrap();
        std::fs::create_dir_all(lineage.live_dir()).unwrap();
        let archive_key = dir.path().join("archive/mx/privkey1.pem");
        std::fs::write(&archive_key, "old").unwrap();
        std::os::unix::fs::symlink(
            "../../archive/mx/privkey1.pem",
            lineage.live_dir().join("privkey.pem"),
        )
        .unwrap();
        // The "client" records which key it saw, then fails.
        let seen = dir.path().join("seen");
        let command = RenewCommand::new(
            "sh",
            vec![
                "-c".into(),
                format!("cat {} > {}; exit 1", archive_key.display(), seen.display()),
            ],
        );
        let next: Tlsa = "3 1 1 abababababababababababababababababababababababababababababababab"
            .parse()
            .unwrap();
        let error = renew_with_key(&lineage, b"next", &next, &command).unwrap_err();
        assert!(matches!(error, InjectError::RenewFailed { .. }), "{error}");
        assert_eq!(std::fs::read_to_string(&seen).unwrap(), "next");
        assert_eq!(std::fs::read_to_string(&archive_key).unwrap(), "old");
    }
}
