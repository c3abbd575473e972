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
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    safety_factor: Option<Spanned<Number>>,
    poll_interval: Option<Spanned<String>>,
    recheck_interval: Option<Spanned<String>>,
    key_max_age: Option<Spanned<String>>,
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    certificate_file: Option<Spanned<PathBuf>>,
    key_file: Option<Spanned<PathBuf>>,
    command: Option<Spanned<Vec<String>>>,
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
        Ok(Some(Deploy { files, reload }))
    }

    pub(super) fn source(&self, raw: Option<RawSource>) -> Result<Option<CertSource>, ConfigError> {
        let Some(raw) = raw else { return Ok(None) };
        let command = match raw.command {
            Some(argv) => {
                must_be_absolute_argv(argv.get_ref())
                    .map_err(|e| self.error(Some(argv.span()), "host.source.command", e))?;
                Some(argv.into_inner())
            }
            None => None,
        };
        if raw.certificate_file.is_none() {
            return Err(self.error(
                raw.key_file.as_ref().map(Spanned::span),
                "host.source.certificate_file",
                "name the file where renewed certificates appear (the ACME client's fullchain, \
                 or where the command writes one)",
            ));
        }
        Ok(Some(CertSource {
            certificate_file: raw.certificate_file.map(Spanned::into_inner),
            key_file: raw.key_file.map(Spanned::into_inner),
            command,
        }))
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
}
