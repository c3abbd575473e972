//! What goes into the machine (commands and observations) and what comes out (one action to
//! perform, or "too early, come back at T", plus notices for the operator).
//!
//! Commands are intents (`tick`, `rollover`); observations are facts the driver established by
//! performing an action (a record was published, every server serves it since T, port 25
//! presents key K). Both are written to the history.

use std::fmt;

use daneroll_providers::Tlsa;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::policy::Propagated;
use super::state::Trigger;

/// A command or an observation fed to [`Rollover::step`](super::Rollover::step).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
pub enum Input {
    /// Command: advance as far as time allows (cron, timer, after a sleep).
    Tick,
    /// Command: move to the next key as soon as it is safe.
    Rollover { trigger: Trigger },
    /// Observation: the preflight verdict on the zone that holds the TLSA records.
    Preflight(ZoneVerdict),
    /// Observation: the certificates on disk (deployed, and staged by a renewal).
    Certificates(DiskView),
    /// Outcome of [`Action::GenerateNextKey`]: the new key's record.
    KeyGenerated { record: Tlsa },
    /// Outcome of [`Action::Publish`].
    Published { record: Tlsa, already_present: bool },
    /// Outcome of [`Action::Observe`].
    Propagation {
        records: Vec<Tlsa>,
        report: PropagationReport,
    },
    /// Outcome of [`Action::RequestCertificate`]: the swap command or ACME client ran.
    CertificateRequested { record: Tlsa },
    /// Outcome of [`Action::Deploy`]: the MTA's files now hold a certificate with this key and
    /// the reload command ran.
    Deployed { record: Tlsa },
    /// Outcome of [`Action::VerifyLive`]: the key the live service presents, and where it was
    /// seen (one line per address and port, or the MTA's files).
    Live {
        presented: Tlsa,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        seen: Vec<String>,
    },
    /// Outcome of [`Action::Retire`].
    Retired { record: Tlsa, already_absent: bool },
    /// An action failed; the state stays and the action is retried after a backoff.
    Failed { action: ActionKind, error: String },
}

impl Input {
    /// A short name for errors: "published", "tick", …
    pub fn name(&self) -> &'static str {
        match self {
            Input::Tick => "tick",
            Input::Rollover { .. } => "rollover",
            Input::Preflight(_) => "preflight verdict",
            Input::Certificates(_) => "certificates on disk",
            Input::KeyGenerated { .. } => "key generated",
            Input::Published { .. } => "record published",
            Input::Propagation { .. } => "propagation report",
            Input::CertificateRequested { .. } => "certificate requested",
            Input::Deployed { .. } => "certificate deployed",
            Input::Live { .. } => "live check",
            Input::Retired { .. } => "record retired",
            Input::Failed { .. } => "action failed",
        }
    }
}

/// The preflight verdict: is the zone signed with an unbroken chain of trust?
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneVerdict {
    pub zone: String,
    pub secure: bool,
    pub detail: String,
}

/// A certificate found on disk, by its key's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertSeen {
    pub record: Tlsa,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
}

/// The certificates on disk: the one the MTA reads, and one a renewal wrote that is not deployed
/// yet (`staged` is `None` when it is the same certificate as the deployed one).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskView {
    #[serde(default)]
    pub deployed: Option<CertSeen>,
    #[serde(default)]
    pub staged: Option<CertSeen>,
}

/// An authoritative server that did not serve a record (DNSSEC-valid) at the last look.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Missing {
    /// The server, as the observer names it (`ns2.example.net. (192.0.2.53)`).
    pub server: String,
    pub record: Tlsa,
    /// The server proved the record absent: a DNSSEC-validated RRset without it, or a
    /// validated NODATA/NXDOMAIN. Otherwise (a timeout, SERVFAIL, an answer that does not
    /// validate) one look proves nothing about the record.
    #[serde(default = "proven_by_default")]
    pub proven: bool,
    /// What the server answered, in a few words (`no answer`, `not authoritative (SERVFAIL)`,
    /// `absent, validated`…): the same answer on consecutive looks counts as a fact.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub answer: String,
}

/// Histories written before `proven` existed counted every miss as proven.
fn proven_by_default() -> bool {
    true
}

/// What the propagation observer found for a set of records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum PropagationReport {
    /// Every authoritative server serves every record, validated.
    Everywhere(Propagated),
    /// Some server answered without a record (or with a bogus signature).
    Incomplete { missing: Vec<Missing> },
}

/// An external step for the driver. Every action is idempotent: performing it again after a
/// crash (intent logged, outcome not) is harmless.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Check that the zone holding the TLSA records is DNSSEC-secure; answer with
    /// [`Input::Preflight`].
    Preflight,
    /// Read the deployed and staged certificates; answer with [`Input::Certificates`].
    Inspect,
    /// Generate the next key into the key directory (0600); answer with
    /// [`Input::KeyGenerated`]. A key generated but never reported (crash) may be returned.
    GenerateNextKey,
    /// Add the record to the host's TLSA RRset(s); present already is success.
    Publish { record: Tlsa },
    /// Ask every authoritative server for the records; answer with [`Input::Propagation`].
    Observe { records: Vec<Tlsa> },
    /// Obtain a certificate for the (safe) next key: run the swap command or the ACME client.
    /// The driver releases the host's lock meanwhile (a hook may call daneroll back).
    RequestCertificate { record: Tlsa },
    /// Install the staged certificate with this key into the MTA's files, atomically, and run
    /// the reload command.
    Deploy { record: Tlsa },
    /// Ask the live service which key it presents; answer with [`Input::Live`].
    VerifyLive { expected: Tlsa },
    /// Remove `record` from the RRset, but only while the RRset holds every record of `keep`
    /// (the live key's): a backend checks this in the same update where it can (prerequisite,
    /// compare-and-swap), so the RRset is never left without the live key's record. Absent
    /// already is success.
    Retire { record: Tlsa, keep: Vec<Tlsa> },
}

/// The kind of an action, for failures and the retry backoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Preflight,
    Inspect,
    GenerateNextKey,
    Publish,
    Observe,
    RequestCertificate,
    Deploy,
    VerifyLive,
    Retire,
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Preflight => ActionKind::Preflight,
            Action::Inspect => ActionKind::Inspect,
            Action::GenerateNextKey => ActionKind::GenerateNextKey,
            Action::Publish { .. } => ActionKind::Publish,
            Action::Observe { .. } => ActionKind::Observe,
            Action::RequestCertificate { .. } => ActionKind::RequestCertificate,
            Action::Deploy { .. } => ActionKind::Deploy,
            Action::VerifyLive { .. } => ActionKind::VerifyLive,
            Action::Retire { .. } => ActionKind::Retire,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Preflight => write!(f, "check that the zone is DNSSEC-secure"),
            Action::Inspect => write!(f, "read the certificates on disk"),
            Action::GenerateNextKey => write!(f, "generate the next key"),
            Action::Publish { record } => write!(f, "publish {record}"),
            Action::Observe { records } => {
                write!(f, "ask every authoritative server for")?;
                for record in records {
                    write!(f, " {}", record.short())?;
                }
                Ok(())
            }
            Action::RequestCertificate { record } => {
                write!(
                    f,
                    "request a certificate for the next key {}",
                    record.short()
                )
            }
            Action::Deploy { record } => {
                write!(f, "deploy the certificate with key {}", record.short())
            }
            Action::VerifyLive { expected } => {
                write!(
                    f,
                    "check that the live service presents {}",
                    expected.short()
                )
            }
            Action::Retire { record, .. } => write!(f, "retire {record}"),
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ActionKind::Preflight => "preflight",
            ActionKind::Inspect => "inspect",
            ActionKind::GenerateNextKey => "generate next key",
            ActionKind::Publish => "publish",
            ActionKind::Observe => "observe",
            ActionKind::RequestCertificate => "request certificate",
            ActionKind::Deploy => "deploy",
            ActionKind::VerifyLive => "verify live",
            ActionKind::Retire => "retire",
        })
    }
}

/// What the machine is waiting for when it says "too early".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Waiting {
    /// The next look at the authoritative servers.
    Propagation,
    /// Caches that may hold the old RRset to expire.
    CacheExpiry,
    /// Nothing is due: the next steady-state recheck or the key reaching its maximum age.
    Steady,
    /// A zone that is not DNSSEC-secure (nothing is published into it).
    SecureZone,
    /// A certificate for the next key (after the swap command ran).
    Certificate,
    /// The live service to present the new key.
    LiveCheck,
    /// The backoff after a failed action.
    Retry,
}

impl fmt::Display for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Waiting::Propagation => "every authoritative server to serve the record",
            Waiting::CacheExpiry => "resolver caches to expire",
            Waiting::Steady => "nothing due (steady state)",
            Waiting::SecureZone => "the zone to be DNSSEC-secure",
            Waiting::Certificate => "a certificate for the next key",
            Waiting::LiveCheck => "the live service to present the new key",
            Waiting::Retry => "the retry backoff after a failure",
        })
    }
}

/// "Too early": nothing can be done before `until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TooEarly {
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    pub waiting_for: Waiting,
}

/// What the driver does next: one action, or come back later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Next {
    Act(Action),
    TooEarly(TooEarly),
}

/// Something the operator should hear about. Alerts make `tick` exit with ACTION_NEEDED.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    /// Alert: the zone is not DNSSEC-secure; nothing is published into it.
    ZoneNotSecure { zone: String, detail: String },
    /// Alert: the live key had no TLSA record; it was published now.
    LiveKeyWasUnpublished { record: Tlsa },
    /// Alert: a renewal brought a key daneroll did not expect; its record is published at once
    /// and the current certificate stays deployed until the new key is safe.
    UnexpectedKey { record: Tlsa },
    /// Alert: the deployed certificate changed behind daneroll's back.
    UnexpectedDeployment {
        record: Tlsa,
        expected: Option<Tlsa>,
    },
    /// Alert: the live service presents a key daneroll did not deploy and did not read from
    /// its files. It was only seen on the network, so it is never published (an attacker on the
    /// path to port 25 must not get a key pinned in DNSSEC): the old record stays, the state is
    /// kept, and the live check is retried after a backoff.
    UnexpectedLiveKey {
        presented: Tlsa,
        expected: Tlsa,
        /// Where it was seen (address and port, what each presented).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        seen: Vec<String>,
    },
    /// Alert: no deployed certificate was found.
    NoDeployedCertificate,
    /// Alert: a record that had propagated is no longer served by every server.
    RecordVanished { record: Tlsa, servers: Vec<String> },
    /// Alert: a published record has not reached every server for a long time.
    PropagationSlow {
        record: Tlsa,
        servers: Vec<String>,
        #[serde(with = "time::serde::rfc3339")]
        published_at: OffsetDateTime,
    },
    /// Alert: the deployed certificate expires before its successor's key is safe. It stays
    /// deployed: DANE-EE clients ignore expiry (RFC 7672 §3.1.1), a mismatching key they do not.
    ExpiresBeforeSafe {
        record: Tlsa,
        #[serde(with = "time::serde::rfc3339")]
        not_after: OffsetDateTime,
        #[serde(default, with = "time::serde::rfc3339::option")]
        safe_at: Option<OffsetDateTime>,
    },
    /// Alert: the certificate request succeeded but no certificate with the next key appeared.
    NoCertificateForNextKey { record: Tlsa },
    /// Alert: the staged certificate with an unexpected key is gone before it could be
    /// deployed; the key's record is retired.
    StagedCertificateGone { record: Tlsa },
    /// Alert: a staged certificate uses a key that is being retired; it is not deployed.
    StagedRetiredKey { record: Tlsa },
    /// Alert: the live service still presents the old key after several checks.
    LiveStillOld {
        presented: Tlsa,
        expected: Tlsa,
        attempts: u32,
    },
    /// Report: a renewal with the next key arrived before the key is safe; it stays staged.
    RenewalStaged { record: Tlsa },
    /// Report: a renewal kept the current key; it is deployed at once.
    SameKeyRenewal { record: Tlsa },
    /// Report: the current key reached `key_max_age`; the swap to the next key starts.
    KeyAgeReached { record: Tlsa },
    /// Report: a staged certificate with an unexpected key waits until the current swap is done.
    UnexpectedKeyDeferred { record: Tlsa },
    /// Report: a steady-state recheck did not see a record at some server, without proof that
    /// it is gone (a timeout, SERVFAIL, an answer that does not validate); it is looked at again
    /// after `poll_interval` before anything is done about it.
    RecheckUnconfirmed {
        servers: Vec<String>,
        answers: Vec<String>,
    },
    /// Report: `rollover` found the operator's previous rollover interrupted after its swap and
    /// only finishes it (`--again` rolls once more).
    FinishingInterruptedRollover {
        #[serde(with = "time::serde::rfc3339")]
        requested_at: OffsetDateTime,
    },
}

impl Notice {
    /// Whether a foreground run returns at once (exit status ACTION_NEEDED) instead of waiting
    /// through retries: only the operator can repair it (a foreign key on port 25).
    pub fn ends_foreground_run(&self) -> bool {
        matches!(self, Notice::UnexpectedLiveKey { .. })
    }

    /// Whether the operator must look (exit status ACTION_NEEDED).
    pub fn is_alert(&self) -> bool {
        !matches!(
            self,
            Notice::RenewalStaged { .. }
                | Notice::SameKeyRenewal { .. }
                | Notice::KeyAgeReached { .. }
                | Notice::UnexpectedKeyDeferred { .. }
                | Notice::FinishingInterruptedRollover { .. }
                | Notice::RecheckUnconfirmed { .. }
        )
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::ZoneNotSecure { zone, detail } => write!(
                f,
                "zone {zone} is not DNSSEC-secure ({detail}); nothing is published into it"
            ),
            Notice::LiveKeyWasUnpublished { record } => write!(
                f,
                "the live key had no TLSA record: published {record} now; DANE senders failed \
                 until it propagates"
            ),
            Notice::UnexpectedKey { record } => write!(
                f,
                "a renewal brought an unexpected key {}: its record is published now and the \
                 current certificate stays deployed until the new key is safe",
                record.short()
            ),
            Notice::UnexpectedDeployment { record, expected } => match expected {
                Some(expected) => write!(
                    f,
                    "the deployed certificate has key {} but daneroll expected {}: someone \
                     deployed it behind daneroll's back; adopting it",
                    record.short(),
                    expected.short()
                ),
                None => write!(
                    f,
                    "adopting the deployed certificate with key {}",
                    record.short()
                ),
            },
            Notice::UnexpectedLiveKey {
                presented,
                expected,
                seen,
            } => {
                write!(
                    f,
                    "the live service presents key {} but {} was deployed: a key daneroll did not \
                     read from its files; NOTHING is published and the old record stays until the \
                     MTA presents {} (check what the MTA loads and who changed it)",
                    presented.short(),
                    expected.short(),
                    expected.short()
                )?;
                if !seen.is_empty() {
                    write!(f, "; seen: {}", seen.join("; "))?;
                }
                Ok(())
            }
            Notice::NoDeployedCertificate => write!(f, "no deployed certificate found"),
            Notice::RecordVanished { record, servers } => write!(
                f,
                "{record} is no longer served by {}; publishing it again",
                servers.join(", ")
            ),
            Notice::PropagationSlow {
                record,
                servers,
                published_at,
            } => write!(
                f,
                "{} published at {published_at} is still not served by {}",
                record.short(),
                servers.join(", ")
            ),
            Notice::ExpiresBeforeSafe {
                record,
                not_after,
                safe_at,
            } => {
                write!(
                    f,
                    "the deployed certificate (key {}) expires at {not_after}",
                    record.short()
                )?;
                match safe_at {
                    Some(safe_at) => write!(f, ", before its successor is safe at {safe_at}")?,
                    None => write!(f, ", before its successor is safe")?,
                }
                write!(
                    f,
                    "; it stays deployed (DANE-EE ignores expiry, RFC 7672 §3.1.1) and the new \
                     certificate follows at the safe time; to bridge the gap, renew the deployed \
                     certificate for its own key (certbot/lego: --reuse-key)"
                )
            }
            Notice::NoCertificateForNextKey { record } => write!(
                f,
                "the certificate request ran but no certificate with the next key {} appeared",
                record.short()
            ),
            Notice::StagedCertificateGone { record } => write!(
                f,
                "the staged certificate with key {} was replaced or removed before it could be \
                 deployed; retiring its record",
                record.short()
            ),
            Notice::StagedRetiredKey { record } => write!(
                f,
                "a staged certificate uses the retired key {}; it is not deployed",
                record.short()
            ),
            Notice::LiveStillOld {
                presented,
                expected,
                attempts,
            } => write!(
                f,
                "after {attempts} checks the live service still presents {} instead of {} (was \
                 the MTA reloaded?)",
                presented.short(),
                expected.short()
            ),
            Notice::RenewalStaged { record } => write!(
                f,
                "a renewed certificate with the next key {} is staged until the key is safe",
                record.short()
            ),
            Notice::SameKeyRenewal { record } => write!(
                f,
                "a renewed certificate with the current key {} is deployed",
                record.short()
            ),
            Notice::KeyAgeReached { record } => write!(
                f,
                "the current key {} reached key_max_age; swapping to the next key",
                record.short()
            ),
            Notice::UnexpectedKeyDeferred { record } => write!(
                f,
                "a staged certificate with key {} waits until the swap in progress completes",
                record.short()
            ),
            Notice::RecheckUnconfirmed { answers, .. } => write!(
                f,
                "the steady-state recheck could not confirm every record ({}); nothing proves a \
                 record gone, so nothing changes; looking again soon",
                answers.join("; ")
            ),
            Notice::FinishingInterruptedRollover { requested_at } => write!(
                f,
                "the rollover requested at {requested_at} was interrupted after its swap: \
                 finishing it, not changing the key again (`daneroll rollover --again` rolls \
                 once more)"
            ),
        }
    }
}
