//! The runner against backends other than sim: a backend that never converges times out (its
//! own outcome, reported as a failed `converge` check and a JUnit error), a backend error
//! fails the run without panicking. Shows the trait is all a backend needs.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use topo_harness::backend::sim::SimBackend;
use topo_harness::backend::{
    Applied, Backend, BackendError, BackendKind, NodeRoutes, Observation, WaitPolicy,
};
use topo_harness::case::{parse_case, ClusterShape, ProxyMode, StepAction};
use topo_harness::check::{CheckName, CheckStatus};
use topo_harness::plan::VersionSelection;
use topo_harness::report::junit::JunitReporter;
use topo_harness::report::Reporter;
use topo_harness::runner::{run, Event, RunOptions, StepOutcome};

const CASE: &str = r#"
apiVersion: topo-harness/v1alpha1
kind: Case
name: flaky
summary: Two nodes, one endpoint each.
source: test
kubernetes: "1.34"
cluster:
  nodes:
    - { name: worker, zone: a }
    - { name: worker2, zone: b }
service:
  annotations: { service.kubernetes.io/topology-mode: Auto }
steps:
  - name: one-each
    endpoints: { worker: 1, worker2: 1 }
    expect: { routes: { "*": [worker, worker2] } }
  - name: never-reached
    endpoints: { worker: 2 }
"#;

/// The sim, except that every observation differs from the previous one (a routes flap).
struct Flapping {
    inner: SimBackend,
    polls: usize,
}

impl Backend for Flapping {
    fn kind(&self) -> BackendKind {
        BackendKind::Kind
    }
    fn wait_policy(&self) -> WaitPolicy {
        WaitPolicy {
            deadline: Duration::from_secs(30),
            stable_window: Duration::from_secs(5),
            interval: Duration::from_secs(1),
            virtual_time: true,
        }
    }
    fn setup(&mut self, shape: &ClusterShape) -> Result<(), BackendError> {
        self.inner.setup(shape)
    }
    fn apply(&mut self, action: &StepAction) -> Result<Applied, BackendError> {
        self.inner.apply(action)
    }
    fn observe(&mut self) -> Result<Observation, BackendError> {
        self.polls += 1;
        let mut obs = self.inner.observe()?;
        if self.polls.is_multiple_of(2) {
            obs.routes.insert("worker".into(), NodeRoutes::default());
        }
        Ok(obs)
    }
    fn cleanup(&mut self) -> Result<(), BackendError> {
        self.inner.cleanup()
    }
}

/// Fails to observe.
struct Broken;

impl Backend for Broken {
    fn kind(&self) -> BackendKind {
        BackendKind::Kubeconfig
    }
    fn wait_policy(&self) -> WaitPolicy {
        WaitPolicy::default()
    }
    fn setup(&mut self, _: &ClusterShape) -> Result<(), BackendError> {
        Ok(())
    }
    fn apply(&mut self, _: &StepAction) -> Result<Applied, BackendError> {
        Ok(Applied::Ok)
    }
    fn observe(&mut self) -> Result<Observation, BackendError> {
        Err(BackendError::observe("connection refused"))
    }
    fn cleanup(&mut self) -> Result<(), BackendError> {
        Ok(())
    }
}

fn options() -> RunOptions {
    RunOptions {
        versions: VersionSelection::EveryApplicable,
        proxy_modes: vec![ProxyMode::Iptables],
        filter: None,
        snapshots: None,
        dump_state: None,
    }
}

#[test]
fn a_backend_that_never_settles_times_out() {
    let case =
        parse_case(CASE, "flaky.yaml", Path::new("flaky.yaml")).unwrap_or_else(|e| panic!("{e:?}"));
    let mut backend = Flapping {
        inner: SimBackend::new(),
        polls: 0,
    };
    let mut steps = Vec::new();
    let mut junit = JunitReporter::new(None);
    let mut emit = |e: &Event| {
        if let Err(err) = junit.event(e) {
            panic!("{err}");
        }
        if let Event::StepFinished {
            step,
            outcome,
            checks,
            ..
        } = e
        {
            steps.push((step.clone(), outcome.clone(), checks.clone()));
        }
    };
    let summary = run(
        std::slice::from_ref(&case),
        &mut backend,
        &options(),
        &mut emit,
    );
    assert!(!summary.success());
    assert_eq!(steps.len(), 1, "the suite stops at the timed-out step");
    let (step, outcome, checks) = &steps[0];
    assert_eq!(step, "one-each");
    assert!(
        matches!(outcome, StepOutcome::TimedOut { polls: 31, .. }),
        "{outcome:?}"
    );
    assert_eq!(checks[0].name, CheckName::Converge);
    assert!(
        matches!(&checks[0].status, CheckStatus::Failed(m) if m.contains("timed out after 30s"))
    );
    let xml = junit.to_xml().unwrap_or_default();
    // One self-contained line: the case file and step, the check, what happened.
    assert!(
        xml.contains("<error message=\"flaky.yaml:")
            && xml.contains(": converge: timed out after 30s"),
        "{xml}"
    );
    assert!(xml.contains("type=\"timeout\""), "{xml}");
}

#[test]
fn a_backend_error_fails_the_run_with_its_message() {
    let case =
        parse_case(CASE, "flaky.yaml", Path::new("flaky.yaml")).unwrap_or_else(|e| panic!("{e:?}"));
    let mut messages = BTreeMap::new();
    let mut emit = |e: &Event| {
        if let Event::StepFinished { step, checks, .. } = e {
            for c in checks {
                if let CheckStatus::Failed(m) = &c.status {
                    messages.insert(format!("{step}/{}", c.name), m.clone());
                }
            }
        }
    };
    let summary = run(
        std::slice::from_ref(&case),
        &mut Broken,
        &options(),
        &mut emit,
    );
    assert!(!summary.success());
    assert_eq!(
        messages.get("one-each/observe").map(String::as_str),
        Some("cannot observe the cluster: connection refused")
    );
}

/// The sim, except that it cannot run steps placing more than one endpoint on a node.
struct Limited(SimBackend);

impl Backend for Limited {
    fn kind(&self) -> BackendKind {
        BackendKind::Kind
    }
    fn wait_policy(&self) -> WaitPolicy {
        self.0.wait_policy()
    }
    fn supports(&self, case: &topo_harness::case::Case, _: &ClusterShape) -> Result<(), String> {
        match case.steps.iter().find(|s| {
            s.action
                .endpoints
                .iter()
                .flat_map(|e| e.values())
                .any(|n| *n > 1)
        }) {
            Some(step) => Err(format!("step {} places two pods on a node", step.name)),
            None => Ok(()),
        }
    }
    fn setup(&mut self, shape: &ClusterShape) -> Result<(), BackendError> {
        self.0.setup(shape)
    }
    fn apply(&mut self, action: &StepAction) -> Result<Applied, BackendError> {
        self.0.apply(action)
    }
    fn observe(&mut self) -> Result<Observation, BackendError> {
        self.0.observe()
    }
    fn cleanup(&mut self) -> Result<(), BackendError> {
        self.0.cleanup()
    }
}

#[test]
fn a_case_the_backend_cannot_run_is_skipped_with_the_reason() {
    let case =
        parse_case(CASE, "flaky.yaml", Path::new("flaky.yaml")).unwrap_or_else(|e| panic!("{e:?}"));
    let mut reasons = Vec::new();
    let mut started = 0;
    let mut emit = |e: &Event| match e {
        Event::SuiteSkipped { reason, .. } => reasons.push(reason.clone()),
        Event::SuiteStarted { .. } => started += 1,
        _ => {}
    };
    let summary = run(
        std::slice::from_ref(&case),
        &mut Limited(SimBackend::new()),
        &options(),
        &mut emit,
    );
    assert!(summary.success(), "a skip is not a failure");
    assert_eq!(started, 0);
    assert_eq!(summary.counts.skipped, 1);
    assert_eq!(
        reasons,
        vec!["kind backend: step never-reached places two pods on a node".to_string()]
    );
}

/// The sim, but every observation carries a note (rules and traffic disagreeing, say).
struct Noted(SimBackend);

impl Backend for Noted {
    fn kind(&self) -> BackendKind {
        BackendKind::Kind
    }
    fn wait_policy(&self) -> WaitPolicy {
        self.0.wait_policy()
    }
    fn setup(&mut self, shape: &ClusterShape) -> Result<(), BackendError> {
        self.0.setup(shape)
    }
    fn apply(&mut self, action: &StepAction) -> Result<Applied, BackendError> {
        self.0.apply(action)
    }
    fn observe(&mut self) -> Result<Observation, BackendError> {
        let mut obs = self.0.observe()?;
        obs.notes
            .push("worker: rules route to [10.0.0.1] but traffic reached []".into());
        Ok(obs)
    }
    fn cleanup(&mut self) -> Result<(), BackendError> {
        self.0.cleanup()
    }
}

#[test]
fn observation_notes_fail_a_dataplane_check_and_the_rest_still_runs() {
    let case =
        parse_case(CASE, "flaky.yaml", Path::new("flaky.yaml")).unwrap_or_else(|e| panic!("{e:?}"));
    let mut first_step = None;
    let mut emit = |e: &Event| {
        if let Event::StepFinished { checks, .. } = e {
            first_step.get_or_insert_with(|| checks.clone());
        }
    };
    let summary = run(
        std::slice::from_ref(&case),
        &mut Noted(SimBackend::new()),
        &options(),
        &mut emit,
    );
    assert!(!summary.success());
    let checks = first_step.expect("a step finished");
    let dataplane: Vec<_> = checks
        .iter()
        .filter(|c| c.name == CheckName::Dataplane)
        .collect();
    assert_eq!(dataplane.len(), 1, "{checks:?}");
    assert_eq!(
        dataplane[0].status,
        CheckStatus::Failed("worker: rules route to [10.0.0.1] but traffic reached []".into())
    );
    // The other checks ran on the same observation and passed.
    assert!(
        checks
            .iter()
            .any(|c| c.name == CheckName::Model && c.passed()),
        "{checks:?}"
    );
    // Without notes there is no dataplane check at all.
    let mut names = Vec::new();
    let mut emit = |e: &Event| {
        if let Event::StepFinished { checks, .. } = e {
            names.extend(checks.iter().map(|c| c.name.clone()));
        }
    };
    run(
        std::slice::from_ref(&case),
        &mut SimBackend::new(),
        &options(),
        &mut emit,
    );
    assert!(!names.contains(&CheckName::Dataplane), "{names:?}");
}

/// The sim, except that applying a step fails with a chosen backend error (never, when
/// `error` is `None`), and cleanup with `cleanup_error`.
struct FailsToApply {
    inner: SimBackend,
    error: Option<fn() -> BackendError>,
    cleanup_error: Option<fn() -> BackendError>,
    cleanups: usize,
}

impl Backend for FailsToApply {
    fn kind(&self) -> BackendKind {
        BackendKind::Kubeconfig
    }
    fn wait_policy(&self) -> WaitPolicy {
        self.inner.wait_policy()
    }
    fn setup(&mut self, shape: &ClusterShape) -> Result<(), BackendError> {
        self.inner.setup(shape)
    }
    fn apply(&mut self, action: &StepAction) -> Result<Applied, BackendError> {
        match self.error {
            Some(error) => Err(error()),
            None => self.inner.apply(action),
        }
    }
    fn observe(&mut self) -> Result<Observation, BackendError> {
        self.inner.observe()
    }
    fn cleanup(&mut self) -> Result<(), BackendError> {
        self.cleanups += 1;
        self.inner.cleanup()?;
        match self.cleanup_error {
            Some(error) => Err(error()),
            None => Ok(()),
        }
    }
}

fn run_failing(error: fn() -> BackendError) -> (topo_harness::runner::Counts, Vec<String>, usize) {
    run_with(Some(error), None)
}

fn run_with(
    error: Option<fn() -> BackendError>,
    cleanup_error: Option<fn() -> BackendError>,
) -> (topo_harness::runner::Counts, Vec<String>, usize) {
    let case =
        parse_case(CASE, "flaky.yaml", Path::new("flaky.yaml")).unwrap_or_else(|e| panic!("{e:?}"));
    let mut backend = FailsToApply {
        inner: SimBackend::new(),
        error,
        cleanup_error,
        cleanups: 0,
    };
    let mut events = Vec::new();
    let mut emit = |e: &Event| match e {
        Event::SuiteSkipped { reason, .. } => events.push(format!("skipped: {reason}")),
        Event::SuiteFinished { error, .. } => events.push(format!("finished: {error:?}")),
        Event::StepFinished { .. } => events.push("step".into()),
        Event::Warning { message, .. } => events.push(format!("warning: {message}")),
        _ => {}
    };
    // Two suites: the case on two proxy modes.
    let options = RunOptions {
        proxy_modes: vec![ProxyMode::Iptables, ProxyMode::Ipvs],
        ..options()
    };
    let summary = run(
        std::slice::from_ref(&case),
        &mut backend,
        &options,
        &mut emit,
    );
    (summary.counts, events, backend.cleanups)
}

#[test]
fn an_unsupported_step_skips_the_suite_with_the_reason() {
    let (counts, events, cleanups) = run_failing(|| BackendError::Unsupported {
        reason: "not supported on an existing cluster: stopping the kubelet".into(),
    });
    assert_eq!((counts.skipped, counts.failed, counts.passed), (2, 0, 0));
    assert_eq!(
        events[0],
        "skipped: kubeconfig backend: not supported on an existing cluster: stopping the kubelet"
    );
    assert_eq!(cleanups, 2, "what the case created is still removed");
}

#[test]
fn an_interrupt_cancels_the_run() {
    let (counts, events, cleanups) = run_failing(|| BackendError::Interrupted);
    assert_eq!((counts.cancelled, counts.failed, counts.skipped), (2, 0, 0));
    // The first suite is cancelled; nothing runs after it, and the suite that would have run
    // is reported as cancelled (a skip with the reason), not as a failure.
    assert_eq!(
        events,
        vec![
            "finished: Some(\"cancelled: interrupted (Ctrl-C); cleaning up\")".to_string(),
            format!("skipped: {}", topo_harness::runner::CANCELLED_REASON),
        ]
    );
    assert_eq!(cleanups, 1);
    assert!(counts.headline().ends_with(", 2 cancelled"));
}

fn left_behind() -> BackendError {
    BackendError::cleanup("left behind: namespace topo-flaky-1 (still terminating)")
}

#[test]
fn a_cleanup_failure_is_reported_as_one() {
    // Every step passes; what is left behind fails the suite, worded as cleanup.
    let (counts, events, _) = run_with(None, Some(left_behind));
    assert_eq!((counts.failed, counts.passed), (2, 0));
    let finished: Vec<&String> = events
        .iter()
        .filter(|e| e.starts_with("finished"))
        .collect();
    assert_eq!(
        finished[0],
        "finished: Some(\"cleanup incomplete: left behind: namespace topo-flaky-1 (still terminating)\")"
    );
    assert!(!events.iter().any(|e| e.contains("set up")), "{events:?}");
}

#[test]
fn a_skipped_suite_that_leaves_something_behind_fails() {
    let (counts, events, cleanups) = run_with(
        Some(|| BackendError::Unsupported {
            reason: "not supported on an existing cluster: stopping the kubelet".into(),
        }),
        Some(left_behind),
    );
    assert_eq!((counts.failed, counts.skipped), (2, 0));
    assert_eq!(cleanups, 2);
    assert_eq!(
        events[0],
        "finished: Some(\"kubeconfig backend: not supported on an existing cluster: stopping the kubelet; and then cleanup incomplete: left behind: namespace topo-flaky-1 (still terminating)\")"
    );
}

#[test]
fn a_cancelled_suite_says_what_its_cleanup_left() {
    let (counts, events, _) = run_with(Some(|| BackendError::Interrupted), Some(left_behind));
    assert_eq!(counts.cancelled, 2);
    assert_eq!(
        events[0],
        "warning: cleanup incomplete: left behind: namespace topo-flaky-1 (still terminating)"
    );
}

#[test]
fn a_backend_error_keeps_its_cause() {
    let cause = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
    let e = BackendError::observe_from("reading namespace topo-1", cause);
    assert_eq!(
        e.to_string(),
        "cannot observe the cluster: reading namespace topo-1"
    );
    let source = std::error::Error::source(&e).expect("the cause is kept");
    assert_eq!(source.to_string(), "connection refused");
    assert_eq!(
        e.report(),
        "cannot observe the cluster: reading namespace topo-1: connection refused"
    );
    let (_, events, _) = run_failing(|| {
        BackendError::apply_from("", std::io::Error::other("the API server went away"))
    });
    assert_eq!(events[0], "step");
}

/// The sim, reporting one warning per step applied.
struct Warns {
    inner: SimBackend,
    pending: Vec<String>,
}

impl Backend for Warns {
    fn kind(&self) -> BackendKind {
        BackendKind::Kind
    }
    fn wait_policy(&self) -> WaitPolicy {
        self.inner.wait_policy()
    }
    fn setup(&mut self, shape: &ClusterShape) -> Result<(), BackendError> {
        self.inner.setup(shape)
    }
    fn apply(&mut self, action: &StepAction) -> Result<Applied, BackendError> {
        self.pending
            .push("node topo-worker did not become Ready within 120s".into());
        self.inner.apply(action)
    }
    fn observe(&mut self) -> Result<Observation, BackendError> {
        self.inner.observe()
    }
    fn cleanup(&mut self) -> Result<(), BackendError> {
        self.inner.cleanup()
    }
    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.pending)
    }
}

#[test]
fn backend_warnings_reach_every_reporter() {
    use topo_harness::report::markdown::MarkdownReporter;
    use topo_harness::report::terminal::TerminalReporter;

    let case =
        parse_case(CASE, "flaky.yaml", Path::new("flaky.yaml")).unwrap_or_else(|e| panic!("{e:?}"));
    let mut backend = Warns {
        inner: SimBackend::new(),
        pending: Vec::new(),
    };
    let mut junit = JunitReporter::new(None);
    let mut markdown = MarkdownReporter::new(None);
    let mut terminal_out = Vec::new();
    let mut warnings = 0;
    {
        let mut terminal = TerminalReporter::new(&mut terminal_out, false);
        let mut emit = |e: &Event| {
            if let Event::Warning { .. } = e {
                warnings += 1;
            }
            for reporter in [
                &mut junit as &mut dyn Reporter,
                &mut markdown,
                &mut terminal,
            ] {
                if let Err(err) = reporter.event(e) {
                    panic!("{err}");
                }
            }
        };
        run(
            std::slice::from_ref(&case),
            &mut backend,
            &options(),
            &mut emit,
        );
    }
    assert_eq!(warnings, 2, "one per step");
    let message = "node topo-worker did not become Ready within 120s";
    let xml = junit.to_xml().unwrap();
    assert!(
        xml.contains(&format!(
            "<system-err>warning: {message}\nwarning: {message}\n</system-err>"
        )),
        "{xml}"
    );
    assert!(
        markdown.text().contains("## Warnings"),
        "{}",
        markdown.text()
    );
    assert!(markdown.text().contains(message));
    let terminal = String::from_utf8(terminal_out).unwrap();
    assert!(terminal.contains("warning flaky"), "{terminal}");
    assert!(terminal.contains(message), "{terminal}");
}
