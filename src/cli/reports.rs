//! `daneroll reports [PATH…] [--json | --nagios] [--since 2d]`: reads SMTP TLS reports (RFC
//! 8460) from files, mails, maildirs and mboxes, and prints per policy domain and MX host what
//! senders saw, by failure type, by reporter and by day, lined up with the rollover history in
//! the state directory.
//!
//! Exit status: 0 printed (malformed reports are counted and named, not fatal); 2 bad input (no
//! path and no `[reports] dir`, a bad `--since`, an unreadable config). With `--nagios`, the
//! plugin convention: 0 OK, 1 WARNING (failures of other types, malformed reports, or no report
//! in the window), 2 CRITICAL (senders reported `tlsa-invalid`, `dnssec-invalid` or
//! `dane-required`), 3 UNKNOWN (bad input).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;
use time::OffsetDateTime;

use super::engine::StateDirFlag;
use crate::config::{Config, parse_duration};
use crate::exit;
use crate::output::write_stdout;
use crate::probe::assess::Status;
use crate::reports::align::{Alignment, align};
use crate::reports::ingest::{Ingested, Malformed};
use crate::reports::summary::{Counts, Row, Summary};
use crate::reports::{host_mapper, timelines};

/// Arguments of `daneroll reports`.
#[derive(Debug, Args)]
pub struct ReportsArgs {
    /// Report files (.json, .json.gz), mail messages, maildirs, mboxes or directories of them
    /// [default: the config's [reports] dir].
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Print one JSON document.
    #[arg(long, conflicts_with = "nagios")]
    json: bool,
    /// Print one monitoring-plugin line and exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    #[arg(long)]
    nagios: bool,
    /// Only reports whose window ended within this time (e.g. 2d, 36h).
    #[arg(long, value_name = "DURATION")]
    since: Option<String>,
    #[command(flatten)]
    state: StateDirFlag,
}

/// The whole run, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Output {
    reports: usize,
    duplicates: usize,
    malformed: Vec<Malformed>,
    summary: Summary,
    history: Alignment,
}

/// Runs `daneroll reports`.
pub fn run(args: ReportsArgs, config_flag: Option<&Path>) -> anyhow::Result<ExitCode> {
    let refuse = |message: String| -> anyhow::Result<ExitCode> {
        if args.nagios {
            write_stdout(&format!("TLSRPT UNKNOWN - daneroll reports: {message}\n"))?;
            Ok(ExitCode::from(Status::Unknown.exit_code()))
        } else {
            eprintln!("daneroll: {message}");
            Ok(exit::code(exit::BAD_INPUT))
        }
    };
    let (path, explicit) = Config::locate(config_flag);
    let config = match Config::load_or_default(&path, explicit) {
        Ok(config) => config,
        Err(error) => return refuse(error.to_string()),
    };
    let paths = if args.paths.is_empty() {
        match &config.reports.dir {
            Some(dir) => vec![dir.clone()],
            None => {
                return refuse(format!(
                    "give report files or directories, or set [reports] dir in {}",
                    config.path.display()
                ));
            }
        }
    } else {
        args.paths.clone()
    };
    let now = OffsetDateTime::now_utc();
    let since = match &args.since {
        Some(text) => match parse_duration(text) {
            Ok(duration) => Some(now - duration),
            Err(message) => return refuse(format!("--since: {message}")),
        },
        None => None,
    };
    let state_dir = args
        .state
        .state_dir
        .clone()
        .unwrap_or_else(|| config.state_dir.clone());
    let ingested = Ingested::read(&paths);
    let summary = Summary::of(&ingested.reports, since);
    let timelines = match timelines(&state_dir) {
        Ok(timelines) => timelines,
        Err(error) => return refuse(format!("rollover history: {error}")),
    };
    let mapper = host_mapper(&config);
    let history = align(&summary, &timelines, &mapper);
    let output = Output {
        reports: ingested.reports.len(),
        duplicates: ingested.duplicates,
        malformed: ingested.malformed,
        summary,
        history,
    };
    if args.nagios {
        let (status, line) = nagios(&output, args.since.as_deref());
        write_stdout(&format!("{line}\n"))?;
        return Ok(ExitCode::from(status.exit_code()));
    }
    let text = if args.json {
        format!("{}\n", serde_json::to_string_pretty(&output)?)
    } else {
        render(&output, &state_dir)
    };
    write_stdout(&text)?;
    Ok(exit::code(exit::OK))
}

/// The plugin's status and line.
fn nagios(output: &Output, since: Option<&str>) -> (Status, String) {
    let summary = &output.summary;
    let sessions = summary.rows.iter().fold(Counts::default(), |mut all, row| {
        all.successful += row.sessions.successful;
        all.failed += row.sessions.failed;
        all
    });
    let dane = summary.dane_failures();
    let window = since.map_or(String::new(), |s| format!(" in the last {s}"));
    let (status, text) = if summary.rows.is_empty() {
        (Status::Warning, format!("no TLS report{window}"))
    } else if dane > 0 {
        let mut hosts: Vec<String> = summary
            .failures
            .iter()
            .filter(|f| crate::reports::summary::DANE_FAILURES.contains(&f.result_type.as_str()))
            .map(|f| {
                format!(
                    "{} {} for {} from {}",
                    f.count,
                    f.result_type,
                    f.mx_host.as_deref().unwrap_or(&f.domain),
                    f.reporter
                )
            })
            .collect();
        hosts.dedup();
        (
            Status::Critical,
            format!("senders failed DANE{window}: {}", hosts.join("; ")),
        )
    } else if sessions.failed > 0 {
        (
            Status::Warning,
            format!(
                "{} failed session(s){window} (none of them DANE failures): {}",
                sessions.failed,
                summary
                    .rows
                    .iter()
                    .filter(|r| r.sessions.failed > 0)
                    .map(|r| format!("{} {}: {}", r.domain, r.mx_host, failure_list(r)))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
    } else if !output.malformed.is_empty() {
        (
            Status::Warning,
            format!(
                "{} malformed report(s), first: {}: {}",
                output.malformed.len(),
                output.malformed[0].source,
                output.malformed[0].error
            ),
        )
    } else {
        (
            Status::Ok,
            format!(
                "{} session(s) without a failure{window}, {} report(s) from {} reporter(s)",
                sessions.successful,
                output.reports,
                summary.reporters.len()
            ),
        )
    };
    let perf = format!(
        "reports={} malformed={} successful={} failed={} dane_failed={dane}",
        output.reports,
        output.malformed.len(),
        sessions.successful,
        sessions.failed
    );
    (status, format!("TLSRPT {status} - {text} | {perf}"))
}

fn failure_list(row: &Row) -> String {
    if row.failures.is_empty() {
        return "-".into();
    }
    row.failures
        .iter()
        .map(|(kind, count)| format!("{kind} {count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn render(output: &Output, state_dir: &Path) -> String {
    let summary = &output.summary;
    let mut out = String::new();
    let span = match (summary.first, summary.last) {
        (Some(first), Some(last)) => format!(
            ", {} – {}",
            &crate::reports::align::minute(first)[..10],
            &crate::reports::align::minute(last)[..10]
        ),
        _ => String::new(),
    };
    // invariant (every write! below): writing to a String cannot fail.
    writeln!(
        out,
        "{} report(s) ({} duplicate(s) skipped, {} malformed){span}, from {} reporter(s)",
        output.reports,
        output.duplicates,
        output.malformed.len(),
        summary.reporters.len()
    )
    .expect("write to String");
    let mut rows = vec![[
        "DOMAIN".to_string(),
        "MX HOST".into(),
        "POLICY".into(),
        "OK".into(),
        "FAILED".into(),
        "FAILURES".into(),
    ]];
    for row in &summary.rows {
        rows.push([
            row.domain.clone(),
            row.mx_host.clone(),
            row.policy_type.clone(),
            row.sessions.successful.to_string(),
            row.sessions.failed.to_string(),
            failure_list(row),
        ]);
    }
    table(&mut out, &rows);
    for row in &summary.rows {
        writeln!(out, "\n{} {} {}:", row.domain, row.mx_host, row.policy_type)
            .expect("write to String");
        for (reporter, counts) in &row.reporters {
            writeln!(
                out,
                "  {reporter}: {} ok, {} failed",
                counts.successful, counts.failed
            )
            .expect("write to String");
        }
        for (day, counts) in &row.days {
            writeln!(
                out,
                "  {day}: {} ok, {} failed",
                counts.successful, counts.failed
            )
            .expect("write to String");
        }
    }
    let history = &output.history;
    if history.phases.is_empty() && history.rollovers.is_empty() {
        writeln!(
            out,
            "\nrollover history: none for these MX hosts in {}",
            state_dir.display()
        )
        .expect("write to String");
    } else {
        out.push_str("\nrollover history:\n");
        for line in &history.phases {
            writeln!(out, "  {}", line.text).expect("write to String");
        }
        for line in &history.rollovers {
            writeln!(out, "  {}", line.text).expect("write to String");
        }
    }
    if !output.malformed.is_empty() {
        out.push_str("\nmalformed:\n");
        for bad in &output.malformed {
            writeln!(out, "  {}: {}", bad.source, bad.error).expect("write to String");
        }
    }
    out
}

fn table(out: &mut String, rows: &[[String; 6]]) {
    let mut widths = [0usize; 6];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(widths) {
            // invariant: writing to a String cannot fail.
            write!(line, "{cell:<width$}  ").expect("write to String");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::fixtures;
    use crate::reports::ingest::Sourced;
    use crate::reports::schema::parse;

    fn output(texts: &[&str], malformed: Vec<Malformed>) -> Output {
        let reports: Vec<Sourced> = texts
            .iter()
            .map(|text| Sourced {
                source: "fixture".into(),
                report: parse(text.as_bytes()).unwrap(),
            })
            .collect();
        Output {
            reports: reports.len(),
            duplicates: 0,
            malformed,
            summary: Summary::of(&reports, None),
            history: Alignment::default(),
        }
    }

    #[test]
    fn nagios_levels() {
        let (status, line) = nagios(&output(&[fixtures::GOOGLE_TLSA], Vec::new()), Some("2d"));
        assert_eq!(status, Status::Ok);
        assert_eq!(
            line,
            "TLSRPT OK - 1204 session(s) without a failure in the last 2d, 1 report(s) from 1 \
             reporter(s) | reports=1 malformed=0 successful=1204 failed=0 dane_failed=0"
        );
        let (status, line) = nagios(&output(&[fixtures::MICROSOFT], Vec::new()), None);
        assert_eq!(status, Status::Critical);
        assert!(
            line.starts_with(
                "TLSRPT CRITICAL - senders failed DANE: 12 tlsa-invalid for mx.demo.example from \
                 Microsoft Corporation |"
            ),
            "{line}"
        );
        let (status, _) = nagios(&output(&[fixtures::RFC8460], Vec::new()), None);
        assert_eq!(status, Status::Warning);
        let bad = vec![Malformed {
            source: "x.json".into(),
            error: "not JSON".into(),
        }];
        let (status, line) = nagios(&output(&[fixtures::GOOGLE_TLSA], bad), None);
        assert_eq!(status, Status::Warning);
        assert!(line.contains("1 malformed report(s), first: x.json: not JSON"));
        let (status, line) = nagios(&output(&[], Vec::new()), Some("2d"));
        assert_eq!(
            (status, line.as_str()),
            (
                Status::Warning,
                "TLSRPT WARNING - no TLS report in the last 2d | reports=0 malformed=0 successful=0 failed=0 dane_failed=0"
            )
        );
    }

    #[test]
    fn the_table_names_rows_reporters_days_and_malformed_files() {
        let bad = vec![Malformed {
            source: "junk.txt".into(),
            error: "neither a TLS report (JSON or gzip) nor a mail message".into(),
        }];
        let text = render(
            &output(&[fixtures::GOOGLE_TLSA, fixtures::MICROSOFT], bad),
            Path::new("/var/lib/daneroll"),
        );
        assert!(text.starts_with(
            "2 report(s) (0 duplicate(s) skipped, 1 malformed), 2026-11-28 – 2026-11-28, from 2 \
             reporter(s)\nDOMAIN"
        ), "{text}");
        assert!(
            text.contains("demo.example  mx.demo.example  tlsa    1514  12      tlsa-invalid 12"),
            "{text}"
        );
        assert!(
            text.contains("  Microsoft Corporation: 310 ok, 12 failed"),
            "{text}"
        );
        assert!(text.contains("  2026-11-28: 1514 ok, 12 failed"), "{text}");
        assert!(text.contains("\nmalformed:\n  junk.txt: neither"), "{text}");
        assert!(text.contains("rollover history: none for these MX hosts in /var/lib/daneroll"));
    }
}
