//! `daneroll completions SHELL` and `daneroll man`: generated from the clap definition, so they
//! never disagree with the binary.

use std::process::ExitCode;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;
use crate::exit;
use crate::output::write_stdout;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: Shell,
}

pub fn completions(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "daneroll", &mut out);
    write_stdout(&String::from_utf8_lossy(&out))?;
    Ok(exit::code(exit::OK))
}

pub fn man() -> anyhow::Result<ExitCode> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    write_stdout(&String::from_utf8_lossy(&out))?;
    Ok(exit::code(exit::OK))
}
