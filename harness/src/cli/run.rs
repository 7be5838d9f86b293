//! The subcommands.

use std::io::IsTerminal;

use std::path::{Path, PathBuf};

use super::{BackendArg, KindConfigArgs, ObserveArg, RunArgs, SchemaArgs, SelectArgs};
use crate::backend::kind::{
    self, config, AfterCreate, DuctRunner, ImageTable, KindClusterSpec, RunLayout,
};
use crate::backend::live::{
    host_cpu_millis, install_ctrl_c_handler, kind_spec, KindBackend, KindOptions,
    KubeconfigBackend, KubeconfigOptions, ObserveSource,
};
use crate::backend::sim::SimBackend;
use crate::backend::{Backend, BackendError, BackendKind};
use crate::case::{load_case_file, load_catalog, schema_json, Case, ProxyMode};
use crate::plan::{list_text, matrix, plan_text, VersionSelection};
use crate::report::conformance::{ConformanceReporter, Implementation};
use crate::report::html::HtmlReporter;
use crate::report::junit::JunitReporter;
use crate::report::markdown::MarkdownReporter;
use crate::report::progress::ProgressReporter;
use crate::report::terminal::TerminalReporter;
use crate::report::{write_file, Reporter};
use crate::runner::{Event, RunOptions};

/// Exit code: everything passed.
pub const EXIT_OK: u8 = 0;
/// Exit code: a check failed or timed out.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad input, or the run could not start.
pub const EXIT_BAD_INPUT: u8 = 2;

/// The whole catalog (a conformance report names its digest); see [`by_profile`].
fn load_all(select: &SelectArgs) -> Result<Vec<Case>, u8> {
    let (cases, errors) = load_catalog(&select.cases);
    if errors.is_empty() {
        return Ok(cases);
    }
    for e in &errors {
        eprintln!("error: {e}");
    }
    eprintln!("{} problem(s) in case files; nothing was run", errors.len());
    Err(EXIT_BAD_INPUT)
}

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

/// The catalog, narrowed to the `--profile`s asked for.
fn load(select: &SelectArgs) -> Result<Vec<Case>, u8> {
    load_all(select).map(|cases| by_profile(cases, select))
}

fn selection(select: &SelectArgs) -> (VersionSelection, Vec<ProxyMode>) {
    let versions = if select.kubernetes.is_empty() {
        VersionSelection::Default
    } else {
        VersionSelection::Explicit(select.kubernetes.clone())
    };
    let modes = if select.proxy_mode.is_empty() {
        vec![ProxyMode::Iptables]
    } else {
        select.proxy_mode.clone()
    };
    (versions, modes)
}

/// `topo-harness run`.
pub fn run(args: &RunArgs) -> u8 {
    let catalog = match load_all(&args.select) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut conformance = match conformance_reporter(args, &catalog) {
        Ok(c) => c,
        Err(why) => {
            eprintln!("error: {why}");
            return EXIT_BAD_INPUT;
        }
    };
    let cases = by_profile(catalog, &args.select);
    let (versions, proxy_modes) = selection(&args.select);
    let observe = match observe_source(args.backend, args.observe, &proxy_modes) {
        Ok(o) => o,
        Err(why) => {
            eprintln!("error: {why}");
            return EXIT_BAD_INPUT;
        }
    };
    let after_create = match after_create(args) {
        Ok(a) => a,
        Err(why) => {
            eprintln!("error: {why}");
            return EXIT_BAD_INPUT;
        }
    };
    if args.dry_run {
        return match args.backend {
            BackendArg::Kind => {
                kind_dry_run(&cases, &versions, &proxy_modes, args, after_create.as_ref())
            }
            other => {
                eprintln!("error: --dry-run is for --backend kind (this is {other:?})");
                EXIT_BAD_INPUT
            }
        };
    }
    let built: Result<Box<dyn Backend>, BackendError> = match args.backend {
        BackendArg::Sim => Ok(Box::new(SimBackend::new())),
        BackendArg::Kind => {
            install_ctrl_c_handler();
            let mut options = KindOptions::new(run_id());
            options.reuse = args.reuse;
            options.keep = args.keep;
            options.observe = args.observe.map(ObserveSource::from);
            options.after_create = after_create;
            match kind::ContainerCli::from_env() {
                Ok(cli) => {
                    options.cli = cli;
                    KindBackend::new(Box::new(DuctRunner), options)
                        .map(|b| Box::new(b) as Box<dyn Backend>)
                }
                Err(e) => Err(BackendError::setup_from("choosing a container runtime", e)),
            }
        }
        BackendArg::Kubeconfig => {
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
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let options = RunOptions {
        versions,
        proxy_modes,
        filter: args.select.filter.clone(),
        snapshots: Some(args.snapshots.clone()),
    };
    let stdout = std::io::stdout();
    let tty = stdout.is_terminal();
    let mut terminal = TerminalReporter::new(stdout.lock(), tty);
    // Live runs show progress (a spinner on a TTY, lines otherwise) on standard error; the
    // terminal then leaves its own `[i/N]` line out.
    let stderr = std::io::stderr();
    let mut progress = ProgressReporter::new(stderr.lock(), stderr.is_terminal());
    if args.backend != BackendArg::Sim {
        terminal = terminal.without_progress();
    }
    let mut junit = JunitReporter::new(Some(args.junit.clone()));
    let mut markdown = MarkdownReporter::new(Some(args.summary.clone()));
    let mut html = HtmlReporter::new(Some(args.html.clone()));
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
        crate::runner::run(&cases, backend.as_mut(), &options, &mut emit)
    };
    if let Some(e) = report_error {
        eprintln!("error: {e}");
        return EXIT_BAD_INPUT;
    }
    if summary.success() {
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
            ConformanceReporter::new(Some(path.clone()), text.parse::<Implementation>()?, catalog)
                .map(Some)
        }
    }
}

/// `--after-create` parsed into argv (kind only; an empty or unparsable command is bad input).
fn after_create(args: &RunArgs) -> Result<Option<AfterCreate>, String> {
    let Some(line) = &args.after_create else {
        return Ok(None);
    };
    if args.backend != BackendArg::Kind {
        return Err(format!(
            "--after-create is for --backend kind, which creates the clusters (this is {:?})",
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
    };
    let rules_readable = modes.iter().all(|m| m.has_kube_proxy());
    let Some(arg) = arg else {
        return Ok(ObserveSource::default_for(
            kind,
            kind == BackendKind::Kind && rules_readable,
        ));
    };
    let source = ObserveSource::from(arg);
    match (kind, source) {
        (BackendKind::Kind, ObserveSource::Rules | ObserveSource::Both) if !rules_readable => {
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

/// `run-<unix seconds>`: the directory under `reports/` of a live run.
fn run_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("run-{secs}")
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
    for cell in matrix(cases, versions, modes, filter) {
        let Ok(shape) = &cell.shape else { continue };
        match kind_spec(shape, host) {
            Ok(spec) => {
                if !specs.iter().any(|s| s.name == spec.name) {
                    specs.push(spec);
                }
            }
            Err(e) => problems.push(format!(
                "{}@{}/{}: {e}",
                cell.case.name,
                cell.version,
                cell.proxy_mode.as_str()
            )),
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
        println!("# cannot run here: {p}");
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
    let release = images.default_release().to_string();
    let layout = RunLayout::new("<run>");
    println!();
    println!("# dry run: nothing below is executed");
    // One spec at a time, so a shape kind cannot build (no image for the version) is named
    // and the others are still listed.
    for spec in specs {
        match kind::dry_run_with(
            std::slice::from_ref(&spec),
            &images,
            &release,
            &layout,
            cli,
            args.keep || args.reuse,
            after_create,
        ) {
            Ok(plan) => print!("{}", plan.render()),
            Err(e) => println!("# cluster {}: cannot be created: {e}\n", spec.name),
        }
    }
    EXIT_OK
}

fn find_case(name: &str) -> Result<Case, String> {
    let path = Path::new(name);
    if path.is_file() {
        return load_case_file(path).map_err(|errors| {
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        });
    }
    let (cases, _) = load_catalog(&[PathBuf::from("cases")]);
    cases
        .into_iter()
        .find(|c| c.name == name)
        .ok_or_else(|| format!("{name}: no such case file, and no case of that name in cases/"))
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
        kubernetes: args.kubernetes.clone(),
        proxy_mode: args.proxy_mode.clone(),
        filter: None,
        profile: Vec::new(),
    };
    let (versions, modes) = selection(&select);
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
    let release = images.default_release().to_string();
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
        let rendered = match config::render(&spec, &images, &release) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                code = EXIT_BAD_INPUT;
                continue;
            }
        };
        match config::write_config(&args.output, &spec.name, &rendered) {
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
pub fn list(args: &SelectArgs) -> u8 {
    let cases = match load(args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (versions, modes) = selection(args);
    print!(
        "{}",
        list_text(&cases, &versions, &modes, args.filter.as_deref())
    );
    EXIT_OK
}

/// `topo-harness plan`.
pub fn plan(args: &SelectArgs) -> u8 {
    let cases = match load(args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (versions, modes) = selection(args);
    let planned = matrix(&cases, &versions, &modes, args.filter.as_deref());
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
