//! A fake Gandi LiveDNS v5 API, following <https://api.gandi.net/docs/livedns/> ("List
//! domains", "Get a record by name and type", "Overwrite a record by name and type" (PUT with
//! `rrset_values` / `rrset_ttl`, 201 `{"message": "DNS Record Created"}`), "Delete records by
//! name and type" (204)), <https://api.gandi.net/docs/reference/> (pagination by `page` /
//! `per_page` with the total in the `Total-Count` header; error bodies `{"code", "message",
//! "object", "cause", "errors": [{"location", "name", "description"}]}`) and
//! <https://api.gandi.net/docs/authentication/> (`Authorization: Bearer` personal access tokens).
//!
//! The fake serves at most 2 domains per page, so clients must follow pagination; the TTL
//! minimum is 300 s as LiveDNS's.

use serde_json::{Value, json};

use super::{Fake, Request, Response, Shared, canonical, parse_value};

const MAX_PER_PAGE: usize = 2;
const MIN_TTL: u64 = 300;

/// A fake with `zones` (LiveDNS domains) under `/v5/livedns`.
pub fn start(zones: &[&str]) -> Fake {
    Fake::start("/v5/livedns", zones, handle)
}

fn error(code: u16, message: &str, cause: &str) -> Response {
    let object = format!("HTTP{}", cause.replace(' ', ""));
    Response::json(
        code,
        json!({ "code": code, "message": message, "object": object, "cause": cause }),
    )
}

fn not_found() -> Response {
    error(404, "The resource could not be found.", "Not Found")
}

fn invalid(name: &str, description: &str) -> Response {
    Response::json(
        400,
        json!({
            "code": 400, "message": "Bad Request", "object": "HTTPBadRequest", "cause": "Bad Request",
            "errors": [{ "location": "body", "name": name, "description": description }],
        }),
    )
}

fn handle(shared: &Shared, request: &Request) -> Response {
    if request.header("authorization") != Some(&format!("Bearer {}", shared.token)) {
        return error(
            401,
            "The server could not verify that you authorized to access the document you \
             requested. Either you supplied the wrong credentials (e.g., bad api key), or your \
             access token has expired",
            "Unauthorized",
        );
    }
    let segments = request.segments();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["domains"]) => domains(shared, request),
        (method, ["domains", fqdn, "records", name, "TLSA"]) => {
            let (fqdn, name) = (fqdn.to_string(), name.to_string());
            match method {
                "GET" => get(shared, &fqdn, &name),
                "PUT" => put(shared, &fqdn, &name, request),
                "DELETE" => delete(shared, &fqdn, &name),
                _ => error(
                    405,
                    "The method is not allowed for the requested URL.",
                    "Method Not Allowed",
                ),
            }
        }
        _ => not_found(),
    }
}

fn domains(shared: &Shared, request: &Request) -> Response {
    let page = request.query_number("page", 1).max(1);
    let per_page = request.query_number("per_page", 100).clamp(1, MAX_PER_PAGE);
    let (total, items) = shared.with(|store| {
        let items: Vec<Value> = store
            .zones
            .iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .map(|z| {
                json!({
                    "fqdn": z.name,
                    "domain_href": format!("https://api.test/v5/livedns/domains/{}", z.name),
                    "domain_records_href": format!("https://api.test/v5/livedns/domains/{}/records", z.name),
                    "automatic_snapshots": true,
                })
            })
            .collect();
        (store.zones.len(), items)
    });
    Response::json(200, Value::Array(items)).header("Total-Count", total.to_string())
}

fn get(shared: &Shared, fqdn: &str, name: &str) -> Response {
    shared.with(|store| {
        let Some(zone) = store.zone_named(fqdn) else {
            return not_found();
        };
        let Some(rrset) = zone.rrset(&zone.owner(name)) else {
            return not_found();
        };
        let values: Vec<&str> = rrset.records.iter().map(|r| r.value.as_str()).collect();
        Response::json(
            200,
            json!({
                "rrset_name": name,
                "rrset_type": "TLSA",
                "rrset_ttl": rrset.ttl,
                "rrset_values": values,
                "rrset_href": format!("https://api.test/v5/livedns/domains/{fqdn}/records/{name}/TLSA"),
            }),
        )
    })
}

fn put(shared: &Shared, fqdn: &str, name: &str, request: &Request) -> Response {
    let Some(body) = request.json() else {
        return invalid("body", "Invalid JSON");
    };
    let ttl = body
        .get("rrset_ttl")
        .and_then(Value::as_u64)
        .unwrap_or(10800);
    if ttl < MIN_TTL {
        return invalid(
            "rrset_ttl",
            &format!("{ttl} is less than the minimum of {MIN_TTL}"),
        );
    }
    let Some(items) = body.get("rrset_values").and_then(Value::as_array) else {
        return invalid("rrset_values", "Missing data for required field.");
    };
    let mut values = Vec::new();
    for item in items {
        match parse_value(item.as_str().unwrap_or_default()) {
            Ok(record) => values.push(canonical(&record)),
            Err(e) => return invalid("rrset_values", &format!("invalid TLSA value: {e}")),
        }
    }
    shared.write(|store| {
        let id = store.next_id();
        let Some(zone) = store.zone_named(fqdn) else {
            return not_found();
        };
        let owner = zone.owner(name);
        let ids = vec![id; values.len()];
        zone.replace(&owner, &values, Some(ttl as u32), ids);
        Response::json(201, json!({ "message": "DNS Record Created" }))
    })
}

fn delete(shared: &Shared, fqdn: &str, name: &str) -> Response {
    shared.write(|store| {
        let Some(zone) = store.zone_named(fqdn) else {
            return not_found();
        };
        let owner = zone.owner(name);
        if zone.rrset(&owner).is_none() {
            return not_found();
        }
        zone.replace(&owner, &[], None, Vec::new());
        Response::empty(204)
    })
}
