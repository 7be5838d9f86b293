//! Observing what a cluster really does: parsing node dataplanes and naming what was seen.
//!
//! - [`dataplane`]: parsers for `iptables-save`, `nft list table`, `ipvsadm -Ln` and
//!   `/proc/net/ip_vs`, the per-node routes they implement, and their normalization;
//! - [`identity`]: stable names for endpoints (the node they run on), shared with snapshots.

pub mod dataplane;
pub mod identity;
