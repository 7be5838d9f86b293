//! The Kubernetes API layer against a scripted mock API server (tower-test): each scenario
//! checks the method, path with query, and body of every request and answers like an API
//! server would. Every scenario runs under a short timeout, so a missing call fails instead of
//! hanging, and checks that no unexpected call follows.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use topo_harness::backend::kube_api::{
    CleanupAction, ClusterApi, KubeApiError, Ledger, LedgerEntry, ObjectKind, ObjectRef, Verb,
    WaitError,
};
use topo_harness::model::ClusterState;

const ZONE: &str = "topology.kubernetes.io/zone";
const REGION: &str = "topology.kubernetes.io/region";

#[path = "common/mock_api.rs"]
mod mock_api;

use mock_api::{scenario, status, ApiServer, Reply};

fn mock_api() -> (ClusterApi, ApiServer) {
    mock_api::mock_api(Some("kind-topo"))
}

const NS_PATH: &str = "/api/v1/namespaces/topo-1";
const APPLY_QUERY: &str = "?&force=true&fieldManager=topo-harness";

fn namespace() -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "topo-1"}})
}

fn stored(object: &Value, resource_version: &str) -> Value {
    let mut object = object.clone();
    object["metadata"]["uid"] = json!("0000-1111");
    object["metadata"]["resourceVersion"] = json!(resource_version);
    object
}

fn service() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {
            "name": "web", "namespace": "topo-1",
            "annotations": {"service.kubernetes.io/topology-mode": "Auto"}
        },
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}],
            // Removed after 1.21: must reach the server untouched.
            "topologyKeys": ["kubernetes.io/hostname", "*"]
        }
    })
}

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "topo-1"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "registry.k8s.io/pause:3.9"}]}
            }
        }
    })
}

fn apply_body(object: &Value) -> Value {
    json!({"contentType": "application/apply-patch+yaml", "body": object})
}

/// The namespace: looked up (absent), then applied.
async fn script_namespace(server: &mut ApiServer) {
    server
        .answer(
            "GET",
            NS_PATH,
            404,
            status(404, "NotFound", "namespaces \"topo-1\" not found"),
        )
        .await;
    let body = server
        .answer(
            "PATCH",
            &format!("{NS_PATH}{APPLY_QUERY}"),
            201,
            stored(&namespace(), "1"),
        )
        .await;
    assert_eq!(body, apply_body(&namespace()));
}

#[tokio::test]
async fn applies_namespace_service_and_deployment_and_records_them() {
    let (api, server) = mock_api();
    let mut ledger = Ledger::new();
    let result = scenario(
        server,
        |mut server| async move {
            script_namespace(&mut server).await;
            // Inside a namespace the harness created: no lookup, straight to apply.
            let body = server
                .answer(
                    "PATCH",
                    &format!("{NS_PATH}/services/web{APPLY_QUERY}"),
                    201,
                    stored(&service(), "2"),
                )
                .await;
            assert_eq!(body, apply_body(&service()));
            let body = server
                .answer(
                    "PATCH",
                    &format!("/apis/apps/v1/namespaces/topo-1/deployments/web{APPLY_QUERY}"),
                    201,
                    stored(&deployment(), "3"),
                )
                .await;
            assert_eq!(body, apply_body(&deployment()));
            server
        },
        async {
            api.apply(&mut ledger, &namespace()).await?;
            let svc = api.apply(&mut ledger, &service()).await?;
            api.apply(&mut ledger, &deployment()).await?;
            Ok::<_, KubeApiError>(svc)
        },
    )
    .await;
    let svc = result.expect("apply");
    assert_eq!(svc["metadata"]["resourceVersion"], "2");
    assert_eq!(
        svc["spec"]["topologyKeys"],
        json!(["kubernetes.io/hostname", "*"])
    );
    assert_eq!(
        ledger.entries(),
        [
            LedgerEntry::Created(ObjectRef::namespace("topo-1")),
            LedgerEntry::Created(ObjectRef::namespaced(ObjectKind::Service, "topo-1", "web")),
            LedgerEntry::Created(ObjectRef::namespaced(
                ObjectKind::Deployment,
                "topo-1",
                "web"
            )),
        ]
    );
}

#[tokio::test]
async fn applies_pods_and_hand_written_endpointslices() {
    let (api, server) = mock_api();
    let mut ledger = Ledger::new();
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-0", "namespace": "topo-1", "labels": {"app": "web"}},
        "spec": {"nodeName": "worker", "containers": [{"name": "web", "image": "registry.k8s.io/pause:3.9"}]}
    });
    let mut by_hand = slice("web-custom", "1", &[("10.244.1.9", "worker", "a")]);
    by_hand["apiVersion"] = json!("discovery.k8s.io/v1");
    by_hand["kind"] = json!("EndpointSlice");
    by_hand["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] = json!("topo-harness");
    let (pod_stored, slice_stored) = (stored(&pod, "2"), stored(&by_hand, "3"));
    let pod_again = stored(&pod, "4");
    let (pod_sent, slice_sent) = (apply_body(&pod), apply_body(&by_hand));
    let result = scenario(
        server,
        |mut server| async move {
            script_namespace(&mut server).await;
            let body = server
                .answer("PATCH", &format!("{NS_PATH}/pods/web-0{APPLY_QUERY}"), 201, pod_stored)
                .await;
            assert_eq!(body, pod_sent);
            let body = server
                .answer(
                    "PATCH",
                    &format!("/apis/discovery.k8s.io/v1/namespaces/topo-1/endpointslices/web-custom{APPLY_QUERY}"),
                    201,
                    slice_stored,
                )
                .await;
            assert_eq!(body, slice_sent);
            // Applying again an object the harness created: no lookup, same apply.
            server
                .answer("PATCH", &format!("{NS_PATH}/pods/web-0{APPLY_QUERY}"), 200, pod_again)
                .await;
            server
        },
        async {
            api.apply(&mut ledger, &namespace()).await?;
            api.apply(&mut ledger, &pod).await?;
            api.apply(&mut ledger, &by_hand).await?;
            api.apply(&mut ledger, &pod).await
        },
    )
    .await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(ledger.entries().len(), 3);
}

#[tokio::test]
async fn refuses_to_change_an_object_it_did_not_create() {
    let (api, server) = mock_api();
    let mut ledger = Ledger::new();
    let result = scenario(
        server,
        |mut server| async move {
            server
                .answer("GET", NS_PATH, 200, stored(&namespace(), "7"))
                .await;
            server
        },
        api.apply(&mut ledger, &namespace()),
    )
    .await;
    let error = result.expect_err("an existing namespace must not be adopted");
    assert_eq!(
        error.to_string(),
        "Namespace topo-1 already exists and was not created by topo-harness; refusing to change it"
    );
    assert!(ledger.is_empty());
}

/// Applies the namespace with the PATCH answered by `failures` first.
async fn apply_after_failures(
    failures: Vec<(u16, Value)>,
) -> (Result<Value, KubeApiError>, Ledger) {
    let (api, server) = mock_api();
    let mut ledger = Ledger::new();
    let result = scenario(
        server,
        |mut server| async move {
            server
                .answer("GET", NS_PATH, 404, status(404, "NotFound", "not found"))
                .await;
            let uri = format!("{NS_PATH}{APPLY_QUERY}");
            for (code, body) in failures {
                let sent = server.answer("PATCH", &uri, code, body).await;
                assert_eq!(
                    sent,
                    apply_body(&namespace()),
                    "every retry sends the same body"
                );
            }
            server
                .answer("PATCH", &uri, 201, stored(&namespace(), "1"))
                .await;
            server
        },
        api.apply(&mut ledger, &namespace()),
    )
    .await;
    (result, ledger)
}

#[tokio::test]
async fn conflict_then_success_is_retried() {
    let (result, ledger) = apply_after_failures(vec![(
        409,
        status(
            409,
            "Conflict",
            "Operation cannot be fulfilled on namespaces \"topo-1\": the object has been modified",
        ),
    )])
    .await;
    assert_eq!(result.expect("retried")["metadata"]["name"], "topo-1");
    assert_eq!(ledger.entries().len(), 1);
}

#[tokio::test]
async fn too_many_requests_then_success_is_retried() {
    let (result, _) =
        apply_after_failures(vec![(429, status(429, "TooManyRequests", "slow down"))]).await;
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn server_errors_then_success_are_retried() {
    let (result, _) = apply_after_failures(vec![
        (500, status(500, "InternalError", "etcd leader changed")),
        (
            503,
            status(503, "ServiceUnavailable", "apiserver is shutting down"),
        ),
        (504, status(504, "Timeout", "request timed out")),
    ])
    .await;
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn transport_error_then_success_is_retried() {
    let (api, server) = mock_api();
    let target = ObjectRef::namespace("topo-1");
    let result = scenario(
        server,
        |mut server| async move {
            let (_, reply) = server.expect("DELETE", &format!("{NS_PATH}?")).await;
            reply.send_error(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection reset",
            ));
            server
                .answer(
                    "DELETE",
                    &format!("{NS_PATH}?"),
                    200,
                    stored(&namespace(), "9"),
                )
                .await;
            server
        },
        api.delete(&target),
    )
    .await;
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn retries_stop_after_the_last_attempt() {
    let (api, server) = mock_api();
    let mut ledger = Ledger::new();
    let result = scenario(
        server,
        |mut server| async move {
            server
                .answer("GET", NS_PATH, 404, status(404, "NotFound", "not found"))
                .await;
            for _ in 0..6 {
                server
                    .answer(
                        "PATCH",
                        &format!("{NS_PATH}{APPLY_QUERY}"),
                        503,
                        status(503, "ServiceUnavailable", "try later"),
                    )
                    .await;
            }
            server
        },
        api.apply(&mut ledger, &namespace()),
    )
    .await;
    match result {
        Err(KubeApiError::Api {
            verb: Verb::Apply,
            code: 503,
            attempts: 6,
            ..
        }) => {}
        other => panic!("expected a 503 after 6 attempts, got {other:?}"),
    }
    assert!(
        ledger.is_empty(),
        "the server refused the create: nothing to clean up"
    );
}

#[tokio::test]
async fn forbidden_fails_at_once_with_a_readable_error() {
    let (api, server) = mock_api();
    let mut ledger = Ledger::new();
    let message = "namespaces is forbidden: User \"ci\" cannot patch resource \"namespaces\" in API group \"\" at the cluster scope";
    let result = scenario(
        server,
        |mut server| async move {
            server
                .answer("GET", NS_PATH, 404, status(404, "NotFound", "not found"))
                .await;
            server
                .answer(
                    "PATCH",
                    &format!("{NS_PATH}{APPLY_QUERY}"),
                    403,
                    status(403, "Forbidden", message),
                )
                .await;
            server
        },
        api.apply(&mut ledger, &namespace()),
    )
    .await;
    let error = result.expect_err("403 must fail");
    assert_eq!(error.status_code(), Some(403));
    assert_eq!(
        error.to_string(),
        format!("apply Namespace topo-1: the API server answered 403 Forbidden: {message}")
    );
    assert!(ledger.is_empty());
}

#[tokio::test]
async fn invalid_object_fails_at_once_with_the_api_message() {
    let (api, server) = mock_api();
    let mut ledger = Ledger::new();
    let message = "Service \"web\" is invalid: spec.ports: Required value";
    let result = scenario(
        server,
        |mut server| async move {
            script_namespace(&mut server).await;
            server
                .answer(
                    "PATCH",
                    &format!("{NS_PATH}/services/web{APPLY_QUERY}"),
                    422,
                    status(422, "Invalid", message),
                )
                .await;
            server
        },
        async {
            api.apply(&mut ledger, &namespace()).await?;
            api.apply(&mut ledger, &service()).await
        },
    )
    .await;
    let error = result.expect_err("422 must fail");
    assert_eq!(
        error.to_string(),
        format!("apply Service topo-1/web: the API server answered 422 Invalid: {message}")
    );
    assert_eq!(ledger.entries().len(), 1, "only the namespace is recorded");
}

fn node(name: &str, zone: Option<&str>, resource_version: &str) -> Value {
    let mut labels = json!({"kubernetes.io/hostname": name});
    if let Some(zone) = zone {
        labels[ZONE] = json!(zone);
    }
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels, "resourceVersion": resource_version},
        "status": {
            "allocatable": {"cpu": "4"},
            "conditions": [{"type": "Ready", "status": "True"}],
            "nodeInfo": {"kubeletVersion": "v1.33.1"}
        }
    })
}

fn merge_body(labels: Value) -> Value {
    json!({"contentType": "application/merge-patch+json", "body": {"metadata": {"labels": labels}}})
}

#[tokio::test]
async fn relabel_then_cleanup_restores_original_labels() {
    let (api, server) = mock_api();
    let mut ledger = Ledger::new();
    let changes = BTreeMap::from([
        (ZONE.to_string(), Some("b".to_string())),
        (REGION.to_string(), Some("r1".to_string())),
    ]);
    let second = BTreeMap::from([(ZONE.to_string(), Some("c".to_string()))]);
    let report = scenario(
        server,
        |mut server| async move {
            let path = "/api/v1/nodes/worker";
            server
                .answer("GET", path, 200, node("worker", Some("a"), "10"))
                .await;
            let body = server
                .answer(
                    "PATCH",
                    &format!("{path}?"),
                    200,
                    node("worker", Some("b"), "11"),
                )
                .await;
            assert_eq!(body, merge_body(json!({REGION: "r1", ZONE: "b"})));
            // A second change of the zone: its original stays "a".
            server
                .answer("GET", path, 200, node("worker", Some("b"), "11"))
                .await;
            let body = server
                .answer(
                    "PATCH",
                    &format!("{path}?"),
                    200,
                    node("worker", Some("c"), "12"),
                )
                .await;
            assert_eq!(body, merge_body(json!({ZONE: "c"})));
            // Cleanup: zone back to "a", region (absent before) removed with null.
            let body = server
                .answer(
                    "PATCH",
                    &format!("{path}?"),
                    200,
                    node("worker", Some("a"), "13"),
                )
                .await;
            assert_eq!(body, merge_body(json!({REGION: null, ZONE: "a"})));
            server
        },
        async {
            api.relabel_node(&mut ledger, "worker", &changes).await?;
            api.relabel_node(&mut ledger, "worker", &second).await?;
            Ok::<_, KubeApiError>(ledger.cleanup(&api).await)
        },
    )
    .await
    .expect("relabel");
    assert!(report.is_complete(), "{report}");
    assert_eq!(
        report.done,
        [CleanupAction::LabelsRestored {
            node: "worker".into(),
            labels: BTreeMap::from([
                (REGION.to_string(), None),
                (ZONE.to_string(), Some("a".to_string()))
            ]),
        }]
    );
    assert!(ledger.is_empty());
}

#[tokio::test]
async fn cleanup_deletes_in_reverse_order_and_reports_what_is_left() {
    let (api, server) = mock_api();
    let mut ledger = Ledger::new();
    let other_ns_service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "probe", "namespace": "default"},
        "spec": {"ports": [{"port": 80}]}
    });
    let stored_probe = stored(&other_ns_service, "4");
    let report = scenario(
        server,
        |mut server| async move {
            script_namespace(&mut server).await;
            server
                .answer("PATCH", &format!("{NS_PATH}/services/web{APPLY_QUERY}"), 201, stored(&service(), "2"))
                .await;
            server
                .answer("GET", "/api/v1/namespaces/default/services/probe", 404, status(404, "NotFound", "not found"))
                .await;
            server
                .answer(
                    "PATCH",
                    &format!("/api/v1/namespaces/default/services/probe{APPLY_QUERY}"),
                    201,
                    stored_probe,
                )
                .await;
            server.answer("GET", "/api/v1/nodes/worker", 200, node("worker", None, "5")).await;
            server.answer("PATCH", "/api/v1/nodes/worker?", 200, node("worker", Some("a"), "6")).await;
            // Cleanup, newest first: labels, the service outside, then the namespace (which
            // takes its own service along).
            let body = server
                .answer("PATCH", "/api/v1/nodes/worker?", 500, status(500, "InternalError", "etcd"))
                .await;
            assert_eq!(body, merge_body(json!({ZONE: null})));
            server.answer("PATCH", "/api/v1/nodes/worker?", 200, node("worker", None, "7")).await;
            server
                .answer(
                    "DELETE",
                    "/api/v1/namespaces/default/services/probe?",
                    404,
                    status(404, "NotFound", "services \"probe\" not found"),
                )
                .await;
            let body = server
                .answer("DELETE", &format!("{NS_PATH}?"), 200, stored(&namespace(), "8"))
                .await;
            assert_eq!(
                body,
                json!({"contentType": "application/json", "body": {"propagationPolicy": "Background"}})
            );
            server
        },
        async {
            api.apply(&mut ledger, &namespace()).await?;
            api.apply(&mut ledger, &service()).await?;
            api.apply(&mut ledger, &other_ns_service).await?;
            let zone = BTreeMap::from([(ZONE.to_string(), Some("a".to_string()))]);
            api.relabel_node(&mut ledger, "worker", &zone).await?;
            // --keep: the commands to inspect and delete by hand, nothing done.
            let keep = ledger.keep_commands(&api.kubectl());
            assert_eq!(keep.last().map(String::as_str), Some("kubectl --context kind-topo delete namespace topo-1"));
            // A second Ctrl-C before cleanup starts: nothing done, everything left.
            let aborted = ledger.cleanup_or_abort(&api, async {}).await;
            assert!(aborted.aborted && aborted.done.is_empty());
            assert_eq!(aborted.left.len(), 4);
            Ok::<_, KubeApiError>(ledger.cleanup(&api).await)
        },
    )
    .await
    .expect("setup");
    assert!(report.is_complete(), "{report}");
    assert_eq!(
        report.to_string(),
        "cleanup: restored labels of node worker: topology.kubernetes.io/zone absent\n\
         cleanup: Service default/probe was already gone\n\
         cleanup: deleted Namespace topo-1\n\
         cleanup: deleted Service topo-1/web with its namespace\n"
    );
}

#[tokio::test]
async fn abort_during_cleanup_says_what_is_left() {
    let (api, server) = mock_api();
    let mut ledger = Ledger::new();
    let (abort_tx, abort_rx) = futures::channel::oneshot::channel::<()>();
    let (parked_tx, parked_rx) = std::sync::mpsc::channel::<Reply>();
    let report = scenario(
        server,
        |mut server| async move {
            script_namespace(&mut server).await;
            server
                .answer(
                    "GET",
                    "/api/v1/nodes/worker",
                    200,
                    node("worker", Some("a"), "5"),
                )
                .await;
            server
                .answer(
                    "PATCH",
                    "/api/v1/nodes/worker?",
                    200,
                    node("worker", Some("b"), "6"),
                )
                .await;
            // Cleanup starts with the labels; the second Ctrl-C comes while that is in flight.
            let (_, reply) = server.expect("PATCH", "/api/v1/nodes/worker?").await;
            let _ = parked_tx.send(reply);
            let _ = abort_tx.send(());
            server
        },
        async {
            api.apply(&mut ledger, &namespace()).await?;
            let zone = BTreeMap::from([(ZONE.to_string(), Some("b".to_string()))]);
            api.relabel_node(&mut ledger, "worker", &zone).await?;
            let abort = async {
                let _ = abort_rx.await;
            };
            Ok::<_, KubeApiError>(ledger.cleanup_or_abort(&api, abort).await)
        },
    )
    .await
    .expect("setup");
    drop(parked_rx);
    assert!(report.aborted && report.done.is_empty());
    assert_eq!(report.left.len(), 2, "{report}");
    assert_eq!(ledger.entries(), report.left.as_slice());
    assert_eq!(
        report.to_string(),
        "cleanup aborted\n\
         left behind: created Namespace topo-1\n\
         left behind: labels of node worker (originally topology.kubernetes.io/zone=a)\n"
    );
}

#[tokio::test]
async fn cleanup_failure_leaves_the_entry() {
    let (api, server) = mock_api();
    let mut ledger = Ledger::new();
    let report = scenario(
        server,
        |mut server| async move {
            script_namespace(&mut server).await;
            server
                .answer(
                    "DELETE",
                    &format!("{NS_PATH}?"),
                    403,
                    status(403, "Forbidden", "no delete for you"),
                )
                .await;
            server
        },
        async {
            api.apply(&mut ledger, &namespace()).await?;
            Ok::<_, KubeApiError>(ledger.cleanup(&api).await)
        },
    )
    .await
    .expect("setup");
    assert!(!report.is_complete());
    assert_eq!(
        report.left,
        [LedgerEntry::Created(ObjectRef::namespace("topo-1"))]
    );
    assert_eq!(ledger.entries(), report.left.as_slice());
    assert_eq!(
        report.to_string(),
        "cleanup failed: delete Namespace topo-1: the API server answered 403 Forbidden: no delete for you\n\
         left behind: created Namespace topo-1\n"
    );
}

fn slice(name: &str, resource_version: &str, endpoints: &[(&str, &str, &str)]) -> Value {
    let endpoints: Vec<Value> = endpoints
        .iter()
        .map(|(ip, node, zone)| {
            json!({
                "addresses": [ip],
                "conditions": {"ready": true, "serving": true, "terminating": false},
                "nodeName": node,
                "zone": zone,
                "hints": {"forZones": [{"name": zone}]}
            })
        })
        .collect();
    json!({
        "metadata": {
            "name": name, "namespace": "topo-1", "resourceVersion": resource_version,
            "labels": {
                "kubernetes.io/service-name": "web",
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"
            }
        },
        "addressType": "IPv4",
        "ports": [{"name": "", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints
    })
}

/// List items carry no `apiVersion` and `kind`.
fn strip_type(object: &mut Value) {
    if let Some(map) = object.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
    }
}

fn list(kind: &str, resource_version: &str, items: Vec<Value>) -> Value {
    json!({"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": resource_version}, "items": items})
}

#[tokio::test]
async fn observe_lists_nodes_services_and_slices_into_cluster_state() {
    let (api, server) = mock_api();
    let state = scenario(
        server,
        |mut server| async move {
            let mut svc = stored(&service(), "2");
            svc["spec"]["clusterIP"] = json!("10.96.0.10");
            svc["spec"]["type"] = json!("ClusterIP");
            // List items carry no apiVersion/kind.
            strip_type(&mut svc);
            let mut nodes = vec![
                node("worker", Some("a"), "1"),
                node("worker2", Some("b"), "1"),
            ];
            nodes.iter_mut().for_each(strip_type);
            server
                .answer("GET", "/api/v1/nodes?", 200, list("NodeList", "20", nodes))
                .await;
            server
                .answer(
                    "GET",
                    &format!("{NS_PATH}/services?"),
                    200,
                    list("ServiceList", "20", vec![svc]),
                )
                .await;
            let slices = vec![slice(
                "web-abc",
                "15",
                &[
                    ("10.244.1.2", "worker", "a"),
                    ("10.244.2.2", "worker2", "b"),
                ],
            )];
            server
                .answer(
                    "GET",
                    "/apis/discovery.k8s.io/v1/namespaces/topo-1/endpointslices?",
                    200,
                    list("EndpointSliceList", "20", slices),
                )
                .await;
            server
        },
        api.observe("topo-1"),
    )
    .await
    .expect("observe");
    let zones: Vec<(&str, Option<&str>)> = state
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.zone()))
        .collect();
    assert_eq!(zones, [("worker", Some("a")), ("worker2", Some("b"))]);
    assert_eq!(state.services.len(), 1);
    assert_eq!(state.services[0].name, "web");
    assert_eq!(
        state.services[0].topology_keys,
        ["kubernetes.io/hostname", "*"],
        "fields removed after 1.21 survive listing"
    );
    let hints: Vec<(String, Vec<String>)> = state.slices[0]
        .endpoints
        .iter()
        .map(|e| {
            (
                e.node_name.clone().unwrap_or_default(),
                e.hints
                    .as_ref()
                    .map(|h| h.for_zones.clone())
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        hints,
        [
            ("worker".to_string(), vec!["a".to_string()]),
            ("worker2".to_string(), vec!["b".to_string()])
        ]
    );
}

const SLICES: &str = "/apis/discovery.k8s.io/v1/namespaces/topo-1/endpointslices";

fn watch_events(events: &[(&str, Value)]) -> Value {
    let mut text = String::new();
    for (kind, object) in events {
        let mut object = object.clone();
        object["apiVersion"] = json!("discovery.k8s.io/v1");
        object["kind"] = json!("EndpointSlice");
        text.push_str(&json!({"type": kind, "object": object}).to_string());
        text.push('\n');
    }
    Value::String(text)
}

fn two_hinted_endpoints(state: &ClusterState) -> bool {
    state
        .slices
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .filter(|e| e.hints.is_some())
        .count()
        == 2
}

#[tokio::test]
async fn watch_that_ends_is_resumed_and_then_converges() {
    let (api, server) = mock_api();
    let (parked_tx, parked_rx) = std::sync::mpsc::channel::<Reply>();
    let state = scenario(
        server,
        |mut server| async move {
            let one = slice("web-abc", "15", &[("10.244.1.2", "worker", "a")]);
            server
                .answer("GET", &format!("{SLICES}?&limit=500"), 200, list("EndpointSliceList", "20", vec![one]))
                .await;
            let watch = format!("{SLICES}?&watch=true&timeoutSeconds=290&allowWatchBookmarks=true&resourceVersion=20");
            let second = slice("web-def", "21", &[("10.244.2.2", "worker2", "b")]);
            // The watch delivers one event, then its stream ends (as at timeoutSeconds).
            server.answer("GET", &watch, 200, watch_events(&[("ADDED", second.clone())])).await;
            // The watcher resumes from the last resourceVersion it saw, without a re-list.
            let resumed = format!("{SLICES}?&watch=true&timeoutSeconds=290&allowWatchBookmarks=true&resourceVersion=21");
            let mut moved = second.clone();
            moved["metadata"]["resourceVersion"] = json!("22");
            server.answer("GET", &resumed, 200, watch_events(&[("MODIFIED", moved)])).await;
            let again = format!("{SLICES}?&watch=true&timeoutSeconds=290&allowWatchBookmarks=true&resourceVersion=22");
            // This watch stays open with no events: the state is stable.
            let (_, reply) = server.expect("GET", &again).await;
            let _ = parked_tx.send(reply);
            server
        },
        api.wait_for_slices(
            "topo-1",
            two_hinted_endpoints,
            Duration::from_millis(1500),
            Duration::from_millis(100),
        ),
    )
    .await;
    drop(parked_rx);
    let state = state.expect("converged");
    let names: Vec<&str> = state.slices.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["web-abc", "web-def"]);
}

#[tokio::test]
async fn watch_gone_relists_then_converges() {
    let (api, server) = mock_api();
    let (parked_tx, parked_rx) = std::sync::mpsc::channel::<Reply>();
    let state = scenario(
        server,
        |mut server| async move {
            server
                .answer("GET", &format!("{SLICES}?&limit=500"), 200, list("EndpointSliceList", "20", vec![]))
                .await;
            let watch = format!("{SLICES}?&watch=true&timeoutSeconds=290&allowWatchBookmarks=true&resourceVersion=20");
            let gone = json!({"type": "ERROR", "object": status(410, "Expired", "too old resource version: 20 (30)")});
            server.answer("GET", &watch, 200, Value::String(format!("{gone}\n"))).await;
            // 410 Gone: the watcher starts over with a full list.
            let both = vec![
                slice("web-abc", "31", &[("10.244.1.2", "worker", "a")]),
                slice("web-def", "32", &[("10.244.2.2", "worker2", "b")]),
            ];
            server
                .answer("GET", &format!("{SLICES}?&limit=500"), 200, list("EndpointSliceList", "40", both))
                .await;
            let again = format!("{SLICES}?&watch=true&timeoutSeconds=290&allowWatchBookmarks=true&resourceVersion=40");
            let (_, reply) = server.expect("GET", &again).await;
            let _ = parked_tx.send(reply);
            server
        },
        api.wait_for_slices("topo-1", two_hinted_endpoints, Duration::from_millis(1500), Duration::from_millis(100)),
    )
    .await;
    drop(parked_rx);
    assert_eq!(state.map(|s| s.slices.len()).ok(), Some(2));
}

#[tokio::test]
async fn wait_that_times_out_returns_the_last_state() {
    let (api, server) = mock_api();
    let (parked_tx, parked_rx) = std::sync::mpsc::channel::<Reply>();
    let result = scenario(
        server,
        |mut server| async move {
            let one = slice("web-abc", "15", &[("10.244.1.2", "worker", "a")]);
            server
                .answer("GET", &format!("{SLICES}?&limit=500"), 200, list("EndpointSliceList", "20", vec![one]))
                .await;
            let watch = format!("{SLICES}?&watch=true&timeoutSeconds=290&allowWatchBookmarks=true&resourceVersion=20");
            let (_, reply) = server.expect("GET", &watch).await;
            let _ = parked_tx.send(reply);
            server
        },
        api.wait_for_slices("topo-1", two_hinted_endpoints, Duration::from_millis(300), Duration::from_millis(50)),
    )
    .await;
    drop(parked_rx);
    match result {
        Err(WaitError::Timeout {
            namespace,
            waited,
            last: Some(last),
            last_error: None,
        }) => {
            assert_eq!(namespace, "topo-1");
            assert!(waited >= Duration::from_millis(300));
            assert_eq!(last.slices.len(), 1);
            assert_eq!(last.slices[0].name, "web-abc");
        }
        other => panic!("expected a timeout with the last state, got {other:?}"),
    }
}

fn kubeconfig(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    let text = "apiVersion: v1\nkind: Config\ncurrent-context: kind-a\n\
clusters:\n- name: kind-a\n  cluster: {server: 'https://127.0.0.1:6443', insecure-skip-tls-verify: true}\n\
- name: kind-b\n  cluster: {server: 'https://127.0.0.1:6444', insecure-skip-tls-verify: true}\n\
users:\n- name: u\n  user: {token: t}\n\
contexts:\n- name: kind-a\n  context: {cluster: kind-a, user: u}\n- name: kind-b\n  context: {cluster: kind-b, user: u}\n";
    std::fs::write(&path, text).expect("write kubeconfig");
    path
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "topo-harness-kube-api-{name}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[tokio::test]
async fn kubeconfig_uses_the_named_context_and_never_falls_back() {
    let dir = temp_dir("ctx");
    let path = kubeconfig(&dir);
    let api = ClusterApi::from_kubeconfig(&path, Some("kind-b"))
        .await
        .expect("kind-b exists");
    assert_eq!(api.context(), Some("kind-b"));
    assert_eq!(
        api.kubectl(),
        format!("kubectl --kubeconfig {} --context kind-b", path.display())
    );
    let current = ClusterApi::from_kubeconfig(&path, None)
        .await
        .expect("current context");
    assert_eq!(current.context(), Some("kind-a"));
    let missing = ClusterApi::from_kubeconfig(&path, Some("kind-c"))
        .await
        .expect_err("no fallback");
    assert_eq!(
        missing.to_string(),
        format!(
            "kubeconfig {} has no context \"kind-c\"; it has: kind-a, kind-b",
            path.display()
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client pod as the API server stores it, in `phase`.
fn client_pod(name: &str, node: &str, phase: &str) -> Value {
    let mut pod =
        topo_harness::backend::live::probes::probe_pod("topo-1", node, name, "10.96.0.10", 80, 60);
    pod["metadata"]["uid"] = json!("0000-2222");
    pod["metadata"]["resourceVersion"] = json!("5");
    pod["status"] = json!({ "phase": phase });
    pod
}

#[tokio::test]
async fn traffic_probe_creates_polls_reads_logs_and_deletes_client_pods() {
    use topo_harness::backend::live::probes::{run_probes, ProbeTiming};
    let (api, server) = mock_api();
    let mut ledger = Ledger::new();
    let clients = vec![
        ("client-w-1".to_string(), "w".to_string()),
        ("client-w2-1".to_string(), "w2".to_string()),
    ];
    let timing = ProbeTiming {
        poll: Duration::from_millis(1),
        deadline: Duration::from_millis(500),
    };
    let pods = format!("{NS_PATH}/pods");
    let (created, outcomes) = scenario(
        server,
        move |mut server| async move {
            script_namespace(&mut server).await;
            // In the harness's own namespace: applied without a lookup, pinned to the node.
            for (name, node) in [("client-w-1", "w"), ("client-w2-1", "w2")] {
                let body = server
                    .answer(
                        "PATCH",
                        &format!("{pods}/{name}{APPLY_QUERY}"),
                        201,
                        client_pod(name, node, "Pending"),
                    )
                    .await;
                assert_eq!(body["body"]["spec"]["nodeName"], node);
            }
            // First poll: w still running, w2 done; second poll asks only for w.
            let get = |name: &str| format!("{pods}/{name}");
            server
                .answer(
                    "GET",
                    &get("client-w-1"),
                    200,
                    client_pod("client-w-1", "w", "Running"),
                )
                .await;
            server
                .answer(
                    "GET",
                    &get("client-w2-1"),
                    200,
                    client_pod("client-w2-1", "w2", "Succeeded"),
                )
                .await;
            server
                .answer(
                    "GET",
                    &get("client-w-1"),
                    200,
                    client_pod("client-w-1", "w", "Succeeded"),
                )
                .await;
            server
                .answer(
                    "GET",
                    &format!("{pods}/client-w-1/log?&container=client"),
                    200,
                    json!("answer 1 web-a\nanswer 2 web-b\n"),
                )
                .await;
            server
                .answer(
                    "GET",
                    &format!("{pods}/client-w2-1/log?&container=client"),
                    200,
                    json!("answer 1 FAILED rc=7\nanswer 2 FAILED rc=7\n"),
                )
                .await;
            for name in ["client-w-1", "client-w2-1"] {
                server
                    .answer(
                        "DELETE",
                        &format!("{pods}/{name}?"),
                        200,
                        client_pod(name, "w", "Succeeded"),
                    )
                    .await;
            }
            server
        },
        async {
            api.apply(&mut ledger, &namespace())
                .await
                .expect("namespace");
            let outcomes = run_probes(
                &api,
                &mut ledger,
                "topo-1",
                &clients,
                "10.96.0.10",
                80,
                60,
                timing,
            )
            .await
            .expect("probes");
            let created: Vec<String> = ledger.entries().iter().map(|e| format!("{e:?}")).collect();
            (created, outcomes)
        },
    )
    .await;
    assert_eq!(
        created.len(),
        3,
        "namespace and both pods recorded: {created:?}"
    );
    let w = &outcomes["w"];
    assert_eq!(w.log.as_deref(), Some("answer 1 web-a\nanswer 2 web-b\n"));
    assert_eq!(w.problem, None);
    assert_eq!(outcomes["w2"].problem, None);
}

#[tokio::test]
async fn a_client_that_never_finishes_is_reported_with_its_partial_log() {
    use topo_harness::backend::live::probes::{run_probes, ProbeTiming};
    let (api, server) = mock_api();
    let mut ledger = Ledger::new();
    let clients = vec![("client-w-1".to_string(), "w".to_string())];
    let timing = ProbeTiming {
        poll: Duration::from_millis(1),
        // Past at the first poll: exactly one.
        deadline: Duration::ZERO,
    };
    let pods = format!("{NS_PATH}/pods");
    let outcomes = scenario(
        server,
        move |mut server| async move {
            script_namespace(&mut server).await;
            server
                .answer(
                    "PATCH",
                    &format!("{pods}/client-w-1{APPLY_QUERY}"),
                    201,
                    client_pod("client-w-1", "w", "Pending"),
                )
                .await;
            // Polled once: the deadline has passed.
            let pending = client_pod("client-w-1", "w", "Pending");
            server
                .answer("GET", &format!("{pods}/client-w-1"), 200, pending)
                .await;
            server
                .answer(
                    "GET",
                    &format!("{pods}/client-w-1/log?&container=client"),
                    400,
                    status(
                        400,
                        "BadRequest",
                        "container \"client\" is waiting to start: ContainerCreating",
                    ),
                )
                .await;
            server
                .answer(
                    "DELETE",
                    &format!("{pods}/client-w-1?"),
                    200,
                    client_pod("client-w-1", "w", "Pending"),
                )
                .await;
            server
        },
        async {
            api.apply(&mut ledger, &namespace())
                .await
                .expect("namespace");
            run_probes(
                &api,
                &mut ledger,
                "topo-1",
                &clients,
                "10.96.0.10",
                80,
                60,
                timing,
            )
            .await
            .expect("probes")
        },
    )
    .await;
    let problem = outcomes["w"].problem.clone().unwrap_or_default();
    assert!(
        problem.starts_with("pod client-w-1: the client pod did not finish within"),
        "{problem}"
    );
    assert!(problem.contains("phase Pending"), "{problem}");
    assert!(problem.contains("cannot read its log"), "{problem}");
    assert_eq!(outcomes["w"].log, None);
}

const EVENTS: &str = "/api/v1/namespaces/topo-1/events?&fieldSelector=involvedObject.kind%3DService%2CinvolvedObject.name%3Dweb";

#[tokio::test]
async fn service_events_are_listed_oldest_first_with_their_counts() {
    let (api, server) = mock_api();
    let events = scenario(
        server,
        |mut server| async move {
            // A server error first: listing is retried like every other call.
            server
                .answer("GET", EVENTS, 500, status(500, "InternalError", "etcd"))
                .await;
            let items = vec![
                json!({"metadata": {"name": "web.b", "namespace": "topo-1"},
                       "involvedObject": {"kind": "Service", "name": "web"},
                       "type": "Warning", "reason": "TopologyAwareHintsDisabled",
                       "message": "Nodes only ready in one zone, addressType: IPv4",
                       "firstTimestamp": "2026-01-01T00:00:09Z", "count": 4}),
                json!({"metadata": {"name": "web.a", "namespace": "topo-1"},
                       "involvedObject": {"kind": "Service", "name": "web"},
                       "type": "Normal", "reason": "TopologyAwareHintsEnabled",
                       "message": "Topology Aware Hints has been enabled, addressType: IPv4",
                       "firstTimestamp": "2026-01-01T00:00:01Z"}),
            ];
            server
                .answer("GET", EVENTS, 200, list("EventList", "30", items))
                .await;
            server
        },
        api.service_events("topo-1", "web"),
    )
    .await
    .expect("events");
    let seen: Vec<(&str, &str, &str, u32)> = events
        .iter()
        .map(|e| {
            (
                e.event_type.as_str(),
                e.reason.as_str(),
                e.message.as_str(),
                e.count,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "Normal",
                "TopologyAwareHintsEnabled",
                "Topology Aware Hints has been enabled, addressType: IPv4",
                1
            ),
            (
                "Warning",
                "TopologyAwareHintsDisabled",
                "Nodes only ready in one zone, addressType: IPv4",
                4
            ),
        ]
    );
}

#[tokio::test]
async fn service_events_forbidden_is_a_readable_error() {
    let (api, server) = mock_api();
    let message = "events is forbidden: User \"ci\" cannot list resource \"events\" in API group \"\" in the namespace \"topo-1\"";
    let result = scenario(
        server,
        |mut server| async move {
            server
                .answer("GET", EVENTS, 403, status(403, "Forbidden", message))
                .await;
            server
        },
        api.service_events("topo-1", "web"),
    )
    .await;
    let error = result.expect_err("403 must fail");
    assert_eq!(error.status_code(), Some(403));
    assert!(error.to_string().contains(message), "{error}");
}
