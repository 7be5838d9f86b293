//! Validation and conversion of a written case into [`Case`], collecting every problem.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::located::{Located, LocatedMap};
use super::range::VersionRange;
use super::types::{
    CaseFile, ExpectSpec, HintsExpectSpec, NodePatch, PolicySpec, RoleSpec, ServicePatch,
    ServiceTypeSpec, StepSpec, ZoneHintsSpec, CASE_API_VERSION,
};
use super::{
    Case, CaseError, Expect, GuardedExpect, HandEndpoint, HandSlice, HintsExpect, NodeChange,
    NodeDef, Role, ServiceChange, Step, StepAction, ZoneExpect, MANAGED_BY_HAND,
};
use crate::input::{cpu_millis, SourceLocation};
use crate::model::TrafficDistribution;
use crate::model::{
    FeatureGate, KubeVersion, TrafficPolicy, ANNOTATION_TOPOLOGY_AWARE_HINTS,
    ANNOTATION_TOPOLOGY_MODE, LABEL_CONTROL_PLANE, LABEL_REGION, LABEL_ZONE, MANAGED_BY_CONTROLLER,
};

/// Accepted values of the topology annotations.
pub(crate) const ANNOTATION_VALUES: [&str; 6] =
    ["Auto", "auto", "Disabled", "disabled", "", "PreferZone"];

struct Ctx<'a> {
    origin: &'a str,
    errors: Vec<CaseError>,
    nodes: BTreeSet<String>,
    case_range: VersionRange,
}

impl Ctx<'_> {
    fn err(&mut self, line: u32, column: u32, message: impl Into<String>) {
        self.errors.push(CaseError::Invalid {
            at: SourceLocation::new(self.origin, line, column),
            message: message.into(),
        });
    }

    fn err_at<T>(&mut self, at: &Located<T>, message: impl Into<String>) {
        self.err(at.line, at.column, message);
    }

    fn node(&mut self, name: &Located<String>, what: &str) -> String {
        if !self.nodes.contains(&name.value) {
            let known: Vec<&str> = self.nodes.iter().map(String::as_str).collect();
            let message = format!(
                "{what} names node `{}`, which the cluster does not have (nodes: {})",
                name.value,
                known.join(", ")
            );
            self.err_at(name, message);
        }
        name.value.clone()
    }

    fn count(&mut self, value: &Located<i64>, what: &str) -> usize {
        match usize::try_from(value.value) {
            Ok(n) => n,
            Err(_) => {
                self.err_at(
                    value,
                    format!("{what} must be 0 or more, found {}", value.value),
                );
                0
            }
        }
    }

    fn counts(&mut self, map: &LocatedMap<Located<i64>>, what: &str) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for (node, count) in map.iter() {
            let name = self.node(node, what);
            let n = self.count(count, &format!("{what} count for `{name}`"));
            if out.insert(name.clone(), n).is_some() {
                self.err_at(node, format!("node `{name}` is listed twice"));
            }
        }
        out
    }

    fn range(&mut self, text: &Located<String>, what: &str) -> Option<VersionRange> {
        match VersionRange::parse(&text.value) {
            Ok(r) => {
                let overlap = KubeVersion::all()
                    .filter(|v| r.contains(*v) && self.case_range.contains(*v))
                    .count();
                if overlap == 0 {
                    let message = format!(
                        "{what} `{}` matches no Kubernetes version the {} (supported: 1.21–1.37)",
                        text.value,
                        if what == "kubernetes" {
                            "model covers".to_string()
                        } else {
                            format!("case applies to (`{}`)", self.case_range)
                        }
                    );
                    self.err_at(text, message);
                    None
                } else {
                    Some(r)
                }
            }
            Err(message) => {
                self.err_at(text, message);
                None
            }
        }
    }

    /// Identities `node`, `node*N`, `node×N`, sorted.
    fn identities(&mut self, items: &[Located<String>]) -> Vec<String> {
        let mut out = Vec::new();
        for item in items {
            let text = item.value.trim();
            let (name, n) = match text.split_once('*').or_else(|| text.split_once('×')) {
                Some((name, n)) => {
                    match n.trim().parse::<usize>() {
                        Ok(n) => (name.trim(), n),
                        Err(_) => {
                            self.err_at(
                            item,
                            format!("`{text}` is not an endpoint identity; expected `node` or `node*N`"),
                        );
                            continue;
                        }
                    }
                }
                None => (text, 1),
            };
            let located = Located {
                value: name.to_string(),
                line: item.line,
                column: item.column,
            };
            let name = self.node(&located, "an endpoint identity");
            out.extend(std::iter::repeat_n(name, n));
        }
        out.sort();
        out
    }
}

pub(super) fn parse_case(text: &str, origin: &str, path: &Path) -> Result<Case, Vec<CaseError>> {
    let file: CaseFile = serde_saphyr::from_str_with_options(text, crate::input::parse_options())
        .map_err(|e| {
        let (at, message) = crate::input::saphyr_error(origin, &e);
        vec![CaseError::Invalid { at, message }]
    })?;
    let mut ctx = Ctx {
        origin,
        errors: Vec::new(),
        nodes: BTreeSet::new(),
        case_range: VersionRange::any(),
    };
    if file.api_version.value != CASE_API_VERSION {
        let message = format!(
            "apiVersion `{}` is not supported; expected `{CASE_API_VERSION}`",
            file.api_version.value
        );
        ctx.err_at(&file.api_version, message);
    }
    if file.kind.value != "Case" {
        let message = format!("kind `{}` is not a case; expected `Case`", file.kind.value);
        ctx.err_at(&file.kind, message);
    }
    check_name(&mut ctx, &file.name, "case name");
    let versions = match &file.kubernetes {
        Some(text) => ctx
            .range(text, "kubernetes")
            .unwrap_or_else(VersionRange::any),
        None => VersionRange::any(),
    };
    ctx.case_range = versions.clone();

    // Nodes.
    let mut nodes = Vec::new();
    for node in &file.cluster.nodes {
        let spec = &node.value;
        check_name(&mut ctx, &spec.name, "node name");
        if !ctx.nodes.insert(spec.name.value.clone()) {
            let message = format!("node `{}` is defined twice", spec.name.value);
            ctx.err_at(&spec.name, message);
        }
        let cpu = match &spec.cpu {
            Some(q) => cpu(&mut ctx, q),
            None => crate::input::DEFAULT_NODE_CPU_MILLIS,
        };
        for key in spec.labels.keys() {
            if [LABEL_ZONE, LABEL_REGION, LABEL_CONTROL_PLANE].contains(&key.as_str()) {
                ctx.err_at(
                    node,
                    format!("label `{key}` is set by `zone`, `region` or `role`; use those fields"),
                );
            }
        }
        nodes.push(NodeDef {
            name: spec.name.value.clone(),
            role: match spec.role {
                RoleSpec::Worker => Role::Worker,
                RoleSpec::ControlPlane => Role::ControlPlane,
            },
            zone: spec.zone.clone(),
            region: spec.region.clone(),
            cpu_millis: cpu,
            ready: spec.ready.unwrap_or(true),
            labels: spec.labels.clone(),
        });
    }
    if nodes.is_empty() {
        ctx.err(0, 0, "cluster.nodes: a case needs at least one node");
    }
    let mut gates = Vec::new();
    for (name, on) in file.cluster.feature_gates.iter() {
        match FeatureGate::from_name(&name.value) {
            Some(g) => gates.push((g, *on)),
            None => {
                let known: Vec<&str> = FeatureGate::ALL.iter().map(|g| g.name()).collect();
                let message = format!(
                    "unknown feature gate `{}`; known gates: {}",
                    name.value,
                    known.join(", ")
                );
                ctx.err_at(name, message);
            }
        }
    }
    let max = match &file.cluster.max_endpoints_per_slice {
        Some(m) if !(1..=1000).contains(&m.value) => {
            ctx.err_at(
                m,
                format!(
                    "max_endpoints_per_slice must be 1 to 1000, found {}",
                    m.value
                ),
            );
            100
        }
        Some(m) => usize::try_from(m.value).unwrap_or(100),
        None => 100,
    };

    let service = service_change(&mut ctx, &file.service);
    if file.steps.is_empty() {
        ctx.err(0, 0, "steps: a case needs at least one step");
    }
    let mut steps = Vec::new();
    let mut step_names = BTreeSet::new();
    for (i, step) in file.steps.iter().enumerate() {
        let spec = &step.value;
        check_name(&mut ctx, &spec.name, "step name");
        if !step_names.insert(spec.name.value.clone()) {
            let message = format!("step `{}` is defined twice", spec.name.value);
            ctx.err_at(&spec.name, message);
        }
        let mut action = step_action(&mut ctx, spec);
        if i == 0 {
            action.create_service = Some(service.clone());
        }
        let expect = match &spec.expect {
            Some(list) => list.0.iter().map(|e| expect(&mut ctx, e)).collect(),
            None => Vec::new(),
        };
        steps.push(Step {
            name: spec.name.value.clone(),
            summary: spec.summary.clone(),
            action,
            expect,
            line: step.line,
            column: step.column,
        });
    }
    if !ctx.errors.is_empty() {
        return Err(ctx.errors);
    }
    Ok(Case {
        name: file.name.value,
        summary: file.summary,
        source: file.source,
        path: path.to_path_buf(),
        versions,
        nodes,
        feature_gates: gates,
        max_endpoints_per_slice: max,
        steps,
    })
}

fn check_name(ctx: &mut Ctx<'_>, name: &Located<String>, what: &str) {
    let ok = !name.value.is_empty()
        && name.value.len() <= 63
        && name
            .value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !name.value.starts_with('-');
    if !ok {
        let message = format!(
            "{what} `{}` is not valid; use lower-case letters, digits, `-` and `.`",
            name.value
        );
        ctx.err_at(name, message);
    }
}

fn cpu(ctx: &mut Ctx<'_>, q: &Located<super::types::Quantity>) -> u64 {
    match cpu_millis(&q.value.0) {
        Ok(0) => {
            ctx.err_at(q, "cpu must be more than 0 (a node without CPU disables hints; remove the node's zone instead)");
            1000
        }
        Ok(m) => m,
        Err(e) => {
            ctx.err_at(q, format!("cpu `{}`: {e}", q.value.0));
            1000
        }
    }
}

fn policy(p: Option<PolicySpec>) -> Option<TrafficPolicy> {
    p.map(|p| match p {
        PolicySpec::Cluster => TrafficPolicy::Cluster,
        PolicySpec::Local => TrafficPolicy::Local,
    })
}

fn service_change(ctx: &mut Ctx<'_>, patch: &ServicePatch) -> ServiceChange {
    let mut annotations = Vec::new();
    for (key, value) in patch.annotations.iter() {
        if [ANNOTATION_TOPOLOGY_MODE, ANNOTATION_TOPOLOGY_AWARE_HINTS].contains(&key.value.as_str())
        {
            if let Some(v) = &value.value {
                if !ANNOTATION_VALUES.contains(&v.as_str()) {
                    let message = format!(
                        "unknown topology mode `{v}` for {}; expected one of Auto, auto, Disabled, disabled, \"\" or PreferZone",
                        key.value
                    );
                    ctx.err_at(value, message);
                }
            }
        }
        annotations.push((key.value.clone(), value.value.clone()));
    }
    let traffic_distribution = patch.traffic_distribution.as_ref().map(|td| {
        td.as_ref().map(|v| {
            let value = TrafficDistribution::from(v.value.as_str());
            if let TrafficDistribution::Other(_) = value {
                let message = format!(
                    "unknown trafficDistribution `{}`; expected PreferClose, PreferSameZone or PreferSameNode",
                    v.value
                );
                ctx.err_at(v, message);
            }
            value
        })
    });
    ServiceChange {
        annotations,
        traffic_distribution,
        internal_traffic_policy: policy(patch.internal_traffic_policy),
        external_traffic_policy: policy(patch.external_traffic_policy),
        topology_keys: patch.topology_keys.clone(),
        publish_not_ready_addresses: patch.publish_not_ready_addresses,
        node_port: patch
            .service_type
            .map(|t| matches!(t, ServiceTypeSpec::NodePort)),
        selector: patch.selector,
    }
}

fn step_action(ctx: &mut Ctx<'_>, spec: &StepSpec) -> StepAction {
    let endpoints = spec.endpoints.as_ref().map(|m| ctx.counts(m, "endpoints"));
    let scale = spec.scale.as_ref().map(|s| ctx.count(s, "scale"));
    if let (Some(_), Some(s)) = (&spec.endpoints, &spec.scale) {
        ctx.err_at(s, "a step either places endpoints or scales, not both");
    }
    let not_ready = spec
        .not_ready
        .as_ref()
        .map(|m| ctx.counts(m, "not_ready"))
        .unwrap_or_default();
    let terminating = spec
        .terminating
        .as_ref()
        .map(|m| ctx.counts(m, "terminating"))
        .unwrap_or_default();
    let mut nodes = Vec::new();
    if let Some(map) = &spec.nodes {
        for (name, patch) in map.iter() {
            let name = ctx.node(name, "nodes");
            nodes.push((name, node_change(ctx, patch)));
        }
    }
    let service = spec.service.as_ref().map(|p| service_change(ctx, p));
    let slices = spec.slices.as_ref().map(|slices| {
        let mut names = BTreeSet::new();
        slices
            .iter()
            .map(|s| {
                check_name(ctx, &s.name, "slice name");
                if !names.insert(s.name.value.clone()) {
                    let message = format!("slice `{}` is defined twice", s.name.value);
                    ctx.err_at(&s.name, message);
                }
                let managed_by = match &s.managed_by {
                    Some(m) if m.value == MANAGED_BY_CONTROLLER => {
                        ctx.err_at(m, format!("hand-written slices must not claim managed-by `{MANAGED_BY_CONTROLLER}` (the upstream controller would take them over)"));
                        m.value.clone()
                    }
                    Some(m) => m.value.clone(),
                    None => MANAGED_BY_HAND.to_string(),
                };
                let mut endpoints = Vec::new();
                for e in &s.endpoints {
                    let node = ctx.node(&e.node, "a hand-written endpoint");
                    let n = e.count.as_ref().map(|c| ctx.count(c, "count")).unwrap_or(1);
                    let node_hints: Vec<String> = e
                        .hints
                        .as_ref()
                        .map(|h| h.nodes.iter().map(|n| ctx.node(n, "hints.nodes")).collect())
                        .unwrap_or_default();
                    for _ in 0..n {
                        endpoints.push(HandEndpoint {
                            node: node.clone(),
                            ready: Some(e.ready.unwrap_or(true)),
                            serving: e.serving,
                            terminating: e.terminating,
                            zone_hints: e.hints.as_ref().map(|h| h.zones.clone()),
                            node_hints: node_hints.clone(),
                        });
                    }
                }
                HandSlice {
                    name: s.name.value.clone(),
                    managed_by,
                    endpoints,
                }
            })
            .collect()
    });
    StepAction {
        create_service: None,
        service,
        nodes,
        endpoints,
        scale,
        not_ready,
        terminating,
        slices,
    }
}

fn node_change(ctx: &mut Ctx<'_>, patch: &NodePatch) -> NodeChange {
    NodeChange {
        zone: patch.zone.clone(),
        ready: patch.ready,
        cpu_millis: patch.cpu.as_ref().map(|q| cpu(ctx, q)),
    }
}

fn route_map(
    ctx: &mut Ctx<'_>,
    map: &LocatedMap<Vec<Located<String>>>,
    what: &str,
) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (node, items) in map.iter() {
        let name = if node.value == "*" {
            "*".to_string()
        } else {
            ctx.node(node, what)
        };
        if out.iter().any(|(n, _)| *n == name) {
            ctx.err_at(node, format!("`{name}` is listed twice in {what}"));
        }
        let ids = ctx.identities(items);
        out.push((name, ids));
    }
    out
}

fn expect(ctx: &mut Ctx<'_>, spec: &ExpectSpec) -> GuardedExpect {
    let versions = spec
        .kubernetes
        .as_ref()
        .and_then(|k| ctx.range(k, "expect.kubernetes"));
    let hints = spec.hints.as_ref().map(|h| match h {
        HintsExpectSpec::None => HintsExpect::None,
        HintsExpectSpec::Zones(zones) => {
            let mut out = BTreeMap::new();
            for (zone, z) in zones.iter() {
                let value = match z {
                    ZoneHintsSpec::Count(c) => {
                        let c = Located {
                            value: c.value,
                            line: zone.line,
                            column: zone.column,
                        };
                        ZoneExpect::Count(
                            ctx.count(&c, &format!("hints for zone `{}`", zone.value)),
                        )
                    }
                    ZoneHintsSpec::Endpoints(items) => ZoneExpect::Endpoints(ctx.identities(items)),
                };
                out.insert(zone.value.clone(), value);
            }
            HintsExpect::Zones(out)
        }
    });
    let node_hints = spec.node_hints.as_ref().map(|m| {
        route_map(ctx, m, "node_hints")
            .into_iter()
            .collect::<BTreeMap<_, _>>()
    });
    GuardedExpect {
        versions,
        expect: Expect {
            rejected: spec.rejected.clone(),
            hints,
            node_hints,
            routes: spec.routes.as_ref().map(|m| route_map(ctx, m, "routes")),
            external_routes: spec
                .external_routes
                .as_ref()
                .map(|m| route_map(ctx, m, "external_routes")),
            slices: spec.slices.clone(),
            hints_may_be_stale: spec.hints_may_be_stale,
        },
    }
}
