//! `daneroll tlsa`: print the TLSA records for certificates, chains, keys, public keys and CSRs.
//!
//! Every file is processed even when an earlier one is bad; each bad one gets one line on stderr
//! naming it and the problem, and the exit status is then 2 (BAD_INPUT). Usages 0 and 1 are
//! refused for SMTP (RFC 7672 §3.1.3: SMTP clients do not use PKIX, so such records are never
//! matched and only make the RRset look broken).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, value_parser};
use daneroll_providers::{Tlsa, tlsa_owner};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

use crate::exit;
use crate::output::write_stdout;
use crate::pki::{self, Item, Source};

mod starttls;

/// Arguments of `daneroll tlsa`.
#[derive(Debug, Args)]
pub struct TlsaArgs {
    /// Certificate, chain, private key, public key or CSR files, PEM or DER (detected);
    /// `-` reads stdin.
    #[arg(required_unless_present = "starttls", value_name = "FILE")]
    files: Vec<PathBuf>,

    #[command(flatten)]
    server: starttls::ServerArgs,

    /// Certificate usage: 3 DANE-EE (the leaf), 2 DANE-TA (each CA certificate after the leaf).
    /// Several may be given: --usage 2,3.
    #[arg(long, value_delimiter = ',', default_value = "3", value_parser = value_parser!(u8).range(0..=3))]
    usage: Vec<u8>,

    /// Selector: 1 the public key (SPKI), 0 the whole certificate.
    #[arg(long, value_delimiter = ',', default_value = "1", value_parser = value_parser!(u8).range(0..=1))]
    selector: Vec<u8>,

    /// Matching type: 1 SHA-256, 2 SHA-512, 0 the data itself. Several may be given: --mtype 1,2.
    #[arg(long, value_delimiter = ',', default_value = "1", value_parser = value_parser!(u8).range(0..=2))]
    mtype: Vec<u8>,

    #[command(flatten)]
    owner: OwnerArgs,

    /// Print one JSON object per record (file, kind, usage, selector, mtype, data, and the
    /// certificate's subject and not-after where there is one).
    #[arg(long)]
    json: bool,

    /// Allow usages 0 (PKIX-TA) and 1 (PKIX-EE) on ports other than 25; SMTP never uses them
    /// (RFC 7672 §3.1.3).
    #[arg(long)]
    allow_pkix_usages: bool,
}

/// Where records go in a zone file: `--name`, `--port`, `--ttl` (shared with `keygen`).
#[derive(Debug, Clone, Args)]
pub struct OwnerArgs {
    /// Print zone-file lines for this host: `_25._tcp.HOST. [TTL] IN TLSA …`.
    #[arg(long, value_name = "HOST")]
    name: Option<String>,

    /// The TCP port of the service (25 for SMTP).
    #[arg(long, default_value_t = 25)]
    port: u16,

    /// A TTL column for the zone-file lines (needs --name).
    #[arg(long, requires = "name")]
    ttl: Option<u32>,
}

/// How records are printed, validated from [`OwnerArgs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    owner: Option<String>,
    port: u16,
    ttl: Option<u32>,
}

impl OwnerArgs {
    /// Checks `--name`.
    pub fn validate(&self) -> Result<Owner, String> {
        let owner = match &self.name {
            Some(name) => Some(tlsa_owner(&check_host_name(name)?, self.port)),
            None => None,
        };
        Ok(Owner {
            owner,
            port: self.port,
            ttl: self.ttl,
        })
    }
}

impl Owner {
    /// The port the records are for.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `3 1 1 HEX`, or with `--name` the zone-file line `_25._tcp.HOST. [TTL] IN TLSA 3 1 1 HEX`.
    pub fn line(&self, record: &Tlsa) -> String {
        match (&self.owner, self.ttl) {
            (Some(owner), Some(ttl)) => format!("{owner} {ttl} IN TLSA {record}"),
            (Some(owner), None) => format!("{owner} IN TLSA {record}"),
            (None, _) => record.to_string(),
        }
    }
}

/// A host name as given on the command line (ASCII, LDH labels; a trailing dot is allowed).
pub fn check_host_name(name: &str) -> Result<String, String> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    let bad = |why: &str| Err(format!("{name:?} is not a host name: {why}"));
    if trimmed.is_empty() {
        return bad("it is empty");
    }
    // A Unicode name (U-labels) is used in its A-label form (UTS #46, RFC 5890).
    let converted;
    let trimmed = if trimmed.is_ascii() {
        trimmed
    } else {
        match idna::domain_to_ascii(trimmed) {
            Ok(ascii) => {
                converted = ascii;
                converted.as_str()
            }
            Err(_) => return bad("not a valid internationalised name (IDNA, UTS #46)"),
        }
    };
    if trimmed.len() > 253 {
        return bad("longer than 253 characters");
    }
    for label in trimmed.split('.') {
        if label.is_empty() || label.len() > 63 {
            return bad("each label must be 1 to 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            || label.starts_with('-')
            || label.ends_with('-')
        {
            return bad("labels are letters, digits and inner hyphens");
        }
    }
    Ok(trimmed.to_ascii_lowercase())
}

/// One record in `--json` output.
#[derive(Debug, Serialize)]
struct JsonRecord<'a> {
    file: String,
    kind: &'static str,
    usage: u8,
    selector: u8,
    mtype: u8,
    data: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    not_after: Option<String>,
}

/// The validated settings.
pub(crate) struct Settings {
    usages: Vec<u8>,
    selectors: Vec<u8>,
    mtypes: Vec<u8>,
    owner: Owner,
    json: bool,
}

impl TlsaArgs {
    fn validate(&self) -> Result<Settings, String> {
        let mut owner_args = self.owner.clone();
        if let Some(port) = self.server.port()? {
            if owner_args.port != 25 && owner_args.port != port {
                return Err(format!(
                    "--port {} disagrees with the port in --starttls ({port})",
                    owner_args.port
                ));
            }
            owner_args.port = port;
        }
        let owner = owner_args.validate()?;
        let usages = dedup(&self.usage);
        if let Some(pkix) = usages.iter().find(|u| **u < 2) {
            let why = format!(
                "usage {pkix} ({}) is never used by SMTP clients (RFC 7672 §3.1.3): use 3 (DANE-EE) \
                 or 2 (DANE-TA)",
                if *pkix == 0 { "PKIX-TA" } else { "PKIX-EE" }
            );
            if !self.allow_pkix_usages {
                return Err(format!(
                    "{why}; for a service other than SMTP add --allow-pkix-usages and its --port"
                ));
            }
            if owner.port() == 25 {
                return Err(format!(
                    "{why}; --allow-pkix-usages is for other ports, and port 25 is SMTP"
                ));
            }
        }
        Ok(Settings {
            usages,
            selectors: dedup(&self.selector),
            mtypes: dedup(&self.mtype),
            owner,
            json: self.json,
        })
    }
}

fn dedup(values: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        if !out.contains(v) {
            out.push(*v);
        }
    }
    out
}

/// Runs `daneroll tlsa`.
pub fn run(args: TlsaArgs, config_flag: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let settings = match args.validate() {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("daneroll tlsa: {message}");
            return Ok(exit::code(exit::BAD_INPUT));
        }
    };
    if args.server.starttls.is_some() {
        return starttls::run(&args.server, settings, config_flag);
    }
    let mut status = exit::OK;
    for file in &args.files {
        let source = Source::from_arg(file);
        let items = match pki::read_items_noting(&source) {
            Ok(parsed) => {
                for place in &parsed.skipped_encrypted {
                    eprintln!(
                        "daneroll tlsa: {source}: skipped {place}: an encrypted private key \
                         (the records come from the other items)"
                    );
                }
                parsed.items
            }
            Err(error) => {
                eprintln!("daneroll tlsa: {error}");
                status = exit::BAD_INPUT;
                continue;
            }
        };
        let (text, problems) = records_for(&source, &items, &settings)?;
        for problem in &problems {
            eprintln!("daneroll tlsa: {source}: {problem}");
            status = exit::BAD_INPUT;
        }
        if !write_stdout(&text)? {
            break; // the reader went away (`| head`): not an error
        }
    }
    Ok(exit::code(status))
}

/// The output for one file, and the problems (each reported once) that kept records from it.
fn records_for(
    source: &dyn std::fmt::Display,
    items: &[Item],
    settings: &Settings,
) -> anyhow::Result<(String, Vec<String>)> {
    let mut text = String::new();
    let mut problems: Vec<String> = Vec::new();
    let mut problem = |message: String| {
        if !problems.contains(&message) {
            problems.push(message);
        }
    };
    for &usage in &settings.usages {
        let subjects = match pki::subjects(items, usage) {
            Ok(subjects) => subjects,
            Err(e) => {
                problem(e.to_string());
                continue;
            }
        };
        for &selector in &settings.selectors {
            for &mtype in &settings.mtypes {
                for item in &subjects {
                    match pki::tlsa_for(item, usage, selector, mtype) {
                        Ok(record) if settings.json => {
                            let line = json_line(source, item, &record, &settings.owner)?;
                            text.push_str(&line);
                            text.push('\n');
                        }
                        Ok(record) => {
                            // invariant: writing to a String cannot fail.
                            writeln!(text, "{}", settings.owner.line(&record))
                                .expect("write to String");
                        }
                        Err(e) => problem(e.to_string()),
                    }
                }
            }
        }
    }
    Ok((text, problems))
}

fn json_line(
    source: &dyn std::fmt::Display,
    item: &Item,
    record: &Tlsa,
    owner: &Owner,
) -> anyhow::Result<String> {
    let not_after = match item.certificate() {
        Some(cert) => Some(cert.not_after().format(&Rfc3339)?),
        None => None,
    };
    let json = JsonRecord {
        file: source.to_string(),
        kind: item.kind().name(),
        usage: record.usage,
        selector: record.selector,
        mtype: record.mtype,
        data: record.data_hex(),
        name: owner.owner.as_deref(),
        ttl: owner.owner.as_ref().and(owner.ttl),
        subject: item.subject(),
        not_after,
    };
    Ok(serde_json::to_string(&json)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Tlsa {
        Tlsa::new(3, 1, 1, vec![0xAB; 32])
    }

    #[test]
    fn zone_lines_with_and_without_ttl() {
        let args = OwnerArgs {
            name: Some("Mail.Example.com.".into()),
            port: 25,
            ttl: Some(3600),
        };
        let hex = "AB".repeat(32);
        let owner = args.validate().unwrap();
        assert_eq!(
            owner.line(&record()),
            format!("_25._tcp.mail.example.com. 3600 IN TLSA 3 1 1 {hex}")
        );
        let owner = OwnerArgs { ttl: None, ..args }.validate().unwrap();
        assert_eq!(
            owner.line(&record()),
            format!("_25._tcp.mail.example.com. IN TLSA 3 1 1 {hex}")
        );
    }

    /// #13: Unicode host names are accepted in their A-label form.
    #[test]
    fn unicode_host_names_become_a_labels() {
        assert_eq!(
            check_host_name("mäil.example").unwrap(),
            "xn--mil-qla.example"
        );
        assert_eq!(
            check_host_name("MX.Bücher.example.").unwrap(),
            "mx.xn--bcher-kva.example"
        );
        assert_eq!(
            crate::config::normalize_host("MX.Bücher.Example."),
            "mx.xn--bcher-kva.example"
        );
    }

    #[test]
    fn host_names_are_checked() {
        assert_eq!(
            check_host_name("mx1.example.org").unwrap(),
            "mx1.example.org"
        );
        for bad in [
            "",
            ".",
            "a..b",
            "-a.example",
            "a b.example",
            &"a".repeat(64),
        ] {
            assert!(check_host_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn values_keep_their_order_without_repeats() {
        assert_eq!(dedup(&[3, 2, 3, 2]), [3, 2]);
    }
}
