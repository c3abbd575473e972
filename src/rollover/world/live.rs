//! The live check before an old record is retired: what every address and port of the host
//! presents now, probed with STARTTLS as a sending MTA would (RFC 7672 §2.2, the seed guide's
//! "never assume a published record works"). The machine gets the key that is live; when an
//! address still shows the old key (the MTA has not reloaded yet) it keeps the old record and
//! looks again, so the promise holds however slowly the MTA picks up its new files.
//!
//! The addresses come from daneroll's own DNSSEC validation (`dns::addresses`) when the host's
//! zone is signed: an address answer forged on the path is not probed. A key seen here is only
//! ever compared, never published (issue #13: a key seen only on the network may be an
//! attacker's).

use std::time::SystemTime;

use daneroll_providers::Tlsa;
use hickory_proto::rr::Name;

use super::{RealWorld, WorldError};
use crate::dns::addresses::validated_addresses;
use crate::dns::chain::ChainWalker;
use crate::probe::guard::{HostVerdict, verify_host_presents};
use crate::probe::starttls::{ProbeSettings, Prober};
use crate::rollover::driver::LiveSeen;

impl RealWorld {
    /// Probes every address of the host (and of its other names) on every port (STARTTLS, as a
    /// sending MTA would) and returns `expected` only if each one presents a chain whose key
    /// matches it; the other key when every address that does not shows one and the same other
    /// key (the machine waits for an old key, alerts on an unknown one); an error otherwise.
    /// Each address's line says what it presented.
    pub(super) async fn probe_live(
        &mut self,
        host: &str,
        expected: &Tlsa,
    ) -> Result<LiveSeen, WorldError> {
        let refused = |problem: String| WorldError::Refused {
            host: host.to_string(),
            problem,
        };
        let now = SystemTime::now();
        let mut walker = ChainWalker::new(
            &*self.dns.transport,
            self.dns.resolver,
            &self.dns.anchors,
            now,
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
            let owner = Name::from_ascii(format!("{}.", name.trim_end_matches('.')))
                .map_err(|e| refused(format!("live check: {name}: {e}")))?;
            let found = validated_addresses(
                &mut walker,
                &*self.dns.transport,
                self.dns.resolver,
                &owner,
                now,
            )
            .await
            .map_err(|e| refused(format!("live check: {e}")))?;
            if found.addresses.is_empty() {
                return Err(refused(format!(
                    "live check: {name} has no A or AAAA record"
                )));
            }
            self.say(&format!(
                "live check: addresses of {name} ({}): {}",
                found.trust,
                found
                    .addresses
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            let probed = verify_host_presents(
                &prober,
                name,
                &found.addresses,
                &self.host.ports,
                std::slice::from_ref(expected),
            )
            .await;
            verdict.addresses.extend(probed.addresses);
        }
        let seen: Vec<String> = verdict.addresses.iter().map(|a| a.describe()).collect();
        for line in &seen {
            self.say(&format!("live check: {line}"));
        }
        if verdict.all_match() {
            Ok(LiveSeen {
                presented: expected.clone(),
                seen,
            })
        } else if let Some(other) = verdict.the_other_key() {
            // Every address answered; those not yet on the new key all show one other key:
            // the machine decides (an old key: not reloaded yet, look again later; any other
            // key: an alert, never published).
            Ok(LiveSeen {
                presented: other,
                seen,
            })
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
