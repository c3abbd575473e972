//! `daneroll hook CLIENT [ARGS…]`: the deploy hook of certbot, acme.sh, dehydrated and lego.
//!
//! Reads the client's own conventions (see [`crate::acme`]), maps the certificate to the
//! configured `[[host]]` entries by name, and stages it for the engine under each host's lock.
//! Then it runs ONE engine pass (as `daneroll tick --host H`) for each host with a
//! `[host.deploy]` table: the pre-published next key, already safe, is deployed at once; an
//! unexpected key takes the engine's emergency path (published now, deployed by a later `tick`
//! once safe, RFC 7671 §8.1). The pass never sleeps through a TTL, so the hook returns promptly.
//! When the engine itself runs the client (`DANEROLL_REQUESTING=H`), the hook only stages: the
//! engine's own pass continues after the client returns.
//!
//! Exit status (what each client does with it):
//! - 0: staged (or nothing to do: another handler, a certificate for no configured host);
//! - 4 (ACTION_NEEDED): staged, but its key was never published (emergency path) or is being
//!   retired. certbot logs the hook error and exits 1 (cron mails it), acme.sh reports a failed
//!   deploy, lego reports an error; the certificate stays saved in each case. dehydrated stops
//!   at a failing hook and would skip the remaining certificates, so for dehydrated the alert
//!   goes to stderr and the history and the exit status is 0;
//! - 1 (FAILED): the certificate could not be staged (state directory) or an action of the
//!   engine pass failed (retried by the next tick); 2: bad hook input or config; 3: a host's
//!   lock stayed busy. The client reports these as a failed hook.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use time::OffsetDateTime;

use super::engine::{Engine, StateDirFlag, print_report};
use crate::acme::handover;
use crate::acme::{self, Client, HookEvent, HookInput};
use crate::config::Config;
use crate::exit;
use crate::output::write_line;
use crate::rollover::driver::{Command, Driver, Mode};
use crate::rollover::store::{LockWait, Store};
use crate::rollover::world::REQUESTING_ENV;

/// Arguments of `daneroll hook`.
#[derive(Debug, Args)]
pub struct HookArgs {
    /// The ACME client calling: certbot, acme.sh, dehydrated or lego.
    #[arg(value_parser = parse_client)]
    client: Client,

    /// The client's hook arguments, passed on unchanged (acme.sh, dehydrated).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,

    #[command(flatten)]
    state: StateDirFlag,
}

fn parse_client(text: &str) -> Result<Client, String> {
    text.parse()
}

/// Runs the hook.
pub fn run(args: HookArgs, config: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let config_path = config;
    let client = args.client;
    let event = match acme::parse(client, &HookInput::from_process(args.args)) {
        Ok(event) => event,
        Err(error) => {
            eprintln!("daneroll: {error}");
            return Ok(exit::code(exit::BAD_INPUT));
        }
    };
    let cert = match event {
        HookEvent::Ignored { .. } => return Ok(exit::code(exit::OK)),
        HookEvent::Deployed(cert) => cert,
    };
    let (path, explicit) = Config::locate(config);
    let config = match Config::load_or_default(&path, explicit) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("daneroll: {error}");
            return Ok(exit::code(exit::BAD_INPUT));
        }
    };
    let hosts = handover::hosts_for(&config.hosts, &cert);
    if hosts.is_empty() {
        // certbot runs directory hooks for every lineage: a web certificate is not an error.
        eprintln!(
            "daneroll: {client} certificate for {} matches no [[host]] in {}; nothing to do",
            cert.domains.join(", "),
            config.path.display()
        );
        return Ok(exit::code(exit::OK));
    }
    // --state-dir / $DANEROLL_STATE_DIR, else the config's state_dir (as `tick` does).
    let state_dir = args
        .state
        .state_dir
        .clone()
        .unwrap_or_else(|| config.state_dir.clone());
    let store =
        Store::open(&state_dir).with_context(|| format!("opening {}", state_dir.display()))?;
    let outcomes = match handover::hand_over(
        &store,
        &hosts,
        &cert,
        OffsetDateTime::now_utc(),
        LockWait::WaitFor(config.lock_wait),
    ) {
        Ok(outcomes) => outcomes,
        Err(error) => {
            eprintln!(
                "daneroll: {client} certificate {}: {error}",
                cert.cert_path.display()
            );
            let status = if error.is_busy() {
                exit::BUSY
            } else if matches!(error, handover::HandoverError::Certificate(_)) {
                exit::BAD_INPUT
            } else {
                exit::FAILED
            };
            return Ok(exit::code(status));
        }
    };
    let mut alert = false;
    for outcome in &outcomes {
        let again = if outcome.newly_staged {
            ""
        } else {
            " (already staged)"
        };
        write_line(&format!(
            "{}: {} {}{again}",
            outcome.host,
            outcome.record,
            outcome.verdict.describe()
        ))?;
        if outcome.verdict.is_alert() {
            alert = true;
            eprintln!(
                "daneroll: ALERT host {}: certificate {} has {}",
                outcome.host,
                cert.cert_path.display(),
                outcome.verdict.describe()
            );
        }
    }
    let requesting = std::env::var(REQUESTING_ENV).ok();
    let to_pass: Vec<String> = hosts
        .iter()
        .filter(|h| h.deploy.is_some() && requesting.as_deref() != Some(h.name.as_str()))
        .map(|h| h.name.clone())
        .collect();
    let pass = if to_pass.is_empty() {
        PassOutcome::default()
    } else {
        engine_pass(&to_pass, config_path, &state_dir)?
    };
    alert |= pass.alert;
    // dehydrated stops at a failing hook (skipping its other certificates); the certificate is
    // staged and the next tick retries, so for dehydrated the failure is reported on stderr.
    let status = if pass.failed && client != Client::Dehydrated {
        exit::FAILED
    } else if pass.busy && client != Client::Dehydrated {
        exit::BUSY
    } else if alert && client != Client::Dehydrated {
        exit::ACTION_NEEDED
    } else {
        exit::OK
    };
    Ok(exit::code(status))
}

/// What the engine pass of the hook found.
#[derive(Debug, Default)]
struct PassOutcome {
    failed: bool,
    alert: bool,
    busy: bool,
}

/// One tick-mode driver pass for each of `hosts` (never sleeps through a TTL).
fn engine_pass(
    hosts: &[String],
    config_path: Option<&std::path::Path>,
    state_dir: &std::path::Path,
) -> anyhow::Result<PassOutcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let mut outcome = PassOutcome::default();
        let flag = StateDirFlag {
            state_dir: Some(state_dir.to_path_buf()),
        };
        let engine = match Engine::open(config_path, &flag) {
            Ok(engine) => engine,
            Err(refusal) => {
                eprintln!("daneroll: engine pass: {}", refusal.message);
                outcome.failed = true;
                return Ok(outcome);
            }
        };
        let store = Store::open(&engine.state_dir)
            .with_context(|| format!("state directory {}", engine.state_dir.display()))?;
        for name in hosts {
            let host = match engine.hosts(Some(name)) {
                Ok(mut found) => found.remove(0),
                Err(refusal) => {
                    eprintln!("daneroll: {name}: {}", refusal.message);
                    outcome.failed = true;
                    continue;
                }
            };
            let mut world = match engine.world(&host, store.clone()) {
                Ok(world) => world,
                Err(refusal) => {
                    eprintln!("daneroll: {name}: {}", refusal.message);
                    outcome.failed = true;
                    continue;
                }
            };
            let wait = LockWait::WaitFor(engine.config.lock_wait);
            let mut driver = Driver::new(&store, &mut world, &engine.config.policy, wait);
            match driver.run(name, Command::Tick, Mode::Once).await {
                Ok(report) => {
                    outcome.failed |= report.failures > 0;
                    outcome.alert |= report.needs_action();
                    print_report(&report, false)?;
                }
                Err(error) if error.is_busy() => {
                    outcome.busy = true;
                    eprintln!("daneroll: {error}");
                }
                Err(error) => {
                    outcome.failed = true;
                    eprintln!("daneroll: {name}: {error}");
                }
            }
        }
        Ok(outcome)
    })
}
