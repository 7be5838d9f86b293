//! One case run on a live cluster: its namespace, the mapping between the case's node names
//! and the cluster's, and the translation of every [`StepAction`] field into API objects,
//! interpreted as the sim backend interprets it (same placement rule for `scale`, same
//! "rejected step changes nothing" order, same hand-written slice addresses).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};

use super::probes::{self, ObserveSource, ProbeTiming, TrafficResult};
use super::routes::service_routes;
use crate::backend::kind::manifests;
use crate::backend::kube_api::{ClusterApi, KubeApiError, Ledger, ObjectKind, ObjectRef};
use crate::backend::{Applied, BackendError, NodeRoutes, Observation};
use crate::case::service::next_service;
use crate::case::{ClusterShape, HandSlice, NodeDef, ServiceChange, StepAction, SERVICE_NAME};
use crate::model::{
    ClusterState, FeatureGates, Service, LABEL_MANAGED_BY, LABEL_REGION, LABEL_ZONE,
};

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

/// The namespace of run `n` of `case`: `topo-<case>-<n>`, cut to a DNS label (63 characters,
/// lowercase alphanumerics and `-`).
pub fn namespace_name(case: &str, n: usize) -> String {
    let suffix = format!("-{n}");
    let mut base: String = format!("topo-{case}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    base.truncate(63 - suffix.len());
    let base = base.trim_end_matches('-');
    format!("{base}{suffix}")
}

/// Case node name ↔ cluster node name, in the case's node order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeMap {
    pairs: Vec<(String, String)>,
    zones: Vec<(String, String)>,
}

impl NodeMap {
    /// From `(case name, cluster name)` pairs.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        NodeMap {
            pairs,
            zones: Vec::new(),
        }
    }

    /// Also maps zones: `(case zone, cluster zone)` pairs, for clusters whose nodes keep their
    /// own zone labels (the observation then shows the case's zone names).
    pub fn with_zones(mut self, zones: Vec<(String, String)>) -> Self {
        self.zones = zones;
        self
    }

    /// The cluster's name for a case zone (itself when zones are not mapped).
    pub fn real_zone<'a>(&'a self, case: &'a str) -> &'a str {
        self.zones
            .iter()
            .find(|(c, _)| c == case)
            .map_or(case, |(_, r)| r.as_str())
    }

    fn case_zone(&self, real: &str) -> Option<&str> {
        self.zones
            .iter()
            .find(|(_, r)| r == real)
            .map(|(c, _)| c.as_str())
    }

    /// The pairs, in case order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The cluster name of a case node.
    pub fn real(&self, case: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(c, _)| c == case)
            .map(|(_, r)| r.as_str())
    }

    /// The case name of a cluster node.
    pub fn case(&self, real: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(_, r)| r == real)
            .map(|(c, _)| c.as_str())
    }

    fn real_or_err(&self, case: &str) -> Result<&str, BackendError> {
        self.real(case)
            .ok_or_else(|| BackendError::apply(format!("node {case} is not in the cluster shape")))
    }

    /// Renames the cluster's nodes to the case's names everywhere in `state` (nodes,
    /// endpoints' `nodeName`, `forNodes` hints), so checks and snapshots see case names.
    pub fn rename_state(&self, state: &mut ClusterState) {
        let rename = |name: &mut String| {
            if let Some(case) = self.case(name) {
                *name = case.to_string();
            }
        };
        let rezone = |zone: &mut String| {
            if let Some(case) = self.case_zone(zone) {
                *zone = case.to_string();
            }
        };
        for node in &mut state.nodes {
            rename(&mut node.name);
            if let Some(zone) = node.labels.get_mut(LABEL_ZONE) {
                rezone(zone);
            }
        }
        for slice in &mut state.slices {
            for endpoint in &mut slice.endpoints {
                if let Some(n) = endpoint.node_name.as_mut() {
                    rename(n);
                }
                if let Some(z) = endpoint.zone.as_mut() {
                    rezone(z);
                }
                if let Some(h) = endpoint.hints.as_mut() {
                    for n in &mut h.for_nodes {
                        rename(n);
                    }
                    for z in &mut h.for_zones {
                        rezone(z);
                    }
                }
            }
        }
    }
}

/// What node-level changes need besides the API (kind: `docker exec`; an existing cluster:
/// nothing).
pub trait NodeControl {
    /// Stops (`running = false`) or starts the kubelet of cluster node `node`.
    fn set_kubelet(&self, node: &str, running: bool) -> Result<(), BackendError>;
    /// Makes exactly `count` of the echo pods of `namespace` on cluster node `node` not ready
    /// (the others ready), through the file their readiness probe tests.
    fn set_not_ready(&self, node: &str, namespace: &str, count: usize) -> Result<(), BackendError>;
    /// Creates [`HOLD_FILE`] in `count` echo pods of `namespace` on cluster node `node` that are
    /// not in `exclude` (pod names), so their preStop hook keeps them terminating once deleted;
    /// returns their pod names.
    fn hold_pods(
        &self,
        node: &str,
        namespace: &str,
        count: usize,
        exclude: &BTreeSet<String>,
    ) -> Result<Vec<String>, BackendError>;
    /// Removes [`HOLD_FILE`] from every echo pod of `namespace` on cluster node `node`, so held
    /// pods finish terminating.
    fn release_pods(&self, node: &str, namespace: &str) -> Result<(), BackendError>;
    /// The dataplane routes of the case's Service on cluster node `node`, if the backend can
    /// read them.
    fn read_routes(
        &self,
        node: &str,
        service: &Service,
        gates: &FeatureGates,
    ) -> Result<Option<NodeRoutes>, BackendError>;
}

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
    /// Probe rounds so far (client pod names carry the round, so a pod still terminating from
    /// the last round never collides).
    probe_round: usize,
    /// The last traffic result and the API state it was probed in: reused while the state
    /// does not change, so the runner's polls do not re-probe a converged step.
    traffic_cache: Option<TrafficCache>,
}

/// Traffic routes (case node → internal addresses) and notes, for one observed state.
#[derive(Debug, Clone)]
struct TrafficCache {
    state: ClusterState,
    internal: BTreeMap<String, Vec<String>>,
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
            probe_round: 0,
            traffic_cache: None,
        }
    }

    /// Whether the controller's slices show what the step asked for: on every node with a
    /// running kubelet exactly its count of ready, non-terminating endpoints; on stopped nodes
    /// none ready.
    pub fn slices_settled(&self, state: &ClusterState) -> bool {
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
            eprintln!(
                "warning: node {real} did not become {} within {limit:?}",
                if ready { "Ready" } else { "NotReady" }
            );
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
                    eprintln!("warning: {e}");
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

    /// The Service object for the API: the model's Service as the sim builds it, selecting the
    /// echo pods (or nothing), the node port left to the API server.
    fn service_object(&self, model: &Service) -> Result<Value, BackendError> {
        let mut svc = model.clone();
        svc.namespace = self.namespace.clone();
        svc.cluster_ip = None;
        // `None` = select the echo pods; `Some(empty)` = no selector.
        svc.selector = match &model.selector {
            Some(_) => None,
            None => Some(BTreeMap::new()),
        };
        for port in &mut svc.ports {
            port.node_port = 0;
        }
        yaml_value(manifests::service(&svc, SERVICE_NAME))
    }

    /// The sim's placement rule for `scale`: remove from the node with the most pods (last in
    /// node order on ties), add to the worker with the fewest (first on ties).
    pub fn scale_counts(&mut self, want: usize) {
        let names: Vec<String> = self.defs.iter().map(|n| n.name.clone()).collect();
        let workers: Vec<String> = self
            .defs
            .iter()
            .filter(|n| n.role != crate::case::Role::ControlPlane)
            .map(|n| n.name.clone())
            .collect();
        let total = |c: &BTreeMap<String, usize>| c.values().sum::<usize>();
        while total(&self.counts) > want {
            let mut best: Option<(usize, &String)> = None;
            for name in &names {
                let c = self.counts.get(name).copied().unwrap_or(0);
                if c > 0 && best.is_none_or(|(b, _)| c >= b) {
                    best = Some((c, name));
                }
            }
            let Some((_, name)) = best else { break };
            if let Some(c) = self.counts.get_mut(name) {
                *c -= 1;
            }
        }
        while total(&self.counts) < want {
            let mut best: Option<(usize, &String)> = None;
            for name in &workers {
                let c = self.counts.get(name).copied().unwrap_or(0);
                if best.is_none_or(|(b, _)| c < b) {
                    best = Some((c, name));
                }
            }
            let Some((_, name)) = best else { break };
            *self.counts.entry(name.clone()).or_insert(0) += 1;
        }
    }

    /// Endpoints per case node now.
    pub fn counts(&self) -> &BTreeMap<String, usize> {
        &self.counts
    }

    fn hand_slice_object(&self, spec: &HandSlice, first_ip: &mut usize) -> Value {
        let endpoints: Vec<Value> = spec
            .endpoints
            .iter()
            .map(|e| {
                let k = *first_ip;
                *first_ip += 1;
                let mut endpoint = serde_json::Map::new();
                endpoint.insert(
                    "addresses".into(),
                    json!([format!("10.250.{}.{}", k / 250, k % 250 + 2)]),
                );
                let mut conditions = serde_json::Map::new();
                for (key, value) in [
                    ("ready", e.ready),
                    ("serving", e.serving),
                    ("terminating", e.terminating),
                ] {
                    if let Some(v) = value {
                        conditions.insert(key.into(), v.into());
                    }
                }
                endpoint.insert("conditions".into(), Value::Object(conditions));
                let real = self.nodes.real(&e.node).unwrap_or(&e.node).to_string();
                endpoint.insert("nodeName".into(), real.into());
                if let Some(Some(zone)) = self.zones.get(&e.node) {
                    endpoint.insert("zone".into(), self.nodes.real_zone(zone).into());
                }
                if e.zone_hints.is_some() || !e.node_hints.is_empty() {
                    let mut hints = serde_json::Map::new();
                    let zones: Vec<Value> = e
                        .zone_hints
                        .iter()
                        .flatten()
                        .map(|z| json!({ "name": self.nodes.real_zone(z) }))
                        .collect();
                    hints.insert("forZones".into(), zones.into());
                    if !e.node_hints.is_empty() {
                        let nodes: Vec<Value> = e
                            .node_hints
                            .iter()
                            .map(|n| json!({ "name": self.nodes.real(n).unwrap_or(n) }))
                            .collect();
                        hints.insert("forNodes".into(), nodes.into());
                    }
                    endpoint.insert("hints".into(), Value::Object(hints));
                }
                Value::Object(endpoint)
            })
            .collect();
        json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": spec.name,
                "namespace": self.namespace,
                "labels": {
                    LABEL_SERVICE_NAME: SERVICE_NAME,
                    LABEL_MANAGED_BY: spec.managed_by,
                    manifests::LABEL_MANAGED: "topo-harness",
                },
            },
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": manifests::ECHO_HTTP_PORT, "protocol": "TCP"}],
            "endpoints": endpoints,
        })
    }

    /// Applies one step. A Service the API server rejects (422 Invalid) rejects the whole step
    /// before anything else changes.
    pub async fn apply(
        &mut self,
        api: &ClusterApi,
        ledger: &mut Ledger,
        control: &dyn NodeControl,
        action: &StepAction,
        backend: &str,
    ) -> Result<Applied, BackendError> {
        Self::check_supported(action, backend)?;
        if let Some(definition) = &action.create_service {
            self.definition = Some(definition.clone());
        }
        if action.create_service.is_some() || action.service.is_some() {
            let candidate = next_service(self.service.as_ref(), self.definition.as_ref(), action);
            let object = self.service_object(&candidate)?;
            match api.apply(ledger, &object).await {
                Ok(_) => self.service = Some(candidate),
                Err(KubeApiError::Api {
                    code: 422, message, ..
                }) => return Ok(Applied::Rejected(message)),
                Err(e) => return Err(api_error(e)),
            }
        }
        for (name, change) in &action.nodes {
            let real = self.nodes.real_or_err(name)?.to_string();
            if let Some(zone) = &change.zone {
                let labels = BTreeMap::from([(LABEL_ZONE.to_string(), zone.clone())]);
                api.relabel_node(ledger, &real, &labels)
                    .await
                    .map_err(api_error)?;
                self.zones.insert(name.clone(), zone.clone());
            }
            if let Some(ready) = change.ready {
                control.set_kubelet(&real, ready)?;
                if ready {
                    self.stopped_kubelets.remove(&real);
                } else {
                    self.stopped_kubelets.insert(real.clone());
                }
                self.wait_node(api, &real, ready).await;
            }
        }
        let before = self.counts.clone();
        if let Some(endpoints) = &action.endpoints {
            for (name, count) in self.counts.iter_mut() {
                *count = endpoints.get(name).copied().unwrap_or(0);
            }
        }
        if let Some(n) = action.scale {
            self.scale_counts(n);
        }
        if action.endpoints.is_some() || action.scale.is_some() || before != self.counts {
            for (name, count) in self.counts.clone() {
                let real = self.nodes.real_or_err(&name)?.to_string();
                if count == 0 && !self.deployments.contains(&real) {
                    continue;
                }
                let replicas = u32::try_from(count).unwrap_or(u32::MAX);
                let mut object = yaml_value(manifests::echo_deployment(
                    &self.namespace,
                    SERVICE_NAME,
                    &real,
                    replicas,
                ))?;
                harness_controlled(&mut object);
                api.apply(ledger, &object).await.map_err(api_error)?;
                self.deployments.insert(real);
            }
        }
        if let Some(slices) = &action.slices {
            let wanted: BTreeSet<String> = slices.iter().map(|s| s.name.clone()).collect();
            for gone in self.hand_slices.difference(&wanted) {
                let target =
                    ObjectRef::namespaced(ObjectKind::EndpointSlice, &self.namespace, gone);
                api.delete(&target).await.map_err(api_error)?;
            }
            let mut ip = 0;
            for spec in slices {
                let object = self.hand_slice_object(spec, &mut ip);
                api.apply(ledger, &object).await.map_err(api_error)?;
            }
            self.hand_slices = wanted;
        }
        for (case, count) in self.counts.clone() {
            let unready = self.not_ready.get(&case).copied().unwrap_or(0);
            if unready > count {
                self.not_ready.insert(case, count);
            }
        }
        if !action.not_ready.is_empty() {
            // The pods must run before their readiness can be changed.
            self.wait_pods(api).await;
            for (case, n) in &action.not_ready {
                let real = self.nodes.real_or_err(case)?.to_string();
                control.set_not_ready(&real, &self.namespace, *n)?;
                self.not_ready.insert(case.clone(), *n);
            }
        }
        if !action.terminating.is_empty() {
            self.wait_pods(api).await;
            for (case, n) in &action.terminating {
                self.hold(api, ledger, control, case, *n, backend).await?;
            }
        }
        self.wait_pods(api).await;
        Ok(Applied::Ok)
    }

    /// Makes `n` pods on case node `case` terminating (as the sim marks them): the wanted
    /// number of running pods get [`HOLD_FILE`] and the lowest deletion cost, then the node's
    /// Deployment is scaled down by as many, so the ReplicaSet deletes exactly those and
    /// their preStop hook keeps them terminating (serving while ready).
    async fn hold(
        &mut self,
        api: &ClusterApi,
        ledger: &mut Ledger,
        control: &dyn NodeControl,
        case: &str,
        n: usize,
        backend: &str,
    ) -> Result<(), BackendError> {
        let real = self.nodes.real_or_err(case)?.to_string();
        let already = self.held.get(case).cloned().unwrap_or_default();
        if n < already.len() {
            return Err(BackendError::Unsupported {
                reason: format!(
                "not supported on {backend}: ending a pod's termination (node {case} has {} terminating, the step asks for {n})",
                already.len()
            ),
        });
        }
        let more = n - already.len();
        if more == 0 {
            return Ok(());
        }
        let running = self.counts.get(case).copied().unwrap_or(0);
        if running < more {
            return Err(BackendError::apply(format!(
                "node {case} runs {running} pod(s); cannot make {more} more terminating"
            )));
        }
        let pods = control.hold_pods(&real, &self.namespace, more, &already)?;
        for pod in &pods {
            let object = json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": pod,
                    "namespace": self.namespace,
                    "annotations": {DELETION_COST: "-1000"},
                },
            });
            api.apply(ledger, &object).await.map_err(api_error)?;
        }
        let left = running - more;
        self.counts.insert(case.to_string(), left);
        let mut object = yaml_value(manifests::echo_deployment(
            &self.namespace,
            SERVICE_NAME,
            &real,
            u32::try_from(left).unwrap_or(u32::MAX),
        ))?;
        harness_controlled(&mut object);
        api.apply(ledger, &object).await.map_err(api_error)?;
        self.held.entry(case.to_string()).or_default().extend(pods);
        Ok(())
    }

    /// Cluster nodes where pods are held terminating (cleanup releases them).
    pub fn held_nodes(&self) -> Vec<String> {
        self.held
            .iter()
            .filter(|(_, pods)| !pods.is_empty())
            .filter_map(|(case, _)| self.nodes.real(case).map(str::to_string))
            .collect()
    }

    /// Observes the namespace and every node's routes from [`Self::source`] (rules, traffic
    /// or both, see [`probes`]), with case node names.
    pub async fn observe(
        &mut self,
        api: &ClusterApi,
        ledger: &mut Ledger,
        control: &dyn NodeControl,
        gates: &FeatureGates,
    ) -> Result<Observation, BackendError> {
        let mut state = api.observe(&self.namespace).await.map_err(|e| {
            BackendError::observe_from(format!("reading namespace {}", self.namespace), e)
        })?;
        let service = state
            .services
            .iter()
            .find(|s| s.name == SERVICE_NAME && s.is_proxied())
            .cloned();
        let mut routes = BTreeMap::new();
        let mut notes = Vec::new();
        let source = self.source;
        let traffic = match &service {
            Some(_) if source.uses_traffic() && self.has_hand_slices() => {
                // Their addresses belong to no pod: nothing would answer.
                if source == ObserveSource::Traffic {
                    notes.push(
                        "traffic: the Service's EndpointSlices are written by hand (addresses without pods), so no request can be answered; routes not observed (use --observe rules)"
                            .to_string(),
                    );
                }
                None
            }
            Some(service) if source.uses_traffic() => {
                let cache = self.traffic(api, ledger, &state, service).await?;
                notes.extend(cache.notes.iter().cloned());
                Some(cache.internal)
            }
            _ => None,
        };
        for (case, real) in self.nodes.pairs() {
            let entry = match &service {
                Some(service) => {
                    let rules = if source.uses_rules() {
                        control.read_routes(real, service, gates)?
                    } else {
                        None
                    };
                    let probed = traffic.as_ref().and_then(|t| t.get(case)).cloned();
                    probes::combine(case, source, rules, probed, &mut notes)
                }
                None => NodeRoutes::default(),
            };
            routes.insert(case.clone(), entry);
        }
        self.nodes.rename_state(&mut state);
        Ok(Observation {
            state,
            routes,
            notes,
        })
    }

    /// Whether the case wrote EndpointSlices by hand or its Service has no selector (the
    /// model's `selector: None`).
    fn has_hand_slices(&self) -> bool {
        !self.hand_slices.is_empty() || self.service.as_ref().is_some_and(|s| s.selector.is_none())
    }

    /// Traffic routes for `state` (probed once per distinct state; see [`TrafficCache`]).
    /// Nodes whose kubelet the harness stopped cannot run a client: they get no traffic routes
    /// and a note.
    async fn traffic(
        &mut self,
        api: &ClusterApi,
        ledger: &mut Ledger,
        state: &ClusterState,
        service: &Service,
    ) -> Result<TrafficCache, BackendError> {
        if let Some(cache) = &self.traffic_cache {
            if cache.state == *state {
                return Ok(cache.clone());
            }
        }
        let mut notes = Vec::new();
        let mut internal = BTreeMap::new();
        if let Some((host, port)) = probes::probe_target(service) {
            let count = probes::request_count(probes::ready_endpoints(state, service));
            let addresses = probes::pod_addresses(state, service);
            self.probe_round += 1;
            let mut clients = Vec::new();
            for (case, real) in self.nodes.pairs() {
                if self.stopped_kubelets.contains(real) {
                    notes.push(format!(
                        "traffic from {case}: its kubelet is stopped, so no client pod can run there; routes not observed"
                    ));
                    continue;
                }
                let name = format!("{}-{}", manifests::client_pod_name(real), self.probe_round);
                clients.push((name, real.clone()));
            }
            let timing = self
                .probe_timing
                .unwrap_or_else(|| ProbeTiming::for_requests(count));
            let outcomes = probes::run_probes(
                api,
                ledger,
                &self.namespace,
                &clients,
                &host,
                port,
                count,
                timing,
            )
            .await?;
            for (case, real) in self.nodes.pairs() {
                let Some(outcome) = outcomes.get(real) else {
                    continue;
                };
                if let Some(problem) = &outcome.problem {
                    notes.push(format!("traffic from {case}: {problem}"));
                }
                let result = TrafficResult::from_log(
                    outcome.log.as_deref().unwrap_or(""),
                    &addresses,
                    count,
                );
                notes.extend(result.problems(case));
                internal.insert(case.clone(), result.internal());
            }
        } else {
            notes.push(format!(
                "traffic: Service {} has no ClusterIP and port to probe",
                service.name
            ));
        }
        let cache = TrafficCache {
            state: state.clone(),
            internal,
            notes,
        };
        self.traffic_cache = Some(cache.clone());
        Ok(cache)
    }
}

/// Gives the echo pods the hooks the harness controls: ready while [`NOT_READY_FILE`] does
/// not exist; once deleted, terminating while [`HOLD_FILE`] exists (up to an hour).
fn harness_controlled(deployment: &mut Value) {
    if let Some(spec) = deployment.pointer_mut("/spec/template/spec") {
        spec["terminationGracePeriodSeconds"] = json!(HOLD_GRACE_SECONDS);
    }
    if let Some(container) = deployment.pointer_mut("/spec/template/spec/containers/0") {
        container["readinessProbe"] = json!({
            "exec": {"command": ["sh", "-c", format!("test ! -e {NOT_READY_FILE}")]},
            "periodSeconds": 1,
            "failureThreshold": 1,
            "successThreshold": 1
        });
        container["lifecycle"] = json!({
            "preStop": {"exec": {"command": [
                "sh", "-c", format!("while [ -e {HOLD_FILE} ]; do sleep 1; done")
            ]}}
        });
    }
}

/// Converts one node's dump into routes for the case's Service (used by [`NodeControl`]
/// implementations that read dumps).
pub(crate) fn routes_from_dump(
    mode: crate::observe::dataplane::ProxyMode,
    dump: &str,
    node: &str,
    service: &Service,
    gates: &FeatureGates,
) -> Result<NodeRoutes, BackendError> {
    let parsed = crate::observe::dataplane::parse(mode, dump)
        .map_err(|e| BackendError::observe_from(format!("node {node}"), e))?;
    Ok(service_routes(service, gates, &parsed))
}

#[cfg(test)]
mod tests {
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
    fn namespaces_are_dns_labels() {
        assert_eq!(
            namespace_name("current-two-zones-auto", 1),
            "topo-current-two-zones-auto-1"
        );
        let long = namespace_name(&"X_y".repeat(40), 12);
        assert!(long.len() <= 63, "{long}");
        assert!(long.ends_with("-12"));
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

#[cfg(test)]
mod traffic_tests {
    //! `Workload::observe` with `Both`: rules from a fake node control, traffic from client
    //! pods on a mock API server; a second observation of the same state does not re-probe.
    use super::*;
    use crate::backend::kube_api::{ObjectRef, RetryPolicy};
    use crate::case::{ProxyMode, Role};
    use crate::model::KubeVersion;
    use http::{Request, Response};
    use kube::client::Body;
    use tower_test::mock::{self, Handle};

    const NS: &str = "topo-t-1";
    const APPLY: &str = "?&force=true&fieldManager=topo-harness";

    struct Rules;

    impl NodeControl for Rules {
        fn set_kubelet(&self, _: &str, _: bool) -> Result<(), BackendError> {
            Ok(())
        }
        fn set_not_ready(&self, _: &str, _: &str, _: usize) -> Result<(), BackendError> {
            Ok(())
        }
        fn hold_pods(
            &self,
            _: &str,
            _: &str,
            _: usize,
            _: &BTreeSet<String>,
        ) -> Result<Vec<String>, BackendError> {
            Ok(Vec::new())
        }
        fn release_pods(&self, _: &str, _: &str) -> Result<(), BackendError> {
            Ok(())
        }
        fn read_routes(
            &self,
            _node: &str,
            _: &Service,
            _: &FeatureGates,
        ) -> Result<Option<NodeRoutes>, BackendError> {
            // Both nodes' rules route to both endpoints.
            Ok(Some(NodeRoutes {
                internal: vec!["10.244.1.5".into(), "10.244.2.5".into()],
                external: None,
            }))
        }
    }

    struct Server(Handle<Request<Body>, Response<Body>>);

    impl Server {
        async fn answer(&mut self, method: &str, uri: &str, body: Value) {
            let Some((request, reply)) = self.0.next_request().await else {
                panic!("expected {method} {uri}");
            };
            assert_eq!(
                (request.method().as_str(), request.uri().to_string()),
                (method, uri.to_string())
            );
            let bytes = match body {
                Value::String(raw) => raw.into_bytes(),
                other => serde_json::to_vec(&other).expect("json"),
            };
            reply.send_response(Response::builder().body(Body::from(bytes)).expect("resp"));
        }

        async fn observe(&mut self) {
            let node = |name: &str| {
                json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                       "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
            };
            let list = |items: Vec<Value>| json!({"metadata": {}, "items": items});
            self.answer("GET", "/api/v1/nodes?", list(vec![node("kw"), node("kw2")]))
                .await;
            let service = json!({
                "metadata": {"name": "web", "namespace": NS},
                "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10",
                         "ports": [{"port": 80, "protocol": "TCP"}]}
            });
            self.answer(
                "GET",
                &format!("/api/v1/namespaces/{NS}/services?"),
                list(vec![service]),
            )
            .await;
            let endpoint = |ip: &str, node: &str, pod: &str| {
                json!({"addresses": [ip], "conditions": {"ready": true}, "nodeName": node,
                       "targetRef": {"kind": "Pod", "name": pod, "namespace": NS}})
            };
            let slice = json!({
                "metadata": {"name": "web-x", "namespace": NS,
                             "labels": {"kubernetes.io/service-name": "web"}},
                "addressType": "IPv4",
                "endpoints": [endpoint("10.244.1.5", "kw", "web-kw-a"),
                              endpoint("10.244.2.5", "kw2", "web-kw2-a")]
            });
            self.answer(
                "GET",
                &format!("/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices?"),
                list(vec![slice]),
            )
            .await;
        }
    }

    fn shape() -> ClusterShape {
        let node = |name: &str| NodeDef::new(name, Role::Worker, None);
        ClusterShape {
            version: KubeVersion::new(34),
            proxy_mode: ProxyMode::Iptables,
            feature_gates: Vec::new(),
            max_endpoints_per_slice: 100,
            nodes: vec![node("worker"), node("worker2")],
        }
    }

    #[tokio::test]
    async fn both_uses_traffic_notes_disagreement_and_probes_once_per_state() {
        let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
        let api = ClusterApi::from_client(kube::Client::new(service, "default"), None)
            .with_retry(RetryPolicy::immediate());
        let server = tokio::spawn(async move {
            let mut s = Server(handle);
            s.observe().await;
            let pods = format!("/api/v1/namespaces/{NS}/pods");
            let pod = |name: &str, phase: &str| {
                json!({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "namespace": NS},
                       "status": {"phase": phase}})
            };
            for name in ["client-kw-1", "client-kw2-1"] {
                s.answer(
                    "PATCH",
                    &format!("{pods}/{name}{APPLY}"),
                    pod(name, "Pending"),
                )
                .await;
            }
            for name in ["client-kw-1", "client-kw2-1"] {
                s.answer("GET", &format!("{pods}/{name}"), pod(name, "Succeeded"))
                    .await;
            }
            // 2 ready endpoints: 80 requests each. worker reaches both endpoints; worker2
            // only its own and a stray pod.
            let log = |answer: &dyn Fn(usize) -> &'static str| {
                (1..=80)
                    .map(|i| format!("answer {i} {}\n", answer(i)))
                    .collect::<String>()
            };
            let logs = [
                (
                    "client-kw-1",
                    log(&|i| if i % 2 == 0 { "web-kw-a" } else { "web-kw2-a" }),
                ),
                (
                    "client-kw2-1",
                    log(&|i| if i == 7 { "stray" } else { "web-kw2-a" }),
                ),
            ];
            for (name, log) in logs {
                s.answer(
                    "GET",
                    &format!("{pods}/{name}/log?&container=client"),
                    Value::String(log),
                )
                .await;
            }
            for name in ["client-kw-1", "client-kw2-1"] {
                s.answer("DELETE", &format!("{pods}/{name}?"), pod(name, "Succeeded"))
                    .await;
            }
            // The second observation sees the same state: lists only, no probe.
            s.observe().await;
            s
        });
        let map = NodeMap::new(vec![
            ("worker".into(), "kw".into()),
            ("worker2".into(), "kw2".into()),
        ]);
        let mut workload = Workload::new(NS.into(), map, &shape());
        workload.source = ObserveSource::Both;
        workload.probe_timing = Some(ProbeTiming {
            poll: Duration::from_millis(1),
            deadline: Duration::from_secs(1),
        });
        let mut ledger = Ledger::new();
        ledger.record_created(ObjectRef::namespace(NS));
        let gates = shape().gates();
        let run = async {
            let first = workload
                .observe(&api, &mut ledger, &Rules, &gates)
                .await
                .expect("observe");
            let second = workload
                .observe(&api, &mut ledger, &Rules, &gates)
                .await
                .expect("observe again");
            (first, second)
        };
        let (first, second) = tokio::time::timeout(Duration::from_secs(5), run)
            .await
            .expect("observations finish");
        let mut server = server.await.expect("server");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), server.0.next_request())
                .await
                .is_err(),
            "no request after the second observation"
        );
        assert_eq!(first, second);
        assert_eq!(
            first.routes["worker"].internal,
            ["10.244.1.5", "10.244.2.5"]
        );
        assert_eq!(
            first.routes["worker2"].internal,
            ["10.244.2.5", "unknown:stray"]
        );
        assert_eq!(
            first.notes,
            [
                "traffic from worker2: answered by pods that are no endpoint of the Service: stray",
                "worker2: rules route to [10.244.1.5, 10.244.2.5] but traffic reached [10.244.2.5, unknown:stray]",
            ]
        );
        // Both client pods are in the ledger (cleanup deletes whatever is left).
        assert_eq!(ledger.entries().len(), 3);
    }

    #[tokio::test]
    async fn traffic_is_not_sent_to_hand_written_slices() {
        let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
        let api = ClusterApi::from_client(kube::Client::new(service, "default"), None)
            .with_retry(RetryPolicy::immediate());
        let server = tokio::spawn(async move {
            let mut s = Server(handle);
            s.observe().await;
            s
        });
        let map = NodeMap::new(vec![
            ("worker".into(), "kw".into()),
            ("worker2".into(), "kw2".into()),
        ]);
        let mut workload = Workload::new(NS.into(), map, &shape());
        workload.source = ObserveSource::Traffic;
        let mut model = Service::new(NS, "web");
        model.selector = None;
        workload.service = Some(model);
        let mut ledger = Ledger::new();
        let obs = tokio::time::timeout(
            Duration::from_secs(5),
            workload.observe(&api, &mut ledger, &Rules, &shape().gates()),
        )
        .await
        .expect("observation finishes")
        .expect("observe");
        let mut server = server.await.expect("server");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), server.0.next_request())
                .await
                .is_err(),
            "no client pod"
        );
        assert!(obs.routes.values().all(|r| r.internal.is_empty()));
        assert_eq!(obs.notes.len(), 1);
        assert!(obs.notes[0].contains("written by hand"), "{:?}", obs.notes);
        assert!(ledger.is_empty());
    }
}
