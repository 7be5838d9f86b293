//! The command line: clap definitions and one function per subcommand. `main.rs` only parses
//! and maps the result to an exit code: 0 all passed, 1 a check failed or timed out, 2 bad
//! input (case files, flags, a selection that runs nothing) or a backend that cannot start
//! (no `kind` binary, an unreadable kubeconfig).

mod explain;
mod local;
mod rules;
mod run;
mod upstream;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::backend::live::ObserveSource;
use crate::case::{Profile, ProxyMode, VersionRange};
use crate::model::KubeVersion;

pub use run::{kind_config, list, plan, run, run_exit_code, schema, EXIT_INTERRUPTED};

/// Exit code: everything passed.
pub const EXIT_OK: i32 = 0;
/// Exit code: a check failed or timed out (or a dump disagrees with the model).
pub const EXIT_FAILED: i32 = 1;
/// Exit code: bad input (files, flags).
pub const EXIT_BAD_INPUT: i32 = 2;

/// Conformance and end-to-end tests for Kubernetes topology-aware routing.
#[derive(Debug, Parser)]
#[command(name = "topo-harness", version = version_text(), about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
// Parsed once per process: the size of `run`'s arguments does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run cases and write reports.
    Run(RunArgs),
    /// List cases, where each comes from, the versions it runs on, and why others are skipped.
    List(ListArgs),
    /// Show the cluster shapes a run needs and which cases share each.
    Plan(PlanArgs),
    /// Print the JSON Schema of case files (or of conformance reports).
    Schema(SchemaArgs),
    /// Explain what the reference model expects for a cluster state (hints and per-node routes).
    Explain(explain::ExplainArgs),
    /// Show the routes a node's rule dump implements (and, with --state --node, compare them
    /// with the model).
    Rules(rules::RulesArgs),
    /// Print the kind config(s) for a case's cluster shape(s) (with --output DIR, also write
    /// them there).
    KindConfig(KindConfigArgs),
    /// Manage clusters of the local backend (`local down DIR` tears down a kept one).
    Local(local::LocalArgs),
    /// Build and list the cached upstream binaries (kube-apiserver, kube-controller-manager,
    /// kube-proxy, etcd) the local backend runs.
    Upstream(upstream::UpstreamArgs),
}

/// `--version`: the package version, the commit it was built from and a digest of the
/// embedded catalog (cases and goldens), so two binaries that gate differently can be told
/// apart: `0.1.0 (commit 1a2b3c4d5e6f, catalog sha256:…)`.
pub fn version_text() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        format!(
            "{} (commit {}, catalog sha256:{})",
            env!("CARGO_PKG_VERSION"),
            env!("TOPO_HARNESS_COMMIT"),
            crate::case::catalog_digest()
        )
    })
}

/// `--backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// The embedded reference cluster (the model).
    Sim,
    /// kind clusters created per cluster shape (needs kind and docker/podman).
    Kind,
    /// An existing cluster from a kubeconfig (--kubeconfig, --context).
    Kubeconfig,
    /// Real upstream kube-apiserver, kube-controller-manager and kube-proxy as local
    /// processes, every node a network namespace (needs root; build the binaries first with
    /// `topo-harness upstream build`).
    Local,
}

/// `--observe`: where the live backends read each node's routes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ObserveArg {
    /// The node's dataplane rules (kind only).
    Rules,
    /// Requests from a client pod pinned to every node (any dataplane).
    Traffic,
    /// Both; checks use traffic, and a disagreement fails the `dataplane` check.
    Both,
}

impl From<ObserveArg> for ObserveSource {
    fn from(o: ObserveArg) -> Self {
        match o {
            ObserveArg::Rules => ObserveSource::Rules,
            ObserveArg::Traffic => ObserveSource::Traffic,
            ObserveArg::Both => ObserveSource::Both,
        }
    }
}

/// `--proxy-mode`: the one [`ProxyMode`], spelled as kube-proxy spells it.
impl ValueEnum for ProxyMode {
    fn value_variants<'a>() -> &'a [Self] {
        &ProxyMode::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let help = match self {
            ProxyMode::Iptables => "iptables",
            ProxyMode::Nftables => "nftables",
            ProxyMode::Ipvs => "IPVS",
            ProxyMode::None => {
                "No kube-proxy (kind: `kubeProxyMode: none`; install your own proxy with \
                 `--after-create`; routes are observed with traffic). On sim: the reference proxy"
            }
        };
        Some(clap::builder::PossibleValue::new(self.as_str()).help(help))
    }
}

/// A `--kubernetes` value: `all`, `1.NN`, or a range as case files write it (`1.28-1.33`,
/// `>=1.30`, `>=1.23, <1.30`); it must include a supported version (1.21–1.37).
fn parse_versions(s: &str) -> Result<Vec<KubeVersion>, String> {
    let text = s.trim();
    let range = if text == "all" {
        VersionRange::any()
    } else {
        // A lone minor is checked as a version, so `1.99` says which versions exist.
        if !text.contains(['-', '<', '>', '=', ',', '*']) {
            return text
                .parse::<KubeVersion>()
                .map(|v| vec![v])
                .map_err(|e| e.to_string());
        }
        VersionRange::parse(text)?
    };
    let versions = range.supported();
    if versions.is_empty() {
        return Err(format!(
            "`{text}` includes no supported version (1.{}–1.{})",
            KubeVersion::OLDEST.minor,
            KubeVersion::NEWEST.minor
        ));
    }
    Ok(versions)
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    /// Colour on a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always (even with `NO_COLOR`).
    Always,
    /// Never.
    Never,
}

impl ColorArg {
    /// Whether to colour output going to a terminal (`tty`) with `no_color` = the value of
    /// `NO_COLOR` (set and not empty turns colour off in `auto`, as no-color.org says).
    pub fn enabled(self, tty: bool, no_color: Option<&str>) -> bool {
        match self {
            ColorArg::Always => true,
            ColorArg::Never => false,
            ColorArg::Auto => tty && no_color.is_none_or(str::is_empty),
        }
    }
}

/// Which cases and versions.
#[derive(Debug, clap::Args)]
pub struct SelectArgs {
    /// Case files, directories of them, or names of built-in cases (default: the built-in
    /// catalog, embedded in the binary).
    #[arg(value_name = "CASE")]
    pub cases: Vec<PathBuf>,
    /// A directory (or file) of cases, like a positional CASE (repeatable).
    #[arg(long = "cases", value_name = "DIR")]
    pub case_dirs: Vec<PathBuf>,
    /// Kubernetes versions (repeatable): `1.NN`, a range (`1.28-1.33`, `>=1.30`) or `all`.
    /// Default on the sim: every version each case applies to (1.21–1.37); on kind: the
    /// versions the kind release has node images for; on kubeconfig: 1.21 and 1.34–1.37.
    #[arg(long = "kubernetes", value_name = "VERSIONS", value_parser = parse_versions)]
    pub kubernetes: Vec<Vec<KubeVersion>>,
    /// Proxy modes (repeatable). Default on the sim: every mode that exists in each version
    /// (iptables, ipvs, nftables from 1.29); elsewhere iptables.
    #[arg(long = "proxy-mode", value_enum)]
    pub proxy_mode: Vec<ProxyMode>,
    /// Only cases whose name matches this glob (`*`, `?`); matching no case is an error.
    #[arg(long, value_name = "GLOB")]
    pub filter: Option<String>,
    /// Size budget of one case file, in bytes; a larger file is refused before it is read.
    #[arg(long, value_name = "BYTES", default_value_t = crate::case::bounds::DEFAULT_MAX_CASE_FILE_BYTES)]
    pub max_case_bytes: u64,
    /// Only cases of this conformance profile (repeatable): core, extended, legacy.
    #[arg(long, value_enum)]
    pub profile: Vec<Profile>,
}

impl SelectArgs {
    /// The case paths and names, positional first.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.cases.iter().chain(&self.case_dirs).cloned().collect()
    }

    /// The versions given with `--kubernetes`, sorted, without repeats.
    pub fn versions(&self) -> Vec<KubeVersion> {
        let mut v: Vec<KubeVersion> = self.kubernetes.iter().flatten().copied().collect();
        v.sort();
        v.dedup();
        v
    }
}

/// `list` arguments.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Cases and versions.
    #[command(flatten)]
    pub select: SelectArgs,
    /// The backend whose default versions and modes to show.
    #[arg(long, value_enum, default_value_t = BackendArg::Sim)]
    pub backend: BackendArg,
}

/// `plan` arguments.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Cases and versions.
    #[command(flatten)]
    pub select: SelectArgs,
    /// The backend whose default versions and modes to plan for (the same default as `run`
    /// and `list`).
    #[arg(long, value_enum, default_value_t = BackendArg::Sim)]
    pub backend: BackendArg,
}

/// `run` arguments.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Cases and versions.
    #[command(flatten)]
    pub select: SelectArgs,
    /// Where the cases run.
    #[arg(long, value_enum, default_value_t = BackendArg::Sim)]
    pub backend: BackendArg,
    /// JUnit XML report (checked writable before anything runs).
    #[arg(long, value_name = "PATH", default_value = "reports/junit.xml")]
    pub junit: PathBuf,
    /// Markdown summary (checked writable before anything runs).
    #[arg(long, value_name = "PATH", default_value = "reports/summary.md")]
    pub summary: PathBuf,
    /// HTML report: a topology picture per step, failures first (one self-contained file).
    #[arg(long, value_name = "PATH", default_value = "reports/index.html")]
    pub html: PathBuf,
    /// Conformance report (YAML) to publish: per profile a result with counts and the failed
    /// suites; needs --implementation.
    #[arg(long, value_name = "PATH")]
    pub conformance_report: Option<PathBuf>,
    /// The implementation a conformance report is for:
    /// `name=…,version=…[,url=…][,contact=…]` (contact may repeat).
    #[arg(long, value_name = "name=…,version=…,url=…,contact=…")]
    pub implementation: Option<String>,
    /// Golden snapshots of your cases: `DIR/<case>.snap`. Without it, built-in cases use the
    /// goldens embedded in the binary and other cases get no `snapshot` check.
    #[arg(long, value_name = "DIR")]
    pub snapshots: Option<PathBuf>,
    /// Write the golden of every case run to `--snapshots DIR` (new files, and changed blocks
    /// of existing ones; versions not run keep theirs). Review with `git diff`.
    #[arg(long, requires = "snapshots")]
    pub update_snapshots: bool,
    /// Write the state observed after each step to DIR, in the compact state format
    /// `explain` reads (`DIR/<case>@<version>-<mode>/<NN>-<step>.yaml`).
    #[arg(long, value_name = "DIR")]
    pub dump_state: Option<PathBuf>,
    /// Colour: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorArg::Auto)]
    pub color: ColorArg,
    /// More output: also a line per step, each failed check's diff as it happens, every skip.
    #[arg(short, long, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Less output: only the recap (one line per group of failures, the reports, the counts).
    #[arg(short, long)]
    pub quiet: bool,
    /// kind: use an existing cluster of the same name when its recorded shape matches (and
    /// keep it at the end).
    #[arg(long)]
    pub reuse: bool,
    /// kind/kubeconfig: keep clusters and case namespaces; print how to inspect and delete them.
    #[arg(long)]
    pub keep: bool,
    /// kind: print the plan and every command the run would make, touch nothing, exit 0.
    #[arg(long)]
    pub dry_run: bool,
    /// kubeconfig: the kubeconfig file (default $KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// kubeconfig: the context (default: the file's current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// kubeconfig: let the harness relabel nodes to the case's zones (restored afterwards).
    #[arg(long)]
    pub allow_node_changes: bool,
    /// kind/kubeconfig: where each node's routes are observed from (default: rules on kind,
    /// traffic on kubeconfig; the sim has only rules).
    #[arg(long, value_enum, value_name = "SOURCE")]
    pub observe: Option<ObserveArg>,
    /// kind: a command run once after each cluster is created, before any case runs on it
    /// (e.g. installing your own service proxy with `--proxy-mode none`). Split into words
    /// like a shell would (quotes, backslashes) but run without one: no expansion, and `|`,
    /// `;`, `&&`, redirections are refused (write `sh -c '…'` to use a shell). It gets
    /// `KUBECONFIG` (the cluster's kubeconfig) and `TOPO_CLUSTER` (its name); a failure fails
    /// that cluster's setup with the command's output.
    #[arg(long, value_name = "CMD")]
    pub after_create: Option<String>,
    /// kind: how long the --after-create command may run, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub after_create_timeout: u64,
    /// local: with `--proxy-mode none`, a command run in every node's network namespace
    /// instead of kube-proxy (your own proxy), through `sh -c`, with `KUBECONFIG`,
    /// `NODE_NAME` and `NODE_IP` set.
    #[arg(long, value_name = "CMD")]
    pub node_agent: Option<String>,
    /// kind binaries and node images.
    #[command(flatten)]
    pub kind: KindArgs,
}

/// kind binaries and node images (`run --backend kind`, `kind-config`).
#[derive(Debug, Default, clap::Args)]
pub struct KindArgs {
    /// kind: another kind binary (repeatable; also TOPO_KIND, separated like PATH). Each
    /// cluster is created by the first binary whose release ships an image for its Kubernetes
    /// minor (`kind version` tells the release), e.g. kind v0.20.0 for 1.21.
    #[arg(long = "kind", value_name = "PATH")]
    pub kind: Vec<String>,
    /// kind: the node image for every cluster instead of the release tables (e.g. one built
    /// with `kind build node-image`); its tag must name the cluster's version (v1.NN.P).
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// kind: the EndpointSlice controller: `builtin` (kube-controller-manager's) or `none`
    /// (kube-controller-manager --controllers=*,-endpointslice-controller; install yours with
    /// --after-create).
    #[arg(long, value_enum, default_value_t = ControllerArg::Builtin)]
    pub controller: ControllerArg,
    /// The `endpointslice.kubernetes.io/managed-by` value of the EndpointSlice controller
    /// under test: its slices are the ones the model and hint checks judge (on kind the run
    /// first waits for it to write slices for a probe Service; on sim, hand-written slices of
    /// that manager stand for it).
    #[arg(long, value_name = "NAME")]
    pub managed_by: Option<String>,
}

/// `--controller`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ControllerArg {
    /// kube-controller-manager's EndpointSlice controller.
    #[default]
    Builtin,
    /// No in-tree EndpointSlice controller.
    None,
}

impl From<ControllerArg> for crate::backend::kind::EndpointSliceController {
    fn from(c: ControllerArg) -> Self {
        match c {
            ControllerArg::Builtin => crate::backend::kind::EndpointSliceController::Builtin,
            ControllerArg::None => crate::backend::kind::EndpointSliceController::None,
        }
    }
}

/// `kind-config` arguments.
#[derive(Debug, clap::Args)]
pub struct KindConfigArgs {
    /// A case file, or the name of a built-in case.
    pub case: String,
    /// Kubernetes versions (repeatable; `1.NN`, a range or `all`); default: where the case
    /// applies among the versions kind has node images for.
    #[arg(long = "kubernetes", value_name = "VERSIONS", value_parser = parse_versions)]
    pub kubernetes: Vec<Vec<KubeVersion>>,
    /// Proxy modes (repeatable); default iptables.
    #[arg(long = "proxy-mode", value_enum)]
    pub proxy_mode: Vec<ProxyMode>,
    /// Also write each config to DIR/<shape>.yaml (default: only print them).
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// kind binaries and node images.
    #[command(flatten)]
    pub kind: KindArgs,
}

/// `schema` arguments.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// The schema of conformance reports (`run --conformance-report`) instead of case files.
    #[arg(long)]
    pub conformance_report: bool,
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// Runs a parsed command line; returns the process exit code.
pub fn dispatch(cli: Cli) -> ExitCode {
    let code = match cli.command {
        Command::Run(args) => run(&args),
        Command::List(args) => list(&args),
        Command::Plan(args) => plan(&args),
        Command::Schema(args) => schema(&args),
        Command::Explain(args) => exit_code(explain::run(&args)),
        Command::Rules(args) => exit_code(rules::run(&args)),
        Command::KindConfig(args) => kind_config(&args),
        Command::Local(args) => local::local(&args),
        Command::Upstream(args) => exit_code(upstream::run(&args)),
    };
    ExitCode::from(code)
}

fn exit_code(code: i32) -> u8 {
    u8::try_from(code).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_turns_colour_off_only_in_auto() {
        assert!(ColorArg::Auto.enabled(true, None));
        assert!(
            ColorArg::Auto.enabled(true, Some("")),
            "empty NO_COLOR is unset"
        );
        assert!(!ColorArg::Auto.enabled(true, Some("1")));
        assert!(!ColorArg::Auto.enabled(false, None), "not a terminal");
        assert!(ColorArg::Always.enabled(false, Some("1")), "a flag wins");
        assert!(!ColorArg::Never.enabled(true, None));
    }

    #[test]
    fn kubernetes_values() {
        let minors =
            |s: &str| parse_versions(s).map(|v| v.iter().map(|v| v.minor).collect::<Vec<_>>());
        assert_eq!(minors("1.30"), Ok(vec![30]));
        assert_eq!(minors("1.28-1.30"), Ok(vec![28, 29, 30]));
        assert_eq!(minors(">=1.36"), Ok(vec![36, 37]));
        assert_eq!(minors("all").map(|v| v.len()), Ok(17));
        assert!(minors("1.40-1.50").is_err());
        assert!(minors("1.99").is_err());
    }
}
