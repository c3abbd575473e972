//! The probe and RFC 7672 matching against a real Postfix presenting test certificates
//! (`lab::postfix`): what a DANE-enforcing sender would conclude from what port 25 presents.

use std::net::IpAddr;
use std::time::Duration;

use daneroll::probe::{
    ChainProblem, DaneReport, ProbeSettings, Prober, RecordVerdict, Target, Timeouts, authenticate,
    verify_host_presents,
};
use daneroll_providers::Tlsa;
use time::OffsetDateTime;

use crate::certs::{TestCa, TestCert};
use crate::lab::net::AddrBlock;
use crate::lab::postfix::Postfix;
use crate::util::Dir;

const MX: &str = "mail.probe.example";

/// A Postfix on its own address of a freshly claimed block; the block outlives it.
struct Mta {
    postfix: Postfix,
    _block: AddrBlock,
    _dir: Dir,
}

fn postfix_presenting(cert: &TestCert) -> Mta {
    let block = AddrBlock::allocate().unwrap_or_else(|e| panic!("{e}"));
    let address = block.addr(25, 1);
    block.add(&[address]).unwrap_or_else(|e| panic!("{e}"));
    let dir = Dir::new();
    let postfix = Postfix::start(dir.path(), address, MX, &cert.postfix_chain_file());
    Mta {
        postfix,
        _block: block,
        _dir: dir,
    }
}

fn prober() -> Prober {
    let settings = ProbeSettings {
        timeouts: Timeouts::uniform(Duration::from_secs(10)),
        ..ProbeSettings::default()
    };
    Prober::new(settings).unwrap()
}

/// Probes Postfix and judges the chain against `records` for the MX name `host`.
async fn judge(mta: &Mta, host: &str, records: &[Tlsa]) -> DaneReport {
    let presented = prober()
        .probe(&Target::new(host, mta.postfix.address))
        .await
        .unwrap_or_else(|e| panic!("probe failed: {e}\n{}", mta.postfix.log()));
    authenticate(
        &presented.chain,
        records,
        &[host],
        OffsetDateTime::now_utc(),
    )
}

#[tokio::test]
async fn postfix_dane_ee_match_mismatch_expired_and_reload() {
    let ca = TestCa::root("Probe Test Root");
    let cert = ca.issue(&[MX]);
    let mta = postfix_presenting(&cert);

    let report = judge(&mta, MX, &[cert.dane_ee()]).await;
    let found = report
        .matched()
        .expect("3 1 1 of the presented key matches");
    assert_eq!((found.record, found.depth), (cert.dane_ee(), 0));

    let stranger = TestCert::self_signed(&[MX]);
    let report = judge(&mta, MX, &[stranger.dane_ee()]).await;
    assert!(report.matched().is_none());
    assert_eq!(report.outcomes[0].verdict, RecordVerdict::NoMatch);

    // DANE-EE ignores dates and names: an expired certificate for another name still matches.
    let expired = ca.issue_expired(&["old.example"]);
    mta.postfix.present(&expired.postfix_chain_file());
    let report = judge(&mta, MX, &[expired.dane_ee()]).await;
    assert_eq!(
        report.matched().map(|m| m.depth),
        Some(0),
        "{}",
        report.summary()
    );

    // The guard: after the swap, only the new key's record keeps the host safe.
    let addresses = [IpAddr::from(*ip(&mta))];
    let verdict = verify_host_presents(&prober(), MX, &addresses, &[25], &[cert.dane_ee()]).await;
    assert!(!verdict.all_match());
    let both = [cert.dane_ee(), expired.dane_ee()];
    let verdict = verify_host_presents(&prober(), MX, &addresses, &[25], &both).await;
    assert!(verdict.all_match(), "{}", verdict.addresses[0].describe());
}

#[tokio::test]
async fn postfix_dane_ta_chain_and_name_checks() {
    let root = TestCa::root("Probe Test Root CA");
    let intermediate = root.intermediate("Probe Test Issuing CA");
    let cert = intermediate.issue(&[MX]);
    let mta = postfix_presenting(&cert);

    let report = judge(&mta, MX, &[intermediate.dane_ta()]).await;
    assert_eq!(
        report.matched().map(|m| m.depth),
        Some(1),
        "{}",
        report.summary()
    );
    let report = judge(&mta, MX, &[root.dane_ta()]).await;
    assert_eq!(
        report.matched().map(|m| m.depth),
        Some(2),
        "{}",
        report.summary()
    );

    // Name mismatch under DANE-TA fails, though the chain is fine.
    let report = judge(&mta, "other.probe.example", &[root.dane_ta()]).await;
    assert!(report.matched().is_none());
    assert_eq!(
        report.outcomes[0].verdict,
        RecordVerdict::NameMismatch {
            depth: 2,
            presented: vec![MX.to_string()]
        }
    );

    // An expired leaf fails DANE-TA (dates count there) but not a DANE-EE record beside it.
    let expired = intermediate.issue_expired(&[MX]);
    mta.postfix.present(&expired.postfix_chain_file());
    let report = judge(&mta, MX, &[root.dane_ta(), expired.dane_ee()]).await;
    assert!(matches!(
        report.outcomes[0].verdict,
        RecordVerdict::BrokenChain {
            problem: ChainProblem::OutsideValidity { depth: 0, .. },
            ..
        }
    ));
    assert_eq!(report.matched().map(|m| m.record), Some(expired.dane_ee()));
}

fn ip(mta: &Mta) -> &std::net::Ipv4Addr {
    match &mta.postfix.address {
        std::net::SocketAddr::V4(v4) => v4.ip(),
        std::net::SocketAddr::V6(_) => unreachable!("the harness binds IPv4"),
    }
}
