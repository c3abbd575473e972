//! `daneroll`: parse the command line, run it, map the outcome to a documented exit status
//! (see `daneroll::exit` and the README).

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use daneroll::{cli, exit};

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(error) => return usage_error(&error),
    };
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("daneroll: {error:#}");
            exit::code(exit::FAILED)
        }
    }
}

/// Help and version go to stdout with status 0. A usage error is bad input (2), except for
/// `check`, which monitoring runs as a Nagios plugin: there a usage error is UNKNOWN (3), not
/// CRITICAL, so a typo in a service definition does not page anyone as a mail outage.
fn usage_error(error: &clap::Error) -> ExitCode {
    let _ = error.print();
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
        _ if subcommand_is_check() => {
            println!("DANE UNKNOWN - daneroll check: bad command line (see stderr)");
            ExitCode::from(3)
        }
        _ => exit::code(exit::BAD_INPUT),
    }
}

/// Whether the subcommand on the command line is `check` (skipping `--config FILE`).
fn subcommand_is_check() -> bool {
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--config") => {
                args.next();
            }
            Some(flag) if flag.starts_with('-') => {}
            Some(word) => return word == "check",
            None => return false,
        }
    }
    false
}
