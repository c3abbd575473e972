//! The STARTTLS probe: connect to an MX address the way a sending MTA does, and capture the
//! certificate chain its TLS handshake presents.
//!
//! Dialogue (RFC 5321 §3.1, §4.1.1.1; RFC 3207 §4-§5): read the (possibly multi-line) 220
//! greeting, `EHLO`, require the `STARTTLS` keyword, `STARTTLS`, expect 220, TLS handshake with
//! SNI set to the MX host name (RFC 7672 §8.1: SMTP clients that do DANE send SNI), then `QUIT`.
//! No `MAIL FROM` is ever sent: the probe cannot deliver mail. Port 465 speaks TLS from the
//! first byte ("implicit TLS", RFC 8314 §3.3) and greets inside the tunnel.
//!
//! A sender that finds a usable TLSA RRset must not fall back to plaintext (RFC 7672 §2.2), so
//! each way a server can fail us is a distinct [`ProbeError`]: the operator needs to know
//! whether the port is closed, the banner never came, STARTTLS vanished from EHLO (a classic
//! downgrade), the server answered 454, or the handshake died with an alert.
//!
//! Every phase has its own timeout ([`Timeouts`]), and every address is probed concurrently
//! ([`Prober::probe_all`]), so a host with one dead address costs one timeout, not one per
//! address. Data the server sends after its 220 reply to STARTTLS and before the handshake is
//! refused (the STARTTLS command-injection flaw, CVE-2011-0411, in reverse).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{AlertDescription, ClientConfig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::smtp::{MAX_LINE, Reply, ReplyParser, SyntaxError};
use super::tls;

/// How long each phase of a probe may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect.
    pub connect: Duration,
    /// The complete greeting, from connect (postscreen may hold it back for a few seconds).
    pub banner: Duration,
    /// Each complete reply to a command (EHLO, STARTTLS, QUIT).
    pub reply: Duration,
    /// The TLS handshake.
    pub handshake: Duration,
}

impl Timeouts {
    /// The same limit for every phase.
    pub fn uniform(limit: Duration) -> Self {
        Self {
            connect: limit,
            banner: limit,
            reply: limit,
            handshake: limit,
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            banner: Duration::from_secs(30),
            reply: Duration::from_secs(30),
            handshake: Duration::from_secs(30),
        }
    }
}

/// How TLS starts on a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain SMTP, then `STARTTLS` (ports 25 and 587).
    StartTls,
    /// TLS from the first byte (port 465, RFC 8314).
    Implicit,
}

impl TlsMode {
    /// Implicit TLS on 465, STARTTLS everywhere else.
    pub fn for_port(port: u16) -> Self {
        if port == 465 {
            TlsMode::Implicit
        } else {
            TlsMode::StartTls
        }
    }
}

/// One address of one MX host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The MX host name: sent as SNI and used by DANE-TA name checks.
    pub host: String,
    /// The address and port to connect to.
    pub address: SocketAddr,
    /// STARTTLS or implicit TLS.
    pub mode: TlsMode,
    /// The name sent as SNI when it is not `host`: the TLSA base domain of an MX host that is a
    /// CNAME alias (RFC 7672 §8.1).
    pub sni: Option<String>,
}

impl Target {
    /// A target whose TLS mode follows from the port.
    pub fn new(host: &str, address: SocketAddr) -> Self {
        Self {
            host: host.trim_end_matches('.').to_ascii_lowercase(),
            address,
            mode: TlsMode::for_port(address.port()),
            sni: None,
        }
    }

    /// The same target, sending `name` as SNI.
    pub fn with_sni(mut self, name: &str) -> Self {
        self.sni = Some(name.trim_end_matches('.').to_ascii_lowercase());
        self
    }
}

impl fmt::Display for Target {
    /// Postfix's form: `mx.example.com[192.0.2.1]:25`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}[{}]:{}",
            self.host,
            self.address.ip(),
            self.address.port()
        )
    }
}

/// What the server presented in a completed handshake.
#[derive(Clone, Debug)]
pub struct Presented {
    /// The chain as sent, leaf first (depth 0).
    pub chain: Vec<CertificateDer<'static>>,
    /// "TLSv1.3" or "TLSv1.2".
    pub tls_version: String,
    /// The negotiated cipher suite, e.g. "TLS13_AES_256_GCM_SHA384".
    pub cipher_suite: String,
    /// The greeting's first line (for STARTTLS; empty for implicit TLS).
    pub banner: String,
}

/// The phase of the dialogue a failure happened in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// TCP connect.
    Connect,
    /// Waiting for the 220 greeting.
    Banner,
    /// EHLO and its reply.
    Ehlo,
    /// STARTTLS and its reply.
    StartTls,
    /// The TLS handshake.
    Handshake,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Connect => "connect",
            Phase::Banner => "banner",
            Phase::Ehlo => "EHLO",
            Phase::StartTls => "STARTTLS",
            Phase::Handshake => "TLS handshake",
        })
    }
}

/// Why a probe did not obtain a certificate chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// Nothing listens on the port (TCP RST).
    #[error("connection refused")]
    Refused,
    /// Connecting failed otherwise (unreachable network, no route, ...).
    #[error("cannot connect: {0}")]
    Connect(#[source] io::Error),
    /// A phase did not complete in time.
    #[error("timed out after {}s waiting for the {phase}", after.as_secs_f32())]
    Timeout {
        /// Which phase.
        phase: Phase,
        /// The limit that ran out.
        after: Duration,
    },
    /// The server closed the connection (during [`Phase::Banner`]: no banner at all).
    #[error("server closed the connection during the {phase}")]
    Closed {
        /// Which phase.
        phase: Phase,
    },
    /// A 4xx/5xx reply to the greeting or to EHLO.
    #[error("{phase}: server replied {code} {text}")]
    Rejected {
        /// Which phase.
        phase: Phase,
        /// The reply code.
        code: u16,
        /// The reply text.
        text: String,
    },
    /// EHLO succeeded but did not list STARTTLS.
    #[error("STARTTLS not offered (EHLO keywords: {})", keywords.join(" "))]
    StartTlsNotOffered {
        /// The keywords that were offered.
        keywords: Vec<String>,
    },
    /// STARTTLS was answered with something other than 220 (typically 454).
    #[error("STARTTLS refused: {code} {text}")]
    StartTlsRefused {
        /// The reply code.
        code: u16,
        /// The reply text.
        text: String,
    },
    /// Bytes arrived after the 220 reply to STARTTLS, before the handshake.
    #[error("server sent data after its 220 reply to STARTTLS, before the TLS handshake")]
    DataBeforeHandshake,
    /// The TLS handshake failed.
    #[error("TLS handshake failed: {}", describe_handshake(*alert, reason))]
    Handshake {
        /// The alert the server sent, if it sent one.
        alert: Option<AlertDescription>,
        /// What rustls reported.
        reason: String,
    },
    /// The server sent something that is not an SMTP reply.
    #[error("{phase}: {source}")]
    Protocol {
        /// Which phase.
        phase: Phase,
        /// What was wrong.
        source: SyntaxError,
    },
    /// Reading or writing failed.
    #[error("{phase}: {source}")]
    Io {
        /// Which phase.
        phase: Phase,
        /// The I/O error.
        source: io::Error,
    },
    /// The handshake completed without a certificate (impossible with certificate suites).
    #[error("the server presented no certificate")]
    NoCertificate,
    /// The host name cannot be sent as SNI.
    #[error("{host:?} is not a valid host name for TLS SNI")]
    InvalidHostName {
        /// The name given.
        host: String,
    },
}

fn describe_handshake(alert: Option<AlertDescription>, reason: &str) -> String {
    match alert {
        Some(alert) => format!("server sent TLS alert {alert:?}"),
        None => reason.to_string(),
    }
}

/// The result of probing one target.
#[derive(Debug)]
pub struct ProbeReport {
    /// What was probed.
    pub target: Target,
    /// The chain it presented, or why there is none.
    pub outcome: Result<Presented, ProbeError>,
}

/// Settings shared by all probes of one run.
#[derive(Clone, Debug)]
pub struct ProbeSettings {
    /// Per-phase timeouts.
    pub timeouts: Timeouts,
    /// The name sent in EHLO (a sending MTA sends its own host name).
    pub helo_name: String,
    /// How many probes may run at once.
    pub concurrency: usize,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        Self {
            timeouts: Timeouts::default(),
            helo_name: local_host_name(),
            concurrency: 256,
        }
    }
}

/// This machine's host name for EHLO, or `localhost` if it has none usable.
pub fn local_host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the pointer and length describe `buf`, which outlives the call.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let name = if rc == 0 {
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        String::new()
    };
    let usable = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if usable { name } else { "localhost".into() }
}

/// Probes targets with one shared TLS configuration.
#[derive(Clone)]
pub struct Prober {
    connector: TlsConnector,
    settings: ProbeSettings,
}

impl fmt::Debug for Prober {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prober")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Prober {
    /// A prober with the given settings.
    pub fn new(settings: ProbeSettings) -> Result<Self, rustls::Error> {
        Ok(Self::with_config(tls::client_config()?, settings))
    }

    /// A prober with a caller-built TLS configuration (tests restrict versions with this).
    pub fn with_config(config: Arc<ClientConfig>, settings: ProbeSettings) -> Self {
        Self {
            connector: TlsConnector::from(config),
            settings,
        }
    }

    /// The settings in use.
    pub fn settings(&self) -> &ProbeSettings {
        &self.settings
    }

    /// Probes every target concurrently (at most `concurrency` at once); the reports come
    /// back in the order of `targets`.
    pub async fn probe_all(&self, targets: Vec<Target>) -> Vec<ProbeReport> {
        let limit = Arc::new(Semaphore::new(self.settings.concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        let count = targets.len();
        for (index, target) in targets.into_iter().enumerate() {
            let prober = self.clone();
            let limit = Arc::clone(&limit);
            tasks.spawn(async move {
                // invariant: the semaphore is never closed.
                let _permit = limit.acquire().await.expect("semaphore open");
                let outcome = prober.probe(&target).await;
                (index, ProbeReport { target, outcome })
            });
        }
        let mut reports: Vec<Option<ProbeReport>> = (0..count).map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((index, report)) => reports[index] = Some(report),
                Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                Err(_) => {}
            }
        }
        // invariant: every task ran to completion (no task is aborted and panics resumed).
        reports
            .into_iter()
            .map(|r| r.expect("task result"))
            .collect()
    }

    /// Probes one target.
    pub async fn probe(&self, target: &Target) -> Result<Presented, ProbeError> {
        let name = target.sni.as_ref().unwrap_or(&target.host);
        let server_name = ServerName::try_from(name.clone())
            .map_err(|_| ProbeError::InvalidHostName { host: name.clone() })?;
        let timeouts = self.settings.timeouts;
        let tcp = connect(target.address, timeouts.connect).await?;
        match target.mode {
            TlsMode::StartTls => self.starttls(tcp, server_name).await,
            TlsMode::Implicit => self.implicit(tcp, server_name).await,
        }
    }

    async fn starttls(
        &self,
        tcp: TcpStream,
        server_name: ServerName<'static>,
    ) -> Result<Presented, ProbeError> {
        let timeouts = self.settings.timeouts;
        let mut smtp = Conversation::new(tcp);
        let banner = smtp.read_reply(Phase::Banner, timeouts.banner).await?;
        if banner.code != 220 {
            return Err(rejected(Phase::Banner, &banner));
        }
        let ehlo = format!("EHLO {}\r\n", self.settings.helo_name);
        let reply = smtp.command(&ehlo, Phase::Ehlo, timeouts.reply).await?;
        if reply.code != 250 {
            smtp.quit(timeouts.reply).await;
            return Err(rejected(Phase::Ehlo, &reply));
        }
        if !reply.offers_starttls() {
            smtp.quit(timeouts.reply).await;
            return Err(ProbeError::StartTlsNotOffered {
                keywords: reply.ehlo_keywords(),
            });
        }
        let reply = smtp
            .command("STARTTLS\r\n", Phase::StartTls, timeouts.reply)
            .await?;
        if reply.code != 220 {
            smtp.quit(timeouts.reply).await;
            return Err(ProbeError::StartTlsRefused {
                code: reply.code,
                text: reply.text(),
            });
        }
        let tcp = smtp.into_inner().ok_or(ProbeError::DataBeforeHandshake)?;
        let tls_stream = self.handshake(tcp, server_name).await?;
        let mut presented = presented(&tls_stream)?;
        presented.banner = banner.lines.first().cloned().unwrap_or_default();
        // RFC 3207 §4.2 lets the client send QUIT right after the handshake.
        let mut smtp = Conversation::new(tls_stream);
        smtp.quit(timeouts.reply).await;
        smtp.close().await;
        Ok(presented)
    }

    async fn implicit(
        &self,
        tcp: TcpStream,
        server_name: ServerName<'static>,
    ) -> Result<Presented, ProbeError> {
        let timeouts = self.settings.timeouts;
        let tls_stream = self.handshake(tcp, server_name).await?;
        let mut presented = presented(&tls_stream)?;
        // The chain is what we came for; greeting and QUIT are courtesy, bounded by one reply
        // timeout and never turned into a failure.
        let mut smtp = Conversation::new(tls_stream);
        if let Ok(Ok(banner)) = tokio::time::timeout(
            timeouts.reply,
            smtp.read_reply(Phase::Banner, timeouts.reply),
        )
        .await
        {
            presented.banner = banner.lines.first().cloned().unwrap_or_default();
            smtp.quit(timeouts.reply).await;
        }
        smtp.close().await;
        Ok(presented)
    }

    async fn handshake(
        &self,
        tcp: TcpStream,
        server_name: ServerName<'static>,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ProbeError> {
        let limit = self.settings.timeouts.handshake;
        match tokio::time::timeout(limit, self.connector.connect(server_name, tcp)).await {
            Err(_) => Err(ProbeError::Timeout {
                phase: Phase::Handshake,
                after: limit,
            }),
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(error)) => Err(handshake_error(error)),
        }
    }
}

fn handshake_error(error: io::Error) -> ProbeError {
    if let Some(tls_error) = tls::rustls_error(&error) {
        return ProbeError::Handshake {
            alert: tls::received_alert(&error),
            reason: tls_error.to_string(),
        };
    }
    match error.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe => ProbeError::Closed {
            phase: Phase::Handshake,
        },
        _ => ProbeError::Io {
            phase: Phase::Handshake,
            source: error,
        },
    }
}

fn rejected(phase: Phase, reply: &Reply) -> ProbeError {
    ProbeError::Rejected {
        phase,
        code: reply.code,
        text: reply.text(),
    }
}

fn presented(stream: &tokio_rustls::client::TlsStream<TcpStream>) -> Result<Presented, ProbeError> {
    let (_, connection) = stream.get_ref();
    let chain = connection
        .peer_certificates()
        .filter(|chain| !chain.is_empty())
        .ok_or(ProbeError::NoCertificate)?
        .to_vec();
    let tls_version = match connection.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    };
    let cipher_suite = connection
        .negotiated_cipher_suite()
        .map(|suite| format!("{:?}", suite.suite()))
        .unwrap_or_default();
    Ok(Presented {
        chain,
        tls_version,
        cipher_suite,
        banner: String::new(),
    })
}

async fn connect(address: SocketAddr, limit: Duration) -> Result<TcpStream, ProbeError> {
    let stream = match tokio::time::timeout(limit, TcpStream::connect(address)).await {
        Err(_) => {
            return Err(ProbeError::Timeout {
                phase: Phase::Connect,
                after: limit,
            });
        }
        Ok(Err(error)) if error.kind() == io::ErrorKind::ConnectionRefused => {
            return Err(ProbeError::Refused);
        }
        Ok(Err(error)) => return Err(ProbeError::Connect(error)),
        Ok(Ok(stream)) => stream,
    };
    // Small commands, one at a time: do not wait for Nagle.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// An SMTP conversation over any byte stream, with its own line buffer (so that we can tell
/// whether the server sent more than it should before the handshake).
struct Conversation<S> {
    stream: S,
    buffer: Vec<u8>,
    parser: ReplyParser,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conversation<S> {
    fn new(stream: S) -> Self {
        Self {
            stream,
            buffer: Vec::with_capacity(1024),
            parser: ReplyParser::new(),
        }
    }

    /// Sends `line` (CRLF included) and reads the complete reply.
    async fn command(
        &mut self,
        line: &str,
        phase: Phase,
        limit: Duration,
    ) -> Result<Reply, ProbeError> {
        let deadline = Instant::now() + limit;
        let write = self.stream.write_all(line.as_bytes());
        match tokio::time::timeout_at(deadline, write).await {
            Err(_) => {
                return Err(ProbeError::Timeout {
                    phase,
                    after: limit,
                });
            }
            Ok(Err(error)) => return Err(io_error(phase, error)),
            Ok(Ok(())) => {}
        }
        self.read_reply_until(phase, deadline, limit).await
    }

    /// Reads one complete (possibly multi-line) reply within `limit`.
    async fn read_reply(&mut self, phase: Phase, limit: Duration) -> Result<Reply, ProbeError> {
        self.read_reply_until(phase, Instant::now() + limit, limit)
            .await
    }

    async fn read_reply_until(
        &mut self,
        phase: Phase,
        deadline: Instant,
        limit: Duration,
    ) -> Result<Reply, ProbeError> {
        loop {
            while let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                let line = &line[..line.len() - 1];
                let parsed = self
                    .parser
                    .push_line(line)
                    .map_err(|source| ProbeError::Protocol { phase, source })?;
                if let Some(reply) = parsed {
                    return Ok(reply);
                }
            }
            if self.buffer.len() > MAX_LINE {
                return Err(ProbeError::Protocol {
                    phase,
                    source: SyntaxError::LineTooLong,
                });
            }
            let mut chunk = [0u8; 2048];
            let read = self.stream.read(&mut chunk);
            match tokio::time::timeout_at(deadline, read).await {
                Err(_) => {
                    return Err(ProbeError::Timeout {
                        phase,
                        after: limit,
                    });
                }
                Ok(Err(error)) => return Err(io_error(phase, error)),
                Ok(Ok(0)) => return Err(ProbeError::Closed { phase }),
                Ok(Ok(n)) => self.buffer.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Says goodbye; failures do not matter any more.
    async fn quit(&mut self, limit: Duration) {
        let _ = self.command("QUIT\r\n", Phase::Ehlo, limit).await;
    }

    /// Closes the write side (for TLS: sends close_notify).
    async fn close(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.stream.shutdown()).await;
    }

    /// The stream, if nothing unread is buffered.
    fn into_inner(self) -> Option<S> {
        (self.buffer.is_empty() && !self.parser.in_progress()).then_some(self.stream)
    }
}

fn io_error(phase: Phase, error: io::Error) -> ProbeError {
    match error.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => ProbeError::Closed { phase },
        _ => ProbeError::Io {
            phase,
            source: error,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_follows_port() {
        assert_eq!(TlsMode::for_port(25), TlsMode::StartTls);
        assert_eq!(TlsMode::for_port(587), TlsMode::StartTls);
        assert_eq!(TlsMode::for_port(465), TlsMode::Implicit);
    }

    #[test]
    fn target_displays_like_postfix_and_normalises_host() {
        let target = Target::new("MX.Example.COM.", "[2001:db8::1]:25".parse().unwrap());
        assert_eq!(target.host, "mx.example.com");
        assert_eq!(target.to_string(), "mx.example.com[2001:db8::1]:25");
    }

    #[test]
    fn errors_name_the_phase_and_reply() {
        let error = ProbeError::Rejected {
            phase: Phase::Banner,
            code: 554,
            text: "5.7.1 go away".into(),
        };
        assert_eq!(
            error.to_string(),
            "banner: server replied 554 5.7.1 go away"
        );
        let error = ProbeError::Timeout {
            phase: Phase::Banner,
            after: Duration::from_millis(1500),
        };
        assert_eq!(
            error.to_string(),
            "timed out after 1.5s waiting for the banner"
        );
        let error = ProbeError::Handshake {
            alert: Some(AlertDescription::HandshakeFailure),
            reason: "x".into(),
        };
        assert_eq!(
            error.to_string(),
            "TLS handshake failed: server sent TLS alert HandshakeFailure"
        );
    }

    #[test]
    fn local_host_name_is_usable_in_ehlo() {
        let name = local_host_name();
        assert!(!name.is_empty());
        assert!(!name.contains(char::is_whitespace));
    }

    #[tokio::test]
    async fn conversation_refuses_to_hand_over_with_buffered_data() {
        let (client, mut server) = tokio::io::duplex(1024);
        server
            .write_all(b"220-hello\r\n220 ready\r\n250 extra\r\n")
            .await
            .unwrap();
        let mut smtp = Conversation::new(client);
        let reply = smtp
            .read_reply(Phase::Banner, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(reply.lines, ["hello", "ready"]);
        assert!(smtp.into_inner().is_none());
    }

    #[tokio::test]
    async fn conversation_reports_close_and_timeout() {
        let (client, server) = tokio::io::duplex(64);
        drop(server);
        let mut smtp = Conversation::new(client);
        let error = smtp
            .read_reply(Phase::Banner, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            ProbeError::Closed {
                phase: Phase::Banner
            }
        ));

        let (client, _server) = tokio::io::duplex(64);
        let mut smtp = Conversation::new(client);
        let error = smtp
            .read_reply(Phase::Banner, Duration::from_millis(10))
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            ProbeError::Timeout {
                phase: Phase::Banner,
                ..
            }
        ));
    }
}
