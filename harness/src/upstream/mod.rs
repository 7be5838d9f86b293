//! Real upstream components, built from Go modules and cached: kube-apiserver,
//! kube-controller-manager and kube-proxy (one multi-call `k8s` program per Kubernetes
//! release), etcd, and `netexec`, the node helper of the local backend.
//!
//! The Go sources and the pinned go.mod/go.sum files of `upstream/` are embedded in the binary
//! ([`sources`]); each pinned release ([`releases`]) builds every program below
//! `upstream/src/cmd/` ([`units`], with the command lines of [`gocmd`]); [`driver`] builds
//! into the [`cache`], whose entries carry a [`manifest`] that says what they were built from.
//!
//! What the local backend uses:
//! ```no_run
//! # fn main() -> Result<(), topo_harness::upstream::UpstreamError> {
//! let cache = topo_harness::upstream::Cache::locate(None)?;
//! let release = cache.release(37)?; // or: "Kubernetes 1.37 is not built; run: …"
//! println!("{} {}", release.git_version, release.k8s.display());
//! # Ok(()) }
//! ```

mod cache;
pub(crate) mod display;
pub(crate) mod driver;
mod error;
mod gocmd;
mod manifest;
mod releases;
mod sources;
mod units;

pub use cache::{Cache, CachedRelease, CACHE_ENV};
pub use error::UpstreamError;
pub use releases::{pinned_releases, PinnedRelease};

pub(crate) use cache::{disk_usage, Freshness};
pub(crate) use releases::parse_minor;
pub(crate) use units::{all_units, Entry, Unit};

#[cfg(test)]
mod tests {
    use crate::backend::live::workload::manifests::{
        ANSWER_PREFIX, NO_ROUTE_CODES, PROBE_CONCURRENCY, PROBE_MAX_TIME_SECS, PROBE_NO_ROUTE_STOP,
        STOP_PREFIX,
    };

    /// The value of `name = value` in a Go const block.
    fn go_const<'a>(source: &'a str, name: &str) -> &'a str {
        source
            .lines()
            .find_map(|l| {
                let (lhs, rhs) = l.split_once('=')?;
                (lhs.trim() == name).then(|| rhs.split("//").next().unwrap_or("").trim())
            })
            .unwrap_or_else(|| panic!("netexec/probe.go has no const {name}"))
    }

    /// `netexec probe` prints what the kind client script prints and stops when it stops, so
    /// the live backends share one parser: its constants are the Rust ones.
    #[test]
    fn netexec_probe_mirrors_the_kind_client_script() {
        let sources = super::sources::Sources::embedded();
        let probe = sources.get("netexec/probe.go").expect("embedded");
        assert_eq!(
            go_const(probe, "answerPrefix"),
            format!("{ANSWER_PREFIX:?}")
        );
        assert_eq!(go_const(probe, "stopPrefix"), format!("{STOP_PREFIX:?}"));
        assert_eq!(
            go_const(probe, "defaultConcurrency"),
            PROBE_CONCURRENCY.to_string()
        );
        assert_eq!(
            go_const(probe, "noRouteStop"),
            PROBE_NO_ROUTE_STOP.to_string()
        );
        assert_eq!(
            go_const(probe, "defaultTimeoutSeconds"),
            PROBE_MAX_TIME_SECS.to_string()
        );
        let script = crate::backend::live::workload::manifests::probe_script("h", 1, 1);
        let connect = go_const(probe, "connectTimeoutSeconds");
        assert!(
            script.contains(&format!("--connect-timeout {connect} ")),
            "{script}"
        );
        // The codes, by the names netexec gives them.
        let codes: Vec<i32> = [
            "rcCouldntConnect",
            "rcTimeout",
            "rcEmptyReply",
            "rcRecvError",
            "rcOtherConnError",
        ]
        .iter()
        .map(|n| go_const(probe, n).parse().unwrap())
        .collect();
        assert_eq!(codes, NO_ROUTE_CODES);
        assert!(probe.contains(
            "var noRouteCodes = []int{rcCouldntConnect, rcTimeout, rcEmptyReply, rcRecvError, rcOtherConnError}"
        ));
    }
}
