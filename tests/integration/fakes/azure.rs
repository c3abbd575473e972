//! A fake Azure DNS (Resource Manager) API and its Microsoft Entra ID token endpoint, following
//! <https://learn.microsoft.com/en-us/rest/api/dns/zones/list> (`value` / `nextLink`, an
//! absolute URL), <https://learn.microsoft.com/en-us/rest/api/dns/record-sets/get> (404 for no
//! set; `etag`, `properties.TTL`, `properties.TLSARecords` with `usage`, `selector`,
//! `matchingType`, `certAssociationData`),
//! <https://learn.microsoft.com/en-us/rest/api/dns/record-sets/create-or-update> and
//! `record-sets/delete` (`If-Match` with the set's ETag, `If-None-Match: *` for a new set; 412
//! `PreconditionFailed` otherwise, as
//! <https://learn.microsoft.com/en-us/azure/dns/dns-zones-records#etags> describes), the
//! `api-version` query parameter every call needs (`2023-07-01-preview`: the REST reference
//! pages show the GA `2018-05-01`, which has no TLSA; the TLSA shapes are those of the
//! `Api20230701Preview` models, e.g.
//! <https://learn.microsoft.com/en-us/dotnet/api/microsoft.azure.powershell.cmdlets.dns.models.api20230701preview.itlsarecord.usage?view=az-ps-12>),
//! <https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/request-limits-and-throttling>
//! (429 with `Retry-After`), the `{"error": {"code", "message"}}` body, and
//! <https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow>:
//! `POST /{tenant}/oauth2/v2.0/token` with `grant_type=client_credentials`, the client id and
//! secret, `scope=https://management.azure.com/.default`; `invalid_client` (AADSTS7000215) for a
//! wrong secret. The API takes only access tokens the endpoint issued.
//!
//! It serves at most 2 zones per page.

use std::hash::{Hash, Hasher};

use serde_json::{Value, json};

use super::{Fake, Request, Response, Shared, parse_value, random_hex, server};

const ZONES_PER_PAGE: usize = 2;
const API_VERSION: &str = "2023-07-01-preview";
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0b8e4f1c-3f5a-4b5e-9d63-5a1f9e2c7d10";
const SUBSCRIPTION: &str = "c0a6c4e2-1b7e-4f6e-8e0a-2f4b9d3c5a71";
const GROUP: &str = "mail-dns";

/// A fake with `zones` (public DNS zones in one resource group) under `/azure`, its token
/// endpoint under `/azure/login`; the credential is the `--sdk-auth` JSON naming it.
pub fn start(zones: &[&str]) -> Fake {
    let listener = server::bind();
    // invariant: a bound listener has an address.
    let addr = listener.local_addr().expect("local address");
    let credential = credential(&format!("http://{addr}/azure/login"), &random_hex());
    Fake::start_on(listener, "/azure", zones, credential, handle)
}

fn credential(login: &str, secret: &str) -> String {
    serde_json::to_string_pretty(&json!({
        "clientId": CLIENT,
        "clientSecret": secret,
        "subscriptionId": SUBSCRIPTION,
        "tenantId": TENANT,
        "activeDirectoryEndpointUrl": login,
        "resourceManagerEndpointUrl": "https://management.azure.com/",
    }))
    // invariant: a JSON value always serializes.
    .expect("credential JSON")
}

/// The client secret of `fake`'s credential.
pub fn secret(fake: &Fake) -> String {
    let json: Value = serde_json::from_str(fake.token()).unwrap_or_default();
    json["clientSecret"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The credential with another client secret.
pub fn wrong_secret(fake: &Fake, wrong: &str) -> String {
    let json: Value = serde_json::from_str(fake.token()).unwrap_or_default();
    credential(
        json["activeDirectoryEndpointUrl"]
            .as_str()
            .unwrap_or_default(),
        wrong,
    )
}

/// The access tokens issued so far.
pub fn issued(fake: &Fake) -> Vec<String> {
    // invariant: no code panics while holding this lock.
    let actions = fake.shared.actions.lock().expect("actions");
    actions
        .statuses
        .iter()
        .filter_map(|s| s.strip_prefix("token:").map(str::to_string))
        .collect()
}

/// Resource Manager's throttling answer.
pub fn throttled(seconds: u64) -> Response {
    error(
        429,
        "TooManyRequests",
        "The request is being throttled as the limit has been reached for operation type - Read_ObservationWindow_00:05:00.",
    )
    .header("Retry-After", seconds.to_string())
}

fn error(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        json!({ "error": { "code": code, "message": message } }),
    )
}

fn handle(shared: &Shared, request: &Request) -> Response {
    let segments = request.segments();
    if let ["login", tenant, "oauth2", "v2.0", "token"] = segments.as_slice() {
        return token(shared, tenant, request);
    }
    let issued = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| {
            // invariant: as in `issued`.
            let actions = shared.actions.lock().expect("actions");
            actions
                .statuses
                .iter()
                .any(|s| s.strip_prefix("token:") == Some(token))
        });
    if !issued {
        return error(
            401,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        );
    }
    if request.query("api-version") != Some(API_VERSION) {
        return error(
            400,
            "InvalidApiVersionParameter",
            "The api-version is missing or not supported for the resource type 'dnszones'.",
        );
    }
    match (request.method.as_str(), segments.as_slice()) {
        (
            "GET",
            [
                "subscriptions",
                sub,
                "providers",
                "Microsoft.Network",
                "dnszones",
            ],
        ) if *sub == SUBSCRIPTION => zones(shared, request),
        (
            method,
            [
                "subscriptions",
                sub,
                "resourceGroups",
                group,
                "providers",
                "Microsoft.Network",
                "dnszones",
                zone,
                "TLSA",
                name,
            ],
        ) if *sub == SUBSCRIPTION && *group == GROUP => {
            record_set(shared, method, zone, name, request)
        }
        (_, ["subscriptions", sub, ..]) if *sub != SUBSCRIPTION => error(
            403,
            "AuthorizationFailed",
            &format!(
                "The client '{CLIENT}' does not have authorization to perform action over scope '/subscriptions/{sub}'"
            ),
        ),
        _ => error(404, "NotFound", "The requested resource was not found."),
    }
}

fn token(shared: &Shared, tenant: &str, request: &Request) -> Response {
    let body = String::from_utf8_lossy(&request.body).to_string();
    let form = super::google::url_form(&body);
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let json: Value = serde_json::from_str(&shared.token).unwrap_or_default();
    if tenant != TENANT {
        return Response::json(
            400,
            json!({ "error": "invalid_request", "error_description": format!("AADSTS90002: Tenant '{tenant}' not found.") }),
        );
    }
    if field("grant_type") != Some("client_credentials")
        || field("scope") != Some("https://management.azure.com/.default")
    {
        return Response::json(
            400,
            json!({ "error": "invalid_request", "error_description": "AADSTS900144: The request body must contain the following parameter: 'grant_type' or 'scope'." }),
        );
    }
    if field("client_id") != json["clientId"].as_str()
        || field("client_secret") != json["clientSecret"].as_str()
    {
        return Response::json(
            401,
            json!({ "error": "invalid_client", "error_description": format!("AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{CLIENT}'.") }),
        );
    }
    let access = format!("eyJ0eXAiOiJKV1Qi.{}", random_hex());
    // invariant: no code panics while holding this lock.
    shared
        .actions
        .lock()
        .expect("actions")
        .statuses
        .push(format!("token:{access}"));
    Response::json(
        200,
        json!({ "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": access }),
    )
}

fn zone_id(name: &str) -> String {
    format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.Network/dnszones/{name}"
    )
}

fn zones(shared: &Shared, request: &Request) -> Response {
    let start = request
        .query("$skipToken")
        .and_then(|t| t.strip_prefix("page-")?.parse().ok())
        .unwrap_or(0usize);
    let host = request.header("host").unwrap_or("127.0.0.1");
    shared.with(|store| {
        let items: Vec<Value> = store
            .zones
            .iter()
            .skip(start)
            .take(ZONES_PER_PAGE)
            .map(|z| {
                json!({
                    "id": zone_id(&z.name), "name": z.name, "type": "Microsoft.Network/dnszones",
                    "location": "global", "etag": format!("00000002-0000-0000-{}", z.id),
                    "properties": { "zoneType": "Public", "numberOfRecordSets": z.rrsets.len() + 2 },
                })
            })
            .collect();
        let mut body = json!({ "value": items });
        if start + ZONES_PER_PAGE < store.zones.len() {
            body["nextLink"] = json!(format!(
                "http://{host}/azure/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Network/dnszones?api-version={API_VERSION}&$skipToken=page-{}",
                start + ZONES_PER_PAGE
            ));
        }
        Response::json(200, body)
    })
}

/// A set's ETag: changes whenever its TTL or records do.
fn etag(rrset: &super::store::Rrset) -> String {
    let mut values: Vec<&str> = rrset.records.iter().map(|r| r.value.as_str()).collect();
    values.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (rrset.ttl, values).hash(&mut hasher);
    format!("{:016x}-0000-0000-0000-000000000000", hasher.finish())
}

fn set_json(
    zone: &str,
    name: &str,
    owner: &str,
    rrset: &super::store::Rrset,
    default_ttl: u32,
) -> Value {
    let records: Vec<Value> = rrset
        .records
        .iter()
        .filter_map(|r| parse_value(&r.value).ok())
        .map(|t| {
            json!({ "usage": t.usage, "selector": t.selector, "matchingType": t.mtype,
                         "certAssociationData": t.data_hex() })
        })
        .collect();
    json!({
        "id": format!("{}/TLSA/{name}", zone_id(zone)), "name": name,
        "type": "Microsoft.Network/dnszones/TLSA", "etag": etag(rrset),
        "properties": { "TTL": rrset.ttl.unwrap_or(default_ttl), "fqdn": owner,
                        "provisioningState": "Succeeded", "TLSARecords": records },
    })
}

fn record_set(
    shared: &Shared,
    method: &str,
    zone: &str,
    name: &str,
    request: &Request,
) -> Response {
    let not_found = || {
        error(
            404,
            "NotFound",
            &format!(
                "The resource record '{name}' does not exist in resource group '{GROUP}' of subscription '{SUBSCRIPTION}'."
            ),
        )
    };
    let precondition = || {
        error(
            412,
            "PreconditionFailed",
            "The condition specified using HTTP conditional header(s) is not met.",
        )
    };
    let if_match = request.header("if-match").map(str::to_string);
    let if_none = request.header("if-none-match").map(str::to_string);
    if method == "GET" {
        return shared.with(|store| {
            let Some(z) = store.zone_named(zone) else {
                return not_found();
            };
            let owner = z.owner(name);
            match z.rrset(&owner) {
                Some(rrset) => Response::json(200, set_json(zone, name, &owner, rrset, z.ttl)),
                None => not_found(),
            }
        });
    }
    let mut values = Vec::new();
    let mut ttl = 3600;
    if method == "PUT" {
        let Some(body) = request.json() else {
            return error(400, "BadRequest", "The request body is not valid JSON.");
        };
        ttl = body["properties"]["TTL"].as_u64().unwrap_or(3600) as u32;
        for r in body["properties"]["TLSARecords"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let text = format!(
                "{} {} {} {}",
                r["usage"],
                r["selector"],
                r["matchingType"],
                r["certAssociationData"].as_str().unwrap_or_default()
            );
            match parse_value(&text) {
                Ok(tlsa) if !tlsa.data.is_empty() => values.push(super::canonical(&tlsa)),
                _ => {
                    return error(
                        400,
                        "BadRequest",
                        "The certificate association data of a TLSA record is invalid.",
                    );
                }
            }
        }
    } else if method != "DELETE" {
        return error(405, "MethodNotAllowed", "The method is not allowed.");
    }
    shared.write(|store| {
        let ids = (0..values.len()).map(|_| store.next_id()).collect();
        let Some(z) = store.zone_named(zone) else {
            return not_found();
        };
        let owner = z.owner(name);
        let current = z.rrset(&owner).map(etag);
        let allowed = match (&current, &if_match, &if_none) {
            (_, Some(tag), _) => current.as_ref() == Some(tag) || (tag == "*" && current.is_some()),
            (Some(_), None, Some(star)) if star == "*" => false,
            _ => true,
        };
        if !allowed {
            return precondition();
        }
        if method == "DELETE" {
            if current.is_none() {
                return Response::empty(204);
            }
            z.replace(&owner, &[], None, Vec::new());
            return Response::empty(200);
        }
        let created = current.is_none();
        z.replace(&owner, &values, Some(ttl), ids);
        // invariant: the set was just written.
        let rrset = z.rrset(&owner).expect("the set just written");
        Response::json(
            if created { 201 } else { 200 },
            set_json(zone, name, &owner, rrset, z.ttl),
        )
    })
}
