//! The production [`World`]: the host's DNS backend, the propagation observer, the state
//! directory's keys, the MTA's files, the swap command and the reload command.
//!
//! Nothing here decides: the machine says what to do, this module does exactly that and
//! reports what it found. Each operation is idempotent because the driver repeats the last one
//! after a crash: publishing a present record, retiring an absent one, installing the same
//! chain again, or generating a key when an unrecorded one exists (it is returned instead).
//!
//! `DANEROLL_FAILPOINT=<action>:<n>` (tests) kills the process with SIGKILL right after the `n`-th
//! performance of `<action>` (`publish`, `observe`, `deploy`, …, `any`, or `write`: key
//! generation, publish, swap command, deploy, retire), before its outcome is recorded: the
//! crash the driver must survive.

mod acme;
mod command;
mod files;
mod install;
mod live;
mod renewal;

pub use acme::REQUESTING_ENV;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use daneroll_providers::{DnsBackend as Backend, Outcome, Tlsa, tlsa_owner};
use hickory_proto::rr::Name;
use time::OffsetDateTime;

use super::driver::{LiveSeen, World};
use super::input::{ActionKind, DiskView, Missing, PropagationReport, ZoneVerdict};
use super::policy::Propagated;
use super::store::{HostLock, Store};
use crate::config::{Deploy, Host, LiveCheck};
use crate::dns::chain::{ChainWalker, ZoneStatus};
use crate::dns::clock::SystemClock;
use crate::dns::net::HickoryTransport;
use crate::dns::observation::{Answer, Expected, ServerVerdict};
use crate::dns::observer::Observer;
use crate::dns::preflight::Preflight;
use crate::dns::safe_time::{TtlBound, TtlKind};
use crate::dns::trust_anchor::TrustAnchors;
use crate::output::write_line;
use crate::pki::keygen::generate_key;

/// Something external failed. Names the file, server, record or command; holds no secret.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    #[error("{}: {problem}", path.display())]
    File { path: PathBuf, problem: String },
    #[error("cannot install {}: {problem}", path.display())]
    Install { path: PathBuf, problem: String },
    #[error("DNS: {0}")]
    Dns(String),
    #[error("{backend}: {action} {record} at {owner}: {problem}")]
    Backend {
        backend: String,
        action: &'static str,
        record: String,
        owner: String,
        problem: String,
    },
    #[error(
        "refusing to retire {record} at {owner}: the RRset lacks {missing}, the record of a key \
         that must stay published"
    )]
    KeepMissing {
        record: String,
        owner: String,
        missing: String,
    },
    #[error("host {host}: {problem}")]
    Refused { host: String, problem: String },
    #[error("command {command:?} {problem}")]
    Command { command: String, problem: String },
    #[error("cannot generate a key: {0}")]
    Keygen(String),
}

/// The DNS side shared by every host: the network, the validating resolver, the anchors.
#[derive(Clone)]
pub struct DnsContext {
    pub transport: Arc<HickoryTransport>,
    pub resolver: SocketAddr,
    pub anchors: Arc<TrustAnchors>,
}

/// A record `observation`'s server did not serve, with whether its absence is proven.
fn missed(
    observation: &crate::dns::observation::Observation,
    record: &Tlsa,
    verdict: &ServerVerdict,
) -> Missing {
    let validated = matches!(&observation.answer, Answer::Served(s) if s.dnssec.is_valid());
    let (proven, answer) = match verdict {
        ServerVerdict::Stale if validated => (true, "absent, validated".to_string()),
        ServerVerdict::Stale => (false, "absent, not validated".to_string()),
        ServerVerdict::NoAnswer(_) => (false, "no answer".to_string()),
        ServerVerdict::NotAuthoritative(rcode) => (false, format!("not authoritative ({rcode})")),
        ServerVerdict::Bogus(_) | ServerVerdict::Serving => (false, "bogus".to_string()),
    };
    Missing {
        server: observation.server.to_string(),
        record: record.clone(),
        proven,
        answer,
    }
}

/// Aborts the process after the n-th performance of an action (crash tests).
#[derive(Debug, Clone)]
struct Failpoint {
    action: String,
    remaining: u32,
}

impl Failpoint {
    fn from_env() -> Option<Self> {
        let text = std::env::var("DANEROLL_FAILPOINT").ok()?;
        let (action, n) = text.split_once(':')?;
        Some(Self {
            action: action.to_string(),
            remaining: n.parse().ok()?,
        })
    }

    fn hit(&mut self, kind: ActionKind) {
        let name = serde_json::to_value(kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let writes = matches!(
            kind,
            ActionKind::GenerateNextKey
                | ActionKind::Publish
                | ActionKind::RequestCertificate
                | ActionKind::Deploy
                | ActionKind::Retire
        );
        let counted = match self.action.as_str() {
            "any" => true,
            "write" => writes,
            action => action == name,
        };
        if !counted {
            return;
        }
        self.remaining = self.remaining.saturating_sub(1);
        if self.remaining == 0 {
            eprintln!("daneroll: failpoint {name}: killing this process (SIGKILL)");
            // SIGKILL, as an OOM kill or a power cut: no destructor, no flush, no handler.
            // SAFETY: kill(2) on our own pid has no memory-safety preconditions.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            std::process::abort();
        }
    }
}

/// The real world of one host.
pub struct RealWorld {
    host: Host,
    deploy: Deploy,
    store: Store,
    backend: Box<dyn Backend>,
    dns: DnsContext,
    failpoint: Option<Failpoint>,
    /// The secrets kept out of the commands' environment.
    child_env: crate::process::ChildEnv,
    /// Print what happens (foreground `rollover`).
    pub verbose: bool,
    /// Put the host's name before every line (several hosts roll at once).
    pub label_lines: bool,
    /// Show waits as a countdown rewritten in place when stdout is a terminal (nothing else
    /// writes to it meanwhile).
    pub countdown: bool,
}

impl RealWorld {
    /// The world of `host`; it must have a `[host.deploy]` table.
    pub fn new(
        host: Host,
        store: Store,
        backend: Box<dyn Backend>,
        dns: DnsContext,
    ) -> Result<Self, WorldError> {
        let deploy = host.deploy.clone().ok_or_else(|| WorldError::Refused {
            host: host.name.clone(),
            problem: "no [host.deploy] table: daneroll does not know the MTA's files".into(),
        })?;
        Ok(Self {
            host,
            deploy,
            store,
            backend,
            dns,
            failpoint: Failpoint::from_env(),
            child_env: crate::process::ChildEnv::default(),
            verbose: false,
            label_lines: false,
            countdown: false,
        })
    }

    /// Keeps the secrets `child_env` names out of every command the world runs.
    pub fn set_child_env(&mut self, child_env: crate::process::ChildEnv) {
        self.child_env = child_env;
    }

    /// The host's configuration.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The TLSA owner names: one per port of each of the host's names.
    pub fn owners(&self) -> Vec<String> {
        self.host
            .ports
            .iter()
            .flat_map(|port| self.host.names().map(move |name| tlsa_owner(name, *port)))
            .collect()
    }

    fn hit(&mut self, kind: ActionKind) {
        if let Some(failpoint) = &mut self.failpoint {
            failpoint.hit(kind);
        }
    }

    /// Where the MTA's certificate is installed, for messages.
    pub fn deploy_target(&self) -> String {
        match &self.deploy.files {
            crate::config::DeployFiles::Combined(path) => path.display().to_string(),
            crate::config::DeployFiles::Separate {
                key_file,
                cert_file,
            } => format!(
                "{} (key) and {} (chain)",
                key_file.display(),
                cert_file.display()
            ),
        }
    }

    fn say(&self, line: &str) {
        if !self.verbose {
            return;
        }
        let _ = if self.label_lines {
            write_line(&format!("{}: {line}", self.host.name))
        } else {
            write_line(line)
        };
    }

    /// A countdown rewritten in place once a second when asked for and stdout is a terminal;
    /// a single line otherwise (logs, pipes, several hosts or the demo's checks interleaving).
    async fn count_down(&self, until: OffsetDateTime, left: Duration) {
        use std::io::{IsTerminal, Write};
        let in_place = self.verbose && self.countdown && std::io::stdout().is_terminal();
        if !in_place {
            self.say(&format!(
                "  waiting {}s, until {until}",
                left.as_secs_f64().ceil()
            ));
            tokio::time::sleep(left).await;
            return;
        }
        while let Ok(left) = Duration::try_from(until - OffsetDateTime::now_utc()) {
            if left.is_zero() {
                break;
            }
            {
                let mut out = std::io::stdout().lock();
                let _ = write!(
                    out,
                    "\r  waiting {:>5}s, until {until} ",
                    left.as_secs_f64().ceil()
                );
                let _ = out.flush();
            }
            tokio::time::sleep(left.min(Duration::from_secs(1))).await;
        }
        let _ = write_line(&format!("\r  waited until {until}{:16}", ""));
    }

    fn backend_error(
        &self,
        action: &'static str,
        record: &Tlsa,
        owner: &str,
    ) -> impl Fn(String) -> WorldError {
        let backend = self.backend.describe();
        let record = record.short();
        let owner = owner.to_string();
        move |problem| WorldError::Backend {
            backend: backend.clone(),
            action,
            record: record.clone(),
            owner: owner.clone(),
            problem,
        }
    }

    fn owner_name(owner: &str) -> Result<Name, WorldError> {
        Name::from_ascii(owner).map_err(|e| WorldError::Dns(format!("{owner}: {e}")))
    }

    /// Reads the zone verdict of every TLSA owner (read-only; also used by the dry run).
    pub async fn zone_verdict(&self) -> Result<ZoneVerdict, WorldError> {
        let mut walker = ChainWalker::new(
            &*self.dns.transport,
            self.dns.resolver,
            &self.dns.anchors,
            SystemTime::now(),
        );
        let mut domains = Vec::new();
        for domain in &self.host.mail_domains {
            domains.push(Self::owner_name(&format!("{domain}."))?);
        }
        let mut verdict = ZoneVerdict {
            zone: String::new(),
            secure: true,
            detail: String::new(),
        };
        let mut details: Vec<String> = Vec::new();
        for host in self.host.names() {
            for port in &self.host.ports {
                let name = Self::owner_name(&tlsa_owner(host, *port))?;
                let preflight = Preflight::run(&mut walker, host, &name, &domains)
                    .await
                    .map_err(|e| WorldError::Dns(e.to_string()))?;
                if verdict.zone.is_empty() {
                    verdict.zone = preflight.host.zone.to_string();
                }
                verdict.secure &= preflight.require_secure().is_ok();
                for line in preflight.lines() {
                    if !details.contains(&line) {
                        details.push(line);
                    }
                }
            }
        }
        if !verdict.secure {
            // What to do at this DNS host, so the refusal names the fix.
            details.push(format!(
                "DNSSEC at {}: {}",
                self.backend.describe(),
                self.backend.dnssec().how
            ));
        }
        verdict.detail = details.join("; ");
        Ok(verdict)
    }

    /// One look at every authoritative server for `records` (read-only). The TTL bound follows
    /// the one safe-time rule (`dns::safe_time`): only validated answers count, the larger of the
    /// served TTL and the RRSIG's original TTL, the negative TTL of the validated SOA; the
    /// report names what set it. The machine keeps the largest bound across looks.
    pub async fn look(
        &self,
        records: &[Tlsa],
    ) -> Result<(PropagationReport, TtlBound), WorldError> {
        let mut missing = Vec::new();
        let mut bound: Option<TtlBound> = None;
        let mut rrset_ttl_seen = false;
        let mut zone_ttl = 0;
        let mut first_served = OffsetDateTime::UNIX_EPOCH;
        for owner in self.owners() {
            let mut walker = ChainWalker::new(
                &*self.dns.transport,
                self.dns.resolver,
                &self.dns.anchors,
                SystemTime::now(),
            );
            let observer = Observer::discover(
                Arc::clone(&self.dns.transport),
                &mut walker,
                self.dns.resolver,
                Self::owner_name(&owner)?,
            )
            .await
            .map_err(|e| WorldError::Dns(e.to_string()))?;
            if !matches!(observer.zone_status(), ZoneStatus::Secure(_)) {
                return Err(WorldError::Dns(format!(
                    "zone {} is {}",
                    observer.zone(),
                    observer.zone_status()
                )));
            }
            zone_ttl = zone_ttl.max(observer.zone_ttl());
            let observations = observer.poll(&SystemClock).await;
            for observation in &observations {
                if let Some(evidence) = observation.ttl_evidence() {
                    rrset_ttl_seen |=
                        evidence.served.is_some() || evidence.rrsig_original.is_some();
                    TtlBound::raise_from(&mut bound, &observation.server.to_string(), evidence);
                }
                let at = OffsetDateTime::from(observation.at);
                first_served = first_served.max(at);
                for record in records {
                    let expected = Expected {
                        record: record.clone(),
                        present: true,
                    };
                    let verdict = observation.verdict(&expected);
                    if verdict != ServerVerdict::Serving {
                        missing.push(missed(observation, record, &verdict));
                    }
                    self.say(&format!(
                        "  {owner} {} at {}: {verdict}",
                        record.short(),
                        observation.server
                    ));
                }
            }
        }
        if !rrset_ttl_seen {
            TtlBound::raise(&mut bound, TtlBound::new(zone_ttl, TtlKind::Zone, None));
        }
        let bound = bound.unwrap_or(TtlBound::new(0, TtlKind::Zone, None));
        let report = if missing.is_empty() {
            PropagationReport::Everywhere(Propagated::new(first_served, bound.clone()))
        } else {
            PropagationReport::Incomplete { missing }
        };
        Ok((report, bound))
    }

    /// The certificates on disk (read-only).
    pub fn disk(&self) -> Result<DiskView, WorldError> {
        let deployed = files::deployed(&self.deploy)?;
        let staged = self.staged(deployed.as_ref())?;
        Ok(DiskView {
            deployed: deployed.map(|c| c.leaf),
            staged: staged.map(|c| c.leaf),
        })
    }

    /// Finishes an install of separate key and certificate files that a crash interrupted
    /// between its two renames, before anything reads them (see [`install`]).
    fn finish_interrupted_install(&self) -> Result<(), WorldError> {
        if install::finish_interrupted(&self.deploy)? {
            eprintln!(
                "daneroll: {}: finished an install interrupted between its renames: {} now \
                 matches {}",
                self.host.name,
                files::deployed_cert_path(&self.deploy).display(),
                files::deployed_key_path(&self.deploy).display()
            );
        }
        Ok(())
    }

    /// A renewed chain not yet deployed: the one the ACME client's hook staged, else the
    /// source's certificate file.
    fn staged(&self, deployed: Option<&files::Chain>) -> Result<Option<files::Chain>, WorldError> {
        match self.host.source.as_ref().and_then(|s| s.acme.as_ref()) {
            Some(_) => acme::staged_chain(&self.store, &self.host.name, deployed),
            None => files::staged(self.host.source.as_ref(), deployed),
        }
    }

    /// Renews through the host's ACME client with the next key `record`.
    async fn renew_through_client(
        &self,
        source: crate::config::AcmeSource,
        host: &str,
        record: &Tlsa,
    ) -> Result<(), WorldError> {
        let key_path = self
            .store
            .private_key_path(host, record)
            .map_err(|e| WorldError::Keygen(e.to_string()))?;
        let key = files::read_key(&key_path)?.ok_or_else(|| WorldError::File {
            path: key_path.clone(),
            problem: format!("the next key {} is missing", record.short()),
        })?;
        self.say(&format!(
            "renewing through {} with the next key {}",
            source.client(),
            record.short()
        ));
        let (host, record) = (host.to_string(), record.clone());
        let custom = self
            .host
            .source
            .as_ref()
            .and_then(|s| s.renew_command.clone());
        let store = self.store.clone();
        let limits = acme::Limits {
            child_env: self.child_env.clone(),
            timeout: self
                .host
                .source
                .as_ref()
                .map_or(crate::process::DEFAULT_CERTIFICATE_TIMEOUT, |s| s.timeout()),
        };
        let staged_here = tokio::task::spawn_blocking(move || {
            acme::renew(
                &source,
                custom.as_deref(),
                &host,
                &key.pem,
                &record,
                &limits,
            )?;
            acme::stage_renewed(&store, &host, &source, &record)
        })
        .await
        .map_err(|e| WorldError::Command {
            command: "ACME renewal".into(),
            problem: e.to_string(),
        })??;
        if staged_here {
            self.say("the client's hook staged nothing: daneroll staged the certificate");
        }
        Ok(())
    }

    /// Gives a new next key to an ACME client that keeps one for its own next renewal.
    fn stage_with_client(&self, key_pem: &[u8]) -> Result<(), WorldError> {
        if let Some(source) = self.host.source.as_ref().and_then(|s| s.acme.as_ref())
            && let Some(path) = acme::stage_next_key(source, key_pem)?
        {
            self.say(&format!("staged the next key in {}", path.display()));
        }
        Ok(())
    }

    /// The private key for `record`: the source's key file, a generated key, or the deployed
    /// key, whichever matches.
    fn key_for(&self, record: &Tlsa) -> Result<files::KeyFile, WorldError> {
        let mut candidates = Vec::new();
        if let Some(path) = self.host.source.as_ref().and_then(|s| s.key_file.clone()) {
            candidates.push(path);
        }
        // The key the ACME client used (a fresh key on the emergency path).
        if self.host.source.as_ref().is_some_and(|s| s.acme.is_some())
            && let Some(path) = acme::staged_key_path(&self.store, &self.host.name)
        {
            candidates.push(path);
        }
        if let Ok(path) = self.store.private_key_path(&self.host.name, record) {
            candidates.push(path);
        }
        candidates.push(files::deployed_key_path(&self.deploy).to_path_buf());
        for path in candidates {
            if let Some(key) = files::read_key(&path)?
                && key.record == *record
            {
                return Ok(key);
            }
        }
        Err(WorldError::Refused {
            host: self.host.name.clone(),
            problem: format!("no private key for {} found", record.short()),
        })
    }
}

impl World for RealWorld {
    type Error = WorldError;

    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    async fn sleep_until(&mut self, until: OffsetDateTime) {
        let left = until - OffsetDateTime::now_utc();
        if let Ok(left) = Duration::try_from(left) {
            self.count_down(until, left).await;
        }
    }

    async fn preflight(&mut self, _host: &str) -> Result<ZoneVerdict, WorldError> {
        let verdict = self.zone_verdict().await?;
        self.say(&format!(
            "preflight: zone {} is {}",
            verdict.zone,
            if verdict.secure {
                "secure"
            } else {
                "NOT secure"
            }
        ));
        self.hit(ActionKind::Preflight);
        Ok(verdict)
    }

    async fn inspect(&mut self, _host: &str) -> Result<DiskView, WorldError> {
        self.finish_interrupted_install()?;
        let view = self.disk()?;
        self.hit(ActionKind::Inspect);
        Ok(view)
    }

    async fn generate_key(&mut self, host: &str, lock: &HostLock) -> Result<Tlsa, WorldError> {
        let store_err = |e: super::store::StoreError| WorldError::Keygen(e.to_string());
        let known = self
            .store
            .load(lock)
            .map_err(store_err)?
            .map(|r| r.stage.known_records())
            .unwrap_or_default();
        let deployed = self.disk().ok().and_then(|d| d.deployed).map(|c| c.record);
        let dir = self.store.host_dir(host).map_err(store_err)?.join("keys");
        // A key generated before a crash and never recorded: use it rather than make another.
        for path in files::key_files(&dir) {
            if let Ok(Some(key)) = files::read_key(&path)
                && !known.contains(&key.record)
                && deployed.as_ref() != Some(&key.record)
            {
                self.say(&format!(
                    "next key {} (generated earlier)",
                    key.record.short()
                ));
                self.stage_with_client(&key.pem)?;
                self.hit(ActionKind::GenerateNextKey);
                return Ok(key.record);
            }
        }
        let key =
            generate_key(self.host.key_type).map_err(|e| WorldError::Keygen(e.to_string()))?;
        let record = key.record();
        self.store
            .write_private_key(lock, &record, key.private_key_pem().as_bytes())
            .map_err(store_err)?;
        self.say(&format!("generated the next key {}", record.short()));
        self.stage_with_client(key.private_key_pem().as_bytes())?;
        self.hit(ActionKind::GenerateNextKey);
        Ok(record)
    }

    async fn publish(&mut self, _host: &str, record: &Tlsa) -> Result<bool, WorldError> {
        let mut already = true;
        for owner in self.owners() {
            let outcome = self
                .backend
                .add(&owner, record, self.host.ttl)
                .await
                .map_err(|e| self.backend_error("add", record, &owner)(e.to_string()))?;
            already &= outcome == Outcome::Unchanged;
            self.say(&format!("published {owner} TLSA {record}"));
        }
        self.hit(ActionKind::Publish);
        Ok(already)
    }

    async fn observe(
        &mut self,
        _host: &str,
        records: &[Tlsa],
    ) -> Result<PropagationReport, WorldError> {
        let (report, _) = self.look(records).await?;
        self.hit(ActionKind::Observe);
        Ok(report)
    }

    async fn request_certificate(&mut self, host: &str, record: &Tlsa) -> Result<(), WorldError> {
        if let Some(source) = self.host.source.as_ref().and_then(|s| s.acme.clone()) {
            self.renew_through_client(source, host, record).await?;
            self.hit(ActionKind::RequestCertificate);
            return Ok(());
        }
        let Some(command) = self.host.source.as_ref().and_then(|s| s.command.clone()) else {
            return Err(WorldError::Refused {
                host: host.to_string(),
                problem: format!(
                    "the next key {} is safe, but no [host.source] command is configured: renew \
                     the certificate with that key (daneroll status shows its file)",
                    record.short()
                ),
            });
        };
        let key_path = self
            .store
            .private_key_path(host, record)
            .map_err(|e| WorldError::Keygen(e.to_string()))?;
        self.say(&format!("running the swap command {}", command.join(" ")));
        let env = [
            ("DANEROLL_HOST", host.to_string()),
            ("DANEROLL_NEXT_KEY", key_path.display().to_string()),
            ("DANEROLL_NEXT_TLSA", record.to_string()),
        ];
        let timeout = self
            .host
            .source
            .as_ref()
            .map_or(crate::process::DEFAULT_CERTIFICATE_TIMEOUT, |s| s.timeout());
        self.run_command(&command, &env, timeout).await?;
        self.hit(ActionKind::RequestCertificate);
        Ok(())
    }

    async fn recover_renewal(
        &mut self,
        host: &str,
        record: &Tlsa,
        lock: &HostLock,
    ) -> Result<String, WorldError> {
        match self.host.source.as_ref().and_then(|s| s.acme.as_ref()) {
            Some(source) => renewal::recover(&self.store, lock, host, source, record),
            None => Ok("the certificate files are read again".into()),
        }
    }

    async fn deploy(&mut self, host: &str, record: &Tlsa) -> Result<(), WorldError> {
        self.finish_interrupted_install()?;
        let deployed = files::deployed(&self.deploy)?;
        let chain = match self.staged(deployed.as_ref())? {
            Some(chain) => chain,
            // Already installed (a crash after the rename): only the reload may be missing.
            None if deployed.as_ref().is_some_and(|d| d.leaf.record == *record) => {
                // invariant: checked is_some_and just above.
                deployed.expect("deployed chain")
            }
            None => {
                return Err(WorldError::Refused {
                    host: host.to_string(),
                    problem: format!("no staged certificate with key {}", record.short()),
                });
            }
        };
        if chain.leaf.record != *record {
            return Err(WorldError::Refused {
                host: host.to_string(),
                problem: format!(
                    "the staged certificate has key {}, not {}; keeping the deployed one",
                    chain.leaf.record.short(),
                    record.short()
                ),
            });
        }
        let key = self.key_for(record)?;
        install::install(&self.deploy, &key, &chain)?;
        if self.host.source.as_ref().is_some_and(|s| s.acme.is_some()) {
            acme::clear(&self.store, host)?;
        }
        self.say(&format!(
            "installed the certificate with key {} into {}",
            record.short(),
            files::deployed_cert_path(&self.deploy).display()
        ));
        if let Some(reload) = self.deploy.reload.clone() {
            let timeout = self.deploy.reload_timeout();
            self.run_command(&reload, &[("DANEROLL_HOST", host.to_string())], timeout)
                .await?;
            self.say(&format!("ran {}", reload.join(" ")));
        }
        self.hit(ActionKind::Deploy);
        Ok(())
    }

    async fn verify_live(&mut self, host: &str, expected: &Tlsa) -> Result<LiveSeen, WorldError> {
        let live = match self.host.live_check {
            LiveCheck::Files => {
                let deployed =
                    files::deployed(&self.deploy)?.ok_or_else(|| WorldError::Refused {
                        host: host.to_string(),
                        problem: "no deployed certificate".into(),
                    })?;
                let line = format!(
                    "the MTA's files ({}) hold key {}",
                    self.deploy_target(),
                    deployed.leaf.record.short()
                );
                self.say(&format!(
                    "live check: {line} (expected {})",
                    expected.short()
                ));
                LiveSeen {
                    presented: deployed.leaf.record,
                    seen: vec![line],
                }
            }
            LiveCheck::Probe => self.probe_live(host, expected).await?,
        };
        self.hit(ActionKind::VerifyLive);
        Ok(live)
    }

    async fn retire(
        &mut self,
        host: &str,
        record: &Tlsa,
        keep: &[Tlsa],
    ) -> Result<bool, WorldError> {
        let mut already = true;
        for owner in self.owners() {
            let seen = self
                .backend
                .read(&owner)
                .await
                .map_err(|e| self.backend_error("read", record, &owner)(e.to_string()))?;
            if !seen.contains(record) {
                continue;
            }
            if let Some(missing) = keep.iter().find(|k| !seen.contains(k)) {
                return Err(WorldError::KeepMissing {
                    record: record.short(),
                    owner,
                    missing: missing.short(),
                });
            }
            self.backend
                .remove_if_unchanged(&owner, record, &seen)
                .await
                .map_err(|e| self.backend_error("remove", record, &owner)(e.to_string()))?;
            already = false;
            self.say(&format!("retired {owner} TLSA {record}"));
        }
        if let Ok(path) = self.store.private_key_path(host, record) {
            files::retire_key(&path)?;
        }
        self.hit(ActionKind::Retire);
        Ok(already)
    }
}
