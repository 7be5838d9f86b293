//! Backends: where a case runs. One trait, several implementations: [`sim::SimBackend`] (the
//! reference model plays controller and proxies) and the live backends over one
//! [`live::LiveBackend`]: [`live::KindBackend`] (kind clusters),
//! [`live::KubeconfigBackend`] (an existing cluster) and [`local::LocalBackend`] (real
//! upstream components as processes, nodes as network namespaces).
//!
//! A backend never sees expectations or snapshots: it gets a [`ClusterShape`] and
//! [`StepAction`]s and reports what it observes. Adding a backend: implement [`Backend`], give
//! it a [`WaitPolicy`] that suits it (the runner's [`wait::wait_for_convergence`] does the
//! waiting), and map its failures to [`BackendError`]: keep the underlying error as the cause
//! ([`BackendError::setup_from`] and friends), report what the backend cannot do with
//! [`BackendError::Unsupported`] (the suite is skipped) and Ctrl-C with
//! [`BackendError::Interrupted`] (the run is cancelled).

pub mod command;
pub mod kind;
pub mod kube_api;
pub mod live;
pub mod local;
pub mod pods;
pub mod sim;
pub mod wait;

use std::collections::BTreeMap;

use crate::case::{Case, ClusterShape, StepAction};
use crate::model::ClusterState;

pub use wait::{wait_for_convergence, Clock, SystemClock, VirtualClock, WaitOutcome, WaitPolicy};

/// Which backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// The embedded reference cluster.
    Sim,
    /// kind clusters created per shape.
    Kind,
    /// An existing cluster from a kubeconfig.
    Kubeconfig,
    /// Real upstream components as local processes, nodes as network namespaces.
    Local,
}

impl BackendKind {
    /// The `--backend` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Sim => "sim",
            BackendKind::Kind => "kind",
            BackendKind::Kubeconfig => "kubeconfig",
            BackendKind::Local => "local",
        }
    }
}

/// Which EndpointSlice controller a cluster runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum EndpointSliceController {
    /// kube-controller-manager's own (`endpointslice-controller`).
    #[default]
    Builtin,
    /// None: kube-controller-manager runs `--controllers=*,-endpointslice-controller`, and the
    /// controller under test is installed by `--after-create`.
    None,
}

impl EndpointSliceController {
    /// `builtin` or `none`, as `--controller` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointSliceController::Builtin => "builtin",
            EndpointSliceController::None => "none",
        }
    }

    /// The kube-controller-manager `--controllers` value, when the default must change.
    pub fn controllers_flag(self) -> Option<&'static str> {
        match self {
            EndpointSliceController::Builtin => None,
            EndpointSliceController::None => Some("*,-endpointslice-controller"),
        }
    }
}

impl std::fmt::Display for EndpointSliceController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The underlying error a [`BackendError`] keeps as its source.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A backend failure (not a failed check). The message says what the harness was doing; the
/// underlying error (an API or `kind` failure) stays available as the
/// [`source`](std::error::Error::source); [`BackendError::report`] renders both.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The cluster cannot be built as asked.
    #[error("cannot set up the cluster{}", colon(context))]
    Setup {
        /// What failed.
        context: String,
        /// Why, when another error caused it.
        #[source]
        cause: Option<Cause>,
    },
    /// A step cannot be applied (not a rejection by the API server: a harness problem).
    #[error("cannot apply the step{}", colon(context))]
    Apply {
        /// What failed.
        context: String,
        /// Why, when another error caused it.
        #[source]
        cause: Option<Cause>,
    },
    /// The cluster cannot be observed.
    #[error("cannot observe the cluster{}", colon(context))]
    Observe {
        /// What failed.
        context: String,
        /// Why, when another error caused it.
        #[source]
        cause: Option<Cause>,
    },
    /// The backend cannot run this case on this cluster (not a failure of what is tested):
    /// the runner reports the suite as skipped.
    #[error("{reason}")]
    Unsupported {
        /// Why, in plain words.
        reason: String,
    },
    /// What the case created or changed could not all be undone.
    #[error("cleanup incomplete{}", colon(context))]
    Cleanup {
        /// What is left, and why.
        context: String,
        /// Why, when another error caused it.
        #[source]
        cause: Option<Cause>,
    },
    /// The run was interrupted (Ctrl-C): the runner reports the suite as cancelled.
    #[error("interrupted (Ctrl-C); cleaning up")]
    Interrupted,
}

/// `": context"`, or nothing when the cause alone says what failed.
fn colon(context: &str) -> String {
    if context.is_empty() {
        String::new()
    } else {
        format!(": {context}")
    }
}

impl BackendError {
    /// A setup failure described by `context` alone.
    pub fn setup(context: impl Into<String>) -> Self {
        BackendError::Setup {
            context: context.into(),
            cause: None,
        }
    }

    /// A setup failure caused by `cause`.
    pub fn setup_from(context: impl Into<String>, cause: impl Into<Cause>) -> Self {
        BackendError::Setup {
            context: context.into(),
            cause: Some(cause.into()),
        }
    }

    /// A failure to apply a step, described by `context` alone.
    pub fn apply(context: impl Into<String>) -> Self {
        BackendError::Apply {
            context: context.into(),
            cause: None,
        }
    }

    /// A failure to apply a step caused by `cause`.
    pub fn apply_from(context: impl Into<String>, cause: impl Into<Cause>) -> Self {
        BackendError::Apply {
            context: context.into(),
            cause: Some(cause.into()),
        }
    }

    /// A failure to observe, described by `context` alone.
    pub fn observe(context: impl Into<String>) -> Self {
        BackendError::Observe {
            context: context.into(),
            cause: None,
        }
    }

    /// A failure to observe caused by `cause`.
    pub fn observe_from(context: impl Into<String>, cause: impl Into<Cause>) -> Self {
        BackendError::Observe {
            context: context.into(),
            cause: Some(cause.into()),
        }
    }

    /// A cleanup failure described by `context` alone.
    pub fn cleanup(context: impl Into<String>) -> Self {
        BackendError::Cleanup {
            context: context.into(),
            cause: None,
        }
    }

    /// The same failure with `note` appended to what failed (e.g. where the logs went).
    pub fn with_note(self, note: &str) -> Self {
        let add = |context: String| {
            if context.is_empty() {
                note.trim_start_matches([' ', ';']).to_string()
            } else {
                context + note
            }
        };
        match self {
            BackendError::Setup { context, cause } => BackendError::Setup {
                context: add(context),
                cause,
            },
            BackendError::Apply { context, cause } => BackendError::Apply {
                context: add(context),
                cause,
            },
            BackendError::Observe { context, cause } => BackendError::Observe {
                context: add(context),
                cause,
            },
            BackendError::Cleanup { context, cause } => BackendError::Cleanup {
                context: add(context),
                cause,
            },
            other => other,
        }
    }

    /// The message with every cause, `: `-separated (what the reports show).
    pub fn report(&self) -> String {
        let mut out = self.to_string();
        let mut next = std::error::Error::source(self);
        while let Some(cause) = next {
            out.push_str(": ");
            out.push_str(&cause.to_string());
            next = cause.source();
        }
        out
    }
}

/// `--managed-by NAME`: the slices of the EndpointSlice controller under test are observed as
/// the controller's (`endpointslice-controller.k8s.io`), so the model and hint checks judge
/// them as they judge the in-tree controller's; slices of other managers stay hand-written.
pub fn mark_controller_under_test(state: &mut crate::model::ClusterState, managed_by: &str) {
    for slice in &mut state.slices {
        if slice.managed_by.as_deref() == Some(managed_by) {
            slice.managed_by = Some(crate::model::MANAGED_BY_CONTROLLER.to_string());
        }
    }
}

/// The result of applying a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Everything was accepted.
    Ok,
    /// The cluster rejected the change (e.g. the API server refused the Service); the cluster
    /// is left as it was before the step.
    Rejected(String),
}

pub use crate::model::analysis::{NodeRoutes, Reached};

/// Warnings a backend collects while it works (a node that did not settle, a cluster that is
/// recreated or kept); the runner drains them after every backend call and reports them as
/// [`Event::Warning`](crate::runner::Event::Warning), so every reporter shows them.
#[derive(Debug, Default)]
pub struct Warnings(std::sync::Mutex<Vec<String>>);

impl Warnings {
    /// Records a warning.
    pub fn push(&self, message: impl Into<String>) {
        if let Ok(mut w) = self.0.lock() {
            w.push(message.into());
        }
    }

    /// The warnings recorded since the last call, oldest first.
    pub fn take(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }
}

/// One observation of the cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// Nodes, the case's Service (when it exists) and its EndpointSlices.
    pub state: ClusterState,
    /// Node → routes for the Service's (single) port.
    pub routes: BTreeMap<String, NodeRoutes>,
    /// Problems of the observation itself (e.g. rules and traffic disagree, a probe failed);
    /// the runner reports them as a failed `dataplane` check. Empty on the sim.
    pub notes: Vec<String>,
    /// Events recorded on the case's Service since it was created, oldest first; `Err` says
    /// why they could not be read (e.g. the kubeconfig's user may not list events), which
    /// fails only an `events` expectation.
    pub events: Result<Vec<ServiceEvent>, String>,
    /// Node → endpoint address → requests it answered, for nodes whose traffic was probed;
    /// a node not listed gets an equal share per routed endpoint (what kube-proxy's random
    /// choice gives in expectation).
    pub answers: BTreeMap<String, BTreeMap<String, usize>>,
}

/// An event recorded on the Service (`kubectl get events`), as far as checks care.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceEvent {
    /// `Normal` or `Warning`.
    pub event_type: String,
    /// E.g. `TopologyAwareHintsEnabled`.
    pub reason: String,
    /// The message.
    pub message: String,
    /// How many times it was recorded (identical events are aggregated).
    pub count: u32,
}

/// A cluster a case runs in.
pub trait Backend {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;

    /// How to wait for this backend to converge after a step.
    fn wait_policy(&self) -> WaitPolicy;

    /// Whether this backend can run `case` on `shape` at all; `Err(reason)` makes the runner
    /// report the suite as skipped (e.g. kind cannot change a running node's allocatable CPU)
    /// instead of failing half-way. Everything is supported by default.
    fn supports(&self, _case: &Case, _shape: &ClusterShape) -> Result<(), String> {
        Ok(())
    }

    /// Names the case the next [`setup`](Self::setup) is for (live backends name the case's
    /// namespace after it). Does nothing by default.
    fn case_started(&mut self, _case: &str) {}

    /// Creates (or reuses, and resets) a cluster of `shape` for one case run.
    fn setup(&mut self, shape: &ClusterShape) -> Result<(), BackendError>;

    /// Applies one step.
    fn apply(&mut self, action: &StepAction) -> Result<Applied, BackendError>;

    /// Observes the cluster now.
    fn observe(&mut self) -> Result<Observation, BackendError>;

    /// Removes what the case created and restores what it changed.
    fn cleanup(&mut self) -> Result<(), BackendError>;

    /// The warnings collected since the last call (none by default).
    fn take_warnings(&mut self) -> Vec<String> {
        Vec::new()
    }

    /// What the current cluster runs, after a successful [`setup`](Self::setup): name → value
    /// pairs the reports record (the components' real versions). None by default.
    fn environment(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}
