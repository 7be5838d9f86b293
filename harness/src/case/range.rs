//! Kubernetes version ranges as written in case files: `"*"`, `"1.21"`, `">=1.27"`,
//! `">=1.23, <1.30"`, `"1.30-1.32"`.

use std::fmt;

use crate::model::KubeVersion;

/// An inclusive range of minor versions (the intersection of the clauses written).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionRange {
    /// Lowest minor included.
    pub lo: u32,
    /// Highest minor included.
    pub hi: u32,
    /// The text as written.
    pub text: String,
}

impl VersionRange {
    /// Every version.
    pub fn any() -> Self {
        VersionRange {
            lo: 0,
            hi: u32::MAX,
            text: "*".into(),
        }
    }

    /// Whether `version` is in the range.
    pub fn contains(&self, version: KubeVersion) -> bool {
        (self.lo..=self.hi).contains(&version.minor)
    }

    /// The supported versions (1.21–1.37) in the range, oldest first.
    pub fn supported(&self) -> Vec<KubeVersion> {
        KubeVersion::all().filter(|v| self.contains(*v)).collect()
    }

    /// Parses a range; the error says what was expected.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut range = VersionRange::any();
        range.text = text.trim().to_string();
        for clause in text.split(',') {
            let clause = clause.trim();
            if clause.is_empty() {
                return Err(format!("empty clause in version range `{text}`"));
            }
            if clause == "*" {
                continue;
            }
            let (lo, hi) = if let Some(rest) = clause.strip_prefix(">=") {
                (minor(rest, text)?, u32::MAX)
            } else if let Some(rest) = clause.strip_prefix("<=") {
                (0, minor(rest, text)?)
            } else if let Some(rest) = clause.strip_prefix('>') {
                (minor(rest, text)?.saturating_add(1), u32::MAX)
            } else if let Some(rest) = clause.strip_prefix('<') {
                let m = minor(rest, text)?;
                if m == 0 {
                    return Err(format!("`{clause}` matches nothing"));
                }
                (0, m - 1)
            } else if let Some(rest) = clause.strip_prefix('=') {
                let m = minor(rest, text)?;
                (m, m)
            } else if let Some((a, b)) = clause.split_once('-') {
                (minor(a, text)?, minor(b, text)?)
            } else {
                let m = minor(clause, text)?;
                (m, m)
            };
            range.lo = range.lo.max(lo);
            range.hi = range.hi.min(hi);
        }
        Ok(range)
    }
}

fn minor(text: &str, whole: &str) -> Result<u32, String> {
    let t = text.trim().trim_start_matches('v');
    t.strip_prefix("1.")
        .and_then(|m| m.parse::<u32>().ok())
        .ok_or_else(|| {
            format!(
                "`{whole}` is not a version range; expected clauses such as `1.21`, `>=1.27`, `<1.30`, `1.30-1.32` or `*`, separated by commas"
            )
        })
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Formats a set of versions compactly: `1.21, 1.23–1.37`.
pub fn format_versions(versions: &[KubeVersion]) -> String {
    let mut sorted: Vec<u32> = versions.iter().map(|v| v.minor).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if start == end {
            parts.push(format!("1.{start}"));
        } else {
            parts.push(format!("1.{start}–1.{end}"));
        }
        i += 1;
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges() {
        let r = VersionRange::parse(">=1.23, <1.30").ok();
        assert_eq!(r.as_ref().map(|r| (r.lo, r.hi)), Some((23, 29)));
        let r = VersionRange::parse("1.30-1.32").ok();
        assert_eq!(r.map(|r| (r.lo, r.hi)), Some((30, 32)));
        assert!(VersionRange::parse("1.x").is_err());
        assert!(VersionRange::parse(">=1.40").is_ok_and(|r| r.supported().is_empty()));
        let all = VersionRange::parse("*").map(|r| r.supported().len()).ok();
        assert_eq!(all, Some(17));
    }

    #[test]
    fn formats_version_sets() {
        let v: Vec<KubeVersion> = [21, 23, 24, 25, 37].map(KubeVersion::new).to_vec();
        assert_eq!(format_versions(&v), "1.21, 1.23–1.25, 1.37");
    }
}
