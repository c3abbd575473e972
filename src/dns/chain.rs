//! The chain of trust from a trust anchor down to one zone (RFC 4033 §5, RFC 4035 §5.1–5.2).
//!
//! Walked once per run, top-down: the anchor validates the DNSKEY RRset of the anchored zone;
//! at each zone cut below it the parent's signed DS RRset (or its signed proof that there is
//! none) decides whether the child's DNSKEY RRset is trusted. The data comes from a recursive
//! resolver asked with CD set (RFC 4035 §3.2.2) so that a broken zone still yields the records
//! that show *why* it is broken; every signature is checked here, not by the resolver.
//!
//! The outcome is a [`ZoneStatus`] naming the first broken link, because that is what the
//! operator has to fix: a missing DS at the registrar, an unsigned zone, a DS that matches no
//! key after a botched key roll.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::SystemTime;

use hickory_proto::dnssec::DigestType;
use hickory_proto::dnssec::rdata::{DNSSECRData, DS};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::denial::{DenialProblem, verify_denial};
use super::dnssec::{SignatureProblem, ZoneKeys, dnskey, rrset_of};
use super::transport::{QueryError, Question, Transport};
use super::trust_anchor::{TrustAnchors, ds_matches};

/// Whether a zone's DNSKEY RRset is proven, and if not, where the chain breaks.
#[derive(Debug, Clone)]
pub enum ZoneStatus {
    /// An unbroken chain from a trust anchor: the validated keys.
    Secure(ZoneKeys),
    /// Validators treat the zone as unsigned: TLSA records in it are ignored.
    Insecure(InsecureLink),
    /// Validators reject the zone's answers: mail to it is deferred.
    Bogus(BogusLink),
}

impl ZoneStatus {
    /// The validated keys, if secure.
    pub fn keys(&self) -> Option<&ZoneKeys> {
        match self {
            Self::Secure(keys) => Some(keys),
            _ => None,
        }
    }

    /// One word: secure, insecure or bogus.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Secure(_) => "secure",
            Self::Insecure(_) => "insecure",
            Self::Bogus(_) => "bogus",
        }
    }
}

/// Where an insecure chain stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsecureLink {
    /// No configured trust anchor is at or above the zone.
    NoTrustAnchor { zone: String, anchors: String },
    /// The parent proves it has no DS for the child (RFC 4035 §5.2).
    NoDs {
        parent: String,
        child: String,
        child_signed: bool,
    },
    /// Every DS for the child uses an algorithm or digest daneroll cannot validate
    /// (RFC 4035 §5.2: treated as insecure).
    UnsupportedAlgorithms { parent: String, child: String },
}

/// Where and why a chain is bogus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BogusLink {
    /// The zone whose keys could not be proven.
    pub zone: String,
    /// What is wrong.
    pub reason: BogusReason,
}

/// Why a link of the chain does not validate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BogusReason {
    /// The trust anchor matches no key that signs the anchored zone's DNSKEY RRset.
    AnchorMismatch(SignatureProblem),
    /// The parent's DS RRset does not validate.
    DsInvalid {
        parent: String,
        problem: SignatureProblem,
    },
    /// The parent answers "no DS" without a valid proof.
    DsDenialInvalid {
        parent: String,
        problem: DenialProblem,
    },
    /// The parent has a DS but the zone serves no DNSKEY.
    NoDnskey { parent: String },
    /// No DNSKEY of the zone matches a DS at the parent.
    NoMatchingKey {
        parent: String,
        ds_tags: Vec<u16>,
        key_tags: Vec<u16>,
    },
    /// The DNSKEY RRset is not validly signed by the key the DS points to.
    DnskeyInvalid { problem: SignatureProblem },
}

impl fmt::Display for InsecureLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoTrustAnchor { zone, anchors } => write!(
                f,
                "no trust anchor covers {zone} (anchors: {anchors}); set [validation] trust_anchor_file"
            ),
            Self::NoDs {
                parent,
                child,
                child_signed: false,
            } => write!(
                f,
                "zone {child} is not signed (it has no DNSKEY records) and its parent {parent} has no DS record for it; sign the zone and publish its DS at the parent"
            ),
            Self::NoDs {
                parent,
                child,
                child_signed: true,
            } => write!(
                f,
                "zone {child} is signed but its parent {parent} has no DS record for it; publish the DS (at the registrar or in the parent zone) to complete the chain of trust"
            ),
            Self::UnsupportedAlgorithms { parent, child } => write!(
                f,
                "the DS records for {child} at {parent} use only algorithms or digest types that cannot be validated; validators treat {child} as unsigned"
            ),
        }
    }
}

impl fmt::Display for BogusLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let zone = &self.zone;
        match &self.reason {
            BogusReason::AnchorMismatch(problem) => {
                write!(
                    f,
                    "the trust anchor for {zone} does not validate its DNSKEY RRset: {problem}"
                )
            }
            BogusReason::DsInvalid { parent, problem } => {
                write!(
                    f,
                    "the DS RRset for {zone} at {parent} does not validate: {problem}"
                )
            }
            BogusReason::DsDenialInvalid { parent, problem } => write!(
                f,
                "{parent} says it has no DS for {zone}, but the proof does not validate: {problem}"
            ),
            BogusReason::NoDnskey { parent } => write!(
                f,
                "{parent} has a DS record for {zone}, but {zone} serves no DNSKEY records (unsigned, or DNSSEC stripped)"
            ),
            BogusReason::NoMatchingKey {
                parent,
                ds_tags,
                key_tags,
            } => write!(
                f,
                "no DNSKEY of {zone} matches the DS at {parent} (DS key tags {ds_tags:?}, DNSKEY tags {key_tags:?}); update the DS at the parent or restore the key"
            ),
            BogusReason::DnskeyInvalid { problem } => {
                write!(f, "the DNSKEY RRset of {zone} does not validate: {problem}")
            }
        }
    }
}

impl fmt::Display for ZoneStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Secure(keys) => {
                let tags: Vec<u16> = keys
                    .keys()
                    .iter()
                    .filter_map(|k| k.calculate_key_tag().ok())
                    .collect();
                write!(
                    f,
                    "secure: the chain of trust validates down to {} (DNSKEY tags {tags:?})",
                    keys.zone()
                )
            }
            Self::Insecure(link) => write!(f, "insecure: {link}"),
            Self::Bogus(link) => write!(f, "bogus: {link}"),
        }
    }
}

/// The chain could not be checked at all (as opposed to checked and found broken).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    #[error("resolver {0}")]
    Query(#[from] QueryError),
    #[error("resolver {resolver} answered {question} with {rcode}")]
    Rcode {
        resolver: SocketAddr,
        question: String,
        rcode: String,
    },
    #[error(
        "resolver {resolver} returned no SOA record for {name}: cannot tell which zone holds it"
    )]
    NoZone { resolver: SocketAddr, name: Name },
}

/// Walks chains of trust through one resolver, remembering every zone it has validated.
pub struct ChainWalker<'a, T: Transport> {
    transport: &'a T,
    resolver: SocketAddr,
    anchors: &'a TrustAnchors,
    now: SystemTime,
    known: HashMap<Name, ZoneStatus>,
}

impl<'a, T: Transport> ChainWalker<'a, T> {
    /// A walker asking `resolver`, trusting `anchors`, judging signatures at `now`.
    pub fn new(
        transport: &'a T,
        resolver: SocketAddr,
        anchors: &'a TrustAnchors,
        now: SystemTime,
    ) -> Self {
        Self {
            transport,
            resolver,
            anchors,
            now,
            known: HashMap::new(),
        }
    }

    /// The time signatures are judged at.
    pub fn now(&self) -> SystemTime {
        self.now
    }

    /// The trust anchors this walker starts from.
    pub fn anchors(&self) -> &'a TrustAnchors {
        self.anchors
    }

    async fn ask(&self, name: &Name, rtype: RecordType) -> Result<Message, ChainError> {
        let question = Question::recursive_unchecked(name.clone(), rtype);
        let message = self
            .transport
            .query(self.resolver, question.clone())
            .await?;
        match message.metadata.response_code {
            ResponseCode::NoError | ResponseCode::NXDomain => Ok(message),
            other => Err(ChainError::Rcode {
                resolver: self.resolver,
                question: question.to_string(),
                rcode: super::observation::rcode_name(other),
            }),
        }
    }

    /// The zone that holds `name`: the owner of the SOA the resolver returns (RFC 2308 §3).
    pub async fn zone_of(&self, name: &Name) -> Result<(Name, Option<Record>), ChainError> {
        let message = self.ask(name, RecordType::SOA).await?;
        let soa = message
            .answers
            .iter()
            .chain(message.authorities.iter())
            .find(|r| r.record_type() == RecordType::SOA && r.name.zone_of(name))
            .cloned();
        match soa {
            Some(record) => Ok((record.name.clone(), Some(record))),
            None => Err(ChainError::NoZone {
                resolver: self.resolver,
                name: name.clone(),
            }),
        }
    }

    async fn is_zone_cut(&self, name: &Name) -> Result<bool, ChainError> {
        let message = self.ask(name, RecordType::SOA).await?;
        Ok(message
            .answers
            .iter()
            .any(|r| r.record_type() == RecordType::SOA && r.name == *name))
    }

    /// Validates `zone`'s DNSKEY RRset from the deepest trust anchor above it.
    pub async fn validate(&mut self, zone: &Name) -> Result<ZoneStatus, ChainError> {
        if let Some(status) = self.known.get(zone) {
            return Ok(status.clone());
        }
        let Some(anchor) = self.anchors.closest_to(zone) else {
            return Ok(ZoneStatus::Insecure(InsecureLink::NoTrustAnchor {
                zone: zone.to_string(),
                anchors: self.anchors.source().to_string(),
            }));
        };
        let mut cuts = Vec::new();
        for labels in (anchor.num_labels() + 1)..zone.num_labels() {
            let candidate = zone.trim_to(labels as usize);
            if self.is_zone_cut(&candidate).await? {
                cuts.push(candidate);
            }
        }
        if *zone != anchor {
            cuts.push(zone.clone());
        }
        let mut status = match self.known.get(&anchor) {
            Some(status) => status.clone(),
            None => {
                let status = self.validate_anchored(&anchor).await?;
                self.known.insert(anchor.clone(), status.clone());
                status
            }
        };
        let mut parent = anchor;
        for child in cuts {
            let ZoneStatus::Secure(parent_keys) = &status else {
                break;
            };
            status = match self.known.get(&child) {
                Some(known) => known.clone(),
                None => {
                    let next = self.link(&parent, parent_keys, &child).await?;
                    self.known.insert(child.clone(), next.clone());
                    next
                }
            };
            parent = child;
        }
        self.known.insert(zone.clone(), status.clone());
        Ok(status)
    }

    async fn validate_anchored(&self, zone: &Name) -> Result<ZoneStatus, ChainError> {
        let message = self.ask(zone, RecordType::DNSKEY).await?;
        let anchors = self.anchors;
        Ok(
            match ZoneKeys::validate(
                zone,
                &message.answers,
                |k| anchors.trusts(zone, k),
                self.now,
            ) {
                Ok(keys) => ZoneStatus::Secure(keys),
                Err(problem) => ZoneStatus::Bogus(BogusLink {
                    zone: zone.to_string(),
                    reason: BogusReason::AnchorMismatch(problem),
                }),
            },
        )
    }

    async fn has_dnskey(&self, zone: &Name) -> Result<bool, ChainError> {
        let message = self.ask(zone, RecordType::DNSKEY).await?;
        Ok(rrset_of(&message.answers, zone, RecordType::DNSKEY).any(|r| dnskey(r).is_some()))
    }

    /// One link: the parent's (validated) keys vouch for the child's DNSKEY RRset or not.
    async fn link(
        &self,
        parent: &Name,
        parent_keys: &ZoneKeys,
        child: &Name,
    ) -> Result<ZoneStatus, ChainError> {
        let bogus = |reason| {
            Ok(ZoneStatus::Bogus(BogusLink {
                zone: child.to_string(),
                reason,
            }))
        };
        let ds_reply = self.ask(child, RecordType::DS).await?;
        let ds_set: Vec<DS> = rrset_of(&ds_reply.answers, child, RecordType::DS)
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::DS(ds)) => Some(ds.clone()),
                _ => None,
            })
            .collect();
        if ds_set.is_empty() {
            let nxdomain = ds_reply.metadata.response_code == ResponseCode::NXDomain;
            return match verify_denial(
                child,
                RecordType::DS,
                nxdomain,
                &ds_reply.authorities,
                parent_keys,
                self.now,
            ) {
                Ok(_) => Ok(ZoneStatus::Insecure(InsecureLink::NoDs {
                    parent: parent.to_string(),
                    child: child.to_string(),
                    child_signed: self.has_dnskey(child).await?,
                })),
                Err(problem) => bogus(BogusReason::DsDenialInvalid {
                    parent: parent.to_string(),
                    problem,
                }),
            };
        }
        if let Err(problem) = parent_keys.verify(child, RecordType::DS, &ds_reply.answers, self.now)
        {
            return bogus(BogusReason::DsInvalid {
                parent: parent.to_string(),
                problem,
            });
        }
        let usable = usable_ds(&ds_set);
        if usable.is_empty() {
            return Ok(ZoneStatus::Insecure(InsecureLink::UnsupportedAlgorithms {
                parent: parent.to_string(),
                child: child.to_string(),
            }));
        }
        let key_reply = self.ask(child, RecordType::DNSKEY).await?;
        let key_tags: Vec<u16> = rrset_of(&key_reply.answers, child, RecordType::DNSKEY)
            .filter_map(dnskey)
            .filter_map(|k| k.calculate_key_tag().ok())
            .collect();
        if key_tags.is_empty() {
            return bogus(BogusReason::NoDnskey {
                parent: parent.to_string(),
            });
        }
        let trusted = |k: &_| usable.iter().any(|ds| ds_matches(ds, child, k));
        match ZoneKeys::validate(child, &key_reply.answers, trusted, self.now) {
            Ok(keys) => Ok(ZoneStatus::Secure(keys)),
            Err(SignatureProblem::NoTrustedKey { .. }) => bogus(BogusReason::NoMatchingKey {
                parent: parent.to_string(),
                ds_tags: usable.iter().map(|ds| ds.key_tag()).collect(),
                key_tags,
            }),
            Err(problem) => bogus(BogusReason::DnskeyInvalid { problem }),
        }
    }
}

/// The DS records a validator uses: supported algorithm and digest, and no SHA-1 digest when
/// the RRset also holds a SHA-256 or SHA-384 one (RFC 4509 §3; unbound and BIND likewise use
/// only the strongest digest present), so a weak SHA-1 DS cannot vouch for a key on its own.
pub fn usable_ds(ds_set: &[DS]) -> Vec<&DS> {
    let supported: Vec<&DS> = ds_set
        .iter()
        .filter(|ds| ds.digest_type().is_supported() && ds.algorithm().is_supported())
        .collect();
    let stronger = supported
        .iter()
        .any(|ds| matches!(ds.digest_type(), DigestType::SHA256 | DigestType::SHA384));
    supported
        .into_iter()
        .filter(|ds| !(stronger && ds.digest_type() == DigestType::SHA1))
        .collect()
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
