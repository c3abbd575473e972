//! `daneroll demo`: a complete rollover with zero setup, in this process, on loopback.
//!
//! WHY: an operator deciding whether to trust daneroll with their MX wants to watch it do the
//! whole job first. The demo starts the two things a rollover touches, a DNSSEC-signed
//! authoritative name server ([`dns`]) and a STARTTLS mail server ([`smtp`]), writes the
//! configuration an operator would write for them, and then runs the production code against
//! them unchanged: engine, driver, RFC 2136 backend, observer and chain walk. Only the servers,
//! the throwaway CA (which plays the ACME client, [`ca`]) and the independent checker
//! ([`watch`]) are the demo's own. The MTA is "reloaded" the way real ones are: the configured
//! reload command sends SIGHUP to this process, which makes the mail server re-read its files.

pub mod ca;
pub mod dns;
mod signed_answers;
pub mod smtp;
pub mod watch;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use daneroll_providers::Tlsa;

use self::ca::{Ca, CaError};
use self::dns::{DnsLab, DnsLabError, ZoneNames, ZoneSetup};
use self::smtp::{SMTP_PORT, SmtpLab, SmtpLabError, TlsFiles};

/// Why the demo lab could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(transparent)]
    Dns(#[from] DnsLabError),
    #[error(transparent)]
    Smtp(#[from] SmtpLabError),
    #[error(transparent)]
    Ca(#[from] CaError),
    #[error("cannot write demo file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The addresses the demo tries for its name server and MX, in order: 127.53.0.1, .2, …
/// (each demo needs one address with ports 53 and 25 free).
pub fn candidate_addresses() -> Vec<Ipv4Addr> {
    (1..=200).map(|n| Ipv4Addr::new(127, 53, 0, n)).collect()
}

/// Everything the demo started, and where its files are.
pub struct Lab {
    pub dir: PathBuf,
    pub dns: DnsLab,
    pub smtp: Arc<SmtpLab>,
    pub ca: Ca,
    pub config: PathBuf,
    pub state_dir: PathBuf,
    pub first_record: Tlsa,
}

impl Lab {
    /// Starts both servers in `dir` and writes the configuration that points daneroll at them.
    /// `exe` is this program (the reload and issue commands run it).
    pub async fn start(
        dir: &Path,
        ttl: u32,
        candidates: &[Ipv4Addr],
        exe: &Path,
    ) -> Result<Self, LabError> {
        let make = |sub: &str| {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path).map_err(|source| LabError::Write {
                path: path.clone(),
                source,
            })?;
            Ok::<_, LabError>(path)
        };
        let names = ZoneNames::demo();
        let host = names.mx.to_string().trim_end_matches('.').to_string();
        let ca = Ca::create(&make("ca")?)?;
        let mta = make("mta")?;
        let files = TlsFiles {
            key: mta.join("key.pem"),
            chain: mta.join("chain.pem"),
        };
        let first_record = ca.issue_fresh(&host, &files.key, &files.chain)?;
        let setup = ZoneSetup {
            names,
            ttl,
            tlsa: vec![first_record.clone()],
        };
        let dns = DnsLab::start(&setup, candidates, &make("zone")?).await?;
        let smtp_addr = SocketAddr::new(dns.addr().ip(), SMTP_PORT);
        let smtp = SmtpLab::start(smtp_addr, &host, files.clone()).await?;
        let etc = make("etc")?;
        let tsig = etc.join("tsig.key");
        write(&tsig, &dns.tsig().bind_key_file())?;
        let anchor = etc.join("trust-anchor.key");
        write(&anchor, dns.trust_anchor())?;
        let state_dir = dir.join("state");
        let incoming = make("incoming")?.join("fullchain.pem");
        let config = etc.join("daneroll.toml");
        let text = config_text(&ConfigInput {
            state_dir: &state_dir,
            tsig: &tsig,
            anchor: &anchor,
            resolver: dns.addr(),
            host: &host,
            zone: &dns.names().zone.to_string(),
            ttl,
            files: &files,
            incoming: &incoming,
            exe,
            ca_dir: ca.dir(),
        });
        write(&config, &text)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            dns,
            smtp: Arc::new(smtp),
            ca,
            config,
            state_dir,
            first_record,
        })
    }

    /// The MX host name, without the trailing dot.
    pub fn host(&self) -> String {
        self.dns
            .names()
            .mx
            .to_string()
            .trim_end_matches('.')
            .to_string()
    }

    /// The address both servers listen on.
    pub fn ip(&self) -> IpAddr {
        self.dns.addr().ip()
    }
}

struct ConfigInput<'a> {
    state_dir: &'a Path,
    tsig: &'a Path,
    anchor: &'a Path,
    resolver: SocketAddr,
    host: &'a str,
    zone: &'a str,
    ttl: u32,
    files: &'a TlsFiles,
    incoming: &'a Path,
    exe: &'a Path,
    ca_dir: &'a Path,
}

/// The configuration an operator would write for this MX (README "Configuration").
fn config_text(c: &ConfigInput<'_>) -> String {
    let q = |p: &Path| toml_string(&p.display().to_string());
    let exe = q(c.exe);
    format!(
        "# Written by `daneroll demo`: the same settings an operator writes for a real MX.\n\
         state_dir = {state}\n\n\
         [dns.demo]\n\
         type = \"rfc2136\"\n\
         tsig_key_file = {tsig}\n\n\
         [validation]\n\
         trust_anchor_file = {anchor}\n\
         resolver = \"{resolver}\"\n\n\
         [policy]\n\
         safety_factor = 2\n\
         poll_interval = \"1s\"\n\n\
         [[host]]\n\
         name = \"{host}\"\n\
         dns = \"demo\"\n\
         mail_domains = [\"{zone}\"]\n\
         key_type = \"ecdsa-p256\"\n\
         ttl = {ttl}\n\n\
         [host.deploy]\n\
         key_file = {key}\n\
         cert_file = {chain}\n\
         reload = [{exe}, \"demo\", \"--reload-pid\", \"{pid}\"]\n\n\
         [host.source]\n\
         certificate_file = {incoming}\n\
         command = [{exe}, \"demo\", \"--issue-from\", {ca}, \"--issue-to\", {incoming}]\n",
        state = q(c.state_dir),
        tsig = q(c.tsig),
        anchor = q(c.anchor),
        resolver = c.resolver,
        host = c.host,
        zone = c.zone.trim_end_matches('.'),
        ttl = c.ttl,
        key = q(&c.files.key),
        chain = q(&c.files.chain),
        pid = std::process::id(),
        incoming = q(c.incoming),
        ca = q(c.ca_dir),
    )
}

fn toml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn write(path: &Path, text: &str) -> Result<(), LabError> {
    std::fs::write(path, text).map_err(|source| LabError::Write {
        path: path.to_path_buf(),
        source,
    })
}
