//! `daneroll records show HOST`: the preflight verdict, one row per authoritative address, the
//! resolver's view. Text for people, `--json` for scripts.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use daneroll_providers::Tlsa;
use serde::Serialize;

use super::{Resolved, Session, Target, survey};
use crate::dns::Transport;
use crate::dns::chain::ZoneStatus;
use crate::dns::clock::{Clock, stamp};
use crate::dns::observation::{Answer, Dnssec, Observation};
use crate::dns::observer::ResolverView;
use crate::dns::preflight::{Preflight, ZoneCheck};
use crate::exit;
use crate::output::write_line;

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub target: Target,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// What `records show` reports (also its JSON form).
#[derive(Debug, Serialize)]
pub struct Report {
    pub host: String,
    pub port: u16,
    pub owner: String,
    pub zone: String,
    pub preflight: Vec<ZoneReport>,
    pub notes: Vec<String>,
    pub servers: Vec<ServerReport>,
    pub resolver: ResolverReport,
    pub queries_sent: u64,
}

#[derive(Debug, Serialize)]
pub struct ZoneReport {
    pub role: String,
    pub zone: String,
    pub status: &'static str,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct ServerReport {
    pub ns: String,
    pub address: String,
    pub answered: bool,
    pub error: Option<String>,
    pub records: Vec<Tlsa>,
    pub ttl: Option<u32>,
    pub serial: Option<u32>,
    pub dnssec: &'static str,
    pub dnssec_detail: String,
    pub signature_expires: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ResolverReport {
    pub address: String,
    pub authenticated: bool,
    pub rcode: Option<String>,
    pub records: Vec<Tlsa>,
    pub ttl: Option<u32>,
    pub error: Option<String>,
}

fn zone_report(check: &ZoneCheck) -> ZoneReport {
    ZoneReport {
        role: check.role.clone(),
        zone: check.zone.to_string(),
        status: check.status.word(),
        detail: check.status.to_string(),
    }
}

pub(crate) fn server_report(obs: &Observation) -> ServerReport {
    let mut report = ServerReport {
        ns: obs.server.ns.clone(),
        address: obs.server.addr.to_string(),
        answered: false,
        error: None,
        records: Vec::new(),
        ttl: None,
        serial: obs.soa.map(|s| s.serial),
        dnssec: "none",
        dnssec_detail: String::new(),
        signature_expires: None,
    };
    match &obs.answer {
        Answer::NoAnswer(error) => report.error = Some(error.to_string()),
        Answer::NotAuthoritative { rcode } => {
            report.answered = true;
            report.error = Some(format!("not authoritative ({rcode})"));
        }
        Answer::Served(served) => {
            report.answered = true;
            report.records = served.records.clone();
            report.ttl = served.rrset_ttl;
            report.dnssec = match served.dnssec {
                Dnssec::Signed { .. } => "signed",
                Dnssec::ProvenAbsent { .. } => "absence-proven",
                Dnssec::ZoneNotSecure => "not-checked",
                Dnssec::Failed(_) => "bogus",
            };
            report.dnssec_detail = served.dnssec.to_string();
            report.signature_expires = served.dnssec.expires().map(stamp);
        }
    }
    report
}

pub(crate) fn resolver_report(view: &ResolverView) -> ResolverReport {
    match &view.outcome {
        Ok(answer) => ResolverReport {
            address: view.resolver.to_string(),
            authenticated: answer.authenticated,
            rcode: Some(answer.rcode.clone()),
            records: answer.records.clone(),
            ttl: answer.ttl,
            error: None,
        },
        Err(error) => ResolverReport {
            address: view.resolver.to_string(),
            authenticated: false,
            rcode: None,
            records: Vec::new(),
            ttl: None,
            error: Some(error.to_string()),
        },
    }
}

fn build(
    target: &Resolved,
    preflight: &Preflight,
    zone: String,
    observations: &[Observation],
    view: &ResolverView,
    queries_sent: u64,
) -> Report {
    let mut zones = vec![zone_report(&preflight.host)];
    zones.extend(preflight.mail_domains.iter().map(zone_report));
    Report {
        host: target.host.clone(),
        port: target.port,
        owner: target.owner.to_string(),
        zone,
        preflight: zones,
        notes: preflight
            .notes()
            .into_iter()
            .map(|n| n.trim().to_string())
            .collect(),
        servers: observations.iter().map(server_report).collect(),
        resolver: resolver_report(view),
        queries_sent,
    }
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// The text form: plain words first, then the table, then the full records.
pub fn render(report: &Report) -> Vec<String> {
    let mut lines = vec![format!(
        "TLSA {} (MX host {}, port {}) in zone {}",
        report.owner, report.host, report.port, report.zone
    )];
    lines.push("DNSSEC:".into());
    for zone in &report.preflight {
        lines.push(format!(
            "  {} (zone {}): {}",
            zone.role, zone.zone, zone.detail
        ));
    }
    for note in &report.notes {
        lines.push(format!("  {note}"));
    }
    lines.push(String::new());
    lines.push(format!(
        "{:<40} {:<22} {:>5} {:>10}  {:<28} {}",
        "AUTHORITATIVE SERVER", "RECORDS", "TTL", "SERIAL", "DNSSEC", "SIGNATURES EXPIRE"
    ));
    for server in &report.servers {
        let who = format!("{} ({})", server.ns.trim_end_matches('.'), server.address);
        let mut records: Vec<String> = server.records.iter().map(Tlsa::short).collect();
        if records.is_empty() {
            records.push(match (&server.error, server.answered) {
                (Some(error), _) => error.clone(),
                (None, true) => "(none)".into(),
                (None, false) => "(no answer)".into(),
            });
        }
        let dnssec = if server.dnssec_detail.is_empty() {
            "-".to_string()
        } else {
            server.dnssec_detail.clone()
        };
        lines.push(format!(
            "{:<40} {:<22} {:>5} {:>10}  {:<28} {}",
            who,
            records[0],
            opt(server.ttl),
            opt(server.serial),
            dnssec,
            server.signature_expires.as_deref().unwrap_or("-")
        ));
        for more in &records[1..] {
            lines.push(format!("{:<40} {}", "", more));
        }
    }
    let mut served: BTreeMap<&Tlsa, usize> = BTreeMap::new();
    for record in report.servers.iter().flat_map(|s| &s.records) {
        *served.entry(record).or_default() += 1;
    }
    if !served.is_empty() {
        lines.push(String::new());
        lines.push(format!(
            "Records ({} addresses asked):",
            report.servers.len()
        ));
        for (record, count) in served {
            lines.push(format!("  {record}   (served by {count})"));
        }
    }
    lines.push(String::new());
    let resolver = &report.resolver;
    match &resolver.error {
        Some(error) => lines.push(format!("Resolver {}: {error}", resolver.address)),
        None => {
            lines.push(format!(
                "Resolver {}: {} AD={} TTL {}",
                resolver.address,
                resolver.rcode.as_deref().unwrap_or("-"),
                if resolver.authenticated {
                    "yes (validated)"
                } else {
                    "no"
                },
                opt(resolver.ttl)
            ));
            for record in &resolver.records {
                lines.push(format!("  {record}"));
            }
        }
    }
    lines
}

/// Secure and every address answered with a validating answer.
fn all_good(report: &Report, preflight: &Preflight) -> bool {
    matches!(preflight.host.status, ZoneStatus::Secure(_))
        && report.servers.iter().all(|s| {
            s.answered && s.error.is_none() && matches!(s.dnssec, "signed" | "absence-proven")
        })
}

pub async fn run(args: ShowArgs, config_flag: Option<&Path>) -> anyhow::Result<ExitCode> {
    let session = match Session::open(config_flag, false) {
        Ok(session) => session,
        Err(refusal) => return Ok(refusal.exit()),
    };
    let target = match args.target.resolve(&session) {
        Ok(target) => target,
        Err(refusal) => return Ok(refusal.exit()),
    };
    let (preflight, observer) = match survey(&session, &target).await {
        Ok(found) => found,
        Err(refusal) => return Ok(refusal.exit()),
    };
    let (observations, view) = tokio::join!(
        observer.poll(&session.clock as &dyn Clock),
        observer.resolver_view()
    );
    let report = build(
        &target,
        &preflight,
        observer.zone().to_string(),
        &observations,
        &view,
        session.transport.queries_sent(),
    );
    let text = if args.json {
        vec![serde_json::to_string_pretty(&report)?]
    } else {
        render(&report)
    };
    for line in text {
        if !write_line(&line)? {
            break;
        }
    }
    Ok(exit::code(if all_good(&report, &preflight) {
        exit::OK
    } else {
        exit::ACTION_NEEDED
    }))
}
