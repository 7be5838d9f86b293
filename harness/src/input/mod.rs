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
mod typed;
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

/// The default size budget of one input file (`--max-input-size`): 256 MiB.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 256 << 20;

/// Reads a state from a file under the default size budget. The file name is used as the
/// origin in error messages.
pub fn load_state_file(path: &Path) -> Result<LoadedState, InputError> {
    load_state_file_with(path, DEFAULT_MAX_INPUT_BYTES)
}

/// Reads a state from a file of at most `max_bytes` bytes (`-`: standard input).
pub fn load_state_file_with(path: &Path, max_bytes: u64) -> Result<LoadedState, InputError> {
    let text = read_text(path, max_bytes)?;
    load_state_str(&text, &origin_of(path))
}

/// The path `-`, which names standard input (as `kubectl … | topo-harness explain -`).
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// How errors name `path`: `<stdin>` for `-`, else the path as given.
pub fn origin_of(path: &Path) -> String {
    if is_stdin(path) {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    }
}

/// Reads a whole UTF-8 file of at most `max_bytes` bytes. The budget is checked against the
/// file's size before reading, and the read itself stops one byte past it, so a device or
/// pipe without end (`/dev/zero`) is refused instead of filling memory.
pub fn read_text(path: &Path, max_bytes: u64) -> Result<String, InputError> {
    use std::io::Read as _;
    let origin = origin_of(path);
    let read_error = |source| InputError::Read {
        path: path.to_path_buf(),
        source,
    };
    let too_large = || InputError::TooLarge {
        origin: origin.clone(),
        limit: max_bytes,
    };
    let (reader, known): (Box<dyn std::io::Read>, Option<u64>) = if is_stdin(path) {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let file = std::fs::File::open(path).map_err(read_error)?;
        let known = file
            .metadata()
            .ok()
            .filter(std::fs::Metadata::is_file)
            .map(|m| m.len());
        (Box::new(file), known)
    };
    if known.is_some_and(|len| len > max_bytes) {
        return Err(too_large());
    }
    let capacity = usize::try_from(known.unwrap_or(0).min(max_bytes)).unwrap_or(0);
    let mut bytes = Vec::with_capacity(capacity);
    reader
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let bad = e.utf8_error().valid_up_to();
        let (line, column) = line_column(&bytes[..bad]);
        InputError::InvalidUtf8 {
            at: SourceLocation::new(&origin, line, column),
            byte: bytes.get(bad).copied().unwrap_or(0),
        }
    })
}

/// The 1-based line and column just after `valid` (valid UTF-8 text).
pub fn line_column(valid: &[u8]) -> (u32, u32) {
    let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = std::str::from_utf8(&valid[line_start..]).map_or(0, |s| s.chars().count()) + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

/// Parses a size such as `300000000`, `512M`, `512MiB`, `2G` (binary units).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => {
            return Err(format!(
                "`{text}` is not a size; expected e.g. 300000000, 512M or 2G"
            ))
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("`{text}` is not a size; expected e.g. 300000000, 512M or 2G"))
}

/// Reads a state from text; `origin` names it in error messages (usually the file name). A
/// kubectl dump that fails because it ends early says it looks cut off.
pub fn load_state_str(text: &str, origin: &str) -> Result<LoadedState, InputError> {
    load_state_text(text, origin).map_err(|e| match (&e, cut_off(text)) {
        (
            InputError::Missing { .. } | InputError::WrongType { .. } | InputError::Syntax { .. },
            Some(why),
        ) => InputError::CutOff {
            source: Box::new(e),
            why,
        },
        _ => e,
    })
}

/// Why a kubectl YAML dump looks cut off, if it does: `kubectl get … -o yaml` writes a `List`
/// whose `items:` come first and whose `kind: List` and `metadata:` come last, and ends the
/// file with a line break; a List with `items:` but no top-level `kind:` lost its end.
fn cut_off(text: &str) -> Option<String> {
    let body = text.trim_start_matches('\u{feff}');
    let first = body
        .lines()
        .map(str::trim_end)
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    if first.starts_with(['{', '[']) || first == "kind: State" {
        return None;
    }
    let lines: Vec<&str> = body.lines().collect();
    lines.iter().position(|l| l.trim_end() == "items:")?;
    // A List names its kind at the top level somewhere (kubectl: after the items).
    let closed = lines.iter().any(|l| l.starts_with("kind:"));
    if !closed {
        return Some(
            "it has `items:` but not the `kind: List` and `metadata:` kubectl writes after them"
                .to_string(),
        );
    }
    (!body.ends_with('\n')).then(|| "it does not end with a line break".to_string())
}

fn load_state_text(text: &str, origin: &str) -> Result<LoadedState, InputError> {
    let json = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with(['{', '[']);
    // The typed pass reads valid kubectl dumps; anything else (errors, compact states) goes
    // to the located reader below, which reports problems with their position.
    let mut typed_yaml_error = None;
    let fast = if json {
        typed::load_json(text).ok()
    } else {
        typed::load_yaml(text)
            .map_err(|(_, e)| typed_yaml_error = e)
            .ok()
    };
    if let Some(state) = fast {
        return Ok(LoadedState {
            state,
            format: if json {
                StateFormat::KubectlJson
            } else {
                StateFormat::KubectlYaml
            },
            version: None,
            gates: Vec::new(),
        });
    }
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
            // The located tree has a budget proportional to the text (memory stays within a
            // few times the input); when a large document exceeds it, the typed pass's own
            // error is the better report.
            let e = match (&e, &typed_yaml_error) {
                (serde_saphyr::Error::Budget { .. }, Some(typed)) => typed,
                _ => &e,
            };
            let (at, mut message) = saphyr_error(origin, e);
            if breached_budget(e) {
                // The budget grows with the text (4 events and 2 nodes per byte, at least
                // 100,000); JSON has none and is read faster.
                message.push_str(
                    " (the budget is 4 events and 2 nodes per byte of input); give large \
                     dumps as JSON (kubectl -o json)",
                );
            }
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
            serde_saphyr::from_str_with_options(text, typed_options(text.len())).map_err(|e| {
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
    let parse =
        || serde_saphyr::from_multiple_with_options::<TreeNode>(text, tree_options(text.len()));
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

/// Options for the typed pass over `len` bytes: events (which aliases multiply) are bounded by
/// the text's size, so an alias bomb stops early while real dumps of any size pass; memory
/// grows with the model, not with the events.
pub(crate) fn typed_options(len: usize) -> serde_saphyr::Options {
    let mut options = parse_options();
    if let Some(budget) = options.budget.as_mut() {
        budget.max_events = len.saturating_mul(4).max(100_000);
        budget.max_nodes = len.saturating_mul(2).max(100_000);
    }
    options
}

/// Bytes of memory a located tree node costs, about (node, key string, vector slot).
const TREE_BYTES_PER_NODE: usize = 100;

/// Options for the located tree over `len` bytes: its nodes are bounded so the tree stays
/// within about twice the text (3x with the text itself), with a floor for small inputs.
pub(crate) fn tree_options(len: usize) -> serde_saphyr::Options {
    let mut options = typed_options(len);
    if let Some(budget) = options.budget.as_mut() {
        budget.max_nodes = (len.saturating_mul(2) / TREE_BYTES_PER_NODE).max(100_000);
    }
    options
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

/// The location and bare message of a parser error (without its " at line …" suffix), in the
/// tool's own words: the parser's hints to programmers ("set DuplicateKeyPolicy in Options",
/// "use from_str_multiple", budget type names) are never shown.
pub(crate) fn saphyr_error(origin: &str, e: &serde_saphyr::Error) -> (SourceLocation, String) {
    let (line, column) = e.location().map_or((0, 0), |l| {
        (
            u32::try_from(l.line()).unwrap_or(u32::MAX),
            u32::try_from(l.column()).unwrap_or(u32::MAX),
        )
    });
    let at = SourceLocation::new(origin, line, column);
    let bare = e.without_snippet();
    match bare {
        serde_saphyr::Error::Budget { breach, .. } => return (at, budget_message(breach)),
        serde_saphyr::Error::MultipleDocuments { .. } => {
            return (
                at,
                "several YAML documents (`---`) where one is expected".to_string(),
            )
        }
        _ => {}
    }
    let mut message = bare.to_string();
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
    (at, own_words(message))
}

/// Rewrites the parser's programmer-facing phrases (option and API names, Rust type names,
/// debug dumps) in the tool's words. The one place the YAML library's text is matched: state
/// dumps and case files both read their errors through [`saphyr_error`].
fn own_words(message: String) -> String {
    if let Some(rest) = message.strip_prefix("duplicate mapping key") {
        let key = rest
            .split(", set DuplicateKeyPolicy")
            .next()
            .unwrap_or("")
            .trim_start_matches(':')
            .trim();
        return duplicate_key_message(key);
    }
    if message.contains("set DuplicateKeyPolicy") {
        return duplicate_key_message("");
    }
    if message.contains("recursive references") {
        return "an alias refers to the mapping or list that contains its anchor (a recursive \
                alias); write the value out"
            .to_string();
    }
    if message.contains("from_str_multiple") || message.contains("from_multiple") {
        return "several YAML documents (`---`) where one is expected".to_string();
    }
    if let Some(rest) = message.strip_prefix("budget breached: ") {
        // A breach reported as text (raised inside a value): name the limit, not the type.
        let kind = rest.split([' ', '{']).next().unwrap_or("");
        return breach_text(kind);
    }
    if message.starts_with("alias ") {
        return "aliases expand too far (an alias bomb?); write the values out".to_string();
    }
    if message.contains("strict mode expects true/false") {
        return "expected true or false (YAML 1.1 words such as yes, no, on, off are not booleans here)"
            .to_string();
    }
    if message.contains("simple key expected ':'") {
        return "a key without its `:` (a line missing its colon, or a file cut off in the middle of a line?)"
            .to_string();
    }
    if message.contains("unexpected EOF") || message.contains("unexpected eof") {
        return "the file ends in the middle of a YAML structure: is it cut off?".to_string();
    }
    if message.contains("did not find expected ',' or '}'") {
        return "a `{` mapping is not closed: a missing `,` or `}` (or a file cut off?)"
            .to_string();
    }
    if message.contains("expected ',' or ']'") {
        return "a `[` list is not closed: a missing `,` or `]` (or a file cut off?)".to_string();
    }
    if let Some(ty) = message.strip_prefix("invalid ") {
        if let Some(expected) = expected_kind(ty) {
            return format!("expected {expected}");
        }
    }
    // `invalid type: string "x", expected i64`: the expected type in words.
    if let Some((before, ty)) = message.rsplit_once("expected ") {
        if let Some(expected) = expected_kind(ty) {
            return format!("{before}expected {expected}");
        }
    }
    message
}

/// A Rust type the parser names, as what the user has to write.
fn expected_kind(ty: &str) -> Option<&'static str> {
    match ty {
        "i8" | "i16" | "i32" | "i64" | "i128" | "u8" | "u16" | "u32" | "u64" | "u128" | "usize"
        | "isize" => Some("a whole number"),
        "f32" | "f64" => Some("a number"),
        "bool" => Some("true or false"),
        _ => None,
    }
}

/// A key repeated in one mapping (`key` empty when the parser does not say which).
pub(crate) fn duplicate_key_message(key: &str) -> String {
    if key.is_empty() {
        "a key is written twice in the same mapping".to_string()
    } else {
        format!("`{key}` is written twice in the same mapping")
    }
}

/// Whether the parser stopped on its budget (reported as a breach, or as text from inside a
/// value).
fn breached_budget(e: &serde_saphyr::Error) -> bool {
    let bare = e.without_snippet();
    matches!(bare, serde_saphyr::Error::Budget { .. })
        || bare.to_string().contains("budget breached: ")
}

/// A budget breach by the name of its kind.
fn breach_text(kind: &str) -> String {
    match kind {
        "Depth" => format!(
            "nested more than {} levels deep (the YAML reader's limit)",
            parse_options().budget.unwrap_or_default().max_depth
        ),
        "Events" | "Nodes" | "ScalarBytes" | "InputBytes" => {
            "more YAML events or nodes than the reader's budget: aliases that expand too far, \
             or a document too large to report on"
                .to_string()
        }
        "Aliases" | "Anchors" | "AliasAnchorRatio" | "RecordedAnchorEvents" | "MergeKeys" => {
            "too many YAML aliases, anchors or merge keys (an alias bomb?)".to_string()
        }
        "Documents" => "too many YAML documents in one file".to_string(),
        _ => "the YAML reader's safety budget was exceeded".to_string(),
    }
}

/// A YAML budget breach in the tool's words, naming the limit.
fn budget_message(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    let debug = format!("{breach:?}");
    breach_text(debug.split([' ', '{']).next().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The library's programmer-facing phrases are rewritten; what the user wrote is kept.
    #[test]
    fn library_messages_are_translated() {
        for (raw, want) in [
            (
                "duplicate mapping key: expect, set DuplicateKeyPolicy in Options if acceptable",
                "`expect` is written twice in the same mapping",
            ),
            (
                "duplicate mapping key, set DuplicateKeyPolicy in Options if acceptable",
                "a key is written twice in the same mapping",
            ),
            ("invalid i64", "expected a whole number"),
            ("invalid f64", "expected a number"),
            ("invalid bool", "expected true or false"),
            (
                "invalid type: string \"x\", expected i64",
                "invalid type: string \"x\", expected a whole number",
            ),
            (
                "invalid type: string \"x\", expected u32",
                "invalid type: string \"x\", expected a whole number",
            ),
            (
                "use from_str_multiple or from_str_multiple_with_options",
                "several YAML documents (`---`) where one is expected",
            ),
            (
                "unknown field `a0`, expected one of apiVersion, kind",
                "unknown field `a0`, expected one of apiVersion, kind",
            ),
        ] {
            assert_eq!(own_words(raw.to_string()), want);
        }
        for raw in [
            "budget breached: RecordedAnchorEvents { events: 5 }",
            "recursive references require weak recursion types",
            "alias replay limit exceeded: total_replayed_events=5 > 4",
        ] {
            let out = own_words(raw.to_string());
            for leak in [
                "budget breached",
                "from_str",
                "weak recursion",
                "replay",
                "{",
            ] {
                assert!(!out.contains(leak), "{raw} -> {out}");
            }
        }
    }

    #[test]
    fn a_breached_budget_says_the_input_is_too_large() {
        // More documents than the parser's budget allows.
        let deep = "---\nkind: Node\n".repeat(1100);
        let message = match load_state_str(&deep, "deep.yaml") {
            Err(e) => e.to_string(),
            Ok(_) => panic!("1100 documents load"),
        };
        assert!(
            message.contains("too many YAML documents in one file"),
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
