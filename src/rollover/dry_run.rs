//! `daneroll rollover --dry-run`: the plan of a whole rollover, computed by running the machine
//! on a copy of the state with every action assumed to succeed at once. Nothing is written, no
//! key generated, no DNS touched; the caller supplies what it read (the zone verdict, the
//! certificates on disk, the resolver TTL bound the observer measured), so the waits printed are
//! the ones the real run would compute from the same TTLs (RFC 7671 §8.1).

use std::time::Duration;

use daneroll_providers::Tlsa;
use time::OffsetDateTime;

use super::input::{Action, DiskView, Input, Next, PropagationReport, Waiting, ZoneVerdict};
use super::machine::MachineError;
use super::policy::{Policy, Propagated};
use super::state::{Rollover, Stage};
use crate::dns::safe_time::TtlBound;

/// What the dry run assumes about the world (read, not changed, by the caller).
#[derive(Clone, Debug)]
pub struct Assumptions {
    pub zone: ZoneVerdict,
    pub disk: DiskView,
    /// The longest TTL a resolver may hold an answer without the new record, and what set it,
    /// as the observer measured it (the one safe-time rule, `dns::safe_time`).
    pub bound: TtlBound,
}

/// One step of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Planned {
    /// An action, performed at `at`.
    Act { at: OffsetDateTime, action: Action },
    /// A wait from `from` to `until`.
    Wait {
        from: OffsetDateTime,
        until: OffsetDateTime,
        waiting_for: Waiting,
    },
}

impl Planned {
    /// How long a wait lasts (zero for actions).
    pub fn length(&self) -> Duration {
        match self {
            Planned::Act { .. } => Duration::ZERO,
            Planned::Wait { from, until, .. } => {
                Duration::try_from(*until - *from).unwrap_or(Duration::ZERO)
            }
        }
    }
}

/// The record a dry run shows for the `n`-th key it would generate (all zero but the last
/// byte): the key does not exist yet.
pub fn placeholder_key(n: u8) -> Tlsa {
    let mut data = vec![0; 32];
    data[31] = n;
    Tlsa::new(3, 1, 1, data)
}

/// Plans a rollover from `rollover`'s state: until the next key is live and the host is back in
/// the steady state. `Err` when the machine refuses the command in this state.
pub fn plan_rollover(
    rollover: &Rollover,
    now: OffsetDateTime,
    policy: &Policy,
    assumed: &Assumptions,
) -> Result<Vec<Planned>, MachineError> {
    let mut sim = rollover.clone();
    let mut now = now;
    let mut disk = assumed.disk.clone();
    let mut plan = Vec::new();
    let mut step = sim.step(Input::Certificates(disk.clone()), now, policy)?;
    let mut generated = 0u8;
    let mut commanded = false;
    let mut swapped = false;
    // Bounded: a rollover is a few dozen steps; a longer plan means the assumptions cannot
    // finish one (e.g. an insecure zone), and the plan so far says where it stops.
    for _ in 0..100 {
        if !commanded && !sim.stage.finishing() {
            step = sim.step(
                Input::Rollover {
                    trigger: super::state::Trigger::Operator,
                },
                now,
                policy,
            )?;
            commanded = true;
        }
        let input = match step.next {
            Next::TooEarly(wait) => {
                if (swapped && matches!(sim.stage, Stage::Ready { .. }))
                    || wait.waiting_for == Waiting::SecureZone
                {
                    break;
                }
                // The real run polls every poll_interval while caches drain; with instant,
                // steady propagation assumed, those polls change nothing: one wait to the
                // safe time.
                let until = match &sim.stage {
                    Stage::AwaitingCacheExpiry { propagated, .. } => {
                        propagated.safe_at(policy.safety_factor).max(wait.until)
                    }
                    _ => wait.until,
                };
                plan.push(Planned::Wait {
                    from: now,
                    until,
                    waiting_for: wait.waiting_for,
                });
                now = now.max(until);
                Input::Tick
            }
            Next::Act(action) => {
                plan.push(Planned::Act {
                    at: now,
                    action: action.clone(),
                });
                if matches!(action, Action::GenerateNextKey) {
                    generated = generated.wrapping_add(1);
                }
                let outcome = assume(&action, &mut disk, assumed, now, generated);
                if matches!(action, Action::Deploy { .. })
                    && !matches!(sim.stage, Stage::Ready { .. })
                {
                    swapped = true;
                }
                outcome
            }
        };
        step = sim.step(input, now, policy)?;
        if swapped && commanded && matches!(sim.stage, Stage::Ready { .. }) {
            break;
        }
    }
    Ok(plan)
}

/// The outcome of `action` if everything works and propagation is instant.
fn assume(
    action: &Action,
    disk: &mut DiskView,
    assumed: &Assumptions,
    now: OffsetDateTime,
    generated: u8,
) -> Input {
    match action {
        Action::Preflight => Input::Preflight(assumed.zone.clone()),
        Action::Inspect => Input::Certificates(disk.clone()),
        Action::GenerateNextKey => Input::KeyGenerated {
            record: placeholder_key(generated),
        },
        Action::Publish { record } => Input::Published {
            record: record.clone(),
            already_present: false,
        },
        Action::Observe { records } => Input::Propagation {
            records: records.clone(),
            report: PropagationReport::Everywhere(Propagated::new(now, assumed.bound.clone())),
        },
        Action::RequestCertificate { record } => {
            let not_after = disk
                .deployed
                .as_ref()
                .map_or(now, |deployed| deployed.not_after);
            disk.staged = Some(super::input::CertSeen {
                record: record.clone(),
                not_after,
            });
            Input::CertificateRequested {
                record: record.clone(),
            }
        }
        Action::Deploy { record } => {
            if let Some(staged) = disk.staged.take() {
                disk.deployed = Some(staged);
            }
            Input::Deployed {
                record: record.clone(),
            }
        }
        Action::VerifyLive { expected } => Input::Live {
            presented: expected.clone(),
            seen: Vec::new(),
        },
        Action::Retire { record, .. } => Input::Retired {
            record: record.clone(),
            already_absent: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::rollover::input::CertSeen;
    use crate::rollover::state::{CurrentKey, KeyOrigin, SafeKey};

    const NOW: OffsetDateTime = datetime!(2026-05-01 12:00 UTC);

    fn rec(n: u8) -> Tlsa {
        Tlsa::new(3, 1, 1, vec![n; 32])
    }

    fn assumed(deployed: u8, ttl: u64) -> Assumptions {
        Assumptions {
            zone: ZoneVerdict {
                zone: "example.net.".into(),
                secure: true,
                detail: "signed".into(),
            },
            disk: DiskView {
                deployed: Some(CertSeen {
                    record: rec(deployed),
                    not_after: datetime!(2026-07-01 0:00 UTC),
                }),
                staged: None,
            },
            bound: TtlBound::new(
                u32::try_from(ttl).unwrap(),
                crate::dns::safe_time::TtlKind::RrsigOriginal,
                Some("ns2.example.net. (192.0.2.2:53)".into()),
            ),
        }
    }

    fn kinds(plan: &[Planned]) -> Vec<String> {
        plan.iter()
            .map(|step| match step {
                Planned::Act { action, .. } => format!("{:?}", action.kind()),
                Planned::Wait { waiting_for, .. } => format!("wait {waiting_for:?}"),
            })
            .collect()
    }

    #[test]
    fn a_new_host_plans_publication_waits_swap_and_retirement() {
        let rollover = Rollover::new("mx1.example.net");
        let plan = plan_rollover(&rollover, NOW, &Policy::default(), &assumed(0xA, 3600)).unwrap();
        let kinds = kinds(&plan);
        assert_eq!(
            kinds,
            [
                "Preflight",
                "Publish",
                "Observe",
                "GenerateNextKey",
                "Publish",
                "Observe",
                "wait CacheExpiry",
                "Observe",
                "RequestCertificate",
                "Inspect",
                "Deploy",
                "VerifyLive",
                "Retire",
                "GenerateNextKey",
                // The zone verdict is older than preflight_valid_for by now.
                "Preflight",
                "Publish",
                "Observe",
                "wait CacheExpiry",
                "Observe",
            ],
            "{kinds:?}"
        );
        // Each wait is safety_factor × the TTL bound: 2 × 1 h.
        let waits: Vec<Duration> = plan
            .iter()
            .filter(|s| matches!(s, Planned::Wait { .. }))
            .map(Planned::length)
            .collect();
        assert_eq!(waits, vec![Duration::from_secs(7200); 2]);
        // The deploy comes only after the first wait.
        let deploy = plan
            .iter()
            .find_map(|s| match s {
                Planned::Act {
                    at,
                    action: Action::Deploy { .. },
                } => Some(*at),
                _ => None,
            })
            .unwrap();
        assert_eq!(deploy, NOW + time::Duration::hours(2));
        // The plan ran on a copy.
        assert_eq!(rollover, Rollover::new("mx1.example.net"));
    }

    #[test]
    fn from_the_steady_state_the_swap_is_immediate() {
        let mut rollover = Rollover::new("mx1.example.net");
        rollover.stage = Stage::Ready {
            current: CurrentKey {
                record: rec(0xA),
                live_since: datetime!(2026-01-01 0:00 UTC),
            },
            next: SafeKey {
                record: rec(0xB),
                origin: KeyOrigin::Generated,
                safe_since: datetime!(2026-01-02 0:00 UTC),
                checked_at: NOW,
            },
        };
        let plan = plan_rollover(&rollover, NOW, &Policy::default(), &assumed(0xA, 300)).unwrap();
        let retire = plan.iter().position(|s| {
            matches!(s, Planned::Act { action: Action::Retire { record, .. }, .. } if *record == rec(0xA))
        });
        let deploy = plan.iter().position(|s| {
            matches!(s, Planned::Act { action: Action::Deploy { record }, at } if *record == rec(0xB) && *at == NOW)
        });
        assert!(deploy.unwrap() < retire.unwrap(), "{plan:#?}");
    }

    #[test]
    fn an_insecure_zone_stops_the_plan_before_publishing() {
        let mut assumptions = assumed(0xA, 300);
        assumptions.zone.secure = false;
        let plan =
            plan_rollover(&Rollover::new("mx1"), NOW, &Policy::default(), &assumptions).unwrap();
        assert!(
            !plan.iter().any(|s| matches!(
                s,
                Planned::Act {
                    action: Action::Publish { .. },
                    ..
                }
            )),
            "{plan:#?}"
        );
    }
}
