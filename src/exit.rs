//! Exit statuses, the same for every subcommand except `check` (which follows the Nagios plugin
//! convention, see `check`'s own documentation). Listed in the README.

use std::process::ExitCode;

/// Everything asked was done; nothing needs the operator.
pub const OK: u8 = 0;
/// An operation failed (DNS update refused, a server unreachable, a step of a rollover failed).
/// State on disk is unchanged or was advanced only as far as is safe; rerunning is safe.
pub const FAILED: u8 = 1;
/// Bad input: a command-line flag, a config file, a certificate or key file, a record string.
/// Nothing was changed because of it. (clap's own usage errors also exit 2.)
pub const BAD_INPUT: u8 = 2;
/// Another daneroll process holds the lock for a host and `--no-wait` was given, or the wait
/// timed out. Nothing was done for that host.
pub const BUSY: u8 = 3;
/// Done, but the operator must look: an unexpected key was published in an emergency, a
/// certificate expires before its successor's key is safe, a rollover is blocked on a zone that is
/// not secure.
pub const ACTION_NEEDED: u8 = 4;

/// Converts one of the constants above into a process exit code.
pub fn code(status: u8) -> ExitCode {
    ExitCode::from(status)
}
