//! A fake deSEC API, following <https://desec.readthedocs.io/en/latest/dns/rrsets.html>
//! ("Creating an RRset", "Retrieving a Specific RRset", "Accessing the Zone Apex", "Modifying an
//! RRset", "Deleting an RRset"), <https://desec.readthedocs.io/en/latest/dns/domains.html>
//! (`GET /domains/?owns_qname=`: the responsible domain or `[]`; `minimum_ttl`),
//! <https://desec.readthedocs.io/en/latest/auth/tokens.html> (`Authorization: Token …`, 401
//! `{"detail": "Invalid token."}`) and
//! <https://desec.readthedocs.io/en/latest/rate-limits.html> (429 with `Retry-After` and
//! `{"detail": "Request was throttled. Expected available in N seconds."}`).
//!
//! Errors are Django REST framework bodies: `{"detail": …}` for 401/404, field errors
//! `{"ttl": ["Ensure this value is greater than or equal to 3600."]}` for 400. Records are
//! stored canonicalised (lower-case hex) as deSEC's PowerDNS backend does.

use serde_json::{Value, json};

use super::{Fake, Request, Response, Shared, Zone, canonical, parse_value};

/// A fake with `zones` (minimum TTL 3600, as deSEC's default) under `/api/v1`.
pub fn start(zones: &[&str]) -> Fake {
    Fake::start("/api/v1", zones, handle)
}

/// 429 as deSEC throttles: `Retry-After` in seconds.
pub fn throttled(seconds: u64) -> Response {
    let detail = format!("Request was throttled. Expected available in {seconds} seconds.");
    Response::json(429, json!({ "detail": detail })).header("Retry-After", seconds.to_string())
}

fn detail(status: u16, text: &str) -> Response {
    Response::json(status, json!({ "detail": text }))
}

fn handle(shared: &Shared, request: &Request) -> Response {
    if request.header("authorization") != Some(&format!("Token {}", shared.token)) {
        return detail(401, "Invalid token.");
    }
    let segments = request.segments();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["domains"]) => domains(shared, request),
        (method, ["domains", domain, "rrsets"]) => {
            let domain = domain.to_string();
            match method {
                "POST" => create(shared, &domain, request),
                "GET" => list(shared, &domain),
                _ => detail(405, &format!("Method \"{method}\" not allowed.")),
            }
        }
        (method, ["domains", domain, "rrsets", subname, rtype]) => {
            if *rtype != "TLSA" {
                return detail(404, "Not found.");
            }
            let (domain, subname) = (domain.to_string(), subname.to_string());
            match method {
                "GET" => get(shared, &domain, &subname),
                "PUT" | "PATCH" => modify(shared, &domain, &subname, request),
                "DELETE" => delete(shared, &domain, &subname),
                _ => detail(405, &format!("Method \"{method}\" not allowed.")),
            }
        }
        _ => detail(404, "Not found."),
    }
}

fn domain_object(zone: &Zone) -> Value {
    json!({
        "created": "2026-01-01T00:00:00Z",
        "name": zone.name,
        "minimum_ttl": zone.min_ttl,
        "published": "2026-01-01T00:00:00Z",
        "touched": "2026-01-01T00:00:00Z",
    })
}

fn domains(shared: &Shared, request: &Request) -> Response {
    let found: Vec<Value> = shared.with(|store| match request.query("owns_qname") {
        Some(qname) => store
            .zone_for(qname)
            .map(|z| domain_object(z))
            .into_iter()
            .collect(),
        None => store.zones.iter().map(domain_object).collect(),
    });
    Response::json(200, Value::Array(found))
}

fn rrset_object(zone: &Zone, subname: &str) -> Option<Value> {
    let owner = zone.owner(subname);
    let rrset = zone.rrset(&owner)?;
    let records: Vec<&str> = rrset.records.iter().map(|r| r.value.as_str()).collect();
    Some(json!({
        "created": "2026-01-01T00:00:00Z",
        "domain": zone.name,
        "subname": if subname == "@" { "" } else { subname },
        "name": owner,
        "type": "TLSA",
        "records": records,
        "ttl": rrset.ttl,
        "touched": "2026-01-01T00:00:00Z",
    }))
}

fn get(shared: &Shared, domain: &str, subname: &str) -> Response {
    shared.with(|store| {
        let found = store
            .zone_named(domain)
            .map(|zone| rrset_object(zone, subname));
        match found {
            Some(Some(object)) => Response::json(200, object),
            _ => detail(404, "Not found."),
        }
    })
}

fn list(shared: &Shared, domain: &str) -> Response {
    shared.with(|store| {
        let Some(zone) = store.zone_named(domain) else {
            return detail(404, "Not found.");
        };
        let subnames: Vec<String> = zone.rrsets.keys().map(|o| zone.relative(o)).collect();
        let all: Vec<Value> = subnames
            .iter()
            .filter_map(|s| rrset_object(zone, s))
            .collect();
        Response::json(200, Value::Array(all))
    })
}

/// Checks `ttl` and `records` as deSEC does; canonical values or a 400 body.
fn validate(zone: &Zone, body: &Value) -> Result<(Option<u32>, Option<Vec<String>>), Response> {
    let ttl = match body.get("ttl") {
        None => None,
        Some(ttl) => {
            let Some(ttl) = ttl.as_u64() else {
                return Err(Response::json(
                    400,
                    json!({ "ttl": ["A valid integer is required."] }),
                ));
            };
            if ttl < u64::from(zone.min_ttl) {
                let text = format!(
                    "Ensure this value is greater than or equal to {}.",
                    zone.min_ttl
                );
                return Err(Response::json(400, json!({ "ttl": [text] })));
            }
            Some(ttl as u32)
        }
    };
    let records = match body.get("records") {
        None => None,
        Some(records) => {
            let Some(items) = records.as_array() else {
                return Err(Response::json(
                    400,
                    json!({ "records": ["Expected a list of items."] }),
                ));
            };
            let mut values = Vec::new();
            for item in items {
                let text = item.as_str().unwrap_or_default();
                match parse_value(text) {
                    Ok(record) => values.push(canonical(&record)),
                    Err(e) => {
                        return Err(Response::json(
                            400,
                            json!({ "records": [format!("Record content for type TLSA malformed: {e}")] }),
                        ));
                    }
                }
            }
            Some(values)
        }
    };
    Ok((ttl, records))
}

fn create(shared: &Shared, domain: &str, request: &Request) -> Response {
    let Some(body) = request.json() else {
        return Response::json(400, json!({ "non_field_errors": ["Invalid data."] }));
    };
    shared.write(|store| {
        let id = store.next_id();
        let Some(zone) = store.zone_named(domain) else {
            return detail(404, "Not found.");
        };
        if body.get("type").and_then(Value::as_str) != Some("TLSA") {
            return Response::json(400, json!({ "type": ["This fake serves TLSA only."] }));
        }
        let subname = body.get("subname").and_then(Value::as_str).unwrap_or("");
        let owner = zone.owner(subname);
        if zone.rrset(&owner).is_some() {
            let text = "Another RRset with the same subdomain and type exists for this domain.";
            return Response::json(400, json!({ "non_field_errors": [text] }));
        }
        let (ttl, records) = match validate(zone, &body) {
            Ok((Some(ttl), Some(records))) if !records.is_empty() => (ttl, records),
            Ok(_) => return Response::json(400, json!({ "ttl": ["This field is required."], "records": ["This field is required."] })),
            Err(response) => return response,
        };
        let ids = vec![id; records.len()];
        zone.replace(&owner, &records, Some(ttl), ids);
        // invariant: the RRset was just created.
        Response::json(201, rrset_object(zone, subname).expect("created RRset"))
    })
}

fn modify(shared: &Shared, domain: &str, subname: &str, request: &Request) -> Response {
    let Some(body) = request.json() else {
        return Response::json(400, json!({ "non_field_errors": ["Invalid data."] }));
    };
    let full = request.method == "PUT";
    shared.write(|store| {
        let id = store.next_id();
        let Some(zone) = store.zone_named(domain) else {
            return detail(404, "Not found.");
        };
        let owner = zone.owner(subname);
        let Some(current) = zone.rrset(&owner).cloned() else {
            return detail(404, "Not found.");
        };
        let (ttl, records) = match validate(zone, &body) {
            Ok(fields) => fields,
            Err(response) => return response,
        };
        if full && (ttl.is_none() || records.is_none() || body.get("type").is_none()) {
            let text = "This field is required.";
            return Response::json(
                400,
                json!({ "ttl": [text], "records": [text], "type": [text] }),
            );
        }
        let records =
            records.unwrap_or_else(|| current.records.iter().map(|r| r.value.clone()).collect());
        if records.is_empty() {
            zone.replace(&owner, &[], None, Vec::new());
            return Response::empty(204);
        }
        let ttl = ttl.or(current.ttl);
        let ids = vec![id; records.len()];
        zone.replace(&owner, &records, ttl, ids);
        // invariant: the RRset was just written.
        Response::json(200, rrset_object(zone, subname).expect("modified RRset"))
    })
}

fn delete(shared: &Shared, domain: &str, subname: &str) -> Response {
    shared.write(|store| {
        let Some(zone) = store.zone_named(domain) else {
            return detail(404, "Not found.");
        };
        let owner = zone.owner(subname);
        zone.replace(&owner, &[], None, Vec::new());
        Response::empty(204)
    })
}
