//! A fake Technitium DNS Server HTTP API, following
//! <https://github.com/TechnitiumSoftware/DnsServer/blob/master/APIDOCS.md>: "API Request"
//! (parameters in the query string or form, GET or POST), "API Authentication"
//! (`Authorization: Bearer <token>`, version 15.0 and later), "API Response Format" (HTTP 200
//! with `{"status": "ok", "response": …}`, `{"status": "error", "errorMessage": …,
//! "stackTrace": …}` or `{"status": "invalid-token", …}`), "List Zones"
//! (`/api/zones/list?pageNumber=&zonesPerPage=` → `pageNumber`, `totalPages`, `totalZones`,
//! `zones`), "Get Records" (`/api/zones/records/get?domain=&zone=`), "Add Record" and "Delete
//! Record" (`type=TLSA`, `ttl`, `tlsaCertificateUsage` `DANE-EE`…, `tlsaSelector` `SPKI`…,
//! `tlsaMatchingType` `SHA2-256`…, `tlsaCertificateAssociationData`).
//!
//! Behaviour taken from the server's source (DnsServerCore `WebServiceZonesApi.cs`,
//! `Dns/Zones/AuthZone.cs`; TechnitiumLibrary `DnsTLSARecordData.cs`): the messages "No such
//! zone was found: …", "Access was denied.", "Cannot add record: record already exists.",
//! "Cannot delete record: no such record exists.", "Invalid Certificate Association Data value
//! for the Matching Type."; adding a record with another TTL than its RRset's sets every record
//! of the RRset to the new TTL; `certificateAssociationData` is listed in upper-case hex. The
//! server itself does not rate-limit its API; a reverse proxy in front of it may answer 429 with
//! `Retry-After` (RFC 6585 §4) or 502, which [`throttled`] and the shared failure injection
//! stand for. At most 2 zones per page, so clients must follow pagination.

use serde_json::{Value, json};

use super::{Fake, Request, Response, Shared, Zone, parse_value, store};

const MAX_PER_PAGE: usize = 2;

const USAGES: [&str; 4] = ["PKIX-TA", "PKIX-EE", "DANE-TA", "DANE-EE"];
const SELECTORS: [&str; 2] = ["Cert", "SPKI"];
const MATCHING: [&str; 3] = ["Full", "SHA2-256", "SHA2-512"];

/// A fake with `zones` under `/api`.
pub fn start(zones: &[&str]) -> Fake {
    Fake::start("/api", zones, handle)
}

/// 429 from a reverse proxy in front of the server.
pub fn throttled(seconds: u64) -> Response {
    Response::text(429, "<html><body>429 Too Many Requests</body></html>")
        .header("Retry-After", seconds.to_string())
}

fn ok(response: Value) -> Response {
    Response::json(200, json!({ "status": "ok", "response": response }))
}

/// Errors are HTTP 200 too; the status is in the body.
fn error(message: &str) -> Response {
    let mut response = Response::json(
        200,
        json!({
            "status": "error",
            "errorMessage": message,
            "stackTrace": "   at DnsServerCore.WebServiceZonesApi…",
        }),
    );
    response.failed = true;
    response
}

fn handle(shared: &Shared, request: &Request) -> Response {
    let expected = format!("Bearer {}", shared.token);
    if request.header("authorization") != Some(expected.as_str()) {
        return Response::json(
            200,
            json!({ "status": "invalid-token", "errorMessage": "Invalid token or session expired." }),
        );
    }
    if !matches!(request.method.as_str(), "GET" | "POST") {
        return Response::empty(405);
    }
    match request.path.as_str() {
        "/zones/list" => zones(shared, request),
        "/zones/records/get" => records(shared, request),
        "/zones/records/add" => add(shared, request),
        "/zones/records/delete" => delete(shared, request),
        _ => Response::empty(404),
    }
}

fn zone_info(zone: &Zone) -> Value {
    json!({
        "name": zone.name, "type": "Primary", "internal": false,
        "dnssecStatus": "SignedWithNSEC", "soaSerial": 1, "disabled": false,
        "lastModified": "2026-01-01T00:00:00Z",
    })
}

fn zones(shared: &Shared, request: &Request) -> Response {
    let all: Vec<Value> = shared.with(|store| store.zones.iter().map(zone_info).collect());
    let total = all.len();
    let Some(page) = request
        .query("pageNumber")
        .and_then(|p| p.parse::<usize>().ok())
    else {
        return ok(json!({ "zones": all }));
    };
    let per_page = request
        .query_number("zonesPerPage", 10)
        .clamp(1, MAX_PER_PAGE);
    let page = page.max(1);
    let slice: Vec<Value> = all
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    ok(json!({
        "pageNumber": page,
        "totalPages": total.div_ceil(per_page).max(1),
        "totalZones": total,
        "zones": slice,
    }))
}

/// The zone a request names (`zone`), or the closest one holding `domain`.
fn find_zone<'a>(store: &'a mut store::Store, request: &Request) -> Result<&'a mut Zone, Response> {
    let domain = request
        .query("domain")
        .unwrap_or_default()
        .trim_end_matches('.');
    let zone = match request.query("zone") {
        Some(name) => store.zone_named(name),
        None => store.zone_for(domain),
    };
    zone.ok_or_else(|| error(&format!("No such zone was found: {domain}")))
}

fn record_json(owner: &str, value: &str, ttl: u32) -> Value {
    // invariant: the fake stores only values it parsed.
    let record = parse_value(value).expect("stored TLSA value");
    let name = |names: &[&str], n: u8| {
        names
            .get(usize::from(n))
            .map_or(n.to_string(), |s| s.to_string())
    };
    json!({
        "name": owner.trim_end_matches('.'), "type": "TLSA", "ttl": ttl,
        "ttlString": format!("{ttl}s"), "disabled": false, "dnssecStatus": "Unknown",
        "rData": {
            "certificateUsage": name(&USAGES, record.usage),
            "selector": name(&SELECTORS, record.selector),
            "matchingType": name(&MATCHING, record.mtype),
            "certificateAssociationData": record.data_hex().to_uppercase(),
        },
    })
}

fn records(shared: &Shared, request: &Request) -> Response {
    let owner = store::absolute(request.query("domain").unwrap_or_default());
    shared.with(|store| {
        let zone = match find_zone(store, request) {
            Ok(zone) => zone,
            Err(response) => return response,
        };
        let records: Vec<Value> = zone
            .rrset(&owner)
            .map(|rrset| {
                rrset
                    .records
                    .iter()
                    .map(|r| record_json(&owner, &r.value, r.ttl))
                    .collect()
            })
            .unwrap_or_default();
        ok(json!({ "zone": zone_info(zone), "records": records }))
    })
}

/// The TLSA value of an add or delete request, as the server parses it.
fn tlsa_value(request: &Request) -> Result<String, Response> {
    if request.query("type") != Some("TLSA") {
        return Err(error("This fake serves TLSA records only."));
    }
    let field = |key: &str, names: &[&str]| -> Result<u8, Response> {
        let text = request
            .query(key)
            .ok_or_else(|| error(&format!("Parameter '{key}' missing.")))?;
        names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(&text.replace('_', "-")))
            .map(|i| i as u8)
            .or_else(|| text.parse().ok())
            .ok_or_else(|| error(&format!("Requested value '{text}' was not found.")))
    };
    let usage = field("tlsaCertificateUsage", &USAGES)?;
    let selector = field("tlsaSelector", &SELECTORS)?;
    let mtype = field("tlsaMatchingType", &MATCHING)?;
    let data = request
        .query("tlsaCertificateAssociationData")
        .ok_or_else(|| error("Parameter 'tlsaCertificateAssociationData' missing."))?;
    let valid_length = match mtype {
        0 => !data.is_empty(),
        1 => data.len() == 64,
        2 => data.len() == 128,
        other => return Err(error(&format!("Matching Type is not supported: {other}"))),
    };
    if !valid_length {
        return Err(error(
            "Invalid Certificate Association Data value for the Matching Type.",
        ));
    }
    let value = format!("{usage} {selector} {mtype} {}", data.to_lowercase());
    parse_value(&value).map_err(|e| error(&format!("The input is not a valid hex string: {e}")))?;
    Ok(value)
}

fn owner_of(zone: &Zone, request: &Request) -> Result<String, Response> {
    let owner = store::absolute(request.query("domain").unwrap_or_default());
    if owner == format!("{}.", zone.name) || owner.ends_with(&format!(".{}.", zone.name)) {
        Ok(owner)
    } else {
        Err(error(&format!(
            "The domain name '{}' is not part of the zone '{}'.",
            owner.trim_end_matches('.'),
            zone.name
        )))
    }
}

fn add(shared: &Shared, request: &Request) -> Response {
    let value = match tlsa_value(request) {
        Ok(value) => value,
        Err(response) => return response,
    };
    // The server's default record TTL when none is given.
    let ttl = request.query_number("ttl", 3600) as u32;
    shared.write(|store| {
        let id = store.next_id();
        let zone = match find_zone(store, request) {
            Ok(zone) => zone,
            Err(response) => return response,
        };
        let owner = match owner_of(zone, request) {
            Ok(owner) => owner,
            Err(response) => return response,
        };
        let rrset = zone.rrsets.entry(owner.clone()).or_default();
        if rrset
            .records
            .iter()
            .any(|r| r.value == value && r.ttl == ttl)
        {
            return error("Cannot add record: record already exists.");
        }
        // One TTL per RRset: the new record's TTL becomes everyone's (AuthZone.AddRecord).
        rrset.ttl = Some(ttl);
        for record in &mut rrset.records {
            record.ttl = ttl;
        }
        if !rrset.records.iter().any(|r| r.value == value) {
            rrset.records.push(store::Record {
                id,
                value: value.clone(),
                ttl,
            });
        }
        ok(json!({ "zone": zone_info(zone), "addedRecord": record_json(&owner, &value, ttl) }))
    })
}

fn delete(shared: &Shared, request: &Request) -> Response {
    let value = match tlsa_value(request) {
        Ok(value) => value,
        Err(response) => return response,
    };
    shared.write(|store| {
        let zone = match find_zone(store, request) {
            Ok(zone) => zone,
            Err(response) => return response,
        };
        let owner = store::absolute(request.query("domain").unwrap_or_default());
        if zone.remove(&owner, &value) {
            ok(json!({}))
        } else {
            error("Cannot delete record: no such record exists.")
        }
    })
}
