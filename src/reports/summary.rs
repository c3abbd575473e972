//! Adding reports up the way an operator reads them: per policy domain, MX host and policy
//! type, the sessions that succeeded and failed, the failures by result type (RFC 8460 §4.3),
//! by reporting organisation and by day. No I/O.
//!
//! RFC 8460 counts sessions per policy, not per MX host; a policy's `mx-host` names the host
//! when it is a single name (the large reporters send one `tlsa` policy per MX host), and a
//! failure's `receiving-mx-hostname` names the host that failed.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;

use super::ingest::Sourced;
use super::schema::{PolicyResult, Report};

/// Result types that mean a sender could not use the DANE records (RFC 8460 §4.3.1–§4.3.2):
/// what a TLSA rollover can cause.
pub const DANE_FAILURES: [&str; 3] = ["tlsa-invalid", "dnssec-invalid", "dane-required"];

/// Sessions, succeeded and failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub successful: u64,
    pub failed: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.successful = self.successful.saturating_add(other.successful);
        self.failed = self.failed.saturating_add(other.failed);
    }
}

/// One policy domain, MX host and policy type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Row {
    pub domain: String,
    /// The MX host, a pattern (`*.example.com`), several joined by `,`, or `*` when the report
    /// names none.
    pub mx_host: String,
    pub policy_type: String,
    pub sessions: Counts,
    /// Failed sessions by `result-type` (failures without details: `unspecified`).
    pub failures: BTreeMap<String, u64>,
    /// By `organization-name`.
    pub reporters: BTreeMap<String, Counts>,
    /// By the UTC day each report window starts (`2026-11-30`).
    pub days: BTreeMap<String, Counts>,
}

/// One reported failure, for lining up with the rollover history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub reporter: String,
    pub report_id: String,
    pub domain: String,
    /// The MX host that failed (the detail's, else the policy's single host).
    pub mx_host: Option<String>,
    pub policy_type: String,
    pub result_type: String,
    pub count: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
}

/// Sessions a report counted for one MX host (successes and failures), for the same purpose.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Window {
    pub reporter: String,
    pub domain: String,
    pub mx_host: Option<String>,
    pub policy_type: String,
    pub sessions: Counts,
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
}

/// The totals.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub rows: Vec<Row>,
    pub failures: Vec<Failure>,
    pub windows: Vec<Window>,
    /// The earliest report start and the latest report end.
    #[serde(with = "time::serde::rfc3339::option")]
    pub first: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last: Option<OffsetDateTime>,
    pub reporters: Vec<String>,
}

impl Summary {
    /// Adds up `reports` whose window ends at or after `since` (all with `None`).
    pub fn of(reports: &[Sourced], since: Option<OffsetDateTime>) -> Self {
        let mut rows: BTreeMap<(String, String, String), Row> = BTreeMap::new();
        let mut summary = Summary::default();
        for Sourced { report, .. } in reports {
            if since.is_some_and(|since| report.end < since) {
                continue;
            }
            summary.first = Some(summary.first.map_or(report.start, |f| f.min(report.start)));
            summary.last = Some(summary.last.map_or(report.end, |l| l.max(report.end)));
            if !summary.reporters.contains(&report.organization) {
                summary.reporters.push(report.organization.clone());
            }
            for policy in &report.policies {
                summary.add(&mut rows, report, policy);
            }
        }
        summary.reporters.sort();
        summary.rows = rows.into_values().collect();
        summary
    }

    fn add(
        &mut self,
        rows: &mut BTreeMap<(String, String, String), Row>,
        report: &Report,
        policy: &PolicyResult,
    ) {
        let mx_host = match policy.mx_hosts.as_slice() {
            [] => "*".to_string(),
            hosts => hosts.join(","),
        };
        let single = match policy.mx_hosts.as_slice() {
            [one] if !one.starts_with('*') => Some(one.clone()),
            _ => None,
        };
        let kind = policy.policy_type.word().to_string();
        let row = rows
            .entry((policy.domain.clone(), mx_host.clone(), kind.clone()))
            .or_insert_with(|| Row {
                domain: policy.domain.clone(),
                mx_host,
                policy_type: kind.clone(),
                sessions: Counts::default(),
                failures: BTreeMap::new(),
                reporters: BTreeMap::new(),
                days: BTreeMap::new(),
            });
        let counts = Counts {
            successful: policy.successful,
            failed: policy.failed,
        };
        row.sessions.add(counts);
        row.reporters
            .entry(report.organization.clone())
            .or_default()
            .add(counts);
        row.days
            .entry(report.start.date().to_string())
            .or_default()
            .add(counts);
        let detailed: u64 = policy.failures.iter().map(|f| f.count).sum();
        let mut add_failure = |result_type: &str, count: u64, mx_host: Option<String>| {
            *row.failures.entry(result_type.to_string()).or_default() += count;
            self.failures.push(Failure {
                reporter: report.organization.clone(),
                report_id: report.report_id.clone(),
                domain: policy.domain.clone(),
                mx_host,
                policy_type: kind.clone(),
                result_type: result_type.to_string(),
                count,
                start: report.start,
                end: report.end,
            });
        };
        for failure in &policy.failures {
            let host = failure.mx_host.clone().or_else(|| single.clone());
            add_failure(&failure.result_type, failure.count, host);
        }
        if policy.failed > detailed {
            add_failure("unspecified", policy.failed - detailed, single.clone());
        }
        self.windows.push(Window {
            reporter: report.organization.clone(),
            domain: policy.domain.clone(),
            mx_host: single,
            policy_type: kind,
            sessions: counts,
            start: report.start,
            end: report.end,
        });
    }

    /// Failed sessions of the DANE result types ([`DANE_FAILURES`]).
    pub fn dane_failures(&self) -> u64 {
        self.failures
            .iter()
            .filter(|f| DANE_FAILURES.contains(&f.result_type.as_str()))
            .map(|f| f.count)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::fixtures;
    use crate::reports::schema::parse;

    fn sourced(texts: &[&str]) -> Vec<Sourced> {
        texts
            .iter()
            .map(|text| Sourced {
                source: "fixture".into(),
                report: parse(text.as_bytes()).unwrap(),
            })
            .collect()
    }

    #[test]
    fn rows_add_up_per_domain_host_and_policy() {
        let reports = sourced(&[
            fixtures::GOOGLE_TLSA,
            fixtures::MICROSOFT,
            fixtures::ODD_REPORTER,
            fixtures::AFTER_ROLLOVER,
        ]);
        let summary = Summary::of(&reports, None);
        assert_eq!(
            summary.reporters,
            ["Example Mailer", "Google Inc.", "Microsoft Corporation"]
        );
        assert_eq!(summary.rows.len(), 2);
        let sts = &summary.rows[0];
        assert_eq!(
            (sts.mx_host.as_str(), sts.policy_type.as_str()),
            ("*.demo.example", "sts")
        );
        let tlsa = &summary.rows[1];
        assert_eq!(
            (
                tlsa.domain.as_str(),
                tlsa.mx_host.as_str(),
                tlsa.policy_type.as_str()
            ),
            ("demo.example", "mx.demo.example", "tlsa")
        );
        assert_eq!(
            tlsa.sessions,
            Counts {
                successful: 1204 + 310 + 88 + 1187,
                failed: 12 + 7
            }
        );
        assert_eq!(tlsa.failures["tlsa-invalid"], 17);
        assert_eq!(tlsa.failures["starttls-not-supported"], 2);
        assert_eq!(tlsa.reporters["Microsoft Corporation"].failed, 12);
        assert_eq!(tlsa.days.len(), 3);
        assert_eq!(summary.dane_failures(), 17);
        // The starttls failure names no MX host; the policy's single host stands in.
        assert!(
            summary
                .failures
                .iter()
                .all(|f| f.mx_host.as_deref() == Some("mx.demo.example"))
        );
    }

    #[test]
    fn since_drops_older_windows_and_undetailed_failures_are_unspecified() {
        let reports = sourced(&[fixtures::GOOGLE_TLSA, fixtures::AFTER_ROLLOVER]);
        let since = time::macros::datetime!(2026-11-30 00:00 UTC);
        let summary = Summary::of(&reports, Some(since));
        assert_eq!(summary.rows[0].sessions.successful, 1187);
        let text = fixtures::GOOGLE_TLSA.replace(
            "\"total-failure-session-count\":0",
            "\"total-failure-session-count\":4",
        );
        let summary = Summary::of(&sourced(&[&text]), None);
        assert_eq!(summary.rows[0].failures["unspecified"], 4);
        assert_eq!(summary.dane_failures(), 0);
    }
}
