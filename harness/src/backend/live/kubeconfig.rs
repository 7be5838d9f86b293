//! [`KubeconfigBackend`]: the live backend over [`KubeconfigProvider`], an existing cluster
//! named by a kubeconfig (and context). It maps the case's nodes onto the cluster's
//! schedulable nodes, works only in its own namespace per case run, and changes node labels
//! only with `--allow-node-changes` (restoring them afterwards). It has no access to the nodes
//! themselves, so it reads no dataplane: routes are observed with traffic probes by default
//! ([`ObserveSource::Traffic`]; with `Rules` they are empty and route checks fail; see
//! `docs/kind-backend.md`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::probes::ObserveSource;
use super::workload::{Capabilities, NodeAccess, NodeMap};
use super::{Connection, LiveBackend, LiveOptions, Provider};
use crate::backend::kube_api::ClusterApi;
use crate::backend::Warnings;
use crate::backend::{BackendError, BackendKind};
use crate::case::{ClusterShape, Role};
use crate::model::Node;

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

/// An existing cluster's nodes: not reachable (routes come from traffic through the API).
pub struct NoNodeAccess;

impl NodeAccess for NoNodeAccess {
    fn label(&self) -> &str {
        "an existing cluster"
    }
}

/// A cluster the user already has.
#[derive(Debug)]
pub struct KubeconfigProvider {
    options: KubeconfigOptions,
    api: Option<ClusterApi>,
    connected: bool,
    environment: Vec<(String, String)>,
}

/// An existing cluster from a kubeconfig.
pub type KubeconfigBackend = LiveBackend<KubeconfigProvider>;

impl KubeconfigBackend {
    /// A backend for the cluster `options` name (connected at the first setup), with run id
    /// [`new_run_id`](super::new_run_id).
    pub fn new(options: KubeconfigOptions) -> Result<Self, BackendError> {
        let live = LiveOptions {
            keep: options.keep,
            observe: options.observe,
            ..LiveOptions::new(super::new_run_id())
        };
        let provider = KubeconfigProvider {
            options,
            api: None,
            connected: false,
            environment: Vec::new(),
        };
        LiveBackend::with_provider(provider, live)
    }

    /// Names this run (namespaces are `topo-<case>-<run>-<n>`).
    pub fn with_run_id(mut self, run_id: impl Into<String>) -> Self {
        self.options.run_id = run_id.into();
        self
    }

    /// Uses an already connected client (tests).
    pub fn with_api(mut self, api: ClusterApi) -> Self {
        self.provider_mut().api = Some(api);
        self
    }
}

impl Provider for KubeconfigProvider {
    type Access<'a> = NoNodeAccess;

    fn kind(&self) -> BackendKind {
        BackendKind::Kubeconfig
    }

    fn label(&self) -> &'static str {
        "an existing cluster"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            relabel: self.options.allow_node_changes,
            ..Capabilities::default()
        }
    }

    fn observe_source(
        &self,
        _shape: &ClusterShape,
        wanted: Option<ObserveSource>,
    ) -> Result<ObserveSource, BackendError> {
        Ok(wanted.unwrap_or_else(|| ObserveSource::default_for(BackendKind::Kubeconfig, false)))
    }

    fn connect(
        &mut self,
        rt: &tokio::runtime::Runtime,
        shape: &ClusterShape,
        _options: &LiveOptions,
        _warnings: &Warnings,
    ) -> Result<Connection, BackendError> {
        if self.api.is_none() {
            let path = self.options.path()?;
            let api = rt
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
        let real = rt
            .block_on(api.observe("default"))
            .map_err(|e| BackendError::setup_from("listing the cluster's nodes", e))?
            .nodes;
        let nodes = map_nodes(shape, &real, !self.options.allow_node_changes).map_err(|why| {
            BackendError::Unsupported {
                reason: format!("skipped on this cluster: {why}"),
            }
        })?;
        let fresh = !self.connected;
        self.connected = true;
        if fresh {
            self.environment = super::apiserver_version(rt, api);
        }
        Ok(Connection {
            api: api.clone(),
            nodes,
            relabel: self.options.allow_node_changes,
            fresh,
            environment: self.environment.clone(),
        })
    }

    fn access(&self) -> Result<NoNodeAccess, BackendError> {
        Ok(NoNodeAccess)
    }

    fn shutdown(
        &mut self,
        _rt: &tokio::runtime::Runtime,
        _options: &LiveOptions,
        _warnings: &Warnings,
    ) -> Result<(), BackendError> {
        Ok(())
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
