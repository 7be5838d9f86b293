//! Validation and conversion of a written case into [`Case`], collecting every problem.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::bounds::{self, Bound, Count, EndpointTally};
use super::constraints::{EventExpect, RouteConstraint, ShareExpect, ShareRange};
use super::located::{Located, LocatedMap};
use super::range::VersionRange;
use super::types::{
    CaseFile, EventExpectSpec, ExpectSpec, HintsExpectSpec, NodePatch, PolicySpec, RoleSpec,
    RouteConstraintSpec, RouteExpectSpec, ServicePatch, ServiceTypeSpec, ShareSpec, StepSpec,
    ZoneHintsSpec, CASE_API_VERSION,
};
use super::{
    Case, CaseError, Expect, ExpectLocation, GuardedExpect, HandEndpoint, HandSlice, HintsExpect,
    NodeChange, NodeDef, Role, ServiceChange, Step, StepAction, ZoneExpect, MANAGED_BY_HAND,
};
use crate::input::{cpu_millis, SourceLocation};
use crate::model::TrafficDistribution;
use crate::model::{
    FeatureGate, KubeVersion, TrafficPolicy, LABEL_CONTROL_PLANE, LABEL_REGION, LABEL_ZONE,
    MANAGED_BY_CONTROLLER,
};

struct Ctx<'a> {
    origin: &'a str,
    errors: Vec<CaseError>,
    nodes: BTreeSet<String>,
    case_range: VersionRange,
    /// Endpoint identities the expectations may still expand to ([`bounds::IDENTITIES_PER_CASE`]).
    identities_left: usize,
}

impl Ctx<'_> {
    fn err(&mut self, line: u32, column: u32, message: impl Into<String>) {
        // Messages quote what the file says; a quoted line break must not split the one
        // error line.
        let message = message.into().replace('\n', "\\n").replace('\r', "\\r");
        self.errors.push(CaseError::Invalid {
            at: SourceLocation::new(self.origin, line, column),
            message,
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

    /// A count within `bound` (0 and an error naming the bound when it is not).
    fn count(&mut self, value: &Located<Count>, what: &str, bound: Bound) -> usize {
        match bound.check(value.value, what) {
            Ok(n) => n,
            Err(message) => {
                self.err_at(value, message);
                0
            }
        }
    }

    fn counts(
        &mut self,
        map: &LocatedMap<Located<Count>>,
        what: &str,
        bound: Bound,
    ) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for (node, count) in map.iter() {
            let name = self.node(node, what);
            let n = self.count(count, &format!("{what} count for `{name}`"), bound);
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

    /// Identities `node`, `node*N`, `node×N`, sorted; their number is bounded per list and
    /// per case before any is allocated.
    fn identities(&mut self, items: &[Located<String>]) -> Vec<String> {
        let mut out = Vec::new();
        for item in items {
            let text = item.value.trim();
            let (name, n) = match text.split_once('*').or_else(|| text.split_once('×')) {
                Some((name, n)) => {
                    match n.trim().parse::<u64>() {
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
            let total = out.len() as u128 + u128::from(n);
            if total > u128::from(bounds::IDENTITIES_PER_LIST.max) {
                let message = bounds::IDENTITIES_PER_LIST
                    .exceeded(&format!("the list's endpoint count (with `{text}`)"), total);
                self.err_at(item, message);
                break;
            }
            // Within the per-list bound, so it fits a usize.
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            if n > self.identities_left {
                let message = bounds::IDENTITIES_PER_CASE.exceeded(
                    &format!("the case's expected endpoint count (at `{text}`)"),
                    format!("more than {}", bounds::IDENTITIES_PER_CASE.max),
                );
                self.err_at(item, message);
                self.identities_left = 0;
                break;
            }
            self.identities_left -= n;
            out.extend(std::iter::repeat_n(name, n));
        }
        out.sort();
        out
    }
}

pub(super) fn parse_case(text: &str, origin: &str, path: &Path) -> Result<Case, Vec<CaseError>> {
    let file: CaseFile = serde_saphyr::from_str_with_options(text, bounds::parse_options())
        .map_err(|e| {
            let (at, message) = crate::input::saphyr_error(origin, &e);
            vec![CaseError::Invalid { at, message }]
        })?;
    let mut ctx = Ctx {
        origin,
        errors: Vec::new(),
        nodes: BTreeSet::new(),
        case_range: VersionRange::any(),
        identities_left: usize::try_from(bounds::IDENTITIES_PER_CASE.max).unwrap_or(usize::MAX),
    };
    if let Some(message) = too_many(file.cluster.nodes.len(), bounds::NODES, "cluster.nodes") {
        // Checked before any node is converted: the list is all that is allocated so far.
        return Err(vec![CaseError::Invalid {
            at: SourceLocation::new(origin, 0, 0),
            message,
        }]);
    }
    if let Some(message) = too_many(file.steps.len(), bounds::STEPS, "steps") {
        return Err(vec![CaseError::Invalid {
            at: SourceLocation::new(origin, 0, 0),
            message,
        }]);
    }
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
        Some(m) if !(1..=i128::from(bounds::MAX_ENDPOINTS_PER_SLICE.max)).contains(&m.value.0) => {
            ctx.err_at(
                m,
                format!(
                    "max_endpoints_per_slice must be 1 to {}, found {}",
                    bounds::MAX_ENDPOINTS_PER_SLICE.max,
                    m.value
                ),
            );
            100
        }
        Some(m) => usize::try_from(m.value.0).unwrap_or(100),
        None => 100,
    };

    let service = service_change(&file.service);
    if file.steps.is_empty() {
        ctx.err(0, 0, "steps: a case needs at least one step");
    }
    let mut steps = Vec::new();
    let mut step_names = BTreeSet::new();
    let mut tally = EndpointTally::new(nodes.len());
    for (i, step) in file.steps.iter().enumerate() {
        // Reported once, at the step that crosses the bound.
        let before = nodes.len() as u128 * i as u128;
        let after = before + nodes.len() as u128;
        let max = u128::from(bounds::NODE_STEPS.max);
        if after > max && before <= max {
            let message = bounds::NODE_STEPS.exceeded(
                &format!("{} nodes × {} steps (up to this one)", nodes.len(), i + 1),
                after,
            );
            ctx.err_at(step, message);
        }
        let spec = &step.value;
        check_name(&mut ctx, &spec.name, "step name");
        if !step_names.insert(spec.name.value.clone()) {
            let message = format!("step `{}` is defined twice", spec.name.value);
            ctx.err_at(&spec.name, message);
        }
        let mut action = step_action(&mut ctx, spec);
        let pods = match (&action.endpoints, action.scale) {
            (Some(per_node), _) => Some(per_node.values().map(|n| *n as u128).sum()),
            (None, scale) => scale.map(|n| n as u128),
        };
        let hand = action.slices.as_ref().map(|slices| {
            slices
                .iter()
                .map(|s| s.endpoints.len() as u128)
                .sum::<u128>()
        });
        if let Some(e) = tally.step(origin, step, pods, hand) {
            ctx.errors.push(e);
        }
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
        profile: file.profile.unwrap_or_default(),
        path: path.to_path_buf(),
        versions,
        nodes,
        feature_gates: gates,
        max_endpoints_per_slice: max,
        steps,
    })
}

/// The message when a list has more than `bound` entries.
fn too_many(len: usize, bound: Bound, what: &str) -> Option<String> {
    (len as u128 > u128::from(bound.max))
        .then(|| bound.exceeded(&format!("the number of {what}"), len))
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
        Ok(m) if m > bounds::CPU_MILLIS.max => {
            let message = bounds::CPU_MILLIS.exceeded(
                &format!("cpu `{}`", bounds::shorten(&q.value.0)),
                format!("{} millicores", bounds::thousands(u128::from(m))),
            );
            ctx.err_at(q, message);
            1000
        }
        Ok(m) => m,
        Err(e) => {
            // The quantity's message starts by quoting the whole text: quote it once, short.
            let why = e.rsplit_once(": ").map_or(e.as_str(), |(_, why)| why);
            let message = format!(
                "cpu `{}` is not a valid CPU quantity: {why}",
                bounds::shorten(&q.value.0)
            );
            ctx.err_at(q, message);
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

fn service_change(patch: &ServicePatch) -> ServiceChange {
    // Any annotation value is the user's to test (upstream tests `aUto`, `""`, unknown
    // strings): the model decides what it means.
    let annotations = patch
        .annotations
        .iter()
        .map(|(key, value)| (key.value.clone(), value.value.clone()))
        .collect();
    // Any value is sent as written, like annotations: the API server rejects the ones it does
    // not know (where the field exists), and a step can expect that with `rejected`.
    let traffic_distribution = patch.traffic_distribution.as_ref().map(|td| {
        td.as_ref()
            .map(|v| TrafficDistribution::from(v.value.as_str()))
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
    let endpoints = spec
        .endpoints
        .as_ref()
        .map(|m| ctx.counts(m, "endpoints", bounds::ENDPOINTS_PER_NODE));
    let scale = spec
        .scale
        .as_ref()
        .map(|s| ctx.count(s, "scale", bounds::ENDPOINTS));
    if let (Some(_), Some(s)) = (&spec.endpoints, &spec.scale) {
        ctx.err_at(s, "a step either places endpoints or scales, not both");
    }
    let not_ready = spec
        .not_ready
        .as_ref()
        .map(|m| ctx.counts(m, "not_ready", bounds::ENDPOINTS_PER_NODE))
        .unwrap_or_default();
    let terminating = spec
        .terminating
        .as_ref()
        .map(|m| ctx.counts(m, "terminating", bounds::ENDPOINTS_PER_NODE))
        .unwrap_or_default();
    let mut nodes = Vec::new();
    if let Some(map) = &spec.nodes {
        for (name, patch) in map.iter() {
            let name = ctx.node(name, "nodes");
            nodes.push((name, node_change(ctx, patch)));
        }
    }
    let service = spec.service.as_ref().map(service_change);
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
                let mut written: u128 = 0;
                for e in &s.endpoints {
                    let node = ctx.node(&e.node, "a hand-written endpoint");
                    let n = e
                        .count
                        .as_ref()
                        .map(|c| {
                            let what = format!("count of `{}` in slice `{}`", node, s.name.value);
                            ctx.count(c, &what, bounds::SLICE_ENDPOINTS)
                        })
                        .unwrap_or(1);
                    written += n as u128;
                    if written > u128::from(bounds::SLICE_ENDPOINTS.max) {
                        let message = bounds::SLICE_ENDPOINTS.exceeded(
                            &format!("the endpoint count of slice `{}`", s.name.value),
                            written,
                        );
                        ctx.err_at(&e.node, message);
                        break;
                    }
                    let node_hints: Vec<String> = e
                        .hints
                        .as_ref()
                        .map(|h| h.nodes.iter().map(|n| ctx.node(n, "hints.nodes")).collect())
                        .unwrap_or_default();
                    for _ in 0..n {
                        endpoints.push(HandEndpoint {
                            node: node.clone(),
                            // Absent: ready; `null`: the condition is unset.
                            ready: e.ready.unwrap_or(Some(true)),
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
        let name = node_or_star(ctx, node, what, out.iter().map(|(n, _)| n.as_str()));
        let ids = ctx.identities(items);
        out.push((name, ids));
    }
    out
}

/// A node key of a per-node expectation (`*` = every node not listed), reported when it is
/// unknown or listed twice.
fn node_or_star<'a>(
    ctx: &mut Ctx<'_>,
    node: &Located<String>,
    what: &str,
    mut seen: impl Iterator<Item = &'a str>,
) -> String {
    let name = if node.value == "*" {
        "*".to_string()
    } else {
        ctx.node(node, what)
    };
    if seen.any(|n| n == name) {
        ctx.err_at(node, format!("`{name}` is listed twice in {what}"));
    }
    name
}

/// Exact routes and route constraints of a `routes`/`external_routes` mapping.
type RouteExpectations = (Vec<(String, Vec<String>)>, Vec<(String, RouteConstraint)>);

fn route_expectations(
    ctx: &mut Ctx<'_>,
    map: &LocatedMap<RouteExpectSpec>,
    what: &str,
) -> RouteExpectations {
    let mut exact: Vec<(String, Vec<String>)> = Vec::new();
    let mut constraints: Vec<(String, RouteConstraint)> = Vec::new();
    for (node, spec) in map.iter() {
        let seen = exact
            .iter()
            .map(|(n, _)| n.as_str())
            .chain(constraints.iter().map(|(n, _)| n.as_str()));
        let name = node_or_star(ctx, node, what, seen);
        match spec {
            RouteExpectSpec::Exact(items) => {
                let ids = ctx.identities(items);
                exact.push((name, ids));
            }
            RouteExpectSpec::Constraint(c) => {
                let constraint = route_constraint(ctx, node, c, what);
                constraints.push((name, constraint));
            }
        }
    }
    // `*` means every node not listed, in either form: when both forms are used, spell it
    // out here, where every listed node is known.
    if !exact.is_empty() && !constraints.is_empty() {
        let listed: BTreeSet<String> = exact
            .iter()
            .map(|(n, _)| n.clone())
            .chain(constraints.iter().map(|(n, _)| n.clone()))
            .collect();
        let rest: Vec<String> = ctx
            .nodes
            .iter()
            .filter(|n| !listed.contains(*n))
            .cloned()
            .collect();
        exact = expand_star(exact, &rest);
        constraints = expand_star(constraints, &rest);
    }
    (exact, constraints)
}

fn expand_star<T: Clone>(entries: Vec<(String, T)>, rest: &[String]) -> Vec<(String, T)> {
    let mut out = Vec::new();
    for (node, value) in entries {
        if node == "*" {
            out.extend(rest.iter().map(|n| (n.clone(), value.clone())));
        } else {
            out.push((node, value));
        }
    }
    out
}

/// A flag that may only be `true` (`false` would assert nothing).
fn only_true(ctx: &mut Ctx<'_>, flag: &Option<Located<bool>>, what: &str) -> bool {
    match flag {
        Some(f) if !f.value => {
            ctx.err_at(
                f,
                format!("`{what}: false` asserts nothing; write `true` or leave it out"),
            );
            false
        }
        Some(_) => true,
        None => false,
    }
}

fn route_constraint(
    ctx: &mut Ctx<'_>,
    node: &Located<String>,
    spec: &RouteConstraintSpec,
    what: &str,
) -> RouteConstraint {
    let subset_of = spec.subset_of.as_ref().map(|items| {
        let mut ids = ctx.identities(items);
        ids.dedup();
        ids
    });
    let not_empty = only_true(ctx, &spec.not_empty, "not_empty");
    let at_least = match (&spec.at_least, not_empty) {
        (Some(n), _) => Some(
            ctx.count(n, "at_least", bounds::ENDPOINTS)
                .max(usize::from(not_empty)),
        ),
        (None, true) => Some(1),
        (None, false) => None,
    };
    let at_most = spec
        .at_most
        .as_ref()
        .map(|n| ctx.count(n, "at_most", bounds::ENDPOINTS));
    let zones_at_least = spec
        .zones_at_least
        .as_ref()
        .map(|n| ctx.count(n, "zones_at_least", bounds::NODES));
    let constraint = RouteConstraint {
        same_zone: only_true(ctx, &spec.same_zone, "same_zone"),
        same_node: only_true(ctx, &spec.same_node, "same_node"),
        subset_of,
        at_least,
        at_most,
        zones_at_least,
    };
    if let (Some(lo), Some(hi)) = (constraint.at_least, constraint.at_most) {
        if lo > hi {
            ctx.err_at(
                node,
                format!("{what} for `{}`: at_least {lo} is more than at_most {hi}; no routes can satisfy both", node.value),
            );
        }
    }
    let nothing_written = spec.same_zone.is_none()
        && spec.same_node.is_none()
        && spec.subset_of.is_none()
        && spec.at_least.is_none()
        && spec.at_most.is_none()
        && spec.zones_at_least.is_none()
        && spec.not_empty.is_none();
    if nothing_written {
        ctx.err_at(
            node,
            format!("{what} for `{}`: an empty constraint asserts nothing; give a list of endpoints or one of same_zone, same_node, subset_of, at_least, at_most, zones_at_least, not_empty", node.value),
        );
    }
    constraint
}

/// `"2-3"` → (2, Some(3)), `">= 1"` → (1, None), `"<= 2"` → (0, Some(2)); `None` when it
/// is none of these (or an empty range).
fn count_range(text: &str) -> Option<(usize, Option<usize>)> {
    let t = text.trim();
    let n = |s: &str| s.trim().parse::<usize>().ok();
    let (min, max) = if let Some(rest) = t.strip_prefix(">=") {
        (n(rest)?, None)
    } else if let Some(rest) = t.strip_prefix("<=") {
        (0, Some(n(rest)?))
    } else if let Some((lo, hi)) = t.split_once('-') {
        (n(lo)?, Some(n(hi)?))
    } else {
        let v = n(t)?;
        (v, Some(v))
    };
    max.is_none_or(|max| min <= max).then_some((min, max))
}

fn share_range(ctx: &mut Ctx<'_>, text: &Located<String>) -> Option<ShareRange> {
    match ShareRange::parse(&text.value) {
        Ok(r) => Some(r),
        Err(message) => {
            ctx.err_at(text, message);
            None
        }
    }
}

fn share_list(
    ctx: &mut Ctx<'_>,
    map: &Option<LocatedMap<Located<String>>>,
    mut key: impl FnMut(&mut Ctx<'_>, &Located<String>) -> String,
) -> Vec<(String, ShareRange)> {
    let mut out = Vec::new();
    for (k, v) in map.iter().flat_map(|m| m.iter()) {
        let name = key(ctx, k);
        if let Some(r) = share_range(ctx, v) {
            out.push((name, r));
        }
    }
    out
}

fn traffic_shares(ctx: &mut Ctx<'_>, map: &LocatedMap<ShareSpec>) -> Vec<(String, ShareExpect)> {
    let mut out: Vec<(String, ShareExpect)> = Vec::new();
    for (node, spec) in map.iter() {
        let name = node_or_star(
            ctx,
            node,
            "traffic_shares",
            out.iter().map(|(n, _)| n.as_str()),
        );
        let share = ShareExpect {
            same_zone: spec.same_zone.as_ref().and_then(|t| share_range(ctx, t)),
            same_node: spec.same_node.as_ref().and_then(|t| share_range(ctx, t)),
            endpoints: share_list(ctx, &spec.endpoints, |ctx, k| {
                ctx.node(k, "traffic_shares.endpoints")
            }),
            zones: share_list(ctx, &spec.zones, |_, k| k.value.clone()),
        };
        let empty = spec.same_zone.is_none()
            && spec.same_node.is_none()
            && spec.endpoints.is_none()
            && spec.zones.is_none();
        if empty {
            ctx.err_at(
                node,
                "traffic_shares: give at least one of same_zone, same_node, endpoints, zones",
            );
        }
        out.push((name, share));
    }
    out
}

fn events(ctx: &mut Ctx<'_>, specs: &[EventExpectSpec]) -> Vec<EventExpect> {
    specs
        .iter()
        .map(|e| {
            if let Some(t) = &e.event_type {
                if t.value != "Normal" && t.value != "Warning" {
                    let message = format!(
                        "event type `{}` is not one Kubernetes records; expected Normal or Warning",
                        t.value
                    );
                    ctx.err_at(t, message);
                }
            }
            if e.reason.value.trim().is_empty() {
                ctx.err_at(&e.reason, "an expected event needs a reason");
            }
            EventExpect {
                reason: e.reason.value.clone(),
                event_type: e.event_type.as_ref().map(|t| t.value.clone()),
                message: e.message.clone(),
                absent: e.absent.unwrap_or(false),
            }
        })
        .collect()
}

fn expect(ctx: &mut Ctx<'_>, spec: &ExpectSpec) -> GuardedExpect {
    let versions = spec
        .kubernetes
        .as_ref()
        .and_then(|k| ctx.range(k, "expect.kubernetes"));
    let hints = spec.hints.as_ref().map(|h| match &h.value {
        HintsExpectSpec::None => HintsExpect::None,
        HintsExpectSpec::Zones(zones) => {
            let mut out = BTreeMap::new();
            for (zone, z) in zones.iter() {
                let value = match z {
                    ZoneHintsSpec::Count(c) => {
                        let c = Located {
                            value: *c,
                            line: zone.line,
                            column: zone.column,
                        };
                        ZoneExpect::Count(ctx.count(
                            &c,
                            &format!("hints for zone `{}`", zone.value),
                            bounds::ENDPOINTS,
                        ))
                    }
                    ZoneHintsSpec::Endpoints(items) => ZoneExpect::Endpoints(ctx.identities(items)),
                    ZoneHintsSpec::Range(text) => match count_range(text) {
                        Some((min, max)) => ZoneExpect::Between { min, max },
                        None => {
                            let message = format!(
                                "hints for zone `{}`: `{text}` is not a count range; expected a number, \"2-3\", \">= 1\" or \"<= 2\"",
                                zone.value
                            );
                            ctx.err_at(zone, message);
                            ZoneExpect::Count(0)
                        }
                    },
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
    let (routes, route_constraints) = spec
        .routes
        .as_ref()
        .map(|m| route_expectations(ctx, m, "routes"))
        .unzip();
    let (external_routes, external_route_constraints) = spec
        .external_routes
        .as_ref()
        .map(|m| route_expectations(ctx, m, "external_routes"))
        .unzip();
    GuardedExpect {
        versions,
        expect: Expect {
            rejected: spec.rejected.as_ref().map(|r| r.value.clone()),
            hints,
            node_hints,
            routes,
            external_routes,
            slices: spec.slices.as_ref().map(|sizes| {
                sizes
                    .iter()
                    .map(|n| ctx.count(n, "an expected slice size", bounds::SLICE_ENDPOINTS))
                    .collect()
            }),
            hints_may_be_stale: spec.hints_may_be_stale,
            route_constraints,
            external_route_constraints,
            traffic_shares: spec.traffic_shares.as_ref().map(|m| traffic_shares(ctx, m)),
            ready_endpoints_hinted: only_true(
                ctx,
                &spec.ready_endpoints_hinted,
                "ready_endpoints_hinted",
            )
            .then_some(true),
            hints_own_zone: only_true(ctx, &spec.hints_own_zone, "hints_own_zone").then_some(true),
            events: spec.events.as_ref().map(|e| events(ctx, e)),
            locations: expect_locations(spec),
        },
    }
}

/// Where each expectation of `spec` is written, by the check it makes.
fn expect_locations(spec: &ExpectSpec) -> Vec<ExpectLocation> {
    let mut out = Vec::new();
    let mut at = |check: String, line: u32, column: u32| {
        out.push(ExpectLocation {
            check,
            line,
            column,
        });
    };
    if let Some(r) = &spec.rejected {
        at("rejected".into(), r.line, r.column);
    }
    if let Some(h) = &spec.hints {
        at("hints".into(), h.line, h.column);
    }
    let maps = [
        ("node_hints", spec.node_hints.as_ref().map(|m| keys(m))),
        ("routes", spec.routes.as_ref().map(|m| keys(m))),
        (
            "external_routes",
            spec.external_routes.as_ref().map(|m| keys(m)),
        ),
        (
            "traffic_shares",
            spec.traffic_shares.as_ref().map(|m| keys(m)),
        ),
    ];
    for (field, entries) in maps {
        for key in entries.into_iter().flatten() {
            // `node_hints` is one check for all nodes: its first entry stands for it.
            let check = if field == "node_hints" {
                field.to_string()
            } else {
                format!("{field}/{}", key.value)
            };
            at(check, key.line, key.column);
        }
    }
    for (check, flag) in [
        ("ready_endpoints_hinted", &spec.ready_endpoints_hinted),
        ("hints_own_zone", &spec.hints_own_zone),
    ] {
        if let Some(f) = flag {
            at(check.into(), f.line, f.column);
        }
    }
    if let Some(first) = spec.events.as_ref().and_then(|e| e.first()) {
        at("events".into(), first.reason.line, first.reason.column);
    }
    if let Some(first) = spec.slices.as_ref().and_then(|s| s.first()) {
        at("slices".into(), first.line, first.column);
    }
    // Only the first location of a check counts (node_hints has one per node).
    let mut seen = BTreeSet::new();
    out.retain(|l| seen.insert(l.check.clone()));
    out
}

/// The keys of a located map, in the order written.
fn keys<V>(map: &LocatedMap<V>) -> Vec<&Located<String>> {
    map.iter().map(|(k, _)| k).collect()
}
