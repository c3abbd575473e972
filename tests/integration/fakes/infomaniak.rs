//! A fake Infomaniak API v2, following <https://developer.infomaniak.com/getting-started>
//! (`Authorization: Bearer` with an API token; `{"result": "success", "data": …}` and
//! `{"result": "error", "error": {"code", "description"}}`; 401 `not_authorized`; lists paged
//! with `page`, `per_page` and `pages`, `total`, `items_per_page` in the answer) and the DNS
//! endpoints <https://developer.infomaniak.com/docs/api/get/2/zones/%7Bzone%7D> (a zone:
//! `{"id", "fqdn", "dnssec": {"is_enabled"}, "nameservers"}`; 404 `not_found` for a zone the
//! account does not have), `…/get/2/zones/%7Bzone%7D/records` (`filter[types][]`,
//! `filter[source]`; records `{"id", "source", "type", "target", "ttl", "updated_at"}` with
//! `.` as the apex's source), `…/post/2/zones/%7Bzone%7D/records` (answers the new record) and
//! `…/delete/2/zones/%7Bzone%7D/records/%7Brecord%7D` (answers `true`).
//!
//! The fake serves at most 2 records a page. With [`answer_wrong_ids`] it answers a create with
//! an id that is not the new record's, so a client that trusts the answer deletes nothing (or
//! the wrong record) later. Infomaniak documents no rate-limit headers of its
//! own; [`throttled`] is HTTP 429 with `Retry-After`.

use serde_json::{Value, json};

use super::{Fake, Request, Response, Shared, Zone, canonical, parse_value, store};

const MAX_PER_PAGE: usize = 2;

/// A fake with `zones`, its API under `/infomaniak` (`/infomaniak/2/zones/…`).
pub fn start(zones: &[&str]) -> Fake {
    Fake::start("/infomaniak", zones, handle)
}

/// Makes the fake answer every create with a wrong record id.
pub fn answer_wrong_ids(fake: &Fake) {
    // invariant: no code panics while holding this lock.
    fake.shared.actions.lock().expect("actions").wrong_ids = true;
}

/// Infomaniak's rate-limit answer.
pub fn throttled(seconds: u64) -> Response {
    error(429, "too_many_requests", "Too many requests").header("Retry-After", seconds.to_string())
}

fn error(status: u16, code: &str, description: &str) -> Response {
    Response::json(
        status,
        json!({ "result": "error", "error": { "code": code, "description": description } }),
    )
}

fn success(data: Value) -> Response {
    Response::json(200, json!({ "result": "success", "data": data }))
}

fn handle(shared: &Shared, request: &Request) -> Response {
    if request.header("authorization") != Some(&format!("Bearer {}", shared.token)) {
        return error(401, "not_authorized", "Authorization required");
    }
    let segments = request.segments();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["2", "zones", zone]) => one_zone(shared, zone),
        ("GET", ["2", "zones", zone, "records"]) => records(shared, zone, request),
        ("POST", ["2", "zones", zone, "records"]) => create(shared, zone, request),
        ("DELETE", ["2", "zones", zone, "records", id]) => delete(shared, zone, id),
        _ => error(404, "not_found", "Route not found"),
    }
}

fn zone_missing(name: &str) -> Response {
    error(404, "not_found", &format!("Zone {name} not found"))
}

fn one_zone(shared: &Shared, name: &str) -> Response {
    shared.with(|store| match store.zone_named(name) {
        Some(zone) => success(json!({
            "id": zone.id.trim_start_matches('0').parse::<u64>().unwrap_or(0),
            "fqdn": zone.name, "dnssec": { "is_enabled": true },
            "nameservers": ["ns11.infomaniak.ch", "ns12.infomaniak.ch"],
        })),
        None => zone_missing(name),
    })
}

fn source_of(zone: &Zone, owner: &str) -> String {
    match zone.relative(owner).as_str() {
        "@" => ".".to_string(),
        sub => sub.to_string(),
    }
}

fn record_object(zone: &Zone, owner: &str, record: &store::Record) -> Value {
    json!({
        "id": record.id.trim_start_matches('0').parse::<u64>().unwrap_or(0),
        "source": source_of(zone, owner), "type": "TLSA", "target": record.value,
        "ttl": record.ttl, "updated_at": 1_767_225_600,
    })
}

fn records(shared: &Shared, name: &str, request: &Request) -> Response {
    let types = request.query("filter[types][]");
    let source = request.query("filter[source]").map(str::to_ascii_lowercase);
    let items = shared.with(|store| {
        let zone = store.zone_named(name)?;
        let items: Vec<Value> = zone
            .rrsets
            .iter()
            .filter(|(owner, _)| {
                source
                    .as_deref()
                    .is_none_or(|s| s == source_of(zone, owner))
            })
            .filter(|_| types.is_none_or(|t| t == "TLSA"))
            .flat_map(|(owner, rrset)| rrset.records.iter().map(|r| record_object(zone, owner, r)))
            .collect();
        Some(items)
    });
    let Some(items) = items else {
        return zone_missing(name);
    };
    let page = request.query_number("page", 1).max(1);
    let per_page = request.query_number("per_page", 15).clamp(1, MAX_PER_PAGE);
    let total = items.len();
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    Response::json(
        200,
        json!({
            "result": "success", "data": slice, "total": total, "page": page,
            "pages": total.div_ceil(per_page).max(1), "items_per_page": per_page,
        }),
    )
}

fn create(shared: &Shared, name: &str, request: &Request) -> Response {
    let Some(body) = request.json() else {
        return error(400, "validation_failed", "The body is not JSON");
    };
    if body.get("type").and_then(Value::as_str) != Some("TLSA") {
        return error(
            400,
            "validation_failed",
            "This fake serves TLSA records only",
        );
    }
    let target = body
        .get("target")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let record = match parse_value(target) {
        Ok(record) => record,
        Err(e) => {
            return error(
                422,
                "validation_failed",
                &format!("The target is invalid: {e}"),
            );
        }
    };
    let ttl = body.get("ttl").and_then(Value::as_u64).unwrap_or(3600) as u32;
    let source = body
        .get("source")
        .and_then(Value::as_str)
        .unwrap_or(".")
        .to_string();
    shared.write(|store| {
        let id = store.next_id();
        let Some(zone) = store.zone_named(name) else {
            return zone_missing(name);
        };
        let owner = zone.owner(if source == "." { "@" } else { &source });
        let value = canonical(&record);
        let present = zone
            .rrset(&owner)
            .is_some_and(|r| r.records.iter().any(|rec| rec.value == value));
        if present {
            return error(409, "record_already_exists", "This record already exists");
        }
        let rrset = zone.rrsets.entry(owner.clone()).or_default();
        rrset.ttl.get_or_insert(ttl);
        let stored = store::Record { id, value, ttl };
        rrset.records.push(stored.clone());
        let mut answered = record_object(zone, &owner, &stored);
        // invariant: no code panics while holding this lock.
        if shared.actions.lock().expect("actions").wrong_ids {
            answered["id"] = json!(999_999);
        }
        success(answered)
    })
}

fn delete(shared: &Shared, name: &str, id: &str) -> Response {
    let wanted = format!("{:032}", id.parse::<u64>().unwrap_or(u64::MAX));
    shared.write(|store| {
        let Some(zone) = store.zone_named(name) else {
            return zone_missing(name);
        };
        let owner = zone
            .rrsets
            .iter()
            .find(|(_, r)| r.records.iter().any(|rec| rec.id == wanted))
            .map(|(owner, _)| owner.clone());
        let Some(owner) = owner else {
            return error(404, "not_found", "Record not found");
        };
        if let Some(rrset) = zone.rrsets.get_mut(&owner) {
            rrset.records.retain(|r| r.id != wanted);
            if rrset.records.is_empty() {
                zone.rrsets.remove(&owner);
            }
        }
        success(json!(true))
    })
}
