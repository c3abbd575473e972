//! The SubjectPublicKeyInfo of a private key: what a certificate made from that key will carry,
//! and so what a `3 1 x` record (RFC 6698 §2.1.2, selector 1) must hash.
//!
//! A private key has no SPKI of its own, so one is built from it, the way OpenSSL puts it into a
//! CSR or certificate:
//! - the AlgorithmIdentifier is copied as encoded in a PKCS#8 key (RSA-PSS parameters survive);
//!   PKCS#1 keys get rsaEncryption/NULL and SEC1 keys id-ecPublicKey with their own curve
//!   parameters (RFC 5480 §2.1.1);
//! - the public key is the one the key file embeds when it has one (SEC1 `publicKey`, PKCS#8 v2
//!   `publicKey`, RFC 5958 §2), so a compressed EC point stays compressed; aws-lc computes the
//!   public key from the private one and checks the embedded one against it;
//! - RSA keys carry n and e: RSAPublicKey (RFC 8017 A.1.1) is made of those INTEGERs as encoded,
//!   and aws-lc checks the key is consistent when it can load its size (2048–8192 bits).
//!
//! Nothing from the private key ever reaches an error message.

use std::fmt;

use aws_lc_rs::{agreement, signature};

use super::der::{self, DerError, Fields, oid};

/// How a private key file encodes its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// `PRIVATE KEY`: PKCS#8 PrivateKeyInfo / OneAsymmetricKey (RFC 5958).
    Pkcs8,
    /// `RSA PRIVATE KEY`: PKCS#1 RSAPrivateKey (RFC 8017 A.1.2).
    Pkcs1,
    /// `EC PRIVATE KEY`: SEC1 ECPrivateKey (RFC 5915).
    Sec1,
}

impl fmt::Display for KeyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pkcs8 => "PKCS#8",
            Self::Pkcs1 => "PKCS#1 RSA",
            Self::Sec1 => "SEC1 EC",
        })
    }
}

/// Why no public key could be had from a private key. Never holds key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The bytes are not this key format.
    #[error("not a valid {format} private key ({reason})")]
    Malformed {
        /// The format that was expected.
        format: KeyFormat,
        /// What is wrong, in DER terms.
        reason: String,
    },
    /// An EncryptedPrivateKeyInfo (RFC 5958 §3) or a PEM block with `Proc-Type: 4,ENCRYPTED`.
    #[error("it is an encrypted private key")]
    Encrypted,
    /// A key type whose public key daneroll cannot compute and the file does not embed.
    #[error(
        "cannot compute the public key of {algorithm} private key (aws-lc does not support it); \
         give its certificate or public key instead (`openssl pkey -in KEY -pubout` makes one)"
    )]
    Unsupported {
        /// What kind of key it is, e.g. `an Ed448` or `an EC (curve 1.3.132.0.10)`.
        algorithm: String,
    },
    /// The key's own parts disagree (a corrupted or hand-edited key).
    #[error("the private key is invalid: {0}")]
    Invalid(String),
}

fn malformed(format: KeyFormat) -> impl Fn(DerError) -> KeyError {
    move |e| KeyError::Malformed {
        format,
        reason: e.to_string(),
    }
}

/// Whether `der` is a PKCS#8 EncryptedPrivateKeyInfo (RFC 5958 §3): a SEQUENCE of a password-based
/// encryption AlgorithmIdentifier and an OCTET STRING.
pub fn is_encrypted_pkcs8(der: &[u8]) -> bool {
    let parse = || -> Result<bool, DerError> {
        let outer = der::read_whole(der, der::SEQUENCE, "SEQUENCE")?;
        let mut fields = Fields::new(outer.contents);
        let alg = fields.required(der::SEQUENCE, "AlgorithmIdentifier")?;
        fields.required(der::OCTET_STRING, "encryptedData")?;
        fields.finish()?;
        let alg_oid = Fields::new(alg.contents).required(der::OID, "OID")?;
        Ok(alg_oid.contents.starts_with(oid::PKCS5_PREFIX)
            || alg_oid.contents.starts_with(oid::PKCS12_PBE_PREFIX))
    };
    parse().unwrap_or(false)
}

/// The SPKI of a PKCS#8 private key.
pub fn spki_from_pkcs8(der: &[u8]) -> Result<Vec<u8>, KeyError> {
    if is_encrypted_pkcs8(der) {
        return Err(KeyError::Encrypted);
    }
    let bad = malformed(KeyFormat::Pkcs8);
    let outer = der::read_whole(der, der::SEQUENCE, "a SEQUENCE").map_err(&bad)?;
    let mut fields = Fields::new(outer.contents);
    let version = fields.required(der::INTEGER, "a version").map_err(&bad)?;
    if version.contents != [0] && version.contents != [1] {
        return Err(bad(DerError::Unexpected {
            expected: "version 0 or 1",
        }));
    }
    let algorithm = fields
        .required(der::SEQUENCE, "an AlgorithmIdentifier")
        .map_err(&bad)?;
    let private = fields
        .required(der::OCTET_STRING, "the privateKey OCTET STRING")
        .map_err(&bad)?;
    fields.optional(der::CONTEXT_0).map_err(&bad)?; // attributes
    let embedded = match fields.optional(der::CONTEXT_1_PRIMITIVE).map_err(&bad)? {
        Some(tlv) => Some(der::octets_of_bit_string(tlv.contents).map_err(&bad)?),
        None => None,
    };
    fields.finish().map_err(&bad)?;

    let mut alg_fields = Fields::new(algorithm.contents);
    let alg_oid = alg_fields
        .required(der::OID, "an algorithm OID")
        .map_err(&bad)?;
    match alg_oid.contents {
        oid::RSA_ENCRYPTION | oid::RSASSA_PSS => {
            let public = rsa_public_key(private.contents)?;
            Ok(der::spki(algorithm.raw, &public))
        }
        oid::EC_PUBLIC_KEY => {
            let curve = alg_fields.optional(der::OID).map_err(&bad)?;
            let ec = EcPrivateKey::parse(private.contents)?;
            let curve = match (curve, ec.curve) {
                (Some(outer), _) => outer.contents,
                (None, Some(inner)) => inner,
                (None, None) => {
                    return Err(KeyError::Unsupported {
                        algorithm: "an EC key with explicit curve parameters".into(),
                    });
                }
            };
            let public = ec.public_key(curve, embedded)?;
            Ok(der::spki(algorithm.raw, &public))
        }
        oid::ED25519 => {
            let seed = der::read_whole(private.contents, der::OCTET_STRING, "an Ed25519 seed")
                .map_err(&bad)?;
            let pair = signature::Ed25519KeyPair::from_seed_unchecked(seed.contents)
                .map_err(|e| KeyError::Invalid(format!("Ed25519: {e}")))?;
            let computed = signature::KeyPair::public_key(&pair).as_ref();
            if embedded.is_some_and(|e| e != computed) {
                return Err(KeyError::Invalid(
                    "its embedded public key does not belong to it".into(),
                ));
            }
            Ok(der::spki(algorithm.raw, computed))
        }
        other => match embedded {
            // PKCS#8 v2 carries the public key: no need to understand the algorithm.
            Some(public) => Ok(der::spki(algorithm.raw, public)),
            None => Err(KeyError::Unsupported {
                algorithm: algorithm_name(other),
            }),
        },
    }
}

/// The SPKI of a PKCS#1 RSAPrivateKey.
pub fn spki_from_pkcs1(der: &[u8]) -> Result<Vec<u8>, KeyError> {
    let public = rsa_public_key(der)?;
    // AlgorithmIdentifier { rsaEncryption, NULL } (RFC 8017 A.1).
    let mut alg = Vec::new();
    der::write_tlv(&mut alg, der::OID, oid::RSA_ENCRYPTION);
    der::write_tlv(&mut alg, der::NULL, &[]);
    let mut algorithm = Vec::new();
    der::write_tlv(&mut algorithm, der::SEQUENCE, &alg);
    Ok(der::spki(&algorithm, &public))
}

/// The SPKI of a SEC1 ECPrivateKey; it must name its curve.
pub fn spki_from_sec1(der: &[u8]) -> Result<Vec<u8>, KeyError> {
    let ec = EcPrivateKey::parse(der)?;
    let Some(curve) = ec.curve else {
        return Err(KeyError::Unsupported {
            algorithm: "an EC key that does not name its curve".into(),
        });
    };
    let public = ec.public_key(curve, None)?;
    let mut alg = Vec::new();
    der::write_tlv(&mut alg, der::OID, oid::EC_PUBLIC_KEY);
    der::write_tlv(&mut alg, der::OID, curve);
    let mut algorithm = Vec::new();
    der::write_tlv(&mut algorithm, der::SEQUENCE, &alg);
    Ok(der::spki(&algorithm, &public))
}

/// RSAPublicKey `SEQUENCE { n, e }` from an RSAPrivateKey, with n and e as encoded.
fn rsa_public_key(der: &[u8]) -> Result<Vec<u8>, KeyError> {
    let bad = malformed(KeyFormat::Pkcs1);
    let outer = der::read_whole(der, der::SEQUENCE, "a SEQUENCE").map_err(&bad)?;
    let mut fields = Fields::new(outer.contents);
    let version = fields.required(der::INTEGER, "a version").map_err(&bad)?;
    if version.contents != [0] && version.contents != [1] {
        return Err(bad(DerError::Unexpected {
            expected: "version 0 or 1",
        }));
    }
    let n = fields.required(der::INTEGER, "the modulus").map_err(&bad)?;
    let e = fields
        .required(der::INTEGER, "the public exponent")
        .map_err(&bad)?;
    for what in ["d", "p", "q", "dP", "dQ", "qInv"] {
        fields
            .required(der::INTEGER, "the private INTEGERs")
            .map_err(|e| KeyError::Malformed {
                format: KeyFormat::Pkcs1,
                reason: format!("{e} ({what} missing)"),
            })?;
    }
    fields.optional(der::SEQUENCE).map_err(&bad)?; // otherPrimeInfos
    fields.finish().map_err(&bad)?;
    if n.contents.first().is_none_or(|b| b & 0x80 != 0)
        || e.contents.first().is_none_or(|b| b & 0x80 != 0)
    {
        return Err(KeyError::Invalid(
            "its modulus or exponent is not a positive number".into(),
        ));
    }
    let bits = modulus_bits(n.contents);
    if (2048..=8192).contains(&bits) {
        // aws-lc checks n = p·q and the CRT values; outside this size range it refuses to load.
        signature::RsaKeyPair::from_der(der)
            .map_err(|e| KeyError::Invalid(format!("RSA ({e})")))?;
    }
    let mut body = Vec::with_capacity(n.raw.len() + e.raw.len());
    body.extend_from_slice(n.raw);
    body.extend_from_slice(e.raw);
    let mut out = Vec::with_capacity(body.len() + 4);
    der::write_tlv(&mut out, der::SEQUENCE, &body);
    Ok(out)
}

fn modulus_bits(n: &[u8]) -> usize {
    let n = &n[n.iter().take_while(|&&b| b == 0).count()..];
    match n.first() {
        Some(first) => n.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

/// The fields of an ECPrivateKey (RFC 5915 §3) daneroll needs.
struct EcPrivateKey<'a> {
    scalar: &'a [u8],
    /// The named curve's OID contents from `parameters`, if present.
    curve: Option<&'a [u8]>,
    /// The public point from `publicKey`, if present, exactly as encoded.
    public: Option<&'a [u8]>,
}

impl<'a> EcPrivateKey<'a> {
    fn parse(der: &'a [u8]) -> Result<Self, KeyError> {
        let bad = malformed(KeyFormat::Sec1);
        let outer = der::read_whole(der, der::SEQUENCE, "a SEQUENCE").map_err(&bad)?;
        let mut fields = Fields::new(outer.contents);
        let version = fields.required(der::INTEGER, "version 1").map_err(&bad)?;
        if version.contents != [1] {
            return Err(bad(DerError::Unexpected {
                expected: "version 1",
            }));
        }
        let scalar = fields
            .required(der::OCTET_STRING, "the privateKey OCTET STRING")
            .map_err(&bad)?
            .contents;
        let curve = match fields.optional(der::CONTEXT_0).map_err(&bad)? {
            Some(params) => match der::read_whole(params.contents, der::OID, "a named curve") {
                Ok(oid) => Some(oid.contents),
                // Explicit curve parameters: only usable with an embedded public key.
                Err(_) => None,
            },
            None => None,
        };
        let public = match fields.optional(der::CONTEXT_1).map_err(&bad)? {
            Some(wrapper) => {
                let bits = der::read_whole(wrapper.contents, der::BIT_STRING, "a BIT STRING")
                    .map_err(&bad)?;
                Some(der::octets_of_bit_string(bits.contents).map_err(&bad)?)
            }
            None => None,
        };
        fields.finish().map_err(&bad)?;
        Ok(Self {
            scalar,
            curve,
            public,
        })
    }

    /// The public point for `curve`: the embedded one (checked against the private scalar) or,
    /// without one, computed in uncompressed form as OpenSSL does by default.
    fn public_key(
        &self,
        curve: &[u8],
        pkcs8_public: Option<&'a [u8]>,
    ) -> Result<Vec<u8>, KeyError> {
        let embedded = self.public.or(pkcs8_public);
        let (algorithm, field_len) = match curve {
            oid::P256 => (&agreement::ECDH_P256, 32),
            oid::P384 => (&agreement::ECDH_P384, 48),
            oid::P521 => (&agreement::ECDH_P521, 66),
            other => {
                return match embedded {
                    Some(point) => Ok(point.to_vec()),
                    None => Err(KeyError::Unsupported {
                        algorithm: format!("an EC (curve {})", der::oid_string(other)),
                    }),
                };
            }
        };
        // GnuTLS (certtool) writes the scalar like an INTEGER, with a leading zero byte when its
        // top bit is set; OpenSSL reads it. Leading zeros do not change the number.
        let mut given = self.scalar;
        while given.len() > field_len && given.first() == Some(&0) {
            given = &given[1..];
        }
        if given.len() > field_len {
            return Err(KeyError::Invalid(
                "its private scalar is longer than the curve allows".into(),
            ));
        }
        let mut scalar = vec![0u8; field_len - given.len()];
        scalar.extend_from_slice(given);
        let computed = agreement::PrivateKey::from_private_key(algorithm, &scalar)
            .map_err(|e| KeyError::Invalid(format!("EC ({e})")))?
            .compute_public_key()
            .map_err(|_| KeyError::Invalid("EC (no public key for this scalar)".into()))?;
        let computed = computed.as_ref();
        let Some(point) = embedded else {
            return Ok(computed.to_vec());
        };
        if !same_point(point, computed, field_len) {
            return Err(KeyError::Invalid(
                "its embedded public key does not belong to it".into(),
            ));
        }
        Ok(point.to_vec())
    }
}

/// Whether an encoded point (compressed `02|03 X` or uncompressed `04 X Y`, SEC1 §2.3.3) is the
/// uncompressed point `computed`.
fn same_point(point: &[u8], computed: &[u8], field_len: usize) -> bool {
    match point.first() {
        Some(4) => point == computed,
        Some(prefix @ (2 | 3)) => {
            let y_is_odd = computed.last().is_some_and(|b| b & 1 == 1);
            point.len() == field_len + 1
                && computed.len() == 2 * field_len + 1
                && point[1..] == computed[1..=field_len]
                && (*prefix == 3) == y_is_odd
        }
        _ => false,
    }
}

fn algorithm_name(oid_contents: &[u8]) -> String {
    match oid_contents {
        oid::ED448 => "an Ed448".to_string(),
        other => format!("an unknown algorithm's (OID {})", der::oid_string(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
    }

    #[test]
    fn derives_what_openssl_derives() {
        for (key, public) in [
            ("rsa2048.key.der", "rsa2048.pub.der"),
            ("rsa-pss.key.der", "rsa-pss.pub.der"),
            ("p256.key.der", "p256.pub.der"),
            ("p384.key.der", "p384.pub.der"),
            ("p521.key.der", "p521.pub.der"),
            ("p256c.key.der", "p256c.pub.der"),
            ("ed25519.key.der", "ed25519.pub.der"),
        ] {
            assert_eq!(
                spki_from_pkcs8(&fixture(key)).unwrap(),
                fixture(public),
                "{key}"
            );
        }
        assert_eq!(
            spki_from_pkcs1(&fixture("rsa2048.pkcs1.der")).unwrap(),
            fixture("rsa2048.pub.der")
        );
        for curve in ["p256", "p384", "p521", "p256c"] {
            assert_eq!(
                spki_from_sec1(&fixture(&format!("{curve}.sec1.der"))).unwrap(),
                fixture(&format!("{curve}.pub.der")),
                "{curve}"
            );
        }
    }

    #[test]
    fn ed448_is_refused_with_advice() {
        let err = spki_from_pkcs8(&fixture("ed448.key.der")).unwrap_err();
        assert!(matches!(err, KeyError::Unsupported { .. }));
        assert!(err.to_string().contains("Ed448"), "{err}");
        assert!(err.to_string().contains("-pubout"), "{err}");
    }

    #[test]
    fn encrypted_pkcs8_is_recognised() {
        let der = fixture("encrypted-pkcs8.der");
        assert!(is_encrypted_pkcs8(&der));
        assert_eq!(spki_from_pkcs8(&der), Err(KeyError::Encrypted));
    }

    #[test]
    fn wrong_embedded_point_is_caught() {
        let mut der = fixture("p256.sec1.der");
        let last = der.len() - 1;
        der[last] ^= 1; // flip a bit of the embedded public point's Y
        let err = spki_from_sec1(&der).unwrap_err();
        assert!(matches!(err, KeyError::Invalid(_)), "{err}");
    }

    #[test]
    fn inconsistent_rsa_key_is_caught() {
        let mut der = fixture("rsa2048.pkcs1.der");
        let last = der.len() - 1;
        der[last] ^= 1; // corrupt qInv
        let err = spki_from_pkcs1(&der).unwrap_err();
        assert!(matches!(err, KeyError::Invalid(_)), "{err}");
    }

    #[test]
    fn truncated_keys_are_malformed() {
        let der = fixture("p256.key.der");
        for cut in [0, 1, 10, der.len() - 1] {
            assert!(spki_from_pkcs8(&der[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn compressed_points_compare_by_x_and_parity() {
        let computed = [4u8, 1, 2, 3, 4];
        assert!(same_point(&[2, 1, 2], &computed, 2));
        assert!(!same_point(&[3, 1, 2], &computed, 2));
        assert!(!same_point(&[2, 1, 9], &computed, 2));
        assert!(same_point(&computed, &computed, 2));
        assert!(!same_point(&[], &computed, 2));
    }

    #[test]
    fn counts_modulus_bits() {
        assert_eq!(modulus_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(modulus_bits(&[0x01]), 1);
        assert_eq!(modulus_bits(&[0x00]), 0);
    }
}
