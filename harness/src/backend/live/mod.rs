//! The live backends: [`KindBackend`] (kind clusters per shape) and [`KubeconfigBackend`]
//! (a cluster the user already has). Both drive the API through
//! [`ClusterApi`](crate::backend::kube_api::ClusterApi) and share the per-case
//! [`Workload`]: the translation of each [`StepAction`](crate::case::StepAction) into API objects, interpreted exactly
//! as the sim backend interprets it.
//!
//! The [`Backend`](crate::backend::Backend) trait is synchronous; each live backend owns a
//! current-thread tokio runtime and blocks on the async API calls.

pub mod controller;
pub mod kind;
pub mod kubeconfig;
pub mod probes;
pub mod routes;
mod workload;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::Duration;

pub use kind::{
    host_cpu_millis, kind_spec, reservation_millis, shape_cluster_name, KindBackend, KindOptions,
};
pub use kubeconfig::{map_nodes, KubeconfigBackend, KubeconfigOptions};
pub use probes::ObserveSource;
pub use routes::service_routes;
pub use workload::{namespace_name, NodeMap, Workload};

use super::BackendError;

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
pub fn live_wait_policy() -> super::WaitPolicy {
    super::WaitPolicy::default()
}
