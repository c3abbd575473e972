//! Test PKI made with rcgen: CAs, intermediates and MX certificates with ECDSA P-256 keys
//! (OpenSSL 3.0, and so Postfix, reads them), and TLSA records computed independently of the
//! code under test (SHA-256 of rcgen's own SPKI encoding).

#![allow(dead_code)]

use daneroll_providers::Tlsa;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PublicKeyData};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

/// A certificate authority that can issue.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// Its certificate.
    pub cert: CertificateDer<'static>,
    /// Its certificate in PEM.
    pub pem: String,
    /// Its SubjectPublicKeyInfo DER.
    pub spki: Vec<u8>,
    /// Certificates between it and the root (PEM, nearest first), for chains.
    pub parents_pem: Vec<String>,
}

/// An end-entity certificate with its key and the chain above it.
pub struct TestCert {
    /// The key (PKCS#8 PEM).
    pub key_pem: String,
    /// The key (PKCS#8 DER), for rustls servers.
    pub key_der: Vec<u8>,
    /// The leaf.
    pub cert: CertificateDer<'static>,
    /// Leaf first, then every issuer up to and including the root.
    pub chain: Vec<CertificateDer<'static>>,
    /// PEM of `chain`.
    pub chain_pem: Vec<String>,
    /// The leaf's SubjectPublicKeyInfo DER.
    pub spki: Vec<u8>,
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("empty SAN list");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
}

impl TestCa {
    /// A self-signed root.
    pub fn root(cn: &str) -> Self {
        // invariant: P-256 key generation and self-signing with rcgen do not fail.
        let key = KeyPair::generate().expect("generate key");
        let params = ca_params(cn);
        let cert = params.self_signed(&key).expect("self-sign");
        Self {
            spki: key.subject_public_key_info(),
            pem: cert.pem(),
            cert: cert.der().clone(),
            issuer: Issuer::new(params, key),
            parents_pem: Vec::new(),
        }
    }

    /// An intermediate CA issued by `self`.
    pub fn intermediate(&self, cn: &str) -> Self {
        // invariant: as in `root`.
        let key = KeyPair::generate().expect("generate key");
        let params = ca_params(cn);
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        let mut parents_pem = vec![self.pem.clone()];
        parents_pem.extend(self.parents_pem.iter().cloned());
        Self {
            spki: key.subject_public_key_info(),
            pem: cert.pem(),
            cert: cert.der().clone(),
            issuer: Issuer::new(params, key),
            parents_pem,
        }
    }

    /// A server certificate for `names`, valid from yesterday for 90 days.
    pub fn issue(&self, names: &[&str]) -> TestCert {
        self.issue_with(names, |_| {})
    }

    /// A server certificate that expired yesterday.
    pub fn issue_expired(&self, names: &[&str]) -> TestCert {
        self.issue_with(names, |params| {
            params.not_before = OffsetDateTime::now_utc() - Duration::days(60);
            params.not_after = OffsetDateTime::now_utc() - Duration::days(1);
        })
    }

    /// A server certificate with the parameters edited by `edit`.
    pub fn issue_with(
        &self,
        names: &[&str],
        edit: impl FnOnce(&mut CertificateParams),
    ) -> TestCert {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        // invariant: test names are valid DNS names; signing does not fail.
        let mut params = CertificateParams::new(names.clone()).expect("SAN list");
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        params.not_before = OffsetDateTime::now_utc() - Duration::days(1);
        params.not_after = OffsetDateTime::now_utc() + Duration::days(90);
        edit(&mut params);
        let key = KeyPair::generate().expect("generate key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        let mut chain = vec![cert.der().clone(), self.cert.clone()];
        let mut chain_pem = vec![cert.pem(), self.pem.clone()];
        for parent in &self.parents_pem {
            chain_pem.push(parent.clone());
            chain.push(pem_to_der(parent));
        }
        TestCert {
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
            cert: cert.der().clone(),
            chain,
            chain_pem,
            spki: key.subject_public_key_info(),
        }
    }
}

fn pem_to_der(pem: &str) -> CertificateDer<'static> {
    use rustls::pki_types::pem::PemObject;
    // invariant: the PEM was produced by rcgen above.
    CertificateDer::from_pem_slice(pem.as_bytes()).expect("PEM certificate")
}

impl TestCert {
    /// A self-signed server certificate (no CA), as many MX hosts use with DANE-EE.
    pub fn self_signed(names: &[&str]) -> Self {
        TestCa::root(&format!("self-signed {}", names[0])).issue(names)
    }

    /// `3 1 1` for this certificate's key.
    pub fn dane_ee(&self) -> Tlsa {
        Tlsa::new(3, 1, 1, Sha256::digest(&self.spki).to_vec())
    }

    /// The rustls private key.
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    /// Key, leaf, then every issuer (the root included: RFC 7672 §3.1.2 wants a DANE-TA anchor
    /// in the chain), the form Postfix's `smtpd_tls_chain_files` reads.
    pub fn postfix_chain_file(&self) -> String {
        let mut text = self.key_pem.clone();
        for pem in &self.chain_pem {
            text.push_str(pem);
        }
        text
    }
}

impl TestCa {
    /// `2 1 1` for this CA's key.
    pub fn dane_ta(&self) -> Tlsa {
        Tlsa::new(2, 1, 1, Sha256::digest(&self.spki).to_vec())
    }
}
