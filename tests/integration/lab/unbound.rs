//! unbound as the lab's validating recursive resolver: full iterative resolution from root hints
//! that point at the lab's root server, validating from the lab's trust anchor, exactly as a
//! sending MTA's resolver does on the internet (RFC 7672 §2.1 requires a validating resolver).
//!
//! `do-not-query-localhost: no` is what lets it talk to authoritative servers on 127.0.0.0/8.
//! The remote-control socket lets tests flush caches (`flush`) after pausing a server.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;

use hickory_proto::rr::RecordType;

use super::bind::{START_LIMIT, write};
use super::net;
use super::process::{Daemon, run};

/// A running validating `unbound`.
pub struct Unbound {
    daemon: Daemon,
    conf: PathBuf,
    pub addr: Ipv4Addr,
}

impl Unbound {
    /// Starts unbound on `addr:53` with root hints `root_servers` (name, address) and the trust
    /// anchor file `anchor` (DS or DNSKEY lines).
    pub fn start(
        dir: &Path,
        addr: Ipv4Addr,
        root_servers: &[(&str, Ipv4Addr)],
        anchor: &Path,
    ) -> Result<Self, String> {
        let d = dir.display();
        let mut hints = String::new();
        for (name, server) in root_servers {
            hints.push_str(&format!(
                ". 3600000 IN NS {name}\n{name} 3600000 IN A {server}\n"
            ));
        }
        let hints_path = dir.join("root.hints");
        write(&hints_path, &hints)?;
        let conf = format!(
            r#"server:
    interface: {addr}
    port: 53
    do-ip6: yes
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{d}"
    pidfile: "{d}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    log-servfail: yes
    val-log-level: 2
    num-threads: 1
    so-reuseport: no
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    root-hints: "{hints}"
    trust-anchor-file: "{anchor}"
    module-config: "validator iterator"
    target-fetch-policy: "0 0 0 0 0"
    infra-keep-probing: yes
    infra-host-ttl: 10
    cache-min-ttl: 0
    prefetch: no
    serve-expired: no
remote-control:
    control-enable: yes
    control-interface: "{d}/unbound.ctl"
"#,
            hints = hints_path.display(),
            anchor = anchor.display(),
        );
        let conf_path = dir.join("unbound.conf");
        write(&conf_path, &conf)?;
        let mut check = Command::new("unbound-checkconf");
        check.arg(&conf_path);
        run(check).map_err(|e| format!("invalid unbound.conf: {e}"))?;
        let mut unbound = Command::new("unbound");
        unbound.arg("-d").arg("-c").arg(&conf_path);
        let daemon = Daemon::spawn("unbound", unbound, &dir.join("unbound.log"))?;
        Ok(Self {
            daemon,
            conf: conf_path,
            addr,
        })
    }

    /// The listening address at port 53.
    pub fn socket(&self) -> SocketAddr {
        SocketAddr::from((self.addr, 53))
    }

    pub fn daemon(&self) -> &Daemon {
        &self.daemon
    }

    /// Waits until `zone SOA` resolves with the AD flag: the root, every delegation and the
    /// zone's signatures all validate.
    pub fn wait_validated(&self, zone: &str) -> Result<(), String> {
        net::wait_until(&format!("unbound to validate {zone}"), START_LIMIT, || {
            self.daemon.ensure_running()?;
            let answer = net::query(self.socket(), zone, RecordType::SOA, true)?;
            Ok(answer.metadata.authentic_data && !answer.answers.is_empty())
        })
    }

    /// Runs `unbound-control` (e.g. `flush_zone example.`).
    pub fn control(&self, args: &[&str]) -> Result<String, String> {
        let mut command = Command::new("unbound-control");
        command.arg("-c").arg(&self.conf).args(args);
        run(command)
    }

    /// Forgets every cached answer and every server's timeout record, as if freshly started.
    pub fn flush(&self) -> Result<(), String> {
        self.control(&["flush_zone", "."])?;
        self.control(&["flush_bogus"])?;
        self.control(&["flush_negative"])?;
        self.control(&["flush_infra", "all"])?;
        Ok(())
    }
}
