//! `daneroll check` on a domain with MTA-STS and TLS-RPT: the lab serves `sts.corp.example.`
//! (MX mail.mx.example., `_mta-sts`, `_smtp._tls`, `mta-sts.` on the MX address), a fake MTA
//! presents certificates on port 25 and an HTTPS policy server on port 443 serves good and bad
//! policies. The test CA is trusted through `--webpki-roots`, never the system store.

use std::net::SocketAddr;

use daneroll_providers::Tlsa;

use crate::certs::{TestCa, TestCert};
use crate::fake_mta::{FakeMta, Script};
use crate::lab::Lab;
use crate::sts_server::{PolicyServer, Serve};
use crate::util::{Dir, Run, run};

const MAIL: &str = "mail.mx.example";
const DOMAIN: &str = "sts.corp.example";
const POLICY_HOST: &str = "mta-sts.sts.corp.example";

fn policy(mode: &str, mx: &str) -> String {
    format!("version: STSv1\r\nmode: {mode}\r\nmx: {mx}\r\nmax_age: 86400\r\n")
}

/// Replaces the TLSA RRset of mail.mx.example. and makes every cache forget the old one.
fn publish(lab: &Lab, records: &[Tlsa]) {
    let owner = lab.mx.tlsa_owner(25);
    let mut commands = format!("update delete {owner} TLSA\n");
    for record in records {
        commands.push_str(&format!("update add {owner} 5 TLSA {record}\n"));
    }
    lab.nsupdate(&lab.keys.mx, &lab.mx, &commands)
        .unwrap_or_else(|e| panic!("{e}"));
    lab.wait_secondary_synced();
    lab.flush_resolver();
}

struct Checker<'a> {
    lab: &'a Lab,
    roots: String,
}

impl Checker<'_> {
    fn check(&self, state: &Dir, extra: &[&str]) -> Run {
        let resolver = self.lab.resolver.to_string();
        let anchor = self.lab.trust_anchor.display().to_string();
        let state = state.path().display().to_string();
        let mut args = vec![
            "check",
            "--resolver",
            &resolver,
            "--trust-anchor",
            &anchor,
            "--timeout",
            "5",
            "--webpki-roots",
            &self.roots,
            "--state-dir",
            &state,
            "--json",
        ];
        args.extend_from_slice(extra);
        args.push(DOMAIN);
        run(&args)
    }
}

/// Stops `mta` and starts another presenting `cert` once its port is free (the aborted task
/// drops its listener asynchronously; bounded wait).
fn restart(
    runtime: &tokio::runtime::Runtime,
    mta: FakeMta,
    bind: &str,
    cert: &TestCert,
) -> FakeMta {
    drop(mta);
    for _ in 0..250 {
        if std::net::TcpListener::bind(bind).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    runtime.block_on(FakeMta::start(bind, Script::presenting(cert)))
}

fn json(out: &Run) -> serde_json::Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

fn messages(out: &Run) -> String {
    let json = json(out);
    json["domains"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["status"].as_str().unwrap(),
                f["message"].as_str().unwrap()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn check_reports_mta_sts_and_tls_rpt_against_a_lab_policy_server() {
    let lab = Lab::start();
    let ca = TestCa::root("STS Test Root");
    let dir = Dir::new();
    let roots = dir.write("roots.pem", &ca.pem);
    let checker = Checker {
        lab: &lab,
        roots: roots.display().to_string(),
    };
    let mx_cert = ca.issue(&[MAIL]);
    let self_signed = TestCert::self_signed(&[MAIL]);
    let policy_cert = ca.issue(&[POLICY_HOST]);
    let expired = ca.issue_expired(&[POLICY_HOST]);
    publish(&lab, &[mx_cert.dane_ee(), self_signed.dane_ee()]);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ip = lab.mx.host_addr;
    let (mta, server) = runtime.block_on(async {
        let mta = FakeMta::start(&format!("{ip}:25"), Script::presenting(&mx_cert)).await;
        let server = PolicyServer::start(
            SocketAddr::new(ip.into(), 443),
            &policy_cert,
            Serve::Policy(policy("enforce", MAIL)),
        )
        .await;
        (mta, server)
    });

    // A good policy covering the MX host, a WebPKI-valid certificate, TLS-RPT: OK, and the
    // policy's fields in the JSON.
    let state = Dir::new();
    let out = checker.check(&state, &[]);
    out.expect_status(0);
    let report = json(&out);
    let domain = &report["domains"][0];
    assert_eq!(
        domain["mta_sts"]["record"]["id"], "20261203T1",
        "{}",
        out.stdout
    );
    assert_eq!(domain["mta_sts"]["policy"]["mode"], "enforce");
    assert_eq!(domain["mta_sts"]["policy"]["mx"][0], MAIL);
    assert_eq!(domain["mta_sts"]["policy"]["max_age"], 86400);
    assert_eq!(
        domain["tls_rpt"]["record"]["rua"][0],
        "mailto:tlsrpt@sts.corp.example"
    );
    assert!(
        messages(&out).contains("OK sts.corp.example: MTA-STS id 20261203T1: mode enforce, mx mail.mx.example, max_age 86400s"),
        "{}",
        messages(&out)
    );

    // The policy changes (and no longer covers the MX host) under the same id: WARNING for
    // both; CRITICAL only with --require-sts.
    server.set(
        &policy_cert,
        Serve::Policy(policy("enforce", "*.other.example")),
    );
    let out = checker.check(&state, &[]);
    out.expect_status(1);
    let text = messages(&out);
    assert!(
        text.contains("WARNING sts.corp.example: MX host mail.mx.example is not covered by the MTA-STS mx patterns (*.other.example)"),
        "{text}"
    );
    assert!(
        text.contains("WARNING sts.corp.example: the MTA-STS policy changed but _mta-sts.sts.corp.example still says id=20261203T1"),
        "{text}"
    );
    assert_eq!(
        json(&out)["hosts"][0]["status"],
        "OK",
        "DANE itself is fine"
    );
    checker.check(&state, &["--require-sts"]).expect_status(2);

    // Enforce mode, the MX presents a self-signed certificate (DANE-EE still matches): WARNING
    // without --require-sts, CRITICAL with it.
    server.set(&policy_cert, Serve::Policy(policy("enforce", MAIL)));
    let mta = restart(&runtime, mta, &format!("{ip}:25"), &self_signed);
    let fresh = Dir::new();
    let out = checker.check(&fresh, &[]);
    out.expect_status(1);
    let text = messages(&out);
    assert!(
        text.contains("WARNING sts.corp.example: MTA-STS mode enforce, but the certificate mail.mx.example presents is not WebPKI-valid for mail.mx.example"),
        "{text}"
    );
    assert_eq!(json(&out)["hosts"][0]["status"], "OK");
    checker.check(&fresh, &["--require-sts"]).expect_status(2);
    // In testing mode the certificate is not judged.
    server.set(&policy_cert, Serve::Policy(policy("testing", MAIL)));
    checker.check(&Dir::new(), &[]).expect_status(0);
    let _mta = restart(&runtime, mta, &format!("{ip}:25"), &mx_cert);

    // Policies senders refuse to use: each a WARNING that names why.
    for (serve, cert, expected) in [
        (
            Serve::Oversized,
            &policy_cert,
            "https://mta-sts.sts.corp.example/.well-known/mta-sts.txt: larger than 65536 bytes",
        ),
        (
            Serve::Redirect,
            &policy_cert,
            "redirects to https://policies.elsewhere.example/mta-sts.txt (HTTP 301)",
        ),
        (
            Serve::ContentType("text/html; charset=utf-8", policy("enforce", MAIL)),
            &policy_cert,
            "Content-Type \"text/html; charset=utf-8\", senders require text/plain",
        ),
        (
            Serve::Policy(policy("enforce", MAIL)),
            &expired,
            "the TLS handshake failed: invalid peer certificate: certificate expired",
        ),
    ] {
        server.set(cert, serve);
        let out = checker.check(&Dir::new(), &[]);
        out.expect_status(1);
        let text = messages(&out);
        assert!(text.contains(expected), "expected {expected:?} in:\n{text}");
        assert!(text.contains(": senders have no policy"), "{text}");
    }
    drop(server);
}
