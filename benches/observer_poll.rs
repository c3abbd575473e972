//! One observer poll, and one `daneroll records show`, against the lab's `mx.example.`: two
//! name servers (BIND primary + NOTIFY/IXFR secondary) with two addresses each.
//!
//! Reports wall time (criterion) and the DNS messages sent per poll / per `records show` run.
//! Needs root and the lab's Debian packages, like the integration tests:
//! `cargo bench --bench observer_poll`.

#[path = "../tests/integration/lab/mod.rs"]
#[allow(unused_imports)]
mod lab;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use daneroll::dns::Transport;
use daneroll::dns::chain::ChainWalker;
use daneroll::dns::clock::{Clock, SystemClock};
use daneroll::dns::net::HickoryTransport;
use daneroll::dns::observer::Observer;
use daneroll::dns::trust_anchor::TrustAnchors;
use hickory_proto::rr::Name;

fn poll(c: &mut Criterion) {
    let lab = lab::Lab::start();
    let owner = lab.mx.tlsa_owner(25);
    let record = format!("3 1 1 {}", "5A".repeat(32));
    lab.nsupdate(
        &lab.keys.mx,
        &lab.mx,
        &format!("update add {owner} 5 TLSA {record}"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    lab.wait_secondary_synced();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let transport = Arc::new(HickoryTransport::new(Duration::from_secs(2), 2));
    let anchors = TrustAnchors::from_file(&lab.trust_anchor).expect("anchor");
    let observer = runtime.block_on(async {
        let mut walker = ChainWalker::new(&*transport, lab.resolver, &anchors, SystemClock.now());
        let discovery_start = transport.queries_sent();
        let owner = Name::from_ascii(&owner).expect("owner");
        let observer = Observer::discover(Arc::clone(&transport), &mut walker, lab.resolver, owner)
            .await
            .expect("discovery");
        eprintln!(
            "discovery + chain of trust: {} queries (once per run)",
            transport.queries_sent() - discovery_start
        );
        observer
    });
    assert_eq!(observer.servers().len(), 4, "2 servers x 2 addresses");
    let before = transport.queries_sent();
    let observations = runtime.block_on(observer.poll(&SystemClock));
    assert!(observations.iter().all(|o| o.soa.is_some()));
    eprintln!(
        "one poll: {} queries to {} authoritative addresses",
        transport.queries_sent() - before,
        observer.servers().len()
    );

    let mut group = c.benchmark_group("propagation");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(5));
    group.bench_function(
        "observer poll (2 servers x 2 addresses, TLSA+SOA each, RRSIG verified)",
        |b| b.iter(|| runtime.block_on(observer.poll(&SystemClock))),
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("daneroll.toml");
    std::fs::write(
        &config,
        format!(
            "[validation]\ntrust_anchor_file = \"{}\"\nresolver = \"{}\"\n",
            lab.trust_anchor.display(),
            lab.resolver
        ),
    )
    .expect("config");
    let show = || {
        Command::new(env!("CARGO_BIN_EXE_daneroll"))
            .arg("--config")
            .arg(&config)
            .args(["records", "show", &lab.mx.host, "--json"])
            .output()
            .expect("run daneroll")
    };
    let output = show();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    eprintln!(
        "records show: {} queries in total (discovery, chain, one poll, resolver view)",
        json["queries_sent"]
    );
    group.bench_function("records show (whole process)", |b| b.iter(show));
    group.finish();
}

criterion_group!(benches, poll);
criterion_main!(benches);
