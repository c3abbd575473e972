//! Google Cloud DNS public managed zones through the Cloud DNS API v1.
//!
//! API reference: <https://cloud.google.com/dns/docs/reference/rest/v1> (`managedZones.list`,
//! `resourceRecordSets.list`, `changes.create`, `changes.get`); authentication:
//! <https://developers.google.com/identity/protocols/oauth2/service-account#httprest> (a JWT
//! signed with the service account's key, RS256, exchanged at the key's `token_uri` for an
//! access token, RFC 7523).
//!
//! - credentials: the service account's JSON key file as Google issues it (`type`,
//!   `project_id`, `private_key_id`, `private_key`, `client_email`, `token_uri`), from the file
//!   or variable the config names; the account needs the role "DNS Administrator"
//!   (`roles/dns.admin`) on the project, or a custom role with `dns.managedZones.list`,
//!   `dns.resourceRecordSets.list`, `dns.changes.create` and `dns.changes.get`. The JWT (scope
//!   `https://www.googleapis.com/auth/ndev.clouddns.readwrite`, valid one hour) is signed with
//!   aws-lc-rs; the private key never leaves this process;
//! - zones: `GET /projects/{project}/managedZones` (paginated with `pageToken` /
//!   `nextPageToken`), public zones only, the longest `dnsName` ending the owner wins (or the
//!   configured `zone`, a DNS name);
//! - read: `GET …/managedZones/{zone}/rrsets?name=OWNER&type=TLSA`;
//! - write: `POST …/managedZones/{zone}/changes` with `deletions` (the set exactly as read: TTL
//!   and every value) and `additions` (the set with the record added or removed). Cloud DNS
//!   applies a change atomically and refuses it when a deletion does not match the current set
//!   (412 `conditionNotMet`, 404 for a set that is gone) or an addition finds a set (409
//!   `alreadyExists`): a compare-and-swap (`cas.rs`);
//! - a change is `pending` until Cloud DNS's servers have it: `GET …/changes/{id}` is polled
//!   until `done`.
//!
//! Errors: `{"error": {"code", "message", "errors": [{"reason", "message"}], "status"}}`; 401
//! a rejected access token, 403 a service account without permission, 429
//! `rateLimitExceeded` retried. The token endpoint answers RFC 6749 errors (`invalid_grant`
//! "Invalid JWT Signature." for a key that is not the account's, or a revoked one).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::TlsaRrset;
use crate::cas::{Applied, CasStore, Held};
use crate::credential::{CredentialError, Secret};
use crate::error::BackendError;
use crate::http::{Api, ApiConfig, ApiError, Call, Dialect, Reply, by_status, segment};
use crate::oauth::{self, TokenEndpoint};
use crate::record::Tlsa;
use crate::rest::{self, ZoneCache, ZoneRef};

const PROVIDER: &str = "Google Cloud DNS";

/// Cloud DNS's API.
pub const DEFAULT_API_URL: &str = "https://dns.googleapis.com/dns/v1";

/// Google's token endpoint, when the key file names none.
const TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

const SCOPE: &str = "https://www.googleapis.com/auth/ndev.clouddns.readwrite";

/// How Cloud DNS signs zones.
pub const DNSSEC: crate::DnssecSupport = crate::DnssecSupport::switch(
    "in Cloud DNS, the zone → DNSSEC → On (`gcloud dns managed-zones update ZONE --dnssec-state \
     on`), then add the DS record from \"Registrar setup\" (`gcloud dns dns-keys list`) at the \
     registrar",
);

/// Pages followed at most.
const MAX_PAGES: usize = 1000;

/// What daneroll needs of a service account key file.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: String,
    project_id: String,
    private_key_id: Option<String>,
    private_key: String,
    client_email: String,
    token_uri: Option<String>,
}

/// The format [`CredentialError::BadFormat`] names.
const EXPECTED: &str = "a Google service account key in JSON (\"type\": \"service_account\" \
                        with project_id, private_key and client_email), as `gcloud iam \
                        service-accounts keys create` writes it";

/// The Google Cloud DNS backend.
#[derive(Debug)]
pub struct GoogleDns {
    api: Api,
    token: TokenEndpoint,
    key: Key,
    project: String,
    zone: Option<String>,
    zones: ZoneCache,
}

/// The service account's identity and key. Never shows the key.
struct Key {
    email: String,
    key_id: Option<String>,
    pem: Secret,
    token_uri: String,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("email", &self.email)
            .field("pem", &self.pem)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// The signed JWT assertion for the token request (RFC 7523 §2.1).
    fn assertion(&self) -> Result<String, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| "this host's clock is before 1970".to_string())?
            .as_secs();
        let b64 = |bytes: &[u8]| data_encoding::BASE64URL_NOPAD.encode(bytes);
        let mut header = json!({ "alg": "RS256", "typ": "JWT" });
        if let Some(kid) = &self.key_id {
            header["kid"] = json!(kid);
        }
        let claims = json!({
            "iss": self.email,
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": now,
            "exp": now + 3600,
        });
        let signed = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = oauth::rsa_sign(
            self.pem.expose(),
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            signed.as_bytes(),
        )?;
        Ok(format!("{signed}.{}", b64(&signature)))
    }
}

/// `{"error": {"message": "…", "errors": [{"reason": "…"}]}}`.
fn error_text(body: &serde_json::Value) -> Option<String> {
    let error = body.get("error")?;
    let message = error.get("message")?.as_str()?;
    let reason = error
        .pointer("/errors/0/reason")
        .and_then(|r| r.as_str())
        .or_else(|| error.get("status").and_then(|s| s.as_str()));
    Some(match reason {
        Some(reason) => format!("{message} ({reason})"),
        None => message.to_string(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ZonesPage {
    #[serde(default)]
    managed_zones: Vec<ManagedZone>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManagedZone {
    name: String,
    dns_name: String,
    #[serde(default)]
    visibility: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RrsetsPage {
    #[serde(default)]
    rrsets: Vec<Rrset>,
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct Rrset {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    ttl: Option<u32>,
    #[serde(default)]
    rrdatas: Vec<String>,
}

#[derive(Deserialize)]
struct Change {
    id: String,
    status: String,
}

impl GoogleDns {
    /// Reads the service account key and prepares the clients.
    pub fn new(config: ApiConfig) -> Result<Self, ApiError> {
        let credential = config
            .token
            .load_document()
            .map_err(|source| ApiError::Credential {
                provider: PROVIDER,
                source,
            })?;
        let bad = || ApiError::Credential {
            provider: PROVIDER,
            source: CredentialError::BadFormat {
                source_name: config.token.to_string(),
                expected: EXPECTED,
            },
        };
        let file: KeyFile = serde_json::from_str(credential.expose()).map_err(|_| bad())?;
        if file.kind != "service_account" || file.project_id.is_empty() {
            return Err(bad());
        }
        let key = Key {
            email: file.client_email,
            key_id: file.private_key_id,
            pem: Secret::new(file.private_key),
            token_uri: file.token_uri.unwrap_or_else(|| TOKEN_URI.to_string()),
        };
        let hidden = vec![key.pem.clone(), credential];
        let token = TokenEndpoint::new(
            PROVIDER,
            &key.token_uri,
            &config.token,
            config.retry.clone(),
            hidden.clone(),
        )?;
        let dialect = Dialect {
            error_text,
            auth_failure: by_status,
        };
        let api = Api::unauthenticated(
            PROVIDER,
            &config.api_url,
            &config.token,
            config.retry.clone(),
            dialect,
        )?
        .with_signer(token.signer(), hidden);
        Ok(Self {
            api,
            token,
            key,
            project: file.project_id,
            zone: config.zone.as_deref().map(rest::absolute),
            zones: ZoneCache::default(),
        })
    }

    fn project_path(&self) -> String {
        format!("/projects/{}", segment(&self.project))
    }

    /// Sends `call` with a fresh access token.
    async fn send(&self, call: &Call<'_>) -> Result<Reply, BackendError> {
        self.token.ensure(|| self.grant()).await?;
        Ok(self.api.send(call).await?)
    }

    fn grant(&self) -> Result<String, String> {
        let assertion = self.key.assertion()?;
        Ok(oauth::form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", &assertion),
        ]))
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        call: &Call<'_>,
    ) -> Result<T, BackendError> {
        let reply = self.send(call).await?;
        if !reply.status.is_success() {
            return Err(self.api.fail(call, &reply).into());
        }
        Ok(self.api.decode(call, &reply)?)
    }

    async fn find_zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        let mut zones = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut call = Call::get(format!("{}/managedZones", self.project_path()), "");
            if let Some(token) = &page_token {
                call = call.query("pageToken", token.clone());
            }
            let page: ZonesPage = self.get(&call).await?;
            zones.extend(
                page.managed_zones
                    .into_iter()
                    .filter(|z| z.visibility.as_deref() != Some("private")),
            );
            match page.next_page_token {
                Some(next) if !next.is_empty() => page_token = Some(next),
                _ => break,
            }
        }
        let name = match &self.zone {
            Some(name) => name.clone(),
            None => rest::longest_zone(owner, zones.iter().map(|z| z.dns_name.as_str()))
                .ok_or_else(|| {
                    let detail = format!(
                        "none of the {} public managed zone(s) of project {} holds {owner}",
                        zones.len(),
                        self.project
                    );
                    BackendError::from(self.api.zone_not_found(owner, detail))
                })?,
        };
        let Some(found) = zones.iter().find(|z| rest::absolute(&z.dns_name) == name) else {
            let detail = format!(
                "project {} has no public managed zone for {name}",
                self.project
            );
            return Err(self.api.zone_not_found(owner, detail).into());
        };
        let zone = ZoneRef {
            name,
            id: found.name.clone(),
            default_ttl: None,
        };
        rest::inside(owner, &zone)?;
        Ok(zone)
    }

    fn zone_path(&self, zone: &ZoneRef) -> String {
        format!("{}/managedZones/{}", self.project_path(), segment(&zone.id))
    }

    /// Polls the change until Cloud DNS says `done`.
    async fn await_done(
        &self,
        zone: &ZoneRef,
        owner: &str,
        mut change: Change,
    ) -> Result<(), BackendError> {
        let policy = self.api.policy();
        let mut waited = Duration::ZERO;
        while change.status != "done" {
            if waited >= policy.poll_limit {
                let reason = format!(
                    "Cloud DNS accepted change {} but it was still {} after {} s; run again \
                     later (the change stays)",
                    change.id,
                    change.status,
                    waited.as_secs()
                );
                return Err(self.api.change_failed(&zone.name, owner, reason).into());
            }
            tokio::time::sleep(policy.poll_interval).await;
            waited += policy.poll_interval;
            let path = format!("{}/changes/{}", self.zone_path(zone), segment(&change.id));
            change = self
                .get(&Call::get(path, &zone.name).about(owner, None))
                .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl CasStore for GoogleDns {
    fn api(&self) -> &Api {
        &self.api
    }

    fn label(&self) -> &'static str {
        "Google Cloud DNS API"
    }

    fn dnssec(&self) -> crate::DnssecSupport {
        DNSSEC
    }

    async fn zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        self.zones.get_or_find(owner, self.find_zone(owner)).await
    }

    async fn load(&self, zone: &ZoneRef, owner: &str) -> Result<Held, BackendError> {
        let path = format!("{}/rrsets", self.zone_path(zone));
        let mut held = Held::default();
        let mut records = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut call = Call::get(path.clone(), &zone.name)
                .query("name", owner.to_string())
                .query("type", "TLSA")
                .about(owner, None);
            if let Some(token) = &page_token {
                call = call.query("pageToken", token.clone());
            }
            let page: RrsetsPage = self.get(&call).await?;
            for set in page.rrsets {
                if rest::absolute(&set.name) != owner || set.kind != "TLSA" {
                    continue;
                }
                held.ttl = set.ttl.unwrap_or(300);
                for value in set.rrdatas {
                    let record: Tlsa = value.parse().map_err(|e: crate::ParseTlsaError| {
                        self.api
                            .bad_response(&call, format!("TLSA value {value:?} at {owner}: {e}"))
                    })?;
                    records.push(record);
                    held.values.push(value);
                }
            }
            match page.next_page_token {
                Some(next) if !next.is_empty() => page_token = Some(next),
                _ => break,
            }
        }
        held.rrset = TlsaRrset::new(records, Some(held.ttl));
        Ok(held)
    }

    async fn apply(
        &self,
        zone: &ZoneRef,
        owner: &str,
        before: &Held,
        after: &[Tlsa],
        record: &Tlsa,
    ) -> Result<Applied, BackendError> {
        let set = |values: Vec<String>| json!({ "name": owner, "type": "TLSA", "ttl": before.ttl, "rrdatas": values });
        let mut body = json!({ "kind": "dns#change" });
        if before.exists() {
            body["deletions"] = json!([set(before.values.clone())]);
        }
        if !after.is_empty() {
            let values = after.iter().map(|r| r.to_string().to_lowercase()).collect();
            body["additions"] = json!([set(values)]);
        }
        let path = format!("{}/changes", self.zone_path(zone));
        let call = Call::new(Method::POST, path, &zone.name)
            .json(body)
            .about(owner, Some(record));
        let reply = self.send(&call).await?;
        let conflict = match reply.status {
            StatusCode::PRECONDITION_FAILED | StatusCode::CONFLICT => true,
            // A deletion of a set that is gone.
            StatusCode::NOT_FOUND => self.api.message(&reply).contains("deletions"),
            _ => false,
        };
        if conflict {
            return Ok(Applied::Conflict);
        }
        if !reply.status.is_success() {
            return Err(self.api.fail(&call, &reply).into());
        }
        let change: Change = self.api.decode(&call, &reply)?;
        self.await_done(zone, owner, change).await?;
        Ok(Applied::Done)
    }
}

rest::rest_backend!(GoogleDns, cas);

/// Whether `text` is a service account key daneroll can use (for `config check`).
pub(crate) fn check_key(text: &Secret) -> bool {
    serde_json::from_str::<KeyFile>(text.expose())
        .is_ok_and(|k| k.kind == "service_account" && !k.project_id.is_empty())
}

/// What [`check_key`] expects.
pub(crate) const KEY_FORMAT: &str = EXPECTED;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_name_the_reason() {
        let body = json!({ "error": { "code": 412, "message": "Precondition not met for 'entity.change.deletions[0]'", "errors": [{ "reason": "conditionNotMet" }] } });
        assert_eq!(
            error_text(&body).as_deref(),
            Some("Precondition not met for 'entity.change.deletions[0]' (conditionNotMet)")
        );
    }

    #[test]
    fn a_key_file_is_recognised() {
        let key = json!({ "type": "service_account", "project_id": "p", "private_key": "k", "client_email": "e@p.iam.gserviceaccount.com" });
        assert!(check_key(&Secret::new(key.to_string())));
        let user = json!({ "type": "authorized_user", "client_id": "x" });
        assert!(!check_key(&Secret::new(user.to_string())));
    }
}
