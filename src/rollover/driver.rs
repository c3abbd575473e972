//! The driver: the only place where a rollover touches the world.
//!
//! One run for one host: take the host's lock, re-read the saved state, re-read the world (the
//! certificates on disk), give the machine the command, then loop: log the intent, perform the
//! action through [`World`], log the outcome, feed it to the machine, save the state atomically.
//! The loop ends when the machine says "too early": `tick` ([`Mode::Once`]) returns with the
//! time to come back; the foreground mode releases the lock, sleeps until then (only the driver
//! ever sleeps), takes the lock again and re-reads everything.
//!
//! Crash safety comes from the order: the state is saved before the next action is derived from
//! it, the intent is in the history before the action runs, and every action is idempotent, so a
//! run that dies anywhere is resumed by the next run performing the same action again.
//!
//! The lock is released while a certificate is requested: the ACME client's deploy hook may call
//! daneroll for the same host (dnst does the same before running hooks).

use std::future::Future;
use std::time::Duration;

use daneroll_providers::Tlsa;
use time::OffsetDateTime;

use super::clock::later;
use super::history::{Entry, Event};
use super::input::{
    Action, ActionKind, DiskView, Input, Next, Notice, PropagationReport, TooEarly, Waiting,
    ZoneVerdict,
};
use super::machine::{MachineError, Step};
use super::policy::Policy;
use super::state::{Renewal, Rollover, Stage, StateName, Trigger};
use super::store::{HostLock, LockWait, Store, StoreError};

/// Everything external a rollover needs, for one host (or one group of hosts sharing a key).
/// The real implementation joins the DNS backend, the propagation observer, key generation, the
/// deploy/swap mechanism and the live check; tests use a scripted fake.
///
/// Every operation must be idempotent: the driver repeats it after a crash.
pub trait World {
    /// Errors name what failed (server, zone, file); they are logged, so they hold no secret.
    type Error: std::error::Error;

    /// The current time (the machine never reads a clock).
    fn now(&self) -> OffsetDateTime;

    /// Waits until `until` (foreground mode only).
    fn sleep_until(&mut self, until: OffsetDateTime) -> impl Future<Output = ()> + Send;

    /// Is every zone holding the host's TLSA records DNSSEC-secure?
    fn preflight(
        &mut self,
        host: &str,
    ) -> impl Future<Output = Result<ZoneVerdict, Self::Error>> + Send;

    /// The deployed certificate and a staged (renewed, not yet deployed) one, by key record.
    fn inspect(&mut self, host: &str)
    -> impl Future<Output = Result<DiskView, Self::Error>> + Send;

    /// Generates the next key into the host's key directory (see
    /// [`Store::write_private_key`]) and returns its record. A key generated earlier but never
    /// reported (a crash) may be returned instead of a new one.
    fn generate_key(
        &mut self,
        host: &str,
        lock: &HostLock,
    ) -> impl Future<Output = Result<Tlsa, Self::Error>> + Send;

    /// Adds `record` to the host's TLSA RRset(s). Returns whether it was already there.
    fn publish(
        &mut self,
        host: &str,
        record: &Tlsa,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Asks every authoritative server for the records (DNSSEC-validated).
    fn observe(
        &mut self,
        host: &str,
        records: &[Tlsa],
    ) -> impl Future<Output = Result<PropagationReport, Self::Error>> + Send;

    /// Obtains a certificate for the key of `record` (swap command, ACME client). Called without
    /// the host's lock.
    fn request_certificate(
        &mut self,
        host: &str,
        record: &Tlsa,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// After a crash during [`World::request_certificate`] (the run that started it died):
    /// inspects and repairs what the swap command or ACME client left (a key backup, a
    /// certificate obtained but not staged) under the host's `lock`; says what it found.
    fn recover_renewal(
        &mut self,
        host: &str,
        record: &Tlsa,
        lock: &HostLock,
    ) -> impl Future<Output = Result<String, Self::Error>> + Send;

    /// Installs the staged certificate whose key matches `record`, atomically, and reloads the
    /// MTA. Must refuse a staged certificate with another key.
    fn deploy(
        &mut self,
        host: &str,
        record: &Tlsa,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// The key the live service presents (STARTTLS probe, or the deployed files until it lands),
    /// and where it was seen.
    fn verify_live(
        &mut self,
        host: &str,
        expected: &Tlsa,
    ) -> impl Future<Output = Result<LiveSeen, Self::Error>> + Send;

    /// Removes `record` while the RRset holds every record of `keep`. Returns whether it
    /// was already absent.
    fn retire(
        &mut self,
        host: &str,
        record: &Tlsa,
        keep: &[Tlsa],
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;
}

/// What the live check found: the key presented, and where (one line per address and port, or
/// the MTA's files), for the history and the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveSeen {
    pub presented: Tlsa,
    pub seen: Vec<String>,
}

/// What the run was asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Advance as far as is safe now.
    Tick,
    /// Move to the next key as soon as it is safe (again, even right after an interrupted one).
    Rollover(Trigger),
    /// `daneroll rollover` without `--again`: like [`Command::Rollover`], unless the operator's
    /// last rollover was interrupted after its swap (the run was killed); then only finish
    /// that one. A re-run must not change the key a second time.
    RolloverOrFinish(Trigger),
}

impl Command {
    fn input(self) -> Input {
        match self {
            Command::Tick => Input::Tick,
            Command::Rollover(trigger) | Command::RolloverOrFinish(trigger) => {
                Input::Rollover { trigger }
            }
        }
    }
}

/// How long a run lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `tick`: return at the first "too early".
    Once,
    /// `rollover`: sleep through waits until the host is back in the steady state.
    Foreground,
}

/// What a run did, for the CLI's output and exit status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunReport {
    pub host: String,
    pub state: StateName,
    /// Actions performed (including failed ones).
    pub actions: u32,
    /// Actions that failed this run (they are retried after a backoff).
    pub failures: u32,
    pub notices: Vec<Notice>,
    /// When to come back, and for what (absent when the run ended otherwise).
    pub come_back: Option<TooEarly>,
}

impl RunReport {
    /// Whether the operator must look (exit status ACTION_NEEDED).
    pub fn needs_action(&self) -> bool {
        self.notices.iter().any(Notice::is_alert)
    }
}

/// Why a run stopped early. The saved state is consistent in every case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Machine(#[from] MachineError),
    #[error(
        "host {host}: {count} actions in one run without reaching a wait; stopped (see the history)"
    )]
    Runaway { host: String, count: u32 },
}

impl DriverError {
    /// Another process holds the host's lock (exit status BUSY).
    pub fn is_busy(&self) -> bool {
        matches!(self, DriverError::Store(StoreError::Busy { .. }))
    }
}

/// Performs rollovers for hosts, one run at a time.
pub struct Driver<'a, W: World> {
    store: &'a Store,
    world: &'a mut W,
    policy: &'a Policy,
    wait: LockWait,
    /// Actions in a row without a wait before the run is stopped as a runaway.
    max_actions: u32,
    /// Failed actions after which a foreground run gives up (tick always returns at once).
    max_failures: u32,
    /// A retry backoff at least this long ends a foreground run: the operator at the terminal
    /// hears about the failure after a few quick retries (30 s, 1 min) instead of watching
    /// hourly retries through an outage; the state is saved and `tick` carries on.
    foreground_retry_limit: Duration,
    /// How long (by the world's clock) a foreground run may wait in total before it returns.
    foreground_limit: Duration,
}

/// Everything one run holds while it has the lock.
struct Run {
    lock: HostLock,
    rollover: Rollover,
    report: RunReport,
    /// A foreground `rollover` given while a previous swap was finishing: fed again later.
    pending: Option<Input>,
    /// Actions since the last wait.
    since_wait: u32,
}

impl<'a, W: World> Driver<'a, W> {
    pub fn new(store: &'a Store, world: &'a mut W, policy: &'a Policy, wait: LockWait) -> Self {
        Self {
            store,
            world,
            policy,
            wait,
            max_actions: 100,
            max_failures: 20,
            foreground_retry_limit: Duration::from_secs(5 * 60),
            foreground_limit: Duration::from_secs(7 * 24 * 3600),
        }
    }

    /// Caps how long a foreground run waits in total (default 7 days): a rollover that cannot
    /// finish in that time returns and says what it waits for.
    pub fn with_foreground_limit(mut self, limit: Duration) -> Self {
        self.foreground_limit = limit;
        self
    }

    /// Runs `command` for `host` in `mode`. See the module docs for the order of things.
    pub async fn run(
        &mut self,
        host: &str,
        command: Command,
        mode: Mode,
    ) -> Result<RunReport, DriverError> {
        let lock = self.store.lock(host, self.wait)?;
        let give_up_at = later(self.world.now(), self.foreground_limit);
        let mut run = self.resume(lock)?;
        self.recover_renewal(&mut run).await?;
        let mut step = self.inspect(&mut run).await?;
        let input = match (command, run.rollover.interrupted_request()) {
            (Command::RolloverOrFinish(_), Some(request)) => {
                let notice = Notice::FinishingInterruptedRollover {
                    requested_at: request.at,
                };
                self.log(&run, Event::Notice(notice.clone()))?;
                run.report.notices.push(notice);
                Input::Tick
            }
            _ => command.input(),
        };
        if mode == Mode::Foreground && input != Input::Tick && run.rollover.stage.finishing() {
            // Adoption or the end of a previous swap first; the command is fed when it can be.
            run.pending = Some(input);
        } else {
            self.log(&run, Event::Command(input.clone()))?;
            step = self.feed(&mut run, input)?;
        }
        loop {
            match step.next {
                Next::Act(action) => {
                    if run.since_wait >= self.max_actions {
                        return Err(DriverError::Runaway {
                            host: host.to_string(),
                            count: run.since_wait,
                        });
                    }
                    step = self.act(&mut run, action).await?;
                }
                Next::TooEarly(wait) => {
                    self.log(&run, Event::Wait(wait))?;
                    run.report.come_back = Some(wait);
                    run.since_wait = 0;
                    let steady = matches!(run.rollover.stage, Stage::Ready { .. });
                    if mode == Mode::Once
                        || step.notices.iter().any(Notice::ends_foreground_run)
                        || (steady && run.pending.is_none())
                        || wait.waiting_for == Waiting::SecureZone
                        || run.report.failures >= self.max_failures
                        || self.retry_too_long(&wait)
                        || wait.until > give_up_at
                    {
                        run.report.state = run.rollover.stage.name();
                        return Ok(run.report);
                    }
                    step = self.sleep(&mut run, wait).await?;
                }
            }
        }
    }

    /// Whether `wait` is a retry backoff too long to sit through in the foreground.
    fn retry_too_long(&self, wait: &TooEarly) -> bool {
        wait.waiting_for == Waiting::Retry
            && wait.until >= later(self.world.now(), self.foreground_retry_limit)
    }

    /// Re-reads the saved state under a fresh lock.
    fn resume(&self, lock: HostLock) -> Result<Run, DriverError> {
        let host = lock.host().to_string();
        let rollover = self
            .store
            .load(&lock)?
            .unwrap_or_else(|| Rollover::new(host.clone()));
        Ok(Run {
            report: RunReport {
                host,
                state: rollover.stage.name(),
                actions: 0,
                failures: 0,
                notices: Vec::new(),
                come_back: None,
            },
            lock,
            rollover,
            pending: None,
            since_wait: 0,
        })
    }

    /// Foreground wait: release the lock, sleep, take it again, re-read state and world.
    async fn sleep(&mut self, run: &mut Run, wait: TooEarly) -> Result<Step, DriverError> {
        run.lock.release()?;
        self.world.sleep_until(wait.until).await;
        self.relock(run)?;
        self.recover_renewal(run).await?;
        self.inspect(run).await?;
        if let Some(step) = self.feed_pending(run)? {
            return Ok(step);
        }
        self.log(run, Event::Command(Input::Tick))?;
        self.feed(run, Input::Tick)
    }

    /// Takes the lock again and re-reads the saved state (another run may have moved on).
    fn relock(&mut self, run: &mut Run) -> Result<(), DriverError> {
        run.lock.reacquire(LockWait::Wait)?;
        if let Some(saved) = self.store.load(&run.lock)? {
            run.rollover = saved;
        }
        Ok(())
    }

    /// Reads the certificates on disk and tells the machine (after every lock).
    async fn inspect(&mut self, run: &mut Run) -> Result<Step, DriverError> {
        self.act(run, Action::Inspect).await
    }

    /// Logs the intent, performs the action, logs and feeds the outcome.
    async fn act(&mut self, run: &mut Run, action: Action) -> Result<Step, DriverError> {
        self.log(run, Event::Intent(action.clone()))?;
        run.report.actions += 1;
        run.since_wait += 1;
        let input = match action {
            Action::RequestCertificate { record } => {
                return self.request_certificate(run, record).await;
            }
            action => self.perform(&run.lock, action).await,
        };
        self.outcome(run, input)
    }

    async fn perform(&mut self, lock: &HostLock, action: Action) -> Input {
        let host = lock.host();
        let kind = action.kind();
        let result =
            match action {
                Action::Preflight => self.world.preflight(host).await.map(Input::Preflight),
                Action::Inspect => self.world.inspect(host).await.map(Input::Certificates),
                Action::GenerateNextKey => self
                    .world
                    .generate_key(host, lock)
                    .await
                    .map(|record| Input::KeyGenerated { record }),
                Action::Publish { record } => {
                    self.world
                        .publish(host, &record)
                        .await
                        .map(|already_present| Input::Published {
                            record,
                            already_present,
                        })
                }
                Action::Observe { records } => self
                    .world
                    .observe(host, &records)
                    .await
                    .map(|report| Input::Propagation { records, report }),
                Action::Deploy { record } => self
                    .world
                    .deploy(host, &record)
                    .await
                    .map(|()| Input::Deployed { record }),
                Action::VerifyLive { expected } => self
                    .world
                    .verify_live(host, &expected)
                    .await
                    .map(|live| Input::Live {
                        presented: live.presented,
                        seen: live.seen,
                    }),
                Action::Retire { record, keep } => self
                    .world
                    .retire(host, &record, &keep)
                    .await
                    .map(|already_absent| Input::Retired {
                        record,
                        already_absent,
                    }),
                Action::RequestCertificate { record } => self
                    .world
                    .request_certificate(host, &record)
                    .await
                    .map(|()| Input::CertificateRequested { record }),
            };
        result.unwrap_or_else(|error| Input::Failed {
            action: kind,
            error: error.to_string(),
        })
    }

    /// A certificate request saved in the state whose runner died (its renewal lock is free):
    /// let the world repair the client's files, then forget the request. One still running
    /// elsewhere is left alone (the plan waits for it).
    async fn recover_renewal(&mut self, run: &mut Run) -> Result<(), DriverError> {
        let Some(renewal) = run.rollover.renewing.clone() else {
            return Ok(());
        };
        let host = run.rollover.host.clone();
        let free = match self.store.renewal_lock(&host) {
            Ok(free) => free,
            Err(StoreError::Busy { .. }) => return Ok(()),
            Err(other) => return Err(other.into()),
        };
        let found = self
            .world
            .recover_renewal(&host, &renewal.record, &run.lock)
            .await
            .unwrap_or_else(|e| format!("the client's files could not be repaired: {e}"));
        drop(free);
        run.rollover.renewing = None;
        self.store
            .save(&run.lock, &run.rollover, self.world.now())?;
        self.log(
            run,
            Event::Error {
                error: format!(
                    "the certificate request for {} started at {} by process {} did not finish \
                     (the process died): {found}",
                    renewal.record.short(),
                    renewal.since,
                    renewal.pid
                ),
            },
        )
    }

    /// Runs the certificate request without the lock, then re-reads everything: a hook may
    /// have advanced the host meanwhile, in which case this outcome is stale and dropped.
    ///
    /// One request at a time (issue #13 item 7): the request is saved in the state before the
    /// lock is released, and this process holds the host's renewal lock until it is over, so a
    /// concurrent `tick` or hook waits instead of starting a second order.
    async fn request_certificate(
        &mut self,
        run: &mut Run,
        record: Tlsa,
    ) -> Result<Step, DriverError> {
        let host = run.rollover.host.clone();
        let now = self.world.now();
        let renewal_lock = match self.store.renewal_lock(&host) {
            Ok(lock) => lock,
            Err(StoreError::Busy { .. }) => {
                return Ok(Step {
                    notices: Vec::new(),
                    next: Next::TooEarly(TooEarly {
                        until: later(now, self.policy.poll_interval),
                        waiting_for: Waiting::Certificate,
                    }),
                });
            }
            Err(other) => return Err(other.into()),
        };
        run.rollover.renewing = Some(Renewal {
            record: record.clone(),
            since: now,
            pid: std::process::id(),
        });
        self.store.save(&run.lock, &run.rollover, now)?;
        let mut before = run.rollover.clone();
        before.renewing = None;
        run.lock.release()?;
        let result = self.world.request_certificate(&host, &record).await;
        self.relock(run)?;
        if run
            .rollover
            .renewing
            .as_ref()
            .is_some_and(|r| r.pid == std::process::id())
        {
            run.rollover.renewing = None;
            self.store
                .save(&run.lock, &run.rollover, self.world.now())?;
        }
        drop(renewal_lock);
        let input = match result {
            Ok(()) => Input::CertificateRequested { record },
            Err(error) => Input::Failed {
                action: ActionKind::RequestCertificate,
                error: error.to_string(),
            },
        };
        if run.rollover != before {
            self.log(
                run,
                Event::Error {
                    error: format!(
                        "host {host} moved on to {} while the certificate request ran; its \
                         outcome is not used",
                        run.rollover.stage.name()
                    ),
                },
            )?;
            // Look at the disk again before anything else (the main loop performs it).
            return Ok(Step {
                notices: Vec::new(),
                next: Next::Act(Action::Inspect),
            });
        }
        self.outcome(run, input)
    }

    fn outcome(&mut self, run: &mut Run, input: Input) -> Result<Step, DriverError> {
        if matches!(input, Input::Failed { .. }) {
            run.report.failures += 1;
        }
        self.log(run, Event::Outcome(input.clone()))?;
        let step = self.feed(run, input)?;
        if let Some(step) = self.feed_pending(run)? {
            return Ok(step);
        }
        Ok(step)
    }

    /// Feeds a deferred `rollover` once the machine can take it.
    fn feed_pending(&mut self, run: &mut Run) -> Result<Option<Step>, DriverError> {
        if run.rollover.stage.finishing() {
            return Ok(None);
        }
        let Some(input) = run.pending.take() else {
            return Ok(None);
        };
        self.log(run, Event::Command(input.clone()))?;
        self.feed(run, input).map(Some)
    }

    /// Steps the machine, saves the state, logs transition and notices.
    fn feed(&mut self, run: &mut Run, input: Input) -> Result<Step, DriverError> {
        let now = self.world.now();
        let from = run.rollover.stage.name();
        let step = match run.rollover.step(input, now, self.policy) {
            Ok(step) => step,
            Err(error) => {
                self.log(
                    run,
                    Event::Error {
                        error: error.to_string(),
                    },
                )?;
                return Err(error.into());
            }
        };
        self.store.save(&run.lock, &run.rollover, now)?;
        let to = run.rollover.stage.name();
        if from != to {
            self.log(run, Event::Transition { from, to })?;
        }
        for notice in &step.notices {
            self.log(run, Event::Notice(notice.clone()))?;
        }
        run.report.notices.extend(step.notices.iter().cloned());
        run.report.state = to;
        Ok(step)
    }

    fn log(&self, run: &Run, event: Event) -> Result<(), DriverError> {
        let entry = Entry {
            at: self.world.now(),
            host: run.rollover.host.clone(),
            event,
        };
        Ok(self.store.append_history(&run.lock, &entry)?)
    }
}

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;
