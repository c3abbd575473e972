//! Technitium DNS Server through its HTTP API.
//!
//! API reference: <https://github.com/TechnitiumSoftware/DnsServer/blob/master/APIDOCS.md>
//! ("API Authentication", "API Response Format", "List Zones", "Add Record", "Get Records",
//! "Delete Record").
//!
//! - authentication: an API token (made with "Create API Token" in the web console) in
//!   `Authorization: Bearer …`, which Technitium accepts from version 15.0. Older versions take
//!   the token only as a `token` query parameter, where it would land in URLs and access logs:
//!   they are not supported;
//! - zones: `GET /api/zones/list?pageNumber=N&zonesPerPage=100` (names without the final dot,
//!   `totalPages`), the longest name ending the owner wins (internal zones are skipped);
//! - read: `GET /api/zones/records/get?domain=…&zone=…` lists every record at the name; the
//!   TLSA ones carry `rData.certificateUsage` (`DANE-EE`, …), `selector` (`SPKI`),
//!   `matchingType` (`SHA2-256`) and `certificateAssociationData` (upper-case hex); `disabled`
//!   records are not served, so they are not reported;
//! - add: `POST /api/zones/records/add?…&type=TLSA&ttl=…&tlsaCertificateUsage=…` appends one
//!   record to the RRset (no `overwrite`);
//! - remove: `POST /api/zones/records/delete?…` with the same four TLSA fields.
//!
//! Every answer is HTTP 200 with `{"status": "ok", "response": …}`, or `"status": "error"` with
//! an `errorMessage`, or `"status": "invalid-token"`; they are mapped to the typed errors (an
//! invalid token, "Access was denied" as a token without permission, "No such zone was found",
//! a record the server refused). Records are added and deleted one by one, so other records at
//! the name are never rewritten ([`crate::rest`]). One caveat of the server: adding a record
//! whose TTL differs from its RRset's rewrites the TTL of every record there, so an add always
//! passes the RRset's TTL (the backend contract keeps it anyway). Technitium signs a zone once
//! "Sign Zone" was run for it and re-signs on every change; it also accepts RFC 2136 updates
//! (`type = "rfc2136"` works too, with a TSIG key configured on the server).

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use crate::error::BackendError;
use crate::http::{Api, ApiConfig, ApiError, Auth, AuthFailure, Call, Dialect, by_status};
use crate::record::Tlsa;
use crate::rest::{self, Entry, RecordStore, ZoneCache, ZoneRef};

const PROVIDER: &str = "Technitium";

/// How technitium zones get signed; see [`crate::DnssecSupport`].
pub const DNSSEC: crate::DnssecSupport = crate::DnssecSupport {
    signs: true,
    how: "in the web console, Zones → the zone → DNSSEC → \"Sign Zone\"; then add the DS records it shows (DNSSEC properties → \"View DS\") at the parent zone",
};

const ZONES_PER_PAGE: u32 = 100;
/// A bound on pages, so a server that keeps answering cannot keep us forever.
const MAX_PAGES: u32 = 1000;

/// The Technitium backend.
#[derive(Debug)]
pub struct Technitium {
    api: Api,
    zone: Option<String>,
    zones: ZoneCache,
}

/// Every answer: `{"status": "ok" | "error" | "invalid-token", "response": …, "errorMessage": …}`.
#[derive(Debug, Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    response: Value,
    #[serde(rename = "errorMessage")]
    error_message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ZonePage {
    #[serde(default)]
    zones: Vec<ZoneInfo>,
    #[serde(rename = "totalPages")]
    total_pages: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct ZoneInfo {
    name: String,
    #[serde(default)]
    internal: bool,
}

#[derive(Debug, Deserialize)]
struct Records {
    #[serde(default)]
    records: Vec<RawRecord>,
}

#[derive(Debug, Deserialize)]
struct RawRecord {
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    ttl: Value,
    #[serde(default)]
    disabled: bool,
    #[serde(rename = "rData", default)]
    rdata: Value,
}

/// What a request that reached the server came to.
enum Answer {
    /// `"status": "ok"`, with the `response` object.
    Ok(Value),
    /// `"status": "error"` with the server's message (not a permission problem).
    Failed(String),
}

/// `{"status": "error", "errorMessage": "…", "innerErrorMessage": "…"}`.
fn error_text(body: &Value) -> Option<String> {
    let main = body.get("errorMessage")?.as_str()?;
    Some(
        match body.get("innerErrorMessage").and_then(Value::as_str) {
            Some(inner) if !inner.is_empty() => format!("{main} ({inner})"),
            _ => main.to_string(),
        },
    )
}

/// The names Technitium's API uses for the TLSA fields (its enums `DnsTLSACertificateUsage`,
/// `DnsTLSASelector`, `DnsTLSAMatchingType`); numbers it has no name for go as numbers, which it
/// parses too.
const USAGES: [&str; 4] = ["PKIX-TA", "PKIX-EE", "DANE-TA", "DANE-EE"];
const SELECTORS: [&str; 2] = ["Cert", "SPKI"];
const MATCHING: [&str; 3] = ["Full", "SHA2-256", "SHA2-512"];

fn field_name(names: &[&str], value: u8) -> String {
    names
        .get(usize::from(value))
        .map_or_else(|| value.to_string(), |name| name.to_string())
}

fn field_value(names: &[&str], text: &str) -> Option<u8> {
    let position = names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text.replace('_', "-").as_str()));
    match position {
        Some(index) => u8::try_from(index).ok(),
        None => text.parse().ok(),
    }
}

/// The four TLSA parameters of add and delete.
fn tlsa_params(record: &Tlsa) -> [(&'static str, String); 4] {
    [
        ("tlsaCertificateUsage", field_name(&USAGES, record.usage)),
        ("tlsaSelector", field_name(&SELECTORS, record.selector)),
        ("tlsaMatchingType", field_name(&MATCHING, record.mtype)),
        ("tlsaCertificateAssociationData", record.data_hex()),
    ]
}

impl RawRecord {
    fn record(&self) -> Result<Tlsa, String> {
        let text = |key: &str| {
            self.rdata
                .get(key)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("TLSA record without rData.{key}"))
        };
        let usage = text("certificateUsage")?;
        let selector = text("selector")?;
        let mtype = text("matchingType")?;
        let (Some(u), Some(s), Some(m)) = (
            field_value(&USAGES, usage),
            field_value(&SELECTORS, selector),
            field_value(&MATCHING, mtype),
        ) else {
            return Err(format!("unknown TLSA fields {usage} {selector} {mtype}"));
        };
        format!("{u} {s} {m} {}", text("certificateAssociationData")?)
            .parse()
            .map_err(|e: crate::ParseTlsaError| e.to_string())
    }

    /// The TTL: a number in authoritative listings (a `"300 (5 mins)"` string elsewhere).
    fn ttl(&self) -> Option<u32> {
        match &self.ttl {
            Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            Value::String(s) => s.split_whitespace().next()?.parse().ok(),
            _ => None,
        }
    }
}

impl Technitium {
    /// Reads the token and prepares the client. `api_url` is the web service's URL
    /// (`http://192.0.2.53:5380`); `/api` is added when it has no path.
    pub fn new(config: ApiConfig) -> Result<Self, ApiError> {
        let mut config = config;
        let mut base = config.api_url.trim_end_matches('/').to_string();
        if base.matches('/').count() <= 2 {
            base.push_str("/api");
        }
        config.api_url = base;
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

    /// Sends `call` and opens the envelope: a bad token and a refused permission become their
    /// errors, other failures are left to the caller.
    async fn request(&self, call: &Call<'_>) -> Result<Answer, BackendError> {
        let reply = self.api.send(call).await?;
        if !reply.status.is_success() {
            return Err(self.api.fail(call, &reply).into());
        }
        let envelope: Envelope = self.api.decode(call, &reply)?;
        let message = envelope.error_message.unwrap_or_default();
        match envelope.status.as_str() {
            "ok" => Ok(Answer::Ok(envelope.response)),
            "invalid-token" | "2fa-required" => Err(self
                .api
                .auth_error(call, AuthFailure::BadToken, &message)
                .into()),
            "error" if message.starts_with("Access was denied") => Err(self
                .api
                .auth_error(call, AuthFailure::Forbidden, &message)
                .into()),
            "error" => Ok(Answer::Failed(message)),
            other => Err(self
                .api
                .bad_response(call, format!("unknown status {other:?}"))
                .into()),
        }
    }

    /// The `response` of a read, or the error the failure means.
    async fn read_call<T: serde::de::DeserializeOwned>(
        &self,
        call: &Call<'_>,
    ) -> Result<T, BackendError> {
        match self.request(call).await? {
            Answer::Ok(response) => serde_json::from_value(response)
                .map_err(|e| self.api.bad_response(call, e.to_string()).into()),
            Answer::Failed(message) if message.starts_with("No such zone was found") => {
                let owner = call.owner.unwrap_or(call.zone);
                Err(self.api.zone_not_found(owner, message).into())
            }
            Answer::Failed(message) => Err(self.api.refused(call, 200, &message).into()),
        }
    }

    async fn find_zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        if let Some(name) = &self.zone {
            let zone = zone_ref(name);
            rest::inside(owner, &zone)?;
            return Ok(zone);
        }
        let mut names = Vec::new();
        for page in 1..=MAX_PAGES {
            let call = Call::get("/zones/list", "")
                .query("pageNumber", page.to_string())
                .query("zonesPerPage", ZONES_PER_PAGE.to_string());
            let list: ZonePage = self.read_call(&call).await?;
            let empty = list.zones.is_empty();
            names.extend(
                list.zones
                    .into_iter()
                    .filter(|z| !z.internal)
                    .map(|z| z.name),
            );
            if empty || page >= list.total_pages.unwrap_or(1) {
                break;
            }
        }
        let best = rest::longest_zone(owner, names.iter().map(String::as_str));
        best.map(|name| zone_ref(&name)).ok_or_else(|| {
            let detail = format!(
                "none of the {} zone(s) on this server holds {owner}",
                names.len()
            );
            self.api.zone_not_found(owner, detail).into()
        })
    }

    /// A write: `add` or `delete` of one TLSA record.
    fn write_call<'a>(
        &self,
        verb: &str,
        zone: &'a ZoneRef,
        owner: &'a str,
        record: &'a Tlsa,
    ) -> Call<'a> {
        let mut call = Call::new(Method::POST, format!("/zones/records/{verb}"), &zone.name)
            .query("domain", owner.trim_end_matches('.'))
            .query("zone", zone.id.clone())
            .query("type", "TLSA")
            .about(owner, Some(record));
        for (key, value) in tlsa_params(record) {
            call = call.query(key, value);
        }
        call
    }
}

/// Technitium names zones without the final dot; the root is `""`.
fn zone_ref(name: &str) -> ZoneRef {
    let name = rest::absolute(name);
    ZoneRef {
        id: name.trim_end_matches('.').to_string(),
        name,
        default_ttl: None,
    }
}

#[async_trait]
impl RecordStore for Technitium {
    fn api(&self) -> &Api {
        &self.api
    }

    fn label(&self) -> &'static str {
        "Technitium API"
    }

    fn dnssec(&self) -> crate::DnssecSupport {
        DNSSEC
    }

    async fn zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        self.zones.get_or_find(owner, self.find_zone(owner)).await
    }

    async fn list(&self, zone: &ZoneRef, owner: &str) -> Result<Vec<Entry>, BackendError> {
        let call = Call::get("/zones/records/get", &zone.name)
            .query("domain", owner.trim_end_matches('.'))
            .query("zone", zone.id.clone())
            .about(owner, None);
        let listed: Records = self.read_call(&call).await?;
        listed
            .records
            .iter()
            .filter(|r| r.rtype == "TLSA" && !r.disabled && rest::absolute(&r.name) == owner)
            .map(|r| {
                let bad = |reason: String| {
                    BackendError::from(
                        self.api
                            .bad_response(&call, format!("TLSA record at {owner}: {reason}")),
                    )
                };
                let record = r.record().map_err(bad)?;
                let ttl = r.ttl().ok_or_else(|| bad(format!("no TTL in {}", r.ttl)))?;
                Ok(Entry {
                    id: record.to_string(),
                    record,
                    ttl,
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
        let call = self
            .write_call("add", zone, owner, record)
            .query("ttl", ttl.to_string());
        match self.request(&call).await? {
            Answer::Ok(_) => Ok(()),
            Answer::Failed(message) if message.starts_with("No such zone was found") => {
                Err(self.api.zone_not_found(owner, message).into())
            }
            Answer::Failed(message) => Err(self.api.refused(&call, 200, &message).into()),
        }
    }

    async fn delete(&self, zone: &ZoneRef, owner: &str, entry: &Entry) -> Result<(), BackendError> {
        let call = self.write_call("delete", zone, owner, &entry.record);
        match self.request(&call).await? {
            Answer::Ok(_) => Ok(()),
            // Someone deleted it first: it is gone, which is what we wanted.
            Answer::Failed(message) if message.contains("no such record exists") => Ok(()),
            Answer::Failed(message) if message.starts_with("No such zone was found") => {
                Err(self.api.zone_not_found(owner, message).into())
            }
            Answer::Failed(message) => Err(self.api.refused(&call, 200, &message).into()),
        }
    }
}

rest::rest_backend!(Technitium, record);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tlsa_fields_by_name_and_number() {
        let record = Tlsa::new(3, 1, 1, vec![0xab; 32]);
        let params = tlsa_params(&record);
        assert_eq!(params[0].1, "DANE-EE");
        assert_eq!(params[1].1, "SPKI");
        assert_eq!(params[2].1, "SHA2-256");
        assert_eq!(field_name(&USAGES, 255), "255");
        assert_eq!(field_value(&MATCHING, "SHA2_512"), Some(2));
        assert_eq!(field_value(&USAGES, "dane-ta"), Some(2));
        assert_eq!(field_value(&SELECTORS, "255"), Some(255));
        assert_eq!(field_value(&SELECTORS, "Whole"), None);
    }

    #[test]
    fn records_parse_as_listed() {
        let raw: RawRecord = serde_json::from_value(json!({
            "name": "_25._tcp.mail.example.com", "type": "TLSA", "ttl": 300, "disabled": false,
            "rData": { "certificateUsage": "DANE-EE", "selector": "SPKI",
                       "matchingType": "SHA2-256", "certificateAssociationData": "AB".repeat(32) },
        }))
        .unwrap();
        assert_eq!(raw.record().unwrap(), Tlsa::new(3, 1, 1, vec![0xab; 32]));
        assert_eq!(raw.ttl(), Some(300));
        let text_ttl = RawRecord {
            ttl: json!("3600 (1 hour)"),
            ..raw
        };
        assert_eq!(text_ttl.ttl(), Some(3600));
    }

    #[test]
    fn error_bodies() {
        let body = json!({ "status": "error", "errorMessage": "No such zone was found: x", "innerErrorMessage": "" });
        assert_eq!(
            error_text(&body).as_deref(),
            Some("No such zone was found: x")
        );
        assert_eq!(
            zone_ref("Example.com").id,
            "example.com",
            "zone ids have no final dot"
        );
    }
}
