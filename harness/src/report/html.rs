//! The HTML reporter: `reports/index.html`, one self-contained page (inline CSS, SVG and
//! script; nothing fetched) with the run header, failed suites first, and for every step a
//! topology picture ([`super::svg`]) next to its checks. A small plain script filters suites
//! by case, version and status (also from the page's query string: `?case=…&version=…&status=…`).
//!
//! [`explain_page`] draws the same picture for each Service of an `explain` dump.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use super::svg::{escape, render, Picture, NO_ZONE_COLOUR};
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
    passed: bool,
    error: Option<String>,
    duration: Duration,
}

/// Builds `index.html`.
pub struct HtmlReporter {
    path: Option<PathBuf>,
    backend: Option<BackendKind>,
    suites: Vec<SuiteRecord>,
    skipped: Vec<(SuiteId, String)>,
    html: String,
}

impl HtmlReporter {
    /// A reporter writing to `path` (when given) once the run finishes.
    pub fn new(path: Option<PathBuf>) -> Self {
        HtmlReporter {
            path,
            backend: None,
            suites: Vec::new(),
            skipped: Vec::new(),
            html: String::new(),
        }
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
        let backend = self.backend.map(BackendKind::as_str).unwrap_or("?");
        let version_list: Vec<String> = versions.iter().map(ToString::to_string).collect();
        let mode_list: Vec<&str> = modes.iter().copied().collect();

        let mut body = String::new();
        let _ = write!(
            body,
            "<header><h1>topo-harness report</h1><dl class=\"run\">\
             <dt>backend</dt><dd id=\"run-backend\">{backend}</dd>\
             <dt>Kubernetes</dt><dd>{v}</dd><dt>proxy modes</dt><dd>{m}</dd>\
             <dt>suites</dt><dd id=\"run-counts\"><b class=\"{cls}\">{p} passed, {f} failed</b>, {s} skipped{c}</dd>\
             <dt>checks</dt><dd>{cp} passed, {cf} failed</dd><dt>duration</dt><dd>{d:.2} s</dd></dl>",
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
        // Failures first: a list of links at the top, then the suites in that order.
        let mut order: Vec<(usize, &SuiteRecord)> = self.suites.iter().enumerate().collect();
        order.sort_by_key(|(i, s)| (s.passed, *i));
        let failed: Vec<_> = order.iter().filter(|(_, s)| !s.passed).collect();
        if !failed.is_empty() {
            body.push_str("<nav id=\"failures\"><h2>Failed</h2><ul>");
            for (i, s) in &failed {
                let checks: Vec<String> = s
                    .steps
                    .iter()
                    .flat_map(|st| {
                        st.checks
                            .iter()
                            .filter(|c| !c.passed())
                            .map(move |c| format!("{}/{}", st.name, c.name))
                    })
                    .chain(s.error.iter().map(|_| "setup".to_string()))
                    .collect();
                let _ = write!(
                    body,
                    "<li><a href=\"#suite-{i}\">{n}</a> <span class=\"muted\">{c}</span></li>",
                    n = escape(&s.id.name()),
                    c = escape(&checks.join(", ")),
                );
            }
            body.push_str("</ul></nav>");
        }
        body.push_str(&filters(&version_list));
        body.push_str(&legend());
        body.push_str("</header><main>");
        for (i, s) in &order {
            suite_html(&mut body, *i, s);
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
        page("topo-harness report", &body)
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

fn legend() -> String {
    let dot = |fill: &str, stroke: &str| {
        format!("<svg width=\"18\" height=\"18\" viewBox=\"0 0 18 18\"><circle cx=\"9\" cy=\"9\" r=\"6\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\"/></svg>")
    };
    format!(
        "<p class=\"legend\">{} ready {} serving, terminating {} terminating, not serving {} not ready \
         · a ring = hinted for the zone of its colour · chips under a node = the endpoints its proxy routes to, coloured by their zone \
         · <span style=\"color:#c62828\">red box</span> = expected and observed routes differ · grey chip = endpoint in no zone ({NO_ZONE_COLOUR})</p>",
        dot("#2e7d32", "#1b5e20"),
        dot("#f9a825", "#8d6e00"),
        dot("#bdbdbd", "#616161"),
        dot("#ffffff", "#616161"),
    )
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

fn step_html(out: &mut String, step: &StepRecord) {
    let passed = step.passed();
    let outcome = match &step.outcome {
        StepOutcome::Converged { polls } => format!("converged after {polls} poll(s)"),
        StepOutcome::TimedOut { waited, .. } => format!("timed out after {waited:?}"),
        StepOutcome::BackendFailed(e) => format!("backend error: {e}"),
    };
    let _ = write!(
        out,
        "<div class=\"step {s}\" data-step=\"{n}\"><h3><span class=\"badge {b}\">{t}</span> {n} <span class=\"muted\">{o} · {ms:.1} ms</span></h3><div class=\"step-body\">",
        s = if passed { "passed" } else { "failed" },
        b = if passed { "pass" } else { "fail" },
        t = if passed { "PASS" } else { "FAIL" },
        n = escape(&step.name),
        o = escape(&outcome),
        ms = step.duration.as_secs_f64() * 1000.0,
    );
    out.push_str("<figure class=\"picture\">");
    match &step.view {
        Some(view) => {
            let expected = view.expected_routes();
            let service = view.state.services.iter().find(|s| s.name == SERVICE_NAME);
            out.push_str(&render(&Picture {
                state: &view.state,
                service,
                version: view.version,
                routes: &view.observed.routes,
                expected: Some(&expected),
            }));
            let basis = if view.expected.routes.is_some() {
                "expected routes: the case's"
            } else {
                "expected routes: the model's (the case states none)"
            };
            let _ = write!(out, "<figcaption class=\"muted\">{basis}</figcaption>");
        }
        None => out.push_str("<p class=\"muted\">nothing was observed</p>"),
    }
    out.push_str("</figure>");
    checks_html(out, &step.checks);
    out.push_str("</div></div>");
}

fn suite_html(out: &mut String, index: usize, suite: &SuiteRecord) {
    let status = if suite.passed { "passed" } else { "failed" };
    let _ = write!(
        out,
        "<section class=\"suite {status}\" id=\"suite-{index}\" data-case=\"{c}\" data-version=\"{v}\" data-mode=\"{m}\" data-status=\"{status}\">\
         <details{open}><summary><h2><span class=\"badge {b}\">{t}</span> {n} <span class=\"muted\">{src} · {ms:.1} ms</span></h2></summary>",
        c = escape(&suite.id.case),
        v = suite.id.version,
        m = suite.id.proxy_mode.as_str(),
        open = if suite.passed { "" } else { " open" },
        b = if suite.passed { "pass" } else { "fail" },
        t = if suite.passed { "PASS" } else { "FAIL" },
        n = escape(&suite.id.name()),
        src = escape(&suite.id.source),
        ms = suite.duration.as_secs_f64() * 1000.0,
    );
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
        step_html(out, step);
    }
    out.push_str("</details></section>");
}

impl Reporter for HtmlReporter {
    fn event(&mut self, event: &Event) -> Result<(), ReportError> {
        match event {
            Event::RunStarted { backend, .. } => self.backend = Some(*backend),
            Event::SuitePhase { .. } => {}
            Event::Warning { suite, message } => self.record(suite).warnings.push(message.clone()),
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
                let record = self.record(suite);
                record.passed = *passed;
                record.error.clone_from(error);
                record.duration = *duration;
            }
            Event::RunFinished { counts, duration } => {
                self.html = self.build(counts, *duration);
                if let Some(path) = &self.path {
                    write_file(path, &self.html)?;
                }
            }
        }
        Ok(())
    }
}

/// The page for `explain`: one topology picture per Service that has endpoints, with the
/// model's routes for each node.
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
    body.push_str(&filters(&[]));
    body.push_str(&legend());
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
        let first_port = verdict.routes.first().map(|g| g.port.clone());
        let mut routes: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for group in verdict
            .routes
            .iter()
            .filter(|g| Some(&g.port) == first_port.as_ref())
        {
            let set = group.cluster.as_ref().or(group.local.as_ref());
            let mut ids: Vec<String> = set
                .into_iter()
                .flatten()
                .map(|a| identity.get(a.as_str()).unwrap_or(&a.as_str()).to_string())
                .collect();
            ids.sort();
            for node in analysis.group_node_names(group) {
                routes.insert(node.to_string(), ids.clone());
            }
        }
        let _ = write!(
            body,
            "<section class=\"suite\" id=\"suite-{i}\" data-case=\"{c}\" data-version=\"\" data-mode=\"\" data-status=\"\"><details open><summary><h2>{c} <span class=\"muted\">{h:?}; port {p}</span></h2></summary><div class=\"step\"><div class=\"step-body\"><figure class=\"picture\">{svg}</figure><div class=\"checks\">",
            c = escape(&verdict.service),
            h = verdict.heuristic,
            p = escape(first_port.as_deref().unwrap_or("-")),
            svg = render(&Picture {
                state,
                service: Some(service),
                version: analysis.environment.version(),
                routes: &routes,
                expected: None,
            }),
        );
        let hints = match (&verdict.hints.reason, &verdict.hints.detail) {
            (Some(r), Some(d)) => format!("{r}: {d}"),
            (Some(r), None) => r.clone(),
            (None, Some(d)) => d.clone(),
            (None, None) => format!("{:?}", verdict.hints.outcome),
        };
        let _ = write!(body, "<p><b>hints</b>: {}</p>", escape(&hints));
        let counts = |c: &crate::model::analysis::ZoneCounts| {
            c.iter()
                .map(|(zone, n)| format!("{zone}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !verdict.hints.allocations.is_empty() {
            let options: Vec<String> = verdict.hints.allocations.iter().map(counts).collect();
            let _ = write!(
                body,
                "<p>the controller allocates endpoints per zone: {}</p>",
                escape(&options.join(" or "))
            );
        }
        let _ = write!(
            body,
            "<p>the file's hints per zone: {}</p>",
            escape(
                &verdict
                    .hints
                    .observed
                    .as_ref()
                    .map(counts)
                    .unwrap_or_else(|| "none".to_string())
            )
        );
        for w in &verdict.warnings {
            let _ = write!(body, "<p class=\"check failed\">⚠ {}</p>", escape(w));
        }
        body.push_str("</div></div></div></details></section>");
    }
    if analysis.services.is_empty() {
        body.push_str("<p class=\"muted\">the file holds no Service</p>");
    }
    body.push_str("</main>");
    page("topo-harness explain", &body)
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
[hidden]{display:none!important}
#js-errors:empty{display:none}#js-errors{background:#ffebee;color:#b71c1c;padding:6px;white-space:pre-wrap}
"#;

const SCRIPT: &str = r#"
(function () {
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
      shown.forEach(function (s) { var d = s.querySelector('details'); if (d) d.open = true; });
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

/// The page shell: inline style, an error catcher before anything else runs (errors are
/// written into `#js-errors`, which tests read), the body, and the filter script.
fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{STYLE}</style>\
         <script>window.addEventListener('error', function (e) {{ var el = document.getElementById('js-errors'); if (el) el.textContent += (e.message || 'error') + '\\n'; }});</script>\
         </head><body><div id=\"js-errors\"></div><div id=\"js-status\" hidden></div>\n{body}\n<script>{SCRIPT}</script></body></html>\n",
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
