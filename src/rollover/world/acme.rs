//! The world's ACME side (`[host.source] type = …`): renew through the host's ACME client with
//! the next key, and read what the client's deploy hook staged (`hosts/<host>/staged.json`).
//!
//! Why through the client: RFC 7671 §8.1 lets the swap happen at once only for a key whose
//! record has been visible for the safety factor times the TTL. daneroll pre-publishes the next
//! key, so the renewal must be for exactly that key; each client's `renew_with_key` puts it
//! where that client takes its key from and checks the new certificate carries it.
//!
//! acme.sh and dehydrated also renew on their own schedule with a key they keep for the next
//! renewal (`D.key.next`, `privkey.roll.pem`): each next key daneroll generates is written
//! there too, so their own renewals use a key whose record daneroll publishes.
//!
//! The client runs the deploy hook itself; when it did not stage the renewed certificate (lego
//! has no saved settings, so its hook runs only if the renew command names it), the renewal
//! daneroll asked for is staged here from the client's files.
//!
//! The client runs the deploy hook itself (`daneroll hook …`); `DANEROLL_REQUESTING=<host>`
//! tells that hook a pass for the host is already under way, so it only stages.

use std::path::{Path, PathBuf};

use daneroll_providers::Tlsa;

use super::WorldError;
use super::files::{Chain, read_chain};
use crate::acme::acmesh::AcmeShCertificate;
use crate::acme::certbot::{self, Lineage};
use crate::acme::dehydrated::DehydratedCertificate;
use crate::acme::handover::LOCK_WAIT;
use crate::acme::lego::LegoCertificate;
use crate::acme::staged::StagedCertificate;
use crate::acme::{Client, RenewCommand, RenewedCertificate, key_type_of_pem, leaf_of, staged};
use crate::config::AcmeSource;
use crate::rollover::store::{HostLock, LockWait, Store};

/// The variable naming the host whose engine pass runs the ACME client.
pub const REQUESTING_ENV: &str = "DANEROLL_REQUESTING";

/// How the client's renewal runs: its timeout and the secrets kept from its environment.
pub(super) struct Limits {
    pub child_env: crate::process::ChildEnv,
    pub timeout: std::time::Duration,
}

/// Renews through the client with `key_pem` (the key of `next`), with the configured
/// `renew_command` if any, else the client's stock one. Blocking: run it off the async threads.
pub(super) fn renew(
    source: &AcmeSource,
    custom: Option<&[String]>,
    host: &str,
    key_pem: &[u8],
    next: &Tlsa,
    limits: &Limits,
) -> Result<(), WorldError> {
    let command = |stock: RenewCommand| {
        custom
            .and_then(RenewCommand::from_argv)
            .unwrap_or(stock)
            .with_env(REQUESTING_ENV, host)
            .with_timeout(limits.timeout)
            .with_child_env(limits.child_env.clone())
    };
    let (result, shown) = match source {
        AcmeSource::Certbot {
            config_dir,
            cert_name,
        } => {
            let lineage = Lineage::new(config_dir, cert_name);
            let mut command = command(lineage.renew_command(None));
            // certbot refuses a reused key of another type unless the flags name that type.
            if let Some(key_type) =
                key_type_of_pem(key_pem).and_then(|t| lineage.key_type_change(t))
            {
                command
                    .args
                    .extend(certbot::key_type_args(key_type).map(String::from));
            }
            (
                certbot::renew_with_key(&lineage, key_pem, next, &command),
                command.display(),
            )
        }
        AcmeSource::AcmeSh { home, domain, ecc } => {
            let cert = AcmeShCertificate::new(home, domain, *ecc);
            let command = command(cert.renew_command());
            (
                cert.renew_with_key(key_pem, next, &command),
                command.display(),
            )
        }
        AcmeSource::Dehydrated { cert_dir, domain } => {
            let cert = DehydratedCertificate::new(cert_dir, domain);
            let command = command(cert.renew_command());
            (
                cert.renew_with_key(key_pem, next, &command),
                command.display(),
            )
        }
        AcmeSource::Lego {
            path,
            domain,
            email,
        } => {
            let cert = LegoCertificate::new(path, domain, email);
            let command = command(cert.renew_command());
            (
                cert.renew_with_key(key_pem, next, &command),
                command.display(),
            )
        }
    };
    result.map_err(|e| WorldError::Command {
        command: shown,
        problem: e.to_string(),
    })
}

/// After a renewal through the client with the key of `next`: stages the certificate from the
/// client's files unless its deploy hook already did. Returns whether it staged it.
pub(super) fn stage_renewed(
    store: &Store,
    host: &str,
    source: &AcmeSource,
    next: &Tlsa,
) -> Result<bool, WorldError> {
    let store_error = |e: crate::rollover::store::StoreError| WorldError::File {
        path: Path::new("staged.json").to_path_buf(),
        problem: e.to_string(),
    };
    let certificate = renewed_files(source);
    let (record, _) = leaf_of(&certificate.cert_path).map_err(|e| WorldError::File {
        path: certificate.cert_path.clone(),
        problem: e.to_string(),
    })?;
    if &record != next {
        return Ok(false);
    }
    let lock = store
        .lock(host, LockWait::WaitFor(LOCK_WAIT))
        .map_err(store_error)?;
    stage_if_renewed(store, &lock, host, source, next)
}

/// Under the host's lock: stages the client's current certificate if it carries the key of
/// `next` and is not staged yet. Returns whether it staged it.
pub(super) fn stage_if_renewed(
    store: &Store,
    lock: &HostLock,
    host: &str,
    source: &AcmeSource,
    next: &Tlsa,
) -> Result<bool, WorldError> {
    let store_error = |e: crate::rollover::store::StoreError| WorldError::File {
        path: Path::new("staged.json").to_path_buf(),
        problem: e.to_string(),
    };
    let certificate = renewed_files(source);
    let (record, not_after) = leaf_of(&certificate.cert_path).map_err(|e| WorldError::File {
        path: certificate.cert_path.clone(),
        problem: e.to_string(),
    })?;
    let staged = staged::read(store, host).map_err(store_error)?;
    if &record != next || staged.is_some_and(|s| &s.record == next) {
        return Ok(false);
    }
    let staged = StagedCertificate {
        record,
        not_after,
        received_at: time::OffsetDateTime::now_utc(),
        certificate,
    };
    staged::write(store, lock, &staged).map_err(store_error)
}

/// The client's files for its current certificate, as its deploy hook would name them.
pub(super) fn renewed_files(source: &AcmeSource) -> RenewedCertificate {
    let (client, cert, key, fullchain, chain) = match source {
        AcmeSource::Certbot {
            config_dir,
            cert_name,
        } => {
            let live = Lineage::new(config_dir, cert_name).live_dir();
            (
                Client::Certbot,
                live.join("cert.pem"),
                live.join("privkey.pem"),
                live.join("fullchain.pem"),
                live.join("chain.pem"),
            )
        }
        AcmeSource::AcmeSh { home, domain, ecc } => {
            let cert = AcmeShCertificate::new(home, domain, *ecc);
            (
                Client::AcmeSh,
                cert.cert_file(),
                cert.key_file(),
                cert.dir().join("fullchain.cer"),
                cert.dir().join("ca.cer"),
            )
        }
        AcmeSource::Dehydrated { cert_dir, domain } => {
            let dir = DehydratedCertificate::new(cert_dir, domain).dir();
            (
                Client::Dehydrated,
                dir.join("cert.pem"),
                dir.join("privkey.pem"),
                dir.join("fullchain.pem"),
                dir.join("chain.pem"),
            )
        }
        AcmeSource::Lego {
            path,
            domain,
            email,
        } => {
            let cert = LegoCertificate::new(path, domain, email);
            let crt = cert.cert_file();
            let issuer = crt.with_extension("issuer.crt");
            (Client::Lego, crt.clone(), cert.key_file(), crt, issuer)
        }
    };
    RenewedCertificate {
        client,
        domains: crate::acme::names_of(&cert).unwrap_or_default(),
        cert_path: cert,
        key_path: key,
        fullchain_path: Some(fullchain),
        chain_path: Some(chain),
    }
}

/// Puts a newly generated next key where the client takes its next key from at its *own* next
/// renewal (acme.sh `D.key.next`, dehydrated `privkey.roll.pem`), replacing the fresh key the
/// client made for itself after its last renewal. certbot and lego have no such place: the key
/// is written only when daneroll renews through them. Returns the file written, if any.
pub(super) fn stage_next_key(
    source: &AcmeSource,
    key_pem: &[u8],
) -> Result<Option<PathBuf>, WorldError> {
    let (result, path) = match source {
        AcmeSource::AcmeSh { home, domain, ecc } => {
            let cert = AcmeShCertificate::new(home, domain, *ecc);
            (cert.stage_next_key(key_pem), cert.next_key_file())
        }
        AcmeSource::Dehydrated { cert_dir, domain } => {
            let cert = DehydratedCertificate::new(cert_dir, domain);
            (cert.stage_next_key(key_pem), cert.next_key_file())
        }
        AcmeSource::Certbot { .. } | AcmeSource::Lego { .. } => return Ok(None),
    };
    result.map_err(|e| WorldError::File {
        path: path.clone(),
        problem: format!("cannot stage the next key for {}: {e}", source.client()),
    })?;
    Ok(Some(path))
}

/// The chain the hook staged for `host`, unless it is the deployed one.
pub(super) fn staged_chain(
    store: &Store,
    host: &str,
    deployed: Option<&Chain>,
) -> Result<Option<Chain>, WorldError> {
    let staged = staged::read(store, host).map_err(|e| WorldError::File {
        path: Path::new("staged.json").to_path_buf(),
        problem: e.to_string(),
    })?;
    let Some(staged) = staged else {
        return Ok(None);
    };
    let cert = &staged.certificate;
    let path = cert.fullchain_path.as_ref().unwrap_or(&cert.cert_path);
    let chain = read_chain(path)?;
    Ok(chain.filter(|c| deployed.is_none_or(|d| d.leaf_der != c.leaf_der)))
}

/// The private key file the client named for the staged certificate, if any.
pub(super) fn staged_key_path(store: &Store, host: &str) -> Option<PathBuf> {
    staged::read(store, host)
        .ok()
        .flatten()
        .map(|s| s.certificate.key_path)
}

/// Forgets the staged certificate once it is deployed.
pub(super) fn clear(store: &Store, host: &str) -> Result<(), WorldError> {
    staged::clear_in_pass(store, host).map_err(|e| WorldError::File {
        path: Path::new("staged.json").to_path_buf(),
        problem: e.to_string(),
    })
}
