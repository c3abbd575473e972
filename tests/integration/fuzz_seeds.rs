//! The fuzz targets (`fuzz/targets.rs`), bounded, in every `cargo test`: each target runs over
//! its committed seed corpus (`fuzz/corpus/TARGET/`), every regression input
//! (`fuzz/regressions/TARGET/`, crashes the fuzzer found), and a fixed number of mutations of
//! each seed made by a seeded generator, so a run is the same every time and takes seconds.
//! The open-ended search is `cargo +nightly fuzz run TARGET` (see `fuzz/README.md`).

use std::path::{Path, PathBuf};

use daneroll::dns::observation::{Answer, Dnssec};

#[path = "../../fuzz/targets.rs"]
mod targets;

/// Mutations per seed and target.
const MUTATIONS: usize = 1000;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The seed corpus and regression inputs of `target`, in a stable order.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut all = Vec::new();
    for dir in ["corpus", "regressions"] {
        let dir = fuzz_dir().join(dir).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                all.push((path, bytes));
            }
        }
    }
    all.sort();
    all
}

/// xorshift64*: deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// One to four byte-level edits of `seed` (flip, overwrite with a boundary value, insert,
/// delete, duplicate, truncate, or splice in a piece of `other`), as libFuzzer's do.
fn mutate(seed: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len().max(1));
        match rng.below(7) {
            0 if !out.is_empty() => out[at] ^= 1 << rng.below(8),
            1 if !out.is_empty() => out[at] = [0, 1, 0x7f, 0x80, 0xff][rng.below(5)],
            2 => out.insert(at.min(out.len()), rng.next() as u8),
            3 if !out.is_empty() => {
                let end = (at + 1 + rng.below(8)).min(out.len());
                out.drain(at..end);
            }
            4 if !out.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                let piece = out[at..end].to_vec();
                let to = rng.below(out.len());
                out.splice(to..to, piece);
            }
            5 => out.truncate(at),
            _ if !other.is_empty() => {
                let from = rng.below(other.len());
                let end = (from + 1 + rng.below(32)).min(other.len());
                let to = at.min(out.len());
                out.splice(to..to, other[from..end].iter().copied());
            }
            _ => {}
        }
    }
    out
}

#[test]
fn every_fuzz_target_survives_its_corpus_and_bounded_mutations() {
    for (target, run) in targets::TARGETS {
        let inputs = inputs(target);
        assert!(
            inputs.len() >= 2,
            "fuzz/corpus/{target} needs seeds (found {})",
            inputs.len()
        );
        let mut rng = Rng(0x00da_4e20_11ee_u64 ^ target.len() as u64);
        for (index, (path, seed)) in inputs.iter().enumerate() {
            run(seed);
            let other = &inputs[(index + 1) % inputs.len()].1;
            for _ in 0..MUTATIONS {
                let input = mutate(seed, other, &mut rng);
                // A panic here names the target and seed; the input is reproduced by the seed.
                let outcome = std::panic::catch_unwind(|| run(&input));
                assert!(
                    outcome.is_ok(),
                    "{target} panicked on a mutation of {} (input {:02x?}); save it under fuzz/regressions/{target}/",
                    path.display(),
                    input
                );
            }
        }
    }
}

#[test]
fn the_dns_answer_seeds_reach_the_signature_and_proof_checks() {
    // Seeds that stopped verifying (a changed key, an expired window) would leave the fuzzer
    // exploring only the parser: each must still be judged valid.
    for (path, seed) in inputs("dns_answer")
        .into_iter()
        .filter(|(p, _)| p.to_string_lossy().contains("/corpus/"))
        .filter(|(p, _)| !p.ends_with("dnskey"))
    {
        let answer = targets::judge(&seed).expect("a DNS message");
        let Answer::Served(served) = &answer else {
            panic!("{}: {answer:?}", path.display());
        };
        assert!(
            matches!(
                served.dnssec,
                Dnssec::Signed { .. } | Dnssec::ProvenAbsent { .. }
            ),
            "{}: {}",
            path.display(),
            served.dnssec
        );
    }
}

/// Rewrites `fuzz/corpus/dns_answer/` from `targets::dns_answer_seeds` (ECDSA signatures are
/// randomized, so the files change each time: run it only when the seeds must change).
#[test]
#[ignore]
fn write_dns_answer_seeds() {
    let dir = fuzz_dir().join("corpus").join("dns_answer");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in targets::dns_answer_seeds() {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
