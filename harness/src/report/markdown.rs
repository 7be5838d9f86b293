//! The Markdown reporter: a summary for CI step summaries — counts, one row per group of
//! identical failures (with the runs it happened on, where, why and what to run next), the
//! failing checks' diffs once per group, and the skipped runs grouped by case and reason.

use std::path::PathBuf;

use super::groups::{group_skips, FailureGroups};
use super::{write_file, ReportError, Reporter};
use crate::runner::{Event, SuiteId};

/// Builds `summary.md`.
pub struct MarkdownReporter {
    path: Option<PathBuf>,
    dump_dir: Option<PathBuf>,
    passed: Vec<String>,
    failures: FailureGroups,
    skipped: Vec<(SuiteId, String)>,
    warnings: Vec<(String, String)>,
    /// The distinct environments the suites ran on (components' versions), in order.
    environments: Vec<String>,
    /// Whether the run was on a live backend (the time breakdown is printed).
    live: bool,
    text: String,
}

impl MarkdownReporter {
    /// A reporter writing to `path` when the run finishes.
    pub fn new(path: Option<PathBuf>) -> Self {
        MarkdownReporter {
            path,
            dump_dir: None,
            environments: Vec::new(),
            live: false,
            passed: Vec::new(),
            failures: FailureGroups::default(),
            skipped: Vec::new(),
            warnings: Vec::new(),
            text: String::new(),
        }
    }

    /// The run's `--dump-state` directory, for the next command of a failure.
    pub fn with_dump_state(mut self, dir: Option<PathBuf>) -> Self {
        self.dump_dir = dir;
        self
    }

    /// The Markdown (complete once the run finished).
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl Reporter for MarkdownReporter {
    fn event(&mut self, event: &Event) -> Result<(), ReportError> {
        match event {
            Event::RunStarted { backend, .. } => {
                self.live = *backend != crate::backend::BackendKind::Sim;
            }
            Event::SuiteStarted { .. } | Event::SuitePhase { .. } => {}
            Event::SuiteEnvironment { properties, .. } => {
                let line = properties
                    .iter()
                    .map(|(k, v)| format!("{k} `{v}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                if !self.environments.contains(&line) {
                    self.environments.push(line);
                }
            }
            Event::SuiteSkipped { suite, reason } => {
                self.skipped.push((suite.clone(), reason.clone()));
            }
            Event::Warning { suite, message } => {
                self.warnings.push((suite.name(), message.clone()));
            }
            Event::StepFinished {
                suite,
                step,
                checks,
                view,
                ..
            } => {
                self.failures.step(suite, step, checks, view.as_deref());
            }
            Event::SuiteFinished {
                suite,
                passed,
                error,
                ..
            } => {
                if let Some(e) = error {
                    self.failures.setup(suite, e);
                } else if *passed {
                    self.passed.push(suite.name());
                }
            }
            Event::RunFinished {
                counts,
                duration,
                timing,
            } => {
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
                if self.live {
                    t.push_str(&format!("Time: {}.\n\n", timing.describe()));
                }
                for environment in &self.environments {
                    t.push_str(&format!("Ran on {environment}.\n\n"));
                }
                let groups = self.failures.groups();
                if !groups.is_empty() {
                    t.push_str(&format!(
                        "## Failed\n\n{} group(s) of identical failures on {} run(s).\n\n| failure | where |\n|---|---|\n",
                        groups.len(),
                        self.failures.failed_runs()
                    ));
                    for g in &groups {
                        let places: Vec<String> = g
                            .checks
                            .iter()
                            .map(|c| format!("`{}` {}", c.location, c.check))
                            .collect();
                        t.push_str(&format!(
                            "| {} | {} |\n",
                            cell(&g.headline()),
                            cell(&places.join(", "))
                        ));
                    }
                    t.push('\n');
                    for g in &groups {
                        t.push_str(&format!(
                            "<details><summary>{}</summary>\n\n",
                            html_text(&g.headline())
                        ));
                        for c in &g.checks {
                            t.push_str(&format!(
                                "`{}`: {}\n\n```\n{}\n```\n\n",
                                c.location, c.check, c.message
                            ));
                        }
                        if let Some(why) = g.why() {
                            t.push_str(&format!("Why: {why}\n\n"));
                        }
                        if let Some(next) = g.next_command(self.dump_dir.as_deref()) {
                            t.push_str(&format!("Next: `{next}`\n\n"));
                        }
                        t.push_str("</details>\n\n");
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
                    t.push_str("## Skipped\n\n| case | runs | reason |\n|---|---|---|\n");
                    let groups = group_skips(self.skipped.iter().map(|(s, r)| (s, r.as_str())));
                    for g in groups {
                        t.push_str(&format!(
                            "| `{}` | {} | {} |\n",
                            g.case,
                            super::groups::describe_runs(&g.runs),
                            cell(&g.reason)
                        ));
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

/// Text for a Markdown table cell: one line, `|` escaped.
fn cell(text: &str) -> String {
    text.replace('\n', " ").replace('|', "\\|")
}

/// Text inside an HTML element (`<summary>`).
fn html_text(text: &str) -> String {
    super::svg::escape(text)
}
