//! Test helpers: signed zones made in memory, and a scripted network.
//!
//! Signatures here are real (ECDSA P-256 through hickory's aws-lc-rs signer), so the code under
//! test verifies them exactly as it verifies BIND's.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_proto::dnssec::crypto::EcdsaSigningKey;
use hickory_proto::dnssec::rdata::sig::SigInput;
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, NSEC, NSEC3, RRSIG};
use hickory_proto::dnssec::{
    Algorithm, DigestType, Nsec3HashAlgorithm, PublicKey, SigningKey, TBS,
};
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use hickory_proto::rr::rdata::{A, NS, SOA, TLSA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};

use super::dnssec::ZoneKeys;
use super::transport::{QueryError, Question, Transport};

/// The fixed "now" of unit tests: 2025-06-15T16:26:40Z.
pub const NOW: u64 = 1_750_004_800;

pub fn name(text: &str) -> Name {
    // invariant: test names are valid.
    Name::from_ascii(text).expect("test name")
}

pub fn at(unix: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix)
}

/// A `3 1 1` TLSA record whose digest is 32 copies of `byte`.
pub fn tlsa_record(owner: &Name, ttl: u32, byte: u8) -> Record {
    Record::from_rdata(
        owner.clone(),
        ttl,
        RData::TLSA(TLSA::new(
            CertUsage::DaneEe,
            Selector::Spki,
            Matching::Sha256,
            vec![byte; 32],
        )),
    )
}

/// The daneroll form of [`tlsa_record`].
pub fn tlsa(byte: u8) -> daneroll_providers::Tlsa {
    daneroll_providers::Tlsa::new(3, 1, 1, vec![byte; 32])
}

pub fn soa_record(zone: &Name, ttl: u32, serial: u32, minimum: u32) -> Record {
    Record::from_rdata(
        zone.clone(),
        ttl,
        RData::SOA(SOA::new(
            zone.prepend_label("ns1").expect("label"),
            zone.prepend_label("hostmaster").expect("label"),
            serial,
            3600,
            600,
            86400,
            minimum,
        )),
    )
}

pub fn ns_record(zone: &Name, host: &Name) -> Record {
    Record::from_rdata(zone.clone(), 3600, RData::NS(NS(host.clone())))
}

pub fn a_record(owner: &Name, addr: [u8; 4]) -> Record {
    Record::from_rdata(owner.clone(), 3600, RData::A(A(addr.into())))
}

pub fn nsec_record(owner: &Name, next: &Name, types: &[RecordType], ttl: u32) -> Record {
    Record::from_rdata(
        owner.clone(),
        ttl,
        RData::DNSSEC(DNSSECRData::NSEC(NSEC::new_cover_self(
            next.clone(),
            types.iter().copied(),
        ))),
    )
}

/// The NSEC3 hash (SHA-1, no salt, `iterations`) of `owner`.
pub fn nsec3_hash(owner: &Name, iterations: u16) -> Vec<u8> {
    Nsec3HashAlgorithm::SHA1
        .hash(&[], owner, iterations)
        .expect("hash")
        .as_ref()
        .to_vec()
}

/// An NSEC3 record at `hash(from).zone` pointing at raw hash `next`.
pub fn nsec3_record(
    zone: &Name,
    owner_hash: &[u8],
    next_hash: &[u8],
    types: &[RecordType],
    opt_out: bool,
) -> Record {
    let label = data_encoding::BASE32_DNSSEC.encode(owner_hash);
    let owner = zone.prepend_label(label.as_str()).expect("label");
    Record::from_rdata(
        owner,
        300,
        RData::DNSSEC(DNSSECRData::NSEC3(NSEC3::new(
            Nsec3HashAlgorithm::SHA1,
            opt_out,
            0,
            Vec::new(),
            next_hash.to_vec(),
            types.iter().copied().chain([RecordType::RRSIG]),
        ))),
    )
}

/// A zone with one ECDSA P-256 CSK (or a KSK + ZSK pair) that signs whatever it is given.
pub struct TestZone {
    apex: Name,
    ksk: (EcdsaSigningKey, DNSKEY),
    zsk: Option<(EcdsaSigningKey, DNSKEY)>,
    inception: SystemTime,
    expiration: SystemTime,
}

fn new_key(flags: u16) -> (EcdsaSigningKey, DNSKEY) {
    let pkcs8 = EcdsaSigningKey::generate_pkcs8(Algorithm::ECDSAP256SHA256).expect("keygen");
    let key = EcdsaSigningKey::from_pkcs8(&pkcs8, Algorithm::ECDSAP256SHA256).expect("key");
    let public = key.to_public_key().expect("public key");
    (key, DNSKEY::with_flags(flags, public))
}

impl TestZone {
    /// A zone signed by one combined signing key (flags 257), as BIND's default policy does.
    pub fn new(apex: &str) -> Self {
        Self {
            apex: name(apex),
            ksk: new_key(257),
            zsk: None,
            inception: at(NOW - 3600),
            expiration: at(NOW + 14 * 86400),
        }
    }

    /// A zone with a KSK that signs only the DNSKEY RRset and a ZSK that signs the rest.
    pub fn split(apex: &str) -> Self {
        Self {
            zsk: Some(new_key(256)),
            ..Self::new(apex)
        }
    }

    pub fn apex(&self) -> &Name {
        &self.apex
    }

    pub fn now(&self) -> SystemTime {
        at(NOW)
    }

    pub fn inception(&self) -> SystemTime {
        self.inception
    }

    pub fn expiration(&self) -> SystemTime {
        self.expiration
    }

    /// The tag of the key that signs data (the ZSK if split, else the CSK).
    pub fn key_tag(&self) -> u16 {
        self.data_key().1.calculate_key_tag().expect("tag")
    }

    pub fn ksk(&self) -> &DNSKEY {
        &self.ksk.1
    }

    fn data_key(&self) -> &(EcdsaSigningKey, DNSKEY) {
        self.zsk.as_ref().unwrap_or(&self.ksk)
    }

    pub fn is_own_key(&self, key: &DNSKEY) -> bool {
        key.public_key().public_bytes() == self.ksk.1.public_key().public_bytes()
    }

    /// The DS the parent publishes for this zone (SHA-256).
    pub fn ds(&self) -> DS {
        DS::new(
            self.ksk.1.calculate_key_tag().expect("tag"),
            Algorithm::ECDSAP256SHA256,
            DigestType::SHA256,
            self.ksk
                .1
                .to_digest(&self.apex, DigestType::SHA256)
                .expect("digest")
                .as_ref()
                .to_vec(),
        )
    }

    /// The DS with another digest type (SHA-1 for RFC 4509 tests).
    pub fn ds_with(&self, digest: DigestType) -> DS {
        DS::new(
            self.ksk.1.calculate_key_tag().expect("tag"),
            Algorithm::ECDSAP256SHA256,
            digest,
            self.ksk
                .1
                .to_digest(&self.apex, digest)
                .expect("digest")
                .as_ref()
                .to_vec(),
        )
    }

    /// Signatures made from now on are valid from `inception` to `expiration`.
    pub fn set_validity(&mut self, inception: SystemTime, expiration: SystemTime) {
        self.inception = inception;
        self.expiration = expiration;
    }

    pub fn ds_record(&self, ttl: u32) -> Record {
        Record::from_rdata(
            self.apex.clone(),
            ttl,
            RData::DNSSEC(DNSSECRData::DS(self.ds())),
        )
    }

    fn sign_with(&self, key: &(EcdsaSigningKey, DNSKEY), rrset: &[Record]) -> Record {
        let first = &rrset[0];
        let input = SigInput {
            type_covered: first.record_type(),
            algorithm: Algorithm::ECDSAP256SHA256,
            num_labels: first.name.num_labels(),
            original_ttl: first.ttl,
            sig_expiration: SerialNumber::new(super::clock::dnssec_now(self.expiration)),
            sig_inception: SerialNumber::new(super::clock::dnssec_now(self.inception)),
            key_tag: key.1.calculate_key_tag().expect("tag"),
            signer_name: self.apex.clone(),
        };
        let tbs = TBS::from_input(&first.name, DNSClass::IN, &input, rrset.iter()).expect("tbs");
        let signature = key.0.sign(&tbs).expect("sign");
        Record::from_rdata(
            first.name.clone(),
            first.ttl,
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, signature))),
        )
    }

    /// An RRSIG over the RRset formed by `rrset` (all the same owner and type).
    pub fn sign(&self, rrset: &[Record]) -> Record {
        self.sign_with(self.data_key(), rrset)
    }

    /// `records` followed by an RRSIG over each RRset in them.
    pub fn signed(&self, records: Vec<Record>) -> Vec<Record> {
        let mut sets: Vec<Vec<Record>> = Vec::new();
        for record in records {
            match sets.iter_mut().find(|set| {
                set[0].name == record.name && set[0].record_type() == record.record_type()
            }) {
                Some(set) => set.push(record),
                None => sets.push(vec![record]),
            }
        }
        let mut out = Vec::new();
        for set in sets {
            let sig = self.sign(&set);
            out.extend(set);
            out.push(sig);
        }
        out
    }

    /// The DNSKEY RRset with its RRSIG (by the KSK).
    pub fn dnskey_answer(&self) -> Vec<Record> {
        let mut keys = vec![Record::from_rdata(
            self.apex.clone(),
            3600,
            RData::DNSSEC(DNSSECRData::DNSKEY(self.ksk.1.clone())),
        )];
        if let Some((_, zsk)) = &self.zsk {
            keys.push(Record::from_rdata(
                self.apex.clone(),
                3600,
                RData::DNSSEC(DNSSECRData::DNSKEY(zsk.clone())),
            ));
        }
        let sig = self.sign_with(&self.ksk, &keys);
        keys.push(sig);
        keys
    }

    /// The validated DNSKEY RRset.
    pub fn keys(&self) -> ZoneKeys {
        ZoneKeys::validate(
            &self.apex,
            &self.dnskey_answer(),
            |k| self.is_own_key(k),
            self.now(),
        )
        .expect("own DNSKEY RRset validates")
    }
}

/// `record` (signed at a wildcard owner) as a server expands it at `qname` (RFC 4034 §4.1.3):
/// same data and RRSIG, another owner.
pub fn expanded(record: &Record, qname: &Name) -> Record {
    let mut copy = record.clone();
    copy.name = qname.clone();
    copy
}

/// `record` with its class changed (a forged record of another class).
pub fn in_class(record: &Record, class: DNSClass) -> Record {
    let mut copy = record.clone();
    copy.dns_class = class;
    copy
}

/// A reply message.
pub fn reply(
    rcode: ResponseCode,
    authoritative: bool,
    answers: Vec<Record>,
    authorities: Vec<Record>,
) -> Message {
    let mut message = Message::new(0, MessageType::Response, OpCode::Query);
    message.metadata.response_code = rcode;
    message.metadata.authoritative = authoritative;
    message.answers = answers;
    message.authorities = authorities;
    message
}

type Script = Vec<Result<Message, QueryError>>;

/// A network that answers from a script, keyed by server, name and type. A script with several
/// replies plays them in order and then repeats the last one.
#[derive(Default)]
pub struct FakeNet {
    scripts: Mutex<HashMap<(SocketAddr, Name, RecordType), Script>>,
    sent: AtomicU64,
}

impl FakeNet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Scripts the replies of `server` to `name`/`rtype`.
    pub fn on(&self, server: SocketAddr, owner: &Name, rtype: RecordType, replies: Script) {
        self.scripts
            .lock()
            .expect("script lock")
            .insert((server, owner.to_lowercase(), rtype), replies);
    }

    /// Scripts a single reply.
    pub fn answer(&self, server: SocketAddr, owner: &Name, rtype: RecordType, reply: Message) {
        self.on(server, owner, rtype, vec![Ok(reply)]);
    }
}

impl Transport for FakeNet {
    async fn query(&self, server: SocketAddr, question: Question) -> Result<Message, QueryError> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let key = (server, question.name.to_lowercase(), question.rtype);
        let mut scripts = self.scripts.lock().expect("script lock");
        let Some(script) = scripts.get_mut(&key) else {
            return Err(QueryError::Failed {
                server,
                question: question.to_string(),
                reason: "not scripted".into(),
            });
        };
        let mut reply = if script.len() > 1 {
            script.remove(0)
        } else {
            script[0].clone()
        };
        if let Ok(message) = &mut reply {
            message.metadata.checking_disabled = question.checking_disabled;
        }
        reply
    }

    fn queries_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

pub fn addr(text: &str) -> SocketAddr {
    text.parse().expect("socket address")
}
