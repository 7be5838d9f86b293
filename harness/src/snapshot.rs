//! Golden snapshots: the backend-independent facts of every step (hints per zone, and per
//! node the multiset of endpoint identities routed to), one file per case in
//! `fixtures/snapshots/<case>.snap` (insta format), versions with equal facts grouped.
//!
//! `cargo test` writes and compares them with insta (`cargo insta review` accepts changes);
//! the runner's `snapshot` check reads the same file and compares one step on one version.

use std::collections::BTreeMap;
use std::path::Path;

use crate::backend::Applied;
use crate::case::format_versions;
use crate::check::identity::{format_ids, Normalized};
use crate::model::KubeVersion;

/// The snapshot block of one step on one version.
pub fn render_step(applied: &Applied, norm: &Normalized, model_note: Option<&str>) -> String {
    let mut out = String::new();
    if let Applied::Rejected(message) = applied {
        out.push_str(&format!("rejected: {message}\n"));
    }
    if !norm.service_exists {
        out.push_str("service: absent\n");
    }
    match &norm.hints {
        None => out.push_str("hints: none\n"),
        Some(zones) => {
            out.push_str("hints:\n");
            for (zone, ids) in zones {
                let zone = if zone.is_empty() { "\"\"" } else { zone };
                out.push_str(&format!("  {zone}: {}\n", format_ids(ids)));
            }
        }
    }
    if !norm.node_hints.is_empty() {
        out.push_str("node hints:\n");
        for (node, ids) in &norm.node_hints {
            out.push_str(&format!("  {node}: {}\n", format_ids(ids)));
        }
    }
    if let Some(note) = model_note {
        out.push_str(&format!("# {note}\n"));
    }
    out.push_str(&format!("slices: {:?}\n", norm.slices));
    out.push_str("routes:\n");
    for (node, ids) in &norm.routes {
        out.push_str(&format!("  {node}: {}\n", format_ids(ids)));
    }
    if let Some(ext) = &norm.external_routes {
        out.push_str("external routes:\n");
        for (node, ids) in ext {
            out.push_str(&format!("  {node}: {}\n", format_ids(ids)));
        }
    }
    out
}

/// One rendered block: which step, which version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// Step name.
    pub step: String,
    /// Version.
    pub version: KubeVersion,
    /// The block.
    pub block: String,
}

/// The whole snapshot of a case: for each step (in order), versions grouped by equal blocks.
pub fn render_case(case: &str, steps: &[String], blocks: &[Rendered]) -> String {
    let mut out = format!("case: {case}\n");
    for step in steps {
        out.push_str(&format!("\n== step: {step}\n"));
        let mut groups: Vec<(Vec<KubeVersion>, &str)> = Vec::new();
        let mut of_step: Vec<&Rendered> = blocks.iter().filter(|b| &b.step == step).collect();
        of_step.sort_by_key(|b| b.version);
        for b in of_step {
            match groups.iter_mut().find(|(_, block)| *block == b.block) {
                Some((versions, _)) => versions.push(b.version),
                None => groups.push((vec![b.version], &b.block)),
            }
        }
        for (versions, block) in groups {
            out.push_str(&format!(
                "-- kubernetes: {}\n{block}",
                format_versions(&versions)
            ));
        }
    }
    out
}

/// A parsed golden snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Golden {
    /// Step → (minors, block).
    steps: BTreeMap<String, Vec<(Vec<u32>, String)>>,
}

impl Golden {
    /// Parses a snapshot file's text (an insta header, if any, is skipped).
    pub fn parse(text: &str) -> Golden {
        let body = strip_insta_header(text);
        let mut golden = Golden::default();
        let mut step: Option<String> = None;
        let mut current: Option<(Vec<u32>, String)> = None;
        let flush = |golden: &mut Golden,
                     step: &Option<String>,
                     current: &mut Option<(Vec<u32>, String)>| {
            if let (Some(s), Some((versions, block))) = (step, current.take()) {
                // Blocks are separated by a blank line that belongs to neither.
                let block = format!("{}\n", block.trim_end_matches('\n'));
                golden
                    .steps
                    .entry(s.clone())
                    .or_default()
                    .push((versions, block));
            }
        };
        for line in body.lines() {
            if let Some(name) = line.strip_prefix("== step: ") {
                flush(&mut golden, &step, &mut current);
                step = Some(name.trim().to_string());
            } else if let Some(versions) = line.strip_prefix("-- kubernetes: ") {
                flush(&mut golden, &step, &mut current);
                current = Some((parse_versions(versions), String::new()));
            } else if let Some((_, block)) = &mut current {
                block.push_str(line);
                block.push('\n');
            }
        }
        flush(&mut golden, &step, &mut current);
        golden
    }

    /// Reads `<dir>/<case>.snap`; `None` when there is no such file.
    pub fn load(dir: &Path, case: &str) -> Option<Golden> {
        std::fs::read_to_string(dir.join(format!("{case}.snap")))
            .ok()
            .map(|t| Golden::parse(&t))
    }

    /// The block of `step` on `version`.
    pub fn block(&self, step: &str, version: KubeVersion) -> Option<&str> {
        self.steps
            .get(step)?
            .iter()
            .find(|(versions, _)| versions.contains(&version.minor))
            .map(|(_, b)| b.as_str())
    }
}

fn strip_insta_header(text: &str) -> &str {
    if let Some(rest) = text.strip_prefix("---\n") {
        if let Some(end) = rest.find("\n---\n") {
            return &rest[end + 5..];
        }
    }
    text
}

fn parse_versions(text: &str) -> Vec<u32> {
    let minor = |s: &str| {
        s.trim()
            .strip_prefix("1.")
            .and_then(|m| m.parse::<u32>().ok())
    };
    let mut out = Vec::new();
    for part in text.split(',') {
        match part.split_once('–') {
            Some((a, b)) => {
                if let (Some(a), Some(b)) = (minor(a), minor(b)) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(minor(part)),
        }
    }
    out
}

/// A line diff showing only changed lines (`-` golden, `+` observed) with a line of context.
pub fn line_diff(golden: &str, observed: &str) -> String {
    let a: Vec<&str> = golden.lines().collect();
    let b: Vec<&str> = observed.lines().collect();
    // LCS table.
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    let changed: Vec<bool> = ops.iter().map(|(c, _)| *c != ' ').collect();
    let mut out = Vec::new();
    for (k, (c, line)) in ops.iter().enumerate() {
        let near =
            changed[k] || (k > 0 && changed[k - 1]) || (k + 1 < changed.len() && changed[k + 1]);
        if near {
            out.push(format!("{c} {line}"));
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_round_trip() {
        let blocks = vec![
            Rendered {
                step: "s".into(),
                version: KubeVersion::new(21),
                block: "x\n".into(),
            },
            Rendered {
                step: "s".into(),
                version: KubeVersion::new(22),
                block: "y\n".into(),
            },
            Rendered {
                step: "s".into(),
                version: KubeVersion::new(23),
                block: "y\n".into(),
            },
        ];
        let text = render_case("c", &["s".into()], &blocks);
        assert!(text.contains("-- kubernetes: 1.22–1.23\ny\n"), "{text}");
        let golden = Golden::parse(&format!("---\nsource: x\n---\n{text}"));
        assert_eq!(golden.block("s", KubeVersion::new(23)), Some("y\n"));
        assert_eq!(golden.block("s", KubeVersion::new(21)), Some("x\n"));
        assert_eq!(golden.block("s", KubeVersion::new(30)), None);
    }

    #[test]
    fn line_diff_shows_changes_with_context() {
        let d = line_diff("a\nb\nc\nd\ne\n", "a\nb\nX\nd\ne\n");
        assert_eq!(d, "  b\n- c\n+ X\n  d");
    }
}
