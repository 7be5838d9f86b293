//! The manifest of a cache entry (`manifest.json`): what each program was built from, when,
//! how long it took, with which Go, and how large it is.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::UpstreamError;

/// The manifest's file name in an entry directory.
pub(crate) const MANIFEST_FILE: &str = "manifest.json";
/// The format this code writes and reads (another one reads as no manifest: rebuilt).
const FORMAT: u32 = 1;

/// One entry's manifest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// [`FORMAT`].
    pub(crate) format: u32,
    /// The version of the entry (`v1.37.2`, `v3.6.17`, a netexec id).
    pub(crate) version: String,
    /// Program name → how it was built.
    pub(crate) programs: BTreeMap<String, Built>,
}

/// How one program was built.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Built {
    /// The digest of the sources, go.mod/go.sum and go command it was built from.
    pub(crate) digest: String,
    /// When the build finished (seconds since the Unix epoch).
    pub(crate) built_at: u64,
    /// How long `go build` took, in seconds.
    pub(crate) seconds: f64,
    /// `go env GOVERSION` of the toolchain that built it.
    pub(crate) go_version: String,
    /// The binary's size in bytes (a different size means the binary was changed).
    pub(crate) size: u64,
}

impl Manifest {
    /// An empty manifest for an entry of `version`.
    pub(crate) fn new(version: &str) -> Self {
        Manifest {
            format: FORMAT,
            version: version.to_string(),
            programs: BTreeMap::new(),
        }
    }

    /// Reads `dir`'s manifest; `None` when there is none, or it is unreadable or of another
    /// format (the entry then counts as not built, and a build writes a new one).
    pub(crate) fn read(dir: &Path) -> Option<Manifest> {
        let text = std::fs::read_to_string(dir.join(MANIFEST_FILE)).ok()?;
        serde_json::from_str::<Manifest>(&text)
            .ok()
            .filter(|m| m.format == FORMAT)
    }

    /// Writes the manifest into `dir` atomically (a temporary file renamed over it).
    pub(crate) fn write(&self, dir: &Path) -> Result<(), UpstreamError> {
        let path = dir.join(MANIFEST_FILE);
        let partial = dir.join(format!(".{MANIFEST_FILE}.partial-{}", std::process::id()));
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        std::fs::write(&partial, text).map_err(UpstreamError::io("writing", &partial))?;
        std::fs::rename(&partial, &path).map_err(UpstreamError::io("renaming", &partial))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_formats() {
        let dir =
            std::env::temp_dir().join(format!("topo-upstream-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(Manifest::read(&dir), None);
        let mut m = Manifest::new("v1.37.2");
        m.programs.insert(
            "k8s".into(),
            Built {
                digest: "ab".into(),
                built_at: 1,
                seconds: 2.5,
                go_version: "go1.26.8".into(),
                size: 3,
            },
        );
        m.write(&dir).unwrap();
        assert_eq!(Manifest::read(&dir), Some(m.clone()));
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, [std::ffi::OsString::from(MANIFEST_FILE)]);
        std::fs::write(
            dir.join(MANIFEST_FILE),
            r#"{"format": 99, "version": "x", "programs": {}}"#,
        )
        .unwrap();
        assert_eq!(Manifest::read(&dir), None);
        std::fs::write(dir.join(MANIFEST_FILE), "not json").unwrap();
        assert_eq!(Manifest::read(&dir), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
