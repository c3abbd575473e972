//! The demo's independent DANE check: what a validating sender would conclude, every second.
//!
//! It shares no state with the rollover in progress: its own observer asks the name server for
//! the TLSA RRset and verifies the RRSIGs against the trust anchor (RFC 4035 §5), and its own
//! STARTTLS probe (RFC 3207; the prober and RFC 7672 matching of `daneroll check`) fetches the
//! chain port 25 presents. The check passes when that chain matches a validated record (RFC 7672
//! §3.1.1: DANE-EE ignores names, dates and issuer). A single failure is what the promise
//! forbids: a sender would defer mail (`4.7.5`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use daneroll_providers::Tlsa;
use tokio::sync::Mutex;

use crate::dns::clock::SystemClock;
use crate::dns::net::HickoryTransport;
use crate::dns::observation::Answer;
use crate::dns::observer::Observer;
use crate::probe::guard::{AddressOutcome, verify_host_presents};
use crate::probe::starttls::Prober;

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The presented key matches a validated record.
    Pass { presented: Tlsa, published: usize },
    /// It does not, or something could not be checked: a sender would defer.
    Fail(String),
}

/// Every check so far.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub checks: u32,
    pub failures: u32,
    pub first_failure: Option<String>,
    pub last: Option<Verdict>,
}

/// What the independent check looks at, and with what.
pub struct Checker {
    /// Its own observer of the name server (validating against the trust anchor).
    pub observer: Observer<HickoryTransport>,
    /// The production STARTTLS prober.
    pub prober: Prober,
    /// The MX address and port.
    pub smtp: SocketAddr,
    /// The MX host name.
    pub host: String,
}

/// Checks once: the validated TLSA RRset against the chain port 25 presents, with the
/// production STARTTLS probe and RFC 7672 matching (`probe::guard`, the code path of
/// `daneroll check` and of the engine's retirement guard).
pub async fn check_once(
    observer: &Observer<HickoryTransport>,
    prober: &Prober,
    smtp: SocketAddr,
    host: &str,
) -> Verdict {
    let records = match observer.poll(&SystemClock).await.into_iter().next() {
        Some(observation) => match observation.answer {
            Answer::Served(served) if served.dnssec.is_valid() => served.records,
            Answer::Served(served) => {
                return Verdict::Fail(format!("TLSA answer does not validate: {}", served.dnssec));
            }
            other => return Verdict::Fail(format!("no TLSA answer: {other:?}")),
        },
        None => return Verdict::Fail("no name server to ask".into()),
    };
    let verdict = verify_host_presents(prober, host, &[smtp.ip()], &[smtp.port()], &records).await;
    match verdict.addresses.first().map(|a| &a.outcome) {
        Some(AddressOutcome::Matches(found)) => Verdict::Pass {
            presented: found.record.clone(),
            published: records.len(),
        },
        Some(_) => Verdict::Fail(
            verdict
                .failures()
                .map(|a| a.describe())
                .collect::<Vec<_>>()
                .join("; "),
        ),
        None => Verdict::Fail("nothing probed".into()),
    }
}

/// Runs [`check_once`] every `interval` until `stop` is set; prints a line (if `narrate`) when
/// the verdict changes and at every failure.
pub async fn watch(
    checker: Checker,
    interval: Duration,
    tally: Arc<Mutex<Tally>>,
    stop: Arc<AtomicBool>,
    narrate: bool,
) {
    let Checker {
        observer,
        prober,
        smtp,
        host,
    } = checker;
    let mut shown: Option<Verdict> = None;
    while !stop.load(Ordering::Relaxed) {
        let verdict = check_once(&observer, &prober, smtp, &host).await;
        if narrate && shown.as_ref() != Some(&verdict) {
            let _ = crate::output::write_line(&match &verdict {
                Verdict::Pass {
                    presented,
                    published,
                } => format!(
                    "  [check] OK: port 25 presents {}, one of {published} validated TLSA records",
                    presented.short()
                ),
                Verdict::Fail(reason) => format!("  [check] FAILED: {reason}"),
            });
            shown = Some(verdict.clone());
        }
        {
            let mut tally = tally.lock().await;
            tally.checks += 1;
            if let Verdict::Fail(reason) = &verdict {
                tally.failures += 1;
                tally.first_failure.get_or_insert_with(|| reason.clone());
            }
            tally.last = Some(verdict);
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::SystemTime;

    use hickory_proto::rr::Name;

    use super::*;
    use crate::demo::ca::Ca;
    use crate::demo::dns::{DnsLab, ZoneNames, ZoneSetup};
    use crate::demo::smtp::{SMTP_PORT, SmtpLab, TlsFiles};
    use crate::dns::chain::ChainWalker;
    use crate::dns::trust_anchor::TrustAnchors;
    use crate::probe::starttls::ProbeSettings;

    /// A lab whose zone publishes `published(record of the served key)`.
    async fn verdict(published: impl Fn(&Tlsa) -> Vec<Tlsa>) -> Verdict {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = Ca::create(dir.path()).expect("ca");
        let files = TlsFiles {
            key: dir.path().join("key.pem"),
            chain: dir.path().join("chain.pem"),
        };
        let served = ca
            .issue_fresh("mx.demo.example", &files.key, &files.chain)
            .expect("issue");
        let setup = ZoneSetup {
            names: ZoneNames::demo(),
            ttl: 3,
            tlsa: published(&served),
        };
        let candidates: Vec<Ipv4Addr> = (1..=40).map(|n| Ipv4Addr::new(127, 53, 8, n)).collect();
        let lab = DnsLab::start(&setup, &candidates, dir.path())
            .await
            .expect("dns");
        let smtp = SmtpLab::start(
            SocketAddr::new(lab.addr().ip(), SMTP_PORT),
            "mx.demo.example",
            files,
        )
        .await
        .expect("smtp");
        let transport = Arc::new(HickoryTransport::new(Duration::from_secs(2), 2));
        let anchors = TrustAnchors::parse(lab.trust_anchor(), "anchor").expect("anchor");
        let mut walker = ChainWalker::new(&*transport, lab.addr(), &anchors, SystemTime::now());
        let owner = Name::from_ascii(lab.names().tlsa_owner()).expect("owner");
        let observer = Observer::discover(Arc::clone(&transport), &mut walker, lab.addr(), owner)
            .await
            .expect("discover");
        let prober = Prober::new(ProbeSettings::default()).expect("prober");
        let verdict = check_once(&observer, &prober, smtp.addr(), "mx.demo.example").await;
        smtp.stop();
        lab.stop().await;
        verdict
    }

    #[tokio::test]
    async fn passes_when_the_presented_key_has_a_validated_record() {
        let verdict = verdict(|served| vec![served.clone()]).await;
        assert!(
            matches!(verdict, Verdict::Pass { published: 1, .. }),
            "{verdict:?}"
        );
    }

    #[tokio::test]
    async fn fails_when_no_record_matches_the_presented_key() {
        let other: Tlsa = format!("3 1 1 {}", "AB".repeat(32))
            .parse()
            .expect("record");
        let verdict = verdict(move |_| vec![other.clone()]).await;
        let Verdict::Fail(reason) = verdict else {
            panic!("{verdict:?}")
        };
        assert!(reason.contains("127.53.8."), "names the address: {reason}");
    }
}
