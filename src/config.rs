//! The configuration file: which DNS backend publishes each MX host's records, and how
//! DNSSEC is validated.
//!
//! TOML, read from `--config`, else `$DANEROLL_CONFIG`, else `/etc/daneroll/daneroll.toml`.
//! The file is parsed into raw structs that mirror it (unknown keys are errors, so a typo never
//! silently disables a setting) and then into validated settings; every error names the file,
//! the line and the key. Secrets do not live here (TSIG keys stay in their own files), and
//! values are never echoed in errors, in case one was pasted into the wrong key.
//!
//! Sections: `[dns.NAME]` named backends (`type = "rfc2136"` or a REST provider's type),
//! `[validation]` (trust anchor, resolver), `[policy]` (safety factor of RFC 7671 §8.1, poll
//! interval, key age; `[validation] safety_factor` is still read as the older spelling),
//! `state_dir`, `[[host]]` per MX host with `[host.deploy]` and `[host.source]` (see
//! `config_engine.rs`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

pub use crate::config_engine::{
    AcmeSource, CertSource, DEFAULT_LOCK_WAIT, DEFAULT_STATE_DIR, DEFAULT_TTL, Deploy, DeployFiles,
    format_duration, parse_duration,
};
use crate::config_engine::{RawDeploy, RawPolicy, RawSource};
use crate::pki::keygen::KeyType;
use crate::rollover::Policy;
use daneroll_providers::settings::{Fields, ProviderSettings, SettingsError};

/// Where the configuration is read from when neither `--config` nor the environment says.
pub const DEFAULT_PATH: &str = "/etc/daneroll/daneroll.toml";

/// The environment variable naming the configuration file.
pub const ENV_VAR: &str = "DANEROLL_CONFIG";

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it came from (or the default path, if none existed and none was required).
    pub path: PathBuf,
    /// Named DNS backends.
    pub dns: BTreeMap<String, DnsBackend>,
    /// DNSSEC validation settings.
    pub validation: Validation,
    /// The MX hosts.
    pub hosts: Vec<Host>,
    /// The rotation and timing policy (`[policy]`; one definition, the engine's).
    pub policy: Policy,
    /// Where states, history and generated keys live (`state_dir`).
    pub state_dir: PathBuf,
    /// `[policy] lock_wait`: how long `tick` and the hooks wait for a busy host (then exit 3).
    pub lock_wait: Duration,
    /// Where SMTP TLS reports are read from (`[reports]`).
    pub reports: Reports,
}

/// `[reports]`: the senders' TLS reports (RFC 8460) that `status`, `tick` and `reports` read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reports {
    /// A directory (or maildir, or mbox) holding the reports; `None`: not configured.
    pub dir: Option<PathBuf>,
    /// How long after a swap reported `tlsa-invalid`/`dnssec-invalid` failures raise an alert.
    pub alert_window: std::time::Duration,
}

impl Default for Reports {
    fn default() -> Self {
        Self {
            dir: None,
            alert_window: crate::reports::align::DEFAULT_ALERT_WINDOW,
        }
    }
}

/// A DNS backend that publishes TLSA records.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DnsBackend {
    /// RFC 2136 dynamic update with TSIG.
    Rfc2136 {
        /// Where updates go; `None`: the SOA MNAME's addresses.
        server: Option<SocketAddr>,
        /// The TSIG key file (BIND, Knot or name/algorithm/secret format).
        tsig_key_file: PathBuf,
    },
    /// A DNS provider's REST API (`type` one of [`ProviderSettings::TYPES`]).
    Rest(ProviderSettings),
}

/// How DNSSEC is validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validation {
    /// DS/DNSKEY lines to trust instead of the built-in root KSKs.
    pub trust_anchor_file: Option<PathBuf>,
    /// The validating resolver; `None`: the first `nameserver` in /etc/resolv.conf.
    pub resolver: Option<SocketAddr>,
}

/// One MX host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The MX target name, lower case, without the trailing dot.
    pub name: String,
    /// Other MX host names that present the same certificate (one key for the group): their
    /// TLSA records are published, observed and retired with this host's, and the live check
    /// probes them too. The host's state and keys live under `name`.
    pub other_names: Vec<String>,
    /// The TCP ports whose TLSA records daneroll manages (default: 25).
    pub ports: Vec<u16>,
    /// The `[dns.NAME]` backend that publishes its records.
    pub dns: String,
    /// Mail domains whose MX points here; their zones are checked by the preflight.
    pub mail_domains: Vec<String>,
    /// The kind of key generated for the host's next keys.
    pub key_type: KeyType,
    /// TTL of a TLSA RRset daneroll creates (an existing RRset keeps its own).
    pub ttl: u32,
    /// The MTA's files (needed by `tick` and `rollover`).
    pub deploy: Option<Deploy>,
    /// Where renewed certificates appear.
    pub source: Option<CertSource>,
    /// How the rollover confirms what the host presents before it retires the old record.
    pub live_check: LiveCheck,
}

impl Host {
    /// The host's name, then its other names: every name whose TLSA records it manages.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(self.other_names.iter().map(String::as_str))
    }
}

/// How a swap is confirmed before the old record is retired (RFC 7671 §8.1: remove obsolete
/// records only once the new chain is in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LiveCheck {
    /// Connect to every address of the host on every port (STARTTLS) and require the new key:
    /// what a sending MTA will see.
    #[default]
    Probe,
    /// Read the deployed files only: for an MTA daneroll cannot reach from where it runs.
    Files,
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source} (give another with --config or ${ENV_VAR})")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {}{message}", at(*line, key.as_deref()))]
    Invalid {
        path: PathBuf,
        line: Option<usize>,
        key: Option<String>,
        message: String,
    },
}

fn at(line: Option<usize>, key: Option<&str>) -> String {
    match (line, key) {
        (Some(line), Some(key)) => format!("line {line}, {key}: "),
        (Some(line), None) => format!("line {line}: "),
        (None, Some(key)) => format!("{key}: "),
        (None, None) => String::new(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    dns: BTreeMap<String, RawBackend>,
    #[serde(default)]
    validation: RawValidation,
    #[serde(default)]
    host: Vec<RawHost>,
    #[serde(default)]
    policy: RawPolicy,
    state_dir: Option<PathBuf>,
    #[serde(default)]
    reports: RawReports,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawReports {
    dir: Option<PathBuf>,
    alert_window: Option<Spanned<String>>,
}

/// One `[dns.NAME]` table. A flat struct rather than a tagged enum so that every key keeps
/// its line number; `type` picks which keys are required.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackend {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    server: Option<Spanned<String>>,
    tsig_key_file: Option<Spanned<PathBuf>>,
    api_url: Option<Spanned<String>>,
    server_id: Option<Spanned<String>>,
    token_file: Option<Spanned<PathBuf>>,
    token_env: Option<Spanned<String>>,
    zone: Option<Spanned<String>>,
}

/// The backend types this build knows: RFC 2136 and the REST providers.
fn backend_types() -> String {
    let mut types = vec!["rfc2136"];
    types.extend(ProviderSettings::TYPES);
    types.join(", ")
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawValidation {
    trust_anchor_file: Option<PathBuf>,
    resolver: Option<Spanned<String>>,
    safety_factor: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    name: Spanned<String>,
    #[serde(default)]
    other_names: Vec<Spanned<String>>,
    ports: Option<Spanned<Vec<u16>>>,
    dns: Spanned<String>,
    #[serde(default)]
    mail_domains: Vec<Spanned<String>>,
    key_type: Option<Spanned<String>>,
    ttl: Option<Spanned<u32>>,
    deploy: Option<RawDeploy>,
    source: Option<RawSource>,
    live_check: Option<Spanned<String>>,
}

impl Config {
    /// The path to read: `--config`, else `$DANEROLL_CONFIG`, else the default.
    pub fn locate(flag: Option<&Path>) -> (PathBuf, bool) {
        if let Some(path) = flag {
            return (path.to_path_buf(), true);
        }
        match std::env::var_os(ENV_VAR) {
            Some(path) if !path.is_empty() => (PathBuf::from(path), true),
            _ => (PathBuf::from(DEFAULT_PATH), false),
        }
    }

    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Like [`Config::load`], but a missing file that was not asked for explicitly yields the
    /// defaults (read-only commands work without a config file).
    pub fn load_or_default(path: &Path, explicit: bool) -> Result<Self, ConfigError> {
        if !explicit && !path.exists() {
            return Ok(Self {
                path: path.to_path_buf(),
                dns: BTreeMap::new(),
                validation: Validation::default(),
                hosts: Vec::new(),
                policy: Policy::default(),
                state_dir: PathBuf::from(DEFAULT_STATE_DIR),
                lock_wait: DEFAULT_LOCK_WAIT,
                reports: Reports::default(),
            });
        }
        Self::load(path)
    }

    /// Parses `text`; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|span| line_of(text, &span));
            let key = e.span().and_then(|span| key_at(text, &span));
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                key,
                message: redact(e.message()),
            }
        })?;
        Validator { text, path }.config(raw)
    }

    /// The host entry for `name` (case and trailing dot ignored).
    pub fn host(&self, name: &str) -> Option<&Host> {
        let wanted = normalize_host(name);
        self.hosts.iter().find(|h| h.name == wanted)
    }
}

/// A host name as daneroll stores it: lower case, no trailing dot.
/// A host or domain name as daneroll compares and stores it: no trailing dot, lower case, and
/// a Unicode name (U-labels) in its A-label (`xn--`) form, mapped as UTS #46 / IDNA2008 says
/// (RFC 5890 §2.3.2.1); a name that does not convert is left for the caller's check to refuse.
pub fn normalize_host(name: &str) -> String {
    let name = name.trim().trim_end_matches('.');
    if !name.is_ascii()
        && let Ok(ascii) = idna::domain_to_ascii(name)
    {
        return ascii;
    }
    name.to_ascii_lowercase()
}

fn line_of(text: &str, span: &Range<usize>) -> usize {
    let end = span.start.min(text.len());
    text[..end].matches('\n').count() + 1
}

/// The key on the line an error points at (`ports` in `ports = "x"`), or the table header.
fn key_at(text: &str, span: &Range<usize>) -> Option<String> {
    let line = text.lines().nth(line_of(text, span) - 1)?;
    let line = line.split('#').next().unwrap_or("").trim();
    let key = match line.split_once('=') {
        Some((key, _)) => key.trim(),
        None if line.starts_with('[') => line,
        None => return None,
    };
    (!key.is_empty()).then(|| key.to_string())
}

/// Removes quoted values from a parser message ("invalid type: string \"…\", expected u16").
fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find('"') {
        out.push_str(&rest[..start]);
        match rest[start + 1..].find('"') {
            Some(end) => {
                out.push_str("(value hidden)");
                rest = &rest[start + 1 + end + 1..];
            }
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

/// An address with an optional port: `192.0.2.53`, `192.0.2.53:5353`, `::1`, `[::1]:53`.
pub fn parse_server(text: &str) -> Option<SocketAddr> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, 53))
}

pub(crate) struct Validator<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Validator<'_> {
    pub(crate) fn error(
        &self,
        span: Option<Range<usize>>,
        key: &str,
        message: impl fmt::Display,
    ) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line: span.map(|s| line_of(self.text, &s)),
            key: Some(key.to_string()),
            message: message.to_string(),
        }
    }

    fn config(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let mut dns = BTreeMap::new();
        for (name, backend) in raw.dns {
            let parsed = self.backend(&name, backend)?;
            dns.insert(name, parsed);
        }
        let (validation, legacy_factor) = self.validation(raw.validation)?;
        let mut raw_policy = raw.policy;
        let lock_wait = self.lock_wait(&mut raw_policy)?;
        let policy = self.policy(raw_policy, legacy_factor)?;
        let mut hosts: Vec<Host> = Vec::new();
        for host in raw.host {
            let name = normalize_host(host.name.get_ref());
            let name_ok = hickory_proto::rr::Name::from_ascii(&name).is_ok()
                && name.contains('.')
                && !name.is_empty();
            if !name_ok {
                return Err(self.error(Some(host.name.span()), "host.name", "not a domain name"));
            }
            if hosts.iter().any(|h| h.names().any(|n| n == name)) {
                return Err(self.error(
                    Some(host.name.span()),
                    "host.name",
                    format!("{name} is configured twice"),
                ));
            }
            if !dns.contains_key(host.dns.get_ref()) {
                let known: Vec<&str> = dns.keys().map(String::as_str).collect();
                return Err(self.error(
                    Some(host.dns.span()),
                    "host.dns",
                    format!(
                        "no [dns.{}] section (defined: {})",
                        host.dns.get_ref(),
                        if known.is_empty() {
                            "none".into()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            }
            let mut other_names: Vec<String> = Vec::new();
            for other in &host.other_names {
                let normalized = normalize_host(other.get_ref());
                let problem = if hickory_proto::rr::Name::from_ascii(&normalized).is_err()
                    || !normalized.contains('.')
                {
                    Some("not a domain name".to_string())
                } else if normalized == name || other_names.contains(&normalized) {
                    Some(format!("{normalized} is listed twice"))
                } else if hosts.iter().any(|h| h.names().any(|n| n == normalized)) {
                    Some(format!("{normalized} already belongs to another [[host]]"))
                } else {
                    None
                };
                if let Some(problem) = problem {
                    return Err(self.error(Some(other.span()), "host.other_names", problem));
                }
                other_names.push(normalized);
            }
            let ports = match host.ports {
                None => vec![25],
                Some(ports) => {
                    let span = ports.span();
                    let list = ports.into_inner();
                    if list.is_empty() || list.contains(&0) {
                        return Err(self.error(
                            Some(span),
                            "host.ports",
                            "list one or more TCP ports between 1 and 65535",
                        ));
                    }
                    list
                }
            };
            let mut mail_domains = Vec::new();
            for domain in host.mail_domains {
                let normalized = normalize_host(domain.get_ref());
                if hickory_proto::rr::Name::from_ascii(&normalized).is_err()
                    || normalized.is_empty()
                {
                    return Err(self.error(
                        Some(domain.span()),
                        "host.mail_domains",
                        "not a domain name",
                    ));
                }
                mail_domains.push(normalized);
            }
            let ttl = match host.ttl {
                Some(ttl) if *ttl.get_ref() == 0 => {
                    return Err(self.error(
                        Some(ttl.span()),
                        "host.ttl",
                        "must be at least 1 second",
                    ));
                }
                Some(ttl) => ttl.into_inner(),
                None => DEFAULT_TTL,
            };
            let source = self.source(host.source, &name)?;
            let live_check = match host.live_check {
                None => LiveCheck::Probe,
                Some(text) => match text.get_ref().as_str() {
                    "probe" => LiveCheck::Probe,
                    "files" => LiveCheck::Files,
                    _ => {
                        return Err(self.error(
                            Some(text.span()),
                            "host.live_check",
                            "must be \"probe\" (STARTTLS to every address) or \"files\"",
                        ));
                    }
                },
            };
            hosts.push(Host {
                name,
                other_names,
                ports,
                dns: host.dns.into_inner(),
                mail_domains,
                key_type: self.key_type(host.key_type)?,
                ttl,
                deploy: self.deploy(host.deploy)?,
                source,
                live_check,
            });
        }
        let mut reports = Reports {
            dir: raw.reports.dir,
            ..Reports::default()
        };
        if let Some(text) = raw.reports.alert_window {
            reports.alert_window = parse_duration(text.get_ref())
                .map_err(|e| self.error(Some(text.span()), "reports.alert_window", e))?;
        }
        Ok(Config {
            reports,
            path: self.path.to_path_buf(),
            dns,
            validation,
            hosts,
            policy,
            state_dir: raw
                .state_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
            lock_wait,
        })
    }

    fn backend(&self, name: &str, raw: RawBackend) -> Result<DnsBackend, ConfigError> {
        let key = |field: &str| format!("dns.{name}.{field}");
        let kind = raw.kind.get_ref().clone();
        if kind == "rfc2136" {
            let rest_keys = [
                ("api_url", raw.api_url.as_ref().map(Spanned::span)),
                ("server_id", raw.server_id.as_ref().map(Spanned::span)),
                ("token_file", raw.token_file.as_ref().map(Spanned::span)),
                ("token_env", raw.token_env.as_ref().map(Spanned::span)),
                ("zone", raw.zone.as_ref().map(Spanned::span)),
            ];
            if let Some((field, span)) = rest_keys.into_iter().find(|(_, s)| s.is_some()) {
                return Err(self.error(
                    span,
                    &key(field),
                    "does not apply to type \"rfc2136\" (it takes server and tsig_key_file)",
                ));
            }
        } else if ProviderSettings::TYPES.contains(&kind.as_str()) {
            return self.rest_backend(name, raw);
        }
        match kind.as_str() {
            "rfc2136" => {
                let server = match raw.server {
                    Some(server) => Some(parse_server(server.get_ref()).ok_or_else(|| {
                        self.error(
                            Some(server.span()),
                            &key("server"),
                            "not an IP address with an optional port (e.g. \"192.0.2.53:53\")",
                        )
                    })?),
                    None => None,
                };
                let tsig_key_file = raw.tsig_key_file.ok_or_else(|| {
                    self.error(
                        Some(raw.kind.span()),
                        &key("tsig_key_file"),
                        "type \"rfc2136\" needs tsig_key_file (a key made by tsig-keygen)",
                    )
                })?;
                Ok(DnsBackend::Rfc2136 {
                    server,
                    tsig_key_file: tsig_key_file.into_inner(),
                })
            }
            other => Err(self.error(
                Some(raw.kind.span()),
                &key("type"),
                format!("unknown backend type {other:?}; known: {}", backend_types()),
            )),
        }
    }

    /// A REST provider section: keys checked by the providers crate for the type; errors
    /// point at the key they name (never at a value: values are not echoed).
    fn rest_backend(&self, name: &str, raw: RawBackend) -> Result<DnsBackend, ConfigError> {
        let key = |field: &str| format!("dns.{name}.{field}");
        for (field, span) in [
            ("server", raw.server.as_ref().map(Spanned::span)),
            (
                "tsig_key_file",
                raw.tsig_key_file.as_ref().map(Spanned::span),
            ),
        ] {
            if span.is_some() {
                return Err(self.error(
                    span,
                    &key(field),
                    format!(
                        "does not apply to type {:?} (RFC 2136 only)",
                        raw.kind.get_ref()
                    ),
                ));
            }
        }
        let spans = [
            ("api_url", raw.api_url.as_ref().map(Spanned::span)),
            ("server_id", raw.server_id.as_ref().map(Spanned::span)),
            ("token_file", raw.token_file.as_ref().map(Spanned::span)),
            ("token_env", raw.token_env.as_ref().map(Spanned::span)),
            ("zone", raw.zone.as_ref().map(Spanned::span)),
        ];
        let fields = Fields {
            api_url: raw.api_url.map(Spanned::into_inner),
            server_id: raw.server_id.map(Spanned::into_inner),
            token_file: raw.token_file.map(Spanned::into_inner),
            token_env: raw.token_env.map(Spanned::into_inner),
            zone: raw.zone.map(Spanned::into_inner),
        };
        ProviderSettings::from_fields(name, raw.kind.get_ref(), fields)
            .map(DnsBackend::Rest)
            .map_err(|error| {
                let named = match &error {
                    SettingsError::NotApplicable { key, .. } => Some(*key),
                    SettingsError::BadUrl { .. } => Some("api_url"),
                    SettingsError::Credential { .. } => Some("token_file"),
                    _ => None,
                };
                let span = named
                    .and_then(|field| spans.iter().find(|(f, _)| *f == field))
                    .and_then(|(_, span)| span.clone())
                    .or_else(|| Some(raw.kind.span()));
                let field = named.unwrap_or("type");
                self.error(span, &key(field), error)
            })
    }

    fn validation(
        &self,
        raw: RawValidation,
    ) -> Result<(Validation, Option<Spanned<u32>>), ConfigError> {
        let resolver = match raw.resolver {
            Some(text) => Some(parse_server(text.get_ref()).ok_or_else(|| {
                self.error(
                    Some(text.span()),
                    "validation.resolver",
                    "not an IP address with an optional port (e.g. \"127.0.0.1:53\")",
                )
            })?),
            None => None,
        };
        Ok((
            Validation {
                trust_anchor_file: raw.trust_anchor_file,
                resolver,
            },
            raw.safety_factor,
        ))
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
