//! The cleanup ledger: everything the harness created or changed, recorded as it happens, and
//! undone in reverse order at the end (or kept, with the commands to inspect and delete it).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;

use super::{ClusterApi, DeleteOutcome, KubeApiError, ObjectKind, ObjectRef};

/// One thing the harness did that cleanup must undo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerEntry {
    /// An object the harness created (recorded before the create request is sent, so a lost
    /// answer still gets cleaned up; deleting an object that is not there is a no-op).
    Created(ObjectRef),
    /// Node labels the harness changed, with their values before the first change
    /// (`None` = the label was absent and cleanup removes it).
    NodeLabels {
        /// The node's name.
        node: String,
        /// Label key → original value.
        original: BTreeMap<String, Option<String>>,
    },
}

impl fmt::Display for LedgerEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerEntry::Created(object) => write!(f, "created {object}"),
            LedgerEntry::NodeLabels { node, original } => {
                write!(f, "labels of node {node} (originally ")?;
                write_labels(f, original)?;
                write!(f, ")")
            }
        }
    }
}

fn write_labels(
    f: &mut fmt::Formatter<'_>,
    labels: &BTreeMap<String, Option<String>>,
) -> fmt::Result {
    for (i, (key, value)) in labels.iter().enumerate() {
        if i > 0 {
            write!(f, ", ")?;
        }
        match value {
            Some(value) => write!(f, "{key}={value}")?,
            None => write!(f, "{key} absent")?,
        }
    }
    Ok(())
}

/// What cleanup did for one ledger entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CleanupAction {
    /// The object was deleted.
    Deleted(ObjectRef),
    /// The object was already gone (404).
    AlreadyGone(ObjectRef),
    /// The object lived in a namespace the harness created, and went with it.
    DeletedWithNamespace(ObjectRef),
    /// The node's labels were set back to their original values (absent ones removed).
    LabelsRestored {
        /// The node's name.
        node: String,
        /// Label key → restored value (`None` = removed).
        labels: BTreeMap<String, Option<String>>,
    },
}

impl fmt::Display for CleanupAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CleanupAction::Deleted(o) => write!(f, "deleted {o}"),
            CleanupAction::AlreadyGone(o) => write!(f, "{o} was already gone"),
            CleanupAction::DeletedWithNamespace(o) => write!(f, "deleted {o} with its namespace"),
            CleanupAction::LabelsRestored { node, labels } => {
                write!(f, "restored labels of node {node}: ")?;
                write_labels(f, labels)
            }
        }
    }
}

/// The outcome of a cleanup: what was undone and what is left.
#[derive(Debug, Default)]
pub struct CleanupReport {
    /// What was undone, in the order it was done.
    pub done: Vec<CleanupAction>,
    /// Entries still to undo (failed, or not reached because cleanup was aborted), in ledger
    /// order; they also stay in the ledger.
    pub left: Vec<LedgerEntry>,
    /// Why entries failed, in the order they were tried.
    pub failures: Vec<KubeApiError>,
    /// Whether cleanup was aborted (for example by a second Ctrl-C) before it finished.
    pub aborted: bool,
}

impl CleanupReport {
    /// Whether everything was undone.
    pub fn is_complete(&self) -> bool {
        self.left.is_empty()
    }
}

impl fmt::Display for CleanupReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for action in &self.done {
            writeln!(f, "cleanup: {action}")?;
        }
        for failure in &self.failures {
            writeln!(f, "cleanup failed: {failure}")?;
        }
        if self.aborted {
            writeln!(f, "cleanup aborted")?;
        }
        for entry in &self.left {
            writeln!(f, "left behind: {entry}")?;
        }
        Ok(())
    }
}

/// The record of everything the harness created or changed on a cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    entries: Vec<LedgerEntry>,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Self {
        Ledger::default()
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> &[LedgerEntry] {
        &self.entries
    }

    /// Whether there is nothing to undo.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the harness created `object`.
    pub fn created(&self, object: &ObjectRef) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e, LedgerEntry::Created(o) if o == object))
    }

    /// Whether the harness created the namespace `name`.
    pub fn created_namespace(&self, name: &str) -> bool {
        self.created(&ObjectRef::namespace(name))
    }

    /// Records a created object (once).
    pub(crate) fn record_created(&mut self, object: ObjectRef) {
        if !self.created(&object) {
            self.entries.push(LedgerEntry::Created(object));
        }
    }

    /// Forgets an object whose create the server rejected (so nothing was created).
    pub(crate) fn forget_created(&mut self, object: &ObjectRef) {
        self.entries
            .retain(|e| !matches!(e, LedgerEntry::Created(o) if o == object));
    }

    /// Records a label's original value, unless an earlier change already recorded it.
    pub(crate) fn record_label(&mut self, node: &str, key: &str, original: Option<String>) {
        let entry = self.entries.iter_mut().find_map(|e| match e {
            LedgerEntry::NodeLabels { node: n, original } if n == node => Some(original),
            _ => None,
        });
        match entry {
            Some(labels) => {
                labels.entry(key.to_string()).or_insert(original);
            }
            None => self.entries.push(LedgerEntry::NodeLabels {
                node: node.to_string(),
                original: BTreeMap::from([(key.to_string(), original)]),
            }),
        }
    }

    /// Undoes every entry, newest first: deletes created objects (an object inside a namespace
    /// the harness created goes with the namespace) and restores node labels. Failed entries
    /// stay in the ledger and are listed in the report; the others are removed.
    pub async fn cleanup(&mut self, api: &ClusterApi) -> CleanupReport {
        self.cleanup_or_abort(api, std::future::pending()).await
    }

    /// Like [`cleanup`](Self::cleanup), but stops as soon as `abort` completes (for example
    /// on a second Ctrl-C); the report then lists what is left. An entry whose request was in
    /// flight stays in the ledger (undoing it again is harmless).
    pub async fn cleanup_or_abort(
        &mut self,
        api: &ClusterApi,
        abort: impl Future<Output = ()>,
    ) -> CleanupReport {
        let mut report = CleanupReport::default();
        let created_namespaces: BTreeSet<String> = self
            .entries
            .iter()
            .filter_map(|e| match e {
                LedgerEntry::Created(o) if o.kind == ObjectKind::Namespace => Some(o.name.clone()),
                _ => None,
            })
            .collect();
        // Objects waiting for their namespace's deletion, by namespace.
        let mut with_namespace: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut finished = vec![false; self.entries.len()];
        let mut abort = std::pin::pin!(abort);
        for index in (0..self.entries.len()).rev() {
            let entry = self.entries[index].clone();
            if let LedgerEntry::Created(object) = &entry {
                if let Some(ns) = object
                    .namespace
                    .as_ref()
                    .filter(|ns| created_namespaces.contains(*ns))
                {
                    with_namespace.entry(ns.clone()).or_default().push(index);
                    continue;
                }
            }
            let step = undo(api, &entry);
            let outcome = tokio::select! {
                biased;
                () = &mut abort => None,
                outcome = step => Some(outcome),
            };
            let Some(outcome) = outcome else {
                report.aborted = true;
                break;
            };
            match outcome {
                Ok(action) => {
                    finished[index] = true;
                    let namespace_gone = matches!(
                        &action,
                        CleanupAction::Deleted(o) | CleanupAction::AlreadyGone(o)
                            if o.kind == ObjectKind::Namespace
                    );
                    report.done.push(action);
                    if let (true, LedgerEntry::Created(ns)) = (namespace_gone, &entry) {
                        for inner in with_namespace.remove(&ns.name).unwrap_or_default() {
                            finished[inner] = true;
                            if let LedgerEntry::Created(o) = &self.entries[inner] {
                                report
                                    .done
                                    .push(CleanupAction::DeletedWithNamespace(o.clone()));
                            }
                        }
                    }
                }
                Err(error) => report.failures.push(error),
            }
        }
        let mut kept = Vec::new();
        for (entry, finished) in self.entries.drain(..).zip(finished) {
            if !finished {
                kept.push(entry);
            }
        }
        report.left = kept.clone();
        self.entries = kept;
        report
    }

    /// For `--keep`: the commands to inspect and then delete or restore everything in the
    /// ledger by hand, with `kubectl` being the command prefix naming the cluster (see
    /// [`ClusterApi::kubectl`]). Inspection commands come first, then the undo commands in
    /// cleanup order.
    pub fn keep_commands(&self, kubectl: &str) -> Vec<String> {
        let namespaces: BTreeSet<&str> = self
            .entries
            .iter()
            .filter_map(|e| match e {
                LedgerEntry::Created(o) if o.kind == ObjectKind::Namespace => Some(o.name.as_str()),
                _ => None,
            })
            .collect();
        let mut inspect = Vec::new();
        let mut undo = Vec::new();
        for entry in self.entries.iter().rev() {
            match entry {
                LedgerEntry::Created(o) if o.kind == ObjectKind::Namespace => {
                    let ns = shell_quote(&o.name);
                    inspect.push(format!("{kubectl} get all,endpointslices -n {ns} -o wide"));
                    undo.push(format!("{kubectl} delete namespace {ns}"));
                }
                LedgerEntry::Created(o) => {
                    let covered = o
                        .namespace
                        .as_deref()
                        .is_some_and(|ns| namespaces.contains(ns));
                    let ns = o
                        .namespace
                        .as_deref()
                        .map(|ns| format!(" -n {}", shell_quote(ns)))
                        .unwrap_or_default();
                    let what = format!("{} {}", o.kind.kubectl_resource(), shell_quote(&o.name));
                    if !covered {
                        inspect.push(format!("{kubectl} get {what}{ns} -o yaml"));
                        undo.push(format!("{kubectl} delete {what}{ns}"));
                    }
                }
                LedgerEntry::NodeLabels { node, original } => {
                    let node = shell_quote(node);
                    inspect.push(format!("{kubectl} get node {node} --show-labels"));
                    let labels: Vec<String> = original
                        .iter()
                        .map(|(k, v)| match v {
                            Some(v) => shell_quote(&format!("{k}={v}")),
                            None => shell_quote(&format!("{k}-")),
                        })
                        .collect();
                    undo.push(format!(
                        "{kubectl} label node {node} {} --overwrite",
                        labels.join(" ")
                    ));
                }
            }
        }
        inspect.extend(undo);
        inspect
    }
}

/// Undoes one entry.
async fn undo(api: &ClusterApi, entry: &LedgerEntry) -> Result<CleanupAction, KubeApiError> {
    match entry {
        LedgerEntry::Created(object) => Ok(match api.delete(object).await? {
            DeleteOutcome::Deleted => CleanupAction::Deleted(object.clone()),
            DeleteOutcome::AlreadyGone => CleanupAction::AlreadyGone(object.clone()),
        }),
        LedgerEntry::NodeLabels { node, original } => {
            api.patch_node_labels(node, original).await?;
            Ok(CleanupAction::LabelsRestored {
                node: node.clone(),
                labels: original.clone(),
            })
        }
    }
}

pub(crate) use crate::backend::command::shell_quote;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_first_original_only() {
        let mut ledger = Ledger::new();
        ledger.record_label("w1", "zone", Some("a".into()));
        ledger.record_label("w1", "zone", Some("b".into()));
        ledger.record_label("w1", "region", None);
        assert_eq!(
            ledger.entries(),
            [LedgerEntry::NodeLabels {
                node: "w1".into(),
                original: BTreeMap::from([
                    ("region".to_string(), None),
                    ("zone".to_string(), Some("a".to_string()))
                ]),
            }]
        );
    }

    #[test]
    fn keep_commands_inspect_then_undo() {
        let mut ledger = Ledger::new();
        ledger.record_created(ObjectRef::namespace("topo-1"));
        ledger.record_created(ObjectRef::namespaced(ObjectKind::Service, "topo-1", "web"));
        ledger.record_created(ObjectRef::namespaced(ObjectKind::Service, "other", "x"));
        ledger.record_label("w1", "topology.kubernetes.io/zone", Some("a".into()));
        ledger.record_label("w1", "topology.kubernetes.io/region", None);
        let commands = ledger.keep_commands("kubectl --context kind-topo");
        assert_eq!(
            commands,
            [
                "kubectl --context kind-topo get node w1 --show-labels",
                "kubectl --context kind-topo get service x -n other -o yaml",
                "kubectl --context kind-topo get all,endpointslices -n topo-1 -o wide",
                "kubectl --context kind-topo label node w1 topology.kubernetes.io/region- topology.kubernetes.io/zone=a --overwrite",
                "kubectl --context kind-topo delete service x -n other",
                "kubectl --context kind-topo delete namespace topo-1",
            ]
        );
    }

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(shell_quote("kind-topo"), "kind-topo");
        assert_eq!(shell_quote("/a b/c"), "'/a b/c'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
