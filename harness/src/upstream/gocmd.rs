//! The go command lines of a build: flags, tags, ldflags and environment (no I/O here).

use std::path::Path;

use crate::backend::command::shell_quote;

/// The oldest minor with a build tag: files say `//go:build k8s_ge_1_36` (or its negation), and
/// a release 1.NN is built with `k8s_ge_1_21` … `k8s_ge_1_NN`.
pub(crate) const FIRST_TAGGED_MINOR: u32 = 21;

/// Where the output path stands in a recipe (the digest must not depend on the cache path).
const OUTPUT_PLACEHOLDER: &str = "$OUTPUT";

/// One `go` invocation: its arguments and the environment it sets on top of the caller's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GoCommand {
    /// Arguments after `go`.
    pub(crate) args: Vec<String>,
    /// Variables set for it (on top of the inherited environment).
    pub(crate) env: Vec<(&'static str, String)>,
}

impl GoCommand {
    /// The command as you would paste it into a shell, run in `dir`.
    pub(crate) fn render(&self, dir: &Path) -> String {
        let mut words = vec![
            "cd".to_string(),
            shell_quote(&dir.to_string_lossy()),
            "&&".to_string(),
        ];
        words.extend(
            self.env
                .iter()
                .map(|(k, v)| format!("{k}={}", shell_quote(v))),
        );
        words.push("go".to_string());
        words.extend(self.args.iter().map(|a| shell_quote(a)));
        words.join(" ")
    }

    /// What the binary depends on besides the sources: the command with the output path
    /// replaced by a placeholder.
    pub(crate) fn recipe(&self, output: &Path) -> String {
        let output = output.to_string_lossy();
        let mut words: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        words.extend(self.args.iter().map(|a| {
            if *a == output {
                OUTPUT_PLACEHOLDER.to_string()
            } else {
                a.clone()
            }
        }));
        words.join(" ")
    }
}

/// The environment of every go command: no cgo (static binaries, as upstream builds these
/// commands), go.mod never changed (`-mod=readonly`, replacing any GOFLAGS of the caller's),
/// and no go.work of the caller's.
pub(crate) fn build_env() -> Vec<(&'static str, String)> {
    vec![
        ("CGO_ENABLED", "0".to_string()),
        ("GOFLAGS", "-mod=readonly".to_string()),
        ("GOWORK", "off".to_string()),
    ]
}

/// The build tags of release 1.`minor`: `k8s_ge_1_21,…,k8s_ge_1_<minor>`.
pub(crate) fn release_tags(minor: u32) -> String {
    (FIRST_TAGGED_MINOR..=minor)
        .map(|m| format!("k8s_ge_1_{m}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The ldflags that make `/version` report `version` (`v1.37.2`): gitVersion, gitMajor and
/// gitMinor of `k8s.io/component-base/version` and `k8s.io/client-go/pkg/version`, as
/// upstream's `hack/lib/version.sh` sets them (gitCommit and buildDate keep their fixed
/// defaults, so the binary depends only on the sources). `-s -w` drops the symbol tables.
pub(crate) fn release_ldflags(version: &str) -> String {
    let numbers = version.trim_start_matches('v');
    let mut parts = numbers.split('.');
    let major = parts.next().unwrap_or("");
    let minor = parts.next().unwrap_or("");
    let mut flags = vec!["-s".to_string(), "-w".to_string()];
    for package in [
        "k8s.io/component-base/version",
        "k8s.io/client-go/pkg/version",
    ] {
        flags.push(format!("-X {package}.gitVersion={version}"));
        flags.push(format!("-X {package}.gitMajor={major}"));
        flags.push(format!("-X {package}.gitMinor={minor}"));
    }
    flags.join(" ")
}

/// `go build` of a package into `output`, reproducibly (`-trimpath`, no VCS stamp).
fn go_build(tags: Option<String>, ldflags: String, output: &Path, package: &str) -> GoCommand {
    let mut args = vec![
        "build".to_string(),
        "-trimpath".to_string(),
        "-buildvcs=false".to_string(),
    ];
    if let Some(tags) = tags {
        args.push("-tags".to_string());
        args.push(tags);
    }
    args.push("-ldflags".to_string());
    args.push(ldflags);
    args.push("-o".to_string());
    args.push(output.to_string_lossy().into_owned());
    args.push(package.to_string());
    GoCommand {
        args,
        env: build_env(),
    }
}

/// Builds program `program` (a directory below `upstream/src/cmd/`) of release `version`.
pub(crate) fn release_build(minor: u32, version: &str, program: &str, output: &Path) -> GoCommand {
    go_build(
        Some(release_tags(minor)),
        release_ldflags(version),
        output,
        &format!("./cmd/{program}"),
    )
}

/// Builds etcd.
pub(crate) fn etcd_build(output: &Path) -> GoCommand {
    go_build(None, "-s -w".to_string(), output, ".")
}

/// Builds netexec, stamped with the digest of its sources (`netexec version` prints it).
pub(crate) fn netexec_build(source_digest: &str, output: &Path) -> GoCommand {
    go_build(
        None,
        format!("-s -w -X main.sourceDigest={source_digest}"),
        output,
        ".",
    )
}

/// Downloads (or finds in the module cache) every module the tree's go.mod needs, checked
/// against go.sum.
pub(crate) fn download() -> GoCommand {
    GoCommand {
        args: vec!["mod".to_string(), "download".to_string()],
        env: build_env(),
    }
}

/// Asks the toolchain for its version and proxy.
pub(crate) fn go_env() -> GoCommand {
    GoCommand {
        args: ["env", "GOVERSION", "GOPROXY"].map(String::from).to_vec(),
        env: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn tags_cover_every_threshold_up_to_the_release() {
        assert_eq!(release_tags(21), "k8s_ge_1_21");
        let tags = release_tags(37);
        assert!(tags.starts_with("k8s_ge_1_21,k8s_ge_1_22,"));
        assert!(tags.ends_with(",k8s_ge_1_36,k8s_ge_1_37"));
        assert_eq!(tags.split(',').count(), 17);
        assert!(!release_tags(35).contains("k8s_ge_1_36"));
    }

    #[test]
    fn version_is_stamped_for_both_version_packages() {
        assert_eq!(
            release_ldflags("v1.34.4"),
            "-s -w -X k8s.io/component-base/version.gitVersion=v1.34.4 \
             -X k8s.io/component-base/version.gitMajor=1 \
             -X k8s.io/component-base/version.gitMinor=34 \
             -X k8s.io/client-go/pkg/version.gitVersion=v1.34.4 \
             -X k8s.io/client-go/pkg/version.gitMajor=1 \
             -X k8s.io/client-go/pkg/version.gitMinor=34"
        );
    }

    #[test]
    fn release_command_line() {
        let out = PathBuf::from("/cache/k8s-v1.37.2/bin/.k8s.partial");
        let cmd = release_build(37, "v1.37.2", "k8s", &out);
        assert_eq!(&cmd.args[..3], ["build", "-trimpath", "-buildvcs=false"]);
        assert_eq!(cmd.args[3], "-tags");
        assert_eq!(cmd.args[4], release_tags(37));
        assert_eq!(cmd.args[5], "-ldflags");
        assert_eq!(cmd.args[6], release_ldflags("v1.37.2"));
        assert_eq!(
            &cmd.args[7..],
            ["-o", "/cache/k8s-v1.37.2/bin/.k8s.partial", "./cmd/k8s"]
        );
        assert_eq!(
            cmd.env,
            [
                ("CGO_ENABLED", "0".to_string()),
                ("GOFLAGS", "-mod=readonly".to_string()),
                ("GOWORK", "off".to_string())
            ]
        );
        let rendered = cmd.render(Path::new("/cache/tmp/k8s v1.37.2"));
        assert!(rendered.starts_with(
            "cd '/cache/tmp/k8s v1.37.2' && CGO_ENABLED=0 GOFLAGS=-mod=readonly GOWORK=off go build -trimpath"
        ));
        assert!(rendered
            .contains(" -ldflags '-s -w -X k8s.io/component-base/version.gitVersion=v1.37.2 "));
        assert!(rendered.ends_with(" -o /cache/k8s-v1.37.2/bin/.k8s.partial ./cmd/k8s"));
    }

    #[test]
    fn recipe_does_not_depend_on_where_the_cache_is() {
        let a = release_build(36, "v1.36.3", "oracle", Path::new("/a/out"));
        let b = release_build(36, "v1.36.3", "oracle", Path::new("/b/other"));
        assert_eq!(
            a.recipe(Path::new("/a/out")),
            b.recipe(Path::new("/b/other"))
        );
        assert!(a
            .recipe(Path::new("/a/out"))
            .contains("-o $OUTPUT ./cmd/oracle"));
        assert_ne!(
            a.recipe(Path::new("/a/out")),
            release_build(37, "v1.37.2", "oracle", Path::new("/a/out")).recipe(Path::new("/a/out"))
        );
    }

    #[test]
    fn netexec_and_etcd_commands() {
        let n = netexec_build("abc123", Path::new("/o"));
        assert!(n
            .args
            .contains(&"-s -w -X main.sourceDigest=abc123".to_string()));
        assert!(!n.args.contains(&"-tags".to_string()));
        assert_eq!(n.args.last().map(String::as_str), Some("."));
        let e = etcd_build(Path::new("/o"));
        assert_eq!(e.env, build_env());
        assert_eq!(download().args, ["mod", "download"]);
    }
}
