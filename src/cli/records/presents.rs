//! The guard before `records remove`: what does the host present now, and does a remaining
//! record still match it?
//!
//! Removing a record is the one step of a rollover that can break mail on the spot: if any
//! address still presents the key the record pins, DANE senders defer mail to it once caches
//! drop the record (RFC 7672 §2.2; RFC 7671 §8.1 removes obsolete records only after the new
//! chain is deployed). So every address is probed (`probe::verify_host_presents`) and the
//! removal is refused when an address presents a chain that no remaining record matches.
//! An address that cannot be probed (port closed, outbound port 25 blocked, timeout) blocks the
//! removal too: nothing was seen, so nothing says the removal is safe. The addresses come from
//! daneroll's own DNSSEC validation when the host's zone is signed (`dns::addresses`); `--force`
//! overrides the guard either way.

use std::net::IpAddr;
use std::time::SystemTime;

use daneroll_providers::Tlsa;

use super::{Refusal, Resolved, Session};
use crate::dns::addresses::validated_addresses;
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
    let cannot_verify = |why: String| {
        Refusal::failed(format!(
            "refusing to remove {record}: {why}, so what {host} presents was not verified. Pass \
             --force to remove it unverified"
        ))
    };
    let owner = hickory_proto::rr::Name::from_ascii(format!("{}.", host.trim_end_matches('.')))
        .map_err(|e| Refusal::bad_input(format!("{host}: {e}")))?;
    let mut walker = session.walker();
    let found = validated_addresses(
        &mut walker,
        session.transport.as_ref(),
        session.resolver,
        &owner,
        SystemTime::now(),
    )
    .await
    .map_err(|e| cannot_verify(format!("the addresses could not be established ({e})")))?;
    let addresses: Vec<IpAddr> = found.addresses;
    if addresses.is_empty() {
        return Err(cannot_verify(format!("{host} has no A or AAAA record")));
    }
    let prober = Prober::new(ProbeSettings::default()).map_err(Refusal::failed)?;
    let verdict = verify_host_presents(&prober, host, &addresses, &[target.port], remaining).await;
    let mut unreachable = Vec::new();
    let mut blocking = Vec::new();
    for address in &verdict.addresses {
        match &address.outcome {
            AddressOutcome::Matches(_) => {}
            AddressOutcome::ProbeFailed(error) => {
                unreachable.push(format!("{} ({error})", address.target))
            }
            AddressOutcome::NoMatch { .. } => blocking.push(address.target.to_string()),
        }
    }
    if blocking.is_empty() && !unreachable.is_empty() {
        return Err(cannot_verify(format!(
            "{} could not be probed",
            unreachable.join(", ")
        )));
    }
    if blocking.is_empty() {
        return Ok(Vec::new());
    }
    Err(Refusal::bad_input(format!(
        "refusing to remove {record}: {} present(s) a certificate that none of the remaining \
         records matches, so DANE senders would defer mail to it. Deploy the certificate of a \
         remaining record first (check with `daneroll check --host {host}`), or pass --force",
        blocking.join(", ")
    )))
}
