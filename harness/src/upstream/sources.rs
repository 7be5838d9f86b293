//! The Go sources and pinned go.mod/go.sum files of `upstream/`, embedded in the binary, and
//! the source tree each build assembles from them.
//!
//! Paths are relative to `upstream/`: `src/cmd/<program>/…` (the programs built per release),
//! `src/…` (code they share), `releases/1.NN/go.{mod,sum}`, `etcd/…`, `netexec/…`.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::error::UpstreamError;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/upstream_sources.rs"));
}

/// Where the per-release programs live: every directory below it is one program.
pub(crate) const PROGRAMS_DIR: &str = "src/cmd/";

/// A set of `upstream/` files (path relative to `upstream/`, text).
#[derive(Clone, Debug)]
pub(crate) struct Sources {
    files: Vec<(String, String)>,
}

/// One source tree a build assembles into a directory of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tree {
    /// `src/` with `releases/1.NN/go.mod` and `go.sum` at its root.
    Release(u32),
    /// `etcd/`.
    Etcd,
    /// `netexec/`.
    Netexec,
}

impl Sources {
    /// The files embedded in this binary.
    pub(crate) fn embedded() -> Self {
        Self::from_files(
            embedded::UPSTREAM_FILES
                .iter()
                .map(|(p, t)| ((*p).to_string(), (*t).to_string())),
        )
    }

    /// A set of files (for tests: sources other than the embedded ones).
    pub(crate) fn from_files(files: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut files: Vec<(String, String)> = files.into_iter().collect();
        files.sort();
        Sources { files }
    }

    /// The text of `path`, if there is such a file.
    pub(crate) fn get(&self, path: &str) -> Option<&str> {
        self.files
            .binary_search_by(|(p, _)| p.as_str().cmp(path))
            .ok()
            .map(|i| self.files[i].1.as_str())
    }

    /// Every file whose path starts with `prefix`, with the prefix cut off, sorted.
    fn under(&self, prefix: &str) -> std::vec::IntoIter<(&str, &str)> {
        self.files
            .iter()
            .filter_map(|(p, t)| Some((p.strip_prefix(prefix)?, t.as_str())))
            .collect::<Vec<_>>()
            .into_iter()
    }

    /// The minors with a `releases/1.NN/go.mod`, ascending.
    pub(crate) fn release_minors(&self) -> Vec<u32> {
        let mut minors: Vec<u32> = self
            .under("releases/1.")
            .filter_map(|(rest, _)| rest.strip_suffix("/go.mod")?.parse().ok())
            .collect();
        minors.sort_unstable();
        minors.dedup();
        minors
    }

    /// The programs built per release: the directories below `src/cmd/`, sorted.
    pub(crate) fn release_programs(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .under(PROGRAMS_DIR)
            .filter_map(|(rest, _)| Some(rest.split_once('/')?.0.to_string()))
            .collect();
        names.dedup();
        names
    }

    /// The files of `tree` as the assembled directory holds them (path relative to it).
    pub(crate) fn tree(&self, tree: Tree) -> Vec<(String, &str)> {
        match tree {
            Tree::Release(minor) => {
                let release = format!("releases/1.{minor}/");
                let mut files: Vec<(String, &str)> = self
                    .under(&release)
                    .map(|(p, t)| (p.to_string(), t))
                    .collect();
                files.extend(self.under("src/").map(|(p, t)| (p.to_string(), t)));
                files.sort();
                files
            }
            Tree::Etcd => self
                .under("etcd/")
                .map(|(p, t)| (p.to_string(), t))
                .collect(),
            Tree::Netexec => self
                .under("netexec/")
                .map(|(p, t)| (p.to_string(), t))
                .collect(),
        }
    }

    /// What a build of `program` from `tree` reads: the tree without the other programs'
    /// directories (a change to the oracle does not make `k8s` stale).
    pub(crate) fn inputs(&self, tree: Tree, program: &str) -> Vec<(String, &str)> {
        let own = format!("cmd/{program}/");
        self.tree(tree)
            .into_iter()
            .filter(|(p, _)| {
                !matches!(tree, Tree::Release(_)) || !p.starts_with("cmd/") || p.starts_with(&own)
            })
            .collect()
    }

    /// Writes `tree` into `dir` (which must exist).
    pub(crate) fn write_tree(&self, tree: Tree, dir: &Path) -> Result<(), UpstreamError> {
        for (rel, text) in self.tree(tree) {
            let path = dir.join(&rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(UpstreamError::io("creating", parent))?;
            }
            std::fs::write(&path, text).map_err(UpstreamError::io("writing", &path))?;
        }
        Ok(())
    }
}

#[cfg(test)]
impl Sources {
    /// Every file (path, text), for tests that change one.
    pub(crate) fn all_files(&self) -> Vec<(String, String)> {
        self.files.clone()
    }
}

/// The hex SHA-256 of `files` (paths and contents) and `recipe` (how they are built).
pub(crate) fn digest(files: &[(String, &str)], recipe: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"topo-harness upstream build 1\n");
    for (path, text) in files {
        // Lengths first, so no two different lists hash the same.
        hash.update(format!("{}:{}:{}:", path.len(), text.len(), path).as_bytes());
        hash.update(text.as_bytes());
    }
    hash.update(format!("recipe:{}:", recipe.len()).as_bytes());
    hash.update(recipe.as_bytes());
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small source set shaped like `upstream/`.
    pub(crate) fn sample() -> Sources {
        let gomod = |version: &str| {
            format!(
                "module topo-harness.local/upstream\n\ngo 1.26.0\n\nrequire (\n\tk8s.io/component-base v0.{}\n\tk8s.io/kubernetes {version}\n)\n",
                &version[3..]
            )
        };
        Sources::from_files([
            ("versions.txt".into(), "kubernetes 1.36 v1.36.3\nkubernetes 1.37 v1.37.2\netcd v3.6.17\n".into()),
            ("releases/1.37/go.mod".into(), gomod("v1.37.2")),
            ("releases/1.37/go.sum".into(), "sum37\n".into()),
            ("releases/1.36/go.mod".into(), gomod("v1.36.3")),
            ("releases/1.36/go.sum".into(), "sum36\n".into()),
            ("src/cmd/k8s/main.go".into(), "package main // k8s\n".into()),
            ("src/cmd/oracle/main.go".into(), "package main // oracle\n".into()),
            ("src/cmd/oracle/new_api.go".into(), "//go:build k8s_ge_1_36\n".into()),
            ("src/internal/shared/shared.go".into(), "package shared\n".into()),
            ("etcd/go.mod".into(), "module topo-harness.local/upstream/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 v3.6.17\n".into()),
            ("etcd/go.sum".into(), "etcdsum\n".into()),
            ("etcd/main.go".into(), "package main // etcd\n".into()),
            ("netexec/go.mod".into(), "module topo-harness.local/upstream/netexec\n\ngo 1.25.0\n".into()),
            ("netexec/main.go".into(), "package main // netexec\n".into()),
        ])
    }

    #[test]
    fn release_tree_puts_go_mod_at_the_root_of_src() {
        let s = sample();
        let paths: Vec<String> = s
            .tree(Tree::Release(37))
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(
            paths,
            [
                "cmd/k8s/main.go",
                "cmd/oracle/main.go",
                "cmd/oracle/new_api.go",
                "go.mod",
                "go.sum",
                "internal/shared/shared.go"
            ]
        );
        let sum = s
            .tree(Tree::Release(36))
            .into_iter()
            .find(|(p, _)| p == "go.sum");
        assert_eq!(sum.map(|(_, t)| t), Some("sum36\n"));
        assert_eq!(s.release_minors(), [36, 37]);
        assert_eq!(s.release_programs(), ["k8s", "oracle"]);
    }

    #[test]
    fn a_program_reads_shared_code_but_not_the_others() {
        let s = sample();
        let k8s: Vec<String> = s
            .inputs(Tree::Release(37), "k8s")
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(
            k8s,
            [
                "cmd/k8s/main.go",
                "go.mod",
                "go.sum",
                "internal/shared/shared.go"
            ]
        );
        let netexec: Vec<String> = s
            .inputs(Tree::Netexec, "netexec")
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(netexec, ["go.mod", "main.go"]);
    }

    #[test]
    fn digest_changes_with_any_input() {
        let files = |t: &'static str| vec![("a.go".to_string(), t)];
        let base = digest(&files("x"), "go build");
        assert_eq!(base.len(), 64);
        assert_eq!(base, digest(&files("x"), "go build"));
        assert_ne!(base, digest(&files("y"), "go build"));
        assert_ne!(base, digest(&files("x"), "go build -tags t"));
        // Moving bytes between a path and its text gives another digest.
        assert_ne!(
            digest(&[("ab".to_string(), "c")], ""),
            digest(&[("a".to_string(), "bc")], "")
        );
    }

    #[test]
    fn writes_the_tree() {
        let dir = std::env::temp_dir().join(format!("topo-upstream-tree-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        sample().write_tree(Tree::Release(37), &dir).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("cmd/oracle/new_api.go")).unwrap(),
            "//go:build k8s_ge_1_36\n"
        );
        assert!(std::fs::read_to_string(dir.join("go.mod"))
            .unwrap()
            .contains("v1.37.2"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn embeds_upstream_without_go_tests() {
        let s = Sources::embedded();
        assert!(s.get("src/cmd/k8s/main.go").is_some());
        assert!(s.get("netexec/probe.go").is_some());
        assert!(s.get("etcd/go.sum").is_some());
        assert!(
            s.files.iter().all(|(p, _)| !p.ends_with("_test.go")),
            "Go tests change no binary"
        );
        assert!(s.release_minors().contains(&37));
    }
}
