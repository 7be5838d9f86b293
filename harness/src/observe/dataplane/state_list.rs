//! A minimal reader of `kubectl get services,endpointslices -A -o json|yaml` Lists, enough to
//! name frontends and endpoints for `topo-harness rules --state`. The full reader of cluster
//! dumps belongs to [`crate::input`]; this one reads only the fields normalization uses.

use std::collections::BTreeMap;

use serde_json::Value;
use thiserror::Error;

use crate::model::state::{
    AddressType, ClusterState, Endpoint, EndpointPort, EndpointSlice, Node, Service, ServicePort,
    ServiceType, TrafficPolicy, LABEL_MANAGED_BY, LABEL_SERVICE_NAME,
};

/// Why a state List could not be read.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum StateListError {
    /// Neither JSON nor YAML.
    #[error("not JSON or YAML: {0}")]
    Syntax(String),
    /// Readable, but not a kubectl List of objects.
    #[error("{path}: {message}")]
    Shape {
        /// Where (`items[3].spec.ports[0].port`).
        path: String,
        /// What is wrong.
        message: String,
    },
}

fn shape(path: impl Into<String>, message: impl Into<String>) -> StateListError {
    StateListError::Shape {
        path: path.into(),
        message: message.into(),
    }
}

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, x)| x.as_str().map(|x| (k.clone(), x.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn port(v: Option<&Value>, path: &str) -> Result<Option<u16>, StateListError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| shape(path, "not a port number")),
    }
}

fn policy(v: Option<&str>) -> TrafficPolicy {
    match v {
        Some("Local") => TrafficPolicy::Local,
        _ => TrafficPolicy::Cluster,
    }
}

/// Reads a kubectl `List` (JSON or YAML) of Services, EndpointSlices and, optionally, Nodes.
/// Other kinds are ignored.
pub fn parse_state_list(text: &str) -> Result<ClusterState, StateListError> {
    let doc: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(json) => serde_saphyr::from_str(text)
            .map_err(|yaml| StateListError::Syntax(format!("as JSON: {json}; as YAML: {yaml}")))?,
    };
    let items = doc
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| shape("items", "expected a kubectl List with an `items` array"))?;
    let mut state = ClusterState::empty();
    for (i, item) in items.iter().enumerate() {
        let path = format!("items[{i}]");
        let meta = item.get("metadata").unwrap_or(&Value::Null);
        let name = s(meta, "name")
            .ok_or_else(|| shape(format!("{path}.metadata.name"), "missing"))?
            .to_string();
        let namespace = s(meta, "namespace").unwrap_or("default").to_string();
        let labels = map(meta.get("labels"));
        match s(item, "kind") {
            Some("Service") => state.services.push(service(item, &path, namespace, name)?),
            Some("EndpointSlice") => state
                .slices
                .push(slice(item, &path, namespace, name, &labels)?),
            Some("Node") => state.nodes.push(Node {
                name,
                ready: item
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .is_some_and(|c| {
                        c.iter().any(|c| {
                            s(c, "type") == Some("Ready") && s(c, "status") == Some("True")
                        })
                    }),
                labels,
                allocatable_cpu_millis: None,
                kubelet_version: None,
            }),
            _ => {}
        }
    }
    Ok(state)
}

fn service(
    item: &Value,
    path: &str,
    namespace: String,
    name: String,
) -> Result<Service, StateListError> {
    let spec = item.get("spec").unwrap_or(&Value::Null);
    let mut ports = Vec::new();
    for (j, p) in spec
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let pp = format!("{path}.spec.ports[{j}]");
        ports.push(ServicePort {
            name: s(p, "name").unwrap_or("").to_string(),
            port: port(p.get("port"), &format!("{pp}.port"))?
                .ok_or_else(|| shape(format!("{pp}.port"), "missing"))?,
            protocol: s(p, "protocol").unwrap_or("TCP").to_string(),
            node_port: port(p.get("nodePort"), &format!("{pp}.nodePort"))?.unwrap_or(0),
        });
    }
    Ok(Service {
        namespace,
        name,
        annotations: map(item.pointer("/metadata/annotations")),
        selector: spec.get("selector").map(|v| map(Some(v))),
        service_type: match s(spec, "type") {
            Some("NodePort") => ServiceType::NodePort,
            Some("LoadBalancer") => ServiceType::LoadBalancer,
            Some("ExternalName") => ServiceType::ExternalName,
            _ => ServiceType::ClusterIp,
        },
        cluster_ip: s(spec, "clusterIP").map(str::to_string),
        ports,
        internal_traffic_policy: policy(s(spec, "internalTrafficPolicy")),
        external_traffic_policy: policy(s(spec, "externalTrafficPolicy")),
        traffic_distribution: s(spec, "trafficDistribution").map(str::to_string),
        topology_keys: strings(spec.get("topologyKeys")),
        publish_not_ready_addresses: spec
            .get("publishNotReadyAddresses")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        external_ips: strings(spec.get("externalIPs")),
        load_balancer_ips: item
            .pointer("/status/loadBalancer/ingress")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|i| s(i, "ip").map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

fn slice(
    item: &Value,
    path: &str,
    namespace: String,
    name: String,
    labels: &BTreeMap<String, String>,
) -> Result<EndpointSlice, StateListError> {
    let mut ports = Vec::new();
    for (j, p) in item
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        ports.push(EndpointPort {
            name: s(p, "name").map(str::to_string),
            port: port(p.get("port"), &format!("{path}.ports[{j}].port"))?,
            protocol: s(p, "protocol").unwrap_or("TCP").to_string(),
        });
    }
    let endpoints = item
        .get("endpoints")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| {
            let cond = |k: &str| {
                e.get("conditions")
                    .and_then(|c| c.get(k))
                    .and_then(Value::as_bool)
            };
            Endpoint {
                addresses: strings(e.get("addresses")),
                ready: cond("ready"),
                serving: cond("serving"),
                terminating: cond("terminating"),
                node_name: s(e, "nodeName").map(str::to_string),
                zone: s(e, "zone").map(str::to_string),
                hints: None,
                topology: map(e.get("deprecatedTopology")),
                pod: e
                    .get("targetRef")
                    .filter(|t| s(t, "kind") == Some("Pod"))
                    .and_then(|t| s(t, "name"))
                    .map(str::to_string),
            }
        })
        .collect();
    Ok(EndpointSlice {
        namespace,
        name,
        service_name: labels.get(LABEL_SERVICE_NAME).cloned(),
        managed_by: labels.get(LABEL_MANAGED_BY).cloned(),
        address_type: match s(item, "addressType") {
            Some("IPv6") => AddressType::IPv6,
            Some("FQDN") => AddressType::Fqdn,
            _ => AddressType::IPv4,
        },
        ports,
        endpoints,
    })
}
