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
    mut reader: impl std::io::Read,
    mut each: impl FnMut(usize, &str) -> Result<(), DataplaneError>,
) -> Result<usize, DataplaneError> {
    const CHUNK: usize = 1 << 18;
    let mut buf = vec![0u8; CHUNK];
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
