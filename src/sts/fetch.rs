//! The network side of MTA-STS: fetching the policy as RFC 8461 §3.3 prescribes, and the
//! WebPKI check senders apply to an MX host's certificate (§4.2).
//!
//! The fetch is an HTTPS GET of `https://mta-sts.DOMAIN/.well-known/mta-sts.txt` with the
//! certificate validated for `mta-sts.DOMAIN` against the WebPKI roots, no redirects (§3.3:
//! "HTTP 3xx redirects MUST NOT be followed"), a `text/plain` media type, a size limit
//! ([`MAX_POLICY`]) and a timeout. The name is resolved through daneroll's validating resolver,
//! as every other lookup of `check`, and the connection goes to those addresses only.
//!
//! Roots: the system store in production; an operator (or a test) can name a PEM file of CA
//! certificates to trust instead, and then only those are trusted. One crypto backend
//! (aws-lc-rs).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, RootCertStore};

/// The largest policy read (RFC 8461 §3.3 leaves the limit to the sender; 64 KiB is what the
/// common implementations use).
pub const MAX_POLICY: usize = 64 * 1024;

/// Why the roots cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("WebPKI roots {path}: {problem}")]
    File { path: String, problem: String },
    #[error("the system's CA certificates: {0}")]
    System(String),
}

/// The WebPKI roots, as a verifier and as the fetch's TLS configuration.
#[derive(Clone)]
pub struct Trust {
    verifier: Arc<WebPkiServerVerifier>,
    config: Arc<ClientConfig>,
}

impl Trust {
    /// The system store (what senders' platforms trust).
    pub fn system() -> Result<Self, TrustError> {
        let found = rustls_native_certs::load_native_certs();
        if found.certs.is_empty() {
            let why = found
                .errors
                .first()
                .map_or("none found".to_string(), ToString::to_string);
            return Err(TrustError::System(why));
        }
        let mut roots = RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(TrustError::System("none could be parsed".into()));
        }
        Self::new(roots).map_err(TrustError::System)
    }

    /// Only the CA certificates in `path` (PEM).
    pub fn from_file(path: &Path) -> Result<Self, TrustError> {
        let err = |problem: String| TrustError::File {
            path: path.display().to_string(),
            problem,
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| err(e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| err(e.to_string()))?;
        if certs.is_empty() {
            return Err(err("no CERTIFICATE in the file".into()));
        }
        let mut roots = RootCertStore::empty();
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| err(format!("not a usable CA certificate: {e}")))?;
        }
        Self::new(roots).map_err(err)
    }

    fn new(roots: RootCertStore) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()
                .map_err(|e| e.to_string())?;
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        Ok(Self {
            verifier,
            config: Arc::new(config),
        })
    }

    /// Whether `chain` (leaf first, as the server sent it) is WebPKI-valid for `host` now.
    pub fn verify(&self, host: &str, chain: &[CertificateDer<'static>]) -> Result<(), String> {
        let (leaf, intermediates) = chain.split_first().ok_or("no certificate")?;
        let name = ServerName::try_from(host.trim_end_matches('.').to_string())
            .map_err(|e| format!("{host}: {e}"))?;
        self.verifier
            .verify_server_cert(leaf, intermediates, &name, &[], UnixTime::now())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Why the policy could not be fetched (senders then have no policy, RFC 8461 §3.3).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("mta-sts.{domain} has no address")]
    NoAddress { domain: String },
    #[error("{url}: the TLS handshake failed: {why}")]
    Tls { url: String, why: String },
    #[error("{url}: cannot connect: {why}")]
    Connect { url: String, why: String },
    #[error("{url}: no answer within {seconds}s")]
    Timeout { url: String, seconds: u64 },
    #[error(
        "{url}: redirects to {location} (HTTP {status}); senders do not follow redirects (RFC 8461 §3.3)"
    )]
    Redirect {
        url: String,
        status: u16,
        location: String,
    },
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: Content-Type {found:?}, senders require text/plain (RFC 8461 §3.2)")]
    ContentType { url: String, found: String },
    #[error("{url}: larger than {limit} bytes, senders stop reading")]
    TooLarge { url: String, limit: usize },
    #[error("{url}: the policy is not UTF-8 text")]
    NotText { url: String },
    #[error("{url}: {why}")]
    Other { url: String, why: String },
}

/// The URL of `domain`'s policy.
pub fn policy_url(domain: &str) -> String {
    format!("https://mta-sts.{domain}/.well-known/mta-sts.txt")
}

/// Fetches `domain`'s policy from `addresses` (port 443).
pub async fn fetch(
    domain: &str,
    addresses: &[IpAddr],
    trust: &Trust,
    timeout: Duration,
) -> Result<String, FetchError> {
    let url = policy_url(domain);
    if addresses.is_empty() {
        return Err(FetchError::NoAddress {
            domain: domain.to_string(),
        });
    }
    let sockets: Vec<SocketAddr> = addresses
        .iter()
        .map(|ip| SocketAddr::new(*ip, 443))
        .collect();
    let other = |why: String| FetchError::Other {
        url: url.clone(),
        why,
    };
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured((*trust.config).clone())
        .redirect(reqwest::redirect::Policy::none())
        .https_only(true)
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout)
        .resolve_to_addrs(&format!("mta-sts.{domain}"), &sockets)
        .build()
        .map_err(|e| other(chain(&e)))?;
    let classify = |e: reqwest::Error| {
        if e.is_timeout() {
            FetchError::Timeout {
                url: url.clone(),
                seconds: timeout.as_secs(),
            }
        } else if let Some(tls) = find_rustls(&e) {
            FetchError::Tls {
                url: url.clone(),
                why: tls,
            }
        } else if e.is_connect() {
            FetchError::Connect {
                url: url.clone(),
                why: chain(&e),
            }
        } else {
            other(chain(&e))
        }
    };
    let mut response = client.get(&url).send().await.map_err(classify)?;
    let status = response.status();
    if status.is_redirection() {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("(no Location)")
            .to_string();
        return Err(FetchError::Redirect {
            url,
            status: status.as_u16(),
            location,
        });
    }
    if !status.is_success() {
        return Err(FetchError::Status {
            url,
            status: status.as_u16(),
        });
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != "text/plain" {
        return Err(FetchError::ContentType {
            url,
            found: content_type,
        });
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_POLICY as u64)
    {
        return Err(FetchError::TooLarge {
            url,
            limit: MAX_POLICY,
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_POLICY {
            return Err(FetchError::TooLarge {
                url,
                limit: MAX_POLICY,
            });
        }
    }
    String::from_utf8(body).map_err(|_| FetchError::NotText { url })
}

/// The rustls error somewhere in the error's sources, in words.
fn find_rustls(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        // An io::Error's source() skips its own inner error: look at that first.
        current = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// The error and its sources, `: `-joined.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut current = error.source();
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}
