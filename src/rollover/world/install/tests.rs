use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn separate(dir: &Path) -> Deploy {
    Deploy {
        files: DeployFiles::Separate {
            key_file: dir.join("key.pem"),
            cert_file: dir.join("cert.pem"),
        },
        reload: None,
        reload_timeout: None,
    }
}

fn key_and_cert(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("key.pem"), dir.join("cert.pem"))
}

/// #13: a DER key, or a PEM key indented inside a file, used to install an empty key file
/// (a text scan for `-----BEGIN` at the start of a line): the key is re-encoded from its DER.
#[test]
fn der_and_indented_keys_install_a_key_the_mta_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let indented = dir.path().join("indented.pem");
    let text = fs::read_to_string(fixture("p256.key.pem")).unwrap();
    let text: String = text.lines().map(|l| format!("    {l}\n")).collect();
    fs::write(&indented, text).unwrap();
    let chain = read_chain(&fixture("p256.cert.pem")).unwrap().unwrap();
    for source in [
        fixture("p256.key.der"),
        fixture("p256.sec1.der"),
        indented,
        fixture("rsa2048.pkcs1.der"),
    ] {
        let key = read_key(&source).unwrap().unwrap();
        let deploy = separate(dir.path());
        install(&deploy, &key, &chain).unwrap();
        let (key_file, _) = key_and_cert(dir.path());
        let installed = read_key(&key_file).unwrap().unwrap();
        assert_eq!(installed.record, key.record, "{}", source.display());
        let text = fs::read_to_string(&key_file).unwrap();
        assert!(
            text.starts_with("-----BEGIN "),
            "{}: {text:?}",
            source.display()
        );
        // OpenSSL (what Postfix and Exim link) reads it.
        let status = std::process::Command::new("openssl")
            .args(["pkey", "-noout", "-in"])
            .arg(&key_file)
            .status()
            .unwrap();
        assert!(status.success(), "{}", source.display());
    }
}

/// #13: installed files keep the owner, group and mode of the files they replace (Debian's
/// Exim reads its key as group Debian-exim, mode 0640); new ones are 0600 / 0644.
#[test]
fn installed_files_keep_owner_group_and_mode() {
    let dir = tempfile::tempdir().unwrap();
    let deploy = separate(dir.path());
    let (key_file, cert_file) = key_and_cert(dir.path());
    let key = read_key(&fixture("p256.key.pem")).unwrap().unwrap();
    let chain = read_chain(&fixture("p256.cert.pem")).unwrap().unwrap();
    install(&deploy, &key, &chain).unwrap();
    assert_eq!(fs::metadata(&key_file).unwrap().mode() & 0o7777, 0o600);
    assert_eq!(fs::metadata(&cert_file).unwrap().mode() & 0o7777, 0o644);

    // A group-readable key of group `mail` (gid 8 on Debian) and a cert owned by nobody.
    let group = 8;
    std::os::unix::fs::chown(&key_file, Some(0), Some(group)).unwrap();
    fs::set_permissions(&key_file, fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(&cert_file, Some(65534), Some(group)).unwrap();
    fs::set_permissions(&cert_file, fs::Permissions::from_mode(0o444)).unwrap();
    install(&deploy, &key, &chain).unwrap();
    let meta = fs::metadata(&key_file).unwrap();
    assert_eq!((meta.gid(), meta.mode() & 0o7777), (group, 0o640));
    let meta = fs::metadata(&cert_file).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (65534, group, 0o444)
    );
    assert!(!pending_path(&key_file).exists() && !pending_path(&cert_file).exists());

    // A key file readable by others keeps its group read, not the others' read.
    fs::set_permissions(&key_file, fs::Permissions::from_mode(0o644)).unwrap();
    install(&deploy, &key, &chain).unwrap();
    assert_eq!(fs::metadata(&key_file).unwrap().mode() & 0o7777, 0o640);
}

/// #13: after a crash between the two renames (new key, old certificate), the next run
/// installs the pending certificate before anything reads the files.
#[test]
fn an_install_interrupted_between_the_renames_is_finished() {
    let dir = tempfile::tempdir().unwrap();
    let deploy = separate(dir.path());
    let (key_file, cert_file) = key_and_cert(dir.path());
    let old_key = read_key(&fixture("rsa2048.key.pem")).unwrap().unwrap();
    let old_chain = read_chain(&fixture("rsa2048.cert.pem")).unwrap().unwrap();
    install(&deploy, &old_key, &old_chain).unwrap();
    let key = read_key(&fixture("p256.key.pem")).unwrap().unwrap();
    let chain = read_chain(&fixture("p256.cert.pem")).unwrap().unwrap();
    // What the crash leaves: both prepared, the key renamed, the certificate not.
    prepare(&key_file, &key.pem, Holds::Key).unwrap();
    prepare(
        &cert_file,
        certificate_pem(&chain.leaf_der).as_bytes(),
        Holds::Certificates,
    )
    .unwrap();
    commit(&key_file).unwrap();
    let mismatched = read_chain(&cert_file).unwrap().unwrap();
    assert_ne!(mismatched.leaf.record, key.record);

    assert!(finish_interrupted(&deploy).unwrap());
    let installed = read_chain(&cert_file).unwrap().unwrap();
    assert_eq!(
        installed.leaf.record,
        read_key(&key_file).unwrap().unwrap().record
    );
    assert!(!finish_interrupted(&deploy).unwrap());

    // A crash before the first rename: the old pair stays, the pending files go.
    prepare(&key_file, &old_key.pem, Holds::Key).unwrap();
    prepare(
        &cert_file,
        certificate_pem(&old_chain.leaf_der).as_bytes(),
        Holds::Certificates,
    )
    .unwrap();
    assert!(!finish_interrupted(&deploy).unwrap());
    assert!(!pending_path(&key_file).exists() && !pending_path(&cert_file).exists());
    assert_eq!(read_key(&key_file).unwrap().unwrap().record, key.record);
}
