//! The per-host history: every command, intent, outcome (failures included), transition and
//! notice, one JSON object per line, appended and never rewritten.
//!
//! An intent is written (and fsynced) before its action runs, its outcome after; a crash between
//! the two shows as an intent without an outcome, followed by the same intent on the next run.
//! `daneroll history` reads this file; it tolerates a torn last line (a crash mid-append).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

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

/// A history file as read back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    pub entries: Vec<Entry>,
    /// Line numbers (1-based) that are not valid entries (a torn last line after a crash).
    pub damaged_lines: Vec<usize>,
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
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .map_err(err)?;
        file.write_all(&line).map_err(err)?;
        file.sync_data().map_err(err)
    }

    /// Reads a host's history (no lock needed: lines are only ever appended).
    pub fn read_history(&self, host: &str) -> Result<History, StoreError> {
        let path: PathBuf = self.history_path(host)?;
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(History::default()),
            Err(source) => return Err(StoreError::Read { path, source }),
        };
        let mut history = History::default();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Entry>(line) {
                Ok(entry) => history.entries.push(entry),
                Err(_) => history.damaged_lines.push(index + 1),
            }
        }
        Ok(history)
    }
}
