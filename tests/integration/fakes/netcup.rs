//! A fake netcup CCP API (JSON), following the endpoint's documentation
//! <https://ccp.netcup.net/run/webservice/servers/endpoint.php>: `POST endpoint.php?JSON` with
//! `{"action", "param"}`; answers `{"serverrequestid", "clientrequestid", "action", "status",
//! "statuscode", "shortmessage", "longmessage", "responsedata"}` with HTTP 200 (2000 on
//! success); `login` (`customernumber`, `apikey`, `apipassword` → `apisessionid`), then every
//! action with `customernumber`, `apikey` and `apisessionid` (never the password);
//! `infoDnsZone` (`name`, `ttl` as a string, `serial`, `refresh`, `retry`, `expire`,
//! `dnssecstatus`), `infoDnsRecords` (`dnsrecords` with ids as strings; a zone has one TTL,
//! records none), `updateDnsRecords` (records without `id` are created, with `id` and
//! `deleterecord: true` deleted; answers the zone's records).
//!
//! Sessions can be expired by the test ([`expire_sessions`]), as after netcup's 15 minutes.
//! netcup documents no rate-limit answer; [`throttled`] is HTTP 429 with `Retry-After`.

use serde_json::{Value, json};

use super::{Fake, Request, Response, Shared, Zone, canonical, parse_value, random_hex, store};

/// The fake's customer number.
pub const CUSTOMER: &str = "12345";

/// A fake with `zones`; its credential is `CUSTOMERNUMBER:APIKEY:APIPASSWORD`.
pub fn start(zones: &[&str]) -> Fake {
    let token = format!("{CUSTOMER}:key{}:pw{}", random_hex(), random_hex());
    Fake::start_with_token("/run/webservice/servers/endpoint.php", zones, token, handle)
}

/// The three parts of the fake's credential.
pub fn parts(fake: &Fake) -> [String; 3] {
    let parts: Vec<String> = fake.token().split(':').map(str::to_string).collect();
    // invariant: `start` makes a three-part credential.
    parts.try_into().expect("three parts")
}

/// A rate-limit answer.
pub fn throttled(seconds: u64) -> Response {
    Response::text(429, "Too Many Requests").header("Retry-After", seconds.to_string())
}

/// Forgets every session, as netcup does after 15 minutes.
pub fn expire_sessions(fake: &Fake) {
    // invariant: no code panics while holding this lock.
    fake.shared
        .actions
        .lock()
        .expect("actions")
        .statuses
        .clear();
}

fn answer(action: &str, status: &str, code: u32, short: &str, long: &str, data: Value) -> Response {
    let mut response = Response::json(
        200,
        json!({
            "serverrequestid": random_hex(), "clientrequestid": "", "action": action,
            "status": status, "statuscode": code, "shortmessage": short, "longmessage": long,
            "responsedata": data,
        }),
    );
    // An error although HTTP 200: the write hooks must not see it as a write.
    response.failed = status != "success";
    response
}

fn error(action: &str, code: u32, short: &str, long: &str) -> Response {
    answer(action, "error", code, short, long, json!(""))
}

fn handle(shared: &Shared, request: &Request) -> Response {
    if request.method != "POST" || request.query("JSON").is_none() {
        return Response::text(400, "Bad Request");
    }
    let Some(body) = request.json() else {
        return error("", 4013, "Validation Error.", "The request is not JSON.");
    };
    let action = body["action"].as_str().unwrap_or_default().to_string();
    let param = &body["param"];
    let text = |name: &str| param[name].as_str().unwrap_or_default().to_string();
    let [customer, key, password] = {
        let parts: Vec<&str> = shared.token.split(':').collect();
        [parts[0], parts[1], parts[2]]
    };
    if text("customernumber") != customer || text("apikey") != key {
        return error(
            &action,
            4013,
            "Validation Error.",
            "The API key or customer number is invalid.",
        );
    }
    // invariant: no code panics while holding this lock.
    let mut sessions = shared.actions.lock().expect("actions");
    if action == "login" {
        if text("apipassword") != password {
            return error(
                &action,
                4013,
                "Validation Error.",
                "The login failed. Please check your credentials.",
            );
        }
        let id = random_hex();
        sessions.statuses.push(id.clone());
        return answer(
            &action,
            "success",
            2000,
            "Login successful",
            "Session has been created successful.",
            json!({ "apisessionid": id }),
        );
    }
    if !sessions.statuses.contains(&text("apisessionid")) {
        return error(
            &action,
            4001,
            "Api session id in invalid format",
            "The session id is not in a valid format or has expired.",
        );
    }
    drop(sessions);
    let domain = text("domainname");
    match action.as_str() {
        "infoDnsZone" => zone_info(shared, &domain),
        "infoDnsRecords" => records(shared, &action, &domain),
        "updateDnsRecords" => update(shared, &domain, &param["dnsrecordset"]["dnsrecords"]),
        _ => error(&action, 4013, "Validation Error.", "Unknown action."),
    }
}

fn no_zone(action: &str, domain: &str) -> Response {
    error(
        action,
        5029,
        "Can not get DNS zone.",
        &format!("The domain {domain} was not found in this account."),
    )
}

fn zone_info(shared: &Shared, domain: &str) -> Response {
    shared.with(|store| match store.zone_named(domain) {
        Some(zone) => answer(
            "infoDnsZone",
            "success",
            2000,
            "DNS zone found",
            "DNS zone was found.",
            json!({
                "name": zone.name, "ttl": zone.ttl.to_string(), "serial": "2026010101",
                "refresh": "28800", "retry": "7200", "expire": "1209600", "dnssecstatus": true,
            }),
        ),
        None => no_zone("infoDnsZone", domain),
    })
}

fn record_list(zone: &Zone) -> Vec<Value> {
    zone.rrsets
        .iter()
        .flat_map(|(owner, rrset)| {
            rrset.records.iter().map(move |r| {
                json!({
                    "id": r.id.trim_start_matches('0'), "hostname": zone.relative(owner),
                    "type": "TLSA", "priority": "0", "destination": r.value,
                    "deleterecord": false, "state": "yes",
                })
            })
        })
        .collect()
}

fn records(shared: &Shared, action: &str, domain: &str) -> Response {
    shared.with(|store| match store.zone_named(domain) {
        Some(zone) => answer(
            action,
            "success",
            2000,
            "DNS records found",
            "DNS Records for this zone were found.",
            json!({ "dnsrecords": record_list(zone) }),
        ),
        None => no_zone(action, domain),
    })
}

fn update(shared: &Shared, domain: &str, items: &Value) -> Response {
    let action = "updateDnsRecords";
    let Some(items) = items.as_array().filter(|i| !i.is_empty()) else {
        return error(action, 4013, "Validation Error.", "dnsrecordset is empty.");
    };
    let mut parsed = Vec::new();
    for item in items {
        let destination = item["destination"].as_str().unwrap_or_default();
        let Ok(record) = parse_value(destination) else {
            return error(
                action,
                4013,
                "Validation Error.",
                "Value in field destination does not match requirements of type: TLSA.",
            );
        };
        let host = item["hostname"].as_str().unwrap_or("@").to_string();
        let id = item["id"].as_str().map(str::to_string);
        let delete = item["deleterecord"].as_bool().unwrap_or(false);
        parsed.push((host, canonical(&record), id, delete));
    }
    shared.write(|store| {
        let ids: Vec<String> = parsed.iter().map(|_| store.next_id()).collect();
        let Some(zone) = store.zone_named(domain) else {
            return no_zone(action, domain);
        };
        for ((host, value, id, delete), new_id) in parsed.iter().zip(ids) {
            let owner = zone.owner(host);
            match (id, delete) {
                (Some(id), true) => {
                    let wanted = format!("{:032}", id.parse::<u64>().unwrap_or(u64::MAX));
                    let found = zone.rrsets.get_mut(&owner).is_some_and(|rrset| {
                        let before = rrset.records.len();
                        rrset.records.retain(|r| r.id != wanted);
                        before != rrset.records.len()
                    });
                    if !found {
                        return error(
                            action,
                            4013,
                            "Validation Error.",
                            &format!("The record {id} does not exist."),
                        );
                    }
                    if zone
                        .rrsets
                        .get(&owner)
                        .is_some_and(|r| r.records.is_empty())
                    {
                        zone.rrsets.remove(&owner);
                    }
                }
                (None, false) => {
                    // One TTL per zone: records take the zone's.
                    let ttl = zone.ttl;
                    let rrset = zone.rrsets.entry(owner).or_default();
                    rrset.ttl.get_or_insert(ttl);
                    rrset.records.push(store::Record {
                        id: new_id,
                        value: value.clone(),
                        ttl,
                    });
                }
                _ => {
                    return error(
                        action,
                        4013,
                        "Validation Error.",
                        "This fake creates and deletes records only.",
                    );
                }
            }
        }
        answer(
            action,
            "success",
            2000,
            "DNS records successful updated",
            "The given DNS records for this zone were updated.",
            json!({ "dnsrecords": record_list(zone) }),
        )
    })
}
