//! [`KindBackend`]: one kind cluster per [`ClusterKey`](crate::case::ClusterKey), shared by
//! every case of that key in a run; each case gets its own namespace and its own node labels
//! (restored afterwards).
//!
//! Setup maps the shape to a [`KindClusterSpec`] ([`crate::backend::kind::shape`]), picks the
//! kind binary whose release ships the node image ([`crate::backend::kind::releases`]), writes
//! `kind/<name>.yaml`, creates the cluster (or reuses one with `--reuse` when its recorded
//! shape hash matches), writes `reports/<run>/<name>/kubeconfig` and connects to context
//! `kind-<name>` only.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::probes::{ObserveSource, ProbeTiming};
use super::workload::{
    routes_from_dump, NodeControl, NodeMap, Workload, HOLD_FILE, NOT_READY_FILE,
};
use super::{check_interrupt, interrupted, interrupts, namespace_name, runtime};
pub use crate::backend::kind::shape::{
    host_cpu_millis, kind_spec, max_pods_per_node, node_pairs, pods_fit_on_nodes,
    reservation_millis, same_nodes_as_the_model, shape_cluster_name, KIND_MAX_PODS,
    POD_DELETION_COST_GATE, SYSTEM_PODS_PER_NODE,
};
use crate::backend::kind::spec::NodeRole;
use crate::backend::kind::{
    cluster, config, manifests, releases, AfterCreate, ClusterError, CommandRunner, ContainerCli,
    Creator, EndpointSliceController, ImageTable, KindBinary, KindCluster, KindClusterSpec,
    KindRelease, RunLayout,
};
use crate::backend::kube_api::{ClusterApi, KubeApiError, Ledger};
use crate::backend::Warnings;
use crate::backend::{
    Applied, Backend, BackendError, BackendKind, NodeRoutes, Observation, WaitPolicy,
};
use crate::case::{ClusterShape, ProxyMode, StepAction};
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
    /// Whether this run created it (else it was reused).
    created: bool,
}

struct CaseRun {
    shape: ClusterShape,
    workload: Workload,
    ledger: Ledger,
}

/// Kind clusters per shape.
pub struct KindBackend {
    runner: Box<dyn CommandRunner>,
    options: KindOptions,
    images: ImageTable,
    rt: tokio::runtime::Runtime,
    api_factory: ApiFactory,
    current: Option<Current>,
    case: Option<CaseRun>,
    case_name: String,
    runs: usize,
    warnings: Warnings,
}

impl std::fmt::Debug for KindBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KindBackend")
            .field("options", &self.options)
            .field(
                "cluster",
                &self.current.as_ref().map(|c| c.spec.name.clone()),
            )
            .finish_non_exhaustive()
    }
}

fn setup_err(e: impl Into<crate::backend::Cause>) -> BackendError {
    BackendError::setup_from("", e)
}

struct KindNodes<'a> {
    cluster: KindCluster<'a>,
    mode: ProxyMode,
}

impl KindNodes<'_> {
    /// `crictl ps -q` of the echo containers of `namespace` on `node`.
    fn list_echo_containers(&self, node: &str, namespace: &str) -> Result<String, String> {
        let ns_label = format!("io.kubernetes.pod.namespace={namespace}");
        self.cluster
            .exec(
                node,
                &[
                    "crictl",
                    "ps",
                    "-q",
                    "--label",
                    &ns_label,
                    "--label",
                    "io.kubernetes.container.name=echo",
                ],
            )
            .map_err(|e| format!("listing echo containers on {node}: {e}"))
    }
}

impl NodeControl for KindNodes<'_> {
    fn set_kubelet(&self, node: &str, running: bool) -> Result<(), BackendError> {
        let verb = if running { "start" } else { "stop" };
        self.cluster
            .exec(node, &["systemctl", verb, "kubelet"])
            .map(|_| ())
            .map_err(|e| BackendError::apply_from(format!("{verb} the kubelet on {node}"), e))
    }

    fn set_not_ready(&self, node: &str, namespace: &str, count: usize) -> Result<(), BackendError> {
        let listed = self
            .list_echo_containers(node, namespace)
            .map_err(BackendError::apply)?;
        let mut ids: Vec<&str> = listed
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        ids.sort_unstable();
        if ids.len() < count {
            return Err(BackendError::apply(format!(
                "node {node} runs {} echo pod(s); cannot make {count} not ready",
                ids.len()
            )));
        }
        for (i, id) in ids.iter().enumerate() {
            let result = if i < count {
                self.cluster
                    .exec(node, &["crictl", "exec", id, "touch", NOT_READY_FILE])
            } else {
                self.cluster
                    .exec(node, &["crictl", "exec", id, "rm", "-f", NOT_READY_FILE])
            };
            result.map_err(|e| {
                BackendError::apply_from(format!("setting pod readiness on {node}"), e)
            })?;
        }
        Ok(())
    }

    fn hold_pods(
        &self,
        node: &str,
        namespace: &str,
        count: usize,
        exclude: &BTreeSet<String>,
    ) -> Result<Vec<String>, BackendError> {
        let ns_label = format!("io.kubernetes.pod.namespace={namespace}");
        let listed = self
            .cluster
            .exec(
                node,
                &[
                    "crictl",
                    "ps",
                    "-o",
                    "json",
                    "--label",
                    &ns_label,
                    "--label",
                    "io.kubernetes.container.name=echo",
                ],
            )
            .map_err(|e| {
                BackendError::apply_from(format!("listing echo containers on {node}"), e)
            })?;
        let mut found = echo_containers(&listed)
            .map_err(|e| BackendError::apply_from(format!("crictl ps on {node}"), e))?;
        found.retain(|(_, pod)| !exclude.contains(pod));
        found.sort_by(|a, b| a.1.cmp(&b.1));
        if found.len() < count {
            return Err(BackendError::apply(format!(
                "node {node} runs {} echo pod(s) not yet terminating; cannot hold {count}",
                found.len()
            )));
        }
        let mut pods = Vec::new();
        for (id, pod) in found.into_iter().take(count) {
            self.cluster
                .exec(node, &["crictl", "exec", &id, "touch", HOLD_FILE])
                .map_err(|e| BackendError::apply_from(format!("holding pod {pod}"), e))?;
            pods.push(pod);
        }
        Ok(pods)
    }

    fn release_pods(&self, node: &str, namespace: &str) -> Result<(), BackendError> {
        let listed = self
            .list_echo_containers(node, namespace)
            .map_err(BackendError::setup)?;
        let mut failed = Vec::new();
        for id in listed.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Err(e) = self
                .cluster
                .exec(node, &["crictl", "exec", id, "rm", "-f", HOLD_FILE])
            {
                failed.push(e.to_string());
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(BackendError::setup(format!(
                "releasing held pods on {node}: {}",
                failed.join("; ")
            )))
        }
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

/// `(container id, pod name)` of every container in `crictl ps -o json` output.
fn echo_containers(json: &str) -> Result<Vec<(String, String)>, String> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let containers = value
        .get("containers")
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default();
    containers
        .iter()
        .map(|c| {
            let id = c.get("id").and_then(serde_json::Value::as_str);
            let pod = c
                .pointer("/labels/io.kubernetes.pod.name")
                .and_then(serde_json::Value::as_str);
            match (id, pod) {
                (Some(id), Some(pod)) => Ok((id.to_string(), pod.to_string())),
                _ => Err("a container without id or io.kubernetes.pod.name label".to_string()),
            }
        })
        .collect()
}

impl KindBackend {
    /// A backend running commands through `runner` (the real [`DuctRunner`](crate::backend::kind::DuctRunner)
    /// or a recording fake).
    pub fn new(runner: Box<dyn CommandRunner>, options: KindOptions) -> Result<Self, BackendError> {
        let images = ImageTable::embedded().map_err(setup_err)?;
        Ok(KindBackend {
            runner,
            options,
            images,
            rt: runtime()?,
            api_factory: Box::new(|rt, path, context| {
                rt.block_on(ClusterApi::from_kubeconfig(path, Some(context)))
            }),
            current: None,
            case: None,
            case_name: "case".to_string(),
            runs: 0,
            warnings: Warnings::default(),
        })
    }

    /// Replaces how the API client is built (tests connect a mock).
    pub fn with_api_factory(mut self, factory: ApiFactory) -> Self {
        self.api_factory = factory;
        self
    }

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
    fn ensure_cluster(&mut self, spec: KindClusterSpec) -> Result<(), BackendError> {
        if self
            .current
            .as_ref()
            .is_some_and(|c| c.spec.name == spec.name)
        {
            return Ok(());
        }
        self.shutdown()?;
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
                self.warnings.push(format!(
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
        let connected = self.connect(&cluster, &spec, &kubeconfig, created);
        match connected {
            Ok(api) => {
                self.current = Some(Current { spec, api, created });
                Ok(())
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
    fn connect(
        &self,
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
        let api = (self.api_factory)(&self.rt, kubeconfig, &context).map_err(setup_err)?;
        if let Some(managed_by) = &self.options.managed_by {
            self.await_controller(&api, spec, managed_by)?;
        }
        Ok(api)
    }

    /// Waits for the EndpointSlice controller under test to write a probe Service's slice
    /// (see [`controller`](super::controller)), then removes the probe.
    fn await_controller(
        &self,
        api: &ClusterApi,
        spec: &KindClusterSpec,
        managed_by: &str,
    ) -> Result<(), BackendError> {
        let node = spec
            .nodes
            .iter()
            .zip(spec.node_names())
            .find(|(n, _)| n.role == NodeRole::Worker)
            .or_else(|| spec.nodes.iter().zip(spec.node_names()).next())
            .map(|(_, name)| name)
            .unwrap_or_default();
        let namespace = super::controller::probe_namespace(&self.options.run_id);
        let mut ledger = Ledger::new();
        let (deadline, poll) = self.options.controller_wait;
        let waited = self.rt.block_on(super::controller::wait_for_controller(
            api,
            &mut ledger,
            &namespace,
            &node,
            managed_by,
            deadline,
            poll,
        ));
        let report = self
            .rt
            .block_on(ledger.cleanup_or_abort(api, interrupted(2)));
        waited.map_err(BackendError::setup)?;
        if !report.is_complete() {
            return Err(BackendError::setup(report.to_string().trim_end()));
        }
        Ok(())
    }

    /// Deletes the current cluster when this run created it (unless `--keep` or `--reuse`);
    /// with `--keep`, prints how to delete it. Called when the shape changes and at the end.
    pub fn shutdown(&mut self) -> Result<(), BackendError> {
        let Some(current) = self.current.take() else {
            return Ok(());
        };
        if self.options.keep || self.options.reuse || !current.created {
            if self.options.keep {
                self.warnings.push(format!(
                    "kept kind cluster {0}; delete it with: kind delete cluster --name {0}",
                    current.spec.name
                ));
            }
            return Ok(());
        }
        if interrupts() >= 2 {
            self.warnings.push(format!(
                "left behind: kind cluster {0} (delete it with: kind delete cluster --name {0})",
                current.spec.name
            ));
            return Ok(());
        }
        self.cluster(&current.spec)
            .delete()
            .map_err(|e: ClusterError| BackendError::setup_from("deleting the cluster", e))
    }

    /// The name the next case run uses for its namespace (`topo-<case>-<run>-<n>`).
    pub fn set_case_name(&mut self, name: &str) {
        self.case_name = name.to_string();
    }

    fn begin_case(&mut self, shape: &ClusterShape) -> Result<(), BackendError> {
        let Some(current) = &self.current else {
            return Err(BackendError::setup("no cluster"));
        };
        self.runs += 1;
        let map = NodeMap::new(node_pairs(shape, &current.spec));
        let ns = namespace_name(&self.case_name, &self.options.run_id, self.runs);
        let mut workload = Workload::new(ns, map, shape);
        workload.settle = self.options.settle;
        workload.source = observe_source(self.options.observe, shape.proxy_mode)?;
        workload.probe_timing = self.options.probe_timing;
        workload.controller_under_test = self.options.managed_by.clone();
        let mut run = CaseRun {
            shape: shape.clone(),
            workload,
            ledger: Ledger::new(),
        };
        let nodes = KindNodes {
            cluster: self.cluster(&current.spec),
            mode: shape.proxy_mode,
        };
        let result =
            self.rt.block_on(
                run.workload
                    .begin(&current.api, &mut run.ledger, &nodes, true),
            );
        self.case = Some(run);
        if let Err(e) = result {
            // The runner does not call cleanup after a failed setup: undo what was done.
            let _ = self.cleanup();
            return Err(e);
        }
        Ok(())
    }
}

impl Drop for KindBackend {
    fn drop(&mut self) {
        if self.case.is_some() {
            let _ = self.cleanup();
        }
        if let Err(e) = self.shutdown() {
            self.warnings.push(e.report());
        }
        // After the run no reporter listens any more: what is left goes to stderr.
        for warning in self.warnings.take() {
            eprintln!("warning: {warning}");
        }
    }
}

impl Backend for KindBackend {
    fn take_warnings(&mut self) -> Vec<String> {
        let mut all = self.warnings.take();
        if let Some(run) = &self.case {
            all.extend(run.workload.warnings.take());
        }
        all
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Kind
    }

    fn wait_policy(&self) -> WaitPolicy {
        super::live_wait_policy()
    }

    fn supports(&self, case: &crate::case::Case, shape: &ClusterShape) -> Result<(), String> {
        let spec = kind_spec(shape, self.options.host_cpu_millis).map_err(|e| e.to_string())?;
        // A cluster no kind binary at hand can create is skipped, not failed.
        self.creator(&spec)?;
        same_nodes_as_the_model(shape)?;
        pods_fit_on_nodes(case)?;
        for step in &case.steps {
            Workload::check_supported(&step.action, "kind").map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn case_started(&mut self, case: &str) {
        self.set_case_name(case);
    }

    fn setup(&mut self, shape: &ClusterShape) -> Result<(), BackendError> {
        check_interrupt()?;
        let spec = kind_spec(shape, self.options.host_cpu_millis)?;
        // Before any command: a source this cluster cannot serve is refused up front.
        observe_source(self.options.observe, shape.proxy_mode)?;
        self.ensure_cluster(spec)?;
        self.begin_case(shape)
    }

    fn apply(&mut self, action: &StepAction) -> Result<Applied, BackendError> {
        check_interrupt()?;
        let (Some(current), Some(run)) = (&self.current, &mut self.case) else {
            return Err(BackendError::apply("no cluster: setup was not called"));
        };
        let nodes = KindNodes {
            cluster: KindCluster::new(self.runner.as_ref(), &current.spec, self.options.cli),
            mode: run.shape.proxy_mode,
        };
        self.rt.block_on(
            run.workload
                .apply(&current.api, &mut run.ledger, &nodes, action, "kind"),
        )
    }

    fn observe(&mut self) -> Result<Observation, BackendError> {
        check_interrupt()?;
        let (Some(current), Some(run)) = (&self.current, &mut self.case) else {
            return Err(BackendError::observe("no cluster: setup was not called"));
        };
        let nodes = KindNodes {
            cluster: KindCluster::new(self.runner.as_ref(), &current.spec, self.options.cli),
            mode: run.shape.proxy_mode,
        };
        let gates = run.shape.gates();
        self.rt.block_on(
            run.workload
                .observe(&current.api, &mut run.ledger, &nodes, &gates),
        )
    }

    fn cleanup(&mut self) -> Result<(), BackendError> {
        let Some(mut run) = self.case.take() else {
            return Ok(());
        };
        for warning in run.workload.warnings.take() {
            self.warnings.push(warning);
        }
        let Some(current) = &self.current else {
            return Ok(());
        };
        let cluster = KindCluster::new(self.runner.as_ref(), &current.spec, self.options.cli);
        let mut problems = Vec::new();
        for node in std::mem::take(&mut run.workload.stopped_kubelets) {
            if let Err(e) = cluster.exec(&node, &["systemctl", "start", "kubelet"]) {
                problems.push(format!("restarting the kubelet on {node}: {e}"));
            }
        }
        if !self.options.keep {
            let nodes = KindNodes {
                cluster: KindCluster::new(self.runner.as_ref(), &current.spec, self.options.cli),
                mode: run.shape.proxy_mode,
            };
            for node in run.workload.held_nodes() {
                if let Err(e) = nodes.release_pods(&node, &run.workload.namespace) {
                    problems.push(e.to_string());
                }
            }
        }
        if self.options.keep {
            let commands = run.ledger.keep_commands(&current.api.kubectl());
            self.warnings.push(format!(
                "kept (--keep); inspect and undo with:\n  {}",
                commands.join("\n  ")
            ));
        } else {
            let report = self
                .rt
                .block_on(run.ledger.cleanup_or_abort(&current.api, interrupted(2)));
            if !report.is_complete() {
                problems.push(report.to_string().trim_end().to_string());
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(BackendError::setup(format!(
                "cleanup incomplete:\n{}",
                problems.join("\n")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::kind::shape::tests::shape;

    #[test]
    fn not_ready_marks_the_first_pods_by_container_id() {
        use crate::backend::kind::RecordingRunner;
        let runner = RecordingRunner::new();
        let spec = kind_spec(&shape(&[1000, 1000]), 2000).expect("spec");
        let node = format!("{}-worker", spec.name);
        runner.ok(
            &[
                "docker",
                "exec",
                &node,
                "crictl",
                "ps",
                "-q",
                "--label",
                "io.kubernetes.pod.namespace=ns",
                "--label",
                "io.kubernetes.container.name=echo",
            ],
            "bbb\naaa\n",
        );
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
        runner.ok(
            &[
                "docker",
                "exec",
                &node,
                "crictl",
                "exec",
                "bbb",
                "rm",
                "-f",
                NOT_READY_FILE,
            ],
            "",
        );
        let nodes = KindNodes {
            cluster: KindCluster::new(&runner, &spec, ContainerCli::Docker),
            mode: ProxyMode::Iptables,
        };
        nodes.set_not_ready(&node, "ns", 1).expect("marked");
        assert!(runner.unused().is_empty(), "{:?}", runner.unused());
        let too_many = nodes.set_not_ready(&node, "ns", 3);
        assert!(too_many.is_err());
    }

    #[test]
    fn hold_takes_running_pods_not_yet_held_in_name_order() {
        use crate::backend::kind::RecordingRunner;
        let runner = RecordingRunner::new();
        let spec = kind_spec(&shape(&[1000, 1000]), 2000).expect("spec");
        let node = format!("{}-worker", spec.name);
        let json = r#"{"containers": [
            {"id": "c3", "labels": {"io.kubernetes.pod.name": "web-c"}},
            {"id": "c1", "labels": {"io.kubernetes.pod.name": "web-a"}},
            {"id": "c2", "labels": {"io.kubernetes.pod.name": "web-b"}}
        ]}"#;
        runner.ok(
            &[
                "docker",
                "exec",
                &node,
                "crictl",
                "ps",
                "-o",
                "json",
                "--label",
                "io.kubernetes.pod.namespace=ns",
                "--label",
                "io.kubernetes.container.name=echo",
            ],
            json,
        );
        runner.ok(
            &[
                "docker", "exec", &node, "crictl", "exec", "c2", "touch", HOLD_FILE,
            ],
            "",
        );
        let nodes = KindNodes {
            cluster: KindCluster::new(&runner, &spec, ContainerCli::Docker),
            mode: ProxyMode::Iptables,
        };
        let exclude = BTreeSet::from(["web-a".to_string()]);
        let held = nodes.hold_pods(&node, "ns", 1, &exclude).expect("held");
        assert_eq!(held, ["web-b"]);
        assert!(runner.unused().is_empty(), "{:?}", runner.unused());
    }

    #[test]
    fn crictl_json_gives_container_ids_and_pod_names() {
        let json = r#"{"containers": [
            {"id": "c2", "labels": {"io.kubernetes.pod.name": "web-x-2", "io.kubernetes.container.name": "echo"}},
            {"id": "c1", "labels": {"io.kubernetes.pod.name": "web-x-1"}}
        ]}"#;
        assert_eq!(
            echo_containers(json),
            Ok(vec![
                ("c2".to_string(), "web-x-2".to_string()),
                ("c1".to_string(), "web-x-1".to_string())
            ])
        );
        assert!(echo_containers("{\"containers\": [{\"id\": \"c\"}]}").is_err());
        assert!(echo_containers("not json").is_err());
        assert_eq!(echo_containers("{}"), Ok(Vec::new()));
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
