//! The real [`Transport`]: UDP through hickory-net, TCP when the answer is truncated
//! (RFC 7766 §5), a per-query timeout and a bounded number of attempts.
//!
//! hickory's own UDP retry sends overlapping duplicates that cannot be counted; daneroll sets it
//! to a single send per attempt and retries itself, so `queries_sent` is exact (the benchmark
//! reports it) and every attempt has the configured timeout.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_net::NetError;
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_net::xfer::{DnsExchange, DnsHandle, FirstAnswer};
use hickory_proto::op::{DnsRequest, DnsRequestOptions, Edns, Message, Query};

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
        query.set_query_class(hickory_proto::rr::DNSClass::IN);
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
        let exchange = UdpClientStream::builder(server, TokioRuntimeProvider::new())
            .with_timeout(Some(self.timeout))
            .with_max_retries(1)
            .exchange();
        self.sent.fetch_add(1, Ordering::Relaxed);
        let response = exchange
            .send(Self::request(question))
            .first_answer()
            .await?;
        Ok(response.into_message())
    }

    async fn tcp(&self, server: SocketAddr, question: &Question) -> Result<Message, NetError> {
        let exchange: DnsExchange<TokioRuntimeProvider> = TcpClientStream::exchange(
            server,
            None,
            self.timeout,
            Some(1),
            TokioRuntimeProvider::new(),
        )
        .await?;
        self.sent.fetch_add(1, Ordering::Relaxed);
        let response = exchange
            .send(Self::request(question))
            .first_answer()
            .await?;
        Ok(response.into_message())
    }

    async fn attempt(&self, server: SocketAddr, question: &Question) -> Result<Message, NetError> {
        let message = tokio::time::timeout(self.timeout, self.udp(server, question))
            .await
            .map_err(|_| NetError::Timeout)??;
        if !message.metadata.truncation {
            return Ok(message);
        }
        tokio::time::timeout(self.timeout, self.tcp(server, question))
            .await
            .map_err(|_| NetError::Timeout)?
    }
}

impl Transport for HickoryTransport {
    async fn query(&self, server: SocketAddr, question: Question) -> Result<Message, QueryError> {
        let mut last = NetError::Timeout;
        for _ in 0..self.attempts {
            match self.attempt(server, &question).await {
                Ok(message) => return Ok(message),
                Err(error) => {
                    if is_refused(&error) {
                        return Err(QueryError::ConnectionRefused {
                            server,
                            question: question.to_string(),
                        });
                    }
                    last = error;
                }
            }
        }
        Err(match last {
            NetError::Timeout => QueryError::Timeout {
                server,
                question: question.to_string(),
                attempts: self.attempts,
                timeout: self.timeout,
            },
            other => QueryError::Failed {
                server,
                question: question.to_string(),
                reason: other.to_string(),
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
