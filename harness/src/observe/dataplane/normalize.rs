//! Normalization: routes named by what they mean in the cluster, not by volatile addresses.
//!
//! - a frontend becomes `namespace/name:port/proto` (the Service port number) when it matches a
//!   Service's ClusterIP, nodePort, externalIPs or load-balancer IPs, and its kind is taken from
//!   that match; otherwise it stays `ip:port/proto` (`*:port/proto` for a NodePort);
//! - an endpoint becomes its [identity](crate::observe::identity) (its node, `node#k` when a
//!   node has several); unknown addresses stay `ip:port`;
//! - chain names, counters and comments are already gone (the parsers resolve chains to what
//!   they point to); probabilities are rounded to 6 decimals.

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

fn same_ip(a: &str, b: &str) -> bool {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// The Service port a frontend belongs to, and the frontend's kind.
fn match_frontend<'a>(
    state: &'a ClusterState,
    route: &FrontendRoute,
) -> Option<(&'a Service, &'a ServicePort, FrontendKind)> {
    let f = &route.frontend;
    let ports = state
        .services
        .iter()
        .filter(|s| s.is_proxied())
        .flat_map(|s| s.ports.iter().map(move |p| (s, p)))
        .filter(|(_, p)| p.protocol.eq_ignore_ascii_case(&f.protocol));
    let mut node_port = None;
    for (s, p) in ports {
        match &f.ip {
            None if p.node_port == f.port && p.node_port != 0 => {
                return Some((s, p, FrontendKind::NodePort))
            }
            None => {}
            Some(ip) => {
                if p.port == f.port {
                    if s.cluster_ip.as_deref().is_some_and(|c| same_ip(c, ip)) {
                        return Some((s, p, FrontendKind::ClusterIp));
                    }
                    if s.load_balancer_ips.iter().any(|l| same_ip(l, ip)) {
                        return Some((s, p, FrontendKind::LoadBalancer));
                    }
                    if s.external_ips.iter().any(|e| same_ip(e, ip)) {
                        return Some((s, p, FrontendKind::ExternalIp));
                    }
                }
                // IPVS: a node address serving a NodePort.
                if p.node_port != 0 && p.node_port == f.port && node_port.is_none() {
                    node_port = Some((s, p, FrontendKind::NodePort));
                }
            }
        }
    }
    node_port
}

fn round6(p: f64) -> f64 {
    (p * 1e6).round() / 1e6
}

fn name_shares(
    shares: &Option<Vec<Share>>,
    ids: &EndpointIdentities,
    key: Option<&ServicePortKey>,
) -> Option<Vec<NamedShare>> {
    shares.as_ref().map(|list| {
        let mut named: Vec<NamedShare> = list
            .iter()
            .map(|s| NamedShare {
                endpoint: ids.name(key, &s.backend.ip, s.backend.port),
                probability: round6(s.probability),
            })
            .collect();
        named.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        named
    })
}

/// Names a node's routes against `state` (or only canonicalizes them when `state` is `None`).
pub fn normalize(routes: &NodeRoutes, state: Option<&ClusterState>) -> NormalizedRoutes {
    let ids = state
        .map(EndpointIdentities::from_state)
        .unwrap_or_default();
    let mut out: Vec<NormalizedFrontend> = routes
        .frontends
        .iter()
        .map(|r| {
            let matched = state.and_then(|st| match_frontend(st, r));
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
                None => (r.frontend.to_string(), r.frontend.kind, None),
            };
            let (mut cluster, mut local) = (r.cluster.clone(), r.local.clone());
            // IPVS has one real-server list per virtual server: for a Local policy it is the
            // local set.
            if let (Some((s, _, kind)), None) = (matched, &local) {
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
                cluster: name_shares(&cluster, &ids, key.as_ref()),
                local: name_shares(&local, &ids, key.as_ref()),
                outcome: r.outcome,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        (a.frontend.as_str(), a.kind)
            .cmp(&(b.frontend.as_str(), b.kind))
            .then_with(|| format!("{a:?}").cmp(&format!("{b:?}")))
    });
    out.dedup();
    NormalizedRoutes { frontends: out }
}
