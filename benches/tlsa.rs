//! Throughput of `daneroll tlsa`'s core: parse a PEM file of 10,000 certificates and compute a
//! `3 1 1` record for each (and, separately, hashing alone).
//!
//! The certificates are generated here with rcgen (one CA, a pool of P-256 and RSA-2048 leaf
//! keys, one certificate per host name), so nothing large is committed. With
//! `DANEROLL_BENCH_WRITE_CERTS=FILE` the bench only writes that PEM file and exits:
//! `scripts/bench-tlsa.sh` uses it to time the CLI against OpenSSL and danetool on the same
//! certificates.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use daneroll::pki::{Item, parse_items, tlsa_for};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PKCS_ECDSA_P256_SHA256,
    PKCS_RSA_SHA256, RsaKeySize,
};

const CERTIFICATES: usize = 10_000;

/// `count` certificates as one PEM file, signed by one CA, leaf keys taken from a small pool.
fn certificates_pem(count: usize) -> Vec<u8> {
    // invariant: no subject alternative names cannot be invalid.
    let mut ca_params = CertificateParams::new(Vec::new()).expect("no names: valid");
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "daneroll bench CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // invariant: aws-lc generates P-256 keys.
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key");
    let issuer = Issuer::new(ca_params, ca_key);

    let mut pool = Vec::new();
    for i in 0..8 {
        // invariant: aws-lc generates P-256 and RSA-2048 keys.
        pool.push(KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key"));
        if i % 2 == 0 {
            pool.push(
                // invariant: as above.
                KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).expect("RSA key"),
            );
        }
    }
    let mut pem = Vec::with_capacity(count * 1100);
    for i in 0..count {
        let name = format!("mx{i}.example.net");
        // invariant: mxN.example.net is a valid DNS name.
        let mut params = CertificateParams::new(vec![name.clone()]).expect("valid name");
        params.distinguished_name.push(DnType::CommonName, name);
        let key = &pool[i % pool.len()];
        // invariant: signing with an in-memory aws-lc key succeeds.
        let cert = params.signed_by(key, &issuer).expect("sign");
        pem.extend_from_slice(cert.pem().as_bytes());
    }
    pem
}

fn records(items: &[Item]) -> usize {
    items
        .iter()
        .map(|item| {
            // invariant: 3 1 1 is defined for every item.
            tlsa_for(item, 3, 1, 1)
                .expect("3 1 1 of a certificate")
                .data
                .len()
        })
        .sum()
}

fn bench(c: &mut Criterion) {
    let pem = certificates_pem(CERTIFICATES);
    // invariant: the PEM was generated just above.
    let items = parse_items(&pem).expect("generated PEM parses");
    assert_eq!(items.len(), CERTIFICATES);

    let mut group = c.benchmark_group("tlsa");
    group.throughput(Throughput::Elements(CERTIFICATES as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("parse_and_hash_10000_pem_certificates", |b| {
        b.iter(|| {
            // invariant: parsed once already above.
            let items = parse_items(black_box(&pem)).expect("parses");
            records(&items)
        });
    });
    group.bench_function("hash_only_10000_certificates", |b| {
        b.iter(|| records(black_box(&items)));
    });
    group.finish();
}

fn main() {
    if let Some(path) = std::env::var_os("DANEROLL_BENCH_WRITE_CERTS") {
        let count = std::env::var("DANEROLL_BENCH_CERTS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(CERTIFICATES);
        // invariant: the caller (scripts/bench-tlsa.sh) gives a writable path.
        std::fs::write(&path, certificates_pem(count)).expect("write the certificates file");
        eprintln!("wrote {count} certificates to {}", path.to_string_lossy());
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
}
