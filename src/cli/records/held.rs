//! `records remove` and the engine: the removal takes the host's lock (so it never races a
//! `tick` or a hook in the middle of a rollover) and reads the engine's state, refusing to
//! remove the record of the key the engine holds as current (it is what port 25 presents) or as
//! next (it is the pre-published key a renewal may switch to at any moment, RFC 7671 §8.1)
//! unless the operator says `--force`.

use std::time::Duration;

use daneroll_providers::Tlsa;

use super::{Refusal, Session};
use crate::exit;
use crate::rollover::store::{HostLock, LockWait, Store, StoreError};

/// How long `records remove` waits for a host's lock held by a `tick` or a hook.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Takes the lock of the configured host `host` and checks `record` against the engine's
/// state. Returns the lock, held until the removal is done; `None` when the state directory
/// does not exist (no engine ever ran here: nothing to race with, nothing to protect, and
/// nothing is created for a command that only edits DNS).
pub(super) fn lock_and_check(
    session: &Session,
    host: &str,
    record: &Tlsa,
    force: bool,
) -> Result<Option<HostLock>, Refusal> {
    if !session.config.state_dir.join("hosts").is_dir() {
        return Ok(None);
    }
    let store = Store::open(&session.config.state_dir).map_err(Refusal::failed)?;
    let lock = store
        .lock(host, LockWait::WaitFor(LOCK_WAIT))
        .map_err(|e| match e {
            StoreError::Busy { .. } => Refusal {
                status: exit::BUSY,
                message: format!(
                    "{e}: a rollover step for {host} is running; try again when it is done"
                ),
            },
            other => Refusal::failed(other),
        })?;
    let Some(rollover) = store.load(&lock).map_err(Refusal::failed)? else {
        return Ok(Some(lock));
    };
    let role = if rollover
        .stage
        .current()
        .is_some_and(|c| c.record == *record)
    {
        "current key (the one the MTA presents)"
    } else if rollover.stage.next_record() == Some(record) {
        "next key (pre-published: a renewal may switch to it at any moment)"
    } else {
        return Ok(Some(lock));
    };
    if force {
        eprintln!(
            "daneroll: warning: {} is the engine's {role} for {host}; removing it because of \
             --force",
            record.short()
        );
        return Ok(Some(lock));
    }
    Err(Refusal::bad_input(format!(
        "refusing to remove {record}: it is the engine's {role} for {host} (state {}); `daneroll \
         rollover` retires old keys itself. Pass --force to remove it anyway",
        rollover.stage.name()
    )))
}
