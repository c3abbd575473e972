//! The REST backends as daneroll's configuration describes them, and the one constructor the
//! rest of daneroll calls.
//!
//! ```toml
//! [dns.hosted]
//! type = "desec"     # one of `ProviderSettings::TYPES`
//! token_file = "/etc/daneroll/desec.token"   # or: token_env = "DESEC_TOKEN"
//! # zone = "example.com"            # optional: otherwise found in the account's zone list
//! # api_url = "https://desec.io/api/v1"      # optional for hosted providers
//!
//! [dns.inhouse]
//! type = "powerdns"
//! api_url = "http://192.0.2.10:8081"         # required: /api/v1 is added when there is no path
//! token_env = "PDNS_API_KEY"
//! # server_id = "localhost"
//!
//! [dns.office]
//! type = "technitium"
//! api_url = "http://192.0.2.53:5380"         # required: /api is added when there is no path
//! token_file = "/etc/daneroll/technitium.token"
//!
//! [dns.ovh]
//! type = "ovh"                      # token: APPLICATION_KEY:APPLICATION_SECRET:CONSUMER_KEY
//! token_file = "/etc/daneroll/ovh.credential"
//! # api_url = "https://ca.api.ovh.com/1.0"   # default: OVH Europe
//!
//! [dns.aws]                         # cloud: the file holds what the cloud issues
//! type = "route53"                  # ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]
//! token_file = "/etc/daneroll/route53.credential"
//! # type = "google"                 # the service account's JSON key file
//! # type = "azure"                  # the JSON of `az ad sp create-for-rbac --sdk-auth`
//! ```
//!
//! Exactly one of `token_file` / `token_env` names where the token is: never the token itself
//! (see [`crate::credential`]). Unknown keys are refused, so a typo (`token-file`) is an error
//! that names it rather than a silently missing setting.

use std::path::PathBuf;

use serde::Deserialize;

use crate::DnsBackend;
use crate::credential::{CredentialError, TokenSource};
use crate::http::{ApiConfig, ApiError, RetryPolicy};
use crate::powerdns::{PowerDns, PowerDnsConfig};
use crate::{cloudflare, desec, gandi, hetzner, ovh, technitium};
// Hosts of issue #16 (European and registrar DNS).
use crate::{cloudns, dnsimple, infomaniak, inwx, netcup, porkbun};
// Cloud providers.
use crate::{azure, google, route53};

/// One `[dns.NAME]` section of a REST provider, selected by its `type`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ProviderSettings {
    Powerdns(PowerDnsSettings),
    Technitium(SelfHostedSettings),
    Cloudflare(HostedSettings),
    Desec(HostedSettings),
    Hetzner(HostedSettings),
    Gandi(HostedSettings),
    Ovh(HostedSettings),
    // Hosts of issue #16 (European and registrar DNS).
    Cloudns(HostedSettings),
    Dnsimple(HostedSettings),
    Infomaniak(HostedSettings),
    Inwx(HostedSettings),
    Netcup(HostedSettings),
    Porkbun(HostedSettings),
    // Cloud providers.
    Route53(HostedSettings),
    Google(HostedSettings),
    Azure(HostedSettings),
}

/// A hosted provider's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostedSettings {
    /// Overrides the provider's public API URL (tests, proxies, regional endpoints).
    pub api_url: Option<String>,
    pub token_file: Option<PathBuf>,
    pub token_env: Option<String>,
    /// The zone; found from the owner name in the account's zone list when absent.
    pub zone: Option<String>,
}

/// A self-hosted server's settings (Technitium): the API URL is required.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfHostedSettings {
    pub api_url: String,
    pub token_file: Option<PathBuf>,
    pub token_env: Option<String>,
    pub zone: Option<String>,
}

/// A PowerDNS server's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerDnsSettings {
    /// The server's API URL; there is no default, PowerDNS is self-hosted.
    pub api_url: String,
    #[serde(default = "default_server_id")]
    pub server_id: String,
    pub token_file: Option<PathBuf>,
    pub token_env: Option<String>,
    pub zone: Option<String>,
}

fn default_server_id() -> String {
    "localhost".to_string()
}

/// The keys of a `[dns.NAME]` section as a flat config parser reads them (one struct for every
/// backend type, so each key keeps its line number); [`ProviderSettings::from_fields`] checks
/// them for the section's `type`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    pub api_url: Option<String>,
    pub server_id: Option<String>,
    pub token_file: Option<PathBuf>,
    pub token_env: Option<String>,
    pub zone: Option<String>,
}

/// Why a provider section cannot be used. Names the section and the setting.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    #[error("[dns.{section}]: {source}")]
    Credential {
        section: String,
        source: CredentialError,
    },

    #[error("[dns.{section}]: api_url {url:?} is not usable: {reason}")]
    BadUrl {
        section: String,
        url: String,
        reason: String,
    },

    #[error("[dns.{section}]: unknown type {kind:?}; REST providers: {known}", known = ProviderSettings::TYPES.join(", "))]
    UnknownType { section: String, kind: String },

    #[error("[dns.{section}]: type {kind:?} needs `{key}` ({why})")]
    Missing {
        section: String,
        kind: String,
        key: &'static str,
        why: &'static str,
    },

    #[error("[dns.{section}]: `{key}` does not apply to type {kind:?}")]
    NotApplicable {
        section: String,
        kind: String,
        key: &'static str,
    },

    #[error("[dns.{section}]: {source}")]
    Client {
        section: String,
        source: Box<ApiError>,
    },
}

impl ProviderSettings {
    /// The `type` values this crate handles.
    pub const TYPES: [&'static str; 16] = [
        "powerdns",
        "technitium",
        "cloudflare",
        "desec",
        "hetzner",
        "gandi",
        "ovh",
        // Hosts of issue #16 (European and registrar DNS).
        "cloudns",
        "dnsimple",
        "infomaniak",
        "inwx",
        "netcup",
        "porkbun",
        // Cloud providers.
        "route53",
        "google",
        "azure",
    ];

    /// The settings of section `[dns.SECTION]` with `type = KIND` from its keys: checks that the
    /// keys fit the type, that exactly one token source is named and that the URL is usable.
    pub fn from_fields(section: &str, kind: &str, fields: Fields) -> Result<Self, SettingsError> {
        let Fields {
            api_url,
            server_id,
            token_file,
            token_env,
            zone,
        } = fields;
        let settings = match kind {
            "powerdns" => Self::Powerdns(PowerDnsSettings {
                api_url: api_url.ok_or_else(|| SettingsError::Missing {
                    section: section.to_string(),
                    kind: kind.to_string(),
                    key: "api_url",
                    why: "the URL of the PowerDNS server's API, e.g. http://127.0.0.1:8081",
                })?,
                server_id: server_id.unwrap_or_else(default_server_id),
                token_file,
                token_env,
                zone,
            }),
            "technitium" => {
                if server_id.is_some() {
                    return Err(SettingsError::NotApplicable {
                        section: section.to_string(),
                        kind: kind.to_string(),
                        key: "server_id",
                    });
                }
                Self::Technitium(SelfHostedSettings {
                    api_url: api_url.ok_or_else(|| SettingsError::Missing {
                        section: section.to_string(),
                        kind: kind.to_string(),
                        key: "api_url",
                        why: "the URL of the Technitium server's web service, e.g. \
                              http://127.0.0.1:5380",
                    })?,
                    token_file,
                    token_env,
                    zone,
                })
            }
            "cloudflare" | "desec" | "hetzner" | "gandi" | "ovh"
            // Hosts of issue #16 (European and registrar DNS).
            | "cloudns" | "dnsimple" | "infomaniak" | "inwx" | "netcup" | "porkbun"
            // Cloud providers.
            | "route53" | "google" | "azure" => {
                if server_id.is_some() {
                    return Err(SettingsError::NotApplicable {
                        section: section.to_string(),
                        kind: kind.to_string(),
                        key: "server_id",
                    });
                }
                let hosted = HostedSettings {
                    api_url,
                    token_file,
                    token_env,
                    zone,
                };
                match kind {
                    "cloudflare" => Self::Cloudflare(hosted),
                    "desec" => Self::Desec(hosted),
                    "hetzner" => Self::Hetzner(hosted),
                    "ovh" => Self::Ovh(hosted),
                    // Hosts of issue #16 (European and registrar DNS).
                    "cloudns" => Self::Cloudns(hosted),
                    "dnsimple" => Self::Dnsimple(hosted),
                    "infomaniak" => Self::Infomaniak(hosted),
                    "inwx" => Self::Inwx(hosted),
                    "netcup" => Self::Netcup(hosted),
                    "porkbun" => Self::Porkbun(hosted),
                    "route53" => Self::Route53(hosted),
                    "google" => Self::Google(hosted),
                    "azure" => Self::Azure(hosted),
                    _ => Self::Gandi(hosted),
                }
            }
            _ => {
                return Err(SettingsError::UnknownType {
                    section: section.to_string(),
                    kind: kind.to_string(),
                });
            }
        };
        settings.token_source(section)?;
        settings.checked_url(section)?;
        Ok(settings)
    }

    /// The section's `type`, as the configuration spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Powerdns(_) => "powerdns",
            Self::Technitium(_) => "technitium",
            Self::Cloudflare(_) => "cloudflare",
            Self::Desec(_) => "desec",
            Self::Hetzner(_) => "hetzner",
            Self::Gandi(_) => "gandi",
            Self::Ovh(_) => "ovh",
            // Hosts of issue #16 (European and registrar DNS).
            Self::Cloudns(_) => "cloudns",
            Self::Dnsimple(_) => "dnsimple",
            Self::Infomaniak(_) => "infomaniak",
            Self::Inwx(_) => "inwx",
            Self::Netcup(_) => "netcup",
            Self::Porkbun(_) => "porkbun",
            Self::Route53(_) => "route53",
            Self::Google(_) => "google",
            Self::Azure(_) => "azure",
        }
    }

    /// The provider's name as messages show it.
    pub fn provider(&self) -> &'static str {
        match self {
            Self::Powerdns(_) => "PowerDNS",
            Self::Technitium(_) => "Technitium",
            Self::Cloudflare(_) => "Cloudflare",
            Self::Desec(_) => "deSEC",
            Self::Hetzner(_) => "Hetzner",
            Self::Gandi(_) => "Gandi LiveDNS",
            Self::Ovh(_) => "OVH",
            // Hosts of issue #16 (European and registrar DNS).
            Self::Cloudns(_) => "ClouDNS",
            Self::Dnsimple(_) => "DNSimple",
            Self::Infomaniak(_) => "Infomaniak",
            Self::Inwx(_) => "INWX",
            Self::Netcup(_) => "netcup",
            Self::Porkbun(_) => "Porkbun",
            Self::Route53(_) => "Route 53",
            Self::Google(_) => "Google Cloud DNS",
            Self::Azure(_) => "Azure DNS",
        }
    }

    /// The API URL requests go to (the override or the provider's public one).
    pub fn api_url(&self) -> &str {
        match self {
            Self::Powerdns(s) => &s.api_url,
            Self::Technitium(s) => &s.api_url,
            Self::Cloudflare(s) => s.api_url.as_deref().unwrap_or(cloudflare::DEFAULT_API_URL),
            Self::Desec(s) => s.api_url.as_deref().unwrap_or(desec::DEFAULT_API_URL),
            Self::Hetzner(s) => s.api_url.as_deref().unwrap_or(hetzner::DEFAULT_API_URL),
            Self::Gandi(s) => s.api_url.as_deref().unwrap_or(gandi::DEFAULT_API_URL),
            Self::Ovh(s) => s.api_url.as_deref().unwrap_or(ovh::DEFAULT_API_URL),
            // Hosts of issue #16 (European and registrar DNS).
            Self::Cloudns(s) => s.api_url.as_deref().unwrap_or(cloudns::DEFAULT_API_URL),
            Self::Dnsimple(s) => s.api_url.as_deref().unwrap_or(dnsimple::DEFAULT_API_URL),
            Self::Infomaniak(s) => s.api_url.as_deref().unwrap_or(infomaniak::DEFAULT_API_URL),
            Self::Inwx(s) => s.api_url.as_deref().unwrap_or(inwx::DEFAULT_API_URL),
            Self::Netcup(s) => s.api_url.as_deref().unwrap_or(netcup::DEFAULT_API_URL),
            Self::Porkbun(s) => s.api_url.as_deref().unwrap_or(porkbun::DEFAULT_API_URL),
            Self::Route53(s) => s.api_url.as_deref().unwrap_or(route53::DEFAULT_API_URL),
            Self::Google(s) => s.api_url.as_deref().unwrap_or(google::DEFAULT_API_URL),
            Self::Azure(s) => s.api_url.as_deref().unwrap_or(azure::DEFAULT_API_URL),
        }
    }

    /// How the provider signs zones (see [`crate::DnssecSupport`]).
    pub fn dnssec(&self) -> crate::DnssecSupport {
        match self {
            Self::Powerdns(_) => crate::powerdns::DNSSEC,
            Self::Technitium(_) => technitium::DNSSEC,
            Self::Cloudflare(_) => cloudflare::DNSSEC,
            Self::Desec(_) => desec::DNSSEC,
            Self::Hetzner(_) => hetzner::DNSSEC,
            Self::Gandi(_) => gandi::DNSSEC,
            Self::Ovh(_) => ovh::DNSSEC,
            Self::Cloudns(_) => cloudns::DNSSEC,
            Self::Dnsimple(_) => dnsimple::DNSSEC,
            Self::Infomaniak(_) => infomaniak::DNSSEC,
            Self::Inwx(_) => inwx::DNSSEC,
            Self::Netcup(_) => netcup::DNSSEC,
            Self::Porkbun(_) => porkbun::DNSSEC,
            Self::Route53(_) => crate::route53::DNSSEC,
            Self::Google(_) => google::DNSSEC,
            Self::Azure(_) => azure::DNSSEC,
            // A backend added without its module's `DNSSEC` here: the generic advice.
            #[allow(unreachable_patterns)]
            _ => crate::DnssecSupport::PRIMARY,
        }
    }

    /// Where the token comes from.
    pub fn token_source(&self, section: &str) -> Result<TokenSource, SettingsError> {
        let (file, env) = match self {
            Self::Powerdns(s) => (&s.token_file, &s.token_env),
            Self::Technitium(s) => (&s.token_file, &s.token_env),
            Self::Cloudflare(s)
            | Self::Desec(s)
            | Self::Hetzner(s)
            | Self::Gandi(s)
            | Self::Ovh(s)
            | Self::Cloudns(s)
            | Self::Dnsimple(s)
            | Self::Infomaniak(s)
            | Self::Inwx(s)
            | Self::Netcup(s)
            | Self::Porkbun(s)
            | Self::Route53(s)
            | Self::Google(s)
            | Self::Azure(s) => (&s.token_file, &s.token_env),
        };
        TokenSource::from_fields(section, file.clone(), env.clone()).map_err(|source| {
            SettingsError::Credential {
                section: section.to_string(),
                source,
            }
        })
    }

    fn zone(&self) -> Option<String> {
        match self {
            Self::Powerdns(s) => s.zone.clone(),
            Self::Technitium(s) => s.zone.clone(),
            Self::Cloudflare(s)
            | Self::Desec(s)
            | Self::Hetzner(s)
            | Self::Gandi(s)
            | Self::Ovh(s)
            | Self::Cloudns(s)
            | Self::Dnsimple(s)
            | Self::Infomaniak(s)
            | Self::Inwx(s)
            | Self::Netcup(s)
            | Self::Porkbun(s)
            | Self::Route53(s)
            | Self::Google(s)
            | Self::Azure(s) => s.zone.clone(),
        }
    }

    /// What `daneroll config check` reports for section `[dns.SECTION]`: an error if the
    /// backend cannot be built (URL, token source, token unreadable), otherwise warnings (token
    /// file readable by others, token sent without TLS to another host).
    pub fn check(&self, section: &str) -> Result<Vec<String>, SettingsError> {
        let mut warnings = Vec::new();
        let url = self.checked_url(section)?;
        let source = self.token_source(section)?;
        let loaded = match self {
            // Documents, not tokens: line breaks inside are theirs.
            Self::Google(_) | Self::Azure(_) => source.load_document(),
            _ => source.load(),
        };
        let secret = loaded.map_err(|source| SettingsError::Credential {
            section: section.to_string(),
            source,
        })?;
        if matches!(self, Self::Azure(_)) && !azure::check_credential(&secret) {
            return Err(SettingsError::Credential {
                section: section.to_string(),
                source: CredentialError::BadFormat {
                    source_name: source.to_string(),
                    expected: azure::CREDENTIAL_FORMAT,
                },
            });
        }
        if matches!(self, Self::Google(_)) && !google::check_key(&secret) {
            return Err(SettingsError::Credential {
                section: section.to_string(),
                source: CredentialError::BadFormat {
                    source_name: source.to_string(),
                    expected: google::KEY_FORMAT,
                },
            });
        }
        if matches!(self, Self::Ovh(_)) && secret.split(3).is_none() {
            return Err(SettingsError::Credential {
                section: section.to_string(),
                source: CredentialError::BadFormat {
                    source_name: source.to_string(),
                    expected: "APPLICATION_KEY:APPLICATION_SECRET:CONSUMER_KEY",
                },
            });
        }
        if let Some(expected) = self.credential_problem(&secret) {
            return Err(SettingsError::Credential {
                section: section.to_string(),
                source: CredentialError::BadFormat {
                    source_name: source.to_string(),
                    expected,
                },
            });
        }
        let dnssec = self.dnssec();
        if !dnssec.signs {
            warnings.push(format!(
                "[dns.{section}]: DANE cannot work with zones at {}: {}",
                self.provider(),
                dnssec.how
            ));
        }
        if let Some(warning) = source.permission_warning() {
            warnings.push(format!("[dns.{section}]: {warning}"));
        }
        let host = url.host_str().unwrap_or_default();
        let loopback = host == "localhost"
            || host
                .trim_matches(|c| c == '[' || c == ']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if url.scheme() == "http" && !loopback {
            warnings.push(format!(
                "[dns.{section}]: api_url {} is plain HTTP: the {} token crosses the network \
                 unencrypted; use https or a tunnel",
                self.api_url(),
                self.provider()
            ));
        }
        Ok(warnings)
    }

    /// For a credential made of several values joined by colons that lacks some: its form.
    fn credential_problem(&self, secret: &crate::credential::Secret) -> Option<&'static str> {
        match self {
            Self::Porkbun(_) if secret.split(2).is_none() => Some("APIKEY:SECRETAPIKEY"),
            Self::Netcup(_) if secret.split(3).is_none() => Some(netcup::CREDENTIAL_FORM),
            Self::Inwx(_) if inwx::parse_credential(secret).is_none() => {
                Some(inwx::CREDENTIAL_FORM)
            }
            Self::Route53(_) if secret.split(2).or_else(|| secret.split(3)).is_none() => {
                Some("ACCESS_KEY_ID:SECRET_ACCESS_KEY (or with :SESSION_TOKEN)")
            }
            Self::Cloudns(_) if cloudns::parse_credential(secret).is_none() => {
                Some(cloudns::CREDENTIAL_FORM)
            }
            _ => None,
        }
    }

    fn checked_url(&self, section: &str) -> Result<reqwest::Url, SettingsError> {
        let url = self.api_url();
        let bad = |reason: &str| SettingsError::BadUrl {
            section: section.to_string(),
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad("the scheme must be https (or http)"));
        }
        if parsed.host().is_none() {
            return Err(bad("there is no host"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(bad(
                "credentials do not belong in the URL; use token_file or token_env",
            ));
        }
        Ok(parsed)
    }
}

/// The backend `[dns.SECTION]` describes, with the default retry policy; reads the token now.
pub fn build_backend(
    section: &str,
    settings: &ProviderSettings,
) -> Result<Box<dyn DnsBackend>, SettingsError> {
    build_backend_with(section, settings, RetryPolicy::default())
}

/// [`build_backend`] with another retry policy (tests use short waits).
pub fn build_backend_with(
    section: &str,
    settings: &ProviderSettings,
    retry: RetryPolicy,
) -> Result<Box<dyn DnsBackend>, SettingsError> {
    settings.checked_url(section)?;
    let client = |source: ApiError| match source {
        ApiError::Credential { source, .. } => SettingsError::Credential {
            section: section.to_string(),
            source,
        },
        source => SettingsError::Client {
            section: section.to_string(),
            source: Box::new(source),
        },
    };
    let config = ApiConfig {
        api_url: settings.api_url().to_string(),
        token: settings.token_source(section)?,
        zone: settings.zone(),
        retry,
    };
    Ok(match settings {
        ProviderSettings::Powerdns(s) => Box::new(
            PowerDns::new(PowerDnsConfig {
                api_url: config.api_url,
                server_id: s.server_id.clone(),
                token: config.token,
                zone: config.zone,
                retry: config.retry,
            })
            .map_err(client)?,
        ),
        ProviderSettings::Cloudflare(_) => {
            Box::new(cloudflare::Cloudflare::new(config).map_err(client)?)
        }
        ProviderSettings::Desec(_) => Box::new(desec::Desec::new(config).map_err(client)?),
        ProviderSettings::Hetzner(_) => Box::new(hetzner::Hetzner::new(config).map_err(client)?),
        ProviderSettings::Gandi(_) => Box::new(gandi::Gandi::new(config).map_err(client)?),
        ProviderSettings::Technitium(_) => {
            Box::new(technitium::Technitium::new(config).map_err(client)?)
        }
        ProviderSettings::Ovh(_) => Box::new(ovh::Ovh::new(config).map_err(client)?),
        // Hosts of issue #16 (European and registrar DNS).
        ProviderSettings::Dnsimple(_) => Box::new(dnsimple::Dnsimple::new(config).map_err(client)?),
        ProviderSettings::Cloudns(_) => Box::new(cloudns::Cloudns::new(config).map_err(client)?),
        ProviderSettings::Infomaniak(_) => {
            Box::new(infomaniak::Infomaniak::new(config).map_err(client)?)
        }
        ProviderSettings::Inwx(_) => Box::new(inwx::Inwx::new(config).map_err(client)?),
        ProviderSettings::Netcup(_) => Box::new(netcup::Netcup::new(config).map_err(client)?),
        ProviderSettings::Porkbun(_) => Box::new(porkbun::Porkbun::new(config).map_err(client)?),
        // Cloud providers.
        ProviderSettings::Route53(_) => Box::new(route53::Route53::new(config).map_err(client)?),
        ProviderSettings::Google(_) => Box::new(google::GoogleDns::new(config).map_err(client)?),
        ProviderSettings::Azure(_) => Box::new(azure::AzureDns::new(config).map_err(client)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ProviderSettings, String> {
        serde_json::from_value(toml_like(text)).map_err(|e| e.to_string())
    }

    /// `key = "value"` lines as a JSON object (the crate has no TOML parser; the daneroll crate
    /// deserializes the same struct from TOML).
    fn toml_like(text: &str) -> serde_json::Value {
        let map = text
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| {
                let v = v.trim().trim_matches('"').to_string();
                (k.trim().to_string(), serde_json::Value::String(v))
            })
            .collect();
        serde_json::Value::Object(map)
    }

    #[test]
    fn sections_parse_by_type() {
        let s = parse("type = \"desec\"\ntoken_env = \"DESEC_TOKEN\"").unwrap();
        assert_eq!(s.provider(), "deSEC");
        assert_eq!(s.api_url(), desec::DEFAULT_API_URL);
        let p =
            parse("type = \"powerdns\"\napi_url = \"http://127.0.0.1:8081\"\ntoken_env = \"K\"")
                .unwrap();
        let ProviderSettings::Powerdns(p) = p else {
            panic!("not powerdns")
        };
        assert_eq!(p.server_id, "localhost");
        for kind in ProviderSettings::TYPES {
            let text = format!("type = \"{kind}\"\napi_url = \"https://x\"\ntoken_env = \"K\"");
            assert!(parse(&text).is_ok(), "{kind}");
        }
    }

    #[test]
    fn typos_and_unknown_types_are_named() {
        let err = parse("type = \"desec\"\ntoken-file = \"/x\"").unwrap_err();
        assert!(err.contains("token-file"), "{err}");
        let err = parse("type = \"route54\"").unwrap_err();
        assert!(err.contains("route54"), "{err}");
        let err = parse("type = \"powerdns\"\ntoken_env = \"K\"").unwrap_err();
        assert!(err.contains("api_url"), "{err}");
    }

    #[test]
    fn check_explains_missing_credentials_and_bad_urls() {
        let s = parse("type = \"gandi\"").unwrap();
        let err = s.check("gandi").unwrap_err().to_string();
        assert!(
            err.contains("[dns.gandi]") && err.contains("token_file"),
            "{err}"
        );

        let s = parse("type = \"hetzner\"\ntoken_env = \"DANEROLL_TEST_UNSET_7C1\"").unwrap();
        let err = s.check("h").unwrap_err().to_string();
        assert!(
            err.contains("DANEROLL_TEST_UNSET_7C1") && err.contains("not set"),
            "{err}"
        );

        let s = parse("type = \"desec\"\napi_url = \"ftp://x\"\ntoken_env = \"K\"").unwrap();
        let err = s.check("d").unwrap_err().to_string();
        assert!(err.contains("ftp://x") && err.contains("scheme"), "{err}");
        let s = parse("type = \"desec\"\napi_url = \"https://u:p@x\"\ntoken_env = \"K\"").unwrap();
        assert!(s.check("d").is_err());
    }

    #[test]
    fn flat_fields_are_checked_for_the_type() {
        let token = |f: Fields| Fields {
            token_env: Some("K".into()),
            ..f
        };
        let s = ProviderSettings::from_fields("h", "hetzner", token(Fields::default())).unwrap();
        assert_eq!(s.api_url(), hetzner::DEFAULT_API_URL);
        let err = ProviderSettings::from_fields("p", "powerdns", token(Fields::default()));
        let err = err.unwrap_err().to_string();
        assert!(
            err.contains("[dns.p]") && err.contains("needs `api_url`"),
            "{err}"
        );
        let with_server = token(Fields {
            server_id: Some("x".into()),
            ..Fields::default()
        });
        let err = ProviderSettings::from_fields("c", "cloudflare", with_server).unwrap_err();
        assert!(
            err.to_string().contains("`server_id` does not apply"),
            "{err}"
        );
        let err = ProviderSettings::from_fields("r", "route54", Fields::default()).unwrap_err();
        assert!(err.to_string().contains("\"route54\"") && err.to_string().contains("desec"));
        let err = ProviderSettings::from_fields("g", "gandi", Fields::default()).unwrap_err();
        assert!(err.to_string().contains("token_file"), "{err}");
        let err = ProviderSettings::from_fields("t", "technitium", token(Fields::default()));
        let err = err.unwrap_err().to_string();
        assert!(
            err.contains("needs `api_url`") && err.contains("5380"),
            "{err}"
        );
        let s = ProviderSettings::from_fields("o", "ovh", token(Fields::default())).unwrap();
        assert_eq!((s.kind(), s.api_url()), ("ovh", ovh::DEFAULT_API_URL));
    }

    #[test]
    fn check_names_an_ovh_credential_without_its_three_parts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ovh.credential");
        let settings = |content: &str| {
            std::fs::write(&path, content).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
            ProviderSettings::Ovh(HostedSettings {
                api_url: None,
                token_file: Some(path.clone()),
                token_env: None,
                zone: None,
            })
        };
        let err = settings("ak:as").check("ovh").unwrap_err().to_string();
        assert!(
            err.contains("CONSUMER_KEY") && err.contains("ovh.credential"),
            "{err}"
        );
        assert!(!err.contains("ak:as"), "{err}");
        assert!(settings("ak:as:ck").check("ovh").unwrap().is_empty());
    }

    #[test]
    fn check_says_hetzner_does_not_sign_zones() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("t");
        std::fs::write(&token, "abc\n").unwrap();
        std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let hosted = HostedSettings {
            api_url: None,
            token_file: Some(token),
            token_env: None,
            zone: None,
        };
        let warnings = ProviderSettings::Hetzner(hosted.clone())
            .check("h")
            .unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("does not sign zones") && warnings[0].contains("desec"),
            "{warnings:?}"
        );
        assert!(
            ProviderSettings::Desec(hosted)
                .check("d")
                .unwrap()
                .is_empty()
        );
        for kind in ProviderSettings::TYPES {
            let fields = Fields {
                token_env: Some("K".into()),
                api_url: Some("https://x".into()),
                ..Fields::default()
            };
            let settings = ProviderSettings::from_fields("s", kind, fields).unwrap();
            assert_eq!(settings.dnssec().signs, kind != "hetzner", "{kind}");
            assert!(!settings.dnssec().how.is_empty(), "{kind}");
        }
    }

    #[test]
    fn check_warns_about_plain_http_to_other_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("t");
        std::fs::write(&token, "abc\n").unwrap();
        std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let settings = |url: &str| {
            ProviderSettings::Powerdns(PowerDnsSettings {
                api_url: url.to_string(),
                server_id: default_server_id(),
                token_file: Some(token.clone()),
                token_env: None,
                zone: None,
            })
        };
        assert!(
            settings("http://127.0.0.1:8081")
                .check("p")
                .unwrap()
                .is_empty()
        );
        let warnings = settings("http://192.0.2.1:8081").check("p").unwrap();
        assert!(warnings[0].contains("plain HTTP"), "{warnings:?}");
    }
}
