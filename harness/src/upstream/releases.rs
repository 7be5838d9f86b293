//! The releases the module pins, read from the embedded go.mod files (the one source of truth:
//! `upstream/generate.py` writes them from `upstream/versions.txt`).

use super::error::UpstreamError;
use super::sources::Sources;

/// A Kubernetes release `upstream/` pins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinnedRelease {
    /// The minor (37 for 1.37).
    pub minor: u32,
    /// The `k8s.io/kubernetes` version, which is also the stamped gitVersion (`v1.37.2`).
    pub version: String,
}

impl PinnedRelease {
    /// `Kubernetes 1.37`.
    pub fn name(&self) -> String {
        format!("Kubernetes 1.{}", self.minor)
    }
}

/// The module that `upstream/releases/1.NN/go.mod` requires.
const KUBERNETES_MODULE: &str = "k8s.io/kubernetes";
/// The module that `upstream/etcd/go.mod` requires.
const ETCD_MODULE: &str = "go.etcd.io/etcd/server/v3";

/// The version a go.mod's `require` gives `module` (single line or block form).
pub(crate) fn required_version(gomod: &str, module: &str) -> Option<String> {
    let mut in_block = false;
    for raw in gomod.lines() {
        let line = raw.split("//").next().unwrap_or("").trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["require", "("] => in_block = true,
            [")"] => in_block = false,
            ["require", m, v] if *m == module => return Some((*v).to_string()),
            [m, v] if in_block && *m == module => return Some((*v).to_string()),
            _ => {}
        }
    }
    None
}

/// The `go` line of a go.mod (`1.26.0`).
pub(crate) fn go_line(gomod: &str) -> Option<String> {
    gomod.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        (words.next() == Some("go")).then(|| words.next().map(str::to_string))?
    })
}

/// The releases `sources` pin, by minor.
pub(crate) fn pinned_in(sources: &Sources) -> Vec<PinnedRelease> {
    sources
        .release_minors()
        .into_iter()
        .filter_map(|minor| {
            let gomod = sources.get(&format!("releases/1.{minor}/go.mod"))?;
            let version = required_version(gomod, KUBERNETES_MODULE)?;
            Some(PinnedRelease { minor, version })
        })
        .collect()
}

/// The releases this binary can build, by minor.
pub fn pinned_releases() -> Vec<PinnedRelease> {
    pinned_in(&Sources::embedded())
}

/// The etcd server version `sources` pin (`v3.6.17`).
pub(crate) fn etcd_version_in(sources: &Sources) -> Option<String> {
    required_version(sources.get("etcd/go.mod")?, ETCD_MODULE)
}

/// The pinned release `minor`, or an error naming the pinned ones and the closest.
pub(crate) fn find(pinned: &[PinnedRelease], minor: u32) -> Result<PinnedRelease, UpstreamError> {
    if let Some(r) = pinned.iter().find(|r| r.minor == minor) {
        return Ok(r.clone());
    }
    let known: Vec<u32> = pinned.iter().map(|r| r.minor).collect();
    // The closest minor; on a tie the newer one.
    let nearest = known
        .iter()
        .copied()
        .min_by_key(|k| (k.abs_diff(minor), u32::MAX - k));
    Err(UpstreamError::UnknownRelease {
        minor,
        known,
        nearest,
    })
}

/// Parses a `--kubernetes` value: `1.NN` (also `v1.NN`).
pub(crate) fn parse_minor(text: &str) -> Result<u32, UpstreamError> {
    let bad = || UpstreamError::BadMinor {
        given: text.to_string(),
    };
    let rest = text.trim().trim_start_matches('v');
    let minor = rest.strip_prefix("1.").ok_or_else(bad)?;
    if minor.is_empty() || !minor.bytes().all(|b| b.is_ascii_digit()) || minor.len() > 3 {
        return Err(bad());
    }
    minor.parse().map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::sources::tests::sample;

    #[test]
    fn reads_require_lines_in_both_forms() {
        let gomod = "module m\n\ngo 1.24.0\n\nrequire k8s.io/kubernetes v1.34.4\n\nrequire (\n\tk8s.io/api v0.34.4 // indirect\n)\n";
        assert_eq!(
            required_version(gomod, "k8s.io/kubernetes").as_deref(),
            Some("v1.34.4")
        );
        assert_eq!(
            required_version(gomod, "k8s.io/api").as_deref(),
            Some("v0.34.4")
        );
        assert_eq!(required_version(gomod, "k8s.io/apimachinery"), None);
        // A replace block is no require block.
        let replace = "replace (\n\tk8s.io/api => k8s.io/api v0.34.4\n)\n";
        assert_eq!(required_version(replace, "k8s.io/api"), None);
        assert_eq!(go_line(gomod).as_deref(), Some("1.24.0"));
    }

    #[test]
    fn pinned_from_the_go_mod_files() {
        let s = sample();
        let pinned = pinned_in(&s);
        assert_eq!(
            pinned,
            [
                PinnedRelease {
                    minor: 36,
                    version: "v1.36.3".into()
                },
                PinnedRelease {
                    minor: 37,
                    version: "v1.37.2".into()
                }
            ]
        );
        assert_eq!(etcd_version_in(&s).as_deref(), Some("v3.6.17"));
    }

    #[test]
    fn unknown_minor_names_the_closest() {
        let pinned: Vec<PinnedRelease> = [30, 33, 34]
            .iter()
            .map(|&minor| PinnedRelease {
                minor,
                version: format!("v1.{minor}.0"),
            })
            .collect();
        assert_eq!(
            find(&pinned, 33).map(|r| r.version).ok().as_deref(),
            Some("v1.33.0")
        );
        let nearest = |m| match find(&pinned, m) {
            Err(UpstreamError::UnknownRelease { nearest, known, .. }) => {
                assert_eq!(known, [30, 33, 34]);
                nearest
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(nearest(31), Some(30));
        assert_eq!(nearest(32), Some(33));
        assert_eq!(nearest(99), Some(34));
        assert_eq!(nearest(2), Some(30));
    }

    #[test]
    fn minor_values() {
        assert_eq!(parse_minor("1.37").ok(), Some(37));
        assert_eq!(parse_minor("v1.30").ok(), Some(30));
        for bad in ["1.", "37", "1.37.2", "2.1", "1.x", "", "1.1234"] {
            assert!(
                matches!(parse_minor(bad), Err(UpstreamError::BadMinor { .. })),
                "{bad:?}"
            );
        }
    }

    /// versions.txt (what the generator reads) and the go.mod files (what builds use) agree.
    #[test]
    fn versions_txt_matches_the_generated_go_mod_files() {
        let s = Sources::embedded();
        let text = s.get("versions.txt").expect("versions.txt is embedded");
        let mut listed = Vec::new();
        let mut etcd = None;
        for line in text.lines() {
            let words: Vec<&str> = line
                .split('#')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            match words.as_slice() {
                ["kubernetes", minor, version] => listed.push(PinnedRelease {
                    minor: parse_minor(minor).unwrap(),
                    version: (*version).to_string(),
                }),
                ["etcd", version] => etcd = Some((*version).to_string()),
                [] => {}
                other => panic!("versions.txt: unexpected line {other:?}"),
            }
        }
        assert_eq!(pinned_in(&s), listed, "run upstream/generate.py");
        assert_eq!(etcd_version_in(&s), etcd, "run upstream/generate.py");
        // The go line of each release is upstream's (1.34: 1.24.0, 1.35: 1.25.0, 1.36+: 1.26.0).
        for (minor, go) in [
            (34, "1.24.0"),
            (35, "1.25.0"),
            (36, "1.26.0"),
            (37, "1.26.0"),
        ] {
            let gomod = s.get(&format!("releases/1.{minor}/go.mod")).unwrap();
            assert_eq!(go_line(gomod).as_deref(), Some(go), "1.{minor}");
        }
    }
}
