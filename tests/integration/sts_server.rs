//! An HTTPS MTA-STS policy server for the tests (rustls, certificates from a test CA): what
//! `mta-sts.DOMAIN` serves can be switched between requests to a good policy, an oversized one,
//! a redirect, the wrong media type, or a good policy behind an expired certificate.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::certs::TestCert;
use crate::fake_mta::server_config;

/// What the server answers.
#[derive(Clone)]
pub enum Serve {
    /// 200, `text/plain`, this policy.
    Policy(String),
    /// 200, `text/plain`, more than 64 KiB (no Content-Length: read until close).
    Oversized,
    /// 301 to another host.
    Redirect,
    /// 200 with this Content-Type.
    ContentType(&'static str, String),
}

/// A running server; stops when dropped.
pub struct PolicyServer {
    state: Arc<Mutex<(Arc<ServerConfig>, Serve)>>,
    task: JoinHandle<()>,
}

impl PolicyServer {
    /// Listens on `bind` (port 443 of a lab address), presenting `cert`.
    pub async fn start(bind: SocketAddr, cert: &TestCert, serve: Serve) -> Self {
        // invariant: the lab address is on lo and nothing else listens on its port 443.
        let listener = TcpListener::bind(bind)
            .await
            .expect("bind the policy server");
        let state = Arc::new(Mutex::new((server_config(cert), serve)));
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                // invariant: the lock is held only to clone.
                let (config, serve) = shared.lock().expect("state").clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = TlsAcceptor::from(config).accept(stream).await else {
                        return;
                    };
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16384 {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let response = match serve {
                        Serve::Policy(text) => ok("text/plain", &text, true),
                        Serve::Oversized => {
                            let line = "mx: mail.mx.example\r\n";
                            let mut text = String::from("version: STSv1\r\nmode: enforce\r\n");
                            while text.len() < 100 * 1024 {
                                text.push_str(line);
                            }
                            text.push_str("max_age: 86400\r\n");
                            ok("text/plain", &text, false)
                        }
                        Serve::Redirect => "HTTP/1.1 301 Moved Permanently\r\nLocation: \
                            https://policies.elsewhere.example/mta-sts.txt\r\nContent-Length: 0\r\n\
                            Connection: close\r\n\r\n"
                            .to_string(),
                        Serve::ContentType(kind, text) => ok(kind, &text, true),
                    };
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Self { state, task }
    }

    /// Serves `serve` behind `cert` from the next connection on.
    pub fn set(&self, cert: &TestCert, serve: Serve) {
        // invariant: as above.
        *self.state.lock().expect("state") = (server_config(cert), serve);
    }
}

fn ok(kind: &str, body: &str, length: bool) -> String {
    let length = if length {
        format!("Content-Length: {}\r\n", body.len())
    } else {
        String::new()
    };
    format!("HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\n{length}Connection: close\r\n\r\n{body}")
}

impl Drop for PolicyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
