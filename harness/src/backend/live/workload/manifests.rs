//! The workload as API objects: the namespace, one bare echo pod per endpoint, the Service
//! under test, and per-node client pods that probe it. Every live backend creates the same
//! objects; [`to_yaml`] renders them for people (and the golden snapshots).
//!
//! The echo server is agnhost `netexec` (answers `/hostname` with the pod name). Pods are
//! bound to their node by `spec.nodeName` (no scheduler involved) and tolerate the
//! control-plane taints, so "endpoints on node X" is exactly the pods bound to X; the harness
//! creates and deletes each pod itself, so no template change ever replaces them.

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
/// Label marking everything the harness created.
pub const LABEL_MANAGED: &str = "app.kubernetes.io/managed-by";
/// Prefix of each line a client pod prints per answer: `answer <i> <pod-name>`.
pub const ANSWER_PREFIX: &str = "answer";

/// The file whose presence makes an echo pod not ready (its readiness probe tests it).
pub const NOT_READY_FILE: &str = "/tmp/topo-harness-not-ready";

/// The file whose presence keeps a terminating echo pod in its preStop hook (terminating but
/// still serving) until the harness removes it or the grace period ends.
pub const HOLD_FILE: &str = "/tmp/topo-harness-hold";

/// How long a held pod may stay terminating.
pub const HOLD_GRACE_SECONDS: u64 = 3600;

/// `value` as YAML text (long strings kept on one line).
pub fn to_yaml(value: &Value) -> String {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.folded_wrap_chars = 4096;
    // A JSON value always serializes.
    serde_saphyr::to_string_with_options(value, options).unwrap_or_default()
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

/// The test namespace.
pub fn namespace(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": managed_labels(&[])}
    })
}

/// Exec readiness probes one node's echo pods may run per second: each is a process started
/// in a container, and 300 of them a second (the 300 pods of `endpointslice-packing` probed
/// every second) starve a 4-vCPU runner.
pub const READINESS_PROBES_PER_SECOND: u64 = 10;

/// The readiness probe period of an echo pod on a node that runs `pods` of them: 1 s while
/// that stays within [`READINESS_PROBES_PER_SECOND`], longer for many pods (at most 30 s, so a
/// pod marked not ready is still noticed well within a step's settle time). A pod keeps the
/// period it was created with: nothing in a running pod's spec ever changes.
pub fn readiness_period_seconds(pods: u64) -> u64 {
    pods.div_ceil(READINESS_PROBES_PER_SECOND).clamp(1, 30)
}

/// One echo pod `name` of `app`, bound to cluster node `node`: ready while
/// [`NOT_READY_FILE`] does not exist (probed every `readiness_period` seconds); once deleted,
/// terminating while [`HOLD_FILE`] exists (up to [`HOLD_GRACE_SECONDS`]).
pub fn echo_pod(
    namespace: &str,
    app: &str,
    name: &str,
    node: &str,
    readiness_period: u64,
) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": managed_labels(&[(LABEL_APP, app)]),
        },
        "spec": {
            "nodeName": node,
            "tolerations": tolerations(),
            "terminationGracePeriodSeconds": HOLD_GRACE_SECONDS,
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
                    "exec": {"command": ["sh", "-c", format!("test ! -e {NOT_READY_FILE}")]},
                    "periodSeconds": readiness_period,
                    "failureThreshold": 1,
                    "successThreshold": 1
                },
                "lifecycle": {
                    "preStop": {"exec": {"command": [
                        "sh", "-c", format!("while [ -e {HOLD_FILE} ]; do sleep 1; done")
                    ]}}
                }
            }]
        }
    })
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
pub fn service(svc: &Service, app: &str) -> Value {
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
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": spec,
    })
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

/// Name of the client pod of probe round `round` on cluster node `node` (a pod name may be
/// 253 characters long, so any node name fits; nothing needs it as a label value).
pub fn client_pod_name(node: &str, round: usize) -> String {
    format!("client-{node}-{round}")
}

/// A client pod `name` bound to cluster node `node` that probes `host:port` `count` times,
/// prints one `answer <i> <pod>` line per request and exits (read the answers from its log).
pub fn client_pod(
    namespace: &str,
    name: &str,
    node: &str,
    host: &str,
    port: u16,
    count: u32,
) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": managed_labels(&[(LABEL_APP, "topo-client")]),
        },
        "spec": {
            "restartPolicy": "Never",
            "nodeName": node,
            "tolerations": tolerations(),
            "containers": [{
                "name": "client",
                "image": AGNHOST_IMAGE,
                "command": probe_argv(host, port, count),
            }]
        }
    })
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
