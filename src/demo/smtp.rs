//! The demo's mail server: just enough SMTP (RFC 5321) and STARTTLS (RFC 3207) for a DANE
//! client to see the certificate, on the MX host's loopback address.
//!
//! WHY it re-reads files: a real MTA (Postfix, Exim) loads its key and chain from files named in
//! its configuration and picks up new ones only when reloaded. The rollover deploys a new key
//! and chain and then reloads; if the MTA kept the old key, or read the files half-written, port
//! 25 would present something else than what the TLSA records say. So this server reads the key
//! and chain at start and on [`SmtpLab::reload`] only, refuses to switch to a key that does not
//! match the leaf (as Postfix does: "key does not match certificate"), and keeps serving the
//! previous pair when the new one is unusable.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// The SMTP port DANE senders connect to (RFC 7672 §2.2.3).
pub const SMTP_PORT: u16 = 25;

/// A client that says nothing for this long is dropped.
const IDLE: Duration = Duration::from_secs(30);

/// Longest command line accepted (RFC 5321 §4.5.3.1.4: 512 octets).
const MAX_LINE: usize = 512;

/// Why the mail server could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum SmtpLabError {
    #[error(
        "cannot listen on {addr}; the demo's mail server must answer on port 25 like a real MX: run as root or grant CAP_NET_BIND_SERVICE"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read {what} {path}: {reason}")]
    Read {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("key {key} does not match the certificate in {chain}: {reason}")]
    Mismatch {
        key: PathBuf,
        chain: PathBuf,
        reason: String,
    },
}

/// Where the MTA's key and chain live.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// The leaf certificate followed by its chain (PEM).
    pub chain: PathBuf,
}

impl TlsFiles {
    /// Reads and checks both files into a TLS configuration.
    fn load(&self) -> Result<Arc<ServerConfig>, SmtpLabError> {
        let read = |what: &'static str, path: &Path| {
            std::fs::read(path).map_err(|e| SmtpLabError::Read {
                what,
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        };
        let chain_pem = read("certificate chain", &self.chain)?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&chain_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| SmtpLabError::Read {
                what: "certificate chain",
                path: self.chain.clone(),
                reason: e.to_string(),
            })?;
        if chain.is_empty() {
            return Err(SmtpLabError::Read {
                what: "certificate chain",
                path: self.chain.clone(),
                reason: "no CERTIFICATE block".into(),
            });
        }
        let key_pem = read("private key", &self.key)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| SmtpLabError::Read {
            what: "private key",
            path: self.key.clone(),
            reason: e.to_string(),
        })?;
        let mismatch = |reason: String| SmtpLabError::Mismatch {
            key: self.key.clone(),
            chain: self.chain.clone(),
            reason,
        };
        // with_single_cert checks that the key belongs to the leaf (rustls ≥ 0.23.14).
        let config = ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| mismatch(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| mismatch(e.to_string()))?;
        Ok(Arc::new(config))
    }
}

/// A running mail server.
pub struct SmtpLab {
    addr: SocketAddr,
    files: TlsFiles,
    config: Arc<RwLock<Arc<ServerConfig>>>,
    task: JoinHandle<()>,
}

impl fmt::Debug for SmtpLab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpLab")
            .field("addr", &self.addr)
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl SmtpLab {
    /// Loads `files` and listens on `addr`, announcing itself as `host`.
    pub async fn start(
        addr: SocketAddr,
        host: &str,
        files: TlsFiles,
    ) -> Result<Self, SmtpLabError> {
        let config = Arc::new(RwLock::new(files.load()?));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SmtpLabError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| SmtpLabError::Bind { addr, source })?;
        let host = host.trim_end_matches('.').to_string();
        let shared = Arc::clone(&config);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                // invariant: the lock is never held across a panic or an await.
                let config = Arc::clone(&shared.read().expect("tls config"));
                let host = host.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(IDLE * 4, session(stream, &host, config)).await;
                });
            }
        });
        Ok(Self {
            addr,
            files,
            config,
            task,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Re-reads key and chain, like `postfix reload`. On error the previous pair stays live.
    pub fn reload(&self) -> Result<(), SmtpLabError> {
        let fresh = self.files.load()?;
        // invariant: the lock is never held across a panic or an await.
        *self.config.write().expect("tls config") = fresh;
        Ok(())
    }

    /// Stops listening.
    pub fn stop(self) {
        self.task.abort();
    }
}

/// One SMTP session: greeting, EHLO, STARTTLS, then EHLO/QUIT inside TLS.
async fn session(stream: TcpStream, host: &str, config: Arc<ServerConfig>) -> std::io::Result<()> {
    let mut stream = BufReader::new(stream);
    reply(&mut stream, &format!("220 {host} ESMTP daneroll demo\r\n")).await?;
    loop {
        let Some(line) = command(&mut stream).await? else {
            return Ok(());
        };
        match verb(&line).as_str() {
            "EHLO" => reply(&mut stream, &format!("250-{host}\r\n250 STARTTLS\r\n")).await?,
            "HELO" => reply(&mut stream, &format!("250 {host}\r\n")).await?,
            "STARTTLS" => {
                reply(&mut stream, "220 2.0.0 Ready to start TLS\r\n").await?;
                let tls = TlsAcceptor::from(config)
                    .accept(stream.into_inner())
                    .await?;
                return after_tls(BufReader::new(tls), host).await;
            }
            "QUIT" => return reply(&mut stream, "221 2.0.0 Bye\r\n").await,
            "NOOP" | "RSET" => reply(&mut stream, "250 2.0.0 OK\r\n").await?,
            _ => {
                reply(
                    &mut stream,
                    "530 5.7.0 Must issue a STARTTLS command first\r\n",
                )
                .await?
            }
        }
    }
}

async fn after_tls<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: BufReader<S>,
    host: &str,
) -> std::io::Result<()> {
    loop {
        let Some(line) = command(&mut stream).await? else {
            return Ok(());
        };
        match verb(&line).as_str() {
            "EHLO" => reply(&mut stream, &format!("250-{host}\r\n250 8BITMIME\r\n")).await?,
            "QUIT" => {
                reply(&mut stream, "221 2.0.0 Bye\r\n").await?;
                return stream.into_inner().shutdown().await;
            }
            "NOOP" | "RSET" => reply(&mut stream, "250 2.0.0 OK\r\n").await?,
            // A demo MX accepts no mail.
            _ => reply(&mut stream, "502 5.5.1 Not implemented in the demo\r\n").await?,
        }
    }
}

/// One command line, or `None` when the client is gone, idle or sends an oversized line.
async fn command<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    let read = tokio::time::timeout(IDLE, async {
        let mut limited = (&mut *stream).take(MAX_LINE as u64);
        limited.read_until(b'\n', &mut line).await
    })
    .await;
    match read {
        Ok(Ok(0)) | Err(_) => Ok(None),
        Ok(Ok(_)) if !line.ends_with(b"\n") => Ok(None),
        Ok(Ok(_)) => Ok(Some(String::from_utf8_lossy(&line).trim_end().to_string())),
        Ok(Err(error)) => Err(error),
    }
}

fn verb(line: &str) -> String {
    line.split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase()
}

async fn reply<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    text: &str,
) -> std::io::Result<()> {
    stream.get_mut().write_all(text.as_bytes()).await?;
    stream.get_mut().flush().await
}

#[cfg(test)]
#[path = "smtp_tests.rs"]
mod tests;
