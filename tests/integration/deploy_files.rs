//! Installing into separate key and certificate files (#13 item 3) against a real Postfix
//! (`smtpd_tls_key_file` + `smtpd_tls_cert_file`) and the lab's BIND: daneroll killed between
//! the two renames (SIGKILL, as the engine's crash failpoint) leaves a pair that the next run
//! completes before anything else; Postfix, reloaded from the files, then presents the new key;
//! the key file keeps its group and mode (group-readable, as Debian's Exim reads it).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::{Duration, Instant};

use crate::lab::Lab;
use crate::lab::postfix::Postfix;
use crate::rollover::{Mta, Setup};
use crate::util::{Dir, Run, daneroll};

const HOST: &str = "mail.mx.example";
/// Debian's `mail` group: stands in for `Debian-exim`, which this machine may not have.
const GROUP: u32 = 8;

/// The `3 1 1` record of a key or certificate file, as `daneroll tlsa` prints it.
fn record(path: &std::path::Path) -> String {
    let run = crate::util::run(&["tlsa", path.to_str().unwrap()]);
    run.ok();
    run.stdout.trim().to_string()
}

#[test]
fn a_crash_between_the_renames_is_repaired_and_postfix_presents_the_new_pair() {
    let lab = Lab::start();
    let dir = Dir::new();
    let chain = Setup::first_certificate(&dir, HOST);
    std::fs::create_dir_all(dir.join("postfix")).unwrap();
    let key_file = dir.join("postfix/key.pem");
    let cert_file = dir.join("postfix/cert.pem");
    std::fs::copy(dir.join("first.key"), &key_file).unwrap();
    std::fs::copy(dir.join("acme/fullchain.pem"), &cert_file).unwrap();
    std::os::unix::fs::chown(&key_file, Some(0), Some(GROUP)).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o640)).unwrap();

    // Postfix reads the separate files.
    let mta_dir = Dir::new();
    let postfix =
        Postfix::try_start_many(mta_dir.path(), HOST, &[(lab.mx.host_addr, chain)], false)
            .unwrap_or_else(|e| panic!("postfix did not start: {e}"));
    let master_cf = postfix.config_dir().join("master.cf");
    let text = std::fs::read_to_string(&master_cf).unwrap();
    let chain_option = format!(
        "-o smtpd_tls_chain_files={}",
        postfix.chain_file().display()
    );
    assert!(text.contains(&chain_option), "{text}");
    let text = text.replace(
        &chain_option,
        &format!(
            "-o smtpd_tls_chain_files= -o smtpd_tls_cert_file={} -o smtpd_tls_key_file={}",
            cert_file.display(),
            key_file.display()
        ),
    );
    std::fs::write(&master_cf, text).unwrap();
    postfix.reload();
    let presented = || {
        let run = Run::from_output(
            daneroll()
                .args(["tlsa", "--starttls", HOST, "--address"])
                .arg(lab.mx.host_addr.to_string())
                .output()
                .unwrap(),
        );
        run.stdout.trim().to_string()
    };
    let first = record(&cert_file);
    assert_eq!(presented(), first);

    let mta = Mta {
        chain_file: cert_file.clone(),
        reload: vec![
            "postfix".into(),
            "-c".into(),
            postfix.config_dir().display().to_string(),
            "reload".into(),
        ],
        live_check: "files",
    };
    let setup = Setup::with_mta(&lab, dir, HOST, mta);
    let config = std::fs::read_to_string(&setup.config).unwrap();
    let combined = format!("combined_file = \"{}\"", cert_file.display());
    assert!(config.contains(&combined), "{config}");
    let config = config.replace(
        &combined,
        &format!(
            "key_file = \"{}\"\ncert_file = \"{}\"",
            key_file.display(),
            cert_file.display()
        ),
    );
    std::fs::write(&setup.config, config).unwrap();
    setup.tick_until_ready();

    // The swap, killed between the key's rename and the certificate's.
    let run = Run::from_output(
        setup
            .daneroll(&["rollover", "--host", HOST])
            .env("DANEROLL_FAILPOINT", "between_renames:1")
            .output()
            .unwrap(),
    );
    assert_eq!(
        run.status, None,
        "not killed:\n{}\n{}",
        run.stdout, run.stderr
    );
    assert!(run.stderr.contains("between_renames"), "{}", run.stderr);
    let new_key = record(&key_file);
    assert_ne!(new_key, first, "the key was renamed first");
    assert_eq!(
        record(&cert_file),
        first,
        "the certificate was not renamed yet"
    );

    // The next run repairs the pair before anything else, then finishes the rollover.
    let started = Instant::now();
    loop {
        let tick = setup.run(&["tick"]);
        assert!(
            matches!(tick.status, Some(0)),
            "{}\n{}",
            tick.stdout,
            tick.stderr
        );
        assert_eq!(record(&cert_file), new_key, "{}", tick.stderr);
        if setup.stage() == "ready" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{}",
            setup.history()
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // Postfix, reloaded from the files, accepts the pair and presents the new key.
    postfix.reload();
    assert_eq!(presented(), new_key);
    let meta = std::fs::metadata(&key_file).unwrap();
    assert_eq!((meta.gid(), meta.mode() & 0o777), (GROUP, 0o640));
}
