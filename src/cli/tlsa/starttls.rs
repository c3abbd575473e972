//! `daneroll tlsa --starttls HOST[:PORT]`: the records for the certificate the server presents
//! now (the "pull what port 25 actually serves" step of every DANE guide, in one command).
//!
//! Every address of the host is probed, concurrently, as a sender would reach any of them
//! (RFC 7672 §2.2.2). Records are printed once per distinct chain; when addresses present
//! different chains the operator is told which address serves which, because publishing the
//! records of one of them leaves the others failing.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::Args;

use super::{Settings, records_for};
use crate::cli::records::Session;
use crate::exit;
use crate::output::write_stdout;
use crate::pki::{Certificate, Item};
use crate::probe::lookup::Dns;
use crate::probe::{ProbeSettings, Prober, Target, Timeouts};

/// `--starttls` and its companions.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Probe this server and print records for the chain it presents: HOST, HOST:PORT or
    /// [IPv6]:PORT (default port 25 or --port; 465 speaks implicit TLS). No mail is sent.
    #[arg(long, value_name = "HOST[:PORT]", conflicts_with = "files")]
    pub starttls: Option<String>,

    /// Connect to this address instead of resolving HOST (SNI and names still use HOST).
    /// May be repeated.
    #[arg(long = "address", value_name = "IP", requires = "starttls")]
    pub addresses: Vec<IpAddr>,

    /// Seconds allowed for each phase (connect, banner, each reply, handshake).
    #[arg(long, value_name = "SECONDS", default_value_t = 10, requires = "starttls",
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,
}

impl ServerArgs {
    /// The port given in `--starttls HOST:PORT`, if any.
    pub fn port(&self) -> Result<Option<u16>, String> {
        match &self.starttls {
            Some(text) => Ok(split_host_port(text)?.1),
            None => Ok(None),
        }
    }
}

/// `HOST`, `HOST:PORT`, `[V6]:PORT` or a bare IPv6 address.
fn split_host_port(text: &str) -> Result<(String, Option<u16>), String> {
    let bad = |why: &str| format!("--starttls {text:?}: {why}");
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| bad("missing ] after the IPv6 address"))?;
        let port = match after.strip_prefix(':') {
            Some(port) => Some(
                port.parse()
                    .map_err(|_| bad("the port is not a number 1-65535"))?,
            ),
            None if after.is_empty() => None,
            None => return Err(bad("expected :PORT after ]")),
        };
        return Ok((host.to_string(), port));
    }
    if text.parse::<IpAddr>().is_ok() {
        return Ok((text.to_string(), None));
    }
    match text.rsplit_once(':') {
        Some((host, port)) => {
            let port: u16 = port
                .parse()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("the port is not a number 1-65535"))?;
            Ok((host.to_string(), Some(port)))
        }
        None => Ok((text.to_string(), None)),
    }
}

/// Probes and prints; host names are resolved through the config's `[validation] resolver`
/// (else the first `nameserver` of /etc/resolv.conf), as every other command resolves.
pub(super) fn run(
    args: &ServerArgs,
    settings: Settings,
    config_flag: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    // invariant: run is only called when --starttls was given, and validate() parsed it.
    let text = args.starttls.as_deref().expect("--starttls given");
    let (host, _) = match split_host_port(text) {
        Ok(parts) => parts,
        Err(message) => {
            eprintln!("daneroll tlsa: {message}");
            return Ok(exit::code(exit::BAD_INPUT));
        }
    };
    let host = match host.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => match super::check_host_name(&host) {
            Ok(host) => host,
            Err(message) => {
                eprintln!("daneroll tlsa: --starttls: {message}");
                return Ok(exit::code(exit::BAD_INPUT));
            }
        },
    };
    let port = settings.owner.port();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(probe_and_print(args, &host, port, &settings, config_flag))
}

async fn probe_and_print(
    args: &ServerArgs,
    host: &str,
    port: u16,
    settings: &Settings,
    config_flag: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let addresses = match addresses(args, host, config_flag).await {
        Ok(addresses) => addresses,
        Err(message) => {
            eprintln!("daneroll tlsa: {message}");
            return Ok(exit::code(exit::FAILED));
        }
    };
    let probe_settings = ProbeSettings {
        timeouts: Timeouts::uniform(Duration::from_secs(args.timeout)),
        ..ProbeSettings::default()
    };
    let prober = Prober::new(probe_settings)?;
    let targets = addresses
        .iter()
        .map(|ip| Target::new(host, SocketAddr::new(*ip, port)))
        .collect();
    let mut status = exit::OK;
    // Distinct chains in first-seen order, with the targets that presented each.
    let mut chains: Vec<(Vec<Vec<u8>>, Vec<String>)> = Vec::new();
    for report in prober.probe_all(targets).await {
        match report.outcome {
            Err(error) => {
                eprintln!("daneroll tlsa: {}: {error}", report.target);
                status = exit::FAILED;
            }
            Ok(presented) => {
                let chain: Vec<Vec<u8>> = presented.chain.iter().map(|c| c.to_vec()).collect();
                match chains.iter_mut().find(|(seen, _)| *seen == chain) {
                    Some((_, targets)) => targets.push(report.target.to_string()),
                    None => chains.push((chain, vec![report.target.to_string()])),
                }
            }
        }
    }
    if chains.len() > 1 {
        eprintln!(
            "daneroll tlsa: the addresses of {host} present {} different chains:",
            chains.len()
        );
        for (_, targets) in &chains {
            eprintln!("  {}", targets.join(", "));
        }
        if status == exit::OK {
            status = exit::ACTION_NEEDED;
        }
    }
    for (chain, targets) in &chains {
        let items: Vec<Item> = match chain
            .iter()
            .map(|der| Certificate::from_der(der.clone()).map(Item::Certificate))
            .collect::<Result<_, _>>()
        {
            Ok(items) => items,
            Err(error) => {
                eprintln!(
                    "daneroll tlsa: {}: a presented certificate: {error}",
                    targets[0]
                );
                status = exit::FAILED;
                continue;
            }
        };
        let (output, problems) = records_for(&targets[0], &items, settings)?;
        for problem in &problems {
            eprintln!("daneroll tlsa: {}: {problem}", targets[0]);
            status = exit::FAILED;
        }
        if !write_stdout(&output)? {
            break;
        }
    }
    Ok(exit::code(status))
}

/// `--address` values, or the host's A and AAAA records from the configured resolver.
async fn addresses(
    args: &ServerArgs,
    host: &str,
    config_flag: Option<&std::path::Path>,
) -> Result<Vec<IpAddr>, String> {
    if !args.addresses.is_empty() {
        return Ok(args.addresses.clone());
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let session = Session::open(config_flag, false).map_err(|refusal| refusal.message)?;
    let dns = Dns::new(
        &*session.transport,
        session.resolver,
        &session.anchors,
        SystemTime::now(),
    );
    let answer = dns
        .addresses(host)
        .await
        .map_err(|e| format!("cannot resolve {host} through {}: {e}", session.resolver))?;
    let mut ips: Vec<IpAddr> = Vec::new();
    for ip in answer.records {
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    if ips.is_empty() {
        return Err(format!(
            "{host} has no IPv4 or IPv6 address (resolver {} answered {})",
            session.resolver, answer.rcode
        ));
    }
    Ok(ips)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_forms() {
        let ok = |text: &str| split_host_port(text).unwrap();
        assert_eq!(ok("mx.example.com"), ("mx.example.com".into(), None));
        assert_eq!(
            ok("mx.example.com:587"),
            ("mx.example.com".into(), Some(587))
        );
        assert_eq!(ok("[2001:db8::25]:465"), ("2001:db8::25".into(), Some(465)));
        assert_eq!(ok("[::1]"), ("::1".into(), None));
        assert_eq!(ok("2001:db8::25"), ("2001:db8::25".into(), None));
        assert_eq!(ok("192.0.2.25:25"), ("192.0.2.25".into(), Some(25)));
        for bad in ["mx:0", "mx:port", "[::1", "[::1]x", "mx:70000"] {
            assert!(split_host_port(bad).is_err(), "{bad}");
        }
    }
}
