//! The safe time against lying or lagging servers (issue #12 items 3 and 4), through daneroll's
//! real observer and wait loop against the lab's BIND and unbound, with the [`crate::hostile`]
//! proxy at one NS address: a TTL lowered below the RRSIG's original TTL, a forged SOA, a
//! replayed old RRset with its still-valid RRSIG, and a stale server that only the parent's
//! delegation lists. The wait must rest on signed numbers only, poll every server a resolver
//! may ask, and restart a server's clock when a validated answer shows it stopped serving.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use daneroll::dns::observation::{Expected, ServerVerdict};
use daneroll::dns::safe_time::{Status, TtlKind};
use daneroll::dns::wait::{WaitOutcome, WaitSettings, wait_until_safe};
use daneroll_providers::rfc2136::{Rfc2136, Rfc2136Config};
use daneroll_providers::tsig::TsigKey;
use daneroll_providers::{DnsBackend, Outcome, Tlsa};
use hickory_proto::op::Message;
use hickory_proto::rr::{RData, RecordType};

use crate::hostile::{Hostile, Rules, Tamper};
use crate::hostile_transport::{FastClock, observer, runtime, transport};
use crate::lab::Lab;
use crate::lab::extra::{ExtraZone, ExtraZoneSpec, NsHost};

fn record(byte: u8) -> Tlsa {
    Tlsa::new(3, 1, 1, vec![byte; 32])
}

/// 60 virtual seconds, polling every 2: six times what an honest zone with 5 s TTLs needs.
fn settings() -> WaitSettings {
    WaitSettings {
        interval: Duration::from_secs(2),
        timeout: Some(Duration::from_secs(60)),
        ..WaitSettings::default()
    }
}

/// A signed, dynamic zone `LABEL.example.` served by BIND at `127.N.X.1`, with the hostile
/// proxy at `127.N.X.2` forwarding to it, `old` published. `ns` lists the NS names and where
/// they point: `bind`, `proxy` or both.
struct Setup {
    zone: ExtraZone,
    hostile: Hostile,
    bind: SocketAddr,
    proxy: SocketAddr,
    name: String,
    owner: String,
}

fn setup(lab: &Lab, label: &str, x: u8, old: &Tlsa, ns: &[(&str, bool)]) -> Setup {
    let bind: IpAddr = lab.addr(x, 1).into();
    let proxy: IpAddr = lab.addr(x, 2).into();
    lab.add_any(&[proxy]).unwrap();
    let hostile = Hostile::start(SocketAddr::new(proxy, 53), SocketAddr::new(bind, 53)).unwrap();
    let name = format!("{label}.example.");
    let owner = format!("_25._tcp.mail.{name}");
    let ns = ns
        .iter()
        .map(|(label, at_proxy)| NsHost::new(label, &[if *at_proxy { proxy } else { bind }]))
        .collect();
    let zone = lab
        .add_zone(ExtraZoneSpec {
            name: name.clone(),
            rsa_bits: None,
            listen: vec![bind],
            ns,
            records: format!("mail A {}\n{owner} TLSA {old}\n", lab.addr(x, 25)),
            tlsa_updates: true,
        })
        .unwrap_or_else(|e| panic!("zone {name}: {e}"));
    Setup {
        zone,
        hostile,
        bind: SocketAddr::new(bind, 53),
        proxy: SocketAddr::new(proxy, 53),
        name,
        owner,
    }
}

/// Publishes `tlsa` through daneroll's RFC 2136 backend at the zone's BIND.
async fn publish(lab: &Lab, s: &Setup, tlsa: &Tlsa) {
    let key = TsigKey::from_file(&lab.keys.mx.bind_file, None).unwrap();
    let mut config = Rfc2136Config::new(key, lab.resolver);
    config.server = Some(s.zone.primary());
    let backend = Rfc2136::new(config);
    assert_eq!(
        backend.add(&s.owner, tlsa, 5).await.unwrap(),
        Outcome::Changed
    );
}

#[test]
fn a_stale_server_only_the_parent_lists_is_polled_and_holds_the_wait() {
    // Found broken on the old main: the servers polled were the child's NS RRset only, so a
    // stale secondary still delegated to by the parent was never asked and the change was
    // called safe while resolvers could still fetch the old RRset from it.
    let lab = Lab::shared();
    let (old, new) = (record(0x61), record(0x62));
    let s = setup(lab, "parent-only", 70, &old, &[("ns1", false)]);
    // The proxy plays a secondary that stopped transferring: it serves the old RRset, signed.
    let stale = lab.query(s.bind, &s.owner, RecordType::TLSA);
    s.hostile
        .set(Rules::both(Tamper::Replace(stale)).only(RecordType::TLSA));
    let name = &s.name;
    let proxy = s.proxy.ip();
    lab.nsupdate(
        &lab.keys.parent,
        &lab.tld,
        &format!("update add {name} 5 NS ns3.{name}\nupdate add ns3.{name} 5 A {proxy}\n"),
    )
    .unwrap();
    runtime().block_on(async {
        let transport = transport();
        let observer = observer(lab, &transport, &s.owner).await;
        let servers: Vec<(String, SocketAddr)> = observer
            .servers()
            .iter()
            .map(|server| (server.ns.clone(), server.addr))
            .collect();
        assert_eq!(
            servers,
            vec![
                (format!("ns1.{name}"), s.bind),
                (format!("ns3.{name}"), s.proxy)
            ]
        );
        publish(lab, &s, &new).await;
        let expected = Expected {
            record: new.clone(),
            present: true,
        };
        let outcome = wait_until_safe(&observer, &expected, &settings(), &FastClock::new(), |_| {})
            .await
            .unwrap();
        let WaitOutcome::TimedOut { laggards, safe_at } = outcome else {
            panic!("the change must not be safe while ns3 serves the old RRset: {outcome:?}");
        };
        assert_eq!(safe_at, None);
        let named: Vec<(String, ServerVerdict)> = laggards
            .into_iter()
            .map(|(server, verdict)| (server.to_string(), verdict))
            .collect();
        assert_eq!(
            named,
            vec![(
                format!("ns3.{} ({})", name.trim_end_matches('.'), s.proxy),
                ServerVerdict::Stale
            )]
        );
    });
}

#[test]
fn a_ttl_lowered_below_the_rrsig_original_ttl_does_not_shorten_the_wait() {
    // Found broken on the old main: the wait used the TTL the server sent, which no signature
    // covers; a server or an attacker on its path sending TTL 1 made the hold 2 × 1 s.
    let lab = Lab::shared();
    let ours = record(0x63);
    let s = setup(lab, "low-ttl", 71, &ours, &[("ns1", true)]);
    runtime().block_on(async {
        let transport = transport();
        let observer = observer(lab, &transport, &s.owner).await;
        assert_eq!(
            observer
                .servers()
                .iter()
                .map(|x| x.addr)
                .collect::<Vec<_>>(),
            vec![s.proxy]
        );
        // From now on every TTL it sends is 1 s (the signed original TTL stays 5 s).
        s.hostile.set(Rules::both(Tamper::Modify(Arc::new(
            |reply: &mut Message| {
                for record in reply.answers.iter_mut().chain(reply.authorities.iter_mut()) {
                    record.ttl = 1;
                }
            },
        ))));
        let expected = Expected {
            record: ours.clone(),
            present: true,
        };
        let outcome = wait_until_safe(&observer, &expected, &settings(), &FastClock::new(), |_| {})
            .await
            .unwrap();
        let WaitOutcome::Safe {
            served_at,
            safe_at,
            bound,
            ..
        } = outcome
        else {
            panic!("{outcome:?}");
        };
        assert_eq!(
            (bound.ttl, bound.kind),
            (5, TtlKind::RrsigOriginal),
            "{bound}"
        );
        assert!(bound.to_string().contains(&s.proxy.to_string()), "{bound}");
        assert_eq!(
            safe_at.duration_since(served_at).unwrap(),
            Duration::from_secs(10)
        );
    });
}

#[test]
fn a_forged_soa_does_not_set_the_negative_ttl() {
    // Found broken on the old main: the negative TTL came from any SOA a server sent, signed or
    // not; one server forging MINIMUM and TTL 3600 stretched the wait to 2 hours.
    let lab = Lab::shared();
    let ours = record(0x64);
    let s = setup(
        lab,
        "forged-soa",
        72,
        &ours,
        &[("ns1", false), ("ns2", true)],
    );
    runtime().block_on(async {
        let transport = transport();
        let observer = observer(lab, &transport, &s.owner).await;
        s.hostile.set(
            Rules::both(Tamper::Modify(Arc::new(|reply: &mut Message| {
                for record in reply.answers.iter_mut().chain(reply.authorities.iter_mut()) {
                    if let RData::SOA(soa) = &mut record.data {
                        soa.minimum = 3600;
                        record.ttl = 3600;
                    }
                }
            })))
            .only(RecordType::SOA),
        );
        let expected = Expected {
            record: ours.clone(),
            present: true,
        };
        let outcome = wait_until_safe(&observer, &expected, &settings(), &FastClock::new(), |_| {})
            .await
            .unwrap();
        let WaitOutcome::Safe {
            served_at,
            safe_at,
            bound,
            ..
        } = outcome
        else {
            panic!("{outcome:?}");
        };
        assert_eq!(bound.ttl, 5, "{bound}");
        assert_eq!(
            safe_at.duration_since(served_at).unwrap(),
            Duration::from_secs(10)
        );
    });
}

#[test]
fn a_replayed_old_rrset_with_its_valid_rrsig_restarts_that_servers_clock() {
    let lab = Lab::shared();
    let (old, new) = (record(0x65), record(0x66));
    let s = setup(lab, "replay", 73, &old, &[("ns1", false), ("ns2", true)]);
    let replay = lab.query(s.bind, &s.owner, RecordType::TLSA);
    runtime().block_on(async {
        let transport = transport();
        let observer = observer(lab, &transport, &s.owner).await;
        publish(lab, &s, &new).await;
        let expected = Expected {
            record: new.clone(),
            present: true,
        };
        let mut first_served = None;
        let mut replayed_polls = 0;
        let outcome = wait_until_safe(&observer, &expected, &settings(), &FastClock::new(), |r| {
            match r.status {
                // Served everywhere: now the proxy replays the old RRset with its old RRSIG.
                Status::Holding { served_at, .. } if first_served.is_none() => {
                    first_served = Some(*served_at);
                    s.hostile
                        .set(Rules::both(Tamper::Replace(replay.clone())).only(RecordType::TLSA));
                }
                Status::Propagating { waiting_for } if first_served.is_some() => {
                    assert_eq!(waiting_for, &vec![s.proxy]);
                    let proxy = r.observations.iter().find(|o| o.server.addr == s.proxy);
                    assert_eq!(
                        proxy.map(|o| o.verdict(&expected)),
                        Some(ServerVerdict::Stale)
                    );
                    replayed_polls += 1;
                    if replayed_polls == 3 {
                        s.hostile.set(Rules::pass_through());
                    }
                }
                _ => {}
            }
        })
        .await
        .unwrap();
        let WaitOutcome::Safe { served_at, .. } = outcome else {
            panic!("{outcome:?}");
        };
        assert!(replayed_polls >= 3, "the replay was seen: {replayed_polls}");
        let first = first_served.unwrap();
        assert!(
            served_at > first,
            "the clock restarted when the replay ended: {served_at:?} > {first:?}"
        );
    });
}
