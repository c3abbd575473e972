//! Handing a renewed certificate to the engine: which configured hosts it is for, how its key
//! relates to each host's rollover, and staging it for the engine's next pass.
//!
//! The hook must return promptly (the ACME client waits for it, and certbot runs hooks for
//! every lineage in turn), so it never waits for DNS: it stages the certificate under the
//! host's lock and says what the engine will do with it. An expected next key that is already
//! safe is deployed by the engine's next pass without any wait; any other key is published by
//! the engine's emergency path (RFC 7671 §8.1: the certificate is deployed only after its
//! record has been visible for the safety factor times the TTL).

use std::time::Duration;

use daneroll_providers::Tlsa;
use serde::Serialize;
use time::OffsetDateTime;

use super::staged::{self, StagedCertificate};
use super::{InjectError, RenewedCertificate};
use crate::config::Host;
use crate::rollover::state::Stage;
use crate::rollover::store::{LockWait, Store, StoreError};

/// How long the hook waits for a host's lock (a `tick` holds it only between actions; the
/// driver releases it while the ACME client runs, so the client's own hook never deadlocks).
pub const LOCK_WAIT: Duration = Duration::from_secs(60);

/// How the certificate's key relates to the host's rollover.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The pre-published next key: deployed as soon as it is safe (at once in `ready`).
    NextKey,
    /// The key already in service (a renewal that reused the key): deployed without waiting.
    CurrentKey,
    /// A key being retired: not deployed (alert).
    RetiredKey,
    /// A key daneroll never published: the emergency path publishes it first (alert).
    UnexpectedKey,
    /// daneroll has no state for the host yet: the first `tick` adopts it.
    NewHost,
}

impl Verdict {
    /// Whether the operator must look.
    pub fn is_alert(self) -> bool {
        matches!(self, Verdict::RetiredKey | Verdict::UnexpectedKey)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Verdict::NextKey => "the published next key: staged, deployed once the key is safe",
            Verdict::CurrentKey => "the current key: staged, deployed by the next pass",
            Verdict::RetiredKey => "a key being retired: staged but NOT deployed; renew again",
            Verdict::UnexpectedKey => {
                "a key daneroll did not publish: the next pass publishes it (emergency path); \
                 the certificate is deployed only once its record is safe"
            }
            Verdict::NewHost => "no state yet: `daneroll tick` adopts the host",
        }
    }
}

/// What happened for one host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HostOutcome {
    pub host: String,
    pub record: Tlsa,
    pub verdict: Verdict,
    /// `false` when the same certificate was staged already (a repeated hook call).
    pub newly_staged: bool,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandoverError {
    #[error(transparent)]
    Certificate(#[from] InjectError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl HandoverError {
    pub fn is_busy(&self) -> bool {
        matches!(self, HandoverError::Store(StoreError::Busy { .. }))
    }
}

/// The configured hosts a certificate is for: those with a name (or other name) among its
/// domains.
pub fn hosts_for<'a>(hosts: &'a [Host], cert: &RenewedCertificate) -> Vec<&'a Host> {
    hosts
        .iter()
        .filter(|host| {
            host.names()
                .any(|name| cert.domains.iter().any(|d| d == name))
        })
        .collect()
}

/// How `record` relates to a host's saved stage.
pub fn verdict(stage: Option<&Stage>, record: &Tlsa) -> Verdict {
    let Some(stage) = stage else {
        return Verdict::NewHost;
    };
    if stage.next_record() == Some(record) {
        Verdict::NextKey
    } else if stage.current().is_some_and(|c| &c.record == record) {
        Verdict::CurrentKey
    } else if stage.retiring().contains(record) {
        Verdict::RetiredKey
    } else {
        Verdict::UnexpectedKey
    }
}

/// Reads the certificate, and for every host stages it under the host's lock.
pub fn hand_over(
    store: &Store,
    hosts: &[&Host],
    cert: &RenewedCertificate,
    now: OffsetDateTime,
    wait: LockWait,
) -> Result<Vec<HostOutcome>, HandoverError> {
    let (record, not_after) = super::files::leaf_of(&cert.cert_path)?;
    let mut outcomes = Vec::new();
    for host in hosts {
        let lock = store.lock(&host.name, wait)?;
        let rollover = store.load(&lock)?;
        let verdict = verdict(rollover.as_ref().map(|r| &r.stage), &record);
        let newly_staged = staged::write(
            store,
            &lock,
            &StagedCertificate {
                record: record.clone(),
                not_after,
                received_at: now,
                certificate: cert.clone(),
            },
        )?;
        outcomes.push(HostOutcome {
            host: host.name.clone(),
            record: record.clone(),
            verdict,
            newly_staged,
        });
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acme::Client;

    fn host(name: &str) -> Host {
        Host {
            name: name.into(),
            other_names: vec![],
            ports: vec![25],
            dns: "primary".into(),
            mail_domains: vec![],
            key_type: crate::pki::keygen::KeyType::default(),
            ttl: crate::config_engine::DEFAULT_TTL,
            deploy: None,
            source: None,
            live_check: crate::config::LiveCheck::Files,
        }
    }

    #[test]
    fn hosts_are_matched_by_name() {
        let hosts = [host("mx1.example.net"), host("mx2.example.net")];
        let cert = RenewedCertificate {
            client: Client::Lego,
            domains: vec!["www.example.net".into(), "mx2.example.net".into()],
            cert_path: "/c".into(),
            key_path: "/k".into(),
            fullchain_path: None,
            chain_path: None,
        };
        let found: Vec<_> = hosts_for(&hosts, &cert).iter().map(|h| &h.name).collect();
        assert_eq!(found, vec!["mx2.example.net"]);
        // A group: the certificate names only the other name.
        let mut group = host("mx1.example.net");
        group.other_names = vec!["mx2.example.net".into()];
        let found: Vec<_> = hosts_for(std::slice::from_ref(&group), &cert)
            .iter()
            .map(|h| &h.name)
            .collect();
        assert_eq!(found, vec!["mx1.example.net"]);
    }

    #[test]
    fn a_host_without_state_is_new() {
        let record: Tlsa = format!("3 1 1 {}", "ab".repeat(32)).parse().unwrap();
        assert_eq!(verdict(None, &record), Verdict::NewHost);
        assert!(!Verdict::NewHost.is_alert() && Verdict::UnexpectedKey.is_alert());
    }
}
