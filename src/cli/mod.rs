//! The command line: one module per subcommand. Raw flags are parsed by clap here and turned
//! into validated settings inside each subcommand's module before anything runs.

pub mod check;
pub mod config_check;
pub mod demo;
pub mod docs;
pub mod engine;
pub mod history;
pub mod hook;
pub mod keygen;
pub mod records;
pub mod reports;
pub mod rollover;
pub mod status;
pub mod tick;
pub mod tlsa;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Rolls DANE TLSA records for mail servers without breaking mail.
#[derive(Debug, Parser)]
#[command(name = "daneroll", version, about, long_about = None)]
pub struct Cli {
    /// The configuration file [env: DANEROLL_CONFIG; default: /etc/daneroll/daneroll.toml].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show, publish, retire TLSA records and wait until a change is safe.
    Records(records::RecordsArgs),
    /// Print TLSA records for certificates, chains, private keys, public keys and CSRs.
    #[command(
        after_help = "Exit status: 0 every file gave its records; 2 bad input (each bad \
        file is named on stderr with its problem; the other files are still processed)."
    )]
    Tlsa(tlsa::TlsaArgs),
    /// Generate a new private key (mode 0600) and print the 3 1 1 record to publish for it.
    #[command(
        after_help = "Exit status: 0 key (and CSR) written; 1 key generation failed; \
        2 bad input (an existing file, a bad name, an unwritable path): nothing was written."
    )]
    Keygen(keygen::KeygenArgs),
    /// Watch a complete rollover against an in-process signed zone and STARTTLS MX (no setup).
    Demo(demo::DemoArgs),
    /// Check what DANE-enforcing senders see for mail domains or MX hosts (Nagios plugin exit
    /// codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).
    Check(check::CheckArgs),
    /// Summarise SMTP TLS reports (RFC 8460) and line failures up with the rollover history.
    #[command(
        after_help = "Exit status: 0 printed (malformed reports are named, not fatal); 2 bad \
        input. With --nagios: 0 OK, 1 WARNING, 2 CRITICAL (senders reported DANE failures), \
        3 UNKNOWN."
    )]
    Reports(reports::ReportsArgs),
    /// Show where each host's rollover stands (read-only).
    Status(status::StatusArgs),
    /// Show what daneroll did: intents, outcomes, failures, alerts (read-only).
    History(history::HistoryArgs),
    /// The deploy hook of certbot, acme.sh, dehydrated and lego (see hooks/README.md).
    #[command(
        after_help = "Exit status: 0 staged (or not for a configured host); 4 staged, but the \
        key was never published or is being retired (0 for dehydrated, which stops at a failing \
        hook); 1 staging failed; 2 bad hook input or config; 3 a host stayed busy."
    )]
    Hook(hook::HookArgs),
    /// Advance every host as far as is safe now, then return (for cron and systemd timers).
    #[command(
        after_help = "Exit status: 0 ok; 4 action needed (an alert: see the output); 1 an \
        action failed (retried after a backoff); 3 busy (another run holds a host, with \
        --no-wait); 2 bad input."
    )]
    Tick(tick::TickArgs),
    /// Move to the next key now, in the foreground, or print the plan with --dry-run.
    #[command(
        after_help = "Exit status: 0 done (back in the steady state) or plan printed; 4 action \
        needed; 1 failed; 2 bad input."
    )]
    Rollover(rollover::RolloverArgs),
    /// Validate a configuration file and show the effective settings.
    Config(config_check::ConfigArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions(docs::CompletionsArgs),
    /// Print the man page (roff).
    Man,
}

/// Runs the parsed command line and returns the process exit status.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli.config.as_deref();
    match cli.command {
        Command::Records(args) => records::run(args, config),
        Command::Tlsa(args) => tlsa::run(args, config),
        Command::Keygen(args) => keygen::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Check(args) => check::run(args, config),
        Command::Reports(args) => reports::run(args, config),
        Command::Status(args) => status::run(args, config),
        Command::History(args) => history::run(args, config),
        Command::Hook(args) => hook::run(args, config),
        Command::Tick(args) => tick::run(args, config),
        Command::Rollover(args) => rollover::run(args, config),
        Command::Config(args) => config_check::run(args, config),
        Command::Completions(args) => docs::completions(args),
        Command::Man => docs::man(),
    }
}
