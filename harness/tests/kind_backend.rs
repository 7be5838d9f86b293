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
    AfterCreate, Command, CommandError, CommandRunner, RecordingRunner,
};
use topo_harness::backend::kube_api::{ClusterApi, RetryPolicy};
use topo_harness::backend::live::kind::ApiFactory;
use topo_harness::backend::live::{shape_cluster_name, KindBackend, KindOptions, ObserveSource};
use topo_harness::backend::{Applied, Backend};
use topo_harness::case::{ClusterShape, NodeDef, ProxyMode, Role, ServiceChange, StepAction};
use topo_harness::model::KubeVersion;
use tower_test::mock::{self, Handle};

const ZONE: &str = "topology.kubernetes.io/zone";
const REGION: &str = "topology.kubernetes.io/region";
const APPLY_QUERY: &str = "?&force=true&fieldManager=topo-harness";
const NS: &str = "topo-tiny-1";

struct Shared(Arc<RecordingRunner>);

impl CommandRunner for Shared {
    fn run(&self, command: &Command) -> Result<Output, CommandError> {
        self.0.run(command)
    }
}

struct Server(Handle<Request<Body>, Response<Body>>);

impl Server {
    async fn answer(&mut self, method: &str, uri: &str, status: u16, body: Value) -> Value {
        let next = tokio::time::timeout(Duration::from_secs(5), self.0.next_request()).await;
        let Ok(Some((request, reply))) = next else {
            panic!("expected {method} {uri}, but no request came");
        };
        assert_eq!(
            (request.method().as_str(), request.uri().to_string()),
            (method, uri.to_string()),
            "unexpected request"
        );
        let bytes = request.into_body().collect_bytes().await.expect("body");
        let sent = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("JSON body")
        };
        reply.send_response(
            Response::builder()
                .status(status)
                .body(Body::from(serde_json::to_vec(&body).expect("JSON")))
                .expect("response"),
        );
        sent
    }
}

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
    let ns_path = format!("/api/v1/namespaces/{NS}");
    // setup: the namespace (looked up first: never change what the harness did not create)…
    s.answer("GET", &ns_path, 404, status(404, "NotFound"))
        .await;
    let sent = s
        .answer(
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
        s.answer("GET", &path, 200, current.clone()).await;
        let sent = s.answer("PATCH", &format!("{path}?"), 200, current).await;
        assert_eq!(
            sent,
            json!({"metadata": {"labels": {REGION: null, ZONE: "a"}}})
        );
    }
    // apply: the Service, then the echo Deployment on the worker only.
    let svc_path = format!("{ns_path}/services/web{APPLY_QUERY}");
    let sent = s.answer("PATCH", &svc_path, 201, json!({"kind": "Service", "apiVersion": "v1", "metadata": {"name": "web", "namespace": NS}})).await;
    assert_eq!(
        sent["metadata"]["annotations"]["service.kubernetes.io/topology-mode"],
        json!("Auto")
    );
    assert_eq!(
        sent["spec"]["selector"]["app.kubernetes.io/name"],
        json!("web")
    );
    let deploy = format!("/apis/apps/v1/namespaces/{NS}/deployments/web-{worker}{APPLY_QUERY}");
    let sent = s.answer("PATCH", &deploy, 201, json!({"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": format!("web-{worker}"), "namespace": NS}})).await;
    assert_eq!(sent["spec"]["replicas"], json!(1));
    assert_eq!(
        sent["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/hostname"],
        json!(worker)
    );
    // observe: nodes, Services, EndpointSlices.
    s.answer(
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
    s.answer(
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
    s.answer(
        "GET",
        &format!("/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices?"),
        200,
        list("EndpointSliceList", vec![slice]),
    )
    .await;
    // cleanup, newest first: labels restored (zone and region were absent), then the namespace
    // (the Service and Deployment go with it).
    for name in [&worker, &cp] {
        let sent = s
            .answer(
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
    s.answer(
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
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(script(Server(handle), cp, worker));
        })
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
        assert_eq!(routes.internal, all, "{node}");
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
    let ns_path = format!("/api/v1/namespaces/{NS}");
    s.answer("GET", &ns_path, 404, status(404, "NotFound"))
        .await;
    s.answer(
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
        s.answer("GET", &path, 200, current.clone()).await;
        s.answer("PATCH", &format!("{path}?"), 200, current).await;
    }
    for name in [&worker, &cp] {
        s.answer(
            "PATCH",
            &format!("/api/v1/nodes/{name}?"),
            200,
            node(name, None, false),
        )
        .await;
    }
    s.answer(
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
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(setup_and_cleanup_script(Server(handle), cp, worker));
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
            hook_argv.join(" "),
            format!("kind delete cluster --name {name}"),
        ]
    );
    let hook = &calls[3];
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
