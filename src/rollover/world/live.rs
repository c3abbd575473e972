//! The live check before an old record is retired: what every address and port of the host
//! presents now, probed with STARTTLS as a sending MTA would (RFC 7672 §2.2, the seed guide's
//! "never assume a published record works"). The machine gets the key that is live; when an
//! address still shows the old key (the MTA has not reloaded yet) it keeps the old record and
//! looks again, so the promise holds however slowly the MTA picks up its new files.

use std::time::SystemTime;

use daneroll_providers::Tlsa;

use super::{RealWorld, WorldError};
use crate::probe::guard::{HostVerdict, verify_host_presents};
use crate::probe::lookup::Dns;
use crate::probe::starttls::{ProbeSettings, Prober};

impl RealWorld {
    /// Probes every address of the host (and of its other names) on every port (STARTTLS, as a
    /// sending MTA would) and
    /// returns `expected` only if each one presents a chain whose key matches it; the other
    /// key when every address that does not shows one and the same other key (the machine
    /// waits for an old key, adopts an unknown one); an error otherwise.
    pub(super) async fn probe_live(
        &mut self,
        host: &str,
        expected: &Tlsa,
    ) -> Result<Tlsa, WorldError> {
        let refused = |problem: String| WorldError::Refused {
            host: host.to_string(),
            problem,
        };
        let dns = Dns::new(
            &*self.dns.transport,
            self.dns.resolver,
            &self.dns.anchors,
            SystemTime::now(),
        );
        let prober = Prober::new(ProbeSettings::default())
            .map_err(|e| refused(format!("live check: TLS client: {e}")))?;
        // Every name of the host (a group sharing one key), every address, every port.
        let mut verdict = HostVerdict {
            host: host.to_string(),
            addresses: Vec::new(),
        };
        let names: Vec<String> = self.host.names().map(str::to_string).collect();
        for name in &names {
            let addresses = dns
                .addresses(name)
                .await
                .map_err(|e| refused(format!("live check: looking up {name}: {e}")))?
                .records;
            if addresses.is_empty() {
                return Err(refused(format!(
                    "live check: {name} has no A or AAAA record"
                )));
            }
            let found = verify_host_presents(
                &prober,
                name,
                &addresses,
                &self.host.ports,
                std::slice::from_ref(expected),
            )
            .await;
            verdict.addresses.extend(found.addresses);
        }
        for address in &verdict.addresses {
            self.say(&format!("live check: {}", address.describe()));
        }
        if verdict.all_match() {
            Ok(expected.clone())
        } else if let Some(other) = verdict.the_other_key() {
            // Every address answered; those not yet on the new key all show one other key:
            // the machine decides (an old key: not reloaded yet, look again later).
            Ok(other)
        } else {
            let failures: Vec<String> = verdict.failures().map(|f| f.describe()).collect();
            Err(refused(format!(
                "live check: not every address presents {}: {}",
                expected.short(),
                failures.join("; ")
            )))
        }
    }
}
