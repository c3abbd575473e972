//! A fake Porkbun API v3, following <https://porkbun.com/api/json/v3/documentation> and its
//! OpenAPI form <https://porkbun.com/api/json/v3/spec>: every call is a `POST` whose JSON body
//! carries `apikey` and `secretapikey` ("Authentication"); answers are `{"status": "SUCCESS",
//! …}` or `{"status": "ERROR", "message": "…"}` ("Errors"); "Domain List All" pages with
//! `start` (the fake serves 2 domains a page, the real API 1000) and ends with an empty
//! `domains`; "DNS Create Record" takes `name` (relative), `type`, `content`, `ttl` ("the
//! minimum and the default is 600 seconds": a smaller TTL is stored as 600, which the fake
//! does too) and answers the new `id` as a number; "DNS Retrieve Records by Domain, Subdomain
//! and Type" lists `{"id", "name" (full name), "type", "content", "ttl", "prio", "notes"}` with
//! ids and TTLs as strings; "DNS Delete Record by Domain and ID".
//!
//! Like the real API as far as its documentation says, the fake does not refuse an identical
//! record. An invalid key pair is refused with HTTP 403 and "Invalid API key. (002)"; a domain
//! whose "API ACCESS" is off with "Domain is not opted in to API access."
//! ([`opt_out`]). Porkbun documents no rate-limit headers: [`throttled`] is HTTP 429 with
//! `Retry-After`, which is what daneroll honours from any provider.

use serde_json::{Value, json};

use super::{Fake, Request, Response, Shared, canonical, parse_value, random_hex, store};

const PER_PAGE: usize = 2;
const MINIMUM_TTL: u64 = 600;

/// A fake with `zones` under `/api/json/v3`; its credential is `APIKEY:SECRETAPIKEY`.
pub fn start(zones: &[&str]) -> Fake {
    let token = format!("pk1_{}:sk1_{}", random_hex(), random_hex());
    Fake::start_with_token("/api/json/v3", zones, token, handle)
}

/// The two parts of the fake's credential.
pub fn parts(fake: &Fake) -> [String; 2] {
    let parts: Vec<String> = fake.token().split(':').map(str::to_string).collect();
    // invariant: `start` makes a two-part credential.
    parts.try_into().expect("two parts")
}

/// Porkbun's rate-limit answer (no documented headers; `Retry-After` as HTTP has it).
pub fn throttled(seconds: u64) -> Response {
    error(429, "Too many requests.").header("Retry-After", seconds.to_string())
}

/// Switches "API ACCESS" off for every domain: the next calls about one are refused.
pub fn opt_out(fake: &Fake) {
    // invariant: no code panics while holding this lock.
    fake.shared.actions.lock().expect("actions").fail_next = true;
}

fn error(status: u16, message: &str) -> Response {
    Response::json(status, json!({ "status": "ERROR", "message": message }))
}

fn success(fields: Value) -> Response {
    let mut body = json!({ "status": "SUCCESS" });
    if let (Some(body), Some(fields)) = (body.as_object_mut(), fields.as_object()) {
        body.extend(fields.clone());
    }
    Response::json(200, body)
}

fn handle(shared: &Shared, request: &Request) -> Response {
    if request.method != "POST" {
        return error(405, "Method not allowed.");
    }
    let Some(body) = request.json() else {
        return error(400, "Invalid JSON.");
    };
    let field = |name: &str| body.get(name).and_then(Value::as_str).unwrap_or_default();
    let (key, secret) = shared.token.split_once(':').unwrap_or_default();
    if field("apikey") != key || field("secretapikey") != secret {
        return error(403, "Invalid API key. (002)");
    }
    let segments = request.segments();
    if segments.first() == Some(&"dns")
        // invariant: no code panics while holding this lock.
        && shared.actions.lock().expect("actions").fail_next
    {
        return error(400, "Domain is not opted in to API access.");
    }
    match segments.as_slice() {
        ["domain", "listAll"] => list_all(shared, &body),
        ["dns", "retrieveByNameType", domain, "TLSA", rest @ ..] => {
            retrieve(shared, domain, rest.first().copied().unwrap_or(""))
        }
        ["dns", "create", domain] => create(shared, domain, &body),
        ["dns", "delete", domain, id] => delete(shared, domain, id),
        _ => error(404, "Invalid endpoint."),
    }
}

fn number(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn list_all(shared: &Shared, body: &Value) -> Response {
    let start = number(body.get("start")).unwrap_or(0) as usize;
    let domains: Vec<Value> = shared.with(|store| {
        store
            .zones
            .iter()
            .skip(start)
            .take(PER_PAGE)
            .map(|z| {
                json!({
                    "domain": z.name, "status": "ACTIVE", "tld": z.name.rsplit('.').next(),
                    "createDate": "2026-01-01 00:00:00", "expireDate": "2027-01-01 00:00:00",
                    "securityLock": "1", "whoisPrivacy": "1", "autoRenew": 0, "notLocal": 0,
                })
            })
            .collect()
    });
    success(json!({ "domains": domains }))
}

fn invalid_domain() -> Response {
    error(400, "Invalid domain.")
}

fn retrieve(shared: &Shared, domain: &str, sub: &str) -> Response {
    let records = shared.with(|store| {
        let zone = store.zone_named(domain)?;
        let owner = zone.owner(sub);
        let records: Vec<Value> = zone
            .rrset(&owner)
            .map(|r| r.records.clone())
            .unwrap_or_default()
            .iter()
            .map(|r| {
                json!({
                    "id": r.id.trim_start_matches('0'), "name": owner.trim_end_matches('.'),
                    "type": "TLSA", "content": r.value, "ttl": r.ttl.to_string(),
                    "prio": "0", "notes": "",
                })
            })
            .collect();
        Some(records)
    });
    match records {
        Some(records) => success(json!({ "records": records })),
        None => invalid_domain(),
    }
}

fn create(shared: &Shared, domain: &str, body: &Value) -> Response {
    if body.get("type").and_then(Value::as_str) != Some("TLSA") {
        return error(400, "This fake serves TLSA records only.");
    }
    let content = body
        .get("content")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let record = match parse_value(content) {
        Ok(record) => record,
        Err(e) => return error(400, &format!("Invalid record content: {e}")),
    };
    let ttl = number(body.get("ttl"))
        .unwrap_or(MINIMUM_TTL)
        .max(MINIMUM_TTL) as u32;
    let sub = body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    shared.write(|store| {
        let id = store.next_id();
        let Some(zone) = store.zone_named(domain) else {
            return invalid_domain();
        };
        let owner = zone.owner(&sub);
        let rrset = zone.rrsets.entry(owner).or_default();
        rrset.ttl.get_or_insert(ttl);
        rrset.records.push(store::Record {
            id: id.clone(),
            value: canonical(&record),
            ttl,
        });
        success(json!({ "id": id.trim_start_matches('0').parse::<u64>().unwrap_or(0) }))
    })
}

fn delete(shared: &Shared, domain: &str, id: &str) -> Response {
    let wanted = format!("{:032}", id.parse::<u64>().unwrap_or(u64::MAX));
    shared.write(|store| {
        let Some(zone) = store.zone_named(domain) else {
            return invalid_domain();
        };
        let owner = zone
            .rrsets
            .iter()
            .find(|(_, r)| r.records.iter().any(|rec| rec.id == wanted))
            .map(|(owner, _)| owner.clone());
        let Some(owner) = owner else {
            return error(400, "Invalid record ID.");
        };
        if let Some(rrset) = zone.rrsets.get_mut(&owner) {
            rrset.records.retain(|r| r.id != wanted);
            if rrset.records.is_empty() {
                zone.rrsets.remove(&owner);
            }
        }
        success(json!({}))
    })
}
