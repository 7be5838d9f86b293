//! The local backend: real upstream etcd, kube-apiserver, kube-controller-manager and one
//! kube-proxy per node, as processes of this machine, with every node a Linux network
//! namespace and every pod a namespace behind its node. No containers: root, `ip`, and
//! `iptables`/`nft` suffice. The harness plays the kubelet (pod addresses, pod and node
//! status), so this backend can do what kind cannot: change a node's CPU, mark it NotReady,
//! relabel it, add and remove nodes.
//!
//! - [`layout`]: names and addresses (pure);
//! - [`secrets`]: tokens, the service account key, kubeconfigs (0700/0600);
//! - [`process`]: child processes (own process group, logs, stopped by pid);
//! - [`netns`]: the hub bridge, node and pod namespaces, through `ip`;
//! - [`control_plane`]: etcd, kube-apiserver, kube-controller-manager (flags per shape);
//! - [`node`]: a node (Node object, namespace, forwarder, echo server, kube-proxy);
//! - this module: [`LocalProvider`] (clusters per shape, reused when only nodes differ) and
//!   its [`NodeAccess`] ([`LocalNodes`]), and the pre-run checks ([`preflight`]).
//!
//! Lifecycle of a cluster: started for the first shape of a control-plane key (version,
//! gates, `--max-endpoints-per-slice`, controller) → nodes added, removed or re-CPU'd for
//! each shape with that key → torn down when the key changes and at the end (or kept with
//! `--keep`: a `state.json` in its directory lists what runs, `topo-harness local down DIR`
//! removes it).

pub mod control_plane;
pub mod layout;
pub mod netns;
pub mod node;
pub mod process;
pub mod secrets;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use control_plane::{ControlPlane, ControlPlaneKey};
use netns::{NetError, Network};
use node::{LocalNode, NodeContext, NodeProxy, NodeWanted};
use process::ProcessError;
use secrets::SecretsError;

use super::command::{AfterCreate, Command, CommandRunner, DuctRunner};
use super::kube_api::{KubeApiError, Ledger, ObjectKind};
use super::live::workload::{manifests, routes_from_dump};
use super::live::{
    controller, Capabilities, Connection, Kubelet, LiveBackend, LiveOptions, NodeAccess, NodeMap,
    ObserveSource, PodNetwork, Provider,
};
use super::{BackendError, BackendKind, EndpointSliceController, NodeRoutes, Warnings};
use crate::case::{Case, ClusterShape, ProxyMode};
use crate::model::{FeatureGates, KubeVersion, Service, MANAGED_BY_CONTROLLER};

/// The upstream programs one release runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalBinaries {
    /// The multi-call program (`kube-apiserver`, `kube-controller-manager`, `kube-proxy`).
    pub k8s: PathBuf,
    /// etcd.
    pub etcd: PathBuf,
    /// The node helper (echo servers, forwarders, probes).
    pub netexec: PathBuf,
}

/// Why the local backend failed.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// A child process failed.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// The network could not be made.
    #[error(transparent)]
    Net(#[from] NetError),
    /// Credentials could not be made.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// An API call failed.
    #[error(transparent)]
    Api(#[from] KubeApiError),
    /// A file or directory could not be made.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A component did not become ready in time.
    #[error("{what} not ready after {waited:?} (last: {last})")]
    NotReady {
        /// Which.
        what: String,
        /// How long it was waited for.
        waited: Duration,
        /// What the last check said.
        last: String,
    },
    /// A node has no pod slot left.
    #[error("node {node} already runs {pods} pods, the most the local backend gives a node")]
    Full {
        /// The node.
        node: String,
        /// Its limit.
        pods: usize,
    },
    /// The run was interrupted.
    #[error("interrupted (Ctrl-C)")]
    Interrupted,
}

impl LocalError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        LocalError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<BackendError> for LocalError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::Interrupted => LocalError::Interrupted,
            other => LocalError::NotReady {
                what: "the cluster".into(),
                waited: Duration::ZERO,
                last: other.report(),
            },
        }
    }
}

fn setup_err(e: LocalError) -> BackendError {
    match e {
        LocalError::Interrupted => BackendError::Interrupted,
        other => BackendError::setup_from("", other),
    }
}

/// Options of the local backend.
#[derive(Clone, Debug)]
pub struct LocalOptions {
    /// The run id (`reports/<run>/local/…`).
    pub run_id: String,
    /// The `reports/` directory: each cluster's logs (and, while it runs, its credentials)
    /// go to `reports/<run>/local/<cluster>/`.
    pub reports_dir: PathBuf,
    /// The programs per Kubernetes minor (from the upstream cache).
    pub binaries: BTreeMap<u32, LocalBinaries>,
    /// Whether kube-controller-manager runs its EndpointSlice controller (`--controller`).
    pub controller: EndpointSliceController,
    /// The user's proxy, run in every node namespace with proxy mode `none` (`--node-agent`).
    pub node_agent: Option<String>,
    /// A command run once after each cluster is created (`--after-create`).
    pub after_create: Option<AfterCreate>,
    /// Options every live backend has.
    pub live: LiveOptions,
}

impl LocalOptions {
    /// Defaults for run `run_id`: `reports/`, no binaries known yet, the built-in controller.
    pub fn new(run_id: impl Into<String>) -> Self {
        let run_id = run_id.into();
        LocalOptions {
            reports_dir: PathBuf::from("reports"),
            binaries: BTreeMap::new(),
            controller: EndpointSliceController::Builtin,
            node_agent: None,
            after_create: None,
            live: LiveOptions::new(run_id.clone()),
            run_id,
        }
    }
}

/// A running local cluster.
#[derive(Debug)]
struct LocalCluster {
    /// Its directory (logs, state, credentials while it runs).
    dir: PathBuf,
    /// Its network tag.
    tag: String,
    control_plane: ControlPlane,
    binaries: LocalBinaries,
    nodes: RefCell<BTreeMap<String, LocalNode>>,
}

/// Local clusters per shape.
pub struct LocalProvider {
    runner: Box<dyn CommandRunner>,
    options: LocalOptions,
    cluster: Option<LocalCluster>,
    clusters_made: usize,
}

impl std::fmt::Debug for LocalProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalProvider")
            .field("options", &self.options)
            .field("cluster", &self.cluster.as_ref().map(|c| c.dir.clone()))
            .finish_non_exhaustive()
    }
}

/// Real upstream components on this machine.
pub type LocalBackend = LiveBackend<LocalProvider>;

impl LocalBackend {
    /// A local backend (nothing started yet).
    pub fn new(options: LocalOptions) -> Result<Self, BackendError> {
        let live = LiveOptions {
            run_id: options.run_id.clone(),
            ..options.live.clone()
        };
        let provider = LocalProvider {
            runner: Box::new(DuctRunner),
            options,
            cluster: None,
            clusters_made: 0,
        };
        LiveBackend::with_provider(provider, live)
    }
}

/// The wanted nodes of `shape` with proxy `proxy`.
fn wanted_nodes(shape: &ClusterShape, options: &LocalOptions) -> Vec<NodeWanted> {
    let proxy = match (shape.proxy_mode, &options.node_agent) {
        (ProxyMode::None, Some(agent)) => NodeProxy::Agent(agent.clone()),
        (ProxyMode::None, None) => NodeProxy::None,
        (mode, _) => NodeProxy::KubeProxy(mode),
    };
    shape
        .nodes
        .iter()
        .map(|n| NodeWanted {
            name: n.name.clone(),
            role: n.role,
            cpu_millis: n.cpu_millis,
            proxy: proxy.clone(),
            namespaced: true,
        })
        .collect()
}

impl LocalCluster {
    /// Lets go of every process without stopping it (a kept cluster).
    fn detach(self) {
        let LocalCluster {
            mut control_plane,
            nodes,
            ..
        } = self;
        control_plane.detach();
        for (_, mut node) in nodes.into_inner() {
            node.detach();
        }
    }
}

impl LocalProvider {
    fn network(&self, tag: &str) -> Network<'_> {
        Network::new(self.runner.as_ref(), tag)
    }

    fn binaries(&self, version: KubeVersion) -> Result<LocalBinaries, String> {
        self.options
            .binaries
            .get(&version.minor)
            .cloned()
            .ok_or_else(|| {
                format!(
                    "Kubernetes {version} is not built for the local backend; run: topo-harness upstream build --kubernetes {version}"
                )
            })
    }

    /// Starts a control plane and the hub for `key`.
    fn start_cluster(
        &mut self,
        rt: &tokio::runtime::Runtime,
        key: &ControlPlaneKey,
        binaries: LocalBinaries,
        keep: bool,
    ) -> Result<LocalCluster, LocalError> {
        self.clusters_made += 1;
        // Absolute: kubeconfigs and component flags name files in it.
        let reports = std::path::absolute(&self.options.reports_dir)
            .map_err(|e| LocalError::io(&self.options.reports_dir, e))?;
        let dir = reports
            .join(&self.options.run_id)
            .join("local")
            .join(format!("{}-{}", key.version, self.clusters_made));
        std::fs::create_dir_all(&dir).map_err(|e| LocalError::io(&dir, e))?;
        let tag = layout::run_tag();
        // Which namespaces are this cluster's (`topo-<tag>-…`), for whoever looks later.
        let tag_file = dir.join("network-tag");
        std::fs::write(&tag_file, format!("{tag}\n")).map_err(|e| LocalError::io(&tag_file, e))?;
        self.network(&tag).create_hub()?;
        let control_plane = match ControlPlane::start(rt, &binaries, &dir, key, !keep) {
            Ok(cp) => cp,
            Err(e) => {
                let _ = self.network(&tag).delete_all();
                return Err(e);
            }
        };
        let cluster = LocalCluster {
            dir,
            tag,
            control_plane,
            binaries,
            nodes: RefCell::new(BTreeMap::new()),
        };
        Ok(cluster)
    }

    /// Brings the cluster's nodes to `wanted`: nodes not wanted (or wanted otherwise) are
    /// removed, missing ones started, CPU changes written.
    fn reconcile_nodes(
        &self,
        rt: &tokio::runtime::Runtime,
        cluster: &LocalCluster,
        wanted: &[NodeWanted],
        gates: &[(crate::model::FeatureGate, bool)],
        version: KubeVersion,
        keep: bool,
    ) -> Result<(), LocalError> {
        let net = self.network(&cluster.tag);
        let api = &cluster.control_plane.api;
        let mut nodes = cluster.nodes.borrow_mut();
        let stale: Vec<String> = nodes
            .iter()
            .filter(|(name, node)| {
                wanted
                    .iter()
                    .find(|w| &&w.name == name)
                    .is_none_or(|w| w.role != node.wanted.role || w.proxy != node.wanted.proxy)
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in stale {
            if let Some(mut node) = nodes.remove(&name) {
                let problems = node.stop(&net);
                if let Some(problem) = problems.first() {
                    return Err(LocalError::NotReady {
                        what: format!("removing node {name}"),
                        waited: Duration::ZERO,
                        last: problem.clone(),
                    });
                }
                rt.block_on(api.delete(&crate::backend::kube_api::ObjectRef::node(&name)))?;
            }
        }
        for w in wanted {
            if let Some(node) = nodes.get_mut(&w.name) {
                if node.wanted.cpu_millis != w.cpu_millis {
                    let patch = serde_json::json!({"status": {
                        "allocatable": {"cpu": format!("{}m", w.cpu_millis)},
                        "capacity": {"cpu": format!("{}m", w.cpu_millis)}
                    }});
                    rt.block_on(api.patch_status(ObjectKind::Node, None, &w.name, &patch))?;
                    node.wanted.cpu_millis = w.cpu_millis;
                }
                continue;
            }
            let used: BTreeSet<usize> = nodes.values().map(|n| n.index).collect();
            let index = (0..).find(|i| !used.contains(i)).unwrap_or(0);
            let object = node::node_object(w, index, &cluster.control_plane.git_version);
            let target = crate::backend::kube_api::ObjectRef::node(&w.name);
            match rt.block_on(api.create_node(&object)) {
                // Left by a setup that failed half-way: this cluster is the harness's own.
                Err(KubeApiError::Api { code: 409, .. }) => {
                    rt.block_on(api.delete(&target))?;
                    rt.block_on(api.create_node(&object))?;
                }
                other => other?,
            }
            let peers: Vec<usize> = nodes
                .values()
                .filter(|n| n.wanted.namespaced)
                .map(|n| n.index)
                .collect();
            let ctx = NodeContext {
                net: &net,
                binaries: &cluster.binaries,
                secrets: &cluster.control_plane.secrets,
                api_port: cluster.control_plane.ports.apiserver,
                logs: &cluster.dir.join("logs"),
                gates,
                version,
                die_with_parent: !keep,
            };
            let started = LocalNode::start(&ctx, w, index, &peers).and_then(|mut started| {
                let routed: Result<(), NetError> = if w.namespaced {
                    peers
                        .iter()
                        .try_for_each(|peer| net.add_route(*peer, index))
                } else {
                    Ok(())
                };
                match routed {
                    Ok(()) => Ok(started),
                    Err(e) => {
                        started.stop(&net);
                        Err(e.into())
                    }
                }
            });
            match started {
                Ok(started) => {
                    nodes.insert(w.name.clone(), started);
                }
                Err(e) => {
                    // Nothing of a node that did not start stays behind.
                    let _ = rt.block_on(api.delete(&target));
                    let _ = net.remove_node(index);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Waits until the built-in EndpointSlice controller writes a probe Service's slice: the
    /// control plane works end to end.
    fn await_builtin_controller(
        &self,
        rt: &tokio::runtime::Runtime,
        cluster: &LocalCluster,
        node: &str,
    ) -> Result<(), BackendError> {
        let api = &cluster.control_plane.api;
        let namespace = format!(
            "{}-ready",
            controller::probe_namespace(&self.options.run_id)
        );
        let mut ledger = Ledger::new();
        let access = LocalNodes { provider: self };
        let waited = rt.block_on(controller::wait_for_controller(
            api,
            &mut ledger,
            &access,
            &namespace,
            node,
            MANAGED_BY_CONTROLLER,
            Duration::from_secs(60),
            Duration::from_millis(100),
        ));
        let report = rt.block_on(ledger.cleanup(api));
        waited.map_err(BackendError::setup)?;
        if !report.is_complete() {
            return Err(BackendError::cleanup(report.to_string().trim_end()));
        }
        Ok(())
    }

    /// Tears the current cluster down: nodes, control plane, namespaces, credentials.
    /// Returns what is left.
    fn teardown(&mut self, rt: &tokio::runtime::Runtime) -> Vec<String> {
        let Some(mut cluster) = self.cluster.take() else {
            return Vec::new();
        };
        let _ = rt;
        let net = self.network(&cluster.tag);
        let mut problems = Vec::new();
        for (_, mut node) in std::mem::take(&mut *cluster.nodes.borrow_mut()) {
            problems.extend(node.stop(&net));
        }
        cluster.control_plane.stop();
        problems.extend(net.delete_all());
        if let Err(e) = cluster.control_plane.secrets.remove() {
            problems.push(format!(
                "removing {}: {e}",
                cluster.control_plane.secrets.dir.display()
            ));
        }
        problems
    }

    /// What `cluster` runs, as its components report it: kube-apiserver's `/version`, etcd's
    /// `/version`, and the kube-proxy program's `--version`.
    fn environment(&self, cluster: &LocalCluster) -> Vec<(String, String)> {
        let cp = &cluster.control_plane;
        let get = |netns: &str, url: &str| {
            self.runner
                .run(
                    &Command::new(cluster.binaries.netexec.display().to_string())
                        .args(["get", "--netns", netns, "--url", url, "--timeout", "2s"])
                        .timeout(Duration::from_secs(5)),
                )
                .map(|o| o.stdout)
                .ok()
        };
        let mut out = vec![("kube-apiserver".to_string(), cp.git_version.clone())];
        if let Some(etcd) = get(
            "-",
            &format!("http://127.0.0.1:{}/version", cp.ports.etcd_client),
        )
        .and_then(|body| serde_json::from_str::<serde_json::Value>(&body).ok())
        .and_then(|v| v["etcdserver"].as_str().map(|s| format!("v{s}")))
        {
            out.push(("etcd".to_string(), etcd));
        }
        let runs_proxy = cluster
            .nodes
            .borrow()
            .values()
            .any(|n| n.wanted.namespaced && matches!(n.wanted.proxy, NodeProxy::KubeProxy(_)));
        if runs_proxy {
            // kube-proxy serves no build info: ask the program the nodes run.
            let version = self
                .runner
                .run(
                    &Command::new(cluster.binaries.k8s.display().to_string())
                        .args(["kube-proxy", "--version"])
                        .timeout(Duration::from_secs(10)),
                )
                .ok()
                .and_then(|o| o.stdout.split_whitespace().last().map(str::to_string));
            if let Some(version) = version {
                out.push(("kube-proxy".to_string(), version));
            }
        }
        out
    }

    /// Writes `state.json` of a cluster that is kept: what runs, so it can be torn down later.
    fn write_state(cluster: &LocalCluster) -> Result<PathBuf, LocalError> {
        let mut pids = cluster.control_plane.pids();
        for node in cluster.nodes.borrow().values() {
            pids.extend(node.pids());
        }
        let state = serde_json::json!({
            "tag": cluster.tag,
            "kubeconfig": cluster.control_plane.kubeconfig,
            "secrets": cluster.control_plane.secrets.dir,
            "processes": pids.iter().map(|(name, pid)| serde_json::json!({"name": name, "pid": pid})).collect::<Vec<_>>(),
        });
        let path = cluster.dir.join("state.json");
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&state).unwrap_or_default(),
        )
        .map_err(|e| LocalError::io(&path, e))?;
        Ok(path)
    }
}

impl Provider for LocalProvider {
    type Access<'a> = LocalNodes<'a>;

    fn kind(&self) -> BackendKind {
        BackendKind::Local
    }

    fn label(&self) -> &'static str {
        "the local backend"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    fn wait_policy(&self) -> crate::backend::WaitPolicy {
        crate::backend::WaitPolicy {
            deadline: Duration::from_secs(60),
            stable_window: Duration::from_millis(1500),
            interval: Duration::from_millis(250),
            virtual_time: false,
        }
    }

    fn supports(&self, case: &Case, shape: &ClusterShape) -> Result<(), String> {
        self.binaries(shape.version)?;
        if shape.proxy_mode == ProxyMode::Ipvs && !Path::new("/sys/module/ip_vs").exists() {
            return Err(
                "kube-proxy's ipvs mode needs the ip_vs kernel module, which this machine does not have"
                    .to_string(),
            );
        }
        if shape.nodes.len() > layout::MAX_NODES {
            return Err(format!(
                "{} nodes; the local backend makes at most {}",
                shape.nodes.len(),
                layout::MAX_NODES
            ));
        }
        let most = crate::backend::pods::PodSet::most_per_node(case);
        if most > layout::PODS_PER_NODE {
            return Err(format!(
                "a step puts {most} pods on one node; the local backend gives a node at most {}",
                layout::PODS_PER_NODE
            ));
        }
        Ok(())
    }

    fn observe_source(
        &self,
        shape: &ClusterShape,
        wanted: Option<ObserveSource>,
    ) -> Result<ObserveSource, BackendError> {
        let rules = shape.proxy_mode.has_kube_proxy();
        match wanted {
            None => Ok(ObserveSource::default_for(BackendKind::Local, rules)),
            Some(source) if source.uses_rules() && !rules => Err(BackendError::setup(format!(
                "--observe {} reads kube-proxy's rules, but proxy mode none runs no kube-proxy; use --observe traffic (the default with none)",
                source.as_str()
            ))),
            Some(source) => Ok(source),
        }
    }

    fn connect(
        &mut self,
        rt: &tokio::runtime::Runtime,
        shape: &ClusterShape,
        options: &LiveOptions,
        warnings: &Warnings,
    ) -> Result<Connection, BackendError> {
        let key = ControlPlaneKey::of(shape, self.options.controller);
        let binaries = self.binaries(shape.version).map_err(BackendError::setup)?;
        let mut fresh = false;
        if self
            .cluster
            .as_ref()
            .is_none_or(|c| c.control_plane.key != key)
        {
            self.shutdown(rt, options, warnings)?;
            let cluster = self
                .start_cluster(rt, &key, binaries, options.keep)
                .map_err(setup_err)?;
            self.cluster = Some(cluster);
            fresh = true;
        }
        let wanted = wanted_nodes(shape, &self.options);
        let Some(cluster) = &self.cluster else {
            return Err(BackendError::setup("no cluster"));
        };
        let reconciled =
            self.reconcile_nodes(
                rt,
                cluster,
                &wanted,
                &shape.feature_gates,
                shape.version,
                options.keep,
            );
        if let Err(e) = reconciled {
            let logs = cluster.dir.join("logs");
            return Err(setup_err(e).with_note(&format!(" (logs in {})", logs.display())));
        }
        if fresh {
            if self.options.controller == EndpointSliceController::Builtin {
                let node = wanted.first().map(|w| w.name.clone()).unwrap_or_default();
                self.await_builtin_controller(rt, cluster, &node)?;
            }
            if let Some(hook) = &self.options.after_create {
                let name = cluster
                    .dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                self.runner
                    .run(&hook.command(&cluster.control_plane.kubeconfig, &name))
                    .map_err(|e| {
                        BackendError::setup_from("the --after-create command failed", e)
                    })?;
            }
        }
        let environment = self.environment(cluster);
        Ok(Connection {
            api: cluster.control_plane.api.clone(),
            nodes: NodeMap::identity(shape),
            relabel: true,
            fresh,
            environment,
        })
    }

    fn access(&self) -> Result<LocalNodes<'_>, BackendError> {
        if self.cluster.is_none() {
            return Err(BackendError::setup("no cluster: setup was not called"));
        }
        Ok(LocalNodes { provider: self })
    }

    fn shutdown(
        &mut self,
        rt: &tokio::runtime::Runtime,
        options: &LiveOptions,
        warnings: &Warnings,
    ) -> Result<(), BackendError> {
        if options.keep {
            if let Some(cluster) = self.cluster.take() {
                let state = Self::write_state(&cluster).map_err(setup_err)?;
                warnings.push(format!(
                    "kept the local cluster in {} (kubeconfig {}); tear it down with: topo-harness local down {}",
                    cluster.dir.display(),
                    cluster.control_plane.kubeconfig.display(),
                    state.parent().unwrap_or(&cluster.dir).display()
                ));
                // Its processes live on: let go of them without stopping them.
                cluster.detach();
            }
            return Ok(());
        }
        let problems = self.teardown(rt);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(BackendError::cleanup(format!(
                "tearing down the local cluster left: {}",
                problems.join("; ")
            )))
        }
    }
}

/// Node access of a local cluster: the harness is the kubelet.
pub struct LocalNodes<'a> {
    provider: &'a LocalProvider,
}

impl LocalNodes<'_> {
    fn cluster(&self) -> Result<&LocalCluster, BackendError> {
        self.provider
            .cluster
            .as_ref()
            .ok_or_else(|| BackendError::setup("no cluster"))
    }

    fn with_node<T>(
        &self,
        node: &str,
        f: impl FnOnce(&mut LocalNode, &Network<'_>) -> Result<T, LocalError>,
    ) -> Result<T, BackendError> {
        let cluster = self.cluster()?;
        let net = self.provider.network(&cluster.tag);
        let mut nodes = cluster.nodes.borrow_mut();
        let Some(local) = nodes.get_mut(node) else {
            return Err(BackendError::apply(format!(
                "node {node} is not in the cluster"
            )));
        };
        f(local, &net).map_err(|e| BackendError::apply_from(format!("node {node}"), e))
    }
}

impl NodeAccess for LocalNodes<'_> {
    fn label(&self) -> &str {
        "the local backend"
    }

    fn kubelet(&self) -> Kubelet {
        Kubelet::Emulated
    }

    fn start_pod(&self, node: &str, pod: &str) -> Result<PodNetwork, BackendError> {
        self.with_node(node, |local, net| local.start_pod(net, pod))
    }

    fn stop_pod(&self, node: &str, pod: &str) -> Result<(), BackendError> {
        self.with_node(node, |local, net| local.stop_pod(net, pod))
    }

    fn read_routes(
        &self,
        node: &str,
        service: &Service,
        gates: &FeatureGates,
    ) -> Result<Option<NodeRoutes>, BackendError> {
        let cluster = self.cluster()?;
        let (index, mode) = {
            let nodes = cluster.nodes.borrow();
            let Some(local) = nodes.get(node) else {
                return Err(BackendError::observe(format!(
                    "node {node} is not in the cluster"
                )));
            };
            let NodeProxy::KubeProxy(mode) = local.wanted.proxy else {
                return Err(BackendError::observe(format!(
                    "{node}: no kube-proxy runs there, so there are no rules to read; observe with traffic"
                )));
            };
            (local.index, mode)
        };
        let net = self.provider.network(&cluster.tag);
        let netns = layout::node_netns(&cluster.tag, index);
        let argv: &[&str] = match mode {
            ProxyMode::Nftables => &["nft", "list", "table", "ip", "kube-proxy"],
            _ => &["iptables-save"],
        };
        let dump = net
            .exec(&format!("reading the rules of node {node}"), &netns, argv)
            .map_err(|e| {
                BackendError::observe_from(format!("reading the dataplane of {node}"), e)
            })?;
        routes_from_dump(mode, &dump, node, service, gates).map(Some)
    }

    fn probe(
        &self,
        node: &str,
        host: &str,
        port: u16,
        count: u32,
    ) -> Option<Result<String, BackendError>> {
        let probe = || -> Result<String, BackendError> {
            let cluster = self.cluster()?;
            let index = cluster
                .nodes
                .borrow()
                .get(node)
                .map(|n| n.index)
                .ok_or_else(|| {
                    BackendError::observe(format!("node {node} is not in the cluster"))
                })?;
            let netns = PathBuf::from("/run/netns").join(layout::client_netns(&cluster.tag, index));
            let command = Command::new(cluster.binaries.netexec.display().to_string())
                .args(["probe", "--netns"])
                .arg(netns.display().to_string())
                .args(["--target", &format!("{host}:{port}")])
                .args(["--count", &count.to_string()])
                .timeout(manifests::probe_duration_bound(count) + Duration::from_secs(10));
            self.provider
                .runner
                .run(&command)
                .map(|o| o.stdout)
                .map_err(|e| BackendError::observe_from(format!("probing from node {node}"), e))
        };
        Some(probe())
    }
}

/// The upstream programs of Kubernetes `minor` from the upstream cache
/// ([`crate::upstream::Cache`]: `$TOPO_UPSTREAM_CACHE`, else the XDG cache), or why there are
/// none (not built, or built from other sources: with the command that builds them).
pub fn binaries_for(minor: u32) -> Result<LocalBinaries, String> {
    let cache = crate::upstream::Cache::locate(None).map_err(|e| e.to_string())?;
    let release = cache.release(minor).map_err(|e| e.to_string())?;
    Ok(LocalBinaries {
        k8s: release.k8s,
        etcd: release.etcd,
        netexec: release.netexec,
    })
}

/// The upstream programs at hand, per Kubernetes minor: every pinned release that is built
/// and fresh in the upstream cache.
pub fn binaries_at_hand() -> BTreeMap<u32, LocalBinaries> {
    crate::upstream::pinned_releases()
        .iter()
        .filter_map(|r| binaries_for(r.minor).ok().map(|b| (r.minor, b)))
        .collect()
}

/// What the local backend needs before anything starts, for the selected proxy `modes`:
/// root, `ip`, and `iptables-save`/`iptables-restore` (iptables) or `nft` (nftables). One line
/// saying what is missing.
pub fn preflight(modes: &[ProxyMode]) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("the local backend needs root (it makes network namespaces and runs kube-proxy): run it as root, e.g. with sudo".to_string());
    }
    let mut needed = vec![("ip", "iproute2")];
    if modes.contains(&ProxyMode::Iptables) {
        needed.extend([
            ("iptables-save", "iptables"),
            ("iptables-restore", "iptables"),
        ]);
    }
    if modes.contains(&ProxyMode::Nftables) {
        needed.push(("nft", "nftables"));
    }
    let missing: Vec<String> = needed
        .iter()
        .filter(|(program, _)| !on_path(program))
        .map(|(program, package)| format!("{program} (Debian package {package})"))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the local backend needs {} on PATH",
            missing.join(", ")
        ))
    }
}

/// Whether `program` is an executable on `PATH`.
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Tears down a cluster kept with `--keep` from the `state.json` in `dir`: stops each recorded
/// process (only if its command line still names this cluster: a pid may have been reused),
/// deletes the cluster's network namespaces and its credentials. Returns what was done, one
/// line each; an error when `dir` holds no cluster state.
pub fn tear_down_kept(dir: &Path) -> Result<Vec<String>, String> {
    let path = dir.join("state.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e} (is this a directory `run --backend local --keep` printed?)",
            path.display()
        )
    })?;
    let state: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a local cluster state: {e}", path.display()))?;
    let tag = state["tag"]
        .as_str()
        .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_hexdigit()))
        .ok_or_else(|| format!("{}: no cluster tag", path.display()))?
        .to_string();
    let dir_text = dir.display().to_string();
    let mut done = Vec::new();
    let mut stopping = Vec::new();
    for process in state["processes"].as_array().into_iter().flatten() {
        let (Some(pid), Some(name)) = (process["pid"].as_u64(), process["name"].as_str()) else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        if cmdline.is_empty() {
            done.push(format!("{name} (pid {pid}): already gone"));
        } else if cmdline.contains(&tag) || cmdline.contains(&dir_text) {
            if let Ok(pid) = libc::pid_t::try_from(pid) {
                // SAFETY: kill(2) on a pid whose command line names this cluster.
                unsafe { libc::kill(pid, libc::SIGTERM) };
                stopping.push((pid, name.to_string()));
            }
        } else {
            done.push(format!(
                "{name} (pid {pid}): left alone, the pid now runs something else"
            ));
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    for (pid, name) in stopping {
        let alive = || Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid);
        while alive() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if alive() {
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            done.push(format!("{name} (pid {pid}): killed"));
        } else {
            done.push(format!("{name} (pid {pid}): stopped"));
        }
    }
    let net = Network::new(&DuctRunner, &tag);
    let own = net.list_own().map_err(|e| e.to_string())?;
    let left = net.delete_all();
    done.push(format!(
        "network namespaces: {} deleted{}",
        own.len() - left.len(),
        if left.is_empty() {
            String::new()
        } else {
            format!("; left: {}", left.join("; "))
        }
    ));
    if let Some(secrets) = state["secrets"].as_str() {
        let secrets = Path::new(secrets);
        if secrets.starts_with(dir) {
            match std::fs::remove_dir_all(secrets) {
                Ok(()) => done.push(format!("credentials {} removed", secrets.display())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => done.push(format!("credentials {}: {e}", secrets.display())),
            }
        }
    }
    std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(done)
}

/// Whether process `pid` has ended and waits to be reaped (its parent, the harness, is gone
/// or not waiting).
fn is_zombie(pid: libc::pid_t) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .map(|rest| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}
