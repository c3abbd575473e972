//! `daneroll`: parse the command line, run it, map the outcome to a documented exit status
//! (see `daneroll::exit` and the README).

use std::process::ExitCode;

use clap::Parser;
use daneroll::{cli, exit};

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("daneroll: {error:#}");
            exit::code(exit::FAILED)
        }
    }
}
