//! The demo's independent DANE check: what a validating sender would conclude, every second.
//!
//! It shares nothing with the rollover in progress but the network: its own observer asks the
//! name server for the TLSA RRset and verifies the RRSIGs against the trust anchor (RFC 4035 §5),
//! and its own STARTTLS connection (RFC 3207) fetches the leaf port 25 presents. The check passes
//! when the leaf's public key matches a validated `3 1 1` record (RFC 7672 §3.1.1: DANE-EE
//! ignores names, dates and issuer). A single failure is what the promise forbids: a sender
//! would defer mail (`4.7.5`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use daneroll_providers::Tlsa;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use super::ca::record_3_1_1;
use crate::dns::clock::SystemClock;
use crate::dns::net::HickoryTransport;
use crate::dns::observation::Answer;
use crate::dns::observer::Observer;

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The presented key matches a validated record.
    Pass { presented: Tlsa, published: usize },
    /// It does not, or something could not be checked: a sender would defer.
    Fail(String),
}

/// Every check so far.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub checks: u32,
    pub failures: u32,
    pub first_failure: Option<String>,
    pub last: Option<Verdict>,
}

/// Checks once: the validated TLSA RRset against the key port 25 presents.
pub async fn check_once(
    observer: &Observer<HickoryTransport>,
    smtp: SocketAddr,
    host: &str,
) -> Verdict {
    let records = match observer.poll(&SystemClock).await.into_iter().next() {
        Some(observation) => match observation.answer {
            Answer::Served(served) if served.dnssec.is_valid() => served.records,
            Answer::Served(served) => {
                return Verdict::Fail(format!("TLSA answer does not validate: {}", served.dnssec));
            }
            other => return Verdict::Fail(format!("no TLSA answer: {other:?}")),
        },
        None => return Verdict::Fail("no name server to ask".into()),
    };
    let presented = match presented_key(smtp, host).await {
        Ok(record) => record,
        Err(error) => return Verdict::Fail(format!("STARTTLS to {smtp}: {error}")),
    };
    if records.contains(&presented) {
        Verdict::Pass {
            presented,
            published: records.len(),
        }
    } else {
        Verdict::Fail(format!(
            "port 25 presents key {} but the validated TLSA RRset holds {}",
            presented.short(),
            records
                .iter()
                .map(Tlsa::short)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// Runs [`check_once`] every `interval` until `stop` is set; prints a line (if `narrate`) when
/// the verdict changes and at every failure.
pub async fn watch(
    observer: Observer<HickoryTransport>,
    smtp: SocketAddr,
    host: String,
    interval: Duration,
    tally: Arc<Mutex<Tally>>,
    stop: Arc<AtomicBool>,
    narrate: bool,
) {
    let mut shown: Option<Verdict> = None;
    while !stop.load(Ordering::Relaxed) {
        let verdict = check_once(&observer, smtp, &host).await;
        if narrate && shown.as_ref() != Some(&verdict) {
            let _ = crate::output::write_line(&match &verdict {
                Verdict::Pass {
                    presented,
                    published,
                } => format!(
                    "  [check] OK: port 25 presents {}, one of {published} validated TLSA records",
                    presented.short()
                ),
                Verdict::Fail(reason) => format!("  [check] FAILED: {reason}"),
            });
            shown = Some(verdict.clone());
        }
        {
            let mut tally = tally.lock().await;
            tally.checks += 1;
            if let Verdict::Fail(reason) = &verdict {
                tally.failures += 1;
                tally.first_failure.get_or_insert_with(|| reason.clone());
            }
            tally.last = Some(verdict);
        }
        tokio::time::sleep(interval).await;
    }
}

/// The `3 1 1` record of the leaf the server presents after STARTTLS.
pub async fn presented_key(addr: SocketAddr, host: &str) -> Result<Tlsa, String> {
    let io = |e: std::io::Error| e.to_string();
    let stream = tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(addr))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(io)?;
    let mut stream = BufReader::new(stream);
    expect(&mut stream, "220 ").await?;
    stream
        .get_mut()
        .write_all(b"EHLO daneroll-demo-check\r\n")
        .await
        .map_err(io)?;
    loop {
        let line = line(&mut stream).await?;
        if line.starts_with("250 ") {
            break;
        }
        if !line.starts_with("250-") {
            return Err(format!("EHLO answered {line:?}"));
        }
    }
    stream
        .get_mut()
        .write_all(b"STARTTLS\r\n")
        .await
        .map_err(io)?;
    expect(&mut stream, "220 ").await?;
    let config = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(DaneEeOnly))
    .with_no_client_auth();
    let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, stream.into_inner())
        .await
        .map_err(io)?;
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .ok_or("no certificate presented")?
        .to_vec();
    let _ = tls.write_all(b"QUIT\r\n").await;
    let (_, cert) = x509_parser::parse_x509_certificate(&leaf).map_err(|e| e.to_string())?;
    Ok(record_3_1_1(cert.public_key().raw))
}

async fn line(stream: &mut BufReader<TcpStream>) -> Result<String, String> {
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(3), stream.read_line(&mut text))
        .await
        .map_err(|_| "the server went silent".to_string())?
        .map_err(|e| e.to_string())?;
    Ok(text)
}

async fn expect(stream: &mut BufReader<TcpStream>, prefix: &str) -> Result<(), String> {
    let text = line(stream).await?;
    if text.starts_with(prefix) {
        Ok(())
    } else {
        Err(format!("expected {prefix:?}, got {text:?}"))
    }
}

/// DANE-EE authentication happens after the handshake, against the TLSA records (RFC 7672
/// §3.1.1); the handshake signature itself is still verified.
#[derive(Debug)]
struct DaneEeOnly;

impl ServerCertVerifier for DaneEeOnly {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        algorithms().supported_schemes()
    }
}

fn algorithms() -> rustls::crypto::WebPkiSupportedAlgorithms {
    rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::SystemTime;

    use hickory_proto::rr::Name;

    use super::*;
    use crate::demo::ca::Ca;
    use crate::demo::dns::{DnsLab, ZoneNames, ZoneSetup};
    use crate::demo::smtp::{SMTP_PORT, SmtpLab, TlsFiles};
    use crate::dns::chain::ChainWalker;
    use crate::dns::trust_anchor::TrustAnchors;

    /// A lab whose zone publishes `published(record of the served key)`.
    async fn verdict(published: impl Fn(&Tlsa) -> Vec<Tlsa>) -> Verdict {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = Ca::create(dir.path()).expect("ca");
        let files = TlsFiles {
            key: dir.path().join("key.pem"),
            chain: dir.path().join("chain.pem"),
        };
        let served = ca
            .issue_fresh("mx.demo.example", &files.key, &files.chain)
            .expect("issue");
        let setup = ZoneSetup {
            names: ZoneNames::demo(),
            ttl: 3,
            tlsa: published(&served),
        };
        let candidates: Vec<Ipv4Addr> = (1..=40).map(|n| Ipv4Addr::new(127, 53, 8, n)).collect();
        let lab = DnsLab::start(&setup, &candidates, dir.path())
            .await
            .expect("dns");
        let smtp = SmtpLab::start(
            SocketAddr::new(lab.addr().ip(), SMTP_PORT),
            "mx.demo.example",
            files,
        )
        .await
        .expect("smtp");
        let transport = Arc::new(HickoryTransport::new(Duration::from_secs(2), 2));
        let anchors = TrustAnchors::parse(lab.trust_anchor(), "anchor").expect("anchor");
        let mut walker = ChainWalker::new(&*transport, lab.addr(), &anchors, SystemTime::now());
        let owner = Name::from_ascii(lab.names().tlsa_owner()).expect("owner");
        let observer = Observer::discover(Arc::clone(&transport), &mut walker, lab.addr(), owner)
            .await
            .expect("discover");
        let verdict = check_once(&observer, smtp.addr(), "mx.demo.example").await;
        smtp.stop();
        lab.stop().await;
        verdict
    }

    #[tokio::test]
    async fn passes_when_the_presented_key_has_a_validated_record() {
        let verdict = verdict(|served| vec![served.clone()]).await;
        assert!(
            matches!(verdict, Verdict::Pass { published: 1, .. }),
            "{verdict:?}"
        );
    }

    #[tokio::test]
    async fn fails_when_no_record_matches_the_presented_key() {
        let other: Tlsa = format!("3 1 1 {}", "AB".repeat(32))
            .parse()
            .expect("record");
        let verdict = verdict(move |_| vec![other.clone()]).await;
        let Verdict::Fail(reason) = verdict else {
            panic!("{verdict:?}")
        };
        assert!(reason.contains("validated TLSA RRset holds"), "{reason}");
    }
}
