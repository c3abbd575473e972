//! The reports as `status` and the engine show them: per host, the latest report day and the
//! alerts of [`align::alerts`](super::align::alerts). Reads the configured `[reports] dir`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use time::OffsetDateTime;

use super::align::{Alert, alerts};
use super::ingest::Ingested;
use super::summary::{Counts, Summary};
use crate::config::Config;

/// What the reports say about one host.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HostReports {
    /// The latest day any report covers for the host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest: Option<Day>,
    /// DANE failures reported after the last swap.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<String>,
}

/// The sessions of one UTC day, every reporter added up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Day {
    /// `2026-11-30`.
    pub day: String,
    pub sessions: Counts,
    pub failures: BTreeMap<String, u64>,
    pub reporters: Vec<String>,
}

/// The reports read once for every host.
pub struct Reports {
    summary: Summary,
    alerts: Vec<Alert>,
    /// Files that were not reports (counted, for the operator).
    pub malformed: usize,
}

impl Reports {
    /// Reads `config.reports.dir` (if configured) and the histories in `state_dir`.
    pub fn read(config: &Config, state_dir: &Path, now: OffsetDateTime) -> Option<Self> {
        let dir = config.reports.dir.as_ref()?;
        let ingested = Ingested::read(std::slice::from_ref(dir));
        let summary = Summary::of(&ingested.reports, None);
        let timelines = super::timelines(state_dir).unwrap_or_default();
        let mapper = super::host_mapper(config);
        let alerts = alerts(
            &summary,
            &timelines,
            &mapper,
            config.reports.alert_window,
            now,
        );
        let mapped = |name: &str| mapper(name);
        let mut summary = summary;
        // Failures and windows under the history's host names (other names folded in).
        for failure in &mut summary.failures {
            failure.mx_host = failure.mx_host.as_deref().and_then(mapped);
        }
        for window in &mut summary.windows {
            window.mx_host = window.mx_host.as_deref().and_then(mapped);
        }
        Some(Self {
            summary,
            alerts,
            malformed: ingested.malformed.len(),
        })
    }

    /// The engine's alerts, one text each.
    pub fn alerts(&self) -> Vec<String> {
        self.alerts.iter().map(|a| a.text.clone()).collect()
    }

    /// What the reports say about `host`.
    pub fn host(&self, host: &str) -> HostReports {
        let latest = self
            .summary
            .windows
            .iter()
            .filter(|w| w.mx_host.as_deref() == Some(host))
            .map(|w| w.start.date())
            .max()
            .map(|day| {
                let mut counts = Counts::default();
                let mut reporters = Vec::new();
                for w in self
                    .summary
                    .windows
                    .iter()
                    .filter(|w| w.mx_host.as_deref() == Some(host) && w.start.date() == day)
                {
                    counts.successful += w.sessions.successful;
                    counts.failed += w.sessions.failed;
                    if !reporters.contains(&w.reporter) {
                        reporters.push(w.reporter.clone());
                    }
                }
                let mut failures = BTreeMap::new();
                for f in self
                    .summary
                    .failures
                    .iter()
                    .filter(|f| f.mx_host.as_deref() == Some(host) && f.start.date() == day)
                {
                    *failures.entry(f.result_type.clone()).or_default() += f.count;
                }
                reporters.sort();
                Day {
                    day: day.to_string(),
                    sessions: counts,
                    failures,
                    reporters,
                }
            });
        HostReports {
            latest,
            alerts: self
                .alerts
                .iter()
                .filter(|a| a.host == host)
                .map(|a| a.text.clone())
                .collect(),
        }
    }
}

impl Day {
    /// `2026-11-30: 1187 ok, 0 failed (Google Inc.)`.
    pub fn text(&self) -> String {
        let failures = if self.failures.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = self
                .failures
                .iter()
                .map(|(kind, n)| format!("{n} {kind}"))
                .collect();
            format!(": {}", list.join(", "))
        };
        format!(
            "{}: {} ok, {} failed{failures} ({})",
            self.day,
            self.sessions.successful,
            self.sessions.failed,
            self.reporters.join(", ")
        )
    }
}
