//! The real transport against a scripted server on loopback: truncation, then TCP.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode};
use hickory_proto::rr::rdata::MX;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

use super::*;

/// What the scripted server does over TCP.
#[derive(Clone, Copy)]
enum OverTcp {
    /// Answers the question with 100 MX records.
    Answer,
    /// Answers a question about another name.
    OtherQuestion,
    /// Accepts and closes without a word.
    Close,
    /// Nothing listens: connection refused.
    Refuse,
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

/// A reply to `query`: TC and no records, or every MX record of a 100-host RRset.
fn reply(query: &Message, truncated: bool, owner: Name) -> Vec<u8> {
    let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
    let mut q = query.queries[0].clone();
    q.set_name(owner.clone());
    reply.add_query(q);
    reply.metadata.truncation = truncated;
    if !truncated {
        for k in 0..100u16 {
            let host = name(&format!("bench-{k}.mx.example."));
            reply.answers.push(Record::from_rdata(
                owner.clone(),
                5,
                RData::MX(MX::new(k, host)),
            ));
        }
    }
    reply.to_vec().unwrap()
}

/// Serves UDP (always TC) and TCP as `tcp` says, on one loopback port, until dropped.
async fn server(tcp: OverTcp) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = udp.local_addr().unwrap();
    let listener = match tcp {
        OverTcp::Refuse => None,
        _ => Some(TcpListener::bind(addr).await.unwrap()),
    };
    let task = tokio::spawn(async move {
        let udp_loop = async {
            let mut buf = vec![0u8; 4096];
            loop {
                let (len, peer) = udp.recv_from(&mut buf).await.unwrap();
                let query = Message::from_vec(&buf[..len]).unwrap();
                let owner = query.queries[0].name().clone();
                udp.send_to(&reply(&query, true, owner), peer)
                    .await
                    .unwrap();
            }
        };
        let tcp_loop = async {
            let Some(listener) = listener else {
                return std::future::pending().await;
            };
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                if matches!(tcp, OverTcp::Close) {
                    drop(stream);
                    continue;
                }
                let mut len = [0u8; 2];
                stream.read_exact(&mut len).await.unwrap();
                let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
                stream.read_exact(&mut body).await.unwrap();
                let query = Message::from_vec(&body).unwrap();
                let owner = match tcp {
                    OverTcp::OtherQuestion => name("forged.example."),
                    _ => query.queries[0].name().clone(),
                };
                let wire = reply(&query, false, owner);
                let mut framed = (wire.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&wire);
                stream.write_all(&framed).await.unwrap();
            }
        };
        tokio::join!(udp_loop, tcp_loop);
    });
    (addr, task)
}

fn question() -> Question {
    Question::authoritative(name("corp.example."), RecordType::MX)
}

#[tokio::test]
async fn a_truncated_answer_is_asked_again_over_tcp() {
    let (addr, task) = server(OverTcp::Answer).await;
    let transport = HickoryTransport::new(Duration::from_secs(2), 2);
    let reply = transport.query(addr, question()).await.unwrap();
    assert!(!reply.metadata.truncation);
    assert_eq!(reply.answers.len(), 100);
    // One UDP query and one TCP query, no retries.
    assert_eq!(transport.queries_sent(), 2);
    // The background tasks of both exchanges end with the query: the next one works too.
    let again = transport.query(addr, question()).await.unwrap();
    assert_eq!(again.answers.len(), 100);
    task.abort();
}

#[tokio::test]
async fn tcp_refused_after_truncation_names_the_server_and_tcp() {
    let (addr, task) = server(OverTcp::Refuse).await;
    let transport = HickoryTransport::new(Duration::from_secs(1), 2);
    let error = transport.query(addr, question()).await.unwrap_err();
    assert!(matches!(error, QueryError::Tcp { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains(&addr.to_string()) && text.contains("TCP"),
        "{text}"
    );
    assert!(text.contains("refused"), "{text}");
    task.abort();
}

#[tokio::test]
async fn tcp_closed_without_answer_is_a_tcp_error() {
    let (addr, task) = server(OverTcp::Close).await;
    let transport = HickoryTransport::new(Duration::from_millis(500), 1);
    let error = transport.query(addr, question()).await.unwrap_err();
    assert!(matches!(error, QueryError::Tcp { .. }), "{error:?}");
    assert_eq!(error.server(), addr);
    task.abort();
}

#[tokio::test]
async fn a_tcp_answer_to_another_question_is_refused() {
    let (addr, task) = server(OverTcp::OtherQuestion).await;
    let transport = HickoryTransport::new(Duration::from_secs(1), 1);
    let error = transport.query(addr, question()).await.unwrap_err();
    match &error {
        QueryError::Mismatch {
            transport, reason, ..
        } => {
            assert_eq!(*transport, "TCP");
            assert!(reason.contains("forged.example."), "{reason}");
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
    task.abort();
}
