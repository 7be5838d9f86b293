//! The conformance report: its shipped JSON Schema matches the types, the report of the
//! built-in catalog on the sim validates against it, profiles are declared by every case and
//! selected by `--profile`, a failing case fails its profile, and bad flags are refused.

use std::path::PathBuf;

use serde_json::{json, Value};
use topo_harness::case::{load_catalog, Profile};
use topo_harness::report::conformance::{catalog_digest, schema_json};

#[path = "common/binary.rs"]
mod binary;

use binary::{root, text, topo};

fn temp(name: &str) -> PathBuf {
    binary::temp("conformance", name)
}

const IMPLEMENTATION: &str =
    "name=reference model,version=0.1.0,url=https://example.org/topo,contact=@maintainer";

/// Runs `topo-harness run` with a conformance report; returns the exit code and the report.
fn run_with_report(name: &str, extra: &[&str]) -> (Option<i32>, Value) {
    let dir = temp(name);
    let report = dir.join("conformance.yaml");
    let mut args = vec![
        "run".to_string(),
        "--junit".into(),
        dir.join("junit.xml").display().to_string(),
        "--summary".into(),
        dir.join("summary.md").display().to_string(),
        "--html".into(),
        dir.join("index.html").display().to_string(),
        "--conformance-report".into(),
        report.display().to_string(),
        "--implementation".into(),
        IMPLEMENTATION.into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = topo(&args);
    let yaml = std::fs::read_to_string(&report).unwrap_or_else(|e| {
        panic!(
            "no report at {}: {e}\n{}{}",
            report.display(),
            text(&out.stdout),
            text(&out.stderr)
        )
    });
    let value: Value = serde_saphyr::from_str(&yaml)
        .unwrap_or_else(|e| panic!("the report is not YAML: {e}\n{yaml}"));
    let _ = std::fs::remove_dir_all(&dir);
    (out.status.code(), value)
}

fn schema() -> Value {
    let path = root().join("harness/schema/conformance-report.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Validates `value` against the keywords the shipped schema uses (`$ref`, `type`,
/// `properties`, `required`, `additionalProperties`, `items`, `enum`, `const`, `oneOf`,
/// `anyOf`, `minimum`, `pattern`); returns every violation with its JSON path.
fn validate(
    root_schema: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    errors: &mut Vec<String>,
) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/$defs/");
        match root_schema.get("$defs").and_then(|d| d.get(name)) {
            Some(target) => validate(root_schema, target, value, at, errors),
            None => errors.push(format!("{at}: unresolvable $ref {reference}")),
        }
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let ok = types.iter().any(|t| match *t {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            _ => false,
        });
        if !ok {
            errors.push(format!("{at}: {value} is not of type {types:?}"));
            return;
        }
    }
    if let Some(c) = schema.get("const") {
        if c != value {
            errors.push(format!("{at}: {value} is not {c}"));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            errors.push(format!("{at}: {value} is not one of {options:?}"));
        }
    }
    if let (Some(min), Some(n)) = (
        schema.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) {
        if n < min {
            errors.push(format!("{at}: {n} < {min}"));
        }
    }
    if let (Some(pattern), Some(s)) = (
        schema.get("pattern").and_then(Value::as_str),
        value.as_str(),
    ) {
        let re = regex::Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        if !re.is_match(s) {
            errors.push(format!("{at}: {s:?} does not match {pattern}"));
        }
    }
    for (keyword, exactly_one) in [("oneOf", true), ("anyOf", false)] {
        if let Some(options) = schema.get(keyword).and_then(Value::as_array) {
            let matching = options
                .iter()
                .filter(|o| {
                    let mut e = Vec::new();
                    validate(root_schema, o, value, at, &mut e);
                    e.is_empty()
                })
                .count();
            if (exactly_one && matching != 1) || (!exactly_one && matching == 0) {
                errors.push(format!("{at}: {value} matches {matching} of {keyword}"));
            }
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(required) {
                errors.push(format!("{at}: missing {required}"));
            }
        }
        for (key, v) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(s) => validate(root_schema, s, v, &format!("{at}.{key}"), errors),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => errors.push(format!("{at}: unknown field {key}")),
                    Some(s @ Value::Object(_)) => {
                        validate(root_schema, s, v, &format!("{at}.{key}"), errors)
                    }
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            validate(root_schema, items, v, &format!("{at}[{i}]"), errors);
        }
    }
}

fn violations(report: &Value) -> Vec<String> {
    let schema = schema();
    let mut errors = Vec::new();
    validate(&schema, &schema, report, "$", &mut errors);
    errors
}

fn profile<'a>(report: &'a Value, name: &str) -> Option<&'a Value> {
    report["profiles"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
}

#[test]
fn the_shipped_schema_matches_the_report_types() {
    let path = root().join("harness/schema/conformance-report.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == schema_json(),
        "harness/schema/conformance-report.json is out of date with the report types; regenerate it with\n  \
         cargo run -p topo-harness -- schema --conformance-report --output harness/schema/conformance-report.json"
    );
}

#[test]
fn the_catalog_report_on_sim_validates_and_succeeds_in_every_profile() {
    let (code, report) = run_with_report("catalog", &[]);
    assert_eq!(code, Some(0));
    let errors = violations(&report);
    assert!(errors.is_empty(), "{errors:#?}\n{report:#}");
    let (catalog, problems) = load_catalog(&[root().join("cases")]);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(report["harness"]["cases"], catalog.len());
    assert_eq!(
        report["harness"]["catalogDigest"],
        catalog_digest(&catalog).unwrap_or_default()
    );
    assert_eq!(report["harness"]["backend"], "sim");
    assert_eq!(report["implementation"]["name"], "reference model");
    assert_eq!(report["implementation"]["contact"], json!(["@maintainer"]));
    assert_eq!(
        report["kubernetesVersions"],
        json!((21..=37).map(|m| format!("1.{m}")).collect::<Vec<_>>())
    );
    assert_eq!(
        report["proxyModes"],
        json!(["iptables", "nftables", "ipvs"])
    );
    for name in ["core", "extended", "legacy"] {
        let p = profile(&report, name).unwrap_or_else(|| panic!("no {name} in {report:#}"));
        assert_eq!(p["result"], "success", "{p:#}");
        assert!(p["statistics"]["passed"].as_u64() > Some(0), "{p:#}");
        assert_eq!(p["statistics"]["failed"], 0);
        assert!(p.get("failedTests").is_none());
    }
}

#[test]
fn the_validator_rejects_reports_the_schema_forbids() {
    let (_, report) = run_with_report("mutated", &["--filter", "seed-001*"]);
    assert!(violations(&report).is_empty());
    type Mutation = (&'static str, fn(&mut Value));
    let mutations: [Mutation; 6] = [
        ("$.profiles[0].result", |r| {
            r["profiles"][0]["result"] = json!("maybe")
        }),
        ("$.implementation: missing version", |r| {
            r["implementation"]
                .as_object_mut()
                .map(|o| o.remove("version"));
        }),
        ("$: unknown field extra", |r| r["extra"] = json!(1)),
        ("$.harness.catalogDigest", |r| {
            r["harness"]["catalogDigest"] = json!("md5:0")
        }),
        ("$.kubernetesVersions[0]", |r| {
            r["kubernetesVersions"][0] = json!("v1.34")
        }),
        ("$.apiVersion", |r| r["apiVersion"] = json!("v1")),
    ];
    for (what, mutate) in mutations {
        let mut bad = report.clone();
        mutate(&mut bad);
        let errors = violations(&bad);
        assert!(
            errors.iter().any(|e| e.contains(what)),
            "{what}: {errors:?}"
        );
    }
}

#[test]
fn profile_core_runs_only_core_cases() {
    let (code, report) = run_with_report("core", &["--profile", "core"]);
    assert_eq!(code, Some(0));
    let names: Vec<&Value> = report["profiles"]
        .as_array()
        .map(|ps| ps.iter().map(|p| &p["name"]).collect())
        .unwrap_or_default();
    assert_eq!(names, [&json!("core")]);
    // The digest still covers the whole catalog, so the run can be reproduced.
    let (catalog, _) = load_catalog(&[root().join("cases")]);
    assert_eq!(report["harness"]["cases"], catalog.len());
    let out = topo(&["list", "--profile", "legacy"]);
    let listed = text(&out.stdout);
    assert!(listed.contains("topology-keys"), "{listed}");
    assert!(!listed.contains("seed-001"), "{listed}");
}

#[test]
fn every_catalog_case_declares_its_profile() {
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(root().join("cases"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let value: Value =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let declared = value["profile"].as_str();
        assert!(declared.is_some(), "{} declares no profile", path.display());
        seen.extend(declared.map(str::to_string));
    }
    let (catalog, _) = load_catalog(&[root().join("cases")]);
    for p in Profile::ALL {
        assert!(
            seen.iter().any(|s| s == p.as_str()),
            "no case in profile {}",
            p.as_str()
        );
        assert!(catalog.iter().any(|c| c.profile == p));
    }
    let profile_of = |name: &str| catalog.iter().find(|c| c.name == name).map(|c| c.profile);
    assert_eq!(profile_of("topology-keys"), Some(Profile::Legacy));
    assert_eq!(profile_of("prefer-same-node"), Some(Profile::Extended));
    assert_eq!(
        profile_of("seed-001-kube-dns-two-zones"),
        Some(Profile::Core)
    );
}

#[test]
fn a_failing_case_fails_its_profile_by_name() {
    let (code, report) = run_with_report(
        "failing",
        &[
            "harness/tests/fixtures/wrong-cases",
            "--kubernetes",
            "1.34",
            "--proxy-mode",
            "iptables",
        ],
    );
    assert_eq!(code, Some(1));
    assert!(violations(&report).is_empty());
    let core = profile(&report, "core").unwrap_or(&Value::Null);
    assert_eq!(core["result"], "failure", "{report:#}");
    assert_eq!(core["statistics"]["failed"], 1);
    assert_eq!(
        core["failedTests"],
        json!(["wrong-expectation@1.34/iptables"])
    );
}

#[test]
fn bad_conformance_flags_are_refused_before_running() {
    for (args, message) in [
        (
            vec!["run", "--conformance-report", "/tmp/x.yaml"],
            "--conformance-report needs --implementation",
        ),
        (
            vec!["run", "--implementation", "name=a,version=1"],
            "--implementation names who",
        ),
        (
            vec![
                "run",
                "--conformance-report",
                "/tmp/x.yaml",
                "--implementation",
                "name=a,version=1,owner=b",
            ],
            "unknown key `owner`",
        ),
    ] {
        let out = topo(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains(message), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    }
}

#[test]
fn the_documented_commands_parse() {
    use clap::Parser as _;
    let doc = std::fs::read_to_string(root().join("docs/reports.md")).unwrap_or_default();
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in doc.lines() {
        if current.is_empty() && !line.starts_with("topo-harness ") {
            continue;
        }
        current.push_str(line.trim_end_matches('\\'));
        current.push(' ');
        if !line.ends_with('\\') {
            commands.push(std::mem::take(&mut current));
        }
    }
    assert!(
        commands
            .iter()
            .any(|c| c.contains("--conformance-report") && c.contains("--implementation")),
        "{commands:?}"
    );
    for command in &commands {
        let words: Vec<&str> = command.split_whitespace().collect();
        if let Err(e) = topo_harness::cli::Cli::try_parse_from(&words) {
            panic!("{command}: {e}");
        }
    }
}

/// The installed tool, run where there is no `cases/`, digests its built-in catalog from the
/// embedded text: the same digest as the repository's catalog (before: "cannot read").
#[test]
fn the_report_of_the_built_in_catalog_works_from_any_directory() {
    let dir = temp("anywhere");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_topo-harness"))
        .current_dir(&dir)
        .args([
            "run",
            "--filter",
            "seed-001*",
            "--kubernetes",
            "1.21",
            "--conformance-report",
            "conformance.yaml",
            "--implementation",
            IMPLEMENTATION,
        ])
        .output()
        .expect("run the binary");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let yaml = std::fs::read_to_string(dir.join("conformance.yaml")).unwrap_or_default();
    let report: Value = serde_saphyr::from_str(&yaml).unwrap_or(Value::Null);
    let (catalog, problems) = load_catalog(&[root().join("cases")]);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        report["harness"]["catalogDigest"],
        catalog_digest(&catalog).unwrap_or_default(),
        "{yaml}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The report names the EndpointSlice controller under test: the in-tree one by default,
/// the `--managed-by` manager when one is given.
#[test]
fn the_report_names_the_controller_under_test() {
    let (_, report) = run_with_report("controller-default", &["--filter", "seed-001*"]);
    assert_eq!(
        report["controller"],
        json!({"inTree": true, "managedBy": "endpointslice-controller.k8s.io"})
    );
    let (_, report) = run_with_report(
        "controller-own",
        &[
            "--filter",
            "seed-001*",
            "--managed-by",
            "example.com/topology",
        ],
    );
    assert!(violations(&report).is_empty(), "{report:#}");
    assert_eq!(report["controller"]["managedBy"], "example.com/topology");
}
