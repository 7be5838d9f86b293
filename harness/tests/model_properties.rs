//! Random clusters: the controller the sim runs (the reconciler, with any of Go's map orders)
//! must always write hints that the analysis accepts, and the proxy view must stay consistent.

use std::collections::BTreeMap;

use topo_harness::model::analysis::{analyse, HintOutcome};
use topo_harness::model::choice::Chooser;
use topo_harness::model::controller::reconciler::{Pod, Reconciler};
use topo_harness::model::{
    ClusterState, Environment, FeatureGate, KubeVersion, Node, Service, ServicePort, TrafficPolicy,
    ANNOTATION_TOPOLOGY_AWARE_HINTS, ANNOTATION_TOPOLOGY_MODE, LABEL_CONTROL_PLANE, LABEL_ZONE,
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
        2 => traffic_distribution = Some("PreferClose".to_string()),
        _ => traffic_distribution = Some("PreferSameNode".to_string()),
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
