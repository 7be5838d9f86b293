//! Reporters: peers that consume the runner's [`Event`]s — the terminal, JUnit XML, a
//! Markdown summary and an HTML page. Each matches every event kind; the terminal, Markdown
//! and HTML reporters show identical failures once ([`groups`]).

pub mod conformance;
pub mod groups;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod progress;
pub mod svg;
pub mod terminal;

use std::path::PathBuf;

use crate::runner::Event;

/// A report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Writing a file failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Writing to the terminal failed.
    #[error("cannot write to the terminal: {0}")]
    Terminal(#[source] std::io::Error),
    /// Serializing the conformance report failed.
    #[error("cannot serialize the conformance report: {0}")]
    Conformance(String),
    /// Serializing JUnit failed.
    #[error("cannot serialize JUnit: {0}")]
    Junit(String),
}

/// Consumes runner events.
pub trait Reporter {
    /// Handles one event.
    fn event(&mut self, event: &Event) -> Result<(), ReportError>;
}

/// Writes `text` to `path`, creating parent directories.
pub fn write_file(path: &PathBuf, text: &str) -> Result<(), ReportError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| ReportError::Write {
            path: path.clone(),
            source,
        })?;
    }
    std::fs::write(path, text).map_err(|source| ReportError::Write {
        path: path.clone(),
        source,
    })
}
