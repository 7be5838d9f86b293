//! The "Auto" heuristic (ProportionalZoneCPU) of the EndpointSlice controller's topology cache.
//!
//! Follows `semantics.md` §3 step by step, including upstream's floating-point order and its
//! quirks (an unready endpoint in a slice being rewritten keeps whatever hints it had, because
//! upstream clears the hints of a loop copy).

use std::collections::{BTreeMap, BTreeSet};

use crate::model::choice::Chooser;
use crate::model::state::{AddressType, Endpoint, EndpointSlice, Hints, Node};
use crate::model::version::KubeVersion;

/// The overload threshold of upstream's topology cache.
pub const OVERLOAD_THRESHOLD: f64 = 0.2;

/// `1 / (1 + overloadThreshold)` as Go folds the constant expression (the double nearest 5/6).
pub const MINIMUM_FACTOR: f64 = 0.833_333_333_333_333_4;

/// Why the controller removed (or did not write) "Auto" hints: the Warning events of `event.go`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HintsDisabledReason {
    /// The zone CPU ratios are unset.
    InsufficientNodeInfo,
    /// Fewer than two zones in the ratios.
    NodesReadyInOneZoneOnly,
    /// More zones than ready endpoints.
    InsufficientNumberOfEndpoints {
        /// Ready endpoints.
        endpoints: usize,
        /// Zones in the ratios.
        zones: usize,
    },
    /// The minimum allocations add up to more than the endpoints.
    MinAllocationExceedsOverloadThreshold {
        /// Ready endpoints.
        endpoints: usize,
        /// Zones in the ratios.
        zones: usize,
    },
    /// A ready endpoint being (re)hinted has no zone.
    NoZoneSpecified,
    /// Allocation ended with no hints at all.
    NoAllocatedHintsForZones,
    /// The annotation was removed or changed while hints were populated (reconciler).
    AnnotationDisabled,
}

impl HintsDisabledReason {
    /// The event message without the address-type suffix, exactly as upstream words it.
    pub fn message(&self) -> String {
        match self {
            HintsDisabledReason::InsufficientNodeInfo => {
                "Insufficient Node information: allocatable CPU or zone not specified on one or more nodes".to_string()
            }
            HintsDisabledReason::NodesReadyInOneZoneOnly => "Nodes only ready in one zone".to_string(),
            HintsDisabledReason::InsufficientNumberOfEndpoints { endpoints, zones } => {
                format!("Insufficient number of endpoints ({endpoints} endpoints, {zones} zones)")
            }
            HintsDisabledReason::MinAllocationExceedsOverloadThreshold { endpoints, zones } => format!(
                "Unable to allocate minimum required endpoints to each zone without exceeding overload threshold ({endpoints} endpoints, {zones} zones)"
            ),
            HintsDisabledReason::NoZoneSpecified => {
                "One or more endpoints do not have a zone specified".to_string()
            }
            HintsDisabledReason::NoAllocatedHintsForZones => "No hints allocated for zones".to_string(),
            HintsDisabledReason::AnnotationDisabled => "Topology Aware Hints has been disabled".to_string(),
        }
    }
}

/// The message of the Normal event emitted when hints are first populated.
pub const HINTS_ENABLED_MESSAGE: &str = "Topology Aware Hints has been enabled";

/// Whether the EndpointSlice controller of `version` records its topology events on the
/// Service: `event.go` arrived in 1.26 (kubernetes#113544); before, it only logged.
pub fn records_events(version: KubeVersion) -> bool {
    version.minor >= 26
}

/// An event the controller records on the Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerEvent {
    /// `Normal` or `Warning`.
    pub event_type: &'static str,
    /// `TopologyAwareHintsEnabled` or `TopologyAwareHintsDisabled`.
    pub reason: &'static str,
    /// The full message, including `, addressType: <type>`.
    pub message: String,
}

impl ControllerEvent {
    fn disabled(reason: &HintsDisabledReason, address_type: AddressType) -> Self {
        ControllerEvent {
            event_type: "Warning",
            reason: "TopologyAwareHintsDisabled",
            message: with_address_type(&reason.message(), address_type),
        }
    }

    fn enabled(address_type: AddressType) -> Self {
        ControllerEvent {
            event_type: "Normal",
            reason: "TopologyAwareHintsEnabled",
            message: with_address_type(HINTS_ENABLED_MESSAGE, address_type),
        }
    }
}

/// `FormatWithAddressType`.
pub fn with_address_type(message: &str, address_type: AddressType) -> String {
    format!("{message}, addressType: {}", address_type.as_str())
}

/// The result of `SetNodes`: CPU per zone and the zone ratios.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeCapacity {
    /// Whether every counted node had a zone and allocatable CPU, in two or more zones.
    pub sufficient_node_info: bool,
    /// Millicores per zone; `None` when the info is insufficient.
    pub cpu_millis_by_zone: Option<BTreeMap<String, u64>>,
    /// CPU share per zone; `None` when the info is insufficient.
    pub ratios: Option<BTreeMap<String, f64>>,
    /// The nodes that were left out and why, for explanations.
    pub skipped: Vec<(String, NodeSkip)>,
    /// The node that stopped the computation (no zone or no CPU), if any.
    pub insufficient_node: Option<String>,
}

/// Why `SetNodes` left a node out of the CPU ratios.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NodeSkip {
    /// It carries a control-plane label (1.23+).
    ControlPlane,
    /// Its Ready condition is not True.
    NotReady,
}

impl NodeCapacity {
    /// The state of a brand-new cache before the first `SetNodes`: an empty, non-nil ratio map.
    pub fn unset() -> Self {
        NodeCapacity {
            sufficient_node_info: false,
            cpu_millis_by_zone: Some(BTreeMap::new()),
            ratios: Some(BTreeMap::new()),
            skipped: Vec::new(),
            insufficient_node: None,
        }
    }
}

/// `SetNodes`: zone CPU ratios from ready nodes (and, from 1.23, not control-plane nodes).
pub fn set_nodes(nodes: &[Node], version: KubeVersion) -> NodeCapacity {
    let mut cpu_by_zone: BTreeMap<String, u64> = BTreeMap::new();
    let mut total: u64 = 0;
    let mut sufficient = true;
    let mut skipped = Vec::new();
    let mut insufficient_node = None;
    for node in nodes {
        if version.minor >= 23 && node.is_control_plane() {
            skipped.push((node.name.clone(), NodeSkip::ControlPlane));
            continue;
        }
        if !node.ready {
            skipped.push((node.name.clone(), NodeSkip::NotReady));
            continue;
        }
        let cpu = node.allocatable_cpu_millis.unwrap_or(0);
        match node.zone() {
            Some(zone) if cpu > 0 => {
                total += cpu;
                *cpu_by_zone.entry(zone.to_string()).or_insert(0) += cpu;
            }
            _ => {
                cpu_by_zone.clear();
                sufficient = false;
                insufficient_node = Some(node.name.clone());
                break;
            }
        }
    }
    if total == 0 || !sufficient || cpu_by_zone.len() < 2 {
        return NodeCapacity {
            sufficient_node_info: false,
            cpu_millis_by_zone: None,
            ratios: None,
            skipped,
            insufficient_node,
        };
    }
    let ratios = cpu_by_zone
        .iter()
        .map(|(zone, cpu)| (zone.clone(), *cpu as f64 / total as f64))
        .collect();
    NodeCapacity {
        sufficient_node_info: true,
        cpu_millis_by_zone: Some(cpu_by_zone),
        ratios: Some(ratios),
        skipped,
        insufficient_node,
    }
}

/// The number of endpoints a zone should get.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Allocation {
    /// `ceil(desired / 1.2)`.
    pub minimum: usize,
    /// `minimum + n - Σ minimum`.
    pub maximum: usize,
    /// `max(ratio * n, minimum)`.
    pub desired: f64,
}

/// `getAllocations(n)`: per-zone minimum, maximum and desired counts, or why there are none.
///
/// ```
/// use std::collections::BTreeMap;
/// use topo_harness::model::controller::topology::{allocations, HintsDisabledReason};
///
/// let equal: BTreeMap<String, f64> =
///     ["a", "b", "c"].iter().map(|z| (z.to_string(), 1.0 / 3.0)).collect();
/// // 8 endpoints over 3 equal zones: each zone needs ceil(2.67 / 1.2) = 3, and 9 > 8.
/// assert_eq!(
///     allocations(Some(&equal), 8),
///     Err(HintsDisabledReason::MinAllocationExceedsOverloadThreshold { endpoints: 8, zones: 3 })
/// );
/// assert_eq!(allocations(Some(&equal), 9).unwrap()["a"].minimum, 3);
/// ```
pub fn allocations(
    ratios: Option<&BTreeMap<String, f64>>,
    endpoints: usize,
) -> Result<BTreeMap<String, Allocation>, HintsDisabledReason> {
    let ratios = ratios.ok_or(HintsDisabledReason::InsufficientNodeInfo)?;
    let zones = ratios.len();
    if zones < 2 {
        return Err(HintsDisabledReason::NodesReadyInOneZoneOnly);
    }
    if zones > endpoints {
        return Err(HintsDisabledReason::InsufficientNumberOfEndpoints { endpoints, zones });
    }
    // Go iterates the map in random order and fails as soon as the running remainder is
    // negative; minimums are never negative, so the outcome does not depend on that order.
    let mut remaining = endpoints as i64;
    let mut minimum_total = 0usize;
    let mut result = BTreeMap::new();
    for (zone, ratio) in ratios {
        let desired = ratio * endpoints as f64;
        let minimum = (desired * MINIMUM_FACTOR).ceil() as usize;
        minimum_total += minimum;
        remaining -= minimum as i64;
        if remaining < 0 {
            return Err(HintsDisabledReason::MinAllocationExceedsOverloadThreshold {
                endpoints,
                zones,
            });
        }
        result.insert(
            zone.clone(),
            Allocation {
                minimum,
                maximum: 0,
                desired: desired.max(minimum as f64),
            },
        );
    }
    for allocation in result.values_mut() {
        allocation.maximum = allocation.minimum + endpoints - minimum_total;
    }
    Ok(result)
}

/// How the topology cache reads endpoint readiness in a version: from 1.23 only ready
/// endpoints count and get hints; before, every endpoint did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// Whether readiness is considered at all (1.23+).
    pub ready_only: bool,
}

impl Readiness {
    /// The rule of `version`.
    pub fn for_version(version: KubeVersion) -> Self {
        Readiness {
            ready_only: version.minor >= 23,
        }
    }

    /// Whether the topology cache treats `endpoint` as ready.
    pub fn counts(self, endpoint: &Endpoint) -> bool {
        !self.ready_only || endpoint.controller_ready()
    }
}

/// `getHintsByZone`: the per-zone hint counts of an unchanged slice, or `None` when its hints
/// are no longer valid and it must be rewritten.
pub fn hints_by_zone(
    slice: &EndpointSlice,
    already_allocated: &BTreeMap<String, i64>,
    allocations: &BTreeMap<String, Allocation>,
    readiness: Readiness,
) -> Option<BTreeMap<String, usize>> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for endpoint in &slice.endpoints {
        if !readiness.counts(endpoint) {
            continue;
        }
        let zones = match &endpoint.hints {
            Some(h) if !h.for_zones.is_empty() => &h.for_zones,
            _ => return None,
        };
        for zone in zones {
            if !allocations.contains_key(zone) {
                return None;
            }
            *counts.entry(zone.clone()).or_insert(0) += 1;
        }
    }
    for (zone, count) in &counts {
        let already = already_allocated.get(zone).copied().unwrap_or(0);
        match allocations.get(zone) {
            Some(a) if *count as i64 + already <= a.maximum as i64 => {}
            _ => return None,
        }
    }
    Some(counts)
}

/// `getGivingAndReceivingZones`: how many endpoints each zone gives and receives.
///
/// Go's `getMost` takes the first zone with the largest value in random map order, so ties are
/// resolved through `chooser` (candidates in zone-name order).
pub fn giving_and_receiving(
    allocations: &BTreeMap<String, Allocation>,
    allocated: &BTreeMap<String, i64>,
    chooser: &mut dyn Chooser,
) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
    let mut giving_desired: BTreeMap<String, f64> = BTreeMap::new();
    let mut receiving_desired: BTreeMap<String, f64> = BTreeMap::new();
    for (zone, allocation) in allocations {
        let hints = allocated.get(zone).copied().unwrap_or(0) as f64;
        let target = allocation.desired;
        if hints > target {
            giving_desired.insert(zone.clone(), hints - target);
        } else if hints < target {
            receiving_desired.insert(zone.clone(), target - hints);
        }
    }
    let mut giving = BTreeMap::new();
    let mut receiving = BTreeMap::new();
    loop {
        let give = get_most(&giving_desired, chooser);
        let receive = get_most(&receiving_desired, chooser);
        let (Some((gz, num_give)), Some((rz, num_receive))) = (give, receive) else {
            break;
        };
        if (num_give < 1.0 && num_receive < 1.0) || num_give < 0.5 || num_receive < 0.5 {
            break;
        }
        *giving.entry(gz.clone()).or_insert(0) += 1;
        if let Some(v) = giving_desired.get_mut(&gz) {
            *v -= 1.0;
        }
        *receiving.entry(rz.clone()).or_insert(0) += 1;
        if let Some(v) = receiving_desired.get_mut(&rz) {
            *v -= 1.0;
        }
    }
    (giving, receiving)
}

/// `getMost`: the zone with the largest value above zero; ties go to `chooser`.
fn get_most(values: &BTreeMap<String, f64>, chooser: &mut dyn Chooser) -> Option<(String, f64)> {
    let best = values.values().copied().fold(0.0_f64, f64::max);
    if best <= 0.0 {
        return None;
    }
    let tied: Vec<&String> = values
        .iter()
        .filter(|(_, v)| **v == best)
        .map(|(z, _)| z)
        .collect();
    let pick = chooser.choose(tied.len());
    Some((tied[pick].clone(), best))
}

/// `redistributeHints`: re-hints endpoints of giving zones to receiving zones, in slice and
/// endpoint order. Returns the per-zone change in hint counts.
pub fn redistribute(
    slices: &mut [&mut EndpointSlice],
    mut giving: BTreeMap<String, usize>,
    mut receiving: BTreeMap<String, usize>,
    readiness: Readiness,
    chooser: &mut dyn Chooser,
) -> BTreeMap<String, i64> {
    let mut changes: BTreeMap<String, i64> = BTreeMap::new();
    for slice in slices.iter_mut() {
        for endpoint in slice.endpoints.iter_mut() {
            if !readiness.counts(endpoint) {
                continue;
            }
            if giving.is_empty() || receiving.is_empty() {
                return changes;
            }
            let Some(zone) = endpoint.zone().map(str::to_string) else {
                continue;
            };
            if giving.get(&zone).copied().unwrap_or(0) == 0 {
                continue;
            }
            let candidates: Vec<String> = receiving
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(z, _)| z.clone())
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let target = candidates[chooser.choose(candidates.len())].clone();
            endpoint.hints = Some(Hints {
                for_zones: vec![target.clone()],
                for_nodes: Vec::new(),
            });
            decrement(&mut giving, &zone);
            decrement(&mut receiving, &target);
            *changes.entry(target).or_insert(0) += 1;
            *changes.entry(zone).or_insert(0) -= 1;
        }
    }
    changes
}

fn decrement(map: &mut BTreeMap<String, usize>, key: &str) {
    if let Some(n) = map.get_mut(key) {
        if *n <= 1 {
            map.remove(key);
        } else {
            *n -= 1;
        }
    }
}

/// The slices of one Service and address type, as the reconciler hands them to the heuristics.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SliceInfo {
    /// Slices about to be created.
    pub to_create: Vec<EndpointSlice>,
    /// Slices about to be updated.
    pub to_update: Vec<EndpointSlice>,
    /// Slices left as they are.
    pub unchanged: Vec<EndpointSlice>,
}

impl SliceInfo {
    /// `getTotalReadyEndpoints` (all endpoints before 1.23).
    pub fn total_ready(&self, readiness: Readiness) -> usize {
        self.all()
            .flat_map(|s| s.endpoints.iter())
            .filter(|e| readiness.counts(e))
            .count()
    }

    /// Every slice: to create, to update, unchanged.
    pub fn all(&self) -> impl Iterator<Item = &EndpointSlice> {
        self.to_create
            .iter()
            .chain(self.to_update.iter())
            .chain(self.unchanged.iter())
    }

    /// `RemoveHintsFromSlices`: clears hints everywhere; unchanged slices that had hints move to
    /// the update list.
    pub fn remove_hints(&mut self) {
        for slice in self.to_create.iter_mut().chain(self.to_update.iter_mut()) {
            for endpoint in &mut slice.endpoints {
                endpoint.hints = None;
            }
        }
        let unchanged = std::mem::take(&mut self.unchanged);
        for mut slice in unchanged {
            if slice.endpoints.iter().any(|e| e.hints.is_some()) {
                for endpoint in &mut slice.endpoints {
                    endpoint.hints = None;
                }
                self.to_update.push(slice);
            } else {
                self.unchanged.push(slice);
            }
        }
    }
}

/// The topology cache's memory between syncs: ratios, and per Service the hints it allocated.
#[derive(Clone, Debug, PartialEq)]
pub struct TopologyCache {
    /// Result of the last `SetNodes`.
    pub capacity: NodeCapacity,
    /// Allocated hints per zone, by Service key and address type.
    pub hints_by_service: BTreeMap<String, BTreeMap<AddressType, BTreeMap<String, usize>>>,
    /// Services whose hints are populated.
    pub populated: BTreeSet<String>,
    /// The version's readiness rule.
    pub readiness: Readiness,
}

/// What `AddHints` did.
#[derive(Clone, Debug, PartialEq)]
pub struct AddHintsResult {
    /// The slices (hinted, or with hints removed).
    pub slices: SliceInfo,
    /// Events recorded.
    pub events: Vec<ControllerEvent>,
    /// Why hints were removed, when they were.
    pub disabled: Option<HintsDisabledReason>,
    /// The per-zone hint counts stored in the cache when hints were assigned.
    pub hints_by_zone: Option<BTreeMap<String, usize>>,
}

impl TopologyCache {
    /// A cache for `version` with ratios from `nodes`.
    pub fn new(nodes: &[Node], version: KubeVersion) -> Self {
        TopologyCache {
            capacity: set_nodes(nodes, version),
            hints_by_service: BTreeMap::new(),
            populated: BTreeSet::new(),
            readiness: Readiness::for_version(version),
        }
    }

    /// A cache whose ratios are given directly (upstream tests inject them).
    pub fn with_ratios(ratios: Option<BTreeMap<String, f64>>, version: KubeVersion) -> Self {
        TopologyCache {
            capacity: NodeCapacity {
                sufficient_node_info: ratios.is_some(),
                cpu_millis_by_zone: None,
                ratios,
                skipped: Vec::new(),
                insufficient_node: None,
            },
            hints_by_service: BTreeMap::new(),
            populated: BTreeSet::new(),
            readiness: Readiness::for_version(version),
        }
    }

    /// `SetNodes` on an existing cache.
    pub fn set_nodes(&mut self, nodes: &[Node], version: KubeVersion) {
        self.capacity = set_nodes(nodes, version);
    }

    /// `RemoveHints` for one Service and address type.
    pub fn remove_hints(&mut self, service: &str, address_type: AddressType) {
        if let Some(by_type) = self.hints_by_service.get_mut(service) {
            by_type.remove(&address_type);
            if by_type.is_empty() {
                self.hints_by_service.remove(service);
            }
        }
        self.populated.remove(service);
    }

    /// `HasPopulatedHints`.
    pub fn has_populated_hints(&self, service: &str) -> bool {
        self.populated.contains(service)
    }

    /// `AddHints`: assigns CPU-proportional zone hints (semantics.md §3.3).
    pub fn add_hints(
        &mut self,
        service: &str,
        address_type: AddressType,
        mut slices: SliceInfo,
        chooser: &mut dyn Chooser,
    ) -> AddHintsResult {
        let readiness = self.readiness;
        let total = slices.total_ready(readiness);
        let allocations = match allocations(self.capacity.ratios.as_ref(), total) {
            Ok(a) => a,
            Err(reason) => return self.disable(service, address_type, slices, reason),
        };

        // Unchanged slices keep valid hints; invalid ones are rewritten.
        let mut allocated: BTreeMap<String, i64> = BTreeMap::new();
        let unchanged = std::mem::take(&mut slices.unchanged);
        for slice in unchanged {
            match hints_by_zone(&slice, &allocated, &allocations, readiness) {
                Some(counts) => {
                    for (zone, n) in counts {
                        *allocated.entry(zone).or_insert(0) += n as i64;
                    }
                    slices.unchanged.push(slice);
                }
                None => slices.to_update.push(slice),
            }
        }

        // Step 1: same-zone hints for every (ready) endpoint being written.
        for slice in slices
            .to_create
            .iter_mut()
            .chain(slices.to_update.iter_mut())
        {
            for endpoint in &mut slice.endpoints {
                if !readiness.counts(endpoint) {
                    // Upstream clears the hints of a loop copy: the endpoint keeps its hints.
                    continue;
                }
                let Some(zone) = endpoint.zone().map(str::to_string) else {
                    return self.disable(
                        service,
                        address_type,
                        slices,
                        HintsDisabledReason::NoZoneSpecified,
                    );
                };
                *allocated.entry(zone.clone()).or_insert(0) += 1;
                endpoint.hints = Some(Hints {
                    for_zones: vec![zone],
                    for_nodes: Vec::new(),
                });
            }
        }

        // Steps 2 and 3: move whole endpoints from zones above their share to zones below it.
        let (giving, receiving) = giving_and_receiving(&allocations, &allocated, chooser);
        let changes = {
            let mut writable: Vec<&mut EndpointSlice> = slices
                .to_create
                .iter_mut()
                .chain(slices.to_update.iter_mut())
                .collect();
            redistribute(&mut writable, giving, receiving, readiness, chooser)
        };
        for (zone, delta) in changes {
            *allocated.entry(zone).or_insert(0) += delta;
        }
        let allocated: BTreeMap<String, usize> = allocated
            .into_iter()
            .map(|(zone, n)| (zone, n.max(0) as usize))
            .collect();
        if allocated.is_empty() {
            return self.disable(
                service,
                address_type,
                slices,
                HintsDisabledReason::NoAllocatedHintsForZones,
            );
        }

        let mut events = Vec::new();
        if !self.populated.contains(service) {
            events.push(ControllerEvent::enabled(address_type));
        }
        self.hints_by_service
            .entry(service.to_string())
            .or_default()
            .insert(address_type, allocated.clone());
        self.populated.insert(service.to_string());
        AddHintsResult {
            slices,
            events,
            disabled: None,
            hints_by_zone: Some(allocated),
        }
    }

    fn disable(
        &mut self,
        service: &str,
        address_type: AddressType,
        mut slices: SliceInfo,
        reason: HintsDisabledReason,
    ) -> AddHintsResult {
        self.remove_hints(service, address_type);
        slices.remove_hints();
        AddHintsResult {
            slices,
            events: vec![ControllerEvent::disabled(&reason, address_type)],
            disabled: Some(reason),
            hints_by_zone: None,
        }
    }

    /// `GetOverloadedServices`: Services whose stored hints no longer respect the threshold
    /// under the current ratios (checked after node changes).
    pub fn overloaded_services(&self) -> Vec<String> {
        self.hints_by_service
            .iter()
            .filter(|(_, by_type)| {
                by_type
                    .values()
                    .any(|hints| service_overloaded(hints, self.capacity.ratios.as_ref()))
            })
            .map(|(key, _)| key.clone())
            .collect()
    }
}

/// `serviceOverloaded`.
pub fn service_overloaded(
    hints: &BTreeMap<String, usize>,
    ratios: Option<&BTreeMap<String, f64>>,
) -> bool {
    if hints.is_empty() {
        return false;
    }
    let Some(ratios) = ratios.filter(|r| !r.is_empty()) else {
        return true;
    };
    let total: f64 = hints.values().map(|n| *n as f64).sum();
    ratios.iter().any(|(zone, ratio)| match hints.get(zone) {
        None => true,
        Some(n) => (*n as i64) < (total * ratio * MINIMUM_FACTOR).ceil() as i64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::choice::{explore, FirstChoice};

    fn ratios(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(z, r)| (z.to_string(), *r)).collect()
    }

    #[test]
    fn minimum_factor_is_go_constant_folding_of_one_over_one_point_two() {
        assert_eq!(MINIMUM_FACTOR, 5.0_f64 / 6.0);
        assert_eq!(MINIMUM_FACTOR, 1.0 / (1.0 + OVERLOAD_THRESHOLD));
    }

    #[test]
    fn floating_point_order_matches_upstream() {
        // ratio 0.4, n = 3: desired 1.2000000000000002 -> minimum 2.
        let r = ratios(&[("a", 0.4), ("b", 0.6)]);
        let a = allocations(Some(&r), 3);
        assert_eq!(
            a,
            Err(HintsDisabledReason::MinAllocationExceedsOverloadThreshold {
                endpoints: 3,
                zones: 2
            })
        );
    }

    #[test]
    fn safeguards_in_order() {
        assert_eq!(
            allocations(None, 10),
            Err(HintsDisabledReason::InsufficientNodeInfo)
        );
        assert_eq!(
            allocations(Some(&ratios(&[("a", 1.0)])), 10),
            Err(HintsDisabledReason::NodesReadyInOneZoneOnly)
        );
        let three = ratios(&[("a", 1.0 / 3.0), ("b", 1.0 / 3.0), ("c", 1.0 / 3.0)]);
        assert_eq!(
            allocations(Some(&three), 2),
            Err(HintsDisabledReason::InsufficientNumberOfEndpoints {
                endpoints: 2,
                zones: 3
            })
        );
        for n in [8, 11] {
            assert_eq!(
                allocations(Some(&three), n),
                Err(HintsDisabledReason::MinAllocationExceedsOverloadThreshold {
                    endpoints: n,
                    zones: 3
                })
            );
        }
        let ok = allocations(Some(&three), 9).unwrap();
        assert_eq!(ok["a"].minimum, 3);
        assert_eq!(ok["a"].maximum, 3);
    }

    #[test]
    fn feasibility_table_for_equal_zones() {
        // semantics.md §3.2 derived feasibility for n = 1..=30.
        let feasible = |zones: usize| -> Vec<usize> {
            let r: BTreeMap<String, f64> = (0..zones)
                .map(|i| (format!("z{i}"), 1.0 / zones as f64))
                .collect();
            (1..=30)
                .filter(|n| allocations(Some(&r), *n).is_ok())
                .collect()
        };
        let mut two: Vec<usize> = vec![2, 4];
        two.extend(6..=30);
        assert_eq!(feasible(2), two);
        let mut three = vec![3, 6, 7, 9, 10];
        three.extend(12..=30);
        assert_eq!(feasible(3), three);
        let mut four = vec![4, 8, 9, 12, 13, 14];
        four.extend(16..=30);
        assert_eq!(feasible(4), four);
    }

    #[test]
    fn ties_in_giving_and_receiving_are_all_explored() {
        // Three equal zones, 3 endpoints all in c: c gives 2, a and b receive 1 each.
        let three = ratios(&[("a", 1.0 / 3.0), ("b", 1.0 / 3.0), ("c", 1.0 / 3.0)]);
        let alloc = allocations(Some(&three), 3).unwrap();
        let allocated: BTreeMap<String, i64> = [("c".to_string(), 3)].into();
        let (outcomes, complete) = explore(|c| giving_and_receiving(&alloc, &allocated, c), 100);
        assert!(complete);
        assert_eq!(outcomes.len(), 1);
        assert_eq!(outcomes[0].0, [("c".to_string(), 2)].into());
        let (g, r) = giving_and_receiving(&alloc, &allocated, &mut FirstChoice);
        assert_eq!(g.values().sum::<usize>(), r.values().sum::<usize>());
    }

    #[test]
    fn overload_recheck() {
        let hints: BTreeMap<String, usize> = [("a".to_string(), 2), ("b".to_string(), 2)].into();
        assert!(!service_overloaded(
            &hints,
            Some(&ratios(&[("a", 0.5), ("b", 0.5)]))
        ));
        // Zone a now holds 3/4 of the CPU: needs ceil(4 * 0.75 / 1.2) = 3.
        assert!(service_overloaded(
            &hints,
            Some(&ratios(&[("a", 0.75), ("b", 0.25)]))
        ));
        assert!(service_overloaded(&hints, None));
        assert!(service_overloaded(
            &hints,
            Some(&ratios(&[("a", 0.5), ("c", 0.5)]))
        ));
    }
}
