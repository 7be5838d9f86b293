//! The binary: exit codes (0 passed, 1 failed, 2 bad input), reports on disk, `list`, `plan`,
//! `schema`, the kind dry run, `kind-config`, and the kubeconfig backend's errors.

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn topo(args: &[&str]) -> Output {
    match Command::new(env!("CARGO_BIN_EXE_topo-harness"))
        .args(args)
        .current_dir(root())
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!("cannot run topo-harness: {e}"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("topo-harness-cli-{}-{name}", std::process::id()))
}

#[test]
fn the_catalog_passes_on_sim_and_writes_reports() {
    let dir = temp("reports");
    let junit = dir.join("junit.xml");
    let summary = dir.join("summary.md");
    let out = topo(&[
        "run",
        "--junit",
        &junit.to_string_lossy(),
        "--summary",
        &summary.to_string_lossy(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.contains(" passed, 0 failed, ") && last.contains(" skipped"),
        "{last}"
    );
    assert!(!stdout.contains('\x1b'), "no colour when not on a TTY");
    let xml = std::fs::read_to_string(&junit).unwrap_or_default();
    assert!(xml.contains("<testsuite name=\"seed-001-kube-dns-two-zones@1.21/iptables\""));
    assert!(xml.contains("seed-001-kube-dns-two-zones/one-per-node/routes/worker2"));
    let md = std::fs::read_to_string(&summary).unwrap_or_default();
    assert!(md.starts_with("# topo-harness summary"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failing_case_exits_1() {
    let dir = temp("failing");
    let out = topo(&[
        "run",
        "harness/tests/fixtures/wrong-cases",
        "--junit",
        &dir.join("j.xml").to_string_lossy(),
        "--summary",
        &dir.join("s.md").to_string_lossy(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("FAIL wrong-expectation@1.34/iptables/one-per-node"),
        "{stdout}"
    );
    assert!(
        stdout.contains("unexpected: [worker2, worker3]"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_exits_2_before_running_and_reports_every_file() {
    let out = topo(&["run", "harness/tests/fixtures/invalid-cases", "cases"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).is_empty(), "nothing may run");
    let stderr = text(&out.stderr);
    for file in [
        "invalid-yaml.yaml:8:6",
        "invalid-unknown-field.yaml:11:5",
        "invalid-unknown-node.yaml:12:29",
        "invalid-negative-count.yaml:11:26",
        "invalid-constraints.yaml:14:46",
        "invalid-version-range.yaml:6:13",
    ] {
        assert!(stderr.contains(file), "{file} missing in:\n{stderr}");
    }
    let bad_flag = topo(&["run", "--kubernetes", "1.99"]);
    assert_eq!(bad_flag.status.code(), Some(2));
}

#[test]
fn kind_dry_run_prints_the_commands_and_touches_nothing() {
    let out = topo(&[
        "run",
        "--backend",
        "kind",
        "--dry-run",
        "--filter",
        "current-two-zones-auto",
        "--kubernetes",
        "1.34",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("shape 1: Kubernetes 1.34, iptables proxy"),
        "{stdout}"
    );
    assert!(
        stdout.contains("kind create cluster --name topo-"),
        "{stdout}"
    );
    assert!(stdout.contains("-worker4 iptables-save"), "{stdout}");
    assert!(
        stdout.contains("kind delete cluster --name topo-"),
        "{stdout}"
    );
    // --keep drops the teardown.
    let kept = topo(&[
        "run",
        "--backend",
        "kind",
        "--dry-run",
        "--keep",
        "--filter",
        "current-two-zones-auto",
        "--kubernetes",
        "1.34",
    ]);
    assert!(!text(&kept.stdout).contains("kind delete cluster"));
    // --dry-run is a kind flag.
    let sim = topo(&["run", "--dry-run"]);
    assert_eq!(sim.status.code(), Some(2));
}

#[test]
fn observe_traffic_needs_a_live_backend() {
    for source in ["traffic", "both"] {
        let out = topo(&["run", "--backend", "sim", "--observe", source]);
        assert_eq!(out.status.code(), Some(2), "{source}");
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("--observe {source} needs a live backend")),
            "{err}"
        );
    }
    let both = topo(&["run", "--backend", "kubeconfig", "--observe", "both"]);
    assert_eq!(both.status.code(), Some(2));
    assert!(text(&both.stderr).contains("needs node access"));
    let unknown = topo(&["run", "--observe", "dump"]);
    assert_eq!(unknown.status.code(), Some(2));
    // Rules is what the sim observes anyway: accepted.
    let dir = temp("observe-rules");
    let rules = topo(&[
        "run",
        "--backend",
        "sim",
        "--observe",
        "rules",
        "--filter",
        "current-two-zones-auto",
        "--junit",
        &dir.join("junit.xml").to_string_lossy(),
        "--summary",
        &dir.join("summary.md").to_string_lossy(),
    ]);
    assert_eq!(rules.status.code(), Some(0), "{}", text(&rules.stderr));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn kubeconfig_backend_names_a_missing_kubeconfig() {
    let dir = temp("kubeconfig");
    let out = topo(&[
        "run",
        "--backend",
        "kubeconfig",
        "--kubeconfig",
        "/nonexistent/kubeconfig",
        "--filter",
        "current-two-zones-auto",
        "--kubernetes",
        "1.34",
        "--junit",
        &dir.join("junit.xml").to_string_lossy(),
        "--summary",
        &dir.join("summary.md").to_string_lossy(),
    ]);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("/nonexistent/kubeconfig"), "{all}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn kind_config_prints_and_writes_the_config() {
    let dir = temp("kind-config");
    let out = topo(&[
        "kind-config",
        "current-two-zones-auto",
        "--kubernetes",
        "1.34",
        "--output",
        &dir.to_string_lossy(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("apiVersion: kind.x-k8s.io/v1alpha4"),
        "{stdout}"
    );
    assert!(stdout.contains("kubeProxyMode: iptables"), "{stdout}");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.count())
        .into_iter()
        .collect();
    assert_eq!(files, [1]);
    let missing = topo(&["kind-config", "no-such-case"]);
    assert_eq!(missing.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn list_plan_and_schema() {
    let list = topo(&["list", "--filter", "seed-*"]);
    assert_eq!(list.status.code(), Some(0));
    let l = text(&list.stdout);
    assert!(l.contains("seed-001-kube-dns-two-zones"), "{l}");
    assert!(l.contains("runs on: 1.21, 1.34–1.37"), "{l}");
    assert!(l.contains("also applies to 1.22–1.33"), "{l}");

    let list = topo(&["list", "--filter", "topology-keys"]);
    assert!(text(&list.stdout)
        .contains("skipped on 1.34–1.37: the case applies to Kubernetes 1.21 only"));

    let plan = topo(&["plan"]);
    assert_eq!(plan.status.code(), Some(0));
    let p = text(&plan.stdout);
    assert!(p.contains("the kind backend would create"), "{p}");

    let schema = topo(&["schema"]);
    assert_eq!(schema.status.code(), Some(0));
    let committed =
        std::fs::read_to_string(root().join("harness/schema/case.json")).unwrap_or_default();
    assert_eq!(text(&schema.stdout), committed);
}

#[test]
fn proxy_mode_none_observes_traffic_and_refuses_rules() {
    for source in ["rules", "both"] {
        let out = topo(&[
            "run",
            "--backend",
            "kind",
            "--proxy-mode",
            "none",
            "--observe",
            source,
            "--dry-run",
        ]);
        assert_eq!(out.status.code(), Some(2), "{source}");
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!(
                "--observe {source} reads kube-proxy's rules, but --proxy-mode none runs no kube-proxy"
            )),
            "{err}"
        );
    }
    // Also when none is one of several modes.
    let mixed = topo(&[
        "run",
        "--backend",
        "kind",
        "--proxy-mode",
        "iptables",
        "--proxy-mode",
        "none",
        "--observe",
        "rules",
    ]);
    assert_eq!(mixed.status.code(), Some(2));
    // Traffic is fine; the plan names the mode.
    let ok = topo(&[
        "run",
        "--backend",
        "kind",
        "--proxy-mode",
        "none",
        "--observe",
        "traffic",
        "--dry-run",
        "--filter",
        "current-two-zones-auto",
        "--kubernetes",
        "1.34",
    ]);
    let stdout = text(&ok.stdout);
    assert_eq!(ok.status.code(), Some(0), "{stdout}{}", text(&ok.stderr));
    assert!(
        stdout.contains("Kubernetes 1.34, none proxy (no kube-proxy)"),
        "{stdout}"
    );
    assert!(!stdout.contains("proxyMode"), "{stdout}");
    assert!(!stdout.contains("iptables-save"), "{stdout}");
}

#[test]
fn dry_run_shows_the_after_create_command_with_its_environment() {
    let out = topo(&[
        "run",
        "--backend",
        "kind",
        "--proxy-mode",
        "none",
        "--dry-run",
        "--filter",
        "current-two-zones-auto",
        "--kubernetes",
        "1.34",
        "--after-create",
        "helm install cilium cilium/cilium --namespace kube-system --set 'ipam.mode=kubernetes,kubeProxyReplacement=true'",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let line = stdout
        .lines()
        .find(|l| l.contains("helm install"))
        .unwrap_or_default();
    assert!(
        // Absolute: an install script that changes directory still finds it.
        line.starts_with("KUBECONFIG='/")
            && line.contains("/reports/<run>/topo-")
            && line.contains("/kubeconfig' TOPO_CLUSTER=topo-")
            && line.ends_with(
                " helm install cilium cilium/cilium --namespace kube-system --set ipam.mode=kubernetes,kubeProxyReplacement=true"
            ),
        "{stdout}"
    );
    // After create and get kubeconfig.
    let pos = |s: &str| stdout.find(s).unwrap_or(usize::MAX);
    assert!(pos("kind create cluster") < pos("kind get kubeconfig"));
    assert!(pos("kind get kubeconfig") < pos("helm install"));
    assert!(pos("helm install") < pos("# on failure"));
}

#[test]
fn after_create_is_checked_before_anything_runs() {
    let shell = topo(&[
        "run",
        "--backend",
        "kind",
        "--dry-run",
        "--after-create",
        "kubectl apply -f proxy.yaml && kubectl wait",
    ]);
    assert_eq!(shell.status.code(), Some(2));
    assert!(
        text(&shell.stderr).contains("sh -c"),
        "{}",
        text(&shell.stderr)
    );
    let open = topo(&[
        "run",
        "--backend",
        "kind",
        "--dry-run",
        "--after-create",
        "'x",
    ]);
    assert_eq!(open.status.code(), Some(2));
    let empty = topo(&[
        "run",
        "--backend",
        "kind",
        "--dry-run",
        "--after-create",
        "  ",
    ]);
    assert_eq!(empty.status.code(), Some(2));
    assert!(text(&empty.stderr).contains("the command is empty"));
    let sim = topo(&["run", "--backend", "sim", "--after-create", "true"]);
    assert_eq!(sim.status.code(), Some(2));
    assert!(text(&sim.stderr).contains("--after-create is for --backend kind"));
    let zero = topo(&[
        "run",
        "--backend",
        "kind",
        "--dry-run",
        "--after-create",
        "true",
        "--after-create-timeout",
        "0",
    ]);
    assert_eq!(zero.status.code(), Some(2));
}

/// On the sim, `none` is the reference proxy: the catalog passes as with any mode, and the
/// reports name the mode.
#[test]
fn sim_accepts_proxy_mode_none() {
    let dir = temp("sim-none");
    let junit = dir.join("junit.xml");
    let out = topo(&[
        "run",
        "--backend",
        "sim",
        "--proxy-mode",
        "none",
        "--filter",
        "current-two-zones-auto",
        "--junit",
        &junit.to_string_lossy(),
        "--summary",
        &dir.join("summary.md").to_string_lossy(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("/none"), "{stdout}");
    let xml = std::fs::read_to_string(&junit).unwrap_or_default();
    assert!(xml.contains(r#"name="proxy-mode" value="none""#), "{xml}");
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap_or_default();
    assert!(summary.contains("none"), "{summary}");
    let plan = topo(&[
        "plan",
        "--proxy-mode",
        "none",
        "--filter",
        "current-two-zones-auto",
    ]);
    assert!(text(&plan.stdout).contains("none proxy (no kube-proxy)"));
    let _ = std::fs::remove_dir_all(dir);
}

/// The `topo-harness run` commands in `ci/README.md` and in the workflow's commented
/// `own-proxy` job use real flags: each parses with the CLI's own parser, and the
/// after-create command splits into words.
#[test]
fn documented_own_proxy_commands_parse() {
    use clap::Parser;
    use topo_harness::backend::kind::split_words;
    use topo_harness::cli::{Cli, Command};
    let readme = std::fs::read_to_string(root().join("ci/README.md")).unwrap_or_default();
    let mut commands = Vec::new();
    let mut in_sh = false;
    let mut current = String::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        current.push_str(line.trim_end_matches('\\'));
        current.push(' ');
        if !line.ends_with('\\') {
            if current.trim_start().starts_with("topo-harness run") {
                commands.push(current.clone());
            }
            current.clear();
        }
    }
    let workflow =
        std::fs::read_to_string(root().join("ci/github/topo-harness.yml")).unwrap_or_default();
    let job: String = workflow
        .lines()
        .skip_while(|l| !l.contains("# own-proxy:"))
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.replacen("  #", "", 1))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(job.contains("--proxy-mode none"), "{job}");
    let wf: serde_json::Value = serde_saphyr::from_str(&job).expect("the commented job parses");
    let run = wf["own-proxy"]["steps"]
        .as_array()
        .and_then(|steps| {
            steps
                .iter()
                .filter_map(|s| s["run"].as_str())
                .find(|r| r.contains("topo-harness run"))
        })
        .unwrap_or_default()
        .to_string();
    let run = run
        .replace("./target/release/topo-harness", "topo-harness")
        .replace("${{ matrix.kubernetes }}", "1.37")
        .replace("\\\n", " ");
    let run = run
        .lines()
        .find(|l| l.contains("topo-harness run"))
        .unwrap_or_default()
        .to_string();
    commands.push(run);
    assert!(commands.len() >= 3, "{commands:?}");
    for line in &commands {
        let words = split_words(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        let cli = Cli::try_parse_from(&words).unwrap_or_else(|e| panic!("{line}: {e}"));
        let Command::Run(args) = cli.command else {
            panic!("{line}: not run");
        };
        let hook = args
            .after_create
            .unwrap_or_else(|| panic!("{line}: no --after-create"));
        let argv = split_words(&hook).unwrap_or_else(|e| panic!("{hook}: {e}"));
        assert!(!argv.is_empty());
    }
}
