//! The PowerDNS backend against a real PowerDNS Authoritative Server (`lab/powerdns.rs`): the
//! backend contract, DNSSEC signatures on what it publishes, a lost-update race, and the errors
//! an operator meets (bad key, unknown zone, rejected record, server gone), none showing the key;
//! and a whole rollover through the engine with the zone delegated from the lab's signed tree,
//! the observer querying PowerDNS directly.

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hickory_proto::rr::{RData, RecordType};

use daneroll_providers::credential::TokenSource;
use daneroll_providers::http::RetryPolicy;
use daneroll_providers::powerdns::{PowerDns, PowerDnsConfig};
use daneroll_providers::settings::{Fields, ProviderSettings, build_backend_with};
use daneroll_providers::{BackendError, DnsBackend, Outcome, Tlsa, TlsaRrset};

use crate::contract::{Contract, ee, ta};
use crate::lab::Lab;
use crate::lab::powerdns::{self as lab, PowerDns as Server};
use crate::rollover::{Backend, Mta, Setup};
use crate::util::{Dir, Run};

fn config(server: &Server) -> PowerDnsConfig {
    PowerDnsConfig {
        api_url: server.api_url.clone(),
        server_id: "localhost".into(),
        token: TokenSource::File(server.key_file()),
        zone: None,
        retry: quick_retries(),
    }
}

/// The default table scaled down to tens of milliseconds: failure tests finish quickly, and a
/// 500 while `pdnsutil` in a parallel test holds the sqlite lock is waited out.
fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        delays: [10, 20, 40, 80, 160].map(Duration::from_millis).to_vec(),
        budget: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
        poll_interval: Duration::from_millis(10),
        poll_limit: Duration::from_secs(2),
    }
}

fn backend(server: &Server) -> PowerDns {
    PowerDns::new(config(server)).unwrap()
}

fn assert_hidden(error: &BackendError, secret: &str) {
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(secret), "API key leaked: {shown}");
}

#[tokio::test]
async fn contract_holds_on_powerdns() {
    let server = Server::shared();
    let backend = backend(server);
    let owner = server.tlsa_owner("contract", 25);
    let publish_other = |record: &Tlsa| server.add_record(&owner, "TLSA", 60, &record.to_string());
    let contract = Contract {
        backend: &backend,
        owner: owner.clone(),
        publish_other: &publish_other,
        ttl: 60,
    };
    contract.check().await;
    assert_eq!(backend.zone_of(&owner).await.unwrap(), lab::ZONE);
}

#[tokio::test]
async fn published_records_are_served_signed() {
    let server = Server::shared();
    // Built the way daneroll builds it from a `[dns.NAME] type = "powerdns"` section.
    let fields = Fields {
        api_url: Some(format!("http://{}:8081", server.addr.ip())),
        token_file: Some(server.key_file()),
        ..Fields::default()
    };
    let settings = ProviderSettings::from_fields("inhouse", "powerdns", fields).unwrap();
    assert!(settings.check("inhouse").unwrap().is_empty());
    let backend = build_backend_with("inhouse", &settings, quick_retries()).unwrap();
    let owner = server.tlsa_owner("signed", 25);
    let record = ee(0x5E);
    assert_eq!(
        backend.add(&owner, &record, 60).await.unwrap(),
        Outcome::Changed
    );

    let answer = server.dig(&["+dnssec", &owner, "TLSA"]);
    assert!(
        answer.contains("status: NOERROR") && answer.contains(" aa"),
        "{answer}"
    );
    // Answer lines: OWNER TTL IN TYPE RDATA… (dig splits long hex and base64 into words).
    let answer_lines: Vec<Vec<&str>> = answer
        .lines()
        .filter(|line| line.starts_with(&owner))
        .map(|line| line.split_whitespace().collect())
        .collect();
    let served = answer_lines.iter().any(|f| {
        f[3] == "TLSA" && f[4..7] == ["3", "1", "1"] && f[7..].concat() == record.data_hex()
    });
    assert!(served, "record not served: {answer}");
    // RRSIG TLSA 13 (ECDSA P-256, secure-zone's default) 5 labels, TTL 60, …, signer.
    let signed = answer_lines
        .iter()
        .any(|f| f[3] == "RRSIG" && f[4] == "TLSA" && f[7] == "60" && f[11] == lab::ZONE);
    assert!(
        signed,
        "no RRSIG by {} over the TLSA RRset: {answer}",
        lab::ZONE
    );
    // The signature verifies against the zone's key (delv validates, it does not trust).
    let mut delv = std::process::Command::new("delv");
    delv.arg(format!("@{}", server.addr.ip()))
        .arg("-a")
        .arg(server.trust_anchor_file())
        .arg(format!("+root={}", lab::ZONE))
        .args([&owner, "TLSA"]);
    let validated = crate::lab::process::run(delv).unwrap();
    assert!(validated.contains("; fully validated"), "{validated}");

    assert_eq!(
        backend.remove(&owner, &record).await.unwrap(),
        Outcome::Changed
    );
    let gone = server.dig(&["+short", &owner, "TLSA"]);
    assert!(gone.trim().is_empty(), "still served: {gone}");
}

#[tokio::test]
async fn a_concurrent_replace_of_the_rrset_is_detected_by_compare_and_swap() {
    let server = Server::shared();
    let backend = backend(server);
    let owner = server.tlsa_owner("cas", 25);
    backend.add(&owner, &ee(1), 60).await.unwrap();
    let seen = backend.read(&owner).await.unwrap();
    // Another administrator replaces the whole RRset in between.
    let relative = owner.trim_end_matches(&format!(".{}", lab::ZONE));
    let (one, two) = (ee(1).to_string(), ta(2).to_string());
    server
        .pdnsutil(&[
            "replace-rrset",
            lab::ZONE,
            relative,
            "TLSA",
            "60",
            &one,
            &two,
        ])
        .unwrap();
    let err = backend
        .remove_if_unchanged(&owner, &ee(1), &seen)
        .await
        .unwrap_err();
    assert!(err.is_stale(), "{err}");
    assert!(
        err.to_string().contains("PowerDNS") && err.to_string().contains(&owner),
        "{err}"
    );
    let now = backend.read(&owner).await.unwrap();
    assert!(
        now.same_records(&TlsaRrset::new(vec![ee(1), ta(2)], None)),
        "{now:?}"
    );
}

/// The records PowerDNS holds at `owner` (enabled or not), as the API lists them.
fn raw_records(server: &Server, owner: &str) -> Vec<(String, bool)> {
    let path = format!("/servers/localhost/zones/{}", lab::ZONE);
    let (status, body) = server.api("GET", &path, "").unwrap();
    assert_eq!(status, 200, "{body}");
    let zone: serde_json::Value = serde_json::from_str(&body).unwrap();
    let rrsets = zone["rrsets"].as_array().unwrap();
    rrsets
        .iter()
        .filter(|r| r["name"] == owner && r["type"] == "TLSA")
        .flat_map(|r| r["records"].as_array().unwrap().iter())
        .map(|r| {
            let content = r["content"].as_str().unwrap().to_uppercase();
            (content, r["disabled"].as_bool().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn disabled_records_are_not_reported_and_survive_writes() {
    let server = Server::shared();
    let backend = backend(server);
    let owner = server.tlsa_owner("disabled", 25);
    // The PowerDNS admin disables a record (only the API can).
    let patch = serde_json::json!({ "rrsets": [{
        "name": owner, "type": "TLSA", "ttl": 60, "changetype": "REPLACE",
        "records": [
            { "content": ee(1).to_string(), "disabled": false },
            { "content": ta(9).to_string(), "disabled": true },
        ],
    }]});
    let path = format!("/servers/localhost/zones/{}", lab::ZONE);
    let (status, body) = server.api("PATCH", &path, &patch.to_string()).unwrap();
    assert_eq!(status, 204, "{body}");

    let rrset = backend.read(&owner).await.unwrap();
    assert_eq!(rrset.records(), std::slice::from_ref(&ee(1)));
    backend.add(&owner, &ee(2), 60).await.unwrap();
    backend.remove(&owner, &ee(1)).await.unwrap();
    backend.remove(&owner, &ee(2)).await.unwrap();
    assert!(backend.read(&owner).await.unwrap().is_empty());
    assert_eq!(
        raw_records(server, &owner),
        [(ta(9).to_string(), true)],
        "the disabled record must survive"
    );
}

#[tokio::test]
async fn a_wrong_api_key_is_a_bad_token_error_without_the_key() {
    let server = Server::shared();
    let dir = crate::util::Dir::new();
    let wrong = "wrong-key-0a1b2c3d4e";
    let mut config = config(server);
    config.token = TokenSource::File(dir.write("key", wrong));
    let backend = PowerDns::new(config).unwrap();
    let owner = server.tlsa_owner("badkey", 25);
    let err = backend.add(&owner, &ee(1), 60).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("HTTP 401") && text.contains("token was rejected"),
        "{text}"
    );
    assert!(
        text.contains(&server.api_url) && text.contains("token file"),
        "{text}"
    );
    assert!(!err.is_transient());
    assert_hidden(&err, wrong);
    assert_hidden(&err, server.api_key());
}

#[tokio::test]
async fn names_outside_every_zone_and_unknown_zones_are_reported() {
    let server = Server::shared();
    let backend = backend(server);
    let err = backend
        .add("_25._tcp.mail.elsewhere.test.", &ee(1), 60)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("_25._tcp.mail.elsewhere.test.") && text.contains("1 zone(s)"),
        "{text}"
    );

    let mut config = config(server);
    config.zone = Some("missing.example".into());
    let backend = PowerDns::new(config).unwrap();
    let err = backend
        .read("_25._tcp.mail.missing.example.")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("missing.example. does not exist"),
        "{err}"
    );
    let err = backend.read(&server.tlsa_owner("x", 25)).await.unwrap_err();
    assert!(matches!(err, BackendError::OutsideZone { .. }), "{err}");
    assert_hidden(&err, server.api_key());
}

#[tokio::test]
async fn a_record_the_server_rejects_names_record_owner_and_reason() {
    let server = Server::shared();
    let backend = backend(server);
    let owner = server.tlsa_owner("rejected", 25);
    // No association data at all: PowerDNS cannot parse "3 1 0 " and answers 422.
    let record = Tlsa::new(3, 1, 0, vec![]);
    let err = backend.add(&owner, &record, 60).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("rejected TLSA record") && text.contains(&owner),
        "{text}"
    );
    assert!(text.contains("HTTP 422"), "{text}");
    assert_hidden(&err, server.api_key());
}

#[tokio::test]
async fn an_unreachable_api_is_transient_after_bounded_retries() {
    let server = Server::shared();
    let mut config = config(server);
    // A port on the server's address where nothing listens.
    config.api_url = format!("http://{}:1/api/v1", server.addr.ip());
    let backend = PowerDns::new(config).unwrap();
    let err = backend
        .read(&server.tlsa_owner("down", 25))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("after 6 attempt(s)") && text.contains("cannot connect"),
        "{text}"
    );
    assert!(err.is_transient());
}

/// The shared PowerDNS zone, delegated (NS, glue, DS from `pdnsutil export-zone-ds`) from the
/// shared lab's signed `example.`: a secure zone in the lab's tree, which the engine's
/// preflight and observer validate from the lab's trust anchor like any other.
fn delegated() -> (&'static Lab, &'static Server) {
    static DELEGATED: OnceLock<()> = OnceLock::new();
    let (lab, pdns) = (Lab::shared(), Server::shared());
    DELEGATED.get_or_init(|| {
        let ds = pdns.ds_records().unwrap_or_else(|e| panic!("{e}"));
        lab.delegate(lab::ZONE, pdns.ip(), &ds)
            .unwrap_or_else(|e| panic!("delegating {}: {e}\n{}", lab::ZONE, pdns.log_tail()));
    });
    (lab, pdns)
}

/// A mail host in the PowerDNS zone, managed by `daneroll` through `[dns.pdns] type =
/// "powerdns"`, deploying into files as `rollover.rs` does; its first certificate's record is
/// published by the PowerDNS admin before daneroll runs.
fn pdns_host(lab: &Lab, pdns: &Server, label: &str) -> Setup {
    let dir = Dir::new();
    let host = format!("{label}.{}", lab::ZONE.trim_end_matches('.'));
    let mta = Mta::files(&dir, &host);
    let backend = Backend {
        name: "pdns",
        table: format!(
            "type = \"powerdns\"\napi_url = \"http://{}:8081\"\ntoken_file = \"{}\"\n",
            pdns.ip(),
            pdns.key_file().display()
        ),
    };
    let setup = Setup::configure(lab, dir, &host, mta, &backend);
    let first = format!("3 1 1 {}", setup.deployed());
    pdns.add_record(&setup.owner(), "TLSA", 5, &first);
    setup
}

/// Upper-case digests of the TLSA records `pdns` serves at `owner` (asked directly).
fn served_by(pdns: &Server, owner: &str) -> BTreeSet<String> {
    pdns.dig(&["+short", owner, "TLSA"])
        .lines()
        .map(|line| {
            line.split_whitespace()
                .skip(3)
                .collect::<String>()
                .to_uppercase()
        })
        .collect()
}

/// Upper-case digests of the TLSA records the lab's validating resolver returns at `owner`;
/// panics unless the answer is validated (AD).
fn resolver_sees(lab: &Lab, owner: &str) -> BTreeSet<String> {
    let answer = lab.query(lab.resolver, owner, RecordType::TLSA);
    assert!(
        answer.metadata.authentic_data,
        "{owner}: the resolver's answer is not validated: {answer:?}"
    );
    answer
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::TLSA(tlsa) => Some(data_encoding::HEXUPPER.encode(&tlsa.cert_data)),
            _ => None,
        })
        .collect()
}

/// The promise: the key in the MTA's files has a record that PowerDNS serves and the lab's
/// validating resolver returns.
fn assert_promise(lab: &Lab, pdns: &Server, setup: &Setup, when: &str) {
    let deployed = setup.deployed();
    let owner = setup.owner();
    let served = served_by(pdns, &owner);
    assert!(
        served.contains(&deployed),
        "{when}: PowerDNS does not serve the deployed key {deployed}: {served:?}\n{}",
        setup.history()
    );
    let seen = resolver_sees(lab, &owner);
    assert!(
        seen.contains(&deployed),
        "{when}: the resolver does not return the deployed key {deployed}: {seen:?}\n{}",
        setup.history()
    );
}

#[test]
fn a_rollover_through_the_engine_publishes_and_retires_through_the_api() {
    let (lab, pdns) = delegated();
    let setup = pdns_host(lab, pdns, "roll");
    let owner = setup.owner();
    let first = setup.deployed();
    let serial = |when: &str| {
        crate::lab::net::soa_serial(pdns.addr, lab::ZONE)
            .unwrap_or_else(|e| panic!("{when}: {e}"))
            .unwrap_or_else(|| panic!("{when}: no SOA from PowerDNS"))
    };
    let serial_before = serial("before");
    assert_promise(lab, pdns, &setup, "before daneroll");

    // `tick` adopts the host and publishes the next key's record through the API; it is ready
    // once the observer saw it signed at PowerDNS and the caches had time to expire.
    let start = Instant::now();
    while setup.stage() != "ready" {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "not ready: {}\n{}",
            setup.stage(),
            setup.history()
        );
        let run = Run::from_output(setup.daneroll(&["tick", "--quiet"]).output().unwrap());
        run.expect_status(0);
        assert_promise(lab, pdns, &setup, "after a tick");
        std::thread::sleep(Duration::from_millis(500));
    }
    let next = setup.state()["rollover"]["stage"]["next"]["record"]
        .as_str()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_uppercase();
    assert_eq!(
        served_by(pdns, &owner),
        BTreeSet::from([first.clone(), next.clone()])
    );
    // Written through the API: SOA-EDIT-API moved the serial (pdnsutil does not).
    assert!(serial("ready") > serial_before, "the serial did not move");
    // Served signed: an RRSIG over the TLSA RRset, by the zone itself.
    let signed = pdns.dig(&["+dnssec", "+norec", &owner, "TLSA"]);
    assert!(
        signed.contains("RRSIG\tTLSA 13 ") && signed.contains(lab::ZONE),
        "{signed}"
    );

    // The foreground rollover, with the promise checked all along from another thread.
    let mut child = setup
        .daneroll(&["rollover", "--host", &setup.host])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
        text
    });
    let mut checks = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "the rollover does not end\n{}",
            setup.history()
        );
        assert_promise(lab, pdns, &setup, "during the rollover");
        checks += 1;
        std::thread::sleep(Duration::from_millis(300));
    };
    let output = reader.join().unwrap();
    assert!(status.success(), "rollover: {status}\n{output}");
    assert!(checks > 0);
    assert!(output.contains("retired"), "{output}");
    assert_eq!(setup.deployed(), next, "the pre-published key was deployed");
    assert_eq!(setup.stage(), "ready");
    assert_promise(lab, pdns, &setup, "after the rollover");
    let served = served_by(pdns, &owner);
    assert!(
        !served.contains(&first) && served.contains(&next) && served.len() == 2,
        "old record retired, current + new next published: {served:?}"
    );
    // The old record was retired only after the swap was deployed and confirmed.
    let history = setup.history();
    let deploy_at = history.find("\"action\":\"deploy\"").unwrap();
    let live_at = history.find("\"input\":\"live\"").unwrap();
    let retire_at = history.find("\"action\":\"retire\"").unwrap();
    assert!(deploy_at < live_at && live_at < retire_at, "{history}");
}
