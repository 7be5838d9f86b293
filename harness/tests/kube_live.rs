//! The Kubernetes API layer against a real cluster. `#[ignore]`d; run it with
//! `cargo test --test kube_live -- --ignored` and `TOPO_BACKEND=kind` (the kind cluster's
//! context, `kind-$TOPO_KIND_CLUSTER`, default `kind-kind`) or `TOPO_KUBECONFIG=path` (that
//! file's current context); `TOPO_CONTEXT` names another context in either case. Without
//! them it fails saying so.
//!
//! It creates a fresh namespace, applies a Service and a two-replica Deployment, waits for
//! the EndpointSlices to list both endpoints as ready, observes the state, and cleans up
//! (always, also when a step failed).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use topo_harness::backend::kube_api::{ClusterApi, Ledger};
use topo_harness::model::ClusterState;

/// The kubeconfig and context to use, or `None` to skip.
fn target() -> Option<(PathBuf, Option<String>)> {
    let backend = std::env::var("TOPO_BACKEND").ok().filter(|v| !v.is_empty());
    let explicit = std::env::var_os("TOPO_KUBECONFIG").filter(|v| !v.is_empty());
    let context = std::env::var("TOPO_CONTEXT").ok().filter(|v| !v.is_empty());
    let kind = backend.as_deref() == Some("kind");
    if !kind && explicit.is_none() {
        return None;
    }
    let path = explicit
        .or_else(|| std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()))
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube/config")))?;
    let context = context.or_else(|| {
        kind.then(|| {
            let cluster = std::env::var("TOPO_KIND_CLUSTER").unwrap_or_else(|_| "kind".into());
            format!("kind-{cluster}")
        })
    });
    Some((path, context))
}

fn ready_endpoints(state: &ClusterState) -> usize {
    state
        .slices
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .filter(|e| e.ready == Some(true))
        .count()
}

#[tokio::test]
#[ignore = "needs a cluster (TOPO_BACKEND=kind or TOPO_KUBECONFIG=path)"]
async fn live_apply_wait_observe_cleanup() {
    let Some((path, context)) = target() else {
        panic!("set TOPO_BACKEND=kind (or TOPO_KUBECONFIG=path) to run against a real cluster");
    };
    let api = ClusterApi::from_kubeconfig(&path, context.as_deref())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let ns = format!("topo-live-{}-{stamp}", std::process::id());
    let mut ledger = Ledger::new();
    let outcome = run(&api, &mut ledger, &ns).await;
    let report = ledger.cleanup(&api).await;
    print!("{report}");
    let state = outcome.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        report.is_complete(),
        "cleanup left things behind:\n{report}"
    );
    assert!(!state.nodes.is_empty());
    assert_eq!(state.services.len(), 1);
    assert_eq!(ready_endpoints(&state), 2);
}

async fn run(api: &ClusterApi, ledger: &mut Ledger, ns: &str) -> anyhow::Result<ClusterState> {
    api.apply(
        ledger,
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
    )
    .await?;
    api.apply(
        ledger,
        &json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {
                "name": "web", "namespace": ns,
                "annotations": {"service.kubernetes.io/topology-mode": "Auto"}
            },
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP"}]}
        }),
    )
    .await?;
    api.apply(
        ledger,
        &json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.9"}]}
                }
            }
        }),
    )
    .await?;
    let slices = api
        .wait_for_slices(
            ns,
            |s| ready_endpoints(s) == 2,
            Duration::from_secs(180),
            Duration::from_secs(2),
        )
        .await?;
    println!("converged: {} EndpointSlice(s)", slices.slices.len());
    Ok(api.observe(ns).await?)
}
