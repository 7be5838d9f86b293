//! Errors raised while reading a cluster state.

use std::fmt;
use std::path::PathBuf;

/// Where in an input something is: the origin (file name) and a 1-based line and column.
///
/// A line of 0 means the position is unknown; only the origin is shown then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLocation {
    /// The file name (or any label the caller passed as `origin`).
    pub origin: String,
    /// 1-based line; 0 when unknown.
    pub line: u32,
    /// 1-based column; 0 when unknown.
    pub column: u32,
}

impl SourceLocation {
    /// A location in `origin`.
    pub fn new(origin: &str, line: u32, column: u32) -> Self {
        SourceLocation {
            origin: origin.to_string(),
            line,
            column,
        }
    }
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.origin)
        } else {
            write!(f, "{}:{}:{}", self.origin, self.line, self.column)
        }
    }
}

/// The object kinds a kubectl dump may contain.
pub const ACCEPTED_KINDS: &str =
    "Node, Service, EndpointSlice (alone, in a List, NodeList, ServiceList or EndpointSliceList), or State (the compact format)";

/// Why a cluster state could not be read. Every variant is bad input: exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than the input size budget (checked before it is read whole).
    #[error("{origin}: the input is larger than the size budget of {limit} bytes ({}); raise it with --max-input-size", human_size(*limit))]
    TooLarge {
        /// The file name.
        origin: String,
        /// The budget in bytes.
        limit: u64,
    },
    /// The bytes are not UTF-8 text.
    #[error("{at}: invalid UTF-8 (byte 0x{byte:02x}); the input must be UTF-8 text")]
    InvalidUtf8 {
        /// Where the first invalid byte is (its column counts the characters before it).
        at: SourceLocation,
        /// The first invalid byte.
        byte: u8,
    },
    /// The text is not valid YAML/JSON.
    #[error("{at}: invalid YAML/JSON: {message}")]
    Syntax {
        /// Where the parser stopped.
        at: SourceLocation,
        /// What the parser expected or found.
        message: String,
    },
    /// The input holds no document at all.
    #[error("{origin}: no objects found; expected {ACCEPTED_KINDS}")]
    Empty {
        /// The file name.
        origin: String,
    },
    /// An object of a kind the harness does not read.
    #[error(
        "{at}: {}: kind `{kind}` is not accepted; expected {ACCEPTED_KINDS}",
        display_path(path)
    )]
    UnknownKind {
        /// Where the object starts.
        at: SourceLocation,
        /// The object's path, e.g. `items[3]`.
        path: String,
        /// The kind found.
        kind: String,
    },
    /// The file ends early (a dump cut off in transfer or by a size limit), which left the
    /// problem in `source`.
    #[error("{source} — the file looks cut off: {why}; dump it again")]
    CutOff {
        /// What the missing end left wrong.
        source: Box<InputError>,
        /// What shows the file is cut off.
        why: String,
    },
    /// A field the model needs is absent.
    #[error("{at}: {}: required field is missing", display_path(path))]
    Missing {
        /// Where the enclosing object starts.
        at: SourceLocation,
        /// The missing field's path, e.g. `items[0].metadata.name`.
        path: String,
    },
    /// A field has the wrong type.
    #[error("{at}: {}: expected {expected}, found {found}", display_path(path))]
    WrongType {
        /// Where the value is.
        at: SourceLocation,
        /// The field's path.
        path: String,
        /// What was expected, e.g. `a string`.
        expected: String,
        /// What was found, e.g. `a number`.
        found: String,
    },
    /// A field has the right type but a value the harness cannot use.
    #[error("{at}: {}: {message}", display_path(path))]
    InvalidValue {
        /// Where the value is.
        at: SourceLocation,
        /// The field's path.
        path: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// Two objects with the same identity.
    #[error("{at}: duplicate {what} `{name}` (first defined at line {first_line})")]
    Duplicate {
        /// Where the second object starts.
        at: SourceLocation,
        /// `node`, `service` or `EndpointSlice`.
        what: &'static str,
        /// The name (`namespace/name` for namespaced objects).
        name: String,
        /// The line of the first object with that name.
        first_line: u32,
    },
    /// A compact state document does not match the format (unknown field, wrong type, …).
    #[error("{at}: {message}")]
    Compact {
        /// Where the decoder stopped.
        at: SourceLocation,
        /// What was wrong, as the decoder reports it.
        message: String,
    },
}

/// `256 MiB`, `1.5 GiB`, `900 bytes`.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size {
            let whole = bytes / size;
            let tenths = (bytes % size) * 10 / size;
            return if tenths == 0 {
                format!("{whole} {unit}")
            } else {
                format!("{whole}.{tenths} {unit}")
            };
        }
    }
    format!("{bytes} bytes")
}

fn display_path(path: &str) -> &str {
    if path.is_empty() {
        "document root"
    } else {
        path
    }
}

impl InputError {
    /// The process exit code for this error: 2 (bad input) for every variant.
    pub fn exit_code(&self) -> i32 {
        match self {
            InputError::Read { .. }
            | InputError::TooLarge { .. }
            | InputError::InvalidUtf8 { .. }
            | InputError::Syntax { .. }
            | InputError::Empty { .. }
            | InputError::UnknownKind { .. }
            | InputError::Missing { .. }
            | InputError::WrongType { .. }
            | InputError::InvalidValue { .. }
            | InputError::Duplicate { .. }
            | InputError::Compact { .. }
            | InputError::CutOff { .. } => 2,
        }
    }

    /// The location the error points at, when it has one.
    pub fn location(&self) -> Option<&SourceLocation> {
        match self {
            InputError::Read { .. } | InputError::Empty { .. } | InputError::TooLarge { .. } => {
                None
            }
            InputError::Syntax { at, .. }
            | InputError::InvalidUtf8 { at, .. }
            | InputError::UnknownKind { at, .. }
            | InputError::Missing { at, .. }
            | InputError::WrongType { at, .. }
            | InputError::InvalidValue { at, .. }
            | InputError::Duplicate { at, .. }
            | InputError::Compact { at, .. } => Some(at),
            InputError::CutOff { source, .. } => source.location(),
        }
    }
}
