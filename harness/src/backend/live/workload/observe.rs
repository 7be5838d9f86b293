//! The namespace's state and every node's routes (rules, traffic or both).

use super::*;

impl Workload {
    /// Observes the namespace and every node's routes from [`Self::source`] (rules, traffic
    /// or both, see [`probes`]), with case node names.
    pub async fn observe(
        &mut self,
        api: &ClusterApi,
        ledger: &mut Ledger,
        access: &impl NodeAccess,
        gates: &FeatureGates,
    ) -> Result<Observation, BackendError> {
        let mut state = api.observe(&self.namespace).await.map_err(|e| {
            BackendError::observe_from(format!("reading namespace {}", self.namespace), e)
        })?;
        if let Some(name) = &self.controller_under_test {
            crate::backend::mark_controller_under_test(&mut state, name);
        }
        let service = state
            .services
            .iter()
            .find(|s| s.name == SERVICE_NAME && s.is_proxied())
            .cloned();
        let mut routes = BTreeMap::new();
        let mut notes = Vec::new();
        let source = self.source;
        // The rules first: traffic measured while they still change is measured again.
        let mut rules: BTreeMap<String, Option<NodeRoutes>> = BTreeMap::new();
        if let (Some(service), true) = (&service, source.uses_rules()) {
            for (case, real) in self.nodes.pairs() {
                rules.insert(case.clone(), access.read_routes(real, service, gates)?);
            }
        }
        let seen = (state.clone(), rules.clone());
        let first_seen = match &self.last_seen {
            Some((was, since)) if *was == seen => *since,
            _ => tokio::time::Instant::now(),
        };
        self.last_seen = Some((seen, first_seen));
        let traffic = match &service {
            Some(_) if source.uses_traffic() && self.has_hand_slices() => {
                // Their addresses belong to no pod: nothing would answer.
                if source == ObserveSource::Traffic {
                    notes.push(
                        "traffic: the Service's EndpointSlices are written by hand (addresses without pods), so no request can be answered; routes not observed (use --observe rules)"
                            .to_string(),
                    );
                }
                None
            }
            Some(service) if source.uses_traffic() => {
                let cache = self
                    .traffic(api, ledger, access, &state, &rules, first_seen, service)
                    .await?;
                notes.extend(cache.notes.iter().cloned());
                Some(cache)
            }
            _ => None,
        };
        let answers = traffic
            .as_ref()
            .map(|t| t.answers.clone())
            .unwrap_or_default();
        let traffic = traffic.map(|t| t.internal);
        let events = match api.service_events(&self.namespace, SERVICE_NAME).await {
            Ok(events) => Ok(events),
            // Not allowed to list events (or no such API): only an `events` check needs them.
            Err(e) if matches!(e.status_code(), Some(403 | 404)) => Err(e.to_string()),
            Err(e) => {
                return Err(BackendError::observe_from(
                    format!("reading the events of Service {SERVICE_NAME}"),
                    e,
                ))
            }
        };
        for (case, _) in self.nodes.pairs() {
            let entry = match &service {
                Some(_) => {
                    let read = rules.get(case).cloned().flatten();
                    let probed = traffic.as_ref().and_then(|t| t.get(case)).cloned();
                    probes::combine(case, source, read, probed, &mut notes)
                }
                None => NodeRoutes::default(),
            };
            routes.insert(case.clone(), entry);
        }
        self.nodes.rename_state(&mut state);
        Ok(Observation {
            state,
            routes,
            notes,
            events,
            answers,
        })
    }

    /// Whether the case wrote EndpointSlices by hand or its Service has no selector (the
    /// model's `selector: None`).
    fn has_hand_slices(&self) -> bool {
        !self.hand_slices.is_empty() || self.service.as_ref().is_some_and(|s| s.selector.is_none())
    }

    /// Traffic routes for `state` and `rules` (see [`TrafficCache`]): from every node itself
    /// where the backend can ([`NodeAccess::probe`]), else from a client pod per node. A
    /// result is reused while the state and the rules stay as they were — once it was measured
    /// [`Workload::proxy_sync_grace`] after they first looked so (proxies apply a change some
    /// time after the API shows it: a measurement taken sooner is taken again). A node whose
    /// kubelet the harness stopped cannot run a client pod: it gets no traffic routes and a
    /// note.
    #[allow(clippy::too_many_arguments)]
    async fn traffic(
        &mut self,
        api: &ClusterApi,
        ledger: &mut Ledger,
        access: &impl NodeAccess,
        state: &ClusterState,
        rules: &BTreeMap<String, Option<NodeRoutes>>,
        first_seen: tokio::time::Instant,
        service: &Service,
    ) -> Result<TrafficCache, BackendError> {
        if let Some(cache) = &self.traffic_cache {
            if cache.reusable(state, rules, first_seen, self.proxy_sync_grace) {
                return Ok(cache.clone());
            }
        }
        let probed_at = tokio::time::Instant::now();
        let mut notes = Vec::new();
        let mut internal = BTreeMap::new();
        let mut answers = BTreeMap::new();
        if let Some((host, port)) = probes::probe_target(service) {
            let count = probes::request_count(probes::ready_endpoints(state, service));
            let addresses = probes::pod_addresses(state, service);
            self.probe_round += 1;
            let mut outcomes: BTreeMap<String, probes::ClientOutcome> = BTreeMap::new();
            let mut clients = Vec::new();
            for (case, real) in self.nodes.pairs() {
                if let Some(log) = access.probe(real, &host, port, count) {
                    let outcome = match log {
                        Ok(log) => probes::ClientOutcome {
                            log: Some(log),
                            problem: None,
                        },
                        Err(e) => probes::ClientOutcome {
                            log: None,
                            problem: Some(e.report()),
                        },
                    };
                    outcomes.insert(real.clone(), outcome);
                    continue;
                }
                if self.not_ready_nodes.contains(case) && access.kubelet() == Kubelet::Real {
                    notes.push(format!(
                        "traffic from {case}: its kubelet is stopped, so no client pod can run there; routes not observed"
                    ));
                    continue;
                }
                let name = manifests::client_pod_name(real, self.probe_round);
                clients.push((name, real.clone()));
            }
            if !clients.is_empty() {
                let timing = self
                    .probe_timing
                    .unwrap_or_else(|| ProbeTiming::for_requests(count));
                let probed = probes::run_probes(
                    api,
                    ledger,
                    &self.namespace,
                    &clients,
                    &host,
                    port,
                    count,
                    timing,
                )
                .await?;
                outcomes.extend(probed);
            }
            for (case, real) in self.nodes.pairs() {
                let Some(outcome) = outcomes.get(real) else {
                    continue;
                };
                if let Some(problem) = &outcome.problem {
                    notes.push(format!("traffic from {case}: {problem}"));
                }
                let result = TrafficResult::from_log(
                    outcome.log.as_deref().unwrap_or(""),
                    &addresses,
                    count,
                );
                notes.extend(result.problems(case));
                internal.insert(case.clone(), result.internal());
                answers.insert(case.clone(), result.answers);
            }
        } else {
            notes.push(format!(
                "traffic: Service {} has no ClusterIP and port to probe",
                service.name
            ));
        }
        let cache = TrafficCache {
            state: state.clone(),
            rules: rules.clone(),
            probed_at,
            internal,
            answers,
            notes,
        };
        self.traffic_cache = Some(cache.clone());
        Ok(cache)
    }
}

/// Converts one node's dump into routes for the case's Service (used by [`NodeControl`]
/// implementations that read dumps).
pub(crate) fn routes_from_dump(
    mode: crate::observe::dataplane::ProxyMode,
    dump: &str,
    node: &str,
    service: &Service,
    gates: &FeatureGates,
) -> Result<NodeRoutes, BackendError> {
    let parsed = crate::observe::dataplane::parse(mode, dump)
        .map_err(|e| BackendError::observe_from(format!("node {node}"), e))?;
    Ok(service_routes(service, gates, &parsed))
}

#[cfg(test)]
#[path = "../../../../tests/common/mock_api.rs"]
mod mock_api;

#[cfg(test)]
mod traffic_tests {
    //! `Workload::observe` with `Both`: rules from a fake node control, traffic from client
    //! pods on a mock API server; a second observation of the same state does not re-probe.
    use super::*;

    fn addr(ip: &str) -> Reached {
        Reached::Addr(ip.parse().expect("an IP address"))
    }

    fn texts(reached: &[Reached]) -> Vec<String> {
        reached.iter().map(Reached::to_string).collect()
    }
    use crate::backend::kube_api::{ObjectRef, RetryPolicy};
    use crate::case::{ProxyMode, Role};
    use crate::model::KubeVersion;
    use http::{Request, Response};
    use kube::client::Body;
    use tower_test::mock;

    const NS: &str = "topo-t-1";
    const APPLY: &str = "?&force=true&fieldManager=topo-harness";

    struct Rules;

    impl NodeAccess for Rules {
        fn label(&self) -> &str {
            "a fake"
        }
        fn read_routes(
            &self,
            _node: &str,
            _: &Service,
            _: &FeatureGates,
        ) -> Result<Option<NodeRoutes>, BackendError> {
            // Both nodes' rules route to both endpoints.
            Ok(Some(NodeRoutes {
                internal: vec![addr("10.244.1.5"), addr("10.244.2.5")],
                external: None,
            }))
        }
    }

    /// The shared scripted server, answering 200 with `body`.
    struct Server(super::mock_api::ApiServer);

    impl Server {
        async fn answer(&mut self, method: &str, uri: &str, body: Value) {
            self.0.answer(method, uri, 200, body).await;
        }

        async fn observe(&mut self) {
            let node = |name: &str| {
                json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                       "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
            };
            let list = |items: Vec<Value>| json!({"metadata": {}, "items": items});
            self.answer("GET", "/api/v1/nodes?", list(vec![node("kw"), node("kw2")]))
                .await;
            let service = json!({
                "metadata": {"name": "web", "namespace": NS},
                "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10",
                         "ports": [{"port": 80, "protocol": "TCP"}]}
            });
            self.answer(
                "GET",
                &format!("/api/v1/namespaces/{NS}/services?"),
                list(vec![service]),
            )
            .await;
            let endpoint = |ip: &str, node: &str, pod: &str| {
                json!({"addresses": [ip], "conditions": {"ready": true}, "nodeName": node,
                       "targetRef": {"kind": "Pod", "name": pod, "namespace": NS}})
            };
            let slice = json!({
                "metadata": {"name": "web-x", "namespace": NS,
                             "labels": {"kubernetes.io/service-name": "web"}},
                "addressType": "IPv4",
                "endpoints": [endpoint("10.244.1.5", "kw", "web-kw-a"),
                              endpoint("10.244.2.5", "kw2", "web-kw2-a")]
            });
            self.answer(
                "GET",
                &format!("/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices?"),
                list(vec![slice]),
            )
            .await;
        }

        /// Listing events is forbidden (a kubeconfig user without that right).
        async fn events_forbidden(&mut self) {
            let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                "status": "Failure", "reason": "Forbidden", "code": 403,
                                "message": "events is forbidden"});
            self.0
                .answer(
                    "GET",
                    &format!("/api/v1/namespaces/{NS}/events?&fieldSelector=involvedObject.kind%3DService%2CinvolvedObject.name%3Dweb"),
                    403,
                    status,
                )
                .await;
        }

        /// The Service's events: one recorded twice (core/v1 count), one as a series.
        async fn events(&mut self) {
            let events = json!({"metadata": {}, "items": [
                {"metadata": {"name": "web.2", "namespace": NS},
                 "involvedObject": {"kind": "Service", "name": "web"},
                 "type": "Warning", "reason": "TopologyAwareHintsDisabled",
                 "message": "Insufficient number of endpoints (1 endpoints, 2 zones), addressType: IPv4",
                 "firstTimestamp": "2026-01-01T00:00:02Z", "count": 2},
                {"metadata": {"name": "web.1", "namespace": NS},
                 "involvedObject": {"kind": "Service", "name": "web"},
                 "type": "Normal", "reason": "TopologyAwareHintsEnabled",
                 "message": "Topology Aware Hints has been enabled, addressType: IPv4",
                 "eventTime": "2026-01-01T00:00:01.000000Z", "series": {"count": 3,
                 "lastObservedTime": "2026-01-01T00:00:05.000000Z"}}
            ]});
            self.answer(
                "GET",
                &format!("/api/v1/namespaces/{NS}/events?&fieldSelector=involvedObject.kind%3DService%2CinvolvedObject.name%3Dweb"),
                events,
            )
            .await;
        }
    }

    fn shape() -> ClusterShape {
        let node = |name: &str| NodeDef::new(name, Role::Worker, None);
        ClusterShape {
            version: KubeVersion::new(34),
            proxy_mode: ProxyMode::Iptables,
            feature_gates: Vec::new(),
            max_endpoints_per_slice: 100,
            nodes: vec![node("worker"), node("worker2")],
        }
    }

    #[tokio::test]
    async fn both_uses_traffic_notes_disagreement_and_probes_once_per_state() {
        let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
        let api = ClusterApi::from_client(kube::Client::new(service, "default"), None)
            .with_retry(RetryPolicy::immediate());
        let server = tokio::spawn(async move {
            let mut s = Server(super::mock_api::ApiServer(handle));
            s.observe().await;
            let pods = format!("/api/v1/namespaces/{NS}/pods");
            let pod = |name: &str, phase: &str| {
                json!({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "namespace": NS},
                       "status": {"phase": phase}})
            };
            for name in ["client-kw-1", "client-kw2-1"] {
                s.answer(
                    "PATCH",
                    &format!("{pods}/{name}{APPLY}"),
                    pod(name, "Pending"),
                )
                .await;
            }
            for name in ["client-kw-1", "client-kw2-1"] {
                s.answer("GET", &format!("{pods}/{name}"), pod(name, "Succeeded"))
                    .await;
            }
            // 2 ready endpoints: 80 requests each. worker reaches both endpoints; worker2
            // only its own and a stray pod.
            let log = |answer: &dyn Fn(usize) -> &'static str| {
                (1..=80)
                    .map(|i| format!("answer {i} {}\n", answer(i)))
                    .collect::<String>()
            };
            let logs = [
                (
                    "client-kw-1",
                    log(&|i| if i % 2 == 0 { "web-kw-a" } else { "web-kw2-a" }),
                ),
                (
                    "client-kw2-1",
                    log(&|i| if i == 7 { "stray" } else { "web-kw2-a" }),
                ),
            ];
            for (name, log) in logs {
                s.answer(
                    "GET",
                    &format!("{pods}/{name}/log?&container=client"),
                    Value::String(log),
                )
                .await;
            }
            for name in ["client-kw-1", "client-kw2-1"] {
                s.answer("DELETE", &format!("{pods}/{name}?"), pod(name, "Succeeded"))
                    .await;
            }
            s.events().await;
            // The second observation sees the same state: lists only, no probe.
            s.observe().await;
            s.events().await;
            s
        });
        let map = NodeMap::new(vec![
            ("worker".into(), "kw".into()),
            ("worker2".into(), "kw2".into()),
        ]);
        let mut workload = Workload::new(NS.into(), map, &shape());
        workload.source = ObserveSource::Both;
        // The proxies' rules are the fake's, fixed: no sync to wait for.
        workload.proxy_sync_grace = Duration::ZERO;
        workload.probe_timing = Some(ProbeTiming {
            poll: Duration::from_millis(1),
            deadline: Duration::from_secs(1),
        });
        let mut ledger = Ledger::new();
        ledger.record_created(ObjectRef::namespace(NS));
        let gates = shape().gates();
        let run = async {
            let first = workload
                .observe(&api, &mut ledger, &Rules, &gates)
                .await
                .expect("observe");
            let second = workload
                .observe(&api, &mut ledger, &Rules, &gates)
                .await
                .expect("observe again");
            (first, second)
        };
        let (first, second) = tokio::time::timeout(Duration::from_secs(5), run)
            .await
            .expect("observations finish");
        let mut server = server.await.expect("server");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), server.0 .0.next_request())
                .await
                .is_err(),
            "no request after the second observation"
        );
        assert_eq!(first, second);
        assert_eq!(
            texts(&first.routes["worker"].internal),
            ["10.244.1.5", "10.244.2.5"]
        );
        assert_eq!(
            texts(&first.routes["worker2"].internal),
            ["10.244.2.5", "unknown:stray"]
        );
        assert_eq!(
            first.notes,
            [
                "traffic from worker2: answered by pods that are no endpoint of the Service: stray",
                "worker2: rules route to [10.244.1.5, 10.244.2.5] but traffic reached [10.244.2.5, unknown:stray]",
            ]
        );
        // Shares count every answer; the stray pod's answer is no endpoint's.
        let answers = |node: &str| -> Vec<(String, usize)> {
            first.answers[node]
                .iter()
                .map(|(a, n)| (a.clone(), *n))
                .collect()
        };
        assert_eq!(
            answers("worker"),
            [
                ("10.244.1.5".to_string(), 40),
                ("10.244.2.5".to_string(), 40)
            ]
        );
        assert_eq!(answers("worker2"), [("10.244.2.5".to_string(), 79)]);
        // Events come oldest first, with the count of an aggregated event or a series.
        let listed = first.events.clone().unwrap_or_default();
        let events: Vec<(&str, &str, u32)> = listed
            .iter()
            .map(|e| (e.event_type.as_str(), e.reason.as_str(), e.count))
            .collect();
        assert_eq!(
            events,
            [
                ("Normal", "TopologyAwareHintsEnabled", 3),
                ("Warning", "TopologyAwareHintsDisabled", 2)
            ]
        );
        assert_eq!(
            listed[0].message,
            "Topology Aware Hints has been enabled, addressType: IPv4"
        );
        // Both client pods are in the ledger (cleanup deletes whatever is left).
        assert_eq!(ledger.entries().len(), 3);
    }

    #[tokio::test]
    async fn traffic_is_not_sent_to_hand_written_slices() {
        let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
        let api = ClusterApi::from_client(kube::Client::new(service, "default"), None)
            .with_retry(RetryPolicy::immediate());
        let server = tokio::spawn(async move {
            let mut s = Server(super::mock_api::ApiServer(handle));
            s.observe().await;
            s.events_forbidden().await;
            s
        });
        let map = NodeMap::new(vec![
            ("worker".into(), "kw".into()),
            ("worker2".into(), "kw2".into()),
        ]);
        let mut workload = Workload::new(NS.into(), map, &shape());
        workload.source = ObserveSource::Traffic;
        let mut model = Service::new(NS, "web");
        model.selector = None;
        workload.service = Some(model);
        let mut ledger = Ledger::new();
        let obs = tokio::time::timeout(
            Duration::from_secs(5),
            workload.observe(&api, &mut ledger, &Rules, &shape().gates()),
        )
        .await
        .expect("observation finishes")
        .expect("observe");
        let mut server = server.await.expect("server");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), server.0 .0.next_request())
                .await
                .is_err(),
            "no client pod"
        );
        assert!(obs.routes.values().all(|r| r.internal.is_empty()));
        assert_eq!(obs.notes.len(), 1);
        assert!(obs.notes[0].contains("written by hand"), "{:?}", obs.notes);
        // Events that may not be listed fail only an `events` expectation, not the observation.
        assert!(
            obs.events
                .as_ref()
                .is_err_and(|e| e.contains("events is forbidden")),
            "{:?}",
            obs.events
        );
        assert!(ledger.is_empty());
    }
}
