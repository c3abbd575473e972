//! A fake DNSimple API v2, following <https://developer.dnsimple.com/v2/> ("Authentication":
//! `Authorization: Bearer` with an account access token, 401 `{"message": "Authentication
//! failed"}`; "Pagination": `page`, `per_page` and `{"pagination": {"current_page",
//! "per_page", "total_entries", "total_pages"}}`; "Rate limiting": `X-RateLimit-Limit`,
//! `X-RateLimit-Remaining`, `X-RateLimit-Reset` on every answer, 429 beyond; "Errors":
//! `{"message", "errors": {field: [..]}}`), <https://developer.dnsimple.com/v2/identity/>
//! (`GET /whoami` → `{"data": {"user": null, "account": {"id", …}}}` for an account token),
//! <https://developer.dnsimple.com/v2/zones/> (list, get: 404 `{"message": "Zone `x` not
//! found"}`) and <https://developer.dnsimple.com/v2/zones/records/> (list with `name` matched
//! exactly and `type`; create → 201 `{"data": record}`; delete → 204; records carry `id`,
//! `zone_id`, `name` relative, `content`, `ttl`, `type`; the smallest TTL is 60).
//!
//! The account is [`ACCOUNT`]; a request for another account is refused as the API refuses a
//! token for a foreign account (404). The fake serves at most 2 items per page.

use serde_json::{Value, json};

use super::{Fake, Request, Response, Shared, Zone, canonical, parse_value, store};

/// The fake's account id.
pub const ACCOUNT: &str = "1010";
const MAX_PER_PAGE: usize = 2;
/// DNSimple's smallest TTL.
const MIN_TTL: u64 = 60;

/// A fake with `zones` under `/v2`.
pub fn start(zones: &[&str]) -> Fake {
    Fake::start("/v2", zones, handle)
}

/// 429 as DNSimple limits: the reset time as a Unix time, no `Retry-After`.
pub fn rate_limited(seconds: u64) -> Response {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        // invariant: the clock is after 1970.
        .expect("clock")
        .as_secs();
    message(429, "Too Many Requests")
        .header("X-RateLimit-Limit", "2400")
        .header("X-RateLimit-Remaining", "0")
        .header("X-RateLimit-Reset", (now + seconds).to_string())
}

fn message(status: u16, text: &str) -> Response {
    Response::json(status, json!({ "message": text }))
}

fn with_limits(response: Response) -> Response {
    response
        .header("X-RateLimit-Limit", "2400")
        .header("X-RateLimit-Remaining", "2399")
        .header("X-RateLimit-Reset", "4102444800")
}

fn handle(shared: &Shared, request: &Request) -> Response {
    if request.header("authorization") != Some(&format!("Bearer {}", shared.token)) {
        return message(401, "Authentication failed");
    }
    let segments = request.segments();
    let response = match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["whoami"]) => Response::json(
            200,
            json!({ "data": { "user": null, "account": { "id": ACCOUNT.parse::<u64>().unwrap_or(0), "email": "ops@example.com", "plan_identifier": "teams-v1-monthly" } } }),
        ),
        (_, [account, ..]) if *account != ACCOUNT => {
            message(404, &format!("Account `{account}` not found"))
        }
        ("GET", [_, "zones"]) => zones(shared, request),
        ("GET", [_, "zones", zone]) => one_zone(shared, zone),
        ("GET", [_, "zones", zone, "records"]) => records(shared, zone, request),
        ("POST", [_, "zones", zone, "records"]) => create(shared, zone, request),
        ("DELETE", [_, "zones", zone, "records", id]) => delete(shared, zone, id),
        _ => message(404, "Not found"),
    };
    with_limits(response)
}

/// One page of `items` with DNSimple's `pagination`.
fn page(items: Vec<Value>, request: &Request) -> Response {
    let page = request.query_number("page", 1).max(1);
    let per_page = request.query_number("per_page", 30).clamp(1, MAX_PER_PAGE);
    let total = items.len();
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let pagination = json!({
        "current_page": page, "per_page": per_page, "total_entries": total,
        "total_pages": total.div_ceil(per_page).max(1),
    });
    Response::json(200, json!({ "data": slice, "pagination": pagination }))
}

fn zone_object(zone: &Zone) -> Value {
    json!({
        "id": zone.id.trim_start_matches('0').parse::<u64>().unwrap_or(0),
        "account_id": ACCOUNT.parse::<u64>().unwrap_or(0),
        "name": zone.name, "reverse": false, "secondary": false, "active": true,
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
    })
}

fn zones(shared: &Shared, request: &Request) -> Response {
    let items = shared.with(|store| store.zones.iter().map(zone_object).collect());
    page(items, request)
}

fn not_found(zone: &str) -> Response {
    message(404, &format!("Zone `{zone}` not found"))
}

fn one_zone(shared: &Shared, name: &str) -> Response {
    shared.with(|store| match store.zone_named(name) {
        Some(zone) => Response::json(200, json!({ "data": zone_object(zone) })),
        None => not_found(name),
    })
}

fn record_object(zone: &Zone, owner: &str, record: &store::Record) -> Value {
    let name = zone.relative(owner);
    json!({
        "id": record.id.trim_start_matches('0').parse::<u64>().unwrap_or(0),
        "zone_id": zone.name, "parent_id": null,
        "name": if name == "@" { String::new() } else { name },
        "content": record.value, "ttl": record.ttl, "priority": null, "type": "TLSA",
        "regions": ["global"], "system_record": false,
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
    })
}

fn records(shared: &Shared, name: &str, request: &Request) -> Response {
    let wanted = request.query("name").map(str::to_ascii_lowercase);
    let rtype = request.query("type");
    let items = shared.with(|store| {
        let zone = store.zone_named(name)?;
        let items: Vec<Value> = zone
            .rrsets
            .iter()
            .filter(|(owner, _)| {
                let relative = zone.relative(owner);
                let relative = if relative == "@" { "" } else { &relative };
                wanted.as_deref().is_none_or(|w| w == relative)
            })
            .filter(|_| rtype.is_none_or(|t| t == "TLSA"))
            .flat_map(|(owner, rrset)| rrset.records.iter().map(|r| record_object(zone, owner, r)))
            .collect();
        Some(items)
    });
    match items {
        Some(items) => page(items, request),
        None => not_found(name),
    }
}

fn validation(field: &str, text: &str) -> Response {
    Response::json(
        400,
        json!({ "message": "Validation failed", "errors": { field: [text] } }),
    )
}

fn create(shared: &Shared, name: &str, request: &Request) -> Response {
    let Some(body) = request.json() else {
        return message(400, "Invalid JSON");
    };
    if body.get("type").and_then(Value::as_str) != Some("TLSA") {
        return validation("type", "this fake serves TLSA records only");
    }
    let content = body
        .get("content")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let record = match parse_value(content) {
        Ok(record) => record,
        Err(e) => return validation("content", &format!("is not a valid TLSA record: {e}")),
    };
    let ttl = body.get("ttl").and_then(Value::as_u64).unwrap_or(3600);
    if ttl < MIN_TTL {
        return validation("ttl", "must be greater than or equal to 60");
    }
    let relative = body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    shared.write(|store| {
        let id = store.next_id();
        let Some(zone) = store.zone_named(name) else {
            return not_found(name);
        };
        let owner = zone.owner(&relative);
        let value = canonical(&record);
        let present = zone
            .rrset(&owner)
            .is_some_and(|r| r.records.iter().any(|rec| rec.value == value));
        if present {
            return validation("base", "Zone record already exists");
        }
        let rrset = zone.rrsets.entry(owner.clone()).or_default();
        rrset.ttl.get_or_insert(ttl as u32);
        rrset.records.push(store::Record {
            id: id.clone(),
            value,
            ttl: ttl as u32,
        });
        let record = rrset.records.last().cloned();
        match record {
            Some(record) => {
                Response::json(201, json!({ "data": record_object(zone, &owner, &record) }))
            }
            None => message(500, "record lost"),
        }
    })
}

fn delete(shared: &Shared, name: &str, id: &str) -> Response {
    shared.write(|store| {
        let Some(zone) = store.zone_named(name) else {
            return not_found(name);
        };
        let wanted = format!("{:032}", id.parse::<u64>().unwrap_or(u64::MAX));
        let owner = zone
            .rrsets
            .iter()
            .find(|(_, r)| r.records.iter().any(|rec| rec.id == wanted))
            .map(|(owner, _)| owner.clone());
        let Some(owner) = owner else {
            return message(404, &format!("Record `{id}` not found"));
        };
        if let Some(rrset) = zone.rrsets.get_mut(&owner) {
            rrset.records.retain(|r| r.id != wanted);
            if rrset.records.is_empty() {
                zone.rrsets.remove(&owner);
            }
        }
        Response::empty(204)
    })
}
