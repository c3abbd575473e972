//! The PowerDNS backend against a real PowerDNS Authoritative Server (`lab/powerdns.rs`): the
//! backend contract, DNSSEC signatures on what it publishes, a lost-update race, and the errors
//! an operator meets (bad key, unknown zone, rejected record, server gone), none showing the key.

use std::time::Duration;

use daneroll_providers::credential::TokenSource;
use daneroll_providers::http::RetryPolicy;
use daneroll_providers::powerdns::{PowerDns, PowerDnsConfig};
use daneroll_providers::settings::{Fields, ProviderSettings, build_backend_with};
use daneroll_providers::{BackendError, DnsBackend, Outcome, Tlsa, TlsaRrset};

use crate::contract::{Contract, ee, ta};
use crate::lab::powerdns::{self as lab, PowerDns as Server};

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
