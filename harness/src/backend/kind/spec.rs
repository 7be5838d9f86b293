//! [`KindClusterSpec`]: the kind backend's own description of one cluster shape.
//!
//! This is the *internal* type, kept apart from kind's versioned `v1alpha4` config (see
//! [`super::config`]) the way kind keeps `pkg/apis/config/v1alpha4` apart from
//! `pkg/internal/apis/config`: the spec says what the harness wants (zones, proxy mode, CPU
//! shaping, gates), the config module says how kind must be told.

use std::collections::BTreeMap;
use std::fmt;

use crate::model::{FeatureGate, GateStatus, KubeVersion};

/// Node label holding the zone.
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
/// Node label holding the region.
pub const LABEL_REGION: &str = "topology.kubernetes.io/region";
/// Node label recording the shape fingerprint ([`KindClusterSpec::shape_hash`]) on every node.
pub const LABEL_SHAPE: &str = "topo-harness.io/shape";

pub use crate::model::ProxyMode;

pub use crate::backend::EndpointSliceController;

/// The role of a kind node.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeRole {
    /// `control-plane`.
    ControlPlane,
    /// `worker`.
    Worker,
}

impl NodeRole {
    /// The role as kind spells it (also the stem of the node's container name).
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::ControlPlane => "control-plane",
            NodeRole::Worker => "worker",
        }
    }
}

impl fmt::Display for NodeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One node of a kind cluster.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KindNodeSpec {
    /// Control plane or worker.
    pub role: NodeRole,
    /// `topology.kubernetes.io/zone`, when the node has a zone.
    pub zone: Option<String>,
    /// `topology.kubernetes.io/region`, when the node has a region.
    pub region: Option<String>,
    /// Further node labels (must not repeat the zone/region/shape keys, nor use the
    /// `kubernetes.io` / `k8s.io` namespaces the kubelet refuses to self-assign).
    pub labels: BTreeMap<String, String>,
    /// Allocatable-CPU shaping: CPU reserved for the system through the kubelet's
    /// `--system-reserved=cpu=<n>m`, so the node's allocatable CPU drops by this much.
    pub reserve_cpu_millis: Option<u32>,
}

impl KindNodeSpec {
    /// A node with this role and nothing else.
    pub fn new(role: NodeRole) -> Self {
        KindNodeSpec {
            role,
            zone: None,
            region: None,
            labels: BTreeMap::new(),
            reserve_cpu_millis: None,
        }
    }

    /// A control-plane node.
    pub fn control_plane() -> Self {
        Self::new(NodeRole::ControlPlane)
    }

    /// A worker node.
    pub fn worker() -> Self {
        Self::new(NodeRole::Worker)
    }

    /// Sets the zone.
    pub fn zone(mut self, zone: impl Into<String>) -> Self {
        self.zone = Some(zone.into());
        self
    }

    /// Sets the region.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Adds a label.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Reserves CPU for the system (allocatable-CPU shaping).
    pub fn reserve_cpu_millis(mut self, millis: u32) -> Self {
        self.reserve_cpu_millis = Some(millis);
        self
    }
}

/// One kind cluster shape: what the harness asks kind to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindClusterSpec {
    /// Cluster name (`kind create cluster --name`); node containers are named after it.
    pub name: String,
    /// Kubernetes minor version; picks the node image and the kubeadm config API.
    pub version: KubeVersion,
    /// kube-proxy mode.
    pub proxy_mode: ProxyMode,
    /// Nodes, in kind's order (the first control plane runs `kubeadm init`).
    pub nodes: Vec<KindNodeSpec>,
    /// Feature gates, name → on. Gates the model knows are emitted only where they exist in
    /// [`Self::version`]; unknown names are passed through unchanged.
    pub feature_gates: BTreeMap<String, bool>,
    /// Node image override (`--image`); `None` uses the image table.
    pub image: Option<String>,
    /// kube-controller-manager `--max-endpoints-per-slice` (`None`: its default, 100).
    pub max_endpoints_per_slice: Option<u32>,
    /// The kubelet's `maxPods` on every node (`None`: its default, 110).
    pub max_pods: Option<u32>,
    /// Whether kube-controller-manager runs its EndpointSlice controller.
    pub controller: EndpointSliceController,
}

/// Why a spec cannot be turned into a kind config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The cluster name is not usable by kind.
    #[error("cluster name `{0}` is not valid: use 1-40 lowercase letters, digits and `-`, starting with a letter")]
    Name(String),
    /// No control-plane node.
    #[error("cluster `{0}` has no control-plane node; kind needs at least one")]
    NoControlPlane(String),
    /// The proxy mode does not exist in this Kubernetes version.
    #[error("kube-proxy mode {mode} is not available in Kubernetes {version} ({why})")]
    ProxyModeUnavailable {
        /// The mode.
        mode: ProxyMode,
        /// The version.
        version: KubeVersion,
        /// Why.
        why: &'static str,
    },
    /// A label the harness sets itself was also given as an extra label.
    #[error("node {node}: label `{key}` is set by the harness (use the zone/region fields)")]
    ReservedLabel {
        /// Node name.
        node: String,
        /// Label key.
        key: String,
    },
    /// A label the kubelet refuses to set on its own node.
    #[error("node {node}: the kubelet may not set label `{key}` on itself (kubernetes.io and k8s.io namespaces are restricted)")]
    RestrictedLabel {
        /// Node name.
        node: String,
        /// Label key.
        key: String,
    },
    /// A label key or value with characters that would break `--node-labels`.
    #[error("node {node}: label `{key}={value}` is not a valid label")]
    InvalidLabel {
        /// Node name.
        node: String,
        /// Label key.
        key: String,
        /// Label value.
        value: String,
    },
    /// A gate that is locked on was turned off.
    #[error("feature gate {gate} is GA and locked to true in Kubernetes {version}; it cannot be set to false")]
    LockedGate {
        /// Gate name.
        gate: String,
        /// Version.
        version: KubeVersion,
    },
    /// A gate name that is not a Go identifier.
    #[error("`{0}` is not a feature gate name")]
    GateName(String),
    /// A zero CPU reservation.
    #[error("node {0}: reserve_cpu_millis must be greater than 0")]
    ZeroReservation(String),
}

impl KindClusterSpec {
    /// A spec with no nodes and no gates (add them with the fields or [`Self::node`]).
    pub fn new(name: impl Into<String>, version: KubeVersion, proxy_mode: ProxyMode) -> Self {
        KindClusterSpec {
            name: name.into(),
            version,
            proxy_mode,
            nodes: Vec::new(),
            feature_gates: BTreeMap::new(),
            image: None,
            max_endpoints_per_slice: None,
            max_pods: None,
            controller: EndpointSliceController::Builtin,
        }
    }

    /// Adds a node.
    pub fn node(mut self, node: KindNodeSpec) -> Self {
        self.nodes.push(node);
        self
    }

    /// Sets a feature gate.
    pub fn gate(mut self, name: impl Into<String>, on: bool) -> Self {
        self.feature_gates.insert(name.into(), on);
        self
    }

    /// Overrides the node image.
    pub fn with_image(mut self, image: impl Into<String>) -> Self {
        self.image = Some(image.into());
        self
    }

    /// The node (= container) names kind will give the nodes, in spec order:
    /// `<cluster>-control-plane`, `<cluster>-control-plane2`, `<cluster>-worker`,
    /// `<cluster>-worker2`, … (kind `pkg/cluster/internal/providers/common/namer.go`).
    pub fn node_names(&self) -> Vec<String> {
        let mut counts: BTreeMap<NodeRole, usize> = BTreeMap::new();
        self.nodes
            .iter()
            .map(|n| {
                let count = counts.entry(n.role).or_insert(0);
                *count += 1;
                node_container_name(&self.name, n.role, *count)
            })
            .collect()
    }

    /// The feature gates kind will be given: every requested gate except the ones the model
    /// knows to be absent in this version (those are listed by [`Self::dropped_gates`]).
    pub fn effective_gates(&self) -> Result<BTreeMap<String, bool>, SpecError> {
        let mut out = BTreeMap::new();
        for (name, on) in &self.feature_gates {
            match FeatureGate::from_name(name).map(|g| g.status(self.version)) {
                Some(GateStatus::Absent) => {}
                Some(GateStatus::Locked) if !on => {
                    return Err(SpecError::LockedGate {
                        gate: name.clone(),
                        version: self.version,
                    })
                }
                _ => {
                    out.insert(name.clone(), *on);
                }
            }
        }
        Ok(out)
    }

    /// Requested gates the model knows do not exist in this version (left out of the config;
    /// upstream components refuse unknown gates).
    pub fn dropped_gates(&self) -> Vec<String> {
        self.feature_gates
            .keys()
            .filter(|name| {
                FeatureGate::from_name(name).map(|g| g.status(self.version))
                    == Some(GateStatus::Absent)
            })
            .cloned()
            .collect()
    }

    /// Checks everything kind and the kubelet would reject later, all problems at once.
    pub fn validate(&self) -> Result<(), Vec<SpecError>> {
        let mut errors = Vec::new();
        if !valid_cluster_name(&self.name) {
            errors.push(SpecError::Name(self.name.clone()));
        }
        if !self.nodes.iter().any(|n| n.role == NodeRole::ControlPlane) {
            errors.push(SpecError::NoControlPlane(self.name.clone()));
        }
        match self.proxy_mode {
            // kube-proxy nftables: alpha 1.29 (gate NFTablesProxyMode), beta 1.31, GA 1.33.
            ProxyMode::Nftables if self.version.minor < 29 => {
                errors.push(SpecError::ProxyModeUnavailable {
                    mode: self.proxy_mode,
                    version: self.version,
                    why: "kube-proxy has nftables mode since 1.29",
                })
            }
            ProxyMode::Nftables
                if self.version.minor < 31
                    && self.feature_gates.get("NFTablesProxyMode") != Some(&true) =>
            {
                errors.push(SpecError::ProxyModeUnavailable {
                    mode: self.proxy_mode,
                    version: self.version,
                    why: "alpha before 1.31: also set the NFTablesProxyMode gate",
                })
            }
            _ => {}
        }
        for name in self.feature_gates.keys() {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
                errors.push(SpecError::GateName(name.clone()));
            }
        }
        if let Err(e) = self.effective_gates() {
            errors.push(e);
        }
        for (node, name) in self.nodes.iter().zip(self.node_names()) {
            if node.reserve_cpu_millis == Some(0) {
                errors.push(SpecError::ZeroReservation(name.clone()));
            }
            for (key, value) in &node.labels {
                if [LABEL_ZONE, LABEL_REGION, LABEL_SHAPE].contains(&key.as_str()) {
                    errors.push(SpecError::ReservedLabel {
                        node: name.clone(),
                        key: key.clone(),
                    });
                } else if !valid_label(key, value) {
                    errors.push(SpecError::InvalidLabel {
                        node: name.clone(),
                        key: key.clone(),
                        value: value.clone(),
                    });
                } else if restricted_label(key) {
                    errors.push(SpecError::RestrictedLabel {
                        node: name.clone(),
                        key: key.clone(),
                    });
                }
            }
            for (key, value) in [(LABEL_ZONE, &node.zone), (LABEL_REGION, &node.region)] {
                if let Some(value) = value {
                    if !valid_label(key, value) {
                        errors.push(SpecError::InvalidLabel {
                            node: name.clone(),
                            key: key.to_string(),
                            value: value.clone(),
                        });
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The canonical text the fingerprint is computed over: one `key=value` line per fact,
    /// in a fixed order. The cluster name is left out (it names the cluster, it is not its
    /// shape), and so are gates absent in the version (kind never sees them); the image
    /// override is in, since it changes what runs.
    pub fn canonical(&self) -> String {
        let mut out = String::from("topo-harness/kind-shape/v1\n");
        out.push_str(&format!("kubernetes={}\n", self.version));
        out.push_str(&format!("proxy={}\n", self.proxy_mode));
        if let Some(image) = &self.image {
            out.push_str(&format!("image={image}\n"));
        }
        // Gates absent in the version change nothing on the cluster: hash what kind gets.
        let gates = self
            .effective_gates()
            .unwrap_or_else(|_| self.feature_gates.clone());
        for (name, on) in &gates {
            out.push_str(&format!("gate.{name}={on}\n"));
        }
        if let Some(n) = self.max_endpoints_per_slice {
            out.push_str(&format!("max_endpoints_per_slice={n}\n"));
        }
        if let Some(n) = self.max_pods {
            out.push_str(&format!("max_pods={n}\n"));
        }
        // Only when not the default, so the shapes of builtin clusters keep their hashes.
        if self.controller != EndpointSliceController::Builtin {
            out.push_str(&format!("endpointslice_controller={}\n", self.controller));
        }
        for (i, node) in self.nodes.iter().enumerate() {
            out.push_str(&format!("node.{i}.role={}\n", node.role));
            if let Some(zone) = &node.zone {
                out.push_str(&format!("node.{i}.zone={zone}\n"));
            }
            if let Some(region) = &node.region {
                out.push_str(&format!("node.{i}.region={region}\n"));
            }
            for (k, v) in &node.labels {
                out.push_str(&format!("node.{i}.label.{k}={v}\n"));
            }
            if let Some(cpu) = node.reserve_cpu_millis {
                out.push_str(&format!("node.{i}.reserve_cpu_millis={cpu}\n"));
            }
        }
        out
    }

    /// A stable fingerprint of the shape: FNV-1a (64 bit) over [`Self::canonical`], as 16
    /// lowercase hex digits. Recorded on every node as label [`LABEL_SHAPE`] and in the
    /// header of `kind/<shape>.yaml`, so `--reuse` can tell whether a running cluster still
    /// has the wanted shape.
    pub fn shape_hash(&self) -> String {
        format!("{:016x}", fnv1a64(self.canonical().as_bytes()))
    }
}

/// kind's container (and Kubernetes node) name for the `ordinal`-th node (1-based) of a role.
pub fn node_container_name(cluster: &str, role: NodeRole, ordinal: usize) -> String {
    if ordinal <= 1 {
        format!("{cluster}-{role}")
    } else {
        format!("{cluster}-{role}{ordinal}")
    }
}

/// FNV-1a, 64 bit.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME))
}

fn valid_cluster_name(name: &str) -> bool {
    // kind itself accepts more, but container names and `kind-<name>` contexts stay sane
    // with a DNS-label-like name; 40 leaves room for `-control-plane12`.
    !name.is_empty()
        && name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
}

fn valid_label(key: &str, value: &str) -> bool {
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let key_ok = match key.split_once('/') {
        Some((prefix, name)) => {
            !prefix.is_empty()
                && prefix.len() <= 253
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'))
                && name_ok(name)
        }
        None => name_ok(key),
    };
    key_ok && (value.is_empty() || name_ok(value))
}

/// The kubelet refuses `--node-labels` in the `kubernetes.io` / `k8s.io` namespaces except a
/// fixed allow-list (`k8s.io/kubelet/pkg/apis/well_known_labels.go`, NodeRestriction).
fn restricted_label(key: &str) -> bool {
    const ALLOWED: [&str; 12] = [
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "kubernetes.io/instance-type",
        "kubernetes.io/os",
        "kubernetes.io/arch",
        "beta.kubernetes.io/instance-type",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/arch",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "node.kubernetes.io/instance-type",
    ];
    let Some((prefix, _)) = key.split_once('/') else {
        return false;
    };
    let in_namespace = |ns: &str| prefix == ns || prefix.ends_with(&format!(".{ns}"));
    if !(in_namespace("kubernetes.io") || in_namespace("k8s.io")) {
        return false;
    }
    if ALLOWED.contains(&key) {
        return false;
    }
    !(prefix == "kubelet.kubernetes.io"
        || prefix.ends_with(".kubelet.kubernetes.io")
        || prefix == "node.kubernetes.io"
        || prefix.ends_with(".node.kubernetes.io"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> KindClusterSpec {
        KindClusterSpec::new("topo", KubeVersion::new(33), ProxyMode::Nftables)
            .node(KindNodeSpec::control_plane().zone("a"))
            .node(KindNodeSpec::worker().zone("a"))
            .node(KindNodeSpec::worker().zone("b"))
    }

    #[test]
    fn node_names_follow_kind_namer() {
        let s = spec().node(KindNodeSpec::control_plane());
        assert_eq!(
            s.node_names(),
            [
                "topo-control-plane",
                "topo-worker",
                "topo-worker2",
                "topo-control-plane2"
            ]
        );
    }

    #[test]
    fn shape_hash_is_stable_and_sensitive() {
        let a = spec();
        assert_eq!(a.shape_hash(), spec().shape_hash());
        assert_eq!(a.shape_hash().len(), 16);
        // The name is not part of the shape.
        let mut renamed = spec();
        renamed.name = "other".into();
        assert_eq!(a.shape_hash(), renamed.shape_hash());
        // Everything else is.
        let mut b = spec();
        b.nodes[2].zone = Some("c".into());
        assert_ne!(a.shape_hash(), b.shape_hash());
        let c = spec().gate("PreferSameTrafficDistribution", true);
        assert_ne!(a.shape_hash(), c.shape_hash());
        // A gate the version does not have is not part of the shape.
        let e = spec().gate("ServiceTopology", true);
        assert_eq!(a.shape_hash(), e.shape_hash());
        let mut d = spec();
        d.nodes[1].reserve_cpu_millis = Some(500);
        assert_ne!(a.shape_hash(), d.shape_hash());
        let mut p = spec();
        p.max_pods = Some(250);
        assert_ne!(a.shape_hash(), p.shape_hash());
        let mut c = spec();
        c.controller = EndpointSliceController::None;
        assert_ne!(a.shape_hash(), c.shape_hash());
        // FNV-1a test vector.
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
    }

    #[test]
    fn gates_absent_in_version_are_dropped_locked_off_is_an_error() {
        let s = spec()
            .gate("ServiceTopology", true)
            .gate("PreferSameTrafficDistribution", true)
            .gate("SomethingElse", false);
        assert_eq!(s.dropped_gates(), ["ServiceTopology"]);
        let gates = s.effective_gates().unwrap();
        assert_eq!(
            gates.keys().collect::<Vec<_>>(),
            ["PreferSameTrafficDistribution", "SomethingElse"]
        );
        let locked = spec().gate("TopologyAwareHints", false);
        assert!(matches!(
            locked.effective_gates(),
            Err(SpecError::LockedGate { .. })
        ));
    }

    #[test]
    fn validation_reports_every_problem() {
        let mut s = KindClusterSpec::new("Bad_Name", KubeVersion::new(28), ProxyMode::Nftables)
            .node(
                KindNodeSpec::worker()
                    .label(LABEL_ZONE, "x")
                    .label("node-role.kubernetes.io/worker", "")
                    .label("bad key!", "v"),
            );
        s.nodes[0].reserve_cpu_millis = Some(0);
        let errors = s.validate().unwrap_err();
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 7, "{text:#?}");
        assert!(matches!(errors[0], SpecError::Name(_)));
        assert!(matches!(errors[1], SpecError::NoControlPlane(_)));
        assert!(matches!(errors[2], SpecError::ProxyModeUnavailable { .. }));
    }

    #[test]
    fn nftables_before_131_needs_its_gate() {
        let base = KindClusterSpec::new("t", KubeVersion::new(30), ProxyMode::Nftables)
            .node(KindNodeSpec::control_plane());
        assert!(base.validate().is_err());
        assert!(base.gate("NFTablesProxyMode", true).validate().is_ok());
    }

    #[test]
    fn allowed_kubelet_labels() {
        assert!(!restricted_label("topology.kubernetes.io/zone"));
        assert!(!restricted_label("example.com/rack"));
        assert!(!restricted_label("node.kubernetes.io/pool"));
        assert!(restricted_label("node-role.kubernetes.io/worker"));
        assert!(restricted_label("k8s.io/x"));
    }

    #[test]
    fn proxy_mode_round_trips() {
        for m in ProxyMode::ALL {
            assert_eq!(m.as_str().parse::<ProxyMode>(), Ok(m));
        }
        assert!("userspace".parse::<ProxyMode>().is_err());
    }
}
