//! OVHcloud DNS zones through the OVH API (v1).
//!
//! API reference: <https://help.ovhcloud.com/csm/en-api-getting-started-ovhcloud-api?id=kb_article_view&sysparm_article=KB0042784>
//! (application key, application secret, consumer key, request signatures),
//! <https://eu.api.ovh.com/console/?section=%2Fdomain&branch=v1> (`/domain/zone`, its `record`,
//! `refresh` and `soa`), and OVH's own client <https://github.com/ovh/python-ovh>
//! (`ovh/client.py`: the time delta from `/auth/time`, the JSON body without spaces, the
//! `errorCode`s of authentication failures).
//!
//! - credentials: one secret, `APPLICATION_KEY:APPLICATION_SECRET:CONSUMER_KEY`, from the file
//!   or variable the config names. Every request carries `X-Ovh-Application`,
//!   `X-Ovh-Consumer`, `X-Ovh-Timestamp` and `X-Ovh-Signature` = `$1$` + hex SHA-1 of
//!   `AS+CK+METHOD+URL+BODY+TIMESTAMP` (joined by `+`, the full URL with its query, the exact
//!   body bytes). The timestamp is the server's clock: `GET /auth/time` (unsigned) once, then
//!   this host's clock plus the difference, so a skewed host clock does not break signatures;
//! - zones: `GET /domain/zone` (every zone name of the account, no pagination), the longest
//!   name ending the owner wins; a configured zone is checked with `GET /domain/zone/{zone}`;
//!   `GET /domain/zone/{zone}/soa` gives the zone's default TTL, which records with `ttl` 0 get;
//! - read: `GET /domain/zone/{zone}/record?fieldType=TLSA&subDomain=…` lists record ids, each
//!   read with `GET /domain/zone/{zone}/record/{id}` (`target` holds `3 1 1 HEX`);
//! - add: `POST /domain/zone/{zone}/record` `{"fieldType", "subDomain", "target", "ttl"}`;
//! - remove: `DELETE /domain/zone/{zone}/record/{id}` (404: already gone);
//! - after a change, `POST /domain/zone/{zone}/refresh`: the API holds changes until then, and
//!   only a refresh puts them on OVH's name servers (which sign the zone when DNSSEC is enabled
//!   for it). If the refresh fails after an add, the new record is deleted again and the error
//!   reported, so an add either reaches the servers or changes nothing.
//!
//! Errors: 401, or 403 with `errorCode` `INVALID_KEY`, `INVALID_CREDENTIAL` or
//! `NOT_CREDENTIAL`, and 400 `INVALID_SIGNATURE` (a wrong application secret) mean a bad
//! credential; 403 `NOT_GRANTED_CALL` / `FORBIDDEN` a consumer key without the access rules for
//! `/domain/zone/*`. Bodies are `{"message": "…"}` (with `errorCode`/`class`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::credential::{CredentialError, Secret};
use crate::error::BackendError;
use crate::http::{Api, ApiConfig, ApiError, Auth, AuthFailure, Call, Dialect, Signer, segment};
use crate::record::Tlsa;
use crate::rest::{self, Entry, RecordStore, ZoneCache, ZoneRef};

const PROVIDER: &str = "OVH";

/// OVH Europe's API; `https://ca.api.ovh.com/1.0` and `https://api.us.ovhcloud.com/1.0` serve
/// the other regions.
pub const DEFAULT_API_URL: &str = "https://eu.api.ovh.com/1.0";

/// How ovh zones get signed; see [`crate::DnssecSupport`].
pub const DNSSEC: crate::DnssecSupport = crate::DnssecSupport {
    signs: true,
    how: "in the OVHcloud control panel, Domain names → the domain → \"DNSSEC\" (activate): OVH signs the zone and, for a domain registered at OVH, publishes the DS itself",
};

/// A bound on the records one name may list, so a server that keeps answering cannot keep us.
const MAX_RECORDS: usize = 1000;

/// The OVH backend.
#[derive(Debug)]
pub struct Ovh {
    api: Api,
    signer: Arc<OvhSigner>,
    zone: Option<String>,
    zones: ZoneCache,
}

/// Signs requests (see the module docs). Holds the secrets; never shows them.
struct OvhSigner {
    application_secret: Secret,
    consumer_key: Secret,
    /// Server time minus this host's time, in seconds, once known.
    delta: AtomicI64,
    synced: AtomicBool,
}

impl std::fmt::Debug for OvhSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OvhSigner")
            .field("application_secret", &self.application_secret)
            .field("consumer_key", &self.consumer_key)
            .field("delta", &self.delta.load(Ordering::Relaxed))
            .finish()
    }
}

/// `"$1$"` + hex SHA-1 of `AS+CK+METHOD+URL+BODY+TIMESTAMP`.
fn signature(
    secret: &str,
    consumer: &str,
    method: &str,
    url: &str,
    body: &str,
    now: i64,
) -> String {
    let text = format!("{secret}+{consumer}+{method}+{url}+{body}+{now}");
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        text.as_bytes(),
    );
    format!("$1${}", data_encoding::HEXLOWER.encode(digest.as_ref()))
}

impl Signer for OvhSigner {
    fn headers(
        &self,
        method: &Method,
        url: &str,
        body: &[u8],
    ) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        let local = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| "this host's clock is before 1970".to_string())?
            .as_secs();
        let now = i64::try_from(local).unwrap_or(i64::MAX) + self.delta.load(Ordering::Relaxed);
        let body = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
        let consumer = self.consumer_key.expose();
        let sig = signature(
            self.application_secret.expose(),
            consumer,
            method.as_str(),
            url,
            body,
            now,
        );
        let value = |text: &str| {
            HeaderValue::from_str(text)
                .map_err(|_| "the consumer key cannot go into an HTTP header".to_string())
        };
        Ok(vec![
            (HeaderName::from_static("x-ovh-consumer"), value(consumer)?),
            (
                HeaderName::from_static("x-ovh-timestamp"),
                value(&now.to_string())?,
            ),
            (HeaderName::from_static("x-ovh-signature"), value(&sig)?),
        ])
    }
}

#[derive(Debug, Deserialize)]
struct Soa {
    ttl: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct Record {
    id: u64,
    #[serde(rename = "fieldType")]
    field_type: String,
    #[serde(rename = "subDomain", default)]
    sub_domain: String,
    target: String,
    #[serde(default)]
    ttl: u32,
}

/// `{"message": "…", "errorCode": "…"}` or `{"class": "Client::NotFound", "message": "…"}`.
fn error_text(body: &serde_json::Value) -> Option<String> {
    let message = body.get("message")?.as_str()?;
    let code = body
        .get("errorCode")
        .or_else(|| body.get("class"))
        .and_then(|c| c.as_str());
    Some(match code {
        Some(code) => format!("{message} ({code})"),
        None => message.to_string(),
    })
}

fn auth_failure(status: StatusCode, body: &serde_json::Value) -> Option<AuthFailure> {
    let code = body.get("errorCode").and_then(|c| c.as_str()).unwrap_or("");
    match (status.as_u16(), code) {
        (401, _) => Some(AuthFailure::BadToken),
        (400, "INVALID_SIGNATURE") => Some(AuthFailure::BadToken),
        (403, "INVALID_KEY" | "INVALID_CREDENTIAL" | "NOT_CREDENTIAL") => {
            Some(AuthFailure::BadToken)
        }
        (403, _) => Some(AuthFailure::Forbidden),
        _ => None,
    }
}

impl Ovh {
    /// Reads the credential (`APPLICATION_KEY:APPLICATION_SECRET:CONSUMER_KEY`) and prepares
    /// the client.
    pub fn new(config: ApiConfig) -> Result<Self, ApiError> {
        let credential = config.token.load().map_err(|source| ApiError::Credential {
            provider: PROVIDER,
            source,
        })?;
        let Some([application_key, application_secret, consumer_key]) = credential
            .split(3)
            .and_then(|parts| <[Secret; 3]>::try_from(parts).ok())
        else {
            return Err(ApiError::Credential {
                provider: PROVIDER,
                source: CredentialError::BadFormat {
                    source_name: config.token.to_string(),
                    expected: "APPLICATION_KEY:APPLICATION_SECRET:CONSUMER_KEY (the three \
                               values OVH gave when the application and its consumer key were \
                               created, joined by colons)",
                },
            });
        };
        let signer = Arc::new(OvhSigner {
            application_secret: application_secret.clone(),
            consumer_key: consumer_key.clone(),
            delta: AtomicI64::new(0),
            synced: AtomicBool::new(false),
        });
        let auth = Auth {
            header: "x-ovh-application",
            scheme: None,
        };
        let dialect = Dialect {
            error_text,
            auth_failure,
        };
        let api = Api::new(
            PROVIDER,
            &config.api_url,
            auth,
            &config.token,
            application_key,
            config.retry.clone(),
            dialect,
        )?
        .with_signer(
            signer.clone(),
            vec![application_secret, consumer_key, credential],
        );
        Ok(Self {
            api,
            signer,
            zone: config.zone.as_deref().map(rest::absolute),
            zones: ZoneCache::default(),
        })
    }

    /// Learns the difference between OVH's clock and ours, once.
    async fn sync_clock(&self) -> Result<(), BackendError> {
        if self.signer.synced.load(Ordering::Acquire) {
            return Ok(());
        }
        let call = Call::get("/auth/time", "").unsigned();
        let server: i64 = self.api.send_json(&call).await?;
        let local = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        self.signer.delta.store(server - local, Ordering::Relaxed);
        self.signer.synced.store(true, Ordering::Release);
        Ok(())
    }

    fn zone_path(zone: &str) -> String {
        format!("/domain/zone/{}", segment(zone.trim_end_matches('.')))
    }

    async fn find_zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        let name = match &self.zone {
            Some(name) => {
                let call = Call::get(Self::zone_path(name), name);
                let reply = self.api.send(&call).await?;
                if reply.status == StatusCode::NOT_FOUND {
                    let detail = format!("the account has no zone {name}");
                    return Err(self.api.zone_not_found(owner, detail).into());
                }
                if !reply.status.is_success() {
                    return Err(self.api.fail(&call, &reply).into());
                }
                let zone = ZoneRef {
                    name: name.clone(),
                    id: name.trim_end_matches('.').to_string(),
                    default_ttl: None,
                };
                rest::inside(owner, &zone)?;
                name.clone()
            }
            None => {
                let names: Vec<String> = self.api.send_json(&Call::get("/domain/zone", "")).await?;
                rest::longest_zone(owner, names.iter().map(String::as_str)).ok_or_else(|| {
                    let detail = format!(
                        "none of the {} zone(s) of this account holds {owner}",
                        names.len()
                    );
                    BackendError::from(self.api.zone_not_found(owner, detail))
                })?
            }
        };
        let soa_call = Call::get(format!("{}/soa", Self::zone_path(&name)), &name);
        let soa: Soa = self.api.send_json(&soa_call).await?;
        Ok(ZoneRef {
            id: name.trim_end_matches('.').to_string(),
            name,
            default_ttl: soa.ttl,
        })
    }

    /// Publishes the zone's pending changes on OVH's name servers.
    async fn refresh(
        &self,
        zone: &ZoneRef,
        owner: &str,
        record: &Tlsa,
    ) -> Result<(), BackendError> {
        let path = format!("{}/refresh", Self::zone_path(&zone.name));
        let call = Call::new(Method::POST, path, &zone.name).about(owner, Some(record));
        self.api.send_expecting_success(&call).await?;
        Ok(())
    }

    async fn delete_id(
        &self,
        zone: &ZoneRef,
        owner: &str,
        id: &str,
        record: &Tlsa,
    ) -> Result<(), BackendError> {
        let path = format!("{}/record/{}", Self::zone_path(&zone.name), segment(id));
        let call = Call::new(Method::DELETE, path, &zone.name).about(owner, Some(record));
        Ok(self.api.send_delete(&call).await?)
    }
}

#[async_trait]
impl RecordStore for Ovh {
    fn api(&self) -> &Api {
        &self.api
    }

    fn label(&self) -> &'static str {
        "OVH API"
    }

    fn dnssec(&self) -> crate::DnssecSupport {
        DNSSEC
    }

    async fn zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        self.sync_clock().await?;
        self.zones.get_or_find(owner, self.find_zone(owner)).await
    }

    async fn list(&self, zone: &ZoneRef, owner: &str) -> Result<Vec<Entry>, BackendError> {
        let sub = rest::relative(owner, &zone.name)
            .unwrap_or_default()
            .to_string();
        let path = format!("{}/record", Self::zone_path(&zone.name));
        let call = Call::get(path.clone(), &zone.name)
            .query("fieldType", "TLSA")
            .query("subDomain", sub.clone())
            .about(owner, None);
        let ids: Vec<u64> = self.api.send_json(&call).await?;
        let mut entries = Vec::new();
        for id in ids.into_iter().take(MAX_RECORDS) {
            let one = Call::get(format!("{path}/{id}"), &zone.name).about(owner, None);
            let reply = self.api.send(&one).await?;
            if reply.status == StatusCode::NOT_FOUND {
                continue; // deleted since the list was made
            }
            if !reply.status.is_success() {
                return Err(self.api.fail(&one, &reply).into());
            }
            let raw: Record = self.api.decode(&one, &reply)?;
            if raw.field_type != "TLSA" || !raw.sub_domain.eq_ignore_ascii_case(&sub) {
                continue;
            }
            let record: Tlsa = raw.target.parse().map_err(|e: crate::ParseTlsaError| {
                self.api
                    .bad_response(&one, format!("TLSA record {} at {owner}: {e}", raw.id))
            })?;
            let ttl = match raw.ttl {
                0 => zone.default_ttl.unwrap_or(3600),
                ttl => ttl,
            };
            entries.push(Entry {
                record,
                ttl,
                id: raw.id.to_string(),
            });
        }
        Ok(entries)
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
        let body = json!({
            "fieldType": "TLSA",
            "subDomain": sub,
            "target": record.to_string().to_lowercase(),
            "ttl": ttl,
        });
        let path = format!("{}/record", Self::zone_path(&zone.name));
        let call = Call::new(Method::POST, path, &zone.name)
            .json(body)
            .about(owner, Some(record));
        let posted = match self.api.send(&call).await {
            Ok(reply) if reply.status.is_success() => Ok(()),
            Ok(reply) => Err(BackendError::from(self.api.fail(&call, &reply))),
            Err(error) => Err(error.into()),
        };
        // Whatever the answer, look at what the API holds now: OVH does not refuse an identical
        // record, so a POST retried after a lost answer made two, and a POST that failed in
        // the end may have been applied by an earlier attempt.
        let ours: Vec<Entry> = self
            .list(zone, owner)
            .await?
            .into_iter()
            .filter(|e| &e.record == record)
            .collect();
        let Some((kept, extra)) = ours.split_first() else {
            posted?;
            let reason = "the API accepted the record but does not list it";
            return Err(self.api.change_failed(&zone.name, owner, reason).into());
        };
        for entry in extra {
            self.delete_id(zone, owner, &entry.id, record).await?;
        }
        if let Err(error) = self.refresh(zone, owner, record).await {
            // Not on the name servers: take it back, so the add changed nothing.
            let _ = self.delete_id(zone, owner, &kept.id, record).await;
            return Err(error);
        }
        Ok(())
    }

    async fn delete(&self, zone: &ZoneRef, owner: &str, entry: &Entry) -> Result<(), BackendError> {
        if let Err(error) = self.delete_id(zone, owner, &entry.id, &entry.record).await {
            // An earlier attempt may have been applied: only a record still listed is a failure.
            let listed = self.list(zone, owner).await?;
            if listed.iter().any(|e| e.id == entry.id) {
                return Err(error);
            }
        }
        self.refresh(zone, owner, &entry.record).await
    }
}

rest::rest_backend!(Ovh, record);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_documented_recipe() {
        // sha1("AS+CK+GET+https://eu.api.ovh.com/1.0/domain/zone++1700000000") computed
        // independently with `printf %s … | sha1sum`.
        let sig = signature(
            "AS",
            "CK",
            "GET",
            "https://eu.api.ovh.com/1.0/domain/zone",
            "",
            1_700_000_000,
        );
        assert_eq!(sig, "$1$09deb620e4cc90d8141187a1746e56af76db079a");
    }

    #[test]
    fn authentication_failures_by_error_code() {
        let body =
            |code: &str| json!({ "errorCode": code, "httpCode": "403 Forbidden", "message": "x" });
        let forbidden = StatusCode::FORBIDDEN;
        assert_eq!(
            auth_failure(forbidden, &body("INVALID_CREDENTIAL")),
            Some(AuthFailure::BadToken)
        );
        assert_eq!(
            auth_failure(forbidden, &body("NOT_GRANTED_CALL")),
            Some(AuthFailure::Forbidden)
        );
        assert_eq!(
            auth_failure(StatusCode::BAD_REQUEST, &body("INVALID_SIGNATURE")),
            Some(AuthFailure::BadToken)
        );
        let invalid = json!({ "class": "Client::BadRequest", "message": "Invalid TLSA" });
        assert_eq!(auth_failure(StatusCode::BAD_REQUEST, &invalid), None);
        assert_eq!(
            error_text(&invalid).as_deref(),
            Some("Invalid TLSA (Client::BadRequest)")
        );
    }
}
