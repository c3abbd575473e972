//! The demo's authoritative DNS server: one DNSSEC-signed zone, in this process, on loopback.
//!
//! WHY a real server and not a fake: `daneroll demo` promises to run the production observer,
//! chain walk and RFC 2136 backend unchanged. Those find the zone from its SOA, the servers from
//! its NS RRset (each asked on port 53, RFC 1035 §4.2), and the primary from the SOA MNAME
//! (RFC 2136 §4), and they verify every RRSIG themselves (RFC 4035 §5). So the lab is a real
//! authoritative server (hickory-server's sqlite-backed zone handler: RFC 2136 updates
//! authenticated with TSIG (RFC 8945), the zone re-signed online after each update, NSEC denial)
//! on its own loopback address, port 53, whose NS and MNAME point at that address. The zone's own
//! DNSKEY (a CSK, so one key signs everything) is the trust anchor the demo hands to daneroll
//! (RFC 4033 §2 "trust anchor" need not be the root), and the same server answers the questions
//! daneroll sends to its "resolver": for its own zone an authoritative server gives the same
//! data a recursive resolver would, with RRSIGs, which daneroll checks itself.
//!
//! Binding port 53 needs root or CAP_NET_BIND_SERVICE: the error says so.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use daneroll_providers::Tlsa;
use data_encoding::BASE64;
use hickory_proto::dnssec::crypto::EcdsaSigningKey;
use hickory_proto::dnssec::rdata::DNSKEY;
use hickory_proto::dnssec::{Algorithm, DnssecSigner, PublicKey, SigningKey};
use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_proto::rr::{Name, TSigner};
use hickory_server::Server;
use hickory_server::dnssec::NxProofKind;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::store::sqlite::{SqliteConfig, SqliteZoneHandler, TsigKeyConfig};
use hickory_server::zone_handler::{AxfrPolicy, Catalog, DnssecZoneHandler, ZoneHandler, ZoneType};
use tokio::net::{TcpListener, UdpSocket};

use super::signed_answers::SignedAnswers;

/// The port authoritative servers answer on (the observer asks NS addresses there).
pub const DNS_PORT: u16 = 53;

/// How long the zone's signatures are valid; the demo lasts seconds.
const SIGNATURE_VALIDITY: Duration = Duration::from_secs(24 * 3600);

/// The demo zone's names.
#[derive(Debug, Clone)]
pub struct ZoneNames {
    /// The zone apex and mail domain, e.g. `demo.example.`.
    pub zone: Name,
    /// Its only name server.
    pub ns: Name,
    /// The MX host.
    pub mx: Name,
}

impl ZoneNames {
    /// `demo.example.` with `ns1.` and `mx.` below it.
    pub fn demo() -> Self {
        // invariant: these literals are valid domain names.
        let zone = Name::from_ascii("demo.example.").expect("zone name");
        Self {
            ns: Name::from_ascii("ns1.demo.example.").expect("ns name"),
            mx: Name::from_ascii("mx.demo.example.").expect("mx name"),
            zone,
        }
    }

    /// The TLSA owner for SMTP on port 25 (RFC 7672 §2.2.3).
    pub fn tlsa_owner(&self) -> String {
        format!("_25._tcp.{}", self.mx)
    }
}

/// Why the demo DNS server could not start.
#[derive(Debug, thiserror::Error)]
pub enum DnsLabError {
    #[error(
        "cannot listen on {addr}; the demo's name server must answer on port 53 like a real one: run as root or grant CAP_NET_BIND_SERVICE"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot write demo file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("demo zone {zone}: {reason}")]
    Zone { zone: String, reason: String },
}

/// The TSIG key allowed to update the demo zone. Debug hides the secret.
#[derive(Clone)]
pub struct DemoTsig {
    /// The key name.
    pub name: String,
    secret: Vec<u8>,
}

impl fmt::Debug for DemoTsig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DemoTsig")
            .field("name", &self.name)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl DemoTsig {
    fn generate() -> Self {
        let mut secret = vec![0u8; 32];
        // invariant: the system random source does not fail on Linux once the process runs.
        aws_lc_rs::rand::fill(&mut secret).expect("random TSIG secret");
        Self {
            name: "daneroll-demo.".to_string(),
            secret,
        }
    }

    /// The key in BIND's `key` statement syntax, as `tsig-keygen` writes it.
    pub fn bind_key_file(&self) -> String {
        format!(
            "key \"{}\" {{\n\talgorithm hmac-sha256;\n\tsecret \"{}\";\n}};\n",
            self.name.trim_end_matches('.'),
            BASE64.encode(&self.secret)
        )
    }
}

/// What the demo zone starts with.
#[derive(Debug, Clone)]
pub struct ZoneSetup {
    pub names: ZoneNames,
    /// TTL of every record, SOA minimum (negative TTL) included.
    pub ttl: u32,
    /// The TLSA records published at start (the current key's).
    pub tlsa: Vec<Tlsa>,
}

/// A running demo name server.
pub struct DnsLab {
    addr: IpAddr,
    names: ZoneNames,
    tsig: DemoTsig,
    trust_anchor: String,
    server: Server<SignedAnswers>,
}

impl fmt::Debug for DnsLab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsLab")
            .field("addr", &self.addr)
            .field("zone", &self.names.zone.to_string())
            .field("tsig", &self.tsig)
            .finish_non_exhaustive()
    }
}

impl DnsLab {
    /// Starts the server for `setup` on the first free address of `candidates`, port 53; zone
    /// file and sqlite journal go to `dir`.
    pub async fn start(
        setup: &ZoneSetup,
        candidates: &[Ipv4Addr],
        dir: &Path,
    ) -> Result<Self, DnsLabError> {
        let (udp, tcp, addr) = bind_first(candidates).await?;
        let names = setup.names.clone();
        let zone_text = zone_file(setup, addr);
        let zone_path = dir.join("demo.zone");
        write(&zone_path, &zone_text)?;
        let zone_error = |reason: String| DnsLabError::Zone {
            zone: names.zone.to_string(),
            reason,
        };
        let tsig = DemoTsig::generate();
        let key_file = dir.join("demo.tsig");
        write_secret(&key_file, &tsig.secret)?;
        let config = SqliteConfig {
            zone_path,
            journal_path: dir.join("demo.jrnl"),
            allow_update: true,
            tsig_keys: vec![TsigKeyConfig {
                name: tsig.name.clone(),
                key_file,
                algorithm: TsigAlgorithm::HmacSha256,
                fudge: 300,
            }],
        };
        let handler = SqliteZoneHandler::<TokioRuntimeProvider>::try_from_config(
            names.zone.clone(),
            ZoneType::Primary,
            AxfrPolicy::Deny,
            true,
            None,
            &config,
            Some(NxProofKind::Nsec),
        )
        .await
        .map_err(zone_error)?;
        let (dnssec_signer, dnskey) = zone_signer(&names.zone).map_err(zone_error)?;
        handler
            .add_zone_signing_key(dnssec_signer)
            .await
            .map_err(|e| zone_error(format!("signing key: {e}")))?;
        handler
            .secure_zone()
            .await
            .map_err(|e| zone_error(format!("signing: {e}")))?;
        let trust_anchor = format!(
            "{} {} IN DNSKEY {} 3 {} {}\n",
            names.zone,
            setup.ttl,
            dnskey.flags(),
            u8::from(dnskey.public_key().algorithm()),
            BASE64.encode(dnskey.public_key().public_bytes())
        );
        let mut catalog = Catalog::new();
        let origin = handler.origin().clone();
        catalog.upsert(origin, vec![Arc::new(handler) as Arc<dyn ZoneHandler>]);
        let key = TSigner::new(
            tsig.secret.clone(),
            TsigAlgorithm::HmacSha256,
            Name::from_ascii(&tsig.name).map_err(|e| zone_error(e.to_string()))?,
            300,
        )
        .map_err(|e| zone_error(format!("TSIG key: {e}")))?;
        let mut server = Server::new(SignedAnswers::new(catalog, key));
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 64);
        Ok(Self {
            addr: IpAddr::V4(addr),
            names,
            tsig,
            trust_anchor,
            server,
        })
    }

    /// The server's address (port 53).
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr, DNS_PORT)
    }

    /// The zone's names.
    pub fn names(&self) -> &ZoneNames {
        &self.names
    }

    /// The key RFC 2136 updates must be signed with.
    pub fn tsig(&self) -> &DemoTsig {
        &self.tsig
    }

    /// The zone's DNSKEY as a trust anchor line (`trust_anchor_file` syntax).
    pub fn trust_anchor(&self) -> &str {
        &self.trust_anchor
    }

    /// Stops answering.
    pub async fn stop(mut self) {
        let _ = self.server.shutdown_gracefully().await;
    }
}

async fn bind_first(
    candidates: &[Ipv4Addr],
) -> Result<(UdpSocket, TcpListener, Ipv4Addr), DnsLabError> {
    let mut last = None;
    for ip in candidates {
        let addr = SocketAddr::new(IpAddr::V4(*ip), DNS_PORT);
        let udp = match UdpSocket::bind(addr).await {
            Ok(socket) => socket,
            // Not allowed on one address: not allowed on any; say so at once.
            Err(source) if source.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(DnsLabError::Bind { addr, source });
            }
            Err(source) => {
                last = Some(DnsLabError::Bind { addr, source });
                continue;
            }
        };
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, tcp, *ip)),
            Err(source) => last = Some(DnsLabError::Bind { addr, source }),
        }
    }
    Err(last.unwrap_or_else(|| DnsLabError::Bind {
        addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DNS_PORT),
        source: std::io::Error::other("no candidate address"),
    }))
}

fn zone_signer(zone: &Name) -> Result<(DnssecSigner, DNSKEY), String> {
    let algorithm = Algorithm::ECDSAP256SHA256;
    let pkcs8 = EcdsaSigningKey::generate_pkcs8(algorithm).map_err(|e| e.to_string())?;
    let key = EcdsaSigningKey::from_pkcs8(&pkcs8, algorithm).map_err(|e| e.to_string())?;
    let public = key.to_public_key().map_err(|e| e.to_string())?;
    // A CSK (flags 257): one key signs the DNSKEY RRset and the zone, so anchoring it anchors
    // the whole zone.
    let dnskey = DNSKEY::from_key(&public);
    let signer = DnssecSigner::new(
        dnskey.clone(),
        Box::new(key),
        zone.clone(),
        SIGNATURE_VALIDITY,
    );
    Ok((signer, dnskey))
}

/// The zone in master-file syntax (RFC 1035 §5): every TTL and the negative TTL short, so the
/// safe time is short.
fn zone_file(setup: &ZoneSetup, addr: Ipv4Addr) -> String {
    let ttl = setup.ttl;
    let ZoneNames { zone, ns, mx } = &setup.names;
    let mut text = format!(
        "$ORIGIN {zone}\n$TTL {ttl}\n\
         @ IN SOA {ns} hostmaster.{zone} 1 3600 600 86400 {ttl}\n\
         @ IN NS {ns}\n\
         @ IN MX 10 {mx}\n\
         {ns} IN A {addr}\n"
    );
    if mx != ns {
        text.push_str(&format!("{mx} IN A {addr}\n"));
    }
    for record in &setup.tlsa {
        text.push_str(&format!("{} IN TLSA {record}\n", setup.names.tlsa_owner()));
    }
    text
}

/// The raw TSIG secret, readable by this user only.
fn write_secret(path: &Path, secret: &[u8]) -> Result<(), DnsLabError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(secret))
        .map_err(|source| DnsLabError::Write {
            path: path.to_path_buf(),
            source,
        })
}

fn write(path: &Path, text: &str) -> Result<(), DnsLabError> {
    std::fs::write(path, text).map_err(|source| DnsLabError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
#[path = "dns_tests.rs"]
mod tests;
