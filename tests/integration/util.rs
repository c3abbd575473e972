//! Small helpers shared by the integration tests: a temp dir per test and a way to run the
//! `daneroll` binary and look at what it did.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A temporary directory removed when dropped.
pub struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Self {
        Self {
            dir: tempfile::Builder::new()
                .prefix("daneroll-test-")
                .tempdir()
                // invariant: the system temp dir is writable in tests.
                .expect("create temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The path of `name` inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `contents` to `name` and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(name);
        if let Some(parent) = path.parent() {
            // invariant: the temp dir exists; creating a subdirectory in it succeeds.
            std::fs::create_dir_all(parent).expect("create parent dir");
        }
        // invariant: the temp dir is writable.
        std::fs::write(&path, contents).expect("write test file");
        path
    }
}

/// The `daneroll` binary built for this test run.
pub fn daneroll() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_daneroll"));
    command.stdin(Stdio::null());
    command
}

/// What a finished run printed and how it exited.
pub struct Run {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from_output(output: Output) -> Self {
        Self {
            status: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts the exit status, showing both streams when it differs.
    pub fn expect_status(&self, status: i32) -> &Self {
        assert_eq!(
            self.status,
            Some(status),
            "unexpected exit status\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts success (exit 0).
    pub fn ok(&self) -> &Self {
        self.expect_status(0)
    }

    /// The stdout lines.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// Runs `daneroll` with `args` and collects what it did.
/// Starts `command` with its stdout piped; its lines arrive on the receiver as they are printed
/// (for following a foreground `rollover` while it runs).
pub fn spawn_lines(command: &mut Command) -> (Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    // invariant: the daneroll binary exists (cargo builds it for the tests).
    let mut child = command.stdout(Stdio::piped()).spawn().expect("spawn");
    // invariant: stdout was piped just above.
    let stdout = child.stdout.take().expect("piped stdout");
    let (lines, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines.send(line);
        }
    });
    (child, seen)
}

pub fn run(args: &[&str]) -> Run {
    // invariant: the binary was built by cargo for this test run.
    Run::from_output(daneroll().args(args).output().expect("run daneroll"))
}

/// Runs `daneroll` with `args` in the directory `cwd`.
pub fn run_in(cwd: &Path, args: &[&str]) -> Run {
    // invariant: the binary was built by cargo for this test run.
    Run::from_output(
        daneroll()
            .current_dir(cwd)
            .args(args)
            .output()
            .expect("run daneroll"),
    )
}

/// Runs `daneroll` with `args`, feeding `input` on stdin.
pub fn run_with_stdin(args: &[&str], input: &[u8]) -> Run {
    use std::io::Write;
    let mut child = daneroll()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        // invariant: the binary was built by cargo for this test run.
        .expect("run daneroll");
    // invariant: stdin was requested as a pipe just above.
    let mut stdin = child.stdin.take().expect("stdin pipe");
    // A closed pipe here means daneroll exited early; its status then tells the test why.
    let _ = stdin.write_all(input);
    drop(stdin);
    // invariant: waiting for our own child succeeds.
    Run::from_output(child.wait_with_output().expect("wait for daneroll"))
}

/// Runs a program other than daneroll (openssl, a shell pipeline) and collects what it did.
pub fn run_tool(program: &str, args: &[&str]) -> Run {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (is it installed?): {e}"));
    Run::from_output(output)
}

/// The repository root (for fixtures and examples).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
