//! A fake Amazon Route 53 API (version 2013-04-01), following
//! <https://docs.aws.amazon.com/Route53/latest/APIReference/API_ListHostedZones.html>
//! (`marker` / `maxitems`, `IsTruncated` / `NextMarker`),
//! <https://docs.aws.amazon.com/Route53/latest/APIReference/API_ListResourceRecordSets.html>
//! (the list starts at `name` / `type` and runs on past it; `NextRecordName` /
//! `NextRecordType`),
//! <https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html>
//! (a batch is applied entirely or not at all; `DELETE` must match the record set exactly, TTL
//! and every value; `CREATE` fails if the set exists; `UPSERT` replaces it; otherwise
//! `InvalidChangeBatch`), <https://docs.aws.amazon.com/Route53/latest/APIReference/API_GetChange.html>
//! (`PENDING` until the change is on every server, then `INSYNC`),
//! <https://docs.aws.amazon.com/Route53/latest/APIReference/CommonErrors.html> and
//! <https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DNSLimitations.html#limits-api-requests>
//! (HTTP 400 `Throttling` "Rate exceeded"), and SigV4 as
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html> describes it:
//! the fake recomputes every request's signature from its own canonical request with the secret
//! key (service `route53`, region `us-east-1`) and refuses a mismatch, an unknown access key,
//! an unsigned request or a timestamp more than 5 minutes off, as AWS does.
//!
//! It serves at most 2 zones and 1 record set per page, so clients must follow both kinds of
//! pagination; the first `GetChange` of every change answers `PENDING`.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::{digest, hmac};
use serde::Deserialize;

use super::{Fake, Request, Response, Shared, parse_value, random_hex};

const ZONES_PER_PAGE: usize = 2;
const SETS_PER_PAGE: usize = 1;
const NS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

/// A fake with `zones` (public hosted zones) under `/2013-04-01`; the credential is
/// `ACCESS_KEY_ID:SECRET_ACCESS_KEY`.
pub fn start(zones: &[&str]) -> Fake {
    let access = format!("AKIA{}", random_hex()[..16].to_uppercase());
    let credential = format!("{access}:{}", random_hex());
    Fake::start_with_token("/2013-04-01", zones, credential, handle)
}

/// The access key id and the secret access key of `fake`'s credential.
pub fn parts(fake: &Fake) -> [String; 2] {
    let (access, secret) = fake
        .token()
        .split_once(':')
        // invariant: `start` made the credential with one colon.
        .expect("ACCESS:SECRET");
    [access.to_string(), secret.to_string()]
}

/// Route 53's throttling answer: HTTP 400, code `Throttling`, no `Retry-After`.
pub fn throttled() -> Response {
    error(400, "Throttling", "Rate exceeded")
}

fn error(status: u16, code: &str, message: &str) -> Response {
    let kind = if status >= 500 { "Receiver" } else { "Sender" };
    xml(
        status,
        &format!(
            "<ErrorResponse xmlns=\"{NS}\"><Error><Type>{kind}</Type><Code>{code}</Code>\
             <Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
            escape(message),
            random_hex()
        ),
    )
}

fn invalid_batch(messages: &[String]) -> Response {
    let body: String = messages
        .iter()
        .map(|m| format!("<Message>{}</Message>", escape(m)))
        .collect();
    xml(
        400,
        &format!(
            "<InvalidChangeBatch xmlns=\"{NS}\"><Messages>{body}</Messages><RequestId>{}\
             </RequestId></InvalidChangeBatch>",
            random_hex()
        ),
    )
}

fn xml(status: u16, body: &str) -> Response {
    Response {
        status,
        headers: vec![("Content-Type".into(), "text/xml".into())],
        body: format!("<?xml version=\"1.0\"?>\n{body}").into_bytes(),
        failed: false,
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn handle(shared: &Shared, request: &Request) -> Response {
    if let Err(response) = verify_signature(&shared.token, request) {
        return response;
    }
    let segments = request.segments();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["hostedzone"]) => list_zones(shared, request),
        ("GET", ["hostedzone", id, "rrset"]) => list_sets(shared, id, request),
        ("POST", ["hostedzone", id, "rrset"]) => change(shared, id, request),
        ("GET", ["change", id]) => get_change(shared, id),
        _ => error(404, "NoSuchResource", "Not found"),
    }
}

/// Checks the SigV4 `Authorization` header as AWS does (see the module docs).
fn verify_signature(credential: &str, request: &Request) -> Result<(), Response> {
    let (access, secret) = credential.split_once(':').unwrap_or_default();
    let missing = || {
        error(
            403,
            "MissingAuthenticationToken",
            "Missing Authentication Token",
        )
    };
    let auth = request.header("authorization").ok_or_else(missing)?;
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256 ").ok_or_else(missing)?;
    let field = |name: &str| {
        rest.split(',')
            .map(str::trim)
            .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or("")
    };
    let (scope_key, signed, signature) = (
        field("Credential"),
        field("SignedHeaders"),
        field("Signature"),
    );
    let incomplete = || {
        error(
            403,
            "IncompleteSignature",
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'",
        )
    };
    let mut scope = scope_key.split('/');
    let (Some(key), Some(day), Some(region), Some(service), Some("aws4_request")) = (
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
        scope.next(),
    ) else {
        return Err(incomplete());
    };
    if key != access {
        return Err(error(
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        ));
    }
    let amz_date = request.header("x-amz-date").ok_or_else(incomplete)?;
    let signed_names: Vec<&str> = signed.split(';').collect();
    if !signed_names.contains(&"host") || !signed_names.contains(&"x-amz-date") {
        return Err(incomplete());
    }
    if region != "us-east-1" || service != "route53" || !amz_date.starts_with(day) {
        return Err(error(
            403,
            "SignatureDoesNotMatch",
            &format!(
                "Credential should be scoped to a valid region and service: {region}/{service}"
            ),
        ));
    }
    if !within_five_minutes(amz_date) {
        return Err(error(
            403,
            "SignatureDoesNotMatch",
            &format!("Signature expired: {amz_date} is now earlier or later than 5 minutes"),
        ));
    }
    let mut headers = String::new();
    for name in &signed_names {
        let value = request.header(name).unwrap_or_default();
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        headers.push_str(&format!("{name}:{value}\n"));
    }
    let raw_path = request.target.split('?').next().unwrap_or("/");
    let canonical = format!(
        "{}\n{}\n{}\n{headers}\n{signed}\n{}",
        request.method,
        uri_encode(raw_path, false),
        canonical_query(request),
        hex(digest::digest(&digest::SHA256, &request.body).as_ref()),
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{day}/{region}/{service}/aws4_request\n{}",
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let expected = hex(&signature_of(secret, day, region, service, &to_sign));
    if expected != signature {
        return Err(error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method.",
        ));
    }
    Ok(())
}

/// `HMAC(HMAC(HMAC(HMAC(HMAC("AWS4" + secret, day), region), service), "aws4_request"),
/// string_to_sign)`.
pub fn signature_of(secret: &str, day: &str, region: &str, service: &str, text: &str) -> Vec<u8> {
    let mac = |key: &[u8], data: &str| {
        let key = hmac::Key::new(hmac::HMAC_SHA256, key);
        hmac::sign(&key, data.as_bytes()).as_ref().to_vec()
    };
    let key = mac(format!("AWS4{secret}").as_bytes(), day);
    let key = mac(&key, region);
    let key = mac(&key, service);
    let key = mac(&key, "aws4_request");
    mac(&key, text)
}

fn within_five_minutes(amz_date: &str) -> bool {
    let Ok(at) = time::PrimitiveDateTime::parse(
        amz_date,
        time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"),
    ) else {
        return false;
    };
    let at = at.assume_utc().unix_timestamp();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    (now - at).abs() <= 300
}

/// SigV4's URI encoding: every byte but `A-Za-z0-9-_.~` as `%XX` (and `/` too unless it is a
/// path). Route 53 is not S3: the path, as sent, is encoded once more.
fn uri_encode(text: &str, slash: bool) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else if byte == b'/' && !slash {
            out.push('/');
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn canonical_query(request: &Request) -> String {
    let mut pairs: Vec<(String, String)> = request
        .query
        .iter()
        .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn zone_id(id: &str) -> String {
    format!("Z{}", id.trim_start_matches('0'))
}

fn list_zones(shared: &Shared, request: &Request) -> Response {
    let max = request
        .query_number("maxitems", 100)
        .clamp(1, ZONES_PER_PAGE);
    shared.with(|store| {
        let start = match request.query("marker") {
            Some(marker) => match store.zones.iter().position(|z| zone_id(&z.id) == marker) {
                Some(at) => at,
                None => return error(400, "InvalidInput", "Invalid marker"),
            },
            None => 0,
        };
        let page: String = store
            .zones
            .iter()
            .skip(start)
            .take(max)
            .map(|z| {
                format!(
                    "<HostedZone><Id>/hostedzone/{}</Id><Name>{}.</Name><CallerReference>{}\
                     </CallerReference><Config><PrivateZone>false</PrivateZone></Config>\
                     <ResourceRecordSetCount>{}</ResourceRecordSetCount></HostedZone>",
                    zone_id(&z.id),
                    z.name,
                    z.id,
                    z.rrsets.len() + 2
                )
            })
            .collect();
        let next = store.zones.get(start + max);
        let more = match next {
            Some(z) => format!(
                "<IsTruncated>true</IsTruncated><NextMarker>{}</NextMarker>",
                zone_id(&z.id)
            ),
            None => "<IsTruncated>false</IsTruncated>".to_string(),
        };
        xml(
            200,
            &format!(
                "<ListHostedZonesResponse xmlns=\"{NS}\"><HostedZones>{page}</HostedZones>\
                 <Marker>{}</Marker>{more}<MaxItems>{max}</MaxItems></ListHostedZonesResponse>",
                request.query("marker").unwrap_or("")
            ),
        )
    })
}

fn no_zone(id: &str) -> Response {
    error(
        404,
        "NoSuchHostedZone",
        &format!("No hosted zone found with ID: {id}"),
    )
}

fn list_sets(shared: &Shared, id: &str, request: &Request) -> Response {
    let max = request
        .query_number("maxitems", 300)
        .clamp(1, SETS_PER_PAGE);
    let from = request
        .query("name")
        .map(super::store::absolute)
        .unwrap_or_default();
    shared.with(|store| {
        let Some(zone) = store.zones.iter().find(|z| zone_id(&z.id) == id) else {
            return no_zone(id);
        };
        // Every set is TLSA here; the list runs from `name` on, past it.
        let sets: Vec<(&String, &super::store::Rrset)> = zone
            .rrsets
            .iter()
            .filter(|(owner, _)| **owner >= from)
            .collect();
        let page: String = sets
            .iter()
            .take(max)
            .map(|(owner, rrset)| {
                let values: String = rrset
                    .records
                    .iter()
                    .map(|r| {
                        format!(
                            "<ResourceRecord><Value>{}</Value></ResourceRecord>",
                            r.value
                        )
                    })
                    .collect();
                format!(
                    "<ResourceRecordSet><Name>{owner}</Name><Type>TLSA</Type><TTL>{}</TTL>\
                     <ResourceRecords>{values}</ResourceRecords></ResourceRecordSet>",
                    rrset.ttl.unwrap_or(zone.ttl)
                )
            })
            .collect();
        let more = match sets.get(max) {
            Some((owner, _)) => format!(
                "<IsTruncated>true</IsTruncated><NextRecordName>{owner}</NextRecordName>\
                 <NextRecordType>TLSA</NextRecordType>"
            ),
            None => "<IsTruncated>false</IsTruncated>".to_string(),
        };
        xml(
            200,
            &format!(
                "<ListResourceRecordSetsResponse xmlns=\"{NS}\"><ResourceRecordSets>{page}\
                 </ResourceRecordSets>{more}<MaxItems>{max}</MaxItems>\
                 </ListResourceRecordSetsResponse>"
            ),
        )
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChangeRequest {
    change_batch: ChangeBatch,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ChangeBatch {
    changes: Changes,
}

#[derive(Debug, Deserialize)]
struct Changes {
    #[serde(rename = "Change", default)]
    change: Vec<Change>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Change {
    action: String,
    resource_record_set: Set,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Set {
    name: String,
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "TTL")]
    ttl: Option<u32>,
    resource_records: Option<Records>,
}

#[derive(Debug, Deserialize)]
struct Records {
    #[serde(rename = "ResourceRecord", default)]
    record: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Value {
    value: String,
}

fn change(shared: &Shared, id: &str, request: &Request) -> Response {
    let text = String::from_utf8_lossy(&request.body);
    let parsed: ChangeRequest = match quick_xml::de::from_str(&text) {
        Ok(parsed) => parsed,
        Err(e) => {
            return error(
                400,
                "MalformedInput",
                &format!("Could not parse the body: {e}"),
            );
        }
    };
    let changes = parsed.change_batch.changes.change;
    let mut invalid = Vec::new();
    for change in &changes {
        let set = &change.resource_record_set;
        if set.kind != "TLSA" {
            continue;
        }
        for value in set.resource_records.iter().flat_map(|r| &r.record) {
            if let Err(e) = parse_value(&value.value) {
                invalid.push(format!(
                    "[Invalid Resource Record: 'FATAL problem: {e}' encountered with '{}']",
                    value.value
                ));
            }
        }
    }
    if !invalid.is_empty() {
        return invalid_batch(&invalid);
    }
    shared
        .write(|store| {
            let change_id = format!("C{}", store.next_id().trim_start_matches('0'));
            let Some(zone) = store.zones.iter_mut().find(|z| zone_id(&z.id) == id) else {
                return no_zone(id);
            };
            // All or nothing: check every change against the state the batch builds, then apply.
            let mut state = zone.rrsets.clone();
            let mut refused = Vec::new();
            for change in &changes {
                let set = &change.resource_record_set;
                let owner = super::store::absolute(&set.name);
                let values: Vec<String> = set
                    .resource_records
                    .iter()
                    .flat_map(|r| &r.record)
                    .map(|v| v.value.clone())
                    .collect();
                let ttl = set.ttl.unwrap_or(300);
                let name = format!("[name='{owner}', type='{}']", set.kind);
                match change.action.as_str() {
                    "DELETE" => match state.get(&owner) {
                        None => refused.push(format!(
                            "Tried to delete resource record set {name} but it was not found"
                        )),
                        Some(held) => {
                            let mut have: Vec<&str> =
                                held.records.iter().map(|r| r.value.as_str()).collect();
                            let mut want: Vec<&str> = values.iter().map(String::as_str).collect();
                            have.sort();
                            want.sort();
                            if have != want || held.ttl.unwrap_or(zone.ttl) != ttl {
                                refused.push(format!(
                                    "Tried to delete resource record set {name} but the values \
                                 provided do not match the current values"
                                ));
                            } else {
                                state.remove(&owner);
                            }
                        }
                    },
                    "CREATE" | "UPSERT" => {
                        if change.action == "CREATE" && state.contains_key(&owner) {
                            refused.push(format!(
                                "Tried to create resource record set {name} but it already exists"
                            ));
                            continue;
                        }
                        let records = values
                            .iter()
                            .map(|value| super::store::Record {
                                id: String::new(),
                                value: value.clone(),
                                ttl,
                            })
                            .collect();
                        state.insert(
                            owner,
                            super::store::Rrset {
                                ttl: Some(ttl),
                                records,
                            },
                        );
                    }
                    other => refused.push(format!("Invalid action {other}")),
                }
            }
            if !refused.is_empty() {
                let mut response = invalid_batch(&refused);
                response.failed = true;
                return response;
            }
            zone.rrsets = state;
            xml(
                200,
                &format!(
                    "<ChangeResourceRecordSetsResponse xmlns=\"{NS}\"><ChangeInfo><Id>/change/\
                 {change_id}</Id><Status>PENDING</Status><SubmittedAt>2026-12-03T10:00:00.000Z\
                 </SubmittedAt></ChangeInfo></ChangeResourceRecordSetsResponse>"
                ),
            )
        })
        .and_remember(shared)
}

trait Remember {
    fn and_remember(self, shared: &Shared) -> Response;
}

impl Remember for Response {
    /// Notes a change id the answer hands out, so `GetChange` knows it.
    fn and_remember(self, shared: &Shared) -> Response {
        let body = String::from_utf8_lossy(&self.body);
        if let Some(id) = body
            .split("<Id>/change/")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
        {
            // invariant: no code panics while holding this lock.
            shared
                .actions
                .lock()
                .expect("actions")
                .statuses
                .push(format!("{id}:0"));
        }
        self
    }
}

/// `PENDING` at the first poll of a change, `INSYNC` after.
fn get_change(shared: &Shared, id: &str) -> Response {
    // invariant: no code panics while holding this lock.
    let mut actions = shared.actions.lock().expect("actions");
    let Some(entry) = actions
        .statuses
        .iter_mut()
        .find(|s| s.split(':').next() == Some(id))
    else {
        return error(
            404,
            "NoSuchChange",
            &format!("Could not find resource with ID: {id}"),
        );
    };
    let polls: u32 = entry
        .split(':')
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    *entry = format!("{id}:{}", polls + 1);
    let status = if polls == 0 { "PENDING" } else { "INSYNC" };
    xml(
        200,
        &format!(
            "<GetChangeResponse xmlns=\"{NS}\"><ChangeInfo><Id>/change/{id}</Id><Status>\
             {status}</Status><SubmittedAt>2026-12-03T10:00:00.000Z</SubmittedAt></ChangeInfo>\
             </GetChangeResponse>"
        ),
    )
}

/// How often `GetChange` was asked about each change so far.
pub fn polls(fake: &Fake) -> Vec<u32> {
    // invariant: as above.
    let actions = fake.shared.actions.lock().expect("actions");
    actions
        .statuses
        .iter()
        .filter_map(|s| s.split(':').nth(1)?.parse().ok())
        .collect()
}
