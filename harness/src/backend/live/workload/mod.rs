//! One case run on a live cluster: its namespace, the mapping between the case's node names
//! and the cluster's, and the translation of every [`StepAction`] field into API objects,
//! interpreted as the sim backend interprets it: the same [`PodSet`] decides which pods exist
//! and which are marked (one bare Pod per entry, bound to its node), the same "rejected step
//! changes nothing" order, the same hand-written slice addresses.
//!
//! - [`manifests`]: the objects (namespace, echo pods, Service, client pods);
//! - [`nodes`]: the namespace name and case ↔ cluster node names ([`NodeMap`]);
//! - [`NodeAccess`]: what a backend does on its nodes — with a real kubelet (kind, an
//!   existing cluster) or playing the kubelet itself ([`Kubelet::Emulated`], the local
//!   backend: pod addresses, pod status and node status are written by the harness);
//! - [`apply`](mod@apply): each step into API objects and node changes;
//! - [`observe`](mod@observe): the namespace's state and every node's routes, from rules,
//!   traffic or both.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};

use super::probes::{self, ObserveSource, ProbeTiming, TrafficResult};
use super::routes::service_routes;
use crate::backend::kube_api::{ClusterApi, KubeApiError, Ledger};
use crate::backend::pods::PodSet;
use crate::backend::{Applied, BackendError, NodeRoutes, Observation, Reached, Warnings};
use crate::case::service::next_service;
use crate::case::{ClusterShape, HandSlice, NodeDef, ServiceChange, StepAction, SERVICE_NAME};
use crate::model::{
    ClusterState, FeatureGates, Service, LABEL_MANAGED_BY, LABEL_REGION, LABEL_ZONE,
};

mod apply;
pub mod manifests;
mod nodes;
mod observe;

pub use manifests::{HOLD_FILE, NOT_READY_FILE};
pub use nodes::{namespace_name, NodeMap};
pub(crate) use observe::routes_from_dump;

/// The label that ties an EndpointSlice to its Service.
const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";

fn api_error(e: KubeApiError) -> BackendError {
    BackendError::apply_from("", e)
}

/// Who runs the pods of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kubelet {
    /// A real kubelet: pods start, become ready and terminate by themselves; readiness and
    /// holding are steered through files in the echo container ([`NOT_READY_FILE`],
    /// [`HOLD_FILE`]), a NotReady node by stopping its kubelet.
    Real,
    /// No kubelet: the harness plays it. [`NodeAccess::start_pod`] gives a pod its address,
    /// the harness writes pod and node status through the API (`pods/status`,
    /// `nodes/status`) and finishes deletions with grace period 0.
    Emulated,
}

/// A pod's address on a backend that plays the kubelet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodNetwork {
    /// `status.podIP`.
    pub ip: String,
    /// `status.hostIP`: its node's address.
    pub host_ip: String,
}

/// What a live backend does on its nodes besides the API. Every method has a default that
/// says the backend cannot do it ([`BackendError::Unsupported`], the suite is skipped), so an
/// implementation only writes what it can.
pub trait NodeAccess {
    /// The backend's name in "not supported on …" reasons.
    fn label(&self) -> &str;

    /// Who runs pods here.
    fn kubelet(&self) -> Kubelet {
        Kubelet::Real
    }

    /// [`Kubelet::Real`]: stops (`running = false`) or starts the kubelet of cluster node
    /// `node`.
    fn set_kubelet(&self, node: &str, _running: bool) -> Result<(), BackendError> {
        Err(self.unsupported(&format!(
            "stopping or starting the kubelet of node {node} (needs node access)"
        )))
    }

    /// [`Kubelet::Real`]: makes the echo pod `pod` of `namespace` on cluster node `node` not
    /// ready (`ready = false`) or ready again, through [`NOT_READY_FILE`].
    fn set_pod_ready(
        &self,
        node: &str,
        _namespace: &str,
        pod: &str,
        _ready: bool,
    ) -> Result<(), BackendError> {
        Err(self.unsupported(&format!(
            "making echo pod {pod} on node {node} not ready (needs node access)"
        )))
    }

    /// [`Kubelet::Real`]: creates (`hold = true`) or removes [`HOLD_FILE`] in the echo pod
    /// `pod`, so its preStop hook keeps it terminating once deleted, or lets it finish.
    fn set_hold(
        &self,
        node: &str,
        _namespace: &str,
        pod: &str,
        _hold: bool,
    ) -> Result<(), BackendError> {
        Err(self.unsupported(&format!(
            "holding echo pod {pod} on node {node} terminating (needs node access)"
        )))
    }

    /// [`Kubelet::Emulated`]: gives pod `pod` on cluster node `node` an address and an echo
    /// server answering its name.
    fn start_pod(&self, node: &str, pod: &str) -> Result<PodNetwork, BackendError> {
        Err(self.unsupported(&format!(
            "starting pod {pod} on node {node} without a kubelet"
        )))
    }

    /// [`Kubelet::Emulated`]: removes what [`start_pod`](Self::start_pod) made.
    fn stop_pod(&self, _node: &str, _pod: &str) -> Result<(), BackendError> {
        Ok(())
    }

    /// The dataplane routes of the case's Service on cluster node `node`, if the backend can
    /// read them.
    fn read_routes(
        &self,
        _node: &str,
        _service: &Service,
        _gates: &FeatureGates,
    ) -> Result<Option<NodeRoutes>, BackendError> {
        Ok(None)
    }

    /// Sends `count` requests to `host:port` from cluster node `node` itself and returns the
    /// client's log in [`probes::probe_script`]'s format; `None` when this backend probes with
    /// client pods through the API instead.
    fn probe(
        &self,
        _node: &str,
        _host: &str,
        _port: u16,
        _count: u32,
    ) -> Option<Result<String, BackendError>> {
        None
    }

    /// The skip reason for something this backend cannot do.
    fn unsupported(&self, what: &str) -> BackendError {
        BackendError::Unsupported {
            reason: format!("not supported on {}: {what}", self.label()),
        }
    }
}

/// What a backend can do to a running cluster, for skipping a case before it starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Change node labels (zone, region, extra labels).
    pub relabel: bool,
    /// Mark a node NotReady and Ready again.
    pub node_readiness: bool,
    /// Change a running node's allocatable CPU.
    pub node_cpu: bool,
    /// Make echo pods not ready.
    pub pod_readiness: bool,
    /// Hold deleted echo pods terminating.
    pub hold_pods: bool,
}

impl Capabilities {
    /// Everything.
    pub const ALL: Capabilities = Capabilities {
        relabel: true,
        node_readiness: true,
        node_cpu: true,
        pod_readiness: true,
        hold_pods: true,
    };

    /// Why `action` (of step `step`) cannot run with these capabilities on `backend`.
    pub fn refuse(&self, step: &str, action: &StepAction, backend: &str) -> Option<String> {
        let not = |what: &str| Some(format!("not supported on {backend}: step {step} {what}"));
        if let Some((node, _)) = action.nodes.iter().find(|(_, c)| c.cpu_millis.is_some()) {
            if !self.node_cpu {
                return not(&format!(
                    "changes the allocatable CPU of running node {node} (fixed when the cluster is created)"
                ));
            }
        }
        if let Some((node, _)) = action.nodes.iter().find(|(_, c)| c.ready.is_some()) {
            if !self.node_readiness {
                return not(&format!(
                    "marks node {node} NotReady or Ready (needs node access)"
                ));
            }
        }
        if let Some((node, _)) = action.nodes.iter().find(|(_, c)| c.zone.is_some()) {
            if !self.relabel {
                return not(&format!("relabels node {node}"));
            }
        }
        if !action.not_ready.is_empty() && !self.pod_readiness {
            return not("makes echo pods not ready (needs node access)");
        }
        if !action.terminating.is_empty() && !self.hold_pods {
            return not("holds echo pods terminating (needs node access)");
        }
        None
    }
}

/// A pod the harness created and that still exists in the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
struct LivePod {
    /// Its case node.
    node: String,
    /// Its address, where the harness plays the kubelet.
    network: Option<PodNetwork>,
    /// Whether its readiness was turned off.
    not_ready: bool,
    /// Whether it was deleted and is held terminating.
    held: bool,
}

/// A node status the harness changed while playing the kubelet, with the value to restore.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct NodeStatusChange {
    ready: Option<bool>,
    cpu_millis: Option<u64>,
}

/// The per-case state of a live run.
#[derive(Debug)]
pub struct Workload {
    /// The case's namespace.
    pub namespace: String,
    /// Case ↔ cluster node names.
    pub nodes: NodeMap,
    /// Case node definitions (roles, zones, CPU).
    defs: Vec<NodeDef>,
    /// The gates of the shape's version.
    gates: FeatureGates,
    definition: Option<ServiceChange>,
    service: Option<Service>,
    /// The pods the steps so far asked for (as the sim keeps them).
    pods: PodSet,
    /// Pod name → what exists in the cluster.
    live: BTreeMap<String, LivePod>,
    hand_slices: BTreeSet<String>,
    zones: BTreeMap<String, Option<String>>,
    /// Case nodes that are NotReady now (kubelet stopped, or status written NotReady).
    pub not_ready_nodes: BTreeSet<String>,
    /// Cluster node → the status it had before the harness changed it (emulated kubelet).
    changed_status: BTreeMap<String, NodeStatusChange>,
    /// How long `apply` waits for pods and node conditions to follow a step (`None`: it does
    /// not wait; the fakes in the tests).
    pub settle: Option<Duration>,
    /// Where routes are observed from.
    pub source: ObserveSource,
    /// How client pods are polled (`None`: [`ProbeTiming::for_requests`]).
    pub probe_timing: Option<ProbeTiming>,
    /// The `managed-by` label of the EndpointSlice controller under test (`--managed-by`):
    /// its slices are observed, and waited for, as the controller's.
    pub controller_under_test: Option<String>,
    /// Probe rounds so far (client pod names carry the round, so a pod still terminating from
    /// the last round never collides).
    probe_round: usize,
    /// The last traffic result and the API state it was probed in: reused while the state
    /// does not change, so the runner's polls do not re-probe a converged step.
    traffic_cache: Option<TrafficCache>,
    /// The last observed state and rules, and since when they have looked so.
    last_seen: Option<(
        (ClusterState, BTreeMap<String, Option<NodeRoutes>>),
        tokio::time::Instant,
    )>,
    /// How long after a state first appears its traffic is measured again (proxies sync
    /// their rules some time after the API changes: up to their `minSyncPeriod`, 1 s).
    pub proxy_sync_grace: Duration,
    /// What went wrong without failing the step (a node that did not settle in time).
    pub warnings: Warnings,
}

/// Traffic routes (case node → internal addresses) and notes, for one observed state and the
/// rules read with it.
#[derive(Debug, Clone)]
struct TrafficCache {
    state: ClusterState,
    rules: BTreeMap<String, Option<NodeRoutes>>,
    /// When the probes started.
    probed_at: tokio::time::Instant,
    internal: BTreeMap<String, Vec<Reached>>,
    /// Node → address → answers.
    answers: BTreeMap<String, BTreeMap<String, usize>>,
    notes: Vec<String>,
}

impl TrafficCache {
    /// Whether this result stands for `state` and `rules`, which have looked so since
    /// `first_seen`: the same, and measured at least `grace` after that (before, a proxy may
    /// not have applied them yet).
    fn reusable(
        &self,
        state: &ClusterState,
        rules: &BTreeMap<String, Option<NodeRoutes>>,
        first_seen: tokio::time::Instant,
        grace: Duration,
    ) -> bool {
        self.state == *state
            && self.rules == *rules
            && self.probed_at.saturating_duration_since(first_seen) >= grace
    }
}

impl Workload {
    /// A workload for `shape` in `namespace` (nothing created yet).
    pub fn new(namespace: String, nodes: NodeMap, shape: &ClusterShape) -> Self {
        Workload {
            namespace,
            nodes,
            defs: shape.nodes.clone(),
            gates: shape.gates(),
            definition: None,
            service: None,
            pods: PodSet::new(&shape.nodes),
            live: BTreeMap::new(),
            hand_slices: BTreeSet::new(),
            zones: shape
                .nodes
                .iter()
                .map(|n| (n.name.clone(), n.zone.clone()))
                .collect(),
            not_ready_nodes: BTreeSet::new(),
            changed_status: BTreeMap::new(),
            settle: None,
            source: ObserveSource::Rules,
            probe_timing: None,
            controller_under_test: None,
            probe_round: 0,
            traffic_cache: None,
            last_seen: None,
            proxy_sync_grace: Duration::from_secs(2),
            warnings: Warnings::default(),
        }
    }

    /// The feature gates in force.
    pub fn gates(&self) -> FeatureGates {
        self.gates.clone()
    }

    /// The pods the steps so far asked for.
    pub fn pods(&self) -> &PodSet {
        &self.pods
    }

    /// Whether the controller's slices show what the steps asked for: on every node exactly
    /// its ready, non-terminating pods as ready endpoints (all of its non-terminating pods
    /// with `publishNotReadyAddresses`, none ready on a NotReady node) and its held pods as
    /// terminating endpoints.
    pub fn slices_settled(&self, state: &ClusterState) -> bool {
        let marked;
        let state = match &self.controller_under_test {
            Some(name) => {
                let mut copy = state.clone();
                crate::backend::mark_controller_under_test(&mut copy, name);
                marked = copy;
                &marked
            }
            None => state,
        };
        let mut ready: BTreeMap<&str, usize> = BTreeMap::new();
        let mut terminating: BTreeMap<&str, usize> = BTreeMap::new();
        for slice in state.slices.iter().filter(|s| s.is_controller_managed()) {
            for e in &slice.endpoints {
                let Some(node) = e.node_name.as_deref() else {
                    continue;
                };
                if e.terminating == Some(true) {
                    *terminating.entry(node).or_insert(0) += 1;
                } else if e.ready != Some(false) {
                    *ready.entry(node).or_insert(0) += 1;
                }
            }
        }
        let publish = self
            .service
            .as_ref()
            .is_some_and(|s| s.publish_not_ready_addresses);
        self.defs.iter().all(|def| {
            let Some(real) = self.nodes.real(&def.name) else {
                return true;
            };
            let on_node = self.pods.pods().iter().filter(|p| p.node == def.name);
            let (mut want_ready, mut want_terminating) = (0, 0);
            for pod in on_node {
                if pod.terminating {
                    want_terminating += 1;
                } else if publish || (!pod.not_ready && !self.not_ready_nodes.contains(&def.name)) {
                    want_ready += 1;
                }
            }
            let r = ready.get(real).copied().unwrap_or(0);
            let t = terminating.get(real).copied().unwrap_or(0);
            if self.not_ready_nodes.contains(&def.name) && !publish {
                // A stopped kubelet's pods: not ready once the node controller notices.
                r == 0
            } else {
                r == want_ready && t == want_terminating
            }
        })
    }

    /// Waits (up to the settle time) until node `real` reports Ready = `ready`: the node
    /// lifecycle controller takes its grace period (40–50 s) to notice a stopped kubelet.
    async fn wait_node(&self, api: &ClusterApi, real: &str, ready: bool) {
        let Some(limit) = self.settle else { return };
        let wait = async {
            let start = tokio::time::Instant::now();
            while start.elapsed() < limit {
                if let Ok(state) = api.observe(&self.namespace).await {
                    if state
                        .nodes
                        .iter()
                        .any(|n| n.name == real && n.ready == ready)
                    {
                        return true;
                    }
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            false
        };
        let reached = tokio::select! {
            reached = wait => reached,
            () = super::interrupted(1) => true,
        };
        if !reached {
            self.warnings.push(format!(
                "node {real} did not become {} within {limit:?}",
                if ready { "Ready" } else { "NotReady" }
            ));
        }
    }

    /// Waits (up to the settle time) until the pods of the step are ready in the slices, so
    /// the runner's stable window does not close over pods still starting.
    async fn wait_pods(&self, api: &ClusterApi) {
        let Some(limit) = self.settle else { return };
        if self.service.as_ref().is_none_or(|s| s.selector.is_none()) {
            return;
        }
        let wait = api.wait_for_slices(
            &self.namespace,
            |state| self.slices_settled(state),
            limit,
            Duration::from_secs(1),
        );
        tokio::select! {
            result = wait => {
                if let Err(e) = result {
                    self.warnings.push(e.to_string());
                }
            }
            () = super::interrupted(1) => {}
        }
    }

    /// Creates the namespace and, when `relabel`, sets every node's zone, region and extra
    /// labels as the shape says (originals recorded in the ledger); makes NotReady the nodes
    /// the shape starts NotReady.
    pub async fn begin(
        &mut self,
        api: &ClusterApi,
        ledger: &mut Ledger,
        access: &impl NodeAccess,
        relabel: bool,
    ) -> Result<(), BackendError> {
        let ns = manifests::namespace(&self.namespace);
        api.apply(ledger, &ns).await.map_err(api_error)?;
        for def in self.defs.clone() {
            let real = self.nodes.real_or_err(&def.name)?.to_string();
            if relabel {
                let mut labels: BTreeMap<String, Option<String>> = def
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), Some(v.clone())))
                    .collect();
                labels.insert(LABEL_ZONE.to_string(), def.zone.clone());
                labels.insert(LABEL_REGION.to_string(), def.region.clone());
                api.relabel_node(ledger, &real, &labels)
                    .await
                    .map_err(api_error)?;
            }
            if !def.ready {
                self.set_node_ready(api, access, &def.name, false).await?;
            }
        }
        Ok(())
    }

    /// Case nodes where pods are held terminating.
    pub fn held_nodes(&self) -> Vec<String> {
        let nodes: BTreeSet<String> = self
            .live
            .values()
            .filter(|p| p.held)
            .map(|p| p.node.clone())
            .collect();
        nodes.into_iter().collect()
    }

    /// Undoes what only the workload knows about, before the ledger deletes the namespace:
    /// node status and stopped kubelets are restored (the next case on the cluster needs its
    /// nodes as created); unless `keep`, held pods are let go and pods of an emulated kubelet
    /// deleted for good (nothing else would finish their deletion, and their namespace would
    /// never go). Returns what could not be undone.
    pub async fn end(
        &mut self,
        api: &ClusterApi,
        access: &impl NodeAccess,
        keep: bool,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let pods: Vec<(String, LivePod)> = if keep {
            Vec::new()
        } else {
            std::mem::take(&mut self.live).into_iter().collect()
        };
        for (name, pod) in pods {
            let result = match access.kubelet() {
                Kubelet::Emulated => self.finish_deletion(api, access, &name, &pod).await,
                Kubelet::Real if pod.held => self.release_held(access, &name, &pod),
                Kubelet::Real => Ok(()),
            };
            if let Err(e) = result {
                problems.push(format!("pod {name}: {}", e.report()));
            }
        }
        for case in std::mem::take(&mut self.not_ready_nodes) {
            if let Err(e) = self.restore_node_ready(access, &case) {
                problems.push(e.report());
            }
        }
        for (real, change) in std::mem::take(&mut self.changed_status) {
            if let Err(e) = self.restore_node_status(api, &real, &change).await {
                problems.push(format!(
                    "restoring the status of node {real}: {}",
                    e.report()
                ));
            }
        }
        problems
    }
}

/// A Node status patch as the kubelet writes it: the Ready condition and, when given, the
/// allocatable (and capacity) CPU.
fn node_status_patch(ready: Option<bool>, cpu_millis: Option<u64>) -> Value {
    let mut status = serde_json::Map::new();
    if let Some(ready) = ready {
        let now = now_rfc3339();
        let (flag, reason, message) = if ready {
            (
                "True",
                "KubeletReady",
                "kubelet is posting ready status (topo-harness)",
            )
        } else {
            (
                "False",
                "KubeletNotReady",
                "marked NotReady by topo-harness (the case's step)",
            )
        };
        status.insert(
            "conditions".into(),
            json!([{
                "type": "Ready", "status": flag, "reason": reason, "message": message,
                "lastHeartbeatTime": now, "lastTransitionTime": now
            }]),
        );
    }
    if let Some(millis) = cpu_millis {
        let cpu = format!("{millis}m");
        status.insert("allocatable".into(), json!({ "cpu": cpu }));
        status.insert("capacity".into(), json!({ "cpu": cpu }));
    }
    json!({ "status": status })
}

/// A Pod status as the kubelet writes it for a running echo pod.
pub(crate) fn pod_status_patch(network: &PodNetwork, ready: bool) -> Value {
    let now = now_rfc3339();
    let flag = if ready { "True" } else { "False" };
    json!({"status": {
        "phase": "Running",
        "hostIP": network.host_ip,
        "hostIPs": [{"ip": network.host_ip}],
        "podIP": network.ip,
        "podIPs": [{"ip": network.ip}],
        "startTime": now,
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
            {"type": "Ready", "status": flag, "lastTransitionTime": now}
        ],
        "containerStatuses": [{
            "name": "echo", "ready": ready, "started": true, "restartCount": 0,
            "image": manifests::AGNHOST_IMAGE, "imageID": "",
            "state": {"running": {"startedAt": now}}
        }]
    }})
}

/// Now as RFC 3339 UTC with second precision (what API timestamps carry).
pub(crate) fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, proleptic Gregorian).
fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{ProxyMode, Role};
    use crate::model::KubeVersion;

    fn shape() -> ClusterShape {
        let node = |name: &str, role| NodeDef::new(name, role, Some("a"));
        ClusterShape {
            version: KubeVersion::new(34),
            proxy_mode: ProxyMode::Iptables,
            feature_gates: Vec::new(),
            max_endpoints_per_slice: 100,
            nodes: vec![
                node("control-plane", Role::ControlPlane),
                node("worker", Role::Worker),
                node("worker2", Role::Worker),
            ],
        }
    }

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_688_304), "2026-12-08T00:05:04Z");
    }

    #[test]
    fn readiness_probes_are_spread_for_many_pods() {
        use manifests::{readiness_period_seconds, READINESS_PROBES_PER_SECOND};
        assert_eq!(readiness_period_seconds(1), 1);
        assert_eq!(readiness_period_seconds(10), 1);
        assert_eq!(readiness_period_seconds(150), 15);
        assert_eq!(readiness_period_seconds(10_000), 30);
        assert!(150 / readiness_period_seconds(150) <= READINESS_PROBES_PER_SECOND);
    }

    #[test]
    fn namespaces_are_dns_labels() {
        assert_eq!(
            namespace_name("current-two-zones-auto", "run-1733150000", 1),
            "topo-current-two-zones-auto-1733150000-1"
        );
        // Two runs never share a namespace (a kept one does not block the next run).
        assert_ne!(
            namespace_name("a", "run-1733150000", 1),
            namespace_name("a", "run-1733150001", 1)
        );
        let long = namespace_name(&"X_y".repeat(40), "run-1733150000", 12);
        assert!(long.len() <= 63, "{long}");
        assert!(long.ends_with("-1733150000-12"), "{long}");
        assert!(long
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
    }

    #[test]
    fn capabilities_name_what_a_backend_cannot_do() {
        let step = StepAction {
            not_ready: [("worker".to_string(), 1)].into(),
            ..StepAction::default()
        };
        let none = Capabilities::default();
        assert_eq!(
            none.refuse("s1", &step, "an existing cluster").as_deref(),
            Some("not supported on an existing cluster: step s1 makes echo pods not ready (needs node access)")
        );
        assert_eq!(Capabilities::ALL.refuse("s1", &step, "x"), None);
        let cpu = StepAction {
            nodes: vec![(
                "worker".into(),
                crate::case::NodeChange {
                    cpu_millis: Some(500),
                    ..Default::default()
                },
            )],
            ..StepAction::default()
        };
        let kind = Capabilities {
            node_cpu: false,
            ..Capabilities::ALL
        };
        assert!(kind
            .refuse("s2", &cpu, "kind")
            .is_some_and(|r| r.contains("allocatable CPU of running node worker")));
    }

    #[test]
    fn a_pod_is_written_running_with_its_address() {
        let network = PodNetwork {
            ip: "10.244.1.7".into(),
            host_ip: "198.18.0.11".into(),
        };
        let patch = pod_status_patch(&network, false);
        assert_eq!(patch["status"]["phase"], "Running");
        assert_eq!(patch["status"]["podIPs"][0]["ip"], "10.244.1.7");
        assert_eq!(patch["status"]["hostIP"], "198.18.0.11");
        let ready: Vec<(&str, &str)> = patch["status"]["conditions"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter_map(|c| Some((c["type"].as_str()?, c["status"].as_str()?)))
                    .collect()
            })
            .unwrap_or_default();
        assert!(ready.contains(&("Ready", "False")), "{ready:?}");
        assert!(ready.contains(&("ContainersReady", "False")), "{ready:?}");
        let node = node_status_patch(Some(true), Some(1500));
        assert_eq!(node["status"]["allocatable"]["cpu"], "1500m");
        assert_eq!(node["status"]["conditions"][0]["status"], "True");
        assert!(node_status_patch(None, None)["status"]
            .as_object()
            .is_some_and(|m| m.is_empty()));
    }

    #[test]
    fn settled_slices_follow_the_pods_and_marks() {
        use crate::model::{Endpoint, EndpointSlice, MANAGED_BY_CONTROLLER};
        let mut w = Workload::new("ns".into(), NodeMap::identity(&shape()), &shape());
        w.pods
            .set_counts(&[("worker".to_string(), 2), ("worker2".to_string(), 1)].into());
        w.pods.mark_not_ready(&[("worker".to_string(), 1)].into());
        let endpoint = |node: &str, ready: bool, terminating: bool| Endpoint {
            addresses: vec!["10.0.0.1".into()],
            ready: Some(ready),
            serving: Some(true),
            terminating: Some(terminating),
            node_name: Some(node.into()),
            zone: None,
            hints: None,
            topology: BTreeMap::new(),
            pod: None,
        };
        let state = |endpoints: Vec<Endpoint>| {
            let mut state = ClusterState::empty();
            state.slices.push(EndpointSlice {
                namespace: "ns".into(),
                name: "web-1".into(),
                service_name: Some("web".into()),
                managed_by: Some(MANAGED_BY_CONTROLLER.into()),
                address_type: Default::default(),
                ports: Vec::new(),
                endpoints,
            });
            state
        };
        let good = state(vec![
            endpoint("worker", true, false),
            endpoint("worker", false, false),
            endpoint("worker2", true, false),
        ]);
        assert!(w.slices_settled(&good));
        let stale = state(vec![
            endpoint("worker", true, false),
            endpoint("worker", true, false),
            endpoint("worker2", true, false),
        ]);
        assert!(!w.slices_settled(&stale));
        w.pods
            .mark_terminating(&[("worker2".to_string(), 1)].into());
        let held = state(vec![
            endpoint("worker", true, false),
            endpoint("worker2", false, true),
        ]);
        assert!(w.slices_settled(&held));
    }

    #[test]
    fn node_names_are_mapped_back_in_the_state() {
        let map = NodeMap::new(vec![
            ("worker".into(), "topo-1-worker".into()),
            ("worker2".into(), "topo-1-worker2".into()),
        ]);
        let mut state = ClusterState::empty();
        state.nodes.push(crate::model::Node {
            name: "topo-1-worker2".into(),
            labels: BTreeMap::new(),
            allocatable_cpu_millis: None,
            ready: true,
            kubelet_version: None,
        });
        map.rename_state(&mut state);
        assert_eq!(state.nodes[0].name, "worker2");
        assert_eq!(map.real("worker"), Some("topo-1-worker"));
    }

    #[test]
    fn traffic_measured_before_the_proxies_synced_is_measured_again() {
        let now = tokio::time::Instant::now();
        let state = ClusterState::empty();
        let rules = BTreeMap::from([("worker".to_string(), None)]);
        let cache = |probed_at| TrafficCache {
            state: state.clone(),
            rules: rules.clone(),
            probed_at,
            internal: BTreeMap::new(),
            answers: BTreeMap::new(),
            notes: Vec::new(),
        };
        let grace = Duration::from_secs(2);
        // Probed at once when the state appeared: proxies may still be syncing.
        assert!(!cache(now).reusable(&state, &rules, now, grace));
        // Probed after the grace: reused while nothing changes.
        let later = now + Duration::from_secs(3);
        assert!(cache(later).reusable(&state, &rules, now, grace));
        // Other rules (a proxy synced since): measured again.
        let synced = BTreeMap::from([("worker".to_string(), Some(NodeRoutes::default()))]);
        assert!(!cache(later).reusable(&state, &synced, now, grace));
    }
}
