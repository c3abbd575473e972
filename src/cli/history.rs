//! `daneroll history [--host H] [--json]`: what daneroll did, from the append-only history of
//! each host: commands, intents, outcomes (failures included), transitions, notices and waits.
//!
//! Read-only and lock-free: lines are only ever appended. `--json` prints the stored lines
//! (JSON Lines) merged by time; a torn last line (a crash mid-append) is reported on stderr.

use std::process::ExitCode;

use anyhow::Context;

use super::engine::StateDirFlag;
use super::status::stamp;
use crate::config::Config;
use crate::exit;
use crate::output::write_line;
use crate::rollover::history::{Entry, Event};
use crate::rollover::input::Input;
use crate::rollover::store::Store;

/// Show what daneroll did, oldest first.
#[derive(Debug, Clone, clap::Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub state: StateDirFlag,
    /// Only this host.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Print JSON Lines instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `daneroll history`: the state directory is `--state-dir`, else the config's
/// `state_dir` (as `status` reads it), else the default.
pub fn run(args: HistoryArgs, config_flag: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let (config_path, explicit) = Config::locate(config_flag);
    let config = match Config::load_or_default(&config_path, explicit) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("daneroll: {error}");
            return Ok(exit::code(exit::BAD_INPUT));
        }
    };
    let state_dir = args
        .state
        .state_dir
        .clone()
        .unwrap_or_else(|| config.state_dir.clone());
    let store = Store::existing(&state_dir);
    let hosts = match &args.host {
        Some(host) => vec![host.clone()],
        None => store.hosts().context("listing hosts")?,
    };
    let mut entries = Vec::new();
    for host in &hosts {
        let history = store.read_history(host)?;
        if history.entries.is_empty() && args.host.is_some() {
            eprintln!(
                "daneroll: no history for host {host} in {}",
                state_dir.display()
            );
            return Ok(exit::code(exit::BAD_INPUT));
        }
        for damaged in &history.damaged_lines {
            eprintln!(
                "daneroll: warning: {}: line {} is damaged (a crash mid-write?); skipped",
                damaged.path.display(),
                damaged.line
            );
        }
        entries.extend(history.entries);
    }
    // Stable: entries of one host keep their order when times are equal.
    entries.sort_by_key(|entry| entry.at);
    for entry in &entries {
        let line = if args.json {
            serde_json::to_string(entry)?
        } else {
            format_entry(entry)
        };
        if !write_line(&line)? {
            break;
        }
    }
    Ok(exit::code(exit::OK))
}

/// One entry as a line of text: time, host, kind, what.
pub fn format_entry(entry: &Entry) -> String {
    let (kind, what) = describe(&entry.event);
    format!(
        "{}  {}  {kind:<10} {what}",
        stamp(Some(entry.at)),
        entry.host
    )
}

/// The kind of an event and what it says, for people.
pub fn describe(event: &Event) -> (&'static str, String) {
    match event {
        Event::Command(input) => ("command", describe_input(input)),
        Event::Intent(action) => ("intent", action.to_string()),
        Event::Outcome(Input::Failed { action, error }) => ("FAILED", format!("{action}: {error}")),
        Event::Outcome(input) => ("outcome", describe_input(input)),
        Event::Transition { from, to } => ("state", format!("{from} -> {to}")),
        Event::Notice(notice) if notice.is_alert() => ("ALERT", notice.to_string()),
        Event::Notice(notice) => ("notice", notice.to_string()),
        Event::Wait(wait) => (
            "wait",
            format!("{} until {}", wait.waiting_for, stamp(Some(wait.until))),
        ),
        Event::Error { error } => ("ERROR", error.clone()),
    }
}

/// A command or an outcome in words.
pub fn describe_input(input: &Input) -> String {
    match input {
        Input::Tick => "tick".into(),
        Input::Rollover { trigger } => format!("rollover ({trigger})"),
        Input::Preflight(verdict) => format!(
            "zone {} is {} ({})",
            verdict.zone,
            if verdict.secure {
                "secure"
            } else {
                "NOT secure"
            },
            verdict.detail
        ),
        Input::Certificates(view) => {
            let deployed = view
                .deployed
                .as_ref()
                .map_or("none".into(), |c| c.record.short());
            match &view.staged {
                Some(staged) => format!("deployed {deployed}, staged {}", staged.record.short()),
                None => format!("deployed {deployed}"),
            }
        }
        Input::KeyGenerated { record } => format!("generated key {}", record.short()),
        Input::Published {
            record,
            already_present,
        } => {
            let how = if *already_present {
                " (was already there)"
            } else {
                ""
            };
            format!("published {record}{how}")
        }
        Input::Propagation { report, .. } => match report {
            crate::rollover::input::PropagationReport::Everywhere(p) => format!(
                "served by every authoritative server since {}, resolver TTL bound {}s",
                stamp(Some(p.first_served_everywhere_at)),
                p.resolver_ttl_bound.as_secs()
            ),
            crate::rollover::input::PropagationReport::Incomplete { missing } => {
                let lacking: Vec<String> = missing
                    .iter()
                    .map(|m| format!("{} lacks {}", m.server, m.record.short()))
                    .collect();
                format!("not everywhere yet: {}", lacking.join("; "))
            }
        },
        Input::CertificateRequested { record } => {
            format!("certificate requested for {}", record.short())
        }
        Input::Deployed { record } => format!("deployed certificate with key {}", record.short()),
        Input::Live { presented, seen } if seen.is_empty() => {
            format!("live service presents {}", presented.short())
        }
        Input::Live { presented, seen } => format!(
            "live service presents {} ({})",
            presented.short(),
            seen.join("; ")
        ),
        Input::Retired {
            record,
            already_absent,
        } => {
            let how = if *already_absent {
                " (was already gone)"
            } else {
                ""
            };
            format!("retired {record}{how}")
        }
        Input::Failed { action, error } => format!("{action} failed: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use daneroll_providers::Tlsa;
    use time::macros::datetime;

    use super::*;
    use crate::rollover::input::{Action, ActionKind, Notice};
    use crate::rollover::state::StateName;

    fn entry(event: Event) -> Entry {
        Entry {
            at: datetime!(2026-05-01 12:00 UTC),
            host: "mx1.example.net".into(),
            event,
        }
    }

    #[test]
    fn lines_show_time_host_kind_and_what() {
        let record = Tlsa::new(3, 1, 1, vec![0xAB; 32]);
        let line = format_entry(&entry(Event::Intent(Action::Publish {
            record: record.clone(),
        })));
        assert_eq!(
            line,
            format!("2026-05-01T12:00:00Z  mx1.example.net  intent     publish {record}")
        );
        let failed = format_entry(&entry(Event::Outcome(Input::Failed {
            action: ActionKind::Publish,
            error: "ns0.example.net. refused the update".into(),
        })));
        assert!(
            failed.contains("FAILED     publish: ns0.example.net. refused"),
            "{failed}"
        );
        let alert = format_entry(&entry(Event::Notice(Notice::UnexpectedKey { record })));
        assert!(alert.contains("ALERT"), "{alert}");
        let moved = format_entry(&entry(Event::Transition {
            from: StateName::Ready,
            to: StateName::AwaitingSwap,
        }));
        assert!(
            moved.ends_with("state      ready -> awaiting_swap"),
            "{moved}"
        );
    }
}
