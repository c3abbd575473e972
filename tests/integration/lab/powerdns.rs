//! A real PowerDNS Authoritative Server (Debian's `pdns-server` with the gsqlite3 backend) for
//! the PowerDNS REST backend's tests.
//!
//! Why: the PowerDNS backend speaks to PowerDNS's HTTP API, and the API's real behaviour (the
//! JSON it returns, which errors come with which status, that a PATCH replaces the RRset and the
//! zone is re-signed on the fly) is what matters, not what we believe about it. So the harness
//! starts `pdns_server` in the foreground on its own loopback address at port 53, the API on a
//! port of the same address, a sqlite database built from the schema the package ships, and a
//! zone made and signed by `pdnsutil create-zone` / `secure-zone` as an operator would.
//!
//! ```ignore
//! let pdns = PowerDns::shared();             // or PowerDns::start() for a private one
//! pdns.api_url;                               // http://127.N.0.53:8081/api/v1
//! pdns.key_file();                            // a 0600 file holding the API key
//! pdns.tlsa_owner("contract", 25);            // _25._tcp.contract.pdns.example.
//! pdns.add_record("_25._tcp.x.pdns.example.", "TLSA", 60, "2 1 1 …"); // as another admin
//! pdns.dig(&["+dnssec", "_25._tcp.x.pdns.example.", "TLSA"]);
//! ```
//!
//! Packet and query caches are off, so a change made through the API is served at once.
//! Needs root (address on `lo`, port 53) and the Debian packages pdns-server,
//! pdns-backend-sqlite3, sqlite3, bind9-dnsutils (dig, delv) and iproute2.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::net::{self, AddrBlock};
use super::process::{self, Daemon};

/// The zone the harness creates and signs.
pub const ZONE: &str = "pdns.example.";
const API_PORT: u16 = 8081;
/// TTL of the zone's records and its negative TTL (SOA minimum), in seconds.
const TTL: &str = "5";
const SCHEMA: &str = "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql";

/// A running PowerDNS server with one signed zone.
pub struct PowerDns {
    /// Where it answers DNS (port 53).
    pub addr: SocketAddr,
    /// The HTTP API's base URL.
    pub api_url: String,
    /// The signed zone, absolute.
    pub zone: String,
    /// The temp dir: config, database, log.
    pub dir: PathBuf,
    ip: Ipv4Addr,
    api_key: String,
    // Drop order: the daemon, then the address, then the directory.
    daemon: Daemon,
    block: AddrBlock,
    _tmp: tempfile::TempDir,
}

static SHARED: OnceLock<PowerDns> = OnceLock::new();

extern "C" fn shutdown_shared() {
    if let Some(pdns) = SHARED.get() {
        pdns.daemon.stop();
        pdns.block.remove_all();
        let _ = std::fs::remove_dir_all(&pdns.dir);
    }
}

impl PowerDns {
    /// Starts a server; panics with its log if it does not come up.
    pub fn start() -> Self {
        Self::try_start().unwrap_or_else(|e| panic!("PowerDNS did not start: {e}"))
    }

    /// One server for the whole test binary (tests use owner names of their own).
    pub fn shared() -> &'static PowerDns {
        SHARED.get_or_init(|| {
            let pdns = Self::start();
            // SAFETY: registers a plain extern "C" function; it runs once at process exit.
            unsafe { libc::atexit(shutdown_shared) };
            pdns
        })
    }

    pub fn try_start() -> Result<Self, String> {
        let tmp = tempfile::Builder::new()
            .prefix("daneroll-pdns-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let dir = tmp.path().to_path_buf();
        let block = AddrBlock::allocate()?;
        let ip = block.addr(0, 53);
        block.add(&[ip])?;
        let api_key = random_hex(16)?;
        let key_file = dir.join("api-key");
        write(&key_file, &format!("{api_key}\n"))?;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("chmod {}: {e}", key_file.display()))?;
        let database = dir.join("pdns.sqlite3");
        let mut sqlite = Command::new("sqlite3");
        sqlite.arg(&database).arg(format!(".read {SCHEMA}"));
        process::run(sqlite)?;
        write(
            &dir.join("pdns.conf"),
            &config(&dir, &database, ip, &api_key),
        )?;

        let util = |args: &[&str]| pdnsutil(&dir, args);
        util(&["create-zone", ZONE, &format!("ns1.{ZONE}")])?;
        // TTLs and negative TTL of 5 s, as in the DNS lab: a zone delegated from the lab's tree
        // ([`PowerDns::ds_records`]) then turns resolver caches over within a test.
        let soa = format!("ns1.{ZONE} hostmaster.{ZONE} 1 10 2 600 {TTL}");
        util(&["replace-rrset", ZONE, "@", "SOA", TTL, &soa])?;
        util(&[
            "replace-rrset",
            ZONE,
            "@",
            "NS",
            TTL,
            &format!("ns1.{ZONE}"),
        ])?;
        util(&["add-record", ZONE, "ns1", "A", TTL, &ip.to_string()])?;
        util(&["add-record", ZONE, "mail", "A", TTL, &ip.to_string()])?;
        util(&["secure-zone", ZONE])?;
        // The API bumps the serial on every change and keeps NSEC ordering right (what a
        // zone created through the API gets by default).
        util(&["set-meta", ZONE, "SOA-EDIT-API", "DEFAULT"])?;
        util(&["set-meta", ZONE, "API-RECTIFY", "1"])?;
        util(&["rectify-zone", ZONE])?;

        let mut command = Command::new("pdns_server");
        command.arg(format!("--config-dir={}", dir.display()));
        let daemon = Daemon::spawn("pdns_server", command, &dir.join("pdns.log"))?;
        let pdns = Self {
            addr: SocketAddr::from((ip, 53)),
            api_url: format!("http://{ip}:{API_PORT}/api/v1"),
            zone: ZONE.to_string(),
            dir,
            ip,
            api_key,
            daemon,
            block,
            _tmp: tmp,
        };
        pdns.wait_ready()?;
        Ok(pdns)
    }

    /// Polls (bounded) until the API answers and the zone is served signed.
    fn wait_ready(&self) -> Result<(), String> {
        let limit = Duration::from_secs(15);
        let with_log = |e: String| format!("{e}\nlog:\n{}", self.daemon.log_tail());
        net::wait_until("the PowerDNS API", limit, || {
            self.daemon.ensure_running()?;
            Ok(self.api_status("/servers/localhost")? == 200)
        })
        .map_err(with_log)?;
        net::wait_until("PowerDNS to serve the zone signed", limit, || {
            self.daemon.ensure_running()?;
            net::serves_signed(self.addr, ZONE)
        })
        .map_err(with_log)
    }

    /// The HTTP status of a GET on the API.
    fn api_status(&self, path: &str) -> Result<u16, String> {
        self.api("GET", path, "").map(|(status, _)| status)
    }

    /// Sends one request to the API and returns the status and body; tries again (bounded) on
    /// 500, which the server answers while `pdnsutil` in another test holds the sqlite lock.
    pub fn api(&self, method: &str, path: &str, body: &str) -> Result<(u16, String), String> {
        let mut answer = self.api_once(method, path, body)?;
        for _ in 0..100 {
            if answer.0 != 500 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
            answer = self.api_once(method, path, body)?;
        }
        Ok(answer)
    }

    /// One request. A tiny HTTP/1.0 client: the harness needs no client library, and
    /// `Connection: close` framing is trivial.
    fn api_once(&self, method: &str, path: &str, body: &str) -> Result<(u16, String), String> {
        let api = SocketAddr::from((self.addr.ip(), API_PORT));
        let mut stream = TcpStream::connect_timeout(&api, Duration::from_millis(500))
            .map_err(|e| format!("connect {api}: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let request = format!(
            "{method} /api/v1{path} HTTP/1.0\r\nHost: {api}\r\nX-API-Key: {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.api_key,
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| format!("send to {api}: {e}"))?;
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("no HTTP status from {api}: {answer:?}"))?;
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default();
        Ok((status, body))
    }

    /// The API key (the test's secret).
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// A 0600 file holding the API key, as an operator keeps it for `token_file`.
    pub fn key_file(&self) -> PathBuf {
        self.dir.join("api-key")
    }

    /// `_PORT._tcp.LABEL.pdns.example.`: an owner name for one test.
    pub fn tlsa_owner(&self, label: &str, port: u16) -> String {
        format!("_{port}._tcp.{label}.{ZONE}")
    }

    /// Runs `pdnsutil` on the server's database (as another administrator would).
    pub fn pdnsutil(&self, args: &[&str]) -> Result<String, String> {
        pdnsutil(&self.dir, args)
    }

    /// Adds a record with `pdnsutil add-record` (`owner` absolute, inside the zone), then
    /// rectifies the zone.
    pub fn add_record(&self, owner: &str, rtype: &str, ttl: u32, content: &str) {
        let relative = owner
            .strip_suffix(&format!(".{ZONE}"))
            .unwrap_or_else(|| panic!("{owner} is not in {ZONE}"));
        self.pdnsutil(&[
            "add-record",
            ZONE,
            relative,
            rtype,
            &ttl.to_string(),
            content,
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        // As an operator must after editing a signed zone's database: NSEC order and the empty
        // non-terminals (`_tcp.x`, `x`) that validating resolvers ask for on the way down.
        self.pdnsutil(&["rectify-zone", ZONE])
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Runs `dig @server` with `args`, without recursion.
    pub fn dig(&self, args: &[&str]) -> String {
        let mut command = Command::new("dig");
        command
            .arg(format!("@{}", self.addr.ip()))
            .args(["+norec", "+time=1", "+tries=2"])
            .args(args);
        process::run(command).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The zone's DNSKEY RRset as `trust-anchors` for `delv` (`static-key` lines).
    pub fn trust_anchor_file(&self) -> PathBuf {
        let path = self.dir.join("anchor.conf");
        let keys = self.dig(&["+short", ZONE, "DNSKEY"]);
        let mut text = String::from("trust-anchors {\n");
        for line in keys.lines() {
            let mut fields = line.splitn(4, ' ');
            let (Some(flags), Some(proto), Some(alg), Some(key)) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            text.push_str(&format!(
                "  {ZONE} static-key {flags} {proto} {alg} \"{}\";\n",
                key.replace(' ', "")
            ));
        }
        text.push_str("};\n");
        write(&path, &text).unwrap_or_else(|e| panic!("{e}"));
        path
    }

    /// The zone's DS records (`pdns.example. IN DS TAG 13 2 HEX`, one per digest type) as
    /// `pdnsutil export-zone-ds` gives them, for the parent zone.
    pub fn ds_records(&self) -> Result<Vec<String>, String> {
        let text = self.pdnsutil(&["export-zone-ds", ZONE])?;
        let lines: Vec<String> = text
            .lines()
            .filter(|line| line.contains(" DS "))
            .map(|line| line.split(';').next().unwrap_or(line).trim().to_string())
            .collect();
        if lines.is_empty() {
            return Err(format!("pdnsutil export-zone-ds {ZONE} gave no DS: {text}"));
        }
        Ok(lines)
    }

    /// The server's address (port 53 for DNS, [`API_PORT`] for the API).
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// Where the server logs.
    pub fn log_tail(&self) -> String {
        self.daemon.log_tail()
    }
}

fn config(dir: &Path, database: &Path, ip: Ipv4Addr, api_key: &str) -> String {
    format!(
        "launch=gsqlite3\n\
         gsqlite3-database={database}\n\
         gsqlite3-dnssec=yes\n\
         gsqlite3-pragma-journal-mode=WAL\n\
         local-address={ip}\n\
         local-port=53\n\
         api=yes\n\
         api-key={api_key}\n\
         webserver=yes\n\
         webserver-address={ip}\n\
         webserver-port={API_PORT}\n\
         webserver-allow-from=127.0.0.0/8\n\
         socket-dir={dir}\n\
         guardian=no\n\
         daemon=no\n\
         disable-syslog=yes\n\
         write-pid=no\n\
         cache-ttl=0\n\
         negquery-cache-ttl=0\n\
         query-cache-ttl=0\n\
         zone-cache-refresh-interval=0\n\
         loglevel=4\n",
        database = database.display(),
        dir = dir.display(),
    )
}

/// Runs `pdnsutil`; tries again (bounded) while the server holds the sqlite write lock, which
/// happens when a test writes through the API at the same moment.
fn pdnsutil(dir: &Path, args: &[&str]) -> Result<String, String> {
    let mut last = String::new();
    for _ in 0..100 {
        let mut command = Command::new("pdnsutil");
        command
            .arg(format!("--config-dir={}", dir.display()))
            .args(args);
        match process::run(command) {
            Err(e) if e.contains("database is locked") => last = e,
            result => return result,
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(last)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))
}

fn random_hex(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
