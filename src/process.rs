//! Running the operator's external commands (`reload`, the source `command`, an ACME client's
//! `renew_command`): bounded in time, in their own process group, with a scrubbed environment.
//!
//! Why: these commands run while daneroll holds the host's lock (or while certbot waits for
//! its hook). A reload that never returns (`reload = ["sleep", "infinity"]`, a wedged
//! `systemctl`) would block every later tick and hook for that host. So each command has a
//! timeout ([`DEFAULT_RELOAD_TIMEOUT`], [`DEFAULT_CERTIFICATE_TIMEOUT`], configurable per host);
//! on timeout the whole process group gets SIGTERM, then SIGKILL after [`KILL_GRACE`], so a
//! shell wrapper's children do not survive it. The engine records the timeout as a failed
//! action and retries it after its backoff.
//!
//! The child's environment is the caller's, minus every secret daneroll knows of: the
//! variables that a `[dns.*] token_env` names, and any other variable holding the same value.
//! daneroll adds its own documented `DANEROLL_*` variables (`DANEROLL_HOST`,
//! `DANEROLL_NEXT_KEY`, `DANEROLL_NEXT_TLSA`, `DANEROLL_REQUESTING`). Variables an ACME
//! client needs for its own DNS-01 plugin (e.g. lego's provider token) are the caller's and
//! pass through unless the config names them as daneroll's token.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a reload may take (`[host.deploy] reload_timeout`).
pub const DEFAULT_RELOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// How long getting a certificate may take: the source `command` or an ACME client's renewal
/// (`[host.source] timeout`); an order with DNS-01 waits for propagation, which takes minutes.
pub const DEFAULT_CERTIFICATE_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// How long a timed-out command's process group has between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(5);

/// How long to wait for the output pipes after the command exited (a daemon it started may
/// hold them open).
const DRAIN_WAIT: Duration = Duration::from_secs(2);

/// The environment variables that never reach a child: the names of daneroll's own secrets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChildEnv {
    secret_names: Vec<String>,
}

impl ChildEnv {
    /// Keeps the variables `names` (and any variable holding the same value) from children.
    pub fn hiding(names: impl IntoIterator<Item = String>) -> Self {
        let mut secret_names: Vec<String> = names.into_iter().collect();
        secret_names.sort();
        secret_names.dedup();
        Self { secret_names }
    }

    /// The secrets of `config`: every `token_env` of a `[dns.*]` section.
    pub fn of_config(config: &crate::config::Config) -> Self {
        use daneroll_providers::credential::TokenSource;
        let names = config
            .dns
            .iter()
            .filter_map(|(section, backend)| match backend {
                crate::config::DnsBackend::Rest(settings) => match settings.token_source(section) {
                    Ok(TokenSource::Env(name)) => Some(name),
                    _ => None,
                },
                _ => None,
            });
        Self::hiding(names)
    }

    /// The caller's environment without the secrets.
    fn inherited(&self) -> Vec<(OsString, OsString)> {
        let secret_values: Vec<OsString> = self
            .secret_names
            .iter()
            .filter_map(std::env::var_os)
            .filter(|value| !value.is_empty())
            .collect();
        std::env::vars_os()
            .filter(|(name, value)| {
                !self
                    .secret_names
                    .iter()
                    .any(|secret| name == secret.as_str())
                    && !secret_values.contains(value)
            })
            .collect()
    }
}

/// Why a command did not succeed. Names the command; holds only the tail of its output.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error(
        "{program} did not finish within {} and was stopped (its process group got SIGTERM, \
         then SIGKILL)", crate::config::format_duration(*.timeout)
    )]
    TimedOut { program: String, timeout: Duration },
    #[error("{program} failed ({status}); its last output: {output}")]
    Failed {
        program: String,
        status: String,
        output: String,
    },
}

/// One command to run.
pub struct Run<'a> {
    pub program: &'a Path,
    pub args: &'a [String],
    /// daneroll's own variables, added to the scrubbed environment.
    pub env: &'a [(String, String)],
    pub child_env: &'a ChildEnv,
    pub timeout: Duration,
}

impl Run<'_> {
    /// The command as a human reads it (for logs and errors).
    pub fn display(&self) -> String {
        let mut out = self.program.display().to_string();
        for arg in self.args {
            out.push(' ');
            out.push_str(arg);
        }
        out
    }

    /// Runs the command to its end or its timeout; returns its output (stderr then stdout)
    /// when it exits 0.
    pub fn run(&self) -> Result<String, RunError> {
        let program = self.display();
        let mut command = Command::new(self.program);
        command
            .args(self.args)
            .env_clear()
            .envs(self.child_env.inherited())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so a timeout stops everything it started.
            .process_group(0);
        let mut child = command.spawn().map_err(|source| RunError::Spawn {
            program: program.clone(),
            source,
        })?;
        // Drain both pipes on threads so a chatty command never blocks on a full pipe.
        let (sender, output) = mpsc::channel();
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let sender = sender.clone();
            std::thread::spawn(move || {
                let mut pipe = pipe;
                let mut text = Vec::new();
                let _ = pipe.read_to_end(&mut text);
                let _ = sender.send(String::from_utf8_lossy(&text).into_owned());
            });
        }
        drop(sender);
        let started = Instant::now();
        let pgid = child.id() as libc::pid_t;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() >= self.timeout => {
                    stop_group(pgid, &mut child);
                    return Err(RunError::TimedOut {
                        program,
                        timeout: self.timeout,
                    });
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(source) => return Err(RunError::Spawn { program, source }),
            }
        };
        let mut text = String::new();
        let deadline = Instant::now() + DRAIN_WAIT;
        while let Ok(part) = output.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            text.push_str(&part);
        }
        if status.success() {
            return Ok(text);
        }
        Err(RunError::Failed {
            program,
            status: describe(status),
            output: tail(&text, 600),
        })
    }
}

/// SIGTERM to the group, SIGKILL after [`KILL_GRACE`], and the leader reaped.
fn stop_group(pgid: libc::pid_t, child: &mut std::process::Child) {
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
    unsafe { libc::kill(-pgid, libc::SIGTERM) };
    let started = Instant::now();
    while started.elapsed() < KILL_GRACE {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Members that ignored SIGTERM (the group outlives its leader while they exist).
    // SAFETY: as above.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    let _ = child.wait();
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}

/// The last `max` bytes of `text` (on a character boundary), on one line.
pub fn tail(text: &str, max: usize) -> String {
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

    fn sh(script: &str, timeout: Duration, child_env: &ChildEnv) -> Result<String, RunError> {
        let args = vec!["-c".to_string(), script.to_string()];
        Run {
            program: Path::new("sh"),
            args: &args,
            env: &[("DANEROLL_HOST".into(), "mx1.example.net".into())],
            child_env,
            timeout,
        }
        .run()
    }

    #[test]
    fn a_hung_command_and_its_children_are_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild");
        let script = format!("sleep 600 & echo $! > {}; wait", pidfile.display());
        let started = Instant::now();
        let error = sh(&script, Duration::from_millis(300), &ChildEnv::default()).unwrap_err();
        assert!(matches!(error, RunError::TimedOut { .. }), "{error}");
        assert!(started.elapsed() < Duration::from_secs(30));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The grandchild got the group's signal: gone (or a zombie of init) soon after.
        let gone = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.is_empty() || stat.contains(") Z ")
        });
        assert!(
            gone,
            "the background child of the timed-out command survived"
        );
    }

    #[test]
    fn a_command_ignoring_sigterm_is_killed() {
        let error = sh(
            "trap '' TERM; sleep 600 & wait; sleep 600",
            Duration::from_millis(200),
            &ChildEnv::default(),
        )
        .unwrap_err();
        assert!(matches!(error, RunError::TimedOut { .. }), "{error}");
    }

    #[test]
    fn failures_carry_the_status_and_the_output_tail() {
        let error = sh(
            "echo boom >&2; exit 3",
            Duration::from_secs(30),
            &ChildEnv::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("boom") && error.contains("exit status 3"),
            "{error}"
        );
    }

    #[test]
    fn a_daemon_holding_the_pipes_does_not_block_success() {
        let started = Instant::now();
        sh(
            "sleep 30 & exit 0",
            Duration::from_secs(60),
            &ChildEnv::default(),
        )
        .unwrap();
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn the_environment_is_scrubbed_of_token_variables() {
        // SAFETY: test-only variables with names no other test uses.
        unsafe {
            std::env::set_var("DANEROLL_TEST_TOKEN_7A4", "s3cret-7a4");
            std::env::set_var("DANEROLL_TEST_COPY_7A4", "s3cret-7a4");
            std::env::set_var("DANEROLL_TEST_PLAIN_7A4", "ordinary");
        }
        let hidden = ChildEnv::hiding(["DANEROLL_TEST_TOKEN_7A4".to_string()]);
        let env = sh("env", Duration::from_secs(30), &hidden).unwrap();
        assert!(!env.contains("s3cret-7a4"), "{env}");
        assert!(env.contains("DANEROLL_TEST_PLAIN_7A4=ordinary"), "{env}");
        assert!(env.contains("DANEROLL_HOST=mx1.example.net"), "{env}");
        assert!(env.contains("PATH="), "{env}");
    }

    #[test]
    fn tail_keeps_the_end() {
        assert_eq!(tail("a\nb\n  c  ", 100), "a b c");
        assert_eq!(tail("0123456789", 3), "789");
    }
}
