//! The terminal reporter. By default one line per suite (case × version × mode) as it
//! finishes, then each group of identical failures once — where it is written, what differs,
//! why it likely failed and the command to run next — and a recap: the reports written and a
//! count line. `--verbose` adds a line per step and each failed check's diff as it happens;
//! `--quiet` prints only the recap. Progress on a TTY, colour as asked (`--color`,
//! `NO_COLOR`).

use std::io::Write;
use std::path::PathBuf;

use super::groups::{group_skips, FailureGroups};
use super::{ReportError, Reporter};
use crate::check::CheckStatus;
use crate::runner::{Event, StepOutcome, SuiteId};

/// How much the terminal shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Verbosity {
    /// Only the recap: failure groups (one line each), reports, counts.
    Quiet,
    /// A line per suite, the failure groups with their diffs, the recap.
    #[default]
    Normal,
    /// Also a line per step and each failed check's diff as it happens, and every skip.
    Verbose,
}

/// Writes human-readable progress.
pub struct TerminalReporter<W: Write> {
    out: W,
    color: bool,
    progress: bool,
    progress_shown: bool,
    verbosity: Verbosity,
    reports: Vec<PathBuf>,
    /// Where the run writes `--dump-state`, for the next command of a failure.
    dump_dir: Option<PathBuf>,
    failures: FailureGroups,
    skipped: Vec<(SuiteId, String)>,
    /// The current suite's steps and checks, for its one line.
    steps: usize,
    checks: usize,
    /// The current suite's failed steps with their failed checks.
    failed_steps: Vec<String>,
    /// Whether the run is on a live backend (its time breakdown is printed at the end).
    live: bool,
}

impl<W: Write> TerminalReporter<W> {
    /// A reporter writing to `out`; `tty` turns on colour and progress.
    pub fn new(out: W, tty: bool) -> Self {
        TerminalReporter {
            out,
            color: tty,
            progress: tty,
            progress_shown: false,
            verbosity: Verbosity::Normal,
            reports: Vec::new(),
            dump_dir: None,
            failures: FailureGroups::default(),
            skipped: Vec::new(),
            steps: 0,
            checks: 0,
            failed_steps: Vec::new(),
            live: false,
        }
    }

    /// Colour on or off, whatever the terminal.
    pub fn with_color(mut self, color: bool) -> Self {
        self.color = color;
        self
    }

    /// How much to show.
    pub fn with_verbosity(mut self, verbosity: Verbosity) -> Self {
        self.verbosity = verbosity;
        self
    }

    /// The reports the run writes, named at the end.
    pub fn with_reports(mut self, reports: Vec<PathBuf>) -> Self {
        self.reports = reports;
        self
    }

    /// The run's `--dump-state` directory: a failure's next command is `explain` on its file.
    pub fn with_dump_state(mut self, dir: Option<PathBuf>) -> Self {
        self.dump_dir = dir;
        self
    }

    /// Leaves the `[i/N]` progress line to another reporter (the live backends' progress).
    pub fn without_progress(mut self) -> Self {
        self.progress = false;
        self
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn clear_progress(&mut self) -> std::io::Result<()> {
        if self.progress_shown {
            write!(self.out, "\r\x1b[2K")?;
            self.progress_shown = false;
        }
        Ok(())
    }

    fn verbose(&self) -> bool {
        self.verbosity == Verbosity::Verbose
    }

    fn quiet(&self) -> bool {
        self.verbosity == Verbosity::Quiet
    }

    fn write_event(&mut self, event: &Event) -> std::io::Result<()> {
        match event {
            Event::RunStarted {
                backend,
                suites,
                skipped,
            } => {
                self.live = *backend != crate::backend::BackendKind::Sim;
                if !self.quiet() {
                    writeln!(
                        self.out,
                        "running {suites} case run(s) on the {} backend ({skipped} skipped)",
                        backend.as_str()
                    )?;
                }
            }
            Event::Warning { suite, message } => {
                self.clear_progress()?;
                let tag = self.paint("33", "warning");
                writeln!(self.out, "{tag} {}: {message}", suite.name())?;
            }
            Event::SuiteSkipped { suite, reason } => {
                self.skipped.push((suite.clone(), reason.clone()));
                if self.verbose() {
                    self.clear_progress()?;
                    let tag = self.paint("33", "SKIP");
                    writeln!(self.out, "{tag} {}: {reason}", suite.name())?;
                }
            }
            Event::SuitePhase { .. } => {}
            Event::SuiteEnvironment { suite, properties } => {
                if self.verbose() {
                    self.clear_progress()?;
                    let list: Vec<String> =
                        properties.iter().map(|(k, v)| format!("{k} {v}")).collect();
                    writeln!(self.out, "{}: ran on {}", suite.name(), list.join(", "))?;
                }
            }
            Event::SuiteStarted {
                suite,
                index,
                total,
            } => {
                self.steps = 0;
                self.checks = 0;
                self.failed_steps.clear();
                if self.progress {
                    self.clear_progress()?;
                    write!(self.out, "[{index}/{total}] {}", suite.name())?;
                    self.out.flush()?;
                    self.progress_shown = true;
                }
            }
            Event::StepFinished {
                suite,
                step,
                outcome,
                checks,
                duration,
                view,
            } => {
                self.failures.step(suite, step, checks, view.as_deref());
                self.steps += 1;
                self.checks += checks.len();
                let failed: Vec<_> = checks.iter().filter(|c| !c.passed()).collect();
                if !failed.is_empty() {
                    let names: Vec<String> = failed.iter().map(|c| c.name.to_string()).collect();
                    self.failed_steps
                        .push(format!("{step}: {}", names.join(", ")));
                }
                if !self.verbose() {
                    return Ok(());
                }
                self.clear_progress()?;
                let tag = if failed.is_empty() {
                    self.paint("32", "PASS")
                } else {
                    self.paint("31", "FAIL")
                };
                let note = match outcome {
                    StepOutcome::Converged { .. } => String::new(),
                    StepOutcome::TimedOut { waited, .. } => format!(", timed out after {waited:?}"),
                    StepOutcome::BackendFailed(e) => format!(", backend error: {e}"),
                };
                writeln!(
                    self.out,
                    "  {tag} {}/{step} ({} checks{note}, {:.1} ms)",
                    suite.name(),
                    checks.len(),
                    duration.as_secs_f64() * 1000.0
                )?;
                for c in failed {
                    if let CheckStatus::Failed(message) = &c.status {
                        writeln!(self.out, "       {} {}", self.paint("31", "✗"), c.name)?;
                        for line in message.lines() {
                            writeln!(self.out, "         {line}")?;
                        }
                    }
                }
            }
            Event::SuiteFinished {
                suite,
                passed,
                error,
                duration,
            } => {
                self.clear_progress()?;
                if let Some(e) = error {
                    self.failures.setup(suite, e);
                }
                if self.quiet() {
                    return Ok(());
                }
                let tag = if *passed {
                    self.paint("32", "PASS")
                } else {
                    self.paint("31", "FAIL")
                };
                let detail = match (error, self.failed_steps.is_empty()) {
                    (Some(e), _) => format!(": {}", e.lines().next().unwrap_or_default()),
                    (None, false) => format!(": {}", self.failed_steps.join("; ")),
                    (None, true) => format!(
                        " ({} step{}, {} checks, {:.1} ms)",
                        self.steps,
                        if self.steps == 1 { "" } else { "s" },
                        self.checks,
                        duration.as_secs_f64() * 1000.0
                    ),
                };
                writeln!(self.out, "{tag} {}{detail}", suite.name())?;
            }
            Event::RunFinished {
                counts,
                duration,
                timing,
            } => {
                self.clear_progress()?;
                self.recap()?;
                if !self.reports.is_empty() {
                    let paths: Vec<String> = self
                        .reports
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect();
                    writeln!(self.out, "reports: {}", paths.join(", "))?;
                }
                if self.live {
                    writeln!(self.out, "time: {}", timing.describe())?;
                }
                let no_golden = if counts.no_golden > 0 {
                    format!(
                        "; {} run(s) with no golden, so no snapshot check",
                        counts.no_golden
                    )
                } else {
                    String::new()
                };
                let line = counts.headline();
                let line = if counts.failed > 0 || counts.cancelled > 0 {
                    self.paint("31;1", &line)
                } else {
                    self.paint("32;1", &line)
                };
                writeln!(
                    self.out,
                    "{line} ({} checks passed, {} failed; {:.2} s{no_golden})",
                    counts.checks_passed,
                    counts.checks_failed,
                    duration.as_secs_f64()
                )?;
            }
        }
        Ok(())
    }

    /// Skips (grouped, unless verbose printed each) and the failure groups.
    fn recap(&mut self) -> std::io::Result<()> {
        if !self.verbose() && !self.quiet() && !self.skipped.is_empty() {
            let groups = group_skips(self.skipped.iter().map(|(s, r)| (s, r.as_str())));
            writeln!(self.out)?;
            for g in groups {
                let tag = self.paint("33", "SKIP");
                writeln!(self.out, "{tag} {}", g.line())?;
            }
        }
        if self.failures.is_empty() {
            return Ok(());
        }
        let groups = self.failures.groups();
        writeln!(self.out)?;
        let title = format!(
            "failures: {} group(s) of identical failures, {} failed run(s)",
            groups.len(),
            self.failures.failed_runs()
        );
        writeln!(self.out, "{}", self.paint("31;1", &title))?;
        let full = self.verbosity == Verbosity::Normal;
        for (i, group) in groups.iter().enumerate() {
            if full && i > 0 {
                writeln!(self.out)?;
            }
            writeln!(self.out, "{} {}", self.paint("31", "✗"), group.headline())?;
            for check in &group.checks {
                writeln!(self.out, "  {}: {}", check.location, check.check)?;
                if full {
                    for line in check.message.lines() {
                        writeln!(self.out, "      {line}")?;
                    }
                    if check.varies {
                        let first = group.runs.first().map(SuiteId::name).unwrap_or_default();
                        writeln!(
                            self.out,
                            "      (as on {first}; the other runs differ only in versions, modes or timings)"
                        )?;
                    }
                }
            }
            if let Some(why) = group.why() {
                writeln!(self.out, "  why: {why}")?;
            }
            if let Some(next) = group.next_command(self.dump_dir.as_deref()) {
                writeln!(self.out, "  next: {next}")?;
            }
        }
        writeln!(self.out)?;
        Ok(())
    }
}

impl<W: Write> Reporter for TerminalReporter<W> {
    fn event(&mut self, event: &Event) -> Result<(), ReportError> {
        self.write_event(event).map_err(ReportError::Terminal)
    }
}
