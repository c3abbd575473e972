//! `daneroll hook CLIENT [ARGS…]`: the deploy hook of certbot, acme.sh, dehydrated and lego.
//!
//! Reads the client's own conventions (see [`crate::acme`]), maps the certificate to the
//! configured `[[host]]` entries by name, and stages it for the engine under each host's lock.
//! It returns promptly and never sleeps through a TTL: deploying waits until the key is safe
//! (RFC 7671 §8.1) and is finished by the next `daneroll tick`.
//!
//! Exit status (what each client does with it):
//! - 0: staged (or nothing to do: another handler, a certificate for no configured host);
//! - 4 (ACTION_NEEDED): staged, but its key was never published (emergency path) or is being
//!   retired. certbot logs the hook error and exits 1 (cron mails it), acme.sh reports a failed
//!   deploy, lego reports an error; the certificate stays saved in each case. dehydrated stops
//!   at a failing hook and would skip the remaining certificates, so for dehydrated the alert
//!   goes to stderr and the history and the exit status is 0;
//! - 1 (FAILED): the certificate could not be staged (state directory); 2: bad hook input or
//!   config; 3: a host's lock stayed busy. The client reports these as a failed hook.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use time::OffsetDateTime;

use super::status::StateDirArgs;
use crate::acme::handover::{self, LOCK_WAIT};
use crate::acme::{self, Client, HookEvent, HookInput};
use crate::config::Config;
use crate::exit;
use crate::output::write_line;
use crate::rollover::store::{LockWait, Store};

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
    state: StateDirArgs,
}

fn parse_client(text: &str) -> Result<Client, String> {
    text.parse()
}

/// Runs the hook.
pub fn run(args: HookArgs, config: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
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
    let store = Store::open(&args.state.state_dir)
        .with_context(|| format!("opening {}", args.state.state_dir.display()))?;
    let outcomes = match handover::hand_over(
        &store,
        &hosts,
        &cert,
        OffsetDateTime::now_utc(),
        LockWait::WaitFor(LOCK_WAIT),
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
    // The engine's pass (deploy when safe, emergency publication) runs from `daneroll tick`.
    let status = if alert && client != Client::Dehydrated {
        exit::ACTION_NEEDED
    } else {
        exit::OK
    };
    Ok(exit::code(status))
}
