//! Per-Service verdicts: what the controller should write and what every node routes to.
//!
//! "Should" means what the controller writes when it recomputes every slice of the Service;
//! routes are computed from the hints actually present, as each node's proxy sees them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::model::choice::explore;
use crate::model::controller::topology::{
    allocations, giving_and_receiving, Allocation, HintsDisabledReason, NodeCapacity, Readiness,
};
use crate::model::controller::{choose_heuristic, controller_annotation, ControllerHeuristic};
use crate::model::proxy::{
    categorize, ingest, Categorized, ProxyEndpoint, ProxyNode, ProxyService, RouteBasis,
};
use crate::model::state::{
    AddressType, ClusterState, Endpoint, Environment, Service, ServicePort, ServiceType,
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
    /// The nodes, in input order.
    pub nodes: Vec<String>,
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
    let mut services: Vec<ServiceAnalysis> = state
        .services
        .iter()
        .map(|service| analyse_service(state, service, env, &capacity))
        .collect();
    services.sort_by(|a, b| a.service.cmp(&b.service));
    Analysis {
        environment: env.clone(),
        inferred_gates,
        capacity,
        services,
    }
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
        route_groups(state, service, gates)
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

/// A node's proxy view signature: nodes with equal signatures get equal routes.
#[derive(Clone, PartialEq, Eq, Hash)]
struct NodeSignature {
    zone: String,
    labels_for_keys: Vec<Option<String>>,
    local: Vec<usize>,
    name_if_special: Option<String>,
}

fn route_groups(state: &ClusterState, service: &Service, gates: &FeatureGates) -> Vec<RouteGroup> {
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
        let mut local_by_node: HashMap<String, Vec<usize>> = HashMap::new();
        if uses_locality {
            for (i, e) in endpoints.iter().enumerate() {
                if let Some(node) = &e.node_name {
                    local_by_node.entry(node.clone()).or_default().push(i);
                }
            }
        }
        let node_hinted: BTreeSet<String> = endpoints
            .iter()
            .flat_map(|e| e.node_hints.iter().cloned())
            .collect();
        let mut by_result: Vec<(Categorized, Vec<String>)> = Vec::new();
        let mut cache: HashMap<NodeSignature, usize> = HashMap::new();
        for node in &state.nodes {
            let local = local_by_node
                .get(node.name.as_str())
                .cloned()
                .unwrap_or_default();
            let hinted = node_hinted.contains(&node.name);
            let signature = NodeSignature {
                zone: node.labels.get(LABEL_ZONE).cloned().unwrap_or_default(),
                labels_for_keys: view
                    .topology_keys
                    .iter()
                    .map(|k| node.labels.get(k).cloned())
                    .collect(),
                name_if_special: ((node.labels.is_empty() && !view.topology_keys.is_empty())
                    || hinted)
                    .then(|| node.name.clone()),
                local: local.clone(),
            };
            if let Some(&index) = cache.get(&signature) {
                by_result[index].1.push(node.name.clone());
                continue;
            }
            for &i in &local {
                endpoints[i].is_local = true;
            }
            let proxy_node = ProxyNode {
                name: node.name.clone(),
                labels: node.labels.clone(),
            };
            let result = categorize(&endpoints, &view, &proxy_node, gates);
            for &i in &local {
                endpoints[i].is_local = false;
            }
            let index = match by_result.iter().position(|(r, _)| same_routes(r, &result)) {
                Some(index) => {
                    by_result[index].1.push(node.name.clone());
                    index
                }
                None => {
                    by_result.push((result, vec![node.name.clone()]));
                    by_result.len() - 1
                }
            };
            cache.insert(signature, index);
        }
        for (result, nodes) in by_result {
            groups.push(route_group(&port_label, result, nodes));
        }
    }
    groups
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

fn route_group(port: &str, result: Categorized, nodes: Vec<String>) -> RouteGroup {
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
pub fn model_routes(
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
