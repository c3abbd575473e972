//! Azure DNS public zones through Azure Resource Manager.
//!
//! API reference: <https://learn.microsoft.com/en-us/rest/api/dns/> (`Zones - List`,
//! `Record Sets - Get`, `Record Sets - Create Or Update`, `Record Sets - Delete`, API version
//! `2023-07-01-preview`, the first with the `TLSA` record type and DNSSEC); authentication:
//! <https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow>
//! (a service principal's client id and secret exchanged at its tenant's token endpoint for an
//! access token with scope `https://management.azure.com/.default`); concurrency:
//! <https://learn.microsoft.com/en-us/azure/dns/dns-zones-records#etags>.
//!
//! - credentials: the JSON `az ad sp create-for-rbac --role "DNS Zone Contributor" --scopes
//!   /subscriptions/SUB/resourceGroups/RG --sdk-auth` prints (`clientId`, `clientSecret`,
//!   `subscriptionId`, `tenantId`, optionally `activeDirectoryEndpointUrl` for other clouds),
//!   from the file or variable the config names;
//! - zones: `GET /subscriptions/{sub}/providers/Microsoft.Network/dnszones` (paginated with
//!   `nextLink`, followed only while it stays on the configured API URL: the access token never
//!   goes elsewhere), public zones only, the longest name ending the owner wins (or `zone`);
//! - read: `GET {zone id}/TLSA/{relative name}` (404: no set), with the set's `etag`;
//! - write: `PUT {zone id}/TLSA/{name}` with the whole set and `If-Match: {etag}` (or
//!   `If-None-Match: *` for a new set), `DELETE` with `If-Match` for the last record. Azure
//!   refuses a write whose ETag is stale with 412: a compare-and-swap (`cas.rs`). Writes are
//!   synchronous (200/201), there is nothing to poll.
//!
//! Errors: `{"error": {"code", "message"}}`; 401 `InvalidAuthenticationToken`, 403
//! `AuthorizationFailed` (a principal without "DNS Zone Contributor" on the zone), 429 with
//! `Retry-After` (Resource Manager throttling), 412 `PreconditionFailed`. The token endpoint
//! answers RFC 6749 errors (`invalid_client` "AADSTS7000215: Invalid client secret provided").

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

const PROVIDER: &str = "Azure DNS";

/// Azure Resource Manager (public cloud).
pub const DEFAULT_API_URL: &str = "https://management.azure.com";

/// Microsoft Entra ID's endpoint (public cloud), when the credential names none.
const LOGIN_URL: &str = "https://login.microsoftonline.com";

/// The first API version with TLSA record sets. The REST reference's record-set pages
/// (<https://learn.microsoft.com/en-us/rest/api/dns/record-sets/create-or-update>) show the GA
/// `2018-05-01`, which has no TLSA; TLSA is in the `2023-07-01-preview` models
/// (<https://learn.microsoft.com/en-us/dotnet/api/microsoft.azure.powershell.cmdlets.dns.models.recordset.tlsarecord?view=az-ps-12>,
/// `Api20230701Preview`).
const API_VERSION: &str = "2023-07-01-preview";

/// How Azure DNS signs zones.
pub const DNSSEC: crate::DnssecSupport = crate::DnssecSupport::switch(
    "in Azure DNS, the zone → DNSSEC → Enable DNSSEC (`az network dns dnssec-config create \
     --resource-group RG --zone-name ZONE`), then add the DS record it shows at the registrar",
);

/// Pages followed at most.
const MAX_PAGES: usize = 1000;

const EXPECTED: &str = "the JSON of `az ad sp create-for-rbac --sdk-auth` (clientId, \
                        clientSecret, subscriptionId, tenantId)";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Credential {
    client_id: String,
    client_secret: String,
    subscription_id: String,
    tenant_id: String,
    active_directory_endpoint_url: Option<String>,
}

/// The Azure DNS backend.
#[derive(Debug)]
pub struct AzureDns {
    api: Api,
    token: TokenEndpoint,
    client_id: String,
    client_secret: Secret,
    subscription: String,
    zone: Option<String>,
    zones: ZoneCache,
}

fn error_text(body: &serde_json::Value) -> Option<String> {
    let error = body.get("error")?;
    let message = error.get("message")?.as_str()?;
    Some(match error.get("code").and_then(|c| c.as_str()) {
        Some(code) => format!("{message} ({code})"),
        None => message.to_string(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ZonesPage {
    #[serde(default)]
    value: Vec<Zone>,
    next_link: Option<String>,
}

#[derive(Deserialize)]
struct Zone {
    id: String,
    name: String,
    #[serde(default)]
    properties: ZoneProperties,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ZoneProperties {
    zone_type: Option<String>,
}

#[derive(Deserialize)]
struct RecordSet {
    etag: Option<String>,
    #[serde(default)]
    properties: SetProperties,
}

#[derive(Default, Deserialize)]
struct SetProperties {
    #[serde(rename = "TTL")]
    ttl: Option<u32>,
    /// Serialized as `TLSARecords`
    /// (<https://learn.microsoft.com/en-us/dotnet/api/microsoft.azure.powershell.cmdlets.dns.models.irecordsetproperties.tlsarecord?view=az-ps-latest>).
    #[serde(rename = "TLSARecords", default)]
    tlsa: Vec<TlsaRecord>,
}

/// `usage`, `selector`, `matchingType` (numbers) and `certAssociationData` (hex), as
/// <https://learn.microsoft.com/en-us/dotnet/api/microsoft.azure.powershell.cmdlets.dns.models.api20230701preview.itlsarecord.certassociationdata?view=az-ps-12>
/// and its sibling pages name them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TlsaRecord {
    usage: u8,
    selector: u8,
    matching_type: u8,
    cert_association_data: String,
}

/// Whether `text` is a credential daneroll can use (for `config check`).
pub(crate) fn check_credential(text: &Secret) -> bool {
    serde_json::from_str::<Credential>(text.expose()).is_ok()
}

/// What [`check_credential`] expects.
pub(crate) const CREDENTIAL_FORMAT: &str = EXPECTED;

impl AzureDns {
    /// Reads the service principal's credential and prepares the clients.
    pub fn new(config: ApiConfig) -> Result<Self, ApiError> {
        let text = config
            .token
            .load_document()
            .map_err(|source| ApiError::Credential {
                provider: PROVIDER,
                source,
            })?;
        let credential: Credential =
            serde_json::from_str(text.expose()).map_err(|_| ApiError::Credential {
                provider: PROVIDER,
                source: CredentialError::BadFormat {
                    source_name: config.token.to_string(),
                    expected: EXPECTED,
                },
            })?;
        let client_secret = Secret::new(credential.client_secret);
        let hidden = vec![client_secret.clone(), text];
        let login = credential
            .active_directory_endpoint_url
            .unwrap_or_else(|| LOGIN_URL.to_string());
        let token_url = format!(
            "{}/{}/oauth2/v2.0/token",
            login.trim_end_matches('/'),
            segment(&credential.tenant_id)
        );
        let token = TokenEndpoint::new(
            PROVIDER,
            &token_url,
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
            client_id: credential.client_id,
            client_secret,
            subscription: credential.subscription_id,
            zone: config.zone.as_deref().map(rest::absolute),
            zones: ZoneCache::default(),
        })
    }

    /// Sends `call` with a fresh access token and the API version.
    async fn send<'a>(&self, call: Call<'a>) -> Result<(Reply, Call<'a>), BackendError> {
        let call = call.query("api-version", API_VERSION);
        let form = || {
            Ok(oauth::form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &self.client_id),
                ("client_secret", self.client_secret.expose()),
                ("scope", "https://management.azure.com/.default"),
            ]))
        };
        self.token.ensure(form).await?;
        let reply = self.api.send(&call).await?;
        Ok((reply, call))
    }

    async fn find_zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        let mut zones = Vec::new();
        let mut next = Some(format!(
            "/subscriptions/{}/providers/Microsoft.Network/dnszones",
            segment(&self.subscription)
        ));
        for _ in 0..MAX_PAGES {
            let Some(path) = next.take() else { break };
            let (reply, call) = self.send(Call::get(path, "")).await?;
            if !reply.status.is_success() {
                return Err(self.api.fail(&call, &reply).into());
            }
            let page: ZonesPage = self.api.decode(&call, &reply)?;
            zones.extend(
                page.value
                    .into_iter()
                    .filter(|z| z.properties.zone_type.as_deref() != Some("Private")),
            );
            if let Some(link) = page.next_link {
                next = Some(self.relative_link(&call, &link)?);
            }
        }
        let name = match &self.zone {
            Some(name) => name.clone(),
            None => rest::longest_zone(owner, zones.iter().map(|z| z.name.as_str())).ok_or_else(
                || {
                    let detail = format!(
                        "none of the {} public DNS zone(s) of subscription {} holds {owner}",
                        zones.len(),
                        self.subscription
                    );
                    BackendError::from(self.api.zone_not_found(owner, detail))
                },
            )?,
        };
        let Some(found) = zones.iter().find(|z| rest::absolute(&z.name) == name) else {
            let detail = format!(
                "subscription {} has no public DNS zone {name}",
                self.subscription
            );
            return Err(self.api.zone_not_found(owner, detail).into());
        };
        let zone = ZoneRef {
            name,
            id: found.id.clone(),
            default_ttl: None,
        };
        rest::inside(owner, &zone)?;
        Ok(zone)
    }

    /// A `nextLink` as a path below the API URL (without its `api-version`, which [`Self::send`]
    /// adds); a link elsewhere is refused, so the token goes nowhere else.
    fn relative_link(&self, call: &Call<'_>, link: &str) -> Result<String, BackendError> {
        let Some(rest) = link.strip_prefix(self.api.base()) else {
            let reason = format!("nextLink {link} leaves the API URL; not followed");
            return Err(self.api.bad_response(call, reason).into());
        };
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let query: Vec<&str> = query
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("api-version="))
            .collect();
        Ok(if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", query.join("&"))
        })
    }

    fn set_path(zone: &ZoneRef, owner: &str) -> String {
        let relative = match rest::relative(owner, &zone.name).unwrap_or_default() {
            "" => "@",
            name => name,
        };
        format!("{}/TLSA/{}", zone.id, segment(relative))
    }
}

#[async_trait]
impl CasStore for AzureDns {
    fn api(&self) -> &Api {
        &self.api
    }

    fn label(&self) -> &'static str {
        "Azure DNS API"
    }

    fn dnssec(&self) -> crate::DnssecSupport {
        DNSSEC
    }

    async fn zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        self.zones.get_or_find(owner, self.find_zone(owner)).await
    }

    async fn load(&self, zone: &ZoneRef, owner: &str) -> Result<Held, BackendError> {
        let call = Call::get(Self::set_path(zone, owner), &zone.name).about(owner, None);
        let (reply, call) = self.send(call).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(Held::default());
        }
        if !reply.status.is_success() {
            return Err(self.api.fail(&call, &reply).into());
        }
        let set: RecordSet = self.api.decode(&call, &reply)?;
        let ttl = set.properties.ttl.unwrap_or(3600);
        let mut records = Vec::new();
        let mut values = Vec::new();
        for r in set.properties.tlsa {
            let data = data_encoding::HEXLOWER_PERMISSIVE
                .decode(r.cert_association_data.as_bytes())
                .map_err(|e| {
                    self.api
                        .bad_response(&call, format!("TLSA data at {owner} is not hex: {e}"))
                })?;
            let record = Tlsa::new(r.usage, r.selector, r.matching_type, data);
            values.push(record.to_string());
            records.push(record);
        }
        Ok(Held {
            rrset: TlsaRrset::new(records, Some(ttl)),
            ttl,
            values,
            etag: set.etag,
        })
    }

    async fn apply(
        &self,
        zone: &ZoneRef,
        owner: &str,
        before: &Held,
        after: &[Tlsa],
        record: &Tlsa,
    ) -> Result<Applied, BackendError> {
        let path = Self::set_path(zone, owner);
        let mut call = if after.is_empty() {
            Call::new(Method::DELETE, path, &zone.name)
        } else {
            let records: Vec<serde_json::Value> = after
                .iter()
                .map(|r| {
                    json!({
                        "usage": r.usage,
                        "selector": r.selector,
                        "matchingType": r.mtype,
                        "certAssociationData": data_encoding::HEXLOWER.encode(&r.data),
                    })
                })
                .collect();
            let body = json!({ "properties": { "TTL": before.ttl, "TLSARecords": records } });
            Call::new(Method::PUT, path, &zone.name).json(body)
        };
        // `If-Match`: "the last-seen etag value to prevent accidentally overwriting any
        // concurrent changes"; `If-None-Match: *`: create, never update an existing set
        // (<https://learn.microsoft.com/en-us/rest/api/dns/record-sets/create-or-update>).
        call = match &before.etag {
            Some(etag) => call.header("if-match", etag.clone()),
            None => call.header("if-none-match", "*"),
        };
        let (reply, call) = self.send(call.about(owner, Some(record))).await?;
        match reply.status.as_u16() {
            200..=299 => Ok(Applied::Done),
            412 => Ok(Applied::Conflict),
            // Deleted by someone else since our read.
            404 if after.is_empty() => Ok(Applied::Conflict),
            _ => Err(self.api.fail(&call, &reply).into()),
        }
    }
}

rest::rest_backend!(AzureDns, cas);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_name_the_code() {
        let body = json!({ "error": { "code": "PreconditionFailed", "message": "The condition specified using HTTP conditional header(s) is not met." } });
        assert_eq!(
            error_text(&body).as_deref(),
            Some(
                "The condition specified using HTTP conditional header(s) is not met. (PreconditionFailed)"
            )
        );
    }

    #[test]
    fn credentials_are_the_sdk_auth_json() {
        let good =
            json!({ "clientId": "c", "clientSecret": "s", "subscriptionId": "x", "tenantId": "t" });
        assert!(check_credential(&Secret::new(good.to_string())));
        assert!(!check_credential(&Secret::new("c:s".to_string())));
    }
}
