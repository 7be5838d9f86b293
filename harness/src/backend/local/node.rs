//! One node of a local cluster: a Node object (name, labels, role, allocatable CPU, Ready,
//! InternalIP, podCIDR) and — for a node with a namespace — its network namespace on the hub,
//! a forwarder that lets processes there reach the API server on the host's loopback, an echo
//! server for its pods, and its real kube-proxy (or the user's node agent). The harness plays
//! its kubelet: pods get an address from the node's pod CIDR and a namespace of their own.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::layout;
use super::netns::Network;
use super::process::{Process, ProcessError, Spawn};
use super::secrets::{Identity, Secrets};
use super::{LocalBinaries, LocalError};
use crate::backend::live::PodNetwork;
use crate::case::{ProxyMode, Role};
use crate::model::{FeatureGate, KubeVersion, LABEL_CONTROL_PLANE, LABEL_HOSTNAME};

/// A node as the shape wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeWanted {
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Allocatable CPU in millicores.
    pub cpu_millis: u64,
    /// Its proxy.
    pub proxy: NodeProxy,
    /// Whether it gets a network namespace (else it is a Node object only, with pods that
    /// have addresses but no network: for clusters of thousands of nodes).
    pub namespaced: bool,
}

/// What runs as the node's proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeProxy {
    /// Upstream kube-proxy in this mode.
    KubeProxy(ProxyMode),
    /// The user's own command (`--node-agent`), with mode `none`.
    Agent(String),
    /// Nothing.
    None,
}

/// kube-proxy's feature gates on `version` in `mode`: the shape's, and `NFTablesProxyMode` where
/// the nftables mode is still alpha (1.29–1.30), as kind sets it.
pub fn proxy_gates(
    version: KubeVersion,
    mode: ProxyMode,
    gates: &[(FeatureGate, bool)],
) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = gates
        .iter()
        .map(|(g, on)| (g.name().to_string(), *on))
        .collect();
    if mode == ProxyMode::Nftables && version.minor < 31 {
        out.push(("NFTablesProxyMode".to_string(), true));
    }
    out
}

/// The kube-proxy configuration of node `node`, as kind configures it: no global conntrack
/// sysctls, no `route_localnet`, health and metrics on the node's loopback.
pub fn proxy_config(node: &str, mode: ProxyMode, kubeconfig: &Path, gates: &[(String, bool)]) -> String {
    let mut text = format!(
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nclientConnection:\n  kubeconfig: {}\nhostnameOverride: {node}\nmode: {}\nclusterCIDR: {}\nhealthzBindAddress: 127.0.0.1:{}\nmetricsBindAddress: 127.0.0.1:{}\nconntrack:\n  maxPerCore: 0\n  min: 0\n  tcpEstablishedTimeout: 0s\n  tcpCloseWaitTimeout: 0s\niptables:\n  localhostNodePorts: false\n",
        kubeconfig.display(),
        mode.as_str(),
        layout::CLUSTER_CIDR,
        layout::PROXY_HEALTH_PORT,
        layout::PROXY_METRICS_PORT,
    );
    if !gates.is_empty() {
        text.push_str("featureGates:\n");
        for (gate, on) in gates {
            text.push_str(&format!("  {gate}: {on}\n"));
        }
    }
    text
}

/// The Node object of node `index`: what a kubelet registers (labels, addresses, pod CIDR,
/// capacity and allocatable, Ready).
pub fn node_object(wanted: &NodeWanted, index: usize, kubelet_version: &str) -> Value {
    let mut labels = serde_json::Map::new();
    // A label value holds at most 63 characters; the kubelet leaves longer hostnames out.
    if wanted.name.len() <= 63 {
        labels.insert(LABEL_HOSTNAME.into(), wanted.name.clone().into());
    }
    labels.insert("kubernetes.io/os".into(), "linux".into());
    if wanted.role == Role::ControlPlane {
        labels.insert(LABEL_CONTROL_PLANE.into(), "".into());
    }
    let cpu = format!("{}m", wanted.cpu_millis);
    let cidr = layout::pod_cidr(index);
    let resources = json!({"cpu": cpu, "memory": "8Gi", "pods": layout::PODS_PER_NODE.to_string()});
    let now = crate::backend::live::workload::now_rfc3339();
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": wanted.name, "labels": labels},
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": layout::node_ip(index).to_string()},
                {"type": "Hostname", "address": wanted.name}
            ],
            "capacity": resources,
            "allocatable": resources,
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "kubelet is posting ready status (topo-harness)",
                "lastHeartbeatTime": now, "lastTransitionTime": now
            }],
            "nodeInfo": {
                "kubeletVersion": kubelet_version, "kubeProxyVersion": kubelet_version,
                "operatingSystem": "linux", "architecture": std::env::consts::ARCH,
                "containerRuntimeVersion": "topo-harness://0", "kernelVersion": "",
                "osImage": "topo-harness", "machineID": "", "systemUUID": "", "bootID": ""
            }
        }
    })
}

/// What a node needs from its cluster to start.
pub struct NodeContext<'a> {
    /// The run's network.
    pub net: &'a Network<'a>,
    /// The programs.
    pub binaries: &'a LocalBinaries,
    /// The cluster's credentials.
    pub secrets: &'a Secrets,
    /// The API server's port on the host's loopback.
    pub api_port: u16,
    /// The cluster's log directory.
    pub logs: &'a Path,
    /// The shape's gates (kube-proxy gets them too).
    pub gates: &'a [(FeatureGate, bool)],
    /// The shape's version.
    pub version: KubeVersion,
    /// Whether processes die with the harness (not with `--keep`).
    pub die_with_parent: bool,
}

/// A running node.
#[derive(Debug)]
pub struct LocalNode {
    /// What it was made as.
    pub wanted: NodeWanted,
    /// Its index (addresses and namespace names derive from it).
    pub index: usize,
    forwarder: Option<Process>,
    echo: Option<Process>,
    proxy: Option<Process>,
    /// Pod name per slot.
    slots: Vec<Option<String>>,
    /// How long its proxy took to answer.
    pub ready_after: Duration,
}

/// How long a node's kube-proxy may take to answer its health check.
const PROXY_DEADLINE: Duration = Duration::from_secs(60);

impl LocalNode {
    /// The path of the node's namespace.
    pub fn netns_path(tag: &str, index: usize) -> PathBuf {
        PathBuf::from("/run/netns").join(layout::node_netns(tag, index))
    }

    /// Starts node `index` as `wanted`: its namespace and processes (the Node object must
    /// exist already: kube-proxy waits for it).
    pub fn start(
        ctx: &NodeContext<'_>,
        wanted: &NodeWanted,
        index: usize,
        peers: &[usize],
    ) -> Result<LocalNode, LocalError> {
        let started = Instant::now();
        let mut node = LocalNode {
            wanted: wanted.clone(),
            index,
            forwarder: None,
            echo: None,
            proxy: None,
            slots: Vec::new(),
            ready_after: Duration::ZERO,
        };
        if !wanted.namespaced {
            return Ok(node);
        }
        ctx.net.create_node(index, peers)?;
        let netns = Self::netns_path(ctx.net.tag(), index);
        let dir = ctx.logs.join("nodes").join(&wanted.name);
        std::fs::create_dir_all(&dir).map_err(|e| LocalError::io(&dir, e))?;
        let spawn = |role: &str, program: &Path, args: Vec<String>, piped: bool| Spawn {
            name: format!("{role} on node {}", wanted.name),
            program: program.to_path_buf(),
            args,
            env: Vec::new(),
            log: dir.join(format!("{role}.log")),
            die_with_parent: ctx.die_with_parent,
            piped,
        };
        let mut forwarder = Process::start(&spawn(
            "forwarder",
            &ctx.binaries.netexec,
            vec![
                "forward".into(),
                "--netns".into(),
                netns.display().to_string(),
                "--listen".into(),
                format!("127.0.0.1:{}", layout::NODE_API_PORT),
                "--to".into(),
                format!("127.0.0.1:{}", ctx.api_port),
            ],
            true,
        ))?;
        let ready = forwarder.read_line()?;
        if ready != "ready" {
            return Err(ProcessError::Protocol {
                name: forwarder.name().to_string(),
                message: format!("said `{ready}` instead of `ready`"),
                log: forwarder.log().to_path_buf(),
            }
            .into());
        }
        node.forwarder = Some(forwarder);
        node.echo = Some(Process::start(&spawn(
            "echo",
            &ctx.binaries.netexec,
            vec!["echo".into()],
            true,
        ))?);
        let server = format!("https://127.0.0.1:{}", layout::NODE_API_PORT);
        let ns_name = layout::node_netns(ctx.net.tag(), index);
        match &wanted.proxy {
            NodeProxy::KubeProxy(mode) => {
                let kubeconfig = ctx
                    .secrets
                    .write_kubeconfig(Identity::Proxy, "node", &server)?;
                let config = dir.join("kube-proxy.yaml");
                std::fs::write(
                    &config,
                    proxy_config(
                        &wanted.name,
                        *mode,
                        &kubeconfig,
                        &proxy_gates(ctx.version, *mode, ctx.gates),
                    ),
                )
                .map_err(|e| LocalError::io(&config, e))?;
                let args = vec![
                    "netns".into(),
                    "exec".into(),
                    ns_name.clone(),
                    ctx.binaries.k8s.display().to_string(),
                    "kube-proxy".into(),
                    format!("--config={}", config.display()),
                    format!("--hostname-override={}", wanted.name),
                ];
                node.proxy = Some(Process::start(&spawn(
                    "kube-proxy",
                    Path::new("ip"),
                    args,
                    false,
                ))?);
                node.wait_proxy(ctx, *mode)?;
            }
            NodeProxy::Agent(command) => {
                let kubeconfig =
                    ctx.secrets
                        .write_kubeconfig(Identity::NodeAgent, "node", &server)?;
                let mut agent = spawn(
                    "node-agent",
                    Path::new("ip"),
                    vec![
                        "netns".into(),
                        "exec".into(),
                        ns_name,
                        "sh".into(),
                        "-c".into(),
                        command.clone(),
                    ],
                    false,
                );
                agent.env = vec![
                    ("KUBECONFIG".into(), kubeconfig.display().to_string()),
                    ("NODE_NAME".into(), wanted.name.clone()),
                    ("NODE_IP".into(), layout::node_ip(index).to_string()),
                ];
                node.proxy = Some(Process::start(&agent)?);
            }
            NodeProxy::None => {}
        }
        node.ready_after = started.elapsed();
        Ok(node)
    }

    /// Waits until kube-proxy answers its health check and runs in `mode`.
    fn wait_proxy(&mut self, ctx: &NodeContext<'_>, mode: ProxyMode) -> Result<(), LocalError> {
        let netns = Self::netns_path(ctx.net.tag(), self.index);
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < PROXY_DEADLINE {
            if let Some(proxy) = self.proxy.as_mut() {
                proxy.check_running()?;
            }
            crate::backend::live::check_interrupt()?;
            let get = |path: &str| {
                ctx.net.runner_command(
                    crate::backend::command::Command::new(
                        ctx.binaries.netexec.display().to_string(),
                    )
                    .args(["get", "--netns"])
                    .arg(netns.display().to_string())
                    .args([
                        "--url",
                        &format!("http://127.0.0.1:{path}"),
                        "--timeout",
                        "1s",
                    ])
                    .timeout(Duration::from_secs(5)),
                )
            };
            match get(&format!("{}/healthz", layout::PROXY_HEALTH_PORT)) {
                Ok(_) => {
                    let reported = get(&format!("{}/proxyMode", layout::PROXY_METRICS_PORT))
                        .map(|m| m.trim().to_string())
                        .unwrap_or_default();
                    if reported == mode.as_str() {
                        return Ok(());
                    }
                    return Err(LocalError::NotReady {
                        what: format!("kube-proxy on node {}", self.wanted.name),
                        waited: start.elapsed(),
                        last: format!("runs in mode `{reported}`, {} was asked for", mode.as_str()),
                    });
                }
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(LocalError::NotReady {
            what: format!("kube-proxy on node {}", self.wanted.name),
            waited: PROXY_DEADLINE,
            last,
        })
    }

    /// `Ok` while its processes run.
    pub fn check(&mut self) -> Result<(), ProcessError> {
        for p in [&mut self.forwarder, &mut self.echo, &mut self.proxy]
            .into_iter()
            .flatten()
        {
            p.check_running()?;
        }
        Ok(())
    }

    /// The processes' pids by role.
    pub fn pids(&self) -> Vec<(String, u32)> {
        [&self.forwarder, &self.echo, &self.proxy]
            .into_iter()
            .flatten()
            .map(|p| (p.name().to_string(), p.pid()))
            .collect()
    }

    /// Lets go of its processes without stopping them (a kept cluster).
    pub fn detach(&mut self) {
        for p in [&mut self.forwarder, &mut self.echo, &mut self.proxy]
            .into_iter()
            .flatten()
        {
            p.detach();
        }
    }

    /// Gives pod `pod` a slot: its address, and where the node is namespaced its own
    /// namespace and an echo server answering its name.
    pub fn start_pod(&mut self, net: &Network<'_>, pod: &str) -> Result<PodNetwork, LocalError> {
        let slot = match self.slots.iter().position(Option::is_none) {
            Some(free) => free,
            None if self.slots.len() < layout::PODS_PER_NODE => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => {
                return Err(LocalError::Full {
                    node: self.wanted.name.clone(),
                    pods: layout::PODS_PER_NODE,
                })
            }
        };
        let ip = layout::pod_ip(self.index, slot);
        if self.wanted.namespaced {
            net.add_pod(self.index, slot)?;
            let podns =
                PathBuf::from("/run/netns").join(layout::pod_netns(net.tag(), self.index, slot));
            let echo = self.echo.as_mut().ok_or_else(|| LocalError::NotReady {
                what: format!("the echo server of node {}", self.wanted.name),
                waited: Duration::ZERO,
                last: "not started".into(),
            })?;
            let answer = echo.request(&format!(
                "add {pod} {} {ip} {} {}",
                podns.display(),
                crate::backend::live::workload::manifests::ECHO_HTTP_PORT,
                crate::backend::live::workload::manifests::ECHO_UDP_PORT,
            ))?;
            if answer != format!("ok {pod}") {
                let _ = net.remove_pod(self.index, slot);
                return Err(ProcessError::Protocol {
                    name: echo.name().to_string(),
                    message: format!("answered `{answer}` to adding pod {pod}"),
                    log: echo.log().to_path_buf(),
                }
                .into());
            }
        }
        self.slots[slot] = Some(pod.to_string());
        Ok(PodNetwork {
            ip: ip.to_string(),
            host_ip: layout::node_ip(self.index).to_string(),
        })
    }

    /// Removes what [`start_pod`](Self::start_pod) made for `pod` (nothing when it has no
    /// slot).
    pub fn stop_pod(&mut self, net: &Network<'_>, pod: &str) -> Result<(), LocalError> {
        let Some(slot) = self.slots.iter().position(|p| p.as_deref() == Some(pod)) else {
            return Ok(());
        };
        self.slots[slot] = None;
        if self.wanted.namespaced {
            if let Some(echo) = self.echo.as_mut() {
                // The namespace goes anyway; an echo server that died cannot answer.
                let _ = echo.request(&format!("del {pod}"));
            }
            net.remove_pod(self.index, slot)?;
        }
        Ok(())
    }

    /// Stops its processes (proxy first), removes its pods' and its own namespaces.
    /// Returns what could not be removed.
    pub fn stop(&mut self, net: &Network<'_>) -> Vec<String> {
        for p in [&mut self.proxy, &mut self.echo, &mut self.forwarder]
            .into_iter()
            .flatten()
        {
            p.stop(Duration::from_secs(5));
        }
        let mut problems = Vec::new();
        if self.wanted.namespaced {
            for slot in 0..self.slots.len() {
                if let Err(e) = net.remove_pod(self.index, slot) {
                    problems.push(e.to_string());
                }
            }
            if let Err(e) = net.remove_node(self.index) {
                problems.push(e.to_string());
            }
        }
        self.slots.clear();
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(name: &str, role: Role) -> NodeWanted {
        NodeWanted {
            name: name.into(),
            role,
            cpu_millis: 1500,
            proxy: NodeProxy::KubeProxy(ProxyMode::Nftables),
            namespaced: true,
        }
    }

    #[test]
    fn the_proxy_is_configured_as_kind_configures_it() {
        let text = proxy_config(
            "worker",
            ProxyMode::Nftables,
            Path::new("/s/kube-proxy-node.kubeconfig"),
            &proxy_gates(
                KubeVersion::new(37),
                ProxyMode::Nftables,
                &[(FeatureGate::PreferSameTrafficDistribution, true)],
            ),
        );
        for line in [
            "kind: KubeProxyConfiguration",
            "  kubeconfig: /s/kube-proxy-node.kubeconfig",
            "hostnameOverride: worker",
            "mode: nftables",
            "clusterCIDR: 10.128.0.0/9",
            "healthzBindAddress: 127.0.0.1:10256",
            "metricsBindAddress: 127.0.0.1:10249",
            "  maxPerCore: 0",
            "  tcpEstablishedTimeout: 0s",
            "  localhostNodePorts: false",
            "featureGates:",
            "  PreferSameTrafficDistribution: true",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
        }
        let parsed: Value = serde_saphyr::from_str(&text).expect("valid YAML");
        assert_eq!(parsed["conntrack"]["maxPerCore"], 0);
        assert!(!text.contains("NFTablesProxyMode"), "{text}");
    }

    #[test]
    fn nftables_is_switched_on_where_it_is_alpha() {
        let gates = |minor, mode| proxy_gates(KubeVersion::new(minor), mode, &[]);
        let on = vec![("NFTablesProxyMode".to_string(), true)];
        assert_eq!(gates(30, ProxyMode::Nftables), on);
        assert_eq!(gates(29, ProxyMode::Nftables), on);
        assert!(gates(31, ProxyMode::Nftables).is_empty());
        assert!(gates(30, ProxyMode::Iptables).is_empty());
    }

    #[test]
    fn nodes_register_as_a_kubelet_would() {
        let node = node_object(&wanted("control-plane", Role::ControlPlane), 0, "v1.37.2");
        assert_eq!(node["spec"]["podCIDR"], "10.128.0.0/24");
        assert_eq!(node["status"]["allocatable"]["cpu"], "1500m");
        assert_eq!(node["status"]["addresses"][0]["address"], "198.18.0.10");
        assert_eq!(node["status"]["conditions"][0]["status"], "True");
        assert_eq!(node["metadata"]["labels"][LABEL_CONTROL_PLANE], "");
        assert_eq!(node["metadata"]["labels"][LABEL_HOSTNAME], "control-plane");
        let long = "n".repeat(70);
        let node = node_object(&wanted(&long, Role::Worker), 3, "v1.37.2");
        assert!(node["metadata"]["labels"].get(LABEL_HOSTNAME).is_none());
        assert!(node["metadata"]["labels"]
            .get(LABEL_CONTROL_PLANE)
            .is_none());
        assert_eq!(node["metadata"]["name"], long.as_str());
    }

    #[test]
    fn pods_of_a_node_without_a_namespace_get_addresses_and_reuse_slots() {
        let runner = crate::backend::command::RecordingRunner::new();
        let net = Network::new(&runner, "abcd1234");
        let mut node = LocalNode {
            wanted: NodeWanted {
                namespaced: false,
                ..wanted("w", Role::Worker)
            },
            index: 2,
            forwarder: None,
            echo: None,
            proxy: None,
            slots: Vec::new(),
            ready_after: Duration::ZERO,
        };
        let a = node.start_pod(&net, "web-0000").expect("a");
        let b = node.start_pod(&net, "web-0001").expect("b");
        assert_eq!((a.ip.as_str(), b.ip.as_str()), ("10.128.2.2", "10.128.2.3"));
        assert_eq!(a.host_ip, "198.18.0.12");
        node.stop_pod(&net, "web-0000").expect("stopped");
        let c = node.start_pod(&net, "web-0002").expect("c");
        assert_eq!(c.ip, "10.128.2.2");
        for k in 3..=layout::PODS_PER_NODE {
            node.start_pod(&net, &format!("web-{k:04}")).expect("fits");
        }
        assert!(matches!(
            node.start_pod(&net, "web-9999"),
            Err(LocalError::Full { .. })
        ));
        assert!(runner.calls().is_empty(), "no namespace, no command");
    }
}
