//! A step into API objects: the Service, one echo Deployment per node, hand-written
//! EndpointSlices, pods made not ready or held terminating.

use super::*;

impl Workload {
    /// The Service object for the API: the model's Service as the sim builds it, selecting the
    /// echo pods (or nothing), the node port left to the API server.
    pub(super) fn service_object(&self, model: &Service) -> Result<Value, BackendError> {
        let mut svc = model.clone();
        svc.namespace = self.namespace.clone();
        svc.cluster_ip = None;
        // `None` = select the echo pods; `Some(empty)` = no selector.
        svc.selector = match &model.selector {
            Some(_) => None,
            None => Some(BTreeMap::new()),
        };
        for port in &mut svc.ports {
            port.node_port = 0;
        }
        yaml_value(manifests::service(&svc, SERVICE_NAME))
    }

    /// The sim's placement rule for `scale`: remove from the node with the most pods (last in
    /// node order on ties), add to the worker with the fewest (first on ties).
    pub fn scale_counts(&mut self, want: usize) {
        let names: Vec<String> = self.defs.iter().map(|n| n.name.clone()).collect();
        let workers: Vec<String> = self
            .defs
            .iter()
            .filter(|n| n.role != crate::case::Role::ControlPlane)
            .map(|n| n.name.clone())
            .collect();
        let total = |c: &BTreeMap<String, usize>| c.values().sum::<usize>();
        while total(&self.counts) > want {
            let mut best: Option<(usize, &String)> = None;
            for name in &names {
                let c = self.counts.get(name).copied().unwrap_or(0);
                if c > 0 && best.is_none_or(|(b, _)| c >= b) {
                    best = Some((c, name));
                }
            }
            let Some((_, name)) = best else { break };
            if let Some(c) = self.counts.get_mut(name) {
                *c -= 1;
            }
        }
        while total(&self.counts) < want {
            let mut best: Option<(usize, &String)> = None;
            for name in &workers {
                let c = self.counts.get(name).copied().unwrap_or(0);
                if best.is_none_or(|(b, _)| c < b) {
                    best = Some((c, name));
                }
            }
            let Some((_, name)) = best else { break };
            *self.counts.entry(name.clone()).or_insert(0) += 1;
        }
    }

    pub(super) fn hand_slice_object(&self, spec: &HandSlice, first_ip: &mut usize) -> Value {
        let endpoints: Vec<Value> = spec
            .endpoints
            .iter()
            .map(|e| {
                let k = *first_ip;
                *first_ip += 1;
                let mut endpoint = serde_json::Map::new();
                endpoint.insert(
                    "addresses".into(),
                    json!([format!("10.250.{}.{}", k / 250, k % 250 + 2)]),
                );
                let mut conditions = serde_json::Map::new();
                for (key, value) in [
                    ("ready", e.ready),
                    ("serving", e.serving),
                    ("terminating", e.terminating),
                ] {
                    if let Some(v) = value {
                        conditions.insert(key.into(), v.into());
                    }
                }
                endpoint.insert("conditions".into(), Value::Object(conditions));
                let real = self.nodes.real(&e.node).unwrap_or(&e.node).to_string();
                endpoint.insert("nodeName".into(), real.into());
                if let Some(Some(zone)) = self.zones.get(&e.node) {
                    endpoint.insert("zone".into(), self.nodes.real_zone(zone).into());
                }
                if e.zone_hints.is_some() || !e.node_hints.is_empty() {
                    let mut hints = serde_json::Map::new();
                    let zones: Vec<Value> = e
                        .zone_hints
                        .iter()
                        .flatten()
                        .map(|z| json!({ "name": self.nodes.real_zone(z) }))
                        .collect();
                    hints.insert("forZones".into(), zones.into());
                    if !e.node_hints.is_empty() {
                        let nodes: Vec<Value> = e
                            .node_hints
                            .iter()
                            .map(|n| json!({ "name": self.nodes.real(n).unwrap_or(n) }))
                            .collect();
                        hints.insert("forNodes".into(), nodes.into());
                    }
                    endpoint.insert("hints".into(), Value::Object(hints));
                }
                Value::Object(endpoint)
            })
            .collect();
        json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": spec.name,
                "namespace": self.namespace,
                "labels": {
                    LABEL_SERVICE_NAME: SERVICE_NAME,
                    LABEL_MANAGED_BY: spec.managed_by,
                    manifests::LABEL_MANAGED: "topo-harness",
                },
            },
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": manifests::ECHO_HTTP_PORT, "protocol": "TCP"}],
            "endpoints": endpoints,
        })
    }

    /// Applies one step. A Service the API server rejects (422 Invalid) rejects the whole step
    /// before anything else changes.
    pub async fn apply(
        &mut self,
        api: &ClusterApi,
        ledger: &mut Ledger,
        control: &dyn NodeControl,
        action: &StepAction,
        backend: &str,
    ) -> Result<Applied, BackendError> {
        Self::check_supported(action, backend)?;
        if let Some(definition) = &action.create_service {
            self.definition = Some(definition.clone());
        }
        if action.create_service.is_some() || action.service.is_some() {
            let candidate = next_service(self.service.as_ref(), self.definition.as_ref(), action);
            let object = self.service_object(&candidate)?;
            match api.apply(ledger, &object).await {
                Ok(_) => self.service = Some(candidate),
                Err(KubeApiError::Api {
                    code: 422, message, ..
                }) => return Ok(Applied::Rejected(message)),
                Err(e) => return Err(api_error(e)),
            }
        }
        for (name, change) in &action.nodes {
            let real = self.nodes.real_or_err(name)?.to_string();
            if let Some(zone) = &change.zone {
                let labels = BTreeMap::from([(LABEL_ZONE.to_string(), zone.clone())]);
                api.relabel_node(ledger, &real, &labels)
                    .await
                    .map_err(api_error)?;
                self.zones.insert(name.clone(), zone.clone());
            }
            if let Some(ready) = change.ready {
                control.set_kubelet(&real, ready)?;
                if ready {
                    self.stopped_kubelets.remove(&real);
                } else {
                    self.stopped_kubelets.insert(real.clone());
                }
                self.wait_node(api, &real, ready).await;
            }
        }
        let before = self.counts.clone();
        if let Some(endpoints) = &action.endpoints {
            for (name, count) in self.counts.iter_mut() {
                *count = endpoints.get(name).copied().unwrap_or(0);
            }
        }
        if let Some(n) = action.scale {
            self.scale_counts(n);
        }
        if action.endpoints.is_some() || action.scale.is_some() || before != self.counts {
            for (name, count) in self.counts.clone() {
                let real = self.nodes.real_or_err(&name)?.to_string();
                if count == 0 && !self.deployments.contains(&real) {
                    continue;
                }
                let replicas = u32::try_from(count).unwrap_or(u32::MAX);
                let mut object = yaml_value(manifests::echo_deployment(
                    &self.namespace,
                    SERVICE_NAME,
                    &real,
                    replicas,
                ))?;
                harness_controlled(&mut object);
                api.apply(ledger, &object).await.map_err(api_error)?;
                self.deployments.insert(real);
            }
        }
        if let Some(slices) = &action.slices {
            let wanted: BTreeSet<String> = slices.iter().map(|s| s.name.clone()).collect();
            for gone in self.hand_slices.difference(&wanted) {
                let target =
                    ObjectRef::namespaced(ObjectKind::EndpointSlice, &self.namespace, gone);
                api.delete(&target).await.map_err(api_error)?;
            }
            let mut ip = 0;
            for spec in slices {
                let object = self.hand_slice_object(spec, &mut ip);
                api.apply(ledger, &object).await.map_err(api_error)?;
            }
            self.hand_slices = wanted;
        }
        for (case, count) in self.counts.clone() {
            let unready = self.not_ready.get(&case).copied().unwrap_or(0);
            if unready > count {
                self.not_ready.insert(case, count);
            }
        }
        if !action.not_ready.is_empty() {
            // The pods must run before their readiness can be changed.
            self.wait_pods(api).await;
            for (case, n) in &action.not_ready {
                let real = self.nodes.real_or_err(case)?.to_string();
                control.set_not_ready(&real, &self.namespace, *n)?;
                self.not_ready.insert(case.clone(), *n);
            }
        }
        if !action.terminating.is_empty() {
            self.wait_pods(api).await;
            for (case, n) in &action.terminating {
                self.hold(api, ledger, control, case, *n, backend).await?;
            }
        }
        self.wait_pods(api).await;
        Ok(Applied::Ok)
    }

    /// Makes `n` pods on case node `case` terminating (as the sim marks them): the wanted
    /// number of running pods get [`HOLD_FILE`] and the lowest deletion cost, then the node's
    /// Deployment is scaled down by as many, so the ReplicaSet deletes exactly those and
    /// their preStop hook keeps them terminating (serving while ready).
    async fn hold(
        &mut self,
        api: &ClusterApi,
        ledger: &mut Ledger,
        control: &dyn NodeControl,
        case: &str,
        n: usize,
        backend: &str,
    ) -> Result<(), BackendError> {
        let real = self.nodes.real_or_err(case)?.to_string();
        let already = self.held.get(case).cloned().unwrap_or_default();
        if n < already.len() {
            return Err(BackendError::Unsupported {
                reason: format!(
                "not supported on {backend}: ending a pod's termination (node {case} has {} terminating, the step asks for {n})",
                already.len()
            ),
        });
        }
        let more = n - already.len();
        if more == 0 {
            return Ok(());
        }
        let running = self.counts.get(case).copied().unwrap_or(0);
        if running < more {
            return Err(BackendError::apply(format!(
                "node {case} runs {running} pod(s); cannot make {more} more terminating"
            )));
        }
        let pods = control.hold_pods(&real, &self.namespace, more, &already)?;
        for pod in &pods {
            let object = json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": pod,
                    "namespace": self.namespace,
                    "annotations": {DELETION_COST: "-1000"},
                },
            });
            api.apply(ledger, &object).await.map_err(api_error)?;
        }
        let left = running - more;
        self.counts.insert(case.to_string(), left);
        let mut object = yaml_value(manifests::echo_deployment(
            &self.namespace,
            SERVICE_NAME,
            &real,
            u32::try_from(left).unwrap_or(u32::MAX),
        ))?;
        harness_controlled(&mut object);
        api.apply(ledger, &object).await.map_err(api_error)?;
        self.held.entry(case.to_string()).or_default().extend(pods);
        Ok(())
    }
}

/// Exec readiness probes one node's echo Deployment may run per second: each is a process
/// started in a container, and 300 of them a second (the 300 pods of `endpointslice-packing`
/// probed every second) starve a 4-vCPU runner.
pub const READINESS_PROBES_PER_SECOND: u64 = 10;

/// The readiness probe period for a Deployment of `replicas` pods: 1 s while that stays within
/// [`READINESS_PROBES_PER_SECOND`], longer for large Deployments (at most 30 s, so a pod marked
/// not ready is still noticed well within the step's settle time).
pub fn readiness_period_seconds(replicas: u64) -> u64 {
    replicas.div_ceil(READINESS_PROBES_PER_SECOND).clamp(1, 30)
}

/// Gives the echo pods the hooks the harness controls: ready while [`NOT_READY_FILE`] does
/// not exist; once deleted, terminating while [`HOLD_FILE`] exists (up to an hour).
pub(super) fn harness_controlled(deployment: &mut Value) {
    let replicas = deployment
        .pointer("/spec/replicas")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    if let Some(spec) = deployment.pointer_mut("/spec/template/spec") {
        spec["terminationGracePeriodSeconds"] = json!(HOLD_GRACE_SECONDS);
    }
    if let Some(container) = deployment.pointer_mut("/spec/template/spec/containers/0") {
        container["readinessProbe"] = json!({
            "exec": {"command": ["sh", "-c", format!("test ! -e {NOT_READY_FILE}")]},
            "periodSeconds": readiness_period_seconds(replicas),
            "failureThreshold": 1,
            "successThreshold": 1
        });
        container["lifecycle"] = json!({
            "preStop": {"exec": {"command": [
                "sh", "-c", format!("while [ -e {HOLD_FILE} ]; do sleep 1; done")
            ]}}
        });
    }
}
