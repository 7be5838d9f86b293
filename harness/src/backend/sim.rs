//! The sim backend: an embedded reference cluster. The model's [`Reconciler`] plays the
//! EndpointSlice controller (keeping its slices and topology cache between steps, as upstream
//! does) and the model's routes play every node's kube-proxy; [`crate::model::admission`] plays
//! the API server.
//! What a step asks for (the Service it builds) comes from [`crate::case::service`], as on
//! every backend: the sim only applies it.
//!
//! Pod placement is exact (the harness pins pods to nodes), pod IPs come from 10.244.0.0/16,
//! hand-written endpoints from 10.250.0.0/16. A NotReady node's pods become not ready (the
//! node lifecycle controller's `MarkPodsNotReady`).

use std::collections::BTreeMap;

use super::{Applied, Backend, BackendError, BackendKind, Observation, ServiceEvent, WaitPolicy};
use crate::case::service::next_service;
use crate::case::{
    ClusterShape, HandSlice, NodeChange, NodeDef, Role, ServiceChange, StepAction, NAMESPACE,
    SERVICE_NAME,
};
use crate::model::admission::admit;
use crate::model::analysis::model_routes;
use crate::model::choice::FirstChoice;
use crate::model::controller::reconciler::{Pod, Reconciler};
use crate::model::controller::topology::{records_events, ControllerEvent};
use crate::model::{
    AddressType, ClusterState, Endpoint, EndpointPort, EndpointSlice, FeatureGates, Hints, Node,
    Service, LABEL_CONTROL_PLANE, LABEL_HOSTNAME, LABEL_REGION, LABEL_ZONE,
};

/// The embedded reference cluster.
#[derive(Debug, Default)]
pub struct SimBackend {
    cluster: Option<SimCluster>,
    controller_under_test: Option<String>,
}

impl SimBackend {
    /// A backend with no cluster yet.
    pub fn new() -> Self {
        SimBackend::default()
    }

    /// `--managed-by NAME`: the EndpointSlice controller under test replaces the sim's, and
    /// the case's hand-written slices of that manager stand for its output (observed as the
    /// controller's, so the model and hint checks judge them).
    pub fn with_controller_under_test(mut self, managed_by: impl Into<String>) -> Self {
        self.controller_under_test = Some(managed_by.into());
        self
    }
}

#[derive(Clone, Debug)]
struct SimPod {
    name: String,
    node: String,
    ip: String,
    not_ready: bool,
    terminating: bool,
}

#[derive(Debug)]
struct SimCluster {
    gates: FeatureGates,
    nodes: Vec<Node>,
    /// The case's Service definition (kept to create the Service after a rejected creation).
    definition: Option<ServiceChange>,
    service: Option<Service>,
    pods: Vec<SimPod>,
    pod_counter: usize,
    reconciler: Reconciler,
    controller_slices: Vec<EndpointSlice>,
    hand_slices: Vec<EndpointSlice>,
    /// Events the controller recorded on the Service (identical ones aggregated).
    events: Vec<ServiceEvent>,
}

fn node_of(def: &NodeDef, shape: &ClusterShape) -> Node {
    let mut labels = def.labels.clone();
    labels.insert(LABEL_HOSTNAME.to_string(), def.name.clone());
    if let Some(zone) = &def.zone {
        labels.insert(LABEL_ZONE.to_string(), zone.clone());
    }
    if let Some(region) = &def.region {
        labels.insert(LABEL_REGION.to_string(), region.clone());
    }
    if def.role == Role::ControlPlane {
        labels.insert(LABEL_CONTROL_PLANE.to_string(), String::new());
    }
    Node {
        name: def.name.clone(),
        labels,
        allocatable_cpu_millis: Some(def.cpu_millis),
        ready: def.ready,
        kubelet_version: Some(shape.version),
    }
}

impl SimCluster {
    fn new(shape: &ClusterShape) -> Self {
        let gates = shape.gates();
        let nodes: Vec<Node> = shape.nodes.iter().map(|n| node_of(n, shape)).collect();
        let reconciler = Reconciler::new(gates.clone(), shape.max_endpoints_per_slice, &nodes);
        SimCluster {
            gates,
            nodes,
            definition: None,
            service: None,
            pods: Vec::new(),
            pod_counter: 0,
            reconciler,
            controller_slices: Vec::new(),
            hand_slices: Vec::new(),
            events: Vec::new(),
        }
    }

    fn node_ready(&self, name: &str) -> bool {
        self.nodes.iter().any(|n| n.name == name && n.ready)
    }

    fn new_pod(&mut self, node: &str) -> SimPod {
        let k = self.pod_counter;
        self.pod_counter += 1;
        SimPod {
            name: format!("{SERVICE_NAME}-{k:04}"),
            node: node.to_string(),
            ip: format!("10.244.{}.{}", k / 250, k % 250 + 2),
            not_ready: false,
            terminating: false,
        }
    }

    fn count_on(&self, node: &str) -> usize {
        self.pods.iter().filter(|p| p.node == node).count()
    }

    /// Sets the pods of `node` to `want`, keeping the oldest.
    fn place(&mut self, node: &str, want: usize) {
        let mut seen = 0;
        self.pods.retain(|p| {
            if p.node != node {
                return true;
            }
            seen += 1;
            seen <= want
        });
        for _ in self.count_on(node)..want {
            let pod = self.new_pod(node);
            self.pods.push(pod);
        }
    }

    fn scale(&mut self, want: usize) {
        let workers: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| !n.is_control_plane())
            .map(|n| n.name.clone())
            .collect();
        while self.pods.len() > want {
            // Remove from the node with the most pods (last in node order on ties).
            let names: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
            let mut best: Option<(usize, String)> = None;
            for name in &names {
                let c = self.count_on(name);
                if c > 0 && best.as_ref().is_none_or(|(b, _)| c >= *b) {
                    best = Some((c, name.clone()));
                }
            }
            let Some((c, name)) = best else { break };
            self.place(&name, c - 1);
        }
        while self.pods.len() < want {
            let mut best: Option<(usize, String)> = None;
            for name in &workers {
                let c = self.count_on(name);
                if best.as_ref().is_none_or(|(b, _)| c < *b) {
                    best = Some((c, name.clone()));
                }
            }
            let Some((_, name)) = best else { break };
            let pod = self.new_pod(&name);
            self.pods.push(pod);
        }
    }

    fn mark(&mut self, counts: &BTreeMap<String, usize>, terminating: bool) {
        for (node, n) in counts {
            for (i, pod) in self.pods.iter_mut().filter(|p| &p.node == node).enumerate() {
                let on = i < *n;
                if terminating {
                    pod.terminating = on;
                } else {
                    pod.not_ready = on;
                }
            }
        }
    }

    fn hand_slice(&self, spec: &HandSlice, first_ip: &mut usize) -> EndpointSlice {
        let endpoints = spec
            .endpoints
            .iter()
            .map(|e| {
                let k = *first_ip;
                *first_ip += 1;
                let zone = self
                    .nodes
                    .iter()
                    .find(|n| n.name == e.node)
                    .and_then(|n| n.zone())
                    .map(str::to_string);
                let hints = match (&e.zone_hints, e.node_hints.is_empty()) {
                    (None, true) => None,
                    (zones, _) => Some(Hints {
                        for_zones: zones.clone().unwrap_or_default(),
                        for_nodes: e.node_hints.clone(),
                    }),
                };
                Endpoint {
                    addresses: vec![format!("10.250.{}.{}", k / 250, k % 250 + 2)],
                    ready: e.ready,
                    serving: e.serving,
                    terminating: e.terminating,
                    node_name: Some(e.node.clone()),
                    zone,
                    hints,
                    topology: BTreeMap::new(),
                    pod: None,
                }
            })
            .collect();
        EndpointSlice {
            namespace: NAMESPACE.to_string(),
            name: spec.name.clone(),
            service_name: Some(SERVICE_NAME.to_string()),
            managed_by: Some(spec.managed_by.clone()),
            address_type: AddressType::IPv4,
            ports: vec![EndpointPort {
                name: Some("http".to_string()),
                port: Some(80),
                protocol: "TCP".to_string(),
            }],
            endpoints,
        }
    }

    fn apply_node(&mut self, name: &str, change: &NodeChange) {
        if let Some(node) = self.nodes.iter_mut().find(|n| n.name == name) {
            if let Some(zone) = &change.zone {
                match zone {
                    Some(z) => node.labels.insert(LABEL_ZONE.to_string(), z.clone()),
                    None => node.labels.remove(LABEL_ZONE),
                };
            }
            if let Some(ready) = change.ready {
                node.ready = ready;
            }
            if let Some(cpu) = change.cpu_millis {
                node.allocatable_cpu_millis = Some(cpu);
            }
        }
    }

    fn apply(&mut self, action: &StepAction) -> Result<Applied, BackendError> {
        // The API server first: a rejected Service rejects the whole step.
        if let Some(definition) = &action.create_service {
            self.definition = Some(definition.clone());
        }
        let mut service_changed = false;
        if action.create_service.is_some() || action.service.is_some() {
            // A Service whose creation was rejected is created by the next change, from its
            // definition plus that change.
            let mut candidate =
                next_service(self.service.as_ref(), self.definition.as_ref(), action);
            if let Err(message) = admit(&mut candidate, &self.gates) {
                return Ok(Applied::Rejected(message));
            }
            self.service = Some(candidate);
            service_changed = true;
        }

        let pods_before: Vec<(String, bool, bool, bool)> = self
            .pods
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    p.not_ready,
                    p.terminating,
                    self.node_ready(&p.node),
                )
            })
            .collect();
        let old_nodes = self.nodes.clone();
        for (name, change) in &action.nodes {
            self.apply_node(name, change);
        }
        if let Some(endpoints) = &action.endpoints {
            let names: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
            for name in names {
                let want = endpoints.get(&name).copied().unwrap_or(0);
                self.place(&name, want);
            }
        }
        if let Some(n) = action.scale {
            self.scale(n);
        }
        self.mark(&action.not_ready, false);
        self.mark(&action.terminating, true);
        if let Some(slices) = &action.slices {
            let mut ip = 0;
            self.hand_slices = slices.iter().map(|s| self.hand_slice(s, &mut ip)).collect();
        }
        let pods_after: Vec<(String, bool, bool, bool)> = self
            .pods
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    p.not_ready,
                    p.terminating,
                    self.node_ready(&p.node),
                )
            })
            .collect();

        // The controller.
        let mut resync = service_changed || pods_before != pods_after;
        let node_trigger = old_nodes.len() != self.nodes.len()
            || old_nodes
                .iter()
                .zip(&self.nodes)
                .any(|(old, new)| self.reconciler.node_update_triggers(old, new));
        if node_trigger {
            let overloaded = self.reconciler.set_nodes(&self.nodes);
            if let Some(service) = &self.service {
                resync |= overloaded.contains(&service.key());
            }
        }
        if resync {
            self.sync();
        }
        Ok(Applied::Ok)
    }

    fn sync(&mut self) {
        let Some(service) = &self.service else {
            self.controller_slices.clear();
            return;
        };
        if service.selector.is_none() {
            self.controller_slices.clear();
            return;
        }
        let pods: Vec<Pod> = self
            .pods
            .iter()
            .map(|p| Pod {
                name: p.name.clone(),
                node: Some(p.node.clone()),
                ip: Some(p.ip.clone()),
                ready: !p.not_ready && self.node_ready(&p.node),
                terminating: p.terminating,
            })
            .collect();
        let result = self.reconciler.sync(
            service,
            &pods,
            &self.controller_slices,
            &self.nodes,
            &mut FirstChoice,
        );
        self.controller_slices = result.slices;
        if records_events(self.gates.version()) {
            for event in result.events {
                record_event(&mut self.events, event);
            }
        }
    }

    fn observe(&self) -> Observation {
        let mut slices = self.controller_slices.clone();
        slices.extend(self.hand_slices.iter().cloned());
        let state = ClusterState {
            nodes: self.nodes.clone(),
            services: self.service.iter().cloned().collect(),
            slices,
        };
        let routes = model_routes(&state, SERVICE_NAME, &self.gates);
        Observation {
            state,
            routes,
            notes: Vec::new(),
            events: Ok(self.events.clone()),
            answers: BTreeMap::new(),
        }
    }
}

/// Records `event` as the API server's event recorder does: an identical one (type, reason,
/// message) already recorded has its count raised.
fn record_event(events: &mut Vec<ServiceEvent>, event: ControllerEvent) {
    match events.iter_mut().find(|e| {
        e.event_type == event.event_type && e.reason == event.reason && e.message == event.message
    }) {
        Some(seen) => seen.count += 1,
        None => events.push(ServiceEvent {
            event_type: event.event_type.to_string(),
            reason: event.reason.to_string(),
            message: event.message,
            count: 1,
        }),
    }
}

impl Backend for SimBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Sim
    }

    fn wait_policy(&self) -> WaitPolicy {
        WaitPolicy {
            deadline: std::time::Duration::from_secs(60),
            stable_window: std::time::Duration::ZERO,
            interval: std::time::Duration::from_secs(1),
            virtual_time: true,
        }
    }

    fn setup(&mut self, shape: &ClusterShape) -> Result<(), BackendError> {
        self.cluster = Some(SimCluster::new(shape));
        Ok(())
    }

    fn apply(&mut self, action: &StepAction) -> Result<Applied, BackendError> {
        match &mut self.cluster {
            Some(c) => c.apply(action),
            None => Err(BackendError::apply("no cluster: setup was not called")),
        }
    }

    fn observe(&mut self) -> Result<Observation, BackendError> {
        match &self.cluster {
            Some(c) => match &self.controller_under_test {
                None => Ok(c.observe()),
                Some(name) => {
                    let mut obs = c.observe();
                    obs.state.slices.retain(|s| !s.is_controller_managed());
                    super::mark_controller_under_test(&mut obs.state, name);
                    obs.routes = model_routes(&obs.state, SERVICE_NAME, &c.gates);
                    Ok(obs)
                }
            },
            None => Err(BackendError::observe("no cluster: setup was not called")),
        }
    }

    fn cleanup(&mut self) -> Result<(), BackendError> {
        self.cluster = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::NodeChange;
    use crate::model::{FeatureGate, KubeVersion};

    fn shape(minor: u32) -> ClusterShape {
        let node = |name: &str, zone: &str, role| NodeDef::new(name, role, Some(zone));
        ClusterShape {
            version: KubeVersion::new(minor),
            proxy_mode: crate::case::ProxyMode::Iptables,
            feature_gates: Vec::new(),
            max_endpoints_per_slice: 100,
            nodes: vec![
                node("control-plane", "a", Role::ControlPlane),
                node("worker", "a", Role::Worker),
                node("worker2", "b", Role::Worker),
            ],
        }
    }

    fn per_node(sim: &SimBackend) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for p in sim.cluster.iter().flat_map(|c| c.pods.iter()) {
            *out.entry(p.node.clone()).or_insert(0) += 1;
        }
        out
    }

    fn create() -> StepAction {
        StepAction {
            create_service: Some(ServiceChange::default()),
            ..StepAction::default()
        }
    }

    #[test]
    fn scale_spreads_over_workers_and_removes_from_the_fullest() -> Result<(), BackendError> {
        let mut sim = SimBackend::new();
        sim.setup(&shape(34))?;
        sim.apply(&StepAction {
            scale: Some(5),
            ..create()
        })?;
        let counts = per_node(&sim);
        assert_eq!(counts.get("worker"), Some(&3));
        assert_eq!(counts.get("worker2"), Some(&2));
        assert_eq!(counts.get("control-plane"), None);
        sim.apply(&StepAction {
            scale: Some(2),
            ..StepAction::default()
        })?;
        let counts = per_node(&sim);
        assert_eq!(
            (counts.get("worker"), counts.get("worker2")),
            (Some(&1), Some(&1))
        );
        Ok(())
    }

    #[test]
    fn a_not_ready_node_makes_its_pods_not_ready() -> Result<(), BackendError> {
        let mut sim = SimBackend::new();
        sim.setup(&shape(34))?;
        let endpoints = [("worker".to_string(), 1), ("worker2".to_string(), 1)].into();
        sim.apply(&StepAction {
            endpoints: Some(endpoints),
            ..create()
        })?;
        let change = NodeChange {
            ready: Some(false),
            ..NodeChange::default()
        };
        sim.apply(&StepAction {
            nodes: vec![("worker2".into(), change)],
            ..StepAction::default()
        })?;
        let obs = sim.observe()?;
        let ready: Vec<(Option<String>, Option<bool>)> = obs
            .state
            .slices
            .iter()
            .flat_map(|s| s.endpoints.iter())
            .map(|e| (e.node_name.clone(), e.ready))
            .collect();
        assert!(
            ready.contains(&(Some("worker2".into()), Some(false))),
            "{ready:?}"
        );
        assert_eq!(obs.routes.get("worker").map(|r| r.internal.len()), Some(1));
        Ok(())
    }

    #[test]
    fn a_rejected_step_changes_nothing() -> Result<(), BackendError> {
        let mut sim = SimBackend::new();
        let mut s = shape(21);
        s.feature_gates = vec![(FeatureGate::ServiceTopology, true)];
        sim.setup(&s)?;
        let endpoints: BTreeMap<String, usize> = [("worker".to_string(), 1)].into();
        sim.apply(&StepAction {
            endpoints: Some(endpoints),
            ..create()
        })?;
        let before = sim.observe()?;
        let bad = ServiceChange {
            topology_keys: Some(vec!["*".into(), "kubernetes.io/hostname".into()]),
            ..ServiceChange::default()
        };
        let more: BTreeMap<String, usize> = [("worker2".to_string(), 3)].into();
        let applied = sim.apply(&StepAction {
            service: Some(bad),
            endpoints: Some(more),
            ..StepAction::default()
        })?;
        assert!(matches!(applied, Applied::Rejected(m) if m.contains("must be the last value")));
        assert_eq!(sim.observe()?, before);
        Ok(())
    }

    #[test]
    fn a_rejected_creation_is_retried_from_the_definition() -> Result<(), BackendError> {
        let mut sim = SimBackend::new();
        let mut s = shape(21);
        s.feature_gates = vec![(FeatureGate::ServiceTopology, true)];
        sim.setup(&s)?;
        let definition = ServiceChange {
            annotations: vec![("example.com/owner".into(), Some("team".into()))],
            topology_keys: Some(vec!["*".into(), "kubernetes.io/hostname".into()]),
            ..ServiceChange::default()
        };
        let first = sim.apply(&StepAction {
            create_service: Some(definition),
            ..StepAction::default()
        })?;
        assert!(matches!(first, Applied::Rejected(_)));
        assert!(sim.observe()?.state.services.is_empty());
        let fix = ServiceChange {
            topology_keys: Some(vec!["kubernetes.io/hostname".into()]),
            ..ServiceChange::default()
        };
        let second = sim.apply(&StepAction {
            service: Some(fix),
            ..StepAction::default()
        })?;
        assert_eq!(second, Applied::Ok);
        let obs = sim.observe()?;
        let annotations = obs.state.services.first().map(|s| s.annotations.clone());
        assert_eq!(
            annotations.and_then(|a| a.get("example.com/owner").cloned()),
            Some("team".to_string())
        );
        Ok(())
    }
}
