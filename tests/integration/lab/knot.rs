//! Knot DNS (`knotd`) for the lab: the second RFC 2136 implementation daneroll must work with.
//!
//! The zone is signed by Knot's own KASP with a CSK and NSEC3 (so the observer meets both proof
//! kinds: BIND zones use NSEC). The key is generated with `keymgr` before `knotd` starts and the
//! policy is `manual: on`, so Knot signs with exactly that key and the parent's DS is known up
//! front. Updates are allowed by TSIG key and limited to TLSA by `update-type`
//! (Knot's equivalent of BIND's `update-policy … TLSA`).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::bind::{START_LIMIT, TsigKey, write};
use super::net;
use super::process::{Daemon, run};

/// A running `knotd` serving one signed zone.
pub struct Knot {
    daemon: Daemon,
    conf: PathBuf,
    pub addr: Ipv4Addr,
    pub zone: String,
}

/// Knot's configuration before the daemon runs: written first because `keymgr` reads it.
pub struct KnotSetup {
    dir: PathBuf,
    conf: PathBuf,
    addr: Ipv4Addr,
    zone: String,
}

impl KnotSetup {
    /// Writes `knot.conf` for `zone` on `addr`, allowing TLSA updates signed by `updaters`.
    pub fn new(
        dir: &Path,
        addr: Ipv4Addr,
        zone: &str,
        updaters: &[&TsigKey],
    ) -> Result<Self, String> {
        let d = dir.display();
        let includes: String = updaters
            .iter()
            .map(|key| format!("include: {}\n", key.knot_file.display()))
            .collect();
        let key_ids: Vec<&str> = updaters.iter().map(|key| key.name.as_str()).collect();
        let conf = format!(
            r#"server:
    listen: {addr}@53
    rundir: {d}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: info
{includes}database:
    storage: {d}
acl:
  - id: lab_update
    key: [{keys}]
    action: update
    update-type: [TLSA]
policy:
  - id: lab
    algorithm: ecdsap256sha256
    single-type-signing: on
    manual: on
    dnskey-ttl: 5
    zone-max-ttl: 60
    nsec3: on
    nsec3-iterations: 0
    nsec3-salt-length: 0
template:
  - id: default
    storage: {d}
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: all
zone:
  - domain: {zone}
    dnssec-signing: on
    dnssec-policy: lab
    acl: lab_update
"#,
            keys = key_ids.join(", ")
        );
        let conf_path = dir.join("knot.conf");
        write(&conf_path, &conf)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            conf: conf_path,
            addr,
            zone: zone.to_string(),
        })
    }

    /// Generates the zone's CSK with `keymgr` and returns its DS (SHA-256) in zone-file syntax.
    pub fn zone_key(&self) -> Result<String, String> {
        let mut generate = Command::new("keymgr");
        generate.arg("-c").arg(&self.conf).arg(&self.zone);
        generate.args([
            "generate",
            "algorithm=ecdsap256sha256",
            "ksk=yes",
            "zsk=yes",
        ]);
        run(generate)?;
        let mut ds = Command::new("keymgr");
        ds.arg("-c").arg(&self.conf).arg(&self.zone).arg("ds");
        let text = run(ds)?;
        text.lines()
            .find(|line| line.contains(" DS ") && line.contains(" 13 2 "))
            .map(str::to_string)
            .ok_or_else(|| format!("no SHA-256 DS in keymgr output for {}:\n{text}", self.zone))
    }

    /// Writes the zone file and starts `knotd` in the foreground.
    pub fn start(self, contents: &str) -> Result<Knot, String> {
        write(&self.dir.join(format!("{}zone", self.zone)), contents)?;
        let mut check = Command::new("knotc");
        check.arg("-c").arg(&self.conf).arg("conf-check");
        run(check).map_err(|e| format!("invalid knot.conf: {e}"))?;
        let mut knotd = Command::new("knotd");
        knotd.arg("-c").arg(&self.conf);
        let daemon = Daemon::spawn("knotd", knotd, &self.dir.join("knotd.log"))?;
        Ok(Knot {
            daemon,
            conf: self.conf,
            addr: self.addr,
            zone: self.zone,
        })
    }
}

impl Knot {
    /// The listening address at port 53.
    pub fn socket(&self) -> SocketAddr {
        SocketAddr::from((self.addr, 53))
    }

    pub fn daemon(&self) -> &Daemon {
        &self.daemon
    }

    /// Waits until the zone is loaded and signed.
    pub fn wait_ready(&self) -> Result<(), String> {
        net::wait_until(
            &format!("knotd to serve {} signed", self.zone),
            START_LIMIT,
            || {
                self.daemon.ensure_running()?;
                net::serves_signed(self.socket(), &self.zone)
            },
        )
    }

    /// Runs `knotc` against this server (e.g. `zone-status`).
    pub fn knotc(&self, args: &[&str]) -> Result<String, String> {
        let mut command = Command::new("knotc");
        command.arg("-c").arg(&self.conf).args(args);
        run(command)
    }
}
