//! Builds the DNS backend a `[dns.NAME]` section describes: RFC 2136 with a TSIG key read from
//! its file, or a REST provider with its token read from its file or environment variable.
//! Shared by `records add|remove` and the rollover engine, so both publish the same way.

use std::net::SocketAddr;

use daneroll_providers::DnsBackend as Backend;
use daneroll_providers::rfc2136::{Rfc2136, Rfc2136Config};
use daneroll_providers::settings::{SettingsError, build_backend};
use daneroll_providers::tsig::{KeyError, TsigKey};

use crate::config::DnsBackend;

/// Why a backend cannot be built. Names the section and the file; never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum BackendSetupError {
    #[error("[dns.{section}]: {source}")]
    Tsig { section: String, source: KeyError },
    #[error(transparent)]
    Rest(#[from] SettingsError),
}

/// The backend of section `[dns.SECTION]`; `resolver` finds the SOA MNAME for RFC 2136.
pub fn build(
    section: &str,
    backend: &DnsBackend,
    resolver: SocketAddr,
) -> Result<Box<dyn Backend>, BackendSetupError> {
    match backend {
        DnsBackend::Rfc2136 {
            server,
            tsig_key_file,
        } => {
            let key = TsigKey::from_file(tsig_key_file, None).map_err(|source| {
                BackendSetupError::Tsig {
                    section: section.to_string(),
                    source,
                }
            })?;
            let mut config = Rfc2136Config::new(key, resolver);
            config.server = *server;
            Ok(Box::new(Rfc2136::new(config)))
        }
        DnsBackend::Rest(settings) => Ok(build_backend(section, settings)?),
    }
}
