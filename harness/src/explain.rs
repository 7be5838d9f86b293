//! `topo-harness explain`: what the model says about a cluster state.
