//! The subcommands.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::{
    BackendArg, KindArgs, KindConfigArgs, ListArgs, ObserveArg, PlanArgs, RunArgs, SchemaArgs,
    SelectArgs,
};
use crate::backend::kind::{
    self, config, releases, AfterCreate, DuctRunner, ImageTable, KindBinary, KindClusterSpec,
    RunLayout,
};
use crate::backend::live::kind::{pods_fit_on_nodes, same_nodes_as_the_model};
use crate::backend::live::{
    host_cpu_millis, install_ctrl_c_handler, kind_spec, KindBackend, KindOptions,
    KubeconfigBackend, KubeconfigOptions, ObserveSource,
};
use crate::backend::local::{LocalBackend, LocalOptions};
use crate::backend::sim::SimBackend;
use crate::backend::{Backend, BackendError, BackendKind};
use crate::case::{load_selection, schema_json, Case, ProxyMode, Selection};
use crate::plan::{glob_match, list_text, matrix, order_by_cluster, plan_text, VersionSelection};
use crate::report::conformance::{ConformanceReporter, ControllerUnderTest, Implementation};
use crate::report::html::HtmlReporter;
use crate::report::junit::JunitReporter;
use crate::report::markdown::MarkdownReporter;
use crate::report::progress::ProgressReporter;
use crate::report::terminal::{TerminalReporter, Verbosity};
use crate::report::{write_file, Reporter};
use crate::runner::{Event, RunOptions, RunSummary};
use crate::snapshot::{updated_text, Goldens, Rendered};

/// Exit code: everything passed.
pub const EXIT_OK: u8 = 0;
/// Exit code: a check failed or timed out.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad input, or the run could not start.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code: interrupted (Ctrl-C); the suites that did not run are reported as cancelled.
pub const EXIT_INTERRUPTED: u8 = 130;

/// The cases of the `--profile`s asked for (all when none is).
fn by_profile(cases: Vec<Case>, select: &SelectArgs) -> Vec<Case> {
    if select.profile.is_empty() {
        return cases;
    }
    cases
        .into_iter()
        .filter(|c| select.profile.contains(&c.profile))
        .collect()
}

/// Prints `error: <why>` and returns the bad-input exit code.
fn usage_error(why: impl std::fmt::Display) -> u8 {
    eprintln!("error: {why}");
    EXIT_BAD_INPUT
}

/// The selected cases; every problem of every file, or a `--filter` matching none, is bad
/// input.
fn load(select: &SelectArgs) -> Result<Selection, u8> {
    let (selection, errors) = load_selection(&select.paths(), select.max_case_bytes);
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("error: {e}");
        }
        eprintln!("{} problem(s) in case files; nothing was run", errors.len());
        return Err(EXIT_BAD_INPUT);
    }
    if let Some(filter) = &select.filter {
        if !selection.cases.iter().any(|c| glob_match(filter, &c.name)) {
            let names: Vec<&str> = selection.cases.iter().map(|c| c.name.as_str()).collect();
            return Err(usage_error(format!(
                "--filter `{filter}` matches none of the {} selected case(s): {}",
                names.len(),
                names.join(", ")
            )));
        }
    }
    Ok(selection)
}

/// The kube-proxy modes the local backend runs by default (IPVS needs a kernel module most
/// machines lack; `--proxy-mode ipvs` asks for it).
const LOCAL_DEFAULT_MODES: [ProxyMode; 2] = [ProxyMode::Iptables, ProxyMode::Nftables];

/// The upstream binaries at hand for the local backend, per minor.
fn local_binaries_at_hand() -> std::collections::BTreeMap<u32, crate::backend::local::LocalBinaries>
{
    crate::backend::local::binaries_at_hand()
}

/// The kube-proxy modes the sim runs by default (each where it exists).
const SIM_DEFAULT_MODES: [ProxyMode; 3] =
    [ProxyMode::Iptables, ProxyMode::Ipvs, ProxyMode::Nftables];

/// The versions and proxy modes to run: those given, else `backend`'s defaults — on the sim
/// every version each case applies to and every kube-proxy mode that exists there; on kind
/// the versions its release has node images for; elsewhere 1.21 and 1.34–1.37; iptables.
fn versions_and_modes(
    select: &SelectArgs,
    backend: BackendArg,
) -> (VersionSelection, Vec<ProxyMode>) {
    let versions = match (select.versions(), backend) {
        (given, _) if !given.is_empty() => VersionSelection::Explicit(given),
        (_, BackendArg::Sim) => VersionSelection::EveryApplicable,
        (_, BackendArg::Kind) => ImageTable::embedded()
            .and_then(|images| images.versions(images.default_release()))
            .map(VersionSelection::Explicit)
            .unwrap_or(VersionSelection::Default),
        (_, BackendArg::Kubeconfig) => VersionSelection::Default,
        (_, BackendArg::Local) => VersionSelection::Explicit(
            local_binaries_at_hand()
                .keys()
                .map(|minor| crate::model::KubeVersion::new(*minor))
                .collect(),
        ),
    };
    let modes = match (select.proxy_mode.is_empty(), backend) {
        (false, _) => select.proxy_mode.clone(),
        (true, BackendArg::Sim) => SIM_DEFAULT_MODES.to_vec(),
        (true, BackendArg::Local) => LOCAL_DEFAULT_MODES.to_vec(),
        (true, _) => vec![ProxyMode::Iptables],
    };
    (versions, modes)
}

/// Checks, before anything runs, that `path` can be written (creating its directory): a
/// report that cannot be written must not be found out after a long run.
fn check_writable(path: &Path, what: &str) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{what} {}: cannot write: {e}", path.display());
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    if path.is_dir() {
        return Err(format!("{what} {}: is a directory", path.display()));
    }
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(fail)?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Whether `program` is an executable file on `PATH`.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            let candidate = dir.join(program);
            candidate.is_file()
                && std::fs::metadata(&candidate)
                    .map(|m| {
                        use std::os::unix::fs::PermissionsExt;
                        m.permissions().mode() & 0o111 != 0
                    })
                    .unwrap_or(false)
        })
    })
}

/// The kubeconfig file the kubeconfig backend will read: `--kubeconfig`, else the first file
/// of `$KUBECONFIG`, else `~/.kube/config`; an error when it cannot be read.
fn check_kubeconfig(given: Option<&Path>) -> Result<(), String> {
    let candidates: Vec<PathBuf> = match given {
        Some(p) => vec![p.to_path_buf()],
        None => match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
            Some(list) => std::env::split_paths(&list).collect(),
            None => std::env::var_os("HOME")
                .map(|home| vec![Path::new(&home).join(".kube/config")])
                .unwrap_or_default(),
        },
    };
    let mut last = None;
    for path in &candidates {
        match std::fs::read_to_string(path) {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(format!("cannot read kubeconfig {}: {e}", path.display())),
        }
    }
    Err(last
        .unwrap_or_else(|| "no kubeconfig: pass --kubeconfig PATH or set KUBECONFIG".to_string()))
}

/// Everything `run` checks before it starts: output paths, golden and dump directories,
/// whether the selection runs anything.
fn preflight(
    args: &RunArgs,
    cases: &[Case],
    versions: &VersionSelection,
    modes: &[ProxyMode],
) -> Result<(), String> {
    let planned = matrix(cases, versions, modes, args.select.filter.as_deref());
    if !planned.iter().any(|c| c.shape.is_ok()) {
        return Err(format!(
            "nothing to run: the {} selected case(s) apply to none of the selected versions and proxy modes (`topo-harness list` shows where each applies)",
            cases.len()
        ));
    }
    if let Some(dir) = &args.snapshots {
        if args.update_snapshots {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("--snapshots {}: cannot create: {e}", dir.display()))?;
        } else if !dir.is_dir() {
            return Err(format!(
                "--snapshots {}: no such directory (add --update-snapshots to create it and write the goldens)",
                dir.display()
            ));
        }
    }
    if let Some(dir) = &args.dump_state {
        check_writable(&dir.join(".topo-harness-check"), "--dump-state")?;
    }
    check_writable(&args.junit, "--junit")?;
    check_writable(&args.summary, "--summary")?;
    Ok(())
}

/// `topo-harness run`.
pub fn run(args: &RunArgs) -> u8 {
    let selection = match load(&args.select) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut conformance = match conformance_reporter(args, &selection.cases) {
        Ok(c) => c,
        Err(why) => return usage_error(why),
    };
    let profiled = by_profile(selection.cases.clone(), &args.select);
    let cases = &profiled;
    let (versions, proxy_modes) = versions_and_modes(&args.select, args.backend);
    let observe = match observe_source(args.backend, args.observe, &proxy_modes) {
        Ok(o) => o,
        Err(why) => return usage_error(why),
    };
    let after_create = match after_create(args) {
        Ok(a) => a,
        Err(why) => return usage_error(why),
    };
    if let Err(why) = controller_under_test(args) {
        eprintln!("error: {why}");
        return EXIT_BAD_INPUT;
    }
    if args.dry_run {
        return match args.backend {
            BackendArg::Kind => {
                kind_dry_run(cases, &versions, &proxy_modes, args, after_create.as_ref())
            }
            other => usage_error(format!(
                "--dry-run is for --backend kind (this is {other:?})"
            )),
        };
    }
    if let Err(why) = preflight(args, cases, &versions, &proxy_modes) {
        return usage_error(why);
    }
    let built: Result<Box<dyn Backend>, BackendError> = match args.backend {
        BackendArg::Sim => Ok(Box::new(match &args.kind.managed_by {
            Some(name) => SimBackend::new().with_controller_under_test(name),
            None => SimBackend::new(),
        })),
        BackendArg::Kind => {
            let binaries = match kind_binaries(&args.kind) {
                Ok(b) => b,
                Err(why) => {
                    eprintln!("error: {why}");
                    return EXIT_BAD_INPUT;
                }
            };
            // The container CLI kind drives must be there too: a setup problem, not a failure.
            if let Ok(cli) = kind::ContainerCli::from_env() {
                if !on_path(cli.program()) {
                    return usage_error(format!(
                        "--backend kind needs `{}` on PATH (kind runs its nodes as containers), or use --backend sim",
                        cli.program()
                    ));
                }
            }
            install_ctrl_c_handler();
            let mut options = KindOptions::new(run_id());
            options.reuse = args.reuse;
            options.keep = args.keep;
            options.observe = args.observe.map(ObserveSource::from);
            options.after_create = after_create;
            options.binaries = binaries;
            options.image = args.kind.image.clone();
            options.controller = args.kind.controller.into();
            options.managed_by = args.kind.managed_by.clone();
            options.kind_dir = PathBuf::from("reports/kind");
            match kind::ContainerCli::from_env() {
                Ok(cli) => {
                    options.cli = cli;
                    KindBackend::new(Box::new(DuctRunner), options)
                        .map(|b| Box::new(b) as Box<dyn Backend>)
                }
                Err(e) => Err(BackendError::setup_from("choosing a container runtime", e)),
            }
        }
        BackendArg::Local => {
            if let Err(why) = crate::backend::local::preflight(&proxy_modes) {
                return usage_error(why);
            }
            let mut binaries = std::collections::BTreeMap::new();
            if let VersionSelection::Explicit(wanted) = &versions {
                if wanted.is_empty() {
                    return usage_error(
                        "no upstream binaries are built for the local backend; run: topo-harness upstream build --kubernetes 1.37",
                    );
                }
                for version in wanted {
                    match crate::backend::local::binaries_for(version.minor) {
                        Ok(b) => {
                            binaries.insert(version.minor, b);
                        }
                        Err(why) => return usage_error(format!("--backend local: {why}")),
                    }
                }
            }
            install_ctrl_c_handler();
            let mut options = LocalOptions::new(run_id());
            options.binaries = binaries;
            options.controller = args.kind.controller.into();
            options.node_agent = args.node_agent.clone();
            options.after_create = after_create.clone();
            options.live.keep = args.keep;
            options.live.observe = args.observe.map(ObserveSource::from);
            options.live.managed_by = args.kind.managed_by.clone();
            LocalBackend::new(options).map(|b| Box::new(b) as Box<dyn Backend>)
        }
        BackendArg::Kubeconfig => {
            if let Err(why) = check_kubeconfig(args.kubeconfig.as_deref()) {
                return usage_error(why);
            }
            install_ctrl_c_handler();
            KubeconfigBackend::new(KubeconfigOptions {
                kubeconfig: args.kubeconfig.clone(),
                context: args.context.clone(),
                allow_node_changes: args.allow_node_changes,
                keep: args.keep,
                observe: Some(observe),
            })
            .map(|b| Box::new(b) as Box<dyn Backend>)
        }
    };
    let mut backend = match built {
        Ok(b) => b,
        Err(e) => return usage_error(e),
    };
    let goldens = match &args.snapshots {
        Some(dir) => Goldens::Dir(dir.clone()),
        None => Goldens::BuiltIn(selection.builtin.clone()),
    };
    let options = RunOptions {
        versions,
        proxy_modes,
        filter: args.select.filter.clone(),
        snapshots: Some(goldens),
        dump_state: args.dump_state.clone(),
    };
    let stdout = std::io::stdout();
    let tty = stdout.is_terminal();
    let no_color = std::env::var("NO_COLOR").ok();
    let color = args.color.enabled(tty, no_color.as_deref());
    let mut written = vec![args.junit.clone(), args.summary.clone()];
    if let Some(dir) = &args.dump_state {
        written.push(dir.clone());
    }
    written.push(args.html.clone());
    let verbosity = match (args.verbose, args.quiet) {
        (true, _) => Verbosity::Verbose,
        (_, true) => Verbosity::Quiet,
        _ => Verbosity::Normal,
    };
    let mut terminal = TerminalReporter::new(stdout.lock(), tty)
        .with_color(color)
        .with_verbosity(verbosity)
        .with_dump_state(args.dump_state.clone())
        .with_reports(written);
    // Live runs show progress (a spinner on a TTY, lines otherwise) on standard error; the
    // terminal then leaves its own `[i/N]` line out.
    let stderr = std::io::stderr();
    let mut progress = ProgressReporter::new(stderr.lock(), stderr.is_terminal());
    if args.backend != BackendArg::Sim {
        terminal = terminal.without_progress();
    }
    let mut junit = JunitReporter::new(Some(args.junit.clone()));
    let mut markdown =
        MarkdownReporter::new(Some(args.summary.clone())).with_dump_state(args.dump_state.clone());
    let mut html =
        HtmlReporter::new(Some(args.html.clone())).with_dump_state(args.dump_state.clone());
    let mut report_error = None;
    let summary = {
        let mut emit = |event: &Event| {
            // Progress first: it clears its spinner before the terminal prints a result.
            let reporters: [&mut dyn Reporter; 5] = [
                &mut progress,
                &mut terminal,
                &mut junit,
                &mut markdown,
                &mut html,
            ];
            let optional = conformance.as_mut().map(|c| c as &mut dyn Reporter);
            for r in reporters.into_iter().chain(optional) {
                if let Err(e) = r.event(event) {
                    report_error.get_or_insert(e);
                }
            }
        };
        crate::runner::run(cases, backend.as_mut(), &options, &mut emit)
    };
    if let Some(e) = report_error {
        return usage_error(e);
    }
    if args.update_snapshots {
        if let Some(dir) = &args.snapshots {
            if let Err(e) = update_snapshots(dir, cases, &summary) {
                return usage_error(e);
            }
        }
    }
    run_exit_code(&summary)
}

/// The exit code of a finished run: [`EXIT_INTERRUPTED`] when Ctrl-C cancelled suites, else
/// `EXIT_OK` (0) when everything run passed, else `EXIT_FAILED` (1).
pub fn run_exit_code(summary: &crate::runner::RunSummary) -> u8 {
    if summary.counts.cancelled > 0 {
        EXIT_INTERRUPTED
    } else if summary.success() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// The conformance reporter, when `--conformance-report` is given; checks `--implementation`
/// and digests the catalog first, so bad flags stop the run before anything starts.
fn conformance_reporter(
    args: &RunArgs,
    catalog: &[Case],
) -> Result<Option<ConformanceReporter>, String> {
    match (&args.conformance_report, &args.implementation) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(
            "--implementation names who a --conformance-report PATH is for; give both".to_string(),
        ),
        (Some(_), None) => Err(
            "--conformance-report needs --implementation name=…,version=…[,url=…][,contact=…]"
                .to_string(),
        ),
        (Some(path), Some(text)) => {
            let controller = ControllerUnderTest {
                in_tree: args.kind.controller == super::ControllerArg::Builtin,
                managed_by: args
                    .kind
                    .managed_by
                    .clone()
                    .unwrap_or_else(|| crate::model::state::MANAGED_BY_CONTROLLER.to_string()),
            };
            ConformanceReporter::new(Some(path.clone()), text.parse::<Implementation>()?, catalog)
                .map(|reporter| Some(reporter.with_controller(controller)))
        }
    }
}

/// Writes `<dir>/<case>.snap` for every case run whose golden is new or changed, and says
/// which were written.
fn update_snapshots(dir: &Path, cases: &[Case], summary: &RunSummary) -> Result<(), String> {
    let mut written = Vec::new();
    for case in cases {
        let mut rendered: Vec<Rendered> = Vec::new();
        for (suite, r) in &summary.rendered {
            // Blocks do not depend on the proxy mode: the first run of each version is kept.
            if suite.case == case.name
                && !rendered
                    .iter()
                    .any(|x| x.step == r.step && x.version == r.version)
            {
                rendered.push(r.clone());
            }
        }
        if rendered.is_empty() {
            continue;
        }
        let path = dir.join(format!("{}.snap", case.name));
        let old = std::fs::read_to_string(&path).ok();
        let steps: Vec<String> = case.steps.iter().map(|s| s.name.clone()).collect();
        let text = updated_text(&case.name, &steps, old.as_deref(), &rendered);
        if old.as_deref() != Some(text.as_str()) {
            std::fs::write(&path, &text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            written.push(format!(
                "{} {}",
                if old.is_some() { "updated" } else { "new" },
                path.display()
            ));
        }
    }
    if written.is_empty() {
        println!("snapshots: every golden in {} is up to date", dir.display());
    } else {
        println!(
            "snapshots written ({}; review with `git diff`):",
            written.len()
        );
        for w in written {
            println!("  {w}");
        }
    }
    Ok(())
}

/// `--controller` / `--managed-by`: the EndpointSlice controller under test. On kind,
/// `--controller none` needs `--managed-by` (the label the replacement writes), and a
/// `--managed-by` other than the in-tree controller's needs `--controller none` (two
/// controllers would write slices for the same Service). On sim, `--managed-by` makes
/// hand-written slices of that manager stand for the controller; the kubeconfig backend takes
/// neither.
fn controller_under_test(args: &RunArgs) -> Result<(), String> {
    use crate::backend::kind::EndpointSliceController;
    let controller: EndpointSliceController = args.kind.controller.into();
    let builtin_label = crate::model::MANAGED_BY_CONTROLLER;
    let creates = matches!(args.backend, BackendArg::Kind | BackendArg::Local);
    match (args.backend, controller, args.kind.managed_by.as_deref()) {
        (_, EndpointSliceController::None, None) if creates => Err(
            "--controller none needs --managed-by NAME: the endpointslice.kubernetes.io/managed-by label your controller writes".to_string(),
        ),
        (_, EndpointSliceController::Builtin, Some(name)) if creates && name != builtin_label => Err(format!(
            "--managed-by {name} with the in-tree EndpointSlice controller running: pass --controller none so only the controller under test writes slices"
        )),
        (_, EndpointSliceController::None, Some(name)) if creates && name == builtin_label => Err(format!(
            "--managed-by {name} is the in-tree controller's label, which --controller none turns off; give your controller's label"
        )),
        (BackendArg::Sim, EndpointSliceController::None, _) => Err(
            "--controller none is for --backend kind and local; on sim, --managed-by NAME alone replaces the sim's controller".to_string(),
        ),
        (BackendArg::Kubeconfig, c, m) if c != EndpointSliceController::Builtin || m.is_some() => Err(
            "--controller and --managed-by are for --backend kind, local and sim".to_string(),
        ),
        _ => Ok(()),
    }
}

/// `--after-create` parsed into argv (kind only; an empty or unparsable command is bad input).
fn after_create(args: &RunArgs) -> Result<Option<AfterCreate>, String> {
    let Some(line) = &args.after_create else {
        return Ok(None);
    };
    if !matches!(args.backend, BackendArg::Kind | BackendArg::Local) {
        return Err(format!(
            "--after-create is for --backend kind and local, which create the clusters (this is {:?})",
            args.backend
        ));
    }
    if args.after_create_timeout == 0 {
        return Err("--after-create-timeout must be at least 1 second".to_string());
    }
    AfterCreate::parse(
        line,
        std::time::Duration::from_secs(args.after_create_timeout),
    )
    .map(Some)
}

/// The observation source for `backend`: the default when `--observe` is not given; an error
/// for what the backend cannot do (the sim sends no traffic; an existing cluster has no rules
/// to compare traffic with; with proxy mode `none` there are no kube-proxy rules). On kind the
/// default is per cluster (rules with kube-proxy, traffic with `none`).
fn observe_source(
    backend: BackendArg,
    arg: Option<ObserveArg>,
    modes: &[ProxyMode],
) -> Result<ObserveSource, String> {
    let kind = match backend {
        BackendArg::Sim => BackendKind::Sim,
        BackendArg::Kind => BackendKind::Kind,
        BackendArg::Kubeconfig => BackendKind::Kubeconfig,
        BackendArg::Local => BackendKind::Local,
    };
    let rules_readable = modes.iter().all(|m| m.has_kube_proxy());
    let Some(arg) = arg else {
        return Ok(ObserveSource::default_for(
            kind,
            matches!(kind, BackendKind::Kind | BackendKind::Local) && rules_readable,
        ));
    };
    let source = ObserveSource::from(arg);
    match (kind, source) {
        (BackendKind::Kind | BackendKind::Local, ObserveSource::Rules | ObserveSource::Both)
            if !rules_readable =>
        {
            Err(format!(
                "--observe {} reads kube-proxy's rules, but --proxy-mode none runs no kube-proxy; use --observe traffic (the default with none)",
                source.as_str()
            ))
        }
        (BackendKind::Sim, ObserveSource::Traffic | ObserveSource::Both) => Err(format!(
            "--observe {} needs a live backend (kind, kubeconfig): the sim sends no traffic",
            source.as_str()
        )),
        (BackendKind::Kubeconfig, ObserveSource::Both) => Err(
            "--observe both needs node access to read rules; the kubeconfig backend has none (use traffic)"
                .to_string(),
        ),
        _ => Ok(source),
    }
}

/// The kind binaries of a run: `--kind`, then `TOPO_KIND`, then `kind` on `PATH`, each asked
/// for its release. An explicit binary that is not kind is bad input; so is finding none.
fn kind_binaries(args: &KindArgs) -> Result<Vec<KindBinary>, String> {
    let env = std::env::var(releases::KIND_ENV).ok();
    let programs = releases::candidate_programs(&args.kind, env.as_deref());
    let (found, problems) = releases::discover(&DuctRunner, &programs);
    // `kind` on PATH is last; its absence only matters when nothing else was found.
    let explicit = programs.len() - 1;
    if let Some(problem) = problems
        .iter()
        .find(|p| !p.starts_with("`kind version`"))
        .filter(|_| explicit > 0)
    {
        return Err(format!("--kind/{}: {problem}", releases::KIND_ENV));
    }
    if found.is_empty() {
        return Err(format!(
            "no kind binary found ({}); install kind or pass --kind PATH",
            problems.join("; ")
        ));
    }
    Ok(found)
}

/// The binary that would create `spec`: the one the kind backend would choose, or, when no
/// kind binary was found at all, `kind` of the newest release that ships the image.
fn planned_binary(
    binaries: &[KindBinary],
    images: &ImageTable,
    spec: &KindClusterSpec,
    image: Option<&str>,
) -> Result<KindBinary, String> {
    match releases::choose(binaries, images, spec, image) {
        Ok(creator) => Ok(creator.binary),
        Err(why) if !binaries.is_empty() => Err(why),
        Err(why) => match (image, releases::suggested_release(images, spec)) {
            (None, Some(release)) => Ok(KindBinary {
                program: "kind".to_string(),
                release,
            }),
            _ => Err(why),
        },
    }
}

/// `run-<unix seconds>`: the directory under `reports/` of a live run.
fn run_id() -> String {
    crate::backend::live::new_run_id()
}

/// The kind specs of every runnable cell (one per cluster, first-seen order), with the cells
/// that cannot run on this host.
fn kind_specs(
    cases: &[Case],
    versions: &VersionSelection,
    modes: &[ProxyMode],
    filter: Option<&str>,
) -> (Vec<KindClusterSpec>, Vec<String>) {
    let host = host_cpu_millis();
    let mut specs: Vec<KindClusterSpec> = Vec::new();
    let mut problems = Vec::new();
    // The order the kind backend runs the cells in, so specs come in creation order.
    for cell in order_by_cluster(matrix(cases, versions, modes, filter)) {
        let Ok(shape) = &cell.shape else { continue };
        let cell_name = format!(
            "{}@{}/{}",
            cell.case.name,
            cell.version,
            cell.proxy_mode.as_str()
        );
        let runs = same_nodes_as_the_model(shape).and_then(|()| pods_fit_on_nodes(cell.case));
        match (kind_spec(shape, host), runs) {
            (Ok(spec), Ok(())) => {
                if !specs.iter().any(|s| s.name == spec.name) {
                    specs.push(spec);
                }
            }
            (Ok(_), Err(why)) => problems.push(format!("{cell_name}: skipped on kind: {why}")),
            (Err(e), _) => problems.push(format!("{cell_name}: {e}")),
        }
    }
    (specs, problems)
}

fn kind_dry_run(
    cases: &[Case],
    versions: &VersionSelection,
    modes: &[ProxyMode],
    args: &RunArgs,
    after_create: Option<&AfterCreate>,
) -> u8 {
    let planned = matrix(cases, versions, modes, args.select.filter.as_deref());
    print!("{}", plan_text(&planned));
    let (specs, problems) = kind_specs(cases, versions, modes, args.select.filter.as_deref());
    for p in &problems {
        println!("# not run here: {p}");
    }
    let images = match ImageTable::embedded() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let cli = match kind::ContainerCli::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    // Asking `kind version` changes nothing; without any binary the plan names the release
    // each cluster needs.
    let binaries = kind_binaries(&args.kind).unwrap_or_default();
    let layout = RunLayout::new("<run>");
    println!();
    println!("# dry run: nothing below is executed");
    if binaries.is_empty() {
        println!("# no kind binary found: each cluster names the kind release it needs");
    }
    for binary in &binaries {
        println!("# found {binary}");
    }
    let shapes = crate::plan::group_shapes(&planned).len();
    let mut creates = 0;
    for mut spec in specs {
        let binary = match planned_binary(&binaries, &images, &spec, args.kind.image.as_deref()) {
            Ok(binary) => binary,
            Err(why) => {
                println!("# cluster {}: skipped: {why}\n", spec.name);
                continue;
            }
        };
        if binaries.is_empty() {
            println!("# cluster {}: needs kind {}", spec.name, binary.release);
        }
        spec.image = args.kind.image.clone();
        spec.controller = args.kind.controller.into();
        let hooks = kind::SetupHooks {
            after_create: after_create.cloned(),
            managed_by: args.kind.managed_by.clone(),
        };
        match kind::cluster::dry_run_for(
            &spec,
            &images,
            &binary,
            &layout,
            cli,
            args.keep || args.reuse,
            &hooks,
        ) {
            Ok(plan) => {
                creates += 1;
                print!("{}", plan.render())
            }
            Err(e) => println!("# cluster {}: cannot be created: {e}\n", spec.name),
        }
    }
    println!(
        "# kind creates {creates} cluster(s), each once, in this order ({shapes} shape(s) in the plan; the others have no cell kind can run here, listed above)"
    );
    EXIT_OK
}

fn find_case(name: &str) -> Result<Case, String> {
    let (selection, errors) = load_selection(
        &[PathBuf::from(name)],
        crate::case::bounds::DEFAULT_MAX_CASE_FILE_BYTES,
    );
    if !errors.is_empty() {
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        return Err(text.join("\n"));
    }
    selection
        .cases
        .into_iter()
        .next()
        .ok_or_else(|| format!("{name}: no case file there"))
}

/// `topo-harness kind-config`.
pub fn kind_config(args: &KindConfigArgs) -> u8 {
    let case = match find_case(&args.case) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let select = SelectArgs {
        cases: Vec::new(),
        case_dirs: Vec::new(),
        kubernetes: args.kubernetes.clone(),
        proxy_mode: args.proxy_mode.clone(),
        filter: None,
        max_case_bytes: crate::case::bounds::DEFAULT_MAX_CASE_FILE_BYTES,
        profile: Vec::new(),
    };
    let (versions, modes) = versions_and_modes(&select, BackendArg::Kind);
    let cases = [case];
    let (specs, problems) = kind_specs(&cases, &versions, &modes, None);
    for p in &problems {
        eprintln!("error: {p}");
    }
    let images = match ImageTable::embedded() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let binaries = kind_binaries(&args.kind).unwrap_or_default();
    let mut code = if problems.is_empty() {
        EXIT_OK
    } else {
        EXIT_BAD_INPUT
    };
    if specs.is_empty() && problems.is_empty() {
        eprintln!("error: the case runs on none of the selected versions and proxy modes");
        return EXIT_BAD_INPUT;
    }
    for spec in specs {
        let release = match planned_binary(&binaries, &images, &spec, args.kind.image.as_deref()) {
            Ok(binary) => binary.release_name(),
            Err(why) => {
                eprintln!("error: cluster {}: {why}", spec.name);
                code = EXIT_BAD_INPUT;
                continue;
            }
        };
        let mut spec = spec;
        spec.image = args.kind.image.clone();
        spec.controller = args.kind.controller.into();
        let rendered = match config::render(&spec, &images, &release) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                code = EXIT_BAD_INPUT;
                continue;
            }
        };
        // Printing writes nothing; --output DIR also keeps a copy there.
        let Some(dir) = &args.output else {
            println!("# cluster {} (kind {release})", spec.name);
            print!("{}", rendered.yaml);
            continue;
        };
        match config::write_config(dir, &spec.name, &rendered) {
            Ok(path) => {
                println!("# {}", path.display());
                print!("{}", rendered.yaml);
            }
            Err(e) => {
                eprintln!("error: {e}");
                code = EXIT_BAD_INPUT;
            }
        }
    }
    code
}

/// `topo-harness list`.
pub fn list(args: &ListArgs) -> u8 {
    let selection = match load(&args.select) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (versions, modes) = versions_and_modes(&args.select, args.backend);
    let cases = by_profile(selection.cases.clone(), &args.select);
    print!(
        "{}",
        list_text(
            &cases,
            &|case| selection.origin(case),
            &versions,
            &modes,
            args.select.filter.as_deref()
        )
    );
    EXIT_OK
}

/// `topo-harness plan`.
pub fn plan(args: &PlanArgs) -> u8 {
    let selection = match load(&args.select) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (versions, modes) = versions_and_modes(&args.select, args.backend);
    let cases = by_profile(selection.cases.clone(), &args.select);
    let planned = matrix(&cases, &versions, &modes, args.select.filter.as_deref());
    print!("{}", plan_text(&planned));
    EXIT_OK
}

/// `topo-harness schema`.
pub fn schema(args: &SchemaArgs) -> u8 {
    let text = if args.conformance_report {
        crate::report::conformance::schema_json()
    } else {
        schema_json()
    };
    match &args.output {
        Some(path) => match write_file(path, &text) {
            Ok(()) => EXIT_OK,
            Err(e) => {
                eprintln!("error: {e}");
                EXIT_BAD_INPUT
            }
        },
        None => {
            print!("{text}");
            EXIT_OK
        }
    }
}
