//! The JUnit reporter: one `<testsuite>` per case × version × proxy mode, one `<testcase>`
//! per step × check named `<case>/<step>/<check>`, properties for version, proxy mode and
//! backend; skipped suites carry their reason; failures carry the diff. A failure's `message`
//! is one self-contained line, `<case file>:<line>:<column>: <check> <what differs>` (the
//! step whose expectation failed), for CI annotations. Written when the run finishes, in run
//! order (deterministic).

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
        let xml = self
            .report
            .to_string()
            .map_err(|e| ReportError::Junit(e.to_string()))?;
        Ok(without_root_skipped(xml))
    }
}

/// Drops the `skipped` attribute quick-junit writes on `<testsuites>`: the common JUnit schema
/// (Jenkins' `junit-10.xsd`) does not allow it there (skips are counted per `<testsuite>`).
fn without_root_skipped(xml: String) -> String {
    let Some(start) = xml.find("<testsuites") else {
        return xml;
    };
    let Some(end) = xml[start..].find('>').map(|e| start + e) else {
        return xml;
    };
    let tag = &xml[start..end];
    let Some(attr) = tag.find(" skipped=\"") else {
        return xml;
    };
    let attr_start = start + attr;
    let Some(close) = xml[attr_start + 10..end].find('"') else {
        return xml;
    };
    let attr_end = attr_start + 10 + close + 1;
    format!("{}{}", &xml[..attr_start], &xml[attr_end..])
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// One self-contained line for a failed check: the check, the part (zone, node) that differs
/// and what differs — `hints zone a: missing [worker3]`, not `zone a:`.
pub fn headline(check: &str, message: &str) -> String {
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
    let diffs: Vec<String> = body
        .iter()
        .filter(|l| l.starts_with("missing:") || l.starts_with("unexpected:"))
        .map(|l| collapse(&l.replacen(':', "", 1)))
        .collect();
    let what = if diffs.is_empty() {
        body.iter()
            .take(2)
            .map(|l| collapse(l))
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        diffs.join("; ")
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
                tc.set_classname(suite.name());
                ts.add_test_case(tc);
                self.report.add_test_suite(ts);
            }
            Event::SuiteStarted { suite, .. } => {
                self.current = Some(suite_for(suite));
                self.system_err.clear();
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
                ..
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
                            let headline = format!(
                                "{}: {}",
                                suite.step_location(step),
                                headline(&c.name.to_string(), message)
                            );
                            s.set_message(headline.as_str());
                            s.set_type(if timed_out { "timeout" } else { "check" });
                            s.set_description(message.as_str());
                            s
                        }
                    };
                    let mut tc = TestCase::new(name, status);
                    tc.set_classname(suite.name());
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
                    tc.set_classname(suite.name());
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
            "hints zone a: missing [worker3] (and 1 more)"
        );
        assert_eq!(
            headline(
                "routes/worker",
                "expected [a]\nobserved [a, b]\n  unexpected: [b]"
            ),
            "routes/worker: unexpected [b]"
        );
        assert_eq!(
            headline("hints", "expected hints {a: [x]}\nobserved no hints"),
            "hints: expected hints {a: [x]}, observed no hints"
        );
    }
}
