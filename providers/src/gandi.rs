//! Gandi LiveDNS through the Gandi v5 API.
//!
//! API reference: <https://api.gandi.net/docs/livedns/> (domains and records) and
//! <https://api.gandi.net/docs/authentication/> (personal access tokens sent as
//! `Authorization: Bearer …`; the older `Apikey` scheme is deprecated), with errors as
//! `{"code": 400, "message": "…", "object": "…", "cause": "…", "errors": [{"location": …,
//! "name": …, "description": …}]}` and list pagination by `page` / `per_page` with the total in
//! the `Total-Count` response header.
//!
//! - zones: `GET /domains?page=N&per_page=100`, the longest `fqdn` ending the name wins;
//! - read: `GET /domains/{fqdn}/records/{rrset_name}/TLSA` (`@` is the apex), 404 when absent;
//! - write: `PUT` to the same URL with `rrset_values` and `rrset_ttl` creates or replaces the
//!   RRset; `DELETE` it when no record is left.
//!
//! The API replaces whole RRsets: one record is added or removed by read-modify-write with a
//! verifying re-read ([`crate::rest`] documents the race window). LiveDNS signs zones when
//! DNSSEC is enabled for the domain.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::TlsaRrset;
use crate::error::BackendError;
use crate::http::{Api, ApiConfig, ApiError, Auth, Call, Dialect, by_status, segment};
use crate::record::Tlsa;
use crate::rest::{self, RrsetStore, ZoneCache, ZoneRef};

const PROVIDER: &str = "Gandi LiveDNS";

/// Gandi's public LiveDNS API.
pub const DEFAULT_API_URL: &str = "https://api.gandi.net/v5/livedns";

/// How gandi zones get signed; see [`crate::DnssecSupport`].
pub const DNSSEC: crate::DnssecSupport = crate::DnssecSupport {
    signs: true,
    how: "in Gandi's interface, Domain → DNSSEC: LiveDNS signs the zone and, for a domain registered at Gandi, publishes the DS itself; for a domain registered elsewhere add the DS it shows at that registrar",
};

/// Domains asked for per page; the zone list is read until `Total-Count` domains were seen.
const PER_PAGE: usize = 100;
/// A bound on pages, so a server that keeps answering cannot keep us forever.
const MAX_PAGES: usize = 1000;

/// The Gandi LiveDNS backend.
#[derive(Debug)]
pub struct Gandi {
    api: Api,
    zone: Option<String>,
    zones: ZoneCache,
}

#[derive(Debug, Deserialize)]
struct Domain {
    fqdn: String,
}

#[derive(Debug, Deserialize)]
struct Rrset {
    rrset_ttl: Option<u32>,
    #[serde(default)]
    rrset_values: Vec<String>,
}

/// `{"message": "…", "errors": [{"name": "rrset_values", "description": "…"}]}`.
fn error_text(body: &serde_json::Value) -> Option<String> {
    let message = body.get("message")?.as_str()?.to_string();
    let details: Vec<String> = body
        .get("errors")
        .and_then(|e| e.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|e| {
                    let description = e.get("description")?.as_str()?;
                    let name = e.get("name").and_then(|n| n.as_str()).unwrap_or("");
                    Some(format!("{name}: {description}"))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(if details.is_empty() {
        message
    } else {
        format!("{message} ({})", details.join("; "))
    })
}

impl Gandi {
    /// Reads the token and prepares the client.
    pub fn new(config: ApiConfig) -> Result<Self, ApiError> {
        let auth = Auth {
            header: "authorization",
            scheme: Some("Bearer"),
        };
        let dialect = Dialect {
            error_text,
            auth_failure: by_status,
        };
        Ok(Self {
            api: Api::from_config(PROVIDER, &config, auth, dialect)?,
            zone: config.zone.as_deref().map(rest::absolute),
            zones: ZoneCache::default(),
        })
    }

    fn rrset_path(zone: &ZoneRef, owner: &str) -> String {
        let name = rest::relative(owner, &zone.name).unwrap_or_default();
        let name = if name.is_empty() { "@" } else { name };
        format!(
            "/domains/{}/records/{}/TLSA",
            segment(&zone.id),
            segment(name)
        )
    }

    /// Every domain of the account, page by page.
    async fn domains(&self) -> Result<Vec<String>, BackendError> {
        let mut names = Vec::new();
        for page in 1..=MAX_PAGES {
            let call = Call::get("/domains", "")
                .query("page", page.to_string())
                .query("per_page", PER_PAGE.to_string());
            let reply = self.api.send(&call).await?;
            if !reply.status.is_success() {
                return Err(self.api.fail(&call, &reply).into());
            }
            let domains: Vec<Domain> = self.api.decode(&call, &reply)?;
            let total = reply
                .headers
                .get("total-count")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<usize>().ok());
            let got = domains.len();
            names.extend(domains.into_iter().map(|d| d.fqdn));
            let done = match total {
                Some(total) => names.len() >= total,
                None => got < PER_PAGE,
            };
            if done || got == 0 {
                return Ok(names);
            }
        }
        Ok(names)
    }

    async fn find_zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        let name = match &self.zone {
            Some(name) => name.clone(),
            None => {
                let domains = self.domains().await?;
                let names = domains.iter().map(String::as_str);
                rest::longest_zone(owner, names).ok_or_else(|| {
                    let detail = format!(
                        "none of the {} LiveDNS domain(s) of this account holds {owner}",
                        domains.len()
                    );
                    self.api.zone_not_found(owner, detail)
                })?
            }
        };
        let zone = ZoneRef {
            id: name.trim_end_matches('.').to_string(),
            name,
            default_ttl: None,
        };
        rest::inside(owner, &zone)?;
        Ok(zone)
    }
}

#[async_trait]
impl RrsetStore for Gandi {
    fn api(&self) -> &Api {
        &self.api
    }

    fn label(&self) -> &'static str {
        "Gandi LiveDNS API"
    }

    fn dnssec(&self) -> crate::DnssecSupport {
        DNSSEC
    }

    async fn zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        self.zones.get_or_find(owner, self.find_zone(owner)).await
    }

    async fn load(&self, zone: &ZoneRef, owner: &str) -> Result<TlsaRrset, BackendError> {
        let call = Call::get(Self::rrset_path(zone, owner), &zone.name).about(owner, None);
        let reply = self.api.send(&call).await?;
        if reply.status.as_u16() == 404 {
            return Ok(TlsaRrset::empty());
        }
        if !reply.status.is_success() {
            return Err(self.api.fail(&call, &reply).into());
        }
        let rrset: Rrset = self.api.decode(&call, &reply)?;
        let records = rrset
            .rrset_values
            .iter()
            .map(|text| text.parse::<Tlsa>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                self.api
                    .bad_response(&call, format!("TLSA record at {owner}: {e}"))
            })?;
        Ok(TlsaRrset::new(records, rrset.rrset_ttl))
    }

    async fn store(
        &self,
        zone: &ZoneRef,
        owner: &str,
        _before: &TlsaRrset,
        after: &TlsaRrset,
        record: &Tlsa,
    ) -> Result<(), BackendError> {
        let path = Self::rrset_path(zone, owner);
        let call = if after.is_empty() {
            Call::new(Method::DELETE, path, &zone.name)
        } else {
            let values: Vec<String> = after.records().iter().map(Tlsa::to_string).collect();
            Call::new(Method::PUT, path, &zone.name)
                .json(json!({ "rrset_values": values, "rrset_ttl": after.ttl() }))
        };
        let call = call.about(owner, Some(record));
        let reply = self.api.send(&call).await?;
        match reply.status.as_u16() {
            200..=299 => Ok(()),
            // Deleting an RRset someone else deleted first is done.
            404 if call.method == Method::DELETE => Ok(()),
            404 => {
                let message = self.api.message(&reply);
                let detail = format!("domain {} is not in this account ({message})", zone.name);
                Err(self.api.zone_not_found(owner, detail).into())
            }
            _ => Err(self.api.fail(&call, &reply).into()),
        }
    }
}

rest::rest_backend!(Gandi, rrset);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let body = json!({
            "code": 400, "message": "Validation error", "object": "HTTPBadRequest",
            "cause": "Bad Request",
            "errors": [{ "location": "body", "name": "rrset_ttl", "description": "too low" }],
        });
        assert_eq!(
            error_text(&body).as_deref(),
            Some("Validation error (rrset_ttl: too low)")
        );
    }
}
