//! `daneroll records add|remove`: one record, through the host's backend. (Wired to the
//! providers crate's backend trait.)

use std::path::Path;
use std::process::ExitCode;

use clap::Args;

use super::Target;

#[derive(Debug, Args)]
pub struct AddArgs {
    #[command(flatten)]
    pub target: Target,
    /// The record, e.g. "3 1 1 0A1B…".
    pub record: String,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    pub target: Target,
    /// The record, e.g. "3 1 1 0A1B…".
    pub record: String,
    /// Allow removing the last TLSA record at the name.
    #[arg(long)]
    pub allow_empty: bool,
}

pub async fn add(_args: AddArgs, _config: Option<&Path>) -> anyhow::Result<ExitCode> {
    anyhow::bail!("records add: backend not wired yet")
}

pub async fn remove(_args: RemoveArgs, _config: Option<&Path>) -> anyhow::Result<ExitCode> {
    anyhow::bail!("records remove: backend not wired yet")
}
