//! Porkbun DNS through the Porkbun API v3.
//!
//! API reference: <https://porkbun.com/api/json/v3/documentation> (every call is a `POST` of a
//! JSON body that carries `apikey` and `secretapikey`; answers `{"status": "SUCCESS", …}` or
//! `{"status": "ERROR", "message": "…"}`), with the sections "Domain List All" (`start`, 1000
//! domains a page, "increment by 1000 until you receive an empty array"), "DNS Create Record"
//! (`name` relative, `type`, `content`, `ttl`: "the minimum and the default is 600 seconds"),
//! "DNS Delete Record by Domain and ID" and "DNS Retrieve Records by Domain, Subdomain and Type"
//! (`ttl` as a string, `name` the full name); the OpenAPI form is
//! <https://porkbun.com/api/json/v3/spec>.
//!
//! - credential: one secret, `APIKEY:SECRETAPIKEY` (`pk1_…:sk1_…`), from the file or variable
//!   the config names; both go into each request's JSON body, never into a URL or header;
//! - zones: `POST /domain/listAll` with `start` 0, 1000, … until a page is empty; the longest
//!   domain ending the owner wins (Porkbun hosts DNS only for the domains it registers);
//! - read: `POST /dns/retrieveByNameType/{domain}/TLSA/{subdomain}` (no subdomain at the apex);
//! - add: `POST /dns/create/{domain}` `{"name", "type": "TLSA", "content", "ttl"}`;
//! - remove: `POST /dns/delete/{domain}/{id}`.
//!
//! TTLs below 600 s are raised to 600 s, as Porkbun would store them anyway; the read reports
//! what Porkbun holds, so the rollover waits on the real TTL. Records are created and deleted
//! one by one ([`crate::rest`]); there is no conditional delete. A domain needs "API ACCESS"
//! switched on in Porkbun's domain management, else every call about it is refused ("not opted
//! in to API access"), reported as a credential without permission. Porkbun's name servers sign
//! the zone once DNSSEC is switched on for the domain in its DNS settings.

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::Error as _;
use serde_json::json;

use crate::credential::{CredentialError, Secret};
use crate::error::BackendError;
use crate::http::{Api, ApiConfig, ApiError, Auth, AuthFailure, Call, Dialect, Reply, segment};
use crate::record::Tlsa;
use crate::rest::{self, Entry, RecordStore, ZoneCache, ZoneRef};

const PROVIDER: &str = "Porkbun";

/// Porkbun's API.
pub const DEFAULT_API_URL: &str = "https://api.porkbun.com/api/json/v3";

/// How porkbun zones get signed; see [`crate::DnssecSupport`].
pub const DNSSEC: crate::DnssecSupport = crate::DnssecSupport {
    signs: true,
    how: "in Porkbun's domain management, the domain → \"DNSSEC\": Porkbun's name servers sign the zone once DNSSEC is on; as the domain's registrar Porkbun also publishes the DS",
};

/// The smallest TTL Porkbun stores.
pub const MINIMUM_TTL: u32 = 600;
/// A bound on zone-list pages, so a server that keeps answering cannot keep us forever.
const MAX_PAGES: usize = 1000;

/// The Porkbun backend.
#[derive(Debug)]
pub struct Porkbun {
    api: Api,
    api_key: Secret,
    secret_key: Secret,
    zone: Option<String>,
    zones: ZoneCache,
}

#[derive(Debug, Deserialize)]
struct DomainList {
    #[serde(default)]
    domains: Vec<Domain>,
}

#[derive(Debug, Deserialize)]
struct Domain {
    domain: String,
}

#[derive(Debug, Deserialize)]
struct RecordList {
    #[serde(default)]
    records: Vec<Record>,
}

#[derive(Debug, Deserialize)]
struct Record {
    #[serde(deserialize_with = "text_or_number")]
    id: String,
    #[serde(rename = "type")]
    rtype: String,
    content: String,
    #[serde(deserialize_with = "text_or_number")]
    ttl: String,
}

/// Porkbun sends ids and TTLs as strings, and ids as numbers in some answers.
fn text_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        other => Err(D::Error::custom(format!(
            "expected text or number, got {other}"
        ))),
    }
}

/// `{"status": "ERROR", "message": "…"}`.
fn error_text(body: &serde_json::Value) -> Option<String> {
    Some(body.get("message")?.as_str()?.to_string())
}

fn auth_failure(status: StatusCode, body: &serde_json::Value) -> Option<AuthFailure> {
    let message = error_text(body).unwrap_or_default().to_ascii_lowercase();
    if message.contains("invalid api key") || status == StatusCode::UNAUTHORIZED {
        Some(AuthFailure::BadToken)
    } else if message.contains("api access") || status == StatusCode::FORBIDDEN {
        Some(AuthFailure::Forbidden)
    } else {
        None
    }
}

impl Porkbun {
    /// Reads the credential (`APIKEY:SECRETAPIKEY`) and prepares the client.
    pub fn new(config: ApiConfig) -> Result<Self, ApiError> {
        let credential = config.token.load().map_err(|source| ApiError::Credential {
            provider: PROVIDER,
            source,
        })?;
        let Some([api_key, secret_key]) = credential
            .split(2)
            .and_then(|parts| <[Secret; 2]>::try_from(parts).ok())
        else {
            return Err(ApiError::Credential {
                provider: PROVIDER,
                source: CredentialError::BadFormat {
                    source_name: config.token.to_string(),
                    expected: "APIKEY:SECRETAPIKEY (the API key and the secret API key Porkbun \
                               showed when the key was created, joined by a colon)",
                },
            });
        };
        let dialect = Dialect {
            error_text,
            auth_failure,
        };
        let api = Api::new(
            PROVIDER,
            &config.api_url,
            Auth::IN_BODY,
            &config.token,
            credential,
            config.retry.clone(),
            dialect,
        )?;
        Ok(Self {
            api: api.with_hidden(vec![api_key.clone(), secret_key.clone()]),
            api_key,
            secret_key,
            zone: config.zone.as_deref().map(rest::absolute),
            zones: ZoneCache::default(),
        })
    }

    /// A call with the credential and `fields` in its JSON body.
    fn call<'a>(&self, path: String, zone: &'a str, fields: serde_json::Value) -> Call<'a> {
        let mut body = json!({
            "apikey": self.api_key.expose(),
            "secretapikey": self.secret_key.expose(),
        });
        if let (Some(body), Some(fields)) = (body.as_object_mut(), fields.as_object()) {
            body.extend(fields.clone());
        }
        Call::new(Method::POST, path, zone).json(body)
    }

    /// The answer's body if Porkbun says `SUCCESS`, else the error it words.
    fn success(&self, call: &Call<'_>, reply: &Reply) -> Result<(), BackendError> {
        let status = serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|b| Some(b.get("status")?.as_str()?.to_string()));
        if reply.status.is_success() && status.as_deref() == Some("SUCCESS") {
            Ok(())
        } else if reply.status.is_success() {
            let message = self.api.message(reply);
            Err(self
                .api
                .refused(call, reply.status.as_u16(), &message)
                .into())
        } else {
            Err(self.api.fail(call, reply).into())
        }
    }

    async fn domains(&self) -> Result<Vec<String>, BackendError> {
        let mut names = Vec::new();
        for _ in 0..MAX_PAGES {
            let call = self.call(
                "/domain/listAll".into(),
                "",
                json!({ "start": names.len().to_string(), "includeLabels": "no" }),
            );
            let reply = self.api.send(&call).await?;
            self.success(&call, &reply)?;
            let page: DomainList = self.api.decode(&call, &reply)?;
            if page.domains.is_empty() {
                break;
            }
            names.extend(page.domains.into_iter().map(|d| d.domain));
        }
        Ok(names)
    }

    async fn find_zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        let domains = self.domains().await?;
        let name = match &self.zone {
            Some(name) => {
                if !domains.iter().any(|d| rest::absolute(d) == *name) {
                    let detail = format!("the account has no domain {name}");
                    return Err(self.api.zone_not_found(owner, detail).into());
                }
                name.clone()
            }
            None => {
                rest::longest_zone(owner, domains.iter().map(String::as_str)).ok_or_else(|| {
                    let detail = format!(
                        "none of the {} domain(s) of this account holds {owner}",
                        domains.len()
                    );
                    BackendError::from(self.api.zone_not_found(owner, detail))
                })?
            }
        };
        let zone = ZoneRef {
            id: segment(name.trim_end_matches('.')),
            name,
            default_ttl: None,
        };
        rest::inside(owner, &zone)?;
        Ok(zone)
    }
}

#[async_trait]
impl RecordStore for Porkbun {
    fn api(&self) -> &Api {
        &self.api
    }

    fn label(&self) -> &'static str {
        "Porkbun API"
    }

    fn dnssec(&self) -> crate::DnssecSupport {
        DNSSEC
    }

    async fn zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        self.zones.get_or_find(owner, self.find_zone(owner)).await
    }

    async fn list(&self, zone: &ZoneRef, owner: &str) -> Result<Vec<Entry>, BackendError> {
        let sub = rest::relative(owner, &zone.name).unwrap_or_default();
        let path = if sub.is_empty() {
            format!("/dns/retrieveByNameType/{}/TLSA", zone.id)
        } else {
            format!("/dns/retrieveByNameType/{}/TLSA/{}", zone.id, segment(sub))
        };
        let call = self.call(path, &zone.name, json!({})).about(owner, None);
        let reply = self.api.send(&call).await?;
        self.success(&call, &reply)?;
        let list: RecordList = self.api.decode(&call, &reply)?;
        list.records
            .into_iter()
            .filter(|r| r.rtype == "TLSA")
            .map(|r| {
                let bad = |reason: String| {
                    self.api
                        .bad_response(&call, format!("TLSA record {} at {owner}: {reason}", r.id))
                };
                let record = r.content.parse::<Tlsa>().map_err(|e| bad(e.to_string()))?;
                let ttl = r
                    .ttl
                    .trim()
                    .parse::<u32>()
                    .map_err(|e| bad(e.to_string()))?;
                Ok(Entry {
                    record,
                    ttl,
                    id: r.id,
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
        let sub = rest::relative(owner, &zone.name).unwrap_or_default();
        let fields = json!({
            "name": sub,
            "type": "TLSA",
            "content": record.to_string(),
            "ttl": ttl.max(MINIMUM_TTL).to_string(),
        });
        let call = self
            .call(format!("/dns/create/{}", zone.id), &zone.name, fields)
            .about(owner, Some(record));
        let posted = match self.api.send(&call).await {
            Ok(reply) => self.success(&call, &reply),
            Err(error) => Err(error.into()),
        };
        // Whatever the answer, look at what Porkbun holds now: nothing documents that it
        // refuses an identical record, so a create retried after a lost answer may have made
        // two, and a create that failed in the end may have been applied by an earlier attempt.
        let ours: Vec<Entry> = self
            .list(zone, owner)
            .await?
            .into_iter()
            .filter(|e| &e.record == record)
            .collect();
        let Some((_, extra)) = ours.split_first() else {
            posted?;
            let reason = "the API accepted the record but does not list it";
            return Err(self.api.change_failed(&zone.name, owner, reason).into());
        };
        for entry in extra {
            self.delete(zone, owner, entry).await?;
        }
        Ok(())
    }

    async fn delete(&self, zone: &ZoneRef, owner: &str, entry: &Entry) -> Result<(), BackendError> {
        let path = format!("/dns/delete/{}/{}", zone.id, segment(&entry.id));
        let call = self
            .call(path, &zone.name, json!({}))
            .about(owner, Some(&entry.record));
        let reply = self.api.send(&call).await?;
        self.success(&call, &reply)
    }
}

rest::rest_backend!(Porkbun, record);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_by_message() {
        let invalid = json!({ "status": "ERROR", "message": "Invalid API key. (002)" });
        assert_eq!(
            auth_failure(StatusCode::BAD_REQUEST, &invalid),
            Some(AuthFailure::BadToken)
        );
        let opted_out =
            json!({ "status": "ERROR", "message": "Domain is not opted in to API access." });
        assert_eq!(
            auth_failure(StatusCode::BAD_REQUEST, &opted_out),
            Some(AuthFailure::Forbidden)
        );
        let bad = json!({ "status": "ERROR", "message": "Invalid record content." });
        assert_eq!(auth_failure(StatusCode::BAD_REQUEST, &bad), None);
    }

    #[test]
    fn ids_and_ttls_come_as_text_or_numbers() {
        let record: Record = serde_json::from_value(json!({
            "id": 106926659, "name": "_25._tcp.mx.example.com", "type": "TLSA",
            "content": "3 1 1 ab", "ttl": "600", "prio": "0", "notes": "",
        }))
        .unwrap();
        assert_eq!(
            (record.id.as_str(), record.ttl.as_str()),
            ("106926659", "600")
        );
    }
}
