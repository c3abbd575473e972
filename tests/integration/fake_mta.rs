//! An in-process SMTP server for what a real MTA will not do on demand: hide STARTTLS, answer
//! 454, greet slowly, greet in many lines, answer a handshake with an alert, send bytes after
//! its 220 to STARTTLS. It records every command it receives and the SNI of each handshake, so
//! tests can also check that the probe never sends mail.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::ServerConfig;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::certs::TestCert;

/// What the server does in the TLS phase.
#[derive(Clone)]
pub enum Tls {
    /// A real handshake presenting this configuration's chain.
    Present(Arc<ServerConfig>),
    /// Reads the ClientHello and answers with a fatal alert of this description
    /// (40 = handshake_failure).
    Alert(u8),
}

/// How the server behaves.
#[derive(Clone)]
pub struct Script {
    /// Greeting lines, codes included (`220-…`, `220 …`); empty: close without greeting.
    pub banner: Vec<String>,
    /// Waits this long before greeting.
    pub banner_delay: Duration,
    /// Keywords after the first EHLO line.
    pub ehlo_keywords: Vec<String>,
    /// The reply to STARTTLS.
    pub starttls_reply: String,
    /// Bytes sent right after the STARTTLS reply, before the handshake.
    pub after_starttls: Vec<u8>,
    /// TLS behaviour.
    pub tls: Tls,
    /// TLS from the first byte (port 465 style).
    pub implicit: bool,
}

impl Script {
    /// A well-behaved server presenting `cert`.
    pub fn presenting(cert: &TestCert) -> Self {
        Self {
            banner: vec!["220 fake.example ESMTP".into()],
            banner_delay: Duration::ZERO,
            ehlo_keywords: vec!["PIPELINING".into(), "STARTTLS".into(), "8BITMIME".into()],
            starttls_reply: "220 2.0.0 Ready to start TLS".into(),
            after_starttls: Vec::new(),
            tls: Tls::Present(server_config(cert)),
            implicit: false,
        }
    }
}

/// A rustls server configuration presenting `cert` and its chain.
pub fn server_config(cert: &TestCert) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    // invariant: the provider supports the default versions; the key matches the leaf.
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(cert.chain.clone(), cert.private_key())
        .expect("server certificate");
    Arc::new(config)
}

/// A running fake server; stops when dropped.
pub struct FakeMta {
    /// Where it listens.
    pub address: SocketAddr,
    commands: Arc<Mutex<Vec<String>>>,
    sni: Arc<Mutex<Vec<Option<String>>>>,
    task: JoinHandle<()>,
}

impl FakeMta {
    /// Listens on `bind` (e.g. `127.0.0.1:0`, `[::1]:0`) and serves `script` to every client.
    pub async fn start(bind: &str, script: Script) -> Self {
        // invariant: tests bind loopback with an ephemeral port.
        let listener = TcpListener::bind(bind).await.expect("bind fake MTA");
        let address = listener.local_addr().expect("local address");
        let commands = Arc::new(Mutex::new(Vec::new()));
        let sni = Arc::new(Mutex::new(Vec::new()));
        let (c, s) = (Arc::clone(&commands), Arc::clone(&sni));
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (script, c, s) = (script.clone(), Arc::clone(&c), Arc::clone(&s));
                tokio::spawn(async move {
                    let _ = serve(stream, script, c, s).await;
                });
            }
        });
        Self {
            address,
            commands,
            sni,
            task,
        }
    }

    /// Every command line received so far, in order.
    pub fn commands(&self) -> Vec<String> {
        // invariant: the lock is held only for short pushes.
        self.commands.lock().expect("commands").clone()
    }

    /// The SNI of every completed handshake.
    pub fn sni(&self) -> Vec<Option<String>> {
        // invariant: as above.
        self.sni.lock().expect("sni").clone()
    }
}

impl Drop for FakeMta {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Log = Arc<Mutex<Vec<String>>>;

async fn serve(
    stream: TcpStream,
    script: Script,
    commands: Log,
    sni: Arc<Mutex<Vec<Option<String>>>>,
) -> std::io::Result<()> {
    tokio::time::sleep(script.banner_delay).await;
    if script.implicit {
        let Tls::Present(config) = &script.tls else {
            return Ok(());
        };
        let tls = tokio_rustls::TlsAcceptor::from(Arc::clone(config))
            .accept(stream)
            .await?;
        record_sni(&tls, &sni);
        let mut tls = BufReader::new(tls);
        write_lines(&mut tls, &script.banner).await?;
        return after_tls(tls, commands).await;
    }
    let mut smtp = BufReader::new(stream);
    if script.banner.is_empty() {
        return Ok(());
    }
    write_lines(&mut smtp, &script.banner).await?;
    loop {
        let Some(line) = read_command(&mut smtp, &commands).await? else {
            return Ok(());
        };
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" => {
                let mut lines = vec!["fake.example".to_string()];
                lines.extend(script.ehlo_keywords.iter().cloned());
                let count = lines.len();
                let reply: Vec<String> = lines
                    .into_iter()
                    .enumerate()
                    .map(|(i, l)| format!("250{}{l}", if i + 1 == count { ' ' } else { '-' }))
                    .collect();
                write_lines(&mut smtp, &reply).await?;
            }
            "STARTTLS" => {
                // One write, so that injected bytes arrive with the reply, as in the attack.
                let mut reply = format!("{}\r\n", script.starttls_reply).into_bytes();
                reply.extend_from_slice(&script.after_starttls);
                smtp.get_mut().write_all(&reply).await?;
                if !script.starttls_reply.starts_with("220") {
                    continue;
                }
                let stream = smtp.into_inner();
                return match &script.tls {
                    Tls::Present(config) => {
                        let tls = tokio_rustls::TlsAcceptor::from(Arc::clone(config))
                            .accept(stream)
                            .await?;
                        record_sni(&tls, &sni);
                        after_tls(BufReader::new(tls), commands).await
                    }
                    Tls::Alert(description) => send_alert(stream, *description).await,
                };
            }
            "QUIT" => {
                write_lines(&mut smtp, &["221 2.0.0 Bye".to_string()]).await?;
                return Ok(());
            }
            _ => {
                write_lines(
                    &mut smtp,
                    &["502 5.5.2 Error: command not recognized".into()],
                )
                .await?
            }
        }
    }
}

fn record_sni(
    tls: &tokio_rustls::server::TlsStream<TcpStream>,
    sni: &Arc<Mutex<Vec<Option<String>>>>,
) {
    let name = tls.get_ref().1.server_name().map(str::to_string);
    // invariant: the lock is held only for short pushes.
    sni.lock().expect("sni").push(name);
}

/// After the handshake: answer EHLO and QUIT; anything else is recorded and refused.
async fn after_tls<S: AsyncRead + AsyncWrite + Unpin>(
    mut smtp: BufReader<S>,
    commands: Log,
) -> std::io::Result<()> {
    while let Some(line) = read_command(&mut smtp, &commands).await? {
        if line.eq_ignore_ascii_case("QUIT") {
            write_lines(&mut smtp, &["221 2.0.0 Bye".to_string()]).await?;
            smtp.get_mut().shutdown().await?;
            return Ok(());
        }
        write_lines(&mut smtp, &["250 fake.example".to_string()]).await?;
    }
    Ok(())
}

/// Waits for the ClientHello record, then sends a fatal alert record (TLS 1.2 framing).
async fn send_alert(mut stream: TcpStream, description: u8) -> std::io::Result<()> {
    let mut header = [0u8; 5];
    tokio::io::AsyncReadExt::read_exact(&mut stream, &mut header).await?;
    let length = usize::from(u16::from_be_bytes([header[3], header[4]]));
    let mut body = vec![0u8; length];
    tokio::io::AsyncReadExt::read_exact(&mut stream, &mut body).await?;
    stream
        .write_all(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description])
        .await?;
    stream.shutdown().await
}

async fn read_command<S: AsyncRead + AsyncWrite + Unpin>(
    smtp: &mut BufReader<S>,
    commands: &Log,
) -> std::io::Result<Option<String>> {
    let mut line = String::new();
    if smtp.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let line = line.trim_end().to_string();
    // invariant: the lock is held only for short pushes.
    commands.lock().expect("commands").push(line.clone());
    Ok(Some(line))
}

async fn write_lines<S: AsyncRead + AsyncWrite + Unpin>(
    smtp: &mut BufReader<S>,
    lines: &[String],
) -> std::io::Result<()> {
    let mut text = String::new();
    for line in lines {
        text.push_str(line);
        text.push_str("\r\n");
    }
    smtp.get_mut().write_all(text.as_bytes()).await?;
    smtp.get_mut().flush().await
}
