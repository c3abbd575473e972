//! Verifying one RRset's signatures against a zone's DNSKEY RRset (RFC 4035 §5.3).
//!
//! daneroll does not trust the AD bit of the answers it checks, and it cannot let a validating
//! library fetch the chain through an authoritative server that does not serve the parent zone.
//! Instead the zone's DNSKEY RRset is validated once through the chain (`chain`), and every
//! answer from every server is checked here against it: the RRSIG's signer is the zone, its
//! key tag and algorithm name a zone key in that set, the signature verifies over the RRset in
//! canonical form (hickory's `TBS` and `Verifier`), and the injected clock lies between
//! inception and expiration (RFC 4034 §3.1.5, serial arithmetic).
//!
//! Only class IN counts: records of any other class are dropped before anything is looked at,
//! as hickory's own validator does, so a forged CH-class DNSKEY, DS or TLSA placed beside a
//! genuine signed RRset can neither join the key set nor look served. An RRSIG whose Labels
//! field is below the owner's label count was made for a wildcard (RFC 4035 §5.3.4): such an
//! answer is [`Verified::expanded_from`] the wildcard, and [`ZoneKeys::verify`] refuses it;
//! only `denial::verify_answer`, which also checks the NSEC/NSEC3 proof that no closer name
//! exists, accepts one. A validated key set lives only as long as the signature over it:
//! after that every check fails until the chain is walked again.

use std::fmt;
use std::time::SystemTime;

use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, RRSIG};
use hickory_proto::dnssec::{PublicKey, Verifier};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::clock::{dnssec_now, from_dnssec_time, serial_at_or_before};

/// A zone's DNSKEY RRset, proven through the chain from a trust anchor.
#[derive(Clone)]
pub struct ZoneKeys {
    zone: Name,
    keys: Vec<DNSKEY>,
    ttl: u32,
    expires: SystemTime,
}

impl ZoneKeys {
    /// Validates a zone's DNSKEY RRset: it must be signed, validly and now, by one of its own
    /// keys that `trusted` vouches for (a DS at the parent, or a trust anchor). RFC 4035 §5.2.
    pub fn validate(
        zone: &Name,
        answer: &[Record],
        trusted: impl Fn(&DNSKEY) -> bool,
        now: SystemTime,
    ) -> Result<Self, SignatureProblem> {
        let records: Vec<Record> = answer
            .iter()
            .filter(|r| {
                r.name == *zone
                    && r.record_type() == RecordType::DNSKEY
                    && r.dns_class == DNSClass::IN
            })
            .cloned()
            .collect();
        let keys: Vec<DNSKEY> = records.iter().filter_map(dnskey).cloned().collect();
        if keys.is_empty() {
            return Err(SignatureProblem::NoRecords {
                owner: zone.to_string(),
                rtype: RecordType::DNSKEY,
            });
        }
        let entry_points: Vec<DNSKEY> = keys.iter().filter(|k| trusted(k)).cloned().collect();
        if entry_points.is_empty() {
            return Err(SignatureProblem::NoTrustedKey {
                zone: zone.to_string(),
                tags: keys
                    .iter()
                    .filter_map(|k| k.calculate_key_tag().ok())
                    .collect(),
            });
        }
        let verified = verify_rrset(zone, RecordType::DNSKEY, answer, zone, &entry_points, now)?;
        if verified.expanded_from.is_some() {
            return Err(SignatureProblem::ExpandedNotAllowed {
                owner: zone.to_string(),
                rtype: RecordType::DNSKEY,
            });
        }
        let ttl = records
            .iter()
            .map(|r| r.ttl)
            .min()
            .unwrap_or(0)
            .min(verified.original_ttl);
        Ok(Self {
            zone: zone.clone(),
            keys,
            ttl,
            expires: verified.expires,
        })
    }

    /// The zone these keys belong to.
    pub fn zone(&self) -> &Name {
        &self.zone
    }

    /// The keys.
    pub fn keys(&self) -> &[DNSKEY] {
        &self.keys
    }

    /// The DNSKEY RRset's TTL.
    pub fn ttl(&self) -> u32 {
        self.ttl
    }

    /// When the signature over the DNSKEY RRset expires: the key set is proven until then.
    pub fn expires(&self) -> SystemTime {
        self.expires
    }

    /// Whether the key set is still proven at `now` (its RRSIG has not expired).
    pub fn valid_at(&self, now: SystemTime) -> bool {
        serial_at_or_before(dnssec_now(now), dnssec_now(self.expires))
    }

    /// Verifies the RRset `owner`/`rtype` found in `records` against these keys. A signature
    /// made for a wildcard is refused here: `denial::verify_answer` takes the proof it needs.
    pub fn verify(
        &self,
        owner: &Name,
        rtype: RecordType,
        records: &[Record],
        now: SystemTime,
    ) -> Result<Verified, SignatureProblem> {
        let verified = self.verify_allowing_expansion(owner, rtype, records, now)?;
        match &verified.expanded_from {
            None => Ok(verified),
            Some(wildcard) => Err(SignatureProblem::ExpansionUnproven {
                owner: owner.to_string(),
                rtype,
                wildcard: wildcard.to_string(),
                reason: "no NSEC or NSEC3 proof was checked".into(),
            }),
        }
    }

    /// Verifies like [`Self::verify`] but returns a wildcard-expanded answer too, for the
    /// caller to prove (RFC 4035 §5.3.4). NSEC and NSEC3 records are never expanded.
    pub fn verify_allowing_expansion(
        &self,
        owner: &Name,
        rtype: RecordType,
        records: &[Record],
        now: SystemTime,
    ) -> Result<Verified, SignatureProblem> {
        if !self.valid_at(now) {
            return Err(SignatureProblem::KeysExpired {
                zone: self.zone.to_string(),
                at: self.expires,
            });
        }
        let verified = verify_rrset(owner, rtype, records, &self.zone, &self.keys, now)?;
        if verified.expanded_from.is_some()
            && matches!(
                rtype,
                RecordType::NSEC | RecordType::NSEC3 | RecordType::DNSKEY | RecordType::DS
            )
        {
            return Err(SignatureProblem::ExpandedNotAllowed {
                owner: owner.to_string(),
                rtype,
            });
        }
        Ok(verified)
    }
}

impl fmt::Debug for ZoneKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tags: Vec<u16> = self
            .keys
            .iter()
            .filter_map(|k| k.calculate_key_tag().ok())
            .collect();
        write!(f, "ZoneKeys({} tags {tags:?} ttl {})", self.zone, self.ttl)
    }
}

/// A signature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The key tag of the DNSKEY that made it.
    pub key_tag: u16,
    /// When it stops being valid (the latest expiration among the valid signatures).
    pub expires: SystemTime,
    /// The RRset's TTL as signed (RFC 4034 §3.1.4): resolvers cap their cache time at it.
    pub original_ttl: u32,
    /// The wildcard the answer was synthesized from, when the RRSIG's Labels field is below
    /// the owner's label count (RFC 4035 §5.3.4); `None` for an answer at the name itself.
    pub expanded_from: Option<Name>,
}

/// Why an RRset does not verify. The variants say what an operator would check next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureProblem {
    #[error("no {rtype} records at {owner}")]
    NoRecords { owner: String, rtype: RecordType },
    #[error(
        "{owner} {rtype} carries no RRSIG (the zone is not signed, or the server strips DNSSEC records)"
    )]
    Unsigned { owner: String, rtype: RecordType },
    #[error(
        "none of the DNSKEYs of {zone} (tags {tags:?}) matches a DS at the parent or a trust anchor"
    )]
    NoTrustedKey { zone: String, tags: Vec<u16> },
    #[error("the RRSIG over {owner} {rtype} is signed by {signer}, not by the zone {zone}")]
    WrongSigner {
        owner: String,
        rtype: RecordType,
        signer: String,
        zone: String,
    },
    #[error(
        "the RRSIG over {owner} {rtype} names key {key_tag} (algorithm {algorithm}), which is not in the validated DNSKEY RRset of {zone}"
    )]
    UnknownKey {
        owner: String,
        rtype: RecordType,
        key_tag: u16,
        algorithm: u8,
        zone: String,
    },
    #[error("the RRSIG over {owner} {rtype} by key {key_tag} expired at {}", super::clock::stamp(*at))]
    Expired {
        owner: String,
        rtype: RecordType,
        key_tag: u16,
        at: SystemTime,
    },
    #[error("the RRSIG over {owner} {rtype} by key {key_tag} is not valid before {}", super::clock::stamp(*from))]
    NotYetValid {
        owner: String,
        rtype: RecordType,
        key_tag: u16,
        from: SystemTime,
    },
    #[error(
        "the RRSIG over {owner} {rtype} by key {key_tag} does not verify (data or signature altered)"
    )]
    Invalid {
        owner: String,
        rtype: RecordType,
        key_tag: u16,
    },
    #[error(
        "the RRSIG over {owner} {rtype} uses algorithm {algorithm}, which daneroll cannot verify"
    )]
    UnsupportedAlgorithm {
        owner: String,
        rtype: RecordType,
        algorithm: u8,
    },
    #[error(
        "the RRSIG over {owner} {rtype} was made for a wildcard, but {rtype} records are never synthesized from one (RFC 4035 §5.3.4); the record was replayed at another name"
    )]
    ExpandedNotAllowed { owner: String, rtype: RecordType },
    #[error(
        "{owner} {rtype} is signed as an expansion of {wildcard}, without proof that no closer name exists (RFC 4035 §5.3.4, RFC 5155 §8.8): {reason}"
    )]
    ExpansionUnproven {
        owner: String,
        rtype: RecordType,
        wildcard: String,
        reason: String,
    },
    #[error(
        "the validated DNSKEY RRset of {zone} expired at {}; its signature must be validated again through the chain", super::clock::stamp(*at)
    )]
    KeysExpired { zone: String, at: SystemTime },
}

impl SignatureProblem {
    /// How much this problem tells the operator; the most telling one is reported.
    fn weight(&self) -> u8 {
        match self {
            Self::NoRecords { .. } => 0,
            Self::Unsigned { .. } => 1,
            Self::WrongSigner { .. } => 2,
            Self::UnknownKey { .. } => 3,
            Self::UnsupportedAlgorithm { .. } => 4,
            Self::NoTrustedKey { .. } => 5,
            Self::NotYetValid { .. } => 6,
            Self::Expired { .. } => 7,
            Self::Invalid { .. } => 8,
            Self::ExpansionUnproven { .. } => 9,
            Self::ExpandedNotAllowed { .. } => 10,
            Self::KeysExpired { .. } => 11,
        }
    }
}

/// The DNSKEY in a record, if it is one.
pub fn dnskey(record: &Record) -> Option<&DNSKEY> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::DNSKEY(key)) => Some(key),
        _ => None,
    }
}

/// The RRSIG in a record, if it is one.
pub fn rrsig(record: &Record) -> Option<&RRSIG> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(sig)) => Some(sig),
        _ => None,
    }
}

/// The records of `records` that form the RRset `owner`/`rtype`: class IN only, since no
/// other class is ever validated (RFC 4035 §5; hickory's validator drops the others too).
pub fn rrset_of<'a>(
    records: &'a [Record],
    owner: &'a Name,
    rtype: RecordType,
) -> impl Iterator<Item = &'a Record> + 'a {
    records.iter().filter(move |r| {
        r.name == *owner && r.record_type() == rtype && r.dns_class == DNSClass::IN
    })
}

/// The RRSIGs in `records` (class IN) that cover `owner`/`rtype`.
pub fn rrsigs_covering<'a>(
    records: &'a [Record],
    owner: &'a Name,
    rtype: RecordType,
) -> impl Iterator<Item = &'a RRSIG> + 'a {
    records
        .iter()
        .filter(move |r| r.name == *owner && r.dns_class == DNSClass::IN)
        .filter_map(rrsig)
        .filter(move |sig| sig.input().type_covered == rtype)
}

/// Verifies the RRset `owner`/`rtype` in `records` (RRSIGs taken from the same slice) against
/// `keys` of `zone` at time `now`. Succeeds if any one RRSIG is valid (RFC 4035 §5.3.3); a
/// signature at the name itself is preferred to one made for a wildcard.
pub fn verify_rrset(
    owner: &Name,
    rtype: RecordType,
    records: &[Record],
    zone: &Name,
    keys: &[DNSKEY],
    now: SystemTime,
) -> Result<Verified, SignatureProblem> {
    let rrset: Vec<&Record> = rrset_of(records, owner, rtype).collect();
    if rrset.is_empty() {
        return Err(SignatureProblem::NoRecords {
            owner: owner.to_string(),
            rtype,
        });
    }
    let mut best: Option<Verified> = None;
    let mut problem = SignatureProblem::Unsigned {
        owner: owner.to_string(),
        rtype,
    };
    for sig in rrsigs_covering(records, owner, rtype) {
        match check_one(owner, rtype, &rrset, sig, zone, keys, now) {
            Ok(verified) => {
                let better = |b: &Verified| {
                    (verified.expanded_from.is_none(), verified.expires)
                        > (b.expanded_from.is_none(), b.expires)
                };
                if best.as_ref().is_none_or(better) {
                    best = Some(verified);
                }
            }
            Err(p) if p.weight() >= problem.weight() => problem = p,
            Err(_) => {}
        }
    }
    best.ok_or(problem)
}

fn check_one(
    owner: &Name,
    rtype: RecordType,
    rrset: &[&Record],
    sig: &RRSIG,
    zone: &Name,
    keys: &[DNSKEY],
    now: SystemTime,
) -> Result<Verified, SignatureProblem> {
    let input = sig.input();
    let key_tag = input.key_tag;
    if input.signer_name != *zone {
        return Err(SignatureProblem::WrongSigner {
            owner: owner.to_string(),
            rtype,
            signer: input.signer_name.to_string(),
            zone: zone.to_string(),
        });
    }
    if !input.algorithm.is_supported() {
        return Err(SignatureProblem::UnsupportedAlgorithm {
            owner: owner.to_string(),
            rtype,
            algorithm: u8::from(input.algorithm),
        });
    }
    if input.num_labels > owner.num_labels() {
        return Err(SignatureProblem::Invalid {
            owner: owner.to_string(),
            rtype,
            key_tag,
        });
    }
    // RFC 4035 §5.3.4: fewer labels than the owner means the RRSIG was made for the wildcard
    // "*." + the owner's rightmost `labels` labels; hickory rebuilds that name to verify.
    let expanded_from = if input.num_labels < owner.num_labels() {
        let encloser = owner.trim_to(usize::from(input.num_labels));
        match encloser.prepend_label("*") {
            Ok(wildcard) => Some(wildcard),
            Err(_) => {
                return Err(SignatureProblem::Invalid {
                    owner: owner.to_string(),
                    rtype,
                    key_tag,
                });
            }
        }
    } else {
        None
    };
    let stamp_now = dnssec_now(now);
    let inception = input.sig_inception.get();
    let expiration = input.sig_expiration.get();
    if !serial_at_or_before(inception, stamp_now) {
        return Err(SignatureProblem::NotYetValid {
            owner: owner.to_string(),
            rtype,
            key_tag,
            from: from_dnssec_time(inception, now),
        });
    }
    if !serial_at_or_before(stamp_now, expiration) {
        return Err(SignatureProblem::Expired {
            owner: owner.to_string(),
            rtype,
            key_tag,
            at: from_dnssec_time(expiration, now),
        });
    }
    let candidates = keys.iter().filter(|key| {
        key.zone_key()
            && !key.revoke()
            && key.public_key().algorithm() == input.algorithm
            && key.calculate_key_tag().ok() == Some(key_tag)
    });
    let mut found = false;
    for key in candidates {
        found = true;
        let covered = rrset.iter().copied();
        if key.verify_rrsig(owner, DNSClass::IN, sig, covered).is_ok() {
            return Ok(Verified {
                key_tag,
                expires: from_dnssec_time(expiration, now),
                original_ttl: input.original_ttl,
                expanded_from,
            });
        }
    }
    if found {
        Err(SignatureProblem::Invalid {
            owner: owner.to_string(),
            rtype,
            key_tag,
        })
    } else {
        Err(SignatureProblem::UnknownKey {
            owner: owner.to_string(),
            rtype,
            key_tag,
            algorithm: u8::from(input.algorithm),
            zone: zone.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::dns::testing::{TestZone, expanded, in_class, name, nsec_record, tlsa_record};

    #[test]
    fn a_signed_rrset_verifies_and_reports_its_expiry() {
        let zone = TestZone::new("example.test.");
        let owner = name("_25._tcp.mail.example.test.");
        let mut records = vec![tlsa_record(&owner, 300, 0xAA)];
        records.push(zone.sign(&records));
        let now = zone.now();
        let verified = zone
            .keys()
            .verify(&owner, RecordType::TLSA, &records, now)
            .unwrap();
        assert_eq!(verified.key_tag, zone.key_tag());
        assert_eq!(verified.original_ttl, 300);
        assert_eq!(verified.expires, zone.expiration());
    }

    #[test]
    fn altered_data_does_not_verify() {
        let zone = TestZone::new("example.test.");
        let owner = name("_25._tcp.mail.example.test.");
        let signed = vec![tlsa_record(&owner, 300, 0xAA)];
        let sig = zone.sign(&signed);
        let records = vec![tlsa_record(&owner, 300, 0xBB), sig];
        let err = zone
            .keys()
            .verify(&owner, RecordType::TLSA, &records, zone.now())
            .unwrap_err();
        assert!(matches!(err, SignatureProblem::Invalid { .. }), "{err}");
    }

    #[test]
    fn expired_and_future_signatures_are_rejected_by_the_clock() {
        let zone = TestZone::new("example.test.");
        let owner = name("_25._tcp.mail.example.test.");
        let mut records = vec![tlsa_record(&owner, 300, 0xAA)];
        records.push(zone.sign(&records));
        let late = zone.expiration() + Duration::from_secs(1);
        let keys = zone.keys();
        let err = verify_rrset(
            &owner,
            RecordType::TLSA,
            &records,
            zone.apex(),
            keys.keys(),
            late,
        )
        .unwrap_err();
        assert!(matches!(err, SignatureProblem::Expired { .. }), "{err}");
        assert!(err.to_string().contains("expired at"), "{err}");
        let early = zone.inception() - Duration::from_secs(1);
        let err = zone
            .keys()
            .verify(&owner, RecordType::TLSA, &records, early)
            .unwrap_err();
        assert!(matches!(err, SignatureProblem::NotYetValid { .. }), "{err}");
    }

    #[test]
    fn a_signature_by_another_zone_or_key_is_not_accepted() {
        let zone = TestZone::new("example.test.");
        let other = TestZone::new("example.test.");
        let owner = name("_25._tcp.mail.example.test.");
        let mut records = vec![tlsa_record(&owner, 300, 0xAA)];
        records.push(other.sign(&records));
        let err = zone
            .keys()
            .verify(&owner, RecordType::TLSA, &records, zone.now())
            .unwrap_err();
        assert!(
            matches!(
                err,
                SignatureProblem::UnknownKey { .. } | SignatureProblem::Invalid { .. }
            ),
            "{err}"
        );
        let unsigned = vec![tlsa_record(&owner, 300, 0xAA)];
        let err = zone
            .keys()
            .verify(&owner, RecordType::TLSA, &unsigned, zone.now())
            .unwrap_err();
        assert!(matches!(err, SignatureProblem::Unsigned { .. }), "{err}");
    }

    #[test]
    fn dnskey_rrset_needs_a_trusted_self_signature() {
        let zone = TestZone::new("example.test.");
        let answer = zone.dnskey_answer();
        let keys = ZoneKeys::validate(
            &name("example.test."),
            &answer,
            |k| zone.is_own_key(k),
            zone.now(),
        )
        .unwrap();
        assert_eq!(keys.keys().len(), 1);
        let err =
            ZoneKeys::validate(&name("example.test."), &answer, |_| false, zone.now()).unwrap_err();
        assert!(
            matches!(err, SignatureProblem::NoTrustedKey { .. }),
            "{err}"
        );
    }

    #[test]
    fn a_ch_class_dnskey_beside_the_signed_rrset_does_not_join_the_key_set() {
        // Found on the old main: `validate` collected DNSKEYs of any class, so a forged CH key
        // became a zone key and could sign anything.
        let zone = TestZone::new("example.test.");
        let forger = TestZone::new("example.test.");
        let mut answer = zone.dnskey_answer();
        answer.push(in_class(&forger.dnskey_answer()[0], DNSClass::CH));
        let keys =
            ZoneKeys::validate(zone.apex(), &answer, |k| zone.is_own_key(k), zone.now()).unwrap();
        assert_eq!(keys.keys(), std::slice::from_ref(zone.ksk()));
        let owner = name("_25._tcp.mail.example.test.");
        let forged = forger.signed(vec![tlsa_record(&owner, 300, 0xEE)]);
        let err = keys
            .verify(&owner, RecordType::TLSA, &forged, zone.now())
            .unwrap_err();
        assert!(matches!(err, SignatureProblem::UnknownKey { .. }), "{err}");
        // A key set of CH records only is no key set.
        let only_ch: Vec<Record> = zone
            .dnskey_answer()
            .iter()
            .map(|r| in_class(r, DNSClass::CH))
            .collect();
        let err = ZoneKeys::validate(zone.apex(), &only_ch, |_| true, zone.now()).unwrap_err();
        assert!(matches!(err, SignatureProblem::NoRecords { .. }), "{err}");
    }

    #[test]
    fn the_rrset_is_the_class_in_records_only() {
        let zone = TestZone::new("example.test.");
        let owner = name("_25._tcp.mail.example.test.");
        let mut records = zone.signed(vec![tlsa_record(&owner, 300, 0xAA)]);
        records.push(in_class(&tlsa_record(&owner, 300, 0xEE), DNSClass::CH));
        let rrset: Vec<&Record> = rrset_of(&records, &owner, RecordType::TLSA).collect();
        assert_eq!(rrset.len(), 1);
        assert!(
            zone.keys()
                .verify(&owner, RecordType::TLSA, &records, zone.now())
                .is_ok()
        );
        // An RRSIG of class CH is not looked at either.
        let ch_only: Vec<Record> = records.iter().map(|r| in_class(r, DNSClass::CH)).collect();
        let mut unsigned = vec![tlsa_record(&owner, 300, 0xAA)];
        unsigned.extend(
            ch_only
                .into_iter()
                .filter(|r| r.record_type() == RecordType::RRSIG),
        );
        let err = zone
            .keys()
            .verify(&owner, RecordType::TLSA, &unsigned, zone.now())
            .unwrap_err();
        assert!(matches!(err, SignatureProblem::Unsigned { .. }), "{err}");
    }

    #[test]
    fn a_wildcard_expanded_signature_is_refused_unless_its_proof_is_checked() {
        // Found on the old main: any RRSIG with fewer labels than the owner was accepted.
        let zone = TestZone::new("example.test.");
        let wildcard = name("*.example.test.");
        let qname = name("_25._tcp.mail.example.test.");
        let at_wildcard = zone.signed(vec![tlsa_record(&wildcard, 300, 0xAA)]);
        let answer: Vec<Record> = at_wildcard.iter().map(|r| expanded(r, &qname)).collect();
        let keys = zone.keys();
        let err = keys
            .verify(&qname, RecordType::TLSA, &answer, zone.now())
            .unwrap_err();
        assert!(
            matches!(&err, SignatureProblem::ExpansionUnproven { wildcard, .. } if wildcard == "*.example.test."),
            "{err}"
        );
        let verified = keys
            .verify_allowing_expansion(&qname, RecordType::TLSA, &answer, zone.now())
            .unwrap();
        assert_eq!(verified.expanded_from, Some(wildcard.clone()));
        // The record at the wildcard's own name is not an expansion.
        let own = keys
            .verify(&wildcard, RecordType::TLSA, &at_wildcard, zone.now())
            .unwrap();
        assert_eq!(own.expanded_from, None);
    }

    #[test]
    fn nsec_records_signed_by_expansion_are_refused() {
        let zone = TestZone::new("example.test.");
        let wildcard = name("*.example.test.");
        let qname = name("_25._tcp.mail.example.test.");
        let nsec = zone.signed(vec![nsec_record(
            &wildcard,
            &name("mail.example.test."),
            &[RecordType::TXT],
            300,
        )]);
        let replayed: Vec<Record> = nsec.iter().map(|r| expanded(r, &qname)).collect();
        let err = zone
            .keys()
            .verify_allowing_expansion(&qname, RecordType::NSEC, &replayed, zone.now())
            .unwrap_err();
        assert!(
            matches!(err, SignatureProblem::ExpandedNotAllowed { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("replayed"), "{err}");
    }

    #[test]
    fn a_key_set_is_not_used_after_its_signature_expires() {
        // Found on the old main: a validated key set was used for as long as the run lasted.
        let mut zone = TestZone::new("example.test.");
        zone.set_validity(zone.inception(), zone.now() + Duration::from_secs(600));
        let keys = zone.keys();
        zone.set_validity(zone.inception(), zone.now() + Duration::from_secs(86400));
        let owner = name("_25._tcp.mail.example.test.");
        let records = zone.signed(vec![tlsa_record(&owner, 300, 0xAA)]);
        let before = zone.now() + Duration::from_secs(599);
        assert!(keys.valid_at(before));
        assert!(
            keys.verify(&owner, RecordType::TLSA, &records, before)
                .is_ok()
        );
        let after = zone.now() + Duration::from_secs(601);
        assert!(!keys.valid_at(after));
        let err = keys
            .verify(&owner, RecordType::TLSA, &records, after)
            .unwrap_err();
        assert!(matches!(err, SignatureProblem::KeysExpired { .. }), "{err}");
        assert!(err.to_string().contains("validated again"), "{err}");
    }
}
