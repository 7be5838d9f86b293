//! `explain`: the JSON contract on recorded dumps, what-if states in the compact format, and the
//! binary's exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use topo_harness::explain::{explain_loaded, to_json, to_text, ExplainRequest};
use topo_harness::input::load_state_str;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn explain_str(state: &str, kubernetes: Option<&str>, gates: &[&str]) -> Value {
    let loaded = load_state_str(state, "test.yaml").expect("state parses");
    let gates: Vec<String> = gates.iter().map(|g| g.to_string()).collect();
    let request = ExplainRequest {
        file: Path::new("test.yaml"),
        kubernetes,
        gates: &gates,
    };
    let (analysis, _) = explain_loaded(&loaded, &request).expect("explains");
    to_json(&analysis)
}

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_topo-harness"))
}

fn run_json(args: &[&str]) -> Value {
    let out = binary().args(args).output().expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

#[test]
fn seed_001_explains_cleanly_on_its_own_version() {
    let file = root().join("fixtures/states/kubectl-seed-001.yaml");
    let v = run_json(&["explain", file.to_str().unwrap(), "-o", "json"]);
    insta::with_settings!({snapshot_path => "../../fixtures/snapshots/explain"}, {
        insta::assert_json_snapshot!("seed-001-1.21", v);
    });
    assert_eq!(v["kubernetes"], "1.21");
    let svc = &v["services"][0];
    assert_eq!(svc["hints"]["agrees"], true);
    assert_eq!(svc["hints"]["allocations"], json!([{"a": 2, "b": 2}]));
}

#[test]
fn seed_001_on_1_33_hits_the_overload_safeguard() {
    // From 1.23 the control-plane node leaves the CPU ratios: a = 1/3, b = 2/3, so four
    // endpoints need at least 2 in a and 3 in b — more than exist.
    let file = root().join("fixtures/states/kubectl-seed-001.yaml");
    let v = run_json(&[
        "explain",
        file.to_str().unwrap(),
        "--kubernetes",
        "1.33",
        "-o",
        "json",
    ]);
    insta::with_settings!({snapshot_path => "../../fixtures/snapshots/explain"}, {
        insta::assert_json_snapshot!("seed-001-1.33", v);
    });
    let hints = &v["services"][0]["hints"];
    assert_eq!(hints["outcome"], "removed");
    assert_eq!(hints["allocations"], json!([]));
    assert_eq!(hints["agrees"], false);
    assert!(hints["reason"]
        .as_str()
        .unwrap()
        .starts_with("Unable to allocate minimum required endpoints"));
}

#[test]
fn json_and_yaml_dumps_explain_identically() {
    let yaml = root().join("fixtures/states/kubectl-seed-001.yaml");
    let json_file = root().join("fixtures/states/kubectl-seed-001.json");
    assert_eq!(
        run_json(&["explain", yaml.to_str().unwrap(), "-o", "json"]),
        run_json(&["explain", json_file.to_str().unwrap(), "-o", "json"])
    );
}

const TIES: &str = r#"
kind: State
kubernetes: "1.33"
nodes:
  - {name: a1, zone: a}
  - {name: b1, zone: b}
  - {name: c1, zone: c}
services:
  - name: web
    annotations: {service.kubernetes.io/topology-mode: Auto}
    endpoints: {b1: 3, c1: 4}
"#;

#[test]
fn go_map_order_gives_every_acceptable_allocation() {
    // Seven endpoints over three equal zones: c gives one to a first, then b and c tie
    // (2/3 surplus each) for the second one a needs.
    let v = explain_str(TIES, None, &[]);
    let hints = &v["services"][0]["hints"];
    assert_eq!(hints["outcome"], "assigned");
    assert_eq!(
        hints["allocations"],
        json!([{"a": 2, "b": 2, "c": 3}, {"a": 2, "b": 3, "c": 2}])
    );
    assert_eq!(hints["observed"], Value::Null);
    assert_eq!(hints["agrees"], false);
}

#[test]
fn routes_group_nodes_and_follow_present_hints() {
    let state = r#"
kind: State
kubernetes: "1.37"
nodes:
  - {name: a1, zone: a}
  - {name: a2, zone: a}
  - {name: b1, zone: b}
  - {name: c1, zone: c}
services:
  - name: web
    trafficDistribution: PreferSameZone
    ports: [{name: http, port: 80}, {port: 8080}]
    endpoints:
      - {node: a1, address: 10.0.0.10, hints: {forZones: [a]}}
      - {node: b1, address: 10.0.0.2, hints: {forZones: [b]}}
"#;
    let v = explain_str(state, None, &[]);
    let s = &v["services"][0];
    assert_eq!(s["heuristic"], "prefer-same-zone");
    assert_eq!(s["hints"]["allocations"], json!([{"a": 1, "b": 1}]));
    assert_eq!(s["hints"]["agrees"], true);
    assert_eq!(
        s["routes"],
        json!([
            {"port": "http", "nodes": ["a1", "a2"], "cluster": ["10.0.0.10"], "local": null, "basis": "zone-hints"},
            {"port": "http", "nodes": ["b1"], "cluster": ["10.0.0.2"], "local": null, "basis": "zone-hints"},
            {"port": "http", "nodes": ["c1"], "cluster": ["10.0.0.10", "10.0.0.2"], "local": null, "basis": "all-ready"},
            {"port": "8080", "nodes": ["a1", "a2"], "cluster": ["10.0.0.10"], "local": null, "basis": "zone-hints"},
            {"port": "8080", "nodes": ["b1"], "cluster": ["10.0.0.2"], "local": null, "basis": "zone-hints"},
            {"port": "8080", "nodes": ["c1"], "cluster": ["10.0.0.10", "10.0.0.2"], "local": null, "basis": "all-ready"}
        ])
    );
}

#[test]
fn internal_traffic_policy_local_routes_only_to_the_node() {
    let state = r#"
kind: State
kubernetes: "1.33"
nodes:
  - {name: a1, zone: a}
  - {name: b1, zone: b}
services:
  - name: web
    internalTrafficPolicy: Local
    endpoints:
      - {node: a1, address: 10.0.0.1}
"#;
    let v = explain_str(state, None, &[]);
    assert_eq!(
        v["services"][0]["routes"],
        json!([
            {"port": "80", "nodes": ["a1"], "cluster": null, "local": ["10.0.0.1"], "basis": "all-ready"},
            {"port": "80", "nodes": ["b1"], "cluster": null, "local": [], "basis": "none"}
        ])
    );
}

#[test]
fn gates_are_inferred_from_use_and_can_be_set() {
    let state = r#"
kind: State
kubernetes: "1.30"
nodes:
  - {name: a1, zone: a}
  - {name: b1, zone: b}
services:
  - name: web
    trafficDistribution: PreferClose
    endpoints: {a1: 1, b1: 1}
"#;
    // The alpha gate is off in 1.30, but the field can only be present when it is on.
    let v = explain_str(state, None, &[]);
    assert_eq!(v["services"][0]["heuristic"], "prefer-close");
    assert_eq!(
        v["services"][0]["hints"]["allocations"],
        json!([{"a": 1, "b": 1}])
    );
    let v = explain_str(state, None, &["ServiceTrafficDistribution=false"]);
    assert_eq!(v["services"][0]["heuristic"], "none");
    assert_eq!(v["services"][0]["hints"]["outcome"], "removed");
}

#[test]
fn text_output_names_the_safeguard_with_numbers() {
    let state = r#"
kind: State
kubernetes: "1.33"
nodes:
  - {name: a1, zone: a}
  - {name: b1, zone: b}
  - {name: c1, zone: c}
services:
  - name: web
    annotations: {service.kubernetes.io/topology-mode: Auto}
    endpoints: {a1: 3, b1: 3, c1: 2}
"#;
    let loaded = load_state_str(state, "t.yaml").unwrap();
    let request = ExplainRequest {
        file: Path::new("t.yaml"),
        kubernetes: None,
        gates: &[],
    };
    let (analysis, notes) = explain_loaded(&loaded, &request).unwrap();
    let text = to_text(&analysis, &notes);
    assert!(
        text.contains("zone a needs at least 3 of 8 endpoints"),
        "{text}"
    );
    assert!(text.contains("overload threshold 20%"), "{text}");
    assert!(text.contains("together 9 > 8 endpoints"), "{text}");
}

#[test]
fn bad_input_exits_2_with_a_message() {
    let out = binary()
        .args(["explain", "does-not-exist.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does-not-exist.yaml"));

    let file = root().join("fixtures/states/kubectl-seed-001.yaml");
    for args in [
        vec!["--kubernetes", "1.20"],
        vec!["--kubernetes", "banana"],
        vec!["--gate", "Nope=true"],
        vec!["--gate", "TopologyAwareHints"],
        vec!["--kubernetes", "1.33", "--gate", "TopologyAwareHints=false"],
    ] {
        let mut cmd = binary();
        cmd.arg("explain").arg(&file).args(&args);
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }

    let dir = std::env::temp_dir().join(format!("topo-explain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("broken.yaml");
    std::fs::write(
        &broken,
        "kind: List\nitems:\n  - kind: Node\n    metadata: {name: [x\n",
    )
    .unwrap();
    let out = binary().arg("explain").arg(&broken).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken.yaml:"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dual_stack_services_are_allocated_per_address_type() {
    let node = |name: &str, zone: &str| {
        format!(
            "- {{kind: Node, metadata: {{name: {name}, labels: {{topology.kubernetes.io/zone: {zone}}}}}, status: {{allocatable: {{cpu: '2'}}, conditions: [{{type: Ready, status: 'True'}}], nodeInfo: {{kubeletVersion: v1.33.1}}}}}}\n"
        )
    };
    let endpoint = |ip: &str, node: &str, zone: &str| {
        format!("  - {{addresses: ['{ip}'], conditions: {{ready: true}}, nodeName: {node}, zone: {zone}, hints: {{forZones: [{{name: {zone}}}]}}}}\n")
    };
    let slice = |name: &str, family: &str, eps: &[String]| {
        format!(
            "- kind: EndpointSlice\n  metadata: {{name: {name}, namespace: default, labels: {{kubernetes.io/service-name: web, endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io}}}}\n  addressType: {family}\n  ports: [{{name: http, port: 80, protocol: TCP}}]\n  endpoints:\n{}",
            eps.concat()
        )
    };
    let text = format!(
        "apiVersion: v1\nkind: List\nitems:\n{}{}- kind: Service\n  metadata: {{name: web, namespace: default, annotations: {{service.kubernetes.io/topology-mode: Auto}}}}\n  spec: {{selector: {{app: web}}, clusterIP: 10.96.0.20, ports: [{{name: http, port: 80}}]}}\n{}{}",
        node("a1", "a"),
        node("b1", "b"),
        // IPv4: one endpoint for two zones, so no hints for that family (written without).
        slice(
            "web-v4",
            "IPv4",
            &["  - {addresses: ['10.0.0.1'], conditions: {ready: true}, nodeName: a1, zone: a}\n".to_string()]
        ),
        slice(
            "web-v6",
            "IPv6",
            &[
                endpoint("fd00::1", "a1", "a"),
                endpoint("fd00::2", "a1", "a"),
                endpoint("fd00::3", "b1", "b"),
                endpoint("fd00::4", "b1", "b"),
            ]
        ),
    );
    let loaded = load_state_str(&text, "dual.yaml").unwrap_or_else(|e| panic!("{e}"));
    let request = ExplainRequest {
        file: Path::new("dual.yaml"),
        kubernetes: None,
        gates: &[],
    };
    let (analysis, _) = explain_loaded(&loaded, &request).unwrap();
    let v = to_json(&analysis);
    let hints = &v["services"][0]["hints"];
    // Per family: IPv4 (1 endpoint, 2 zones) gets none, IPv6 gets a=2 b=2. Pooled, the five
    // endpoints would need 3 per zone and lose every hint.
    assert_eq!(hints["outcome"], "assigned");
    assert_eq!(hints["allocations"], json!([{"a": 2, "b": 2}]));
    assert_eq!(hints["agrees"], true);
}

/// An EndpointSlice whose Service is missing, or that names no Service, is listed as a warning
/// (text and the JSON `warnings` array) instead of being ignored without a word.
#[test]
fn orphan_endpoint_slices_are_warnings() {
    let dir = std::env::temp_dir().join(format!("topo-orphans-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("orphans.yaml");
    std::fs::write(
        &file,
        "kind: List\nitems:\n\
         - {kind: Node, metadata: {name: n1, labels: {topology.kubernetes.io/zone: a}}, status: {nodeInfo: {kubeletVersion: v1.33.0}}}\n\
         - {kind: Service, metadata: {name: web, namespace: shop}, spec: {selector: {app: web}, ports: [{port: 80}]}}\n\
         - {kind: EndpointSlice, apiVersion: discovery.k8s.io/v1, metadata: {name: gone-1, namespace: shop, labels: {kubernetes.io/service-name: gone}}, addressType: IPv4, endpoints: []}\n\
         - {kind: EndpointSlice, apiVersion: discovery.k8s.io/v1, metadata: {name: nolabel, namespace: shop}, addressType: IPv4, endpoints: []}\n\
         - {kind: EndpointSlice, apiVersion: discovery.k8s.io/v1, metadata: {name: web-1, namespace: shop, labels: {kubernetes.io/service-name: web}}, addressType: IPv4, endpoints: []}\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let v = run_json(&["explain", path, "-o", "json"]);
    assert_eq!(
        v["warnings"],
        serde_json::json!([
            "EndpointSlice shop/gone-1 belongs to Service shop/gone, which is not in the input: it is ignored",
            "EndpointSlice shop/nolabel has no kubernetes.io/service-name label: no Service uses it, so it is ignored"
        ])
    );
    let out = binary().args(["explain", path]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("warning: EndpointSlice shop/gone-1 belongs to Service shop/gone"),
        "{text}"
    );
    assert!(
        text.contains("warning: EndpointSlice shop/nolabel has no"),
        "{text}"
    );
    // A clean state has an empty list: the key is always there.
    let seed = root().join("fixtures/states/kubectl-seed-001.yaml");
    let v = run_json(&["explain", seed.to_str().unwrap(), "-o", "json"]);
    assert_eq!(v["warnings"], serde_json::json!([]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn states_over_the_size_budget_exit_2() {
    let seed = root().join("fixtures/states/kubectl-seed-001.json");
    let out = binary()
        .arg("explain")
        .arg(&seed)
        .args(["--max-input-size", "1K"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "larger than the size budget of 1024 bytes (1 KiB); raise it with --max-input-size"
        ),
        "{stderr}"
    );
    let out = binary()
        .args(["explain", "/dev/zero", "--max-input-size", "1M"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// One Service per way a Service can end up without hints, on two zones.
const OUTCOMES: &str = r#"
kind: State
nodes:
  - {name: a1, zone: a}
  - {name: b1, zone: b}
services:
  - name: plain
    endpoints: {a1: 1, b1: 1}
  - name: disabled
    annotations: {service.kubernetes.io/topology-mode: Disabled}
    endpoints: {a1: 1, b1: 1}
  - name: odd-value
    annotations: {service.kubernetes.io/topology-mode: trafficDistribution}
    endpoints: {a1: 1, b1: 1}
  - name: safeguard
    annotations: {service.kubernetes.io/topology-mode: Auto}
    endpoints: {a1: 1}
  - name: selectorless
    selector: {}
    endpoints: {a1: 1, b1: 1}
  - name: external
    type: ExternalName
"#;

fn hints_of<'a>(v: &'a Value, name: &str) -> &'a Value {
    let key = format!("default/{name}");
    let service = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == key.as_str())
        .unwrap_or_else(|| panic!("{key} in {v}"));
    &service["hints"]
}

#[test]
fn services_that_do_not_ask_for_hints_have_outcome_none_on_every_version() {
    for minor in 21..=37 {
        let version = format!("1.{minor}");
        let v = explain_str(OUTCOMES, Some(&version), &[]);
        for name in ["plain", "disabled", "odd-value", "selectorless", "external"] {
            let hints = hints_of(&v, name);
            assert_eq!(hints["outcome"], "none", "{name} on {version}: {hints}");
            assert_eq!(hints["reason"], Value::Null, "{name} on {version}: {hints}");
            assert_eq!(hints["allocations"], json!([]), "{name} on {version}");
        }
        assert_eq!(hints_of(&v, "selectorless")["agrees"], Value::Null);
        assert_eq!(hints_of(&v, "plain")["agrees"], true);
        let external = v["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["service"] == "default/external")
            .unwrap();
        assert_eq!(external["routes"], json!([]), "{version}");
    }
}

#[test]
fn a_safeguard_removes_hints_with_upstreams_reason() {
    let v = explain_str(OUTCOMES, Some("1.33"), &[]);
    let hints = hints_of(&v, "safeguard");
    assert_eq!(hints["outcome"], "removed");
    assert_eq!(
        hints["reason"],
        "Insufficient number of endpoints (1 endpoints, 2 zones)"
    );
}

#[test]
fn asking_with_the_gate_off_removes_hints_and_says_which_gate() {
    let state = r#"
kind: State
nodes:
  - {name: a1, zone: a}
  - {name: b1, zone: b}
services:
  - name: auto
    annotations: {service.kubernetes.io/topology-aware-hints: Auto}
    endpoints: {a1: 1, b1: 1}
"#;
    let v = explain_str(state, Some("1.23"), &["TopologyAwareHints=false"]);
    let hints = hints_of(&v, "auto");
    assert_eq!(hints["outcome"], "removed", "{hints}");
    assert_eq!(
        hints["reason"],
        "the annotation asks for Auto but the TopologyAwareHints gate is off"
    );

    let state = r#"
kind: State
nodes:
  - {name: a1, zone: a}
  - {name: b1, zone: b}
services:
  - name: close
    trafficDistribution: PreferClose
    endpoints: {a1: 1, b1: 1}
  - name: same-zone
    trafficDistribution: PreferSameZone
    endpoints: {a1: 1, b1: 1}
"#;
    let v = explain_str(state, Some("1.30"), &["ServiceTrafficDistribution=false"]);
    let hints = hints_of(&v, "close");
    assert_eq!(hints["outcome"], "removed", "{hints}");
    assert_eq!(
        hints["reason"],
        "trafficDistribution PreferClose is ignored: the ServiceTrafficDistribution gate is off"
    );
    let v = explain_str(
        state,
        Some("1.33"),
        &["PreferSameTrafficDistribution=false"],
    );
    let hints = hints_of(&v, "same-zone");
    assert_eq!(hints["outcome"], "removed", "{hints}");
    assert_eq!(
        hints["reason"],
        "trafficDistribution PreferSameZone needs the PreferSameTrafficDistribution gate"
    );
    assert_eq!(hints_of(&v, "close")["outcome"], "assigned");
}

#[test]
fn internal_traffic_policy_local_has_one_shape_for_every_service_type_before_1_24() {
    // Before 1.24 the proxy filters to node-local endpoints for all of the Service's traffic,
    // NodePort traffic under externalTrafficPolicy Cluster included: only `local` is used.
    let state = |service_type: &str| {
        let node_port = if service_type == "ClusterIP" {
            0
        } else {
            30080
        };
        format!(
            r#"
kind: State
nodes:
  - {{name: a1, zone: a}}
  - {{name: b1, zone: b}}
services:
  - name: web
    type: {service_type}
    internalTrafficPolicy: Local
    ports: [{{port: 80, nodePort: {node_port}}}]
    endpoints:
      - {{node: a1, address: 10.0.0.1}}
"#
        )
    };
    let local_only = json!([
        {"port": "80", "nodes": ["a1"], "cluster": null, "local": ["10.0.0.1"], "basis": "all-ready"},
        {"port": "80", "nodes": ["b1"], "cluster": null, "local": [], "basis": "none"}
    ]);
    for version in ["1.21", "1.22", "1.23"] {
        for service_type in ["ClusterIP", "NodePort", "LoadBalancer"] {
            let v = explain_str(&state(service_type), Some(version), &[]);
            assert_eq!(
                v["services"][0]["routes"], local_only,
                "{service_type} on {version}"
            );
        }
    }
    // From 1.24 external traffic of a NodePort Service keeps the cluster set.
    let v = explain_str(&state("NodePort"), Some("1.24"), &[]);
    assert_eq!(
        v["services"][0]["routes"][1],
        json!({"port": "80", "nodes": ["b1"], "cluster": ["10.0.0.1"], "local": [], "basis": "all-ready"})
    );
    let v = explain_str(&state("ClusterIP"), Some("1.24"), &[]);
    assert_eq!(v["services"][0]["routes"], local_only);
}
