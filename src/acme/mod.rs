//! ACME clients: what each one tells its deploy hook, and how to make each one request the next
//! certificate for the key daneroll pre-generated and published.
//!
//! Why this exists: RFC 7671 §8.1 wants the next key's TLSA record published "at least two TTLs"
//! before the new certificate is deployed. If the ACME client picks a fresh key at renewal, that
//! key was never published and the swap has to wait. So daneroll generates the next key early,
//! publishes it, waits until it is safe, and then puts it where the client takes its key from:
//!
//! | client     | hook convention                                   | where the next key goes |
//! |------------|---------------------------------------------------|-------------------------|
//! | certbot    | env `RENEWED_LINEAGE`, `RENEWED_DOMAINS`          | the file `live/NAME/privkey.pem` points to, then `renew --reuse-key --force-renewal` |
//! | acme.sh    | `NAME_deploy _cdomain _ckey _ccert _cca _cfullchain _cpfx` (sourced) | `D[_ecc]/D.key.next` (`--always-force-new-domain-key`) |
//! | dehydrated | `hook deploy_cert DOMAIN KEY CERT FULLCHAIN CHAIN TIMESTAMP` | `certs/D/privkey.roll.pem` (`PRIVATE_KEY_ROLLOVER=yes`) |
//! | lego       | env `LEGO_CERT_*` (v4) / `LEGO_HOOK_CERT_*` (v5)  | `certificates/D.key`, then `renew --reuse-key` |
//!
//! Parsing is pure (arguments and environment in, [`HookEvent`] out); the injection functions
//! touch only the client's files and run the client's renew command, restoring the client's
//! previous key when the renewal fails so its key and certificate agree again.

pub mod acmesh;
pub mod certbot;
pub mod dehydrated;
mod files;
pub mod handover;
pub mod lego;
mod run;
pub mod staged;
pub mod status;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

pub use files::{
    InjectError, KeyBackup, backup_path_of, key_type_of_pem, key_type_of_spki, leaf_of, names_of,
};
pub use run::RenewCommand;

/// The ACME clients daneroll has hooks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Client {
    Certbot,
    #[serde(rename = "acme.sh")]
    AcmeSh,
    Dehydrated,
    Lego,
}

impl Client {
    /// All clients, in the order the documentation lists them.
    pub const ALL: [Client; 4] = [
        Client::Certbot,
        Client::AcmeSh,
        Client::Dehydrated,
        Client::Lego,
    ];

    /// The name on the command line (`daneroll hook NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Client::Certbot => "certbot",
            Client::AcmeSh => "acme.sh",
            Client::Dehydrated => "dehydrated",
            Client::Lego => "lego",
        }
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Client {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Client::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s) || (s == "acmesh" && *c == Client::AcmeSh))
            .ok_or_else(|| {
                format!("unknown ACME client {s:?} (certbot, acme.sh, dehydrated, lego)")
            })
    }
}

/// A certificate an ACME client just obtained, in one shape for every client.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RenewedCertificate {
    pub client: Client,
    /// The names the client says the certificate is for (the first is the primary name).
    pub domains: Vec<String>,
    /// The leaf certificate (for lego v4 this may be the bundle: the leaf comes first).
    pub cert_path: PathBuf,
    /// The private key the client used (dehydrated with a `generate_csr` hook: the old one).
    pub key_path: PathBuf,
    pub fullchain_path: Option<PathBuf>,
    pub chain_path: Option<PathBuf>,
}

/// What a hook invocation means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookEvent {
    /// A certificate was issued or renewed.
    Deployed(RenewedCertificate),
    /// A call daneroll has nothing to do for (dehydrated's other handlers): exit 0.
    Ignored { handler: String },
}

/// What a hook is called with: its arguments (after the client name) and its environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HookInput {
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
}

impl HookInput {
    /// The process's own arguments and environment (non-UTF-8 variables are skipped: none of
    /// the variables the clients set can be).
    pub fn from_process(args: Vec<String>) -> Self {
        Self {
            args,
            env: std::env::vars().collect(),
        }
    }

    /// A variable that is set and not empty.
    fn var(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }
}

/// Why a hook call cannot be understood. Each names the client and what is missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    #[error(
        "{client} hook: {what} is not set; is `daneroll hook {client}` installed as {client}'s \
         deploy hook (see hooks/README.md)?"
    )]
    Missing { client: Client, what: &'static str },
    #[error("{client} hook: {problem}")]
    BadArguments { client: Client, problem: String },
}

/// Reads one client's hook call.
pub fn parse(client: Client, input: &HookInput) -> Result<HookEvent, HookError> {
    match client {
        Client::Certbot => certbot::parse(input),
        Client::AcmeSh => acmesh::parse(input),
        Client::Dehydrated => dehydrated::parse(input),
        Client::Lego => lego::parse(input),
    }
}

/// Splits a list of names on commas and whitespace, lower-cases them, drops empties and
/// duplicates (keeping the first occurrence first).
fn split_domains(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in text.split(|c: char| c == ',' || c.is_whitespace()) {
        let name = crate::config::normalize_host(name);
        if !name.is_empty() && !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names_round_trip() {
        for client in Client::ALL {
            assert_eq!(client.name().parse::<Client>(), Ok(client));
        }
        assert_eq!("acmesh".parse::<Client>(), Ok(Client::AcmeSh));
        assert!("caddy".parse::<Client>().is_err());
    }

    #[test]
    fn domains_are_split_normalized_and_deduplicated() {
        assert_eq!(
            split_domains(" MX1.Example.net. mx1.example.net,,mx2.example.net "),
            vec!["mx1.example.net", "mx2.example.net"]
        );
        assert!(split_domains("  ").is_empty());
    }

    #[test]
    fn empty_variables_count_as_missing() {
        let input = HookInput {
            args: vec![],
            env: [("A".to_string(), " ".to_string())].into(),
        };
        assert_eq!(input.var("A"), None);
    }
}
