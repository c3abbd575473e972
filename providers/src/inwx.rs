//! INWX DNS through the DomRobot JSON-RPC API.
//!
//! API reference: <https://www.inwx.com/en/help/apidoc> (DomRobot: `POST /jsonrpc/` with
//! `{"method", "params"}`, answers `{"code", "msg", "resData"}` with HTTP 200 whatever
//! happened, 1000/1001 on success, 2200 "Authentication error", 2303 "Object does not exist";
//! `account.login` (`user`, `pass`) sets the `domrobot` session cookie and answers `tfa` when
//! two-factor authentication waits for `account.unlock`), `nameserver.list` (`page`,
//! `pagelimit`; `count` and `domains`), `nameserver.info` (`domain`, `type`, `name`; `record`:
//! `{"id", "name" (full name), "type", "content", "ttl"}`), `nameserver.createRecord`
//! (`domain`, `type`, `name` relative, `content`, `ttl` at least 300) and
//! `nameserver.deleteRecord` (`id`).
//!
//! # Why INWX is supported now, and with which account
//!
//! INWX has no API tokens: `account.login` takes a user name and password. An account's own
//! login reaches everything (domains, transfers, contacts) and usually has a TOTP second factor
//! that INWX refuses to accept twice in 30 s. INWX's "User Management" (Account → User
//! management → add user) creates additional users with their own password, two-factor
//! authentication optional and a chosen set of permissions — INWX's own answer for API access
//! (inwx/ansible-collection#17). daneroll is meant to run with such a user, allowed only the
//! nameserver functions and without a second factor; a login that asks for one is refused with
//! that advice, and the account's own credentials are never needed.
//!
//! - credential: `USERNAME:PASSWORD` of that user, from the file or variable the config names;
//!   only `account.login` sends the password, later calls the session cookie;
//! - zones: every page of `nameserver.list`, the longest domain ending the owner wins;
//! - read: `nameserver.info` with `type=TLSA` and the owner's full `name`;
//! - add: `nameserver.createRecord`; remove: `nameserver.deleteRecord` by id.
//!
//! A session that ended is renewed once. Records are changed one by one ([`crate::rest`]);
//! there is no conditional delete. INWX signs a zone on its name servers once DNSSEC is
//! switched on for the domain (web interface → DNSSEC, "AutoDNSSEC"), and publishes the DS
//! itself for domains registered at INWX.

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

const PROVIDER: &str = "INWX";

/// INWX's live API (`https://api.ote.domrobot.com` is its test system).
pub const DEFAULT_API_URL: &str = "https://api.domrobot.com";

/// How INWX zones get signed; see [`crate::DnssecSupport`].
pub const DNSSEC: crate::DnssecSupport = crate::DnssecSupport {
    signs: true,
    how: "in the INWX web interface, the domain → \"DNSSEC\" → enable (AutoDNSSEC): INWX signs the zone on its name servers and, for a domain registered at INWX, publishes the DS itself",
};

/// What the credential looks like, for errors.
pub(crate) const CREDENTIAL_FORM: &str = "USERNAME:PASSWORD of an INWX user made for daneroll \
     (User Management: only the nameserver permissions, no two-factor authentication)";

const PER_PAGE: u32 = 100;
/// A bound on pages, so a server that keeps answering cannot keep us forever.
const MAX_PAGES: u32 = 1000;
/// The smallest TTL INWX accepts.
pub const MINIMUM_TTL: u32 = 300;

/// The INWX backend.
#[derive(Debug)]
pub struct Inwx {
    api: Api,
    user: Secret,
    password: Secret,
    /// The `domrobot` cookie of the last login.
    session: Mutex<Option<Secret>>,
    zone: Option<String>,
    zones: ZoneCache,
}

#[derive(Debug, Deserialize)]
struct Answer {
    code: u32,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(rename = "resData", default)]
    res_data: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct DomainList {
    #[serde(default)]
    count: Option<u64>,
    #[serde(default)]
    domains: Vec<Domain>,
}

#[derive(Debug, Deserialize)]
struct Domain {
    domain: String,
}

#[derive(Debug, Deserialize)]
struct Info {
    #[serde(default)]
    record: Vec<Record>,
}

#[derive(Debug, Deserialize)]
struct Record {
    id: serde_json::Value,
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    content: String,
    ttl: u32,
}

/// `msg (code): reason`.
fn error_text(body: &serde_json::Value) -> Option<String> {
    let msg = body.get("msg")?.as_str()?;
    let code = body.get("code").and_then(|c| c.as_u64());
    let reason = body.get("reason").and_then(|r| r.as_str());
    let mut text = match code {
        Some(code) => format!("{msg} ({code})"),
        None => msg.to_string(),
    };
    if let Some(reason) = reason {
        text.push_str(": ");
        text.push_str(reason);
    }
    Some(text)
}

fn text_of(answer: &Answer) -> String {
    let body = json!({ "msg": answer.msg, "code": answer.code, "reason": answer.reason });
    error_text(&body).unwrap_or_else(|| answer.code.to_string())
}

fn succeeded(answer: &Answer) -> bool {
    matches!(answer.code, 1000 | 1001)
}

impl Inwx {
    /// Reads the credential (`USERNAME:PASSWORD`) and prepares the client.
    pub fn new(config: ApiConfig) -> Result<Self, ApiError> {
        let credential = config.token.load().map_err(|source| ApiError::Credential {
            provider: PROVIDER,
            source,
        })?;
        let Some((user, password)) = parse_credential(&credential) else {
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
        .with_hidden(vec![password.clone()]);
        Ok(Self {
            api,
            user,
            password,
            session: Mutex::new(None),
            zone: config.zone.as_deref().map(rest::absolute),
            zones: ZoneCache::default(),
        })
    }

    fn call<'a>(&self, method: &str, zone: &'a str, params: serde_json::Value) -> Call<'a> {
        Call::new(Method::POST, "/jsonrpc/", zone)
            .json(json!({ "method": method, "params": params }))
    }

    /// Sends one call; `Err` for transport failures and HTTP errors, the answer otherwise.
    async fn send(
        &self,
        call: &Call<'_>,
    ) -> Result<(Answer, reqwest::header::HeaderMap), BackendError> {
        let reply = self.api.send(call).await?;
        if !reply.status.is_success() {
            return Err(self.api.fail(call, &reply).into());
        }
        let answer: Answer = self.api.decode(call, &reply)?;
        Ok((answer, reply.headers))
    }

    /// Logs in and remembers the session cookie.
    async fn login(&self) -> Result<Secret, BackendError> {
        let params = json!({
            "user": self.user.expose(),
            "pass": self.password.expose(),
            "lang": "en",
        });
        let call = self.call("account.login", "", params);
        let (answer, headers) = self.send(&call).await?;
        if !succeeded(&answer) {
            let failure = if answer.code == 2200 {
                AuthFailure::BadToken
            } else {
                AuthFailure::Forbidden
            };
            let message = text_of(&answer);
            return Err(self.api.auth_error(&call, failure, &message).into());
        }
        let tfa = answer
            .res_data
            .get("tfa")
            .and_then(|t| t.as_str())
            .unwrap_or("0");
        if tfa != "0" {
            let message = "this INWX user has two-factor authentication on; create a user for \
                           daneroll in User Management without it, allowed only the nameserver \
                           functions";
            return Err(self
                .api
                .auth_error(&call, AuthFailure::Forbidden, message)
                .into());
        }
        let cookie = headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.split(';').next().filter(|c| c.starts_with("domrobot=")))
            .ok_or_else(|| {
                self.api
                    .bad_response(&call, "the login set no domrobot cookie")
            })?;
        let session = Secret::new(cookie);
        if let Ok(mut slot) = self.session.lock() {
            *slot = Some(session.clone());
        }
        Ok(session)
    }

    /// Runs `method` with `params`, logged in; logs in again once if the session ended.
    async fn act(
        &self,
        method: &str,
        zone: &str,
        params: serde_json::Value,
        about: Option<(&str, Option<&Tlsa>)>,
    ) -> Result<Result<serde_json::Value, (u32, String)>, BackendError> {
        let cached = self.session.lock().ok().and_then(|s| s.clone());
        let mut session = match cached {
            Some(session) => session,
            None => self.login().await?,
        };
        for round in 0..2 {
            let mut call = self
                .call(method, zone, params.clone())
                .cookie(session.clone());
            if let Some((owner, record)) = about {
                call = call.about(owner, record);
            }
            let (answer, _) = self.send(&call).await?;
            if succeeded(&answer) {
                return Ok(Ok(answer.res_data));
            }
            // 2002 "Command use error": not logged in (the session ended).
            if round == 0 && matches!(answer.code, 2002 | 2200) {
                session = self.login().await?;
                continue;
            }
            return Ok(Err((answer.code, text_of(&answer))));
        }
        Ok(Err((2002, "the session ended twice in a row".to_string())))
    }

    async fn domains(&self) -> Result<Vec<String>, BackendError> {
        let mut names = Vec::new();
        for page in 1..=MAX_PAGES {
            let params = json!({ "page": page, "pagelimit": PER_PAGE });
            let call = self.call("nameserver.list", "", params.clone());
            let data = match self.act("nameserver.list", "", params, None).await? {
                Ok(data) => data,
                Err((code, message)) => {
                    return Err(self
                        .api
                        .refused(&call, 200, &format!("{message} [{code}]"))
                        .into());
                }
            };
            let list: DomainList = serde_json::from_value(data).map_err(|e| {
                self.api
                    .bad_response(&call, format!("nameserver.list: {e}"))
            })?;
            let got = list.domains.len();
            names.extend(list.domains.into_iter().map(|d| d.domain));
            let total = list.count.unwrap_or(0) as usize;
            if got == 0 || names.len() >= total {
                break;
            }
        }
        Ok(names)
    }

    async fn find_zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        let domains = self.domains().await?;
        let name = match &self.zone {
            Some(name) => {
                if !domains.iter().any(|d| rest::absolute(d) == *name) {
                    let detail = format!("the account has no DNS zone {name}");
                    return Err(self.api.zone_not_found(owner, detail).into());
                }
                name.clone()
            }
            None => {
                rest::longest_zone(owner, domains.iter().map(String::as_str)).ok_or_else(|| {
                    let detail = format!(
                        "none of the {} DNS zone(s) of this account holds {owner}",
                        domains.len()
                    );
                    BackendError::from(self.api.zone_not_found(owner, detail))
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

    fn refusal(
        &self,
        zone: &ZoneRef,
        owner: &str,
        record: Option<&Tlsa>,
        code: u32,
        message: &str,
    ) -> BackendError {
        let call = Call::new(Method::POST, "/jsonrpc/", &zone.name).about(owner, record);
        self.api
            .refused(&call, 200, &format!("{message} [{code}]"))
            .into()
    }
}

/// `USERNAME:PASSWORD` (the password may hold colons).
pub(crate) fn parse_credential(credential: &Secret) -> Option<(Secret, Secret)> {
    let (user, password) = credential.expose().split_once(':')?;
    (!user.is_empty() && !password.is_empty()).then(|| (Secret::new(user), Secret::new(password)))
}

#[async_trait]
impl RecordStore for Inwx {
    fn api(&self) -> &Api {
        &self.api
    }

    fn label(&self) -> &'static str {
        "INWX API"
    }

    fn dnssec(&self) -> crate::DnssecSupport {
        DNSSEC
    }

    async fn zone(&self, owner: &str) -> Result<ZoneRef, BackendError> {
        self.zones.get_or_find(owner, self.find_zone(owner)).await
    }

    async fn list(&self, zone: &ZoneRef, owner: &str) -> Result<Vec<Entry>, BackendError> {
        let name = owner.trim_end_matches('.');
        let params = json!({ "domain": zone.id, "type": "TLSA", "name": name });
        let data = match self
            .act("nameserver.info", &zone.name, params, Some((owner, None)))
            .await?
        {
            Ok(data) => data,
            Err((code, message)) => return Err(self.refusal(zone, owner, None, code, &message)),
        };
        let call = Call::new(Method::POST, "/jsonrpc/", &zone.name);
        let info: Info = serde_json::from_value(data).map_err(|e| {
            self.api
                .bad_response(&call, format!("nameserver.info: {e}"))
        })?;
        info.record
            .into_iter()
            .filter(|r| r.rtype == "TLSA" && rest::absolute(&r.name) == owner)
            .map(|r| {
                let id = match &r.id {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let record = r.content.parse::<Tlsa>().map_err(|e| {
                    self.api
                        .bad_response(&call, format!("TLSA record {id} at {owner}: {e}"))
                })?;
                Ok(Entry {
                    record,
                    ttl: r.ttl,
                    id,
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
        let params = json!({
            "domain": zone.id,
            "type": "TLSA",
            "name": name,
            "content": record.to_string(),
            "ttl": ttl.max(MINIMUM_TTL),
        });
        match self
            .act(
                "nameserver.createRecord",
                &zone.name,
                params,
                Some((owner, Some(record))),
            )
            .await?
        {
            Ok(_) => Ok(()),
            Err((code, message)) => Err(self.refusal(zone, owner, Some(record), code, &message)),
        }
    }

    async fn delete(&self, zone: &ZoneRef, owner: &str, entry: &Entry) -> Result<(), BackendError> {
        let id: serde_json::Value = entry
            .id
            .parse::<u64>()
            .map(serde_json::Value::from)
            .unwrap_or_else(|_| serde_json::Value::from(entry.id.clone()));
        let params = json!({ "id": id });
        match self
            .act(
                "nameserver.deleteRecord",
                &zone.name,
                params,
                Some((owner, Some(&entry.record))),
            )
            .await?
        {
            Ok(_) => Ok(()),
            // 2303: someone deleted it first, which is what we wanted.
            Err((2303, _)) => Ok(()),
            Err((code, message)) => {
                Err(self.refusal(zone, owner, Some(&entry.record), code, &message))
            }
        }
    }
}

rest::rest_backend!(Inwx, record);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_credentials() {
        let body = json!({ "code": 2200, "msg": "Authentication error" });
        assert_eq!(
            error_text(&body).as_deref(),
            Some("Authentication error (2200)")
        );
        let (user, password) = parse_credential(&Secret::new("dane:pa:ss")).unwrap();
        assert_eq!((user.expose(), password.expose()), ("dane", "pa:ss"));
        assert!(parse_credential(&Secret::new("nopassword")).is_none());
    }
}
