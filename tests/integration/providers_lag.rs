//! A provider that applies changes asynchronously (issue #16, provider quirks): its API accepts
//! a write, and its own list shows the change only some reads later. Hetzner's fake is the one
//! made to lag ([`crate::fakes::Fake::lag_reads`]): a per-record backend whose actions already
//! finish asynchronously, so a list that trails them is the next thing a real zone can do.
//!
//! What must hold: no add or remove loops or doubles a record because the list trails, a
//! compare-and-swap against the trailing view deletes only the record asked for, and the
//! backend's view is never what decides that a change is live (the DNS observer is, see
//! `rollover::world`'s `look`).

use daneroll_providers::settings::{HostedSettings, ProviderSettings, build_backend_with};
use daneroll_providers::{DnsBackend, Outcome, TlsaRrset};

use crate::contract::{ee, ta};
use crate::fakes::{self, Fake};
use crate::providers::quick_retries;
use crate::util::Dir;

const OWNER: &str = "_25._tcp.mx.example.com.";
/// How many reads after each write still show the zone as it was before.
const LAG: usize = 3;

fn backend(fake: &Fake, dir: &Dir) -> Box<dyn DnsBackend> {
    let hosted = HostedSettings {
        api_url: Some(fake.url()),
        token_file: Some(fake.token_file(dir)),
        token_env: None,
        zone: None,
    };
    build_backend_with(
        "hetzner",
        &ProviderSettings::Hetzner(hosted),
        quick_retries(),
    )
    .unwrap_or_else(|e| panic!("hetzner: {e}"))
}

/// How many times the fake holds `record`'s value at [`OWNER`].
fn copies(fake: &Fake, record: &daneroll_providers::Tlsa) -> usize {
    let value = fakes::canonical(record);
    fake.values(OWNER).iter().filter(|v| **v == value).count()
}

fn adds(fake: &Fake) -> usize {
    let log = fake.requests();
    log.iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/add_records"))
        .count()
}

#[tokio::test]
async fn a_lagging_list_neither_doubles_nor_loops_nor_touches_other_records() {
    let fake = fakes::hetzner::start(&["example.com"]);
    let dir = Dir::new();
    let backend = backend(&fake, &dir);
    let (ours, next, other) = (ee(0x11), ee(0x22), ta(0x33));
    fake.publish_other(OWNER, &other, 3600);
    fake.lag_reads(LAG);

    // The API accepts the add; its own list does not show it yet.
    assert_eq!(
        backend.add(OWNER, &ours, 300).await.unwrap(),
        Outcome::Changed
    );
    assert_eq!(copies(&fake, &ours), 1);
    let listed = backend.read(OWNER).await.unwrap();
    assert!(
        !listed.contains(&ours),
        "the fake must lag: {:?}",
        listed.records()
    );

    // Adding again while the list trails: one more request, answered "already there", and still
    // one copy; it ends at once instead of waiting for the list.
    assert_eq!(
        backend.add(OWNER, &ours, 300).await.unwrap(),
        Outcome::Changed
    );
    assert_eq!(adds(&fake), 2);
    assert_eq!(copies(&fake, &ours), 1);

    // Once the list caught up, the add is a no-op again.
    for _ in 0..LAG {
        backend.read(OWNER).await.unwrap();
    }
    assert_eq!(
        backend.add(OWNER, &ours, 300).await.unwrap(),
        Outcome::Unchanged
    );
    assert_eq!(adds(&fake), 2);

    // A compare-and-swap decided on a trailing view ([other, ours], without `next`) removes
    // only the record asked for: `next`, added meanwhile, and `other` survive.
    assert_eq!(
        backend.add(OWNER, &next, 300).await.unwrap(),
        Outcome::Changed
    );
    let seen = backend.read(OWNER).await.unwrap();
    let trailing = TlsaRrset::new(vec![other.clone(), ours.clone()], None);
    assert!(seen.same_records(&trailing), "{:?}", seen.records());
    assert_eq!(
        backend
            .remove_if_unchanged(OWNER, &ours, &seen)
            .await
            .unwrap(),
        Outcome::Changed
    );
    let mut left = fake.values(OWNER);
    left.sort();
    let mut want = vec![fakes::canonical(&other), fakes::canonical(&next)];
    want.sort();
    assert_eq!(left, want);
}
