//! Recovering a certificate request that a crash interrupted (issue #13 item 7).
//!
//! The driver saves the request as an intent before it releases the host's lock to run the
//! swap command or ACME client, and holds the host's renewal lock meanwhile. A later run that
//! finds the intent with the renewal lock free knows the runner died, and looks at the client's
//! files before anything else, as the hook's handover does: a key backup daneroll left next to
//! the client's key is put back (or dropped, when the client finished with the next key), and a
//! certificate the client obtained with the next key is staged, so it is deployed without a
//! second order. If the client did not finish, the certificate is requested again.

use std::fs;
use std::path::Path;

use daneroll_providers::Tlsa;

use super::WorldError;
use super::acme::stage_if_renewed;
use crate::acme::acmesh::AcmeShCertificate;
use crate::acme::certbot::Lineage;
use crate::acme::lego::LegoCertificate;
use crate::acme::{backup_path_of, leaf_of};
use crate::config::AcmeSource;
use crate::rollover::store::{HostLock, Store};

/// Repairs the client's files after an interrupted renewal with the key of `next`; says what
/// it found.
pub(super) fn recover(
    store: &Store,
    lock: &HostLock,
    host: &str,
    source: &AcmeSource,
    next: &Tlsa,
) -> Result<String, WorldError> {
    let mut said = Vec::new();
    // The file daneroll overwrote with the next key, whether the client's certificate now
    // carries that key (then the key stays), and its certificate.
    let replaced = match source {
        AcmeSource::Certbot {
            config_dir,
            cert_name,
        } => {
            // archive/NAME/privkeyN.pem always goes back to certN's key; a finished renewal
            // wrote its own privkey(N+1).
            let lineage = Lineage::new(config_dir, cert_name);
            lineage
                .key_file()
                .ok()
                .map(|key| (key, false, lineage.live_dir().join("cert.pem")))
        }
        AcmeSource::AcmeSh { home, domain, ecc } => {
            let cert = AcmeShCertificate::new(home, domain, *ecc);
            Some((cert.key_file(), true, cert.cert_file()))
        }
        AcmeSource::Lego {
            path,
            domain,
            email,
        } => {
            let cert = LegoCertificate::new(path, domain, email);
            Some((cert.key_file(), true, cert.cert_file()))
        }
        AcmeSource::Dehydrated { .. } => None,
    };
    if let Some((key, kept_when_renewed, cert)) = replaced {
        let backup = backup_path_of(&key);
        if backup.exists() {
            let renewed = leaf_of(&cert).ok().map(|(record, _)| record).as_ref() == Some(next);
            if kept_when_renewed && renewed {
                remove(&backup)?;
                said.push(format!(
                    "the client finished with the next key; dropped {}",
                    backup.display()
                ));
            } else {
                fs::rename(&backup, &key).map_err(|e| WorldError::File {
                    path: backup.clone(),
                    problem: format!("cannot put the client's key back: {e}"),
                })?;
                said.push(format!(
                    "put the client's key back from {}",
                    backup.display()
                ));
            }
        }
    }
    if stage_if_renewed(store, lock, host, source, next)? {
        said.push(format!(
            "staged the client's certificate with the next key {}",
            next.short()
        ));
    } else {
        said.push("no certificate with the next key: it is requested again".into());
    }
    Ok(said.join("; "))
}

fn remove(path: &Path) -> Result<(), WorldError> {
    fs::remove_file(path).map_err(|e| WorldError::File {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::rollover::store::LockWait;

    const HOST: &str = "mx.example.net";

    /// A lego layout whose key file holds the next key (daneroll wrote it before running the
    /// client) and whose backup holds the old one; the certificate carries `cert_key`.
    struct Layout {
        _dir: tempfile::TempDir,
        store: Store,
        source: AcmeSource,
        key: PathBuf,
        old_pem: String,
        next: Tlsa,
    }

    fn layout(client_finished: bool) -> Layout {
        let dir = tempfile::tempdir().unwrap();
        let lego = dir.path().join("lego");
        let certs = lego.join("certificates");
        fs::create_dir_all(&certs).unwrap();
        let old = rcgen::KeyPair::generate().unwrap();
        let next = rcgen::KeyPair::generate().unwrap();
        let cert_of = |key: &rcgen::KeyPair| {
            rcgen::CertificateParams::new(vec![HOST.into()])
                .unwrap()
                .self_signed(key)
                .unwrap()
                .pem()
        };
        let probe = dir.path().join("next.crt");
        fs::write(&probe, cert_of(&next)).unwrap();
        let (next_record, _) = leaf_of(&probe).unwrap();
        let key = certs.join(format!("{HOST}.key"));
        fs::write(&key, next.serialize_pem()).unwrap();
        fs::write(backup_path_of(&key), old.serialize_pem()).unwrap();
        let issued = if client_finished { &next } else { &old };
        fs::write(certs.join(format!("{HOST}.crt")), cert_of(issued)).unwrap();
        Layout {
            store: Store::open(dir.path().join("state")).unwrap(),
            source: AcmeSource::Lego {
                path: lego,
                domain: HOST.into(),
                email: "hostmaster@example.net".into(),
            },
            key,
            old_pem: old.serialize_pem(),
            next: next_record,
            _dir: dir,
        }
    }

    #[test]
    fn a_renewal_the_client_finished_is_staged_and_its_key_kept() {
        let l = layout(true);
        let lock = l.store.lock(HOST, LockWait::NoWait).unwrap();
        let said = recover(&l.store, &lock, HOST, &l.source, &l.next).unwrap();
        assert!(said.contains("staged"), "{said}");
        assert!(!backup_path_of(&l.key).exists());
        assert_ne!(fs::read_to_string(&l.key).unwrap(), l.old_pem);
        let staged = crate::acme::staged::read(&l.store, HOST).unwrap().unwrap();
        assert_eq!(staged.record, l.next);
    }

    #[test]
    fn a_renewal_the_client_did_not_finish_puts_the_old_key_back() {
        let l = layout(false);
        let lock = l.store.lock(HOST, LockWait::NoWait).unwrap();
        let said = recover(&l.store, &lock, HOST, &l.source, &l.next).unwrap();
        assert!(said.contains("requested again"), "{said}");
        assert!(!backup_path_of(&l.key).exists());
        assert_eq!(fs::read_to_string(&l.key).unwrap(), l.old_pem);
        assert!(crate::acme::staged::read(&l.store, HOST).unwrap().is_none());
    }
}
