//! Reading a [`ClusterState`] from files.
//!
//! Two formats, in YAML or JSON (detected from the content, not the file name):
//! - **kubectl dumps**: the output of `kubectl get nodes,services,endpointslices -A -o yaml`
//!   (or `-o json`): a `kind: List`, a `NodeList`/`ServiceList`/`EndpointSliceList`, a single
//!   Node, Service or EndpointSlice, or several such YAML documents. EndpointSlices may be
//!   `discovery.k8s.io/v1` or `v1beta1`.
//! - **the compact state format** (`kind: State`, `apiVersion: topo-harness/v1alpha1`), the
//!   harness's own short form for what-if questions; see `docs/state-format.md`.
//!
//! Reading is strict: a field the model needs but cannot read is an error naming the file,
//! line, column and field path (`items[3].status.allocatable.cpu`), never a silent default.
//! Fields the model does not need are ignored in kubectl dumps and rejected in the compact
//! format. Every [`InputError`] maps to exit code 2.

mod compact;
mod error;
mod json;
mod kube;
mod quantity;
mod tree;
mod write;

use std::path::Path;

pub use compact::{COMPACT_API_VERSION, DEFAULT_NODE_CPU_MILLIS, MANAGED_BY_COMPACT};
pub use error::{InputError, SourceLocation, ACCEPTED_KINDS};
pub use quantity::cpu_millis;
pub use write::compact_text;

use crate::model::{ClusterState, FeatureGate, KubeVersion};
use tree::{Node as TreeNode, Source, Value};

/// Which format a state was read from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum StateFormat {
    /// kubectl objects written as YAML.
    KubectlYaml,
    /// kubectl objects written as JSON.
    KubectlJson,
    /// The compact format written as YAML.
    CompactYaml,
    /// The compact format written as JSON.
    CompactJson,
}

impl StateFormat {
    /// Whether this is the compact format.
    pub fn is_compact(self) -> bool {
        matches!(self, StateFormat::CompactYaml | StateFormat::CompactJson)
    }

    /// Whether the text was JSON.
    pub fn is_json(self) -> bool {
        matches!(self, StateFormat::KubectlJson | StateFormat::CompactJson)
    }
}

/// A state read from a file, with what the file said about the environment.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedState {
    /// The nodes, services and EndpointSlices.
    pub state: ClusterState,
    /// The format the state was written in.
    pub format: StateFormat,
    /// The Kubernetes version the compact format names (`kubernetes:`); always `None` for
    /// kubectl dumps (use [`ClusterState::kubelet_version`] there).
    pub version: Option<KubeVersion>,
    /// Feature gates the compact format sets (`featureGates:`), in name order; checked against
    /// `version` when one is given. Always empty for kubectl dumps.
    pub gates: Vec<(FeatureGate, bool)>,
}

/// Reads a state from a file. The file name is used as the origin in error messages.
pub fn load_state_file(path: &Path) -> Result<LoadedState, InputError> {
    let text = std::fs::read_to_string(path).map_err(|source| InputError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    load_state_str(&text, &path.display().to_string())
}

/// Reads a state from text; `origin` names it in error messages (usually the file name).
pub fn load_state_str(text: &str, origin: &str) -> Result<LoadedState, InputError> {
    let json = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with(['{', '[']);
    let docs = if json {
        // kubectl's JSON dumps are large: read them with the fast JSON reader, and convert a
        // List one item at a time so the whole document never sits in memory as a tree.
        let syntax = |e: json::JsonError| InputError::Syntax {
            at: SourceLocation::new(origin, e.line, e.column),
            message: e.message,
        };
        let skeleton = json::parse_skeleton(text).map_err(syntax)?;
        if let Some(loaded) = load_streamed_list(text, origin, &skeleton)? {
            return Ok(loaded);
        }
        vec![json::parse(text).map_err(syntax)?]
    } else {
        parse_documents(text).map_err(|e| {
            let (at, message) = saphyr_error(origin, &e);
            InputError::Syntax { at, message }
        })?
    };
    let src = Source { origin, text };
    if docs.is_empty() {
        return Err(InputError::Empty {
            origin: origin.to_string(),
        });
    }
    if let Some(compact) = docs.iter().find(|d| is_compact(d)) {
        if docs.len() > 1 {
            return Err(InputError::InvalidValue {
                at: src.at(compact),
                path: String::new(),
                message: "a compact state (kind: State) must be the only document in its file"
                    .into(),
            });
        }
        let parsed: compact::CompactState =
            serde_saphyr::from_str_with_options(text, parse_options()).map_err(|e| {
                let (at, message) = saphyr_error(origin, &e);
                InputError::Compact { at, message }
            })?;
        let converted = parsed.convert(origin)?;
        return Ok(LoadedState {
            state: converted.state,
            format: if json {
                StateFormat::CompactJson
            } else {
                StateFormat::CompactYaml
            },
            version: converted.version,
            gates: converted.gates,
        });
    }
    let mut collector = kube::Collector::default();
    let many = docs.len() > 1;
    for (i, doc) in docs.iter().enumerate() {
        let path = if many {
            format!("documents[{i}]")
        } else {
            String::new()
        };
        collector.document(&src, doc, &path)?;
    }
    Ok(LoadedState {
        state: collector.state.unwrap_or_else(ClusterState::empty),
        format: if json {
            StateFormat::KubectlJson
        } else {
            StateFormat::KubectlYaml
        },
        version: None,
        gates: Vec::new(),
    })
}

/// Converts a JSON `List` (or typed list) item by item; `None` when the document is not one.
fn load_streamed_list(
    text: &str,
    origin: &str,
    skeleton: &TreeNode,
) -> Result<Option<LoadedState>, InputError> {
    let Value::Map(entries) = &skeleton.value else {
        return Ok(None);
    };
    let field = |name: &str| entries.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let kind = match field("kind").map(|k| &k.value) {
        Some(Value::Str(k))
            if matches!(
                k.as_str(),
                "List" | "NodeList" | "ServiceList" | "EndpointSliceList"
            ) =>
        {
            k.clone()
        }
        _ => return Ok(None),
    };
    if !matches!(field("items").map(|i| &i.value), Some(Value::Seq(_))) {
        return Ok(None);
    }
    let src = Source { origin, text };
    let mut collector = kube::Collector::default();
    collector.document(&src, skeleton, "")?;
    json::for_each_item(text, |index, item| {
        let cursor = tree::Cursor::root(&item, format!("items[{index}]"));
        collector.list_item(&src, &kind, &cursor)
    })
    .map_err(|e| match e {
        json::ItemError::Item(e) => e,
        json::ItemError::Json(e) => InputError::Syntax {
            at: SourceLocation::new(origin, e.line, e.column),
            message: e.message,
        },
    })?;
    Ok(Some(LoadedState {
        state: collector.state.unwrap_or_else(ClusterState::empty),
        format: StateFormat::KubectlJson,
        version: None,
        gates: Vec::new(),
    }))
}

/// Stack for the parser thread: the spanned tree costs tens of KiB of stack per nesting level
/// in debug builds, and the parser allows 64 levels.
const PARSER_STACK_BYTES: usize = 64 << 20;

/// Parses all documents into spanned trees, on a thread with a stack large enough for the
/// deepest nesting the parser accepts (so deep input is an error, never a stack overflow).
fn parse_documents(text: &str) -> Result<Vec<TreeNode>, serde_saphyr::Error> {
    let parse = || serde_saphyr::from_multiple_with_options::<TreeNode>(text, parse_options());
    std::thread::scope(|scope| {
        match std::thread::Builder::new()
            .name("topo-harness-parse".into())
            .stack_size(PARSER_STACK_BYTES)
            .spawn_scoped(scope, parse)
        {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            // No thread available: parse here (only pathological nesting could then overflow).
            Err(_) => parse(),
        }
    })
}

fn is_compact(doc: &TreeNode) -> bool {
    match &doc.value {
        Value::Map(entries) => entries
            .iter()
            .any(|(k, v)| k == "kind" && matches!(&v.value, Value::Str(s) if s == "State")),
        _ => false,
    }
}

pub(crate) fn parse_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    // Real cluster dumps are large; keep the depth limit (it protects the stack).
    budget.max_events = 50_000_000;
    budget.max_nodes = 20_000_000;
    budget.max_total_scalar_bytes = 1 << 30;
    serde_saphyr::options! {
        budget: Some(budget),
        strict_booleans: true,
        with_snippet: false,
    }
}

/// The location and bare message of a parser error (without its " at line …" suffix).
pub(crate) fn saphyr_error(origin: &str, e: &serde_saphyr::Error) -> (SourceLocation, String) {
    let (line, column) = e.location().map_or((0, 0), |l| {
        (
            u32::try_from(l.line()).unwrap_or(u32::MAX),
            u32::try_from(l.column()).unwrap_or(u32::MAX),
        )
    });
    let mut message = e.without_snippet().to_string();
    for suffix in [
        format!(" at line {line}, column {column}"),
        format!("line {line} column {column}: "),
    ] {
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_string();
        }
        if let Some(stripped) = message.strip_prefix(&suffix) {
            message = stripped.to_string();
        }
    }
    if let Some(stripped) = message.strip_prefix("error: ") {
        message = stripped.to_string();
    }
    if matches!(e.without_snippet(), serde_saphyr::Error::Budget { .. }) {
        message = format!("input too large or nested too deeply ({message})");
    }
    (SourceLocation::new(origin, line, column), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_breached_budget_says_the_input_is_too_large() {
        // More documents than the parser's budget allows.
        let deep = "---\nkind: Node\n".repeat(1100);
        let message = match load_state_str(&deep, "deep.yaml") {
            Err(e) => e.to_string(),
            Ok(_) => panic!("1100 documents load"),
        };
        assert!(
            message.contains("input too large or nested too deeply"),
            "{message}"
        );
    }

    #[test]
    fn detects_format_from_content() {
        let node = "kind: Node\nmetadata: {name: n}\n";
        assert_eq!(
            load_state_str(node, "x").map(|s| s.format).ok(),
            Some(StateFormat::KubectlYaml)
        );
        let json = r#"{"kind": "Node", "metadata": {"name": "n"}}"#;
        assert_eq!(
            load_state_str(json, "x").map(|s| s.format).ok(),
            Some(StateFormat::KubectlJson)
        );
        let compact = "\u{feff}{\"kind\": \"State\"}";
        let loaded = load_state_str(compact, "x").ok();
        assert_eq!(
            loaded.as_ref().map(|s| s.format),
            Some(StateFormat::CompactJson)
        );
        assert!(loaded.is_some_and(|s| s.format.is_compact() && s.format.is_json()));
    }

    #[test]
    fn paths_name_the_document_when_there_are_several() {
        let text = "kind: Node\nmetadata: {name: n}\n---\nkind: Node\nmetadata: {}\n";
        let e = load_state_str(text, "x").err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("x:5:11: documents[1].metadata.name: required field is missing")
        );
    }

    #[test]
    fn empty_list_is_an_empty_state() {
        let loaded = load_state_str("apiVersion: v1\nkind: List\nitems: []\n", "x");
        assert_eq!(loaded.ok().map(|s| s.state), Some(ClusterState::empty()));
    }

    #[test]
    fn parser_messages_lose_their_position_suffix() {
        let e = load_state_str("a: [1\n", "x").err();
        let at = e.as_ref().and_then(|e| e.location()).cloned();
        assert!(at.is_some_and(|at| at.line > 0 && at.column > 0));
        let text = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(!text.contains(" at line "), "{text}");
        assert!(text.starts_with("x:"), "{text}");
    }

    #[test]
    fn generated_addresses_are_unique_across_services() {
        let text = "kind: State\nnodes: [{name: a}, {name: b}]\nservices:\n- {name: s1, endpoints: {a: 2, b: 1}}\n- {name: s2, endpoints: {a: 1}}\n";
        let state = load_state_str(text, "x").map(|s| s.state).ok();
        let addresses: Vec<String> = state
            .iter()
            .flat_map(|s| s.slices.iter())
            .flat_map(|s| s.endpoints.iter())
            .flat_map(|e| e.addresses.clone())
            .collect();
        assert_eq!(
            addresses,
            ["10.244.0.2", "10.244.0.3", "10.244.1.2", "10.244.0.4"]
        );
        let ips: Vec<Option<String>> = state
            .iter()
            .flat_map(|s| s.services.iter())
            .map(|s| s.cluster_ip.clone())
            .collect();
        assert_eq!(
            ips,
            [
                Some("10.96.0.10".to_string()),
                Some("10.96.0.11".to_string())
            ]
        );
    }
}
