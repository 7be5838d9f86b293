//! The compact state format (`kind: State`): a short, strict way to write a cluster state for
//! what-if questions. The format is documented in `docs/state-format.md`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::error::{InputError, SourceLocation};
use super::quantity::cpu_millis;
use crate::model::TrafficDistribution;
use crate::model::{
    AddressType, ClusterState, Endpoint, EndpointPort, EndpointSlice, FeatureGate, FeatureGates,
    Hints, KubeVersion, Node, Service, ServicePort, ServiceType, TrafficPolicy,
    LABEL_CONTROL_PLANE, LABEL_HOSTNAME, LABEL_MASTER, LABEL_REGION, LABEL_ZONE,
    MANAGED_BY_CONTROLLER,
};

/// The `apiVersion` of the compact format.
pub const COMPACT_API_VERSION: &str = "topo-harness/v1alpha1";
/// Allocatable CPU of a compact node that does not say (`1`, i.e. 1000 millicores).
pub const DEFAULT_NODE_CPU_MILLIS: u64 = 1000;
/// The `managed-by` label of EndpointSlices generated for selector-less Services.
pub const MANAGED_BY_COMPACT: &str = "topo-harness";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CompactState {
    api_version: Option<Spanned<String>>,
    #[allow(dead_code)]
    kind: String,
    #[allow(dead_code)]
    description: Option<String>,
    kubernetes: Option<Spanned<String>>,
    feature_gates: Option<Spanned<BTreeMap<String, bool>>>,
    #[serde(default)]
    nodes: Vec<Spanned<CNode>>,
    #[serde(default)]
    services: Vec<Spanned<CService>>,
    #[serde(default)]
    slices: Vec<Spanned<CSlice>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CNode {
    name: String,
    zone: Option<String>,
    region: Option<String>,
    #[serde(default)]
    role: Role,
    #[serde(default, deserialize_with = "present")]
    cpu: Option<Option<Cpu>>,
    #[serde(default = "yes")]
    ready: bool,
    kubelet: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
enum Role {
    #[default]
    #[serde(rename = "worker")]
    Worker,
    #[serde(rename = "control-plane")]
    ControlPlane,
    #[serde(rename = "master")]
    Master,
}

fn yes() -> bool {
    true
}

/// Distinguishes an absent field (`None`) from an explicit null (`Some(None)`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A CPU quantity written as a number (`4`, `0.5`) or a string (`"1500m"`), in millicores.
#[derive(Debug, Clone, Copy)]
struct Cpu(u64);

impl<'de> Deserialize<'de> for Cpu {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Cpu;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a CPU quantity such as 4, 0.5 or \"1500m\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Cpu, E> {
                cpu_millis(v).map(Cpu).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Cpu, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Cpu, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Cpu, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CService {
    name: String,
    namespace: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    selector: Option<BTreeMap<String, String>>,
    #[serde(rename = "type", default)]
    service_type: CServiceType,
    #[serde(rename = "clusterIP")]
    cluster_ip: Option<String>,
    ports: Option<Vec<CPort>>,
    #[serde(default)]
    internal_traffic_policy: CPolicy,
    #[serde(default)]
    external_traffic_policy: CPolicy,
    traffic_distribution: Option<String>,
    #[serde(default)]
    topology_keys: Vec<String>,
    #[serde(default)]
    publish_not_ready_addresses: bool,
    #[serde(rename = "externalIPs", default)]
    external_ips: Vec<String>,
    #[serde(rename = "loadBalancerIPs", default)]
    load_balancer_ips: Vec<String>,
    endpoints: Option<Spanned<CEndpoints>>,
}

#[derive(Debug, Default, Deserialize, Clone, Copy)]
enum CServiceType {
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
    ExternalName,
}

#[derive(Debug, Default, Deserialize, Clone, Copy)]
enum CPolicy {
    #[default]
    Cluster,
    Local,
}

impl From<CPolicy> for TrafficPolicy {
    fn from(p: CPolicy) -> Self {
        match p {
            CPolicy::Cluster => TrafficPolicy::Cluster,
            CPolicy::Local => TrafficPolicy::Local,
        }
    }
}

#[derive(Debug, Default, Deserialize, Clone, Copy)]
enum Protocol {
    #[default]
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
    #[serde(rename = "SCTP")]
    Sctp,
}

impl Protocol {
    fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CPort {
    #[serde(default)]
    name: String,
    port: Spanned<u16>,
    #[serde(default)]
    protocol: Protocol,
    target_port: Option<u16>,
    #[serde(default)]
    node_port: u16,
}

/// `endpoints:` of a service: `{node: count}` or a list of detailed endpoints.
#[derive(Debug)]
enum CEndpoints {
    Counts(Vec<(Spanned<String>, u32)>),
    List(Vec<Spanned<CEndpoint>>),
}

impl<'de> Deserialize<'de> for CEndpoints {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CEndpoints;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of node name to endpoint count, or a list of endpoints")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<CEndpoints, A::Error> {
                let mut counts = Vec::new();
                while let Some(entry) = a.next_entry::<Spanned<String>, u32>()? {
                    counts.push(entry);
                }
                Ok(CEndpoints::Counts(counts))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<CEndpoints, A::Error> {
                let mut list = Vec::new();
                while let Some(ep) = a.next_element::<Spanned<CEndpoint>>()? {
                    list.push(ep);
                }
                Ok(CEndpoints::List(list))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CEndpoint {
    node: Option<String>,
    address: Option<String>,
    #[serde(default, deserialize_with = "present")]
    zone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    ready: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    serving: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    terminating: Option<Option<bool>>,
    hints: Option<CHints>,
    pod: Option<String>,
    #[serde(default)]
    topology: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CHints {
    #[serde(default)]
    for_zones: Vec<String>,
    #[serde(default)]
    for_nodes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CSlice {
    name: String,
    namespace: Option<String>,
    service: Option<String>,
    managed_by: Option<String>,
    #[serde(default)]
    address_type: CAddressType,
    ports: Option<Vec<CSlicePort>>,
    #[serde(default)]
    endpoints: Vec<Spanned<CEndpoint>>,
}

#[derive(Debug, Default, Deserialize, Clone, Copy)]
enum CAddressType {
    #[default]
    IPv4,
    IPv6,
    #[serde(rename = "FQDN")]
    Fqdn,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CSlicePort {
    name: Option<String>,
    port: Option<u16>,
    #[serde(default)]
    protocol: Protocol,
}

/// A compact state converted into the model's terms.
pub(crate) struct Converted {
    pub(crate) state: ClusterState,
    pub(crate) version: Option<KubeVersion>,
    pub(crate) gates: Vec<(FeatureGate, bool)>,
}

struct Cx<'o> {
    origin: &'o str,
    /// Next host octet per node index, for generated addresses.
    next_host: Vec<u32>,
    /// Slice ports (target ports) of each service, by `namespace/name`.
    service_ports: BTreeMap<String, Vec<EndpointPort>>,
}

impl Cx<'_> {
    fn at(&self, loc: &Location) -> SourceLocation {
        SourceLocation::new(
            self.origin,
            u32::try_from(loc.line()).unwrap_or(u32::MAX),
            u32::try_from(loc.column()).unwrap_or(u32::MAX),
        )
    }

    fn invalid(&self, loc: &Location, path: String, message: impl Into<String>) -> InputError {
        InputError::InvalidValue {
            at: self.at(loc),
            path,
            message: message.into(),
        }
    }

    fn duplicate(
        &self,
        seen: &mut BTreeMap<String, u32>,
        loc: &Location,
        what: &'static str,
        name: String,
    ) -> Result<(), InputError> {
        let line = u32::try_from(loc.line()).unwrap_or(u32::MAX);
        if let Some(first_line) = seen.get(&name) {
            return Err(InputError::Duplicate {
                at: self.at(loc),
                what,
                name,
                first_line: *first_line,
            });
        }
        seen.insert(name, line);
        Ok(())
    }
}

impl CompactState {
    pub(crate) fn convert(self, origin: &str) -> Result<Converted, InputError> {
        let mut cx = Cx {
            origin,
            next_host: vec![2; self.nodes.len()],
            service_ports: BTreeMap::new(),
        };
        if let Some(api) = &self.api_version {
            if api.value != COMPACT_API_VERSION {
                return Err(cx.invalid(
                    &api.referenced,
                    "apiVersion".into(),
                    format!(
                        "apiVersion `{}` is not supported; expected {COMPACT_API_VERSION}",
                        api.value
                    ),
                ));
            }
        }
        let version = match &self.kubernetes {
            Some(v) => Some(
                v.value
                    .parse::<KubeVersion>()
                    .map_err(|e| cx.invalid(&v.referenced, "kubernetes".into(), e.to_string()))?,
            ),
            None => None,
        };
        let mut gates = Vec::new();
        if let Some(fg) = &self.feature_gates {
            let mut checked = version.map(FeatureGates::defaults);
            for (name, on) in &fg.value {
                let path = super::tree::join_key("featureGates", name);
                let gate = FeatureGate::from_name(name).ok_or_else(|| {
                    cx.invalid(
                        &fg.referenced,
                        path.clone(),
                        crate::model::GateError::Unknown(name.clone()).to_string(),
                    )
                })?;
                if let Some(checked) = checked.as_mut() {
                    checked
                        .set(gate, *on)
                        .map_err(|e| cx.invalid(&fg.referenced, path.clone(), e.to_string()))?;
                }
                gates.push((gate, *on));
            }
        }

        let mut state = ClusterState::empty();
        let mut seen = BTreeMap::new();
        for (i, node) in self.nodes.iter().enumerate() {
            cx.duplicate(&mut seen, &node.referenced, "node", node.value.name.clone())?;
            state.nodes.push(convert_node(
                &cx,
                i,
                &node.value,
                &node.referenced,
                version,
            )?);
        }

        let mut seen_services = BTreeMap::new();
        let mut seen_slices = BTreeMap::new();
        let mut generated = Vec::new();
        for (i, svc) in self.services.iter().enumerate() {
            let path = format!("services[{i}]");
            if let Some((j, port)) = svc
                .value
                .ports
                .iter()
                .flatten()
                .enumerate()
                .find(|(_, p)| p.port.value == 0)
            {
                return Err(cx.invalid(
                    &port.port.referenced,
                    format!("{path}.ports[{j}].port"),
                    "port 0 is out of range 1..=65535",
                ));
            }
            let service = convert_service(i, &svc.value);
            cx.duplicate(
                &mut seen_services,
                &svc.referenced,
                "service",
                service.key(),
            )?;
            cx.service_ports
                .insert(service.key(), slice_ports(&svc.value));
            if let Some(endpoints) = &svc.value.endpoints {
                let slice = generate_slice(
                    &mut cx,
                    &state,
                    &service,
                    &svc.value,
                    endpoints,
                    &format!("{path}.endpoints"),
                )?;
                generated.push((slice, endpoints.referenced));
            }
            state.services.push(service);
        }
        for (slice, loc) in generated {
            let key = format!("{}/{}", slice.namespace, slice.name);
            cx.duplicate(&mut seen_slices, &loc, "EndpointSlice", key)?;
            state.slices.push(slice);
        }
        for (i, slice) in self.slices.iter().enumerate() {
            let converted = convert_slice(&mut cx, &state, &slice.value, &format!("slices[{i}]"))?;
            let key = format!("{}/{}", converted.namespace, converted.name);
            cx.duplicate(&mut seen_slices, &slice.referenced, "EndpointSlice", key)?;
            state.slices.push(converted);
        }
        Ok(Converted {
            state,
            version,
            gates,
        })
    }
}

fn convert_node(
    cx: &Cx<'_>,
    i: usize,
    node: &CNode,
    loc: &Location,
    version: Option<KubeVersion>,
) -> Result<Node, InputError> {
    let path = format!("nodes[{i}]");
    let mut labels = BTreeMap::new();
    labels.insert(LABEL_HOSTNAME.to_string(), node.name.clone());
    match node.role {
        Role::Worker => {}
        Role::ControlPlane => {
            labels.insert(LABEL_CONTROL_PLANE.to_string(), String::new());
        }
        Role::Master => {
            labels.insert(LABEL_MASTER.to_string(), String::new());
        }
    }
    for (key, value) in [(LABEL_ZONE, &node.zone), (LABEL_REGION, &node.region)] {
        if let Some(value) = value {
            if let Some(other) = node.labels.get(key).filter(|v| *v != value) {
                return Err(cx.invalid(
                    loc,
                    path,
                    format!("label {key}=`{other}` contradicts the shorthand `{value}`"),
                ));
            }
            labels.insert(key.to_string(), value.clone());
        }
    }
    labels.extend(node.labels.clone());
    let kubelet_version = match &node.kubelet {
        Some(text) => Some(KubeVersion::from_kubelet(text).ok_or_else(|| {
            cx.invalid(
                loc,
                format!("{path}.kubelet"),
                format!("`{text}` is not a kubelet version; expected e.g. v1.33.1 or 1.33"),
            )
        })?),
        None => version,
    };
    Ok(Node {
        name: node.name.clone(),
        labels,
        allocatable_cpu_millis: match node.cpu {
            None => Some(DEFAULT_NODE_CPU_MILLIS),
            Some(cpu) => cpu.map(|c| c.0),
        },
        ready: node.ready,
        kubelet_version,
    })
}

fn convert_service(i: usize, svc: &CService) -> Service {
    let selector = match &svc.selector {
        None => Some(BTreeMap::from([("app".to_string(), svc.name.clone())])),
        Some(s) if s.is_empty() => None,
        Some(s) => Some(s.clone()),
    };
    let service_type = match svc.service_type {
        CServiceType::ClusterIP => ServiceType::ClusterIp,
        CServiceType::NodePort => ServiceType::NodePort,
        CServiceType::LoadBalancer => ServiceType::LoadBalancer,
        CServiceType::ExternalName => ServiceType::ExternalName,
    };
    let n = 10 + i;
    let cluster_ip = match (&svc.cluster_ip, service_type) {
        (Some(ip), _) => Some(ip.clone()),
        (None, ServiceType::ExternalName) => None,
        (None, _) => Some(format!("10.96.{}.{}", n / 256, n % 256)),
    };
    let ports = match &svc.ports {
        None => vec![ServicePort {
            name: String::new(),
            port: 80,
            protocol: "TCP".into(),
            node_port: 0,
        }],
        Some(ports) => ports
            .iter()
            .map(|p| ServicePort {
                name: p.name.clone(),
                port: p.port.value,
                protocol: p.protocol.as_str().into(),
                node_port: p.node_port,
            })
            .collect(),
    };
    Service {
        namespace: svc.namespace.clone().unwrap_or_else(|| "default".into()),
        name: svc.name.clone(),
        annotations: svc.annotations.clone(),
        selector,
        service_type,
        cluster_ip,
        ports,
        internal_traffic_policy: svc.internal_traffic_policy.into(),
        external_traffic_policy: svc.external_traffic_policy.into(),
        traffic_distribution: svc
            .traffic_distribution
            .as_deref()
            .map(TrafficDistribution::from),
        topology_keys: svc.topology_keys.clone(),
        publish_not_ready_addresses: svc.publish_not_ready_addresses,
        external_ips: svc.external_ips.clone(),
        load_balancer_ips: svc.load_balancer_ips.clone(),
    }
}

/// The slice ports of a service: target ports, named like the service ports.
fn slice_ports(svc: &CService) -> Vec<EndpointPort> {
    match &svc.ports {
        None => vec![EndpointPort {
            name: Some(String::new()),
            port: Some(80),
            protocol: "TCP".into(),
        }],
        Some(ports) => ports
            .iter()
            .map(|p| EndpointPort {
                name: Some(p.name.clone()),
                port: Some(p.target_port.unwrap_or(p.port.value)),
                protocol: p.protocol.as_str().into(),
            })
            .collect(),
    }
}

/// A generated address `10.244.<node index>.<n>`, unique across the whole state.
fn next_address(
    cx: &mut Cx<'_>,
    state: &ClusterState,
    node: &str,
    loc: &Location,
    path: &str,
) -> Result<String, InputError> {
    let index = state
        .nodes
        .iter()
        .position(|n| n.name == node)
        .ok_or_else(|| {
            cx.invalid(
                loc,
                path.to_string(),
                format!(
                    "unknown node `{node}`; nodes are: {}",
                    state
                        .nodes
                        .iter()
                        .map(|n| n.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
    let host = cx.next_host.get(index).copied().unwrap_or(255);
    if index > 255 || host > 254 {
        return Err(cx.invalid(
            loc,
            path.to_string(),
            "too many generated addresses (at most 256 nodes and 253 endpoints per node); write `address:` explicitly",
        ));
    }
    if let Some(next) = cx.next_host.get_mut(index) {
        *next += 1;
    }
    Ok(format!("10.244.{index}.{host}"))
}

fn generate_slice(
    cx: &mut Cx<'_>,
    state: &ClusterState,
    service: &Service,
    svc: &CService,
    endpoints: &Spanned<CEndpoints>,
    path: &str,
) -> Result<EndpointSlice, InputError> {
    let mut out = Vec::new();
    let mut ordinals: BTreeMap<String, u32> = BTreeMap::new();
    let mut pod_name = |node: &str| {
        let n = ordinals.entry(node.to_string()).or_insert(0);
        *n += 1;
        format!("{}-{node}-{n}", service.name)
    };
    match &endpoints.value {
        CEndpoints::Counts(counts) => {
            for (node, count) in counts {
                let p = super::tree::join_key(path, &node.value);
                for _ in 0..*count {
                    let address = next_address(cx, state, &node.value, &node.referenced, &p)?;
                    let zone = state
                        .node(&node.value)
                        .and_then(|n| n.zone())
                        .map(str::to_string);
                    out.push(Endpoint {
                        addresses: vec![address],
                        ready: Some(true),
                        serving: Some(true),
                        terminating: Some(false),
                        node_name: Some(node.value.clone()),
                        zone,
                        hints: None,
                        topology: BTreeMap::new(),
                        pod: Some(pod_name(&node.value)),
                    });
                }
            }
        }
        CEndpoints::List(list) => {
            for (i, ep) in list.iter().enumerate() {
                let p = format!("{path}[{i}]");
                if ep.value.node.is_none() {
                    return Err(InputError::Missing {
                        at: cx.at(&ep.referenced),
                        path: format!("{p}.node"),
                    });
                }
                let mut endpoint = convert_endpoint(
                    cx,
                    state,
                    &ep.value,
                    &ep.referenced,
                    &p,
                    svc.publish_not_ready_addresses,
                )?;
                if endpoint.pod.is_none() {
                    endpoint.pod = endpoint.node_name.as_deref().map(&mut pod_name);
                }
                out.push(endpoint);
            }
        }
    }
    let managed_by = if service.selector.is_some() {
        MANAGED_BY_CONTROLLER
    } else {
        MANAGED_BY_COMPACT
    };
    Ok(EndpointSlice {
        namespace: service.namespace.clone(),
        name: format!("{}-generated", service.name),
        service_name: Some(service.name.clone()),
        managed_by: Some(managed_by.to_string()),
        address_type: AddressType::IPv4,
        ports: slice_ports(svc),
        endpoints: out,
    })
}

fn convert_endpoint(
    cx: &mut Cx<'_>,
    state: &ClusterState,
    ep: &CEndpoint,
    loc: &Location,
    path: &str,
    publish_not_ready: bool,
) -> Result<Endpoint, InputError> {
    let address = match (&ep.address, &ep.node) {
        (Some(a), _) => a.clone(),
        (None, Some(node)) => next_address(cx, state, node, loc, &format!("{path}.node"))?,
        (None, None) => {
            return Err(cx.invalid(
                loc,
                path.to_string(),
                "an endpoint needs `node` (to generate an address) or `address`",
            ))
        }
    };
    if let Some(node) = &ep.node {
        if state.node(node).is_none() {
            return Err(cx.invalid(
                loc,
                format!("{path}.node"),
                format!("unknown node `{node}`"),
            ));
        }
    }
    let terminating = ep.terminating.unwrap_or(Some(false));
    let serving = ep.serving.unwrap_or(match ep.ready {
        Some(Some(ready)) => Some(ready || terminating == Some(true)),
        _ => Some(true),
    });
    let ready = ep.ready.unwrap_or(Some(
        publish_not_ready || (serving != Some(false) && terminating != Some(true)),
    ));
    let zone = match &ep.zone {
        Some(z) => z.clone(),
        None => ep
            .node
            .as_deref()
            .and_then(|n| state.node(n))
            .and_then(|n| n.zone())
            .map(str::to_string),
    };
    Ok(Endpoint {
        addresses: vec![address],
        ready,
        serving,
        terminating,
        node_name: ep.node.clone(),
        zone,
        hints: ep.hints.as_ref().map(|h| Hints {
            for_zones: h.for_zones.clone(),
            for_nodes: h.for_nodes.clone(),
        }),
        topology: ep.topology.clone(),
        pod: ep.pod.clone(),
    })
}

fn convert_slice(
    cx: &mut Cx<'_>,
    state: &ClusterState,
    slice: &CSlice,
    path: &str,
) -> Result<EndpointSlice, InputError> {
    let namespace = slice.namespace.clone().unwrap_or_else(|| "default".into());
    let ports = match &slice.ports {
        Some(ports) => ports
            .iter()
            .map(|p| EndpointPort {
                name: p.name.clone(),
                port: p.port,
                protocol: p.protocol.as_str().into(),
            })
            .collect(),
        None => slice
            .service
            .as_ref()
            .and_then(|name| cx.service_ports.get(&format!("{namespace}/{name}")))
            .cloned()
            .unwrap_or_default(),
    };
    let publish_not_ready = state
        .services
        .iter()
        .find(|s| s.namespace == namespace && Some(&s.name) == slice.service.as_ref())
        .is_some_and(|s| s.publish_not_ready_addresses);
    let mut endpoints = Vec::new();
    for (i, ep) in slice.endpoints.iter().enumerate() {
        endpoints.push(convert_endpoint(
            cx,
            state,
            &ep.value,
            &ep.referenced,
            &format!("{path}.endpoints[{i}]"),
            publish_not_ready,
        )?);
    }
    Ok(EndpointSlice {
        namespace,
        name: slice.name.clone(),
        service_name: slice.service.clone(),
        managed_by: slice.managed_by.clone(),
        address_type: match slice.address_type {
            CAddressType::IPv4 => AddressType::IPv4,
            CAddressType::IPv6 => AddressType::IPv6,
            CAddressType::Fqdn => AddressType::Fqdn,
        },
        ports,
        endpoints,
    })
}
