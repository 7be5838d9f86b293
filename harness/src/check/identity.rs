//! Normalization: addresses become endpoint identities (the node the endpoint runs on), so
//! what is compared and snapshotted holds on every backend and every run.

use std::collections::BTreeMap;

use crate::backend::Observation;
use crate::case::SERVICE_NAME;
use crate::model::MANAGED_BY_CONTROLLER;

/// The backend-independent facts of one observation.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Normalized {
    /// Whether the case's Service exists.
    pub service_exists: bool,
    /// Zone → identities of the endpoints hinted for it; `None` when no endpoint has hints.
    pub hints: Option<BTreeMap<String, Vec<String>>>,
    /// Node → identities of the endpoints whose `forNodes` names it (empty when none).
    pub node_hints: BTreeMap<String, Vec<String>>,
    /// Sizes of the upstream controller's slices, largest first.
    pub slices: Vec<usize>,
    /// Node → identities its proxy routes internal traffic to.
    pub routes: BTreeMap<String, Vec<String>>,
    /// Node → identities for external traffic; `None` when not externally accessible.
    pub external_routes: Option<BTreeMap<String, Vec<String>>>,
}

/// The identity of an endpoint with no node.
pub const NO_NODE: &str = "(no node)";

/// Normalizes an observation of the case's Service.
pub fn normalize(obs: &Observation) -> Normalized {
    let service = obs.state.services.iter().find(|s| s.name == SERVICE_NAME);
    let Some(service) = service else {
        return Normalized {
            routes: obs.routes.keys().map(|n| (n.clone(), Vec::new())).collect(),
            ..Normalized::default()
        };
    };
    let mut identity_of: BTreeMap<&str, String> = BTreeMap::new();
    let mut hints: Option<BTreeMap<String, Vec<String>>> = None;
    let mut node_hints: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut slices = Vec::new();
    for slice in obs.state.slices_of(service) {
        if slice.managed_by.as_deref() == Some(MANAGED_BY_CONTROLLER) {
            slices.push(slice.endpoints.len());
        }
        for endpoint in &slice.endpoints {
            let id = endpoint
                .node_name
                .clone()
                .unwrap_or_else(|| NO_NODE.to_string());
            if let Some(address) = endpoint.addresses.first() {
                identity_of
                    .entry(address.as_str())
                    .or_insert_with(|| id.clone());
            }
            if let Some(h) = &endpoint.hints {
                let map = hints.get_or_insert_with(BTreeMap::new);
                for zone in &h.for_zones {
                    map.entry(zone.clone()).or_default().push(id.clone());
                }
                for node in &h.for_nodes {
                    node_hints.entry(node.clone()).or_default().push(id.clone());
                }
            }
        }
    }
    slices.sort_unstable_by(|a, b| b.cmp(a));
    let ids = |addresses: &[String]| {
        let mut v: Vec<String> = addresses
            .iter()
            .map(|a| {
                identity_of
                    .get(a.as_str())
                    .cloned()
                    .unwrap_or_else(|| format!("(unknown {a})"))
            })
            .collect();
        v.sort();
        v
    };
    for list in hints.iter_mut().flat_map(|m| m.values_mut()) {
        list.sort();
    }
    for list in node_hints.values_mut() {
        list.sort();
    }
    let routes = obs
        .routes
        .iter()
        .map(|(n, r)| (n.clone(), ids(&r.internal)))
        .collect();
    let external_routes = obs.routes.values().any(|r| r.external.is_some()).then(|| {
        obs.routes
            .iter()
            .map(|(n, r)| (n.clone(), ids(r.external.as_deref().unwrap_or_default())))
            .collect()
    });
    Normalized {
        service_exists: true,
        hints,
        node_hints,
        slices,
        routes,
        external_routes,
    }
}

/// Formats identities compactly: `[worker*2, worker2]`.
pub(crate) fn format_ids(ids: &[String]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut n = 1;
        while i + n < ids.len() && ids[i + n] == ids[i] {
            n += 1;
        }
        if n == 1 {
            parts.push(ids[i].clone());
        } else {
            parts.push(format!("{}*{n}", ids[i]));
        }
        i += n;
    }
    format!("[{}]", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_multisets() {
        let ids: Vec<String> = ["a", "a", "b", "c", "c", "c"].map(String::from).to_vec();
        assert_eq!(format_ids(&ids), "[a*2, b, c*3]");
        assert_eq!(format_ids(&[]), "[]");
    }
}
