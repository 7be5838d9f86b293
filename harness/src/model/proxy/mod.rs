//! The kube-proxy side: which endpoints each node programs for a Service port, per version
//! family (semantics.md §1, §2.2, §7–§9). [`ingest`] turns slices into the proxy's endpoint
//! list; `current` is `CategorizeEndpoints` (1.24+), `legacy` the `FilterEndpoints` of
//! 1.21–1.23 with `topologyKeys`.

mod current;
mod ingest;
mod legacy;

use std::collections::BTreeMap;

use crate::model::state::{
    join_host_port, Service, ServicePort, TrafficPolicy, ANNOTATION_TOPOLOGY_AWARE_HINTS,
    ANNOTATION_TOPOLOGY_MODE, LABEL_ZONE,
};
use crate::model::version::{FeatureGate, FeatureGates};

pub use ingest::ingest;
pub use legacy::{filter_endpoints_legacy, topology_keys_filter, LegacyFilter};

/// An endpoint as kube-proxy holds it after ingesting the slices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyEndpoint {
    /// `addresses[0]`.
    pub ip: String,
    /// The slice port number.
    pub port: u16,
    /// Ready (unset = ready).
    pub ready: bool,
    /// Serving (unset = serving).
    pub serving: bool,
    /// Terminating (unset = not terminating).
    pub terminating: bool,
    /// Whether the endpoint runs on the proxy's node.
    pub is_local: bool,
    /// The endpoint's `nodeName`.
    pub node_name: Option<String>,
    /// `hints.forZones` names (empty = no zone hints).
    pub zone_hints: Vec<String>,
    /// `hints.forNodes` names, read only with PreferSameTrafficDistribution (empty = none).
    pub node_hints: Vec<String>,
    /// Topology labels for `topologyKeys` (hostname, zone, region of the endpoint).
    pub topology: BTreeMap<String, String>,
}

impl ProxyEndpoint {
    /// kube-proxy's key: `IP:port`, `[IP]:port` for IPv6.
    pub fn key(&self) -> String {
        join_host_port(&self.ip, self.port)
    }
}

/// The Service as kube-proxy sees it for one port.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ProxyService {
    /// `internalTrafficPolicy: Local`.
    pub internal_local: bool,
    /// `externalTrafficPolicy: Local`.
    pub external_local: bool,
    /// A node port, LB ingress IPs or external IPs exist.
    pub externally_accessible: bool,
    /// The topology annotation value as kube-proxy reads it (`None` when unset).
    pub annotation: Option<String>,
    /// `spec.topologyKeys`.
    pub topology_keys: Vec<String>,
}

impl ProxyService {
    /// The view of `service` for `port` in the version of `gates`.
    pub fn of(service: &Service, port: &ServicePort, gates: &FeatureGates) -> Self {
        let minor = gates.version().minor;
        let annotation = service
            .annotations
            .get(ANNOTATION_TOPOLOGY_AWARE_HINTS)
            .or_else(|| {
                (minor >= 27)
                    .then(|| service.annotations.get(ANNOTATION_TOPOLOGY_MODE))
                    .flatten()
            })
            .cloned();
        let externally_accessible = service.externally_accessible(port);
        ProxyService {
            internal_local: service.internal_traffic_policy == TrafficPolicy::Local
                && gates.enabled(FeatureGate::ServiceInternalTrafficPolicy),
            external_local: service.external_traffic_policy == TrafficPolicy::Local
                && externally_accessible,
            externally_accessible,
            annotation,
            topology_keys: if minor <= 21 {
                service.topology_keys.clone()
            } else {
                Vec::new()
            },
        }
    }

    fn uses_cluster_endpoints(&self) -> bool {
        !self.internal_local || self.externally_accessible
    }

    fn uses_local_endpoints(&self) -> bool {
        self.internal_local || (self.external_local && self.externally_accessible)
    }
}

/// The node a proxy runs on.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ProxyNode {
    /// Node name.
    pub name: String,
    /// Node labels.
    pub labels: BTreeMap<String, String>,
}

impl ProxyNode {
    fn zone(&self) -> &str {
        self.labels
            .get(LABEL_ZONE)
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// Why a set of endpoints was chosen.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteBasis {
    /// Endpoints hinted for this node (PreferSameNode).
    NodeHints,
    /// Endpoints hinted for this node's zone.
    ZoneHints,
    /// Every ready endpoint (no topology).
    AllReady,
    /// No endpoint is ready: serving and terminating ones.
    ServingTerminating,
    /// The first matching `topologyKeys` entry.
    TopologyKey(String),
    /// The set is empty.
    None,
}

impl RouteBasis {
    /// The JSON spelling.
    pub fn as_str(&self) -> String {
        match self {
            RouteBasis::NodeHints => "node-hints".into(),
            RouteBasis::ZoneHints => "zone-hints".into(),
            RouteBasis::AllReady => "all-ready".into(),
            RouteBasis::ServingTerminating => "serving-terminating".into(),
            RouteBasis::TopologyKey(k) => format!("topology-key:{k}"),
            RouteBasis::None => "none".into(),
        }
    }
}

/// What one node's proxy programs for one Service port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Categorized {
    /// Endpoints for cluster traffic; `None` when the Service does not use them.
    pub cluster: Option<Vec<ProxyEndpoint>>,
    /// Endpoints for node-local traffic; `None` when the Service does not use them.
    pub local: Option<Vec<ProxyEndpoint>>,
    /// Every endpoint that gets rules (union of the two).
    pub all_reachable: Vec<ProxyEndpoint>,
    /// Whether the Service has usable endpoints anywhere (else it is rejected, not dropped).
    pub has_any: bool,
    /// Why the cluster set is what it is.
    pub cluster_basis: RouteBasis,
    /// Why the local set is what it is.
    pub local_basis: RouteBasis,
}

impl Categorized {
    /// The set traffic under a `Cluster` policy reaches: the cluster set or, for a Service
    /// whose proxy uses only node-local endpoints for all of its traffic (`cluster` is
    /// `None`: `internalTrafficPolicy: Local` before 1.24), the local set.
    pub fn cluster_path(&self) -> Option<&Vec<ProxyEndpoint>> {
        self.cluster.as_ref().or(self.local.as_ref())
    }
}

/// The code variant kube-proxy runs in a version.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum ProxyFamily {
    /// 1.21 `FilterEndpoints` with topologyKeys precedence.
    V1_21,
    /// 1.22 `FilterEndpoints`, hints ignore readiness.
    V1_22,
    /// 1.23 `FilterEndpoints`, readiness-aware hints.
    V1_23,
    /// 1.24–1.26 `CategorizeEndpoints`, annotation Auto/auto.
    V1_24,
    /// 1.27–1.29: any non-disabled annotation.
    V1_27,
    /// 1.30: ServiceTrafficDistribution alpha.
    V1_30,
    /// 1.31–1.32: annotation ignored.
    V1_31,
    /// 1.33+: `topologyModeFromHints`, node hints.
    V1_33,
}

impl ProxyFamily {
    /// The family of a version.
    pub fn of(gates: &FeatureGates) -> Self {
        match gates.version().minor {
            ..=21 => ProxyFamily::V1_21,
            22 => ProxyFamily::V1_22,
            23 => ProxyFamily::V1_23,
            24..=26 => ProxyFamily::V1_24,
            27..=29 => ProxyFamily::V1_27,
            30 => ProxyFamily::V1_30,
            31..=32 => ProxyFamily::V1_31,
            _ => ProxyFamily::V1_33,
        }
    }
}

/// `CategorizeEndpoints` for every version: the cluster and local endpoint sets of one node.
pub fn categorize(
    endpoints: &[ProxyEndpoint],
    service: &ProxyService,
    node: &ProxyNode,
    gates: &FeatureGates,
) -> Categorized {
    let family = ProxyFamily::of(gates);
    match family {
        ProxyFamily::V1_21 | ProxyFamily::V1_22 | ProxyFamily::V1_23 => {
            legacy::categorize_legacy(endpoints, service, node, gates)
        }
        _ => current::categorize_modern(endpoints, service, node, gates, family),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::state::{ClusterState, LABEL_HOSTNAME};
    use crate::model::version::KubeVersion;

    fn ep(ip: &str, ready: bool, local: bool, zones: &[&str]) -> ProxyEndpoint {
        ProxyEndpoint {
            ip: ip.into(),
            port: 80,
            ready,
            serving: ready,
            terminating: false,
            is_local: local,
            node_name: None,
            zone_hints: zones.iter().map(|z| z.to_string()).collect(),
            node_hints: Vec::new(),
            topology: BTreeMap::new(),
        }
    }

    fn node(zone: &str) -> ProxyNode {
        ProxyNode {
            name: "n".into(),
            labels: [(LABEL_ZONE.to_string(), zone.to_string())].into(),
        }
    }

    fn keys(set: &Option<Vec<ProxyEndpoint>>) -> Option<Vec<String>> {
        set.as_ref()
            .map(|s| s.iter().map(|e| e.ip.clone()).collect())
    }

    #[test]
    fn annotation_rules_per_family() {
        let eps = vec![ep("a", true, false, &["z1"]), ep("b", true, false, &["z2"])];
        let run = |minor: u32, annotation: Option<&str>| {
            let gates = FeatureGates::defaults(KubeVersion::new(minor));
            let svc = ProxyService {
                annotation: annotation.map(str::to_string),
                ..Default::default()
            };
            keys(&categorize(&eps, &svc, &node("z1"), &gates).cluster).unwrap()
        };
        assert_eq!(run(26, Some("Auto")), vec!["a"]);
        assert_eq!(run(26, Some("PreferZone")), vec!["a", "b"]);
        assert_eq!(run(27, Some("PreferZone")), vec!["a"]);
        assert_eq!(run(29, Some("Disabled")), vec!["a", "b"]);
        assert_eq!(run(30, Some("Auto")), vec!["a"]);
        assert_eq!(run(31, Some("Disabled")), vec!["a"]);
        assert_eq!(run(33, None), vec!["a"]);
        // 1.23: gate off by default.
        assert_eq!(run(23, Some("auto")), vec!["a", "b"]);
    }

    #[test]
    fn zone_without_hinted_endpoint_falls_back_to_all() {
        let eps = vec![ep("a", true, false, &["z1"]), ep("b", true, false, &["z1"])];
        let gates = FeatureGates::defaults(KubeVersion::new(33));
        let c = categorize(&eps, &ProxyService::default(), &node("z2"), &gates);
        assert_eq!(keys(&c.cluster).unwrap(), vec!["a", "b"]);
        assert_eq!(c.cluster_basis, RouteBasis::AllReady);
    }

    fn gates(minor: u32) -> FeatureGates {
        FeatureGates::defaults(KubeVersion::new(minor))
    }

    fn ips(v: &[ProxyEndpoint]) -> Vec<&str> {
        v.iter().map(|e| e.ip.as_str()).collect()
    }

    #[test]
    fn v1_21_topology_keys_take_precedence_over_hints() {
        let mut g = gates(21);
        g.set(FeatureGate::ServiceTopology, true).unwrap();
        g.set(FeatureGate::TopologyAwareHints, true).unwrap();
        let mut a = ep("a", true, true, &["z2"]);
        a.topology.insert(LABEL_HOSTNAME.into(), "n".into());
        let mut b = ep("b", true, false, &["z1"]);
        b.topology.insert(LABEL_HOSTNAME.into(), "m".into());
        let svc = ProxyService {
            annotation: Some("auto".into()),
            topology_keys: vec![LABEL_HOSTNAME.into(), "*".into()],
            ..Default::default()
        };
        let mut node = node("z1");
        node.labels.insert(LABEL_HOSTNAME.into(), "n".into());
        let c = categorize(&[a, b], &svc, &node, &g);
        assert_eq!(ips(c.cluster.as_ref().unwrap()), vec!["a"]);
        assert_eq!(
            c.cluster_basis,
            RouteBasis::TopologyKey(LABEL_HOSTNAME.into())
        );
    }

    #[test]
    fn v1_22_needs_hints_on_unready_endpoints_and_v1_23_does_not() {
        let eps = vec![ep("a", true, false, &["z1"]), ep("b", false, false, &[])];
        let svc = ProxyService {
            annotation: Some("Auto".into()),
            ..Default::default()
        };
        for (minor, expected) in [(22, RouteBasis::AllReady), (23, RouteBasis::ZoneHints)] {
            let mut g = gates(minor);
            g.set(FeatureGate::TopologyAwareHints, true).unwrap();
            let c = categorize(&eps, &svc, &node("z1"), &g);
            assert_eq!(c.cluster_basis, expected, "1.{minor}");
            // The proxier drops unready endpoints either way.
            assert_eq!(ips(c.cluster.as_ref().unwrap()), vec!["a"]);
        }
    }

    #[test]
    fn internal_traffic_policy_local_ignores_hints() {
        let eps = vec![ep("a", true, false, &["z1"]), ep("b", true, true, &["z2"])];
        let svc = ProxyService {
            internal_local: true,
            ..Default::default()
        };
        for minor in [22, 23, 26, 33, 37] {
            let c = categorize(&eps, &svc, &node("z1"), &gates(minor));
            assert_eq!(c.cluster, None, "1.{minor}");
            assert_eq!(ips(c.local.as_ref().unwrap()), vec!["b"], "1.{minor}");
        }
    }

    #[test]
    fn serving_terminating_fallback_follows_the_gate() {
        let mut t = ep("a", false, false, &[]);
        t.serving = true;
        t.terminating = true;
        let svc = ProxyService::default();
        let off = categorize(std::slice::from_ref(&t), &svc, &node("z1"), &gates(25));
        assert_eq!(off.cluster, Some(vec![]));
        assert!(!off.has_any);
        let on = categorize(std::slice::from_ref(&t), &svc, &node("z1"), &gates(26));
        assert_eq!(ips(on.cluster.as_ref().unwrap()), vec!["a"]);
        assert_eq!(on.cluster_basis, RouteBasis::ServingTerminating);
    }

    #[test]
    fn node_hints_need_the_gate() {
        let mut a = ep("a", true, false, &["z1"]);
        a.node_hints = vec!["n".into()];
        let mut b = ep("b", true, false, &["z1"]);
        b.node_hints = vec!["m".into()];
        let eps = vec![a, b];
        let svc = ProxyService::default();
        let on = categorize(&eps, &svc, &node("z1"), &gates(34));
        assert_eq!(on.cluster_basis, RouteBasis::NodeHints);
        assert_eq!(ips(on.cluster.as_ref().unwrap()), vec!["a"]);
        let off = categorize(&eps, &svc, &node("z1"), &gates(33));
        assert_eq!(off.cluster_basis, RouteBasis::ZoneHints);
        assert_eq!(ips(off.cluster.as_ref().unwrap()), vec!["a", "b"]);
    }

    #[test]
    fn ingestion_merges_by_ip_port_and_sorts_as_strings() {
        use crate::model::state::{AddressType, Endpoint, EndpointPort, EndpointSlice};
        let service = Service {
            cluster_ip: Some("10.96.0.1".into()),
            ports: vec![ServicePort {
                name: "p".into(),
                port: 80,
                protocol: "TCP".into(),
                node_port: 0,
            }],
            ..Service::new("ns", "s")
        };
        let endpoint = |ip: &str, terminating: Option<bool>| Endpoint {
            addresses: vec![ip.into()],
            terminating,
            ..Endpoint::default()
        };
        let slice = |name: &str, eps: Vec<Endpoint>| EndpointSlice {
            namespace: "ns".into(),
            name: name.into(),
            service_name: Some("s".into()),
            managed_by: Some("other".into()),
            address_type: AddressType::IPv4,
            ports: vec![EndpointPort {
                name: Some("p".into()),
                port: Some(8080),
                protocol: "TCP".into(),
            }],
            endpoints: eps,
        };
        let state = ClusterState {
            nodes: Vec::new(),
            services: vec![service.clone()],
            slices: vec![
                slice(
                    "one",
                    vec![
                        endpoint("10.0.1.2", Some(true)),
                        endpoint("10.0.1.10", None),
                    ],
                ),
                slice(
                    "two",
                    vec![endpoint("10.0.1.2", Some(false)), Endpoint::default()],
                ),
            ],
        };
        let got = ingest(&state, &service, &service.ports[0], "n", &gates(33));
        let keys: Vec<String> = got.iter().map(ProxyEndpoint::key).collect();
        assert_eq!(keys, vec!["10.0.1.10:8080", "10.0.1.2:8080"]);
        assert!(!got[1].terminating, "the non-terminating copy wins");
        assert!(got[0].ready, "unset ready reads as ready");
    }
}
