//! The built-in catalog and `examples/upstream-cases/` on real upstream kube-apiserver,
//! kube-controller-manager and kube-proxy (`--backend local`), through the CLI as a user runs
//! it: Kubernetes 1.37 (or the minors in `TOPO_LOCAL_KUBERNETES`, e.g. `1.30,1.36`) × iptables
//! and nftables, one test per mode (they run at once: two local runs on one machine must not
//! collide). Each prints what it ran.
//!
//! Needs root, `ip`, `iptables-save`/`iptables-restore`, `nft`, and the upstream binaries in
//! the cache (`topo-harness upstream build --kubernetes 1.37`). Without them each test prints
//! `skipped: <why>` and the command that fixes it, and passes — unless `TOPO_REQUIRE_LOCAL=1`
//! (CI), where it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use topo_harness::case::ProxyMode;

/// The minors to run.
fn minors() -> Vec<u32> {
    std::env::var("TOPO_LOCAL_KUBERNETES")
        .ok()
        .map(|v| {
            v.split(',')
                .filter_map(|m| m.trim().strip_prefix("1.")?.parse().ok())
                .collect()
        })
        .unwrap_or_else(|| vec![37])
}

/// Why the local backend cannot run here, if it cannot.
fn missing(modes: &[ProxyMode]) -> Option<String> {
    if let Err(why) = topo_harness::backend::local::preflight(modes) {
        return Some(why);
    }
    minors().into_iter().find_map(|minor| {
        topo_harness::backend::local::binaries_for(minor)
            .err()
            .map(|why| format!("{why} (then rerun this test)"))
    })
}

/// Skips (prints why) unless `TOPO_REQUIRE_LOCAL=1`, where it fails.
fn skip_or_fail(why: &str) {
    if std::env::var("TOPO_REQUIRE_LOCAL").as_deref() == Ok("1") {
        panic!("TOPO_REQUIRE_LOCAL=1 but the local backend cannot run: {why}");
    }
    eprintln!("skipped: {why}");
}

/// A fresh directory under the system's temp dir (removed at the end).
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("topo-local-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The network namespaces of this machine.
fn namespaces() -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Runs `topo-harness run --backend local` on `targets` for `mode` in `dir`; returns the exit
/// code and the output.
fn run(dir: &Path, mode: ProxyMode, targets: &[&str]) -> (Option<i32>, String) {
    let mut args = vec![
        "run".to_string(),
        "--backend".into(),
        "local".into(),
        "--proxy-mode".into(),
        mode.as_str().into(),
        "--color".into(),
        "never".into(),
    ];
    for minor in minors() {
        args.push("--kubernetes".into());
        args.push(format!("1.{minor}"));
    }
    args.extend(targets.iter().map(|t| t.to_string()));
    let out = Command::new(env!("CARGO_BIN_EXE_topo-harness"))
        .args(&args)
        .current_dir(dir)
        .output()
        .expect("topo-harness runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

fn catalog_on_real_upstream(mode: ProxyMode) {
    if let Some(why) = missing(&[mode]) {
        skip_or_fail(&why);
        return;
    }
    let dir = temp_dir(mode.as_str());
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/upstream-cases");
    for (what, targets) in [
        ("the built-in catalog", Vec::new()),
        (
            "examples/upstream-cases",
            vec![examples.to_str().expect("UTF-8 path")],
        ),
    ] {
        let (code, out) = run(&dir, mode, &targets);
        // What ran, for the log: the counts and where the time went.
        let tail: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("time:") || l.contains(" passed, "))
            .collect();
        eprintln!(
            "local {} × 1.{:?}, {what}: {}",
            mode.as_str(),
            minors(),
            tail.join(" | ")
        );
        assert_eq!(
            code,
            Some(0),
            "{what} on --backend local ({mode:?}):\n{out}"
        );
        assert!(
            out.lines().any(|l| l.contains(" passed, 0 failed")),
            "{what}: no run reported\n{out}"
        );
        assert!(
            !out.lines().any(|l| l.starts_with("0 passed, 0 failed")),
            "{what}: nothing ran\n{out}"
        );
    }
    // Nothing is left behind: no namespace of this run's clusters (others may be running).
    let tags = cluster_tags(&dir.join("reports"));
    assert!(!tags.is_empty(), "no cluster was made");
    let left: Vec<String> = namespaces()
        .into_iter()
        .filter(|n| tags.iter().any(|t| n.starts_with(&format!("topo-{t}-"))))
        .collect();
    assert!(left.is_empty(), "network namespaces left behind: {left:?}");
    let no_processes = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| {
            tags.iter().any(|t| c.contains(&format!("topo-{t}-")))
                || c.contains(dir.to_str().unwrap_or("?"))
        })
        .collect::<Vec<_>>();
    assert!(
        no_processes.is_empty(),
        "processes left behind: {no_processes:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// The network tags of every local cluster made under `reports` (`<run>/local/<cluster>/network-tag`).
fn cluster_tags(reports: &Path) -> Vec<String> {
    let mut tags = Vec::new();
    for run in std::fs::read_dir(reports).into_iter().flatten().flatten() {
        for cluster in std::fs::read_dir(run.path().join("local"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(tag) = std::fs::read_to_string(cluster.path().join("network-tag")) {
                tags.push(tag.trim().to_string());
            }
        }
    }
    tags
}

#[test]
fn catalog_passes_on_real_upstream_with_iptables() {
    catalog_on_real_upstream(ProxyMode::Iptables);
}

#[test]
fn catalog_passes_on_real_upstream_with_nftables() {
    catalog_on_real_upstream(ProxyMode::Nftables);
}
