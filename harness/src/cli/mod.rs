//! The command line: clap definitions and one function per subcommand. `main.rs` only parses
//! and maps the result to an exit code: 0 all passed, 1 a check failed or timed out, 2 bad
//! input (case files, flags) or a backend that is not available.

mod explain;
mod rules;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::backend::live::ObserveSource;
use crate::case::ProxyMode;
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
#[command(name = "topo-harness", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run cases and write reports.
    Run(RunArgs),
    /// List cases, the versions they run on, and why others are skipped.
    List(SelectArgs),
    /// Show the cluster shapes a run needs and which cases share each.
    Plan(SelectArgs),
    /// Print the JSON Schema of case files.
    Schema(SchemaArgs),
    /// Explain what the reference model expects for a cluster state (hints and per-node routes).
    Explain(explain::ExplainArgs),
    /// Show the routes a node's rule dump implements (and, with --state --node, compare them
    /// with the model).
    Rules(rules::RulesArgs),
    /// Print (and write to kind/NAME.yaml) the kind config(s) for a case's cluster shape(s).
    KindConfig(KindConfigArgs),
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

fn parse_version(s: &str) -> Result<KubeVersion, String> {
    s.parse::<KubeVersion>().map_err(|e| e.to_string())
}

/// Which cases and versions.
#[derive(Debug, clap::Args)]
pub struct SelectArgs {
    /// Case files or directories.
    #[arg(default_value = "cases")]
    pub cases: Vec<PathBuf>,
    /// Kubernetes versions (repeatable); default: 1.21 and 1.34–1.37, where each case applies.
    #[arg(long = "kubernetes", value_name = "1.NN", value_parser = parse_version)]
    pub kubernetes: Vec<KubeVersion>,
    /// Proxy modes (repeatable); default iptables.
    #[arg(long = "proxy-mode", value_enum)]
    pub proxy_mode: Vec<ProxyMode>,
    /// Only cases whose name matches this glob (`*`, `?`).
    #[arg(long, value_name = "GLOB")]
    pub filter: Option<String>,
    /// Size budget of one case file, in bytes; a larger file is refused before it is read.
    #[arg(long, value_name = "BYTES", default_value_t = crate::case::bounds::DEFAULT_MAX_CASE_FILE_BYTES)]
    pub max_case_bytes: u64,
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
    /// JUnit XML report.
    #[arg(long, value_name = "PATH", default_value = "reports/junit.xml")]
    pub junit: PathBuf,
    /// Markdown summary.
    #[arg(long, value_name = "PATH", default_value = "reports/summary.md")]
    pub summary: PathBuf,
    /// Golden snapshots directory.
    #[arg(long, value_name = "DIR", default_value = "fixtures/snapshots")]
    pub snapshots: PathBuf,
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
    /// A case file, or the name of a case in `cases/`.
    pub case: String,
    /// Kubernetes versions (repeatable); default: where the case applies among the defaults.
    #[arg(long = "kubernetes", value_name = "1.NN", value_parser = parse_version)]
    pub kubernetes: Vec<KubeVersion>,
    /// Proxy modes (repeatable); default iptables.
    #[arg(long = "proxy-mode", value_enum)]
    pub proxy_mode: Vec<ProxyMode>,
    /// Directory to write the configs to.
    #[arg(long, value_name = "DIR", default_value = "kind")]
    pub output: PathBuf,
    /// kind binaries and node images.
    #[command(flatten)]
    pub kind: KindArgs,
}

/// `schema` arguments.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
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
    };
    ExitCode::from(code)
}

fn exit_code(code: i32) -> u8 {
    u8::try_from(code).unwrap_or(1)
}
