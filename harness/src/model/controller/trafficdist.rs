//! The `trafficDistribution` heuristics of the EndpointSlice controller (semantics.md §4).

use crate::model::state::{EndpointSlice, Hints, TrafficDistribution};
use crate::model::version::KubeVersion;

use super::topology::SliceInfo;

/// Which heuristic `trafficdist.ReconcileHints` applies.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TrafficDistHeuristic {
    /// Hint every ready endpoint for its own zone (and node, with `node_hints`).
    PreferClose {
        /// Whether `forNodes` hints are written (PreferSameNode).
        node_hints: bool,
    },
    /// Remove every hint.
    Default,
}

impl TrafficDistHeuristic {
    /// The heuristic for a `trafficDistribution` value in `version`.
    pub fn for_value(value: Option<&TrafficDistribution>, version: KubeVersion) -> Self {
        match value {
            Some(TrafficDistribution::PreferClose) => {
                TrafficDistHeuristic::PreferClose { node_hints: false }
            }
            Some(TrafficDistribution::PreferSameZone) if version.minor >= 33 => {
                TrafficDistHeuristic::PreferClose { node_hints: false }
            }
            Some(TrafficDistribution::PreferSameNode) if version.minor >= 33 => {
                TrafficDistHeuristic::PreferClose { node_hints: true }
            }
            _ => TrafficDistHeuristic::Default,
        }
    }

    fn needs_update(self, slice: &EndpointSlice, version: KubeVersion) -> bool {
        match self {
            TrafficDistHeuristic::Default => slice.endpoints.iter().any(|e| e.hints.is_some()),
            TrafficDistHeuristic::PreferClose { node_hints } => {
                slice.endpoints.iter().any(|endpoint| {
                    if !endpoint.controller_ready() {
                        return false;
                    }
                    let zones = endpoint
                        .hints
                        .as_ref()
                        .map(|h| h.for_zones.as_slice())
                        .unwrap_or(&[]);
                    let nodes = endpoint
                        .hints
                        .as_ref()
                        .map(|h| h.for_nodes.as_slice())
                        .unwrap_or(&[]);
                    let zone_wrong = match wanted_zone_hint(endpoint.zone.as_deref(), version) {
                        Some(zone) => !(zones.len() == 1 && zones[0] == zone),
                        None => !zones.is_empty(),
                    };
                    let node_wrong = if node_hints {
                        match endpoint.node_name.as_deref() {
                            Some(node) => !(nodes.len() == 1 && nodes[0] == node),
                            None => !nodes.is_empty(),
                        }
                    } else {
                        !nodes.is_empty()
                    };
                    zone_wrong || node_wrong
                })
            }
        }
    }

    fn update(self, slice: &mut EndpointSlice, version: KubeVersion) {
        for endpoint in &mut slice.endpoints {
            match self {
                TrafficDistHeuristic::Default => endpoint.hints = None,
                TrafficDistHeuristic::PreferClose { node_hints } => {
                    if !endpoint.controller_ready() {
                        continue; // unready endpoints are left untouched
                    }
                    let mut hints = Hints::default();
                    if let Some(zone) = wanted_zone_hint(endpoint.zone.as_deref(), version) {
                        hints.for_zones.push(zone.to_string());
                    }
                    if node_hints {
                        if let Some(node) = endpoint.node_name.as_deref() {
                            hints.for_nodes.push(node.to_string());
                        }
                    }
                    endpoint.hints = if hints.for_zones.is_empty() && hints.for_nodes.is_empty() {
                        None
                    } else {
                        Some(hints)
                    };
                }
            }
        }
    }
}

/// The zone hint PreferClose wants for an endpoint with this `zone` pointer: its own zone when
/// set (even to ""), none in 1.33+ when unset, and a dummy empty-name hint in 1.30–1.32.
fn wanted_zone_hint(zone: Option<&str>, version: KubeVersion) -> Option<&str> {
    match zone {
        Some(zone) => Some(zone),
        None if version.minor < 33 => Some(""),
        None => None,
    }
}

/// `trafficdist.ReconcileHints`: unchanged slices that need new hints move to the update list,
/// then every slice to create or update gets the heuristic's hints.
pub fn reconcile_hints(
    value: Option<&TrafficDistribution>,
    version: KubeVersion,
    mut slices: SliceInfo,
) -> SliceInfo {
    let heuristic = TrafficDistHeuristic::for_value(value, version);
    let unchanged = std::mem::take(&mut slices.unchanged);
    for slice in unchanged {
        if heuristic.needs_update(&slice, version) {
            slices.to_update.push(slice);
        } else {
            slices.unchanged.push(slice);
        }
    }
    for slice in slices
        .to_create
        .iter_mut()
        .chain(slices.to_update.iter_mut())
    {
        heuristic.update(slice, version);
    }
    slices
}
