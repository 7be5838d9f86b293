//! Determinism: the same input gives byte-identical output — `explain -o json|text`,
//! `rules -o json`, the catalog's JUnit XML, Markdown summary and terminal output (apart from
//! measured durations, the one thing a clock decides), and every case's semantic snapshot.
//! Each is produced twice, by separate processes where the binary produces it.

use std::path::{Path, PathBuf};
use std::process::Output;

#[path = "common/binary.rs"]
#[allow(dead_code)] // shared helpers; this file uses only some of them
mod binary;

use binary::{root, topo};
use topo_harness::backend::sim::SimBackend;
use topo_harness::case::{load_catalog, ProxyMode};
use topo_harness::plan::VersionSelection;
use topo_harness::runner::{run, RunOptions};
use topo_harness::snapshot::{render_case, Rendered};

fn files(dir: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Runs `args` twice; both runs must have the same exit code and byte-identical output.
fn twice(args: &[&str]) -> Output {
    let first = topo(args);
    let second = topo(args);
    assert_eq!(first.status.code(), second.status.code(), "{args:?}");
    assert!(
        first.stdout == second.stdout,
        "{args:?}: stdout differs between two runs"
    );
    assert!(
        first.stderr == second.stderr,
        "{args:?}: stderr differs between two runs"
    );
    first
}

#[test]
fn explain_output_is_byte_identical_across_runs() {
    let states = files("fixtures/states");
    assert!(states.len() >= 5);
    for state in &states {
        let name = state.to_string_lossy();
        for output in ["json", "text"] {
            let out = twice(&["explain", name.as_ref(), "-o", output]);
            assert_eq!(out.status.code(), Some(0), "{name} -o {output}");
            assert!(!out.stdout.is_empty());
        }
    }
}

#[test]
fn rules_output_is_byte_identical_across_runs() {
    let mut dumps = 0;
    for (dir, mode) in [
        ("fixtures/rules/iptables", "iptables"),
        ("fixtures/rules/nftables", "nftables"),
        ("fixtures/rules/ipvs", "ipvs"),
    ] {
        for dump in files(dir) {
            let name = dump.to_string_lossy();
            twice(&["rules", name.as_ref(), "--mode", mode, "-o", "json"]);
            dumps += 1;
        }
    }
    assert!(dumps >= 20, "{dumps} dumps");
}

/// Masks the measured durations: `time="…"` attributes, `(… s)` and `… ms` figures.
fn without_durations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(|c: char| c.is_ascii_digit()) {
        let (before, tail) = rest.split_at(at);
        out.push_str(before);
        let len = tail
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(tail.len());
        let (number, after) = tail.split_at(len);
        let timed = before.ends_with("time=\"")
            || after.starts_with(" s)")
            || after.starts_with(" ms")
            || after.starts_with(" s,");
        out.push_str(if timed { "#" } else { number });
        rest = after;
    }
    out.push_str(rest);
    out
}

#[test]
fn duration_masking_masks_durations_only() {
    assert_eq!(
        without_durations("<testsuite tests=\"24\" time=\"0.002\"> 3 passed (96 checks; 0.02 s) (2 checks, 4.8 ms)"),
        "<testsuite tests=\"24\" time=\"#\"> 3 passed (96 checks; # s) (2 checks, # ms)"
    );
}

#[test]
fn catalog_reports_are_identical_across_runs_but_for_durations() {
    let dir = std::env::temp_dir().join(format!("topo-harness-determinism-{}", std::process::id()));
    let mut outputs = Vec::new();
    for run_index in 0..2 {
        let junit = dir.join(format!("junit-{run_index}.xml"));
        let summary = dir.join(format!("summary-{run_index}.md"));
        let out = topo(&[
            "run",
            "--junit",
            &junit.to_string_lossy(),
            "--summary",
            &summary.to_string_lossy(),
            "--html",
            &dir.join(format!("index-{run_index}.html"))
                .to_string_lossy(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        outputs.push((
            read(&junit),
            read(&summary),
            // The recap names this run's own report files; everything else must match.
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| !l.starts_with("reports: "))
                .collect::<Vec<_>>()
                .join("\n"),
        ));
    }
    let (a, b) = (&outputs[0], &outputs[1]);
    assert!(a.0.contains("<testsuite ") && a.1.starts_with("# "));
    assert_eq!(without_durations(&a.0), without_durations(&b.0), "JUnit");
    assert_eq!(without_durations(&a.1), without_durations(&b.1), "summary");
    assert_eq!(without_durations(&a.2), without_durations(&b.2), "terminal");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn snapshots_are_byte_identical_across_runs() {
    let (cases, errors) = load_catalog(&[root().join("cases")]);
    assert!(errors.is_empty() && cases.len() >= 20);
    let options = RunOptions {
        versions: VersionSelection::EveryApplicable,
        proxy_modes: vec![ProxyMode::Iptables],
        filter: None,
        snapshots: None,
        dump_state: None,
    };
    for case in &cases {
        let render = || {
            let summary = run(
                std::slice::from_ref(case),
                &mut SimBackend::new(),
                &options,
                &mut |_| {},
            );
            let steps: Vec<String> = case.steps.iter().map(|s| s.name.clone()).collect();
            let rendered: Vec<Rendered> = summary.rendered.into_iter().map(|(_, r)| r).collect();
            render_case(&case.name, &steps, &rendered)
        };
        let (first, second) = (render(), render());
        assert!(!first.is_empty());
        assert!(
            first == second,
            "{}: snapshot differs between runs",
            case.name
        );
        let golden = root().join(format!("fixtures/snapshots/{}.snap", case.name));
        let stored = std::fs::read_to_string(golden).unwrap_or_default();
        assert!(
            stored.ends_with(&first) || stored.contains(first.trim()),
            "{}: the rendering differs from the golden snapshot",
            case.name
        );
    }
}
