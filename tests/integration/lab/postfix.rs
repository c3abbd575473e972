//! A real Postfix `smtpd` with STARTTLS on its own loopback address, port 25, for the probe,
//! `check` and rollover tests, and the `posttls-finger` that ships with it for cross-checks.
//!
//! Why Postfix: it is the MTA most DANE deployments run, and the one whose DANE client
//! (`posttls-finger -l dane`) we compare against. The harness runs `master -d` (foreground, no
//! systemd) with a config directory of its own, so several instances can run beside each other
//! and beside an untouched system Postfix:
//!
//! - `master.cf` binds the address itself (`127.N.25.x:25 inet … smtpd`): `inet_interfaces`
//!   would also work only for addresses on an interface, and we bind exactly one;
//! - no syslog here, so `maillog_file` (with `maillog_file_prefixes` allowing it) and the
//!   `postlog` service;
//! - `smtpd_tls_chain_files` is one file per listener: key, leaf, then the issuers, the order
//!   Postfix wants (one master can serve many addresses, each with its own chain);
//! - `smtpd_peername_lookup = no`: no PTR query for the client, which would go to the
//!   system's resolver (off loopback) and delay every greeting by its timeout;
//! - `max_use = 1`: every connection gets a fresh `smtpd` that has read the current config, so
//!   after a reload nothing serves the previous certificate.
//!
//! Needs root and the Debian package `postfix` (debconf: "No configuration").

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::net::wait_until;
use super::process::{self, Daemon};

/// How long Postfix may take to start or reload.
const START_LIMIT: Duration = Duration::from_secs(20);

const MASTER: &str = "/usr/lib/postfix/sbin/master";

/// A running Postfix instance. Dropping it stops master and its children.
pub struct Postfix {
    /// Where its first listener is (port 25).
    pub address: SocketAddr,
    /// Every listener.
    pub addresses: Vec<SocketAddr>,
    /// The host name it calls itself (`myhostname`).
    pub hostname: String,
    dir: PathBuf,
    daemon: Daemon,
}

impl Postfix {
    /// Starts Postfix on `address`:25, presenting `chain_file` (key, leaf, issuers; PEM), with
    /// its configuration under `dir` (created). Panics with the mail log if it does not start.
    pub fn start(dir: &Path, address: Ipv4Addr, hostname: &str, chain_file: &str) -> Self {
        Self::try_start(dir, address, hostname, chain_file)
            .unwrap_or_else(|e| panic!("postfix did not start: {e}"))
    }

    /// As [`Postfix::start`], returning what went wrong.
    pub fn try_start(
        dir: &Path,
        address: Ipv4Addr,
        hostname: &str,
        chain_file: &str,
    ) -> Result<Self, String> {
        Self::try_start_many(dir, hostname, &[(address, chain_file.to_string())], false)
    }

    /// One master with an `smtpd` on each address, each presenting its own chain file (a
    /// `-o smtpd_tls_chain_files=` override per master.cf line): many MX hosts for the price
    /// of one Postfix. [`Postfix::present`] changes the first listener's chain.
    ///
    /// `reuse_processes`: let an `smtpd` serve many connections (Postfix's default, what
    /// production does; for benchmarks of clients). Otherwise each connection gets a fresh
    /// `smtpd`, so that nothing serves an old certificate after a reload.
    pub fn try_start_many(
        dir: &Path,
        hostname: &str,
        listeners: &[(Ipv4Addr, String)],
        reuse_processes: bool,
    ) -> Result<Self, String> {
        let dir = dir.to_path_buf();
        for sub in ["etc", "queue", "data"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| format!("mkdir {sub}: {e}"))?;
        }
        // Postfix's daemons run as `postfix` and must reach the queue below a temp dir.
        for path in [&dir, &dir.join("etc"), &dir.join("queue")] {
            let mode = std::fs::Permissions::from_mode(0o755);
            std::fs::set_permissions(path, mode)
                .map_err(|e| format!("chmod {}: {e}", path.display()))?;
        }
        chown("postfix", &dir.join("data"))?;
        for (i, (_, chain_file)) in listeners.iter().enumerate() {
            write(&chain_path(&dir, i), chain_file)?;
        }
        let mut main_cf = main_cf(&dir, hostname);
        if !reuse_processes {
            main_cf.push_str("max_use = 1\n");
        }
        write(&dir.join("etc/main.cf"), &main_cf)?;
        write(&dir.join("etc/master.cf"), &master_cf(&dir, listeners))?;
        // `postfix check` creates the queue directories with the owners Postfix wants.
        let mut check = Command::new("postfix");
        check.arg("-c").arg(dir.join("etc")).arg("check");
        process::run(check).map_err(|e| format!("{e}\n{}", read_log(&dir)))?;
        let mut master = Command::new(MASTER);
        master.arg("-c").arg(dir.join("etc")).arg("-d");
        let daemon = Daemon::spawn("postfix", master, &dir.join("master.out"))?;
        let postfix = Self {
            address: SocketAddr::from((listeners[0].0, 25)),
            addresses: listeners
                .iter()
                .map(|(ip, _)| SocketAddr::from((*ip, 25)))
                .collect(),
            hostname: hostname.to_string(),
            dir,
            daemon,
        };
        postfix.wait_log("daemon started", 1)?;
        for address in &postfix.addresses {
            wait_until("postfix to accept connections", START_LIMIT, || {
                postfix.daemon.ensure_running()?;
                let limit = Duration::from_secs(1);
                Ok(std::net::TcpStream::connect_timeout(address, limit).is_ok())
            })?;
        }
        Ok(postfix)
    }

    /// Presents a new key and chain: rewrites the chain file and reloads, as an operator's
    /// deploy hook does.
    pub fn present(&self, chain_file: &str) {
        write(&chain_path(&self.dir, 0), chain_file).unwrap_or_else(|e| panic!("{e}"));
        self.reload();
    }

    /// `postfix reload`: SIGHUP to master, then waits until master logged the reload.
    pub fn reload(&self) {
        let before = read_log(&self.dir).matches("reload -- version").count();
        self.daemon
            .signal(libc::SIGHUP)
            .unwrap_or_else(|e| panic!("{e}"));
        self.wait_log("reload -- version", before + 1)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Runs `posttls-finger -c -l LEVEL DESTINATION` with this instance's main.cf and the
    /// lab's validating `resolver` (port 53) as the only name server, in a private mount
    /// namespace whose /etc/resolv.conf says so (`options trust-ad`, or libc drops the AD bit).
    /// Returns what it printed (stdout and stderr).
    pub fn posttls_finger(&self, resolver: SocketAddr, level: &str, destination: &str) -> String {
        let resolv_conf = self.dir.join("resolv.conf");
        write(
            &resolv_conf,
            &format!("nameserver {}\noptions trust-ad\n", resolver.ip()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let script = format!(
            "mount --bind {} /etc/resolv.conf && exec posttls-finger -c -l {level} {destination}",
            resolv_conf.display()
        );
        let mut command = Command::new("unshare");
        command
            .args(["-m", "sh", "-c", &script])
            .env("MAIL_CONFIG", self.config_dir());
        let output = process::output(&mut command).unwrap_or_else(|e| panic!("{e}"));
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        text
    }

    /// The first listener's chain file (key, leaf, issuers), e.g. a deploy target.
    /// CPU time (user + system) used so far by the master's children that are still running
    /// (`smtpd`, `tlsmgr`, …), from /proc: what the server side of a benchmark costs.
    pub fn children_cpu(&self) -> Duration {
        let master = self.daemon.pid().to_string();
        // SAFETY: sysconf reads a constant and has no preconditions.
        let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        let mut ticks = 0u64;
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // Fields after the parenthesised command: state ppid … utime(14) stime(15).
            let Some((_, rest)) = stat.rsplit_once(") ") else {
                continue;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if fields.get(1) == Some(&master.as_str()) {
                let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
                ticks += field(11).unwrap_or(0) + field(12).unwrap_or(0);
            }
        }
        Duration::from_millis(ticks * 1000 / tick.max(1))
    }

    pub fn chain_file(&self) -> PathBuf {
        chain_path(&self.dir, 0)
    }

    /// The configuration directory (for `MAIL_CONFIG` / `posttls-finger -c`).
    pub fn config_dir(&self) -> PathBuf {
        self.dir.join("etc")
    }

    /// The mail log so far.
    pub fn log(&self) -> String {
        read_log(&self.dir)
    }

    fn wait_log(&self, needle: &str, count: usize) -> Result<(), String> {
        wait_until(&format!("postfix to log {needle:?}"), START_LIMIT, || {
            self.daemon
                .ensure_running()
                .map_err(|e| format!("{e}\n{}", self.log()))?;
            Ok(self.log().matches(needle).count() >= count)
        })
        .map_err(|e| format!("{e}\nmail log:\n{}", self.log()))
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        // master stops its children on SIGTERM; the Daemon's SIGKILL then finds it gone.
        let _ = self.daemon.signal(libc::SIGTERM);
        let _ = wait_until("postfix to stop", Duration::from_secs(5), || {
            Ok(self.daemon.ensure_running().is_err())
        });
    }
}

fn main_cf(dir: &Path, hostname: &str) -> String {
    let d = dir.display();
    format!(
        "compatibility_level = 3.6\n\
         config_directory = {d}/etc\n\
         queue_directory = {d}/queue\n\
         data_directory = {d}/data\n\
         maillog_file = {d}/maillog\n\
         maillog_file_prefixes = {d}\n\
         inet_interfaces = loopback-only\n\
         inet_protocols = ipv4\n\
         myhostname = {hostname}\n\
         mydestination =\n\
         alias_maps =\n\
         alias_database =\n\
         local_recipient_maps =\n\
         smtpd_banner = $myhostname ESMTP\n\
         smtpd_peername_lookup = no\n\
         smtpd_tls_security_level = may\n\
         smtpd_tls_loglevel = 1\n\
         smtpd_tls_session_cache_database =\n\
         smtpd_tls_received_header = no\n\
         smtp_dns_support_level = dnssec\n\
         smtp_tls_security_level = dane\n\
         smtp_tls_loglevel = 1\n"
    )
}

fn master_cf(dir: &Path, listeners: &[(Ipv4Addr, String)]) -> String {
    let mut text = String::from(
        "postlog unix-dgram n - n - 1 postlogd\n\
         anvil unix - - n - 1 anvil\n\
         tlsmgr unix - - n 1000? 1 tlsmgr\n\
         proxymap unix - - n - - proxymap\n\
         rewrite unix - - n - - trivial-rewrite\n",
    );
    for (i, (address, _)) in listeners.iter().enumerate() {
        text.push_str(&format!(
            "{address}:25 inet n - n - - smtpd -o smtpd_tls_chain_files={}\n",
            chain_path(dir, i).display()
        ));
    }
    text
}

fn chain_path(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("etc/chain-{index}.pem"))
}

fn read_log(dir: &Path) -> String {
    let mut text = std::fs::read_to_string(dir.join("maillog")).unwrap_or_default();
    text.push_str(&std::fs::read_to_string(dir.join("master.out")).unwrap_or_default());
    text
}

fn write(path: &Path, contents: &str) -> Result<(), String> {
    std::fs::write(path, contents).map_err(|e| format!("write {}: {e}", path.display()))
}

fn chown(user: &str, path: &Path) -> Result<(), String> {
    let mut command = Command::new("chown");
    command.arg(format!("{user}:{user}")).arg(path);
    process::run(command).map(drop)
}
