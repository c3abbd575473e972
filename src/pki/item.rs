//! The things a TLSA record can be computed from, each holding only what is public: a certificate's
//! DER and its SPKI, a key's SPKI, a CSR's SPKI. A private key is reduced to its public half as
//! soon as it is read.

use std::fmt;

use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate, X509CertificationRequest};
use x509_parser::x509::SubjectPublicKeyInfo;

use super::der::{self, DerError};
use super::key::{self, KeyError, KeyFormat};

/// One certificate, key or CSR found in an input, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An X.509 certificate (RFC 5280).
    Certificate(Certificate),
    /// A private key, kept only as the SPKI derived from it.
    PrivateKey(PrivateKey),
    /// A SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`).
    PublicKey(PublicKey),
    /// A PKCS#10 certificate signing request (RFC 2986).
    Csr(Csr),
}

impl Item {
    /// The SubjectPublicKeyInfo as encoded in the input (derived for a private key).
    pub fn spki(&self) -> &[u8] {
        match self {
            Self::Certificate(c) => &c.spki,
            Self::PrivateKey(k) => &k.spki,
            Self::PublicKey(k) => &k.spki,
            Self::Csr(c) => &c.spki,
        }
    }

    /// What kind of item this is, for messages and `--json`.
    pub fn kind(&self) -> ItemKind {
        match self {
            Self::Certificate(_) => ItemKind::Certificate,
            Self::PrivateKey(k) => ItemKind::PrivateKey(k.format),
            Self::PublicKey(_) => ItemKind::PublicKey,
            Self::Csr(_) => ItemKind::Csr,
        }
    }

    /// The certificate, if this is one.
    pub fn certificate(&self) -> Option<&Certificate> {
        match self {
            Self::Certificate(c) => Some(c),
            _ => None,
        }
    }

    /// The subject distinguished name of a certificate or CSR.
    pub fn subject(&self) -> Option<&str> {
        match self {
            Self::Certificate(c) => Some(&c.subject),
            Self::Csr(c) => Some(&c.subject),
            _ => None,
        }
    }
}

/// What an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// A certificate.
    Certificate,
    /// A private key in the given format.
    PrivateKey(KeyFormat),
    /// A public key (SPKI).
    PublicKey,
    /// A CSR.
    Csr,
}

impl ItemKind {
    /// A short machine-readable name: `certificate`, `private-key`, `public-key`, `csr`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Certificate => "certificate",
            Self::PrivateKey(_) => "private-key",
            Self::PublicKey => "public-key",
            Self::Csr => "csr",
        }
    }
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Certificate => f.write_str("a certificate"),
            Self::PrivateKey(format) => write!(f, "a {format} private key"),
            Self::PublicKey => f.write_str("a public key"),
            Self::Csr => f.write_str("a certificate signing request"),
        }
    }
}

/// A certificate: its DER and the parts daneroll shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    spki: Vec<u8>,
    subject: String,
    not_after: OffsetDateTime,
}

impl Certificate {
    /// Parses a DER certificate that fills `der` exactly.
    pub fn from_der(der: Vec<u8>) -> Result<Self, ContentError> {
        whole_element(&der)?;
        let (rest, cert) =
            X509Certificate::from_der(&der).map_err(|e| ContentError::Invalid(x509_reason(&e)))?;
        if !rest.is_empty() {
            return Err(ContentError::Invalid("unexpected data inside it".into()));
        }
        let spki = cert.public_key().raw.to_vec();
        let subject = cert.subject().to_string();
        let not_after = cert.validity().not_after.to_datetime();
        Ok(Self {
            der,
            spki,
            subject,
            not_after,
        })
    }

    /// The certificate exactly as encoded (selector 0).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The SubjectPublicKeyInfo exactly as encoded in the certificate (selector 1).
    pub fn spki(&self) -> &[u8] {
        &self.spki
    }

    /// The subject distinguished name, e.g. `CN=mail.example.com`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The end of the validity period.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }
}

/// A private key, reduced to the SPKI a certificate made from it would carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateKey {
    format: KeyFormat,
    spki: Vec<u8>,
}

impl PrivateKey {
    /// Derives the SPKI of a private key in `format`; the key bytes are not kept.
    pub fn from_der(format: KeyFormat, der: &[u8]) -> Result<Self, ContentError> {
        whole_element(der)?;
        let spki = match format {
            KeyFormat::Pkcs8 => key::spki_from_pkcs8(der),
            KeyFormat::Pkcs1 => key::spki_from_pkcs1(der),
            KeyFormat::Sec1 => key::spki_from_sec1(der),
        }
        .map_err(ContentError::Key)?;
        Ok(Self { format, spki })
    }

    /// A key whose SPKI is already known (a key daneroll generated itself).
    pub(crate) fn from_spki(format: KeyFormat, spki: Vec<u8>) -> Self {
        Self { format, spki }
    }

    /// How the key file encoded the key.
    pub fn format(&self) -> KeyFormat {
        self.format
    }
}

/// A SubjectPublicKeyInfo as encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    spki: Vec<u8>,
}

impl PublicKey {
    /// Parses an SPKI that fills `der` exactly. Unknown algorithms are fine: only the outer
    /// structure (AlgorithmIdentifier, BIT STRING) is checked.
    pub fn from_der(der: Vec<u8>) -> Result<Self, ContentError> {
        whole_element(&der)?;
        let (rest, _) = SubjectPublicKeyInfo::from_der(&der)
            .map_err(|e| ContentError::Invalid(x509_reason(&e)))?;
        if !rest.is_empty() {
            return Err(ContentError::Invalid("unexpected data inside it".into()));
        }
        Ok(Self { spki: der })
    }

    /// A PKCS#1 RSAPublicKey (`BEGIN RSA PUBLIC KEY`) wrapped as the SPKI a certificate would
    /// carry for it (rsaEncryption, NULL parameters; RFC 8017 A.1).
    pub fn from_rsa_public_key(der: &[u8]) -> Result<Self, ContentError> {
        whole_element(der)?;
        let outer = der::read_whole(der, der::SEQUENCE, "a SEQUENCE")
            .map_err(|e| ContentError::Invalid(e.to_string()))?;
        let mut fields = der::Fields::new(outer.contents);
        fields
            .required(der::INTEGER, "the modulus")
            .and_then(|_| fields.required(der::INTEGER, "the public exponent"))
            .and_then(|_| fields.finish())
            .map_err(|e| ContentError::Invalid(e.to_string()))?;
        let mut alg = Vec::new();
        der::write_tlv(&mut alg, der::OID, der::oid::RSA_ENCRYPTION);
        der::write_tlv(&mut alg, der::NULL, &[]);
        let mut algorithm = Vec::new();
        der::write_tlv(&mut algorithm, der::SEQUENCE, &alg);
        Ok(Self {
            spki: der::spki(&algorithm, der),
        })
    }
}

/// A CSR: its SPKI as encoded and its subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Csr {
    spki: Vec<u8>,
    subject: String,
}

impl Csr {
    /// Parses a DER CSR that fills `der` exactly.
    pub fn from_der(der: &[u8]) -> Result<Self, ContentError> {
        whole_element(der)?;
        let (rest, csr) = X509CertificationRequest::from_der(der)
            .map_err(|e| ContentError::Invalid(x509_reason(&e)))?;
        if !rest.is_empty() {
            return Err(ContentError::Invalid("unexpected data inside it".into()));
        }
        let info = &csr.certification_request_info;
        Ok(Self {
            spki: info.subject_pki.raw.to_vec(),
            subject: info.subject.to_string(),
        })
    }
}

/// Why DER is not the item it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentError {
    /// The outer element is cut short.
    Truncated,
    /// Bytes follow the outer element.
    TrailingData {
        /// How many.
        bytes: usize,
    },
    /// The element is complete but not a valid item of this kind.
    Invalid(String),
    /// A private key problem.
    Key(KeyError),
}

impl fmt::Display for ContentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("the DER data ends early (truncated)"),
            Self::TrailingData { bytes } => write!(f, "{bytes} bytes of trailing data after it"),
            Self::Invalid(reason) => f.write_str(reason),
            Self::Key(e) => e.fmt(f),
        }
    }
}

/// Checks that `der` is exactly one complete element.
fn whole_element(der: &[u8]) -> Result<(), ContentError> {
    match der::read_tlv(der) {
        Ok((_, [])) => Ok(()),
        Ok((_, rest)) => Err(ContentError::TrailingData { bytes: rest.len() }),
        Err(DerError::Truncated) => Err(ContentError::Truncated),
        Err(e) => Err(ContentError::Invalid(e.to_string())),
    }
}

fn x509_reason<E: fmt::Display>(e: &x509_parser::nom::Err<E>) -> String {
    match e {
        x509_parser::nom::Err::Incomplete(_) => "the DER data ends early (truncated)".into(),
        x509_parser::nom::Err::Error(e) | x509_parser::nom::Err::Failure(e) => {
            format!("malformed: {e}")
        }
    }
}

/// What DER bytes (one complete element) hold, trying each form a file may contain: certificate,
/// CSR, SPKI, PKCS#8, encrypted PKCS#8, PKCS#1, SEC1. `None` when it is none of them.
pub fn classify(der: &[u8]) -> Option<Result<Item, KeyError>> {
    if let Ok(cert) = Certificate::from_der(der.to_vec()) {
        return Some(Ok(Item::Certificate(cert)));
    }
    if let Ok(csr) = Csr::from_der(der) {
        return Some(Ok(Item::Csr(csr)));
    }
    if let Ok(public) = PublicKey::from_der(der.to_vec()) {
        return Some(Ok(Item::PublicKey(public)));
    }
    if key::is_encrypted_pkcs8(der) {
        return Some(Err(KeyError::Encrypted));
    }
    for format in [KeyFormat::Pkcs8, KeyFormat::Pkcs1, KeyFormat::Sec1] {
        match PrivateKey::from_der(format, der) {
            Ok(key) => return Some(Ok(Item::PrivateKey(key))),
            // The structure is this format but the key cannot be used: say why.
            Err(ContentError::Key(e)) if !matches!(e, KeyError::Malformed { .. }) => {
                return Some(Err(e));
            }
            Err(_) => {}
        }
    }
    None
}
