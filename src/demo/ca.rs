//! The demo's throwaway certificate authority: it plays the ACME client.
//!
//! For DANE-EE (`3 1 1`, RFC 7672 §3.1.1) the sender matches the leaf's public key only, so who
//! issued the certificate does not matter to the demo's senders; a local CA keeps the demo
//! offline. In production the `[host.source] command` runs certbot/lego with daneroll's next key;
//! here it runs `daneroll demo --issue-from CA --issue-to FILE`, which reads the same
//! `DANEROLL_NEXT_KEY` and writes a chain for that key to the same staging file.

use std::path::{Path, PathBuf};

use daneroll_providers::Tlsa;
use data_encoding::HEXUPPER;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use sha2::{Digest, Sha256};

/// Why a certificate could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("demo CA: {what} {path}: {reason}")]
    File {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("demo CA: cannot issue a certificate: {0}")]
    Issue(String),
}

/// A CA whose key and certificate live in a directory.
#[derive(Debug)]
pub struct Ca {
    dir: PathBuf,
}

impl Ca {
    /// A new CA in `dir`.
    pub fn create(dir: &Path) -> Result<Self, CaError> {
        let key = KeyPair::generate().map_err(|e| CaError::Issue(e.to_string()))?;
        let mut params = CertificateParams::new(Vec::<String>::new())
            .map_err(|e| CaError::Issue(e.to_string()))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "daneroll demo CA (throwaway)");
        let cert = params
            .self_signed(&key)
            .map_err(|e| CaError::Issue(e.to_string()))?;
        let ca = Self {
            dir: dir.to_path_buf(),
        };
        write_private(&ca.key_path(), &key.serialize_pem())?;
        write_file(&ca.cert_path(), &cert.pem())?;
        Ok(ca)
    }

    /// The CA in `dir`, made by [`Ca::create`].
    pub fn open(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn key_path(&self) -> PathBuf {
        self.dir.join("ca.key")
    }

    fn cert_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// Issues a certificate for `host` and the key in `key_file`; writes leaf + CA to `out`.
    pub fn issue(&self, host: &str, key_file: &Path, out: &Path) -> Result<Tlsa, CaError> {
        let key_pem = read(key_file, "key")?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| CaError::File {
            what: "key",
            path: key_file.to_path_buf(),
            reason: e.to_string(),
        })?;
        self.issue_for(host, &key, out)
    }

    /// Makes a new key in `key_file` and a certificate for it in `out` (the first deployment).
    pub fn issue_fresh(&self, host: &str, key_file: &Path, out: &Path) -> Result<Tlsa, CaError> {
        let key = KeyPair::generate().map_err(|e| CaError::Issue(e.to_string()))?;
        write_private(key_file, &key.serialize_pem())?;
        self.issue_for(host, &key, out)
    }

    fn issue_for(&self, host: &str, key: &KeyPair, out: &Path) -> Result<Tlsa, CaError> {
        let ca_pem = read(&self.cert_path(), "certificate")?;
        let ca_key_pem = read(&self.key_path(), "key")?;
        let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(|e| CaError::File {
            what: "key",
            path: self.key_path(),
            reason: e.to_string(),
        })?;
        let issuer =
            Issuer::from_ca_cert_pem(&ca_pem, ca_key).map_err(|e| CaError::Issue(e.to_string()))?;
        let mut params = CertificateParams::new(vec![host.to_string()])
            .map_err(|e| CaError::Issue(e.to_string()))?;
        params.distinguished_name.push(DnType::CommonName, host);
        let cert = params
            .signed_by(key, &issuer)
            .map_err(|e| CaError::Issue(e.to_string()))?;
        write_file(out, &format!("{}{}", cert.pem(), ca_pem))?;
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.der())
            .map_err(|e| CaError::Issue(e.to_string()))?;
        // The SPKI exactly as the certificate holds it (never re-encoded).
        Ok(record_3_1_1(parsed.public_key().raw))
    }
}

/// The `3 1 1` record of a SubjectPublicKeyInfo (RFC 6698 §2.1: SHA-256 of the SPKI).
pub fn record_3_1_1(spki: &[u8]) -> Tlsa {
    let text = format!("3 1 1 {}", HEXUPPER.encode(&Sha256::digest(spki)));
    // invariant: a 3 1 1 record with a 32-byte digest is always well formed.
    text.parse().expect("3 1 1 record")
}

fn read(path: &Path, what: &'static str) -> Result<String, CaError> {
    std::fs::read_to_string(path).map_err(|e| CaError::File {
        what,
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn write_file(path: &Path, text: &str) -> Result<(), CaError> {
    std::fs::write(path, text).map_err(|e| CaError::File {
        what: "file",
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn write_private(path: &Path, text: &str) -> Result<(), CaError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|e| CaError::File {
            what: "key",
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}
