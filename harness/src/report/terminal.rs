//! The terminal reporter: one line per case and step with pass/fail, the diff of each failed
//! check, progress on a TTY, colour as asked (`--color`, `NO_COLOR`), and at the end a recap
//! of the failed runs, the reports written and a count line.

use std::io::Write;
use std::path::PathBuf;

use super::{ReportError, Reporter};
use crate::check::CheckStatus;
use crate::runner::{Event, StepOutcome};

/// Writes human-readable progress.
pub struct TerminalReporter<W: Write> {
    out: W,
    color: bool,
    progress: bool,
    progress_shown: bool,
    reports: Vec<PathBuf>,
    /// Failed runs: name, and per failed step its location and failed checks.
    failed: Vec<(String, Vec<String>)>,
}

impl<W: Write> TerminalReporter<W> {
    /// A reporter writing to `out`; `tty` turns on colour and progress.
    pub fn new(out: W, tty: bool) -> Self {
        TerminalReporter {
            out,
            color: tty,
            progress: tty,
            progress_shown: false,
            reports: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// Colour on or off, whatever the terminal.
    pub fn with_color(mut self, color: bool) -> Self {
        self.color = color;
        self
    }

    /// The reports the run writes, named at the end.
    pub fn with_reports(mut self, reports: Vec<PathBuf>) -> Self {
        self.reports = reports;
        self
    }

    fn failed_entry(&mut self, suite: String) -> &mut Vec<String> {
        let i = match self.failed.iter().position(|(name, _)| *name == suite) {
            Some(i) => i,
            None => {
                self.failed.push((suite, Vec::new()));
                self.failed.len() - 1
            }
        };
        &mut self.failed[i].1
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

    fn write_event(&mut self, event: &Event) -> std::io::Result<()> {
        match event {
            Event::RunStarted {
                backend,
                suites,
                skipped,
            } => {
                writeln!(
                    self.out,
                    "running {suites} case run(s) on the {} backend ({skipped} skipped)",
                    backend.as_str()
                )?;
            }
            Event::Warning { suite, message } => {
                self.clear_progress()?;
                let tag = self.paint("33", "warning");
                writeln!(self.out, "{tag} {}: {message}", suite.name())?;
            }
            Event::SuiteSkipped { suite, reason } => {
                self.clear_progress()?;
                let tag = self.paint("33", "SKIP");
                writeln!(self.out, "{tag} {}: {reason}", suite.name())?;
            }
            Event::SuitePhase { .. } => {}
            Event::SuiteStarted {
                suite,
                index,
                total,
            } => {
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
                ..
            } => {
                self.clear_progress()?;
                let failed: Vec<_> = checks.iter().filter(|c| !c.passed()).collect();
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
                    "{tag} {}/{step} ({} checks{note}, {:.1} ms)",
                    suite.name(),
                    checks.len(),
                    duration.as_secs_f64() * 1000.0
                )?;
                if !failed.is_empty() {
                    let names: Vec<String> = failed.iter().map(|c| c.name.to_string()).collect();
                    let entry = format!(
                        "{}: step {step}: {}",
                        suite.step_location(step),
                        names.join(", ")
                    );
                    self.failed_entry(suite.name()).push(entry);
                }
                for c in failed {
                    if let CheckStatus::Failed(message) = &c.status {
                        writeln!(self.out, "     {} {}", self.paint("31", "✗"), c.name)?;
                        for line in message.lines() {
                            writeln!(self.out, "       {line}")?;
                        }
                    }
                }
            }
            Event::SuiteFinished {
                suite,
                passed,
                error,
                ..
            } => {
                self.clear_progress()?;
                let tag = if *passed {
                    self.paint("32", "PASS")
                } else {
                    self.paint("31", "FAIL")
                };
                match error {
                    Some(e) => {
                        let entry = format!("{}: {e}", suite.file);
                        self.failed_entry(suite.name()).push(entry);
                        writeln!(self.out, "{tag} {}: {e}", suite.name())?
                    }
                    None => writeln!(self.out, "{tag} {}", suite.name())?,
                }
            }
            Event::RunFinished { counts, duration } => {
                self.clear_progress()?;
                if !self.failed.is_empty() {
                    writeln!(self.out)?;
                    let title = format!("failed runs ({}):", self.failed.len());
                    writeln!(self.out, "{}", self.paint("31;1", &title))?;
                    for (name, steps) in &self.failed {
                        writeln!(self.out, "  {name}")?;
                        for step in steps {
                            writeln!(self.out, "    {step}")?;
                        }
                    }
                }
                if !self.reports.is_empty() {
                    let paths: Vec<String> = self
                        .reports
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect();
                    writeln!(self.out, "reports: {}", paths.join(", "))?;
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
}

impl<W: Write> Reporter for TerminalReporter<W> {
    fn event(&mut self, event: &Event) -> Result<(), ReportError> {
        self.write_event(event).map_err(ReportError::Terminal)
    }
}
