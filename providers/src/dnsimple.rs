//! DNSimple through its v2 API.
//!
//! API reference: <https://developer.dnsimple.com/v2/> (authentication: an account access token
//! as `Authorization: Bearer …`; pagination with `page` / `per_page`, at most 100, and
//! `pagination.total_pages`; rate limits with `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
//! `X-RateLimit-Reset` (a Unix time), 429 beyond; errors `{"message": "…", "errors": {"field":
//! ["…"]}}`), <https://developer.dnsimple.com/v2/identity/> (`GET /whoami`: the token's
//! account), <https://developer.dnsimple.com/v2/zones/> and
//! <https://developer.dnsimple.com/v2/zones/records/>.
//!
//! - account: `GET /whoami` once; an account token names its account (`data.account.id`), a user
//!   token (`data.account` null) is refused with advice, since it may reach several accounts;
//! - zones: `GET /{account}/zones?page=N&per_page=100`, the longest name ending the owner wins;
//!   a configured zone is read with `GET /{account}/zones/{zone}` (404: not in the account);
//! - read: `GET /{account}/zones/{zone}/records?name=…&type=TLSA&page=N&per_page=100` (`name`
//!   is relative, `""` at the apex, and matched exactly);
//! - add: `POST /{account}/zones/{zone}/records` `{"name", "type": "TLSA", "content", "ttl"}`;
//! - remove: `DELETE /{account}/zones/{zone}/records/{id}` (204; 404: already gone).
//!
//! Records are created and deleted one by one, so other records are never rewritten
//! ([`crate::rest`]); the API has no conditional delete, so a compare-and-swap is a fresh list
//! compared with what the caller saw, then one delete by id. DNSimple signs a zone once DNSSEC
//! is enabled for its domain (`POST /{account}/domains/{domain}/dnssec`, or the web UI); for a
//! domain registered elsewhere the DS it shows must be added at that registrar.

use std::sync::OnceLock;

use async_trait::async_trait;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::error::BackendError;
use crate::http::{Api, ApiConfig, ApiError, Auth, Call, Dialect, by_status, segment};
use crate::record::Tlsa;
use crate::rest::{self, Entry, RecordStore, ZoneCache, ZoneRef};

const PROVIDER: &str = "DNSimple";

/// DNSimple's production API (`https://api.sandbox.dnsimple.com/v2` is its sandbox).
pub const DEFAULT_API_URL: &str = "https://api.dnsimple.com/v2";

/// How dnsimple zones get signed; see [`crate::DnssecSupport`].
pub const DNSSEC: crate::DnssecSupport = crate::DnssecSupport {
    signs: true,
    how: "in DNSimple, the domain → DNSSEC → \"Enable DNSSEC\" (or `POST /{account}/domains/{domain}/dnssec`): DNSimple signs the zone and, for a domain registered at DNSimple, publishes the DS itself; for a domain registered elsewhere add the DS it shows at that registrar",
};

const PER_PAGE: u32 = 100;
/// A bound on pages, so a server that keeps answering cannot keep us forever.
const MAX_PAGES: u32 = 1000;

/// The DNSimple backend.
#[derive(Debug)]
pub struct Dnsimple {
    api: Api,
    zone: Option<String>,
    zones: ZoneCache,
    account: OnceLock<String>,
}

#[derive(Debug, Deserialize)]
struct Data<T> {
    data: T,
    pagination: Option<Pagination>,
}

#[derive(Debug, Deserialize)]
struct Pagination {
    current_page: Option<u32>,
    total_pages: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct Whoami {
    account: Option<Account>,
}

#[derive(Debug, Deserialize)]
struct Account {
    id: u64,
}

#[derive(Debug, Deserialize)]
struct Zone {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Record {
    id: u64,
    #[serde(default)]
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    content: String,
    ttl: u32,
}

/// `{"message": "Validation failed", "errors": {"content": ["…"]}}`.
fn error_text(body: &serde_json::Value) -> Option<String> {
    let message = body.get("message")?.as_str()?.to_string();
    let details: Vec<String> = body
        .get("errors")
        .and_then(|e| e.as_object())
        .map(|fields| {
            fields
                .iter()
                .map(|(field, list)| {
                    let texts: Vec<&str> = list
                        .as_array()
                        .map(|l| l.iter().filter_map(|t| t.as_str()).collect())
                        .unwrap_or_default();
                    format!("{field}: {}", texts.join(" "))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(if details.is_empty() {
        message
    } else {
        format!("{message} ({})", details.join("; "))
    })
}

impl Dnsimple {
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
            account: OnceLock::new(),
        })
    }

    /// The account the token belongs to, asked once.
    async fn account(&self, owner: &str) -> Result<String, BackendError> {
        if let Some(account) = self.account.get() {
            return Ok(account.clone());
        }
        let call = Call::get("/whoami", "");
        let whoami: Data<Whoami> = self.api.send_json(&call).await?;
        let Some(account) = whoami.data.account else {
            let detail = "the token is a user token, which may reach several accounts; create \
                          an account token (Account → Access Tokens) for the account that \
                          holds the zone"
                .to_string();
            return Err(self.api.zone_not_found(owner, detail).into());
        };
        let id = account.id.to_string();
        let _ = self.account.set(id.clone());
        Ok(id)
    }

    /// Every page of a list; `make` builds the call for page N.
    async fn all_pages<'a, T: serde::de::DeserializeOwned>(
        &self,
        make: impl Fn(u32) -> Call<'a>,
    ) -> Result<Vec<T>, BackendError> {
        let mut items = Vec::new();
        for page in 1..=MAX_PAGES {
            let list: Data<Vec<T>> = self.api.send_json(&make(page)).await?;
            let got = list.data.len();
            items.extend(list.data);
            let (current, last) = list
                .pagination
                .map(|p| (p.current_page.unwrap_or(page), p.total_pages.unwrap_or(1)))
                .unwrap_or((page, 1));
            if got == 0 || current >= last {
                break;
            }
        }
        Ok(items)
    }

    async fn find_zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        let account = self.account(owner).await?;
        if let Some(name) = &self.zone {
            let path = format!(
                "/{}/zones/{}",
                segment(&account),
                segment(name.trim_end_matches('.'))
            );
            let call = Call::get(path, name);
            let reply = self.api.send(&call).await?;
            if reply.status.as_u16() == 404 {
                let detail = format!("account {account} has no zone {name}");
                return Err(self.api.zone_not_found(owner, detail).into());
            }
            if !reply.status.is_success() {
                return Err(self.api.fail(&call, &reply).into());
            }
            let zone = self.api.decode::<Data<Zone>>(&call, &reply)?.data;
            let zone = zone_ref(&account, &zone.name);
            rest::inside(owner, &zone)?;
            return Ok(zone);
        }
        let path = format!("/{}/zones", segment(&account));
        let zones: Vec<Zone> = self
            .all_pages(|page| {
                Call::get(path.clone(), "")
                    .query("page", page.to_string())
                    .query("per_page", PER_PAGE.to_string())
            })
            .await?;
        let best = rest::longest_zone(owner, zones.iter().map(|z| z.name.as_str()));
        best.map(|name| zone_ref(&account, &name)).ok_or_else(|| {
            let detail = format!(
                "none of the {} zone(s) of account {account} holds {owner}",
                zones.len()
            );
            self.api.zone_not_found(owner, detail).into()
        })
    }

    fn records_path(zone: &ZoneRef) -> String {
        // The id is `ACCOUNT/ZONE`, both already path-safe.
        format!("/{}/records", zone.id)
    }
}

fn zone_ref(account: &str, name: &str) -> ZoneRef {
    let name = rest::absolute(name);
    ZoneRef {
        id: format!(
            "{}/zones/{}",
            segment(account),
            segment(name.trim_end_matches('.'))
        ),
        name,
        default_ttl: None,
    }
}

#[async_trait]
impl RecordStore for Dnsimple {
    fn api(&self) -> &Api {
        &self.api
    }

    fn label(&self) -> &'static str {
        "DNSimple API"
    }

    fn dnssec(&self) -> crate::DnssecSupport {
        DNSSEC
    }

    async fn zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        self.zones.get_or_find(owner, self.find_zone(owner)).await
    }

    async fn list(&self, zone: &ZoneRef, owner: &str) -> Result<Vec<Entry>, BackendError> {
        let path = Self::records_path(zone);
        let name = rest::relative(owner, &zone.name)
            .unwrap_or_default()
            .to_string();
        let records: Vec<Record> = self
            .all_pages(|page| {
                Call::get(path.clone(), &zone.name)
                    .query("name", name.clone())
                    .query("type", "TLSA")
                    .query("page", page.to_string())
                    .query("per_page", PER_PAGE.to_string())
                    .about(owner, None)
            })
            .await?;
        records
            .iter()
            .filter(|r| r.rtype == "TLSA" && r.name.eq_ignore_ascii_case(&name))
            .map(|r| {
                let record = r.content.parse::<Tlsa>().map_err(|e| {
                    let call = Call::get(path.clone(), &zone.name);
                    self.api
                        .bad_response(&call, format!("TLSA record {} at {owner}: {e}", r.id))
                })?;
                Ok(Entry {
                    record,
                    ttl: r.ttl,
                    id: r.id.to_string(),
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
        let name = rest::relative(owner, &zone.name).unwrap_or_default();
        let body =
            json!({ "name": name, "type": "TLSA", "content": record.to_string(), "ttl": ttl });
        let call = Call::new(Method::POST, Self::records_path(zone), &zone.name)
            .json(body)
            .about(owner, Some(record));
        self.api.send_expecting_success(&call).await?;
        Ok(())
    }

    async fn delete(&self, zone: &ZoneRef, owner: &str, entry: &Entry) -> Result<(), BackendError> {
        let path = format!("{}/{}", Self::records_path(zone), segment(&entry.id));
        let call = Call::new(Method::DELETE, path, &zone.name).about(owner, Some(&entry.record));
        Ok(self.api.send_delete(&call).await?)
    }
}

rest::rest_backend!(Dnsimple, record);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors_name_the_field() {
        let body =
            json!({ "message": "Validation failed", "errors": { "ttl": ["must be at least 60"] } });
        assert_eq!(
            error_text(&body).as_deref(),
            Some("Validation failed (ttl: must be at least 60)")
        );
        let auth = json!({ "message": "Authentication failed" });
        assert_eq!(error_text(&auth).as_deref(), Some("Authentication failed"));
    }

    #[test]
    fn zone_ids_carry_the_account() {
        let zone = zone_ref("1010", "Example.COM");
        assert_eq!(zone.name, "example.com.");
        assert_eq!(zone.id, "1010/zones/example.com");
    }
}
