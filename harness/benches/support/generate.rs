//! Generates a large cluster state as a `kubectl get nodes,services,endpointslices -o json`
//! List: the scale of seed 004 (5,000 nodes in 3 zones, 10,000 endpoints, 100 Services).

use serde_json::{json, Value};

/// The shape of a generated cluster.
pub struct Scale {
    /// Nodes, spread round-robin over the zones.
    pub nodes: usize,
    /// Zones.
    pub zones: usize,
    /// Services.
    pub services: usize,
    /// Endpoints in all.
    pub endpoints: usize,
    /// Vary what the proxy sees (node-local policies, node hints, Services without hints, a
    /// control-plane and an unready node) so that route groups split below zone level.
    pub mixed: bool,
}

/// Seed 004's scale.
pub const SEED_004: Scale = Scale {
    nodes: 5_000,
    zones: 3,
    services: 100,
    endpoints: 10_000,
    mixed: false,
};

impl Scale {
    /// Seed 004's shape with `nodes` nodes and two endpoints per node (10,000 at 5,000 nodes).
    pub fn seed_004_with(nodes: usize) -> Scale {
        Scale {
            nodes,
            endpoints: nodes * 2,
            ..SEED_004
        }
    }
}

fn zone(i: usize) -> String {
    format!("zone-{}", (b'a' + (i % 26) as u8) as char)
}

/// The List as JSON.
pub fn kubectl_list(scale: &Scale) -> Value {
    let mut items = Vec::with_capacity(scale.nodes + scale.services * 3);
    for n in 0..scale.nodes {
        // What a real node carries besides the fields the model reads.
        let unready_node = scale.mixed && n == 1;
        let conditions: Vec<Value> = ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
            .iter()
            .map(|t| {
                let ready = *t == "Ready" && !unready_node;
                json!({
                    "type": t,
                    "status": if ready { "True" } else { "False" },
                    "lastHeartbeatTime": "2026-11-25T10:00:00Z",
                    "lastTransitionTime": "2026-11-20T10:00:00Z",
                    "reason": if ready { "KubeletReady" } else { "KubeletHasSufficientResources" },
                    "message": if ready { "kubelet is posting ready status" } else { "kubelet has sufficient resources" },
                })
            })
            .collect();
        let mut labels = json!({
            "beta.kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/os": "linux",
            "kubernetes.io/hostname": format!("node-{n:05}"),
            "topology.kubernetes.io/region": "region-1",
            "topology.kubernetes.io/zone": zone(n % scale.zones),
        });
        if scale.mixed && n == 0 {
            labels["node-role.kubernetes.io/control-plane"] = json!("");
        }
        items.push(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {
                "name": format!("node-{n:05}"),
                "uid": format!("6f1c2b7e-0000-4000-8000-{n:012}"),
                "resourceVersion": format!("{}", 100_000 + n),
                "creationTimestamp": "2026-11-20T10:00:00Z",
                "annotations": {
                    "node.alpha.kubernetes.io/ttl": "0",
                    "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                },
                "labels": labels,
            },
            "spec": {"podCIDR": format!("10.{}.{}.0/24", 128 + n / 256, n % 256), "providerID": format!("kind://docker/bench/node-{n:05}")},
            "status": {
                "addresses": [
                    {"type": "InternalIP", "address": format!("172.18.{}.{}", n / 250, n % 250 + 2)},
                    {"type": "Hostname", "address": format!("node-{n:05}")},
                ],
                "allocatable": {"cpu": "8", "ephemeral-storage": "263174212Ki", "hugepages-2Mi": "0", "memory": "32827436Ki", "pods": "110"},
                "capacity": {"cpu": "8", "ephemeral-storage": "263174212Ki", "hugepages-2Mi": "0", "memory": "32827436Ki", "pods": "110"},
                "conditions": conditions,
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "architecture": "amd64",
                    "bootID": format!("b0075e6d-0000-4000-8000-{n:012}"),
                    "containerRuntimeVersion": "containerd://2.1.4",
                    "kernelVersion": "6.8.0-45-generic",
                    "kubeProxyVersion": "",
                    "kubeletVersion": "v1.33.1",
                    "machineID": format!("{n:032x}"),
                    "operatingSystem": "linux",
                    "osImage": "Debian GNU/Linux 12 (bookworm)",
                    "systemUUID": format!("{n:032x}"),
                },
            }
        }));
    }
    let per_service = scale.endpoints / scale.services.max(1);
    let mut endpoint_index = 0usize;
    for s in 0..scale.services {
        let name = format!("svc-{s:03}");
        // Mixed: 0 Auto, 1 PreferClose, 2 internalTrafficPolicy Local, 3 PreferSameNode, 4 no
        // topology at all (and its endpoints carry no hints).
        let variant = if scale.mixed { s % 5 } else { s % 2 };
        let (annotations, td) = match variant {
            0 => (
                json!({"service.kubernetes.io/topology-mode": "Auto"}),
                Value::Null,
            ),
            1 => (json!({}), json!("PreferClose")),
            3 => (json!({}), json!("PreferSameNode")),
            _ => (json!({}), Value::Null),
        };
        let itp = if variant == 2 { "Local" } else { "Cluster" };
        items.push(json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "bench", "annotations": annotations},
            "spec": {
                "selector": {"app": name}, "type": "ClusterIP",
                "clusterIP": format!("10.96.{}.{}", s / 250, s % 250 + 1),
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
                "trafficDistribution": td,
                "internalTrafficPolicy": itp,
            }
        }));
        let mut endpoints = Vec::with_capacity(per_service);
        for k in 0..per_service {
            let node = (endpoint_index * 7919) % scale.nodes;
            endpoint_index += 1;
            let z = zone(node % scale.zones);
            let hints = match variant {
                3 => {
                    json!({"forZones": [{"name": z}], "forNodes": [{"name": format!("node-{node:05}")}]})
                }
                4 => Value::Null,
                _ => json!({"forZones": [{"name": z}]}),
            };
            endpoints.push(json!({
                "addresses": [format!("10.{}.{}.{}", 64 + endpoint_index / 65536, (endpoint_index / 256) % 256, endpoint_index % 256)],
                "conditions": {"ready": true, "serving": true, "terminating": false},
                "nodeName": format!("node-{node:05}"),
                "zone": z,
                "hints": hints,
                "targetRef": {"kind": "Pod", "name": format!("{name}-{k}"), "namespace": "bench"},
            }));
        }
        for (c, chunk) in endpoints.chunks(100).enumerate() {
            items.push(json!({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": format!("{name}-{c:05}"), "namespace": "bench", "labels": {
                    "kubernetes.io/service-name": name,
                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                }},
                "addressType": "IPv4",
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                "endpoints": chunk,
            }));
        }
    }
    json!({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}})
}
