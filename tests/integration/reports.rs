//! `daneroll reports`, `status` and `tick` over a directory of mixed TLS reports (RFC 8460) and
//! a state directory holding a recorded rollover history (`tests/fixtures/tlsrpt/`).

use std::io::Write;
use std::path::Path;

use daneroll::rollover::Rollover;
use daneroll::rollover::state::{CurrentKey, KeyOrigin, SafeKey, Stage};
use daneroll::rollover::store::{LockWait, Store};
use daneroll_providers::Tlsa;
use time::macros::datetime;

use crate::util::{Dir, repo_root, run};

const HOST: &str = "mx.demo.example";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/fixtures/tlsrpt").join(name)).unwrap()
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

/// A report mail as RFC 8460 §5.3 describes it (multipart/report, the report base64-encoded
/// as `application/tlsrpt+gzip`).
fn mail(organization: &str, report: &str) -> Vec<u8> {
    let id = serde_json::from_str::<serde_json::Value>(report).unwrap()["report-id"]
        .as_str()
        .unwrap()
        .to_string();
    let body = data_encoding::BASE64_MIME.encode(&gzip(report));
    format!(
        "From: {organization} <tlsrpt@reporter.example>\r\nTo: tlsrpt@demo.example\r\n\
         Subject: Report Domain: demo.example Submitter: reporter.example Report-ID: <{id}>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"xyz\"\r\n\r\n\
         --xyz\r\nContent-Type: text/plain\r\n\r\nTLS report from {organization}.\r\n\
         --xyz\r\nContent-Type: application/tlsrpt+gzip\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"reporter.example!demo.example!1!2!{id}.json.gz\"\r\n\r\n\
         {body}\r\n--xyz--\r\n"
    )
    .into_bytes()
}

/// Reports as they pile up in a mailbox and a download folder: plain, gzip, a single mail, a
/// maildir, an mbox, a duplicate, and two files that are not reports.
fn report_dir() -> Dir {
    let dir = Dir::new();
    dir.write(
        "downloads/google-2026-11-28.json",
        fixture("google-tlsa.json"),
    );
    dir.write("downloads/rfc.json.gz", gzip(&fixture("rfc8460.json")));
    dir.write(
        "downloads/google-again.json.gz",
        gzip(&fixture("google-tlsa.json")),
    );
    dir.write("downloads/notes.txt", "remember to check the reports\n");
    dir.write(
        "downloads/truncated.json.gz",
        &gzip(&fixture("odd-reporter.json"))[..40],
    );
    dir.write(
        "microsoft.eml",
        mail("Microsoft Corporation", &fixture("microsoft.json")),
    );
    dir.write(
        "Maildir/new/1764000000.M1P1.mx",
        mail("Google", &fixture("after-rollover.json")),
    );
    std::fs::create_dir_all(dir.join("Maildir/cur")).unwrap();
    std::fs::create_dir_all(dir.join("Maildir/tmp")).unwrap();
    let mut mbox = b"From tlsrpt@mailer.example Sun Nov 30 06:00:00 2026\n".to_vec();
    mbox.extend(mail("Example Mailer", &fixture("odd-reporter.json")));
    dir.write("archive.mbox", mbox);
    dir
}

/// A state directory with mx.demo.example in the steady state after the recorded rollover.
fn state_dir() -> Dir {
    let dir = Dir::new();
    let store = Store::open(dir.path()).unwrap();
    let lock = store.lock(HOST, LockWait::NoWait).unwrap();
    let record = |hex: &str| -> Tlsa { format!("3 1 1 {hex}").parse().unwrap() };
    let mut rollover = Rollover::new(HOST);
    rollover.stage = Stage::Ready {
        current: CurrentKey {
            record: record("B14CE4D7D8F0EDFA316A3137DBD6612B702A710B8115D1822A371E95AA225CE0"),
            live_since: datetime!(2026-11-29 02:55 UTC),
        },
        next: SafeKey {
            record: record("CB2B7382590D96E59CC1118E234A81111BA5D345DE6A9DC9E0C1F223C39791CD"),
            origin: KeyOrigin::Generated,
            safe_since: datetime!(2026-12-01 06:08 UTC),
            checked_at: datetime!(2026-12-01 06:08 UTC),
        },
    };
    store
        .save(&lock, &rollover, datetime!(2026-12-01 06:08 UTC))
        .unwrap();
    drop(lock);
    std::fs::write(
        dir.join(&format!("hosts/{HOST}/history.jsonl")),
        fixture("history-mx.demo.example.jsonl"),
    )
    .unwrap();
    dir
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn reports_summarise_mixed_files_and_mails_against_the_recorded_history() {
    let reports = report_dir();
    let state = state_dir();
    let (r, s) = (path(reports.path()), path(state.path()));
    let out = run(&["reports", &r, "--state-dir", &s]);
    out.expect_status(0);
    let text = &out.stdout;
    assert!(
        text.starts_with(
            "5 report(s) (1 duplicate(s) skipped, 2 malformed), 2016-04-01 – 2026-11-30, from 4 \
             reporter(s)\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("demo.example       mx.demo.example           tlsa    2789  19      starttls-not-supported 2, tlsa-invalid 17"),
        "{text}"
    );
    assert!(text.contains("  2026-11-29: 88 ok, 7 failed"), "{text}");
    assert!(
        text.contains(
            "  mx.demo.example: 12 tlsa-invalid from 1 reporter (Microsoft Corporation) between \
             the publication of 3 1 1 B14CE4D7… and its swap\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "  mx.demo.example: 5 tlsa-invalid, 2 starttls-not-supported from 1 reporter (Example \
             Mailer) in a report window that spans the swap to 3 1 1 B14CE4D7…"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "  mx.demo.example: 17 tlsa-invalid, 2 starttls-not-supported across the last rollover"
        ),
        "{text}"
    );
    // Malformed files are named with their problem.
    assert!(
        text.contains("/downloads/notes.txt: neither a TLS report"),
        "{text}"
    );
    assert!(
        text.contains("/downloads/truncated.json.gz: not valid gzip"),
        "{text}"
    );

    let out = run(&["reports", &r, "--state-dir", &s, "--json"]);
    out.expect_status(0);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["reports"], 5);
    assert_eq!(json["duplicates"], 1);
    assert_eq!(json["malformed"].as_array().unwrap().len(), 2);
    assert_eq!(
        json["history"]["rollovers"][0]["failures"]["tlsa-invalid"],
        17
    );

    // Nagios: DANE failures are CRITICAL, naming host, count and reporter.
    let out = run(&["reports", &r, "--state-dir", &s, "--nagios"]);
    out.expect_status(2);
    assert!(
        out.stdout
            .starts_with("TLSRPT CRITICAL - senders failed DANE: ")
            && out
                .stdout
                .contains("12 tlsa-invalid for mx.demo.example from Microsoft Corporation")
            && out
                .stdout
                .contains("5 tlsa-invalid for mx.demo.example from Example Mailer"),
        "{}",
        out.stdout
    );
    // Only Google's clean days: OK, and a clean last rollover.
    let only = Dir::new();
    only.write("a.json", fixture("after-rollover.json"));
    only.write("b.json", fixture("google-tlsa.json"));
    let out = run(&["reports", &path(only.path()), "--state-dir", &s, "--nagios"]);
    out.expect_status(0);
    assert!(
        out.stdout
            .starts_with("TLSRPT OK - 2391 session(s) without a failure"),
        "{}",
        out.stdout
    );
    assert!(
        run(&["reports", &path(only.path()), "--state-dir", &s])
            .stdout
            .contains("mx.demo.example: 0 failures across the last rollover"),
    );

    // Bad input: a bad --since, and no path without [reports] dir.
    run(&["reports", &r, "--since", "soon"]).expect_status(2);
    run(&["reports", &r, "--nagios", "--since", "soon"]).expect_status(3);
    let empty = Dir::new();
    let config = empty.write("daneroll.toml", "");
    run(&["--config", &path(&config), "reports"]).expect_status(2);
}

#[test]
fn status_and_tick_show_the_reports_when_configured() {
    let reports = report_dir();
    let state = state_dir();
    let dir = Dir::new();
    let key = dir.write(
        "tsig.key",
        "key \"k\" { algorithm hmac-sha256; secret \"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\"; };\n",
    );
    let config = dir.write(
        "daneroll.toml",
        format!(
            "state_dir = {state:?}\n\
             [validation]\nresolver = \"127.0.0.1:53\"\n\
             [dns.lab]\ntype = \"rfc2136\"\nserver = \"127.0.0.1:53\"\ntsig_key_file = {key:?}\n\
             [[host]]\nname = \"{HOST}\"\ndns = \"lab\"\n\
             [reports]\ndir = {reports:?}\nalert_window = \"36500d\"\n",
            state = path(state.path()),
            key = path(&key),
            reports = path(reports.path()),
        ),
    );
    let config = path(&config);
    let out = run(&["--config", &config, "status"]);
    out.expect_status(0);
    assert!(
        out.stdout
            .contains("  reports   2026-11-30: 1187 ok, 0 failed (Google Inc.)\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "  ALERT     mx.demo.example: senders reported DANE failures after the swap to 3 1 1 \
             B14CE4D7… at 2026-11-29 02:55Z: 5 tlsa-invalid from Example Mailer"
        ),
        "{}",
        out.stdout
    );
    let out = run(&["--config", &config, "status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json[0]["reports"]["latest"]["sessions"]["successful"], 1187);

    // The engine: the host has no [host.deploy] (skipped), the alert makes the tick exit 4.
    let out = run(&["--config", &config, "tick", "--quiet"]);
    out.expect_status(4);
    assert!(
        out.stdout.contains("ALERT mx.demo.example: senders reported DANE failures after the swap to 3 1 1 B14CE4D7…"),
        "{}",
        out.stdout
    );
    // Without the reports configured: no alert.
    let quiet = dir.write(
        "quiet.toml",
        std::fs::read_to_string(&config)
            .unwrap()
            .split("[reports]")
            .next()
            .unwrap(),
    );
    let out = run(&["--config", &path(&quiet), "status"]);
    assert!(!out.stdout.contains("reports"), "{}", out.stdout);
    run(&["--config", &path(&quiet), "tick", "--quiet"]).expect_status(0);
}
