//! The EndpointSlice controller side: which heuristic applies and what hints it writes.

pub mod reconciler;
pub mod topology;
pub mod trafficdist;

use std::collections::BTreeMap;

use crate::model::state::{ANNOTATION_TOPOLOGY_AWARE_HINTS, ANNOTATION_TOPOLOGY_MODE};
use crate::model::version::{FeatureGate, FeatureGates};

use crate::model::state::TrafficDistribution;

/// The annotation value the controller reads, with the key it came from (semantics.md §2.1):
/// before 1.27 only the old key exists; from 1.27 the old key wins whenever it is present.
pub(crate) fn controller_annotation<'a>(
    annotations: &'a BTreeMap<String, String>,
    gates: &FeatureGates,
) -> Option<(&'static str, &'a str)> {
    if let Some(v) = annotations.get(ANNOTATION_TOPOLOGY_AWARE_HINTS) {
        return Some((ANNOTATION_TOPOLOGY_AWARE_HINTS, v.as_str()));
    }
    if gates.version().minor >= 27 {
        if let Some(v) = annotations.get(ANNOTATION_TOPOLOGY_MODE) {
            return Some((ANNOTATION_TOPOLOGY_MODE, v.as_str()));
        }
    }
    None
}

/// `hintsEnabled`: whether the annotations ask the controller for "Auto" hints. 1.21 accepts
/// only `auto`; later versions `Auto` or `auto`. The feature gate is not consulted here.
pub fn hints_enabled(annotations: &BTreeMap<String, String>, gates: &FeatureGates) -> bool {
    match controller_annotation(annotations, gates) {
        Some((_, "auto")) => true,
        Some((_, "Auto")) => gates.version().minor >= 22,
        _ => false,
    }
}

/// `validTrafficDistribution`: whether the controller applies `trafficDistribution` hints.
pub(crate) fn valid_traffic_distribution(
    value: Option<&TrafficDistribution>,
    gates: &FeatureGates,
) -> bool {
    let minor = gates.version().minor;
    if minor < 30 {
        return false;
    }
    let gate_on = gates.enabled(FeatureGate::ServiceTrafficDistribution);
    if minor <= 32 {
        // 1.30–1.32 hand any value (even none) to the trafficdist heuristics.
        return gate_on;
    }
    let Some(value) = value else {
        return false;
    };
    let same = gates.enabled(FeatureGate::PreferSameTrafficDistribution) && value.is_prefer_same();
    gate_on && (*value == TrafficDistribution::PreferClose || same)
}

/// Which hinting heuristic the controller runs for a Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControllerHeuristic {
    /// CPU-proportional "Auto" hints (the annotation).
    Auto,
    /// `trafficDistribution` hints.
    TrafficDistribution {
        /// The value (`None` only in 1.30–1.32, where it removes hints).
        value: Option<TrafficDistribution>,
        /// Whether `forNodes` hints are written.
        node_hints: bool,
    },
    /// Hints are removed.
    None {
        /// Why no heuristic applies.
        why: NoHeuristicReason,
    },
}

/// Why the controller runs no hinting heuristic for a Service (and so strips any hints).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoHeuristicReason {
    /// The annotation asks for Auto but the `TopologyAwareHints` gate is off.
    AutoGateOff,
    /// `trafficDistribution` is set in a version before the field exists (1.30).
    TrafficDistributionTooEarly {
        /// The value, verbatim.
        value: String,
    },
    /// `trafficDistribution` is set but the `ServiceTrafficDistribution` gate is off.
    TrafficDistributionGateOff {
        /// The value, verbatim.
        value: String,
    },
    /// `PreferSameZone`/`PreferSameNode` with the `PreferSameTrafficDistribution` gate off.
    PreferSameGateOff {
        /// The value, verbatim.
        value: String,
    },
    /// A `trafficDistribution` value the version does not act on.
    TrafficDistributionUnknown {
        /// The value, verbatim.
        value: String,
    },
    /// A topology annotation is present but its value does not ask for Auto.
    AnnotationNotAuto {
        /// The annotation key the controller read.
        key: &'static str,
        /// Its value.
        value: String,
    },
    /// Neither a topology annotation nor `trafficDistribution` is set.
    NothingAsks,
}

impl NoHeuristicReason {
    /// Whether the Service asks for hints (so the controller stripping them is a `removed`
    /// outcome, not `none`): an annotation asking for Auto, or any `trafficDistribution`.
    pub fn asks_for_hints(&self) -> bool {
        match self {
            NoHeuristicReason::AutoGateOff
            | NoHeuristicReason::TrafficDistributionTooEarly { .. }
            | NoHeuristicReason::TrafficDistributionGateOff { .. }
            | NoHeuristicReason::PreferSameGateOff { .. }
            | NoHeuristicReason::TrafficDistributionUnknown { .. } => true,
            NoHeuristicReason::AnnotationNotAuto { .. } | NoHeuristicReason::NothingAsks => false,
        }
    }
}

impl std::fmt::Display for NoHeuristicReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoHeuristicReason::AutoGateOff => {
                f.write_str("the annotation asks for Auto but the TopologyAwareHints gate is off")
            }
            NoHeuristicReason::TrafficDistributionTooEarly { value } => {
                write!(f, "trafficDistribution {value} does not exist before 1.30")
            }
            NoHeuristicReason::TrafficDistributionGateOff { value } => write!(
                f,
                "trafficDistribution {value} is ignored: the ServiceTrafficDistribution gate is off"
            ),
            NoHeuristicReason::PreferSameGateOff { value } => write!(
                f,
                "trafficDistribution {value} needs the PreferSameTrafficDistribution gate"
            ),
            NoHeuristicReason::TrafficDistributionUnknown { value } => {
                write!(
                    f,
                    "trafficDistribution {value} is not a value this version acts on"
                )
            }
            NoHeuristicReason::AnnotationNotAuto { key, value } => {
                write!(f, "annotation {key}={value:?} does not ask for Auto")
            }
            NoHeuristicReason::NothingAsks => {
                f.write_str("neither a topology annotation nor trafficDistribution asks for hints")
            }
        }
    }
}

/// The reconciler's choice (semantics.md §5): the annotation (when the topology cache exists)
/// wins over `trafficDistribution`; an annotation asking for Auto while the gate is off
/// removes hints and also blocks `trafficDistribution`.
pub fn choose_heuristic(
    annotations: &BTreeMap<String, String>,
    traffic_distribution: Option<&TrafficDistribution>,
    gates: &FeatureGates,
) -> ControllerHeuristic {
    let auto = hints_enabled(annotations, gates);
    let cache = gates.enabled(FeatureGate::TopologyAwareHints);
    if auto && cache {
        return ControllerHeuristic::Auto;
    }
    if !auto && valid_traffic_distribution(traffic_distribution, gates) {
        let heuristic =
            trafficdist::TrafficDistHeuristic::for_value(traffic_distribution, gates.version());
        if let trafficdist::TrafficDistHeuristic::PreferClose { node_hints } = heuristic {
            return ControllerHeuristic::TrafficDistribution {
                value: traffic_distribution.cloned(),
                node_hints,
            };
        }
    }
    let why = if auto {
        NoHeuristicReason::AutoGateOff
    } else if let Some(td) = traffic_distribution {
        let value = td.as_str().to_string();
        if gates.version().minor < 30 {
            NoHeuristicReason::TrafficDistributionTooEarly { value }
        } else if !gates.enabled(FeatureGate::ServiceTrafficDistribution) {
            NoHeuristicReason::TrafficDistributionGateOff { value }
        } else if td.is_prefer_same()
            && gates.version().minor >= 33
            && !gates.enabled(FeatureGate::PreferSameTrafficDistribution)
        {
            NoHeuristicReason::PreferSameGateOff { value }
        } else {
            NoHeuristicReason::TrafficDistributionUnknown { value }
        }
    } else {
        match controller_annotation(annotations, gates) {
            Some((key, value)) => NoHeuristicReason::AnnotationNotAuto {
                key,
                value: value.to_string(),
            },
            None => NoHeuristicReason::NothingAsks,
        }
    };
    ControllerHeuristic::None { why }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::version::KubeVersion;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn gates(minor: u32) -> FeatureGates {
        FeatureGates::defaults(KubeVersion::new(minor))
    }

    #[test]
    fn annotation_values_per_version() {
        let old = ANNOTATION_TOPOLOGY_AWARE_HINTS;
        let new = ANNOTATION_TOPOLOGY_MODE;
        assert!(hints_enabled(&ann(&[(old, "auto")]), &gates(21)));
        assert!(!hints_enabled(&ann(&[(old, "Auto")]), &gates(21)));
        assert!(hints_enabled(&ann(&[(old, "Auto")]), &gates(22)));
        assert!(!hints_enabled(&ann(&[(new, "Auto")]), &gates(26)));
        assert!(hints_enabled(&ann(&[(new, "Auto")]), &gates(27)));
        // The old key wins whenever present, even when empty.
        assert!(!hints_enabled(
            &ann(&[(old, ""), (new, "Auto")]),
            &gates(33)
        ));
        assert!(hints_enabled(
            &ann(&[(old, "auto"), (new, "Disabled")]),
            &gates(33)
        ));
        for other in ["Disabled", "disabled", "enabled", "aUto", "PreferZone", ""] {
            assert!(!hints_enabled(&ann(&[(new, other)]), &gates(37)), "{other}");
        }
    }

    #[test]
    fn heuristic_choice() {
        let auto = ann(&[(ANNOTATION_TOPOLOGY_MODE, "Auto")]);
        assert_eq!(
            choose_heuristic(&auto, Some(&TrafficDistribution::PreferClose), &gates(33)),
            ControllerHeuristic::Auto
        );
        // Gate off on 1.23: Auto asked but no cache; trafficDistribution does not exist.
        assert!(matches!(
            choose_heuristic(
                &ann(&[(ANNOTATION_TOPOLOGY_AWARE_HINTS, "auto")]),
                None,
                &gates(23)
            ),
            ControllerHeuristic::None { .. }
        ));
        assert_eq!(
            choose_heuristic(
                &BTreeMap::new(),
                Some(&TrafficDistribution::PreferSameNode),
                &gates(34)
            ),
            ControllerHeuristic::TrafficDistribution {
                value: Some(TrafficDistribution::PreferSameNode),
                node_hints: true
            }
        );
        // PreferSameZone with its gate off (1.33 default) strips hints.
        assert!(matches!(
            choose_heuristic(
                &BTreeMap::new(),
                Some(&TrafficDistribution::PreferSameZone),
                &gates(33)
            ),
            ControllerHeuristic::None { .. }
        ));
        // PreferClose on 1.30 needs the alpha gate.
        assert!(matches!(
            choose_heuristic(
                &BTreeMap::new(),
                Some(&TrafficDistribution::PreferClose),
                &gates(30)
            ),
            ControllerHeuristic::None { .. }
        ));
        let mut g = gates(30);
        g.set(FeatureGate::ServiceTrafficDistribution, true)
            .unwrap();
        assert_eq!(
            choose_heuristic(
                &BTreeMap::new(),
                Some(&TrafficDistribution::PreferClose),
                &g
            ),
            ControllerHeuristic::TrafficDistribution {
                value: Some(TrafficDistribution::PreferClose),
                node_hints: false
            }
        );
    }
}
