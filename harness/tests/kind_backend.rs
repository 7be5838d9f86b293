//! `KindBackend` end to end without a cluster: kind and docker are a `RecordingRunner` with
//! scripted answers (a recorded `iptables-save` dump from `fixtures/rules/`), the API server
//! is a tower-test mock scripted on its own thread. One tiny case: setup → apply one step →
//! observe → cleanup → shutdown, asserting the exact command sequence and every API request.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response};
use kube::client::Body;
use serde_json::{json, Value};
use topo_harness::backend::kind::command::Output;
use topo_harness::backend::kind::{
    config, releases, AfterCreate, Command, CommandError, CommandRunner, ImageTable, KindBinary,
    KindRelease, KubeadmApi, RecordingRunner,
};
use topo_harness::backend::kube_api::{ClusterApi, RetryPolicy};
use topo_harness::backend::live::kind::max_pods_per_node;
use topo_harness::backend::live::kind::ApiFactory;
use topo_harness::backend::live::{
    kind_spec, shape_cluster_name, KindBackend, KindOptions, ObserveSource,
};
use topo_harness::backend::{Applied, Backend};
use topo_harness::case::{ClusterShape, NodeDef, ProxyMode, Role, ServiceChange, StepAction};
use topo_harness::model::KubeVersion;
use topo_harness::plan::VersionSelection;
use topo_harness::runner::{run, Event, RunOptions};
use tower_test::mock;

const ZONE: &str = "topology.kubernetes.io/zone";
const REGION: &str = "topology.kubernetes.io/region";
const APPLY_QUERY: &str = "?&force=true&fieldManager=topo-harness";
/// The run id is part of the namespace (`KindOptions::new("run-test")`).
const NS: &str = "topo-tiny-test-1";
const AGNHOST: &str = topo_harness::backend::live::workload::manifests::AGNHOST_IMAGE;

struct Shared(Arc<RecordingRunner>);

impl CommandRunner for Shared {
    fn run(&self, command: &Command) -> Result<Output, CommandError> {
        self.0.run(command)
    }
}

#[path = "common/mock_api.rs"]
mod mock_api;

use mock_api::ApiServer as Server;

fn status(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": reason, "reason": reason, "code": code})
}

fn node(name: &str, zone: Option<&str>, control_plane: bool) -> Value {
    let mut labels = json!({"kubernetes.io/hostname": name});
    if let Some(zone) = zone {
        labels[ZONE] = json!(zone);
    }
    if control_plane {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
    }
    json!({
        "metadata": {"name": name, "labels": labels, "resourceVersion": "1"},
        "status": {
            "allocatable": {"cpu": "1"},
            "conditions": [{"type": "Ready", "status": "True"}],
            "nodeInfo": {"kubeletVersion": "v1.34.1"}
        }
    })
}

fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": "9"}, "items": items})
}

fn shape() -> ClusterShape {
    let def = |name: &str, role| NodeDef::new(name, role, Some("a"));
    ClusterShape {
        version: KubeVersion::new(34),
        proxy_mode: ProxyMode::Iptables,
        feature_gates: Vec::new(),
        max_endpoints_per_slice: 100,
        nodes: vec![
            def("control-plane", Role::ControlPlane),
            def("worker", Role::Worker),
        ],
    }
}

fn dump() -> String {
    let path = format!(
        "{}/../fixtures/rules/iptables/valid-kind-nginx.iptables",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).expect("fixture")
}

/// The API server's side of the whole case, in order.
async fn script(mut s: Server, cp: String, worker: String) {
    // connect: the components' versions, once per cluster.
    s.version("v1.34.1").await;
    let ns_path = format!("/api/v1/namespaces/{NS}");
    // setup: the namespace (looked up first: never change what the harness did not create)…
    s.answer_body("GET", &ns_path, 404, status(404, "NotFound"))
        .await;
    let sent = s
        .answer_body(
            "PATCH",
            &format!("{ns_path}{APPLY_QUERY}"),
            201,
            json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": NS}}),
        )
        .await;
    assert_eq!(sent["metadata"]["name"], json!(NS));
    // …and the case's zones on the nodes.
    for name in [&cp, &worker] {
        let path = format!("/api/v1/nodes/{name}");
        let mut current = node(name, None, name == &cp);
        current["apiVersion"] = json!("v1");
        current["kind"] = json!("Node");
        s.answer_body("GET", &path, 200, current.clone()).await;
        let sent = s
            .answer_body("PATCH", &format!("{path}?"), 200, current)
            .await;
        assert_eq!(
            sent,
            json!({"metadata": {"labels": {REGION: null, ZONE: "a"}}})
        );
    }
    // apply: the Service, then one echo pod bound to the worker.
    let svc_path = format!("{ns_path}/services/web{APPLY_QUERY}");
    let sent = s.answer_body("PATCH", &svc_path, 201, json!({"kind": "Service", "apiVersion": "v1", "metadata": {"name": "web", "namespace": NS}})).await;
    assert_eq!(
        sent["metadata"]["annotations"]["service.kubernetes.io/topology-mode"],
        json!("Auto")
    );
    assert_eq!(
        sent["spec"]["selector"]["app.kubernetes.io/name"],
        json!("web")
    );
    let pod = format!("{ns_path}/pods/web-0000{APPLY_QUERY}");
    let sent = s.answer_body("PATCH", &pod, 201, json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "web-0000", "namespace": NS}})).await;
    assert_eq!(sent["spec"]["nodeName"], json!(worker));
    assert_eq!(sent["spec"]["containers"][0]["image"], json!(AGNHOST));
    // observe: nodes, Services, EndpointSlices.
    s.answer_body(
        "GET",
        "/api/v1/nodes?",
        200,
        list(
            "NodeList",
            vec![node(&cp, Some("a"), true), node(&worker, Some("a"), false)],
        ),
    )
    .await;
    let service = json!({
        "metadata": {"name": "web", "namespace": NS, "resourceVersion": "3",
                     "annotations": {"service.kubernetes.io/topology-mode": "Auto"}},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.175.117",
                 "selector": {"app.kubernetes.io/name": "web"},
                 "ports": [{"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP"}]}
    });
    s.answer_body(
        "GET",
        &format!("{ns_path}/services?"),
        200,
        list("ServiceList", vec![service]),
    )
    .await;
    let endpoints: Vec<Value> = ["10.244.0.20", "10.244.0.21", "10.244.0.22"]
        .iter()
        .map(|ip| {
            json!({"addresses": [ip], "conditions": {"ready": true, "serving": true, "terminating": false},
                   "nodeName": worker, "zone": "a"})
        })
        .collect();
    let slice = json!({
        "metadata": {"name": "web-abc", "namespace": NS, "resourceVersion": "4",
                     "labels": {"kubernetes.io/service-name": "web",
                                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints
    });
    s.answer_body(
        "GET",
        &format!("/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices?"),
        200,
        list("EndpointSliceList", vec![slice]),
    )
    .await;
    // The Service's events (none yet).
    s.answer(
        "GET",
        &format!("{ns_path}/events?&fieldSelector=involvedObject.kind%3DService%2CinvolvedObject.name%3Dweb"),
        200,
        list("EventList", vec![]),
    )
    .await;
    // cleanup, newest first: labels restored (zone and region were absent), then the namespace
    // (the Service and the pod go with it).
    for name in [&worker, &cp] {
        let sent = s
            .answer_body(
                "PATCH",
                &format!("/api/v1/nodes/{name}?"),
                200,
                node(name, None, false),
            )
            .await;
        assert_eq!(
            sent,
            json!({"metadata": {"labels": {REGION: null, ZONE: null}}})
        );
    }
    s.answer_body(
        "DELETE",
        &format!("{ns_path}?"),
        200,
        status(200, "Success"),
    )
    .await;
}

#[test]
fn kind_backend_runs_a_tiny_case_against_fakes() {
    let shape = shape();
    let name = shape_cluster_name(&shape);
    let cp = format!("{name}-control-plane");
    let worker = format!("{name}-worker");
    let dir = std::env::temp_dir().join(format!("topo-kind-backend-{}", std::process::id()));
    let kind_dir = dir.join("kind");
    let reports = dir.join("reports");
    let config = kind_dir.join(format!("{name}.yaml"));
    let kubeconfig = reports.join("run-test").join(&name).join("kubeconfig");

    let runner = Arc::new(RecordingRunner::new());
    runner.ok(&["kind", "get", "clusters"], "other\n");
    let create = [
        "kind".to_string(),
        "create".into(),
        "cluster".into(),
        "--name".into(),
        name.clone(),
        "--config".into(),
        config.display().to_string(),
        "--retain".into(),
        "--wait".into(),
        "1m".into(),
        "--kubeconfig".into(),
        kubeconfig.display().to_string(),
    ];
    runner.ok(&create, "");
    runner.ok(
        &["kind", "get", "kubeconfig", "--name", &name],
        "apiVersion: v1\nkind: Config\n",
    );
    // The host has the workload image: it is loaded into the nodes once.
    runner.ok(
        &["docker", "image", "inspect", "--format", "{{.Id}}", AGNHOST],
        "sha256:0123\n",
    );
    runner.ok(
        &["kind", "load", "docker-image", AGNHOST, "--name", &name],
        "",
    );
    for node in [&cp, &worker] {
        runner.ok(
            &[
                "docker",
                "exec",
                node,
                "curl",
                "--silent",
                "127.0.0.1:10249/proxyMode",
            ],
            "iptables",
        );
        runner.ok(&["docker", "exec", node, "iptables-save"], &dump());
    }
    runner.ok(&["kind", "delete", "cluster", "--name", &name], "");

    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let server = {
        let (cp, worker) = (cp.clone(), worker.clone());
        mock_api::spawn_script(Server(handle), move |s| script(s, cp, worker))
    };
    let slot = Mutex::new(Some(service));
    let contexts = Arc::new(Mutex::new(Vec::new()));
    let seen = contexts.clone();
    let factory: ApiFactory = Box::new(move |rt, _path, context| {
        seen.lock().expect("lock").push(context.to_string());
        let service = slot.lock().expect("lock").take().expect("connected once");
        let _guard = rt.enter();
        let client = kube::Client::new(service, "default");
        Ok(ClusterApi::from_client(client, Some(context.to_string()))
            .with_retry(RetryPolicy::immediate()))
    });

    let mut options = KindOptions::new("run-test");
    options.kind_dir = kind_dir.clone();
    options.reports_dir = reports.clone();
    options.host_cpu_millis = 2000;
    options.cli = Default::default();
    // No waiting for pods: the mock API serves no watch.
    options.settle = None;
    let mut backend = KindBackend::new(Box::new(Shared(runner.clone())), options)
        .expect("backend")
        .with_api_factory(factory);

    backend.case_started("tiny");
    backend.setup(&shape).expect("setup");
    let step = StepAction {
        create_service: Some(ServiceChange {
            annotations: vec![(
                "service.kubernetes.io/topology-mode".into(),
                Some("Auto".into()),
            )],
            ..ServiceChange::default()
        }),
        endpoints: Some(BTreeMap::from([("worker".to_string(), 1)])),
        ..StepAction::default()
    };
    assert_eq!(backend.apply(&step).expect("apply"), Applied::Ok);
    let obs = backend.observe().expect("observe");
    backend.cleanup().expect("cleanup");
    backend.shutdown().expect("shutdown");
    server.join().expect("the scripted API server failed");

    // Case names everywhere, routes as addresses from the recorded dump.
    let names: Vec<&str> = obs.state.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["control-plane", "worker"]);
    let on: Vec<Option<&str>> = obs
        .state
        .slices
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .map(|e| e.node_name.as_deref())
        .collect();
    assert_eq!(on, [Some("worker"); 3]);
    let all = vec![
        "10.244.0.20".to_string(),
        "10.244.0.21".to_string(),
        "10.244.0.22".to_string(),
    ];
    for node in ["control-plane", "worker"] {
        let routes = obs.routes.get(node).expect("routes");
        let internal: Vec<String> = routes.internal.iter().map(|r| r.to_string()).collect();
        assert_eq!(internal, all, "{node}");
        assert_eq!(routes.external, None);
    }

    assert_eq!(*contexts.lock().expect("lock"), [format!("kind-{name}")]);
    let q = |s: &str| {
        if s.contains(['<', '>', ' ']) {
            format!("'{s}'")
        } else {
            s.to_string()
        }
    };
    assert_eq!(
        runner.call_lines(),
        vec![
            "kind get clusters".to_string(),
            create.iter().map(|w| q(w)).collect::<Vec<_>>().join(" "),
            format!("kind get kubeconfig --name {name}"),
            format!("docker image inspect --format '{{{{.Id}}}}' {AGNHOST}"),
            format!("kind load docker-image {AGNHOST} --name {name}"),
            format!("docker exec {cp} curl --silent 127.0.0.1:10249/proxyMode"),
            format!("docker exec {worker} curl --silent 127.0.0.1:10249/proxyMode"),
            format!("docker exec {cp} iptables-save"),
            format!("docker exec {worker} iptables-save"),
            format!("kind delete cluster --name {name}"),
        ]
    );
    assert!(runner.unused().is_empty(), "{:?}", runner.unused());
    let written = std::fs::read_to_string(&config).expect("config written");
    assert!(
        written.contains("system-reserved: \"cpu=1000m\""),
        "{written}"
    );
    assert_eq!(
        std::fs::read_to_string(&kubeconfig).ok().as_deref(),
        Some("apiVersion: v1\nkind: Config\n")
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_existing_cluster_is_not_touched_without_reuse() {
    let shape = shape();
    let name = shape_cluster_name(&shape);
    let runner = Arc::new(RecordingRunner::new());
    runner.ok(&["kind", "get", "clusters"], &format!("{name}\n"));
    let dir = std::env::temp_dir().join(format!("topo-kind-existing-{}", std::process::id()));
    let mut options = KindOptions::new("run-test");
    options.kind_dir = dir.join("kind");
    options.reports_dir = dir.join("reports");
    options.host_cpu_millis = 2000;
    options.cli = Default::default();
    let mut backend = KindBackend::new(Box::new(Shared(runner.clone())), options).expect("backend");
    let err = backend
        .setup(&shape)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("--reuse"), "{err}");
    drop(backend);
    assert_eq!(runner.call_lines(), ["kind get clusters"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn too_much_cpu_fails_before_any_command() {
    let mut shape = shape();
    shape.nodes[1].cpu_millis = 64_000;
    let runner = Arc::new(RecordingRunner::new());
    let mut options = KindOptions::new("run-test");
    options.host_cpu_millis = 2000;
    let mut backend = KindBackend::new(Box::new(Shared(runner.clone())), options).expect("backend");
    let err = backend
        .setup(&shape)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("wants 64000m allocatable CPU but the host has only 2000m"),
        "{err}"
    );
    assert!(runner.calls().is_empty());
    let _ = PathBuf::new();
}

/// The shape → spec → kind config mapping for a catalog case, as a golden file: roles in
/// order, no zones (they are per case), CPU reservations of host − wanted.
#[test]
fn catalog_shape_maps_to_a_golden_kind_config() {
    use topo_harness::backend::kind::{config, ImageTable};
    use topo_harness::backend::live::kind_spec;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let case = topo_harness::case::load_case_file(&root.join("cases/cpu-proportional.yaml"))
        .expect("case");
    let shape = case
        .shape(KubeVersion::new(36), ProxyMode::Iptables)
        .expect("shape");
    let spec = kind_spec(&shape, 4000).expect("spec");
    let images = ImageTable::embedded().expect("images");
    let rendered = config::render(&spec, &images, images.default_release()).expect("render");
    insta::with_settings!({snapshot_path => "../../fixtures/snapshots/kind", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("backend-cpu-proportional-1.36", rendered.yaml);
    });
}

/// A cluster this run created but cannot use (kube-proxy in another mode) is not left behind:
/// its logs are exported and it is deleted.
#[test]
fn a_created_cluster_that_fails_its_checks_is_deleted() {
    let shape = shape();
    let name = shape_cluster_name(&shape);
    let cp = format!("{name}-control-plane");
    let dir = std::env::temp_dir().join(format!("topo-kind-bad-{}", std::process::id()));
    let kind_dir = dir.join("kind");
    let reports = dir.join("reports");
    let runner = Arc::new(RecordingRunner::new());
    runner.ok(&["kind", "get", "clusters"], "");
    let config = kind_dir.join(format!("{name}.yaml")).display().to_string();
    let kubeconfig = reports
        .join("run-test")
        .join(&name)
        .join("kubeconfig")
        .display()
        .to_string();
    let logs = reports
        .join("run-test")
        .join(&name)
        .join("logs")
        .display()
        .to_string();
    runner.ok(
        &[
            "kind",
            "create",
            "cluster",
            "--name",
            &name,
            "--config",
            &config,
            "--retain",
            "--wait",
            "1m",
            "--kubeconfig",
            &kubeconfig,
        ],
        "",
    );
    runner.ok(&["kind", "get", "kubeconfig", "--name", &name], "k");
    runner.ok(
        &[
            "docker",
            "exec",
            &cp,
            "curl",
            "--silent",
            "127.0.0.1:10249/proxyMode",
        ],
        "ipvs",
    );
    runner.ok(&["kind", "export", "logs", &logs, "--name", &name], "");
    runner.ok(&["kind", "delete", "cluster", "--name", &name], "");
    let mut options = KindOptions::new("run-test");
    options.kind_dir = kind_dir;
    options.reports_dir = reports;
    options.host_cpu_millis = 2000;
    options.cli = Default::default();
    let mut backend = KindBackend::new(Box::new(Shared(runner.clone())), options).expect("backend");
    let err = backend
        .setup(&shape)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("kube-proxy runs in ipvs mode, iptables was asked for"),
        "{err}"
    );
    assert!(err.contains("node logs in"), "{err}");
    drop(backend);
    assert!(runner.unused().is_empty(), "{:?}", runner.unused());
    let _ = std::fs::remove_dir_all(dir);
}

/// The API server's side of setting up and cleaning up one case run (no steps).
async fn setup_and_cleanup_script(mut s: Server, cp: String, worker: String) {
    s.version("v1.34.1").await;
    let ns_path = format!("/api/v1/namespaces/{NS}");
    s.answer_body("GET", &ns_path, 404, status(404, "NotFound"))
        .await;
    s.answer_body(
        "PATCH",
        &format!("{ns_path}{APPLY_QUERY}"),
        201,
        json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": NS}}),
    )
    .await;
    for name in [&cp, &worker] {
        let path = format!("/api/v1/nodes/{name}");
        let mut current = node(name, None, name == &cp);
        current["apiVersion"] = json!("v1");
        current["kind"] = json!("Node");
        s.answer_body("GET", &path, 200, current.clone()).await;
        s.answer_body("PATCH", &format!("{path}?"), 200, current)
            .await;
    }
    for name in [&worker, &cp] {
        s.answer_body(
            "PATCH",
            &format!("/api/v1/nodes/{name}?"),
            200,
            node(name, None, false),
        )
        .await;
    }
    s.answer_body(
        "DELETE",
        &format!("{ns_path}?"),
        200,
        status(200, "Success"),
    )
    .await;
}

/// Paths of a test run of `name` under `dir`: (kind config, kubeconfig, logs).
fn run_paths(dir: &std::path::Path, name: &str) -> (String, String, String) {
    let run = dir.join("reports").join("run-test").join(name);
    (
        dir.join("kind")
            .join(format!("{name}.yaml"))
            .display()
            .to_string(),
        run.join("kubeconfig").display().to_string(),
        run.join("logs").display().to_string(),
    )
}

fn create_argv(name: &str, config: &str, kubeconfig: &str) -> Vec<String> {
    [
        "kind",
        "create",
        "cluster",
        "--name",
        name,
        "--config",
        config,
        "--retain",
        "--wait",
        "1m",
        "--kubeconfig",
        kubeconfig,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn none_options(dir: &std::path::Path, hook: &str) -> KindOptions {
    let mut options = KindOptions::new("run-test");
    options.kind_dir = dir.join("kind");
    options.reports_dir = dir.join("reports");
    options.host_cpu_millis = 2000;
    options.cli = Default::default();
    options.settle = None;
    options.after_create =
        Some(AfterCreate::parse(hook, Duration::from_secs(42)).expect("after-create command"));
    options
}

const HOOK: &str =
    "helm install cilium cilium/cilium --namespace kube-system --set 'kubeProxyReplacement=true'";

/// Proxy mode `none`: the config says `kubeProxyMode: none`, no kube-proxy is asked for its
/// mode, and the after-create command runs (with the cluster's kubeconfig and name in its
/// environment and its own time limit) after create and get-kubeconfig, before the API is
/// used.
#[test]
fn proxy_mode_none_runs_the_after_create_command_before_any_case() {
    let mut shape = shape();
    shape.proxy_mode = ProxyMode::None;
    let name = shape_cluster_name(&shape);
    assert_ne!(name, shape_cluster_name(&self::shape()));
    let cp = format!("{name}-control-plane");
    let worker = format!("{name}-worker");
    let dir = std::env::temp_dir().join(format!("topo-kind-none-{}", std::process::id()));
    let (config, kubeconfig, _) = run_paths(&dir, &name);
    let runner = Arc::new(RecordingRunner::new());
    runner.ok(&["kind", "get", "clusters"], "");
    runner.ok(&create_argv(&name, &config, &kubeconfig), "");
    runner.ok(&["kind", "get", "kubeconfig", "--name", &name], "k");
    let hook_argv = [
        "helm",
        "install",
        "cilium",
        "cilium/cilium",
        "--namespace",
        "kube-system",
        "--set",
        "kubeProxyReplacement=true",
    ];
    runner.ok(&hook_argv, "deployed");
    runner.ok(&["kind", "delete", "cluster", "--name", &name], "");

    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let server = {
        let (cp, worker) = (cp.clone(), worker.clone());
        mock_api::spawn_script(Server(handle), move |s| {
            setup_and_cleanup_script(s, cp, worker)
        })
    };
    let slot = Mutex::new(Some(service));
    let factory: ApiFactory = Box::new(move |rt, _path, context| {
        let service = slot.lock().expect("lock").take().expect("connected once");
        let _guard = rt.enter();
        let client = kube::Client::new(service, "default");
        Ok(ClusterApi::from_client(client, Some(context.to_string()))
            .with_retry(RetryPolicy::immediate()))
    });
    let mut backend = KindBackend::new(Box::new(Shared(runner.clone())), none_options(&dir, HOOK))
        .expect("backend")
        .with_api_factory(factory);
    backend.case_started("tiny");
    backend.setup(&shape).expect("setup");
    backend.cleanup().expect("cleanup");
    backend.shutdown().expect("shutdown");
    server.join().expect("the scripted API server failed");

    let calls = runner.calls();
    let lines: Vec<String> = calls.iter().map(|c| c.argv().join(" ")).collect();
    assert_eq!(
        lines,
        [
            "kind get clusters".to_string(),
            create_argv(&name, &config, &kubeconfig).join(" "),
            format!("kind get kubeconfig --name {name}"),
            format!("docker image inspect --format {{{{.Id}}}} {AGNHOST}"),
            hook_argv.join(" "),
            format!("kind delete cluster --name {name}"),
        ]
    );
    let hook = &calls[4];
    assert_eq!(
        hook.env,
        BTreeMap::from([
            ("KUBECONFIG".to_string(), kubeconfig.clone()),
            ("TOPO_CLUSTER".to_string(), name.clone()),
        ])
    );
    assert_eq!(hook.timeout, Duration::from_secs(42));
    assert!(runner.unused().is_empty(), "{:?}", runner.unused());
    let written = std::fs::read_to_string(&config).expect("config written");
    assert!(written.contains("kubeProxyMode: none"), "{written}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A failing after-create command fails the cluster's setup with the command's output; the
/// cluster this run created gets its logs exported and is deleted, and no API is used.
#[test]
fn a_failing_after_create_command_fails_setup_and_deletes_the_cluster() {
    let mut shape = shape();
    shape.proxy_mode = ProxyMode::None;
    let name = shape_cluster_name(&shape);
    let dir = std::env::temp_dir().join(format!("topo-kind-hookfail-{}", std::process::id()));
    let (config, kubeconfig, logs) = run_paths(&dir, &name);
    let runner = Arc::new(RecordingRunner::new());
    runner.ok(&["kind", "get", "clusters"], "");
    runner.ok(&create_argv(&name, &config, &kubeconfig), "");
    runner.ok(&["kind", "get", "kubeconfig", "--name", &name], "k");
    runner.fail(
        &["./install-proxy.sh", "--wait"],
        3,
        "error: my-proxy pods not ready after 300s",
    );
    runner.ok(&["kind", "export", "logs", &logs, "--name", &name], "");
    runner.ok(&["kind", "delete", "cluster", "--name", &name], "");
    let factory: ApiFactory = Box::new(|_, _, _| panic!("the API must not be used"));
    let mut backend = KindBackend::new(
        Box::new(Shared(runner.clone())),
        none_options(&dir, "./install-proxy.sh --wait"),
    )
    .expect("backend")
    .with_api_factory(factory);
    let err = backend
        .setup(&shape)
        .err()
        .map(|e| e.report())
        .unwrap_or_default();
    assert!(
        err.contains(&format!(
            "the --after-create command failed on cluster {name}"
        )),
        "{err}"
    );
    assert!(
        err.contains("error: my-proxy pods not ready after 300s"),
        "{err}"
    );
    assert!(err.contains("node logs in"), "{err}");
    drop(backend);
    let lines: Vec<String> = runner.calls().iter().map(|c| c.argv().join(" ")).collect();
    assert_eq!(
        lines,
        [
            "kind get clusters".to_string(),
            create_argv(&name, &config, &kubeconfig).join(" "),
            format!("kind get kubeconfig --name {name}"),
            // The host has no workload image (the runner does not know it): nothing loaded.
            format!("docker image inspect --format {{{{.Id}}}} {AGNHOST}"),
            "./install-proxy.sh --wait".to_string(),
            format!("kind export logs {logs} --name {name}"),
            format!("kind delete cluster --name {name}"),
        ]
    );
    assert!(runner.unused().is_empty(), "{:?}", runner.unused());
    let _ = std::fs::remove_dir_all(dir);
}

/// `--observe rules` (or both) with proxy mode none is refused at setup, before any command.
#[test]
fn rules_cannot_be_observed_without_kube_proxy() {
    let mut shape = shape();
    shape.proxy_mode = ProxyMode::None;
    for source in [ObserveSource::Rules, ObserveSource::Both] {
        let runner = Arc::new(RecordingRunner::new());
        let mut options = KindOptions::new("run-test");
        options.observe = Some(source);
        options.host_cpu_millis = 2000;
        let mut backend =
            KindBackend::new(Box::new(Shared(runner.clone())), options).expect("backend");
        let err = backend
            .setup(&shape)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("proxy mode none runs no kube-proxy; use --observe traffic"),
            "{err}"
        );
        drop(backend);
        assert!(runner.calls().is_empty(), "{:?}", runner.call_lines());
    }
}

// ---- issue #9: real kind runs -------------------------------------------------------------

fn catalog() -> Vec<topo_harness::case::Case> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../cases");
    let (cases, errors) = topo_harness::case::load_catalog(&[root]);
    assert!(errors.is_empty(), "{errors:?}");
    cases
}

fn case_named(cases: &[topo_harness::case::Case], name: &str) -> topo_harness::case::Case {
    cases
        .iter()
        .find(|c| c.name == name)
        .cloned()
        .unwrap_or_else(|| panic!("no case {name}"))
}

fn binary(program: &str, release: &str) -> KindBinary {
    KindBinary {
        program: program.into(),
        release: KindRelease::parse(release).expect("release"),
    }
}

const IMAGE_1_21: &str =
    "kindest/node:v1.21.14@sha256:8a4e9bb3f415d2bb81629ce33ef9c76ba514c14d707f9797a01e3216376ba093";

fn backend_with(binaries: Vec<KindBinary>, runner: Arc<RecordingRunner>) -> KindBackend {
    let mut options = KindOptions::new("run-test");
    options.host_cpu_millis = 8000;
    options.binaries = binaries;
    options.settle = None;
    KindBackend::new(Box::new(Shared(runner)), options).expect("backend")
}

#[test]
fn seed_001_runs_on_kind_1_21_in_ipvs_and_iptables_with_kind_v0_20() {
    let cases = catalog();
    let seed = case_named(&cases, "seed-001-kube-dns-two-zones");
    let images = ImageTable::embedded().expect("images");
    let binaries = vec![
        binary("kind", "v0.33.0"),
        binary("/opt/kind-v0.20.0", "v0.20.0"),
    ];
    let backend = backend_with(binaries.clone(), Arc::new(RecordingRunner::new()));
    for mode in [ProxyMode::Ipvs, ProxyMode::Iptables] {
        let shape = seed.shape(KubeVersion::new(21), mode).expect("1.21 shape");
        backend
            .supports(&seed, &shape)
            .expect("seed 001 runs on kind 1.21");
        let spec = kind_spec(&shape, 8000).expect("spec");
        let creator = releases::choose(&binaries, &images, &spec, None).expect("creator");
        assert_eq!(creator.binary.program, "/opt/kind-v0.20.0");
        let rendered =
            config::render(&spec, &images, &creator.binary.release_name()).expect("render");
        assert_eq!(rendered.image, IMAGE_1_21);
        assert_eq!(rendered.kubeadm_api, KubeadmApi::V1beta2);
        assert_eq!(rendered.cluster.networking.kube_proxy_mode, mode.as_str());
        // The config is one kind v0.20 accepts: v1beta2 patches only, no nftables.
        assert!(!rendered.yaml.contains("v1beta3") && !rendered.yaml.contains("v1beta4"));
        // Holding terminating pods needs pod-deletion-cost, alpha (off) in 1.21.
        assert_eq!(
            rendered.cluster.feature_gates.get("PodDeletionCost"),
            Some(&true)
        );
    }
}

#[test]
fn a_minor_no_kind_binary_ships_is_skipped_with_the_reason_and_runs_nothing() {
    let cases = catalog();
    let seed = case_named(&cases, "seed-001-kube-dns-two-zones");
    let runner = Arc::new(RecordingRunner::new());
    let mut backend = backend_with(vec![binary("kind", "v0.33.0")], runner.clone());
    let options = RunOptions {
        versions: VersionSelection::Explicit(vec![KubeVersion::new(21)]),
        proxy_modes: vec![ProxyMode::Ipvs],
        filter: None,
        snapshots: None,
        dump_state: None,
    };
    let mut reasons = Vec::new();
    let summary = run(
        std::slice::from_ref(&seed),
        &mut backend,
        &options,
        &mut |e| {
            if let Event::SuiteSkipped { reason, .. } = e {
                reasons.push(reason.clone());
            }
        },
    );
    assert_eq!(summary.counts.skipped, 1, "{:?}", summary.counts);
    assert_eq!(summary.counts.failed, 0);
    assert!(summary.success());
    assert_eq!(reasons.len(), 1);
    assert!(
        reasons[0].contains("cannot create Kubernetes 1.21")
            && reasons[0].contains("pass --kind PATH to a kind v0.20.0 binary"),
        "{}",
        reasons[0]
    );
    drop(backend);
    // No cluster created, none deleted.
    assert!(runner.calls().is_empty(), "{:?}", runner.call_lines());
}

#[test]
fn before_1_23_a_case_without_control_plane_is_skipped_not_misdescribed() {
    let cases = catalog();
    let itp = case_named(&cases, "internal-traffic-policy-local");
    assert!(itp.nodes.iter().all(|n| n.role != Role::ControlPlane));
    let backend = backend_with(
        vec![binary("kind", "v0.33.0"), binary("kind20", "v0.20.0")],
        Arc::new(RecordingRunner::new()),
    );
    for minor in [21, 22] {
        let Ok(shape) = itp.shape(KubeVersion::new(minor), ProxyMode::Iptables) else {
            continue;
        };
        let why = backend.supports(&itp, &shape).expect_err("skipped");
        assert!(why.contains("before 1.23"), "{why}");
    }
    let shape = itp
        .shape(KubeVersion::new(23), ProxyMode::Iptables)
        .expect("1.23");
    backend.supports(&itp, &shape).expect("runs from 1.23");
}

#[test]
fn nodes_hold_the_pods_a_case_puts_on_them() {
    let cases = catalog();
    let packing = case_named(&cases, "endpointslice-packing");
    assert_eq!(max_pods_per_node(&packing), 150);
    let shape = packing
        .shape(KubeVersion::new(34), ProxyMode::Iptables)
        .expect("shape");
    let spec = kind_spec(&shape, 8000).expect("spec");
    let images = ImageTable::embedded().expect("images");
    let rendered = config::render(&spec, &images, "v0.33.0").expect("render");
    // The kubelet default (110) cannot hold 150 echo pods: maxPods is raised, in the config
    // and in the shape key.
    let patch = rendered
        .cluster
        .kubeadm_config_patches
        .iter()
        .find(|p| p.contains("kind: KubeletConfiguration"))
        .expect("KubeletConfiguration patch");
    assert!(patch.contains("maxPods: 250"), "{patch}");
    assert!(spec.canonical().contains("max_pods=250"));
    let backend = backend_with(
        vec![binary("kind", "v0.33.0")],
        Arc::new(RecordingRunner::new()),
    );
    backend.supports(&packing, &shape).expect("fits");
    // More than a node holds is skipped with the reason.
    let mut huge = packing.clone();
    huge.steps[0].action.endpoints = Some(BTreeMap::from([("worker".to_string(), 300)]));
    let why = backend.supports(&huge, &shape).expect_err("too many");
    assert!(why.contains("300 pods on one node"), "{why}");
}

/// A live backend that only records which cluster each suite asks for (and fails setup, so
/// no step runs).
struct ShapeRecorder(Vec<topo_harness::case::ClusterKey>);

impl Backend for ShapeRecorder {
    fn kind(&self) -> topo_harness::backend::BackendKind {
        topo_harness::backend::BackendKind::Kind
    }
    fn wait_policy(&self) -> topo_harness::backend::WaitPolicy {
        topo_harness::backend::WaitPolicy::default()
    }
    fn setup(&mut self, shape: &ClusterShape) -> Result<(), topo_harness::backend::BackendError> {
        self.0.push(shape.cluster_key());
        Err(topo_harness::backend::BackendError::setup("recorded"))
    }
    fn apply(&mut self, _: &StepAction) -> Result<Applied, topo_harness::backend::BackendError> {
        unreachable!("setup fails")
    }
    fn observe(
        &mut self,
    ) -> Result<topo_harness::backend::Observation, topo_harness::backend::BackendError> {
        unreachable!("setup fails")
    }
    fn cleanup(&mut self) -> Result<(), topo_harness::backend::BackendError> {
        Ok(())
    }
}

#[test]
fn a_live_run_creates_each_cluster_shape_once() {
    let cases = catalog();
    let options = RunOptions {
        versions: VersionSelection::Default,
        proxy_modes: vec![ProxyMode::Iptables, ProxyMode::Ipvs],
        filter: None,
        snapshots: None,
        dump_state: None,
    };
    let mut backend = ShapeRecorder(Vec::new());
    run(&cases, &mut backend, &options, &mut |_| {});
    let keys = backend.0;
    let mut distinct = keys.clone();
    distinct.sort();
    distinct.dedup();
    // A cluster is created whenever the key changes from one suite to the next.
    let creates = 1 + keys.windows(2).filter(|w| w[0] != w[1]).count();
    assert_eq!(creates, distinct.len(), "{} suites", keys.len());
    // And `plan` prints that count.
    let cells = topo_harness::plan::matrix(&cases, &options.versions, &options.proxy_modes, None);
    assert!(topo_harness::plan::plan_text(&cells)
        .contains(&format!("would create {} cluster(s)", distinct.len())));
}

// ---- issue #14: bring your own EndpointSlice controller ------------------------------------

const UNDER_TEST: &str = "example.com/topology";

/// A case whose only slices are hand-written by `example.com/topology` with the given hints
/// for the endpoint on `worker` (zone a) and `worker2` (zone b).
fn controller_case(hint_worker: &str, hint_worker2: &str) -> topo_harness::case::Case {
    let text = format!(
        r#"apiVersion: topo-harness/v1alpha1
kind: Case
name: controller-under-test
summary: A controller under test writes the slice.
source: issue 14
kubernetes: ">=1.33"
cluster:
  nodes:
    - {{ name: worker, zone: a }}
    - {{ name: worker2, zone: b }}
service:
  annotations: {{ service.kubernetes.io/topology-mode: Auto }}
steps:
  - name: written
    slices:
      - name: web-under-test
        managed_by: {UNDER_TEST}
        endpoints:
          - {{ node: worker, hints: {{ zones: [{hint_worker}] }} }}
          - {{ node: worker2, hints: {{ zones: [{hint_worker2}] }} }}
"#
    );
    topo_harness::case::parse_case(
        &text,
        "controller-under-test.yaml",
        std::path::Path::new("controller-under-test.yaml"),
    )
    .unwrap_or_else(|e| panic!("{e:?}"))
}

fn model_failures(case: &topo_harness::case::Case, managed_by: Option<&str>) -> Vec<String> {
    let mut backend = match managed_by {
        Some(m) => topo_harness::backend::sim::SimBackend::new().with_controller_under_test(m),
        None => topo_harness::backend::sim::SimBackend::new(),
    };
    let options = RunOptions {
        versions: VersionSelection::Explicit(vec![KubeVersion::new(34)]),
        proxy_modes: vec![ProxyMode::Iptables],
        filter: None,
        snapshots: None,
        dump_state: None,
    };
    let mut failures = Vec::new();
    run(
        std::slice::from_ref(case),
        &mut backend,
        &options,
        &mut |e| {
            if let Event::StepFinished { checks, .. } = e {
                for c in checks {
                    if c.name == topo_harness::check::CheckName::Model && !c.passed() {
                        failures.push(format!("{:?}", c.status));
                    }
                }
            }
        },
    );
    failures
}

#[test]
fn on_sim_the_controller_under_test_is_judged_by_the_model() {
    // Each endpoint hinted for its own zone: the allocation the model accepts.
    let right = controller_case("a", "b");
    assert!(model_failures(&right, Some(UNDER_TEST)).is_empty());
    // Both endpoints for zone a, none for b: a wrong allocation, caught, naming what the
    // model accepts.
    let wrong = controller_case("a", "a");
    let failures = model_failures(&wrong, Some(UNDER_TEST));
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].contains("hints: observed") && failures[0].contains("the model accepts"),
        "{failures:?}"
    );
    // Without --managed-by the same slices are hand-written (another manager): not judged.
    assert!(model_failures(&wrong, None).is_empty());
}

/// The API server side of the controller probe: namespace, Service, echo pod, then one
/// observation per entry of `slices_per_poll`, then the namespace's deletion.
async fn controller_probe_script(
    mut s: Server,
    ns: String,
    node: String,
    slices_per_poll: Vec<Vec<Value>>,
) {
    let ns_path = format!("/api/v1/namespaces/{ns}");
    s.answer_body("GET", &ns_path, 404, status(404, "NotFound"))
        .await;
    s.answer_body(
        "PATCH",
        &format!("{ns_path}{APPLY_QUERY}"),
        201,
        json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": ns}}),
    )
    .await;
    let sent = s
        .answer_body(
            "PATCH",
            &format!("{ns_path}/services/topo-probe{APPLY_QUERY}"),
            201,
            json!({"kind": "Service", "apiVersion": "v1", "metadata": {"name": "topo-probe", "namespace": ns}}),
        )
        .await;
    assert_eq!(
        sent["spec"]["selector"]["app.kubernetes.io/name"],
        "topo-probe"
    );
    let sent = s
        .answer_body(
            "PATCH",
            &format!("{ns_path}/pods/topo-probe-0{APPLY_QUERY}"),
            201,
            json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "topo-probe-0", "namespace": ns}}),
        )
        .await;
    assert_eq!(sent["spec"]["nodeName"], json!(node));
    for slices in slices_per_poll {
        s.answer_body(
            "GET",
            "/api/v1/nodes?",
            200,
            list("NodeList", vec![node_json(&node)]),
        )
        .await;
        s.answer_body(
            "GET",
            &format!("{ns_path}/services?"),
            200,
            list("ServiceList", vec![]),
        )
        .await;
        s.answer_body(
            "GET",
            &format!("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices?"),
            200,
            list("EndpointSliceList", slices),
        )
        .await;
    }
    s.answer_body(
        "DELETE",
        &format!("{ns_path}?"),
        200,
        status(200, "Success"),
    )
    .await;
}

fn node_json(name: &str) -> Value {
    node(name, Some("a"), false)
}

fn probe_slice(ns: &str, managed_by: &str, node: &str) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("topo-probe-{}", managed_by.len()), "namespace": ns,
                     "labels": {"kubernetes.io/service-name": "topo-probe",
                                "endpointslice.kubernetes.io/managed-by": managed_by}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["10.244.1.9"], "conditions": {"ready": true}, "nodeName": node}]
    })
}

/// Runs `wait_for_controller` against the scripted server; returns its result.
fn probe_controller(slices_per_poll: Vec<Vec<Value>>, deadline: Duration) -> Result<(), String> {
    use topo_harness::backend::kube_api::Ledger;
    use topo_harness::backend::live::controller::{probe_namespace, wait_for_controller};
    let ns = probe_namespace("run-test");
    assert_eq!(ns, "topo-probe-test");
    let node = "topo-x-worker".to_string();
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let server = {
        let (ns, node) = (ns.clone(), node.clone());
        mock_api::spawn_script(Server(handle), move |s| {
            controller_probe_script(s, ns, node, slices_per_poll)
        })
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let result = rt.block_on(async {
        let api = ClusterApi::from_client(kube::Client::new(service, "default"), None)
            .with_retry(RetryPolicy::immediate());
        let mut ledger = Ledger::new();
        let result = wait_for_controller(
            &api,
            &mut ledger,
            &topo_harness::backend::live::kubeconfig::NoNodeAccess,
            &ns,
            &node,
            UNDER_TEST,
            deadline,
            Duration::from_millis(10),
        )
        .await;
        let report = ledger.cleanup(&api).await;
        assert!(report.is_complete(), "{report}");
        result
    });
    server.join().expect("scripted server");
    result
}

#[test]
fn setup_waits_for_the_controller_under_test_to_write_the_probe_slice() {
    let ns = "topo-probe-test";
    let written = probe_slice(ns, UNDER_TEST, "topo-x-worker");
    // Nothing on the first poll, its slice on the second: ready.
    probe_controller(vec![vec![], vec![written]], Duration::from_secs(5)).expect("written");
}

#[test]
fn a_controller_that_never_writes_fails_setup_clearly() {
    let ns = "topo-probe-test";
    // Only the in-tree controller's slice (as with --controller builtin by mistake).
    let builtin = probe_slice(ns, "endpointslice-controller.k8s.io", "topo-x-worker");
    let err = probe_controller(vec![vec![builtin]], Duration::ZERO).expect_err("never written");
    assert!(
        err.contains("endpointslice.kubernetes.io/managed-by=example.com/topology) wrote no slice for Service topo-probe-test/topo-probe"),
        "{err}"
    );
    assert!(
        err.contains("only managed-by endpointslice-controller.k8s.io (1 endpoint(s))"),
        "{err}"
    );
}

/// A live backend whose first setup fails and whose second is interrupted (Ctrl-C).
struct InterruptedOnSecond(usize);

impl Backend for InterruptedOnSecond {
    fn kind(&self) -> topo_harness::backend::BackendKind {
        topo_harness::backend::BackendKind::Kind
    }
    fn wait_policy(&self) -> topo_harness::backend::WaitPolicy {
        topo_harness::backend::WaitPolicy::default()
    }
    fn setup(&mut self, _: &ClusterShape) -> Result<(), topo_harness::backend::BackendError> {
        self.0 += 1;
        Err(match self.0 {
            1 => topo_harness::backend::BackendError::setup("a real failure"),
            _ => topo_harness::backend::BackendError::Interrupted,
        })
    }
    fn apply(&mut self, _: &StepAction) -> Result<Applied, topo_harness::backend::BackendError> {
        unreachable!("setup fails")
    }
    fn observe(
        &mut self,
    ) -> Result<topo_harness::backend::Observation, topo_harness::backend::BackendError> {
        unreachable!("setup fails")
    }
    fn cleanup(&mut self) -> Result<(), topo_harness::backend::BackendError> {
        Ok(())
    }
}

#[test]
fn ctrl_c_reports_the_remaining_suites_as_cancelled_and_exits_130() {
    use topo_harness::report::junit::JunitReporter;
    use topo_harness::report::Reporter;
    let cases = catalog();
    let options = RunOptions {
        versions: VersionSelection::Explicit(vec![KubeVersion::new(34)]),
        proxy_modes: vec![ProxyMode::Iptables],
        filter: None,
        snapshots: None,
        dump_state: None,
    };
    let dir = std::env::temp_dir().join(format!("topo-cancel-{}", std::process::id()));
    let junit_path = dir.join("junit.xml");
    let mut junit = JunitReporter::new(Some(junit_path.clone()));
    let mut skipped_reasons = Vec::new();
    let mut backend = InterruptedOnSecond(0);
    let summary = run(&cases, &mut backend, &options, &mut |e| {
        if let Event::SuiteSkipped { reason, .. } = e {
            skipped_reasons.push(reason.clone());
        }
        junit.event(e).expect("junit");
    });
    let counts = summary.counts;
    // One failure (before Ctrl-C), then every suite that would have run is cancelled.
    assert_eq!(counts.failed, 1, "{counts:?}");
    assert_eq!(counts.passed, 0);
    assert!(counts.cancelled > 2, "{counts:?}");
    let cancelled_skips = skipped_reasons
        .iter()
        .filter(|r| r.as_str() == topo_harness::runner::CANCELLED_REASON)
        .count();
    // The interrupted suite itself plus the ones that never started.
    assert_eq!(cancelled_skips, counts.cancelled - 1);
    assert_eq!(backend.0, 2, "nothing runs after Ctrl-C");
    assert_eq!(topo_harness::cli::run_exit_code(&summary), 130);
    let xml = std::fs::read_to_string(&junit_path).expect("junit written");
    assert_eq!(
        xml.matches("cancelled: the run was interrupted (Ctrl-C) before this suite")
            .count(),
        cancelled_skips,
        "{xml}"
    );
    assert!(summary_line_contains_cancelled(&counts));
    let _ = std::fs::remove_dir_all(dir);
}

fn summary_line_contains_cancelled(counts: &topo_harness::runner::Counts) -> bool {
    counts
        .headline()
        .contains(&format!("{} cancelled", counts.cancelled))
}
