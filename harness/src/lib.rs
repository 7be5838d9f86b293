//! topo-harness: a conformance and end-to-end test harness for Kubernetes topology-aware routing.
//!
//! Layers, bottom to top (each depends only on the ones before it):
//! - [`model`]: the reference semantics of upstream Kubernetes (pure, no I/O);
//! - [`input`]: reading cluster state from `kubectl` dumps or the compact format;
//! - [`explain`]: what the model says about a given cluster state, as text or JSON;
//! - [`observe`]: what a node's dataplane really does (rule dump parsers), named by identity;
//! - [`case`]: case files (types, strict parsing, validation, catalog loading) and [`plan`]:
//!   the run matrix and its cluster shapes;
//! - [`backend`]: where cases run (one trait; the sim backend; convergence waiting);
//! - [`check`] (normalization to endpoint identities, expectation and model checks) and
//!   [`snapshot`] (golden snapshots);
//! - [`runner`]: apply → wait → observe → normalize → check, emitting events;
//! - [`report`]: terminal, JUnit and Markdown reporters consuming those events;
//! - [`upstream`]: real upstream components built from Go modules, cached (used by the
//!   local backend and `topo-harness upstream`);
//! - [`cli`]: the command line (`main.rs` only parses and dispatches).
#![warn(missing_docs)]

// The in-crate tests share the integration tests' scripted mock API server
// (`tests/common/mock_api.rs`), which names this crate `topo_harness`.
#[cfg(test)]
extern crate self as topo_harness;

pub mod backend;
pub mod case;
pub mod check;
pub mod cli;
pub mod explain;
pub mod input;
pub mod model;
pub mod observe;
pub mod plan;
pub mod report;
pub mod runner;
pub mod snapshot;
pub mod upstream;
