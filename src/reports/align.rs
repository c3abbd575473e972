//! Lining reported failures up with daneroll's own history: which rollover phase each report
//! window falls in, what senders reported across the last rollover, and the engine's alert when
//! senders report DANE failures after a swap. No I/O: the caller reads the history.
//!
//! The phases are cut at the events that change what a sender sees (RFC 7671 §8.1): the
//! publication of a new key's record, the swap to that key (its certificate deployed and the MTA
//! reloaded), and the retirement of the old record. A report covers a window (usually one UTC
//! day, RFC 8460 §4.1) and says nothing about when inside it a session failed, so a window that
//! contains an event is named by the events it spans, never guessed into one phase.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use daneroll_providers::Tlsa;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::summary::{Counts, Failure, Summary, Window};
use crate::rollover::history::{Entry, Event};
use crate::rollover::input::Input;

/// How long after its window ends a report is still expected (RFC 8460 §4.1: reports cover a
/// day and are sent after it ends; reporters batch and retry).
pub const REPORT_LAG: Duration = Duration::from_secs(2 * 86400);

/// The default window after a swap in which reported DANE failures raise an alert.
pub const DEFAULT_ALERT_WINDOW: Duration = Duration::from_secs(3 * 86400);

/// What happened to a key's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyEventKind {
    Published,
    Swapped,
    Retired,
}

/// One event of a host's rollover history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyEvent {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub kind: KeyEventKind,
    pub record: Tlsa,
}

impl KeyEvent {
    fn words(&self) -> String {
        match self.kind {
            KeyEventKind::Published => format!("publication of {}", self.record.short()),
            KeyEventKind::Swapped => format!("swap to {}", self.record.short()),
            KeyEventKind::Retired => format!("retirement of {}", self.record.short()),
        }
    }
}

/// A host's rollover events, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Timeline {
    pub host: String,
    pub events: Vec<KeyEvent>,
}

impl Timeline {
    /// The events in `entries` (a host's history): records newly published, certificates
    /// deployed, records retired. Records found already present or already absent change
    /// nothing a sender sees and are left out.
    pub fn from_history(host: &str, entries: &[Entry]) -> Self {
        let mut events: Vec<KeyEvent> = entries
            .iter()
            .filter_map(|entry| {
                let (kind, record) = match &entry.event {
                    Event::Outcome(Input::Published {
                        record,
                        already_present: false,
                    }) => (KeyEventKind::Published, record),
                    Event::Outcome(Input::Deployed { record }) => (KeyEventKind::Swapped, record),
                    Event::Outcome(Input::Retired {
                        record,
                        already_absent: false,
                    }) => (KeyEventKind::Retired, record),
                    _ => return None,
                };
                Some(KeyEvent {
                    at: entry.at,
                    kind,
                    record: record.clone(),
                })
            })
            .collect();
        events.sort_by_key(|e| e.at);
        Self {
            host: host.to_string(),
            events,
        }
    }

    /// The rollover phase of the window `[start, end]`, in words.
    pub fn phase(&self, start: OffsetDateTime, end: OffsetDateTime) -> String {
        let inside: Vec<&KeyEvent> = self
            .events
            .iter()
            .filter(|e| e.at > start && e.at < end)
            .collect();
        if !inside.is_empty() {
            let words: Vec<String> = inside
                .iter()
                .map(|e| format!("the {} ({})", e.words(), minute(e.at)))
                .collect();
            return format!("in a report window that spans {}", words.join(", "));
        }
        let before = self.events.iter().rev().find(|e| e.at <= start);
        let after = self.events.iter().find(|e| e.at >= end);
        match (before, after) {
            (None, None) => "with no rollover recorded".into(),
            (None, Some(next)) => format!("before the {}", next.words()),
            (Some(last), None) => format!("since the {}", last.words()),
            (Some(last), Some(next))
                if last.kind == KeyEventKind::Published
                    && next.kind == KeyEventKind::Swapped
                    && last.record == next.record =>
            {
                format!("between the {} and its swap", last.words())
            }
            (Some(last), Some(next)) => {
                format!("between the {} and the {}", last.words(), next.words())
            }
        }
    }

    /// The last swap, with the publication of its key before it and the first retirement after
    /// it (each when recorded).
    pub fn last_rollover(&self) -> Option<Rollover> {
        let (index, swap) = self
            .events
            .iter()
            .enumerate()
            .rfind(|(_, e)| e.kind == KeyEventKind::Swapped)?;
        let published = self.events[..index]
            .iter()
            .rfind(|e| e.kind == KeyEventKind::Published && e.record == swap.record)
            .cloned();
        let retired = self.events[index + 1..]
            .iter()
            .find(|e| e.kind == KeyEventKind::Retired)
            .cloned();
        Some(Rollover {
            published,
            swapped: swap.clone(),
            retired,
        })
    }
}

/// One rollover: publication, swap, retirement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rollover {
    pub published: Option<KeyEvent>,
    pub swapped: KeyEvent,
    pub retired: Option<KeyEvent>,
}

impl Rollover {
    fn start(&self) -> OffsetDateTime {
        self.published.as_ref().unwrap_or(&self.swapped).at
    }

    fn end(&self) -> OffsetDateTime {
        self.retired.as_ref().unwrap_or(&self.swapped).at
    }

    fn words(&self) -> String {
        let mut parts = Vec::new();
        for event in [&self.published, &Some(self.swapped.clone()), &self.retired]
            .into_iter()
            .flatten()
        {
            parts.push(format!("{} {}", event.words(), minute(event.at)));
        }
        parts.join(" → ")
    }
}

/// What the reports say about one phase of one host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PhaseLine {
    pub host: String,
    pub phase: String,
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    /// Failed sessions by result type.
    pub failures: BTreeMap<String, u64>,
    pub reporters: BTreeSet<String>,
    pub text: String,
}

/// What the reports say about a host's last rollover.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RolloverLine {
    pub host: String,
    pub rollover: Rollover,
    pub sessions: Counts,
    pub failures: BTreeMap<String, u64>,
    pub reporters: BTreeSet<String>,
    pub text: String,
}

/// The failures per phase, and the last rollover, for every host with a timeline.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Alignment {
    pub phases: Vec<PhaseLine>,
    pub rollovers: Vec<RolloverLine>,
}

/// `host_of` maps a reported MX host name to the history's host (other names included).
pub fn align(
    summary: &Summary,
    timelines: &[Timeline],
    host_of: &dyn Fn(&str) -> Option<String>,
) -> Alignment {
    let mut alignment = Alignment::default();
    let on = |mx: &Option<String>, timeline: &Timeline| {
        mx.as_deref()
            .and_then(host_of)
            .is_some_and(|h| h == timeline.host)
    };
    for timeline in timelines {
        let mut phases: BTreeMap<(OffsetDateTime, String), PhaseLine> = BTreeMap::new();
        for failure in summary.failures.iter().filter(|f| on(&f.mx_host, timeline)) {
            let phase = timeline.phase(failure.start, failure.end);
            let line = phases
                .entry((failure.start, phase.clone()))
                .or_insert_with(|| PhaseLine {
                    host: timeline.host.clone(),
                    phase,
                    from: failure.start,
                    failures: BTreeMap::new(),
                    reporters: BTreeSet::new(),
                    text: String::new(),
                });
            *line
                .failures
                .entry(failure.result_type.clone())
                .or_default() += failure.count;
            line.reporters.insert(failure.reporter.clone());
        }
        // One line per phase (windows on different days in the same phase add up).
        let mut merged: Vec<PhaseLine> = Vec::new();
        for line in phases.into_values() {
            match merged.iter_mut().find(|m| m.phase == line.phase) {
                Some(m) => {
                    for (kind, count) in line.failures {
                        *m.failures.entry(kind).or_default() += count;
                    }
                    m.reporters.extend(line.reporters);
                }
                None => merged.push(line),
            }
        }
        for mut line in merged {
            line.text = format!(
                "{}: {} from {} {}",
                line.host,
                by_type(&line.failures),
                reporters(&line.reporters),
                line.phase
            );
            alignment.phases.push(line);
        }
        if let Some(rollover) = timeline.last_rollover() {
            let windows: Vec<&Window> = summary
                .windows
                .iter()
                .filter(|w| on(&w.mx_host, timeline))
                .filter(|w| w.end >= rollover.start() && w.start <= rollover.end())
                .collect();
            let mut sessions = Counts::default();
            let mut names = BTreeSet::new();
            for window in &windows {
                sessions.successful += window.sessions.successful;
                names.insert(window.reporter.clone());
            }
            let mut failures = BTreeMap::new();
            for failure in summary
                .failures
                .iter()
                .filter(|f| on(&f.mx_host, timeline))
                .filter(|f| f.end >= rollover.start() && f.start <= rollover.end())
            {
                *failures.entry(failure.result_type.clone()).or_default() += failure.count;
                sessions.failed += failure.count;
            }
            let text = if windows.is_empty() {
                format!(
                    "{}: no report covers the last rollover ({})",
                    timeline.host,
                    rollover.words()
                )
            } else if failures.is_empty() {
                format!(
                    "{}: 0 failures across the last rollover ({}): {} sessions succeeded, {}",
                    timeline.host,
                    rollover.words(),
                    sessions.successful,
                    reporters(&names)
                )
            } else {
                format!(
                    "{}: {} across the last rollover ({}); {} sessions succeeded, {}",
                    timeline.host,
                    by_type(&failures),
                    rollover.words(),
                    sessions.successful,
                    reporters(&names)
                )
            };
            alignment.rollovers.push(RolloverLine {
                host: timeline.host.clone(),
                rollover,
                sessions,
                failures,
                reporters: names,
                text,
            });
        }
    }
    alignment
}

/// An engine alert: senders reported DANE failures for a host after its last swap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Alert {
    pub host: String,
    pub key: Tlsa,
    #[serde(with = "time::serde::rfc3339")]
    pub swapped_at: OffsetDateTime,
    pub failures: Vec<Failure>,
    pub text: String,
}

/// Alerts for hosts whose last swap is at most `window` + [`REPORT_LAG`] ago and for which
/// reports whose window overlaps `[swap, swap + window]` count `tlsa-invalid` or
/// `dnssec-invalid` failures: a sender saw a TLSA RRset that did not match the key, or could not
/// validate it, which the promise says cannot happen.
pub fn alerts(
    summary: &Summary,
    timelines: &[Timeline],
    host_of: &dyn Fn(&str) -> Option<String>,
    window: Duration,
    now: OffsetDateTime,
) -> Vec<Alert> {
    let mut alerts = Vec::new();
    for timeline in timelines {
        let Some(rollover) = timeline.last_rollover() else {
            continue;
        };
        let swap = rollover.swapped.at;
        let until = swap + window;
        if now > until + REPORT_LAG {
            continue;
        }
        let failures: Vec<Failure> = summary
            .failures
            .iter()
            .filter(|f| matches!(f.result_type.as_str(), "tlsa-invalid" | "dnssec-invalid"))
            .filter(|f| {
                f.mx_host
                    .as_deref()
                    .and_then(host_of)
                    .is_some_and(|h| h == timeline.host)
            })
            .filter(|f| f.end >= swap && f.start <= until)
            .cloned()
            .collect();
        if failures.is_empty() {
            continue;
        }
        let mut text = format!(
            "{}: senders reported DANE failures after the swap to {} at {}:",
            timeline.host,
            rollover.swapped.record.short(),
            minute(swap)
        );
        for f in &failures {
            // invariant: writing to a String cannot fail.
            write!(
                text,
                " {} {} from {} (report {}, {} – {});",
                f.count,
                f.result_type,
                f.reporter,
                f.report_id,
                minute(f.start),
                minute(f.end)
            )
            .expect("write to String");
        }
        text.push_str(
            " some sender saw a TLSA RRset that did not match the key or did not validate: \
             check the records with `daneroll check` and the history",
        );
        alerts.push(Alert {
            host: timeline.host.clone(),
            key: rollover.swapped.record.clone(),
            swapped_at: swap,
            failures,
            text,
        });
    }
    alerts
}

fn by_type(failures: &BTreeMap<String, u64>) -> String {
    let mut list: Vec<(&String, &u64)> = failures.iter().collect();
    list.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    list.iter()
        .map(|(kind, count)| format!("{count} {kind}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn reporters(names: &BTreeSet<String>) -> String {
    let list: Vec<&str> = names.iter().map(String::as_str).collect();
    match list.len() {
        1 => format!("1 reporter ({})", list[0]),
        n => format!("{n} reporters ({})", list.join(", ")),
    }
}

/// `2026-11-29 02:55Z`.
pub fn minute(at: OffsetDateTime) -> String {
    let text = at
        .to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default();
    format!("{}Z", text.get(..16).unwrap_or(&text).replace('T', " "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::fixtures;
    use crate::reports::ingest::Sourced;
    use crate::reports::schema::parse;
    use time::macros::datetime;

    fn recorded() -> Timeline {
        let entries: Vec<Entry> = fixtures::HISTORY
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        Timeline::from_history("mx.demo.example", &entries)
    }

    fn summary() -> Summary {
        let reports: Vec<Sourced> = [
            fixtures::GOOGLE_TLSA,
            fixtures::MICROSOFT,
            fixtures::ODD_REPORTER,
            fixtures::AFTER_ROLLOVER,
        ]
        .iter()
        .map(|text| Sourced {
            source: "fixture".into(),
            report: parse(text.as_bytes()).unwrap(),
        })
        .collect();
        Summary::of(&reports, None)
    }

    fn same(name: &str) -> Option<String> {
        (name == "mx.demo.example").then(|| name.to_string())
    }

    #[test]
    fn the_recorded_history_gives_publication_swap_and_retirement() {
        let timeline = recorded();
        let kinds: Vec<(KeyEventKind, String)> = timeline
            .events
            .iter()
            .map(|e| (e.kind, e.record.short()))
            .collect();
        assert_eq!(
            kinds,
            [
                (KeyEventKind::Published, "3 1 1 B14CE4D7…".to_string()),
                (KeyEventKind::Swapped, "3 1 1 B14CE4D7…".to_string()),
                (KeyEventKind::Retired, "3 1 1 3304597B…".to_string()),
                (KeyEventKind::Published, "3 1 1 CB2B7382…".to_string()),
            ]
        );
        assert_eq!(
            timeline.phase(
                datetime!(2026-11-28 00:00 UTC),
                datetime!(2026-11-28 23:59:59 UTC)
            ),
            "between the publication of 3 1 1 B14CE4D7… and its swap"
        );
        assert_eq!(
            timeline.phase(
                datetime!(2026-11-29 00:00 UTC),
                datetime!(2026-11-29 23:59:59 UTC)
            ),
            "in a report window that spans the swap to 3 1 1 B14CE4D7… (2026-11-29 02:55Z), \
             the retirement of 3 1 1 3304597B… (2026-11-29 04:04Z), the publication of \
             3 1 1 CB2B7382… (2026-11-29 05:05Z)"
        );
        assert_eq!(
            timeline.phase(
                datetime!(2026-11-26 00:00 UTC),
                datetime!(2026-11-26 23:59:59 UTC)
            ),
            "before the publication of 3 1 1 B14CE4D7…"
        );
        assert_eq!(
            timeline.phase(
                datetime!(2026-11-30 00:00 UTC),
                datetime!(2026-11-30 23:59:59 UTC)
            ),
            "since the publication of 3 1 1 CB2B7382…"
        );
    }

    #[test]
    fn failures_line_up_with_the_phases_and_the_last_rollover() {
        let alignment = align(&summary(), &[recorded()], &same);
        let texts: Vec<&str> = alignment.phases.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "mx.demo.example: 12 tlsa-invalid from 1 reporter (Microsoft Corporation) \
                 between the publication of 3 1 1 B14CE4D7… and its swap",
                "mx.demo.example: 5 tlsa-invalid, 2 starttls-not-supported from 1 reporter \
                 (Example Mailer) in a report window that spans the swap to 3 1 1 B14CE4D7… \
                 (2026-11-29 02:55Z), the retirement of 3 1 1 3304597B… (2026-11-29 04:04Z), \
                 the publication of 3 1 1 CB2B7382… (2026-11-29 05:05Z)",
            ]
        );
        assert_eq!(alignment.rollovers.len(), 1);
        let last = &alignment.rollovers[0];
        assert_eq!(last.failures["tlsa-invalid"], 17);
        assert_eq!(last.sessions.successful, 1204 + 310 + 88);
        assert!(
            last.text.starts_with(
                "mx.demo.example: 17 tlsa-invalid, 2 starttls-not-supported across the last \
                 rollover (publication of 3 1 1 B14CE4D7… 2026-11-27 01:04Z → swap to \
                 3 1 1 B14CE4D7… 2026-11-29 02:55Z → retirement of 3 1 1 3304597B… \
                 2026-11-29 04:04Z)"
            ),
            "{}",
            last.text
        );
    }

    #[test]
    fn a_clean_rollover_reads_zero_failures() {
        let reports: Vec<Sourced> = [fixtures::GOOGLE_TLSA, fixtures::AFTER_ROLLOVER]
            .iter()
            .map(|text| Sourced {
                source: "fixture".into(),
                report: parse(text.as_bytes()).unwrap(),
            })
            .collect();
        let alignment = align(&Summary::of(&reports, None), &[recorded()], &same);
        assert!(alignment.phases.is_empty());
        assert!(
            alignment.rollovers[0]
                .text
                .starts_with("mx.demo.example: 0 failures across the last rollover"),
            "{}",
            alignment.rollovers[0].text
        );
        // Reports for another host do not count.
        let alignment = align(&Summary::of(&reports, None), &[recorded()], &|_| None);
        assert!(alignment.rollovers[0].text.contains("no report covers"));
    }

    #[test]
    fn dane_failures_after_a_swap_alert_within_the_window_only() {
        let summary = summary();
        let timelines = [recorded()];
        let now = datetime!(2026-12-01 12:00 UTC);
        let alerts = alerts(&summary, &timelines, &same, DEFAULT_ALERT_WINDOW, now);
        assert_eq!(alerts.len(), 1);
        let alert = &alerts[0];
        assert_eq!(alert.key.short(), "3 1 1 B14CE4D7…");
        // The 11-28 report ends before the swap: only Example Mailer's 11-29 failures count.
        assert_eq!(alert.failures.len(), 1);
        assert_eq!(alert.failures[0].reporter, "Example Mailer");
        assert!(
            alert.text.contains("5 tlsa-invalid from Example Mailer"),
            "{}",
            alert.text
        );
        // Long after the window (and the reports' lag): quiet.
        let later = datetime!(2026-12-10 00:00 UTC);
        assert!(super::alerts(&summary, &timelines, &same, DEFAULT_ALERT_WINDOW, later).is_empty());
        // A report for another host: quiet.
        assert!(
            super::alerts(&summary, &timelines, &|_| None, DEFAULT_ALERT_WINDOW, now).is_empty()
        );
    }
}
