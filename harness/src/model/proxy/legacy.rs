//! `FilterEndpoints` (1.21–1.23): `topologyKeys` (1.21), `internalTrafficPolicy: Local` and the
//! hint filter applied to all of a Service's traffic (semantics.md §8.6–§8.8, §9).

use std::collections::BTreeMap;

use super::current::{annotation_allows_hints, local_set, pte_enabled, union};
use super::{Categorized, ProxyEndpoint, ProxyFamily, ProxyNode, ProxyService, RouteBasis};
use crate::model::version::{FeatureGate, FeatureGates};

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

pub(super) fn categorize_legacy(
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
