//! One small case of the catalog through the real `KindBackend` (kind + docker/podman):
//! `#[ignore]`d, a maintainer with a container engine runs it with
//!
//! ```sh
//! TOPO_BACKEND=kind cargo test --test catalog_kind -- --ignored --nocapture
//! ```
//!
//! The kind binaries are found as the CLI finds them (`TOPO_KIND`, then `kind` on `PATH`).
//!
//! Optional: `TOPO_KIND_CASE=cases/<file>.yaml` (default `cases/current-two-zones-auto.yaml`),
//! `TOPO_KIND_KUBERNETES=1.NN` (default: the newest version of the default kind release),
//! `TOPO_KIND_KEEP=1` (keep the cluster and namespace for debugging).

use std::io::Write;
use std::path::PathBuf;

use topo_harness::backend::kind::{releases, DuctRunner, ImageTable};
use topo_harness::backend::live::{install_ctrl_c_handler, KindBackend, KindOptions};
use topo_harness::case::{load_case_file, ProxyMode};
use topo_harness::model::KubeVersion;
use topo_harness::plan::VersionSelection;
use topo_harness::runner::{run, Event, RunOptions};

fn say(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

#[test]
#[ignore = "needs kind (TOPO_BACKEND=kind)"]
fn one_case_on_a_real_kind_cluster() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let case_path = std::env::var("TOPO_KIND_CASE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("cases/current-two-zones-auto.yaml"));
    let case = load_case_file(&case_path).expect("case file");
    let images = ImageTable::embedded().expect("image table");
    let programs = releases::candidate_programs(&[], std::env::var("TOPO_KIND").ok().as_deref());
    let (binaries, problems) = releases::discover(&DuctRunner, &programs);
    assert!(!binaries.is_empty(), "no kind binary: {problems:?}");
    say(&format!("kind binaries: {binaries:?}"));
    let version: KubeVersion = match std::env::var("TOPO_KIND_KUBERNETES") {
        Ok(v) => v.parse().expect("TOPO_KIND_KUBERNETES"),
        Err(_) => *images
            .versions(&binaries[0].release_name())
            .expect("the first kind binary's release is in kind/images.yaml")
            .iter()
            .max()
            .expect("a version"),
    };
    install_ctrl_c_handler();
    let mut options = KindOptions::new(format!("catalog-kind-{}", std::process::id()));
    options.kind_dir = root.join("kind");
    options.reports_dir = root.join("reports");
    options.keep = std::env::var("TOPO_KIND_KEEP").is_ok();
    options.binaries = binaries;
    let mut backend = KindBackend::new(Box::new(DuctRunner), options).expect("backend");
    let run_options = RunOptions {
        versions: VersionSelection::Explicit(vec![version]),
        proxy_modes: vec![ProxyMode::Iptables],
        filter: None,
        snapshots: Some(topo_harness::snapshot::Goldens::Dir(
            root.join("fixtures/snapshots"),
        )),
        dump_state: None,
    };
    let mut log = |event: &Event| say(&format!("{event:?}"));
    let summary = run(
        std::slice::from_ref(&case),
        &mut backend,
        &run_options,
        &mut log,
    );
    let shutdown = backend.shutdown();
    drop(backend);
    shutdown.expect("cluster deleted");
    assert!(
        summary.success(),
        "case {} failed on kind {version}: {:?}",
        case.name,
        summary.counts
    );
    assert_eq!(summary.counts.passed, 1, "{:?}", summary.counts);
}
