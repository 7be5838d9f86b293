//! The live backends: one implementation, [`LiveBackend`], over a [`Provider`] that knows how
//! a cluster comes to exist and how its nodes are reached:
//!
//! - [`KindBackend`] = `LiveBackend<KindProvider>`: kind clusters per shape, nodes reached
//!   with `docker exec` ([`kind`]);
//! - [`KubeconfigBackend`] = `LiveBackend<KubeconfigProvider>`: a cluster the user already
//!   has, no node access ([`kubeconfig`]);
//! - the local backend (`crate::backend::local`): real upstream components as processes,
//!   nodes as network namespaces.
//!
//! Everything else is shared: each case runs in its own namespace as a [`Workload`] (the
//! translation of every [`StepAction`](crate::case::StepAction) into API objects, interpreted
//! exactly as the sim interprets it), everything created is recorded in a [`Ledger`] and
//! undone at cleanup (or listed with `--keep`), warnings reach the reporters, and `Drop` tears
//! down whatever is left.
//!
//! The [`Backend`] trait is synchronous; a live backend owns a current-thread tokio runtime
//! and blocks on the async API calls.
//!
//! Adding a live backend: implement [`Provider`] (its cluster lifecycle, its
//! [`Capabilities`], and a [`NodeAccess`] for its nodes) and wrap it in a [`LiveBackend`].

pub mod controller;
pub mod kind;
pub mod kubeconfig;
pub mod probes;
pub mod routes;
pub mod workload;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::Duration;

pub use kind::{
    host_cpu_millis, kind_spec, reservation_millis, shape_cluster_name, KindBackend, KindOptions,
    KindProvider,
};
pub use kubeconfig::{map_nodes, KubeconfigBackend, KubeconfigOptions, KubeconfigProvider};
pub use probes::{ObserveSource, ProbeTiming};
pub use routes::service_routes;
pub use workload::{
    namespace_name, Capabilities, Kubelet, NodeAccess, NodeMap, PodNetwork, Workload,
};

use super::kube_api::{ClusterApi, Ledger};
use super::{Applied, Backend, BackendError, BackendKind, Observation, WaitPolicy, Warnings};
use crate::case::{Case, ClusterShape, Role, StepAction};

static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);
static HANDLER: Once = Once::new();

/// Installs a Ctrl-C handler (once per process): the first Ctrl-C makes the live backends
/// fail their next call, so the runner's cleanup path runs; a second one aborts cleanup (what
/// is left is reported). Runs on its own thread with its own runtime.
pub fn install_ctrl_c_handler() {
    HANDLER.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("topo-ctrl-c".into())
            .spawn(|| {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    while tokio::signal::ctrl_c().await.is_ok() {
                        let n = INTERRUPTS.fetch_add(1, Ordering::SeqCst) + 1;
                        if n == 1 {
                            eprintln!(
                                "interrupted: cleaning up (press Ctrl-C again to abort cleanup)"
                            );
                        } else {
                            eprintln!("interrupted again: aborting cleanup");
                        }
                    }
                });
            });
        if let Err(e) = spawned {
            eprintln!("warning: cannot install the Ctrl-C handler: {e}");
        }
    });
}

/// `run-<unix seconds>`: the id of a live run (its `reports/` directory, and part of every
/// namespace it creates).
pub fn new_run_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("run-{secs}")
}

/// How many times Ctrl-C was pressed.
pub fn interrupts() -> usize {
    INTERRUPTS.load(Ordering::SeqCst)
}

/// An error when the run was interrupted.
pub(crate) fn check_interrupt() -> Result<(), BackendError> {
    if interrupts() > 0 {
        Err(BackendError::Interrupted)
    } else {
        Ok(())
    }
}

/// Completes when Ctrl-C has been pressed at least `n` times in all.
pub(crate) async fn interrupted(n: usize) {
    while interrupts() < n {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A current-thread runtime for the blocking calls.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, BackendError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| BackendError::setup_from("cannot start the async runtime", e))
}

/// The wait policy of live clusters: 120 s deadline, 5 s stable window, polls every second.
pub fn live_wait_policy() -> WaitPolicy {
    WaitPolicy::default()
}

/// What a live backend does the same way whatever the cluster.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// The run id (`reports/<run>/…`, and part of every namespace).
    pub run_id: String,
    /// Keep the case namespaces (and clusters) and print how to inspect and delete them.
    pub keep: bool,
    /// Where routes are observed from (`None`: the provider's default for the shape).
    pub observe: Option<ObserveSource>,
    /// How long a step waits for its pods to be ready and node conditions to follow
    /// (`None`: no waiting, for fakes).
    pub settle: Option<Duration>,
    /// How traffic probes poll their client pods (`None`: by request count).
    pub probe_timing: Option<ProbeTiming>,
    /// The `managed-by` label of the EndpointSlice controller under test (`--managed-by`):
    /// a freshly connected cluster waits for it to write a probe Service's slices, and its
    /// slices are observed as the controller's.
    pub managed_by: Option<String>,
    /// How long (and how often) that wait polls.
    pub controller_wait: (Duration, Duration),
}

impl LiveOptions {
    /// Defaults for run `run_id`: nothing kept, the provider's observation, a 120 s settle
    /// time, no controller under test.
    pub fn new(run_id: impl Into<String>) -> Self {
        LiveOptions {
            run_id: run_id.into(),
            keep: false,
            observe: None,
            settle: Some(Duration::from_secs(120)),
            probe_timing: None,
            managed_by: None,
            controller_wait: (
                crate::backend::kind::cluster::CONTROLLER_WAIT,
                Duration::from_secs(2),
            ),
        }
    }
}

/// `kube-apiserver` → the `/version` `gitVersion` of the cluster behind `api` (nothing when
/// it cannot be read: the reports then just lack it).
pub(crate) fn apiserver_version(
    rt: &tokio::runtime::Runtime,
    api: &ClusterApi,
) -> Vec<(String, String)> {
    rt.block_on(api.client().apiserver_version())
        .map(|v| vec![("kube-apiserver".to_string(), v.git_version)])
        .unwrap_or_default()
}

/// A cluster a case can run in, as a provider hands it over.
#[derive(Clone, Debug)]
pub struct Connection {
    /// Its API.
    pub api: ClusterApi,
    /// Case ↔ cluster node names.
    pub nodes: NodeMap,
    /// Whether node labels are set to the case's (else the nodes were mapped by their own
    /// zones).
    pub relabel: bool,
    /// Whether this connection is new (the first case on a cluster just created or reached):
    /// the controller under test is waited for once per connection.
    pub fresh: bool,
    /// What the cluster runs (name → version), for the reports.
    pub environment: Vec<(String, String)>,
}

/// How a live backend's clusters come to exist and how their nodes are reached.
pub trait Provider {
    /// Node access for the current cluster.
    type Access<'a>: NodeAccess
    where
        Self: 'a;

    /// Which backend this is.
    fn kind(&self) -> BackendKind;

    /// The backend's name in "not supported on …" reasons.
    fn label(&self) -> &'static str;

    /// What this backend can change on a running cluster.
    fn capabilities(&self) -> Capabilities;

    /// How to wait for convergence after a step.
    fn wait_policy(&self) -> WaitPolicy {
        live_wait_policy()
    }

    /// Whether the backend can run `case` on `shape` beyond its [`Capabilities`] (the
    /// cluster can be built, the pods fit); `Err(reason)` skips the suite.
    fn supports(&self, _case: &Case, _shape: &ClusterShape) -> Result<(), String> {
        Ok(())
    }

    /// Where routes are observed from on `shape`: `wanted`, or the backend's default; an
    /// impossible choice is a setup error.
    fn observe_source(
        &self,
        shape: &ClusterShape,
        wanted: Option<ObserveSource>,
    ) -> Result<ObserveSource, BackendError>;

    /// Brings up (or reuses) a cluster for `shape` and hands it over.
    fn connect(
        &mut self,
        rt: &tokio::runtime::Runtime,
        shape: &ClusterShape,
        options: &LiveOptions,
        warnings: &Warnings,
    ) -> Result<Connection, BackendError>;

    /// Node access to the connected cluster.
    fn access(&self) -> Result<Self::Access<'_>, BackendError>;

    /// Tears down the cluster this run made (or keeps it with `options.keep`, saying how to
    /// delete it). Called when the shape changes and at the end.
    fn shutdown(
        &mut self,
        rt: &tokio::runtime::Runtime,
        options: &LiveOptions,
        warnings: &Warnings,
    ) -> Result<(), BackendError>;
}

struct CaseRun {
    api: ClusterApi,
    workload: Workload,
    ledger: Ledger,
    environment: Vec<(String, String)>,
}

/// A live backend over a [`Provider`].
pub struct LiveBackend<P: Provider> {
    provider: P,
    options: LiveOptions,
    rt: tokio::runtime::Runtime,
    case: Option<CaseRun>,
    case_name: String,
    runs: usize,
    warnings: Warnings,
}

impl<P: Provider + std::fmt::Debug> std::fmt::Debug for LiveBackend<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveBackend")
            .field("provider", &self.provider)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<P: Provider> LiveBackend<P> {
    /// A backend over `provider` (nothing created yet).
    pub fn with_provider(provider: P, options: LiveOptions) -> Result<Self, BackendError> {
        Ok(LiveBackend {
            provider,
            options,
            rt: runtime()?,
            case: None,
            case_name: "case".to_string(),
            runs: 0,
            warnings: Warnings::default(),
        })
    }

    /// The provider.
    pub fn provider(&self) -> &P {
        &self.provider
    }

    /// The provider, to change it (tests).
    pub fn provider_mut(&mut self) -> &mut P {
        &mut self.provider
    }

    /// The options shared by every live backend.
    pub fn options(&self) -> &LiveOptions {
        &self.options
    }

    /// The name the next case run uses for its namespace (`topo-<case>-<run>-<n>`).
    pub fn set_case_name(&mut self, name: &str) {
        self.case_name = name.to_string();
    }

    /// Tears down the current cluster (see [`Provider::shutdown`]).
    pub fn shutdown(&mut self) -> Result<(), BackendError> {
        self.provider
            .shutdown(&self.rt, &self.options, &self.warnings)
    }

    /// Waits for the EndpointSlice controller under test to write a probe Service's slice
    /// (see [`controller`]), then removes the probe.
    fn await_controller(
        &self,
        connection: &Connection,
        shape: &ClusterShape,
        managed_by: &str,
    ) -> Result<(), BackendError> {
        let node = shape
            .nodes
            .iter()
            .find(|n| n.role == Role::Worker)
            .or_else(|| shape.nodes.first())
            .and_then(|n| connection.nodes.real(&n.name))
            .unwrap_or_default()
            .to_string();
        let namespace = controller::probe_namespace(&self.options.run_id);
        let mut ledger = Ledger::new();
        let (deadline, poll) = self.options.controller_wait;
        let access = self.provider.access()?;
        let waited = self.rt.block_on(controller::wait_for_controller(
            &connection.api,
            &mut ledger,
            &access,
            &namespace,
            &node,
            managed_by,
            deadline,
            poll,
        ));
        let report = self
            .rt
            .block_on(ledger.cleanup_or_abort(&connection.api, interrupted(2)));
        waited.map_err(BackendError::setup)?;
        if !report.is_complete() {
            return Err(BackendError::cleanup(report.to_string().trim_end()));
        }
        Ok(())
    }

    fn begin_case(
        &mut self,
        shape: &ClusterShape,
        connection: Connection,
        source: ObserveSource,
    ) -> Result<(), BackendError> {
        self.runs += 1;
        let ns = namespace_name(&self.case_name, &self.options.run_id, self.runs);
        let mut workload = Workload::new(ns, connection.nodes.clone(), shape);
        workload.settle = self.options.settle;
        workload.source = source;
        workload.probe_timing = self.options.probe_timing;
        workload.controller_under_test = self.options.managed_by.clone();
        let mut run = CaseRun {
            api: connection.api,
            workload,
            ledger: Ledger::new(),
            environment: connection.environment,
        };
        let access = self.provider.access()?;
        let result = self.rt.block_on(run.workload.begin(
            &run.api,
            &mut run.ledger,
            &access,
            connection.relabel,
        ));
        drop(access);
        self.case = Some(run);
        if let Err(e) = result {
            // The runner does not call cleanup after a failed setup: undo what was done.
            if let Err(cleanup) = self.cleanup() {
                self.warnings.push(cleanup.report());
            }
            return Err(e);
        }
        Ok(())
    }
}

impl<P: Provider> Drop for LiveBackend<P> {
    fn drop(&mut self) {
        if self.case.is_some() {
            if let Err(e) = self.cleanup() {
                self.warnings.push(e.report());
            }
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

impl<P: Provider> Backend for LiveBackend<P> {
    fn take_warnings(&mut self) -> Vec<String> {
        let mut all = self.warnings.take();
        if let Some(run) = &self.case {
            all.extend(run.workload.warnings.take());
        }
        all
    }

    fn kind(&self) -> BackendKind {
        self.provider.kind()
    }

    fn environment(&self) -> Vec<(String, String)> {
        self.case
            .as_ref()
            .map(|run| run.environment.clone())
            .unwrap_or_default()
    }

    fn wait_policy(&self) -> WaitPolicy {
        self.provider.wait_policy()
    }

    fn supports(&self, case: &Case, shape: &ClusterShape) -> Result<(), String> {
        self.provider.supports(case, shape)?;
        let capabilities = self.provider.capabilities();
        for step in &case.steps {
            if let Some(reason) =
                capabilities.refuse(&step.name, &step.action, self.provider.label())
            {
                return Err(reason);
            }
        }
        Ok(())
    }

    fn case_started(&mut self, case: &str) {
        self.set_case_name(case);
    }

    fn setup(&mut self, shape: &ClusterShape) -> Result<(), BackendError> {
        check_interrupt()?;
        // Before any command: a source this cluster cannot serve is refused up front.
        let source = self.provider.observe_source(shape, self.options.observe)?;
        let connection = self
            .provider
            .connect(&self.rt, shape, &self.options, &self.warnings)?;
        if let (true, Some(managed_by)) = (connection.fresh, self.options.managed_by.clone()) {
            self.await_controller(&connection, shape, &managed_by)?;
        }
        self.begin_case(shape, connection, source)
    }

    fn apply(&mut self, action: &StepAction) -> Result<Applied, BackendError> {
        check_interrupt()?;
        let Some(run) = &mut self.case else {
            return Err(BackendError::apply("no cluster: setup was not called"));
        };
        let access = self.provider.access()?;
        self.rt.block_on(
            run.workload
                .apply(&run.api, &mut run.ledger, &access, action),
        )
    }

    fn observe(&mut self) -> Result<Observation, BackendError> {
        check_interrupt()?;
        let Some(run) = &mut self.case else {
            return Err(BackendError::observe("no cluster: setup was not called"));
        };
        let access = self.provider.access()?;
        let gates = run.workload.gates();
        let mut obs =
            self.rt.block_on(
                run.workload
                    .observe(&run.api, &mut run.ledger, &access, &gates),
            )?;
        // Only the case's nodes: other nodes of the cluster keep their own names.
        obs.routes
            .retain(|n, _| run.workload.nodes.real(n).is_some());
        Ok(obs)
    }

    fn cleanup(&mut self) -> Result<(), BackendError> {
        let Some(mut run) = self.case.take() else {
            return Ok(());
        };
        let mut problems = Vec::new();
        match self.provider.access() {
            Ok(access) => {
                problems.extend(self.rt.block_on(run.workload.end(
                    &run.api,
                    &access,
                    self.options.keep,
                )));
            }
            Err(e) => problems.push(e.report()),
        }
        for warning in run.workload.warnings.take() {
            self.warnings.push(warning);
        }
        if self.options.keep {
            let commands = run.ledger.keep_commands(&run.api.kubectl());
            self.warnings.push(format!(
                "kept (--keep); inspect and undo with:\n  {}",
                commands.join("\n  ")
            ));
        } else {
            let report = self
                .rt
                .block_on(run.ledger.cleanup_or_abort(&run.api, interrupted(2)));
            if !report.is_complete() {
                problems.push(report.to_string().trim_end().to_string());
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(BackendError::cleanup(problems.join("\n")))
        }
    }
}
