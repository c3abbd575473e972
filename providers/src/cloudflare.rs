//! Cloudflare DNS through the Cloudflare v4 API.
//!
//! API reference: <https://developers.cloudflare.com/api/resources/zones/methods/list/> (zones),
//! <https://developers.cloudflare.com/api/resources/dns/subresources/records/> (DNS records:
//! list, create, delete), <https://developers.cloudflare.com/fundamentals/api/get-started/create-token/>
//! (API tokens as `Authorization: Bearer …`) and
//! <https://developers.cloudflare.com/fundamentals/api/reference/limits/> (429 with
//! `Retry-After`). Every answer is an envelope `{"success": …, "errors": [{"code", "message"}],
//! "messages": […], "result": …, "result_info": {"page", "per_page", "count", "total_count",
//! "total_pages"}}`.
//!
//! - zones: `GET /zones?page=N&per_page=50` (all pages), the longest name ending the owner wins;
//!   a configured zone is looked up with `GET /zones?name=…`;
//! - read: `GET /zones/{zone_id}/dns_records?type=TLSA&name=…&page=N&per_page=100`;
//! - add: `POST /zones/{zone_id}/dns_records` with the TLSA fields in `data` (`usage`,
//!   `selector`, `matching_type`, `certificate`);
//! - remove: `DELETE /zones/{zone_id}/dns_records/{id}`.
//!
//! Records are created and deleted one by one, so other records at the name are never rewritten
//! ([`crate::rest`]). A record's TTL of 1 means "automatic", which Cloudflare serves as 300 s.
//! Cloudflare signs zones once DNSSEC is enabled in the dashboard. Error code 9109 ("Invalid
//! access token") and 6003/6111 (malformed `Authorization`) mean a bad token whatever the HTTP
//! status; 10000 ("Authentication error") a token without the needed permission.

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::error::BackendError;
use crate::http::{Api, ApiConfig, ApiError, Auth, AuthFailure, Call, Dialect, segment};
use crate::record::Tlsa;
use crate::rest::{self, Entry, RecordStore, ZoneCache, ZoneRef};

const PROVIDER: &str = "Cloudflare";

/// Cloudflare's public API.
pub const DEFAULT_API_URL: &str = "https://api.cloudflare.com/client/v4";

/// How cloudflare zones get signed; see [`crate::DnssecSupport`].
pub const DNSSEC: crate::DnssecSupport = crate::DnssecSupport {
    signs: true,
    how: "in the Cloudflare dashboard, DNS → Settings → \"Enable DNSSEC\"; then add the DS record it shows at the registrar (Cloudflare Registrar does that itself)",
};

/// The largest pages Cloudflare serves for zones and for DNS records.
const ZONES_PER_PAGE: u32 = 50;
const RECORDS_PER_PAGE: u32 = 100;
/// A bound on pages, so a server that keeps answering cannot keep us forever.
const MAX_PAGES: u32 = 1000;
/// What Cloudflare serves for TTL 1 ("automatic").
const AUTOMATIC_TTL: u32 = 300;

/// The Cloudflare backend.
#[derive(Debug)]
pub struct Cloudflare {
    api: Api,
    zone: Option<String>,
    zones: ZoneCache,
}

#[derive(Debug, Deserialize)]
struct Envelope<T> {
    result: T,
    result_info: Option<ResultInfo>,
}

#[derive(Debug, Deserialize)]
struct ResultInfo {
    page: Option<u32>,
    total_pages: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct Zone {
    id: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct DnsRecord {
    id: String,
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    data: Option<TlsaData>,
    ttl: u32,
}

#[derive(Debug, Deserialize)]
struct TlsaData {
    usage: u8,
    selector: u8,
    matching_type: u8,
    certificate: String,
}

fn codes(body: &serde_json::Value) -> Vec<i64> {
    body.get("errors")
        .and_then(|e| e.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|e| e.get("code")?.as_i64())
                .collect()
        })
        .unwrap_or_default()
}

/// `{"errors": [{"code": 9109, "message": "Invalid access token"}]}`.
fn error_text(body: &serde_json::Value) -> Option<String> {
    let errors = body.get("errors")?.as_array()?;
    let parts: Vec<String> = errors
        .iter()
        .map(|e| {
            let message = e.get("message").and_then(|m| m.as_str()).unwrap_or("");
            match e.get("code").and_then(|c| c.as_i64()) {
                Some(code) => format!("{message} (code {code})"),
                None => message.to_string(),
            }
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn auth_failure(status: StatusCode, body: &serde_json::Value) -> Option<AuthFailure> {
    let codes = codes(body);
    if codes.iter().any(|c| matches!(c, 9109 | 6003 | 6111)) || status == 401 {
        Some(AuthFailure::BadToken)
    } else if codes.contains(&10000) || status == 403 {
        Some(AuthFailure::Forbidden)
    } else {
        None
    }
}

impl Cloudflare {
    /// Reads the token and prepares the client.
    pub fn new(config: ApiConfig) -> Result<Self, ApiError> {
        let auth = Auth {
            header: "authorization",
            scheme: Some("Bearer"),
        };
        let dialect = Dialect {
            error_text,
            auth_failure,
        };
        Ok(Self {
            api: Api::from_config(PROVIDER, &config, auth, dialect)?,
            zone: config.zone.as_deref().map(rest::absolute),
            zones: ZoneCache::default(),
        })
    }

    /// Every page of a list; `make` builds the call for page N.
    async fn all_pages<'a, T: serde::de::DeserializeOwned>(
        &self,
        make: impl Fn(u32) -> Call<'a>,
    ) -> Result<Vec<T>, BackendError> {
        let mut items = Vec::new();
        for page in 1..=MAX_PAGES {
            let call = make(page);
            let envelope: Envelope<Vec<T>> = self.api.send_json(&call).await?;
            let got = envelope.result.len();
            items.extend(envelope.result);
            let info = envelope.result_info.unwrap_or(ResultInfo {
                page: None,
                total_pages: None,
            });
            let last = info.total_pages.unwrap_or(1);
            if got == 0 || info.page.unwrap_or(page) >= last {
                break;
            }
        }
        Ok(items)
    }

    async fn find_zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        let zones: Vec<Zone> = match &self.zone {
            Some(name) => {
                let wanted = name.trim_end_matches('.').to_string();
                self.all_pages(|page| {
                    Call::get("/zones", "")
                        .query("name", wanted.clone())
                        .query("page", page.to_string())
                })
                .await?
            }
            None => {
                self.all_pages(|page| {
                    Call::get("/zones", "")
                        .query("page", page.to_string())
                        .query("per_page", ZONES_PER_PAGE.to_string())
                })
                .await?
            }
        };
        let best = rest::longest_zone(owner, zones.iter().map(|z| z.name.as_str()));
        let found = best.and_then(|name| {
            let zone = zones.iter().find(|z| rest::absolute(&z.name) == name)?;
            Some(ZoneRef {
                name,
                id: zone.id.clone(),
                default_ttl: None,
            })
        });
        match (found, &self.zone) {
            (Some(zone), _) => Ok(zone),
            (None, Some(name)) if zones.is_empty() => Err(self
                .api
                .zone_not_found(owner, format!("the account has no zone {name}"))
                .into()),
            (None, Some(name)) => Err(BackendError::OutsideZone {
                owner: owner.to_string(),
                zone: name.clone(),
            }),
            (None, None) => Err(self
                .api
                .zone_not_found(
                    owner,
                    format!(
                        "none of the {} zone(s) of this account holds {owner}",
                        zones.len()
                    ),
                )
                .into()),
        }
    }
}

impl DnsRecord {
    fn record(&self) -> Result<Tlsa, String> {
        match (&self.data, &self.content) {
            (Some(d), _) => format!(
                "{} {} {} {}",
                d.usage, d.selector, d.matching_type, d.certificate
            )
            .parse()
            .map_err(|e: crate::ParseTlsaError| e.to_string()),
            (None, Some(content)) => content
                .parse()
                .map_err(|e: crate::ParseTlsaError| e.to_string()),
            (None, None) => Err(format!("record {} has neither data nor content", self.id)),
        }
    }
}

#[async_trait]
impl RecordStore for Cloudflare {
    fn api(&self) -> &Api {
        &self.api
    }

    fn label(&self) -> &'static str {
        "Cloudflare API"
    }

    fn dnssec(&self) -> crate::DnssecSupport {
        DNSSEC
    }

    async fn zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        self.zones.get_or_find(owner, self.find_zone(owner)).await
    }

    async fn list(&self, zone: &ZoneRef, owner: &str) -> Result<Vec<Entry>, BackendError> {
        let path = format!("/zones/{}/dns_records", segment(&zone.id));
        let name = owner.trim_end_matches('.').to_string();
        let records: Vec<DnsRecord> = self
            .all_pages(|page| {
                Call::get(path.clone(), &zone.name)
                    .query("type", "TLSA")
                    .query("name", name.clone())
                    .query("page", page.to_string())
                    .query("per_page", RECORDS_PER_PAGE.to_string())
                    .about(owner, None)
            })
            .await?;
        records
            .iter()
            .filter(|r| r.rtype == "TLSA" && rest::absolute(&r.name) == owner)
            .map(|r| {
                let record = r.record().map_err(|reason| {
                    let call = Call::get(path.clone(), &zone.name);
                    self.api
                        .bad_response(&call, format!("TLSA record at {owner}: {reason}"))
                })?;
                Ok(Entry {
                    record,
                    ttl: if r.ttl == 1 { AUTOMATIC_TTL } else { r.ttl },
                    id: r.id.clone(),
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
        let path = format!("/zones/{}/dns_records", segment(&zone.id));
        let body = json!({
            "type": "TLSA",
            "name": owner.trim_end_matches('.'),
            "ttl": ttl,
            "data": {
                "usage": record.usage,
                "selector": record.selector,
                "matching_type": record.mtype,
                "certificate": record.data_hex().to_lowercase(),
            },
        });
        let call = Call::new(Method::POST, path, &zone.name)
            .json(body)
            .about(owner, Some(record));
        self.api.send_expecting_success(&call).await?;
        Ok(())
    }

    async fn delete(&self, zone: &ZoneRef, owner: &str, entry: &Entry) -> Result<(), BackendError> {
        let path = format!(
            "/zones/{}/dns_records/{}",
            segment(&zone.id),
            segment(&entry.id)
        );
        let call = Call::new(Method::DELETE, path, &zone.name).about(owner, Some(&entry.record));
        Ok(self.api.send_delete(&call).await?)
    }
}

rest::rest_backend!(Cloudflare, record);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_decide_what_the_failure_is() {
        let invalid = json!({ "success": false, "errors": [{ "code": 9109, "message": "Invalid access token" }] });
        assert_eq!(
            auth_failure(StatusCode::FORBIDDEN, &invalid),
            Some(AuthFailure::BadToken)
        );
        assert_eq!(
            error_text(&invalid).as_deref(),
            Some("Invalid access token (code 9109)")
        );
        let denied = json!({ "errors": [{ "code": 10000, "message": "Authentication error" }] });
        assert_eq!(
            auth_failure(StatusCode::FORBIDDEN, &denied),
            Some(AuthFailure::Forbidden)
        );
        let duplicate = json!({ "errors": [{ "code": 81058, "message": "An identical record already exists." }] });
        assert_eq!(auth_failure(StatusCode::BAD_REQUEST, &duplicate), None);
    }

    #[test]
    fn records_parse_from_data_or_content() {
        let hex = "ab".repeat(32);
        let from_data: DnsRecord = serde_json::from_value(json!({
            "id": "1", "name": "_25._tcp.mail.example.com", "type": "TLSA", "ttl": 1,
            "content": "ignored", "data": { "usage": 3, "selector": 1, "matching_type": 1, "certificate": hex },
        }))
        .unwrap();
        assert_eq!(
            from_data.record().unwrap(),
            Tlsa::new(3, 1, 1, vec![0xab; 32])
        );
        let from_content: DnsRecord = serde_json::from_value(json!({
            "id": "2", "name": "x", "type": "TLSA", "ttl": 300, "content": format!("2 1 1 {hex}"),
        }))
        .unwrap();
        assert_eq!(
            from_content.record().unwrap(),
            Tlsa::new(2, 1, 1, vec![0xab; 32])
        );
    }
}
