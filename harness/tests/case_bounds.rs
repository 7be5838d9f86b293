//! Hostile case files: every count, CPU and list length has a bound checked at load time, so
//! a huge number is one line naming the bound (exit code 2), never a capacity overflow, an
//! allocation failure or an hour of simulation; large valid cases run in seconds.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use topo_harness::case::bounds;
use topo_harness::case::parse_case;

const HEAD: &str = "apiVersion: topo-harness/v1alpha1
kind: Case
name: hostile
summary: s
source: s
cluster:
  nodes:
    - { name: worker, zone: a }
    - { name: worker2, zone: b }
steps:
  - name: one
";

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("topo-harness-bounds-{}-{name}", std::process::id()))
}

fn topo(args: &[&str]) -> Output {
    match Command::new(env!("CARGO_BIN_EXE_topo-harness"))
        .args(args)
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!("cannot run topo-harness: {e}"),
    }
}

/// Runs `run FILE` on the sim with reports in a temporary directory.
fn run_case(file: &Path, extra: &[&str]) -> Output {
    let junit = temp("junit.xml");
    let summary = temp("summary.md");
    let html = temp("index.html");
    let file = file.to_string_lossy();
    let junit = junit.to_string_lossy();
    let summary = summary.to_string_lossy();
    let html = html.to_string_lossy();
    // Every report goes to the temporary directory: nothing is written into the checkout.
    let mut args = vec![
        "run",
        file.as_ref(),
        "--kubernetes",
        "1.34",
        "--junit",
        junit.as_ref(),
        "--summary",
        summary.as_ref(),
        "--html",
        html.as_ref(),
    ];
    args.extend_from_slice(extra);
    topo(&args)
}

/// The table and every other count field: each huge value is exit 2 with one error
/// line at the value's line and column that names the bound (before: a panic, an abort, a
/// parser's "invalid i64", or a run that did not end).
#[test]
fn huge_counts_are_one_line_naming_the_bound() {
    let rows: &[(&str, &str, &str)] = &[
        (
            "    endpoints: { worker: 9223372036854775808 }\n",
            "12:26",
            "above the bound of 10,000 endpoints per node",
        ),
        (
            "    endpoints: { worker: 2147483648 }\n",
            "12:26",
            "above the bound of 10,000 endpoints per node",
        ),
        (
            "    endpoints: { worker: 4294967295, worker2: 1 }\n",
            "12:26",
            "above the bound of 10,000 endpoints per node",
        ),
        (
            "    scale: 4294967295\n",
            "12:12",
            "above the bound of 100,000 endpoints in the cluster at once",
        ),
        (
            "    scale: 2147483648\n",
            "12:12",
            "above the bound of 100,000 endpoints in the cluster at once",
        ),
        (
            "    endpoints: { worker: 1 }\n    not_ready: { worker: 9223372036854775808 }\n",
            "13:26",
            "above the bound of 10,000 endpoints per node",
        ),
        (
            "    endpoints: { worker: 1 }\n    terminating: { worker: 4294967295 }\n",
            "13:28",
            "above the bound of 10,000 endpoints per node",
        ),
        (
            "    slices: [{name: s, endpoints: [{node: worker, count: 4294967295}]}]\n",
            "12:58",
            "above the bound of 1,000 endpoints per EndpointSlice",
        ),
        (
            "    slices: [{name: s, endpoints: [{node: worker, count: 9223372036854775808}]}]\n",
            "12:58",
            "above the bound of 1,000 endpoints per EndpointSlice",
        ),
        (
            "    expect: { routes: { worker: [\"worker*9223372036854775807\"] } }\n",
            "12:34",
            "above the bound of 100,000 endpoint identities per expectation list",
        ),
        (
            "    expect: { routes: { worker: [\"worker*4294967295\"] } }\n",
            "12:34",
            "above the bound of 100,000 endpoint identities per expectation list",
        ),
        (
            "    expect: { hints: { a: [\"worker*2147483648\"] } }\n",
            "12:28",
            "above the bound of 100,000 endpoint identities per expectation list",
        ),
        (
            "    expect: { hints: { a: 9223372036854775808 } }\n",
            "12:24",
            "above the bound of 100,000 endpoints in the cluster at once",
        ),
        (
            "    expect: { slices: [4294967295] }\n",
            "12:24",
            "above the bound of 1,000 endpoints per EndpointSlice",
        ),
        (
            "    nodes: { worker: { cpu: \"4294967295\" } }\n",
            "12:29",
            "above the bound of 10,000,000 millicores of CPU per node",
        ),
        (
            "    endpoints: { worker: 99999999999999999999999999999999999999999999 }\n",
            "12:26",
            "is above 10^38, above the bound of 10,000 endpoints per node",
        ),
    ];
    for (i, (step, at, bound)) in rows.iter().enumerate() {
        let file = temp(&format!("row{i}.yaml"));
        std::fs::write(&file, format!("{HEAD}{step}")).expect("write the case");
        let started = Instant::now();
        let out = run_case(&file, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{step}: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(10), "{step}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{step}: {stderr}");
        let want_at = format!("{}:{at}: ", file.display());
        assert!(
            errors[0].contains(&want_at) && errors[0].contains(bound),
            "{step}: expected `{want_at}` and `{bound}` in\n{stderr}"
        );
        assert!(
            !stderr.contains("panicked") && !stderr.contains("memory allocation"),
            "{stderr}"
        );
        let _ = std::fs::remove_file(&file);
    }
}

fn parse(text: &str) -> Result<(), Vec<String>> {
    parse_case(text, "c.yaml", Path::new("c.yaml"))
        .map(|_| ())
        .map_err(|errors| errors.iter().map(ToString::to_string).collect())
}

fn nodes(n: usize) -> String {
    (0..n)
        .map(|i| format!("    - {{ name: n{i}, zone: z{} }}\n", i % 3))
        .collect()
}

fn case_with(nodes_yaml: &str, steps_yaml: &str) -> String {
    format!(
        "apiVersion: topo-harness/v1alpha1\nkind: Case\nname: c\nsummary: s\nsource: s\ncluster:\n  nodes:\n{nodes_yaml}steps:\n{steps_yaml}"
    )
}

/// List lengths and totals: nodes, steps, endpoints in force across steps, the sim's work,
/// expected identities per case, max_endpoints_per_slice.
#[test]
fn lists_and_totals_have_bounds_too() {
    let one_step = "  - name: one\n    endpoints: { n0: 1 }\n";
    assert_eq!(
        parse(&case_with(&nodes(bounds::NODES.max as usize), one_step)),
        Ok(())
    );
    let many = parse(&case_with(&nodes(bounds::NODES.max as usize + 1), one_step));
    assert_eq!(
        many,
        Err(vec![
            "c.yaml: the number of cluster.nodes is 5001, above the bound of 5,000 nodes per case (see \"Bounds\" in docs/cases.md)".to_string()
        ])
    );

    let steps: String = (0..=bounds::STEPS.max)
        .map(|i| format!("  - name: s{i}\n"))
        .collect();
    let e = parse(&case_with(&nodes(1), &steps))
        .err()
        .unwrap_or_default();
    assert!(
        e.len() == 1 && e[0].contains("1,000 steps per case"),
        "{e:?}"
    );

    // 5,000 nodes × 5 steps: every step visits every node.
    let five: String = (0..5).map(|i| format!("  - name: s{i}\n")).collect();
    let e = parse(&case_with(&nodes(5_000), &five))
        .err()
        .unwrap_or_default();
    assert_eq!(
        e,
        vec!["c.yaml:5013:5: 5000 nodes × 5 steps (up to this one) is 25000, above the bound of 20,000 node-steps per case (nodes × steps) (see \"Bounds\" in docs/cases.md)".to_string()]
    );
    assert_eq!(
        parse(&case_with(
            &nodes(5_000),
            "  - name: a\n  - name: b\n  - name: c\n  - name: d\n"
        )),
        Ok(())
    );

    // 8,000 pods kept, then 1,000 × 93 hand-written endpoints: 101,000 in force.
    let slices: String = (0..93)
        .map(|i| format!("      - {{name: s{i}, endpoints: [{{node: n1, count: 1000}}]}}\n"))
        .collect();
    let steps = format!(
        "  - name: pods\n    endpoints: {{ n0: 8000 }}\n  - name: hand\n    slices:\n{slices}"
    );
    let e = parse(&case_with(&nodes(2), &steps))
        .err()
        .unwrap_or_default();
    assert!(
        e.len() == 1
            && e[0].starts_with("c.yaml:13:5: after this step, the endpoints (8000 pods + 93000 hand-written) is 101000")
            && e[0].contains("100,000 endpoints in the cluster at once"),
        "{e:?}"
    );

    // 10,000 endpoints × (100 nodes + 10) = 1,100,000 pairs in one step: refused before the
    // sim runs.
    let steps = "  - name: one\n    scale: 10000\n";
    let e = parse(&case_with(&nodes(100), steps))
        .err()
        .unwrap_or_default();
    assert!(
        e.len() == 1 && e[0].contains("100,000 node-endpoint pairs per case"),
        "{e:?}"
    );

    // 11 lists of 100,000 identities: the per-case total trips, each list alone is fine.
    let expects: String = (0..11)
        .map(|i| format!("  - name: s{i}\n    expect: {{ routes: {{ n0: [\"n0*100000\"] }} }}\n"))
        .collect();
    let e = parse(&case_with(&nodes(1), &expects))
        .err()
        .unwrap_or_default();
    assert!(
        e.len() == 1 && e[0].contains("1,000,000 endpoint identities per case"),
        "{e:?}"
    );

    for bad in ["0", "1001", "9223372036854775808"] {
        let text = case_with(&nodes(1), one_step).replace(
            "  nodes:\n",
            &format!("  max_endpoints_per_slice: {bad}\n  nodes:\n"),
        );
        let e = parse(&text).err().unwrap_or_default();
        assert!(
            e.len() == 1 && e[0].contains("max_endpoints_per_slice must be 1 to 1000"),
            "{bad}: {e:?}"
        );
    }
}

/// The parser's own words never reach the user: duplicate keys, several documents, aliases.
#[test]
fn parser_internals_do_not_leak_into_case_errors() {
    let base = case_with(&nodes(1), "  - name: one\n    endpoints: { n0: 1 }\n");
    let inputs = [
        format!("{base}    endpoints: {{ n0: 2 }}\n"),
        format!("{base}---\n{base}"),
        format!("{base}    summary: &a [*a]\n"),
        format!("{base}    summary: {}\n", "[".repeat(300)),
        "a: &a [*a, *a]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d]\n".to_string(),
    ];
    for text in &inputs {
        let e = parse(text).err().unwrap_or_default();
        assert_eq!(e.len(), 1, "{e:?}");
        for leak in [
            "DuplicateKeyPolicy",
            "from_str_multiple",
            "budget breached",
            "weak recursion",
            "Options",
            "{ ",
        ] {
            assert!(!e[0].contains(leak), "{leak} in {}", e[0]);
        }
        assert!(e[0].starts_with("c.yaml"), "{}", e[0]);
    }
    // Case files share the dump reader's translation of the parser's messages.
    let several = parse(&inputs[1]).err().unwrap_or_default();
    assert!(
        several[0].ends_with("several YAML documents (`---`) where one is expected"),
        "{several:?}"
    );
    let dup = parse(&inputs[0]).err().unwrap_or_default();
    assert!(
        dup[0].starts_with("c.yaml:12:5: `endpoints` is written twice"),
        "{dup:?}"
    );
}

/// The file size budget is checked before reading (and while reading a device or pipe);
/// `--max-case-bytes` raises it. Invalid UTF-8 is reported at its line and column.
#[test]
fn case_files_have_a_size_budget_and_utf8_locations() {
    let file = temp("large.yaml");
    let padding = format!("# {}\n", "x".repeat(1 << 20));
    std::fs::write(
        &file,
        format!("{HEAD}    endpoints: {{ worker: 1 }}\n{padding}"),
    )
    .expect("write");
    let out = run_case(&file, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr
            .contains("above the case-file budget of 1,048,576 bytes (--max-case-bytes raises it)"),
        "{stderr}"
    );
    let name = file.to_string_lossy();
    let out = topo(&["list", name.as_ref(), "--max-case-bytes", "2000000"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_file(&file);

    let out = run_case(Path::new("/dev/zero"), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("more than 1,048,576 bytes"), "{stderr}");

    let file = temp("latin1.yaml");
    let mut bytes = format!("{HEAD}    summary: caf").into_bytes();
    bytes.extend_from_slice(&[0xe9, b'\n']);
    std::fs::write(&file, bytes).expect("write");
    let out = run_case(&file, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:12:17: the file is not valid UTF-8",
            file.display()
        )),
        "{stderr}"
    );
    let _ = std::fs::remove_file(&file);
}

/// Large valid cases near the bounds run on the sim in seconds (before: a scale of 20,000
/// took minutes: the sim's pod placement and the controller's packing were quadratic).
#[test]
fn large_valid_cases_run_fast_on_the_sim() {
    // 4,000 × (2 + 10) twice, then 1 × 12: 96,012 pairs, just below the bound.
    let steps = "  - name: many\n    scale: 4000\n  - name: placed\n    endpoints: { n0: 2000, n1: 2000 }\n  - name: one\n    scale: 1\n";
    let file = temp("large-valid.yaml");
    std::fs::write(&file, case_with(&nodes(2), steps)).expect("write");
    let started = Instant::now();
    let out = run_case(&file, &[]);
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // A case of the user's has no golden, so no snapshot check: every check passes.
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let failed: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with('✗'))
        .collect();
    assert!(failed.is_empty(), "{stdout}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    assert!(
        elapsed < Duration::from_secs(30),
        "{elapsed:?} for 4,000 endpoints"
    );
    let _ = std::fs::remove_file(&file);
}

/// Found by the mutation test: 511 endpoints in one of three zones made the model check's
/// exploration of upstream's tie-breaking run 10,000 long sequences (12 s for one case); the
/// exploration now has a budget of choices.
#[test]
fn an_unbalanced_zone_does_not_make_the_model_check_explode() {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../cases/overload-threshold.yaml"),
    )
    .expect("catalog case");
    let placed = "endpoints: { worker: 3, worker2: 3, worker3: 3 }";
    assert!(text.contains(placed));
    let file = temp("unbalanced.yaml");
    std::fs::write(
        &file,
        text.replace(placed, "endpoints: { worker: 511, worker2: 3, worker3: 3 }"),
    )
    .expect("write");
    let started = Instant::now();
    let out = run_case(&file, &[]);
    let elapsed = started.elapsed();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the expectations no longer hold"
    );
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let _ = std::fs::remove_file(&file);
}

/// A name that holds a line break is quoted in the error on one line (found by `cargo fuzz`:
/// the message split into two lines).
#[test]
fn a_quoted_line_break_stays_on_the_error_line() {
    let text = "apiVersion: topo-harness/v1alpha1\nkind: Case\nname: x\nsummary: s\nsource: t\ncluster:\n  nodes:\n    - { name: worker, zone: a }\nsteps:\n  - name: one\n    endpoints: { worker: 1 }\n    expect:\n      routes: { \"no\\nsuch\": [worker] }\n";
    let errors = parse_case(text, "x.yaml", Path::new("x.yaml")).expect_err("unknown node");
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("names node `no\\nsuch`") && !l.contains('\n')),
        "{lines:?}"
    );
}
