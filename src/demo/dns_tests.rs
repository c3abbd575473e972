//! The demo server against the production observer, chain walk and RFC 2136 backend.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use daneroll_providers::rfc2136::{Rfc2136, Rfc2136Config};
use daneroll_providers::tsig::TsigKey;
use daneroll_providers::{DnsBackend, Outcome};

use super::*;
use crate::dns::chain::{ChainWalker, ZoneStatus};
use crate::dns::clock::SystemClock;
use crate::dns::net::HickoryTransport;
use crate::dns::observation::{Expected, ServerVerdict};
use crate::dns::observer::Observer;
use crate::dns::trust_anchor::TrustAnchors;

fn record(byte: u8) -> Tlsa {
    // invariant: a well-formed record literal.
    Tlsa::from_str(&format!("3 1 1 {}", format!("{byte:02X}").repeat(32))).expect("record")
}

/// Loopback addresses for unit tests, apart from the CLI's and the integration tests'.
fn candidates() -> Vec<Ipv4Addr> {
    (1..=40).map(|n| Ipv4Addr::new(127, 53, 9, n)).collect()
}

async fn lab(dir: &Path) -> DnsLab {
    let setup = ZoneSetup {
        names: ZoneNames::demo(),
        ttl: 3,
        tlsa: vec![record(0xAA)],
    };
    DnsLab::start(&setup, &candidates(), dir)
        .await
        .expect("lab starts")
}

async fn observer(lab: &DnsLab) -> Observer<HickoryTransport> {
    let transport = Arc::new(HickoryTransport::new(Duration::from_secs(2), 2));
    let anchors = TrustAnchors::parse(lab.trust_anchor(), "demo anchor").expect("anchor");
    let mut walker = ChainWalker::new(&*transport, lab.addr(), &anchors, SystemTime::now());
    let owner = Name::from_ascii(lab.names().tlsa_owner()).expect("owner");
    Observer::discover(Arc::clone(&transport), &mut walker, lab.addr(), owner)
        .await
        .expect("discovery")
}

#[tokio::test]
async fn observer_finds_the_signed_zone_and_its_server_through_ns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = lab(dir.path()).await;
    let observer = observer(&lab).await;
    assert!(
        matches!(observer.zone_status(), ZoneStatus::Secure(_)),
        "{}",
        observer.zone_status()
    );
    assert_eq!(observer.zone().to_string(), "demo.example.");
    let servers: Vec<SocketAddr> = observer.servers().iter().map(|s| s.addr).collect();
    assert_eq!(servers, vec![lab.addr()]);
    assert_eq!(observer.zone_ttl(), 3);
    let expected = Expected {
        record: record(0xAA),
        present: true,
    };
    let polled = observer.poll(&SystemClock).await;
    assert_eq!(polled.len(), 1);
    assert_eq!(polled[0].verdict(&expected), ServerVerdict::Serving);
    lab.stop().await;
}

#[tokio::test]
async fn tsig_update_is_applied_and_re_signed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = lab(dir.path()).await;
    let key = TsigKey::parse(&lab.tsig().bind_key_file(), "demo key", None).expect("key");
    let backend = Rfc2136::new(Rfc2136Config::new(key, lab.addr()));
    let owner = lab.names().tlsa_owner();
    assert_eq!(
        backend.add(&owner, &record(0xBB), 3).await.expect("add"),
        Outcome::Changed
    );
    let rrset = backend.read(&owner).await.expect("read");
    assert!(rrset.contains(&record(0xAA)) && rrset.contains(&record(0xBB)));
    let observer = observer(&lab).await;
    let polled = observer.poll(&SystemClock).await;
    let next = Expected {
        record: record(0xBB),
        present: true,
    };
    assert_eq!(polled[0].verdict(&next), ServerVerdict::Serving);
    backend.remove(&owner, &record(0xAA)).await.expect("remove");
    let old = Expected {
        record: record(0xAA),
        present: false,
    };
    let polled = observer.poll(&SystemClock).await;
    assert_eq!(polled[0].verdict(&old), ServerVerdict::Serving);
    lab.stop().await;
}

#[tokio::test]
async fn update_with_another_key_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = lab(dir.path()).await;
    let wrong = TsigKey::new(
        "daneroll-demo",
        "hmac-sha256",
        &BASE64.encode(&[7u8; 32]),
        "test",
    )
    .expect("key");
    let backend = Rfc2136::new(Rfc2136Config::new(wrong, lab.addr()));
    let owner = lab.names().tlsa_owner();
    let error = backend.add(&owner, &record(0xCC), 3).await.unwrap_err();
    assert!(
        error.to_string().contains("daneroll-demo"),
        "names the key: {error}"
    );
    assert!(!error.to_string().contains(&BASE64.encode(&[7u8; 32])));
    let key = TsigKey::parse(&lab.tsig().bind_key_file(), "demo key", None).expect("key");
    let right = Rfc2136::new(Rfc2136Config::new(key, lab.addr()));
    let rrset = right.read(&owner).await.expect("read with the zone's key");
    assert!(!rrset.contains(&record(0xCC)));
    lab.stop().await;
}

#[test]
fn debug_hides_the_tsig_secret() {
    let tsig = DemoTsig::generate();
    let shown = format!("{tsig:?}");
    assert!(!shown.contains(&BASE64.encode(&tsig.secret)));
    assert!(shown.contains("redacted"));
}
