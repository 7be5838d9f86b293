//! The reference model: what upstream Kubernetes does, per version.
//!
//! Pure logic, no I/O. [`state`] holds the cluster as the model sees it, [`version`] the
//! versions and feature gates; the controller side lives in [`controller`], the proxy side in
//! [`proxy`].

pub mod state;
pub mod version;

pub use state::*;
pub use version::{FeatureGate, FeatureGates, GateError, GateStatus, KubeVersion, VersionError};
