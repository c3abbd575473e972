//! The probe against the in-process server: the edge cases a real MTA will not produce on
//! demand (see `fake_mta`). Postfix itself is exercised in `probe.rs`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use daneroll::probe::{
    AddressOutcome, Phase, ProbeError, ProbeSettings, Prober, Target, Timeouts, TlsMode,
    verify_host_presents,
};
use rustls::AlertDescription;

use crate::certs::TestCert;
use crate::fake_mta::{FakeMta, Script, Tls};

const MX: &str = "mx.example.test";

fn prober(timeouts: Timeouts) -> Prober {
    let settings = ProbeSettings {
        timeouts,
        helo_name: "probe.example.test".into(),
        concurrency: 16,
    };
    // invariant: the aws-lc-rs provider builds a client configuration.
    Prober::new(settings).expect("prober")
}

fn quick() -> Prober {
    prober(Timeouts::uniform(Duration::from_secs(10)))
}

async fn probe(mta: &FakeMta) -> Result<daneroll::probe::Presented, ProbeError> {
    quick().probe(&Target::new(MX, mta.address)).await
}

#[tokio::test]
async fn multi_line_banner_then_chain_captured_with_sni_and_quit() {
    let cert = TestCert::self_signed(&[MX]);
    let mut script = Script::presenting(&cert);
    script.banner = vec![
        "220-fake.example ESMTP".into(),
        "220-This server is for tests.".into(),
        "220 Really.".into(),
    ];
    let mta = FakeMta::start("127.0.0.1:0", script).await;
    let presented = probe(&mta).await.unwrap();
    assert_eq!(presented.chain, cert.chain);
    assert_eq!(presented.banner, "fake.example ESMTP");
    assert_eq!(presented.tls_version, "TLSv1.3");
    assert_eq!(mta.sni(), [Some(MX.to_string())]);
    assert_eq!(
        mta.commands(),
        ["EHLO probe.example.test", "STARTTLS", "QUIT"],
        "the probe must never send MAIL/RCPT/DATA"
    );
}

#[tokio::test]
async fn an_alias_s_tlsa_base_domain_is_sent_as_sni() {
    // RFC 7672 §8.1: for an MX host that is a CNAME alias whose expanded name's TLSA records
    // are used, SNI carries that name.
    let cert = TestCert::self_signed(&["mail.provider.example"]);
    let mta = FakeMta::start("127.0.0.1:0", Script::presenting(&cert)).await;
    let target = Target::new(MX, mta.address).with_sni("Mail.Provider.Example.");
    let presented = quick().probe(&target).await.unwrap();
    assert_eq!(presented.chain, cert.chain);
    assert_eq!(mta.sni(), [Some("mail.provider.example".to_string())]);
    assert_eq!(
        target.to_string(),
        format!("{MX}[127.0.0.1]:{}", mta.address.port())
    );
}

#[tokio::test]
async fn starttls_not_offered() {
    let cert = TestCert::self_signed(&[MX]);
    let mut script = Script::presenting(&cert);
    script.ehlo_keywords = vec!["PIPELINING".into(), "SIZE 10240000".into()];
    let mta = FakeMta::start("127.0.0.1:0", script).await;
    match probe(&mta).await {
        Err(ProbeError::StartTlsNotOffered { keywords }) => {
            assert_eq!(keywords, ["PIPELINING", "SIZE"]);
        }
        other => panic!("expected StartTlsNotOffered, got {other:?}"),
    }
    assert_eq!(mta.commands(), ["EHLO probe.example.test", "QUIT"]);
}

#[tokio::test]
async fn starttls_answered_454() {
    let cert = TestCert::self_signed(&[MX]);
    let mut script = Script::presenting(&cert);
    script.starttls_reply = "454 4.7.0 TLS not available due to local problem".into();
    let mta = FakeMta::start("127.0.0.1:0", script).await;
    let error = probe(&mta).await.unwrap_err();
    assert!(
        matches!(&error, ProbeError::StartTlsRefused { code: 454, text } if text.contains("4.7.0")),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "STARTTLS refused: 454 4.7.0 TLS not available due to local problem"
    );
}

#[tokio::test]
async fn slow_banner_times_out_in_the_banner_phase() {
    let cert = TestCert::self_signed(&[MX]);
    let mut script = Script::presenting(&cert);
    script.banner_delay = Duration::from_secs(30);
    let mta = FakeMta::start("127.0.0.1:0", script).await;
    let timeouts = Timeouts {
        banner: Duration::from_millis(200),
        ..Timeouts::uniform(Duration::from_secs(10))
    };
    let error = prober(timeouts)
        .probe(&Target::new(MX, mta.address))
        .await
        .unwrap_err();
    assert!(
        matches!(error, ProbeError::Timeout { phase: Phase::Banner, after } if after == Duration::from_millis(200)),
        "{error:?}"
    );
}

#[tokio::test]
async fn tls_alert_is_reported() {
    let cert = TestCert::self_signed(&[MX]);
    let mut script = Script::presenting(&cert);
    script.tls = Tls::Alert(40);
    let mta = FakeMta::start("127.0.0.1:0", script).await;
    let error = probe(&mta).await.unwrap_err();
    assert!(
        matches!(
            error,
            ProbeError::Handshake {
                alert: Some(AlertDescription::HandshakeFailure),
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn ipv6_loopback() {
    let cert = TestCert::self_signed(&[MX]);
    let mta = FakeMta::start("[::1]:0", Script::presenting(&cert)).await;
    assert!(mta.address.is_ipv6());
    let presented = probe(&mta).await.unwrap();
    assert_eq!(presented.chain[0], cert.cert);
}

#[tokio::test]
async fn implicit_tls_on_465_style_port() {
    let cert = TestCert::self_signed(&[MX]);
    let mut script = Script::presenting(&cert);
    script.implicit = true;
    let mta = FakeMta::start("127.0.0.1:0", script).await;
    let mut target = Target::new(MX, mta.address);
    assert_eq!(
        target.mode,
        TlsMode::StartTls,
        "an ephemeral port is not 465"
    );
    target.mode = TlsMode::Implicit;
    let presented = quick().probe(&target).await.unwrap();
    assert_eq!(presented.chain[0], cert.cert);
    assert_eq!(presented.banner, "fake.example ESMTP");
    assert_eq!(mta.commands(), ["QUIT"]);
}

#[tokio::test]
async fn rejecting_banner_and_missing_banner() {
    let cert = TestCert::self_signed(&[MX]);
    let mut script = Script::presenting(&cert);
    script.banner = vec!["554 5.7.1 No SMTP service here".into()];
    let mta = FakeMta::start("127.0.0.1:0", script.clone()).await;
    let error = probe(&mta).await.unwrap_err();
    assert!(
        matches!(
            &error,
            ProbeError::Rejected {
                phase: Phase::Banner,
                code: 554,
                ..
            }
        ),
        "{error:?}"
    );

    script.banner.clear();
    let mta = FakeMta::start("127.0.0.1:0", script).await;
    let error = probe(&mta).await.unwrap_err();
    assert!(
        matches!(
            error,
            ProbeError::Closed {
                phase: Phase::Banner
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn refused_connection() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let error = quick().probe(&Target::new(MX, address)).await.unwrap_err();
    assert!(matches!(error, ProbeError::Refused), "{error:?}");
}

#[tokio::test]
async fn data_after_starttls_reply_is_refused() {
    let cert = TestCert::self_signed(&[MX]);
    let mut script = Script::presenting(&cert);
    script.after_starttls = b"250 injected\r\n".to_vec();
    let mta = FakeMta::start("127.0.0.1:0", script).await;
    let error = probe(&mta).await.unwrap_err();
    assert!(
        matches!(error, ProbeError::DataBeforeHandshake),
        "{error:?}"
    );
}

#[tokio::test]
async fn probe_all_keeps_order_and_isolates_failures() {
    let first = TestCert::self_signed(&[MX]);
    let second = TestCert::self_signed(&[MX]);
    let a = FakeMta::start("127.0.0.1:0", Script::presenting(&first)).await;
    let b = FakeMta::start("[::1]:0", Script::presenting(&second)).await;
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let targets = vec![
        Target::new(MX, b.address),
        Target::new(MX, dead),
        Target::new(MX, a.address),
    ];
    let reports = quick().probe_all(targets.clone()).await;
    let probed: Vec<&Target> = reports.iter().map(|r| &r.target).collect();
    assert_eq!(probed, targets.iter().collect::<Vec<_>>());
    assert_eq!(reports[0].outcome.as_ref().unwrap().chain[0], second.cert);
    assert!(matches!(reports[1].outcome, Err(ProbeError::Refused)));
    assert_eq!(reports[2].outcome.as_ref().unwrap().chain[0], first.cert);
}

/// The engine's guard: one address still presenting the old key makes the host unsafe.
#[tokio::test]
async fn guard_requires_every_address_to_match_remaining_records() {
    let old = TestCert::self_signed(&[MX]);
    let new = TestCert::self_signed(&[MX]);
    // Same port on both loopback families, so one (addresses × ports) set covers both.
    let v4 = FakeMta::start("127.0.0.1:0", Script::presenting(&new)).await;
    let port = v4.address.port();
    let v6 = match tokio::net::TcpListener::bind(("::1", port)).await {
        Ok(listener) => {
            drop(listener);
            FakeMta::start(&format!("[::1]:{port}"), Script::presenting(&old)).await
        }
        Err(_) => return, // the port is taken on ::1 by someone else; nothing to check here
    };
    assert_eq!(v6.address.port(), port);
    let addresses: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];

    let verdict = verify_host_presents(&quick(), MX, &addresses, &[port], &[new.dane_ee()]).await;
    assert!(!verdict.all_match());
    let failing: Vec<SocketAddr> = verdict.failures().map(|v| v.target.address).collect();
    assert_eq!(failing, [v6.address]);
    assert!(matches!(
        verdict.addresses[1].outcome,
        AddressOutcome::NoMatch { .. }
    ));

    let both = [old.dane_ee(), new.dane_ee()];
    let verdict = verify_host_presents(&quick(), MX, &addresses, &[port], &both).await;
    assert!(verdict.all_match(), "{:?}", verdict);
}
