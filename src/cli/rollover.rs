//! `daneroll rollover [--host H] [--dry-run]`: the manual path.
//!
//! Without `--dry-run` it drives a complete rollover in the foreground and shows each step:
//! the preflight, what every authoritative server serves, the countdown to the safe time, the
//! swap, the live check and the retirement. It returns once the host is back in the steady
//! state (current + next published and safe, RFC 7671 §8.1). Without `--host` every configured
//! host rolls at once (each under its own lock), so their waits overlap. A failing step (DNS
//! update refused, ACME server down) is retried after 30 s and 1 min; at the next, longer
//! backoff the command returns with exit status 1 and what it waits for, and `tick` carries on
//! from the saved state.
//!
//! A re-run after a `rollover` that was killed once its swap had happened finishes that rollover
//! and stops: the state remembers the request until the steady state after its swap, so the
//! key changes once (with an ACME source: one certificate order). `--again` rolls once more.
//!
//! `--dry-run` changes nothing (no state written, no key generated, no DNS touched): it reads
//! the zone's verdict, the certificates on disk and the TTLs the authoritative servers serve,
//! runs the machine on a copy of the state, and prints every record to add and remove with its
//! owner name, every wait with its length and the TTLs it came from, and the swap.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use time::OffsetDateTime;

use super::engine::{Engine, StateDirFlag, print_report};
use crate::config::Host;
use crate::dns::safe_time::{SafetyFactor, TtlBound};
use crate::exit;
use crate::output::write_line;
use crate::rollover::driver::{Command, Driver, Mode};
use crate::rollover::dry_run::{Assumptions, Planned, plan_rollover};
use crate::rollover::input::{Action, Waiting};
use crate::rollover::state::{Rollover, Trigger};
use crate::rollover::store::{LockWait, Store};
use crate::rollover::world::RealWorld;

#[derive(Debug, Args)]
pub struct RolloverArgs {
    /// Only this host (default: every configured host, all at once).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Print the plan; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Roll to a new key even when the last `rollover` was interrupted after its swap (by
    /// default a re-run only finishes that one: one key change, one certificate order).
    #[arg(long)]
    pub again: bool,
    #[command(flatten)]
    pub state: StateDirFlag,
}

pub fn run(args: RolloverArgs, config_flag: Option<&Path>) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(rollover(args, config_flag))
}

async fn rollover(args: RolloverArgs, config_flag: Option<&Path>) -> anyhow::Result<ExitCode> {
    let engine = match Engine::open(config_flag, &args.state) {
        Ok(engine) => engine,
        Err(refusal) => return Ok(refusal.exit()),
    };
    let hosts = match engine.hosts(args.host.as_deref()) {
        Ok(hosts) => hosts,
        Err(refusal) => return Ok(refusal.exit()),
    };
    let mut status = exit::OK;
    let mut ready = Vec::new();
    for host in hosts {
        if host.deploy.is_none() {
            eprintln!(
                "daneroll: {}: no [host.deploy] table: the MTA's files are unknown",
                host.name
            );
            status = exit::BAD_INPUT;
            continue;
        }
        if args.dry_run {
            match dry_run(&engine, &host).await {
                Ok(code) => status = status.max(code),
                Err(message) => {
                    eprintln!("daneroll: {}: {message}", host.name);
                    status = exit::FAILED;
                }
            }
        } else {
            ready.push(host);
        }
    }
    if !ready.is_empty() {
        let command = if args.again {
            Command::Rollover(Trigger::Operator)
        } else {
            Command::RolloverOrFinish(Trigger::Operator)
        };
        status = status.max(foreground(&engine, ready, command).await);
    }
    Ok(exit::code(status))
}

/// Rolls every host at once, each with its own lock, world and driver, so the waits overlap:
/// ten hosts take as long as the slowest, not ten times as long. With several hosts each line
/// starts with the host's name.
async fn foreground(engine: &Engine, hosts: Vec<Host>, command: Command) -> u8 {
    let store = match Store::open(&engine.state_dir) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("daneroll: {e}");
            return exit::FAILED;
        }
    };
    let several = hosts.len() > 1;
    let mut status = exit::OK;
    let mut rolling = tokio::task::JoinSet::new();
    for host in hosts {
        let mut world = match engine.world(&host, store.clone()) {
            Ok(world) => world,
            Err(refusal) => {
                eprintln!("daneroll: {}: {}", host.name, refusal.message);
                status = status.max(exit::BAD_INPUT);
                continue;
            }
        };
        world.verbose = true;
        world.label_lines = several;
        world.countdown = !several;
        let store = store.clone();
        let policy = engine.config.policy.clone();
        rolling.spawn(async move {
            let _ = write_line(&format!("rollover of {}", host.name));
            let mut driver = Driver::new(&store, &mut world, &policy, LockWait::Wait);
            let result = driver.run(&host.name, command, Mode::Foreground).await;
            (host.name, result)
        });
    }
    while let Some(joined) = rolling.join_next().await {
        let code = match joined {
            Ok((_, Ok(report))) => {
                let printed = print_report(&report, false);
                if report.failures > 0 || printed.is_err() {
                    exit::FAILED
                } else if report.needs_action() {
                    exit::ACTION_NEEDED
                } else {
                    exit::OK
                }
            }
            Ok((host, Err(e))) => {
                eprintln!("daneroll: {host}: {e}");
                exit::FAILED
            }
            Err(e) => {
                eprintln!("daneroll: a rollover task failed: {e}");
                exit::FAILED
            }
        };
        status = status.max(code);
    }
    status
}

async fn dry_run(engine: &Engine, host: &Host) -> Result<u8, String> {
    // Read-only: the store is not created, nothing is locked or written.
    let store = Store::existing(&engine.state_dir);
    let world = engine.world(host, store.clone()).map_err(|r| r.message)?;
    let say = |line: String| write_line(&line).map_err(|e| e.to_string());
    say(format!(
        "dry run for {}: nothing is written, no key generated, no DNS touched",
        host.name
    ))?;
    let rollover = store
        .read_state(&host.name)
        .map_err(|e| e.to_string())?
        .map(|saved| saved.rollover)
        .unwrap_or_else(|| Rollover::new(host.name.clone()));
    let zone = world.zone_verdict().await.map_err(|e| e.to_string())?;
    let disk = world.disk().map_err(|e| e.to_string())?;
    let mut records = rollover.stage.known_records();
    if let Some(deployed) = &disk.deployed
        && !records.contains(&deployed.record)
    {
        records.push(deployed.record.clone());
    }
    let (_, bound) = world.look(&records).await.map_err(|e| e.to_string())?;
    let now = OffsetDateTime::now_utc();
    say(format!(
        "state: {}; zone {}: {}",
        rollover.stage.name(),
        zone.zone,
        if zone.secure { "secure" } else { "NOT secure" }
    ))?;
    let policy = &engine.config.policy;
    let plan = plan_rollover(
        &rollover,
        now,
        policy,
        &Assumptions {
            zone,
            disk,
            bound: bound.clone(),
        },
    )
    .map_err(|e| e.to_string())?;
    for step in &plan {
        for line in describe(
            step,
            &world,
            &bound,
            policy.safety_factor,
            policy.poll_interval,
            now,
        ) {
            say(line)?;
        }
    }
    Ok(exit::OK)
}

/// The lines the dry run prints for one planned step.
fn describe(
    step: &Planned,
    world: &RealWorld,
    bound: &TtlBound,
    factor: SafetyFactor,
    poll: std::time::Duration,
    now: OffsetDateTime,
) -> Vec<String> {
    let host = world.host();
    let offset = |at: OffsetDateTime| format!("T+{}s", (at - now).whole_seconds().max(0));
    match step {
        Planned::Wait {
            from,
            until,
            waiting_for,
        } => {
            let length = step.length().as_secs();
            let why = match waiting_for {
                Waiting::CacheExpiry => format!(
                    ", safe at {}: {factor} × {bound}, polling every {}s meanwhile",
                    offset(*until),
                    poll.as_secs()
                ),
                _ => String::new(),
            };
            vec![format!(
                "{}  wait {length}s for {waiting_for}{why}",
                offset(*from)
            )]
        }
        Planned::Act { at, action } => {
            let at = offset(*at);
            match action {
                Action::Publish { record } => world
                    .owners()
                    .iter()
                    .map(|owner| format!("{at}  add    {owner} {} IN TLSA {record}", host.ttl))
                    .collect(),
                Action::Retire { record, keep } => world
                    .owners()
                    .iter()
                    .map(|owner| {
                        let keep: Vec<String> = keep.iter().map(|k| k.short()).collect();
                        format!(
                            "{at}  remove {owner} IN TLSA {record} (only while {} stays)",
                            keep.join(", ")
                        )
                    })
                    .collect(),
                Action::GenerateNextKey => vec![format!(
                    "{at}  generate the next key ({}) into the state directory, mode 0600",
                    host.key_type.name()
                )],
                Action::RequestCertificate { record } => {
                    match host.source.as_ref().and_then(|s| s.command.as_ref()) {
                        Some(command) => vec![format!(
                            "{at}  swap: run {} with DANEROLL_NEXT_KEY (key of {}) and DANEROLL_NEXT_TLSA",
                            command.join(" "),
                            record.short()
                        )],
                        None => vec![format!(
                            "{at}  swap: waits for a certificate with key {} (no command configured)",
                            record.short()
                        )],
                    }
                }
                Action::Deploy { record } => {
                    let reload = host
                        .deploy
                        .as_ref()
                        .and_then(|d| d.reload.as_ref())
                        .map(|r| format!(", then run {}", r.join(" ")))
                        .unwrap_or_default();
                    vec![format!(
                        "{at}  deploy the certificate with key {} into {}{reload}",
                        record.short(),
                        world.deploy_target()
                    )]
                }
                other => vec![format!("{at}  {other}")],
            }
        }
    }
}
