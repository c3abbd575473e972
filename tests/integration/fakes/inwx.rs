//! A fake INWX DomRobot JSON-RPC API, following <https://www.inwx.com/en/help/apidoc>:
//! `POST /jsonrpc/` with `{"method", "params"}`; answers `{"code", "msg", "resData"}` with
//! HTTP 200 (1000 success; 2200 "Authentication error"; 2002 "Command use error" without a
//! session; 2302 "Object exists"; 2303 "Object does not exist"; 2005 "Parameter value syntax
//! error"); `account.login` (`user`, `pass`) answers `Set-Cookie: domrobot=…` and `tfa`
//! ("0", or "GOOGLE-AUTH" when a second factor waits); `nameserver.list` (`page`, `pagelimit`;
//! `count`, `domains`), `nameserver.info` (`domain`, `type`, `name`; `record` with full names),
//! `nameserver.createRecord` (`name` relative; `ttl` at least 300; answers `id`) and
//! `nameserver.deleteRecord` (`id`).
//!
//! The fake serves at most 2 domains a page. [`two_factor`] makes the user one with a second
//! factor. INWX documents no rate-limit answer; [`throttled`] is HTTP 429 with `Retry-After`.

use serde_json::{Value, json};

use super::{Fake, Request, Response, Shared, canonical, parse_value, random_hex, store};

const MAX_PER_PAGE: u64 = 2;
const MIN_TTL: u64 = 300;

/// A fake with `zones` under `/inwx` (`/inwx/jsonrpc/`); its credential is `USER:PASSWORD`.
pub fn start(zones: &[&str]) -> Fake {
    let token = format!("daneroll-api:pw{}", random_hex());
    Fake::start_with_token("/inwx", zones, token, handle)
}

/// A rate-limit answer.
pub fn throttled(seconds: u64) -> Response {
    Response::text(429, "Too Many Requests").header("Retry-After", seconds.to_string())
}

/// Makes the fake's user one with two-factor authentication on.
pub fn two_factor(fake: &Fake) {
    // invariant: no code panics while holding this lock.
    fake.shared.actions.lock().expect("actions").fail_next = true;
}

fn answer(code: u32, msg: &str, data: Option<Value>) -> Response {
    let mut body = json!({ "code": code, "msg": msg });
    if let Some(data) = data {
        body["resData"] = data;
    }
    let mut response = Response::json(200, body);
    // An error although HTTP 200: the write hooks must not see it as a write.
    response.failed = !matches!(code, 1000 | 1001);
    response
}

/// An error answer with INWX's `reason`.
fn refuse(code: u32, msg: &str, reason: &str) -> Response {
    let mut response = Response::json(200, json!({ "code": code, "msg": msg, "reason": reason }));
    response.failed = true;
    response
}

fn handle(shared: &Shared, request: &Request) -> Response {
    if request.method != "POST" || request.path != "/jsonrpc/" {
        return Response::text(404, "Not Found");
    }
    let Some(body) = request.json() else {
        return answer(2400, "Command failed", None);
    };
    let method = body["method"].as_str().unwrap_or_default();
    let params = &body["params"];
    let (user, password) = shared.token.split_once(':').unwrap_or_default();
    // invariant: no code panics while holding this lock.
    let mut actions = shared.actions.lock().expect("actions");
    if method == "account.login" {
        if params["user"] != user || params["pass"] != password {
            return answer(2200, "Authentication error", None);
        }
        let session = random_hex();
        actions.statuses.push(session.clone());
        let tfa = if actions.fail_next {
            "GOOGLE-AUTH"
        } else {
            "0"
        };
        return answer(
            1000,
            "Command completed successfully",
            Some(json!({ "customerId": 4711, "accountId": 4712, "tfa": tfa })),
        )
        .header(
            "Set-Cookie",
            format!("domrobot={session}; path=/; secure; HttpOnly"),
        );
    }
    let session = request
        .header("cookie")
        .and_then(|c| {
            c.split(';')
                .find_map(|p| p.trim().strip_prefix("domrobot="))
        })
        .unwrap_or_default()
        .to_string();
    if !actions.statuses.contains(&session) {
        return answer(2002, "Command use error", None);
    }
    drop(actions);
    match method {
        "nameserver.list" => list(shared, params),
        "nameserver.info" => info(shared, params),
        "nameserver.createRecord" => create(shared, params),
        "nameserver.deleteRecord" => delete(shared, params),
        _ => answer(2000, "Unknown command", None),
    }
}

fn list(shared: &Shared, params: &Value) -> Response {
    let page = params["page"].as_u64().unwrap_or(1).max(1);
    let limit = params["pagelimit"]
        .as_u64()
        .unwrap_or(20)
        .clamp(1, MAX_PER_PAGE);
    let (domains, count) = shared.with(|store| {
        let domains: Vec<Value> = store
            .zones
            .iter()
            .skip(((page - 1) * limit) as usize)
            .take(limit as usize)
            .map(|z| json!({ "roId": 1, "domain": z.name, "type": "MASTER" }))
            .collect();
        (domains, store.zones.len())
    });
    answer(
        1000,
        "Command completed successfully",
        Some(json!({ "count": count, "domains": domains })),
    )
}

fn info(shared: &Shared, params: &Value) -> Response {
    let domain = params["domain"].as_str().unwrap_or_default();
    let name = params["name"].as_str().map(store::absolute);
    let rtype = params["type"].as_str();
    shared.with(|store| {
        let Some(zone) = store.zone_named(domain) else {
            return answer(2303, "Object does not exist", None);
        };
        let records: Vec<Value> = zone
            .rrsets
            .iter()
            .filter(|(owner, _)| name.as_ref().is_none_or(|n| n == *owner))
            .filter(|_| rtype.is_none_or(|t| t == "TLSA"))
            .flat_map(|(owner, rrset)| {
                rrset.records.iter().map(move |r| {
                    json!({
                        "id": r.id.trim_start_matches('0').parse::<u64>().unwrap_or(0),
                        "name": owner.trim_end_matches('.'), "type": "TLSA",
                        "content": r.value, "ttl": r.ttl, "prio": 0,
                    })
                })
            })
            .collect();
        answer(1000, "Command completed successfully", Some(json!({ "domain": zone.name, "type": "MASTER", "count": records.len(), "record": records })))
    })
}

fn create(shared: &Shared, params: &Value) -> Response {
    if params["type"] != "TLSA" {
        return answer(2005, "Parameter value syntax error", None);
    }
    let Ok(record) = parse_value(params["content"].as_str().unwrap_or_default()) else {
        return refuse(
            2005,
            "Parameter value syntax error",
            "content is not a TLSA record",
        );
    };
    let ttl = params["ttl"].as_u64().unwrap_or(3600);
    if ttl < MIN_TTL {
        return refuse(
            2004,
            "Parameter value range error",
            "ttl must be at least 300",
        );
    }
    let domain = params["domain"].as_str().unwrap_or_default().to_string();
    let name = params["name"].as_str().unwrap_or_default().to_string();
    shared.write(|store| {
        let id = store.next_id();
        let Some(zone) = store.zone_named(&domain) else {
            return answer(2303, "Object does not exist", None);
        };
        let owner = zone.owner(if name.is_empty() { "@" } else { &name });
        let value = canonical(&record);
        if zone
            .rrset(&owner)
            .is_some_and(|r| r.records.iter().any(|rec| rec.value == value))
        {
            return answer(2302, "Object exists", None);
        }
        let rrset = zone.rrsets.entry(owner).or_default();
        rrset.ttl.get_or_insert(ttl as u32);
        rrset.records.push(store::Record {
            id: id.clone(),
            value,
            ttl: ttl as u32,
        });
        let id: u64 = id.trim_start_matches('0').parse().unwrap_or(0);
        answer(
            1000,
            "Command completed successfully",
            Some(json!({ "id": id })),
        )
    })
}

fn delete(shared: &Shared, params: &Value) -> Response {
    let wanted = format!("{:032}", params["id"].as_u64().unwrap_or(u64::MAX));
    shared.write(|store| {
        for zone in &mut store.zones {
            let owner = zone
                .rrsets
                .iter()
                .find(|(_, r)| r.records.iter().any(|rec| rec.id == wanted))
                .map(|(owner, _)| owner.clone());
            let Some(owner) = owner else { continue };
            if let Some(rrset) = zone.rrsets.get_mut(&owner) {
                rrset.records.retain(|r| r.id != wanted);
                if rrset.records.is_empty() {
                    zone.rrsets.remove(&owner);
                }
            }
            return answer(1000, "Command completed successfully", None);
        }
        answer(2303, "Object does not exist", None)
    })
}
