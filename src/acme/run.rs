//! Running a client's renew command: bounded in time, its output kept for the error message.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::InjectError;

/// How long a renewal may take before it is stopped (an ACME order with DNS-01 can take minutes).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// A client's renew command line. Each client module builds the stock one; the config may
/// replace it (a wrapper, a different binary path, `--server` for a private CA).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenewCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Extra environment (e.g. `REQUESTS_CA_BUNDLE` for a private ACME server).
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
}

impl RenewCommand {
    pub fn new(program: impl Into<PathBuf>, args: Vec<String>) -> Self {
        Self {
            program: program.into(),
            args,
            env: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
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

    /// The command as a human reads it (for logs and errors).
    pub fn display(&self) -> String {
        let mut out = self.program.display().to_string();
        for arg in &self.args {
            out.push(' ');
            out.push_str(arg);
        }
        out
    }

    /// Runs the command; success is exit status 0 within the timeout.
    pub fn run(&self) -> Result<(), InjectError> {
        let program = self.display();
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| InjectError::Spawn {
                program: program.clone(),
                source,
            })?;
        // Drain both pipes on threads so a chatty client never blocks on a full pipe.
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut text = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut text);
                }
                String::from_utf8_lossy(&text).into_owned()
            })
        };
        let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
        let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
        let started = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() >= self.timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(InjectError::TimedOut {
                        program,
                        seconds: self.timeout.as_secs(),
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(source) => return Err(InjectError::Spawn { program, source }),
            }
        };
        if status.success() {
            return Ok(());
        }
        let mut output = stderr.join().unwrap_or_default();
        output.push_str(&stdout.join().unwrap_or_default());
        Err(InjectError::RenewFailed {
            program,
            status: status.to_string(),
            output: tail(&output, 600),
        })
    }
}

/// The last `max` bytes of `text` (on a character boundary), on one line.
fn tail(text: &str, max: usize) -> String {
    let text = text.trim();
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
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

    #[test]
    fn tail_keeps_the_end() {
        assert_eq!(tail("a\nb\n  c  ", 100), "a b c");
        assert_eq!(tail("0123456789", 3), "789");
    }
}
