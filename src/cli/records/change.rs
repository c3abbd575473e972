//! `daneroll records add|remove HOST RECORD`: one record, through the host's DNS backend.
//!
//! Both change exactly one record and never the rest of the RRset. `add` refuses a zone that
//! is not secure (a TLSA record there protects nothing, RFC 7672 §2.2). `remove` reads the
//! RRset first, refuses to leave it empty unless told, and removes with a prerequisite (RFC 2136
//! §2.4.2) so a concurrent change makes it fail instead of clobbering. With `--wait`, both then
//! wait until the change is safe, knowing exactly what resolvers may have cached before it.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use daneroll_providers::{DnsBackend as Backend, Outcome, Tlsa, TlsaRrset};

use super::wait::wait_and_report;
use super::{Refusal, Resolved, Session, Target, parse_duration, parse_record, survey};
use crate::dns::clock::Clock;
use crate::dns::observation::Expected;
use crate::dns::safe_time::{TtlBound, TtlKind};
use crate::dns::wait::WaitSettings;
use crate::exit;
use crate::output::write_line;

/// Options shared by add and remove.
#[derive(Debug, Args)]
pub struct ChangeOptions {
    /// Then wait until the change is served everywhere and caches may have expired.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this long (90s, 15m, 2h).
    #[arg(long, value_parser = parse_duration, requires = "wait")]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    #[command(flatten)]
    pub target: Target,
    /// The record, e.g. "3 1 1 0A1B…".
    pub record: String,
    /// TTL for a new RRset (an existing RRset keeps its TTL) [default: the host's configured
    /// `ttl`, else 3600].
    #[arg(long)]
    pub ttl: Option<u32>,
    #[command(flatten)]
    pub options: ChangeOptions,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    pub target: Target,
    /// The record, e.g. "3 1 1 0A1B…".
    pub record: String,
    /// Allow leaving no usable record at the name: none at all, or only usage 0/1 records,
    /// which SMTP ignores (RFC 7672 §3.1.3). DANE for the host then stops.
    #[arg(long)]
    pub allow_empty: bool,
    /// Remove even the engine's current or next key, even if an address of the host presents
    /// a certificate that only this record matches or cannot be probed (by default the host's
    /// lock is taken, the engine's state read, every address probed, and the removal refused
    /// then).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub options: ChangeOptions,
}

struct Prepared {
    session: Session,
    target: Resolved,
    record: Tlsa,
    backend: Box<dyn Backend>,
    owner: String,
}

/// The backend a host's `dns = "NAME"` names.
fn backend_for(session: &Session, host: &str) -> Result<Box<dyn Backend>, Refusal> {
    let path = session.config.path.display().to_string();
    let entry = session.host(host).ok_or_else(|| {
        Refusal::bad_input(format!(
            "host {host} is not in {path}; add a [[host]] with name = \"{host}\" and dns = \"…\""
        ))
    })?;
    // invariant: Config validation checked that every host's backend exists.
    let backend = session
        .config
        .dns
        .get(&entry.dns)
        .expect("validated backend");
    crate::backend::build(&entry.dns, backend, session.resolver).map_err(Refusal::bad_input)
}

fn prepare(config_flag: Option<&Path>, target: &Target, record: &str) -> Result<Prepared, Refusal> {
    let session = Session::open(config_flag, true)?;
    let target = target.resolve(&session)?;
    let record = parse_record(record)?;
    let backend = backend_for(&session, &target.host)?;
    let owner = target.owner.to_string();
    Ok(Prepared {
        session,
        target,
        record,
        backend,
        owner,
    })
}

fn say(line: &str) -> anyhow::Result<()> {
    write_line(line)?;
    Ok(())
}

pub async fn add(args: AddArgs, config_flag: Option<&Path>) -> anyhow::Result<ExitCode> {
    let p = match prepare(config_flag, &args.target, &args.record) {
        Ok(p) => p,
        Err(refusal) => return Ok(refusal.exit()),
    };
    let (preflight, observer) = match survey(&p.session, &p.target).await {
        Ok(found) => found,
        Err(refusal) => return Ok(refusal.exit()),
    };
    if let Err(refusal) = preflight.require_secure() {
        let fix = format!(
            "DNSSEC at {}: {}",
            p.backend.describe(),
            p.backend.dnssec().how
        );
        return Ok(Refusal::action_needed(format!("{refusal}; {fix}")).exit());
    }
    let before = match p.backend.read(&p.owner).await {
        Ok(rrset) => rrset,
        Err(error) => return Ok(Refusal::failed(error).exit()),
    };
    // What resolvers may hold now: the RRset as it is, or (none yet) the negative answer, as
    // validated answers show it before the change.
    let mut old = old_answer(&before);
    for observation in observer.poll(&p.session.clock as &dyn Clock).await {
        if let Some(evidence) = observation.ttl_evidence() {
            TtlBound::raise_from(&mut old, &observation.server.to_string(), evidence);
        }
    }
    let ttl = args
        .ttl
        .or_else(|| p.session.host(&p.target.host).map(|h| h.ttl))
        .unwrap_or(crate::config::DEFAULT_TTL);
    match p.backend.add(&p.owner, &p.record, ttl).await {
        Ok(Outcome::Changed) => say(&format!(
            "added {} at {} via {}",
            p.record,
            p.owner,
            p.backend.describe()
        ))?,
        Ok(Outcome::Unchanged) => say(&format!(
            "{} is already published at {}; nothing changed",
            p.record, p.owner
        ))?,
        Err(error) => return Ok(Refusal::failed(error).exit()),
    }
    let expected = Expected {
        record: p.record.clone(),
        present: true,
    };
    finish(&p, &observer, expected, old, &args.options).await
}

pub async fn remove(args: RemoveArgs, config_flag: Option<&Path>) -> anyhow::Result<ExitCode> {
    let p = match prepare(config_flag, &args.target, &args.record) {
        Ok(p) => p,
        Err(refusal) => return Ok(refusal.exit()),
    };
    let before = match p.backend.read(&p.owner).await {
        Ok(rrset) => rrset,
        Err(error) => return Ok(Refusal::failed(error).exit()),
    };
    if !before.contains(&p.record) {
        say(&format!(
            "{} is not published at {}; nothing changed",
            p.record, p.owner
        ))?;
        return Ok(exit::code(exit::OK));
    }
    let remaining: Vec<Tlsa> = before
        .records()
        .iter()
        .filter(|r| **r != p.record)
        .cloned()
        .collect();
    // SMTP uses only DANE-TA and DANE-EE (RFC 7672 §3.1.3): usage 0/1 records protect nothing.
    if !remaining.iter().any(|r| matches!(r.usage, 2 | 3)) && !args.allow_empty {
        let what = if remaining.is_empty() {
            "the only TLSA record".to_string()
        } else {
            "the last usage 2 or 3 record (SMTP ignores the usage 0/1 records left, RFC 7672 \
             §3.1.3)"
                .to_string()
        };
        return Ok(Refusal::bad_input(format!(
            "{} is {what} at {}; removing it ends DANE for {} (senders fall back to \
             unauthenticated TLS). Publish its successor first, or pass --allow-empty",
            p.record, p.owner, p.target.host
        ))
        .exit());
    }
    // Held until the record is removed: no tick or hook moves the host meanwhile.
    let lock = match super::held::lock_and_check(&p.session, &p.target.host, &p.record, args.force)
    {
        Ok(lock) => lock,
        Err(refusal) => return Ok(refusal.exit()),
    };
    if !args.force {
        match super::presents::check_removal(&p.session, &p.target, &p.record, &remaining).await {
            Ok(warnings) => {
                for warning in warnings {
                    eprintln!("daneroll: warning: {warning}");
                }
            }
            Err(refusal) => return Ok(refusal.exit()),
        }
    }
    match p
        .backend
        .remove_if_unchanged(&p.owner, &p.record, &before)
        .await
    {
        Ok(Outcome::Changed) => say(&format!(
            "removed {} from {} via {}",
            p.record,
            p.owner,
            p.backend.describe()
        ))?,
        Ok(Outcome::Unchanged) => say(&format!(
            "{} was already gone from {}; nothing changed",
            p.record, p.owner
        ))?,
        Err(error) => return Ok(Refusal::failed(error).exit()),
    }
    drop(lock);
    if !args.options.wait {
        return Ok(exit::code(exit::OK));
    }
    let (preflight, observer) = match survey(&p.session, &p.target).await {
        Ok(found) => found,
        Err(refusal) => return Ok(refusal.exit()),
    };
    if let Err(refusal) = preflight.require_secure() {
        let fix = format!(
            "DNSSEC at {}: {}",
            p.backend.describe(),
            p.backend.dnssec().how
        );
        return Ok(Refusal::action_needed(format!("{refusal}; {fix}")).exit());
    }
    let expected = Expected {
        record: p.record.clone(),
        present: false,
    };
    finish(&p, &observer, expected, old_answer(&before), &args.options).await
}

/// The old RRset's TTL as the backend read it before the change.
fn old_answer(before: &TlsaRrset) -> Option<TtlBound> {
    before
        .ttl()
        .filter(|_| !before.is_empty())
        .map(|ttl| TtlBound::new(ttl, TtlKind::Declared, None))
}

async fn finish(
    p: &Prepared,
    observer: &crate::dns::observer::Observer<crate::dns::net::HickoryTransport>,
    expected: Expected,
    old: Option<TtlBound>,
    options: &ChangeOptions,
) -> anyhow::Result<ExitCode> {
    if !options.wait {
        say(&format!(
            "next: daneroll records wait {} \"{}\"{} (until every server serves it and caches expire)",
            p.target.host,
            p.record,
            if expected.present { "" } else { " --absent" }
        ))?;
        return Ok(exit::code(exit::OK));
    }
    let settings = WaitSettings {
        safety_factor: p.session.config.policy.safety_factor,
        timeout: options.timeout,
        known: old,
        ..WaitSettings::default()
    };
    wait_and_report(&p.session, observer, &expected, &settings).await
}
