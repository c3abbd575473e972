//! The command line: one module per subcommand. Raw flags are parsed by clap here and turned
//! into validated settings inside each subcommand's module before anything runs.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod history;
pub mod status;

/// Rolls DANE TLSA records for mail servers without breaking mail.
#[derive(Debug, Parser)]
#[command(name = "daneroll", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show where each host's rollover stands (read-only).
    Status(status::StatusArgs),
    /// Show what daneroll did: intents, outcomes, failures, alerts (read-only).
    History(history::HistoryArgs),
}

/// Runs the parsed command line and returns the process exit status.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Status(args) => status::run(args),
        Command::History(args) => history::run(args),
    }
}
