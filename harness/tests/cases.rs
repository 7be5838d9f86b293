//! Case files: the generated schema is up to date, bad input is reported with file, line and
//! column (every problem of every file), a deliberately wrong case fails with a readable diff,
//! and the documented example runs.

use std::path::{Path, PathBuf};

use topo_harness::backend::sim::SimBackend;
use topo_harness::case::{load_catalog, parse_case, schema_json, Case, ProxyMode};
use topo_harness::check::CheckStatus;
use topo_harness::plan::VersionSelection;
use topo_harness::report::junit::JunitReporter;
use topo_harness::report::Reporter;
use topo_harness::runner::{run, Event, RunOptions};

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn schema_is_up_to_date() {
    let path = manifest().join("schema/case.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == schema_json(),
        "harness/schema/case.json is out of date with the case types; regenerate it with\n  \
         cargo run -p topo-harness -- schema --output harness/schema/case.json"
    );
}

/// Every invalid fixture and the exact messages it must produce.
const INVALID: &[(&str, &[&str])] = &[
    (
        "invalid-constraints.yaml",
        &[
            "invalid-constraints.yaml:16:16: hints for zone `a`: `3-1` is not a count range; expected a number, \"2-3\", \">= 1\" or \"<= 2\"",
            "invalid-constraints.yaml:13:38: `same_zone: false` asserts nothing; write `true` or leave it out",
            "invalid-constraints.yaml:13:47: routes for `*`: an empty constraint asserts nothing; give a list of endpoints or one of same_zone, same_node, subset_of, at_least, at_most, zones_at_least, not_empty",
            "invalid-constraints.yaml:14:46: share `65` has no `%`; expected a percentage range such as \">= 65%\", \"40-60%\" or \"100%\"",
            "invalid-constraints.yaml:15:59: event type `Info` is not one Kubernetes records; expected Normal or Warning",
        ],
    ),
    (
        "invalid-guard-outside-case.yaml",
        &["invalid-guard-outside-case.yaml:14:21: expect.kubernetes `<1.23` matches no Kubernetes version the case applies to (`>=1.30`) (supported: 1.21–1.37)"],
    ),
    (
        "invalid-negative-count.yaml",
        &[
            "invalid-negative-count.yaml:11:26: endpoints count for `worker` must be 0 or more, found -1",
            "invalid-negative-count.yaml:13:12: scale must be 0 or more, found -3",
        ],
    ),
    (
        "invalid-unknown-field.yaml",
        &["invalid-unknown-field.yaml:11:5: unknown field `endpoint`, expected one of name, summary, endpoints, scale, not_ready, terminating, nodes, service, slices, expect"],
    ),
    (
        "invalid-unknown-node.yaml",
        &[
            "invalid-unknown-node.yaml:12:29: endpoints names node `worker9`, which the cluster does not have (nodes: worker, worker2)",
            "invalid-unknown-node.yaml:14:17: routes names node `worker3`, which the cluster does not have (nodes: worker, worker2)",
        ],
    ),
    (
        "invalid-version-range.yaml",
        &[
            "invalid-version-range.yaml:6:13: kubernetes `>=1.40` matches no Kubernetes version the model covers (supported: 1.21–1.37)",
            "invalid-version-range.yaml:14:21: `1.x` is not a version range; expected clauses such as `1.21`, `>=1.27`, `<1.30`, `1.30-1.32` or `*`, separated by commas",
        ],
    ),
    (
        "invalid-yaml.yaml",
        &["invalid-yaml.yaml:8:6: illegal placement of ':' indicator"],
    ),
];

fn invalid_dir() -> PathBuf {
    manifest().join("tests/fixtures/invalid-cases")
}

#[test]
fn each_invalid_case_reports_its_problems_with_locations() {
    for (file, expected) in INVALID {
        let path = invalid_dir().join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let errors = match parse_case(&text, file, &path) {
            Ok(case) => panic!("{file}: expected errors, loaded {}", case.name),
            Err(e) => e,
        };
        let messages: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(messages, expected, "{file}");
        for e in &errors {
            let at = e
                .location()
                .cloned()
                .unwrap_or_else(|| panic!("{file}: {e} has no location"));
            assert!(at.line > 0 && at.column > 0, "{file}: {e}");
        }
    }
}

#[test]
fn every_invalid_fixture_is_listed_and_a_bad_file_does_not_hide_the_others() {
    let mut on_disk: Vec<String> = std::fs::read_dir(invalid_dir())
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    on_disk.sort();
    let listed: Vec<String> = INVALID.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(on_disk, listed, "every fixture needs its expected messages");

    let (cases, errors) = load_catalog(&[invalid_dir()]);
    assert!(cases.is_empty());
    let total: usize = INVALID.iter().map(|(_, m)| m.len()).sum();
    assert_eq!(errors.len(), total, "{errors:#?}");
    for (file, _) in INVALID {
        assert!(
            errors.iter().any(|e| e.to_string().contains(file)),
            "no error reported for {file}"
        );
    }
}

fn run_collecting(cases: &[Case], versions: VersionSelection) -> (Vec<String>, bool) {
    let options = RunOptions {
        versions,
        proxy_modes: vec![ProxyMode::Iptables],
        filter: None,
        snapshots: None,
        dump_state: None,
    };
    let mut failures = Vec::new();
    let mut emit = |event: &Event| {
        if let Event::StepFinished {
            suite,
            step,
            checks,
            ..
        } = event
        {
            for c in checks {
                if let CheckStatus::Failed(message) = &c.status {
                    failures.push(format!("{}/{step}/{}:\n{message}", suite.name(), c.name));
                }
            }
        }
    };
    let summary = run(cases, &mut SimBackend::new(), &options, &mut emit);
    (failures, summary.success())
}

#[test]
fn a_wrong_expectation_fails_with_a_readable_diff() {
    let path = manifest().join("tests/fixtures/wrong-cases/wrong-expectation.yaml");
    let (cases, errors) = load_catalog(&[path]);
    assert!(errors.is_empty(), "{errors:?}");
    let (failures, success) = run_collecting(&cases, VersionSelection::Default);
    assert!(!success);
    assert_eq!(
        failures,
        vec![
            "wrong-expectation@1.34/iptables/one-per-node/hints:\n\
             expected hints {a: [control-plane, worker], b: [worker2, worker3]}\n\
             observed no hints"
                .to_string(),
            "wrong-expectation@1.34/iptables/one-per-node/routes/worker:\n\
             expected [control-plane, worker]\n\
             observed [control-plane, worker, worker2, worker3]\n  \
             unexpected: [worker2, worker3]"
                .to_string(),
            "wrong-expectation@1.34/iptables/one-per-node/routes/worker2:\n\
             expected [worker2, worker3]\n\
             observed [control-plane, worker, worker2, worker3]\n  \
             unexpected: [control-plane, worker]"
                .to_string(),
        ]
    );
}

/// The example in docs/cases.md.
fn doc_example() -> String {
    let doc = std::fs::read_to_string(manifest().join("../docs/cases.md")).unwrap_or_default();
    let start = doc.find("```yaml\n").map(|i| i + 8).unwrap_or(0);
    let end = doc[start..].find("```").map(|i| start + i).unwrap_or(start);
    doc[start..end].to_string()
}

#[test]
fn the_documented_example_loads_and_passes() {
    let text = doc_example();
    let case = parse_case(&text, "docs/cases.md", Path::new("docs/cases.md"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(case.name, "two-zones-one-endpoint-per-node");
    let (failures, success) = run_collecting(&[case], VersionSelection::EveryApplicable);
    assert!(success, "{}", failures.join("\n\n"));
}

/// Strips volatile `time="…"` attributes.
fn without_times(xml: &str) -> String {
    let mut out = String::new();
    let mut rest = xml;
    while let Some(i) = rest.find(" time=\"") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 7..];
        rest = after.find('"').map(|j| &after[j + 1..]).unwrap_or("");
    }
    out.push_str(rest);
    out
}

#[test]
fn junit_is_deterministic_and_written_to_disk() {
    // Relative (tests run in the package directory): the file is named in failure messages.
    let path = PathBuf::from("tests/fixtures/wrong-cases/wrong-expectation.yaml");
    assert!(manifest().join(&path).is_file());
    let (cases, _) = load_catalog(&[path]);
    let dir = std::env::temp_dir().join(format!("topo-harness-junit-{}", std::process::id()));
    let file = dir.join("junit.xml");
    let mut junit = JunitReporter::new(Some(file.clone()));
    let options = RunOptions {
        versions: VersionSelection::Default,
        proxy_modes: vec![ProxyMode::Iptables, ProxyMode::Nftables],
        filter: None,
        snapshots: None,
        dump_state: None,
    };
    let mut emit = |event: &Event| {
        if let Err(e) = junit.event(event) {
            panic!("{e}");
        }
    };
    run(&cases, &mut SimBackend::new(), &options, &mut emit);
    let written = std::fs::read_to_string(&file).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    let xml = without_times(&written);
    assert_eq!(
        xml.matches("<testsuite ").count(),
        9,
        "5 versions × 2 modes, nftables only where it exists (not 1.21)"
    );
    assert!(xml.contains("<testcase name=\"wrong-expectation/one-per-node/routes/worker2\""));
    assert!(xml.contains("<property name=\"proxy-mode\" value=\"nftables\"/>"));
    insta::assert_snapshot!("junit-wrong-expectation", xml);
}

/// Attributes each element may carry in the common JUnit schema (Jenkins xunit-plugin's
/// `junit-10.xsd`), and the ones it requires. One addition: `skipped` on `<testsuites>`,
/// which that schema leaves out but readers that total a report at its root use (GitLab,
/// junitparser; Jenkins reads without validating and ignores it).
const JUNIT_10: &[(&str, &[&str], &[&str])] = &[
    (
        "testsuites",
        &["name", "time", "tests", "failures", "errors", "skipped"],
        &[],
    ),
    (
        "testsuite",
        &[
            "name",
            "tests",
            "failures",
            "errors",
            "group",
            "time",
            "skipped",
            "timestamp",
            "hostname",
            "id",
            "package",
            "file",
            "log",
            "url",
        ],
        &["name", "tests", "failures", "errors"],
    ),
    ("properties", &[], &[]),
    ("property", &["name", "value"], &["name", "value"]),
    (
        "testcase",
        &["name", "time", "classname", "group"],
        &["name"],
    ),
    ("failure", &["type", "message"], &[]),
    ("error", &["type", "message"], &[]),
    ("skipped", &["type", "message"], &[]),
    ("system-out", &[], &[]),
    ("system-err", &[], &[]),
];

#[test]
fn junit_report_fits_the_common_junit_schema() {
    let paths = vec![
        manifest().join("tests/fixtures/wrong-cases/wrong-expectation.yaml"),
        manifest().join("../cases/seed-001-kube-dns-two-zones.yaml"),
    ];
    let (cases, _) = load_catalog(&paths);
    let mut junit = JunitReporter::new(None);
    let options = RunOptions {
        versions: VersionSelection::Default,
        proxy_modes: vec![ProxyMode::Iptables],
        filter: None,
        snapshots: None,
        dump_state: None,
    };
    let mut emit = |event: &Event| {
        if let Err(e) = junit.event(event) {
            panic!("{e}");
        }
    };
    run(&cases, &mut SimBackend::new(), &options, &mut emit);
    let xml = junit.to_xml().expect("xml");
    let mut elements = 0;
    for tag in xml.split('<').skip(1) {
        if tag.starts_with('/') || tag.starts_with('?') {
            continue;
        }
        let head = tag
            .split('>')
            .next()
            .unwrap_or_default()
            .trim_end_matches('/');
        let mut parts = head.split_whitespace();
        let name = parts.next().unwrap_or_default();
        let (_, allowed, required) = JUNIT_10
            .iter()
            .find(|(n, _, _)| *n == name)
            .unwrap_or_else(|| panic!("element <{name}> is not in junit-10.xsd"));
        let attrs: Vec<&str> = head
            .split('"')
            .step_by(2)
            .filter_map(|chunk| chunk.trim().strip_suffix('='))
            .map(|a| a.rsplit(' ').next().unwrap_or(a))
            .collect();
        for a in &attrs {
            assert!(
                allowed.contains(a),
                "<{name}> may not carry `{a}` in junit-10.xsd"
            );
        }
        for r in *required {
            assert!(attrs.contains(r), "<{name}> lacks required `{r}`");
        }
        elements += 1;
    }
    assert!(elements > 50, "only {elements} elements checked");
    assert!(
        xml.contains("<failure"),
        "the wrong expectation must show as a failure"
    );
}
