//! The certificate and key files of the real world: what the MTA reads (deployed), what the
//! ACME client or the swap command wrote (staged), the keys daneroll generated, and installing
//! a chain so the MTA never loads a key beside the wrong certificate.
//!
//! Installing is in [`super::install`].

use std::path::{Path, PathBuf};

use daneroll_providers::Tlsa;
use data_encoding::BASE64;

use crate::config::{CertSource, Deploy, DeployFiles};
use crate::pki::Item;
use crate::pki::input::{Source, parse_items, private_key_pem, read_source};
use crate::pki::tlsa::tlsa_for;
use crate::rollover::input::CertSeen;

use super::WorldError;

/// A certificate chain read from a file: the leaf's record and every certificate's DER.
pub(super) struct Chain {
    pub leaf: CertSeen,
    pub leaf_der: Vec<u8>,
    pub certificates: Vec<Vec<u8>>,
}

/// A private key read from a file: its record and its PEM bytes (secret: never logged).
pub(super) struct KeyFile {
    pub record: Tlsa,
    pub pem: Vec<u8>,
}

fn record_of(item: &Item, path: &Path) -> Result<Tlsa, WorldError> {
    tlsa_for(item, 3, 1, 1).map_err(|e| WorldError::File {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })
}

/// Reads `path`; `None` when it does not exist.
fn read(path: &Path) -> Result<Option<Vec<Item>>, WorldError> {
    if !path.exists() {
        return Ok(None);
    }
    let bytes = read_source(&Source::Path(path.to_path_buf())).map_err(|e| WorldError::File {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })?;
    parse_items(&bytes).map(Some).map_err(|e| WorldError::File {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })
}

/// The chain in `path` (leaf first); `None` when the file does not exist.
pub(super) fn read_chain(path: &Path) -> Result<Option<Chain>, WorldError> {
    let Some(items) = read(path)? else {
        return Ok(None);
    };
    let certificates: Vec<&Item> = items.iter().filter(|i| i.certificate().is_some()).collect();
    let Some(leaf) = certificates.first() else {
        return Err(WorldError::File {
            path: path.to_path_buf(),
            problem: "holds no certificate".into(),
        });
    };
    // invariant: filtered on certificate() above.
    let cert = leaf.certificate().expect("a certificate");
    Ok(Some(Chain {
        leaf: CertSeen {
            record: record_of(leaf, path)?,
            not_after: cert.not_after(),
        },
        leaf_der: cert.der().to_vec(),
        certificates: certificates
            .iter()
            .filter_map(|i| i.certificate().map(|c| c.der().to_vec()))
            .collect(),
    }))
}

/// The private key in `path` (the first one); `None` when the file does not exist.
pub(super) fn read_key(path: &Path) -> Result<Option<KeyFile>, WorldError> {
    let Some(items) = read(path)? else {
        return Ok(None);
    };
    let key = items
        .iter()
        .find(|i| matches!(i, Item::PrivateKey(_)))
        .ok_or_else(|| WorldError::File {
            path: path.to_path_buf(),
            problem: "holds no private key".into(),
        })?;
    let record = record_of(key, path)?;
    let bytes = std::fs::read(path).map_err(|e| WorldError::File {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })?;
    // The key re-encoded from its parsed DER: a DER file, an indented block or a combined
    // file all give one clean PEM block the MTA reads.
    let pem = private_key_pem(&bytes)
        .map_err(|e| WorldError::File {
            path: path.to_path_buf(),
            problem: e.to_string(),
        })?
        .ok_or_else(|| WorldError::File {
            path: path.to_path_buf(),
            problem: "holds no private key".into(),
        })?;
    Ok(Some(KeyFile { record, pem }))
}

pub(super) fn certificate_pem(der: &[u8]) -> String {
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    let encoded = BASE64.encode(der);
    for chunk in encoded.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// The file the MTA reads its certificate from.
pub(super) fn deployed_cert_path(deploy: &Deploy) -> &Path {
    match &deploy.files {
        DeployFiles::Combined(path) => path,
        DeployFiles::Separate { cert_file, .. } => cert_file,
    }
}

/// The file the MTA reads its key from.
pub(super) fn deployed_key_path(deploy: &Deploy) -> &Path {
    match &deploy.files {
        DeployFiles::Combined(path) => path,
        DeployFiles::Separate { key_file, .. } => key_file,
    }
}

/// The certificate the MTA reads.
pub(super) fn deployed(deploy: &Deploy) -> Result<Option<Chain>, WorldError> {
    read_chain(deployed_cert_path(deploy))
}

/// A certificate in the source that differs from the deployed one.
pub(super) fn staged(
    source: Option<&CertSource>,
    deployed: Option<&Chain>,
) -> Result<Option<Chain>, WorldError> {
    let Some(path) = source.and_then(|s| s.certificate_file.as_deref()) else {
        return Ok(None);
    };
    let chain = read_chain(path)?;
    Ok(chain.filter(|c| deployed.is_none_or(|d| d.leaf_der != c.leaf_der)))
}

/// The key files in a host's key directory (`key-HEX.pem`), not those moved to `retired/`.
pub(super) fn key_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file()
                        && p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with("key-") && n.ends_with(".pem"))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Moves the key of a retired record out of the key directory, so it is never reused.
pub(super) fn retire_key(path: &Path) -> Result<(), WorldError> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(());
    };
    if !path.exists() {
        return Ok(());
    }
    let retired = dir.join("retired");
    std::fs::create_dir_all(&retired)
        .and_then(|()| std::fs::rename(path, retired.join(name)))
        .map_err(|e| WorldError::Install {
            path: path.to_path_buf(),
            problem: e.to_string(),
        })
}
