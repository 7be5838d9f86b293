//! A user's own folder of cases, outside `cases/`: upstream's e2e tests and unit-test scenario
//! tables translated into the case format (`examples/upstream-cases/`). They run through the
//! library, not the catalog, on every minor 1.21–1.37 each applies to, without golden
//! snapshots, and every check must pass as written. A deliberately wrong copy of one of them
//! must fail with a diff that names only what is wrong.

use std::path::PathBuf;

use topo_harness::backend::sim::SimBackend;
use topo_harness::case::{load_catalog, parse_case, Case, ProxyMode};
use topo_harness::check::CheckStatus;
use topo_harness::model::KubeVersion;
use topo_harness::plan::VersionSelection;
use topo_harness::runner::{run, Event, RunOptions};

fn folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/upstream-cases")
}

fn every_minor() -> VersionSelection {
    VersionSelection::Explicit((21..=37).map(KubeVersion::new).collect())
}

/// Runs `cases` on the sim (no snapshots); returns every failure (`suite/step/check:` and the
/// message), the suites run and the minors they ran on.
fn run_folder(cases: &[Case], modes: Vec<ProxyMode>) -> (Vec<String>, usize, Vec<u32>) {
    let options = RunOptions {
        versions: every_minor(),
        proxy_modes: modes,
        filter: None,
        snapshots: None,
        dump_state: None,
    };
    let mut failures = Vec::new();
    let mut minors = Vec::new();
    let mut emit = |event: &Event| match event {
        Event::StepFinished {
            suite,
            step,
            checks,
            ..
        } => {
            minors.push(suite.version.minor);
            for c in checks {
                if let CheckStatus::Failed(message) = &c.status {
                    failures.push(format!("{}/{step}/{}:\n{message}", suite.name(), c.name));
                }
            }
        }
        Event::SuiteFinished {
            suite,
            error: Some(e),
            ..
        } => failures.push(format!("{}: {e}", suite.name())),
        _ => {}
    };
    let summary = run(cases, &mut SimBackend::new(), &options, &mut emit);
    minors.sort_unstable();
    minors.dedup();
    (
        failures,
        summary.counts.passed + summary.counts.failed,
        minors,
    )
}

fn load() -> Vec<Case> {
    let (cases, errors) = load_catalog(&[folder()]);
    let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{}", text.join("\n"));
    cases
}

#[test]
fn upstream_scenarios_pass_as_written_on_every_minor() {
    let cases = load();
    let (failures, ran, minors) = run_folder(
        &cases,
        vec![ProxyMode::Iptables, ProxyMode::Nftables, ProxyMode::Ipvs],
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(cases.len() >= 10, "{} cases", cases.len());
    assert_eq!(minors, (21..=37).collect::<Vec<u32>>(), "every minor runs");
    // Every case runs somewhere (a range typo would skip it everywhere).
    for case in &cases {
        assert!(
            !case.versions.supported().is_empty(),
            "{} applies to no version",
            case.name
        );
    }
    assert!(ran > cases.len(), "{ran} runs");
}

#[test]
fn every_new_assertion_is_used_by_the_folder() {
    let text: String = std::fs::read_dir(folder())
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
    for key in [
        "same_zone:",
        "same_node:",
        "subset_of:",
        "at_least:",
        "at_most:",
        "zones_at_least:",
        "not_empty:",
        "traffic_shares:",
        "ready_endpoints_hinted:",
        "hints_own_zone:",
        "events:",
        "absent: true",
        "aUto",
        "ready: null",
        "external_routes:",
        "\">= 1\"",
    ] {
        assert!(text.contains(key), "no case in the folder uses `{key}`");
    }
}

/// A copy of the topology-hints e2e case whose expectations are wrong in four ways.
const WRONG: &str = r#"
apiVersion: topo-harness/v1alpha1
kind: Case
name: wrong-upstream-expectations
summary: Deliberately wrong constraints.
source: test fixture
kubernetes: "1.34"
cluster:
  nodes:
    - { name: worker, zone: a }
    - { name: worker2, zone: a }
    - { name: worker3, zone: b }
service:
  annotations: { service.kubernetes.io/topology-mode: Disabled }
steps:
  - name: daemonset
    endpoints: { worker: 1, worker2: 1, worker3: 1 }
    expect:
      routes:
        worker: { same_zone: true, at_most: 2 }
      traffic_shares:
        worker: { same_zone: "100%" }
      ready_endpoints_hinted: true
      events:
        - { reason: TopologyAwareHintsEnabled }
"#;

#[test]
fn a_wrong_expectation_fails_with_a_focused_diff() {
    let case = parse_case(WRONG, "wrong.yaml", &folder().join("wrong.yaml"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let (failures, _, _) = run_folder(&[case], vec![ProxyMode::Iptables]);
    assert_eq!(
        failures,
        [
            "wrong-upstream-expectations@1.34/iptables/daemonset/routes/worker:\n\
             expected only endpoints in worker's zone a\n  \
             outside it: worker3 (zone b)\n\
             expected at most 2 endpoint(s), observed 3\n\
             observed [worker, worker2, worker3]",
            "wrong-upstream-expectations@1.34/iptables/daemonset/traffic_shares/worker:\n\
             share in worker's zone a: expected 100%, observed 66.67%\n\
             answers from worker: worker: 1, worker2: 1, worker3: 1 (3 in all)",
            "wrong-upstream-expectations@1.34/iptables/daemonset/ready_endpoints_hinted:\n\
             expected every ready endpoint to have a zone hint\n  \
             without one: [worker, worker2, worker3] (of 3 ready)",
            "wrong-upstream-expectations@1.34/iptables/daemonset/events:\n\
             expected an event TopologyAwareHintsEnabled\n\
             observed no event on the Service",
        ]
    );
}
