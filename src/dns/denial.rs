//! Proving that something is *not* there: NSEC (RFC 4035 §5.4) and NSEC3 (RFC 5155 §8).
//!
//! "The old record is gone" and "this name had no TLSA" are claims daneroll acts on, so a bare
//! NXDOMAIN or empty answer is not enough: an attacker or a broken server could send one. Each
//! server's negative answer must carry signed NSEC or NSEC3 records that prove the absence, and
//! the same check tells the chain walk whether a parent really has no DS for a child (an
//! insecure delegation) or is hiding one (bogus).
//!
//! The same records also complete a positive answer synthesized from a wildcard: such an
//! RRset proves nothing alone, since a replayed wildcard answer could stand in for a name that
//! exists, unless an NSEC (RFC 4035 §5.3.4) or NSEC3 (RFC 5155 §8.8) shows that no closer name
//! exists ([`verify_answer`]). Only class IN records are read, and NSEC/NSEC3 records must be
//! signed at their own name: one signed by expansion is a wildcard's NSEC replayed elsewhere.

use std::time::SystemTime;

use hickory_proto::dnssec::Nsec3HashAlgorithm;
use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC, NSEC3};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::dnssec::{SignatureProblem, Verified, ZoneKeys};

/// NSEC3 iteration counts above this are treated as unprovable (RFC 9276 §3.2 lets validators
/// refuse costly chains; 150 is unbound's and BIND's limit).
const MAX_NSEC3_ITERATIONS: u16 = 150;

/// What a valid denial proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialKind {
    /// The name exists but has no record of the type (NOERROR, empty answer).
    NoData,
    /// The name does not exist (NXDOMAIN) and no wildcard could produce it.
    NxDomain,
    /// NSEC3 opt-out (RFC 5155 §6): the name is not in the signed chain; it may only exist as
    /// an unsigned delegation. For a DS query this proves an insecure delegation.
    OptOut,
}

/// A verified proof of absence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// What was proven.
    pub kind: DenialKind,
    /// When the first of the signatures the proof rests on expires.
    pub expires: SystemTime,
}

/// Why a negative answer does not prove anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DenialProblem {
    #[error("the negative answer for {qname} {qtype} carries no NSEC or NSEC3 records")]
    NoProof { qname: String, qtype: RecordType },
    #[error("the NSEC/NSEC3 records do not prove that {qname} {qtype} is absent: {reason}")]
    NotProven {
        qname: String,
        qtype: RecordType,
        reason: &'static str,
    },
    #[error(
        "the NSEC3 chain of {zone} uses {iterations} iterations (more than {MAX_NSEC3_ITERATIONS}; RFC 9276)"
    )]
    TooManyIterations { zone: String, iterations: u16 },
    #[error("{0}")]
    Signature(Box<SignatureProblem>),
}

/// Verifies that `authority` (the authority section of a negative answer from `keys`' zone)
/// proves that `qname`/`qtype` does not exist. `nxdomain` is whether the RCODE said NXDOMAIN.
pub fn verify_denial(
    qname: &Name,
    qtype: RecordType,
    nxdomain: bool,
    authority: &[Record],
    keys: &ZoneKeys,
    now: SystemTime,
) -> Result<Denial, DenialProblem> {
    let zone = keys.zone();
    let (nsecs, nsec3s) = proof_records(zone, authority);
    let not_proven = |reason| DenialProblem::NotProven {
        qname: qname.to_string(),
        qtype,
        reason,
    };
    let (kind, used) = if !nsecs.is_empty() {
        nsec_proof(qname, qtype, nxdomain, &nsecs).map_err(not_proven)?
    } else if !nsec3s.is_empty() {
        nsec3_proof(qname, qtype, nxdomain, zone, &nsec3s)?
    } else {
        return Err(DenialProblem::NoProof {
            qname: qname.to_string(),
            qtype,
        });
    };
    let rtype = if nsecs.is_empty() {
        RecordType::NSEC3
    } else {
        RecordType::NSEC
    };
    let mut expires: Option<SystemTime> = None;
    for owner in used {
        let verified = keys
            .verify(&owner, rtype, authority, now)
            .map_err(|p| DenialProblem::Signature(Box::new(p)))?;
        expires = Some(expires.map_or(verified.expires, |e| e.min(verified.expires)));
    }
    Ok(Denial {
        kind,
        // invariant: every proof uses at least one record.
        expires: expires.expect("a proof uses at least one record"),
    })
}

/// The NSEC and NSEC3 records of `zone` in `authority`, class IN only.
fn proof_records<'a>(
    zone: &Name,
    authority: &'a [Record],
) -> (Vec<(&'a Name, &'a NSEC)>, Vec<(&'a Name, &'a NSEC3)>) {
    let records = authority.iter().filter(|r| r.dns_class == DNSClass::IN);
    let nsecs = records
        .clone()
        .filter(|r| zone.zone_of(&r.name))
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::NSEC(nsec)) => Some((&r.name, nsec)),
            _ => None,
        })
        .collect();
    let nsec3s = records
        .filter(|r| r.name.base_name() == *zone)
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::NSEC3(nsec3)) => Some((&r.name, nsec3)),
            _ => None,
        })
        .collect();
    (nsecs, nsec3s)
}

/// Verifies the positive answer `owner`/`rtype` in `answers` against `keys`. When its RRSIG
/// was made for a wildcard, `authority` must hold the signed NSEC (RFC 4035 §5.3.4) or NSEC3
/// (RFC 5155 §8.8) that no closer name exists; the proof's expiry then bounds the answer's.
pub fn verify_answer(
    owner: &Name,
    rtype: RecordType,
    answers: &[Record],
    authority: &[Record],
    keys: &ZoneKeys,
    now: SystemTime,
) -> Result<Verified, SignatureProblem> {
    let mut verified = keys.verify_allowing_expansion(owner, rtype, answers, now)?;
    let Some(wildcard) = verified.expanded_from.clone() else {
        return Ok(verified);
    };
    let unproven = |reason: String| SignatureProblem::ExpansionUnproven {
        owner: owner.to_string(),
        rtype,
        wildcard: wildcard.to_string(),
        reason,
    };
    let proof_expires =
        no_closer_match(owner, &wildcard, authority, keys, now).map_err(unproven)?;
    verified.expires = verified.expires.min(proof_expires);
    Ok(verified)
}

/// Proves that no name closer to `qname` than the wildcard's encloser exists: the next closer
/// name (the encloser plus one label of `qname`) is covered by a signed NSEC or NSEC3.
fn no_closer_match(
    qname: &Name,
    wildcard: &Name,
    authority: &[Record],
    keys: &ZoneKeys,
    now: SystemTime,
) -> Result<SystemTime, String> {
    let zone = keys.zone();
    let encloser = wildcard.base_name();
    let next_closer = qname.trim_to(encloser.num_labels() as usize + 1);
    let (nsecs, nsec3s) = proof_records(zone, authority);
    let (owner, rtype) = if !nsecs.is_empty() {
        let (owner, _) = nsecs
            .iter()
            .find(|(owner, nsec)| {
                let next = nsec.next_domain_name();
                nsec_covers(owner, next, &next_closer)
                    && !next_closer.zone_of(owner)
                    && !next_closer.zone_of(next)
            })
            .ok_or_else(|| format!("no NSEC covers {next_closer}"))?;
        ((*owner).clone(), RecordType::NSEC)
    } else if !nsec3s.is_empty() {
        let chain = Nsec3Chain::new(zone, &nsec3s).map_err(|e| e.to_string())?;
        let (owner, _) = chain
            .covering(&next_closer)
            .ok_or_else(|| format!("no NSEC3 covers the next closer name {next_closer}"))?;
        (owner.clone(), RecordType::NSEC3)
    } else {
        return Err("the answer carries no NSEC or NSEC3 records".into());
    };
    keys.verify(&owner, rtype, authority, now)
        .map(|v| v.expires)
        .map_err(|problem| problem.to_string())
}

/// `name` lies strictly between `owner` and `next` in canonical order (RFC 4034 §6.1); the last
/// NSEC of a zone points back to the apex and covers everything after its owner.
fn nsec_covers(owner: &Name, next: &Name, name: &Name) -> bool {
    if owner < next {
        owner < name && name < next
    } else {
        name > owner || name < next
    }
}

/// The longest name that is an ancestor of (or equal to) both.
fn common_ancestor(a: &Name, b: &Name) -> Name {
    let mut labels = a.num_labels().min(b.num_labels()) as usize;
    loop {
        let candidate = a.trim_to(labels);
        if candidate == b.trim_to(labels) || labels == 0 {
            return candidate;
        }
        labels -= 1;
    }
}

fn wildcard_of(name: &Name) -> Option<Name> {
    name.prepend_label("*").ok()
}

type Proof = (DenialKind, Vec<Name>);

fn nsec_proof(
    qname: &Name,
    qtype: RecordType,
    nxdomain: bool,
    nsecs: &[(&Name, &NSEC)],
) -> Result<Proof, &'static str> {
    if !nxdomain {
        if let Some((owner, nsec)) = nsecs.iter().find(|(owner, _)| *owner == qname) {
            let types: Vec<RecordType> = nsec.type_bit_maps().collect();
            if types.contains(&qtype) || types.contains(&RecordType::CNAME) {
                return Err("the NSEC at the name lists the type as present");
            }
            if qtype == RecordType::DS && types.contains(&RecordType::SOA) && !qname.is_root() {
                return Err("the NSEC comes from the child zone's apex, not from the parent");
            }
            return Ok((DenialKind::NoData, vec![(*owner).clone()]));
        }
        // An empty non-terminal: the name exists only because names below it do.
        let ent = nsecs.iter().find(|(owner, nsec)| {
            nsec_covers(owner, nsec.next_domain_name(), qname)
                && qname.zone_of(nsec.next_domain_name())
                && nsec.next_domain_name() != qname
        });
        return match ent {
            Some((owner, _)) => Ok((DenialKind::NoData, vec![(*owner).clone()])),
            None => Err("no NSEC matches the name or shows it is an empty non-terminal"),
        };
    }
    let (owner, nsec) = nsecs
        .iter()
        .find(|(owner, nsec)| nsec_covers(owner, nsec.next_domain_name(), qname))
        .ok_or("no NSEC covers the name")?;
    let below_delegation = owner.zone_of(qname) && {
        let types: Vec<RecordType> = nsec.type_bit_maps().collect();
        (types.contains(&RecordType::NS) && !types.contains(&RecordType::SOA))
            || types.contains(&RecordType::DNAME)
    };
    if below_delegation {
        return Err("the covering NSEC shows a delegation or DNAME above the name");
    }
    let encloser = {
        let a = common_ancestor(qname, owner);
        let b = common_ancestor(qname, nsec.next_domain_name());
        if a.num_labels() >= b.num_labels() {
            a
        } else {
            b
        }
    };
    let wildcard = wildcard_of(&encloser).ok_or("cannot form the wildcard name")?;
    let (wild_owner, _) = nsecs
        .iter()
        .find(|(o, n)| nsec_covers(o, n.next_domain_name(), &wildcard))
        .ok_or("no NSEC denies the wildcard at the closest encloser")?;
    let mut used = vec![(*owner).clone()];
    if *wild_owner != *owner {
        used.push((*wild_owner).clone());
    }
    Ok((DenialKind::NxDomain, used))
}

struct Nsec3Chain<'a> {
    records: Vec<(Vec<u8>, &'a Name, &'a NSEC3)>,
    salt: Vec<u8>,
    iterations: u16,
}

impl<'a> Nsec3Chain<'a> {
    fn new(zone: &Name, nsec3s: &[(&'a Name, &'a NSEC3)]) -> Result<Self, DenialProblem> {
        let (_, first) = nsec3s[0];
        let salt = first.salt().to_vec();
        let iterations = first.iterations();
        if iterations > MAX_NSEC3_ITERATIONS {
            return Err(DenialProblem::TooManyIterations {
                zone: zone.to_string(),
                iterations,
            });
        }
        let records = nsec3s
            .iter()
            .filter(|(_, n)| {
                n.hash_algorithm() == Nsec3HashAlgorithm::SHA1
                    && n.salt() == salt.as_slice()
                    && n.iterations() == iterations
            })
            .filter_map(|(owner, n)| {
                let label = owner.iter().next()?;
                let text = String::from_utf8_lossy(label).to_ascii_lowercase();
                let hash = data_encoding::BASE32_DNSSEC.decode(text.as_bytes()).ok()?;
                Some((hash, *owner, *n))
            })
            .collect();
        Ok(Self {
            records,
            salt,
            iterations,
        })
    }

    fn hash(&self, name: &Name) -> Option<Vec<u8>> {
        Nsec3HashAlgorithm::SHA1
            .hash(&self.salt, name, self.iterations)
            .ok()
            .map(|d| d.as_ref().to_vec())
    }

    fn matching(&self, name: &Name) -> Option<(&'a Name, &'a NSEC3)> {
        let hash = self.hash(name)?;
        self.records
            .iter()
            .find(|(h, _, _)| *h == hash)
            .map(|(_, o, n)| (*o, *n))
    }

    fn covering(&self, name: &Name) -> Option<(&'a Name, &'a NSEC3)> {
        let hash = self.hash(name)?;
        self.records
            .iter()
            .find(|(owner, _, n)| {
                let next = n.next_hashed_owner_name();
                if owner.as_slice() < next {
                    owner.as_slice() < hash.as_slice() && hash.as_slice() < next
                } else {
                    hash.as_slice() > owner.as_slice() || hash.as_slice() < next
                }
            })
            .map(|(_, o, n)| (*o, *n))
    }

    /// RFC 5155 §8.3: the closest encloser (matched) and the NSEC3 covering the next closer name.
    fn closest_encloser(
        &self,
        qname: &Name,
        zone: &Name,
    ) -> Option<(Name, &'a Name, &'a Name, &'a NSEC3)> {
        let mut labels = qname.num_labels();
        while labels > zone.num_labels() {
            let next_closer = qname.trim_to(labels as usize);
            let candidate = qname.trim_to(labels as usize - 1);
            if let Some((matched, _)) = self.matching(&candidate) {
                let (covering, nsec3) = self.covering(&next_closer)?;
                return Some((candidate, matched, covering, nsec3));
            }
            labels -= 1;
        }
        None
    }
}

fn nsec3_proof(
    qname: &Name,
    qtype: RecordType,
    nxdomain: bool,
    zone: &Name,
    nsec3s: &[(&Name, &NSEC3)],
) -> Result<Proof, DenialProblem> {
    let chain = Nsec3Chain::new(zone, nsec3s)?;
    let not_proven = |reason| DenialProblem::NotProven {
        qname: qname.to_string(),
        qtype,
        reason,
    };
    if !nxdomain {
        if let Some((owner, nsec3)) = chain.matching(qname) {
            let types: Vec<RecordType> = nsec3.type_bit_maps().collect();
            if types.contains(&qtype) || types.contains(&RecordType::CNAME) {
                return Err(not_proven(
                    "the NSEC3 at the name lists the type as present",
                ));
            }
            if qtype == RecordType::DS && types.contains(&RecordType::SOA) {
                return Err(not_proven(
                    "the NSEC3 comes from the child zone's apex, not from the parent",
                ));
            }
            return Ok((DenialKind::NoData, vec![owner.clone()]));
        }
        if qtype == RecordType::DS {
            // RFC 5155 §8.6: no matching NSEC3, but the next closer name is in an opt-out span.
            let (_, matched, covering, nsec3) = chain
                .closest_encloser(qname, zone)
                .ok_or_else(|| not_proven("no closest encloser proof"))?;
            if nsec3.opt_out() {
                return Ok((DenialKind::OptOut, vec![matched.clone(), covering.clone()]));
            }
            return Err(not_proven(
                "no NSEC3 matches the name and the span is not opt-out",
            ));
        }
        return Err(not_proven("no NSEC3 matches the name"));
    }
    let (encloser, matched, covering, nsec3) = chain
        .closest_encloser(qname, zone)
        .ok_or_else(|| not_proven("no closest encloser proof"))?;
    let wildcard = wildcard_of(&encloser).ok_or_else(|| not_proven("bad wildcard name"))?;
    let (wild_owner, _) = chain
        .covering(&wildcard)
        .ok_or_else(|| not_proven("no NSEC3 denies the wildcard at the closest encloser"))?;
    let mut used = vec![matched.clone(), covering.clone()];
    if !used.contains(wild_owner) {
        used.push(wild_owner.clone());
    }
    let kind = if nsec3.opt_out() {
        DenialKind::OptOut
    } else {
        DenialKind::NxDomain
    };
    Ok((kind, used))
}

#[cfg(test)]
#[path = "denial_tests.rs"]
mod tests;
