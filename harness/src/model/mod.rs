//! The reference model: what upstream Kubernetes does, per version.
//!
//! Pure logic, no I/O. [`state`] holds the cluster as the model sees it and [`version`] the
//! versions and feature gates; the EndpointSlice controller lives in [`controller`], kube-proxy
//! in [`proxy`], and [`analysis`] joins them into per-Service verdicts. Where upstream is
//! nondeterministic (Go map order), [`choice`] makes every alternative explicit.

pub mod admission;
pub mod analysis;
pub mod choice;
pub mod controller;
pub mod proxy;
pub mod proxy_mode;
pub mod state;
pub mod version;

pub use proxy_mode::{ProxyMode, UnknownProxyMode};
pub use state::*;
pub use version::{FeatureGate, FeatureGates, GateError, GateStatus, KubeVersion, VersionError};
