//! The cache directory: where it is, its layout, and whether what it holds is fresh.
//!
//! ```text
//! <root>/k8s-v1.37.2/bin/{k8s,oracle}   manifest.json
//! <root>/etcd-v3.6.17/bin/etcd          manifest.json
//! <root>/netexec-<id>/bin/netexec       manifest.json
//! <root>/tmp/                           source trees while a build runs
//! <root>/.lock                          held by a running build
//! ```

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::error::UpstreamError;
use super::manifest::{Built, Manifest};
use super::releases::{find, pinned_in, PinnedRelease};
use super::sources::Sources;
use super::units::{all_units, Entry, Unit, ETCD, K8S, NETEXEC, ORACLE};

/// The variable that names the cache directory.
pub const CACHE_ENV: &str = "TOPO_UPSTREAM_CACHE";
/// Below the user's cache directory.
const CACHE_SUBDIR: &str = "topo-harness/upstream";
/// Where builds assemble their source trees.
pub(crate) const TMP_DIR: &str = "tmp";
/// The lock file a build holds.
pub(crate) const LOCK_FILE: &str = ".lock";

/// The cache of upstream binaries.
#[derive(Clone, Debug)]
pub struct Cache {
    root: PathBuf,
    /// Given with `--cache` (messages then repeat it in the commands they suggest).
    overridden: bool,
    sources: Sources,
}

/// The binaries of one release, all fresh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedRelease {
    /// The minor (37 for 1.37).
    pub minor: u32,
    /// The stamped gitVersion (`v1.37.2`), which `/version` reports.
    pub git_version: String,
    /// The multi-call program: run as `k8s kube-apiserver|kube-controller-manager|kube-proxy …`
    /// (or through a link of that name).
    pub k8s: PathBuf,
    /// etcd.
    pub etcd: PathBuf,
    /// The node helper.
    pub netexec: PathBuf,
    /// The upstream-code oracle, when its sources exist and it is built and fresh.
    pub oracle: Option<PathBuf>,
}

/// Whether a program in the cache is the one the embedded sources build.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Freshness {
    /// Built from these sources; the binary is as it was written.
    Fresh(Built),
    /// Built, but from other sources (or the binary changed since).
    Stale(Built),
    /// Not built.
    Missing,
}

/// The cache root for `given` (`--cache`), else `$TOPO_UPSTREAM_CACHE`, else
/// `$XDG_CACHE_HOME/topo-harness/upstream`, else `$HOME/.cache/topo-harness/upstream`. Empty
/// variables count as unset, and a relative `XDG_CACHE_HOME` is ignored (as the XDG spec says).
pub(crate) fn resolve_root(
    given: Option<&Path>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<PathBuf, UpstreamError> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let root = if let Some(dir) = given {
        dir.to_path_buf()
    } else if let Some(dir) = set(CACHE_ENV) {
        dir
    } else if let Some(dir) = set("XDG_CACHE_HOME").filter(|d| d.is_absolute()) {
        dir.join(CACHE_SUBDIR)
    } else if let Some(home) = set("HOME") {
        home.join(".cache").join(CACHE_SUBDIR)
    } else {
        return Err(UpstreamError::NoCacheDir);
    };
    std::path::absolute(&root).map_err(UpstreamError::io("resolving", root))
}

impl Cache {
    /// The cache at `dir` (`--cache`), or where the environment says (see [`CACHE_ENV`]:
    /// else `$XDG_CACHE_HOME/topo-harness/upstream`, else `~/.cache/topo-harness/upstream`).
    /// Nothing is created.
    pub fn locate(dir: Option<&Path>) -> Result<Cache, UpstreamError> {
        let root = resolve_root(dir, |name| std::env::var_os(name))?;
        Ok(Cache::with_sources(
            root,
            dir.is_some(),
            Sources::embedded(),
        ))
    }

    /// A cache whose expected contents come from `sources`.
    pub(crate) fn with_sources(root: PathBuf, overridden: bool, sources: Sources) -> Cache {
        Cache {
            root,
            overridden,
            sources,
        }
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The sources whose builds this cache holds.
    pub(crate) fn sources(&self) -> &Sources {
        &self.sources
    }

    /// ` --cache DIR` when the cache was given with `--cache`, else empty.
    pub(crate) fn cache_flag(&self) -> String {
        if self.overridden {
            format!(
                " --cache {}",
                crate::backend::command::shell_quote(&self.root.to_string_lossy())
            )
        } else {
            String::new()
        }
    }

    /// The directory of `entry`.
    pub(crate) fn entry_dir(&self, entry: &Entry) -> PathBuf {
        self.root.join(entry.dir_name())
    }

    /// Where `unit`'s binary lives.
    pub(crate) fn binary(&self, unit: &Unit) -> PathBuf {
        self.entry_dir(&unit.entry).join("bin").join(&unit.program)
    }

    /// Whether `unit` is built from these sources.
    pub(crate) fn freshness(&self, unit: &Unit) -> Freshness {
        let Some(built) = Manifest::read(&self.entry_dir(&unit.entry))
            .and_then(|mut m| m.programs.remove(&unit.program))
        else {
            return Freshness::Missing;
        };
        match std::fs::metadata(self.binary(unit)) {
            Err(_) => Freshness::Missing,
            Ok(meta) if meta.len() == built.size && built.digest == unit.digest => {
                Freshness::Fresh(built)
            }
            Ok(_) => Freshness::Stale(built),
        }
    }

    /// The releases the sources pin.
    pub(crate) fn pinned(&self) -> Vec<PinnedRelease> {
        pinned_in(&self.sources)
    }

    /// The fresh binaries of release 1.`minor`, or what to run to build them.
    pub fn release(&self, minor: u32) -> Result<CachedRelease, UpstreamError> {
        let release = find(&self.pinned(), minor)?;
        let units = all_units(&self.sources);
        let unit_of = |program: &str| {
            units.iter().find(|u| {
                u.program == program
                    && match &u.entry {
                        Entry::Kubernetes(r) => r.minor == minor,
                        _ => true,
                    }
            })
        };
        let fresh = |program: &str, what: String| -> Result<PathBuf, UpstreamError> {
            let not_built = |state| UpstreamError::NotBuilt {
                what: what.clone(),
                state,
                minor,
                cache: self.cache_flag(),
            };
            let unit = unit_of(program).ok_or_else(|| not_built("not built"))?;
            match self.freshness(unit) {
                Freshness::Fresh(_) => Ok(self.binary(unit)),
                Freshness::Stale(_) => Err(not_built(
                    "built from other sources than this topo-harness carries",
                )),
                Freshness::Missing => Err(not_built("not built")),
            }
        };
        let name = release.name();
        Ok(CachedRelease {
            minor,
            k8s: fresh(K8S, name.clone())?,
            etcd: fresh(ETCD, format!("etcd (needed by {name})"))?,
            netexec: fresh(NETEXEC, format!("netexec (needed by {name})"))?,
            oracle: unit_of(ORACLE)
                .filter(|u| matches!(self.freshness(u), Freshness::Fresh(_)))
                .map(|u| self.binary(u)),
            git_version: release.version,
        })
    }

    /// The directories below the root that no unit of these sources uses (older pins,
    /// netexec builds of other sources), sorted.
    pub(crate) fn unused_entries(&self) -> Vec<PathBuf> {
        let used: Vec<String> = all_units(&self.sources)
            .iter()
            .map(|u| u.entry.dir_name())
            .collect();
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut unused: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name != TMP_DIR && !name.starts_with('.') && !used.contains(&name)
            })
            .map(|e| e.path())
            .collect();
        unused.sort();
        unused
    }
}

/// The bytes below `dir` (0 when it does not exist); links are not followed.
pub(crate) fn disk_usage(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => disk_usage(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::upstream::sources::tests::sample;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            vars.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn cache_dir_resolution_order() {
        let all = [
            ("TOPO_UPSTREAM_CACHE", "/c/topo"),
            ("XDG_CACHE_HOME", "/c/xdg"),
            ("HOME", "/home/u"),
        ];
        let root = |given: Option<&str>, vars: &[(&str, &str)]| {
            resolve_root(given.map(Path::new), env(vars)).map(|p| p.display().to_string())
        };
        assert_eq!(root(Some("/given"), &all).ok().as_deref(), Some("/given"));
        assert_eq!(root(None, &all).ok().as_deref(), Some("/c/topo"));
        assert_eq!(
            root(None, &all[1..]).ok().as_deref(),
            Some("/c/xdg/topo-harness/upstream")
        );
        assert_eq!(
            root(None, &all[2..]).ok().as_deref(),
            Some("/home/u/.cache/topo-harness/upstream")
        );
        // Empty counts as unset; a relative XDG_CACHE_HOME is ignored.
        assert_eq!(
            root(
                None,
                &[
                    ("TOPO_UPSTREAM_CACHE", ""),
                    ("XDG_CACHE_HOME", "rel"),
                    ("HOME", "/h")
                ]
            )
            .ok()
            .as_deref(),
            Some("/h/.cache/topo-harness/upstream")
        );
        assert!(matches!(root(None, &[]), Err(UpstreamError::NoCacheDir)));
        // A relative --cache is made absolute (commands run in other directories).
        let rel = resolve_root(Some(Path::new("rel/cache")), env(&[])).unwrap();
        assert!(rel.is_absolute() && rel.ends_with("rel/cache"));
    }

    /// A temporary cache over the sample sources, removed on drop.
    pub(crate) struct TempCache {
        pub(crate) cache: Cache,
    }

    impl TempCache {
        pub(crate) fn new(name: &str) -> Self {
            let root = std::env::temp_dir()
                .join(format!("topo-upstream-cache-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            TempCache {
                cache: Cache::with_sources(root, true, sample()),
            }
        }

        /// Writes a binary for `unit` and records it as built from `digest`.
        pub(crate) fn put(&self, unit: &Unit, digest: &str) {
            let path = self.cache.binary(unit);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, b"binary").unwrap();
            let dir = self.cache.entry_dir(&unit.entry);
            let mut m = Manifest::read(&dir).unwrap_or_else(|| Manifest::new(unit.entry.version()));
            m.programs.insert(
                unit.program.clone(),
                Built {
                    digest: digest.into(),
                    built_at: 0,
                    seconds: 1.0,
                    go_version: "go1.26.8".into(),
                    size: 6,
                },
            );
            m.write(&dir).unwrap();
        }
    }

    impl Drop for TempCache {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.cache.root);
        }
    }

    fn unit(t: &TempCache, label: &str) -> Unit {
        all_units(t.cache.sources())
            .into_iter()
            .find(|u| u.label() == label)
            .unwrap()
    }

    #[test]
    fn freshness_follows_the_digest_and_the_binary() {
        let t = TempCache::new("fresh");
        let k8s = unit(&t, "Kubernetes 1.37 k8s");
        assert_eq!(t.cache.freshness(&k8s), Freshness::Missing);
        t.put(&k8s, &k8s.digest);
        assert!(matches!(t.cache.freshness(&k8s), Freshness::Fresh(_)));
        t.put(&k8s, "another digest");
        assert!(matches!(t.cache.freshness(&k8s), Freshness::Stale(_)));
        t.put(&k8s, &k8s.digest);
        std::fs::write(t.cache.binary(&k8s), b"truncated? changed").unwrap();
        assert!(
            matches!(t.cache.freshness(&k8s), Freshness::Stale(_)),
            "size changed"
        );
        std::fs::remove_file(t.cache.binary(&k8s)).unwrap();
        assert_eq!(t.cache.freshness(&k8s), Freshness::Missing);
    }

    #[test]
    fn release_needs_every_program_fresh() {
        let t = TempCache::new("release");
        let err = t.cache.release(37).unwrap_err().to_string();
        let flag = t.cache.cache_flag();
        assert_eq!(
            err,
            format!("Kubernetes 1.37 is not built; run: topo-harness upstream build --kubernetes 1.37{flag}")
        );
        let k8s = unit(&t, "Kubernetes 1.37 k8s");
        t.put(&k8s, &k8s.digest);
        let err = t.cache.release(37).unwrap_err().to_string();
        assert!(
            err.starts_with("etcd (needed by Kubernetes 1.37) is not built; run:"),
            "{err}"
        );
        for label in ["etcd v3.6.17", "netexec"] {
            let u = unit(&t, label);
            t.put(&u, &u.digest);
        }
        let release = t.cache.release(37).unwrap();
        assert_eq!(release.git_version, "v1.37.2");
        assert_eq!(release.k8s, t.cache.root().join("k8s-v1.37.2/bin/k8s"));
        assert_eq!(release.etcd, t.cache.root().join("etcd-v3.6.17/bin/etcd"));
        let netexec_dir = release
            .netexec
            .parent()
            .and_then(|bin| bin.parent())
            .unwrap();
        assert!(netexec_dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("netexec-"));
        assert_eq!(netexec_dir.parent(), Some(t.cache.root()));
        assert_eq!(release.oracle, None, "the oracle is optional");
        let oracle = unit(&t, "Kubernetes 1.37 oracle");
        t.put(&oracle, &oracle.digest);
        assert_eq!(
            t.cache.release(37).unwrap().oracle,
            Some(t.cache.root().join("k8s-v1.37.2/bin/oracle"))
        );
        // Stale k8s: the message says so.
        t.put(&k8s, "old");
        let err = t.cache.release(37).unwrap_err().to_string();
        assert!(
            err.contains("built from other sources than this topo-harness carries"),
            "{err}"
        );
        // A minor that is not pinned.
        assert!(matches!(
            t.cache.release(31),
            Err(UpstreamError::UnknownRelease { minor: 31, .. })
        ));
    }

    #[test]
    fn unused_entries_are_found() {
        let t = TempCache::new("unused");
        let k8s = unit(&t, "Kubernetes 1.37 k8s");
        t.put(&k8s, &k8s.digest);
        for old in ["k8s-v1.37.1", "netexec-000000000000", TMP_DIR] {
            std::fs::create_dir_all(t.cache.root().join(old)).unwrap();
        }
        let names: Vec<String> = t
            .cache
            .unused_entries()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["k8s-v1.37.1", "netexec-000000000000"]);
        assert_eq!(
            disk_usage(t.cache.root()),
            6 + std::fs::metadata(t.cache.entry_dir(&k8s.entry).join("manifest.json"))
                .unwrap()
                .len()
        );
    }
}
