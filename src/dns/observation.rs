//! What one authoritative address served, judged: the pure half of the observer.
//!
//! The observer sends the queries; everything that decides what an answer *means* lives here,
//! as functions of the reply, the validated zone keys and the time, so that every verdict is
//! unit-tested with scripted replies. An answer counts as serving the change only if it is
//! authoritative (AA, RFC 1035 §4.1.1) and its DNSSEC checks out: the RRSIG over the TLSA RRset
//! (RFC 4035 §5.3) or the NSEC/NSEC3 proof that there is none (RFC 4035 §5.4, RFC 5155 §8).

use std::fmt;
use std::net::SocketAddr;
use std::time::SystemTime;

use daneroll_providers::Tlsa;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use serde::Serialize;

use super::denial::{DenialKind, verify_answer, verify_denial};
use super::dnssec::{ZoneKeys, rrset_of};
use super::safe_time::{ServerState, TtlEvidence};
use super::transport::QueryError;

/// The change being watched: `record` present at the name, or absent from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// The record.
    pub record: Tlsa,
    /// Whether it should be there (publish) or gone (retire).
    pub present: bool,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = if self.present { "present" } else { "absent" };
        write!(f, "{} {word}", self.record.short())
    }
}

/// One address of one name server of the zone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AuthServer {
    /// The NS name, as the zone's NS RRset lists it.
    pub ns: String,
    /// One of its addresses, port 53 (or as configured).
    pub addr: SocketAddr,
}

impl fmt::Display for AuthServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.ns.trim_end_matches('.'), self.addr)
    }
}

/// The DNSSEC verdict on one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dnssec {
    /// The RRSIG over the TLSA RRset verifies; valid until `expires`.
    Signed { key_tag: u16, expires: SystemTime },
    /// The NSEC/NSEC3 proof that there is no TLSA RRset verifies.
    ProvenAbsent {
        kind: DenialKind,
        expires: SystemTime,
    },
    /// The zone is not secure, so there is nothing to verify against.
    ZoneNotSecure,
    /// The answer does not validate.
    Failed(String),
}

impl Dnssec {
    /// Whether the answer validated.
    pub fn is_valid(&self) -> bool {
        matches!(self, Self::Signed { .. } | Self::ProvenAbsent { .. })
    }

    /// When the signatures it rests on expire.
    pub fn expires(&self) -> Option<SystemTime> {
        match self {
            Self::Signed { expires, .. } | Self::ProvenAbsent { expires, .. } => Some(*expires),
            _ => None,
        }
    }
}

impl fmt::Display for Dnssec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Signed { key_tag, .. } => write!(f, "signed (key {key_tag})"),
            Self::ProvenAbsent {
                kind: DenialKind::NxDomain,
                ..
            } => write!(f, "absence proven (NXDOMAIN)"),
            Self::ProvenAbsent {
                kind: DenialKind::NoData,
                ..
            } => write!(f, "absence proven (NODATA)"),
            Self::ProvenAbsent {
                kind: DenialKind::OptOut,
                ..
            } => write!(f, "absence proven (NSEC3 opt-out)"),
            Self::ZoneNotSecure => write!(f, "not checked (zone not secure)"),
            Self::Failed(why) => write!(f, "BOGUS: {why}"),
        }
    }
}

/// An authoritative answer to the TLSA query, judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// The TLSA records at the name (empty: no RRset).
    pub records: Vec<Tlsa>,
    /// The RRset's TTL as served, if there is one (no signature covers it).
    pub rrset_ttl: Option<u32>,
    /// The original TTL of the RRSIG that verified the RRset (RFC 4034 §3.1.4).
    pub original_ttl: Option<u32>,
    /// The negative TTL, min(SOA TTL, MINIMUM) (RFC 2308 §5), from the SOA in a negative
    /// answer, only if that SOA's RRSIG verified.
    pub negative_ttl: Option<u32>,
    /// The DNSSEC verdict.
    pub dnssec: Dnssec,
}

/// What one address did with the TLSA query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Nothing came back.
    NoAnswer(QueryError),
    /// An answer that is not an authoritative one for the zone (REFUSED, SERVFAIL, no AA).
    NotAuthoritative { rcode: String },
    /// An authoritative answer.
    Served(Served),
}

/// The zone's SOA as one address serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoaSeen {
    /// The serial: which version of the zone the address serves.
    pub serial: u32,
    /// min(SOA TTL, MINIMUM): how long resolvers cache a negative answer (RFC 2308 §5); only
    /// when the SOA's RRSIG verified against the zone's keys.
    pub negative_ttl: Option<u32>,
    /// The SOA RRset's TTL.
    pub ttl: u32,
}

/// One poll of one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// Who.
    pub server: AuthServer,
    /// When the answer was judged.
    pub at: SystemTime,
    /// The TLSA answer.
    pub answer: Answer,
    /// The SOA answer, if any.
    pub soa: Option<SoaSeen>,
}

/// How one address stands relative to the change, in the operator's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerVerdict {
    /// It serves the change, validated.
    Serving,
    /// It still serves the old state.
    Stale,
    /// It did not answer.
    NoAnswer(String),
    /// It answered, but not authoritatively.
    NotAuthoritative(String),
    /// Its answer does not validate (whatever it shows): no evidence either way.
    Bogus(String),
}

impl fmt::Display for ServerVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Serving => write!(f, "serving"),
            Self::Stale => write!(f, "stale"),
            Self::NoAnswer(why) => write!(f, "no answer: {why}"),
            Self::NotAuthoritative(rcode) => write!(f, "not authoritative ({rcode})"),
            Self::Bogus(why) => write!(f, "bogus: {why}"),
        }
    }
}

impl Observation {
    /// Where this address stands relative to `expected`.
    pub fn verdict(&self, expected: &Expected) -> ServerVerdict {
        match &self.answer {
            Answer::NoAnswer(error) => ServerVerdict::NoAnswer(error.to_string()),
            Answer::NotAuthoritative { rcode } => ServerVerdict::NotAuthoritative(rcode.clone()),
            Answer::Served(served) => {
                // A tampered answer is no evidence of anything, not even of the old state.
                if let Dnssec::Failed(_) = &served.dnssec {
                    ServerVerdict::Bogus(served.dnssec.to_string())
                } else if served.records.contains(&expected.record) != expected.present {
                    ServerVerdict::Stale
                } else if served.dnssec.is_valid() {
                    ServerVerdict::Serving
                } else {
                    ServerVerdict::Bogus(served.dnssec.to_string())
                }
            }
        }
    }

    /// The TTLs this answer shows, if it validated (an unverified number never sets a wait).
    pub fn ttl_evidence(&self) -> Option<TtlEvidence> {
        let Answer::Served(served) = &self.answer else {
            return None;
        };
        if !served.dnssec.is_valid() {
            return None;
        }
        let negative = match (served.negative_ttl, self.soa.and_then(|s| s.negative_ttl)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        Some(TtlEvidence {
            served: served.rrset_ttl.filter(|_| !served.records.is_empty()),
            rrsig_original: served.original_ttl,
            negative,
        })
    }

    /// The same, as the safe-time rule needs it: only a validated answer is evidence. A
    /// validated answer without the change restarts the address's clock; anything else
    /// (silence, a lame or bogus answer) leaves it unconfirmed.
    pub fn state(&self, expected: &Expected) -> ServerState {
        let Some(evidence) = self.ttl_evidence() else {
            return ServerState::Unconfirmed;
        };
        match self.verdict(expected) {
            ServerVerdict::Serving => ServerState::Serving(evidence),
            ServerVerdict::Stale => ServerState::Stale(evidence),
            _ => ServerState::Unconfirmed,
        }
    }
}

/// An RCODE as dig prints it: NOERROR, SERVFAIL, NXDOMAIN, REFUSED…
pub fn rcode_name(rcode: ResponseCode) -> String {
    match rcode {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        ResponseCode::NotAuth => "NOTAUTH".into(),
        ResponseCode::NotZone => "NOTZONE".into(),
        other => format!("RCODE {}", u16::from(other)),
    }
}

/// The daneroll form of a TLSA record in a DNS answer.
pub fn tlsa_of(record: &Record) -> Option<Tlsa> {
    match &record.data {
        RData::TLSA(tlsa) => Some(Tlsa::new(
            u8::from(tlsa.cert_usage),
            u8::from(tlsa.selector),
            u8::from(tlsa.matching),
            tlsa.cert_data.clone(),
        )),
        _ => None,
    }
}

/// The TLSA records at `owner` in a resolver's or server's answer section: the class IN RRset
/// exactly, the one an RRSIG covers (records of other classes are never validated).
pub fn tlsa_records(owner: &Name, answers: &[Record]) -> Vec<Tlsa> {
    let mut records: Vec<Tlsa> = rrset_of(answers, owner, RecordType::TLSA)
        .filter_map(tlsa_of)
        .collect();
    records.sort();
    records
}

/// min(SOA TTL, MINIMUM) of the SOA of `zone` in `records` (RFC 2308 §5), only if its RRSIG
/// verifies against `keys`. The TTL is the larger of the one served and the RRSIG's original
/// TTL: a server may send a lowered one (RFC 2308 §3 has it send min(TTL, MINIMUM) in negative
/// answers), and no signature covers it.
pub fn validated_negative_ttl(records: &[Record], keys: &ZoneKeys, now: SystemTime) -> Option<u32> {
    let zone = keys.zone();
    let verified = keys.verify(zone, RecordType::SOA, records, now).ok()?;
    records
        .iter()
        .filter(|r| r.name == *zone && r.dns_class == DNSClass::IN)
        .find_map(|r| match &r.data {
            RData::SOA(soa) => Some(r.ttl.max(verified.original_ttl).min(soa.minimum)),
            _ => None,
        })
}

/// Judges a server's reply to `owner TLSA` against the zone's validated keys (if secure).
pub fn judge_tlsa(
    owner: &Name,
    reply: &Message,
    keys: Option<&ZoneKeys>,
    now: SystemTime,
) -> Answer {
    let rcode = reply.metadata.response_code;
    let nxdomain = rcode == ResponseCode::NXDomain;
    if !(rcode == ResponseCode::NoError || nxdomain) || !reply.metadata.authoritative {
        let rcode = if reply.metadata.authoritative {
            rcode_name(rcode)
        } else {
            format!("{} without the AA flag", rcode_name(rcode))
        };
        return Answer::NotAuthoritative { rcode };
    }
    let records = tlsa_records(owner, &reply.answers);
    let rrset_ttl = rrset_of(&reply.answers, owner, RecordType::TLSA)
        .map(|r| r.ttl)
        .max();
    let negative_ttl = keys.and_then(|keys| validated_negative_ttl(&reply.authorities, keys, now));
    let has_cname = rrset_of(&reply.answers, owner, RecordType::CNAME)
        .next()
        .is_some();
    let foreign = reply
        .answers
        .iter()
        .find(|r| r.name == *owner && r.dns_class != DNSClass::IN);
    let mut original_ttl = None;
    let dnssec = match keys {
        None => Dnssec::ZoneNotSecure,
        Some(_) if foreign.is_some() => Dnssec::Failed(format!(
            "the answer carries a {} record of class {} at {owner}; only class IN is signed, so the answer was tampered with",
            foreign.map_or(RecordType::Unknown(0), Record::record_type),
            foreign.map_or(DNSClass::IN, |r| r.dns_class),
        )),
        Some(_) if has_cname => Dnssec::Failed(format!(
            "{owner} is a CNAME; daneroll checks TLSA records at the name itself"
        )),
        Some(keys) if !records.is_empty() => {
            let verified = verify_answer(
                owner,
                RecordType::TLSA,
                &reply.answers,
                &reply.authorities,
                keys,
                now,
            );
            match verified {
                Ok(verified) => {
                    original_ttl = Some(verified.original_ttl);
                    Dnssec::Signed {
                        key_tag: verified.key_tag,
                        expires: verified.expires,
                    }
                }
                Err(problem) => Dnssec::Failed(problem.to_string()),
            }
        }
        Some(keys) => {
            match verify_denial(
                owner,
                RecordType::TLSA,
                nxdomain,
                &reply.authorities,
                keys,
                now,
            ) {
                Ok(denial) => Dnssec::ProvenAbsent {
                    kind: denial.kind,
                    expires: denial.expires,
                },
                Err(problem) => Dnssec::Failed(problem.to_string()),
            }
        }
    };
    Answer::Served(Served {
        records,
        rrset_ttl,
        original_ttl,
        negative_ttl,
        dnssec,
    })
}

/// Reads the SOA of `zone` from a server's reply to `zone SOA`. The serial is shown as served;
/// the negative TTL only if the SOA's RRSIG verifies against `keys`.
pub fn judge_soa(
    zone: &Name,
    reply: &Message,
    keys: Option<&ZoneKeys>,
    now: SystemTime,
) -> Option<SoaSeen> {
    if !reply.metadata.authoritative {
        return None;
    }
    let negative_ttl = keys
        .filter(|k| k.zone() == zone)
        .and_then(|keys| validated_negative_ttl(&reply.answers, keys, now));
    reply
        .answers
        .iter()
        .filter(|r| r.name == *zone)
        .find_map(|r| match &r.data {
            RData::SOA(soa) => Some(SoaSeen {
                serial: soa.serial,
                negative_ttl,
                ttl: r.ttl,
            }),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use hickory_proto::rr::RecordType::A;

    use super::*;
    use crate::dns::testing::{
        TestZone, addr, expanded, in_class, name, nsec_record, reply, soa_record, tlsa, tlsa_record,
    };

    const OWNER: &str = "_25._tcp.mail.example.test.";

    fn observation(answer: Answer) -> Observation {
        Observation {
            server: AuthServer {
                ns: "ns1.example.test.".into(),
                addr: addr("127.0.3.1:53"),
            },
            at: crate::dns::testing::at(crate::dns::testing::NOW),
            answer,
            soa: Some(SoaSeen {
                serial: 7,
                negative_ttl: Some(60),
                ttl: 3600,
            }),
        }
    }

    #[test]
    fn a_signed_rrset_with_the_record_is_serving() {
        let zone = TestZone::new("example.test.");
        let owner = name(OWNER);
        let answers = zone.signed(vec![
            tlsa_record(&owner, 300, 1),
            tlsa_record(&owner, 300, 2),
        ]);
        let message = reply(ResponseCode::NoError, true, answers, vec![]);
        let answer = judge_tlsa(&owner, &message, Some(&zone.keys()), zone.now());
        let Answer::Served(served) = &answer else {
            panic!("{answer:?}");
        };
        assert_eq!(served.records, vec![tlsa(1), tlsa(2)]);
        assert_eq!(served.rrset_ttl, Some(300));
        assert_eq!(served.dnssec.expires(), Some(zone.expiration()));
        let obs = observation(answer);
        let publish = Expected {
            record: tlsa(2),
            present: true,
        };
        assert_eq!(obs.verdict(&publish), ServerVerdict::Serving);
        let evidence = TtlEvidence {
            served: Some(300),
            rrsig_original: Some(300),
            negative: Some(60),
        };
        assert_eq!(obs.state(&publish), ServerState::Serving(evidence));
        let retire = Expected {
            record: tlsa(2),
            present: false,
        };
        assert_eq!(obs.verdict(&retire), ServerVerdict::Stale);
        assert_eq!(obs.state(&retire), ServerState::Stale(evidence));
    }

    #[test]
    fn an_nxdomain_with_proof_is_stale_for_a_publish_with_the_negative_ttl() {
        let zone = TestZone::new("example.test.");
        let owner = name(OWNER);
        let mut authority = zone.signed(vec![soa_record(zone.apex(), 3600, 7, 60)]);
        authority.extend(zone.signed(vec![nsec_record(
            &name("mail.example.test."),
            zone.apex(),
            &[A],
            60,
        )]));
        let message = reply(ResponseCode::NXDomain, true, vec![], authority);
        let obs = observation(judge_tlsa(&owner, &message, Some(&zone.keys()), zone.now()));
        let publish = Expected {
            record: tlsa(1),
            present: true,
        };
        assert_eq!(obs.verdict(&publish), ServerVerdict::Stale);
        assert_eq!(
            obs.state(&publish),
            ServerState::Stale(TtlEvidence {
                negative: Some(60),
                ..TtlEvidence::default()
            })
        );
        let retire = Expected {
            record: tlsa(1),
            present: false,
        };
        assert_eq!(obs.verdict(&retire), ServerVerdict::Serving);
    }

    #[test]
    fn the_change_without_valid_signatures_is_bogus_not_serving() {
        let zone = TestZone::new("example.test.");
        let owner = name(OWNER);
        let message = reply(
            ResponseCode::NoError,
            true,
            vec![tlsa_record(&owner, 300, 1)],
            vec![],
        );
        let obs = observation(judge_tlsa(&owner, &message, Some(&zone.keys()), zone.now()));
        let publish = Expected {
            record: tlsa(1),
            present: true,
        };
        let verdict = obs.verdict(&publish);
        assert!(matches!(verdict, ServerVerdict::Bogus(_)), "{verdict}");
        assert_eq!(obs.state(&publish), ServerState::Unconfirmed);
        let bare_nx = reply(ResponseCode::NXDomain, true, vec![], vec![]);
        let obs = observation(judge_tlsa(&owner, &bare_nx, Some(&zone.keys()), zone.now()));
        let retire = Expected {
            record: tlsa(1),
            present: false,
        };
        assert!(matches!(obs.verdict(&retire), ServerVerdict::Bogus(_)));
    }

    #[test]
    fn refused_or_non_authoritative_answers_do_not_count() {
        let zone = TestZone::new("example.test.");
        let owner = name(OWNER);
        let refused = reply(ResponseCode::Refused, true, vec![], vec![]);
        let answer = judge_tlsa(&owner, &refused, Some(&zone.keys()), zone.now());
        assert_eq!(
            answer,
            Answer::NotAuthoritative {
                rcode: "REFUSED".into()
            }
        );
        let signed = zone.signed(vec![tlsa_record(&owner, 300, 1)]);
        let cached = reply(ResponseCode::NoError, false, signed, vec![]);
        let obs = observation(judge_tlsa(&owner, &cached, Some(&zone.keys()), zone.now()));
        let verdict = obs.verdict(&Expected {
            record: tlsa(1),
            present: true,
        });
        assert!(
            matches!(verdict, ServerVerdict::NotAuthoritative(_)),
            "{verdict}"
        );
    }

    #[test]
    fn a_ch_class_record_carrying_the_hash_is_not_served() {
        // Found on the old main: the presence check read TLSA records of any class, so a CH
        // record beside the genuine signed RRset made the new hash look served.
        let zone = TestZone::new("example.test.");
        let owner = name(OWNER);
        let mut answers = zone.signed(vec![tlsa_record(&owner, 300, 1)]);
        answers.push(in_class(&tlsa_record(&owner, 300, 2), DNSClass::CH));
        let message = reply(ResponseCode::NoError, true, answers, vec![]);
        let answer = judge_tlsa(&owner, &message, Some(&zone.keys()), zone.now());
        let Answer::Served(served) = &answer else {
            panic!("{answer:?}");
        };
        assert_eq!(served.records, vec![tlsa(1)]);
        let obs = observation(answer);
        let publish = Expected {
            record: tlsa(2),
            present: true,
        };
        assert_ne!(obs.verdict(&publish), ServerVerdict::Serving);
        let verdict = obs.verdict(&Expected {
            record: tlsa(1),
            present: true,
        });
        assert!(
            matches!(&verdict, ServerVerdict::Bogus(why) if why.contains("class CH")),
            "{verdict}"
        );
        assert_eq!(obs.state(&publish), ServerState::Unconfirmed);
    }

    #[test]
    fn a_wildcard_expansion_without_its_proof_is_bogus() {
        let zone = TestZone::new("example.test.");
        let owner = name(OWNER);
        let wildcard = name("*.example.test.");
        let answers: Vec<Record> = zone
            .signed(vec![tlsa_record(&wildcard, 300, 1)])
            .iter()
            .map(|r| expanded(r, &owner))
            .collect();
        let message = reply(ResponseCode::NoError, true, answers.clone(), vec![]);
        let obs = observation(judge_tlsa(&owner, &message, Some(&zone.keys()), zone.now()));
        let publish = Expected {
            record: tlsa(1),
            present: true,
        };
        let verdict = obs.verdict(&publish);
        assert!(
            matches!(&verdict, ServerVerdict::Bogus(why) if why.contains("*.example.test.")),
            "{verdict}"
        );
        let proof = zone.signed(vec![nsec_record(
            &wildcard,
            &name("x.example.test."),
            &[RecordType::TLSA],
            300,
        )]);
        let message = reply(ResponseCode::NoError, true, answers, proof);
        let obs = observation(judge_tlsa(&owner, &message, Some(&zone.keys()), zone.now()));
        assert_eq!(obs.verdict(&publish), ServerVerdict::Serving);
    }

    #[test]
    fn an_unsigned_nxdomain_or_nodata_is_not_absence_in_a_signed_zone() {
        let zone = TestZone::new("example.test.");
        let owner = name(OWNER);
        let soa = vec![soa_record(zone.apex(), 3600, 7, 60)];
        let retire = Expected {
            record: tlsa(1),
            present: false,
        };
        for rcode in [ResponseCode::NXDomain, ResponseCode::NoError] {
            let message = reply(rcode, true, vec![], soa.clone());
            let obs = observation(judge_tlsa(&owner, &message, Some(&zone.keys()), zone.now()));
            let verdict = obs.verdict(&retire);
            assert!(
                matches!(&verdict, ServerVerdict::Bogus(why) if why.contains("no NSEC or NSEC3")),
                "{verdict}"
            );
            assert_eq!(obs.state(&retire), ServerState::Unconfirmed);
        }
    }

    #[test]
    fn soa_gives_serial_and_the_negative_ttl_only_when_signed() {
        let zone = TestZone::new("example.test.");
        let apex = zone.apex().clone();
        let signed = reply(
            ResponseCode::NoError,
            true,
            zone.signed(vec![soa_record(&apex, 3600, 42, 300)]),
            vec![],
        );
        assert_eq!(
            judge_soa(&apex, &signed, Some(&zone.keys()), zone.now()),
            Some(SoaSeen {
                serial: 42,
                negative_ttl: Some(300),
                ttl: 3600
            })
        );
        // An SOA without its RRSIG (or forged) gives the serial for display, no TTL.
        let bare = reply(
            ResponseCode::NoError,
            true,
            vec![soa_record(&apex, 3600, 42, 86400)],
            vec![],
        );
        let seen = judge_soa(&apex, &bare, Some(&zone.keys()), zone.now()).unwrap();
        assert_eq!((seen.serial, seen.negative_ttl), (42, None));
    }

    #[test]
    fn a_lowered_ttl_is_shown_with_the_rrsig_original_ttl_that_bounds_the_wait() {
        let zone = TestZone::new("example.test.");
        let owner = name(OWNER);
        let mut answers = zone.signed(vec![tlsa_record(&owner, 3600, 1)]);
        for record in answers.iter_mut() {
            record.ttl = 30;
        }
        let message = reply(ResponseCode::NoError, true, answers, vec![]);
        let Answer::Served(served) = judge_tlsa(&owner, &message, Some(&zone.keys()), zone.now())
        else {
            panic!("not served");
        };
        assert!(served.dnssec.is_valid(), "{}", served.dnssec);
        assert_eq!(
            (served.rrset_ttl, served.original_ttl),
            (Some(30), Some(3600))
        );
    }

    #[test]
    fn a_negative_answer_with_a_forged_soa_gives_no_negative_ttl() {
        let zone = TestZone::new("example.test.");
        let owner = name(OWNER);
        let nsec = zone.signed(vec![nsec_record(
            &name("mail.example.test."),
            zone.apex(),
            &[A],
            60,
        )]);
        // The SOA's signature was made over MINIMUM 60; the answer claims 86400.
        let mut forged = zone.signed(vec![soa_record(zone.apex(), 3600, 7, 60)]);
        for record in forged.iter_mut() {
            if let RData::SOA(soa) = &mut record.data {
                soa.minimum = 86400;
            }
        }
        forged.extend(nsec.clone());
        let message = reply(ResponseCode::NXDomain, true, vec![], forged);
        let Answer::Served(served) = judge_tlsa(&owner, &message, Some(&zone.keys()), zone.now())
        else {
            panic!("not served");
        };
        assert_eq!(served.negative_ttl, None);
        // The same answer with the genuine SOA: min(SOA TTL, MINIMUM).
        let mut genuine = zone.signed(vec![soa_record(zone.apex(), 3600, 7, 60)]);
        genuine.extend(nsec);
        let message = reply(ResponseCode::NXDomain, true, vec![], genuine);
        let Answer::Served(served) = judge_tlsa(&owner, &message, Some(&zone.keys()), zone.now())
        else {
            panic!("not served");
        };
        assert_eq!(served.negative_ttl, Some(60));
    }
}
