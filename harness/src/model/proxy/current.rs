//! `CategorizeEndpoints` (1.24+): the cluster set filtered by topology hints, the local set,
//! and the serving+terminating fallbacks (semantics.md §8.1–§8.5).

use std::collections::BTreeMap;

use super::{Categorized, ProxyEndpoint, ProxyFamily, ProxyNode, ProxyService, RouteBasis};
use crate::model::version::{FeatureGate, FeatureGates};

/// Whether hints are honoured by the legacy and 1.24–1.32 variants (gate and annotation).
pub(super) fn annotation_allows_hints(
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

pub(super) fn pte_enabled(gates: &FeatureGates) -> bool {
    gates.version().minor >= 22 && gates.enabled(FeatureGate::ProxyTerminatingEndpoints)
}

pub(super) fn categorize_modern(
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
pub(super) fn local_set(
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

pub(super) fn union(a: &[ProxyEndpoint], b: &[ProxyEndpoint]) -> Vec<ProxyEndpoint> {
    let mut map: BTreeMap<String, ProxyEndpoint> = BTreeMap::new();
    for e in a.iter().chain(b.iter()) {
        map.insert(e.key(), e.clone());
    }
    map.into_values().collect()
}
