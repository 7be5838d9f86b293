//! The kind-specific layer of the kind backend.
//!
//! - [`spec`]: [`KindClusterSpec`], the harness's own description of a cluster shape
//!   (version, proxy mode, nodes with zones/regions/labels/CPU reservation, feature gates)
//!   and its fingerprint;
//! - [`config`]: kind's `kind.x-k8s.io/v1alpha4` `Cluster` config generated from a spec;
//! - [`images`]: the node image table (`kind/images.yaml`, pinned by digest per kind release);
//! - [`shape`]: the kind cluster for a case's shape (name, roles, CPU reservations, skip
//!   reasons);
//! - [`releases`]: which kind binary (release) creates which cluster, `--kind`, `--image`;
//! - [`cluster`]: the kind CLI lifecycle ([`KindCluster`]), node reads and [`dry_run`];
//!
//! Nothing here talks to the Kubernetes API; that is the kube client's job.
//!
//! Adding a kind config field: add it to [`config::Cluster`] (or `Node`), to the allow-list
//! in `harness/tests/kind.rs` (only if kind's v1alpha4 has it), and regenerate the goldens
//! with `cargo insta review`.

pub use crate::backend::command;
pub mod cluster;
pub mod config;
pub mod images;
pub mod releases;
pub mod shape;
pub mod spec;

pub use crate::backend::command::{
    split_words, Command, CommandError, CommandRunner, DuctRunner, Output, RecordingRunner,
};
pub use cluster::{
    dry_run, dry_run_with, AfterCreate, ClusterError, ContainerCli, DryRun, KindCluster, RunLayout,
    SetupHooks,
};
pub use config::{render, write_config, ConfigError, KubeadmApi, RenderedConfig};
pub use images::{ImageError, ImageTable};
pub use releases::{choose, discover, Creator, KindBinary, KindRelease};
pub use spec::{
    EndpointSliceController, KindClusterSpec, KindNodeSpec, NodeRole, ProxyMode, SpecError,
};
