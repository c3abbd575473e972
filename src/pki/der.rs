//! Just enough DER (ITU-T X.690 §8, §10) to take private keys apart and to wrap a derived public
//! key in a SubjectPublicKeyInfo (RFC 5280 §4.1.2.7).
//!
//! Certificates, CSRs and SPKIs are parsed by x509-parser; private keys are not, and deriving a
//! public key from one needs only a handful of fields: PKCS#8 (RFC 5958 §2), PKCS#1 (RFC 8017
//! A.1.2) and SEC1 (RFC 5915 §3). Everything here is strict DER: definite lengths in their
//! shortest form, single-byte tags.

use std::fmt;

/// SEQUENCE, constructed.
pub const SEQUENCE: u8 = 0x30;
/// INTEGER.
pub const INTEGER: u8 = 0x02;
/// BIT STRING.
pub const BIT_STRING: u8 = 0x03;
/// OCTET STRING.
pub const OCTET_STRING: u8 = 0x04;
/// NULL.
pub const NULL: u8 = 0x05;
/// OBJECT IDENTIFIER.
pub const OID: u8 = 0x06;
/// `[0]` constructed (EXPLICIT or IMPLICIT SET OF).
pub const CONTEXT_0: u8 = 0xA0;
/// `[1]` constructed (SEC1's EXPLICIT publicKey).
pub const CONTEXT_1: u8 = 0xA1;
/// `[1]` primitive (PKCS#8 v2's IMPLICIT BIT STRING publicKey).
pub const CONTEXT_1_PRIMITIVE: u8 = 0x81;

/// Object identifiers daneroll recognises, as DER contents (without tag and length).
pub mod oid {
    /// rsaEncryption, 1.2.840.113549.1.1.1 (RFC 8017).
    pub const RSA_ENCRYPTION: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
    /// id-RSASSA-PSS, 1.2.840.113549.1.1.10 (RFC 4055).
    pub const RSASSA_PSS: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A];
    /// id-ecPublicKey, 1.2.840.10045.2.1 (RFC 5480).
    pub const EC_PUBLIC_KEY: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
    /// secp256r1 / P-256, 1.2.840.10045.3.1.7.
    pub const P256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
    /// secp384r1 / P-384, 1.3.132.0.34.
    pub const P384: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x22];
    /// secp521r1 / P-521, 1.3.132.0.35.
    pub const P521: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x23];
    /// id-Ed25519, 1.3.101.112 (RFC 8410).
    pub const ED25519: &[u8] = &[0x2B, 0x65, 0x70];
    /// id-Ed448, 1.3.101.113 (RFC 8410).
    pub const ED448: &[u8] = &[0x2B, 0x65, 0x71];
    /// The PKCS#5 arc 1.2.840.113549.1.5 (PBES1/PBES2, RFC 8018): an encrypted private key.
    pub const PKCS5_PREFIX: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05];
    /// The PKCS#12 PBE arc 1.2.840.113549.1.12.1 (RFC 7292): an encrypted private key.
    pub const PKCS12_PBE_PREFIX: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x0C, 0x01];
}

/// Why bytes are not the DER that was expected. Carries no input bytes (they may be secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DerError {
    /// The data ends inside a tag, a length or contents.
    Truncated,
    /// A length in a form DER forbids (indefinite, or not the shortest).
    BadLength,
    /// A multi-byte tag: not used by any structure read here.
    UnsupportedTag,
    /// A tag other than the one the structure needs at this point.
    Unexpected {
        /// What the structure needs.
        expected: &'static str,
    },
    /// Bytes left over inside a structure after its last field.
    Leftover,
}

impl fmt::Display for DerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("the DER data ends early (truncated)"),
            Self::BadLength => f.write_str("a DER length is not in its shortest definite form"),
            Self::UnsupportedTag => f.write_str("a multi-byte DER tag"),
            Self::Unexpected { expected } => write!(f, "expected {expected}"),
            Self::Leftover => f.write_str("unexpected extra fields"),
        }
    }
}

/// One tag-length-value element.
#[derive(Clone, Copy)]
pub struct Tlv<'a> {
    /// The single identifier octet.
    pub tag: u8,
    /// The contents octets.
    pub contents: &'a [u8],
    /// The whole element, tag and length included, exactly as encoded.
    pub raw: &'a [u8],
}

/// Reads one element from the start of `input`; returns it and what follows it.
pub fn read_tlv(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), DerError> {
    let (&tag, rest) = input.split_first().ok_or(DerError::Truncated)?;
    if tag & 0x1F == 0x1F {
        return Err(DerError::UnsupportedTag);
    }
    let (&first, rest) = rest.split_first().ok_or(DerError::Truncated)?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7F);
        if count == 0 || count > std::mem::size_of::<usize>() {
            return Err(DerError::BadLength);
        }
        if rest.len() < count {
            return Err(DerError::Truncated);
        }
        let (bytes, rest) = rest.split_at(count);
        if bytes[0] == 0 {
            return Err(DerError::BadLength);
        }
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        if len < 0x80 {
            return Err(DerError::BadLength);
        }
        (len, rest)
    };
    if rest.len() < len {
        return Err(DerError::Truncated);
    }
    let header = input.len() - rest.len();
    let (contents, after) = rest.split_at(len);
    let raw = &input[..header + len];
    Ok((Tlv { tag, contents, raw }, after))
}

/// Reads exactly one element of the given tag that fills `input`.
/// Returns `Err(DerError::Leftover)` when bytes follow it.
pub fn read_whole<'a>(
    input: &'a [u8],
    tag: u8,
    expected: &'static str,
) -> Result<Tlv<'a>, DerError> {
    let (tlv, rest) = read_tlv(input)?;
    if tlv.tag != tag {
        return Err(DerError::Unexpected { expected });
    }
    if !rest.is_empty() {
        return Err(DerError::Leftover);
    }
    Ok(tlv)
}

/// The fields of a constructed element, read in order.
pub struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    /// The fields inside `contents`.
    pub fn new(contents: &'a [u8]) -> Self {
        Self { rest: contents }
    }

    /// The next field, which must have `tag`.
    pub fn required(&mut self, tag: u8, expected: &'static str) -> Result<Tlv<'a>, DerError> {
        self.optional(tag)?.ok_or(DerError::Unexpected { expected })
    }

    /// The next field if it has `tag`; otherwise nothing is consumed.
    pub fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, DerError> {
        if self.rest.first() != Some(&tag) {
            return Ok(None);
        }
        let (tlv, rest) = read_tlv(self.rest)?;
        self.rest = rest;
        Ok(Some(tlv))
    }

    /// Succeeds only when every field has been read.
    pub fn finish(&self) -> Result<(), DerError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DerError::Leftover)
        }
    }
}

/// Appends the element `tag`, `contents` to `out`, with its DER length.
pub fn write_tlv(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    let len = contents.len();
    if len < 0x80 {
        // invariant: len < 0x80 fits in one byte.
        out.push(u8::try_from(len).expect("short length"));
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let count = bytes.len() - skip;
        // invariant: a usize has at most 8 bytes, far below 0x7F.
        out.push(0x80 | u8::try_from(count).expect("length of length"));
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
}

/// A SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) from an AlgorithmIdentifier as encoded and the
/// subjectPublicKey bits (whole octets, as every key format in use has).
pub fn spki(algorithm_raw: &[u8], public_key: &[u8]) -> Vec<u8> {
    let mut bits = Vec::with_capacity(public_key.len() + 1);
    bits.push(0); // no unused bits
    bits.extend_from_slice(public_key);
    let mut inner = Vec::with_capacity(algorithm_raw.len() + bits.len() + 8);
    inner.extend_from_slice(algorithm_raw);
    write_tlv(&mut inner, BIT_STRING, &bits);
    let mut out = Vec::with_capacity(inner.len() + 4);
    write_tlv(&mut out, SEQUENCE, &inner);
    out
}

/// The contents of a BIT STRING that holds whole octets (no unused bits).
pub fn octets_of_bit_string(contents: &[u8]) -> Result<&[u8], DerError> {
    match contents.split_first() {
        Some((0, bits)) => Ok(bits),
        _ => Err(DerError::Unexpected {
            expected: "a BIT STRING of whole octets",
        }),
    }
}

/// An OID's dotted form (`1.2.840.10045.2.1`) for messages; `?` for an undecodable one.
pub fn oid_string(contents: &[u8]) -> String {
    let mut arcs: Vec<u128> = Vec::new();
    let mut value: u128 = 0;
    for &b in contents {
        value = match value.checked_mul(128) {
            Some(v) => v | u128::from(b & 0x7F),
            None => return "?".to_string(),
        };
        if b & 0x80 == 0 {
            arcs.push(value);
            value = 0;
        }
    }
    if contents.is_empty() || contents.last().is_some_and(|b| b & 0x80 != 0) {
        return "?".to_string();
    }
    let first = arcs[0];
    let (a, b) = match first {
        0..=39 => (0, first),
        40..=79 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut out = format!("{a}.{b}");
    for arc in &arcs[1..] {
        out.push('.');
        out.push_str(&arc.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let (tlv, rest) = read_tlv(&[0x04, 0x02, 0xAA, 0xBB, 0xCC]).unwrap();
        assert_eq!(
            (tlv.tag, tlv.contents, rest),
            (0x04, &[0xAA, 0xBB][..], &[0xCC][..])
        );
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend(std::iter::repeat_n(7, 0x80));
        let (tlv, rest) = read_tlv(&long).unwrap();
        assert_eq!(tlv.contents.len(), 0x80);
        assert_eq!(tlv.raw.len(), long.len());
        assert!(rest.is_empty());
    }

    #[test]
    fn rejects_truncation_and_non_der_lengths() {
        assert_eq!(read_tlv(&[]).err(), Some(DerError::Truncated));
        assert_eq!(read_tlv(&[0x30]).err(), Some(DerError::Truncated));
        assert_eq!(
            read_tlv(&[0x30, 0x05, 0x00]).err(),
            Some(DerError::Truncated)
        );
        assert_eq!(read_tlv(&[0x30, 0x80]).err(), Some(DerError::BadLength));
        assert_eq!(
            read_tlv(&[0x30, 0x81, 0x05]).err(),
            Some(DerError::BadLength)
        );
        assert_eq!(
            read_tlv(&[0x30, 0x82, 0x00, 0x80]).err(),
            Some(DerError::BadLength)
        );
        assert_eq!(
            read_tlv(&[0x1F, 0x01]).err(),
            Some(DerError::UnsupportedTag)
        );
        assert_eq!(
            read_whole(&[0x05, 0x00, 0x00], NULL, "NULL").err(),
            Some(DerError::Leftover)
        );
    }

    #[test]
    fn writes_what_it_reads() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let contents = vec![0x5A; len];
            let mut out = Vec::new();
            write_tlv(&mut out, OCTET_STRING, &contents);
            let tlv = read_whole(&out, OCTET_STRING, "OCTET STRING").unwrap();
            assert_eq!(tlv.contents, &contents[..]);
        }
    }

    #[test]
    fn names_oids() {
        assert_eq!(oid_string(oid::EC_PUBLIC_KEY), "1.2.840.10045.2.1");
        assert_eq!(oid_string(oid::P521), "1.3.132.0.35");
        assert_eq!(oid_string(oid::ED448), "1.3.101.113");
        assert_eq!(oid_string(&[0x2A, 0x86]), "?");
        assert_eq!(oid_string(&[]), "?");
    }

    #[test]
    fn fields_are_read_in_order() {
        let mut seq = Vec::new();
        write_tlv(&mut seq, INTEGER, &[1]);
        write_tlv(&mut seq, OCTET_STRING, &[9, 9]);
        let mut fields = Fields::new(&seq);
        assert!(fields.optional(CONTEXT_0).unwrap().is_none());
        assert_eq!(fields.required(INTEGER, "version").unwrap().contents, &[1]);
        assert!(fields.required(INTEGER, "n").is_err());
        fields.required(OCTET_STRING, "key").unwrap();
        fields.finish().unwrap();
    }
}
