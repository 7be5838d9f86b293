//! Golden snapshots: the backend-independent facts of every step (hints per zone, and per
//! node the multiset of endpoint identities routed to), one file per case in
//! `fixtures/snapshots/<case>.snap` (insta format), versions with equal facts grouped.
//!
//! `cargo test` writes and compares them with insta (`cargo insta review` accepts changes);
//! the runner's `snapshot` check reads the same file and compares one step on one version.
//! The built-in catalog's goldens are embedded in the binary; a user's cases have goldens only
//! in a `--snapshots DIR` of theirs, written by `--update-snapshots` ([`updated_text`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::backend::Applied;
use crate::case::{builtin_golden, format_versions};
use crate::check::identity::{format_ids, Normalized};
use crate::model::KubeVersion;

/// The snapshot block of one step on one version.
pub fn render_step(applied: &Applied, norm: &Normalized, model_note: Option<&str>) -> String {
    let mut out = String::new();
    // Upstream's topology cache rewrites the hints of the slices it creates or updates only;
    // unchanged slices keep theirs and count toward the zones' allocations
    // (k8s.io/endpointslice topologycache.AddHints). With several slices, which endpoints
    // carry which zone — and so which ones a node routes to — depends on the order the pods
    // became ready: what every correct controller produces is the count per zone.
    let by_count = norm.slices.len() > 1 && norm.hints.is_some();
    let ids = |ids: &[String]| {
        if by_count {
            ids.len().to_string()
        } else {
            format_ids(ids)
        }
    };
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
            for (zone, hinted) in zones {
                let zone = if zone.is_empty() { "\"\"" } else { zone };
                out.push_str(&format!("  {zone}: {}\n", ids(hinted)));
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
    if by_count {
        out.push_str("# several slices: hints and routes as counts (which endpoints depends on the order pods became ready)\n");
    }
    out.push_str("routes:\n");
    for (node, routed) in &norm.routes {
        out.push_str(&format!("  {node}: {}\n", ids(routed)));
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
    /// Step → (minors, block, 1-based line of the block's first line in the file).
    steps: BTreeMap<String, Vec<(Vec<u32>, String, usize)>>,
}

impl Golden {
    /// Parses a snapshot file's text (an insta header, if any, is skipped).
    pub fn parse(text: &str) -> Golden {
        let (header, body) = split_insta_header(text);
        let first_line = header.lines().count() + 1;
        let mut golden = Golden::default();
        let mut step: Option<String> = None;
        let mut current: Option<(Vec<u32>, String, usize)> = None;
        let flush = |golden: &mut Golden,
                     step: &Option<String>,
                     current: &mut Option<(Vec<u32>, String, usize)>| {
            if let (Some(s), Some((versions, block, line))) = (step, current.take()) {
                // Blocks are separated by a blank line that belongs to neither.
                let block = format!("{}\n", block.trim_end_matches('\n'));
                golden
                    .steps
                    .entry(s.clone())
                    .or_default()
                    .push((versions, block, line));
            }
        };
        for (i, line) in body.lines().enumerate() {
            if let Some(name) = line.strip_prefix("== step: ") {
                flush(&mut golden, &step, &mut current);
                step = Some(name.trim().to_string());
            } else if let Some(versions) = line.strip_prefix("-- kubernetes: ") {
                flush(&mut golden, &step, &mut current);
                current = Some((parse_versions(versions), String::new(), first_line + i + 1));
            } else if let Some((_, block, _)) = &mut current {
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
        self.located_block(step, version).map(|(b, _)| b)
    }

    /// The block of `step` on `version`, with the line of the file it starts on.
    pub fn located_block(&self, step: &str, version: KubeVersion) -> Option<(&str, usize)> {
        self.steps
            .get(step)?
            .iter()
            .find(|(versions, _, _)| versions.contains(&version.minor))
            .map(|(_, b, line)| (b.as_str(), *line))
    }

    /// Every (version, block) of `step`.
    fn blocks(&self, step: &str) -> impl Iterator<Item = (KubeVersion, &str)> {
        self.steps
            .get(step)
            .into_iter()
            .flatten()
            .flat_map(|(v, b, _)| {
                v.iter()
                    .map(move |minor| (KubeVersion::new(*minor), b.as_str()))
            })
    }
}

/// An insta header (`---` … `---`, with its closing line) and the rest.
fn split_insta_header(text: &str) -> (&str, &str) {
    if let Some(rest) = text.strip_prefix("---\n") {
        if let Some(end) = rest.find("\n---\n") {
            return text.split_at(4 + end + 5);
        }
    }
    ("", text)
}

/// Where the `snapshot` check finds each case's golden. A case without one gets no
/// `snapshot` check (goldens are opt-in for a user's cases).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Goldens {
    /// `<dir>/<case>.snap`, for every case (`--snapshots DIR`).
    Dir(PathBuf),
    /// The goldens embedded in the binary, for these built-in cases only.
    BuiltIn(BTreeSet<String>),
}

/// One case's golden, and how to name and fix it in messages.
#[derive(Clone, Debug)]
pub struct CaseGolden {
    /// The file, for messages.
    pub path: String,
    /// The parsed golden.
    pub golden: Golden,
    /// How to accept a change.
    pub fix: &'static str,
}

impl Goldens {
    /// The golden of `case`, if it has one.
    pub fn golden(&self, case: &str) -> Option<CaseGolden> {
        match self {
            Goldens::Dir(dir) => {
                let path = dir.join(format!("{case}.snap"));
                let text = std::fs::read_to_string(&path).ok()?;
                Some(CaseGolden {
                    path: path.display().to_string(),
                    golden: Golden::parse(&text),
                    fix: "if the change is right, run again with --update-snapshots to write it",
                })
            }
            Goldens::BuiltIn(names) if names.contains(case) => Some(CaseGolden {
                path: format!("fixtures/snapshots/{case}.snap (built in)"),
                golden: Golden::parse(builtin_golden(case)?),
                fix: "in the repository: `cargo test -p topo-harness --test catalog`, then `cargo insta review` to accept",
            }),
            Goldens::BuiltIn(_) => None,
        }
    }
}

/// The text of `case`'s golden after a run: the blocks observed in `rendered` replace those
/// of the same step and version in `existing` (the file's previous text, whose insta header is
/// kept); versions not run keep their blocks; steps the case no longer has are dropped.
pub fn updated_text(
    case: &str,
    steps: &[String],
    existing: Option<&str>,
    rendered: &[Rendered],
) -> String {
    let (header, golden) = match existing {
        Some(text) => (split_insta_header(text).0, Golden::parse(text)),
        None => ("", Golden::default()),
    };
    let mut blocks: BTreeMap<(String, KubeVersion), String> = BTreeMap::new();
    for step in steps {
        for (version, block) in golden.blocks(step) {
            blocks.insert((step.clone(), version), block.to_string());
        }
    }
    for r in rendered {
        blocks.insert((r.step.clone(), r.version), r.block.clone());
    }
    let merged: Vec<Rendered> = blocks
        .into_iter()
        .map(|((step, version), block)| Rendered {
            step,
            version,
            block,
        })
        .collect();
    format!("{header}{}", render_case(case, steps, &merged))
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

/// A line diff of a golden block and the observed one, as insta shows it: only the changed
/// lines with one line of context, each with its line number in the golden file (`first_line`
/// is where the block starts; the observed block would start there too), `-` golden,
/// `+` observed.
pub fn line_diff(golden: &str, observed: &str, first_line: usize) -> String {
    use similar::{ChangeTag, TextDiff};
    let diff = TextDiff::from_lines(golden, observed);
    let mut out = Vec::new();
    for (i, group) in diff.grouped_ops(1).iter().enumerate() {
        if i > 0 {
            out.push("     ┈┈┈┈┈┼┈┈┈┈".to_string());
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let number = |n: Option<usize>| {
                    n.map(|n| format!("{:>5}", n + first_line))
                        .unwrap_or_else(|| " ".repeat(5))
                };
                let sign = match change.tag() {
                    ChangeTag::Delete => '-',
                    ChangeTag::Insert => '+',
                    ChangeTag::Equal => ' ',
                };
                out.push(format!(
                    "{}{} │{sign}{}",
                    number(change.old_index()),
                    number(change.new_index()),
                    change.value().trim_end_matches('\n')
                ));
            }
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
    fn line_diff_shows_changes_with_context_and_line_numbers() {
        let d = line_diff("a\nb\nc\nd\ne\n", "a\nb\nX\nd\ne\n", 10);
        assert_eq!(
            d,
            "   11   11 │ b\n   12      │-c\n        12 │+X\n   13   13 │ d"
        );
    }

    #[test]
    fn golden_blocks_know_their_file_line() {
        let text = "---\nsource: x\n---\ncase: c\n\n== step: s\n-- kubernetes: 1.21\nx\ny\n";
        let golden = Golden::parse(text);
        assert_eq!(
            golden.located_block("s", KubeVersion::new(21)),
            Some(("x\ny\n", 8))
        );
    }

    #[test]
    fn updated_text_replaces_only_the_versions_run_and_keeps_the_header() {
        let old = "---\nsource: x\n---\ncase: c\n\n== step: s\n-- kubernetes: 1.21–1.22\nold\n\n== step: gone\n-- kubernetes: 1.21\nz\n";
        let new = updated_text(
            "c",
            &["s".into()],
            Some(old),
            &[Rendered {
                step: "s".into(),
                version: KubeVersion::new(22),
                block: "new\n".into(),
            }],
        );
        assert_eq!(
            new,
            "---\nsource: x\n---\ncase: c\n\n== step: s\n-- kubernetes: 1.21\nold\n-- kubernetes: 1.22\nnew\n"
        );
        let golden = Golden::parse(&new);
        assert_eq!(golden.block("s", KubeVersion::new(21)), Some("old\n"));
        assert_eq!(golden.block("s", KubeVersion::new(22)), Some("new\n"));
    }

    #[test]
    fn goldens_of_a_directory_and_of_the_built_in_catalog() {
        let builtin = Goldens::BuiltIn(["current-two-zones-auto".to_string()].into());
        assert!(builtin.golden("current-two-zones-auto").is_some());
        // A case that is not built in has no embedded golden, whatever its name.
        assert!(Goldens::BuiltIn(BTreeSet::new())
            .golden("current-two-zones-auto")
            .is_none());
        let dir = Goldens::Dir(std::env::temp_dir().join("topo-harness-no-such-dir"));
        assert!(dir.golden("current-two-zones-auto").is_none());
    }
}
