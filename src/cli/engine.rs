//! What `tick` and `rollover` share: the configuration, the state directory, the DNS context,
//! and one [`RealWorld`] per host.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use time::OffsetDateTime;

use super::records::{Refusal, Session};
use crate::config::{Config, Host};
use crate::output::write_line;
use crate::rollover::driver::RunReport;
use crate::rollover::store::Store;
use crate::rollover::world::{DnsContext, RealWorld};

/// `--state-dir`, overriding the config's `state_dir`.
#[derive(Debug, Clone, clap::Args)]
pub struct StateDirFlag {
    /// The state directory [env: DANEROLL_STATE_DIR; default: the config's state_dir,
    /// else /var/lib/daneroll].
    #[arg(long, env = "DANEROLL_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

/// Config, DNS context and state directory of one engine run.
pub(crate) struct Engine {
    pub config: Config,
    pub dns: DnsContext,
    pub state_dir: PathBuf,
}

impl Engine {
    pub fn open(config_flag: Option<&Path>, state: &StateDirFlag) -> Result<Self, Refusal> {
        let session = Session::open(config_flag, true)?;
        let state_dir = state
            .state_dir
            .clone()
            .unwrap_or_else(|| session.config.state_dir.clone());
        Ok(Self {
            dns: DnsContext {
                transport: Arc::clone(&session.transport),
                resolver: session.resolver,
                anchors: Arc::new(session.anchors),
            },
            config: session.config,
            state_dir,
        })
    }

    /// The hosts to run: the one named, or every configured host.
    pub fn hosts(&self, only: Option<&str>) -> Result<Vec<Host>, Refusal> {
        match only {
            Some(name) => self
                .config
                .host(name)
                .cloned()
                .map(|h| vec![h])
                .ok_or_else(|| {
                    Refusal::bad_input(format!(
                        "host {name} is not in {}",
                        self.config.path.display()
                    ))
                }),
            None if self.config.hosts.is_empty() => Err(Refusal::bad_input(format!(
                "{} configures no [[host]]",
                self.config.path.display()
            ))),
            None => Ok(self.config.hosts.clone()),
        }
    }

    /// The world of `host` over `store`.
    pub fn world(&self, host: &Host, store: Store) -> Result<RealWorld, Refusal> {
        // invariant: Config validation checked that every host's backend exists.
        let section = self.config.dns.get(&host.dns).expect("validated backend");
        let backend = crate::backend::build(&host.dns, section, self.dns.resolver)
            .map_err(Refusal::bad_input)?;
        let mut world = RealWorld::new(host.clone(), store, backend, self.dns.clone())
            .map_err(Refusal::bad_input)?;
        world.set_child_env(crate::process::ChildEnv::of_config(&self.config));
        Ok(world)
    }
}

/// One line per run, plus its notices.
pub(crate) fn print_report(report: &RunReport, quiet: bool) -> std::io::Result<()> {
    let come_back = match &report.come_back {
        Some(wait) => {
            let left = (wait.until - OffsetDateTime::now_utc())
                .whole_seconds()
                .max(0);
            format!("; next: {} in {left}s", wait.waiting_for)
        }
        None => String::new(),
    };
    if !quiet || report.failures > 0 || report.needs_action() {
        write_line(&format!(
            "{}: {} ({} actions, {} failed){come_back}",
            report.host, report.state, report.actions, report.failures
        ))?;
    }
    for notice in &report.notices {
        if !quiet || notice.is_alert() {
            write_line(&format!("  {notice}"))?;
        }
    }
    Ok(())
}
