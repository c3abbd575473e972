//! `daneroll keygen`: the key file is 0600 and never overwritten, the CSR verifies with OpenSSL,
//! and the printed record is what `daneroll tlsa` and OpenSSL compute for the key, the CSR and a
//! certificate made from the key afterwards.

use std::os::unix::fs::PermissionsExt;

use crate::util::{Dir, run as exec, run_tool};

fn path(dir: &Dir, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_string()
}

/// The `3 1 1` record OpenSSL computes for a certificate's public key.
fn openssl_3_1_1(cert: &str) -> String {
    let script = format!(
        "openssl x509 -in {cert} -pubkey -noout | openssl pkey -pubin -outform DER | \
         openssl dgst -sha256 -r | cut -d' ' -f1"
    );
    let run = run_tool("bash", &["-c", &format!("set -o pipefail; {script}")]);
    run.ok();
    format!("3 1 1 {}", run.stdout.trim().to_uppercase())
}

fn tlsa_of(file: &str) -> String {
    let run = exec(&["tlsa", file]);
    run.ok();
    run.stdout.trim().to_string()
}

#[test]
fn key_csr_and_later_certificate_all_match_the_printed_record() {
    for key_type in ["ecdsa-p256", "ecdsa-p384", "rsa-2048"] {
        let dir = Dir::new();
        let (key, csr, cert) = (
            path(&dir, "next.key"),
            path(&dir, "next.csr"),
            path(&dir, "cert.pem"),
        );
        let run = exec(&[
            "keygen",
            "--type",
            key_type,
            "--out",
            &key,
            "--csr",
            &csr,
            "--domain",
            "mail.example.com",
            "--domain",
            "mx2.example.com",
        ]);
        run.ok();
        let printed = run.stdout.trim().to_string();
        assert!(
            printed.starts_with("3 1 1 ") && printed.len() == 6 + 64,
            "{printed}"
        );

        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{key_type} key mode");
        let head = std::fs::read_to_string(&key).unwrap();
        assert!(
            head.starts_with("-----BEGIN PRIVATE KEY-----\n"),
            "{key_type}: not PKCS#8 PEM"
        );

        let verify = run_tool("openssl", &["req", "-verify", "-noout", "-in", &csr]);
        verify.ok();
        assert!(verify.stderr.contains("verify OK") || verify.stdout.contains("verify OK"));
        let text = run_tool("openssl", &["req", "-noout", "-text", "-in", &csr]);
        text.ok();
        assert!(
            text.stdout.contains("CN = mail.example.com"),
            "{}",
            text.stdout
        );
        assert!(
            text.stdout
                .contains("DNS:mail.example.com, DNS:mx2.example.com"),
            "{}",
            text.stdout
        );

        // OpenSSL reads the key and makes a certificate from it later, as a CA would.
        run_tool("openssl", &["pkey", "-in", &key, "-noout", "-check"]).ok();
        run_tool(
            "openssl",
            &[
                "req",
                "-x509",
                "-key",
                &key,
                "-subj",
                "/CN=mail.example.com",
                "-days",
                "2",
                "-out",
                &cert,
            ],
        )
        .ok();
        assert_eq!(tlsa_of(&key), printed, "{key_type}: daneroll tlsa KEY");
        assert_eq!(tlsa_of(&csr), printed, "{key_type}: daneroll tlsa CSR");
        assert_eq!(tlsa_of(&cert), printed, "{key_type}: daneroll tlsa CERT");
        assert_eq!(
            openssl_3_1_1(&cert),
            printed,
            "{key_type}: openssl pipeline"
        );
    }
}

#[test]
fn refuses_to_overwrite_and_leaves_files_alone() {
    let dir = Dir::new();
    let existing = dir.write("live.key", "precious\n");
    let existing = existing.to_str().unwrap();
    let run = exec(&["keygen", "--out", existing]);
    run.expect_status(2);
    assert!(
        run.stderr.contains(existing) && run.stderr.contains("already exists"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(existing).unwrap(), "precious\n");

    // An existing CSR file: nothing is written, not even the key.
    let csr = dir.write("taken.csr", "old csr\n");
    let key = path(&dir, "new.key");
    let run = exec(&[
        "keygen",
        "--out",
        &key,
        "--csr",
        csr.to_str().unwrap(),
        "--domain",
        "mail.example.com",
    ]);
    run.expect_status(2);
    assert!(run.stderr.contains("already exists"), "{}", run.stderr);
    assert!(!dir.join("new.key").exists());
    assert_eq!(std::fs::read_to_string(&csr).unwrap(), "old csr\n");
}

#[test]
fn prints_a_zone_file_line_with_name() {
    let dir = Dir::new();
    let key = path(&dir, "k.pem");
    let run = exec(&[
        "keygen",
        "--out",
        &key,
        "--name",
        "mail.example.com",
        "--ttl",
        "300",
    ]);
    run.ok();
    let line = run.stdout.trim();
    assert!(
        line.starts_with("_25._tcp.mail.example.com. 300 IN TLSA 3 1 1 "),
        "{line}"
    );
    assert!(line.ends_with(&tlsa_of(&key)[6..]));
}

#[test]
fn bad_arguments_exit_2_and_write_nothing() {
    let dir = Dir::new();
    let key = path(&dir, "k.pem");
    let missing_dir = path(&dir, "no/such/dir/k.pem");
    let cases: [(&[&str], &str); 4] = [
        (
            &["keygen", "--type", "ed25519", "--out", &key],
            "unknown key type",
        ),
        (&["keygen", "--out", &missing_dir], "cannot write it"),
        (
            &[
                "keygen",
                "--out",
                &key,
                "--csr",
                &path(&dir, "c.pem"),
                "--domain",
                "bad name",
            ],
            "not a host name",
        ),
        (
            &["keygen", "--out", &key, "--domain", "mail.example.com"],
            "--csr",
        ),
    ];
    for (args, problem) in cases {
        let run = exec(args);
        run.expect_status(2);
        assert!(run.stderr.contains(problem), "{args:?}: {}", run.stderr);
        assert!(!dir.join("k.pem").exists(), "{args:?} left a key behind");
    }
}
