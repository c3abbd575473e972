//! The DNS facts `check` needs, the way a DANE sender obtains them (RFC 7672 §2.2): the MX
//! RRset of the mail domain, the address records and the TLSA RRset of each MX host, each with
//! whether it validated, and the DNSSEC verdict of the zones that hold them.
//!
//! Data comes from a validating resolver (RD, DO, CD clear) whose AD bit says "validated", as it
//! does for Postfix. The zone verdicts come from daneroll's own chain walk (`dns::chain`), so a
//! zone that is not secure is reported with the broken link named, not just "AD not set".
//! CNAMEs are followed by the resolver; records of the asked type anywhere in the answer count
//! (RFC 7672 §2.2.1-§2.2.2 allow CNAME-expanded MX hosts and TLSA names).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::Poll;
use std::time::SystemTime;

use daneroll_providers::{Tlsa, tlsa_owner};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use serde::Serialize;

use crate::dns::chain::{ChainError, ChainWalker, ZoneStatus};
use crate::dns::observation::tlsa_of;
use crate::dns::trust_anchor::TrustAnchors;
use crate::dns::{QueryError, Question, Transport};

/// Why a fact could not be obtained at all (as opposed to obtained and found bad).
#[derive(Debug, Clone, thiserror::Error)]
pub enum LookupError {
    /// The name is not a valid DNS name.
    #[error("{name:?} is not a valid DNS name")]
    BadName {
        /// What was given.
        name: String,
    },
    /// The resolver did not answer.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The chain of trust could not be walked.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// A zone's DNSSEC verdict in a form reports can carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "lowercase")]
pub enum Security {
    /// Validated down from a trust anchor.
    Secure,
    /// Validators treat it as unsigned; the text names where the chain stops.
    Insecure(String),
    /// Validators reject it; the text names the broken link.
    Bogus(String),
}

impl Security {
    fn from_status(status: &ZoneStatus) -> Self {
        let text = status.to_string();
        let detail = text
            .split_once(": ")
            .map_or(text.clone(), |(_, rest)| rest.to_string());
        match status {
            ZoneStatus::Secure(_) => Security::Secure,
            ZoneStatus::Insecure(_) => Security::Insecure(detail),
            ZoneStatus::Bogus(_) => Security::Bogus(detail),
        }
    }

    /// One word: secure, insecure, bogus.
    pub fn word(&self) -> &'static str {
        match self {
            Security::Secure => "secure",
            Security::Insecure(_) => "insecure",
            Security::Bogus(_) => "bogus",
        }
    }
}

/// The zone holding a name and its verdict.
#[derive(Clone, Debug, Serialize)]
pub struct ZoneFacts {
    /// The zone (absolute), e.g. `example.com.`.
    pub zone: String,
    /// Its DNSSEC verdict.
    pub security: Security,
}

/// One RRset as the validating resolver returned it.
#[derive(Clone, Debug, Serialize)]
pub struct Answer<T> {
    /// NOERROR, NXDOMAIN, SERVFAIL (what a validating resolver says about bogus data), …
    pub rcode: String,
    /// The AD bit: the resolver validated the answer.
    pub authenticated: bool,
    /// The records of the asked type.
    pub records: Vec<T>,
    /// The name the asked name is an alias of (the end of its CNAME chain), if any: for an MX
    /// host, the candidate TLSA base domain (RFC 7672 §2.2.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canonical: Option<String>,
}

impl<T> Answer<T> {
    /// SERVFAIL: for a validating resolver, typically bogus data.
    pub fn is_servfail(&self) -> bool {
        self.rcode == ResponseCode::ServFail.to_string()
    }

    /// NXDOMAIN.
    pub fn is_nxdomain(&self) -> bool {
        self.rcode == ResponseCode::NXDomain.to_string()
    }
}

/// An MX record: preference and exchange host (no trailing dot, lower case; "" for null MX).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Exchange {
    /// Lower is preferred.
    pub preference: u16,
    /// The MX host.
    pub host: String,
}

/// Looks things up through one validating resolver, with one chain walker for the run.
pub struct Dns<'a, T: Transport> {
    transport: &'a T,
    resolver: SocketAddr,
    walker: ChainWalker<'a, T>,
}

impl<'a, T: Transport> Dns<'a, T> {
    /// Asks `resolver`; zone verdicts start from `anchors`, signatures judged at `now`.
    pub fn new(
        transport: &'a T,
        resolver: SocketAddr,
        anchors: &'a TrustAnchors,
        now: SystemTime,
    ) -> Self {
        Self {
            transport,
            resolver,
            walker: ChainWalker::new(transport, resolver, anchors, now),
        }
    }

    /// The zone that holds `name` and its verdict (cached per zone for the run).
    pub async fn zone_of(&mut self, name: &str) -> Result<ZoneFacts, LookupError> {
        let zone = self.zone_name(name).await?;
        self.security(&zone).await
    }

    /// The zone that holds `name` (one SOA query; may run concurrently with others).
    pub async fn zone_name(&self, name: &str) -> Result<Name, LookupError> {
        let (zone, _) = self.walker.zone_of(&parse_name(name)?).await?;
        Ok(zone)
    }

    /// The verdict of `zone`, walking the chain of trust once per zone for the run.
    pub async fn security(&mut self, zone: &Name) -> Result<ZoneFacts, LookupError> {
        let status = self.walker.validate(zone).await?;
        Ok(ZoneFacts {
            zone: zone.to_string(),
            security: Security::from_status(&status),
        })
    }

    /// The MX RRset of `domain`, sorted by preference.
    pub async fn mx(&self, domain: &str) -> Result<Answer<Exchange>, LookupError> {
        let reply = self.ask(domain, RecordType::MX).await?;
        let mut records: Vec<Exchange> = reply
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::MX(mx) => Some(Exchange {
                    preference: mx.preference,
                    host: host_text(&mx.exchange),
                }),
                _ => None,
            })
            .collect();
        records.sort_by(|a, b| (a.preference, &a.host).cmp(&(b.preference, &b.host)));
        Ok(answer(&reply, records))
    }

    /// The A and AAAA records of `host`, asked at once; authenticated only if both are.
    pub async fn addresses(&self, host: &str) -> Result<Answer<IpAddr>, LookupError> {
        let (v4, v6) = tokio::join!(
            self.ask(host, RecordType::A),
            self.ask(host, RecordType::AAAA)
        );
        let (v4, v6) = (v4?, v6?);
        let mut records: Vec<IpAddr> = Vec::new();
        for reply in [&v4, &v6] {
            records.extend(reply.answers.iter().filter_map(|r| match &r.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                _ => None,
            }));
        }
        let mut combined = answer(&v4, records);
        combined.authenticated = v4.metadata.authentic_data && v6.metadata.authentic_data;
        combined.canonical = canonical_name(&v4, host).or_else(|| canonical_name(&v6, host));
        if v4.metadata.response_code == ResponseCode::NoError
            && v6.metadata.response_code == ResponseCode::ServFail
        {
            combined.rcode = v6.metadata.response_code.to_string();
        }
        Ok(combined)
    }

    /// The TLSA RRset at `_PORT._tcp.HOST`.
    pub async fn tlsa(&self, host: &str, port: u16) -> Result<Answer<Tlsa>, LookupError> {
        let reply = self.ask(&tlsa_owner(host, port), RecordType::TLSA).await?;
        let mut records: Vec<Tlsa> = reply.answers.iter().filter_map(tlsa_of).collect();
        records.sort();
        records.dedup();
        Ok(answer(&reply, records))
    }

    /// The TXT RRset at `name`, each record's strings joined (RFC 7208 §3.3 style, as
    /// RFC 8461 §3.1 and RFC 8460 §3 read them).
    pub async fn txt(&self, name: &str) -> Result<Answer<String>, LookupError> {
        let reply = self.ask(name, RecordType::TXT).await?;
        let records = reply
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|part| String::from_utf8_lossy(part).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect();
        Ok(answer(&reply, records))
    }

    async fn ask(&self, name: &str, rtype: RecordType) -> Result<Message, LookupError> {
        let question = Question::recursive(parse_name(name)?, rtype);
        Ok(self.transport.query(self.resolver, question).await?)
    }
}

/// Runs `futures` concurrently on the current task and returns their outputs in order (the
/// lookups borrow one resolver client, so they cannot be spawned as tasks).
pub async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (future, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => done = false,
                }
            }
        }
        if done { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    // invariant: poll_fn returned Ready only once every output was filled.
    outputs
        .into_iter()
        .map(|o| o.expect("future completed"))
        .collect()
}

fn answer<T>(reply: &Message, records: Vec<T>) -> Answer<T> {
    Answer {
        rcode: reply.metadata.response_code.to_string(),
        authenticated: reply.metadata.authentic_data,
        records,
        canonical: None,
    }
}

/// Follows the CNAME chain from `name` through the answer section; the last target, if the
/// name is an alias at all.
fn canonical_name(reply: &Message, name: &str) -> Option<String> {
    let mut current = parse_name(name).ok()?;
    let start = current.clone();
    // Bounded by the answer count: a chain cannot be longer, a loop cannot run forever.
    for _ in 0..reply.answers.len() {
        let next = reply.answers.iter().find_map(|r| match &r.data {
            RData::CNAME(target) if r.name == current => Some(target.0.clone()),
            _ => None,
        });
        match next {
            Some(next) => current = next,
            None => break,
        }
    }
    (current != start).then(|| host_text(&current))
}

fn parse_name(name: &str) -> Result<Name, LookupError> {
    let absolute = format!("{}.", name.trim_end_matches('.'));
    Name::from_ascii(&absolute).map_err(|_| LookupError::BadName {
        name: name.to_string(),
    })
}

fn host_text(name: &Name) -> String {
    name.to_ascii().trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_absolute_and_checked() {
        assert_eq!(
            parse_name("mx.example.com").unwrap().to_string(),
            "mx.example.com."
        );
        assert_eq!(
            parse_name("mx.example.com.").unwrap().to_string(),
            "mx.example.com."
        );
        assert!(matches!(
            parse_name("bad..name"),
            Err(LookupError::BadName { .. })
        ));
    }

    #[tokio::test]
    async fn join_all_keeps_order() {
        let delays = [30u64, 0, 10];
        let futures = delays
            .iter()
            .map(|ms| async move {
                tokio::time::sleep(std::time::Duration::from_millis(*ms)).await;
                *ms
            })
            .collect();
        assert_eq!(join_all(futures).await, delays);
    }

    #[test]
    fn canonical_name_follows_the_cname_chain_in_the_answer() {
        use hickory_proto::op::{Message, MessageType, OpCode};
        use hickory_proto::rr::Record;
        use hickory_proto::rr::rdata::{A, CNAME};
        let name = |text: &str| Name::from_ascii(text).unwrap();
        let mut reply = Message::new(7, MessageType::Response, OpCode::Query);
        assert_eq!(canonical_name(&reply, "mx.example.com"), None);
        reply.answers.push(Record::from_rdata(
            name("MX.example.com."),
            60,
            RData::CNAME(CNAME(name("relay.example.net."))),
        ));
        reply.answers.push(Record::from_rdata(
            name("relay.example.net."),
            60,
            RData::CNAME(CNAME(name("mail.provider.example."))),
        ));
        reply.answers.push(Record::from_rdata(
            name("mail.provider.example."),
            60,
            RData::A(A::new(192, 0, 2, 1)),
        ));
        assert_eq!(
            canonical_name(&reply, "mx.example.com").as_deref(),
            Some("mail.provider.example")
        );
        // A loop ends within the answer count.
        reply.answers.push(Record::from_rdata(
            name("mail.provider.example."),
            60,
            RData::CNAME(CNAME(name("mx.example.com."))),
        ));
        let _ = canonical_name(&reply, "mx.example.com");
    }

    #[test]
    fn null_mx_host_is_empty() {
        assert_eq!(host_text(&Name::root()), "");
        assert_eq!(
            host_text(&Name::from_ascii("MX.Example.").unwrap()),
            "mx.example"
        );
    }
}
