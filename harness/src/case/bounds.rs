//! Bounds on every number in a case file, checked when the file is loaded, before anything is
//! allocated from a number: a case file is input, and a count of 2^63 must be one clear line
//! (exit code 2), never a capacity overflow, an allocation failure or an hour of simulation.
//!
//! The bounds are listed in `docs/cases.md` ("Bounds"); each error message names the bound it
//! breaks. They are far above what a topology test needs (the catalog's largest case has
//! 8 endpoints) and low enough that the sim runs any valid case in seconds.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserialize, Deserializer, Visitor};

use super::located::Located;
use super::CaseError;
use crate::input::SourceLocation;

/// Default size budget of one case file (`--max-case-bytes` raises it): the catalog's largest
/// file is under 4 KiB.
pub const DEFAULT_MAX_CASE_FILE_BYTES: u64 = 1 << 20;

/// A named upper bound, as error messages and `docs/cases.md` state it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bound {
    /// What is bounded, e.g. `endpoints per node`.
    pub name: &'static str,
    /// The largest value allowed.
    pub max: u64,
}

/// Nodes in `cluster.nodes`.
pub const NODES: Bound = Bound {
    name: "nodes per case",
    max: 5_000,
};
/// Steps in a case.
pub const STEPS: Bound = Bound {
    name: "steps per case",
    max: 1_000,
};
/// Nodes × steps: after every step the sim and the checks visit every node (and look nodes
/// up by name), whatever the endpoints (measured: 5,000 nodes cost about 1 s per step in a
/// debug build).
pub const NODE_STEPS: Bound = Bound {
    name: "node-steps per case (nodes × steps)",
    max: 20_000,
};
/// `endpoints: {node: N}`, and `not_ready`/`terminating` counts.
pub const ENDPOINTS_PER_NODE: Bound = Bound {
    name: "endpoints per node",
    max: 10_000,
};
/// Endpoints that exist at once: the pods (`endpoints` summed, or `scale`) plus the
/// hand-written endpoints in force after any step. The sim enforces it too.
pub const ENDPOINTS: Bound = Bound {
    name: "endpoints in the cluster at once",
    max: 100_000,
};
/// The sim's work for a case, per version run: after every step it computes every node's
/// routes over every endpoint, and the controller and the checks do about ten nodes' worth
/// of work per endpoint; so endpoints in force × (nodes + [`PER_ENDPOINT_WORK`]), summed over
/// the steps, is bounded (measured: under 2 s per version in a debug build at the bound).
pub const NODE_ENDPOINT_PAIRS: Bound = Bound {
    name: "node-endpoint pairs per case (endpoints in force × (nodes + 10), summed over the steps)",
    max: 100_000,
};
/// The per-endpoint work of the controller and the checks, in node-route units.
pub const PER_ENDPOINT_WORK: u64 = 10;
/// Endpoints of one hand-written slice (the API server's limit for an EndpointSlice).
pub const SLICE_ENDPOINTS: Bound = Bound {
    name: "endpoints per EndpointSlice",
    max: 1_000,
};
/// `cluster.max_endpoints_per_slice` (kube-controller-manager accepts 1–1000).
pub const MAX_ENDPOINTS_PER_SLICE: Bound = Bound {
    name: "max_endpoints_per_slice",
    max: 1_000,
};
/// Allocatable CPU of a node, in millicores (10,000 cores: above any machine built).
pub const CPU_MILLIS: Bound = Bound {
    name: "millicores of CPU per node (10,000 cores)",
    max: 10_000_000,
};
/// Endpoint identities one expectation list expands to (`node*N` counts N).
pub const IDENTITIES_PER_LIST: Bound = Bound {
    name: "endpoint identities per expectation list",
    max: 100_000,
};
/// Endpoint identities all expectations of a case expand to together.
pub const IDENTITIES_PER_CASE: Bound = Bound {
    name: "endpoint identities per case",
    max: 1_000_000,
};

/// Every bound, for documentation and tests.
pub const ALL: [Bound; 11] = [
    NODES,
    STEPS,
    NODE_STEPS,
    ENDPOINTS_PER_NODE,
    ENDPOINTS,
    NODE_ENDPOINT_PAIRS,
    SLICE_ENDPOINTS,
    MAX_ENDPOINTS_PER_SLICE,
    CPU_MILLIS,
    IDENTITIES_PER_LIST,
    IDENTITIES_PER_CASE,
];

/// `12345678` as `12,345,678`.
pub fn thousands(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Bound {
    /// The message for `what` (e.g. ``endpoints count for `worker` ``) found to be `found`.
    pub fn exceeded(&self, what: &str, found: impl fmt::Display) -> String {
        format!(
            "{what} is {found}, above the bound of {} {} (see \"Bounds\" in docs/cases.md)",
            thousands(u128::from(self.max)),
            self.name
        )
    }

    /// `value` as a `usize` within `0..=max`, or the message naming the bound.
    pub fn check(&self, value: Count, what: &str) -> Result<usize, String> {
        if value.0 < 0 {
            return Err(format!("{what} must be 0 or more, found {}", value.0));
        }
        if value.0 > i128::from(self.max) {
            return Err(self.exceeded(what, value));
        }
        usize::try_from(value.0).map_err(|_| self.exceeded(what, value))
    }
}

/// A whole number as written in a case file, of any size: read without overflow so that a
/// too-large value is reported against its bound, not as a parser error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Count(pub i128);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
                Ok(Count(i128::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                Ok(Count(i128::from(v)))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Count, E> {
                Ok(Count(v))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Count, E> {
                Ok(Count(i128::try_from(v).unwrap_or(i128::MAX)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Count, E> {
                // 1e30 is a (too large) whole number; 1.5 and NaN are not whole numbers.
                if v.is_finite() && v.fract() == 0.0 {
                    // `as` saturates at i128's range, which is above every bound.
                    Ok(Count(v as i128))
                } else {
                    Err(E::invalid_value(de::Unexpected::Float(v), &self))
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == i128::MAX {
            // Saturated on reading: the number written was at least this large.
            f.write_str("above 10^38")
        } else {
            self.0.fmt(f)
        }
    }
}

/// `text` cut to at most 40 characters (with `…`), for echoing input in a message.
pub fn shorten(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &text[..at]).into(),
        None => text.into(),
    }
}

impl JsonSchema for Count {
    fn schema_name() -> Cow<'static, str> {
        "Count".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A whole number, 0 or more (see \"Bounds\" in docs/cases.md).",
            "type": "integer",
            "minimum": 0
        })
    }
}

/// Endpoints in force across the steps of a case: pods (set by `endpoints` or `scale`, kept
/// otherwise) plus hand-written endpoints (replaced by `slices`, kept otherwise).
#[derive(Debug)]
pub(super) struct EndpointTally {
    nodes: u128,
    pods: u128,
    hand: u128,
    pairs: u128,
}

impl EndpointTally {
    /// A tally for a case with `nodes` nodes.
    pub(super) fn new(nodes: usize) -> Self {
        EndpointTally {
            nodes: nodes as u128 + u128::from(PER_ENDPOINT_WORK),
            pods: 0,
            hand: 0,
            pairs: 0,
        }
    }

    /// Records one step's changes; the error when the endpoints in force exceed
    /// [`ENDPOINTS`] or the case's work exceeds [`NODE_ENDPOINT_PAIRS`] (reported once).
    pub(super) fn step(
        &mut self,
        origin: &str,
        step: &Located<impl Sized>,
        pods: Option<u128>,
        hand: Option<u128>,
    ) -> Option<CaseError> {
        if let Some(p) = pods {
            self.pods = p;
        }
        if let Some(h) = hand {
            self.hand = h;
        }
        let total = self.pods + self.hand;
        let at = SourceLocation::new(origin, step.line, step.column);
        if total > u128::from(ENDPOINTS.max) {
            let what = format!(
                "after this step, the endpoints ({} pods + {} hand-written)",
                self.pods, self.hand
            );
            return Some(CaseError::Invalid {
                at,
                message: ENDPOINTS.exceeded(&what, total),
            });
        }
        let before = self.pairs;
        self.pairs += self.nodes * total;
        let max = u128::from(NODE_ENDPOINT_PAIRS.max);
        (self.pairs > max && before <= max).then(|| CaseError::Invalid {
            at,
            message: NODE_ENDPOINT_PAIRS.exceeded(
                &format!(
                    "up to this step ({} nodes, {total} endpoints now), the sim's work",
                    self.nodes - u128::from(PER_ENDPOINT_WORK)
                ),
                format!("{} pairs", thousands(self.pairs)),
            ),
        })
    }
}

/// Parser options for case files: the parser's default budget (about a million events, far
/// above what [`DEFAULT_MAX_CASE_FILE_BYTES`] of case text produces) and strict booleans.
pub(super) fn parse_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: Some(serde_saphyr::Budget::default()),
        strict_booleans: true,
        with_snippet: false,
    }
}

/// Reads a case file within `max_bytes`: the budget is checked before reading (the file's
/// size) and while reading (a pipe or device has no size), and invalid UTF-8 is reported
/// with its line and column.
pub(super) fn read_case_text(path: &std::path::Path, max_bytes: u64) -> Result<String, CaseError> {
    use std::io::Read;
    let origin = path.display().to_string();
    let read_error = |message: String| CaseError::Read {
        path: origin.clone(),
        message,
    };
    let too_large = |size: String| {
        read_error(format!(
            "the file is {size} bytes, above the case-file budget of {} bytes \
             (--max-case-bytes raises it)",
            thousands(u128::from(max_bytes))
        ))
    };
    let file = std::fs::File::open(path).map_err(|e| read_error(e.to_string()))?;
    if let Ok(meta) = file.metadata() {
        if meta.is_dir() {
            return Err(read_error("is a directory, not a case file".into()));
        }
        if meta.len() > max_bytes {
            return Err(too_large(thousands(u128::from(meta.len()))));
        }
    }
    let mut bytes = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| read_error(e.to_string()))?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large(format!(
            "more than {}",
            thousands(u128::from(max_bytes))
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
        let column = String::from_utf8_lossy(&valid[line_start..])
            .chars()
            .count()
            + 1;
        CaseError::Invalid {
            at: SourceLocation::new(
                &origin,
                u32::try_from(line).unwrap_or(u32::MAX),
                u32::try_from(column).unwrap_or(u32::MAX),
            ),
            message: "the file is not valid UTF-8 (case files are UTF-8 text)".to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(10_000_000), "10,000,000");
    }

    #[test]
    fn check_names_the_bound_and_rejects_negatives() {
        assert_eq!(ENDPOINTS_PER_NODE.check(Count(10_000), "x"), Ok(10_000));
        let e = ENDPOINTS_PER_NODE.check(Count(10_001), "x").err();
        assert_eq!(
            e.as_deref(),
            Some("x is 10001, above the bound of 10,000 endpoints per node (see \"Bounds\" in docs/cases.md)")
        );
        let e = ENDPOINTS_PER_NODE.check(Count(-1), "x").err();
        assert_eq!(e.as_deref(), Some("x must be 0 or more, found -1"));
        assert!(ENDPOINTS.check(Count(i128::MAX), "x").is_err());
    }
}
