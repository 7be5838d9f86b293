//! Writing a [`ClusterState`] back out in the compact state format, so a state observed by a
//! run (`run --dump-state DIR`) can be read by `explain` and `rules --state`. Every slice is
//! written as a hand-written slice with all its fields, so reading the file gives back the
//! same state.

use serde_json::{json, Map, Value};

use super::compact::COMPACT_API_VERSION;
use crate::model::{AddressType, Endpoint, EndpointSlice, Node, Service, ServiceType};
use crate::model::{ClusterState, FeatureGate, KubeVersion, TrafficPolicy, LABEL_HOSTNAME};

/// The compact state file (YAML) of `state`, evaluated as Kubernetes `version` with the
/// explicit gate settings `gates`; `description` says where it comes from.
pub fn compact_text(
    state: &ClusterState,
    version: KubeVersion,
    gates: &[(FeatureGate, bool)],
    description: &str,
) -> String {
    let mut doc = Map::new();
    doc.insert("apiVersion".into(), json!(COMPACT_API_VERSION));
    doc.insert("kind".into(), json!("State"));
    doc.insert("description".into(), json!(description));
    doc.insert("kubernetes".into(), json!(version.to_string()));
    if !gates.is_empty() {
        let gates: Map<String, Value> = gates
            .iter()
            .map(|(g, on)| (g.name().to_string(), json!(on)))
            .collect();
        doc.insert("featureGates".into(), Value::Object(gates));
    }
    doc.insert(
        "nodes".into(),
        state.nodes.iter().map(node).collect::<Vec<_>>().into(),
    );
    doc.insert(
        "services".into(),
        state
            .services
            .iter()
            .map(service)
            .collect::<Vec<_>>()
            .into(),
    );
    doc.insert(
        "slices".into(),
        state.slices.iter().map(slice).collect::<Vec<_>>().into(),
    );
    let value = Value::Object(doc);
    // YAML for people; JSON (which the format also accepts) if YAML cannot be written.
    serde_saphyr::to_string(&value)
        .unwrap_or_else(|_| serde_json::to_string_pretty(&value).unwrap_or_default() + "\n")
}

fn node(node: &Node) -> Value {
    let labels: Map<String, Value> = node
        .labels
        .iter()
        .filter(|(k, v)| !(k.as_str() == LABEL_HOSTNAME && **v == node.name))
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let mut out = Map::new();
    out.insert("name".into(), json!(node.name));
    out.insert(
        "cpu".into(),
        match node.allocatable_cpu_millis {
            Some(m) => json!(format!("{m}m")),
            None => Value::Null,
        },
    );
    out.insert("ready".into(), json!(node.ready));
    if let Some(v) = node.kubelet_version {
        out.insert("kubelet".into(), json!(v.to_string()));
    }
    if !labels.is_empty() {
        out.insert("labels".into(), Value::Object(labels));
    }
    Value::Object(out)
}

fn policy(p: TrafficPolicy) -> &'static str {
    match p {
        TrafficPolicy::Cluster => "Cluster",
        TrafficPolicy::Local => "Local",
    }
}

fn service(svc: &Service) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(svc.name));
    out.insert("namespace".into(), json!(svc.namespace));
    if !svc.annotations.is_empty() {
        out.insert("annotations".into(), json!(svc.annotations));
    }
    // `{}` is "no selector" in the compact format (absent would default to {app: <name>}).
    out.insert(
        "selector".into(),
        json!(svc.selector.clone().unwrap_or_default()),
    );
    let service_type = match svc.service_type {
        ServiceType::ClusterIp => "ClusterIP",
        ServiceType::NodePort => "NodePort",
        ServiceType::LoadBalancer => "LoadBalancer",
        ServiceType::ExternalName => "ExternalName",
    };
    out.insert("type".into(), json!(service_type));
    if let Some(ip) = &svc.cluster_ip {
        out.insert("clusterIP".into(), json!(ip));
    }
    let ports: Vec<Value> = svc
        .ports
        .iter()
        .map(|p| {
            json!({"name": p.name, "port": p.port, "protocol": p.protocol, "nodePort": p.node_port})
        })
        .collect();
    out.insert("ports".into(), ports.into());
    out.insert(
        "internalTrafficPolicy".into(),
        json!(policy(svc.internal_traffic_policy)),
    );
    out.insert(
        "externalTrafficPolicy".into(),
        json!(policy(svc.external_traffic_policy)),
    );
    if let Some(td) = &svc.traffic_distribution {
        out.insert("trafficDistribution".into(), json!(td.as_str()));
    }
    if !svc.topology_keys.is_empty() {
        out.insert("topologyKeys".into(), json!(svc.topology_keys));
    }
    out.insert(
        "publishNotReadyAddresses".into(),
        json!(svc.publish_not_ready_addresses),
    );
    if !svc.external_ips.is_empty() {
        out.insert("externalIPs".into(), json!(svc.external_ips));
    }
    if !svc.load_balancer_ips.is_empty() {
        out.insert("loadBalancerIPs".into(), json!(svc.load_balancer_ips));
    }
    Value::Object(out)
}

fn slice(slice: &EndpointSlice) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), json!(slice.name));
    out.insert("namespace".into(), json!(slice.namespace));
    if let Some(s) = &slice.service_name {
        out.insert("service".into(), json!(s));
    }
    if let Some(m) = &slice.managed_by {
        out.insert("managedBy".into(), json!(m));
    }
    let address_type = match slice.address_type {
        AddressType::IPv4 => "IPv4",
        AddressType::IPv6 => "IPv6",
        AddressType::Fqdn => "FQDN",
    };
    out.insert("addressType".into(), json!(address_type));
    let ports: Vec<Value> = slice
        .ports
        .iter()
        .map(|p| json!({"name": p.name, "port": p.port, "protocol": p.protocol}))
        .collect();
    out.insert("ports".into(), ports.into());
    out.insert(
        "endpoints".into(),
        slice
            .endpoints
            .iter()
            .map(endpoint)
            .collect::<Vec<_>>()
            .into(),
    );
    Value::Object(out)
}

fn endpoint(ep: &Endpoint) -> Value {
    let mut out = Map::new();
    if let Some(node) = &ep.node_name {
        out.insert("node".into(), json!(node));
    }
    if let Some(address) = ep.addresses.first() {
        out.insert("address".into(), json!(address));
    }
    out.insert("zone".into(), json!(ep.zone));
    out.insert("ready".into(), json!(ep.ready));
    out.insert("serving".into(), json!(ep.serving));
    out.insert("terminating".into(), json!(ep.terminating));
    if let Some(h) = &ep.hints {
        out.insert(
            "hints".into(),
            json!({"forZones": h.for_zones, "forNodes": h.for_nodes}),
        );
    }
    if let Some(pod) = &ep.pod {
        out.insert("pod".into(), json!(pod));
    }
    if !ep.topology.is_empty() {
        out.insert("topology".into(), json!(ep.topology));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{load_state_file, load_state_str};

    /// Every fixture state reads back equal after writing it out (kubectl dumps and compact
    /// files, with hints, conditions, hand-written slices and selector-less Services).
    #[test]
    fn written_states_read_back_equal() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/states");
        for name in [
            "kubectl-seed-001.yaml",
            "compact-three-zones.yaml",
            "compact-prefer-same-node.yaml",
            "compact-what-if-notready.yaml",
        ] {
            let loaded = match load_state_file(&std::path::Path::new(dir).join(name)) {
                Ok(l) => l,
                Err(e) => panic!("{name}: {e}"),
            };
            let version = loaded
                .version
                .or(loaded.state.kubelet_version())
                .unwrap_or(KubeVersion::NEWEST);
            let text = compact_text(&loaded.state, version, &loaded.gates, name);
            let back = match load_state_str(&text, name) {
                Ok(l) => l,
                Err(e) => panic!("{name}: {e}\n{text}"),
            };
            assert_eq!(back.version, Some(version), "{name}");
            assert_eq!(back.gates, loaded.gates, "{name}");
            let mut expected = loaded.state.clone();
            // Nodes without a kubelet version get the state's version; only the first address
            // of an endpoint is kept (the only one kube-proxy uses).
            for node in &mut expected.nodes {
                node.kubelet_version.get_or_insert(version);
            }
            for slice in &mut expected.slices {
                for ep in &mut slice.endpoints {
                    ep.addresses.truncate(1);
                }
            }
            assert_eq!(back.state, expected, "{name}\n{text}");
        }
    }
}
