//! [`KubeconfigBackend`]: an existing cluster named by a kubeconfig (and context). It maps the
//! case's nodes onto the cluster's schedulable nodes, works only in its own namespace per case
//! run, and changes node labels only with `--allow-node-changes` (restoring them afterwards).
//! It has no access to the nodes themselves, so it reads no dataplane: routes are observed
//! with traffic probes by default ([`ObserveSource::Traffic`]; with `Rules` they are empty and
//! route checks fail; see `docs/kind-backend.md`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::probes::ObserveSource;
use super::workload::{NodeControl, NodeMap, Workload};
use super::{check_interrupt, interrupted, namespace_name, runtime};
use crate::backend::kube_api::{ClusterApi, Ledger};
use crate::backend::Warnings;
use crate::backend::{
    Applied, Backend, BackendError, BackendKind, NodeRoutes, Observation, WaitPolicy,
};
use crate::case::{ClusterShape, Role, StepAction};
use crate::model::{FeatureGates, Node, Service};

/// Options of the kubeconfig backend.
#[derive(Clone, Debug, Default)]
pub struct KubeconfigOptions {
    /// The kubeconfig file (default `$KUBECONFIG`, else `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
    /// The context (default: the file's current context).
    pub context: Option<String>,
    /// Relabel nodes to the case's zones (restored at cleanup).
    pub allow_node_changes: bool,
    /// Keep the case namespaces (print how to delete them).
    pub keep: bool,
    /// Where routes are observed from; `None`: traffic (this backend cannot read node
    /// dataplanes, so `Rules` observes empty routes and `Both` compares with nothing).
    pub observe: Option<ObserveSource>,
}

impl KubeconfigOptions {
    /// The kubeconfig path to use.
    pub fn path(&self) -> Result<PathBuf, BackendError> {
        if let Some(p) = &self.kubeconfig {
            return Ok(p.clone());
        }
        if let Some(first) = std::env::var_os("KUBECONFIG")
            .and_then(|v| std::env::split_paths(&v).next())
            .filter(|p| !p.as_os_str().is_empty())
        {
            return Ok(first);
        }
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".kube").join("config"))
            .ok_or_else(|| {
                BackendError::setup("no kubeconfig: pass --kubeconfig, or set KUBECONFIG or HOME")
            })
    }
}

/// Maps the case's nodes onto `real` nodes: control-plane case nodes onto control-plane nodes,
/// workers onto schedulable workers; when `by_zone` (node labels may not change), a case node
/// with a zone takes a real node already in a zone mapped to it (case zone → real zone, one to
/// one). A reason when the cluster does not have enough fitting nodes.
pub fn map_nodes(shape: &ClusterShape, real: &[Node], by_zone: bool) -> Result<NodeMap, String> {
    let mut free: Vec<&Node> = real.iter().filter(|n| n.ready).collect();
    let mut zones: BTreeMap<String, String> = BTreeMap::new();
    let mut pairs = Vec::new();
    for def in &shape.nodes {
        let want_cp = def.role == Role::ControlPlane;
        let pick = free.iter().position(|n| {
            if n.is_control_plane() != want_cp {
                return false;
            }
            if !by_zone {
                return true;
            }
            match (&def.zone, n.zone()) {
                (None, None) => true,
                (Some(case_zone), Some(real_zone)) => match zones.get(case_zone) {
                    Some(z) => z == real_zone,
                    None => !zones.values().any(|z| z == real_zone),
                },
                _ => false,
            }
        });
        let Some(index) = pick else {
            let role = if want_cp { "control-plane" } else { "worker" };
            return Err(format!(
                "the cluster has no free ready {role} node{} for case node {}{}",
                match (&def.zone, by_zone) {
                    (Some(z), true) => format!(" in a zone standing for zone {z}"),
                    _ => String::new(),
                },
                def.name,
                if by_zone {
                    " (pass --allow-node-changes to relabel nodes instead)"
                } else {
                    ""
                }
            ));
        };
        let node = free.remove(index);
        if let (Some(case_zone), Some(real_zone)) = (&def.zone, node.zone()) {
            zones
                .entry(case_zone.clone())
                .or_insert_with(|| real_zone.to_string());
        }
        pairs.push((def.name.clone(), node.name.clone()));
    }
    let map = NodeMap::new(pairs);
    Ok(if by_zone {
        map.with_zones(zones.into_iter().collect())
    } else {
        map
    })
}

struct NoNodeAccess;

impl NodeControl for NoNodeAccess {
    fn set_kubelet(&self, node: &str, _running: bool) -> Result<(), BackendError> {
        Err(BackendError::Unsupported {
            reason: format!(
            "not supported on an existing cluster: stopping or starting the kubelet of node {node}"
        ),
        })
    }

    fn set_not_ready(
        &self,
        node: &str,
        _namespace: &str,
        _count: usize,
    ) -> Result<(), BackendError> {
        Err(BackendError::Unsupported {
            reason: format!(
            "not supported on an existing cluster: making echo pods on node {node} not ready (needs node access)"
        ),
        })
    }

    fn hold_pods(
        &self,
        node: &str,
        _namespace: &str,
        _count: usize,
        _exclude: &std::collections::BTreeSet<String>,
    ) -> Result<Vec<String>, BackendError> {
        Err(BackendError::Unsupported {
            reason: format!(
            "not supported on an existing cluster: holding echo pods on node {node} terminating (needs node access)"
        ),
        })
    }

    fn release_pods(&self, _node: &str, _namespace: &str) -> Result<(), BackendError> {
        Ok(())
    }

    fn read_routes(
        &self,
        _node: &str,
        _service: &Service,
        _gates: &FeatureGates,
    ) -> Result<Option<NodeRoutes>, BackendError> {
        Ok(None)
    }
}

struct CaseRun {
    shape: ClusterShape,
    workload: Workload,
    ledger: Ledger,
}

/// An existing cluster from a kubeconfig.
pub struct KubeconfigBackend {
    options: KubeconfigOptions,
    rt: tokio::runtime::Runtime,
    api: Option<ClusterApi>,
    case: Option<CaseRun>,
    case_name: String,
    run_id: String,
    runs: usize,
    warnings: Warnings,
}

impl std::fmt::Debug for KubeconfigBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeconfigBackend")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl KubeconfigBackend {
    /// A backend for the cluster `options` name (connected at the first setup).
    pub fn new(options: KubeconfigOptions) -> Result<Self, BackendError> {
        Ok(KubeconfigBackend {
            options,
            rt: runtime()?,
            api: None,
            case: None,
            case_name: "case".into(),
            run_id: super::new_run_id(),
            runs: 0,
            warnings: Warnings::default(),
        })
    }

    /// Names this run (namespaces are `topo-<case>-<run>-<n>`); [`Self::new`] uses
    /// [`new_run_id`](super::new_run_id).
    pub fn with_run_id(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = run_id.into();
        self
    }

    /// Uses an already connected client (tests).
    pub fn with_api(mut self, api: ClusterApi) -> Self {
        self.api = Some(api);
        self
    }

    /// The name the next case run uses for its namespace.
    pub fn set_case_name(&mut self, name: &str) {
        self.case_name = name.to_string();
    }
}

impl Drop for KubeconfigBackend {
    fn drop(&mut self) {
        if self.case.is_some() {
            let _ = self.cleanup();
        }
        // After the run no reporter listens any more: what is left goes to stderr.
        for warning in self.warnings.take() {
            eprintln!("warning: {warning}");
        }
    }
}

impl Backend for KubeconfigBackend {
    fn take_warnings(&mut self) -> Vec<String> {
        let mut all = self.warnings.take();
        if let Some(run) = &self.case {
            all.extend(run.workload.warnings.take());
        }
        all
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Kubeconfig
    }

    fn wait_policy(&self) -> WaitPolicy {
        super::live_wait_policy()
    }

    fn case_started(&mut self, case: &str) {
        self.set_case_name(case);
    }

    fn setup(&mut self, shape: &ClusterShape) -> Result<(), BackendError> {
        check_interrupt()?;
        if self.api.is_none() {
            let path = self.options.path()?;
            let api = self
                .rt
                .block_on(ClusterApi::from_kubeconfig(
                    &path,
                    self.options.context.as_deref(),
                ))
                .map_err(|e| {
                    BackendError::setup_from(format!("connecting with {}", path.display()), e)
                })?;
            self.api = Some(api);
        }
        let Some(api) = &self.api else {
            return Err(BackendError::setup("not connected"));
        };
        let real = self
            .rt
            .block_on(api.observe("default"))
            .map_err(|e| BackendError::setup_from("listing the cluster's nodes", e))?
            .nodes;
        let map = map_nodes(shape, &real, !self.options.allow_node_changes).map_err(|why| {
            BackendError::Unsupported {
                reason: format!("skipped on this cluster: {why}"),
            }
        })?;
        self.runs += 1;
        let ns = namespace_name(&self.case_name, &self.run_id, self.runs);
        let mut workload = Workload::new(ns, map, shape);
        workload.settle = Some(std::time::Duration::from_secs(120));
        workload.source = self
            .options
            .observe
            .unwrap_or_else(|| ObserveSource::default_for(BackendKind::Kubeconfig, false));
        let mut run = CaseRun {
            shape: shape.clone(),
            workload,
            ledger: Ledger::new(),
        };
        let result = self.rt.block_on(run.workload.begin(
            api,
            &mut run.ledger,
            &NoNodeAccess,
            self.options.allow_node_changes,
        ));
        self.case = Some(run);
        if let Err(e) = result {
            let _ = self.cleanup();
            return Err(e);
        }
        Ok(())
    }

    fn supports(&self, case: &crate::case::Case, _shape: &ClusterShape) -> Result<(), String> {
        for step in &case.steps {
            let a = &step.action;
            Workload::check_supported(a, "an existing cluster").map_err(|e| e.to_string())?;
            if a.nodes.iter().any(|(_, c)| c.ready.is_some())
                || !a.not_ready.is_empty()
                || !a.terminating.is_empty()
            {
                return Err(format!(
                    "step {} needs node access (stopping kubelets, holding pods)",
                    step.name
                ));
            }
            if !self.options.allow_node_changes && a.nodes.iter().any(|(_, c)| c.zone.is_some()) {
                return Err(format!(
                    "step {} relabels nodes; pass --allow-node-changes to let the harness change (and restore) node labels",
                    step.name
                ));
            }
        }
        Ok(())
    }

    fn apply(&mut self, action: &StepAction) -> Result<Applied, BackendError> {
        check_interrupt()?;
        let (Some(api), Some(run)) = (&self.api, &mut self.case) else {
            return Err(BackendError::apply("no cluster: setup was not called"));
        };
        if !self.options.allow_node_changes && action.nodes.iter().any(|(_, c)| c.zone.is_some()) {
            return Err(BackendError::apply("the step relabels nodes; pass --allow-node-changes to let the harness change (and restore) node labels"));
        }
        self.rt.block_on(run.workload.apply(
            api,
            &mut run.ledger,
            &NoNodeAccess,
            action,
            "an existing cluster",
        ))
    }

    fn observe(&mut self) -> Result<Observation, BackendError> {
        check_interrupt()?;
        let (Some(api), Some(run)) = (&self.api, &mut self.case) else {
            return Err(BackendError::observe("no cluster: setup was not called"));
        };
        let gates = run.shape.gates();
        let mut obs =
            self.rt.block_on(
                run.workload
                    .observe(api, &mut run.ledger, &NoNodeAccess, &gates),
            )?;
        // Only the case's nodes: other nodes of the cluster keep their own names.
        obs.routes
            .retain(|n, _| run.workload.nodes.real(n).is_some());
        Ok(obs)
    }

    fn cleanup(&mut self) -> Result<(), BackendError> {
        let (Some(api), Some(mut run)) = (&self.api, self.case.take()) else {
            return Ok(());
        };
        for warning in run.workload.warnings.take() {
            self.warnings.push(warning);
        }
        if self.options.keep {
            let commands = run.ledger.keep_commands(&api.kubectl());
            self.warnings.push(format!(
                "kept (--keep); inspect and undo with:\n  {}",
                commands.join("\n  ")
            ));
            return Ok(());
        }
        let report = self
            .rt
            .block_on(run.ledger.cleanup_or_abort(api, interrupted(2)));
        if report.is_complete() {
            Ok(())
        } else {
            Err(BackendError::setup(format!(
                "cleanup incomplete:\n{}",
                report.to_string().trim_end()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{NodeDef, ProxyMode};
    use crate::model::{KubeVersion, LABEL_CONTROL_PLANE, LABEL_ZONE};

    fn real(name: &str, zone: Option<&str>, cp: bool) -> Node {
        let mut labels = BTreeMap::new();
        if let Some(z) = zone {
            labels.insert(LABEL_ZONE.to_string(), z.to_string());
        }
        if cp {
            labels.insert(LABEL_CONTROL_PLANE.to_string(), String::new());
        }
        Node {
            name: name.into(),
            labels,
            allocatable_cpu_millis: Some(2000),
            ready: true,
            kubelet_version: None,
        }
    }

    fn shape() -> ClusterShape {
        let def = |name: &str, role, zone: &str| NodeDef::new(name, role, Some(zone));
        ClusterShape {
            version: KubeVersion::new(34),
            proxy_mode: ProxyMode::Iptables,
            feature_gates: Vec::new(),
            max_endpoints_per_slice: 100,
            nodes: vec![
                def("control-plane", Role::ControlPlane, "a"),
                def("worker", Role::Worker, "a"),
                def("worker2", Role::Worker, "b"),
            ],
        }
    }

    #[test]
    fn maps_by_existing_zones() {
        let nodes = vec![
            real("cp", Some("eu-1"), true),
            real("n1", Some("eu-2"), false),
            real("n2", Some("eu-1"), false),
        ];
        let map = map_nodes(&shape(), &nodes, true).expect("map");
        assert_eq!(map.real("control-plane"), Some("cp"));
        assert_eq!(map.real("worker"), Some("n2"));
        assert_eq!(map.real("worker2"), Some("n1"));
        // The observation shows the case's zone names.
        let mut state = crate::model::ClusterState::empty();
        state.nodes = nodes;
        map.rename_state(&mut state);
        let zones: Vec<(&str, Option<&str>)> = state
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.zone()))
            .collect();
        assert_eq!(
            zones,
            [
                ("control-plane", Some("a")),
                ("worker2", Some("b")),
                ("worker", Some("a"))
            ]
        );
    }

    #[test]
    fn too_few_nodes_is_a_reason_to_skip() {
        let nodes = vec![
            real("cp", Some("eu-1"), true),
            real("n1", Some("eu-1"), false),
        ];
        let why = map_nodes(&shape(), &nodes, true).err().unwrap_or_default();
        assert!(why.contains("no free ready worker node"), "{why}");
        assert!(why.contains("--allow-node-changes"), "{why}");
        // With node changes allowed, zones do not matter, but the count does.
        assert!(map_nodes(&shape(), &nodes, false).is_err());
        let more = vec![
            real("cp", None, true),
            real("n1", None, false),
            real("n2", None, false),
        ];
        assert!(map_nodes(&shape(), &more, false).is_ok());
    }
}
