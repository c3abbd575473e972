//! The engine's part of the configuration: the `[policy]` table, `state_dir`, and per host the
//! key type, the TTL of a new TLSA RRset, where the MTA reads its certificate (`[host.deploy]`)
//! and where new certificates come from (`[host.source]`).
//!
//! Kept beside `config.rs` (same raw → validated pattern, same errors naming file, line and
//! key). Paths are not checked for existence here: a config is often written before the
//! certificate exists; `daneroll config check` reports missing files as warnings.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config::{ConfigError, Validator};
use crate::pki::keygen::KeyType;
use crate::rollover::{Policy, SafetyFactor};

/// Where the engine keeps its state when the config does not say.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/daneroll";

/// TTL of a TLSA RRset daneroll creates (an existing RRset keeps its TTL).
pub const DEFAULT_TTL: u32 = 3600;

/// How long `tick` and the hooks wait for another run's lock before reporting the host busy
/// (exit 3): longer than a reload may take, far shorter than the next timer run.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(2 * 60);

/// How the MTA reads its key and certificate chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployFiles {
    /// One file holding the private key then the chain (Postfix `smtpd_tls_chain_files`):
    /// replaced with one rename, so the MTA never sees a key beside the wrong certificate.
    Combined(PathBuf),
    /// Separate key and chain files (`smtpd_tls_key_file` / `smtpd_tls_cert_file`).
    Separate {
        key_file: PathBuf,
        cert_file: PathBuf,
    },
}

/// `[host.deploy]`: the files daneroll installs into, and the reload command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deploy {
    pub files: DeployFiles,
    /// Run after installing (argv, no shell), e.g. `["postfix", "reload"]`.
    pub reload: Option<Vec<String>>,
    /// `reload_timeout`; `None`: [`crate::process::DEFAULT_RELOAD_TIMEOUT`].
    pub reload_timeout: Option<Duration>,
}

impl Deploy {
    /// How long the reload may take before it is stopped.
    pub fn reload_timeout(&self) -> Duration {
        self.reload_timeout
            .unwrap_or(crate::process::DEFAULT_RELOAD_TIMEOUT)
    }
}

/// `[host.source]`: where renewed certificates appear.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CertSource {
    /// The ACME client's output chain (leaf first), e.g. certbot's `fullchain.pem`.
    pub certificate_file: Option<PathBuf>,
    /// The ACME client's key; absent: the key is the one daneroll generated for the leaf.
    pub key_file: Option<PathBuf>,
    /// Run when the next key is safe, with `DANEROLL_HOST`, `DANEROLL_NEXT_KEY` (its path) and
    /// `DANEROLL_NEXT_TLSA`; it must write a certificate for that key to `certificate_file`.
    pub command: Option<Vec<String>>,
    /// `type = "certbot"` etc.: the ACME client daneroll renews through with the next key
    /// (its deploy hook stages the certificate in the state directory).
    pub acme: Option<AcmeSource>,
    /// `renew_command`: the ACME client's forced renewal (argv, no shell), replacing the stock
    /// one of [`AcmeSource`]'s client; daneroll puts the next key in place before running it.
    pub renew_command: Option<Vec<String>>,
    /// `timeout` of `command` or of the ACME client's renewal; `None`:
    /// [`crate::process::DEFAULT_CERTIFICATE_TIMEOUT`].
    pub timeout: Option<Duration>,
}

impl CertSource {
    /// How long `command` or the ACME client's renewal may take before it is stopped.
    pub fn timeout(&self) -> Duration {
        self.timeout
            .unwrap_or(crate::process::DEFAULT_CERTIFICATE_TIMEOUT)
    }
}

/// The ACME client of a host and where its files are (`[host.source] type = …`). Names
/// default to the host name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcmeSource {
    /// `type = "certbot"`, `cert_name`, `config_dir` (default `/etc/letsencrypt`).
    Certbot {
        config_dir: PathBuf,
        cert_name: String,
    },
    /// `type = "acme.sh"`, `home` (default `/root/.acme.sh`), `domain`, `ecc` (default true).
    AcmeSh {
        home: PathBuf,
        domain: String,
        ecc: bool,
    },
    /// `type = "dehydrated"`, `cert_dir` (default `/var/lib/dehydrated/certs`), `domain`.
    Dehydrated { cert_dir: PathBuf, domain: String },
    /// `type = "lego"`, `path` (lego's `--path`), `domain`, `email`.
    Lego {
        path: PathBuf,
        domain: String,
        email: String,
    },
}

impl AcmeSource {
    /// The client's name as `daneroll hook` spells it.
    pub fn client(&self) -> crate::acme::Client {
        use crate::acme::Client;
        match self {
            AcmeSource::Certbot { .. } => Client::Certbot,
            AcmeSource::AcmeSh { .. } => Client::AcmeSh,
            AcmeSource::Dehydrated { .. } => Client::Dehydrated,
            AcmeSource::Lego { .. } => Client::Lego,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    safety_factor: Option<Spanned<Number>>,
    poll_interval: Option<Spanned<String>>,
    recheck_interval: Option<Spanned<String>>,
    key_max_age: Option<Spanned<String>>,
    lock_wait: Option<Spanned<String>>,
}

/// TOML writes `2` and `2.5` as different types; both are factors.
#[derive(Deserialize, Clone, Copy)]
#[serde(untagged)]
pub(super) enum Number {
    Integer(i64),
    Float(f64),
}

impl Number {
    fn value(self) -> f64 {
        match self {
            Number::Integer(n) => n as f64,
            Number::Float(f) => f,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDeploy {
    key_file: Option<Spanned<PathBuf>>,
    cert_file: Option<Spanned<PathBuf>>,
    combined_file: Option<Spanned<PathBuf>>,
    reload: Option<Spanned<Vec<String>>>,
    reload_timeout: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    certificate_file: Option<Spanned<PathBuf>>,
    key_file: Option<Spanned<PathBuf>>,
    command: Option<Spanned<Vec<String>>>,
    #[serde(rename = "type")]
    kind: Option<Spanned<String>>,
    cert_name: Option<String>,
    config_dir: Option<PathBuf>,
    home: Option<PathBuf>,
    domain: Option<String>,
    ecc: Option<bool>,
    cert_dir: Option<PathBuf>,
    path: Option<PathBuf>,
    email: Option<Spanned<String>>,
    renew_command: Option<Spanned<Vec<String>>>,
    timeout: Option<Spanned<String>>,
}

/// Parses `90`, `90s`, `15m`, `2h`, `365d`, `2w`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 90s, 15m, 2h, 365d)"))?;
    let scale = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        unit => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use s, m, h, d or w)"
            ));
        }
    };
    Ok(Duration::from_secs(number.saturating_mul(scale)))
}

/// A duration as the config writes it: `365d`, `1h`, `90s`.
pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    for (unit, scale) in [("d", 86400), ("h", 3600), ("m", 60)] {
        if secs >= scale && secs.is_multiple_of(scale) {
            return format!("{}{unit}", secs / scale);
        }
    }
    format!("{secs}s")
}

fn must_be_absolute_argv(argv: &[String]) -> Result<(), &'static str> {
    match argv.first() {
        None => Err("give the command as a non-empty list: [\"postfix\", \"reload\"]"),
        Some(program) if program.trim().is_empty() => Err("the program name is empty"),
        Some(_) => Ok(()),
    }
}

impl Validator<'_> {
    /// `[policy]`, with `[validation] safety_factor` (the older spelling) folded in.
    pub(super) fn policy(
        &self,
        raw: RawPolicy,
        legacy_factor: Option<Spanned<u32>>,
    ) -> Result<Policy, ConfigError> {
        let mut policy = Policy::default();
        let factor = match (raw.safety_factor, legacy_factor) {
            (Some(_), Some(legacy)) => {
                return Err(self.error(
                    Some(legacy.span()),
                    "validation.safety_factor",
                    "also set in [policy]; keep only [policy] safety_factor",
                ));
            }
            (Some(factor), None) => Some((factor.span(), factor.into_inner().value(), "policy")),
            (None, Some(legacy)) => {
                Some((legacy.span(), f64::from(legacy.into_inner()), "validation"))
            }
            (None, None) => None,
        };
        if let Some((span, value, table)) = factor {
            let key = format!("{table}.safety_factor");
            if value < 2.0 {
                return Err(self.error(
                    Some(span),
                    &key,
                    "must be at least 2 (RFC 7671 §8.1: at least two TTLs)",
                ));
            }
            policy.safety_factor =
                SafetyFactor::new(value).map_err(|e| self.error(Some(span), &key, e))?;
        }
        let duration = |field: Option<Spanned<String>>, key: &str| {
            field
                .map(|text| {
                    let span = text.span();
                    parse_duration(text.get_ref())
                        .map_err(|e| self.error(Some(span), &format!("policy.{key}"), e))
                        .and_then(|d| {
                            if d.is_zero() {
                                Err(self.error(
                                    Some(text.span()),
                                    &format!("policy.{key}"),
                                    "must be longer than zero",
                                ))
                            } else {
                                Ok(d)
                            }
                        })
                })
                .transpose()
        };
        if let Some(poll) = duration(raw.poll_interval, "poll_interval")? {
            policy.poll_interval = poll;
        }
        if let Some(recheck) = duration(raw.recheck_interval, "recheck_interval")? {
            policy.recheck_interval = recheck;
        }
        if let Some(age) = duration(raw.key_max_age, "key_max_age")? {
            policy.key_max_age = age;
        }
        Ok(policy)
    }

    pub(super) fn key_type(&self, raw: Option<Spanned<String>>) -> Result<KeyType, ConfigError> {
        match raw {
            None => Ok(KeyType::default()),
            Some(text) => text
                .get_ref()
                .parse()
                .map_err(|e| self.error(Some(text.span()), "host.key_type", e)),
        }
    }

    pub(super) fn deploy(&self, raw: Option<RawDeploy>) -> Result<Option<Deploy>, ConfigError> {
        let Some(raw) = raw else { return Ok(None) };
        let files = match (raw.combined_file, raw.key_file, raw.cert_file) {
            (Some(combined), None, None) => DeployFiles::Combined(combined.into_inner()),
            (None, Some(key), Some(cert)) => DeployFiles::Separate {
                key_file: key.into_inner(),
                cert_file: cert.into_inner(),
            },
            (Some(combined), _, _) => {
                return Err(self.error(
                    Some(combined.span()),
                    "host.deploy.combined_file",
                    "give either combined_file or key_file + cert_file, not both",
                ));
            }
            (None, Some(key), None) => {
                return Err(self.error(
                    Some(key.span()),
                    "host.deploy.cert_file",
                    "key_file needs cert_file (or use one combined_file)",
                ));
            }
            (None, None, Some(cert)) => {
                return Err(self.error(
                    Some(cert.span()),
                    "host.deploy.key_file",
                    "cert_file needs key_file (or use one combined_file)",
                ));
            }
            (None, None, None) => {
                return Err(self.error(
                    None,
                    "host.deploy",
                    "name the MTA's files: combined_file, or key_file + cert_file",
                ));
            }
        };
        let reload = match raw.reload {
            Some(argv) => {
                must_be_absolute_argv(argv.get_ref())
                    .map_err(|e| self.error(Some(argv.span()), "host.deploy.reload", e))?;
                Some(argv.into_inner())
            }
            None => None,
        };
        let reload_timeout = self.timeout(raw.reload_timeout, "host.deploy.reload_timeout")?;
        Ok(Some(Deploy {
            files,
            reload,
            reload_timeout,
        }))
    }

    /// A command's timeout (`90s`, `15m`): longer than zero.
    fn timeout(
        &self,
        raw: Option<Spanned<String>>,
        key: &str,
    ) -> Result<Option<Duration>, ConfigError> {
        let Some(text) = raw else { return Ok(None) };
        let span = text.span();
        match parse_duration(text.get_ref()) {
            Ok(duration) if duration.is_zero() => {
                Err(self.error(Some(span), key, "must be longer than zero"))
            }
            Ok(duration) => Ok(Some(duration)),
            Err(e) => Err(self.error(Some(span), key, e)),
        }
    }

    /// `[policy] lock_wait`: how long `tick` and the hooks wait for a busy host.
    pub(super) fn lock_wait(&self, raw: &mut RawPolicy) -> Result<Duration, ConfigError> {
        Ok(self
            .timeout(raw.lock_wait.take(), "policy.lock_wait")?
            .unwrap_or(DEFAULT_LOCK_WAIT))
    }

    pub(super) fn source(
        &self,
        raw: Option<RawSource>,
        host: &str,
    ) -> Result<Option<CertSource>, ConfigError> {
        let Some(mut raw) = raw else { return Ok(None) };
        let command = match raw.command.take() {
            Some(argv) => {
                must_be_absolute_argv(argv.get_ref())
                    .map_err(|e| self.error(Some(argv.span()), "host.source.command", e))?;
                Some(argv.into_inner())
            }
            None => None,
        };
        let acme = self.acme_source(&mut raw, host)?;
        let renew_command = match raw.renew_command.take() {
            Some(argv) if acme.is_none() => {
                return Err(self.error(
                    Some(argv.span()),
                    "host.source.renew_command",
                    "is the ACME client's renew command: name the client with type = \"certbot\", \
                     \"acme.sh\", \"dehydrated\" or \"lego\" (or use command = [...] to run \
                     your own renewal)",
                ));
            }
            Some(argv) => {
                must_be_absolute_argv(argv.get_ref())
                    .map_err(|e| self.error(Some(argv.span()), "host.source.renew_command", e))?;
                Some(argv.into_inner())
            }
            None => None,
        };
        if raw.certificate_file.is_none() && acme.is_none() {
            return Err(self.error(
                raw.key_file.as_ref().map(Spanned::span),
                "host.source.certificate_file",
                "name the file where renewed certificates appear (the ACME client's fullchain, \
                 or where the command writes one), or the ACME client with type = \"certbot\", \
                 \"acme.sh\", \"dehydrated\" or \"lego\"",
            ));
        }
        let timeout = self.timeout(raw.timeout.take(), "host.source.timeout")?;
        Ok(Some(CertSource {
            certificate_file: raw.certificate_file.map(Spanned::into_inner),
            key_file: raw.key_file.map(Spanned::into_inner),
            command,
            acme,
            renew_command,
            timeout,
        }))
    }

    fn acme_source(
        &self,
        raw: &mut RawSource,
        host: &str,
    ) -> Result<Option<AcmeSource>, ConfigError> {
        let Some(kind) = raw.kind.take() else {
            return Ok(None);
        };
        let domain = raw.domain.take().unwrap_or_else(|| host.to_string());
        let source = match kind.get_ref().as_str() {
            "certbot" => AcmeSource::Certbot {
                config_dir: raw
                    .config_dir
                    .take()
                    .unwrap_or_else(|| "/etc/letsencrypt".into()),
                cert_name: raw.cert_name.take().unwrap_or(domain),
            },
            "acme.sh" => AcmeSource::AcmeSh {
                home: raw.home.take().unwrap_or_else(|| "/root/.acme.sh".into()),
                domain,
                ecc: raw.ecc.unwrap_or(true),
            },
            "dehydrated" => AcmeSource::Dehydrated {
                cert_dir: raw
                    .cert_dir
                    .take()
                    .unwrap_or_else(|| "/var/lib/dehydrated/certs".into()),
                domain,
            },
            "lego" => {
                let (Some(path), Some(email)) = (raw.path.take(), raw.email.take()) else {
                    return Err(self.error(
                        Some(kind.span()),
                        "host.source",
                        "type = \"lego\" needs path (lego's --path) and email",
                    ));
                };
                AcmeSource::Lego {
                    path,
                    domain,
                    email: email.into_inner(),
                }
            }
            other => {
                return Err(self.error(
                    Some(kind.span()),
                    "host.source.type",
                    format!("unknown ACME client {other:?} (certbot, acme.sh, dehydrated or lego)"),
                ));
            }
        };
        Ok(Some(source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_round_trip() {
        assert_eq!(
            parse_duration("365d").unwrap(),
            Duration::from_secs(365 * 86400)
        );
        assert_eq!(
            parse_duration("2w").unwrap(),
            Duration::from_secs(14 * 86400)
        );
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3y").unwrap_err().contains("unknown unit"));
        assert_eq!(format_duration(Duration::from_secs(365 * 86400)), "365d");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
    }

    fn acme_host(source: &str) -> Result<crate::config::Config, ConfigError> {
        let text = format!(
            "[dns.p]\ntype = \"rfc2136\"\ntsig_key_file = \"/k\"\n[[host]]\n\
             name = \"mx1.example.net\"\ndns = \"p\"\n[host.source]\n{source}"
        );
        crate::config::Config::parse(&text, std::path::Path::new("/etc/daneroll.toml"))
    }

    #[test]
    fn acme_sources_default_their_names_to_the_host() {
        let config = acme_host("type = \"certbot\"\n").unwrap();
        let source = config.hosts[0].source.clone().unwrap();
        assert_eq!(
            source.acme,
            Some(AcmeSource::Certbot {
                config_dir: "/etc/letsencrypt".into(),
                cert_name: "mx1.example.net".into(),
            })
        );
        assert_eq!(source.certificate_file, None);
        let config = acme_host("type = \"acme.sh\"\nhome = \"/h\"\necc = false\n").unwrap();
        assert_eq!(
            config.hosts[0].source.as_ref().unwrap().acme,
            Some(AcmeSource::AcmeSh {
                home: "/h".into(),
                domain: "mx1.example.net".into(),
                ecc: false,
            })
        );
    }

    #[test]
    fn bad_acme_sources_name_the_key() {
        let err = acme_host("type = \"caddy\"\n").unwrap_err().to_string();
        assert!(
            err.contains("host.source.type") && err.contains("caddy"),
            "{err}"
        );
        let err = acme_host("type = \"lego\"\n").unwrap_err().to_string();
        assert!(err.contains("path") && err.contains("email"), "{err}");
        let err = acme_host("certificate_file = \"/c\"\nrenew_command = [\"certbot\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("host.source.renew_command") && err.contains("type ="),
            "{err}"
        );
        let err = acme_host("type = \"certbot\"\nrenew_command = []\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("host.source.renew_command"), "{err}");
    }

    #[test]
    fn a_renew_command_replaces_the_stock_one() {
        let config = acme_host(
            "type = \"dehydrated\"\nrenew_command = [\"dehydrated\", \"--config\", \"/d/config\", \
             \"--cron\"]\n",
        )
        .unwrap();
        let source = config.hosts[0].source.as_ref().unwrap();
        assert_eq!(
            source.renew_command.as_deref(),
            Some(
                &[
                    "dehydrated".to_string(),
                    "--config".into(),
                    "/d/config".into(),
                    "--cron".into()
                ][..]
            )
        );
        assert_eq!(
            acme_host("type = \"certbot\"\n").unwrap().hosts[0]
                .source
                .as_ref()
                .unwrap()
                .renew_command,
            None
        );
    }
}
