//! The per-host history: every command, intent, outcome (failures included), transition and
//! notice, one JSON object per line, appended and never rewritten.
//!
//! An intent is written (and fsynced) before its action runs, its outcome after; a crash between
//! the two shows as an intent without an outcome, followed by the same intent on the next run.
//! `daneroll history` reads this file; it tolerates a torn last line (a crash mid-append): the
//! line is skipped with a warning, and the next append starts on a new line so it is not glued
//! to the torn one.
//!
//! The history is bounded: when `history.jsonl` would grow past [`HISTORY_MAX_BYTES`], it is
//! renamed `history.1.jsonl` (the older ones shift to `.2` … up to [`HISTORY_ROTATED`], the
//! oldest is dropped) and a new file starts. Reading goes through the rotated files, oldest first.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::input::{Action, Input, Notice, TooEarly};
use super::state::StateName;
use super::store::{HostLock, Store, StoreError};

/// *Stored type*: one line of `history.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub host: String,
    #[serde(flatten)]
    pub event: Event,
}

/// *Stored type*: what happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A command given to the machine (`tick`, `rollover`).
    Command(Input),
    /// An action about to be performed.
    Intent(Action),
    /// What an action found or did, including failures.
    Outcome(Input),
    /// The rollover moved to another state.
    Transition { from: StateName, to: StateName },
    /// Something for the operator (alerts and reports).
    Notice(Notice),
    /// The machine said "too early" and the run stopped (or slept).
    Wait(TooEarly),
    /// The machine refused an input (a bug or a hand-edited state) or the store failed.
    Error { error: String },
}

/// The size at which `history.jsonl` is rotated (a line is a few hundred bytes).
pub const HISTORY_MAX_BYTES: u64 = 2 * 1024 * 1024;

/// How many rotated files are kept (`history.1.jsonl` newest … `history.5.jsonl` oldest).
pub const HISTORY_ROTATED: usize = 5;

/// A host's history as read back, across its rotated files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    pub entries: Vec<Entry>,
    /// Lines that are not valid entries (a torn last line after a crash).
    pub damaged_lines: Vec<DamagedLine>,
}

/// A line of a history file that is not a valid entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DamagedLine {
    pub path: PathBuf,
    /// 1-based.
    pub line: usize,
}

/// The rotated file number `n` (1 is the newest) beside `current` (`history.jsonl`).
fn rotated_path(current: &Path, n: usize) -> PathBuf {
    current.with_file_name(format!("history.{n}.jsonl"))
}

impl Store {
    /// Appends one entry and makes it durable before returning.
    pub fn append_history(&self, lock: &HostLock, entry: &Entry) -> Result<(), StoreError> {
        let path = self.history_path(lock.host())?;
        let err = |source| StoreError::Write {
            path: path.clone(),
            source,
        };
        let mut line = serde_json::to_vec(entry).map_err(|e| err(io::Error::other(e)))?;
        line.push(b'\n');
        let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if size > 0 && size + line.len() as u64 > HISTORY_MAX_BYTES {
            rotate(&path).map_err(err)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .map_err(err)?;
        // A torn last line (a crash mid-append) must not swallow this entry.
        if !ends_with_newline(&mut file).map_err(err)? {
            line.insert(0, b'\n');
        }
        file.write_all(&line).map_err(err)?;
        file.sync_data().map_err(err)
    }

    /// Reads a host's history, rotated files first (no lock needed: lines are only appended,
    /// and a rotation is a rename).
    pub fn read_history(&self, host: &str) -> Result<History, StoreError> {
        let current: PathBuf = self.history_path(host)?;
        let mut history = History::default();
        let files = (1..=HISTORY_ROTATED)
            .rev()
            .map(|n| rotated_path(&current, n))
            .chain([current.clone()]);
        for path in files {
            let text = match fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => return Err(StoreError::Read { path, source }),
            };
            for (index, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Entry>(line) {
                    Ok(entry) => history.entries.push(entry),
                    Err(_) => history.damaged_lines.push(DamagedLine {
                        path: path.clone(),
                        line: index + 1,
                    }),
                }
            }
        }
        Ok(history)
    }
}

/// Whether `file` is empty or its last byte is a newline.
fn ends_with_newline(file: &mut File) -> io::Result<bool> {
    if file.metadata()?.len() == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

/// Shifts `history.N.jsonl` to `N+1` (dropping the oldest) and `current` to `history.1.jsonl`,
/// then makes the renames durable.
fn rotate(current: &Path) -> io::Result<()> {
    let oldest = rotated_path(current, HISTORY_ROTATED);
    match fs::remove_file(&oldest) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    for n in (1..HISTORY_ROTATED).rev() {
        match fs::rename(rotated_path(current, n), rotated_path(current, n + 1)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    fs::rename(current, rotated_path(current, 1))?;
    if let Some(dir) = current.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}
