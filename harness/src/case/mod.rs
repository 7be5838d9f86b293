//! Case files: the written format ([`types`]), validation and conversion into [`Case`], and
//! loading a catalog (all files, all errors at once).
//!
//! Adding a field: add it to [`types`] (documented: the schema is generated from it), convert
//! and validate it in `convert.rs`, carry it in [`Case`]/[`StepAction`]/[`Expect`], then run
//! `cargo run -p topo-harness -- schema --output harness/schema/case.json`.

pub mod bounds;
pub mod constraints;
mod convert;
pub mod located;
pub mod range;
pub mod service;
pub mod types;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::input::SourceLocation;
use crate::model::{
    FeatureGate, FeatureGates, GateStatus, KubeVersion, TrafficDistribution, TrafficPolicy,
};

pub use constraints::{EventExpect, RouteConstraint, ShareExpect, ShareRange};
pub use range::{format_versions, VersionRange};

/// Namespace the harness creates its Services in.
pub const NAMESPACE: &str = "topo-harness";
/// Name of the Service a case tests.
pub const SERVICE_NAME: &str = "web";
/// `managed-by` value of hand-written slices that do not name one.
pub const MANAGED_BY_HAND: &str = "topo-harness";

/// Why a case file is bad input (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    /// The file could not be read.
    #[error("{path}: cannot read: {message}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        message: String,
    },
    /// The file is not a valid case.
    #[error("{at}: {message}")]
    Invalid {
        /// Where.
        at: SourceLocation,
        /// What is wrong and what was expected.
        message: String,
    },
}

impl CaseError {
    /// The location the error points at, when it has one.
    pub fn location(&self) -> Option<&SourceLocation> {
        match self {
            CaseError::Read { .. } => None,
            CaseError::Invalid { at, .. } => Some(at),
        }
    }
}

/// A node's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Worker.
    Worker,
    /// Control plane.
    ControlPlane,
}

/// A node of a cluster shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeDef {
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Zone label.
    pub zone: Option<String>,
    /// Region label.
    pub region: Option<String>,
    /// Allocatable CPU in millicores.
    pub cpu_millis: u64,
    /// Ready at the start.
    pub ready: bool,
    /// Extra labels.
    pub labels: BTreeMap<String, String>,
}

impl NodeDef {
    /// A node with the case format's defaults: 1 CPU, ready, no region, no extra labels.
    pub fn new(name: &str, role: Role, zone: Option<&str>) -> Self {
        NodeDef {
            name: name.to_string(),
            role,
            zone: zone.map(str::to_string),
            region: None,
            cpu_millis: 1000,
            ready: true,
            labels: BTreeMap::new(),
        }
    }
}

/// A conformance profile: what an implementation claims when it publishes a result for it.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Deserialize,
    serde::Serialize,
    schemars::JsonSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// What every kube-proxy-compatible dataplane must do: `Auto` hints and their safeguards,
    /// `PreferClose`, internal and external traffic policies.
    #[default]
    Core,
    /// `PreferSameZone`/`PreferSameNode`, the serving-terminating fallback, EndpointSlice packing.
    Extended,
    /// `topologyKeys` and the 1.21 annotation values.
    Legacy,
}

impl Profile {
    /// Every profile, in report order.
    pub const ALL: [Profile; 3] = [Profile::Core, Profile::Extended, Profile::Legacy];

    /// The spelling in case files, reports and `--profile`.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Core => "core",
            Profile::Extended => "extended",
            Profile::Legacy => "legacy",
        }
    }
}

pub use crate::model::ProxyMode;

/// What a backend needs to create (or reuse) a cluster: never the expectations.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClusterShape {
    /// Kubernetes version.
    pub version: KubeVersion,
    /// Proxy mode.
    pub proxy_mode: ProxyMode,
    /// Explicit gate settings that apply in this version.
    pub feature_gates: Vec<(FeatureGate, bool)>,
    /// `--max-endpoints-per-slice`.
    pub max_endpoints_per_slice: usize,
    /// Nodes.
    pub nodes: Vec<NodeDef>,
}

/// What a cluster must be created with; everything else in a [`ClusterShape`] (zone and
/// region labels, extra labels, readiness) is applied per case on a shared cluster and
/// restored afterwards.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClusterKey {
    /// Kubernetes version.
    pub version: KubeVersion,
    /// Proxy mode.
    pub proxy_mode: ProxyMode,
    /// Gate settings.
    pub feature_gates: Vec<(FeatureGate, bool)>,
    /// `--max-endpoints-per-slice`.
    pub max_endpoints_per_slice: usize,
    /// Node name, role and allocatable CPU (millicores), in order.
    pub nodes: Vec<(String, Role, u64)>,
}

impl ClusterShape {
    /// The part of the shape a cluster is created with.
    pub fn cluster_key(&self) -> ClusterKey {
        ClusterKey {
            version: self.version,
            proxy_mode: self.proxy_mode,
            feature_gates: self.feature_gates.clone(),
            max_endpoints_per_slice: self.max_endpoints_per_slice,
            nodes: self
                .nodes
                .iter()
                .map(|n| (n.name.clone(), n.role, n.cpu_millis))
                .collect(),
        }
    }

    /// The gates in force.
    pub fn gates(&self) -> FeatureGates {
        let mut gates = FeatureGates::defaults(self.version);
        for (gate, on) in &self.feature_gates {
            // Only settable gates are kept in a shape (see `Case::shape`).
            let _ = gates.set(*gate, *on);
        }
        gates
    }
}

/// Changes to the Service (also its definition, applied to the defaults).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceChange {
    /// Annotations to set (`Some`) or remove (`None`).
    pub annotations: Vec<(String, Option<String>)>,
    /// `trafficDistribution` to set or remove.
    pub traffic_distribution: Option<Option<TrafficDistribution>>,
    /// `internalTrafficPolicy`.
    pub internal_traffic_policy: Option<TrafficPolicy>,
    /// `externalTrafficPolicy`.
    pub external_traffic_policy: Option<TrafficPolicy>,
    /// `topologyKeys`.
    pub topology_keys: Option<Vec<String>>,
    /// `publishNotReadyAddresses`.
    pub publish_not_ready_addresses: Option<bool>,
    /// `type: NodePort` (`Some(true)`) or `ClusterIP`.
    pub node_port: Option<bool>,
    /// Whether the Service has a selector.
    pub selector: Option<bool>,
}

/// A change to a node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeChange {
    /// New zone label (`Some(None)` removes it).
    pub zone: Option<Option<String>>,
    /// Ready or not.
    pub ready: Option<bool>,
    /// Allocatable CPU in millicores.
    pub cpu_millis: Option<u64>,
}

/// A hand-written EndpointSlice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandSlice {
    /// Name.
    pub name: String,
    /// `managed-by` label.
    pub managed_by: String,
    /// Endpoints.
    pub endpoints: Vec<HandEndpoint>,
}

/// One hand-written endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandEndpoint {
    /// `nodeName`.
    pub node: String,
    /// `conditions.ready`.
    pub ready: Option<bool>,
    /// `conditions.serving`.
    pub serving: Option<bool>,
    /// `conditions.terminating`.
    pub terminating: Option<bool>,
    /// `hints.forZones` (`None` = no hints).
    pub zone_hints: Option<Vec<String>>,
    /// `hints.forNodes`.
    pub node_hints: Vec<String>,
}

/// What a step changes: all a backend sees of a step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepAction {
    /// Create the Service with this definition (the first step).
    pub create_service: Option<ServiceChange>,
    /// Change the Service.
    pub service: Option<ServiceChange>,
    /// Node changes, in order.
    pub nodes: Vec<(String, NodeChange)>,
    /// Pods per node (nodes not listed get none).
    pub endpoints: Option<BTreeMap<String, usize>>,
    /// Scale to this many pods.
    pub scale: Option<usize>,
    /// Node → number of not-ready pods.
    pub not_ready: BTreeMap<String, usize>,
    /// Node → number of terminating pods.
    pub terminating: BTreeMap<String, usize>,
    /// Replace the hand-written slices.
    pub slices: Option<Vec<HandSlice>>,
}

/// Expected hints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HintsExpect {
    /// No endpoint has hints.
    None,
    /// Zone → endpoints.
    Zones(BTreeMap<String, ZoneExpect>),
}

/// The endpoints expected for one zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZoneExpect {
    /// How many.
    Count(usize),
    /// How many, at least `min` and (when set) at most `max`.
    Between {
        /// Lower bound.
        min: usize,
        /// Upper bound.
        max: Option<usize>,
    },
    /// Which (sorted identities).
    Endpoints(Vec<String>),
}

/// What must hold after a step, for one version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expect {
    /// Expected rejection text.
    pub rejected: Option<String>,
    /// Expected hints.
    pub hints: Option<HintsExpect>,
    /// Expected `forNodes` hints: node → sorted identities.
    pub node_hints: Option<BTreeMap<String, Vec<String>>>,
    /// Node (or `*`) → sorted identities, internal traffic.
    pub routes: Option<Vec<(String, Vec<String>)>>,
    /// Node (or `*`) → sorted identities, external traffic.
    pub external_routes: Option<Vec<(String, Vec<String>)>>,
    /// Controller slice sizes, largest first.
    pub slices: Option<Vec<usize>>,
    /// Hints may be stale: the model check compares routes only.
    pub hints_may_be_stale: Option<bool>,
    /// Node (or `*`) → constraint on its internal routes (set, possibly empty, whenever
    /// `routes` is written, so a later entry replaces both).
    pub route_constraints: Option<Vec<(String, RouteConstraint)>>,
    /// Node (or `*`) → constraint on its external routes.
    pub external_route_constraints: Option<Vec<(String, RouteConstraint)>>,
    /// Node (or `*`) → shares of its requests.
    pub traffic_shares: Option<Vec<(String, ShareExpect)>>,
    /// Every ready endpoint has a zone hint.
    pub ready_endpoints_hinted: Option<bool>,
    /// Every hinted endpoint is hinted for exactly its own zone.
    pub hints_own_zone: Option<bool>,
    /// Events expected (or not) on the Service.
    pub events: Option<Vec<EventExpect>>,
    /// Where each expectation is written in the case file, by the name of the check it makes
    /// (`hints`, `routes/worker`, `routes/*`, …): so a failure points at its own line.
    pub locations: Vec<ExpectLocation>,
}

/// Where one expectation is written: the check it makes and its 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectLocation {
    /// The check's name as reports print it (`hints`, `routes/worker`, `routes/*`).
    pub check: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl ExpectLocation {
    /// The field of the case file the check comes from (`routes` for `routes/worker`).
    fn field(&self) -> &str {
        self.check.split('/').next().unwrap_or_default()
    }
}

impl Expect {
    /// Line and column of the expectation behind `check` (`check` as reports name it, e.g.
    /// `routes/worker`); a node's route check falls back to the `*` entry. `None` for checks
    /// no expectation asks for (`model`, `snapshot`, …).
    pub fn location_of(&self, check: &str) -> Option<(u32, u32)> {
        let find = |name: &str| {
            self.locations
                .iter()
                .find(|l| l.check == name)
                .map(|l| (l.line, l.column))
        };
        find(check).or_else(|| {
            let (field, _) = check.split_once('/')?;
            find(&format!("{field}/*"))
        })
    }

    fn merge(&mut self, other: &Expect) {
        fn take<T: Clone>(dst: &mut Option<T>, src: &Option<T>) {
            if src.is_some() {
                dst.clone_from(src);
            }
        }
        take(&mut self.rejected, &other.rejected);
        take(&mut self.hints, &other.hints);
        take(&mut self.node_hints, &other.node_hints);
        take(&mut self.routes, &other.routes);
        take(&mut self.external_routes, &other.external_routes);
        take(&mut self.slices, &other.slices);
        take(&mut self.hints_may_be_stale, &other.hints_may_be_stale);
        take(&mut self.route_constraints, &other.route_constraints);
        take(
            &mut self.external_route_constraints,
            &other.external_route_constraints,
        );
        take(&mut self.traffic_shares, &other.traffic_shares);
        take(
            &mut self.ready_endpoints_hinted,
            &other.ready_endpoints_hinted,
        );
        take(&mut self.hints_own_zone, &other.hints_own_zone);
        take(&mut self.events, &other.events);
        // A field written again replaces the earlier one, and so do its locations.
        let replaced: BTreeSet<&str> = other.locations.iter().map(ExpectLocation::field).collect();
        self.locations.retain(|l| !replaced.contains(l.field()));
        self.locations.extend(other.locations.iter().cloned());
    }

    /// Whether nothing is expected.
    pub fn is_empty(&self) -> bool {
        Expect {
            locations: Vec::new(),
            ..self.clone()
        } == Expect::default()
    }
}

/// An expectation with its version guard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardedExpect {
    /// The versions it applies to (`None` = all).
    pub versions: Option<VersionRange>,
    /// What it expects.
    pub expect: Expect,
}

/// One step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Name.
    pub name: String,
    /// Description.
    pub summary: Option<String>,
    /// Changes.
    pub action: StepAction,
    /// Expectations.
    pub expect: Vec<GuardedExpect>,
    /// 1-based line of the step in its case file (0 when unknown).
    pub line: u32,
    /// 1-based column of the step in its case file (0 when unknown).
    pub column: u32,
}

/// A validated case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// Name.
    pub name: String,
    /// Summary.
    pub summary: String,
    /// Source.
    pub source: String,
    /// The conformance profile.
    pub profile: Profile,
    /// The file it came from.
    pub path: PathBuf,
    /// Versions it applies to.
    pub versions: VersionRange,
    /// Nodes.
    pub nodes: Vec<NodeDef>,
    /// Gate settings.
    pub feature_gates: Vec<(FeatureGate, bool)>,
    /// `--max-endpoints-per-slice`.
    pub max_endpoints_per_slice: usize,
    /// Steps.
    pub steps: Vec<Step>,
}

impl Case {
    /// The merged expectation of step `index` for `version`.
    pub fn expect_for(&self, index: usize, version: KubeVersion) -> Expect {
        let mut out = Expect::default();
        if let Some(step) = self.steps.get(index) {
            for guarded in &step.expect {
                if guarded
                    .versions
                    .as_ref()
                    .is_none_or(|r| r.contains(version))
                {
                    out.merge(&guarded.expect);
                }
            }
        }
        out
    }

    /// The cluster shape for `version` and `mode`, or why the case cannot run there.
    pub fn shape(&self, version: KubeVersion, mode: ProxyMode) -> Result<ClusterShape, String> {
        if !self.versions.contains(version) {
            return Err(format!(
                "the case applies to Kubernetes {} only",
                self.versions
            ));
        }
        if let Some(why) = mode.unavailable(version) {
            return Err(why);
        }
        let mut settings = Vec::new();
        for (gate, on) in &self.feature_gates {
            match gate.status(version) {
                // Setting a gate to its default changes nothing (and must not split shapes).
                GateStatus::Default(default) if default == *on => {}
                GateStatus::Default(_) => settings.push((*gate, *on)),
                GateStatus::Locked if *on => {}
                GateStatus::Locked => {
                    return Err(format!(
                        "feature gate {gate} is locked on in {version}; the case sets it to false"
                    ))
                }
                GateStatus::Absent if gate.default_enabled(version) == *on => {}
                GateStatus::Absent => {
                    return Err(format!(
                        "feature gate {gate} does not exist in {version}; the case sets it to {on}"
                    ))
                }
            }
        }
        Ok(ClusterShape {
            version,
            proxy_mode: mode,
            feature_gates: settings,
            max_endpoints_per_slice: self.max_endpoints_per_slice,
            nodes: self.nodes.clone(),
        })
    }
}

/// Parses and validates one case file's text; every problem found is returned.
pub fn parse_case(text: &str, origin: &str, path: &Path) -> Result<Case, Vec<CaseError>> {
    convert::parse_case(text, origin, path)
}

/// Reads one case file (within [`bounds::DEFAULT_MAX_CASE_FILE_BYTES`]). A file that is a
/// cluster state (for `explain`) says so.
pub fn load_case_file(path: &Path) -> Result<Case, Vec<CaseError>> {
    load_case_file_within(path, bounds::DEFAULT_MAX_CASE_FILE_BYTES)
}

/// Reads one case file of at most `max_bytes` (a larger file is an error before it is read).
pub fn load_case_file_within(path: &Path, max_bytes: u64) -> Result<Case, Vec<CaseError>> {
    let origin = path.display().to_string();
    let text = bounds::read_case_text(path, max_bytes).map_err(|e| vec![e])?;
    parse_case(&text, &origin, path).map_err(|errors| match state_kind(&text) {
        Some(kind) => vec![CaseError::Invalid {
            at: SourceLocation::new(&origin, 1, 1),
            message: format!(
                "this is a cluster state (kind: {kind}), not a case: use `topo-harness explain {origin}`"
            ),
        }],
        // Another kind of file (a Deployment beside the cases): say what it is, not which of
        // its fields a case does not have.
        None => match other_kind(&text) {
            Some((kind, line)) => vec![CaseError::Invalid {
                at: SourceLocation::new(&origin, line, 1),
                message: format!(
                    "not a Case (kind: {kind}): a case file has `apiVersion: {}` and `kind: Case` (docs/cases.md)",
                    types::CASE_API_VERSION
                ),
            }],
            None => errors,
        },
    })
}

/// The `kind` of a YAML document that is neither a case nor a cluster state, with the line of
/// its top-level `kind:` key (1 when it cannot be found).
fn other_kind(text: &str) -> Option<(String, u32)> {
    let value: serde_json::Value = serde_saphyr::from_str(text).ok()?;
    let kind = value.get("kind")?.as_str()?;
    if kind == "Case" {
        return None;
    }
    let line = text
        .lines()
        .position(|l| l.starts_with("kind:"))
        .and_then(|i| u32::try_from(i + 1).ok())
        .unwrap_or(1);
    Some((kind.to_string(), line))
}

/// The `kind` of a cluster state file (`State`, `List`, `Node`, …), when `text` is one: what
/// `explain` reads, not a case.
pub fn state_kind(text: &str) -> Option<String> {
    let value: serde_json::Value = serde_saphyr::from_str(text)
        .or_else(|_| serde_json::from_str(text))
        .ok()?;
    let kind = value.get("kind")?.as_str()?;
    let state_kinds = [
        "State",
        "List",
        "Node",
        "NodeList",
        "Service",
        "ServiceList",
        "EndpointSlice",
        "EndpointSliceList",
    ];
    state_kinds.contains(&kind).then(|| kind.to_string())
}

/// The built-in catalog (generated by `build.rs` from `cases/` and `fixtures/snapshots/`).
mod builtin {
    include!(concat!(env!("OUT_DIR"), "/catalog.rs"));
}

/// The SHA-256 of the built-in catalog (every case file and golden, with their names), in
/// hex: two binaries with the same digest run the same cases against the same goldens.
pub fn catalog_digest() -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for (name, text) in builtin::CASES.iter().chain(builtin::SNAPSHOTS) {
        hash.update((name.len() as u64).to_le_bytes());
        hash.update(name.as_bytes());
        hash.update((text.len() as u64).to_le_bytes());
        hash.update(text.as_bytes());
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The built-in catalog's case files: (`cases/<file>.yaml`, text), sorted by file name.
pub fn builtin_case_files() -> &'static [(&'static str, &'static str)] {
    builtin::CASES
}

/// The embedded golden snapshot of the built-in case `name` (`fixtures/snapshots/<name>.snap`).
pub fn builtin_golden(name: &str) -> Option<&'static str> {
    builtin::SNAPSHOTS
        .iter()
        .find(|(case, _)| *case == name)
        .map(|(_, text)| *text)
}

/// The cases a command line selected, and which of them come from the built-in catalog.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// The cases, in the order selected.
    pub cases: Vec<Case>,
    /// Names of the cases taken from the built-in catalog.
    pub builtin: BTreeSet<String>,
}

impl Selection {
    /// Whether `case` comes from the built-in catalog.
    pub fn is_builtin(&self, case: &Case) -> bool {
        self.builtin.contains(&case.name)
    }

    /// Where `case` comes from, for people: `built-in (cases/x.yaml)` or the path given.
    pub fn origin(&self, case: &Case) -> String {
        if self.is_builtin(case) {
            format!("built-in {}", case.path.display())
        } else {
            case.path.display().to_string()
        }
    }

    fn push(&mut self, case: Case, builtin: bool, errors: &mut Vec<CaseError>) {
        if let Some(first) = self.cases.iter().find(|c| c.name == case.name) {
            // The same built-in case named twice is harmless; anything else is ambiguous.
            if builtin && self.builtin.contains(&case.name) {
                return;
            }
            errors.push(CaseError::Invalid {
                at: SourceLocation::new(&case.path.display().to_string(), 0, 0),
                message: format!(
                    "duplicate case name `{}` (also in {})",
                    case.name,
                    self.origin(first)
                ),
            });
            return;
        }
        if builtin {
            self.builtin.insert(case.name.clone());
        }
        self.cases.push(case);
    }
}

/// Parses the built-in catalog: every case, and every error (none in a released binary: the
/// test suite parses them all).
pub fn builtin_catalog() -> (Vec<Case>, Vec<CaseError>) {
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    for (file, text) in builtin_case_files() {
        match parse_case(text, file, Path::new(file)) {
            Ok(case) => cases.push(case),
            Err(mut e) => errors.append(&mut e),
        }
    }
    (cases, errors)
}

/// Loads what a command line names: files, directories (their `*.yaml`/`*.yml`), or names of
/// built-in cases; nothing named = the whole built-in catalog. Returns the valid cases and
/// every error of every file (a bad file does not hide the others), including duplicate names.
pub fn load_selection(args: &[PathBuf], max_bytes: u64) -> (Selection, Vec<CaseError>) {
    let mut selection = Selection::default();
    let (builtin, mut errors) = builtin_catalog();
    if args.is_empty() {
        for case in builtin {
            selection.push(case, true, &mut errors);
        }
        return (selection, errors);
    }
    for arg in args {
        if arg.exists() {
            let (cases, mut e) = load_catalog_within(std::slice::from_ref(arg), max_bytes);
            errors.append(&mut e);
            for case in cases {
                selection.push(case, false, &mut errors);
            }
            continue;
        }
        let name = arg.to_string_lossy();
        match builtin.iter().find(|c| c.name == name) {
            Some(case) => selection.push(case.clone(), true, &mut errors),
            None => errors.push(CaseError::Invalid {
                at: SourceLocation::new(&name, 0, 0),
                message: format!(
                    "no such file or directory, and no built-in case of that name{} (`topo-harness list` shows them)",
                    closest_name(&name, builtin.iter().map(|c| c.name.as_str()))
                        .map(|n| format!("; did you mean `{n}`?"))
                        .unwrap_or_default()
                ),
            }),
        }
    }
    (selection, errors)
}

/// The candidate closest to `name` (edit distance at most a third of its length), if any.
pub fn closest_name<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let distance = |a: &str, b: &str| {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    };
    candidates
        .map(|c| (distance(name, c), c))
        .filter(|(d, _)| *d <= name.chars().count() / 3)
        .min()
        .map(|(_, c)| c)
}

/// The case files under `paths` (files as given, directories: their `*.yaml`/`*.yml`, sorted).
pub fn case_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CaseError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| CaseError::Read {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// Loads every case under `paths`: the cases that are valid and every error of every file
/// (a bad file does not hide the others), including duplicate case names.
pub fn load_catalog(paths: &[PathBuf]) -> (Vec<Case>, Vec<CaseError>) {
    load_catalog_within(paths, bounds::DEFAULT_MAX_CASE_FILE_BYTES)
}

/// [`load_catalog`] with a size budget of `max_bytes` per case file.
pub fn load_catalog_within(paths: &[PathBuf], max_bytes: u64) -> (Vec<Case>, Vec<CaseError>) {
    let mut cases: Vec<Case> = Vec::new();
    let mut errors = Vec::new();
    let files = match case_files(paths) {
        Ok(f) => f,
        Err(e) => return (cases, vec![e]),
    };
    if files.is_empty() {
        errors.push(CaseError::Read {
            path: paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            message: "no case files (*.yaml) found".into(),
        });
    }
    for file in files {
        match load_case_file_within(&file, max_bytes) {
            Ok(case) => {
                if let Some(first) = cases.iter().find(|c| c.name == case.name) {
                    errors.push(CaseError::Invalid {
                        at: SourceLocation::new(&file.display().to_string(), 0, 0),
                        message: format!(
                            "duplicate case name `{}` (also in {})",
                            case.name,
                            first.path.display()
                        ),
                    });
                } else {
                    cases.push(case);
                }
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    (cases, errors)
}

/// The JSON Schema of case files, generated from [`types::CaseFile`] (what
/// `topo-harness schema` prints and `harness/schema/case.json` holds).
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(types::CaseFile);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
