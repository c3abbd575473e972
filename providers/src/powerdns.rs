//! PowerDNS Authoritative Server through its HTTP API.
//!
//! API reference: <https://doc.powerdns.com/authoritative/http-api/zone.html> (zones and
//! RRsets) and <https://doc.powerdns.com/authoritative/http-api/index.html> (authentication with
//! the `X-API-Key` header, JSON error bodies `{"error": "…"}`).
//!
//! - zones: `GET /servers/{server_id}/zones`; the zone holding a name is the longest one that
//!   ends it (unless `zone` is configured);
//! - read: `GET /servers/{server_id}/zones/{zone_id}?rrset_name=…&rrset_type=TLSA` (servers
//!   without the filters return the whole zone; we filter either way). The filtered answer leaves
//!   out `disabled` records (PowerDNS 4.7, seen in this crate's tests), so the read before a
//!   write fetches the whole zone: a write must put disabled records back;
//! - write: `PATCH /servers/{server_id}/zones/{zone_id}` with one RRset and `changetype`
//!   `REPLACE` (the whole TLSA RRset) or `DELETE` (when no record is left).
//!
//! The API replaces whole RRsets, so adding or removing one record is a read-modify-write that
//! re-reads to verify; see [`crate::rest`] for the race window that remains. Records marked
//! `disabled` are not served, so they are not part of the RRset we report, but they are written
//! back unchanged. PowerDNS signs on the fly: a zone secured with `pdnsutil secure-zone` serves
//! the new record signed as soon as the PATCH returns (the observer still checks that, RFC 7671
//! §8.1). Set the zone's `SOA-EDIT-API` metadata so the serial moves and secondaries transfer.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::TlsaRrset;
use crate::credential::TokenSource;
use crate::error::BackendError;
use crate::http::{Api, ApiError, Auth, Call, Dialect, RetryPolicy, by_status, segment};
use crate::record::Tlsa;
use crate::rest::{self, RrsetStore, ZoneCache, ZoneRef};

const PROVIDER: &str = "PowerDNS";

/// How powerdns zones get signed; see [`crate::DnssecSupport`].
pub const DNSSEC: crate::DnssecSupport = crate::DnssecSupport {
    signs: true,
    how: "`pdnsutil secure-zone ZONE` on the server (then `pdnsutil rectify-zone ZONE` for SQL backends), and add the DS records `pdnsutil export-zone-ds ZONE` prints at the parent zone",
};

/// Where and how to reach a PowerDNS API.
#[derive(Debug, Clone)]
pub struct PowerDnsConfig {
    /// The API's base URL, e.g. `http://127.0.0.1:8081/api/v1` (`/api/v1` is added when the URL
    /// has no path).
    pub api_url: String,
    /// The server id in API paths; `localhost` for a PowerDNS server's own API.
    pub server_id: String,
    pub token: TokenSource,
    /// The zone, if it should not be looked up in the server's zone list.
    pub zone: Option<String>,
    pub retry: RetryPolicy,
}

/// The PowerDNS backend.
pub struct PowerDns {
    api: Api,
    server_id: String,
    zone: Option<String>,
    zones: ZoneCache,
    /// Disabled records seen by the last read of each owner, written back unchanged.
    disabled: Mutex<HashMap<String, Vec<RawRecord>>>,
}

impl std::fmt::Debug for PowerDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowerDns")
            .field("api", &self.api)
            .field("server_id", &self.server_id)
            .field("zone", &self.zone)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct ZoneListing {
    id: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct ZoneDetail {
    #[serde(default)]
    rrsets: Vec<RawRrset>,
}

#[derive(Debug, Deserialize)]
struct RawRrset {
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    ttl: Option<u32>,
    #[serde(default)]
    records: Vec<RawRecord>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawRecord {
    content: String,
    #[serde(default)]
    disabled: bool,
}

/// `{"error": "…", "errors": ["…"]}`.
fn error_text(body: &serde_json::Value) -> Option<String> {
    let main = body.get("error")?.as_str()?.to_string();
    let details: Vec<&str> = body
        .get("errors")
        .and_then(|e| e.as_array())
        .map(|list| list.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    Some(if details.is_empty() {
        main
    } else {
        format!("{main} ({})", details.join("; "))
    })
}

impl PowerDns {
    /// Reads the token and prepares the client.
    pub fn new(config: PowerDnsConfig) -> Result<Self, ApiError> {
        let secret = config.token.load().map_err(|source| ApiError::Credential {
            provider: PROVIDER,
            source,
        })?;
        let mut base = config.api_url.trim_end_matches('/').to_string();
        if base.matches('/').count() <= 2 {
            base.push_str("/api/v1");
        }
        let auth = Auth {
            header: "x-api-key",
            scheme: None,
        };
        let api = Api::new(
            PROVIDER,
            &base,
            auth,
            &config.token,
            secret,
            config.retry,
            Dialect {
                error_text,
                auth_failure: by_status,
            },
        )?;
        Ok(Self {
            api,
            server_id: config.server_id,
            zone: config.zone.map(|z| rest::absolute(&z)),
            zones: ZoneCache::default(),
            disabled: Mutex::new(HashMap::new()),
        })
    }

    fn zone_path(&self, zone: &ZoneRef) -> String {
        format!(
            "/servers/{}/zones/{}",
            segment(&self.server_id),
            segment(&zone.id)
        )
    }

    async fn find_zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        if let Some(name) = &self.zone {
            // PowerDNS zone ids are the absolute names (with `/` escaped as `=2F`).
            let zone = ZoneRef {
                name: name.clone(),
                id: name.replace('/', "=2F"),
                default_ttl: None,
            };
            rest::inside(owner, &zone)?;
            return Ok(zone);
        }
        let path = format!("/servers/{}/zones", segment(&self.server_id));
        let call = Call::get(path, "");
        let zones: Vec<ZoneListing> = self.api.send_json(&call).await?;
        let name =
            rest::longest_zone(owner, zones.iter().map(|z| z.name.as_str())).ok_or_else(|| {
                self.api.zone_not_found(
                    owner,
                    format!(
                        "none of the {} zone(s) on server {} holds {owner}",
                        zones.len(),
                        self.server_id
                    ),
                )
            })?;
        let id = zones
            .iter()
            .find(|z| rest::absolute(&z.name) == name)
            .map(|z| z.id.clone())
            .unwrap_or_else(|| name.clone());
        Ok(ZoneRef {
            name,
            id,
            default_ttl: None,
        })
    }

    /// The TLSA RRset at `owner`; `whole_zone` also sees disabled records (see the module docs).
    async fn fetch(
        &self,
        zone: &ZoneRef,
        owner: &str,
        whole_zone: bool,
    ) -> Result<TlsaRrset, BackendError> {
        let mut call = Call::get(self.zone_path(zone), &zone.name).about(owner, None);
        if !whole_zone {
            call = call.query("rrset_name", owner).query("rrset_type", "TLSA");
        }
        let reply = self.api.send(&call).await?;
        if reply.status.as_u16() == 404 {
            let message = self.api.message(&reply);
            let detail = format!(
                "zone {} does not exist on the server ({message})",
                zone.name
            );
            return Err(self.api.zone_not_found(owner, detail).into());
        }
        if !reply.status.is_success() {
            return Err(self.api.fail(&call, &reply).into());
        }
        let detail: ZoneDetail = self.api.decode(&call, &reply)?;
        let mut records = Vec::new();
        let mut disabled = Vec::new();
        let mut ttl = None;
        let wanted = detail
            .rrsets
            .into_iter()
            .filter(|r| r.rtype.eq_ignore_ascii_case("TLSA") && rest::absolute(&r.name) == owner);
        for rrset in wanted {
            ttl = rrset.ttl.or(ttl);
            for raw in rrset.records {
                if raw.disabled {
                    disabled.push(raw);
                    continue;
                }
                let record: Tlsa = raw.content.parse().map_err(|e| {
                    self.api
                        .bad_response(&call, format!("TLSA record at {owner}: {e}"))
                })?;
                records.push(record);
            }
        }
        if whole_zone && let Ok(mut map) = self.disabled.lock() {
            map.insert(owner.to_string(), disabled);
        }
        Ok(TlsaRrset::new(records, ttl))
    }
}

#[async_trait]
impl RrsetStore for PowerDns {
    fn api(&self) -> &Api {
        &self.api
    }

    fn label(&self) -> &'static str {
        "PowerDNS API"
    }

    fn dnssec(&self) -> crate::DnssecSupport {
        DNSSEC
    }

    /// Reads filter by name and type; the whole zone is fetched only before a write, where
    /// disabled records must be seen (see the module docs).
    async fn read_served(&self, zone: &ZoneRef, owner: &str) -> Result<TlsaRrset, BackendError> {
        self.fetch(zone, owner, false).await
    }

    async fn zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        self.zones.get_or_find(owner, self.find_zone(owner)).await
    }

    async fn load(&self, zone: &ZoneRef, owner: &str) -> Result<TlsaRrset, BackendError> {
        self.fetch(zone, owner, true).await
    }

    async fn store(
        &self,
        zone: &ZoneRef,
        owner: &str,
        before: &TlsaRrset,
        after: &TlsaRrset,
        record: &Tlsa,
    ) -> Result<(), BackendError> {
        let kept = self
            .disabled
            .lock()
            .ok()
            .and_then(|map| map.get(owner).cloned())
            .unwrap_or_default();
        let mut records: Vec<serde_json::Value> = after
            .records()
            .iter()
            .map(|r| json!({ "content": r.to_string(), "disabled": false }))
            .collect();
        records.extend(
            kept.iter()
                .map(|r| json!({ "content": r.content, "disabled": true })),
        );
        let rrset = if records.is_empty() {
            json!({ "name": owner, "type": "TLSA", "changetype": "DELETE" })
        } else {
            json!({
                "name": owner,
                "type": "TLSA",
                // Only disabled records left: they keep the TTL the RRset had.
                "ttl": after.ttl().or(before.ttl()).unwrap_or(3600),
                "changetype": "REPLACE",
                "records": records,
            })
        };
        let call = Call::new(Method::PATCH, self.zone_path(zone), &zone.name)
            .json(json!({ "rrsets": [rrset] }))
            .about(owner, Some(record));
        let reply = self.api.send(&call).await?;
        match reply.status.as_u16() {
            200..=299 => Ok(()),
            404 => {
                let detail = format!(
                    "zone {} does not exist on the server ({})",
                    zone.name,
                    self.api.message(&reply)
                );
                Err(self.api.zone_not_found(owner, detail).into())
            }
            _ => Err(self.api.fail(&call, &reply).into()),
        }
    }
}

rest::rest_backend!(PowerDns, rrset);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let body = json!({ "error": "RRset x. IN TLSA: Conflicts", "errors": ["a", "b"] });
        assert_eq!(
            error_text(&body).as_deref(),
            Some("RRset x. IN TLSA: Conflicts (a; b)")
        );
        assert_eq!(error_text(&json!({ "x": 1 })), None);
    }
}
