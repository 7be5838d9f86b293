//! Backend-neutral cluster state: the nodes, Services and EndpointSlices the model reads.
//!
//! These types hold only what topology-aware routing depends on. They are filled from a
//! `kubectl get nodes,services,endpointslices -o yaml` List, from the compact state format, or
//! by a backend observing a live cluster.

use std::collections::BTreeMap;

use super::version::{FeatureGates, KubeVersion};

/// Node label holding the zone.
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
/// Node label holding the region.
pub const LABEL_REGION: &str = "topology.kubernetes.io/region";
/// Node label holding the hostname.
pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
/// Control-plane role label (1.20+).
pub const LABEL_CONTROL_PLANE: &str = "node-role.kubernetes.io/control-plane";
/// Legacy control-plane role label.
pub const LABEL_MASTER: &str = "node-role.kubernetes.io/master";
/// The original topology annotation (deprecated in 1.27).
pub const ANNOTATION_TOPOLOGY_AWARE_HINTS: &str = "service.kubernetes.io/topology-aware-hints";
/// The topology annotation added in 1.27.
pub const ANNOTATION_TOPOLOGY_MODE: &str = "service.kubernetes.io/topology-mode";
/// EndpointSlice label naming the owning Service.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// EndpointSlice label naming the controller that manages it.
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// The `managed-by` value of the upstream EndpointSlice controller.
pub const MANAGED_BY_CONTROLLER: &str = "endpointslice-controller.k8s.io";

/// Everything the model needs to know about a cluster at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterState {
    /// Nodes, in input order.
    pub nodes: Vec<Node>,
    /// Services, in input order.
    pub services: Vec<Service>,
    /// EndpointSlices, in input order.
    pub slices: Vec<EndpointSlice>,
}

/// Kubernetes version and gates for a model evaluation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    /// The feature gates (which also carry the version).
    pub gates: FeatureGates,
    /// kube-controller-manager `--max-endpoints-per-slice` (default 100).
    pub max_endpoints_per_slice: usize,
}

impl Environment {
    /// Upstream defaults for `version`.
    pub fn new(version: KubeVersion) -> Self {
        Environment {
            gates: FeatureGates::defaults(version),
            max_endpoints_per_slice: 100,
        }
    }

    /// The Kubernetes version.
    pub fn version(&self) -> KubeVersion {
        self.gates.version()
    }
}

/// A node.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `status.allocatable.cpu` in millicores; `None` when absent.
    pub allocatable_cpu_millis: Option<u64>,
    /// Whether the `Ready` condition has status `True` (no condition = not ready).
    pub ready: bool,
    /// `status.nodeInfo.kubeletVersion`, parsed; `None` when absent or not 1.x.
    pub kubelet_version: Option<KubeVersion>,
}

impl Node {
    /// The zone label, when present and non-empty.
    pub fn zone(&self) -> Option<&str> {
        self.label(LABEL_ZONE)
    }

    /// The region label, when present and non-empty.
    pub fn region(&self) -> Option<&str> {
        self.label(LABEL_REGION)
    }

    /// A label's value when present and non-empty.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Whether the node carries a control-plane role label (any value, even empty).
    pub fn is_control_plane(&self) -> bool {
        self.labels.contains_key(LABEL_CONTROL_PLANE) || self.labels.contains_key(LABEL_MASTER)
    }
}

/// `spec.type` of a Service.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum ServiceType {
    /// `ClusterIP` (the default).
    #[default]
    ClusterIp,
    /// `NodePort`.
    NodePort,
    /// `LoadBalancer`.
    LoadBalancer,
    /// `ExternalName` (no endpoints, no proxying).
    ExternalName,
}

/// Whether `address` is an IPv6 address (parsed, not guessed from its text).
pub fn is_ipv6(address: &str) -> bool {
    address
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_ipv6())
}

/// kube-proxy's endpoint string: `IP:port`, or `[IP]:port` for IPv6 (Go `net.JoinHostPort`).
/// The address keeps its text (kube-proxy sorts these strings as they are written).
pub fn join_host_port(ip: &str, port: u16) -> String {
    if is_ipv6(ip) {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// `spec.trafficDistribution`: the values upstream knows, anything else verbatim.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrafficDistribution {
    /// `PreferClose` (1.30+; an alias of PreferSameZone from 1.35).
    PreferClose,
    /// `PreferSameZone` (1.33+).
    PreferSameZone,
    /// `PreferSameNode` (1.33+).
    PreferSameNode,
    /// A value no version acts on, verbatim (the API server rejects it on admission).
    Other(String),
}

impl TrafficDistribution {
    /// The values upstream knows.
    pub const KNOWN: [TrafficDistribution; 3] = [
        TrafficDistribution::PreferClose,
        TrafficDistribution::PreferSameZone,
        TrafficDistribution::PreferSameNode,
    ];

    /// The API spelling.
    pub fn as_str(&self) -> &str {
        match self {
            TrafficDistribution::PreferClose => "PreferClose",
            TrafficDistribution::PreferSameZone => "PreferSameZone",
            TrafficDistribution::PreferSameNode => "PreferSameNode",
            TrafficDistribution::Other(value) => value,
        }
    }

    /// `PreferSameZone` or `PreferSameNode`: the values of the PreferSameTrafficDistribution
    /// feature.
    pub fn is_prefer_same(&self) -> bool {
        matches!(
            self,
            TrafficDistribution::PreferSameZone | TrafficDistribution::PreferSameNode
        )
    }
}

impl From<&str> for TrafficDistribution {
    fn from(value: &str) -> Self {
        TrafficDistribution::KNOWN
            .into_iter()
            .find(|known| known.as_str() == value)
            .unwrap_or_else(|| TrafficDistribution::Other(value.to_string()))
    }
}

impl From<String> for TrafficDistribution {
    fn from(value: String) -> Self {
        TrafficDistribution::from(value.as_str())
    }
}

impl std::fmt::Display for TrafficDistribution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `internalTrafficPolicy` / `externalTrafficPolicy`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum TrafficPolicy {
    /// `Cluster` (the default).
    #[default]
    Cluster,
    /// `Local`.
    Local,
}

/// One port of a Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    /// `name` (empty when unnamed).
    pub name: String,
    /// `port`.
    pub port: u16,
    /// `protocol` (`TCP` when unset).
    pub protocol: String,
    /// `nodePort`, 0 when none.
    pub node_port: u16,
}

/// A Service.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `spec.selector`; `None` when the Service has no selector (its slices are hand-written).
    pub selector: Option<BTreeMap<String, String>>,
    /// `spec.type`.
    pub service_type: ServiceType,
    /// `spec.clusterIP`; `"None"` for a headless Service.
    pub cluster_ip: Option<String>,
    /// `spec.ports`.
    pub ports: Vec<ServicePort>,
    /// `spec.internalTrafficPolicy`.
    pub internal_traffic_policy: TrafficPolicy,
    /// `spec.externalTrafficPolicy`.
    pub external_traffic_policy: TrafficPolicy,
    /// `spec.trafficDistribution`.
    pub traffic_distribution: Option<TrafficDistribution>,
    /// `spec.topologyKeys` (1.17–1.21).
    pub topology_keys: Vec<String>,
    /// `spec.publishNotReadyAddresses`.
    pub publish_not_ready_addresses: bool,
    /// `spec.externalIPs`.
    pub external_ips: Vec<String>,
    /// `status.loadBalancer.ingress[].ip`.
    pub load_balancer_ips: Vec<String>,
}

impl Service {
    /// A ClusterIP Service with no selector, ports, annotations or policies set; fill in the
    /// rest with struct update syntax.
    pub fn new(namespace: &str, name: &str) -> Self {
        Service {
            namespace: namespace.to_string(),
            name: name.to_string(),
            annotations: BTreeMap::new(),
            selector: None,
            service_type: ServiceType::ClusterIp,
            cluster_ip: None,
            ports: Vec::new(),
            internal_traffic_policy: TrafficPolicy::Cluster,
            external_traffic_policy: TrafficPolicy::Cluster,
            traffic_distribution: None,
            topology_keys: Vec::new(),
            publish_not_ready_addresses: false,
            external_ips: Vec::new(),
            load_balancer_ips: Vec::new(),
        }
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Whether the Service is headless (`clusterIP: None`).
    pub fn is_headless(&self) -> bool {
        self.cluster_ip.as_deref() == Some("None")
    }

    /// Whether kube-proxy programs anything for this Service.
    pub fn is_proxied(&self) -> bool {
        !self.is_headless() && self.service_type != ServiceType::ExternalName
    }

    /// kube-proxy's `ExternallyAccessible` for one port: a node port, LB ingress IPs or external IPs.
    pub fn externally_accessible(&self, port: &ServicePort) -> bool {
        port.node_port != 0 || !self.load_balancer_ips.is_empty() || !self.external_ips.is_empty()
    }
}

/// `addressType` of an EndpointSlice.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum AddressType {
    /// `IPv4`.
    #[default]
    IPv4,
    /// `IPv6`.
    IPv6,
    /// `FQDN` (ignored by kube-proxy).
    Fqdn,
}

impl AddressType {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressType::IPv4 => "IPv4",
            AddressType::IPv6 => "IPv6",
            AddressType::Fqdn => "FQDN",
        }
    }
}

/// One port of an EndpointSlice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointPort {
    /// `name`; `None` when unset (kube-proxy skips such ports).
    pub name: Option<String>,
    /// `port`; `None` when unset (kube-proxy skips such ports).
    pub port: Option<u16>,
    /// `protocol` (`TCP` when unset).
    pub protocol: String,
}

/// `hints` of an endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Hints {
    /// `forZones[].name`.
    pub for_zones: Vec<String>,
    /// `forNodes[].name` (1.33+).
    pub for_nodes: Vec<String>,
}

/// One endpoint of an EndpointSlice.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Endpoint {
    /// `addresses` (kube-proxy uses only the first).
    pub addresses: Vec<String>,
    /// `conditions.ready`; `None` when unset.
    pub ready: Option<bool>,
    /// `conditions.serving`; `None` when unset.
    pub serving: Option<bool>,
    /// `conditions.terminating`; `None` when unset.
    pub terminating: Option<bool>,
    /// `nodeName`.
    pub node_name: Option<String>,
    /// `zone`.
    pub zone: Option<String>,
    /// `hints`; `None` when the endpoint has no hints at all.
    pub hints: Option<Hints>,
    /// `deprecatedTopology` (v1) / `topology` (v1beta1), used by `topologyKeys`.
    pub topology: BTreeMap<String, String>,
    /// `targetRef.name` when the target is a Pod.
    pub pod: Option<String>,
}

impl Endpoint {
    /// Readiness as the EndpointSlice controller reads it: unset means not ready.
    pub fn controller_ready(&self) -> bool {
        self.ready == Some(true)
    }

    /// Readiness as kube-proxy reads it: unset means ready.
    pub fn proxy_ready(&self) -> bool {
        self.ready != Some(false)
    }

    /// `serving` as kube-proxy reads it: unset means serving.
    pub fn proxy_serving(&self) -> bool {
        self.serving != Some(false)
    }

    /// `terminating` as kube-proxy reads it: unset means not terminating.
    pub fn proxy_terminating(&self) -> bool {
        self.terminating == Some(true)
    }

    /// The zone, when present and non-empty.
    pub fn zone(&self) -> Option<&str> {
        self.zone.as_deref().filter(|z| !z.is_empty())
    }
}

/// An EndpointSlice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointSlice {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// The `kubernetes.io/service-name` label; `None` when absent.
    pub service_name: Option<String>,
    /// The `endpointslice.kubernetes.io/managed-by` label; `None` when absent.
    pub managed_by: Option<String>,
    /// `addressType`.
    pub address_type: AddressType,
    /// `ports`.
    pub ports: Vec<EndpointPort>,
    /// `endpoints`.
    pub endpoints: Vec<Endpoint>,
}

impl EndpointSlice {
    /// Whether the upstream EndpointSlice controller manages this slice.
    pub fn is_controller_managed(&self) -> bool {
        self.managed_by.as_deref() == Some(MANAGED_BY_CONTROLLER)
    }
}

impl ClusterState {
    /// An empty state.
    pub fn empty() -> Self {
        ClusterState {
            nodes: Vec::new(),
            services: Vec::new(),
            slices: Vec::new(),
        }
    }

    /// The node with this name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The slices that belong to `service` (same namespace, `kubernetes.io/service-name` label).
    pub fn slices_of<'a>(
        &'a self,
        service: &'a Service,
    ) -> impl Iterator<Item = &'a EndpointSlice> {
        self.slices.iter().filter(move |s| {
            s.namespace == service.namespace && s.service_name.as_deref() == Some(&service.name)
        })
    }

    /// The highest kubelet minor among the nodes.
    pub fn kubelet_version(&self) -> Option<KubeVersion> {
        self.nodes.iter().filter_map(|n| n.kubelet_version).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_distribution_keeps_unknown_values_verbatim() {
        for known in TrafficDistribution::KNOWN {
            assert_eq!(TrafficDistribution::from(known.as_str()), known);
        }
        let other = TrafficDistribution::from("preferclose");
        assert_eq!(other, TrafficDistribution::Other("preferclose".into()));
        assert_eq!(other.to_string(), "preferclose");
        assert!(TrafficDistribution::PreferSameNode.is_prefer_same());
        assert!(!TrafficDistribution::PreferClose.is_prefer_same());
    }
}
