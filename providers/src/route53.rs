//! Amazon Route 53 public hosted zones through the Route 53 API (version 2013-04-01).
//!
//! API reference: <https://docs.aws.amazon.com/Route53/latest/APIReference/Welcome.html>;
//! signing: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html> (Signature
//! Version 4, service `route53`, region `us-east-1` for the global endpoint).
//!
//! - credentials: `ACCESS_KEY_ID:SECRET_ACCESS_KEY` (or `…:SESSION_TOKEN` for temporary
//!   credentials) from the file or variable the config names; an IAM user or role limited to
//!   `route53:ListHostedZones`, `route53:ListResourceRecordSets`,
//!   `route53:ChangeResourceRecordSets` and `route53:GetChange` (README). Every request is
//!   signed with SigV4 by AWS's own `aws-sigv4` crate; the secret key never goes on the wire;
//! - zones: `GET /hostedzone` (paginated with `marker` / `NextMarker`), public zones only, the
//!   longest name ending the owner wins (or the configured `zone`);
//! - read: `GET /hostedzone/{id}/rrset?name=OWNER&type=TLSA` (paginated with
//!   `NextRecordName` / `NextRecordType`; the list starts at the name and may go past it);
//! - write: `POST /hostedzone/{id}/rrset/` with a change batch. A record set is replaced as a
//!   whole, and a `DELETE` must name the set exactly as it is (TTL and every value), so adding
//!   or removing one record is `DELETE` (the set as read) + `CREATE` (the set with the record
//!   added or removed) in one batch. Route 53 applies a batch atomically or not at all
//!   ("InvalidChangeBatch … not found / values provided do not match"): this is a real
//!   compare-and-swap, and a writer between our read and our write makes ours fail, never lose
//!   theirs. We re-read and try again (at most three times, `cas.rs`);
//! - the change is `PENDING` until every Route 53 server has it: `GET /change/{id}` is polled
//!   until `INSYNC` (at most [`RetryPolicy::poll_limit`](crate::http::RetryPolicy));
//! - after the change, a re-read catches a writer who replaced the set right after us without a
//!   compare-and-swap (`UPSERT`), and the change is redone.
//!
//! Errors: `<ErrorResponse><Error><Code>` bodies; 403 `InvalidClientTokenId`,
//! `SignatureDoesNotMatch`, `IncompleteSignature`, `MissingAuthenticationToken`,
//! `ExpiredToken` are a bad credential, 403 `AccessDenied` a credential without the IAM
//! permission; HTTP 400 `Throttling` ("Rate exceeded", five requests per second per account)
//! and `PriorRequestNotComplete` are retried like 429
//! (<https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DNSLimitations.html#limits-api-requests>).

#[path = "route53/xml.rs"]
mod xml;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};

use crate::TlsaRrset;
use crate::cas::{Applied, CasStore, Held};
use crate::credential::{CredentialError, Secret};
use crate::error::BackendError;
use crate::http::{Api, ApiConfig, ApiError, AuthFailure, Call, Dialect, Quirks, Reply, Signer};
use crate::record::Tlsa;
use crate::rest::{self, ZoneCache, ZoneRef};

const PROVIDER: &str = "Route 53";

/// Route 53's global endpoint with the API version.
pub const DEFAULT_API_URL: &str = "https://route53.amazonaws.com/2013-04-01";

/// How Route 53 zones get signed; see [`crate::DnssecSupport`].
pub const DNSSEC: crate::DnssecSupport = crate::DnssecSupport {
    signs: true,
    how: "in Route 53, the hosted zone → \"DNSSEC signing\" → enable (with a KMS key-signing key), then add the DS record it shows at the registrar (Route 53 Domains: \"Manage keys\")",
};

/// The SigV4 region of Route 53's global endpoint.
const REGION: &str = "us-east-1";

/// Pages of zones or record sets followed at most, so an API that keeps answering cannot keep
/// us.
const MAX_PAGES: usize = 1000;

/// The Route 53 backend.
#[derive(Debug)]
pub struct Route53 {
    api: Api,
    zone: Option<String>,
    zones: ZoneCache,
}

/// Signs requests with SigV4 (see the module docs). Never shows its keys.
struct SigV4 {
    access_key: Secret,
    secret_key: Secret,
    session_token: Option<Secret>,
}

impl Signer for SigV4 {
    fn headers(
        &self,
        method: &Method,
        url: &str,
        body: &[u8],
    ) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
        let credentials = aws_credential_types::Credentials::new(
            self.access_key.expose(),
            self.secret_key.expose(),
            self.session_token.as_ref().map(|t| t.expose().to_string()),
            None,
            "daneroll",
        );
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name("route53")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("cannot sign the request: {e}"))?
            .into();
        let request = SignableRequest::new(
            method.as_str(),
            url,
            std::iter::empty(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| format!("cannot sign the request: {e}"))?;
        let (instructions, _signature) = sign(request, &params)
            .map_err(|e| format!("cannot sign the request: {e}"))?
            .into_parts();
        instructions
            .headers()
            .map(|(name, value)| {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("the signer made a bad header name {name:?}"))?;
                let value = HeaderValue::from_str(value)
                    .map_err(|_| "the access key cannot go into an HTTP header".to_string())?;
                Ok((name, value))
            })
            .collect()
    }
}

fn error_text(body: &serde_json::Value) -> Option<String> {
    let message = body.get("Message")?.as_str()?;
    let code = body.get("Code").and_then(|c| c.as_str()).unwrap_or("");
    Some(format!("{message} ({code})"))
}

fn code(body: &serde_json::Value) -> &str {
    body.get("Code").and_then(|c| c.as_str()).unwrap_or("")
}

fn auth_failure(status: StatusCode, body: &serde_json::Value) -> Option<AuthFailure> {
    match (status.as_u16(), code(body)) {
        (401, _) => Some(AuthFailure::BadToken),
        (
            403,
            "InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "IncompleteSignature"
            | "MissingAuthenticationToken"
            | "ExpiredToken"
            | "UnrecognizedClientException",
        ) => Some(AuthFailure::BadToken),
        (403, _) => Some(AuthFailure::Forbidden),
        _ => None,
    }
}

fn throttled(status: StatusCode, body: &serde_json::Value) -> bool {
    status == StatusCode::BAD_REQUEST
        && matches!(code(body), "Throttling" | "PriorRequestNotComplete")
}

impl Route53 {
    /// Reads the credential and prepares the client.
    pub fn new(config: ApiConfig) -> Result<Self, ApiError> {
        let credential = config.token.load().map_err(|source| ApiError::Credential {
            provider: PROVIDER,
            source,
        })?;
        let parts = credential
            .split(2)
            .or_else(|| credential.split(3))
            .ok_or_else(|| ApiError::Credential {
                provider: PROVIDER,
                source: CredentialError::BadFormat {
                    source_name: config.token.to_string(),
                    expected: "ACCESS_KEY_ID:SECRET_ACCESS_KEY (or \
                               ACCESS_KEY_ID:SECRET_ACCESS_KEY:SESSION_TOKEN), the IAM access \
                               key joined by a colon",
                },
            })?;
        let mut parts = parts.into_iter();
        let (Some(access_key), Some(secret_key)) = (parts.next(), parts.next()) else {
            unreachable!("split(2) or split(3) gives at least two parts");
        };
        let session_token = parts.next();
        let mut hidden = vec![secret_key.clone(), credential];
        hidden.extend(session_token.clone());
        let signer = Arc::new(SigV4 {
            access_key,
            secret_key,
            session_token,
        });
        let dialect = Dialect {
            error_text,
            auth_failure,
        };
        let quirks = Quirks {
            body_json: xml::error_json,
            throttled,
        };
        let api = Api::unauthenticated(
            PROVIDER,
            &config.api_url,
            &config.token,
            config.retry.clone(),
            dialect,
        )?
        .with_signer(signer, hidden)
        .with_quirks(quirks);
        Ok(Self {
            api,
            zone: config.zone.as_deref().map(rest::absolute),
            zones: ZoneCache::default(),
        })
    }

    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        call: &Call<'_>,
        reply: &Reply,
    ) -> Result<T, BackendError> {
        let text = String::from_utf8_lossy(&reply.body);
        quick_xml::de::from_str(&text).map_err(|e| {
            self.api
                .bad_response(call, format!("not the XML expected: {e}"))
                .into()
        })
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        call: &Call<'_>,
    ) -> Result<T, BackendError> {
        let reply = self.api.send(call).await?;
        if !reply.status.is_success() {
            return Err(self.api.fail(call, &reply).into());
        }
        self.decode(call, &reply)
    }

    async fn find_zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        let mut zones = Vec::new();
        let mut marker: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut call = Call::get("/hostedzone", "").query("maxitems", "100");
            if let Some(marker) = &marker {
                call = call.query("marker", marker.clone());
            }
            let page: xml::HostedZonesPage = self.get(&call).await?;
            zones.extend(
                page.hosted_zones
                    .zones
                    .into_iter()
                    .filter(|z| !z.config.as_ref().is_some_and(|c| c.private_zone)),
            );
            match page.next_marker {
                Some(next) if page.is_truncated => marker = Some(next),
                _ => break,
            }
        }
        let name = match &self.zone {
            Some(name) => name.clone(),
            None => rest::longest_zone(owner, zones.iter().map(|z| z.name.as_str())).ok_or_else(
                || {
                    let detail = format!(
                        "none of the {} public hosted zone(s) of this account holds {owner}",
                        zones.len()
                    );
                    BackendError::from(self.api.zone_not_found(owner, detail))
                },
            )?,
        };
        let Some(found) = zones.iter().find(|z| xml::unescape_name(&z.name) == name) else {
            let detail = format!("the account has no public hosted zone {name}");
            return Err(self.api.zone_not_found(owner, detail).into());
        };
        let zone = ZoneRef {
            name,
            id: found.id.trim_start_matches("/hostedzone/").to_string(),
            default_ttl: None,
        };
        rest::inside(owner, &zone)?;
        Ok(zone)
    }

    /// The TLSA record set at `owner` (absolute) as Route 53 holds it.
    async fn load_set(&self, zone: &ZoneRef, owner: &str) -> Result<Held, BackendError> {
        let path = format!("/hostedzone/{}/rrset", crate::http::segment(&zone.id));
        let mut start = Some((owner.to_string(), "TLSA".to_string(), None::<String>));
        let mut held = Held::default();
        let mut records = Vec::new();
        for _ in 0..MAX_PAGES {
            let Some((name, kind, identifier)) = start.take() else {
                break;
            };
            let mut call = Call::get(path.clone(), &zone.name)
                .query("name", name)
                .query("type", kind)
                .query("maxitems", "100")
                .about(owner, None);
            if let Some(identifier) = identifier {
                call = call.query("identifier", identifier);
            }
            let page: xml::RecordSetsPage = self.get(&call).await?;
            let mut past = false;
            for set in page.resource_record_sets.sets {
                if xml::unescape_name(&set.name) != owner || set.kind != "TLSA" {
                    past = true;
                    continue;
                }
                if set.set_identifier.is_some() {
                    let reason = "the TLSA record set at this name has a routing policy \
                                  (SetIdentifier); daneroll manages simple record sets only";
                    return Err(self.api.bad_response(&call, reason).into());
                }
                held.ttl = set.ttl.unwrap_or(300);
                for value in set.resource_records.records {
                    let record: Tlsa =
                        value.value.parse().map_err(|e: crate::ParseTlsaError| {
                            self.api.bad_response(
                                &call,
                                format!("TLSA value {:?} at {owner}: {e}", value.value),
                            )
                        })?;
                    records.push(record);
                    held.values.push(value.value);
                }
            }
            if page.is_truncated
                && !past
                && let (Some(name), Some(kind)) = (page.next_record_name, page.next_record_type)
                && xml::unescape_name(&name) == owner
                && kind == "TLSA"
            {
                start = Some((name, kind, page.next_record_identifier));
            }
        }
        held.rrset = TlsaRrset::new(records, Some(held.ttl));
        Ok(held)
    }

    /// Replaces `before` by `after` at `owner` in one atomic batch, then waits until Route 53's
    /// servers have it.
    async fn change(
        &self,
        zone: &ZoneRef,
        owner: &str,
        before: &Held,
        after: &[Tlsa],
        record: &Tlsa,
    ) -> Result<Applied, BackendError> {
        let after_values: Vec<String> =
            after.iter().map(|r| r.to_string().to_lowercase()).collect();
        let mut changes = Vec::new();
        if before.exists() {
            changes.push(xml::Change {
                action: "DELETE",
                name: owner,
                ttl: before.ttl,
                values: &before.values,
            });
        }
        if !after_values.is_empty() {
            changes.push(xml::Change {
                action: "CREATE",
                name: owner,
                ttl: before.ttl,
                values: &after_values,
            });
        }
        let body = xml::change_batch(&changes).into_bytes();
        let path = format!("/hostedzone/{}/rrset/", crate::http::segment(&zone.id));
        let call = Call::new(Method::POST, path, &zone.name)
            .raw("text/xml", body)
            .about(owner, Some(record));
        let reply = self.api.send(&call).await?;
        if reply.status == StatusCode::BAD_REQUEST {
            let json = self.api.body_json(&reply);
            let message = json.get("Message").and_then(|m| m.as_str()).unwrap_or("");
            let conflict = code(&json) == "InvalidChangeBatch"
                && (message.contains("not found")
                    || message.contains("do not match")
                    || message.contains("already exists"));
            if conflict {
                return Ok(Applied::Conflict);
            }
        }
        if !reply.status.is_success() {
            return Err(self.api.fail(&call, &reply).into());
        }
        let info: xml::ChangeInfoDoc = self.decode(&call, &reply)?;
        self.await_insync(zone, owner, info.change_info).await?;
        Ok(Applied::Done)
    }

    /// Polls `GET /change/{id}` until `INSYNC`.
    async fn await_insync(
        &self,
        zone: &ZoneRef,
        owner: &str,
        mut info: xml::ChangeInfo,
    ) -> Result<(), BackendError> {
        let policy = self.api.policy();
        let mut waited = Duration::ZERO;
        while info.status != "INSYNC" {
            if waited >= policy.poll_limit {
                let reason = format!(
                    "Route 53 accepted change {} but it was still {} after {} s: its name \
                     servers do not all serve it yet; run again later (the change stays)",
                    info.id,
                    info.status,
                    waited.as_secs()
                );
                return Err(self.api.change_failed(&zone.name, owner, reason).into());
            }
            tokio::time::sleep(policy.poll_interval).await;
            waited += policy.poll_interval;
            let id = info.id.trim_start_matches("/change/");
            let call = Call::get(format!("/change/{}", crate::http::segment(id)), &zone.name)
                .about(owner, None);
            info = self.get::<xml::ChangeInfoDoc>(&call).await?.change_info;
        }
        Ok(())
    }
}

#[async_trait]
impl CasStore for Route53 {
    fn api(&self) -> &Api {
        &self.api
    }

    fn label(&self) -> &'static str {
        "Route 53 API"
    }

    fn dnssec(&self) -> crate::DnssecSupport {
        DNSSEC
    }

    async fn zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        self.zones.get_or_find(owner, self.find_zone(owner)).await
    }

    async fn load(&self, zone: &ZoneRef, owner: &str) -> Result<Held, BackendError> {
        self.load_set(zone, owner).await
    }

    async fn apply(
        &self,
        zone: &ZoneRef,
        owner: &str,
        before: &Held,
        after: &[Tlsa],
        record: &Tlsa,
    ) -> Result<Applied, BackendError> {
        self.change(zone, owner, before, after, record).await
    }
}

rest::rest_backend!(Route53, cas);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authentication_and_throttling_by_error_code() {
        let body = |code: &str| serde_json::json!({ "Code": code, "Message": "x" });
        let forbidden = StatusCode::FORBIDDEN;
        assert_eq!(
            auth_failure(forbidden, &body("SignatureDoesNotMatch")),
            Some(AuthFailure::BadToken)
        );
        assert_eq!(
            auth_failure(forbidden, &body("AccessDenied")),
            Some(AuthFailure::Forbidden)
        );
        assert_eq!(
            auth_failure(StatusCode::BAD_REQUEST, &body("InvalidInput")),
            None
        );
        assert!(throttled(StatusCode::BAD_REQUEST, &body("Throttling")));
        assert!(throttled(
            StatusCode::BAD_REQUEST,
            &body("PriorRequestNotComplete")
        ));
        assert!(!throttled(
            StatusCode::BAD_REQUEST,
            &body("InvalidChangeBatch")
        ));
    }

    #[test]
    fn sigv4_matches_the_aws_test_suite() {
        // The "get-vanilla" case of AWS's SigV4 test suite: GET / on example.amazonaws.com,
        // 20150830T123600Z, us-east-1, service "service", key AKIDEXAMPLE.
        let credentials = aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        );
        let identity = credentials.into();
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("service")
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let request = SignableRequest::new(
            "GET",
            "https://example.amazonaws.com/",
            std::iter::empty(),
            SignableBody::Bytes(b""),
        )
        .unwrap();
        let (_, signature) = sign(request, &params).unwrap().into_parts();
        assert_eq!(
            signature,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }
}
