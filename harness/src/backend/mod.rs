//! Backends: where the harness gets a cluster from and how it drives it.
//!
//! - [`kube_api`]: the Kubernetes API layer shared by the kind and kubeconfig backends (apply,
//!   node relabel, delete, observe, wait for EndpointSlice convergence, cleanup ledger).
//!
//! This layer sits above [`crate::model`] and [`crate::input`] and below the runner; nothing
//! below it depends on tokio or kube.

pub mod kube_api;
