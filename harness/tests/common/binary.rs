//! Running the `topo-harness` binary from the repository root, for the test binaries that
//! check its output files.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A path in the temporary directory, unique to this test process.
pub fn temp(prefix: &str, name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "topo-harness-{prefix}-{}-{name}",
        std::process::id()
    ))
}

/// Runs `topo-harness ARGS` in the repository root.
pub fn topo(args: &[&str]) -> Output {
    match Command::new(env!("CARGO_BIN_EXE_topo-harness"))
        .args(args)
        .current_dir(root())
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!("cannot run topo-harness: {e}"),
    }
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A tool a test needs is missing: the test may skip (returns `None` after printing
/// `skipped: …`), unless `require_env` is set to `1`, which makes the missing tool a failure.
#[allow(dead_code)]
pub fn missing_tool<T>(require_env: &str, what: &str, install: &str) -> Option<T> {
    if std::env::var(require_env).as_deref() == Ok("1") {
        panic!("{require_env}=1 but {what} ({install})");
    }
    eprintln!("skipped: {what} (set {require_env}=1 to fail instead)");
    None
}

/// Runs `topo-harness run ARGS` with its reports in `dir`: `junit.xml`, `summary.md`,
/// `index.html`.
#[allow(dead_code)]
pub fn run_into(dir: &std::path::Path, args: &[&str]) -> Output {
    let junit = dir.join("junit.xml");
    let summary = dir.join("summary.md");
    let html = dir.join("index.html");
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    let reports = [
        ("--junit", &junit),
        ("--summary", &summary),
        ("--html", &html),
    ];
    for (flag, path) in &reports {
        all.push(flag);
        all.push(
            path.to_str()
                .unwrap_or_else(|| panic!("{}: not UTF-8", path.display())),
        );
    }
    topo(&all)
}

/// A small run with a pass, a failure and a skip: the seed case and a deliberately wrong case
/// (which applies to 1.34 only) on 1.21 and 1.34 with iptables.
#[allow(dead_code)]
pub const PASS_FAIL_AND_SKIP: [&str; 8] = [
    "cases/seed-001-kube-dns-two-zones.yaml",
    "harness/tests/fixtures/wrong-cases/wrong-expectation.yaml",
    "--kubernetes",
    "1.21",
    "--kubernetes",
    "1.34",
    "--proxy-mode",
    "iptables",
];
