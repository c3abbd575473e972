//! A fake Google Cloud DNS API v1 and its OAuth 2.0 token endpoint, following
//! <https://cloud.google.com/dns/docs/reference/rest/v1/managedZones/list> (`pageToken` /
//! `nextPageToken`, `dnsName` absolute, `visibility`),
//! <https://cloud.google.com/dns/docs/reference/rest/v1/resourceRecordSets/list> (`name`,
//! `type` filters), <https://cloud.google.com/dns/docs/reference/rest/v1/changes/create>
//! (`additions` / `deletions` applied atomically; a deletion must match the current set
//! exactly — 412 `conditionNotMet`, 404 `notFound` when it is gone —, an addition must not find
//! one — 409 `alreadyExists`; the change is `pending`, then `done`),
//! <https://cloud.google.com/dns/docs/reference/rest/v1/changes/get>,
//! <https://cloud.google.com/apis/design/errors> (the `{"error": {"code", "message",
//! "errors": [{"reason"}], "status"}}` body; 429 `rateLimitExceeded`, with no `Retry-After`)
//! and <https://developers.google.com/identity/protocols/oauth2/service-account#httprest>: the
//! token endpoint takes `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and a JWT
//! whose RS256 signature it verifies with the service account's public key, checking `iss`,
//! `aud` (the token endpoint), `scope`, `iat` and `exp` (at most one hour), and answers
//! `invalid_grant` otherwise; the API takes only access tokens it issued.
//!
//! It serves at most 2 zones per page; the first `changes.get` of each change says `pending`.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self, KeyPair as _};
use serde_json::{Value, json};

use super::{Fake, Request, Response, Shared, parse_value, random_hex, server};

const ZONES_PER_PAGE: usize = 2;
const PROJECT: &str = "daneroll-test";
const EMAIL: &str = "daneroll@daneroll-test.iam.gserviceaccount.com";
const SCOPE: &str = "https://www.googleapis.com/auth/ndev.clouddns.readwrite";

/// A fake with `zones` (public managed zones of one project) under `/dns/v1`, the token
/// endpoint at `/dns/v1/token`; the credential is a service account key file naming it.
pub fn start(zones: &[&str]) -> Fake {
    let listener = server::bind();
    // invariant: a bound listener has an address.
    let addr = listener.local_addr().expect("local address");
    let key = key_file(&format!("http://{addr}/dns/v1/token"));
    Fake::start_on(listener, "/dns/v1", zones, key, handle)
}

/// A service account key file (JSON, as Google issues it) with a new RSA key.
pub fn key_file(token_uri: &str) -> String {
    // invariant: aws-lc-rs generates RSA keys on every supported platform.
    let key = signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key");
    let der = key.as_der().expect("PKCS#8");
    let base64 = data_encoding::BASE64.encode(der.as_ref());
    let lines: Vec<&str> = base64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    );
    serde_json::to_string_pretty(&json!({
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": random_hex(),
        "private_key": pem,
        "client_email": EMAIL,
        "client_id": "104683247692234567890",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }))
    // invariant: a JSON value always serializes.
    .expect("key JSON")
}

/// The same key file with another key: the token endpoint refuses its signatures.
pub fn other_key(fake: &Fake) -> String {
    let file: Value = serde_json::from_str(fake.token()).unwrap_or_default();
    key_file(file["token_uri"].as_str().unwrap_or_default())
}

/// The private key (PEM) of `fake`'s key file.
pub fn private_key(fake: &Fake) -> String {
    let file: Value = serde_json::from_str(fake.token()).unwrap_or_default();
    file["private_key"].as_str().unwrap_or_default().to_string()
}

/// The access tokens the token endpoint issued so far.
pub fn issued(fake: &Fake) -> Vec<String> {
    // invariant: no code panics while holding this lock.
    let actions = fake.shared.actions.lock().expect("actions");
    actions
        .statuses
        .iter()
        .filter_map(|s| s.strip_prefix("token:").map(str::to_string))
        .collect()
}

/// Cloud DNS's rate-limit answer (no `Retry-After`: clients back off exponentially).
pub fn throttled() -> Response {
    error(
        429,
        "rateLimitExceeded",
        "Rate limit exceeded",
        "RESOURCE_EXHAUSTED",
    )
}

fn error(code: u16, reason: &str, message: &str, status: &str) -> Response {
    Response::json(
        code,
        json!({ "error": {
            "code": code,
            "message": message,
            "errors": [{ "message": message, "domain": "global", "reason": reason }],
            "status": status,
        } }),
    )
}

fn handle(shared: &Shared, request: &Request) -> Response {
    let segments = request.segments();
    if segments == ["token"] && request.method == "POST" {
        return token(shared, request);
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
            "authError",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, \
             login cookie or other valid authentication credential.",
            "UNAUTHENTICATED",
        );
    }
    match (request.method.as_str(), segments.as_slice()) {
        (_, ["projects", project, ..]) if *project != PROJECT => error(
            403,
            "forbidden",
            &format!("The caller does not have permission on project {project}"),
            "PERMISSION_DENIED",
        ),
        ("GET", ["projects", _, "managedZones"]) => zones(shared, request),
        ("GET", ["projects", _, "managedZones", zone, "rrsets"]) => rrsets(shared, zone, request),
        ("POST", ["projects", _, "managedZones", zone, "changes"]) => change(shared, zone, request),
        ("GET", ["projects", _, "managedZones", _, "changes", id]) => get_change(shared, id),
        _ => error(
            404,
            "notFound",
            "The requested resource was not found.",
            "NOT_FOUND",
        ),
    }
}

fn grant_error(description: &str) -> Response {
    Response::json(
        400,
        json!({ "error": "invalid_grant", "error_description": description }),
    )
}

/// The JWT bearer grant (RFC 7523), verified as Google's endpoint does.
fn token(shared: &Shared, request: &Request) -> Response {
    let form: Vec<(String, String)> = {
        let body = String::from_utf8_lossy(&request.body).to_string();
        url_form(&body)
    };
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if field("grant_type") != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return Response::json(
            400,
            json!({ "error": "unsupported_grant_type", "error_description": "Invalid grant_type" }),
        );
    }
    let Some(jwt) = field("assertion") else {
        return grant_error("Missing assertion");
    };
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, sig] = parts.as_slice() else {
        return grant_error("Invalid JWT: not three parts");
    };
    let decode = |part: &str| data_encoding::BASE64URL_NOPAD.decode(part.as_bytes()).ok();
    let (Some(header_json), Some(claims_json), Some(sig)) =
        (decode(header), decode(claims), decode(sig))
    else {
        return grant_error("Invalid JWT: bad base64url");
    };
    let header_json: Value = serde_json::from_slice(&header_json).unwrap_or_default();
    let claims: Value = serde_json::from_slice(&claims_json).unwrap_or_default();
    if header_json["alg"] != "RS256" {
        return grant_error("Invalid JWT: alg must be RS256");
    }
    let file: Value = serde_json::from_str(&shared.token).unwrap_or_default();
    let pem = file["private_key"].as_str().unwrap_or_default();
    let public = public_key(pem);
    let signed = format!("{header}.{}", parts[1]);
    let verified =
        signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &public)
            .verify(signed.as_bytes(), &sig)
            .is_ok();
    if !verified {
        return grant_error("Invalid JWT Signature.");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap_or(0),
        claims["exp"].as_i64().unwrap_or(0),
    );
    if claims["iss"] != EMAIL || claims["aud"] != file["token_uri"] {
        return grant_error("Invalid JWT: iss or aud");
    }
    if !claims["scope"]
        .as_str()
        .unwrap_or("")
        .split(' ')
        .any(|s| s == SCOPE)
    {
        return Response::json(
            400,
            json!({ "error": "invalid_scope", "error_description": "Invalid OAuth scope" }),
        );
    }
    if (iat - now).abs() > 300 || exp <= iat || exp - iat > 3600 {
        return grant_error(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.",
        );
    }
    let access = format!("ya29.{}", random_hex());
    // invariant: no code panics while holding this lock.
    shared
        .actions
        .lock()
        .expect("actions")
        .statuses
        .push(format!("token:{access}"));
    Response::json(
        200,
        json!({ "access_token": access, "expires_in": 3599, "token_type": "Bearer" }),
    )
}

fn public_key(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = data_encoding::BASE64
        .decode(body.as_bytes())
        .unwrap_or_default();
    signature::RsaKeyPair::from_pkcs8(&der)
        .map(|k| k.public_key().as_ref().to_vec())
        .unwrap_or_default()
}

/// `application/x-www-form-urlencoded` pairs (`+` is a space, `%XX` a byte).
pub fn url_form(body: &str) -> Vec<(String, String)> {
    let decode = |text: &str| {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() + 1 && i + 3 <= bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                    out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                    i += 2;
                }
                byte => out.push(byte),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn zone_name(id: &str) -> String {
    format!("zone-{}", id.trim_start_matches('0'))
}

fn zones(shared: &Shared, request: &Request) -> Response {
    let max = request
        .query_number("maxResults", 100)
        .clamp(1, ZONES_PER_PAGE);
    let start = match request.query("pageToken") {
        Some(token) => match token.strip_prefix("page-").and_then(|n| n.parse().ok()) {
            Some(start) => start,
            None => {
                return error(
                    400,
                    "invalid",
                    "Invalid value for pageToken",
                    "INVALID_ARGUMENT",
                );
            }
        },
        None => 0,
    };
    shared.with(|store| {
        let items: Vec<Value> = store
            .zones
            .iter()
            .skip(start)
            .take(max)
            .map(|z| {
                json!({
                    "kind": "dns#managedZone",
                    "name": zone_name(&z.id),
                    "dnsName": format!("{}.", z.name),
                    "visibility": "public",
                    "dnssecConfig": { "state": "on" },
                })
            })
            .collect();
        let mut body = json!({ "kind": "dns#managedZonesListResponse", "managedZones": items });
        if start + max < store.zones.len() {
            body["nextPageToken"] = json!(format!("page-{}", start + max));
        }
        Response::json(200, body)
    })
}

fn no_zone(zone: &str) -> Response {
    error(
        404,
        "notFound",
        &format!("The 'parameters.managedZone' resource named '{zone}' does not exist."),
        "NOT_FOUND",
    )
}

fn rrsets(shared: &Shared, zone: &str, request: &Request) -> Response {
    let name = request.query("name").map(super::store::absolute);
    shared.with(|store| {
        let Some(z) = store.zones.iter().find(|z| zone_name(&z.id) == zone) else {
            return no_zone(zone);
        };
        let sets: Vec<Value> = z
            .rrsets
            .iter()
            .filter(|(owner, _)| name.as_ref().is_none_or(|n| n == *owner))
            .filter(|_| request.query("type").is_none_or(|t| t == "TLSA"))
            .map(|(owner, rrset)| {
                let values: Vec<&str> = rrset.records.iter().map(|r| r.value.as_str()).collect();
                json!({ "kind": "dns#resourceRecordSet", "name": owner, "type": "TLSA",
                        "ttl": rrset.ttl.unwrap_or(z.ttl), "rrdatas": values })
            })
            .collect();
        Response::json(
            200,
            json!({ "kind": "dns#resourceRecordSetsListResponse", "rrsets": sets }),
        )
    })
}

fn change(shared: &Shared, zone: &str, request: &Request) -> Response {
    let Some(body) = request.json() else {
        return error(400, "parseError", "Parse Error", "INVALID_ARGUMENT");
    };
    let sets = |key: &str| body[key].as_array().cloned().unwrap_or_default();
    let (deletions, additions) = (sets("deletions"), sets("additions"));
    for (i, set) in additions.iter().enumerate() {
        for (j, value) in set["rrdatas"].as_array().into_iter().flatten().enumerate() {
            let value = value.as_str().unwrap_or_default();
            if parse_value(value).is_err() {
                return error(
                    400,
                    "invalid",
                    &format!(
                        "Invalid value for 'entity.change.additions[{i}].rrdata[{j}]': '{value}'"
                    ),
                    "INVALID_ARGUMENT",
                );
            }
        }
    }
    let values = |set: &Value| -> Vec<String> {
        let mut v: Vec<String> = set["rrdatas"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        v.sort();
        v
    };
    shared.write(|store| {
        let change_id = store.next_id().trim_start_matches('0').to_string();
        let Some(z) = store.zones.iter_mut().find(|z| zone_name(&z.id) == zone) else {
            return no_zone(zone);
        };
        let mut state = z.rrsets.clone();
        for (i, set) in deletions.iter().enumerate() {
            let owner = super::store::absolute(set["name"].as_str().unwrap_or_default());
            let Some(held) = state.get(&owner) else {
                return error(
                    404,
                    "notFound",
                    &format!("The 'entity.change.deletions[{i}]' resource named '{owner} (TLSA)' does not exist."),
                    "NOT_FOUND",
                );
            };
            let mut have: Vec<String> = held.records.iter().map(|r| r.value.clone()).collect();
            have.sort();
            let ttl = set["ttl"].as_u64().map(|t| t as u32);
            if have != values(set) || ttl != Some(held.ttl.unwrap_or(z.ttl)) {
                return error(
                    412,
                    "conditionNotMet",
                    &format!("Precondition not met for 'entity.change.deletions[{i}]'"),
                    "FAILED_PRECONDITION",
                );
            }
            state.remove(&owner);
        }
        for (i, set) in additions.iter().enumerate() {
            let owner = super::store::absolute(set["name"].as_str().unwrap_or_default());
            if state.contains_key(&owner) {
                return error(
                    409,
                    "alreadyExists",
                    &format!("The resource 'entity.change.additions[{i}]' named '{owner} (TLSA)' already exists"),
                    "ALREADY_EXISTS",
                );
            }
            let ttl = set["ttl"].as_u64().unwrap_or(300) as u32;
            let records = values(set)
                .into_iter()
                .map(|value| super::store::Record { id: String::new(), value, ttl })
                .collect();
            state.insert(owner, super::store::Rrset { ttl: Some(ttl), records });
        }
        z.rrsets = state;
        Response::json(
            200,
            json!({ "kind": "dns#change", "id": change_id, "status": "pending",
                    "startTime": "2026-12-03T10:00:00.000Z",
                    "additions": additions, "deletions": deletions }),
        )
    })
    .remember_change(shared)
}

trait RememberChange {
    fn remember_change(self, shared: &Shared) -> Response;
}

impl RememberChange for Response {
    fn remember_change(self, shared: &Shared) -> Response {
        let body: Value = serde_json::from_slice(&self.body).unwrap_or_default();
        if let (Some(id), 200) = (body["id"].as_str(), self.status) {
            // invariant: no code panics while holding this lock.
            shared
                .actions
                .lock()
                .expect("actions")
                .statuses
                .push(format!("change:{id}:0"));
        }
        self
    }
}

fn get_change(shared: &Shared, id: &str) -> Response {
    // invariant: as above.
    let mut actions = shared.actions.lock().expect("actions");
    let prefix = format!("change:{id}:");
    let Some(entry) = actions.statuses.iter_mut().find(|s| s.starts_with(&prefix)) else {
        return error(
            404,
            "notFound",
            &format!("The 'parameters.changeId' resource named '{id}' does not exist."),
            "NOT_FOUND",
        );
    };
    let polls: u32 = entry[prefix.len()..].parse().unwrap_or(0);
    *entry = format!("{prefix}{}", polls + 1);
    let status = if polls == 0 { "pending" } else { "done" };
    Response::json(
        200,
        json!({ "kind": "dns#change", "id": id, "status": status }),
    )
}
