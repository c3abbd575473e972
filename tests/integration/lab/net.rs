//! Loopback addresses for one lab, and the small DNS client the lab uses to know when its
//! servers are ready.
//!
//! Why a block of addresses: every authoritative server listens on its own address at port 53,
//! as in production, so the observer can find servers from NS records and never mistakes the
//! resolver for an authoritative server. A lab owns `127.N.0.0/16`; `N` is unique among the labs
//! of every test process on the machine. Uniqueness comes from an exclusive `flock` on a lock
//! file per block (the kernel drops it when the process dies, however it dies), and the
//! addresses carry the label `lo:dnrl`, so a block whose owner crashed is recognised and cleaned
//! by the next lab that starts. Blocks holding addresses without our label are skipped: they
//! belong to someone else.
//!
//! IPv6: the same claim covers `fd64:6e72:6c00:N::/64` (a ULA prefix, RFC 4193; `6e72:6c` is
//! "nrl"), added to `lo` as /128s with `nodad` so they are usable at once. IPv6 addresses carry
//! no label, so the prefix itself marks them as ours: the lab that takes block `N`'s lock
//! removes any address left under that /64 by a crashed lab. Port-53 NS discovery needs a
//! distinct address per server, which `::1` alone cannot give.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::{Name, RecordType};

/// The `ip addr` label on every lab address (an interface label must start with the device).
pub const LABEL: &str = "lo:dnrl";

/// The first 48 bits of every lab IPv6 address; the block's octet follows.
const V6_PREFIX: [u16; 3] = [0xfd64, 0x6e72, 0x6c00];

/// The second octet of lab blocks: `127.FIRST.0.0/16` to `127.LAST.0.0/16`.
const FIRST: u8 = 20;
const LAST: u8 = 250;
/// `127.53.0.0/16` belongs to `daneroll demo` (and its tests), which binds there without adding
/// addresses to `lo`, so a lab would not see it in use.
const DEMO_OCTET: u8 = 53;

/// How long one readiness query waits for an answer.
const QUERY_TIMEOUT: Duration = Duration::from_millis(500);

/// A claimed `127.N.0.0/16` block; dropping it removes the addresses it added to `lo`.
pub struct AddrBlock {
    octet: u8,
    added: Mutex<Vec<IpAddr>>,
    // Held for the block's lifetime: the flock is the claim.
    _lock: File,
}

impl AddrBlock {
    /// Claims a free block, starting from a place derived from the pid and a per-process counter
    /// so concurrent labs rarely contend for the same lock.
    pub fn allocate() -> Result<Self, String> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join("daneroll-lab");
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let span = u32::from(LAST - FIRST) + 1;
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let start = std::process::id().wrapping_mul(37).wrapping_add(count * 11) % span;
        let configured = lo_addresses()?;
        let mut claimed = None;
        for step in 0..span {
            let octet = FIRST + ((start + step) % span) as u8;
            if octet == DEMO_OCTET {
                continue;
            }
            let in_block = |addr: &Ipv4Addr| addr.octets()[1] == octet;
            let ours = configured.iter().filter(|(a, _)| in_block(a));
            if ours.clone().any(|(_, labelled)| !labelled) {
                continue; // someone else's addresses
            }
            let labelled: Vec<Ipv4Addr> = ours.map(|(addr, _)| *addr).collect();
            if claimed.is_some() && labelled.is_empty() {
                continue;
            }
            let Some(lock) = try_lock(&dir, octet)? else {
                continue; // a live lab holds it
            };
            // We hold the lock, so labelled addresses here were left by a lab that crashed.
            let labelled: Vec<IpAddr> = labelled.into_iter().map(IpAddr::V4).collect();
            ip_batch("del", &labelled)?;
            let stale6: Vec<IpAddr> = lo_addresses6()?
                .into_iter()
                .filter(|a| in_v6_block(a, octet))
                .map(IpAddr::V6)
                .collect();
            ip_batch("del", &stale6)?;
            if claimed.is_none() {
                claimed = Some((octet, lock));
            }
        }
        if let Some((octet, lock)) = claimed {
            return Ok(Self {
                octet,
                added: Mutex::new(Vec::new()),
                _lock: lock,
            });
        }
        Err("no free 127.N.0.0/16 block for a lab (all locked or in use)".into())
    }

    /// The address `127.N.x.y` of this block.
    pub fn addr(&self, x: u8, y: u8) -> Ipv4Addr {
        Ipv4Addr::new(127, self.octet, x, y)
    }

    /// The IPv6 address `fd64:6e72:6c00:N::host` of this block.
    pub fn addr6(&self, host: u16) -> Ipv6Addr {
        let [a, b, c] = V6_PREFIX;
        Ipv6Addr::new(a, b, c, u16::from(self.octet), 0, 0, 0, host)
    }

    /// Adds addresses of this block to `lo` (one `ip -batch` for all of them).
    pub fn add(&self, addrs: &[Ipv4Addr]) -> Result<(), String> {
        let all: Vec<IpAddr> = addrs.iter().copied().map(IpAddr::V4).collect();
        self.add_any(&all)
    }

    /// Adds IPv4 or IPv6 addresses of this block to `lo`.
    pub fn add_any(&self, addrs: &[IpAddr]) -> Result<(), String> {
        let foreign = addrs.iter().find(|a| match a {
            IpAddr::V4(v4) => v4.octets()[..2] != [127, self.octet],
            IpAddr::V6(v6) => !in_v6_block(v6, self.octet),
        });
        if let Some(foreign) = foreign {
            return Err(format!(
                "{foreign} is outside the lab block 127.{0}/16, {1}",
                self.octet,
                self.addr6(0)
            ));
        }
        ip_batch("add", addrs)?;
        // invariant: the lock is only held for short non-panicking sections.
        self.added.lock().expect("address list").extend(addrs);
        Ok(())
    }
}

impl AddrBlock {
    /// Removes every address this block added (also done on drop).
    pub fn remove_all(&self) {
        if let Ok(mut added) = self.added.lock() {
            let _ = ip_batch("del", &added);
            added.clear();
        }
    }
}

impl Drop for AddrBlock {
    fn drop(&mut self) {
        self.remove_all();
    }
}

/// Takes the lock of block `octet` if no live lab holds it.
fn try_lock(dir: &std::path::Path, octet: u8) -> Result<Option<File>, String> {
    let path = dir.join(format!("127.{octet}.lock"));
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("open {}: {e}", path.display()))?;
    // SAFETY: flock on a descriptor we own.
    let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    Ok((rc == 0).then_some(lock))
}

/// Every IPv4 address on `lo`, with whether it carries the lab label.
fn lo_addresses() -> Result<Vec<(Ipv4Addr, bool)>, String> {
    let output = Command::new("ip")
        .args(["-o", "-4", "addr", "show", "dev", "lo"])
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            words.find(|w| *w == "inet")?;
            let addr = words.next()?.split('/').next()?.parse().ok()?;
            let labelled = line
                .split_whitespace()
                .any(|w| w.trim_end_matches('\\') == LABEL);
            Some((addr, labelled))
        })
        .collect())
}

/// Whether `addr` lies in block `octet`'s IPv6 /64.
fn in_v6_block(addr: &Ipv6Addr, octet: u8) -> bool {
    let s = addr.segments();
    s[..3] == V6_PREFIX && s[3] == u16::from(octet)
}

/// Every IPv6 address on `lo`.
fn lo_addresses6() -> Result<Vec<Ipv6Addr>, String> {
    let output = Command::new("ip")
        .args(["-o", "-6", "addr", "show", "dev", "lo"])
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            words.find(|w| *w == "inet6")?;
            words.next()?.split('/').next()?.parse().ok()
        })
        .collect())
}

/// `ip addr add|del ADDR/32 dev lo label lo:dnrl` for each IPv4 address (`ADDR/128 dev lo
/// nodad` for IPv6), in one process.
fn ip_batch(verb: &str, addrs: &[IpAddr]) -> Result<(), String> {
    if addrs.is_empty() {
        return Ok(());
    }
    let nodad = if verb == "add" { " nodad" } else { "" };
    let script: String = addrs
        .iter()
        .map(|a| match a {
            IpAddr::V4(a) => format!("addr {verb} {a}/32 dev lo label {LABEL}\n"),
            IpAddr::V6(a) => format!("addr {verb} {a}/128 dev lo{nodad}\n"),
        })
        .collect();
    let mut child = Command::new("ip")
        .args(["-force", "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| format!("ip -batch: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("ip -batch: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip addr {verb} failed (root and CAP_NET_ADMIN are needed): {}",
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// One DNS query with DO set, over UDP with a TCP retry when the answer is truncated.
/// `recurse` sets RD (for the resolver); authoritative servers are asked without it.
pub fn query(
    server: SocketAddr,
    name: &str,
    rtype: RecordType,
    recurse: bool,
) -> Result<Message, String> {
    let qname = Name::from_ascii(name).map_err(|e| format!("bad name {name}: {e}"))?;
    let mut message = Message::query();
    message.add_query(Query::query(qname, rtype));
    message.metadata.recursion_desired = recurse;
    let mut edns = Edns::new();
    edns.set_dnssec_ok(true).set_max_payload(1232);
    message.set_edns(edns);
    let wire = message
        .to_vec()
        .map_err(|e| format!("encode query {name} {rtype}: {e}"))?;
    let context = |e: std::io::Error| format!("query {name} {rtype} @{server}: {e}");

    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::LOCALHOST, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).map_err(context)?;
    socket
        .set_read_timeout(Some(QUERY_TIMEOUT))
        .map_err(context)?;
    socket.connect(server).map_err(context)?;
    socket.send(&wire).map_err(context)?;
    let mut buf = vec![0u8; 65535];
    let deadline = Instant::now() + QUERY_TIMEOUT;
    let answer = loop {
        let len = socket.recv(&mut buf).map_err(context)?;
        if let Ok(answer) = Message::from_vec(&buf[..len])
            && answer.metadata.id == message.metadata.id
        {
            break answer;
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "query {name} {rtype} @{server}: no matching answer"
            ));
        }
    };
    if !answer.metadata.truncation {
        return Ok(answer);
    }
    let mut stream = TcpStream::connect_timeout(&server, QUERY_TIMEOUT).map_err(context)?;
    stream
        .set_read_timeout(Some(QUERY_TIMEOUT))
        .map_err(context)?;
    let mut framed = (wire.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&wire);
    stream.write_all(&framed).map_err(context)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).map_err(context)?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut body).map_err(context)?;
    Message::from_vec(&body).map_err(|e| format!("query {name} {rtype} @{server}: {e}"))
}

/// The SOA serial `server` serves for `zone`, if it answers authoritatively.
pub fn soa_serial(server: SocketAddr, zone: &str) -> Result<Option<u32>, String> {
    let answer = query(server, zone, RecordType::SOA, false)?;
    Ok(answer.answers.iter().find_map(|record| match &record.data {
        hickory_proto::rr::RData::SOA(soa) if answer.metadata.authoritative => Some(soa.serial),
        _ => None,
    }))
}

/// Whether `server` answers `zone SOA` with an RRSIG over it (the zone is loaded and signed).
pub fn serves_signed(server: SocketAddr, zone: &str) -> Result<bool, String> {
    let answer = query(server, zone, RecordType::SOA, false)?;
    let has = |rtype| answer.answers.iter().any(|r| r.record_type() == rtype);
    Ok(answer.metadata.authoritative && has(RecordType::SOA) && has(RecordType::RRSIG))
}

/// Polls `probe` every 20 ms until it says yes, for at most `limit`. A probe error is kept and
/// shown if time runs out (it is usually "connection refused" while a server starts).
pub fn wait_until(
    what: &str,
    limit: Duration,
    mut probe: impl FnMut() -> Result<bool, String>,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    let mut last_error = String::from("none");
    loop {
        match probe() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last_error = e,
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "timed out after {limit:?} waiting for {what} (last error: {last_error})"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
