//! A hostile authoritative server for the test suite: an in-process DNS proxy that sits at one
//! NS address of a lab zone, forwards every query to a real BIND serving that zone, and lets a
//! test tamper with the reply, per transport (UDP and TCP separately).
//!
//! Why a proxy and not a server of its own: every forgery starts from the genuine, signed reply
//! (RFC 4035 §3.1), so a case changes exactly one thing (a TTL, a signature, the TC bit, the
//! source address) and everything else stays real. The zone's other NS addresses are served by
//! BIND directly, as in production when one path or one server is compromised.
//!
//! ```ignore
//! let hostile = Hostile::start(listen, bind_addr)?;        // UDP and TCP on listen (port 53)
//! hostile.set(Rules::new(Tamper::TruncateUdp, Tamper::Reset).only(RecordType::TLSA));
//! hostile.set(Rules::both(Tamper::Modify(Arc::new(|reply: &mut Message| { … }))));
//! hostile.seen(Proto::Tcp);                                 // queries it received over TCP
//! ```
//!
//! Queries that a rule's filter (`only`) does not select pass through untouched, so a test can
//! forge TLSA answers while the resolver still walks the zone's delegation through the proxy.
//! The proxy runs its own runtime on its own thread: it does not depend on the test's runtime
//! and stops when dropped. Every upstream exchange has a timeout.

#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::oneshot;

/// How long the proxy waits for BIND, and for a client's TCP query.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// What to do with one query's reply.
#[derive(Clone)]
pub enum Tamper {
    /// Relay BIND's reply unchanged.
    PassThrough,
    /// Relay BIND's reply after `f` changed it (re-encoded; ID kept).
    Modify(Arc<dyn Fn(&mut Message) + Send + Sync>),
    /// Answer with this message instead (the query's ID is copied in).
    Replace(Message),
    /// Answer nothing (UDP: drop the query; TCP: keep the connection open, say nothing).
    Silence,
    /// UDP only: reply with TC set and the question alone, so the client retries over TCP
    /// (RFC 7766 §5). Over TCP it acts as `PassThrough`.
    TruncateUdp,
    /// TCP: accept, then close the connection without a word (FIN). UDP: as `Silence`.
    Close,
    /// TCP: accept, then reset the connection (RST, what a client sees as refused or reset).
    /// UDP: as `Silence`.
    Reset,
    /// UDP: send BIND's genuine reply from another source address (port 0 on this IP, which
    /// must be on `lo`): an off-path spoof that a client must ignore. TCP: as `Silence`.
    FromOtherSource(IpAddr),
}

/// Over which transport a query came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Udp,
    Tcp,
}

/// The tampering in force: one [`Tamper`] per transport, for the queries `only` selects.
#[derive(Clone)]
pub struct Rules {
    pub udp: Tamper,
    pub tcp: Tamper,
    /// Only queries of this type are tampered with; `None`: every query.
    pub only: Option<RecordType>,
}

impl Rules {
    /// `udp` for UDP queries, `tcp` for TCP queries.
    pub fn new(udp: Tamper, tcp: Tamper) -> Self {
        Self {
            udp,
            tcp,
            only: None,
        }
    }

    /// The same tampering over both transports.
    pub fn both(tamper: Tamper) -> Self {
        Self::new(tamper.clone(), tamper)
    }

    /// Everything passes through.
    pub fn pass_through() -> Self {
        Self::both(Tamper::PassThrough)
    }

    /// Tampers only with queries for `rtype`.
    pub fn only(mut self, rtype: RecordType) -> Self {
        self.only = Some(rtype);
        self
    }

    fn for_query(&self, proto: Proto, query: &Message) -> Tamper {
        let selected = match self.only {
            None => true,
            Some(rtype) => query.queries.iter().any(|q| q.query_type() == rtype),
        };
        match (selected, proto) {
            (false, _) => Tamper::PassThrough,
            (true, Proto::Udp) => self.udp.clone(),
            (true, Proto::Tcp) => self.tcp.clone(),
        }
    }
}

struct Shared {
    upstream: SocketAddr,
    rules: Mutex<Rules>,
    udp_seen: AtomicU64,
    tcp_seen: AtomicU64,
}

impl Shared {
    fn rules(&self) -> Rules {
        // invariant: the lock is held only to clone or replace the rules.
        self.rules.lock().expect("rules").clone()
    }
}

/// A running hostile proxy; stops when dropped.
pub struct Hostile {
    /// Where it listens (UDP and TCP), port 53 in the lab.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Hostile {
    /// Listens on `addr` (UDP and TCP) and forwards to `upstream`; passes everything through
    /// until [`Hostile::set`].
    pub fn start(addr: SocketAddr, upstream: SocketAddr) -> Result<Self, String> {
        let shared = Arc::new(Shared {
            upstream,
            rules: Mutex::new(Rules::pass_through()),
            udp_seen: AtomicU64::new(0),
            tcp_seen: AtomicU64::new(0),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("hostile proxy runtime: {e}"))?;
        let (udp, tcp) = runtime.block_on(async {
            let udp = UdpSocket::bind(addr).await;
            let tcp = TcpListener::bind(addr).await;
            (udp, tcp)
        });
        let udp = Arc::new(udp.map_err(|e| format!("hostile proxy: bind UDP {addr}: {e}"))?);
        let tcp = tcp.map_err(|e| format!("hostile proxy: bind TCP {addr}: {e}"))?;
        let (stop, stopped) = oneshot::channel();
        let state = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("hostile {addr}"))
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        _ = stopped => {}
                        () = serve_udp(udp, Arc::clone(&state)) => {}
                        () = serve_tcp(tcp, state) => {}
                    }
                });
            })
            .map_err(|e| format!("hostile proxy thread: {e}"))?;
        Ok(Self {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Replaces the tampering rules (takes effect for the next query).
    pub fn set(&self, rules: Rules) {
        // invariant: the lock is held only to clone or replace the rules.
        *self.shared.rules.lock().expect("rules") = rules;
    }

    /// How many queries arrived over `proto` so far.
    pub fn seen(&self, proto: Proto) -> u64 {
        match proto {
            Proto::Udp => self.shared.udp_seen.load(Ordering::Relaxed),
            Proto::Tcp => self.shared.tcp_seen.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve_udp(socket: Arc<UdpSocket>, shared: Arc<Shared>) {
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((len, client)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let Ok(query) = Message::from_vec(&buf[..len]) else {
            continue;
        };
        shared.udp_seen.fetch_add(1, Ordering::Relaxed);
        let tamper = shared.rules().for_query(Proto::Udp, &query);
        let wire = buf[..len].to_vec();
        let socket = Arc::clone(&socket);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let _ = answer_udp(&socket, client, &query, &wire, tamper, &shared).await;
        });
    }
}

async fn answer_udp(
    socket: &UdpSocket,
    client: SocketAddr,
    query: &Message,
    wire: &[u8],
    tamper: Tamper,
    shared: &Shared,
) -> Result<(), String> {
    let reply = match tamper {
        Tamper::Silence | Tamper::Close | Tamper::Reset => return Ok(()),
        Tamper::TruncateUdp => truncated(query)?,
        Tamper::Replace(message) => with_id(message, query)?,
        Tamper::PassThrough => upstream_udp(shared.upstream, wire).await?,
        Tamper::Modify(f) => modify(&upstream_udp(shared.upstream, wire).await?, &*f)?,
        Tamper::FromOtherSource(ip) => {
            let reply = upstream_udp(shared.upstream, wire).await?;
            let other = UdpSocket::bind((ip, 0))
                .await
                .map_err(|e| format!("bind {ip}: {e}"))?;
            other
                .send_to(&reply, client)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(());
        }
    };
    socket
        .send_to(&reply, client)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

async fn serve_tcp(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let _ = answer_tcp(stream, &shared).await;
        });
    }
}

/// Answers the queries of one TCP connection (RFC 7766 §8: two-byte length prefix).
async fn answer_tcp(mut stream: TcpStream, shared: &Shared) -> Result<(), String> {
    loop {
        let Some(wire) = read_framed(&mut stream).await? else {
            return Ok(());
        };
        let query = Message::from_vec(&wire).map_err(|e| e.to_string())?;
        shared.tcp_seen.fetch_add(1, Ordering::Relaxed);
        let reply = match shared.rules().for_query(Proto::Tcp, &query) {
            Tamper::Close => return Ok(()),
            Tamper::Reset => {
                stream.set_zero_linger().map_err(|e| e.to_string())?;
                return Ok(());
            }
            Tamper::Silence | Tamper::FromOtherSource(_) => {
                // Hold the connection open, answer nothing; the client's timeout ends it.
                let _ = read_framed(&mut stream).await;
                return Ok(());
            }
            Tamper::Replace(message) => with_id(message, &query)?,
            Tamper::PassThrough | Tamper::TruncateUdp => {
                upstream_tcp(shared.upstream, &wire).await?
            }
            Tamper::Modify(f) => modify(&upstream_tcp(shared.upstream, &wire).await?, &*f)?,
        };
        write_framed(&mut stream, &reply).await?;
    }
}

/// The query's header and question with TC set and no records.
fn truncated(query: &Message) -> Result<Vec<u8>, String> {
    let mut reply = query.clone();
    reply.metadata.message_type = hickory_proto::op::MessageType::Response;
    reply.metadata.truncation = true;
    reply.metadata.authoritative = true;
    reply.answers.clear();
    reply.authorities.clear();
    reply.additionals.clear();
    reply.to_vec().map_err(|e| e.to_string())
}

fn with_id(mut message: Message, query: &Message) -> Result<Vec<u8>, String> {
    message.metadata.id = query.metadata.id;
    message.to_vec().map_err(|e| e.to_string())
}

fn modify(wire: &[u8], f: &(dyn Fn(&mut Message) + Send + Sync)) -> Result<Vec<u8>, String> {
    let mut message = Message::from_vec(wire).map_err(|e| e.to_string())?;
    f(&mut message);
    message.to_vec().map_err(|e| e.to_string())
}

async fn upstream_udp(upstream: SocketAddr, wire: &[u8]) -> Result<Vec<u8>, String> {
    let bind: SocketAddr = match upstream {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
    socket.connect(upstream).await.map_err(|e| e.to_string())?;
    socket.send(wire).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65535];
    let len = tokio::time::timeout(UPSTREAM_TIMEOUT, socket.recv(&mut buf))
        .await
        .map_err(|_| format!("{upstream} did not answer over UDP"))?
        .map_err(|e| e.to_string())?;
    buf.truncate(len);
    Ok(buf)
}

async fn upstream_tcp(upstream: SocketAddr, wire: &[u8]) -> Result<Vec<u8>, String> {
    let exchange = async {
        let mut stream = TcpStream::connect(upstream)
            .await
            .map_err(|e| e.to_string())?;
        write_framed(&mut stream, wire).await?;
        read_framed(&mut stream)
            .await?
            .ok_or_else(|| format!("{upstream} closed the TCP connection"))
    };
    tokio::time::timeout(UPSTREAM_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("{upstream} did not answer over TCP"))?
}

/// One length-prefixed message, or `None` at a clean end of stream.
async fn read_framed(stream: &mut TcpStream) -> Result<Option<Vec<u8>>, String> {
    let mut len = [0u8; 2];
    let read = tokio::time::timeout(UPSTREAM_TIMEOUT, stream.read_exact(&mut len)).await;
    match read {
        Err(_) => return Ok(None),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Ok(Err(e)) => return Err(e.to_string()),
        Ok(Ok(_)) => {}
    }
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream
        .read_exact(&mut body)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some(body))
}

async fn write_framed(stream: &mut TcpStream, wire: &[u8]) -> Result<(), String> {
    let len = u16::try_from(wire.len()).map_err(|_| "message over 65535 bytes".to_string())?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(wire);
    stream.write_all(&framed).await.map_err(|e| e.to_string())
}
