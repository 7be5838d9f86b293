//! Reading cluster states: kubectl dumps (YAML/JSON, v1 and v1beta1), the compact format, and
//! every kind of bad input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use topo_harness::input::{cpu_millis, load_state_file, load_state_str, InputError, StateFormat};
use topo_harness::model::{
    ClusterState, FeatureGate, Hints, KubeVersion, ServiceType, TrafficPolicy,
    MANAGED_BY_CONTROLLER,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/states")
        .join(name)
}

fn load(name: &str) -> topo_harness::input::LoadedState {
    match load_state_file(&fixture(name)) {
        Ok(s) => s,
        Err(e) => panic!("{name}: {e}"),
    }
}

fn err(text: &str) -> String {
    match load_state_str(text, "t.yaml") {
        Ok(s) => panic!("expected an error, got {s:?}"),
        Err(e) => {
            assert_eq!(e.exit_code(), 2);
            e.to_string()
        }
    }
}

fn ok(text: &str) -> ClusterState {
    match load_state_str(text, "t.yaml") {
        Ok(s) => s.state,
        Err(e) => panic!("{e}"),
    }
}

// ---------------------------------------------------------------- kubectl dumps

#[test]
fn seed_001_yaml_and_json_give_the_same_state() {
    let yaml = load("kubectl-seed-001.yaml");
    let json = load("kubectl-seed-001.json");
    assert_eq!(yaml.format, StateFormat::KubectlYaml);
    assert_eq!(json.format, StateFormat::KubectlJson);
    assert_eq!(yaml.state, json.state);
    assert_eq!((yaml.version, yaml.gates.len()), (None, 0));

    let s = yaml.state;
    let names: Vec<_> = s.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "kind-control-plane",
            "kind-worker",
            "kind-worker2",
            "kind-worker3"
        ]
    );
    let zones: Vec<_> = s.nodes.iter().map(|n| n.zone().unwrap_or("-")).collect();
    assert_eq!(zones, ["a", "a", "b", "b"]);
    assert!(s.nodes[0].is_control_plane());
    assert!(!s.nodes[1].is_control_plane());
    for node in &s.nodes {
        assert!(node.ready, "{}", node.name);
        assert_eq!(node.allocatable_cpu_millis, Some(8000));
        assert_eq!(node.kubelet_version, Some(KubeVersion::new(21)));
    }
    assert_eq!(s.kubelet_version(), Some(KubeVersion::new(21)));

    assert_eq!(s.services.len(), 1);
    let dns = &s.services[0];
    assert_eq!(dns.key(), "kube-system/kube-dns");
    assert_eq!(dns.cluster_ip.as_deref(), Some("10.96.0.10"));
    assert_eq!(
        dns.annotations
            .get("service.kubernetes.io/topology-aware-hints")
            .map(String::as_str),
        Some("auto")
    );
    assert_eq!(
        dns.selector,
        Some(BTreeMap::from([("k8s-app".into(), "kube-dns".into())]))
    );
    let ports: Vec<_> = dns
        .ports
        .iter()
        .map(|p| format!("{}:{}/{}", p.name, p.port, p.protocol))
        .collect();
    assert_eq!(ports, ["dns:53/UDP", "dns-tcp:53/TCP", "metrics:9153/TCP"]);

    assert_eq!(s.slices.len(), 1);
    let slice = &s.slices[0];
    assert_eq!(slice.name, "kube-dns-wt2f9");
    assert!(slice.is_controller_managed());
    assert_eq!(s.slices_of(dns).count(), 1);
    let eps: Vec<_> = slice
        .endpoints
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {:?} {}",
                e.addresses[0],
                e.node_name.as_deref().unwrap_or("-"),
                e.zone().unwrap_or("-"),
                e.hints.as_ref().map(|h| h.for_zones.clone()),
                e.pod.as_deref().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        eps,
        [
            r#"10.244.0.5 kind-control-plane a Some(["a"]) coredns-558bd4d5db-pxphb"#,
            r#"10.244.2.2 kind-worker3 b Some(["b"]) coredns-558bd4d5db-rhk7r"#,
            r#"10.244.3.2 kind-worker a Some(["a"]) coredns-558bd4d5db-hfbmj"#,
            r#"10.244.1.2 kind-worker2 b Some(["b"]) coredns-558bd4d5db-hswkq"#,
        ]
    );
    for e in &slice.endpoints {
        assert_eq!(
            (e.ready, e.serving, e.terminating),
            (Some(true), None, None)
        );
    }
}

const V1BETA1: &str = r#"
apiVersion: discovery.k8s.io/v1beta1
kind: EndpointSlice
metadata:
  name: web-abc
  namespace: shop
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: null, port: null}, {name: http, port: 8080, protocol: TCP}]
endpoints:
  - addresses: [10.0.0.1]
    conditions: {ready: true}
    topology:
      kubernetes.io/hostname: n1
      topology.kubernetes.io/zone: z1
      topology.kubernetes.io/region: r1
  - addresses: [10.0.0.2]
    conditions: {ready: null, serving: false, terminating: true}
    hints: {}
"#;

#[test]
fn v1beta1_topology_maps_to_node_and_zone() {
    let s = ok(V1BETA1);
    let slice = &s.slices[0];
    assert_eq!(slice.namespace, "shop");
    assert_eq!(slice.service_name.as_deref(), Some("web"));
    assert_eq!(slice.managed_by, None);
    assert_eq!(slice.ports[0].name, None);
    assert_eq!(slice.ports[0].port, None);
    assert_eq!(slice.ports[1].port, Some(8080));
    let e = &slice.endpoints[0];
    assert_eq!(e.node_name.as_deref(), Some("n1"));
    assert_eq!(e.zone.as_deref(), Some("z1"));
    assert_eq!(e.topology.len(), 3);
    assert_eq!(e.hints, None);
    let e = &slice.endpoints[1];
    assert_eq!(
        (e.ready, e.serving, e.terminating),
        (None, Some(false), Some(true))
    );
    assert_eq!((e.node_name.as_deref(), e.zone.as_deref()), (None, None));
    assert_eq!(e.hints, Some(Hints::default()));
}

#[test]
fn v1_keeps_deprecated_topology_and_for_nodes_hints() {
    let s = ok(r#"
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: s, labels: {endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io}}
addressType: IPv6
endpoints:
  - addresses: ["fd00::1"]
    nodeName: n1
    zone: z1
    deprecatedTopology: {kubernetes.io/hostname: n1}
    hints: {forZones: [{name: z1}], forNodes: [{name: n1}]}
    targetRef: {kind: Pod, name: p1}
  - addresses: ["fd00::2"]
    targetRef: {kind: Node, name: n2}
"#);
    let slice = &s.slices[0];
    assert_eq!(slice.namespace, "default");
    assert_eq!(slice.managed_by.as_deref(), Some(MANAGED_BY_CONTROLLER));
    let e = &slice.endpoints[0];
    assert_eq!(
        e.topology.get("kubernetes.io/hostname").map(String::as_str),
        Some("n1")
    );
    assert_eq!(
        e.hints,
        Some(Hints {
            for_zones: vec!["z1".into()],
            for_nodes: vec!["n1".into()]
        })
    );
    assert_eq!(e.pod.as_deref(), Some("p1"));
    assert_eq!(slice.endpoints[1].pod, None);
}

#[test]
fn single_objects_typed_lists_and_multiple_documents() {
    let text = r#"
apiVersion: v1
kind: NodeList
items:
  - metadata: {name: n1, labels: {topology.kubernetes.io/zone: a}}
    status:
      allocatable: {cpu: 0.10}
      conditions: [{type: Ready, status: "False"}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {}
  type: NodePort
  ports: [{port: 80, nodePort: 30080}]
  internalTrafficPolicy: Local
  externalTrafficPolicy: Local
  trafficDistribution: PreferClose
  topologyKeys: ["kubernetes.io/hostname", "*"]
  publishNotReadyAddresses: true
  externalIPs: [192.0.2.1]
status:
  loadBalancer:
    ingress: [{ip: 198.51.100.7}, {hostname: lb.example.com}]
---
kind: Node
apiVersion: v1
metadata: {name: n2}
"#;
    let s = ok(text);
    assert_eq!(s.nodes.len(), 2);
    assert_eq!(s.nodes[0].allocatable_cpu_millis, Some(100));
    assert!(!s.nodes[0].ready);
    assert_eq!(s.nodes[1].allocatable_cpu_millis, None);
    assert!(!s.nodes[1].ready, "no Ready condition means not ready");
    assert_eq!(s.nodes[1].kubelet_version, None);
    let web = &s.services[0];
    assert_eq!(web.namespace, "default");
    assert_eq!(web.selector, None, "an empty selector is no selector");
    assert_eq!(web.service_type, ServiceType::NodePort);
    assert_eq!(web.ports[0].name, "");
    assert_eq!(web.ports[0].protocol, "TCP");
    assert_eq!(web.ports[0].node_port, 30080);
    assert_eq!(web.internal_traffic_policy, TrafficPolicy::Local);
    assert_eq!(web.external_traffic_policy, TrafficPolicy::Local);
    assert_eq!(
        web.traffic_distribution.as_ref().map(|t| t.as_str()),
        Some("PreferClose")
    );
    assert_eq!(web.topology_keys, ["kubernetes.io/hostname", "*"]);
    assert!(web.publish_not_ready_addresses);
    assert_eq!(web.external_ips, ["192.0.2.1"]);
    assert_eq!(web.load_balancer_ips, ["198.51.100.7"]);
}

#[test]
fn node_cpu_quantities() {
    let table = [
        ("\"2\"", 2000),
        ("\"1500m\"", 1500),
        ("\"0.5\"", 500),
        ("4", 4000),
        ("0.5", 500),
        ("0.10", 100),
        ("\"250m\"", 250),
        ("\"1k\"", 1_000_000),
    ];
    for (cpu, millis) in table {
        let text =
            format!("kind: Node\nmetadata: {{name: n}}\nstatus: {{allocatable: {{cpu: {cpu}}}}}\n");
        assert_eq!(
            ok(&text).nodes[0].allocatable_cpu_millis,
            Some(millis),
            "{cpu}"
        );
    }
    assert_eq!(cpu_millis("1500m"), Ok(1500));
    assert_eq!(
        cpu_millis("2x"),
        Err("`2x` is not a valid CPU quantity: unknown suffix `x`; expected one of m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent such as e3".into())
    );
}

// ---------------------------------------------------------------- compact format

#[test]
fn compact_three_zones() {
    let loaded = load("compact-three-zones.yaml");
    assert_eq!(loaded.format, StateFormat::CompactYaml);
    assert_eq!(loaded.version, Some(KubeVersion::new(33)));
    assert!(loaded.gates.is_empty());
    let s = loaded.state;
    assert_eq!(s.nodes.len(), 7);
    assert!(s.nodes[0].is_control_plane());
    let cpu: Vec<_> = s.nodes.iter().map(|n| n.allocatable_cpu_millis).collect();
    assert_eq!(cpu[5..], [Some(2000), Some(2000)]);
    assert!(s.nodes.iter().all(|n| n.ready));
    assert!(s
        .nodes
        .iter()
        .all(|n| n.kubelet_version == Some(KubeVersion::new(33))));
    assert_eq!(s.nodes[1].label("kubernetes.io/hostname"), Some("a1"));

    let web = &s.services[0];
    assert_eq!(web.key(), "default/web");
    assert_eq!(
        web.selector,
        Some(BTreeMap::from([("app".into(), "web".into())]))
    );
    assert_eq!(web.cluster_ip.as_deref(), Some("10.96.0.10"));
    assert_eq!(web.ports[0].port, 80);

    let slice = &s.slices[0];
    assert_eq!(slice.name, "web-generated");
    assert!(slice.is_controller_managed());
    assert_eq!(
        slice.ports[0].port,
        Some(8080),
        "slice ports carry the target port"
    );
    assert_eq!(slice.ports[0].name.as_deref(), Some("http"));
    let eps: Vec<_> = slice
        .endpoints
        .iter()
        .map(|e| {
            format!(
                "{}@{}/{}",
                e.addresses[0],
                e.node_name.as_deref().unwrap_or("-"),
                e.zone().unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(
        eps,
        [
            "10.244.1.2@a1/a",
            "10.244.1.3@a1/a",
            "10.244.2.2@a2/a",
            "10.244.3.2@b1/b",
            "10.244.4.2@b2/b",
            "10.244.4.3@b2/b",
            "10.244.5.2@c1/c",
            "10.244.6.2@c2/c",
        ]
    );
    let e = &slice.endpoints[0];
    assert_eq!(
        (e.ready, e.serving, e.terminating),
        (Some(true), Some(true), Some(false))
    );
    assert_eq!(e.hints, None);
    assert_eq!(e.pod.as_deref(), Some("web-a1-1"));
    assert_eq!(slice.endpoints[1].pod.as_deref(), Some("web-a1-2"));
}

#[test]
fn compact_prefer_same_node() {
    let loaded = load("compact-prefer-same-node.yaml");
    assert_eq!(loaded.version, Some(KubeVersion::new(34)));
    let s = loaded.state;
    let cache = &s.services[0];
    assert_eq!(cache.key(), "apps/cache");
    assert_eq!(
        cache.traffic_distribution.as_ref().map(|t| t.as_str()),
        Some("PreferSameNode")
    );
    let slice = &s.slices[0];
    assert_eq!(slice.namespace, "apps");
    assert_eq!(s.slices_of(cache).count(), 1);
    let e = &slice.endpoints[0];
    assert_eq!(e.addresses, ["10.244.1.2"]);
    assert_eq!(
        e.hints,
        Some(Hints {
            for_zones: vec!["a".into()],
            for_nodes: vec!["worker".into()]
        })
    );
    let terminating = &slice.endpoints[3];
    assert_eq!(terminating.addresses, ["10.244.3.3"]);
    assert_eq!(
        (
            terminating.ready,
            terminating.serving,
            terminating.terminating
        ),
        (Some(false), Some(true), Some(true))
    );
    assert_eq!(terminating.pod.as_deref(), Some("cache-worker3-2"));
}

#[test]
fn compact_what_if_not_ready() {
    let loaded = load("compact-what-if-notready.yaml");
    assert_eq!(loaded.version, Some(KubeVersion::new(21)));
    assert_eq!(loaded.gates, [(FeatureGate::TopologyAwareHints, true)]);
    let s = loaded.state;
    assert!(!s.node("kind-worker3").is_some_and(|n| n.ready));
    assert!(s.node("kind-worker2").is_some_and(|n| n.ready));

    // The observed slice equals the kubectl dump's, apart from the conditions the compact
    // form states explicitly.
    let dump = load("kubectl-seed-001.yaml").state;
    let (a, b) = (&s.slices[0], &dump.slices[0]);
    assert_eq!(a.endpoints.len(), b.endpoints.len());
    for (x, y) in a.endpoints.iter().zip(&b.endpoints) {
        assert_eq!(
            (&x.addresses, &x.node_name, &x.zone, &x.hints, &x.pod),
            (&y.addresses, &y.node_name, &y.zone, &y.hints, &y.pod)
        );
    }
    let mut ports: Vec<_> = a.ports.clone();
    let mut dump_ports = b.ports.clone();
    ports.sort_by_key(|p| p.name.clone());
    dump_ports.sort_by_key(|p| p.name.clone());
    assert_eq!(ports, dump_ports);

    let db = &s.services[1];
    assert_eq!(db.selector, None);
    let slice = &s.slices[1];
    assert_eq!(slice.name, "external-db-1");
    assert_eq!(
        slice.managed_by.as_deref(),
        Some("my-controller.example.com")
    );
    assert_eq!(slice.ports[0].port, Some(5432));
    assert_eq!(slice.endpoints[0].node_name, None);
    assert_eq!(slice.endpoints[1].ready, None);
    assert_eq!(slice.endpoints[1].hints, Some(Hints::default()));
}

#[test]
fn compact_json_and_defaults() {
    let text = r#"{"kind": "State", "nodes": [{"name": "n1", "zone": "a", "cpu": null}],
      "services": [{"name": "s", "endpoints": {"n1": 1}}]}"#;
    let loaded = load_state_str(text, "t.json").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.format, StateFormat::CompactJson);
    assert_eq!(loaded.version, None);
    let s = loaded.state;
    assert_eq!(s.nodes[0].allocatable_cpu_millis, None);
    assert_eq!(s.nodes[0].kubelet_version, None);
    let svc = &s.services[0];
    assert_eq!((svc.ports[0].name.as_str(), svc.ports[0].port), ("", 80));
    assert_eq!(s.slices[0].endpoints[0].addresses, ["10.244.0.2"]);

    let default_cpu = ok("kind: State\nnodes: [{name: n}]\n");
    assert_eq!(default_cpu.nodes[0].allocatable_cpu_millis, Some(1000));
    assert!(default_cpu.nodes[0].ready);
}

#[test]
fn compact_endpoint_condition_defaults() {
    let s = ok(r#"
kind: State
nodes: [{name: n}]
services:
  - name: s
    endpoints:
      - {node: n}
      - {node: n, ready: false}
      - {node: n, terminating: true}
      - {node: n, terminating: true, serving: false}
      - {node: n, ready: null, serving: null, terminating: null, zone: other}
"#);
    let got: Vec<_> = s.slices[0]
        .endpoints
        .iter()
        .map(|e| (e.ready, e.serving, e.terminating))
        .collect();
    let (t, f) = (Some(true), Some(false));
    assert_eq!(
        got,
        [
            (t, t, f),
            (f, f, f),
            (f, t, t),
            (f, f, t),
            (None, None, None)
        ]
    );
    assert_eq!(s.slices[0].endpoints[4].zone.as_deref(), Some("other"));
    assert_eq!(s.slices[0].endpoints[0].zone, None);
}

// ---------------------------------------------------------------- errors

#[test]
fn unreadable_file() {
    let e = load_state_file(Path::new("/nonexistent/state.yaml")).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(matches!(e, InputError::Read { .. }));
    assert!(
        e.to_string()
            .starts_with("cannot read /nonexistent/state.yaml: "),
        "{e}"
    );
}

#[test]
fn yaml_syntax_error_has_line_and_column() {
    assert_eq!(
        err("kind: List\nitems: [a, b\nmore: 1\n"),
        "t.yaml:3:5: invalid YAML/JSON: illegal placement of ':' indicator"
    );
    let json = err("{\n  \"kind\": \"List\",\n  \"items\": [}\n");
    assert!(json.starts_with("t.yaml:3:"), "{json}");
    assert!(json.contains("invalid YAML/JSON"), "{json}");
    assert_eq!(
        err("a: 1\na: 2\n"),
        "t.yaml:2:1: invalid YAML/JSON: `a` is written twice in the same mapping"
    );
}

/// The YAML library's programmer-facing phrases never reach the user.
#[test]
fn parser_internals_are_translated() {
    let leaks = [
        "DuplicateKeyPolicy",
        "from_str_multiple",
        "budget breached",
        "Recorded",
        "recursive references",
        "weak recursion",
        "Options",
    ];
    let inputs = [
        "a: 1\na: 2\n".to_string(),
        // An alias bomb: each level doubles the last.
        format!(
            "a: &a [x, x]\n{}",
            (b'b'..=b'z')
                .map(|c| format!(
                    "{}: &{} [*{}, *{}, *{}, *{}]\n",
                    c as char,
                    c as char,
                    (c - 1) as char,
                    (c - 1) as char,
                    (c - 1) as char,
                    (c - 1) as char
                ))
                .collect::<String>()
        ),
        "a: &a [*a]\n".to_string(),
        format!("x: {}1{}\n", "[".repeat(200), "]".repeat(200)),
        "kind: State\nnodes: []\n---\nkind: State\n".to_string(),
        "kind: State\napiVersion: topo-harness/v1alpha1\nnodes: [{name: a}]\n---\n{}\n".to_string(),
    ];
    for input in &inputs {
        let started = std::time::Instant::now();
        let message = err(input);
        println!("{:?} for {message}", started.elapsed());
        for leak in leaks {
            assert!(!message.contains(leak), "{message}");
        }
        assert!(message.starts_with("t.yaml"), "{message}");
    }
    // What each message says: the limit (not the type), and for a cluster dump that breaks
    // the budget, JSON, which has none.
    for (input, says) in [
        (3, "nested more than"),
        (1, "aliases that expand too far"),
        (1, "give large dumps as JSON (kubectl -o json)"),
        (0, "`a` is written twice in the same mapping"),
    ] {
        let message = err(&inputs[input]);
        assert!(message.contains(says), "{message}");
    }
}

#[test]
fn invalid_utf8_is_reported_with_line_and_column() {
    let dir = std::env::temp_dir().join(format!("topo-utf8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.yaml");
    std::fs::write(&path, b"kind: List\nitems:\n- name: \xc3\xa9t\xff\n").unwrap();
    let e = load_state_file(&path).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert_eq!(
        e.to_string(),
        format!(
            "{}:3:11: invalid UTF-8 (byte 0xff); the input must be UTF-8 text",
            path.display()
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn inputs_over_the_size_budget_are_refused_before_reading() {
    let dir = std::env::temp_dir().join(format!("topo-budget-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.json");
    std::fs::write(&path, "{\"kind\": \"List\", \"items\": []}").unwrap();
    let e = topo_harness::input::load_state_file_with(&path, 10).unwrap_err();
    assert!(matches!(e, InputError::TooLarge { limit: 10, .. }), "{e}");
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("--max-input-size"), "{e}");
    assert!(topo_harness::input::load_state_file_with(&path, 1 << 20).is_ok());
    // A device without end is cut at the budget, not read until memory runs out.
    let e = topo_harness::input::load_state_file_with(Path::new("/dev/zero"), 1 << 20).unwrap_err();
    assert!(matches!(e, InputError::TooLarge { .. }), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sizes_parse_with_binary_units() {
    use topo_harness::input::parse_size;
    assert_eq!(parse_size("300"), Ok(300));
    assert_eq!(parse_size("512M"), Ok(512 << 20));
    assert_eq!(parse_size("2GiB"), Ok(2 << 30));
    assert_eq!(parse_size("1k"), Ok(1024));
    assert!(parse_size("lots").is_err());
    assert!(parse_size("99999999999999G").is_err());
}

#[test]
fn empty_input() {
    assert_eq!(
        err("# nothing\n"),
        "t.yaml: no objects found; expected Node, Service, EndpointSlice (alone, in a List, NodeList, ServiceList or EndpointSliceList), or State (the compact format)"
    );
}

#[test]
fn unknown_kind_names_the_item() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- kind: Node\n  metadata: {name: n}\n- kind: Pod\n  metadata: {name: p}\n";
    assert_eq!(
        err(text),
        "t.yaml:6:3: items[1]: kind `Pod` is not accepted; expected Node, Service, EndpointSlice (alone, in a List, NodeList, ServiceList or EndpointSliceList), or State (the compact format)"
    );
    assert!(err("kind: Endpoints\nmetadata: {name: x}\n")
        .contains("document root: kind `Endpoints` is not accepted"));
    assert_eq!(
        err("kind: List\nitems:\n- metadata: {name: n}\n"),
        "t.yaml:3:3: items[0].kind: required field is missing"
    );
    assert_eq!(
        err("kind: NodeList\nitems:\n- kind: Service\n  metadata: {name: n}\n"),
        "t.yaml:3:3: items[0]: a NodeList may only hold Node objects, found kind `Service`"
    );
}

#[test]
fn missing_and_mistyped_fields() {
    assert_eq!(
        err("kind: List\nitems:\n- kind: Node\n  metadata: {labels: {}}\n"),
        "t.yaml:4:13: items[0].metadata.name: required field is missing"
    );
    assert_eq!(
        err("kind: Node\nmetadata: {name: n, labels: {a: [1]}}\n"),
        "t.yaml:2:33: metadata.labels.a: expected a string, found a list"
    );
    assert_eq!(
        err("kind: List\nitems:\n- kind: Node\n  metadata: {name: n}\n  status:\n    allocatable:\n      cpu: lots\n"),
        "t.yaml:7:12: items[0].status.allocatable.cpu: `lots` is not a valid CPU quantity: expected a number such as 2, 1500m or 0.5"
    );
    assert_eq!(
        err("kind: Node\nmetadata: {name: n}\nstatus: {allocatable: {cpu: [1]}}\n"),
        "t.yaml:3:29: status.allocatable.cpu: expected a string or a number, found a list"
    );
    assert_eq!(
        err("kind: Service\nmetadata: {name: s}\nspec:\n  ports:\n  - port: 70000\n"),
        "t.yaml:5:11: spec.ports[0].port: port 70000 is out of range 1..=65535"
    );
    assert_eq!(
        err("kind: Service\nmetadata: {name: s}\nspec:\n  ports:\n  - name: x\n"),
        "t.yaml:5:5: spec.ports[0].port: required field is missing"
    );
    assert_eq!(
        err("kind: Service\nmetadata: {name: s}\nspec: {internalTrafficPolicy: Global}\n"),
        "t.yaml:3:31: spec.internalTrafficPolicy: unknown traffic policy `Global`; expected Cluster or Local"
    );
    assert_eq!(
        err("kind: EndpointSlice\nmetadata: {name: s}\nendpoints: []\n"),
        "t.yaml:1:1: addressType: required field is missing"
    );
    assert_eq!(
        err("kind: EndpointSlice\napiVersion: discovery.k8s.io/v2\nmetadata: {name: s}\naddressType: IPv4\n"),
        "t.yaml:2:13: apiVersion: apiVersion `discovery.k8s.io/v2` is not supported here; expected discovery.k8s.io/v1 or discovery.k8s.io/v1beta1"
    );
    assert_eq!(
        err("kind: EndpointSlice\nmetadata: {name: s}\naddressType: IPv4\nendpoints:\n- addresses: [1.2.3.4]\n  conditions: {ready: \"yes\"}\n"),
        "t.yaml:6:23: endpoints[0].conditions.ready: expected a boolean (true or false), found a string"
    );
    assert_eq!(
        err("kind: EndpointSlice\nmetadata: {name: s}\naddressType: IPv4\nendpoints:\n- conditions: {}\n"),
        "t.yaml:5:3: endpoints[0].addresses: required field is missing"
    );
}

#[test]
fn duplicates_are_errors() {
    assert_eq!(
        err("kind: List\nitems:\n- kind: Node\n  metadata: {name: n}\n- kind: Node\n  metadata: {name: n}\n"),
        "t.yaml:5:3: duplicate node `n` (first defined at line 3)"
    );
    assert_eq!(
        err("kind: Service\nmetadata: {name: s, namespace: x}\n---\nkind: Service\nmetadata: {name: s, namespace: x}\n"),
        "t.yaml:4:1: duplicate service `x/s` (first defined at line 1)"
    );
    // Same name in different namespaces is fine.
    ok("kind: Service\nmetadata: {name: s, namespace: x}\n---\nkind: Service\nmetadata: {name: s}\n");
    assert_eq!(
        err("kind: EndpointSlice\nmetadata: {name: e}\naddressType: IPv4\n---\nkind: EndpointSlice\nmetadata: {name: e}\naddressType: IPv4\n"),
        "t.yaml:5:1: duplicate EndpointSlice `default/e` (first defined at line 1)"
    );
    assert_eq!(
        err("kind: State\nnodes:\n  - {name: a}\n  - {name: a}\n"),
        "t.yaml:4:5: duplicate node `a` (first defined at line 3)"
    );
}

#[test]
fn compact_errors() {
    assert_eq!(
        err("kind: State\nnodes:\n  - {name: a, cpus: 4}\n"),
        "t.yaml:3:15: unknown field `cpus`, expected one of name, zone, region, role, cpu, ready, kubelet, labels"
    );
    assert_eq!(
        err("kind: State\nnodes:\n  - {name: a, cpu: 1x}\n"),
        "t.yaml:3:20: `1x` is not a valid CPU quantity: unknown suffix `x`; expected one of m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei or an exponent such as e3"
    );
    assert_eq!(
        err("kind: State\nnodes: [{name: a}]\nservices:\n  - name: s\n    endpoints: {b: 1}\n"),
        "t.yaml:5:17: services[0].endpoints.b: unknown node `b`; nodes are: a"
    );
    assert_eq!(
        err("kind: State\nnodes: [{name: a}]\nservices:\n  - name: s\n    endpoints: [{ready: true}]\n"),
        "t.yaml:5:17: services[0].endpoints[0].node: required field is missing"
    );
    assert_eq!(
        err("kind: State\nkubernetes: \"1.33\"\nfeatureGates: {TopologyAwareHints: false}\n"),
        "t.yaml:3:15: featureGates.TopologyAwareHints: feature gate TopologyAwareHints is GA and locked to true in Kubernetes 1.33"
    );
    assert!(err("kind: State\nfeatureGates: {Nope: true}\n")
        .starts_with("t.yaml:2:15: featureGates.Nope: unknown feature gate `Nope`"));
    assert_eq!(
        err("kind: State\nkubernetes: \"1.9\"\n"),
        "t.yaml:2:13: kubernetes: Kubernetes 1.9 is not supported; the model covers 1.21 to 1.37"
    );
    assert_eq!(
        err("apiVersion: topo-harness/v2\nkind: State\n"),
        "t.yaml:1:13: apiVersion: apiVersion `topo-harness/v2` is not supported; expected topo-harness/v1alpha1"
    );
    assert_eq!(
        err("kind: State\n---\nkind: Node\nmetadata: {name: n}\n"),
        "t.yaml:1:1: document root: a compact state (kind: State) must be the only document in its file"
    );
    assert_eq!(
        err("kind: State\nnodes: [{name: a, zone: x, labels: {topology.kubernetes.io/zone: y}}]\n"),
        "t.yaml:2:9: nodes[0]: label topology.kubernetes.io/zone=`y` contradicts the shorthand `x`"
    );
    assert_eq!(
        err("kind: State\nservices:\n- name: s\n  ports: [{port: 80}, {port: 0}]\n"),
        "t.yaml:4:30: services[0].ports[1].port: port 0 is out of range 1..=65535"
    );
    assert_eq!(
        err("kind: State\nservices: [{name: s, ports: [{port: 0x}]}]\n"),
        // The parser's "invalid u16" is not shown: a Rust type means nothing to the user.
        "t.yaml:2:37: expected a whole number"
    );
}

// ---------------------------------------------------------------- robustness

#[test]
fn never_panics_on_truncated_or_garbage_input() {
    let mut inputs = Vec::new();
    for name in [
        "kubectl-seed-001.yaml",
        "kubectl-seed-001.json",
        "compact-three-zones.yaml",
        "compact-prefer-same-node.yaml",
        "compact-what-if-notready.yaml",
    ] {
        let text = std::fs::read_to_string(fixture(name)).unwrap_or_else(|e| panic!("{e}"));
        let step = (text.len() / 97).max(1);
        for cut in (0..text.len()).step_by(step) {
            if text.is_char_boundary(cut) {
                inputs.push(text[..cut].to_string());
            }
        }
        // Drop one line at a time from the kubectl dump's beginning, where the structure is.
        let lines: Vec<_> = text.lines().collect();
        for skip in 0..lines.len().min(60) {
            let mut v = lines.clone();
            v.remove(skip);
            inputs.push(v.join("\n"));
        }
    }
    // Deterministic pseudo-random garbage made of YAML-significant characters.
    let alphabet: Vec<char> = "ab:- \n\t{}[],'\"&*!|>#%@`?0123456789.\u{0}\u{feff}é"
        .chars()
        .collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for len in 0..400 {
        let mut s = String::new();
        for _ in 0..len % 120 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
        }
        inputs.push(s);
    }
    inputs.push("[".repeat(10_000));
    inputs.push("- ".repeat(5_000));
    inputs.push("a:\n".repeat(60) + "  b: 1\n");
    inputs.push("a: &a [*a]\n".into());
    inputs.push("kind: State\nnodes: 7\n".into());
    inputs.push("kind: [List]\n".into());
    inputs.push("kind: List\nitems: 3\n".into());
    inputs.push("kind: Node\nmetadata: {name: n}\nstatus: {allocatable: {cpu: 1e99999}}\n".into());
    let mut errors = 0;
    for input in &inputs {
        if let Err(e) = load_state_str(input, "fuzz") {
            assert_eq!(e.exit_code(), 2);
            assert!(!e.to_string().is_empty());
            errors += 1;
        }
    }
    assert!(errors > inputs.len() / 2, "{errors} of {}", inputs.len());
}

#[test]
fn the_documented_example_loads() {
    let doc = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/state-format.md"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let section = doc
        .split("## The compact state format")
        .nth(1)
        .unwrap_or_else(|| panic!("section missing"));
    let example = section
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap_or_else(|| panic!("example missing"));
    let loaded = load_state_str(example, "docs/state-format.md").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.version, Some(KubeVersion::new(33)));
    assert_eq!(
        loaded.gates,
        [(FeatureGate::PreferSameTrafficDistribution, true)]
    );
    let s = loaded.state;
    assert_eq!((s.nodes.len(), s.services.len(), s.slices.len()), (3, 2, 3));
    assert_eq!(s.nodes[1].label("disk"), Some("ssd"));
    assert_eq!(s.nodes[1].region(), Some("r1"));
    assert!(!s.nodes[2].ready);
    let api = &s.slices[1];
    let conditions: Vec<_> = api
        .endpoints
        .iter()
        .map(|e| (e.ready, e.serving, e.terminating))
        .collect();
    let (t, f) = (Some(true), Some(false));
    assert_eq!(conditions, [(t, t, f), (f, f, f), (f, t, t), (None, t, f)]);
}

#[test]
fn json_lists_are_read_item_by_item_with_exact_locations() {
    // A minified kubectl List: the item with the bad CPU quantity is named by index, and the
    // location points into the one long line.
    let text = r#"{"apiVersion":"v1","items":[{"apiVersion":"v1","kind":"Node","metadata":{"name":"a"},"status":{"allocatable":{"cpu":"2"}}},{"apiVersion":"v1","kind":"Node","metadata":{"name":"b"},"status":{"allocatable":{"cpu":"lots"}}}],"kind":"List"}"#;
    let e = load_state_str(text, "t.json").unwrap_err().to_string();
    assert!(e.starts_with("t.json:1:"), "{e}");
    assert!(e.contains("items[1].status.allocatable.cpu"), "{e}");
    // Syntax errors inside items are found before any item is converted.
    let broken =
        r#"{"items":[{"kind":"Node","metadata":{"name":"a"}},{"kind":"Node",]],"kind":"List"}"#;
    let e = load_state_str(broken, "t.json").unwrap_err().to_string();
    assert!(e.starts_with("t.json:1:"), "{e}");
    // The streamed and the whole-document readers agree.
    let yaml = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/states/kubectl-seed-001.json"),
    )
    .unwrap();
    let streamed = load_state_str(&yaml, "seed.json").unwrap();
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(&yaml).unwrap())
            .unwrap();
    assert_eq!(
        streamed.state,
        load_state_str(&pretty, "seed.json").unwrap().state
    );
}

/// Problems a newcomer meets, in the tool's words: a kubectl List cut off in transfer says it
/// looks cut off; YAML 1.1 booleans and a cut-off line say what to write, not what the parser
/// expected.
#[test]
fn newcomers_errors_say_what_to_do() {
    // `kubectl get … -o yaml`, cut in the middle of its second item: the List lost its `kind`.
    let full = "apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata:\n    name: a\n- apiVersion: v1\n  kind: Node\n  metadata:\n    name: b\nkind: List\nmetadata:\n  resourceVersion: \"\"\n";
    assert!(load_state_str(full, "t.yaml").is_ok());
    let cut = &full[..full
        .find("  kind: Node\n  metadata:\n    name: b")
        .unwrap_or(0)];
    let e = err(cut);
    assert!(
        e.starts_with("t.yaml:1:1: kind: required field is missing — the file looks cut off: it has `items:` but not the `kind: List` and `metadata:` kubectl writes after them; dump it again"),
        "{e}"
    );
    // A List written by hand with its kind first is not taken for a cut-off one.
    assert_eq!(
        err("kind: List\nitems:\n- metadata: {name: n}\n"),
        "t.yaml:3:3: items[0].kind: required field is missing"
    );
    let compact = "kind: State\nnodes:\n  - {name: a, ready: no}\n";
    let e = err(compact);
    assert!(
        e.contains("expected true or false (YAML 1.1 words such as yes, no, on, off are not booleans here)"),
        "{e}"
    );
    assert!(!e.contains("strict mode"), "{e}");
    let e = err("kind: State\nnodes:\n  - name: a\n    zone");
    assert!(!e.contains("simple key"), "{e}");
    assert!(e.contains("cut off"), "{e}");
}
