//! DANE authentication of a presented chain, as an SMTP client does it (RFC 7672 §3), without
//! I/O: the same answer a DANE-enforcing Postfix would reach, with the reason spelled out.
//!
//! - Only DANE-TA(2) and DANE-EE(3) are usable for SMTP; PKIX-TA(0) and PKIX-EE(1) records are
//!   unusable (RFC 7672 §3.1.3), as are unknown usages, selectors and matching types (RFC 6698
//!   §4.1: records with unsupported parameters are ignored).
//! - DANE-EE(3) matches the leaf's certificate or public key, nothing else: names, dates and
//!   the rest of the chain are ignored (RFC 7672 §3.1.1; RFC 7671 §5.1).
//! - DANE-TA(2) matches a certificate in the chain the server sends (RFC 7672 §3.1.2: servers
//!   MUST include the trust anchor); the leaf must then chain to it through the presented
//!   certificates with valid signatures, dates and CA flags, and carry a name that matches the
//!   MX host (RFC 7672 §3.2.2: the reference identifiers; §3.2.3: SAN dNSName, a wildcard only
//!   as the whole left-most label, the subject CN only when there is no dNSName).
//! - Digest agility (RFC 7671 §9): for each usage and selector only records of the strongest
//!   digest present count (SHA-512 over SHA-256); Full(0) is not a digest and always counts.
//!   A weaker record that would have matched is reported as superseded: that is the trap that
//!   makes "every mtype you publish must match on its own" a rule.
//!
//! Digests are computed over the bytes as the certificate encodes them (the SPKI is taken raw,
//! never re-encoded), exactly what the records were computed from.

use std::collections::BTreeMap;
use std::fmt;

use daneroll_providers::Tlsa;
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256, Sha512};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
use x509_parser::time::ASN1Time;

/// The longest chain we follow from leaf to anchor.
const MAX_PATH: usize = 10;

/// The two usages SMTP uses (RFC 7672 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum DaneUsage {
    /// 2: a trust anchor in the chain; name checks apply.
    #[serde(rename = "DANE-TA")]
    DaneTa,
    /// 3: the leaf itself; no name or date checks.
    #[serde(rename = "DANE-EE")]
    DaneEe,
}

/// A record that authenticated the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    /// The record.
    pub record: Tlsa,
    /// Its usage.
    pub usage: DaneUsage,
    /// Position in the presented chain of the certificate it matched (0 = leaf).
    pub depth: usize,
}

/// What became of one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordVerdict {
    /// The record authenticates the chain; it matched the certificate at `depth`.
    Matched {
        /// Chain position of the matched certificate.
        depth: usize,
    },
    /// Usage 0 or 1: unusable for SMTP (RFC 7672 §3.1.3).
    PkixUsage,
    /// A usage, selector or matching type this client does not know (ignored).
    UnknownParameters,
    /// Ignored by digest agility: a stronger matching type is present for the same usage and
    /// selector. `would_match` says whether it would have matched on its own.
    Superseded {
        /// The matching type that took precedence.
        by_mtype: u8,
        /// Whether this record alone would have matched a presented certificate.
        would_match: bool,
    },
    /// The data equals nothing presented (for DANE-EE: not the leaf).
    NoMatch,
    /// DANE-TA: the anchor is at `depth`, but the leaf does not chain to it.
    BrokenChain {
        /// Chain position of the anchor.
        depth: usize,
        /// What is wrong.
        problem: ChainProblem,
    },
    /// DANE-TA: the chain is fine, but the leaf's names do not cover the MX host.
    NameMismatch {
        /// Chain position of the anchor.
        depth: usize,
        /// The names the leaf carries.
        presented: Vec<String>,
    },
}

/// Why a leaf does not chain to a DANE-TA anchor.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainProblem {
    /// A certificate on the path cannot be parsed.
    #[error("certificate at depth {depth} cannot be parsed")]
    Unparseable {
        /// Chain position.
        depth: usize,
    },
    /// No presented certificate with the right subject signed the one at `depth`.
    #[error("no presented certificate issued the one at depth {depth} (issuer {issuer})")]
    NoIssuer {
        /// Chain position of the orphan.
        depth: usize,
        /// Its issuer name.
        issuer: String,
    },
    /// An issuer on the path is not a CA (basicConstraints).
    #[error("certificate at depth {depth} is not a CA")]
    NotCa {
        /// Chain position.
        depth: usize,
    },
    /// A certificate on the path is expired or not yet valid.
    #[error("certificate at depth {depth} is outside its validity ({not_before} to {not_after})")]
    OutsideValidity {
        /// Chain position.
        depth: usize,
        /// Start of validity.
        not_before: String,
        /// End of validity.
        not_after: String,
    },
    /// The path is longer than we follow.
    #[error("no path of at most {MAX_PATH} certificates")]
    TooLong,
}

/// One record and its verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordOutcome {
    /// The record as published.
    pub record: Tlsa,
    /// What happened to it.
    pub verdict: RecordVerdict,
}

impl fmt::Display for RecordOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let record = self.record.short();
        match &self.verdict {
            RecordVerdict::Matched { depth } => write!(f, "{record}: matches at depth {depth}"),
            RecordVerdict::PkixUsage => write!(f, "{record}: usage 0/1 is unusable for SMTP"),
            RecordVerdict::UnknownParameters => write!(f, "{record}: unknown parameters, ignored"),
            RecordVerdict::Superseded {
                by_mtype,
                would_match,
            } => write!(
                f,
                "{record}: ignored, matching type {by_mtype} is present (digest agility){}",
                if *would_match { "; it would match" } else { "" }
            ),
            RecordVerdict::NoMatch => write!(f, "{record}: matches no presented certificate"),
            RecordVerdict::BrokenChain { depth, problem } => {
                write!(f, "{record}: anchor at depth {depth}, but {problem}")
            }
            RecordVerdict::NameMismatch { depth, presented } => write!(
                f,
                "{record}: anchor at depth {depth}, but the leaf names ({}) do not match",
                presented.join(", ")
            ),
        }
    }
}

/// The verdict on a chain against a TLSA RRset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaneReport {
    /// Every record, in RRset order, with its verdict.
    pub outcomes: Vec<RecordOutcome>,
}

impl DaneReport {
    /// The first record that authenticates the chain (DANE-EE preferred).
    pub fn matched(&self) -> Option<Match> {
        let matches = self.outcomes.iter().filter_map(|o| match o.verdict {
            RecordVerdict::Matched { depth } => Some(Match {
                record: o.record.clone(),
                usage: if o.record.usage == 3 {
                    DaneUsage::DaneEe
                } else {
                    DaneUsage::DaneTa
                },
                depth,
            }),
            _ => None,
        });
        let mut all: Vec<Match> = matches.collect();
        all.sort_by_key(|m| m.usage == DaneUsage::DaneTa);
        all.into_iter().next()
    }

    /// Whether any record is usable for SMTP at all (otherwise a sender does not do DANE).
    pub fn has_usable_records(&self) -> bool {
        self.outcomes.iter().any(|o| {
            !matches!(
                o.verdict,
                RecordVerdict::PkixUsage | RecordVerdict::UnknownParameters
            )
        })
    }

    /// One line: which record matched at which depth, or why none did.
    pub fn summary(&self) -> String {
        if let Some(m) = self.matched() {
            return format!("{} matches at depth {}", m.record.short(), m.depth);
        }
        if !self.has_usable_records() {
            return "no usable TLSA records (usage 2 or 3)".into();
        }
        let reasons: Vec<String> = self.outcomes.iter().map(ToString::to_string).collect();
        format!("no record matches: {}", reasons.join("; "))
    }
}

/// Authenticates `chain` (leaf first, as sent) against `records` for an MX host whose reference
/// identifiers are `names` (the MX host name, and the original name if a CNAME was followed),
/// at time `now` (used for DANE-TA only).
pub fn authenticate(
    chain: &[CertificateDer<'_>],
    records: &[Tlsa],
    names: &[&str],
    now: OffsetDateTime,
) -> DaneReport {
    let parsed: Vec<Option<X509Certificate<'_>>> = chain
        .iter()
        .map(|der| X509Certificate::from_der(der).ok().map(|(_, cert)| cert))
        .collect();
    let chain = Chain {
        der: chain,
        parsed: &parsed,
    };
    let strongest = strongest_digests(records);
    let outcomes = records
        .iter()
        .map(|record| RecordOutcome {
            record: record.clone(),
            verdict: verdict(&chain, record, &strongest, names, now),
        })
        .collect();
    DaneReport { outcomes }
}

struct Chain<'c, 'a> {
    der: &'c [CertificateDer<'a>],
    parsed: &'c [Option<X509Certificate<'a>>],
}

impl Chain<'_, '_> {
    /// Whether the certificate at `depth` matches the record's selector and data.
    fn matches(&self, depth: usize, record: &Tlsa) -> bool {
        let selected: &[u8] = match record.selector {
            0 => &self.der[depth],
            _ => match &self.parsed[depth] {
                Some(cert) => cert.public_key().raw,
                None => return false,
            },
        };
        match record.mtype {
            0 => selected == record.data.as_slice(),
            1 => Sha256::digest(selected).as_slice() == record.data.as_slice(),
            _ => Sha512::digest(selected).as_slice() == record.data.as_slice(),
        }
    }

    fn len(&self) -> usize {
        self.der.len()
    }
}

fn usable(record: &Tlsa) -> bool {
    matches!(record.usage, 2 | 3) && matches!(record.selector, 0 | 1) && record.mtype <= 2
}

/// For each (usage, selector), the strongest digest matching type present (RFC 7671 §9).
fn strongest_digests(records: &[Tlsa]) -> BTreeMap<(u8, u8), u8> {
    let mut strongest = BTreeMap::new();
    for record in records.iter().filter(|r| usable(r) && r.mtype != 0) {
        let entry = strongest
            .entry((record.usage, record.selector))
            .or_insert(record.mtype);
        *entry = (*entry).max(record.mtype);
    }
    strongest
}

fn verdict(
    chain: &Chain<'_, '_>,
    record: &Tlsa,
    strongest: &BTreeMap<(u8, u8), u8>,
    names: &[&str],
    now: OffsetDateTime,
) -> RecordVerdict {
    if matches!(record.usage, 0 | 1) {
        return RecordVerdict::PkixUsage;
    }
    if !usable(record) {
        return RecordVerdict::UnknownParameters;
    }
    let verdict = match record.usage {
        3 if chain.len() > 0 && chain.matches(0, record) => RecordVerdict::Matched { depth: 0 },
        3 => RecordVerdict::NoMatch,
        _ => trust_anchor_verdict(chain, record, names, now),
    };
    match strongest.get(&(record.usage, record.selector)) {
        Some(&by_mtype) if record.mtype != 0 && record.mtype < by_mtype => {
            RecordVerdict::Superseded {
                by_mtype,
                would_match: matches!(verdict, RecordVerdict::Matched { .. }),
            }
        }
        _ => verdict,
    }
}

/// DANE-TA: find the anchor in the chain, a path from the leaf to it, and the name.
fn trust_anchor_verdict(
    chain: &Chain<'_, '_>,
    record: &Tlsa,
    names: &[&str],
    now: OffsetDateTime,
) -> RecordVerdict {
    let mut first_failure = None;
    for depth in (0..chain.len()).filter(|d| chain.matches(*d, record)) {
        let verdict = match path_to_anchor(chain, depth, now) {
            Err(problem) => RecordVerdict::BrokenChain { depth, problem },
            Ok(()) => match &chain.parsed[0] {
                Some(leaf) if name_matches(leaf, names) => RecordVerdict::Matched { depth },
                Some(leaf) => RecordVerdict::NameMismatch {
                    depth,
                    presented: leaf_names(leaf),
                },
                None => RecordVerdict::BrokenChain {
                    depth,
                    problem: ChainProblem::Unparseable { depth: 0 },
                },
            },
        };
        if matches!(verdict, RecordVerdict::Matched { .. }) {
            return verdict;
        }
        first_failure.get_or_insert(verdict);
    }
    first_failure.unwrap_or(RecordVerdict::NoMatch)
}

/// Walks issuers from the leaf up to the certificate at `anchor`, checking signatures, CA flags
/// and dates of every certificate on the way (the anchor included).
fn path_to_anchor(
    chain: &Chain<'_, '_>,
    anchor: usize,
    now: OffsetDateTime,
) -> Result<(), ChainProblem> {
    let now = ASN1Time::new(now);
    let mut current = 0;
    let mut visited = vec![0];
    loop {
        let cert = chain.parsed[current]
            .as_ref()
            .ok_or(ChainProblem::Unparseable { depth: current })?;
        let validity = cert.validity();
        if !validity.is_valid_at(now) {
            return Err(ChainProblem::OutsideValidity {
                depth: current,
                not_before: validity.not_before.to_string(),
                not_after: validity.not_after.to_string(),
            });
        }
        if current != 0 && !cert.is_ca() {
            return Err(ChainProblem::NotCa { depth: current });
        }
        if current == anchor {
            return Ok(());
        }
        if visited.len() > MAX_PATH {
            return Err(ChainProblem::TooLong);
        }
        // Prefer the anchor itself as issuer, then any other presented certificate.
        let candidates = std::iter::once(anchor).chain(0..chain.len());
        let issuer = candidates
            .filter(|i| !visited.contains(i))
            .find(|&i| issued(chain.parsed[i].as_ref(), cert));
        match issuer {
            Some(next) => {
                visited.push(next);
                current = next;
            }
            None => {
                return Err(ChainProblem::NoIssuer {
                    depth: current,
                    issuer: cert.issuer().to_string(),
                });
            }
        }
    }
}

fn issued(issuer: Option<&X509Certificate<'_>>, cert: &X509Certificate<'_>) -> bool {
    issuer.is_some_and(|issuer| {
        issuer.subject().as_raw() == cert.issuer().as_raw()
            && cert.verify_signature(Some(issuer.public_key())).is_ok()
    })
}

/// The leaf's DNS names: SAN dNSNames, or the subject CNs when there are none.
pub fn leaf_names(leaf: &X509Certificate<'_>) -> Vec<String> {
    let mut names: Vec<String> = match leaf.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some(normalise(dns)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if names.is_empty() {
        names = leaf
            .subject()
            .iter_common_name()
            .filter_map(|cn| cn.as_str().ok())
            .map(normalise)
            .collect();
    }
    names
}

fn name_matches(leaf: &X509Certificate<'_>, references: &[&str]) -> bool {
    let presented = leaf_names(leaf);
    references.iter().any(|reference| {
        let reference = normalise(reference);
        presented
            .iter()
            .any(|pattern| host_matches(pattern, &reference))
    })
}

/// RFC 7672 §3.2.3 / RFC 6125 §6.4.3: exact (case-insensitive) or `*` as the entire left-most
/// label, matching exactly one label.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let pattern = normalise(pattern);
    let host = normalise(host);
    if let Some(parent) = pattern.strip_prefix("*.") {
        // The wildcard never stands for a public suffix-like single label ("*.com").
        return parent.contains('.')
            && !parent.contains('*')
            && host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == parent);
    }
    !pattern.contains('*') && pattern == host
}

fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
#[path = "dane_tests.rs"]
mod tests;
