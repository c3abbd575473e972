//! The bodies of daneroll's fuzz targets, shared by the cargo-fuzz binaries in
//! `fuzz_targets/` and by the bounded run over the seed corpora in the integration tests
//! (`tests/integration/fuzz_seeds.rs`), so that `cargo test` exercises exactly what the fuzzer
//! does. Each takes arbitrary bytes and must never panic, loop or allocate without bound:
//! whatever comes in gets a value or a typed error.
//!
//! - `dns_answer`: a DNS message as an authoritative server (or an attacker) may send it,
//!   judged by the observer, the validator and the denial code against a fixed signed zone
//!   (`fuzz.test.`, one ECDSA P-256 CSK whose key is below: a test key, nothing else), so
//!   that seeds signed with it reach the signature and proof checks.
//! - `tsig_key`: TSIG key files (BIND, Knot, `alg:name:secret`).
//! - `pem_der`: certificates, keys, public keys and CSRs, PEM or DER.
//! - `config`: the TOML configuration.
//! - `trust_anchor`: trust anchor files (DS/DNSKEY in zone-file syntax).

#![allow(dead_code)]

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use daneroll::dns::chain::usable_ds;
use daneroll::dns::denial::{verify_answer, verify_denial};
use daneroll::dns::dnssec::ZoneKeys;
use daneroll::dns::observation::{Answer, judge_soa, judge_tlsa, tlsa_records};
use hickory_proto::dnssec::crypto::EcdsaSigningKey;
use hickory_proto::dnssec::rdata::sig::SigInput;
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, NSEC, RRSIG};
use hickory_proto::dnssec::{Algorithm, SigningKey, TBS};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use hickory_proto::rr::rdata::{SOA, TLSA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};
use rustls_pki_types::PrivatePkcs8KeyDer;

/// The fuzz zone's CSK, PKCS#8 (a throwaway test key: it signs only fuzz seeds).
const ZONE_KEY_PKCS8: &str = "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b020101042036ac24333b4152041597467b0adbdb10ace775dec56d880d667f91b2f60d3a36a14403420004e8fdc12c4facf9bb390faeecea623e189442001b83d578dd19db661c6a52213e633c03dab2d6cba8a1ab312e8af6ec2460404caaad44b3343c8b8ea95dbd9220";

/// Signatures of the seeds run from 2025-01-01 to 2060-01-01 (inside the 68-year window of
/// RFC 4034 §3.1.5 serial arithmetic); the targets judge them at 2026-06-01.
const INCEPTION: u32 = 1_735_689_600;
const EXPIRATION: u32 = 2_840_140_800;
const NOW: u64 = 1_780_272_000;

pub const APEX: &str = "fuzz.test.";
pub const OWNER: &str = "_25._tcp.mail.fuzz.test.";

struct Zone {
    apex: Name,
    key: EcdsaSigningKey,
    dnskey: DNSKEY,
    keys: ZoneKeys,
}

fn name(text: &str) -> Name {
    // invariant: the names above are valid.
    Name::from_ascii(text).expect("fuzz name")
}

pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn zone() -> &'static Zone {
    static ZONE: OnceLock<Zone> = OnceLock::new();
    ZONE.get_or_init(|| {
        // invariant: the constant is a valid P-256 PKCS#8 key in hex.
        let der = data_encoding::HEXLOWER
            .decode(ZONE_KEY_PKCS8.as_bytes())
            .expect("key hex");
        let key =
            EcdsaSigningKey::from_pkcs8(&PrivatePkcs8KeyDer::from(der), Algorithm::ECDSAP256SHA256)
                .expect("fuzz zone key");
        let dnskey = DNSKEY::with_flags(257, key.to_public_key().expect("public key"));
        let apex = name(APEX);
        let mut answer = vec![Record::from_rdata(
            apex.clone(),
            300,
            RData::DNSSEC(DNSSECRData::DNSKEY(dnskey.clone())),
        )];
        answer.push(sign_with(&key, &dnskey, &apex, &answer, None));
        let keys = ZoneKeys::validate(&apex, &answer, |_| true, now()).expect("fuzz key set");
        Zone {
            apex,
            key,
            dnskey,
            keys,
        }
    })
}

fn sign_with(
    key: &EcdsaSigningKey,
    dnskey: &DNSKEY,
    apex: &Name,
    rrset: &[Record],
    labels: Option<u8>,
) -> Record {
    let first = &rrset[0];
    let input = SigInput {
        type_covered: first.record_type(),
        algorithm: Algorithm::ECDSAP256SHA256,
        num_labels: labels.unwrap_or(first.name.num_labels()),
        original_ttl: first.ttl,
        sig_expiration: SerialNumber::new(EXPIRATION),
        sig_inception: SerialNumber::new(INCEPTION),
        // invariant: an ECDSA DNSKEY always has a key tag.
        key_tag: dnskey.calculate_key_tag().expect("tag"),
        signer_name: apex.clone(),
    };
    // invariant: the records were made above and encode.
    let tbs = TBS::from_input(&first.name, DNSClass::IN, &input, rrset.iter()).expect("tbs");
    let signature = key.sign(&tbs).expect("sign");
    Record::from_rdata(
        first.name.clone(),
        first.ttl,
        RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, signature))),
    )
}

/// Judges a DNS message the way daneroll judges an authoritative answer; `None` if the bytes
/// are not a DNS message at all.
pub fn judge(data: &[u8]) -> Option<Answer> {
    let message = Message::from_vec(data).ok()?;
    let zone = zone();
    let owner = message
        .queries
        .first()
        .map(|q| q.name().clone())
        .unwrap_or_else(|| name(OWNER));
    Some(judge_tlsa(&owner, &message, Some(&zone.keys), now()))
}

/// Every check daneroll makes on a DNS answer, on whatever `data` is.
pub fn dns_answer(data: &[u8]) {
    let Ok(message) = Message::from_vec(data) else {
        return;
    };
    let zone = zone();
    let at = now();
    let owner = message
        .queries
        .first()
        .map(|q| q.name().clone())
        .unwrap_or_else(|| name(OWNER));
    let nxdomain = message.metadata.response_code == ResponseCode::NXDomain;
    let answer = judge_tlsa(&owner, &message, Some(&zone.keys), at);
    let _ = format!("{answer:?}");
    let _ = judge_tlsa(&owner, &message, None, at);
    let _ = judge_soa(&zone.apex, &message);
    let _ = tlsa_records(&owner, &message.answers);
    for rtype in [RecordType::TLSA, RecordType::DS, RecordType::A] {
        if let Err(problem) = verify_denial(
            &owner,
            rtype,
            nxdomain,
            &message.authorities,
            &zone.keys,
            at,
        ) {
            let _ = problem.to_string();
        }
        if let Err(problem) = verify_answer(
            &owner,
            rtype,
            &message.answers,
            &message.authorities,
            &zone.keys,
            at,
        ) {
            let _ = problem.to_string();
        }
    }
    if let Err(problem) = ZoneKeys::validate(&owner, &message.answers, |_| true, at) {
        let _ = problem.to_string();
    }
    let ds: Vec<_> = message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DS(ds)) => Some(ds.clone()),
            _ => None,
        })
        .collect();
    let _ = usable_ds(&ds);
}

/// TSIG key files in every form daneroll reads.
pub fn tsig_key(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for name in [None, Some("daneroll-key")] {
        if let Err(error) = daneroll_providers::tsig::TsigKey::parse(text, "fuzz input", name) {
            let _ = error.to_string();
        }
    }
}

/// Certificates, keys and CSRs, PEM or DER.
pub fn pem_der(data: &[u8]) {
    match daneroll::pki::input::parse_items(data) {
        Ok(items) => {
            for item in &items {
                let _ = item.spki();
            }
        }
        Err(problem) => {
            let _ = format!("{problem:?}");
        }
    }
}

/// The configuration file.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(error) = daneroll::config::Config::parse(text, Path::new("fuzz.toml")) {
        let _ = error.to_string();
    }
}

/// Trust anchor files.
pub fn trust_anchor(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(error) = daneroll::dns::trust_anchor::TrustAnchors::parse(text, "fuzz input") {
        let _ = error.to_string();
    }
}

/// Every target by name, as the corpus directories are named.
pub const TARGETS: [(&str, fn(&[u8])); 5] = [
    ("dns_answer", dns_answer),
    ("tsig_key", tsig_key),
    ("pem_der", pem_der),
    ("config", config),
    ("trust_anchor", trust_anchor),
];

fn tlsa(owner: &Name, byte: u8) -> Record {
    Record::from_rdata(
        owner.clone(),
        300,
        RData::TLSA(TLSA::new(
            CertUsage::DaneEe,
            Selector::Spki,
            Matching::Sha256,
            vec![byte; 32],
        )),
    )
}

fn signed(records: Vec<Record>, labels: Option<u8>) -> Vec<Record> {
    let zone = zone();
    let sig = sign_with(&zone.key, &zone.dnskey, &zone.apex, &records, labels);
    let mut out = records;
    out.push(sig);
    out
}

fn message(
    qname: &Name,
    rcode: ResponseCode,
    answers: Vec<Record>,
    authorities: Vec<Record>,
) -> Vec<u8> {
    let mut message = Message::new(7, MessageType::Response, OpCode::Query);
    message.metadata.response_code = rcode;
    message.metadata.authoritative = true;
    message.add_query(Query::query(qname.clone(), RecordType::TLSA));
    message.answers = answers;
    message.authorities = authorities;
    // invariant: the seeds are well-formed messages.
    message.to_vec().expect("encode seed")
}

/// The seed messages of `dns_answer`, signed by the fuzz zone's key: a positive TLSA answer,
/// an NXDOMAIN and a NODATA with their NSEC proofs, a wildcard expansion with its proof, and
/// the DNSKEY RRset. Written to `fuzz/corpus/dns_answer/` by the ignored test
/// `fuzz_seeds::write_dns_answer_seeds`.
pub fn dns_answer_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let zone = zone();
    let apex = &zone.apex;
    let owner = name(OWNER);
    let soa = Record::from_rdata(
        apex.clone(),
        300,
        RData::SOA(SOA::new(
            name("ns1.fuzz.test."),
            name("hostmaster.fuzz.test."),
            7,
            3600,
            600,
            86400,
            60,
        )),
    );
    let nsec = |owner: &Name, next: &str, types: &[RecordType]| {
        Record::from_rdata(
            owner.clone(),
            60,
            RData::DNSSEC(DNSSECRData::NSEC(NSEC::new_cover_self(
                name(next),
                types.iter().copied(),
            ))),
        )
    };
    let positive = message(
        &owner,
        ResponseCode::NoError,
        signed(vec![tlsa(&owner, 1), tlsa(&owner, 2)], None),
        vec![],
    );
    let mut authority = signed(vec![soa.clone()], None);
    authority.extend(signed(
        vec![nsec(&name("mail.fuzz.test."), APEX, &[RecordType::A])],
        None,
    ));
    let nxdomain = message(&owner, ResponseCode::NXDomain, vec![], authority);
    let mut authority = signed(vec![soa], None);
    authority.extend(signed(
        vec![nsec(&owner, "zz.fuzz.test.", &[RecordType::TXT])],
        None,
    ));
    let nodata = message(&owner, ResponseCode::NoError, vec![], authority);
    let wildcard = name("*.fuzz.test.");
    let expanded: Vec<Record> = signed(vec![tlsa(&wildcard, 3)], Some(2))
        .into_iter()
        .map(|mut r| {
            r.name = owner.clone();
            r
        })
        .collect();
    let proof = signed(
        vec![nsec(&wildcard, "zz.fuzz.test.", &[RecordType::TLSA])],
        None,
    );
    let wildcard_answer = message(&owner, ResponseCode::NoError, expanded, proof);
    let dnskey = message(
        apex,
        ResponseCode::NoError,
        signed(
            vec![Record::from_rdata(
                apex.clone(),
                300,
                RData::DNSSEC(DNSSECRData::DNSKEY(zone.dnskey.clone())),
            )],
            None,
        ),
        vec![],
    );
    vec![
        ("positive", positive),
        ("nxdomain", nxdomain),
        ("nodata", nodata),
        ("wildcard", wildcard_answer),
        ("dnskey", dnskey),
    ]
}
