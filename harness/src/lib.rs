//! topo-harness: a conformance and end-to-end test harness for Kubernetes topology-aware routing.
//!
//! Layers, bottom to top (each depends only on the ones before it):
//! - [`model`]: the reference semantics of upstream Kubernetes (pure, no I/O);
//! - [`input`]: reading cluster state from `kubectl` dumps or the compact format;
//! - [`explain`]: what the model says about a given cluster state, as text or JSON;
//! - [`backend`]: talking to real clusters (the Kubernetes API layer);
//! - [`cli`]: the command line (the binary only calls [`cli::main`]).
#![warn(missing_docs)]

pub mod backend;
pub mod cli;
pub mod explain;
pub mod input;
pub mod model;
