//! The runner: for every cell of the matrix, set up a cluster, and for every step apply →
//! wait for convergence → observe → normalize → check, emitting [`Event`]s that reporters
//! consume. It knows nothing of terminals or file formats.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::backend::Observation;
use crate::backend::{
    wait_for_convergence, Backend, BackendError, BackendKind, Clock, SystemClock, VirtualClock,
    WaitOutcome,
};
use crate::case::{Case, ClusterShape, Expect, ProxyMode, SERVICE_NAME};
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
    /// The run finished.
    RunFinished {
        /// Totals.
        counts: Counts,
        /// Wall time.
        duration: Duration,
    },
}

/// The result of a run.
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    /// Totals.
    pub counts: Counts,
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
    });
    summary
}

/// Reports the warnings `backend` collected as [`Event::Warning`]s.
fn drain_warnings(backend: &mut dyn Backend, suite: &SuiteId, emit: &mut dyn FnMut(&Event)) {
    for message in backend.take_warnings() {
        emit(&Event::Warning {
            suite: suite.clone(),
            message,
        });
    }
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

/// Ends a suite early on a backend error that is not a failure of what is tested: the
/// backend cannot run the case (skipped) or the run was interrupted (cancelled). `None` for
/// other errors, which the caller reports as a failed check.
fn end_early(
    error: &BackendError,
    backend: &mut dyn Backend,
    suite: &SuiteId,
    started: Instant,
    emit: &mut dyn FnMut(&Event),
) -> Option<SuiteEnd> {
    let end = match error {
        BackendError::Unsupported { reason } => {
            emit(&Event::SuiteSkipped {
                suite: suite.clone(),
                reason: format!("{} backend: {reason}", backend.kind().as_str()),
            });
            SuiteEnd::Skipped
        }
        BackendError::Interrupted => {
            emit(&Event::SuiteFinished {
                suite: suite.clone(),
                passed: false,
                error: Some(format!("cancelled: {}", error.report())),
                duration: started.elapsed(),
            });
            SuiteEnd::Cancelled
        }
        _ => return None,
    };
    Some(end)
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
    let started = Instant::now();
    let phase = |phase, emit: &mut dyn FnMut(&Event)| {
        emit(&Event::SuitePhase {
            suite: suite.clone(),
            phase,
        });
    };
    let golden = options
        .snapshots
        .as_ref()
        .and_then(|g| g.golden(&case.name));
    if options.snapshots.is_some() && golden.is_none() {
        summary.counts.no_golden += 1;
    }
    backend.case_started(&case.name);
    phase(Phase::SettingUp, emit);
    let setup = backend.setup(shape);
    drain_warnings(backend, suite, emit);
    if let Err(e) = setup {
        if let Some(end) = end_early(&e, backend, suite, started, emit) {
            return end;
        }
        emit(&Event::SuiteFinished {
            suite: suite.clone(),
            passed: false,
            error: Some(e.report()),
            duration: started.elapsed(),
        });
        return SuiteEnd::Failed;
    }
    let gates = shape.gates();
    let mut passed = true;
    for (i, step) in case.steps.iter().enumerate() {
        let step_started = Instant::now();
        let mut checks = Vec::new();
        let mut view = None;
        let finish = |outcome,
                      checks: Vec<CheckResult>,
                      view: Option<Box<StepView>>,
                      emit: &mut dyn FnMut(&Event)| {
            emit(&Event::StepFinished {
                suite: suite.clone(),
                step: step.name.clone(),
                outcome,
                checks,
                duration: step_started.elapsed(),
                view,
            });
        };
        phase(Phase::Applying(step.name.clone()), emit);
        let applied = backend.apply(&step.action);
        drain_warnings(backend, suite, emit);
        let applied = match applied {
            Ok(a) => a,
            Err(e) => {
                if matches!(
                    e,
                    BackendError::Unsupported { .. } | BackendError::Interrupted
                ) {
                    let _ = backend.cleanup();
                    drain_warnings(backend, suite, emit);
                    if let Some(end) = end_early(&e, backend, suite, started, emit) {
                        return end;
                    }
                }
                passed = false;
                summary.counts.checks_failed += 1;
                let check = CheckResult {
                    name: CheckName::Apply,
                    status: CheckStatus::Failed(e.report()),
                };
                finish(
                    StepOutcome::BackendFailed(e.report()),
                    vec![check],
                    None,
                    emit,
                );
                break;
            }
        };
        phase(Phase::Converging(step.name.clone()), emit);
        let policy = backend.wait_policy();
        let mut clock: Box<dyn Clock> = if policy.virtual_time {
            Box::new(VirtualClock::default())
        } else {
            Box::new(SystemClock::new())
        };
        let waited = wait_for_convergence(|| backend.observe(), &policy, clock.as_mut());
        drain_warnings(backend, suite, emit);
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
            Err(BackendError::Interrupted) => {
                let _ = backend.cleanup();
                drain_warnings(backend, suite, emit);
                return end_early(&BackendError::Interrupted, backend, suite, started, emit)
                    .unwrap_or(SuiteEnd::Cancelled);
            }
            Err(e) => {
                checks.push(CheckResult {
                    name: CheckName::Observe,
                    status: CheckStatus::Failed(e.report()),
                });
                (None, StepOutcome::BackendFailed(e.report()))
            }
        };
        phase(Phase::Checking(step.name.clone()), emit);
        let timed_out = !matches!(outcome, StepOutcome::Converged { .. });
        if let Some(obs) = obs {
            if let Some(check) = dataplane_check(&obs) {
                checks.push(check);
            }
            let norm = normalize(&obs);
            let expect = case.expect_for(i, shape.version);
            checks.extend(expectation_checks(&expect, &applied, &norm));
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
            let block = render_step(&applied, &norm, note.as_deref());
            if let Some(golden) = &golden {
                checks.push(snapshot_check(golden, &step.name, shape.version, &block));
            }
            if let Some(dir) = &options.dump_state {
                if let Err(e) = dump_step_state(dir, suite, i, &step.name, shape, &obs.state) {
                    checks.push(CheckResult {
                        name: CheckName::DumpState,
                        status: CheckStatus::Failed(e),
                    });
                }
            }
            summary.rendered.push((
                suite.clone(),
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
            view = Some(Box::new(StepView {
                model_hints,
                version: shape.version,
                state: obs.state,
                observed: norm,
                model,
                expected: expect,
            }));
        }
        for c in &checks {
            if c.passed() {
                summary.counts.checks_passed += 1;
            } else {
                summary.counts.checks_failed += 1;
                passed = false;
            }
        }
        finish(outcome, checks, view, emit);
        if timed_out {
            passed = false;
            break;
        }
    }
    phase(Phase::CleaningUp, emit);
    let error = backend.cleanup().err().map(|e| e.report());
    drain_warnings(backend, suite, emit);
    if error.is_some() {
        passed = false;
    }
    emit(&Event::SuiteFinished {
        suite: suite.clone(),
        passed,
        error,
        duration: started.elapsed(),
    });
    if passed {
        SuiteEnd::Passed
    } else {
        SuiteEnd::Failed
    }
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
