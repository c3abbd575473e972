//! Pebble, Let's Encrypt's ACME test server, on loopback: its own TLS certificate (made here
//! with openssl), `PEBBLE_VA_ALWAYS_VALID=1` so no challenge has to be served, and no nonce
//! rejection (pebble rejects 5% of nonces by default, which makes client runs flaky).
//!
//! Clients trust the HTTPS listener through `REQUESTS_CA_BUNDLE` (certbot) or
//! `LEGO_CA_CERTIFICATES` (lego) or dehydrated's `CA_CERT`-less curl via `CURL_CA_BUNDLE`. A
//! restart forgets every account and makes a new issuing root: tests that stop pebble start a new
//! one and register again.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::process::{Daemon, run};

/// A running pebble.
pub struct Pebble {
    /// The ACME directory URL.
    pub directory: String,
    /// The CA file that verifies pebble's HTTPS listener.
    pub tls_ca: PathBuf,
    pub addr: SocketAddr,
    dir: PathBuf,
    daemon: Option<Daemon>,
}

impl Pebble {
    /// Starts pebble with its files under `dir` (created).
    pub fn start(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("pebble dir: {e}"))?;
        let tls_ca = dir.join("tls-ca.pem");
        make_tls_cert(dir)?;
        let addr = free_port()?;
        let management = free_port()?;
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
            directory: format!("https://{addr}/dir"),
            tls_ca,
            addr,
            dir: dir.to_path_buf(),
            daemon: None,
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
        self.stop();
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
