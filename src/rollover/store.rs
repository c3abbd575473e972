//! The state directory: one state file, one history, one lock and one key directory per host.
//!
//! ```text
//! <state_dir>/                      0700 (default /var/lib/daneroll)
//!   hosts/<host>/                   0700
//!     state.json                    0600  the host's Rollover, {"schema": 1, …}
//!     history.jsonl                 0600  append-only, one JSON object per line
//!     lock                          0600  flock(2): one process per host at a time
//!     keys/                         0700
//!       key-<SPKI SHA-256 hex>.pem  0600  private keys daneroll generated
//! ```
//!
//! Writes are durable and atomic (as certmagic's atomicfile): a temp file in the same
//! directory, write, fsync, rename over the old file, fsync the directory. A crash leaves the
//! old file or the new one, never a mix; a stray temp file is ignored. Files holding keys are
//! created with mode 0600 from their first byte.
//!
//! The lock is `flock` on the host's `lock` file (the kernel frees it when the process dies).
//! Callers re-read the state after taking it: another process may have moved on meanwhile.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use daneroll_providers::Tlsa;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::state::Rollover;

/// Where state lives unless the config or `--state-dir` says otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/daneroll";

/// The state file format this build reads and writes. Upgrades from older schemas belong in
/// their own module when there is a second one.
pub const SCHEMA: u32 = 1;

/// Something went wrong with the state directory. Every variant names the file or host.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("host name {0:?} cannot name a state directory (letters, digits, '-', '_', '.' only)")]
    BadHostName(String),
    #[error("host {host} is busy: another daneroll process holds {}", path.display())]
    Busy { host: String, path: PathBuf },
    #[error("cannot create {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot lock {}: {source}", path.display())]
    Lock { path: PathBuf, source: io::Error },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("{} is not a valid daneroll state file: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{} has schema {found}; this daneroll reads schema {SCHEMA} (upgrade daneroll)", path.display())]
    Schema { path: PathBuf, found: u64 },
    #[error("{} holds the state of host {found}, not {expected}", path.display())]
    HostMismatch {
        path: PathBuf,
        expected: String,
        found: String,
    },
}

/// How to take a host's lock when another process holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockWait {
    /// Report busy at once (`--no-wait`).
    NoWait,
    /// Wait as long as it takes.
    Wait,
    /// Wait up to this long, then report busy.
    WaitFor(Duration),
}

/// The exclusive right to act on one host; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct HostLock {
    host: String,
    path: PathBuf,
    file: File,
}

/// Unlocks explicitly before the file is closed. A flock belongs to the open file description,
/// which a child forked by another thread of this process (a reload, an ACME client) shares
/// until it execs; closing our descriptor alone would leave the host locked for that moment, and
/// the next run in this process would find it busy.
impl Drop for HostLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

impl HostLock {
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Lets another process in (before running a command that may call daneroll back, or a
    /// foreground sleep). Call [`HostLock::reacquire`] and re-read the state afterwards.
    pub fn release(&self) -> Result<(), StoreError> {
        self.file.unlock().map_err(|source| StoreError::Lock {
            path: self.path.clone(),
            source,
        })
    }

    /// Takes the lock again after [`HostLock::release`].
    pub fn reacquire(&self, wait: LockWait) -> Result<(), StoreError> {
        self.acquire(wait)
    }

    fn acquire(&self, wait: LockWait) -> Result<(), StoreError> {
        let busy = || StoreError::Busy {
            host: self.host.clone(),
            path: self.path.clone(),
        };
        let failed = |source| StoreError::Lock {
            path: self.path.clone(),
            source,
        };
        match wait {
            LockWait::Wait => self.file.lock().map_err(failed),
            LockWait::NoWait => match self.file.try_lock() {
                Ok(()) => Ok(()),
                Err(fs::TryLockError::WouldBlock) => Err(busy()),
                Err(fs::TryLockError::Error(source)) => Err(failed(source)),
            },
            LockWait::WaitFor(limit) => {
                let started = Instant::now();
                loop {
                    match self.file.try_lock() {
                        Ok(()) => return Ok(()),
                        Err(fs::TryLockError::WouldBlock) if started.elapsed() < limit => {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Err(fs::TryLockError::WouldBlock) => return Err(busy()),
                        Err(fs::TryLockError::Error(source)) => return Err(failed(source)),
                    }
                }
            }
        }
    }
}

/// *Stored type*: the state file. `schema` comes first so any version can tell what it reads.
#[derive(Serialize, Deserialize)]
struct StateFile {
    schema: u32,
    #[serde(with = "time::serde::rfc3339")]
    saved_at: OffsetDateTime,
    rollover: Rollover,
}

/// A state file as `status` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedState {
    pub rollover: Rollover,
    pub saved_at: OffsetDateTime,
}

/// The state directory.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Opens the state directory, creating it (0700) if needed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let store = Self { dir: dir.into() };
        create_private_dir(&store.dir)?;
        create_private_dir(&store.dir.join("hosts"))?;
        Ok(store)
    }

    /// Opens an existing state directory without creating anything (read-only commands).
    pub fn existing(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The hosts that have a state directory, sorted.
    pub fn hosts(&self) -> Result<Vec<String>, StoreError> {
        let path = self.dir.join("hosts");
        let entries = match fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(StoreError::Read { path, source }),
        };
        let mut hosts = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| StoreError::Read {
                path: path.clone(),
                source,
            })?;
            if let Some(name) = entry.file_name().to_str()
                && valid_host(name)
                && entry.path().is_dir()
            {
                hosts.push(name.to_string());
            }
        }
        hosts.sort();
        Ok(hosts)
    }

    /// The directory of one host's files.
    pub fn host_dir(&self, host: &str) -> Result<PathBuf, StoreError> {
        if !valid_host(host) {
            return Err(StoreError::BadHostName(host.to_string()));
        }
        Ok(self.dir.join("hosts").join(host))
    }

    /// The host's state file.
    pub fn state_path(&self, host: &str) -> Result<PathBuf, StoreError> {
        Ok(self.host_dir(host)?.join("state.json"))
    }

    /// The host's history file.
    pub fn history_path(&self, host: &str) -> Result<PathBuf, StoreError> {
        Ok(self.host_dir(host)?.join("history.jsonl"))
    }

    /// Takes the host's lock. Re-read the state after this returns.
    pub fn lock(&self, host: &str, wait: LockWait) -> Result<HostLock, StoreError> {
        self.lock_file(host, "lock", wait)
    }

    /// Takes the host's renewal lock without waiting: held by the process running the host's
    /// certificate request (swap command, ACME client) while the host's lock is released. The
    /// kernel frees it when that process dies, which tells a later run whether a renewal
    /// recorded in the state is still running or was interrupted.
    pub fn renewal_lock(&self, host: &str) -> Result<HostLock, StoreError> {
        self.lock_file(host, "renewal.lock", LockWait::NoWait)
    }

    fn lock_file(&self, host: &str, name: &str, wait: LockWait) -> Result<HostLock, StoreError> {
        let dir = self.host_dir(host)?;
        create_private_dir(&dir)?;
        let path = dir.join(name);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|source| StoreError::Lock {
                path: path.clone(),
                source,
            })?;
        let lock = HostLock {
            host: host.to_string(),
            path,
            file,
        };
        lock.acquire(wait)?;
        Ok(lock)
    }

    /// The host's saved rollover, `None` for a host never saved.
    pub fn load(&self, lock: &HostLock) -> Result<Option<Rollover>, StoreError> {
        Ok(self.read_state(lock.host())?.map(|saved| saved.rollover))
    }

    /// Reads a host's state without the lock (read-only commands): the atomic writes make any
    /// read see a whole file.
    pub fn read_state(&self, host: &str) -> Result<Option<SavedState>, StoreError> {
        let path = self.state_path(host)?;
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StoreError::Read { path, source }),
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| StoreError::Parse {
                path: path.clone(),
                source,
            })?;
        let found = value.get("schema").and_then(|v| v.as_u64()).unwrap_or(0);
        if found != u64::from(SCHEMA) {
            return Err(StoreError::Schema { path, found });
        }
        let file: StateFile =
            serde_json::from_value(value).map_err(|source| StoreError::Parse {
                path: path.clone(),
                source,
            })?;
        if file.rollover.host != host {
            return Err(StoreError::HostMismatch {
                path,
                expected: host.to_string(),
                found: file.rollover.host,
            });
        }
        Ok(Some(SavedState {
            rollover: file.rollover,
            saved_at: file.saved_at,
        }))
    }

    /// Saves the host's rollover atomically and durably.
    pub fn save(
        &self,
        lock: &HostLock,
        rollover: &Rollover,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let path = self.state_path(lock.host())?;
        if rollover.host != lock.host() {
            return Err(StoreError::HostMismatch {
                path,
                expected: lock.host().to_string(),
                found: rollover.host.clone(),
            });
        }
        let file = StateFile {
            schema: SCHEMA,
            saved_at: now,
            rollover: rollover.clone(),
        };
        let mut json = serde_json::to_vec_pretty(&file).map_err(|source| StoreError::Parse {
            path: path.clone(),
            source,
        })?;
        json.push(b'\n');
        write_atomically(&path, &json, 0o600)
    }

    /// Where a generated private key for `record` lives.
    pub fn private_key_path(&self, host: &str, record: &Tlsa) -> Result<PathBuf, StoreError> {
        Ok(self
            .host_dir(host)?
            .join("keys")
            .join(format!("key-{}.pem", record.data_hex())))
    }

    /// Writes a private key (PEM) for `record`: mode 0600 from the first byte, atomically, in a
    /// 0700 directory. The bytes never reach an error message.
    pub fn write_private_key(
        &self,
        lock: &HostLock,
        record: &Tlsa,
        pem: &[u8],
    ) -> Result<PathBuf, StoreError> {
        let path = self.private_key_path(lock.host(), record)?;
        if let Some(dir) = path.parent() {
            create_private_dir(dir)?;
        }
        write_atomically(&path, pem, 0o600)?;
        Ok(path)
    }
}

/// Host names become directory names: DNS names only, no path tricks.
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && !host.starts_with('.')
        && !host.contains("..")
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Creates a directory (and parents) with mode 0700; tightens an existing one we own.
fn create_private_dir(path: &Path) -> Result<(), StoreError> {
    let err = |source| StoreError::CreateDir {
        path: path.to_path_buf(),
        source,
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(err)?;
    let mode = fs::metadata(path).map_err(err)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(0o700)).map_err(err)?;
    }
    Ok(())
}

/// Temp file in the same directory, write, fsync, rename, fsync the directory.
pub fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> Result<(), StoreError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let err = |source| StoreError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .ok_or_else(|| err(io::Error::other("no parent directory")))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| err(io::Error::other("no file name")))?;
    let temp = dir.join(format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map_err(err)
}

#[cfg(test)]
mod tests;
