//! Parse + normalize time of an `iptables-save`-style dump of 10,000 Service ports and 50,000
//! endpoints (the shape kube-proxy writes), against a matching cluster state; and what
//! `rules -o json` does for the same Services as iptables, nft and IPVS dumps.
//!
//! `TOPO_BENCH_DUMP=path cargo bench --bench dataplane` also writes the generated dump there, to
//! compare with `grep -c KUBE-SEP path` and `iptables-restore --test path` (see the report in
//! `docs/rules-json.md`).

#[path = "../tests/common/synth.rs"]
mod synth;

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use topo_harness::model::state::{
    AddressType, ClusterState, Endpoint, EndpointPort, EndpointSlice, Service, ServicePort,
    ServiceType, TrafficPolicy, LABEL_SERVICE_NAME,
};
use topo_harness::observe::dataplane::{
    normalize, parse_iptables, parse_reader, write_json_with, Normalizer, ProxyMode,
};

fn state(services: &[synth::SynthService]) -> ClusterState {
    let mut st = ClusterState::empty();
    for (i, s) in services.iter().enumerate() {
        st.services.push(Service {
            namespace: s.namespace.clone(),
            name: s.name.clone(),
            annotations: BTreeMap::new(),
            selector: Some(BTreeMap::new()),
            service_type: if s.node_port != 0 {
                ServiceType::NodePort
            } else {
                ServiceType::ClusterIp
            },
            cluster_ip: Some(s.cluster_ip.clone()),
            ports: vec![ServicePort {
                name: s.port_name.clone(),
                port: s.port,
                protocol: "TCP".into(),
                node_port: s.node_port,
            }],
            internal_traffic_policy: TrafficPolicy::Cluster,
            external_traffic_policy: TrafficPolicy::Cluster,
            traffic_distribution: None,
            topology_keys: vec![],
            publish_not_ready_addresses: false,
            external_ips: vec![],
            load_balancer_ips: vec![],
        });
        st.slices.push(EndpointSlice {
            namespace: s.namespace.clone(),
            name: format!("{}-{i}", s.name),
            service_name: Some(s.name.clone()),
            managed_by: None,
            address_type: AddressType::IPv4,
            ports: vec![EndpointPort {
                name: Some(s.port_name.clone()),
                port: Some(8080),
                protocol: "TCP".into(),
            }],
            endpoints: s
                .cluster
                .iter()
                .enumerate()
                .map(|(j, (ip, _))| Endpoint {
                    addresses: vec![ip.clone()],
                    node_name: Some(format!("node{}", j % 3)),
                    ..Endpoint::default()
                })
                .collect(),
        });
    }
    let _ = LABEL_SERVICE_NAME;
    st
}

fn bench(c: &mut Criterion) {
    let services = synth::many(10_000, 5);
    let dump = synth::iptables_restore(&services);
    if let Ok(path) = std::env::var("TOPO_BENCH_DUMP") {
        std::fs::write(&path, &dump).expect("write TOPO_BENCH_DUMP");
    }
    let st = state(&services);
    let routes = parse_iptables(&dump).expect("generated dump parses");
    assert_eq!(routes.frontends.len(), 11_000);
    let mut group = c.benchmark_group("dataplane");
    group.sample_size(10);
    group.bench_function("iptables_parse_10k_services_50k_endpoints", |b| {
        b.iter(|| parse_iptables(black_box(&dump)).expect("parses"))
    });
    // Per node: the state's lookups are built once and shared by all nodes.
    let normalizer = Normalizer::new(Some(&st));
    group.bench_function("iptables_parse_normalize_10k_services_50k_endpoints", |b| {
        b.iter(|| normalizer.normalize(&parse_iptables(black_box(&dump)).expect("parses")))
    });
    // One-off: including indexing the cluster state.
    group.bench_function(
        "iptables_parse_index_normalize_10k_services_50k_endpoints",
        |b| {
            b.iter(|| {
                normalize(
                    &parse_iptables(black_box(&dump)).expect("parses"),
                    Some(&st),
                )
            })
        },
    );
    // What `rules FILE --mode M -o json` does after reading the file: parse the bytes as a
    // stream, normalize without a state, write the JSON (to a sink).
    let nft = synth::nft_script(&services);
    let ipvs = synth::ipvsadm(&services);
    for (mode, text) in [
        (ProxyMode::Iptables, &dump),
        (ProxyMode::Nftables, &nft),
        (ProxyMode::Ipvs, &ipvs),
    ] {
        let name = format!("rules_{}_json_10k_services_50k_endpoints", mode.as_str());
        group.bench_function(name, |b| {
            b.iter(|| {
                let bytes = black_box(text.as_bytes());
                let routes = parse_reader(mode, bytes, bytes.len() as u64).expect("parses");
                write_json_with(std::io::sink(), mode, None, &normalize(&routes, None), None)
                    .expect("writes")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
