//! The demo MTA: STARTTLS presents the loaded pair, a reload switches, a bad pair is refused.

use std::net::{IpAddr, Ipv4Addr};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::AsyncReadExt;

use super::*;

/// Accepts any certificate: the test compares what was presented, it does not judge it.
#[derive(Debug)]
struct Anything;

impl ServerCertVerifier for Anything {
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
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Writes a fresh self-signed pair into `dir` and returns the leaf's DER.
fn write_pair(files: &TlsFiles) -> Vec<u8> {
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["mx.demo.example".into()]).expect("params");
    let cert = params.self_signed(&key).expect("cert");
    std::fs::write(&files.key, key.serialize_pem()).expect("write key");
    std::fs::write(&files.chain, cert.pem()).expect("write chain");
    cert.der().to_vec()
}

async fn expect_line(stream: &mut BufReader<TcpStream>, prefix: &str) {
    let mut line = String::new();
    stream.read_line(&mut line).await.expect("read");
    assert!(
        line.starts_with(prefix),
        "{line:?} should start with {prefix:?}"
    );
}

/// What the server presents after STARTTLS.
async fn presented(addr: SocketAddr) -> Vec<u8> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let mut stream = BufReader::new(stream);
    expect_line(&mut stream, "220 ").await;
    stream
        .get_mut()
        .write_all(b"EHLO client\r\n")
        .await
        .expect("ehlo");
    expect_line(&mut stream, "250-").await;
    expect_line(&mut stream, "250 STARTTLS").await;
    stream
        .get_mut()
        .write_all(b"STARTTLS\r\n")
        .await
        .expect("starttls");
    expect_line(&mut stream, "220 ").await;
    let config = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(Anything))
    .with_no_client_auth();
    let name = ServerName::try_from("mx.demo.example").expect("name");
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, stream.into_inner())
        .await
        .expect("handshake");
    let leaf = tls.get_ref().1.peer_certificates().expect("certs")[0].to_vec();
    tls.write_all(b"QUIT\r\n").await.expect("quit");
    let mut bye = [0u8; 4];
    tls.read_exact(&mut bye).await.expect("bye");
    assert_eq!(&bye, b"221 ");
    leaf
}

fn files(dir: &Path) -> TlsFiles {
    TlsFiles {
        key: dir.join("key.pem"),
        chain: dir.join("chain.pem"),
    }
}

fn any_port() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0)
}

#[tokio::test]
async fn presents_the_loaded_pair_and_switches_only_on_reload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = files(dir.path());
    let first = write_pair(&files);
    let lab = SmtpLab::start(any_port(), "mx.demo.example.", files.clone())
        .await
        .expect("start");
    assert_eq!(presented(lab.addr()).await, first);
    let second = write_pair(&files);
    assert_eq!(presented(lab.addr()).await, first, "no reload yet");
    lab.reload().expect("reload");
    assert_eq!(presented(lab.addr()).await, second);
    lab.stop();
}

#[tokio::test]
async fn a_key_that_does_not_match_is_refused_and_the_old_pair_stays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = files(dir.path());
    let first = write_pair(&files);
    let lab = SmtpLab::start(any_port(), "mx.demo.example.", files.clone())
        .await
        .expect("start");
    let other = rcgen::KeyPair::generate().expect("key");
    std::fs::write(&files.key, other.serialize_pem()).expect("write key");
    let error = lab.reload().unwrap_err();
    assert!(matches!(error, SmtpLabError::Mismatch { .. }), "{error}");
    assert!(error.to_string().contains("key.pem"), "{error}");
    assert_eq!(presented(lab.addr()).await, first);
    lab.stop();
}

#[tokio::test]
async fn commands_before_starttls_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = files(dir.path());
    write_pair(&files);
    let lab = SmtpLab::start(any_port(), "mx.demo.example.", files)
        .await
        .expect("start");
    let mut stream = BufReader::new(TcpStream::connect(lab.addr()).await.expect("connect"));
    expect_line(&mut stream, "220 ").await;
    stream
        .get_mut()
        .write_all(b"MAIL FROM:<a@b>\r\n")
        .await
        .expect("mail");
    expect_line(&mut stream, "530 ").await;
    lab.stop();
}

#[tokio::test]
async fn a_missing_chain_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let error = SmtpLab::start(any_port(), "mx", files(dir.path()))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("chain.pem"), "{error}");
}
