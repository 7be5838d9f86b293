//! Mutation campaign in `cargo test` (seeded, deterministic): thousands of mutants of the
//! shipped case files, state files (kubectl YAML/JSON dumps, compact states) and rule dumps,
//! each fed to the library entry point that reads it — and, when it reads, to what runs on it
//! (the sim for cases, the analysis for states, normalization for rules). Every mutant must
//! give a result or a one-line error with exit code 2, never a panic, and within a bounded
//! time. Complements the `cargo fuzz` targets (docs/fuzzing.md) without nightly.

#[path = "common/mutate.rs"]
mod mutate;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mutate::{mutate, mutate_numbers, read_dir_texts, Rng};
use topo_harness::backend::sim::SimBackend;
use topo_harness::case::{parse_case, ProxyMode};
use topo_harness::explain::{explain_loaded, to_json, to_text, ExplainRequest};
use topo_harness::input::load_state_str;
use topo_harness::model::KubeVersion;
use topo_harness::observe::dataplane::{normalize, parse, render_json, render_text};
use topo_harness::plan::VersionSelection;
use topo_harness::runner::RunOptions;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Mutants per input kind: 3,000, or `TOPO_MUTANTS` for a longer campaign.
fn mutants() -> usize {
    std::env::var("TOPO_MUTANTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000)
}

/// The seed for `kind`, varied by `TOPO_SEED` for a different campaign.
fn seed(kind: u64) -> Rng {
    let extra: u64 = std::env::var("TOPO_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Rng(0x5eed_0000_0000_0012 ^ (kind << 32) ^ extra.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// The slowest single mutant allowed (a debug build on a shared machine).
const PER_MUTANT: Duration = Duration::from_secs(5);

/// What a campaign saw.
#[derive(Debug, Default)]
struct Tally {
    ok: usize,
    errors: usize,
    slowest: Duration,
    panics: Vec<String>,
}

impl Tally {
    /// Runs `check` on one mutant: a panic is recorded with the input that caused it; an error
    /// message must be one line; the time is bounded.
    fn run(&mut self, input: &str, check: impl FnOnce() -> Result<(), String>) {
        let started = Instant::now();
        match catch_unwind(AssertUnwindSafe(check)) {
            Ok(Ok(())) => self.ok += 1,
            Ok(Err(message)) => {
                self.errors += 1;
                assert!(
                    !message.trim_end().contains('\n'),
                    "a multi-line error:\n{message}\nfor input:\n{input}"
                );
            }
            Err(_) => self.panics.push(input.to_string()),
        }
        let elapsed = started.elapsed();
        self.slowest = self.slowest.max(elapsed);
        assert!(elapsed < PER_MUTANT, "{elapsed:?} for one mutant:\n{input}");
    }

    fn finish(self, what: &str, mutants: usize) {
        println!(
            "{what}: {mutants} mutants, {} read, {} errors (exit 2), slowest {:?}, {} panics",
            self.ok,
            self.errors,
            self.slowest,
            self.panics.len()
        );
        if let Some(first) = self.panics.first() {
            let file = std::env::temp_dir().join(format!("topo-harness-panic-{what}.txt"));
            let _ = std::fs::write(&file, first);
            panic!(
                "{} mutant(s) of {what} panicked; the first is in {}:\n{first}",
                self.panics.len(),
                file.display()
            );
        }
        assert!(self.ok > 0 && self.errors > 0, "{what}: {self:?}");
    }
}

/// Runs a valid case on the sim for one version it applies to (no snapshots).
fn run_on_sim(case: &topo_harness::case::Case) {
    let Some(version) = KubeVersion::all().find(|v| case.versions.contains(*v)) else {
        return;
    };
    let options = RunOptions {
        versions: VersionSelection::Explicit(vec![version]),
        proxy_modes: vec![ProxyMode::Iptables],
        filter: None,
        snapshots: None,
        dump_state: None,
    };
    let mut backend = SimBackend::new();
    let _ = topo_harness::runner::run(
        std::slice::from_ref(case),
        &mut backend,
        &options,
        &mut |_| {},
    );
}

#[test]
fn case_file_mutants_never_panic() {
    let seeds = read_dir_texts(&root().join("cases"));
    assert!(seeds.len() >= 20, "found {} cases", seeds.len());
    let mut rng = seed(1);
    let mut tally = Tally::default();
    let mutants = mutants();
    for i in 0..mutants {
        let (_, base) = &seeds[rng.below(seeds.len())];
        // Every other mutant changes numbers only, so many reach the sim.
        let input = if i % 2 == 0 {
            mutate(&mut rng, base)
        } else {
            mutate_numbers(&mut rng, base)
        };
        tally.run(&input, || {
            match parse_case(&input, "m.yaml", Path::new("m.yaml")) {
                Ok(case) => {
                    run_on_sim(&case);
                    Ok(())
                }
                Err(errors) => Err(errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" | ")),
            }
        });
    }
    tally.finish("case files", mutants);
}

#[test]
fn state_file_mutants_never_panic() {
    let mut seeds = read_dir_texts(&root().join("fixtures/states"));
    seeds.extend(read_dir_texts(&root().join("fixtures/rules/state")));
    assert!(seeds.len() >= 5, "found {} states", seeds.len());
    let mut rng = seed(2);
    let mut tally = Tally::default();
    let mutants = mutants();
    let path = Path::new("m.yaml");
    for i in 0..mutants {
        let (_, base) = &seeds[rng.below(seeds.len())];
        let input = if i % 2 == 0 {
            mutate(&mut rng, base)
        } else {
            mutate_numbers(&mut rng, base)
        };
        tally.run(&input, || {
            let loaded = load_state_str(&input, "m.yaml").map_err(|e| {
                assert_eq!(e.exit_code(), 2);
                e.to_string()
            })?;
            let request = ExplainRequest {
                file: path,
                kubernetes: None,
                gates: &[],
            };
            let (analysis, notes) = explain_loaded(&loaded, &request).map_err(|e| {
                assert_eq!(e.exit_code(), 2);
                e.to_string()
            })?;
            let _ = to_json(&analysis);
            let _ = to_text(&analysis, &notes);
            Ok(())
        });
    }
    tally.finish("state files", mutants);
}

#[test]
fn rule_dump_mutants_never_panic() {
    let mut seeds = Vec::new();
    for mode in ["iptables", "nftables", "ipvs"] {
        seeds.extend(read_dir_texts(&root().join("fixtures/rules").join(mode)));
    }
    assert!(seeds.len() >= 10, "found {} dumps", seeds.len());
    let mut rng = seed(3);
    let mut tally = Tally::default();
    let mutants = mutants();
    for _ in 0..mutants {
        let (_, base) = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, base);
        for mode in [ProxyMode::Iptables, ProxyMode::Nftables, ProxyMode::Ipvs] {
            tally.run(&input, || {
                let routes = parse(mode, &input).map_err(|e| e.to_string())?;
                let normalized = normalize(&routes, None);
                let _ = render_json(mode, None, &normalized);
                let _ = render_text(mode, None, &normalized);
                Ok(())
            });
        }
    }
    tally.finish("rule dumps", mutants * 3);
}
