//! The subcommands.

use std::io::IsTerminal;

use super::{BackendArg, RunArgs, SchemaArgs, SelectArgs};
use crate::backend::sim::SimBackend;
use crate::backend::{Backend, BackendError, BackendKind, Unavailable};
use crate::case::{load_catalog, schema_json, Case, ProxyMode};
use crate::plan::{list_text, matrix, plan_text, VersionSelection};
use crate::report::junit::JunitReporter;
use crate::report::markdown::MarkdownReporter;
use crate::report::terminal::TerminalReporter;
use crate::report::{write_file, Reporter};
use crate::runner::{Event, RunOptions};

/// Exit code: everything passed.
pub const EXIT_OK: u8 = 0;
/// Exit code: a check failed or timed out.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad input, or the run could not start.
pub const EXIT_BAD_INPUT: u8 = 2;

fn load(select: &SelectArgs) -> Result<Vec<Case>, u8> {
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

fn selection(select: &SelectArgs) -> (VersionSelection, Vec<ProxyMode>) {
    let versions = if select.kubernetes.is_empty() {
        VersionSelection::Default
    } else {
        VersionSelection::Explicit(select.kubernetes.clone())
    };
    let modes = if select.proxy_mode.is_empty() {
        vec![ProxyMode::Iptables]
    } else {
        select
            .proxy_mode
            .iter()
            .map(|m| ProxyMode::from(*m))
            .collect()
    };
    (versions, modes)
}

/// `topo-harness run`.
pub fn run(args: &RunArgs) -> u8 {
    let cases = match load(&args.select) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut backend: Box<dyn Backend> = match args.backend {
        BackendArg::Sim => Box::new(SimBackend::new()),
        BackendArg::Kind => Box::new(Unavailable(BackendKind::Kind)),
        BackendArg::Kubeconfig => Box::new(Unavailable(BackendKind::Kubeconfig)),
    };
    if backend.kind() != BackendKind::Sim {
        eprintln!(
            "error: {}",
            BackendError::NotAvailable(backend.kind().as_str())
        );
        return EXIT_BAD_INPUT;
    }
    let (versions, proxy_modes) = selection(&args.select);
    let options = RunOptions {
        versions,
        proxy_modes,
        filter: args.select.filter.clone(),
        snapshots: Some(args.snapshots.clone()),
    };
    let stdout = std::io::stdout();
    let tty = stdout.is_terminal();
    let mut terminal = TerminalReporter::new(stdout.lock(), tty);
    let mut junit = JunitReporter::new(Some(args.junit.clone()));
    let mut markdown = MarkdownReporter::new(Some(args.summary.clone()));
    let mut report_error = None;
    let summary = {
        let mut emit = |event: &Event| {
            let reporters: [&mut dyn Reporter; 3] = [&mut terminal, &mut junit, &mut markdown];
            for r in reporters {
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
    let text = schema_json();
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
