//! The kind cluster for a case's [`ClusterShape`]: the mapping from the harness's shape
//! (version, proxy mode, gates, nodes and their CPU) to a [`KindClusterSpec`] — name from the
//! cluster key, roles, allocatable-CPU shaping as a kubelet `system-reserved` reservation of
//! host CPUs − wanted, `maxPods`, the gates kind must turn on — and what a kind cluster cannot
//! describe as the model does (skip reasons).

use crate::backend::kind::spec::{fnv1a64, NodeRole};
use crate::backend::kind::{KindClusterSpec, KindNodeSpec};
use crate::backend::BackendError;
use crate::case::{ClusterShape, ProxyMode, Role};

/// kube-controller-manager's default `--max-endpoints-per-slice`.
const DEFAULT_MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// The gate of `controller.kubernetes.io/pod-deletion-cost` (alpha in 1.21, beta from 1.22).
pub const POD_DELETION_COST_GATE: &str = "PodDeletionCost";

/// The host's CPUs in millicores (`std::thread::available_parallelism`); kind nodes are
/// containers sharing them, so each node's capacity is this.
pub fn host_cpu_millis() -> u64 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u64 * 1000)
        .unwrap_or(1000)
}

/// The `system-reserved` CPU that leaves a node with `wanted` millicores allocatable on a host
/// with `host` millicores: `None` when nothing needs reserving, an error when the host has
/// fewer CPUs than wanted.
pub fn reservation_millis(node: &str, wanted: u64, host: u64) -> Result<Option<u32>, BackendError> {
    if wanted > host {
        return Err(BackendError::setup(format!(
            "node {node} wants {wanted}m allocatable CPU but the host has only {host}m; kind nodes share the host's CPUs (lower the case's cpu or run on a bigger machine)"
        )));
    }
    let reserve = host - wanted;
    if reserve == 0 {
        return Ok(None);
    }
    u32::try_from(reserve).map(Some).map_err(|_| {
        BackendError::setup(format!(
            "node {node}: CPU reservation {reserve}m is too large"
        ))
    })
}

/// `topo-<hash8>`: the cluster name of a shape, from its cluster key (so shapes that differ
/// only in per-case labels share a cluster).
pub fn shape_cluster_name(shape: &ClusterShape) -> String {
    let key = format!("{:?}", shape.cluster_key());
    format!("topo-{:016x}", fnv1a64(key.as_bytes()))
        .chars()
        .take(13)
        .collect()
}

/// The kind cluster spec for `shape` on a host with `host_cpu` millicores: name from the
/// cluster key, roles, gates, and CPU reservations. Zones, regions and extra labels are not in
/// it: they are applied per case by relabeling (see [`ClusterKey`](crate::case::ClusterKey)).
pub fn kind_spec(shape: &ClusterShape, host_cpu: u64) -> Result<KindClusterSpec, BackendError> {
    let mut spec = KindClusterSpec::new(shape_cluster_name(shape), shape.version, shape.proxy_mode);
    for (gate, on) in &shape.feature_gates {
        spec = spec.gate(gate.name(), *on);
    }
    if shape.max_endpoints_per_slice != DEFAULT_MAX_ENDPOINTS_PER_SLICE {
        spec.max_endpoints_per_slice =
            Some(u32::try_from(shape.max_endpoints_per_slice).map_err(|_| {
                BackendError::setup(format!(
                    "max_endpoints_per_slice {} is out of range",
                    shape.max_endpoints_per_slice
                ))
            })?);
    }
    if shape.proxy_mode == ProxyMode::Nftables && shape.version.minor < 31 {
        spec = spec.gate("NFTablesProxyMode", true);
    }
    // Holding terminating pods ranks them with `controller.kubernetes.io/pod-deletion-cost`,
    // which is alpha (off) in 1.21 and beta (on) from 1.22: turn it on where it is off.
    if shape.version.minor < 22 {
        spec = spec.gate(POD_DELETION_COST_GATE, true);
    }
    spec.max_pods = Some(KIND_MAX_PODS);
    if !has_control_plane(shape) {
        // kind needs one; the case does not know it (it is left out of the node mapping, and
        // the model ignores control-plane nodes for hints).
        spec = spec.node(KindNodeSpec::control_plane());
    }
    for node in &shape.nodes {
        let mut kind_node = KindNodeSpec::new(match node.role {
            Role::ControlPlane => NodeRole::ControlPlane,
            Role::Worker => NodeRole::Worker,
        });
        if let Some(reserve) = reservation_millis(&node.name, node.cpu_millis, host_cpu)? {
            kind_node = kind_node.reserve_cpu_millis(reserve);
        }
        spec = spec.node(kind_node);
    }
    Ok(spec)
}

fn has_control_plane(shape: &ClusterShape) -> bool {
    shape.nodes.iter().any(|n| n.role == Role::ControlPlane)
}

/// The cluster must have the nodes the model sees. kind needs a control plane; for a case
/// without one the backend adds a node the case does not know. From 1.23 the EndpointSlice
/// controller ignores control-plane nodes, so that is harmless; before 1.23 it counts them,
/// and the added node (no zone) turns hints off (`sufficientNodeInfo`): the case cannot run
/// as the model describes it, so it is skipped with this reason.
pub fn same_nodes_as_the_model(shape: &ClusterShape) -> Result<(), String> {
    if shape.version.minor < 23 && !has_control_plane(shape) {
        return Err(format!(
            "kind adds a control-plane node the case does not declare, and before 1.23 the EndpointSlice controller counts it (a node without a zone turns hints off), so Kubernetes {} on kind would not be the cluster the model sees; declare a control-plane node with a zone to run the case here",
            shape.version
        ));
    }
    Ok(())
}

/// Pods a kind node runs besides the case's (kube-proxy, kindnet, CoreDNS, the storage
/// provisioner, a traffic-probe client), with room to spare.
pub const SYSTEM_PODS_PER_NODE: usize = 10;

/// The kubelet `maxPods` of every kind node: the most a node's `/24` pod range (254
/// addresses) holds with room for restarts, instead of the kubelet default 110 that
/// `endpointslice-packing` (150 pods on a worker) exceeds.
pub const KIND_MAX_PODS: u32 = 250;

/// The most pods the case puts on one node at once (running + held terminating).
pub fn max_pods_per_node(case: &crate::case::Case) -> usize {
    crate::backend::pods::PodSet::most_per_node(case)
}

/// Skips a case whose pods cannot fit on a kind node (see [`KIND_MAX_PODS`]).
pub fn pods_fit_on_nodes(case: &crate::case::Case) -> Result<(), String> {
    let wanted = max_pods_per_node(case) + SYSTEM_PODS_PER_NODE;
    if wanted > KIND_MAX_PODS as usize {
        return Err(format!(
            "the case puts {} pods on one node; with {SYSTEM_PODS_PER_NODE} system pods that exceeds the {KIND_MAX_PODS} a kind node holds",
            wanted - SYSTEM_PODS_PER_NODE
        ));
    }
    Ok(())
}

/// `(case node, kind node)` pairs: kind names nodes by role and order; a control plane the
/// harness added for a case without one is skipped.
pub fn node_pairs(shape: &ClusterShape, spec: &KindClusterSpec) -> Vec<(String, String)> {
    let skip = usize::from(!has_control_plane(shape));
    shape
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .zip(spec.node_names().into_iter().skip(skip))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::backend::kind::ImageTable;
    use crate::case::NodeDef;
    use crate::model::KubeVersion;
    use std::collections::BTreeMap;

    /// A shape of nodes with these allocatable CPUs (the first a control plane), zones a/b.
    pub(crate) fn shape(cpus: &[u64]) -> ClusterShape {
        let nodes = cpus
            .iter()
            .enumerate()
            .map(|(i, cpu)| NodeDef {
                name: if i == 0 {
                    "control-plane".into()
                } else {
                    format!(
                        "worker{}",
                        if i == 1 { String::new() } else { i.to_string() }
                    )
                },
                role: if i == 0 {
                    Role::ControlPlane
                } else {
                    Role::Worker
                },
                zone: Some(if i % 2 == 0 { "a" } else { "b" }.into()),
                region: None,
                cpu_millis: *cpu,
                ready: true,
                labels: BTreeMap::new(),
            })
            .collect();
        ClusterShape {
            version: KubeVersion::new(34),
            proxy_mode: ProxyMode::Iptables,
            feature_gates: Vec::new(),
            max_endpoints_per_slice: 100,
            nodes,
        }
    }

    #[test]
    fn reservation_is_host_minus_wanted() {
        assert_eq!(reservation_millis("n", 1000, 2000).ok(), Some(Some(1000)));
        assert_eq!(reservation_millis("n", 2000, 2000).ok(), Some(None));
        assert_eq!(reservation_millis("n", 500, 4000).ok(), Some(Some(3500)));
        let err = reservation_millis("worker", 4000, 2000)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("cannot set up the cluster: node worker wants 4000m allocatable CPU but the host has only 2000m; kind nodes share the host's CPUs (lower the case's cpu or run on a bigger machine)")
        );
    }

    #[test]
    fn spec_from_shape() {
        let spec = kind_spec(&shape(&[1000, 2000, 1000]), 4000).expect("spec");
        assert!(
            spec.name.starts_with("topo-") && spec.name.len() == 13,
            "{}",
            spec.name
        );
        let reserved: Vec<Option<u32>> = spec.nodes.iter().map(|n| n.reserve_cpu_millis).collect();
        assert_eq!(reserved, vec![Some(3000), Some(2000), Some(3000)]);
        let roles: Vec<NodeRole> = spec.nodes.iter().map(|n| n.role).collect();
        assert_eq!(
            roles,
            vec![NodeRole::ControlPlane, NodeRole::Worker, NodeRole::Worker]
        );
        // Zones are per case: not in the spec, and not in the name.
        assert!(spec.nodes.iter().all(|n| n.zone.is_none()));
        let mut other = shape(&[1000, 2000, 1000]);
        other.nodes[1].zone = Some("z".into());
        assert_eq!(shape_cluster_name(&other), spec.name);
        assert_ne!(shape_cluster_name(&shape(&[1000, 1000, 1000])), spec.name);
        assert!(kind_spec(&shape(&[1000, 8000]), 4000).is_err());
    }

    #[test]
    fn a_case_without_control_plane_gets_one_outside_the_mapping() {
        let mut s = shape(&[1000, 1000, 1000]);
        s.nodes.remove(0);
        let spec = kind_spec(&s, 2000).expect("spec");
        assert_eq!(spec.nodes.len(), 3);
        assert_eq!(spec.nodes[0].role, NodeRole::ControlPlane);
        assert_eq!(spec.nodes[0].reserve_cpu_millis, None);
        let pairs = node_pairs(&s, &spec);
        let names: Vec<(&str, String)> = pairs
            .iter()
            .map(|(c, r)| (c.as_str(), r.trim_start_matches(&spec.name).to_string()))
            .collect();
        assert_eq!(
            names,
            [
                ("worker", "-worker".to_string()),
                ("worker2", "-worker2".to_string())
            ]
        );
    }

    #[test]
    fn max_endpoints_per_slice_reaches_the_controller_manager() {
        let mut s = shape(&[1000, 1000]);
        let plain = kind_spec(&s, 2000).expect("spec");
        assert_eq!(plain.max_endpoints_per_slice, None);
        s.max_endpoints_per_slice = 2;
        let spec = kind_spec(&s, 2000).expect("spec");
        assert_eq!(spec.max_endpoints_per_slice, Some(2));
        assert_ne!(shape_cluster_name(&s), plain.name);
        let images = ImageTable::embedded().expect("images");
        let rendered =
            crate::backend::kind::config::render(&spec, &images, images.default_release())
                .expect("render");
        assert!(
            rendered.yaml.contains("kind: ClusterConfiguration"),
            "{}",
            rendered.yaml
        );
        assert!(
            rendered.yaml.contains("max-endpoints-per-slice: \"2\""),
            "{}",
            rendered.yaml
        );
        assert_ne!(spec.shape_hash(), plain.shape_hash());
    }

    #[test]
    fn proxy_mode_none_maps_to_kind_none_without_nftables_gate() {
        let mut s = shape(&[1000, 1000]);
        s.version = KubeVersion::new(30);
        s.proxy_mode = ProxyMode::None;
        let spec = kind_spec(&s, 2000).expect("spec");
        assert_eq!(spec.proxy_mode, ProxyMode::None);
        assert!(spec.feature_gates.is_empty());
        assert_ne!(
            shape_cluster_name(&s),
            shape_cluster_name(&ClusterShape {
                proxy_mode: ProxyMode::Iptables,
                ..s.clone()
            })
        );
    }

    #[test]
    fn nftables_before_131_gets_its_gate() {
        let mut s = shape(&[1000, 1000]);
        s.version = KubeVersion::new(30);
        s.proxy_mode = ProxyMode::Nftables;
        let spec = kind_spec(&s, 2000).expect("spec");
        assert_eq!(spec.feature_gates.get("NFTablesProxyMode"), Some(&true));
    }
}
