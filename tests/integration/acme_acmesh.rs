//! acme.sh with the rollover engine, without acme.sh itself (it is in no package registry): its
//! certificate directory `D_ecc/` laid out as acme.sh keeps it, its own renewal with
//! `--always-force-new-domain-key` done the way acme.sh's `issue()` does it (copy `D.key.next`
//! to `D.key`, make a fresh `D.key.next`, a certificate for `D.key`), and then acme.sh's
//! `_deploy`: a subshell that sources `hooks/acme.sh/daneroll.sh` and calls `daneroll_deploy`
//! with the six arguments — here with the real daneroll and the lab's real BIND.
//!
//! What it shows: daneroll keeps its next key in `D.key.next` (replacing the one acme.sh makes
//! for itself), so acme.sh's own renewal uses the pre-published key and the hook's engine pass
//! swaps at once; then `daneroll status` spots acme.sh's own key in `D.key.next` and names the
//! command that repairs it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::acme_clients::{next_key, retirements};
use crate::acme_engine::{Setup, install_first, record_of, served_everywhere, setup_in};
use crate::lab::Lab;
use crate::util::{Dir, Run, repo_root};

/// One acme.sh ECDSA certificate directory, and a CA standing in for the ACME server.
struct AcmeSh {
    home: PathBuf,
    domain: String,
}

fn openssl(args: &[&str]) {
    // invariant: openssl is installed wherever the tests run (pebble's TLS setup needs it).
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap_or_default()
}

impl AcmeSh {
    fn new(home: PathBuf, domain: &str) -> Self {
        let acmesh = Self {
            home,
            domain: domain.into(),
        };
        std::fs::create_dir_all(acmesh.dir()).unwrap();
        let (ca_key, ca) = (acmesh.home.join("ca.key"), acmesh.dir().join("ca.cer"));
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            s(&ca_key),
            "-out",
            s(&ca),
            "-days",
            "2",
            "-subj",
            "/CN=daneroll test CA",
        ]);
        acmesh
    }

    fn dir(&self) -> PathBuf {
        self.home.join(format!("{}_ecc", self.domain))
    }

    fn file(&self, suffix: &str) -> PathBuf {
        self.dir().join(format!("{}{suffix}", self.domain))
    }

    fn key(&self) -> PathBuf {
        self.file(".key")
    }

    fn next(&self) -> PathBuf {
        self.file(".key.next")
    }

    /// A fresh key, as acme.sh's `_createkey` makes one.
    fn new_key(path: &Path) {
        openssl(&[
            "ecparam",
            "-name",
            "prime256v1",
            "-noout",
            "-genkey",
            "-out",
            s(path),
        ]);
    }

    /// A certificate for `D.key` in `D.cer` and `fullchain.cer` (the ACME order).
    fn certify(&self) {
        let csr = self.file(".csr");
        openssl(&[
            "req",
            "-new",
            "-key",
            s(&self.key()),
            "-subj",
            &format!("/CN={}", self.domain),
            "-out",
            s(&csr),
        ]);
        let ext = self.home.join("ext.cnf");
        std::fs::write(&ext, format!("subjectAltName=DNS:{}\n", self.domain)).unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            s(&csr),
            "-CA",
            s(&self.dir().join("ca.cer")),
            "-CAkey",
            s(&self.home.join("ca.key")),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            s(&ext),
            "-out",
            s(&self.file(".cer")),
        ]);
        let mut chain = std::fs::read(self.file(".cer")).unwrap();
        chain.extend(std::fs::read(self.dir().join("ca.cer")).unwrap());
        std::fs::write(self.dir().join("fullchain.cer"), chain).unwrap();
    }

    /// The first issuance with `--always-force-new-domain-key`: a key, a certificate and a
    /// pre-generated next key.
    fn issue(&self) {
        Self::new_key(&self.key());
        self.certify();
        Self::new_key(&self.next());
    }

    /// acme.sh's renewal with `Le_ForceNewDomainKey=1`: "Using pre-generated key", then
    /// "Generating next pre-generate key", then the order.
    fn renew(&self) {
        std::fs::copy(self.next(), self.key()).unwrap();
        Self::new_key(&self.next());
        self.certify();
    }

    /// acme.sh's `_deploy` for the hook `daneroll`: a subshell sources the hook file and calls
    /// `daneroll_deploy` with `_cdomain _ckey _ccert _cca _cfullchain _cpfx`; acme.sh's
    /// variables are set but not exported.
    fn deploy(&self, setup: &Setup) -> Run {
        let script = format!(
            "Le_Alt='no'\nLe_Next_Domain_Key='{next}'\n\
             if ! ( . '{hook}'; daneroll_deploy \"$@\" ); then echo 'rc=failed'; else echo 'rc=0'; fi",
            next = self.next().display(),
            hook = repo_root().join("hooks/acme.sh/daneroll.sh").display()
        );
        let mut command = Command::new("sh");
        command
            .args(["-c", &script, "sh", &self.domain])
            .arg(self.key())
            .arg(self.file(".cer"))
            .arg(self.dir().join("ca.cer"))
            .arg(self.dir().join("fullchain.cer"))
            .arg("");
        setup.env(&mut command);
        Run::from_output(command.output().expect("run sh"))
    }
}

/// `daneroll status` as text and as the host's `acme` JSON object.
fn status(setup: &Setup) -> (String, Value) {
    let text = setup.run(&["status"]);
    text.ok();
    let json = setup.run(&["status", "--json"]);
    json.ok();
    let value: Value = serde_json::from_str(&json.stdout).unwrap();
    (text.stdout, value[0]["acme"].clone())
}

#[test]
fn acmesh_renewal_uses_daneroll_s_key_next_and_status_repairs_it() {
    let lab = Lab::shared();
    let dir = Dir::new();
    let d = dir.path().display().to_string();
    let source = format!("type = \"acme.sh\"\nhome = \"{d}/acme.sh\"\n");
    let setup = setup_in(dir, lab, &[], "acmesh1", "", "", &source);
    let acmesh = AcmeSh::new(setup.dir.join("acme.sh"), &setup.host);
    acmesh.issue();
    let own_next = record_of(&acmesh.next());
    let first = install_first(
        lab,
        &setup,
        &acmesh.key(),
        &acmesh.dir().join("fullchain.cer"),
    );

    // daneroll's next key replaces the one acme.sh pre-generated for itself.
    setup.tick_until_ready();
    let next = setup.next();
    assert_ne!(next, own_next);
    assert_eq!(record_of(&acmesh.next()), next);
    let (_, acme) = status(&setup);
    assert_eq!(acme["client"], "acme.sh");
    assert_eq!(acme["next_key_file"], acmesh.next().display().to_string());
    let checks = acme["checks"].as_array().unwrap();
    assert!(
        checks.len() == 2 && checks.iter().all(|c| c["verdict"] == "agrees"),
        "{acme}"
    );

    // acme.sh renews on its own and runs its deploy hook: the certificate carries the
    // pre-published key, so the hook's engine pass swaps at once and retires the old record.
    acmesh.renew();
    assert_eq!(record_of(&acmesh.file(".cer")), next);
    let run = acmesh.deploy(&setup);
    assert!(
        run.stdout.contains("rc=0"),
        "{}{}\n{}",
        run.stdout,
        run.stderr,
        setup.history()
    );
    assert_eq!(setup.deployed(), next, "{}", setup.history());
    assert_eq!(retirements(&setup), 1, "{}", setup.history());
    // The fresh key acme.sh made in D.key.next was replaced with daneroll's following key.
    let following = next_key(&setup).expect("a following next key");
    assert!(following != next && following != first);
    assert_eq!(record_of(&acmesh.next()), following);
    lab.wait_secondary_synced();
    let served = served_everywhere(lab, &setup.owner());
    assert!(
        served
            .iter()
            .all(|s| !s.contains(&first) && s.contains(&next) && s.contains(&following)),
        "{served:?}\n{}",
        setup.history()
    );

    // Something put acme.sh's own key back into D.key.next: status says so and how to repair.
    AcmeSh::new_key(&acmesh.next());
    let (text, acme) = status(&setup);
    let check = &acme["checks"][1];
    assert_eq!(check["check"], "next_key");
    assert_eq!(check["verdict"], "differs", "{acme}");
    assert_eq!(acme["checks"][0]["verdict"], "agrees", "{acme}");
    assert!(
        text.contains(&format!(
            "acme      acme.sh: next key in {} (kept there between renewals)",
            acmesh.next().display()
        )),
        "{text}"
    );
    let repair = check["repair"].as_str().unwrap().to_string();
    assert!(text.contains(&format!("repair    {repair}")), "{text}");
    Run::from_output(Command::new("sh").args(["-c", &repair]).output().unwrap()).ok();
    assert_eq!(record_of(&acmesh.next()), following);
    let (_, acme) = status(&setup);
    assert_eq!(acme["checks"][1]["verdict"], "agrees", "{acme}");
}
