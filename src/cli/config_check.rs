//! `daneroll config check [FILE]`: validates a configuration file and prints the effective
//! settings (defaults filled in), then checks what the file refers to: TSIG key files, API
//! tokens, certificate and key paths, commands. A file that does not parse exits 2 naming the
//! line and key; a valid file whose credentials or paths are missing exits 4 and says which and
//! why; exit 0 means `tick` can run. Secrets are read to check them, never printed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use daneroll_providers::tsig::TsigKey;

use crate::config::{Config, DeployFiles, DnsBackend, format_duration};
use crate::exit;
use crate::output::write_line;

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the file and show the effective settings. Exit 0 valid and complete, 4 valid
    /// but a credential or path is missing (named), 2 invalid.
    Check {
        /// The file (default: --config, $DANEROLL_CONFIG, /etc/daneroll/daneroll.toml).
        file: Option<PathBuf>,
    },
}

pub fn run(args: ConfigArgs, config_flag: Option<&Path>) -> anyhow::Result<ExitCode> {
    let ConfigCommand::Check { file } = args.command;
    let (path, _) = Config::locate(file.as_deref().or(config_flag));
    let config = match Config::load(&path) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("daneroll: {error}");
            return Ok(exit::code(exit::BAD_INPUT));
        }
    };
    let mut problems = Vec::new();
    for line in effective(&config, &mut problems) {
        write_line(&line)?;
    }
    if problems.is_empty() {
        write_line(&format!("{}: valid", path.display()))?;
        return Ok(exit::code(exit::OK));
    }
    for problem in &problems {
        eprintln!("daneroll: {problem}");
    }
    eprintln!(
        "daneroll: {}: valid syntax, but {} problem(s) above must be fixed before `tick` can run",
        path.display(),
        problems.len()
    );
    Ok(exit::code(exit::ACTION_NEEDED))
}

fn file_problem(what: &str, path: &Path) -> Option<String> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => None,
        Ok(_) => Some(format!("{what} {} is not a regular file", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Some(format!("{what} {} does not exist (yet)", path.display()))
        }
        Err(e) => Some(format!("{what} {}: {e}", path.display())),
    }
}

fn program_problem(what: &str, argv: &[String]) -> Option<String> {
    let program = argv.first()?;
    let found = if program.contains('/') {
        Path::new(program).is_file()
    } else {
        std::env::var_os("PATH").is_some_and(|paths| {
            std::env::split_paths(&paths).any(|dir| dir.join(program).is_file())
        })
    };
    (!found).then(|| format!("{what}: program {program:?} not found"))
}

/// The effective settings as lines; problems found on the way go to `problems`.
fn effective(config: &Config, problems: &mut Vec<String>) -> Vec<String> {
    let policy = &config.policy;
    let mut lines = vec![
        format!("state_dir = {:?}", config.state_dir.display().to_string()),
        "[policy]".into(),
        format!("safety_factor = {}", policy.safety_factor.value()),
        format!(
            "poll_interval = {:?}",
            format_duration(policy.poll_interval)
        ),
        format!(
            "recheck_interval = {:?}",
            format_duration(policy.recheck_interval)
        ),
        format!("key_max_age = {:?}", format_duration(policy.key_max_age)),
        "[validation]".into(),
        format!(
            "trust_anchor_file = {}",
            config
                .validation
                .trust_anchor_file
                .as_ref()
                .map(|p| format!("{:?}", p.display().to_string()))
                .unwrap_or_else(|| "(built-in root KSKs)".into())
        ),
        format!(
            "resolver = {}",
            config
                .validation
                .resolver
                .map(|r| format!("{:?}", r.to_string()))
                .unwrap_or_else(|| "(first nameserver in /etc/resolv.conf)".into())
        ),
    ];
    if let Some(file) = &config.validation.trust_anchor_file {
        problems.extend(file_problem("[validation] trust_anchor_file", file));
    }
    for (name, backend) in &config.dns {
        lines.push(format!("[dns.{name}]"));
        match backend {
            DnsBackend::Rfc2136 {
                server,
                tsig_key_file,
            } => {
                lines.push("type = \"rfc2136\"".into());
                lines.push(format!(
                    "server = {}",
                    server
                        .map(|s| format!("{:?}", s.to_string()))
                        .unwrap_or_else(|| "(the SOA MNAME's addresses)".into())
                ));
                lines.push(format!(
                    "tsig_key_file = {:?}",
                    tsig_key_file.display().to_string()
                ));
                if let Err(error) = TsigKey::from_file(tsig_key_file, None) {
                    problems.push(format!(
                        "[dns.{name}] tsig_key_file: {error} (make one with `tsig-keygen -a \
                         hmac-sha256 NAME` and allow it in the zone's update-policy)"
                    ));
                }
            }
            DnsBackend::Rest(settings) => {
                lines.push(format!(
                    "type = {:?} ({})",
                    settings_type(settings),
                    settings.provider()
                ));
                lines.push(format!("api_url = {:?}", settings.api_url()));
                match settings.check(name) {
                    Ok(warnings) => problems.extend(warnings),
                    Err(error) => problems.push(format!(
                        "{error} (the token is read from token_file or the environment \
                         variable token_env names; it never goes into this file)"
                    )),
                }
            }
        }
    }
    for host in &config.hosts {
        lines.push("[[host]]".into());
        lines.push(format!("name = {:?}", host.name));
        if !host.other_names.is_empty() {
            lines.push(format!("other_names = {:?}", host.other_names));
        }
        lines.push(format!("ports = {:?}", host.ports));
        lines.push(format!("dns = {:?}", host.dns));
        lines.push(format!("mail_domains = {:?}", host.mail_domains));
        lines.push(format!("key_type = {:?}", host.key_type.name()));
        lines.push(format!("ttl = {}", host.ttl));
        let who = format!("host {}", host.name);
        match &host.deploy {
            None => problems.push(format!(
                "{who}: no [host.deploy] table: tick and rollover cannot see or install its \
                 certificate"
            )),
            Some(deploy) => {
                lines.push("[host.deploy]".into());
                match &deploy.files {
                    DeployFiles::Combined(path) => {
                        lines.push(format!("combined_file = {:?}", path.display().to_string()));
                        problems.extend(file_problem(&format!("{who}: combined_file"), path));
                    }
                    DeployFiles::Separate {
                        key_file,
                        cert_file,
                    } => {
                        lines.push(format!("key_file = {:?}", key_file.display().to_string()));
                        lines.push(format!("cert_file = {:?}", cert_file.display().to_string()));
                        problems.extend(file_problem(&format!("{who}: deploy key_file"), key_file));
                        problems.extend(file_problem(&format!("{who}: cert_file"), cert_file));
                    }
                }
                match &deploy.reload {
                    Some(reload) => {
                        lines.push(format!("reload = {reload:?}"));
                        problems.extend(program_problem(&format!("{who}: reload"), reload));
                    }
                    None => lines.push("reload = (none: the MTA rereads its files itself)".into()),
                }
            }
        }
        if let Some(source) = &host.source {
            lines.push("[host.source]".into());
            if let Some(path) = &source.certificate_file {
                lines.push(format!(
                    "certificate_file = {:?}",
                    path.display().to_string()
                ));
            }
            if let Some(path) = &source.key_file {
                lines.push(format!("key_file = {:?}", path.display().to_string()));
                problems.extend(file_problem(&format!("{who}: source key_file"), path));
            }
            if let Some(command) = &source.command {
                lines.push(format!("command = {command:?}"));
                problems.extend(program_problem(&format!("{who}: source command"), command));
            }
            if let Some(acme) = &source.acme {
                lines.push(format!("type = {:?}", acme.client().name()));
                let renew = source.renew_command.clone().unwrap_or_else(|| {
                    let stock = crate::acme::status::stock_renew_command(acme);
                    std::iter::once(stock.program.display().to_string())
                        .chain(stock.args)
                        .collect()
                });
                let shown = if source.renew_command.is_some() {
                    ""
                } else {
                    " (stock)"
                };
                lines.push(format!("renew_command = {renew:?}{shown}"));
                problems.extend(program_problem(&format!("{who}: renew_command"), &renew));
            }
        }
    }
    lines
}

fn settings_type(settings: &daneroll_providers::settings::ProviderSettings) -> &'static str {
    settings.kind()
}
