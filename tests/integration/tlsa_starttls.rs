//! `daneroll tlsa --starttls`: records for what a server presents, against the in-process MTA.

use crate::certs::{TestCa, TestCert};
use crate::fake_mta::{FakeMta, Script};
use crate::util::{Run, daneroll};

const MX: &str = "mx.example.test";

/// Runs the binary off the async runtime, so the in-process server keeps answering.
async fn run(args: Vec<String>) -> Run {
    tokio::task::spawn_blocking(move || {
        Run::from_output(daneroll().args(&args).output().expect("run daneroll"))
    })
    .await
    .expect("join")
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn prints_dane_ee_and_dane_ta_records_of_the_presented_chain() {
    let root = TestCa::root("Starttls Root");
    let issuing = root.intermediate("Starttls Issuing");
    let cert = issuing.issue(&[MX]);
    let mta = FakeMta::start("127.0.0.1:0", Script::presenting(&cert)).await;
    let target = format!("{MX}:{}", mta.address.port());

    let out = run(args(&[
        "tlsa",
        "--starttls",
        &target,
        "--address",
        "127.0.0.1",
    ]))
    .await;
    out.ok();
    assert_eq!(out.lines(), [cert.dane_ee().to_string()]);

    let out = run(args(&[
        "tlsa",
        "--starttls",
        &target,
        "--address",
        "127.0.0.1",
        "--usage",
        "2",
        "--name",
        MX,
    ]))
    .await;
    out.ok();
    let port = mta.address.port();
    assert_eq!(
        out.lines(),
        [
            format!("_{port}._tcp.{MX}. IN TLSA {}", issuing.dane_ta()),
            format!("_{port}._tcp.{MX}. IN TLSA {}", root.dane_ta()),
        ]
    );
    assert_eq!(
        mta.commands()
            .iter()
            .filter(|c| c.starts_with("MAIL"))
            .count(),
        0
    );
}

#[tokio::test]
async fn different_chains_per_address_need_action() {
    let a = TestCert::self_signed(&[MX]);
    let b = TestCert::self_signed(&[MX]);
    let v4 = FakeMta::start("127.0.0.1:0", Script::presenting(&a)).await;
    let port = v4.address.port();
    let Ok(v6) = tokio::net::TcpListener::bind(("::1", port)).await else {
        return; // the same port is taken on ::1; nothing to compare
    };
    drop(v6);
    let _v6 = FakeMta::start(&format!("[::1]:{port}"), Script::presenting(&b)).await;
    let target = format!("{MX}:{port}");
    let out = run(args(&[
        "tlsa",
        "--starttls",
        &target,
        "--address",
        "127.0.0.1",
        "--address",
        "::1",
    ]))
    .await;
    out.expect_status(4);
    assert_eq!(
        out.lines(),
        [a.dane_ee().to_string(), b.dane_ee().to_string()]
    );
    assert!(
        out.stderr.contains("present 2 different chains"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!("{MX}[::1]:{port}")),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn unreachable_server_fails_naming_it_and_bad_forms_are_bad_input() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let target = format!("{MX}:{port}");
    let out = run(args(&[
        "tlsa",
        "--starttls",
        &target,
        "--address",
        "127.0.0.1",
    ]))
    .await;
    out.expect_status(1);
    assert!(
        out.stderr
            .contains(&format!("{MX}[127.0.0.1]:{port}: connection refused")),
        "{}",
        out.stderr
    );
    for bad in [
        vec!["tlsa", "--starttls", "mx.example.test:0"],
        vec!["tlsa", "--starttls", "bad host:25"],
        vec!["tlsa", "--starttls", "mx.example.test:587", "--port", "26"],
    ] {
        let out = run(args(&bad)).await;
        assert_eq!(out.status, Some(2), "{bad:?}: {}", out.stderr);
        assert!(out.stderr.starts_with("daneroll tlsa: "), "{}", out.stderr);
    }
}

/// #13: `--starttls HOST` resolves HOST through the config's `[validation] resolver`, as every
/// other command does (it used the system resolver, which does not know the lab's names).
#[test]
fn starttls_resolves_through_the_configured_resolver() {
    use crate::lab::Lab;
    use crate::lab::postfix::Postfix;
    use crate::util::Dir;
    const MAIL: &str = "mail.mx.example";
    let lab = Lab::start();
    let cert = TestCert::self_signed(&[MAIL]);
    let dir = Dir::new();
    let _postfix = Postfix::start(
        dir.path(),
        lab.mx.host_addr,
        MAIL,
        &cert.postfix_chain_file(),
    );
    let config = dir.write(
        "daneroll.toml",
        format!("[validation]\nresolver = \"{}\"\n", lab.resolver),
    );
    let out = Run::from_output(
        daneroll()
            .args([
                "--config",
                config.to_str().unwrap(),
                "tlsa",
                "--starttls",
                MAIL,
            ])
            .output()
            .expect("run daneroll"),
    );
    out.ok();
    assert_eq!(out.lines(), [cert.dane_ee().to_string()], "{}", out.stderr);
}
