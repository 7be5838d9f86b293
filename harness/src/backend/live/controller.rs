//! The EndpointSlice controller under test (`--controller none --managed-by NAME`): before
//! the first case on a cluster, a probe Service with one echo pod must get an EndpointSlice
//! labelled `endpointslice.kubernetes.io/managed-by=NAME` listing that pod, or the cluster's
//! setup fails saying so (the controller is not installed, not running, or writes another
//! label).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use super::workload::manifests::{self, ECHO_HTTP_PORT, LABEL_APP};
use super::workload::{Kubelet, NodeAccess};
use crate::backend::kube_api::{ClusterApi, Ledger, ObjectKind};
use crate::model::ClusterState;

/// The probe Service's (and its echo pod's app) name.
pub const PROBE_SERVICE: &str = "topo-probe";

/// The probe namespace of run `run_id`: `topo-probe-<run>` (the `run-` prefix dropped).
pub fn probe_namespace(run_id: &str) -> String {
    super::namespace_name("probe", run_id, 0)
        .trim_end_matches("-0")
        .to_string()
}

/// Whether `state` has a slice of the probe Service written by `managed_by` with an endpoint.
pub fn probe_written(state: &ClusterState, managed_by: &str) -> bool {
    state.slices.iter().any(|s| {
        s.service_name.as_deref() == Some(PROBE_SERVICE)
            && s.managed_by.as_deref() == Some(managed_by)
            && !s.endpoints.is_empty()
    })
}

/// The name of the probe's echo pod.
pub const PROBE_POD: &str = "topo-probe-0";

/// The probe objects: namespace, a Service, one echo pod on `node` it selects.
pub fn probe_objects(namespace: &str, node: &str) -> Vec<Value> {
    let ns = manifests::namespace(namespace);
    let pod = manifests::echo_pod(namespace, PROBE_SERVICE, PROBE_POD, node, 1);
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": PROBE_SERVICE, "namespace": namespace},
        "spec": {
            "selector": {LABEL_APP: PROBE_SERVICE},
            "ports": [{"name": "http", "port": 80, "targetPort": ECHO_HTTP_PORT, "protocol": "TCP"}]
        }
    });
    vec![ns, service, pod]
}

/// Creates the probe (recorded in `ledger`; the caller cleans it up; where the harness plays
/// the kubelet it also starts the pod, and removes its network again before returning) and
/// polls every `poll` until the controller under test wrote its slice, or `deadline` passed:
/// then the error says which managers did write slices for it, if any.
#[allow(clippy::too_many_arguments)]
pub async fn wait_for_controller(
    api: &ClusterApi,
    ledger: &mut Ledger,
    access: &impl NodeAccess,
    namespace: &str,
    node: &str,
    managed_by: &str,
    deadline: Duration,
    poll: Duration,
) -> Result<(), String> {
    for object in probe_objects(namespace, node) {
        api.apply(ledger, &object)
            .await
            .map_err(|e| format!("creating the controller probe: {e}"))?;
    }
    let emulated = access.kubelet() == Kubelet::Emulated;
    if emulated {
        let network = access
            .start_pod(node, PROBE_POD)
            .map_err(|e| format!("starting the controller probe's pod: {}", e.report()))?;
        api.patch_status(
            ObjectKind::Pod,
            Some(namespace),
            PROBE_POD,
            &super::workload::pod_status_patch(&network, true),
        )
        .await
        .map_err(|e| format!("starting the controller probe's pod: {e}"))?;
    }
    let waited = poll_probe(api, namespace, managed_by, deadline, poll).await;
    if emulated {
        let stopped = access.stop_pod(node, PROBE_POD);
        let deleted = api.delete_pod(namespace, PROBE_POD, Some(0)).await;
        waited?;
        stopped.map_err(|e| e.report())?;
        deleted.map_err(|e| e.to_string())?;
        return Ok(());
    }
    waited
}

/// Polls until the probe's slice is written by `managed_by`.
async fn poll_probe(
    api: &ClusterApi,
    namespace: &str,
    managed_by: &str,
    deadline: Duration,
    poll: Duration,
) -> Result<(), String> {
    let start = tokio::time::Instant::now();
    let mut last: Option<ClusterState> = None;
    loop {
        match api.observe(namespace).await {
            Ok(state) if probe_written(&state, managed_by) => return Ok(()),
            Ok(state) => last = Some(state),
            Err(e) => {
                if start.elapsed() >= deadline {
                    return Err(format!("reading the controller probe: {e}"));
                }
            }
        }
        if start.elapsed() >= deadline {
            break;
        }
        tokio::time::sleep(poll).await;
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for slice in last.iter().flat_map(|s| &s.slices) {
        if slice.service_name.as_deref() == Some(PROBE_SERVICE) {
            let manager = slice.managed_by.clone().unwrap_or_else(|| "(none)".into());
            *seen.entry(manager).or_default() += slice.endpoints.len();
        }
    }
    let seen = if seen.is_empty() {
        "no EndpointSlice at all".to_string()
    } else {
        let list: Vec<String> = seen
            .iter()
            .map(|(m, n)| format!("managed-by {m} ({n} endpoint(s))"))
            .collect();
        format!("only {}", list.join(", "))
    };
    Err(format!(
        "the EndpointSlice controller under test (endpointslice.kubernetes.io/managed-by={managed_by}) wrote no slice for Service {namespace}/{PROBE_SERVICE} within {}s ({seen}); is it installed and ready when --after-create returns, and does it write that label?",
        deadline.as_secs()
    ))
}
