use hickory_proto::rr::RecordType::{A, DNSKEY, DS, NS, NSEC, SOA, TLSA};

use super::*;
use crate::dns::testing::{
    TestZone, expanded, in_class, name, nsec_record, nsec3_hash, nsec3_record,
};

const QNAME: &str = "_25._tcp.mail.example.test.";

fn zone() -> TestZone {
    TestZone::new("example.test.")
}

#[test]
fn nsec_proves_nxdomain_with_the_wildcard_denied() {
    let zone = zone();
    let authority = zone.signed(vec![nsec_record(
        &name("mail.example.test."),
        &name("example.test."),
        &[A],
        300,
    )]);
    let denial = verify_denial(
        &name(QNAME),
        TLSA,
        true,
        &authority,
        &zone.keys(),
        zone.now(),
    )
    .unwrap();
    assert_eq!(denial.kind, DenialKind::NxDomain);
    assert_eq!(denial.expires, zone.expiration());
}

#[test]
fn nsec_proves_nodata_only_when_the_type_is_missing() {
    let zone = zone();
    let qname = name(QNAME);
    let without = zone.signed(vec![nsec_record(
        &qname,
        &name("x.example.test."),
        &[A],
        300,
    )]);
    let denial = verify_denial(&qname, TLSA, false, &without, &zone.keys(), zone.now()).unwrap();
    assert_eq!(denial.kind, DenialKind::NoData);
    let with = zone.signed(vec![nsec_record(
        &qname,
        &name("x.example.test."),
        &[TLSA],
        300,
    )]);
    let err = verify_denial(&qname, TLSA, false, &with, &zone.keys(), zone.now()).unwrap_err();
    assert!(
        err.to_string().contains("lists the type as present"),
        "{err}"
    );
}

#[test]
fn nsec_proves_an_empty_non_terminal() {
    let zone = zone();
    let ent = name("_tcp.mail.example.test.");
    let authority = zone.signed(vec![nsec_record(
        &name("mail.example.test."),
        &name("_25._tcp.mail.example.test."),
        &[A],
        300,
    )]);
    let denial = verify_denial(&ent, TLSA, false, &authority, &zone.keys(), zone.now()).unwrap();
    assert_eq!(denial.kind, DenialKind::NoData);
}

#[test]
fn an_existing_wildcard_defeats_an_nxdomain_proof() {
    let zone = zone();
    let authority = zone.signed(vec![nsec_record(
        &name("*.mail.example.test."),
        &name("x.mail.example.test."),
        &[TLSA],
        300,
    )]);
    let err = verify_denial(
        &name(QNAME),
        TLSA,
        true,
        &authority,
        &zone.keys(),
        zone.now(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("wildcard"), "{err}");
}

#[test]
fn unsigned_or_missing_proofs_are_rejected() {
    let zone = zone();
    let unsigned = vec![nsec_record(
        &name("mail.example.test."),
        &name("example.test."),
        &[A],
        300,
    )];
    let err = verify_denial(
        &name(QNAME),
        TLSA,
        true,
        &unsigned,
        &zone.keys(),
        zone.now(),
    )
    .unwrap_err();
    assert!(matches!(err, DenialProblem::Signature(_)), "{err}");
    let err = verify_denial(&name(QNAME), TLSA, true, &[], &zone.keys(), zone.now()).unwrap_err();
    assert!(matches!(err, DenialProblem::NoProof { .. }), "{err}");
}

#[test]
fn a_forged_nsec_signed_by_another_key_is_rejected() {
    let zone = zone();
    let forger = TestZone::new("example.test.");
    let authority = forger.signed(vec![nsec_record(
        &name("mail.example.test."),
        &name("example.test."),
        &[A],
        300,
    )]);
    let err = verify_denial(
        &name(QNAME),
        TLSA,
        true,
        &authority,
        &zone.keys(),
        zone.now(),
    )
    .unwrap_err();
    assert!(matches!(err, DenialProblem::Signature(_)), "{err}");
}

/// An NSEC3 ring over `names` of `zone`, each with the given types.
fn nsec3_ring(zone: &Name, names: &[(&str, &[RecordType])], opt_out: bool) -> Vec<Record> {
    let mut hashed: Vec<(Vec<u8>, Vec<RecordType>)> = names
        .iter()
        .map(|(n, types)| (nsec3_hash(&name(n), 0), types.to_vec()))
        .collect();
    hashed.sort();
    (0..hashed.len())
        .map(|i| {
            let next = &hashed[(i + 1) % hashed.len()].0;
            nsec3_record(zone, &hashed[i].0, next, &hashed[i].1, opt_out)
        })
        .collect()
}

#[test]
fn nsec3_proves_nxdomain_through_the_closest_encloser() {
    let zone = zone();
    let ring = nsec3_ring(
        zone.apex(),
        &[
            ("example.test.", &[SOA, NS, DNSKEY]),
            ("mail.example.test.", &[A]),
        ],
        false,
    );
    let authority = zone.signed(ring);
    let denial = verify_denial(
        &name(QNAME),
        TLSA,
        true,
        &authority,
        &zone.keys(),
        zone.now(),
    )
    .unwrap();
    assert_eq!(denial.kind, DenialKind::NxDomain);
}

#[test]
fn nsec3_proves_nodata_at_a_matching_hash() {
    let zone = zone();
    let ring = nsec3_ring(
        zone.apex(),
        &[("example.test.", &[SOA, NS, DNSKEY]), (QNAME, &[A])],
        false,
    );
    let authority = zone.signed(ring);
    let denial = verify_denial(
        &name(QNAME),
        TLSA,
        false,
        &authority,
        &zone.keys(),
        zone.now(),
    )
    .unwrap();
    assert_eq!(denial.kind, DenialKind::NoData);
    let err = verify_denial(
        &name("other.example.test."),
        TLSA,
        false,
        &authority,
        &zone.keys(),
        zone.now(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("no NSEC3 matches"), "{err}");
}

#[test]
fn nsec3_opt_out_proves_an_insecure_delegation() {
    let parent = TestZone::new("test.");
    let ring = nsec3_ring(parent.apex(), &[("test.", &[SOA, NS, DNSKEY])], true);
    let authority = parent.signed(ring);
    let denial = verify_denial(
        &name("example.test."),
        DS,
        false,
        &authority,
        &parent.keys(),
        parent.now(),
    )
    .unwrap();
    assert_eq!(denial.kind, DenialKind::OptOut);
}

#[test]
fn nsec_denies_a_ds_only_from_the_parent_side() {
    let parent = TestZone::new("test.");
    let child = name("example.test.");
    let parent_side = parent.signed(vec![nsec_record(&child, &name("z.test."), &[NS], 300)]);
    let denial = verify_denial(
        &child,
        DS,
        false,
        &parent_side,
        &parent.keys(),
        parent.now(),
    )
    .unwrap();
    assert_eq!(denial.kind, DenialKind::NoData);
    let apex_side = parent.signed(vec![nsec_record(
        &child,
        &name("z.test."),
        &[NS, SOA, NSEC],
        300,
    )]);
    let err =
        verify_denial(&child, DS, false, &apex_side, &parent.keys(), parent.now()).unwrap_err();
    assert!(err.to_string().contains("child zone's apex"), "{err}");
}

/// A TLSA record at `*.example.test.`, expanded at QNAME by the server.
fn wildcard_answer(zone: &TestZone) -> Vec<Record> {
    let wildcard = name("*.example.test.");
    zone.signed(vec![crate::dns::testing::tlsa_record(&wildcard, 300, 0xAA)])
        .iter()
        .map(|r| expanded(r, &name(QNAME)))
        .collect()
}

#[test]
fn a_wildcard_answer_counts_with_an_nsec_covering_the_next_closer_name() {
    let zone = zone();
    let answers = wildcard_answer(&zone);
    // mail.example.test. is the next closer name: an NSEC from example.test. to x.example.test.
    // covers it, so nothing closer to QNAME than the apex exists.
    let proof = zone.signed(vec![nsec_record(
        &name("*.example.test."),
        &name("x.example.test."),
        &[TLSA],
        300,
    )]);
    let verified = verify_answer(
        &name(QNAME),
        TLSA,
        &answers,
        &proof,
        &zone.keys(),
        zone.now(),
    )
    .unwrap();
    assert_eq!(verified.expanded_from, Some(name("*.example.test.")));
    let err =
        verify_answer(&name(QNAME), TLSA, &answers, &[], &zone.keys(), zone.now()).unwrap_err();
    assert!(err.to_string().contains("no NSEC or NSEC3"), "{err}");
    // An NSEC that shows mail.example.test. exists proves nothing.
    let exists = zone.signed(vec![nsec_record(
        &name("mail.example.test."),
        &name("x.example.test."),
        &[A],
        300,
    )]);
    let err = verify_answer(
        &name(QNAME),
        TLSA,
        &answers,
        &exists,
        &zone.keys(),
        zone.now(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("no NSEC covers mail.example.test."),
        "{err}"
    );
    // An unsigned proof does not count either.
    let unsigned = vec![nsec_record(
        &name("*.example.test."),
        &name("x.example.test."),
        &[TLSA],
        300,
    )];
    assert!(
        verify_answer(
            &name(QNAME),
            TLSA,
            &answers,
            &unsigned,
            &zone.keys(),
            zone.now()
        )
        .is_err()
    );
}

#[test]
fn a_wildcard_answer_counts_with_an_nsec3_covering_the_next_closer_name() {
    let zone = zone();
    let answers = wildcard_answer(&zone);
    let ring = zone.signed(nsec3_ring(
        zone.apex(),
        &[
            ("example.test.", &[SOA, NS, DNSKEY]),
            ("*.example.test.", &[TLSA]),
        ],
        false,
    ));
    verify_answer(
        &name(QNAME),
        TLSA,
        &answers,
        &ring,
        &zone.keys(),
        zone.now(),
    )
    .unwrap();
    // With mail.example.test. in the chain, its hash is matched, not covered.
    let ring = zone.signed(nsec3_ring(
        zone.apex(),
        &[
            ("example.test.", &[SOA, NS, DNSKEY]),
            ("*.example.test.", &[TLSA]),
            ("mail.example.test.", &[A]),
        ],
        false,
    ));
    let err = verify_answer(
        &name(QNAME),
        TLSA,
        &answers,
        &ring,
        &zone.keys(),
        zone.now(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("next closer name"), "{err}");
}

#[test]
fn a_wildcards_nsec_replayed_at_the_name_proves_nothing() {
    // Found on the old main: the NSEC at *.example.test. (no TLSA in its bitmap), renamed to the
    // TLSA name, verified by expansion and "proved" NODATA.
    let zone = zone();
    let qname = name(QNAME);
    let replayed: Vec<Record> = zone
        .signed(vec![nsec_record(
            &name("*.example.test."),
            &name("mail.example.test."),
            &[RecordType::TXT],
            300,
        )])
        .iter()
        .map(|r| expanded(r, &qname))
        .collect();
    let err = verify_denial(&qname, TLSA, false, &replayed, &zone.keys(), zone.now()).unwrap_err();
    assert!(
        matches!(&err, DenialProblem::Signature(p) if matches!(**p, SignatureProblem::ExpandedNotAllowed { .. })),
        "{err}"
    );
}

#[test]
fn proof_records_of_another_class_are_ignored() {
    let zone = zone();
    let authority: Vec<Record> = zone
        .signed(vec![nsec_record(
            &name("mail.example.test."),
            &name("example.test."),
            &[A],
            300,
        )])
        .iter()
        .map(|r| in_class(r, DNSClass::CH))
        .collect();
    let err = verify_denial(
        &name(QNAME),
        TLSA,
        true,
        &authority,
        &zone.keys(),
        zone.now(),
    )
    .unwrap_err();
    assert!(matches!(err, DenialProblem::NoProof { .. }), "{err}");
}
