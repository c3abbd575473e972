//! The real [`Transport`]: UDP through hickory-net, TCP when the answer is truncated
//! (RFC 7766 §5: "a resolver SHOULD retry over TCP" on TC=1), a per-query timeout and a
//! bounded number of attempts. Every query daneroll sends goes through here: resolver lookups
//! (`check`, discovery), the chain walk (DS and DNSKEY RRsets, often the largest answers) and
//! the per-server polls of the observer, over IPv4 and IPv6 alike.
//!
//! hickory's own UDP retry sends overlapping duplicates that cannot be counted; daneroll sets it
//! to a single send per attempt and retries itself, so `queries_sent` is exact (the benchmark
//! reports it) and every attempt has the configured timeout.
//!
//! Each exchange's background I/O task is spawned here and aborted when the query ends.
//! (hickory's `TcpClientStream::exchange` parks that task in a `JoinSet` owned by the runtime
//! provider it is given; the provider is dropped when `exchange` returns, the `JoinSet` with it,
//! and dropping a `JoinSet` aborts its tasks: every TCP query then failed with "receiver was
//! canceled" or "resource too busy", so TCP fallback never worked.)
//!
//! Every reply, UDP or TCP, must answer the question asked (RFC 5452 §9.1: ID and question
//! section); a reply over TCP gets no more trust than one over UDP, and the observer verifies
//! its signatures like any other.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_net::NetError;
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_net::xfer::{DnsExchange, DnsHandle, DnsMultiplexer, DnsRequestSender, FirstAnswer};
use hickory_proto::op::{DnsRequest, DnsRequestOptions, Edns, Message, MessageType, Query};
use hickory_proto::rr::DNSClass;
use tokio::task::JoinHandle;

use super::transport::{QueryError, Question, Transport};

/// EDNS buffer size recommended by DNS Flag Day 2020 (RFC 9715): avoids fragmentation.
const EDNS_PAYLOAD: u16 = 1232;

/// Queries servers over the network.
#[derive(Debug)]
pub struct HickoryTransport {
    timeout: Duration,
    attempts: u8,
    sent: AtomicU64,
}

/// Why one attempt failed, and over which transport.
enum AttemptError {
    Udp(NetError),
    /// The UDP answer was truncated and the TCP retry failed.
    Tcp(NetError),
    /// A reply that does not answer the question (over `transport`).
    Mismatch {
        transport: &'static str,
        reason: String,
    },
}

/// The background I/O task of one exchange; aborted when the query is done (or dropped).
struct Background(JoinHandle<()>);

impl Background {
    fn spawn<S: DnsRequestSender>(
        background: hickory_net::xfer::DnsExchangeBackground<
            S,
            <TokioRuntimeProvider as hickory_net::runtime::RuntimeProvider>::Timer,
        >,
    ) -> Self {
        Self(tokio::spawn(async move {
            // The task ends when the exchange is dropped; its error is the query's error.
            let _ = background.await;
        }))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl HickoryTransport {
    /// A transport that waits `timeout` for each attempt and tries up to `attempts` times.
    pub fn new(timeout: Duration, attempts: u8) -> Self {
        Self {
            timeout,
            attempts: attempts.max(1),
            sent: AtomicU64::new(0),
        }
    }

    fn request(question: &Question) -> DnsRequest {
        let mut message = Message::query();
        let mut query = Query::query(question.name.clone(), question.rtype);
        query.set_query_class(DNSClass::IN);
        message.add_query(query);
        message.metadata.recursion_desired = question.recursion_desired;
        message.metadata.checking_disabled = question.checking_disabled;
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD).set_dnssec_ok(true);
        message.set_edns(edns);
        let mut options = DnsRequestOptions::default();
        options.recursion_desired = question.recursion_desired;
        options.edns_set_dnssec_ok = true;
        options.edns_payload_len = EDNS_PAYLOAD;
        DnsRequest::new(message, options)
    }

    async fn udp(&self, server: SocketAddr, question: &Question) -> Result<Message, NetError> {
        let stream = UdpClientStream::builder(server, TokioRuntimeProvider::new())
            .with_timeout(Some(self.timeout))
            .with_max_retries(1)
            .build();
        let (exchange, background) = DnsExchange::<TokioRuntimeProvider>::from_stream(stream);
        let _task = Background::spawn(background);
        self.sent.fetch_add(1, Ordering::Relaxed);
        let response = exchange
            .send(Self::request(question))
            .first_answer()
            .await?;
        Ok(response.into_message())
    }

    async fn tcp(&self, server: SocketAddr, question: &Question) -> Result<Message, NetError> {
        let (connect, handle) = TcpClientStream::new(
            server,
            None,
            Some(self.timeout),
            TokioRuntimeProvider::new(),
        );
        let stream = connect.await?;
        let multiplexer = DnsMultiplexer::new(stream, handle)
            .with_timeout(self.timeout)
            .with_max_active_requests(1);
        let (exchange, background) = DnsExchange::<TokioRuntimeProvider>::from_stream(multiplexer);
        let _task = Background::spawn(background);
        self.sent.fetch_add(1, Ordering::Relaxed);
        let response = exchange
            .send(Self::request(question))
            .first_answer()
            .await?;
        Ok(response.into_message())
    }

    async fn attempt(
        &self,
        server: SocketAddr,
        question: &Question,
    ) -> Result<Message, AttemptError> {
        let message = tokio::time::timeout(self.timeout, self.udp(server, question))
            .await
            .map_err(|_| AttemptError::Udp(NetError::Timeout))?
            .map_err(AttemptError::Udp)?;
        answers(question, &message).map_err(|reason| AttemptError::Mismatch {
            transport: "UDP",
            reason,
        })?;
        if !message.metadata.truncation {
            return Ok(message);
        }
        let message = tokio::time::timeout(self.timeout, self.tcp(server, question))
            .await
            .map_err(|_| AttemptError::Tcp(NetError::Timeout))?
            .map_err(AttemptError::Tcp)?;
        answers(question, &message).map_err(|reason| AttemptError::Mismatch {
            transport: "TCP",
            reason,
        })?;
        if message.metadata.truncation {
            return Err(AttemptError::Mismatch {
                transport: "TCP",
                reason: "the answer is truncated (TC set) over TCP as well".into(),
            });
        }
        Ok(message)
    }
}

/// Whether `reply` is a response to `question`: QR set, one question, same name (any case),
/// type and class IN.
fn answers(question: &Question, reply: &Message) -> Result<(), String> {
    if reply.metadata.message_type != MessageType::Response {
        return Err("the message is not a response (QR clear)".into());
    }
    let matches = |q: &Query| {
        q.name() == &question.name
            && q.query_type() == question.rtype
            && q.query_class() == DNSClass::IN
    };
    match reply.queries.as_slice() {
        [q] if matches(q) => Ok(()),
        [q] => Err(format!(
            "it answers {} {} {} instead",
            q.name(),
            q.query_class(),
            q.query_type()
        )),
        other => Err(format!("it has {} questions instead of 1", other.len())),
    }
}

impl Transport for HickoryTransport {
    async fn query(&self, server: SocketAddr, question: Question) -> Result<Message, QueryError> {
        let mut last = AttemptError::Udp(NetError::Timeout);
        for _ in 0..self.attempts {
            match self.attempt(server, &question).await {
                Ok(message) => return Ok(message),
                Err(AttemptError::Udp(error)) if is_refused(&error) => {
                    return Err(QueryError::ConnectionRefused {
                        server,
                        question: question.to_string(),
                    });
                }
                Err(error) => last = error,
            }
        }
        let text = question.to_string();
        Err(match last {
            AttemptError::Udp(NetError::Timeout) => QueryError::Timeout {
                server,
                question: text,
                attempts: self.attempts,
                timeout: self.timeout,
            },
            AttemptError::Udp(other) => QueryError::Failed {
                server,
                question: text,
                reason: other.to_string(),
            },
            AttemptError::Tcp(error) => QueryError::Tcp {
                server,
                question: text,
                reason: tcp_reason(&error, self.timeout),
            },
            AttemptError::Mismatch { transport, reason } => QueryError::Mismatch {
                server,
                question: text,
                transport,
                reason,
            },
        })
    }

    fn queries_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
}

fn is_refused(error: &NetError) -> bool {
    match error {
        NetError::Io(io) => io.kind() == io::ErrorKind::ConnectionRefused,
        other => other.to_string().contains("Connection refused"),
    }
}

fn tcp_reason(error: &NetError, timeout: Duration) -> String {
    if is_refused(error) {
        return "connection refused".into();
    }
    match error {
        NetError::Timeout => format!("no answer within {timeout:?}"),
        NetError::Io(io) if io.kind() == io::ErrorKind::UnexpectedEof => {
            "the server closed the connection without answering".into()
        }
        NetError::Io(io) if io.kind() == io::ErrorKind::ConnectionReset => {
            "the server reset the connection".into()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
#[path = "net_tests.rs"]
mod tests;
