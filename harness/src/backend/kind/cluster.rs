//! [`KindCluster`]: the kind CLI lifecycle (create, kubeconfig, export logs, delete, list)
//! and reads from node containers (kube-proxy rules, proxy mode), on top of a
//! [`CommandRunner`]; plus [`dry_run`], which lists every command the lifecycle would run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::command::{Command, CommandError, CommandRunner};
use super::config::{self, ConfigError};
use super::images::ImageTable;
use super::releases::{KindBinary, KindRelease};
use super::spec::{KindClusterSpec, ProxyMode, LABEL_SHAPE};

/// Environment variable kind reads to pick its node provider.
pub const PROVIDER_ENV: &str = "KIND_EXPERIMENTAL_PROVIDER";

/// Address of kube-proxy's `/proxyMode` endpoint inside a node (metrics bind address).
pub const PROXY_MODE_URL: &str = "127.0.0.1:10249/proxyMode";

/// The container CLI that runs kind's nodes; `exec` into nodes goes through it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum ContainerCli {
    /// `docker` (kind's default).
    #[default]
    Docker,
    /// `podman`.
    Podman,
    /// `nerdctl`.
    Nerdctl,
    /// `finch`.
    Finch,
    /// `nerdctl.lima`.
    NerdctlLima,
}

impl ContainerCli {
    /// The program name, which is also the `KIND_EXPERIMENTAL_PROVIDER` value.
    pub fn program(self) -> &'static str {
        match self {
            ContainerCli::Docker => "docker",
            ContainerCli::Podman => "podman",
            ContainerCli::Nerdctl => "nerdctl",
            ContainerCli::Finch => "finch",
            ContainerCli::NerdctlLima => "nerdctl.lima",
        }
    }

    /// Parses a `KIND_EXPERIMENTAL_PROVIDER` value; `None` or empty means docker.
    pub fn from_value(value: Option<&str>) -> Result<ContainerCli, ClusterError> {
        match value.map(str::trim) {
            None | Some("") | Some("docker") => Ok(ContainerCli::Docker),
            Some("podman") => Ok(ContainerCli::Podman),
            Some("nerdctl") => Ok(ContainerCli::Nerdctl),
            Some("finch") => Ok(ContainerCli::Finch),
            Some("nerdctl.lima") => Ok(ContainerCli::NerdctlLima),
            Some(other) => Err(ClusterError::Provider(other.to_string())),
        }
    }

    /// Reads `KIND_EXPERIMENTAL_PROVIDER` from the environment.
    pub fn from_env() -> Result<ContainerCli, ClusterError> {
        Self::from_value(std::env::var(PROVIDER_ENV).ok().as_deref())
    }
}

/// Why a lifecycle step failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A command failed (the error carries the command, status and output).
    #[error(transparent)]
    Command(#[from] CommandError),
    /// Creation failed; logs were exported (or that failed too) before the error surfaced.
    #[error("creating kind cluster {cluster} failed{}: {source}", match .logs { Some(dir) => format!(" (node logs in {})", dir.display()), None => String::new() })]
    Create {
        /// Cluster name.
        cluster: String,
        /// Where the logs went, when the export worked.
        logs: Option<PathBuf>,
        /// The create failure.
        #[source]
        source: Box<CommandError>,
    },
    /// `KIND_EXPERIMENTAL_PROVIDER` has a value kind does not know.
    #[error("{PROVIDER_ENV}={0} is not a kind provider; expected docker, podman, nerdctl, finch or nerdctl.lima")]
    Provider(String),
    /// kube-proxy answered `/proxyMode` with something that is not a mode.
    #[error("node {node}: kube-proxy reported proxy mode `{answer}`")]
    ProxyMode {
        /// Node.
        node: String,
        /// What it said.
        answer: String,
    },
    /// The config could not be generated.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The `--after-create` command failed (its output is in the source).
    #[error("the --after-create command failed on cluster {cluster}: {source}")]
    AfterCreate {
        /// Cluster name.
        cluster: String,
        /// The command's failure.
        #[source]
        source: Box<CommandError>,
    },
}

pub use crate::backend::command::{AfterCreate, CLUSTER_ENV};

/// Time limits for the kind calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// `kind create cluster` (pulling images and booting nodes).
    pub create: Duration,
    /// `kind delete cluster`.
    pub delete: Duration,
    /// `kind export logs`.
    pub export_logs: Duration,
    /// Everything else (get, exec).
    pub short: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            create: Duration::from_secs(600),
            delete: Duration::from_secs(180),
            export_logs: Duration::from_secs(300),
            short: Duration::from_secs(60),
        }
    }
}

/// One kind cluster, driven through a [`CommandRunner`].
pub struct KindCluster<'r> {
    runner: &'r dyn CommandRunner,
    name: String,
    nodes: Vec<String>,
    cli: ContainerCli,
    /// Program used for kind (default `kind`).
    pub kind_program: String,
    /// Time limits.
    pub timeouts: Timeouts,
}

impl<'r> KindCluster<'r> {
    /// The cluster a spec describes (node names from kind's naming rules).
    pub fn new(runner: &'r dyn CommandRunner, spec: &KindClusterSpec, cli: ContainerCli) -> Self {
        KindCluster {
            runner,
            name: spec.name.clone(),
            nodes: spec.node_names(),
            cli,
            kind_program: "kind".to_string(),
            timeouts: Timeouts::default(),
        }
    }

    /// Cluster name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Node container names (= Kubernetes node names), in spec order.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// The container CLI used for `exec`.
    pub fn container_cli(&self) -> ContainerCli {
        self.cli
    }

    fn kind(&self, timeout: Duration) -> Command {
        let cmd = Command::new(&self.kind_program).timeout(timeout);
        match self.cli {
            // kind auto-detects; docker needs no variable. Any other CLI is pinned so kind
            // and the `exec` calls use the same runtime.
            ContainerCli::Docker => cmd,
            other => cmd.env(PROVIDER_ENV, other.program()),
        }
    }

    /// `kind create cluster --name N --config F --retain --wait 1m --kubeconfig P`.
    pub fn create_command(&self, config: &Path, kubeconfig: &Path) -> Command {
        self.kind(self.timeouts.create).args([
            "create".to_string(),
            "cluster".to_string(),
            "--name".to_string(),
            self.name.clone(),
            "--config".to_string(),
            config.display().to_string(),
            "--retain".to_string(),
            "--wait".to_string(),
            "1m".to_string(),
            "--kubeconfig".to_string(),
            kubeconfig.display().to_string(),
        ])
    }

    /// `kind get kubeconfig --name N`.
    pub fn kubeconfig_command(&self) -> Command {
        self.kind(self.timeouts.short)
            .args(["get", "kubeconfig", "--name", &self.name])
    }

    /// `kind export logs DIR --name N`.
    pub fn export_logs_command(&self, dir: &Path) -> Command {
        self.kind(self.timeouts.export_logs).args([
            "export".to_string(),
            "logs".to_string(),
            dir.display().to_string(),
            "--name".to_string(),
            self.name.clone(),
        ])
    }

    /// `kind delete cluster --name N`.
    pub fn delete_command(&self) -> Command {
        self.kind(self.timeouts.delete)
            .args(["delete", "cluster", "--name", &self.name])
    }

    /// `<cli> image inspect --format {{.Id}} IMAGE`: whether the host has an image (exit 0).
    pub fn image_present_command(&self, image: &str) -> Command {
        Command::new(self.cli.program())
            .timeout(self.timeouts.short)
            .args(["image", "inspect", "--format", "{{.Id}}", image])
    }

    /// `kind load docker-image IMAGE --name N`: copies a host image into every node.
    pub fn load_image_command(&self, image: &str) -> Command {
        self.kind(self.timeouts.create)
            .args(["load", "docker-image", image, "--name", &self.name])
    }

    /// Copies `image` into the nodes when the host has it (one transfer instead of one pull
    /// per node); returns whether it did. A host without the image, or a failed load, leaves
    /// the kubelets to pull it as usual.
    pub fn preload_image(&self, image: &str) -> bool {
        self.runner.run(&self.image_present_command(image)).is_ok()
            && self.runner.run(&self.load_image_command(image)).is_ok()
    }

    /// `<cli> exec <node> <argv…>`.
    pub fn exec_command(&self, node: &str, argv: &[&str]) -> Command {
        Command::new(self.cli.program())
            .timeout(self.timeouts.short)
            .args(["exec", node])
            .args(argv.iter().copied())
    }

    /// The [`AfterCreate`] command for this cluster: its argv and time limit, with
    /// `KUBECONFIG=<kubeconfig>` (made absolute, so a script that changes directory still
    /// finds it) and `TOPO_CLUSTER=<name>`.
    pub fn after_create_command(&self, hook: &AfterCreate, kubeconfig: &Path) -> Command {
        hook.command(kubeconfig, &self.name)
    }

    /// Runs the [`AfterCreate`] command; its failure (exit status, output, timeout) becomes
    /// [`ClusterError::AfterCreate`].
    pub fn run_after_create(
        &self,
        hook: &AfterCreate,
        kubeconfig: &Path,
    ) -> Result<(), ClusterError> {
        self.runner
            .run(&self.after_create_command(hook, kubeconfig))
            .map(|_| ())
            .map_err(|source| ClusterError::AfterCreate {
                cluster: self.name.clone(),
                source: Box::new(source),
            })
    }

    /// Creates the cluster from a config file, writing its kubeconfig to `kubeconfig`.
    pub fn create(&self, config: &Path, kubeconfig: &Path) -> Result<(), ClusterError> {
        self.runner.run(&self.create_command(config, kubeconfig))?;
        Ok(())
    }

    /// Creates the cluster; when that fails, exports node logs to `logs` (kind keeps the
    /// nodes thanks to `--retain`) and, unless `keep`, deletes the cluster, then returns
    /// the creation error.
    pub fn create_or_collect(
        &self,
        config: &Path,
        kubeconfig: &Path,
        logs: &Path,
        keep: bool,
    ) -> Result<(), ClusterError> {
        let Err(source) = self.runner.run(&self.create_command(config, kubeconfig)) else {
            return Ok(());
        };
        let logs = self.export_logs(logs).ok().map(|()| logs.to_path_buf());
        if !keep {
            // The create error is the one to report; a failed delete is visible in the
            // runner's log and `kind get clusters`.
            let _ = self.delete();
        }
        Err(ClusterError::Create {
            cluster: self.name.clone(),
            logs,
            source: Box::new(source),
        })
    }

    /// The cluster's kubeconfig (`kind get kubeconfig`).
    pub fn get_kubeconfig(&self) -> Result<String, ClusterError> {
        Ok(self.runner.run(&self.kubeconfig_command())?.stdout)
    }

    /// Exports node logs to `dir` (`kind export logs`).
    pub fn export_logs(&self, dir: &Path) -> Result<(), ClusterError> {
        self.runner.run(&self.export_logs_command(dir))?;
        Ok(())
    }

    /// Deletes the cluster (`kind delete cluster`; idempotent in kind).
    pub fn delete(&self) -> Result<(), ClusterError> {
        self.runner.run(&self.delete_command())?;
        Ok(())
    }

    /// Whether a cluster of this name exists (`kind get clusters`).
    pub fn exists(&self) -> Result<bool, ClusterError> {
        Ok(list(self.runner, self.cli)?.contains(&self.name))
    }

    /// Runs a command in a node container and returns its stdout.
    pub fn exec(&self, node: &str, argv: &[&str]) -> Result<String, ClusterError> {
        Ok(self.runner.run(&self.exec_command(node, argv))?.stdout)
    }

    /// `iptables-save` (all tables) or `iptables-save -t <table>` in a node.
    pub fn iptables_save(&self, node: &str, table: Option<&str>) -> Result<String, ClusterError> {
        match table {
            Some(table) => self.exec(node, &["iptables-save", "-t", table]),
            None => self.exec(node, &["iptables-save"]),
        }
    }

    /// `nft list table ip kube-proxy` in a node (kube-proxy's IPv4 nftables rules).
    pub fn nft_kube_proxy(&self, node: &str) -> Result<String, ClusterError> {
        self.exec(node, &["nft", "list", "table", "ip", "kube-proxy"])
    }

    /// `cat /proc/net/ip_vs` in a node (IPVS services and real servers, hex; kind nodes have
    /// no `ipvsadm`).
    pub fn ip_vs(&self, node: &str) -> Result<String, ClusterError> {
        self.exec(node, &["cat", "/proc/net/ip_vs"])
    }

    /// The mode kube-proxy runs in on a node, from `curl --silent 127.0.0.1:10249/proxyMode`.
    pub fn proxy_mode(&self, node: &str) -> Result<ProxyMode, ClusterError> {
        let answer = self.exec(node, &["curl", "--silent", PROXY_MODE_URL])?;
        answer
            .trim()
            .parse::<ProxyMode>()
            .ok()
            .filter(|m| *m != ProxyMode::None)
            .ok_or_else(|| ClusterError::ProxyMode {
                node: node.to_string(),
                answer: answer.trim().to_string(),
            })
    }

    /// The shape fingerprint recorded on a node: the `topo-harness.io/shape` label in the
    /// kubelet flags kubeadm wrote (`/var/lib/kubelet/kubeadm-flags.env`); `None` when the
    /// node has no such label (not created by the harness).
    pub fn recorded_shape(&self, node: &str) -> Result<Option<String>, ClusterError> {
        let flags = self.exec(node, &["cat", "/var/lib/kubelet/kubeadm-flags.env"])?;
        Ok(shape_from_kubelet_flags(&flags))
    }

    /// The dataplane dump for the proxy mode: `iptables-save`, `nft list table ip
    /// kube-proxy` or `/proc/net/ip_vs`; `None` for mode `none` (use traffic probes).
    pub fn dataplane_command(&self, node: &str, mode: ProxyMode) -> Option<Command> {
        match mode {
            ProxyMode::Iptables => Some(self.exec_command(node, &["iptables-save"])),
            ProxyMode::Nftables => {
                Some(self.exec_command(node, &["nft", "list", "table", "ip", "kube-proxy"]))
            }
            ProxyMode::Ipvs => Some(self.exec_command(node, &["cat", "/proc/net/ip_vs"])),
            ProxyMode::None => None,
        }
    }
}

/// Every kind cluster on the machine (`kind get clusters`).
pub fn list(runner: &dyn CommandRunner, cli: ContainerCli) -> Result<Vec<String>, ClusterError> {
    list_with(runner, "kind", cli)
}

/// [`list`] with a given kind program (any release lists every cluster of the provider).
pub fn list_with(
    runner: &dyn CommandRunner,
    program: &str,
    cli: ContainerCli,
) -> Result<Vec<String>, ClusterError> {
    let mut cmd = Command::new(program).args(["get", "clusters"]);
    if cli != ContainerCli::Docker {
        cmd = cmd.env(PROVIDER_ENV, cli.program());
    }
    // With no clusters kind prints "No kind clusters found." on stderr and nothing on stdout.
    Ok(runner
        .run(&cmd)?
        .stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// Finds `topo-harness.io/shape=<hash>` in a kubelet flags file.
pub fn shape_from_kubelet_flags(flags: &str) -> Option<String> {
    let key = format!("{LABEL_SHAPE}=");
    let start = flags.find(&key)? + key.len();
    let value: String = flags[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    (!value.is_empty()).then_some(value)
}

/// Where a run keeps its files (all relative paths are shown as given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunLayout {
    /// The `kind/` directory for generated configs.
    pub kind_dir: PathBuf,
    /// `reports/<run>`.
    pub run_dir: PathBuf,
}

impl RunLayout {
    /// `kind/` and `reports/<run_id>`.
    pub fn new(run_id: &str) -> Self {
        RunLayout {
            kind_dir: PathBuf::from("kind"),
            run_dir: Path::new("reports").join(run_id),
        }
    }

    /// `kind/<cluster>.yaml`.
    pub fn config(&self, cluster: &str) -> PathBuf {
        self.kind_dir.join(format!("{cluster}.yaml"))
    }

    /// `reports/<run>/<cluster>/kubeconfig`.
    pub fn kubeconfig(&self, cluster: &str) -> PathBuf {
        self.run_dir.join(cluster).join("kubeconfig")
    }

    /// `reports/<run>/<cluster>/logs`.
    pub fn logs(&self, cluster: &str) -> PathBuf {
        self.run_dir.join(cluster).join("logs")
    }
}

/// When a planned command runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Bring-up.
    Setup,
    /// Reading state from the nodes (once per observation).
    Observe,
    /// Only when a step failed or creation failed.
    OnFailure,
    /// Teardown (skipped with `--keep`).
    Teardown,
}

impl Phase {
    fn label(self) -> &'static str {
        match self {
            Phase::Setup => "setup",
            Phase::Observe => "observe",
            Phase::OnFailure => "on failure",
            Phase::Teardown => "teardown",
        }
    }
}

/// One command of a dry run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedCommand {
    /// Cluster it belongs to.
    pub cluster: String,
    /// When it runs.
    pub phase: Phase,
    /// The command.
    pub command: Command,
}

/// A dry run: the configs that would be written and every command the lifecycle would run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DryRun {
    /// `(path, rendered config)` per cluster.
    pub configs: Vec<(PathBuf, config::RenderedConfig)>,
    /// The commands, cluster by cluster, in order.
    pub commands: Vec<PlannedCommand>,
    /// What setup waits for after its commands, per cluster (e.g. the controller under test
    /// writing EndpointSlices), as a sentence.
    pub waits: Vec<(String, String)>,
}

impl DryRun {
    /// Text for `topo-harness run --backend kind --dry-run`: per cluster a comment line with
    /// the config path and shape, then one pasteable command per line, grouped by phase.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (path, rendered) in &self.configs {
            let cluster = rendered.cluster.name.clone().unwrap_or_default();
            out.push_str(&format!(
                "# cluster {cluster}: config {} (shape {}, image {}, {})\n",
                path.display(),
                rendered.shape_hash,
                rendered.image,
                match &rendered.release {
                    Some(release) => format!("kind {release}"),
                    None => "image given with --image".to_string(),
                }
            ));
            if !rendered.dropped_gates.is_empty() {
                out.push_str(&format!(
                    "# feature gates left out: {}\n",
                    rendered.dropped_gates.join(", ")
                ));
            }
            // The config's own note (kube-controller-manager --controllers=…).
            if let Some(line) = rendered
                .yaml
                .lines()
                .find(|l| l.starts_with("# in-tree EndpointSlice controller off"))
            {
                out.push_str(line);
                out.push('\n');
            }
            let mut phase = None;
            let waits: Vec<&str> = self
                .waits
                .iter()
                .filter(|(c, _)| *c == cluster)
                .map(|(_, w)| w.as_str())
                .collect();
            for planned in self.commands.iter().filter(|c| c.cluster == cluster) {
                if phase != Some(planned.phase) {
                    if phase == Some(Phase::Setup) {
                        for wait in &waits {
                            out.push_str(&format!("# then: {wait}\n"));
                        }
                    }
                    out.push_str(&format!("# {}\n", planned.phase.label()));
                    phase = Some(planned.phase);
                }
                out.push_str(&planned.command.display());
                out.push('\n');
            }
            out.push('\n');
        }
        out
    }
}

/// Lists, without running anything, what the kind lifecycle would do for `specs`: configs to
/// write and, per cluster, create → kubeconfig → proxy-mode check and dataplane reads per node
/// → (on failure) export logs → delete (unless `keep`).
pub fn dry_run(
    specs: &[KindClusterSpec],
    images: &ImageTable,
    release: &str,
    layout: &RunLayout,
    cli: ContainerCli,
    keep: bool,
) -> Result<DryRun, ClusterError> {
    dry_run_with(specs, images, release, layout, cli, keep, None)
}

/// [`dry_run`] with an [`AfterCreate`] command, listed in the setup phase after the
/// proxy-mode checks (with its environment), as the backend runs it. Every cluster is created
/// with `kind` of `release`.
pub fn dry_run_with(
    specs: &[KindClusterSpec],
    images: &ImageTable,
    release: &str,
    layout: &RunLayout,
    cli: ContainerCli,
    keep: bool,
    after_create: Option<&AfterCreate>,
) -> Result<DryRun, ClusterError> {
    let release = KindRelease::parse(release).ok_or_else(|| {
        ClusterError::Config(ConfigError::Image(super::images::ImageError::Table(
            format!("`{release}` is not a kind release (vX.Y.Z)"),
        )))
    })?;
    let binary = KindBinary {
        program: "kind".to_string(),
        release,
    };
    let mut out = DryRun {
        configs: Vec::new(),
        commands: Vec::new(),
        waits: Vec::new(),
    };
    let hooks = SetupHooks {
        after_create: after_create.cloned(),
        managed_by: None,
    };
    for spec in specs {
        let one = dry_run_for(spec, images, &binary, layout, cli, keep, &hooks)?;
        out.configs.extend(one.configs);
        out.commands.extend(one.commands);
        out.waits.extend(one.waits);
    }
    Ok(out)
}

/// What runs on a new cluster between its creation and the first case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetupHooks {
    /// `--after-create`.
    pub after_create: Option<AfterCreate>,
    /// `--managed-by`: wait for the controller under test to write EndpointSlices.
    pub managed_by: Option<String>,
}

/// The sentence a dry run shows for the wait on the controller under test.
pub fn controller_wait_text(managed_by: &str) -> String {
    format!(
        "wait (up to {}s) until EndpointSlices labelled endpointslice.kubernetes.io/managed-by={managed_by} list the endpoint of a probe Service (namespace topo-probe-<run>); fail the cluster's setup if none appear",
        CONTROLLER_WAIT.as_secs()
    )
}

/// How long setup waits for the controller under test to write a probe Service's slices.
pub const CONTROLLER_WAIT: Duration = Duration::from_secs(180);

/// The dry run of one cluster created by `binary` (its program in every kind command, its
/// release's image table unless the spec names an image).
pub fn dry_run_for(
    spec: &KindClusterSpec,
    images: &ImageTable,
    binary: &KindBinary,
    layout: &RunLayout,
    cli: ContainerCli,
    keep: bool,
    hooks: &SetupHooks,
) -> Result<DryRun, ClusterError> {
    struct Never;
    impl CommandRunner for Never {
        fn run(&self, command: &Command) -> Result<super::command::Output, CommandError> {
            Err(CommandError::Unexpected {
                command: command.display(),
                waiting: "  (dry run runs nothing)".to_string(),
            })
        }
    }
    let never = Never;
    let mut commands = Vec::new();
    let rendered = config::render(spec, images, &binary.release_name())?;
    let mut cluster = KindCluster::new(&never, spec, cli);
    cluster.kind_program = binary.program.clone();
    let name = spec.name.clone();
    let mut plan = |phase, command| {
        commands.push(PlannedCommand {
            cluster: name.clone(),
            phase,
            command,
        })
    };
    let config_path = layout.config(&spec.name);
    plan(
        Phase::Setup,
        cluster.create_command(&config_path, &layout.kubeconfig(&spec.name)),
    );
    plan(Phase::Setup, cluster.kubeconfig_command());
    // The load runs only when the first command succeeds (the host has the image).
    plan(
        Phase::Setup,
        cluster.image_present_command(crate::backend::live::workload::manifests::AGNHOST_IMAGE),
    );
    plan(
        Phase::Setup,
        cluster.load_image_command(crate::backend::live::workload::manifests::AGNHOST_IMAGE),
    );
    for node in cluster.nodes() {
        if spec.proxy_mode != ProxyMode::None {
            plan(
                Phase::Setup,
                cluster.exec_command(node, &["curl", "--silent", PROXY_MODE_URL]),
            );
        }
    }
    if let Some(hook) = &hooks.after_create {
        plan(
            Phase::Setup,
            cluster.after_create_command(hook, &layout.kubeconfig(&spec.name)),
        );
    }
    for node in cluster.nodes() {
        if let Some(cmd) = cluster.dataplane_command(node, spec.proxy_mode) {
            plan(Phase::Observe, cmd);
        }
    }
    plan(
        Phase::OnFailure,
        cluster.export_logs_command(&layout.logs(&spec.name)),
    );
    if !keep {
        plan(Phase::Teardown, cluster.delete_command());
    }
    let waits = hooks
        .managed_by
        .iter()
        .map(|m| (spec.name.clone(), controller_wait_text(m)))
        .collect();
    Ok(DryRun {
        configs: vec![(config_path, rendered)],
        commands,
        waits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_values() {
        assert_eq!(
            ContainerCli::from_value(None).unwrap(),
            ContainerCli::Docker
        );
        assert_eq!(
            ContainerCli::from_value(Some("podman")).unwrap(),
            ContainerCli::Podman
        );
        assert_eq!(
            ContainerCli::from_value(Some("nerdctl")).unwrap(),
            ContainerCli::Nerdctl
        );
        let err = ContainerCli::from_value(Some("lxc")).unwrap_err();
        assert!(err.to_string().contains("KIND_EXPERIMENTAL_PROVIDER=lxc"));
    }

    #[test]
    fn shape_label_from_kubelet_flags() {
        let flags = "KUBELET_KUBEADM_ARGS=\"--node-ip=172.18.0.3 --node-labels=topo-harness.io/shape=0123abcd4567ef89,topology.kubernetes.io/zone=a --provider-id=kind://docker/t/t-worker\"\n";
        assert_eq!(
            shape_from_kubelet_flags(flags).as_deref(),
            Some("0123abcd4567ef89")
        );
        assert_eq!(shape_from_kubelet_flags("KUBELET_KUBEADM_ARGS=\"\""), None);
    }
}
