//! Daemons the lab starts (named, knotd, unbound) and the short tools it runs (tsig-keygen,
//! dnssec-keygen, rndc, dig, nsupdate).
//!
//! Why a keeper thread: `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits,
//! not the process. Cargo runs each test on its own thread, so a lab kept in a `static` and
//! started by the first test would lose its servers when that test's thread ends. Every daemon is
//! therefore forked by one long-lived keeper thread; the signal then arrives exactly when the
//! test process dies, and nothing outlives it.

use std::fs::File;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Sender};
use std::sync::{Mutex, OnceLock};

/// A running server process. Dropping it kills (SIGKILL) and reaps it.
pub struct Daemon {
    name: String,
    child: Mutex<Child>,
    log: PathBuf,
}

impl Daemon {
    /// Starts `command` in the background, stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Result<Self, String> {
        let out =
            File::create(log).map_err(|e| format!("{name}: create {}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{name}: log {}: {e}", log.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        die_with_parent(&mut command);
        let program = command.get_program().to_string_lossy().into_owned();
        let child =
            spawn_on_keeper(command).map_err(|e| format!("{name}: cannot start {program}: {e}"))?;
        Ok(Self {
            name: name.to_string(),
            child: Mutex::new(child),
            log: log.to_path_buf(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> i32 {
        // invariant: the lock is only held for short non-panicking sections.
        let child = self.child.lock().expect("daemon lock");
        child.id() as i32
    }

    /// Sends `signal` (e.g. `libc::SIGSTOP`) to the daemon.
    pub fn signal(&self, signal: i32) -> Result<(), String> {
        // SAFETY: kill(2) with a pid we own; no memory is shared.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        if rc == 0 {
            Ok(())
        } else {
            Err(format!(
                "{}: kill({signal}): {}",
                self.name,
                io::Error::last_os_error()
            ))
        }
    }

    /// Waits until every thread of the daemon is stopped (after SIGSTOP), at most `limit`.
    pub fn wait_stopped(&self, limit: std::time::Duration) -> Result<(), String> {
        let tasks = format!("/proc/{}/task", self.pid());
        let deadline = std::time::Instant::now() + limit;
        loop {
            let all_stopped = std::fs::read_dir(&tasks)
                .map_err(|e| format!("{}: {tasks}: {e}", self.name))?
                .filter_map(Result::ok)
                .all(|task| {
                    std::fs::read_to_string(task.path().join("stat"))
                        .ok()
                        .and_then(|stat| {
                            let after_name = stat.rsplit_once(") ")?.1.to_string();
                            after_name.chars().next()
                        })
                        .is_some_and(|state| state == 'T' || state == 't')
                });
            if all_stopped {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Err(format!("{}: not stopped after {limit:?}", self.name));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Kills (SIGKILL) and reaps the daemon now; dropping it later does nothing more.
    pub fn stop(&self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// An error with the log's tail if the daemon has exited.
    pub fn ensure_running(&self) -> Result<(), String> {
        // invariant: the lock is only held for short non-panicking sections.
        let mut child = self.child.lock().expect("daemon lock");
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "{} exited ({status}); log {}:\n{}",
                self.name,
                self.log.display(),
                self.log_tail()
            )),
            Err(e) => Err(format!("{}: wait: {e}", self.name)),
        }
    }

    /// An error with the log's tail if the log contains `needle` (e.g. "not loaded due to
    /// errors"), so a broken zone fails the start at once instead of at the timeout.
    pub fn ensure_log_lacks(&self, needle: &str) -> Result<(), String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        if text.contains(needle) {
            return Err(format!(
                "{}: {needle}; log:\n{}",
                self.name,
                self.log_tail()
            ));
        }
        Ok(())
    }

    /// The last lines of the daemon's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs a short tool to completion and returns its stdout; a non-zero exit is an error that
/// shows the command line and stderr.
pub fn run(mut command: Command) -> Result<String, String> {
    let output = output(&mut command)?;
    if !output.status.success() {
        return Err(format!(
            "{:?} failed ({}):\n{}{}",
            command,
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs a short tool and returns whatever it did, success or not.
pub fn output(command: &mut Command) -> Result<Output, String> {
    command.stdin(Stdio::null());
    die_with_parent(command);
    command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))
}

/// Makes the kernel SIGKILL the child when the thread that forked it (the keeper) dies, i.e.
/// when the test process exits for any reason.
fn die_with_parent(command: &mut Command) {
    // SAFETY: getpid is async-signal-safe; this runs before fork.
    let parent = unsafe { libc::getpid() };
    // SAFETY: prctl/getppid are async-signal-safe and touch no memory of the parent.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl.
            if libc::getppid() != parent {
                return Err(io::Error::other("parent exited before the child started"));
            }
            Ok(())
        });
    }
}

type Job = (Command, Sender<io::Result<Child>>);

/// Forks `command` from the keeper thread, which lives as long as the test process.
fn spawn_on_keeper(command: Command) -> io::Result<Child> {
    static KEEPER: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (jobs, incoming) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("lab-keeper".into())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    let _ = reply.send(command.spawn());
                }
            })
            // invariant: spawning a thread only fails when the process is out of resources.
            .expect("start the lab keeper thread");
        Mutex::new(jobs)
    });
    let (reply, result) = mpsc::channel();
    keeper
        .lock()
        .map_err(|_| io::Error::other("lab keeper lock poisoned"))?
        .send((command, reply))
        .map_err(|_| io::Error::other("lab keeper thread is gone"))?;
    result
        .recv()
        .map_err(|_| io::Error::other("lab keeper thread is gone"))?
}
