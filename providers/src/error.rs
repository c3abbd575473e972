//! What can go wrong when a backend reads or changes TLSA records, in words an operator can act
//! on. Every error that reached a server names the server, the zone and the key (by name: a
//! secret never appears here), so a failed run at 3 a.m. says which of several zones, servers
//! and keys to look at.

use std::fmt;
use std::time::Duration;

use crate::http::ApiError;

/// Where an operation was aimed (boxed in errors to keep `Result`s small). For RFC 2136: the server address, the zone, the TSIG key
/// name. For REST backends: the API endpoint, the zone, the token's label or account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The server or API endpoint, e.g. `192.0.2.53:53` or `https://desec.io/api/v1`.
    pub server: String,
    /// The zone, absolute (`example.com.`).
    pub zone: String,
    /// The credential's name (TSIG key name, token label), never its secret.
    pub key: String,
    /// What was being done, naming the record: `adding _25._tcp.mx.example.com. TLSA 3 1 1
    /// 0A1B2C3D…`. Empty until the backend method fills it in.
    pub action: String,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.action.is_empty() {
            write!(f, "{}: ", self.action)?;
        }
        write!(
            f,
            "server {}, zone {}, key {}",
            self.server, self.zone, self.key
        )
    }
}

/// Why a backend operation failed. Nothing was changed unless the variant says otherwise:
/// RFC 2136 updates are atomic (§3.7), and REST backends must keep the same promise.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The owner name is not a DNS name.
    #[error("{owner:?} is not a valid DNS name: {reason}")]
    InvalidOwner { owner: String, reason: String },

    /// The owner name is not inside the zone the backend is configured or found to use.
    #[error("{owner} is not inside zone {zone}; TLSA records for it cannot be changed there")]
    OutsideZone { owner: String, zone: String },

    /// The zone holding the owner could not be found (SOA discovery through the resolver).
    #[error(
        "cannot find the zone that holds {owner} (SOA query via resolver {resolver}): {reason}"
    )]
    ZoneNotFound {
        owner: String,
        resolver: String,
        reason: String,
    },

    /// The zone's primary (SOA MNAME) has no address to send updates to.
    #[error(
        "no address for the primary server {mname} of zone {zone} (via resolver {resolver}): \
         {reason}; set `server` for this DNS backend"
    )]
    NoPrimary {
        zone: String,
        mname: String,
        resolver: String,
        reason: String,
    },

    /// REFUSED: the server's policy does not allow this key to make this change.
    #[error(
        "{at}: the server refused to change TLSA records at {owner} (REFUSED); its policy does \
         not allow this key to update them (BIND: update-policy / allow-update; Knot: acl), or \
         it is a secondary that does not forward updates"
    )]
    Refused { at: Box<Target>, owner: String },

    /// NOTAUTH without a TSIG error, or a query answered REFUSED or without the AA bit: the
    /// server is not authoritative (not the primary) for the zone, or does not serve it to us.
    #[error(
        "{at}: the server is not authoritative for the zone or does not accept requests for it \
         ({rcode}); send them to the zone's primary"
    )]
    NotAuthoritative { at: Box<Target>, rcode: String },

    /// NOTZONE: the server says the owner is not in the zone.
    #[error("{at}: the server says {owner} is not in the zone (NOTZONE)")]
    NotZone { at: Box<Target>, owner: String },

    /// BADSIG: the server knows the key name but the secret differs.
    #[error(
        "{at}: the server rejected the TSIG signature (BADSIG): the secret in the key file does \
         not match the server's key of that name"
    )]
    BadSignature { at: Box<Target> },

    /// BADKEY: the server does not know the key (Knot also answers this when an ACL denies it).
    #[error(
        "{at}: the server does not accept this TSIG key (BADKEY): no key of that name and \
         algorithm is configured there, or its ACL does not allow it for this zone"
    )]
    UnknownKey { at: Box<Target> },

    /// BADTIME: the clocks differ by more than the TSIG fudge.
    #[error(
        "{at}: the server rejected the request time (BADTIME): this host's clock is \
         {abs} s {direction} the server's (TSIG allows {fudge} s); fix time synchronisation",
        direction = if .skew_secs.is_negative() { "ahead of" } else { "behind" },
        abs = .skew_secs.unsigned_abs()
    )]
    ClockSkew {
        at: Box<Target>,
        /// Server time minus this host's time, in seconds.
        skew_secs: i64,
        fudge: u16,
    },

    /// SERVFAIL.
    #[error("{at}: the server failed to process the request (SERVFAIL); see its logs")]
    ServerFailure { at: Box<Target> },

    /// A compare-and-swap found the RRset changed since it was read (RFC 2136 §2.4.2 failed:
    /// NXRRSET). Nothing was changed; re-read and decide again.
    #[error(
        "{at}: the TLSA records at {owner} changed since they were read (prerequisite failed, \
         {rcode}); nothing was changed: re-read them and decide again"
    )]
    Stale {
        at: Box<Target>,
        owner: String,
        rcode: String,
    },

    /// No answer in time.
    #[error("{at}: no answer within {after:?}")]
    Timeout { at: Box<Target>, after: Duration },

    /// Nothing listens at the server's address.
    #[error("{at}: connection refused (is the DNS server running and listening there?)")]
    ConnectionRefused { at: Box<Target> },

    /// Another network failure.
    #[error("{at}: network error: {reason}")]
    Network { at: Box<Target>, reason: String },

    /// The answer's TSIG signature did not verify: it may not come from the server.
    #[error("{at}: the answer is not authenticated by the TSIG key: {reason}")]
    Unauthenticated { at: Box<Target>, reason: String },

    /// Any other response code, or an answer that makes no sense.
    #[error("{at}: unexpected answer: {reason}")]
    Unexpected { at: Box<Target>, reason: String },

    /// A DNS provider's HTTP API refused or failed the request; the [`ApiError`] names the
    /// provider, endpoint, zone, credential source and record.
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl BackendError {
    /// Names what was being done (with the record) in the error's [`Target`], if it has one.
    pub fn during(mut self, action: impl Into<String>) -> Self {
        if let Some(at) = self.target_mut()
            && at.action.is_empty()
        {
            at.action = action.into();
        }
        self
    }

    /// The server, zone and key the error happened at, if it reached a server.
    pub fn target(&self) -> Option<&Target> {
        match self {
            Self::Refused { at, .. }
            | Self::NotAuthoritative { at, .. }
            | Self::NotZone { at, .. }
            | Self::BadSignature { at }
            | Self::UnknownKey { at }
            | Self::ClockSkew { at, .. }
            | Self::ServerFailure { at }
            | Self::Stale { at, .. }
            | Self::Timeout { at, .. }
            | Self::ConnectionRefused { at }
            | Self::Network { at, .. }
            | Self::Unauthenticated { at, .. }
            | Self::Unexpected { at, .. } => Some(at.as_ref()),
            Self::Api(api) => api.target(),
            Self::InvalidOwner { .. }
            | Self::OutsideZone { .. }
            | Self::ZoneNotFound { .. }
            | Self::NoPrimary { .. } => None,
        }
    }

    fn target_mut(&mut self) -> Option<&mut Box<Target>> {
        match self {
            Self::Refused { at, .. }
            | Self::NotAuthoritative { at, .. }
            | Self::NotZone { at, .. }
            | Self::BadSignature { at }
            | Self::UnknownKey { at }
            | Self::ClockSkew { at, .. }
            | Self::ServerFailure { at }
            | Self::Stale { at, .. }
            | Self::Timeout { at, .. }
            | Self::ConnectionRefused { at }
            | Self::Network { at, .. }
            | Self::Unauthenticated { at, .. }
            | Self::Unexpected { at, .. } => Some(at),
            Self::Api(api) => api.target_mut(),
            Self::InvalidOwner { .. }
            | Self::OutsideZone { .. }
            | Self::ZoneNotFound { .. }
            | Self::NoPrimary { .. } => None,
        }
    }

    /// Whether trying again later may succeed without anyone changing configuration
    /// (timeouts, refused connections, SERVFAIL, network errors).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Timeout { .. }
                | Self::ConnectionRefused { .. }
                | Self::Network { .. }
                | Self::ServerFailure { .. }
        ) || matches!(self, Self::Api(api) if api.is_transient())
    }

    /// Whether a compare-and-swap lost a race: the caller should re-read and decide again.
    pub fn is_stale(&self) -> bool {
        matches!(self, Self::Stale { .. })
    }
}
