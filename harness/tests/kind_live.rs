//! Live test against a real kind cluster: `#[ignore]`d, run it on a machine with kind with
//! `TOPO_BACKEND=kind cargo test --test kind_live -- --ignored`.
//!
//! Needs `kind` and a container runtime (docker, or the one named by
//! `KIND_EXPERIMENTAL_PROVIDER`). Creates a 1 control-plane + 2 worker cluster with zones
//! through the kind layer and the real duct runner, checks that `kind get clusters` lists it
//! and that kube-proxy's `/proxyMode` endpoint answers on every node, then deletes it (in a
//! Drop guard, so it also goes away when an assertion fails).
//!
//! Optional: `TOPO_KIND_KUBERNETES=1.NN` (default: newest in the default kind release),
//! `TOPO_KIND_PROXY=iptables|nftables|ipvs` (default iptables).

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use topo_harness::backend::kind::{
    cluster, config, ContainerCli, DuctRunner, ImageTable, KindCluster, KindClusterSpec,
    KindNodeSpec, ProxyMode,
};
use topo_harness::model::KubeVersion;

/// Tells the person running the tests, bypassing libtest's output capture (which only
/// intercepts the print macros), so a skip is never silent.
fn say(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

struct DeleteOnDrop<'a> {
    cluster: &'a KindCluster<'a>,
    logs: PathBuf,
}

impl Drop for DeleteOnDrop<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            match self.cluster.export_logs(&self.logs) {
                Ok(()) => say(&format!("kind node logs in {}", self.logs.display())),
                Err(e) => say(&format!("could not export kind logs: {e}")),
            }
        }
        if let Err(e) = self.cluster.delete() {
            say(&format!(
                "could not delete kind cluster {}: {e}",
                self.cluster.name()
            ));
        }
    }
}

#[test]
#[ignore = "needs kind (TOPO_BACKEND=kind)"]
fn kind_cluster_lifecycle() {
    let images = ImageTable::embedded().expect("image table");
    let release = images.default_release().to_string();
    let version: KubeVersion = match std::env::var("TOPO_KIND_KUBERNETES") {
        Ok(v) => v.parse().expect("TOPO_KIND_KUBERNETES"),
        Err(_) => *images
            .versions(&release)
            .expect("versions")
            .last()
            .expect("the default release has images"),
    };
    let proxy: ProxyMode = std::env::var("TOPO_KIND_PROXY")
        .unwrap_or_else(|_| "iptables".into())
        .parse()
        .expect("TOPO_KIND_PROXY");
    let cli = ContainerCli::from_env().expect("KIND_EXPERIMENTAL_PROVIDER");

    let name = format!("topo-live-{}", std::process::id());
    let spec = KindClusterSpec::new(&name, version, proxy)
        .node(KindNodeSpec::control_plane().zone("a"))
        .node(KindNodeSpec::worker().zone("a"))
        .node(KindNodeSpec::worker().zone("b"));
    let rendered = config::render(&spec, &images, &release).expect("config");

    let dir = std::env::temp_dir().join(&name);
    let config_path = config::write_config(&dir, &name, &rendered).expect("write config");
    let kubeconfig = dir.join("kubeconfig");
    let logs = dir.join("logs");

    let runner = DuctRunner;
    let kind = KindCluster::new(&runner, &spec, cli);
    say(&format!(
        "creating kind cluster {name} (Kubernetes {version}, {proxy}, {})",
        rendered.image
    ));
    let guard = DeleteOnDrop {
        cluster: &kind,
        logs: logs.clone(),
    };
    // On failure the guard exports the logs (kind keeps the nodes: --retain) and deletes.
    kind.create(&config_path, &kubeconfig)
        .unwrap_or_else(|e| panic!("{e}"));

    let clusters = cluster::list(&runner, cli).expect("kind get clusters");
    assert!(clusters.contains(&name), "{name} not in {clusters:?}");
    assert!(kind
        .get_kubeconfig()
        .expect("kubeconfig")
        .contains("apiVersion"));

    for node in kind.nodes() {
        // kube-proxy may still be starting right after `--wait 1m`.
        let deadline = Instant::now() + Duration::from_secs(120);
        let mode = loop {
            match kind.proxy_mode(node) {
                Ok(mode) => break mode,
                Err(e) if Instant::now() > deadline => panic!("{node}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_secs(2)),
            }
        };
        assert_eq!(mode, proxy, "{node}");
        assert_eq!(
            kind.recorded_shape(node).expect("kubelet flags").as_deref(),
            Some(rendered.shape_hash.as_str()),
            "{node}: shape label"
        );
    }

    drop(guard);
    let clusters = cluster::list(&runner, cli).expect("kind get clusters");
    assert!(!clusters.contains(&name), "{name} still exists");
    let _ = std::fs::remove_dir_all(&dir);
}
