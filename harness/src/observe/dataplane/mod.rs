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
    let report = Report {
        mode: mode.as_str(),
        node,
        frontends: &routes.frontends,
        disagreements,
    };
    // Serializing plain structs of strings and finite numbers cannot fail.
    let mut s = serde_json::to_string_pretty(&report).unwrap_or_default();
    s.push('\n');
    s
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
