//! The propagation observer: ask every address of every name server, directly.
//!
//! Resolvers answer from whichever authoritative server they reach, so a change is out only
//! when *every* address of *every* NS name serves it (RFC 7671 §8.1 asks us to wait for the
//! slowest). A resolver learns the servers from two places: the parent's delegation (the NS
//! RRset and glue a parent server returns in a referral, RFC 1034 §4.2.2, which no signature
//! covers) and the child's apex NS RRset (signed; RFC 4035 §2.2). A server listed only at the
//! parent (a stale delegation to a secondary that no longer transfers) is still asked by
//! resolvers, so daneroll polls the union: the delegation asked from the parent zone's own
//! servers, glue included, and the child's NS RRset, verified against the zone's validated
//! DNSKEY RRset; every A and AAAA address of every name. Discovery is done once per run; each
//! poll then sends one TLSA query (and one SOA query, for the serial and the negative TTL) to
//! each address, with DO set, all concurrently, and judges the answers against the validated
//! DNSKEY RRset (`observation`). The validating resolver is asked once per poll as a second
//! signal: its AD flag (RFC 4035 §3.2.3) and what it caches.
//!
//! A wait can outlast the signature over the zone's DNSKEY RRset. The validated key set is
//! only proven until that RRSIG expires (RFC 4035 §5.3.1), so a poll that finds it expired
//! walks the chain again first; if that fails, every answer is judged against the expired set
//! and fails with a message saying so, instead of resting on keys nobody vouches for any more.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use daneroll_providers::Tlsa;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::task::JoinSet;

use super::chain::{ChainError, ChainWalker, ZoneStatus};
use super::clock::Clock;
use super::dnssec::ZoneKeys;
use super::observation::{AuthServer, Observation, judge_soa, judge_tlsa, tlsa_records};
use super::transport::{QueryError, Question, Transport};
use super::trust_anchor::TrustAnchors;

/// The port authoritative servers answer on.
pub const DNS_PORT: u16 = 53;

/// Why the servers to watch could not be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error("resolver {resolver} returned no NS records for zone {zone}")]
    NoNameServers { resolver: SocketAddr, zone: Name },
    #[error("none of the name servers of {zone} ({names}) has an IPv4 or IPv6 address")]
    NoAddresses { zone: Name, names: String },
    #[error("the NS RRset of {zone} does not verify against its DNSKEY RRset: {problem}")]
    UnverifiedNs { zone: Name, problem: String },
    #[error(
        "cannot read the delegation of {zone} from its parent zone {parent}: {problem}; \
         daneroll must also poll the servers the parent lists"
    )]
    Delegation {
        zone: Name,
        parent: Name,
        problem: String,
    },
}

/// The validating resolver's view of the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverView {
    /// Which resolver.
    pub resolver: SocketAddr,
    /// What it said.
    pub outcome: Result<ResolverAnswer, QueryError>,
}

/// One answer from the validating resolver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverAnswer {
    /// NOERROR, NXDOMAIN, SERVFAIL (a validating resolver's answer for bogus data)…
    pub rcode: String,
    /// The AD flag: the resolver validated the answer.
    pub authenticated: bool,
    /// The TLSA records it returned.
    pub records: Vec<Tlsa>,
    /// The remaining TTL in its cache.
    pub ttl: Option<u32>,
}

/// What the observer watches: one TLSA name, its zone and every authoritative address.
pub struct Observer<T: Transport> {
    transport: Arc<T>,
    resolver: SocketAddr,
    owner: Name,
    zone: Name,
    status: ZoneStatus,
    /// The key set answers are judged against: the discovered one, re-validated when its
    /// RRSIG expires.
    keys: Mutex<Option<ZoneKeys>>,
    anchors: TrustAnchors,
    servers: Vec<AuthServer>,
    zone_ttl: u32,
}

impl<T: Transport> Observer<T> {
    /// Finds the zone of `owner`, validates its chain (through `walker`, which caches), and
    /// every address of every name server. Once per run.
    pub async fn discover(
        transport: Arc<T>,
        walker: &mut ChainWalker<'_, T>,
        resolver: SocketAddr,
        owner: Name,
    ) -> Result<Self, DiscoveryError> {
        let (zone, soa) = walker.zone_of(&owner).await?;
        let status = walker.validate(&zone).await?;
        let ns_reply = ask(&*transport, resolver, &zone, RecordType::NS).await?;
        let child_names = ns_names(&zone, &ns_reply.answers);
        if child_names.is_empty() {
            return Err(DiscoveryError::NoNameServers { resolver, zone });
        }
        if let Some(keys) = status.keys() {
            keys.verify(&zone, RecordType::NS, &ns_reply.answers, walker.now())
                .map_err(|problem| DiscoveryError::UnverifiedNs {
                    zone: zone.clone(),
                    problem: problem.to_string(),
                })?;
        }
        let delegation = parent_delegation(&*transport, walker, resolver, &zone).await?;
        let mut zone_ttl = soa.map(|r| r.ttl).unwrap_or(0);
        for record in &ns_reply.answers {
            zone_ttl = zone_ttl.max(record.ttl);
        }
        if let Some(keys) = status.keys() {
            zone_ttl = zone_ttl.max(keys.ttl());
        }
        let mut addresses: BTreeMap<Name, BTreeSet<IpAddr>> = delegation;
        for name in child_names {
            addresses.entry(name).or_default();
        }
        let names: Vec<Name> = addresses.keys().cloned().collect();
        let mut servers = Vec::new();
        for (ns, glue) in &mut addresses {
            for rtype in [RecordType::A, RecordType::AAAA] {
                // A name only the parent lists may not resolve; its glue is enough.
                let reply = match ask(&*transport, resolver, ns, rtype).await {
                    Ok(reply) => reply,
                    Err(_) if !glue.is_empty() => continue,
                    Err(e) => return Err(e.into()),
                };
                glue.extend(
                    reply
                        .answers
                        .iter()
                        .filter(|r| r.name == *ns)
                        .filter_map(|r| r.data.ip_addr()),
                );
            }
            for addr in glue.iter() {
                servers.push(AuthServer {
                    ns: ns.to_string(),
                    addr: SocketAddr::new(*addr, DNS_PORT),
                });
            }
        }
        servers.sort();
        servers.dedup();
        if servers.is_empty() {
            let names = names
                .iter()
                .map(Name::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(DiscoveryError::NoAddresses { zone, names });
        }
        Ok(Self {
            transport,
            resolver,
            owner,
            zone,
            keys: Mutex::new(status.keys().cloned()),
            status,
            anchors: walker.anchors().clone(),
            servers,
            zone_ttl,
        })
    }

    /// Watches an explicit set of addresses (hidden primaries, stealth secondaries) as well.
    pub fn add_servers(&mut self, extra: impl IntoIterator<Item = SocketAddr>) {
        for addr in extra {
            let server = AuthServer {
                ns: format!("{} (configured)", addr.ip()),
                addr,
            };
            if !self.servers.iter().any(|s| s.addr == addr) {
                self.servers.push(server);
            }
        }
    }

    /// The TLSA owner name.
    pub fn owner(&self) -> &Name {
        &self.owner
    }

    /// The zone that holds it.
    pub fn zone(&self) -> &Name {
        &self.zone
    }

    /// The zone's chain-of-trust verdict.
    pub fn zone_status(&self) -> &ZoneStatus {
        &self.status
    }

    /// Every authoritative address, in a stable order.
    pub fn servers(&self) -> &[AuthServer] {
        &self.servers
    }

    /// The longest TTL of the zone's SOA, NS and DNSKEY RRsets.
    pub fn zone_ttl(&self) -> u32 {
        self.zone_ttl
    }

    /// The resolver used for discovery and the second signal.
    pub fn resolver(&self) -> SocketAddr {
        self.resolver
    }

    /// The transport (for query counts).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// One poll: every address asked concurrently, every answer judged at `clock`'s now.
    pub async fn poll(&self, clock: &dyn Clock) -> Vec<Observation> {
        let mut tasks = JoinSet::new();
        for (index, server) in self.servers.iter().enumerate() {
            let transport = Arc::clone(&self.transport);
            let addr = server.addr;
            let tlsa_question = Question::authoritative(self.owner.clone(), RecordType::TLSA);
            let soa_question = Question::authoritative(self.zone.clone(), RecordType::SOA);
            tasks.spawn(async move {
                let (tlsa, soa) = tokio::join!(
                    transport.query(addr, tlsa_question),
                    transport.query(addr, soa_question)
                );
                (index, tlsa, soa)
            });
        }
        let mut replies = Vec::with_capacity(self.servers.len());
        while let Some(joined) = tasks.join_next().await {
            // invariant: the tasks above do not panic; a panic is a bug worth surfacing.
            replies.push(joined.expect("poll task"));
        }
        replies.sort_by_key(|(index, _, _)| *index);
        let now = clock.now();
        let keys = self.keys_at(now).await;
        replies
            .into_iter()
            .map(|(index, tlsa, soa)| Observation {
                server: self.servers[index].clone(),
                at: now,
                answer: match tlsa {
                    Ok(reply) => judge_tlsa(&self.owner, &reply, keys.as_ref(), now),
                    Err(error) => super::observation::Answer::NoAnswer(error),
                },
                soa: soa
                    .ok()
                    .and_then(|reply| judge_soa(&self.zone, &reply, keys.as_ref(), now)),
            })
            .collect()
    }

    /// The zone's key set, proven at `now`: the one held if its RRSIG is still valid, else the
    /// chain walked again. If that does not give a secure key set, the expired one is returned
    /// and every check against it fails, naming the expiry.
    async fn keys_at(&self, now: SystemTime) -> Option<ZoneKeys> {
        // invariant: the lock is never held across an await or a panic.
        let held = self.keys.lock().expect("zone keys lock").clone();
        let held = held?;
        if held.valid_at(now) {
            return Some(held);
        }
        let mut walker = ChainWalker::new(&*self.transport, self.resolver, &self.anchors, now);
        match walker.validate(&self.zone).await {
            Ok(ZoneStatus::Secure(fresh)) if fresh.valid_at(now) => {
                // invariant: as above.
                *self.keys.lock().expect("zone keys lock") = Some(fresh.clone());
                Some(fresh)
            }
            _ => Some(held),
        }
    }

    /// Asks the validating resolver for the TLSA RRset (RD, DO, CD clear).
    pub async fn resolver_view(&self) -> ResolverView {
        let question = Question::recursive(self.owner.clone(), RecordType::TLSA);
        let outcome = self
            .transport
            .query(self.resolver, question)
            .await
            .map(|reply| ResolverAnswer {
                rcode: super::observation::rcode_name(reply.metadata.response_code),
                authenticated: reply.metadata.authentic_data,
                records: tlsa_records(&self.owner, &reply.answers),
                ttl: reply
                    .answers
                    .iter()
                    .filter(|r| r.name == self.owner && r.record_type() == RecordType::TLSA)
                    .map(|r| r.ttl)
                    .min(),
            });
        ResolverView {
            resolver: self.resolver,
            outcome,
        }
    }
}

/// The NS names at `zone` in `records`, sorted, without duplicates.
fn ns_names(zone: &Name, records: &[Record]) -> Vec<Name> {
    let mut names: Vec<Name> = records
        .iter()
        .filter(|r| r.name == *zone)
        .filter_map(|r| match &r.data {
            RData::NS(ns) => Some(ns.0.to_lowercase()),
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The delegation of `zone` as its parent zone's own servers give it: the NS names of the
/// referral and their glue addresses (RFC 1034 §4.2.2). Every parent server that answers adds
/// to the set; none answering is an error (the set would be incomplete).
async fn parent_delegation<T: Transport>(
    transport: &T,
    walker: &ChainWalker<'_, T>,
    resolver: SocketAddr,
    zone: &Name,
) -> Result<BTreeMap<Name, BTreeSet<IpAddr>>, DiscoveryError> {
    let mut delegation: BTreeMap<Name, BTreeSet<IpAddr>> = BTreeMap::new();
    if zone.is_root() {
        return Ok(delegation);
    }
    // At a trust anchor for the zone itself (a private tree like the demo's), the chain daneroll
    // trusts starts at the zone: a parent the resolver cannot find is not an error there.
    let anchored_here = walker.anchors().closest_to(zone).as_ref() == Some(zone);
    let parent = match walker.zone_of(&zone.base_name()).await {
        Ok((parent, _)) => parent,
        Err(_) if anchored_here => return Ok(delegation),
        Err(e) => return Err(e.into()),
    };
    let error = |problem: String| DiscoveryError::Delegation {
        zone: zone.clone(),
        parent: parent.clone(),
        problem,
    };
    let parent_ns = ask(transport, resolver, &parent, RecordType::NS).await?;
    let mut parent_servers = Vec::new();
    for ns in ns_names(&parent, &parent_ns.answers) {
        for rtype in [RecordType::A, RecordType::AAAA] {
            let reply = ask(transport, resolver, &ns, rtype).await?;
            parent_servers.extend(
                reply
                    .answers
                    .iter()
                    .filter(|r| r.name == ns)
                    .filter_map(|r| r.data.ip_addr())
                    .map(|ip| SocketAddr::new(ip, DNS_PORT)),
            );
        }
    }
    parent_servers.sort();
    parent_servers.dedup();
    if parent_servers.is_empty() {
        return Err(error("the parent's name servers have no address".into()));
    }
    let mut problems = Vec::new();
    let mut answered = false;
    for server in parent_servers {
        let question = Question::authoritative(zone.clone(), RecordType::NS);
        let reply = match transport.query(server, question).await {
            Ok(reply) => reply,
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        if reply.metadata.response_code != ResponseCode::NoError {
            let rcode = super::observation::rcode_name(reply.metadata.response_code);
            problems.push(format!("{server} answered {rcode}"));
            continue;
        }
        // A referral (NS in the authority section), or the child's own NS RRset when the same
        // server also serves the child.
        let names: Vec<Name> = reply
            .answers
            .iter()
            .chain(reply.authorities.iter())
            .filter(|r| r.name == *zone)
            .filter_map(|r| match &r.data {
                RData::NS(ns) => Some(ns.0.to_lowercase()),
                _ => None,
            })
            .collect();
        if names.is_empty() {
            problems.push(format!("{server} gave no NS records for {zone}"));
            continue;
        }
        answered = true;
        for name in names {
            let glue = reply
                .additionals
                .iter()
                .filter(|r| r.name.to_lowercase() == name)
                .filter_map(|r| r.data.ip_addr());
            delegation.entry(name.clone()).or_default().extend(glue);
        }
    }
    if !answered {
        return Err(error(problems.join("; ")));
    }
    Ok(delegation)
}

async fn ask<T: Transport>(
    transport: &T,
    resolver: SocketAddr,
    name: &Name,
    rtype: RecordType,
) -> Result<Message, ChainError> {
    let question = Question::recursive_unchecked(name.clone(), rtype);
    let reply = transport.query(resolver, question.clone()).await?;
    match reply.metadata.response_code {
        ResponseCode::NoError | ResponseCode::NXDomain => Ok(reply),
        other => Err(ChainError::Rcode {
            resolver,
            question: question.to_string(),
            rcode: super::observation::rcode_name(other),
        }),
    }
}

/// The first `nameserver` of a resolv.conf text, port 53 (resolv(5)).
pub fn resolver_from_resolv_conf(text: &str) -> Option<SocketAddr> {
    text.lines()
        .map(|line| line.split(['#', ';']).next().unwrap_or("").trim())
        .filter_map(|line| line.strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().split('%').next()?.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, DNS_PORT))
        .next()
}

#[cfg(test)]
#[path = "observer_tests.rs"]
mod tests;
