//! Unit tests of RFC 7672 matching, with chains made by rcgen. Expected digests come from
//! rcgen's own SPKI encoding of the key, not from the code under test.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PublicKeyData};
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256, Sha512};
use time::{Duration, OffsetDateTime};

use super::*;

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
    spki: Vec<u8>,
}

fn params(cn: &str, sans: &[&str], ca: bool) -> CertificateParams {
    let mut params =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    if ca {
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    params
}

fn root(cn: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let params = params(cn, &[], true);
    let der = params.self_signed(&key).unwrap().der().clone();
    let spki = key.subject_public_key_info();
    Ca {
        issuer: Issuer::new(params, key),
        der,
        spki,
    }
}

fn intermediate(cn: &str, parent: &Ca) -> Ca {
    let key = KeyPair::generate().unwrap();
    let params = params(cn, &[], true);
    let der = params
        .signed_by(&key, &parent.issuer)
        .unwrap()
        .der()
        .clone();
    let spki = key.subject_public_key_info();
    Ca {
        issuer: Issuer::new(params, key),
        der,
        spki,
    }
}

struct Leaf {
    der: CertificateDer<'static>,
    spki: Vec<u8>,
}

fn leaf_with(sans: &[&str], parent: &Ca, edit: impl FnOnce(&mut CertificateParams)) -> Leaf {
    let key = KeyPair::generate().unwrap();
    let mut params = params("leaf", sans, false);
    edit(&mut params);
    let der = params
        .signed_by(&key, &parent.issuer)
        .unwrap()
        .der()
        .clone();
    Leaf {
        der,
        spki: key.subject_public_key_info(),
    }
}

fn leaf(sans: &[&str], parent: &Ca) -> Leaf {
    leaf_with(sans, parent, |_| {})
}

fn record(usage: u8, selector: u8, mtype: u8, selected: &[u8]) -> Tlsa {
    let data = match mtype {
        0 => selected.to_vec(),
        1 => Sha256::digest(selected).to_vec(),
        _ => Sha512::digest(selected).to_vec(),
    };
    Tlsa::new(usage, selector, mtype, data)
}

fn check(chain: &[CertificateDer<'static>], records: &[Tlsa], host: &str) -> DaneReport {
    authenticate(chain, records, &[host], OffsetDateTime::now_utc())
}

const MX: &str = "mx.example.com";

#[test]
fn dane_ee_spki_matches_leaf_in_every_matching_type() {
    let ca = root("Test Root");
    let leaf = leaf(&[MX], &ca);
    for mtype in 0..=2 {
        let r = record(3, 1, mtype, &leaf.spki);
        let report = check(
            std::slice::from_ref(&leaf.der),
            std::slice::from_ref(&r),
            MX,
        );
        assert_eq!(
            report.matched(),
            Some(Match {
                record: r,
                usage: DaneUsage::DaneEe,
                depth: 0
            })
        );
    }
    let full_cert = record(3, 0, 1, &leaf.der);
    assert!(
        check(std::slice::from_ref(&leaf.der), &[full_cert], MX)
            .matched()
            .is_some()
    );
}

#[test]
fn dane_ee_ignores_names_dates_and_chain() {
    let ca = root("Test Root");
    let expired = leaf_with(&["other.example.net"], &ca, |p| {
        p.not_before = OffsetDateTime::now_utc() - Duration::days(30);
        p.not_after = OffsetDateTime::now_utc() - Duration::days(1);
    });
    let r = record(3, 1, 1, &expired.spki);
    let report = check(std::slice::from_ref(&expired.der), &[r], MX);
    assert!(report.matched().is_some(), "{}", report.summary());
}

#[test]
fn dane_ee_never_matches_below_the_leaf() {
    let ca = root("Test Root");
    let leaf = leaf(&[MX], &ca);
    let r = record(3, 1, 1, &ca.spki);
    let report = check(&[leaf.der.clone(), ca.der.clone()], &[r], MX);
    assert_eq!(report.outcomes[0].verdict, RecordVerdict::NoMatch);
    assert!(
        report
            .summary()
            .contains("matches no presented certificate")
    );
}

#[test]
fn dane_ta_matches_anchor_in_chain_with_name() {
    let root = root("Test Root");
    let inter = intermediate("Test Intermediate", &root);
    let leaf = leaf(&[MX], &inter);
    let chain = [leaf.der.clone(), inter.der.clone(), root.der.clone()];
    let on_inter = record(2, 1, 1, &inter.spki);
    let report = check(&chain, std::slice::from_ref(&on_inter), MX);
    assert_eq!(report.matched().unwrap().depth, 1);
    let on_root = record(2, 0, 1, &root.der);
    let report = check(&chain, &[on_root], "MX.Example.com.");
    assert_eq!(report.matched().unwrap().depth, 2);
    assert_eq!(report.matched().unwrap().usage, DaneUsage::DaneTa);
}

#[test]
fn dane_ta_requires_the_anchor_to_be_presented() {
    let root = root("Test Root");
    let inter = intermediate("Test Intermediate", &root);
    let leaf = leaf(&[MX], &inter);
    let report = check(
        &[leaf.der.clone(), inter.der.clone()],
        &[record(2, 1, 1, &root.spki)],
        MX,
    );
    assert_eq!(report.outcomes[0].verdict, RecordVerdict::NoMatch);
}

#[test]
fn dane_ta_name_mismatch_fails_and_wildcard_matches_one_label() {
    let ca = root("Test Root");
    let wrong = leaf(&["mail.example.org"], &ca);
    let r = record(2, 1, 1, &ca.spki);
    let report = check(
        &[wrong.der.clone(), ca.der.clone()],
        std::slice::from_ref(&r),
        MX,
    );
    assert_eq!(
        report.outcomes[0].verdict,
        RecordVerdict::NameMismatch {
            depth: 1,
            presented: vec!["mail.example.org".into()]
        }
    );
    assert!(report.matched().is_none());

    let wildcard = leaf(&["*.example.com"], &ca);
    let chain = [wildcard.der.clone(), ca.der.clone()];
    assert!(
        check(&chain, std::slice::from_ref(&r), MX)
            .matched()
            .is_some()
    );
    assert!(
        check(&chain, std::slice::from_ref(&r), "a.mx.example.com")
            .matched()
            .is_none()
    );
    assert!(check(&chain, &[r], "example.com").matched().is_none());
}

#[test]
fn dane_ta_falls_back_to_cn_only_without_dns_sans() {
    let ca = root("Test Root");
    let key = KeyPair::generate().unwrap();
    let cn_only = params(MX, &[], false);
    let der = cn_only.signed_by(&key, &ca.issuer).unwrap().der().clone();
    let r = record(2, 1, 1, &ca.spki);
    let report = check(&[der, ca.der.clone()], std::slice::from_ref(&r), MX);
    assert!(report.matched().is_some(), "{}", report.summary());

    let key = KeyPair::generate().unwrap();
    let with_san = params(MX, &["other.example.com"], false);
    let der = with_san.signed_by(&key, &ca.issuer).unwrap().der().clone();
    let report = check(&[der, ca.der.clone()], &[r], MX);
    assert!(
        report.matched().is_none(),
        "CN is ignored when a dNSName exists"
    );
}

#[test]
fn dane_ta_checks_signatures() {
    let real = root("Test Root");
    let impostor = root("Test Root");
    let leaf = leaf(&[MX], &impostor);
    let report = check(
        &[leaf.der.clone(), real.der.clone()],
        &[record(2, 1, 1, &real.spki)],
        MX,
    );
    assert!(matches!(
        report.outcomes[0].verdict,
        RecordVerdict::BrokenChain {
            depth: 1,
            problem: ChainProblem::NoIssuer { depth: 0, .. }
        }
    ));
}

#[test]
fn dane_ta_checks_dates_and_ca_flag() {
    let ca = root("Test Root");
    let expired = leaf_with(&[MX], &ca, |p| {
        p.not_before = OffsetDateTime::now_utc() - Duration::days(30);
        p.not_after = OffsetDateTime::now_utc() - Duration::days(1);
    });
    let r = record(2, 1, 1, &ca.spki);
    let report = check(&[expired.der.clone(), ca.der.clone()], &[r], MX);
    assert!(matches!(
        report.outcomes[0].verdict,
        RecordVerdict::BrokenChain {
            problem: ChainProblem::OutsideValidity { depth: 0, .. },
            ..
        }
    ));

    // A leaf used as an "intermediate" is not a CA.
    let key = KeyPair::generate().unwrap();
    let not_ca_params = params("Not A CA", &[], false);
    let not_ca_der = not_ca_params
        .signed_by(&key, &ca.issuer)
        .unwrap()
        .der()
        .clone();
    let not_ca = Issuer::new(not_ca_params, key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_der = params("leaf", &[MX], false)
        .signed_by(&leaf_key, &not_ca)
        .unwrap()
        .der()
        .clone();
    let report = check(
        &[leaf_der, not_ca_der, ca.der.clone()],
        &[record(2, 1, 1, &ca.spki)],
        MX,
    );
    assert!(matches!(
        report.outcomes[0].verdict,
        RecordVerdict::BrokenChain {
            problem: ChainProblem::NotCa { depth: 1 },
            ..
        }
    ));
}

#[test]
fn pkix_usages_and_unknown_parameters_are_unusable() {
    let ca = root("Test Root");
    let leaf = leaf(&[MX], &ca);
    let records = [
        record(1, 1, 1, &leaf.spki),
        record(0, 1, 1, &ca.spki),
        Tlsa::new(3, 1, 9, vec![1, 2, 3]),
        Tlsa::new(3, 7, 1, vec![0; 32]),
        Tlsa::new(4, 1, 1, vec![0; 32]),
    ];
    let report = check(&[leaf.der.clone(), ca.der.clone()], &records, MX);
    let verdicts: Vec<_> = report.outcomes.iter().map(|o| o.verdict.clone()).collect();
    assert_eq!(
        verdicts,
        [
            RecordVerdict::PkixUsage,
            RecordVerdict::PkixUsage,
            RecordVerdict::UnknownParameters,
            RecordVerdict::UnknownParameters,
            RecordVerdict::UnknownParameters,
        ]
    );
    assert!(!report.has_usable_records());
    assert_eq!(report.summary(), "no usable TLSA records (usage 2 or 3)");
}

#[test]
fn digest_agility_ignores_weaker_digests() {
    let ca = root("Test Root");
    let leaf = leaf(&[MX], &ca);
    let good_256 = record(3, 1, 1, &leaf.spki);
    let bad_512 = Tlsa::new(3, 1, 2, vec![0xAB; 64]);
    let report = check(
        std::slice::from_ref(&leaf.der),
        &[good_256, bad_512.clone()],
        MX,
    );
    assert_eq!(
        report.outcomes[0].verdict,
        RecordVerdict::Superseded {
            by_mtype: 2,
            would_match: true
        }
    );
    assert!(
        report.matched().is_none(),
        "SHA-256 must not count beside SHA-512"
    );

    // Another usage/selector pair is unaffected; Full(0) always counts.
    let full = record(3, 1, 0, &leaf.spki);
    let cert_256 = record(3, 0, 1, &leaf.der);
    let report = check(
        std::slice::from_ref(&leaf.der),
        &[bad_512.clone(), full.clone()],
        MX,
    );
    assert_eq!(report.matched().unwrap().record, full);
    let report = check(
        std::slice::from_ref(&leaf.der),
        &[bad_512, cert_256.clone()],
        MX,
    );
    assert_eq!(report.matched().unwrap().record, cert_256);
}

#[test]
fn unparseable_leaf_still_matches_full_certificate_records() {
    let garbage = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
    let report = check(
        std::slice::from_ref(&garbage),
        &[record(3, 0, 1, &garbage), Tlsa::new(3, 1, 1, vec![0; 32])],
        MX,
    );
    assert_eq!(
        report.outcomes[0].verdict,
        RecordVerdict::Matched { depth: 0 }
    );
    assert_eq!(report.outcomes[1].verdict, RecordVerdict::NoMatch);
}

#[test]
fn summary_explains_each_failure() {
    let ca = root("Test Root");
    let leaf = leaf(&["mail.example.org"], &ca);
    let report = check(
        &[leaf.der.clone(), ca.der.clone()],
        &[
            Tlsa::new(3, 1, 1, vec![0; 32]),
            record(2, 1, 1, &ca.spki),
            record(1, 1, 1, &leaf.spki),
        ],
        MX,
    );
    let summary = report.summary();
    assert!(summary.starts_with("no record matches: "), "{summary}");
    assert!(
        summary.contains("matches no presented certificate"),
        "{summary}"
    );
    assert!(
        summary.contains("leaf names (mail.example.org) do not match"),
        "{summary}"
    );
    assert!(summary.contains("unusable for SMTP"), "{summary}");
}

#[test]
fn host_name_matching_rules() {
    assert!(host_matches("MX.example.COM.", "mx.example.com"));
    assert!(host_matches("*.example.com", "mx.example.com"));
    assert!(!host_matches("*.example.com", "example.com"));
    assert!(!host_matches("*.example.com", "a.b.example.com"));
    assert!(!host_matches("m*.example.com", "mx.example.com"));
    assert!(!host_matches("*.com", "example.com"));
    assert!(!host_matches("*.*.example.com", "a.b.example.com"));
    assert!(!host_matches("mx.example.com", "mx2.example.com"));
}
