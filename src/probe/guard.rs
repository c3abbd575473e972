//! The engine's guard: before a TLSA record is retired, every address of the host must present
//! a certificate that matches the records that will remain.
//!
//! This is the last step of a rollover (RFC 7671 §8.1: "remove obsolete records" only once the
//! new chain is deployed) and the check `records remove` makes. Every address counts: a sender
//! picks any of them (RFC 7672 §2.2.2), and one address still presenting the old key is one
//! share of the mail deferred. A probe that fails (port closed, timeout) is not a match: the
//! guard answers "safe" only when it has seen every address present a matching chain.

use std::net::{IpAddr, SocketAddr};

use daneroll_providers::Tlsa;
use time::OffsetDateTime;

use super::dane::{DaneReport, Match, authenticate};
use super::starttls::{ProbeError, Prober, Target};

/// What one address presents, judged against the remaining records.
#[derive(Debug)]
pub enum AddressOutcome {
    /// The chain matches a remaining record.
    Matches(Match),
    /// The chain matches none of them; the report says why, and `leaf_key` is the `3 1 1`
    /// record of the key the leaf carries (which key the address still presents).
    NoMatch {
        report: DaneReport,
        leaf_key: Option<Tlsa>,
    },
    /// No chain was obtained.
    ProbeFailed(ProbeError),
}

/// The verdict for one address and port.
#[derive(Debug)]
pub struct AddressVerdict {
    /// What was probed.
    pub target: Target,
    /// What it presented, judged.
    pub outcome: AddressOutcome,
}

impl AddressVerdict {
    /// Whether this address is safe.
    pub fn matches(&self) -> bool {
        matches!(self.outcome, AddressOutcome::Matches(_))
    }

    /// One line for logs: `mx.example.com[192.0.2.1]:25: 3 1 1 ABCD… matches at depth 0`.
    pub fn describe(&self) -> String {
        let what = match &self.outcome {
            AddressOutcome::Matches(m) => {
                format!("{} matches at depth {}", m.record.short(), m.depth)
            }
            AddressOutcome::NoMatch { report, .. } => report.summary(),
            AddressOutcome::ProbeFailed(error) => format!("probe failed: {error}"),
        };
        format!("{}: {what}", self.target)
    }
}

/// The verdicts for every address and port of a host.
#[derive(Debug)]
pub struct HostVerdict {
    /// The host.
    pub host: String,
    /// One verdict per address and port, addresses outermost.
    pub addresses: Vec<AddressVerdict>,
}

impl HostVerdict {
    /// True only if there was at least one address and every one matched.
    pub fn all_match(&self) -> bool {
        !self.addresses.is_empty() && self.addresses.iter().all(AddressVerdict::matches)
    }

    /// The verdicts that are not matches.
    pub fn failures(&self) -> impl Iterator<Item = &AddressVerdict> {
        self.addresses.iter().filter(|v| !v.matches())
    }
}

/// Does every address of `host` now present, on every port in `ports`, a certificate that
/// matches `remaining_records`? Probes all of them concurrently.
pub async fn verify_host_presents(
    prober: &Prober,
    host: &str,
    addresses: &[IpAddr],
    ports: &[u16],
    remaining_records: &[Tlsa],
) -> HostVerdict {
    let targets: Vec<Target> = addresses
        .iter()
        .flat_map(|ip| {
            ports
                .iter()
                .map(move |port| Target::new(host, SocketAddr::new(*ip, *port)))
        })
        .collect();
    let reports = prober.probe_all(targets).await;
    let now = OffsetDateTime::now_utc();
    let addresses = reports
        .into_iter()
        .map(|report| {
            let outcome = match report.outcome {
                Err(error) => AddressOutcome::ProbeFailed(error),
                Ok(presented) => {
                    let names = [report.target.host.as_str()];
                    let dane = authenticate(&presented.chain, remaining_records, &names, now);
                    match dane.matched() {
                        Some(found) => AddressOutcome::Matches(found),
                        None => AddressOutcome::NoMatch {
                            report: dane,
                            leaf_key: presented.chain.first().and_then(|leaf| leaf_key(leaf)),
                        },
                    }
                }
            };
            AddressVerdict {
                target: report.target,
                outcome,
            }
        })
        .collect();
    HostVerdict {
        host: host.trim_end_matches('.').to_ascii_lowercase(),
        addresses,
    }
}

/// The `3 1 1` record of the key in `certificate` (DER), if it parses.
pub fn leaf_key(certificate: &[u8]) -> Option<Tlsa> {
    use sha2::{Digest, Sha256};
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, parsed) = X509Certificate::from_der(certificate).ok()?;
    let digest = Sha256::digest(parsed.public_key().raw);
    Some(Tlsa::new(3, 1, 1, digest.to_vec()))
}

impl HostVerdict {
    /// The one key every non-matching address presents, when all of them completed a
    /// handshake and show the same key: an MTA that has not reloaded yet (still the old key) or
    /// a key nobody published. `None` when an address failed or they disagree.
    pub fn the_other_key(&self) -> Option<Tlsa> {
        let mut key: Option<Tlsa> = None;
        for verdict in self.failures() {
            let AddressOutcome::NoMatch {
                leaf_key: Some(leaf),
                ..
            } = &verdict.outcome
            else {
                return None;
            };
            match &key {
                Some(seen) if seen != leaf => return None,
                Some(_) => {}
                None => key = Some(leaf.clone()),
            }
        }
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_addresses_is_not_safe() {
        let verdict = HostVerdict {
            host: "mx.example.com".into(),
            addresses: Vec::new(),
        };
        assert!(!verdict.all_match());
    }

    #[tokio::test]
    async fn unreachable_address_is_not_a_match() {
        // A listener that is closed again: the port refuses connections.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let prober = Prober::new(Default::default()).unwrap();
        let verdict = verify_host_presents(
            &prober,
            "mx.example.com.",
            &["127.0.0.1".parse().unwrap()],
            &[port],
            &[Tlsa::new(3, 1, 1, vec![0; 32])],
        )
        .await;
        assert!(!verdict.all_match());
        assert_eq!(verdict.failures().count(), 1);
        let line = verdict.addresses[0].describe();
        assert!(line.ends_with("probe failed: connection refused"), "{line}");
        assert!(line.starts_with("mx.example.com[127.0.0.1]:"), "{line}");
    }

    fn showing(port: u16, key: Option<u8>) -> AddressVerdict {
        let target = Target::new("mx.example.com", SocketAddr::from(([192, 0, 2, 1], port)));
        let outcome = match key {
            Some(byte) => AddressOutcome::NoMatch {
                report: DaneReport {
                    outcomes: Vec::new(),
                },
                leaf_key: Some(Tlsa::new(3, 1, 1, vec![byte; 32])),
            },
            None => AddressOutcome::ProbeFailed(ProbeError::InvalidHostName { host: "x".into() }),
        };
        AddressVerdict { target, outcome }
    }

    #[test]
    fn the_other_key_is_one_key_shown_by_every_address_that_does_not_match() {
        let verdict = |addresses| HostVerdict {
            host: "mx.example.com".into(),
            addresses,
        };
        let old = Some(Tlsa::new(3, 1, 1, vec![0xA; 32]));
        assert_eq!(
            verdict(vec![showing(25, Some(0xA)), showing(587, Some(0xA))]).the_other_key(),
            old
        );
        // Two different keys, or an address that did not answer: no single other key.
        assert_eq!(
            verdict(vec![showing(25, Some(0xA)), showing(587, Some(0xB))]).the_other_key(),
            None
        );
        assert_eq!(
            verdict(vec![showing(25, Some(0xA)), showing(587, None)]).the_other_key(),
            None
        );
    }
}
