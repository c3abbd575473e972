//! Answers too large for UDP and servers reachable only over IPv6, against real BIND and
//! unbound (issue #12, item 1): an MX RRset of 100 hosts, a TLSA RRset of 14 records and a
//! DNSKEY RRset of two RSA-4096 keys (RSA/SHA-256, RFC 5702), each truncated at the 1232-byte
//! EDNS size, through the resolver path (`check`'s lookups, the chain walk) and the
//! authoritative path (the observer asking each NS address). The zone has an AAAA-only NS and
//! an AAAA-only MX host; a second zone has only AAAA-only name servers.

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::SystemTime;

use daneroll::dns::chain::ZoneStatus;
use daneroll::dns::observation::{Answer, Expected, ServerVerdict};
use daneroll::dns::trust_anchor::TrustAnchors;
use daneroll::dns::{Question, Transport};
use daneroll::probe::lookup::{Dns, Security};
use daneroll_providers::Tlsa;
use hickory_proto::rr::{Name, RData, RecordType};

use crate::certs::TestCert;
use crate::fake_mta::{FakeMta, Script};
use crate::hostile_transport::{FastClock, observer, runtime, transport};
use crate::lab::Lab;
use crate::lab::extra::{ExtraZone, ExtraZoneSpec, NsHost};
use crate::util::run;

const ZONE: &str = "big.example.";
/// MX hosts `mx-1` … `mx-99` (IPv4, no MTA) and `mx6` (IPv6 only, a fake MTA).
const V4_HOSTS: u8 = 99;
/// The TLSA RRset at `_25._tcp.mx-1.big.example.`: 8 × `3 1 1` and 6 × `3 1 2`.
const TLSA_OWNER: &str = "_25._tcp.mx-1.big.example.";

struct BigZone {
    zone: ExtraZone,
    /// BIND's IPv6 address, the only address of NS `ns2`.
    v6_ns: SocketAddr,
    /// The only address of `mx6.big.example.`.
    mx6: IpAddr,
    mx6_cert: TestCert,
    tlsa: Vec<Tlsa>,
}

fn tlsa_set() -> Vec<Tlsa> {
    let mut set: Vec<Tlsa> = (0..8u8)
        .map(|k| Tlsa::new(3, 1, 1, vec![0x10 + k; 32]))
        .collect();
    set.extend((0..6u8).map(|k| Tlsa::new(3, 1, 2, vec![0x40 + k; 64])));
    set.sort();
    set
}

/// One RSA-4096 zone for every test of this module, on the shared lab.
fn big_zone() -> &'static BigZone {
    static ZONE_ONCE: OnceLock<BigZone> = OnceLock::new();
    ZONE_ONCE.get_or_init(|| {
        let lab = Lab::shared();
        let v4: IpAddr = lab.addr(45, 1).into();
        let v6: IpAddr = lab.addr6(0x45).into();
        let mx6: IpAddr = lab.addr6(0x46).into();
        lab.add_any(&[mx6]).unwrap();
        let mx6_cert = TestCert::self_signed(&["mx6.big.example"]);
        let tlsa = tlsa_set();
        let mut records = String::new();
        for k in 1..=V4_HOSTS {
            let addr = lab.bench_host(k);
            records.push_str(&format!("{ZONE} MX {k} mx-{k}\nmx-{k} A {addr}\n"));
        }
        records.push_str(&format!("{ZONE} MX 100 mx6\nmx6 AAAA {mx6}\n"));
        records.push_str(&format!("_25._tcp.mx6 TLSA {}\n", mx6_cert.dane_ee()));
        for record in &tlsa {
            records.push_str(&format!("{TLSA_OWNER} TLSA {record}\n"));
        }
        let zone = lab
            .add_zone(ExtraZoneSpec {
                name: ZONE.into(),
                rsa_bits: Some(4096),
                listen: vec![v4, v6],
                ns: vec![NsHost::new("ns1", &[v4]), NsHost::new("ns2", &[v6])],
                records,
                tlsa_updates: false,
            })
            .unwrap_or_else(|e| panic!("{ZONE}: {e}"));
        BigZone {
            zone,
            v6_ns: SocketAddr::new(v6, 53),
            mx6,
            mx6_cert,
            tlsa,
        }
    })
}

/// Whether BIND's UDP answer at a 1232-byte buffer is truncated (dig, no TCP retry).
fn truncated_over_udp(lab: &Lab, server: SocketAddr, name: &str, rtype: &str) -> bool {
    let at = format!("@{}", server.ip());
    let out = lab.dig(&[
        &at,
        "+norec",
        "+dnssec",
        "+bufsize=1232",
        "+ignore",
        "+notcp",
        name,
        rtype,
    ]);
    out.lines().any(|l| {
        l.starts_with(";; flags:") && l.split(';').nth(2).is_some_and(|f| f.contains(" tc"))
    })
}

#[test]
fn large_rrsets_truncated_over_udp_are_read_over_tcp_on_every_path() {
    let lab = Lab::shared();
    let big = big_zone();
    let bind = big.zone.primary();
    for (name, rtype) in [(ZONE, "MX"), (TLSA_OWNER, "TLSA"), (ZONE, "DNSKEY")] {
        assert!(
            truncated_over_udp(lab, bind, name, rtype),
            "{name} {rtype} must not fit in 1232 bytes"
        );
    }
    let anchors = TrustAnchors::from_file(&lab.trust_anchor).unwrap();
    runtime().block_on(async {
        let transport = transport();
        // The resolver path, as `check` takes it.
        let mut dns = Dns::new(&*transport, lab.resolver, &anchors, SystemTime::now());
        let mx = dns.mx("big.example").await.unwrap();
        assert!(mx.authenticated, "MX not validated: {}", mx.rcode);
        assert_eq!(mx.records.len(), 100);
        let tlsa = dns.tlsa("mx-1.big.example", 25).await.unwrap();
        assert!(tlsa.authenticated, "TLSA not validated: {}", tlsa.rcode);
        assert_eq!(tlsa.records, big.tlsa);
        // The chain walk fetches the RSA-4096 DNSKEY RRset (and DS) through the resolver.
        let facts = dns.zone_of(TLSA_OWNER).await.unwrap();
        assert_eq!(facts.security, Security::Secure, "{:?}", facts.security);

        // The authoritative path: discovery finds the AAAA-only NS, each address serves the
        // 14 records, verified against the chain-validated RSA keys.
        let observer = observer(lab, &transport, TLSA_OWNER).await;
        let ZoneStatus::Secure(keys) = observer.zone_status() else {
            panic!("{ZONE}: {}", observer.zone_status());
        };
        assert_eq!(keys.keys().len(), 2, "KSK and ZSK");
        let mut addrs: Vec<SocketAddr> = observer.servers().iter().map(|s| s.addr).collect();
        addrs.sort();
        let mut want = vec![bind, big.v6_ns];
        want.sort();
        assert_eq!(addrs, want);
        let observations = observer.poll(&FastClock::new()).await;
        for observation in &observations {
            let Answer::Served(served) = &observation.answer else {
                panic!("{}: {:?}", observation.server, observation.answer);
            };
            assert_eq!(served.records, big.tlsa, "{}", observation.server);
            let expected = Expected {
                record: big.tlsa[13].clone(),
                present: true,
            };
            assert_eq!(
                observation.verdict(&expected),
                ServerVerdict::Serving,
                "{}",
                observation.server
            );
        }
        // The DNSKEY and MX RRsets straight from each address, IPv4 and IPv6.
        for server in [bind, big.v6_ns] {
            let zone = Name::from_ascii(ZONE).unwrap();
            for (rtype, count) in [(RecordType::DNSKEY, 2), (RecordType::MX, 100)] {
                let question = Question::authoritative(zone.clone(), rtype);
                let reply = transport.query(server, question).await.unwrap();
                assert!(!reply.metadata.truncation);
                let got = reply
                    .answers
                    .iter()
                    .filter(|r| r.record_type() == rtype)
                    .count();
                assert_eq!(got, count, "{rtype} from {server}");
                assert!(
                    reply
                        .answers
                        .iter()
                        .any(|r| matches!(&r.data, RData::DNSSEC(_))
                            && r.record_type() == RecordType::RRSIG),
                    "{rtype} from {server} has no RRSIG"
                );
            }
        }
    });
}

#[test]
fn check_of_a_domain_with_100_mx_hosts_gives_verdicts() {
    let lab = Lab::shared();
    let big = big_zone();
    let rt = runtime();
    // The AAAA-only MX host has an MTA (over IPv6); the 99 others have none.
    let mta = rt.block_on(FakeMta::start(
        &SocketAddr::new(big.mx6, 25).to_string(),
        Script::presenting(&big.mx6_cert),
    ));
    let resolver = lab.resolver.to_string();
    let anchor = lab.trust_anchor.display().to_string();
    let out = run(&[
        "check",
        "--json",
        "--resolver",
        &resolver,
        "--trust-anchor",
        &anchor,
        "--timeout",
        "5",
        "big.example",
    ]);
    let json: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout, out.stderr));
    let hosts = json["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 100, "{}", out.stdout);
    for host in hosts {
        let text = host.to_string();
        assert_ne!(host["status"], "UNKNOWN", "{text}");
        assert!(!text.contains("lookup failed"), "{text}");
        assert!(!text.contains("receiver was canceled"), "{text}");
    }
    let mx6 = hosts
        .iter()
        .find(|h| h["host"] == "mx6.big.example")
        .expect("mx6.big.example");
    assert_eq!(mx6["dane"], true, "{mx6}");
    // WARNING only for "no next key published"; the key presented matches.
    assert_eq!(mx6["status"], "WARNING", "{mx6}");
    assert_eq!(mx6["addresses"][0]["result"], "match", "{mx6}");
    assert!(
        mx6.to_string().contains(&big.mx6.to_string()),
        "the IPv6 address was probed: {mx6}"
    );
    assert!(!mta.commands().is_empty(), "the MTA was reached over IPv6");
    drop(mta);
}

#[test]
fn a_zone_with_only_aaaa_only_name_servers_is_observed() {
    let lab = Lab::shared();
    let v4: IpAddr = lab.addr(47, 1).into();
    let v6: IpAddr = lab.addr6(0x47).into();
    let owner = "_25._tcp.mail.v6only.example.";
    let record = Tlsa::new(3, 1, 1, vec![0x66; 32]);
    // BIND also listens on IPv4 (for rndc), but no NS name points there.
    let zone = lab
        .add_zone(ExtraZoneSpec {
            name: "v6only.example.".into(),
            rsa_bits: None,
            listen: vec![v4, v6],
            ns: vec![NsHost::new("ns1", &[v6])],
            records: format!("mail AAAA {v6}\n{owner} TLSA {record}\n"),
            tlsa_updates: false,
        })
        .unwrap_or_else(|e| panic!("v6only.example.: {e}"));
    runtime().block_on(async {
        let transport = transport();
        let observer = observer(lab, &transport, owner).await;
        let addrs: Vec<SocketAddr> = observer.servers().iter().map(|s| s.addr).collect();
        assert_eq!(addrs, vec![SocketAddr::new(v6, 53)]);
        let observations = observer.poll(&FastClock::new()).await;
        let expected = Expected {
            record,
            present: true,
        };
        assert_eq!(observations.len(), 1);
        assert_eq!(observations[0].verdict(&expected), ServerVerdict::Serving);
    });
    drop(zone);
}
