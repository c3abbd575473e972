//! One DNS request/response exchange with a server over hickory-net: UDP first, TCP when the
//! answer is truncated (RFC 1035 §4.2.1, RFC 7766) or UDP gets no answer, TSIG signing and
//! verification (RFC 8945).
//!
//! Why messages are signed here rather than by hickory's stream signer: when a server rejects
//! the signature it answers with an *unsigned* error (BADSIG, BADKEY) or one signed at its own
//! time (BADTIME), and hickory's verifier then reports only a confusing "truncated HMAC" error.
//! Signing ourselves lets us read the TSIG error code first (RFC 8945 §5.3.2: BADSIG/BADKEY
//! answers are unsigned), say what it means, and still refuse any *successful* answer whose
//! signature does not verify.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hickory_net::NetError;
use hickory_net::client::Client;
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_net::xfer::{DnsHandle, FirstAnswer};
use hickory_proto::op::{DnsRequest, DnsRequestOptions, DnsResponse, Message, OpCode};
use hickory_proto::rr::rdata::tsig::TsigError;

use crate::tsig::TsigKey;

/// The time source for TSIG (RFC 8945 §5.2.3 compares it with the server's clock).
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// How requests travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// UDP, and TCP when the answer is truncated or UDP gets no answer (the default).
    #[default]
    UdpThenTcp,
    /// TCP only (for networks that drop DNS over UDP).
    Tcp,
}

/// What went wrong below the DNS response code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExchangeError {
    Timeout(Duration),
    ConnectionRefused,
    Network(String),
    /// The server's TSIG error (RFC 8945 §5.3.2 / §5.2.3).
    BadSig,
    BadKey,
    BadTime {
        skew_secs: i64,
    },
    TsigOther(u16),
    /// A response that claims success but whose TSIG does not verify, or is missing.
    Unauthenticated(String),
    /// The request could not be built or signed.
    Local(String),
}

/// Sends requests to servers, one at a time.
#[derive(Clone)]
pub(crate) struct Exchanger {
    pub timeout: Duration,
    pub transport: Transport,
    pub clock: Clock,
}

impl Exchanger {
    pub fn new(timeout: Duration, transport: Transport) -> Self {
        Self {
            timeout,
            transport,
            clock: Arc::new(SystemTime::now),
        }
    }

    fn now(&self) -> u64 {
        (self.clock)()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    /// Sends `message` to `server`, signed with `key` if given, and returns the (verified)
    /// response. The response code is left for the caller to interpret.
    pub async fn exchange(
        &self,
        server: SocketAddr,
        mut message: Message,
        key: Option<&TsigKey>,
    ) -> Result<Message, ExchangeError> {
        let now = self.now();
        let mut verifier = match key {
            Some(key) => {
                let signer = key.signer().map_err(ExchangeError::Local)?;
                message
                    .finalize(&signer, now)
                    .map_err(|e| ExchangeError::Local(format!("cannot sign the request: {e}")))?
            }
            None => None,
        };
        let response = match self.transport {
            Transport::Tcp => self.over_tcp(server, &message).await?,
            Transport::UdpThenTcp => match self.over_udp(server, &message).await {
                Ok(response) if !response.truncation => response,
                // Truncated: the whole answer only fits over TCP.
                Ok(_) => self.over_tcp(server, &message).await?,
                // UDP to a closed port is often silent; TCP tells "refused" from "no answer".
                Err(ExchangeError::Timeout(_)) => self.over_tcp(server, &message).await?,
                Err(e) => return Err(e),
            },
        };
        if let Some(tsig) = &response.signature {
            match tsig.data.error {
                None => {}
                Some(TsigError::BadSig) => return Err(ExchangeError::BadSig),
                Some(TsigError::BadKey) => return Err(ExchangeError::BadKey),
                Some(TsigError::BadTime) => {
                    let server_time = server_time(&tsig.data.other).unwrap_or(tsig.data.time);
                    let skew_secs = server_time as i64 - now as i64;
                    return Err(ExchangeError::BadTime { skew_secs });
                }
                Some(other) => return Err(ExchangeError::TsigOther(u16::from(other))),
            }
        }
        let Some(verifier) = verifier.as_mut() else {
            return Ok(response.into_message());
        };
        if response.signature.is_none() {
            // An error answer without TSIG cannot be trusted, but it cannot make us believe a
            // change happened either: report its response code. Success must be signed, and so
            // must NXDOMAIN: to a read it says "no record here", which is evidence too.
            use hickory_proto::op::ResponseCode;
            if !matches!(
                response.response_code,
                ResponseCode::NoError | ResponseCode::NXDomain
            ) {
                return Ok(response.into_message());
            }
            return Err(ExchangeError::Unauthenticated(format!(
                "the {} answer carries no TSIG signature",
                response.response_code
            )));
        }
        verifier
            .verify(response.as_buffer())
            .map(DnsResponse::into_message)
            .map_err(|e| ExchangeError::Unauthenticated(e.to_string()))
    }

    async fn over_udp(
        &self,
        server: SocketAddr,
        message: &Message,
    ) -> Result<DnsResponse, ExchangeError> {
        // Queries are resent over UDP while unanswered; an UPDATE is not (a duplicate that
        // arrives after the first one applied would fail its own prerequisite): when it gets no
        // answer, the caller falls back to TCP.
        let sends = if message.metadata.op_code == OpCode::Update {
            1
        } else {
            3
        };
        let stream = UdpClientStream::builder(server, TokioRuntimeProvider::default())
            .with_timeout(Some(self.timeout))
            .with_max_retries(sends)
            .build();
        let (client, background) = Client::<TokioRuntimeProvider>::from_sender(stream);
        let task = tokio::spawn(background);
        let result = self.send(&client, message).await;
        task.abort();
        result
    }

    async fn over_tcp(
        &self,
        server: SocketAddr,
        message: &Message,
    ) -> Result<DnsResponse, ExchangeError> {
        let provider = TokioRuntimeProvider::default();
        let (connect, handle) = TcpClientStream::new(server, None, Some(self.timeout), provider);
        let stream = tokio::time::timeout(self.timeout, connect)
            .await
            .map_err(|_| ExchangeError::Timeout(self.timeout))?
            .map_err(|e| net_error(e, self.timeout))?;
        let (client, background) =
            Client::<TokioRuntimeProvider>::with_timeout(stream, handle, self.timeout);
        let task = tokio::spawn(background);
        let result = self.send(&client, message).await;
        task.abort();
        result
    }

    async fn send(
        &self,
        client: &Client<TokioRuntimeProvider>,
        message: &Message,
    ) -> Result<DnsResponse, ExchangeError> {
        let request = DnsRequest::new(message.clone(), DnsRequestOptions::default());
        // The stream has its own timeout; this one bounds everything else.
        let limit = self.timeout + Duration::from_secs(1);
        tokio::time::timeout(limit, client.send(request).first_answer())
            .await
            .map_err(|_| ExchangeError::Timeout(self.timeout))?
            .map_err(|e| net_error(e, self.timeout))
    }
}

/// BADTIME answers carry the server's clock in "Other Data" as a 48-bit number of seconds
/// (RFC 8945 §5.2.3).
fn server_time(other: &[u8]) -> Option<u64> {
    let bytes: [u8; 6] = other.try_into().ok()?;
    Some(
        bytes
            .iter()
            .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte)),
    )
}

fn net_error(error: NetError, timeout: Duration) -> ExchangeError {
    match &error {
        NetError::Timeout => ExchangeError::Timeout(timeout),
        NetError::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            ExchangeError::ConnectionRefused
        }
        NetError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            ExchangeError::Timeout(timeout)
        }
        _ => ExchangeError::Network(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_server_time_from_other_data() {
        assert_eq!(
            server_time(&[0, 0, 0x65, 0x4A, 0x7B, 0x00]),
            Some(0x654A_7B00)
        );
        assert_eq!(server_time(&[]), None);
    }

    /// A server on loopback that answers one query with `rcode`, without a TSIG record.
    async fn unsigned_server(rcode: hickory_proto::op::ResponseCode) -> SocketAddr {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let (len, from) = socket.recv_from(&mut buf).await.unwrap();
            let query = Message::from_vec(&buf[..len]).unwrap();
            let mut answer = Message::response(query.metadata.id, query.metadata.op_code);
            answer.metadata.response_code = rcode;
            answer.metadata.authoritative = true;
            answer.queries = query.queries.clone();
            let bytes = answer.to_vec().unwrap();
            socket.send_to(&bytes, from).await.unwrap();
        });
        addr
    }

    #[tokio::test]
    async fn an_unsigned_nxdomain_to_a_signed_read_is_refused() {
        use hickory_proto::op::{Query, ResponseCode};
        use hickory_proto::rr::{Name, RecordType};
        let key = TsigKey::new(
            "daneroll.",
            "hmac-sha256",
            "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=",
            "test",
        )
        .unwrap();
        let exchanger = Exchanger::new(Duration::from_secs(2), Transport::UdpThenTcp);
        let read = || {
            let mut message = Message::query();
            let owner = Name::from_ascii("_25._tcp.mail.example.test.").unwrap();
            message.add_query(Query::query(owner, RecordType::TLSA));
            message
        };
        let server = unsigned_server(ResponseCode::NXDomain).await;
        let err = exchanger
            .exchange(server, read(), Some(&key))
            .await
            .unwrap_err();
        let ExchangeError::Unauthenticated(reason) = err else {
            panic!("an unsigned NXDOMAIN must not pass: {err:?}");
        };
        assert!(reason.contains("no TSIG"), "{reason}");
        // An unsigned error that claims nothing about the data still reports its code.
        let server = unsigned_server(ResponseCode::Refused).await;
        let answer = exchanger
            .exchange(server, read(), Some(&key))
            .await
            .unwrap();
        assert_eq!(answer.metadata.response_code, ResponseCode::Refused);
    }

    #[test]
    fn classifies_network_errors() {
        let refused = NetError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let second = Duration::from_secs(1);
        assert_eq!(net_error(refused, second), ExchangeError::ConnectionRefused);
        assert_eq!(
            net_error(NetError::Timeout, second),
            ExchangeError::Timeout(second)
        );
    }
}
