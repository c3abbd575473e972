//! RFC 2136 dynamic update with TSIG (RFC 8945): the backend for operators who run their own
//! authoritative servers (BIND, Knot, PowerDNS, Technitium, …).
//!
//! Each operation is one atomic UPDATE message (RFC 2136 §3.7) that names only the one record
//! it adds or deletes (§2.5.1 add to an RRset, §2.5.4 delete an RR from an RRset), so other
//! records at the name are never touched. Retiring under a race uses the value-dependent
//! prerequisite (§2.4.2): the RRset must still be exactly what was read, otherwise the server
//! answers NXRRSET, nothing changes and the caller gets [`BackendError::Stale`].
//!
//! Reads ask the server updates go to (the primary), without recursion, signed with the same
//! key, so "what we published" is judged by the source of truth and not by a cache. After each
//! change the record is read back: a server may accept an update and ignore it (§3.4.2.2, e.g.
//! a CNAME at the name), and a silent no-op must not be reported as published.
//!
//! The zone is the configured one or is found from SOA ([`crate::zone`]); updates go to the
//! configured server or to the addresses of the SOA MNAME, tried in order while they do not
//! answer at all.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use hickory_proto::op::{Edns, Message, OpCode, Query, ResponseCode, UpdateMessage};
use hickory_proto::rr::rdata::TLSA;
use hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::error::{BackendError, Target};
pub use crate::exchange::{Clock, Transport};
use crate::exchange::{ExchangeError, Exchanger};
use crate::tsig::{FUDGE, TsigKey};
use crate::zone::{self, parse_owner};
use crate::{DnsBackend, Outcome, Tlsa, TlsaRrset};

/// The least time given to the resolver for zone and primary discovery.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// How to reach the zone's primary and authenticate.
#[derive(Debug, Clone)]
pub struct Rfc2136Config {
    /// Where updates go; `None`: the addresses of the zone's SOA MNAME.
    pub server: Option<SocketAddr>,
    /// The zone to update; `None`: the zone found from SOA through `resolver`.
    pub zone: Option<String>,
    /// A recursive resolver for zone and primary discovery.
    pub resolver: SocketAddr,
    /// The TSIG key the server grants TLSA updates to.
    pub key: TsigKey,
    /// How long to wait for each answer.
    pub timeout: Duration,
    pub transport: Transport,
}

impl Rfc2136Config {
    /// Discovery through `resolver`, updates signed with `key`, 5 s timeout, UDP then TCP.
    pub fn new(key: TsigKey, resolver: SocketAddr) -> Self {
        Self {
            server: None,
            zone: None,
            resolver,
            key,
            timeout: Duration::from_secs(5),
            transport: Transport::UdpThenTcp,
        }
    }
}

/// Where updates for one owner name go.
#[derive(Debug, Clone)]
struct Route {
    zone: Name,
    servers: Vec<SocketAddr>,
}

/// The RFC 2136 backend.
pub struct Rfc2136 {
    config: Rfc2136Config,
    exchanger: Exchanger,
    /// For the resolver: recursion behind a slow or dead server takes longer than one answer.
    discovery: Exchanger,
    routes: Mutex<HashMap<Name, Route>>,
}

impl fmt::Debug for Rfc2136 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rfc2136")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Rfc2136 {
    pub fn new(config: Rfc2136Config) -> Self {
        let exchanger = Exchanger::new(config.timeout, config.transport);
        let discovery = Exchanger::new(config.timeout.max(DISCOVERY_TIMEOUT), config.transport);
        Self {
            config,
            exchanger,
            discovery,
            routes: Mutex::new(HashMap::new()),
        }
    }

    /// Uses `clock` for TSIG time stamps instead of the system clock (tests of BADTIME).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.exchanger.clock = clock;
        self
    }

    /// The zone and servers for `owner`: from configuration, else discovered once and cached.
    async fn route(&self, owner: &Name) -> Result<Route, BackendError> {
        if let Some(route) = self.cached(owner) {
            return Ok(route);
        }
        let resolver = self.config.resolver;
        let apex = match &self.config.zone {
            Some(zone) => {
                let zone = parse_zone(zone)?;
                if !zone.zone_of(owner) {
                    return Err(BackendError::OutsideZone {
                        owner: owner.to_string(),
                        zone: zone.to_string(),
                    });
                }
                if let Some(server) = self.config.server {
                    return Ok(self.remember(owner, zone, vec![server]));
                }
                zone::find_zone_with(&self.discovery, resolver, &zone.to_string()).await?
            }
            None => zone::find_zone_with(&self.discovery, resolver, &owner.to_string()).await?,
        };
        let zone = parse_zone(&apex.zone)?;
        let servers = match self.config.server {
            Some(server) => vec![server],
            None => zone::primary_addresses_with(&self.discovery, resolver, &apex).await?,
        };
        Ok(self.remember(owner, zone, servers))
    }

    fn cached(&self, owner: &Name) -> Option<Route> {
        // invariant: the lock is never held across an await or a panic.
        let routes = self.routes.lock().expect("route cache lock");
        routes.get(owner).cloned()
    }

    fn remember(&self, owner: &Name, zone: Name, servers: Vec<SocketAddr>) -> Route {
        let route = Route { zone, servers };
        // invariant: the lock is never held across an await or a panic.
        let mut routes = self.routes.lock().expect("route cache lock");
        routes.insert(owner.clone(), route.clone());
        route
    }

    fn target(&self, server: SocketAddr, zone: &Name) -> Box<Target> {
        Box::new(Target {
            server: server.to_string(),
            zone: zone.to_string(),
            key: self.config.key.name().to_string(),
            action: String::new(),
        })
    }

    /// Sends `message` to the route's servers in order until one answers, and returns the
    /// answer with the server it came from.
    async fn send(
        &self,
        route: &Route,
        message: &Message,
    ) -> Result<(Message, Box<Target>), BackendError> {
        let mut last = None;
        for server in &route.servers {
            let at = self.target(*server, &route.zone);
            let key = Some(&self.config.key);
            match self.exchanger.exchange(*server, message.clone(), key).await {
                Ok(answer) => return Ok((answer, at)),
                Err(e @ (ExchangeError::Timeout(_) | ExchangeError::ConnectionRefused)) => {
                    last = Some(exchange_error(e, at));
                }
                Err(ExchangeError::Network(reason)) => {
                    last = Some(BackendError::Network { at, reason });
                }
                Err(e) => return Err(exchange_error(e, at)),
            }
        }
        Err(last.unwrap_or_else(|| BackendError::NoPrimary {
            zone: route.zone.to_string(),
            mname: String::new(),
            resolver: self.config.resolver.to_string(),
            reason: "no server address".into(),
        }))
    }

    async fn read_at(&self, route: &Route, owner: &Name) -> Result<TlsaRrset, BackendError> {
        let mut message = Message::query();
        message.add_query(Query::query(owner.clone(), RecordType::TLSA));
        message.metadata.recursion_desired = false;
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        message.set_edns(edns);
        let (answer, at) = self.send(route, &message).await?;
        match answer.response_code {
            ResponseCode::NoError | ResponseCode::NXDomain => {}
            // To a query, REFUSED means "not my zone" (or not for you), not a policy on updates.
            code @ (ResponseCode::Refused | ResponseCode::NotAuth) => {
                let rcode = format!("{} to a query", mnemonic(code));
                return Err(BackendError::NotAuthoritative { at, rcode });
            }
            other => return Err(rcode_error(other, at, owner)),
        }
        if !answer.metadata.authoritative {
            let rcode = "an answer without the AA bit".into();
            return Err(BackendError::NotAuthoritative { at, rcode });
        }
        let mut ttl = None;
        let mut records = Vec::new();
        for record in answer.answers.iter().filter(|r| r.name == *owner) {
            if let RData::TLSA(tlsa) = &record.data {
                records.push(from_rdata(tlsa));
                ttl = Some(ttl.map_or(record.ttl, |t: u32| t.min(record.ttl)));
            }
        }
        Ok(TlsaRrset::new(records, ttl))
    }

    /// Sends an UPDATE and maps a non-success response code.
    async fn update(
        &self,
        route: &Route,
        owner: &Name,
        message: Message,
    ) -> Result<(), BackendError> {
        let (answer, at) = self.send(route, &message).await?;
        match answer.response_code {
            ResponseCode::NoError => Ok(()),
            other => Err(rcode_error(other, at, owner)),
        }
    }

    /// Reads back after a change: the server must now serve (or not serve) `record`.
    async fn confirm(
        &self,
        route: &Route,
        owner: &Name,
        record: &Tlsa,
        present: bool,
    ) -> Result<(), BackendError> {
        let now = self.read_at(route, owner).await?;
        if now.contains(record) == present {
            return Ok(());
        }
        let at = self.target(route.servers[0], &route.zone);
        let what = if present {
            "accepted the update but does not serve the record (is there a CNAME at the name?)"
        } else {
            "accepted the deletion but still serves the record"
        };
        Err(BackendError::Unexpected {
            at,
            reason: format!("{what}: {owner} TLSA {record}"),
        })
    }

    async fn owner_route(&self, owner: &str) -> Result<(Name, Route), BackendError> {
        let owner = parse_owner(owner)?;
        let route = self.route(&owner).await?;
        // invariant kept by `route`, checked again because no message may be built otherwise.
        if !route.zone.zone_of(&owner) {
            return Err(BackendError::OutsideZone {
                owner: owner.to_string(),
                zone: route.zone.to_string(),
            });
        }
        Ok((owner, route))
    }
}

#[async_trait]
impl DnsBackend for Rfc2136 {
    fn describe(&self) -> String {
        let server = match self.config.server {
            Some(server) => server.to_string(),
            None => "the zone's primary (SOA MNAME)".into(),
        };
        format!(
            "RFC 2136 to {server} with TSIG key {}",
            self.config.key.name()
        )
    }

    async fn zone_of(&self, owner: &str) -> Result<String, BackendError> {
        let (_, route) = self.owner_route(owner).await?;
        Ok(route.zone.to_string())
    }

    async fn read(&self, owner: &str) -> Result<TlsaRrset, BackendError> {
        let result = async {
            let (owner, route) = self.owner_route(owner).await?;
            self.read_at(&route, &owner).await
        };
        result
            .await
            .map_err(|e| e.during(format!("reading TLSA at {owner}")))
    }

    async fn add(&self, owner: &str, record: &Tlsa, ttl: u32) -> Result<Outcome, BackendError> {
        self.add_record(owner, record, ttl)
            .await
            .map_err(|e| e.during(action("adding", owner, record)))
    }

    async fn remove(&self, owner: &str, record: &Tlsa) -> Result<Outcome, BackendError> {
        self.remove_record(owner, record)
            .await
            .map_err(|e| e.during(action("removing", owner, record)))
    }

    async fn remove_if_unchanged(
        &self,
        owner: &str,
        record: &Tlsa,
        seen: &TlsaRrset,
    ) -> Result<Outcome, BackendError> {
        self.remove_record_if_unchanged(owner, record, seen)
            .await
            .map_err(|e| e.during(action("removing (if unchanged)", owner, record)))
    }
}

/// `adding _25._tcp.mail.example.com. TLSA 3 1 1 0A1B2C3D…`
fn action(verb: &str, owner: &str, record: &Tlsa) -> String {
    format!("{verb} {owner} TLSA {}", record.short())
}

impl Rfc2136 {
    async fn add_record(
        &self,
        owner: &str,
        record: &Tlsa,
        ttl: u32,
    ) -> Result<Outcome, BackendError> {
        let (owner, route) = self.owner_route(owner).await?;
        let current = self.read_at(&route, &owner).await?;
        if current.contains(record) {
            return Ok(Outcome::Unchanged);
        }
        let mut message = update_message(&route.zone);
        let ttl = current.ttl().unwrap_or(ttl);
        message.add_update(Record::from_rdata(owner.clone(), ttl, to_rdata(record)));
        self.update(&route, &owner, message).await?;
        self.confirm(&route, &owner, record, true).await?;
        Ok(Outcome::Changed)
    }

    async fn remove_record(&self, owner: &str, record: &Tlsa) -> Result<Outcome, BackendError> {
        let (owner, route) = self.owner_route(owner).await?;
        let current = self.read_at(&route, &owner).await?;
        if !current.contains(record) {
            return Ok(Outcome::Unchanged);
        }
        let mut message = update_message(&route.zone);
        message.add_update(deletion(&owner, record));
        self.update(&route, &owner, message).await?;
        self.confirm(&route, &owner, record, false).await?;
        Ok(Outcome::Changed)
    }

    async fn remove_record_if_unchanged(
        &self,
        owner: &str,
        record: &Tlsa,
        seen: &TlsaRrset,
    ) -> Result<Outcome, BackendError> {
        let (owner, route) = self.owner_route(owner).await?;
        if !seen.contains(record) {
            // Nothing to remove in the caller's view; only say so if that view is current.
            let now = self.read_at(&route, &owner).await?;
            if now.same_records(seen) {
                return Ok(Outcome::Unchanged);
            }
            return Err(BackendError::Stale {
                at: self.target(route.servers[0], &route.zone),
                owner: owner.to_string(),
                rcode: "the RRset differs from the one read".into(),
            });
        }
        let mut message = update_message(&route.zone);
        for member in seen.records() {
            // RFC 2136 §2.4.2: the whole RRset, class of the zone, TTL 0.
            message.add_pre_requisite(Record::from_rdata(owner.clone(), 0, to_rdata(member)));
        }
        message.add_update(deletion(&owner, record));
        self.update(&route, &owner, message).await?;
        self.confirm(&route, &owner, record, false).await?;
        Ok(Outcome::Changed)
    }
}

fn parse_zone(zone: &str) -> Result<Name, BackendError> {
    let mut name = Name::from_ascii(zone).map_err(|e| BackendError::InvalidOwner {
        owner: zone.to_string(),
        reason: format!("not a zone name: {e}"),
    })?;
    name.set_fqdn(true);
    Ok(name.to_lowercase())
}

/// An empty UPDATE for `zone` (RFC 2136 §2.3: the zone section holds the zone's SOA).
fn update_message(zone: &Name) -> Message {
    let mut message = Message::query();
    message.metadata.op_code = OpCode::Update;
    message.metadata.recursion_desired = false;
    let mut section = Query::query(zone.clone(), RecordType::SOA);
    section.set_query_class(DNSClass::IN);
    message.add_zone(section);
    message
}

/// RFC 2136 §2.5.4: delete one RR: class NONE, TTL 0, the RR's RDATA.
fn deletion(owner: &Name, record: &Tlsa) -> Record {
    let mut deletion = Record::from_rdata(owner.clone(), 0, to_rdata(record));
    deletion.dns_class = DNSClass::NONE;
    deletion
}

fn to_rdata(record: &Tlsa) -> RData {
    RData::TLSA(TLSA::new(
        CertUsage::from(record.usage),
        Selector::from(record.selector),
        Matching::from(record.mtype),
        record.data.clone(),
    ))
}

fn from_rdata(tlsa: &TLSA) -> Tlsa {
    Tlsa::new(
        u8::from(tlsa.cert_usage),
        u8::from(tlsa.selector),
        u8::from(tlsa.matching),
        tlsa.cert_data.clone(),
    )
}

/// The operator's reading of a failed response code (RFC 2136 §2.2, RFC 6895 §2.3).
fn rcode_error(rcode: ResponseCode, at: Box<Target>, owner: &Name) -> BackendError {
    let owner = owner.to_string();
    match rcode {
        ResponseCode::Refused => BackendError::Refused { at, owner },
        ResponseCode::NotAuth => BackendError::NotAuthoritative {
            at,
            rcode: "NOTAUTH".into(),
        },
        ResponseCode::NotZone => BackendError::NotZone { at, owner },
        ResponseCode::ServFail => BackendError::ServerFailure { at },
        ResponseCode::NXRRSet
        | ResponseCode::YXRRSet
        | ResponseCode::NXDomain
        | ResponseCode::YXDomain => BackendError::Stale {
            at,
            owner,
            rcode: mnemonic(rcode),
        },
        other => BackendError::Unexpected {
            at,
            reason: format!("response code {}", mnemonic(other)),
        },
    }
}

/// The RFC 6895 §2.3 mnemonic operators see in server logs and `dig` (`NXRRSET`).
fn mnemonic(rcode: ResponseCode) -> String {
    let known = [
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
        "NXRRSET", "NOTAUTH", "NOTZONE",
    ];
    let code = u16::from(rcode);
    known
        .get(usize::from(code))
        .map_or_else(|| format!("RCODE{code}"), |name| name.to_string())
}

fn exchange_error(error: ExchangeError, at: Box<Target>) -> BackendError {
    match error {
        ExchangeError::Timeout(after) => BackendError::Timeout { at, after },
        ExchangeError::ConnectionRefused => BackendError::ConnectionRefused { at },
        ExchangeError::Network(reason) => BackendError::Network { at, reason },
        ExchangeError::BadSig => BackendError::BadSignature { at },
        ExchangeError::BadKey => BackendError::UnknownKey { at },
        ExchangeError::BadTime { skew_secs } => BackendError::ClockSkew {
            at,
            skew_secs,
            fudge: FUDGE,
        },
        ExchangeError::TsigOther(code) => BackendError::Unexpected {
            at,
            reason: format!("TSIG error {code}"),
        },
        ExchangeError::Unauthenticated(reason) => BackendError::Unauthenticated { at, reason },
        ExchangeError::Local(reason) => BackendError::Unexpected { at, reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Box<Target> {
        Box::new(Target {
            server: "192.0.2.53:53".into(),
            zone: "example.com.".into(),
            key: "daneroll".into(),
            action: String::new(),
        })
    }

    fn owner() -> Name {
        Name::from_ascii("_25._tcp.mail.example.com.").unwrap()
    }

    #[test]
    fn response_codes_become_operator_errors() {
        let cases = [
            (
                ResponseCode::Refused,
                "refused to change TLSA records at _25._tcp.mail",
            ),
            (ResponseCode::NotAuth, "not authoritative for the zone"),
            (ResponseCode::NotZone, "is not in the zone (NOTZONE)"),
            (ResponseCode::ServFail, "(SERVFAIL)"),
            (
                ResponseCode::NXRRSet,
                "changed since they were read (prerequisite failed, NXRRSET)",
            ),
            (
                ResponseCode::FormErr,
                "unexpected answer: response code FORMERR",
            ),
        ];
        for (rcode, expected) in cases {
            let text = rcode_error(rcode, at(), &owner()).to_string();
            assert!(text.contains(expected), "{rcode:?}: {text}");
            assert!(
                text.starts_with("server 192.0.2.53:53, zone example.com., key daneroll: "),
                "{text}"
            );
        }
        assert!(rcode_error(ResponseCode::NXRRSet, at(), &owner()).is_stale());
        assert!(rcode_error(ResponseCode::ServFail, at(), &owner()).is_transient());
    }

    #[test]
    fn tsig_failures_become_key_errors() {
        let text = exchange_error(ExchangeError::BadSig, at()).to_string();
        assert!(text.contains("BADSIG") && text.contains("secret"), "{text}");
        let text = exchange_error(ExchangeError::BadKey, at()).to_string();
        assert!(text.contains("BADKEY"), "{text}");
        let text = exchange_error(ExchangeError::BadTime { skew_secs: -3600 }, at()).to_string();
        assert!(text.contains("3600 s ahead of the server's"), "{text}");
        let text = exchange_error(ExchangeError::BadTime { skew_secs: 400 }, at()).to_string();
        assert!(text.contains("400 s behind"), "{text}");
        let text = exchange_error(ExchangeError::ConnectionRefused, at()).to_string();
        assert!(text.contains("connection refused"), "{text}");
    }

    #[test]
    fn update_messages_name_only_the_record() {
        let record = Tlsa::new(3, 1, 1, vec![7; 32]);
        let zone = Name::from_ascii("example.com.").unwrap();
        let mut message = update_message(&zone);
        message.add_update(deletion(&owner(), &record));
        assert_eq!(message.metadata.op_code, OpCode::Update);
        assert_eq!(message.zones()[0].name(), &zone);
        let update = &message.updates()[0];
        assert_eq!((update.dns_class, update.ttl), (DNSClass::NONE, 0));
        let RData::TLSA(tlsa) = &update.data else {
            panic!("not TLSA: {update:?}")
        };
        assert_eq!(from_rdata(tlsa), record);
    }
}
