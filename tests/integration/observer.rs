//! The propagation observer and the DNSSEC preflight against the lab's real BIND, Knot and
//! unbound: verdicts for secure, insecure (no DS, unsigned) and bogus zones, a record seen
//! signed at the primary and the secondary, a silent or stale secondary withholding the safe
//! time, and the negative-TTL hold when the name had no TLSA.

use std::sync::Arc;
use std::time::Duration;

use daneroll::dns::chain::{BogusReason, ChainWalker, InsecureLink, ZoneStatus};
use daneroll::dns::clock::{Clock, SystemClock};
use daneroll::dns::net::HickoryTransport;
use daneroll::dns::observation::{Answer, Dnssec, Expected, ServerVerdict};
use daneroll::dns::observer::Observer;
use daneroll::dns::preflight::Preflight;
use daneroll::dns::safe_time::{SafetyFactor, Status};
use daneroll::dns::trust_anchor::TrustAnchors;
use daneroll::dns::wait::{WaitOutcome, WaitSettings, wait_until_safe};
use daneroll_providers::rfc2136::{Rfc2136, Rfc2136Config};
use daneroll_providers::tsig::TsigKey;
use daneroll_providers::{DnsBackend, Outcome, Tlsa};
use hickory_proto::rr::Name;

use crate::lab::{Lab, LabZone};

/// A `3 1 1` record with 32 copies of `byte`.
pub fn record(byte: u8) -> Tlsa {
    Tlsa::new(3, 1, 1, vec![byte; 32])
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Short timeouts: a SIGSTOPped server must not slow the tests down.
fn transport() -> Arc<HickoryTransport> {
    Arc::new(HickoryTransport::new(Duration::from_millis(400), 2))
}

fn anchors(lab: &Lab) -> TrustAnchors {
    TrustAnchors::from_file(&lab.trust_anchor).unwrap()
}

async fn observer(
    lab: &Lab,
    transport: &Arc<HickoryTransport>,
    owner: &str,
) -> Observer<HickoryTransport> {
    let anchors = anchors(lab);
    let mut walker = ChainWalker::new(&**transport, lab.resolver, &anchors, SystemClock.now());
    Observer::discover(
        Arc::clone(transport),
        &mut walker,
        lab.resolver,
        name(owner),
    )
    .await
    .unwrap()
}

/// Publishes through daneroll's RFC 2136 backend (the way `records add` does).
async fn add(lab: &Lab, zone: &LabZone, owner: &str, tlsa: &Tlsa) {
    let key = TsigKey::from_file(&lab.keys.mx.bind_file, None).unwrap();
    let mut config = Rfc2136Config::new(key, lab.resolver);
    config.server = Some(zone.primary());
    let backend = Rfc2136::new(config);
    assert_eq!(backend.add(owner, tlsa, 5).await.unwrap(), Outcome::Changed);
}

async fn zone_status(lab: &Lab, anchors: &TrustAnchors, owner: &str) -> (Name, ZoneStatus) {
    let transport = transport();
    let mut walker = ChainWalker::new(&*transport, lab.resolver, anchors, SystemClock.now());
    let (zone, _) = walker.zone_of(&name(owner)).await.unwrap();
    let status = walker.validate(&zone).await.unwrap();
    (zone, status)
}

#[test]
fn preflight_verdicts_match_the_lab_tree() {
    let lab = Lab::start();
    runtime().block_on(async {
        let ds_anchor = anchors(&lab);
        let (zone, status) = zone_status(&lab, &ds_anchor, &lab.mx.tlsa_owner(25)).await;
        assert_eq!(zone, name("mx.example."));
        assert!(matches!(status, ZoneStatus::Secure(_)), "{status}");

        let (_, status) = zone_status(&lab, &ds_anchor, &lab.knot.tlsa_owner(25)).await;
        assert!(matches!(status, ZoneStatus::Secure(_)), "knot (NSEC3): {status}");

        let (_, status) = zone_status(&lab, &ds_anchor, &lab.nods.tlsa_owner(25)).await;
        assert!(
            matches!(&status, ZoneStatus::Insecure(InsecureLink::NoDs { child_signed: true, child, .. }) if child == "nods.example."),
            "{status}"
        );
        assert!(status.to_string().contains("its parent example. has no DS"), "{status}");

        let (_, status) = zone_status(&lab, &ds_anchor, &lab.insecure.tlsa_owner(25)).await;
        assert!(
            matches!(&status, ZoneStatus::Insecure(InsecureLink::NoDs { child_signed: false, .. })),
            "{status}"
        );
        assert!(status.to_string().contains("is not signed"), "{status}");

        let (_, status) = zone_status(&lab, &ds_anchor, &lab.bogus.tlsa_owner(25)).await;
        let ZoneStatus::Bogus(link) = &status else {
            panic!("bogus.example. must be bogus: {status}");
        };
        assert!(matches!(link.reason, BogusReason::NoMatchingKey { .. }), "{link}");

        // A DNSKEY trust anchor (as unbound's root.key ships it) works the same way.
        let key_anchor = TrustAnchors::from_file(&lab.trust_anchor_dnskey).unwrap();
        let (_, status) = zone_status(&lab, &key_anchor, &lab.mx.tlsa_owner(25)).await;
        assert!(matches!(status, ZoneStatus::Secure(_)), "{status}");

        // The built-in root KSKs do not anchor the lab's private root: bogus at the root.
        let (_, status) = zone_status(&lab, &TrustAnchors::root(), &lab.mx.tlsa_owner(25)).await;
        assert!(
            matches!(&status, ZoneStatus::Bogus(link) if link.zone == "."),
            "{status}"
        );

        // The preflight refuses to publish into the insecure zone, naming the link.
        let transport = transport();
        let mut walker = ChainWalker::new(&*transport, lab.resolver, &ds_anchor, SystemClock.now());
        let owner = name(&lab.nods.tlsa_owner(25));
        let preflight = Preflight::run(&mut walker, &lab.nods.host, &owner, &[name("corp.example.")])
            .await
            .unwrap();
        let refusal = preflight.require_secure().unwrap_err().to_string();
        assert!(refusal.contains("zone nods.example. is insecure"), "{refusal}");
        assert!(refusal.contains("publish the DS"), "{refusal}");
        let lines = preflight.lines().join("\n");
        assert!(lines.contains("mail domain corp.example (zone corp.example.): secure"), "{lines}");
    });
}

#[test]
fn an_added_record_is_seen_signed_everywhere_then_safe_after_two_negative_ttls() {
    let lab = Lab::start();
    let owner = lab.mx.tlsa_owner(25);
    let tlsa = record(0x11);
    runtime().block_on(async {
        let transport = transport();
        let observer = observer(&lab, &transport, &owner).await;
        assert_eq!(observer.servers().len(), 4, "{:?}", observer.servers());
        // Keep the secondary on the old zone so the negative answer is observed.
        lab.block_transfers();
        add(&lab, &lab.mx, &owner, &tlsa).await;
        let expected = Expected {
            record: tlsa.clone(),
            present: true,
        };
        let observations = observer.poll(&SystemClock).await;
        for obs in &observations {
            let verdict = obs.verdict(&expected);
            if lab.mx.primary_addrs.contains(&obs.server.addr) {
                assert_eq!(verdict, ServerVerdict::Serving, "{}", obs.server);
                let Answer::Served(served) = &obs.answer else {
                    unreachable!()
                };
                assert!(
                    matches!(served.dnssec, Dnssec::Signed { .. }),
                    "{:?}",
                    served.dnssec
                );
                assert!(served.dnssec.expires().unwrap() > SystemClock.now());
            } else {
                assert_eq!(verdict, ServerVerdict::Stale, "{}", obs.server);
                let Answer::Served(served) = &obs.answer else {
                    unreachable!()
                };
                assert!(
                    matches!(served.dnssec, Dnssec::ProvenAbsent { .. }),
                    "{:?}",
                    served.dnssec
                );
            }
        }
        let primary_serial = observations[0].soa.unwrap().serial;
        let stale_serial = observations
            .iter()
            .find(|o| lab.mx.secondary_addrs.contains(&o.server.addr))
            .and_then(|o| o.soa)
            .unwrap()
            .serial;
        assert!(
            stale_serial < primary_serial,
            "{stale_serial} < {primary_serial}"
        );

        let mut saw_stale_secondary = false;
        let mut released = false;
        let settings = WaitSettings {
            interval: Duration::from_millis(300),
            timeout: Some(Duration::from_secs(60)),
            ..WaitSettings::default()
        };
        let outcome = wait_until_safe(&observer, &expected, &settings, &SystemClock, |report| {
            if let Status::Propagating { waiting_for } = report.status {
                saw_stale_secondary |= waiting_for
                    .iter()
                    .all(|a| lab.mx.secondary_addrs.contains(a));
                if !released {
                    released = true;
                    lab.allow_transfers();
                }
            }
        })
        .await
        .unwrap();
        assert!(saw_stale_secondary);
        let WaitOutcome::Safe {
            served_at,
            safe_at,
            bound,
            factor,
        } = outcome
        else {
            panic!("{outcome:?}");
        };
        // Every lab TTL is 5 s: the TLSA RRSIG's original TTL and the validated negative TTL.
        assert_eq!((bound.ttl, factor), (5, SafetyFactor::DEFAULT), "{bound}");
        assert_eq!(
            safe_at.duration_since(served_at).unwrap(),
            Duration::from_secs(10)
        );
        let view = observer.resolver_view().await;
        let answer = view.outcome.unwrap();
        assert!(
            answer.authenticated,
            "the resolver validates the new RRset: {answer:?}"
        );
        assert!(answer.records.contains(&tlsa), "{answer:?}");
    });
}

#[test]
fn a_stopped_secondary_withholds_the_safe_time_until_it_resumes() {
    let lab = Lab::start();
    let owner = lab.mx.tlsa_owner(465);
    let tlsa = record(0x22);
    runtime().block_on(async {
        let transport = transport();
        let observer = observer(&lab, &transport, &owner).await;
        lab.pause_secondary();
        add(&lab, &lab.mx, &owner, &tlsa).await;
        let expected = Expected {
            record: tlsa.clone(),
            present: true,
        };
        let settings = WaitSettings {
            interval: Duration::from_millis(300),
            timeout: Some(Duration::from_secs(3)),
            ..WaitSettings::default()
        };
        let outcome = wait_until_safe(&observer, &expected, &settings, &SystemClock, |_| {})
            .await
            .unwrap();
        let WaitOutcome::TimedOut { laggards, safe_at } = outcome else {
            lab.resume_secondary();
            panic!("{outcome:?}");
        };
        assert_eq!(safe_at, None, "no safe time while the secondary is silent");
        let mut named: Vec<_> = laggards.iter().map(|(s, _)| s.addr).collect();
        named.sort();
        let mut secondary = lab.mx.secondary_addrs.clone();
        secondary.sort();
        assert_eq!(named, secondary);
        assert!(
            laggards
                .iter()
                .all(|(_, v)| matches!(v, ServerVerdict::NoAnswer(_))),
            "{laggards:?}"
        );

        lab.resume_secondary();
        let settings = WaitSettings {
            interval: Duration::from_millis(300),
            timeout: Some(Duration::from_secs(60)),
            ..WaitSettings::default()
        };
        let outcome = wait_until_safe(&observer, &expected, &settings, &SystemClock, |_| {})
            .await
            .unwrap();
        assert!(matches!(outcome, WaitOutcome::Safe { .. }), "{outcome:?}");
    });
}

#[test]
fn knot_nsec3_denial_and_signatures_verify() {
    let lab = Lab::start();
    let owner = lab.knot.tlsa_owner(25);
    runtime().block_on(async {
        let transport = transport();
        let observer = observer(&lab, &transport, &owner).await;
        let expected = Expected {
            record: record(0x33),
            present: false,
        };
        let observations = observer.poll(&SystemClock).await;
        assert_eq!(observations.len(), 1);
        let Answer::Served(served) = &observations[0].answer else {
            panic!("{:?}", observations[0].answer);
        };
        assert!(
            matches!(served.dnssec, Dnssec::ProvenAbsent { .. }),
            "{:?}",
            served.dnssec
        );
        assert_eq!(observations[0].verdict(&expected), ServerVerdict::Serving);
    });
}
