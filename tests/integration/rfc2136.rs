//! The RFC 2136 backend against real BIND and Knot servers: the backend contract, zone and
//! primary discovery, and every failure an operator can meet, each produced by a real server
//! and asserted on the words the operator will read.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use daneroll_providers::rfc2136::{Rfc2136, Rfc2136Config, Transport};
use daneroll_providers::tsig::TsigKey;
use daneroll_providers::zone::{find_zone, primary_addresses};
use daneroll_providers::{BackendError, DnsBackend, Outcome, Tlsa};

use crate::contract::{Contract, ee, ta};
use crate::lab::{Lab, LabZone, bind};

/// The key as daneroll reads it from the lab's BIND-format key file.
fn key_from_bind_file(key: &bind::TsigKey) -> TsigKey {
    TsigKey::from_file(&key.bind_file, None).unwrap()
}

fn backend(lab: &Lab, key: TsigKey) -> Rfc2136 {
    Rfc2136::new(Rfc2136Config::new(key, lab.resolver))
}

/// A backend that sends to `server` with a 1 s timeout (for failure tests).
fn backend_at(lab: &Lab, key: TsigKey, server: SocketAddr) -> Rfc2136 {
    let mut config = Rfc2136Config::new(key, lab.resolver);
    config.server = Some(server);
    config.timeout = Duration::from_secs(1);
    Rfc2136::new(config)
}

/// Publishes `record` at `owner` with nsupdate and the "other publisher" key.
fn publish_other<'a>(
    lab: &'a Lab,
    zone: &'a LabZone,
    owner: &'a str,
) -> impl Fn(&Tlsa) + Sync + 'a {
    move |record: &Tlsa| {
        let command = format!("update add {owner} 5 TLSA {record}");
        lab.nsupdate(&lab.keys.other, zone, &command)
            .unwrap_or_else(|e| panic!("nsupdate as someone else: {e}"));
    }
}

/// Asserts that neither the error's message nor its Debug form shows `secret`.
fn assert_secret_hidden(error: &BackendError, secret: &str) {
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(secret), "secret leaked: {shown}");
}

async fn failed_add(backend: &Rfc2136, owner: &str) -> BackendError {
    backend.add(owner, &ee(0x5A), 5).await.unwrap_err()
}

#[tokio::test]
async fn contract_holds_on_bind_with_discovered_primary() {
    let lab = Lab::shared();
    let owner = "_25._tcp.contract.mx.example.";
    let backend = backend(lab, key_from_bind_file(&lab.keys.mx));
    let publish = publish_other(lab, &lab.mx, owner);
    let contract = Contract {
        backend: &backend,
        owner: owner.into(),
        publish_other: &publish,
        ttl: 5,
    };
    contract.check().await;
    assert_eq!(backend.zone_of(owner).await.unwrap(), "mx.example.");
    // The primary serves what the backend reads; the secondary follows by IXFR.
    assert_eq!(lab.dig_short(lab.mx.primary(), owner, "TLSA").len(), 2);
}

#[tokio::test]
async fn contract_holds_on_knot() {
    let lab = Lab::shared();
    let owner = "_25._tcp.mail.knot.example.";
    // Knot's own key format, as `keymgr -t` writes it.
    let key = TsigKey::from_file(&lab.keys.knot.knot_file, None).unwrap();
    let backend = backend(lab, key);
    let publish = publish_other(lab, &lab.knot, owner);
    let contract = Contract {
        backend: &backend,
        owner: owner.into(),
        publish_other: &publish,
        ttl: 5,
    };
    contract.check().await;
    assert_eq!(backend.zone_of(owner).await.unwrap(), "knot.example.");
}

#[tokio::test]
async fn contract_holds_over_tcp_only() {
    let lab = Lab::shared();
    let owner = "_25._tcp.tcp.mx.example.";
    let mut config = Rfc2136Config::new(key_from_bind_file(&lab.keys.mx), lab.resolver);
    config.transport = Transport::Tcp;
    let backend = Rfc2136::new(config);
    let publish = publish_other(lab, &lab.mx, owner);
    let contract = Contract {
        backend: &backend,
        owner: owner.into(),
        publish_other: &publish,
        ttl: 5,
    };
    contract.check().await;
}

#[tokio::test]
async fn hmac_sha512_keys_work() {
    let lab = Lab::shared();
    let owner = "_465._tcp.mail.mx.example.";
    let backend = backend(lab, key_from_bind_file(&lab.keys.sha512));
    assert_eq!(
        backend.add(owner, &ee(5), 5).await.unwrap(),
        Outcome::Changed
    );
    assert_eq!(
        backend.remove(owner, &ee(5)).await.unwrap(),
        Outcome::Changed
    );
    assert!(backend.read(owner).await.unwrap().is_empty());
}

#[tokio::test]
async fn finds_zone_and_primary_from_soa() {
    let lab = Lab::shared();
    let apex = find_zone(lab.resolver, "_25._tcp.mail.mx.example")
        .await
        .unwrap();
    assert_eq!(apex.zone, "mx.example.");
    assert_eq!(apex.mname, "ns1.mx.example.");
    let mut primaries = primary_addresses(lab.resolver, &apex).await.unwrap();
    primaries.sort();
    assert_eq!(primaries, lab.mx.primary_addrs);
    // A host at its zone's apex, and a zone served by Knot.
    let apex = find_zone(lab.resolver, "_25._tcp.mx.example.")
        .await
        .unwrap();
    assert_eq!(apex.zone, "mx.example.");
    let apex = find_zone(lab.resolver, "_25._tcp.mail.knot.example.")
        .await
        .unwrap();
    assert_eq!((apex.zone.as_str(), apex.minimum), ("knot.example.", 5));
    // A bogus zone cannot be found: the validating resolver says SERVFAIL.
    let err = find_zone(lab.resolver, "_25._tcp.mail.bogus.example.")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("_25._tcp.mail.bogus.example.") && text.contains("SERVFAIL"),
        "{text}"
    );
}

#[tokio::test]
async fn truncated_answers_are_read_over_tcp() {
    let lab = Lab::shared();
    let owner = "_25._tcp.big.mx.example.";
    // Twelve full-certificate records (3 0 0): far more than fits a 1232-byte UDP answer.
    let records: Vec<Tlsa> = (0..12u8)
        .map(|i| Tlsa::new(3, 0, 0, vec![i; 200]))
        .collect();
    let script: Vec<String> = records
        .iter()
        .map(|r| format!("update add {owner} 5 TLSA {r}"))
        .collect();
    lab.nsupdate(&lab.keys.other, &lab.mx, &script.join("\n"))
        .unwrap();
    let backend = backend(lab, key_from_bind_file(&lab.keys.mx));
    let rrset = backend.read(owner).await.unwrap();
    assert_eq!(rrset.records().len(), 12);
    // Adding beside them works too (the read-back is truncated as well).
    assert_eq!(
        backend.add(owner, &ee(1), 5).await.unwrap(),
        Outcome::Changed
    );
}

#[tokio::test]
async fn wrong_secret_is_reported_as_badsig_on_bind_and_knot() {
    let lab = Lab::shared();
    let cases = [
        (&lab.keys.mx, "_25._tcp.mail.mx.example.", "mx.example."),
        (
            &lab.keys.knot,
            "_25._tcp.mail.knot.example.",
            "knot.example.",
        ),
    ];
    for (lab_key, owner, zone) in cases {
        let wrong = TsigKey::new(&lab_key.name, "hmac-sha256", &"A".repeat(44), "test").unwrap();
        let err = failed_add(&backend(lab, wrong), owner).await;
        assert!(matches!(err, BackendError::BadSignature { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("BADSIG") && text.contains("secret"), "{text}");
        assert!(text.contains(&format!("zone {zone}")), "{text}");
        assert!(text.contains(&format!("key {}", lab_key.name)), "{text}");
        assert!(text.contains(":53"), "the server is named: {text}");
        assert_secret_hidden(&err, &lab_key.secret);
    }
}

#[tokio::test]
async fn unknown_key_is_reported_as_badkey() {
    let lab = Lab::shared();
    let stranger = TsigKey::new("nobody-knows-me", "hmac-sha256", &"B".repeat(44), "t").unwrap();
    let err = failed_add(&backend(lab, stranger), "_25._tcp.mail.mx.example.").await;
    assert!(matches!(err, BackendError::UnknownKey { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("BADKEY") && text.contains("key nobody-knows-me"),
        "{text}"
    );
    assert!(text.contains("zone mx.example."), "{text}");
    assert_secret_hidden(&err, &"B".repeat(44));
}

#[tokio::test]
async fn stale_prerequisite_is_reported_as_nxrrset() {
    let lab = Lab::shared();
    let owner = "_25._tcp.stale.mx.example.";
    let backend = backend(lab, key_from_bind_file(&lab.keys.mx));
    backend.add(owner, &ee(7), 5).await.unwrap();
    let seen = backend.read(owner).await.unwrap();
    publish_other(lab, &lab.mx, owner)(&ta(7));
    let err = backend
        .remove_if_unchanged(owner, &ee(7), &seen)
        .await
        .unwrap_err();
    assert!(err.is_stale(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("prerequisite failed, NXRRSET") && text.contains(owner),
        "{text}"
    );
    assert!(
        text.contains("nothing was changed") && text.contains("key daneroll-mx"),
        "{text}"
    );
    assert_eq!(backend.read(owner).await.unwrap().records().len(), 2);
    assert_secret_hidden(&err, &lab.keys.mx.secret);
}

#[tokio::test]
async fn key_not_allowed_for_the_name_is_refused() {
    let lab = Lab::shared();
    let narrow = backend(lab, key_from_bind_file(&lab.keys.narrow));
    // The one name update-policy grants it works…
    let allowed = "_25._tcp.mail2.mx.example.";
    assert_eq!(
        narrow.add(allowed, &ee(2), 5).await.unwrap(),
        Outcome::Changed
    );
    // …any other is refused by the server, and nothing changes.
    let owner = "_25._tcp.narrow.mx.example.";
    let err = failed_add(&narrow, owner).await;
    assert!(matches!(err, BackendError::Refused { .. }), "{err}");
    let text = err.to_string();
    // The record, the server, the zone and the key are all named.
    let head = format!("adding {owner} TLSA 3 1 1 5A5A5A5A…: server ");
    assert!(text.starts_with(&head), "{text}");
    let named = |server: &SocketAddr| text.contains(&format!("server {server}, zone mx.example."));
    assert!(lab.mx.primary_addrs.iter().any(named), "{text}");
    assert!(text.contains("REFUSED") && text.contains(owner), "{text}");
    assert!(
        text.contains("key narrow-key") && text.contains("update-policy"),
        "{text}"
    );
    assert!(lab.dig_short(lab.mx.primary(), owner, "TLSA").is_empty());
    assert_secret_hidden(&err, &lab.keys.narrow.secret);
}

#[tokio::test]
async fn owner_outside_the_configured_zone_is_never_sent() {
    let lab = Lab::shared();
    let mut config = Rfc2136Config::new(key_from_bind_file(&lab.keys.mx), lab.resolver);
    config.zone = Some("corp.example".into());
    config.server = Some(lab.mx.primary());
    let err = failed_add(&Rfc2136::new(config), "_25._tcp.mail.mx.example.").await;
    assert!(matches!(err, BackendError::OutsideZone { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "_25._tcp.mail.mx.example. is not inside zone corp.example.; TLSA records for it \
         cannot be changed there"
    );
    let err = failed_add(&backend(lab, key_from_bind_file(&lab.keys.mx)), "bad..name").await;
    assert!(matches!(err, BackendError::InvalidOwner { .. }), "{err}");
}

#[tokio::test]
async fn a_server_without_the_zone_is_not_authoritative() {
    let lab = Lab::shared();
    // The misc server does not serve mx.example.
    let backend = backend_at(
        lab,
        key_from_bind_file(&lab.keys.mx),
        lab.insecure.primary(),
    );
    let err = failed_add(&backend, "_25._tcp.mail.mx.example.").await;
    assert!(
        matches!(err, BackendError::NotAuthoritative { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains(&lab.insecure.primary().to_string()), "{text}");
    assert!(
        text.contains("not authoritative") && text.contains("zone mx.example."),
        "{text}"
    );
}

#[tokio::test]
async fn server_down_is_connection_refused() {
    let lab = Lab::shared();
    // An address of the lab's block where nothing listens.
    let ip = lab.mx.primary().ip().to_string().replace(".3.1", ".9.9");
    let down: SocketAddr = format!("{ip}:53").parse().unwrap();
    let backend = backend_at(lab, key_from_bind_file(&lab.keys.mx), down);
    let err = failed_add(&backend, "_25._tcp.mail.mx.example.").await;
    assert!(
        matches!(err, BackendError::ConnectionRefused { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&down.to_string()) && text.contains("connection refused"),
        "{text}"
    );
    assert!(err.is_transient());
    assert_secret_hidden(&err, &lab.keys.mx.secret);
}

#[tokio::test]
async fn silent_server_times_out() {
    let lab = Lab::start(); // pauses its secondary: not shared
    lab.pause_secondary();
    let secondary = lab.mx.secondary_addrs[0];
    let mut config = Rfc2136Config::new(key_from_bind_file(&lab.keys.mx), lab.resolver);
    (config.server, config.zone) = (Some(secondary), Some("mx.example.".into()));
    config.timeout = Duration::from_secs(1);
    let err = failed_add(&Rfc2136::new(config), "_25._tcp.mail.mx.example.").await;
    lab.resume_secondary();
    assert!(matches!(err, BackendError::Timeout { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&secondary.to_string()) && text.contains("no answer within 1s"),
        "{text}"
    );
}

#[tokio::test]
async fn clock_skew_is_reported_with_its_size() {
    let lab = Lab::shared();
    let skewed = backend(lab, key_from_bind_file(&lab.keys.mx))
        .with_clock(Arc::new(|| SystemTime::now() + Duration::from_secs(3600)));
    let err = failed_add(&skewed, "_25._tcp.mail.mx.example.").await;
    let BackendError::ClockSkew { skew_secs, .. } = &err else {
        panic!("expected BADTIME, got: {err}");
    };
    assert!((-3602..=-3598).contains(skew_secs), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("BADTIME") && text.contains("s ahead of the server's"),
        "{text}"
    );
    assert!(text.contains("key daneroll-mx"), "{text}");
    assert_secret_hidden(&err, &lab.keys.mx.secret);
    assert_secret_hidden(&err, &lab.keys.mx.secret);
}

#[tokio::test]
async fn debug_output_never_shows_the_secret() {
    let lab = Lab::shared();
    let key = key_from_bind_file(&lab.keys.mx);
    let backend = backend(lab, key.clone());
    for shown in [
        format!("{key:?}"),
        format!("{backend:?}"),
        backend.describe(),
    ] {
        assert!(
            !shown.contains(&lab.keys.mx.secret),
            "secret leaked: {shown}"
        );
        assert!(shown.contains("daneroll-mx"), "the key is named: {shown}");
    }
    // Other records at the name are never replaced: a 2 1 1 stays through add and remove.
    let owner = "_25._tcp.debug.mx.example.";
    publish_other(lab, &lab.mx, owner)(&ta(9));
    backend.add(owner, &ee(9), 5).await.unwrap();
    backend.remove(owner, &ee(9)).await.unwrap();
    assert_eq!(backend.read(owner).await.unwrap().records(), &[ta(9)]);
}
