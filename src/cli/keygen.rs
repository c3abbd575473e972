//! `daneroll keygen`: make the next key before it is needed, and print the `3 1 1` record to
//! publish for it (RFC 7671 §8.1: the record must be visible everywhere before the key is used).
//!
//! The key file is created with mode 0600 and never over an existing file; with `--csr` a CSR
//! for the given names is written too (all or nothing: if the CSR cannot be written, the new key
//! is removed again).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::tlsa::{OwnerArgs, check_host_name};
use crate::exit;
use crate::output::write_line;
use crate::pki::keygen::{self, KeyType, KeygenError};

/// Arguments of `daneroll keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Key type: ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072 or rsa-4096.
    #[arg(long = "type", value_name = "TYPE", default_value = "ecdsa-p256", value_parser = parse_key_type)]
    key_type: KeyType,

    /// The new private key file (PKCS#8 PEM, mode 0600); must not exist.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,

    /// Also write a CSR (PEM) for the --domain names to this file; must not exist.
    #[arg(long, value_name = "FILE", requires = "domains")]
    csr: Option<PathBuf>,

    /// A DNS name for the CSR (repeatable; the first is also the subject CN).
    #[arg(long = "domain", value_name = "NAME", requires = "csr")]
    domains: Vec<String>,

    #[command(flatten)]
    owner: OwnerArgs,
}

fn parse_key_type(value: &str) -> Result<KeyType, String> {
    value
        .parse()
        .map_err(|e: keygen::UnknownKeyType| e.to_string())
}

/// Runs `daneroll keygen`.
pub fn run(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let bad_input = |message: String| {
        eprintln!("daneroll keygen: {message}");
        Ok(exit::code(exit::BAD_INPUT))
    };
    let owner = match args.owner.validate() {
        Ok(owner) => owner,
        Err(message) => return bad_input(message),
    };
    let mut domains = Vec::with_capacity(args.domains.len());
    for domain in &args.domains {
        match check_host_name(domain) {
            Ok(domain) => domains.push(domain),
            Err(message) => return bad_input(message),
        }
    }
    // Refuse early, before spending time on a key; create_new below is what really guarantees it.
    for path in std::iter::once(&args.out).chain(&args.csr) {
        if path.symlink_metadata().is_ok() {
            return bad_input(KeygenError::Exists(path.clone()).to_string());
        }
    }
    if args.csr.as_ref() == Some(&args.out) {
        return bad_input("--out and --csr name the same file".into());
    }

    let key = match keygen::generate_key(args.key_type) {
        Ok(key) => key,
        Err(e) => {
            eprintln!("daneroll keygen: {e}");
            return Ok(exit::code(exit::FAILED));
        }
    };
    let csr = match &args.csr {
        Some(_) => match key.csr_pem(&domains) {
            Ok(pem) => Some(pem),
            Err(e) => return bad_input(e.to_string()),
        },
        None => None,
    };
    if let Err(e) = keygen::write_private_key(&args.out, &key) {
        return bad_input(e.to_string());
    }
    if let (Some(path), Some(pem)) = (&args.csr, csr)
        && let Err(e) = keygen::write_new_file(path, pem.as_bytes(), 0o644)
    {
        // All or nothing: the key was created by us a moment ago and is used nowhere yet.
        let _ = std::fs::remove_file(&args.out);
        return bad_input(format!("{e} (the new key was not kept)"));
    }
    write_line(&owner.line(&key.record()))?;
    Ok(exit::code(exit::OK))
}
