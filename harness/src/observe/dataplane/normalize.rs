//! Normalization: routes named by what they mean in the cluster, not by volatile addresses.
//!
//! - a frontend becomes `namespace/name:port/proto` (the Service port number) when it matches a
//!   Service's ClusterIP, nodePort, externalIPs or load-balancer IPs, and its kind is taken from
//!   that match; otherwise it stays `ip:port/proto` (`*:port/proto` for a NodePort);
//! - an endpoint becomes its [identity](crate::observe::identity) (its node, `node#k` when a
//!   node has several); unknown addresses stay `ip:port`;
//! - chain names, counters and comments are already gone (the parsers resolve chains to what
//!   they point to); probabilities are rounded to 6 decimals.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::Serialize;

use super::routes::{FrontendKind, FrontendRoute, NodeRoutes, Outcome, Share};
use crate::model::state::{ClusterState, Service, ServicePort, TrafficPolicy};
use crate::observe::identity::{EndpointIdentities, ServicePortKey};

/// An endpoint by name with its share of new connections.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NamedShare {
    /// Identity (`node`, `node#2`) or `ip:port` when unknown.
    pub endpoint: String,
    /// Share of new connections on this path, rounded to 6 decimals.
    pub probability: f64,
}

/// One frontend after normalization (the JSON `frontends[]` entry).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NormalizedFrontend {
    /// `ns/name:port/proto`, or `ip:port/proto` / `*:port/proto` when no Service matches.
    pub frontend: String,
    /// What kind of address it is.
    pub kind: FrontendKind,
    /// Cluster path, sorted by endpoint; `null` when there is none.
    pub cluster: Option<Vec<NamedShare>>,
    /// Local path, sorted by endpoint; `null` when there is none.
    pub local: Option<Vec<NamedShare>>,
    /// What happens on the main path.
    pub outcome: Outcome,
}

/// A node's routes after normalization, sorted by frontend then kind, duplicates merged.
#[derive(Clone, Debug, PartialEq, Default, Serialize)]
pub struct NormalizedRoutes {
    /// The frontends.
    pub frontends: Vec<NormalizedFrontend>,
}

type PortRef<'a> = (&'a Service, &'a ServicePort);

/// Where each Service port can be reached, for lookups in O(1) per frontend.
struct FrontendIndex<'a> {
    /// (IP, port, lower-case protocol) → Service port and kind.
    by_address: HashMap<(IpAddr, u16, String), (PortRef<'a>, FrontendKind)>,
    /// (nodePort, lower-case protocol) → Service port.
    by_node_port: HashMap<(u16, String), PortRef<'a>>,
}

impl<'a> FrontendIndex<'a> {
    fn new(state: &'a ClusterState) -> Self {
        let mut by_address = HashMap::new();
        let mut by_node_port = HashMap::new();
        let ports = || {
            state
                .services
                .iter()
                .filter(|s| s.is_proxied())
                .flat_map(|s| s.ports.iter().map(move |p| (s, p)))
        };
        // First match wins: ClusterIPs, then load-balancer IPs, then external IPs.
        for kind in [
            FrontendKind::ClusterIp,
            FrontendKind::LoadBalancer,
            FrontendKind::ExternalIp,
        ] {
            for (s, p) in ports() {
                let proto = p.protocol.to_ascii_lowercase();
                let ips: Vec<&String> = match kind {
                    FrontendKind::ClusterIp => s.cluster_ip.iter().collect(),
                    FrontendKind::LoadBalancer => s.load_balancer_ips.iter().collect(),
                    _ => s.external_ips.iter().collect(),
                };
                for ip in ips.into_iter().filter_map(|ip| ip.parse::<IpAddr>().ok()) {
                    by_address
                        .entry((ip, p.port, proto.clone()))
                        .or_insert(((s, p), kind));
                }
            }
        }
        for (s, p) in ports() {
            if p.node_port != 0 {
                by_node_port
                    .entry((p.node_port, p.protocol.to_ascii_lowercase()))
                    .or_insert((s, p));
            }
        }
        FrontendIndex {
            by_address,
            by_node_port,
        }
    }

    /// The Service port a frontend belongs to, and the frontend's kind.
    fn find(&self, route: &FrontendRoute) -> Option<(&'a Service, &'a ServicePort, FrontendKind)> {
        let f = &route.frontend;
        let node_port = || {
            self.by_node_port
                .get(&(f.port, f.protocol.clone()))
                .map(|(s, p)| (*s, *p, FrontendKind::NodePort))
        };
        match &f.ip {
            None => node_port(),
            // IPVS: a node address serving a NodePort.
            Some(ip) => self
                .by_address
                .get(&(*ip, f.port, f.protocol.clone()))
                .map(|((s, p), k)| (*s, *p, *k))
                .or_else(node_port),
        }
    }
}

fn round6(p: f64) -> f64 {
    (p * 1e6).round() / 1e6
}

fn name_shares(
    shares: Option<&Vec<Share>>,
    ids: &EndpointIdentities,
    key: Option<&ServicePortKey>,
) -> Option<Vec<NamedShare>> {
    shares.map(|list| {
        let mut named: Vec<NamedShare> = list
            .iter()
            .map(|s| NamedShare {
                endpoint: ids.name_addr(key, s.backend.ip, s.backend.port),
                probability: round6(s.probability),
            })
            .collect();
        named.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        named
    })
}

/// Names a node's routes against `state` (or only canonicalizes them when `state` is `None`).
///
/// Builds the lookups for `state` on every call; to normalize many nodes' routes against one
/// state, build a [`Normalizer`] once.
pub fn normalize(routes: &NodeRoutes, state: Option<&ClusterState>) -> NormalizedRoutes {
    Normalizer::new(state).normalize(routes)
}

/// The lookups normalization needs for one cluster state (endpoint identities, Service
/// addresses), built once and shared by every node's routes.
pub struct Normalizer<'a> {
    ids: EndpointIdentities,
    index: Option<FrontendIndex<'a>>,
}

impl<'a> Normalizer<'a> {
    /// Indexes `state` (nothing to index when `None`: routes are only canonicalized).
    pub fn new(state: Option<&'a ClusterState>) -> Self {
        Normalizer {
            ids: state
                .map(EndpointIdentities::from_state)
                .unwrap_or_default(),
            index: state.map(FrontendIndex::new),
        }
    }

    /// Names one node's routes.
    pub fn normalize(&self, routes: &NodeRoutes) -> NormalizedRoutes {
        normalize_with(routes, &self.ids, self.index.as_ref())
    }
}

fn normalize_with(
    routes: &NodeRoutes,
    ids: &EndpointIdentities,
    index: Option<&FrontendIndex<'_>>,
) -> NormalizedRoutes {
    // Frontends are named independently: on two threads when there are many.
    let mut out: Vec<NormalizedFrontend> =
        super::map_in_halves(&routes.frontends, super::HALVES_FROM, |r| {
            let matched = index.and_then(|ix| ix.find(r));
            let (name, kind, key) = match matched {
                Some((s, p, kind)) => (
                    format!(
                        "{}/{}:{}/{}",
                        s.namespace,
                        s.name,
                        p.port,
                        p.protocol.to_ascii_lowercase()
                    ),
                    kind,
                    Some(ServicePortKey::new(s, p)),
                ),
                None => (r.frontend.text(), r.frontend.kind, None),
            };
            let (mut cluster, mut local) = (r.cluster.as_ref(), r.local.as_ref());
            // IPVS has one real-server list per virtual server: for a Local policy it is the
            // local set.
            if let (Some((s, _, kind)), None) = (matched, local) {
                let policy = if kind == FrontendKind::ClusterIp {
                    s.internal_traffic_policy
                } else {
                    s.external_traffic_policy
                };
                if policy == TrafficPolicy::Local {
                    local = cluster.take();
                }
            }
            NormalizedFrontend {
                frontend: name,
                kind,
                cluster: name_shares(cluster, ids, key.as_ref()),
                local: name_shares(local, ids, key.as_ref()),
                outcome: r.outcome,
            }
        });
    // The Debug tie-break makes the order total: an unstable sort gives the same list.
    out.sort_unstable_by(|a, b| {
        (a.frontend.as_str(), a.kind)
            .cmp(&(b.frontend.as_str(), b.kind))
            .then_with(|| format!("{a:?}").cmp(&format!("{b:?}")))
    });
    out.dedup();
    NormalizedRoutes { frontends: out }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::dataplane::test_support::fixture;
    use crate::observe::dataplane::{
        parse_iptables, parse_ipvs, parse_nftables, render_json, ProxyMode,
    };

    fn state() -> ClusterState {
        crate::input::load_state_str(&fixture("state/valid-overall.yaml"), "valid-overall.yaml")
            .unwrap()
            .state
    }

    const OVERALL: &str = "\
ns1/svc1:80/tcp  cluster-ip  route  cluster: node-a=1  local: -
ns2/svc2:80/tcp  cluster-ip  route  cluster: node-b=1  local: -
ns2/svc2:80/tcp  node-port  drop  cluster: node-b=1  local: (none)
ns2/svc2:80/tcp  external-ip  drop  cluster: node-b=1  local: (none)
ns2/svc2:80/tcp  load-balancer  drop  cluster: node-b=1  local: (none)
ns3/svc3:80/tcp  cluster-ip  route  cluster: node-a=1  local: -
ns3/svc3:80/tcp  node-port  route  cluster: node-a=1  local: -
ns4/svc4:80/tcp  cluster-ip  route  cluster: node-b#1=0.5 node-b#2=0.5  local: -
ns4/svc4:80/tcp  external-ip  route  cluster: node-b#1=0.5 node-b#2=0.5  local: -
ns5/svc5:80/tcp  cluster-ip  route  cluster: node-a=1  local: -
ns5/svc5:80/tcp  node-port  route  cluster: node-a=1  local: -
ns5/svc5:80/tcp  load-balancer  route  cluster: node-a=1  local: -
ns6/svc6:80/tcp  cluster-ip  reject  cluster: (none)  local: -
";

    fn text(routes: &NormalizedRoutes) -> String {
        super::super::render_compact(routes)
    }

    #[test]
    fn iptables_and_nftables_normalize_to_the_same_routes() {
        let st = state();
        let ipt = normalize(
            &parse_iptables(&fixture("iptables/valid-overall.iptables")).unwrap(),
            Some(&st),
        );
        let nft = normalize(
            &parse_nftables(&fixture("nftables/valid-overall-listed.nft")).unwrap(),
            Some(&st),
        );
        assert_eq!(text(&ipt), OVERALL);
        assert_eq!(ipt, nft);
    }

    #[test]
    fn unknown_addresses_keep_ip_and_port() {
        let routes = parse_iptables(&fixture("iptables/valid-kind-nginx.iptables")).unwrap();
        let n = normalize(&routes, Some(&state()));
        assert_eq!(n.frontends[0].frontend, "*:30606/tcp");
        assert_eq!(
            n.frontends[0].cluster.as_ref().unwrap()[0].endpoint,
            "10.244.0.20:80"
        );
    }

    #[test]
    fn ipvs_local_policy_and_node_addresses() {
        let st = state();
        // svc2 (eTP=Local) as IPVS shows it: a VS on the node address for the NodePort and one
        // for the LB IP, each listing the local endpoints; svc4's ClusterIP VS lists both.
        let dump = "\
TCP  192.168.0.2:3001 rr
  -> 10.180.0.2:80                Masq    1      0          0
TCP  1.2.3.4:80 rr
  -> 10.180.0.2:80                Masq    1      0          0
TCP  172.30.0.44:80 rr
  -> 10.180.0.4:80                Masq    1      0          0
  -> 10.180.0.5:80                Masq    1      0          0
";
        let n = normalize(&parse_ipvs(dump).unwrap(), Some(&st));
        assert_eq!(
            text(&n),
            "ns2/svc2:80/tcp  node-port  route  cluster: -  local: node-b=1\n\
             ns2/svc2:80/tcp  load-balancer  route  cluster: -  local: node-b=1\n\
             ns4/svc4:80/tcp  cluster-ip  route  cluster: node-b#1=0.5 node-b#2=0.5  local: -\n"
                .replace("\n             ", "\n")
        );
    }

    #[test]
    fn json_contract() {
        let dump =
            "TCP  172.30.0.44:80 rr\n  -> 10.180.0.4:80 Masq 1 0 0\n  -> 10.9.9.9:80 Masq 3 0 0\n";
        let n = normalize(&parse_ipvs(dump).unwrap(), Some(&state()));
        let json = render_json(ProxyMode::Ipvs, Some("node-a"), &n);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "mode": "ipvs",
                "node": "node-a",
                "frontends": [{
                    "frontend": "ns4/svc4:80/tcp",
                    "kind": "cluster-ip",
                    "cluster": [
                        {"endpoint": "10.9.9.9:80", "probability": 0.5},
                        {"endpoint": "node-b#1", "probability": 0.5}
                    ],
                    "local": null,
                    "outcome": "route"
                }]
            })
        );
    }

    #[test]
    fn every_json_list_sums_to_one() {
        let st = state();
        for (mode, path) in [
            (ProxyMode::Iptables, "iptables/valid-overall.iptables"),
            (ProxyMode::Iptables, "iptables/valid-xlb-pre-1.24.iptables"),
            (
                ProxyMode::Iptables,
                "iptables/valid-etp-local-terminating.iptables",
            ),
            (ProxyMode::Nftables, "nftables/valid-dnat-map.nft"),
            (ProxyMode::Ipvs, "ipvs/valid-nodeport-draining.ipvsadm"),
        ] {
            let routes = crate::observe::dataplane::parse(mode, &fixture(path)).unwrap();
            let json = render_json(mode, None, &normalize(&routes, Some(&st)));
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            for f in v["frontends"].as_array().unwrap() {
                for path in ["cluster", "local"] {
                    if let Some(list) = f[path].as_array().filter(|l| !l.is_empty()) {
                        let sum: f64 = list
                            .iter()
                            .map(|e| e["probability"].as_f64().unwrap())
                            .sum();
                        assert!((sum - 1.0).abs() < 1e-5, "{path} of {f} sums to {sum}");
                    }
                }
            }
        }
    }
}
