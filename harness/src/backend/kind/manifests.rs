//! Workload manifests as YAML text: the namespace, one echo-server Deployment per node, the
//! Service under test, and per-node client pods that probe it.
//!
//! The echo server is agnhost `netexec` (answers `/hostname` with the pod name); Deployments
//! are pinned with `nodeSelector: kubernetes.io/hostname` and tolerate the control-plane taints,
//! so "endpoints on node X" is exactly the replica count of `<app>-<X>`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::model::{Service, ServiceType, TrafficPolicy};

/// The agnhost image, pinned by digest like the node images (tag 2.53, the one the Kubernetes
/// docs' hello-node example uses; the digest is the one published e2e configs pin for 2.53), so
/// every run and every node runs the same bits. [`AGNHOST_TAG`] names it without the digest.
pub const AGNHOST_IMAGE: &str = "registry.k8s.io/e2e-test-images/agnhost:2.53@sha256:99c6b4bb4a1e1df3f0b3752168c89358794d02258ebebc26bf21c29399011a85";
/// [`AGNHOST_IMAGE`] without its digest (what `docker pull`/`kind load` name on the host).
pub const AGNHOST_TAG: &str = "registry.k8s.io/e2e-test-images/agnhost:2.53";
/// netexec's HTTP port.
pub const ECHO_HTTP_PORT: u16 = 8080;
/// netexec's UDP port.
pub const ECHO_UDP_PORT: u16 = 8081;
/// Pod label holding the app name (the Service selects on it).
pub const LABEL_APP: &str = "app.kubernetes.io/name";
/// Pod label holding the node a Deployment or client is pinned to.
pub const LABEL_NODE: &str = "topo-harness.io/node";
/// Label marking everything the harness created.
pub const LABEL_MANAGED: &str = "app.kubernetes.io/managed-by";
/// Prefix of each line a client pod prints per answer: `answer <i> <pod-name>`.
pub const ANSWER_PREFIX: &str = "answer";

/// Why a manifest could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// YAML serialization failed.
    #[error("cannot serialize manifest: {0}")]
    Serialize(String),
}

fn to_yaml(value: &Value) -> Result<String, ManifestError> {
    super::config::to_yaml(value).map_err(ManifestError::Serialize)
}

fn managed_labels(extra: &[(&str, &str)]) -> Value {
    let mut labels = Map::new();
    labels.insert(LABEL_MANAGED.into(), "topo-harness".into());
    for (k, v) in extra {
        labels.insert((*k).into(), (*v).into());
    }
    Value::Object(labels)
}

fn tolerations() -> Value {
    json!([
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "node-role.kubernetes.io/master", "operator": "Exists", "effect": "NoSchedule"}
    ])
}

/// Joins documents into one multi-document YAML stream.
pub fn join_documents(docs: &[String]) -> String {
    docs.iter()
        .map(|d| format!("---\n{d}"))
        .collect::<Vec<_>>()
        .join("")
}

/// The test namespace.
pub fn namespace(name: &str) -> Result<String, ManifestError> {
    to_yaml(&json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": managed_labels(&[])}
    }))
}

/// Name of the echo Deployment for `app` on `node`.
pub fn echo_deployment_name(app: &str, node: &str) -> String {
    format!("{app}-{node}")
}

/// One echo-server Deployment pinned to `node` with `replicas` endpoints.
pub fn echo_deployment(
    namespace: &str,
    app: &str,
    node: &str,
    replicas: u32,
) -> Result<String, ManifestError> {
    let labels = managed_labels(&[(LABEL_APP, app), (LABEL_NODE, node)]);
    to_yaml(&json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": echo_deployment_name(app, node),
            "namespace": namespace,
            "labels": labels,
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {LABEL_APP: app, LABEL_NODE: node}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {"kubernetes.io/hostname": node},
                    "tolerations": tolerations(),
                    "containers": [{
                        "name": "echo",
                        "image": AGNHOST_IMAGE,
                        "args": [
                            "netexec",
                            format!("--http-port={ECHO_HTTP_PORT}"),
                            format!("--udp-port={ECHO_UDP_PORT}"),
                        ],
                        "ports": [
                            {"name": "http", "containerPort": ECHO_HTTP_PORT, "protocol": "TCP"},
                            {"name": "udp", "containerPort": ECHO_UDP_PORT, "protocol": "UDP"}
                        ],
                        "readinessProbe": {
                            "httpGet": {"path": "/hostname", "port": ECHO_HTTP_PORT},
                            "periodSeconds": 1,
                            "failureThreshold": 3
                        }
                    }]
                }
            }
        }
    }))
}

/// One echo Deployment per node (`node → endpoints`, 0 allowed so scaling down applies),
/// as a multi-document stream in node order.
pub fn echo_deployments(
    namespace: &str,
    app: &str,
    endpoints: &BTreeMap<String, u32>,
) -> Result<String, ManifestError> {
    let docs = endpoints
        .iter()
        .map(|(node, replicas)| echo_deployment(namespace, app, node, *replicas))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(join_documents(&docs))
}

fn policy(p: TrafficPolicy) -> &'static str {
    match p {
        TrafficPolicy::Cluster => "Cluster",
        TrafficPolicy::Local => "Local",
    }
}

/// The Service under test, from the model's [`Service`]: annotations, `type`, ports (all
/// pointing at the echo server), traffic policies, `trafficDistribution`, `topologyKeys`.
/// A selector of `None` becomes `app.kubernetes.io/name: <app>`; an explicit empty selector
/// is omitted (the EndpointSlices are then written by hand).
pub fn service(svc: &Service, app: &str) -> Result<String, ManifestError> {
    let mut metadata = Map::new();
    metadata.insert("name".into(), svc.name.clone().into());
    metadata.insert("namespace".into(), svc.namespace.clone().into());
    metadata.insert("labels".into(), managed_labels(&[]));
    if !svc.annotations.is_empty() {
        metadata.insert("annotations".into(), json!(svc.annotations));
    }
    let mut spec = Map::new();
    let service_type = match svc.service_type {
        ServiceType::ClusterIp => "ClusterIP",
        ServiceType::NodePort => "NodePort",
        ServiceType::LoadBalancer => "LoadBalancer",
        ServiceType::ExternalName => "ExternalName",
    };
    spec.insert("type".into(), service_type.into());
    match &svc.selector {
        None => {
            spec.insert("selector".into(), json!({ LABEL_APP: app }));
        }
        Some(sel) if sel.is_empty() => {}
        Some(sel) => {
            spec.insert("selector".into(), json!(sel));
        }
    }
    if svc.is_headless() {
        spec.insert("clusterIP".into(), "None".into());
    }
    let ports: Vec<Value> = svc
        .ports
        .iter()
        .map(|p| {
            let protocol = if p.protocol.is_empty() {
                "TCP"
            } else {
                p.protocol.as_str()
            };
            let target = if protocol == "UDP" {
                ECHO_UDP_PORT
            } else {
                ECHO_HTTP_PORT
            };
            let mut port = Map::new();
            if !p.name.is_empty() {
                port.insert("name".into(), p.name.clone().into());
            }
            port.insert("port".into(), p.port.into());
            port.insert("targetPort".into(), target.into());
            port.insert("protocol".into(), protocol.into());
            if p.node_port != 0 {
                port.insert("nodePort".into(), p.node_port.into());
            }
            Value::Object(port)
        })
        .collect();
    spec.insert("ports".into(), ports.into());
    if svc.internal_traffic_policy != TrafficPolicy::Cluster {
        spec.insert(
            "internalTrafficPolicy".into(),
            policy(svc.internal_traffic_policy).into(),
        );
    }
    if matches!(
        svc.service_type,
        ServiceType::NodePort | ServiceType::LoadBalancer
    ) {
        spec.insert(
            "externalTrafficPolicy".into(),
            policy(svc.external_traffic_policy).into(),
        );
    }
    if let Some(td) = &svc.traffic_distribution {
        spec.insert("trafficDistribution".into(), td.as_str().into());
    }
    if !svc.topology_keys.is_empty() {
        spec.insert("topologyKeys".into(), json!(svc.topology_keys));
    }
    if svc.publish_not_ready_addresses {
        spec.insert("publishNotReadyAddresses".into(), true.into());
    }
    if !svc.external_ips.is_empty() {
        spec.insert("externalIPs".into(), json!(svc.external_ips));
    }
    to_yaml(&json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": spec,
    }))
}

/// Requests a client sends at once (one batch, then the next).
pub const PROBE_CONCURRENCY: u32 = 8;
/// A client stops after this many "no route" failures when nothing answered at all: the node
/// routes nowhere (DROP or REJECT), and each further request would only wait for its timeout.
pub const PROBE_NO_ROUTE_STOP: u32 = 16;
/// curl's `--max-time` per request, in seconds.
pub const PROBE_MAX_TIME_SECS: u32 = 2;
/// Curl exit codes that mean "the dataplane sent nowhere" (connection refused, timed out, empty
/// reply, reset, TLS/connection error): expected when a node has no route; any other failure is
/// the client's.
pub const NO_ROUTE_CODES: [i32; 5] = [7, 28, 52, 56, 35];
/// The line a client prints when it stopped early: `answer-stop <sent> no-route`.
pub const STOP_PREFIX: &str = "answer-stop";

/// The shell script a client runs: `count` requests to `http://<host>:<port>/hostname`,
/// [`PROBE_CONCURRENCY`] at a time, one line per request: `answer <i> <pod-name>`, or
/// `answer <i> FAILED rc=<curl exit code>`. When the first [`PROBE_NO_ROUTE_STOP`] or more
/// answers are all "no route" failures ([`NO_ROUTE_CODES`]) it prints
/// `answer-stop <sent> no-route` and stops. A client therefore needs at most
/// `ceil(count / PROBE_CONCURRENCY) × PROBE_MAX_TIME_SECS` seconds (see
/// [`probe_duration_bound`]), even when every request is dropped.
pub fn probe_script(host: &str, port: u16, count: u32) -> String {
    let no_route = NO_ROUTE_CODES
        .iter()
        .map(|c| format!("*\" FAILED rc={c}\""))
        .collect::<Vec<_>>()
        .join("|");
    format!(
        "d=$(mktemp -d); i=0; ok=0; miss=0; \
         while [ \"$i\" -lt {count} ]; do b=0; \
         while [ \"$b\" -lt {PROBE_CONCURRENCY} ] && [ \"$i\" -lt {count} ]; do i=$((i+1)); b=$((b+1)); \
         (a=$(curl --silent --connect-timeout 1 --max-time {PROBE_MAX_TIME_SECS} http://{host}:{port}/hostname); rc=$?; \
         if [ \"$rc\" -eq 0 ] && [ -n \"$a\" ]; then echo \"{ANSWER_PREFIX} $i $a\"; \
         else echo \"{ANSWER_PREFIX} $i FAILED rc=$rc\"; fi) > \"$d/$b\" & done; wait; \
         j=0; while [ \"$j\" -lt \"$b\" ]; do j=$((j+1)); l=$(cat \"$d/$j\"); echo \"$l\"; \
         case \"$l\" in {no_route}) miss=$((miss+1));; *\" FAILED \"*) ;; *) ok=$((ok+1));; esac; done; \
         if [ \"$ok\" -eq 0 ] && [ \"$miss\" -ge {PROBE_NO_ROUTE_STOP} ]; then echo \"{STOP_PREFIX} $i no-route\"; break; fi; \
         done; rm -rf \"$d\""
    )
}

/// The longest a client running [`probe_script`] with `count` requests can take once started.
pub fn probe_duration_bound(count: u32) -> std::time::Duration {
    std::time::Duration::from_secs(u64::from(
        count.div_ceil(PROBE_CONCURRENCY) * PROBE_MAX_TIME_SECS,
    ))
}

/// The argv to exec the probe in a running client (`kubectl exec` or similar).
pub fn probe_argv(host: &str, port: u16, count: u32) -> Vec<String> {
    vec![
        "sh".to_string(),
        "-c".to_string(),
        probe_script(host, port, count),
    ]
}

/// Name of the client pod on `node`.
pub fn client_pod_name(node: &str) -> String {
    format!("client-{node}")
}

/// A client pod pinned to `node` that probes `host:port` `count` times, prints one
/// `answer <i> <pod>` line per request and exits (read the answers from its log).
pub fn client_pod(
    namespace: &str,
    node: &str,
    host: &str,
    port: u16,
    count: u32,
) -> Result<String, ManifestError> {
    to_yaml(&json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": client_pod_name(node),
            "namespace": namespace,
            "labels": managed_labels(&[(LABEL_APP, "topo-client"), (LABEL_NODE, node)]),
        },
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {"kubernetes.io/hostname": node},
            "tolerations": tolerations(),
            "containers": [{
                "name": "client",
                "image": AGNHOST_IMAGE,
                "command": probe_argv(host, port, count),
            }]
        }
    }))
}

/// Parses a client's log into the answering pod per request, in order (`None` for a failed
/// request). Lines that are not answers are ignored.
pub fn parse_answers(log: &str) -> Vec<Option<String>> {
    log.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next()? == ANSWER_PREFIX).then_some(())?;
            words.next()?.parse::<u32>().ok()?;
            let pod = words.next()?;
            Some((pod != "FAILED").then(|| pod.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse() {
        let log = "answer 1 echo-w-abc\nnoise\nanswer 2 FAILED\nanswer 3 echo-w2-x\n";
        assert_eq!(
            parse_answers(log),
            [Some("echo-w-abc".into()), None, Some("echo-w2-x".into())]
        );
    }

    #[cfg(unix)]
    #[test]
    fn probe_script_runs_in_sh() {
        // Every request fails with a client error (not "no route"): all are reported, in order.
        let script = probe_script("127.0.0.1", 9, 10).replace("curl", "false");
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        let expected: String = (1..=10)
            .map(|i| format!("answer {i} FAILED rc=1\n"))
            .collect();
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    }
}
