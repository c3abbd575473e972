//! Infomaniak DNS through the Infomaniak API v2.
//!
//! API reference: <https://developer.infomaniak.com/getting-started> (an API token with the
//! `dns` scope as `Authorization: Bearer …`; answers `{"result": "success", "data": …}` or
//! `{"result": "error", "error": {"code", "description"}}`; lists paged with `page` /
//! `per_page` and `pages` in the answer), and the DNS endpoints
//! <https://developer.infomaniak.com/docs/api/get/2/zones/%7Bzone%7D> (a zone, with
//! `dnssec.is_enabled`), `…/get/2/zones/%7Bzone%7D/records` (records `{"id", "source", "type",
//! "target", "ttl"}`, `source` relative with `.` at the apex, filtered with
//! `filter[types][]` and `filter[source]`), `…/post/2/zones/%7Bzone%7D/records` and
//! `…/delete/2/zones/%7Bzone%7D/records/%7Brecord%7D`.
//!
//! - zone: the configured one (`GET /2/zones/{zone}`), else the owner's enclosing names are
//!   tried longest first and the first the account has (200, not 404) is the zone;
//! - read: `GET /2/zones/{zone}/records?filter[types][]=TLSA&filter[source]=…`, all pages;
//! - add: `POST /2/zones/{zone}/records` `{"source", "type": "TLSA", "target", "ttl"}`;
//! - remove: `DELETE /2/zones/{zone}/records/{id}` (404: already gone).
//!
//! Records are created and deleted one by one, so other records are never rewritten
//! ([`crate::rest`]); the API has no conditional delete. The answer to a create (its id, its
//! spelling of the record) is not trusted: the next list is. Infomaniak signs a zone once
//! DNSSEC is switched on for it in the Manager; for a domain registered elsewhere, the DS it
//! shows goes to that registrar.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::error::BackendError;
use crate::http::{Api, ApiConfig, ApiError, Auth, Call, Dialect, by_status, segment};
use crate::record::Tlsa;
use crate::rest::{self, Entry, RecordStore, ZoneCache, ZoneRef};

const PROVIDER: &str = "Infomaniak";

/// Infomaniak's API.
pub const DEFAULT_API_URL: &str = "https://api.infomaniak.com";

/// How infomaniak zones get signed; see [`crate::DnssecSupport`].
pub const DNSSEC: crate::DnssecSupport = crate::DnssecSupport {
    signs: true,
    how: "in the Infomaniak Manager, the DNS zone → \"DNSSEC\" (activate): Infomaniak signs the zone and, for a domain registered at Infomaniak, publishes the DS itself; for a domain registered elsewhere add the DS it shows at that registrar",
};

const PER_PAGE: u32 = 100;
/// A bound on pages, so a server that keeps answering cannot keep us forever.
const MAX_PAGES: u32 = 1000;

/// The Infomaniak backend.
#[derive(Debug)]
pub struct Infomaniak {
    api: Api,
    zone: Option<String>,
    zones: ZoneCache,
}

#[derive(Debug, Deserialize)]
struct Page<T> {
    data: T,
    page: Option<u32>,
    pages: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct Zone {
    fqdn: String,
}

#[derive(Debug, Deserialize)]
struct Record {
    id: u64,
    #[serde(default)]
    source: String,
    #[serde(rename = "type")]
    rtype: String,
    target: String,
    ttl: u32,
}

/// `{"result": "error", "error": {"code": "validation_failed", "description": "…"}}`.
fn error_text(body: &serde_json::Value) -> Option<String> {
    let error = body.get("error")?;
    let code = error.get("code").and_then(|c| c.as_str());
    let description = error.get("description").and_then(|d| d.as_str());
    match (description, code) {
        (Some(text), Some(code)) => Some(format!("{text} ({code})")),
        (Some(text), None) | (None, Some(text)) => Some(text.to_string()),
        (None, None) => None,
    }
}

/// The relative name as Infomaniak spells it: `.` at the apex.
fn source(owner: &str, zone: &ZoneRef) -> String {
    match rest::relative(owner, &zone.name).unwrap_or_default() {
        "" => ".".to_string(),
        sub => sub.to_string(),
    }
}

impl Infomaniak {
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

    /// The zone named `name` if the account has it.
    async fn zone_named(&self, name: &str) -> Result<Option<ZoneRef>, BackendError> {
        let id = name.trim_end_matches('.');
        let call = Call::get(format!("/2/zones/{}", segment(id)), "");
        let reply = self.api.send(&call).await?;
        if reply.status.as_u16() == 404 {
            return Ok(None);
        }
        if !reply.status.is_success() {
            return Err(self.api.fail(&call, &reply).into());
        }
        let zone = self.api.decode::<Page<Zone>>(&call, &reply)?.data;
        let name = rest::absolute(&zone.fqdn);
        Ok(Some(ZoneRef {
            id: segment(name.trim_end_matches('.')),
            name,
            default_ttl: None,
        }))
    }

    async fn find_zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        if let Some(name) = &self.zone {
            let Some(zone) = self.zone_named(name).await? else {
                let detail = format!("the account has no zone {name}");
                return Err(self.api.zone_not_found(owner, detail).into());
            };
            rest::inside(owner, &zone)?;
            return Ok(zone);
        }
        let labels: Vec<&str> = owner.trim_end_matches('.').split('.').collect();
        // Longest first; a TLD alone is never a customer's zone.
        for start in 0..labels.len().saturating_sub(1) {
            let candidate = labels[start..].join(".");
            if let Some(zone) = self.zone_named(&candidate).await? {
                rest::inside(owner, &zone)?;
                return Ok(zone);
            }
        }
        let detail = format!("no zone of this account holds {owner}");
        Err(self.api.zone_not_found(owner, detail).into())
    }

    fn records_path(zone: &ZoneRef) -> String {
        format!("/2/zones/{}/records", zone.id)
    }
}

#[async_trait]
impl RecordStore for Infomaniak {
    fn api(&self) -> &Api {
        &self.api
    }

    fn label(&self) -> &'static str {
        "Infomaniak API"
    }

    fn dnssec(&self) -> crate::DnssecSupport {
        DNSSEC
    }

    async fn zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        self.zones.get_or_find(owner, self.find_zone(owner)).await
    }

    async fn list(&self, zone: &ZoneRef, owner: &str) -> Result<Vec<Entry>, BackendError> {
        let path = Self::records_path(zone);
        let wanted = source(owner, zone);
        let mut records: Vec<Record> = Vec::new();
        for page in 1..=MAX_PAGES {
            let call = Call::get(path.clone(), &zone.name)
                .query("filter[types][]", "TLSA")
                .query("filter[source]", wanted.clone())
                .query("page", page.to_string())
                .query("per_page", PER_PAGE.to_string())
                .about(owner, None);
            let list: Page<Vec<Record>> = self.api.send_json(&call).await?;
            let got = list.data.len();
            records.extend(list.data);
            let last = list.pages.unwrap_or(1);
            if got == 0 || list.page.unwrap_or(page) >= last {
                break;
            }
        }
        let apex = |s: &str| matches!(s, "" | "." | "@");
        records
            .iter()
            // Filters the API may not apply, applied again.
            .filter(|r| r.rtype == "TLSA")
            .filter(|r| {
                r.source.eq_ignore_ascii_case(&wanted) || (apex(&r.source) && apex(&wanted))
            })
            .map(|r| {
                let record = r.target.parse::<Tlsa>().map_err(|e| {
                    let call = Call::get(path.clone(), &zone.name);
                    self.api
                        .bad_response(&call, format!("TLSA record {} at {owner}: {e}", r.id))
                })?;
                Ok(Entry {
                    record,
                    ttl: r.ttl,
                    id: r.id.to_string(),
                })
            })
            .collect()
    }

    async fn create(
        &self,
        zone: &ZoneRef,
        owner: &str,
        record: &Tlsa,
        ttl: u32,
        _existing: &[Entry],
    ) -> Result<(), BackendError> {
        let body = json!({
            "source": source(owner, zone),
            "type": "TLSA",
            "target": record.to_string(),
            "ttl": ttl,
        });
        let call = Call::new(Method::POST, Self::records_path(zone), &zone.name)
            .json(body)
            .about(owner, Some(record));
        self.api.send_expecting_success(&call).await?;
        Ok(())
    }

    async fn delete(&self, zone: &ZoneRef, owner: &str, entry: &Entry) -> Result<(), BackendError> {
        let path = format!("{}/{}", Self::records_path(zone), segment(&entry.id));
        let call = Call::new(Method::DELETE, path, &zone.name).about(owner, Some(&entry.record));
        Ok(self.api.send_delete(&call).await?)
    }
}

rest::rest_backend!(Infomaniak, record);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_and_apex_names() {
        let body = json!({ "result": "error", "error": { "code": "validation_failed", "description": "The target is invalid" } });
        assert_eq!(
            error_text(&body).as_deref(),
            Some("The target is invalid (validation_failed)")
        );
        let zone = ZoneRef {
            name: "example.com.".into(),
            id: "example.com".into(),
            default_ttl: None,
        };
        assert_eq!(source("example.com.", &zone), ".");
        assert_eq!(source("_25._tcp.mx.example.com.", &zone), "_25._tcp.mx");
    }
}
