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

use super::pods::PodSet;
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

#[derive(Debug)]
struct SimCluster {
    gates: FeatureGates,
    nodes: Vec<Node>,
    /// The case's Service definition (kept to create the Service after a rejected creation).
    definition: Option<ServiceChange>,
    service: Option<Service>,
    pods: PodSet,
    reconciler: Reconciler,
    controller_slices: Vec<EndpointSlice>,
    hand_slices: Vec<EndpointSlice>,
    /// Events the controller recorded on the Service (identical ones aggregated).
    events: Vec<ServiceEvent>,
}

/// The sim's address of the pod created `ordinal`-th: 10.244.0.2, 10.244.0.3, …
fn sim_pod_ip(ordinal: usize) -> String {
    format!("10.244.{}.{}", ordinal / 250, ordinal % 250 + 2)
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
            pods: PodSet::new(&shape.nodes),
            reconciler,
            controller_slices: Vec::new(),
            hand_slices: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Each pod's name, not-ready and terminating marks, and its node's readiness.
    fn pod_states(&self) -> Vec<(String, bool, bool, bool)> {
        let ready = self.ready_nodes();
        self.pods
            .pods()
            .iter()
            .map(|p| {
                let node_ready = ready.contains(p.node.as_str());
                (p.name.clone(), p.not_ready, p.terminating, node_ready)
            })
            .collect()
    }

    /// The names of the Ready nodes (a pod's readiness looks its node up here).
    fn ready_nodes(&self) -> std::collections::BTreeSet<&str> {
        self.nodes
            .iter()
            .filter(|n| n.ready)
            .map(|n| n.name.as_str())
            .collect()
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

    /// The endpoints the step would leave in force, refused above
    /// [`crate::case::bounds::ENDPOINTS`] before anything is allocated (case files are
    /// checked when loaded; this guards every other caller).
    fn check_endpoint_bound(&self, action: &StepAction) -> Result<(), BackendError> {
        let pods: u128 = match (&action.endpoints, action.scale) {
            (Some(per_node), _) => per_node.values().map(|n| *n as u128).sum(),
            (None, Some(n)) => n as u128,
            (None, None) => self.pods.len() as u128,
        };
        let hand: u128 = match &action.slices {
            Some(slices) => slices.iter().map(|s| s.endpoints.len() as u128).sum(),
            None => self
                .hand_slices
                .iter()
                .map(|s| s.endpoints.len() as u128)
                .sum(),
        };
        let bound = crate::case::bounds::ENDPOINTS;
        if pods + hand > u128::from(bound.max) {
            return Err(BackendError::apply(bound.exceeded(
                &format!("the sim's endpoints after the step ({pods} pods + {hand} hand-written)"),
                pods + hand,
            )));
        }
        Ok(())
    }

    fn apply(&mut self, action: &StepAction) -> Result<Applied, BackendError> {
        self.check_endpoint_bound(action)?;
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

        let pods_before = self.pod_states();
        let old_nodes = self.nodes.clone();
        for (name, change) in &action.nodes {
            self.apply_node(name, change);
        }
        self.pods.apply(action);
        if let Some(slices) = &action.slices {
            let mut ip = 0;
            self.hand_slices = slices.iter().map(|s| self.hand_slice(s, &mut ip)).collect();
        }
        let pods_after = self.pod_states();

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
        let ready_nodes = self.ready_nodes();
        let pods: Vec<Pod> = self
            .pods
            .pods()
            .iter()
            .map(|p| Pod {
                name: p.name.clone(),
                node: Some(p.node.clone()),
                ip: Some(sim_pod_ip(p.ordinal)),
                ready: !p.not_ready && ready_nodes.contains(p.node.as_str()),
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
        for p in sim.cluster.iter().flat_map(|c| c.pods.pods().iter()) {
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
    fn more_endpoints_than_the_bound_are_refused_before_any_pod_is_made() -> Result<(), BackendError>
    {
        let mut sim = SimBackend::new();
        sim.setup(&shape(34))?;
        let bound = crate::case::bounds::ENDPOINTS.max as usize;
        let refused = sim.apply(&StepAction {
            scale: Some(usize::MAX),
            ..create()
        });
        assert!(
            matches!(&refused, Err(BackendError::Apply { context, .. }) if context.contains("100,000 endpoints")),
            "{refused:?}"
        );
        assert!(per_node(&sim).is_empty());
        let split = [("worker".to_string(), bound), ("worker2".to_string(), 1)].into();
        assert!(sim
            .apply(&StepAction {
                endpoints: Some(split),
                ..create()
            })
            .is_err());
        sim.apply(&StepAction {
            scale: Some(bound),
            ..create()
        })?;
        assert_eq!(per_node(&sim).values().sum::<usize>(), bound);
        Ok(())
    }

    #[test]
    fn endpoints_keep_the_oldest_pods_and_mark_the_first() -> Result<(), BackendError> {
        let mut sim = SimBackend::new();
        sim.setup(&shape(34))?;
        let three: BTreeMap<String, usize> =
            [("worker".to_string(), 3), ("worker2".to_string(), 2)].into();
        sim.apply(&StepAction {
            endpoints: Some(three),
            ..create()
        })?;
        let one: BTreeMap<String, usize> =
            [("worker".to_string(), 1), ("worker2".to_string(), 3)].into();
        sim.apply(&StepAction {
            endpoints: Some(one),
            not_ready: [("worker2".to_string(), 2)].into(),
            ..StepAction::default()
        })?;
        let pods: Vec<(String, String, bool)> = sim
            .cluster
            .iter()
            .flat_map(|c| c.pods.pods().iter())
            .map(|p| (p.name.clone(), p.node.clone(), p.not_ready))
            .collect();
        let want = [
            ("web-0000", "worker", false),
            ("web-0003", "worker2", true),
            ("web-0004", "worker2", true),
            ("web-0005", "worker2", false),
        ];
        let want: Vec<(String, String, bool)> = want
            .iter()
            .map(|(p, n, r)| (p.to_string(), n.to_string(), *r))
            .collect();
        assert_eq!(pods, want);
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
