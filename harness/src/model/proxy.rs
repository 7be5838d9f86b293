//! The kube-proxy side: which endpoints each node programs for a Service port, per version
//! family (semantics.md §1, §2.2, §7–§9).

use std::collections::{BTreeMap, HashMap};

use crate::model::state::{
    ClusterState, Endpoint, Node, Service, ServicePort, TrafficPolicy,
    ANNOTATION_TOPOLOGY_AWARE_HINTS, ANNOTATION_TOPOLOGY_MODE, LABEL_HOSTNAME, LABEL_REGION,
    LABEL_ZONE,
};
use crate::model::version::{FeatureGate, FeatureGates};

/// An endpoint as kube-proxy holds it after ingesting the slices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyEndpoint {
    /// `addresses[0]`.
    pub ip: String,
    /// The slice port number.
    pub port: u16,
    /// Ready (unset = ready).
    pub ready: bool,
    /// Serving (unset = serving).
    pub serving: bool,
    /// Terminating (unset = not terminating).
    pub terminating: bool,
    /// Whether the endpoint runs on the proxy's node.
    pub is_local: bool,
    /// The endpoint's `nodeName`.
    pub node_name: Option<String>,
    /// `hints.forZones` names (empty = no zone hints).
    pub zone_hints: Vec<String>,
    /// `hints.forNodes` names, read only with PreferSameTrafficDistribution (empty = none).
    pub node_hints: Vec<String>,
    /// Topology labels for `topologyKeys` (hostname, zone, region of the endpoint).
    pub topology: BTreeMap<String, String>,
}

impl ProxyEndpoint {
    /// kube-proxy's key: `IP:port`, `[IP]:port` for IPv6.
    pub fn key(&self) -> String {
        if self.ip.contains(':') {
            format!("[{}]:{}", self.ip, self.port)
        } else {
            format!("{}:{}", self.ip, self.port)
        }
    }
}

/// The Service as kube-proxy sees it for one port.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ProxyService {
    /// `internalTrafficPolicy: Local`.
    pub internal_local: bool,
    /// `externalTrafficPolicy: Local`.
    pub external_local: bool,
    /// A node port, LB ingress IPs or external IPs exist.
    pub externally_accessible: bool,
    /// The topology annotation value as kube-proxy reads it (`None` when unset).
    pub annotation: Option<String>,
    /// `spec.topologyKeys`.
    pub topology_keys: Vec<String>,
}

impl ProxyService {
    /// The view of `service` for `port` in the version of `gates`.
    pub fn of(service: &Service, port: &ServicePort, gates: &FeatureGates) -> Self {
        let minor = gates.version().minor;
        let annotation = service
            .annotations
            .get(ANNOTATION_TOPOLOGY_AWARE_HINTS)
            .or_else(|| {
                (minor >= 27)
                    .then(|| service.annotations.get(ANNOTATION_TOPOLOGY_MODE))
                    .flatten()
            })
            .cloned();
        let externally_accessible = service.externally_accessible(port);
        ProxyService {
            internal_local: service.internal_traffic_policy == TrafficPolicy::Local
                && gates.enabled(FeatureGate::ServiceInternalTrafficPolicy),
            external_local: service.external_traffic_policy == TrafficPolicy::Local
                && externally_accessible,
            externally_accessible,
            annotation,
            topology_keys: if minor <= 21 {
                service.topology_keys.clone()
            } else {
                Vec::new()
            },
        }
    }

    fn uses_cluster_endpoints(&self) -> bool {
        !self.internal_local || self.externally_accessible
    }

    fn uses_local_endpoints(&self) -> bool {
        self.internal_local || (self.external_local && self.externally_accessible)
    }
}

/// The node a proxy runs on.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ProxyNode {
    /// Node name.
    pub name: String,
    /// Node labels.
    pub labels: BTreeMap<String, String>,
}

impl ProxyNode {
    fn zone(&self) -> &str {
        self.labels
            .get(LABEL_ZONE)
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// Why a set of endpoints was chosen.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteBasis {
    /// Endpoints hinted for this node (PreferSameNode).
    NodeHints,
    /// Endpoints hinted for this node's zone.
    ZoneHints,
    /// Every ready endpoint (no topology).
    AllReady,
    /// No endpoint is ready: serving and terminating ones.
    ServingTerminating,
    /// The first matching `topologyKeys` entry.
    TopologyKey(String),
    /// The set is empty.
    None,
}

impl RouteBasis {
    /// The JSON spelling.
    pub fn as_str(&self) -> String {
        match self {
            RouteBasis::NodeHints => "node-hints".into(),
            RouteBasis::ZoneHints => "zone-hints".into(),
            RouteBasis::AllReady => "all-ready".into(),
            RouteBasis::ServingTerminating => "serving-terminating".into(),
            RouteBasis::TopologyKey(k) => format!("topology-key:{k}"),
            RouteBasis::None => "none".into(),
        }
    }
}

/// What one node's proxy programs for one Service port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Categorized {
    /// Endpoints for cluster traffic; `None` when the Service does not use them.
    pub cluster: Option<Vec<ProxyEndpoint>>,
    /// Endpoints for node-local traffic; `None` when the Service does not use them.
    pub local: Option<Vec<ProxyEndpoint>>,
    /// Every endpoint that gets rules (union of the two).
    pub all_reachable: Vec<ProxyEndpoint>,
    /// Whether the Service has usable endpoints anywhere (else it is rejected, not dropped).
    pub has_any: bool,
    /// Why the cluster set is what it is.
    pub cluster_basis: RouteBasis,
    /// Why the local set is what it is.
    pub local_basis: RouteBasis,
}

impl Categorized {
    /// The set traffic under a `Cluster` policy reaches: the cluster set or, for a Service
    /// whose proxy uses only node-local endpoints for all of its traffic (`cluster` is
    /// `None`: `internalTrafficPolicy: Local` before 1.24), the local set.
    pub fn cluster_path(&self) -> Option<&Vec<ProxyEndpoint>> {
        self.cluster.as_ref().or(self.local.as_ref())
    }
}

/// The code variant kube-proxy runs in a version.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ProxyFamily {
    /// 1.21 `FilterEndpoints` with topologyKeys precedence.
    V1_21,
    /// 1.22 `FilterEndpoints`, hints ignore readiness.
    V1_22,
    /// 1.23 `FilterEndpoints`, readiness-aware hints.
    V1_23,
    /// 1.24–1.26 `CategorizeEndpoints`, annotation Auto/auto.
    V1_24,
    /// 1.27–1.29: any non-disabled annotation.
    V1_27,
    /// 1.30: ServiceTrafficDistribution alpha.
    V1_30,
    /// 1.31–1.32: annotation ignored.
    V1_31,
    /// 1.33+: `topologyModeFromHints`, node hints.
    V1_33,
}

impl ProxyFamily {
    /// The family of a version.
    pub fn of(gates: &FeatureGates) -> Self {
        match gates.version().minor {
            ..=21 => ProxyFamily::V1_21,
            22 => ProxyFamily::V1_22,
            23 => ProxyFamily::V1_23,
            24..=26 => ProxyFamily::V1_24,
            27..=29 => ProxyFamily::V1_27,
            30 => ProxyFamily::V1_30,
            31..=32 => ProxyFamily::V1_31,
            _ => ProxyFamily::V1_33,
        }
    }
}

/// Ingests the slices of `service` for `port` as the proxy on `node` does: endpoints without
/// an address or ports without name/number skipped, merged by `IP:port` (a non-terminating
/// entry replaces a terminating one), sorted by that key as a plain string.
pub fn ingest(
    state: &ClusterState,
    service: &Service,
    port: &ServicePort,
    node: &str,
    gates: &FeatureGates,
) -> Vec<ProxyEndpoint> {
    let node_hints_enabled =
        gates.version().minor >= 33 && gates.enabled(FeatureGate::PreferSameTrafficDistribution);
    let ipv6_service = service
        .cluster_ip
        .as_deref()
        .is_some_and(|ip| ip.contains(':'));
    let needs_topology = gates.version().minor <= 21 && !service.topology_keys.is_empty();
    let node_lookup: HashMap<&str, &Node> = if needs_topology {
        state.nodes.iter().map(|n| (n.name.as_str(), n)).collect()
    } else {
        HashMap::new()
    };
    let mut merged: BTreeMap<String, ProxyEndpoint> = BTreeMap::new();
    for slice in state.slices_of(service) {
        let family_matches = match slice.address_type {
            crate::model::state::AddressType::IPv4 => !ipv6_service,
            crate::model::state::AddressType::IPv6 => ipv6_service,
            crate::model::state::AddressType::Fqdn => false,
        };
        if !family_matches {
            continue;
        }
        for slice_port in &slice.ports {
            let (Some(name), Some(number)) = (&slice_port.name, slice_port.port) else {
                continue;
            };
            if number == 0 || *name != port.name || slice_port.protocol != port.protocol {
                continue;
            }
            for endpoint in &slice.endpoints {
                let Some(ip) = endpoint.addresses.first() else {
                    continue;
                };
                let hints = endpoint.hints.as_ref();
                // Topology labels only matter for topologyKeys (1.17–1.21).
                let topology = if needs_topology {
                    endpoint_topology(endpoint, &node_lookup)
                } else {
                    BTreeMap::new()
                };
                let candidate = ProxyEndpoint {
                    ip: ip.clone(),
                    port: number,
                    ready: endpoint.proxy_ready(),
                    serving: endpoint.proxy_serving(),
                    terminating: endpoint.proxy_terminating(),
                    is_local: endpoint.node_name.as_deref() == Some(node),
                    node_name: endpoint.node_name.clone(),
                    zone_hints: hints.map(|h| h.for_zones.clone()).unwrap_or_default(),
                    node_hints: if node_hints_enabled {
                        hints.map(|h| h.for_nodes.clone()).unwrap_or_default()
                    } else {
                        Vec::new()
                    },
                    topology,
                };
                let key = candidate.key();
                match merged.get(&key) {
                    Some(existing) if !existing.terminating || candidate.terminating => {}
                    _ => {
                        merged.insert(key, candidate);
                    }
                }
            }
        }
    }
    merged.into_values().collect()
}

/// The topology map `topologyKeys` matches against: the endpoint's own (v1beta1 `topology`,
/// v1 `deprecatedTopology`), completed with its node's hostname, zone and region labels.
fn endpoint_topology(
    endpoint: &Endpoint,
    nodes: &HashMap<&str, &Node>,
) -> BTreeMap<String, String> {
    let mut topology = endpoint.topology.clone();
    if let Some(node_name) = &endpoint.node_name {
        let node = nodes.get(node_name.as_str());
        topology
            .entry(LABEL_HOSTNAME.to_string())
            .or_insert_with(|| {
                node.and_then(|n| n.labels.get(LABEL_HOSTNAME).cloned())
                    .unwrap_or_else(|| node_name.clone())
            });
        if let Some(region) = node.and_then(|n| n.region()) {
            topology
                .entry(LABEL_REGION.to_string())
                .or_insert_with(|| region.to_string());
        }
    }
    if let Some(zone) = endpoint.zone() {
        topology
            .entry(LABEL_ZONE.to_string())
            .or_insert_with(|| zone.to_string());
    }
    topology
}

/// Whether hints are honoured by the legacy and 1.24–1.32 variants (gate and annotation).
fn annotation_allows_hints(
    family: ProxyFamily,
    service: &ProxyService,
    gates: &FeatureGates,
) -> bool {
    let tah = gates.enabled(FeatureGate::TopologyAwareHints);
    let annotation = service.annotation.as_deref();
    let auto = matches!(annotation, Some("Auto") | Some("auto"));
    let not_disabled = !matches!(
        annotation,
        None | Some("") | Some("disabled") | Some("Disabled")
    );
    match family {
        ProxyFamily::V1_21 => tah && annotation == Some("auto"),
        ProxyFamily::V1_22 | ProxyFamily::V1_23 | ProxyFamily::V1_24 => tah && auto,
        ProxyFamily::V1_27 => tah && not_disabled,
        // With ServiceTrafficDistribution on, the annotation is ignored and hints are used
        // whenever present.
        ProxyFamily::V1_30 | ProxyFamily::V1_31 => {
            let std = gates.enabled(FeatureGate::ServiceTrafficDistribution);
            std || (tah && not_disabled)
        }
        ProxyFamily::V1_33 => true,
    }
}

/// `canUseTopology` (1.24–1.32): every ready endpoint has zone hints, the node has a zone,
/// and one is hinted for it.
fn can_use_zone_hints(endpoints: &[ProxyEndpoint], node: &ProxyNode, ready_only: bool) -> bool {
    let zone = node.zone();
    if zone.is_empty() {
        return false;
    }
    let mut any_for_zone = false;
    for endpoint in endpoints {
        if ready_only && !endpoint.ready {
            continue;
        }
        if endpoint.zone_hints.is_empty() {
            return false;
        }
        if endpoint.zone_hints.iter().any(|z| z == zone) {
            any_for_zone = true;
        }
    }
    any_for_zone
}

/// The 1.33+ `topologyModeFromHints`.
fn topology_mode(
    endpoints: &[ProxyEndpoint],
    node: &ProxyNode,
    gates: &FeatureGates,
) -> RouteBasis {
    let ready: Vec<&ProxyEndpoint> = endpoints.iter().filter(|e| e.ready).collect();
    if ready.is_empty() {
        return RouteBasis::AllReady;
    }
    if gates.enabled(FeatureGate::PreferSameTrafficDistribution)
        && ready.iter().all(|e| !e.node_hints.is_empty())
        && ready.iter().any(|e| e.node_hints.contains(&node.name))
    {
        return RouteBasis::NodeHints;
    }
    let zone = node.zone();
    if !zone.is_empty()
        && ready.iter().all(|e| !e.zone_hints.is_empty())
        && ready.iter().any(|e| e.zone_hints.iter().any(|z| z == zone))
    {
        return RouteBasis::ZoneHints;
    }
    RouteBasis::AllReady
}

fn available(endpoint: &ProxyEndpoint, mode: &RouteBasis, node: &ProxyNode) -> bool {
    match mode {
        RouteBasis::NodeHints => endpoint.node_hints.contains(&node.name),
        RouteBasis::ZoneHints => endpoint.zone_hints.iter().any(|z| z == node.zone()),
        _ => true,
    }
}

/// `CategorizeEndpoints` for every version: the cluster and local endpoint sets of one node.
pub fn categorize(
    endpoints: &[ProxyEndpoint],
    service: &ProxyService,
    node: &ProxyNode,
    gates: &FeatureGates,
) -> Categorized {
    let family = ProxyFamily::of(gates);
    match family {
        ProxyFamily::V1_21 | ProxyFamily::V1_22 | ProxyFamily::V1_23 => {
            categorize_legacy(endpoints, service, node, gates)
        }
        _ => categorize_modern(endpoints, service, node, gates, family),
    }
}

fn pte_enabled(gates: &FeatureGates) -> bool {
    gates.version().minor >= 22 && gates.enabled(FeatureGate::ProxyTerminatingEndpoints)
}

fn categorize_modern(
    endpoints: &[ProxyEndpoint],
    service: &ProxyService,
    node: &ProxyNode,
    gates: &FeatureGates,
    family: ProxyFamily,
) -> Categorized {
    let pte = pte_enabled(gates);
    let mut cluster = None;
    let mut cluster_basis = RouteBasis::None;
    let mut has_any = false;
    let mut topology_used = false;
    if service.uses_cluster_endpoints() {
        let mode = if family == ProxyFamily::V1_33 {
            topology_mode(endpoints, node, gates)
        } else if annotation_allows_hints(family, service, gates)
            && can_use_zone_hints(endpoints, node, true)
        {
            RouteBasis::ZoneHints
        } else {
            RouteBasis::AllReady
        };
        topology_used = mode != RouteBasis::AllReady;
        let mut set: Vec<ProxyEndpoint> = endpoints
            .iter()
            .filter(|e| e.ready && available(e, &mode, node))
            .cloned()
            .collect();
        cluster_basis = mode;
        if set.is_empty() && pte {
            set = endpoints
                .iter()
                .filter(|e| e.serving && e.terminating)
                .cloned()
                .collect();
            cluster_basis = RouteBasis::ServingTerminating;
        }
        if set.is_empty() {
            cluster_basis = RouteBasis::None;
        } else {
            has_any = true;
        }
        cluster = Some(set);
    }
    if !service.uses_local_endpoints() {
        let all = cluster.clone().unwrap_or_default();
        return Categorized {
            cluster,
            local: None,
            all_reachable: all,
            has_any,
            cluster_basis,
            local_basis: RouteBasis::None,
        };
    }
    let (local, local_basis, serving_terminating, any) = local_set(endpoints, pte);
    has_any |= any;
    let all_reachable = match &cluster {
        None => local.clone(),
        Some(cluster) if !topology_used && !serving_terminating => cluster.clone(),
        Some(cluster) => union(cluster, &local),
    };
    Categorized {
        cluster,
        local: Some(local),
        all_reachable,
        has_any,
        cluster_basis,
        local_basis,
    }
}

/// The local set: local ready endpoints, else local serving+terminating ones (when the proxy
/// falls back to them), else empty. Also reports whether any endpoint is usable anywhere.
fn local_set(
    endpoints: &[ProxyEndpoint],
    pte: bool,
) -> (Vec<ProxyEndpoint>, RouteBasis, bool, bool) {
    let mut has_any = false;
    let mut local_ready = false;
    let mut local_st = false;
    for e in endpoints {
        if e.ready {
            has_any = true;
            local_ready |= e.is_local;
        } else if pte && e.serving && e.terminating {
            has_any = true;
            local_st |= e.is_local;
        }
    }
    if local_ready {
        let set = endpoints
            .iter()
            .filter(|e| e.is_local && e.ready)
            .cloned()
            .collect();
        (set, RouteBasis::AllReady, false, has_any)
    } else if local_st {
        let set = endpoints
            .iter()
            .filter(|e| e.is_local && e.serving && e.terminating)
            .cloned()
            .collect();
        (set, RouteBasis::ServingTerminating, true, has_any)
    } else {
        (Vec::new(), RouteBasis::None, false, has_any)
    }
}

fn union(a: &[ProxyEndpoint], b: &[ProxyEndpoint]) -> Vec<ProxyEndpoint> {
    let mut map: BTreeMap<String, ProxyEndpoint> = BTreeMap::new();
    for e in a.iter().chain(b.iter()) {
        map.insert(e.key(), e.clone());
    }
    map.into_values().collect()
}

/// The outcome of the legacy `FilterEndpoints` (1.21–1.23): the filtered list, in input order,
/// before the proxier drops unready endpoints, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyFilter {
    /// The filtered endpoints.
    pub endpoints: Vec<ProxyEndpoint>,
    /// What filtered them.
    pub basis: RouteBasis,
    /// Whether internalTrafficPolicy Local selected node-local endpoints.
    pub internal_local: bool,
}

/// `FilterEndpoints` of 1.21–1.23 (semantics.md §8.6–§8.8).
pub fn filter_endpoints_legacy(
    endpoints: &[ProxyEndpoint],
    service: &ProxyService,
    node: &ProxyNode,
    gates: &FeatureGates,
) -> LegacyFilter {
    let family = ProxyFamily::of(gates);
    let all = |basis| LegacyFilter {
        endpoints: endpoints.to_vec(),
        basis,
        internal_local: false,
    };
    if service.external_local {
        return all(RouteBasis::AllReady);
    }
    if family == ProxyFamily::V1_21 {
        if !gates.enabled(FeatureGate::EndpointSliceProxying) {
            return all(RouteBasis::AllReady);
        }
        if gates.enabled(FeatureGate::ServiceTopology) {
            let (filtered, key) =
                topology_keys_filter(&node.labels, &service.topology_keys, endpoints);
            return LegacyFilter {
                endpoints: filtered,
                basis: key
                    .map(RouteBasis::TopologyKey)
                    .unwrap_or(RouteBasis::AllReady),
                internal_local: false,
            };
        }
    }
    if service.internal_local {
        return LegacyFilter {
            endpoints: endpoints.iter().filter(|e| e.is_local).cloned().collect(),
            basis: RouteBasis::AllReady,
            internal_local: true,
        };
    }
    if !annotation_allows_hints(family, service, gates) {
        return all(RouteBasis::AllReady);
    }
    let zone = node.zone();
    if zone.is_empty() {
        return all(RouteBasis::AllReady);
    }
    let ready_only = family == ProxyFamily::V1_23;
    let mut filtered = Vec::new();
    for endpoint in endpoints {
        if ready_only && !endpoint.ready {
            continue;
        }
        if endpoint.zone_hints.is_empty() {
            return all(RouteBasis::AllReady);
        }
        if endpoint.zone_hints.iter().any(|z| z == zone) {
            filtered.push(endpoint.clone());
        }
    }
    if filtered.is_empty() {
        return all(RouteBasis::AllReady);
    }
    LegacyFilter {
        endpoints: filtered,
        basis: RouteBasis::ZoneHints,
        internal_local: false,
    }
}

fn categorize_legacy(
    endpoints: &[ProxyEndpoint],
    service: &ProxyService,
    node: &ProxyNode,
    gates: &FeatureGates,
) -> Categorized {
    let filter = filter_endpoints_legacy(endpoints, service, node, gates);
    let ready: Vec<ProxyEndpoint> = filter
        .endpoints
        .iter()
        .filter(|e| e.ready)
        .cloned()
        .collect();
    let basis = if ready.is_empty() {
        RouteBasis::None
    } else {
        filter.basis.clone()
    };
    // Before 1.24 `internalTrafficPolicy: Local` filters the endpoints for all of the
    // Service's traffic, NodePort and LoadBalancer traffic under `externalTrafficPolicy:
    // Cluster` included: the Service only uses local endpoints, for every Service type.
    if filter.internal_local {
        let has_any = endpoints.iter().any(|e| e.ready);
        return Categorized {
            cluster: None,
            local: Some(ready.clone()),
            all_reachable: ready,
            has_any,
            cluster_basis: RouteBasis::None,
            local_basis: basis,
        };
    }
    if service.external_local {
        let pte = pte_enabled(gates);
        let (local, local_basis, _, _) = local_set(endpoints, pte);
        let has_any = !ready.is_empty();
        let all_reachable = union(&ready, &local);
        return Categorized {
            cluster: Some(ready),
            local: Some(local),
            all_reachable,
            has_any,
            cluster_basis: basis,
            local_basis,
        };
    }
    Categorized {
        has_any: !ready.is_empty(),
        all_reachable: ready.clone(),
        cluster: Some(ready),
        local: None,
        cluster_basis: basis,
        local_basis: RouteBasis::None,
    }
}

/// `FilterTopologyEndpoint` / `deprecatedTopologyFilter` (1.17–1.21): the endpoints matching
/// the first `topologyKeys` entry that matches any, and that key (`"*"` included).
pub fn topology_keys_filter(
    node_labels: &BTreeMap<String, String>,
    keys: &[String],
    endpoints: &[ProxyEndpoint],
) -> (Vec<ProxyEndpoint>, Option<String>) {
    if keys.is_empty() {
        return (endpoints.to_vec(), None);
    }
    if node_labels.is_empty() {
        return if keys.last().map(String::as_str) == Some("*") {
            (endpoints.to_vec(), Some("*".to_string()))
        } else {
            (Vec::new(), None)
        };
    }
    for key in keys {
        if key == "*" {
            return (endpoints.to_vec(), Some(key.clone()));
        }
        let Some(value) = node_labels.get(key) else {
            continue;
        };
        let matched: Vec<ProxyEndpoint> = endpoints
            .iter()
            .filter(|e| e.topology.get(key) == Some(value))
            .cloned()
            .collect();
        if !matched.is_empty() {
            return (matched, Some(key.clone()));
        }
    }
    (Vec::new(), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::version::KubeVersion;

    fn ep(ip: &str, ready: bool, local: bool, zones: &[&str]) -> ProxyEndpoint {
        ProxyEndpoint {
            ip: ip.into(),
            port: 80,
            ready,
            serving: ready,
            terminating: false,
            is_local: local,
            node_name: None,
            zone_hints: zones.iter().map(|z| z.to_string()).collect(),
            node_hints: Vec::new(),
            topology: BTreeMap::new(),
        }
    }

    fn node(zone: &str) -> ProxyNode {
        ProxyNode {
            name: "n".into(),
            labels: [(LABEL_ZONE.to_string(), zone.to_string())].into(),
        }
    }

    fn keys(set: &Option<Vec<ProxyEndpoint>>) -> Option<Vec<String>> {
        set.as_ref()
            .map(|s| s.iter().map(|e| e.ip.clone()).collect())
    }

    #[test]
    fn annotation_rules_per_family() {
        let eps = vec![ep("a", true, false, &["z1"]), ep("b", true, false, &["z2"])];
        let run = |minor: u32, annotation: Option<&str>| {
            let gates = FeatureGates::defaults(KubeVersion::new(minor));
            let svc = ProxyService {
                annotation: annotation.map(str::to_string),
                ..Default::default()
            };
            keys(&categorize(&eps, &svc, &node("z1"), &gates).cluster).unwrap()
        };
        assert_eq!(run(26, Some("Auto")), vec!["a"]);
        assert_eq!(run(26, Some("PreferZone")), vec!["a", "b"]);
        assert_eq!(run(27, Some("PreferZone")), vec!["a"]);
        assert_eq!(run(29, Some("Disabled")), vec!["a", "b"]);
        assert_eq!(run(30, Some("Auto")), vec!["a"]);
        assert_eq!(run(31, Some("Disabled")), vec!["a"]);
        assert_eq!(run(33, None), vec!["a"]);
        // 1.23: gate off by default.
        assert_eq!(run(23, Some("auto")), vec!["a", "b"]);
    }

    #[test]
    fn zone_without_hinted_endpoint_falls_back_to_all() {
        let eps = vec![ep("a", true, false, &["z1"]), ep("b", true, false, &["z1"])];
        let gates = FeatureGates::defaults(KubeVersion::new(33));
        let c = categorize(&eps, &ProxyService::default(), &node("z2"), &gates);
        assert_eq!(keys(&c.cluster).unwrap(), vec!["a", "b"]);
        assert_eq!(c.cluster_basis, RouteBasis::AllReady);
    }

    fn gates(minor: u32) -> FeatureGates {
        FeatureGates::defaults(KubeVersion::new(minor))
    }

    fn ips(v: &[ProxyEndpoint]) -> Vec<&str> {
        v.iter().map(|e| e.ip.as_str()).collect()
    }

    #[test]
    fn v1_21_topology_keys_take_precedence_over_hints() {
        let mut g = gates(21);
        g.set(FeatureGate::ServiceTopology, true).unwrap();
        g.set(FeatureGate::TopologyAwareHints, true).unwrap();
        let mut a = ep("a", true, true, &["z2"]);
        a.topology.insert(LABEL_HOSTNAME.into(), "n".into());
        let mut b = ep("b", true, false, &["z1"]);
        b.topology.insert(LABEL_HOSTNAME.into(), "m".into());
        let svc = ProxyService {
            annotation: Some("auto".into()),
            topology_keys: vec![LABEL_HOSTNAME.into(), "*".into()],
            ..Default::default()
        };
        let mut node = node("z1");
        node.labels.insert(LABEL_HOSTNAME.into(), "n".into());
        let c = categorize(&[a, b], &svc, &node, &g);
        assert_eq!(ips(c.cluster.as_ref().unwrap()), vec!["a"]);
        assert_eq!(
            c.cluster_basis,
            RouteBasis::TopologyKey(LABEL_HOSTNAME.into())
        );
    }

    #[test]
    fn v1_22_needs_hints_on_unready_endpoints_and_v1_23_does_not() {
        let eps = vec![ep("a", true, false, &["z1"]), ep("b", false, false, &[])];
        let svc = ProxyService {
            annotation: Some("Auto".into()),
            ..Default::default()
        };
        for (minor, expected) in [(22, RouteBasis::AllReady), (23, RouteBasis::ZoneHints)] {
            let mut g = gates(minor);
            g.set(FeatureGate::TopologyAwareHints, true).unwrap();
            let c = categorize(&eps, &svc, &node("z1"), &g);
            assert_eq!(c.cluster_basis, expected, "1.{minor}");
            // The proxier drops unready endpoints either way.
            assert_eq!(ips(c.cluster.as_ref().unwrap()), vec!["a"]);
        }
    }

    #[test]
    fn internal_traffic_policy_local_ignores_hints() {
        let eps = vec![ep("a", true, false, &["z1"]), ep("b", true, true, &["z2"])];
        let svc = ProxyService {
            internal_local: true,
            ..Default::default()
        };
        for minor in [22, 23, 26, 33, 37] {
            let c = categorize(&eps, &svc, &node("z1"), &gates(minor));
            assert_eq!(c.cluster, None, "1.{minor}");
            assert_eq!(ips(c.local.as_ref().unwrap()), vec!["b"], "1.{minor}");
        }
    }

    #[test]
    fn serving_terminating_fallback_follows_the_gate() {
        let mut t = ep("a", false, false, &[]);
        t.serving = true;
        t.terminating = true;
        let svc = ProxyService::default();
        let off = categorize(std::slice::from_ref(&t), &svc, &node("z1"), &gates(25));
        assert_eq!(off.cluster, Some(vec![]));
        assert!(!off.has_any);
        let on = categorize(std::slice::from_ref(&t), &svc, &node("z1"), &gates(26));
        assert_eq!(ips(on.cluster.as_ref().unwrap()), vec!["a"]);
        assert_eq!(on.cluster_basis, RouteBasis::ServingTerminating);
    }

    #[test]
    fn node_hints_need_the_gate() {
        let mut a = ep("a", true, false, &["z1"]);
        a.node_hints = vec!["n".into()];
        let mut b = ep("b", true, false, &["z1"]);
        b.node_hints = vec!["m".into()];
        let eps = vec![a, b];
        let svc = ProxyService::default();
        let on = categorize(&eps, &svc, &node("z1"), &gates(34));
        assert_eq!(on.cluster_basis, RouteBasis::NodeHints);
        assert_eq!(ips(on.cluster.as_ref().unwrap()), vec!["a"]);
        let off = categorize(&eps, &svc, &node("z1"), &gates(33));
        assert_eq!(off.cluster_basis, RouteBasis::ZoneHints);
        assert_eq!(ips(off.cluster.as_ref().unwrap()), vec!["a", "b"]);
    }

    #[test]
    fn ingestion_merges_by_ip_port_and_sorts_as_strings() {
        use crate::model::state::{AddressType, Endpoint, EndpointPort, EndpointSlice};
        let service = Service {
            cluster_ip: Some("10.96.0.1".into()),
            ports: vec![ServicePort {
                name: "p".into(),
                port: 80,
                protocol: "TCP".into(),
                node_port: 0,
            }],
            ..Service::new("ns", "s")
        };
        let endpoint = |ip: &str, terminating: Option<bool>| Endpoint {
            addresses: vec![ip.into()],
            terminating,
            ..Endpoint::default()
        };
        let slice = |name: &str, eps: Vec<Endpoint>| EndpointSlice {
            namespace: "ns".into(),
            name: name.into(),
            service_name: Some("s".into()),
            managed_by: Some("other".into()),
            address_type: AddressType::IPv4,
            ports: vec![EndpointPort {
                name: Some("p".into()),
                port: Some(8080),
                protocol: "TCP".into(),
            }],
            endpoints: eps,
        };
        let state = ClusterState {
            nodes: Vec::new(),
            services: vec![service.clone()],
            slices: vec![
                slice(
                    "one",
                    vec![
                        endpoint("10.0.1.2", Some(true)),
                        endpoint("10.0.1.10", None),
                    ],
                ),
                slice(
                    "two",
                    vec![endpoint("10.0.1.2", Some(false)), Endpoint::default()],
                ),
            ],
        };
        let got = ingest(&state, &service, &service.ports[0], "n", &gates(33));
        let keys: Vec<String> = got.iter().map(ProxyEndpoint::key).collect();
        assert_eq!(keys, vec!["10.0.1.10:8080", "10.0.1.2:8080"]);
        assert!(!got[1].terminating, "the non-terminating copy wins");
        assert!(got[0].ready, "unset ready reads as ready");
    }
}
