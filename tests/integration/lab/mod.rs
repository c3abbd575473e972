//! The DNS lab: real BIND 9, Knot DNS and unbound servers forming a private, signed DNS tree on
//! loopback addresses, started per test (or once per test binary) in a couple of seconds.
//!
//! Why: daneroll's promise is about what real authoritative servers and real validating
//! resolvers do, so tests talk to the real thing, set up as in production: each authoritative
//! server on its own address at port 53 (NS discovery works as on the internet), a signed root
//! with its own trust anchor, DS records at every secure delegation, a validating resolver that
//! iterates from root hints, a primary with a NOTIFY/IXFR secondary, and TSIG keys limited to TLSA
//! as operators configure them.
//!
//! # The tree
//!
//! See [`zones`] for the picture. In short (all names absolute, TTLs 5 s):
//!
//! | field of [`Lab`] | zone | servers | DNSSEC | RFC 2136 |
//! |---|---|---|---|---|
//! | `root` | `.` | BIND | signed, CSK (trust anchor) | – |
//! | `tld` | `example.` | BIND | secure | `keys.parent` NS/DS/glue only ([`Lab::delegate`]) |
//! | `mx` | `mx.example.` | BIND primary (2 addresses) + BIND secondary (2 addresses) | secure | `keys.mx`, `keys.other`, `keys.sha512` TLSA anywhere; `keys.narrow` only `_25._tcp.mail2.mx.example.` |
//! | `corp` | `corp.example.` (MX domain, `MX 10 mail.mx.example.`) | same as `mx` | secure | – |
//! | `insecure` | `insecure.example.` | BIND (misc) | unsigned, no DS | `keys.mx`, `keys.other` |
//! | `bogus` | `bogus.example.` | BIND (misc) | signed, DS at parent does not match | `keys.mx`, `keys.other` |
//! | `nods` | `nods.example.` | BIND (misc) | signed, no DS at parent | `keys.mx`, `keys.other` |
//! | `knot` | `knot.example.` | Knot | secure, NSEC3 | `keys.knot`, `keys.other` TLSA |
//!
//! Tests add zones of their own with [`Lab::add_zone`] ([`extra`]): a BIND per zone on IPv4
//! and IPv6 addresses of the lab's block (`fd64:6e72:6c00:N::/64`, [`net`]), signed with the
//! lab's ECDSA CSK or RSA/SHA-256 KSK + ZSK, delegated from `example.` with NS, A/AAAA glue and
//! DS; an NS may point at a hostile proxy ([`crate::hostile`]) in front of that BIND. unbound
//! queries over IPv6 too, so AAAA-only name servers resolve.
//!
//! Each [`LabZone`] has a mail host (`mail.<zone>`, or `mail.mx.example.` for `corp`) with an
//! address on `lo`, so an MTA can listen there.
//!
//! # Use
//!
//! ```ignore
//! let lab = Lab::start();                       // panics with the server's log if it fails
//! lab.resolver;                                 // validating unbound, 127.N.0.53:53
//! lab.trust_anchor;                             // ". IN DS …" for trust_anchor_file
//! lab.keys.mx.bind_file;                        // tsig-keygen file; .knot_file: Knot format
//! lab.mx.primary();                             // where updates to mx.example. go
//! lab.mx.servers();                             // all 4 authoritative addresses
//! lab.dig(&["@127.N.3.1", "+norec", "_25._tcp.mail.mx.example.", "TLSA"]);
//! lab.nsupdate(&lab.keys.other, &lab.mx, "update add _25._tcp.mail.mx.example. 5 TLSA 2 1 1 …");
//! lab.pause_secondary(); lab.resume_secondary(); // SIGSTOP / SIGCONT: no answers at all
//! lab.block_transfers(); lab.allow_transfers();  // the secondary keeps serving stale data
//! lab.wait_secondary_synced();                   // serials equal again
//! lab.flush_resolver();                          // unbound forgets its caches
//! lab.query(lab.resolver, "mx.example.", RecordType::SOA); // hickory Message (AD, rcode…)
//! lab.serial(lab.mx.secondary_addrs[0], "mx.example.");    // Option<u32>
//! lab.dig_short(lab.mx.primary(), "_25._tcp.mail.mx.example.", "TLSA"); // Vec<String>
//! ```
//!
//! Starting a lab allocates a `127.N.0.0/16` block ([`net`]), generates TSIG keys and zone
//! keys, writes configuration into a temp dir, starts the five primaries at once, then the
//! secondary and unbound, and polls (bounded) until every zone is served signed, the secondary
//! has transferred and unbound validates: about 1.3 s. Dropping the lab kills the daemons,
//! removes the addresses and the temp dir. If the test process dies, `PR_SET_PDEATHSIG` kills
//! the daemons and the next lab that starts removes the addresses ([`process`], [`net`]).
//!
//! [`Lab::shared`] gives one lab to every test of the binary that asks (torn down at exit):
//! daemons are forked from a keeper thread that lives as long as the process, so they survive
//! the first test's thread. Tests sharing a lab must use owner names of their own; tests that
//! pause the secondary or block transfers need their own `Lab::start()`. `DANEROLL_LAB_KEEP=1` keeps the temp dir
//! (configs, zone files, daemon logs) for a post-mortem and prints its path.
//!
//! Needs root (for `ip addr` and port 53) and the Debian packages bind9, bind9-utils,
//! bind9-dnsutils, knot, knot-dnsutils, unbound, iproute2.

#![allow(dead_code)]

pub mod bind;
pub mod extra;
pub mod knot;
pub mod net;
pub mod pebble;
pub mod postfix;
pub mod powerdns;
pub mod process;
pub mod unbound;
pub mod zones;

#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;

use bind::{Bind, Role, TsigKey, Zone};
use knot::{Knot, KnotSetup};
use net::AddrBlock;
use unbound::Unbound;
use zones::{Delegations, Plan};

/// One zone of the lab and where it is served.
#[derive(Debug, Clone)]
pub struct LabZone {
    /// Absolute name, e.g. `mx.example.`.
    pub name: String,
    /// The primary's addresses (port 53); the first is the SOA MNAME's first address.
    pub primary_addrs: Vec<SocketAddr>,
    /// The secondary's addresses, if the zone has one.
    pub secondary_addrs: Vec<SocketAddr>,
    /// A mail host whose TLSA records belong in this zone, e.g. `mail.mx.example.`.
    pub host: String,
    /// The mail host's address (on `lo`, free for an MTA to listen on).
    pub host_addr: Ipv4Addr,
}

impl LabZone {
    /// Where RFC 2136 updates go.
    pub fn primary(&self) -> SocketAddr {
        self.primary_addrs[0]
    }

    /// Every authoritative address, as NS discovery finds them.
    pub fn servers(&self) -> Vec<SocketAddr> {
        let mut all = self.primary_addrs.clone();
        all.extend(&self.secondary_addrs);
        all
    }

    /// `_PORT._tcp.HOST.`, the TLSA owner name for the zone's mail host.
    pub fn tlsa_owner(&self, port: u16) -> String {
        format!("_{port}._tcp.{}", self.host)
    }
}

/// The lab's TSIG keys (hmac-sha256, made by `tsig-keygen`; each also in Knot's format).
#[derive(Debug)]
pub struct LabKeys {
    /// `daneroll-mx`: TLSA updates in every BIND dynamic zone.
    pub mx: TsigKey,
    /// `daneroll-knot`: TLSA updates in `knot.example.`.
    pub knot: TsigKey,
    /// `other-publisher`: someone else publishing TLSA (e.g. a 2 1 1) on BIND and Knot.
    pub other: TsigKey,
    /// `narrow-key`: BIND only, TLSA at `_25._tcp.mail2.mx.example.` only.
    pub narrow: TsigKey,
    /// `daneroll-512` (hmac-sha512): TLSA updates in `mx.example.`.
    pub sha512: TsigKey,
    /// `lab-parent`: NS, DS and glue A records in `example.`, to delegate a child zone served
    /// by another test server ([`Lab::delegate`]).
    pub parent: TsigKey,
    /// `rndc-key`: controls the BIND servers.
    rndc: TsigKey,
}

/// A running lab. Fields are public for reading; see the module docs.
pub struct Lab {
    /// The validating resolver (unbound), port 53.
    pub resolver: SocketAddr,
    /// The root's DS record in zone-file syntax (`. IN DS …`).
    pub trust_anchor: PathBuf,
    /// The root's DNSKEY record in zone-file syntax (`. IN DNSKEY 257 3 13 …`).
    pub trust_anchor_dnskey: PathBuf,
    pub keys: LabKeys,
    pub root: LabZone,
    pub tld: LabZone,
    pub mx: LabZone,
    pub corp: LabZone,
    pub insecure: LabZone,
    pub bogus: LabZone,
    pub nods: LabZone,
    pub knot: LabZone,
    /// The lab's temp dir (configs, zone files, logs); tests may put their files here.
    pub dir: PathBuf,
    // Drop order matters: daemons first, then addresses, then the directory.
    servers: Servers,
    block: AddrBlock,
    _tmp: tempfile::TempDir,
}

/// Field order is drop order: the resolver and the secondary go first.
struct Servers {
    unbound: Unbound,
    mx_secondary: Bind,
    primaries: Primaries,
}

/// The servers that load zones from files; started first, all at once.
struct Primaries {
    mx_primary: Bind,
    misc: Bind,
    knot: Knot,
    tld: Bind,
    root: Bind,
}

impl Primaries {
    fn wait_ready(&self) -> Result<(), String> {
        self.root.wait_ready(".", true)?;
        self.tld.wait_ready("example.", true)?;
        self.mx_primary.wait_ready("mx.example.", true)?;
        self.mx_primary.wait_ready("corp.example.", true)?;
        self.misc.wait_ready("insecure.example.", false)?;
        self.misc.wait_ready("bogus.example.", true)?;
        self.misc.wait_ready("nods.example.", true)?;
        self.knot.wait_ready()
    }
}

impl Lab {
    /// Starts a lab; panics with the failing server's log if anything does not come up.
    pub fn start() -> Self {
        match Self::try_start() {
            Ok(lab) => lab,
            Err(e) => panic!("lab did not start: {e}"),
        }
    }

    /// One lab for the whole test binary, started by the first caller and torn down when the
    /// process exits (an `atexit` hook: statics are never dropped). For tests that neither
    /// pause the secondary nor block transfers, and that use owner names of their own.
    pub fn shared() -> &'static Lab {
        SHARED.get_or_init(|| {
            let lab = Lab::start();
            // SAFETY: registers a plain extern "C" function; it runs once at process exit.
            unsafe { libc::atexit(shutdown_shared) };
            lab
        })
    }

    /// Stops every daemon and removes the addresses and the temp dir, without dropping.
    fn shutdown(&self) {
        let s = &self.servers;
        s.unbound.daemon().stop();
        s.mx_secondary.daemon().stop();
        let p = &s.primaries;
        for daemon in [&p.mx_primary, &p.misc, &p.tld, &p.root].map(|b| b.daemon()) {
            daemon.stop();
        }
        p.knot.daemon().stop();
        self.block.remove_all();
        if std::env::var_os("DANEROLL_LAB_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// Starts a lab or says which server failed and why.
    pub fn try_start() -> Result<Self, String> {
        let tmp = tempfile::Builder::new()
            .prefix("daneroll-lab-")
            .disable_cleanup(std::env::var_os("DANEROLL_LAB_KEEP").is_some())
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let dir = tmp.path().to_path_buf();
        let block = AddrBlock::allocate()?;
        let plan = Plan::new(&block);
        block.add(&plan.all())?;
        for sub in [
            "keys", "root", "tld", "mx1", "mx2", "misc", "knot", "unbound",
        ] {
            std::fs::create_dir(dir.join(sub)).map_err(|e| format!("mkdir {sub}: {e}"))?;
        }
        let keys = make_tsig_keys(&dir.join("keys"))?;
        if std::env::var_os("DANEROLL_LAB_KEEP").is_some() {
            // DANEROLL_LAB_KEEP=1 keeps configs, zones and logs for a post-mortem.
            eprintln!("lab dir (kept): {}", dir.display());
        }
        let primaries = start_primaries(&dir, &plan, &keys)?;
        primaries.wait_ready()?;
        // Started once the primary serves signed zones, so the first refresh transfers at once.
        let mx_secondary = start_secondary(&dir, &plan, &keys)?;
        let unbound = Unbound::start(
            &dir.join("unbound"),
            plan.resolver,
            &[("a.root.", plan.root)],
            &dir.join("unbound/root.ds"),
        )?;
        let servers = Servers {
            unbound,
            mx_secondary,
            primaries,
        };
        let lab = Self::assemble(tmp, block, plan, keys, servers)?;
        lab.wait_secondary_synced_result()?;
        lab.servers.unbound.wait_validated("mx.example.")?;
        lab.servers.unbound.wait_validated("knot.example.")?;
        Ok(lab)
    }

    fn assemble(
        tmp: tempfile::TempDir,
        block: AddrBlock,
        plan: Plan,
        keys: LabKeys,
        servers: Servers,
    ) -> Result<Self, String> {
        let dir = tmp.path().to_path_buf();
        let sock = |a: Ipv4Addr| SocketAddr::from((a, 53));
        let zone = |name: &str, primary: Vec<Ipv4Addr>, host: &str, host_addr| LabZone {
            name: name.to_string(),
            primary_addrs: primary.into_iter().map(sock).collect(),
            secondary_addrs: Vec::new(),
            host: host.to_string(),
            host_addr,
        };
        let with_secondary = |mut z: LabZone| {
            z.secondary_addrs = plan.mx_secondary.iter().map(|a| sock(*a)).collect();
            z
        };
        let h = plan.hosts;
        let mx_primary = plan.mx_primary.to_vec();
        Ok(Self {
            resolver: sock(plan.resolver),
            trust_anchor: dir.join("unbound/root.ds"),
            trust_anchor_dnskey: dir.join("unbound/root.dnskey"),
            root: zone(".", vec![plan.root], "mail.mx.example.", h[0]),
            tld: zone("example.", vec![plan.tld], "mail.mx.example.", h[0]),
            mx: with_secondary(zone(
                "mx.example.",
                mx_primary.clone(),
                "mail.mx.example.",
                h[0],
            )),
            corp: with_secondary(zone("corp.example.", mx_primary, "mail.mx.example.", h[0])),
            insecure: zone(
                "insecure.example.",
                vec![plan.misc],
                "mail.insecure.example.",
                h[3],
            ),
            bogus: zone(
                "bogus.example.",
                vec![plan.misc],
                "mail.bogus.example.",
                h[4],
            ),
            nods: zone("nods.example.", vec![plan.misc], "mail.nods.example.", h[5]),
            knot: zone("knot.example.", vec![plan.knot], "mail.knot.example.", h[6]),
            keys,
            dir,
            servers,
            block,
            _tmp: tmp,
        })
    }

    /// SIGSTOPs the secondary of `mx.example.`/`corp.example.`: it answers nothing until resumed.
    pub fn pause_secondary(&self) {
        let daemon = self.servers.mx_secondary.daemon();
        daemon
            .signal(libc::SIGSTOP)
            .unwrap_or_else(|e| panic!("{e}"));
        // kill(2) returns before the kernel has stopped every thread: a query sent right away
        // can still be answered. Wait (bounded) until each thread shows state T.
        daemon
            .wait_stopped(std::time::Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// SIGCONTs the secondary.
    pub fn resume_secondary(&self) {
        let daemon = self.servers.mx_secondary.daemon();
        daemon
            .signal(libc::SIGCONT)
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Makes the primary refuse zone transfers: the secondary keeps answering, with the old
    /// serial and old records (stale), until [`Lab::allow_transfers`].
    pub fn block_transfers(&self) {
        let primary = &self.servers.primaries.mx_primary;
        primary
            .allow_transfers(&[])
            .unwrap_or_else(|e| panic!("block transfers: {e}"));
    }

    /// Lets the secondary transfer again and tells it to (NOTIFY), so it catches up at once.
    pub fn allow_transfers(&self) {
        let primary = &self.servers.primaries.mx_primary;
        let result = primary
            .allow_transfers(&self.servers.mx_secondary.addrs[..1])
            .and_then(|()| primary.rndc(&["notify", "mx.example."]))
            .and_then(|_| primary.rndc(&["notify", "corp.example."]));
        result.unwrap_or_else(|e| panic!("allow transfers: {e}"));
    }

    /// Waits (bounded) until the secondary serves the primary's serial for both its zones.
    pub fn wait_secondary_synced(&self) {
        self.wait_secondary_synced_result()
            .unwrap_or_else(|e| panic!("{e}"));
    }

    fn wait_secondary_synced_result(&self) -> Result<(), String> {
        let (primary, secondary) = (
            &self.servers.primaries.mx_primary,
            &self.servers.mx_secondary,
        );
        for zone in ["mx.example.", "corp.example."] {
            net::wait_until(
                &format!("the secondary to transfer {zone}"),
                bind::START_LIMIT,
                || {
                    secondary.daemon().ensure_running()?;
                    let want = net::soa_serial(primary.addr(), zone)?;
                    let have = net::soa_serial(secondary.addr(), zone)?;
                    Ok(want.is_some() && want == have)
                },
            )?;
        }
        Ok(())
    }

    /// The SOA serial `server` serves for `zone` (None: not authoritative / not loaded).
    pub fn serial(&self, server: SocketAddr, zone: &str) -> Option<u32> {
        net::soa_serial(server, zone).unwrap_or_else(|e| panic!("{e}"))
    }

    /// One query with DO set (RD if `recurse`), answered as a hickory `Message`.
    pub fn query(&self, server: SocketAddr, name: &str, rtype: RecordType) -> Message {
        let recurse = server == self.resolver;
        net::query(server, name, rtype, recurse).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs `dig +time=1 +tries=2 ARGS…` and returns its stdout.
    pub fn dig(&self, args: &[&str]) -> String {
        let mut command = Command::new("dig");
        command.args(["+time=1", "+tries=2"]).args(args);
        process::run(command).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The records (presentation form, one per line, as `dig +short`) that `server` serves for
    /// `name`/`rtype`, asked without recursion (or with it, for the resolver).
    pub fn dig_short(&self, server: SocketAddr, name: &str, rtype: &str) -> Vec<String> {
        let at = format!("@{}", server.ip());
        let rec = if server == self.resolver {
            "+rec"
        } else {
            "+norec"
        };
        self.dig(&[&at, rec, "+short", name, rtype])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Runs `nsupdate -k KEYFILE` with `commands` (a `server` line for the zone's primary is
    /// added unless the commands have one; `send` is appended). Err carries nsupdate's output.
    pub fn nsupdate(&self, key: &TsigKey, zone: &LabZone, commands: &str) -> Result<(), String> {
        let mut script = String::new();
        if !commands.contains("server ") {
            let primary = zone.primary();
            script.push_str(&format!("server {} {}\n", primary.ip(), primary.port()));
        }
        script.push_str(&format!("zone {}\n{commands}\nsend\n", zone.name));
        // One file per call: tests sharing a lab run nsupdate concurrently.
        static SCRIPTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SCRIPTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = self.dir.join(format!("nsupdate-{n}.txt"));
        bind::write(&path, &script)?;
        let mut command = Command::new("nsupdate");
        command.arg("-k").arg(&key.bind_file).arg(&path);
        process::run(command).map(drop)
    }

    /// Delegates `zone` (a child of `example.`, absolute) from the signed `example.` zone to a
    /// server outside the lab: NS `ns1.ZONE` with glue `server`, and the child's `ds` lines
    /// (`ZONE. IN DS …`). Waits (bounded) until unbound validates the child's SOA, so the child
    /// is part of the lab's secure tree (RFC 4035 §5: the DS at the parent links the chain).
    pub fn delegate(&self, zone: &str, server: Ipv4Addr, ds: &[String]) -> Result<(), String> {
        let ttl = zones::TTL;
        let mut commands = format!(
            "update add {zone} {ttl} NS ns1.{zone}\nupdate add ns1.{zone} {ttl} A {server}\n"
        );
        for line in ds {
            let rdata = line
                .split_once(" DS ")
                .map(|(_, rdata)| rdata.trim())
                .ok_or_else(|| format!("not a DS record: {line}"))?;
            commands.push_str(&format!("update add {zone} {ttl} DS {rdata}\n"));
        }
        self.nsupdate(&self.keys.parent, &self.tld, &commands)?;
        self.servers.unbound.wait_validated(zone)
    }

    /// Adds more addresses of the lab's block to `lo` (removed with the lab), e.g. the
    /// `bench-K.mx.example.` hosts of [`zones::BENCH_HOSTS`] ([`Lab::bench_host`]).
    pub fn add_addresses(&self, addrs: &[Ipv4Addr]) -> Result<(), String> {
        self.block.add(addrs)
    }

    /// The address of `bench-K.mx.example.` (K from 1 to [`zones::BENCH_HOSTS`]).
    pub fn bench_host(&self, k: u8) -> Ipv4Addr {
        let block = match self.resolver {
            SocketAddr::V4(v4) => v4.ip().octets()[1],
            SocketAddr::V6(_) => unreachable!("the lab resolver listens on IPv4"),
        };
        Ipv4Addr::new(127, block, 26, k)
    }

    /// Makes unbound forget every cached answer and server timeout.
    pub fn flush_resolver(&self) {
        self.servers
            .unbound
            .flush()
            .unwrap_or_else(|e| panic!("flush resolver: {e}"));
    }

    /// The BIND primary of `mx.example.`/`corp.example.` (for `rndc`).
    pub fn mx_primary(&self) -> &Bind {
        &self.servers.primaries.mx_primary
    }

    /// The BIND secondary of `mx.example.`/`corp.example.` (for `rndc`).
    pub fn mx_secondary(&self) -> &Bind {
        &self.servers.mx_secondary
    }

    /// The Knot server (for `knotc`).
    pub fn knot_server(&self) -> &Knot {
        &self.servers.primaries.knot
    }

    /// The lab's unbound (for `unbound-control`).
    pub fn unbound(&self) -> &Unbound {
        &self.servers.unbound
    }

    /// Where the daemons log, for failure messages.
    pub fn log_dir(&self) -> &Path {
        &self.dir
    }
}

static SHARED: std::sync::OnceLock<Lab> = std::sync::OnceLock::new();

extern "C" fn shutdown_shared() {
    if let Some(lab) = SHARED.get() {
        lab.shutdown();
    }
}

fn make_tsig_keys(dir: &Path) -> Result<LabKeys, String> {
    std::thread::scope(|scope| {
        let handles = [
            ("daneroll-mx", "hmac-sha256"),
            ("daneroll-knot", "hmac-sha256"),
            ("other-publisher", "hmac-sha256"),
            ("narrow-key", "hmac-sha256"),
            ("rndc-key", "hmac-sha256"),
            ("daneroll-512", "hmac-sha512"),
            ("lab-parent", "hmac-sha256"),
        ]
        .map(|(name, algorithm)| scope.spawn(move || TsigKey::generate(dir, name, algorithm)));
        let mut keys = handles.map(join);
        let mut take = |i: usize| std::mem::replace(&mut keys[i], Err(String::new()));
        Ok(LabKeys {
            mx: take(0)?,
            knot: take(1)?,
            other: take(2)?,
            narrow: take(3)?,
            rndc: take(4)?,
            sha512: take(5)?,
            parent: take(6)?,
        })
    })
}

/// Generates the zone keys (in parallel), writes every zone with its parent's DS and the trust
/// anchor files (the root key's DS and DNSKEY), and starts the primaries.
fn start_primaries(dir: &Path, plan: &Plan, keys: &LabKeys) -> Result<Primaries, String> {
    for sub in ["root", "tld", "mx1", "misc"] {
        bind::write_policy(&dir.join(sub))?;
    }
    let knot_setup = KnotSetup::new(
        &dir.join("knot"),
        plan.knot,
        "knot.example.",
        &[&keys.knot, &keys.other],
    )?;
    let zone_key = |sub: &str, zone: &str| bind::zone_key(&dir.join(sub), zone);
    let (root_key, example, mx, corp, bogus, nods, knot_ds) = std::thread::scope(|scope| {
        let root = scope.spawn(|| zone_key("root", "."));
        let example = scope.spawn(|| zone_key("tld", "example."));
        let mx = scope.spawn(|| zone_key("mx1", "mx.example."));
        let corp = scope.spawn(|| zone_key("mx1", "corp.example."));
        let bogus = scope.spawn(|| zone_key("misc", "bogus.example."));
        let nods = scope.spawn(|| zone_key("misc", "nods.example."));
        let knot = scope.spawn(|| knot_setup.zone_key());
        (
            join(root),
            join(example),
            join(mx),
            join(corp),
            join(bogus),
            join(nods),
            join(knot),
        )
    });
    let (root_key, example, mx, corp, bogus, _nods) =
        (root_key?, example?, mx?, corp?, bogus?, nods?);
    let ds = Delegations {
        example: example.ds,
        mx: mx.ds,
        corp: corp.ds,
        bogus: bogus.broken_ds(),
        knot: knot_ds?,
    };

    let rndc = &keys.rndc;
    let root = Bind::start(
        "root",
        &dir.join("root"),
        &[plan.root],
        &[primary(".", zones::root(plan, &ds), true, &[], &[])],
        &[],
        rndc,
    )?;
    let delegations = [format!(
        "grant \"{}\" subdomain example. NS DS A AAAA;",
        keys.parent.name
    )];
    let tld = Bind::start(
        "example.",
        &dir.join("tld"),
        &[plan.tld],
        &[primary(
            "example.",
            zones::example(plan, &ds),
            true,
            &delegations,
            &[],
        )],
        &[&keys.parent],
        rndc,
    )?;
    let tlsa_grants = |zone: &str| {
        let mut grants = vec![
            format!("grant \"{}\" zonesub TLSA;", keys.mx.name),
            format!("grant \"{}\" zonesub TLSA;", keys.other.name),
        ];
        if zone == "mx.example." {
            grants.push(format!(
                "grant \"{}\" name _25._tcp.mail2.mx.example. TLSA;",
                keys.narrow.name
            ));
            grants.push(format!("grant \"{}\" zonesub TLSA;", keys.sha512.name));
        }
        grants
    };
    let secondary_notify = [plan.mx_secondary[0]];
    let updaters = [&keys.mx, &keys.other, &keys.narrow, &keys.sha512];
    let mx_primary = Bind::start(
        "mx primary",
        &dir.join("mx1"),
        &plan.mx_primary,
        &[
            primary(
                "mx.example.",
                zones::mx(plan),
                true,
                &tlsa_grants("mx.example."),
                &secondary_notify,
            ),
            primary(
                "corp.example.",
                zones::corp(plan),
                true,
                &[],
                &secondary_notify,
            ),
        ],
        &updaters,
        rndc,
    )?;
    let misc_zone = |zone: &str, signed: bool, host: Ipv4Addr| {
        primary(
            zone,
            zones::misc(zone, plan, host),
            signed,
            &tlsa_grants(zone),
            &[],
        )
    };
    let misc = Bind::start(
        "misc",
        &dir.join("misc"),
        &[plan.misc],
        &[
            misc_zone("insecure.example.", false, plan.hosts[3]),
            misc_zone("bogus.example.", true, plan.hosts[4]),
            misc_zone("nods.example.", true, plan.hosts[5]),
        ],
        &updaters,
        rndc,
    )?;
    let knot = knot_setup.start(&zones::knot(plan))?;

    bind::write(&dir.join("unbound/root.ds"), &format!("{}\n", root_key.ds))?;
    bind::write(
        &dir.join("unbound/root.dnskey"),
        &format!("{}\n", root_key.dnskey),
    )?;
    Ok(Primaries {
        mx_primary,
        misc,
        knot,
        tld,
        root,
    })
}

fn start_secondary(dir: &Path, plan: &Plan, keys: &LabKeys) -> Result<Bind, String> {
    Bind::start(
        "mx secondary",
        &dir.join("mx2"),
        &plan.mx_secondary,
        &[
            secondary("mx.example.", plan.mx_primary[0]),
            secondary("corp.example.", plan.mx_primary[0]),
        ],
        &[],
        &keys.rndc,
    )
}

fn join<T>(handle: std::thread::ScopedJoinHandle<'_, Result<T, String>>) -> Result<T, String> {
    handle
        .join()
        .unwrap_or_else(|_| Err("key generation panicked".into()))
}

fn primary(
    name: &str,
    contents: String,
    signed: bool,
    update_policy: &[String],
    notify: &[Ipv4Addr],
) -> Zone {
    Zone {
        name: name.to_string(),
        role: Role::Primary {
            contents,
            signed,
            update_policy: update_policy.to_vec(),
            notify: notify.to_vec(),
        },
    }
}

fn secondary(name: &str, primary: Ipv4Addr) -> Zone {
    Zone {
        name: name.to_string(),
        role: Role::Secondary { primary },
    }
}
