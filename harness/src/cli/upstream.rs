//! `topo-harness upstream build|list`: the cached upstream binaries.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::upstream::driver::{build, select, BuildRequest};
use crate::upstream::{
    all_units, disk_usage, display, parse_minor, Cache, Entry, Freshness, Unit, UpstreamError,
};

/// `upstream` arguments.
#[derive(Debug, Args)]
pub struct UpstreamArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: UpstreamCommand,
}

/// `upstream` subcommands.
#[derive(Debug, Subcommand)]
pub enum UpstreamCommand {
    /// Build (with Go, from the pinned modules) and cache kube-apiserver,
    /// kube-controller-manager, kube-proxy, etcd and the node helper; skips what is fresh.
    Build(BuildArgs),
    /// Show what is cached (versions, paths, sizes, fresh or stale) and what is not built.
    List(CacheArgs),
}

/// Where the cache is.
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// The cache directory (default: $TOPO_UPSTREAM_CACHE, else
    /// $XDG_CACHE_HOME/topo-harness/upstream, else ~/.cache/topo-harness/upstream).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
}

/// `upstream build` arguments.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// A release to build (repeatable; `1.NN`); default: every release the module pins.
    #[arg(long = "kubernetes", value_name = "1.NN")]
    pub kubernetes: Vec<String>,
    /// Only this program (repeatable): k8s (kube-apiserver, kube-controller-manager and
    /// kube-proxy in one), oracle, etcd, netexec; default: all.
    #[arg(long = "program", value_name = "NAME")]
    pub program: Vec<String>,
    /// Where the cache is.
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// Runs `upstream`; returns the exit code.
pub fn run(args: &UpstreamArgs) -> i32 {
    let result = match &args.command {
        UpstreamCommand::Build(b) => run_build(b),
        UpstreamCommand::List(c) => run_list(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

fn run_build(args: &BuildArgs) -> Result<i32, UpstreamError> {
    let minors = args
        .kubernetes
        .iter()
        .map(|m| parse_minor(m))
        .collect::<Result<Vec<u32>, _>>()?;
    let cache = Cache::locate(args.cache.cache.as_deref())?;
    let request = BuildRequest {
        minors,
        programs: args.program.clone(),
    };
    // Bad minors and programs fail before anything is printed.
    select(&cache, &request)?;
    println!("Upstream cache: {}", cache.root().display());
    let report = build(&cache, &request, &mut |line| println!("{line}"))?;
    println!(
        "{} built, {} fresh; the cache holds {}",
        report.built,
        report.fresh,
        display::size(disk_usage(cache.root()))
    );
    if report.failures.is_empty() {
        return Ok(super::EXIT_OK);
    }
    for failure in &report.failures {
        eprintln!("error: {failure}");
    }
    Ok(super::EXIT_FAILED)
}

/// One program's line in `list`.
fn program_line(cache: &Cache, unit: &Unit) -> String {
    let path = cache.binary(unit);
    let (state, built) = match cache.freshness(unit) {
        Freshness::Fresh(b) => ("fresh", Some(b)),
        Freshness::Stale(b) => ("STALE (built from other sources; rebuild)", Some(b)),
        Freshness::Missing => ("not built", None),
    };
    match built {
        Some(b) => format!(
            "  {:<8} {state}: {} ({}, built {} in {} with {})",
            unit.program,
            path.display(),
            display::size(b.size),
            display::utc(b.built_at),
            display::duration(std::time::Duration::from_secs_f64(b.seconds)),
            b.go_version
        ),
        None => format!("  {:<8} {state}", unit.program),
    }
}

fn run_list(args: &CacheArgs) -> Result<i32, UpstreamError> {
    let cache = Cache::locate(args.cache.as_deref())?;
    println!(
        "Upstream cache: {} ({})",
        cache.root().display(),
        display::size(disk_usage(cache.root()))
    );
    let units = all_units(cache.sources());
    let mut entries: Vec<&Entry> = units.iter().map(|u| &u.entry).collect();
    entries.dedup();
    let mut unbuilt = Vec::new();
    for entry in entries {
        let own: Vec<&Unit> = units.iter().filter(|u| &u.entry == entry).collect();
        let built = own
            .iter()
            .any(|u| !matches!(cache.freshness(u), Freshness::Missing));
        if let Entry::Kubernetes(release) = entry {
            if !built {
                unbuilt.push(release.minor);
                continue;
            }
            println!("{} (gitVersion {})", release.name(), release.version);
        } else {
            println!("{}", entry.label());
        }
        for unit in own {
            println!("{}", program_line(&cache, unit));
        }
    }
    if !unbuilt.is_empty() {
        let names: Vec<String> = unbuilt.iter().map(|m| format!("1.{m}")).collect();
        // Every release is what `build` builds by default.
        let flags: String = if unbuilt.len() == cache.pinned().len() {
            String::new()
        } else {
            names.iter().map(|n| format!(" --kubernetes {n}")).collect()
        };
        println!(
            "Not built: Kubernetes {}; build with: topo-harness upstream build{flags}{}",
            names.join(", "),
            cache.cache_flag()
        );
    }
    for dir in cache.unused_entries() {
        println!(
            "Unused by this topo-harness (older pins or sources): {} ({}); remove with: rm -r {}",
            dir.display(),
            display::size(disk_usage(&dir)),
            crate::backend::command::shell_quote(&dir.to_string_lossy())
        );
    }
    Ok(super::EXIT_OK)
}
