//! Network-level attacks by one authoritative server of a signed zone (issue #12, item 4), each
//! through daneroll's real observer and wait loop against the lab's BIND and unbound, with the
//! [`crate::hostile`] proxy at one NS address: truncation then a refused or forged TCP answer,
//! an answer from another source address, silence. daneroll must name the server and what was
//! wrong, and never call the record served or the change safe on the strength of that server.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use daneroll::dns::chain::ChainWalker;
use daneroll::dns::clock::Clock;
use daneroll::dns::net::HickoryTransport;
use daneroll::dns::observation::{Expected, ServerVerdict};
use daneroll::dns::observer::Observer;
use daneroll::dns::trust_anchor::TrustAnchors;
use daneroll::dns::wait::{WaitOutcome, WaitSettings, wait_until_safe};
use daneroll_providers::Tlsa;
use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RData, RecordType};

use crate::hostile::{Hostile, Proto, Rules, Tamper};
use crate::lab::Lab;
use crate::lab::extra::{ExtraZone, ExtraZoneSpec, NsHost};

/// A clock whose sleeps take 20 ms of real time but move it by the full duration, so a wait
/// that would take a minute of TTLs runs in a second (signatures are valid for days).
pub struct FastClock {
    offset: Mutex<Duration>,
}

impl FastClock {
    pub fn new() -> Self {
        Self {
            offset: Mutex::new(Duration::ZERO),
        }
    }
}

impl Clock for FastClock {
    fn now(&self) -> SystemTime {
        // invariant: the lock is held only to read or add.
        SystemTime::now() + *self.offset.lock().expect("offset")
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            *self.offset.lock().expect("offset") += duration;
        })
    }
}

/// A signed zone `LABEL.example.` with BIND at `127.N.X.1` (NS `ns1`) and the hostile proxy at
/// `127.N.X.2` (NS `ns2`) forwarding to it; `127.N.X.3` is on `lo` as a spare source address.
pub struct HostileZone {
    pub zone: ExtraZone,
    pub hostile: Hostile,
    pub spare: IpAddr,
    pub owner: String,
}

pub fn hostile_zone(lab: &Lab, label: &str, x: u8, record: &Tlsa) -> HostileZone {
    let bind: IpAddr = lab.addr(x, 1).into();
    let proxy: IpAddr = lab.addr(x, 2).into();
    let spare: IpAddr = lab.addr(x, 3).into();
    lab.add_any(&[proxy, spare]).unwrap();
    let hostile = Hostile::start(SocketAddr::new(proxy, 53), SocketAddr::new(bind, 53)).unwrap();
    let name = format!("{label}.example.");
    let owner = format!("_25._tcp.mail.{name}");
    let zone = lab
        .add_zone(ExtraZoneSpec {
            name: name.clone(),
            rsa_bits: None,
            listen: vec![bind],
            ns: vec![NsHost::new("ns1", &[bind]), NsHost::new("ns2", &[proxy])],
            records: format!("mail A {}\n{owner} TLSA {record}\n", lab.addr(x, 25)),
            tlsa_updates: true,
        })
        .unwrap_or_else(|e| panic!("zone {name}: {e}"));
    HostileZone {
        zone,
        hostile,
        spare,
        owner,
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub fn transport() -> Arc<HickoryTransport> {
    Arc::new(HickoryTransport::new(Duration::from_millis(500), 2))
}

pub async fn observer(
    lab: &Lab,
    transport: &Arc<HickoryTransport>,
    owner: &str,
) -> Observer<HickoryTransport> {
    let anchors = TrustAnchors::from_file(&lab.trust_anchor).unwrap();
    let now = SystemTime::now();
    let mut walker = ChainWalker::new(&**transport, lab.resolver, &anchors, now);
    Observer::discover(
        Arc::clone(transport),
        &mut walker,
        lab.resolver,
        Name::from_ascii(owner).unwrap(),
    )
    .await
    .unwrap()
}

fn record(byte: u8) -> Tlsa {
    Tlsa::new(3, 1, 1, vec![byte; 32])
}

/// A wait of 40 virtual seconds, polling every 5: four times the time an honest zone with 5 s
/// TTLs needs to be safe (the pass-through test shows it is reached).
fn wait_settings() -> WaitSettings {
    WaitSettings {
        interval: Duration::from_secs(5),
        timeout: Some(Duration::from_secs(40)),
        ..WaitSettings::default()
    }
}

/// Runs the wait for `expected` and returns every laggard; asserts the wait did not end safe
/// and that the hostile address is among the laggards.
async fn laggards(lab: &Lab, hz: &HostileZone, expected: &Expected) -> Vec<(SocketAddr, String)> {
    let transport = transport();
    let observer = observer(lab, &transport, &hz.owner).await;
    let addrs: Vec<SocketAddr> = observer.servers().iter().map(|s| s.addr).collect();
    assert!(addrs.contains(&hz.hostile.addr), "{addrs:?}");
    let clock = FastClock::new();
    let outcome = wait_until_safe(&observer, expected, &wait_settings(), &clock, |_| {})
        .await
        .unwrap();
    let WaitOutcome::TimedOut { laggards, .. } = outcome else {
        panic!(
            "the change must not be safe while {} lies: {outcome:?}",
            hz.hostile.addr
        );
    };
    let laggards: Vec<(SocketAddr, String)> = laggards
        .into_iter()
        .map(|(server, verdict)| {
            assert_ne!(verdict, ServerVerdict::Serving, "{server}");
            (server.addr, verdict.to_string())
        })
        .collect();
    assert!(
        laggards.iter().any(|(addr, _)| *addr == hz.hostile.addr),
        "{laggards:?}"
    );
    laggards
}

fn verdict_of(laggards: &[(SocketAddr, String)], addr: SocketAddr) -> &str {
    laggards
        .iter()
        .find(|(a, _)| *a == addr)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("{addr} not among {laggards:?}"))
}

#[test]
fn truncated_udp_then_tcp_reset_names_the_server_and_tcp() {
    let lab = Lab::shared();
    let ours = record(0xa2);
    let hz = hostile_zone(lab, "hostile-tcp-reset", 41, &ours);
    hz.hostile
        .set(Rules::new(Tamper::TruncateUdp, Tamper::Reset).only(RecordType::TLSA));
    let expected = Expected {
        record: ours,
        present: true,
    };
    let laggards = runtime().block_on(laggards(lab, &hz, &expected));
    // BIND's address serves the record; only the hostile one is missing.
    assert_eq!(laggards.len(), 1, "{laggards:?}");
    let verdict = verdict_of(&laggards, hz.hostile.addr);
    assert!(verdict.contains(&hz.hostile.addr.to_string()), "{verdict}");
    assert!(verdict.contains("TCP"), "{verdict}");
    assert!(hz.hostile.seen(Proto::Tcp) > 0, "TCP was never tried");
}

#[test]
fn truncated_udp_then_a_forged_tcp_answer_is_validated_and_refused() {
    let lab = Lab::shared();
    let ours = record(0xa3);
    let hz = hostile_zone(lab, "hostile-tcp-forged", 42, &ours);
    // The change daneroll waits for: a next key that BIND does not serve yet. Over TCP the
    // hostile server adds it beside the genuine record, under the genuine RRSIG.
    let next = record(0xb3);
    let forged = next.clone();
    let add_next = move |reply: &mut Message| {
        let Some(genuine) = reply
            .answers
            .iter()
            .find(|r| r.record_type() == RecordType::TLSA)
            .cloned()
        else {
            return;
        };
        let mut extra = genuine;
        extra.data = RData::TLSA(hickory_proto::rr::rdata::TLSA::new(
            forged.usage.into(),
            forged.selector.into(),
            forged.mtype.into(),
            forged.data.clone(),
        ));
        reply.answers.push(extra);
    };
    hz.hostile.set(
        Rules::new(Tamper::TruncateUdp, Tamper::Modify(Arc::new(add_next))).only(RecordType::TLSA),
    );
    let expected = Expected {
        record: next,
        present: true,
    };
    let laggards = runtime().block_on(laggards(lab, &hz, &expected));
    let verdict = verdict_of(&laggards, hz.hostile.addr);
    assert!(verdict.starts_with("bogus"), "{verdict}");
    assert!(hz.hostile.seen(Proto::Tcp) > 0, "TCP was never tried");
    // BIND does not serve the next key yet: stale, not serving.
    assert_eq!(verdict_of(&laggards, hz.zone.primary()), "stale");
}

#[test]
fn a_reply_from_another_source_address_is_ignored() {
    let lab = Lab::shared();
    let ours = record(0xa4);
    let hz = hostile_zone(lab, "hostile-spoof", 43, &ours);
    // The genuine, valid answer, but from another address: accepting it would count the
    // hostile address as serving.
    hz.hostile
        .set(Rules::both(Tamper::FromOtherSource(hz.spare)).only(RecordType::TLSA));
    let expected = Expected {
        record: ours,
        present: true,
    };
    let laggards = runtime().block_on(laggards(lab, &hz, &expected));
    assert_eq!(laggards.len(), 1, "{laggards:?}");
    let verdict = verdict_of(&laggards, hz.hostile.addr);
    assert!(verdict.contains(&hz.hostile.addr.to_string()), "{verdict}");
    assert!(verdict.contains("did not answer"), "{verdict}");
}

#[test]
fn a_silent_server_times_out_by_name() {
    let lab = Lab::shared();
    let ours = record(0xa5);
    let hz = hostile_zone(lab, "hostile-silent", 44, &ours);
    hz.hostile
        .set(Rules::both(Tamper::Silence).only(RecordType::TLSA));
    let expected = Expected {
        record: ours,
        present: true,
    };
    let laggards = runtime().block_on(laggards(lab, &hz, &expected));
    assert_eq!(laggards.len(), 1, "{laggards:?}");
    let verdict = verdict_of(&laggards, hz.hostile.addr);
    assert!(verdict.contains(&hz.hostile.addr.to_string()), "{verdict}");
    assert!(verdict.contains("did not answer"), "{verdict}");
}

#[test]
fn pass_through_proxy_is_a_server_like_any_other() {
    let lab = Lab::shared();
    let ours = record(0xa1);
    let hz = hostile_zone(lab, "hostile-pass", 40, &ours);
    runtime().block_on(async {
        let transport = transport();
        let observer = observer(lab, &transport, &hz.owner).await;
        let observations = observer.poll(&FastClock::new()).await;
        let expected = Expected {
            record: ours.clone(),
            present: true,
        };
        assert_eq!(observations.len(), 2, "{observations:?}");
        for observation in &observations {
            assert_eq!(
                observation.verdict(&expected),
                ServerVerdict::Serving,
                "{}",
                observation.server
            );
        }
        // The control for the cases below: through an honest proxy the wait ends safe.
        let clock = FastClock::new();
        let outcome = wait_until_safe(&observer, &expected, &wait_settings(), &clock, |_| {})
            .await
            .unwrap();
        assert!(matches!(outcome, WaitOutcome::Safe { .. }), "{outcome:?}");
    });
    assert!(hz.hostile.seen(Proto::Udp) > 0);
}

#[test]
fn the_engine_does_not_advance_while_one_server_truncates_and_refuses_tcp() {
    use crate::rollover::{Backend, Mta, Setup};
    use crate::util::Dir;

    let lab = Lab::shared();
    let hz = hostile_zone(lab, "hostile-engine", 46, &record(0xa6));
    let host = "mail.hostile-engine.example";
    let dir = Dir::new();
    let mta = Mta::files(&dir, host);
    let backend = Backend {
        name: "lab",
        table: format!(
            "type = \"rfc2136\"\ntsig_key_file = \"{}\"\n",
            lab.keys.mx.bind_file.display()
        ),
    };
    let setup = Setup::configure(lab, dir, host, mta, &backend);
    let zone = hz.zone.lab_zone(lab.addr(46, 25));
    lab.nsupdate(
        &lab.keys.mx,
        &zone,
        &format!(
            "update add {} 5 TLSA 3 1 1 {}",
            setup.owner(),
            setup.deployed()
        ),
    )
    .unwrap();
    setup.tick_until_ready();

    hz.hostile
        .set(Rules::new(Tamper::TruncateUdp, Tamper::Reset).only(RecordType::TLSA));
    let (mut child, seen) =
        crate::util::spawn_lines(&mut setup.daneroll(&["rollover", "--host", &setup.host]));
    // The rollover swaps to the next key published before the tampering began (both servers
    // served it), then publishes a new next key: BIND serves it at once, the hostile server
    // never does. Read (bounded) until 15 s after that publication: the safe time of an
    // honest zone (TTL 5 s, factor 2) has passed by then.
    let mut output = String::new();
    let mut published: Option<String> = None;
    let mut until = std::time::Instant::now() + Duration::from_secs(60);
    while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
        let Ok(line) = seen.recv_timeout(left) else {
            break;
        };
        if published.is_none() && line.starts_with("published ") {
            published = line.split_whitespace().last().map(str::to_string);
            until = std::time::Instant::now() + Duration::from_secs(15);
        }
        output.push_str(&line);
        output.push('\n');
    }
    let _ = child.kill();
    let _ = child.wait();
    let published = published.unwrap_or_else(|| panic!("no next key published:\n{output}"));
    let hostile = hz.hostile.addr.to_string();
    assert!(
        output
            .lines()
            .any(|l| l.contains(&hostile) && l.contains("TCP") && l.contains("no answer")),
        "the engine must name {hostile} and TCP:\n{output}"
    );
    // The key published while the hostile server refused is not counted as safe: the engine
    // is still waiting, the host is not back to ready.
    assert_ne!(setup.stage(), "ready", "{output}");
    assert_ne!(setup.deployed(), published, "{output}");
    let last = output.lines().last().unwrap_or_default();
    assert!(
        last.trim_start().starts_with("waiting") || last.contains(&hostile),
        "{output}"
    );
}
