//! What can go wrong while building, caching and finding the upstream binaries.

use std::path::PathBuf;

/// An error of [`crate::upstream`]; [`UpstreamError::exit_code`] maps it to the CLI's codes.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No cache directory can be derived from the environment.
    #[error(
        "no cache directory: set TOPO_UPSTREAM_CACHE, XDG_CACHE_HOME or HOME, or pass --cache DIR"
    )]
    NoCacheDir,
    /// A `--kubernetes` value that is no `1.NN`.
    #[error("--kubernetes {given:?}: expected a minor release such as 1.37")]
    BadMinor {
        /// What was given.
        given: String,
    },
    /// A minor the module does not pin.
    #[error(
        "Kubernetes 1.{minor} is not pinned (pinned: {}){}",
        known.iter().map(|m| format!("1.{m}")).collect::<Vec<_>>().join(", "),
        nearest.map(|m| format!("; did you mean 1.{m}?")).unwrap_or_default()
    )]
    UnknownRelease {
        /// The minor asked for.
        minor: u32,
        /// The pinned minors.
        known: Vec<u32>,
        /// The pinned minor closest to it.
        nearest: Option<u32>,
    },
    /// A `--program` that no source tree holds.
    #[error("--program {given:?}: no such program (known: {})", known.join(", "))]
    UnknownProgram {
        /// What was given.
        given: String,
        /// The known programs.
        known: Vec<String>,
    },
    /// A release (or a program it needs) is not in the cache, or is stale.
    #[error("{what} is {state}; run: topo-harness upstream build --kubernetes 1.{minor}{cache}")]
    NotBuilt {
        /// What is missing ("Kubernetes 1.37", "etcd v3.6.17 (for Kubernetes 1.37)").
        what: String,
        /// "not built", or "built from other sources than this topo-harness carries".
        state: &'static str,
        /// The release to build.
        minor: u32,
        /// ` --cache DIR` when the cache is not the default one, else empty.
        cache: String,
    },
    /// `go` is not on PATH or does not run.
    #[error(
        "{}; install Go 1.26 or newer (https://go.dev/dl/) or put it on PATH",
        detail.as_ref().map_or_else(|| "`go` is not on PATH".to_string(), |d| format!("`go` does not run: {d}"))
    )]
    GoMissing {
        /// Why it does not run (`None`: there is no `go` on PATH).
        detail: Option<String>,
    },
    /// The Go toolchain is older than a go.mod asks for.
    #[error("{what} needs Go {needs} or newer; `go` is {have}")]
    GoTooOld {
        /// The release or program.
        what: String,
        /// The go.mod's `go` line.
        needs: String,
        /// `go env GOVERSION`.
        have: String,
    },
    /// The modules cannot be downloaded (the proxy is unreachable, refuses, or is turned off).
    #[error(
        "cannot download the Go modules of {what} (GOPROXY={proxy}): {detail} — is the module proxy reachable?"
    )]
    ModuleDownload {
        /// The release or program.
        what: String,
        /// `go env GOPROXY`.
        proxy: String,
        /// The first error line go printed.
        detail: String,
        /// The command as you would paste it.
        command: String,
    },
    /// `go build` failed.
    #[error("building {what} failed ({status}):\n  {command}\n{tail}")]
    BuildFailed {
        /// The release and program.
        what: String,
        /// How go exited.
        status: String,
        /// The command as you would paste it.
        command: String,
        /// The last lines of go's output, indented.
        tail: String,
    },
    /// Reading or writing the cache failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("creating", "writing", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl UpstreamError {
    /// The exit code: 1 when a build failed, 2 when the command cannot start (bad input, no
    /// Go, no module proxy, an unusable cache).
    pub fn exit_code(&self) -> i32 {
        match self {
            UpstreamError::BuildFailed { .. } => 1,
            UpstreamError::NoCacheDir
            | UpstreamError::BadMinor { .. }
            | UpstreamError::UnknownRelease { .. }
            | UpstreamError::UnknownProgram { .. }
            | UpstreamError::NotBuilt { .. }
            | UpstreamError::GoMissing { .. }
            | UpstreamError::GoTooOld { .. }
            | UpstreamError::ModuleDownload { .. }
            | UpstreamError::Io { .. } => 2,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| UpstreamError::Io {
            action,
            path,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_next() {
        let unknown = UpstreamError::UnknownRelease {
            minor: 31,
            known: vec![30, 33, 37],
            nearest: Some(30),
        };
        assert_eq!(
            unknown.to_string(),
            "Kubernetes 1.31 is not pinned (pinned: 1.30, 1.33, 1.37); did you mean 1.30?"
        );
        let not_built = UpstreamError::NotBuilt {
            what: "Kubernetes 1.37".into(),
            state: "not built",
            minor: 37,
            cache: String::new(),
        };
        assert_eq!(
            not_built.to_string(),
            "Kubernetes 1.37 is not built; run: topo-harness upstream build --kubernetes 1.37"
        );
        assert_eq!(not_built.exit_code(), 2);
        let failed = UpstreamError::BuildFailed {
            what: "Kubernetes 1.37 k8s".into(),
            status: "exit status 1".into(),
            command: "cd /x && go build ./cmd/k8s".into(),
            tail: "  ./main.go:1: oops".into(),
        };
        assert_eq!(failed.exit_code(), 1);
        assert!(failed
            .to_string()
            .contains("\n  cd /x && go build ./cmd/k8s\n"));
    }
}
