//! BIND 9 (`named`) servers for the lab, configured as a mail operator's would be.
//!
//! Signed zones use `dnssec-policy` with one CSK (ECDSA P-256, RFC 8624 §3.1). The key is made
//! before `named` starts, with `dnssec-keygen -k POLICY -l CONF` (the tool that generates keys
//! for a policy exactly as `named` would), so the parent's DS is known up front and the whole
//! tree starts at once instead of zone by zone. Static zones sign inline; dynamic zones
//! (`update-policy`) sign in place and re-sign every RFC 2136 update.
//!
//! Transfers to the secondary go through the ACL `lab_transfers` in its own include file, so a
//! test can refuse transfers for a while (`Bind::allow_transfers`) and make the secondary serve
//! stale data, as a broken transfer does in production.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::net;
use super::process::{Daemon, run};

/// The `dnssec-policy` every signed BIND zone of the lab uses: one CSK, short TTLs, so that
/// resolvers' caches turn over in seconds.
const POLICY: &str = r#"dnssec-policy "lab" {
    keys { csk key-directory lifetime unlimited algorithm ecdsap256sha256; };
    dnskey-ttl 5;
    max-zone-ttl 60;
    zone-propagation-delay 1;
    publish-safety 1;
    retire-safety 1;
    parent-ds-ttl 5;
    parent-propagation-delay 1;
};
"#;

/// How long a server may take to load and sign its zones.
pub const START_LIMIT: Duration = Duration::from_secs(20);

/// A TSIG key as `tsig-keygen` made it, also written in Knot's format.
#[derive(Clone)]
pub struct TsigKey {
    /// The key name, as in `key "NAME"`.
    pub name: String,
    /// `hmac-sha256`, `hmac-sha512`, …
    pub algorithm: String,
    /// Base64 secret (test key; never print it in assertions).
    pub secret: String,
    /// `key "NAME" { algorithm …; secret "…"; };` as `tsig-keygen` writes and `nsupdate -k` reads.
    pub bind_file: PathBuf,
    /// `key:\n  - id: NAME\n    algorithm: …\n    secret: …` as Knot's `keymgr -t` writes.
    pub knot_file: PathBuf,
}

impl TsigKey {
    /// Runs `tsig-keygen -a ALGORITHM NAME` and writes `DIR/NAME.key` and `DIR/NAME.knot.conf`.
    pub fn generate(dir: &Path, name: &str, algorithm: &str) -> Result<Self, String> {
        let mut command = Command::new("tsig-keygen");
        command.args(["-a", algorithm, name]);
        let text = run(command)?;
        let secret = text
            .split("secret \"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .ok_or_else(|| format!("no secret in tsig-keygen output for {name}"))?
            .to_string();
        let bind_file = dir.join(format!("{name}.key"));
        let knot_file = dir.join(format!("{name}.knot.conf"));
        write(&bind_file, &text)?;
        write(
            &knot_file,
            &format!("key:\n  - id: {name}\n    algorithm: {algorithm}\n    secret: {secret}\n"),
        )?;
        Ok(Self {
            name: name.to_string(),
            algorithm: algorithm.to_string(),
            secret,
            bind_file,
            knot_file,
        })
    }

    /// `ALGORITHM:NAME:SECRET`, the `-y` argument of `nsupdate` and `knsupdate`.
    pub fn y_arg(&self) -> String {
        format!("{}:{}:{}", self.algorithm, self.name, self.secret)
    }
}

impl fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A zone's signing key as the parent and the trust anchor need it.
#[derive(Debug, Clone)]
pub struct ZoneKey {
    /// `ZONE. IN DS TAG 13 2 HEX` (SHA-256 digest, RFC 4509).
    pub ds: String,
    /// `ZONE. IN DNSKEY 257 3 13 BASE64`.
    pub dnskey: String,
}

impl ZoneKey {
    /// The DS line with its digest altered: the parent then points at no key of the child, and
    /// validating resolvers must call the child bogus (RFC 4035 §5.2).
    pub fn broken_ds(&self) -> String {
        let (head, digest) = self.ds.rsplit_once(' ').unwrap_or((&self.ds, ""));
        let flipped: String = digest
            .chars()
            .map(|c| if c == '0' { '1' } else { '0' })
            .collect();
        format!("{head} {flipped}")
    }
}

/// Writes the policy file `named.conf` and `dnssec-keygen -l` both read.
pub fn write_policy(dir: &Path) -> Result<PathBuf, String> {
    write_policy_text(dir, POLICY)
}

/// The lab policy with a KSK and a ZSK, both RSA/SHA-256 (RFC 5702) of `bits` bits: a DNSKEY
/// RRset too large for a 1232-byte UDP answer when `bits` is 4096.
pub fn rsa_policy(bits: u32) -> String {
    POLICY.replace(
        "csk key-directory lifetime unlimited algorithm ecdsap256sha256;",
        &format!(
            "ksk key-directory lifetime unlimited algorithm rsasha256 {bits}; \
             zsk key-directory lifetime unlimited algorithm rsasha256 {bits};"
        ),
    )
}

/// Writes `text` (a `dnssec-policy "lab"` statement) as the policy file of `dir`.
pub fn write_policy_text(dir: &Path, text: &str) -> Result<PathBuf, String> {
    let path = dir.join("policy.conf");
    write(&path, text)?;
    Ok(path)
}

/// Generates the CSK `named` will use for `zone` under `policy.conf` in `dir`.
pub fn zone_key(dir: &Path, zone: &str) -> Result<ZoneKey, String> {
    let policy = dir.join("policy.conf");
    let mut keygen = Command::new("dnssec-keygen");
    keygen
        .arg("-q")
        .arg("-K")
        .arg(dir)
        .args(["-k", "lab", "-l"]);
    keygen.arg(&policy).arg(zone);
    let base = run(keygen)?.trim().to_string();
    let key_file = dir.join(format!("{base}.key"));
    let dnskey = std::fs::read_to_string(&key_file)
        .map_err(|e| format!("read {}: {e}", key_file.display()))?
        .lines()
        .find(|line| line.contains("DNSKEY"))
        .ok_or_else(|| format!("no DNSKEY in {}", key_file.display()))?
        .to_string();
    let mut dsfromkey = Command::new("dnssec-dsfromkey");
    dsfromkey.arg("-2").arg(&key_file);
    let ds = run(dsfromkey)?.trim().to_string();
    Ok(ZoneKey { ds, dnskey })
}

/// What a BIND server does with one zone.
pub enum Role {
    /// Loads `contents` from a file; signs it when `signed`; accepts the RFC 2136 updates that
    /// `update_policy` grants (e.g. `grant "KEY" zonesub TLSA;`); notifies `notify`.
    Primary {
        contents: String,
        signed: bool,
        update_policy: Vec<String>,
        notify: Vec<Ipv4Addr>,
    },
    /// Transfers the zone (IXFR after NOTIFY) from `primary`.
    Secondary { primary: Ipv4Addr },
}

/// One zone of a BIND server.
pub struct Zone {
    pub name: String,
    pub role: Role,
}

/// A running `named`.
pub struct Bind {
    daemon: Daemon,
    dir: PathBuf,
    /// The addresses it listens on (port 53; rndc on the first, port 953).
    pub addrs: Vec<Ipv4Addr>,
    /// Its IPv6 addresses (port 53).
    pub v6: Vec<Ipv6Addr>,
    rndc_key: PathBuf,
}

impl Bind {
    /// Writes the configuration and zone files into `dir` and starts `named` in the foreground.
    /// `keys` are the TSIG keys it knows (their BIND files are included), `rndc` the control
    /// key. Returns once the process is started; see [`Bind::wait_ready`].
    pub fn start(
        label: &str,
        dir: &Path,
        addrs: &[Ipv4Addr],
        zones: &[Zone],
        keys: &[&TsigKey],
        rndc: &TsigKey,
    ) -> Result<Self, String> {
        Self::start_dual(label, dir, addrs, &[], zones, keys, rndc)
    }

    /// As [`Bind::start`], also listening on the IPv6 addresses `v6` (port 53). A policy file
    /// already in `dir` (keys made for it) is kept.
    pub fn start_dual(
        label: &str,
        dir: &Path,
        addrs: &[Ipv4Addr],
        v6: &[Ipv6Addr],
        zones: &[Zone],
        keys: &[&TsigKey],
        rndc: &TsigKey,
    ) -> Result<Self, String> {
        let transfers_to: Vec<Ipv4Addr> = zones
            .iter()
            .flat_map(|zone| match &zone.role {
                Role::Primary { notify, .. } => notify.clone(),
                Role::Secondary { .. } => Vec::new(),
            })
            .collect();
        write_transfer_acl(dir, &transfers_to)?;
        if !dir.join("policy.conf").exists() {
            write_policy(dir)?;
        }
        let mut conf = options(dir, addrs, v6);
        for key in keys.iter().chain([&rndc]) {
            conf.push_str(&format!("include \"{}\";\n", key.bind_file.display()));
        }
        conf.push_str(&format!(
            "controls {{ inet {} port 953 allow {{ 127.0.0.0/8; }} keys {{ \"{}\"; }}; }};\n",
            addrs[0], rndc.name
        ));
        for zone in zones {
            conf.push_str(&zone_statement(dir, zone)?);
        }
        let conf_path = dir.join("named.conf");
        write(&conf_path, &conf)?;
        let mut check = Command::new("named-checkconf");
        check.arg(&conf_path);
        run(check).map_err(|e| format!("{label}: invalid named.conf: {e}"))?;

        let mut named = Command::new("named");
        named.args(["-g", "-n", "1", "-U", "1"]);
        if v6.is_empty() {
            named.arg("-4");
        }
        named.arg("-c").arg(&conf_path);
        let daemon = Daemon::spawn(&format!("named ({label})"), named, &dir.join("named.log"))?;
        Ok(Self {
            daemon,
            dir: dir.to_path_buf(),
            addrs: addrs.to_vec(),
            v6: v6.to_vec(),
            rndc_key: rndc.bind_file.clone(),
        })
    }

    /// The first listening address at port 53.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((self.addrs[0], 53))
    }

    /// Every listening address at port 53.
    pub fn sockets(&self) -> Vec<SocketAddr> {
        let v4 = self.addrs.iter().map(|a| IpAddr::V4(*a));
        let v6 = self.v6.iter().map(|a| IpAddr::V6(*a));
        v4.chain(v6).map(|a| SocketAddr::new(a, 53)).collect()
    }

    pub fn daemon(&self) -> &Daemon {
        &self.daemon
    }

    /// Waits until every address answers `zone SOA` authoritatively (with an RRSIG if `signed`).
    pub fn wait_ready(&self, zone: &str, signed: bool) -> Result<(), String> {
        for server in self.sockets() {
            net::wait_until(
                &format!("{} to serve {zone} on {server}", self.daemon.name()),
                START_LIMIT,
                || {
                    self.daemon.ensure_running()?;
                    self.daemon.ensure_log_lacks("not loaded due to errors")?;
                    if signed {
                        net::serves_signed(server, zone)
                    } else {
                        Ok(net::soa_serial(server, zone)?.is_some())
                    }
                },
            )?;
        }
        Ok(())
    }

    /// Runs `rndc` against this server and returns its output.
    pub fn rndc(&self, args: &[&str]) -> Result<String, String> {
        let mut command = Command::new("rndc");
        command.arg("-k").arg(&self.rndc_key);
        command.args(["-s", &self.addrs[0].to_string(), "-p", "953"]);
        command.args(args);
        run(command)
    }

    /// Replaces the transfer ACL with `peers` (empty: refuse every transfer) and reloads the
    /// configuration.
    pub fn allow_transfers(&self, peers: &[Ipv4Addr]) -> Result<(), String> {
        write_transfer_acl(&self.dir, peers)?;
        self.rndc(&["reconfig"]).map(drop)
    }
}

fn options(dir: &Path, addrs: &[Ipv4Addr], v6: &[Ipv6Addr]) -> String {
    let listen: String = addrs.iter().map(|a| format!("{a}; ")).collect();
    let listen6: String = if v6.is_empty() {
        "none; ".into()
    } else {
        v6.iter().map(|a| format!("{a}; ")).collect()
    };
    let d = dir.display();
    format!(
        r#"options {{
    directory "{d}";
    listen-on port 53 {{ {listen}}};
    listen-on-v6 port 53 {{ {listen6}}};
    pid-file none;
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    recursion no;
    dnssec-validation no;
    allow-transfer {{ lab_transfers; }};
    notify-delay 0;
    min-refresh-time 1;
    max-refresh-time 5;
    min-retry-time 1;
    max-retry-time 2;
    transfer-source {first};
    notify-source {first};
}};
include "{d}/policy.conf";
include "{d}/transfers.conf";
"#,
        first = addrs[0]
    )
}

fn zone_statement(dir: &Path, zone: &Zone) -> Result<String, String> {
    let file = format!("{}db", zone.name);
    let name = &zone.name;
    Ok(match &zone.role {
        Role::Primary {
            contents,
            signed,
            update_policy,
            notify,
        } => {
            write(&dir.join(&file), contents)?;
            let mut body = format!("type primary; file \"{file}\";");
            if *signed {
                body.push_str(" dnssec-policy \"lab\";");
                if update_policy.is_empty() {
                    body.push_str(" inline-signing yes;");
                }
            }
            if !update_policy.is_empty() {
                body.push_str(&format!(
                    " update-policy {{ {} }};",
                    update_policy.join(" ")
                ));
            }
            if notify.is_empty() {
                body.push_str(" notify no;");
            } else {
                let to: String = notify.iter().map(|a| format!("{a}; ")).collect();
                body.push_str(&format!(" notify explicit; also-notify {{ {to}}};"));
            }
            format!("zone \"{name}\" {{ {body} }};\n")
        }
        Role::Secondary { primary } => format!(
            "zone \"{name}\" {{ type secondary; file \"{file}\"; primaries {{ {primary}; }}; \
             notify no; }};\n"
        ),
    })
}

fn write_transfer_acl(dir: &Path, peers: &[Ipv4Addr]) -> Result<(), String> {
    let list: String = if peers.is_empty() {
        "none; ".into()
    } else {
        peers.iter().map(|a| format!("{a}; ")).collect()
    };
    write(
        &dir.join("transfers.conf"),
        &format!("acl \"lab_transfers\" {{ {list}}};\n"),
    )
}

pub fn write(path: &Path, contents: &str) -> Result<(), String> {
    std::fs::write(path, contents).map_err(|e| format!("write {}: {e}", path.display()))
}
