//! Observed routes against the reference model: for every Service port, does this node's
//! dataplane send traffic to exactly the endpoints the model says its proxy must use?

use std::collections::BTreeMap;

use serde::Serialize;

use super::normalize::{NamedShare, NormalizedFrontend, NormalizedRoutes};
use super::routes::{FrontendKind, Outcome};
use super::ProxyMode;
use crate::model::analysis::node_routes;
use crate::model::proxy::{ProxyEndpoint, ProxyService};
use crate::model::state::ClusterState;
use crate::model::version::FeatureGates;
use crate::observe::identity::{EndpointIdentities, ServicePortKey};

/// One difference between a node's dataplane and the model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Disagreement {
    /// `ns/name:port/proto`.
    pub frontend: String,
    /// The frontend kind checked.
    pub kind: FrontendKind,
    /// Which path: `cluster` or `local`.
    pub path: &'static str,
    /// Endpoint identities the model expects (sorted; repeated for several on a node).
    pub expected: Vec<String>,
    /// Endpoint identities the dataplane routes to (sorted).
    pub observed: Vec<String>,
    /// What is wrong, in words.
    pub problem: String,
}

/// Which endpoint set a frontend's traffic uses, as the model sees it.
fn expected_path(kind: FrontendKind, view: &ProxyService) -> &'static str {
    match kind {
        FrontendKind::ClusterIp if view.internal_local => "local",
        FrontendKind::ClusterIp => "cluster",
        _ if view.external_local => "local",
        _ => "cluster",
    }
}

fn names(set: &[ProxyEndpoint], ids: &EndpointIdentities, key: &ServicePortKey) -> Vec<String> {
    let mut v: Vec<String> = set
        .iter()
        .map(|e| ids.name(Some(key), &e.ip, e.port))
        .collect();
    v.sort();
    v
}

fn observed(shares: Option<&Vec<NamedShare>>) -> Vec<String> {
    let mut v: Vec<String> = shares
        .map(|s| s.iter().map(|n| n.endpoint.clone()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Compares `routes` (normalized against `state`) with the model's routes for `node`.
///
/// ClusterIP frontends are checked on the path internal traffic takes, NodePort, external-IP
/// and load-balancer frontends on the path external traffic takes. IPVS has no separate local
/// path: for a Local policy it uses the local endpoints when there are any, else all of them.
/// kube-proxy spreads new connections evenly, so unequal shares are a disagreement too.
pub fn compare_with_model(
    mode: ProxyMode,
    routes: &NormalizedRoutes,
    state: &ClusterState,
    node: &str,
    gates: &FeatureGates,
) -> Vec<Disagreement> {
    let ids = EndpointIdentities::from_state(state);
    let by_name: BTreeMap<(&str, FrontendKind), &NormalizedFrontend> = routes
        .frontends
        .iter()
        .map(|f| ((f.frontend.as_str(), f.kind), f))
        .collect();
    let mut out = Vec::new();
    for service in state.services.iter().filter(|s| s.is_proxied()) {
        for port in &service.ports {
            let key = ServicePortKey::new(service, port);
            let frontend = format!(
                "{}/{}:{}/{}",
                service.namespace,
                service.name,
                port.port,
                port.protocol.to_ascii_lowercase()
            );
            let view = ProxyService::of(service, port, gates);
            let model = node_routes(state, service, port, node, gates);
            let mut kinds = vec![FrontendKind::ClusterIp];
            if port.node_port != 0 {
                kinds.push(FrontendKind::NodePort);
            }
            if !service.external_ips.is_empty() {
                kinds.push(FrontendKind::ExternalIp);
            }
            if !service.load_balancer_ips.is_empty() {
                kinds.push(FrontendKind::LoadBalancer);
            }
            for kind in kinds {
                let path = expected_path(kind, &view);
                let set = match path {
                    "local" => match (mode, &model.local) {
                        (ProxyMode::Ipvs, Some(local)) if local.is_empty() => model.cluster.clone(),
                        (_, local) => local.clone(),
                    },
                    _ => model.cluster_path().cloned(),
                };
                let expected = names(set.as_deref().unwrap_or_default(), &ids, &key);
                let found = by_name.get(&(frontend.as_str(), kind));
                let shares = found.and_then(|f| match (mode, path) {
                    // IPVS reports a Local policy's single set as the local path.
                    (_, "local") => f.local.as_ref().or(f.cluster.as_ref()),
                    _ => f.cluster.as_ref(),
                });
                let seen = observed(shares);
                let routed = found.is_some_and(|f| f.outcome == Outcome::Route);
                let mut problem = None;
                if expected != seen {
                    problem = Some(if found.is_none() {
                        "no rules for this frontend".to_string()
                    } else {
                        "routes to other endpoints than the model expects".to_string()
                    });
                } else if !expected.is_empty() && !routed {
                    problem = Some("the model expects traffic to be routed".to_string());
                } else if let Some(shares) = shares.filter(|s| !s.is_empty()) {
                    let even = 1.0 / shares.len() as f64;
                    if shares.iter().any(|s| (s.probability - even).abs() > 1e-3) {
                        problem = Some(format!(
                            "new connections are not spread evenly (each should get {even:.6})"
                        ));
                    }
                }
                if let Some(problem) = problem {
                    out.push(Disagreement {
                        frontend: frontend.clone(),
                        kind,
                        path,
                        expected,
                        observed: seen,
                        problem,
                    });
                }
            }
        }
    }
    out
}

/// The disagreements as text, one block each; empty when there are none.
pub fn render_disagreements(node: &str, list: &[Disagreement]) -> String {
    let mut out = String::new();
    if list.is_empty() {
        out.push_str(&format!(
            "model: node {node} agrees with the reference model\n"
        ));
        return out;
    }
    out.push_str(&format!(
        "model: node {node} disagrees with the reference model on {} frontend path(s)\n",
        list.len()
    ));
    for d in list {
        out.push_str(&format!(
            "  {} ({}, {} path): {}\n    expected: [{}]\n    observed: [{}]\n",
            d.frontend,
            d.kind.as_str(),
            d.path,
            d.problem,
            d.expected.join(", "),
            d.observed.join(", ")
        ));
    }
    out
}
