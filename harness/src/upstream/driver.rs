//! The build driver: picks what to build, skips what is fresh, assembles each source tree in
//! the cache's `tmp/`, runs go there and installs the binaries (a temporary file renamed into
//! place, so no half-written binary is ever cached) with their manifest.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::cache::{Cache, Freshness, LOCK_FILE, TMP_DIR};
use super::display;
use super::error::UpstreamError;
use super::gocmd::{self, GoCommand};
use super::manifest::{Built, Manifest};
use super::releases::{find, go_line};
use super::units::{all_units, program_names, Entry, Unit};

/// Lines of go's output a failure shows.
const TAIL_LINES: usize = 30;

/// What to build.
#[derive(Clone, Debug, Default)]
pub(crate) struct BuildRequest {
    /// Minors (`--kubernetes`); empty: every pinned release.
    pub(crate) minors: Vec<u32>,
    /// Programs (`--program`); empty: all.
    pub(crate) programs: Vec<String>,
}

/// What a build run did.
#[derive(Debug, Default)]
pub(crate) struct BuildReport {
    /// Programs built.
    pub(crate) built: usize,
    /// Programs skipped because they were fresh.
    pub(crate) fresh: usize,
    /// Builds that failed (the others went on).
    pub(crate) failures: Vec<UpstreamError>,
}

/// The Go toolchain found on PATH.
#[derive(Clone, Debug)]
pub(crate) struct Toolchain {
    /// `go1.26.8`.
    pub(crate) version: String,
    /// `go env GOPROXY`.
    pub(crate) proxy: String,
}

/// The units `request` selects, in build order, after checking its minors and programs.
pub(crate) fn select(cache: &Cache, request: &BuildRequest) -> Result<Vec<Unit>, UpstreamError> {
    let pinned = cache.pinned();
    for &minor in &request.minors {
        find(&pinned, minor)?;
    }
    let known = program_names(cache.sources());
    if let Some(bad) = request.programs.iter().find(|p| !known.contains(p)) {
        return Err(UpstreamError::UnknownProgram {
            given: bad.clone(),
            known,
        });
    }
    Ok(all_units(cache.sources())
        .into_iter()
        .filter(|u| request.programs.is_empty() || request.programs.contains(&u.program))
        .filter(|u| match &u.entry {
            Entry::Kubernetes(r) => request.minors.is_empty() || request.minors.contains(&r.minor),
            Entry::Etcd(_) | Entry::Netexec(_) => true,
        })
        .collect())
}

/// Runs `command` in `dir`; returns whether it succeeded and its output (stdout and stderr).
fn run_go(command: &GoCommand, dir: &Path) -> std::io::Result<(bool, String, String)> {
    let mut expr = duct::cmd("go", &command.args)
        .dir(dir)
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked();
    for (key, value) in &command.env {
        expr = expr.env(key, value);
    }
    let out = expr.run()?;
    let status = match out.status.code() {
        Some(code) => format!("exit status {code}"),
        None => "killed by a signal".to_string(),
    };
    Ok((
        out.status.success(),
        status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// The error for a `go` that could not be started.
fn not_started(e: std::io::Error) -> UpstreamError {
    UpstreamError::GoMissing {
        detail: (e.kind() != std::io::ErrorKind::NotFound).then(|| e.to_string()),
    }
}

/// Finds `go` and asks it for its version and proxy.
pub(crate) fn find_go() -> Result<Toolchain, UpstreamError> {
    let missing = |detail: String| UpstreamError::GoMissing {
        detail: Some(detail),
    };
    let (ok, status, out) = run_go(&gocmd::go_env(), &std::env::temp_dir()).map_err(not_started)?;
    if !ok {
        return Err(missing(format!("`go env` {status}: {}", first_line(&out))));
    }
    let mut lines = out.lines();
    let version = lines.next().unwrap_or("").trim().to_string();
    if !version.starts_with("go") {
        return Err(missing(format!("`go env GOVERSION` printed {version:?}")));
    }
    Ok(Toolchain {
        version,
        proxy: lines.next().unwrap_or("").trim().to_string(),
    })
}

/// `(1, 26, 8)` from `go1.26.8` or `1.26.0`; `None` for what is no release (`devel …`).
fn version_numbers(text: &str) -> Option<(u32, u32, u32)> {
    let text = text.trim().trim_start_matches("go");
    let numbers: String = text
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mut parts = numbers.split('.').map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no output");
    line.chars().take(300).collect()
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(TAIL_LINES);
    lines[start..]
        .iter()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A directory removed when dropped (the assembled source tree).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Takes the cache's lock (waiting, and saying so, while another build holds it), then removes
/// what an interrupted build left: `tmp/` and partial binaries.
fn lock(cache: &Cache, progress: &mut dyn FnMut(&str)) -> Result<File, UpstreamError> {
    let root = cache.root();
    std::fs::create_dir_all(root).map_err(UpstreamError::io("creating", root))?;
    let path = root.join(LOCK_FILE);
    let file = File::create(&path).map_err(UpstreamError::io("creating", &path))?;
    if file.try_lock().is_err() {
        progress(&format!(
            "waiting for another build of {} to finish…",
            root.display()
        ));
        file.lock().map_err(UpstreamError::io("locking", &path))?;
    }
    let tmp = root.join(TMP_DIR);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(UpstreamError::io("removing", &tmp))?;
    }
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        for binary in std::fs::read_dir(entry.path().join("bin"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if binary.file_name().to_string_lossy().contains(".partial-") {
                let _ = std::fs::remove_file(binary.path());
            }
        }
    }
    Ok(file)
}

/// Builds what `request` selects into `cache`, skipping what is fresh; reports each step
/// through `progress`. Stops at the first error that would fail every build (no Go, no module
/// proxy, an unusable cache); a failing `go build` is recorded and the others go on.
pub(crate) fn build(
    cache: &Cache,
    request: &BuildRequest,
    progress: &mut dyn FnMut(&str),
) -> Result<BuildReport, UpstreamError> {
    let units = select(cache, request)?;
    let mut report = BuildReport::default();
    let total = units.len();
    let mut todo: Vec<(usize, Unit)> = Vec::new();
    for (i, unit) in units.into_iter().enumerate() {
        match cache.freshness(&unit) {
            Freshness::Fresh(built) => {
                report.fresh += 1;
                progress(&format!(
                    "[{}/{total}] {}: fresh (built {}): {}",
                    i + 1,
                    unit.label(),
                    display::utc(built.built_at),
                    cache.binary(&unit).display()
                ));
            }
            Freshness::Stale(_) | Freshness::Missing => todo.push((i + 1, unit)),
        }
    }
    if todo.is_empty() {
        return Ok(report);
    }
    let toolchain = find_go()?;
    let _lock = lock(cache, progress)?;
    // One assembled tree per entry, its programs built one after another.
    let mut entries: Vec<Entry> = todo.iter().map(|(_, u)| u.entry.clone()).collect();
    entries.dedup();
    for entry in entries {
        let units: Vec<&(usize, Unit)> = todo.iter().filter(|(_, u)| u.entry == entry).collect();
        let tree = prepare(cache, &entry, &toolchain, progress)?;
        for (step, unit) in units {
            progress(&format!("[{step}/{total}] {}: building…", unit.label()));
            match build_one(cache, unit, &tree.0, &toolchain)? {
                Ok((path, built)) => {
                    report.built += 1;
                    progress(&format!(
                        "[{step}/{total}] {}: built in {} ({}): {}",
                        unit.label(),
                        display::duration(Duration::from_secs_f64(built.seconds)),
                        display::size(built.size),
                        path.display()
                    ));
                }
                Err(failure) => {
                    progress(&format!("[{step}/{total}] {}: FAILED", unit.label()));
                    report.failures.push(failure);
                }
            }
        }
    }
    Ok(report)
}

/// Assembles `entry`'s source tree under `tmp/` and downloads (or finds cached) its modules.
fn prepare(
    cache: &Cache,
    entry: &Entry,
    toolchain: &Toolchain,
    progress: &mut dyn FnMut(&str),
) -> Result<TempDir, UpstreamError> {
    let dir =
        cache
            .root()
            .join(TMP_DIR)
            .join(format!("{}-{}", entry.dir_name(), std::process::id()));
    std::fs::create_dir_all(&dir).map_err(UpstreamError::io("creating", &dir))?;
    let tree = TempDir(dir);
    cache.sources().write_tree(entry.tree(), &tree.0)?;
    let gomod = std::fs::read_to_string(tree.0.join("go.mod")).unwrap_or_default();
    if let (Some(needs), Some(have)) = (go_line(&gomod), version_numbers(&toolchain.version)) {
        if version_numbers(&needs).is_some_and(|n| n > have) {
            return Err(UpstreamError::GoTooOld {
                what: entry.label(),
                needs,
                have: toolchain.version.clone(),
            });
        }
    }
    let started = Instant::now();
    let download = gocmd::download();
    let (ok, _, out) = run_go(&download, &tree.0).map_err(not_started)?;
    if !ok {
        return Err(UpstreamError::ModuleDownload {
            what: entry.label(),
            proxy: toolchain.proxy.clone(),
            detail: first_line(&out),
            command: download.render(&tree.0),
        });
    }
    progress(&format!(
        "{}: modules ready in {}",
        entry.label(),
        display::duration(started.elapsed())
    ));
    Ok(tree)
}

/// Builds one program from the assembled tree in `dir`. The outer error stops the run; the
/// inner one is this build's failure.
#[allow(clippy::type_complexity)]
fn build_one(
    cache: &Cache,
    unit: &Unit,
    dir: &Path,
    toolchain: &Toolchain,
) -> Result<Result<(PathBuf, Built), UpstreamError>, UpstreamError> {
    let entry_dir = cache.entry_dir(&unit.entry);
    let bin = entry_dir.join("bin");
    std::fs::create_dir_all(&bin).map_err(UpstreamError::io("creating", &bin))?;
    let partial = bin.join(format!(".{}.partial-{}", unit.program, std::process::id()));
    let command = unit.command(&partial);
    let started = Instant::now();
    let (ok, status, out) = run_go(&command, dir).map_err(not_started)?;
    let seconds = started.elapsed().as_secs_f64();
    if !ok || !partial.is_file() {
        let _ = std::fs::remove_file(&partial);
        return Ok(Err(UpstreamError::BuildFailed {
            what: unit.label(),
            status: if ok {
                "no binary written".to_string()
            } else {
                status
            },
            command: command.render(dir),
            tail: tail(&out),
        }));
    }
    let path = cache.binary(unit);
    std::fs::rename(&partial, &path).map_err(UpstreamError::io("renaming", &partial))?;
    let size = std::fs::metadata(&path)
        .map_err(UpstreamError::io("reading", &path))?
        .len();
    let built = Built {
        digest: unit.digest.clone(),
        built_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        seconds,
        go_version: toolchain.version.clone(),
        size,
    };
    let mut manifest =
        Manifest::read(&entry_dir).unwrap_or_else(|| Manifest::new(unit.entry.version()));
    manifest.version = unit.entry.version().to_string();
    manifest
        .programs
        .insert(unit.program.clone(), built.clone());
    manifest.write(&entry_dir)?;
    Ok(Ok((path, built)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::cache::tests::TempCache;

    #[test]
    fn selection_by_minor_and_program() {
        let t = TempCache::new("select");
        let labels = |minors: Vec<u32>, programs: &[&str]| {
            let request = BuildRequest {
                minors,
                programs: programs.iter().map(|p| p.to_string()).collect(),
            };
            select(&t.cache, &request)
                .map(|units| units.iter().map(Unit::label).collect::<Vec<_>>())
        };
        assert_eq!(
            labels(vec![37], &[]).unwrap(),
            [
                "netexec",
                "etcd v3.6.17",
                "Kubernetes 1.37 k8s",
                "Kubernetes 1.37 oracle"
            ]
        );
        assert_eq!(
            labels(vec![], &["k8s"]).unwrap(),
            ["Kubernetes 1.36 k8s", "Kubernetes 1.37 k8s"]
        );
        assert_eq!(labels(vec![36], &["netexec"]).unwrap(), ["netexec"]);
        assert_eq!(labels(vec![], &[]).unwrap().len(), 6);
        let err = labels(vec![35], &[]).unwrap_err().to_string();
        assert_eq!(
            err,
            "Kubernetes 1.35 is not pinned (pinned: 1.36, 1.37); did you mean 1.36?"
        );
        let err = labels(vec![], &["kubelet"]).unwrap_err().to_string();
        assert_eq!(
            err,
            "--program \"kubelet\": no such program (known: k8s, oracle, etcd, netexec)"
        );
    }

    #[test]
    fn go_versions_compare() {
        assert_eq!(version_numbers("go1.26.8"), Some((1, 26, 8)));
        assert_eq!(version_numbers("1.24.0"), Some((1, 24, 0)));
        assert_eq!(version_numbers("1.25"), Some((1, 25, 0)));
        assert_eq!(version_numbers("go1.27rc1"), Some((1, 27, 0)));
        assert_eq!(version_numbers("devel go1.27-abc"), None);
        assert!(version_numbers("1.26.0") <= version_numbers("go1.26.8"));
    }

    #[test]
    fn failure_output_is_cut_to_its_tail() {
        let out: String = (1..=40).map(|i| format!("line {i}\n")).collect();
        let t = tail(&out);
        assert!(t.starts_with("  line 11\n") && t.ends_with("  line 40"));
        assert_eq!(first_line("\n  go: no proxy  \nmore"), "go: no proxy");
    }

    #[test]
    fn fresh_units_need_no_go() {
        let t = TempCache::new("allfresh");
        let request = BuildRequest {
            minors: vec![37],
            programs: vec!["netexec".into()],
        };
        let unit = select(&t.cache, &request).unwrap().remove(0);
        t.put(&unit, &unit.digest);
        let mut lines = Vec::new();
        let report = build(&t.cache, &request, &mut |l| lines.push(l.to_string())).unwrap();
        assert_eq!(
            (report.built, report.fresh, report.failures.len()),
            (0, 1, 0)
        );
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("[1/1] netexec: fresh (built 1970-01-01T00:00:00Z): "),
            "{lines:?}"
        );
        assert!(
            !t.cache.root().join(LOCK_FILE).exists(),
            "nothing to build takes no lock"
        );
    }

    #[test]
    fn a_second_build_waits_for_the_lock_and_says_so() {
        let t = TempCache::new("lock");
        std::fs::create_dir_all(t.cache.root()).unwrap();
        let held = File::create(t.cache.root().join(LOCK_FILE)).unwrap();
        held.lock().unwrap();
        std::fs::create_dir_all(t.cache.root().join(TMP_DIR).join("old-1")).unwrap();
        let cache = t.cache.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let mut lines = Vec::new();
            let lock = lock(&cache, &mut |l| {
                lines.push(l.to_string());
                let _ = tx.send(());
            });
            (lock.is_ok(), lines)
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("the waiter says it waits");
        assert!(
            t.cache.root().join(TMP_DIR).join("old-1").exists(),
            "nothing is cleaned while another build runs"
        );
        held.unlock().unwrap();
        let (locked, lines) = waiter.join().unwrap();
        assert!(locked);
        assert_eq!(
            lines,
            [format!(
                "waiting for another build of {} to finish…",
                t.cache.root().display()
            )]
        );
        assert!(
            !t.cache.root().join(TMP_DIR).exists(),
            "leftovers removed once locked"
        );
    }
}
