//! What there is to build: one unit per program, with the cache entry it goes to, the source
//! tree it is built from, its go command and the digest that says whether a cached binary is
//! still the one these sources make.

use std::path::Path;

use super::gocmd::{self, GoCommand};
use super::releases::{etcd_version_in, pinned_in, PinnedRelease};
use super::sources::{digest, Sources, Tree};

/// The program name of etcd and of the node helper.
pub(crate) const ETCD: &str = "etcd";
/// The node helper.
pub(crate) const NETEXEC: &str = "netexec";
/// The multi-call Kubernetes program.
pub(crate) const K8S: &str = "k8s";
/// The per-release upstream-code oracle (when its sources exist).
pub(crate) const ORACLE: &str = "oracle";

/// A cache entry: one directory holding the programs of one release (or etcd, or netexec).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// `k8s-<version>`: the per-release programs.
    Kubernetes(PinnedRelease),
    /// `etcd-<version>`.
    Etcd(String),
    /// `netexec-<id>`: the id is the digest of its sources (it is not per release).
    Netexec(String),
}

impl Entry {
    /// The directory name below the cache root.
    pub(crate) fn dir_name(&self) -> String {
        match self {
            Entry::Kubernetes(r) => format!("k8s-{}", r.version),
            Entry::Etcd(v) => format!("etcd-{v}"),
            Entry::Netexec(id) => format!("netexec-{id}"),
        }
    }

    /// The version the manifest records (`v1.37.2`, `v3.6.17`, the netexec id).
    pub(crate) fn version(&self) -> &str {
        match self {
            Entry::Kubernetes(r) => &r.version,
            Entry::Etcd(v) | Entry::Netexec(v) => v,
        }
    }

    /// How messages name it: `Kubernetes 1.37`, `etcd v3.6.17`, `netexec`.
    pub(crate) fn label(&self) -> String {
        match self {
            Entry::Kubernetes(r) => r.name(),
            Entry::Etcd(v) => format!("etcd {v}"),
            Entry::Netexec(_) => NETEXEC.to_string(),
        }
    }

    /// The source tree its programs are built from.
    pub(crate) fn tree(&self) -> Tree {
        match self {
            Entry::Kubernetes(r) => Tree::Release(r.minor),
            Entry::Etcd(_) => Tree::Etcd,
            Entry::Netexec(_) => Tree::Netexec,
        }
    }
}

/// One program to build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unit {
    /// The entry it goes to.
    pub(crate) entry: Entry,
    /// The program (`k8s`, `oracle`, `etcd`, `netexec`).
    pub(crate) program: String,
    /// The digest of its inputs and its go command (what the manifest must record).
    pub(crate) digest: String,
}

/// Stands for the output path while the digest is computed.
const SOME_OUTPUT: &str = "/output";

impl Unit {
    /// The go command that builds it into `output`.
    pub(crate) fn command(&self, output: &Path) -> GoCommand {
        match &self.entry {
            Entry::Kubernetes(r) => {
                gocmd::release_build(r.minor, &r.version, &self.program, output)
            }
            Entry::Etcd(_) => gocmd::etcd_build(output),
            Entry::Netexec(id) => gocmd::netexec_build(id, output),
        }
    }

    /// `Kubernetes 1.37 k8s`, `etcd v3.6.17`, `netexec`.
    pub(crate) fn label(&self) -> String {
        match &self.entry {
            Entry::Kubernetes(_) => format!("{} {}", self.entry.label(), self.program),
            _ => self.entry.label(),
        }
    }

    fn new(sources: &Sources, entry: Entry, program: &str) -> Unit {
        let inputs = sources.inputs(entry.tree(), program);
        let mut unit = Unit {
            entry,
            program: program.to_string(),
            digest: String::new(),
        };
        let recipe = unit
            .command(Path::new(SOME_OUTPUT))
            .recipe(Path::new(SOME_OUTPUT));
        unit.digest = digest(&inputs, &recipe);
        unit
    }
}

/// The netexec id of `sources`: the first 12 hex digits of its sources' digest.
pub(crate) fn netexec_id(sources: &Sources) -> String {
    let mut id = digest(&sources.inputs(Tree::Netexec, NETEXEC), "");
    id.truncate(12);
    id
}

/// Every unit `sources` can build: netexec, etcd, then each pinned release's programs
/// (oldest first).
pub(crate) fn all_units(sources: &Sources) -> Vec<Unit> {
    let mut units = vec![Unit::new(
        sources,
        Entry::Netexec(netexec_id(sources)),
        NETEXEC,
    )];
    if let Some(version) = etcd_version_in(sources) {
        units.push(Unit::new(sources, Entry::Etcd(version), ETCD));
    }
    let programs = sources.release_programs();
    for release in pinned_in(sources) {
        for program in &programs {
            units.push(Unit::new(
                sources,
                Entry::Kubernetes(release.clone()),
                program,
            ));
        }
    }
    units
}

/// The program names a `--program` may give: the per-release ones, `etcd`, `netexec`.
pub(crate) fn program_names(sources: &Sources) -> Vec<String> {
    let mut names = sources.release_programs();
    names.extend([ETCD.to_string(), NETEXEC.to_string()]);
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::sources::tests::sample;

    #[test]
    fn units_of_the_sample() {
        let s = sample();
        let labels: Vec<String> = all_units(&s).iter().map(Unit::label).collect();
        assert_eq!(
            labels,
            [
                "netexec",
                "etcd v3.6.17",
                "Kubernetes 1.36 k8s",
                "Kubernetes 1.36 oracle",
                "Kubernetes 1.37 k8s",
                "Kubernetes 1.37 oracle"
            ]
        );
        let dirs: Vec<String> = all_units(&s).iter().map(|u| u.entry.dir_name()).collect();
        assert_eq!(dirs[1], "etcd-v3.6.17");
        assert_eq!(dirs[4], "k8s-v1.37.2");
        assert!(dirs[0].starts_with("netexec-") && dirs[0].len() == "netexec-".len() + 12);
        assert_eq!(program_names(&s), ["k8s", "oracle", "etcd", "netexec"]);
    }

    fn changed(path: &str, text: &str) -> Vec<Unit> {
        let mut files: Vec<(String, String)> = sample().all_files();
        for f in &mut files {
            if f.0 == path {
                f.1 = text.to_string();
            }
        }
        all_units(&Sources::from_files(files))
    }

    #[test]
    fn a_change_makes_only_what_reads_it_stale() {
        let before = all_units(&sample());
        let digests = |units: &[Unit]| units.iter().map(|u| u.digest.clone()).collect::<Vec<_>>();
        let same = |after: &[Unit]| -> Vec<bool> {
            digests(&before)
                .iter()
                .zip(digests(after))
                .map(|(a, b)| *a == b)
                .collect()
        };
        // The oracle's own file: only the oracles.
        assert_eq!(
            same(&changed("src/cmd/oracle/main.go", "package main // v2\n")),
            [true, true, true, false, true, false]
        );
        // A release's go.sum: both programs of that release.
        assert_eq!(
            same(&changed("releases/1.37/go.sum", "other\n")),
            [true, true, true, true, false, false]
        );
        // Shared code: every per-release program.
        assert_eq!(
            same(&changed(
                "src/internal/shared/shared.go",
                "package shared // v2\n"
            )),
            [true, true, false, false, false, false]
        );
        // netexec's sources: netexec, and its directory moves with its id.
        let after = changed("netexec/main.go", "package main // v2\n");
        assert_eq!(same(&after), [false, true, true, true, true, true]);
        assert_ne!(before[0].entry.dir_name(), after[0].entry.dir_name());
    }

    #[test]
    fn netexec_is_stamped_with_its_id() {
        let s = sample();
        let unit = &all_units(&s)[0];
        let cmd = unit.command(Path::new("/o"));
        let stamp = format!("-s -w -X main.sourceDigest={}", netexec_id(&s));
        assert!(cmd.args.contains(&stamp), "{:?}", cmd.args);
    }
}
