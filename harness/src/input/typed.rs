//! The fast path for kubectl dumps: one typed pass from the text to the model.
//!
//! The input is deserialized straight into structs holding only the fields the model reads
//! (borrowing strings from the text where the format allows), for JSON with `serde_json` and
//! for YAML with `serde-saphyr`, then converted with the same rules as `kube.rs`. Scalars are
//! read through `deserialize_any`, exactly as the located tree is built, so a value the located
//! reader rejects (a number where a string belongs, a quoted port) is rejected here too.
//!
//! When anything is wrong this path gives up without a message ([`Rejected`]) and the caller
//! runs the located reader (`tree.rs`, `kube.rs`), which finds the problem again and reports it
//! with file, line, column and field path. Positions are therefore only computed for input that
//! fails, and every message stays what the located reader says.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use super::quantity::cpu_millis;
use crate::model::{
    AddressType, ClusterState, Endpoint, EndpointPort, EndpointSlice, Hints, KubeVersion, Node,
    Service, ServicePort, ServiceType, TrafficDistribution, TrafficPolicy, LABEL_HOSTNAME,
    LABEL_MANAGED_BY, LABEL_SERVICE_NAME, LABEL_ZONE,
};

/// The fast path cannot take this input (an error, a compact state, anything unusual): the
/// located reader decides.
#[derive(Debug)]
pub(crate) struct Rejected;

impl<E: de::Error> From<E> for Rejected {
    fn from(_: E) -> Self {
        Rejected
    }
}

/// Reads a kubectl JSON dump in one typed pass. A `List` is converted item by item as it is
/// parsed, so the parsed items never sit in memory all together (peak memory stays near the
/// input plus the model).
pub(crate) fn load_json(text: &str) -> Result<ClusterState, Rejected> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut collector = Collector::default();
    let mut de = serde_json::Deserializer::from_str(text);
    let list = de::DeserializeSeed::deserialize(StreamedList(&mut collector), &mut de);
    match list {
        Ok(Some(kind)) => {
            de.end().map_err(|_| Rejected)?;
            collector.check_item_kinds(&kind)?;
            Ok(collector.state)
        }
        // Not a list (one object): small, parsed whole.
        Ok(None) => {
            let doc: Object<'_> = serde_json::from_str(text).map_err(|_| Rejected)?;
            let mut collector = Collector::default();
            collector.document(doc)?;
            Ok(collector.state)
        }
        Err(_) => Err(Rejected),
    }
}

/// The list kinds a dump may be, with the kind of item each implies.
fn list_kind(kind: &str) -> Option<Option<&'static str>> {
    match kind {
        "List" => Some(None),
        "NodeList" => Some(Some("Node")),
        "ServiceList" => Some(Some("Service")),
        "EndpointSliceList" => Some(Some("EndpointSlice")),
        _ => None,
    }
}

/// A top-level document read as a list, its items converted as they come: the list's kind
/// when it is one, `None` when it is not (the caller then reads it as one object).
struct StreamedList<'c>(&'c mut Collector);

impl<'de> de::DeserializeSeed<'de> for StreamedList<'_> {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for StreamedList<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a kubectl List")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut kind: Option<String> = None;
        let mut items = false;
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match key.0.as_ref() {
                "kind" => {
                    let value: Str<'de> = map.next_value()?;
                    if kind.replace(value.owned()).is_some() {
                        return Err(de::Error::custom("duplicate kind"));
                    }
                }
                "items" if !items => {
                    items = true;
                    // The list's kind, when it came before its items (the API server's order;
                    // kubectl sorts keys, and then every item names its own kind).
                    let implied = match kind.as_deref().map(list_kind) {
                        Some(Some(implied)) => implied,
                        Some(None) => return Ok(None),
                        None => None,
                    };
                    map.next_value_seed(Items {
                        collector: &mut *self.0,
                        implied,
                    })?;
                }
                "items" => return Err(de::Error::custom("duplicate items")),
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        match kind {
            Some(kind) if items && list_kind(&kind).is_some() => Ok(Some(kind)),
            _ => Ok(None),
        }
    }
}

/// The `items` of a list, each converted into the collector as soon as it is parsed.
struct Items<'c> {
    collector: &'c mut Collector,
    implied: Option<&'static str>,
}

impl<'de> de::DeserializeSeed<'de> for Items<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Items<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of objects")
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let rejected = |_| de::Error::custom("rejected");
        while let Some(item) = seq.next_element::<Object<'de>>()? {
            let kind = match (text(&item.kind), self.implied) {
                (Some(k), _) => k.to_string(),
                (None, Some(k)) => k.to_string(),
                (None, None) => return Err(de::Error::custom("item without a kind")),
            };
            self.collector.item_kinds.insert(kind.clone());
            self.collector.object(item, &kind).map_err(rejected)?;
        }
        Ok(())
    }
}

/// Reads a kubectl YAML dump (one or more documents) in one typed pass. A syntax error is
/// handed back (the located reader may not afford to re-read a large document).
pub(crate) fn load_yaml(
    text: &str,
) -> Result<ClusterState, (Rejected, Option<serde_saphyr::Error>)> {
    let docs: Vec<Object<'_>> =
        serde_saphyr::from_multiple_with_options(text, super::typed_options(text.len()))
            .map_err(|e| (Rejected, Some(e)))?;
    load_docs(docs).map_err(|r| (r, None))
}

fn load_docs(docs: Vec<Object<'_>>) -> Result<ClusterState, Rejected> {
    if docs.is_empty() {
        return Err(Rejected);
    }
    let mut collector = Collector::default();
    for doc in docs {
        collector.document(doc)?;
    }
    Ok(collector.state)
}

/// A string scalar (no number or boolean stands in for it), borrowed from the text when it
/// has no escapes.
#[derive(Debug)]
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_any(V)
    }
}

impl Str<'_> {
    fn owned(&self) -> String {
        self.0.as_ref().to_string()
    }
}

/// An integer scalar.
struct Int(i128);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Int, E> {
                Ok(Int(v.into()))
            }
            fn visit_i128<E>(self, v: i128) -> Result<Int, E> {
                Ok(Int(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl Int {
    fn port(&self, min: u16) -> Result<u16, Rejected> {
        u16::try_from(self.0)
            .ok()
            .filter(|p| *p >= min)
            .ok_or(Rejected)
    }
}

/// A boolean scalar.
struct Bool(bool);

impl<'de> Deserialize<'de> for Bool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Bool;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Bool, E> {
                Ok(Bool(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// A mapping of strings to strings; a repeated key is an error.
#[derive(Default)]
struct StrMap(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for StrMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<StrMap, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = a.next_key::<Str<'de>>()? {
                    let value: Str<'de> = a.next_value()?;
                    if out
                        .insert(key.0.into_owned(), value.0.into_owned())
                        .is_some()
                    {
                        return Err(de::Error::custom("duplicate key"));
                    }
                }
                Ok(StrMap(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Any object of a dump: the union of the fields of Lists, Nodes, Services and EndpointSlices
/// that the model reads.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Object<'a> {
    #[serde(borrow)]
    kind: Option<Str<'a>>,
    #[serde(borrow)]
    api_version: Option<Str<'a>>,
    #[serde(borrow)]
    items: Option<Vec<Object<'a>>>,
    #[serde(borrow)]
    metadata: Option<Meta<'a>>,
    #[serde(borrow)]
    spec: Option<Spec<'a>>,
    #[serde(borrow)]
    status: Option<Status<'a>>,
    #[serde(borrow)]
    address_type: Option<Str<'a>>,
    #[serde(borrow)]
    ports: Option<Vec<Port<'a>>>,
    #[serde(borrow)]
    endpoints: Option<Vec<Ep<'a>>>,
}

#[derive(serde::Deserialize)]
struct Meta<'a> {
    #[serde(borrow)]
    name: Option<Str<'a>>,
    #[serde(borrow)]
    namespace: Option<Str<'a>>,
    labels: Option<StrMap>,
    annotations: Option<StrMap>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec<'a> {
    selector: Option<StrMap>,
    #[serde(borrow, rename = "type")]
    service_type: Option<Str<'a>>,
    #[serde(borrow, rename = "clusterIP")]
    cluster_ip: Option<Str<'a>>,
    #[serde(borrow)]
    ports: Option<Vec<Port<'a>>>,
    #[serde(borrow)]
    internal_traffic_policy: Option<Str<'a>>,
    #[serde(borrow)]
    external_traffic_policy: Option<Str<'a>>,
    #[serde(borrow)]
    traffic_distribution: Option<Str<'a>>,
    #[serde(borrow)]
    topology_keys: Option<Vec<Str<'a>>>,
    publish_not_ready_addresses: Option<Bool>,
    #[serde(borrow, rename = "externalIPs")]
    external_ips: Option<Vec<Str<'a>>>,
}

/// A Service port or an EndpointSlice port.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Port<'a> {
    #[serde(borrow)]
    name: Option<Str<'a>>,
    port: Option<Int>,
    #[serde(borrow)]
    protocol: Option<Str<'a>>,
    node_port: Option<Int>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status<'a> {
    #[serde(borrow)]
    allocatable: Option<Allocatable<'a>>,
    #[serde(borrow)]
    conditions: Option<Vec<Condition<'a>>>,
    #[serde(borrow)]
    node_info: Option<NodeInfo<'a>>,
    #[serde(borrow)]
    load_balancer: Option<LoadBalancer<'a>>,
}

#[derive(serde::Deserialize)]
struct Allocatable<'a> {
    #[serde(borrow)]
    cpu: Option<Str<'a>>,
}

#[derive(serde::Deserialize)]
struct Condition<'a> {
    #[serde(borrow, rename = "type")]
    kind: Option<Str<'a>>,
    #[serde(borrow)]
    status: Option<Str<'a>>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct NodeInfo<'a> {
    #[serde(borrow)]
    kubelet_version: Option<Str<'a>>,
}

#[derive(serde::Deserialize)]
struct LoadBalancer<'a> {
    #[serde(borrow)]
    ingress: Option<Vec<Ingress<'a>>>,
}

#[derive(serde::Deserialize)]
struct Ingress<'a> {
    #[serde(borrow)]
    ip: Option<Str<'a>>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ep<'a> {
    #[serde(borrow)]
    addresses: Option<Vec<Str<'a>>>,
    conditions: Option<Conditions>,
    #[serde(borrow)]
    node_name: Option<Str<'a>>,
    #[serde(borrow)]
    zone: Option<Str<'a>>,
    topology: Option<StrMap>,
    deprecated_topology: Option<StrMap>,
    #[serde(borrow)]
    hints: Option<EpHints<'a>>,
    #[serde(borrow)]
    target_ref: Option<TargetRef<'a>>,
}

#[derive(serde::Deserialize)]
struct Conditions {
    ready: Option<Bool>,
    serving: Option<Bool>,
    terminating: Option<Bool>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct EpHints<'a> {
    #[serde(borrow)]
    for_zones: Option<Vec<HintName<'a>>>,
    #[serde(borrow)]
    for_nodes: Option<Vec<HintName<'a>>>,
}

#[derive(serde::Deserialize)]
struct HintName<'a> {
    #[serde(borrow)]
    name: Option<Str<'a>>,
}

#[derive(serde::Deserialize)]
struct TargetRef<'a> {
    #[serde(borrow)]
    kind: Option<Str<'a>>,
    #[serde(borrow)]
    name: Option<Str<'a>>,
}

fn text<'s>(value: &'s Option<Str<'_>>) -> Option<&'s str> {
    value.as_ref().map(|s| s.0.as_ref())
}

fn owned(value: &Option<Str<'_>>) -> Option<String> {
    value.as_ref().map(Str::owned)
}

fn strings(list: &Option<Vec<Str<'_>>>) -> Vec<String> {
    list.iter().flatten().map(Str::owned).collect()
}

/// Collects objects; a repeated name sends the input to the located reader (which names the
/// line of the first one).
struct Collector {
    state: ClusterState,
    /// Kinds of the items of a streamed list, checked against the list's kind at its end.
    item_kinds: BTreeSet<String>,
    nodes: BTreeSet<String>,
    services: BTreeSet<String>,
    slices: BTreeSet<String>,
}

impl Default for Collector {
    fn default() -> Self {
        Collector {
            state: ClusterState::empty(),
            item_kinds: BTreeSet::new(),
            nodes: BTreeSet::new(),
            services: BTreeSet::new(),
            slices: BTreeSet::new(),
        }
    }
}

impl Collector {
    /// A typed list (`NodeList`, …) holds only its kind of item.
    fn check_item_kinds(&self, list: &str) -> Result<(), Rejected> {
        match list_kind(list) {
            Some(Some(implied)) if self.item_kinds.iter().any(|k| k != implied) => Err(Rejected),
            Some(_) => Ok(()),
            None => Err(Rejected),
        }
    }

    fn document(&mut self, doc: Object<'_>) -> Result<(), Rejected> {
        let kind = doc.kind.as_ref().ok_or(Rejected)?.0.clone();
        match kind.as_ref() {
            "List" | "NodeList" | "ServiceList" | "EndpointSliceList" => {
                let implied = match kind.as_ref() {
                    "NodeList" => Some("Node"),
                    "ServiceList" => Some("Service"),
                    "EndpointSliceList" => Some("EndpointSlice"),
                    _ => None,
                };
                for item in doc.items.into_iter().flatten() {
                    let item_kind = match (text(&item.kind), implied) {
                        (Some(k), Some(implied)) if k != implied => return Err(Rejected),
                        (Some(k), _) => k.to_string(),
                        (None, Some(k)) => k.to_string(),
                        (None, None) => return Err(Rejected),
                    };
                    self.object(item, &item_kind)?;
                }
                Ok(())
            }
            other => {
                let other = other.to_string();
                self.object(doc, &other)
            }
        }
    }

    fn object(&mut self, obj: Object<'_>, kind: &str) -> Result<(), Rejected> {
        match kind {
            "Node" => {
                api_version(&obj, &["v1"])?;
                let node = read_node(obj)?;
                if !self.nodes.insert(node.name.clone()) {
                    return Err(Rejected);
                }
                self.state.nodes.push(node);
            }
            "Service" => {
                api_version(&obj, &["v1"])?;
                let service = read_service(obj)?;
                if !self.services.insert(service.key()) {
                    return Err(Rejected);
                }
                self.state.services.push(service);
            }
            "EndpointSlice" => {
                let api = api_version(&obj, &["discovery.k8s.io/v1", "discovery.k8s.io/v1beta1"])?;
                let beta = api == Some("discovery.k8s.io/v1beta1");
                let slice = read_slice(obj, beta)?;
                if !self
                    .slices
                    .insert(format!("{}/{}", slice.namespace, slice.name))
                {
                    return Err(Rejected);
                }
                self.state.slices.push(slice);
            }
            _ => return Err(Rejected),
        }
        Ok(())
    }
}

fn api_version<'o>(obj: &'o Object<'_>, accepted: &[&str]) -> Result<Option<&'o str>, Rejected> {
    match text(&obj.api_version) {
        None => Ok(None),
        Some(v) if accepted.contains(&v) => Ok(Some(v)),
        Some(_) => Err(Rejected),
    }
}

struct MetaOut {
    name: String,
    namespace: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

fn metadata(meta: Option<Meta<'_>>) -> Result<MetaOut, Rejected> {
    let meta = meta.ok_or(Rejected)?;
    let name = text(&meta.name).filter(|n| !n.is_empty()).ok_or(Rejected)?;
    Ok(MetaOut {
        name: name.to_string(),
        namespace: text(&meta.namespace)
            .filter(|ns| !ns.is_empty())
            .unwrap_or("default")
            .to_string(),
        labels: meta.labels.unwrap_or_default().0,
        annotations: meta.annotations.unwrap_or_default().0,
    })
}

fn read_node(obj: Object<'_>) -> Result<Node, Rejected> {
    let meta = metadata(obj.metadata)?;
    let mut allocatable_cpu_millis = None;
    let mut ready = false;
    let mut kubelet_version = None;
    if let Some(status) = obj.status {
        if let Some(cpu) = status.allocatable.as_ref().and_then(|a| text(&a.cpu)) {
            allocatable_cpu_millis = Some(cpu_millis(cpu).map_err(|_| Rejected)?);
        }
        // The located reader checks conditions only up to the first Ready one.
        for condition in status.conditions.iter().flatten() {
            if text(&condition.kind) == Some("Ready") {
                ready = text(&condition.status) == Some("True");
                break;
            }
        }
        kubelet_version = status
            .node_info
            .as_ref()
            .and_then(|i| text(&i.kubelet_version))
            .and_then(KubeVersion::from_kubelet);
    }
    Ok(Node {
        name: meta.name,
        labels: meta.labels,
        allocatable_cpu_millis,
        ready,
        kubelet_version,
    })
}

fn traffic_policy(value: &Option<Str<'_>>) -> Result<TrafficPolicy, Rejected> {
    match text(value) {
        None | Some("Cluster") => Ok(TrafficPolicy::Cluster),
        Some("Local") => Ok(TrafficPolicy::Local),
        Some(_) => Err(Rejected),
    }
}

fn protocol(value: &Option<Str<'_>>) -> Result<String, Rejected> {
    match text(value) {
        None => Ok("TCP".to_string()),
        Some(p @ ("TCP" | "UDP" | "SCTP")) => Ok(p.to_string()),
        Some(_) => Err(Rejected),
    }
}

fn read_service(obj: Object<'_>) -> Result<Service, Rejected> {
    let meta = metadata(obj.metadata)?;
    let mut service = Service {
        annotations: meta.annotations,
        ..Service::new(&meta.namespace, &meta.name)
    };
    if let Some(spec) = obj.spec {
        service.selector = spec.selector.map(|s| s.0).filter(|s| !s.is_empty());
        if let Some(t) = text(&spec.service_type) {
            service.service_type = match t {
                "ClusterIP" => ServiceType::ClusterIp,
                "NodePort" => ServiceType::NodePort,
                "LoadBalancer" => ServiceType::LoadBalancer,
                "ExternalName" => ServiceType::ExternalName,
                _ => return Err(Rejected),
            };
        }
        service.cluster_ip = owned(&spec.cluster_ip).filter(|ip| !ip.is_empty());
        for port in spec.ports.iter().flatten() {
            service.ports.push(ServicePort {
                name: owned(&port.name).unwrap_or_default(),
                port: port.port.as_ref().ok_or(Rejected)?.port(1)?,
                protocol: protocol(&port.protocol)?,
                node_port: port
                    .node_port
                    .as_ref()
                    .map(|p| p.port(0))
                    .transpose()?
                    .unwrap_or(0),
            });
        }
        service.internal_traffic_policy = traffic_policy(&spec.internal_traffic_policy)?;
        service.external_traffic_policy = traffic_policy(&spec.external_traffic_policy)?;
        service.traffic_distribution =
            text(&spec.traffic_distribution).map(TrafficDistribution::from);
        service.topology_keys = strings(&spec.topology_keys);
        service.publish_not_ready_addresses = spec.publish_not_ready_addresses.is_some_and(|b| b.0);
        service.external_ips = strings(&spec.external_ips);
    }
    if let Some(lb) = obj.status.and_then(|s| s.load_balancer) {
        for ingress in lb.ingress.iter().flatten() {
            if let Some(ip) = owned(&ingress.ip) {
                service.load_balancer_ips.push(ip);
            }
        }
    }
    Ok(service)
}

fn read_slice(obj: Object<'_>, beta: bool) -> Result<EndpointSlice, Rejected> {
    let meta = metadata(obj.metadata)?;
    let address_type = match text(&obj.address_type) {
        Some("IPv4") => AddressType::IPv4,
        Some("IPv6") => AddressType::IPv6,
        Some("FQDN") => AddressType::Fqdn,
        _ => return Err(Rejected),
    };
    let mut ports = Vec::new();
    for port in obj.ports.iter().flatten() {
        ports.push(EndpointPort {
            name: owned(&port.name),
            port: port.port.as_ref().map(|p| p.port(0)).transpose()?,
            protocol: protocol(&port.protocol)?,
        });
    }
    let mut endpoints = Vec::new();
    for ep in obj.endpoints.into_iter().flatten() {
        endpoints.push(read_endpoint(ep, beta)?);
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

fn read_endpoint(ep: Ep<'_>, beta: bool) -> Result<Endpoint, Rejected> {
    let mut endpoint = Endpoint {
        addresses: ep
            .addresses
            .as_ref()
            .ok_or(Rejected)?
            .iter()
            .map(Str::owned)
            .collect(),
        ..Endpoint::default()
    };
    if let Some(conditions) = &ep.conditions {
        endpoint.ready = conditions.ready.as_ref().map(|b| b.0);
        endpoint.serving = conditions.serving.as_ref().map(|b| b.0);
        endpoint.terminating = conditions.terminating.as_ref().map(|b| b.0);
    }
    endpoint.node_name = owned(&ep.node_name);
    if beta {
        endpoint.topology = ep.topology.unwrap_or_default().0;
        if endpoint.node_name.is_none() {
            endpoint.node_name = endpoint.topology.get(LABEL_HOSTNAME).cloned();
        }
        endpoint.zone = endpoint.topology.get(LABEL_ZONE).cloned();
    } else {
        endpoint.zone = owned(&ep.zone);
        endpoint.topology = ep.deprecated_topology.unwrap_or_default().0;
    }
    if let Some(hints) = &ep.hints {
        let names = |list: &Option<Vec<HintName<'_>>>| -> Result<Vec<String>, Rejected> {
            list.iter()
                .flatten()
                .map(|h| owned(&h.name).ok_or(Rejected))
                .collect()
        };
        endpoint.hints = Some(Hints {
            for_zones: names(&hints.for_zones)?,
            for_nodes: names(&hints.for_nodes)?,
        });
    }
    if let Some(target) = &ep.target_ref {
        if text(&target.kind) == Some("Pod") {
            endpoint.pod = owned(&target.name);
        }
    }
    Ok(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: &str = r#"{"metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "a"}}, "status": {"allocatable": {"cpu": "2"}}}"#;

    fn node_names(state: &ClusterState) -> Vec<&str> {
        state.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    /// kubectl sorts keys (`items` before `kind`, every item naming its kind); the API server
    /// writes `kind` first and may leave the items' kind out. Both stream.
    #[test]
    fn lists_stream_in_either_key_order() {
        let kubectl = format!(
            r#"{{"apiVersion": "v1", "items": [{{"apiVersion": "v1", "kind": "Node", {}], "kind": "List", "metadata": {{}}}}"#,
            &NODE[1..]
        );
        assert_eq!(node_names(&load_json(&kubectl).unwrap()), ["n1"]);
        let api = format!(
            r#"{{"kind": "NodeList", "apiVersion": "v1", "metadata": {{"resourceVersion": "1"}}, "items": [{NODE}]}}"#
        );
        let state = load_json(&api).unwrap();
        assert_eq!(node_names(&state), ["n1"]);
        assert_eq!(state.nodes[0].zone(), Some("a"));
    }

    /// What the streamed pass cannot decide goes to the located reader, as before.
    #[test]
    fn streamed_lists_reject_what_they_cannot_decide() {
        // Items without a kind, before the list's kind is known.
        let kindless_first = format!(r#"{{"items": [{NODE}], "kind": "NodeList"}}"#);
        assert!(load_json(&kindless_first).is_err());
        // A typed list holding another kind of item (its kind only known at the end).
        let mixed = format!(
            r#"{{"items": [{{"kind": "Service", {}], "kind": "NodeList"}}"#,
            &NODE[1..]
        );
        assert!(load_json(&mixed).is_err());
        // Not a list at all: read as one object.
        let single = format!(r#"{{"kind": "Node", "apiVersion": "v1", {}"#, &NODE[1..]);
        assert_eq!(node_names(&load_json(&single).unwrap()), ["n1"]);
        // Trailing garbage after the list.
        let trailing = format!(r#"{{"kind": "NodeList", "items": [{NODE}]}} x"#);
        assert!(load_json(&trailing).is_err());
    }
}
