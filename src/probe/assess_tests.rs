//! Unit tests of `check`'s verdicts, with rcgen chains and hand-made DNS answers.

use std::net::IpAddr;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PublicKeyData};
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::*;
use crate::dns::QueryError;

const MX: &str = "mx.example.com";

struct Cert {
    chain: Vec<CertificateDer<'static>>,
    record: Tlsa,
    ca_record: Tlsa,
}

fn cert_expiring_in(days: i64) -> Cert {
    cert_for(MX, days)
}

/// A leaf for `name` under a fresh CA, valid for `days` more days.
fn cert_for(name: &str, days: i64) -> Cert {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Assess CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ca_record = Tlsa::new(
        2,
        1,
        1,
        Sha256::digest(ca_key.subject_public_key_info()).to_vec(),
    );
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.not_before = OffsetDateTime::now_utc() - Duration::days(400);
    params.not_after = OffsetDateTime::now_utc() + Duration::days(days) + Duration::hours(1);
    let leaf = params.signed_by(&key, &issuer).unwrap();
    Cert {
        chain: vec![leaf.der().clone(), ca_cert.der().clone()],
        record: Tlsa::new(
            3,
            1,
            1,
            Sha256::digest(key.subject_public_key_info()).to_vec(),
        ),
        ca_record,
    }
}

fn cert() -> Cert {
    cert_expiring_in(60)
}

fn secure_zone() -> Result<ZoneFacts, LookupError> {
    Ok(ZoneFacts {
        zone: "example.com.".into(),
        security: Security::Secure,
    })
}

fn answer<T>(records: Vec<T>, authenticated: bool) -> Result<Answer<T>, LookupError> {
    Ok(Answer {
        rcode: "No Error".into(),
        authenticated,
        records,
        canonical: None,
    })
}

fn presented(cert: &Cert) -> Result<Presented, ProbeError> {
    Ok(Presented {
        chain: cert.chain.clone(),
        tls_version: "TLSv1.3".into(),
        cipher_suite: String::new(),
        banner: String::new(),
    })
}

struct Scenario {
    zone: Result<ZoneFacts, LookupError>,
    tlsa: Result<Answer<Tlsa>, LookupError>,
    addresses: Result<Answer<IpAddr>, LookupError>,
    targets: Vec<Target>,
    outcomes: Vec<Result<Presented, ProbeError>>,
    tlsa_base: Option<String>,
}

impl Scenario {
    fn new(records: Vec<Tlsa>, outcomes: Vec<Result<Presented, ProbeError>>) -> Self {
        let ips: Vec<IpAddr> = (1..=outcomes.len())
            .map(|i| format!("192.0.2.{i}").parse().unwrap())
            .collect();
        Self {
            zone: secure_zone(),
            tlsa: answer(records, true),
            targets: ips
                .iter()
                .map(|ip| Target::new(MX, SocketAddr::new(*ip, 25)))
                .collect(),
            addresses: answer(ips, true),
            tlsa_base: None,
            outcomes,
        }
    }

    fn run(&self) -> HostReport {
        assess(&HostFacts {
            host: MX,
            tlsa_base: self.tlsa_base.as_deref(),
            port: 25,
            zone: &self.zone,
            tlsa: &self.tlsa,
            addresses: &self.addresses,
            probes: self.targets.iter().zip(self.outcomes.iter()).collect(),
            now: OffsetDateTime::now_utc(),
            warn_days: 14,
        })
    }
}

fn messages(report: &HostReport) -> String {
    report
        .findings
        .iter()
        .map(|f| format!("{} {}", f.status, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn ok_with_current_and_next_key_on_every_address() {
    let current = cert();
    let next = cert();
    let report = Scenario::new(
        vec![current.record.clone(), next.record.clone()],
        vec![presented(&current), presented(&current)],
    )
    .run();
    assert_eq!(report.status, Status::Ok, "{}", messages(&report));
    assert!(report.dane);
    assert!(report.addresses.iter().all(|a| a.result == "match"));
    assert_eq!(report.addresses[0].matched.as_ref().unwrap().depth, 0);
}

#[test]
fn single_record_means_no_next_key() {
    let current = cert();
    let report = Scenario::new(vec![current.record.clone()], vec![presented(&current)]).run();
    assert_eq!(report.status, Status::Warning);
    assert!(
        messages(&report).contains("no next key is published"),
        "{}",
        messages(&report)
    );
}

#[test]
fn more_than_one_unmatched_dane_ee_record_is_stale() {
    let current = cert();
    let (next, old) = (cert(), cert());
    let records = vec![current.record.clone(), next.record, old.record];
    let report = Scenario::new(records, vec![presented(&current)]).run();
    assert_eq!(report.status, Status::Warning);
    assert!(
        messages(&report).contains("2 DANE-EE records match no address"),
        "{}",
        messages(&report)
    );
}

#[test]
fn one_address_presenting_another_key_is_critical() {
    let current = cert();
    let next = cert();
    let stranger = cert();
    let report = Scenario::new(
        vec![current.record.clone(), next.record.clone()],
        vec![presented(&current), presented(&stranger)],
    )
    .run();
    assert_eq!(report.status, Status::Critical);
    assert_eq!(report.addresses[1].result, "no-match");
    let text = messages(&report);
    assert!(
        text.starts_with("CRITICAL mx.example.com[192.0.2.2]:25: no record matches"),
        "{text}"
    );
}

#[test]
fn probe_failure_is_critical_only_under_dane() {
    let current = cert();
    let failed = || {
        Err(ProbeError::StartTlsNotOffered {
            keywords: vec!["PIPELINING".into()],
        })
    };
    let report = Scenario::new(
        vec![current.record.clone(), cert().record],
        vec![presented(&current), failed()],
    )
    .run();
    assert_eq!(report.status, Status::Critical);
    assert!(messages(&report).contains("[192.0.2.2]:25: STARTTLS not offered"));

    let report = Scenario::new(Vec::new(), vec![failed()]).run();
    assert_eq!(report.status, Status::Warning, "{}", messages(&report));
    assert!(!report.dane);
    assert!(messages(&report).contains("no TLSA records at _25._tcp.mx.example.com."));
}

#[test]
fn expiry_within_warn_days_and_expired() {
    let soon = cert_expiring_in(5);
    let report = Scenario::new(
        vec![soon.record.clone(), cert().record],
        vec![presented(&soon)],
    )
    .run();
    assert_eq!(report.status, Status::Warning);
    assert!(
        messages(&report).contains("expires in 5 day(s)"),
        "{}",
        messages(&report)
    );
    assert_eq!(report.addresses[0].leaf.as_ref().unwrap().days_left, 5);

    let expired = cert_expiring_in(-3);
    let report = Scenario::new(
        vec![expired.record.clone(), cert().record],
        vec![presented(&expired)],
    )
    .run();
    assert_eq!(report.status, Status::Warning, "{}", messages(&report));
    assert!(
        messages(&report).contains("expired 2 day(s) ago"),
        "{}",
        messages(&report)
    );
}

#[test]
fn servfail_is_critical_and_unvalidated_records_are_ignored() {
    let current = cert();
    let mut scenario = Scenario::new(vec![current.record.clone()], vec![presented(&current)]);
    scenario.tlsa = Ok(Answer {
        rcode: "Server Failure".into(),
        authenticated: false,
        records: Vec::new(),
        canonical: None,
    });
    scenario.zone = Ok(ZoneFacts {
        zone: "example.com.".into(),
        security: Security::Bogus("no DNSKEY matches the DS".into()),
    });
    let report = scenario.run();
    assert_eq!(report.status, Status::Critical);
    assert!(
        messages(&report).contains("SERVFAIL"),
        "{}",
        messages(&report)
    );
    assert!(messages(&report).contains("zone example.com. is bogus"));

    let stranger = cert();
    let mut scenario = Scenario::new(vec![current.record.clone()], vec![presented(&stranger)]);
    scenario.tlsa = answer(vec![current.record.clone()], false);
    scenario.zone = Ok(ZoneFacts {
        zone: "example.com.".into(),
        security: Security::Insecure("no DS at com.".into()),
    });
    let report = scenario.run();
    assert!(!report.dane);
    assert_eq!(report.status, Status::Warning, "{}", messages(&report));
    assert!(messages(&report).contains(
        "not validated by the resolver: senders ignore them (zone example.com.: no DS at com.)"
    ));
}

#[test]
fn insecure_address_records_disable_dane() {
    let current = cert();
    let mut scenario = Scenario::new(
        vec![current.record.clone(), cert().record],
        vec![presented(&cert())],
    );
    scenario.addresses = answer(vec!["192.0.2.1".parse().unwrap()], false);
    let report = scenario.run();
    assert!(!report.dane);
    assert_eq!(report.status, Status::Warning, "{}", messages(&report));
    assert!(messages(&report).contains("RFC 7672 §2.2.2"));
}

#[test]
fn single_dane_ta_record_warns_about_backup_intermediates() {
    let current = cert();
    let report = Scenario::new(
        vec![current.ca_record.clone(), cert().ca_record],
        vec![presented(&current)],
    )
    .run();
    assert_eq!(report.status, Status::Ok, "{}", messages(&report));
    assert_eq!(report.addresses[0].matched.as_ref().unwrap().depth, 1);

    let report = Scenario::new(vec![current.ca_record.clone()], vec![presented(&current)]).run();
    assert!(
        messages(&report).contains("backup intermediates"),
        "{}",
        messages(&report)
    );
}

#[test]
fn dane_ta_accepts_the_cname_expanded_name_only_when_its_tlsa_rrset_was_used() {
    // mx.example.com is a CNAME for mail.provider.example, whose certificate names only itself.
    let current = cert_for("mail.provider.example", 60);
    let mut scenario = Scenario::new(
        vec![current.ca_record.clone(), cert().ca_record],
        vec![presented(&current)],
    );
    let report = scenario.run();
    assert_eq!(report.status, Status::Critical, "{}", messages(&report));

    // RFC 7672 §3.2.2: with the TLSA RRset of the expanded name, that name is a reference
    // identifier too.
    scenario.tlsa_base = Some("mail.provider.example".into());
    let report = scenario.run();
    assert_eq!(report.status, Status::Ok, "{}", messages(&report));
    assert_eq!(report.addresses[0].matched.as_ref().unwrap().depth, 1);
    assert_eq!(report.tlsa_base.as_deref(), Some("mail.provider.example"));
}

#[test]
fn lookup_failure_is_unknown() {
    let current = cert();
    let mut scenario = Scenario::new(vec![current.record.clone()], vec![presented(&current)]);
    scenario.tlsa = Err(LookupError::Query(QueryError::ConnectionRefused {
        server: "127.0.0.1:53".parse().unwrap(),
        question: "_25._tcp.mx.example.com. TLSA".into(),
    }));
    let report = scenario.run();
    assert_eq!(report.status, Status::Unknown, "{}", messages(&report));
}

#[test]
fn nagios_order_and_codes() {
    assert!(Status::Ok < Status::Warning);
    assert!(Status::Warning < Status::Unknown);
    assert!(Status::Unknown < Status::Critical);
    let codes: Vec<u8> = [
        Status::Ok,
        Status::Warning,
        Status::Critical,
        Status::Unknown,
    ]
    .iter()
    .map(|s| s.exit_code())
    .collect();
    assert_eq!(codes, [0, 1, 2, 3]);
}
