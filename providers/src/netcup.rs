//! netcup DNS through the netcup CCP API (JSON).
//!
//! API reference: <https://ccp.netcup.net/run/webservice/servers/endpoint.php> (the endpoint's
//! own documentation: every call is a `POST` of `{"action", "param"}` to `endpoint.php?JSON`;
//! answers are `{"serverrequestid", "clientrequestid", "action", "status" ("success" or
//! "error"), "statuscode" (2000 on success), "shortmessage", "longmessage", "responsedata"}`,
//! HTTP 200 either way) with the actions `login` (`customernumber`, `apikey`, `apipassword` →
//! `apisessionid`), `infoDnsZone` (`name`, `ttl`, `serial`, …, `dnssecstatus`),
//! `infoDnsRecords` (`dnsrecords`: `{"id", "hostname", "type", "priority", "destination",
//! "deleterecord", "state"}`) and `updateDnsRecords` (`dnsrecordset.dnsrecords`: a record
//! without `id` is created, one with `id` and `deleterecord: true` deleted, the others are not
//! touched), and <https://helpcenter.netcup.com/en/wiki/general/our-api> (API key and API
//! password made in the CCP under "Master Data" → "API"; a session lasts 15 minutes).
//!
//! - credential: one secret, `CUSTOMERNUMBER:APIKEY:APIPASSWORD`, from the file or variable
//!   the config names; only `login` sends the password, later calls the session id;
//! - zone: the configured one, else the owner's enclosing names are asked for with
//!   `infoDnsZone` longest first (the API has no zone list for customers);
//! - read: `infoDnsRecords`, the TLSA records whose `hostname` is the owner (relative, `@` at
//!   the apex); their TTL is the zone's (netcup has one TTL per zone: a TTL asked for is not
//!   applied, and the read says what the zone has);
//! - add / remove: `updateDnsRecords` with that one record.
//!
//! A session that expired is renewed once (a new `login`). Records are changed one by one
//! ([`crate::rest`]); there is no conditional delete. netcup writes the change to its name
//! servers some minutes after the API accepted it: the observer, not the API, decides when the
//! record is served. netcup signs a zone once DNSSEC is switched on for the domain in the CCP
//! (`dnssecstatus`); it registers the DS itself, as it is the domain's registrar.

use std::sync::Mutex;

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::credential::{CredentialError, Secret};
use crate::error::BackendError;
use crate::http::{Api, ApiConfig, ApiError, Auth, AuthFailure, Call, Dialect};
use crate::record::Tlsa;
use crate::rest::{self, Entry, RecordStore, ZoneCache, ZoneRef};

const PROVIDER: &str = "netcup";

/// netcup's CCP API endpoint (the query `JSON` selects the JSON interface).
pub const DEFAULT_API_URL: &str = "https://ccp.netcup.net/run/webservice/servers/endpoint.php?JSON";

/// How netcup zones get signed; see [`crate::DnssecSupport`].
pub const DNSSEC: crate::DnssecSupport = crate::DnssecSupport {
    signs: true,
    how: "in the netcup CCP, Domains → the domain → DNS → \"DNSSEC\" (activate): netcup signs the zone and, as the domain's registrar, publishes the DS itself",
};

/// The netcup backend.
#[derive(Debug)]
pub struct Netcup {
    api: Api,
    customer: Secret,
    api_key: Secret,
    api_password: Secret,
    /// The session id of the last `login`.
    session: Mutex<Option<Secret>>,
    zone: Option<String>,
    zones: ZoneCache,
}

#[derive(Debug, Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    statuscode: u32,
    #[serde(default)]
    shortmessage: String,
    #[serde(default)]
    longmessage: String,
    #[serde(default)]
    responsedata: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct Login {
    apisessionid: String,
}

#[derive(Debug, Deserialize)]
struct ZoneInfo {
    name: String,
    ttl: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct Records {
    #[serde(default)]
    dnsrecords: Vec<Record>,
}

#[derive(Debug, Deserialize)]
struct Record {
    id: String,
    hostname: String,
    #[serde(rename = "type")]
    rtype: String,
    destination: String,
}

/// `shortmessage: longmessage (statuscode)`.
fn error_text(body: &serde_json::Value) -> Option<String> {
    let short = body
        .get("shortmessage")
        .and_then(|m| m.as_str())
        .unwrap_or("");
    let long = body
        .get("longmessage")
        .and_then(|m| m.as_str())
        .unwrap_or("");
    let code = body.get("statuscode").and_then(|c| c.as_u64());
    let text = [short, long]
        .into_iter()
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    match (text.is_empty(), code) {
        (true, _) => None,
        (false, Some(code)) => Some(format!("{text} ({code})")),
        (false, None) => Some(text),
    }
}

/// Whether an error answer means the session is gone (expired or unknown).
fn session_lost(answer: &Answer) -> bool {
    let text = format!("{} {}", answer.shortmessage, answer.longmessage).to_ascii_lowercase();
    text.contains("session")
}

/// The zone's TTL, which netcup sends as a string.
fn ttl_of(value: &serde_json::Value) -> Option<u32> {
    match value {
        serde_json::Value::String(s) => s.trim().parse().ok(),
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        _ => None,
    }
}

impl Netcup {
    /// Reads the credential (`CUSTOMERNUMBER:APIKEY:APIPASSWORD`) and prepares the client.
    pub fn new(config: ApiConfig) -> Result<Self, ApiError> {
        let credential = config.token.load().map_err(|source| ApiError::Credential {
            provider: PROVIDER,
            source,
        })?;
        let Some([customer, api_key, api_password]) = credential
            .split(3)
            .and_then(|parts| <[Secret; 3]>::try_from(parts).ok())
        else {
            return Err(ApiError::Credential {
                provider: PROVIDER,
                source: CredentialError::BadFormat {
                    source_name: config.token.to_string(),
                    expected: CREDENTIAL_FORM,
                },
            });
        };
        let dialect = Dialect {
            error_text,
            auth_failure: |status, _| match status {
                StatusCode::UNAUTHORIZED => Some(AuthFailure::BadToken),
                StatusCode::FORBIDDEN => Some(AuthFailure::Forbidden),
                _ => None,
            },
        };
        let api = Api::new(
            PROVIDER,
            &config.api_url,
            Auth::IN_BODY,
            &config.token,
            credential,
            config.retry.clone(),
            dialect,
        )?
        .with_hidden(vec![api_key.clone(), api_password.clone()]);
        Ok(Self {
            api,
            customer,
            api_key,
            api_password,
            session: Mutex::new(None),
            zone: config.zone.as_deref().map(rest::absolute),
            zones: ZoneCache::default(),
        })
    }

    /// Sends one action; `Err` for transport failures and HTTP errors, the answer otherwise.
    async fn send(&self, call: &Call<'_>) -> Result<Answer, BackendError> {
        let reply = self.api.send(call).await?;
        if !reply.status.is_success() {
            return Err(self.api.fail(call, &reply).into());
        }
        Ok(self.api.decode(call, &reply)?)
    }

    /// Logs in and remembers the session.
    async fn login(&self) -> Result<Secret, BackendError> {
        let body = json!({
            "action": "login",
            "param": {
                "customernumber": self.customer.expose(),
                "apikey": self.api_key.expose(),
                "apipassword": self.api_password.expose(),
            },
        });
        let call = Call::new(Method::POST, "", "").json(body);
        let answer = self.send(&call).await?;
        if answer.status != "success" {
            let message = self.message(&answer);
            return Err(self
                .api
                .auth_error(&call, AuthFailure::BadToken, &message)
                .into());
        }
        let login: Login = serde_json::from_value(answer.responsedata)
            .map_err(|e| self.api.bad_response(&call, format!("login: {e}")))?;
        let session = Secret::new(login.apisessionid);
        if let Ok(mut slot) = self.session.lock() {
            *slot = Some(session.clone());
        }
        Ok(session)
    }

    fn message(&self, answer: &Answer) -> String {
        let body = json!({
            "shortmessage": answer.shortmessage,
            "longmessage": answer.longmessage,
            "statuscode": answer.statuscode,
        });
        error_text(&body).unwrap_or_else(|| answer.status.clone())
    }

    /// Runs `action` with `param` (plus the session) about `zone`; logs in first if needed and
    /// once more if the session expired. The answer's data on success.
    async fn act(
        &self,
        action: &str,
        zone: &str,
        param: serde_json::Value,
        about: Option<(&str, Option<&Tlsa>)>,
    ) -> Result<Result<serde_json::Value, String>, BackendError> {
        let cached = self.session.lock().ok().and_then(|s| s.clone());
        let mut session = match cached {
            Some(session) => session,
            None => self.login().await?,
        };
        for round in 0..2 {
            let mut body = json!({
                "action": action,
                "param": {
                    "customernumber": self.customer.expose(),
                    "apikey": self.api_key.expose(),
                    "apisessionid": session.expose(),
                },
            });
            if let (Some(into), Some(from)) = (body["param"].as_object_mut(), param.as_object()) {
                into.extend(from.clone());
            }
            let mut call = Call::new(Method::POST, "", zone).json(body);
            if let Some((owner, record)) = about {
                call = call.about(owner, record);
            }
            let answer = self.send(&call).await?;
            if answer.status == "success" {
                return Ok(Ok(answer.responsedata));
            }
            if round == 0 && session_lost(&answer) {
                session = self.login().await?;
                continue;
            }
            return Ok(Err(self.message(&answer)));
        }
        Ok(Err("the session expired twice in a row".to_string()))
    }

    /// The zone named `name` if the account has it.
    async fn zone_named(&self, name: &str) -> Result<Option<ZoneRef>, BackendError> {
        let id = name.trim_end_matches('.').to_string();
        let param = json!({ "domainname": id });
        let Ok(data) = self.act("infoDnsZone", "", param, None).await? else {
            return Ok(None);
        };
        let info: ZoneInfo = serde_json::from_value(data).map_err(|e| {
            let call = Call::new(Method::POST, "", "");
            self.api
                .bad_response(&call, format!("infoDnsZone {id}: {e}"))
        })?;
        let name = rest::absolute(&info.name);
        Ok(Some(ZoneRef {
            id: name.trim_end_matches('.').to_string(),
            name,
            default_ttl: ttl_of(&info.ttl),
        }))
    }

    async fn find_zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        if let Some(name) = &self.zone {
            let Some(zone) = self.zone_named(name).await? else {
                let detail = format!("the account has no DNS zone {name}");
                return Err(self.api.zone_not_found(owner, detail).into());
            };
            rest::inside(owner, &zone)?;
            return Ok(zone);
        }
        let labels: Vec<&str> = owner.trim_end_matches('.').split('.').collect();
        // Longest first; a TLD alone is never a customer's zone.
        for start in 0..labels.len().saturating_sub(1) {
            if let Some(zone) = self.zone_named(&labels[start..].join(".")).await? {
                rest::inside(owner, &zone)?;
                return Ok(zone);
            }
        }
        let detail = format!("no DNS zone of this account holds {owner}");
        Err(self.api.zone_not_found(owner, detail).into())
    }

    /// `updateDnsRecords` with one record; the refusal as the record rejected.
    async fn update(
        &self,
        zone: &ZoneRef,
        owner: &str,
        record: &Tlsa,
        entry: serde_json::Value,
    ) -> Result<(), BackendError> {
        let param = json!({ "domainname": zone.id, "dnsrecordset": { "dnsrecords": [entry] } });
        match self
            .act(
                "updateDnsRecords",
                &zone.name,
                param,
                Some((owner, Some(record))),
            )
            .await?
        {
            Ok(_) => Ok(()),
            Err(message) => {
                let call = Call::new(Method::POST, "", &zone.name).about(owner, Some(record));
                Err(self.api.refused(&call, 200, &message).into())
            }
        }
    }
}

/// What the credential looks like, for errors.
pub(crate) const CREDENTIAL_FORM: &str = "CUSTOMERNUMBER:APIKEY:APIPASSWORD (the customer number \
     and the API key and API password made in the CCP under Master Data → API, joined by colons)";

fn hostname(owner: &str, zone: &ZoneRef) -> String {
    match rest::relative(owner, &zone.name).unwrap_or_default() {
        "" => "@".to_string(),
        sub => sub.to_string(),
    }
}

#[async_trait]
impl RecordStore for Netcup {
    fn api(&self) -> &Api {
        &self.api
    }

    fn label(&self) -> &'static str {
        "netcup CCP API"
    }

    fn dnssec(&self) -> crate::DnssecSupport {
        DNSSEC
    }

    async fn zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        self.zones.get_or_find(owner, self.find_zone(owner)).await
    }

    async fn list(&self, zone: &ZoneRef, owner: &str) -> Result<Vec<Entry>, BackendError> {
        let param = json!({ "domainname": zone.id });
        let call = Call::new(Method::POST, "", &zone.name).about(owner, None);
        let data = match self
            .act("infoDnsRecords", &zone.name, param, Some((owner, None)))
            .await?
        {
            Ok(data) => data,
            Err(message) => return Err(self.api.refused(&call, 200, &message).into()),
        };
        let records: Records = serde_json::from_value(data)
            .map_err(|e| self.api.bad_response(&call, format!("infoDnsRecords: {e}")))?;
        let wanted = hostname(owner, zone);
        let ttl = zone.default_ttl.unwrap_or(86400);
        records
            .dnsrecords
            .into_iter()
            .filter(|r| r.rtype == "TLSA" && r.hostname.eq_ignore_ascii_case(&wanted))
            .map(|r| {
                let record = r.destination.parse::<Tlsa>().map_err(|e| {
                    self.api
                        .bad_response(&call, format!("TLSA record {} at {owner}: {e}", r.id))
                })?;
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
        _ttl: u32,
        _existing: &[Entry],
    ) -> Result<(), BackendError> {
        let entry = json!({
            "hostname": hostname(owner, zone),
            "type": "TLSA",
            "priority": "",
            "destination": record.to_string(),
            "deleterecord": false,
        });
        let posted = self.update(zone, owner, record, entry).await;
        // Whatever the answer, look at what netcup holds now: nothing documents that it
        // refuses an identical record, so an update retried after a lost answer may have made
        // two, and one that failed in the end may have been applied by an earlier attempt.
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
        let item = json!({
            "id": entry.id,
            "hostname": hostname(owner, zone),
            "type": "TLSA",
            "priority": "",
            "destination": entry.record.to_string(),
            "deleterecord": true,
        });
        self.update(zone, owner, &entry.record, item).await
    }
}

rest::rest_backend!(Netcup, record);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_zone_ttls() {
        let body = json!({ "status": "error", "statuscode": 4013, "shortmessage": "Validation Error.", "longmessage": "Value in field destination does not match requirements of type: TLSA." });
        assert_eq!(
            error_text(&body).as_deref(),
            Some(
                "Validation Error. Value in field destination does not match requirements of \
                 type: TLSA. (4013)"
            )
        );
        assert_eq!(ttl_of(&json!("86400")), Some(86400));
        assert_eq!(ttl_of(&json!(300)), Some(300));
        let zone = ZoneRef {
            name: "example.com.".into(),
            id: "example.com".into(),
            default_ttl: None,
        };
        assert_eq!(hostname("example.com.", &zone), "@");
        assert_eq!(hostname("_25._tcp.mx.example.com.", &zone), "_25._tcp.mx");
    }
}
