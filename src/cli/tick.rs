//! `daneroll tick`: for cron and systemd timers. Advances every host as far as is safe right
//! now and returns; never sleeps through a TTL (the next tick continues).
//!
//! With `[reports] dir` configured, senders' TLS reports of `tlsa-invalid` or `dnssec-invalid`
//! failures after a host's last swap are an alert too (`crate::reports::align::alerts`).
//!
//! Exit status: 0 every host advanced (or waits), 4 an alert needs the operator, 1 an action
//! failed (it is retried after a backoff), 3 a host was busy: another run held its lock for
//! longer than `[policy] lock_wait` (default 2 minutes), or at all with `--no-wait`. A tick
//! that gets the lock re-reads everything.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::engine::{Engine, StateDirFlag, print_report};
use crate::exit;
use crate::output::write_line;
use crate::reports::status::Reports;
use crate::rollover::driver::{Command, Driver, Mode};
use crate::rollover::store::{LockWait, Store};
use time::OffsetDateTime;

#[derive(Debug, Args)]
pub struct TickArgs {
    /// Print only failures and alerts (for cron mail).
    #[arg(long, short)]
    pub quiet: bool,
    /// Do not wait for another run's lock: report the host busy (exit 3). Without it a tick
    /// waits up to `[policy] lock_wait`.
    #[arg(long)]
    pub no_wait: bool,
    /// Only this host.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    #[command(flatten)]
    pub state: StateDirFlag,
}

pub fn run(args: TickArgs, config_flag: Option<&Path>) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(tick(args, config_flag))
}

async fn tick(args: TickArgs, config_flag: Option<&Path>) -> anyhow::Result<ExitCode> {
    let engine = match Engine::open(config_flag, &args.state) {
        Ok(engine) => engine,
        Err(refusal) => return Ok(refusal.exit()),
    };
    let hosts = match engine.hosts(args.host.as_deref()) {
        Ok(hosts) => hosts,
        Err(refusal) => return Ok(refusal.exit()),
    };
    let store = Store::open(&engine.state_dir)
        .with_context(|| format!("state directory {}", engine.state_dir.display()))?;
    let wait = if args.no_wait {
        LockWait::NoWait
    } else {
        LockWait::WaitFor(engine.config.lock_wait)
    };
    let (mut failed, mut alert, mut busy) = (false, false, false);
    for host in hosts {
        if host.deploy.is_none() {
            if !args.quiet {
                eprintln!(
                    "daneroll: {}: skipped (no [host.deploy] table: the MTA's files are unknown)",
                    host.name
                );
            }
            continue;
        }
        let mut world = match engine.world(&host, store.clone()) {
            Ok(world) => world,
            Err(refusal) => {
                eprintln!("daneroll: {}: {}", host.name, refusal.message);
                failed = true;
                continue;
            }
        };
        let mut driver = Driver::new(&store, &mut world, &engine.config.policy, wait);
        match driver.run(&host.name, Command::Tick, Mode::Once).await {
            Ok(report) => {
                failed |= report.failures > 0;
                alert |= report.needs_action();
                print_report(&report, args.quiet)?;
            }
            Err(error) if error.is_busy() => {
                busy = true;
                eprintln!("daneroll: {error}");
            }
            Err(error) => {
                failed = true;
                eprintln!("daneroll: {}: {error}", host.name);
            }
        }
    }
    // The senders' side (RFC 8460 reports in `[reports] dir`): DANE failures reported after a
    // swap mean some sender saw what the promise says it could not.
    if let Some(reports) =
        Reports::read(&engine.config, &engine.state_dir, OffsetDateTime::now_utc())
    {
        for text in reports.alerts() {
            alert = true;
            write_line(&format!("ALERT {text}"))?;
        }
    }
    Ok(exit::code(if failed {
        exit::FAILED
    } else if alert {
        exit::ACTION_NEEDED
    } else if busy {
        exit::BUSY
    } else {
        exit::OK
    }))
}
