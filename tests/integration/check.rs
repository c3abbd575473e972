//! `daneroll check` against the lab: real BIND zones (secure, insecure, bogus), the validating
//! unbound, and a real Postfix presenting test certificates; verdicts cross-checked with
//! Postfix's own DANE client, `posttls-finger -l dane`.

use crate::certs::{TestCa, TestCert};
use crate::lab::Lab;
use crate::lab::postfix::Postfix;
use crate::util::{Dir, Run, run};
use daneroll_providers::Tlsa;

const MAIL: &str = "mail.mx.example";

fn check(lab: &Lab, args: &[&str]) -> Run {
    let resolver = lab.resolver.to_string();
    let anchor = lab.trust_anchor.display().to_string();
    let mut all = vec![
        "check",
        "--resolver",
        &resolver,
        "--trust-anchor",
        &anchor,
        "--timeout",
        "5",
    ];
    all.extend_from_slice(args);
    run(&all)
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

/// Postfix's verdict: `Some((depth, record))` when it verified the server through DANE.
fn finger(lab: &Lab, postfix: &Postfix) -> (Option<(u64, String)>, String) {
    let text = postfix.posttls_finger(lab.resolver, "dane", "corp.example");
    if !text.contains("Verified TLS connection established") {
        return (None, text);
    }
    let matched = text.lines().find_map(|line| {
        let (_, rest) = line.split_once(" certificate at depth ")?;
        let (depth, record) = rest.split_once(": ")?;
        Some((depth.parse().ok()?, record.trim().to_string()))
    });
    (matched, text)
}

/// daneroll's verdict for the single address, in the same form.
fn ours(out: &Run) -> Option<(u64, String)> {
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let matched = &json["hosts"][0]["addresses"][0]["matched"];
    Some((
        matched["depth"].as_u64()?,
        matched["record"].as_str()?.to_string(),
    ))
}

/// Both verdicts agree: same matching record at the same depth, or both fail.
fn agree(lab: &Lab, postfix: &Postfix, out: &Run) -> Option<(u64, String)> {
    let (theirs, text) = finger(lab, postfix);
    assert_eq!(
        ours(out),
        theirs,
        "posttls-finger disagrees:\n{text}\n{}",
        out.stdout
    );
    theirs
}

#[test]
fn check_and_posttls_finger_agree_on_the_lab() {
    let lab = Lab::start();
    let root = TestCa::root("Check Test Root");
    let issuing = root.intermediate("Check Test Issuing CA");
    let current = issuing.issue(&[MAIL]);
    let next = TestCert::self_signed(&[MAIL]);
    let dir = Dir::new();
    let postfix = Postfix::start(
        dir.path(),
        lab.mx.host_addr,
        MAIL,
        &current.postfix_chain_file(),
    );

    // Current + next: OK for both, same record at depth 0.
    publish(&lab, &[current.dane_ee(), next.dane_ee()]);
    let out = check(&lab, &["corp.example"]);
    out.expect_status(0);
    assert!(
        out.stdout.starts_with("DANE OK - 1 host(s), 1 address(es)"),
        "{}",
        out.stdout
    );
    let out = check(&lab, &["--json", "corp.example"]);
    let matched = agree(&lab, &postfix, &out);
    assert_eq!(matched, Some((0, current.dane_ee().to_string())));

    // An MX host that is an alias (relay.corp.example. CNAME mail.mx.example.) and has no TLSA
    // records of its own: the expanded name's RRset applies (RFC 7672 §2.2.2).
    let out = check(&lab, &["--json", "--host", "relay.corp.example"]);
    out.expect_status(0);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let host = &json["hosts"][0];
    assert_eq!(host["tlsa_base"], "mail.mx.example", "{}", out.stdout);
    assert_eq!(host["dane"], true, "{}", out.stdout);

    // Only a stranger's key (and next): CRITICAL; Postfix would not deliver either.
    let stranger = TestCert::self_signed(&[MAIL]);
    publish(&lab, &[stranger.dane_ee(), next.dane_ee()]);
    let out = check(&lab, &["corp.example"]);
    out.expect_status(2);
    assert!(
        out.stdout.starts_with("DANE CRITICAL - mail.mx.example["),
        "{}",
        out.stdout
    );
    let out = check(&lab, &["--json", "corp.example"]);
    assert_eq!(agree(&lab, &postfix, &out), None);

    // DANE-TA on the issuing CA, one record only: matches at depth 1, but warns (no next key,
    // no backup intermediates).
    publish(&lab, &[issuing.dane_ta()]);
    let out = check(&lab, &["--json", "--host", MAIL]);
    out.expect_status(1);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["status"], "WARNING");
    assert!(
        out.stdout.contains("no next key is published"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("backup intermediates"),
        "{}",
        out.stdout
    );
    let matched = agree(&lab, &postfix, &out);
    assert_eq!(matched, Some((1, issuing.dane_ta().to_string())));

    // DANE-TA with a leaf for another name: fails for both.
    let misnamed = issuing.issue(&["other.mx.example"]);
    postfix.present(&misnamed.postfix_chain_file());
    publish(&lab, &[issuing.dane_ta(), root.dane_ta()]);
    let out = check(&lab, &["corp.example"]);
    out.expect_status(2);
    assert!(
        out.stdout.contains("(other.mx.example) do not match"),
        "{}",
        out.stdout
    );
    let out = check(&lab, &["--json", "corp.example"]);
    assert_eq!(agree(&lab, &postfix, &out), None);
}

#[test]
fn check_reports_insecure_bogus_and_missing_zones() {
    let lab = Lab::start();
    // Insecure zone: TLSA records are ignored; no server listens there: WARNING, not CRITICAL.
    let record = TestCert::self_signed(&["mail.insecure.example"]).dane_ee();
    lab.nsupdate(
        &lab.keys.mx,
        &lab.insecure,
        &format!("update add {} 5 TLSA {record}", lab.insecure.tlsa_owner(25)),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = check(&lab, &["--host", "mail.insecure.example"]);
    out.expect_status(1);
    assert!(
        out.stdout
            .contains("not validated by the resolver: senders ignore them"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("insecure.example."), "{}", out.stdout);

    // Bogus zone: validating senders defer: CRITICAL.
    let out = check(&lab, &["--host", "mail.bogus.example"]);
    out.expect_status(2);
    assert!(out.stdout.contains("SERVFAIL"), "{}", out.stdout);

    // A domain that does not exist; a resolver that does not answer: CRITICAL, UNKNOWN.
    let out = check(&lab, &["nothing.example"]);
    out.expect_status(2);
    assert!(out.stdout.contains("does not exist"), "{}", out.stdout);
    let out = run(&["check", "--resolver", "127.0.0.1:9", "--host", MAIL]);
    out.expect_status(3);
    assert!(out.stdout.starts_with("DANE UNKNOWN - "), "{}", out.stdout);
    let out = run(&["check", "--host", "bad host", "--resolver", "127.0.0.1"]);
    out.expect_status(3);
    assert!(
        out.stdout.contains("\"bad host\" is not a host name"),
        "{}",
        out.stdout
    );
    // A command-line typo in a monitoring definition is UNKNOWN too, not CRITICAL.
    for args in [
        &["check", "--warn-days", "soon", MAIL][..],
        &["--config", "/nonexistent", "check", "--no-such-flag"][..],
    ] {
        let out = run(args);
        out.expect_status(3);
        assert!(out.stdout.starts_with("DANE UNKNOWN - "), "{}", out.stdout);
        assert!(out.stderr.contains("error:"), "{}", out.stderr);
    }
    // Elsewhere a usage error is bad input.
    run(&["status", "--no-such-flag"]).expect_status(2);
}

/// `records remove` asks the guard first: every address must present a certificate that a
/// remaining record matches, unless --force.
#[test]
fn records_remove_refuses_while_an_address_presents_only_that_records_key() {
    let lab = Lab::shared();
    let host = "bench-1.mx.example";
    let address = lab.bench_host(1);
    lab.add_addresses(&[address])
        .unwrap_or_else(|e| panic!("{e}"));
    let current = TestCert::self_signed(&[host]);
    let next = TestCert::self_signed(&[host]);
    let dir = Dir::new();
    let postfix = Postfix::start(
        &dir.join("postfix"),
        address,
        host,
        &current.postfix_chain_file(),
    );
    let config = dir.write(
        "daneroll.toml",
        format!(
            "[dns.lab]\ntype = \"rfc2136\"\nserver = \"{primary}\"\ntsig_key_file = \"{key}\"\n\n\
             [validation]\ntrust_anchor_file = \"{anchor}\"\nresolver = \"{resolver}\"\n\n\
             [[host]]\nname = \"{host}\"\ndns = \"lab\"\n",
            primary = lab.mx.primary(),
            key = lab.keys.mx.bind_file.display(),
            anchor = lab.trust_anchor.display(),
            resolver = lab.resolver,
        ),
    );
    let records = |args: &[&str]| {
        let config = config.display().to_string();
        let mut all = vec!["--config", &config, "records"];
        all.extend_from_slice(args);
        run(&all)
    };
    let (current_record, next_record) = (current.dane_ee().to_string(), next.dane_ee().to_string());
    for record in [&current_record, &next_record] {
        records(&["add", host, record, "--ttl", "5"]).ok();
    }

    // Postfix presents the current key: removing its record is refused, naming the address.
    let out = records(&["remove", host, &current_record]);
    out.expect_status(2);
    assert!(
        out.stderr.contains("refusing to remove 3 1 1"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!("{host}[{address}]:25")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--force"), "{}", out.stderr);
    // Removing the unused next record is fine (the current one still matches).
    records(&["remove", host, &next_record]).ok();

    // After the swap the old record can go.
    records(&["add", host, &next_record, "--ttl", "5"]).ok();
    postfix.present(&next.postfix_chain_file());
    records(&["remove", host, &current_record]).ok();

    // --force overrides the guard.
    records(&["add", host, &current_record, "--ttl", "5"]).ok();
    records(&["remove", host, &next_record]).expect_status(2);
    let out = records(&["remove", host, &next_record, "--force"]);
    out.ok();
    assert!(
        out.stdout.contains(&format!("removed {next_record}")),
        "{}",
        out.stdout
    );
}
