//! What a node's proxy really programmed: parsers for its rule dumps, the routes they
//! implement, and their normalization against the cluster state.
//!
//! ```text
//! iptables-save ─┐
//! nft list table ├─ parse_* ─▶ NodeRoutes ─ normalize(state) ─▶ NormalizedRoutes ─ render_* ─▶ text / JSON
//! ipvsadm -Ln   ─┘   (ip:port, probabilities)         (ns/name:port/proto, node identities)
//! ```
//!
//! The parsers read line by line, keep only kube-proxy's objects, and fail with a
//! [`DataplaneError`] naming the line on input that is not a dump, is cut short, or does not
//! hold together. They never panic.
//!
//! Adding a dataplane: write a parser that returns [`NodeRoutes`] (netfilter-like ones build a
//! `routes::Program` and let it resolve probabilities), add a [`ProxyMode`], a fixture under
//! `fixtures/rules/`, and a fuzz target under `harness/fuzz/`.

pub mod compare;
mod error;
pub mod iptables;
pub mod ipvs;
pub mod nftables;
pub mod normalize;
pub mod routes;

use std::fmt::Write as _;
use std::io::Write as _;

use serde::Serialize;

pub use compare::{compare_with_model, render_disagreements, Disagreement};
pub use error::DataplaneError;
pub use iptables::{parse_iptables, parse_iptables_reader};
pub use ipvs::{parse_ipvs, parse_ipvs_reader, IpvsFormat};
pub use nftables::{parse_nftables, parse_nftables_reader};
pub use normalize::{normalize, NamedShare, NormalizedFrontend, NormalizedRoutes, Normalizer};
pub use routes::{Backend, Frontend, FrontendKind, FrontendRoute, NodeRoutes, Outcome, Share};

use crate::model::state::ClusterState;
pub use crate::model::ProxyMode;

/// Output format of [`rules`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// One line per frontend.
    Text,
    /// The JSON contract documented in `docs/rules-json.md`.
    Json,
}

/// Calls `each` with every line of `reader` (1-based number, text without the line break).
/// Reads large chunks and hands out lines in place (no copy per line); a line longer than the
/// buffer grows it. Invalid UTF-8 or a read error is an error on the line it is found on.
/// Returns the number of lines.
pub(crate) fn for_each_line(
    reader: impl std::io::Read,
    each: impl FnMut(usize, &str) -> Result<(), DataplaneError>,
) -> Result<usize, DataplaneError> {
    for_each_line_in_chunks(reader, 1 << 18, each)
}

/// [`for_each_line`] with a chunk size of `chunk` bytes (tests use tiny ones).
fn for_each_line_in_chunks(
    mut reader: impl std::io::Read,
    chunk: usize,
    mut each: impl FnMut(usize, &str) -> Result<(), DataplaneError>,
) -> Result<usize, DataplaneError> {
    let mut buf = vec![0u8; chunk.max(1)];
    // `buf[..filled]` holds bytes not handed out yet, starting at a line's start.
    let mut filled = 0;
    let mut lineno = 0;
    loop {
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let read = match reader.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(error::syntax(lineno + 1, format!("unreadable input: {e}"))),
        };
        let end_of_input = read == 0;
        filled += read;
        // Complete lines only, unless the input ended.
        let complete = if end_of_input {
            filled
        } else {
            match buf[..filled].iter().rposition(|&b| b == b'\n') {
                Some(last) => last + 1,
                None => continue,
            }
        };
        let text = match std::str::from_utf8(&buf[..complete]) {
            Ok(text) => text,
            Err(e) => {
                let valid = &buf[..e.valid_up_to()];
                let line = lineno + 1 + valid.iter().filter(|&&b| b == b'\n').count();
                return Err(error::syntax(
                    line,
                    "unreadable input: stream did not contain valid UTF-8",
                ));
            }
        };
        let mut rest = text;
        while !rest.is_empty() {
            lineno += 1;
            let (line, after) = match memchr::memchr(b'\n', rest.as_bytes()) {
                Some(at) => (&rest[..at], &rest[at + 1..]),
                None => (rest, ""),
            };
            rest = after;
            each(lineno, line.strip_suffix('\r').unwrap_or(line))?;
        }
        if end_of_input {
            return Ok(lineno);
        }
        buf.copy_within(complete..filled, 0);
        filled -= complete;
    }
}

/// Parses a dump read from `reader` (`size_hint`: its size when known, 0 otherwise), line by
/// line where the format allows.
pub fn parse_reader(
    mode: ProxyMode,
    reader: impl std::io::Read,
    size_hint: u64,
) -> Result<NodeRoutes, DataplaneError> {
    match mode {
        ProxyMode::Iptables => iptables::parse_iptables_stream(reader, size_hint),
        ProxyMode::Nftables => {
            nftables::parse_nftables_stream(reader, usize::try_from(size_hint).unwrap_or(0))
        }
        ProxyMode::Ipvs => parse_ipvs_reader(reader, None),
        ProxyMode::None => Err(DataplaneError::NoKubeProxy),
    }
}

/// Parses a dump of the given mode into routes.
pub fn parse(mode: ProxyMode, dump: &str) -> Result<NodeRoutes, DataplaneError> {
    match mode {
        ProxyMode::Iptables => parse_iptables(dump),
        ProxyMode::Nftables => parse_nftables(dump),
        ProxyMode::Ipvs => parse_ipvs(dump),
        ProxyMode::None => Err(DataplaneError::NoKubeProxy),
    }
}

#[derive(Serialize)]
struct Report<'a> {
    mode: &'a str,
    node: Option<&'a str>,
    frontends: &'a [NormalizedFrontend],
    #[serde(skip_serializing_if = "Option::is_none")]
    disagreements: Option<&'a [Disagreement]>,
}

/// Renders routes as the JSON document of `docs/rules-json.md` (pretty-printed, trailing newline).
pub fn render_json(mode: ProxyMode, node: Option<&str>, routes: &NormalizedRoutes) -> String {
    render_json_with(mode, node, routes, None)
}

/// As [`render_json`], with a `disagreements` list when the routes were compared with the model.
pub fn render_json_with(
    mode: ProxyMode,
    node: Option<&str>,
    routes: &NormalizedRoutes,
    disagreements: Option<&[Disagreement]>,
) -> String {
    let mut out = Vec::new();
    // Writing plain structs of strings and finite numbers to memory cannot fail.
    let _ = write_json_with(&mut out, mode, node, routes, disagreements);
    String::from_utf8(out).unwrap_or_default()
}

/// Writes what [`render_json_with`] returns to `out` as it is serialized (a large node's
/// routes are never held as one string).
pub fn write_json_with(
    out: impl std::io::Write,
    mode: ProxyMode,
    node: Option<&str>,
    routes: &NormalizedRoutes,
    disagreements: Option<&[Disagreement]>,
) -> std::io::Result<()> {
    let report = Report {
        mode: mode.as_str(),
        node,
        frontends: &routes.frontends,
        disagreements,
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    serde_json::to_writer_pretty(&mut out, &report)?;
    out.write_all(b"\n")?;
    out.flush()
}

fn text_list(list: &Option<Vec<NamedShare>>) -> String {
    match list {
        None => "-".to_string(),
        Some(l) if l.is_empty() => "(none)".to_string(),
        Some(l) => l
            .iter()
            .map(|s| format!("{}={}", s.endpoint, s.probability))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// Renders routes for a terminal: a header line, then one line per frontend.
pub fn render_text(mode: ProxyMode, node: Option<&str>, routes: &NormalizedRoutes) -> String {
    let mut s = format!("mode: {}  node: {}\n", mode.as_str(), node.unwrap_or("-"));
    for f in &routes.frontends {
        let _ = writeln!(
            s,
            "{}  {}  {}  cluster: {}  local: {}",
            f.frontend,
            f.kind.as_str(),
            f.outcome.as_str(),
            text_list(&f.cluster),
            text_list(&f.local)
        );
    }
    s
}

/// Inputs of `topo-harness rules`, already read from files.
#[derive(Clone, Debug)]
pub struct RulesRequest<'a> {
    /// Which proxy mode the dump is from.
    pub mode: ProxyMode,
    /// The node the dump was taken on, echoed in the output.
    pub node: Option<&'a str>,
    /// Output format.
    pub format: OutputFormat,
    /// Cluster state to name frontends and endpoints with.
    pub state: Option<&'a ClusterState>,
}

/// `topo-harness rules`: parse a dump, normalize it, render it.
pub fn rules(dump: &str, request: &RulesRequest<'_>) -> Result<String, DataplaneError> {
    let routes = parse(request.mode, dump)?;
    let normalized = normalize(&routes, request.state);
    Ok(match request.format {
        OutputFormat::Text => render_text(request.mode, request.node, &normalized),
        OutputFormat::Json => render_json(request.mode, request.node, &normalized),
    })
}

#[cfg(test)]
mod line_tests {
    use super::{error::DataplaneError, for_each_line_in_chunks};

    /// A reader that hands out at most `step` bytes per call.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    fn lines(
        bytes: &[u8],
        chunk: usize,
        step: usize,
    ) -> Result<Vec<(usize, String)>, DataplaneError> {
        let mut seen = Vec::new();
        let count = for_each_line_in_chunks(Trickle { bytes, step }, chunk, |n, line| {
            seen.push((n, line.to_string()));
            Ok(())
        })?;
        assert_eq!(count, seen.len());
        Ok(seen)
    }

    /// Lines across chunk ends, lines longer than a chunk (the buffer grows), CRLF, a last
    /// line without a break, empty lines: the same lines as `str::lines`, for every chunk
    /// size and read size.
    #[test]
    fn chunked_lines_are_the_lines_of_the_text() {
        let text = "*nat\r\n:KUBE-SERVICES - [0:0]\n\n-A KUBE-SVC-ABCDEFGHIJKLMNOP -m comment --comment \"ns/svc:http\" -j KUBE-SEP-X\nü€\nCOMMIT";
        let want: Vec<(usize, String)> = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.to_string()))
            .collect();
        for chunk in [1, 2, 3, 7, 16, 64, 1 << 18] {
            for step in [1, 2, 5, 1000] {
                assert_eq!(
                    lines(text.as_bytes(), chunk, step).unwrap(),
                    want,
                    "{chunk}/{step}"
                );
            }
        }
        assert_eq!(lines(b"", 4, 1).unwrap(), vec![]);
        assert_eq!(lines(b"\n", 4, 1).unwrap(), vec![(1, String::new())]);
    }

    /// Invalid UTF-8 is reported on its own line, wherever chunks end.
    #[test]
    fn invalid_utf8_names_its_line() {
        let bytes = b"one\ntwo\nth\xffree\nfour\n";
        for chunk in [1, 3, 8, 1 << 18] {
            let err = lines(bytes, chunk, 2).unwrap_err();
            assert_eq!(err.line(), 3, "chunk {chunk}: {err:?}");
        }
        // A character cut by a chunk end is not invalid.
        assert_eq!(lines("é\né".as_bytes(), 1, 1).unwrap().len(), 2);
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Helpers for the parser unit tests.

    use super::{normalize, render_text, NodeRoutes, ProxyMode};

    /// The routes as `render_text` lines without the header, for exact comparisons.
    pub fn summary(routes: &NodeRoutes) -> String {
        let text = render_text(ProxyMode::Iptables, None, &normalize(routes, None));
        text.lines().skip(1).map(|l| format!("{l}\n")).collect()
    }

    /// Reads a fixture under `fixtures/rules/`.
    pub fn fixture(path: &str) -> String {
        let full = format!("{}/../fixtures/rules/{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
    }
}
