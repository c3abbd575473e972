//! The staged certificate: what the last hook call handed to daneroll for a host, kept in the
//! host's state directory (`hosts/<host>/staged.json`, 0600) until the engine deploys it.
//!
//! Why a file: the hook must return promptly (it never sleeps through a TTL), while deploying a
//! certificate whose key is not yet safe has to wait for a later `tick`. The engine's `inspect`
//! reads this file to report a staged certificate (RFC 7671 §8.1: a certificate is deployed only
//! once its key's record is visible everywhere). Writing it is idempotent: the same certificate
//! handed over twice (a certbot post-hook with a stale `RENEWED_LINEAGE`, a client retrying a
//! hook) leaves the file as it was.

use std::path::PathBuf;

use daneroll_providers::Tlsa;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::RenewedCertificate;
use crate::rollover::store::{HostLock, Store, StoreError, write_atomically};

/// A renewed certificate waiting for the engine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedCertificate {
    /// The `3 1 1` record of the certificate's key.
    pub record: Tlsa,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// When the hook handed it over.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    pub certificate: RenewedCertificate,
}

impl StagedCertificate {
    /// Whether `other` is the same certificate from the same files (receipt time aside).
    pub fn same_as(&self, other: &StagedCertificate) -> bool {
        self.record == other.record
            && self.not_after == other.not_after
            && self.certificate == other.certificate
    }
}

fn path(store: &Store, host: &str) -> Result<PathBuf, StoreError> {
    Ok(store.host_dir(host)?.join("staged.json"))
}

/// The staged certificate of `host`, if any.
pub fn read(store: &Store, host: &str) -> Result<Option<StagedCertificate>, StoreError> {
    let path = path(store, host)?;
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StoreError::Read { path, source }),
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|source| StoreError::Parse { path, source })
}

/// Stages `staged` for the host of `lock`. Returns `false` when that very certificate was
/// staged already (nothing written).
pub fn write(
    store: &Store,
    lock: &HostLock,
    staged: &StagedCertificate,
) -> Result<bool, StoreError> {
    if let Some(existing) = read(store, lock.host())?
        && existing.same_as(staged)
    {
        return Ok(false);
    }
    let path = path(store, lock.host())?;
    // invariant: these types serialize infallibly (strings, paths, numbers).
    let json = serde_json::to_vec_pretty(staged).expect("staged certificate serializes");
    write_atomically(&path, &json, 0o600)?;
    Ok(true)
}

/// Forgets the staged certificate (after it was deployed).
pub fn clear(store: &Store, lock: &HostLock) -> Result<(), StoreError> {
    let path = path(store, lock.host())?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Write { path, source }),
    }
}

/// Forgets the staged certificate of `host` from inside the engine's pass, which holds the
/// host's lock for the whole action (the [`HostLock`] itself stays with the driver).
pub fn clear_in_pass(store: &Store, host: &str) -> Result<(), StoreError> {
    let path = path(store, host)?;
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Write { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acme::Client;
    use crate::rollover::store::LockWait;

    fn staged(at: i64) -> StagedCertificate {
        StagedCertificate {
            record: "3 1 1 abababababababababababababababababababababababababababababababab"
                .parse()
                .unwrap(),
            not_after: OffsetDateTime::from_unix_timestamp(2_000_000_000).unwrap(),
            received_at: OffsetDateTime::from_unix_timestamp(at).unwrap(),
            certificate: RenewedCertificate {
                client: Client::Certbot,
                domains: vec!["mx1.example.net".into()],
                cert_path: "/etc/letsencrypt/live/mx1/cert.pem".into(),
                key_path: "/etc/letsencrypt/live/mx1/privkey.pem".into(),
                fullchain_path: None,
                chain_path: None,
            },
        }
    }

    #[test]
    fn staging_is_idempotent_and_clearable() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let lock = store.lock("mx1.example.net", LockWait::NoWait).unwrap();
        assert_eq!(read(&store, "mx1.example.net").unwrap(), None);
        assert!(write(&store, &lock, &staged(1)).unwrap());
        assert!(!write(&store, &lock, &staged(2)).unwrap());
        let saved = read(&store, "mx1.example.net").unwrap().unwrap();
        assert_eq!(saved.received_at.unix_timestamp(), 1);
        clear(&store, &lock).unwrap();
        clear(&store, &lock).unwrap();
        assert_eq!(read(&store, "mx1.example.net").unwrap(), None);
    }
}
