//! A fake Cloudflare v4 API, following
//! <https://developers.cloudflare.com/api/resources/zones/methods/list/> (`GET /zones` with
//! `name`, `page`, `per_page`), <https://developers.cloudflare.com/api/resources/dns/subresources/records/methods/list/>
//! (`GET /zones/{zone_id}/dns_records` with `type`, `name`, `page`, `per_page`),
//! `…/records/methods/create/` (POST; TLSA fields in `data`: `usage`, `selector`,
//! `matching_type`, `certificate`), `…/records/methods/delete/` (DELETE by id, result `{"id"}`),
//! and <https://developers.cloudflare.com/fundamentals/api/reference/limits/> (429 with
//! `Retry-After`).
//!
//! Every answer is the v4 envelope `{"success", "errors": [{"code", "message"}], "messages",
//! "result", "result_info": {"page", "per_page", "count", "total_count", "total_pages"}}`. The
//! error codes are the ones Cloudflare returns and client projects report (e.g. cert-manager
//! PR #4465 for 9109): 9109 "Invalid access token" (HTTP 403 here; the backend goes by the
//! code), 6003/6111 for a malformed `Authorization` header, 7003 for an unknown zone id, 81044
//! "Record does not exist.", 81058 "An identical record already exists.", 971 for throttling.
//! The fake serves at most 2 items per page, so clients must follow pagination. Like Cloudflare it
//! answers the TLSA data (`certificate`, and `content`) in upper case, whatever case was sent.

use serde_json::{Value, json};

use super::{Fake, Request, Response, Shared, Zone, parse_value, store};

const MAX_PER_PAGE: usize = 2;

/// A fake with `zones` under `/client/v4`.
pub fn start(zones: &[&str]) -> Fake {
    Fake::start("/client/v4", zones, handle)
}

/// 429 as Cloudflare throttles.
pub fn throttled(seconds: u64) -> Response {
    failure(
        429,
        971,
        "Please wait and consider throttling your request speed",
    )
    .header("Retry-After", seconds.to_string())
}

fn failure(status: u16, code: u32, message: &str) -> Response {
    Response::json(
        status,
        json!({ "success": false, "errors": [{ "code": code, "message": message }], "messages": [], "result": null }),
    )
}

fn success(result: Value, info: Option<Value>) -> Response {
    let mut body = json!({ "success": true, "errors": [], "messages": [], "result": result });
    if let Some(info) = info {
        body["result_info"] = info;
    }
    Response::json(200, body)
}

/// One page of `items` and its `result_info`.
fn page(items: Vec<Value>, request: &Request) -> Response {
    let page = request.query_number("page", 1).max(1);
    let per_page = request.query_number("per_page", 20).clamp(1, MAX_PER_PAGE);
    let total = items.len();
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let info = json!({
        "page": page, "per_page": per_page, "count": slice.len(), "total_count": total,
        "total_pages": total.div_ceil(per_page).max(1),
    });
    success(Value::Array(slice), Some(info))
}

fn handle(shared: &Shared, request: &Request) -> Response {
    match request.header("authorization") {
        Some(value) if value == format!("Bearer {}", shared.token) => {}
        Some(value) if value.starts_with("Bearer ") && !value[7..].contains(' ') => {
            return failure(403, 9109, "Invalid access token");
        }
        _ => {
            let body = json!({ "success": false, "messages": [], "result": null, "errors": [{
                "code": 6003, "message": "Invalid request headers",
                "error_chain": [{ "code": 6111, "message": "Invalid format for Authorization header" }],
            }]});
            return Response::json(400, body);
        }
    }
    let segments = request.segments();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["zones"]) => zones(shared, request),
        (method, ["zones", id, "dns_records"]) => {
            let id = id.to_string();
            match method {
                "GET" => list(shared, &id, request),
                "POST" => create(shared, &id, request),
                _ => failure(405, 10405, "Method not allowed"),
            }
        }
        ("DELETE", ["zones", id, "dns_records", record]) => delete(shared, id, record),
        _ => failure(404, 7000, "No route for that URI"),
    }
}

fn zones(shared: &Shared, request: &Request) -> Response {
    let name = request.query("name").map(str::to_ascii_lowercase);
    let items = shared.with(|store| {
        store
            .zones
            .iter()
            .filter(|z| name.as_ref().is_none_or(|n| *n == z.name))
            .map(|z| json!({ "id": z.id, "name": z.name, "status": "active", "type": "full" }))
            .collect()
    });
    page(items, request)
}

fn record_object(zone: &Zone, owner: &str, id: &str, value: &str, ttl: u32) -> Value {
    // invariant: the fake stores only values it parsed.
    let record = parse_value(value).expect("stored TLSA value");
    json!({
        "id": id, "zone_id": zone.id, "zone_name": zone.name,
        // Cloudflare keeps TLSA as separate fields and answers the data in upper case,
        // whatever case it was sent in.
        "name": owner.trim_end_matches('.'), "type": "TLSA", "content": record.to_string(),
        "data": {
            "usage": record.usage, "selector": record.selector,
            "matching_type": record.mtype, "certificate": record.data_hex(),
        },
        "ttl": ttl, "proxiable": false, "proxied": false,
        "created_on": "2026-01-01T00:00:00Z", "modified_on": "2026-01-01T00:00:00Z",
    })
}

fn unknown_zone(id: &str) -> Response {
    let text = format!(
        "Could not route to /zones/{id}/dns_records, perhaps your object identifier is invalid?"
    );
    failure(400, 7003, &text)
}

fn list(shared: &Shared, id: &str, request: &Request) -> Response {
    let rtype = request.query("type");
    let name = request.query("name").map(store::absolute);
    let items = shared.with(|store| {
        let zone = store.zone_with_id(id)?;
        let items: Vec<Value> = zone
            .rrsets
            .iter()
            .filter(|(owner, _)| name.as_ref().is_none_or(|n| n == *owner))
            .filter(|_| rtype.is_none_or(|t| t == "TLSA"))
            .flat_map(|(owner, rrset)| {
                rrset
                    .records
                    .iter()
                    .map(|r| record_object(zone, owner, &r.id, &r.value, r.ttl))
            })
            .collect();
        Some(items)
    });
    match items {
        Some(items) => page(items, request),
        None => unknown_zone(id),
    }
}

fn create(shared: &Shared, id: &str, request: &Request) -> Response {
    let Some(body) = request.json() else {
        return failure(400, 9207, "Request body is invalid.");
    };
    if body.get("type").and_then(Value::as_str) != Some("TLSA") {
        return failure(400, 9000, "This fake serves TLSA records only");
    }
    let data = &body["data"];
    let field = |name: &str| data.get(name).and_then(Value::as_u64);
    let (Some(usage), Some(selector), Some(mtype), Some(hex)) = (
        field("usage"),
        field("selector"),
        field("matching_type"),
        data.get("certificate").and_then(Value::as_str),
    ) else {
        return failure(
            400,
            9101,
            "DNS record data is incomplete: usage, selector, matching_type and certificate are required",
        );
    };
    let value = format!("{usage} {selector} {mtype} {}", hex.to_lowercase());
    if let Err(e) = parse_value(&value) {
        return failure(400, 9101, &format!("Invalid TLSA record data: {e}"));
    }
    let ttl = body.get("ttl").and_then(Value::as_u64).unwrap_or(1);
    if ttl != 1 && !(60..=86400).contains(&ttl) {
        return failure(
            400,
            9021,
            "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.",
        );
    }
    let name = body.get("name").and_then(Value::as_str).unwrap_or_default();
    let owner = store::absolute(name);
    shared.write(|store| {
        let record_id = store.next_id();
        let Some(zone) = store.zone_with_id(id) else {
            return unknown_zone(id);
        };
        if owner != format!("{}.", zone.name) && !owner.ends_with(&format!(".{}.", zone.name)) {
            return failure(
                400,
                9005,
                "Content for TLSA record is invalid: name is outside the zone",
            );
        }
        let present = zone
            .rrset(&owner)
            .is_some_and(|r| r.records.iter().any(|rec| rec.value == value));
        if present {
            return failure(400, 81058, "An identical record already exists.");
        }
        // Cloudflare keeps a TTL per record; the fake's RRset TTL is the first record's.
        let rrset = zone.rrsets.entry(owner.clone()).or_default();
        rrset.ttl.get_or_insert(ttl as u32);
        rrset.records.push(store::Record {
            id: record_id.clone(),
            value: value.clone(),
            ttl: ttl as u32,
        });
        success(
            record_object(zone, &owner, &record_id, &value, ttl as u32),
            None,
        )
    })
}

fn delete(shared: &Shared, id: &str, record: &str) -> Response {
    shared.write(|store| {
        let Some(zone) = store.zone_with_id(id) else {
            return unknown_zone(id);
        };
        let owner = zone
            .rrsets
            .iter()
            .find(|(_, r)| r.records.iter().any(|rec| rec.id == record))
            .map(|(owner, _)| owner.clone());
        let Some(owner) = owner else {
            return failure(404, 81044, "Record does not exist.");
        };
        if let Some(rrset) = zone.rrsets.get_mut(&owner) {
            rrset.records.retain(|r| r.id != record);
            if rrset.records.is_empty() {
                zone.rrsets.remove(&owner);
            }
        }
        success(json!({ "id": record }), None)
    })
}
