//! The EndpointSlice reconciler: slice packing, the choice of hint heuristic, and the
//! controller's metrics (semantics.md §5–§6). The sim backend runs this as the controller.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::choice::Chooser;
use crate::model::state::TrafficDistribution;
use crate::model::state::{
    is_ipv6, AddressType, Endpoint, EndpointPort, EndpointSlice, Node, Service, LABEL_ZONE,
    MANAGED_BY_CONTROLLER,
};
use crate::model::version::{FeatureGate, FeatureGates};

use super::topology::{ControllerEvent, HintsDisabledReason, SliceInfo, TopologyCache};
use super::{hints_enabled, trafficdist, valid_traffic_distribution};

/// A Pod selected by a Service, as far as the controller cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    /// `metadata.name`.
    pub name: String,
    /// `spec.nodeName`.
    pub node: Option<String>,
    /// `status.podIP`; a Pod without one gets no endpoint.
    pub ip: Option<String>,
    /// The PodReady condition.
    pub ready: bool,
    /// Whether the Pod has a deletion timestamp.
    pub terminating: bool,
}

/// Counters the upstream reconciler exports, accumulated over syncs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconcilerMetrics {
    /// `endpointslices_desired` (gauge, last sync).
    pub desired_slices: usize,
    /// `endpointslices` (gauge, last sync).
    pub actual_slices: usize,
    /// `endpoints_desired` (gauge, last sync).
    pub desired_endpoints: usize,
    /// Sum of `endpoints_added_per_sync`.
    pub added_per_sync: usize,
    /// Sum of `endpoints_removed_per_sync`.
    pub removed_per_sync: usize,
    /// `endpointslice_changes{operation=create}`.
    pub created: usize,
    /// `endpointslice_changes{operation=update}`.
    pub updated: usize,
    /// `endpointslice_changes{operation=delete}`.
    pub deleted: usize,
    /// Sum of `endpointslices_changed_per_sync` by (topology, traffic_distribution) label.
    pub changed_per_sync: BTreeMap<(String, String), usize>,
    /// `services_count_by_traffic_distribution` (last sync per Service).
    pub services_by_traffic_distribution: BTreeMap<String, usize>,
}

/// The result of one sync of one Service.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncResult {
    /// The Service's controller-managed slices after the sync, in a stable order.
    pub slices: Vec<EndpointSlice>,
    /// Events recorded on the Service.
    pub events: Vec<ControllerEvent>,
    /// Why "Auto" hints were removed, when they were.
    pub hints_disabled: Option<HintsDisabledReason>,
    /// Slices created, updated, deleted in this sync.
    pub changes: (usize, usize, usize),
}

/// The EndpointSlice controller of one cluster.
#[derive(Clone, Debug)]
pub struct Reconciler {
    /// Version and gates.
    pub gates: FeatureGates,
    /// `--max-endpoints-per-slice`.
    pub max_endpoints_per_slice: usize,
    /// The topology cache; present iff the TopologyAwareHints gate is on.
    pub topology_cache: Option<TopologyCache>,
    /// Metrics so far.
    pub metrics: ReconcilerMetrics,
    traffic_distribution_by_service: BTreeMap<String, String>,
    slice_counter: usize,
}

impl Reconciler {
    /// A controller for `gates`, with node ratios from `nodes`.
    pub fn new(gates: FeatureGates, max_endpoints_per_slice: usize, nodes: &[Node]) -> Self {
        let cache = gates
            .enabled(FeatureGate::TopologyAwareHints)
            .then(|| TopologyCache::new(nodes, gates.version()));
        Reconciler {
            gates,
            max_endpoints_per_slice: max_endpoints_per_slice.max(1),
            topology_cache: cache,
            metrics: ReconcilerMetrics::default(),
            traffic_distribution_by_service: BTreeMap::new(),
            slice_counter: 0,
        }
    }

    /// Node add/delete/update: recompute the ratios and return the Services that must be
    /// re-synced because their hints are now overloaded (semantics.md §3.6).
    pub fn set_nodes(&mut self, nodes: &[Node]) -> Vec<String> {
        let version = self.gates.version();
        match &mut self.topology_cache {
            Some(cache) => {
                cache.set_nodes(nodes, version);
                cache.overloaded_services()
            }
            None => Vec::new(),
        }
    }

    /// Whether a node update triggers `SetNodes`: Ready changed, or (1.28+) the zone label.
    pub fn node_update_triggers(&self, old: &Node, new: &Node) -> bool {
        old.ready != new.ready
            || (self.gates.version().minor >= 28
                && old.labels.get(LABEL_ZONE) != new.labels.get(LABEL_ZONE))
    }

    /// One sync of `service`: desired endpoints from `pods`, packed into `existing` slices
    /// (the Service's controller-managed slices), hinted by the applicable heuristic.
    pub fn sync(
        &mut self,
        service: &Service,
        pods: &[Pod],
        existing: &[EndpointSlice],
        nodes: &[Node],
        chooser: &mut dyn Chooser,
    ) -> SyncResult {
        let key = service.key();
        let ports = endpoint_ports(service);
        let mut all_slices = Vec::new();
        let mut events = Vec::new();
        let mut hints_disabled = None;
        let mut changes = (0, 0, 0);
        let mut desired_slices = 0;
        let mut actual_slices = 0;
        let mut desired_endpoints = 0;
        let mut td_label = None;

        let address_types: BTreeSet<AddressType> = pods
            .iter()
            .filter_map(|p| p.ip.as_deref())
            .map(address_type_of)
            .chain(existing.iter().map(|s| s.address_type))
            .chain(std::iter::once(AddressType::IPv4))
            .collect();
        for address_type in address_types {
            let desired: Vec<Endpoint> = pods
                .iter()
                .filter(|p| p.ip.as_deref().map(address_type_of) == Some(address_type))
                .filter_map(|p| self.pod_to_endpoint(p, service, nodes))
                .collect();
            let existing_of_type: Vec<EndpointSlice> = existing
                .iter()
                .filter(|s| s.address_type == address_type)
                .cloned()
                .collect();
            if desired.is_empty()
                && existing_of_type.is_empty()
                && address_type != AddressType::IPv4
            {
                continue;
            }
            let outcome = self.sync_address_type(
                service,
                &ports,
                address_type,
                desired,
                existing_of_type,
                chooser,
            );
            desired_slices += outcome.desired_slices;
            actual_slices += outcome.actual_slices;
            desired_endpoints += outcome.desired_endpoints;
            events.extend(outcome.events);
            if outcome.hints_disabled.is_some() {
                hints_disabled = outcome.hints_disabled;
            }
            changes.0 += outcome.changes.0;
            changes.1 += outcome.changes.1;
            changes.2 += outcome.changes.2;
            td_label = outcome.td_label;
            all_slices.extend(outcome.slices);
        }

        self.metrics.desired_slices = desired_slices;
        self.metrics.actual_slices = actual_slices;
        self.metrics.desired_endpoints = desired_endpoints;
        match td_label {
            Some(td) => {
                self.traffic_distribution_by_service.insert(key, td);
            }
            None => {
                self.traffic_distribution_by_service.remove(&key);
            }
        }
        let mut by_td = BTreeMap::new();
        for td in self.traffic_distribution_by_service.values() {
            *by_td.entry(td.clone()).or_insert(0) += 1;
        }
        self.metrics.services_by_traffic_distribution = by_td;
        all_slices.sort_by(|a, b| a.name.cmp(&b.name));
        SyncResult {
            slices: all_slices,
            events,
            hints_disabled,
            changes,
        }
    }

    fn pod_to_endpoint(&self, pod: &Pod, service: &Service, nodes: &[Node]) -> Option<Endpoint> {
        pod_to_endpoint(pod, service, nodes, self.gates.version())
    }

    fn sync_address_type(
        &mut self,
        service: &Service,
        ports: &[EndpointPort],
        address_type: AddressType,
        desired: Vec<Endpoint>,
        existing: Vec<EndpointSlice>,
        chooser: &mut dyn Chooser,
    ) -> AddressTypeOutcome {
        let key = service.key();
        // Slices whose ports differ from the desired ones belong to another port mapping
        // that is no longer desired: they are deleted.
        let (same_ports, other_ports): (Vec<EndpointSlice>, Vec<EndpointSlice>) =
            existing.into_iter().partition(|s| s.ports == ports);
        let desired_count = desired.len();
        let mut packed = if desired.is_empty() {
            Packing {
                to_create: Vec::new(),
                to_update: Vec::new(),
                to_delete: same_ports.clone(),
                unchanged: Vec::new(),
                added: 0,
                removed: same_ports.iter().map(|s| s.endpoints.len()).sum(),
            }
        } else {
            self.pack(service, ports, address_type, desired, same_ports.clone())
        };
        let existing_len = same_ports.len() + other_ports.len();
        let mut slices_metric = if desired_count > 0 {
            same_ports.len() + packed.to_create.len() - packed.to_delete.len()
        } else {
            0
        };
        let mut desired_slices = num_desired_slices(desired_count, self.max_endpoints_per_slice);
        packed.to_delete.extend(other_ports);

        // A Service with no endpoints keeps one placeholder slice without endpoints or ports.
        if existing_len == packed.to_delete.len() && packed.to_create.is_empty() {
            let placeholder = self.new_slice(service, Vec::new(), address_type);
            let reusable = packed.to_delete.len() == 1
                && packed.to_delete[0].endpoints.is_empty()
                && packed.to_delete[0].ports.is_empty();
            if reusable {
                let kept = packed.to_delete.remove(0);
                packed.unchanged.push(kept);
            } else {
                packed.to_create.push(placeholder);
            }
            slices_metric = 1;
            desired_slices = 0;
        }
        self.metrics.added_per_sync += packed.added;
        self.metrics.removed_per_sync += packed.removed;

        let mut info = SliceInfo {
            to_create: packed.to_create,
            to_update: packed.to_update,
            unchanged: packed.unchanged,
        };
        let td = service.traffic_distribution.as_ref();
        let auto = hints_enabled(&service.annotations, &self.gates);
        let use_td = valid_traffic_distribution(td, &self.gates) && !auto;
        let mut events = Vec::new();
        let mut hints_disabled = None;
        match (&mut self.topology_cache, auto) {
            (Some(cache), true) => {
                let result = cache.add_hints(&key, address_type, info, chooser);
                info = result.slices;
                events.extend(result.events);
                hints_disabled = result.disabled;
            }
            (cache, _) => {
                if let Some(cache) = cache {
                    if cache.has_populated_hints(&key) {
                        events.push(ControllerEvent {
                            event_type: "Warning",
                            reason: "TopologyAwareHintsDisabled",
                            message: super::topology::with_address_type(
                                &HintsDisabledReason::AnnotationDisabled.message(),
                                address_type,
                            ),
                        });
                    }
                    cache.remove_hints(&key, address_type);
                }
                if !use_td {
                    info.remove_hints();
                }
            }
        }
        if use_td {
            info = trafficdist::reconcile_hints(td, self.gates.version(), info);
        }

        // finalize: recycle slices to delete as updates of slices to create.
        let SliceInfo {
            mut to_create,
            mut to_update,
            unchanged,
        } = info;
        let mut to_delete = packed.to_delete;
        while !to_create.is_empty() && !to_delete.is_empty() {
            let recycled = to_delete.remove(0);
            if let Some(mut slice) = to_create.pop() {
                slice.name = recycled.name;
                to_update.push(slice);
            }
        }
        let changed = to_create.len() + to_update.len() + to_delete.len();
        self.metrics.created += to_create.len();
        self.metrics.updated += to_update.len();
        self.metrics.deleted += to_delete.len();
        let topology_label = if self.topology_cache.is_some() && auto {
            "Auto"
        } else {
            "Disabled"
        };
        let td_label = if use_td {
            td.map(TrafficDistribution::to_string).unwrap_or_default()
        } else {
            String::new()
        };
        *self
            .metrics
            .changed_per_sync
            .entry((topology_label.to_string(), td_label.clone()))
            .or_insert(0) += changed;

        let changes = (to_create.len(), to_update.len(), to_delete.len());
        let mut slices = unchanged;
        slices.extend(to_update);
        slices.extend(to_create);
        AddressTypeOutcome {
            slices,
            events,
            hints_disabled,
            changes,
            desired_slices,
            actual_slices: slices_metric,
            desired_endpoints: desired_count,
            td_label: use_td.then_some(td_label),
        }
    }

    /// `reconcileByPortMapping`.
    fn pack(
        &mut self,
        service: &Service,
        ports: &[EndpointPort],
        address_type: AddressType,
        desired: Vec<Endpoint>,
        existing: Vec<EndpointSlice>,
    ) -> Packing {
        let max = self.max_endpoints_per_slice;
        let mut remaining: Vec<Endpoint> = desired;
        let mut to_update: Vec<EndpointSlice> = Vec::new();
        let mut to_delete: Vec<EndpointSlice> = Vec::new();
        let mut unchanged: Vec<EndpointSlice> = Vec::new();
        let mut removed = 0;

        // 1. Keep endpoints still desired (in their desired form), drop the rest.
        for slice in existing {
            let mut kept = Vec::new();
            let mut updated = false;
            for endpoint in &slice.endpoints {
                if let Some(pos) = remaining.iter().position(|d| same_endpoint(d, endpoint)) {
                    let wanted = remaining.remove(pos);
                    if !equal_beyond_hash(&wanted, endpoint) {
                        updated = true;
                    }
                    // The desired version carries no hints; unchanged slices keep theirs.
                    let mut wanted = wanted;
                    wanted.hints = endpoint.hints.clone();
                    kept.push(wanted);
                }
            }
            if updated || kept.len() != slice.endpoints.len() {
                removed += slice.endpoints.len() - kept.len();
                if kept.is_empty() {
                    to_delete.push(slice);
                } else {
                    let mut copy = slice.clone();
                    // Endpoints taken from the desired set carry no hints (upstream keeps
                    // the desired object, which has none).
                    for e in &mut kept {
                        e.hints = None;
                    }
                    copy.endpoints = kept;
                    to_update.push(copy);
                }
            } else {
                unchanged.push(slice);
            }
        }
        let added = remaining.len();

        // 2. Fill slices already being updated, fullest first.
        if !remaining.is_empty() && !to_update.is_empty() {
            to_update.sort_by_key(|s| std::cmp::Reverse(s.endpoints.len()));
            for slice in &mut to_update {
                while !remaining.is_empty() && slice.endpoints.len() < max {
                    slice.endpoints.push(remaining.remove(0));
                }
            }
        }

        // 3. Fit the rest into the unchanged slice closest to full, or new slices.
        let mut to_create = Vec::new();
        while !remaining.is_empty() {
            let mut fill = None;
            if remaining.len() < max && !unchanged.is_empty() {
                fill = slice_to_fill(&unchanged, remaining.len(), max);
            }
            let (mut slice, existing_slice) = match fill {
                Some(index) => (unchanged.remove(index), true),
                None => (self.new_slice(service, ports.to_vec(), address_type), false),
            };
            while !remaining.is_empty() && slice.endpoints.len() < max {
                slice.endpoints.push(remaining.remove(0));
            }
            if existing_slice {
                to_update.push(slice);
            } else {
                to_create.push(slice);
            }
        }
        Packing {
            to_create,
            to_update,
            to_delete,
            unchanged,
            added,
            removed,
        }
    }

    fn new_slice(
        &mut self,
        service: &Service,
        ports: Vec<EndpointPort>,
        address_type: AddressType,
    ) -> EndpointSlice {
        self.slice_counter += 1;
        EndpointSlice {
            namespace: service.namespace.clone(),
            name: format!("{}-{:05}", service.name, self.slice_counter),
            service_name: Some(service.name.clone()),
            managed_by: Some(MANAGED_BY_CONTROLLER.to_string()),
            address_type,
            ports,
            endpoints: Vec::new(),
        }
    }

    /// The metric value of `endpointslices_changed_per_sync` for one label pair.
    pub fn changed_per_sync(&self, topology: &str, traffic_distribution: &str) -> usize {
        self.metrics
            .changed_per_sync
            .get(&(topology.to_string(), traffic_distribution.to_string()))
            .copied()
            .unwrap_or(0)
    }
}

/// `podToEndpoint` (1.22+ conditions; 1.21 writes only `ready` and skips terminating Pods).
/// `None` when the Pod gets no endpoint (no IP, or its node is unknown and not-ready
/// addresses are not published).
pub fn pod_to_endpoint(
    pod: &Pod,
    service: &Service,
    nodes: &[Node],
    version: crate::model::version::KubeVersion,
) -> Option<Endpoint> {
    let ip = pod.ip.clone()?;
    let minor = version.minor;
    if pod.terminating && minor < 22 {
        return None;
    }
    let node = pod
        .node
        .as_deref()
        .and_then(|name| nodes.iter().find(|n| n.name == name));
    if node.is_none() && !service.publish_not_ready_addresses {
        return None;
    }
    let serving = pod.ready;
    let ready = service.publish_not_ready_addresses || (serving && !pod.terminating);
    Some(Endpoint {
        addresses: vec![ip],
        ready: Some(ready),
        serving: (minor >= 22).then_some(serving),
        terminating: (minor >= 22).then_some(pod.terminating),
        node_name: pod.node.clone(),
        zone: node.and_then(|n| n.zone()).map(str::to_string),
        hints: None,
        topology: Default::default(),
        pod: Some(pod.name.clone()),
    })
}

struct Packing {
    to_create: Vec<EndpointSlice>,
    to_update: Vec<EndpointSlice>,
    to_delete: Vec<EndpointSlice>,
    unchanged: Vec<EndpointSlice>,
    added: usize,
    removed: usize,
}

struct AddressTypeOutcome {
    slices: Vec<EndpointSlice>,
    events: Vec<ControllerEvent>,
    hints_disabled: Option<HintsDisabledReason>,
    changes: (usize, usize, usize),
    desired_slices: usize,
    actual_slices: usize,
    desired_endpoints: usize,
    td_label: Option<String>,
}

/// `getSliceToFill`: the unchanged slice that would end closest to full without overflowing.
fn slice_to_fill(slices: &[EndpointSlice], count: usize, max: usize) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (index, slice) in slices.iter().enumerate() {
        let len = slice.endpoints.len();
        if len + count > max {
            continue;
        }
        let gap = max - (len + count);
        if gap == 0 {
            return Some(index);
        }
        if best.is_none_or(|(_, g)| gap < g) {
            best = Some((index, gap));
        }
    }
    best.map(|(index, _)| index)
}

/// `numDesiredSlices`.
pub fn num_desired_slices(endpoints: usize, max: usize) -> usize {
    if endpoints == 0 {
        0
    } else {
        endpoints.div_ceil(max.max(1))
    }
}

/// The slice ports for a Service: one per Service port (target port = port).
pub fn endpoint_ports(service: &Service) -> Vec<EndpointPort> {
    service
        .ports
        .iter()
        .map(|p| EndpointPort {
            name: Some(p.name.clone()),
            port: Some(p.port),
            protocol: p.protocol.clone(),
        })
        .collect()
}

fn address_type_of(ip: &str) -> AddressType {
    if is_ipv6(ip) {
        AddressType::IPv6
    } else {
        AddressType::IPv4
    }
}

/// The endpoint hash: same address set and target.
fn same_endpoint(a: &Endpoint, b: &Endpoint) -> bool {
    a.addresses == b.addresses && a.pod == b.pod
}

/// `EndpointsEqualBeyondHash`: node, zone and conditions (hints are not compared).
fn equal_beyond_hash(a: &Endpoint, b: &Endpoint) -> bool {
    a.node_name == b.node_name
        && a.zone == b.zone
        && a.ready == b.ready
        && a.serving == b.serving
        && a.terminating == b.terminating
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::choice::FirstChoice;
    use crate::model::state::ServicePort;
    use crate::model::version::KubeVersion;

    fn service() -> Service {
        Service {
            selector: Some(BTreeMap::new()),
            cluster_ip: Some("10.96.0.10".into()),
            ports: vec![ServicePort {
                name: "http".into(),
                port: 80,
                protocol: "TCP".into(),
                node_port: 0,
            }],
            ..Service::new("ns", "svc")
        }
    }

    fn node(name: &str) -> Node {
        Node {
            name: name.into(),
            labels: [(LABEL_ZONE.to_string(), "a".to_string())].into(),
            allocatable_cpu_millis: Some(1000),
            ready: true,
            kubelet_version: None,
        }
    }

    fn pods(n: usize) -> Vec<Pod> {
        (0..n)
            .map(|i| Pod {
                name: format!("pod-{i}"),
                node: Some("n".into()),
                ip: Some(format!("10.0.{}.{}", i / 250, i % 250 + 1)),
                ready: true,
                terminating: false,
            })
            .collect()
    }

    fn sizes(slices: &[EndpointSlice]) -> Vec<usize> {
        let mut s: Vec<usize> = slices.iter().map(|s| s.endpoints.len()).collect();
        s.sort_unstable_by(|a, b| b.cmp(a));
        s
    }

    #[test]
    fn packing_without_rebalancing() {
        let nodes = vec![node("n")];
        for (max, expected) in [
            (50, vec![50, 50, 50, 50, 50]),
            (80, vec![80, 80, 80, 10]),
            (150, vec![150, 100]),
            (250, vec![250]),
            (500, vec![250]),
        ] {
            let gates = FeatureGates::defaults(KubeVersion::new(33));
            let mut r = Reconciler::new(gates, max, &nodes);
            let result = r.sync(&service(), &pods(250), &[], &nodes, &mut FirstChoice);
            assert_eq!(sizes(&result.slices), expected, "max {max}");
        }
        // 300 endpoints with two existing slices of 74: no top-up, new slices [100, 52].
        let all = pods(300);
        let mut r = Reconciler::new(FeatureGates::defaults(KubeVersion::new(33)), 74, &nodes);
        let seeded = r.sync(&service(), &all[..148], &[], &nodes, &mut FirstChoice);
        assert_eq!(sizes(&seeded.slices), vec![74, 74]);
        r.max_endpoints_per_slice = 100;
        let grown = r.sync(&service(), &all, &seeded.slices, &nodes, &mut FirstChoice);
        assert_eq!(sizes(&grown.slices), vec![100, 74, 74, 52]);
        assert_eq!(grown.changes, (2, 0, 0));
    }

    fn zoned(name: &str, zone: &str) -> Node {
        Node {
            name: name.into(),
            labels: [(LABEL_ZONE.to_string(), zone.to_string())].into(),
            allocatable_cpu_millis: Some(1000),
            ready: true,
            kubelet_version: None,
        }
    }

    fn pod_on(i: usize, node: &str) -> Pod {
        Pod {
            name: format!("p{i}"),
            node: Some(node.into()),
            ip: Some(format!("10.1.0.{}", i + 1)),
            ready: true,
            terminating: false,
        }
    }

    fn zone_counts(slices: &[EndpointSlice]) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for e in slices.iter().flat_map(|s| s.endpoints.iter()) {
            for z in e.hints.iter().flat_map(|h| h.for_zones.iter()) {
                *m.entry(z.clone()).or_insert(0) += 1;
            }
        }
        m
    }

    #[test]
    fn auto_hints_survive_unchanged_syncs_and_go_when_the_annotation_does() {
        let nodes = vec![zoned("a1", "a"), zoned("b1", "b")];
        let mut svc = service();
        svc.annotations.insert(
            crate::model::state::ANNOTATION_TOPOLOGY_MODE.into(),
            "Auto".into(),
        );
        let pods = vec![
            pod_on(0, "a1"),
            pod_on(1, "a1"),
            pod_on(2, "b1"),
            pod_on(3, "b1"),
        ];
        let mut r = Reconciler::new(FeatureGates::defaults(KubeVersion::new(33)), 100, &nodes);
        let first = r.sync(&svc, &pods, &[], &nodes, &mut FirstChoice);
        assert_eq!(
            zone_counts(&first.slices),
            [("a".into(), 2), ("b".into(), 2)].into()
        );
        assert_eq!(
            first.events[0].message,
            "Topology Aware Hints has been enabled, addressType: IPv4"
        );
        // Nothing changed: nothing is written.
        let again = r.sync(&svc, &pods, &first.slices, &nodes, &mut FirstChoice);
        assert_eq!(again.changes, (0, 0, 0));
        assert!(again.events.is_empty());
        // The annotation goes: hints are removed with a Warning.
        svc.annotations.clear();
        let off = r.sync(&svc, &pods, &again.slices, &nodes, &mut FirstChoice);
        assert!(zone_counts(&off.slices).is_empty());
        assert_eq!(off.changes, (0, 1, 0));
        assert_eq!(
            off.events[0].message,
            "Topology Aware Hints has been disabled, addressType: IPv4"
        );
    }

    #[test]
    fn node_changes_recheck_overload() {
        let mut nodes = vec![zoned("a1", "a"), zoned("b1", "b")];
        let mut svc = service();
        svc.annotations.insert(
            crate::model::state::ANNOTATION_TOPOLOGY_MODE.into(),
            "Auto".into(),
        );
        let pods = vec![
            pod_on(0, "a1"),
            pod_on(1, "a1"),
            pod_on(2, "b1"),
            pod_on(3, "b1"),
        ];
        let mut r = Reconciler::new(FeatureGates::defaults(KubeVersion::new(33)), 100, &nodes);
        r.sync(&svc, &pods, &[], &nodes, &mut FirstChoice);
        // Zone a grows to 3/4 of the CPU: 2 hints < ceil(4 * 0.75 / 1.2) = 3.
        let before = nodes[0].clone();
        nodes[0].allocatable_cpu_millis = Some(3000);
        assert!(
            !r.node_update_triggers(&before, &nodes[0]),
            "CPU-only changes do not trigger"
        );
        assert_eq!(r.set_nodes(&nodes), vec!["ns/svc".to_string()]);
        // A zone relabel triggers from 1.28 only.
        let mut moved = nodes[1].clone();
        moved.labels.insert(LABEL_ZONE.into(), "c".into());
        assert!(r.node_update_triggers(&nodes[1], &moved));
        let old = Reconciler::new(FeatureGates::defaults(KubeVersion::new(27)), 100, &nodes);
        assert!(!old.node_update_triggers(&nodes[1], &moved));
    }

    #[test]
    fn zone_less_endpoint_removes_every_hint() {
        let mut nodes = vec![zoned("a1", "a"), zoned("b1", "b")];
        nodes.push(Node {
            labels: BTreeMap::new(),
            ..zoned("x", "")
        });
        let mut svc = service();
        svc.annotations.insert(
            crate::model::state::ANNOTATION_TOPOLOGY_MODE.into(),
            "Auto".into(),
        );
        // Node x has no zone: the cluster-wide ratios are gone first.
        let mut r = Reconciler::new(FeatureGates::defaults(KubeVersion::new(33)), 100, &nodes);
        let pods = vec![pod_on(0, "a1"), pod_on(1, "b1"), pod_on(2, "x")];
        let result = r.sync(&svc, &pods, &[], &nodes, &mut FirstChoice);
        assert_eq!(
            result.hints_disabled,
            Some(HintsDisabledReason::InsufficientNodeInfo)
        );
        // With ratios from the zoned nodes only (x not ready), endpoints on x have no zone.
        nodes[2].ready = false;
        let mut r = Reconciler::new(FeatureGates::defaults(KubeVersion::new(33)), 100, &nodes);
        let pods = vec![
            pod_on(0, "a1"),
            pod_on(1, "a1"),
            pod_on(2, "b1"),
            pod_on(3, "b1"),
            pod_on(4, "x"),
            pod_on(5, "x"),
        ];
        let result = r.sync(&svc, &pods, &[], &nodes, &mut FirstChoice);
        assert_eq!(
            result.hints_disabled,
            Some(HintsDisabledReason::NoZoneSpecified)
        );
        assert!(zone_counts(&result.slices).is_empty());
    }

    #[test]
    fn placeholder_for_a_service_without_endpoints() {
        let nodes = vec![node("n")];
        let mut r = Reconciler::new(FeatureGates::defaults(KubeVersion::new(33)), 100, &nodes);
        let first = r.sync(&service(), &[], &[], &nodes, &mut FirstChoice);
        assert_eq!(first.slices.len(), 1);
        assert!(first.slices[0].endpoints.is_empty() && first.slices[0].ports.is_empty());
        let again = r.sync(&service(), &[], &first.slices, &nodes, &mut FirstChoice);
        assert_eq!(again.changes, (0, 0, 0));
    }
}
