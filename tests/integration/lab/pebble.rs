//! Pebble, Let's Encrypt's ACME test server, on loopback: its own TLS certificate (made here
//! with openssl), `PEBBLE_VA_ALWAYS_VALID=1` so no challenge has to be served, and no nonce
//! rejection (pebble rejects 5% of nonces by default, which makes client runs flaky).
//!
//! Clients trust the HTTPS listener through `REQUESTS_CA_BUNDLE` (certbot) or
//! `LEGO_CA_CERTIFICATES` (lego) or dehydrated's `CA_CERT`-less curl via `CURL_CA_BUNDLE`. A
//! restart forgets every account and makes a new issuing root, so clients reach pebble through a
//! TCP relay on loopback (the [`Gate`]): taking the gate down makes the ACME server unreachable
//! (connections refused, open ones cut) and bringing it back restores the same server with its
//! accounts. pebble builds its URLs from the request's Host, so the relay is transparent.

use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::process::{Daemon, run};

/// A running pebble.
pub struct Pebble {
    /// The ACME directory URL (through the gate).
    pub directory: String,
    /// The CA file that verifies pebble's HTTPS listener.
    pub tls_ca: PathBuf,
    /// Where pebble itself listens.
    pub addr: SocketAddr,
    dir: PathBuf,
    daemon: Option<Daemon>,
    gate: Gate,
}

impl Pebble {
    /// Starts pebble with its files under `dir` (created).
    pub fn start(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("pebble dir: {e}"))?;
        let tls_ca = dir.join("tls-ca.pem");
        make_tls_cert(dir)?;
        let addr = free_port()?;
        let management = free_port()?;
        let mut gate = Gate::new(free_port()?, addr);
        gate.open()?;
        let config = dir.join("pebble.json");
        let json = format!(
            r#"{{"pebble": {{"listenAddress": "{addr}", "managementListenAddress": "{management}",
              "certificate": "{}", "privateKey": "{}", "httpPort": 1, "tlsPort": 1,
              "ocspResponderURL": "", "externalAccountBindingRequired": false}}}}"#,
            dir.join("tls-cert.pem").display(),
            dir.join("tls-key.pem").display()
        );
        std::fs::write(&config, json).map_err(|e| format!("pebble config: {e}"))?;
        let mut pebble = Self {
            directory: format!("https://{}/dir", gate.addr),
            tls_ca,
            addr,
            dir: dir.to_path_buf(),
            daemon: None,
            gate,
        };
        pebble.restart()?;
        Ok(pebble)
    }

    /// Starts (again) on the same address: a fresh pebble with no accounts.
    pub fn restart(&mut self) -> Result<(), String> {
        self.stop();
        let mut command = Command::new("pebble");
        command
            .arg("-config")
            .arg(self.dir.join("pebble.json"))
            .env("PEBBLE_VA_ALWAYS_VALID", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_VA_NOSLEEP", "1");
        let daemon = Daemon::spawn("pebble", command, &self.dir.join("pebble.log"))?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(self.addr).is_err() {
            daemon.ensure_running()?;
            if Instant::now() > deadline {
                return Err(format!(
                    "pebble did not listen on {}: {}",
                    self.addr,
                    daemon.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.daemon = Some(daemon);
        Ok(())
    }

    /// Stops pebble (the ACME server is then down: connections are refused).
    pub fn stop(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            daemon.stop();
        }
    }

    /// Makes the ACME server unreachable without restarting it (it keeps its accounts).
    pub fn go_down(&mut self) {
        self.gate.close();
    }

    /// Makes the same ACME server reachable again.
    pub fn come_back(&mut self) {
        // invariant: the gate's address was bound before and nothing else takes loopback ports
        // handed out by the kernel within a test.
        self.gate.open().expect("reopen the pebble gate");
    }

    /// The environment that makes the ACME clients trust pebble's HTTPS listener.
    pub fn trust_env(&self) -> Vec<(String, String)> {
        let ca = self.tls_ca.display().to_string();
        vec![
            ("REQUESTS_CA_BUNDLE".into(), ca.clone()),
            ("LEGO_CA_CERTIFICATES".into(), ca.clone()),
            ("CURL_CA_BUNDLE".into(), ca),
        ]
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.gate.close();
        self.stop();
    }
}

/// A TCP relay from `addr` to `upstream` that can be taken down and brought back.
struct Gate {
    addr: SocketAddr,
    upstream: SocketAddr,
    running: Option<Relay>,
}

struct Relay {
    stop: Arc<AtomicBool>,
    acceptor: JoinHandle<()>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Gate {
    fn new(addr: SocketAddr, upstream: SocketAddr) -> Self {
        Self {
            addr,
            upstream,
            running: None,
        }
    }

    /// Listens on `addr` and relays every connection to `upstream`.
    fn open(&mut self) -> Result<(), String> {
        if self.running.is_some() {
            return Ok(());
        }
        let listener =
            TcpListener::bind(self.addr).map_err(|e| format!("gate {}: {e}", self.addr))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("gate {}: {e}", self.addr))?;
        let stop = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (upstream, stop_flag, conns) = (self.upstream, Arc::clone(&stop), Arc::clone(&open));
        let acceptor = std::thread::spawn(move || {
            while !stop_flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => relay(client, upstream, &conns),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            // The listener is dropped here: new connections are refused.
        });
        self.running = Some(Relay {
            stop,
            acceptor,
            open,
        });
        Ok(())
    }

    /// Stops listening and cuts every relayed connection.
    fn close(&mut self) {
        let Some(relay) = self.running.take() else {
            return;
        };
        relay.stop.store(true, Ordering::SeqCst);
        let _ = relay.acceptor.join();
        let open = relay.open.lock().map(|mut v| std::mem::take(&mut *v));
        for stream in open.unwrap_or_default() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// Copies both ways between `client` and a new connection to `upstream`.
fn relay(client: TcpStream, upstream: SocketAddr, open: &Mutex<Vec<TcpStream>>) {
    let _ = client.set_nonblocking(false);
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let pairs = [
        (client.try_clone(), server.try_clone()),
        (server.try_clone(), client.try_clone()),
    ];
    if let Ok(mut open) = open.lock() {
        open.retain(|s| s.peer_addr().is_ok());
        open.extend([client, server]);
    }
    for pair in pairs {
        if let (Ok(mut from), Ok(mut to)) = pair {
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from, &mut to);
                let _ = to.shutdown(Shutdown::Write);
            });
        }
    }
}

/// A CA and a server certificate for 127.0.0.1 / localhost.
fn make_tls_cert(dir: &Path) -> Result<(), String> {
    let p = |name: &str| dir.join(name).display().to_string();
    let openssl = |args: &[&str]| {
        let mut command = Command::new("openssl");
        command.args(args);
        run(command).map(|_| ())
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &p("tls-ca-key.pem"),
        "-out",
        &p("tls-ca.pem"),
        "-days",
        "2",
        "-subj",
        "/CN=daneroll test pebble TLS CA",
    ])?;
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .map_err(|e| format!("ext.cnf: {e}"))?;
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &p("tls-key.pem"),
        "-out",
        &p("tls.csr"),
        "-subj",
        "/CN=localhost",
    ])?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("tls.csr"),
        "-CA",
        &p("tls-ca.pem"),
        "-CAkey",
        &p("tls-ca-key.pem"),
        "-CAcreateserial",
        "-out",
        &p("tls-cert.pem"),
        "-days",
        "2",
        "-extfile",
        &p("ext.cnf"),
    ])
}

/// A port on 127.0.0.1 nobody listens on right now.
fn free_port() -> Result<SocketAddr, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("free port: {e}"))?;
    listener.local_addr().map_err(|e| format!("free port: {e}"))
}
