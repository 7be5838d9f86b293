//! [`KindBackend`]: the live backend over [`KindProvider`]: one kind cluster per
//! [`ClusterKey`](crate::case::ClusterKey), shared by every case of that key in a run; each
//! case gets its own namespace and its own node labels (restored afterwards). Nodes are
//! reached with `docker exec` (or podman/nerdctl): kubelets stopped and started, files made
//! in echo containers, rule dumps read.
//!
//! Setup maps the shape to a [`KindClusterSpec`] ([`crate::backend::kind::shape`]), picks the
//! kind binary whose release ships the node image ([`crate::backend::kind::releases`]), writes
//! `kind/<name>.yaml`, creates the cluster (or reuses one with `--reuse` when its recorded
//! shape hash matches), writes `reports/<run>/<name>/kubeconfig` and connects to context
//! `kind-<name>` only.

use std::path::{Path, PathBuf};

use super::probes::{ObserveSource, ProbeTiming};
use super::workload::{manifests, routes_from_dump, Capabilities, NodeAccess, NodeMap};
use super::workload::{HOLD_FILE, NOT_READY_FILE};
use super::{check_interrupt, interrupts, Connection, LiveBackend, LiveOptions, Provider};
pub use crate::backend::kind::shape::{
    host_cpu_millis, kind_spec, max_pods_per_node, node_pairs, pods_fit_on_nodes,
    reservation_millis, same_nodes_as_the_model, shape_cluster_name, KIND_MAX_PODS,
    POD_DELETION_COST_GATE, SYSTEM_PODS_PER_NODE,
};
use crate::backend::kind::{
    cluster, config, releases, AfterCreate, ClusterError, CommandRunner, ContainerCli, Creator,
    EndpointSliceController, ImageTable, KindBinary, KindCluster, KindClusterSpec, KindRelease,
    RunLayout,
};
use crate::backend::kube_api::{ClusterApi, KubeApiError};
use crate::backend::Warnings;
use crate::backend::{BackendError, BackendKind, NodeRoutes};
use crate::case::{ClusterShape, ProxyMode};
use crate::model::{FeatureGates, Service};

/// How often kube-proxy's `/proxyMode` is asked (2 s apart) before setup gives up.
const PROXY_MODE_ATTEMPTS: u32 = 30;

/// Where a cluster of `mode` is observed from: `wanted`, or by default rules when kube-proxy
/// runs and traffic when it does not; rules wanted with mode `none` are an error.
pub fn observe_source(
    wanted: Option<ObserveSource>,
    mode: ProxyMode,
) -> Result<ObserveSource, BackendError> {
    let rules_readable = mode.has_kube_proxy();
    match wanted {
        None => Ok(ObserveSource::default_for(BackendKind::Kind, rules_readable)),
        Some(source) if source.uses_rules() && !rules_readable => {
            Err(BackendError::setup(format!(
                "--observe {} reads kube-proxy's rules, but proxy mode none runs no kube-proxy; use --observe traffic (the default with none)",
                source.as_str()
            )))
        }
        Some(source) => Ok(source),
    }
}

/// Options of the kind backend.
#[derive(Clone, Debug)]
pub struct KindOptions {
    /// Reuse a cluster of the same name when its recorded shape matches, and keep it at the end.
    pub reuse: bool,
    /// Keep clusters and case namespaces (print how to inspect and delete them).
    pub keep: bool,
    /// The run id (`reports/<run>/…`).
    pub run_id: String,
    /// The kind binaries at hand and their releases (see
    /// [`releases`]); each cluster is created with the first one
    /// whose release ships an image for its minor. [`KindOptions::new`] assumes `kind` on `PATH`
    /// is the image table's default release; the CLI asks `kind version` instead.
    pub binaries: Vec<KindBinary>,
    /// Node image for every cluster (`--image`), instead of the release tables; its tag must
    /// name the cluster's Kubernetes version.
    pub image: Option<String>,
    /// Whether kube-controller-manager runs its EndpointSlice controller (`--controller`).
    pub controller: EndpointSliceController,
    /// The `managed-by` label of the EndpointSlice controller under test (`--managed-by`):
    /// setup waits for it to write a probe Service's slices, and its slices are observed as
    /// the controller's.
    pub managed_by: Option<String>,
    /// How long (and how often) setup waits for the controller under test.
    pub controller_wait: (std::time::Duration, std::time::Duration),
    /// The container CLI (from `KIND_EXPERIMENTAL_PROVIDER`).
    pub cli: ContainerCli,
    /// Host CPUs in millicores (see [`host_cpu_millis`]).
    pub host_cpu_millis: u64,
    /// The `kind/` directory for generated configs.
    pub kind_dir: PathBuf,
    /// The `reports/` directory.
    pub reports_dir: PathBuf,
    /// Check kube-proxy's `/proxyMode` on every node after creation.
    pub check_proxy_mode: bool,
    /// How long a step waits for its pods to be ready and node conditions to follow a
    /// stopped/started kubelet (`None`: no waiting, for fakes).
    pub settle: Option<std::time::Duration>,
    /// Where routes are observed from; `None` (the default): per cluster,
    /// [`ObserveSource::Rules`] when kube-proxy runs, [`ObserveSource::Traffic`] for proxy
    /// mode `none` (no rules to read). An explicit `Rules` or `Both` with mode `none` fails
    /// the setup (the CLI refuses it earlier, exit 2).
    pub observe: Option<ObserveSource>,
    /// A command run once after each cluster this run creates, before any case runs on it
    /// (e.g. installing a replacement proxy); `None`: nothing.
    pub after_create: Option<AfterCreate>,
    /// How traffic probes poll their client pods (`None`: by request count; tests shorten it).
    pub probe_timing: Option<ProbeTiming>,
}

impl KindOptions {
    /// Defaults: no reuse, no keep, docker (or a valid `KIND_EXPERIMENTAL_PROVIDER`; the CLI
    /// rejects an invalid one before building the backend), this host's CPUs, `kind/` and
    /// `reports/`.
    pub fn new(run_id: impl Into<String>) -> Self {
        KindOptions {
            reuse: false,
            keep: false,
            run_id: run_id.into(),
            binaries: default_binaries(),
            image: None,
            controller: EndpointSliceController::Builtin,
            managed_by: None,
            controller_wait: (cluster::CONTROLLER_WAIT, std::time::Duration::from_secs(2)),
            cli: ContainerCli::from_env().unwrap_or_default(),
            host_cpu_millis: host_cpu_millis(),
            kind_dir: PathBuf::from("kind"),
            reports_dir: PathBuf::from("reports"),
            check_proxy_mode: true,
            settle: Some(std::time::Duration::from_secs(120)),
            observe: None,
            after_create: None,
            probe_timing: None,
        }
    }

    /// What the backend does the same way on every cluster.
    pub fn live(&self) -> LiveOptions {
        LiveOptions {
            run_id: self.run_id.clone(),
            keep: self.keep,
            observe: self.observe,
            settle: self.settle,
            probe_timing: self.probe_timing,
            managed_by: self.managed_by.clone(),
            controller_wait: self.controller_wait,
        }
    }

    fn layout(&self) -> RunLayout {
        RunLayout {
            kind_dir: self.kind_dir.clone(),
            run_dir: self.reports_dir.join(&self.run_id),
        }
    }
}

/// `kind` on `PATH`, taken to be the image table's default release (used until the caller
/// knows better from `kind version`).
pub fn default_binaries() -> Vec<KindBinary> {
    let release = ImageTable::embedded()
        .ok()
        .and_then(|t| KindRelease::parse(t.default_release()));
    release
        .map(|release| {
            vec![KindBinary {
                program: "kind".to_string(),
                release,
            }]
        })
        .unwrap_or_default()
}

/// Builds the API client for a kubeconfig file and context (tests replace it).
pub type ApiFactory =
    Box<dyn Fn(&tokio::runtime::Runtime, &Path, &str) -> Result<ClusterApi, KubeApiError>>;

struct Current {
    spec: KindClusterSpec,
    api: ClusterApi,
    /// The components' versions (read once per cluster).
    environment: Vec<(String, String)>,
    /// Whether this run created it (else it was reused).
    created: bool,
}

/// How kind clusters come to exist and how their nodes are reached.
pub struct KindProvider {
    runner: Box<dyn CommandRunner>,
    options: KindOptions,
    images: ImageTable,
    api_factory: ApiFactory,
    current: Option<Current>,
}

impl std::fmt::Debug for KindProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KindProvider")
            .field("options", &self.options)
            .field(
                "cluster",
                &self.current.as_ref().map(|c| c.spec.name.clone()),
            )
            .finish_non_exhaustive()
    }
}

/// Kind clusters per shape.
pub type KindBackend = LiveBackend<KindProvider>;

fn setup_err(e: impl Into<crate::backend::Cause>) -> BackendError {
    BackendError::setup_from("", e)
}

/// Node access through the container CLI.
pub struct KindNodes<'a> {
    cluster: KindCluster<'a>,
    mode: ProxyMode,
}

impl KindNodes<'_> {
    /// The id of the echo container of pod `pod` of `namespace` on `node`.
    fn echo_container(
        &self,
        node: &str,
        namespace: &str,
        pod: &str,
    ) -> Result<String, BackendError> {
        let ns_label = format!("io.kubernetes.pod.namespace={namespace}");
        let pod_label = format!("io.kubernetes.pod.name={pod}");
        let listed = self
            .cluster
            .exec(
                node,
                &[
                    "crictl",
                    "ps",
                    "-q",
                    "--label",
                    &ns_label,
                    "--label",
                    &pod_label,
                    "--label",
                    "io.kubernetes.container.name=echo",
                ],
            )
            .map_err(|e| {
                BackendError::apply_from(
                    format!("listing the containers of pod {pod} on {node}"),
                    e,
                )
            })?;
        let ids: Vec<&str> = listed
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        match ids.as_slice() {
            [id] => Ok((*id).to_string()),
            [] => Err(BackendError::apply(format!(
                "pod {pod} has no running echo container on {node}"
            ))),
            more => Err(BackendError::apply(format!(
                "pod {pod} has {} echo containers on {node}",
                more.len()
            ))),
        }
    }

    /// Creates (`present`) or removes `file` in the echo container of `pod`.
    fn mark(
        &self,
        node: &str,
        namespace: &str,
        pod: &str,
        file: &str,
        present: bool,
    ) -> Result<(), BackendError> {
        let id = self.echo_container(node, namespace, pod)?;
        let argv: Vec<&str> = if present {
            vec!["crictl", "exec", &id, "touch", file]
        } else {
            vec!["crictl", "exec", &id, "rm", "-f", file]
        };
        self.cluster
            .exec(node, &argv)
            .map(|_| ())
            .map_err(|e| BackendError::apply_from(format!("marking pod {pod} on {node}"), e))
    }
}

impl NodeAccess for KindNodes<'_> {
    fn label(&self) -> &str {
        "kind"
    }

    fn set_kubelet(&self, node: &str, running: bool) -> Result<(), BackendError> {
        let verb = if running { "start" } else { "stop" };
        self.cluster
            .exec(node, &["systemctl", verb, "kubelet"])
            .map(|_| ())
            .map_err(|e| BackendError::apply_from(format!("{verb} the kubelet on {node}"), e))
    }

    fn set_pod_ready(
        &self,
        node: &str,
        namespace: &str,
        pod: &str,
        ready: bool,
    ) -> Result<(), BackendError> {
        self.mark(node, namespace, pod, NOT_READY_FILE, !ready)
    }

    fn set_hold(
        &self,
        node: &str,
        namespace: &str,
        pod: &str,
        hold: bool,
    ) -> Result<(), BackendError> {
        self.mark(node, namespace, pod, HOLD_FILE, hold)
    }

    fn read_routes(
        &self,
        node: &str,
        service: &Service,
        gates: &FeatureGates,
    ) -> Result<Option<NodeRoutes>, BackendError> {
        let format = self.mode;
        let dump = match format {
            ProxyMode::Iptables => self.cluster.iptables_save(node, None),
            ProxyMode::Nftables => self.cluster.nft_kube_proxy(node),
            ProxyMode::Ipvs => self.cluster.ip_vs(node),
            ProxyMode::None => {
                return Err(BackendError::observe(format!(
                    "{node}: proxy mode none has no kube-proxy rules to read; observe with traffic"
                )))
            }
        }
        .map_err(|e| BackendError::observe_from(format!("reading the dataplane of {node}"), e))?;
        routes_from_dump(format, &dump, node, service, gates).map(Some)
    }
}

impl KindBackend {
    /// A backend running commands through `runner` (the real [`DuctRunner`](crate::backend::kind::DuctRunner)
    /// or a recording fake).
    pub fn new(runner: Box<dyn CommandRunner>, options: KindOptions) -> Result<Self, BackendError> {
        let live = options.live();
        let provider = KindProvider {
            runner,
            images: ImageTable::embedded().map_err(setup_err)?,
            api_factory: Box::new(|rt, path, context| {
                rt.block_on(ClusterApi::from_kubeconfig(path, Some(context)))
            }),
            current: None,
            options,
        };
        LiveBackend::with_provider(provider, live)
    }

    /// Replaces how the API client is built (tests connect a mock).
    pub fn with_api_factory(mut self, factory: ApiFactory) -> Self {
        self.provider_mut().api_factory = factory;
        self
    }
}

impl KindProvider {
    /// The binary and image that create `spec`, or why none can.
    fn creator(&self, spec: &KindClusterSpec) -> Result<Creator, String> {
        releases::choose(
            &self.options.binaries,
            &self.images,
            spec,
            self.options.image.as_deref(),
        )
    }

    fn cluster<'a>(&'a self, spec: &KindClusterSpec) -> KindCluster<'a> {
        let mut cluster = KindCluster::new(self.runner.as_ref(), spec, self.options.cli);
        if let Ok(creator) = self.creator(spec) {
            cluster.kind_program = creator.binary.program;
        }
        cluster
    }

    /// The program for `kind get clusters` (any release lists every cluster).
    fn any_kind_program(&self) -> String {
        self.options
            .binaries
            .first()
            .map(|b| b.program.clone())
            .unwrap_or_else(|| "kind".to_string())
    }

    /// Brings up (or reuses) the cluster for `spec` and connects to it.
    fn ensure_cluster(
        &mut self,
        rt: &tokio::runtime::Runtime,
        spec: KindClusterSpec,
        options: &LiveOptions,
        warnings: &Warnings,
    ) -> Result<bool, BackendError> {
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.spec.name == spec.name)
        {
            return Ok(false);
        }
        self.shutdown_cluster(options, warnings)?;
        let layout = self.options.layout();
        let creator = self.creator(&spec).map_err(BackendError::setup)?;
        let mut spec = spec;
        spec.image = self.options.image.clone();
        spec.controller = self.options.controller;
        let rendered = config::render(&spec, &self.images, &creator.binary.release_name())
            .map_err(setup_err)?;
        let config_path =
            config::write_config(&layout.kind_dir, &spec.name, &rendered).map_err(setup_err)?;
        let kubeconfig = layout.kubeconfig(&spec.name);
        if let Some(dir) = kubeconfig.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| setup_err(format!("{}: {e}", dir.display())))?;
        }
        let existing = cluster::list_with(
            self.runner.as_ref(),
            &self.any_kind_program(),
            self.options.cli,
        )
        .map_err(setup_err)?;
        let cluster = self.cluster(&spec);
        let mut reused = false;
        if existing.contains(&spec.name) {
            if !self.options.reuse {
                return Err(BackendError::setup(format!(
                    "a kind cluster named {0} already exists and was not created by this run; pass --reuse to use it, or delete it with `kind delete cluster --name {0}`",
                    spec.name
                )));
            }
            let first = cluster.nodes().first().cloned().unwrap_or_default();
            let recorded = cluster.recorded_shape(&first).map_err(setup_err)?;
            if recorded.as_deref() == Some(rendered.shape_hash.as_str()) {
                reused = true;
            } else {
                warnings.push(format!(
                    "kind cluster {} has shape {} but {} is wanted: recreating it",
                    spec.name,
                    recorded.as_deref().unwrap_or("(none)"),
                    rendered.shape_hash
                ));
                cluster.delete().map_err(setup_err)?;
            }
        }
        if !reused {
            cluster
                .create_or_collect(
                    &config_path,
                    &kubeconfig,
                    &layout.logs(&spec.name),
                    self.options.keep,
                )
                .map_err(setup_err)?;
        }
        let created = !reused;
        let connected = self.connect_to(rt, &cluster, &spec, &kubeconfig, created);
        match connected {
            Ok(api) => {
                let environment = super::apiserver_version(rt, &api);
                self.current = Some(Current {
                    spec,
                    api,
                    environment,
                    created,
                });
                Ok(true)
            }
            Err(e) => {
                // A cluster this run created and cannot use is not left behind.
                if created && !self.options.keep {
                    let logs = layout.logs(&spec.name);
                    let exported = cluster.export_logs(&logs).is_ok();
                    let deleted = cluster.delete();
                    let mut notes = String::new();
                    if exported {
                        notes.push_str(&format!(" (node logs in {})", logs.display()));
                    }
                    if let Err(d) = deleted {
                        notes.push_str(&format!("; deleting the cluster failed too: {d}"));
                    }
                    return Err(e.with_note(&notes));
                }
                Err(e)
            }
        }
    }

    /// Writes the kubeconfig, checks every node's proxy mode (when kube-proxy runs), runs the
    /// `--after-create` command on a cluster this run `created`, and connects to `kind-<name>`.
    fn connect_to(
        &self,
        rt: &tokio::runtime::Runtime,
        cluster: &KindCluster<'_>,
        spec: &KindClusterSpec,
        kubeconfig: &Path,
        created: bool,
    ) -> Result<ClusterApi, BackendError> {
        let text = cluster.get_kubeconfig().map_err(setup_err)?;
        std::fs::write(kubeconfig, text)
            .map_err(|e| setup_err(format!("{}: {e}", kubeconfig.display())))?;
        if created {
            cluster.preload_image(manifests::AGNHOST_IMAGE);
        }
        // With mode none there is no kube-proxy to ask (kind deploys none).
        if self.options.check_proxy_mode && spec.proxy_mode != ProxyMode::None {
            for node in cluster.nodes() {
                // kube-proxy may still be starting on workers right after `kind create`.
                let mut attempt = 0;
                let mode = loop {
                    attempt += 1;
                    match cluster.proxy_mode(node) {
                        Ok(mode) => break mode,
                        Err(e) if attempt >= PROXY_MODE_ATTEMPTS || interrupts() > 0 => {
                            return Err(setup_err(e))
                        }
                        Err(_) => std::thread::sleep(std::time::Duration::from_secs(2)),
                    }
                };
                if mode != spec.proxy_mode {
                    return Err(BackendError::setup(format!(
                        "node {node}: kube-proxy runs in {mode} mode, {} was asked for",
                        spec.proxy_mode
                    )));
                }
            }
        }
        if let (true, Some(hook)) = (created, &self.options.after_create) {
            check_interrupt().map_err(setup_err)?;
            cluster
                .run_after_create(hook, kubeconfig)
                .map_err(setup_err)?;
        }
        let context = format!("kind-{}", spec.name);
        (self.api_factory)(rt, kubeconfig, &context).map_err(setup_err)
    }

    /// Deletes the current cluster when this run created it (unless `--keep` or `--reuse`);
    /// with `--keep`, says how to delete it. Called when the shape changes and at the end.
    fn shutdown_cluster(
        &mut self,
        _options: &LiveOptions,
        warnings: &Warnings,
    ) -> Result<(), BackendError> {
        let Some(current) = self.current.take() else {
            return Ok(());
        };
        if self.options.keep || self.options.reuse || !current.created {
            if self.options.keep {
                warnings.push(format!(
                    "kept kind cluster {0}; delete it with: kind delete cluster --name {0}",
                    current.spec.name
                ));
            }
            return Ok(());
        }
        if interrupts() >= 2 {
            warnings.push(format!(
                "left behind: kind cluster {0} (delete it with: kind delete cluster --name {0})",
                current.spec.name
            ));
            return Ok(());
        }
        self.cluster(&current.spec)
            .delete()
            .map_err(|e: ClusterError| BackendError::setup_from("deleting the cluster", e))
    }
}

impl Provider for KindProvider {
    type Access<'a> = KindNodes<'a>;

    fn kind(&self) -> BackendKind {
        BackendKind::Kind
    }

    fn label(&self) -> &'static str {
        "kind"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            node_cpu: false,
            ..Capabilities::ALL
        }
    }

    fn supports(&self, case: &crate::case::Case, shape: &ClusterShape) -> Result<(), String> {
        let spec = kind_spec(shape, self.options.host_cpu_millis).map_err(|e| e.to_string())?;
        // A cluster no kind binary at hand can create is skipped, not failed.
        self.creator(&spec)?;
        same_nodes_as_the_model(shape)?;
        pods_fit_on_nodes(case)
    }

    fn observe_source(
        &self,
        shape: &ClusterShape,
        wanted: Option<ObserveSource>,
    ) -> Result<ObserveSource, BackendError> {
        observe_source(wanted, shape.proxy_mode)
    }

    fn connect(
        &mut self,
        rt: &tokio::runtime::Runtime,
        shape: &ClusterShape,
        options: &LiveOptions,
        warnings: &Warnings,
    ) -> Result<Connection, BackendError> {
        let spec = kind_spec(shape, self.options.host_cpu_millis)?;
        let fresh = self.ensure_cluster(rt, spec, options, warnings)?;
        let Some(current) = &self.current else {
            return Err(BackendError::setup("no cluster"));
        };
        Ok(Connection {
            api: current.api.clone(),
            nodes: NodeMap::new(node_pairs(shape, &current.spec)),
            relabel: true,
            fresh,
            environment: current.environment.clone(),
        })
    }

    fn access(&self) -> Result<KindNodes<'_>, BackendError> {
        let Some(current) = &self.current else {
            return Err(BackendError::setup("no cluster: setup was not called"));
        };
        Ok(KindNodes {
            cluster: KindCluster::new(self.runner.as_ref(), &current.spec, self.options.cli),
            mode: current.spec.proxy_mode,
        })
    }

    fn shutdown(
        &mut self,
        _rt: &tokio::runtime::Runtime,
        options: &LiveOptions,
        warnings: &Warnings,
    ) -> Result<(), BackendError> {
        self.shutdown_cluster(options, warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::kind::shape::tests::shape;

    fn ps(node: &str, pod: &str) -> Vec<String> {
        [
            "docker",
            "exec",
            node,
            "crictl",
            "ps",
            "-q",
            "--label",
            "io.kubernetes.pod.namespace=ns",
            "--label",
            &format!("io.kubernetes.pod.name={pod}"),
            "--label",
            "io.kubernetes.container.name=echo",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn readiness_and_holds_are_files_in_the_pods_own_container() {
        use crate::backend::kind::RecordingRunner;
        let runner = RecordingRunner::new();
        let spec = kind_spec(&shape(&[1000, 1000]), 2000).expect("spec");
        let node = format!("{}-worker", spec.name);
        runner.ok(&ps(&node, "web-0001"), "aaa\n");
        runner.ok(
            &[
                "docker",
                "exec",
                &node,
                "crictl",
                "exec",
                "aaa",
                "touch",
                NOT_READY_FILE,
            ],
            "",
        );
        runner.ok(&ps(&node, "web-0002"), "bbb\n");
        runner.ok(
            &[
                "docker", "exec", &node, "crictl", "exec", "bbb", "rm", "-f", HOLD_FILE,
            ],
            "",
        );
        runner.ok(&ps(&node, "web-0003"), "");
        let nodes = KindNodes {
            cluster: KindCluster::new(&runner, &spec, ContainerCli::Docker),
            mode: ProxyMode::Iptables,
        };
        nodes
            .set_pod_ready(&node, "ns", "web-0001", false)
            .expect("not ready");
        nodes
            .set_hold(&node, "ns", "web-0002", false)
            .expect("released");
        let gone = nodes.set_hold(&node, "ns", "web-0003", true);
        assert!(
            gone.as_ref().is_err_and(|e| e
                .report()
                .contains("web-0003 has no running echo container")),
            "{gone:?}"
        );
        assert!(runner.unused().is_empty(), "{:?}", runner.unused());
    }

    #[test]
    fn observe_defaults_to_traffic_without_kube_proxy() {
        use ObserveSource::*;
        let ok = |wanted, mode| observe_source(wanted, mode).ok();
        assert_eq!(ok(None, ProxyMode::Iptables), Some(Rules));
        assert_eq!(ok(None, ProxyMode::None), Some(Traffic));
        assert_eq!(ok(Some(Traffic), ProxyMode::None), Some(Traffic));
        assert_eq!(ok(Some(Both), ProxyMode::Ipvs), Some(Both));
        assert_eq!(ok(Some(Rules), ProxyMode::None), None);
        assert_eq!(ok(Some(Both), ProxyMode::None), None);
    }
}
