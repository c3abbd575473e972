use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType::{A, AAAA, DNSKEY, NS, SOA, TLSA};

use super::*;
use crate::dns::chain::ChainWalker;
use crate::dns::clock::ManualClock;
use crate::dns::observation::{Expected, ServerVerdict};
use crate::dns::safe_time::{SafetyFactor, Status, TtlKind};
use crate::dns::testing::{
    FakeNet, NOW, TestZone, a_record, addr, at, name, ns_record, nsec_record, reply, soa_record,
    tlsa, tlsa_record,
};
use crate::dns::trust_anchor::TrustAnchors;
use crate::dns::wait::{WaitOutcome, WaitSettings, wait_until_safe};

const RESOLVER: &str = "127.0.9.1:53";
const OWNER: &str = "_25._tcp.mail.example.test.";
const NS1: &str = "127.0.3.1:53";
const NS2: &str = "127.0.3.2:53";
const NS3: &str = "127.0.3.3:53";
const PARENT: &str = "127.0.8.1:53";

struct Lab {
    net: Arc<FakeNet>,
    zone: TestZone,
    anchors: TrustAnchors,
}

impl Lab {
    /// example.test. with two name servers of one IPv4 address each, anchored at its own KSK.
    fn new() -> Self {
        let net = Arc::new(FakeNet::new());
        let zone = TestZone::new("example.test.");
        let resolver = addr(RESOLVER);
        let apex = zone.apex().clone();
        let soa = zone.signed(vec![soa_record(&apex, 3600, 5, 60)]);
        net.answer(
            resolver,
            &name(OWNER),
            SOA,
            reply(ResponseCode::NXDomain, false, vec![], soa.clone()),
        );
        net.answer(
            resolver,
            &apex,
            DNSKEY,
            reply(ResponseCode::NoError, false, zone.dnskey_answer(), vec![]),
        );
        let ns = zone.signed(vec![
            ns_record(&apex, &name("ns1.example.test.")),
            ns_record(&apex, &name("ns2.example.test.")),
        ]);
        net.answer(
            resolver,
            &apex,
            NS,
            reply(ResponseCode::NoError, false, ns, vec![]),
        );
        // The parent zone test., served by ns.test. at PARENT, delegates to ns1 and ns2.
        let parent = name("test.");
        net.answer(
            resolver,
            &parent,
            SOA,
            reply(
                ResponseCode::NoError,
                false,
                vec![soa_record(&parent, 3600, 1, 60)],
                vec![],
            ),
        );
        let parent_ns = vec![ns_record(&parent, &name("ns.test."))];
        net.answer(
            resolver,
            &parent,
            NS,
            reply(ResponseCode::NoError, false, parent_ns, vec![]),
        );
        let parent_host = name("ns.test.");
        net.answer(
            resolver,
            &parent_host,
            A,
            reply(
                ResponseCode::NoError,
                false,
                vec![a_record(&parent_host, [127, 0, 8, 1])],
                vec![],
            ),
        );
        net.answer(
            resolver,
            &parent_host,
            AAAA,
            reply(ResponseCode::NoError, false, vec![], vec![]),
        );
        for (host, ip) in [
            ("ns1.example.test.", [127, 0, 3, 1]),
            ("ns2.example.test.", [127, 0, 3, 2]),
        ] {
            let host = name(host);
            let a = vec![a_record(&host, ip)];
            net.answer(
                resolver,
                &host,
                A,
                reply(ResponseCode::NoError, false, a, vec![]),
            );
            net.answer(
                resolver,
                &host,
                AAAA,
                reply(ResponseCode::NoError, false, vec![], vec![]),
            );
        }
        for server in [NS1, NS2] {
            net.answer(
                addr(server),
                &apex,
                SOA,
                reply(ResponseCode::NoError, true, soa.clone(), vec![]),
            );
        }
        let key = zone.ksk().to_string();
        let anchors = TrustAnchors::parse(&format!("example.test. DNSKEY {key}"), "t").unwrap();
        let lab = Self { net, zone, anchors };
        lab.delegation(&[
            ("ns1.example.test.", [127, 0, 3, 1]),
            ("ns2.example.test.", [127, 0, 3, 2]),
        ]);
        lab
    }

    /// Scripts the parent's referral for example.test.: these NS names with this glue.
    fn delegation(&self, servers: &[(&str, [u8; 4])]) {
        let apex = self.zone.apex();
        let ns = servers
            .iter()
            .map(|(host, _)| ns_record(apex, &name(host)))
            .collect();
        let mut referral = reply(ResponseCode::NoError, false, vec![], ns);
        referral.additionals = servers
            .iter()
            .map(|(host, ip)| a_record(&name(host), *ip))
            .collect();
        self.net.answer(addr(PARENT), apex, NS, referral);
    }

    fn serving(&self) -> Result<hickory_proto::op::Message, crate::dns::QueryError> {
        let owner = name(OWNER);
        let answers = self.zone.signed(vec![tlsa_record(&owner, 300, 1)]);
        Ok(reply(ResponseCode::NoError, true, answers, vec![]))
    }

    fn nxdomain(&self) -> Result<hickory_proto::op::Message, crate::dns::QueryError> {
        let apex = self.zone.apex();
        let mut authority = self.zone.signed(vec![soa_record(apex, 3600, 4, 60)]);
        authority.extend(self.zone.signed(vec![nsec_record(
            &name("mail.example.test."),
            apex,
            &[A],
            60,
        )]));
        Ok(reply(ResponseCode::NXDomain, true, vec![], authority))
    }

    async fn observer(&self) -> Observer<FakeNet> {
        let mut walker = ChainWalker::new(&*self.net, addr(RESOLVER), &self.anchors, at(NOW));
        Observer::discover(
            Arc::clone(&self.net),
            &mut walker,
            addr(RESOLVER),
            name(OWNER),
        )
        .await
        .unwrap()
    }
}

#[tokio::test]
async fn discovery_finds_the_zone_its_keys_and_every_address() {
    let lab = Lab::new();
    let observer = lab.observer().await;
    assert_eq!(observer.zone(), &name("example.test."));
    assert!(observer.zone_status().keys().is_some());
    let addrs: Vec<_> = observer.servers().iter().map(|s| s.addr).collect();
    assert_eq!(addrs, vec![addr(NS1), addr(NS2)]);
    assert_eq!(observer.zone_ttl(), 3600);
}

#[tokio::test]
async fn a_server_only_the_parent_lists_is_polled_by_its_glue() {
    let lab = Lab::new();
    lab.delegation(&[
        ("ns1.example.test.", [127, 0, 3, 1]),
        ("ns3.example.test.", [127, 0, 3, 3]),
    ]);
    // ns3.example.test. does not exist in the child: the resolver says NXDOMAIN.
    for rtype in [A, AAAA] {
        lab.net.answer(
            addr(RESOLVER),
            &name("ns3.example.test."),
            rtype,
            reply(ResponseCode::NXDomain, false, vec![], vec![]),
        );
    }
    let observer = lab.observer().await;
    let servers: Vec<_> = observer
        .servers()
        .iter()
        .map(|s| (s.ns.as_str(), s.addr))
        .collect();
    assert_eq!(
        servers,
        vec![
            ("ns1.example.test.", addr(NS1)),
            ("ns2.example.test.", addr(NS2)),
            ("ns3.example.test.", addr(NS3)),
        ]
    );
}

#[tokio::test]
async fn an_unsigned_child_ns_rrset_or_a_silent_parent_stops_discovery() {
    let lab = Lab::new();
    let apex = lab.zone.apex().clone();
    let bare = vec![ns_record(&apex, &name("ns1.example.test."))];
    lab.net.answer(
        addr(RESOLVER),
        &apex,
        NS,
        reply(ResponseCode::NoError, false, bare, vec![]),
    );
    let mut walker = ChainWalker::new(&*lab.net, addr(RESOLVER), &lab.anchors, at(NOW));
    let error = Observer::discover(
        Arc::clone(&lab.net),
        &mut walker,
        addr(RESOLVER),
        name(OWNER),
    )
    .await
    .err()
    .unwrap();
    assert!(
        matches!(&error, DiscoveryError::UnverifiedNs { zone, .. } if *zone == apex),
        "{error}"
    );

    let lab = Lab::new();
    let silent = crate::dns::QueryError::Timeout {
        server: addr(PARENT),
        question: "example.test. NS".into(),
        attempts: 3,
        timeout: Duration::from_secs(1),
    };
    lab.net.on(addr(PARENT), &apex, NS, vec![Err(silent)]);
    let mut walker = ChainWalker::new(&*lab.net, addr(RESOLVER), &lab.anchors, at(NOW));
    let error = Observer::discover(
        Arc::clone(&lab.net),
        &mut walker,
        addr(RESOLVER),
        name(OWNER),
    )
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(
        error.contains("delegation of example.test. from its parent zone test."),
        "{error}"
    );
    assert!(error.contains("127.0.8.1"), "{error}");
}

#[tokio::test]
async fn one_poll_sends_one_tlsa_and_one_soa_query_per_address() {
    let lab = Lab::new();
    lab.net
        .on(addr(NS1), &name(OWNER), TLSA, vec![lab.serving()]);
    lab.net
        .on(addr(NS2), &name(OWNER), TLSA, vec![lab.nxdomain()]);
    let observer = lab.observer().await;
    let clock = ManualClock::at(NOW);
    let before = lab.net.queries_sent();
    let observations = observer.poll(&clock).await;
    assert_eq!(lab.net.queries_sent() - before, 4);
    let expected = Expected {
        record: tlsa(1),
        present: true,
    };
    assert_eq!(observations[0].verdict(&expected), ServerVerdict::Serving);
    assert_eq!(observations[1].verdict(&expected), ServerVerdict::Stale);
    assert_eq!(observations[1].soa.map(|s| s.serial), Some(5));
}

#[tokio::test]
async fn waits_for_the_laggard_then_two_of_the_longest_ttl_seen() {
    let lab = Lab::new();
    lab.net
        .on(addr(NS1), &name(OWNER), TLSA, vec![lab.serving()]);
    lab.net.on(
        addr(NS2),
        &name(OWNER),
        TLSA,
        vec![lab.nxdomain(), lab.nxdomain(), lab.serving()],
    );
    lab.net
        .on(addr(RESOLVER), &name(OWNER), TLSA, vec![lab.serving()]);
    let observer = lab.observer().await;
    let clock = ManualClock::at(NOW);
    let settings = WaitSettings::default();
    let mut statuses = Vec::new();
    let expected = Expected {
        record: tlsa(1),
        present: true,
    };
    let outcome = wait_until_safe(&observer, &expected, &settings, &clock, |report| {
        statuses.push(report.status.clone());
    })
    .await
    .unwrap();
    let WaitOutcome::Safe {
        served_at,
        safe_at,
        bound,
        factor,
    } = outcome
    else {
        panic!("{outcome:?}");
    };
    assert_eq!(
        served_at,
        at(NOW + 4),
        "the third poll, two intervals later"
    );
    // The stale server's negative TTL (60, validated SOA) and the new RRset's TTL (300, its
    // RRSIG's original TTL): the longest rules.
    assert_eq!(
        (bound.ttl, bound.kind, factor),
        (300, TtlKind::RrsigOriginal, SafetyFactor::DEFAULT)
    );
    assert_eq!(
        bound.server.as_deref(),
        Some("ns1.example.test (127.0.3.1:53)")
    );
    assert_eq!(safe_at, served_at + Duration::from_secs(600));
    assert!(clock.now() >= safe_at);
    assert!(
        matches!(&statuses[0], Status::Propagating { waiting_for } if waiting_for == &vec![addr(NS2)])
    );
    assert!(matches!(statuses.last(), Some(Status::Safe { .. })));
}

#[tokio::test]
async fn a_silent_server_times_out_and_is_named() {
    let lab = Lab::new();
    lab.net
        .on(addr(NS1), &name(OWNER), TLSA, vec![lab.serving()]);
    let silent = crate::dns::QueryError::Timeout {
        server: addr(NS2),
        question: format!("{OWNER} TLSA"),
        attempts: 3,
        timeout: Duration::from_secs(1),
    };
    lab.net.on(addr(NS2), &name(OWNER), TLSA, vec![Err(silent)]);
    let observer = lab.observer().await;
    let clock = ManualClock::at(NOW);
    let settings = WaitSettings {
        timeout: Some(Duration::from_secs(30)),
        ..WaitSettings::default()
    };
    let expected = Expected {
        record: tlsa(1),
        present: true,
    };
    let outcome = wait_until_safe(&observer, &expected, &settings, &clock, |_| {})
        .await
        .unwrap();
    let WaitOutcome::TimedOut { laggards, safe_at } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(safe_at, None);
    assert_eq!(laggards.len(), 1);
    assert_eq!(laggards[0].0.addr, addr(NS2));
    assert!(matches!(laggards[0].1, ServerVerdict::NoAnswer(_)));
    assert_eq!(clock.now(), at(NOW + 30));
}

#[test]
fn resolver_comes_from_the_first_nameserver_line() {
    let text = "# generated\nsearch example.test\nnameserver 127.0.0.53 # stub\nnameserver ::1\noptions trust-ad\n";
    assert_eq!(resolver_from_resolv_conf(text), Some(addr("127.0.0.53:53")));
    assert_eq!(
        resolver_from_resolv_conf("nameserver fe80::1%eth0\n"),
        Some(addr("[fe80::1]:53"))
    );
    assert_eq!(resolver_from_resolv_conf("search x\n"), None);
}

#[tokio::test]
async fn a_key_set_that_expires_during_a_wait_is_validated_again() {
    // Found on the old main: the DNSKEY RRset validated at discovery was used for the whole
    // wait, however long, even after its RRSIG had expired.
    let mut lab = Lab::new();
    let apex = lab.zone.apex().clone();
    let inception = lab.zone.inception();
    lab.zone.set_validity(inception, at(NOW + 600));
    let short = reply(
        ResponseCode::NoError,
        false,
        lab.zone.dnskey_answer(),
        vec![],
    );
    lab.net.answer(addr(RESOLVER), &apex, DNSKEY, short);
    let observer = lab.observer().await;
    lab.zone.set_validity(inception, at(NOW + 14 * 86400));
    lab.net
        .on(addr(NS1), &name(OWNER), TLSA, vec![lab.serving()]);
    let expected = Expected {
        record: tlsa(1),
        present: true,
    };
    let clock = ManualClock::at(NOW + 1200);
    // The resolver still hands out the expired DNSKEY RRset: nothing is served.
    let observations = observer.poll(&clock).await;
    let verdict = observations[0].verdict(&expected);
    assert!(
        matches!(&verdict, ServerVerdict::Bogus(why) if why.contains("validated again")),
        "{verdict}"
    );
    // Once the zone is re-signed, the next poll validates the new RRSIG and goes on.
    let fresh = reply(
        ResponseCode::NoError,
        false,
        lab.zone.dnskey_answer(),
        vec![],
    );
    lab.net.answer(addr(RESOLVER), &apex, DNSKEY, fresh);
    let observations = observer.poll(&clock).await;
    assert_eq!(observations[0].verdict(&expected), ServerVerdict::Serving);
}
