//! `daneroll tlsa` as an operator runs it: known answers from OpenSSL and GnuTLS `danetool`
//! (tests/fixtures/expected.txt, made by tests/fixtures/make-fixtures.sh), every bad input form,
//! stdin, zone-file and JSON output, and a closed pipe.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::util::{Dir, Run, repo_root, run as exec, run_in, run_tool, run_with_stdin};

/// One line of expected.txt.
struct Expected {
    file: String,
    usage: u8,
    selector: u8,
    mtype: u8,
    hex: String,
    sources: String,
}

fn expectations() -> Vec<Expected> {
    let text = std::fs::read_to_string(repo_root().join("tests/fixtures/expected.txt"))
        .expect("tests/fixtures/expected.txt (run tests/fixtures/make-fixtures.sh)");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f.len(), 6, "bad expectation line: {line}");
            Expected {
                file: fixture_path(f[0]),
                usage: f[1].parse().unwrap(),
                selector: f[2].parse().unwrap(),
                mtype: f[3].parse().unwrap(),
                hex: f[4].to_string(),
                sources: f[5].to_string(),
            }
        })
        .collect()
}

/// A path relative to the repository root, as the KAT runs pass it.
fn fixture_path(name: &str) -> String {
    if name.starts_with("examples/") {
        name.to_string()
    } else {
        format!("tests/fixtures/{name}")
    }
}

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures").join(name)
}

fn p256_record() -> String {
    let run = exec(&["tlsa", fixture("p256.pub.pem").to_str().unwrap()]);
    run.ok();
    run.stdout.trim().to_string()
}

/// Every expected record, checked with one daneroll run per (usage, selector, mtype) over all
/// files that have expectations for it.
#[test]
fn known_answers_from_openssl_and_danetool() {
    let all = expectations();
    let mut combos: BTreeMap<(u8, u8, u8), BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for e in &all {
        combos
            .entry((e.usage, e.selector, e.mtype))
            .or_default()
            .entry(e.file.clone())
            .or_default()
            .push(e.hex.clone());
    }
    // Coverage: every usage/selector/mtype combination, each confirmed by danetool where it can
    // compute it (it has no matching type 0), and every input form.
    for usage in 0..=3 {
        for selector in 0..=1 {
            for mtype in 0..=2 {
                assert!(
                    combos.contains_key(&(usage, selector, mtype)),
                    "no {usage} {selector} {mtype}"
                );
                if mtype != 0 {
                    assert!(
                        all.iter().any(|e| (e.usage, e.selector, e.mtype)
                            == (usage, selector, mtype)
                            && e.sources.contains("danetool")),
                        "no danetool answer for {usage} {selector} {mtype}"
                    );
                }
            }
        }
    }
    for form in [
        "rsa2048.cert.pem",
        "rsa2048.cert.der",
        "rsa2048.key.pem",
        "rsa2048.key.der",
        "rsa2048.pkcs1.pem",
        "rsa2048.pkcs1.der",
        "rsa2048.pkcs1-crlf.pem",
        "rsa-pss.cert.pem",
        "rsa-pss.key.pem",
        "p256.sec1.pem",
        "p256.sec1.der",
        "p384.cert.pem",
        "p521.cert.der",
        "p256c.cert.pem",
        "p256c.sec1.pem",
        "p256c.pub.der",
        "ed25519.cert.pem",
        "ed25519.key.pem",
        "ed448.cert.pem",
        "ed448.pub.pem",
        "unknown.pub.pem",
        "unknown.cert.der",
        "p256.csr.pem",
        "rsa-pss.csr.der",
        "p256.pub.pem",
        "p256.pub-text.pem",
        "p256.cert-crlf.pem",
        "chain.pem",
        "chain-crlf.pem",
        "chain-text.pem",
        "key-then-chain.pem",
        "chain-then-key.pem",
        "chain-then-key-crlf.pem",
        "ecparams-then-key.pem",
    ] {
        let path = fixture_path(form);
        assert!(
            all.iter().any(|e| e.file == path),
            "no expectation for {form}"
        );
    }

    for ((usage, selector, mtype), files) in &combos {
        let (u, s, m) = (usage.to_string(), selector.to_string(), mtype.to_string());
        let mut args = vec![
            "tlsa",
            "--json",
            "--usage",
            &u,
            "--selector",
            &s,
            "--mtype",
            &m,
        ];
        if *usage < 2 {
            args.extend(["--allow-pkix-usages", "--port", "443"]);
        }
        args.extend(files.keys().map(String::as_str));
        let run = run_in(&repo_root(), &args);
        run.ok();
        let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in run.lines() {
            let json: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(json["usage"], *usage);
            assert_eq!(json["selector"], *selector);
            assert_eq!(json["mtype"], *mtype);
            got.entry(json["file"].as_str().unwrap().to_string())
                .or_default()
                .push(json["data"].as_str().unwrap().to_string());
        }
        for (file, hexes) in files {
            assert_eq!(
                got.get(file),
                Some(hexes),
                "{file} with {usage} {selector} {mtype}"
            );
        }
        assert_eq!(got.len(), files.len(), "records for files not expected");
    }
}

#[test]
fn default_output_is_3_1_1_of_the_leaf() {
    let run = run_in(&repo_root(), &["tlsa", "examples/mail.example.com.pem"]);
    run.ok();
    let expected = expectations()
        .into_iter()
        .find(|e| {
            e.file == "examples/mail.example.com.pem" && (e.usage, e.selector, e.mtype) == (3, 1, 1)
        })
        .unwrap();
    assert_eq!(run.stdout, format!("3 1 1 {}\n", expected.hex));
}

#[test]
fn zone_file_lines_with_name_port_and_ttl() {
    let chain = fixture("chain.pem");
    let chain = chain.to_str().unwrap();
    let run = exec(&[
        "tlsa",
        "--usage",
        "3,2",
        "--mtype",
        "1,2",
        "--name",
        "mail.example.com",
        chain,
    ]);
    run.ok();
    let lines = run.lines();
    assert_eq!(lines.len(), 2 + 4, "{lines:?}");
    assert!(lines[0].starts_with("_25._tcp.mail.example.com. IN TLSA 3 1 1 "));
    assert!(lines[1].starts_with("_25._tcp.mail.example.com. IN TLSA 3 1 2 "));
    assert!(lines[2].starts_with("_25._tcp.mail.example.com. IN TLSA 2 1 1 "));
    assert!(lines[4].starts_with("_25._tcp.mail.example.com. IN TLSA 2 1 2 "));

    let run = exec(&[
        "tlsa",
        "--name",
        "mx1.example.org.",
        "--port",
        "465",
        "--ttl",
        "300",
        chain,
    ]);
    run.ok();
    assert!(
        run.stdout
            .starts_with("_465._tcp.mx1.example.org. 300 IN TLSA 3 1 1 "),
        "{}",
        run.stdout
    );

    let run = exec(&["tlsa", "--name", "bad name", chain]);
    run.expect_status(2);
    assert!(
        run.stderr.contains("\"bad name\" is not a host name"),
        "{}",
        run.stderr
    );
    let run = exec(&["tlsa", "--ttl", "300", chain]);
    run.expect_status(2);
}

#[test]
fn json_carries_subject_and_not_after_from_the_certificate() {
    let leaf = fixture("leaf.pem");
    let leaf = leaf.to_str().unwrap();
    let run = exec(&[
        "tlsa",
        "--json",
        "--name",
        "mail.example.com",
        "--ttl",
        "60",
        leaf,
    ]);
    run.ok();
    let json: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let openssl = run_tool(
        "openssl",
        &[
            "x509", "-in", leaf, "-noout", "-enddate", "-dateopt", "iso_8601",
        ],
    );
    openssl.ok();
    // "notAfter=2036-11-27 22:35:02Z" -> "2036-11-27T22:35:02Z"
    let not_after = openssl
        .stdout
        .trim()
        .trim_start_matches("notAfter=")
        .replace(' ', "T");
    assert_eq!(json["not_after"], not_after.as_str());
    assert_eq!(json["subject"], "CN=mail.example.com");
    assert_eq!(json["kind"], "certificate");
    assert_eq!(json["file"], leaf);
    assert_eq!(json["name"], "_25._tcp.mail.example.com.");
    assert_eq!(json["ttl"], 60);

    let key = fixture("p256.key.pem");
    let run = exec(&["tlsa", "--json", key.to_str().unwrap()]);
    run.ok();
    let json: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(json["kind"], "private-key");
    assert!(
        json.get("subject").is_none() && json.get("not_after").is_none(),
        "{json}"
    );
}

#[test]
fn stdin_is_read_for_dash() {
    let pem = std::fs::read(fixture("p256.cert.pem")).unwrap();
    let run = run_with_stdin(&["tlsa", "-"], &pem);
    run.ok();
    assert_eq!(run.stdout.trim(), p256_record());
    let der = std::fs::read(fixture("p256.key.der")).unwrap();
    let run = run_with_stdin(&["tlsa", "--json", "-"], &der);
    run.ok();
    assert!(
        run.stdout.contains("\"file\":\"<stdin>\""),
        "{}",
        run.stdout
    );
}

#[test]
fn closed_pipe_is_not_an_error() {
    let dir = Dir::new();
    // 3000 copies of one certificate: 2999 `2 1 1` lines, far more than a pipe buffer holds.
    let cert = std::fs::read(fixture("p256.cert.pem")).unwrap();
    let big = dir.write("big.pem", cert.repeat(3000));
    let script = format!(
        "set -o pipefail; {} tlsa --usage 2 {} | head -1",
        env!("CARGO_BIN_EXE_daneroll"),
        big.display()
    );
    let run = run_tool("bash", &["-c", &script]);
    run.ok();
    assert_eq!(run.lines().len(), 1);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

/// Runs `daneroll tlsa BAD GOOD` and checks: exit 2, one stderr line naming BAD and containing
/// `problem`, no panic, and GOOD's record still printed.
fn assert_bad_input(bad: &str, problem: &str) -> Run {
    assert_bad_input_with(&[], bad, problem)
}

fn assert_bad_input_with(flags: &[&str], bad: &str, problem: &str) -> Run {
    let good = fixture("p256.pub.pem");
    let mut args = vec!["tlsa"];
    args.extend(flags);
    args.extend([bad, good.to_str().unwrap()]);
    let run = exec(&args);
    run.expect_status(2);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains(bad))
        .unwrap_or_else(|| panic!("no error naming {bad}:\n{}", run.stderr));
    assert!(line.contains(problem), "expected {problem:?} in {line:?}");
    assert!(
        run.stdout.contains(&p256_record()[6..]),
        "good file not processed: {}",
        run.stdout
    );
    run
}

fn cert_pem() -> String {
    std::fs::read_to_string(fixture("p256.cert.pem")).unwrap()
}

#[test]
fn bad_empty_file() {
    let dir = Dir::new();
    assert_bad_input(dir.write("empty.pem", "").to_str().unwrap(), "is empty");
    assert_bad_input(
        dir.write("blank.pem", "\n \r\n").to_str().unwrap(),
        "is empty",
    );
}

#[test]
fn bad_garbage() {
    let dir = Dir::new();
    let text = dir.write("notes.txt", "this is not a certificate\n");
    assert_bad_input(text.to_str().unwrap(), "neither PEM");
    let binary = dir.write("random.bin", [0xFFu8, 0x13, 0x00, 0x42, 0x99]);
    assert_bad_input(binary.to_str().unwrap(), "neither PEM");
    let sequence = dir.write("seq.der", [0x30u8, 0x03, 0x02, 0x01, 0x05]);
    assert_bad_input(
        sequence.to_str().unwrap(),
        "not a certificate, CSR, public key or private key",
    );
}

#[test]
fn bad_truncated_pem() {
    let dir = Dir::new();
    let pem = cert_pem();
    let cut = dir.write("cut.pem", &pem[..pem.len() / 2]);
    assert_bad_input(
        cut.to_str().unwrap(),
        "CERTIFICATE block at line 1 has no matching END line",
    );
    // The body cut short but the END line kept: the DER inside is truncated.
    let lines: Vec<&str> = pem.lines().collect();
    let short = format!("{}\n{}\n{}\n", lines[0], lines[1], lines[lines.len() - 1]);
    let short = dir.write("short.pem", short);
    assert_bad_input(short.to_str().unwrap(), "is truncated");
    let headless = dir.write("headless.pem", lines[3..].join("\n"));
    assert_bad_input(headless.to_str().unwrap(), "has no BEGIN line");
}

#[test]
fn bad_truncated_der() {
    let dir = Dir::new();
    let der = std::fs::read(fixture("p256.cert.der")).unwrap();
    let cut = dir.write("cut.der", &der[..der.len() - 10]);
    assert_bad_input(cut.to_str().unwrap(), "the DER data is truncated");
}

#[test]
fn bad_base64() {
    let dir = Dir::new();
    let pem = cert_pem().replacen("MII", "MI*", 1);
    let bad = dir.write("bad64.pem", pem);
    assert_bad_input(
        bad.to_str().unwrap(),
        "CERTIFICATE block at line 1 is not valid base64",
    );
}

#[test]
fn bad_label_not_matching_content() {
    let dir = Dir::new();
    let key_as_cert = std::fs::read_to_string(fixture("p256.key.pem"))
        .unwrap()
        .replace("PRIVATE KEY", "CERTIFICATE");
    let bad = dir.write("mislabelled.pem", &key_as_cert);
    let run = assert_bad_input(
        bad.to_str().unwrap(),
        "holds a PKCS#8 private key, not what its label says",
    );
    assert!(
        !run.stderr.contains(key_as_cert.lines().nth(1).unwrap()),
        "key material in error"
    );
    let cert_as_key = cert_pem().replace("CERTIFICATE", "PUBLIC KEY");
    let bad = dir.write("cert-as-pubkey.pem", cert_as_key);
    assert_bad_input(
        bad.to_str().unwrap(),
        "holds a certificate, not what its label says",
    );
    let mismatched_end = cert_pem().replace("END CERTIFICATE", "END PUBLIC KEY");
    let bad = dir.write("mismatched-end.pem", mismatched_end);
    assert_bad_input(bad.to_str().unwrap(), "ends with an END PUBLIC KEY line");
}

#[test]
fn bad_der_with_trailing_data() {
    let dir = Dir::new();
    let mut der = std::fs::read(fixture("p256.cert.der")).unwrap();
    der.extend_from_slice(b"\0\0junk");
    let bad = dir.write("trailing.der", der);
    assert_bad_input(
        bad.to_str().unwrap(),
        "6 bytes of trailing data after a certificate",
    );
}

#[test]
fn bad_encrypted_private_keys_say_how_to_decrypt() {
    for name in [
        "encrypted-pkcs8.pem",
        "encrypted-pkcs1.pem",
        "encrypted-pkcs8.der",
    ] {
        let path = fixture(name);
        let path = path.to_str().unwrap();
        let run = assert_bad_input(path, "is an encrypted private key");
        assert!(
            run.stderr
                .contains(&format!("openssl pkey -in {path} -out plain.pem")),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn bad_directory() {
    let dir = Dir::new();
    assert_bad_input(dir.path().to_str().unwrap(), "is a directory");
}

#[test]
fn bad_missing_file_and_dangling_symlink() {
    let dir = Dir::new();
    assert_bad_input(dir.join("nope.pem").to_str().unwrap(), "no such file");
    let link = dir.join("dangling.pem");
    std::os::unix::fs::symlink(dir.join("gone.pem"), &link).unwrap();
    assert_bad_input(link.to_str().unwrap(), "dangling symlink");
}

#[test]
fn bad_unreadable_file() {
    // Tests run as root, which reads any mode-000 file; /proc/self/mem fails to read at offset
    // 0 for everyone (EIO), which is the same code path: open succeeds, read fails.
    assert_bad_input("/proc/self/mem", "cannot read it");
}

#[test]
fn bad_symlink_loop() {
    let dir = Dir::new();
    let (a, b) = (dir.join("a.pem"), dir.join("b.pem"));
    std::os::unix::fs::symlink(&b, &a).unwrap();
    std::os::unix::fs::symlink(&a, &b).unwrap();
    assert_bad_input(a.to_str().unwrap(), "symlink loop");
}

#[test]
fn bad_empty_stdin() {
    let run = run_with_stdin(&["tlsa", "-"], b"");
    run.expect_status(2);
    assert!(run.stderr.contains("<stdin>: is empty"), "{}", run.stderr);
}

#[test]
fn bad_no_usable_block() {
    let dir = Dir::new();
    let params = run_tool("openssl", &["ecparam", "-name", "prime256v1"]);
    params.ok();
    let bad = dir.write("params.pem", &params.stdout);
    assert_bad_input(
        bad.to_str().unwrap(),
        "no certificate, private key, public key or CSR (PEM blocks found: EC PARAMETERS)",
    );
}

#[test]
fn bad_ed448_private_key_points_to_the_public_key() {
    let path = fixture("ed448.key.pem");
    assert_bad_input(
        path.to_str().unwrap(),
        "cannot compute the public key of an Ed448 private key",
    );
}

#[test]
fn bad_key_not_matching_the_certificate() {
    let dir = Dir::new();
    let mixed = [
        std::fs::read_to_string(fixture("chain.pem")).unwrap(),
        std::fs::read_to_string(fixture("p384.key.pem")).unwrap(),
    ]
    .concat();
    let bad = dir.write("mixed.pem", mixed);
    assert_bad_input(
        bad.to_str().unwrap(),
        "does not match the first certificate's public key",
    );
    let lone = [
        cert_pem(),
        std::fs::read_to_string(fixture("p256.key.pem")).unwrap(),
    ]
    .concat();
    let bad = dir.write("lone.pem", lone);
    assert_bad_input_with(
        &["--usage", "2"],
        bad.to_str().unwrap(),
        "usage 2 (DANE-TA) needs a CA certificate",
    );
}

#[test]
fn bad_selector_0_on_keys_and_csrs() {
    for name in ["p256.key.pem", "p256.csr.der"] {
        let path = fixture(name);
        let path = path.to_str().unwrap();
        let cert = fixture("p256.cert.pem");
        let run = exec(&["tlsa", "--selector", "0", path, cert.to_str().unwrap()]);
        run.expect_status(2);
        assert!(
            run.stderr.contains(path)
                && run.stderr.contains("selector 0 hashes a whole certificate"),
            "{}",
            run.stderr
        );
        assert_eq!(
            run.lines().len(),
            1,
            "the certificate's 3 0 1 record: {}",
            run.stdout
        );
        assert!(run.stdout.starts_with("3 0 1 "));
    }
}

#[test]
fn pkix_usages_are_refused_for_smtp() {
    let cert = fixture("p256.cert.pem");
    let cert = cert.to_str().unwrap();
    for usage in ["0", "1", "1,3"] {
        let run = exec(&["tlsa", "--usage", usage, cert]);
        run.expect_status(2);
        assert!(run.stderr.contains("RFC 7672 §3.1.3"), "{}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    let run = exec(&["tlsa", "--usage", "1", "--allow-pkix-usages", cert]);
    run.expect_status(2);
    assert!(run.stderr.contains("port 25 is SMTP"), "{}", run.stderr);
    let run = exec(&[
        "tlsa",
        "--usage",
        "1",
        "--allow-pkix-usages",
        "--port",
        "443",
        cert,
    ]);
    run.ok();
    assert!(run.stdout.starts_with("1 1 1 "));
}

#[test]
fn out_of_range_values_are_usage_errors() {
    let cert = fixture("p256.cert.pem");
    for args in [["--usage", "4"], ["--selector", "2"], ["--mtype", "3"]] {
        let run = exec(&["tlsa", args[0], args[1], cert.to_str().unwrap()]);
        run.expect_status(2);
    }
}

/// #13: input that OpenSSL and GnuTLS accept: a PEM file starting with a UTF-8 byte-order mark.
#[test]
fn a_pem_file_with_a_byte_order_mark_is_read() {
    let dir = Dir::new();
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(std::fs::read(fixture("p256.pub.pem")).unwrap());
    let path = dir.write("bom.pem", bytes);
    let run = exec(&["tlsa", path.to_str().unwrap()]);
    run.ok();
    assert_eq!(run.stdout.trim(), p256_record());
}

/// #13: GnuTLS `certtool` writes a SEC1 EC key's private scalar with a leading zero byte when
/// its top bit is set (33 bytes for P-256); OpenSSL reads it, so daneroll must too.
#[test]
fn a_certtool_ec_key_with_a_leading_zero_in_its_scalar_is_read() {
    let dir = Dir::new();
    let key = dir.join("certtool.pem");
    let key = key.to_str().unwrap();
    // Half of the keys have the top bit set: 40 tries miss one with odds 2^-40.
    let found = (0..40).any(|_| {
        run_tool(
            "certtool",
            &[
                "--generate-privkey",
                "--key-type",
                "ecdsa",
                "--curve",
                "secp256r1",
                "--outfile",
                key,
            ],
        )
        .ok();
        // certtool writes text before the PEM block; asn1parse wants the block alone.
        let text = std::fs::read_to_string(key).unwrap_or_default();
        let block = text.find("-----BEGIN").map_or("", |at| &text[at..]);
        let block_file = dir.write("block.pem", block);
        let parsed = run_tool(
            "openssl",
            &["asn1parse", "-in", block_file.to_str().unwrap()],
        );
        parsed
            .stdout
            .lines()
            .any(|l| l.contains("l=  33 prim: OCTET STRING"))
    });
    assert!(found, "certtool wrote no key with a 33-byte scalar");
    let public = dir.join("public.pem");
    run_tool(
        "openssl",
        &[
            "pkey",
            "-in",
            key,
            "-pubout",
            "-out",
            public.to_str().unwrap(),
        ],
    )
    .ok();
    let expected = exec(&["tlsa", public.to_str().unwrap()]);
    expected.ok();
    let run = exec(&["tlsa", key]);
    run.ok();
    assert_eq!(run.stdout, expected.stdout, "{}", run.stderr);
}

/// #13: a combined file whose encrypted private key comes before the certificate: the
/// certificate's record is printed and the operator told that the key was skipped.
#[test]
fn an_encrypted_key_before_the_certificate_is_skipped_with_a_note() {
    let dir = Dir::new();
    let mut bytes = std::fs::read(fixture("encrypted-pkcs8.pem")).unwrap();
    bytes.extend(std::fs::read(fixture("p256.cert.pem")).unwrap());
    let path = dir.write("combined.pem", bytes);
    let run = exec(&["tlsa", path.to_str().unwrap()]);
    run.ok();
    let expected = exec(&["tlsa", fixture("p256.cert.pem").to_str().unwrap()]);
    assert_eq!(run.stdout, expected.stdout);
    assert!(
        run.stderr.contains("skipped") && run.stderr.contains("encrypted private key"),
        "{}",
        run.stderr
    );
}
