//! deSEC (<https://desec.io>) through its REST API.
//!
//! API reference: <https://desec.readthedocs.io/en/latest/dns/rrsets.html> (RRsets),
//! <https://desec.readthedocs.io/en/latest/dns/domains.html> (domains, `owns_qname`),
//! <https://desec.readthedocs.io/en/latest/rate-limits.html> (429 with `Retry-After`),
//! <https://desec.readthedocs.io/en/latest/auth/tokens.html> (`Authorization: Token …`).
//!
//! - zone: `GET /domains/?owns_qname={name}` returns the account's domain responsible for the
//!   name (the longest match), or an empty list;
//! - read: `GET /domains/{domain}/rrsets/{subname}/TLSA/` (`@` is the apex), 404 when absent;
//! - write: `PUT` to the same URL replaces an existing RRset; `POST /domains/{domain}/rrsets/`
//!   creates one; `DELETE` the URL when no record is left (204 even if it was gone already).
//!
//! The API replaces whole RRsets, so one record is added or removed by read-modify-write with a
//! verifying re-read ([`crate::rest`] documents the race window). deSEC limits RRset writes to
//! 2/s and 15/min per domain and answers 429 with `Retry-After` beyond: [`crate::http`]
//! honours it within its retry budget, and a longer wait fails with the time deSEC asked for.
//! TTLs below the domain's `minimum_ttl` (3600 s by default) are refused with 400, reported as
//! the record rejected with deSEC's explanation. deSEC signs every zone (DNSSEC) itself.

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::TlsaRrset;
use crate::error::BackendError;
use crate::http::{Api, ApiConfig, ApiError, Auth, Call, Dialect, by_status, segment};
use crate::record::Tlsa;
use crate::rest::{self, RrsetStore, ZoneCache, ZoneRef};

const PROVIDER: &str = "deSEC";

/// deSEC's public API.
pub const DEFAULT_API_URL: &str = "https://desec.io/api/v1";

/// How desec zones get signed; see [`crate::DnssecSupport`].
pub const DNSSEC: crate::DnssecSupport = crate::DnssecSupport {
    signs: true,
    how: "automatic: deSEC signs every zone; add the DS records deSEC shows for the domain at the registrar (names under dedyn.io get them automatically)",
};

/// The deSEC backend.
#[derive(Debug)]
pub struct Desec {
    api: Api,
    zone: Option<String>,
    zones: ZoneCache,
}

#[derive(Debug, Deserialize)]
struct Domain {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Rrset {
    ttl: Option<u32>,
    #[serde(default)]
    records: Vec<String>,
}

/// `{"detail": "…"}`, or field errors `{"ttl": ["…"], "records": ["…"]}`, or a list of those
/// (bulk requests; also `[{"non_field_errors": […]}]`).
fn error_text(body: &serde_json::Value) -> Option<String> {
    match body {
        serde_json::Value::Object(map) => {
            if let Some(detail) = map.get("detail").and_then(|d| d.as_str()) {
                return Some(detail.to_string());
            }
            let parts: Vec<String> = map
                .iter()
                .filter_map(|(field, value)| {
                    let text = match value {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Array(items) => items
                            .iter()
                            .map(|i| error_text(i).unwrap_or_else(|| i.to_string()))
                            .collect::<Vec<_>>()
                            .join(" "),
                        other => error_text(other)?,
                    };
                    Some(format!("{field}: {text}"))
                })
                .collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        serde_json::Value::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(error_text).collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        serde_json::Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

impl Desec {
    /// Reads the token and prepares the client.
    pub fn new(config: ApiConfig) -> Result<Self, ApiError> {
        let auth = Auth {
            header: "authorization",
            scheme: Some("Token"),
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
        let sub = rest::relative(owner, &zone.name).unwrap_or_default();
        let sub = if sub.is_empty() { "@" } else { sub };
        format!(
            "/domains/{}/rrsets/{}/TLSA/",
            segment(&zone.id),
            segment(sub)
        )
    }

    async fn find_zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        let name = match &self.zone {
            Some(name) => name.clone(),
            None => {
                let call = Call::get("/domains/", "")
                    .query("owns_qname", owner.trim_end_matches('.'))
                    .about(owner, None);
                let domains: Vec<Domain> = self.api.send_json(&call).await?;
                let names = domains.iter().map(|d| d.name.as_str());
                rest::longest_zone(owner, names).ok_or_else(|| {
                    self.api
                        .zone_not_found(owner, format!("no domain of this account holds {owner}"))
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

    fn zone_missing(&self, zone: &ZoneRef, owner: &str, reply: &crate::http::Reply) -> ApiError {
        let message = self.api.message(reply);
        let detail = format!("domain {} is not in this account ({message})", zone.name);
        self.api.zone_not_found(owner, detail)
    }
}

#[async_trait]
impl RrsetStore for Desec {
    fn api(&self) -> &Api {
        &self.api
    }

    fn label(&self) -> &'static str {
        "deSEC API"
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
            .records
            .iter()
            .map(|text| text.parse::<Tlsa>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                self.api
                    .bad_response(&call, format!("TLSA record at {owner}: {e}"))
            })?;
        Ok(TlsaRrset::new(records, rrset.ttl))
    }

    async fn store(
        &self,
        zone: &ZoneRef,
        owner: &str,
        before: &TlsaRrset,
        after: &TlsaRrset,
        record: &Tlsa,
    ) -> Result<(), BackendError> {
        let subname = rest::relative(owner, &zone.name).unwrap_or_default();
        let body = || {
            let records: Vec<String> = after.records().iter().map(Tlsa::to_string).collect();
            json!({
                "subname": subname,
                "type": "TLSA",
                "ttl": after.ttl(),
                "records": records,
            })
        };
        let path = Self::rrset_path(zone, owner);
        let call = if after.is_empty() {
            Call::new(Method::DELETE, path, &zone.name)
        } else if before.is_empty() {
            let path = format!("/domains/{}/rrsets/", segment(&zone.id));
            Call::new(Method::POST, path, &zone.name).json(body())
        } else {
            Call::new(Method::PUT, path, &zone.name).json(body())
        };
        let call = call.about(owner, Some(record));
        let reply = self.api.send(&call).await?;
        let creating = call.method == Method::POST;
        match reply.status.as_u16() {
            200..=299 => Ok(()),
            404 if creating => Err(self.zone_missing(zone, owner, &reply).into()),
            // Someone created the RRset between our read and our POST: the verifying re-read
            // sees it and the engine does the change again, this time as a PUT.
            400 if creating && !self.load(zone, owner).await?.is_empty() => Ok(()),
            // The RRset vanished between our read and our PUT: the verifying re-read sees the
            // result and the engine decides again.
            404 => Ok(()),
            _ => Err(self.api.fail(&call, &reply).into()),
        }
    }
}

rest::rest_backend!(Desec, rrset);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let detail = json!({ "detail": "Invalid token." });
        assert_eq!(error_text(&detail).as_deref(), Some("Invalid token."));
        let fields = json!({ "ttl": ["Ensure this value is greater than or equal to 3600."] });
        assert_eq!(
            error_text(&fields).as_deref(),
            Some("ttl: Ensure this value is greater than or equal to 3600.")
        );
        let bulk = json!([{}, { "records": ["bad"] }]);
        assert_eq!(error_text(&bulk).as_deref(), Some("records: bad"));
    }
}
