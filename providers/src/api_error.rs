//! The errors of the REST backends' HTTP layer ([`crate::http`]): each names the provider, the
//! API endpoint, the zone, the credential's source and, for writes, the record; none holds a
//! secret.

use std::time::Duration;

use crate::credential::CredentialError;
use crate::error::Target;

/// A REST API failure, naming the provider, the endpoint, the zone, the credential's source and
/// the record. Never holds the token.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The token is wrong, expired or revoked (401, or the provider's equivalent).
    #[error(
        "{provider} API ({at}): the API token was rejected (HTTP {status}: {message}); check \
         the {key}: is it the right token, still valid, not revoked?",
        key = at.key
    )]
    BadToken {
        provider: &'static str,
        at: Box<Target>,
        status: u16,
        message: String,
    },

    /// The token is valid but may not do this (403, or the provider's equivalent).
    #[error(
        "{provider} API ({at}): the API token is not allowed to do this (HTTP {status}: \
         {message}); give it permission to read and edit DNS records of zone {zone}",
        zone = at.zone
    )]
    Forbidden {
        provider: &'static str,
        at: Box<Target>,
        status: u16,
        message: String,
    },

    /// No zone of the account holds the owner name, or the configured zone does not exist.
    #[error(
        "{provider} API at {server} ({key}): {detail}; check the name, the account the token \
         belongs to, or set `zone` for this DNS backend"
    )]
    ZoneNotFound {
        provider: &'static str,
        server: String,
        key: String,
        owner: String,
        /// What was looked for and what was found.
        detail: String,
    },

    /// 400/422 on a write: the API refused the record (syntax, TTL below the minimum, …).
    #[error(
        "{provider} API ({at}): the API rejected TLSA record {record} at {owner} \
         (HTTP {status}: {message})"
    )]
    RecordRejected {
        provider: &'static str,
        at: Box<Target>,
        owner: String,
        record: String,
        status: u16,
        message: String,
    },

    /// 429 (or the provider's own throttling answer, Route 53's 400 `Throttling`) after every
    /// retry, or a `Retry-After` longer than the retry budget.
    #[error("{provider} API ({at}): rate limited (HTTP {status}) after {attempts} attempt(s){wait}", wait = rate_limit_advice(.retry_after))]
    RateLimited {
        provider: &'static str,
        at: Box<Target>,
        attempts: u32,
        status: u16,
        retry_after: Option<Duration>,
    },

    /// 5xx after every retry.
    #[error(
        "{provider} API ({at}): {method} {path} failed with HTTP {status} after {attempts} \
         attempt(s): {message}; the provider has a problem, try again later"
    )]
    ServerError {
        provider: &'static str,
        at: Box<Target>,
        method: String,
        path: String,
        status: u16,
        attempts: u32,
        message: String,
    },

    /// No HTTP answer after every retry (refused, reset, timeout, TLS failure).
    #[error("{provider} API ({at}): no answer from the API after {attempts} attempt(s): {reason}")]
    Unreachable {
        provider: &'static str,
        at: Box<Target>,
        attempts: u32,
        reason: String,
    },

    /// Another 4xx the backend did not expect.
    #[error("{provider} API ({at}): {method} {path} was refused with HTTP {status}: {message}")]
    Rejected {
        provider: &'static str,
        at: Box<Target>,
        method: String,
        path: String,
        status: u16,
        message: String,
    },

    /// A success status with a body that does not make sense.
    #[error("{provider} API ({at}): unexpected answer to {method} {path}: {reason}")]
    BadResponse {
        provider: &'static str,
        at: Box<Target>,
        method: String,
        path: String,
        reason: String,
    },

    /// An accepted change did not take effect (an asynchronous action failed or did not finish,
    /// or concurrent writers kept replacing the RRset).
    #[error(
        "{provider} API ({at}): the change to the TLSA records at {owner} did not take effect: {reason}"
    )]
    ChangeFailed {
        provider: &'static str,
        at: Box<Target>,
        owner: String,
        reason: String,
    },

    /// The token could not be read (from the file or variable the config names).
    #[error("{provider}: {source}")]
    Credential {
        provider: &'static str,
        source: CredentialError,
    },
}

fn rate_limit_advice(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(wait) => format!(
            "; the provider asks to wait {} s before the next request: run again later",
            wait.as_secs()
        ),
        None => "; run again later".to_string(),
    }
}

impl ApiError {
    /// The endpoint, zone and credential the error happened at, if it reached the API.
    pub fn target(&self) -> Option<&Target> {
        match self {
            Self::BadToken { at, .. }
            | Self::Forbidden { at, .. }
            | Self::RecordRejected { at, .. }
            | Self::RateLimited { at, .. }
            | Self::ServerError { at, .. }
            | Self::Unreachable { at, .. }
            | Self::Rejected { at, .. }
            | Self::BadResponse { at, .. }
            | Self::ChangeFailed { at, .. } => Some(at),
            Self::ZoneNotFound { .. } | Self::Credential { .. } => None,
        }
    }

    pub(crate) fn target_mut(&mut self) -> Option<&mut Box<Target>> {
        match self {
            Self::BadToken { at, .. }
            | Self::Forbidden { at, .. }
            | Self::RecordRejected { at, .. }
            | Self::RateLimited { at, .. }
            | Self::ServerError { at, .. }
            | Self::Unreachable { at, .. }
            | Self::Rejected { at, .. }
            | Self::BadResponse { at, .. }
            | Self::ChangeFailed { at, .. } => Some(at),
            Self::ZoneNotFound { .. } | Self::Credential { .. } => None,
        }
    }

    /// Whether trying again later may succeed without anyone changing configuration.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::ServerError { .. }
                | Self::Unreachable { .. }
                | Self::ChangeFailed { .. }
        )
    }
}
