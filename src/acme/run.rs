//! Running a client's renew command: bounded in time, in its own process group, with a
//! scrubbed environment (see [`crate::process`]); its output kept for the error message.

use std::path::PathBuf;
use std::time::Duration;

use super::InjectError;
use crate::process::{self, ChildEnv, RunError};

/// How long a renewal may take before it is stopped (an ACME order with DNS-01 can take minutes).
pub const DEFAULT_TIMEOUT: Duration = process::DEFAULT_CERTIFICATE_TIMEOUT;

/// A client's renew command line. Each client module builds the stock one; the config may
/// replace it (a wrapper, a different binary path, `--server` for a private CA).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenewCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Extra environment (e.g. `REQUESTS_CA_BUNDLE` for a private ACME server).
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    /// The secrets kept out of the client's environment.
    pub child_env: ChildEnv,
}

impl RenewCommand {
    pub fn new(program: impl Into<PathBuf>, args: Vec<String>) -> Self {
        Self {
            program: program.into(),
            args,
            env: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            child_env: ChildEnv::default(),
        }
    }

    /// A command line from the config (`renew_command`): the program, then its arguments.
    /// `None` for an empty list (the config refuses one).
    pub fn from_argv(argv: &[String]) -> Option<Self> {
        let (program, args) = argv.split_first()?;
        Some(Self::new(program, args.to_vec()))
    }

    /// Adds arguments at the end.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn with_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Keeps the secrets `child_env` names out of the client's environment.
    pub fn with_child_env(mut self, child_env: ChildEnv) -> Self {
        self.child_env = child_env;
        self
    }

    fn spec(&self) -> process::Run<'_> {
        process::Run {
            program: &self.program,
            args: &self.args,
            env: &self.env,
            child_env: &self.child_env,
            timeout: self.timeout,
        }
    }

    /// The command as a human reads it (for logs and errors).
    pub fn display(&self) -> String {
        self.spec().display()
    }

    /// Runs the command; success is exit status 0 within the timeout.
    pub fn run(&self) -> Result<(), InjectError> {
        match self.spec().run() {
            Ok(_) => Ok(()),
            Err(RunError::Spawn { program, source }) => Err(InjectError::Spawn { program, source }),
            Err(RunError::TimedOut { program, timeout }) => Err(InjectError::TimedOut {
                program,
                seconds: timeout.as_secs(),
            }),
            Err(RunError::Failed {
                program,
                status,
                output,
            }) => Err(InjectError::RenewFailed {
                program,
                status,
                output,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_and_failure_with_output() {
        RenewCommand::new("true", vec![]).run().unwrap();
        let error = RenewCommand::new("sh", vec!["-c".into(), "echo boom >&2; exit 3".into()])
            .run()
            .unwrap_err()
            .to_string();
        assert!(error.contains("boom") && error.contains('3'), "{error}");
    }

    #[test]
    fn a_configured_argv_is_program_then_arguments() {
        let argv = ["lego".to_string(), "--http".into(), "renew".into()];
        let command = RenewCommand::from_argv(&argv).unwrap();
        assert_eq!(command.program, PathBuf::from("lego"));
        assert_eq!(command.args, vec!["--http", "renew"]);
        assert_eq!(RenewCommand::from_argv(&[]), None);
    }

    #[test]
    fn a_hung_command_is_stopped() {
        let error = RenewCommand::new("sleep", vec!["30".into()])
            .with_timeout(Duration::from_millis(200))
            .run()
            .unwrap_err();
        assert!(matches!(error, InjectError::TimedOut { .. }), "{error}");
    }

    #[test]
    fn a_missing_program_is_named() {
        let error = RenewCommand::new("/nonexistent/certbot", vec![])
            .run()
            .unwrap_err()
            .to_string();
        assert!(error.contains("/nonexistent/certbot"), "{error}");
    }
}
