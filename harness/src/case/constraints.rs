//! The constraint assertions of a step: routes as constraints instead of exact sets, shares
//! of traffic, hint coverage, and the Service's events (what upstream's e2e and unit tests
//! assert without naming every endpoint).

use std::fmt;

/// A constraint on the endpoints a node routes to; every part that is set must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteConstraint {
    /// Every routed endpoint is in the client node's zone.
    pub same_zone: bool,
    /// Every routed endpoint runs on the client node.
    pub same_node: bool,
    /// Every routed endpoint is one of these identities (sorted, distinct).
    pub subset_of: Option<Vec<String>>,
    /// At least this many endpoints (`not_empty` is 1).
    pub at_least: Option<usize>,
    /// At most this many endpoints.
    pub at_most: Option<usize>,
    /// The endpoints span at least this many zones.
    pub zones_at_least: Option<usize>,
}

/// A range of percentages, in hundredths of a percent (`65%` is 6500), bounds inclusive
/// unless strict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareRange {
    /// Lower bound.
    pub min: u32,
    /// Whether the lower bound is excluded (`> 65%`).
    pub min_strict: bool,
    /// Upper bound.
    pub max: u32,
    /// Whether the upper bound is excluded (`< 10%`).
    pub max_strict: bool,
}

impl ShareRange {
    /// Parses `">= 65%"`, `"> 50%"`, `"<= 10%"`, `"< 10%"`, `"40-60%"`, `"40%-60%"`,
    /// `"100%"` (`≥`, `≤` and `–` also accepted; the `%` is required).
    pub fn parse(text: &str) -> Result<ShareRange, String> {
        let expected = "expected a percentage range such as \">= 65%\", \"40-60%\" or \"100%\"";
        let t = text
            .trim()
            .replace('≥', ">=")
            .replace('≤', "<=")
            .replace('–', "-");
        if !t.ends_with('%') {
            return Err(format!("share `{text}` has no `%`; {expected}"));
        }
        let percent = |s: &str| -> Result<u32, String> {
            let s = s.trim().trim_end_matches('%').trim();
            let value: f64 = s
                .parse()
                .map_err(|_| format!("share `{text}`: `{s}` is not a number; {expected}"))?;
            if !(0.0..=100.0).contains(&value) {
                return Err(format!("share `{text}`: {value} is not within 0–100%"));
            }
            Ok((value * 100.0).round() as u32)
        };
        let full = ShareRange {
            min: 0,
            min_strict: false,
            max: 10_000,
            max_strict: false,
        };
        for (op, strict, lower) in [
            (">=", false, true),
            ("<=", false, false),
            (">", true, true),
            ("<", true, false),
        ] {
            if let Some(rest) = t.strip_prefix(op) {
                let v = percent(rest)?;
                return Ok(if lower {
                    ShareRange {
                        min: v,
                        min_strict: strict,
                        ..full
                    }
                } else {
                    ShareRange {
                        max: v,
                        max_strict: strict,
                        ..full
                    }
                });
            }
        }
        if let Some((low, high)) = t.split_once('-') {
            let (min, max) = (percent(low)?, percent(high)?);
            if min > max {
                return Err(format!("share `{text}`: the range is empty"));
            }
            return Ok(ShareRange { min, max, ..full });
        }
        let v = percent(&t)?;
        Ok(ShareRange {
            min: v,
            max: v,
            ..full
        })
    }

    /// Whether `hundredths` (of a percent) is in the range.
    pub fn contains(&self, hundredths: u32) -> bool {
        let above = if self.min_strict {
            hundredths > self.min
        } else {
            hundredths >= self.min
        };
        let below = if self.max_strict {
            hundredths < self.max
        } else {
            hundredths <= self.max
        };
        above && below
    }
}

/// `65%`, `33.33%`: a share in hundredths of a percent, as written in cases.
pub fn format_percent(hundredths: u32) -> String {
    if hundredths.is_multiple_of(100) {
        format!("{}%", hundredths / 100)
    } else {
        format!("{:.2}%", f64::from(hundredths) / 100.0)
    }
}

impl fmt::Display for ShareRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (lo, hi) = (
            self.min > 0 || self.min_strict,
            self.max < 10_000 || self.max_strict,
        );
        match (lo, hi) {
            _ if self.min == self.max && !self.min_strict && !self.max_strict => {
                write!(f, "{}", format_percent(self.min))
            }
            (true, true) => write!(
                f,
                "{}–{}",
                format_percent(self.min),
                format_percent(self.max)
            ),
            (true, false) => {
                write!(
                    f,
                    "{} {}",
                    if self.min_strict { ">" } else { ">=" },
                    format_percent(self.min)
                )
            }
            (false, true) => {
                write!(
                    f,
                    "{} {}",
                    if self.max_strict { "<" } else { "<=" },
                    format_percent(self.max)
                )
            }
            (false, false) => write!(f, "0–100%"),
        }
    }
}

/// Shares of the requests sent from one node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShareExpect {
    /// Share answered in the client node's zone.
    pub same_zone: Option<ShareRange>,
    /// Share answered on the client node.
    pub same_node: Option<ShareRange>,
    /// Identity (node name) → share answered by the endpoints on it.
    pub endpoints: Vec<(String, ShareRange)>,
    /// Zone → share answered by endpoints in it.
    pub zones: Vec<(String, ShareRange)>,
}

/// An event expected (or, `absent`, not expected) on the Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventExpect {
    /// Reason.
    pub reason: String,
    /// `Normal` or `Warning`, when given.
    pub event_type: Option<String>,
    /// Exact message, when given.
    pub message: Option<String>,
    /// No matching event may have been recorded.
    pub absent: bool,
}

impl fmt::Display for EventExpect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(t) = &self.event_type {
            write!(f, "{t} ")?;
        }
        write!(f, "{}", self.reason)?;
        if let Some(m) = &self.message {
            write!(f, " {m:?}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_ranges_parse_every_written_form() {
        let r = ShareRange::parse(">= 65%").unwrap_or_else(|e| panic!("{e}"));
        assert!(r.contains(6500) && r.contains(10_000) && !r.contains(6499));
        assert_eq!(r.to_string(), ">= 65%");
        let r = ShareRange::parse("40-60%").unwrap_or_else(|e| panic!("{e}"));
        assert!(r.contains(4000) && r.contains(6000) && !r.contains(6001));
        assert_eq!(r.to_string(), "40%–60%");
        let r = ShareRange::parse("40% – 60%").unwrap_or_else(|e| panic!("{e}"));
        assert!(r.contains(5000));
        let r = ShareRange::parse("< 10%").unwrap_or_else(|e| panic!("{e}"));
        assert!(r.contains(999) && !r.contains(1000));
        let r = ShareRange::parse("> 50%").unwrap_or_else(|e| panic!("{e}"));
        assert!(!r.contains(5000) && r.contains(5001));
        let r = ShareRange::parse("≥ 33.33%").unwrap_or_else(|e| panic!("{e}"));
        assert!(r.contains(3333) && !r.contains(3332));
        let r = ShareRange::parse("100%").unwrap_or_else(|e| panic!("{e}"));
        assert!(r.contains(10_000) && !r.contains(9999));
        assert_eq!(r.to_string(), "100%");
    }

    #[test]
    fn bad_share_ranges_say_what_is_expected() {
        for bad in ["65", ">= x%", "60-40%", "120%", ""] {
            let e = ShareRange::parse(bad).err().unwrap_or_default();
            assert!(!e.is_empty(), "{bad:?} was accepted");
        }
        assert!(ShareRange::parse("65")
            .err()
            .unwrap_or_default()
            .contains("expected a percentage range"));
    }
}
