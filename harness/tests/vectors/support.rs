//! Helpers shared by the vector kinds: strict decoding, version placement, comparisons.

use std::collections::BTreeMap;
use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde_json::Value;
use topo_harness::model::{FeatureGate, FeatureGates, GateStatus, KubeVersion};

/// Decodes `value` strictly (the target types deny unknown fields).
pub fn decode<T: DeserializeOwned>(what: &str, value: &Value) -> Result<T, String> {
    serde_json::from_value(value.clone()).map_err(|e| format!("{what}: {e}"))
}

/// Fails with expected vs actual when they differ.
pub fn check<T: PartialEq + Debug>(what: &str, expected: &T, actual: &T) -> Result<(), String> {
    if expected == actual {
        Ok(())
    } else {
        Err(format!(
            "{what}:\n  expected: {expected:?}\n  actual:   {actual:?}"
        ))
    }
}

/// Parses a `version_model` such as `1.31+`, `1.24-1.26`, `1.23` into a range of minors.
pub fn version_range(model: Option<&str>) -> Result<(u32, u32), String> {
    let Some(model) = model else {
        return Ok((KubeVersion::OLDEST.minor, KubeVersion::NEWEST.minor));
    };
    let minor = |s: &str| -> Result<u32, String> {
        s.trim()
            .strip_prefix("1.")
            .and_then(|m| m.parse().ok())
            .ok_or_else(|| format!("version_model `{model}` is not understood"))
    };
    if let Some(from) = model.strip_suffix('+') {
        Ok((minor(from)?, KubeVersion::NEWEST.minor))
    } else if let Some((from, to)) = model.split_once('-') {
        Ok((minor(from)?, minor(to)?))
    } else {
        let m = minor(model)?;
        Ok((m, m))
    }
}

/// The newest version in `range` where every gate setting can hold: the gate exists and may
/// take the value, or it does not exist and the version behaves as the value says.
pub fn place(range: (u32, u32), settings: &BTreeMap<String, bool>) -> Result<FeatureGates, String> {
    let mut parsed = Vec::new();
    for (name, on) in settings {
        let gate = FeatureGate::from_name(name)
            .ok_or_else(|| format!("feature gate `{name}` is not known to the model"))?;
        parsed.push((gate, *on));
    }
    for minor in (range.0..=range.1).rev() {
        let version = KubeVersion::new(minor);
        if !version.is_supported() {
            continue;
        }
        let mut gates = FeatureGates::defaults(version);
        let fits = parsed.iter().all(|(gate, on)| match gate.status(version) {
            GateStatus::Absent => gate.default_enabled(version) == *on,
            GateStatus::Locked => *on,
            GateStatus::Default(_) => gates.set(*gate, *on).is_ok(),
        });
        if fits {
            return Ok(gates);
        }
    }
    Err(format!(
        "no version in 1.{}–1.{} supports the gate settings {settings:?}",
        range.0, range.1
    ))
}

/// Compares floats exactly, tolerating only transcription rounding (1e-12).
pub fn floats_match(expected: &BTreeMap<String, f64>, actual: &BTreeMap<String, f64>) -> bool {
    expected.len() == actual.len()
        && expected.iter().all(|(k, v)| {
            actual
                .get(k)
                .is_some_and(|a| a == v || (a - v).abs() < 1e-12)
        })
}
