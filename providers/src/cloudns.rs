//! ClouDNS through its HTTP API.
//!
//! API reference: <https://www.cloudns.net/wiki/article/42/> (authentication: `auth-id` or
//! `sub-auth-id` with `auth-password`, as request parameters; API sub-users can be limited to
//! some zones), <https://www.cloudns.net/wiki/article/104/> (zones: `dns/list-zones.json` with
//! `page` and `rows-per-page` 10/20/30/50/100, `dns/get-pages-count.json`),
//! <https://www.cloudns.net/wiki/article/134/> (`dns/get-zone-info.json`),
//! <https://www.cloudns.net/wiki/article/57/> (`dns/records.json` with `host` and `type`: an
//! object keyed by record id, or `[]`), <https://www.cloudns.net/wiki/article/58/>
//! (`dns/add-record.json`; TLSA takes `tlsa_usage`, `tlsa_selector`, `tlsa_matching_type` and
//! the data in `record`), <https://www.cloudns.net/wiki/article/59/> (`dns/delete-record.json`)
//! and <https://www.cloudns.net/wiki/article/188/> (`dns/get-available-ttl.json`: 60, 300,
//! 900, 1800, 3600, 21600, 43200, 86400, 172800, 259200, 604800, 1209600, 2592000). Answers
//! are HTTP 200 whatever happened: `{"status": "Success"|"Failed", "statusDescription": "…"}`;
//! too many requests are "Failed" with "Request blocked. … is sending more than …".
//!
//! - credential: `AUTH_ID:PASSWORD`, or `sub:SUB_AUTH_ID:PASSWORD` for an API sub-user (the
//!   right choice: it can be given only the zones daneroll edits). Every call is a `POST`
//!   whose form body carries them, never the URL;
//! - zones: the configured one (`dns/get-zone-info.json`), else `dns/get-pages-count.json`
//!   then every page of `dns/list-zones.json` (100 a page); the longest name ending the owner
//!   wins;
//! - read: `dns/records.json` with `host` (relative, empty at the apex) and `type=TLSA`;
//! - add: `dns/add-record.json`; remove: `dns/delete-record.json` with `record-id`.
//!
//! TTLs are raised to the next value ClouDNS accepts (it refuses any other). Records are
//! created and deleted one by one ([`crate::rest`]); there is no conditional delete. A
//! "Request blocked" answer is retried after the waits of [`crate::http::RetryPolicy`], within
//! its budget, like a 429 elsewhere. ClouDNS signs a zone once DNSSEC is activated for it (in
//! the control panel, on the plans that include DNSSEC); the DS it shows goes to the registrar.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use crate::credential::{CredentialError, Secret};
use crate::error::BackendError;
use crate::http::{Api, ApiConfig, ApiError, Auth, AuthFailure, Call, Dialect, Reply};
use crate::record::Tlsa;
use crate::rest::{self, Entry, RecordStore, ZoneCache, ZoneRef};

const PROVIDER: &str = "ClouDNS";

/// What the credential looks like, for errors.
pub(crate) const CREDENTIAL_FORM: &str =
    "AUTH_ID:PASSWORD, or sub:SUB_AUTH_ID:PASSWORD for an API sub-user";

/// ClouDNS's API.
pub const DEFAULT_API_URL: &str = "https://api.cloudns.net";

/// How cloudns zones get signed; see [`crate::DnssecSupport`].
pub const DNSSEC: crate::DnssecSupport = crate::DnssecSupport {
    signs: true,
    how: "in the ClouDNS control panel, the zone → \"DNSSEC\" (activate; on the plans that include DNSSEC): ClouDNS signs the zone; add the DS records it shows at the registrar",
};

/// The TTLs ClouDNS accepts.
pub const TTLS: [u32; 13] = [
    60, 300, 900, 1800, 3600, 21600, 43200, 86400, 172800, 259200, 604800, 1209600, 2592000,
];
const ROWS_PER_PAGE: u32 = 100;
/// A bound on pages, so a server that keeps answering cannot keep us forever.
const MAX_PAGES: u32 = 1000;

/// The ClouDNS backend.
#[derive(Debug)]
pub struct Cloudns {
    api: Api,
    /// `auth-id` or `sub-auth-id`, and its value.
    id: (&'static str, Secret),
    password: Secret,
    zone: Option<String>,
    zones: ZoneCache,
}

#[derive(Debug, Deserialize)]
struct Status {
    status: String,
}

#[derive(Debug, Deserialize)]
struct ZoneInfo {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Record {
    id: String,
    #[serde(rename = "type")]
    rtype: String,
    #[serde(default)]
    host: String,
    record: String,
    ttl: String,
    #[serde(default)]
    tlsa_usage: Option<String>,
    #[serde(default)]
    tlsa_selector: Option<String>,
    #[serde(default)]
    tlsa_matching_type: Option<String>,
}

/// `{"status": "Failed", "statusDescription": "…"}`.
fn error_text(body: &serde_json::Value) -> Option<String> {
    Some(body.get("statusDescription")?.as_str()?.to_string())
}

/// ClouDNS words every refusal in an HTTP 200 body; this reads it.
fn failure(description: &str) -> Option<AuthFailure> {
    let text = description.to_ascii_lowercase();
    if text.contains("invalid authentication") || text.contains("incorrect auth") {
        Some(AuthFailure::BadToken)
    } else if text.contains("permission") || text.contains("not allowed") {
        Some(AuthFailure::Forbidden)
    } else {
        None
    }
}

fn auth_failure(status: StatusCode, body: &serde_json::Value) -> Option<AuthFailure> {
    error_text(body)
        .as_deref()
        .and_then(failure)
        .or(match status {
            StatusCode::UNAUTHORIZED => Some(AuthFailure::BadToken),
            StatusCode::FORBIDDEN => Some(AuthFailure::Forbidden),
            _ => None,
        })
}

/// What a ClouDNS credential names: `AUTH_ID:PASSWORD` → (`auth-id`, id, password),
/// `sub:SUB_AUTH_ID:PASSWORD` → (`sub-auth-id`, id, password); `None` if it is neither.
pub(crate) fn parse_credential(credential: &Secret) -> Option<(&'static str, Secret, Secret)> {
    let text = credential.expose();
    let (kind, rest) = match text.strip_prefix("sub:") {
        Some(rest) => ("sub-auth-id", rest),
        None => ("auth-id", text),
    };
    let (id, password) = rest.split_once(':')?;
    let numeric = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
    (numeric && !password.is_empty()).then(|| (kind, Secret::new(id), Secret::new(password)))
}

/// The smallest TTL ClouDNS accepts that is at least `ttl`.
pub fn accepted_ttl(ttl: u32) -> u32 {
    TTLS.into_iter()
        .find(|t| *t >= ttl)
        .unwrap_or(TTLS[TTLS.len() - 1])
}

impl Cloudns {
    /// Reads the credential and prepares the client.
    pub fn new(config: ApiConfig) -> Result<Self, ApiError> {
        let credential = config.token.load().map_err(|source| ApiError::Credential {
            provider: PROVIDER,
            source,
        })?;
        let bad = || ApiError::Credential {
            provider: PROVIDER,
            source: CredentialError::BadFormat {
                source_name: config.token.to_string(),
                expected: CREDENTIAL_FORM,
            },
        };
        let (kind, id, password) = parse_credential(&credential).ok_or_else(bad)?;
        let dialect = Dialect {
            error_text,
            auth_failure,
        };
        let api = Api::new(
            PROVIDER,
            &config.api_url,
            Auth::IN_BODY,
            &config.token,
            credential.clone(),
            config.retry.clone(),
            dialect,
        )?
        .with_hidden(vec![password.clone()]);
        Ok(Self {
            api,
            id: (kind, id),
            password,
            zone: config.zone.as_deref().map(rest::absolute),
            zones: ZoneCache::default(),
        })
    }

    /// Sends `endpoint` with `params` and the credential as a form; retries "Request blocked"
    /// answers; returns a successful answer, or the error ClouDNS words.
    async fn post(
        &self,
        endpoint: &str,
        zone: &str,
        params: Vec<(&str, String)>,
        about: Option<(&str, Option<&Tlsa>)>,
    ) -> Result<Reply, BackendError> {
        let mut pairs = vec![
            (self.id.0, self.id.1.expose().to_string()),
            ("auth-password", self.password.expose().to_string()),
        ];
        pairs.extend(params);
        let mut call = Call::new(Method::POST, endpoint, zone).form(pairs);
        if let Some((owner, record)) = about {
            call = call.about(owner, record);
        }
        let policy = self.api.policy();
        let mut waited = Duration::ZERO;
        let mut attempt = 0;
        loop {
            let reply = self.api.send(&call).await?;
            if !reply.status.is_success() {
                return Err(self.api.fail(&call, &reply).into());
            }
            let failed = serde_json::from_slice::<Status>(&reply.body)
                .is_ok_and(|s| s.status.eq_ignore_ascii_case("failed"));
            if !failed {
                return Ok(reply);
            }
            let message = self.api.message(&reply);
            if message.contains("Request blocked") {
                match policy.delays.get(attempt) {
                    Some(wait) if waited + *wait <= policy.budget => {
                        tokio::time::sleep(*wait).await;
                        waited += *wait;
                        attempt += 1;
                        continue;
                    }
                    _ => {
                        return Err(ApiError::RateLimited {
                            provider: PROVIDER,
                            at: Box::new(self.api.target(zone)),
                            attempts: attempt as u32 + 1,
                            status: 200,
                            retry_after: None,
                        }
                        .into());
                    }
                }
            }
            return Err(match failure(&message) {
                Some(kind) => self.api.auth_error(&call, kind, &message),
                None => self.api.refused(&call, 200, &message),
            }
            .into());
        }
    }

    async fn find_zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        if let Some(name) = &self.zone {
            let id = name.trim_end_matches('.').to_string();
            let params = vec![("domain-name", id.clone())];
            let info = match self
                .post("/dns/get-zone-info.json", name, params, None)
                .await
            {
                Ok(reply) => reply,
                Err(BackendError::Api(ApiError::Rejected { message, .. })) => {
                    let detail = format!("the account has no zone {name} ({message})");
                    return Err(self.api.zone_not_found(owner, detail).into());
                }
                Err(other) => return Err(other),
            };
            let call = Call::get("/dns/get-zone-info.json", name);
            let info: ZoneInfo = self.api.decode(&call, &info)?;
            let zone = zone_ref(&info.name);
            rest::inside(owner, &zone)?;
            return Ok(zone);
        }
        let rows = ("rows-per-page", ROWS_PER_PAGE.to_string());
        let reply = self
            .post("/dns/get-pages-count.json", "", vec![rows.clone()], None)
            .await?;
        let count_call = Call::get("/dns/get-pages-count.json", "");
        let pages: u32 = self.api.decode(&count_call, &reply)?;
        let mut names = Vec::new();
        for page in 1..=pages.clamp(1, MAX_PAGES) {
            let params = vec![("page", page.to_string()), rows.clone()];
            let reply = self.post("/dns/list-zones.json", "", params, None).await?;
            let list_call = Call::get("/dns/list-zones.json", "");
            let zones: Vec<ZoneInfo> = self.api.decode(&list_call, &reply)?;
            names.extend(zones.into_iter().map(|z| z.name));
        }
        let best = rest::longest_zone(owner, names.iter().map(String::as_str));
        best.map(|name| zone_ref(&name)).ok_or_else(|| {
            let detail = format!(
                "none of the {} zone(s) of this account holds {owner}",
                names.len()
            );
            self.api.zone_not_found(owner, detail).into()
        })
    }
}

fn zone_ref(name: &str) -> ZoneRef {
    let name = rest::absolute(name);
    ZoneRef {
        id: name.trim_end_matches('.').to_string(),
        name,
        default_ttl: None,
    }
}

impl Record {
    /// The record, from its separate TLSA fields (ClouDNS keeps the data alone in `record`).
    fn tlsa(&self) -> Result<Tlsa, String> {
        let text = match (
            &self.tlsa_usage,
            &self.tlsa_selector,
            &self.tlsa_matching_type,
        ) {
            (Some(u), Some(s), Some(m)) => format!("{u} {s} {m} {}", self.record),
            _ => self.record.clone(),
        };
        text.parse()
            .map_err(|e: crate::ParseTlsaError| e.to_string())
    }
}

#[async_trait]
impl RecordStore for Cloudns {
    fn api(&self) -> &Api {
        &self.api
    }

    fn label(&self) -> &'static str {
        "ClouDNS API"
    }

    fn dnssec(&self) -> crate::DnssecSupport {
        DNSSEC
    }

    async fn zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        self.zones.get_or_find(owner, self.find_zone(owner)).await
    }

    async fn list(&self, zone: &ZoneRef, owner: &str) -> Result<Vec<Entry>, BackendError> {
        let host = rest::relative(owner, &zone.name)
            .unwrap_or_default()
            .to_string();
        let params = vec![
            ("domain-name", zone.id.clone()),
            ("host", host.clone()),
            ("type", "TLSA".to_string()),
        ];
        let reply = self
            .post("/dns/records.json", &zone.name, params, Some((owner, None)))
            .await?;
        let call = Call::get("/dns/records.json", &zone.name);
        // `[]` when there are none, an object keyed by id otherwise.
        let body: serde_json::Value = self.api.decode(&call, &reply)?;
        let records: BTreeMap<String, Record> = match body {
            serde_json::Value::Array(list) if list.is_empty() => BTreeMap::new(),
            other => serde_json::from_value(other)
                .map_err(|e| self.api.bad_response(&call, e.to_string()))?,
        };
        records
            .into_values()
            .filter(|r| r.rtype == "TLSA" && r.host.eq_ignore_ascii_case(&host))
            .map(|r| {
                let bad = |reason: String| {
                    self.api
                        .bad_response(&call, format!("TLSA record {} at {owner}: {reason}", r.id))
                };
                let record = r.tlsa().map_err(bad)?;
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
        let host = rest::relative(owner, &zone.name).unwrap_or_default();
        let params = vec![
            ("domain-name", zone.id.clone()),
            ("record-type", "TLSA".to_string()),
            ("host", host.to_string()),
            ("record", record.data_hex()),
            ("ttl", accepted_ttl(ttl).to_string()),
            ("tlsa_usage", record.usage.to_string()),
            ("tlsa_selector", record.selector.to_string()),
            ("tlsa_matching_type", record.mtype.to_string()),
        ];
        self.post(
            "/dns/add-record.json",
            &zone.name,
            params,
            Some((owner, Some(record))),
        )
        .await
        .map(|_| ())
    }

    async fn delete(&self, zone: &ZoneRef, owner: &str, entry: &Entry) -> Result<(), BackendError> {
        let params = vec![
            ("domain-name", zone.id.clone()),
            ("record-id", entry.id.clone()),
        ];
        self.post(
            "/dns/delete-record.json",
            &zone.name,
            params,
            Some((owner, Some(&entry.record))),
        )
        .await
        .map(|_| ())
    }
}

rest::rest_backend!(Cloudns, record);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_name_the_user_kind() {
        let (kind, id, _) = parse_credential(&Secret::new("sub:4711:pw:with:colons")).unwrap();
        assert_eq!((kind, id.expose()), ("sub-auth-id", "4711"));
        let (kind, _, password) = parse_credential(&Secret::new("12:pw")).unwrap();
        assert_eq!((kind, password.expose()), ("auth-id", "pw"));
        assert!(parse_credential(&Secret::new("pw-only")).is_none());
        assert!(parse_credential(&Secret::new("name:pw")).is_none());
    }

    #[test]
    fn ttls_are_raised_to_an_accepted_value() {
        assert_eq!(accepted_ttl(300), 300);
        assert_eq!(accepted_ttl(301), 900);
        assert_eq!(accepted_ttl(1), 60);
        assert_eq!(accepted_ttl(u32::MAX), 2592000);
    }

    #[test]
    fn failures_are_read_from_the_description() {
        let auth = "Invalid authentication, incorrect auth-id or auth-password.";
        assert_eq!(failure(auth), Some(AuthFailure::BadToken));
        assert_eq!(failure("Invalid record"), None);
    }

    #[test]
    fn tlsa_fields_are_joined() {
        let record = Record {
            id: "1".into(),
            rtype: "TLSA".into(),
            host: "_25._tcp.mx".into(),
            record: "AB".repeat(32),
            ttl: "3600".into(),
            tlsa_usage: Some("3".into()),
            tlsa_selector: Some("1".into()),
            tlsa_matching_type: Some("1".into()),
        };
        assert_eq!(record.tlsa().unwrap(), Tlsa::new(3, 1, 1, vec![0xab; 32]));
    }
}
