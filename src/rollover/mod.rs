//! The rollover engine: a pure state machine per host, its persistence, and the driver that
//! performs what it asks.
//!
//! RFC 7671 §8.1 orders every key change of a DANE-EE (`3 1 1`) server: publish the next key's
//! record beside the current one, wait until no resolver can hold an RRset without it, deploy the
//! new certificate, then remove the obsolete record. The steady state keeps *current + next*
//! published and safe, so a renewal may switch keys at any moment without waiting.
//!
//! - [`state`], [`input`], [`machine`], [`plan`], [`policy`]: the decision, with no I/O and an
//!   injected clock. A transition takes a command or an observation and returns the next state,
//!   notices, and one action or "too early, come back at T".
//! - [`store`], [`history`]: one state file per host written atomically, private keys 0600, an
//!   append-only history of intents and outcomes, one `flock` per host.
//! - [`driver`]: loads the state under the lock, performs the action through a [`driver::World`],
//!   persists the outcome, feeds it back, and stops (or sleeps, in the foreground) when told
//!   "too early".
//!
//! The states, each named after what it waits for (→ action it asks for):
//!
//! ```text
//! AwaitingCurrentKey ─certificates─▶ AwaitingCurrentPublication ─published─▶
//!   (→ Inspect)                        (→ Preflight, Publish current)
//! AwaitingCurrentPropagation ─everywhere─▶ AwaitingNextKey ─key generated─▶
//!   (→ Observe current)                      (→ GenerateNextKey)
//! AwaitingPublication ─published─▶ AwaitingPropagation ─everywhere since T─▶
//!   (→ Preflight, Publish next)      (→ Observe next, every poll_interval)
//! AwaitingCacheExpiry ─T + factor × TTL passed, still served─▶ Ready ─rollover / key age /
//!   (too early until safe_at; → Observe next)                  (→ Observe both, recheck)
//!   renewal with next key─▶ AwaitingSwap ─deployed─▶ AwaitingLiveConfirmation ─live = new─▶
//!                           (→ Observe, RequestCertificate,  (→ VerifyLive)
//!                              Inspect, Deploy)
//! AwaitingRetirement ─all retired─▶ AwaitingNextKey ─▶ … ─▶ Ready
//!   (→ Retire old, keep live)
//! ```
//!
//! Off the main path: a renewal with an unexpected key restarts at `AwaitingPublication` with
//! that key (the old certificate stays deployed, the replaced next key is retired after the
//! swap); a certificate deployed behind daneroll's back, or a live key it did not deploy, goes
//! to `AwaitingCurrentPublication` (publish it at once, retire the rest once it is confirmed); a
//! record that vanished sends its key back to publication.

pub mod clock;
pub mod driver;
pub mod dry_run;
pub mod history;
pub mod input;
pub mod machine;
pub mod plan;
pub mod policy;
pub mod state;
pub mod store;
pub mod world;

pub use input::{Action, ActionKind, Input, Next, Notice, TooEarly, Waiting};
pub use machine::{MachineError, Step};
pub use policy::{Policy, Propagated, SafetyFactor};
pub use state::{Rollover, Stage, StateName};
