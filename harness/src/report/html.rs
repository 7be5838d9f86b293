//! The HTML reporter: `reports/index.html`, one self-contained page (inline CSS, SVG and
//! script; nothing fetched) with the run header, each group of identical failures once (where,
//! what differs, why, the next command, and a picture of the first run), then every suite with
//! a topology picture ([`super::svg`]) per step next to its checks. A small plain script
//! filters suites by case, version and status (also from the page's query string:
//! `?case=…&version=…&status=…`).
//!
//! To keep a large run's page quick to open, each distinct picture is written once, in a
//! `<template>`, and put in place only when its suite is opened (identical pictures — the
//! same state on several versions and proxy modes — share one template).
//!
//! [`explain_page`] draws the same picture for each Service (and each group of ports with
//! the same routes) of an `explain` dump, with the model's verdict on its hints.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use super::groups::{FailureGroup, FailureGroups};
use super::svg::{escape, render, Picture, FAILURE_COLOUR, NO_ZONE_COLOUR, PALETTE};
use super::{write_file, ReportError, Reporter};
use crate::backend::BackendKind;
use crate::case::SERVICE_NAME;
use crate::check::{CheckResult, CheckStatus};
use crate::model::analysis::Analysis;
use crate::model::ClusterState;
use crate::runner::{Counts, Event, StepOutcome, StepView, SuiteId};

/// One step as reported.
#[derive(Clone, Debug)]
struct StepRecord {
    name: String,
    outcome: StepOutcome,
    checks: Vec<CheckResult>,
    view: Option<Box<StepView>>,
    duration: Duration,
}

impl StepRecord {
    fn passed(&self) -> bool {
        self.checks.iter().all(CheckResult::passed)
    }
}

/// One suite (case × version × mode) as reported.
#[derive(Clone, Debug)]
struct SuiteRecord {
    id: SuiteId,
    steps: Vec<StepRecord>,
    /// The backend's warnings (a node that did not settle, a cluster recreated or kept).
    warnings: Vec<String>,
    /// What the cluster ran (the components' versions).
    environment: Vec<(String, String)>,
    passed: bool,
    error: Option<String>,
    duration: Duration,
}

/// Distinct pictures, each written once as a `<template>`.
#[derive(Default)]
struct Pictures {
    ids: HashMap<String, usize>,
    svgs: Vec<String>,
}

impl Pictures {
    /// A placeholder for `svg` (its template is written once, at the end of the page).
    fn placeholder(&mut self, svg: String) -> String {
        let next = self.svgs.len();
        let id = *self.ids.entry(svg.clone()).or_insert(next);
        if id == next {
            self.svgs.push(svg);
        }
        format!("<div class=\"pic\" data-pic=\"{id}\"></div>")
    }

    fn templates(&self) -> String {
        let mut out = String::new();
        for (i, svg) in self.svgs.iter().enumerate() {
            let _ = write!(out, "<template id=\"pic-{i}\">{svg}</template>");
        }
        out
    }
}

/// Builds `index.html`.
pub struct HtmlReporter {
    path: Option<PathBuf>,
    dump_dir: Option<PathBuf>,
    backend: Option<BackendKind>,
    suites: Vec<SuiteRecord>,
    skipped: Vec<(SuiteId, String)>,
    failures: FailureGroups,
    html: String,
}

impl HtmlReporter {
    /// A reporter writing to `path` (when given) once the run finishes.
    pub fn new(path: Option<PathBuf>) -> Self {
        HtmlReporter {
            path,
            dump_dir: None,
            backend: None,
            suites: Vec::new(),
            skipped: Vec::new(),
            failures: FailureGroups::default(),
            html: String::new(),
        }
    }

    /// The run's `--dump-state` directory, for the next command of a failure.
    pub fn with_dump_state(mut self, dir: Option<PathBuf>) -> Self {
        self.dump_dir = dir;
        self
    }

    /// The page (complete once the run finished).
    pub fn html(&self) -> &str {
        &self.html
    }

    /// The record of `suite` (the latest of that name), created when missing.
    fn record(&mut self, suite: &SuiteId) -> &mut SuiteRecord {
        let at = match self.suites.iter().rposition(|s| s.id == *suite) {
            Some(i) => i,
            None => {
                self.start(suite);
                self.suites.len() - 1
            }
        };
        &mut self.suites[at]
    }

    fn start(&mut self, suite: &SuiteId) {
        self.suites.push(SuiteRecord {
            id: suite.clone(),
            steps: Vec::new(),
            warnings: Vec::new(),
            environment: Vec::new(),
            passed: false,
            error: None,
            duration: Duration::ZERO,
        });
    }

    fn build(&self, counts: &Counts, duration: Duration) -> String {
        let ids = self
            .suites
            .iter()
            .map(|s| &s.id)
            .chain(self.skipped.iter().map(|(id, _)| id));
        let versions: BTreeSet<_> = ids.clone().map(|id| id.version).collect();
        let modes: BTreeSet<_> = ids.map(|id| id.proxy_mode.as_str()).collect();
        let backend = self.backend.unwrap_or(BackendKind::Sim);
        let version_list: Vec<String> = versions.iter().map(ToString::to_string).collect();
        let mode_list: Vec<&str> = modes.iter().copied().collect();
        let mut pictures = Pictures::default();

        let mut body = String::new();
        let _ = write!(
            body,
            "<header><h1>topo-harness report</h1><dl class=\"run\">\
             <dt>backend</dt><dd id=\"run-backend\">{b}</dd>\
             <dt>Kubernetes</dt><dd>{v}</dd><dt>proxy modes</dt><dd>{m}</dd>\
             <dt>suites</dt><dd id=\"run-counts\"><b class=\"{cls}\">{p} passed, {f} failed</b>, {s} skipped{c}</dd>\
             <dt>checks</dt><dd>{cp} passed, {cf} failed</dd><dt>duration</dt><dd>{d:.2} s</dd></dl>",
            b = backend.as_str(),
            v = escape(&version_list.join(", ")),
            m = escape(&mode_list.join(", ")),
            cls = if counts.failed + counts.cancelled > 0 {
                "fail"
            } else {
                "pass"
            },
            p = counts.passed,
            f = counts.failed,
            s = counts.skipped,
            c = if counts.cancelled > 0 {
                format!(", <b class=\"fail\">{} cancelled</b>", counts.cancelled)
            } else {
                String::new()
            },
            cp = counts.checks_passed,
            cf = counts.checks_failed,
            d = duration.as_secs_f64(),
        );
        // Failures first: one entry per group of identical failures.
        let groups = self.failures.groups();
        if !groups.is_empty() {
            let _ = write!(
                body,
                "<nav id=\"failures\"><h2>Failed: {g} group(s) of identical failures, {r} run(s)</h2><ul>",
                g = groups.len(),
                r = self.failures.failed_runs(),
            );
            for (i, g) in groups.iter().enumerate() {
                let _ = write!(
                    body,
                    "<li><a href=\"#group-{i}\">{h}</a></li>",
                    h = escape(&g.headline()),
                );
            }
            body.push_str("</ul></nav>");
        }
        body.push_str(&filters(&version_list));
        body.push_str(&legend(&Legend::run()));
        body.push_str("</header><main>");
        for (i, g) in groups.iter().enumerate() {
            group_html(
                &mut body,
                i,
                g,
                self.dump_dir.as_deref(),
                &self.suites,
                &mut pictures,
            );
        }
        let mut order: Vec<(usize, &SuiteRecord)> = self.suites.iter().enumerate().collect();
        order.sort_by_key(|(i, s)| (s.passed, *i));
        for (i, s) in &order {
            suite_html(&mut body, *i, s, backend, &mut pictures);
        }
        for (id, reason) in &self.skipped {
            let _ = write!(
                body,
                "<section class=\"suite skipped\" data-case=\"{c}\" data-version=\"{v}\" data-mode=\"{m}\" data-status=\"skipped\"><h2><span class=\"badge skip\">SKIP</span> {n}</h2><p class=\"muted\">{r}</p></section>",
                c = escape(&id.case),
                v = id.version,
                m = id.proxy_mode.as_str(),
                n = escape(&id.name()),
                r = escape(reason),
            );
        }
        body.push_str("</main>");
        body.push_str(&pictures.templates());
        page("topo-harness report", &body, SCRIPT)
    }
}

fn filters(versions: &[String]) -> String {
    let mut options = String::from("<option value=\"\">all versions</option>");
    for v in versions {
        let _ = write!(options, "<option value=\"{v}\">{v}</option>", v = escape(v));
    }
    format!(
        "<form id=\"filters\" onsubmit=\"return false\">\
         <input id=\"filter-case\" type=\"search\" placeholder=\"case name contains…\" aria-label=\"case\">\
         <select id=\"filter-version\" aria-label=\"version\">{options}</select>\
         <select id=\"filter-status\" aria-label=\"status\"><option value=\"\">any status</option>\
         <option value=\"failed\">failed</option><option value=\"passed\">passed</option>\
         <option value=\"skipped\">skipped</option></select> <span id=\"shown\" class=\"muted\"></span></form>"
    )
}

/// Node → the identities its proxy routes to.
type NodeRoutes = BTreeMap<String, Vec<String>>;

/// Which legend items a page needs.
#[derive(Clone, Debug, Default)]
struct Legend {
    /// Endpoint states drawn (`ready`, `serving-terminating`, `terminating`, `not-ready`).
    states: BTreeSet<&'static str>,
    /// Hint rings are drawn.
    hints: bool,
    /// Expected and observed routes are compared (a red outline can appear).
    differs: bool,
    /// An endpoint in no zone is drawn.
    no_zone: bool,
}

impl Legend {
    /// Everything a run's pictures can show.
    fn run() -> Legend {
        Legend {
            states: ["ready", "serving-terminating", "terminating", "not-ready"].into(),
            hints: true,
            differs: true,
            no_zone: true,
        }
    }

    /// What the pictures of `state` show (no comparison with an expectation).
    fn of_state(state: &ClusterState) -> Legend {
        let mut legend = Legend::default();
        for e in state.slices.iter().flat_map(|s| s.endpoints.iter()) {
            legend.states.insert(super::svg::endpoint_state(e));
            legend.hints |= e.hints.as_ref().is_some_and(|h| !h.for_zones.is_empty());
            legend.no_zone |= e.zone.is_none();
        }
        legend
    }
}

fn legend(items: &Legend) -> String {
    let dot = |class: &str| {
        let (fill, stroke) = super::svg::endpoint_fill(class);
        format!("<svg width=\"18\" height=\"18\" viewBox=\"0 0 18 18\"><circle cx=\"9\" cy=\"9\" r=\"6\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\"/></svg>")
    };
    let mut parts = Vec::new();
    for (class, words) in [
        ("ready", "ready endpoint"),
        ("serving-terminating", "serving, terminating"),
        ("terminating", "terminating, not serving"),
        ("not-ready", "not ready"),
    ] {
        if items.states.contains(class) {
            parts.push(format!("{} {words}", dot(class)));
        }
    }
    if items.hints {
        parts.push(format!(
            "<svg width=\"18\" height=\"18\" viewBox=\"0 0 18 18\"><circle cx=\"9\" cy=\"9\" r=\"7\" fill=\"none\" stroke=\"{}\" stroke-width=\"3\"/></svg> a ring = hinted for the zone of its colour",
            PALETTE[0]
        ));
    }
    parts.push(format!(
        "<svg width=\"30\" height=\"14\" viewBox=\"0 0 30 14\"><rect x=\"1\" y=\"1\" width=\"28\" height=\"12\" rx=\"6\" fill=\"{}\"/></svg> chips under a node = where its proxy sends traffic, in the colour of the endpoint's zone",
        PALETTE[1]
    ));
    if items.no_zone {
        parts.push(format!(
            "<svg width=\"30\" height=\"14\" viewBox=\"0 0 30 14\"><rect x=\"1\" y=\"1\" width=\"28\" height=\"12\" rx=\"6\" fill=\"{NO_ZONE_COLOUR}\"/></svg> an endpoint in no zone"
        ));
    }
    if items.differs {
        parts.push(format!(
            "<svg width=\"30\" height=\"14\" viewBox=\"0 0 30 14\"><rect x=\"1.5\" y=\"1.5\" width=\"27\" height=\"11\" rx=\"3\" fill=\"#fff5f5\" stroke=\"{FAILURE_COLOUR}\" stroke-width=\"2.5\"/></svg> a node whose routes differ from the expected ones (both rows are drawn)"
        ));
    }
    format!("<p class=\"legend\">{}</p>", parts.join(" · "))
}

fn diff_html(message: &str) -> String {
    message
        .lines()
        .map(|line| {
            let t = line.trim_start();
            let class = if t.starts_with("expected")
                || t.starts_with("missing")
                || t.starts_with('-')
            {
                "del"
            } else if t.starts_with("observed") || t.starts_with("unexpected") || t.starts_with('+')
            {
                "ins"
            } else {
                ""
            };
            if class.is_empty() {
                escape(line)
            } else {
                format!("<span class=\"{class}\">{}</span>", escape(line))
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn checks_html(out: &mut String, checks: &[CheckResult]) {
    out.push_str("<div class=\"checks\">");
    for c in checks {
        if let CheckStatus::Failed(message) = &c.status {
            let _ = write!(
                out,
                "<div class=\"check failed\"><h4>✗ {n}</h4><pre class=\"diff\">{d}</pre></div>",
                n = escape(&c.name.to_string()),
                d = diff_html(message),
            );
        }
    }
    let passed: Vec<String> = checks
        .iter()
        .filter(|c| c.passed())
        .map(|c| c.name.to_string())
        .collect();
    if !passed.is_empty() {
        let _ = write!(
            out,
            "<p class=\"check passed\">✓ {}</p>",
            escape(&passed.join(", "))
        );
    }
    out.push_str("</div>");
}

/// The picture of a step and what its caption says about the routes drawn.
fn step_picture(view: &StepView, pictures: &mut Pictures) -> String {
    let expected = view.expected_routes();
    let service = view.state.services.iter().find(|s| s.name == SERVICE_NAME);
    let svg = render(&Picture {
        state: &view.state,
        service,
        version: view.version,
        routes: &view.observed.routes,
        expected: Some(&expected),
    });
    let differs = expected
        .iter()
        .any(|(node, ids)| view.observed.routes.get(node) != Some(ids));
    let caption = match (view.expected.routes.is_some(), differs) {
        (true, true) => "outlined in red: nodes whose observed routes differ from the case's expected `routes`",
        (true, false) => "every node routes as the case's `routes` expects",
        (false, true) => "the case states no `routes` here; outlined in red: nodes whose routes differ from the model's",
        (false, false) => "the case states no `routes` here; every node routes as the model does",
    };
    format!(
        "{}<figcaption class=\"muted\">{}</figcaption>",
        pictures.placeholder(svg),
        escape(caption)
    )
}

fn step_html(out: &mut String, step: &StepRecord, backend: BackendKind, pictures: &mut Pictures) {
    let passed = step.passed();
    // On the sim a step settles at once: how many polls it took says nothing.
    let outcome = match (&step.outcome, backend) {
        (StepOutcome::Converged { .. }, BackendKind::Sim) => String::new(),
        (StepOutcome::Converged { polls }, _) => {
            format!("settled after {polls} observation(s) · ")
        }
        (StepOutcome::TimedOut { waited, .. }, _) => {
            format!("did not settle within {:.1} s · ", waited.as_secs_f64())
        }
        (StepOutcome::BackendFailed(e), _) => format!("backend error: {e} · "),
    };
    let _ = write!(
        out,
        "<div class=\"step {s}\" data-step=\"{n}\"><h3><span class=\"badge {b}\">{t}</span> {n} <span class=\"muted\">{o}{ms:.1} ms</span></h3><div class=\"step-body\">",
        s = if passed { "passed" } else { "failed" },
        b = if passed { "pass" } else { "fail" },
        t = if passed { "PASS" } else { "FAIL" },
        n = escape(&step.name),
        o = escape(&outcome),
        ms = step.duration.as_secs_f64() * 1000.0,
    );
    out.push_str("<figure class=\"picture\">");
    match &step.view {
        Some(view) => out.push_str(&step_picture(view, pictures)),
        None => out.push_str("<p class=\"muted\">nothing was observed</p>"),
    }
    out.push_str("</figure>");
    checks_html(out, &step.checks);
    out.push_str("</div></div>");
}

fn suite_html(
    out: &mut String,
    index: usize,
    suite: &SuiteRecord,
    backend: BackendKind,
    pictures: &mut Pictures,
) {
    let status = if suite.passed { "passed" } else { "failed" };
    let _ = write!(
        out,
        "<section class=\"suite {status}\" id=\"suite-{index}\" data-case=\"{c}\" data-version=\"{v}\" data-mode=\"{m}\" data-status=\"{status}\">\
         <details><summary><h2><span class=\"badge {b}\">{t}</span> {n} <span class=\"muted\">{src} · {ms:.1} ms</span></h2></summary>",
        c = escape(&suite.id.case),
        v = suite.id.version,
        m = suite.id.proxy_mode.as_str(),
        b = if suite.passed { "pass" } else { "fail" },
        t = if suite.passed { "PASS" } else { "FAIL" },
        n = escape(&suite.id.name()),
        src = escape(&suite.id.source),
        ms = suite.duration.as_secs_f64() * 1000.0,
    );
    if !suite.environment.is_empty() {
        let parts: Vec<String> = suite
            .environment
            .iter()
            .map(|(k, v)| format!("{} <code>{}</code>", escape(k), escape(v)))
            .collect();
        let _ = write!(
            out,
            "<p class=\"muted environment\">ran on {}</p>",
            parts.join(" · ")
        );
    }
    for w in &suite.warnings {
        let _ = write!(out, "<p class=\"warning\">⚠ {}</p>", escape(w));
    }
    if let Some(e) = &suite.error {
        let _ = write!(
            out,
            "<div class=\"check failed\"><h4>✗ setup</h4><pre class=\"diff\">{}</pre></div>",
            escape(e)
        );
    }
    for step in &suite.steps {
        step_html(out, step, backend, pictures);
    }
    out.push_str("</details></section>");
}

/// One group of identical failures: headline, each check's place and diff, why, what to run
/// next, the first run's picture, and links to every run.
fn group_html(
    out: &mut String,
    index: usize,
    group: &FailureGroup,
    dump_dir: Option<&std::path::Path>,
    suites: &[SuiteRecord],
    pictures: &mut Pictures,
) {
    let _ = write!(
        out,
        "<section class=\"group\" id=\"group-{index}\" data-case=\"{c}\"><h2><span class=\"badge fail\">FAIL</span> {h}</h2><div class=\"step-body\"><figure class=\"picture\">",
        c = escape(&group.case),
        h = escape(&group.headline()),
    );
    match &group.view {
        Some(view) => out.push_str(&step_picture(view, pictures)),
        None => out.push_str("<p class=\"muted\">nothing was observed</p>"),
    }
    out.push_str("</figure><div class=\"checks\">");
    for c in &group.checks {
        let _ = write!(
            out,
            "<div class=\"check failed\"><h4>✗ {n} <span class=\"muted\">{at}</span></h4><pre class=\"diff\">{d}</pre></div>",
            n = escape(&c.check),
            at = escape(&c.location),
            d = diff_html(&c.message),
        );
    }
    if let Some(why) = group.why() {
        let _ = write!(out, "<p class=\"why\"><b>why</b>: {}</p>", escape(&why));
    }
    if let Some(next) = group.next_command(dump_dir) {
        let _ = write!(
            out,
            "<p class=\"next\"><b>next</b>: <code>{}</code></p>",
            escape(&next)
        );
    }
    let links: Vec<String> = group
        .runs
        .iter()
        .filter_map(|run| {
            let i = suites.iter().position(|s| s.id == *run)?;
            Some(format!(
                "<a href=\"#suite-{i}\">{}@{}/{}</a>",
                escape(&run.case),
                run.version,
                run.proxy_mode.as_str()
            ))
        })
        .collect();
    let _ = write!(
        out,
        "<p class=\"muted runs\">runs: {}</p></div></div></section>",
        links.join(" ")
    );
}

impl Reporter for HtmlReporter {
    fn event(&mut self, event: &Event) -> Result<(), ReportError> {
        match event {
            Event::RunStarted { backend, .. } => self.backend = Some(*backend),
            Event::SuitePhase { .. } => {}
            Event::Warning { suite, message } => self.record(suite).warnings.push(message.clone()),
            Event::SuiteEnvironment { suite, properties } => {
                self.record(suite).environment = properties.clone();
            }
            Event::SuiteSkipped { suite, reason } => {
                // A backend may find out only after the suite started that it cannot run it.
                self.suites.retain(|s| s.id != *suite);
                self.skipped.push((suite.clone(), reason.clone()));
            }
            Event::SuiteStarted { suite, .. } => self.start(suite),
            Event::StepFinished {
                suite,
                step,
                outcome,
                checks,
                duration,
                view,
            } => {
                self.failures.step(suite, step, checks, view.as_deref());
                self.record(suite).steps.push(StepRecord {
                    name: step.clone(),
                    outcome: outcome.clone(),
                    checks: checks.clone(),
                    view: view.clone(),
                    duration: *duration,
                });
            }
            Event::SuiteFinished {
                suite,
                passed,
                error,
                duration,
            } => {
                if let Some(e) = error {
                    self.failures.setup(suite, e);
                }
                let record = self.record(suite);
                record.passed = *passed;
                record.error.clone_from(error);
                record.duration = *duration;
            }
            Event::RunFinished {
                counts, duration, ..
            } => {
                self.html = self.build(counts, *duration);
                if let Some(path) = &self.path {
                    write_file(path, &self.html)?;
                }
            }
        }
        Ok(())
    }
}

/// The page for `explain`: per Service with endpoints, the model's verdict on its hints
/// (flagged when the file's hints disagree) and a topology picture for each group of ports
/// with the same routes.
pub fn explain_page(file: &str, state: &ClusterState, analysis: &Analysis) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<header><h1>topo-harness explain</h1><dl class=\"run\"><dt>file</dt><dd>{f}</dd>\
         <dt>Kubernetes</dt><dd>{v}</dd><dt>services</dt><dd>{n}</dd></dl>",
        f = escape(file),
        v = analysis.environment.version(),
        n = analysis.services.len(),
    );
    body.push_str(&legend(&Legend::of_state(state)));
    body.push_str("</header><main>");
    for (i, verdict) in analysis.services.iter().enumerate() {
        let Some(service) = state.services.iter().find(|s| s.key() == verdict.service) else {
            continue;
        };
        // Address → the node its endpoint runs on, as the runner's identities name them.
        let mut identity: BTreeMap<&str, &str> = BTreeMap::new();
        for e in state.slices_of(service).flat_map(|s| s.endpoints.iter()) {
            if let Some(a) = e.addresses.first() {
                identity
                    .entry(a.as_str())
                    .or_insert(e.node_name.as_deref().unwrap_or("(no node)"));
            }
        }
        // Per port, node → identities; ports with the same routes share one picture.
        let mut by_port: Vec<(String, BTreeMap<String, Vec<String>>)> = Vec::new();
        for group in &verdict.routes {
            let set = group.cluster.as_ref().or(group.local.as_ref());
            let mut ids: Vec<String> = set
                .into_iter()
                .flatten()
                .map(|a| identity.get(a.as_str()).unwrap_or(&a.as_str()).to_string())
                .collect();
            ids.sort();
            let at = match by_port.iter().position(|(p, _)| *p == group.port) {
                Some(at) => at,
                None => {
                    by_port.push((group.port.clone(), BTreeMap::new()));
                    by_port.len() - 1
                }
            };
            for node in analysis.group_node_names(group) {
                by_port[at].1.insert(node.to_string(), ids.clone());
            }
        }
        let mut pictures: Vec<(Vec<String>, NodeRoutes)> = Vec::new();
        for (port, routes) in by_port {
            match pictures.iter_mut().find(|(_, r)| *r == routes) {
                Some((ports, _)) => ports.push(port),
                None => pictures.push((vec![port], routes)),
            }
        }
        let (badge, verdict_class, verdict_text) = match verdict.hints.agrees {
            Some(true) => ("pass", "agrees", "AGREES"),
            Some(false) if verdict.hints.kept => {
                ("skip", "kept", "KEPT (valid on unchanged slices)")
            }
            Some(false) => ("fail", "disagrees", "DISAGREES"),
            None => ("skip", "unchecked", "NOT CHECKED"),
        };
        let _ = write!(
            body,
            "<section class=\"suite\" id=\"service-{i}\" data-case=\"{c}\"><h2>{c} <span class=\"muted\">heuristic {h}</span></h2>\
             <p class=\"verdict {verdict_class}\"><span class=\"badge {badge}\">{verdict_text}</span> the file's hints per zone: {observed}; the model: {should}</p>",
            c = escape(&verdict.service),
            h = verdict.heuristic.as_str(),
            observed = escape(
                &verdict
                    .hints
                    .observed
                    .as_ref()
                    .map(zone_counts)
                    .unwrap_or_else(|| "none".to_string())
            ),
            should = escape(&crate::check::hints_verdict_words(&verdict.hints)),
        );
        for w in &verdict.warnings {
            let _ = write!(body, "<p class=\"warning\">⚠ {}</p>", escape(w));
        }
        if pictures.is_empty() {
            body.push_str("<p class=\"muted\">no routes (headless or ExternalName: kube-proxy programs nothing)</p>");
        }
        for (ports, routes) in &pictures {
            let _ = write!(
                body,
                "<div class=\"step\" data-ports=\"{p}\"><h3>port{s} {p}</h3><figure class=\"picture\">{svg}</figure></div>",
                s = if ports.len() == 1 { "" } else { "s" },
                p = escape(&ports.join(", ")),
                svg = render(&Picture {
                    state,
                    service: Some(service),
                    version: analysis.environment.version(),
                    routes,
                    expected: None,
                }),
            );
        }
        body.push_str("</section>");
    }
    if analysis.services.is_empty() {
        body.push_str("<p class=\"muted\">the file holds no Service</p>");
    }
    body.push_str("</main>");
    page("topo-harness explain", &body, EXPLAIN_SCRIPT)
}

/// `a: 2, b: 2`.
fn zone_counts(c: &crate::model::analysis::ZoneCounts) -> String {
    c.iter()
        .map(|(zone, n)| format!("{zone}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

const STYLE: &str = r#"
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1400px;padding:16px 24px;color:#212121;background:#fafafa}
h1{font-size:22px;margin:0 0 8px}h2{font-size:16px;margin:0;display:inline}h3{font-size:14px;margin:12px 0 6px}h4{margin:0 0 4px;font-size:13px;color:#c62828}
dl.run{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0 0 12px}dt{color:#616161}dd{margin:0}
.muted{color:#757575;font-weight:normal;font-size:12px}
.badge{display:inline-block;font-size:11px;font-weight:bold;padding:1px 6px;border-radius:4px;color:#fff;vertical-align:middle}
.badge.pass{background:#2e7d32}.badge.fail{background:#c62828}.badge.skip{background:#9e9e9e}
b.pass{color:#2e7d32}b.fail{color:#c62828}
#failures{background:#fff5f5;border:1px solid #ef9a9a;border-radius:6px;padding:8px 12px;margin-bottom:12px}#failures ul{margin:4px 0;padding-left:20px}
#filters{display:flex;gap:8px;align-items:center;margin:8px 0}#filters input{flex:0 1 280px;padding:4px 6px}#filters select{padding:3px}
.legend{font-size:12px;color:#424242}.legend svg{vertical-align:middle}
section.suite{background:#fff;border:1px solid #e0e0e0;border-radius:6px;margin:10px 0;padding:8px 12px}
section.suite.failed{border-color:#ef9a9a}
summary{cursor:pointer}
.step{border-top:1px solid #eeeeee;margin-top:8px}
.step-body{display:grid;grid-template-columns:minmax(0,max-content) minmax(280px,1fr);gap:16px;align-items:start}
figure.picture{margin:0}figure.picture svg{display:block;max-width:100%;height:auto}
.checks pre.diff{background:#fafafa;border:1px solid #eeeeee;border-radius:4px;padding:6px 8px;margin:0 0 8px;font:12px/1.4 ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap}
.warning{color:#8d6e00;margin:4px 0}.check.failed{margin-bottom:8px}.check.passed{color:#2e7d32;font-size:12px;margin:4px 0}
span.del{color:#b71c1c}span.ins{color:#1b5e20}
svg.topology text{font:12px system-ui,sans-serif}
svg.topology .zone-name{font-weight:bold;font-size:14px}svg.topology .zone-share{fill:#424242}
svg.topology .node-name{font-weight:bold}svg.topology .node-tags{fill:#6d4c41;font-size:11px}
svg.topology .row-label{fill:#616161;font-size:11px}svg.topology .row-label.differs{fill:#c62828;font-weight:bold}
svg.topology .chip{font:11px ui-monospace,Menlo,Consolas,monospace}
svg.topology .muted{fill:#9e9e9e;font-size:11px}
section.group{background:#fff;border:2px solid #ef9a9a;border-radius:6px;margin:10px 0;padding:8px 12px}
.why,.next{margin:4px 0}.next code{font:12px ui-monospace,Menlo,Consolas,monospace;background:#f5f5f5;padding:1px 4px;word-break:break-all}
.runs a{margin-right:6px}
p.verdict{margin:6px 0}p.verdict.disagrees{color:#b71c1c;font-weight:bold}
[hidden]{display:none!important}
#js-errors:empty{display:none}#js-errors{background:#ffebee;color:#b71c1c;padding:6px;white-space:pre-wrap}
"#;

const SCRIPT: &str = r#"
(function () {
  // Pictures are templates until their suite (or a failure group) is on screen.
  function materialize(root) {
    var slots = root.querySelectorAll('div.pic[data-pic]');
    for (var i = 0; i < slots.length; i++) {
      var slot = slots[i];
      if (slot.firstChild) continue;
      var t = document.getElementById('pic-' + slot.dataset.pic);
      if (t) slot.appendChild(t.content.cloneNode(true));
    }
  }
  var groups = document.querySelectorAll('section.group');
  for (var g = 0; g < groups.length; g++) materialize(groups[g]);
  var details = document.querySelectorAll('section.suite details');
  for (var d = 0; d < details.length; d++) {
    details[d].addEventListener('toggle', function (e) { if (e.target.open) materialize(e.target); });
  }
  var q = new URLSearchParams(window.location.search);
  var byCase = document.getElementById('filter-case');
  var byVersion = document.getElementById('filter-version');
  var byStatus = document.getElementById('filter-status');
  if (q.has('case')) byCase.value = q.get('case');
  if (q.has('version')) byVersion.value = q.get('version');
  if (q.has('status')) byStatus.value = q.get('status');
  function apply() {
    var text = byCase.value.trim().toLowerCase();
    var version = byVersion.value;
    var status = byStatus.value;
    var suites = document.querySelectorAll('section.suite');
    var shown = [];
    for (var i = 0; i < suites.length; i++) {
      var s = suites[i];
      var ok = (!text || s.dataset.case.toLowerCase().indexOf(text) >= 0) &&
        (!version || s.dataset.version === version) &&
        (!status || s.dataset.status === status);
      s.hidden = !ok;
      if (ok) shown.push(s);
    }
    // A narrow selection opens its suites, so what was asked for is on screen.
    if (shown.length <= 3) {
      shown.forEach(function (s) {
        var d = s.querySelector('details');
        if (d) { d.open = true; materialize(d); }
      });
    }
    document.getElementById('shown').textContent = shown.length + ' of ' + suites.length + ' shown';
  }
  byCase.addEventListener('input', apply);
  byVersion.addEventListener('change', apply);
  byStatus.addEventListener('change', apply);
  apply();
  // Read by the browser test: the page must not scroll sideways at 1280 px.
  document.body.dataset.scrollWidth = document.documentElement.scrollWidth;
  document.getElementById('js-status').textContent = 'ready';
})();
"#;

/// The explain page's script: nothing to filter; it only reports that it ran.
const EXPLAIN_SCRIPT: &str = r#"
(function () {
  document.body.dataset.scrollWidth = document.documentElement.scrollWidth;
  document.getElementById('js-status').textContent = 'ready';
})();
"#;

/// The page shell: inline style, an error catcher before anything else runs (errors are
/// written into `#js-errors`, which tests read), the body, and the page's script.
fn page(title: &str, body: &str, script: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{STYLE}</style>\
         <script>window.addEventListener('error', function (e) {{ var el = document.getElementById('js-errors'); if (el) el.textContent += (e.message || 'error') + '\\n'; }});</script>\
         </head><body><div id=\"js-errors\"></div><div id=\"js-status\" hidden></div>\n{body}\n<script>{script}</script></body></html>\n",
        t = escape(title),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::ProxyMode;
    use crate::model::KubeVersion;

    fn suite() -> SuiteId {
        SuiteId {
            case: "c".into(),
            file: String::new(),
            steps: Vec::new(),
            source: "s".into(),
            version: KubeVersion::new(34),
            proxy_mode: ProxyMode::Iptables,
            backend: BackendKind::Kind,
        }
    }

    #[test]
    fn backend_warnings_are_shown_in_their_suite() {
        let suite = suite();
        let mut reporter = HtmlReporter::new(None);
        for event in [
            Event::SuiteStarted {
                suite: suite.clone(),
                index: 1,
                total: 1,
            },
            Event::Warning {
                suite: suite.clone(),
                message: "node worker2 <did not settle>".into(),
            },
            Event::SuiteFinished {
                suite: suite.clone(),
                passed: true,
                error: None,
                duration: Duration::ZERO,
            },
            Event::RunFinished {
                counts: Counts::default(),
                duration: Duration::ZERO,
                timing: Default::default(),
            },
        ] {
            reporter.event(&event).unwrap_or_else(|e| panic!("{e}"));
        }
        let html = reporter.html();
        assert!(
            html.contains("<p class=\"warning\">⚠ node worker2 &lt;did not settle&gt;</p>"),
            "{html}"
        );
        assert!(html.contains("data-status=\"passed\""));
    }

    #[test]
    fn a_suite_skipped_after_it_started_is_shown_as_skipped_only() {
        let suite = suite();
        let mut reporter = HtmlReporter::new(None);
        for event in [
            Event::SuiteStarted {
                suite: suite.clone(),
                index: 1,
                total: 1,
            },
            Event::SuiteSkipped {
                suite: suite.clone(),
                reason: "kind backend: cannot change allocatable CPU".into(),
            },
            Event::RunFinished {
                counts: Counts::default(),
                duration: Duration::ZERO,
                timing: Default::default(),
            },
        ] {
            reporter.event(&event).unwrap_or_else(|e| panic!("{e}"));
        }
        let html = reporter.html();
        assert_eq!(html.matches("<section class=\"suite").count(), 1, "{html}");
        assert!(html.contains("data-status=\"skipped\""));
        assert!(html.contains("cannot change allocatable CPU"));
        assert!(!html.contains("id=\"failures\""));
    }
}
