//! Kubernetes versions and feature gates, with each gate's per-version default.
//!
//! Gate lifecycles follow `semantics.md` §10: a gate exists only in the versions listed here;
//! a gate that went GA is locked to `true` (upstream components refuse to start when a locked
//! gate is set to a non-default value, and so does this model).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// A Kubernetes minor version (`1.NN`); the major version is always 1.
///
/// ```
/// use topo_harness::model::{FeatureGate, FeatureGates, KubeVersion};
///
/// let version: KubeVersion = "1.33".parse().unwrap();
/// let mut gates = FeatureGates::defaults(version);
/// // PreferSameTrafficDistribution is alpha (off) in 1.33 and may be turned on…
/// assert!(!gates.enabled(FeatureGate::PreferSameTrafficDistribution));
/// gates.set(FeatureGate::PreferSameTrafficDistribution, true).unwrap();
/// // …while TopologyAwareHints is GA and locked on.
/// assert!(gates.set(FeatureGate::TopologyAwareHints, false).is_err());
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubeVersion {
    /// The minor number, e.g. `33` for 1.33.
    pub minor: u32,
}

impl KubeVersion {
    /// Oldest version the model covers.
    pub const OLDEST: KubeVersion = KubeVersion { minor: 21 };
    /// Newest version the model covers.
    pub const NEWEST: KubeVersion = KubeVersion { minor: 37 };

    /// The version 1.`minor`.
    pub const fn new(minor: u32) -> Self {
        KubeVersion { minor }
    }

    /// Every supported version, oldest first.
    pub fn all() -> impl Iterator<Item = KubeVersion> {
        (Self::OLDEST.minor..=Self::NEWEST.minor).map(KubeVersion::new)
    }

    /// Whether the model covers this version.
    pub fn is_supported(self) -> bool {
        (Self::OLDEST..=Self::NEWEST).contains(&self)
    }

    /// Parses the minor version out of a kubelet version string such as `v1.21.10`,
    /// `v1.33.1-gke.100` or `1.30`; `None` when it is not a 1.x version.
    pub fn from_kubelet(text: &str) -> Option<KubeVersion> {
        let rest = text.trim().strip_prefix('v').unwrap_or(text.trim());
        let rest = rest.strip_prefix("1.")?;
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().ok().map(KubeVersion::new)
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1.{}", self.minor)
    }
}

/// Why a version string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Not of the form `1.NN`.
    #[error("`{0}` is not a Kubernetes version; expected 1.NN, e.g. 1.33")]
    Malformed(String),
    /// Well formed, but outside 1.21–1.37.
    #[error("Kubernetes {0} is not supported; the model covers 1.21 to 1.37")]
    Unsupported(KubeVersion),
}

impl FromStr for KubeVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim().trim_start_matches('v');
        let minor = trimmed
            .strip_prefix("1.")
            .and_then(|m| {
                // Accept a patch suffix (1.33.2) but nothing else.
                let mut parts = m.splitn(2, '.');
                let minor = parts.next()?;
                if let Some(patch) = parts.next() {
                    patch.parse::<u32>().ok()?;
                }
                minor.parse::<u32>().ok()
            })
            .ok_or_else(|| VersionError::Malformed(s.to_string()))?;
        let version = KubeVersion::new(minor);
        if version.is_supported() {
            Ok(version)
        } else {
            Err(VersionError::Unsupported(version))
        }
    }
}

/// The feature gates that change topology-aware routing.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FeatureGate {
    /// `Service.spec.topologyKeys` (alpha 1.17, removed after 1.22).
    ServiceTopology,
    /// kube-proxy reads EndpointSlices (beta 1.19, GA 1.22, removed after 1.24).
    EndpointSliceProxying,
    /// Topology hints ("Auto"): alpha 1.21, default on 1.24, GA 1.33, removed 1.36.
    TopologyAwareHints,
    /// `internalTrafficPolicy` (alpha 1.21, beta 1.22, GA 1.26, removed after 1.27).
    ServiceInternalTrafficPolicy,
    /// kube-proxy falls back to serving+terminating endpoints (alpha 1.22, beta 1.26, GA 1.28).
    ProxyTerminatingEndpoints,
    /// `spec.trafficDistribution` (alpha 1.30, beta 1.31, GA 1.33, removed 1.36).
    ServiceTrafficDistribution,
    /// `PreferSameZone` / `PreferSameNode` and `forNodes` hints (alpha 1.33, beta 1.34, GA 1.35).
    PreferSameTrafficDistribution,
}

/// How a gate stands in one version.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum GateStatus {
    /// The gate does not exist in this version.
    Absent,
    /// The gate exists with this default and may be changed.
    Default(bool),
    /// The gate is GA and locked to `true`.
    Locked,
}

impl FeatureGate {
    /// Every gate, in a stable order.
    pub const ALL: [FeatureGate; 7] = [
        FeatureGate::ServiceTopology,
        FeatureGate::EndpointSliceProxying,
        FeatureGate::TopologyAwareHints,
        FeatureGate::ServiceInternalTrafficPolicy,
        FeatureGate::ProxyTerminatingEndpoints,
        FeatureGate::ServiceTrafficDistribution,
        FeatureGate::PreferSameTrafficDistribution,
    ];

    /// The gate's name as passed to `--feature-gates`.
    pub fn name(self) -> &'static str {
        match self {
            FeatureGate::ServiceTopology => "ServiceTopology",
            FeatureGate::EndpointSliceProxying => "EndpointSliceProxying",
            FeatureGate::TopologyAwareHints => "TopologyAwareHints",
            FeatureGate::ServiceInternalTrafficPolicy => "ServiceInternalTrafficPolicy",
            FeatureGate::ProxyTerminatingEndpoints => "ProxyTerminatingEndpoints",
            FeatureGate::ServiceTrafficDistribution => "ServiceTrafficDistribution",
            FeatureGate::PreferSameTrafficDistribution => "PreferSameTrafficDistribution",
        }
    }

    /// The gate with this exact name.
    pub fn from_name(name: &str) -> Option<FeatureGate> {
        Self::ALL.into_iter().find(|g| g.name() == name)
    }

    /// The gate's status in `version` (semantics.md §10).
    pub fn status(self, version: KubeVersion) -> GateStatus {
        use GateStatus::*;
        let v = version.minor;
        match self {
            FeatureGate::ServiceTopology => match v {
                ..=22 => Default(false),
                _ => Absent,
            },
            FeatureGate::EndpointSliceProxying => match v {
                ..=21 => Default(true),
                22..=24 => Locked,
                _ => Absent,
            },
            FeatureGate::TopologyAwareHints => match v {
                ..=23 => Default(false),
                24..=32 => Default(true),
                33..=35 => Locked,
                _ => Absent,
            },
            FeatureGate::ServiceInternalTrafficPolicy => match v {
                ..=21 => Default(false),
                22..=25 => Default(true),
                26..=27 => Locked,
                _ => Absent,
            },
            FeatureGate::ProxyTerminatingEndpoints => match v {
                ..=21 => Absent,
                22..=25 => Default(false),
                26..=27 => Default(true),
                28..=29 => Locked,
                _ => Absent,
            },
            FeatureGate::ServiceTrafficDistribution => match v {
                ..=29 => Absent,
                30 => Default(false),
                31..=32 => Default(true),
                33..=35 => Locked,
                _ => Absent,
            },
            FeatureGate::PreferSameTrafficDistribution => match v {
                ..=32 => Absent,
                33 => Default(false),
                34 => Default(true),
                _ => Locked,
            },
        }
    }

    /// Whether the behaviour behind the gate is active in `version` when nobody sets the gate:
    /// an absent gate counts as on once its feature graduated (removed after GA) and off before
    /// it was introduced or after its feature was removed.
    pub fn default_enabled(self, version: KubeVersion) -> bool {
        match self.status(version) {
            GateStatus::Default(on) => on,
            GateStatus::Locked => true,
            GateStatus::Absent => self.graduated_before(version),
        }
    }

    /// For an absent gate: true when the feature is always on in `version` (the gate was
    /// removed after GA), false when the feature does not exist there.
    fn graduated_before(self, version: KubeVersion) -> bool {
        let v = version.minor;
        match self {
            // topologyKeys was removed with its gate: the feature is gone.
            FeatureGate::ServiceTopology => false,
            FeatureGate::EndpointSliceProxying => v >= 25,
            FeatureGate::TopologyAwareHints => v >= 36,
            FeatureGate::ServiceInternalTrafficPolicy => v >= 28,
            FeatureGate::ProxyTerminatingEndpoints => v >= 30,
            FeatureGate::ServiceTrafficDistribution => v >= 36,
            FeatureGate::PreferSameTrafficDistribution => v >= 33,
        }
    }
}

impl fmt::Display for FeatureGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a gate setting was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    /// No such gate in the model.
    #[error("unknown feature gate `{0}`; known gates: {known}", known = FeatureGate::ALL.map(|g| g.name()).join(", "))]
    Unknown(String),
    /// The gate does not exist in this version.
    #[error("feature gate {gate} does not exist in Kubernetes {version}")]
    Absent {
        /// The gate.
        gate: FeatureGate,
        /// The version.
        version: KubeVersion,
    },
    /// The gate is GA and locked on.
    #[error("feature gate {gate} is GA and locked to true in Kubernetes {version}")]
    Locked {
        /// The gate.
        gate: FeatureGate,
        /// The version.
        version: KubeVersion,
    },
    /// Not of the form `Name=true|false`.
    #[error("`{0}` is not a gate setting; expected Name=true or Name=false")]
    Malformed(String),
}

/// The feature gates in force for one cluster: the version's defaults plus explicit overrides.
///
/// The same gates are assumed on every component (kube-apiserver, kube-controller-manager,
/// kube-proxy), as a kind cluster's `featureGates` sets them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeatureGates {
    version: KubeVersion,
    overrides: BTreeMap<FeatureGate, bool>,
}

impl FeatureGates {
    /// The defaults of `version`.
    pub fn defaults(version: KubeVersion) -> Self {
        FeatureGates {
            version,
            overrides: BTreeMap::new(),
        }
    }

    /// The version these gates belong to.
    pub fn version(&self) -> KubeVersion {
        self.version
    }

    /// Sets a gate, refusing gates that do not exist in the version or are locked on.
    pub fn set(&mut self, gate: FeatureGate, on: bool) -> Result<(), GateError> {
        match gate.status(self.version) {
            GateStatus::Absent => Err(GateError::Absent {
                gate,
                version: self.version,
            }),
            GateStatus::Locked if !on => Err(GateError::Locked {
                gate,
                version: self.version,
            }),
            _ => {
                self.overrides.insert(gate, on);
                Ok(())
            }
        }
    }

    /// Parses and applies `Name=true|false`.
    pub fn set_from_str(&mut self, setting: &str) -> Result<(FeatureGate, bool), GateError> {
        let (name, value) = setting
            .split_once('=')
            .ok_or_else(|| GateError::Malformed(setting.to_string()))?;
        let gate = FeatureGate::from_name(name.trim())
            .ok_or_else(|| GateError::Unknown(name.trim().to_string()))?;
        let on = match value.trim() {
            "true" => true,
            "false" => false,
            _ => return Err(GateError::Malformed(setting.to_string())),
        };
        self.set(gate, on)?;
        Ok((gate, on))
    }

    /// Whether the gate's behaviour is on.
    pub fn enabled(&self, gate: FeatureGate) -> bool {
        self.overrides
            .get(&gate)
            .copied()
            .unwrap_or_else(|| gate.default_enabled(self.version))
    }

    /// Whether the gate was set explicitly.
    pub fn is_overridden(&self, gate: FeatureGate) -> bool {
        self.overrides.contains_key(&gate)
    }

    /// The explicit settings, in gate order.
    pub fn overrides(&self) -> impl Iterator<Item = (FeatureGate, bool)> + '_ {
        self.overrides.iter().map(|(g, on)| (*g, *on))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!("1.33".parse::<KubeVersion>(), Ok(KubeVersion::new(33)));
        assert_eq!("v1.21.10".parse::<KubeVersion>(), Ok(KubeVersion::new(21)));
        assert_eq!(
            "1.20".parse::<KubeVersion>(),
            Err(VersionError::Unsupported(KubeVersion::new(20)))
        );
        assert!(matches!(
            "2.1".parse::<KubeVersion>(),
            Err(VersionError::Malformed(_))
        ));
        assert!(matches!(
            "1.3x".parse::<KubeVersion>(),
            Err(VersionError::Malformed(_))
        ));
        assert_eq!(
            KubeVersion::from_kubelet("v1.33.1-gke.1"),
            Some(KubeVersion::new(33))
        );
    }

    #[test]
    fn gate_defaults_follow_the_lifecycle_table() {
        let on = |g: FeatureGate, v| g.default_enabled(KubeVersion::new(v));
        use FeatureGate::*;
        assert!(!on(TopologyAwareHints, 21));
        assert!(!on(TopologyAwareHints, 23));
        assert!(on(TopologyAwareHints, 24));
        assert!(on(TopologyAwareHints, 36));
        assert!(!on(ServiceTrafficDistribution, 30));
        assert!(on(ServiceTrafficDistribution, 31));
        assert!(!on(PreferSameTrafficDistribution, 33));
        assert!(on(PreferSameTrafficDistribution, 34));
        assert!(!on(ServiceInternalTrafficPolicy, 21));
        assert!(on(ServiceInternalTrafficPolicy, 22));
        assert!(!on(ProxyTerminatingEndpoints, 25));
        assert!(on(ProxyTerminatingEndpoints, 26));
        assert!(on(ProxyTerminatingEndpoints, 37));
        assert!(!on(ServiceTopology, 21));
        assert!(!on(ServiceTopology, 23));
        assert!(on(EndpointSliceProxying, 21));
    }

    #[test]
    fn gate_settings_are_checked_against_the_version() {
        let mut gates = FeatureGates::defaults(KubeVersion::new(33));
        assert_eq!(
            gates.set(FeatureGate::TopologyAwareHints, false),
            Err(GateError::Locked {
                gate: FeatureGate::TopologyAwareHints,
                version: KubeVersion::new(33)
            })
        );
        assert!(gates
            .set_from_str("PreferSameTrafficDistribution=true")
            .is_ok());
        assert!(gates.enabled(FeatureGate::PreferSameTrafficDistribution));
        assert!(matches!(
            gates.set_from_str("ServiceTopology=true"),
            Err(GateError::Absent { .. })
        ));
        assert!(matches!(
            gates.set_from_str("Nope=true"),
            Err(GateError::Unknown(_))
        ));
        assert!(matches!(
            gates.set_from_str("TopologyAwareHints"),
            Err(GateError::Malformed(_))
        ));
    }
}
