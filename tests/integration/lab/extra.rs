//! Zones a test adds to a running lab: each served by a BIND of its own (IPv4 and/or IPv6),
//! signed under a policy the test picks (the lab's ECDSA CSK, or RSA/SHA-256 KSK + ZSK of 4096
//! bits), and delegated from the signed `example.` zone with NS, glue (A and AAAA) and DS, so
//! the lab's unbound validates it and daneroll discovers its servers from NS records, as on the
//! internet.
//!
//! An NS name may point at addresses this BIND does not listen on: that is where a test puts a
//! hostile proxy ([`crate::hostile`]) forwarding to this BIND, so one NS of a signed zone lies
//! while real BIND serves the others.
//!
//! ```ignore
//! let zone = lab.add_zone(ExtraZoneSpec {
//!     name: "big.example.".into(),
//!     rsa_bits: Some(4096),
//!     listen: vec![lab.addr(40, 1).into(), lab.addr6(0x40).into()],
//!     ns: vec![NsHost::new("ns1", &[lab.addr(40, 1).into()]),
//!              NsHost::new("ns2", &[lab.addr6(0x40).into()])],   // AAAA-only NS
//!     records: "mail A 127.N.25.1\n".into(),
//!     tlsa_updates: true,                                          // keys.mx may add TLSA
//! })?;
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::Command;

use super::bind::{self, Bind};
use super::process::run;
use super::{Lab, LabZone, primary, zones};

/// One NS name of an extra zone (a label under the zone) and its addresses (glue).
#[derive(Clone, Debug)]
pub struct NsHost {
    pub label: String,
    pub addrs: Vec<IpAddr>,
}

impl NsHost {
    pub fn new(label: &str, addrs: &[IpAddr]) -> Self {
        Self {
            label: label.to_string(),
            addrs: addrs.to_vec(),
        }
    }
}

/// What to build.
pub struct ExtraZoneSpec {
    /// Absolute name, a child of `example.` (e.g. `big.example.`).
    pub name: String,
    /// `None`: the lab's ECDSA P-256 CSK; `Some(bits)`: RSA/SHA-256 KSK and ZSK of `bits`.
    pub rsa_bits: Option<u32>,
    /// Where BIND listens (port 53); the first IPv4 one also carries rndc. Added to `lo`.
    pub listen: Vec<IpAddr>,
    /// The zone's NS names and their addresses (in the zone and as glue in `example.`).
    pub ns: Vec<NsHost>,
    /// More zone-file lines (owner names relative to the zone, or absolute).
    pub records: String,
    /// Lets `keys.mx` and `keys.other` update TLSA records (a dynamic zone).
    pub tlsa_updates: bool,
}

/// A running extra zone.
pub struct ExtraZone {
    /// Absolute name.
    pub name: String,
    /// BIND's addresses at port 53.
    pub servers: Vec<SocketAddr>,
    bind: Bind,
}

impl ExtraZone {
    /// BIND's first address (where RFC 2136 updates go).
    pub fn primary(&self) -> SocketAddr {
        self.servers[0]
    }

    /// The BIND serving the zone (for `rndc`).
    pub fn bind(&self) -> &Bind {
        &self.bind
    }

    /// The zone as [`Lab::nsupdate`] takes it; its mail host is `mail.ZONE` at `host_addr`.
    pub fn lab_zone(&self, host_addr: Ipv4Addr) -> LabZone {
        LabZone {
            name: self.name.clone(),
            primary_addrs: self.servers.clone(),
            secondary_addrs: Vec::new(),
            host: format!("mail.{}", self.name),
            host_addr,
        }
    }
}

impl Lab {
    /// The address `127.N.x.y` of this lab's block (not on `lo` until added).
    pub fn addr(&self, x: u8, y: u8) -> Ipv4Addr {
        self.block.addr(x, y)
    }

    /// The IPv6 address `fd64:6e72:6c00:N::host` of this lab's block (not on `lo` until added).
    pub fn addr6(&self, host: u16) -> Ipv6Addr {
        self.block.addr6(host)
    }

    /// Adds IPv4 or IPv6 addresses of the lab's block to `lo` (removed with the lab).
    pub fn add_any(&self, addrs: &[IpAddr]) -> Result<(), String> {
        self.block.add_any(addrs)
    }

    /// Builds, starts and delegates an extra zone; returns once unbound validates its SOA.
    pub fn add_zone(&self, spec: ExtraZoneSpec) -> Result<ExtraZone, String> {
        let zone = spec.name.clone();
        let label = zone.trim_end_matches('.');
        let dir = self.dir.join(format!("zone-{label}"));
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        match spec.rsa_bits {
            Some(bits) => bind::write_policy_text(&dir, &bind::rsa_policy(bits))?,
            None => bind::write_policy(&dir)?,
        };
        let ds = key_signing_ds(&dir, &zone)?;
        self.block.add_any(&spec.listen)?;

        // MNAME: the first NS (where RFC 2136 clients send updates, RFC 2136 §4).
        let mname = spec.ns.first().map_or("ns1", |ns| ns.label.as_str());
        let mut contents = format!(
            "$TTL {ttl}\n{zone} SOA {mname}.{zone} hostmaster.{zone} 1 10 2 600 {ttl}\n",
            ttl = zones::TTL
        );
        for ns in &spec.ns {
            contents.push_str(&format!("{zone} NS {}.{zone}\n", ns.label));
            for addr in &ns.addrs {
                contents.push_str(&format!("{}.{zone} {} {addr}\n", ns.label, rtype(addr)));
            }
        }
        contents.push_str(&spec.records);
        let grants = if spec.tlsa_updates {
            vec![
                format!("grant \"{}\" zonesub TLSA;", self.keys.mx.name),
                format!("grant \"{}\" zonesub TLSA;", self.keys.other.name),
            ]
        } else {
            Vec::new()
        };
        let v4: Vec<Ipv4Addr> = spec
            .listen
            .iter()
            .filter_map(|a| match a {
                IpAddr::V4(v4) => Some(*v4),
                IpAddr::V6(_) => None,
            })
            .collect();
        let v6: Vec<Ipv6Addr> = spec
            .listen
            .iter()
            .filter_map(|a| match a {
                IpAddr::V6(v6) => Some(*v6),
                IpAddr::V4(_) => None,
            })
            .collect();
        if v4.is_empty() {
            return Err(format!("{zone}: BIND needs one IPv4 address (for rndc)"));
        }
        let bind = Bind::start_dual(
            &zone,
            &dir,
            &v4,
            &v6,
            &[primary(&zone, contents, true, &grants, &[])],
            &[&self.keys.mx, &self.keys.other],
            &self.keys.rndc,
        )?;
        bind.wait_ready(&zone, true)?;

        let ttl = zones::TTL;
        let mut commands = String::new();
        for ns in &spec.ns {
            commands.push_str(&format!("update add {zone} {ttl} NS {}.{zone}\n", ns.label));
            for addr in &ns.addrs {
                commands.push_str(&format!(
                    "update add {}.{zone} {ttl} {} {addr}\n",
                    ns.label,
                    rtype(addr)
                ));
            }
        }
        let rdata = ds
            .split_once(" DS ")
            .map(|(_, rdata)| rdata.trim())
            .ok_or_else(|| format!("not a DS record: {ds}"))?;
        commands.push_str(&format!("update add {zone} {ttl} DS {rdata}\n"));
        self.nsupdate(&self.keys.parent, &self.tld, &commands)?;
        self.servers.unbound.wait_validated(&zone)?;
        Ok(ExtraZone {
            name: zone,
            servers: bind.sockets(),
            bind,
        })
    }
}

fn rtype(addr: &IpAddr) -> &'static str {
    match addr {
        IpAddr::V4(_) => "A",
        IpAddr::V6(_) => "AAAA",
    }
}

/// Generates the keys of the policy in `dir` for `zone` and returns the DS (SHA-256) of the
/// key-signing key (flags 257: the CSK, or the KSK of a split policy).
fn key_signing_ds(dir: &std::path::Path, zone: &str) -> Result<String, String> {
    let mut keygen = Command::new("dnssec-keygen");
    keygen
        .arg("-q")
        .arg("-K")
        .arg(dir)
        .args(["-k", "lab", "-l"])
        .arg(dir.join("policy.conf"))
        .arg(zone);
    let bases = run(keygen)?;
    for base in bases.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let key_file = dir.join(format!("{base}.key"));
        let text = std::fs::read_to_string(&key_file)
            .map_err(|e| format!("read {}: {e}", key_file.display()))?;
        if text.lines().any(|l| l.contains("DNSKEY 257 ")) {
            let mut dsfromkey = Command::new("dnssec-dsfromkey");
            dsfromkey.arg("-2").arg(&key_file);
            return Ok(run(dsfromkey)?.trim().to_string());
        }
    }
    Err(format!("dnssec-keygen made no key-signing key for {zone}"))
}
