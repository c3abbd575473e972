//! `daneroll check DOMAIN… [--host HOST…]`: what a DANE-enforcing sender sees, for every MX
//! host and every address, as a monitoring plugin.
//!
//! For each mail domain: the MX RRset through the validating resolver (RFC 7672 §2.2.1: DANE
//! applies only when the MX lookup is secure) and the zone's DNSSEC verdict. For each MX host:
//! the TLSA RRset at `_PORT._tcp.HOST` and its zone's verdict, the address records, then every
//! address probed concurrently and matched as RFC 7672 §3 says (`probe::assess`).
//!
//! For each mail domain also what MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) senders see
//! (`crate::sts`): the `_mta-sts` record and the policy fetched over HTTPS, whether it covers
//! every MX host, whether the certificates are WebPKI-valid in enforce mode, and the
//! `_smtp._tls` record. Those findings are at most WARNING unless `--require-sts`.
//!
//! Exit status follows the Nagios plugin convention, not daneroll's own table: 0 OK,
//! 1 WARNING, 2 CRITICAL, 3 UNKNOWN (bad input included); the first line of output is the
//! one-line summary with performance data, so the command drops into Icinga, Nagios or
//! Zabbix as is. (A command line clap cannot parse still exits 2, before this runs.)

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::Args;
use serde::Serialize;
use time::OffsetDateTime;

use super::engine::StateDirFlag;
use crate::cli::tlsa::check_host_name;
use crate::config::Config;
use crate::dns::net::HickoryTransport;
use crate::dns::observer::resolver_from_resolv_conf;
use crate::dns::trust_anchor::TrustAnchors;
use crate::output::write_stdout;
use crate::probe::assess::{Finding, HostFacts, HostReport, Status, assess};
use crate::probe::lookup::{Dns, Security, ZoneFacts, join_all};
use crate::probe::{ProbeReport, ProbeSettings, Prober, Target, Timeouts};
use crate::sts::fetch::Trust;
use crate::sts::{self, StsReport, TlsRptReport};

/// How many hosts are looked up at once (each host: 4 queries).
const LOOKUP_BATCH: usize = 32;

/// Arguments of `daneroll check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Mail domains whose MX hosts are checked (the MX lookup must validate for DANE to apply).
    #[arg(value_name = "DOMAIN", required_unless_present = "hosts")]
    domains: Vec<String>,

    /// Check these MX hosts directly, without an MX lookup. May be repeated.
    #[arg(long = "host", value_name = "HOST")]
    hosts: Vec<String>,

    /// The SMTP port (25; 465 is probed with implicit TLS).
    #[arg(long, default_value_t = 25)]
    port: u16,

    /// Warn when a certificate expires within this many days.
    #[arg(long, value_name = "DAYS", default_value_t = 14)]
    warn_days: u32,

    /// Print one JSON document instead of the summary and table.
    #[arg(long)]
    json: bool,

    /// The validating resolver (IP or IP:PORT); default: [validation] resolver in the config,
    /// else the first nameserver in /etc/resolv.conf.
    #[arg(long, value_name = "IP[:PORT]")]
    resolver: Option<String>,

    /// DS/DNSKEY trust anchors (zone-file lines) instead of the built-in root keys.
    #[arg(long, value_name = "FILE")]
    trust_anchor: Option<PathBuf>,

    /// Seconds allowed for each probe phase (connect, banner, each reply, handshake).
    #[arg(long, value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    timeout: u64,

    /// MTA-STS problems (no policy, a policy that fails to load, an MX host it does not cover,
    /// a certificate that is not WebPKI-valid in enforce mode) are CRITICAL, not WARNING.
    #[arg(long)]
    require_sts: bool,

    /// Trust only the CA certificates in this PEM file for the MTA-STS policy fetch and the
    /// WebPKI check, instead of the system's store.
    #[arg(long, value_name = "FILE")]
    webpki_roots: Option<PathBuf>,

    #[command(flatten)]
    state: StateDirFlag,
}

/// The validated settings.
struct Settings {
    domains: Vec<String>,
    hosts: Vec<String>,
    port: u16,
    warn_days: i64,
    json: bool,
    resolver: SocketAddr,
    anchors: TrustAnchors,
    timeout: Duration,
    require_sts: bool,
    /// The WebPKI roots, or why they could not be loaded (only needed with domains).
    trust: Result<Trust, String>,
    /// Where the MTA-STS policy seen under each id is remembered.
    sts_memory: PathBuf,
}

impl CheckArgs {
    /// `config`: the global `--config` (its [validation] section gives defaults).
    fn validate(&self, config: Option<&Path>) -> Result<Settings, String> {
        let (path, explicit) = Config::locate(config);
        let config = Config::load_or_default(&path, explicit).map_err(|e| e.to_string())?;
        let resolver = match &self.resolver {
            Some(text) => parse_resolver(text)?,
            None => match config.validation.resolver {
                Some(resolver) => resolver,
                None => {
                    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
                    resolver_from_resolv_conf(&text).ok_or(
                        "no resolver: give --resolver, or set [validation] resolver in the config",
                    )?
                }
            },
        };
        let anchor_file = self
            .trust_anchor
            .clone()
            .or(config.validation.trust_anchor_file.clone());
        let anchors = match anchor_file {
            Some(path) => TrustAnchors::from_file(&path).map_err(|e| e.to_string())?,
            None => TrustAnchors::root(),
        };
        let trust = match &self.webpki_roots {
            // A file named on the command line must load: bad input otherwise.
            Some(path) => Ok(Trust::from_file(path).map_err(|e| e.to_string())?),
            None if self.domains.is_empty() => Err("no mail domain to check".to_string()),
            None => Trust::system().map_err(|e| e.to_string()),
        };
        self.settings(config, resolver, anchors, trust)
    }

    fn settings(
        &self,
        config: Config,
        resolver: SocketAddr,
        anchors: TrustAnchors,
        trust: Result<Trust, String>,
    ) -> Result<Settings, String> {
        let names = |list: &[String]| -> Result<Vec<String>, String> {
            let mut out: Vec<String> = Vec::new();
            for name in list {
                let name = check_host_name(name)?;
                if !out.contains(&name) {
                    out.push(name);
                }
            }
            Ok(out)
        };
        let state_dir = self.state.state_dir.clone().unwrap_or(config.state_dir);
        Ok(Settings {
            require_sts: self.require_sts,
            trust,
            sts_memory: state_dir.join("mta-sts"),
            domains: names(&self.domains)?,
            hosts: names(&self.hosts)?,
            port: self.port,
            warn_days: i64::from(self.warn_days),
            json: self.json,
            resolver,
            anchors,
            timeout: Duration::from_secs(self.timeout),
        })
    }
}

fn parse_resolver(text: &str) -> Result<SocketAddr, String> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    text.parse::<SocketAddr>()
        .map_err(|_| format!("--resolver {text:?}: expected an IP address or IP:PORT"))
}

/// What `check` says about one mail domain.
#[derive(Debug, Serialize)]
struct DomainReport {
    domain: String,
    status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    zone: Option<ZoneFacts>,
    mx_validated: bool,
    mx_hosts: Vec<String>,
    /// MTA-STS (RFC 8461), when a `_mta-sts` record was looked up.
    #[serde(skip_serializing_if = "Option::is_none")]
    mta_sts: Option<StsReport>,
    /// TLS-RPT (RFC 8460).
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_rpt: Option<TlsRptReport>,
    findings: Vec<Finding>,
}

/// The whole run, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Report {
    status: Status,
    exit_code: u8,
    summary: String,
    domains: Vec<DomainReport>,
    hosts: Vec<HostReport>,
}

/// Runs `daneroll check`.
pub fn run(args: CheckArgs, config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let settings = match args.validate(config) {
        Ok(settings) => settings,
        Err(message) => {
            // Nagios: bad input is UNKNOWN.
            let line = format!("DANE UNKNOWN - daneroll check: {message}");
            write_stdout(&format!("{line}\n"))?;
            return Ok(ExitCode::from(Status::Unknown.exit_code()));
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(check(&settings))?;
    let text = if settings.json {
        format!("{}\n", serde_json::to_string_pretty(&report)?)
    } else {
        render(&report)
    };
    write_stdout(&text)?;
    Ok(ExitCode::from(report.exit_code))
}

async fn check(settings: &Settings) -> anyhow::Result<Report> {
    let transport = HickoryTransport::new(Duration::from_secs(2), 3);
    let now = SystemTime::now();
    let mut dns = Dns::new(&transport, settings.resolver, &settings.anchors, now);

    let mut domains = Vec::new();
    let mut hosts: Vec<String> = Vec::new();
    let mut gathered = Vec::new();
    for domain in &settings.domains {
        gathered
            .push(sts::gather(&dns, domain, settings.trust.as_ref().ok(), settings.timeout).await);
        let report = check_domain(&mut dns, domain).await;
        for host in &report.mx_hosts {
            if !hosts.contains(host) {
                hosts.push(host.clone());
            }
        }
        domains.push(report);
    }
    for host in &settings.hosts {
        if !hosts.contains(host) {
            hosts.push(host.clone());
        }
    }

    let port = settings.port;
    let owners: Vec<String> = hosts
        .iter()
        .map(|host| daneroll_providers::tlsa_owner(host, port))
        .collect();
    // Every host's lookups at once, a bounded number of hosts at a time (a burst of thousands
    // of UDP queries invites drops and 2-second retries).
    let mut answers = Vec::with_capacity(hosts.len());
    for (hosts, owners) in hosts.chunks(LOOKUP_BATCH).zip(owners.chunks(LOOKUP_BATCH)) {
        let lookups = hosts
            .iter()
            .zip(owners)
            .map(|(host, owner)| {
                let dns = &dns;
                async move {
                    tokio::join!(
                        dns.zone_name(owner),
                        dns.tlsa(host, port),
                        dns.addresses(host)
                    )
                }
            })
            .collect();
        answers.extend(join_all(lookups).await);
    }
    let mut facts = Vec::with_capacity(hosts.len());
    for (mut zone, mut tlsa, addresses) in answers {
        // RFC 7672 §2.2.2: an MX host that is a validated alias has its TLSA records looked
        // up at the CNAME-expanded name first; the original name is the fallback.
        let mut tlsa_base = None;
        if let Ok(answer) = &addresses
            && answer.authenticated
            && let Some(expanded) = &answer.canonical
        {
            let owner = daneroll_providers::tlsa_owner(expanded, port);
            let (expanded_zone, expanded_tlsa) =
                tokio::join!(dns.zone_name(&owner), dns.tlsa(expanded, port));
            if let Ok(found) = expanded_tlsa
                && found.authenticated
                && !found.records.is_empty()
            {
                tlsa = Ok(found);
                zone = expanded_zone;
                tlsa_base = Some(expanded.clone());
            }
        }
        let zone = match zone {
            Ok(zone) => dns.security(&zone).await,
            Err(error) => Err(error),
        };
        facts.push((zone, tlsa, addresses, tlsa_base));
    }
    let mut targets = Vec::new();
    for (host, (_, _, addresses, tlsa_base)) in hosts.iter().zip(&facts) {
        if let Ok(answer) = addresses
            && !answer.is_servfail()
        {
            for ip in &answer.records {
                let target = Target::new(host, SocketAddr::new(*ip, port));
                targets.push(match tlsa_base {
                    Some(base) => target.with_sni(base),
                    None => target,
                });
            }
        }
    }
    let prober = Prober::new(ProbeSettings {
        timeouts: Timeouts::uniform(settings.timeout),
        ..ProbeSettings::default()
    })?;
    let probes = prober.probe_all(targets).await;

    let now = OffsetDateTime::now_utc();
    let reports: Vec<HostReport> = hosts
        .iter()
        .zip(&facts)
        .map(|(host, (zone, tlsa, addresses, tlsa_base))| {
            assess(&HostFacts {
                host,
                tlsa_base: tlsa_base.as_deref(),
                port,
                zone,
                tlsa,
                addresses,
                probes: probes
                    .iter()
                    .filter(|p| p.target.host == *host)
                    .map(|p| (&p.target, &p.outcome))
                    .collect(),
                now,
                warn_days: settings.warn_days,
            })
        })
        .collect();
    for (domain, gathered) in domains.iter_mut().zip(gathered) {
        review_sts(settings, domain, gathered, &reports, &probes);
    }
    Ok(finish(domains, reports))
}

/// Adds the MTA-STS and TLS-RPT findings to `domain`'s report.
fn review_sts(
    settings: &Settings,
    domain: &mut DomainReport,
    gathered: sts::Gathered,
    hosts: &[HostReport],
    probes: &[ProbeReport],
) {
    let mine = |host: &str| domain.mx_hosts.iter().any(|h| h == host);
    let cx = sts::Context {
        domain: &domain.domain,
        mx_hosts: &domain.mx_hosts,
        dane: domain.mx_validated && hosts.iter().any(|h| mine(&h.host) && h.dane),
        chains: probes
            .iter()
            .filter(|p| mine(&p.target.host))
            .filter_map(|p| {
                let presented = p.outcome.as_ref().ok()?;
                Some((p.target.host.as_str(), presented.chain.as_slice()))
            })
            .collect(),
        trust: settings.trust.as_ref().map_err(String::as_str),
        memory: Some(&settings.sts_memory),
        require: settings.require_sts,
    };
    let (mta_sts, tls_rpt, findings) = sts::review(gathered, &cx);
    domain.findings.extend(findings);
    domain.findings.sort_by_key(|f| std::cmp::Reverse(f.status));
    domain.status = domain.status.max(
        domain
            .findings
            .iter()
            .map(|f| f.status)
            .max()
            .unwrap_or(Status::Ok),
    );
    domain.mta_sts = mta_sts.record.is_some().then_some(mta_sts);
    domain.tls_rpt = tls_rpt.record.is_some().then_some(tls_rpt);
}

async fn check_domain(dns: &mut Dns<'_, HickoryTransport>, domain: &str) -> DomainReport {
    let mut findings = Vec::new();
    let mut add = |status, message: String| findings.push(Finding { status, message });
    let zone = match dns.zone_of(domain).await {
        Ok(zone) => Some(zone),
        Err(error) => {
            add(
                Status::Unknown,
                format!("{domain}: cannot check its zone: {error}"),
            );
            None
        }
    };
    let mut mx_hosts = Vec::new();
    let mut validated = false;
    match dns.mx(domain).await {
        Err(error) => add(
            Status::Unknown,
            format!("{domain}: MX lookup failed: {error}"),
        ),
        Ok(answer) if answer.is_servfail() => add(
            Status::Critical,
            format!(
                "{domain}: the resolver answers SERVFAIL for its MX records (bogus?): validating senders defer mail"
            ),
        ),
        Ok(answer) if answer.is_nxdomain() => {
            add(
                Status::Critical,
                format!("{domain}: the domain does not exist (NXDOMAIN)"),
            );
        }
        Ok(answer) => {
            validated = answer.authenticated;
            if answer.records.len() == 1 && answer.records[0].host.is_empty() {
                add(
                    Status::Ok,
                    format!("{domain}: null MX (RFC 7505): it accepts no mail"),
                );
            } else if answer.records.is_empty() {
                // RFC 5321 §5.1: no MX means the domain itself is the mail host.
                mx_hosts.push(domain.to_string());
            } else {
                mx_hosts.extend(answer.records.into_iter().map(|mx| mx.host));
            }
            if !validated {
                let why = match &zone {
                    Some(ZoneFacts {
                        zone,
                        security: Security::Insecure(why) | Security::Bogus(why),
                    }) => format!(" (zone {zone}: {why})"),
                    _ => String::new(),
                };
                add(
                    Status::Warning,
                    format!(
                        "{domain}: the MX lookup is not validated: senders do not use DANE for this domain (RFC 7672 §2.2.1){why}"
                    ),
                );
            }
        }
    }
    findings.sort_by_key(|f| std::cmp::Reverse(f.status));
    let status = findings
        .iter()
        .map(|f| f.status)
        .max()
        .unwrap_or(Status::Ok);
    DomainReport {
        domain: domain.to_string(),
        status,
        zone,
        mx_validated: validated,
        mx_hosts,
        mta_sts: None,
        tls_rpt: None,
        findings,
    }
}

fn finish(domains: Vec<DomainReport>, hosts: Vec<HostReport>) -> Report {
    let status = domains
        .iter()
        .map(|d| d.status)
        .chain(hosts.iter().map(|h| h.status))
        .max()
        .unwrap_or(Status::Ok);
    let problems: Vec<&Finding> = {
        let mut all: Vec<&Finding> = domains
            .iter()
            .flat_map(|d| &d.findings)
            .chain(hosts.iter().flat_map(|h| &h.findings))
            .filter(|f| f.status > Status::Ok)
            .collect();
        all.sort_by_key(|f| std::cmp::Reverse(f.status));
        all
    };
    let address_count: usize = hosts.iter().map(|h| h.addresses.len()).sum();
    let failing = hosts
        .iter()
        .flat_map(|h| &h.addresses)
        .filter(|a| a.status == Status::Critical)
        .count();
    let text = if problems.is_empty() {
        format!(
            "{} host(s), {address_count} address(es): every address presents a matching certificate",
            hosts.len()
        )
    } else {
        let mut text: Vec<String> = problems.iter().take(3).map(|f| f.message.clone()).collect();
        if problems.len() > 3 {
            text.push(format!("and {} more", problems.len() - 3));
        }
        text.join("; ")
    };
    let min_days = hosts
        .iter()
        .flat_map(|h| &h.addresses)
        .filter_map(|a| a.leaf.as_ref().map(|l| l.days_left))
        .min();
    let mut perf = format!(
        "hosts={} addresses={address_count} failing={failing}",
        hosts.len()
    );
    if let Some(days) = min_days {
        // invariant: writing to a String cannot fail.
        write!(perf, " days_left={days}").expect("write to String");
    }
    Report {
        status,
        exit_code: status.exit_code(),
        summary: format!("DANE {status} - {text} | {perf}"),
        domains,
        hosts,
    }
}

/// The summary line, then a compact table and the findings.
fn render(report: &Report) -> String {
    let mut out = format!("{}\n", report.summary);
    let mut rows = vec![[
        "HOST".to_string(),
        "ADDRESS".into(),
        "RESULT".into(),
        "MATCH".into(),
        "TLS".into(),
        "EXPIRES".into(),
    ]];
    for host in &report.hosts {
        if host.addresses.is_empty() {
            rows.push([
                host.host.clone(),
                "-".into(),
                host.status.to_string(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
        }
        for address in &host.addresses {
            let matched = match &address.matched {
                Some(m) => format!("{} depth {}", m.record.short(), m.depth),
                None => "-".into(),
            };
            let expires = match &address.leaf {
                Some(leaf) => format!(
                    "{} ({}d)",
                    &leaf.not_after[..leaf.not_after.len().min(10)],
                    leaf.days_left
                ),
                None => "-".into(),
            };
            rows.push([
                host.host.clone(),
                address.address.to_string(),
                format!("{} {}", address.status, address.result),
                matched,
                address.tls_version.clone().unwrap_or_else(|| "-".into()),
                expires,
            ]);
        }
    }
    let mut widths = [0usize; 6];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                // invariant: writing to a String cannot fail.
                write!(line, "{cell:<width$}  ").expect("write to String");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let findings = report
        .domains
        .iter()
        .flat_map(|d| &d.findings)
        .chain(report.hosts.iter().flat_map(|h| &h.findings));
    for finding in findings {
        // invariant: writing to a String cannot fail.
        writeln!(out, "{} {}", finding.status, finding.message).expect("write to String");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolver_forms() {
        assert_eq!(
            parse_resolver("127.0.0.53").unwrap(),
            "127.0.0.53:53".parse().unwrap()
        );
        assert_eq!(
            parse_resolver("127.0.0.1:5353").unwrap(),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(parse_resolver("::1").unwrap(), "[::1]:53".parse().unwrap());
        assert!(parse_resolver("resolver.example").is_err());
    }

    #[test]
    fn summary_is_ok_only_without_problems() {
        let report = finish(Vec::new(), Vec::new());
        assert_eq!(report.status, Status::Ok);
        assert_eq!(
            report.summary,
            "DANE OK - 0 host(s), 0 address(es): every address presents a matching certificate | hosts=0 addresses=0 failing=0"
        );
        let domain = DomainReport {
            domain: "example.com".into(),
            status: Status::Critical,
            zone: None,
            mx_validated: false,
            mx_hosts: Vec::new(),
            mta_sts: None,
            tls_rpt: None,
            findings: vec![Finding {
                status: Status::Critical,
                message: "example.com: the domain does not exist (NXDOMAIN)".into(),
            }],
        };
        let report = finish(vec![domain], Vec::new());
        assert_eq!(report.exit_code, 2);
        assert!(
            report
                .summary
                .starts_with("DANE CRITICAL - example.com: the domain does not exist")
        );
        assert!(render(&report).contains("\nCRITICAL example.com: the domain"));
    }
}
