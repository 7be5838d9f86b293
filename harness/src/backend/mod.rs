//! Backends: where a case runs. One trait, several implementations: [`sim::SimBackend`] (the
//! reference model plays controller and proxies), [`live::KindBackend`] (kind clusters) and
//! [`live::KubeconfigBackend`] (an existing cluster).
//!
//! A backend never sees expectations or snapshots: it gets a [`ClusterShape`] and
//! [`StepAction`]s and reports what it observes. Adding a backend: implement [`Backend`], give
//! it a [`WaitPolicy`] that suits it (the runner's [`wait::wait_for_convergence`] does the
//! waiting), and map its failures to [`BackendError`].

pub mod kind;
pub mod kube_api;
pub mod live;
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
}

impl BackendKind {
    /// The `--backend` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Sim => "sim",
            BackendKind::Kind => "kind",
            BackendKind::Kubeconfig => "kubeconfig",
        }
    }
}

/// A backend failure (not a failed check).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The backend is not implemented yet.
    #[error("the {0} backend is not available yet; use --backend sim")]
    NotAvailable(&'static str),
    /// The cluster cannot be built as asked.
    #[error("cannot set up the cluster: {0}")]
    Setup(String),
    /// A step cannot be applied (not a rejection by the API server: a harness problem).
    #[error("cannot apply the step: {0}")]
    Apply(String),
    /// The cluster cannot be observed.
    #[error("cannot observe the cluster: {0}")]
    Observe(String),
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

/// What one node's proxy programs for the Service, as addresses.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct NodeRoutes {
    /// Endpoints that internal (ClusterIP) traffic from this node reaches.
    pub internal: Vec<String>,
    /// Endpoints that external (NodePort) traffic arriving at this node reaches; `None` when
    /// the Service is not externally accessible.
    pub external: Option<Vec<String>>,
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
}

/// A backend that does not exist yet: every call fails with [`BackendError::NotAvailable`].
#[derive(Debug)]
pub struct Unavailable(pub BackendKind);

impl Backend for Unavailable {
    fn kind(&self) -> BackendKind {
        self.0
    }
    fn wait_policy(&self) -> WaitPolicy {
        WaitPolicy::default()
    }
    fn setup(&mut self, _: &ClusterShape) -> Result<(), BackendError> {
        Err(BackendError::NotAvailable(self.0.as_str()))
    }
    fn apply(&mut self, _: &StepAction) -> Result<Applied, BackendError> {
        Err(BackendError::NotAvailable(self.0.as_str()))
    }
    fn observe(&mut self) -> Result<Observation, BackendError> {
        Err(BackendError::NotAvailable(self.0.as_str()))
    }
    fn cleanup(&mut self) -> Result<(), BackendError> {
        Ok(())
    }
}
