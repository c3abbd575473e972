//! A fake OVH API (v1), following
//! <https://help.ovhcloud.com/csm/en-api-getting-started-ovhcloud-api?id=kb_article_view&sysparm_article=KB0042784>
//! (`X-Ovh-Application`, `X-Ovh-Consumer`, `X-Ovh-Timestamp`, `X-Ovh-Signature` = `$1$` + hex
//! SHA-1 of `AS+CK+METHOD+URL+BODY+TIMESTAMP`), the API console
//! <https://eu.api.ovh.com/console/?section=%2Fdomain&branch=v1> (`GET /domain/zone`,
//! `GET /domain/zone/{zone}`, `…/soa`, `GET …/record?fieldType=&subDomain=` returning ids,
//! `GET|DELETE …/record/{id}`, `POST …/record` `{fieldType, subDomain, target, ttl}`,
//! `POST …/refresh`) and OVH's client <https://github.com/ovh/python-ovh> (`/auth/time` is
//! unsigned; the error bodies `{"errorCode": "INVALID_CREDENTIAL", "httpCode": "403 Forbidden",
//! "message": …}`, `NOT_GRANTED_CALL`, `INVALID_KEY`; other errors `{"class": "Client::…",
//! "message": …}`).
//!
//! The fake's clock runs [`SKEW`] seconds ahead of the host's, and it accepts a timestamp only
//! within [`WINDOW`] seconds of its own clock, so a client must take the time from
//! `/auth/time` as OVH's clients do. It verifies every signature over the URL exactly as sent
//! (`http://` + `Host` + the request target). Like the real API it accepts an identical record
//! twice (nothing documents a refusal), and lists changes at once while only `refresh` would put
//! them on the name servers; [`deny_next_refresh`] makes the next refresh fail as for a consumer
//! key whose access rules omit `POST /domain/zone/*/refresh`. 429 with `Retry-After` and 5xx
//! come from the shared failure injection.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::{Fake, Request, Response, Shared, Zone, parse_value, random_hex, store};

/// How far the fake's clock is ahead of the host's, in seconds.
pub const SKEW: i64 = 300;
/// How far a request's timestamp may be from the fake's clock, in seconds.
pub const WINDOW: i64 = 10;

/// A fake with `zones` under `/1.0`; its credential is `APPLICATION_KEY:APPLICATION_SECRET:
/// CONSUMER_KEY`.
pub fn start(zones: &[&str]) -> Fake {
    let token = format!("ak{}:as{}:ck{}", random_hex(), random_hex(), random_hex());
    Fake::start_with_token("/1.0", zones, token, handle)
}

/// The three parts of the fake's credential.
pub fn parts(fake: &Fake) -> [String; 3] {
    let parts: Vec<String> = fake.token().split(':').map(str::to_string).collect();
    // invariant: `start` makes a three-part credential.
    parts.try_into().expect("three parts")
}

/// OVH's rate-limit answer.
pub fn throttled(seconds: u64) -> Response {
    Response::json(429, json!({ "message": "Too many requests" }))
        .header("Retry-After", seconds.to_string())
}

/// The next `POST …/refresh` is refused: the consumer key may not call it.
pub fn deny_next_refresh(fake: &Fake) {
    // invariant: no code panics while holding this lock.
    fake.shared.actions.lock().expect("actions").fail_next = true;
}

fn server_now() -> i64 {
    let local = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    local + SKEW
}

fn auth_error(code: &str, message: &str) -> Response {
    Response::json(
        403,
        json!({ "errorCode": code, "httpCode": "403 Forbidden", "message": message }),
    )
}

fn client_error(status: u16, class: &str, message: &str) -> Response {
    Response::json(status, json!({ "class": class, "message": message }))
}

fn not_found() -> Response {
    client_error(404, "Client::NotFound", "This service does not exist")
}

/// Checks the application key, the consumer key, the time and the signature.
fn authenticate(shared: &Shared, request: &Request) -> Option<Response> {
    let [ak, secret, ck]: [&str; 3] = shared
        .token
        .split(':')
        .collect::<Vec<_>>()
        .try_into()
        // invariant: `start` makes a three-part credential.
        .expect("three parts");
    if request.header("x-ovh-application") != Some(ak) {
        return Some(auth_error("INVALID_KEY", "This application key is invalid"));
    }
    if request.header("x-ovh-consumer") != Some(ck) {
        return Some(auth_error(
            "INVALID_CREDENTIAL",
            "This credential is not valid",
        ));
    }
    let bad_signature = || {
        Response::json(
            400,
            json!({ "errorCode": "INVALID_SIGNATURE", "httpCode": "400 Bad Request", "message": "Invalid signature" }),
        )
    };
    let Some(stamp) = request
        .header("x-ovh-timestamp")
        .and_then(|t| t.parse::<i64>().ok())
    else {
        return Some(bad_signature());
    };
    if (stamp - server_now()).abs() > WINDOW {
        return Some(bad_signature());
    }
    let url = format!(
        "http://{}{}",
        request.header("host").unwrap_or_default(),
        request.target
    );
    let text = format!(
        "{secret}+{ck}+{}+{url}+{}+{stamp}",
        request.method,
        String::from_utf8_lossy(&request.body)
    );
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        text.as_bytes(),
    );
    let expected = format!("$1${}", data_encoding::HEXLOWER.encode(digest.as_ref()));
    (request.header("x-ovh-signature") != Some(expected.as_str())).then(bad_signature)
}

fn handle(shared: &Shared, request: &Request) -> Response {
    if request.method == "GET" && request.path == "/auth/time" {
        return Response::json(200, json!(server_now()));
    }
    if let Some(refusal) = authenticate(shared, request) {
        return refusal;
    }
    let segments = request.segments();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["domain", "zone"]) => {
            let names: Vec<Value> =
                shared.with(|store| store.zones.iter().map(|z| json!(z.name)).collect());
            Response::json(200, Value::Array(names))
        }
        ("GET", ["domain", "zone", zone]) => shared.with(|store| match store.zone_named(zone) {
            Some(z) => Response::json(
                200,
                json!({ "name": z.name, "dnssecSupported": true, "hasDnsAnycast": false,
                        "nameServers": ["dns1.ovh.net", "ns1.ovh.net"] }),
            ),
            None => not_found(),
        }),
        ("GET", ["domain", "zone", zone, "soa"]) => {
            shared.with(|store| match store.zone_named(zone) {
                Some(z) => Response::json(
                    200,
                    json!({ "email": format!("hostmaster.{}", z.name), "expire": 604800,
                        "nxDomainTtl": 86400, "refresh": 86400, "serial": 1,
                        "server": "dns1.ovh.net.", "ttl": z.ttl }),
                ),
                None => not_found(),
            })
        }
        ("GET", ["domain", "zone", zone, "record"]) => list(shared, zone, request),
        ("POST", ["domain", "zone", zone, "record"]) => create(shared, zone, request),
        ("GET", ["domain", "zone", zone, "record", id]) => shared.with(|store| {
            let Some(z) = store.zone_named(zone) else {
                return not_found();
            };
            match find(z, id) {
                Some((owner, value, ttl)) => {
                    Response::json(200, record_json(z, &owner, id, &value, ttl))
                }
                None => not_found(),
            }
        }),
        ("DELETE", ["domain", "zone", zone, "record", id]) => delete(shared, zone, id),
        ("POST", ["domain", "zone", zone, "refresh"]) => refresh(shared, zone),
        _ => client_error(404, "Client::NotFound", "Got an invalid (or empty) URL"),
    }
}

/// The owner, value and TTL of record `id`.
fn find(zone: &Zone, id: &str) -> Option<(String, String, u32)> {
    zone.rrsets.iter().find_map(|(owner, rrset)| {
        let record = rrset.records.iter().find(|r| same_id(&r.id, id))?;
        Some((owner.clone(), record.value.clone(), record.ttl))
    })
}

/// Ids are numbers on the wire; the store keeps them zero-padded.
fn same_id(stored: &str, wire: &str) -> bool {
    stored == wire
        || matches!((stored.parse::<u64>(), wire.parse::<u64>()), (Ok(a), Ok(b)) if a == b)
}

fn number(id: &str) -> Value {
    id.parse::<u64>().map_or_else(|_| json!(id), |n| json!(n))
}

fn record_json(zone: &Zone, owner: &str, id: &str, value: &str, ttl: u32) -> Value {
    let sub = zone.relative(owner);
    json!({
        "id": number(id), "zone": zone.name, "fieldType": "TLSA",
        "subDomain": if sub == "@" { String::new() } else { sub },
        "target": value, "ttl": ttl,
    })
}

fn list(shared: &Shared, zone: &str, request: &Request) -> Response {
    let field_type = request.query("fieldType");
    let sub = request.query("subDomain").map(str::to_ascii_lowercase);
    shared.with(|store| {
        let Some(z) = store.zone_named(zone) else {
            return not_found();
        };
        let ids: Vec<Value> = z
            .rrsets
            .iter()
            .filter(|_| field_type.is_none_or(|t| t == "TLSA"))
            .filter(|(owner, _)| {
                let relative = z.relative(owner);
                let relative = if relative == "@" {
                    String::new()
                } else {
                    relative
                };
                sub.as_ref().is_none_or(|s| *s == relative)
            })
            .flat_map(|(_, rrset)| rrset.records.iter().map(|r| number(&r.id)))
            .collect();
        Response::json(200, Value::Array(ids))
    })
}

fn create(shared: &Shared, zone: &str, request: &Request) -> Response {
    let Some(body) = request.json() else {
        return client_error(400, "Client::BadRequest", "Invalid JSON body");
    };
    if body.get("fieldType").and_then(Value::as_str) != Some("TLSA") {
        return client_error(
            400,
            "Client::BadRequest",
            "This fake serves TLSA records only",
        );
    }
    let target = body
        .get("target")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let value = match parse_value(target) {
        Ok(record) => record.to_string().to_lowercase(),
        Err(e) => {
            let message = format!("Invalid field target: {e}");
            return client_error(400, "Client::BadRequest", &message);
        }
    };
    let sub = body
        .get("subDomain")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let ttl = body.get("ttl").and_then(Value::as_u64).unwrap_or(0) as u32;
    shared.write(|store| {
        let id = store.next_id();
        let Some(z) = store.zone_named(zone) else {
            return not_found();
        };
        let owner = z.owner(&sub);
        let rrset = z.rrsets.entry(owner.clone()).or_default();
        rrset.ttl.get_or_insert(ttl);
        // No check for an identical record: the API documents none.
        rrset.records.push(store::Record {
            id: id.clone(),
            value: value.clone(),
            ttl,
        });
        Response::json(200, record_json(z, &owner, &id, &value, ttl))
    })
}

fn delete(shared: &Shared, zone: &str, id: &str) -> Response {
    shared.write(|store| {
        let Some(z) = store.zone_named(zone) else {
            return not_found();
        };
        let Some((owner, _, _)) = find(z, id) else {
            let message = format!("The requested object (id = {id}) does not exist");
            return client_error(404, "Client::NotFound", &message);
        };
        if let Some(rrset) = z.rrsets.get_mut(&owner) {
            rrset.records.retain(|r| !same_id(&r.id, id));
            if rrset.records.is_empty() {
                z.rrsets.remove(&owner);
            }
        }
        Response::json(200, Value::Null)
    })
}

fn refresh(shared: &Shared, zone: &str) -> Response {
    // invariant: no code panics while holding this lock.
    let denied = std::mem::take(&mut shared.actions.lock().expect("actions").fail_next);
    if denied {
        return auth_error("NOT_GRANTED_CALL", "This call has not been granted");
    }
    if shared.with(|store| store.zone_named(zone).is_none()) {
        return not_found();
    }
    Response::json(200, Value::Null)
}
