//! The runner: for every cell of the matrix, set up a cluster, and for every step apply →
//! wait for convergence → observe → normalize → check, emitting [`Event`]s that reporters
//! consume. It knows nothing of terminals or file formats.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::backend::{
    wait_for_convergence, Applied, Backend, BackendError, BackendKind, Clock, Observation,
    SystemClock, VirtualClock, WaitOutcome,
};
use crate::case::{Case, ClusterShape, Expect, ProxyMode, Step, SERVICE_NAME};
use crate::check::constraints::constraint_checks;
use crate::check::identity::{normalize, Normalized};
use crate::check::{expectation_checks, model_check, CheckName, CheckResult, CheckStatus};
use crate::model::analysis::model_routes;
use crate::model::{ClusterState, KubeVersion};
use crate::plan::{matrix, order_by_cluster, VersionSelection};
use crate::snapshot::{line_diff, render_step, CaseGolden, Goldens, Rendered};

/// What to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Versions.
    pub versions: VersionSelection,
    /// Proxy modes.
    pub proxy_modes: Vec<ProxyMode>,
    /// Case-name glob.
    pub filter: Option<String>,
    /// Where golden snapshots come from; `None` skips the `snapshot` check. A case without a
    /// golden gets no `snapshot` check either (counted in [`Counts::no_golden`]).
    pub snapshots: Option<Goldens>,
    /// Write the observed state after each step here, in the compact state format `explain`
    /// reads: `<dir>/<case>@<version>-<mode>/<NN>-<step>.yaml`.
    pub dump_state: Option<PathBuf>,
}

/// One case × version × proxy mode on a backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuiteId {
    /// Case name.
    pub case: String,
    /// The case file (as given, or `cases/<name>.yaml` for a built-in case).
    pub file: String,
    /// Each step's name and 1-based line and column in the case file.
    pub steps: Vec<(String, u32, u32)>,
    /// Where the case comes from (its `source`).
    pub source: String,
    /// Version.
    pub version: KubeVersion,
    /// Proxy mode.
    pub proxy_mode: ProxyMode,
    /// Backend.
    pub backend: BackendKind,
}

impl SuiteId {
    /// `case@1.NN/mode`.
    pub fn name(&self) -> String {
        format!(
            "{}@{}/{}",
            self.case,
            self.version,
            self.proxy_mode.as_str()
        )
    }

    /// `file:line:column` of `step` in the case file (the file alone when unknown).
    pub fn step_location(&self, step: &str) -> String {
        match self.steps.iter().find(|(name, _, _)| name == step) {
            Some((_, line, column)) if *line > 0 => format!("{}:{line}:{column}", self.file),
            _ => self.file.clone(),
        }
    }
}

/// How a step ended before its checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    /// Applied and converged.
    Converged {
        /// Polls needed.
        polls: usize,
    },
    /// The deadline passed; the checks ran on the last observation (if any).
    TimedOut {
        /// Time waited.
        waited: Duration,
        /// Polls made.
        polls: usize,
    },
    /// The backend failed.
    BackendFailed(String),
}

/// What a step looked like, for reports that draw it: the observed cluster and routes, the
/// model's routes for that cluster, and the case's expectations for the version.
#[derive(Clone, Debug, PartialEq)]
pub struct StepView {
    /// The version the step ran on.
    pub version: KubeVersion,
    /// The observed nodes, Service and EndpointSlices.
    pub state: ClusterState,
    /// The observation, normalized (hints and routes as endpoint identities).
    pub observed: Normalized,
    /// What the model's proxies route to for the observed state, normalized.
    pub model: Normalized,
    /// The case's merged expectations for this step and version.
    pub expected: Expect,
    /// What the model says about the observed state's hints, in words (as `explain` says it):
    /// why a failed expectation may be the case's mistake.
    pub model_hints: String,
}

impl StepView {
    /// Node → the identities its proxy is expected to route internal traffic to: the case's
    /// `routes` (a `*` entry covers the nodes not listed) where it has them, else the model's.
    pub fn expected_routes(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        let Some(routes) = &self.expected.routes else {
            return self.model.routes.clone();
        };
        let explicit = |node: &str| routes.iter().find(|(n, _)| n == node);
        let wildcard = routes.iter().find(|(n, _)| n == "*");
        self.observed
            .routes
            .keys()
            .chain(self.model.routes.keys())
            .filter_map(|node| {
                explicit(node)
                    .or(wildcard)
                    .map(|(_, ids)| (node.clone(), ids.clone()))
            })
            .collect()
    }
}

/// What a suite is doing, for progress displays: a live cluster takes minutes per suite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Creating (or reusing and resetting) the cluster.
    SettingUp,
    /// Applying a step.
    Applying(String),
    /// Observing until a step's result is stable.
    Converging(String),
    /// Checking a step's observation.
    Checking(String),
    /// Removing what the case created.
    CleaningUp,
}

impl Phase {
    /// In words, e.g. `step one-per-node: waiting for convergence`.
    pub fn describe(&self) -> String {
        match self {
            Phase::SettingUp => "setting up the cluster".to_string(),
            Phase::Applying(step) => format!("step {step}: applying"),
            Phase::Converging(step) => format!("step {step}: waiting for convergence (observing)"),
            Phase::Checking(step) => format!("step {step}: checking"),
            Phase::CleaningUp => "cleaning up".to_string(),
        }
    }
}

/// Totals, by suite (case × version × mode) and by check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Suites whose checks all passed.
    pub passed: usize,
    /// Suites with a failed check, a timeout or a backend error.
    pub failed: usize,
    /// Suites skipped (version or mode not applicable, or the backend cannot run them).
    pub skipped: usize,
    /// Suites cancelled (the run was interrupted).
    pub cancelled: usize,
    /// Checks passed.
    pub checks_passed: usize,
    /// Checks failed.
    pub checks_failed: usize,
    /// Suites run without a golden snapshot (so without a `snapshot` check).
    pub no_golden: usize,
}

impl Counts {
    /// `N passed, M failed, K skipped`, plus `, C cancelled` when the run was interrupted.
    pub fn headline(&self) -> String {
        let mut line = format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        );
        if self.cancelled > 0 {
            line.push_str(&format!(", {} cancelled", self.cancelled));
        }
        line
    }
}

/// What the runner reports.
#[derive(Clone, Debug)]
pub enum Event {
    /// The run begins.
    RunStarted {
        /// Backend.
        backend: BackendKind,
        /// Suites to run.
        suites: usize,
        /// Suites skipped.
        skipped: usize,
    },
    /// A suite is skipped.
    SuiteSkipped {
        /// Which.
        suite: SuiteId,
        /// Why.
        reason: String,
    },
    /// A suite begins.
    SuiteStarted {
        /// Which.
        suite: SuiteId,
        /// Its position (1-based) among the suites run.
        index: usize,
        /// How many suites run.
        total: usize,
    },
    /// A suite entered a phase (progress only; reports of results ignore it).
    SuitePhase {
        /// Which.
        suite: SuiteId,
        /// What it does now.
        phase: Phase,
    },
    /// A step finished, with every check's result.
    StepFinished {
        /// Suite.
        suite: SuiteId,
        /// Step name.
        step: String,
        /// How it ended.
        outcome: StepOutcome,
        /// The checks.
        checks: Vec<CheckResult>,
        /// Wall time.
        duration: Duration,
        /// What the step looked like; `None` when nothing could be observed.
        view: Option<Box<StepView>>,
    },
    /// The backend reports something that is not a check result (a node that did not settle,
    /// a cluster recreated or kept).
    Warning {
        /// The suite it happened in.
        suite: SuiteId,
        /// What happened.
        message: String,
    },
    /// A suite finished.
    SuiteFinished {
        /// Which.
        suite: SuiteId,
        /// Whether everything passed.
        passed: bool,
        /// A setup or cleanup failure.
        error: Option<String>,
        /// Wall time.
        duration: Duration,
    },
    /// What a suite runs on, once its cluster is set up (e.g. the components' versions).
    SuiteEnvironment {
        /// Which.
        suite: SuiteId,
        /// Name → value, in the backend's order (`kube-apiserver` → `v1.37.2`).
        properties: Vec<(String, String)>,
    },
    /// The run finished.
    RunFinished {
        /// Totals.
        counts: Counts,
        /// Wall time.
        duration: Duration,
        /// Where the time went.
        timing: Timing,
    },
}

/// Where a run's time went, summed over its suites.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timing {
    /// Creating (or reusing and resetting) clusters.
    pub setup: Duration,
    /// Applying steps.
    pub apply: Duration,
    /// Waiting for convergence between observations.
    pub waiting: Duration,
    /// Observing (inside the convergence waits).
    pub observing: Duration,
    /// Checking observations.
    pub checking: Duration,
    /// Removing what the cases created.
    pub cleanup: Duration,
}

impl Timing {
    /// `set-up 12.0 s, applying 3.1 s, …`: where the time went, in run order.
    pub fn describe(&self) -> String {
        let parts = [
            ("set-up", self.setup),
            ("applying", self.apply),
            ("waiting for convergence", self.waiting),
            ("observing", self.observing),
            ("checking", self.checking),
            ("cleanup", self.cleanup),
        ];
        parts
            .iter()
            .map(|(what, d)| format!("{what} {:.1} s", d.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The result of a run.
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    /// Totals.
    pub counts: Counts,
    /// Where the time went.
    pub timing: Timing,
    /// Every step's snapshot block, per suite.
    pub rendered: Vec<(SuiteId, Rendered)>,
}

impl RunSummary {
    /// Whether everything run passed.
    pub fn success(&self) -> bool {
        self.counts.failed == 0 && self.counts.cancelled == 0
    }
}

/// Runs `cases` on `backend`, sending events to `emit`.
pub fn run(
    cases: &[Case],
    backend: &mut dyn Backend,
    options: &RunOptions,
    emit: &mut dyn FnMut(&Event),
) -> RunSummary {
    let started = Instant::now();
    let cells = matrix(
        cases,
        &options.versions,
        &options.proxy_modes,
        options.filter.as_deref(),
    );
    // A live backend creates a cluster per shape: group the cells so each is created once.
    let cells = if backend.kind() == BackendKind::Sim {
        cells
    } else {
        order_by_cluster(cells)
    };
    let runnable = cells
        .iter()
        .filter(|c| {
            c.shape
                .as_ref()
                .is_ok_and(|shape| backend.supports(c.case, shape).is_ok())
        })
        .count();
    emit(&Event::RunStarted {
        backend: backend.kind(),
        suites: runnable,
        skipped: cells.len() - runnable,
    });
    let mut summary = RunSummary::default();
    let mut index = 0;
    let mut interrupted = false;
    for cell in &cells {
        let suite = SuiteId {
            case: cell.case.name.clone(),
            file: cell.case.path.display().to_string(),
            steps: cell
                .case
                .steps
                .iter()
                .map(|s| (s.name.clone(), s.line, s.column))
                .collect(),
            source: cell.case.source.clone(),
            version: cell.version,
            proxy_mode: cell.proxy_mode,
            backend: backend.kind(),
        };
        // After Ctrl-C nothing more runs: every suite that would have run is reported as
        // cancelled (a skip with the reason, counted as cancelled), none as a failure.
        if interrupted {
            let runs = cell
                .shape
                .as_ref()
                .is_ok_and(|shape| backend.supports(cell.case, shape).is_ok());
            if runs {
                summary.counts.cancelled += 1;
                emit(&Event::SuiteSkipped {
                    suite,
                    reason: CANCELLED_REASON.to_string(),
                });
            }
            continue;
        }
        // A backend that cannot run the case at all (not a failure of what is tested) skips it.
        let shape = cell.shape.clone().and_then(|shape| {
            backend
                .supports(cell.case, &shape)
                .map(|()| shape)
                .map_err(|why| format!("{} backend: {why}", backend.kind().as_str()))
        });
        match &shape {
            Err(reason) => {
                summary.counts.skipped += 1;
                emit(&Event::SuiteSkipped {
                    suite,
                    reason: reason.clone(),
                });
            }
            Ok(shape) => {
                index += 1;
                emit(&Event::SuiteStarted {
                    suite: suite.clone(),
                    index,
                    total: runnable,
                });
                let end = run_suite(
                    cell.case,
                    shape,
                    &suite,
                    backend,
                    options,
                    &mut summary,
                    emit,
                );
                match end {
                    SuiteEnd::Passed => summary.counts.passed += 1,
                    SuiteEnd::Failed => summary.counts.failed += 1,
                    SuiteEnd::Skipped => summary.counts.skipped += 1,
                    SuiteEnd::Cancelled => {
                        summary.counts.cancelled += 1;
                        interrupted = true;
                    }
                }
            }
        }
    }
    emit(&Event::RunFinished {
        counts: summary.counts,
        duration: started.elapsed(),
        timing: summary.timing,
    });
    summary
}

/// Why a suite after Ctrl-C did not run.
pub const CANCELLED_REASON: &str = "cancelled: the run was interrupted (Ctrl-C) before this suite";

/// How a suite ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SuiteEnd {
    Passed,
    Failed,
    /// The backend cannot run the case here ([`BackendError::Unsupported`]).
    Skipped,
    /// The run was interrupted ([`BackendError::Interrupted`]).
    Cancelled,
}

/// How one step ended, for the suite's loop.
enum StepEnd {
    /// Its checks ran (passed or not); the next step runs.
    Checked {
        /// Whether every check passed.
        passed: bool,
    },
    /// The suite cannot go on (the step could not be applied, or timed out): its checks were
    /// reported failed; the suite is cleaned up and fails.
    Stopped,
    /// The suite ended early without failing (skipped or cancelled); already cleaned up.
    Ended(SuiteEnd),
}

/// One suite (case × version × mode) on a backend: setup, each step, cleanup.
struct SuiteRun<'a, 'e> {
    case: &'a Case,
    shape: &'a ClusterShape,
    suite: &'a SuiteId,
    backend: &'a mut dyn Backend,
    options: &'a RunOptions,
    summary: &'a mut RunSummary,
    emit: &'e mut dyn FnMut(&Event),
    golden: Option<CaseGolden>,
    started: Instant,
}

impl SuiteRun<'_, '_> {
    fn emit(&mut self, event: Event) {
        (self.emit)(&event);
    }

    fn phase(&mut self, phase: Phase) {
        let suite = self.suite.clone();
        self.emit(Event::SuitePhase { suite, phase });
    }

    /// Reports the warnings the backend collected as [`Event::Warning`]s.
    fn drain_warnings(&mut self) {
        for message in self.backend.take_warnings() {
            let suite = self.suite.clone();
            self.emit(Event::Warning { suite, message });
        }
    }

    /// Runs the whole suite.
    fn run(mut self) -> SuiteEnd {
        self.backend.case_started(&self.case.name);
        self.phase(Phase::SettingUp);
        let setup_started = Instant::now();
        let setup = self.backend.setup(self.shape);
        self.summary.timing.setup += setup_started.elapsed();
        self.drain_warnings();
        if let Err(e) = setup {
            // A failed setup undid itself: nothing to clean up.
            return self.end_early(&e, false).unwrap_or_else(|| {
                let error = Some(e.report());
                self.finish(false, error)
            });
        }
        let properties = self.backend.environment();
        if !properties.is_empty() {
            let suite = self.suite.clone();
            self.emit(Event::SuiteEnvironment { suite, properties });
        }
        let mut passed = true;
        for (i, step) in self.case.steps.iter().enumerate() {
            match self.step(i, step) {
                StepEnd::Checked { passed: ok } => passed &= ok,
                StepEnd::Stopped => {
                    passed = false;
                    break;
                }
                StepEnd::Ended(end) => return end,
            }
        }
        self.phase(Phase::CleaningUp);
        let cleanup_started = Instant::now();
        let error = self.backend.cleanup().err().map(|e| e.report());
        self.summary.timing.cleanup += cleanup_started.elapsed();
        self.drain_warnings();
        let passed = passed && error.is_none();
        self.finish(passed, error)
    }

    /// Reports the suite finished.
    fn finish(&mut self, passed: bool, error: Option<String>) -> SuiteEnd {
        let suite = self.suite.clone();
        let duration = self.started.elapsed();
        self.emit(Event::SuiteFinished {
            suite,
            passed,
            error,
            duration,
        });
        if passed {
            SuiteEnd::Passed
        } else {
            SuiteEnd::Failed
        }
    }

    /// Ends the suite early on a backend error that is not a failure of what is tested: the
    /// backend cannot run the case (skipped) or the run was interrupted (cancelled); after
    /// cleaning up when `clean_up`. A cleanup that leaves something behind makes a skipped
    /// suite fail (saying what is left) and is reported as a warning of a cancelled one.
    /// `None` for other errors, which the caller reports as failed checks.
    fn end_early(&mut self, error: &BackendError, clean_up: bool) -> Option<SuiteEnd> {
        if !matches!(
            error,
            BackendError::Unsupported { .. } | BackendError::Interrupted
        ) {
            return None;
        }
        let mut left = None;
        if clean_up {
            self.phase(Phase::CleaningUp);
            left = self.backend.cleanup().err().map(|e| e.report());
            self.drain_warnings();
        }
        let suite = self.suite.clone();
        match error {
            BackendError::Unsupported { reason } => {
                if let Some(left) = left {
                    let error = format!(
                        "{} backend: {reason}; and then {left}",
                        self.backend.kind().as_str()
                    );
                    return Some(self.finish(false, Some(error)));
                }
                let reason = format!("{} backend: {reason}", self.backend.kind().as_str());
                self.emit(Event::SuiteSkipped { suite, reason });
                Some(SuiteEnd::Skipped)
            }
            _ => {
                if let Some(message) = left {
                    self.emit(Event::Warning {
                        suite: suite.clone(),
                        message,
                    });
                }
                let duration = self.started.elapsed();
                self.emit(Event::SuiteFinished {
                    suite,
                    passed: false,
                    error: Some(format!("cancelled: {}", error.report())),
                    duration,
                });
                Some(SuiteEnd::Cancelled)
            }
        }
    }

    /// Counts `checks` and reports the step.
    fn report_step(
        &mut self,
        step: &Step,
        outcome: StepOutcome,
        checks: Vec<CheckResult>,
        view: Option<Box<StepView>>,
        started: Instant,
    ) -> bool {
        let mut passed = true;
        for c in &checks {
            if c.passed() {
                self.summary.counts.checks_passed += 1;
            } else {
                self.summary.counts.checks_failed += 1;
                passed = false;
            }
        }
        let suite = self.suite.clone();
        self.emit(Event::StepFinished {
            suite,
            step: step.name.clone(),
            outcome,
            checks,
            duration: started.elapsed(),
            view,
        });
        passed
    }

    /// Apply → wait for convergence → observe → check, for step `i`.
    fn step(&mut self, i: usize, step: &Step) -> StepEnd {
        let started = Instant::now();
        self.phase(Phase::Applying(step.name.clone()));
        let apply_started = Instant::now();
        let applied = self.backend.apply(&step.action);
        self.summary.timing.apply += apply_started.elapsed();
        self.drain_warnings();
        let applied = match applied {
            Ok(a) => a,
            Err(e) => {
                if let Some(end) = self.end_early(&e, true) {
                    return StepEnd::Ended(end);
                }
                let check = CheckResult {
                    name: CheckName::Apply,
                    status: CheckStatus::Failed(e.report()),
                };
                let outcome = StepOutcome::BackendFailed(e.report());
                self.report_step(step, outcome, vec![check], None, started);
                return StepEnd::Stopped;
            }
        };
        self.phase(Phase::Converging(step.name.clone()));
        let policy = self.backend.wait_policy();
        let mut clock: Box<dyn Clock> = if policy.virtual_time {
            Box::new(VirtualClock::default())
        } else {
            Box::new(SystemClock::new())
        };
        let backend = &mut *self.backend;
        let mut observing = Duration::ZERO;
        let wait_started = Instant::now();
        let waited = wait_for_convergence(
            || {
                let polled = Instant::now();
                let observed = backend.observe();
                observing += polled.elapsed();
                observed
            },
            &policy,
            clock.as_mut(),
        );
        self.summary.timing.observing += observing;
        self.summary.timing.waiting += wait_started.elapsed().saturating_sub(observing);
        self.drain_warnings();
        let mut checks = Vec::new();
        let (obs, outcome) = match waited {
            Ok(WaitOutcome::Converged { value, polls, .. }) => {
                (Some(value), StepOutcome::Converged { polls })
            }
            Ok(WaitOutcome::TimedOut {
                last,
                polls,
                elapsed,
            }) => {
                checks.push(CheckResult {
                    name: CheckName::Converge,
                    status: CheckStatus::Failed(format!(
                        "timed out after {elapsed:?} ({polls} polls) waiting for a stable observation; checks below ran on the last one"
                    )),
                });
                (
                    last,
                    StepOutcome::TimedOut {
                        waited: elapsed,
                        polls,
                    },
                )
            }
            Err(e) => {
                if let Some(end) = self.end_early(&e, true) {
                    return StepEnd::Ended(end);
                }
                checks.push(CheckResult {
                    name: CheckName::Observe,
                    status: CheckStatus::Failed(e.report()),
                });
                (None, StepOutcome::BackendFailed(e.report()))
            }
        };
        self.phase(Phase::Checking(step.name.clone()));
        let timed_out = !matches!(outcome, StepOutcome::Converged { .. });
        let check_started = Instant::now();
        let view = obs.map(|obs| self.check(i, step, &applied, obs, &mut checks));
        self.summary.timing.checking += check_started.elapsed();
        let passed = self.report_step(step, outcome, checks, view, started);
        if timed_out {
            StepEnd::Stopped
        } else {
            StepEnd::Checked { passed }
        }
    }

    /// The checks of step `i` on observation `obs` (appended to `checks`), its snapshot block
    /// recorded, its state dumped when asked; returns what the step looked like.
    fn check(
        &mut self,
        i: usize,
        step: &Step,
        applied: &Applied,
        obs: Observation,
        checks: &mut Vec<CheckResult>,
    ) -> Box<StepView> {
        let shape = self.shape;
        let gates = shape.gates();
        if let Some(check) = dataplane_check(&obs) {
            checks.push(check);
        }
        let norm = normalize(&obs);
        let expect = self.case.expect_for(i, shape.version);
        checks.extend(expectation_checks(&expect, applied, &norm));
        checks.extend(constraint_checks(&expect, &obs, &norm));
        let (model, acceptable, model_hints) = model_check(
            &obs,
            &gates,
            shape.max_endpoints_per_slice,
            expect.hints_may_be_stale == Some(true),
        );
        checks.push(model);
        let note = (acceptable > 1).then(|| {
            format!("the model accepts {acceptable} hint allocations here (Go map order); this is the sim's pick")
        });
        let block = render_step(applied, &norm, note.as_deref());
        if let Some(golden) = &self.golden {
            checks.push(snapshot_check(golden, &step.name, shape.version, &block));
        }
        if let Some(dir) = &self.options.dump_state {
            if let Err(e) = dump_step_state(dir, self.suite, i, &step.name, shape, &obs.state) {
                checks.push(CheckResult {
                    name: CheckName::DumpState,
                    status: CheckStatus::Failed(e),
                });
            }
        }
        self.summary.rendered.push((
            self.suite.clone(),
            Rendered {
                step: step.name.clone(),
                version: shape.version,
                block,
            },
        ));
        let model = normalize(&Observation {
            state: obs.state.clone(),
            routes: model_routes(&obs.state, SERVICE_NAME, &gates),
            notes: Vec::new(),
            events: Ok(Vec::new()),
            answers: Default::default(),
        });
        Box::new(StepView {
            model_hints,
            version: shape.version,
            state: obs.state,
            observed: norm,
            model,
            expected: expect,
        })
    }
}

fn run_suite(
    case: &Case,
    shape: &ClusterShape,
    suite: &SuiteId,
    backend: &mut dyn Backend,
    options: &RunOptions,
    summary: &mut RunSummary,
    emit: &mut dyn FnMut(&Event),
) -> SuiteEnd {
    let golden = options
        .snapshots
        .as_ref()
        .and_then(|g| g.golden(&case.name));
    if options.snapshots.is_some() && golden.is_none() {
        summary.counts.no_golden += 1;
    }
    SuiteRun {
        case,
        shape,
        suite,
        backend,
        options,
        summary,
        emit,
        golden,
        started: Instant::now(),
    }
    .run()
}

/// The observation's own problems (rules and traffic disagree, a probe failed) as a failed
/// `dataplane` check; `None` when it has none.
pub(crate) fn dataplane_check(obs: &crate::backend::Observation) -> Option<CheckResult> {
    (!obs.notes.is_empty()).then(|| CheckResult {
        name: CheckName::Dataplane,
        status: CheckStatus::Failed(obs.notes.join("\n")),
    })
}

fn snapshot_check(
    golden: &CaseGolden,
    step: &str,
    version: KubeVersion,
    block: &str,
) -> CheckResult {
    let failure = match golden.golden.located_block(step, version) {
        Some((g, _)) if g == block => None,
        Some((g, line)) => Some(format!(
            "differs from the golden {}:{line} (- golden, + observed):\n{}\n{}",
            golden.path,
            line_diff(g, block, line),
            golden.fix
        )),
        None => Some(format!(
            "the golden {} has no block for step {step} on {version}; {}",
            golden.path, golden.fix
        )),
    };
    CheckResult {
        name: CheckName::Snapshot,
        status: match failure {
            None => CheckStatus::Passed,
            Some(m) => CheckStatus::Failed(m),
        },
    }
}

/// Writes the state observed after step `index` as a compact state file `explain` reads.
fn dump_step_state(
    dir: &std::path::Path,
    suite: &SuiteId,
    index: usize,
    step: &str,
    shape: &ClusterShape,
    state: &crate::model::ClusterState,
) -> Result<(), String> {
    let folder = dir.join(format!(
        "{}@{}-{}",
        suite.case,
        suite.version,
        suite.proxy_mode.as_str()
    ));
    let path = folder.join(format!("{:02}-{step}.yaml", index + 1));
    let text = crate::input::compact_text(
        state,
        shape.version,
        &shape.feature_gates,
        &format!("{} after step {step} ({})", suite.name(), suite.file),
    );
    std::fs::create_dir_all(&folder)
        .and_then(|()| std::fs::write(&path, text))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
