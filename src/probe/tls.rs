//! The TLS client configuration of the probe: accept whatever chain the server sends, because
//! DANE, not the WebPKI, decides whether it is acceptable (RFC 7672 §3.1: with usages
//! DANE-EE(3) and DANE-TA(2) the TLSA RRset is the trust store; public CA roots play no part).
//!
//! Accepting any certificate is not the same as accepting any handshake: the server must still
//! prove it holds the private key of the leaf it sent, so the handshake signature is verified
//! with the provider's algorithms exactly as a normal client would. Without that, a probe could
//! report a "matching" certificate that a man in the middle merely copied.
//!
//! One crypto backend: aws-lc-rs.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{AlertDescription, ClientConfig, DigitallySignedStruct, SignatureScheme};

/// Accepts any certificate chain; verifies handshake signatures.
#[derive(Debug)]
pub struct AcceptAnyChain {
    algorithms: WebPkiSupportedAlgorithms,
}

impl AcceptAnyChain {
    /// A verifier using `provider`'s signature algorithms.
    pub fn new(provider: &CryptoProvider) -> Self {
        Self {
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for AcceptAnyChain {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // DANE decides, after the handshake, from the chain the connection reports.
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The client configuration every probe shares: TLS 1.2 and 1.3, aws-lc-rs, no client
/// certificate, the accept-any-chain verifier.
pub fn client_config() -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(AcceptAnyChain::new(&provider));
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The rustls error inside an I/O error from tokio-rustls, if there is one.
pub fn rustls_error(error: &std::io::Error) -> Option<&rustls::Error> {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// The TLS alert the server sent, if the handshake failed because of one.
pub fn received_alert(error: &std::io::Error) -> Option<AlertDescription> {
    match rustls_error(error) {
        Some(rustls::Error::AlertReceived(alert)) => Some(*alert),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_builds_and_offers_signature_schemes() {
        let config = client_config().unwrap();
        assert!(config.alpn_protocols.is_empty());
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let schemes = AcceptAnyChain::new(&provider).supported_verify_schemes();
        assert!(schemes.contains(&SignatureScheme::ECDSA_NISTP256_SHA256));
        assert!(schemes.contains(&SignatureScheme::RSA_PSS_SHA256));
    }

    #[test]
    fn alert_is_extracted_from_io_error() {
        let error = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(AlertDescription::HandshakeFailure),
        );
        assert_eq!(
            received_alert(&error),
            Some(AlertDescription::HandshakeFailure)
        );
        let other = std::io::Error::other("boom");
        assert_eq!(received_alert(&other), None);
    }
}
