//! A fake ClouDNS API, following <https://www.cloudns.net/wiki/article/42/> (`auth-id` or
//! `sub-auth-id` with `auth-password`, GET or POST parameters; a wrong pair is `{"status":
//! "Failed", "statusDescription": "Invalid authentication, incorrect auth-id or
//! auth-password."}`), <https://www.cloudns.net/wiki/article/104/> (`dns/list-zones.json`,
//! `page`, `rows-per-page` one of 10, 20, 30, 50, 100; zones `{"name", "type", "zone",
//! "status"}`), `…/article/105/` (`dns/get-pages-count.json`: a number),
//! `…/article/134/` (`dns/get-zone-info.json`), `…/article/57/` (`dns/records.json`, `host`,
//! `type`: an object keyed by record id, `[]` when empty; TLSA records carry the data in
//! `record` and `tlsa_usage`, `tlsa_selector`, `tlsa_matching_type` as strings, TTL as a
//! string), `…/article/58/` (`dns/add-record.json`, refusing a TTL outside the documented list
//! and a record that exists already) and `…/article/59/` (`dns/delete-record.json`). Every
//! answer is HTTP 200; refusals are `"status": "Failed"`.
//!
//! The fake reads the parameters from a form body only (it refuses them in the URL, where they
//! would end up in logs). The data comes back in upper case, whatever was sent. Too many
//! requests get ClouDNS's "Request blocked" answer ([`blocked`]).

use serde_json::{Value, json};

use super::{
    Fake, Request, Response, Shared, canonical, form_fields, parse_value, random_hex, store,
};

/// The fake's sub-user id.
pub const SUB_AUTH_ID: &str = "4711";
const TTLS: [u64; 13] = [
    60, 300, 900, 1800, 3600, 21600, 43200, 86400, 172800, 259200, 604800, 1209600, 2592000,
];

/// A fake with `zones` at the root; its credential is `sub:SUB_AUTH_ID:PASSWORD`.
pub fn start(zones: &[&str]) -> Fake {
    let token = format!("sub:{SUB_AUTH_ID}:pw{}", random_hex());
    Fake::start_with_token("/cloudns", zones, token, handle)
}

/// ClouDNS's answer to too many requests (HTTP 200, in the body).
pub fn blocked() -> Response {
    failed(
        "Request blocked. Your IP address is sending more than 20 requests per second. Please \
         slow down.",
    )
}

fn failed(description: &str) -> Response {
    let mut response = Response::json(
        200,
        json!({ "status": "Failed", "statusDescription": description }),
    );
    // A refusal although HTTP 200: the write hooks must not see it as a write.
    response.failed = true;
    response
}

fn succeeded(description: &str, data: Option<Value>) -> Response {
    let mut body = json!({ "status": "Success", "statusDescription": description });
    if let Some(data) = data {
        body["data"] = data;
    }
    Response::json(200, body)
}

fn handle(shared: &Shared, request: &Request) -> Response {
    if request.query.iter().any(|(k, _)| k.contains("auth")) {
        return failed("This fake takes the credential in the body only.");
    }
    let fields = form_fields(&request.body);
    let field = |name: &str| field(&fields, name);
    let password = shared.token.rsplit(':').next().unwrap_or_default();
    if field("sub-auth-id") != Some(SUB_AUTH_ID) || field("auth-password") != Some(password) {
        return failed("Invalid authentication, incorrect auth-id or auth-password.");
    }
    let domain = field("domain-name")
        .unwrap_or_default()
        .to_ascii_lowercase();
    match request.path.as_str() {
        "/dns/get-pages-count.json" => pages_count(shared, field("rows-per-page")),
        "/dns/list-zones.json" => list_zones(shared, field("page"), field("rows-per-page")),
        "/dns/get-zone-info.json" => zone_info(shared, &domain),
        "/dns/records.json" => records(shared, &domain, field("host"), field("type")),
        "/dns/add-record.json" => add(shared, &domain, &fields),
        "/dns/delete-record.json" => delete(shared, &domain, field("record-id")),
        _ => failed("Invalid API method."),
    }
}

fn rows(value: Option<&str>) -> Option<usize> {
    let rows = value?.parse().ok()?;
    [10, 20, 30, 50, 100].contains(&rows).then_some(rows)
}

fn pages_count(shared: &Shared, rows_per_page: Option<&str>) -> Response {
    let Some(rows) = rows(rows_per_page) else {
        return failed("Invalid rows-per-page.");
    };
    let total = shared.with(|store| store.zones.len());
    Response::json(200, json!(total.div_ceil(rows)))
}

fn list_zones(shared: &Shared, page: Option<&str>, rows_per_page: Option<&str>) -> Response {
    let (Some(rows), Some(page)) = (
        rows(rows_per_page),
        page.and_then(|p| p.parse::<usize>().ok()),
    ) else {
        return failed("Missing page or rows-per-page.");
    };
    let zones: Vec<Value> = shared.with(|store| {
        store
            .zones
            .iter()
            .skip(page.saturating_sub(1) * rows)
            .take(rows)
            .map(|z| json!({ "name": z.name, "type": "master", "zone": "domain", "status": "1" }))
            .collect()
    });
    Response::json(200, Value::Array(zones))
}

fn zone_info(shared: &Shared, domain: &str) -> Response {
    shared.with(|store| match store.zone_named(domain) {
        Some(zone) => Response::json(
            200,
            json!({ "name": zone.name, "type": "master", "zone": "domain", "status": "1" }),
        ),
        None => failed("Missing domain-name or the zone does not exist."),
    })
}

fn record_object(host: &str, record: &store::Record) -> Value {
    // invariant: the fake stores only values it parsed.
    let tlsa = parse_value(&record.value).expect("stored TLSA value");
    json!({
        "id": record.id.trim_start_matches('0'), "type": "TLSA", "host": host,
        "record": tlsa.data_hex(), "failover": "0", "ttl": record.ttl.to_string(),
        "tlsa_usage": tlsa.usage.to_string(), "tlsa_selector": tlsa.selector.to_string(),
        "tlsa_matching_type": tlsa.mtype.to_string(), "status": 1,
    })
}

fn records(shared: &Shared, domain: &str, host: Option<&str>, rtype: Option<&str>) -> Response {
    let found = shared.with(|store| {
        let zone = store.zone_named(domain)?;
        let mut map = serde_json::Map::new();
        for (owner, rrset) in &zone.rrsets {
            let relative = match zone.relative(owner).as_str() {
                "@" => String::new(),
                sub => sub.to_string(),
            };
            if host.is_some_and(|h| !h.eq_ignore_ascii_case(&relative))
                || rtype.is_some_and(|t| t != "TLSA")
            {
                continue;
            }
            for record in &rrset.records {
                let id = record.id.trim_start_matches('0').to_string();
                map.insert(id, record_object(&relative, record));
            }
        }
        Some(map)
    });
    match found {
        Some(map) if map.is_empty() => Response::json(200, json!([])),
        Some(map) => Response::json(200, Value::Object(map)),
        None => failed("Missing domain-name or the zone does not exist."),
    }
}

/// The form field `name`.
fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn add(shared: &Shared, domain: &str, fields: &[(String, String)]) -> Response {
    let field = |name: &str| field(fields, name);
    if field("record-type") != Some("TLSA") {
        return failed("This fake serves TLSA records only.");
    }
    let value = format!(
        "{} {} {} {}",
        field("tlsa_usage").unwrap_or_default(),
        field("tlsa_selector").unwrap_or_default(),
        field("tlsa_matching_type").unwrap_or_default(),
        field("record").unwrap_or_default(),
    );
    let record = match parse_value(&value) {
        Ok(record) => record,
        Err(e) => return failed(&format!("Invalid record: {e}")),
    };
    let ttl = field("ttl")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(0);
    if !TTLS.contains(&ttl) {
        return failed("Invalid TTL. Choose from the list of the values we support.");
    }
    let host = field("host").unwrap_or_default().to_string();
    shared.write(|store| {
        let id = store.next_id();
        let Some(zone) = store.zone_named(domain) else {
            return failed("Missing domain-name or the zone does not exist.");
        };
        let owner = zone.owner(if host.is_empty() { "@" } else { &host });
        let value = canonical(&record);
        let present = zone
            .rrset(&owner)
            .is_some_and(|r| r.records.iter().any(|rec| rec.value == value));
        if present {
            return failed("The record already exists.");
        }
        let rrset = zone.rrsets.entry(owner).or_default();
        rrset.ttl.get_or_insert(ttl as u32);
        rrset.records.push(store::Record {
            id: id.clone(),
            value,
            ttl: ttl as u32,
        });
        let id: u64 = id.trim_start_matches('0').parse().unwrap_or(0);
        succeeded(
            "The record was added successfully.",
            Some(json!({ "id": id })),
        )
    })
}

fn delete(shared: &Shared, domain: &str, id: Option<&str>) -> Response {
    let wanted = format!(
        "{:032}",
        id.and_then(|i| i.parse::<u64>().ok()).unwrap_or(u64::MAX)
    );
    shared.write(|store| {
        let Some(zone) = store.zone_named(domain) else {
            return failed("Missing domain-name or the zone does not exist.");
        };
        let owner = zone
            .rrsets
            .iter()
            .find(|(_, r)| r.records.iter().any(|rec| rec.id == wanted))
            .map(|(owner, _)| owner.clone());
        let Some(owner) = owner else {
            return failed("Invalid record-id.");
        };
        if let Some(rrset) = zone.rrsets.get_mut(&owner) {
            rrset.records.retain(|r| r.id != wanted);
            if rrset.records.is_empty() {
                zone.rrsets.remove(&owner);
            }
        }
        succeeded("The record was deleted successfully.", None)
    })
}
