//! The verdict `check` gives one MX host, without I/O: from what DNS said and what each address
//! presented, what a DANE sender does and what the operator should fix before it bites.
//!
//! Severity follows the Nagios plugin convention (OK, WARNING, CRITICAL, UNKNOWN). CRITICAL
//! means validating senders defer mail now (RFC 7672 §2.2: bogus DNS, or a secure usable TLSA
//! RRset that the presented chain does not match, or no TLS). WARNING means mail flows but the
//! next change may break it, or DANE is not in effect: no next key published (RFC 7671 §8.1),
//! stale records, a single DANE-TA intermediate when the CA rotates among several, a
//! certificate near expiry, TLSA records that senders ignore (insecure zone or insecure address
//! records). UNKNOWN: a fact could not be obtained (the resolver did not answer).
//!
//! Stale records: the steady state is "current + next" (RFC 7671 §8.1), so one DANE-EE record
//! that matches no address is taken to be the published next key; two or more are reported.
//! DANE-TA records that match nothing are expected (backup intermediates) and never stale.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use daneroll_providers::Tlsa;
use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::dane::{DaneReport, DaneUsage, RecordVerdict, authenticate};
use super::lookup::{Answer, LookupError, Security, ZoneFacts};
use super::starttls::{Presented, ProbeError, Target};

/// Nagios plugin states, worst last in this declaration's order of severity:
/// OK < WARNING < UNKNOWN < CRITICAL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// Everything matches.
    Ok,
    /// Mail flows; something needs attention.
    Warning,
    /// A fact could not be obtained.
    Unknown,
    /// Validating senders defer mail.
    Critical,
}

impl Status {
    /// The plugin exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        })
    }
}

/// One thing found, with its severity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How bad.
    pub status: Status,
    /// What, in the operator's words, naming the host, address or record.
    pub message: String,
}

/// The leaf certificate as shown in reports.
#[derive(Clone, Debug, Serialize)]
pub struct Leaf {
    /// Subject DN.
    pub subject: String,
    /// End of validity (RFC 3339).
    pub not_after: String,
    /// Whole days left (negative: expired).
    pub days_left: i64,
}

/// What one address presented and what it means.
#[derive(Clone, Debug, Serialize)]
pub struct AddressReport {
    /// Address and port.
    pub address: SocketAddr,
    /// Its verdict.
    pub status: Status,
    /// "match", "no-match", "tls" (no DANE to check), "probe-failed".
    pub result: &'static str,
    /// The record that matched and at which chain depth.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<MatchReport>,
    /// Why nothing matched, or why the probe failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// "TLSv1.3" etc.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<String>,
    /// The presented leaf.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaf: Option<Leaf>,
}

/// A matching record in reports.
#[derive(Clone, Debug, Serialize)]
pub struct MatchReport {
    /// The record.
    pub record: Tlsa,
    /// DANE-EE or DANE-TA.
    pub usage: DaneUsage,
    /// Chain position of the matched certificate (0 = leaf).
    pub depth: usize,
}

/// Everything `check` says about one MX host.
#[derive(Clone, Debug, Serialize)]
pub struct HostReport {
    /// The MX host.
    pub host: String,
    /// The port checked.
    pub port: u16,
    /// The worst status of its findings and addresses.
    pub status: Status,
    /// Zone of the TLSA owner and its verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<ZoneFacts>,
    /// The TLSA RRset the resolver returned.
    pub tlsa: Vec<Tlsa>,
    /// The CNAME-expanded name whose TLSA RRset was used, when not the MX host's own
    /// (RFC 7672 §2.2.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tlsa_base: Option<String>,
    /// Whether a DANE sender authenticates this host (secure, usable TLSA RRset).
    pub dane: bool,
    /// Per address.
    pub addresses: Vec<AddressReport>,
    /// Everything found, worst first.
    pub findings: Vec<Finding>,
}

/// What `check` gathered for one host.
pub struct HostFacts<'a> {
    /// The MX host.
    pub host: &'a str,
    /// The CNAME-expanded MX host when its TLSA RRset was the one used (RFC 7672 §2.2.2); it
    /// is then a reference identifier beside the MX host (§3.2.2).
    pub tlsa_base: Option<&'a str>,
    /// The port.
    pub port: u16,
    /// The zone of the TLSA owner.
    pub zone: &'a Result<ZoneFacts, LookupError>,
    /// The TLSA RRset.
    pub tlsa: &'a Result<Answer<Tlsa>, LookupError>,
    /// The address records.
    pub addresses: &'a Result<Answer<IpAddr>, LookupError>,
    /// The probe of each address.
    pub probes: Vec<(&'a Target, &'a Result<Presented, ProbeError>)>,
    /// The time to judge expiry and DANE-TA validity at.
    pub now: OffsetDateTime,
    /// Warn when the leaf expires within this many days.
    pub warn_days: i64,
}

/// Judges one host.
pub fn assess(facts: &HostFacts<'_>) -> HostReport {
    let mut findings = Vec::new();
    let mut add = |status, message: String| findings.push(Finding { status, message });
    let host = facts.host;
    let owner = daneroll_providers::tlsa_owner(facts.tlsa_base.unwrap_or(host), facts.port);

    let zone = match facts.zone {
        Ok(zone) => Some(zone.clone()),
        Err(error) => {
            add(
                Status::Unknown,
                format!("{host}: cannot check the zone of {owner}: {error}"),
            );
            None
        }
    };
    let (records, tlsa_secure) = match facts.tlsa {
        Err(error) => {
            add(
                Status::Unknown,
                format!("{host}: TLSA lookup failed: {error}"),
            );
            (Vec::new(), false)
        }
        Ok(answer) if answer.is_servfail() => {
            add(
                Status::Critical,
                format!(
                    "{host}: the resolver answers SERVFAIL for {owner} TLSA (bogus?): validating senders defer mail{}",
                    zone_detail(zone.as_ref())
                ),
            );
            (Vec::new(), false)
        }
        Ok(answer) => (answer.records.clone(), answer.authenticated),
    };
    if let Some(ZoneFacts {
        zone,
        security: Security::Bogus(why),
    }) = &zone
    {
        add(
            Status::Critical,
            format!("{host}: zone {zone} is bogus: {why}"),
        );
    }
    let usable: Vec<&Tlsa> = records
        .iter()
        .filter(|r| matches!(r.usage, 2 | 3) && matches!(r.selector, 0 | 1) && r.mtype <= 2)
        .collect();
    let (address_list, addresses_secure) = match facts.addresses {
        Err(error) => {
            add(
                Status::Unknown,
                format!("{host}: address lookup failed: {error}"),
            );
            (Vec::new(), false)
        }
        Ok(answer) if answer.is_servfail() => {
            add(
                Status::Critical,
                format!("{host}: the resolver answers SERVFAIL for its address records"),
            );
            (Vec::new(), false)
        }
        Ok(answer) => (answer.records.clone(), answer.authenticated),
    };
    if facts.addresses.is_ok() && address_list.is_empty() && facts.probes.is_empty() {
        add(
            Status::Critical,
            format!("{host}: no IPv4 or IPv6 address: mail cannot be delivered there"),
        );
    }

    if facts.tlsa.is_ok() && !records.is_empty() && !tlsa_secure {
        add(
            Status::Warning,
            format!(
                "{host}: TLSA records at {owner} are not validated by the resolver: senders ignore them{}",
                zone_detail(zone.as_ref())
            ),
        );
    } else if matches!(facts.tlsa, Ok(a) if !a.is_servfail()) && records.is_empty() {
        add(
            Status::Warning,
            format!("{host}: no TLSA records at {owner}: DANE is not in use"),
        );
    } else if tlsa_secure && usable.is_empty() {
        add(
            Status::Warning,
            format!(
                "{host}: no usable TLSA records (SMTP uses only usages 2 and 3, RFC 7672 §3.1.3)"
            ),
        );
    }
    if tlsa_secure && !usable.is_empty() && facts.addresses.is_ok() && !addresses_secure {
        add(
            Status::Warning,
            format!(
                "{host}: its address records are not validated: senders skip its TLSA records (RFC 7672 §2.2.2)"
            ),
        );
    }
    let dane = tlsa_secure && !usable.is_empty() && addresses_secure;
    let usable_owned: Vec<Tlsa> = usable.iter().map(|r| (*r).clone()).collect();

    let mut matched_records: BTreeSet<Tlsa> = BTreeSet::new();
    let mut superseded: BTreeSet<Tlsa> = BTreeSet::new();
    let mut addresses = Vec::new();
    for (target, outcome) in &facts.probes {
        let report = address_report(facts, target, outcome, &usable_owned, dane);
        if let Some(dane_report) = &report.1 {
            for o in &dane_report.outcomes {
                match o.verdict {
                    RecordVerdict::Matched { .. } => {
                        matched_records.insert(o.record.clone());
                    }
                    RecordVerdict::Superseded { .. } => {
                        superseded.insert(o.record.clone());
                    }
                    _ => {}
                }
            }
        }
        let report = report.0;
        if let Some(leaf) = &report.leaf {
            expiry_findings(&mut add, target, leaf, facts.warn_days);
        }
        if report.status > Status::Ok {
            let what = report.reason.clone().unwrap_or_default();
            add(report.status, format!("{target}: {what}"));
        }
        addresses.push(report);
    }

    if dane && addresses.iter().any(|a| a.result == "match") {
        operational_warnings(&mut add, host, &usable, &matched_records, &superseded);
    }
    let unusable = records.len() - usable.len();
    if tlsa_secure && unusable > 0 {
        add(
            Status::Warning,
            format!(
                "{host}: {unusable} TLSA record(s) with usage 0/1 or unknown parameters are ignored by SMTP senders"
            ),
        );
    }

    findings.sort_by_key(|f| std::cmp::Reverse(f.status));
    let status = findings
        .iter()
        .map(|f| f.status)
        .max()
        .unwrap_or(Status::Ok);
    HostReport {
        host: host.to_string(),
        port: facts.port,
        status,
        zone,
        tlsa: records,
        tlsa_base: facts.tlsa_base.map(str::to_string),
        dane,
        addresses,
        findings,
    }
}

fn zone_detail(zone: Option<&ZoneFacts>) -> String {
    match zone {
        Some(ZoneFacts {
            zone,
            security: Security::Insecure(why) | Security::Bogus(why),
        }) => format!(" (zone {zone}: {why})"),
        _ => String::new(),
    }
}

fn address_report(
    facts: &HostFacts<'_>,
    target: &Target,
    outcome: &Result<Presented, ProbeError>,
    usable: &[Tlsa],
    dane: bool,
) -> (AddressReport, Option<DaneReport>) {
    let mut report = AddressReport {
        address: target.address,
        status: Status::Ok,
        result: "tls",
        matched: None,
        reason: None,
        tls_version: None,
        leaf: None,
    };
    let presented = match outcome {
        Err(error) => {
            // Without DANE a sender falls back to plaintext or tries another address; with
            // DANE it defers (RFC 7672 §2.2).
            report.status = if dane {
                Status::Critical
            } else {
                Status::Warning
            };
            report.result = "probe-failed";
            report.reason = Some(error.to_string());
            return (report, None);
        }
        Ok(presented) => presented,
    };
    report.tls_version = Some(presented.tls_version.clone());
    report.leaf = leaf(presented, facts.now);
    if usable.is_empty() {
        return (report, None);
    }
    // RFC 7672 §3.2.2: the MX host, and the TLSA base domain when CNAME expansion gave it.
    let mut names = vec![target.host.as_str()];
    names.extend(facts.tlsa_base);
    let dane_report = authenticate(&presented.chain, usable, &names, facts.now);
    match dane_report.matched() {
        Some(m) => {
            report.result = "match";
            report.matched = Some(MatchReport {
                record: m.record,
                usage: m.usage,
                depth: m.depth,
            });
        }
        None => {
            report.result = "no-match";
            report.status = if dane {
                Status::Critical
            } else {
                Status::Warning
            };
            report.reason = Some(dane_report.summary());
        }
    }
    (report, Some(dane_report))
}

fn leaf(presented: &Presented, now: OffsetDateTime) -> Option<Leaf> {
    let der = presented.chain.first()?;
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let not_after = cert.validity().not_after.to_datetime();
    let format = time::format_description::well_known::Rfc3339;
    Some(Leaf {
        subject: cert.subject().to_string(),
        not_after: not_after.format(&format).unwrap_or_default(),
        days_left: (not_after - now).whole_days(),
    })
}

fn expiry_findings(
    add: &mut impl FnMut(Status, String),
    target: &Target,
    leaf: &Leaf,
    warn_days: i64,
) {
    if leaf.days_left < 0 {
        add(
            Status::Warning,
            format!(
                "{target}: the certificate expired {} day(s) ago ({}); DANE-EE senders still accept it",
                -leaf.days_left, leaf.not_after
            ),
        );
    } else if leaf.days_left < warn_days {
        add(
            Status::Warning,
            format!(
                "{target}: the certificate expires in {} day(s) ({})",
                leaf.days_left, leaf.not_after
            ),
        );
    }
}

fn operational_warnings(
    add: &mut impl FnMut(Status, String),
    host: &str,
    usable: &[&Tlsa],
    matched: &BTreeSet<Tlsa>,
    superseded: &BTreeSet<Tlsa>,
) {
    if usable.len() == 1 {
        add(
            Status::Warning,
            format!(
                "{host}: only one TLSA record: no next key is published, so the next key change breaks mail (RFC 7671 §8.1)"
            ),
        );
    }
    let unmatched_ee: Vec<String> = usable
        .iter()
        .filter(|r| r.usage == 3 && !matched.contains(*r) && !superseded.contains(*r))
        .map(|r| r.short())
        .collect();
    if unmatched_ee.len() > 1 {
        add(
            Status::Warning,
            format!(
                "{host}: {} DANE-EE records match no address ({}): one may be the next key, the others are stale",
                unmatched_ee.len(),
                unmatched_ee.join(", ")
            ),
        );
    }
    let ta: BTreeSet<&Vec<u8>> = usable
        .iter()
        .filter(|r| r.usage == 2)
        .map(|r| &r.data)
        .collect();
    let ta_matched = matched.iter().any(|r| r.usage == 2);
    let ee_matched = matched.iter().any(|r| r.usage == 3);
    if ta_matched && !ee_matched && ta.len() == 1 {
        add(
            Status::Warning,
            format!(
                "{host}: a single DANE-TA record and no DANE-EE: publish the CA's other and backup intermediates too, or the CA's next switch of intermediate breaks mail"
            ),
        );
    }
}

#[cfg(test)]
#[path = "assess_tests.rs"]
mod tests;
