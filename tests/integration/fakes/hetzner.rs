//! A fake Hetzner Cloud DNS API, following <https://docs.hetzner.cloud/reference/cloud#zones>
//! ("List Zones" with `page` / `per_page` and `meta.pagination`, "Get a Zone" by id or name),
//! <https://docs.hetzner.cloud/reference/cloud#zone-rrsets> ("Get an RRSet": `{"rrset": {"id",
//! "name", "type", "ttl" (null: the zone's), "records": [{"value", "comment"}], …}}`),
//! `#zone-rrset-actions-add-records-to-an-rrset` (creates the RRset if needed),
//! `#zone-rrset-actions-remove-records-from-an-rrset` (deletes it with its last record),
//! `#actions` (an action is `running`, then `success` or `error`; `GET /actions/{id}`), and the
//! API's general rules: `Authorization: Bearer`, errors `{"error": {"code", "message",
//! "details"}}` (`unauthorized` 401, `not_found` 404, `invalid_input` 400,
//! `rate_limit_exceeded` 429 with `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`).
//!
//! [`super::Fake::lag_reads`] makes the RRset endpoint lag behind accepted actions (a change
//! applied asynchronously, after the action says `success`).
//!
//! Actions answer `running` first and `success` when polled, so clients must wait for them. The
//! fake serves at most 2 zones per page, so clients must follow pagination.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::{Fake, Request, Response, Shared, Zone, canonical, parse_value};

const MAX_PER_PAGE: usize = 2;

/// A fake with `zones` under `/v1`.
pub fn start(zones: &[&str]) -> Fake {
    Fake::start("/v1", zones, handle)
}

/// 429 as Hetzner limits: no `Retry-After`, the reset time as a Unix timestamp.
pub fn rate_limited(seconds: u64) -> Response {
    // invariant: the clock is after 1970.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    error(
        429,
        "rate_limit_exceeded",
        "limit of 3600 requests per hour reached",
    )
    .header("RateLimit-Limit", "3600")
    .header("RateLimit-Remaining", "0")
    .header("RateLimit-Reset", (now + seconds).to_string())
}

/// Makes the next action the fake creates end in `error` (e.g. the zone is locked).
pub fn fail_next_action(fake: &Fake) {
    // invariant: no code panics while holding this lock.
    fake.shared.actions.lock().expect("actions").fail_next = true;
}

fn error(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        json!({ "error": { "code": code, "message": message, "details": {} } }),
    )
}

fn handle(shared: &Shared, request: &Request) -> Response {
    if request.header("authorization") != Some(&format!("Bearer {}", shared.token)) {
        return error(401, "unauthorized", "unable to authenticate");
    }
    let segments = request.segments();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["zones"]) => zones(shared, request),
        ("GET", ["zones", zone]) => one_zone(shared, zone),
        ("GET", ["zones", zone, "rrsets", name, "TLSA"]) => rrset(shared, zone, name),
        ("POST", ["zones", zone, "rrsets", name, "TLSA", "actions", action]) => {
            change(shared, zone, name, action, request)
        }
        ("GET", ["actions", id]) => poll(shared, id),
        _ => error(404, "not_found", "not found"),
    }
}

fn zone_object(zone: &Zone) -> Value {
    // invariant: the fake's ids are decimal numbers.
    let id: u64 = zone.id.parse().expect("numeric zone id");
    json!({
        "id": id, "name": zone.name, "mode": "primary", "ttl": zone.ttl, "status": "ok",
        "record_count": zone.rrsets.len(), "labels": {}, "protection": { "delete": false },
    })
}

fn find<'a>(store: &'a mut super::Store, id_or_name: &str) -> Option<&'a mut Zone> {
    let by_id = store
        .zones
        .iter()
        .position(|z| z.id.trim_start_matches('0') == id_or_name);
    match by_id {
        Some(i) => store.zones.get_mut(i),
        None => store.zone_named(id_or_name),
    }
}

fn zones(shared: &Shared, request: &Request) -> Response {
    let page = request.query_number("page", 1).max(1);
    let per_page = request.query_number("per_page", 25).clamp(1, MAX_PER_PAGE);
    let (items, total) = shared.with(|store| {
        let items: Vec<Value> = store
            .zones
            .iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(zone_object)
            .collect();
        (items, store.zones.len())
    });
    let last = total.div_ceil(per_page).max(1);
    let pagination = json!({
        "page": page, "per_page": per_page,
        "previous_page": if page > 1 { json!(page - 1) } else { Value::Null },
        "next_page": if page < last { json!(page + 1) } else { Value::Null },
        "last_page": last, "total_entries": total,
    });
    Response::json(
        200,
        json!({ "zones": items, "meta": { "pagination": pagination } }),
    )
}

fn one_zone(shared: &Shared, id_or_name: &str) -> Response {
    shared.with(|store| match find(store, id_or_name) {
        Some(zone) => Response::json(200, json!({ "zone": zone_object(zone) })),
        None => error(404, "not_found", "zone not found"),
    })
}

fn rrset(shared: &Shared, id_or_name: &str, name: &str) -> Response {
    // Through `read`: with a lag set, the RRset as it was before recent writes.
    shared.read(|store| {
        let Some(zone) = find(store, id_or_name) else {
            return error(404, "not_found", "zone not found");
        };
        let Some(rrset) = zone.rrset(&zone.owner(name)) else {
            return error(404, "not_found", "rrset not found");
        };
        let records: Vec<Value> = rrset
            .records
            .iter()
            .map(|r| json!({ "value": r.value, "comment": null }))
            .collect();
        // invariant: the fake's ids are decimal numbers.
        let zone_id: u64 = zone.id.parse().expect("numeric zone id");
        Response::json(
            200,
            json!({ "rrset": {
                "id": format!("{name}/TLSA"), "name": name, "type": "TLSA", "ttl": rrset.ttl,
                "labels": {}, "protection": { "change": false }, "records": records, "zone": zone_id,
            }}),
        )
    })
}

fn change(
    shared: &Shared,
    id_or_name: &str,
    name: &str,
    action: &str,
    request: &Request,
) -> Response {
    let Some(body) = request.json() else {
        return error(400, "json_error", "invalid JSON");
    };
    let Some(items) = body
        .get("records")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty())
    else {
        return error(400, "invalid_input", "records must not be empty");
    };
    let mut values = Vec::new();
    for item in items {
        let value = item
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or_default();
        values.push(value.to_string());
    }
    let ttl = body.get("ttl").and_then(Value::as_u64).map(|t| t as u32);
    // invariant: no code panics while holding this lock.
    let failing = shared.actions.lock().expect("actions").fail_next;
    let apply = |store: &mut super::Store| {
        let Some(zone) = find(store, id_or_name) else {
            return error(404, "not_found", "zone not found");
        };
        let owner = zone.owner(name);
        match action {
            "add_records" => {
                let mut parsed = Vec::new();
                for value in &values {
                    match parse_value(value) {
                        Ok(record) => parsed.push(canonical(&record)),
                        Err(e) => {
                            return error(
                                400,
                                "invalid_input",
                                &format!("invalid TLSA record {value:?}: {e}"),
                            );
                        }
                    }
                }
                let existing = zone
                    .rrset(&owner)
                    .map(|r| r.records.clone())
                    .unwrap_or_default();
                if parsed
                    .iter()
                    .any(|v| existing.iter().any(|r| &r.value == v))
                {
                    return error(409, "uniqueness_error", "record already exists in RRSet");
                }
                let rrset = zone.rrsets.entry(owner).or_default();
                if rrset.records.is_empty() {
                    rrset.ttl = ttl;
                }
                for value in parsed {
                    let ttl = rrset.ttl.unwrap_or(3600);
                    rrset.records.push(super::store::Record {
                        id: value.clone(),
                        value,
                        ttl,
                    });
                }
            }
            "remove_records" => {
                let Some(rrset) = zone.rrset(&owner) else {
                    return error(404, "not_found", "rrset not found");
                };
                if let Some(missing) = values
                    .iter()
                    .find(|v| !rrset.records.iter().any(|r| &r.value == *v))
                {
                    return error(
                        400,
                        "invalid_input",
                        &format!("record {missing:?} is not in the RRSet"),
                    );
                }
                for value in &values {
                    zone.remove(&owner, value);
                }
            }
            _ => return error(404, "not_found", "unknown action"),
        }
        Response::json(201, json!({}))
    };
    // A failing action changes nothing (its error says why).
    let response = if failing {
        Response::json(201, json!({}))
    } else {
        shared.write(apply)
    };
    if response.status != 201 {
        return response;
    }
    // invariant: no code panics while holding this lock.
    let mut actions = shared.actions.lock().expect("actions");
    let outcome = if std::mem::take(&mut actions.fail_next) {
        "error"
    } else {
        "success"
    };
    actions.statuses.push(outcome.to_string());
    let id = actions.statuses.len() as u64;
    Response::json(
        201,
        json!({ "action": action_object(id, "running", action) }),
    )
}

fn action_object(id: u64, status: &str, command: &str) -> Value {
    let error = (status == "error")
        .then(|| json!({ "code": "action_failed", "message": "zone is locked" }));
    json!({
        "id": id, "command": command, "status": status, "progress": if status == "running" { 50 } else { 100 },
        "started": "2026-01-01T00:00:00Z", "finished": null, "resources": [], "error": error,
    })
}

fn poll(shared: &Shared, id: &str) -> Response {
    // invariant: no code panics while holding this lock.
    let actions = shared.actions.lock().expect("actions");
    let status = id
        .parse::<usize>()
        .ok()
        .and_then(|i| actions.statuses.get(i.checked_sub(1)?));
    match status {
        Some(status) => Response::json(
            200,
            json!({ "action": action_object(id.parse().unwrap_or(0), status, "rrset_action") }),
        ),
        None => error(404, "not_found", "action not found"),
    }
}
