//! New private keys: the next key of a rollover is generated ahead of time so that its `3 1 1`
//! record can be published (and cached everywhere) before any certificate uses it
//! (RFC 7671 §8.1, "publish the future key's TLSA record at least two TTLs before").
//!
//! Keys are written as PKCS#8 PEM (RFC 5958, RFC 7468 §10), the form every ACME client and MTA
//! reads, into a file created with mode 0600 from its first byte and never over an existing file.
//! ECDSA P-256 is the default: small, fast, read by every MTA (Ed25519 PKCS#8 v2 keys are not
//! read by OpenSSL 3.0, so Postfix on Debian 12 could not load them).

use std::fmt;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use daneroll_providers::Tlsa;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, KeyPair, RsaKeySize, SignatureAlgorithm,
};
use serde::{Deserialize, Serialize};

use super::key;
use super::tlsa::tlsa_for;
use super::{Item, KeyFormat, PrivateKey};

/// The kinds of key daneroll generates. Config files name them as written here (`ecdsa-p256`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum KeyType {
    /// ECDSA on NIST P-256 (the default).
    #[default]
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// ECDSA on NIST P-384.
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
    /// RSA, 2048-bit modulus.
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    /// RSA, 3072-bit modulus.
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    /// RSA, 4096-bit modulus.
    #[serde(rename = "rsa-4096")]
    Rsa4096,
}

impl KeyType {
    /// Every key type, in the order the help text lists them.
    pub const ALL: [KeyType; 5] = [
        Self::EcdsaP256,
        Self::EcdsaP384,
        Self::Rsa2048,
        Self::Rsa3072,
        Self::Rsa4096,
    ];

    /// The name used on the command line and in config files.
    pub fn name(self) -> &'static str {
        match self {
            Self::EcdsaP256 => "ecdsa-p256",
            Self::EcdsaP384 => "ecdsa-p384",
            Self::Rsa2048 => "rsa-2048",
            Self::Rsa3072 => "rsa-3072",
            Self::Rsa4096 => "rsa-4096",
        }
    }

    fn signature_algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            Self::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Self::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => &rcgen::PKCS_RSA_SHA256,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A key type name that is not one of [`KeyType::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown key type {given:?}; expected one of ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096"
)]
pub struct UnknownKeyType {
    /// What was given.
    pub given: String,
}

impl FromStr for KeyType {
    type Err = UnknownKeyType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownKeyType {
                given: s.to_string(),
            })
    }
}

/// What went wrong generating or writing a key.
#[derive(Debug, thiserror::Error)]
pub enum KeygenError {
    /// aws-lc could not make the key.
    #[error("cannot generate a {key_type} key: {reason}")]
    Generate {
        /// The type asked for.
        key_type: KeyType,
        /// Why (from aws-lc / rcgen; never key material).
        reason: String,
    },
    /// The file exists already: keys are never overwritten.
    #[error("{}: already exists; daneroll never overwrites a key or CSR file (move it away or choose another name)", .0.display())]
    Exists(PathBuf),
    /// Creating or writing the file failed.
    #[error("{}: cannot write it: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A CSR could not be made for the names.
    #[error("cannot make a CSR for {names}: {reason}")]
    Csr {
        /// The names, comma-separated.
        names: String,
        /// Why.
        reason: String,
    },
}

/// A freshly generated private key. Its Debug output shows the type and public record only.
pub struct GeneratedKey {
    key_type: KeyType,
    key_pair: KeyPair,
    spki: Vec<u8>,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("key_type", &self.key_type)
            .field("record", &self.record().short())
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl GeneratedKey {
    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The SubjectPublicKeyInfo a certificate for this key will carry.
    pub fn spki(&self) -> &[u8] {
        &self.spki
    }

    /// The key's `3 1 1` record: the one to publish before the key is used.
    pub fn record(&self) -> Tlsa {
        let item = Item::PrivateKey(PrivateKey::from_spki(KeyFormat::Pkcs8, self.spki.clone()));
        // invariant: usage 3, selector 1, matching type 1 are all defined.
        tlsa_for(&item, 3, 1, 1).expect("3 1 1 is always computable")
    }

    /// The private key as PKCS#8 PEM. Secret: write it only with [`write_private_key`].
    pub fn private_key_pem(&self) -> String {
        self.key_pair.serialize_pem()
    }

    /// A PKCS#10 CSR (PEM) for `names`: subject CN the first name, every name a DNS SAN.
    pub fn csr_pem(&self, names: &[String]) -> Result<String, KeygenError> {
        let csr_error = |e: rcgen::Error| KeygenError::Csr {
            names: names.join(", "),
            reason: e.to_string(),
        };
        let Some(first) = names.first() else {
            return Err(KeygenError::Csr {
                names: String::new(),
                reason: "no name given".into(),
            });
        };
        let mut params = CertificateParams::new(names.to_vec()).map_err(csr_error)?;
        let mut subject = DistinguishedName::new();
        subject.push(DnType::CommonName, first.as_str());
        params.distinguished_name = subject;
        params
            .serialize_request(&self.key_pair)
            .and_then(|csr| csr.pem())
            .map_err(csr_error)
    }
}

/// Generates a new key of `key_type` with aws-lc (through rcgen).
pub fn generate_key(key_type: KeyType) -> Result<GeneratedKey, KeygenError> {
    let error = |e: rcgen::Error| KeygenError::Generate {
        key_type,
        reason: e.to_string(),
    };
    let algorithm = key_type.signature_algorithm();
    let key_pair = match key_type {
        KeyType::EcdsaP256 | KeyType::EcdsaP384 => KeyPair::generate_for(algorithm),
        KeyType::Rsa2048 => KeyPair::generate_rsa_for(algorithm, RsaKeySize::_2048),
        KeyType::Rsa3072 => KeyPair::generate_rsa_for(algorithm, RsaKeySize::_3072),
        KeyType::Rsa4096 => KeyPair::generate_rsa_for(algorithm, RsaKeySize::_4096),
    }
    .map_err(error)?;
    // The record is computed the way `daneroll tlsa` reads the written file, so the two agree.
    let spki =
        key::spki_from_pkcs8(key_pair.serialized_der()).map_err(|e| KeygenError::Generate {
            key_type,
            reason: e.to_string(),
        })?;
    Ok(GeneratedKey {
        key_type,
        key_pair,
        spki,
    })
}

/// Writes `key` as PKCS#8 PEM to a new file `path`, mode 0600 from creation (never readable by
/// others, not even briefly), flushed to disk. An existing file is never touched.
pub fn write_private_key(path: &Path, key: &GeneratedKey) -> Result<(), KeygenError> {
    write_new_file(path, key.private_key_pem().as_bytes(), 0o600)
}

/// Creates `path` (which must not exist) with `mode`, writes `contents` and syncs file and
/// directory. On a write failure the partial file is removed.
pub fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), KeygenError> {
    let write_error = |source| KeygenError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => KeygenError::Exists(path.to_path_buf()),
            _ => write_error(e),
        })?;
    if let Err(e) = file.write_all(contents).and_then(|()| file.sync_all()) {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(write_error(e));
    }
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    // Make the new directory entry durable; a directory that cannot be opened is not an error.
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::PublicKeyData;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn names_round_trip() {
        for key_type in KeyType::ALL {
            assert_eq!(key_type.name().parse::<KeyType>(), Ok(key_type));
            let json = serde_json::to_string(&key_type).unwrap();
            assert_eq!(json, format!("\"{}\"", key_type.name()));
            assert_eq!(serde_json::from_str::<KeyType>(&json).unwrap(), key_type);
        }
        assert!("ed25519".parse::<KeyType>().is_err());
        assert_eq!(KeyType::default(), KeyType::EcdsaP256);
    }

    #[test]
    fn record_matches_rcgen_spki_and_debug_redacts() {
        for key_type in [KeyType::EcdsaP256, KeyType::EcdsaP384, KeyType::Rsa2048] {
            let key = generate_key(key_type).unwrap();
            assert_eq!(key.spki(), key.key_pair.subject_public_key_info());
            let record = key.record();
            assert_eq!((record.usage, record.selector, record.mtype), (3, 1, 1));
            let debug = format!("{key:?}");
            assert!(debug.contains("<redacted>"), "{debug}");
            let pem = key.private_key_pem();
            let body_line = pem.lines().nth(1).unwrap();
            assert!(!debug.contains(body_line), "{debug}");
            assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        }
    }

    #[test]
    fn writes_0600_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("next.key");
        let key = generate_key(KeyType::EcdsaP256).unwrap();
        write_private_key(&path, &key).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let before = std::fs::read(&path).unwrap();
        let other = generate_key(KeyType::EcdsaP256).unwrap();
        assert!(matches!(
            write_private_key(&path, &other),
            Err(KeygenError::Exists(_))
        ));
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn csr_needs_a_name() {
        let key = generate_key(KeyType::EcdsaP256).unwrap();
        assert!(key.csr_pem(&[]).is_err());
        let pem = key.csr_pem(&["mail.example.com".into()]).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
    }
}
