//! The case file format (`apiVersion: topo-harness/v1alpha1`, `kind: Case`), as written.
//!
//! These types are read strictly (unknown fields are errors) and converted once, after
//! validation, into [`super::Case`]. The JSON Schema in `harness/schema/case.json` is generated
//! from them (`topo-harness schema`).
//!
//! Naming: fields that mirror a Kubernetes API field keep its spelling (`apiVersion`,
//! `trafficDistribution`, `internalTrafficPolicy`, `externalTrafficPolicy`, `topologyKeys`,
//! `publishNotReadyAddresses`, `type`); the harness's own fields are `snake_case`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::bounds::Count;
use super::located::{Located, LocatedMap};

/// The `apiVersion` of case files.
pub const CASE_API_VERSION: &str = "topo-harness/v1alpha1";

/// A case file: a topology, a Service, and ordered steps.
#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "topo-harness case")]
pub struct CaseFile {
    /// Always `topo-harness/v1alpha1`.
    #[serde(rename = "apiVersion")]
    #[schemars(extend("const" = "topo-harness/v1alpha1"))]
    pub api_version: Located<String>,
    /// Always `Case`.
    #[schemars(extend("const" = "Case"))]
    pub kind: Located<String>,
    /// Unique name of the case (lower-case letters, digits and `-`); names reports and snapshots.
    pub name: Located<String>,
    /// One sentence: what the case shows.
    pub summary: String,
    /// Where the scenario comes from: a seed file, an upstream doc or test.
    pub source: String,
    /// Kubernetes versions the case applies to, e.g. `">=1.27"`, `"1.21"`, `">=1.23, <1.30"`,
    /// `"*"` (the default: every version the model covers, 1.21–1.37).
    #[serde(default)]
    pub kubernetes: Option<Located<String>>,
    /// The conformance profile the case belongs to (default `core`); a conformance report
    /// gives one result per profile, and `run --profile` runs one.
    #[serde(default)]
    pub profile: Option<super::Profile>,
    /// The cluster's nodes and feature gates.
    pub cluster: ClusterSpec,
    /// The Service under test, created with the first step.
    #[serde(default)]
    pub service: ServicePatch,
    /// Ordered steps; each changes the cluster and states what must hold.
    pub steps: Vec<Located<StepSpec>>,
}

/// The cluster shape.
#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// The nodes, in order.
    pub nodes: Vec<Located<NodeSpec>>,
    /// Feature gates set on every component. A setting applies to the versions where the gate
    /// can be set; a version where the gate is absent or locked to the other value is skipped
    /// (with the reason) unless the behaviour there already equals the setting.
    #[serde(default)]
    pub feature_gates: LocatedMap<bool>,
    /// kube-controller-manager `--max-endpoints-per-slice` (default 100).
    #[serde(default)]
    pub max_endpoints_per_slice: Option<Located<Count>>,
}

/// A node's role.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, JsonSchema)]
pub enum RoleSpec {
    /// A worker node (the default).
    #[default]
    #[serde(rename = "worker")]
    Worker,
    /// A control-plane node (`node-role.kubernetes.io/control-plane`).
    #[serde(rename = "control-plane")]
    ControlPlane,
}

/// One node.
#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Node name (as in kind: `control-plane`, `worker`, `worker2`, …).
    pub name: Located<String>,
    /// `worker` (default) or `control-plane`.
    #[serde(default)]
    pub role: RoleSpec,
    /// `topology.kubernetes.io/zone`; absent = no zone label.
    #[serde(default)]
    pub zone: Option<String>,
    /// `topology.kubernetes.io/region`; absent = no region label.
    #[serde(default)]
    pub region: Option<String>,
    /// Allocatable CPU (Kubernetes quantity, `"2"`, `"500m"`, or a number); default `1`.
    #[serde(default)]
    pub cpu: Option<Located<Quantity>>,
    /// Whether the node starts Ready (default true).
    #[serde(default)]
    pub ready: Option<bool>,
    /// Extra labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A CPU quantity: a string such as `"2"` or `"500m"`, or a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity(pub String);

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a CPU quantity such as \"2\" or \"500m\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Quantity {
    fn schema_name() -> Cow<'static, str> {
        "Quantity".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A Kubernetes CPU quantity: \"2\", \"1500m\", or a number.",
            "type": ["string", "number"]
        })
    }
}

/// `Cluster` or `Local`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, JsonSchema)]
pub enum PolicySpec {
    /// `Cluster`.
    Cluster,
    /// `Local`.
    Local,
}

/// `ClusterIP` or `NodePort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, JsonSchema)]
pub enum ServiceTypeSpec {
    /// `ClusterIP`.
    ClusterIP,
    /// `NodePort` (a node port is allocated).
    NodePort,
}

/// Service fields; at the top level they define the Service, in a step they change it. A
/// `null` value removes an annotation or `trafficDistribution`.
#[derive(Debug, Default, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServicePatch {
    /// `metadata.annotations`. Any string is accepted, also for the topology keys
    /// (`service.kubernetes.io/topology-mode`, `service.kubernetes.io/topology-aware-hints`):
    /// the model decides what a value means (upstream acts on `Auto`/`auto` only).
    #[serde(default)]
    pub annotations: LocatedMap<Located<Option<String>>>,
    /// `spec.trafficDistribution` (`PreferClose`, `PreferSameZone`, `PreferSameNode`). Any
    /// other value is sent as written: the API server rejects it where the field exists, which
    /// a step can expect with `rejected`.
    #[serde(default, rename = "trafficDistribution", deserialize_with = "present")]
    #[schemars(with = "Option<String>")]
    pub traffic_distribution: Option<Option<Located<String>>>,
    /// `spec.internalTrafficPolicy`.
    #[serde(default, rename = "internalTrafficPolicy")]
    pub internal_traffic_policy: Option<PolicySpec>,
    /// `spec.externalTrafficPolicy`.
    #[serde(default, rename = "externalTrafficPolicy")]
    pub external_traffic_policy: Option<PolicySpec>,
    /// `spec.topologyKeys` (1.21 with the ServiceTopology gate). Validated by the cluster: a
    /// rejected Service is an apply error a step can expect (`expect.rejected`).
    #[serde(default, rename = "topologyKeys")]
    pub topology_keys: Option<Vec<String>>,
    /// `spec.publishNotReadyAddresses`.
    #[serde(default, rename = "publishNotReadyAddresses")]
    pub publish_not_ready_addresses: Option<bool>,
    /// `spec.type` (default `ClusterIP`).
    #[serde(default, rename = "type")]
    pub service_type: Option<ServiceTypeSpec>,
    /// Whether the Service selects the case's pods (default true). Without a selector the
    /// EndpointSlice controller writes nothing; use hand-written `slices`.
    #[serde(default)]
    pub selector: Option<bool>,
}

/// Distinguishes an absent field (`None`) from an explicit null (`Some(None)`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// One step: changes, then expectations.
#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Step name (unique within the case; lower-case letters, digits and `-`).
    pub name: Located<String>,
    /// What the step does, in words.
    #[serde(default)]
    pub summary: Option<String>,
    /// Place endpoints: node → number of ready pods on it. Nodes not listed get none. Pods
    /// already on a node are kept (the newest are removed first).
    #[serde(default)]
    pub endpoints: Option<LocatedMap<Located<Count>>>,
    /// Scale to this many pods: add to the worker with the fewest (first in node order on
    /// ties), remove from the node with the most (last in node order on ties).
    #[serde(default)]
    pub scale: Option<Located<Count>>,
    /// Node → how many of its pods (the oldest first) are not ready; others become ready.
    #[serde(default)]
    pub not_ready: Option<LocatedMap<Located<Count>>>,
    /// Node → how many of its pods (the oldest first) are terminating (still serving while
    /// ready); others are not terminating.
    #[serde(default)]
    pub terminating: Option<LocatedMap<Located<Count>>>,
    /// Node changes: zone relabel, Ready/NotReady, allocatable CPU.
    #[serde(default)]
    pub nodes: Option<LocatedMap<NodePatch>>,
    /// Service changes.
    #[serde(default)]
    pub service: Option<ServicePatch>,
    /// Hand-written EndpointSlices (replacing earlier hand-written ones), managed by another
    /// controller: the upstream controller leaves them alone, the proxies merge them.
    #[serde(default)]
    pub slices: Option<Vec<HandSliceSpec>>,
    /// What must hold after the step.
    #[serde(default)]
    pub expect: Option<ExpectList>,
}

/// A change to one node.
#[derive(Debug, Default, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodePatch {
    /// New zone label; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<String>")]
    pub zone: Option<Option<String>>,
    /// Ready (`true`) or NotReady (`false`). A NotReady node's pods become not ready.
    #[serde(default)]
    pub ready: Option<bool>,
    /// New allocatable CPU (upstream does not recompute hints for a CPU-only change).
    #[serde(default)]
    pub cpu: Option<Located<Quantity>>,
}

/// A hand-written EndpointSlice for the case's Service.
#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HandSliceSpec {
    /// Slice name.
    pub name: Located<String>,
    /// The `endpointslice.kubernetes.io/managed-by` label (default `topo-harness`); must not
    /// be the upstream controller's value.
    #[serde(default)]
    pub managed_by: Option<Located<String>>,
    /// The endpoints.
    pub endpoints: Vec<HandEndpointSpec>,
}

/// Endpoints of a hand-written slice.
#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HandEndpointSpec {
    /// The node the endpoints are on (`nodeName`; the zone defaults to the node's).
    pub node: Located<String>,
    /// How many endpoints like this (default 1).
    #[serde(default)]
    pub count: Option<Located<Count>>,
    /// `conditions.ready` (default true); `null` leaves the condition unset (kube-proxy treats
    /// an unset condition as ready; upstream's topology cache would count it as not ready).
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<bool>")]
    pub ready: Option<Option<bool>>,
    /// `conditions.serving` (default: unset).
    #[serde(default)]
    pub serving: Option<bool>,
    /// `conditions.terminating` (default: unset).
    #[serde(default)]
    pub terminating: Option<bool>,
    /// `hints`; absent = no hints.
    #[serde(default)]
    pub hints: Option<HandHintsSpec>,
}

/// Hints of a hand-written endpoint.
#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HandHintsSpec {
    /// `forZones[].name`.
    #[serde(default)]
    pub zones: Vec<String>,
    /// `forNodes[].name`.
    #[serde(default)]
    pub nodes: Vec<Located<String>>,
}

/// `expect`: one mapping (for every version) or a list of mappings, each optionally guarded
/// by a version range. For a version, every matching entry applies; later entries override
/// the fields they set.
#[derive(Debug)]
pub struct ExpectList(pub Vec<ExpectSpec>);

impl<'de> Deserialize<'de> for ExpectList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ExpectList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an expectation mapping or a list of them")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = a.next_element::<ExpectSpec>()? {
                    out.push(item);
                }
                Ok(ExpectList(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
                let spec = ExpectSpec::deserialize(de::value::MapAccessDeserializer::new(a))?;
                Ok(ExpectList(vec![spec]))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for ExpectList {
    fn schema_name() -> Cow<'static, str> {
        "ExpectList".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let one = generator.subschema_for::<ExpectSpec>();
        json_schema!({
            "description": "One expectation mapping, or a list of them guarded by `kubernetes` ranges.",
            "oneOf": [one.clone(), { "type": "array", "items": one }]
        })
    }
}

/// What must hold after a step (for the versions matching `kubernetes`).
#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectSpec {
    /// Versions this entry applies to (default: all the case's versions).
    #[serde(default)]
    pub kubernetes: Option<Located<String>>,
    /// The cluster rejects the step's change; the text must occur in the error message.
    #[serde(default)]
    pub rejected: Option<Located<String>>,
    /// `none` (no endpoint has hints) or zone → endpoints hinted for it: a list of endpoint
    /// identities (the node each endpoint runs on, repeated or written `node*N`), or a count.
    #[serde(default)]
    pub hints: Option<Located<HintsExpectSpec>>,
    /// Node → endpoints whose `hints.forNodes` names it (PreferSameNode).
    #[serde(default)]
    pub node_hints: Option<LocatedMap<Vec<Located<String>>>>,
    /// Node (or `"*"` for every node not listed) → the endpoints its proxy routes internal
    /// (ClusterIP) traffic to: exactly these (a list; `[]` = no route), or a constraint (a
    /// mapping such as `{same_zone: true, at_least: 2}`).
    #[serde(default)]
    pub routes: Option<LocatedMap<RouteExpectSpec>>,
    /// Like `routes`, for external (NodePort) traffic arriving at the node: the node is where
    /// the external client's requests enter (`same_node: true` = answered by the endpoint on
    /// the node the client sent to, as `externalTrafficPolicy: Local` promises).
    #[serde(default)]
    pub external_routes: Option<LocatedMap<RouteExpectSpec>>,
    /// Node (or `"*"`) → shares of the requests sent from a client on that node, as
    /// percentage ranges (`">= 65%"`, `"40-60%"`, `"100%"`). On the sim and with rule
    /// observation every routed endpoint gets an equal share; with traffic probes the shares
    /// are the answers counted per endpoint.
    #[serde(default)]
    pub traffic_shares: Option<LocatedMap<ShareSpec>>,
    /// `true`: every ready endpoint of the Service has a zone hint (upstream e2e "having hints
    /// set for each endpoint").
    #[serde(default)]
    pub ready_endpoints_hinted: Option<Located<bool>>,
    /// `true`: every hinted endpoint has exactly one zone hint, its own zone.
    #[serde(default)]
    pub hints_own_zone: Option<Located<bool>>,
    /// Events recorded on the Service since it was created (the EndpointSlice controller's
    /// `TopologyAwareHintsEnabled` / `TopologyAwareHintsDisabled`, 1.26+): each entry must match
    /// one (or, with `absent: true`, none).
    #[serde(default)]
    pub events: Option<Vec<EventExpectSpec>>,
    /// Sizes of the controller's EndpointSlices, largest first.
    #[serde(default)]
    pub slices: Option<Vec<Located<Count>>>,
    /// The controller may legitimately keep hints computed for an earlier state here (upstream
    /// does not recompute on every change, e.g. allocatable CPU); the `model` check then
    /// compares routes only.
    #[serde(default)]
    pub hints_may_be_stale: Option<bool>,
}

/// `hints:` — `none` or zone → endpoints.
#[derive(Debug)]
pub enum HintsExpectSpec {
    /// No endpoint has hints.
    None,
    /// Zone → endpoints hinted for it.
    Zones(LocatedMap<ZoneHintsSpec>),
}

impl<'de> Deserialize<'de> for HintsExpectSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HintsExpectSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`none` or a mapping of zone to endpoints")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if v == "none" {
                    Ok(HintsExpectSpec::None)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
                LocatedMap::deserialize(de::value::MapAccessDeserializer::new(a))
                    .map(HintsExpectSpec::Zones)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for HintsExpectSpec {
    fn schema_name() -> Cow<'static, str> {
        "HintsExpect".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let zone = generator.subschema_for::<ZoneHintsSpec>();
        json_schema!({
            "description": "`none`, or zone → endpoints hinted for it.",
            "oneOf": [
                { "const": "none" },
                { "type": "object", "additionalProperties": zone }
            ]
        })
    }
}

/// The endpoints hinted for one zone: identities, or just how many.
#[derive(Debug)]
pub enum ZoneHintsSpec {
    /// How many endpoints (located at the zone's key by validation).
    Count(Count),
    /// How many, as a range: `"2-3"`, `">= 1"`, `"<= 2"`.
    Range(String),
    /// Which endpoints (by the node they run on).
    Endpoints(Vec<Located<String>>),
}

impl<'de> Deserialize<'de> for ZoneHintsSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ZoneHintsSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of endpoints, a count or a count range")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ZoneHintsSpec::Range(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Count::deserialize(de::value::I64Deserializer::new(v)).map(ZoneHintsSpec::Count)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Count::deserialize(de::value::U64Deserializer::new(v)).map(ZoneHintsSpec::Count)
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Self::Value, E> {
                Count::deserialize(de::value::I128Deserializer::new(v)).map(ZoneHintsSpec::Count)
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Self::Value, E> {
                Count::deserialize(de::value::U128Deserializer::new(v)).map(ZoneHintsSpec::Count)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Count::deserialize(de::value::F64Deserializer::new(v)).map(ZoneHintsSpec::Count)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = a.next_element::<Located<String>>()? {
                    out.push(item);
                }
                Ok(ZoneHintsSpec::Endpoints(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for ZoneHintsSpec {
    fn schema_name() -> Cow<'static, str> {
        "ZoneHints".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Endpoint identities (node names, `node*N` for N endpoints), a count, or a count range (`\"2-3\"`, `\">= 1\"`, `\"<= 2\"`).",
            "oneOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^\\s*(>=|<=)?\\s*[0-9]+\\s*(-\\s*[0-9]+\\s*)?$" },
                { "type": "array", "items": { "type": "string" } }
            ]
        })
    }
}

/// What a node's routes must be: exactly these endpoints, or a constraint.
#[derive(Debug)]
pub enum RouteExpectSpec {
    /// Exactly these endpoint identities (`node`, `node*N`).
    Exact(Vec<Located<String>>),
    /// A constraint on the routed endpoints.
    Constraint(RouteConstraintSpec),
}

impl<'de> Deserialize<'de> for RouteExpectSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RouteExpectSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of endpoints or a mapping of constraints")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = a.next_element::<Located<String>>()? {
                    out.push(item);
                }
                Ok(RouteExpectSpec::Exact(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Self::Value, A::Error> {
                let spec =
                    RouteConstraintSpec::deserialize(de::value::MapAccessDeserializer::new(a))?;
                Ok(RouteExpectSpec::Constraint(spec))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for RouteExpectSpec {
    fn schema_name() -> Cow<'static, str> {
        "RouteExpect".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let constraint = generator.subschema_for::<RouteConstraintSpec>();
        json_schema!({
            "description": "Exactly these endpoints (node names, `node*N`), or a constraint mapping.",
            "oneOf": [
                { "type": "array", "items": { "type": "string" } },
                constraint
            ]
        })
    }
}

/// Constraints on the endpoints a node routes to; every one given must hold.
#[derive(Debug, Default, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteConstraintSpec {
    /// `true`: every routed endpoint is in the client node's zone ("only endpoints in my
    /// zone").
    #[serde(default)]
    pub same_zone: Option<Located<bool>>,
    /// `true`: every routed endpoint runs on the client node.
    #[serde(default)]
    pub same_node: Option<Located<bool>>,
    /// Every routed endpoint is one of these identities (node names).
    #[serde(default)]
    pub subset_of: Option<Vec<Located<String>>>,
    /// At least this many endpoints.
    #[serde(default)]
    pub at_least: Option<Located<Count>>,
    /// At most this many endpoints.
    #[serde(default)]
    pub at_most: Option<Located<Count>>,
    /// The endpoints span at least this many zones (`2`: "more than one zone").
    #[serde(default)]
    pub zones_at_least: Option<Located<Count>>,
    /// `true`: at least one endpoint (the node routes somewhere).
    #[serde(default)]
    pub not_empty: Option<Located<bool>>,
}

/// Shares of one node's requests, as percentage ranges.
#[derive(Debug, Default, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareSpec {
    /// Share answered by endpoints in the client node's zone (upstream: `">= 65%"`).
    #[serde(default)]
    pub same_zone: Option<Located<String>>,
    /// Share answered by endpoints on the client node.
    #[serde(default)]
    pub same_node: Option<Located<String>>,
    /// Endpoint identity (node name) → share answered by the endpoints on that node.
    #[serde(default)]
    pub endpoints: Option<LocatedMap<Located<String>>>,
    /// Zone → share answered by endpoints in that zone.
    #[serde(default)]
    pub zones: Option<LocatedMap<Located<String>>>,
}

/// An event expected (or not) on the Service.
#[derive(Debug, serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventExpectSpec {
    /// The event's reason, e.g. `TopologyAwareHintsEnabled`.
    pub reason: Located<String>,
    /// `Normal` or `Warning` (default: either).
    #[serde(default, rename = "type")]
    pub event_type: Option<Located<String>>,
    /// The exact message, e.g. `"Topology Aware Hints has been enabled, addressType: IPv4"`
    /// (default: any).
    #[serde(default)]
    pub message: Option<String>,
    /// `true`: no such event was recorded.
    #[serde(default)]
    pub absent: Option<bool>,
}
