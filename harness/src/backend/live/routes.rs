//! From a node's parsed rule dump to the [`NodeRoutes`] an
//! [`Observation`](crate::backend::Observation) carries: the endpoint addresses internal
//! (ClusterIP) traffic from that node reaches, and those external (NodePort) traffic arriving
//! there reaches. Pure, so it is tested on recorded dumps.

use crate::backend::NodeRoutes;
use crate::model::proxy::ProxyService;
use crate::model::{FeatureGates, Service};
use crate::observe::dataplane::{FrontendKind, FrontendRoute, NodeRoutes as ParsedRoutes, Share};

fn addresses(shares: Option<&Vec<Share>>) -> Vec<String> {
    let mut v: Vec<String> = shares
        .into_iter()
        .flatten()
        .map(|s| s.backend.ip.to_string())
        .collect();
    v.sort();
    v
}

/// The endpoints of `route` on the path the traffic takes: the local path for a `Local`
/// policy (IPVS has a single set, reported as local or cluster), else the cluster path.
fn path(route: Option<&FrontendRoute>, local: bool) -> Vec<String> {
    let Some(route) = route else {
        return Vec::new();
    };
    if local {
        addresses(route.local.as_ref().or(route.cluster.as_ref()))
    } else {
        addresses(route.cluster.as_ref())
    }
}

/// What `parsed` (one node's dump) does with `service`'s first port, in the version of
/// `gates`: internal = the ClusterIP frontend's path, external = the NodePort frontend's path
/// (`None` when the Service is not externally accessible). A frontend with no rules routes
/// nowhere (empty list).
pub fn service_routes(
    service: &Service,
    gates: &FeatureGates,
    parsed: &ParsedRoutes,
) -> NodeRoutes {
    let Some(port) = service.ports.first() else {
        return NodeRoutes::default();
    };
    if !service.is_proxied() {
        return NodeRoutes::default();
    }
    let view = ProxyService::of(service, port, gates);
    let protocol = if port.protocol.is_empty() {
        "tcp".to_string()
    } else {
        port.protocol.to_ascii_lowercase()
    };
    let cluster_ip = service
        .cluster_ip
        .as_deref()
        .and_then(|ip| ip.parse::<std::net::IpAddr>().ok());
    let cluster = parsed.frontends.iter().find(|f| {
        f.frontend.ip.is_some()
            && f.frontend.ip == cluster_ip
            && f.frontend.port == port.port
            && f.frontend.protocol == protocol
    });
    // iptables and nftables write one NodePort rule for every local address (no IP); IPVS
    // has one virtual server per node address, which the dump cannot tell from a ClusterIP.
    let node_port = parsed.frontends.iter().find(|f| {
        port.node_port != 0
            && f.frontend.port == port.node_port
            && f.frontend.protocol == protocol
            && (f.frontend.ip.is_none()
                || f.frontend.kind == FrontendKind::NodePort
                || f.frontend.ip != cluster_ip)
    });
    NodeRoutes {
        internal: path(cluster, view.internal_local),
        external: view
            .externally_accessible
            .then(|| path(node_port, view.external_local)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::load_state_str;
    use crate::model::KubeVersion;
    use crate::observe::dataplane::{parse, ProxyMode};

    fn fixture(path: &str) -> String {
        let full = format!("{}/../fixtures/rules/{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
    }

    #[test]
    fn recorded_iptables_dump_gives_cluster_and_node_port_paths() {
        let state_text = fixture("state/valid-overall.yaml");
        let state = load_state_str(&state_text, "valid-overall.yaml")
            .expect("state")
            .state;
        let parsed = parse(
            ProxyMode::Iptables,
            &fixture("iptables/valid-overall.iptables"),
        )
        .expect("dump");
        let gates = FeatureGates::defaults(KubeVersion::new(31));
        let mut seen = 0;
        for service in &state.services {
            let routes = service_routes(service, &gates, &parsed);
            let port = service.ports.first().expect("port");
            let view = ProxyService::of(service, port, &gates);
            assert_eq!(routes.external.is_some(), view.externally_accessible);
            // Every address reached is an endpoint address of the state.
            let known: Vec<&String> = state
                .slices
                .iter()
                .flat_map(|s| s.endpoints.iter())
                .flat_map(|e| e.addresses.iter())
                .collect();
            for ip in routes
                .internal
                .iter()
                .chain(routes.external.iter().flatten())
            {
                assert!(
                    known.contains(&ip),
                    "{}: {ip} not an endpoint",
                    service.name
                );
            }
            let mut sorted = routes.internal.clone();
            sorted.sort();
            assert_eq!(sorted, routes.internal);
            seen += usize::from(!routes.internal.is_empty());
        }
        assert!(seen > 0, "no service routed anywhere");
    }

    /// The upstream "overall" fixtures were taken on node-a: the routes read from them are the
    /// model's routes for node-a, for every Service, in every dump format.
    #[test]
    fn recorded_dumps_agree_with_the_model_on_node_a() {
        use crate::model::analysis::node_routes;
        use crate::model::proxy::ProxyEndpoint;
        let state = load_state_str(&fixture("state/valid-overall.yaml"), "valid-overall.yaml")
            .expect("state")
            .state;
        let gates = FeatureGates::defaults(KubeVersion::new(31));
        for (mode, file) in [
            (ProxyMode::Iptables, "iptables/valid-overall.iptables"),
            (ProxyMode::Nftables, "nftables/valid-overall.nft"),
            (ProxyMode::Nftables, "nftables/valid-overall-listed.nft"),
        ] {
            let parsed = parse(mode, &fixture(file)).expect("dump");
            let mut checked = 0;
            for service in state.services.iter().filter(|s| s.is_proxied()) {
                let Some(port) = service.ports.first() else {
                    continue;
                };
                let view = ProxyService::of(service, port, &gates);
                let model = node_routes(&state, service, port, "node-a", &gates);
                let ips = |set: &Option<Vec<ProxyEndpoint>>| {
                    let mut v: Vec<String> = set.iter().flatten().map(|e| e.ip.clone()).collect();
                    v.sort();
                    v
                };
                let internal = if view.internal_local {
                    ips(&model.local)
                } else {
                    ips(&model.cluster)
                };
                let external = (view.externally_accessible && port.node_port != 0).then(|| {
                    if view.external_local {
                        ips(&model.local)
                    } else {
                        ips(&model.cluster_path().cloned())
                    }
                });
                let got = service_routes(service, &gates, &parsed);
                assert_eq!(got.internal, internal, "{file}: {} internal", service.name);
                if let Some(external) = external {
                    assert_eq!(
                        got.external,
                        Some(external),
                        "{file}: {} external",
                        service.name
                    );
                }
                checked += 1;
            }
            assert!(checked >= 3, "{file}: only {checked} services checked");
        }
    }

    #[test]
    fn a_service_without_rules_routes_nowhere() {
        let state_text = fixture("state/valid-overall.yaml");
        let state = load_state_str(&state_text, "valid-overall.yaml")
            .expect("state")
            .state;
        let gates = FeatureGates::defaults(KubeVersion::new(31));
        let Some(service) = state.services.iter().find(|s| s.is_proxied()) else {
            panic!("no proxied service in the fixture");
        };
        let routes = service_routes(service, &gates, &ParsedRoutes::default());
        assert!(routes.internal.is_empty());
        if let Some(external) = routes.external {
            assert!(external.is_empty());
        }
    }
}
