//! The client files daneroll touches: reading the key record of a certificate or key file, and
//! replacing a client's key file with a backup that can be restored.
//!
//! A backup is written next to the key (`NAME.daneroll-backup`, mode 0600) before the key is
//! replaced, so a daneroll that dies during a renewal leaves the old key on disk for the next
//! run (or the operator) to put back; [`KeyBackup::restore`] removes it again.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use daneroll_providers::Tlsa;
use time::OffsetDateTime;

use crate::pki::{Item, KeyType, Source, parse_items, read_items, tlsa_for};
use crate::rollover::store::write_atomically;

/// Why a key could not be put in place or a renewal failed. Names the file or command; never
/// holds key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InjectError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {problem}", path.display())]
    BadFile { path: PathBuf, problem: String },
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error(
        "{program} failed ({status}); the previous key was restored. Its last output: {output}"
    )]
    RenewFailed {
        program: String,
        status: String,
        output: String,
    },
    #[error(
        "{program} did not finish within {seconds} s and was stopped; the previous key was restored"
    )]
    TimedOut { program: String, seconds: u64 },
    #[error(
        "{program} succeeded, but {} has key {found}, not the next key {expected}: the client did \
         not use the key daneroll gave it (check its key settings, see hooks/README.md)",
        cert.display()
    )]
    KeyNotUsed {
        program: String,
        cert: PathBuf,
        expected: Tlsa,
        found: Tlsa,
    },
    #[error("{}: {problem}", path.display())]
    Layout { path: PathBuf, problem: String },
}

/// The `3 1 1` record of the first certificate (or key) in `path`.
pub fn record_of(path: &Path) -> Result<Tlsa, InjectError> {
    let items =
        read_items(&Source::Path(path.to_path_buf())).map_err(|e| InjectError::BadFile {
            path: path.to_path_buf(),
            problem: e.problem.to_string(),
        })?;
    let first: &Item = items.first().ok_or_else(|| InjectError::BadFile {
        path: path.to_path_buf(),
        problem: "holds no certificate or key".to_string(),
    })?;
    tlsa_for(first, 3, 1, 1).map_err(|e| InjectError::BadFile {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })
}

/// The `3 1 1` record and expiry of the leaf (first certificate) in `path`.
pub fn leaf_of(path: &Path) -> Result<(Tlsa, OffsetDateTime), InjectError> {
    let bad = |problem: String| InjectError::BadFile {
        path: path.to_path_buf(),
        problem,
    };
    let items =
        read_items(&Source::Path(path.to_path_buf())).map_err(|e| bad(e.problem.to_string()))?;
    let leaf = items
        .iter()
        .find(|item| item.certificate().is_some())
        .ok_or_else(|| bad("holds no certificate".into()))?;
    let not_after = leaf
        .certificate()
        .map(|c| c.not_after())
        .ok_or_else(|| bad("holds no certificate".into()))?;
    let record = tlsa_for(leaf, 3, 1, 1).map_err(|e| bad(e.to_string()))?;
    Ok((record, not_after))
}

/// The key type of the first certificate or key in `pem` (`None`: not one daneroll generates).
pub fn key_type_of_pem(pem: &[u8]) -> Option<KeyType> {
    let items = parse_items(pem).ok()?;
    key_type_of_spki(items.first()?.spki())
}

/// The key type of a SubjectPublicKeyInfo: RSA by modulus size, ECDSA by curve.
pub fn key_type_of_spki(spki: &[u8]) -> Option<KeyType> {
    use x509_parser::oid_registry::{OID_EC_P256, OID_NIST_EC_P384};
    use x509_parser::prelude::FromDer;
    use x509_parser::public_key::PublicKey;
    use x509_parser::x509::SubjectPublicKeyInfo;
    let (_, info) = SubjectPublicKeyInfo::from_der(spki).ok()?;
    match info.parsed().ok()? {
        PublicKey::RSA(rsa) => match rsa.key_size() {
            2048 => Some(KeyType::Rsa2048),
            3072 => Some(KeyType::Rsa3072),
            4096 => Some(KeyType::Rsa4096),
            _ => None,
        },
        PublicKey::EC(_) => {
            let curve = info.algorithm.parameters.as_ref()?.as_oid().ok()?;
            if curve == OID_EC_P256 {
                Some(KeyType::EcdsaP256)
            } else if curve == OID_NIST_EC_P384 {
                Some(KeyType::EcdsaP384)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The DNS names of the leaf certificate in `path`: the subject CN first (the name the client
/// files it under), then the subjectAltNames, lower case, without duplicates.
pub fn names_of(path: &Path) -> Result<Vec<String>, InjectError> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let bad = |problem: String| InjectError::BadFile {
        path: path.to_path_buf(),
        problem,
    };
    let items =
        read_items(&Source::Path(path.to_path_buf())).map_err(|e| bad(e.problem.to_string()))?;
    let der = items
        .iter()
        .find_map(|item| item.certificate())
        .ok_or_else(|| bad("holds no certificate".into()))?
        .der()
        .to_vec();
    let (_, cert) = X509Certificate::from_der(&der).map_err(|e| bad(e.to_string()))?;
    let mut names: Vec<String> = Vec::new();
    let mut push = |name: &str| {
        let name = crate::config::normalize_host(name);
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    };
    for cn in cert.subject().iter_common_name() {
        if let Ok(cn) = cn.as_str() {
            push(cn);
        }
    }
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(name) = name {
                push(name);
            }
        }
    }
    Ok(names)
}

/// The key file as it was before daneroll replaced it.
pub struct KeyBackup {
    path: PathBuf,
    backup_path: PathBuf,
    contents: Vec<u8>,
    mode: u32,
}

impl std::fmt::Debug for KeyBackup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyBackup")
            .field("path", &self.path)
            .field("contents", &"<redacted>")
            .finish()
    }
}

impl KeyBackup {
    /// Saves `path` (its bytes and mode) to `path.daneroll-backup` before it is replaced.
    pub fn take(path: &Path) -> Result<Self, InjectError> {
        let read = |source| InjectError::Read {
            path: path.to_path_buf(),
            source,
        };
        let contents = fs::read(path).map_err(read)?;
        let mode = fs::metadata(path).map_err(read)?.permissions().mode() & 0o777;
        let backup_path = backup_path_of(path);
        write_atomically(&backup_path, &contents, 0o600).map_err(|e| InjectError::Write {
            path: backup_path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            backup_path,
            contents,
            mode,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Puts the saved key back (same bytes, same mode) and removes the backup file.
    pub fn restore(self) -> Result<(), InjectError> {
        write_key(&self.path, &self.contents, self.mode)?;
        let _ = fs::remove_file(&self.backup_path);
        Ok(())
    }
}

/// Where [`KeyBackup::take`] saves `path`.
pub fn backup_path_of(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".daneroll-backup");
    path.with_file_name(name)
}

/// Writes a private key atomically with `mode` (at most 0600: a key is never group-readable
/// because of daneroll).
pub fn write_key(path: &Path, pem: &[u8], mode: u32) -> Result<(), InjectError> {
    write_atomically(path, pem, mode & 0o600).map_err(|e| InjectError::Write {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })
}

/// The file a symlink chain ends at (certbot's `live/` links are relative).
pub fn resolve_link(path: &Path) -> Result<PathBuf, InjectError> {
    fs::canonicalize(path).map_err(|source| InjectError::Read {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_restores_bytes_and_mode_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("privkey3.pem");
        fs::write(&key, b"old key").unwrap();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        let backup = KeyBackup::take(&key).unwrap();
        assert_eq!(fs::read(backup_path_of(&key)).unwrap(), b"old key");
        write_key(&key, b"next key", 0o600).unwrap();
        assert_eq!(fs::read(&key).unwrap(), b"next key");
        backup.restore().unwrap();
        assert_eq!(fs::read(&key).unwrap(), b"old key");
        assert_eq!(
            fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!backup_path_of(&key).exists());
    }

    #[test]
    fn debug_never_shows_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.pem");
        fs::write(&key, b"SECRET-KEY-BYTES").unwrap();
        let backup = KeyBackup::take(&key).unwrap();
        assert!(!format!("{backup:?}").contains("SECRET"));
    }

    #[test]
    fn record_of_names_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cert.pem");
        fs::write(&path, b"not pem").unwrap();
        let error = record_of(&path).unwrap_err().to_string();
        assert!(error.contains("cert.pem"), "{error}");
    }
}
