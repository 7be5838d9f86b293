//! The API server's part: what it drops from a Service whose feature gate is off and what it
//! rejects, with its message (semantics.md §9, §10).

use crate::model::state::{
    Service, TrafficDistribution, TrafficPolicy, ANNOTATION_TOPOLOGY_AWARE_HINTS,
    ANNOTATION_TOPOLOGY_MODE,
};
use crate::model::version::{FeatureGate, FeatureGates};

/// What the API server does with a Service: fields whose gate is off are dropped, invalid
/// values rejected (with the API server's message).
pub(crate) fn admit(service: &mut Service, gates: &FeatureGates) -> Result<(), String> {
    let minor = gates.version().minor;
    // Fields of removed or disabled features are dropped by the API server.
    if minor > 21 || !gates.enabled(FeatureGate::ServiceTopology) {
        service.topology_keys.clear();
    }
    if !gates.enabled(FeatureGate::ServiceInternalTrafficPolicy) && minor < 22 {
        service.internal_traffic_policy = TrafficPolicy::Cluster;
    }
    let td_exists = match minor {
        ..=29 => false,
        30..=35 => gates.enabled(FeatureGate::ServiceTrafficDistribution),
        _ => true,
    };
    if !td_exists {
        service.traffic_distribution = None;
    }
    // Validation.
    // Since 1.27 (kubernetes#116612, with the topology-mode annotation) both annotation keys
    // may be set only to the same value (pkg/apis/core/validation validateService).
    if minor >= 27 {
        if let (Some(mode), Some(hints)) = (
            service.annotations.get(ANNOTATION_TOPOLOGY_MODE),
            service.annotations.get(ANNOTATION_TOPOLOGY_AWARE_HINTS),
        ) {
            if mode != hints {
                return Err(format!(
                    "Service \"{}\" is invalid: metadata.annotations[{ANNOTATION_TOPOLOGY_MODE}]: Invalid value: {mode:?}: must match annotations[{ANNOTATION_TOPOLOGY_AWARE_HINTS}] when both are specified",
                    service.name
                ));
            }
        }
    }
    if !service.topology_keys.is_empty() {
        validate_topology_keys(&service.topology_keys, service.external_traffic_policy)
            .map_err(|e| format!("Service \"{}\" is invalid: {e}", service.name))?;
    }
    if let Some(td) = &service.traffic_distribution {
        let close = *td == TrafficDistribution::PreferClose;
        let supported = if minor <= 32 {
            close
        } else {
            close
                || (td.is_prefer_same()
                    && gates.enabled(FeatureGate::PreferSameTrafficDistribution))
        };
        if !supported {
            let values =
                if minor <= 32 || !gates.enabled(FeatureGate::PreferSameTrafficDistribution) {
                    "\"PreferClose\""
                } else {
                    "\"PreferClose\", \"PreferSameZone\", \"PreferSameNode\""
                };
            return Err(format!(
                "Service \"{}\" is invalid: spec.trafficDistribution: Unsupported value: \"{td}\": supported values: {values}",
                service.name
            ));
        }
    }
    Ok(())
}

/// Why the API server rejects a Service's `topologyKeys`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopologyKeysError {
    /// More than 16 keys.
    TooMany(usize),
    /// A key appears twice.
    Duplicate(String),
    /// `"*"` is not the last key.
    WildcardNotLast,
    /// A key is not a qualified name.
    NotQualifiedName(String),
    /// `topologyKeys` together with `externalTrafficPolicy: Local`.
    WithExternalTrafficPolicyLocal,
}

impl std::fmt::Display for TopologyKeysError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TopologyKeysError::TooMany(n) => write!(f, "spec.topologyKeys: Too many: {n}: must have at most 16 items"),
            TopologyKeysError::Duplicate(k) => write!(f, "spec.topologyKeys: Duplicate value: {k:?}"),
            TopologyKeysError::WildcardNotLast => {
                write!(f, "spec.topologyKeys: Invalid value: \"*\": must be the last value specified")
            }
            TopologyKeysError::NotQualifiedName(k) => {
                write!(f, "spec.topologyKeys: Invalid value: {k:?}: must be a qualified name")
            }
            TopologyKeysError::WithExternalTrafficPolicyLocal => write!(
                f,
                "spec.topologyKeys: Forbidden: may not be specified when `externalTrafficPolicy=Local`"
            ),
        }
    }
}

/// The API server's validation of `topologyKeys` (1.17–1.21).
pub fn validate_topology_keys(
    keys: &[String],
    external_traffic_policy: TrafficPolicy,
) -> Result<(), TopologyKeysError> {
    if keys.is_empty() {
        return Ok(());
    }
    if external_traffic_policy == TrafficPolicy::Local {
        return Err(TopologyKeysError::WithExternalTrafficPolicyLocal);
    }
    if keys.len() > 16 {
        return Err(TopologyKeysError::TooMany(keys.len()));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, key) in keys.iter().enumerate() {
        if !seen.insert(key.as_str()) {
            return Err(TopologyKeysError::Duplicate(key.clone()));
        }
        if key == "*" {
            if i != keys.len() - 1 {
                return Err(TopologyKeysError::WildcardNotLast);
            }
        } else if !is_qualified_name(key) {
            return Err(TopologyKeysError::NotQualifiedName(key.clone()));
        }
    }
    Ok(())
}

/// A Kubernetes qualified name: optional DNS-subdomain prefix and `/`, then a name of at most
/// 63 alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric.
fn is_qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
    });
    name_ok && prefix_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topology_keys_validation() {
        let k = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            validate_topology_keys(&k(&["*", "kubernetes.io/hostname"]), TrafficPolicy::Cluster),
            Err(TopologyKeysError::WildcardNotLast)
        );
        let many: Vec<String> = (0..17).map(|i| format!("example.com/k{i}")).collect();
        assert_eq!(
            validate_topology_keys(&many, TrafficPolicy::Cluster),
            Err(TopologyKeysError::TooMany(17))
        );
        assert_eq!(
            validate_topology_keys(&k(&["kubernetes.io/hostname"]), TrafficPolicy::Local),
            Err(TopologyKeysError::WithExternalTrafficPolicyLocal)
        );
        assert!(validate_topology_keys(
            &k(&["kubernetes.io/hostname", "topology.kubernetes.io/zone", "*"]),
            TrafficPolicy::Cluster
        )
        .is_ok());
        assert!(matches!(
            validate_topology_keys(&k(&["bad key"]), TrafficPolicy::Cluster),
            Err(TopologyKeysError::NotQualifiedName(_))
        ));
    }

    /// upstream pkg/apis/core/validation/validation_test.go, TestValidateServiceCreate and
    /// TestValidateServiceUpdate: "topology annotations are mismatched" (1 error), since 1.27.
    #[test]
    fn mismatched_topology_annotations_are_rejected_from_1_27() {
        use crate::model::version::KubeVersion;
        let service = |hints: &str, mode: &str| {
            let mut s = Service::new("ns", "web");
            s.annotations
                .insert(ANNOTATION_TOPOLOGY_AWARE_HINTS.into(), hints.into());
            s.annotations
                .insert(ANNOTATION_TOPOLOGY_MODE.into(), mode.into());
            s
        };
        let gates = |minor| FeatureGates::defaults(KubeVersion::new(minor));
        let refused = admit(&mut service("original", "different"), &gates(27));
        assert_eq!(
            refused.err().as_deref(),
            Some("Service \"web\" is invalid: metadata.annotations[service.kubernetes.io/topology-mode]: Invalid value: \"different\": must match annotations[service.kubernetes.io/topology-aware-hints] when both are specified")
        );
        assert!(admit(&mut service("", "Auto"), &gates(37)).is_err());
        assert!(admit(&mut service("Auto", "Auto"), &gates(37)).is_ok());
        // Before topology-mode existed it was an annotation like any other.
        assert!(admit(&mut service("auto", "Disabled"), &gates(26)).is_ok());
    }
}
