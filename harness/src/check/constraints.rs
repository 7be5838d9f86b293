//! Checks of the constraint assertions: routes as constraints (`same_zone`, `subset_of`,
//! `at_least`, …), traffic shares, hint coverage and the Service's events. Each failure names
//! only what breaks the constraint.

use std::collections::{BTreeMap, BTreeSet};

use super::identity::{format_ids, Normalized, NO_NODE};
use super::{CheckName, CheckResult};
use crate::backend::{Observation, ServiceEvent};
use crate::case::constraints::format_percent;
use crate::case::{EventExpect, Expect, RouteConstraint, ShareExpect, ShareRange, SERVICE_NAME};

/// What the constraint checks need to know about the observed cluster.
struct View<'a> {
    obs: &'a Observation,
    norm: &'a Normalized,
    /// Node → zone label.
    zones: BTreeMap<&'a str, &'a str>,
}

impl View<'_> {
    fn zone(&self, node: &str) -> Option<&str> {
        self.zones.get(node).copied()
    }

    fn zone_text(&self, node: &str) -> String {
        self.zone(node).unwrap_or("(no zone)").to_string()
    }

    /// The nodes a per-node expectation names: itself, or for `*` every observed node not
    /// listed.
    fn targets<'n>(
        &self,
        node: &str,
        listed: &[&str],
        observed: impl Iterator<Item = &'n String>,
    ) -> Vec<String> {
        if node == "*" {
            observed
                .filter(|n| !listed.contains(&n.as_str()))
                .cloned()
                .collect()
        } else {
            vec![node.to_string()]
        }
    }
}

/// The constraint checks of one step: `routes/<node>` and `external_routes/<node>` for route
/// constraints, `traffic_shares/<node>`, `ready_endpoints_hinted`, `hints_own_zone`, `events`.
pub fn constraint_checks(
    expect: &Expect,
    obs: &Observation,
    norm: &Normalized,
) -> Vec<CheckResult> {
    let view = View {
        obs,
        norm,
        zones: obs
            .state
            .nodes
            .iter()
            .filter_map(|n| n.zone().map(|z| (n.name.as_str(), z)))
            .collect(),
    };
    let mut out = Vec::new();
    if let Some(constraints) = &expect.route_constraints {
        route_constraint_checks(
            CheckName::Routes,
            constraints,
            Some(&norm.routes),
            &view,
            &mut out,
        );
    }
    if let Some(constraints) = &expect.external_route_constraints {
        route_constraint_checks(
            CheckName::ExternalRoutes,
            constraints,
            norm.external_routes.as_ref(),
            &view,
            &mut out,
        );
    }
    if let Some(shares) = &expect.traffic_shares {
        let listed: Vec<&str> = shares.iter().map(|(n, _)| n.as_str()).collect();
        for (node, share) in shares {
            for n in view.targets(node, &listed, norm.routes.keys()) {
                let failure = share_failure(&n, share, &view);
                out.push(CheckResult::new(CheckName::TrafficShares(n), failure));
            }
        }
    }
    if expect.ready_endpoints_hinted == Some(true) {
        out.push(CheckResult::new(
            CheckName::ReadyEndpointsHinted,
            ready_unhinted(obs),
        ));
    }
    if expect.hints_own_zone == Some(true) {
        out.push(CheckResult::new(
            CheckName::HintsOwnZone,
            hints_elsewhere(obs),
        ));
    }
    if let Some(events) = &expect.events {
        out.push(CheckResult::new(
            CheckName::Events,
            match &obs.events {
                Ok(seen) => events_failure(events, seen),
                Err(why) => Some(format!("the Service's events could not be read: {why}")),
            },
        ));
    }
    out
}

fn route_constraint_checks(
    name: fn(String) -> CheckName,
    constraints: &[(String, RouteConstraint)],
    observed: Option<&BTreeMap<String, Vec<String>>>,
    view: &View<'_>,
    out: &mut Vec<CheckResult>,
) {
    let empty = BTreeMap::new();
    let observed = observed.unwrap_or(&empty);
    let listed: Vec<&str> = constraints.iter().map(|(n, _)| n.as_str()).collect();
    for (node, constraint) in constraints {
        for n in view.targets(node, &listed, observed.keys()) {
            let failure = match observed.get(&n) {
                Some(got) => route_failure(&n, constraint, got, view),
                None => Some(format!("node {n} was not observed")),
            };
            out.push(CheckResult::new(name(n), failure));
        }
    }
}

/// Why `routes` (identities) from `node` break `c`, every broken part on its own line.
fn route_failure(
    node: &str,
    c: &RouteConstraint,
    routes: &[String],
    view: &View<'_>,
) -> Option<String> {
    let mut lines = Vec::new();
    if c.same_zone {
        let zone = view.zone(node);
        let outside: Vec<String> = routes
            .iter()
            .filter(|id| zone.is_none() || view.zone(id) != zone)
            .map(|id| format!("{id} (zone {})", view.zone_text(id)))
            .collect();
        if !outside.is_empty() {
            lines.push(format!(
                "expected only endpoints in {node}'s zone {}\n  outside it: {}",
                view.zone_text(node),
                outside.join(", ")
            ));
        }
    }
    if c.same_node {
        let elsewhere: Vec<String> = routes.iter().filter(|id| *id != node).cloned().collect();
        if !elsewhere.is_empty() {
            lines.push(format!(
                "expected only endpoints on {node}\n  elsewhere: {}",
                format_ids(&elsewhere)
            ));
        }
    }
    if let Some(allowed) = &c.subset_of {
        let extra: Vec<String> = routes
            .iter()
            .filter(|id| !allowed.contains(id))
            .cloned()
            .collect();
        if !extra.is_empty() {
            lines.push(format!(
                "expected a subset of {}\n  not in it: {}",
                format_ids(allowed),
                format_ids(&extra)
            ));
        }
    }
    if let Some(n) = c.at_least {
        if routes.len() < n {
            lines.push(format!(
                "expected at least {n} endpoint(s), observed {}",
                routes.len()
            ));
        }
    }
    if let Some(n) = c.at_most {
        if routes.len() > n {
            lines.push(format!(
                "expected at most {n} endpoint(s), observed {}",
                routes.len()
            ));
        }
    }
    if let Some(n) = c.zones_at_least {
        let zones: BTreeSet<String> = routes.iter().map(|id| view.zone_text(id)).collect();
        if zones.len() < n {
            lines.push(format!(
                "expected endpoints in at least {n} zone(s), observed {} ({})",
                zones.len(),
                zones.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
    }
    (!lines.is_empty()).then(|| format!("{}\nobserved {}", lines.join("\n"), format_ids(routes)))
}

/// Identity (node name) → answers, for the requests sent from `node`: the counted answers
/// when its traffic was probed, else one per routed endpoint (an equal split).
fn answers_by_identity(node: &str, view: &View<'_>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    match view.obs.answers.get(node) {
        Some(by_address) => {
            let identity = address_identities(view.obs);
            for (address, n) in by_address {
                let id = identity
                    .get(address.as_str())
                    .cloned()
                    .unwrap_or_else(|| format!("(unknown {address})"));
                *out.entry(id).or_insert(0) += n;
            }
        }
        None => {
            for id in view.norm.routes.get(node).into_iter().flatten() {
                *out.entry(id.clone()).or_insert(0) += 1;
            }
        }
    }
    out
}

/// Endpoint address → identity (the node it runs on), over the Service's slices.
fn address_identities(obs: &Observation) -> BTreeMap<&str, String> {
    let mut out = BTreeMap::new();
    let Some(service) = obs.state.services.iter().find(|s| s.name == SERVICE_NAME) else {
        return out;
    };
    for slice in obs.state.slices_of(service) {
        for e in &slice.endpoints {
            let id = e.node_name.clone().unwrap_or_else(|| NO_NODE.to_string());
            for a in &e.addresses {
                out.entry(a.as_str()).or_insert_with(|| id.clone());
            }
        }
    }
    out
}

fn share_failure(node: &str, expect: &ShareExpect, view: &View<'_>) -> Option<String> {
    let answers = answers_by_identity(node, view);
    let total: usize = answers.values().sum();
    let described = answers
        .iter()
        .map(|(id, n)| format!("{id}: {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    if total == 0 {
        return Some(format!(
            "no request from {node} was answered (it routes nowhere), so no share can be measured"
        ));
    }
    let share = |pred: &dyn Fn(&str) -> bool| -> u32 {
        let n: usize = answers
            .iter()
            .filter(|(id, _)| pred(id))
            .map(|(_, n)| n)
            .sum();
        ((n as f64) * 10_000.0 / (total as f64)).round() as u32
    };
    let mut lines = Vec::new();
    let mut judge = |what: String, range: &ShareRange, got: u32| {
        if !range.contains(got) {
            lines.push(format!(
                "{what}: expected {range}, observed {}",
                format_percent(got)
            ));
        }
    };
    let client_zone = view.zone(node);
    if let Some(range) = &expect.same_zone {
        let got = share(&|id| client_zone.is_some() && view.zone(id) == client_zone);
        judge(
            format!("share in {node}'s zone {}", view.zone_text(node)),
            range,
            got,
        );
    }
    if let Some(range) = &expect.same_node {
        judge(format!("share on {node}"), range, share(&|id| id == node));
    }
    for (id, range) in &expect.endpoints {
        judge(
            format!("share of endpoints on {id}"),
            range,
            share(&|x| x == id),
        );
    }
    for (zone, range) in &expect.zones {
        judge(
            format!("share in zone {zone}"),
            range,
            share(&|x| view.zone(x) == Some(zone.as_str())),
        );
    }
    (!lines.is_empty()).then(|| {
        format!(
            "{}\nanswers from {node}: {described} ({total} in all)",
            lines.join("\n")
        )
    })
}

/// One endpoint of the Service, as the hint checks see it.
struct EndpointFacts {
    id: String,
    ready: bool,
    zone: Option<String>,
    zone_hints: Option<Vec<String>>,
}

/// The Service's endpoints, over all its slices.
fn endpoints(obs: &Observation) -> Vec<EndpointFacts> {
    let Some(service) = obs.state.services.iter().find(|s| s.name == SERVICE_NAME) else {
        return Vec::new();
    };
    obs.state
        .slices_of(service)
        .flat_map(|s| s.endpoints.iter())
        .map(|e| EndpointFacts {
            id: e.node_name.clone().unwrap_or_else(|| NO_NODE.to_string()),
            // An unset condition means ready, as consumers of the API read it.
            ready: e.ready != Some(false),
            zone: e.zone().map(str::to_string),
            zone_hints: e.hints.as_ref().map(|h| h.for_zones.clone()),
        })
        .collect()
}

fn ready_unhinted(obs: &Observation) -> Option<String> {
    let all = endpoints(obs);
    let ready = all.iter().filter(|e| e.ready).count();
    if ready == 0 {
        return Some(
            "expected every ready endpoint to have a zone hint, but there is no ready endpoint"
                .into(),
        );
    }
    let mut missing: Vec<String> = all
        .iter()
        .filter(|e| e.ready && e.zone_hints.as_ref().is_none_or(|z| z.is_empty()))
        .map(|e| e.id.clone())
        .collect();
    missing.sort();
    (!missing.is_empty()).then(|| {
        format!(
            "expected every ready endpoint to have a zone hint\n  without one: {} (of {ready} ready)",
            format_ids(&missing)
        )
    })
}

fn hints_elsewhere(obs: &Observation) -> Option<String> {
    let mut wrong: Vec<String> = endpoints(obs)
        .into_iter()
        .filter_map(|e| {
            let hints = e.zone_hints?;
            let own = e.zone.clone().unwrap_or_else(|| "(no zone)".into());
            (hints.len() != 1 || Some(&hints[0]) != e.zone.as_ref())
                .then(|| format!("{} (zone {own}) hinted for [{}]", e.id, hints.join(", ")))
        })
        .collect();
    wrong.sort();
    (!wrong.is_empty()).then(|| {
        format!(
            "expected every hinted endpoint to be hinted for its own zone only\n  {}",
            wrong.join("\n  ")
        )
    })
}

fn matches(e: &EventExpect, seen: &ServiceEvent) -> bool {
    seen.reason == e.reason
        && e.event_type.as_ref().is_none_or(|t| *t == seen.event_type)
        && e.message.as_ref().is_none_or(|m| *m == seen.message)
}

fn events_failure(expected: &[EventExpect], seen: &[ServiceEvent]) -> Option<String> {
    let mut lines = Vec::new();
    for e in expected {
        let found = seen.iter().any(|s| matches(e, s));
        if e.absent && found {
            lines.push(format!("expected no event {e}"));
        } else if !e.absent && !found {
            lines.push(format!("expected an event {e}"));
        }
    }
    (!lines.is_empty()).then(|| {
        let observed = if seen.is_empty() {
            "observed no event on the Service".to_string()
        } else {
            let list: Vec<String> = seen
                .iter()
                .map(|s| {
                    let times = if s.count > 1 {
                        format!(" (×{})", s.count)
                    } else {
                        String::new()
                    };
                    format!("{} {} {:?}{times}", s.event_type, s.reason, s.message)
                })
                .collect();
            format!("observed events:\n  {}", list.join("\n  "))
        };
        format!("{}\n{observed}", lines.join("\n"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::sim::SimBackend;
    use crate::backend::Backend;
    use crate::case::{parse_case, Case, ProxyMode};
    use crate::check::identity::normalize;
    use crate::check::CheckStatus;
    use crate::model::KubeVersion;

    /// A three-node case (zones a, a, b) whose one step is `step` (YAML, indented 4).
    fn case(step: &str) -> Case {
        let text = format!(
            "apiVersion: topo-harness/v1alpha1\nkind: Case\nname: t\nsummary: s\nsource: s\n\
             cluster:\n  nodes:\n    - {{ name: worker, zone: a }}\n    - {{ name: worker2, zone: a }}\n    - {{ name: worker3, zone: b }}\n\
             service:\n  annotations: {{ service.kubernetes.io/topology-mode: Auto }}\n\
             steps:\n  - name: one\n{step}"
        );
        parse_case(&text, "t.yaml", std::path::Path::new("t.yaml"))
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    /// Applies the case's one step on the sim (1.34) and observes.
    fn observe(case: &Case) -> Observation {
        let mut sim = SimBackend::new();
        let shape = case
            .shape(KubeVersion::new(34), ProxyMode::Iptables)
            .unwrap_or_else(|e| panic!("{e}"));
        let observed = sim
            .setup(&shape)
            .and_then(|()| sim.apply(&case.steps[0].action))
            .and_then(|_| sim.observe());
        observed.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Every failed check as `name: message`.
    fn failures(case: &Case, obs: &Observation) -> Vec<String> {
        let expect = case.expect_for(0, KubeVersion::new(34));
        constraint_checks(&expect, obs, &normalize(obs))
            .into_iter()
            .filter_map(|c| match c.status {
                CheckStatus::Passed => None,
                CheckStatus::Failed(m) => Some(format!("{}: {m}", c.name)),
            })
            .collect()
    }

    #[test]
    fn route_constraints_name_what_breaks_them() {
        let c = case(
            "    endpoints: { worker: 1, worker3: 1 }\n    expect:\n      routes:\n        \
             worker: { subset_of: [worker2, worker3], zones_at_least: 2, at_least: 3 }\n        \
             \"*\": { not_empty: true }\n",
        );
        let obs = observe(&c);
        assert_eq!(
            failures(&c, &obs),
            [
                "routes/worker: expected a subset of [worker2, worker3]\n  not in it: [worker]\n\
              expected at least 3 endpoint(s), observed 2\n\
              observed [worker, worker3]"
            ]
        );
    }

    #[test]
    fn a_star_next_to_exact_routes_covers_only_the_nodes_not_listed() {
        // Zone a has two thirds of the CPU and of the endpoints: every endpoint keeps its zone.
        let c = case(
            "    endpoints: { worker: 2, worker3: 1 }\n    expect:\n      routes:\n        \
             worker3: [worker3]\n        \"*\": { same_zone: true, same_node: true }\n",
        );
        let expect = c.expect_for(0, KubeVersion::new(34));
        let nodes: Vec<&str> = expect
            .route_constraints
            .iter()
            .flatten()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(nodes, ["worker", "worker2"]);
        // worker2 (zone a, no endpoint) routes to worker: same zone, another node.
        assert_eq!(
            failures(&c, &observe(&c)),
            [
                "routes/worker2: expected only endpoints on worker2\n  elsewhere: [worker*2]\n\
              observed [worker*2]"
            ]
        );
    }

    #[test]
    fn shares_use_counted_answers_when_traffic_was_probed() {
        let c = case(
            "    endpoints: { worker: 1, worker3: 1 }\n    service:\n      annotations: \
             { service.kubernetes.io/topology-mode: null }\n    expect:\n      traffic_shares:\n        \
             worker: { same_zone: \">= 65%\" }\n        worker2: { same_zone: \">= 65%\" }\n",
        );
        let mut obs = observe(&c);
        // The sim splits evenly: 50% stays in zone a, below 65%.
        let even = failures(&c, &obs);
        assert_eq!(even.len(), 2, "{even:?}");
        assert!(even[0].starts_with(
            "traffic_shares/worker: share in worker's zone a: expected >= 65%, observed 50%"
        ));
        // Probed traffic that stayed in zone 7 times out of 10 passes on worker only.
        let address = |node: &str| -> String {
            obs.state
                .slices
                .iter()
                .flat_map(|s| s.endpoints.iter())
                .find(|e| e.node_name.as_deref() == Some(node))
                .and_then(|e| e.addresses.first().cloned())
                .unwrap_or_default()
        };
        let counted = [(address("worker"), 7), (address("worker3"), 3)].into();
        obs.answers.insert("worker".into(), counted);
        assert_eq!(
            failures(&c, &obs),
            ["traffic_shares/worker2: share in worker2's zone a: expected >= 65%, observed 50%\n\
              answers from worker2: worker: 1, worker3: 1 (2 in all)"]
        );
    }

    #[test]
    fn events_present_absent_and_by_message() {
        let c = case(
            "    endpoints: { worker: 2, worker3: 1 }\n    expect:\n      events:\n        \
             - { reason: TopologyAwareHintsEnabled, type: Normal }\n        \
             - { reason: TopologyAwareHintsEnabled, absent: true }\n        \
             - { reason: TopologyAwareHintsDisabled, message: \"Nodes only ready in one zone, addressType: IPv4\" }\n",
        );
        assert_eq!(
            failures(&c, &observe(&c)),
            ["events: expected no event TopologyAwareHintsEnabled\n\
              expected an event TopologyAwareHintsDisabled \"Nodes only ready in one zone, addressType: IPv4\"\n\
              observed events:\n  \
              Normal TopologyAwareHintsEnabled \"Topology Aware Hints has been enabled, addressType: IPv4\""]
        );
    }

    #[test]
    fn unreadable_events_fail_only_the_events_check() {
        let c = case(
            "    endpoints: { worker: 2, worker3: 1 }\n    expect:\n      events: [{ reason: X, absent: true }]\n      routes: { worker: { not_empty: true } }\n",
        );
        let mut obs = observe(&c);
        obs.events = Err("events is forbidden".into());
        assert_eq!(
            failures(&c, &obs),
            ["events: the Service's events could not be read: events is forbidden"]
        );
    }

    #[test]
    fn hint_coverage_counts_an_unset_ready_as_ready_and_flags_foreign_hints() {
        let c = case(
            "    service: { selector: false }\n    slices:\n      - name: hand\n        endpoints:\n          \
             - { node: worker, hints: { zones: [b] } }\n          \
             - { node: worker2, ready: null }\n          \
             - { node: worker3, ready: false }\n    expect:\n      \
             ready_endpoints_hinted: true\n      hints_own_zone: true\n",
        );
        assert_eq!(
            failures(&c, &observe(&c)),
            [
                "ready_endpoints_hinted: expected every ready endpoint to have a zone hint\n  \
                 without one: [worker2] (of 2 ready)",
                "hints_own_zone: expected every hinted endpoint to be hinted for its own zone only\n  \
                 worker (zone a) hinted for [b]",
            ]
        );
    }
}
