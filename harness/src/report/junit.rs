//! The JUnit reporter: one `<testsuite>` per case × version × proxy mode, one `<testcase>`
//! per step × check named `<case>/<step>/<check>`, properties for version, proxy mode and
//! backend; skipped suites carry their reason; failures carry the diff. A failure's `message`
//! is one self-contained line, `<case file>:<line>:<column>: <check>: expected …, observed …`
//! (the line of the expectation that failed, else of its step), for CI annotations. The
//! classname is the suite's name with `_` for `.` (`case@1_30/iptables`): Jenkins splits a
//! classname at its last dot into package and class. The root `<testsuites>` counts tests,
//! failures, errors and skips. Written when the run finishes, in run order (deterministic);
//! one test case per run (grouping identical failures is for the other reports).

use std::path::PathBuf;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{write_file, ReportError, Reporter};
use crate::check::{CheckName, CheckStatus};
use crate::runner::{Event, StepOutcome, SuiteId};

/// Builds `junit.xml`.
pub struct JunitReporter {
    path: Option<PathBuf>,
    report: Report,
    current: Option<TestSuite>,
    /// The current suite's warnings, written as its `system-err`.
    system_err: String,
}

impl JunitReporter {
    /// A reporter writing to `path` when the run finishes (`None`: keep in memory only).
    pub fn new(path: Option<PathBuf>) -> Self {
        JunitReporter {
            path,
            report: Report::new("topo-harness"),
            current: None,
            system_err: String::new(),
        }
    }

    /// The XML so far.
    pub fn to_xml(&self) -> Result<String, ReportError> {
        self.report
            .to_string()
            .map_err(|e| ReportError::Junit(e.to_string()))
    }
}

/// The classname of a suite's test cases: its name with `_` for `.`, which Jenkins would
/// split on (`case@1.30/iptables` → `case@1_30/iptables`).
pub fn classname(suite: &SuiteId) -> String {
    suite.name().replace('.', "_")
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// One self-contained line for a failed check: the check, the part (zone, node) that differs,
/// what was expected and what was observed — `routes/worker: expected [a, b], observed [a]
/// (missing [b])`; for a snapshot, the first changed line of the golden and of the observation.
pub fn headline(check: &str, message: &str) -> String {
    if check == "snapshot" {
        if let Some(line) = snapshot_headline(message) {
            return line;
        }
    }
    let lines: Vec<&str> = message.lines().collect();
    let is_heading = |l: &str| !l.starts_with(' ') && l.ends_with(':');
    let (heading, body_start) = match lines.first() {
        Some(l) if is_heading(l) => (Some(l.trim_end_matches(':')), 1),
        _ => (None, 0),
    };
    let body: Vec<&str> = lines
        .iter()
        .skip(body_start)
        .take_while(|l| !is_heading(l))
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    let collapse = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    let field = |prefix: &str| {
        body.iter()
            .find_map(|l| l.strip_prefix(prefix))
            .map(collapse)
    };
    let diffs: Vec<String> = body
        .iter()
        .filter(|l| l.starts_with("missing:") || l.starts_with("unexpected:"))
        .map(|l| collapse(&l.replacen(':', "", 1)))
        .collect();
    let what = match (field("expected "), field("observed ")) {
        (Some(expected), Some(observed)) if diffs.is_empty() => {
            format!("expected {expected}, observed {observed}")
        }
        (Some(expected), Some(observed)) => format!(
            "expected {expected}, observed {observed} ({})",
            diffs.join("; ")
        ),
        _ if !diffs.is_empty() => diffs.join("; "),
        _ => body
            .iter()
            .take(2)
            .map(|l| collapse(l))
            .collect::<Vec<_>>()
            .join(", "),
    };
    let more = lines.iter().skip(1).filter(|l| is_heading(l)).count();
    let more = if more > 0 && heading.is_some() {
        format!(" (and {more} more)")
    } else {
        String::new()
    };
    match heading {
        Some(h) => format!("{check} {h}: {what}{more}"),
        None => format!("{check}: {what}"),
    }
}

/// `snapshot: differs from the golden F:L: golden `…`, observed `…` (and N more changed
/// lines)`, from the line diff of a snapshot failure; `None` when it is not one.
fn snapshot_headline(message: &str) -> Option<String> {
    let first = message.lines().next()?;
    let place = first.strip_suffix(" (- golden, + observed):")?;
    let changed = |sign: &str| {
        message
            .lines()
            .filter_map(|l| l.split_once(" │").map(|(_, rest)| rest))
            .filter(|rest| rest.starts_with(sign))
            .map(|rest| rest[sign.len()..].trim().to_string())
            .collect::<Vec<_>>()
    };
    let golden = changed("-");
    let observed = changed("+");
    let show = |lines: &[String]| {
        lines
            .first()
            .map(|l| format!("`{l}`"))
            .unwrap_or_else(|| "nothing".into())
    };
    let more = golden.len().max(observed.len()).saturating_sub(1);
    let more = if more > 0 {
        format!(" (and {more} more changed line(s))")
    } else {
        String::new()
    };
    Some(format!(
        "snapshot: {place}: golden {}, observed {}{more}",
        show(&golden),
        show(&observed)
    ))
}

fn suite_for(suite: &SuiteId) -> TestSuite {
    let mut ts = TestSuite::new(suite.name());
    ts.add_property(("kubernetes", suite.version.to_string().as_str()));
    ts.add_property(("proxy-mode", suite.proxy_mode.as_str()));
    ts.add_property(("backend", suite.backend.as_str()));
    ts.add_property(("source", suite.source.as_str()));
    ts
}

impl Reporter for JunitReporter {
    fn event(&mut self, event: &Event) -> Result<(), ReportError> {
        match event {
            Event::RunStarted { .. } | Event::SuitePhase { .. } => {}
            Event::SuiteSkipped { suite, reason } => {
                let mut ts = suite_for(suite);
                let mut status = TestCaseStatus::skipped();
                status.set_message(reason.as_str());
                let mut tc = TestCase::new(suite.case.as_str(), status);
                tc.set_classname(classname(suite));
                ts.add_test_case(tc);
                self.report.add_test_suite(ts);
            }
            Event::SuiteStarted { suite, .. } => {
                self.current = Some(suite_for(suite));
                self.system_err.clear();
            }
            Event::SuiteEnvironment { suite, properties } => {
                let ts = self.current.get_or_insert_with(|| suite_for(suite));
                for (name, value) in properties {
                    ts.add_property((name.as_str(), value.as_str()));
                }
            }
            Event::Warning { suite, message } => {
                // The suite's system-err: where JUnit viewers show a run's diagnostics.
                self.current.get_or_insert_with(|| suite_for(suite));
                self.system_err.push_str(&format!("warning: {message}\n"));
            }
            Event::StepFinished {
                suite,
                step,
                outcome,
                checks,
                duration,
                view,
            } => {
                let ts = self.current.get_or_insert_with(|| suite_for(suite));
                let per_check = duration
                    .checked_div(checks.len().max(1) as u32)
                    .unwrap_or_default();
                for c in checks {
                    let name = format!("{}/{step}/{}", suite.case, c.name);
                    let status = match &c.status {
                        CheckStatus::Passed => TestCaseStatus::success(),
                        CheckStatus::Failed(message) => {
                            let timed_out = matches!(outcome, StepOutcome::TimedOut { .. })
                                && c.name == CheckName::Converge;
                            let mut s = TestCaseStatus::non_success(if timed_out {
                                NonSuccessKind::Error
                            } else {
                                NonSuccessKind::Failure
                            });
                            let name = c.name.to_string();
                            // The expectation's own line, else the step's.
                            let at = view
                                .as_ref()
                                .and_then(|v| v.expected.location_of(&name))
                                .filter(|(line, _)| *line > 0)
                                .map(|(line, column)| format!("{}:{line}:{column}", suite.file))
                                .unwrap_or_else(|| suite.step_location(step));
                            let headline = format!("{at}: {}", headline(&name, message));
                            s.set_message(headline.as_str());
                            s.set_type(if timed_out { "timeout" } else { "check" });
                            s.set_description(message.as_str());
                            s
                        }
                    };
                    let mut tc = TestCase::new(name, status);
                    tc.set_classname(classname(suite));
                    tc.set_time(per_check);
                    ts.add_test_case(tc);
                }
            }
            Event::SuiteFinished {
                suite,
                error,
                duration,
                ..
            } => {
                let mut ts = self.current.take().unwrap_or_else(|| suite_for(suite));
                if !self.system_err.is_empty() {
                    ts.set_system_err(std::mem::take(&mut self.system_err));
                }
                if let Some(e) = error {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                    let headline = format!("{}: setup: {}", suite.file, first_line(e));
                    s.set_message(headline.as_str());
                    s.set_description(e.as_str());
                    let mut tc = TestCase::new(format!("{}/setup", suite.case), s);
                    tc.set_classname(classname(suite));
                    ts.add_test_case(tc);
                }
                ts.set_time(*duration);
                self.report.add_test_suite(ts);
            }
            Event::RunFinished { duration, .. } => {
                self.report.set_time(*duration);
                if let Some(path) = &self.path {
                    let xml = self.to_xml()?;
                    write_file(path, &xml)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::headline;

    #[test]
    fn headlines_are_self_contained() {
        assert_eq!(
            headline(
                "hints",
                "zone a:\n  expected [worker, worker3]\n  observed [worker]\n    missing:    [worker3]\nzone b:\n  expected [x]\n  observed []\n    missing:    [x]"
            ),
            "hints zone a: expected [worker, worker3], observed [worker] (missing [worker3]) (and 1 more)"
        );
        assert_eq!(
            headline(
                "routes/worker",
                "expected [a]\nobserved [a, b]\n  unexpected: [b]"
            ),
            "routes/worker: expected [a], observed [a, b] (unexpected [b])"
        );
        assert_eq!(
            headline("hints", "expected hints {a: [x]}\nobserved no hints"),
            "hints: expected hints {a: [x]}, observed no hints"
        );
        assert_eq!(
            headline(
                "snapshot",
                "differs from the golden fixtures/snapshots/c.snap:12 (- golden, + observed):\n   12   12 │ == step: one\n   13      │-  a: [x]\n        13 │+  a: [y]\n   14      │-  b: [z]\nif the change is right, run again with --update-snapshots to write it"
            ),
            "snapshot: differs from the golden fixtures/snapshots/c.snap:12: golden `a: [x]`, observed `a: [y]` (and 1 more changed line(s))"
        );
    }
}
