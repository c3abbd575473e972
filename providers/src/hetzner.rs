//! Hetzner DNS through the Hetzner Cloud API (the DNS service that replaced dns.hetzner.com).
//!
//! API reference: <https://docs.hetzner.cloud/reference/cloud#zones> (zones, paginated with
//! `page` / `per_page` and `meta.pagination.next_page`),
//! <https://docs.hetzner.cloud/reference/cloud#zone-rrsets> (RRsets),
//! <https://docs.hetzner.cloud/reference/cloud#zone-rrset-actions-add-records-to-an-rrset> and
//! `…-remove-records-from-an-rrset` (single values), <https://docs.hetzner.cloud/reference/cloud#actions>
//! (asynchronous actions), with `Authorization: Bearer …` and errors as
//! `{"error": {"code": "…", "message": "…", "details": {…}}}`.
//!
//! - zones: `GET /zones?page=N&per_page=100`, the longest name ending the owner wins; a
//!   configured zone is read with `GET /zones/{name}` (for its default TTL);
//! - read: `GET /zones/{zone}/rrsets/{rr_name}/TLSA` (`@` is the apex), 404 when absent; an RRset
//!   whose `ttl` is null is served with the zone's TTL;
//! - add: `POST /zones/{zone}/rrsets/{rr_name}/TLSA/actions/add_records` (creates the RRset if
//!   needed; `ttl` only then, so an existing RRset keeps its TTL);
//! - remove: `POST …/actions/remove_records` with the value exactly as the API listed it (the
//!   RRset goes away with its last record).
//!
//! Both actions return an action that may still be `running`: we poll `GET /actions/{id}` every
//! [`crate::http::RetryPolicy::poll_interval`] until it is `success` or `error`, for at most
//! [`crate::http::RetryPolicy::poll_limit`]; a read before that is not guaranteed to see the
//! change. Values are added and removed one by one, so other records are never rewritten
//! ([`crate::rest`]).
//!
//! Hetzner DNS does **not** sign zones (RFC 4035 §2): its name servers serve no DNSKEY and no
//! RRSIG, and DS records in a Hetzner zone only delegate to children signed elsewhere
//! (<https://docs.hetzner.com/networking/dns/technical-concepts/architecture>: "At the moment,
//! Hetzner only supports DS records"). A TLSA record there is ignored by every sender; the
//! preflight refuses to publish into such a zone and `config check` warns ([`DNSSEC`]).

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::error::BackendError;
use crate::http::{Api, ApiConfig, ApiError, Auth, Call, Dialect, by_status, segment};
use crate::record::Tlsa;
use crate::rest::{self, Entry, RecordStore, ZoneCache, ZoneRef};

const PROVIDER: &str = "Hetzner";

/// Hetzner's public Cloud API.
pub const DEFAULT_API_URL: &str = "https://api.hetzner.cloud/v1";

/// How hetzner zones get signed; see [`crate::DnssecSupport`].
pub const DNSSEC: crate::DnssecSupport = crate::DnssecSupport {
    signs: false,
    how: "Hetzner DNS does not sign zones: its name servers serve no DNSKEY or RRSIG records, and a zone there only stores DS records for children signed elsewhere (docs.hetzner.com, DNS \"technical concepts\": \"At the moment, Hetzner only supports DS records\"). Senders ignore TLSA records in such a zone. Move the zone to a host that signs it (e.g. `type = \"desec\"`), or sign it on your own primary and use `type = \"rfc2136\"`",
};

const PER_PAGE: u32 = 100;
/// A bound on pages, so a server that keeps answering cannot keep us forever.
const MAX_PAGES: u32 = 1000;

/// The Hetzner backend.
#[derive(Debug)]
pub struct Hetzner {
    api: Api,
    zone: Option<String>,
    zones: ZoneCache,
}

#[derive(Debug, Deserialize)]
struct Zone {
    id: serde_json::Value,
    name: String,
    ttl: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct ZoneList {
    zones: Vec<Zone>,
    meta: Option<Meta>,
}

#[derive(Debug, Deserialize)]
struct OneZone {
    zone: Zone,
}

#[derive(Debug, Deserialize)]
struct Meta {
    pagination: Option<Pagination>,
}

#[derive(Debug, Deserialize)]
struct Pagination {
    next_page: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct RrsetReply {
    rrset: Rrset,
}

#[derive(Debug, Deserialize)]
struct Rrset {
    ttl: Option<u32>,
    #[serde(default)]
    records: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct Value {
    value: String,
}

#[derive(Debug, Deserialize)]
struct ActionReply {
    action: Action,
}

#[derive(Debug, Deserialize)]
struct Action {
    id: u64,
    status: String,
    error: Option<ActionError>,
}

#[derive(Debug, Deserialize)]
struct ActionError {
    code: String,
    message: String,
}

/// `{"error": {"code": "invalid_input", "message": "…"}}`.
fn error_text(body: &serde_json::Value) -> Option<String> {
    let error = body.get("error")?;
    let message = error.get("message")?.as_str()?;
    Some(match error.get("code").and_then(|c| c.as_str()) {
        Some(code) => format!("{message} ({code})"),
        None => message.to_string(),
    })
}

/// 409 `uniqueness_error` ("one or more of the object's fields must be unique",
/// <https://docs.hetzner.cloud/reference/cloud#errors>): an add of a value the RRset holds.
fn already_there(reply: &crate::http::Reply) -> bool {
    reply.status.as_u16() == 409
        && serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|b| Some(b.get("error")?.get("code")?.as_str()? == "uniqueness_error"))
            .unwrap_or(false)
}

fn zone_ref(zone: &Zone) -> ZoneRef {
    let id = match &zone.id {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    ZoneRef {
        name: rest::absolute(&zone.name),
        id,
        default_ttl: zone.ttl,
    }
}

impl Hetzner {
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
        format!("/zones/{}/rrsets/{}/TLSA", segment(&zone.id), segment(name))
    }

    async fn find_zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        if let Some(name) = &self.zone {
            let path = format!("/zones/{}", segment(name.trim_end_matches('.')));
            let call = Call::get(path, name);
            let reply = self.api.send(&call).await?;
            if reply.status.as_u16() == 404 {
                let detail = format!("the project has no zone {name}");
                return Err(self.api.zone_not_found(owner, detail).into());
            }
            if !reply.status.is_success() {
                return Err(self.api.fail(&call, &reply).into());
            }
            let zone = zone_ref(&self.api.decode::<OneZone>(&call, &reply)?.zone);
            rest::inside(owner, &zone)?;
            return Ok(zone);
        }
        let mut zones = Vec::new();
        let mut page = 1;
        for _ in 0..MAX_PAGES {
            let call = Call::get("/zones", "")
                .query("page", page.to_string())
                .query("per_page", PER_PAGE.to_string());
            let list: ZoneList = self.api.send_json(&call).await?;
            let next = list.meta.and_then(|m| m.pagination?.next_page);
            let empty = list.zones.is_empty();
            zones.extend(list.zones.iter().map(zone_ref));
            match next {
                Some(next) if !empty && next > page => page = next,
                _ => break,
            }
        }
        let best = rest::longest_zone(owner, zones.iter().map(|z| z.name.as_str()));
        best.and_then(|name| zones.iter().find(|z| z.name == name).cloned())
            .ok_or_else(|| {
                let detail = format!(
                    "none of the {} zone(s) of this project holds {owner}",
                    zones.len()
                );
                self.api.zone_not_found(owner, detail).into()
            })
    }

    /// Sends an RRset action and waits until it has finished.
    async fn act(
        &self,
        zone: &ZoneRef,
        owner: &str,
        record: &Tlsa,
        action: &str,
        body: serde_json::Value,
    ) -> Result<(), BackendError> {
        let path = format!("{}/actions/{action}", Self::rrset_path(zone, owner));
        let call = Call::new(Method::POST, path, &zone.name)
            .json(body)
            .about(owner, Some(record));
        let reply = self.api.send(&call).await?;
        if action == "add_records" && already_there(&reply) {
            // The record is in the RRset already (an earlier add that the RRset read does not
            // show yet: Hetzner applies actions asynchronously). Adding is idempotent, so
            // this is done; the DNS observer, not this answer, decides when it is served.
            return Ok(());
        }
        if !reply.status.is_success() {
            return Err(self.api.fail(&call, &reply).into());
        }
        let mut action = self.api.decode::<ActionReply>(&call, &reply)?.action;
        let policy = self.api.policy();
        let mut waited = std::time::Duration::ZERO;
        while action.status == "running" {
            if waited >= policy.poll_limit {
                let reason = format!(
                    "action {} is still running after {:?}",
                    action.id, policy.poll_limit
                );
                return Err(self.api.change_failed(&zone.name, owner, reason).into());
            }
            tokio::time::sleep(policy.poll_interval).await;
            waited += policy.poll_interval;
            let poll = Call::get(format!("/actions/{}", action.id), &zone.name);
            action = self.api.send_json::<ActionReply>(&poll).await?.action;
        }
        match (action.status.as_str(), action.error) {
            ("success", _) => Ok(()),
            (status, error) => {
                let reason = match error {
                    Some(e) => format!(
                        "action {} ended {status}: {} ({})",
                        action.id, e.message, e.code
                    ),
                    None => format!("action {} ended {status}", action.id),
                };
                Err(self.api.change_failed(&zone.name, owner, reason).into())
            }
        }
    }
}

#[async_trait]
impl RecordStore for Hetzner {
    fn api(&self) -> &Api {
        &self.api
    }

    fn label(&self) -> &'static str {
        "Hetzner API"
    }

    fn dnssec(&self) -> crate::DnssecSupport {
        DNSSEC
    }

    async fn zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        self.zones.get_or_find(owner, self.find_zone(owner)).await
    }

    async fn list(&self, zone: &ZoneRef, owner: &str) -> Result<Vec<Entry>, BackendError> {
        let call = Call::get(Self::rrset_path(zone, owner), &zone.name).about(owner, None);
        let reply = self.api.send(&call).await?;
        if reply.status.as_u16() == 404 {
            return Ok(Vec::new());
        }
        if !reply.status.is_success() {
            return Err(self.api.fail(&call, &reply).into());
        }
        let rrset = self.api.decode::<RrsetReply>(&call, &reply)?.rrset;
        let ttl = rrset.ttl.or(zone.default_ttl).unwrap_or(3600);
        rrset
            .records
            .into_iter()
            .map(|v| {
                let record = v.value.parse::<Tlsa>().map_err(|e| {
                    self.api
                        .bad_response(&call, format!("TLSA record at {owner}: {e}"))
                })?;
                // Removal names the value exactly as the API holds it.
                Ok(Entry {
                    record,
                    ttl,
                    id: v.value,
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
        existing: &[Entry],
    ) -> Result<(), BackendError> {
        let value = json!({ "value": record.to_string() });
        let body = if existing.is_empty() {
            json!({ "ttl": ttl, "records": [value] })
        } else {
            json!({ "records": [value] })
        };
        self.act(zone, owner, record, "add_records", body).await
    }

    async fn delete(&self, zone: &ZoneRef, owner: &str, entry: &Entry) -> Result<(), BackendError> {
        let body = json!({ "records": [{ "value": entry.id }] });
        self.act(zone, owner, &entry.record, "remove_records", body)
            .await
    }
}

rest::rest_backend!(Hetzner, record);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_and_zone_ids() {
        let body = json!({ "error": { "code": "invalid_input", "message": "invalid TLSA", "details": {} } });
        assert_eq!(
            error_text(&body).as_deref(),
            Some("invalid TLSA (invalid_input)")
        );
        let zone: Zone =
            serde_json::from_value(json!({ "id": 42, "name": "Example.com", "ttl": 3600 }))
                .unwrap();
        let zone = zone_ref(&zone);
        assert_eq!(
            (zone.id.as_str(), zone.name.as_str()),
            ("42", "example.com.")
        );
        assert_eq!(zone.default_ttl, Some(3600));
    }
}
