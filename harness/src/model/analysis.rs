//! Per-Service verdicts: what the controller should write and what every node routes to.
//!
//! "Should" means what the controller writes when it recomputes every slice of the Service;
//! routes are computed from the hints actually present, as each node's proxy sees them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::model::choice::explore;
use crate::model::controller::topology::{
    allocations, giving_and_receiving, Allocation, HintsDisabledReason, NodeCapacity, Readiness,
};
use crate::model::controller::{choose_heuristic, controller_annotation, ControllerHeuristic};
use crate::model::proxy::{
    categorize, ingest, Categorized, ProxyEndpoint, ProxyNode, ProxyService, RouteBasis,
};
use crate::model::state::{
    AddressType, ClusterState, Endpoint, Environment, Node, Service, ServicePort, ServiceType,
    TrafficDistribution, LABEL_ZONE,
};
use crate::model::version::{FeatureGate, FeatureGates, GateStatus};

/// Which mechanism governs a Service's topology.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heuristic {
    /// The annotation (CPU-proportional hints).
    Auto,
    /// `trafficDistribution: PreferClose`.
    PreferClose,
    /// `trafficDistribution: PreferSameZone`.
    PreferSameZone,
    /// `trafficDistribution: PreferSameNode`.
    PreferSameNode,
    /// `topologyKeys` (1.21 with ServiceTopology).
    TopologyKeys,
    /// Nothing.
    None,
}

impl Heuristic {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Heuristic::Auto => "auto",
            Heuristic::PreferClose => "prefer-close",
            Heuristic::PreferSameZone => "prefer-same-zone",
            Heuristic::PreferSameNode => "prefer-same-node",
            Heuristic::TopologyKeys => "topology-keys",
            Heuristic::None => "none",
        }
    }
}

/// Whether the controller writes hints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HintOutcome {
    /// Hints are written.
    Assigned,
    /// Hints were asked for but a safeguard (or a gate) removes them.
    Removed,
    /// Nothing asks for hints (or the slices are not the controller's).
    None,
}

impl HintOutcome {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            HintOutcome::Assigned => "assigned",
            HintOutcome::Removed => "removed",
            HintOutcome::None => "none",
        }
    }
}

/// Hint counts per zone.
pub type ZoneCounts = BTreeMap<String, usize>;

/// The controller-side verdict for a Service.
#[derive(Clone, Debug, PartialEq)]
pub struct HintVerdict {
    /// Assigned, removed or none.
    pub outcome: HintOutcome,
    /// Why hints are removed or absent (upstream's wording, with numbers); `None` when nothing
    /// asked for hints.
    pub reason: Option<String>,
    /// The reason in plain words, with the figures that decided it.
    pub detail: Option<String>,
    /// Every acceptable allocation of hints per zone (several when upstream's choice depends on
    /// Go map order); empty when no hints should exist.
    pub allocations: Vec<ZoneCounts>,
    /// The `forZones` hints present, per zone; `None` when no endpoint has hints.
    pub observed: Option<ZoneCounts>,
    /// Whether `observed` is acceptable; `None` for a Service without a selector.
    pub agrees: Option<bool>,
    /// For Auto: the per-zone allocation figures (minimum, maximum, desired).
    pub figures: Option<BTreeMap<String, Allocation>>,
    /// For Auto: the ready endpoints counted.
    pub counted_endpoints: Option<usize>,
    /// Whether the controller keeps the observed hints on its next sync even though a fresh
    /// computation could differ: upstream keeps valid hints on unchanged slices, so after
    /// incremental changes a converged cluster may legitimately hold such hints.
    pub kept: bool,
}

impl HintVerdict {
    /// Whether the observed hints are acceptable for a converged cluster: a fresh allocation,
    /// or hints the controller keeps. Services without a selector are not judged.
    pub fn acceptable(&self) -> bool {
        self.agrees.is_none_or(|a| a || self.kept)
    }
}

/// A group of nodes whose proxies program the same endpoints for one Service port.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteGroup {
    /// The port's name, or its number when unnamed.
    pub port: String,
    /// The nodes, in input order, as indices into [`Analysis::node_names`].
    pub nodes: NodeIndices,
    /// Addresses for cluster traffic, sorted; `None` when unused.
    pub cluster: Option<Vec<String>>,
    /// Addresses for node-local traffic, sorted; `None` when unused.
    pub local: Option<Vec<String>>,
    /// Why (of the set the Service's internal traffic uses).
    pub basis: RouteBasis,
}

/// The full verdict for one Service.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceAnalysis {
    /// `namespace/name`.
    pub service: String,
    /// The governing mechanism.
    pub heuristic: Heuristic,
    /// Controller side.
    pub hints: HintVerdict,
    /// Proxy side, per port and node group.
    pub routes: Vec<RouteGroup>,
    /// Problems with the Service itself (e.g. rejected topologyKeys).
    pub warnings: Vec<String>,
}

/// The analysis of a whole state.
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    /// The environment used.
    pub environment: Environment,
    /// Gates turned on because the input shows their feature in use.
    pub inferred_gates: Vec<FeatureGate>,
    /// Node CPU capacity as the topology cache sees it.
    pub capacity: NodeCapacity,
    /// One entry per Service, sorted by `ns/name`.
    pub services: Vec<ServiceAnalysis>,
    /// The node names, in input order: what [`RouteGroup::nodes`] indexes.
    pub node_names: Vec<String>,
    /// Problems with the input as a whole, e.g. an EndpointSlice no Service owns.
    pub warnings: Vec<String>,
}

impl Analysis {
    /// The names of a route group's nodes, in input order.
    pub fn group_node_names<'a>(&'a self, group: &'a RouteGroup) -> impl Iterator<Item = &'a str> {
        group
            .nodes
            .iter()
            .filter_map(|&i| self.node_names.get(i as usize).map(String::as_str))
    }
}

/// Turns on gates that are off by default when the state shows their feature in use (the API
/// server drops those fields when the gate is off). Explicitly set gates are left alone.
pub fn infer_gates(state: &ClusterState, gates: &mut FeatureGates) -> Vec<FeatureGate> {
    let minor = gates.version().minor;
    let mut evidence: BTreeSet<FeatureGate> = BTreeSet::new();
    let any_hints = state
        .slices
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .any(|e| e.hints.is_some());
    let any_node_hints = state
        .slices
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .any(|e| e.hints.as_ref().is_some_and(|h| !h.for_nodes.is_empty()));
    if any_hints
        || state.services.iter().any(|s| {
            matches!(
                controller_annotation(&s.annotations, gates),
                Some((_, "Auto" | "auto"))
            )
        })
    {
        evidence.insert(FeatureGate::TopologyAwareHints);
    }
    if state.services.iter().any(|s| !s.topology_keys.is_empty()) {
        evidence.insert(FeatureGate::ServiceTopology);
    }
    if minor == 21
        && state
            .services
            .iter()
            .any(|s| s.internal_traffic_policy == crate::model::state::TrafficPolicy::Local)
    {
        evidence.insert(FeatureGate::ServiceInternalTrafficPolicy);
    }
    if state
        .services
        .iter()
        .any(|s| s.traffic_distribution.is_some())
    {
        evidence.insert(FeatureGate::ServiceTrafficDistribution);
    }
    if any_node_hints
        || state.services.iter().any(|s| {
            s.traffic_distribution
                .as_ref()
                .is_some_and(TrafficDistribution::is_prefer_same)
        })
    {
        evidence.insert(FeatureGate::PreferSameTrafficDistribution);
    }
    let mut inferred = Vec::new();
    for gate in evidence {
        if gates.is_overridden(gate) || gates.enabled(gate) {
            continue;
        }
        if gate.status(gates.version()) == GateStatus::Default(false)
            && gates.set(gate, true).is_ok()
        {
            inferred.push(gate);
        }
    }
    inferred
}

/// Analyses every Service of `state` under `env`.
pub fn analyse(
    state: &ClusterState,
    env: &Environment,
    inferred_gates: Vec<FeatureGate>,
) -> Analysis {
    let capacity = crate::model::controller::topology::set_nodes(&state.nodes, env.version());
    let classes = NodeClasses::new(&state.nodes);
    let mut services: Vec<ServiceAnalysis> = state
        .services
        .iter()
        .map(|service| analyse_service_with(&classes, state, service, env, &capacity))
        .collect();
    services.sort_by(|a, b| a.service.cmp(&b.service));
    Analysis {
        environment: env.clone(),
        inferred_gates,
        capacity,
        services,
        node_names: state.nodes.iter().map(|n| n.name.clone()).collect(),
        warnings: orphan_slices(state),
    }
}

/// EndpointSlices that no Service in the state owns: without the service-name label, or
/// naming a Service that is not there. The model ignores them; the user should know.
pub fn orphan_slices(state: &ClusterState) -> Vec<String> {
    let services: std::collections::HashSet<(&str, &str)> = state
        .services
        .iter()
        .map(|s| (s.namespace.as_str(), s.name.as_str()))
        .collect();
    let mut warnings = Vec::new();
    for slice in &state.slices {
        let key = format!("{}/{}", slice.namespace, slice.name);
        match slice.service_name.as_deref() {
            None => warnings.push(format!(
                "EndpointSlice {key} has no kubernetes.io/service-name label: no Service uses it, so it is ignored"
            )),
            Some(name) if !services.contains(&(slice.namespace.as_str(), name)) => {
                warnings.push(format!(
                    "EndpointSlice {key} belongs to Service {}/{name}, which is not in the input: it is ignored",
                    slice.namespace
                ));
            }
            Some(_) => {}
        }
    }
    warnings
}

fn topology_keys_active(service: &Service, gates: &FeatureGates) -> bool {
    gates.version().minor <= 21
        && gates.enabled(FeatureGate::ServiceTopology)
        && !service.topology_keys.is_empty()
}

/// The verdict for one Service.
pub fn analyse_service(
    state: &ClusterState,
    service: &Service,
    env: &Environment,
    capacity: &NodeCapacity,
) -> ServiceAnalysis {
    analyse_service_with(
        &NodeClasses::new(&state.nodes),
        state,
        service,
        env,
        capacity,
    )
}

/// [`analyse_service`] with the nodes already grouped (once for all Services).
pub fn analyse_service_with(
    classes: &NodeClasses<'_>,
    state: &ClusterState,
    service: &Service,
    env: &Environment,
    capacity: &NodeCapacity,
) -> ServiceAnalysis {
    let gates = &env.gates;
    let mut warnings = Vec::new();
    if !service.topology_keys.is_empty() {
        if gates.version().minor > 21 {
            warnings.push(format!(
                "spec.topologyKeys was removed in 1.22; Kubernetes {} ignores it",
                gates.version()
            ));
        } else if let Err(e) = crate::model::admission::validate_topology_keys(
            &service.topology_keys,
            service.external_traffic_policy,
        ) {
            warnings.push(format!("the API server rejects this Service: {e}"));
        }
    }
    let controller_heuristic = choose_heuristic(
        &service.annotations,
        service.traffic_distribution.as_ref(),
        gates,
    );
    let heuristic = if topology_keys_active(service, gates) {
        Heuristic::TopologyKeys
    } else {
        match &controller_heuristic {
            ControllerHeuristic::Auto => Heuristic::Auto,
            ControllerHeuristic::TrafficDistribution { value, node_hints } => {
                if *node_hints {
                    Heuristic::PreferSameNode
                } else if *value == Some(TrafficDistribution::PreferSameZone) {
                    Heuristic::PreferSameZone
                } else {
                    Heuristic::PreferClose
                }
            }
            ControllerHeuristic::None { .. } => Heuristic::None,
        }
    };
    let hints = hint_verdict(state, service, gates, capacity, &controller_heuristic);
    let routes = if service.is_proxied() {
        route_groups(classes, state, service, gates)
    } else {
        Vec::new()
    };
    ServiceAnalysis {
        service: service.key(),
        heuristic,
        hints,
        routes,
        warnings,
    }
}

/// The slices the EndpointSlice controller writes for `service` (its own, or unlabeled ones).
/// A Service without a selector has no controller slices: all of its slices count.
fn controller_slices<'a>(
    state: &'a ClusterState,
    service: &'a Service,
) -> impl Iterator<Item = &'a crate::model::state::EndpointSlice> {
    let selector = service.selector.is_some();
    state
        .slices_of(service)
        .filter(move |s| !selector || s.is_controller_managed() || s.managed_by.is_none())
}

/// Observed `forZones` hint counts of the Service's slices (the controller's own slices for a
/// Service with a selector: hand-written slices under another `managed-by` are not its output);
/// `None` when no endpoint has hints.
pub fn observed_hints(state: &ClusterState, service: &Service) -> Option<ZoneCounts> {
    let mut any = false;
    let mut counts = ZoneCounts::new();
    for slice in controller_slices(state, service) {
        for endpoint in &slice.endpoints {
            if let Some(h) = &endpoint.hints {
                any = true;
                for zone in &h.for_zones {
                    *counts.entry(zone.clone()).or_insert(0) += 1;
                }
            }
        }
    }
    any.then_some(counts)
}

fn hint_verdict(
    state: &ClusterState,
    service: &Service,
    gates: &FeatureGates,
    capacity: &NodeCapacity,
    heuristic: &ControllerHeuristic,
) -> HintVerdict {
    let observed = observed_hints(state, service);
    let verdict =
        |outcome, reason: Option<String>, detail: Option<String>, allocations| HintVerdict {
            outcome,
            reason,
            detail,
            allocations,
            observed: observed.clone(),
            agrees: None,
            figures: None,
            counted_endpoints: None,
            kept: false,
        };
    if service.selector.is_none() || service.service_type == ServiceType::ExternalName {
        let why = if service.service_type == ServiceType::ExternalName {
            "an ExternalName Service has no endpoints"
        } else {
            "the Service has no selector: its EndpointSlices are written by hand or by another controller"
        };
        return verdict(HintOutcome::None, None, Some(why.to_string()), Vec::new());
    }
    // The controller's view: endpoints of its own slices, per address type.
    let endpoints: Vec<&Endpoint> = controller_slices(state, service)
        .filter(|s| s.address_type != AddressType::Fqdn)
        .flat_map(|s| s.endpoints.iter())
        .collect();
    // Both heuristics leave the hints of endpoints they do not count (unready ones) untouched.
    let readiness = Readiness::for_version(gates.version());
    let untouched = untouched_hints(&endpoints, |e| match heuristic {
        ControllerHeuristic::Auto => readiness.counts(e),
        _ => e.controller_ready(),
    });
    let mut result = match heuristic {
        ControllerHeuristic::Auto => {
            // Upstream allocates per address type: a dual-stack Service gets one allocation
            // for its IPv4 slices and one for its IPv6 slices.
            let mut per_type: Vec<HintVerdict> = [AddressType::IPv4, AddressType::IPv6]
                .into_iter()
                .filter_map(|t| {
                    let of_type: Vec<&Endpoint> = controller_slices(state, service)
                        .filter(|s| s.address_type == t)
                        .flat_map(|s| s.endpoints.iter())
                        .collect();
                    (!of_type.is_empty())
                        .then(|| auto_verdict(&of_type, gates, capacity, observed.clone()))
                })
                .collect();
            match per_type.len() {
                0 => auto_verdict(&[], gates, capacity, observed.clone()),
                1 => per_type.remove(0),
                _ => combine_address_types(per_type),
            }
        }
        ControllerHeuristic::TrafficDistribution { .. } => {
            let version = gates.version();
            let mut counts = ZoneCounts::new();
            for e in endpoints.iter().filter(|e| e.controller_ready()) {
                match e.zone.as_deref() {
                    Some(z) => *counts.entry(z.to_string()).or_insert(0) += 1,
                    None if version.minor < 33 => *counts.entry(String::new()).or_insert(0) += 1,
                    None => {}
                }
            }
            verdict(HintOutcome::Assigned, None, None, vec![counts])
        }
        ControllerHeuristic::None { why } => {
            let text = why.to_string();
            if why.asks_for_hints() {
                verdict(
                    HintOutcome::Removed,
                    Some(text.clone()),
                    Some(text),
                    Vec::new(),
                )
            } else {
                verdict(HintOutcome::None, None, Some(text), Vec::new())
            }
        }
    };
    if result.outcome == HintOutcome::Assigned && !untouched.is_empty() {
        for allocation in &mut result.allocations {
            for (zone, n) in &untouched {
                *allocation.entry(zone.clone()).or_insert(0) += n;
            }
        }
    }
    result.agrees = Some(match (&result.observed, result.outcome) {
        (None, HintOutcome::Assigned) => result
            .allocations
            .iter()
            .all(|a| a.values().all(|n| *n == 0)),
        (None, _) => true,
        (Some(obs), HintOutcome::Assigned) => {
            let obs = without_zeros(obs);
            result.allocations.iter().any(|a| without_zeros(a) == obs)
        }
        (Some(_), _) => false,
    });
    result
}

/// One verdict for a dual-stack Service from its per-address-type verdicts: hints exist where
/// any type gets them, and the acceptable counts add up across types.
fn combine_address_types(verdicts: Vec<HintVerdict>) -> HintVerdict {
    let assigned: Vec<&HintVerdict> = verdicts
        .iter()
        .filter(|v| v.outcome == HintOutcome::Assigned)
        .collect();
    let mut combined = verdicts[0].clone();
    if assigned.is_empty() {
        return combined;
    }
    let mut allocations: Vec<ZoneCounts> = vec![ZoneCounts::new()];
    for verdict in &assigned {
        let mut next = Vec::new();
        for base in &allocations {
            for add in &verdict.allocations {
                let mut sum = base.clone();
                for (zone, n) in add {
                    *sum.entry(zone.clone()).or_insert(0) += n;
                }
                if !next.contains(&sum) {
                    next.push(sum);
                }
            }
        }
        allocations = next;
    }
    allocations.sort();
    combined.outcome = HintOutcome::Assigned;
    combined.allocations = allocations;
    combined.reason = None;
    combined.kept = verdicts
        .iter()
        .all(|v| v.kept || v.outcome != HintOutcome::Assigned);
    let removed: Vec<String> = verdicts
        .iter()
        .filter(|v| v.outcome != HintOutcome::Assigned)
        .filter_map(|v| v.reason.clone())
        .collect();
    combined.detail = (!removed.is_empty())
        .then(|| format!("one address type gets no hints: {}", removed.join("; ")));
    combined.counted_endpoints = Some(verdicts.iter().filter_map(|v| v.counted_endpoints).sum());
    combined.figures = None;
    combined
}

/// The `forZones` hints of endpoints a heuristic does not touch.
fn untouched_hints(endpoints: &[&Endpoint], counted: impl Fn(&Endpoint) -> bool) -> ZoneCounts {
    let mut counts = ZoneCounts::new();
    for e in endpoints.iter().filter(|e| !counted(e)) {
        for zone in e.hints.iter().flat_map(|h| h.for_zones.iter()) {
            *counts.entry(zone.clone()).or_insert(0) += 1;
        }
    }
    counts
}

fn without_zeros(counts: &ZoneCounts) -> ZoneCounts {
    counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(z, n)| (z.clone(), *n))
        .collect()
}

fn auto_verdict(
    endpoints: &[&Endpoint],
    gates: &FeatureGates,
    capacity: &NodeCapacity,
    observed: Option<ZoneCounts>,
) -> HintVerdict {
    let readiness = Readiness::for_version(gates.version());
    let counted: Vec<&&Endpoint> = endpoints.iter().filter(|e| readiness.counts(e)).collect();
    let n = counted.len();
    let base = |outcome, reason: Option<HintsDisabledReason>, detail: Option<String>, allocs| {
        HintVerdict {
            outcome,
            reason: reason.map(|r| r.message()),
            detail,
            allocations: allocs,
            observed: observed.clone(),
            agrees: None,
            figures: None,
            counted_endpoints: Some(n),
            kept: false,
        }
    };
    let allocs = match allocations(capacity.ratios.as_ref(), n) {
        Ok(a) => a,
        Err(reason) => {
            let detail = explain_safeguard(&reason, capacity, n);
            return base(HintOutcome::Removed, Some(reason), Some(detail), Vec::new());
        }
    };
    let kept = hints_kept(&counted, &allocs);
    let base = |outcome, reason, detail, allocs| HintVerdict {
        kept,
        ..base(outcome, reason, detail, allocs)
    };
    let mut seeded: BTreeMap<String, i64> = BTreeMap::new();
    for e in &counted {
        match e.zone() {
            Some(z) => *seeded.entry(z.to_string()).or_insert(0) += 1,
            None => {
                let reason = HintsDisabledReason::NoZoneSpecified;
                let detail = format!(
                    "endpoint {} has no zone, so the controller removes every hint",
                    e.addresses.first().map(String::as_str).unwrap_or("?")
                );
                let mut v = base(HintOutcome::Removed, Some(reason), Some(detail), Vec::new());
                v.figures = Some(allocs);
                return v;
            }
        }
    }
    // Every tie-break of Go's map order, then the resulting counts (all giving endpoints are
    // writable when every slice is recomputed, so counts do not depend on which one moves).
    let (outcomes, _) = explore(|c| giving_and_receiving(&allocs, &seeded, c), 10_000);
    let mut results: Vec<ZoneCounts> = Vec::new();
    for (giving, receiving) in outcomes {
        let mut counts = seeded.clone();
        for (z, g) in giving {
            *counts.entry(z).or_insert(0) -= g as i64;
        }
        for (z, r) in receiving {
            *counts.entry(z).or_insert(0) += r as i64;
        }
        let counts: ZoneCounts = counts
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(z, n)| (z, n as usize))
            .collect();
        if !results.contains(&counts) {
            results.push(counts);
        }
    }
    if results.iter().all(|r| r.is_empty()) {
        let reason = HintsDisabledReason::NoAllocatedHintsForZones;
        return base(
            HintOutcome::Removed,
            Some(reason.clone()),
            Some(reason.message()),
            Vec::new(),
        );
    }
    results.sort();
    let mut v = base(HintOutcome::Assigned, None, None, results);
    v.figures = Some(allocs);
    v
}

/// Whether upstream keeps the present hints on its next sync: every slice is valid as an
/// unchanged slice (`getHintsByZone`). Such a state may even be "overloaded" by the node-change
/// check's standard: that check only runs when nodes change, so the state holds until then.
fn hints_kept(counted: &[&&Endpoint], allocations: &BTreeMap<String, Allocation>) -> bool {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for endpoint in counted {
        let Some(hints) = endpoint.hints.as_ref().filter(|h| !h.for_zones.is_empty()) else {
            return false;
        };
        for zone in &hints.for_zones {
            if !allocations.contains_key(zone) {
                return false;
            }
            *counts.entry(zone.clone()).or_insert(0) += 1;
        }
    }
    counts
        .iter()
        .all(|(zone, n)| allocations.get(zone).is_some_and(|a| *n <= a.maximum))
}

/// The safeguard in plain words, with the figures that decided it.
pub fn explain_safeguard(
    reason: &HintsDisabledReason,
    capacity: &NodeCapacity,
    n: usize,
) -> String {
    match reason {
        HintsDisabledReason::InsufficientNodeInfo => match &capacity.insufficient_node {
            Some(node) => format!(
                "node {node} has no zone label or no allocatable CPU, so no zone ratios exist"
            ),
            None => "fewer than two zones have ready, non-control-plane nodes with allocatable CPU"
                .to_string(),
        },
        HintsDisabledReason::NodesReadyInOneZoneOnly => {
            "ready nodes exist in one zone only".to_string()
        }
        HintsDisabledReason::InsufficientNumberOfEndpoints { endpoints, zones } => format!(
            "{endpoints} ready endpoint(s) for {zones} zones: every zone needs at least one"
        ),
        HintsDisabledReason::MinAllocationExceedsOverloadThreshold { endpoints, zones } => {
            let mut parts = Vec::new();
            let mut total = 0;
            if let Some(ratios) = &capacity.ratios {
                for (zone, ratio) in ratios {
                    let minimum =
                        (ratio * n as f64 * crate::model::controller::topology::MINIMUM_FACTOR)
                            .ceil() as usize;
                    total += minimum;
                    parts.push(format!(
                        "zone {zone} needs at least {minimum} of {n} endpoints ({:.1}% of CPU)",
                        ratio * 100.0
                    ));
                }
            }
            format!(
                "{}; together {total} > {endpoints} endpoints across {zones} zones; overload threshold 20%",
                parts.join(", ")
            )
        }
        other => other.message(),
    }
}

/// Node indices (into [`Analysis::node_names`], in input order), shared: every route group
/// that holds exactly one zone's nodes points at the same list.
pub type NodeIndices = Arc<[u32]>;

/// The nodes grouped once per analysis: by zone, the only node property the proxy reads when
/// a Service has no `topologyKeys` (node names matter only for node-local endpoints and node
/// hints, which are few: at most one node per endpoint).
#[derive(Debug)]
pub struct NodeClasses<'s> {
    nodes: &'s [Node],
    index: HashMap<&'s str, u32>,
    /// The zone class of each node.
    class_of: Vec<u32>,
    /// Each zone's nodes, in input order; classes numbered by their first node.
    classes: Vec<NodeIndices>,
}

impl<'s> NodeClasses<'s> {
    /// Groups `nodes` by zone label.
    pub fn new(nodes: &'s [Node]) -> Self {
        let mut by_zone: HashMap<&str, u32> = HashMap::new();
        let mut members: Vec<Vec<u32>> = Vec::new();
        let mut class_of = Vec::with_capacity(nodes.len());
        let mut index = HashMap::with_capacity(nodes.len());
        for (i, node) in nodes.iter().enumerate() {
            let i = node_index(i);
            // Names are unique in a loaded state; keep the first if a caller repeats one.
            index.entry(node.name.as_str()).or_insert(i);
            let zone = node.labels.get(LABEL_ZONE).map_or("", String::as_str);
            let next = u32::try_from(members.len()).unwrap_or(u32::MAX);
            let class = *by_zone.entry(zone).or_insert(next);
            if class == next {
                members.push(Vec::new());
            }
            members[class as usize].push(i);
            class_of.push(class);
        }
        NodeClasses {
            nodes,
            index,
            class_of,
            classes: members.into_iter().map(Arc::from).collect(),
        }
    }
}

fn node_index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// Nodes that get one routing computation: a zone's nodes minus the special ones, or one
/// special node (node-local endpoints, node hints naming it, or `topologyKeys` labels).
struct Unit {
    /// The first node, which orders the groups as a walk over the nodes in input order would.
    first: u32,
    /// The whole zone class (shared list), or these nodes.
    nodes: UnitNodes,
}

enum UnitNodes {
    Class(u32),
    Some(Vec<u32>),
}

fn route_groups(
    classes: &NodeClasses<'_>,
    state: &ClusterState,
    service: &Service,
    gates: &FeatureGates,
) -> Vec<RouteGroup> {
    let mut groups = Vec::new();
    for port in &service.ports {
        let port_label = if port.name.is_empty() {
            port.port.to_string()
        } else {
            port.name.clone()
        };
        let view = ProxyService::of(service, port, gates);
        // Ingest once; locality is per node. Nodes that see the same inputs (zone, topology
        // labels, local endpoints when locality matters, node hints naming them) share one
        // computation, so thousands of nodes cost a handful of evaluations.
        let mut endpoints = ingest(state, service, port, "", gates);
        let uses_locality = view.internal_local || view.external_local;
        // Special nodes, by index: their local endpoints (when locality matters) and whether
        // a node hint names them.
        let mut special: BTreeMap<u32, (Vec<usize>, bool)> = BTreeMap::new();
        for (i, e) in endpoints.iter().enumerate() {
            if uses_locality {
                if let Some(&n) = e.node_name.as_deref().and_then(|n| classes.index.get(n)) {
                    special.entry(n).or_default().0.push(i);
                }
            }
            for hinted in &e.node_hints {
                if let Some(&n) = classes.index.get(hinted.as_str()) {
                    special.entry(n).or_default().1 = true;
                }
            }
        }
        let units = if view.topology_keys.is_empty() {
            zone_units(classes, &special)
        } else {
            // topologyKeys (1.21 only) read any label: one unit per node, merged below.
            (0..node_index(classes.nodes.len()))
                .map(|n| Unit {
                    first: n,
                    nodes: UnitNodes::Some(vec![n]),
                })
                .collect()
        };
        // (result, units) per distinct result, in the order a walk over the nodes finds them.
        let mut by_result: Vec<(Categorized, Vec<Unit>)> = Vec::new();
        let mut cache: HashMap<NodeSignature<'_>, usize> = HashMap::new();
        for unit in units {
            let first = &classes.nodes[unit.first as usize];
            let (local, hinted) = special
                .get(&unit.first)
                .map_or((&[][..], false), |(l, h)| (l.as_slice(), *h));
            let signature = NodeSignature {
                zone: first.labels.get(LABEL_ZONE).map_or("", String::as_str),
                labels_for_keys: view
                    .topology_keys
                    .iter()
                    .map(|k| first.labels.get(k).map(String::as_str))
                    .collect(),
                name_if_special: ((first.labels.is_empty() && !view.topology_keys.is_empty())
                    || hinted)
                    .then_some(first.name.as_str()),
                local,
            };
            if let Some(&index) = cache.get(&signature) {
                by_result[index].1.push(unit);
                continue;
            }
            for &i in local {
                endpoints[i].is_local = true;
            }
            let proxy_node = ProxyNode {
                name: first.name.clone(),
                labels: first.labels.clone(),
            };
            let result = categorize(&endpoints, &view, &proxy_node, gates);
            for &i in local {
                endpoints[i].is_local = false;
            }
            let index = match by_result.iter().position(|(r, _)| same_routes(r, &result)) {
                Some(index) => {
                    by_result[index].1.push(unit);
                    index
                }
                None => {
                    by_result.push((result, vec![unit]));
                    by_result.len() - 1
                }
            };
            cache.insert(signature, index);
        }
        by_result.sort_by_key(|(_, units)| units.iter().map(|u| u.first).min());
        for (result, units) in by_result {
            groups.push(route_group(
                &port_label,
                result,
                group_nodes(classes, units),
            ));
        }
    }
    groups
}

/// A node's proxy view signature: nodes with equal signatures get equal routes.
#[derive(Clone, PartialEq, Eq, Hash)]
struct NodeSignature<'a> {
    zone: &'a str,
    labels_for_keys: Vec<Option<&'a str>>,
    local: &'a [usize],
    name_if_special: Option<&'a str>,
}

/// One unit per zone (its nodes that are not special) and one per special node, ordered by
/// first node.
fn zone_units(classes: &NodeClasses<'_>, special: &BTreeMap<u32, (Vec<usize>, bool)>) -> Vec<Unit> {
    let mut touched: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for &n in special.keys() {
        touched
            .entry(classes.class_of[n as usize])
            .or_default()
            .push(n);
    }
    let mut units: Vec<Unit> = special
        .keys()
        .map(|&n| Unit {
            first: n,
            nodes: UnitNodes::Some(vec![n]),
        })
        .collect();
    for (c, members) in classes.classes.iter().enumerate() {
        let c = node_index(c);
        match touched.get(&c) {
            None => units.push(Unit {
                first: members[0],
                nodes: UnitNodes::Class(c),
            }),
            Some(removed) => {
                // Both lists are in input order: one merge pass.
                let mut rest = Vec::with_capacity(members.len() - removed.len());
                let mut removed = removed.iter().peekable();
                for &n in members.iter() {
                    if removed.peek() == Some(&&n) {
                        removed.next();
                    } else {
                        rest.push(n);
                    }
                }
                if let Some(&first) = rest.first() {
                    units.push(Unit {
                        first,
                        nodes: UnitNodes::Some(rest),
                    });
                }
            }
        }
    }
    units.sort_by_key(|u| u.first);
    units
}

/// The nodes of a group in input order; a group that is one whole zone shares its list.
fn group_nodes(classes: &NodeClasses<'_>, mut units: Vec<Unit>) -> NodeIndices {
    if let [Unit {
        nodes: UnitNodes::Class(c),
        ..
    }] = units.as_slice()
    {
        return classes.classes[*c as usize].clone();
    }
    let mut nodes: Vec<u32> = Vec::new();
    units.sort_by_key(|u| u.first);
    for unit in &units {
        match &unit.nodes {
            UnitNodes::Class(c) => nodes.extend_from_slice(&classes.classes[*c as usize]),
            UnitNodes::Some(list) => nodes.extend_from_slice(list),
        }
    }
    nodes.sort_unstable();
    Arc::from(nodes)
}

fn addresses(set: &Option<Vec<ProxyEndpoint>>) -> Option<Vec<String>> {
    set.as_ref().map(|s| {
        let mut v: Vec<String> = s.iter().map(|e| e.ip.clone()).collect();
        v.sort();
        v
    })
}

fn same_routes(a: &Categorized, b: &Categorized) -> bool {
    addresses(&a.cluster) == addresses(&b.cluster)
        && addresses(&a.local) == addresses(&b.local)
        && a.cluster_basis == b.cluster_basis
        && a.local_basis == b.local_basis
}

fn route_group(port: &str, result: Categorized, nodes: NodeIndices) -> RouteGroup {
    let cluster = addresses(&result.cluster);
    let local = addresses(&result.local);
    let (chosen, basis) = if cluster.is_some() {
        (cluster.as_ref(), result.cluster_basis.clone())
    } else {
        (local.as_ref(), result.local_basis.clone())
    };
    let basis = if chosen.is_none_or(|c| c.is_empty()) {
        RouteBasis::None
    } else {
        basis
    };
    RouteGroup {
        port: port.to_string(),
        nodes,
        cluster,
        local,
        basis,
    }
}

/// What one node's proxy programs for a Service, as addresses: what the sim backend reports
/// and what the checks compare observed routes with.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NodeRoutes {
    /// Endpoints that internal (ClusterIP) traffic from this node reaches.
    pub internal: Vec<String>,
    /// Endpoints that external (NodePort) traffic arriving at this node reaches; `None` when
    /// the Service is not externally accessible.
    pub external: Option<Vec<String>>,
}

/// What every node's kube-proxy programs for the Service named `service_name` (its first
/// port), by the model: internal
/// traffic uses the local set when `internalTrafficPolicy: Local` is in force, else the
/// cluster set; external traffic the local set when `externalTrafficPolicy: Local`.
pub(crate) fn model_routes(
    state: &ClusterState,
    service_name: &str,
    gates: &FeatureGates,
) -> BTreeMap<String, NodeRoutes> {
    let service = state.services.iter().find(|s| s.name == service_name);
    let mut routes = BTreeMap::new();
    for node in &state.nodes {
        let entry = match service {
            Some(service) if service.is_proxied() => match service.ports.first() {
                Some(port) => {
                    let c = node_routes(state, service, port, &node.name, gates);
                    let view = ProxyService::of(service, port, gates);
                    let ips = |set: &Option<Vec<ProxyEndpoint>>| {
                        let mut v: Vec<String> =
                            set.iter().flatten().map(|e| e.ip.clone()).collect();
                        v.sort();
                        v
                    };
                    NodeRoutes {
                        internal: if view.internal_local {
                            ips(&c.local)
                        } else {
                            ips(&c.cluster)
                        },
                        external: view.externally_accessible.then(|| {
                            if view.external_local {
                                ips(&c.local)
                            } else {
                                ips(&c.cluster_path().cloned())
                            }
                        }),
                    }
                }
                None => NodeRoutes::default(),
            },
            _ => NodeRoutes::default(),
        };
        routes.insert(node.name.clone(), entry);
    }
    routes
}

/// The routes of one node for one Service port (for checks and the sim backend).
pub fn node_routes(
    state: &ClusterState,
    service: &Service,
    port: &ServicePort,
    node: &str,
    gates: &FeatureGates,
) -> Categorized {
    let endpoints = ingest(state, service, port, node, gates);
    let labels = state
        .node(node)
        .map(|n| n.labels.clone())
        .unwrap_or_default();
    categorize(
        &endpoints,
        &ProxyService::of(service, port, gates),
        &ProxyNode {
            name: node.to_string(),
            labels,
        },
        gates,
    )
}
