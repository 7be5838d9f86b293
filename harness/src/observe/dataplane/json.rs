//! The JSON document of `docs/rules-json.md`, written as it goes.
//!
//! A large node's routes are some 300,000 lines of JSON, and serializing them dominated
//! `rules -o json` after parsing. The frontends are written field by field (keys are
//! constants; strings and numbers still go through `serde_json`, so escaping and number
//! formatting are its own); the rest goes through `serde` with [`Indented`], which writes
//! what `serde_json`'s pretty printer writes from any starting depth. A test pins the whole
//! document to what `serde_json::to_string_pretty` makes of the same report.

use std::io::{self, Write};

use super::compare::Disagreement;
use super::normalize::{NamedShare, NormalizedFrontend};

/// Writes the report (pretty-printed, two-space indent, trailing newline).
pub(super) fn write_report(
    out: &mut impl Write,
    mode: &str,
    node: Option<&str>,
    frontends: &[NormalizedFrontend],
    disagreements: Option<&[Disagreement]>,
) -> io::Result<()> {
    out.write_all(b"{\n  \"mode\": ")?;
    scalar(out, &mode)?;
    out.write_all(b",\n  \"node\": ")?;
    scalar(out, &node)?;
    out.write_all(b",\n  \"frontends\": ")?;
    write_frontends(out, frontends)?;
    if let Some(list) = disagreements {
        out.write_all(b",\n  \"disagreements\": ")?;
        let mut json = serde_json::Serializer::with_formatter(&mut *out, Indented::at(1));
        serde::Serialize::serialize(list, &mut json)?;
    }
    out.write_all(b"\n}\n")
}

/// A string, number or `null`, as `serde_json` writes it.
fn scalar(out: &mut impl Write, value: &impl serde::Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value).map_err(io::Error::from)
}

/// The `frontends` array, at depth 1.
fn write_frontends(out: &mut impl Write, frontends: &[NormalizedFrontend]) -> io::Result<()> {
    if frontends.is_empty() {
        return out.write_all(b"[]");
    }
    out.write_all(b"[")?;
    for (i, f) in frontends.iter().enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        out.write_all(b"    {\n      \"frontend\": ")?;
        scalar(out, &f.frontend)?;
        out.write_all(b",\n      \"kind\": ")?;
        scalar(out, &f.kind.as_str())?;
        out.write_all(b",\n      \"cluster\": ")?;
        write_shares(out, f.cluster.as_deref())?;
        out.write_all(b",\n      \"local\": ")?;
        write_shares(out, f.local.as_deref())?;
        out.write_all(b",\n      \"outcome\": ")?;
        scalar(out, &f.outcome.as_str())?;
        out.write_all(b"\n    }")?;
    }
    out.write_all(b"\n  ]")
}

/// A path's endpoints, at depth 3 (`null` when there is no path).
fn write_shares(out: &mut impl Write, shares: Option<&[NamedShare]>) -> io::Result<()> {
    let Some(shares) = shares else {
        return out.write_all(b"null");
    };
    if shares.is_empty() {
        return out.write_all(b"[]");
    }
    out.write_all(b"[")?;
    for (i, share) in shares.iter().enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        out.write_all(b"        {\n          \"endpoint\": ")?;
        scalar(out, &share.endpoint)?;
        out.write_all(b",\n          \"probability\": ")?;
        scalar(out, &share.probability)?;
        out.write_all(b"\n        }")?;
    }
    out.write_all(b"\n      ]")
}

/// `serde_json`'s pretty printing (two-space indent) from a starting depth, writing each
/// indentation with one call.
struct Indented {
    level: usize,
    has_value: bool,
}

impl Indented {
    /// Values nested `level` deep.
    fn at(level: usize) -> Self {
        Indented {
            level,
            has_value: false,
        }
    }

    fn indent(&self, out: &mut (impl Write + ?Sized)) -> io::Result<()> {
        const SPACES: &[u8; 64] =
            b"                                                                ";
        let mut left = self.level * 2;
        while left > 0 {
            let n = left.min(SPACES.len());
            out.write_all(&SPACES[..n])?;
            left -= n;
        }
        Ok(())
    }

    fn open(&mut self, out: &mut (impl Write + ?Sized), bracket: &[u8]) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        out.write_all(bracket)
    }

    fn close(&mut self, out: &mut (impl Write + ?Sized), bracket: &[u8]) -> io::Result<()> {
        self.level = self.level.saturating_sub(1);
        if self.has_value {
            out.write_all(b"\n")?;
            self.indent(out)?;
        }
        out.write_all(bracket)
    }

    fn item(&mut self, out: &mut (impl Write + ?Sized), first: bool) -> io::Result<()> {
        out.write_all(if first { b"\n" } else { b",\n" })?;
        self.indent(out)
    }
}

impl serde_json::ser::Formatter for Indented {
    fn begin_array<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.open(out, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.close(out, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, out: &mut W, first: bool) -> io::Result<()> {
        self.item(out, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.open(out, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        self.close(out, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, out: &mut W, first: bool) -> io::Result<()> {
        self.item(out, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        out.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    use super::*;
    use crate::observe::dataplane::routes::{FrontendKind, Outcome};

    /// The report as `serde` sees it: the reference the hand-written document must match.
    #[derive(Serialize)]
    struct Report<'a> {
        mode: &'a str,
        node: Option<&'a str>,
        frontends: &'a [NormalizedFrontend],
        #[serde(skip_serializing_if = "Option::is_none")]
        disagreements: Option<&'a [Disagreement]>,
    }

    fn share(endpoint: &str, probability: f64) -> NamedShare {
        NamedShare {
            endpoint: endpoint.to_string(),
            probability,
        }
    }

    fn frontends() -> Vec<NormalizedFrontend> {
        vec![
            NormalizedFrontend {
                frontend: "ns/\"quoted\"\\svc:80/tcp".to_string(),
                kind: FrontendKind::ClusterIp,
                cluster: Some(vec![
                    share("node-a", 0.333333),
                    share("node-b#2", 1e-6),
                    share("ünïcode\u{1}", 1.0),
                ]),
                local: None,
                outcome: Outcome::Route,
            },
            NormalizedFrontend {
                frontend: "*:30080/udp".to_string(),
                kind: FrontendKind::NodePort,
                cluster: Some(vec![]),
                local: Some(vec![share("[fd00::1]:80", 0.5), share("x", 0.5)]),
                outcome: Outcome::Drop,
            },
            NormalizedFrontend {
                frontend: "10.0.0.1:443/sctp".to_string(),
                kind: FrontendKind::LoadBalancer,
                cluster: None,
                local: Some(vec![]),
                outcome: Outcome::Reject,
            },
        ]
    }

    fn written(
        node: Option<&str>,
        frontends: &[NormalizedFrontend],
        disagreements: Option<&[Disagreement]>,
    ) -> String {
        let mut out = Vec::new();
        write_report(&mut out, "iptables", node, frontends, disagreements).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn reference(
        node: Option<&str>,
        frontends: &[NormalizedFrontend],
        disagreements: Option<&[Disagreement]>,
    ) -> String {
        let report = Report {
            mode: "iptables",
            node,
            frontends,
            disagreements,
        };
        serde_json::to_string_pretty(&report).unwrap() + "\n"
    }

    /// Every shape of the document (no frontends, empty and missing paths, escapes, IPv6,
    /// tiny probabilities, a node or none, disagreements or none) is byte for byte what
    /// `serde_json`'s pretty printer writes.
    #[test]
    fn the_document_is_serde_jsons_pretty_printing() {
        let all = frontends();
        let disagreements = [Disagreement {
            frontend: "ns/svc:80/tcp".to_string(),
            kind: FrontendKind::ClusterIp,
            path: "cluster",
            expected: vec!["node-a".to_string()],
            observed: vec![],
            problem: "\"node-a\" missing\n".to_string(),
        }];
        for node in [None, Some("kind-worker"), Some("odd\"node\\")] {
            for list in [&all[..], &all[..1], &[]] {
                for disagreements in [None, Some(&disagreements[..]), Some(&[][..])] {
                    assert_eq!(
                        written(node, list, disagreements),
                        reference(node, list, disagreements),
                        "{node:?}, {} frontends, {disagreements:?}",
                        list.len()
                    );
                }
            }
        }
    }

    /// The formatter indents like `serde_json`'s pretty printer from depth 0, on nesting the
    /// document itself does not have.
    #[test]
    fn indented_is_the_pretty_printer() {
        let value = serde_json::json!({
            "a": [], "b": {}, "c": [[1, [2, {"d": [null, true, "x"]}]], {"e": {"f": []}}],
            "g": "h"
        });
        let mut out = Vec::new();
        let mut json = serde_json::Serializer::with_formatter(&mut out, Indented::at(0));
        value.serialize(&mut json).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string_pretty(&value).unwrap()
        );
    }
}
