//! A host's addresses, DNSSEC-validated by daneroll itself, for the engine's live check.
//!
//! The live check decides whether an old TLSA record may be retired, so the addresses it probes
//! must be the host's real ones: an address answer forged on the path to the resolver would let
//! an attacker's port 25 speak for the host. When the host's zone is signed, each A and AAAA
//! RRset is verified here against the zone's DNSKEY RRset proven through the chain
//! (`chain`, RFC 4035 §5.3), and an empty answer must carry a valid NSEC/NSEC3 denial
//! (RFC 4035 §5.4); the resolver's AD bit is not trusted. In a zone that is provably unsigned
//! (insecure) there is nothing to verify and the answer is taken as is, as a sender would; a
//! bogus zone or an answer that does not verify is an error, and nothing is probed.
//!
//! An MX host must not be an alias (RFC 2181 §10.3, RFC 5321 §5.1); a CNAME at the host is
//! refused here rather than followed through zones whose validation this check would then
//! have to repeat.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::SystemTime;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use super::chain::{ChainError, ChainWalker, ZoneStatus};
use super::denial::{DenialProblem, verify_denial};
use super::dnssec::{SignatureProblem, ZoneKeys};
use super::transport::{QueryError, Question, Transport};

/// How the addresses were established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressTrust {
    /// Every RRset (or its absence) verified against the zone's validated keys.
    Validated,
    /// The zone is provably unsigned: nothing to verify.
    ZoneInsecure,
}

impl fmt::Display for AddressTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Validated => "DNSSEC-validated",
            Self::ZoneInsecure => "zone not signed, not validated",
        })
    }
}

/// The addresses of a host and how far they can be trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAddresses {
    pub addresses: Vec<IpAddr>,
    pub trust: AddressTrust,
}

/// Why the addresses could not be established; each names the host and what failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    #[error("looking up {host}: {source}")]
    Chain { host: String, source: ChainError },
    #[error("looking up {host} {rtype}: {source}")]
    Query {
        host: String,
        rtype: RecordType,
        source: QueryError,
    },
    #[error("{host}: zone {zone} is bogus ({detail}); its addresses are not probed")]
    ZoneBogus {
        host: String,
        zone: String,
        detail: String,
    },
    #[error("{host} {rtype}: the answer does not validate ({problem}); not probed")]
    Unverified {
        host: String,
        rtype: RecordType,
        problem: String,
    },
    #[error("{host} is an alias (CNAME); an MX host must not be one (RFC 2181 §10.3)")]
    Alias { host: String },
    #[error("{host} {rtype}: the resolver answered {rcode}")]
    Rcode {
        host: String,
        rtype: RecordType,
        rcode: String,
    },
}

/// Looks up `host`'s A and AAAA RRsets through `resolver` and validates them with `walker`'s
/// chain of trust (see the module docs).
pub async fn validated_addresses<T: Transport>(
    walker: &mut ChainWalker<'_, T>,
    transport: &T,
    resolver: SocketAddr,
    host: &Name,
    now: SystemTime,
) -> Result<HostAddresses, AddressError> {
    let chain_error = |source| AddressError::Chain {
        host: host.to_string(),
        source,
    };
    let (zone, _) = walker.zone_of(host).await.map_err(chain_error)?;
    let status = walker.validate(&zone).await.map_err(chain_error)?;
    let keys = match &status {
        ZoneStatus::Secure(keys) => Some(keys),
        ZoneStatus::Insecure(_) => None,
        ZoneStatus::Bogus(link) => {
            return Err(AddressError::ZoneBogus {
                host: host.to_string(),
                zone: zone.to_string(),
                detail: format!("{link:?}"),
            });
        }
    };
    let mut addresses = Vec::new();
    for rtype in [RecordType::A, RecordType::AAAA] {
        // CD set when validating ourselves: the raw data with its signatures.
        let question = match keys {
            Some(_) => Question::recursive_unchecked(host.clone(), rtype),
            None => Question::recursive(host.clone(), rtype),
        };
        let reply = transport
            .query(resolver, question)
            .await
            .map_err(|source| AddressError::Query {
                host: host.to_string(),
                rtype,
                source,
            })?;
        addresses.extend(judge(host, rtype, &reply, keys, now)?);
    }
    Ok(HostAddresses {
        addresses,
        trust: match keys {
            Some(_) => AddressTrust::Validated,
            None => AddressTrust::ZoneInsecure,
        },
    })
}

/// The addresses one reply proves for `host`/`rtype`: with `keys` (a secure zone) only a
/// verified RRset or a verified denial; without, what the answer holds.
pub fn judge(
    host: &Name,
    rtype: RecordType,
    reply: &Message,
    keys: Option<&ZoneKeys>,
    now: SystemTime,
) -> Result<Vec<IpAddr>, AddressError> {
    let rcode = reply.metadata.response_code;
    if !matches!(rcode, ResponseCode::NoError | ResponseCode::NXDomain) {
        return Err(AddressError::Rcode {
            host: host.to_string(),
            rtype,
            rcode: super::observation::rcode_name(rcode),
        });
    }
    if reply
        .answers
        .iter()
        .any(|r| r.name == *host && r.record_type() == RecordType::CNAME)
    {
        return Err(AddressError::Alias {
            host: host.to_string(),
        });
    }
    let found: Vec<IpAddr> = reply
        .answers
        .iter()
        .filter(|r| r.name == *host)
        .filter_map(|r| match &r.data {
            RData::A(a) if rtype == RecordType::A => Some(IpAddr::V4(a.0)),
            RData::AAAA(aaaa) if rtype == RecordType::AAAA => Some(IpAddr::V6(aaaa.0)),
            _ => None,
        })
        .collect();
    let Some(keys) = keys else {
        return Ok(found);
    };
    let unverified = |problem: String| AddressError::Unverified {
        host: host.to_string(),
        rtype,
        problem,
    };
    if found.is_empty() {
        let nxdomain = rcode == ResponseCode::NXDomain;
        verify_denial(host, rtype, nxdomain, &reply.authorities, keys, now)
            .map_err(|e: DenialProblem| unverified(e.to_string()))?;
    } else {
        keys.verify(host, rtype, &reply.answers, now)
            .map_err(|e: SignatureProblem| unverified(e.to_string()))?;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use hickory_proto::rr::Record;
    use hickory_proto::rr::rdata::CNAME;

    use super::*;
    use crate::dns::testing::{TestZone, a_record, name, nsec_record, reply};

    const HOST: &str = "mail.example.test.";

    fn zone() -> TestZone {
        TestZone::new("example.test.")
    }

    #[test]
    fn a_signed_address_rrset_is_taken() {
        let zone = zone();
        let answer = zone.signed(vec![a_record(&name(HOST), [192, 0, 2, 25])]);
        let message = reply(ResponseCode::NoError, false, answer, vec![]);
        let found = judge(
            &name(HOST),
            RecordType::A,
            &message,
            Some(&zone.keys()),
            zone.now(),
        )
        .unwrap();
        assert_eq!(found, vec![IpAddr::from([192, 0, 2, 25])]);
    }

    #[test]
    fn a_forged_or_unsigned_address_in_a_signed_zone_is_refused() {
        let zone = zone();
        // The attacker's address, with the signature made over the real one.
        let mut answer = zone.signed(vec![a_record(&name(HOST), [192, 0, 2, 25])]);
        answer[0] = a_record(&name(HOST), [203, 0, 113, 66]);
        let forged = reply(ResponseCode::NoError, false, answer, vec![]);
        let unsigned = reply(
            ResponseCode::NoError,
            false,
            vec![a_record(&name(HOST), [203, 0, 113, 66])],
            vec![],
        );
        for message in [forged, unsigned] {
            let error = judge(
                &name(HOST),
                RecordType::A,
                &message,
                Some(&zone.keys()),
                zone.now(),
            )
            .unwrap_err();
            assert!(matches!(error, AddressError::Unverified { .. }), "{error}");
            assert!(error.to_string().contains("mail.example.test."), "{error}");
        }
        // In an unsigned zone the same answer is all there is.
        let message = reply(
            ResponseCode::NoError,
            false,
            vec![a_record(&name(HOST), [203, 0, 113, 66])],
            vec![],
        );
        assert_eq!(
            judge(&name(HOST), RecordType::A, &message, None, zone.now()).unwrap(),
            vec![IpAddr::from([203, 0, 113, 66])]
        );
    }

    #[test]
    fn an_empty_answer_needs_a_valid_denial() {
        let zone = zone();
        let proof = zone.signed(vec![nsec_record(
            &name(HOST),
            &name("x.example.test."),
            &[RecordType::A],
            300,
        )]);
        let message = reply(ResponseCode::NoError, false, vec![], proof);
        let found = judge(
            &name(HOST),
            RecordType::AAAA,
            &message,
            Some(&zone.keys()),
            zone.now(),
        )
        .unwrap();
        assert!(found.is_empty());
        // Hiding an address without a proof is refused.
        let hidden = reply(ResponseCode::NoError, false, vec![], vec![]);
        assert!(
            judge(
                &name(HOST),
                RecordType::AAAA,
                &hidden,
                Some(&zone.keys()),
                zone.now()
            )
            .is_err()
        );
    }

    #[test]
    fn servfail_and_aliases_are_refused() {
        let zone = zone();
        let servfail = reply(ResponseCode::ServFail, false, vec![], vec![]);
        assert!(matches!(
            judge(&name(HOST), RecordType::A, &servfail, None, zone.now()),
            Err(AddressError::Rcode { .. })
        ));
        let alias = reply(
            ResponseCode::NoError,
            false,
            vec![Record::from_rdata(
                name(HOST),
                300,
                RData::CNAME(CNAME(name("other.example.test."))),
            )],
            vec![],
        );
        assert!(matches!(
            judge(&name(HOST), RecordType::A, &alias, None, zone.now()),
            Err(AddressError::Alias { .. })
        ));
    }
}
