//! Kubernetes objects as `kubectl get … -o yaml|json` prints them: Lists, NodeLists, … and
//! single Nodes, Services and EndpointSlices (discovery.k8s.io/v1 and v1beta1).

use std::collections::BTreeMap;

use super::error::InputError;
use super::quantity::cpu_millis;
use super::tree::{Cursor, Node as TreeNode, Source, Walk};
use crate::model::TrafficDistribution;
use crate::model::{
    AddressType, ClusterState, Endpoint, EndpointPort, EndpointSlice, Hints, KubeVersion, Node,
    Service, ServicePort, ServiceType, TrafficPolicy, LABEL_HOSTNAME, LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME, LABEL_ZONE,
};

/// Collects objects and rejects duplicates, remembering the line each name was first seen.
#[derive(Default)]
pub(crate) struct Collector {
    pub(crate) state: Option<ClusterState>,
    nodes: BTreeMap<String, u32>,
    services: BTreeMap<String, u32>,
    slices: BTreeMap<String, u32>,
}

impl Collector {
    fn state(&mut self) -> &mut ClusterState {
        self.state.get_or_insert_with(ClusterState::empty)
    }

    /// Reads one document: a List-like object or a single object.
    pub(crate) fn document(&mut self, src: &Source<'_>, doc: &TreeNode, path: &str) -> Walk<()> {
        let root = Cursor::root(doc, path);
        let kind = root.req(src, "kind")?;
        let kind_name = kind.str(src)?;
        match kind_name {
            "List" | "NodeList" | "ServiceList" | "EndpointSliceList" => {
                let items = root.opt_seq(src, "items")?;
                for item in &items {
                    self.list_item(src, kind_name, item)?;
                }
                Ok(())
            }
            other => self.object(src, &root, other),
        }
    }

    /// One item of a `List`, `NodeList`, `ServiceList` or `EndpointSliceList` (`kind_name`).
    pub(crate) fn list_item(
        &mut self,
        src: &Source<'_>,
        kind_name: &str,
        item: &Cursor<'_>,
    ) -> Walk<()> {
        let item_kind = match item.opt(src, "kind")? {
            Some(k) => Some(k.str(src)?.to_string()),
            None => None,
        };
        // Typed lists may omit the items' kind.
        let implied = match kind_name {
            "NodeList" => Some("Node"),
            "ServiceList" => Some("Service"),
            "EndpointSliceList" => Some("EndpointSlice"),
            _ => None,
        };
        let item_kind = match (item_kind, implied) {
            (Some(k), _) => k,
            (None, Some(k)) => k.to_string(),
            (None, None) => {
                return Err(InputError::Missing {
                    at: src.at(item.node),
                    path: format!("{}.kind", item.path),
                })
            }
        };
        if let Some(implied) = implied {
            if item_kind != implied {
                return Err(item.invalid(
                    src,
                    format!(
                        "a {kind_name} may only hold {implied} objects, found kind `{item_kind}`"
                    ),
                ));
            }
        }
        self.object(src, item, &item_kind)?;
        Ok(())
    }

    fn object(&mut self, src: &Source<'_>, obj: &Cursor<'_>, kind: &str) -> Walk<()> {
        match kind {
            "Node" => {
                check_api_version(src, obj, &["v1"])?;
                let node = read_node(src, obj)?;
                remember(&mut self.nodes, src, obj, "node", node.name.clone())?;
                self.state().nodes.push(node);
            }
            "Service" => {
                check_api_version(src, obj, &["v1"])?;
                let service = read_service(src, obj)?;
                remember(&mut self.services, src, obj, "service", service.key())?;
                self.state().services.push(service);
            }
            "EndpointSlice" => {
                let api = check_api_version(
                    src,
                    obj,
                    &["discovery.k8s.io/v1", "discovery.k8s.io/v1beta1"],
                )?;
                let beta = api.as_deref() == Some("discovery.k8s.io/v1beta1");
                let slice = read_slice(src, obj, beta)?;
                let key = format!("{}/{}", slice.namespace, slice.name);
                remember(&mut self.slices, src, obj, "EndpointSlice", key)?;
                self.state().slices.push(slice);
            }
            other => {
                return Err(InputError::UnknownKind {
                    at: src.at(obj.node),
                    path: obj.path.clone(),
                    kind: other.to_string(),
                })
            }
        }
        Ok(())
    }
}

fn remember(
    seen: &mut BTreeMap<String, u32>,
    src: &Source<'_>,
    obj: &Cursor<'_>,
    what: &'static str,
    name: String,
) -> Walk<()> {
    if let Some(first_line) = seen.get(&name) {
        return Err(InputError::Duplicate {
            at: src.at(obj.node),
            what,
            name,
            first_line: *first_line,
        });
    }
    seen.insert(name, obj.node.line);
    Ok(())
}

/// Checks `apiVersion` when present; returns it.
fn check_api_version(
    src: &Source<'_>,
    obj: &Cursor<'_>,
    accepted: &[&str],
) -> Walk<Option<String>> {
    let Some(api) = obj.opt(src, "apiVersion")? else {
        return Ok(None);
    };
    let value = api.str(src)?;
    if accepted.contains(&value) {
        Ok(Some(value.to_string()))
    } else {
        Err(api.invalid(
            src,
            format!(
                "apiVersion `{value}` is not supported here; expected {}",
                accepted.join(" or ")
            ),
        ))
    }
}

struct Meta {
    name: String,
    namespace: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

fn metadata(src: &Source<'_>, obj: &Cursor<'_>) -> Walk<Meta> {
    let meta = obj.req(src, "metadata")?;
    let name = meta.req(src, "name")?;
    let name_text = name.str(src)?;
    if name_text.is_empty() {
        return Err(name.invalid(src, "the name is empty"));
    }
    let namespace = meta
        .opt_str(src, "namespace")?
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| "default".to_string());
    Ok(Meta {
        name: name_text.to_string(),
        namespace,
        labels: meta.opt_string_map(src, "labels")?,
        annotations: meta.opt_string_map(src, "annotations")?,
    })
}

fn read_node(src: &Source<'_>, obj: &Cursor<'_>) -> Walk<Node> {
    let meta = metadata(src, obj)?;
    let mut allocatable_cpu_millis = None;
    let mut ready = false;
    let mut kubelet_version = None;
    if let Some(status) = obj.opt(src, "status")? {
        if let Some(alloc) = status.opt(src, "allocatable")? {
            if let Some(cpu) = alloc.opt(src, "cpu")? {
                let text = cpu.scalar_text(src)?;
                allocatable_cpu_millis = Some(cpu_millis(&text).map_err(|m| cpu.invalid(src, m))?);
            }
        }
        for condition in status.opt_seq(src, "conditions")? {
            if condition.opt_str(src, "type")?.as_deref() == Some("Ready") {
                ready = condition.opt_str(src, "status")?.as_deref() == Some("True");
                break;
            }
        }
        if let Some(info) = status.opt(src, "nodeInfo")? {
            kubelet_version = info
                .opt_str(src, "kubeletVersion")?
                .and_then(|v| KubeVersion::from_kubelet(&v));
        }
    }
    Ok(Node {
        name: meta.name,
        labels: meta.labels,
        allocatable_cpu_millis,
        ready,
        kubelet_version,
    })
}

fn traffic_policy(src: &Source<'_>, spec: &Cursor<'_>, key: &str) -> Walk<TrafficPolicy> {
    let Some(value) = spec.opt(src, key)? else {
        return Ok(TrafficPolicy::Cluster);
    };
    match value.str(src)? {
        "Cluster" => Ok(TrafficPolicy::Cluster),
        "Local" => Ok(TrafficPolicy::Local),
        other => Err(value.invalid(
            src,
            format!("unknown traffic policy `{other}`; expected Cluster or Local"),
        )),
    }
}

fn protocol(src: &Source<'_>, port: &Cursor<'_>) -> Walk<String> {
    let Some(value) = port.opt(src, "protocol")? else {
        return Ok("TCP".to_string());
    };
    match value.str(src)? {
        p @ ("TCP" | "UDP" | "SCTP") => Ok(p.to_string()),
        other => Err(value.invalid(
            src,
            format!("unknown protocol `{other}`; expected TCP, UDP or SCTP"),
        )),
    }
}

fn read_service(src: &Source<'_>, obj: &Cursor<'_>) -> Walk<Service> {
    let meta = metadata(src, obj)?;
    let mut service = Service {
        annotations: meta.annotations,
        ..Service::new(&meta.namespace, &meta.name)
    };
    if let Some(spec) = obj.opt(src, "spec")? {
        service.selector = spec
            .opt(src, "selector")?
            .map(|s| s.string_map(src))
            .transpose()?
            .filter(|s| !s.is_empty());
        if let Some(t) = spec.opt(src, "type")? {
            service.service_type = match t.str(src)? {
                "ClusterIP" => ServiceType::ClusterIp,
                "NodePort" => ServiceType::NodePort,
                "LoadBalancer" => ServiceType::LoadBalancer,
                "ExternalName" => ServiceType::ExternalName,
                other => {
                    return Err(t.invalid(
                        src,
                        format!("unknown Service type `{other}`; expected ClusterIP, NodePort, LoadBalancer or ExternalName"),
                    ))
                }
            };
        }
        service.cluster_ip = spec.opt_str(src, "clusterIP")?.filter(|ip| !ip.is_empty());
        for port in spec.opt_seq(src, "ports")? {
            service.ports.push(ServicePort {
                name: port.opt_str(src, "name")?.unwrap_or_default(),
                port: port.req(src, "port")?.port(src, 1)?,
                protocol: protocol(src, &port)?,
                node_port: port
                    .opt(src, "nodePort")?
                    .map(|p| p.port(src, 0))
                    .transpose()?
                    .unwrap_or(0),
            });
        }
        service.internal_traffic_policy = traffic_policy(src, &spec, "internalTrafficPolicy")?;
        service.external_traffic_policy = traffic_policy(src, &spec, "externalTrafficPolicy")?;
        service.traffic_distribution = spec
            .opt_str(src, "trafficDistribution")?
            .map(TrafficDistribution::from);
        service.topology_keys = spec.opt_strings(src, "topologyKeys")?;
        service.publish_not_ready_addresses = spec
            .opt_bool(src, "publishNotReadyAddresses")?
            .unwrap_or(false);
        service.external_ips = spec.opt_strings(src, "externalIPs")?;
    }
    if let Some(status) = obj.opt(src, "status")? {
        if let Some(lb) = status.opt(src, "loadBalancer")? {
            for ingress in lb.opt_seq(src, "ingress")? {
                if let Some(ip) = ingress.opt_str(src, "ip")? {
                    service.load_balancer_ips.push(ip);
                }
            }
        }
    }
    Ok(service)
}

fn read_slice(src: &Source<'_>, obj: &Cursor<'_>, beta: bool) -> Walk<EndpointSlice> {
    let meta = metadata(src, obj)?;
    let address_type = obj.req(src, "addressType")?;
    let address_type = match address_type.str(src)? {
        "IPv4" => AddressType::IPv4,
        "IPv6" => AddressType::IPv6,
        "FQDN" => AddressType::Fqdn,
        other => {
            return Err(address_type.invalid(
                src,
                format!("unknown addressType `{other}`; expected IPv4, IPv6 or FQDN"),
            ))
        }
    };
    let mut ports = Vec::new();
    for port in obj.opt_seq(src, "ports")? {
        ports.push(EndpointPort {
            name: port.opt_str(src, "name")?,
            port: port.opt(src, "port")?.map(|p| p.port(src, 0)).transpose()?,
            protocol: protocol(src, &port)?,
        });
    }
    let mut endpoints = Vec::new();
    for ep in obj.opt_seq(src, "endpoints")? {
        endpoints.push(read_endpoint(src, &ep, beta)?);
    }
    Ok(EndpointSlice {
        service_name: meta.labels.get(LABEL_SERVICE_NAME).cloned(),
        managed_by: meta.labels.get(LABEL_MANAGED_BY).cloned(),
        namespace: meta.namespace,
        name: meta.name,
        address_type,
        ports,
        endpoints,
    })
}

fn read_endpoint(src: &Source<'_>, ep: &Cursor<'_>, beta: bool) -> Walk<Endpoint> {
    let addresses = ep.req(src, "addresses")?;
    let addresses = addresses
        .seq(src)?
        .iter()
        .map(|a| a.str(src).map(str::to_string))
        .collect::<Walk<Vec<_>>>()?;
    let mut endpoint = Endpoint {
        addresses,
        ..Endpoint::default()
    };
    if let Some(conditions) = ep.opt(src, "conditions")? {
        endpoint.ready = conditions.opt_bool(src, "ready")?;
        endpoint.serving = conditions.opt_bool(src, "serving")?;
        endpoint.terminating = conditions.opt_bool(src, "terminating")?;
    }
    endpoint.node_name = ep.opt_str(src, "nodeName")?;
    if beta {
        endpoint.topology = ep.opt_string_map(src, "topology")?;
        if endpoint.node_name.is_none() {
            endpoint.node_name = endpoint.topology.get(LABEL_HOSTNAME).cloned();
        }
        endpoint.zone = endpoint.topology.get(LABEL_ZONE).cloned();
    } else {
        endpoint.zone = ep.opt_str(src, "zone")?;
        endpoint.topology = ep.opt_string_map(src, "deprecatedTopology")?;
    }
    if let Some(hints) = ep.opt(src, "hints")? {
        endpoint.hints = Some(Hints {
            for_zones: hint_names(src, &hints, "forZones")?,
            for_nodes: hint_names(src, &hints, "forNodes")?,
        });
    }
    if let Some(target) = ep.opt(src, "targetRef")? {
        if target.opt_str(src, "kind")?.as_deref() == Some("Pod") {
            endpoint.pod = target.opt_str(src, "name")?;
        }
    }
    Ok(endpoint)
}

fn hint_names(src: &Source<'_>, hints: &Cursor<'_>, key: &str) -> Walk<Vec<String>> {
    hints
        .opt_seq(src, key)?
        .iter()
        .map(|h| h.req(src, "name")?.str(src).map(str::to_string))
        .collect()
}
