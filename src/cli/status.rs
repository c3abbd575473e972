//! `daneroll status [--host H] [--json]`: per host, where its rollover stands, read from the
//! state directory without taking any lock (state files are replaced atomically, so a read
//! always sees a whole file) and without touching DNS.
//!
//! For each host: the state (named after what it waits for), the current and next keys' records
//! and how far the next one got (published, propagated, safe since), records being retired, the
//! zone's last DNSSEC verdict, the last failure, and the next step with its time. For a host
//! whose certificates come from an ACME client (`[host.source] type = …`, read from the config
//! when there is one): the client, where it takes its next key from, whether its key files
//! agree with daneroll's view, and the command that repairs each disagreement
//! ([`crate::acme::status`]).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use daneroll_providers::Tlsa;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::engine::StateDirFlag;
use crate::acme::status::{ClientStatus, DanerollView, shell};
use crate::config::Config;
use crate::exit;
use crate::output::write_stdout;
use crate::reports::status::{HostReports, Reports};
use crate::rollover::Policy;
use crate::rollover::input::{Next, Waiting};
use crate::rollover::state::{Retry, Stage, StateName, ZoneCheck};
use crate::rollover::store::{SavedState, Store};

/// Show where each host's rollover stands.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub state: StateDirFlag,
    /// Only this host.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One host's status, as `status --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostStatus {
    pub host: String,
    pub state: StateName,
    /// What the state waits for, in words.
    pub summary: &'static str,
    pub current: Option<KeyStatus>,
    pub next: Option<KeyStatus>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retiring: Vec<Tlsa>,
    pub zone: Option<ZoneCheck>,
    pub last_failure: Option<Retry>,
    pub next_step: NextStep,
    #[serde(with = "time::serde::rfc3339")]
    pub saved_at: OffsetDateTime,
    /// The host's ACME client and whether its key files agree (hosts with `type = …` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acme: Option<ClientStatus>,
    /// The senders' TLS reports for the host (with `[reports] dir` configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reports: Option<HostReports>,
}

/// A key by its record, and how far it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyStatus {
    pub record: Tlsa,
    /// `live`, `generated`, `published`, `propagated` or `safe`.
    pub status: &'static str,
    /// Since when it has that status.
    #[serde(with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    /// When it is (or became) safe to deploy.
    #[serde(with = "time::serde::rfc3339::option")]
    pub safe_at: Option<OffsetDateTime>,
    /// Servers that did not serve it at the last look.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// What set the wait: `2 × TTL 3600 (RRSIG original TTL at ns2.example. (…))`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_reason: Option<String>,
}

/// What happens next: an action due now, or a wait.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NextStep {
    /// The action due now, in words.
    pub action: Option<String>,
    pub waiting_for: Option<Waiting>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub at: Option<OffsetDateTime>,
}

/// Runs `daneroll status`.
pub fn run(args: StatusArgs, config_flag: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    // The config is optional here (status reads the state directory); one that was asked for
    // must load.
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
    let now = OffsetDateTime::now_utc();
    let reports = Reports::read(&config, &state_dir, now);
    let mut statuses = Vec::new();
    for host in &hosts {
        match store.read_state(host)? {
            Some(saved) => {
                let mut status = host_status(&saved, now, &config.policy);
                status.acme = client_status(&config, explicit, &store, &saved);
                status.reports = reports.as_ref().map(|r| r.host(host));
                statuses.push(status);
            }
            None if args.host.is_some() => {
                eprintln!(
                    "daneroll: no state for host {host} in {}",
                    state_dir.display()
                );
                return Ok(exit::code(exit::BAD_INPUT));
            }
            None => {}
        }
    }
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(&statuses)?;
        json.push('\n');
        json
    } else if statuses.is_empty() {
        format!(
            "no hosts in {} yet (`daneroll tick` adopts the configured hosts)\n",
            state_dir.display()
        )
    } else {
        render_text(&statuses, now)
    };
    write_stdout(&text)?;
    Ok(exit::code(exit::OK))
}

/// The ACME client's side of a host configured with `[host.source] type = …`.
fn client_status(
    config: &Config,
    explicit: bool,
    store: &Store,
    saved: &SavedState,
) -> Option<ClientStatus> {
    let host = &saved.rollover.host;
    let source = config.host(host)?.source.as_ref()?.acme.as_ref()?;
    let stage = &saved.rollover.stage;
    let next = stage.next_record().map(|next| {
        let path = store.private_key_path(host, next).ok();
        (next.clone(), path)
    });
    let staged = crate::acme::staged::read(store, host)
        .ok()
        .flatten()
        .map(|s| s.record);
    let mut view = DanerollView {
        host: host.clone(),
        current: stage.current().map(|c| c.record.clone()),
        next,
        staged,
        env_prefix: Vec::new(),
        flags: Vec::new(),
    };
    if store.dir() != config.state_dir {
        view.env_prefix
            .push(format!("DANEROLL_STATE_DIR={}", shell(store.dir())));
    }
    if explicit {
        view.flags = vec!["--config".into(), shell(&config.path)];
    }
    Some(crate::acme::status::check(source, &view))
}

/// Builds one host's status from its saved state.
pub fn host_status(saved: &SavedState, now: OffsetDateTime, policy: &Policy) -> HostStatus {
    let rollover = &saved.rollover;
    let stage = &rollover.stage;
    let current = stage.current().map(|current| KeyStatus {
        record: current.record.clone(),
        status: "live",
        since: Some(current.live_since),
        safe_at: None,
        missing: Vec::new(),
        wait_reason: None,
    });
    let next_step = match rollover.plan(now, policy) {
        Next::Act(action) => NextStep {
            action: Some(action.to_string()),
            waiting_for: None,
            at: None,
        },
        Next::TooEarly(wait) => NextStep {
            action: None,
            waiting_for: Some(wait.waiting_for),
            at: Some(wait.until),
        },
    };
    HostStatus {
        host: rollover.host.clone(),
        state: stage.name(),
        summary: summary(stage.name()),
        current,
        next: next_status(stage, policy),
        retiring: stage.retiring().to_vec(),
        zone: rollover.zone.clone(),
        last_failure: rollover.retry.clone(),
        next_step,
        saved_at: saved.saved_at,
        acme: None,
        reports: None,
    }
}

fn next_status(stage: &Stage, policy: &Policy) -> Option<KeyStatus> {
    let key = |record: &Tlsa, status, since, safe_at, missing: &[String]| KeyStatus {
        record: record.clone(),
        status,
        since,
        safe_at,
        missing: missing.to_vec(),
        wait_reason: None,
    };
    Some(match stage {
        Stage::AwaitingPublication { incoming, .. } => key(
            &incoming.next.record,
            "generated",
            Some(incoming.next.since),
            None,
            &[],
        ),
        Stage::AwaitingPropagation {
            incoming,
            published_at,
            missing,
            ..
        } => key(
            &incoming.next.record,
            "published",
            Some(*published_at),
            None,
            missing,
        ),
        Stage::AwaitingCacheExpiry {
            incoming,
            propagated,
            ..
        } => KeyStatus {
            wait_reason: Some(propagated.wait_reason(policy.safety_factor)),
            ..key(
                &incoming.next.record,
                "propagated",
                Some(propagated.first_served_everywhere_at),
                Some(propagated.safe_at(policy.safety_factor)),
                &[],
            )
        },
        Stage::Ready { next, .. } | Stage::AwaitingSwap { next, .. } => key(
            &next.record,
            "safe",
            Some(next.safe_since),
            Some(next.safe_since),
            &[],
        ),
        _ => return None,
    })
}

/// What each state waits for, for people.
pub fn summary(state: StateName) -> &'static str {
    match state {
        StateName::AwaitingCurrentKey => "first look at the deployed certificate",
        StateName::AwaitingCurrentPublication => "the live key's record to be published",
        StateName::AwaitingCurrentPropagation => {
            "every authoritative server to serve the live key's record"
        }
        StateName::AwaitingNextKey => "a next key to be generated",
        StateName::AwaitingPublication => "the next key's record to be published",
        StateName::AwaitingPropagation => {
            "every authoritative server to serve the next key's record"
        }
        StateName::AwaitingCacheExpiry => "resolver caches to expire",
        StateName::Ready => "steady: current and next published and safe",
        StateName::AwaitingSwap => "a certificate with the next key to be deployed",
        StateName::AwaitingLiveConfirmation => "the live service to present the new key",
        StateName::AwaitingRetirement => "old records to be removed",
    }
}

/// The text form: one block per host.
pub fn render_text(statuses: &[HostStatus], now: OffsetDateTime) -> String {
    let mut out = String::new();
    for status in statuses {
        out.push_str(&format!(
            "{}: {} ({})\n",
            status.host, status.state, status.summary
        ));
        if let Some(current) = &status.current {
            out.push_str(&format!(
                "  current   {}  live since {}\n",
                current.record.short(),
                stamp(current.since)
            ));
        }
        if let Some(next) = &status.next {
            out.push_str(&format!(
                "  next      {}  {} since {}",
                next.record.short(),
                next.status,
                stamp(next.since)
            ));
            if let Some(safe_at) = next.safe_at.filter(|_| next.status != "safe") {
                out.push_str(&format!(", safe at {}", when(safe_at, now)));
                if let Some(reason) = &next.wait_reason {
                    out.push_str(&format!(": {reason}"));
                }
            }
            if !next.missing.is_empty() {
                out.push_str(&format!(", not yet on {}", next.missing.join(", ")));
            }
            out.push('\n');
        }
        for record in &status.retiring {
            out.push_str(&format!("  retiring  {}\n", record.short()));
        }
        if let Some(zone) = &status.zone {
            let verdict = if zone.secure { "secure" } else { "NOT SECURE" };
            out.push_str(&format!(
                "  zone      {} {verdict} ({}), checked {}\n",
                zone.zone,
                zone.detail,
                stamp(Some(zone.checked_at))
            ));
        }
        if let Some(failure) = &status.last_failure {
            out.push_str(&format!(
                "  failing   {} failed {} time(s), last at {}: {}\n",
                failure.action,
                failure.failures,
                stamp(Some(failure.last_failure_at)),
                failure.error
            ));
        }
        if let Some(acme) = &status.acme {
            render_client(&mut out, acme);
        }
        if let Some(reports) = &status.reports {
            match &reports.latest {
                Some(day) => out.push_str(&format!("  reports   {}\n", day.text())),
                None => out.push_str("  reports   none for this host yet\n"),
            }
            for alert in &reports.alerts {
                out.push_str(&format!("  ALERT     {alert}\n"));
            }
        }
        match (&status.next_step.action, status.next_step.at) {
            (Some(action), _) => out.push_str(&format!("  next step {action} (due now)\n")),
            (None, Some(at)) => {
                let waiting = status
                    .next_step
                    .waiting_for
                    .map_or(String::new(), |w| w.to_string());
                out.push_str(&format!("  waiting   {waiting}, until {}\n", when(at, now)));
            }
            (None, None) => {}
        }
    }
    out
}

/// The ACME client's lines: where the next key goes, then one line per key file check.
fn render_client(out: &mut String, acme: &ClientStatus) {
    use crate::acme::status::{CheckKind, NextKeyWritten};
    let when = match acme.next_key_written {
        NextKeyWritten::Kept => "kept there between renewals",
        NextKeyWritten::AtRotation => "written there when daneroll renews",
    };
    out.push_str(&format!(
        "  acme      {}: next key in {} ({when})\n",
        acme.client,
        acme.next_key_file.display()
    ));
    for check in &acme.checks {
        let what = match check.check {
            CheckKind::CurrentKey => "current key",
            CheckKind::NextKey => "next key",
        };
        let found = check.found.as_ref().map_or("-".into(), Tlsa::short);
        let mut line = format!(
            "  client    {what} {} {}: {}",
            check.file.display(),
            found,
            check.verdict.describe()
        );
        if !check.verdict.is_ok()
            && let Some(expected) = &check.expected
        {
            line.push_str(&format!(" (daneroll expects {})", expected.short()));
        }
        out.push_str(&line);
        out.push('\n');
        if let Some(repair) = &check.repair {
            out.push_str(&format!("  repair    {repair}\n"));
        }
    }
}

/// RFC 3339, or `-`.
pub fn stamp(at: Option<OffsetDateTime>) -> String {
    at.and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_else(|| "-".into())
}

/// A time with how far away it is: `2026-05-01T12:10:20Z (in 9m 20s)`.
pub fn when(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let stamp = stamp(Some(at));
    let delta = at - now;
    if delta.is_positive() {
        let secs = delta.whole_seconds().unsigned_abs();
        format!("{stamp} (in {})", human(Duration::from_secs(secs)))
    } else {
        format!("{stamp} (passed)")
    }
}

/// `2d 3h`, `9m 20s`, `45s`: the two largest units.
pub fn human(duration: Duration) -> String {
    let secs = duration.as_secs();
    let units = [(86400, "d"), (3600, "h"), (60, "m"), (1, "s")];
    let parts: Vec<String> = units
        .iter()
        .scan(secs, |left, (size, unit)| {
            let count = *left / size;
            *left %= size;
            Some((count, *unit))
        })
        .skip_while(|(count, _)| *count == 0)
        .take(2)
        .filter(|(count, _)| *count > 0)
        .map(|(count, unit)| format!("{count}{unit}"))
        .collect();
    if parts.is_empty() {
        "0s".into()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::dns::safe_time::{TtlBound, TtlKind};
    use crate::rollover::Propagated;
    use crate::rollover::Rollover;
    use crate::rollover::state::{CurrentKey, Incoming, KeyOrigin, NextKey};

    const NOW: OffsetDateTime = datetime!(2026-05-01 12:05 UTC);

    fn rec(n: u8) -> Tlsa {
        Tlsa::new(3, 1, 1, vec![n; 32])
    }

    fn saved(stage: Stage) -> SavedState {
        let mut rollover = Rollover::new("mx1.example.net");
        rollover.stage = stage;
        SavedState {
            rollover,
            saved_at: NOW,
        }
    }

    fn cache_expiry() -> Stage {
        Stage::AwaitingCacheExpiry {
            current: CurrentKey {
                record: rec(0xA),
                live_since: datetime!(2026-01-01 0:00 UTC),
            },
            incoming: Incoming {
                next: NextKey {
                    record: rec(0xB),
                    origin: KeyOrigin::Generated,
                    since: datetime!(2026-05-01 11:59 UTC),
                },
                swap: None,
            },
            propagated: Propagated {
                first_served_everywhere_at: datetime!(2026-05-01 12:00 UTC),
                resolver_ttl_bound: Duration::from_secs(300),
                bound_set_by: Some(TtlBound::new(
                    300,
                    TtlKind::RrsigOriginal,
                    Some("ns2.example.net. (192.0.2.2:53)".into()),
                )),
                confirmed_at: Some(NOW),
                unconfirmed_at: None,
            },
        }
    }

    #[test]
    fn shows_keys_the_safe_time_and_the_wait() {
        let status = host_status(&saved(cache_expiry()), NOW, &Policy::default());
        assert_eq!(status.state, StateName::AwaitingCacheExpiry);
        let next = status.next.as_ref().unwrap();
        assert_eq!(next.status, "propagated");
        assert_eq!(next.safe_at, Some(datetime!(2026-05-01 12:10 UTC)));
        assert_eq!(status.next_step.waiting_for, Some(Waiting::CacheExpiry));
        let text = render_text(&[status], NOW);
        assert!(
            text.starts_with(
                "mx1.example.net: awaiting_cache_expiry (resolver caches to expire)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("current   3 1 1 0A0A0A0A…  live since 2026-01-01T00:00:00Z"),
            "{text}"
        );
        assert!(
            text.contains(
                "safe at 2026-05-01T12:10:00Z (in 5m): 2 × TTL 300 (RRSIG original TTL at \
                 ns2.example.net. (192.0.2.2:53))"
            ),
            "{text}"
        );
        // Meanwhile a look every poll_interval: a server that stops serving restarts the clock.
        assert!(
            text.contains(
                "waiting   resolver caches to expire, until 2026-05-01T12:06:00Z (in 1m)"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_due_action_is_shown_as_such() {
        let status = host_status(&saved(Stage::AwaitingCurrentKey), NOW, &Policy::default());
        assert_eq!(
            status.next_step.action.as_deref(),
            Some("read the certificates on disk")
        );
        assert!(render_text(&[status], NOW).contains("(due now)"));
    }

    #[test]
    fn json_names_the_state_and_the_records() {
        let status = host_status(&saved(cache_expiry()), NOW, &Policy::default());
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["state"], "awaiting_cache_expiry");
        assert_eq!(json["next"]["record"], rec(0xB).to_string());
        assert_eq!(json["next"]["safe_at"], "2026-05-01T12:10:00Z");
        assert_eq!(json["next_step"]["waiting_for"], "cache_expiry");
        assert_eq!(
            json["next"]["wait_reason"],
            "2 × TTL 300 (RRSIG original TTL at ns2.example.net. (192.0.2.2:53))"
        );
    }

    #[test]
    fn human_durations_keep_two_units() {
        assert_eq!(human(Duration::from_secs(0)), "0s");
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_secs(560)), "9m 20s");
        assert_eq!(human(Duration::from_secs(3600)), "1h");
        assert_eq!(
            human(Duration::from_secs(2 * 86400 + 3 * 3600 + 59)),
            "2d 3h"
        );
    }
}
