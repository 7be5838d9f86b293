//! The node image table: Kubernetes minor → `kindest/node:vX.Y.Z@sha256:…`, per kind release.
//!
//! The table lives in `kind/images.yaml` at the repository root (embedded at build time) and
//! says where every digest came from. Only images a kind release lists are supported with
//! that release, so a lookup names the release and fails clearly when it has no image.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::KubeVersion;

/// The embedded `kind/images.yaml`.
pub const IMAGES_YAML: &str = include_str!("../../../../kind/images.yaml");

/// Why an image could not be found or the table could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// The release has no image for this minor.
    #[error("no kindest/node image for {version} in kind {release}; pass --image")]
    NoImage {
        /// Kubernetes version.
        version: KubeVersion,
        /// kind release.
        release: String,
    },
    /// The release is not in the table.
    #[error("kind release {release} is not in kind/images.yaml (known: {known})")]
    UnknownRelease {
        /// The release asked for.
        release: String,
        /// Releases in the table.
        known: String,
    },
    /// The table does not parse or is inconsistent.
    #[error("kind/images.yaml: {0}")]
    Table(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    default_release: String,
    releases: BTreeMap<String, BTreeMap<String, String>>,
}

/// Node images per kind release.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageTable {
    default_release: String,
    releases: BTreeMap<String, BTreeMap<KubeVersion, String>>,
}

impl ImageTable {
    /// The table embedded from `kind/images.yaml`.
    pub fn embedded() -> Result<ImageTable, ImageError> {
        Self::parse(IMAGES_YAML)
    }

    /// Parses and checks a table: every key a `1.NN` version, every image
    /// `kindest/node:v1.NN.P@sha256:<64 hex>` of that minor, the default release present.
    pub fn parse(text: &str) -> Result<ImageTable, ImageError> {
        let raw: RawTable =
            serde_saphyr::from_str(text).map_err(|e| ImageError::Table(e.to_string()))?;
        let mut releases = BTreeMap::new();
        for (release, images) in raw.releases {
            let mut table = BTreeMap::new();
            for (minor, image) in images {
                let version: KubeVersion = minor
                    .parse()
                    .map_err(|e| ImageError::Table(format!("{release}: {e}")))?;
                check_image(version, &image)
                    .map_err(|why| ImageError::Table(format!("{release} {minor}: {why}")))?;
                table.insert(version, image);
            }
            releases.insert(release, table);
        }
        if !releases.contains_key(&raw.default_release) {
            return Err(ImageError::Table(format!(
                "default_release {} has no table",
                raw.default_release
            )));
        }
        Ok(ImageTable {
            default_release: raw.default_release,
            releases,
        })
    }

    /// The kind release the harness installs by default.
    pub fn default_release(&self) -> &str {
        &self.default_release
    }

    /// Every release in the table.
    pub fn releases(&self) -> impl Iterator<Item = &str> {
        self.releases.keys().map(String::as_str)
    }

    /// The Kubernetes versions `release` has images for, oldest first.
    pub fn versions(&self, release: &str) -> Result<Vec<KubeVersion>, ImageError> {
        Ok(self.release(release)?.keys().copied().collect())
    }

    /// The pinned image for `version` in `release`.
    pub fn image(&self, release: &str, version: KubeVersion) -> Result<&str, ImageError> {
        self.release(release)?
            .get(&version)
            .map(String::as_str)
            .ok_or_else(|| ImageError::NoImage {
                version,
                release: release.to_string(),
            })
    }

    /// The pinned image for `version` in the default release.
    pub fn default_image(&self, version: KubeVersion) -> Result<&str, ImageError> {
        self.image(&self.default_release, version)
    }

    fn release(&self, release: &str) -> Result<&BTreeMap<KubeVersion, String>, ImageError> {
        self.releases
            .get(release)
            .ok_or_else(|| ImageError::UnknownRelease {
                release: release.to_string(),
                known: self.releases.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }
}

fn check_image(version: KubeVersion, image: &str) -> Result<(), String> {
    let rest = image
        .strip_prefix("kindest/node:v")
        .ok_or("image must start with kindest/node:v")?;
    let (tag, digest) = rest
        .split_once("@sha256:")
        .ok_or("image must be pinned by @sha256: digest")?;
    if KubeVersion::from_kubelet(tag) != Some(version) {
        return Err(format!("tag v{tag} is not Kubernetes {version}"));
    }
    if digest.len() != 64
        || !digest
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    {
        return Err("digest must be 64 lowercase hex digits".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_parses_and_is_complete() {
        let t = ImageTable::embedded().unwrap();
        assert_eq!(t.default_release(), "v0.33.0");
        assert_eq!(
            t.releases().collect::<Vec<_>>(),
            ["v0.17.0", "v0.20.0", "v0.25.0", "v0.31.0", "v0.32.0", "v0.33.0"]
        );
        let minors = |r| {
            t.versions(r)
                .unwrap()
                .iter()
                .map(|v| v.minor)
                .collect::<Vec<_>>()
        };
        assert_eq!(minors("v0.33.0"), [34, 35, 36, 37]);
        assert_eq!(minors("v0.32.0"), [33, 34, 35, 36]);
        assert_eq!(minors("v0.31.0"), [31, 32, 33, 34, 35]);
        assert_eq!(minors("v0.25.0"), [26, 27, 28, 29, 30, 31]);
        assert_eq!(minors("v0.20.0"), [21, 22, 23, 24, 25, 26, 27]);
        assert_eq!(minors("v0.17.0"), [21, 22, 23, 24, 25]);
    }

    #[test]
    fn default_images_match_the_reference_abbreviations() {
        // ecosystem.md §A.3 lists each release's default image with an abbreviated digest.
        let t = ImageTable::embedded().unwrap();
        let cases = [
            ("v0.33.0", 37, "v1.37.0", "a1ed56cf", "0ae5"),
            ("v0.32.0", 36, "v1.36.1", "3489c767", "ebd5"),
            ("v0.31.0", 35, "v1.35.0", "452d707d", "c31f"),
            // The kind v0.25.0 release notes' images for the minors no newer release ships.
            ("v0.25.0", 30, "v1.30.6", "b6d08db7", "b994"),
            ("v0.25.0", 29, "v1.29.10", "3b2d8c31", "84b"),
            ("v0.25.0", 28, "v1.28.15", "a7c05c7a", "9251"),
            // The 1.21 images of issue #9 (kind v0.20.0 and v0.17.0 release notes).
            ("v0.20.0", 21, "v1.21.14", "8a4e9bb3", "a093"),
            ("v0.17.0", 21, "v1.21.14", "9d9eb5fb", "0aa1"),
        ];
        for (release, minor, tag, head, tail) in cases {
            let image = t.image(release, KubeVersion::new(minor)).unwrap();
            let (name, digest) = image.split_once("@sha256:").unwrap();
            assert_eq!(name, format!("kindest/node:{tag}"));
            assert!(
                digest.starts_with(head) && digest.ends_with(tail),
                "{image}"
            );
        }
    }

    #[test]
    fn missing_version_fails_clearly() {
        let t = ImageTable::embedded().unwrap();
        let err = t.default_image(KubeVersion::new(21)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no kindest/node image for 1.21 in kind v0.33.0; pass --image"
        );
        let err = t.image("v0.1.0", KubeVersion::new(33)).unwrap_err();
        assert!(err
            .to_string()
            .contains("known: v0.17.0, v0.20.0, v0.25.0, v0.31.0, v0.32.0, v0.33.0"));
    }

    #[test]
    fn every_minor_the_model_knows_has_a_kind_image() {
        let t = ImageTable::embedded().unwrap();
        let missing: Vec<u32> = (KubeVersion::OLDEST.minor..=KubeVersion::NEWEST.minor)
            .filter(|&minor| {
                !t.releases()
                    .any(|r| t.image(r, KubeVersion::new(minor)).is_ok())
            })
            .collect();
        assert!(missing.is_empty(), "no kind image for 1.{missing:?}");
    }

    #[test]
    fn rejects_unpinned_or_mismatched_images() {
        let bad = [
            "default_release: r\nreleases:\n  r:\n    \"1.33\": kindest/node:v1.33.1\n",
            "default_release: r\nreleases:\n  r:\n    \"1.33\": kindest/node:v1.34.1@sha256:050072256b9a903bd914c0b2866828150cb229cea0efe5892e2b644d5dd3b34f\n",
            "default_release: r\nreleases:\n  r:\n    \"1.33\": kindest/node:v1.33.1@sha256:abc\n",
            "default_release: s\nreleases:\n  r: {}\n",
            "default_release: r\nreleases:\n  r: {}\nextra: 1\n",
        ];
        for text in bad {
            assert!(
                matches!(ImageTable::parse(text), Err(ImageError::Table(_))),
                "{text}"
            );
        }
    }
}
