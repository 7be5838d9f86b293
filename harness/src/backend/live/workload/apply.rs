//! A step into API objects and node changes: the Service, the pods (created, deleted, marked
//! not ready, held terminating), hand-written EndpointSlices, node labels, readiness and CPU.

use super::*;
use crate::backend::kube_api::{ObjectKind, ObjectRef};
use crate::backend::pods::PodEntry;

impl Workload {
    /// The Service object for the API: the model's Service as the sim builds it, selecting the
    /// echo pods (or nothing), the node port left to the API server.
    pub(super) fn service_object(&self, model: &Service) -> Value {
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
        manifests::service(&svc, SERVICE_NAME)
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
        access: &impl NodeAccess,
        action: &StepAction,
    ) -> Result<Applied, BackendError> {
        if let Some(definition) = &action.create_service {
            self.definition = Some(definition.clone());
        }
        if action.create_service.is_some() || action.service.is_some() {
            let candidate = next_service(self.service.as_ref(), self.definition.as_ref(), action);
            let object = self.service_object(&candidate);
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
            if let Some(millis) = change.cpu_millis {
                self.set_node_cpu(api, access, name, millis).await?;
            }
            if let Some(ready) = change.ready {
                self.set_node_ready(api, access, name, ready).await?;
            }
        }
        let mut next = self.pods.clone();
        next.apply(action);
        self.reconcile_pods(api, ledger, access, next).await?;
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
        self.wait_pods(api).await;
        Ok(Applied::Ok)
    }

    /// Brings the cluster's pods to `next`: pods no longer wanted are deleted (a held one
    /// finishes terminating), new ones created (and started, where the harness plays the
    /// kubelet), readiness changes applied, newly terminating pods deleted and held.
    async fn reconcile_pods(
        &mut self,
        api: &ClusterApi,
        ledger: &mut Ledger,
        access: &impl NodeAccess,
        next: PodSet,
    ) -> Result<(), BackendError> {
        // A deleted pod cannot come back: refuse before anything changes.
        if let Some(pod) = next
            .pods()
            .iter()
            .find(|p| !p.terminating && self.live.get(&p.name).is_some_and(|l| l.held))
        {
            return Err(access.unsupported(&format!(
                "ending a pod's termination (pod {} on node {} is terminating; the step asks for fewer terminating pods there)",
                pod.name, pod.node
            )));
        }
        let wanted: BTreeSet<&str> = next.pods().iter().map(|p| p.name.as_str()).collect();
        let gone: Vec<(String, LivePod)> = self
            .live
            .iter()
            .filter(|(name, _)| !wanted.contains(name.as_str()))
            .map(|(n, p)| (n.clone(), p.clone()))
            .collect();
        for (name, pod) in gone {
            if pod.held {
                match access.kubelet() {
                    Kubelet::Emulated => self.finish_deletion(api, access, &name, &pod).await?,
                    Kubelet::Real => self.release_held(access, &name, &pod)?,
                }
            } else {
                self.delete_pod(api, access, &name, &pod).await?;
            }
            self.live.remove(&name);
        }
        let created: Vec<PodEntry> = next
            .pods()
            .iter()
            .filter(|p| !self.live.contains_key(&p.name))
            .cloned()
            .collect();
        for pod in &created {
            let on_node = next.count_on(&pod.node) as u64;
            self.create_pod(api, ledger, access, pod, on_node).await?;
        }
        let needs_container = next.pods().iter().any(|p| {
            let live = self.live.get(&p.name);
            live.is_some_and(|l| l.not_ready != p.not_ready || (p.terminating && !l.held))
        });
        if needs_container && access.kubelet() == Kubelet::Real {
            // Readiness and holding go through files in the container: it must run first.
            self.wait_running(api, &created).await?;
        }
        for pod in next.pods() {
            let Some(live) = self.live.get(&pod.name).cloned() else {
                continue;
            };
            if live.not_ready != pod.not_ready {
                self.set_pod_ready(api, access, &pod.name, &live, !pod.not_ready)
                    .await?;
                if let Some(l) = self.live.get_mut(&pod.name) {
                    l.not_ready = pod.not_ready;
                }
            }
            if pod.terminating && !live.held {
                self.hold(api, access, &pod.name, &live).await?;
                if let Some(l) = self.live.get_mut(&pod.name) {
                    l.held = true;
                }
            }
        }
        self.pods = next;
        Ok(())
    }

    /// Creates echo pod `pod` on its node; where the harness plays the kubelet, starts it and
    /// writes it Running (ready unless its node is NotReady).
    async fn create_pod(
        &mut self,
        api: &ClusterApi,
        ledger: &mut Ledger,
        access: &impl NodeAccess,
        pod: &PodEntry,
        pods_on_node: u64,
    ) -> Result<(), BackendError> {
        let real = self.nodes.real_or_err(&pod.node)?.to_string();
        let object = manifests::echo_pod(
            &self.namespace,
            SERVICE_NAME,
            &pod.name,
            &real,
            manifests::readiness_period_seconds(pods_on_node),
        );
        api.apply(ledger, &object).await.map_err(api_error)?;
        let mut live = LivePod {
            node: pod.node.clone(),
            network: None,
            not_ready: false,
            held: false,
        };
        if access.kubelet() == Kubelet::Emulated {
            let network = access.start_pod(&real, &pod.name)?;
            let ready = !self.not_ready_nodes.contains(&pod.node);
            api.patch_status(
                ObjectKind::Pod,
                Some(&self.namespace),
                &pod.name,
                &pod_status_patch(&network, ready),
            )
            .await
            .map_err(api_error)?;
            live.network = Some(network);
        }
        self.live.insert(pod.name.clone(), live);
        Ok(())
    }

    /// Deletes a pod that is not held: with a real kubelet gracefully (it stops the echo
    /// server), else for good (grace 0) after removing its network.
    async fn delete_pod(
        &self,
        api: &ClusterApi,
        access: &impl NodeAccess,
        name: &str,
        pod: &LivePod,
    ) -> Result<(), BackendError> {
        match access.kubelet() {
            Kubelet::Real => {
                let target = ObjectRef::namespaced(ObjectKind::Pod, &self.namespace, name);
                api.delete(&target).await.map_err(api_error)?;
                Ok(())
            }
            Kubelet::Emulated => self.finish_deletion(api, access, name, pod).await,
        }
    }

    /// Emulated kubelet: removes the pod's network and deletes it with grace period 0 (what
    /// the kubelet does once a pod's containers stopped).
    pub(super) async fn finish_deletion(
        &self,
        api: &ClusterApi,
        access: &impl NodeAccess,
        name: &str,
        pod: &LivePod,
    ) -> Result<(), BackendError> {
        if pod.network.is_some() {
            let real = self.nodes.real_or_err(&pod.node)?;
            access.stop_pod(real, name)?;
        }
        api.delete_pod(&self.namespace, name, Some(0))
            .await
            .map(|_| ())
            .map_err(api_error)
    }

    /// Real kubelet: lets a held pod finish terminating.
    pub(super) fn release_held(
        &self,
        access: &impl NodeAccess,
        name: &str,
        pod: &LivePod,
    ) -> Result<(), BackendError> {
        let real = self.nodes.real_or_err(&pod.node)?;
        access.set_hold(real, &self.namespace, name, false)
    }

    /// Deletes a pod and keeps it terminating (still serving while ready): with a real
    /// kubelet its preStop hook waits on [`HOLD_FILE`]; without one, nothing finishes the
    /// deletion until the harness does.
    async fn hold(
        &self,
        api: &ClusterApi,
        access: &impl NodeAccess,
        name: &str,
        pod: &LivePod,
    ) -> Result<(), BackendError> {
        let real = self.nodes.real_or_err(&pod.node)?.to_string();
        if access.kubelet() == Kubelet::Real {
            access.set_hold(&real, &self.namespace, name, true)?;
        }
        api.delete_pod(&self.namespace, name, None)
            .await
            .map(|_| ())
            .map_err(api_error)
    }

    /// Turns a pod's readiness on or off.
    async fn set_pod_ready(
        &self,
        api: &ClusterApi,
        access: &impl NodeAccess,
        name: &str,
        pod: &LivePod,
        ready: bool,
    ) -> Result<(), BackendError> {
        let real = self.nodes.real_or_err(&pod.node)?.to_string();
        match (&pod.network, access.kubelet()) {
            (Some(network), Kubelet::Emulated) => {
                let ready = ready && !self.not_ready_nodes.contains(&pod.node);
                api.patch_status(
                    ObjectKind::Pod,
                    Some(&self.namespace),
                    name,
                    &pod_status_patch(network, ready),
                )
                .await
                .map_err(api_error)
            }
            _ => access.set_pod_ready(&real, &self.namespace, name, ready),
        }
    }

    /// Real kubelet: waits (up to the settle time) until `pods` run, so files can be made in
    /// their containers.
    async fn wait_running(&self, api: &ClusterApi, pods: &[PodEntry]) -> Result<(), BackendError> {
        let Some(limit) = self.settle else {
            return Ok(());
        };
        let start = tokio::time::Instant::now();
        loop {
            let phases = api
                .pod_phases(&self.namespace)
                .await
                .map_err(|e| BackendError::apply_from("waiting for the echo pods to run", e))?;
            let pending: Vec<&str> = pods
                .iter()
                .filter(|p| phases.get(&p.name).map(String::as_str) != Some("Running"))
                .map(|p| p.name.as_str())
                .collect();
            if pending.is_empty() {
                return Ok(());
            }
            if start.elapsed() >= limit {
                return Err(BackendError::apply(format!(
                    "echo pod(s) {} not running after {limit:?}",
                    pending.join(", ")
                )));
            }
            super::super::check_interrupt()?;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Marks case node `case` NotReady (`ready = false`) or Ready: a real kubelet is stopped
    /// or started (and the node controller's verdict waited for); without one the harness
    /// writes the node's Ready condition and, as the node lifecycle controller does, its
    /// pods' readiness.
    pub(super) async fn set_node_ready(
        &mut self,
        api: &ClusterApi,
        access: &impl NodeAccess,
        case: &str,
        ready: bool,
    ) -> Result<(), BackendError> {
        let real = self.nodes.real_or_err(case)?.to_string();
        if ready {
            self.not_ready_nodes.remove(case);
        } else {
            self.not_ready_nodes.insert(case.to_string());
        }
        match access.kubelet() {
            Kubelet::Real => {
                access.set_kubelet(&real, ready)?;
                self.wait_node(api, &real, ready).await;
            }
            Kubelet::Emulated => {
                let original = self.defs.iter().find(|d| d.name == case).map(|d| d.ready);
                let change = self.changed_status.entry(real.clone()).or_default();
                if change.ready.is_none() {
                    change.ready = Some(original.unwrap_or(true));
                }
                api.patch_status(
                    ObjectKind::Node,
                    None,
                    &real,
                    &node_status_patch(Some(ready), None),
                )
                .await
                .map_err(api_error)?;
                let on_node: Vec<(String, LivePod)> = self
                    .live
                    .iter()
                    .filter(|(_, p)| p.node == case)
                    .map(|(n, p)| (n.clone(), p.clone()))
                    .collect();
                for (name, pod) in on_node {
                    if let Some(network) = &pod.network {
                        let patch = pod_status_patch(network, ready && !pod.not_ready);
                        api.patch_status(ObjectKind::Pod, Some(&self.namespace), &name, &patch)
                            .await
                            .map_err(api_error)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// At the end of a case: a node it made NotReady is Ready again.
    pub(super) fn restore_node_ready(
        &self,
        access: &impl NodeAccess,
        case: &str,
    ) -> Result<(), BackendError> {
        match access.kubelet() {
            Kubelet::Real => {
                let real = self.nodes.real_or_err(case)?;
                access.set_kubelet(real, true)
            }
            // `changed_status` restores it, with the rest of the node's status.
            Kubelet::Emulated => Ok(()),
        }
    }

    /// Changes the allocatable CPU of case node `case` (emulated kubelet only; the
    /// capabilities refuse it elsewhere before the case starts).
    async fn set_node_cpu(
        &mut self,
        api: &ClusterApi,
        access: &impl NodeAccess,
        case: &str,
        millis: u64,
    ) -> Result<(), BackendError> {
        if access.kubelet() != Kubelet::Emulated {
            return Err(access.unsupported(&format!(
                "changing the allocatable CPU of running node {case} (the kubelet reservation is fixed when the cluster is created)"
            )));
        }
        let real = self.nodes.real_or_err(case)?.to_string();
        let original = self
            .defs
            .iter()
            .find(|d| d.name == case)
            .map(|d| d.cpu_millis);
        let change = self.changed_status.entry(real.clone()).or_default();
        if change.cpu_millis.is_none() {
            change.cpu_millis = original;
        }
        api.patch_status(
            ObjectKind::Node,
            None,
            &real,
            &node_status_patch(None, Some(millis)),
        )
        .await
        .map_err(api_error)
    }

    /// Writes back a node status the case changed.
    pub(super) async fn restore_node_status(
        &self,
        api: &ClusterApi,
        real: &str,
        change: &NodeStatusChange,
    ) -> Result<(), BackendError> {
        let patch = node_status_patch(change.ready, change.cpu_millis);
        api.patch_status(ObjectKind::Node, None, real, &patch)
            .await
            .map_err(api_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::service::{apply_fields, default_service};
    use crate::case::{ProxyMode, Role};
    use crate::model::KubeVersion;

    fn shape() -> ClusterShape {
        let node = |name: &str, role| NodeDef::new(name, role, Some("a"));
        ClusterShape {
            version: KubeVersion::new(34),
            proxy_mode: ProxyMode::Iptables,
            feature_gates: Vec::new(),
            max_endpoints_per_slice: 100,
            nodes: vec![
                node("control-plane", Role::ControlPlane),
                node("worker", Role::Worker),
                node("worker2", Role::Worker),
            ],
        }
    }

    #[test]
    fn hand_slices_use_cluster_names() {
        let map = NodeMap::new(vec![
            ("worker".into(), "kind-worker".into()),
            ("worker2".into(), "kind-worker2".into()),
        ]);
        let w = Workload::new("topo-x-1".into(), map, &shape());
        let spec = HandSlice {
            name: "hand".into(),
            managed_by: "me".into(),
            endpoints: vec![crate::case::HandEndpoint {
                node: "worker".into(),
                ready: Some(true),
                serving: None,
                terminating: None,
                zone_hints: Some(vec!["a".into()]),
                node_hints: vec!["worker2".into()],
            }],
        };
        let mut ip = 0;
        let object = w.hand_slice_object(&spec, &mut ip);
        assert_eq!(ip, 1);
        assert_eq!(object["endpoints"][0]["nodeName"], "kind-worker");
        assert_eq!(object["endpoints"][0]["addresses"][0], "10.250.0.2");
        assert_eq!(
            object["endpoints"][0]["hints"]["forNodes"][0]["name"],
            "kind-worker2"
        );
        assert_eq!(object["metadata"]["labels"][LABEL_MANAGED_BY], "me");
    }

    #[test]
    fn the_service_selects_the_echo_pods() {
        let w = Workload::new("topo-x-1".into(), NodeMap::default(), &shape());
        let mut svc = default_service();
        apply_fields(
            &mut svc,
            &ServiceChange {
                node_port: Some(true),
                topology_keys: Some(vec!["kubernetes.io/hostname".into()]),
                ..ServiceChange::default()
            },
        );
        let object = w.service_object(&svc);
        assert_eq!(
            object.pointer("/metadata/namespace"),
            Some(&json!("topo-x-1"))
        );
        assert_eq!(object.pointer("/spec/type"), Some(&json!("NodePort")));
        assert_eq!(
            object.pointer("/spec/selector/app.kubernetes.io~1name"),
            Some(&json!("web"))
        );
        assert_eq!(object.pointer("/spec/ports/0/nodePort"), None);
        assert_eq!(object.pointer("/spec/ports/0/port"), Some(&json!(80)));
        assert_eq!(
            object.pointer("/spec/topologyKeys"),
            Some(&json!(["kubernetes.io/hostname"]))
        );
    }

    #[test]
    fn echo_pods_are_bound_and_keep_their_spec() {
        let pod = manifests::echo_pod("ns", "web", "web-0003", "kind-worker", 15);
        assert_eq!(pod["spec"]["nodeName"], "kind-worker");
        assert_eq!(pod["metadata"]["name"], "web-0003");
        assert_eq!(
            pod["spec"]["containers"][0]["readinessProbe"]["periodSeconds"],
            15
        );
        assert_eq!(
            pod["metadata"]["labels"]["app.kubernetes.io/name"],
            json!("web")
        );
        // No node name in a label: any node name fits.
        let labels = pod["metadata"]["labels"].as_object().expect("labels");
        assert!(labels.values().all(|v| v != "kind-worker"), "{labels:?}");
    }
}
