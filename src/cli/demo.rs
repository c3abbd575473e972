//! `daneroll demo [--ttl S] [--keep] [--json]`: a complete rollover against an in-process lab.
//!
//! The lab ([`crate::demo`]) is a signed zone and a STARTTLS MX on one loopback address; the
//! rollover is the production `rollover` path (engine config, [`RealWorld`], driver) reading the
//! configuration the demo wrote. An independent DANE check runs every second meanwhile; the demo
//! succeeds only if the rollover completed and that check never failed.
//!
//! Two hidden flags are the commands the demo's configuration names, like an operator's
//! scripts: `--reload-pid` (the MTA reload: SIGHUP to the demo) and `--issue-from/--issue-to`
//! (the "ACME client": a certificate for `$DANEROLL_NEXT_KEY` from the throwaway CA).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use time::OffsetDateTime;
use tokio::sync::Mutex;

use super::engine::{Engine, StateDirFlag};
use super::history::format_entry;
use super::status::{host_status, render_text};
use crate::demo::ca::Ca;
use crate::demo::watch::{Checker, Tally, Verdict, watch};
use crate::demo::{Lab, candidate_addresses};
use crate::dns::chain::ChainWalker;
use crate::dns::net::HickoryTransport;
use crate::dns::observer::Observer;
use crate::dns::trust_anchor::TrustAnchors;
use crate::exit;
use crate::output::write_line;
use crate::probe::starttls::{ProbeSettings, Prober};
use crate::rollover::driver::{Command, Driver, Mode};
use crate::rollover::state::Trigger;
use crate::rollover::store::{LockWait, Store};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// TTL of every record in the demo zone, in seconds (the safe time is 2 × TTL).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=300))]
    pub ttl: u32,
    /// Leave the servers running afterwards (Ctrl-C to stop) and print how to query them.
    #[arg(long)]
    pub keep: bool,
    /// Print one JSON summary instead of the narration.
    #[arg(long)]
    pub json: bool,
    /// (internal: the demo MTA's reload command) send SIGHUP to this demo process.
    #[arg(long, hide = true, value_name = "PID")]
    pub reload_pid: Option<i32>,
    /// (internal: the demo's certificate command) issue from the CA in this directory.
    #[arg(long, hide = true, value_name = "DIR", requires = "issue_to")]
    pub issue_from: Option<PathBuf>,
    /// (internal) write the issued chain here.
    #[arg(long, hide = true, value_name = "FILE")]
    pub issue_to: Option<PathBuf>,
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    if let Some(pid) = args.reload_pid {
        // SAFETY: kill(2) with a pid and a signal number has no memory-safety preconditions.
        let sent = unsafe { libc::kill(pid, libc::SIGHUP) };
        anyhow::ensure!(sent == 0, "cannot signal the demo (pid {pid})");
        return Ok(exit::code(exit::OK));
    }
    if let (Some(ca), Some(out)) = (&args.issue_from, &args.issue_to) {
        let host = std::env::var("DANEROLL_HOST").context("DANEROLL_HOST is not set")?;
        let key = std::env::var("DANEROLL_NEXT_KEY").context("DANEROLL_NEXT_KEY is not set")?;
        Ca::open(ca).issue(&host, key.as_ref(), out)?;
        return Ok(exit::code(exit::OK));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(demo(args))
}

async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let say = |line: &str| {
        if !args.json {
            let _ = write_line(line);
        }
    };
    // A fresh private directory (mkdtemp(3): random name, created 0700, fails rather than reuse
    // or follow anything already there): the demo runs as root and writes a TSIG key and a
    // config whose commands daneroll runs, so a predictable path under a world-writable /tmp
    // would let another user plant a symlink or a config.
    let private = tempfile::Builder::new()
        .prefix("daneroll-demo-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .with_context(|| {
            format!(
                "cannot create a private directory in {}",
                std::env::temp_dir().display()
            )
        })?;
    let dir = private.path().to_path_buf();
    // The lab's throwaway keys go away with the demo, whatever way it ends (--keep: at Ctrl-C):
    // `private` removes the directory when dropped, without following symlinks.
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let lab = Lab::start(&dir, args.ttl, &candidate_addresses(), &exe).await?;
    let host = lab.host();
    say(&format!(
        "demo lab on {}: zone {} signed with DNSSEC (TTL {} s), MX {host} with STARTTLS on port 25",
        lab.ip(),
        lab.dns.names().zone,
        args.ttl
    ));
    say(&format!(
        "current key {} is live and published; configuration: {}",
        lab.first_record.short(),
        lab.config.display()
    ));

    // The MTA side of `reload`: SIGHUP makes the mail server re-read its key and chain.
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot catch SIGHUP")?;
    let smtp = Arc::clone(&lab.smtp);
    let json = args.json;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            match smtp.reload() {
                Ok(()) if !json => {
                    let _ = write_line("  MTA: reload: key and chain re-read");
                }
                Ok(()) => {}
                Err(error) => eprintln!("daneroll demo: MTA reload failed: {error}"),
            }
        }
    });

    // The independent check, every second, from before the first change to after the last.
    let transport = Arc::new(HickoryTransport::new(Duration::from_secs(2), 2));
    let anchors = TrustAnchors::parse(lab.dns.trust_anchor(), "demo trust anchor")?;
    let owner = hickory_proto::rr::Name::from_ascii(lab.dns.names().tlsa_owner())?;
    let observer = {
        let now = std::time::SystemTime::now();
        let mut walker = ChainWalker::new(&*transport, lab.dns.addr(), &anchors, now);
        Observer::discover(Arc::clone(&transport), &mut walker, lab.dns.addr(), owner).await?
    };
    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let smtp_addr = lab.smtp.addr();
    let checker = Checker {
        observer,
        prober: Prober::new(ProbeSettings::default())?,
        smtp: smtp_addr,
        host: host.clone(),
    };
    let watcher = tokio::spawn(watch(
        checker,
        Duration::from_secs(1),
        Arc::clone(&tally),
        Arc::clone(&stop),
        !args.json,
    ));
    say(
        "independent DANE check (`daneroll check` probe: validated TLSA vs. the chain port 25 presents) runs every second",
    );
    say("");

    // The production rollover, exactly as `daneroll --config FILE rollover` runs it.
    let engine = Engine::open(Some(&lab.config), &StateDirFlag { state_dir: None })
        .map_err(|r| anyhow::anyhow!(r.message))?;
    let host_config = engine
        .hosts(Some(&host))
        .map_err(|r| anyhow::anyhow!(r.message))?
        .remove(0);
    let store = Store::open(&engine.state_dir)?;
    let mut world = engine
        .world(&host_config, store.clone())
        .map_err(|r| anyhow::anyhow!(r.message))?;
    world.verbose = !args.json;
    say(&format!("rollover of {host}"));
    let report = Driver::new(&store, &mut world, &engine.config.policy, LockWait::Wait)
        .with_foreground_limit(Duration::from_secs(300))
        .run(
            &host,
            Command::Rollover(Trigger::Operator),
            Mode::Foreground,
        )
        .await?;

    stop.store(true, Ordering::Relaxed);
    let _ = watcher.await;
    let tally = tally.lock().await.clone();
    let saved = store
        .read_state(&host)?
        .context("the rollover saved no state")?;
    let live = saved.rollover.stage.current().map(|c| c.record.clone());
    let rolled = live.as_ref().is_some_and(|r| *r != lab.first_record);
    let ok = rolled && report.failures == 0 && tally.failures == 0 && tally.checks > 0;
    let history = store.read_history(&host)?;
    let elapsed = started.elapsed().as_secs_f64();

    if args.json {
        let summary = serde_json::json!({
            "host": host,
            "completed": rolled,
            "previous_key": lab.first_record,
            "live_key": live,
            "state": report.state.as_str(),
            "actions": report.actions,
            "failed_actions": report.failures,
            "checks": tally.checks,
            "failed_checks": tally.failures,
            "first_failure": tally.first_failure,
            "seconds": (elapsed * 10.0).round() / 10.0,
            "history": history.entries,
        });
        write_line(&serde_json::to_string_pretty(&summary)?)?;
    } else {
        say("");
        say(&format!(
            "independent DANE check: {} checks, {} failed{}",
            tally.checks,
            tally.failures,
            match (&tally.first_failure, &tally.last) {
                (Some(first), _) => format!(" (first: {first})"),
                (None, Some(Verdict::Pass { published, .. })) => format!(
                    "; port 25 always presented a key with a validated TLSA record ({published} published now)"
                ),
                _ => String::new(),
            }
        ));
        say(&format!(
            "key {} -> {} in {elapsed:.1} s",
            lab.first_record.short(),
            live.as_ref()
                .map(|r| r.short())
                .unwrap_or_else(|| "?".into())
        ));
        say("");
        say("history:");
        for entry in &history.entries {
            say(&format!("  {}", format_entry(entry)));
        }
        say("");
        say("status:");
        let now = OffsetDateTime::now_utc();
        let status = host_status(&saved, now, &engine.config.policy);
        for line in render_text(&[status], now).lines() {
            say(&format!("  {line}"));
        }
    }
    if args.keep {
        keep(&lab, &host, json)?;
        tokio::signal::ctrl_c().await.ok();
    }
    Ok(exit::code(if ok { exit::OK } else { exit::FAILED }))
}

fn keep(lab: &Lab, host: &str, json: bool) -> anyhow::Result<()> {
    if json {
        return Ok(());
    }
    let ip = lab.ip();
    let config = lab.config.display();
    for line in [
        String::new(),
        "the servers keep running (Ctrl-C to stop); try:".to_string(),
        format!("  dig @{ip} +dnssec +norec _25._tcp.{host} TLSA"),
        format!("  daneroll --config {config} records show {host}"),
        format!("  daneroll --config {config} status"),
        format!("  posttls-finger -c -l dane -P /etc/ssl/certs '[{ip}]:25'   # raw STARTTLS"),
        format!("files: {}", lab.dir.display()),
    ] {
        write_line(&line)?;
    }
    Ok(())
}
