//! Benchmark, not a test: `daneroll check` against 100 MX hosts on loopback, compared in the
//! same run with a loop of `posttls-finger -c -l dane` over the same hosts (what an operator
//! would script without daneroll). Prints wall time and peak memory; asserts only that both
//! tools reach the same verdict (every host verified), never a duration.
//!
//! Run by hand, in release mode:
//! `cargo test --release --test integration bench_check -- --ignored --nocapture`
//!
//! Setup: the lab's `bench-K.mx.example.` hosts (K = 1…100, each `127.N.26.K`, in the signed
//! `mx.example.` zone), one Postfix master with an `smtpd` on each address presenting its own
//! self-signed certificate, and per host a `3 1 1` for the current and for a next key.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::certs::TestCert;
use crate::lab::Lab;
use crate::lab::postfix::Postfix;
use crate::lab::zones::BENCH_HOSTS;
use crate::util::Dir;

const ROUNDS: usize = 5;

/// Wall time, peak RSS (KiB) and CPU time of one child process tree, from wait4(2).
struct Measured {
    wall: Duration,
    rss_kib: i64,
    cpu: Duration,
    /// CPU the Postfix processes spent meanwhile (the server side of every handshake).
    server_cpu: Duration,
    output: String,
    code: Option<i32>,
}

// The child is reaped by wait4(2), which std's `Child::wait` cannot replace (no rusage).
#[allow(clippy::zombie_processes)]
fn measure(mut command: Command, out: &std::path::Path) -> Measured {
    let file = std::fs::File::create(out).expect("create output file");
    let err = out.with_extension("err");
    command
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(std::fs::File::create(&err).expect("create error file"));
    let started = Instant::now();
    let child = command.spawn().expect("spawn");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child's pid with valid pointers; the child is not waited twice.
    let rc = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    assert_eq!(rc, child.id() as i32, "wait4");
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    let mut text = std::fs::read_to_string(out).unwrap_or_default();
    text.push_str(&std::fs::read_to_string(&err).unwrap_or_default());
    let seconds = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Measured {
        wall: elapsed,
        rss_kib: usage.ru_maxrss,
        cpu: seconds(usage.ru_utime) + seconds(usage.ru_stime),
        server_cpu: Duration::ZERO,
        output: text,
        code,
    }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

#[test]
#[ignore = "benchmark: run by hand with --release -- --ignored --nocapture"]
fn bench_check_100_hosts_vs_posttls_finger_loop() {
    let lab = Lab::start();
    let hosts: Vec<(String, Ipv4Addr)> = (1..=BENCH_HOSTS)
        .map(|k| (format!("bench-{k}.mx.example"), lab.bench_host(k)))
        .collect();
    let addresses: Vec<Ipv4Addr> = hosts.iter().map(|(_, ip)| *ip).collect();
    lab.add_addresses(&addresses)
        .unwrap_or_else(|e| panic!("{e}"));

    let mut updates = String::new();
    let mut listeners = Vec::new();
    for (host, ip) in &hosts {
        let current = TestCert::self_signed(&[host]);
        let next = TestCert::self_signed(&[host]);
        for record in [current.dane_ee(), next.dane_ee()] {
            updates.push_str(&format!("update add _25._tcp.{host}. 5 TLSA {record}\n"));
        }
        listeners.push((*ip, current.postfix_chain_file()));
    }
    lab.nsupdate(&lab.keys.mx, &lab.mx, &updates)
        .unwrap_or_else(|e| panic!("{e}"));
    lab.wait_secondary_synced();
    lab.flush_resolver();
    let dir = Dir::new();
    let postfix =
        Postfix::try_start_many(&dir.join("postfix"), "bench.mx.example", &listeners, true)
            .unwrap_or_else(|e| panic!("{e}"));

    let daneroll = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_daneroll"));
        command
            .args(["check", "--resolver", &lab.resolver.to_string()])
            .arg("--trust-anchor")
            .arg(&lab.trust_anchor);
        for (host, _) in &hosts {
            command.args(["--host", host]);
        }
        command
    };
    let resolv_conf = dir.write(
        "resolv.conf",
        format!("nameserver {}\noptions trust-ad\n", lab.resolver.ip()),
    );
    let finger_loop = || {
        let script = format!(
            "mount --bind {} /etc/resolv.conf && for k in $(seq 1 {BENCH_HOSTS}); do \
             posttls-finger -c -l dane \"[bench-$k.mx.example]\"; done",
            resolv_conf.display()
        );
        let mut command = Command::new("unshare");
        command
            .args(["-m", "sh", "-c", &script])
            .env("MAIL_CONFIG", postfix.config_dir());
        command
    };

    let warnings = |log: String| -> String {
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("warning") || l.contains("fatal") || l.contains("panic"))
            .collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    };
    // Warm-up (fills unbound's cache for both) and the verdicts, which must agree.
    let run = measure(daneroll(), &dir.join("daneroll.out"));
    assert_eq!(
        run.code,
        Some(0),
        "daneroll check is not OK:\n{}\npostfix:\n{}",
        run.output,
        warnings(postfix.log())
    );
    assert!(
        run.output
            .starts_with("DANE OK - 100 host(s), 100 address(es)"),
        "{}",
        run.output
    );
    let run = measure(finger_loop(), &dir.join("finger.out"));
    let verified = run
        .output
        .matches("Verified TLS connection established")
        .count();
    assert_eq!(
        verified,
        hosts.len(),
        "posttls-finger disagrees:\n{}",
        run.output
    );

    let with_server = |command: Command, out: &std::path::Path| {
        let before = postfix.children_cpu();
        let mut run = measure(command, out);
        run.server_cpu = postfix.children_cpu().saturating_sub(before);
        run
    };
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let run = with_server(daneroll(), &dir.join("daneroll.out"));
        assert_eq!(run.code, Some(0), "{}", run.output);
        ours.push(run);
        theirs.push(with_server(finger_loop(), &dir.join("finger.out")));
    }
    println!(
        "\nbenchmark: {BENCH_HOSTS} MX hosts on loopback, {ROUNDS} rounds, warm resolver cache"
    );
    let ours_median = report("daneroll check", &ours);
    let theirs_median = report("posttls-finger loop", &theirs);
    println!(
        "speed-up (median wall):  {:.1}x",
        theirs_median.as_secs_f64() / ours_median.as_secs_f64()
    );
}

/// Prints one line and returns the median wall time.
fn report(name: &str, runs: &[Measured]) -> Duration {
    let wall = median(runs.iter().map(|r| r.wall).collect());
    let min = runs.iter().map(|r| r.wall).min().unwrap_or_default();
    let cpu = median(runs.iter().map(|r| r.cpu).collect());
    let server = median(runs.iter().map(|r| r.server_cpu).collect());
    let rss = runs.iter().map(|r| r.rss_kib).max().unwrap_or_default();
    println!(
        "{name:<22} wall median {:>7.1} ms (min {:>7.1} ms), CPU {:>7.1} ms, Postfix CPU {:>6.1} ms, peak RSS {rss} KiB",
        wall.as_secs_f64() * 1e3,
        min.as_secs_f64() * 1e3,
        cpu.as_secs_f64() * 1e3,
        server.as_secs_f64() * 1e3,
    );
    wall
}
