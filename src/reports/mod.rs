//! SMTP TLS reports (TLS-RPT, RFC 8460): what sending MTAs saw when they delivered to our MX
//! hosts, read from the reports they mail to the `rua` address of `_smtp._tls.DOMAIN`.
//!
//! daneroll proves its promise from the inside (authoritative servers, resolver caches, port
//! 25); the reports are the senders' side. Lined up with the rollover history they answer the
//! operator's morning-after question: did any sender fail DANE between the publication of the
//! new key and the retirement of the old one?
//!
//! - [`schema`]: one report's JSON (RFC 8460 §4.4), tolerant of the large reporters' variants;
//! - [`ingest`]: JSON, gzip, mail messages, maildir, mbox; malformed counted, duplicates once;
//! - [`summary`]: per domain, MX host and policy, by result type, reporter and day;
//! - [`align`]: phases of the rollover history, the last rollover, the engine's alert;
//! - [`status`]: the latest report day per host, for `status` and `tick`.

pub mod align;
pub mod ingest;
pub mod schema;
pub mod status;
pub mod summary;

#[cfg(test)]
pub(crate) mod fixtures;

use std::path::Path;

use crate::config::Config;
use crate::rollover::store::{Store, StoreError};

use align::Timeline;

/// The timelines of every host with a history in `state_dir`.
pub fn timelines(state_dir: &Path) -> Result<Vec<Timeline>, StoreError> {
    if !state_dir.exists() {
        return Ok(Vec::new());
    }
    let store = Store::existing(state_dir);
    let mut timelines = Vec::new();
    for host in store.hosts()? {
        let history = store.read_history(&host)?;
        timelines.push(Timeline::from_history(&host, &history.entries));
    }
    Ok(timelines)
}

/// Maps a reported MX host name to the host whose history holds it: a configured host's other
/// names map to the host; any other name to itself.
pub fn host_mapper(config: &Config) -> impl Fn(&str) -> Option<String> + '_ {
    move |name: &str| {
        let name = crate::config::normalize_host(name);
        let host = config
            .hosts
            .iter()
            .find(|h| h.names().any(|n| n == name))
            .map_or(name, |h| h.name.clone());
        Some(host)
    }
}
