//! The pods of a case run, as every backend places and marks them: the sim keeps this list as
//! its cluster's pods, the live backends reconcile their cluster to it (one bare Pod per entry,
//! pinned to its node). One placement rule for all, so a step means the same pods everywhere:
//!
//! - `endpoints: {node: n}` keeps the oldest pods of each node and adds new ones node by node;
//! - `scale: n` removes from the node with the most pods (last in node order on ties) and adds
//!   to the worker with the fewest (first in node order on ties);
//! - `not_ready` / `terminating: {node: n}` mark the first `n` pods of the node (in creation
//!   order) and unmark the others there.

use std::collections::BTreeMap;

use crate::case::{NodeDef, Role, SERVICE_NAME};

/// One pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodEntry {
    /// `web-0000`, `web-0001`, … in creation order (never reused within a case run).
    pub name: String,
    /// The case node it runs on.
    pub node: String,
    /// Its creation ordinal (the number in its name).
    pub ordinal: usize,
    /// Marked not ready by a step.
    pub not_ready: bool,
    /// Marked terminating (deleted, still serving) by a step.
    pub terminating: bool,
}

/// The pods of a case run, in creation order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSet {
    /// Case node names in case order, and whether each is a control-plane node (never given
    /// new pods by `scale`).
    nodes: Vec<(String, bool)>,
    pods: Vec<PodEntry>,
    created: usize,
}

impl PodSet {
    /// No pods yet, on the nodes of a shape.
    pub fn new(nodes: &[NodeDef]) -> Self {
        PodSet {
            nodes: nodes
                .iter()
                .map(|n| (n.name.clone(), n.role == Role::ControlPlane))
                .collect(),
            pods: Vec::new(),
            created: 0,
        }
    }

    /// Every pod, oldest first.
    pub fn pods(&self) -> &[PodEntry] {
        &self.pods
    }

    /// How many pods there are.
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    /// Pods per node, in node order.
    pub fn counts(&self) -> Vec<usize> {
        let mut by_node: BTreeMap<&str, usize> = BTreeMap::new();
        for p in &self.pods {
            *by_node.entry(p.node.as_str()).or_insert(0) += 1;
        }
        self.nodes
            .iter()
            .map(|(n, _)| by_node.get(n.as_str()).copied().unwrap_or(0))
            .collect()
    }

    /// Pods on case node `node`.
    pub fn count_on(&self, node: &str) -> usize {
        self.pods.iter().filter(|p| p.node == node).count()
    }

    fn new_pod(&mut self, node: &str) -> PodEntry {
        let k = self.created;
        self.created += 1;
        PodEntry {
            name: format!("{SERVICE_NAME}-{k:04}"),
            node: node.to_string(),
            ordinal: k,
            not_ready: false,
            terminating: false,
        }
    }

    /// `endpoints: {node: n}`: every node gets exactly its count (absent nodes none).
    pub fn set_counts(&mut self, per_node: &BTreeMap<String, usize>) {
        let want: Vec<usize> = self
            .nodes
            .iter()
            .map(|(n, _)| per_node.get(n).copied().unwrap_or(0))
            .collect();
        self.place_all(&want);
    }

    /// Sets the pods of every node to `want[i]` (node order): the oldest pods are kept, new
    /// pods are added node by node. One pass over the pods, whatever the number of nodes.
    fn place_all(&mut self, want: &[usize]) {
        let limit: BTreeMap<String, usize> = self
            .nodes
            .iter()
            .zip(want)
            .map(|((n, _), w)| (n.clone(), *w))
            .collect();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        self.pods.retain(|p| {
            let count = match seen.get_mut(p.node.as_str()) {
                Some(c) => c,
                None => seen.entry(p.node.clone()).or_insert(0),
            };
            *count += 1;
            *count <= limit.get(p.node.as_str()).copied().unwrap_or(0)
        });
        let names: Vec<String> = self.nodes.iter().map(|(n, _)| n.clone()).collect();
        for (name, want) in names.iter().zip(want) {
            let have = seen.get(name).copied().unwrap_or(0).min(*want);
            for _ in have..*want {
                let pod = self.new_pod(name);
                self.pods.push(pod);
            }
        }
    }

    /// `scale: n`: removes from the node with the most pods (last in node order on ties),
    /// adds to the worker with the fewest (first in node order on ties), one pod at a time as
    /// the rule reads, with a heap instead of a scan per pod.
    pub fn scale(&mut self, want: usize) {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let mut counts = self.counts();
        let mut total: usize = counts.iter().sum();
        if total > want {
            let mut fullest: BinaryHeap<(usize, usize)> = counts
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(i, c)| (*c, i))
                .collect();
            while total > want {
                let Some((c, i)) = fullest.pop() else { break };
                counts[i] = c - 1;
                total -= 1;
                if c > 1 {
                    fullest.push((c - 1, i));
                }
            }
            self.place_all(&counts);
        }
        let mut emptiest: BinaryHeap<Reverse<(usize, usize)>> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, (_, control_plane))| !control_plane)
            .map(|(i, _)| Reverse((counts[i], i)))
            .collect();
        while total < want {
            let Some(Reverse((c, i))) = emptiest.pop() else {
                break;
            };
            let name = self.nodes[i].0.clone();
            let pod = self.new_pod(&name);
            self.pods.push(pod);
            total += 1;
            emptiest.push(Reverse((c + 1, i)));
        }
    }

    /// `not_ready: {node: n}`: the first `n` pods of each listed node are not ready, the others
    /// there ready (one pass over the pods).
    pub fn mark_not_ready(&mut self, counts: &BTreeMap<String, usize>) {
        self.mark(counts, |pod, on| pod.not_ready = on);
    }

    /// `terminating: {node: n}`: the first `n` pods of each listed node are terminating, the
    /// others there not.
    pub fn mark_terminating(&mut self, counts: &BTreeMap<String, usize>) {
        self.mark(counts, |pod, on| pod.terminating = on);
    }

    /// The most pods `case`'s steps put on one node at once (terminating ones included), by
    /// replaying them on an empty set: what a backend must fit on a node.
    pub fn most_per_node(case: &crate::case::Case) -> usize {
        let mut pods = PodSet::new(&case.nodes);
        let mut most = 0;
        for step in &case.steps {
            pods.apply(&step.action);
            most = most.max(pods.counts().into_iter().max().unwrap_or(0));
        }
        most
    }

    /// Applies a step's pod fields: `endpoints`, then `scale`, then the marks.
    pub fn apply(&mut self, action: &crate::case::StepAction) {
        if let Some(endpoints) = &action.endpoints {
            self.set_counts(endpoints);
        }
        if let Some(n) = action.scale {
            self.scale(n);
        }
        self.mark_not_ready(&action.not_ready);
        self.mark_terminating(&action.terminating);
    }

    fn mark(&mut self, counts: &BTreeMap<String, usize>, set: impl Fn(&mut PodEntry, bool)) {
        let mut left = counts.clone();
        for pod in &mut self.pods {
            if let Some(n) = left.get_mut(pod.node.as_str()) {
                set(pod, *n > 0);
                *n = n.saturating_sub(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> PodSet {
        let node = |name: &str, role| NodeDef::new(name, role, Some("a"));
        PodSet::new(&[
            node("control-plane", Role::ControlPlane),
            node("worker", Role::Worker),
            node("worker2", Role::Worker),
        ])
    }

    fn names(set: &PodSet) -> Vec<(&str, &str, bool, bool)> {
        set.pods()
            .iter()
            .map(|p| (p.name.as_str(), p.node.as_str(), p.not_ready, p.terminating))
            .collect()
    }

    #[test]
    fn scale_spreads_over_workers_and_removes_from_the_fullest() {
        let mut pods = set();
        pods.scale(5);
        assert_eq!(pods.counts(), [0, 3, 2]);
        pods.scale(2);
        assert_eq!(pods.counts(), [0, 1, 1]);
        // The oldest pods stay.
        assert_eq!(
            names(&pods),
            [
                ("web-0000", "worker", false, false),
                ("web-0001", "worker2", false, false)
            ]
        );
    }

    #[test]
    fn endpoints_keep_the_oldest_and_marks_take_the_first() {
        let mut pods = set();
        pods.set_counts(&[("worker".to_string(), 3), ("worker2".to_string(), 2)].into());
        pods.set_counts(&[("worker".to_string(), 1), ("worker2".to_string(), 3)].into());
        pods.mark_not_ready(&[("worker2".to_string(), 2)].into());
        pods.mark_terminating(&[("worker".to_string(), 1)].into());
        assert_eq!(
            names(&pods),
            [
                ("web-0000", "worker", false, true),
                ("web-0003", "worker2", true, false),
                ("web-0004", "worker2", true, false),
                ("web-0005", "worker2", false, false),
            ]
        );
        // A node listed with 0 is unmarked; nodes not listed keep their marks.
        pods.mark_not_ready(&[("worker2".to_string(), 0)].into());
        assert!(pods.pods().iter().all(|p| !p.not_ready));
        assert!(pods.pods()[0].terminating);
        assert_eq!(pods.count_on("worker2"), 3);
        assert_eq!(pods.len(), 4);
    }
}
