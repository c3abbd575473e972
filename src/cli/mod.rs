//! The command line: one module per subcommand. Raw flags are parsed by clap here and turned
//! into validated settings inside each subcommand's module before anything runs.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Rolls DANE TLSA records for mail servers without breaking mail.
#[derive(Debug, Parser)]
#[command(name = "daneroll", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {}

/// Runs the parsed command line and returns the process exit status.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {}
}
