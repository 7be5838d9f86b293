//! `topo-harness upstream build|list`: exit codes and messages with a fake `go` on PATH (what
//! is run, with which flags and environment, what is cached and when it is fresh), and one
//! real build of the node helper when Go is installed (`TOPO_REQUIRE_UPSTREAM=1`: it must be).
//! The big Kubernetes builds are exercised by `.ci/run`, not here.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh empty directory, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "topo-harness-upstream-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Go's module cache is read-only; make it writable before removing it.
        let _ = Command::new("chmod")
            .arg("-R")
            .arg("u+w")
            .arg(&self.0)
            .status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fake `go`: logs each call (arguments, the variables the harness must set, and whether
/// the assembled tree is there), answers `go env`, and writes a binary for `go build -o`.
/// FAKE_GO_VERSION, FAKE_GO_DOWNLOAD_FAIL and FAKE_GO_BUILD_FAIL change what it does.
const FAKE_GO: &str = r##"#!/bin/sh
log="$FAKE_GO_LOG"
echo "go $* | CGO_ENABLED=$CGO_ENABLED GOFLAGS=$GOFLAGS GOWORK=$GOWORK | $(ls go.mod 2>/dev/null)" >> "$log"
case "$1" in
  env) echo "${FAKE_GO_VERSION:-go1.26.8}"; echo "https://proxy.example" ;;
  mod) if [ -n "$FAKE_GO_DOWNLOAD_FAIL" ]; then echo "$FAKE_GO_DOWNLOAD_FAIL" >&2; exit 1; fi ;;
  build)
    if [ -n "$FAKE_GO_BUILD_FAIL" ]; then echo "# topo" >&2; echo "$FAKE_GO_BUILD_FAIL" >&2; exit 1; fi
    out=""; prev=""
    for a in "$@"; do if [ "$prev" = "-o" ]; then out="$a"; fi; prev="$a"; done
    for a in "$@"; do last="$a"; done
    test -d "$last" || { echo "no package $last in $PWD" >&2; exit 1; }
    echo "fake binary of $last" > "$out" ;;
esac
"##;

struct FakeGo {
    dir: TempDir,
}

impl FakeGo {
    fn new(name: &str) -> Self {
        let dir = TempDir::new(name);
        let bin = dir.0.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let go = bin.join("go");
        std::fs::write(&go, FAKE_GO).unwrap();
        std::fs::set_permissions(&go, std::fs::Permissions::from_mode(0o755)).unwrap();
        FakeGo { dir }
    }

    fn cache(&self) -> PathBuf {
        self.dir.0.join("cache")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("go.log")).unwrap_or_default()
    }

    /// Runs `topo-harness` with only the fake go (and the basic tools it uses) on PATH.
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let path = format!("{}:/usr/bin:/bin", self.dir.0.join("bin").display());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_topo-harness"));
        cmd.args(args)
            .current_dir(&self.dir.0)
            .env("PATH", path)
            .env("FAKE_GO_LOG", self.dir.0.join("go.log"))
            .env_remove("TOPO_UPSTREAM_CACHE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("runs topo-harness")
    }

    fn build(&self, extra: &[&str], env: &[(&str, &str)]) -> Output {
        let cache = self.cache();
        let mut args = vec!["upstream", "build", "--cache", cache.to_str().unwrap()];
        args.extend(extra);
        self.run(&args, env)
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_below(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out.sort();
    out
}

#[test]
fn no_go_on_path_is_one_line_and_exit_2() {
    let t = FakeGo::new("nogo");
    std::fs::remove_file(t.dir.0.join("bin/go")).unwrap();
    let out = t.build(&["--kubernetes", "1.37"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "error: `go` is not on PATH; install Go 1.26 or newer (https://go.dev/dl/) or put it on PATH\n"
    );
    assert!(!t.cache().exists(), "nothing is created before Go is found");
}

#[test]
fn bad_selections_are_refused_before_anything_runs() {
    let t = FakeGo::new("badsel");
    for (args, message) in [
        (
            vec!["--kubernetes", "1.31"],
            "error: Kubernetes 1.31 is not pinned (pinned: 1.30, 1.33, 1.34, 1.35, 1.36, 1.37); did you mean 1.30?\n",
        ),
        (
            vec!["--kubernetes", "1.99"],
            "error: Kubernetes 1.99 is not pinned (pinned: 1.30, 1.33, 1.34, 1.35, 1.36, 1.37); did you mean 1.37?\n",
        ),
        (
            vec!["--kubernetes", "37"],
            "error: --kubernetes \"37\": expected a minor release such as 1.37\n",
        ),
        (
            vec!["--program", "kubelet"],
            "error: --program \"kubelet\": no such program (known: k8s, etcd, netexec)\n",
        ),
    ] {
        let out = t.build(&args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(text(&out.stderr), message, "{args:?}");
        assert_eq!(text(&out.stdout), "", "{args:?}");
    }
    assert_eq!(t.log(), "", "go is not even asked");
    assert!(!t.cache().exists());
}

#[test]
fn builds_with_the_pinned_command_lines_then_skips_what_is_fresh() {
    let t = FakeGo::new("build");
    let out = t.build(&["--kubernetes", "1.37"], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let log = t.log();
    let builds: Vec<&str> = log.lines().filter(|l| l.starts_with("go build")).collect();
    assert_eq!(builds.len(), 3, "netexec, etcd, k8s:\n{log}");
    let env = "| CGO_ENABLED=0 GOFLAGS=-mod=readonly GOWORK=off | go.mod";
    for line in log.lines().filter(|l| !l.starts_with("go env")) {
        assert!(
            line.ends_with(env),
            "every go command runs in an assembled tree with {env}: {line}"
        );
    }
    let k8s = builds
        .iter()
        .find(|l| l.contains("./cmd/k8s"))
        .expect("k8s is built");
    for part in [
        "go build -trimpath -buildvcs=false -tags k8s_ge_1_21,",
        ",k8s_ge_1_36,k8s_ge_1_37 -ldflags -s -w -X k8s.io/component-base/version.gitVersion=v1.37.2",
        "-X k8s.io/component-base/version.gitMinor=37",
        "-X k8s.io/client-go/pkg/version.gitVersion=v1.37.2",
    ] {
        assert!(k8s.contains(part), "{part} in {k8s}");
    }
    assert!(!k8s.contains("k8s_ge_1_38"));
    assert_eq!(
        log.lines()
            .filter(|l| l.starts_with("go mod download"))
            .count(),
        3
    );
    for line in [
        "[1/3] netexec: building…",
        "[3/3] Kubernetes 1.37 k8s: building…",
        "3 built, 0 fresh; the cache holds ",
    ] {
        assert!(stdout.contains(line), "{line} in:\n{stdout}");
    }
    assert!(
        stdout.contains("[3/3] Kubernetes 1.37 k8s: built in "),
        "{stdout}"
    );
    let cache = t.cache();
    let k8s_bin = cache.join("k8s-v1.37.2/bin/k8s");
    assert_eq!(
        std::fs::read_to_string(&k8s_bin).unwrap(),
        "fake binary of ./cmd/k8s\n"
    );
    // Only binaries, manifests and the lock: no source tree or partial file is left.
    let left: Vec<String> = files_below(&cache)
        .into_iter()
        .map(|p| {
            p.trim_start_matches(&cache.display().to_string())
                .to_string()
        })
        .collect();
    assert_eq!(left.len(), 7, "{left:?}");
    assert!(
        left.iter().all(|p| p.ends_with("/manifest.json")
            || p.ends_with("/bin/k8s")
            || p.ends_with("/bin/etcd")
            || p.ends_with("/bin/netexec")
            || p == "/.lock"),
        "{left:?}"
    );
    let manifest = std::fs::read_to_string(cache.join("k8s-v1.37.2/manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(manifest["version"], "v1.37.2");
    assert_eq!(manifest["programs"]["k8s"]["go_version"], "go1.26.8");
    assert_eq!(
        manifest["programs"]["k8s"]["digest"].as_str().map(str::len),
        Some(64)
    );

    // Again: everything is fresh, go builds nothing.
    let before = t.log().lines().count();
    let out = t.build(&["--kubernetes", "1.37"], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout.contains("[3/3] Kubernetes 1.37 k8s: fresh (built "),
        "{stdout}"
    );
    assert!(stdout.contains("0 built, 3 fresh"), "{stdout}");
    assert_eq!(
        t.log().lines().count(),
        before,
        "go is not run when all is fresh"
    );

    // list: what is there, and what is not.
    let cache_arg = cache.to_str().unwrap();
    let out = t.run(&["upstream", "list", "--cache", cache_arg], &[]);
    let listing = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        listing.contains("Kubernetes 1.37 (gitVersion v1.37.2)\n  k8s      fresh: "),
        "{listing}"
    );
    assert!(
        listing.contains(&format!("{} (", k8s_bin.display())),
        "{listing}"
    );
    assert!(listing.contains("with go1.26.8)"), "{listing}");
    assert!(
        listing.contains(&format!(
            "Not built: Kubernetes 1.30, 1.33, 1.34, 1.35, 1.36; build with: topo-harness upstream build --kubernetes 1.30 --kubernetes 1.33 --kubernetes 1.34 --kubernetes 1.35 --kubernetes 1.36 --cache {cache_arg}\n"
        )),
        "{listing}"
    );

    // A binary recorded from other sources is stale: list says so, build rebuilds only it.
    let path = cache.join("k8s-v1.37.2/manifest.json");
    let edited =
        std::fs::read_to_string(&path)
            .unwrap()
            .replacen("\"digest\": \"", "\"digest\": \"old", 1);
    std::fs::write(&path, edited).unwrap();
    let listing = text(
        &t.run(&["upstream", "list", "--cache", cache_arg], &[])
            .stdout,
    );
    assert!(
        listing.contains("  k8s      STALE (built from other sources; rebuild): "),
        "{listing}"
    );
    let out = t.build(&["--kubernetes", "1.37"], &[]);
    assert!(
        text(&out.stdout).contains("1 built, 2 fresh"),
        "{}",
        text(&out.stdout)
    );
    let builds = t
        .log()
        .lines()
        .skip(before)
        .filter(|l| l.starts_with("go build"))
        .count();
    assert_eq!(builds, 1);

    // Leftovers of an interrupted build are cleared by the next one.
    std::fs::create_dir_all(cache.join("tmp/k8s-v1.37.2-1")).unwrap();
    std::fs::write(cache.join("k8s-v1.37.2/bin/.k8s.partial-1"), "half").unwrap();
    std::fs::remove_file(cache.join("etcd-v3.6.17/bin/etcd")).unwrap();
    let out = t.build(&["--program", "etcd"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!cache.join("tmp/k8s-v1.37.2-1").exists());
    assert!(!cache.join("k8s-v1.37.2/bin/.k8s.partial-1").exists());
}

#[test]
fn module_download_failure_is_one_line_and_exit_2() {
    let t = FakeGo::new("download");
    let message = "go: golang.org/x/sys@v0.47.0: module lookup disabled by GOPROXY=off";
    let out = t.build(
        &["--program", "netexec"],
        &[("FAKE_GO_DOWNLOAD_FAIL", message)],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        format!("error: cannot download the Go modules of netexec (GOPROXY=https://proxy.example): {message} — is the module proxy reachable?\n")
    );
    assert!(!t.log().contains("go build"));
}

#[test]
fn build_failure_shows_the_command_and_the_tail_and_exits_1() {
    let t = FakeGo::new("fail");
    let out = t.build(
        &["--kubernetes", "1.36"],
        &[(
            "FAKE_GO_BUILD_FAIL",
            "cmd/k8s/main.go:9:2: undefined: app.NewThing",
        )],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // Every build failed and each says how to reproduce it.
    assert_eq!(stderr.matches("error: building ").count(), 3, "{stderr}");
    assert!(
        stderr.contains("error: building Kubernetes 1.36 k8s failed (exit status 1):\n  cd "),
        "{stderr}"
    );
    assert!(
        stderr.contains(" && CGO_ENABLED=0 GOFLAGS=-mod=readonly GOWORK=off go build -trimpath -buildvcs=false -tags "),
        "{stderr}"
    );
    assert!(
        stderr.contains("\n  # topo\n  cmd/k8s/main.go:9:2: undefined: app.NewThing"),
        "{stderr}"
    );
    assert!(text(&out.stdout).contains("[3/3] Kubernetes 1.36 k8s: FAILED"));
    assert!(!t.cache().join("k8s-v1.36.3/bin/k8s").exists());
    assert!(
        std::fs::read_dir(t.cache().join("k8s-v1.36.3/bin"))
            .unwrap()
            .next()
            .is_none(),
        "no partial binary"
    );
}

#[test]
fn old_go_is_refused_with_what_is_needed() {
    let t = FakeGo::new("oldgo");
    let out = t.build(
        &["--kubernetes", "1.37", "--program", "k8s"],
        &[("FAKE_GO_VERSION", "go1.23.4")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: Kubernetes 1.37 needs Go 1.26.0 or newer; `go` is go1.23.4\n"
    );
}

#[test]
fn list_of_an_empty_cache_says_how_to_build() {
    let t = FakeGo::new("emptylist");
    let cache = t.cache();
    let out = t.run(
        &["upstream", "list", "--cache", cache.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        format!(
            "Upstream cache: {} (0 B)\nnetexec\n  netexec  not built\netcd v3.6.17\n  etcd     not built\n\
             Not built: Kubernetes 1.30, 1.33, 1.34, 1.35, 1.36, 1.37; build with: topo-harness upstream build --cache {}\n",
            cache.display(),
            cache.display()
        )
    );
    assert!(!cache.exists(), "list creates nothing");
    // The default location follows TOPO_UPSTREAM_CACHE.
    let out = t.run(
        &["upstream", "list"],
        &[("TOPO_UPSTREAM_CACHE", cache.to_str().unwrap())],
    );
    assert!(text(&out.stdout).starts_with(&format!("Upstream cache: {} (0 B)\n", cache.display())));
    assert!(text(&out.stdout).ends_with("build with: topo-harness upstream build\n"));
}

/// Whether the real `go` can be used; with TOPO_REQUIRE_UPSTREAM=1 it must be.
fn real_go() -> bool {
    let found = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("TOPO_REQUIRE_UPSTREAM").as_deref() != Ok("1"),
            "TOPO_REQUIRE_UPSTREAM=1 but `go` does not run"
        );
        eprintln!("skipped: no `go` on PATH (install Go 1.26 to run the real build test)");
    }
    found
}

fn real_build(cache: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_topo-harness"));
    cmd.args(["upstream", "build", "--program", "netexec", "--cache"])
        .arg(cache)
        .env_remove("TOPO_UPSTREAM_CACHE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("runs topo-harness")
}

#[test]
fn builds_the_node_helper_with_real_go() {
    if !real_go() {
        return;
    }
    let dir = TempDir::new("realgo");
    let cache = dir.0.join("cache");
    let out = real_build(&cache, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let entry = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("netexec-"))
        .expect("a netexec entry");
    let id = entry
        .file_name()
        .to_string_lossy()
        .trim_start_matches("netexec-")
        .to_string();
    let version = Command::new(entry.path().join("bin/netexec"))
        .arg("version")
        .output()
        .unwrap();
    assert_eq!(
        text(&version.stdout),
        format!("netexec {id}\n"),
        "stamped with its source id"
    );
    // A bad request is the helper's own usage error.
    let usage = Command::new(entry.path().join("bin/netexec"))
        .args(["probe", "--count", "0"])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn an_unreachable_module_proxy_is_exit_2_with_real_go() {
    if !real_go() {
        return;
    }
    let dir = TempDir::new("noproxy");
    // An empty module cache: the modules must come from the proxy.
    let modcache = dir.0.join("modcache");
    let modcache = modcache.to_str().unwrap();
    for (proxy, says) in [
        ("off", "module lookup disabled by GOPROXY=off"),
        ("http://127.0.0.1:9", "connection refused"),
    ] {
        let out = real_build(
            &dir.0.join("cache"),
            &[("GOMODCACHE", modcache), ("GOPROXY", proxy)],
        );
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.starts_with(&format!(
                "error: cannot download the Go modules of netexec (GOPROXY={proxy}): go: "
            )) && stderr.contains(says)
                && stderr.ends_with("— is the module proxy reachable?\n")
                && stderr.lines().count() == 1,
            "{stderr}"
        );
    }
}
