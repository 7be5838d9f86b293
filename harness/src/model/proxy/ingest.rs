//! Ingestion: the endpoints kube-proxy holds for one Service port after reading the slices
//! (`endpointslicecache.go`, semantics.md §1).

use std::collections::{BTreeMap, HashMap};

use super::ProxyEndpoint;
use crate::model::state::{
    is_ipv6, ClusterState, Endpoint, Node, Service, ServicePort, LABEL_HOSTNAME, LABEL_REGION,
    LABEL_ZONE,
};
use crate::model::version::{FeatureGate, FeatureGates};

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
    let ipv6_service = service.cluster_ip.as_deref().is_some_and(is_ipv6);
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
