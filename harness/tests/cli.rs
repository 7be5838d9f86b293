//! The binary: exit codes (0 passed, 1 failed, 2 bad input), reports on disk, `list`, `plan`,
//! `schema`, the kind dry run, `kind-config`, the kubeconfig backend's errors, and what a CI
//! gate needs: a user's cases from any directory, goldens opt-in, errors before running.

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the binary in the repository root. A `run` that names no HTML report writes it to
/// a temporary file, so that tests leave the checkout's `reports/` alone.
fn topo(args: &[&str]) -> Output {
    let html = std::env::temp_dir().join(format!("topo-harness-cli-{}.html", std::process::id()));
    let mut args: Vec<&str> = args.to_vec();
    if args.first() == Some(&"run") && !args.contains(&"--html") {
        args.extend(["--html", html.to_str().expect("UTF-8 temp path")]);
    }
    match Command::new(env!("CARGO_BIN_EXE_topo-harness"))
        .args(&args)
        .current_dir(root())
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!("cannot run topo-harness: {e}"),
    }
}

/// Runs the binary in `dir` with extra environment variables.
fn topo_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_topo-harness"));
    cmd.args(args).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    match cmd.output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run topo-harness: {e}"),
    }
}

/// A fresh empty directory.
fn empty_dir(name: &str) -> PathBuf {
    let dir = temp(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
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
    // One line per run, naming the failed step and checks.
    assert!(
        stdout.contains(
            "FAIL wrong-expectation@1.34/iptables: one-per-node: hints, routes/worker, routes/worker2\n"
        ),
        "{stdout}"
    );
    // The three runs fail the same way: one group, each check at its own line of the case.
    let recap = stdout
        .split("failures: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no recap in {stdout}"));
    assert!(
        recap.starts_with("1 group(s) of identical failures, 3 failed run(s)\n✗ wrong-expectation/one-per-node: hints, routes/worker, routes/worker2 fail identically on 1.34 × iptables, ipvs, nftables (3 runs)\n"),
        "{recap}"
    );
    let file = "harness/tests/fixtures/wrong-cases/wrong-expectation.yaml";
    for (at, check) in [
        ("22:14", "hints"),
        ("24:9", "routes/worker"),
        ("25:9", "routes/worker2"),
    ] {
        assert!(
            recap.contains(&format!("  {file}:{at}: {check}\n")),
            "{recap}"
        );
    }
    assert_eq!(
        recap.matches("unexpected: [worker2, worker3]").count(),
        1,
        "{recap}"
    );
    assert!(
        recap.contains("why: the model check passed on this step, so what was observed is what upstream does here: the case's expectation is the likely mistake (the model: hints should be absent: Unable to allocate minimum required endpoints"),
        "{recap}"
    );
    assert!(
        recap.contains(&format!("next: topo-harness run {file} --kubernetes 1.34 --proxy-mode iptables --dump-state states && topo-harness explain states/wrong-expectation@1.34-iptables/01-one-per-node.yaml\n")),
        "{recap}"
    );
    assert!(
        recap.contains(&format!(
            "reports: {}, {}",
            dir.join("j.xml").display(),
            dir.join("s.md").display()
        )),
        "{recap}"
    );
    // JUnit messages: one self-contained line with the case file and line.
    let xml = std::fs::read_to_string(dir.join("j.xml")).unwrap_or_default();
    assert!(
        xml.contains(r#"message="harness/tests/fixtures/wrong-cases/wrong-expectation.yaml:24:9: routes/worker: expected [control-plane, worker], observed [control-plane, worker, worker2, worker3] (unexpected [worker2, worker3])""#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"message="harness/tests/fixtures/wrong-cases/wrong-expectation.yaml:22:14: hints: expected hints {a: [control-plane, worker], b: [worker2, worker3]}, observed no hints""#),
        "{xml}"
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
    // A setup problem, not a test failure: exit 2 before anything runs.
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stdout).is_empty());
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot read kubeconfig /nonexistent/kubeconfig"),
        "{err}"
    );
    assert!(!dir.join("junit.xml").exists());
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
    // Without --output it only prints: nothing is written, not even ./reports/kind.
    let here = empty_dir("kind-config-print");
    let printed = topo_in(
        &here,
        &[
            "kind-config",
            "current-two-zones-auto",
            "--kubernetes",
            "1.34",
        ],
        &[],
    );
    assert_eq!(printed.status.code(), Some(0), "{}", text(&printed.stderr));
    assert!(text(&printed.stdout).contains("apiVersion: kind.x-k8s.io/v1alpha4"));
    assert_eq!(std::fs::read_dir(&here).map(|d| d.count()).ok(), Some(0));
    let _ = std::fs::remove_dir_all(here);
    let missing = topo(&["kind-config", "no-such-case"]);
    assert_eq!(missing.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn list_plan_and_schema() {
    // On the sim every version a case applies to runs; the origin is named.
    let list = topo(&["list", "--filter", "seed-*"]);
    assert_eq!(list.status.code(), Some(0));
    let l = text(&list.stdout);
    assert!(
        l.contains(
            "seed-001-kube-dns-two-zones  (built-in cases/seed-001-kube-dns-two-zones.yaml)"
        ),
        "{l}"
    );
    assert!(l.contains("runs on: 1.21–1.37"), "{l}");
    // On kind, the versions with node images.
    let list = topo(&["list", "--backend", "kind", "--filter", "seed-*"]);
    let l = text(&list.stdout);
    assert!(l.contains("runs on: 1.34–1.37"), "{l}");
    assert!(l.contains("also applies to 1.21–1.33"), "{l}");

    let list = topo(&[
        "list",
        "--backend",
        "kubeconfig",
        "--filter",
        "topology-keys",
    ]);
    assert!(text(&list.stdout)
        .contains("skipped on 1.34–1.37: the case applies to Kubernetes 1.21 only"));
    // A user's case is named by its path.
    let list = topo(&["list", "harness/tests/fixtures/wrong-cases"]);
    assert!(text(&list.stdout).contains(
        "wrong-expectation  (harness/tests/fixtures/wrong-cases/wrong-expectation.yaml)"
    ));

    let plan = topo(&["plan"]);
    assert_eq!(plan.status.code(), Some(0));
    let p = text(&plan.stdout);
    assert!(p.contains("the kind backend would create"), "{p}");
    // `plan` defaults to the sim like `run` and `list`: every version a case applies to.
    assert!(p.contains(": Kubernetes 1.21, "), "{p}");
    // Skipped cells are listed with the reason, and every shape says which zones its nodes get.
    let plan = topo(&[
        "plan",
        "harness/tests/fixtures/wrong-cases",
        "--kubernetes",
        "1.21",
        "--kubernetes",
        "1.22",
        "--kubernetes",
        "1.34",
        "--proxy-mode",
        "iptables",
    ]);
    let p = text(&plan.stdout);
    assert!(
        p.contains("  zones: a: control-plane, worker; b: worker2, worker3\n"),
        "{p}"
    );
    assert!(
        p.ends_with("each once; 2 cell(s) skipped:\n  wrong-expectation on 1.21–1.22 (iptables): the case applies to Kubernetes 1.34 only\n"),
        "{p}"
    );

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

/// A CI job with a typo in `--filter` must not pass green: matching nothing is bad input.
#[test]
fn a_filter_matching_nothing_exits_2() {
    for cmd in ["run", "list", "plan"] {
        let out = topo(&[cmd, "--filter", "nosuch*"]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = text(&out.stderr);
        assert!(
            err.contains("--filter `nosuch*` matches none of the "),
            "{cmd}: {err}"
        );
        assert!(text(&out.stdout).is_empty(), "{cmd}");
    }
    // A selection whose versions all fall outside the case's runs nothing: also exit 2.
    let out = topo(&[
        "run",
        "topology-keys",
        "--kubernetes",
        "1.30",
        "--junit",
        &temp("nothing").join("j.xml").to_string_lossy(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("nothing to run"));
}

/// From an empty directory: the built-in catalog runs (embedded in the binary), names of
/// built-in cases are accepted, reports go to ./reports, and a misspelt name is bad input.
#[test]
fn runs_the_built_in_catalog_from_any_directory() {
    let dir = empty_dir("anywhere");
    let out = topo_in(&dir, &["run", "current-two-zones-auto"], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    // Every version 1.21–1.37 the case applies to, every proxy mode that exists there.
    assert!(
        stdout.contains("current-two-zones-auto@1.27/ipvs"),
        "{stdout}"
    );
    assert!(
        stdout.contains("current-two-zones-auto@1.29/nftables"),
        "{stdout}"
    );
    assert!(!stdout.contains("@1.28/nftables"), "{stdout}");
    assert!(
        stdout.contains("current-two-zones-auto@1.37/iptables"),
        "{stdout}"
    );
    assert!(!stdout.contains("SKIP"), "{stdout}");
    assert!(
        !stdout.contains("no golden"),
        "built-in cases keep their goldens: {stdout}"
    );
    assert!(dir.join("reports/junit.xml").is_file());
    assert!(dir.join("reports/summary.md").is_file());
    let typo = topo_in(&dir, &["run", "current-two-zone-auto"], &[]);
    assert_eq!(typo.status.code(), Some(2));
    let err = text(&typo.stderr);
    assert!(
        err.contains("current-two-zone-auto: no such file or directory, and no built-in case of that name; did you mean `current-two-zones-auto`?"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--kubernetes` takes versions, ranges and `all`, like case files.
#[test]
fn kubernetes_takes_ranges_and_all() {
    let runs_on = |args: &[&str]| {
        let mut all = vec!["list", "seed-001-kube-dns-two-zones"];
        all.extend_from_slice(args);
        let out = topo(&all);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
            .lines()
            .find_map(|l| l.trim().strip_prefix("runs on: ").map(str::to_string))
            .unwrap_or_default()
    };
    assert_eq!(runs_on(&["--kubernetes", "1.28-1.33"]), "1.28–1.33");
    assert_eq!(runs_on(&["--kubernetes", ">=1.30"]), "1.30–1.37");
    assert_eq!(runs_on(&["--kubernetes", "all"]), "1.21–1.37");
    assert_eq!(
        runs_on(&["--kubernetes", "1.21", "--kubernetes", "1.35-1.36"]),
        "1.21, 1.35–1.36"
    );
    for bad in ["1.50-1.60", "1.x", "1.99"] {
        let out = topo(&["list", "--kubernetes", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
    }
}

/// A user's folder of cases without goldens passes (no snapshot check, and the summary says
/// so); `--update-snapshots` writes goldens; then the snapshot check runs, and a changed
/// golden fails with a line-numbered diff.
#[test]
fn goldens_are_opt_in_for_a_users_cases() {
    let dir = empty_dir("user-goldens");
    let cases = dir.join("my-cases");
    std::fs::create_dir_all(&cases).expect("dir");
    let case = std::fs::read_to_string(root().join("cases/current-two-zones-auto.yaml"))
        .expect("case")
        .replace("name: current-two-zones-auto", "name: my-two-zones");
    std::fs::write(cases.join("my-two-zones.yaml"), case).expect("write");
    let versions = ["--kubernetes", "1.33-1.34", "--proxy-mode", "iptables"];
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "my-cases"];
        args.extend_from_slice(&versions);
        args.extend_from_slice(extra);
        topo_in(&dir, &args, &[])
    };
    let out = run(&[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("2 run(s) with no golden, so no snapshot check"),
        "{stdout}"
    );
    let md = std::fs::read_to_string(dir.join("reports/summary.md")).unwrap_or_default();
    assert!(md.contains("2 run(s) with no golden"), "{md}");
    // `list` names the path the case came from.
    let list = topo_in(&dir, &["list", "--cases", "my-cases"], &[]);
    assert!(text(&list.stdout).contains("my-two-zones  (my-cases/my-two-zones.yaml)"));

    // A --snapshots directory that does not exist is bad input…
    let nowhere = run(&["--snapshots", "snaps"]);
    assert_eq!(nowhere.status.code(), Some(2));
    assert!(text(&nowhere.stderr).contains("--snapshots snaps: no such directory"));
    // …unless the goldens are being written.
    let update = run(&["--snapshots", "snaps", "--update-snapshots"]);
    let stdout = text(&update.stdout);
    assert_eq!(
        update.status.code(),
        Some(0),
        "{stdout}{}",
        text(&update.stderr)
    );
    assert!(stdout.contains("new snaps/my-two-zones.snap"), "{stdout}");
    let golden = std::fs::read_to_string(dir.join("snaps/my-two-zones.snap")).expect("golden");
    assert!(golden.starts_with("case: my-two-zones\n"), "{golden}");
    assert!(golden.contains("-- kubernetes: 1.33–1.34\n"), "{golden}");
    // With the golden, the snapshot check runs and passes.
    let checked = run(&["--snapshots", "snaps"]);
    let stdout = text(&checked.stdout);
    assert_eq!(checked.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains("no golden"), "{stdout}");
    // A changed golden fails with a focused diff, with line numbers in the golden file.
    let changed = golden.replacen("worker4: [", "worker4: [elsewhere, ", 1);
    std::fs::write(dir.join("snaps/my-two-zones.snap"), changed).expect("write");
    let failed = run(&["--snapshots", "snaps"]);
    let stdout = text(&failed.stdout);
    assert_eq!(failed.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("my-two-zones/one-per-node: snapshot fails identically on 1.33–1.34 × iptables (2 runs)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("differs from the golden snaps/my-two-zones.snap:"),
        "{stdout}"
    );
    let minus = stdout
        .lines()
        .find(|l| l.contains("│-") && l.contains("worker4: [elsewhere"))
        .unwrap_or_else(|| panic!("no - line in {stdout}"));
    let line: usize = minus
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let changed_text =
        std::fs::read_to_string(dir.join("snaps/my-two-zones.snap")).unwrap_or_default();
    assert!(
        changed_text
            .lines()
            .nth(line - 1)
            .is_some_and(|l| l.contains("worker4: [elsewhere")),
        "line {line} of the golden is not the changed line"
    );
    assert!(
        stdout.contains("run again with --update-snapshots"),
        "{stdout}"
    );
    // --update-snapshots needs --snapshots.
    let alone = run(&["--update-snapshots"]);
    assert_eq!(alone.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Output paths are checked before anything runs.
#[test]
fn an_unwritable_report_path_exits_2_before_running() {
    let dir = empty_dir("unwritable");
    let file = dir.join("a-file");
    std::fs::write(&file, "x").expect("write");
    let junit = file.join("junit.xml");
    let out = topo_in(
        &dir,
        &[
            "run",
            "current-two-zones-auto",
            "--junit",
            &junit.to_string_lossy(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).is_empty(), "nothing may run");
    assert!(
        text(&out.stderr).contains("--junit "),
        "{}",
        text(&out.stderr)
    );
    let summary = topo_in(
        &dir,
        &["run", "current-two-zones-auto", "--summary", "."],
        &[],
    );
    assert_eq!(summary.status.code(), Some(2));
    assert!(text(&summary.stderr).contains("--summary .: is a directory"));
    let dump = topo_in(
        &dir,
        &["run", "current-two-zones-auto", "--dump-state", "a-file"],
        &[],
    );
    assert_eq!(dump.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// No `kind` on PATH is a setup problem: exit 2 before anything runs.
#[test]
fn kind_backend_without_kind_exits_2() {
    let dir = empty_dir("no-kind");
    let out = topo_in(
        &dir,
        &[
            "run",
            "--backend",
            "kind",
            "current-two-zones-auto",
            "--kubernetes",
            "1.34",
        ],
        &[("PATH", "/nonexistent")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no kind binary found"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--color always` colours even off a terminal and over `NO_COLOR` (a flag wins); `never`
/// and `auto` off a terminal do not.
#[test]
fn color_follows_the_flag() {
    let dir = empty_dir("color");
    let run = |color: &str, env: &[(&str, &str)]| {
        let out = topo_in(
            &dir,
            &[
                "run",
                "current-two-zones-auto",
                "--kubernetes",
                "1.34",
                "--color",
                color,
            ],
            env,
        );
        assert_eq!(out.status.code(), Some(0));
        text(&out.stdout).contains('\x1b')
    };
    assert!(run("always", &[]));
    assert!(run("always", &[("NO_COLOR", "1")]));
    assert!(!run("never", &[]));
    assert!(!run("auto", &[]));
    let bad = topo_in(&dir, &["run", "--color", "sometimes"], &[]);
    assert_eq!(bad.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `run --dump-state DIR` writes each step's state in the format `explain` reads; `explain`
/// reads every one back, and agrees with what the run observed (hints present or absent).
#[test]
fn dump_state_is_read_by_explain() {
    let dir = empty_dir("dump-state");
    let out = topo_in(
        &dir,
        &[
            "run",
            "current-two-zones-auto",
            "--kubernetes",
            "1.34",
            "--proxy-mode",
            "iptables",
            "--dump-state",
            "states",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let folder = dir.join("states/current-two-zones-auto@1.34-iptables");
    let mut files: Vec<String> = std::fs::read_dir(&folder)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    assert_eq!(
        files,
        [
            "01-one-per-node.yaml",
            "02-one-per-zone.yaml",
            "03-scale-to-one.yaml"
        ]
    );
    for file in &files {
        let path = folder.join(file);
        let explained = topo_in(&dir, &["explain", &path.to_string_lossy()], &[]);
        let stdout = text(&explained.stdout);
        assert_eq!(
            explained.status.code(),
            Some(0),
            "{file}: {}",
            text(&explained.stderr)
        );
        assert!(stdout.starts_with("Kubernetes 1.34\n"), "{stdout}");
        // The model agrees with the observed hints in every dumped state.
        assert!(stdout.contains("(agrees)"), "{file}: {stdout}");
        assert!(!stdout.contains("disagrees"), "{file}: {stdout}");
        // Endpoints are named as the case names them (by node), not by pod IP.
        assert!(stdout.contains("cluster → worker"), "{file}: {stdout}");
        assert!(!stdout.contains("cluster → 10."), "{file}: {stdout}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A file of the wrong kind says which command reads it.
#[test]
fn a_file_of_the_wrong_kind_says_which_command_reads_it() {
    let state = topo(&["run", "fixtures/states/compact-three-zones.yaml"]);
    assert_eq!(state.status.code(), Some(2));
    assert!(
        text(&state.stderr).contains("fixtures/states/compact-three-zones.yaml:1:1: this is a cluster state (kind: State), not a case: use `topo-harness explain fixtures/states/compact-three-zones.yaml`"),
        "{}",
        text(&state.stderr)
    );
    let case = topo(&["explain", "cases/current-two-zones-auto.yaml"]);
    assert_eq!(case.status.code(), Some(2));
    assert!(
        text(&case.stderr).contains("cases/current-two-zones-auto.yaml: this is a case file (kind: Case), not a cluster state: use `topo-harness run cases/current-two-zones-auto.yaml`"),
        "{}",
        text(&case.stderr)
    );
}

/// `rules --node` naming a node the state does not have is bad input, and rule dump errors
/// use the one location format `file:line:column:`.
#[test]
fn rules_checks_the_node_and_locates_errors() {
    let dump = "fixtures/rules/iptables/valid-overall.iptables";
    let state = "fixtures/rules/state/valid-overall.yaml";
    let out = topo(&[
        "rules",
        dump,
        "--mode",
        "iptables",
        "--state",
        state,
        "--node",
        "no-such-node",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("--node no-such-node: ")
            && err.contains("has no node of that name (its nodes: "),
        "{err}"
    );
    let bad = topo(&[
        "rules",
        "fixtures/rules/iptables/invalid-probability.iptables",
        "--mode",
        "iptables",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let err = text(&bad.stderr);
    assert!(
        err.starts_with("error: fixtures/rules/iptables/invalid-probability.iptables:36:")
            && err.contains(": probability `1.5`"),
        "{err}"
    );
}

/// Every README example written as `$ topo-harness …` followed by its output prints exactly
/// that output (run from the repository root).
#[test]
fn readme_examples_match_the_real_output() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap_or_default();
    let mut examples = 0;
    for block in readme.split("```").skip(1).step_by(2) {
        let body = block.split_once('\n').map(|(_, b)| b).unwrap_or_default();
        let Some((command, expected)) = body.split_once('\n') else {
            continue;
        };
        let Some(args) = command.strip_prefix("$ topo-harness ") else {
            continue;
        };
        let words: Vec<&str> = args.split_whitespace().collect();
        let out = topo(&words);
        assert_eq!(text(&out.stdout), expected, "README example `{command}`");
        examples += 1;
    }
    assert!(
        examples >= 1,
        "no `$ topo-harness` example found in README.md"
    );
}

/// `--version` names the commit the binary was built from and the digest of the catalog it
/// carries, so two gates can be compared.
#[test]
fn version_names_the_commit_and_the_catalog() {
    let out = topo(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    let line = text(&out.stdout);
    let digest = topo_harness::case::catalog_digest();
    assert_eq!(digest.len(), 64);
    assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()));
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| text(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    assert_eq!(
        line,
        format!(
            "topo-harness {} (commit {head}, catalog sha256:{digest})\n",
            env!("CARGO_PKG_VERSION")
        )
    );
}

/// Reading what a newcomer points the tool at: `explain -` reads standard input, and a
/// Kubernetes manifest in a cases folder is named for what it is.
#[test]
fn stdin_and_foreign_files_are_understood() {
    use std::io::Write as _;
    let dump = std::fs::read(root().join("fixtures/states/kubectl-seed-001.yaml")).expect("dump");
    let mut child = Command::new(env!("CARGO_BIN_EXE_topo-harness"))
        .args(["explain", "-", "--kubernetes", "1.33"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&dump)
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("Kubernetes 1.33\n"));
    let dir = empty_dir("foreign");
    let cases = dir.join("my-cases");
    std::fs::create_dir_all(&cases).expect("dir");
    std::fs::write(
        cases.join("web.yaml"),
        "# the app itself\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec: {}\n",
    )
    .expect("write");
    let out = topo_in(&dir, &["run", "my-cases"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("my-cases/web.yaml:3:1: not a Case (kind: Deployment): a case file has `apiVersion: topo-harness/v1alpha1` and `kind: Case` (docs/cases.md)"),
        "{err}"
    );
    assert!(!err.contains("unknown field"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `trafficDistribution` the API server does not know is written as the user wrote it, and a
/// step expects the rejection (docs/cases.md): the case loads, and on the sim the model's
/// admission rejects it as the API server does.
#[test]
fn an_unknown_traffic_distribution_is_rejected_at_run_time() {
    let dir = empty_dir("bogus-td");
    let cases = dir.join("my-cases");
    std::fs::create_dir_all(&cases).expect("dir");
    std::fs::write(
        cases.join("bogus.yaml"),
        "apiVersion: topo-harness/v1alpha1
kind: Case
name: bogus-traffic-distribution
summary: The API server refuses a trafficDistribution it does not know.
source: docs/cases.md
kubernetes: \">=1.31\"
cluster:
  nodes:
    - { name: a1, zone: a }
    - { name: b1, zone: b }
service: {}
steps:
  - name: create
    endpoints: { a1: 1, b1: 1 }
  - name: bogus
    service: { trafficDistribution: Bogus }
    expect:
      rejected: 'spec.trafficDistribution: Unsupported value: \"Bogus\"'
",
    )
    .expect("write");
    let out = topo_in(&dir, &["run", "my-cases", "--proxy-mode", "iptables"], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("7 passed, 0 failed"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--quiet` prints only the recap; `--verbose` adds every step and its diff as it happens.
#[test]
fn quiet_and_verbose_change_how_much_is_printed() {
    let dir = temp("verbosity");
    let run = |flag: &str| {
        let out = topo(&[
            "run",
            "harness/tests/fixtures/wrong-cases",
            "cases/seed-001-kube-dns-two-zones.yaml",
            "--kubernetes",
            "1.34",
            "--proxy-mode",
            "iptables",
            flag,
            "--junit",
            &dir.join("j.xml").to_string_lossy(),
            "--summary",
            &dir.join("s.md").to_string_lossy(),
        ]);
        assert_eq!(out.status.code(), Some(1), "{flag}");
        text(&out.stdout)
    };
    let quiet = run("--quiet");
    assert!(!quiet.contains("PASS"), "{quiet}");
    assert!(!quiet.contains("running "), "{quiet}");
    assert!(
        !quiet.contains("expected [control-plane, worker]"),
        "no diffs: {quiet}"
    );
    assert!(quiet.contains("✗ wrong-expectation/one-per-node: hints, routes/worker, routes/worker2 failed on 1.34 × iptables (1 run)"), "{quiet}");
    assert!(quiet.contains("next: topo-harness run "), "{quiet}");
    assert!(
        quiet
            .trim_end()
            .ends_with(" s; 2 run(s) with no golden, so no snapshot check)")
            || quiet.contains("1 passed, 1 failed"),
        "{quiet}"
    );
    let normal = run("--color=never");
    assert!(
        normal.contains("PASS seed-001-kube-dns-two-zones@1.34/iptables (3 steps, "),
        "{normal}"
    );
    assert!(
        !normal.contains("/one-per-zone ("),
        "no step lines: {normal}"
    );
    assert_eq!(
        normal.matches("unexpected: [worker2, worker3]").count(),
        1,
        "{normal}"
    );
    let verbose = run("--verbose");
    assert!(
        verbose.contains("  PASS seed-001-kube-dns-two-zones@1.34/iptables/one-per-zone ("),
        "{verbose}"
    );
    // The diff as it happens; the recap then names the group without repeating it.
    assert_eq!(
        verbose.matches("unexpected: [worker2, worker3]").count(),
        1,
        "{verbose}"
    );
    assert!(verbose.lines().count() > normal.lines().count());
    assert!(quiet.lines().count() < normal.lines().count());
    let both = topo(&["run", "--quiet", "--verbose"]);
    assert_eq!(both.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `rules` recognises the dump's format; one it cannot recognise asks for --mode.
#[test]
fn rules_recognises_the_format() {
    let out = topo(&["rules", "fixtures/rules/nftables/valid-overall.nft"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("mode: nftables  node: -\n"));
    let out = topo(&["rules", "README.md"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("README.md: cannot tell which proxy mode wrote this dump"),
        "{}",
        text(&out.stderr)
    );
}

/// The newcomer's path from the README: its example case, in a folder of one's own, fails
/// with the output the README shows — under 40 lines that say what is wrong (the expectation's
/// line and the diff), why, and what to run next — and that next command works and shows
/// the model's view by the names the case uses.
#[test]
fn the_readmes_newcomer_path_says_what_why_and_next() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap_or_default();
    let blocks: Vec<&str> = readme.split("```").skip(1).step_by(2).collect();
    let body = |first: &str| {
        blocks
            .iter()
            .filter_map(|b| b.split_once('\n').map(|(_, body)| body))
            .find(|body| body.starts_with(first))
            .unwrap_or_else(|| panic!("no README block starting with {first:?}"))
    };
    let case = body("# my-cases/my-two-zones.yaml\n");
    let shown = body("~/my-project$ topo-harness run my-cases/\n");
    let dir = empty_dir("readme-newcomer");
    std::fs::create_dir_all(dir.join("my-cases")).expect("dir");
    std::fs::write(dir.join("my-cases/my-two-zones.yaml"), case).expect("write");
    let out = topo_in(&dir, &["run", "my-cases/"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.lines().count() < 40,
        "{} lines:\n{stdout}",
        stdout.lines().count()
    );
    let seconds = regex::Regex::new(r"\d+\.\d+ s").expect("regex");
    let got: Vec<String> = stdout
        .lines()
        .map(|l| seconds.replace_all(l, "N s").into_owned())
        .collect();
    let want: Vec<String> = shown
        .lines()
        .skip(1)
        .map(|l| seconds.replace_all(l, "N s").into_owned())
        .collect();
    let elided = want
        .iter()
        .position(|l| l.starts_with('…'))
        .expect("the README elides the middle of the run lines");
    assert_eq!(got[..elided], want[..elided], "{stdout}");
    let tail = want.len() - elided - 1;
    assert_eq!(got[got.len() - tail..], want[elided + 1..], "{stdout}");
    // The next command runs as printed (in the user's folder) and explains by identity.
    let next = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("next: "))
        .expect("a next command");
    let mut explained = String::new();
    for command in next.split(" && ") {
        let words: Vec<&str> = command.split_whitespace().skip(1).collect();
        let out = topo_in(&dir, &words, &[]);
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "{command}: {}",
            text(&out.stderr)
        );
        explained = text(&out.stdout);
    }
    assert!(
        explained.contains("b1, b2: cluster → b1, b2 [endpoints hinted for this node's zone]"),
        "{explained}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every file the README links to is in the repository.
#[test]
fn the_readmes_links_point_at_files() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap_or_default();
    let mut links = 0;
    for part in readme.split("](").skip(1) {
        let target = part.split(')').next().unwrap_or_default();
        let path = target.split('#').next().unwrap_or_default();
        if path.is_empty() || path.contains("://") {
            continue;
        }
        assert!(
            root().join(path).exists(),
            "README links to {target}, which does not exist"
        );
        links += 1;
    }
    assert!(links >= 10, "only {links} links checked");
}
