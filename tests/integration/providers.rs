//! The REST backends for hosted providers and self-hosted servers without a Debian package
//! (Cloudflare, deSEC, Hetzner, Gandi, OVH, Technitium) against local fakes of
//! their APIs (`fakes/`): the backend contract, zone discovery through paginated zone lists,
//! rate limits, server errors, lost answers, concurrent writers, and every error an operator can
//! meet, none of them showing the token. Each test runs once per provider.

use std::time::Duration;

use daneroll_providers::http::{ApiConfig, RetryPolicy};
use daneroll_providers::settings::{
    HostedSettings, ProviderSettings, SelfHostedSettings, build_backend_with,
};
use daneroll_providers::{BackendError, DnsBackend, Outcome, Tlsa, TlsaRrset};

use crate::contract::{Contract, ee, ta};
use crate::fakes::{self, Fake, Response};
use crate::util::Dir;

/// Zones of every fake account. With 2 per page the most specific one for [`OWNER`] is on the
/// third page, so finding it needs pagination and the longest-match rule.
const ZONES: [&str; 5] = [
    "alpha.test",
    "example.com",
    "beta.test",
    "zeta.test",
    "mail.example.com",
];
const ZONE: &str = "mail.example.com.";
const OWNER: &str = "_25._tcp.mx.mail.example.com.";

/// One provider under test: its fake and a temp dir for the token file.
struct Case {
    kind: &'static str,
    fake: Fake,
    dir: Dir,
}

impl Case {
    fn start(kind: &'static str) -> Self {
        let fake = match kind {
            "cloudflare" => fakes::cloudflare::start(&ZONES),
            "desec" => fakes::desec::start(&ZONES),
            "hetzner" => fakes::hetzner::start(&ZONES),
            "gandi" => fakes::gandi::start(&ZONES),
            "technitium" => fakes::technitium::start(&ZONES),
            "ovh" => fakes::ovh::start(&ZONES),
            "dnsimple" => fakes::dnsimple::start(&ZONES),
            "porkbun" => fakes::porkbun::start(&ZONES),
            "infomaniak" => fakes::infomaniak::start(&ZONES),
            "cloudns" => fakes::cloudns::start(&ZONES),
            "netcup" => fakes::netcup::start(&ZONES),
            "inwx" => fakes::inwx::start(&ZONES),
            // Cloud providers.
            "route53" => fakes::route53::start(&ZONES),
            "google" => fakes::google::start(&ZONES),
            "azure" => fakes::azure::start(&ZONES),
            other => panic!("no fake for {other}"),
        };
        Self {
            kind,
            fake,
            dir: Dir::new(),
        }
    }

    /// The TTL the provider accepts for new RRsets (deSEC's minimum is 3600 s).
    fn ttl(&self) -> u32 {
        match self.kind {
            "desec" => 3600,
            // Porkbun stores at least 600 s; netcup has one TTL per zone (the fake's: 3600 s).
            "porkbun" => 600,
            "netcup" => 3600,
            _ => 300,
        }
    }

    fn hosted(&self) -> HostedSettings {
        // netcup's endpoint takes the interface in its query, as its default URL has it.
        let query = if self.kind == "netcup" { "?JSON" } else { "" };
        HostedSettings {
            api_url: Some(format!("{}{query}", self.fake.url())),
            token_file: Some(self.fake.token_file(&self.dir)),
            token_env: None,
            zone: None,
        }
    }

    fn settings(&self, hosted: HostedSettings) -> ProviderSettings {
        match self.kind {
            "cloudflare" => ProviderSettings::Cloudflare(hosted),
            "desec" => ProviderSettings::Desec(hosted),
            "hetzner" => ProviderSettings::Hetzner(hosted),
            "ovh" => ProviderSettings::Ovh(hosted),
            "dnsimple" => ProviderSettings::Dnsimple(hosted),
            "porkbun" => ProviderSettings::Porkbun(hosted),
            "infomaniak" => ProviderSettings::Infomaniak(hosted),
            "cloudns" => ProviderSettings::Cloudns(hosted),
            "netcup" => ProviderSettings::Netcup(hosted),
            "inwx" => ProviderSettings::Inwx(hosted),
            "route53" => ProviderSettings::Route53(hosted),
            "google" => ProviderSettings::Google(hosted),
            "azure" => ProviderSettings::Azure(hosted),
            "technitium" => ProviderSettings::Technitium(SelfHostedSettings {
                // invariant: every case's settings name the fake's URL.
                api_url: hosted.api_url.expect("the fake's URL"),
                token_file: hosted.token_file,
                token_env: hosted.token_env,
                zone: hosted.zone,
            }),
            _ => ProviderSettings::Gandi(hosted),
        }
    }

    /// A credential of the provider's form that the fake refuses; for OVH the right keys
    /// around a wrong application secret (the signature then fails).
    fn wrong_token(&self, wrong: &str) -> String {
        match self.kind {
            "ovh" => {
                let [ak, _, ck] = fakes::ovh::parts(&self.fake);
                format!("{ak}:{wrong}:{ck}")
            }
            "porkbun" => {
                let [key, _] = fakes::porkbun::parts(&self.fake);
                format!("{key}:{wrong}")
            }
            "cloudns" => format!("sub:{}:{wrong}", fakes::cloudns::SUB_AUTH_ID),
            "inwx" => format!("daneroll-api:{wrong}"),
            "netcup" => {
                let [customer, key, _] = fakes::netcup::parts(&self.fake);
                format!("{customer}:{key}:{wrong}")
            }
            "route53" => {
                let [access, _] = fakes::route53::parts(&self.fake);
                format!("{access}:{wrong}")
            }
            "azure" => fakes::azure::wrong_secret(&self.fake, wrong),
            // A key file with another private key: its JWTs do not verify.
            "google" => fakes::google::other_key(&self.fake),
            _ => wrong.to_string(),
        }
    }

    /// The query key of the zone list's page number, if the zone list is paginated.
    fn page_key(&self) -> Option<&'static str> {
        match self.kind {
            // deSEC names the zone (`owns_qname`); OVH lists every zone name at once; Porkbun
            // pages in the body (`start`, checked in `porkbun_pages_and_raises_small_ttls`).
            // Infomaniak: each enclosing name is asked for directly.
            // ClouDNS: 5 zones are one page of 100 (`cloudns_pages_through_its_zone_list`).
            // netcup: each enclosing name is asked for, as for Infomaniak.
            // INWX: `page` in the JSON-RPC body (`inwx_pages_and_refuses_a_second_factor`).
            // Route 53 (marker), Google (pageToken), Azure (nextLink): checked on their own.
            "desec" | "ovh" | "porkbun" | "infomaniak" | "cloudns" | "netcup" | "inwx"
            | "route53" | "google" | "azure" => None,
            "technitium" => Some("pageNumber"),
            _ => Some("page"),
        }
    }

    /// The backend as daneroll builds it from a `[dns.NAME]` section.
    fn backend_with(&self, hosted: HostedSettings) -> Box<dyn DnsBackend> {
        build_backend_with(self.kind, &self.settings(hosted), quick_retries())
            .unwrap_or_else(|e| panic!("{}: {e}", self.kind))
    }

    fn backend(&self) -> Box<dyn DnsBackend> {
        self.backend_with(self.hosted())
    }

    /// Whether the provider replaces whole RRsets (read-modify-write) rather than records.
    fn whole_rrset(&self) -> bool {
        matches!(
            self.kind,
            "desec" | "gandi" | "route53" | "google" | "azure"
        )
    }

    /// The provider's rate-limit answer asking to wait `seconds`.
    fn throttled(&self, seconds: u64) -> Response {
        match self.kind {
            "cloudflare" => fakes::cloudflare::throttled(seconds),
            "desec" => fakes::desec::throttled(seconds),
            "hetzner" => fakes::hetzner::rate_limited(seconds),
            "technitium" => fakes::technitium::throttled(seconds),
            "ovh" => fakes::ovh::throttled(seconds),
            "dnsimple" => fakes::dnsimple::rate_limited(seconds),
            "porkbun" => fakes::porkbun::throttled(seconds),
            "infomaniak" => fakes::infomaniak::throttled(seconds),
            "netcup" => fakes::netcup::throttled(seconds),
            "inwx" => fakes::inwx::throttled(seconds),
            // Route 53 throttles with HTTP 400 and no Retry-After.
            "route53" => fakes::route53::throttled(),
            // Cloud DNS: 429 without Retry-After (clients back off).
            "google" => fakes::google::throttled(),
            "azure" => fakes::azure::throttled(seconds),
            _ => Response::json(429, serde_json::json!({ "code": 429, "message": "Too Many Requests", "object": "HTTPTooManyRequests", "cause": "Too Many Requests" }))
                .header("Retry-After", seconds.to_string()),
        }
    }

    fn values(&self) -> Vec<String> {
        self.fake.values(OWNER)
    }
}

/// The default table scaled to milliseconds; a budget that still honours a 1 s `Retry-After`.
pub(crate) fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        delays: [1, 2, 4].map(Duration::from_millis).to_vec(),
        budget: Duration::from_secs(5),
        timeout: Duration::from_secs(5),
        poll_interval: Duration::from_millis(5),
        poll_limit: Duration::from_secs(2),
    }
}

fn assert_hidden(kind: &str, shown: &str, secret: &str) {
    assert!(!shown.contains(secret), "{kind}: token leaked: {shown}");
}

async fn contract_holds(kind: &'static str) {
    let case = Case::start(kind);
    let backend = case.backend();
    let ttl = case.ttl();
    let publish_other = |record: &Tlsa| case.fake.publish_other(OWNER, record, ttl);
    let contract = Contract {
        backend: backend.as_ref(),
        owner: OWNER.to_string(),
        publish_other: &publish_other,
        ttl,
    };
    contract.check().await;
    assert_eq!(backend.zone_of(OWNER).await.unwrap(), ZONE, "{kind}");
    if let Some(key) = case.page_key() {
        let pages: Vec<String> = case
            .fake
            .requests()
            .iter()
            .filter_map(|r| {
                r.query
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
            })
            .collect();
        assert!(
            pages.iter().any(|p| p == "3"),
            "{kind}: zone list not paginated: {pages:?}"
        );
    }
    // The zone is looked up once per owner, not on every call.
    let lookups = case
        .fake
        .requests()
        .iter()
        .filter(|r| {
            let listing = [
                "/zones",
                "/domains",
                "/domains/",
                "/zones/list",
                "/1010/zones",
            ];
            if let Some(zone) = r.path.strip_prefix("/2/zones/") {
                // Infomaniak: the zone found (the names tried before it are 404).
                return !zone.contains('/') && r.status == 200;
            }
            if r.path.is_empty() && r.query.iter().any(|(k, _)| k == "JSON") {
                // netcup: the zone found (the names tried before it are other names).
                let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
                return body["action"] == "infoDnsZone"
                    && body["param"]["domainname"] == "mail.example.com";
            }
            if r.path == "/jsonrpc/" {
                // INWX: the first page of `nameserver.list`.
                let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
                return body["method"] == "nameserver.list" && body["params"]["page"] == 1;
            }
            if r.path == "/dns/list-zones.json" {
                let form = fakes::form_fields(&r.body);
                return form.iter().any(|(k, v)| k == "page" && v == "1");
            }
            if r.path == "/domain/listAll" {
                // Porkbun: the first page is `start` 0, in the body.
                let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
                return body["start"] == "0";
            }
            let first_page = r.query.iter().any(|(k, v)| {
                ((k == "page" || k == "pageNumber") && v == "1") || k == "owns_qname"
            });
            let route53_first =
                r.path == "/hostedzone" && !r.query.iter().any(|(k, _)| k == "marker");
            let google_first =
                r.path.ends_with("/managedZones") && !r.query.iter().any(|(k, _)| k == "pageToken");
            let azure_first =
                r.path.ends_with("/dnszones") && !r.query.iter().any(|(k, _)| k == "$skipToken");
            (listing.contains(&r.path.as_str()) && first_page)
                || r.path == "/domain/zone"
                || route53_first
                || google_first
                || azure_first
        })
        .count();
    assert_eq!(lookups, 1, "{kind}");
    if kind == "route53" {
        let markers = case
            .fake
            .requests()
            .iter()
            .filter(|r| r.path == "/hostedzone" && r.query.iter().any(|(k, _)| k == "marker"))
            .count();
        assert_eq!(
            markers, 2,
            "route53: zone list not followed to its third page"
        );
    }
    if kind == "google" {
        let pages = case
            .fake
            .requests()
            .iter()
            .filter(|r| {
                r.path.ends_with("/managedZones") && r.query.iter().any(|(k, _)| k == "pageToken")
            })
            .count();
        assert_eq!(pages, 2, "google: zone list not followed to its third page");
    }
    if kind == "azure" {
        let pages = case
            .fake
            .requests()
            .iter()
            .filter(|r| {
                r.path.ends_with("/dnszones") && r.query.iter().any(|(k, _)| k == "$skipToken")
            })
            .count();
        assert_eq!(pages, 2, "azure: nextLink not followed to the third page");
    }
}

async fn rate_limits_are_waited_out(kind: &'static str) {
    if kind == "cloudns" {
        return cloudns_waits_out_blocked_requests().await;
    }
    let case = Case::start(kind);
    let backend = case.backend();
    case.fake.fail_next([case.throttled(1)]);
    assert_eq!(
        backend.add(OWNER, &ee(1), case.ttl()).await.unwrap(),
        Outcome::Changed
    );
    let log = case.fake.requests();
    let throttling = if kind == "route53" { 400 } else { 429 };
    let names_no_wait = matches!(kind, "route53" | "google");
    assert_eq!(log[0].status, throttling, "{kind}: {log:?}");
    assert_eq!(
        (log[0].method.as_str(), &log[0].path),
        (log[1].method.as_str(), &log[1].path)
    );
    assert_eq!(case.values().len(), 1);

    if names_no_wait {
        // No Retry-After: throttling that outlasts the retries is reported as such.
        case.fake.fail_next((0..4).map(|_| case.throttled(1)));
        let err = backend.read(OWNER).await.unwrap_err();
        let text = err.to_string();
        let expected = format!("rate limited (HTTP {throttling}) after 4 attempt(s)");
        assert!(text.contains(&expected), "{kind}: {text}");
        assert!(err.is_transient());
        return;
    }
    // A wait longer than the retry budget is not slept: it fails at once, saying how long.
    case.fake.fail_next([case.throttled(3600)]);
    let before = case.fake.requests().len();
    let err = backend.read(OWNER).await.unwrap_err();
    let text = err.to_string();
    // (Hetzner's reset time is a Unix time: a second may have passed.)
    let asked = text.contains("wait 3600 s") || text.contains("wait 3599 s");
    assert!(text.contains("HTTP 429") && asked, "{kind}: {text}");
    assert!(err.is_transient(), "{kind}");
    assert_eq!(
        case.fake.requests().len(),
        before + 1,
        "{kind}: retried anyway"
    );
}

async fn server_errors_are_retried_then_reported(kind: &'static str) {
    let case = Case::start(kind);
    let backend = case.backend();
    case.fake.fail_next([
        Response::text(502, "<html>502 Bad Gateway</html>"),
        Response::text(503, "<html>503 Service Unavailable</html>"),
    ]);
    assert_eq!(
        backend.add(OWNER, &ee(1), case.ttl()).await.unwrap(),
        Outcome::Changed
    );

    case.fake
        .fail_next((0..4).map(|_| Response::text(500, "Internal Server Error")));
    let err = backend.read(OWNER).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("HTTP 500 after 4 attempt(s)"),
        "{kind}: {text}"
    );
    assert!(
        text.contains(&case.fake.url()) && text.contains(ZONE),
        "{kind}: {text}"
    );
    assert!(err.is_transient(), "{kind}");
    // Not retried: 501 means the API does not have this at all.
    case.fake
        .fail_next([Response::text(501, "Not Implemented")]);
    let err = backend.read(OWNER).await.unwrap_err();
    assert!(err.to_string().contains("HTTP 501"), "{kind}: {err}");
    assert!(!err.is_transient(), "{kind}");
}

async fn a_change_whose_answer_was_lost_is_not_repeated(kind: &'static str) {
    let case = Case::start(kind);
    let backend = case.backend();
    case.fake.publish_other(OWNER, &ta(9), case.ttl());
    // The provider applies the write, but the client hears 502 and tries again.
    case.fake
        .lose_next_answer(Response::text(502, "Bad Gateway"));
    assert_eq!(
        backend.add(OWNER, &ee(1), case.ttl()).await.unwrap(),
        Outcome::Changed
    );
    let mut values = case.values();
    values.sort();
    assert_eq!(
        values,
        [fakes::canonical(&ta(9)), fakes::canonical(&ee(1))].map(String::from),
        "{kind}"
    );
    case.fake
        .lose_next_answer(Response::text(504, "Gateway Timeout"));
    assert_eq!(
        backend.remove(OWNER, &ee(1)).await.unwrap(),
        Outcome::Changed
    );
    assert_eq!(case.values(), [fakes::canonical(&ta(9))], "{kind}");
}

async fn a_writer_right_after_ours_loses_nothing_of_ours(kind: &'static str) {
    let case = Case::start(kind);
    let backend = case.backend();
    let (other, ttl) = (fakes::canonical(&ta(7)), case.ttl());
    let whole = case.whole_rrset();
    // Another client writes right after us: on a whole-RRset API it writes back the RRset it
    // read before our write (ours is lost); on a per-record API it just adds its record.
    case.fake.after_next_write(move |store| {
        if whole {
            let zone = store.zone_for(OWNER).unwrap();
            let owner = OWNER.to_string();
            zone.replace(
                &owner,
                std::slice::from_ref(&other),
                Some(ttl),
                vec!["x".into()],
            );
        } else {
            store.add(OWNER, &other, ttl);
        }
    });
    assert_eq!(
        backend.add(OWNER, &ee(1), ttl).await.unwrap(),
        Outcome::Changed
    );
    let rrset = backend.read(OWNER).await.unwrap();
    assert!(
        rrset.same_records(&TlsaRrset::new(vec![ee(1), ta(7)], None)),
        "{kind}: {rrset:?}"
    );

    // A compare-and-swap whose removal someone undoes right after is stale, not "done".
    if whole {
        let seen = backend.read(OWNER).await.unwrap();
        let back = fakes::canonical(&ee(1));
        case.fake
            .after_next_write(move |store| store.add(OWNER, &back, ttl));
        let err = backend
            .remove_if_unchanged(OWNER, &ee(1), &seen)
            .await
            .unwrap_err();
        assert!(err.is_stale(), "{kind}: {err}");
    }
}

async fn a_bad_token_is_named_without_showing_it(kind: &'static str) {
    let case = Case::start(kind);
    let wrong = "wrong-token-5e7a9c";
    let mut hosted = case.hosted();
    let credential = case.wrong_token(wrong);
    hosted.token_file = Some(case.dir.write("wrong.token", format!("{credential}\n")));
    let backend = case.backend_with(hosted);
    let err = backend.add(OWNER, &ee(1), case.ttl()).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("token was rejected"), "{kind}: {text}");
    assert!(
        text.contains(&case.fake.url()) && text.contains("wrong.token"),
        "{kind}: {text}"
    );
    assert!(!err.is_transient());
    let shown = format!("{err} {err:?}");
    assert_hidden(kind, &shown, wrong);
    assert_hidden(kind, &shown, case.fake.token());
}

async fn unknown_zones_are_named(kind: &'static str) {
    let case = Case::start(kind);
    let backend = case.backend();
    let owner = "_25._tcp.mail.nowhere.org.";
    let err = backend.add(owner, &ee(1), case.ttl()).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(owner) && text.contains("set `zone`"),
        "{kind}: {text}"
    );
    assert!(matches!(err, BackendError::Api(_)), "{kind}: {err:?}");

    let mut hosted = case.hosted();
    hosted.zone = Some("missing.example".into());
    let backend = case.backend_with(hosted);
    let err = backend
        .add("_25._tcp.mail.missing.example", &ee(1), case.ttl())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing.example"), "{kind}: {err}");

    let mut hosted = case.hosted();
    hosted.zone = Some("beta.test".into());
    let backend = case.backend_with(hosted);
    let err = backend.read(OWNER).await.unwrap_err();
    assert!(
        matches!(err, BackendError::OutsideZone { .. }),
        "{kind}: {err:?}"
    );
}

async fn a_configured_zone_is_used_as_is(kind: &'static str) {
    let case = Case::start(kind);
    let mut hosted = case.hosted();
    // The parent zone, although a more specific one exists: the operator knows best.
    hosted.zone = Some("example.com".into());
    let backend = case.backend_with(hosted);
    let owner = "_25._tcp.mx.example.com.";
    assert_eq!(backend.zone_of(owner).await.unwrap(), "example.com.");
    assert_eq!(
        backend.add(owner, &ee(3), case.ttl()).await.unwrap(),
        Outcome::Changed
    );
    assert_eq!(
        case.fake.values(owner),
        [fakes::canonical(&ee(3))],
        "{kind}"
    );
}

async fn a_rejected_record_is_named(kind: &'static str) {
    let case = Case::start(kind);
    let backend = case.backend();
    // No association data: every provider refuses it.
    let record = Tlsa::new(3, 1, 0, vec![]);
    let err = backend.add(OWNER, &record, case.ttl()).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("rejected TLSA record 3 1 0") && text.contains(OWNER),
        "{kind}: {text}"
    );
    assert!(!err.is_transient());
    assert!(case.values().is_empty(), "{kind}");
    // A TTL below what the provider accepts (deSEC: its minimum of 3600 s). Hetzner, OVH and
    // Technitium document no minimum; Porkbun raises a small TTL to 600 s rather than refusing
    // it (`porkbun_pages_and_raises_small_ttls`).
    // ClouDNS raises a TTL to the next value it accepts (`accepted_ttl`).
    if !matches!(
        kind,
        "hetzner"
            | "ovh"
            | "technitium"
            | "porkbun"
            | "infomaniak"
            | "cloudns"
            | "netcup"
            | "inwx"
            | "route53"
            | "google"
            | "azure"
    ) {
        let err = backend.add(OWNER, &ee(1), 30).await.unwrap_err();
        assert!(
            err.to_string().to_lowercase().contains("ttl"),
            "{kind}: {err}"
        );
    }
}

async fn the_token_appears_only_in_its_header(kind: &'static str) {
    let case = Case::start(kind);
    let token = case.fake.token().to_string();
    let settings = case.settings(case.hosted());
    let backend = case.backend();
    let mut shown = vec![format!("{settings:?}"), backend.describe()];
    // Every kind of failure, through Display and Debug.
    let wrong = case.dir.write("bad.token", case.wrong_token("nope"));
    let attempts: Vec<Box<dyn Fn()>> = vec![
        Box::new(|| {
            case.fake
                .fail_next((0..4).map(|_| Response::text(503, "busy")))
        }),
        Box::new(|| {
            // Route 53 names no wait: throttled until the retries run out.
            let times = if matches!(kind, "route53" | "google") {
                4
            } else {
                1
            };
            case.fake
                .fail_next((0..times).map(|_| case.throttled(3600)))
        }),
        Box::new(|| {
            // Google's credential is a key file: an API would echo the access token.
            let echoed = match kind {
                "google" => fakes::google::issued(&case.fake).pop().unwrap_or_default(),
                "azure" => fakes::azure::issued(&case.fake).pop().unwrap_or_default(),
                _ => token.clone(),
            };
            case.fake
                .fail_next([Response::json(400, serde_json::json!({ "echo": echoed }))])
        }),
    ];
    if matches!(kind, "google" | "azure") {
        // The access token first, so the failures below meet the DNS API itself.
        backend.read(OWNER).await.unwrap();
    }
    for arrange in &attempts {
        arrange();
        let err = backend.read(OWNER).await.unwrap_err();
        shown.push(format!("{err} {err:?}"));
    }
    let err = backend
        .add(OWNER, &Tlsa::new(3, 1, 0, vec![]), case.ttl())
        .await
        .unwrap_err();
    shown.push(format!("{err} {err:?}"));
    let mut hosted = case.hosted();
    hosted.token_file = Some(wrong);
    let err = case.backend_with(hosted).read(OWNER).await.unwrap_err();
    shown.push(format!("{err} {err:?}"));
    for text in &shown {
        assert_hidden(kind, text, &token);
    }
    // An error body that echoes the token is scrubbed, not repeated.
    assert!(
        shown.iter().any(|t| t.contains("<redacted>")),
        "{kind}: {shown:?}"
    );
    // On the wire, only the authentication header carries it, in the provider's scheme.
    let scheme = if kind == "desec" { "Token" } else { "Bearer" };
    for request in case.fake.requests() {
        assert_hidden(
            kind,
            &format!("{} {:?}", request.path, request.query),
            &token,
        );
        if kind == "ovh" {
            ovh_headers_carry_no_secret(&case, &request);
            continue;
        }
        if kind == "route53" {
            route53_headers_carry_no_secret(&case, &request);
            continue;
        }
        if kind == "google" {
            google_headers_carry_no_secret(&case, &request);
            continue;
        }
        if kind == "azure" {
            azure_headers_carry_no_secret(&case, &request);
            continue;
        }
        if kind == "netcup" {
            // In the JSON body: the password for `login` only, the session id after it.
            let [customer, key, password] = fakes::netcup::parts(&case.fake);
            for (name, value) in &request.headers {
                assert!(
                    !value.contains(&key) && !value.contains(&password),
                    "{name}"
                );
            }
            let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
            assert_eq!(body["param"]["customernumber"], customer.as_str());
            if body["action"] != "login" {
                assert!(body["param"].get("apipassword").is_none(), "{body}");
            }
            continue;
        }
        if kind == "inwx" {
            // The password in `account.login`'s body only; the session in a cookie after it.
            let password = token.split_once(':').map(|(_, p)| p).unwrap_or_default();
            for (name, value) in &request.headers {
                assert!(!value.contains(password), "{name}");
            }
            let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
            if body["method"] != "account.login" {
                assert!(!body.to_string().contains(password), "{body}");
            }
            continue;
        }
        if kind == "cloudns" {
            // In the form body, as ClouDNS takes it; never in a header or the URL.
            let password = token.rsplit(':').next().unwrap_or_default();
            for (name, value) in &request.headers {
                assert!(!value.contains(password), "{name}");
            }
            let form = fakes::form_fields(&request.body);
            assert!(form.iter().any(|(k, _)| k == "sub-auth-id"), "{form:?}");
            continue;
        }
        if kind == "porkbun" {
            // In the JSON body, as Porkbun takes it; never in a header.
            let [key, secret] = fakes::porkbun::parts(&case.fake);
            for (name, value) in &request.headers {
                assert!(!value.contains(&key) && !value.contains(&secret), "{name}");
            }
            let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
            assert_eq!(body["apikey"], key.as_str());
            continue;
        }
        let auth = request.auth.unwrap_or_default();
        assert!(
            auth == format!("{scheme} {token}") || auth == format!("{scheme} nope"),
            "{kind}"
        );
    }
}

/// OVH: the application key and consumer key go in their headers, the application secret only
/// into the signature, never on the wire.
fn ovh_headers_carry_no_secret(case: &Case, request: &fakes::Logged) {
    let [ak, secret, ck] = fakes::ovh::parts(&case.fake);
    for (name, value) in &request.headers {
        assert!(!value.contains(&secret), "application secret in {name}");
        assert!(!value.contains(case.fake.token()), "credential in {name}");
    }
    let header = |name: &str| {
        let found = request.headers.iter().find(|(n, _)| n == name);
        found.map(|(_, v)| v.as_str())
    };
    assert_eq!(header("x-ovh-application"), Some(ak.as_str()));
    if request.path != "/auth/time" {
        assert_eq!(header("x-ovh-consumer"), Some(ck.as_str()));
        assert!(header("x-ovh-signature").is_some_and(|s| s.starts_with("$1$")));
    }
}

/// Route 53: the access key id in the SigV4 `Authorization` header, the secret key nowhere.
fn route53_headers_carry_no_secret(case: &Case, request: &fakes::Logged) {
    let [access, secret] = fakes::route53::parts(&case.fake);
    for (name, value) in &request.headers {
        assert!(!value.contains(&secret), "secret access key in {name}");
    }
    let auth = request.auth.clone().unwrap_or_default();
    assert!(
        auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={access}/")),
        "{auth}"
    );
}

/// Google: the token endpoint gets no header credential (the signed JWT is in the form), the API
/// only access tokens the endpoint issued; the private key goes nowhere.
fn google_headers_carry_no_secret(case: &Case, request: &fakes::Logged) {
    let key = fakes::google::private_key(&case.fake);
    let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    for (name, value) in &request.headers {
        assert!(!value.contains(&body[..40]), "private key in {name}");
    }
    if request.path == "/token" {
        assert_eq!(request.auth, None);
        return;
    }
    let issued = fakes::google::issued(&case.fake);
    let auth = request.auth.clone().unwrap_or_default();
    let token = auth.strip_prefix("Bearer ").unwrap_or_default();
    assert!(issued.iter().any(|t| t == token), "{auth}");
    for text in [&request.path, &format!("{:?}", request.query)] {
        assert!(!text.contains(token), "access token in {text}");
    }
}

/// Azure: the client secret only in the token request's form, the API only access tokens the
/// endpoint issued.
fn azure_headers_carry_no_secret(case: &Case, request: &fakes::Logged) {
    let secret = fakes::azure::secret(&case.fake);
    for (name, value) in &request.headers {
        assert!(!value.contains(&secret), "client secret in {name}");
    }
    if request.path.ends_with("/oauth2/v2.0/token") {
        assert_eq!(request.auth, None);
        return;
    }
    let issued = fakes::azure::issued(&case.fake);
    let auth = request.auth.clone().unwrap_or_default();
    let token = auth.strip_prefix("Bearer ").unwrap_or_default();
    assert!(issued.iter().any(|t| t == token), "{auth}");
}

macro_rules! each_provider {
    ($($kind:ident),*) => {$(
        mod $kind {
            #[tokio::test]
            async fn contract_holds() {
                super::contract_holds(stringify!($kind)).await
            }
            #[tokio::test]
            async fn rate_limits_are_waited_out() {
                super::rate_limits_are_waited_out(stringify!($kind)).await
            }
            #[tokio::test]
            async fn server_errors_are_retried_then_reported() {
                super::server_errors_are_retried_then_reported(stringify!($kind)).await
            }
            #[tokio::test]
            async fn a_change_whose_answer_was_lost_is_not_repeated() {
                super::a_change_whose_answer_was_lost_is_not_repeated(stringify!($kind)).await
            }
            #[tokio::test]
            async fn a_writer_right_after_ours_loses_nothing_of_ours() {
                super::a_writer_right_after_ours_loses_nothing_of_ours(stringify!($kind)).await
            }
            #[tokio::test]
            async fn a_bad_token_is_named_without_showing_it() {
                super::a_bad_token_is_named_without_showing_it(stringify!($kind)).await
            }
            #[tokio::test]
            async fn unknown_zones_are_named() {
                super::unknown_zones_are_named(stringify!($kind)).await
            }
            #[tokio::test]
            async fn a_configured_zone_is_used_as_is() {
                super::a_configured_zone_is_used_as_is(stringify!($kind)).await
            }
            #[tokio::test]
            async fn a_rejected_record_is_named() {
                super::a_rejected_record_is_named(stringify!($kind)).await
            }
            #[tokio::test]
            async fn the_token_appears_only_in_its_header() {
                super::the_token_appears_only_in_its_header(stringify!($kind)).await
            }
        }
    )*};
}

each_provider!(cloudflare, desec, hetzner, gandi, technitium, ovh);
// Hosts of issue #16 (European and registrar DNS).
each_provider!(dnsimple, porkbun, infomaniak, cloudns, netcup, inwx);
// Cloud providers.
each_provider!(route53, google, azure);

#[tokio::test]
async fn hetzner_waits_for_actions_and_reports_failed_ones() {
    let case = Case::start("hetzner");
    let backend = case.backend();
    assert_eq!(
        backend.add(OWNER, &ee(1), 300).await.unwrap(),
        Outcome::Changed
    );
    let polls = case
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/actions/"))
        .count();
    assert!(polls >= 1, "the running action was not awaited");

    fakes::hetzner::fail_next_action(&case.fake);
    let err = backend.add(OWNER, &ee(2), 300).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("did not take effect") && text.contains("zone is locked"),
        "{text}"
    );
    assert!(text.contains(OWNER), "{text}");
}

#[tokio::test]
async fn ovh_syncs_its_clock_refreshes_after_changes_and_takes_back_an_unpublished_add() {
    let case = Case::start("ovh");
    let backend = case.backend();
    assert_eq!(
        backend.add(OWNER, &ee(1), 300).await.unwrap(),
        Outcome::Changed
    );
    let log = case.fake.requests();
    // The fake's clock is ahead of ours: signing works only with OVH's time.
    assert_eq!(log[0].path, "/auth/time", "{log:?}");
    assert!(log.iter().all(|r| r.status < 400), "{log:?}");
    let last = log.last().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("POST", "/domain/zone/mail.example.com/refresh")
    );
    assert_eq!(
        backend.remove(OWNER, &ee(1)).await.unwrap(),
        Outcome::Changed
    );
    let last = case.fake.requests().pop().unwrap();
    assert!(last.path.ends_with("/refresh"), "{last:?}");

    // A consumer key without the right to refresh: the record would never reach the name
    // servers, so the add is taken back and the error says what is missing.
    fakes::ovh::deny_next_refresh(&case.fake);
    let err = backend.add(OWNER, &ee(2), 300).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("not allowed") && text.contains("has not been granted"),
        "{text}"
    );
    assert!(case.values().is_empty(), "{:?}", case.values());
}

#[tokio::test]
async fn ovh_credential_needs_its_three_parts() {
    let case = Case::start("ovh");
    let mut hosted = case.hosted();
    let secret = "only-one-part-9d1e";
    hosted.token_file = Some(case.dir.write("ovh.credential", secret));
    let settings = case.settings(hosted);
    let err = build_backend_with("ovh", &settings, quick_retries())
        .err()
        .unwrap();
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("ovh.credential")
            && text.contains("APPLICATION_KEY:APPLICATION_SECRET:CONSUMER_KEY"),
        "{text}"
    );
    assert_hidden("ovh", &text, secret);
    let check = settings.check("ovh").unwrap_err().to_string();
    assert!(
        check.contains("[dns.ovh]") && check.contains("CONSUMER_KEY"),
        "{check}"
    );
}

#[tokio::test]
async fn technitium_keeps_the_rrset_ttl_and_reads_errors_from_ok_answers() {
    let case = Case::start("technitium");
    let backend = case.backend();
    // Technitium rewrites the whole RRset's TTL to an added record's: the backend must pass
    // the RRset's own TTL.
    case.fake.publish_other(OWNER, &ta(1), 900);
    backend.add(OWNER, &ee(2), 300).await.unwrap();
    let rrset = backend.read(OWNER).await.unwrap();
    assert_eq!(rrset.ttl(), Some(900));
    assert_eq!(rrset.records().len(), 2);

    // Errors come as HTTP 200 with a status in the body.
    let denied = serde_json::json!({ "status": "error", "errorMessage": "Access was denied." });
    case.fake.fail_next([Response::json(200, denied)]);
    let err = backend.remove(OWNER, &ee(2)).await.unwrap_err();
    assert!(err.to_string().contains("not allowed"), "{err}");
    assert!(!err.is_transient());
    let gone = serde_json::json!({ "status": "error", "errorMessage": "No such zone was found: mail.example.com" });
    case.fake.fail_next([Response::json(200, gone)]);
    let err = backend.read(OWNER).await.unwrap_err();
    assert!(
        err.to_string().contains("No such zone was found")
            && err.to_string().contains("set `zone`"),
        "{err}"
    );
    assert_eq!(
        backend.remove(OWNER, &ee(2)).await.unwrap(),
        Outcome::Changed
    );
}

#[tokio::test]
async fn a_token_from_the_environment_works_and_a_missing_one_is_explained() {
    let case = Case::start("desec");
    // A variable name unique to this test.
    let var = "DANEROLL_TEST_DESEC_TOKEN_41C";
    let hosted = HostedSettings {
        token_file: None,
        token_env: Some(var.to_string()),
        ..case.hosted()
    };
    let settings = case.settings(hosted);
    let err = build_backend_with("hosted", &settings, quick_retries())
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        text.contains("[dns.hosted]") && text.contains(var) && text.contains("not set"),
        "{text}"
    );
    assert!(settings.check("hosted").is_err());
    // SAFETY: only this test reads or writes this variable.
    unsafe { std::env::set_var(var, case.fake.token()) };
    let backend = build_backend_with("hosted", &settings, quick_retries()).unwrap();
    assert!(backend.read(OWNER).await.unwrap().is_empty());
    assert!(settings.check("hosted").unwrap().is_empty());
    // SAFETY: as above.
    unsafe { std::env::remove_var(var) };
}

#[test]
fn backends_debug_without_the_token() {
    let case = Case::start("cloudflare");
    let config = ApiConfig {
        api_url: case.fake.url(),
        token: daneroll_providers::credential::TokenSource::File(case.fake.token_file(&case.dir)),
        zone: None,
        retry: RetryPolicy::default(),
    };
    let token = case.fake.token();
    use daneroll_providers::{cloudflare, desec, gandi, hetzner, ovh, technitium};
    let ovh_fake = fakes::ovh::start(&ZONES);
    let ovh_config = ApiConfig {
        token: daneroll_providers::credential::TokenSource::File(ovh_fake.token_file(&case.dir)),
        ..config.clone()
    };
    let [_, ovh_secret, ovh_consumer] = fakes::ovh::parts(&ovh_fake);
    let ovh_shown = format!("{:?}", ovh::Ovh::new(ovh_config).unwrap());
    assert!(
        !ovh_shown.contains(&ovh_secret) && !ovh_shown.contains(&ovh_consumer),
        "{ovh_shown}"
    );
    let shown = [
        ovh_shown.clone(),
        format!("{:?}", technitium::Technitium::new(config.clone()).unwrap()),
        format!("{:?}", cloudflare::Cloudflare::new(config.clone()).unwrap()),
        format!("{:?}", desec::Desec::new(config.clone()).unwrap()),
        format!("{:?}", hetzner::Hetzner::new(config.clone()).unwrap()),
        format!("{:?}", gandi::Gandi::new(config.clone()).unwrap()),
        format!(
            "{:?}",
            daneroll_providers::powerdns::PowerDns::new(
                daneroll_providers::powerdns::PowerDnsConfig {
                    api_url: config.api_url,
                    server_id: "localhost".into(),
                    token: config.token,
                    zone: None,
                    retry: config.retry,
                }
            )
            .unwrap()
        ),
    ];
    for text in shown {
        assert!(text.contains("redacted") && !text.contains(token), "{text}");
    }
}

#[tokio::test]
async fn porkbun_pages_and_raises_small_ttls() {
    let case = Case::start("porkbun");
    let backend = case.backend();
    // Porkbun stores at least 600 s: the read reports what it holds, not what was asked.
    assert_eq!(
        backend.add(OWNER, &ee(1), 300).await.unwrap(),
        Outcome::Changed
    );
    assert_eq!(backend.read(OWNER).await.unwrap().ttl(), Some(600));
    // The zone list pages through `start` in the body until a page comes back empty.
    let starts: Vec<String> = case
        .fake
        .requests()
        .iter()
        .filter(|r| r.path == "/domain/listAll")
        .map(|r| {
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            body["start"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(starts, ["0", "2", "4", "5"]);

    // "API ACCESS" switched off for the domain: a permission problem, named as such.
    fakes::porkbun::opt_out(&case.fake);
    let err = backend.remove(OWNER, &ee(1)).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("not allowed") && text.contains("API access"),
        "{text}"
    );
    assert!(!err.is_transient());
}

#[tokio::test]
async fn porkbun_credential_needs_its_two_parts() {
    let case = Case::start("porkbun");
    let mut hosted = case.hosted();
    let secret = "pk1_only-one-part-7b2f";
    hosted.token_file = Some(case.dir.write("porkbun.credential", secret));
    let settings = case.settings(hosted);
    let err = build_backend_with("porkbun", &settings, quick_retries())
        .err()
        .unwrap();
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("porkbun.credential") && text.contains("APIKEY:SECRETAPIKEY"),
        "{text}"
    );
    assert_hidden("porkbun", &text, secret);
    let check = settings.check("porkbun").unwrap_err().to_string();
    assert!(
        check.contains("[dns.porkbun]") && check.contains("SECRETAPIKEY"),
        "{check}"
    );
}

#[tokio::test]
async fn dnsimple_finds_the_account_of_its_token_once() {
    let case = Case::start("dnsimple");
    let backend = case.backend();
    backend.add(OWNER, &ee(1), 300).await.unwrap();
    backend.remove(OWNER, &ee(1)).await.unwrap();
    let log = case.fake.requests();
    let whoami = log.iter().filter(|r| r.path == "/whoami").count();
    assert_eq!(whoami, 1, "{log:?}");
    assert!(
        log.iter().filter(|r| r.path != "/whoami").all(|r| r
            .path
            .starts_with(&format!("/{}/", fakes::dnsimple::ACCOUNT))),
        "{log:?}"
    );
}

/// ClouDNS answers too many requests with HTTP 200 and "Request blocked" (no wait time): retried
/// after the policy's waits, then reported as a rate limit.
async fn cloudns_waits_out_blocked_requests() {
    let case = Case::start("cloudns");
    let backend = case.backend();
    case.fake.fail_next([fakes::cloudns::blocked()]);
    assert_eq!(
        backend.add(OWNER, &ee(1), 300).await.unwrap(),
        Outcome::Changed
    );
    let log = case.fake.requests();
    assert_eq!(log[0].path, log[1].path, "{log:?}");
    assert_eq!(case.values().len(), 1);
    // Blocked every time: a rate limit, transient, after the policy's retries.
    case.fake
        .fail_next((0..10).map(|_| fakes::cloudns::blocked()));
    let err = backend.read(OWNER).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("rate limited") && text.contains("4 attempt(s)"),
        "{text}"
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn cloudns_pages_through_its_zone_list_and_reads_split_tlsa_fields() {
    // 230 zones: three pages of 100, the owner's zone on the last.
    let names: Vec<String> = (0..229)
        .map(|i| format!("zone{i}.test"))
        .chain(["mail.example.com".to_string()])
        .collect();
    let zones: Vec<&str> = names.iter().map(String::as_str).collect();
    let fake = fakes::cloudns::start(&zones);
    let dir = Dir::new();
    let hosted = HostedSettings {
        api_url: Some(fake.url()),
        token_file: Some(fake.token_file(&dir)),
        token_env: None,
        zone: None,
    };
    let backend = build_backend_with(
        "cloudns",
        &ProviderSettings::Cloudns(hosted),
        quick_retries(),
    )
    .unwrap();
    assert_eq!(backend.zone_of(OWNER).await.unwrap(), ZONE);
    let pages: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/dns/list-zones.json")
        .filter_map(|r| {
            let form = fakes::form_fields(&r.body);
            form.into_iter().find(|(k, _)| k == "page").map(|(_, v)| v)
        })
        .collect();
    assert_eq!(pages, ["1", "2", "3"]);
    // The data comes back upper case in `record`, the other fields apart, a TTL of 301 s is
    // raised to 900 s (the next ClouDNS accepts): the read is what ClouDNS holds.
    backend.add(OWNER, &ee(0xab), 301).await.unwrap();
    let rrset = backend.read(OWNER).await.unwrap();
    assert_eq!(rrset.records(), [ee(0xab)]);
    assert_eq!(rrset.ttl(), Some(900));
    assert_eq!(
        backend.add(OWNER, &ee(0xab), 301).await.unwrap(),
        Outcome::Unchanged
    );
}

#[tokio::test]
async fn cloudns_credential_is_checked_for_its_form() {
    let case = Case::start("cloudns");
    let mut hosted = case.hosted();
    let secret = "only-a-password-5c1d";
    hosted.token_file = Some(case.dir.write("cloudns.credential", secret));
    let settings = case.settings(hosted);
    let err = build_backend_with("cloudns", &settings, quick_retries())
        .err()
        .unwrap();
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("cloudns.credential") && text.contains("sub:SUB_AUTH_ID:PASSWORD"),
        "{text}"
    );
    assert_hidden("cloudns", &text, secret);
    let check = settings.check("cloudns").unwrap_err().to_string();
    assert!(
        check.contains("[dns.cloudns]") && check.contains("AUTH_ID:PASSWORD"),
        "{check}"
    );
}

#[tokio::test]
async fn netcup_logs_in_once_renews_an_expired_session_and_reports_the_zone_ttl() {
    let case = Case::start("netcup");
    let backend = case.backend();
    // netcup has one TTL per zone: the one asked for is not applied, the read says so.
    assert_eq!(
        backend.add(OWNER, &ee(1), 300).await.unwrap(),
        Outcome::Changed
    );
    assert_eq!(backend.read(OWNER).await.unwrap().ttl(), Some(3600));
    let logins = |case: &Case| {
        case.fake
            .requests()
            .iter()
            .filter(|r| {
                let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
                body["action"] == "login"
            })
            .count()
    };
    assert_eq!(logins(&case), 1);
    // The session ran out (15 minutes at netcup): one new login, and the change goes through.
    fakes::netcup::expire_sessions(&case.fake);
    assert_eq!(
        backend.remove(OWNER, &ee(1)).await.unwrap(),
        Outcome::Changed
    );
    assert_eq!(logins(&case), 2);
    assert!(case.values().is_empty());
}

// Provider quirks (issue #16): what an API says back is not trusted over what it lists.

#[tokio::test]
async fn cloudflare_upper_case_data_does_not_churn() {
    let case = Case::start("cloudflare");
    let backend = case.backend();
    // Published in lower case; Cloudflare lists it in upper case, in separate fields.
    case.fake.publish_other(OWNER, &ee(0x5a), 300);
    let seen = backend.read(OWNER).await.unwrap();
    assert_eq!(seen.records(), [ee(0x5a)]);
    let posts = |case: &Case| {
        let log = case.fake.requests();
        log.iter().filter(|r| r.method == "POST").count()
    };
    // The same record is the same record: nothing is written.
    assert_eq!(
        backend.add(OWNER, &ee(0x5a), 300).await.unwrap(),
        Outcome::Unchanged
    );
    assert_eq!(posts(&case), 0);
    // A compare-and-swap against the upper-case view is not stale.
    assert_eq!(
        backend
            .remove_if_unchanged(OWNER, &ee(0x5a), &seen)
            .await
            .unwrap(),
        Outcome::Changed
    );
    assert!(case.values().is_empty());
}

#[tokio::test]
async fn an_add_answered_with_another_record_id_keeps_the_contract() {
    let case = Case::start("infomaniak");
    fakes::infomaniak::answer_wrong_ids(&case.fake);
    let backend = case.backend();
    let publish_other = |record: &Tlsa| case.fake.publish_other(OWNER, record, 300);
    let contract = Contract {
        backend: backend.as_ref(),
        owner: OWNER.to_string(),
        publish_other: &publish_other,
        ttl: 300,
    };
    contract.check().await;
    // Removal went by the ids the list gave, not the ones the creates answered.
    let deletes: Vec<String> = case
        .fake
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path.clone())
        .collect();
    assert!(
        !deletes.is_empty() && deletes.iter().all(|p| !p.ends_with("/999999")),
        "{deletes:?}"
    );
}

#[tokio::test]
async fn hetzner_zones_are_not_signed_and_the_backend_says_what_to_do() {
    let case = Case::start("hetzner");
    let backend = case.backend();
    let dnssec = backend.dnssec();
    assert!(!dnssec.signs);
    assert!(
        dnssec.how.contains("does not sign zones") && dnssec.how.contains("type = \"desec\""),
        "{}",
        dnssec.how
    );
    let warnings = case.settings(case.hosted()).check("hetzner").unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("[dns.hetzner]") && w.contains("DANE cannot work")),
        "{warnings:?}"
    );
    // Every other backend names how DNSSEC is switched on there.
    for kind in ["cloudflare", "desec", "gandi", "ovh", "technitium"] {
        let case = Case::start(kind);
        let dnssec = case.backend().dnssec();
        assert!(dnssec.signs && !dnssec.how.is_empty(), "{kind}");
    }
}

#[tokio::test]
async fn inwx_pages_renews_its_session_and_refuses_a_second_factor() {
    let case = Case::start("inwx");
    let backend = case.backend();
    assert_eq!(
        backend.add(OWNER, &ee(1), 60).await.unwrap(),
        Outcome::Changed
    );
    // INWX's smallest TTL is 300 s: a smaller one is raised, and the read says so.
    assert_eq!(backend.read(OWNER).await.unwrap().ttl(), Some(300));
    let bodies: Vec<serde_json::Value> = case
        .fake
        .requests()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap_or_default())
        .collect();
    let pages: Vec<u64> = bodies
        .iter()
        .filter(|b| b["method"] == "nameserver.list")
        .filter_map(|b| b["params"]["page"].as_u64())
        .collect();
    assert_eq!(pages, [1, 2, 3]);
    let logins = bodies
        .iter()
        .filter(|b| b["method"] == "account.login")
        .count();
    assert_eq!(logins, 1);

    // A user with a second factor cannot run unattended: refused, with what to do.
    let case = Case::start("inwx");
    fakes::inwx::two_factor(&case.fake);
    let err = case.backend().read(OWNER).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("two-factor") && text.contains("User Management"),
        "{text}"
    );
    assert!(!err.is_transient());
}
