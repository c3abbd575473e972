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

pub mod clock;
pub mod driver;
pub mod history;
pub mod input;
pub mod machine;
pub mod plan;
pub mod policy;
pub mod state;
pub mod store;

pub use input::{Action, ActionKind, Input, Next, Notice, TooEarly, Waiting};
pub use machine::{MachineError, Step};
pub use policy::{Policy, Propagated, SafetyFactor};
pub use state::{Rollover, Stage, StateName};
