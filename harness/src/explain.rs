//! `topo-harness explain`: what the model says about a cluster state, as text or JSON.
//!
//! The JSON shape is a contract (documented in `docs/explain.md`); the text is for people.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use std::io::Write as _;

use serde_json::value::RawValue;
use serde_json::Value;

use crate::input::{load_state_file, InputError, LoadedState};
use crate::model::analysis::{
    analyse, infer_gates, Analysis, HintOutcome, NodeIndices, ServiceAnalysis, ZoneCounts,
};
use crate::model::controller::topology::NodeSkip;
use crate::model::proxy::RouteBasis;
use crate::model::state::Environment;
use crate::model::version::{FeatureGate, FeatureGates, GateError, KubeVersion, VersionError};

/// Why `explain` could not run.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The state file could not be read.
    #[error(transparent)]
    Input(#[from] InputError),
    /// `--kubernetes` (or the file's version) is not a supported version.
    #[error("--kubernetes: {0}")]
    Version(#[from] VersionError),
    /// No version was given and no node reports one.
    #[error("{file}: cannot tell the Kubernetes version: no node reports a kubelet version (status.nodeInfo.kubeletVersion); pass --kubernetes 1.NN")]
    NoVersion {
        /// The state file.
        file: String,
    },
    /// The nodes report a version outside 1.21–1.37.
    #[error("{file}: the nodes run Kubernetes {version}, which the model does not cover (1.21 to 1.37); pass --kubernetes 1.NN to evaluate it as another version")]
    UnsupportedNodeVersion {
        /// The state file.
        file: String,
        /// The version found.
        version: KubeVersion,
    },
    /// A `--gate` setting was rejected.
    #[error("--gate {setting}: {source}")]
    Gate {
        /// The setting as given.
        setting: String,
        /// Why.
        #[source]
        source: GateError,
    },
}

impl ExplainError {
    /// The process exit code: every explain error is bad input.
    pub fn exit_code(&self) -> i32 {
        2
    }
}

/// Output format.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Human-readable text.
    Text,
    /// The JSON contract.
    Json,
}

/// What the user asked for.
#[derive(Clone, Debug)]
pub struct ExplainRequest<'a> {
    /// The state file.
    pub file: &'a Path,
    /// `--kubernetes`, verbatim.
    pub kubernetes: Option<&'a str>,
    /// `--gate Name=bool`, verbatim.
    pub gates: &'a [String],
}

/// Which gates were set and how, for the text output.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GateNotes {
    /// Set by `--gate` or the state file.
    pub explicit: Vec<(FeatureGate, bool)>,
    /// Turned on because the input uses the feature.
    pub inferred: Vec<FeatureGate>,
}

/// Loads the state, settles version and gates, and analyses it.
pub fn explain_file(request: &ExplainRequest<'_>) -> Result<(Analysis, GateNotes), ExplainError> {
    let loaded = load_state_file(request.file)?;
    explain_loaded(&loaded, request)
}

/// As [`explain_file`], for an already loaded state.
pub fn explain_loaded(
    loaded: &LoadedState,
    request: &ExplainRequest<'_>,
) -> Result<(Analysis, GateNotes), ExplainError> {
    let (env, notes) = settle_environment(loaded, request)?;
    let analysis = analyse(&loaded.state, &env, notes.inferred.clone());
    Ok((analysis, notes))
}

/// The Kubernetes version and gates to evaluate `loaded` with: `--kubernetes`, else the state
/// file's version, else the highest kubelet version; gates from the version's defaults, the
/// file, `--gate`, and inference from the features the input uses.
pub fn settle_environment(
    loaded: &LoadedState,
    request: &ExplainRequest<'_>,
) -> Result<(Environment, GateNotes), ExplainError> {
    let file = request.file.display().to_string();
    let version = match request.kubernetes {
        Some(text) => text.parse::<KubeVersion>()?,
        None => match loaded.version.or_else(|| loaded.state.kubelet_version()) {
            Some(v) if v.is_supported() => v,
            Some(v) => {
                return Err(ExplainError::UnsupportedNodeVersion { file, version: v });
            }
            None => return Err(ExplainError::NoVersion { file }),
        },
    };
    let mut gates = FeatureGates::defaults(version);
    let mut notes = GateNotes::default();
    // Gates recorded in the file apply when they exist in the version evaluated.
    for (gate, on) in &loaded.gates {
        if gates.set(*gate, *on).is_ok() {
            notes.explicit.push((*gate, *on));
        }
    }
    for setting in request.gates {
        let (gate, on) = gates
            .set_from_str(setting)
            .map_err(|source| ExplainError::Gate {
                setting: setting.clone(),
                source,
            })?;
        notes.explicit.retain(|(g, _)| *g != gate);
        notes.explicit.push((gate, on));
    }
    notes.inferred = infer_gates(&loaded.state, &mut gates);
    let mut env = Environment::new(version);
    env.gates = gates;
    Ok((env, notes))
}

/// The JSON contract, borrowed from an [`Analysis`] so large reports stream without copies.
#[derive(serde::Serialize)]
struct JsonReport<'a> {
    kubernetes: String,
    warnings: &'a [String],
    services: Vec<JsonService<'a>>,
}

#[derive(serde::Serialize)]
struct JsonService<'a> {
    service: &'a str,
    heuristic: &'static str,
    hints: JsonHints<'a>,
    routes: Vec<JsonRoute<'a>>,
}

#[derive(serde::Serialize)]
struct JsonHints<'a> {
    outcome: &'static str,
    reason: Option<&'a str>,
    allocations: &'a [ZoneCounts],
    observed: Option<&'a ZoneCounts>,
    agrees: Option<bool>,
}

#[derive(serde::Serialize)]
struct JsonRoute<'a> {
    port: &'a str,
    nodes: &'a RawValue,
    cluster: Option<&'a [String]>,
    local: Option<&'a [String]>,
    basis: String,
}

/// Every route group's node list as JSON, serialized once per distinct list: groups that hold a
/// whole zone share one list across all Services, so its names are written out only once.
fn node_lists(analysis: &Analysis) -> NodeLists {
    let mut lists = HashMap::new();
    for group in analysis.services.iter().flat_map(|s| s.routes.iter()) {
        lists
            .entry(Arc::as_ptr(&group.nodes).cast::<u32>())
            .or_insert_with(|| {
                let names: Vec<&str> = analysis.group_node_names(group).collect();
                serde_json::value::to_raw_value(&names).unwrap_or_else(|_| empty_list())
            });
    }
    NodeLists {
        by_list: lists,
        empty: empty_list(),
    }
}

/// Serialized node lists by the address of the shared list.
struct NodeLists {
    by_list: HashMap<*const u32, Box<RawValue>>,
    /// `[]`, for a list missing from `by_list` (cannot happen: every group is in it).
    empty: Box<RawValue>,
}

impl NodeLists {
    fn get(&self, nodes: &NodeIndices) -> &RawValue {
        self.by_list
            .get(&Arc::as_ptr(nodes).cast::<u32>())
            .unwrap_or(&self.empty)
    }
}

fn empty_list() -> Box<RawValue> {
    RawValue::from_string("[]".to_string()).unwrap_or_default()
}

fn json_report<'a>(analysis: &'a Analysis, node_lists: &'a NodeLists) -> JsonReport<'a> {
    JsonReport {
        kubernetes: analysis.environment.version().to_string(),
        warnings: &analysis.warnings,
        services: analysis
            .services
            .iter()
            .map(|s| JsonService {
                service: &s.service,
                heuristic: s.heuristic.as_str(),
                hints: JsonHints {
                    outcome: s.hints.outcome.as_str(),
                    reason: s.hints.reason.as_deref(),
                    allocations: &s.hints.allocations,
                    observed: s.hints.observed.as_ref(),
                    agrees: s.hints.agrees,
                },
                routes: s
                    .routes
                    .iter()
                    .map(|r| JsonRoute {
                        port: &r.port,
                        nodes: node_lists.get(&r.nodes),
                        cluster: r.cluster.as_deref(),
                        local: r.local.as_deref(),
                        basis: r.basis.as_str(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The JSON contract as a value.
pub fn to_json(analysis: &Analysis) -> Value {
    let lists = node_lists(analysis);
    serde_json::to_value(json_report(analysis, &lists)).unwrap_or(Value::Null)
}

/// Writes the JSON contract (one line) without building it in memory first.
pub fn write_json(analysis: &Analysis, out: impl std::io::Write) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(out);
    let lists = node_lists(analysis);
    serde_json::to_writer(&mut out, &json_report(analysis, &lists))?;
    out.write_all(b"\n")?;
    out.flush()
}

fn counts_text(counts: &ZoneCounts) -> String {
    if counts.is_empty() {
        return "(no zone hints)".to_string();
    }
    counts
        .iter()
        .map(|(zone, n)| {
            let zone = if zone.is_empty() {
                "\"\""
            } else {
                zone.as_str()
            };
            format!("{zone}={n}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Endpoint addresses → the identity case files name them by (the node the endpoint runs
/// on), for the text report of a state that carries them.
#[derive(Clone, Debug, Default)]
pub struct EndpointNames(HashMap<String, String>);

impl EndpointNames {
    /// The identities of every endpoint of `state` that names its node.
    pub fn of(state: &crate::model::ClusterState) -> EndpointNames {
        let mut names = HashMap::new();
        for e in state.slices.iter().flat_map(|s| s.endpoints.iter()) {
            if let (Some(address), Some(node)) = (e.addresses.first(), &e.node_name) {
                names.entry(address.clone()).or_insert_with(|| node.clone());
            }
        }
        EndpointNames(names)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `list` by identity (`a1, b1*2`) when every address has one, else as addresses.
    fn list(&self, list: &[String]) -> String {
        let named: Option<Vec<String>> = list.iter().map(|a| self.0.get(a).cloned()).collect();
        match named {
            Some(mut ids) if !self.is_empty() => {
                ids.sort();
                let text = crate::check::identity::format_ids(&ids);
                text[1..text.len() - 1].to_string()
            }
            _ => list.join(", "),
        }
    }
}

fn list_text(list: &[String], names: &EndpointNames) -> String {
    if list.is_empty() {
        "nothing".to_string()
    } else {
        names.list(list)
    }
}

/// The text report, endpoints by address.
pub fn to_text(analysis: &Analysis, notes: &GateNotes) -> String {
    to_text_named(analysis, notes, &EndpointNames::default())
}

/// The text report, endpoints by identity where `names` has them (a compact state, e.g. one a
/// run wrote with `--dump-state`, speaks of endpoints as its case does: by node).
pub fn to_text_named(analysis: &Analysis, notes: &GateNotes, names: &EndpointNames) -> String {
    let mut out = String::new();
    let env = &analysis.environment;
    let _ = writeln!(out, "Kubernetes {}", env.version());
    let mut gate_parts = Vec::new();
    for gate in FeatureGate::ALL {
        if gate.status(env.version()) == crate::model::GateStatus::Absent {
            continue;
        }
        let on = env.gates.enabled(gate);
        let how = if notes.inferred.contains(&gate) {
            " (inferred: the input uses it)"
        } else if notes.explicit.iter().any(|(g, _)| *g == gate) {
            " (set)"
        } else {
            ""
        };
        gate_parts.push(format!(
            "{}={}{how}",
            gate.name(),
            if on { "on" } else { "off" }
        ));
    }
    if !gate_parts.is_empty() {
        let _ = writeln!(out, "feature gates: {}", gate_parts.join(", "));
    }
    for gate in &notes.inferred {
        let _ = writeln!(
            out,
            "note: {} is off by default in {} but was taken as on, because the input shows it in use",
            gate.name(),
            env.version()
        );
    }
    let capacity = &analysis.capacity;
    match (&capacity.ratios, &capacity.cpu_millis_by_zone) {
        (Some(ratios), Some(cpu)) => {
            let parts: Vec<String> = ratios
                .iter()
                .map(|(zone, r)| {
                    let millis = cpu.get(zone).copied().unwrap_or(0);
                    format!("{zone} {:.1}% ({})", r * 100.0, cpu_text(millis))
                })
                .collect();
            let _ = writeln!(
                out,
                "zone CPU shares (ready nodes{}): {}",
                if env.version().minor >= 23 {
                    ", control plane excluded"
                } else {
                    ""
                },
                parts.join(", ")
            );
        }
        _ => {
            let why = match &capacity.insufficient_node {
                Some(node) => format!("node {node} has no zone label or no allocatable CPU"),
                None => "fewer than two zones have ready nodes with CPU".to_string(),
            };
            let _ = writeln!(out, "zone CPU shares: none ({why})");
        }
    }
    let skipped: BTreeMap<NodeSkip, Vec<&str>> =
        capacity
            .skipped
            .iter()
            .fold(BTreeMap::new(), |mut m, (n, why)| {
                m.entry(*why).or_default().push(n.as_str());
                m
            });
    for (why, nodes) in skipped {
        let why = match why {
            NodeSkip::ControlPlane => "control-plane, not counted",
            NodeSkip::NotReady => "not ready, not counted",
        };
        let _ = writeln!(out, "  {why}: {}", nodes.join(", "));
    }
    for warning in &analysis.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    if !names.is_empty() {
        let _ = writeln!(
            out,
            "endpoints are named by the node they run on, as case files name them (`node*2`: two on that node); -o json lists their addresses"
        );
    }
    if analysis.services.is_empty() {
        let _ = writeln!(out, "\nno Services in the input");
    }
    for service in &analysis.services {
        service_text(&mut out, service, analysis, names);
    }
    out
}

fn cpu_text(millis: u64) -> String {
    if millis.is_multiple_of(1000) {
        format!("{} CPU", millis / 1000)
    } else {
        format!("{millis}m CPU")
    }
}

fn service_text(out: &mut String, s: &ServiceAnalysis, analysis: &Analysis, names: &EndpointNames) {
    let _ = writeln!(out, "\n{} — heuristic: {}", s.service, s.heuristic.as_str());
    for warning in &s.warnings {
        let _ = writeln!(out, "  warning: {warning}");
    }
    let h = &s.hints;
    let observed = h
        .observed
        .as_ref()
        .map(counts_text)
        .unwrap_or_else(|| "no hints".to_string());
    let verdict = match h.agrees {
        Some(true) => "agrees",
        Some(false) if h.kept => {
            "differs from a fresh computation, but the controller keeps these hints: they are valid on unchanged slices"
        }
        Some(false) => "DISAGREES",
        None => "not checked",
    };
    match h.outcome {
        HintOutcome::Assigned => {
            let expected: Vec<String> = h.allocations.iter().map(counts_text).collect();
            let expected = if expected.len() > 1 {
                format!(
                    "one of [{}] (upstream picks by Go map order)",
                    expected.join("] or [")
                )
            } else {
                expected.join("")
            };
            let _ = writeln!(out, "  hints: should be assigned: {expected}");
        }
        HintOutcome::Removed => {
            let _ = writeln!(
                out,
                "  hints: should be absent: {}",
                h.reason.as_deref().unwrap_or("removed")
            );
        }
        HintOutcome::None => {
            let _ = writeln!(out, "  hints: none expected");
        }
    }
    if let Some(detail) = &h.detail {
        let _ = writeln!(out, "    why: {detail}");
    }
    if let (Some(n), Some(figures)) = (h.counted_endpoints, &h.figures) {
        let parts: Vec<String> = figures
            .iter()
            .map(|(zone, a)| {
                format!(
                    "{zone}: desired {:.2}, min {}, max {}",
                    a.desired, a.minimum, a.maximum
                )
            })
            .collect();
        let _ = writeln!(out, "    {n} ready endpoints; {}", parts.join("; "));
    } else if let Some(n) = h.counted_endpoints {
        let _ = writeln!(out, "    {n} ready endpoints counted");
    }
    let _ = writeln!(out, "  observed: {observed} ({verdict})");
    if s.routes.is_empty() {
        let _ = writeln!(
            out,
            "  routes: none (headless or ExternalName: kube-proxy programs nothing)"
        );
        return;
    }
    let _ = writeln!(out, "  routes:");
    let mut current_port = None;
    for r in &s.routes {
        if current_port != Some(&r.port) {
            let _ = writeln!(out, "    port {}:", r.port);
            current_port = Some(&r.port);
        }
        let node_names: Vec<&str> = analysis.group_node_names(r).take(6).collect();
        let nodes = if r.nodes.len() > 6 {
            format!(
                "{}, … ({} nodes)",
                node_names[..5].join(", "),
                r.nodes.len()
            )
        } else {
            node_names.join(", ")
        };
        let mut parts = Vec::new();
        if let Some(c) = &r.cluster {
            parts.push(format!("cluster → {}", list_text(c, names)));
        }
        if let Some(l) = &r.local {
            parts.push(format!("local → {}", list_text(l, names)));
        }
        let _ = writeln!(
            out,
            "      {nodes}: {} [{}]",
            parts.join("; "),
            basis_text(&r.basis)
        );
    }
}

fn basis_text(basis: &RouteBasis) -> String {
    match basis {
        RouteBasis::NodeHints => "endpoints hinted for this node".into(),
        RouteBasis::ZoneHints => "endpoints hinted for this node's zone".into(),
        RouteBasis::AllReady => "all ready endpoints".into(),
        RouteBasis::ServingTerminating => "no ready endpoint: serving+terminating fallback".into(),
        RouteBasis::TopologyKey(key) => format!("first matching topologyKey {key}"),
        RouteBasis::None => "no endpoint: traffic is dropped or rejected".into(),
    }
}
