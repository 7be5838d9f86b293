//! Which kind binary creates which cluster.
//!
//! A kind release supports the node images listed in its release notes (the tables of
//! `kind/images.yaml`), so a run that spans Kubernetes 1.21 and 1.37 needs two kind binaries:
//! v0.20.0 (the last release with a 1.21 image) and v0.33.0. The harness learns the binaries it
//! has from `kind version` (the `kind` on `PATH`, plus every `--kind PATH` and [`KIND_ENV`]) and
//! creates each cluster with the first binary whose release has an image for the cluster's minor
//! and knows its proxy mode. `--image` overrides the table; the cluster's version must then match
//! the image's tag. A cluster no binary can create is skipped with the reason, never failed.

use std::fmt;

use super::command::{Command, CommandRunner};
use super::images::ImageTable;
use super::spec::{KindClusterSpec, ProxyMode};
use crate::model::KubeVersion;

/// Environment variable with more kind binaries, separated like `PATH` (`:` on Unix).
pub const KIND_ENV: &str = "TOPO_KIND";

/// A kind release, `vMAJOR.MINOR.PATCH`, ordered by number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KindRelease(pub u32, pub u32, pub u32);

impl KindRelease {
    /// The first release with `kubeProxyMode: nftables` (kind#3577).
    pub const NFTABLES: KindRelease = KindRelease(0, 23, 0);

    /// Parses `v0.20.0` (or `0.20.0`); anything else is `None`.
    pub fn parse(text: &str) -> Option<KindRelease> {
        let text = text.trim();
        let text = text.strip_prefix('v').unwrap_or(text);
        // Pre-release or build suffixes (`v0.24.0-alpha+abc`) are not part of the number.
        let core = text.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
        let out = KindRelease(parts.next()??, parts.next()??, parts.next()??);
        parts.next().is_none().then_some(out)
    }

    /// Why this release cannot run kube-proxy in `mode`; `None` when it can.
    pub fn mode_unavailable(self, mode: ProxyMode) -> Option<String> {
        (mode == ProxyMode::Nftables && self < Self::NFTABLES).then(|| {
            format!(
                "kind {self} has no nftables proxy mode (added in kind {})",
                Self::NFTABLES
            )
        })
    }
}

impl fmt::Display for KindRelease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.0, self.1, self.2)
    }
}

/// One kind binary and the release it reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindBinary {
    /// The program to run (`kind`, or a path given with `--kind`).
    pub program: String,
    /// Its release, from `kind version`.
    pub release: KindRelease,
}

impl KindBinary {
    /// The release as the image table names it (`v0.20.0`).
    pub fn release_name(&self) -> String {
        self.release.to_string()
    }
}

impl fmt::Display for KindBinary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kind {} ({})", self.release, self.program)
    }
}

/// The release in `kind version` output: `kind v0.20.0 go1.20.4 linux/amd64`.
pub fn parse_kind_version(stdout: &str) -> Option<KindRelease> {
    let mut words = stdout.split_whitespace();
    (words.next()? == "kind").then_some(())?;
    KindRelease::parse(words.next()?)
}

/// The binaries to ask: the explicit ones (`--kind`, then [`KIND_ENV`]) in order, then `kind`
/// on `PATH`; duplicates removed.
pub fn candidate_programs(explicit: &[String], env: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = explicit.to_vec();
    if let Some(value) = env {
        out.extend(
            std::env::split_paths(value)
                .map(|p| p.display().to_string())
                .filter(|p| !p.is_empty()),
        );
    }
    out.push("kind".to_string());
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|p| seen.insert(p.clone()));
    out
}

/// Asks every program for its release (`<program> version`). Programs that fail or answer
/// something else are reported in the second list (an explicit path that is not a kind binary
/// is a user error; a missing `kind` on `PATH` is not, when others were given).
pub fn discover(runner: &dyn CommandRunner, programs: &[String]) -> (Vec<KindBinary>, Vec<String>) {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for program in programs {
        let command = Command::new(program.clone())
            .arg("version")
            .timeout(std::time::Duration::from_secs(30));
        match runner.run(&command) {
            Ok(out) => match parse_kind_version(&out.stdout) {
                Some(release) => found.push(KindBinary {
                    program: program.clone(),
                    release,
                }),
                None => problems.push(format!(
                    "`{program} version` printed `{}`, not a kind release",
                    out.stdout.trim()
                )),
            },
            Err(e) => problems.push(format!("`{program} version` failed: {e}")),
        }
    }
    (found, problems)
}

/// How a cluster gets created: the binary and the node image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creator {
    /// The binary that runs `kind create cluster`.
    pub binary: KindBinary,
    /// The node image (from the binary's release table, or `--image`).
    pub image: String,
}

/// The Kubernetes version of a node image, from its tag (`kindest/node:v1.21.14@sha256:…`, or
/// any `repo:v1.NN.P…` built with `kind build node-image`).
pub fn image_version(image: &str) -> Option<KubeVersion> {
    let without_digest = image.split('@').next()?;
    let (_, tag) = without_digest.rsplit_once(':')?;
    // `v1.30.0-alpha.1` and `v1.30.0-dirty` still name minor 30.
    KubeVersion::from_kubelet(tag.trim_start_matches('v').split(['-', '+']).next()?)
}

/// Picks the binary (and image) for `spec`: with `image` (`--image`), the first binary that
/// knows the proxy mode, if the image's tag is the spec's version; otherwise the first binary
/// whose release has an image for the spec's minor and knows the proxy mode. The error is the
/// reason the cluster cannot be created, naming a release that could.
pub fn choose(
    binaries: &[KindBinary],
    table: &ImageTable,
    spec: &KindClusterSpec,
    image: Option<&str>,
) -> Result<Creator, String> {
    if let Some(image) = image {
        match image_version(image) {
            Some(v) if v == spec.version => {}
            Some(v) => {
                return Err(format!(
                    "--image {image} is Kubernetes {v}, this cluster is {}",
                    spec.version
                ))
            }
            None => {
                return Err(format!(
                    "--image {image}: the tag does not name a Kubernetes version (v1.NN.P)"
                ))
            }
        }
        return binaries
            .iter()
            .find(|b| b.release.mode_unavailable(spec.proxy_mode).is_none())
            .map(|b| Creator {
                binary: b.clone(),
                image: image.to_string(),
            })
            .ok_or_else(|| no_binary(binaries, table, spec));
    }
    for binary in binaries {
        if binary.release.mode_unavailable(spec.proxy_mode).is_some() {
            continue;
        }
        if let Ok(image) = table.image(&binary.release_name(), spec.version) {
            return Ok(Creator {
                binary: binary.clone(),
                image: image.to_string(),
            });
        }
    }
    Err(no_binary(binaries, table, spec))
}

/// The newest release in the table with an image for the spec's minor and its proxy mode.
pub fn suggested_release(table: &ImageTable, spec: &KindClusterSpec) -> Option<KindRelease> {
    table
        .releases()
        .filter_map(KindRelease::parse)
        .filter(|r| r.mode_unavailable(spec.proxy_mode).is_none())
        .filter(|r| table.image(&r.to_string(), spec.version).is_ok())
        .max()
}

fn no_binary(binaries: &[KindBinary], table: &ImageTable, spec: &KindClusterSpec) -> String {
    // No release ships the image: no binary would help, so the message is about the image.
    let Some(release) = suggested_release(table, spec) else {
        return format!(
            "no kind release in kind/images.yaml ships a node image for Kubernetes {} with proxy mode {}: pass --image IMAGE (e.g. one built with `kind build node-image`)",
            spec.version, spec.proxy_mode
        );
    };
    let have = if binaries.is_empty() {
        "no kind binary was found to".to_string()
    } else {
        let list: Vec<String> = binaries.iter().map(ToString::to_string).collect();
        format!("the kind binaries found ({}) cannot", list.join(", "))
    };
    format!(
        "{have} create Kubernetes {} with proxy mode {}: pass --kind PATH to a kind {release} binary (it ships a {} image), or --image",
        spec.version, spec.proxy_mode, spec.version
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::kind::{KindNodeSpec, RecordingRunner};

    fn spec(minor: u32, mode: ProxyMode) -> KindClusterSpec {
        KindClusterSpec::new("t", KubeVersion::new(minor), mode).node(KindNodeSpec::control_plane())
    }

    fn binary(program: &str, release: &str) -> KindBinary {
        KindBinary {
            program: program.into(),
            release: KindRelease::parse(release).unwrap(),
        }
    }

    #[test]
    fn releases_parse_and_order() {
        assert_eq!(KindRelease::parse("v0.20.0"), Some(KindRelease(0, 20, 0)));
        assert_eq!(
            KindRelease::parse("0.24.0-alpha+9f6bc"),
            Some(KindRelease(0, 24, 0))
        );
        assert_eq!(KindRelease::parse("v0.20"), None);
        assert_eq!(KindRelease::parse("v0.20.0.1"), None);
        assert!(KindRelease(0, 9, 0) < KindRelease(0, 20, 0));
        assert_eq!(
            parse_kind_version("kind v0.20.0 go1.20.4 linux/amd64\n"),
            Some(KindRelease(0, 20, 0))
        );
        assert_eq!(parse_kind_version("Docker version 24"), None);
    }

    #[test]
    fn each_minor_gets_a_binary_whose_release_ships_it() {
        let table = ImageTable::embedded().unwrap();
        let binaries = [
            binary("kind", "v0.33.0"),
            binary("/opt/kind-0.20", "v0.20.0"),
        ];
        let old = choose(&binaries, &table, &spec(21, ProxyMode::Ipvs), None).unwrap();
        assert_eq!(old.binary.program, "/opt/kind-0.20");
        assert_eq!(
            old.image,
            "kindest/node:v1.21.14@sha256:8a4e9bb3f415d2bb81629ce33ef9c76ba514c14d707f9797a01e3216376ba093"
        );
        let new = choose(&binaries, &table, &spec(37, ProxyMode::Nftables), None).unwrap();
        assert_eq!(new.binary.program, "kind");
    }

    #[test]
    fn a_minor_no_binary_serves_names_the_release_that_would() {
        let table = ImageTable::embedded().unwrap();
        let why = choose(
            &[binary("kind", "v0.33.0")],
            &table,
            &spec(21, ProxyMode::Iptables),
            None,
        )
        .unwrap_err();
        assert_eq!(
            why,
            "the kind binaries found (kind v0.33.0 (kind)) cannot create Kubernetes 1.21 with proxy mode iptables: pass --kind PATH to a kind v0.20.0 binary (it ships a 1.21 image), or --image"
        );
        let none = choose(&[], &table, &spec(21, ProxyMode::Ipvs), None).unwrap_err();
        assert!(
            none.starts_with("no kind binary was found to create Kubernetes 1.21"),
            "{none}"
        );
    }

    #[test]
    fn a_minor_no_release_ships_is_worded_as_a_missing_image() {
        let table = ImageTable::parse(
            "default_release: v0.33.0\nreleases:\n  v0.33.0:\n    \"1.37\": kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5\n",
        )
        .unwrap();
        for binaries in [vec![binary("kind", "v0.33.0")], vec![]] {
            let why = choose(&binaries, &table, &spec(29, ProxyMode::Iptables), None).unwrap_err();
            assert_eq!(
                why,
                "no kind release in kind/images.yaml ships a node image for Kubernetes 1.29 with proxy mode iptables: pass --image IMAGE (e.g. one built with `kind build node-image`)"
            );
            assert!(!why.contains("binary"), "{why}");
        }
        // The embedded table has one since kind v0.25.0 was added.
        let embedded = ImageTable::embedded().unwrap();
        for minor in [28, 29, 30] {
            let why = choose(
                &[binary("kind", "v0.33.0")],
                &embedded,
                &spec(minor, ProxyMode::Nftables),
                None,
            )
            .unwrap_err();
            assert!(why.contains("a kind v0.25.0 binary"), "{why}");
        }
    }

    #[test]
    fn old_releases_have_no_nftables() {
        let table = ImageTable::embedded().unwrap();
        let binaries = [binary("kind20", "v0.20.0")];
        assert!(choose(&binaries, &table, &spec(27, ProxyMode::Iptables), None).is_ok());
        let why = choose(&binaries, &table, &spec(27, ProxyMode::Nftables), None).unwrap_err();
        assert!(why.contains("nftables"), "{why}");
        assert_eq!(
            KindRelease(0, 20, 0).mode_unavailable(ProxyMode::Nftables),
            Some("kind v0.20.0 has no nftables proxy mode (added in kind v0.23.0)".into())
        );
    }

    #[test]
    fn image_override_must_match_the_version() {
        let table = ImageTable::embedded().unwrap();
        let binaries = [binary("kind", "v0.33.0")];
        let image = "example.com/kube-node:v1.21.10-patched";
        let ok = choose(&binaries, &table, &spec(21, ProxyMode::Ipvs), Some(image)).unwrap();
        assert_eq!(ok.image, image);
        let err = choose(&binaries, &table, &spec(34, ProxyMode::Ipvs), Some(image)).unwrap_err();
        assert!(
            err.contains("is Kubernetes 1.21, this cluster is 1.34"),
            "{err}"
        );
        assert!(choose(
            &binaries,
            &table,
            &spec(21, ProxyMode::Ipvs),
            Some("x:latest")
        )
        .is_err());
    }

    #[test]
    fn discovery_asks_each_program_once() {
        let runner = RecordingRunner::new();
        runner.ok(
            &["/opt/kind20", "version"],
            "kind v0.20.0 go1.20.4 linux/amd64\n",
        );
        runner.fail(&["kind", "version"], 127, "kind: not found");
        let programs = candidate_programs(&["/opt/kind20".into()], Some("/opt/kind20"));
        assert_eq!(programs, ["/opt/kind20", "kind"]);
        let (found, problems) = discover(&runner, &programs);
        assert_eq!(found, [binary("/opt/kind20", "v0.20.0")]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(runner.unused().is_empty());
    }
}
