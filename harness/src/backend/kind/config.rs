//! kind's cluster config, `kind.x-k8s.io/v1alpha4`, generated from a [`KindClusterSpec`].
//!
//! The types here mirror only the part of kind's versioned API the harness writes
//! (`pkg/apis/config/v1alpha4/types.go`); they reject unknown fields on reading, as kind's
//! strict parser does, so a generated file can be read back and compared.
//!
//! Per-node CPU reservation goes through a kubeadm merge patch on the node: an
//! `InitConfiguration` for the first control plane, a `JoinConfiguration` for every other
//! node. The patch names the kubeadm API kind uses for the version (kind only applies a patch
//! whose `apiVersion` matches): `v1beta2` before 1.23, `v1beta3` for 1.23–1.35, `v1beta4` from
//! 1.36 (kind v0.32+), where `kubeletExtraArgs` is a list of `{name, value}` instead of a map.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::images::{ImageError, ImageTable};
use super::spec::{KindClusterSpec, NodeRole, SpecError, LABEL_REGION, LABEL_SHAPE, LABEL_ZONE};
use crate::model::KubeVersion;

/// `apiVersion` of kind's cluster config.
pub const KIND_API_VERSION: &str = "kind.x-k8s.io/v1alpha4";

/// kind's `Cluster` (`kind.x-k8s.io/v1alpha4`), the fields the harness writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cluster {
    /// Always `Cluster`.
    pub kind: String,
    /// Always [`KIND_API_VERSION`].
    pub api_version: String,
    /// Cluster name (overridden by `--name`, which the harness also passes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Feature gates for every component, kube-proxy included.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub feature_gates: BTreeMap<String, bool>,
    /// Cluster networking.
    pub networking: Networking,
    /// kubeadm merge patches for every node (inline YAML documents).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kubeadm_config_patches: Vec<String>,
    /// Nodes.
    pub nodes: Vec<Node>,
}

/// kind's `Networking`, the field the harness writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Networking {
    /// `iptables`, `nftables`, `ipvs` or `none`.
    pub kube_proxy_mode: String,
}

/// kind's `Node`, the fields the harness writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Node {
    /// `control-plane` or `worker`.
    pub role: String,
    /// Node image, pinned by digest.
    pub image: String,
    /// Node labels (kind passes them to the kubelet's `--node-labels`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// kubeadm merge patches for this node (inline YAML documents).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kubeadm_config_patches: Vec<String>,
}

/// The kubeadm config API kind renders for a Kubernetes version.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum KubeadmApi {
    /// `kubeadm.k8s.io/v1beta2` (Kubernetes 1.15–1.22); `kubeletExtraArgs` is a map.
    V1beta2,
    /// `kubeadm.k8s.io/v1beta3` (1.23–1.35); `kubeletExtraArgs` is a map.
    V1beta3,
    /// `kubeadm.k8s.io/v1beta4` (1.36+, kind v0.32+); `kubeletExtraArgs` is a list of
    /// `{name, value}`.
    V1beta4,
}

impl KubeadmApi {
    /// The API kind uses for `version`.
    pub fn for_version(version: KubeVersion) -> KubeadmApi {
        match version.minor {
            ..=22 => KubeadmApi::V1beta2,
            23..=35 => KubeadmApi::V1beta3,
            _ => KubeadmApi::V1beta4,
        }
    }

    /// The `apiVersion` value.
    pub fn api_version(self) -> &'static str {
        match self {
            KubeadmApi::V1beta2 => "kubeadm.k8s.io/v1beta2",
            KubeadmApi::V1beta3 => "kubeadm.k8s.io/v1beta3",
            KubeadmApi::V1beta4 => "kubeadm.k8s.io/v1beta4",
        }
    }

    /// A merge patch adding kubelet flags to a kubeadm `kind` (`InitConfiguration` or
    /// `JoinConfiguration`), in this API's shape.
    pub fn kubelet_args_patch(self, kind: &str, args: &[(&str, String)]) -> String {
        let mut out = format!(
            "apiVersion: {}\nkind: {kind}\nnodeRegistration:\n  kubeletExtraArgs:\n",
            self.api_version()
        );
        for (name, value) in args {
            match self {
                KubeadmApi::V1beta2 | KubeadmApi::V1beta3 => {
                    out.push_str(&format!("    {name}: \"{value}\"\n"))
                }
                KubeadmApi::V1beta4 => {
                    out.push_str(&format!("  - name: {name}\n    value: \"{value}\"\n"))
                }
            }
        }
        out
    }

    /// A merge patch adding kube-controller-manager flags to kubeadm's
    /// `ClusterConfiguration`, in this API's shape.
    pub fn controller_manager_args_patch(self, args: &[(&str, String)]) -> String {
        let mut out = format!(
            "apiVersion: {}\nkind: ClusterConfiguration\ncontrollerManager:\n  extraArgs:\n",
            self.api_version()
        );
        for (name, value) in args {
            match self {
                KubeadmApi::V1beta2 | KubeadmApi::V1beta3 => {
                    out.push_str(&format!("    {name}: \"{value}\"\n"))
                }
                KubeadmApi::V1beta4 => {
                    out.push_str(&format!("  - name: {name}\n    value: \"{value}\"\n"))
                }
            }
        }
        out
    }
}

/// The kube-controller-manager flags a spec changes: `--max-endpoints-per-slice`, and
/// `--controllers=*,-endpointslice-controller` when the in-tree EndpointSlice controller is off.
pub fn controller_manager_args(spec: &KindClusterSpec) -> Vec<(&'static str, String)> {
    let mut args = Vec::new();
    if let Some(max) = spec.max_endpoints_per_slice {
        args.push(("max-endpoints-per-slice", max.to_string()));
    }
    if let Some(controllers) = spec.controller.controllers_flag() {
        args.push(("controllers", controllers.to_string()));
    }
    args
}

/// The `KubeletConfiguration` merge patch setting `maxPods` (the same document in every
/// kubeadm API version: kubelet.config.k8s.io/v1beta1).
pub fn kubelet_max_pods_patch(max_pods: u32) -> String {
    format!("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: {max_pods}\n")
}

/// A generated config and what went into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedConfig {
    /// The parsed config.
    pub cluster: Cluster,
    /// The file text: a comment header, then the YAML.
    pub yaml: String,
    /// The node image used.
    pub image: String,
    /// The kind release whose table gave the image (`None` when the spec names the image).
    pub release: Option<String>,
    /// [`KindClusterSpec::shape_hash`].
    pub shape_hash: String,
    /// Gates left out because they do not exist in the version.
    pub dropped_gates: Vec<String>,
    /// The kubeadm API the patches target.
    pub kubeadm_api: KubeadmApi,
}

/// Why a config could not be generated or written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The spec is invalid (every problem listed).
    #[error("cluster spec `{name}` is invalid:\n{}", .errors.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Spec {
        /// Cluster name.
        name: String,
        /// Every problem.
        errors: Vec<SpecError>,
    },
    /// No node image.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// YAML serialization failed.
    #[error("cannot serialize the kind config: {0}")]
    Serialize(String),
    /// The shape name cannot be a file name.
    #[error("shape name `{0}` cannot be used as a file name under kind/")]
    ShapeName(String),
    /// Writing the file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Turns a spec into kind's `Cluster` config, with the node image from `images` for
/// `release` (unless the spec overrides it).
pub fn render(
    spec: &KindClusterSpec,
    images: &ImageTable,
    release: &str,
) -> Result<RenderedConfig, ConfigError> {
    spec.validate().map_err(|errors| ConfigError::Spec {
        name: spec.name.clone(),
        errors,
    })?;
    let image = match &spec.image {
        Some(image) => image.clone(),
        None => images.image(release, spec.version)?.to_string(),
    };
    let feature_gates = spec.effective_gates().map_err(|e| ConfigError::Spec {
        name: spec.name.clone(),
        errors: vec![e],
    })?;
    let shape_hash = spec.shape_hash();
    let kubeadm_api = KubeadmApi::for_version(spec.version);
    let mut first_control_plane = true;
    let nodes = spec
        .nodes
        .iter()
        .map(|n| {
            let mut labels = n.labels.clone();
            if let Some(zone) = &n.zone {
                labels.insert(LABEL_ZONE.to_string(), zone.clone());
            }
            if let Some(region) = &n.region {
                labels.insert(LABEL_REGION.to_string(), region.clone());
            }
            labels.insert(LABEL_SHAPE.to_string(), shape_hash.clone());
            let init = n.role == NodeRole::ControlPlane && first_control_plane;
            if n.role == NodeRole::ControlPlane {
                first_control_plane = false;
            }
            let mut kubeadm_config_patches: Vec<String> = n
                .reserve_cpu_millis
                .map(|cpu| {
                    let kind = if init {
                        "InitConfiguration"
                    } else {
                        "JoinConfiguration"
                    };
                    vec![kubeadm_api
                        .kubelet_args_patch(kind, &[("system-reserved", format!("cpu={cpu}m"))])]
                })
                .unwrap_or_default();
            // The first control plane's kubeadm config holds the ClusterConfiguration; one
            // patch carries every kube-controller-manager flag (a v1beta4 list is replaced,
            // not merged, by a second patch).
            let controller_manager_args = controller_manager_args(spec);
            if init && !controller_manager_args.is_empty() {
                kubeadm_config_patches
                    .push(kubeadm_api.controller_manager_args_patch(&controller_manager_args));
            }
            Node {
                role: n.role.as_str().to_string(),
                image: image.clone(),
                labels,
                kubeadm_config_patches,
            }
        })
        .collect();
    let cluster = Cluster {
        kind: "Cluster".to_string(),
        api_version: KIND_API_VERSION.to_string(),
        name: Some(spec.name.clone()),
        feature_gates,
        networking: Networking {
            kube_proxy_mode: spec.proxy_mode.as_str().to_string(),
        },
        kubeadm_config_patches: spec
            .max_pods
            .map(kubelet_max_pods_patch)
            .into_iter()
            .collect(),
        nodes,
    };
    let body = to_yaml(&cluster).map_err(ConfigError::Serialize)?;
    let dropped_gates = spec.dropped_gates();
    let mut yaml = format!(
        "# Generated by topo-harness for cluster `{}`; do not edit (regenerated every run).\n\
         # shape: {shape_hash}\n\
         # kubernetes: {}  proxy: {}  kubeadm: {}\n",
        spec.name,
        spec.version,
        spec.proxy_mode,
        kubeadm_api.api_version(),
    );
    if let Some(controllers) = spec.controller.controllers_flag() {
        yaml.push_str(&format!(
            "# in-tree EndpointSlice controller off: kube-controller-manager --controllers={controllers}\n"
        ));
    }
    if spec.image.is_none() {
        yaml.push_str(&format!(
            "# node image from kind/images.yaml, kind {release}\n"
        ));
    } else {
        yaml.push_str("# node image given with --image\n");
    }
    if !dropped_gates.is_empty() {
        yaml.push_str(&format!(
            "# feature gates left out (absent in {}): {}\n",
            spec.version,
            dropped_gates.join(", ")
        ));
    }
    yaml.push_str(&body);
    Ok(RenderedConfig {
        cluster,
        yaml,
        image,
        release: spec.image.is_none().then(|| release.to_string()),
        shape_hash,
        dropped_gates,
        kubeadm_api,
    })
}

/// Serializes to YAML the way every file of the kind layer is written: block style, long
/// single-line strings (digests, scripts) kept on one line instead of folded.
pub(crate) fn to_yaml<T: Serialize>(value: &T) -> Result<String, String> {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.folded_wrap_chars = 4096;
    serde_saphyr::to_string_with_options(value, options).map_err(|e| e.to_string())
}

/// Reads a kind config back (strictly: unknown fields fail, as in kind).
pub fn parse(yaml: &str) -> Result<Cluster, String> {
    serde_saphyr::from_str(yaml).map_err(|e| e.to_string())
}

/// Writes `rendered` to `<dir>/<shape_name>.yaml` (creating `dir`) and returns the path.
/// The CLI calls this with `dir` = the repository's `kind/` directory.
pub fn write_config(
    dir: &Path,
    shape_name: &str,
    rendered: &RenderedConfig,
) -> Result<PathBuf, ConfigError> {
    if shape_name.is_empty()
        || shape_name.starts_with('.')
        || !shape_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(ConfigError::ShapeName(shape_name.to_string()));
    }
    std::fs::create_dir_all(dir).map_err(|source| ConfigError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(format!("{shape_name}.yaml"));
    std::fs::write(&path, &rendered.yaml).map_err(|source| ConfigError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::super::spec::{KindNodeSpec, ProxyMode};
    use super::*;

    fn images() -> ImageTable {
        ImageTable::embedded().unwrap()
    }

    #[test]
    fn round_trips_through_the_strict_parser() {
        let spec = KindClusterSpec::new("rt", KubeVersion::new(36), ProxyMode::Iptables)
            .node(
                KindNodeSpec::control_plane()
                    .zone("a")
                    .reserve_cpu_millis(250),
            )
            .node(KindNodeSpec::worker().zone("b").reserve_cpu_millis(500));
        let r = render(&spec, &images(), "v0.33.0").unwrap();
        assert_eq!(parse(&r.yaml).unwrap(), r.cluster);
        assert!(r.cluster.nodes[0].kubeadm_config_patches[0].contains("kind: InitConfiguration"));
        assert!(r.cluster.nodes[1].kubeadm_config_patches[0].contains("kind: JoinConfiguration"));
    }

    #[test]
    fn kubeadm_api_by_version() {
        assert_eq!(
            KubeadmApi::for_version(KubeVersion::new(22)),
            KubeadmApi::V1beta2
        );
        assert_eq!(
            KubeadmApi::for_version(KubeVersion::new(23)),
            KubeadmApi::V1beta3
        );
        assert_eq!(
            KubeadmApi::for_version(KubeVersion::new(35)),
            KubeadmApi::V1beta3
        );
        assert_eq!(
            KubeadmApi::for_version(KubeVersion::new(36)),
            KubeadmApi::V1beta4
        );
    }

    #[test]
    fn kubelet_args_shape_per_api() {
        let args = [("system-reserved", "cpu=500m".to_string())];
        let v3: serde_json::Value = serde_saphyr::from_str(
            &KubeadmApi::V1beta3.kubelet_args_patch("JoinConfiguration", &args),
        )
        .unwrap();
        assert_eq!(
            v3["nodeRegistration"]["kubeletExtraArgs"]["system-reserved"],
            "cpu=500m"
        );
        let v4: serde_json::Value = serde_saphyr::from_str(
            &KubeadmApi::V1beta4.kubelet_args_patch("JoinConfiguration", &args),
        )
        .unwrap();
        assert_eq!(
            v4["nodeRegistration"]["kubeletExtraArgs"],
            serde_json::json!([{"name": "system-reserved", "value": "cpu=500m"}])
        );
        assert_eq!(v4["apiVersion"], "kubeadm.k8s.io/v1beta4");
    }

    #[test]
    fn controller_none_turns_the_in_tree_controller_off_in_each_kubeadm_api() {
        use super::super::spec::EndpointSliceController;
        for (minor, release) in [(21, "v0.20.0"), (34, "v0.33.0"), (37, "v0.33.0")] {
            let mut spec = KindClusterSpec::new("c", KubeVersion::new(minor), ProxyMode::Iptables)
                .node(KindNodeSpec::control_plane())
                .node(KindNodeSpec::worker());
            spec.controller = EndpointSliceController::None;
            spec.max_endpoints_per_slice = Some(2);
            let r = render(&spec, &images(), release).unwrap();
            // Only the first control plane carries the ClusterConfiguration patch.
            assert!(r.cluster.nodes[1].kubeadm_config_patches.is_empty());
            let patches = &r.cluster.nodes[0].kubeadm_config_patches;
            assert_eq!(patches.len(), 1, "{patches:?}");
            let patch: serde_json::Value = serde_saphyr::from_str(&patches[0]).unwrap();
            assert_eq!(patch["kind"], "ClusterConfiguration");
            assert_eq!(patch["apiVersion"], r.kubeadm_api.api_version());
            let args = &patch["controllerManager"]["extraArgs"];
            match r.kubeadm_api {
                // v1beta2 (1.21) and v1beta3: a map.
                KubeadmApi::V1beta2 | KubeadmApi::V1beta3 => {
                    assert_eq!(args["controllers"], "*,-endpointslice-controller");
                    assert_eq!(args["max-endpoints-per-slice"], "2");
                }
                // v1beta4: a list of name/value.
                KubeadmApi::V1beta4 => assert_eq!(
                    *args,
                    serde_json::json!([
                        {"name": "max-endpoints-per-slice", "value": "2"},
                        {"name": "controllers", "value": "*,-endpointslice-controller"}
                    ])
                ),
            }
            assert!(r.yaml.contains("# in-tree EndpointSlice controller off"));
        }
        assert_eq!(
            KubeadmApi::for_version(KubeVersion::new(21)),
            KubeadmApi::V1beta2
        );
    }

    #[test]
    fn missing_image_names_the_release() {
        let spec = KindClusterSpec::new("old", KubeVersion::new(21), ProxyMode::Iptables)
            .node(KindNodeSpec::control_plane());
        let err = render(&spec, &images(), "v0.33.0").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no kindest/node image for 1.21 in kind v0.33.0; pass --image"
        );
    }

    #[test]
    fn invalid_spec_lists_every_problem() {
        let spec = KindClusterSpec::new("X", KubeVersion::new(33), ProxyMode::Iptables);
        let err = render(&spec, &images(), "v0.33.0").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("cluster name `X`"), "{text}");
        assert!(text.contains("no control-plane node"), "{text}");
    }

    #[test]
    fn writes_file_named_after_the_shape() {
        let dir = std::env::temp_dir().join(format!("topo-kind-{}", std::process::id()));
        let spec = KindClusterSpec::new("w", KubeVersion::new(34), ProxyMode::Iptables)
            .node(KindNodeSpec::control_plane());
        let r = render(&spec, &images(), "v0.33.0").unwrap();
        let path = write_config(&dir, "two-zones", &r).unwrap();
        assert_eq!(path, dir.join("two-zones.yaml"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), r.yaml);
        assert!(write_config(&dir, "../escape", &r).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
