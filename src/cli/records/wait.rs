//! `daneroll records wait HOST RECORD`: block until a change is safe, showing progress.
//!
//! On a terminal the display redraws in place: one line per authoritative address and a
//! countdown to the safe time. Otherwise (cron, a hook's log) it prints a line only when
//! something changes, so logs stay short and say when each server caught up.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::Args;

use super::{Refusal, Session, Target, parse_duration, parse_record, survey};
use crate::dns::clock::{Clock, stamp};
use crate::dns::net::HickoryTransport;
use crate::dns::observation::{Expected, ServerVerdict};
use crate::dns::observer::Observer;
use crate::dns::safe_time::{Status, TtlBound, TtlKind};
use crate::dns::wait::{PollReport, WaitOutcome, WaitSettings, wait_until_safe};
use crate::exit;
use crate::output::{write_line, write_stdout};

#[derive(Debug, Args)]
pub struct WaitArgs {
    #[command(flatten)]
    pub target: Target,
    /// The record, e.g. "3 1 1 0A1B…".
    pub record: String,
    /// Wait until the record is gone (retired) instead of present.
    #[arg(long)]
    pub absent: bool,
    /// Give up after this long (90s, 15m, 2h, 1d); default: no limit.
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// The RRset's TTL before the change, if it differed from what is served now.
    #[arg(long, value_name = "SECONDS")]
    pub old_ttl: Option<u32>,
}

pub async fn run(args: WaitArgs, config_flag: Option<&Path>) -> anyhow::Result<ExitCode> {
    let session = match Session::open(config_flag, false) {
        Ok(session) => session,
        Err(refusal) => return Ok(refusal.exit()),
    };
    let prepared = args
        .target
        .resolve(&session)
        .and_then(|target| Ok((target, parse_record(&args.record)?)));
    let (target, record) = match prepared {
        Ok(prepared) => prepared,
        Err(refusal) => return Ok(refusal.exit()),
    };
    let (preflight, observer) = match survey(&session, &target).await {
        Ok(found) => found,
        Err(refusal) => return Ok(refusal.exit()),
    };
    if let Err(refusal) = preflight.require_secure() {
        return Ok(Refusal::action_needed(refusal).exit());
    }
    let expected = Expected {
        record,
        present: !args.absent,
    };
    let settings = WaitSettings {
        safety_factor: session.config.policy.safety_factor,
        timeout: args.timeout,
        known: args
            .old_ttl
            .map(|ttl| TtlBound::new(ttl, TtlKind::Declared, None)),
        ..WaitSettings::default()
    };
    wait_and_report(&session, &observer, &expected, &settings).await
}

/// Waits with a live display and turns the outcome into an exit status.
pub(crate) async fn wait_and_report(
    session: &Session,
    observer: &Observer<HickoryTransport>,
    expected: &Expected,
    settings: &WaitSettings,
) -> anyhow::Result<ExitCode> {
    let tty = std::io::stdout().is_terminal();
    let display = RefCell::new(Display::new(tty, observer, expected));
    let clock = &session.clock as &dyn Clock;
    let waiting = wait_until_safe(observer, expected, settings, clock, |report| {
        display.borrow_mut().poll(report)
    });
    tokio::pin!(waiting);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let outcome = loop {
        tokio::select! {
            outcome = &mut waiting => break outcome,
            _ = tick.tick(), if tty => display.borrow_mut().redraw(clock.now()),
        }
    };
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(refusal) => return Ok(Refusal::action_needed(refusal).exit()),
    };
    display.borrow_mut().finish();
    match outcome {
        WaitOutcome::Safe {
            served_at,
            safe_at,
            bound,
            factor,
        } => {
            write_line(&format!(
                "safe: {expected} at every authoritative address since {}; caches expired at {}: {factor} × {bound}",
                stamp(served_at),
                stamp(safe_at)
            ))?;
            let view = observer.resolver_view().await;
            match &view.outcome {
                Ok(answer)
                    if answer.authenticated
                        && answer.records.contains(&expected.record) == expected.present => {}
                Ok(answer) => eprintln!(
                    "daneroll: warning: resolver {} does not confirm yet (AD={}, {} records); check its DNSSEC validation",
                    view.resolver,
                    answer.authenticated,
                    answer.records.len()
                ),
                Err(error) => eprintln!("daneroll: warning: resolver {}: {error}", view.resolver),
            }
            Ok(exit::code(exit::OK))
        }
        WaitOutcome::TimedOut { laggards, safe_at } => {
            let message = if laggards.is_empty() {
                format!(
                    "timed out: every address serves {expected}, but caches may hold the old answer until {}",
                    safe_at.map(stamp).unwrap_or_else(|| "-".into())
                )
            } else {
                let named: Vec<String> = laggards
                    .iter()
                    .map(|(server, verdict)| format!("{server}: {verdict}"))
                    .collect();
                format!(
                    "timed out waiting for {expected}; not served by: {}",
                    named.join("; ")
                )
            };
            Ok(Refusal::failed(message).exit())
        }
    }
}

/// The progress display: live on a terminal, change-only lines otherwise.
struct Display {
    tty: bool,
    expected: Expected,
    header: String,
    rows: Vec<(SocketAddr, String, String)>,
    status: Option<Status>,
    hold_text: String,
    resolver_text: String,
    drawn: usize,
    holding_announced: Option<SystemTime>,
}

fn mark(verdict: &ServerVerdict) -> &'static str {
    match verdict {
        ServerVerdict::Serving => "[ok]",
        ServerVerdict::Stale => "[..]",
        _ => "[!!]",
    }
}

fn countdown(remaining: Duration) -> String {
    let s = remaining.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

impl Display {
    fn new(tty: bool, observer: &Observer<HickoryTransport>, expected: &Expected) -> Self {
        let header = format!(
            "waiting for {expected} at {} (zone {}, {} authoritative addresses)",
            observer.owner(),
            observer.zone(),
            observer.servers().len()
        );
        if !tty {
            let _ = write_line(&header);
        }
        Self {
            tty,
            expected: expected.clone(),
            header,
            rows: Vec::new(),
            status: None,
            hold_text: String::new(),
            resolver_text: String::new(),
            drawn: 0,
            holding_announced: None,
        }
    }

    fn poll(&mut self, report: &PollReport<'_>) {
        let expected_rows: Vec<(SocketAddr, String, String)> = report
            .observations
            .iter()
            .map(|obs| {
                let verdict = obs.verdict(&self.expected);
                let serial = obs
                    .soa
                    .map(|s| format!("serial {}", s.serial))
                    .unwrap_or_default();
                let line = format!("{} {} {verdict}", mark(&verdict), obs.server);
                (obs.server.addr, line, serial)
            })
            .collect();
        for (addr, line, serial) in expected_rows {
            let known = self.rows.iter_mut().find(|(a, _, _)| *a == addr);
            let changed = known.as_ref().is_none_or(|(_, old, _)| *old != line);
            if changed && !self.tty {
                let _ = write_line(&format!("{}  {line} {serial}", stamp(report.now)));
            }
            match known {
                Some(row) => *row = (addr, line, serial),
                None => self.rows.push((addr, line, serial)),
            }
        }
        self.hold_text = format!("{} × {}", report.factor, report.bound);
        self.resolver_text = match &report.resolver.outcome {
            Ok(answer) => format!(
                "resolver {}: {} AD={} {} records",
                report.resolver.resolver,
                answer.rcode,
                if answer.authenticated { "yes" } else { "no" },
                answer.records.len()
            ),
            Err(error) => format!("resolver: {error}"),
        };
        if !self.tty {
            match report.status {
                Status::Holding {
                    served_at, safe_at, ..
                } if self.holding_announced != Some(*served_at) => {
                    self.holding_announced = Some(*served_at);
                    let _ = write_line(&format!(
                        "{}  every address serves the change since {}; safe at {}: {}",
                        stamp(report.now),
                        stamp(*served_at),
                        stamp(*safe_at),
                        self.hold_text
                    ));
                }
                Status::Propagating { .. } if self.holding_announced.is_some() => {
                    self.holding_announced = None;
                    let _ = write_line(&format!(
                        "{}  an address stopped serving the change; the clock restarts",
                        stamp(report.now)
                    ));
                }
                _ => {}
            }
        }
        self.status = Some(report.status.clone());
        self.redraw(report.now);
    }

    fn redraw(&mut self, now: SystemTime) {
        if !self.tty {
            return;
        }
        let mut lines = vec![self.header.clone()];
        for (_, line, serial) in &self.rows {
            lines.push(format!("  {line}  {serial}"));
        }
        lines.push(format!("  {}", self.resolver_text));
        lines.push(match &self.status {
            None => "  asking every authoritative address…".into(),
            Some(Status::Propagating { waiting_for }) => {
                format!(
                    "  waiting for {} address(es) to serve the change",
                    waiting_for.len()
                )
            }
            Some(Status::Holding {
                safe_at,
                unconfirmed,
                ..
            }) if !unconfirmed.is_empty() && *safe_at <= now => format!(
                "  served everywhere; safe at {}: {}, once {} address(es) confirm again",
                stamp(*safe_at),
                self.hold_text,
                unconfirmed.len()
            ),
            Some(Status::Holding { safe_at, .. }) => format!(
                "  served everywhere; safe in {} at {}: {}",
                countdown(safe_at.duration_since(now).unwrap_or_default()),
                stamp(*safe_at),
                self.hold_text
            ),
            Some(Status::Safe { .. }) => "  safe".into(),
        });
        let mut text = String::new();
        if self.drawn > 0 {
            text.push_str(&format!("\x1b[{}A", self.drawn));
        }
        for line in &lines {
            text.push_str("\x1b[2K");
            text.push_str(line);
            text.push('\n');
        }
        self.drawn = lines.len();
        let _ = write_stdout(&text);
    }

    fn finish(&mut self) {
        self.drawn = 0;
    }
}
