//! Random clusters: the controller the sim runs (the reconciler, with any of Go's map orders)
//! must always write hints that the analysis accepts, and the proxy view must stay consistent.

use std::collections::BTreeMap;

use serde_json::Value;
use topo_harness::explain::to_json;
use topo_harness::model::analysis::{analyse, HintOutcome};
use topo_harness::model::choice::Chooser;
use topo_harness::model::controller::reconciler::{Pod, Reconciler};
use topo_harness::model::{
    ClusterState, Environment, FeatureGate, KubeVersion, Node, Service, ServicePort, ServiceType,
    TrafficDistribution, TrafficPolicy, ANNOTATION_TOPOLOGY_AWARE_HINTS, ANNOTATION_TOPOLOGY_MODE,
    LABEL_CONTROL_PLANE, LABEL_ZONE,
};

/// xorshift64*: deterministic, dependency-free randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

impl Chooser for Rng {
    fn choose(&mut self, n: usize) -> usize {
        self.below(n)
    }
}

fn random_case(rng: &mut Rng) -> (Environment, Vec<Node>, Service, Vec<Pod>) {
    let minor = 21 + rng.below(17) as u32;
    let mut env = Environment::new(KubeVersion::new(minor));
    if minor <= 23 {
        env.gates
            .set(FeatureGate::TopologyAwareHints, true)
            .unwrap();
    }
    if minor == 30 {
        env.gates
            .set(FeatureGate::ServiceTrafficDistribution, true)
            .unwrap();
    }
    if minor == 33 {
        env.gates
            .set(FeatureGate::PreferSameTrafficDistribution, true)
            .unwrap();
    }
    let zones = 2 + rng.below(3);
    let node_count = zones + rng.below(6);
    let mut nodes = Vec::new();
    for i in 0..node_count {
        let mut labels = BTreeMap::new();
        labels.insert(LABEL_ZONE.to_string(), format!("z{}", i % zones));
        if i == 0 && rng.chance(50) {
            labels.insert(LABEL_CONTROL_PLANE.to_string(), String::new());
        }
        nodes.push(Node {
            name: format!("n{i}"),
            labels,
            allocatable_cpu_millis: Some(1000 * (1 + rng.below(4) as u64)),
            ready: !rng.chance(10),
            kubelet_version: None,
        });
    }
    let mut annotations = BTreeMap::new();
    let mut traffic_distribution = None;
    match rng.below(4) {
        0 => {
            annotations.insert(
                ANNOTATION_TOPOLOGY_AWARE_HINTS.to_string(),
                "auto".to_string(),
            );
        }
        1 => {
            annotations.insert(ANNOTATION_TOPOLOGY_MODE.to_string(), "Auto".to_string());
        }
        2 => traffic_distribution = Some(TrafficDistribution::PreferClose),
        _ => traffic_distribution = Some(TrafficDistribution::PreferSameNode),
    }
    let service = Service {
        annotations,
        selector: Some([("app".to_string(), "svc".to_string())].into()),
        cluster_ip: Some("10.96.0.10".into()),
        ports: vec![ServicePort {
            name: "http".into(),
            port: 80,
            protocol: "TCP".into(),
            node_port: 0,
        }],
        external_traffic_policy: TrafficPolicy::Cluster,
        traffic_distribution,
        ..Service::new("ns", "svc")
    };
    let pod_count = rng.below(30);
    let pods = (0..pod_count)
        .map(|i| Pod {
            name: format!("p{i}"),
            node: Some(format!("n{}", rng.below(node_count))),
            ip: Some(format!("10.244.{}.{}", i / 200, i % 200 + 2)),
            ready: !rng.chance(15),
            terminating: rng.chance(5),
        })
        .collect();
    (env, nodes, service, pods)
}

fn describe(slices: &[topo_harness::model::EndpointSlice]) -> String {
    slices
        .iter()
        .map(|s| {
            let eps: Vec<String> = s
                .endpoints
                .iter()
                .map(|e| {
                    format!(
                        "{}@{}[{}]{:?}",
                        e.pod.as_deref().unwrap_or("?"),
                        e.zone.as_deref().unwrap_or("-"),
                        if e.ready == Some(true) { "R" } else { "r" },
                        e.hints.as_ref().map(|h| h.for_zones.clone())
                    )
                })
                .collect();
            format!("  {}: {}", s.name, eps.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_reconciler_always_writes_an_acceptable_allocation() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut assigned = 0;
    for case in 0..1500 {
        let (env, nodes, service, pods) = random_case(&mut rng);
        let max = [3, 10, 100][rng.below(3)];
        let mut reconciler = Reconciler::new(env.gates.clone(), max, &nodes);
        // A first sync, then a second after a random change, so unchanged slices with hints
        // and redistribution over several slices are exercised too.
        let first = reconciler.sync(&service, &pods, &[], &nodes, &mut rng);
        let mut pods2 = pods.clone();
        if !pods2.is_empty() && rng.chance(50) {
            let i = rng.below(pods2.len());
            pods2.remove(i);
        }
        let second = reconciler.sync(&service, &pods2, &first.slices, &nodes, &mut rng);
        let state = ClusterState {
            nodes: nodes.clone(),
            services: vec![service.clone()],
            slices: second.slices.clone(),
        };
        let analysis = analyse(&state, &env, Vec::new());
        let verdict = &analysis.services[0].hints;
        if verdict.outcome == HintOutcome::Assigned {
            assigned += 1;
        }
        assert!(
            verdict.acceptable(),
            "case {case} (Kubernetes {}): observed {:?}, acceptable {:?}, outcome {:?} {:?}\nnodes {:?}\nslices (first sync):\n{}\nslices (second sync):\n{}",
            env.version(),
            verdict.observed,
            verdict.allocations,
            verdict.outcome,
            verdict.reason,
            nodes.iter().map(|n| (&n.name, n.labels.get(LABEL_ZONE), n.allocatable_cpu_millis, n.ready, n.labels.contains_key(LABEL_CONTROL_PLANE))).collect::<Vec<_>>(),
            describe(&first.slices),
            describe(&second.slices),
        );
        // From 1.23 (readiness-aware filtering) every node routes somewhere whenever a ready
        // endpoint exists. In 1.21/1.22 the proxy filters by hints before dropping unready
        // endpoints, so a zone whose only hinted endpoints are unready routes nowhere — the
        // upstream bug that 1.23 fixed.
        let any_ready = second
            .slices
            .iter()
            .flat_map(|s| s.endpoints.iter())
            .any(|e| e.ready == Some(true));
        if env.version().minor >= 23 && any_ready {
            for group in &analysis.services[0].routes {
                let cluster = group
                    .cluster
                    .as_ref()
                    .expect("ClusterIP services use cluster endpoints");
                assert!(!cluster.is_empty(), "case {case}: {group:?}");
            }
        }
    }
    assert!(
        assigned > 200,
        "too few cases assigned hints ({assigned}) to mean much"
    );
}

/// A random Service spec on top of `random_case`'s: any annotation value (asking or not, on
/// either key), any `trafficDistribution`, any type and traffic policies, with or without a
/// selector.
fn randomise_spec(rng: &mut Rng, service: &mut Service) {
    let values = [
        "auto",
        "Auto",
        "Disabled",
        "",
        "trafficDistribution",
        "PreferZone",
    ];
    service.annotations.clear();
    for key in [ANNOTATION_TOPOLOGY_AWARE_HINTS, ANNOTATION_TOPOLOGY_MODE] {
        if rng.chance(35) {
            let value = values[rng.below(values.len())];
            service
                .annotations
                .insert(key.to_string(), value.to_string());
        }
    }
    let distributions = [
        None,
        Some("PreferClose"),
        Some("PreferSameZone"),
        Some("PreferSameNode"),
        Some("Other"),
    ];
    service.traffic_distribution =
        distributions[rng.below(distributions.len())].map(TrafficDistribution::from);
    service.service_type = [
        ServiceType::ClusterIp,
        ServiceType::NodePort,
        ServiceType::LoadBalancer,
        ServiceType::ExternalName,
    ][rng.below(4)];
    if matches!(
        service.service_type,
        ServiceType::NodePort | ServiceType::LoadBalancer
    ) {
        service.ports[0].node_port = 30080;
    }
    let policy = |rng: &mut Rng| {
        if rng.chance(50) {
            TrafficPolicy::Local
        } else {
            TrafficPolicy::Cluster
        }
    };
    service.internal_traffic_policy = policy(rng);
    service.external_traffic_policy = policy(rng);
    if rng.chance(15) {
        service.selector = None;
    }
}

/// The contract, restated independently of the model (README, "JSON output"): whether
/// anything asks for hints, and which endpoint sets a node's proxy uses.
struct Expected {
    asks: bool,
    uses_cluster: bool,
    uses_local: bool,
}

fn expected(service: &Service, env: &Environment) -> Expected {
    let minor = env.version().minor;
    let annotation = service
        .annotations
        .get(ANNOTATION_TOPOLOGY_AWARE_HINTS)
        .or_else(|| {
            (minor >= 27)
                .then(|| service.annotations.get(ANNOTATION_TOPOLOGY_MODE))
                .flatten()
        })
        .map(String::as_str);
    let asks_auto = annotation == Some("auto") || (annotation == Some("Auto") && minor >= 22);
    let asks = asks_auto || service.traffic_distribution.is_some();
    let internal_local = service.internal_traffic_policy == TrafficPolicy::Local
        && env.gates.enabled(FeatureGate::ServiceInternalTrafficPolicy);
    let external = service.ports[0].node_port != 0;
    let external_local = external && service.external_traffic_policy == TrafficPolicy::Local;
    let (uses_cluster, uses_local) = if minor < 24 && external_local {
        // FilterEndpoints: externalTrafficPolicy Local turns topology off for all traffic.
        (true, true)
    } else if minor < 24 {
        (!internal_local, internal_local)
    } else {
        (
            !internal_local || external,
            internal_local || external_local,
        )
    };
    Expected {
        asks,
        uses_cluster,
        uses_local,
    }
}

#[test]
fn the_json_contract_holds_on_random_clusters_of_every_version() {
    let mut rng = Rng(0x0dd5_eed5_2026_0008);
    let mut seen = BTreeMap::new();
    for case in 0..3400 {
        let (_, nodes, mut service, pods) = random_case(&mut rng);
        // Every version equally often, 1.21–1.37.
        let minor = 21 + (case % 17) as u32;
        let mut env = Environment::new(KubeVersion::new(minor));
        if minor == 21 {
            env.gates
                .set(FeatureGate::ServiceInternalTrafficPolicy, rng.chance(50))
                .unwrap();
        }
        if minor <= 23 && rng.chance(50) {
            env.gates
                .set(FeatureGate::TopologyAwareHints, true)
                .unwrap();
        }
        randomise_spec(&mut rng, &mut service);
        let slices = if service.selector.is_some() {
            let mut reconciler = Reconciler::new(env.gates.clone(), 100, &nodes);
            reconciler
                .sync(&service, &pods, &[], &nodes, &mut rng)
                .slices
        } else {
            Vec::new()
        };
        let state = ClusterState {
            nodes: nodes.clone(),
            services: vec![service.clone()],
            slices,
        };
        let json = to_json(&analyse(&state, &env, Vec::new()));
        let s = &json["services"][0];
        let context = format!("case {case} on 1.{minor}: {service:?}\n{s:#}");
        let hints = &s["hints"];
        let outcome = hints["outcome"].as_str().expect("outcome");
        *seen.entry(outcome.to_string()).or_insert(0) += 1;
        let want = expected(&service, &env);
        let controllers =
            service.selector.is_some() && service.service_type != ServiceType::ExternalName;
        assert_eq!(
            outcome == "none",
            !want.asks || !controllers,
            "none iff nothing asks for hints: {context}"
        );
        assert_eq!(
            hints["reason"].is_null(),
            outcome != "removed",
            "reason null iff none or assigned: {context}"
        );
        if outcome != "assigned" {
            assert_eq!(hints["allocations"], Value::Array(Vec::new()), "{context}");
        }
        assert_eq!(
            hints["agrees"].is_null(),
            service.selector.is_none() || service.service_type == ServiceType::ExternalName,
            "{context}"
        );
        let routes = s["routes"].as_array().expect("routes");
        if service.service_type == ServiceType::ExternalName {
            assert!(routes.is_empty(), "{context}");
            continue;
        }
        assert!(!routes.is_empty(), "{context}");
        for group in routes {
            assert_eq!(
                group["cluster"].is_null(),
                !want.uses_cluster,
                "cluster shape: {context}"
            );
            assert_eq!(
                group["local"].is_null(),
                !want.uses_local,
                "local shape: {context}"
            );
            let described = if want.uses_cluster {
                &group["cluster"]
            } else {
                &group["local"]
            };
            let empty = described.as_array().is_some_and(Vec::is_empty);
            assert_eq!(
                group["basis"] == "none",
                empty,
                "basis none iff the set is empty: {context}"
            );
        }
    }
    for outcome in ["assigned", "removed", "none"] {
        assert!(
            seen.get(outcome).copied().unwrap_or(0) > 100,
            "too few {outcome}: {seen:?}"
        );
    }
}
