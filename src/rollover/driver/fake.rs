//! A scripted world for driver tests: a fake clock, one zone whose records reach every
//! authoritative server `propagation_delay` after publication, a certificate directory with a
//! deployed and a staged certificate, faults to switch on, and a crash point.
//!
//! It also referees the promise, recording a violation whenever the driver deploys a key whose
//! record has not been served everywhere for `safety_factor` × TTL, or retires the record of the
//! key the live service presents.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use daneroll_providers::Tlsa;
use time::OffsetDateTime;

use crate::rollover::clock::later;
use crate::rollover::driver::{LiveSeen, World};
use crate::rollover::input::{CertSeen, DiskView, Input, Missing, PropagationReport, ZoneVerdict};
use crate::rollover::policy::{Propagated, SafetyFactor};
use crate::rollover::store::{HostLock, LockWait, Store};

/// An error from the fake world, as a real adapter would name the thing that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeError(pub String);

impl fmt::Display for FakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FakeError {}

/// Faults that can be switched on between runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Every DNS operation (preflight, publish, observe, retire) fails.
    pub dns_down: bool,
    /// A secondary lags: observations report the records missing there.
    pub secondary_lagging: bool,
    /// The swap command / ACME client fails.
    pub request_fails: bool,
    /// Deploying (writing files, reloading) fails.
    pub deploy_fails: bool,
    /// The live check cannot connect.
    pub live_fails: bool,
    /// The MTA was not reloaded: the live service keeps presenting the old key.
    pub reload_lags: bool,
}

/// Where the next run dies: during its `call`-th world operation, before or after its effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashPoint {
    pub call: u32,
    pub after_effect: bool,
}

/// A published record: since when the primary has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Published {
    at: OffsetDateTime,
}

pub struct FakeWorld {
    pub now: OffsetDateTime,
    pub ttl: Duration,
    pub propagation_delay: Duration,
    pub safety_factor: SafetyFactor,
    zone: BTreeMap<Tlsa, Published>,
    pub deployed: Option<Tlsa>,
    pub staged: Option<Tlsa>,
    /// The staged certificate is a renewal of the deployed one with the same key.
    pub renewed: bool,
    pub live: Option<Tlsa>,
    pub faults: Faults,
    pub crash: Option<CrashPoint>,
    pub crashed: bool,
    calls: u32,
    keys_made: u32,
    /// Used to check that certificate requests run without the host's lock.
    pub store: Store,
    pub violations: Vec<String>,
    /// Every operation performed, in order.
    pub log: Vec<String>,
    /// The ACME client's deploy hook calls daneroll back, which deploys the new certificate
    /// while the requesting run waits (as `daneroll hook` will).
    pub hook_deploys: bool,
}

impl FakeWorld {
    /// A host with key `current` deployed, live, and its record published long ago.
    pub fn new(store: Store, now: OffsetDateTime, current: Tlsa) -> Self {
        let mut zone = BTreeMap::new();
        zone.insert(
            current.clone(),
            Published {
                at: now - time::Duration::days(365),
            },
        );
        Self {
            now,
            ttl: Duration::from_secs(300),
            propagation_delay: Duration::from_secs(20),
            safety_factor: SafetyFactor::DEFAULT,
            zone,
            deployed: Some(current.clone()),
            staged: None,
            renewed: false,
            live: Some(current),
            faults: Faults::default(),
            crash: None,
            crashed: false,
            calls: 0,
            keys_made: 0,
            store,
            violations: Vec::new(),
            log: Vec::new(),
            hook_deploys: false,
        }
    }

    /// The records the primary serves.
    pub fn rrset(&self) -> Vec<Tlsa> {
        self.zone.keys().cloned().collect()
    }

    /// A key nobody expects (a renewal with a fresh key outside daneroll).
    pub fn foreign_key(&mut self) -> Tlsa {
        self.keys_made += 1;
        key(0xF0, self.keys_made)
    }

    /// Starts counting world operations for a new run.
    pub fn start_run(&mut self) {
        self.calls = 0;
    }

    /// The promise, checked at any moment: the live key has a published record.
    pub fn check_live_record(&mut self) {
        if let Some(live) = &self.live
            && !self.zone.contains_key(live)
        {
            let live = live.clone();
            self.violations.push(format!(
                "{}: live key {} has no record",
                self.now,
                live.short()
            ));
        }
    }

    /// Records a violation if `record` goes live before it is safe.
    fn referee_deploy(&mut self, record: &Tlsa) {
        if self.live.as_ref() == Some(record) || self.deployed.as_ref() == Some(record) {
            // A renewal with the key already live, or already in the MTA's files (deployed at
            // or after its safe time, the reload still pending), changes nothing for DANE:
            // that first deploy was judged when it happened. (Found by the property test: a
            // same-key renewal after the clock was set back a second.)
            return;
        }
        match self.safe_at(record) {
            Some(safe_at) if safe_at <= self.now => {}
            Some(safe_at) => self.violations.push(format!(
                "{}: deployed {} before its safe time {safe_at}",
                self.now,
                record.short()
            )),
            None => self.violations.push(format!(
                "{}: deployed {} which has no record",
                self.now,
                record.short()
            )),
        }
    }

    /// When `record` became safe in truth (served everywhere + factor × TTL), if it is published.
    fn safe_at(&self, record: &Tlsa) -> Option<OffsetDateTime> {
        self.zone.get(record).map(|p| {
            later(
                later(p.at, self.propagation_delay),
                self.safety_factor.scale(self.ttl),
            )
        })
    }

    /// Counts the call; at the crash point, dies before or after the effect (never returns).
    async fn enter(&mut self, what: &str) {
        self.calls += 1;
        self.log.push(format!("{} {what}", self.now));
        if let Some(crash) = self.crash
            && crash.call == self.calls
            && !crash.after_effect
        {
            self.die().await;
        }
    }

    async fn leave(&mut self) {
        if let Some(crash) = self.crash
            && crash.call == self.calls
            && crash.after_effect
        {
            self.die().await;
        }
    }

    async fn die(&mut self) {
        self.crash = None;
        self.crashed = true;
        std::future::pending::<()>().await;
    }

    fn dns(&self, what: &str) -> Result<(), FakeError> {
        if self.faults.dns_down {
            Err(FakeError(format!(
                "{what}: ns1.fake.example. (127.0.3.53) timed out"
            )))
        } else {
            Ok(())
        }
    }
}

impl FakeWorld {
    /// What a nested `daneroll hook` run does for the host: take the lock, deploy the staged
    /// certificate, record it in the state.
    fn hook_calls_back(&mut self, host: &str, record: &Tlsa) {
        let Ok(lock) = self.store.lock(host, LockWait::NoWait) else {
            self.violations
                .push("the hook found the host locked".into());
            return;
        };
        // invariant: the requesting run saved its state before releasing the lock.
        let mut rollover = self
            .store
            .load(&lock)
            .expect("state readable")
            .expect("state saved");
        let policy = crate::rollover::Policy::default();
        let deployed = Input::Deployed {
            record: record.clone(),
        };
        if rollover.step(deployed, self.now, &policy).is_ok() {
            self.referee_deploy(record);
            self.deployed = Some(record.clone());
            self.live = Some(record.clone());
            self.staged = None;
            // invariant: the state dir is writable in tests.
            self.store
                .save(&lock, &rollover, self.now)
                .expect("save state");
        }
    }
}

fn key(tag: u8, n: u32) -> Tlsa {
    let mut data = vec![tag; 32];
    data[..4].copy_from_slice(&n.to_be_bytes());
    Tlsa::new(3, 1, 1, data)
}

impl World for FakeWorld {
    type Error = FakeError;

    fn now(&self) -> OffsetDateTime {
        self.now
    }

    async fn sleep_until(&mut self, until: OffsetDateTime) {
        self.now = self.now.max(until);
    }

    async fn preflight(&mut self, _host: &str) -> Result<ZoneVerdict, FakeError> {
        self.enter("preflight").await;
        self.dns("preflight")?;
        self.leave().await;
        Ok(ZoneVerdict {
            zone: "fake.example.".into(),
            secure: true,
            detail: "signed, DS at the parent".into(),
        })
    }

    async fn inspect(&mut self, _host: &str) -> Result<DiskView, FakeError> {
        self.enter("inspect").await;
        let not_after = later(self.now, Duration::from_secs(90 * 86400));
        let seen =
            |record: &Option<Tlsa>| record.clone().map(|record| CertSeen { record, not_after });
        let staged = if self.staged == self.deployed && !self.renewed {
            None
        } else {
            seen(&self.staged)
        };
        self.leave().await;
        Ok(DiskView {
            deployed: seen(&self.deployed),
            staged,
        })
    }

    async fn generate_key(&mut self, _host: &str, _lock: &HostLock) -> Result<Tlsa, FakeError> {
        self.enter("generate key").await;
        self.keys_made += 1;
        let record = key(0x0E, self.keys_made);
        self.leave().await;
        Ok(record)
    }

    async fn publish(&mut self, _host: &str, record: &Tlsa) -> Result<bool, FakeError> {
        self.enter(&format!("publish {}", record.short())).await;
        self.dns("publish")?;
        let present = self.zone.contains_key(record);
        if !present {
            self.zone.insert(record.clone(), Published { at: self.now });
        }
        self.leave().await;
        Ok(present)
    }

    async fn observe(
        &mut self,
        _host: &str,
        records: &[Tlsa],
    ) -> Result<PropagationReport, FakeError> {
        self.enter("observe").await;
        self.dns("observe")?;
        let mut missing = Vec::new();
        let mut served_since = OffsetDateTime::UNIX_EPOCH;
        for record in records {
            let everywhere = self
                .zone
                .get(record)
                .map(|p| later(p.at, self.propagation_delay))
                .filter(|at| *at <= self.now);
            match everywhere {
                Some(at) if !self.faults.secondary_lagging => served_since = served_since.max(at),
                _ => missing.push(Missing {
                    server: "ns2.fake.example. (127.0.3.54)".into(),
                    record: record.clone(),
                    proven: true,
                    answer: "absent, validated".into(),
                }),
            }
        }
        self.leave().await;
        Ok(if missing.is_empty() {
            // The earliest moment a real observer could claim: the aggressive case.
            PropagationReport::Everywhere(Propagated {
                first_served_everywhere_at: served_since,
                resolver_ttl_bound: self.ttl,
                bound_set_by: None,
                confirmed_at: None,
                unconfirmed_at: None,
            })
        } else {
            PropagationReport::Incomplete { missing }
        })
    }

    async fn request_certificate(&mut self, host: &str, record: &Tlsa) -> Result<(), FakeError> {
        self.enter(&format!("request certificate {}", record.short()))
            .await;
        // The driver must not hold the host's lock here: a hook may call daneroll back.
        if self.store.lock(host, LockWait::NoWait).is_err() {
            self.violations.push(format!(
                "{}: certificate requested while holding the lock",
                self.now
            ));
        }
        if self.faults.request_fails {
            return Err(FakeError("swap command exited with status 1".into()));
        }
        self.staged = Some(record.clone());
        if self.hook_deploys {
            self.hook_calls_back(host, record);
        }
        self.leave().await;
        Ok(())
    }

    async fn recover_renewal(
        &mut self,
        _host: &str,
        _record: &Tlsa,
        _lock: &HostLock,
    ) -> Result<String, FakeError> {
        Ok("nothing to repair".into())
    }

    async fn deploy(&mut self, _host: &str, record: &Tlsa) -> Result<(), FakeError> {
        self.enter(&format!("deploy {}", record.short())).await;
        if self.faults.deploy_fails {
            return Err(FakeError("reload command exited with status 1".into()));
        }
        let staged_matches = self.staged.as_ref() == Some(record);
        let same_key = self.deployed.as_ref() == Some(record);
        if !staged_matches && !same_key {
            return Err(FakeError(format!(
                "no staged certificate with key {}",
                record.short()
            )));
        }
        self.referee_deploy(record);
        self.deployed = Some(record.clone());
        self.staged = None;
        self.renewed = false;
        if !self.faults.reload_lags {
            self.live = Some(record.clone());
        }
        self.leave().await;
        Ok(())
    }

    async fn verify_live(&mut self, _host: &str, _expected: &Tlsa) -> Result<LiveSeen, FakeError> {
        self.enter("verify live").await;
        if self.faults.live_fails {
            return Err(FakeError("127.0.0.2:25: connection refused".into()));
        }
        if !self.faults.reload_lags {
            // A later reload picks up what is deployed.
            self.live = self.deployed.clone();
        }
        let live = self
            .live
            .clone()
            .ok_or_else(|| FakeError("127.0.0.2:25: no certificate".into()))?;
        self.leave().await;
        Ok(LiveSeen {
            presented: live,
            seen: vec!["127.0.0.2:25".into()],
        })
    }

    async fn retire(
        &mut self,
        _host: &str,
        record: &Tlsa,
        keep: &[Tlsa],
    ) -> Result<bool, FakeError> {
        self.enter(&format!("retire {}", record.short())).await;
        self.dns("retire")?;
        if let Some(absent) = keep.iter().find(|k| !self.zone.contains_key(*k)) {
            return Err(FakeError(format!(
                "prerequisite failed: {} is not in the RRset",
                absent.short()
            )));
        }
        if self.live.as_ref() == Some(record) || self.deployed.as_ref() == Some(record) {
            self.violations.push(format!(
                "{}: retired {} which is live or deployed",
                self.now,
                record.short()
            ));
        }
        let absent = self.zone.remove(record).is_none();
        self.leave().await;
        Ok(absent)
    }
}
