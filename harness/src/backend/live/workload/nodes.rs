//! The namespace of a case run, and case ↔ cluster node names.

use super::*;

/// The namespace of the `n`-th case run of run `run` (its id, e.g. `run-1733150000`):
/// `topo-<case>-<run>-<n>` with the `run-` prefix dropped, cut to a DNS label (63 characters,
/// lowercase alphanumerics and `-`; the case name is shortened first). The run id keeps a
/// namespace left by `--keep` or an aborted cleanup from colliding with the next run's.
pub fn namespace_name(case: &str, run: &str, n: usize) -> String {
    let run: String = dns_chars(run.strip_prefix("run-").unwrap_or(run))
        .take(24)
        .collect();
    let run = run.trim_matches('-');
    let suffix = if run.is_empty() {
        format!("-{n}")
    } else {
        format!("-{run}-{n}")
    };
    let mut base: String = dns_chars(&format!("topo-{case}")).collect();
    base.truncate(63 - suffix.len());
    let base = base.trim_end_matches('-');
    format!("{base}{suffix}")
}

/// `text` as DNS-label characters: lowercase alphanumerics, everything else `-`.
fn dns_chars(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '-'
        }
    })
}

/// Case node name ↔ cluster node name, in the case's node order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeMap {
    pairs: Vec<(String, String)>,
    zones: Vec<(String, String)>,
}

impl NodeMap {
    /// From `(case name, cluster name)` pairs.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        NodeMap {
            pairs,
            zones: Vec::new(),
        }
    }

    /// Every node of `shape` under its own name (a cluster built for the case).
    pub fn identity(shape: &ClusterShape) -> Self {
        NodeMap::new(
            shape
                .nodes
                .iter()
                .map(|n| (n.name.clone(), n.name.clone()))
                .collect(),
        )
    }

    /// Also maps zones: `(case zone, cluster zone)` pairs, for clusters whose nodes keep their
    /// own zone labels (the observation then shows the case's zone names).
    pub fn with_zones(mut self, zones: Vec<(String, String)>) -> Self {
        self.zones = zones;
        self
    }

    /// The cluster's name for a case zone (itself when zones are not mapped).
    pub fn real_zone<'a>(&'a self, case: &'a str) -> &'a str {
        self.zones
            .iter()
            .find(|(c, _)| c == case)
            .map_or(case, |(_, r)| r.as_str())
    }

    pub(super) fn case_zone(&self, real: &str) -> Option<&str> {
        self.zones
            .iter()
            .find(|(_, r)| r == real)
            .map(|(c, _)| c.as_str())
    }

    /// The pairs, in case order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The cluster name of a case node.
    pub fn real(&self, case: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(c, _)| c == case)
            .map(|(_, r)| r.as_str())
    }

    /// The case name of a cluster node.
    pub fn case(&self, real: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(_, r)| r == real)
            .map(|(c, _)| c.as_str())
    }

    pub(super) fn real_or_err(&self, case: &str) -> Result<&str, BackendError> {
        self.real(case)
            .ok_or_else(|| BackendError::apply(format!("node {case} is not in the cluster shape")))
    }

    /// Renames the cluster's nodes to the case's names everywhere in `state` (nodes,
    /// endpoints' `nodeName`, `forNodes` hints), so checks and snapshots see case names.
    pub fn rename_state(&self, state: &mut ClusterState) {
        let rename = |name: &mut String| {
            if let Some(case) = self.case(name) {
                *name = case.to_string();
            }
        };
        let rezone = |zone: &mut String| {
            if let Some(case) = self.case_zone(zone) {
                *zone = case.to_string();
            }
        };
        for node in &mut state.nodes {
            rename(&mut node.name);
            if let Some(zone) = node.labels.get_mut(LABEL_ZONE) {
                rezone(zone);
            }
        }
        for slice in &mut state.slices {
            for endpoint in &mut slice.endpoints {
                if let Some(n) = endpoint.node_name.as_mut() {
                    rename(n);
                }
                if let Some(z) = endpoint.zone.as_mut() {
                    rezone(z);
                }
                if let Some(h) = endpoint.hints.as_mut() {
                    for n in &mut h.for_nodes {
                        rename(n);
                    }
                    for z in &mut h.for_zones {
                        rezone(z);
                    }
                }
            }
        }
    }
}
