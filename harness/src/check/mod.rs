//! Checks: the case's expectations, the model, and golden snapshots, each compared with what
//! was observed. A failure message shows only what differs.

pub mod constraints;
pub mod identity;

use std::collections::BTreeMap;

use crate::backend::{Applied, Observation};
use crate::case::{Expect, HintsExpect, ZoneExpect, SERVICE_NAME};
use crate::model::analysis::analyse;
use crate::model::analysis::model_routes;
use crate::model::{Environment, FeatureGates};

use identity::{format_ids, normalize, Normalized};

/// How a check ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckStatus {
    /// It held.
    Passed,
    /// It did not; the message shows what differs.
    Failed(String),
}

/// Which check: its JUnit test-case name is `<case>/<step>/<name>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckName {
    /// The backend could not apply the step, or the cluster rejected it unexpectedly.
    Apply,
    /// The step was expected to be rejected.
    Rejected,
    /// The observation did not settle before the deadline.
    Converge,
    /// The backend could not observe the cluster.
    Observe,
    /// The observation's own problems (rules and traffic disagree, a probe failed).
    Dataplane,
    /// Hints per zone.
    Hints,
    /// `forNodes` hints per node.
    NodeHints,
    /// Slice sizes.
    Slices,
    /// Internal traffic from one node.
    Routes(String),
    /// External traffic arriving at one node.
    ExternalRoutes(String),
    /// Shares of the requests sent from one node.
    TrafficShares(String),
    /// Every ready endpoint has a zone hint.
    ReadyEndpointsHinted,
    /// Every hinted endpoint is hinted for its own zone only.
    HintsOwnZone,
    /// Events recorded on the Service.
    Events,
    /// The reference model's verdict on the observed state.
    Model,
    /// The golden snapshot.
    Snapshot,
    /// Writing the observed state (`run --dump-state`).
    DumpState,
}

impl std::fmt::Display for CheckName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckName::Apply => f.write_str("apply"),
            CheckName::Rejected => f.write_str("rejected"),
            CheckName::Converge => f.write_str("converge"),
            CheckName::Observe => f.write_str("observe"),
            CheckName::Dataplane => f.write_str("dataplane"),
            CheckName::Hints => f.write_str("hints"),
            CheckName::NodeHints => f.write_str("node_hints"),
            CheckName::Slices => f.write_str("slices"),
            CheckName::Routes(node) => write!(f, "routes/{node}"),
            CheckName::ExternalRoutes(node) => write!(f, "external_routes/{node}"),
            CheckName::TrafficShares(node) => write!(f, "traffic_shares/{node}"),
            CheckName::ReadyEndpointsHinted => f.write_str("ready_endpoints_hinted"),
            CheckName::HintsOwnZone => f.write_str("hints_own_zone"),
            CheckName::Events => f.write_str("events"),
            CheckName::Model => f.write_str("model"),
            CheckName::Snapshot => f.write_str("snapshot"),
            CheckName::DumpState => f.write_str("dump-state"),
        }
    }
}

/// One check's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    /// Which check.
    pub name: CheckName,
    /// The outcome.
    pub status: CheckStatus,
}

impl CheckResult {
    /// A check that failed with `failure`, or passed when it is `None`.
    pub fn new(name: CheckName, failure: Option<String>) -> Self {
        CheckResult {
            name,
            status: match failure {
                None => CheckStatus::Passed,
                Some(m) => CheckStatus::Failed(m),
            },
        }
    }

    /// Whether it passed.
    pub fn passed(&self) -> bool {
        self.status == CheckStatus::Passed
    }
}

/// Compares two sorted multisets; `None` when equal, else the difference.
pub(crate) fn multiset_diff(expected: &[String], observed: &[String]) -> Option<String> {
    if expected == observed {
        return None;
    }
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for e in expected {
        *counts.entry(e).or_insert(0) += 1;
    }
    for o in observed {
        *counts.entry(o).or_insert(0) -= 1;
    }
    let mut missing = Vec::new();
    let mut unexpected = Vec::new();
    for (id, n) in counts {
        for _ in 0..n.max(0) {
            missing.push(id.to_string());
        }
        for _ in 0..(-n).max(0) {
            unexpected.push(id.to_string());
        }
    }
    let mut out = format!(
        "expected {}\nobserved {}",
        format_ids(expected),
        format_ids(observed)
    );
    if !missing.is_empty() {
        out.push_str(&format!("\n  missing:    {}", format_ids(&missing)));
    }
    if !unexpected.is_empty() {
        out.push_str(&format!("\n  unexpected: {}", format_ids(&unexpected)));
    }
    Some(out)
}

fn hints_diff(
    expected: &HintsExpect,
    observed: &Option<BTreeMap<String, Vec<String>>>,
) -> Option<String> {
    match (expected, observed) {
        (HintsExpect::None, None) => None,
        (HintsExpect::None, Some(obs)) => Some(format!(
            "expected no hints\nobserved hints: {}",
            format_zone_map(obs)
        )),
        (HintsExpect::Zones(_), None) => Some(format!(
            "expected hints {}\nobserved no hints",
            format_expected_zones(expected)
        )),
        (HintsExpect::Zones(zones), Some(obs)) => {
            let mut lines = Vec::new();
            for (zone, want) in zones {
                let got = obs.get(zone).cloned().unwrap_or_default();
                match want {
                    ZoneExpect::Count(n) if *n != got.len() => lines.push(format!(
                        "zone {zone}: expected {n} endpoint(s), observed {} {}",
                        got.len(),
                        format_ids(&got)
                    )),
                    ZoneExpect::Endpoints(ids) => {
                        if let Some(d) = multiset_diff(ids, &got) {
                            lines.push(format!("zone {zone}:\n  {}", d.replace('\n', "\n  ")));
                        }
                    }
                    ZoneExpect::Between { min, max }
                        if got.len() < *min || max.is_some_and(|m| got.len() > m) =>
                    {
                        lines.push(format!(
                            "zone {zone}: expected {} endpoint(s), observed {} {}",
                            format_between(*min, *max),
                            got.len(),
                            format_ids(&got)
                        ))
                    }
                    ZoneExpect::Count(_) | ZoneExpect::Between { .. } => {}
                }
            }
            for (zone, got) in obs {
                if !zones.contains_key(zone) && !got.is_empty() {
                    lines.push(format!(
                        "zone {zone}: expected no endpoint, observed {}",
                        format_ids(got)
                    ));
                }
            }
            (!lines.is_empty()).then(|| lines.join("\n"))
        }
    }
}

/// `2–3`, `>= 1`.
fn format_between(min: usize, max: Option<usize>) -> String {
    match max {
        Some(max) => format!("{min}–{max}"),
        None => format!(">= {min}"),
    }
}

fn format_zone_map(map: &BTreeMap<String, Vec<String>>) -> String {
    let parts: Vec<String> = map
        .iter()
        .map(|(z, ids)| format!("{z}: {}", format_ids(ids)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

fn format_expected_zones(expected: &HintsExpect) -> String {
    match expected {
        HintsExpect::None => "none".into(),
        HintsExpect::Zones(z) => {
            let parts: Vec<String> = z
                .iter()
                .map(|(zone, e)| match e {
                    ZoneExpect::Count(n) => format!("{zone}: {n}"),
                    ZoneExpect::Between { min, max } => {
                        format!("{zone}: {}", format_between(*min, *max))
                    }
                    ZoneExpect::Endpoints(ids) => format!("{zone}: {}", format_ids(ids)),
                })
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

fn route_checks(
    name: fn(String) -> CheckName,
    expected: &[(String, Vec<String>)],
    observed: Option<&BTreeMap<String, Vec<String>>>,
    out: &mut Vec<CheckResult>,
) {
    let empty = BTreeMap::new();
    let observed = observed.unwrap_or(&empty);
    let explicit: Vec<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    for (node, ids) in expected {
        let nodes: Vec<String> = if node == "*" {
            observed
                .keys()
                .filter(|n| !explicit.contains(&n.as_str()))
                .cloned()
                .collect()
        } else {
            vec![node.clone()]
        };
        for n in nodes {
            let failure = match observed.get(&n) {
                Some(got) => multiset_diff(ids, got),
                None => Some(format!("node {n} was not observed")),
            };
            out.push(CheckResult::new(name(n), failure));
        }
    }
}

/// The expectation checks of one step (`rejected`/`apply`, `hints`, `node_hints`, `slices`,
/// `routes/<node>`, `external_routes/<node>`).
pub(crate) fn expectation_checks(
    expect: &Expect,
    applied: &Applied,
    norm: &Normalized,
) -> Vec<CheckResult> {
    let mut out = Vec::new();
    match (&expect.rejected, applied) {
        (Some(text), Applied::Rejected(message)) => out.push(CheckResult::new(
            CheckName::Rejected,
            (!message.contains(text.as_str())).then(|| {
                format!("expected a rejection containing {text:?}\nobserved rejection: {message}")
            }),
        )),
        (Some(text), Applied::Ok) => out.push(CheckResult::new(
            CheckName::Rejected,
            Some(format!(
                "expected a rejection containing {text:?}\nobserved: the step was accepted"
            )),
        )),
        (None, Applied::Rejected(message)) => out.push(CheckResult::new(
            CheckName::Apply,
            Some(format!("the cluster rejected the step: {message}")),
        )),
        (None, Applied::Ok) => {}
    }
    if let Some(h) = &expect.hints {
        out.push(CheckResult::new(
            CheckName::Hints,
            hints_diff(h, &norm.hints),
        ));
    }
    if let Some(expected) = &expect.node_hints {
        let mut lines = Vec::new();
        for (node, ids) in expected {
            let got = norm.node_hints.get(node).cloned().unwrap_or_default();
            if let Some(d) = multiset_diff(ids, &got) {
                lines.push(format!("node {node}:\n  {}", d.replace('\n', "\n  ")));
            }
        }
        for (node, got) in &norm.node_hints {
            if !expected.contains_key(node) {
                lines.push(format!(
                    "node {node}: expected no endpoint, observed {}",
                    format_ids(got)
                ));
            }
        }
        out.push(CheckResult::new(
            CheckName::NodeHints,
            (!lines.is_empty()).then(|| lines.join("\n")),
        ));
    }
    if let Some(sizes) = &expect.slices {
        out.push(CheckResult::new(
            CheckName::Slices,
            (*sizes != norm.slices).then(|| {
                format!(
                    "expected slice sizes {sizes:?}\nobserved slice sizes {:?}",
                    norm.slices
                )
            }),
        ));
    }
    if let Some(routes) = &expect.routes {
        route_checks(CheckName::Routes, routes, Some(&norm.routes), &mut out);
    }
    if let Some(routes) = &expect.external_routes {
        route_checks(
            CheckName::ExternalRoutes,
            routes,
            norm.external_routes.as_ref(),
            &mut out,
        );
    }
    out
}

/// The `model` check: the observed hints are one of the model's acceptable allocations for the
/// observed state, and every node's observed routes are what the model's proxy programs.
/// Also returns how many hint allocations the model accepts (more than one when upstream's
/// choice depends on Go map order), and what the model says about the hints in words (see
/// [`hints_verdict_words`]; why a failed expectation may be the case's mistake).
pub(crate) fn model_check(
    obs: &Observation,
    gates: &FeatureGates,
    max_endpoints_per_slice: usize,
    hints_may_be_stale: bool,
) -> (CheckResult, usize, String) {
    let mut problems = Vec::new();
    let mut acceptable = 0;
    let mut words = "the Service does not exist".to_string();
    let env = Environment {
        gates: gates.clone(),
        max_endpoints_per_slice,
    };
    // Hand-written slices (another managed-by) are not the controller's output; the analysis
    // judges the controller on its own slices.
    let analysis = analyse(&obs.state, &env, Vec::new());
    if let Some(service) = analysis
        .services
        .iter()
        .find(|s| s.service.ends_with(&format!("/{SERVICE_NAME}")))
    {
        let verdict = &service.hints;
        acceptable = verdict.allocations.len();
        words = hints_verdict_words(verdict);
        if !verdict.acceptable() && !hints_may_be_stale {
            let allowed = if verdict.allocations.is_empty() {
                format!(
                    "no hints ({})",
                    verdict
                        .detail
                        .clone()
                        .or_else(|| verdict.reason.clone())
                        .unwrap_or_default()
                )
            } else {
                verdict
                    .allocations
                    .iter()
                    .map(|a| format!("{a:?}"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            };
            problems.push(format!(
                "hints: observed {} per zone; the model accepts {allowed}",
                verdict
                    .observed
                    .as_ref()
                    .map(|o| format!("{o:?}"))
                    .unwrap_or_else(|| "none".into())
            ));
        }
    }
    let expected = model_routes(&obs.state, SERVICE_NAME, gates);
    let norm_obs = normalize(obs);
    let norm_model = normalize(&Observation {
        state: obs.state.clone(),
        routes: expected,
        notes: Vec::new(),
        events: Ok(Vec::new()),
        answers: BTreeMap::new(),
    });
    for (node, want) in &norm_model.routes {
        let got = norm_obs.routes.get(node).cloned().unwrap_or_default();
        if let Some(d) = multiset_diff(want, &got) {
            problems.push(format!(
                "routes/{node} (expected = model):\n  {}",
                d.replace('\n', "\n  ")
            ));
        }
    }
    if let (Some(want), got) = (&norm_model.external_routes, &norm_obs.external_routes) {
        for (node, w) in want {
            let g = got
                .as_ref()
                .and_then(|m| m.get(node))
                .cloned()
                .unwrap_or_default();
            if let Some(d) = multiset_diff(w, &g) {
                problems.push(format!(
                    "external_routes/{node} (expected = model):\n  {}",
                    d.replace('\n', "\n  ")
                ));
            }
        }
    }
    (
        CheckResult::new(
            CheckName::Model,
            (!problems.is_empty()).then(|| problems.join("\n")),
        ),
        acceptable,
        words,
    )
}

/// What the controller should do with a Service's hints, in words: `the controller allocates
/// endpoints per zone: a: 2, b: 2`, or `hints should be absent: <upstream's reason>`, with the
/// model's detail after a `;`.
pub(crate) fn hints_verdict_words(verdict: &crate::model::analysis::HintVerdict) -> String {
    use crate::model::analysis::HintOutcome;
    let counts = |c: &crate::model::analysis::ZoneCounts| {
        c.iter()
            .map(|(zone, n)| format!("{zone}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut text = match verdict.outcome {
        HintOutcome::Assigned => {
            let options: Vec<String> = verdict.allocations.iter().map(counts).collect();
            format!(
                "the controller allocates endpoints per zone: {}",
                options.join(" or ")
            )
        }
        HintOutcome::Removed => format!(
            "hints should be absent: {}",
            verdict.reason.as_deref().unwrap_or("removed")
        ),
        HintOutcome::None => "no hints: nothing asks for them".to_string(),
    };
    if let Some(detail) = &verdict.detail {
        text.push_str(&format!("; {detail}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn zone_count_ranges_fail_only_outside_the_range() {
        let expected = HintsExpect::Zones(
            [
                ("a".to_string(), ZoneExpect::Between { min: 2, max: None }),
                (
                    "b".to_string(),
                    ZoneExpect::Between {
                        min: 1,
                        max: Some(1),
                    },
                ),
            ]
            .into(),
        );
        let observed = |a: &[&str], b: &[&str]| {
            Some(BTreeMap::from([
                ("a".to_string(), ids(a)),
                ("b".to_string(), ids(b)),
            ]))
        };
        assert_eq!(
            hints_diff(&expected, &observed(&["x", "y", "z"], &["w"])),
            None
        );
        assert_eq!(
            hints_diff(&expected, &observed(&["x"], &["w", "v"])).unwrap_or_default(),
            "zone a: expected >= 2 endpoint(s), observed 1 [x]\n\
             zone b: expected 1–1 endpoint(s), observed 2 [w, v]"
        );
        assert_eq!(format_expected_zones(&expected), "{a: >= 2, b: 1–1}");
    }

    #[test]
    fn multiset_diff_shows_only_the_difference() {
        assert_eq!(multiset_diff(&ids(&["a", "b"]), &ids(&["a", "b"])), None);
        let d = multiset_diff(&ids(&["a", "a", "b"]), &ids(&["a", "c"])).unwrap_or_default();
        assert_eq!(
            d,
            "expected [a*2, b]\nobserved [a, c]\n  missing:    [a, b]\n  unexpected: [c]"
        );
    }
}
