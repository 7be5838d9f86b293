//! The JUnit report as a CI reader sees it: `topo-harness run` writes `junit.xml` for seed 001
//! and a deliberately wrong case, and `junitparser` (the Python library many CI tools build
//! on) reads it back. Its totals must match the file's root counts (failures, errors,
//! skipped), every failure's `message` must carry what was expected and what was observed, and
//! no classname may hold a dot (Jenkins splits a classname at its last dot into package and
//! class).
//!
//! Without `python3` and `junitparser` the test prints `skipped: …` and returns, unless
//! `TOPO_REQUIRE_JUNITPARSER=1` (set by `.ci/run`, which installs it), which makes it fail.

use std::process::Command;

#[path = "common/binary.rs"]
mod binary;

use binary::text;

/// Reads the file with junitparser and prints what a CI reader would show, as JSON.
const READER: &str = r#"
import json, sys
from junitparser import JUnitXml, Failure, Error, Skipped
xml = JUnitXml.fromfile(sys.argv[1])
root = {k: xml._elem.get(k) for k in ("tests", "failures", "errors", "skipped")}
cases = []
for suite in xml:
    for case in suite:
        results = [
            {"kind": type(r).__name__, "message": r.message, "text": r.text}
            for r in case.result
            if isinstance(r, (Failure, Error, Skipped))
        ]
        cases.append({"suite": suite.name, "name": case.name, "classname": case.classname, "results": results})
counted = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
for suite in xml:
    suite.update_statistics()
    for key in counted:
        counted[key] += int(getattr(suite, key) or 0)
print(json.dumps({"root": root, "counted": counted, "cases": cases}))
"#;

/// Whether `python3` can import junitparser; `None` (after saying why) when the test may skip.
fn junitparser() -> Option<()> {
    let found = Command::new("python3")
        .args(["-c", "import junitparser"])
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(());
    }
    binary::missing_tool(
        "TOPO_REQUIRE_JUNITPARSER",
        "python3 cannot import junitparser",
        "python3 -m pip install junitparser",
    )
}

#[test]
fn a_junit_reader_sees_expected_observed_and_the_right_totals() {
    let dir = binary::temp("junit", "run");
    let junit = dir.join("junit.xml");
    let out = binary::run_into(&dir, &binary::PASS_FAIL_AND_SKIP);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let xml = std::fs::read_to_string(&junit).unwrap_or_default();
    assert!(
        xml.contains("<testsuites name=\"topo-harness\" tests=\"41\" skipped=\"1\" failures=\"3\" errors=\"0\""),
        "the root counts tests, skips, failures and errors: {xml}"
    );
    let Some(()) = junitparser() else {
        let _ = std::fs::remove_dir_all(&dir);
        return;
    };
    let read = Command::new("python3")
        .args(["-c", READER])
        .arg(&junit)
        .output()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    assert!(read.status.success(), "junitparser: {}", text(&read.stderr));
    let report: serde_json::Value = serde_json::from_slice(&read.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&read.stdout)));
    let _ = std::fs::remove_dir_all(&dir);
    // The root's totals are what the reader counts in the suites.
    let root = &report["root"];
    let counted = &report["counted"];
    for key in ["tests", "failures", "errors", "skipped"] {
        assert_eq!(
            root[key].as_str().and_then(|v| v.parse::<u64>().ok()),
            counted[key].as_u64(),
            "{key}: {report}"
        );
    }
    let cases = report["cases"].as_array().cloned().unwrap_or_default();
    assert_eq!(cases.len(), 41);
    for case in &cases {
        let classname = case["classname"].as_str().unwrap_or_default();
        assert!(!classname.contains('.'), "Jenkins would split {classname}");
        assert!(classname.contains('@'), "{classname}");
    }
    let failures: Vec<&serde_json::Value> = cases
        .iter()
        .flat_map(|c| c["results"].as_array().into_iter().flatten())
        .filter(|r| r["kind"] == "Failure")
        .collect();
    assert_eq!(failures.len(), 3);
    for f in &failures {
        let message = f["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("expected ") && message.contains("observed "),
            "a failure's message says what was expected and observed: {message}"
        );
        assert!(
            message.starts_with("harness/tests/fixtures/wrong-cases/wrong-expectation.yaml:2"),
            "{message}"
        );
        assert!(!f["text"].as_str().unwrap_or_default().is_empty());
    }
    let routes = failures
        .iter()
        .filter_map(|f| f["message"].as_str())
        .find(|m| m.contains("routes/worker:"))
        .unwrap_or_default();
    assert_eq!(
        routes,
        "harness/tests/fixtures/wrong-cases/wrong-expectation.yaml:24:9: routes/worker: expected [control-plane, worker], observed [control-plane, worker, worker2, worker3] (unexpected [worker2, worker3])"
    );
    let skipped: Vec<&serde_json::Value> = cases
        .iter()
        .flat_map(|c| c["results"].as_array().into_iter().flatten())
        .filter(|r| r["kind"] == "Skipped")
        .collect();
    assert_eq!(skipped.len(), 1);
    assert_eq!(
        skipped[0]["message"],
        "the case applies to Kubernetes 1.34 only"
    );
}
