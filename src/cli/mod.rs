//! The command line: one module per subcommand. Raw flags are parsed by clap here and turned
//! into validated settings inside each subcommand's module before anything runs.

pub mod keygen;
pub mod tlsa;

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
pub enum Command {
    /// Print TLSA records for certificates, chains, private keys, public keys and CSRs.
    Tlsa(tlsa::TlsaArgs),
    /// Generate a new private key (mode 0600) and print the 3 1 1 record to publish for it.
    Keygen(keygen::KeygenArgs),
}

/// Runs the parsed command line and returns the process exit status.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Tlsa(args) => tlsa::run(args),
        Command::Keygen(args) => keygen::run(args),
    }
}
