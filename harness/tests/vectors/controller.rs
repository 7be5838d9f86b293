//! Controller-side vector kinds.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use topo_harness::model::choice::{explore, Chooser};
use topo_harness::model::controller::reconciler::{
    endpoint_ports, pod_to_endpoint, Pod, Reconciler,
};
use topo_harness::model::controller::topology::{
    self, Allocation, Readiness, SliceInfo, TopologyCache,
};
use topo_harness::model::controller::{hints_enabled as controller_hints_enabled, trafficdist};
use topo_harness::model::{
    AddressType, Endpoint, EndpointSlice, FeatureGates, Hints, KubeVersion, Node, Service,
    ServicePort, LABEL_CONTROL_PLANE, LABEL_ZONE,
};

use crate::support::{check, decode, floats_match, place};

const NEWEST: KubeVersion = KubeVersion::NEWEST;
const EXPLORE_LIMIT: usize = 20_000;

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct VHints {
    for_zones: Option<Vec<String>>,
    for_nodes: Option<Vec<String>>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct VEndpoint {
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    zone: Option<String>,
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    ready: Option<bool>,
    #[serde(default)]
    existing_hints: Option<VHints>,
}

impl VEndpoint {
    fn to_endpoint(&self) -> Endpoint {
        Endpoint {
            addresses: self.address.iter().cloned().collect(),
            ready: self.ready,
            node_name: self.node.clone(),
            zone: self.zone.clone(),
            hints: self.existing_hints.as_ref().map(|h| Hints {
                for_zones: h.for_zones.clone().unwrap_or_default(),
                for_nodes: h.for_nodes.clone().unwrap_or_default(),
            }),
            ..Endpoint::default()
        }
    }
}

fn slice_of(endpoints: &[VEndpoint], index: usize) -> EndpointSlice {
    EndpointSlice {
        namespace: "ns".into(),
        name: format!("slice-{index}"),
        service_name: Some("svc".into()),
        managed_by: Some("endpointslice-controller.k8s.io".into()),
        address_type: AddressType::IPv4,
        ports: Vec::new(),
        endpoints: endpoints.iter().map(VEndpoint::to_endpoint).collect(),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VSlices {
    #[serde(default)]
    to_create: Vec<Vec<VEndpoint>>,
    #[serde(default)]
    to_update: Vec<Vec<VEndpoint>>,
    #[serde(default)]
    unchanged: Vec<Vec<VEndpoint>>,
}

impl VSlices {
    fn to_info(&self) -> SliceInfo {
        let mut index = 0;
        let mut next = |eps: &Vec<VEndpoint>| {
            index += 1;
            slice_of(eps, index)
        };
        SliceInfo {
            to_create: self.to_create.iter().map(&mut next).collect(),
            to_update: self.to_update.iter().map(&mut next).collect(),
            unchanged: self.unchanged.iter().map(&mut next).collect(),
        }
    }
}

#[derive(Deserialize, Debug, PartialEq, Clone)]
#[serde(deny_unknown_fields)]
struct VExpectedEndpoint {
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    for_zones: Option<Vec<String>>,
    #[serde(default)]
    for_nodes: Option<Vec<String>>,
}

/// The observable hints of an endpoint: `None` = no hints; zones and nodes otherwise.
type Observed = Option<(Vec<String>, Vec<String>)>;

fn expected_hints(e: &VExpectedEndpoint) -> Observed {
    match (&e.for_zones, &e.for_nodes) {
        (None, None) => None,
        (z, n) => Some((z.clone().unwrap_or_default(), n.clone().unwrap_or_default())),
    }
}

fn observed_hints(e: &Endpoint) -> Observed {
    e.hints
        .as_ref()
        .map(|h| (h.for_zones.clone(), h.for_nodes.clone()))
}

fn compare_slices(
    what: &str,
    expected: &[Vec<VExpectedEndpoint>],
    actual: &[EndpointSlice],
) -> Result<(), String> {
    let exp: Vec<Vec<(Option<String>, Observed)>> = expected
        .iter()
        .map(|s| {
            s.iter()
                .map(|e| (e.address.clone(), expected_hints(e)))
                .collect()
        })
        .collect();
    let act: Vec<Vec<(Option<String>, Observed)>> = actual
        .iter()
        .map(|s| {
            s.endpoints
                .iter()
                .map(|e| (e.addresses.first().cloned(), observed_hints(e)))
                .collect()
        })
        .collect();
    check(what, &exp, &act)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VExpectedSlices {
    #[serde(default)]
    to_create: Vec<Vec<VExpectedEndpoint>>,
    #[serde(default)]
    to_update: Vec<Vec<VExpectedEndpoint>>,
    #[serde(default)]
    unchanged: Option<Vec<Vec<VExpectedEndpoint>>>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
struct VEvent {
    #[serde(rename = "type")]
    event_type: String,
    reason: String,
    message_prefix: String,
    #[serde(default)]
    message_derived: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddHintsInput {
    service_key: String,
    address_type: String,
    cpu_ratios_by_zone: Option<BTreeMap<String, f64>>,
    slices: VSlices,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddHintsExpected {
    hints_applied: bool,
    slices: VExpectedSlices,
    cache_hints_by_zone: Option<BTreeMap<String, BTreeMap<String, usize>>>,
    #[serde(default)]
    events: Vec<VEvent>,
    #[serde(default)]
    derived_allocations: Option<DerivedAllocations>,
}

#[derive(Deserialize)]
struct DerivedAllocations {
    #[allow(dead_code)]
    note: Option<String>,
    total_ready: usize,
    #[serde(flatten)]
    zones: BTreeMap<String, DerivedZone>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DerivedZone {
    desired: f64,
    minimum: usize,
    maximum: usize,
}

fn address_type(s: &str) -> Result<AddressType, String> {
    match s {
        "IPv4" => Ok(AddressType::IPv4),
        "IPv6" => Ok(AddressType::IPv6),
        "FQDN" => Ok(AddressType::Fqdn),
        other => Err(format!("unknown address_type `{other}`")),
    }
}

/// Passes when any of upstream's possible executions (Go map order) produces the expectation.
fn any_outcome<T: PartialEq>(
    run: impl FnMut(&mut dyn Chooser) -> T,
    verify: impl Fn(&T) -> Result<(), String>,
) -> Result<(), String> {
    let (outcomes, complete) = explore(run, EXPLORE_LIMIT);
    let mut first_error = None;
    for outcome in &outcomes {
        match verify(outcome) {
            Ok(()) => return Ok(()),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let note = if outcomes.len() > 1 {
        format!(
            " (none of {} possible outcomes matched{})",
            outcomes.len(),
            if complete {
                ""
            } else {
                ", exploration truncated"
            }
        )
    } else {
        String::new()
    };
    Err(format!("{}{note}", first_error.unwrap_or_default()))
}

pub fn add_hints(input: &Value, expected: &Value) -> Result<(), String> {
    let input: AddHintsInput = decode("input", input)?;
    let expected: AddHintsExpected = decode("expected", expected)?;
    let addr = address_type(&input.address_type)?;
    if let Some(derived) = &expected.derived_allocations {
        let allocs = topology::allocations(input.cpu_ratios_by_zone.as_ref(), derived.total_ready)
            .map_err(|e| format!("derived allocations: {}", e.message()))?;
        for (zone, d) in &derived.zones {
            let a = allocs
                .get(zone)
                .ok_or_else(|| format!("no allocation for {zone}"))?;
            check(
                &format!("derived allocation of {zone}"),
                &(d.minimum, d.maximum, d.desired),
                &(a.minimum, a.maximum, a.desired),
            )?;
        }
    }
    any_outcome(
        |chooser| {
            let mut cache = TopologyCache::with_ratios(input.cpu_ratios_by_zone.clone(), NEWEST);
            let result = cache.add_hints(&input.service_key, addr, input.slices.to_info(), chooser);
            let stored = cache.hints_by_service.get(&input.service_key).cloned();
            (result, stored)
        },
        |(result, stored)| {
            check(
                "hints applied",
                &expected.hints_applied,
                &result.disabled.is_none(),
            )?;
            compare_slices(
                "to_create",
                &expected.slices.to_create,
                &result.slices.to_create,
            )?;
            compare_slices(
                "to_update",
                &expected.slices.to_update,
                &result.slices.to_update,
            )?;
            let stored: Option<BTreeMap<String, BTreeMap<String, usize>>> =
                stored.as_ref().map(|m| {
                    m.iter()
                        .map(|(t, z)| (t.as_str().to_string(), z.clone()))
                        .collect()
                });
            check(
                "cache hints by zone",
                &expected.cache_hints_by_zone,
                &stored,
            )?;
            let events: Vec<(String, String, String)> = result
                .events
                .iter()
                .map(|e| {
                    (
                        e.event_type.to_string(),
                        e.reason.to_string(),
                        e.message.clone(),
                    )
                })
                .collect();
            check("number of events", &expected.events.len(), &events.len())?;
            for (want, got) in expected.events.iter().zip(&events) {
                check("event type", &want.event_type, &got.0)?;
                check("event reason", &want.reason, &got.1)?;
                if !got.2.starts_with(&want.message_prefix) {
                    return Err(format!(
                        "event message `{}` does not start with `{}`",
                        got.2, want.message_prefix
                    ));
                }
                if let Some(full) = &want.message_derived {
                    check("event message", full, &got.2)?;
                }
            }
            Ok(())
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VNode {
    #[serde(default)]
    name: Option<String>,
    zone: Option<String>,
    allocatable_cpu_millis: Option<u64>,
    ready: bool,
    #[serde(default)]
    control_plane_label: bool,
}

impl VNode {
    fn to_node(&self, fallback_name: String) -> Node {
        let mut labels = BTreeMap::new();
        if let Some(zone) = &self.zone {
            labels.insert(LABEL_ZONE.to_string(), zone.clone());
        }
        if self.control_plane_label {
            labels.insert(LABEL_CONTROL_PLANE.to_string(), String::new());
        }
        Node {
            name: self.name.clone().unwrap_or(fallback_name),
            labels,
            allocatable_cpu_millis: self.allocatable_cpu_millis,
            ready: self.ready,
            kubelet_version: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetNodesInput {
    nodes: Vec<VNode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetNodesExpected {
    sufficient_node_info: bool,
    cpu_millis_by_zone: Option<BTreeMap<String, u64>>,
    cpu_ratios_by_zone: Option<BTreeMap<String, f64>>,
}

pub fn set_nodes(input: &Value, expected: &Value) -> Result<(), String> {
    let input: SetNodesInput = decode("input", input)?;
    let expected: SetNodesExpected = decode("expected", expected)?;
    let nodes: Vec<Node> = input
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| n.to_node(format!("node-{i}")))
        .collect();
    let capacity = topology::set_nodes(&nodes, NEWEST);
    check(
        "sufficient node info",
        &expected.sufficient_node_info,
        &capacity.sufficient_node_info,
    )?;
    check(
        "cpu by zone",
        &expected.cpu_millis_by_zone,
        &capacity.cpu_millis_by_zone,
    )?;
    match (&expected.cpu_ratios_by_zone, &capacity.ratios) {
        (None, None) => Ok(()),
        (Some(e), Some(a)) if floats_match(e, a) => Ok(()),
        (e, a) => check("cpu ratios", e, a),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeGroup {
    zone: Option<String>,
    count: usize,
    name_pattern: String,
    allocatable_cpu_millis: Option<u64>,
    ready: bool,
    #[serde(default)]
    control_plane_label: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum VNodes {
    Groups { groups: Vec<NodeGroup> },
    List(Vec<VNode>),
}

impl VNodes {
    fn to_nodes(&self) -> Result<Vec<Node>, String> {
        match self {
            VNodes::List(list) => Ok(list
                .iter()
                .enumerate()
                .map(|(i, n)| n.to_node(format!("node-{i}")))
                .collect()),
            VNodes::Groups { groups } => {
                let mut nodes = Vec::new();
                for group in groups {
                    let prefix = group
                        .name_pattern
                        .split_once('<')
                        .map(|(p, _)| p)
                        .ok_or_else(|| {
                            format!("name_pattern `{}` has no <range>", group.name_pattern)
                        })?;
                    for i in 0..group.count {
                        let v = VNode {
                            name: Some(format!("{prefix}{i}")),
                            zone: group.zone.clone(),
                            allocatable_cpu_millis: group.allocatable_cpu_millis,
                            ready: group.ready,
                            control_plane_label: group.control_plane_label,
                        };
                        nodes.push(v.to_node(String::new()));
                    }
                }
                Ok(nodes)
            }
        }
    }
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct VPod {
    #[serde(default)]
    pod_index: Option<usize>,
    #[serde(default)]
    pod: Option<String>,
    node: String,
    #[serde(default)]
    #[allow(dead_code)]
    zone: Option<String>,
    ready: bool,
}

impl VPod {
    fn to_pod(&self, position: usize) -> Pod {
        let index = self.pod_index.unwrap_or(position);
        Pod {
            name: self.pod.clone().unwrap_or_else(|| format!("pod{index}")),
            node: Some(self.node.clone()),
            ip: Some(format!("10.0.{}.{}", index / 250, index % 250 + 1)),
            ready: self.ready,
            terminating: false,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VExistingSlice {
    name: String,
    endpoints: Vec<VPod>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReconcileInput {
    nodes: VNodes,
    topology_cache_enabled: bool,
    #[serde(default)]
    prefer_same_traffic_distribution_gate: Option<bool>,
    #[serde(default)]
    service_annotations: BTreeMap<String, String>,
    #[serde(default)]
    traffic_distribution: Option<String>,
    #[serde(default = "default_max")]
    max_endpoints_per_slice: usize,
    #[serde(default)]
    existing_slices: Vec<VExistingSlice>,
    pods: Vec<VPod>,
}

fn default_max() -> usize {
    100
}

#[derive(Deserialize)]
#[serde(untagged)]
enum VHintExpectation {
    Counts(BTreeMap<String, usize>),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct VMetrics {
    desired_slices: Option<usize>,
    actual_slices: Option<usize>,
    desired_endpoints: Option<usize>,
    added_per_sync: Option<usize>,
    removed_per_sync: Option<usize>,
    num_created: Option<usize>,
    num_updated: Option<usize>,
    num_deleted: Option<usize>,
    slices_changed_per_sync: Option<usize>,
    slices_changed_per_sync_topology: Option<usize>,
    slices_changed_per_sync_traffic_dist: Option<usize>,
    services_count_by_traffic_distribution: Option<BTreeMap<String, usize>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReconcileExpected {
    #[serde(default)]
    hints: Option<VHintExpectation>,
    #[serde(default)]
    hints_by_zone: Option<BTreeMap<String, usize>>,
    #[serde(default)]
    hints_by_node: Option<BTreeMap<String, usize>>,
    #[serde(default)]
    hint_key_empty_means: Option<String>,
    #[serde(default)]
    cross_zone_hints: Option<usize>,
    #[serde(default)]
    metrics: Option<VMetrics>,
    #[serde(default)]
    derived_explanation: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

fn vector_service(input: &ReconcileInput) -> Service {
    Service {
        annotations: input.service_annotations.clone(),
        selector: Some(BTreeMap::new()),
        cluster_ip: Some("10.96.0.1".into()),
        ports: vec![ServicePort {
            name: "foo".into(),
            port: 80,
            protocol: "TCP".into(),
            node_port: 0,
        }],
        traffic_distribution: input.traffic_distribution.as_deref().map(Into::into),
        ..Service::new("ns", "foo")
    }
}

pub fn reconcile(input: &Value, expected: &Value) -> Result<(), String> {
    let input: ReconcileInput = decode("input", input)?;
    let expected: ReconcileExpected = decode("expected", expected)?;
    let _ = (
        &expected.hint_key_empty_means,
        &expected.derived_explanation,
        &expected.note,
    );
    let mut settings = BTreeMap::new();
    if let Some(pstd) = input.prefer_same_traffic_distribution_gate {
        settings.insert("PreferSameTrafficDistribution".to_string(), pstd);
    }
    let gates = place((30, NEWEST.minor), &settings)?;
    let nodes = input.nodes.to_nodes()?;
    let service = vector_service(&input);
    let pods: Vec<Pod> = input
        .pods
        .iter()
        .enumerate()
        .map(|(i, p)| p.to_pod(i))
        .collect();
    let existing: Vec<EndpointSlice> = input
        .existing_slices
        .iter()
        .map(|s| EndpointSlice {
            namespace: "ns".into(),
            name: s.name.clone(),
            service_name: Some("foo".into()),
            managed_by: Some("endpointslice-controller.k8s.io".into()),
            address_type: AddressType::IPv4,
            ports: endpoint_ports(&service),
            endpoints: s
                .endpoints
                .iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    pod_to_endpoint(&p.to_pod(i), &service, &nodes, gates.version())
                })
                .collect(),
        })
        .collect();
    any_outcome(
        |chooser| {
            let mut reconciler =
                Reconciler::new(gates.clone(), input.max_endpoints_per_slice, &nodes);
            if !input.topology_cache_enabled {
                reconciler.topology_cache = None;
            } else if reconciler.topology_cache.is_none() {
                reconciler.topology_cache = Some(TopologyCache::new(&nodes, gates.version()));
            }
            let result = reconciler.sync(&service, &pods, &existing, &nodes, chooser);
            (
                result.slices,
                reconciler.metrics.clone(),
                reconciler.changed_per_sync("Disabled", ""),
                reconciler.changed_per_sync("Auto", ""),
            )
        },
        |(slices, metrics, disabled, auto)| {
            let endpoints: Vec<&Endpoint> =
                slices.iter().flat_map(|s| s.endpoints.iter()).collect();
            let mut by_zone: BTreeMap<String, usize> = BTreeMap::new();
            let mut by_node: BTreeMap<String, usize> = BTreeMap::new();
            let mut cross = 0;
            for e in &endpoints {
                let zones = e
                    .hints
                    .as_ref()
                    .map(|h| h.for_zones.clone())
                    .unwrap_or_default();
                if zones.len() == 1 {
                    *by_zone.entry(zones[0].clone()).or_insert(0) += 1;
                    if Some(&zones[0]) != e.zone.as_ref() {
                        cross += 1;
                    }
                } else {
                    *by_zone.entry(String::new()).or_insert(0) += 1;
                }
                for n in e
                    .hints
                    .as_ref()
                    .map(|h| h.for_nodes.clone())
                    .unwrap_or_default()
                {
                    *by_node.entry(n).or_insert(0) += 1;
                }
            }
            match &expected.hints {
                Some(VHintExpectation::Text(t)) if t.starts_with("none") => {
                    let any = endpoints
                        .iter()
                        .any(|e| e.hints.as_ref().is_some_and(|h| !h.for_zones.is_empty()));
                    check("endpoints with zone hints", &false, &any)?;
                }
                Some(VHintExpectation::Text(t)) => {
                    return Err(format!("hints expectation `{t}` is not understood"))
                }
                Some(VHintExpectation::Counts(c)) => {
                    let hinted: BTreeMap<String, usize> = by_zone
                        .iter()
                        .filter(|(z, _)| !z.is_empty())
                        .map(|(z, n)| (z.clone(), *n))
                        .collect();
                    check("hints by zone", c, &hinted)?;
                }
                None => {}
            }
            if let Some(e) = &expected.hints_by_zone {
                check("hints by zone", e, &by_zone)?;
            }
            if let Some(e) = &expected.hints_by_node {
                check("hints by node", e, &by_node)?;
            }
            if let Some(e) = expected.cross_zone_hints {
                check("cross-zone hints", &e, &cross)?;
            }
            if let Some(m) = &expected.metrics {
                let pairs = [
                    ("desiredSlices", m.desired_slices, metrics.desired_slices),
                    ("actualSlices", m.actual_slices, metrics.actual_slices),
                    (
                        "desiredEndpoints",
                        m.desired_endpoints,
                        metrics.desired_endpoints,
                    ),
                    ("addedPerSync", m.added_per_sync, metrics.added_per_sync),
                    (
                        "removedPerSync",
                        m.removed_per_sync,
                        metrics.removed_per_sync,
                    ),
                    ("numCreated", m.num_created, metrics.created),
                    ("numUpdated", m.num_updated, metrics.updated),
                    ("numDeleted", m.num_deleted, metrics.deleted),
                    ("slicesChangedPerSync", m.slices_changed_per_sync, *disabled),
                    (
                        "slicesChangedPerSyncTopology",
                        m.slices_changed_per_sync_topology,
                        *auto,
                    ),
                    (
                        "slicesChangedPerSyncTrafficDist",
                        m.slices_changed_per_sync_traffic_dist,
                        metrics
                            .changed_per_sync
                            .iter()
                            .filter(|((t, td), _)| t == "Disabled" && !td.is_empty())
                            .map(|(_, n)| *n)
                            .sum(),
                    ),
                ];
                for (name, want, got) in pairs {
                    if let Some(want) = want {
                        check(&format!("metric {name}"), &want, &got)?;
                    }
                }
                let want = m
                    .services_count_by_traffic_distribution
                    .clone()
                    .unwrap_or_default();
                check(
                    "metric servicesCountByTrafficDistribution",
                    &want,
                    &metrics.services_by_traffic_distribution,
                )?;
            }
            Ok(())
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrafficDistInput {
    traffic_distribution: Option<String>,
    slices: VSlices,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrafficDistExpected {
    slices: VExpectedSlices,
}

pub fn trafficdist(input: &Value, expected: &Value) -> Result<(), String> {
    let input: TrafficDistInput = decode("input", input)?;
    let expected: TrafficDistExpected = decode("expected", expected)?;
    let result = trafficdist::reconcile_hints(
        input
            .traffic_distribution
            .as_deref()
            .map(topo_harness::model::TrafficDistribution::from)
            .as_ref(),
        NEWEST,
        input.slices.to_info(),
    );
    compare_slices("to_create", &expected.slices.to_create, &result.to_create)?;
    compare_slices("to_update", &expected.slices.to_update, &result.to_update)?;
    if let Some(unchanged) = &expected.slices.unchanged {
        compare_slices("unchanged", unchanged, &result.unchanged)?;
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GivingInput {
    desired_by_zone: BTreeMap<String, f64>,
    allocated_hints_by_zone: BTreeMap<String, i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GivingExpected {
    giving_zones: BTreeMap<String, usize>,
    receiving_zones: BTreeMap<String, usize>,
}

pub fn giving_receiving(input: &Value, expected: &Value) -> Result<(), String> {
    let input: GivingInput = decode("input", input)?;
    let expected: GivingExpected = decode("expected", expected)?;
    let allocations: BTreeMap<String, Allocation> = input
        .desired_by_zone
        .iter()
        .map(|(z, d)| {
            (
                z.clone(),
                Allocation {
                    minimum: 0,
                    maximum: 0,
                    desired: *d,
                },
            )
        })
        .collect();
    any_outcome(
        |c| topology::giving_and_receiving(&allocations, &input.allocated_hints_by_zone, c),
        |(giving, receiving)| {
            check("giving zones", &expected.giving_zones, giving)?;
            check("receiving zones", &expected.receiving_zones, receiving)
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedistributeInput {
    slices: Vec<Vec<VEndpoint>>,
    giving_zones: BTreeMap<String, usize>,
    receiving_zones: BTreeMap<String, usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedistributeExpected {
    redistributions: BTreeMap<String, i64>,
    #[serde(default)]
    endpoint_hints_after: Option<Vec<Vec<Vec<String>>>>,
}

pub fn redistribute(input: &Value, expected: &Value) -> Result<(), String> {
    let input: RedistributeInput = decode("input", input)?;
    let expected: RedistributeExpected = decode("expected", expected)?;
    any_outcome(
        |c| {
            let mut slices: Vec<EndpointSlice> = input
                .slices
                .iter()
                .enumerate()
                .map(|(i, s)| slice_of(s, i))
                .collect();
            let changes = {
                let mut refs: Vec<&mut EndpointSlice> = slices.iter_mut().collect();
                topology::redistribute(
                    &mut refs,
                    input.giving_zones.clone(),
                    input.receiving_zones.clone(),
                    Readiness { ready_only: true },
                    c,
                )
            };
            (changes, slices)
        },
        |(changes, slices)| {
            check("redistributions", &expected.redistributions, changes)?;
            if let Some(after) = &expected.endpoint_hints_after {
                let got: Vec<Vec<Vec<String>>> = slices
                    .iter()
                    .map(|s| {
                        s.endpoints
                            .iter()
                            .map(|e| {
                                e.hints
                                    .as_ref()
                                    .map(|h| h.for_zones.clone())
                                    .unwrap_or_default()
                            })
                            .collect()
                    })
                    .collect();
                check("endpoint hints after", after, &got)?;
            }
            Ok(())
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HintsByZoneInput {
    slice: Vec<VEndpoint>,
    allocation_maximum_by_zone: BTreeMap<String, usize>,
    already_allocated_hints_by_zone: BTreeMap<String, i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HintsByZoneExpected {
    hints_by_zone: Option<BTreeMap<String, usize>>,
}

pub fn hints_by_zone(input: &Value, expected: &Value) -> Result<(), String> {
    let input: HintsByZoneInput = decode("input", input)?;
    let expected: HintsByZoneExpected = decode("expected", expected)?;
    let allocations: BTreeMap<String, Allocation> = input
        .allocation_maximum_by_zone
        .iter()
        .map(|(z, m)| {
            (
                z.clone(),
                Allocation {
                    minimum: 0,
                    maximum: *m,
                    desired: 0.0,
                },
            )
        })
        .collect();
    let slice = slice_of(&input.slice, 0);
    let got = topology::hints_by_zone(
        &slice,
        &input.already_allocated_hints_by_zone,
        &allocations,
        Readiness { ready_only: true },
    );
    check("hints by zone", &expected.hints_by_zone, &got)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TotalReadyInput {
    slices_ready_unready_counts: BTreeMap<String, Vec<(usize, usize)>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TotalReadyExpected {
    total_ready: usize,
    total_endpoints: usize,
}

pub fn total_ready(input: &Value, expected: &Value) -> Result<(), String> {
    let input: TotalReadyInput = decode("input", input)?;
    let expected: TotalReadyExpected = decode("expected", expected)?;
    let mut info = SliceInfo::default();
    for (list, counts) in &input.slices_ready_unready_counts {
        let slices: Vec<EndpointSlice> = counts
            .iter()
            .enumerate()
            .map(|(i, (ready, unready))| {
                let endpoints: Vec<VEndpoint> = (0..ready + unready)
                    .map(|k| VEndpoint {
                        address: Some(format!("10.0.{i}.{k}")),
                        zone: None,
                        node: None,
                        ready: Some(k < *ready),
                        existing_hints: None,
                    })
                    .collect();
                slice_of(&endpoints, i)
            })
            .collect();
        match list.as_str() {
            "to_create" => info.to_create = slices,
            "to_update" => info.to_update = slices,
            "unchanged" => info.unchanged = slices,
            other => return Err(format!("unknown slice list `{other}`")),
        }
    }
    check(
        "total ready",
        &expected.total_ready,
        &info.total_ready(Readiness { ready_only: true }),
    )?;
    check(
        "total endpoints",
        &expected.total_endpoints,
        &info.total_ready(Readiness { ready_only: false }),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HintsEnabledInput {
    service_annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HintsEnabledExpected {
    controller_adds_topology_hints: bool,
}

pub fn hints_enabled(input: &Value, expected: &Value) -> Result<(), String> {
    let input: HintsEnabledInput = decode("input", input)?;
    let expected: HintsEnabledExpected = decode("expected", expected)?;
    let got = controller_hints_enabled(&input.service_annotations, &FeatureGates::defaults(NEWEST));
    check(
        "controller adds hints",
        &expected.controller_adds_topology_hints,
        &got,
    )
}
