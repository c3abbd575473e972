//! One question to one server, and the answer as the server sent it.
//!
//! The observer and the chain walk only need this one operation, so the network hides behind
//! this small trait: the real implementation (`net`) speaks UDP with TCP fallback through
//! hickory-net, and unit tests use a scripted fake. Every query sets DO (RFC 3225) because
//! every answer daneroll looks at must carry its RRSIGs and NSEC/NSEC3 records.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RecordType};

/// One DNS question and the header bits that matter for it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Question {
    /// The owner name asked about.
    pub name: Name,
    /// The record type asked for.
    pub rtype: RecordType,
    /// RD: true when asking a recursive resolver, false for an authoritative server.
    pub recursion_desired: bool,
    /// CD (RFC 4035 §3.2.2): ask a validating resolver for the data even if it does not
    /// validate, so daneroll can say *why* a zone is bogus.
    pub checking_disabled: bool,
}

impl Question {
    /// A question for an authoritative server: no recursion.
    pub fn authoritative(name: Name, rtype: RecordType) -> Self {
        Self {
            name,
            rtype,
            recursion_desired: false,
            checking_disabled: false,
        }
    }

    /// A question for a recursive resolver, which validates (CD clear).
    pub fn recursive(name: Name, rtype: RecordType) -> Self {
        Self {
            name,
            rtype,
            recursion_desired: true,
            checking_disabled: false,
        }
    }

    /// A question for a recursive resolver with CD set: raw data and signatures, no verdict.
    pub fn recursive_unchecked(name: Name, rtype: RecordType) -> Self {
        Self {
            name,
            rtype,
            recursion_desired: true,
            checking_disabled: true,
        }
    }
}

impl fmt::Display for Question {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.rtype)
    }
}

impl fmt::Debug for Question {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Question({} {} rd={} cd={})",
            self.name, self.rtype, self.recursion_desired, self.checking_disabled
        )
    }
}

/// Why a server gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// No answer within the per-query timeout, after every attempt.
    #[error("{server} did not answer {question} ({attempts} attempts, {timeout:?} each)")]
    Timeout {
        server: SocketAddr,
        question: String,
        attempts: u8,
        timeout: Duration,
    },
    /// The server's port is closed (ICMP port unreachable, TCP RST).
    #[error("{server} refused the connection for {question} (nothing listens on that port)")]
    ConnectionRefused {
        server: SocketAddr,
        question: String,
    },
    /// The server truncated its UDP answer (TC) and the retry over TCP (RFC 7766 §5) failed.
    #[error(
        "{server} truncated its UDP answer to {question} and the retry over TCP failed: {reason}"
    )]
    Tcp {
        server: SocketAddr,
        question: String,
        reason: String,
    },
    /// A reply that does not answer the question asked (RFC 5452 §9.1), over `transport`.
    #[error("{server} sent a reply over {transport} that does not answer {question}: {reason}")]
    Mismatch {
        server: SocketAddr,
        question: String,
        transport: &'static str,
        reason: String,
    },
    /// Any other network or protocol failure.
    #[error("query {question} to {server} failed: {reason}")]
    Failed {
        server: SocketAddr,
        question: String,
        reason: String,
    },
}

impl QueryError {
    /// The server the query went to.
    pub fn server(&self) -> SocketAddr {
        match self {
            Self::Timeout { server, .. }
            | Self::ConnectionRefused { server, .. }
            | Self::Tcp { server, .. }
            | Self::Mismatch { server, .. }
            | Self::Failed { server, .. } => *server,
        }
    }
}

/// Sends one DNS question to one server and returns its reply, whatever the RCODE.
pub trait Transport: Send + Sync + 'static {
    /// Asks `server` the `question` with DO set; retries and TCP fallback are the
    /// implementation's business.
    fn query(
        &self,
        server: SocketAddr,
        question: Question,
    ) -> impl Future<Output = Result<Message, QueryError>> + Send;

    /// How many DNS messages this transport has sent so far (retries and TCP retries count).
    fn queries_sent(&self) -> u64;
}
