//! One case run on a live cluster: its namespace, the mapping between the case's node names
//! and the cluster's, and the translation of every [`StepAction`] field into API objects,
//! interpreted as the sim backend interprets it (same placement rule for `scale`, same
//! "rejected step changes nothing" order, same hand-written slice addresses).
//!
//! - [`nodes`]: the namespace name, case ↔ cluster node names ([`NodeMap`]) and what a backend
//!   does on nodes ([`NodeControl`]);
//! - [`apply`](mod@apply): each step into API objects (Service, echo Deployments, hand-written
//!   slices, held and not-ready pods);
//! - [`observe`](mod@observe): the namespace's state and every node's routes, from rules,
//!   traffic or both.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};

use super::probes::{self, ObserveSource, ProbeTiming, TrafficResult};
use super::routes::service_routes;
use crate::backend::kind::manifests;
use crate::backend::kube_api::{ClusterApi, KubeApiError, Ledger, ObjectKind, ObjectRef};
use crate::backend::{Applied, BackendError, NodeRoutes, Observation, Warnings};
use crate::case::service::next_service;
use crate::case::{ClusterShape, HandSlice, NodeDef, ServiceChange, StepAction, SERVICE_NAME};
use crate::model::{
    ClusterState, FeatureGates, Service, LABEL_MANAGED_BY, LABEL_REGION, LABEL_ZONE,
};

mod apply;
mod nodes;
mod observe;

pub use nodes::{namespace_name, NodeControl, NodeMap};
pub(crate) use observe::routes_from_dump;

/// The file whose presence makes an echo pod not ready (its readiness probe tests it).
pub const NOT_READY_FILE: &str = "/tmp/topo-harness-not-ready";

/// The file whose presence keeps a terminating echo pod in its preStop hook (terminating but
/// still serving) until the harness removes it or the grace period ends.
pub const HOLD_FILE: &str = "/tmp/topo-harness-hold";

/// How long a held pod may stay terminating.
const HOLD_GRACE_SECONDS: u64 = 3600;

/// The annotation that makes the ReplicaSet delete a pod first on scale-down.
const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// The label that ties an EndpointSlice to its Service.
const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";

/// Converts a manifest given as YAML text into JSON.
fn yaml_value(text: Result<String, manifests::ManifestError>) -> Result<Value, BackendError> {
    let text = text.map_err(|e| BackendError::apply_from("generating a manifest", e))?;
    serde_saphyr::from_str::<Value>(&text)
        .map_err(|e| BackendError::apply_from("generated manifest is not valid YAML", e))
}

fn api_error(e: KubeApiError) -> BackendError {
    BackendError::apply_from("", e)
}

/// The per-case state of a live run.
#[derive(Debug)]
pub struct Workload {
    /// The case's namespace.
    pub namespace: String,
    /// Case ↔ cluster node names.
    pub nodes: NodeMap,
    /// Case node definitions (roles, for the placement rule).
    defs: Vec<NodeDef>,
    definition: Option<ServiceChange>,
    service: Option<Service>,
    counts: BTreeMap<String, usize>,
    deployments: BTreeSet<String>,
    hand_slices: BTreeSet<String>,
    zones: BTreeMap<String, Option<String>>,
    /// Cluster nodes whose kubelet the harness stopped.
    pub stopped_kubelets: BTreeSet<String>,
    /// Case node → echo pods made not ready there.
    not_ready: BTreeMap<String, usize>,
    /// Case node → pods held terminating there.
    held: BTreeMap<String, BTreeSet<String>>,
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
    /// What went wrong without failing the step (a node that did not settle in time).
    pub warnings: Warnings,
}

/// Traffic routes (case node → internal addresses) and notes, for one observed state.
#[derive(Debug, Clone)]
struct TrafficCache {
    state: ClusterState,
    internal: BTreeMap<String, Vec<String>>,
    /// Node → address → answers.
    answers: BTreeMap<String, BTreeMap<String, usize>>,
    notes: Vec<String>,
}

impl Workload {
    /// A workload for `shape` in `namespace` (nothing created yet).
    pub fn new(namespace: String, nodes: NodeMap, shape: &ClusterShape) -> Self {
        Workload {
            namespace,
            nodes,
            defs: shape.nodes.clone(),
            definition: None,
            service: None,
            counts: shape.nodes.iter().map(|n| (n.name.clone(), 0)).collect(),
            deployments: BTreeSet::new(),
            hand_slices: BTreeSet::new(),
            zones: shape
                .nodes
                .iter()
                .map(|n| (n.name.clone(), n.zone.clone()))
                .collect(),
            stopped_kubelets: BTreeSet::new(),
            not_ready: BTreeMap::new(),
            held: BTreeMap::new(),
            settle: None,
            source: ObserveSource::Rules,
            probe_timing: None,
            controller_under_test: None,
            probe_round: 0,
            traffic_cache: None,
            warnings: Warnings::default(),
        }
    }

    /// Whether the controller's slices show what the step asked for: on every node with a
    /// running kubelet exactly its count of ready, non-terminating endpoints; on stopped nodes
    /// none ready.
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
        self.counts.iter().all(|(case, count)| {
            let Some(real) = self.nodes.real(case) else {
                return true;
            };
            let r = ready.get(real).copied().unwrap_or(0);
            let unready = self.not_ready.get(case).copied().unwrap_or(0).min(*count);
            let publish = self
                .service
                .as_ref()
                .is_some_and(|s| s.publish_not_ready_addresses);
            if self.stopped_kubelets.contains(real) {
                publish || r == 0
            } else {
                let held = self.held.get(case).map_or(0, BTreeSet::len);
                let want_ready = if publish { *count } else { *count - unready };
                r == want_ready && terminating.get(real).copied().unwrap_or(0) == held
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
    /// the runner's stable window does not close over a rollout in progress.
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
    /// labels as the shape says (originals recorded in the ledger); stops the kubelet of nodes
    /// the shape starts NotReady.
    pub async fn begin(
        &mut self,
        api: &ClusterApi,
        ledger: &mut Ledger,
        control: &dyn NodeControl,
        relabel: bool,
    ) -> Result<(), BackendError> {
        let ns = yaml_value(manifests::namespace(&self.namespace))?;
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
                control.set_kubelet(&real, false)?;
                self.stopped_kubelets.insert(real.clone());
                self.wait_node(api, &real, false).await;
            }
        }
        Ok(())
    }

    /// Refuses what a real cluster cannot do on demand, before anything is changed.
    pub fn check_supported(action: &StepAction, backend: &str) -> Result<(), BackendError> {
        if let Some((node, _)) = action.nodes.iter().find(|(_, c)| c.cpu_millis.is_some()) {
            return Err(BackendError::Unsupported {
                reason: format!(
                "not supported on {backend}: changing the allocatable CPU of running node {node} (the kubelet reservation is fixed when the cluster is created)"
            ),
        });
        }
        Ok(())
    }

    /// Endpoints per case node now.
    pub fn counts(&self) -> &BTreeMap<String, usize> {
        &self.counts
    }

    /// Cluster nodes where pods are held terminating (cleanup releases them).
    pub fn held_nodes(&self) -> Vec<String> {
        self.held
            .iter()
            .filter(|(_, pods)| !pods.is_empty())
            .filter_map(|(case, _)| self.nodes.real(case).map(str::to_string))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::apply::{harness_controlled, readiness_period_seconds, READINESS_PROBES_PER_SECOND};
    use super::*;
    use crate::case::service::{apply_fields, default_service};
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
    fn large_deployments_are_probed_less_often() {
        assert_eq!(readiness_period_seconds(1), 1);
        assert_eq!(readiness_period_seconds(10), 1);
        assert_eq!(readiness_period_seconds(150), 15);
        assert_eq!(readiness_period_seconds(10_000), 30);
        let mut deployment = json!({"spec": {"replicas": 150, "template": {"spec": {
            "containers": [{"name": "echo"}]}}}});
        harness_controlled(&mut deployment);
        let probe = &deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"];
        assert_eq!(probe["periodSeconds"], 15);
        // 150 pods probe at 10 per second, not 150.
        assert!(150 / probe["periodSeconds"].as_u64().unwrap() <= READINESS_PROBES_PER_SECOND);
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
    fn scale_follows_the_sim_placement_rule() {
        let map = NodeMap::default();
        let mut w = Workload::new("ns".into(), map, &shape());
        w.scale_counts(5);
        assert_eq!(w.counts().get("worker"), Some(&3));
        assert_eq!(w.counts().get("worker2"), Some(&2));
        assert_eq!(w.counts().get("control-plane"), Some(&0));
        w.scale_counts(2);
        assert_eq!(
            (w.counts().get("worker"), w.counts().get("worker2")),
            (Some(&1), Some(&1))
        );
    }

    #[test]
    fn slices_settle_when_every_running_node_has_its_ready_endpoints() {
        use crate::model::{AddressType, Endpoint, EndpointSlice, MANAGED_BY_CONTROLLER};
        let map = NodeMap::new(vec![
            ("control-plane".into(), "c-control-plane".into()),
            ("worker".into(), "c-worker".into()),
            ("worker2".into(), "c-worker2".into()),
        ]);
        let mut w = Workload::new("ns".into(), map, &shape());
        w.counts.insert("worker".into(), 2);
        w.counts.insert("worker2".into(), 1);
        let endpoint = |node: &str, ready: bool, terminating: bool| Endpoint {
            addresses: vec!["10.244.1.2".into()],
            ready: Some(ready),
            serving: Some(ready),
            terminating: Some(terminating),
            node_name: Some(node.into()),
            zone: None,
            hints: None,
            topology: BTreeMap::new(),
            pod: None,
        };
        let state = |endpoints: Vec<Endpoint>| {
            let mut s = ClusterState::empty();
            s.slices.push(EndpointSlice {
                namespace: "ns".into(),
                name: "web-1".into(),
                service_name: Some("web".into()),
                managed_by: Some(MANAGED_BY_CONTROLLER.into()),
                address_type: AddressType::IPv4,
                ports: Vec::new(),
                endpoints,
            });
            s
        };
        let two_and_one = vec![
            endpoint("c-worker", true, false),
            endpoint("c-worker", true, false),
            endpoint("c-worker2", true, false),
        ];
        assert!(w.slices_settled(&state(two_and_one.clone())));
        let mut rolling = two_and_one.clone();
        rolling[1] = endpoint("c-worker", false, false);
        assert!(!w.slices_settled(&state(rolling)));
        let mut leaving = two_and_one.clone();
        leaving.push(endpoint("c-worker2", false, true));
        assert!(!w.slices_settled(&state(leaving)));
        // A stopped kubelet: its endpoints must be not ready.
        w.stopped_kubelets.insert("c-worker2".into());
        assert!(!w.slices_settled(&state(two_and_one.clone())));
        let mut stopped = two_and_one;
        stopped[2] = endpoint("c-worker2", false, false);
        assert!(w.slices_settled(&state(stopped)));
    }

    #[test]
    fn unsupported_actions_are_refused_clearly() {
        let mut action = StepAction::default();
        action.terminating.insert("worker".into(), 1);
        assert!(Workload::check_supported(&action, "kind").is_ok());
        let cpu = StepAction {
            nodes: vec![(
                "worker".into(),
                crate::case::NodeChange {
                    cpu_millis: Some(2000),
                    ..Default::default()
                },
            )],
            ..StepAction::default()
        };
        assert!(Workload::check_supported(&cpu, "kind").is_err());
        assert!(Workload::check_supported(&StepAction::default(), "kind").is_ok());
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
    fn service_object_selects_echo_pods_and_leaves_the_node_port_to_the_server() {
        let w = Workload::new("topo-x-1".into(), NodeMap::default(), &shape());
        let mut svc = default_service();
        apply_fields(
            &mut svc,
            &ServiceChange {
                node_port: Some(true),
                topology_keys: Some(vec!["kubernetes.io/hostname".into()]),
                ..ServiceChange::default()
            },
        );
        let object = w.service_object(&svc).expect("object");
        assert_eq!(
            object.pointer("/metadata/namespace"),
            Some(&json!("topo-x-1"))
        );
        assert_eq!(object.pointer("/spec/type"), Some(&json!("NodePort")));
        assert_eq!(
            object.pointer("/spec/selector/app.kubernetes.io~1name"),
            Some(&json!("web"))
        );
        assert_eq!(object.pointer("/spec/ports/0/nodePort"), None);
        assert_eq!(object.pointer("/spec/ports/0/port"), Some(&json!(80)));
        assert_eq!(
            object.pointer("/spec/topologyKeys"),
            Some(&json!(["kubernetes.io/hostname"]))
        );
    }
}
