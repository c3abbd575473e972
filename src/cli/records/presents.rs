//! The guard before `records remove`: what does the host present now, and does a remaining
//! record still match it?
//!
//! Removing a record is the one step of a rollover that can break mail on the spot: if any
//! address still presents the key the record pins, DANE senders defer mail to it once caches
//! drop the record (RFC 7672 §2.2; RFC 7671 §8.1 removes obsolete records only after the new
//! chain is deployed). So every address is probed (`probe::verify_host_presents`) and the
//! removal is refused when an address presents a chain that no remaining record matches.
//! An address that cannot be probed (port closed, timeout) is reported but does not block: the
//! guard refuses on evidence, and `--force` overrides it either way.

use std::net::IpAddr;
use std::time::SystemTime;

use daneroll_providers::Tlsa;

use super::{Refusal, Resolved, Session};
use crate::probe::lookup::Dns;
use crate::probe::{AddressOutcome, ProbeSettings, Prober, verify_host_presents};

/// Ok with the warnings to print, or the refusal.
pub(super) async fn check_removal(
    session: &Session,
    target: &Resolved,
    record: &Tlsa,
    remaining: &[Tlsa],
) -> Result<Vec<String>, Refusal> {
    let host = &target.host;
    if !remaining.iter().any(|r| matches!(r.usage, 2 | 3)) {
        // No usable record remains: senders stop doing DANE for the host (the caller already
        // required --allow-empty for that); nothing presented can fail to match.
        return Ok(Vec::new());
    }
    let dns = Dns::new(
        session.transport.as_ref(),
        session.resolver,
        &session.anchors,
        SystemTime::now(),
    );
    let addresses: Vec<IpAddr> = match dns.addresses(host).await {
        Ok(answer) if !answer.records.is_empty() => answer.records,
        Ok(answer) => {
            return Ok(vec![format!(
                "{host} has no address ({}); what it presents was not verified",
                answer.rcode
            )]);
        }
        Err(error) => {
            return Ok(vec![format!(
                "cannot look up the addresses of {host} ({error}); what it presents was not verified"
            )]);
        }
    };
    let prober = Prober::new(ProbeSettings::default()).map_err(Refusal::failed)?;
    let verdict = verify_host_presents(&prober, host, &addresses, &[target.port], remaining).await;
    let mut warnings = Vec::new();
    let mut blocking = Vec::new();
    for address in &verdict.addresses {
        match &address.outcome {
            AddressOutcome::Matches(_) => {}
            AddressOutcome::ProbeFailed(error) => warnings.push(format!(
                "{}: not verified ({error}); removing anyway",
                address.target
            )),
            AddressOutcome::NoMatch { .. } => blocking.push(address.target.to_string()),
        }
    }
    if blocking.is_empty() {
        return Ok(warnings);
    }
    Err(Refusal::bad_input(format!(
        "refusing to remove {record}: {} present(s) a certificate that none of the remaining \
         records matches, so DANE senders would defer mail to it. Deploy the certificate of a \
         remaining record first (check with `daneroll check --host {host}`), or pass --force",
        blocking.join(", ")
    )))
}
