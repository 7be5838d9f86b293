//! Proxy-side vector kinds.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use topo_harness::model::proxy::{
    categorize as model_categorize, filter_endpoints_legacy, topology_keys_filter, ProxyEndpoint,
    ProxyNode, ProxyService,
};

use crate::support::{check, decode, place, version_range};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VEndpoint {
    endpoint: String,
    ready: Option<bool>,
    #[serde(default)]
    serving: bool,
    #[serde(default)]
    terminating: bool,
    #[serde(default)]
    is_local: bool,
    #[serde(default)]
    zone_hints: Option<Vec<String>>,
    #[serde(default)]
    node_hints: Option<Vec<String>>,
}

fn split_endpoint(text: &str) -> Result<(String, u16), String> {
    match text.rsplit_once(':') {
        Some((ip, port)) if !ip.ends_with(':') && !ip.contains(':') || ip.starts_with('[') => {
            let ip = ip.trim_start_matches('[').trim_end_matches(']').to_string();
            let port = port
                .parse()
                .map_err(|_| format!("bad port in endpoint `{text}`"))?;
            Ok((ip, port))
        }
        _ => Ok((text.to_string(), 0)),
    }
}

impl VEndpoint {
    fn to_proxy(&self) -> Result<ProxyEndpoint, String> {
        let (ip, port) = split_endpoint(&self.endpoint)?;
        Ok(ProxyEndpoint {
            ip,
            port,
            // Legacy tables leave readiness unset where the model ignores it: kube-proxy
            // reads unset as ready.
            ready: self.ready.unwrap_or(true),
            serving: self.serving,
            terminating: self.terminating,
            is_local: self.is_local,
            node_name: None,
            zone_hints: self.zone_hints.clone().unwrap_or_default(),
            node_hints: self.node_hints.clone().unwrap_or_default(),
            topology: BTreeMap::new(),
        })
    }

    fn text(e: &ProxyEndpoint) -> String {
        if e.port == 0 {
            e.ip.clone()
        } else {
            e.key()
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VService {
    #[serde(default)]
    internal_policy_local: bool,
    #[serde(default)]
    external_policy_local: bool,
    #[serde(default)]
    node_port: u16,
    #[serde(default)]
    hints_annotation: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CategorizeInput {
    version_model: String,
    #[serde(default)]
    node_name: Option<String>,
    #[serde(default)]
    node_labels: Option<BTreeMap<String, String>>,
    service: VService,
    #[serde(default)]
    feature_gates: BTreeMap<String, bool>,
    endpoints: Vec<VEndpoint>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CategorizeExpected {
    cluster_endpoints: Option<Vec<String>>,
    local_endpoints: Option<Vec<String>>,
    all_reachable_endpoints: Vec<String>,
    has_any_endpoints: bool,
}

fn sorted(set: Option<&Vec<ProxyEndpoint>>) -> Option<Vec<String>> {
    set.map(|s| {
        let mut v: Vec<String> = s.iter().map(VEndpoint::text).collect();
        v.sort();
        v
    })
}

fn sorted_strings(v: &Option<Vec<String>>) -> Option<Vec<String>> {
    v.clone().map(|mut v| {
        v.sort();
        v
    })
}

pub fn categorize(input: &Value, expected: &Value) -> Result<(), String> {
    let input: CategorizeInput = decode("input", input)?;
    let expected: CategorizeExpected = decode("expected", expected)?;
    let gates = place(
        version_range(Some(&input.version_model))?,
        &input.feature_gates,
    )?;
    let endpoints = input
        .endpoints
        .iter()
        .map(VEndpoint::to_proxy)
        .collect::<Result<Vec<_>, _>>()?;
    let service = ProxyService {
        internal_local: input.service.internal_policy_local,
        external_local: input.service.external_policy_local,
        externally_accessible: input.service.node_port != 0,
        annotation: input.service.hints_annotation.clone(),
        topology_keys: Vec::new(),
    };
    let node = ProxyNode {
        name: input.node_name.clone().unwrap_or_default(),
        labels: input.node_labels.clone().unwrap_or_default(),
    };
    let got = model_categorize(&endpoints, &service, &node, &gates);
    let at = format!(" (evaluated at Kubernetes {})", gates.version());
    check(
        &format!("cluster endpoints{at}"),
        &sorted_strings(&expected.cluster_endpoints),
        &sorted(got.cluster.as_ref()),
    )?;
    check(
        &format!("local endpoints{at}"),
        &sorted_strings(&expected.local_endpoints),
        &sorted(got.local.as_ref()),
    )?;
    check(
        &format!("all reachable endpoints{at}"),
        &sorted_strings(&Some(expected.all_reachable_endpoints.clone())),
        &sorted(Some(&got.all_reachable)),
    )?;
    // Upstream's expectation is len(allReachable) > 0 || onlyRemoteEndpoints, i.e. whether
    // the Service has usable endpoints anywhere.
    check(
        &format!("has any endpoints{at}"),
        &expected.has_any_endpoints,
        &got.has_any,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LegacyService {
    #[serde(default)]
    node_local_external: bool,
    #[serde(default)]
    hints_annotation: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyInput {
    version_model: String,
    #[serde(default)]
    node_labels: Option<BTreeMap<String, String>>,
    service: LegacyService,
    #[serde(default)]
    feature_gates: BTreeMap<String, bool>,
    endpoints: Vec<VEndpoint>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FilteredExpected {
    filtered_endpoints_in_order: Vec<String>,
}

pub fn filter_legacy(input: &Value, expected: &Value) -> Result<(), String> {
    let input: LegacyInput = decode("input", input)?;
    let expected: FilteredExpected = decode("expected", expected)?;
    let gates = place(
        version_range(Some(&input.version_model))?,
        &input.feature_gates,
    )?;
    let endpoints = input
        .endpoints
        .iter()
        .map(VEndpoint::to_proxy)
        .collect::<Result<Vec<_>, _>>()?;
    let service = ProxyService {
        internal_local: false,
        external_local: input.service.node_local_external,
        externally_accessible: input.service.node_local_external,
        annotation: input.service.hints_annotation.clone(),
        topology_keys: Vec::new(),
    };
    let node = ProxyNode {
        name: String::new(),
        labels: input.node_labels.clone().unwrap_or_default(),
    };
    let got = filter_endpoints_legacy(&endpoints, &service, &node, &gates);
    let got: Vec<String> = got.endpoints.iter().map(VEndpoint::text).collect();
    check(
        &format!("filtered endpoints (Kubernetes {})", gates.version()),
        &expected.filtered_endpoints_in_order,
        &got,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyedEndpoint {
    endpoint: String,
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    endpoint_node_labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopologyKeysInput {
    #[serde(default)]
    current_node: Option<String>,
    #[serde(default)]
    current_node_labels: BTreeMap<String, String>,
    #[serde(default)]
    topology_keys: Option<Vec<String>>,
    endpoints: Vec<KeyedEndpoint>,
}

pub fn topology_keys(input: &Value, expected: &Value) -> Result<(), String> {
    let input: TopologyKeysInput = decode("input", input)?;
    let expected: FilteredExpected = decode("expected", expected)?;
    let endpoints = input
        .endpoints
        .iter()
        .map(|e| {
            let (ip, port) = split_endpoint(&e.endpoint)?;
            Ok(ProxyEndpoint {
                ip,
                port,
                ready: true,
                serving: true,
                terminating: false,
                is_local: e.node.is_some() && e.node == input.current_node,
                node_name: e.node.clone(),
                zone_hints: Vec::new(),
                node_hints: Vec::new(),
                topology: e.endpoint_node_labels.clone(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let keys = input.topology_keys.clone().unwrap_or_default();
    let (got, _) = topology_keys_filter(&input.current_node_labels, &keys, &endpoints);
    let got: Vec<String> = got.iter().map(VEndpoint::text).collect();
    check(
        "filtered endpoints",
        &expected.filtered_endpoints_in_order,
        &got,
    )
}
