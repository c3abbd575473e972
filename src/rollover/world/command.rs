//! The world's side of running the operator's commands: see [`crate::process`] for the
//! timeout, the process group and the scrubbed environment.

use std::path::PathBuf;
use std::time::Duration;

use super::{RealWorld, WorldError};

impl RealWorld {
    /// Runs one of the operator's commands (see [`crate::process`]): at most `timeout`, its
    /// process group stopped after that, secrets kept out of its environment; its output goes
    /// to our stderr (stdout is the operator's display).
    pub(super) async fn run_command(
        &self,
        argv: &[String],
        env: &[(&str, String)],
        timeout: Duration,
    ) -> Result<(), WorldError> {
        let shown = argv.join(" ");
        let error = |problem: String| WorldError::Command {
            command: shown.clone(),
            problem,
        };
        let (program, args) = argv.split_first().ok_or_else(|| error("is empty".into()))?;
        let (program, args) = (PathBuf::from(program), args.to_vec());
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let child_env = self.child_env.clone();
        let result = tokio::task::spawn_blocking(move || {
            crate::process::Run {
                program: &program,
                args: &args,
                env: &env,
                child_env: &child_env,
                timeout,
            }
            .run()
        })
        .await
        .map_err(|e| error(format!("could not be waited for: {e}")))?;
        match result {
            Ok(output) => {
                if !output.trim().is_empty() {
                    eprint!("{output}");
                }
                Ok(())
            }
            Err(e) => Err(error(format!("failed: {e}"))),
        }
    }
}
