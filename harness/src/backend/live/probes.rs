//! Traffic probes: the route check that works for any dataplane. From a client pod pinned to
//! every node, N requests go to the Service's ClusterIP:port; agnhost `netexec` answers
//! `/hostname` with the serving pod's name, which the observed EndpointSlices map back to the
//! endpoint's address. The distinct addresses reached are the node's internal routes.
//!
//! Everything here except [`run_probes`] is pure and tested without a cluster;
//! [`run_probes`] (create the client pods, poll their phase, read their logs, delete them) is
//! tested against a mock API server in `harness/tests/kube_api.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use serde_json::Value;

use super::workload::manifests;
use crate::backend::kube_api::{ClusterApi, Ledger, ObjectKind, ObjectRef};
use crate::backend::{BackendError, BackendKind, NodeRoutes, Reached};
use crate::model::{ClusterState, Service};

/// Where the live backends get each node's routes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObserveSource {
    /// The node's dataplane rules (iptables-save, nft, /proc/net/ip_vs).
    Rules,
    /// Requests from a client pod on the node ([`run_probes`]).
    Traffic,
    /// Both; traffic is what checks use, and a disagreement becomes an observation note.
    Both,
}

impl ObserveSource {
    /// The `--observe` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ObserveSource::Rules => "rules",
            ObserveSource::Traffic => "traffic",
            ObserveSource::Both => "both",
        }
    }

    /// The default: rules where the backend can read the dataplane of a proxy that writes
    /// rules (`rules_readable`), traffic otherwise (the kubeconfig backend, a proxy mode
    /// without rules). The sim has no traffic: rules.
    pub fn default_for(backend: BackendKind, rules_readable: bool) -> Self {
        match backend {
            BackendKind::Sim => ObserveSource::Rules,
            BackendKind::Kind | BackendKind::Local if rules_readable => ObserveSource::Rules,
            BackendKind::Kind | BackendKind::Local | BackendKind::Kubeconfig => {
                ObserveSource::Traffic
            }
        }
    }

    /// Whether the node dumps are read.
    pub fn uses_rules(self) -> bool {
        matches!(self, ObserveSource::Rules | ObserveSource::Both)
    }

    /// Whether probes are sent.
    pub fn uses_traffic(self) -> bool {
        matches!(self, ObserveSource::Traffic | ObserveSource::Both)
    }
}

impl FromStr for ObserveSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [
            ObserveSource::Rules,
            ObserveSource::Traffic,
            ObserveSource::Both,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
        .ok_or_else(|| format!("unknown observation source {s:?} (rules, traffic, both)"))
    }
}

/// Requests per ready endpoint.
pub const REQUESTS_PER_ENDPOINT: u32 = 40;
/// Fewest requests per node.
pub const MIN_REQUESTS: u32 = 60;
/// Most requests per node.
pub const MAX_REQUESTS: u32 = 3000;

/// Requests per node for `ready` endpoints: clamp(40 × ready, 60, 3000). With k reachable
/// endpoints chosen uniformly, one is missed with probability (1 − 1/k)^N ≤ e^−40.
pub fn request_count(ready: usize) -> u32 {
    let n = u32::try_from(ready)
        .unwrap_or(u32::MAX)
        .saturating_mul(REQUESTS_PER_ENDPOINT);
    n.clamp(MIN_REQUESTS, MAX_REQUESTS)
}

/// The Service's endpoints that are ready for kube-proxy (not terminating).
pub fn ready_endpoints(state: &ClusterState, service: &Service) -> usize {
    state
        .slices_of(service)
        .flat_map(|s| &s.endpoints)
        .filter(|e| e.proxy_ready() && e.terminating != Some(true))
        .count()
}

/// Pod name → endpoint address (`addresses[0]`) from the Service's observed EndpointSlices.
pub fn pod_addresses(state: &ClusterState, service: &Service) -> BTreeMap<String, String> {
    state
        .slices_of(service)
        .flat_map(|s| &s.endpoints)
        .filter_map(|e| Some((e.pod.clone()?, e.addresses.first()?.clone())))
        .collect()
}

/// The address a client uses for `service`: `ip:port` (IPv6 in brackets) of the ClusterIP and
/// first port; `None` when it has no ClusterIP or port.
pub fn probe_target(service: &Service) -> Option<(String, u16)> {
    let ip = service.cluster_ip.as_deref().filter(|ip| *ip != "None")?;
    let port = service.ports.first()?.port;
    let host = if crate::model::state::is_ipv6(ip) {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    Some((host, port))
}

pub use super::workload::manifests::probe_script;

/// The client pod `name` bound to cluster node `node` (tolerating the control-plane taints)
/// running [`probe_script`].
pub fn probe_pod(
    namespace: &str,
    node: &str,
    name: &str,
    host: &str,
    port: u16,
    count: u32,
) -> Value {
    manifests::client_pod(namespace, name, node, host, port, count)
}

use super::workload::manifests::NO_ROUTE_CODES;

/// What one node's client saw, mapped to endpoint addresses.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TrafficResult {
    /// Requests asked for.
    pub requested: u32,
    /// Answer lines in the log.
    pub answered: usize,
    /// Endpoint addresses reached (distinct, sorted).
    pub reached: Vec<IpAddr>,
    /// Endpoint address → requests it answered (for traffic shares).
    pub answers: BTreeMap<String, usize>,
    /// Answering pods that are no endpoint of the Service (distinct, sorted).
    pub unknown: Vec<String>,
    /// Failed requests.
    pub failed: usize,
    /// Curl exit codes of failures that are not "no route" (distinct, sorted).
    pub client_errors: Vec<i32>,
    /// The client stopped after this many requests because nothing answered and every
    /// failure was "no route": the node routes nowhere (an observation, not a timeout).
    pub stopped_after: Option<u32>,
}

impl TrafficResult {
    /// Maps a client log to addresses through `addresses` (pod → address).
    pub fn from_log(log: &str, addresses: &BTreeMap<String, String>, requested: u32) -> Self {
        let mut answers: BTreeMap<String, usize> = BTreeMap::new();
        let mut unknown = BTreeSet::new();
        let mut client_errors = BTreeSet::new();
        let mut answered = 0;
        let mut failed = 0;
        let mut stopped_after = None;
        for line in log.lines() {
            let mut words = line.split_whitespace();
            if line.starts_with(manifests::STOP_PREFIX) {
                let mut stop = line.split_whitespace().skip(1);
                stopped_after = stop.next().and_then(|n| n.parse::<u32>().ok());
                continue;
            }
            if words.next() != Some(manifests::ANSWER_PREFIX)
                || words.next().and_then(|i| i.parse::<u32>().ok()).is_none()
            {
                continue;
            }
            let Some(pod) = words.next() else { continue };
            answered += 1;
            if pod == "FAILED" {
                failed += 1;
                let code = words
                    .next()
                    .and_then(|w| w.strip_prefix("rc="))
                    .and_then(|c| c.parse::<i32>().ok());
                match code {
                    Some(c) if NO_ROUTE_CODES.contains(&c) => {}
                    Some(c) => {
                        client_errors.insert(c);
                    }
                    None => {
                        client_errors.insert(-1);
                    }
                }
            } else if let Some(address) = addresses.get(pod).filter(|a| a.parse::<IpAddr>().is_ok())
            {
                *answers.entry(address.clone()).or_insert(0) += 1;
            } else {
                unknown.insert(pod.to_string());
            }
        }
        TrafficResult {
            requested,
            answered,
            reached: {
                // Every key parses (checked above); sorted as addresses.
                let mut reached: Vec<IpAddr> =
                    answers.keys().filter_map(|a| a.parse().ok()).collect();
                reached.sort();
                reached
            },
            answers,
            unknown: unknown.into_iter().collect(),
            failed,
            client_errors: client_errors.into_iter().collect(),
            stopped_after,
        }
    }

    /// The node's internal routes: the addresses reached and every answering pod that is no
    /// endpoint (so checks name it), sorted.
    pub fn internal(&self) -> Vec<Reached> {
        let mut v: Vec<Reached> = self
            .reached
            .iter()
            .copied()
            .map(Reached::Addr)
            .chain(self.unknown.iter().cloned().map(Reached::UnknownPod))
            .collect();
        v.sort();
        v
    }

    /// What is wrong with this probe of `node` (empty when nothing): answering pods that are no
    /// endpoint, requests that failed while others succeeded, client-side errors, missing
    /// answer lines. All requests failing with "no route" codes is not a problem: the node
    /// routes nowhere.
    pub fn problems(&self, node: &str) -> Vec<String> {
        let mut out = Vec::new();
        if !self.unknown.is_empty() {
            out.push(format!(
                "traffic from {node}: answered by pods that are no endpoint of the Service: {}",
                self.unknown.join(", ")
            ));
        }
        let succeeded = self.answered - self.failed;
        if self.failed > 0 && succeeded > 0 {
            out.push(format!(
                "traffic from {node}: {} of {} requests failed while others succeeded",
                self.failed, self.answered
            ));
        }
        if !self.client_errors.is_empty() {
            let codes: Vec<String> = self
                .client_errors
                .iter()
                .map(|c| {
                    if *c < 0 {
                        "unknown".to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect();
            out.push(format!(
                "traffic from {node}: the client failed (curl exit code {}), not the dataplane",
                codes.join(", ")
            ));
        }
        let stopped_nowhere = self.stopped_after.is_some() && succeeded == 0;
        if self.answered < self.requested as usize && !stopped_nowhere {
            out.push(format!(
                "traffic from {node}: {} answer line(s) for {} requests",
                self.answered, self.requested
            ));
        }
        out
    }
}

/// When rules and traffic disagree on a node: a note naming both (`None` when they agree).
pub fn disagreement(node: &str, rules: &[Reached], traffic: &[Reached]) -> Option<String> {
    let mut r = rules.to_vec();
    r.sort();
    r.dedup();
    let mut t = traffic.to_vec();
    t.sort();
    t.dedup();
    let list = |v: &[Reached]| {
        v.iter()
            .map(Reached::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    (r != t).then(|| {
        format!(
            "{node}: rules route to [{}] but traffic reached [{}]",
            list(&r),
            list(&t)
        )
    })
}

/// Combines rule routes and traffic results for one node under `source` (`rules` is `None` when
/// the rules were not read, `traffic` when no probe was sent); pushes disagreements to `notes`.
/// Traffic gives `internal`; `external` always comes from the rules (not probed).
pub fn combine(
    node: &str,
    source: ObserveSource,
    rules: Option<NodeRoutes>,
    traffic: Option<Vec<Reached>>,
    notes: &mut Vec<String>,
) -> NodeRoutes {
    match (source, rules, traffic) {
        (ObserveSource::Rules, rules, _) => rules.unwrap_or_default(),
        (ObserveSource::Traffic, _, traffic) => NodeRoutes {
            internal: traffic.unwrap_or_default(),
            external: None,
        },
        (ObserveSource::Both, Some(rules), Some(traffic)) => {
            if let Some(d) = disagreement(node, &rules.internal, &traffic) {
                notes.push(d);
            }
            NodeRoutes {
                internal: traffic,
                external: rules.external,
            }
        }
        (ObserveSource::Both, rules, traffic) => NodeRoutes {
            internal: traffic
                .or_else(|| rules.as_ref().map(|r| r.internal.clone()))
                .unwrap_or_default(),
            external: rules.and_then(|r| r.external),
        },
    }
}

/// How often client pods are polled and how long they may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeTiming {
    /// Between polls of the pods' phase.
    pub poll: Duration,
    /// From creation until every client must have finished.
    pub deadline: Duration,
}

impl ProbeTiming {
    /// Time for the client pods to be scheduled and started.
    pub const START: Duration = Duration::from_secs(90);

    /// 1 s polls; [`Self::START`] plus the longest the script can take with `count` requests
    /// ([`manifests::probe_duration_bound`]: every request timing out), so a node whose
    /// traffic is dropped still finishes and is reported as routing nowhere.
    pub fn for_requests(count: u32) -> Self {
        ProbeTiming {
            poll: Duration::from_secs(1),
            deadline: Self::START + manifests::probe_duration_bound(count),
        }
    }
}

/// What one client pod produced.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ClientOutcome {
    /// Its log (`None` when it could not be read).
    pub log: Option<String>,
    /// Why the probe is incomplete (not finished in time, failed, log unreadable), naming the
    /// pod.
    pub problem: Option<String>,
}

/// Creates one client pod per `(pod name, cluster node)` in `namespace` (recorded in `ledger`),
/// each sending `count` requests to `host:port`; polls their phase until all finished or the
/// deadline passed; reads every log (also of unfinished pods: partial answers); deletes them.
/// Returns cluster node → outcome.
#[allow(clippy::too_many_arguments)]
pub async fn run_probes(
    api: &ClusterApi,
    ledger: &mut Ledger,
    namespace: &str,
    clients: &[(String, String)],
    host: &str,
    port: u16,
    count: u32,
    timing: ProbeTiming,
) -> Result<BTreeMap<String, ClientOutcome>, BackendError> {
    for (name, node) in clients {
        let pod = probe_pod(namespace, node, name, host, port, count);
        api.apply(ledger, &pod)
            .await
            .map_err(|e| BackendError::observe_from(format!("creating client pod {name}"), e))?;
    }
    let pods: Api<Pod> = Api::namespaced(api.client().clone(), namespace);
    let start = tokio::time::Instant::now();
    let mut phases: BTreeMap<&str, String> = BTreeMap::new();
    loop {
        for (name, _) in clients {
            let done = phases
                .get(name.as_str())
                .is_some_and(|p| p == "Succeeded" || p == "Failed");
            if done {
                continue;
            }
            let phase = match pods.get(name).await {
                Ok(pod) => pod
                    .status
                    .and_then(|s| s.phase)
                    .unwrap_or_else(|| "Pending".into()),
                Err(e) => format!("unknown ({e})"),
            };
            phases.insert(name, phase);
        }
        let all_done = phases.values().all(|p| p == "Succeeded" || p == "Failed");
        if all_done || start.elapsed() >= timing.deadline {
            break;
        }
        tokio::time::sleep(timing.poll).await;
    }
    let mut out = BTreeMap::new();
    for (name, node) in clients {
        let phase = phases.get(name.as_str()).cloned().unwrap_or_default();
        let params = LogParams {
            container: Some("client".into()),
            ..LogParams::default()
        };
        let (log, log_problem) = match pods.logs(name, &params).await {
            Ok(log) => (Some(log), None),
            Err(e) => (None, Some(format!("cannot read its log: {e}"))),
        };
        let phase_problem = match phase.as_str() {
            "Succeeded" => None,
            "Failed" => Some("the client pod failed".to_string()),
            other => Some(format!(
                "the client pod did not finish within {:?} (phase {other})",
                timing.deadline
            )),
        };
        let problem = [phase_problem, log_problem]
            .into_iter()
            .flatten()
            .map(|p| format!("pod {name}: {p}"))
            .reduce(|a, b| format!("{a}; {b}"));
        out.insert(node.clone(), ClientOutcome { log, problem });
    }
    for (name, _) in clients {
        // Best effort: the ledger deletes it (with the namespace) at cleanup anyway.
        let _ = api
            .delete(&ObjectRef::namespaced(ObjectKind::Pod, namespace, name))
            .await;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(ip: &str) -> Reached {
        Reached::Addr(ip.parse().expect("an IP address"))
    }

    fn texts(reached: &[Reached]) -> Vec<String> {
        reached.iter().map(Reached::to_string).collect()
    }
    use crate::model::{Endpoint, EndpointSlice};

    fn endpoint(pod: &str, address: &str, ready: Option<bool>) -> Endpoint {
        Endpoint {
            addresses: vec![address.into()],
            ready,
            serving: None,
            terminating: None,
            node_name: Some("worker".into()),
            zone: None,
            hints: None,
            topology: BTreeMap::new(),
            pod: Some(pod.into()),
        }
    }

    fn state(endpoints: Vec<Endpoint>) -> (ClusterState, Service) {
        let mut service = Service::new("ns", "svc");
        service.cluster_ip = Some("10.96.0.10".into());
        let slice = EndpointSlice {
            namespace: "ns".into(),
            name: "svc-abc".into(),
            service_name: Some("svc".into()),
            managed_by: None,
            address_type: Default::default(),
            ports: Vec::new(),
            endpoints,
        };
        let mut state = ClusterState::empty();
        state.services.push(service.clone());
        state.slices.push(slice);
        (state, service)
    }

    #[test]
    fn request_count_is_clamped() {
        assert_eq!(request_count(0), 60);
        assert_eq!(request_count(1), 60);
        assert_eq!(request_count(2), 80);
        assert_eq!(request_count(10), 400);
        assert_eq!(request_count(75), 3000);
        assert_eq!(request_count(1000), 3000);
        assert_eq!(request_count(usize::MAX), 3000);
    }

    #[test]
    fn sources_parse_and_default_by_backend() {
        assert_eq!("both".parse::<ObserveSource>(), Ok(ObserveSource::Both));
        assert!("dump".parse::<ObserveSource>().is_err());
        assert_eq!(
            ObserveSource::default_for(BackendKind::Kind, true),
            ObserveSource::Rules
        );
        assert_eq!(
            ObserveSource::default_for(BackendKind::Kind, false),
            ObserveSource::Traffic
        );
        assert_eq!(
            ObserveSource::default_for(BackendKind::Kubeconfig, true),
            ObserveSource::Traffic
        );
        assert!(ObserveSource::Both.uses_rules() && ObserveSource::Both.uses_traffic());
        assert!(!ObserveSource::Traffic.uses_rules());
    }

    #[test]
    fn endpoints_map_pods_to_first_addresses() {
        let mut terminating = endpoint("web-c", "10.244.2.3", Some(false));
        terminating.terminating = Some(true);
        let (state, service) = state(vec![
            endpoint("web-a", "10.244.1.2", Some(true)),
            endpoint("web-b", "10.244.1.3", None),
            terminating,
        ]);
        let map = pod_addresses(&state, &service);
        assert_eq!(map.get("web-a").map(String::as_str), Some("10.244.1.2"));
        assert_eq!(map.len(), 3);
        assert_eq!(ready_endpoints(&state, &service), 2);
        assert_eq!(probe_target(&service), None, "no port: nothing to probe");
    }

    #[test]
    fn targets_bracket_ipv6() {
        let mut service = Service::new("ns", "svc");
        service.ports.push(crate::model::ServicePort {
            name: String::new(),
            port: 80,
            protocol: "TCP".into(),
            node_port: 0,
        });
        service.cluster_ip = Some("fd00::10".into());
        assert_eq!(probe_target(&service), Some(("[fd00::10]".into(), 80)));
        service.cluster_ip = Some("10.96.0.10".into());
        assert_eq!(probe_target(&service), Some(("10.96.0.10".into(), 80)));
        service.cluster_ip = Some("None".into());
        assert_eq!(probe_target(&service), None);
    }

    fn addresses() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("web-a".to_string(), "10.244.1.2".to_string()),
            ("web-b".to_string(), "10.244.2.2".to_string()),
        ])
    }

    #[test]
    fn a_recorded_log_maps_to_distinct_sorted_addresses() {
        let log = "answer 1 web-b\nanswer 2 web-a\nanswer 3 web-b\nanswer 4 web-a\n";
        let r = TrafficResult::from_log(log, &addresses(), 4);
        assert_eq!(texts(&r.internal()), ["10.244.1.2", "10.244.2.2"]);
        assert!(
            r.problems("worker").is_empty(),
            "{:?}",
            r.problems("worker")
        );
    }

    #[test]
    fn unknown_pods_and_partial_failures_surface() {
        let log = "curl: noise\nanswer 1 web-a\nanswer 2 stray-pod\nanswer 3 FAILED rc=7\n";
        let r = TrafficResult::from_log(log, &addresses(), 4);
        assert_eq!(texts(&r.internal()), ["10.244.1.2", "unknown:stray-pod"]);
        assert_eq!(
            r.problems("worker"),
            [
                "traffic from worker: answered by pods that are no endpoint of the Service: stray-pod",
                "traffic from worker: 1 of 3 requests failed while others succeeded",
                "traffic from worker: 3 answer line(s) for 4 requests",
            ]
        );
    }

    #[test]
    fn all_requests_refused_is_no_route_but_a_broken_client_is_a_problem() {
        let refused = "answer 1 FAILED rc=7\nanswer 2 FAILED rc=28\n";
        let r = TrafficResult::from_log(refused, &addresses(), 2);
        assert!(r.internal().is_empty());
        assert!(r.problems("worker").is_empty());
        let broken = "answer 1 FAILED rc=127\nanswer 2 FAILED\n";
        let r = TrafficResult::from_log(broken, &addresses(), 2);
        assert_eq!(
            r.problems("worker"),
            ["traffic from worker: the client failed (curl exit code unknown, 127), not the dataplane"]
        );
    }

    #[test]
    fn the_client_pod_is_pinned_and_runs_the_probe() {
        let pod = probe_pod(
            "ns",
            "kind-worker2",
            "client-kind-worker2-3",
            "10.96.0.10",
            80,
            120,
        );
        assert_eq!(pod["kind"], "Pod");
        assert_eq!(pod["metadata"]["name"], "client-kind-worker2-3");
        assert_eq!(pod["metadata"]["namespace"], "ns");
        assert_eq!(pod["spec"]["restartPolicy"], "Never");
        // Bound by name: a node name longer than a label value (63) still works.
        assert_eq!(pod["spec"]["nodeName"], "kind-worker2");
        assert!(pod["spec"].get("nodeSelector").is_none());
        let tolerated: Vec<&str> = pod["spec"]["tolerations"]
            .as_array()
            .expect("tolerations")
            .iter()
            .filter_map(|t| t["key"].as_str())
            .collect();
        assert!(tolerated.contains(&"node-role.kubernetes.io/control-plane"));
        let container = &pod["spec"]["containers"][0];
        assert_eq!(container["name"], "client");
        assert_eq!(container["image"], manifests::AGNHOST_IMAGE);
        assert_eq!(container["command"][0], "sh");
        let script = container["command"][2].as_str().expect("script");
        assert_eq!(script, probe_script("10.96.0.10", 80, 120));
        assert!(script.contains("-lt 120"), "{script}");
        assert!(script.contains("http://10.96.0.10:80/hostname"), "{script}");
    }

    #[cfg(unix)]
    #[test]
    fn the_script_reports_exit_codes_in_sh() {
        let script = probe_script("127.0.0.1", 9, 2).replace("curl", "false");
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .expect("sh");
        let log = String::from_utf8_lossy(&out.stdout);
        assert_eq!(log, "answer 1 FAILED rc=1\nanswer 2 FAILED rc=1\n");
        let r = TrafficResult::from_log(&log, &addresses(), 2);
        assert_eq!(r.failed, 2);
        assert_eq!(r.client_errors, [1]);
        let ok = probe_script("127.0.0.1", 9, 2).replace("curl", "echo web-a; true");
        let out = std::process::Command::new("sh")
            .args(["-c", &ok])
            .output()
            .expect("sh");
        let r = TrafficResult::from_log(&String::from_utf8_lossy(&out.stdout), &addresses(), 2);
        assert_eq!(texts(&r.internal()), ["10.244.1.2"]);
    }

    /// A fake curl for the script: sleeps `secs`, then exits `rc` (28: timed out, as a DROP
    /// rule makes every request; 7: refused, as REJECT does).
    #[cfg(unix)]
    fn run_script_with(count: u32, fake_curl: &str) -> (String, std::time::Duration) {
        let script = probe_script("127.0.0.1", 9, count).replace("curl", fake_curl);
        let started = std::time::Instant::now();
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .expect("sh");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            started.elapsed(),
        )
    }

    #[cfg(unix)]
    #[test]
    fn a_node_that_drops_everything_stops_early_and_routes_nowhere() {
        // 160 requests into DROP took 160 × the 1 s connect timeout and overran the old 98 s
        // deadline ("did not finish"). Now: concurrent, and it stops after 16 no-route answers.
        for (fake, rc) in [("sleep 0.2; exit 28;", 28), ("exit 7;", 7)] {
            let (log, took) = run_script_with(160, fake);
            assert!(took < std::time::Duration::from_secs(5), "{took:?}");
            assert!(log.ends_with("answer-stop 16 no-route\n"), "{log}");
            assert!(log.contains(&format!("answer 16 FAILED rc={rc}")), "{log}");
            let r = TrafficResult::from_log(&log, &addresses(), 160);
            assert_eq!(r.stopped_after, Some(16));
            assert!(r.internal().is_empty());
            assert!(
                r.problems("worker").is_empty(),
                "{:?}",
                r.problems("worker")
            );
        }
        // The deadline covers even a client that never stops early.
        let timing = ProbeTiming::for_requests(160);
        assert!(timing.deadline >= ProbeTiming::START + Duration::from_secs(160 / 8 * 2));
        assert!(timing.deadline >= manifests::probe_duration_bound(160));
    }

    #[cfg(unix)]
    #[test]
    fn answers_keep_every_request_and_do_not_stop() {
        let (log, _) = run_script_with(20, "echo web-a; true");
        assert_eq!(log.lines().count(), 20, "{log}");
        assert!(!log.contains("answer-stop"), "{log}");
        let r = TrafficResult::from_log(&log, &addresses(), 20);
        assert_eq!(texts(&r.internal()), ["10.244.1.2"]);
        assert_eq!(r.answered, 20);
        assert!(r.problems("worker").is_empty());
    }

    #[test]
    fn both_reports_disagreement_and_uses_traffic() {
        let rules = NodeRoutes {
            internal: vec![addr("10.244.2.2"), addr("10.244.1.2")],
            external: Some(vec![addr("10.244.1.2")]),
        };
        let mut notes = Vec::new();
        let agreed = combine(
            "worker",
            ObserveSource::Both,
            Some(rules.clone()),
            Some(vec![addr("10.244.1.2"), addr("10.244.2.2")]),
            &mut notes,
        );
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(agreed.external, rules.external);
        let got = combine(
            "worker",
            ObserveSource::Both,
            Some(rules.clone()),
            Some(vec![addr("10.244.1.2")]),
            &mut notes,
        );
        assert_eq!(texts(&got.internal), ["10.244.1.2"]);
        assert_eq!(
            notes,
            ["worker: rules route to [10.244.1.2, 10.244.2.2] but traffic reached [10.244.1.2]"]
        );
        let traffic_only = combine(
            "worker",
            ObserveSource::Traffic,
            None,
            Some(vec![addr("10.244.1.2")]),
            &mut notes,
        );
        assert_eq!(traffic_only.external, None);
        let rules_only = combine(
            "worker",
            ObserveSource::Rules,
            Some(rules.clone()),
            None,
            &mut notes,
        );
        assert_eq!(rules_only, rules);
        assert_eq!(notes.len(), 1);
    }
}
