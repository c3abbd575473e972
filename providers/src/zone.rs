//! Which zone holds a TLSA owner name, and where its primary server is.
//!
//! The TLSA record for `mail.example.com` lives at `_25._tcp.mail.example.com`, in whichever
//! zone holds that name: often `example.com`, but the host may have its own delegated zone, or
//! the MX host may sit in another operator's domain. The zone is the owner of the SOA record a
//! resolver returns for the name (in the answer at a zone apex, otherwise in the authority
//! section of the NXDOMAIN/NODATA answer, RFC 2308 §3). RFC 2136 §4 sends updates to the zone's
//! primary, named by the SOA MNAME field (RFC 1035 §3.3.13) unless the operator names a server.
//!
//! The observer reuses [`find_zone`] to know which zone's NS set to ask.

use std::net::SocketAddr;

use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::error::BackendError;
use crate::exchange::{ExchangeError, Exchanger};

/// A zone as its SOA record describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneApex {
    /// The zone, absolute (`example.com.`).
    pub zone: String,
    /// The primary server's name (SOA MNAME), absolute.
    pub mname: String,
    /// The SOA serial as the resolver returned it.
    pub serial: u32,
    /// The SOA MINIMUM field; a zone's negative TTL is min(SOA TTL, MINIMUM) (RFC 2308 §5).
    pub minimum: u32,
}

/// Parses an owner name, accepting a missing final dot; the error names the input.
pub fn parse_owner(owner: &str) -> Result<Name, BackendError> {
    let invalid = |reason: String| BackendError::InvalidOwner {
        owner: owner.to_string(),
        reason,
    };
    if owner.trim().is_empty() {
        return Err(invalid("the name is empty".into()));
    }
    let mut name = Name::from_ascii(owner.trim()).map_err(|e| invalid(e.to_string()))?;
    name.set_fqdn(true);
    if name.is_root() {
        return Err(invalid("the root cannot hold TLSA records".into()));
    }
    Ok(name.to_lowercase())
}

/// Finds the zone holding `owner` by asking `resolver` (recursive, port 53 usually) for its SOA.
pub async fn find_zone(resolver: SocketAddr, owner: &str) -> Result<ZoneApex, BackendError> {
    let exchanger = Exchanger::new(DISCOVERY_TIMEOUT, Default::default());
    find_zone_with(&exchanger, resolver, owner).await
}

/// Every address (A and AAAA, port 53) of the zone's primary (SOA MNAME), via `resolver`.
pub async fn primary_addresses(
    resolver: SocketAddr,
    apex: &ZoneApex,
) -> Result<Vec<SocketAddr>, BackendError> {
    let exchanger = Exchanger::new(DISCOVERY_TIMEOUT, Default::default());
    primary_addresses_with(&exchanger, resolver, apex).await
}

const DISCOVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

pub(crate) async fn find_zone_with(
    exchanger: &Exchanger,
    resolver: SocketAddr,
    owner: &str,
) -> Result<ZoneApex, BackendError> {
    let name = parse_owner(owner)?;
    let fail = |reason: String| BackendError::ZoneNotFound {
        owner: name.to_string(),
        resolver: resolver.to_string(),
        reason,
    };
    let answer = ask(exchanger, resolver, &name, RecordType::SOA)
        .await
        .map_err(|e| fail(describe(&e)))?;
    match answer.response_code {
        ResponseCode::NoError | ResponseCode::NXDomain => {}
        ResponseCode::ServFail => {
            return Err(fail(
                "the resolver answered SERVFAIL: the zone's DNSSEC may be broken (bogus) or its \
                 servers unreachable"
                    .into(),
            ));
        }
        other => return Err(fail(format!("the resolver answered {other}"))),
    }
    let soa_records = answer.answers.iter().chain(&answer.authorities);
    let apex = soa_records
        .filter(|record| record.name.zone_of(&name))
        .filter_map(soa)
        .max_by_key(|apex| apex.zone.len())
        .ok_or_else(|| fail("the answer holds no SOA record for an enclosing zone".into()))?;
    Ok(apex)
}

pub(crate) async fn primary_addresses_with(
    exchanger: &Exchanger,
    resolver: SocketAddr,
    apex: &ZoneApex,
) -> Result<Vec<SocketAddr>, BackendError> {
    let fail = |reason: String| BackendError::NoPrimary {
        zone: apex.zone.clone(),
        mname: apex.mname.clone(),
        resolver: resolver.to_string(),
        reason,
    };
    let mname = Name::from_ascii(&apex.mname).map_err(|e| fail(e.to_string()))?;
    let mut addresses = Vec::new();
    for rtype in [RecordType::A, RecordType::AAAA] {
        let answer = ask(exchanger, resolver, &mname, rtype)
            .await
            .map_err(|e| fail(describe(&e)))?;
        addresses.extend(
            answer
                .answers
                .iter()
                .filter_map(|record| match &record.data {
                    RData::A(a) => Some(SocketAddr::from((a.0, 53))),
                    RData::AAAA(aaaa) => Some(SocketAddr::from((aaaa.0, 53))),
                    _ => None,
                }),
        );
    }
    if addresses.is_empty() {
        return Err(fail("it has no A or AAAA record".into()));
    }
    Ok(addresses)
}

fn soa(record: &Record) -> Option<ZoneApex> {
    match &record.data {
        RData::SOA(soa) => Some(ZoneApex {
            zone: record.name.to_lowercase().to_string(),
            mname: soa.mname.to_lowercase().to_string(),
            serial: soa.serial,
            minimum: soa.minimum,
        }),
        _ => None,
    }
}

async fn ask(
    exchanger: &Exchanger,
    resolver: SocketAddr,
    name: &Name,
    rtype: RecordType,
) -> Result<Message, ExchangeError> {
    let mut message = Message::query();
    message.add_query(Query::query(name.clone(), rtype));
    message.metadata.recursion_desired = true;
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    message.set_edns(edns);
    exchanger.exchange(resolver, message, None).await
}

fn describe(error: &ExchangeError) -> String {
    match error {
        ExchangeError::Timeout(after) => format!("no answer within {after:?}"),
        ExchangeError::ConnectionRefused => "connection refused".into(),
        ExchangeError::Network(reason) | ExchangeError::Local(reason) => reason.clone(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_names_are_absolute_and_lowercase() {
        let name = parse_owner("_25._tcp.Mail.Example.COM").unwrap();
        assert_eq!(name.to_string(), "_25._tcp.mail.example.com.");
        assert_eq!(parse_owner("_25._tcp.mail.example.com.").unwrap(), name);
    }

    #[test]
    fn bad_owner_names_are_named_in_the_error() {
        for bad in ["", ".", "a..b", &"x".repeat(64)] {
            let err = parse_owner(bad).unwrap_err();
            assert!(
                matches!(err, BackendError::InvalidOwner { .. }),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }
}
