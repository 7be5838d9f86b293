//! Typed errors of the dataplane parsers.

use thiserror::Error;

/// Why a rule dump could not be turned into routes. Every variant names the 1-based line.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DataplaneError {
    /// Proxy mode `none`: no kube-proxy runs, so there is no rule dump to read.
    #[error("proxy mode none has no kube-proxy rules to read; observe routes with traffic")]
    NoKubeProxy,
    /// The input is not a dump of the expected kind at all.
    #[error("line {line}: not {expected}: {found}")]
    NotADump {
        /// Line of the first content that gave it away.
        line: usize,
        /// What was expected (`an iptables-save dump`, ...).
        expected: &'static str,
        /// What was found instead.
        found: String,
    },
    /// A line that cannot be read in this format.
    #[error("line {line}: {message}")]
    Syntax {
        /// Line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The dump ends in the middle of something (a table without `COMMIT`, an open block).
    #[error("line {line}: dump ends inside {inside} (truncated?)")]
    Truncated {
        /// The last line of the input.
        line: usize,
        /// What was still open.
        inside: String,
    },
    /// A kube-proxy chain is jumped to but never defined.
    #[error("line {line}: chain `{chain}` is jumped to but never defined")]
    UndefinedChain {
        /// Line of the jump.
        line: usize,
        /// The missing chain.
        chain: String,
    },
    /// A probability that is not a number in `[0, 1]`.
    #[error("line {line}: probability `{value}` is not a number in [0, 1]")]
    BadProbability {
        /// Line number.
        line: usize,
        /// The value as written.
        value: String,
    },
    /// An address or port that does not parse (decimal or `/proc` hex form).
    #[error("line {line}: address `{value}` does not parse")]
    BadAddress {
        /// Line number.
        line: usize,
        /// The value as written.
        value: String,
    },
    /// A port that is not a number in 1..=65535 (`--dport abc`, `99999`).
    #[error("line {line}: port `{value}` is not a number in 1..=65535")]
    BadPort {
        /// Line number.
        line: usize,
        /// The value as written.
        value: String,
    },
    /// The rules are readable but do not fit together (an endpoint chain without DNAT, a loop).
    #[error("line {line}: {message}")]
    Inconsistent {
        /// Line of the offending chain or rule.
        line: usize,
        /// What does not fit.
        message: String,
    },
}

impl DataplaneError {
    /// The 1-based line the error points at (1 when the whole dump is refused).
    pub fn line(&self) -> usize {
        match self {
            DataplaneError::NoKubeProxy => 1,
            DataplaneError::NotADump { line, .. }
            | DataplaneError::Syntax { line, .. }
            | DataplaneError::Truncated { line, .. }
            | DataplaneError::UndefinedChain { line, .. }
            | DataplaneError::BadProbability { line, .. }
            | DataplaneError::BadAddress { line, .. }
            | DataplaneError::BadPort { line, .. }
            | DataplaneError::Inconsistent { line, .. } => *line,
        }
    }

    /// The value the error is about, as written (to find its column on the line).
    pub fn value(&self) -> Option<&str> {
        match self {
            DataplaneError::BadProbability { value, .. }
            | DataplaneError::BadAddress { value, .. }
            | DataplaneError::BadPort { value, .. } => Some(value),
            DataplaneError::UndefinedChain { chain, .. } => Some(chain),
            _ => None,
        }
    }

    /// The message without its `line N: ` prefix, for `file:line:column: message`.
    pub fn message(&self) -> String {
        let text = self.to_string();
        let prefix = format!("line {}: ", self.line());
        match text.strip_prefix(&prefix) {
            Some(rest) => rest.to_string(),
            None => text,
        }
    }
}

pub(crate) fn syntax(line: usize, message: impl Into<String>) -> DataplaneError {
    DataplaneError::Syntax {
        line,
        message: message.into(),
    }
}
