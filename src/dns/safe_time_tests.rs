use super::*;
use crate::dns::clock::{Clock, ManualClock};

fn server(n: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 3, n], 53))
}

fn servers(ns: &[u8]) -> Vec<(SocketAddr, String)> {
    ns.iter()
        .map(|n| (server(*n), format!("ns{n}.example.test. ({})", server(*n))))
        .collect()
}

fn serving(served: u32, original: u32) -> ServerState {
    ServerState::Serving(TtlEvidence {
        served: Some(served),
        rrsig_original: Some(original),
        negative: None,
    })
}

fn stale(served: u32, original: u32) -> ServerState {
    ServerState::Stale(TtlEvidence {
        served: Some(served),
        rrsig_original: Some(original),
        negative: None,
    })
}

fn declared(ttl: u32) -> TtlBound {
    TtlBound::new(ttl, TtlKind::Declared, None)
}

const TWO: SafetyFactor = SafetyFactor::DEFAULT;

#[test]
fn safe_time_is_last_server_plus_two_ttls() {
    let clock = ManualClock::at(1_000_000);
    let mut p = Propagation::new(servers(&[1, 2]), TWO, None);
    p.observe(server(1), clock.now(), serving(600, 600));
    p.observe(server(2), clock.now(), stale(600, 600));
    assert_eq!(
        p.status(clock.now()),
        Status::Propagating {
            waiting_for: vec![server(2)]
        }
    );
    clock.advance(Duration::from_secs(10));
    let served = clock.now();
    p.observe(server(1), served, serving(600, 600));
    p.observe(server(2), served, serving(600, 600));
    assert_eq!(p.bound().ttl, 600);
    let safe = served + Duration::from_secs(1200);
    assert_eq!(p.safe_at(), Some(safe));
    clock.advance(Duration::from_secs(1199));
    assert!(matches!(
        p.status(clock.now()),
        Status::Holding { remaining, .. } if remaining == Duration::from_secs(1)
    ));
    clock.advance(Duration::from_secs(1));
    assert_eq!(p.status(clock.now()), Status::Safe { safe_at: safe });
}

#[test]
fn a_lowered_ttl_does_not_shorten_the_wait_the_rrsig_original_ttl_rules() {
    let clock = ManualClock::at(1_500_000);
    let mut p = Propagation::new(servers(&[1]), TWO, None);
    // The server (or someone on the path) sends TTL 30; the signature says 3600.
    p.observe(server(1), clock.now(), serving(30, 3600));
    let bound = p.bound();
    assert_eq!((bound.ttl, bound.kind), (3600, TtlKind::RrsigOriginal));
    assert_eq!(
        bound.to_string(),
        "TTL 3600 (RRSIG original TTL at ns1.example.test. (127.0.3.1:53))"
    );
    assert_eq!(p.safe_at(), Some(clock.now() + Duration::from_secs(7200)));
}

#[test]
fn the_bound_only_grows_over_the_wait() {
    let clock = ManualClock::at(1_600_000);
    let mut p = Propagation::new(servers(&[1, 2]), TWO, Some(declared(300)));
    assert_eq!(p.bound().kind, TtlKind::Declared);
    p.observe(server(1), clock.now(), serving(300, 300));
    p.observe(server(2), clock.now(), serving(900, 900));
    assert_eq!(p.bound().ttl, 900);
    assert!(p.bound().server.unwrap().contains("ns2"));
    clock.advance(Duration::from_secs(5));
    // A later, shorter TTL does not lower it.
    p.observe(server(2), clock.now(), serving(60, 60));
    assert_eq!(p.bound().ttl, 900);
}

#[test]
fn negative_ttl_counts_from_the_validated_soa() {
    let clock = ManualClock::at(2_000_000);
    let mut p = Propagation::new(servers(&[1, 2]), TWO, None);
    p.observe(server(1), clock.now(), serving(30, 30));
    p.observe(
        server(2),
        clock.now(),
        ServerState::Stale(TtlEvidence {
            negative: Some(60),
            ..TtlEvidence::default()
        }),
    );
    clock.advance(Duration::from_secs(5));
    p.observe(server(2), clock.now(), serving(30, 30));
    let bound = p.bound();
    assert_eq!((bound.ttl, bound.kind), (60, TtlKind::Negative));
    assert_eq!(p.safe_at(), Some(clock.now() + Duration::from_secs(120)));
}

#[test]
fn a_server_that_stops_serving_restarts_its_clock_a_silent_one_keeps_it() {
    let clock = ManualClock::at(4_000_000);
    let mut p = Propagation::new(servers(&[1, 2]), TWO, Some(declared(100)));
    p.observe(server(1), clock.now(), serving(100, 100));
    p.observe(server(2), clock.now(), serving(100, 100));
    let first = p.safe_at().unwrap();

    // A timeout keeps the clock, but the change is not safe while unconfirmed.
    clock.advance(Duration::from_secs(250));
    p.observe(server(2), clock.now(), ServerState::Unconfirmed);
    assert_eq!(p.safe_at(), Some(first));
    assert!(matches!(
        p.status(clock.now()),
        Status::Holding { remaining, ref unconfirmed, .. }
            if remaining.is_zero() && *unconfirmed == vec![server(2)]
    ));
    clock.advance(Duration::from_secs(1));
    p.observe(server(2), clock.now(), serving(100, 100));
    assert_eq!(p.status(clock.now()), Status::Safe { safe_at: first });

    // A validated answer without the change (a replayed old RRset) restarts it.
    p.observe(server(2), clock.now(), stale(100, 100));
    assert_eq!(p.safe_at(), None);
    assert_eq!(p.laggards(), vec![server(2)]);
    clock.advance(Duration::from_secs(50));
    p.observe(server(2), clock.now(), serving(100, 100));
    assert_eq!(p.safe_at(), Some(clock.now() + Duration::from_secs(200)));
    // A server that keeps serving keeps its original start.
    p.observe(server(1), clock.now(), serving(100, 100));
    assert_eq!(p.safe_at(), Some(clock.now() + Duration::from_secs(200)));
}

#[test]
fn the_zone_ttl_counts_only_while_no_tlsa_ttl_was_seen_and_then_stays() {
    let clock = ManualClock::at(5_000_000);
    let mut p = Propagation::new(servers(&[1]), TWO, None);
    p.note_zone_ttl(3600);
    p.observe(
        server(1),
        clock.now(),
        ServerState::Serving(TtlEvidence {
            negative: Some(60),
            ..TtlEvidence::default()
        }),
    );
    assert_eq!((p.bound().ttl, p.bound().kind), (3600, TtlKind::Zone));
    p.settle();
    p.observe(server(1), clock.now(), serving(300, 300));
    assert_eq!(p.bound().ttl, 3600);

    let mut seen = Propagation::new(servers(&[1]), TWO, None);
    seen.note_zone_ttl(3600);
    seen.observe(server(1), clock.now(), serving(300, 300));
    assert_eq!(
        (seen.bound().ttl, seen.bound().kind),
        (300, TtlKind::RrsigOriginal)
    );
}

#[test]
fn no_servers_never_become_safe() {
    let p = Propagation::new(Vec::new(), TWO, None);
    assert_eq!(p.safe_at(), None);
}

#[test]
fn safe_at_scales_and_saturates() {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
    let factor = SafetyFactor::new(1.5).unwrap();
    assert_eq!(safe_at(at, 101, factor), at + Duration::from_secs(152));
    assert!(safe_at(at, u32::MAX, SafetyFactor::new(100.0).unwrap()) > at);
}

#[test]
fn scale_rounds_up_to_whole_seconds() {
    let factor = SafetyFactor::new(1.1).unwrap();
    assert_eq!(factor.scale(Duration::from_secs(5)), Duration::from_secs(6));
    assert_eq!(SafetyFactor::DEFAULT.scale(Duration::ZERO), Duration::ZERO);
}

#[test]
fn safety_factor_rejects_out_of_range() {
    assert!(SafetyFactor::new(0.5).is_err());
    assert!(SafetyFactor::new(f64::NAN).is_err());
    assert!(SafetyFactor::new(1000.0).is_err());
    let err = serde_json::from_str::<SafetyFactor>("0.1").unwrap_err();
    assert!(err.to_string().contains("safety_factor"), "{err}");
    assert_eq!(
        serde_json::from_str::<SafetyFactor>("3").unwrap().value(),
        3.0
    );
}

#[test]
fn ttl_bound_round_trips_as_json() {
    let bound = TtlBound::new(
        3600,
        TtlKind::RrsigOriginal,
        Some("ns2.example. (127.0.0.1:53)".into()),
    );
    let json = serde_json::to_string(&bound).unwrap();
    assert_eq!(
        json,
        r#"{"ttl":3600,"kind":"rrsig_original","server":"ns2.example. (127.0.0.1:53)"}"#
    );
    assert_eq!(serde_json::from_str::<TtlBound>(&json).unwrap(), bound);
}
