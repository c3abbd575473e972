//! From items to TLSA records (RFC 6698 §2.1): which items a usage refers to, and the record data
//! for a selector and matching type. Pure functions; no I/O.
//!
//! - Usage 3 (DANE-EE) and 1 (PKIX-EE) name the end-entity: the first certificate of a chain
//!   file (the leaf), or each key / CSR of a file without certificates.
//! - Usage 2 (DANE-TA) and 0 (PKIX-TA) name trust anchors: every certificate after the leaf,
//!   issuer first (RFC 7671 §5.2.2: publish the TA that the server's chain includes); a file with
//!   a single certificate and no private key is taken to be the anchor itself.
//! - Selector 0 hashes the certificate as encoded, selector 1 its SubjectPublicKeyInfo as encoded
//!   (never re-encoded: RSA-PSS parameters and compressed points are part of what is hashed).
//! - Matching type 0 is the data itself, 1 SHA-256, 2 SHA-512 (RFC 6698 §2.1.3).

use daneroll_providers::Tlsa;
use sha2::{Digest, Sha256, Sha512};

use super::item::{Item, ItemKind};

/// Why a record cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsaError {
    /// Selector 0 on something that is not a certificate.
    #[error(
        "selector 0 hashes a whole certificate, but this is {0}; use --selector 1 \
         (the public key, which stays the same across renewals with the same key)"
    )]
    SelectorNeedsCertificate(ItemKind),
    /// A selector other than 0 or 1.
    #[error("selector {0} is not defined (RFC 6698 §2.1.2: 0 certificate, 1 public key)")]
    UnknownSelector(u8),
    /// A matching type other than 0, 1 or 2.
    #[error("matching type {0} is not defined (RFC 6698 §2.1.3: 0 full, 1 SHA-256, 2 SHA-512)")]
    UnknownMatchingType(u8),
    /// Usage 0/2 on a file whose only certificate is an end-entity (its private key is there too).
    #[error(
        "usage 2 (DANE-TA) needs a CA certificate, but the file holds only an end-entity \
         certificate and its key; give the chain (e.g. fullchain.pem) or use --usage 3"
    )]
    NoTrustAnchor,
    /// A private or public key in a chain file that is not the leaf's key.
    #[error(
        "{kind} in the file does not match the first certificate's public key: \
         the file mixes up two keys"
    )]
    KeyDoesNotMatchLeaf {
        /// What did not match.
        kind: ItemKind,
    },
}

/// The TLSA record for one item.
pub fn tlsa_for(item: &Item, usage: u8, selector: u8, mtype: u8) -> Result<Tlsa, TlsaError> {
    let selected: &[u8] = match selector {
        0 => item
            .certificate()
            .ok_or(TlsaError::SelectorNeedsCertificate(item.kind()))?
            .der(),
        1 => item.spki(),
        other => return Err(TlsaError::UnknownSelector(other)),
    };
    let data = match mtype {
        0 => selected.to_vec(),
        1 => Sha256::digest(selected).to_vec(),
        2 => Sha512::digest(selected).to_vec(),
        other => return Err(TlsaError::UnknownMatchingType(other)),
    };
    Ok(Tlsa::new(usage, selector, mtype, data))
}

/// The items a record of `usage` is about, in the order their records are printed.
///
/// When a file holds certificates, keys and CSRs in it must belong to the leaf: a bundle that
/// pairs a certificate with some other key is refused rather than quietly half-used.
pub fn subjects(items: &[Item], usage: u8) -> Result<Vec<&Item>, TlsaError> {
    let certificates: Vec<&Item> = items.iter().filter(|i| i.certificate().is_some()).collect();
    let Some(leaf) = certificates.first() else {
        return Ok(dedup_by_spki(items.iter()));
    };
    if let Some(stranger) = items
        .iter()
        .filter(|i| i.certificate().is_none())
        .find(|i| i.spki() != leaf.spki())
    {
        return Err(TlsaError::KeyDoesNotMatchLeaf {
            kind: stranger.kind(),
        });
    }
    let has_private_key = items.iter().any(|i| matches!(i, Item::PrivateKey(_)));
    match usage {
        0 | 2 if certificates.len() > 1 => Ok(certificates[1..].to_vec()),
        // A lone certificate next to its private key is an end-entity, not an anchor.
        0 | 2 if has_private_key => Err(TlsaError::NoTrustAnchor),
        _ => Ok(vec![*leaf]),
    }
}

/// Items without certificates: one record per distinct public key (a key and its own public key
/// in one file give one record).
fn dedup_by_spki<'a>(items: impl Iterator<Item = &'a Item>) -> Vec<&'a Item> {
    let mut out: Vec<&Item> = Vec::new();
    for item in items {
        if !out.iter().any(|seen| seen.spki() == item.spki()) {
            out.push(item);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::parse_items;

    fn fixture(name: &str) -> Vec<Item> {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        parse_items(&std::fs::read(path).unwrap()).unwrap()
    }

    #[test]
    fn matching_types_hash_the_selected_bytes() {
        let items = fixture("p256.cert.der");
        let cert = &items[0];
        let full = tlsa_for(cert, 3, 0, 0).unwrap();
        assert_eq!(full.data, cert.certificate().unwrap().der());
        let spki = tlsa_for(cert, 3, 1, 0).unwrap();
        assert_eq!(spki.data, cert.spki());
        assert_eq!(
            tlsa_for(cert, 3, 1, 1).unwrap().data,
            Sha256::digest(cert.spki()).to_vec()
        );
        assert_eq!(tlsa_for(cert, 2, 1, 2).unwrap().data.len(), 64);
        assert_eq!(tlsa_for(cert, 2, 1, 2).unwrap().usage, 2);
        assert_eq!(tlsa_for(cert, 3, 2, 1), Err(TlsaError::UnknownSelector(2)));
        assert_eq!(
            tlsa_for(cert, 3, 1, 3),
            Err(TlsaError::UnknownMatchingType(3))
        );
    }

    #[test]
    fn selector_0_needs_a_certificate() {
        for name in ["p256.key.pem", "p256.pub.pem", "p256.csr.pem"] {
            let items = fixture(name);
            let err = tlsa_for(&items[0], 3, 0, 1).unwrap_err();
            assert!(
                matches!(err, TlsaError::SelectorNeedsCertificate(_)),
                "{name}"
            );
            assert!(err.to_string().contains("--selector 1"), "{err}");
        }
    }

    #[test]
    fn usages_pick_leaf_or_anchors() {
        let items = fixture("chain.pem");
        assert_eq!(items.len(), 3);
        let ee = subjects(&items, 3).unwrap();
        assert_eq!(ee.len(), 1);
        assert_eq!(ee[0].subject(), Some("CN=mail.example.com"));
        let ta: Vec<_> = subjects(&items, 2)
            .unwrap()
            .iter()
            .map(|i| i.subject().unwrap().to_string())
            .collect();
        assert_eq!(
            ta,
            ["CN=daneroll test intermediate", "CN=daneroll test root"]
        );
        let single = fixture("root.pem");
        assert_eq!(subjects(&single, 2).unwrap().len(), 1);
    }

    #[test]
    fn keys_in_a_chain_file_must_be_the_leaf_key() {
        let mut items = fixture("key-then-chain.pem");
        assert_eq!(subjects(&items, 3).unwrap().len(), 1);
        let lone = [fixture("leaf.pem"), fixture("p256.key.pem")].concat();
        assert_eq!(subjects(&lone, 2), Err(TlsaError::NoTrustAnchor));
        items.extend(fixture("p384.key.pem"));
        assert!(matches!(
            subjects(&items, 3),
            Err(TlsaError::KeyDoesNotMatchLeaf { .. })
        ));
    }

    #[test]
    fn a_key_and_its_public_key_give_one_record() {
        let mut items = fixture("p256.key.pem");
        items.extend(fixture("p256.pub.pem"));
        items.extend(fixture("p384.pub.pem"));
        assert_eq!(subjects(&items, 3).unwrap().len(), 2);
    }
}
