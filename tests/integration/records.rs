//! `daneroll records show|add|remove|wait` as an operator runs them, against the lab.

use std::path::PathBuf;

use crate::lab::Lab;
use crate::observer::record;
use crate::util::{Dir, Run, daneroll};

/// A config pointing daneroll at the lab's resolver and trust anchor, with the mx host on the
/// lab's RFC 2136 primary.
fn config(lab: &Lab, dir: &Dir) -> PathBuf {
    dir.write(
        "daneroll.toml",
        format!(
            "[dns.lab]\ntype = \"rfc2136\"\nserver = \"{primary}\"\ntsig_key_file = \"{key}\"\n\n\
             [validation]\ntrust_anchor_file = \"{anchor}\"\nresolver = \"{resolver}\"\n\n\
             [[host]]\nname = \"{mx}\"\ndns = \"lab\"\nmail_domains = [\"corp.example\"]\n\n\
             [[host]]\nname = \"{nods}\"\ndns = \"lab\"\n",
            primary = lab.mx.primary(),
            key = lab.keys.mx.bind_file.display(),
            anchor = lab.trust_anchor.display(),
            resolver = lab.resolver,
            mx = lab.mx.host,
            nods = lab.nods.host,
        ),
    )
}

fn daneroll_with(config: &PathBuf, args: &[&str]) -> Run {
    let mut command = daneroll();
    command.arg("--config").arg(config).args(args);
    // invariant: the binary was built by cargo for this test run.
    Run::from_output(command.output().expect("run daneroll"))
}

#[test]
fn show_reports_every_address_signed_and_the_resolver_with_ad() {
    let lab = Lab::start();
    let dir = Dir::new();
    let config = config(&lab, &dir);
    let tlsa = record(0x44);
    let owner = lab.mx.tlsa_owner(25);
    lab.nsupdate(
        &lab.keys.mx,
        &lab.mx,
        &format!("update add {owner} 5 TLSA {tlsa}"),
    )
    .unwrap();
    lab.wait_secondary_synced();

    let run = daneroll_with(&config, &["records", "show", &lab.mx.host]);
    run.ok();
    let out = &run.stdout;
    assert!(
        out.contains("MX host mail.mx.example (zone mx.example.): secure"),
        "{out}"
    );
    assert!(
        out.contains("mail domain corp.example (zone corp.example.): secure"),
        "{out}"
    );
    for server in lab.mx.servers() {
        let row = run
            .lines()
            .into_iter()
            .find(|l| l.contains(&format!("({server})")))
            .unwrap_or_else(|| panic!("no row for {server}:\n{out}"));
        assert!(
            row.contains("3 1 1 44444444…") && row.contains("signed (key"),
            "{row}"
        );
    }
    assert!(out.contains(&format!("  {tlsa}   (served by 4)")), "{out}");
    assert!(out.contains("AD=yes (validated)"), "{out}");

    let run = daneroll_with(&config, &["records", "show", &lab.mx.host, "--json"]);
    run.ok();
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let servers = json["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 4, "{json}");
    for server in servers {
        assert_eq!(server["dnssec"], "signed", "{server}");
        assert_eq!(server["records"][0], tlsa.to_string(), "{server}");
        assert!(server["signature_expires"].as_str().unwrap().ends_with('Z'));
        assert!(server["serial"].as_u64().is_some());
    }
    assert_eq!(json["resolver"]["authenticated"], true, "{json}");
    assert_eq!(json["preflight"][0]["status"], "secure");
}

#[test]
fn show_and_wait_refuse_insecure_and_bad_input() {
    let lab = Lab::start();
    let dir = Dir::new();
    let config = config(&lab, &dir);
    let run = daneroll_with(&config, &["records", "show", &lab.nods.host]);
    run.expect_status(4);
    assert!(
        run.stdout
            .contains("insecure: zone nods.example. is signed but its parent example. has no DS"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("ignored by senders"), "{}", run.stdout);

    let tlsa = record(0x55).to_string();
    let run = daneroll_with(&config, &["records", "wait", &lab.nods.host, &tlsa]);
    run.expect_status(4);
    assert!(
        run.stderr.contains("zone nods.example. is insecure"),
        "{}",
        run.stderr
    );

    let run = daneroll_with(&config, &["records", "wait", &lab.mx.host, "3 1 1 ABCD"]);
    run.expect_status(2);
    assert!(run.stderr.contains("64 hex digits"), "{}", run.stderr);
    let pkix = record(0x55).to_string().replacen("3 1 1", "1 1 1", 1);
    let run = daneroll_with(&config, &["records", "wait", &lab.mx.host, &pkix]);
    run.expect_status(2);
    assert!(run.stderr.contains("RFC 7672"), "{}", run.stderr);

    let broken = dir.write(
        "broken.toml",
        "[validation]\nresolver = \"127.0.0.1\"\nsafety = 3\n",
    );
    let run = daneroll_with(&broken, &["records", "show", &lab.mx.host]);
    run.expect_status(2);
    assert!(
        run.stderr.contains("broken.toml: line 3, safety"),
        "{}",
        run.stderr
    );
}

#[test]
fn wait_exits_zero_after_the_safe_time_and_names_a_stopped_secondary_on_timeout() {
    let lab = Lab::start();
    let dir = Dir::new();
    let config = config(&lab, &dir);
    let tlsa = record(0x66);
    let owner = lab.mx.tlsa_owner(25);
    lab.nsupdate(
        &lab.keys.mx,
        &lab.mx,
        &format!("update add {owner} 5 TLSA {tlsa}"),
    )
    .unwrap();
    let run = daneroll_with(
        &config,
        &[
            "records",
            "wait",
            &lab.mx.host,
            &tlsa.to_string(),
            "--timeout",
            "60s",
        ],
    );
    run.ok();
    assert!(
        run.stdout.contains("waiting for 3 1 1 66666666… present"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("safe: 3 1 1 66666666… present at every authoritative address"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("(2 × "), "{}", run.stdout);

    let retired = record(0x77);
    lab.pause_secondary();
    lab.nsupdate(
        &lab.keys.mx,
        &lab.mx,
        &format!("update add {owner} 5 TLSA {retired}"),
    )
    .unwrap();
    let run = daneroll_with(
        &config,
        &[
            "records",
            "wait",
            &lab.mx.host,
            &retired.to_string(),
            "--timeout",
            "3s",
        ],
    );
    lab.resume_secondary();
    run.expect_status(1);
    for server in &lab.mx.secondary_addrs {
        assert!(
            run.stderr.contains(&format!("({server}): no answer")),
            "{}",
            run.stderr
        );
    }
    for server in &lab.mx.primary_addrs {
        assert!(
            !run.stderr.contains(&format!("({server})")),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn add_and_remove_go_through_the_backend_and_wait_until_safe() {
    let lab = Lab::start();
    let dir = Dir::new();
    let config = config(&lab, &dir);
    let host = lab.mx.host.as_str();
    let owner = lab.mx.tlsa_owner(25);
    let current = record(0x88).to_string();
    let next = record(0x99).to_string();

    // The name had no TLSA: the hold is the negative TTL (5 s in the lab), declared by add.
    let run = daneroll_with(
        &config,
        &[
            "records",
            "add",
            host,
            &current,
            "--ttl",
            "5",
            "--wait",
            "--timeout",
            "60s",
        ],
    );
    run.ok();
    assert!(
        run.stdout.contains(&format!("added {current} at {owner}")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("caches expired at"), "{}", run.stdout);
    assert!(run.stdout.contains("2 × negative TTL 5s"), "{}", run.stdout);

    // Idempotent.
    let run = daneroll_with(&config, &["records", "add", host, &current, "--ttl", "5"]);
    run.ok();
    assert!(run.stdout.contains("already published"), "{}", run.stdout);

    // The last record is not removed without --allow-empty.
    let run = daneroll_with(&config, &["records", "remove", host, &current]);
    run.expect_status(2);
    assert!(
        run.stderr.contains("is the only TLSA record"),
        "{}",
        run.stderr
    );

    // Someone else's 2 1 1 stays when daneroll adds and retires its own records.
    let theirs = format!("2 1 1 {}", "AB".repeat(32));
    lab.nsupdate(
        &lab.keys.other,
        &lab.mx,
        &format!("update add {owner} 5 TLSA {theirs}"),
    )
    .unwrap();
    daneroll_with(&config, &["records", "add", host, &next, "--ttl", "5"]).ok();
    // Nothing listens on the host's port 25 in this test: what it presents cannot be verified,
    // so the removal is refused without --force (issue #13 item 5).
    let run = daneroll_with(&config, &["records", "remove", host, &current]);
    run.expect_status(1);
    assert!(run.stderr.contains("could not be probed"), "{}", run.stderr);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    let run = daneroll_with(
        &config,
        &[
            "records",
            "remove",
            host,
            &current,
            "--force",
            "--wait",
            "--timeout",
            "60s",
        ],
    );
    run.ok();
    assert!(
        run.stdout.contains(&format!("removed {current}")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("absent at every authoritative address"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("2 × old RRset TTL 5s"),
        "{}",
        run.stdout
    );
    let served = lab.dig_short(lab.mx.primary(), &owner, "TLSA").join("\n");
    assert!(served.contains("2 1 1 ABAB"), "{served}");
    assert!(served.contains("3 1 1 9999"), "{served}");
    assert!(!served.contains("3 1 1 8888"), "{served}");

    // Removing what is gone succeeds without change.
    let run = daneroll_with(&config, &["records", "remove", host, &current]);
    run.ok();
    assert!(run.stdout.contains("not published"), "{}", run.stdout);
}

#[test]
fn add_refuses_a_zone_without_ds_and_names_the_link() {
    let lab = Lab::start();
    let dir = Dir::new();
    let config = config(&lab, &dir);
    let run = daneroll_with(
        &config,
        &["records", "add", &lab.nods.host, &record(0x12).to_string()],
    );
    run.expect_status(4);
    assert!(
        run.stderr
            .contains("refusing to publish TLSA records at _25._tcp.mail.nods.example."),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("its parent example. has no DS record"),
        "{}",
        run.stderr
    );
    // …and says what to do at this DNS host (here a primary reached by RFC 2136).
    assert!(
        run.stderr.contains("DNSSEC at RFC 2136") && run.stderr.contains("dnssec-policy"),
        "{}",
        run.stderr
    );
    assert!(
        lab.dig_short(lab.nods.primary(), &lab.nods.tlsa_owner(25), "TLSA")
            .is_empty()
    );

    let run = daneroll_with(
        &config,
        &[
            "records",
            "add",
            "unknown.mx.example",
            &record(0x12).to_string(),
        ],
    );
    run.expect_status(2);
    assert!(
        run.stderr.contains("host unknown.mx.example is not in"),
        "{}",
        run.stderr
    );
}

/// #13: `records add` without `--ttl` creates the RRset with the host's configured `ttl` (it
/// used its own default of 3600 s whatever the config said).
#[test]
fn add_takes_the_hosts_configured_ttl() {
    let lab = Lab::start();
    let dir = Dir::new();
    let text = std::fs::read_to_string(config(&lab, &dir)).unwrap();
    let with_ttl = text.replacen(
        "dns = \"lab\"\nmail_domains",
        "dns = \"lab\"\nttl = 7\nmail_domains",
        1,
    );
    assert_ne!(text, with_ttl);
    let config = dir.write("daneroll.toml", with_ttl);
    let host = lab.mx.host.as_str();
    let owner = lab.mx.tlsa_owner(25);
    let added = record(0x77).to_string();
    daneroll_with(&config, &["records", "add", host, &added]).ok();
    let primary = lab.mx.primary();
    let dig = crate::util::run_tool(
        "dig",
        &[
            "+noall",
            "+answer",
            "+norec",
            &format!("@{}", primary.ip()),
            "-p",
            &primary.port().to_string(),
            &owner,
            "TLSA",
        ],
    );
    let ttls: Vec<&str> = dig
        .stdout
        .lines()
        .filter(|l| l.contains("TLSA"))
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(ttls, ["7"], "{}", dig.stdout);
}
