//! DNSSEC preflight: is DANE possible for this MX host at all?
//!
//! A sender uses DANE only if the MX lookup for the mail domain is secure and the TLSA lookup
//! for the MX host is secure (RFC 7672 §2.2). A TLSA record in an insecure zone is ignored; in
//! a bogus zone the sender defers the mail. Publishing into either does nothing good, and
//! waiting for it to "propagate" would wait on signatures that cannot exist, so daneroll refuses
//! to publish into a zone that is not secure and names the broken link of the chain (RFC 4035
//! §5) in words the operator can act on.

use std::fmt;

use hickory_proto::rr::Name;

use super::chain::{ChainError, ChainWalker, ZoneStatus};
use super::transport::Transport;

/// The chain of trust of the zone that holds one name.
#[derive(Debug, Clone)]
pub struct ZoneCheck {
    /// What was checked, in the operator's words: "MX host mail.example.com".
    pub role: String,
    /// The name looked up (the TLSA owner, or the mail domain).
    pub name: Name,
    /// The zone that holds it.
    pub zone: Name,
    /// Its verdict.
    pub status: ZoneStatus,
}

impl fmt::Display for ZoneCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (zone {}): {}", self.role, self.zone, self.status)
    }
}

/// The preflight for one MX host and optionally its mail domain.
#[derive(Debug, Clone)]
pub struct Preflight {
    /// The zone that holds the MX host's TLSA records.
    pub host: ZoneCheck,
    /// The zones that hold the mail domains' MX records, if asked.
    pub mail_domains: Vec<ZoneCheck>,
}

/// Publishing was refused because the zone is not secure.
#[derive(Debug, Clone, thiserror::Error)]
#[error("refusing to publish TLSA records at {owner}: zone {zone} is {status}")]
pub struct NotSecure {
    /// The TLSA owner name.
    pub owner: String,
    /// Its zone.
    pub zone: String,
    /// The verdict, naming the broken link.
    pub status: String,
}

impl Preflight {
    /// Checks the zone of `tlsa_owner` and those of `mail_domains`.
    pub async fn run<T: Transport>(
        walker: &mut ChainWalker<'_, T>,
        host: &str,
        tlsa_owner: &Name,
        mail_domains: &[Name],
    ) -> Result<Self, ChainError> {
        let host_check = check(walker, format!("MX host {host}"), tlsa_owner).await?;
        let mut checks = Vec::new();
        for domain in mail_domains {
            let role = format!("mail domain {}", domain.to_string().trim_end_matches('.'));
            checks.push(check(walker, role, domain).await?);
        }
        Ok(Self {
            host: host_check,
            mail_domains: checks,
        })
    }

    /// Ok if TLSA records may be published for the host; otherwise the broken link.
    pub fn require_secure(&self) -> Result<(), NotSecure> {
        match &self.host.status {
            ZoneStatus::Secure(_) => Ok(()),
            other => Err(NotSecure {
                owner: self.host.name.to_string(),
                zone: self.host.zone.to_string(),
                status: other.to_string(),
            }),
        }
    }

    /// Plain-words lines, one per zone, plus what it means for mail.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![self.host.to_string()];
        lines.extend(self.mail_domains.iter().map(ZoneCheck::to_string));
        lines.extend(self.notes());
        lines
    }

    /// What the verdicts mean for mail, when something is not secure.
    pub fn notes(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for domain in &self.mail_domains {
            if !matches!(domain.status, ZoneStatus::Secure(_)) {
                lines.push(format!(
                    "  senders cannot use DANE for {}: its MX lookup is not secure (RFC 7672 §2.2.1)",
                    domain.name
                ));
            }
        }
        match &self.host.status {
            ZoneStatus::Secure(_) => {}
            ZoneStatus::Insecure(_) => lines.push(
                "  TLSA records in this zone are ignored by senders; daneroll will not publish here"
                    .into(),
            ),
            ZoneStatus::Bogus(_) => lines.push(
                "  validating senders defer mail for this host until the chain is fixed".into(),
            ),
        }
        lines
    }
}

async fn check<T: Transport>(
    walker: &mut ChainWalker<'_, T>,
    role: String,
    name: &Name,
) -> Result<ZoneCheck, ChainError> {
    let (zone, _) = walker.zone_of(name).await?;
    let status = walker.validate(&zone).await?;
    Ok(ZoneCheck {
        role,
        name: name.clone(),
        zone,
        status,
    })
}
