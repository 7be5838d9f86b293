//! The Markdown reporter: a summary for CI step summaries — counts, a table of failed and
//! skipped runs, and the failing checks' diffs.

use std::path::PathBuf;

use super::{write_file, ReportError, Reporter};
use crate::check::CheckStatus;
use crate::runner::Event;

/// Builds `summary.md`.
pub struct MarkdownReporter {
    path: Option<PathBuf>,
    passed: Vec<String>,
    failed: Vec<(String, Vec<(String, String)>)>,
    skipped: Vec<(String, String)>,
    warnings: Vec<(String, String)>,
    text: String,
}

impl MarkdownReporter {
    /// A reporter writing to `path` when the run finishes.
    pub fn new(path: Option<PathBuf>) -> Self {
        MarkdownReporter {
            path,
            passed: Vec::new(),
            failed: Vec::new(),
            skipped: Vec::new(),
            warnings: Vec::new(),
            text: String::new(),
        }
    }

    /// The Markdown (complete once the run finished).
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl Reporter for MarkdownReporter {
    fn event(&mut self, event: &Event) -> Result<(), ReportError> {
        match event {
            Event::RunStarted { .. } | Event::SuiteStarted { .. } | Event::SuitePhase { .. } => {}
            Event::SuiteSkipped { suite, reason } => {
                self.skipped.push((suite.name(), reason.clone()));
            }
            Event::Warning { suite, message } => {
                self.warnings.push((suite.name(), message.clone()));
            }
            Event::StepFinished {
                suite,
                step,
                checks,
                ..
            } => {
                let failures: Vec<(String, String)> = checks
                    .iter()
                    .filter_map(|c| match &c.status {
                        CheckStatus::Failed(m) => Some((format!("{step}/{}", c.name), m.clone())),
                        CheckStatus::Passed => None,
                    })
                    .collect();
                if !failures.is_empty() {
                    match self.failed.iter_mut().find(|(n, _)| *n == suite.name()) {
                        Some((_, f)) => f.extend(failures),
                        None => self.failed.push((suite.name(), failures)),
                    }
                }
            }
            Event::SuiteFinished {
                suite,
                passed,
                error,
                ..
            } => {
                if let Some(e) = error {
                    self.failed
                        .push((suite.name(), vec![("setup".into(), e.clone())]));
                } else if *passed {
                    self.passed.push(suite.name());
                }
            }
            Event::RunFinished { counts, duration } => {
                let mut t = String::from("# topo-harness summary\n\n");
                t.push_str(&format!(
                    "**{}** ({} checks passed, {} failed; {:.2} s)\n\n",
                    counts.headline(),
                    counts.checks_passed,
                    counts.checks_failed,
                    duration.as_secs_f64()
                ));
                if counts.no_golden > 0 {
                    t.push_str(&format!(
                        "{} run(s) with no golden, so no snapshot check (write them with `--snapshots DIR --update-snapshots`).\n\n",
                        counts.no_golden
                    ));
                }
                if !self.failed.is_empty() {
                    t.push_str("## Failed\n\n| run | failed checks |\n|---|---|\n");
                    for (name, f) in &self.failed {
                        let names: Vec<&str> = f.iter().map(|(n, _)| n.as_str()).collect();
                        t.push_str(&format!("| `{name}` | {} |\n", names.join(", ")));
                    }
                    t.push('\n');
                    for (name, f) in &self.failed {
                        for (check, message) in f {
                            t.push_str(&format!(
                                "<details><summary><code>{name}</code> {check}</summary>\n\n```\n{message}\n```\n</details>\n\n"
                            ));
                        }
                    }
                }
                if !self.warnings.is_empty() {
                    t.push_str("## Warnings\n\n| run | warning |\n|---|---|\n");
                    for (name, message) in &self.warnings {
                        t.push_str(&format!("| `{name}` | {} |\n", message.replace('\n', " ")));
                    }
                    t.push('\n');
                }
                if !self.skipped.is_empty() {
                    t.push_str("## Skipped\n\n| run | reason |\n|---|---|\n");
                    for (name, reason) in &self.skipped {
                        t.push_str(&format!("| `{name}` | {reason} |\n"));
                    }
                    t.push('\n');
                }
                if !self.passed.is_empty() {
                    t.push_str(&format!(
                        "<details><summary>Passed ({})</summary>\n\n",
                        self.passed.len()
                    ));
                    for name in &self.passed {
                        t.push_str(&format!("- `{name}`\n"));
                    }
                    t.push_str("</details>\n");
                }
                self.text = t;
                if let Some(path) = &self.path {
                    write_file(path, &self.text)?;
                }
            }
        }
        Ok(())
    }
}
