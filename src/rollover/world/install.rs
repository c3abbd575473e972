//! Installing a key and its chain into the MTA's files so the MTA never loads a key beside the
//! wrong certificate, and keeps reading them as the user it reads them as.
//!
//! Every file is written in full to `FILE.daneroll-new` in its own directory, fsynced, then
//! renamed over `FILE`, and the directory fsynced (as certmagic's atomicfile): a crash leaves
//! the old or the new file, never half of one.
//!
//! - A combined file (Postfix `smtpd_tls_chain_files`: key then chain) changes key and
//!   certificate in one rename: the recommended layout.
//! - Separate `key_file` + `cert_file` need two renames. Both new files are complete and
//!   fsynced before the first rename, and the key goes first. A crash between the two renames
//!   leaves the new key beside the old certificate, and `cert_file.daneroll-new` on disk: the
//!   next run finishes the install ([`finish_interrupted`]) before it does anything else, and
//!   the engine's deploy step (an intent without an outcome) then reloads the MTA again.
//!
//! Ownership and mode: an installed file takes the owner, group and mode of the file it
//! replaces (Debian's Exim reads its key as group `Debian-exim` with mode 0640; Postfix reads
//! as root), except that a file holding the private key never keeps permissions for others
//! (a 0644 key file becomes 0640). New files are root's, 0600 for anything holding the key and
//! 0644 for a certificate. The temp file is created 0600 and only gets its final owner and mode
//! once complete, so the key is never readable by anyone else in between.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::WorldError;
use super::files::{Chain, KeyFile, certificate_pem, read_chain, read_key};
use crate::config::{Deploy, DeployFiles};

/// The failpoint that kills daneroll between the two renames of separate files (crash tests):
/// `DANEROLL_FAILPOINT=between_renames:1`.
const BETWEEN_RENAMES: &str = "between_renames:1";

/// `FILE.daneroll-new`: where the next version of `path` is written before its rename.
pub(super) fn pending_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".daneroll-new");
    path.with_file_name(name)
}

/// Installs `key` and `chain` into the MTA's files (module docs for the order).
pub(super) fn install(deploy: &Deploy, key: &KeyFile, chain: &Chain) -> Result<(), WorldError> {
    let mut certificates = String::new();
    for der in &chain.certificates {
        certificates.push_str(&certificate_pem(der));
    }
    match &deploy.files {
        DeployFiles::Combined(path) => {
            let mut contents = key.pem.clone();
            if !contents.ends_with(b"\n") {
                contents.push(b'\n');
            }
            contents.extend_from_slice(certificates.as_bytes());
            prepare(path, &contents, Holds::Key)?;
            commit(path)
        }
        DeployFiles::Separate {
            key_file,
            cert_file,
        } => {
            prepare(key_file, &key.pem, Holds::Key)?;
            prepare(cert_file, certificates.as_bytes(), Holds::Certificates)?;
            commit(key_file)?;
            if std::env::var("DANEROLL_FAILPOINT").is_ok_and(|f| f == BETWEEN_RENAMES) {
                eprintln!("daneroll: failpoint {BETWEEN_RENAMES}: killing this process (SIGKILL)");
                // SAFETY: kill(2) on our own pid has no memory-safety preconditions.
                unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
                std::process::abort();
            }
            commit(cert_file)
        }
    }
}

/// Finishes or undoes an install a crash interrupted (module docs); returns whether it changed
/// the MTA's files. Call before reading them.
pub(super) fn finish_interrupted(deploy: &Deploy) -> Result<bool, WorldError> {
    match &deploy.files {
        DeployFiles::Combined(path) => {
            // One rename: a leftover new file was never installed. Drop it.
            discard(&pending_path(path))?;
            Ok(false)
        }
        DeployFiles::Separate {
            key_file,
            cert_file,
        } => {
            let (new_key, new_cert) = (pending_path(key_file), pending_path(cert_file));
            if new_key.exists() {
                // Crash before the first rename: the installed pair is still the old one.
                discard(&new_key)?;
                discard(&new_cert)?;
                return Ok(false);
            }
            if !new_cert.exists() {
                return Ok(false);
            }
            // The key was renamed, the certificate was not: install it if it is the key's.
            let key = read_key(key_file)?;
            let chain = read_chain(&new_cert)?;
            match (key, chain) {
                (Some(key), Some(chain)) if key.record == chain.leaf.record => {
                    commit(cert_file)?;
                    Ok(true)
                }
                _ => {
                    discard(&new_cert)?;
                    Ok(false)
                }
            }
        }
    }
}

/// What an installed file holds, for its mode.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Holds {
    /// The private key (a key file or a combined file): 0600 when new, never readable by others.
    Key,
    /// Certificates only: 0644 when new.
    Certificates,
}

/// Writes `contents` to `path`'s pending file: complete, fsynced, with the owner, group and
/// mode of `path` if it exists (else root's), as the module docs say.
pub(super) fn prepare(path: &Path, contents: &[u8], holds: Holds) -> Result<(), WorldError> {
    let failed = |e: io::Error| WorldError::Install {
        path: path.to_path_buf(),
        problem: e.to_string(),
    };
    let existing = match fs::metadata(path) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(failed(e)),
    };
    let pending = pending_path(path);
    discard(&pending)?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&pending)
        .map_err(failed)?;
    let result = (|| {
        file.write_all(contents)?;
        if let Some(meta) = &existing {
            std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()))?;
        }
        let mode = match (existing.as_ref(), holds) {
            (Some(meta), Holds::Key) => meta.mode() & 0o7770,
            (Some(meta), Holds::Certificates) => meta.mode() & 0o7777,
            (None, Holds::Key) => 0o600,
            (None, Holds::Certificates) => 0o644,
        };
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()
    })();
    if let Err(e) = result {
        drop(file);
        let _ = fs::remove_file(&pending);
        return Err(failed(e));
    }
    Ok(())
}

/// Renames `path`'s pending file over it and makes the rename durable.
pub(super) fn commit(path: &Path) -> Result<(), WorldError> {
    let failed = |e: io::Error| WorldError::Install {
        path: path.to_path_buf(),
        problem: e.to_string(),
    };
    fs::rename(pending_path(path), path).map_err(failed)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(failed)
}

/// Removes `path` if it exists (a read-only directory with nothing to remove is no error).
fn discard(path: &Path) -> Result<(), WorldError> {
    if fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(WorldError::Install {
            path: path.to_path_buf(),
            problem: e.to_string(),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
