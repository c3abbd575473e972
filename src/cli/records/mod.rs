//! `daneroll records show|add|remove|wait`: the DNS primitives, by hand.
//!
//! These are the steps the rollover engine takes, exposed so an operator can inspect and repair:
//! `show` tells what every authoritative address serves and whether it validates, `add` and
//! `remove` change one record through the host's backend (never the rest of the RRset), and
//! `wait` blocks until a change is served everywhere and every cache that may hold the old
//! answer has expired (RFC 7671 §8.1).

mod change;
mod held;
mod presents;
mod show;
mod wait;

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use daneroll_providers::{Tlsa, tlsa_owner};
use hickory_proto::rr::Name;

use crate::config::{Config, Host, normalize_host};
use crate::dns::chain::ChainWalker;
use crate::dns::clock::{Clock, SystemClock};
use crate::dns::net::HickoryTransport;
use crate::dns::observer::{Observer, resolver_from_resolv_conf};
use crate::dns::preflight::Preflight;
use crate::dns::trust_anchor::TrustAnchors;
use crate::exit;

/// Per-query timeout and attempts for the command line: a silent server costs 3 × 2 s a poll.
/// Three attempts, because the same budget serves the validating resolver, which may itself be
/// waiting out an unresponsive authoritative server before it answers.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
const QUERY_ATTEMPTS: u8 = 3;

/// Inspect and change the TLSA records of an MX host.
#[derive(Debug, Args)]
pub struct RecordsArgs {
    #[command(subcommand)]
    pub command: RecordsCommand,
}

#[derive(Debug, Subcommand)]
pub enum RecordsCommand {
    /// DNSSEC verdict, then what every authoritative address serves, then the resolver's view.
    /// Exits 0 when the zone is secure and every address answers validated, 4 otherwise.
    Show(show::ShowArgs),
    /// Publish one TLSA record beside the others (refused in a zone that is not secure).
    Add(change::AddArgs),
    /// Retire one TLSA record, only if the RRset is still what was just read.
    Remove(change::RemoveArgs),
    /// Wait until a change is served, validated, by every authoritative address and every cache
    /// may have expired; exit 0 then, 1 with the laggard servers on timeout.
    Wait(wait::WaitArgs),
}

/// The host and port every records subcommand takes.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// The MX host, e.g. mail.example.com.
    pub host: String,
    /// The TCP port (default: the host's first configured port, else 25).
    #[arg(long, short)]
    pub port: Option<u16>,
    /// A mail domain whose MX points at the host; its zone is checked too (repeatable; default:
    /// the host's `mail_domains`).
    #[arg(long = "mail-domain", value_name = "DOMAIN")]
    pub mail_domains: Vec<String>,
}

/// Runs a records subcommand.
pub fn run(args: RecordsArgs, config_flag: Option<&Path>) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        match args.command {
            RecordsCommand::Show(args) => show::run(args, config_flag).await,
            RecordsCommand::Add(args) => change::add(args, config_flag).await,
            RecordsCommand::Remove(args) => change::remove(args, config_flag).await,
            RecordsCommand::Wait(args) => wait::run(args, config_flag).await,
        }
    })
}

/// A failure with its exit status; printed by the caller.
pub(crate) struct Refusal {
    pub status: u8,
    pub message: String,
}

impl Refusal {
    pub fn bad_input(message: impl std::fmt::Display) -> Self {
        Self {
            status: exit::BAD_INPUT,
            message: message.to_string(),
        }
    }

    pub fn action_needed(message: impl std::fmt::Display) -> Self {
        Self {
            status: exit::ACTION_NEEDED,
            message: message.to_string(),
        }
    }

    pub fn failed(message: impl std::fmt::Display) -> Self {
        Self {
            status: exit::FAILED,
            message: message.to_string(),
        }
    }

    /// Prints the message and returns the exit status.
    pub fn exit(self) -> ExitCode {
        eprintln!("daneroll: {}", self.message);
        exit::code(self.status)
    }
}

/// Everything a records command needs: settings, the network, the resolver, the anchors.
pub(crate) struct Session {
    pub config: Config,
    pub transport: Arc<HickoryTransport>,
    pub resolver: SocketAddr,
    pub anchors: TrustAnchors,
    pub clock: SystemClock,
}

impl Session {
    /// Loads the configuration (required when `need_file`) and the DNSSEC settings.
    pub fn open(config_flag: Option<&Path>, need_file: bool) -> Result<Self, Refusal> {
        let (path, explicit) = Config::locate(config_flag);
        let config = if need_file {
            Config::load(&path)
        } else {
            Config::load_or_default(&path, explicit)
        }
        .map_err(Refusal::bad_input)?;
        let anchors = match &config.validation.trust_anchor_file {
            Some(file) => TrustAnchors::from_file(file).map_err(Refusal::bad_input)?,
            None => TrustAnchors::root(),
        };
        let resolver = match config.validation.resolver {
            Some(resolver) => resolver,
            None => std::fs::read_to_string("/etc/resolv.conf")
                .ok()
                .and_then(|text| resolver_from_resolv_conf(&text))
                .ok_or_else(|| {
                    Refusal::bad_input(
                        "no resolver: /etc/resolv.conf has no nameserver line; set [validation] resolver",
                    )
                })?,
        };
        Ok(Self {
            config,
            transport: Arc::new(HickoryTransport::new(QUERY_TIMEOUT, QUERY_ATTEMPTS)),
            resolver,
            anchors,
            clock: SystemClock,
        })
    }

    /// The configured host entry, if any.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.config.host(name)
    }

    /// A chain walker judging signatures now.
    pub fn walker(&self) -> ChainWalker<'_, HickoryTransport> {
        ChainWalker::new(
            &*self.transport,
            self.resolver,
            &self.anchors,
            self.clock.now(),
        )
    }
}

/// The resolved target: host, port, TLSA owner name, mail domains.
pub(crate) struct Resolved {
    pub host: String,
    pub port: u16,
    pub owner: Name,
    pub mail_domains: Vec<Name>,
}

impl Target {
    /// Validates the host name, picks the port and the mail domains.
    pub(crate) fn resolve(&self, session: &Session) -> Result<Resolved, Refusal> {
        let host = normalize_host(&self.host);
        let configured = session.host(&host);
        let port = self
            .port
            .or_else(|| configured.and_then(|h| h.ports.first().copied()))
            .unwrap_or(25);
        if port == 0 {
            return Err(Refusal::bad_input("--port must be between 1 and 65535"));
        }
        let owner = Name::from_ascii(tlsa_owner(&host, port))
            .ok()
            .filter(|_| host.contains('.'))
            .ok_or_else(|| Refusal::bad_input(format!("{:?} is not a host name", self.host)))?;
        let domains: Vec<String> = if self.mail_domains.is_empty() {
            configured
                .map(|h| h.mail_domains.clone())
                .unwrap_or_default()
        } else {
            self.mail_domains
                .iter()
                .map(|d| normalize_host(d))
                .collect()
        };
        let mut mail_domains = Vec::new();
        for domain in domains {
            let name = Name::from_ascii(format!("{domain}."))
                .map_err(|_| Refusal::bad_input(format!("{domain:?} is not a domain name")))?;
            mail_domains.push(name);
        }
        Ok(Resolved {
            host,
            port,
            owner,
            mail_domains,
        })
    }
}

/// Parses a TLSA record argument, refusing usages SMTP cannot use (RFC 7672 §3.1.3).
pub(crate) fn parse_record(text: &str) -> Result<Tlsa, Refusal> {
    let record: Tlsa = text.parse().map_err(Refusal::bad_input)?;
    if record.usage != 2 && record.usage != 3 {
        return Err(Refusal::bad_input(format!(
            "{}: certificate usage {} is not used by SMTP (RFC 7672 §3.1.3); use 3 (DANE-EE) or 2 (DANE-TA)",
            record.short(),
            record.usage
        )));
    }
    Ok(record)
}

/// Parses `90`, `90s`, `15m`, `2h`, `1d`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 90s, 15m, 2h, 1d)"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use s, m, h or d)"
            ));
        }
    };
    Ok(Duration::from_secs(number.saturating_mul(scale)))
}

/// Runs the preflight and discovery shared by show, wait, add and remove.
pub(crate) async fn survey(
    session: &Session,
    target: &Resolved,
) -> Result<(Preflight, Observer<HickoryTransport>), Refusal> {
    let mut walker = session.walker();
    let preflight = Preflight::run(
        &mut walker,
        &target.host,
        &target.owner,
        &target.mail_domains,
    )
    .await
    .map_err(Refusal::failed)?;
    let observer = Observer::discover(
        Arc::clone(&session.transport),
        &mut walker,
        session.resolver,
        target.owner.clone(),
    )
    .await
    .map_err(Refusal::failed)?;
    Ok((preflight, observer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86400));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5w").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn smtp_refuses_pkix_usages() {
        let hex = "8CB0FC6C527506A053F4F14C8464BEBBD6DEDE2738D11468DD953D7D6A3021F1";
        assert!(parse_record(&format!("3 1 1 {hex}")).is_ok());
        assert!(parse_record(&format!("2 1 1 {hex}")).is_ok());
        let refusal = parse_record(&format!("1 1 1 {hex}")).err().unwrap();
        assert!(refusal.message.contains("RFC 7672"), "{}", refusal.message);
        assert_eq!(refusal.status, exit::BAD_INPUT);
    }
}
