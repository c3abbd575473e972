//! The command line: one module per subcommand. Raw flags are parsed by clap here and turned
//! into validated settings inside each subcommand's module before anything runs.

pub mod records;

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
}

/// Runs the parsed command line and returns the process exit status.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli.config.as_deref();
    match cli.command {
        Command::Records(args) => records::run(args, config),
    }
}
