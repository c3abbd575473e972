//! What senders that use MTA-STS (RFC 8461) and TLS reporting (RFC 8460) see for a mail domain,
//! for `daneroll check`.
//!
//! Many operators publish MTA-STS beside DANE. MTA-STS asks for what DANE-EE does not: a
//! certificate that is WebPKI-valid for the MX name (RFC 8461 §4.2), MX names the policy's
//! patterns cover (§4.1), and a policy `id` that changes whenever the policy does (§3.1), or
//! senders keep the cached one for up to `max_age`. TLS-RPT (`_smtp._tls`) is how senders tell
//! the domain when either policy fails; without it a DANE domain learns of failures only from
//! its users.
//!
//! MTA-STS findings never make a good DANE verdict CRITICAL unless the operator asks for it
//! (`--require-sts`): a DANE-enforcing sender ignores MTA-STS when DANE applies (RFC 8461 §2).
//!
//! - [`records`]: the TXT records and the policy text (no I/O);
//! - [`fetch`]: the HTTPS policy fetch and the WebPKI check;
//! - [`memory`]: the policy last seen under each `id`.

pub mod fetch;
pub mod memory;
pub mod records;

use std::path::Path;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use serde::Serialize;

use crate::dns::Transport;
use crate::probe::assess::{Finding, Status};
use crate::probe::lookup::{Answer, Dns, LookupError};
use fetch::{FetchError, Trust};
use records::{Mode, Policy, StsRecord, TlsRptRecord, Txt};

/// What was looked up for one domain, before any judgement.
#[derive(Debug)]
pub struct Gathered {
    sts_txt: Result<Answer<String>, LookupError>,
    tlsrpt_txt: Result<Answer<String>, LookupError>,
    /// Present when the `_mta-sts` record is valid and the roots could be loaded.
    fetched: Option<Result<String, FetchError>>,
}

/// The MTA-STS part of a domain's report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StsReport {
    /// The `_mta-sts` record, when valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<StsRecord>,
    /// The policy fetched, when it parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    /// MX hosts the policy's `mx` patterns do not cover.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uncovered: Vec<String>,
    /// MX hosts whose certificate is not WebPKI-valid for their name, with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_webpki_valid: Vec<String>,
}

/// The TLS-RPT part of a domain's report.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TlsRptReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<TlsRptRecord>,
}

/// Looks up `_mta-sts` and `_smtp._tls`, and fetches the policy when there is a record.
pub async fn gather<T: Transport>(
    dns: &Dns<'_, T>,
    domain: &str,
    trust: Option<&Trust>,
    timeout: Duration,
) -> Gathered {
    let (sts_owner, tlsrpt_owner) = (format!("_mta-sts.{domain}"), format!("_smtp._tls.{domain}"));
    let (sts_txt, tlsrpt_txt) = tokio::join!(dns.txt(&sts_owner), dns.txt(&tlsrpt_owner));
    let mut fetched = None;
    if let (Ok(answer), Some(trust)) = (&sts_txt, trust)
        && matches!(records::sts_record(&answer.records), Txt::Valid(_))
    {
        let host = format!("mta-sts.{domain}");
        fetched = Some(match dns.addresses(&host).await {
            Ok(answer) => fetch::fetch(domain, &answer.records, trust, timeout).await,
            Err(error) => Err(FetchError::Other {
                url: fetch::policy_url(domain),
                why: format!("cannot look up {host}: {error}"),
            }),
        });
    }
    Gathered {
        sts_txt,
        tlsrpt_txt,
        fetched,
    }
}

/// What `review` needs besides the lookups.
pub struct Context<'a> {
    pub domain: &'a str,
    pub mx_hosts: &'a [String],
    /// Whether DANE applies to the domain (validated MX, a host with usable TLSA records).
    pub dane: bool,
    /// Each MX host's presented chains (leaf first), one per address that answered.
    pub chains: Vec<(&'a str, &'a [CertificateDer<'static>])>,
    /// The roots, or why they could not be loaded.
    pub trust: Result<&'a Trust, &'a str>,
    /// Where the policy seen under each id is remembered (`None`: nowhere).
    pub memory: Option<&'a Path>,
    /// `--require-sts`: MTA-STS problems are CRITICAL.
    pub require: bool,
}

/// Judges the lookups: the reports and the findings, in the operator's words.
pub fn review(gathered: Gathered, cx: &Context<'_>) -> (StsReport, TlsRptReport, Vec<Finding>) {
    let domain = cx.domain;
    let mut findings = Vec::new();
    let mut add = |status, message: String| findings.push(Finding { status, message });
    let serious = if cx.require {
        Status::Critical
    } else {
        Status::Warning
    };
    // A fact MTA-STS or TLS-RPT could not obtain does not make a DANE verdict UNKNOWN either.
    let unknown = if cx.require {
        Status::Unknown
    } else {
        Status::Warning
    };
    let mut sts = StsReport::default();
    let owner = format!("_mta-sts.{domain}");
    let record = match &gathered.sts_txt {
        Err(error) => {
            add(unknown, format!("{owner}: TXT lookup failed: {error}"));
            None
        }
        Ok(answer) if answer.is_servfail() => {
            add(serious, format!("{owner}: the resolver answers SERVFAIL"));
            None
        }
        Ok(answer) => match records::sts_record(&answer.records) {
            Txt::Absent if cx.require => {
                add(
                    Status::Critical,
                    format!(
                        "{domain}: no MTA-STS record ({owner} TXT v=STSv1; id=…), and --require-sts"
                    ),
                );
                None
            }
            Txt::Absent => {
                add(
                    Status::Ok,
                    format!("{domain}: no MTA-STS policy: senders use DANE only"),
                );
                None
            }
            Txt::Invalid(why) => {
                add(serious, format!("{owner}: {why}"));
                None
            }
            Txt::Valid(record) => Some(record),
        },
    };
    if let Some(record) = &record {
        match (&gathered.fetched, cx.trust) {
            (_, Err(why)) => add(
                unknown,
                format!("{domain}: cannot check the MTA-STS policy: {why}"),
            ),
            (None, Ok(_)) => {}
            (Some(Err(error)), Ok(_)) => add(
                serious,
                format!(
                    "{domain}: MTA-STS policy (id {}): {error}: senders have no policy",
                    record.id
                ),
            ),
            (Some(Ok(text)), Ok(trust)) => match records::policy(text) {
                Err(why) => add(
                    serious,
                    format!(
                        "{}: not a valid MTA-STS policy: {why}: senders have no policy",
                        fetch::policy_url(domain)
                    ),
                ),
                Ok(policy) => {
                    policy_findings(&policy, record, text, trust, cx, &mut sts, &mut add);
                    sts.policy = Some(policy);
                }
            },
        }
    }
    sts.record = record;

    let mut tlsrpt = TlsRptReport::default();
    let owner = format!("_smtp._tls.{domain}");
    match &gathered.tlsrpt_txt {
        Err(error) => add(unknown, format!("{owner}: TXT lookup failed: {error}")),
        Ok(answer) => match records::tlsrpt_record(&answer.records) {
            Txt::Valid(record) => {
                add(
                    Status::Ok,
                    format!("{domain}: TLS reports go to {}", record.rua.join(", ")),
                );
                tlsrpt.record = Some(record);
            }
            Txt::Invalid(why) => add(
                Status::Warning,
                format!("{owner}: {why}: senders send no TLS reports"),
            ),
            Txt::Absent if cx.dane || sts.record.is_some() => add(
                Status::Warning,
                format!(
                    "{domain}: no TLS-RPT record ({owner} TXT \"v=TLSRPTv1; rua=mailto:…\"): \
                     senders that fail DANE or MTA-STS cannot tell you, so a broken rollover \
                     shows only as deferred mail (RFC 8460)"
                ),
            ),
            Txt::Absent => {}
        },
    }
    (sts, tlsrpt, findings)
}

fn policy_findings(
    policy: &Policy,
    record: &StsRecord,
    text: &str,
    trust: &Trust,
    cx: &Context<'_>,
    sts: &mut StsReport,
    add: &mut dyn FnMut(Status, String),
) {
    let domain = cx.domain;
    let serious = if cx.require {
        Status::Critical
    } else {
        Status::Warning
    };
    let mx = if policy.mx.is_empty() {
        "-".to_string()
    } else {
        policy.mx.join(", ")
    };
    let mode = match policy.mode {
        Mode::Enforce => "enforce",
        Mode::Testing => "testing",
        Mode::None => "none",
    };
    add(
        Status::Ok,
        format!(
            "{domain}: MTA-STS id {}: mode {mode}, mx {mx}, max_age {}s",
            record.id, policy.max_age
        ),
    );
    if policy.mode == Mode::None {
        let status = if cx.require {
            Status::Critical
        } else {
            Status::Ok
        };
        add(
            status,
            format!("{domain}: the MTA-STS policy is withdrawn (mode none)"),
        );
        return;
    }
    sts.uncovered = cx
        .mx_hosts
        .iter()
        .filter(|host| !policy.covers(host))
        .cloned()
        .collect();
    for host in &sts.uncovered {
        let effect = match policy.mode {
            Mode::Enforce => "senders that enforce MTA-STS will not deliver to it",
            _ => "senders report every delivery to it as a failure",
        };
        add(
            serious,
            format!(
                "{domain}: MX host {host} is not covered by the MTA-STS mx patterns ({mx}): {effect}"
            ),
        );
    }
    if policy.mode == Mode::Enforce {
        for (host, chain) in &cx.chains {
            if !policy.covers(host) {
                continue;
            }
            if let Err(why) = trust.verify(host, chain) {
                let line = format!("{host}: {why}");
                if !sts.not_webpki_valid.contains(&line) {
                    add(
                        serious,
                        format!(
                            "{domain}: MTA-STS mode enforce, but the certificate {host} presents \
                             is not WebPKI-valid for {host} ({why}): senders that enforce \
                             MTA-STS and do not use DANE will not deliver"
                        ),
                    );
                    sts.not_webpki_valid.push(line);
                }
            }
        }
    }
    if let Some(dir) = cx.memory {
        match memory::recall(dir, domain, &record.id, text) {
            Ok(memory::Recall::Changed) => add(
                Status::Warning,
                format!(
                    "{domain}: the MTA-STS policy changed but {} still says id={}: senders \
                     keep the policy they cached for up to max_age (RFC 8461 §3.1); change the id",
                    format_args!("_mta-sts.{domain}"),
                    record.id
                ),
            ),
            Ok(memory::Recall::Same | memory::Recall::New) => {}
            Err(why) => add(
                Status::Ok,
                format!(
                    "{domain}: cannot remember the MTA-STS policy to compare its id later: {why}"
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txt(records: &[&str]) -> Result<Answer<String>, LookupError> {
        Ok(Answer {
            rcode: "No Error".into(),
            authenticated: true,
            records: records.iter().map(|s| s.to_string()).collect(),
            canonical: None,
        })
    }

    fn cx<'a>(mx: &'a [String], dane: bool, require: bool) -> Context<'a> {
        Context {
            domain: "example.com",
            mx_hosts: mx,
            dane,
            chains: Vec::new(),
            trust: Err("no roots in this test"),
            memory: None,
            require,
        }
    }

    fn worst(findings: &[Finding]) -> Status {
        findings
            .iter()
            .map(|f| f.status)
            .max()
            .unwrap_or(Status::Ok)
    }

    #[test]
    fn a_dane_domain_without_tls_rpt_is_warned_what_it_loses() {
        let mx = vec!["mx.example.com".to_string()];
        let gathered = Gathered {
            sts_txt: txt(&[]),
            tlsrpt_txt: txt(&["v=spf1 -all"]),
            fetched: None,
        };
        let (sts, tlsrpt, findings) = review(gathered, &cx(&mx, true, false));
        assert!(sts.record.is_none() && tlsrpt.record.is_none());
        assert_eq!(worst(&findings), Status::Warning);
        assert!(findings.iter().any(|f| {
            f.status == Status::Warning
                && f.message
                    .starts_with("example.com: no TLS-RPT record (_smtp._tls.example.com TXT")
                && f.message.contains("cannot tell you")
        }));
        // Not a DANE domain and no MTA-STS: nothing to report to, no warning.
        let gathered = Gathered {
            sts_txt: txt(&[]),
            tlsrpt_txt: txt(&[]),
            fetched: None,
        };
        let (_, _, findings) = review(gathered, &cx(&mx, false, false));
        assert_eq!(worst(&findings), Status::Ok);
    }

    #[test]
    fn mta_sts_problems_are_critical_only_when_required() {
        let mx = vec!["mx.example.com".to_string()];
        let gathered = || Gathered {
            sts_txt: txt(&["v=STSv1; id=1", "v=STSv1; id=2"]),
            tlsrpt_txt: txt(&["v=TLSRPTv1; rua=mailto:r@example.com"]),
            fetched: None,
        };
        let (_, tlsrpt, findings) = review(gathered(), &cx(&mx, true, false));
        assert_eq!(tlsrpt.record.unwrap().rua, ["mailto:r@example.com"]);
        assert_eq!(worst(&findings), Status::Warning);
        let (_, _, findings) = review(gathered(), &cx(&mx, true, true));
        assert_eq!(worst(&findings), Status::Critical);
        // No policy at all: fine for DANE, CRITICAL when required.
        let none = || Gathered {
            sts_txt: txt(&[]),
            tlsrpt_txt: txt(&["v=TLSRPTv1; rua=mailto:r@example.com"]),
            fetched: None,
        };
        assert_eq!(worst(&review(none(), &cx(&mx, true, false)).2), Status::Ok);
        assert_eq!(
            worst(&review(none(), &cx(&mx, true, true)).2),
            Status::Critical
        );
    }
}
