//! Identical failures, grouped. The same case, step and check failing with the same text —
//! once Kubernetes versions, proxy modes and timings are taken out of it — on many runs is one
//! failure with a list of runs: `routes/b1 fails identically on 1.30–1.37 × iptables, ipvs,
//! nftables (24 runs)`. The terminal, Markdown and HTML reporters show each group once, with
//! why it likely failed and the command to run next; JUnit keeps one test case per run.
//!
//! Skipped runs are grouped the same way (same case, same reason).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::backend::BackendKind;
use crate::case::ProxyMode;
use crate::check::{CheckName, CheckResult, CheckStatus};
use crate::model::KubeVersion;
use crate::runner::{StepView, SuiteId};

/// One failed check in a group, as the group's first run reported it.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupedCheck {
    /// The check (`routes/b1`, `hints`, `model`; `setup` for a suite that could not start).
    pub check: String,
    /// Its failure message in the first run.
    pub message: String,
    /// `file:line:column` of the expectation behind it (the step, for checks no expectation
    /// asks for; the case file for a setup failure).
    pub location: String,
    /// Whether the runs' messages differ in versions, modes or timings (the first is shown).
    pub varies: bool,
}

/// Why a group of failures most likely failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Likely {
    /// The model check passed on the same step: what was observed is what upstream does, so
    /// the case's expectation is the likely mistake.
    CaseExpectation,
    /// The model check failed too: the implementation under test differs from upstream.
    Implementation,
    /// Only the golden snapshot differs.
    Golden,
    /// Nothing to add to the messages (a timeout, a backend error, a setup failure).
    Unknown,
}

/// Failures that are the same on several runs.
#[derive(Clone, Debug, PartialEq)]
pub struct FailureGroup {
    /// The case.
    pub case: String,
    /// The case file.
    pub file: String,
    /// The step; `None` for a setup failure.
    pub step: Option<String>,
    /// The failed checks.
    pub checks: Vec<GroupedCheck>,
    /// The runs, in run order (the first is the one shown).
    pub runs: Vec<SuiteId>,
    /// Why it likely failed.
    pub likely: Likely,
    /// What the model says about the first run's hints (from its step view).
    pub model_hints: Option<String>,
    /// The first run's step, for pictures.
    pub view: Option<Box<StepView>>,
}

impl FailureGroup {
    /// `case/step: routes/b1 fails identically on 1.30–1.37 × iptables, ipvs (16 runs)`.
    pub fn headline(&self) -> String {
        let names: Vec<&str> = self.checks.iter().map(|c| c.check.as_str()).collect();
        let verb = match (self.runs.len(), names.len()) {
            (1, _) => "failed on",
            (_, 1) => "fails identically on",
            _ => "fail identically on",
        };
        let place = match &self.step {
            Some(step) => format!("{}/{step}", self.case),
            None => self.case.clone(),
        };
        format!(
            "{place}: {} {verb} {}",
            names.join(", "),
            describe_runs(&self.runs)
        )
    }

    /// Why it likely failed, in words; `None` when the messages say it all.
    pub fn why(&self) -> Option<String> {
        let model = self
            .model_hints
            .as_deref()
            .map(|m| format!(" (the model: {m})"))
            .unwrap_or_default();
        match self.likely {
            Likely::CaseExpectation => Some(format!(
                "the model check passed on this step, so what was observed is what upstream does here: the case's expectation is the likely mistake{model}"
            )),
            Likely::Implementation => Some(format!(
                "the model check failed too: the EndpointSlice controller or the proxy does not do what upstream does here{model}"
            )),
            Likely::Golden => Some(
                "only the golden snapshot differs: if the change is intended, update the golden (see the message)"
                    .to_string(),
            ),
            Likely::Unknown => None,
        }
    }

    /// The command that shows the first run's state with the model's reasons: `explain` on
    /// its `--dump-state` file (`dump_dir` when the run wrote one; otherwise a re-run of that
    /// one suite that writes it first). `None` for a setup failure.
    pub fn next_command(&self, dump_dir: Option<&Path>) -> Option<String> {
        let step = self.step.as_deref()?;
        let first = self.runs.first()?;
        let index = first.steps.iter().position(|(name, _, _)| name == step)?;
        let state = format!(
            "{}@{}-{}/{:02}-{step}.yaml",
            first.case,
            first.version,
            first.proxy_mode.as_str(),
            index + 1
        );
        if let Some(dir) = dump_dir {
            return Some(format!(
                "topo-harness explain {}",
                dir.join(state).display()
            ));
        }
        // A built-in case runs by name from any directory; a user's by its file.
        let case = if Path::new(&first.file).is_file() {
            shell_word(&first.file)
        } else {
            first.case.clone()
        };
        let backend = match first.backend {
            BackendKind::Sim => String::new(),
            other => format!(" --backend {}", other.as_str()),
        };
        Some(format!(
            "topo-harness run {case} --kubernetes {} --proxy-mode {}{backend} --dump-state states && topo-harness explain states/{state}",
            first.version,
            first.proxy_mode.as_str()
        ))
    }
}

/// `word`, quoted for a POSIX shell when it needs it.
fn shell_word(word: &str) -> String {
    let plain = word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./@:+=,".contains(c));
    if plain && !word.is_empty() {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// One failed check's key: case, step, check and the normalized message.
type Key = (String, Option<String>, String, String);

/// A failed check seen on one or more runs.
#[derive(Clone, Debug)]
struct Entry {
    key: Key,
    file: String,
    message: String,
    location: String,
    varies: bool,
    runs: Vec<SuiteId>,
}

/// What a step's `model` check said on one run.
#[derive(Clone, Debug, Default)]
struct StepFacts {
    model_passed: bool,
    model_hints: Option<String>,
    view: Option<Box<StepView>>,
}

/// Collects failures from the runner's events and groups them.
#[derive(Clone, Debug, Default)]
pub struct FailureGroups {
    entries: Vec<Entry>,
    /// Key → its entry's index (a failing catalog has thousands of failed checks).
    index: std::collections::HashMap<Key, usize>,
    /// (suite name, step) → the facts of that step.
    steps: BTreeMap<(String, String), StepFacts>,
}

impl FailureGroups {
    /// Records one finished step of `suite`.
    pub fn step(
        &mut self,
        suite: &SuiteId,
        step: &str,
        checks: &[CheckResult],
        view: Option<&StepView>,
    ) {
        let failed: Vec<(&CheckResult, &str)> = checks
            .iter()
            .filter_map(|c| match &c.status {
                CheckStatus::Failed(m) => Some((c, m.as_str())),
                CheckStatus::Passed => None,
            })
            .collect();
        if failed.is_empty() {
            return;
        }
        let model_passed = checks
            .iter()
            .any(|c| c.name == CheckName::Model && c.passed());
        self.steps.insert(
            (suite.name(), step.to_string()),
            StepFacts {
                model_passed,
                model_hints: view.map(|v| v.model_hints.clone()),
                view: view.map(|v| Box::new(v.clone())),
            },
        );
        for (check, message) in failed {
            let name = check.name.to_string();
            let location = view
                .and_then(|v| v.expected.location_of(&name))
                .filter(|(line, _)| *line > 0)
                .map(|(line, column)| format!("{}:{line}:{column}", suite.file))
                .unwrap_or_else(|| suite.step_location(step));
            self.add(suite, Some(step), name, message, location);
        }
    }

    /// Records a suite that failed outside its steps (setup or cleanup).
    pub fn setup(&mut self, suite: &SuiteId, error: &str) {
        self.add(suite, None, "setup".to_string(), error, suite.file.clone());
    }

    fn add(
        &mut self,
        suite: &SuiteId,
        step: Option<&str>,
        check: String,
        message: &str,
        location: String,
    ) {
        let key: Key = (
            suite.case.clone(),
            step.map(str::to_string),
            check,
            normalize(message),
        );
        match self.index.get(&key) {
            Some(&at) => {
                let entry = &mut self.entries[at];
                entry.varies |= entry.message != message;
                entry.runs.push(suite.clone());
            }
            None => {
                self.index.insert(key.clone(), self.entries.len());
                self.entries.push(Entry {
                    key,
                    file: suite.file.clone(),
                    message: message.to_string(),
                    location,
                    varies: false,
                    runs: vec![suite.clone()],
                });
            }
        }
    }

    /// Whether nothing failed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many runs failed (each counted once).
    pub fn failed_runs(&self) -> usize {
        self.entries
            .iter()
            .flat_map(|e| e.runs.iter().map(SuiteId::name))
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// The groups, in the order their first failure happened: failed checks of one step that
    /// failed on exactly the same runs form one group.
    pub fn groups(&self) -> Vec<FailureGroup> {
        let mut groups: Vec<FailureGroup> = Vec::new();
        // (case, step, the runs' names) → the group's index.
        let mut by_runs: std::collections::HashMap<(&str, Option<&str>, Vec<String>), usize> =
            std::collections::HashMap::new();
        for entry in &self.entries {
            let (case, step, check, _) = &entry.key;
            let names: Vec<String> = entry.runs.iter().map(SuiteId::name).collect();
            let grouped = GroupedCheck {
                check: check.clone(),
                message: entry.message.clone(),
                location: entry.location.clone(),
                varies: entry.varies,
            };
            match by_runs.entry((case.as_str(), step.as_deref(), names)) {
                std::collections::hash_map::Entry::Occupied(at) => {
                    groups[*at.get()].checks.push(grouped);
                }
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(groups.len());
                    groups.push(FailureGroup {
                        case: case.clone(),
                        file: entry.file.clone(),
                        step: step.clone(),
                        checks: vec![grouped],
                        runs: entry.runs.clone(),
                        likely: Likely::Unknown,
                        model_hints: None,
                        view: None,
                    });
                }
            }
        }
        for group in &mut groups {
            let facts: Vec<Option<&StepFacts>> = match &group.step {
                Some(step) => group
                    .runs
                    .iter()
                    .map(|r| self.steps.get(&(r.name(), step.clone())))
                    .collect(),
                None => Vec::new(),
            };
            if let Some(Some(first)) = facts.first() {
                group.model_hints.clone_from(&first.model_hints);
                group.view.clone_from(&first.view);
            }
            group.likely = likely(group, &facts);
        }
        groups
    }
}

/// Why `group` likely failed, from its checks and each run's model check.
fn likely(group: &FailureGroup, facts: &[Option<&StepFacts>]) -> Likely {
    let checks: Vec<&str> = group.checks.iter().map(|c| c.check.as_str()).collect();
    if checks.contains(&"model") {
        return Likely::Implementation;
    }
    if checks.iter().all(|c| *c == "snapshot") {
        return Likely::Golden;
    }
    let expectation = |c: &str| {
        let field = c.split('/').next().unwrap_or_default();
        matches!(
            field,
            "hints"
                | "node_hints"
                | "slices"
                | "routes"
                | "external_routes"
                | "traffic_shares"
                | "ready_endpoints_hinted"
                | "hints_own_zone"
                | "events"
                | "rejected"
                | "snapshot"
        )
    };
    let model_passed_everywhere =
        !facts.is_empty() && facts.iter().all(|f| f.is_some_and(|f| f.model_passed));
    if model_passed_everywhere && checks.iter().all(|c| expectation(c)) {
        Likely::CaseExpectation
    } else {
        Likely::Unknown
    }
}

/// `message` without what differs between runs that fail the same way: Kubernetes versions
/// (`1.34`, `v1.34.2`), proxy mode names, durations (`1.2s`, `30ms`), poll counts and golden
/// line numbers become placeholders.
pub fn normalize(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(|c: char| c.is_ascii_alphanumeric()) {
        out.push_str(&rest[..start]);
        let word_end = rest[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == 'µ'))
            .map_or(rest.len(), |e| start + e);
        let word = &rest[start..word_end];
        // A sentence's full stop is not part of the word.
        let trimmed = word.trim_end_matches('.');
        out.push_str(&placeholder(trimmed, &out).unwrap_or_else(|| trimmed.to_string()));
        out.push_str(&word[trimmed.len()..]);
        rest = &rest[word_end..];
    }
    out.push_str(rest);
    out
}

/// The placeholder for one word of a message, when it is something that varies by run.
fn placeholder(word: &str, before: &str) -> Option<String> {
    if ProxyMode::ALL
        .iter()
        .any(|m| m.as_str() == word && *m != ProxyMode::None)
    {
        return Some("<mode>".into());
    }
    let version = word.strip_prefix('v').unwrap_or(word);
    let mut parts = version.split('.');
    let is_number = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if parts.next() == Some("1")
        && parts.next().is_some_and(is_number)
        && parts.clone().count() <= 1
        && parts.all(is_number)
    {
        return Some("<version>".into());
    }
    let unit = ["ms", "µs", "s"]
        .iter()
        .find_map(|u| word.strip_suffix(u))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
    if unit.is_some() {
        return Some("<time>".into());
    }
    if is_number(word) && (before.ends_with(".snap:") || before.ends_with('(')) {
        return Some("<n>".into());
    }
    None
}

/// The runs as versions × proxy modes: `1.30–1.37 × iptables, ipvs, nftables (24 runs)`;
/// modes run on different versions are listed per version set (`1.28 × iptables, ipvs;
/// 1.29–1.30 × iptables, ipvs, nftables (7 runs)`).
pub fn describe_runs(runs: &[SuiteId]) -> String {
    let mut by_mode: BTreeMap<&str, BTreeSet<KubeVersion>> = BTreeMap::new();
    for r in runs {
        by_mode
            .entry(r.proxy_mode.as_str())
            .or_default()
            .insert(r.version);
    }
    let mut by_versions: Vec<(BTreeSet<KubeVersion>, Vec<&str>)> = Vec::new();
    for (mode, versions) in by_mode {
        match by_versions.iter_mut().find(|(v, _)| *v == versions) {
            Some((_, modes)) => modes.push(mode),
            None => by_versions.push((versions, vec![mode])),
        }
    }
    by_versions.sort_by(|a, b| a.0.iter().next().cmp(&b.0.iter().next()));
    let parts: Vec<String> = by_versions
        .iter()
        .map(|(versions, modes)| format!("{} × {}", version_ranges(versions), modes.join(", ")))
        .collect();
    let n = runs.len();
    format!(
        "{} ({n} run{})",
        parts.join("; "),
        if n == 1 { "" } else { "s" }
    )
}

/// Minors as ranges: `1.21, 1.24–1.26`.
pub fn version_ranges(versions: &BTreeSet<KubeVersion>) -> String {
    let mut parts = Vec::new();
    let mut iter = versions.iter().peekable();
    while let Some(&start) = iter.next() {
        let mut end = start;
        while let Some(&&next) = iter.peek() {
            if next.minor == end.minor + 1 {
                end = next;
                iter.next();
            } else {
                break;
            }
        }
        parts.push(if end == start {
            start.to_string()
        } else {
            format!("{start}–{end}")
        });
    }
    parts.join(", ")
}

/// Skipped runs of one case for one reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkipGroup {
    /// The case.
    pub case: String,
    /// The reason (the first run's).
    pub reason: String,
    /// The runs.
    pub runs: Vec<SuiteId>,
}

impl SkipGroup {
    /// `case on 1.21–1.26 × iptables (6 runs): reason`.
    pub fn line(&self) -> String {
        format!(
            "{} on {}: {}",
            self.case,
            describe_runs(&self.runs),
            self.reason
        )
    }
}

/// Skipped runs grouped by case and (normalized) reason, in first-seen order.
pub fn group_skips<'a>(
    skipped: impl IntoIterator<Item = (&'a SuiteId, &'a str)>,
) -> Vec<SkipGroup> {
    let mut groups: Vec<(String, SkipGroup)> = Vec::new();
    for (suite, reason) in skipped {
        let key = normalize(reason);
        match groups
            .iter_mut()
            .find(|(k, g)| *k == key && g.case == suite.case)
        {
            Some((_, g)) => g.runs.push(suite.clone()),
            None => groups.push((
                key,
                SkipGroup {
                    case: suite.case.clone(),
                    reason: reason.to_string(),
                    runs: vec![suite.clone()],
                },
            )),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite(case: &str, minor: u32, mode: ProxyMode) -> SuiteId {
        SuiteId {
            case: case.into(),
            file: "my-cases/c.yaml".into(),
            steps: vec![("one".into(), 7, 5), ("two".into(), 12, 5)],
            source: String::new(),
            version: KubeVersion::new(minor),
            proxy_mode: mode,
            backend: BackendKind::Sim,
        }
    }

    fn failed(name: CheckName, message: &str) -> CheckResult {
        CheckResult::new(name, Some(message.to_string()))
    }

    fn passed(name: CheckName) -> CheckResult {
        CheckResult::new(name, None)
    }

    #[test]
    fn the_same_failure_on_many_runs_is_one_group() {
        let mut groups = FailureGroups::default();
        let modes = [ProxyMode::Iptables, ProxyMode::Ipvs, ProxyMode::Nftables];
        for minor in 30..=37 {
            for mode in modes {
                let checks = [
                    failed(
                        CheckName::Routes("b1".into()),
                        "expected [a1]\nobserved [b1]\n  missing:    [a1]\n  unexpected: [b1]",
                    ),
                    passed(CheckName::Model),
                ];
                groups.step(&suite("c", minor, mode), "one", &checks, None);
            }
        }
        let all = groups.groups();
        assert_eq!(all.len(), 1, "{all:#?}");
        assert_eq!(
            all[0].headline(),
            "c/one: routes/b1 fails identically on 1.30–1.37 × iptables, ipvs, nftables (24 runs)"
        );
        assert_eq!(all[0].likely, Likely::CaseExpectation);
        assert_eq!(groups.failed_runs(), 24);
        // Without a view, the location is the step's line.
        assert_eq!(all[0].checks[0].location, "my-cases/c.yaml:7:5");
    }

    #[test]
    fn different_texts_checks_or_steps_are_different_groups() {
        let mut groups = FailureGroups::default();
        let routes = |text: &str| [failed(CheckName::Routes("b1".into()), text)];
        groups.step(
            &suite("c", 30, ProxyMode::Iptables),
            "one",
            &routes("expected [a1]\nobserved [b1]"),
            None,
        );
        groups.step(
            &suite("c", 31, ProxyMode::Iptables),
            "one",
            &routes("expected [a1]\nobserved [c1]"),
            None,
        );
        groups.step(
            &suite("c", 32, ProxyMode::Iptables),
            "two",
            &routes("expected [a1]\nobserved [b1]"),
            None,
        );
        groups.step(
            &suite("c", 33, ProxyMode::Iptables),
            "one",
            &[failed(CheckName::Hints, "expected [a1]\nobserved [b1]")],
            None,
        );
        groups.step(
            &suite("d", 30, ProxyMode::Iptables),
            "one",
            &routes("expected [a1]\nobserved [b1]"),
            None,
        );
        assert_eq!(groups.groups().len(), 5);
    }

    #[test]
    fn checks_failing_on_the_same_runs_share_a_group() {
        let mut groups = FailureGroups::default();
        for mode in [ProxyMode::Iptables, ProxyMode::Ipvs] {
            let checks = [
                failed(
                    CheckName::Hints,
                    "expected hints {a: [x]}\nobserved no hints",
                ),
                failed(
                    CheckName::Routes("w".into()),
                    "expected [x]\nobserved [x, y]",
                ),
                failed(
                    CheckName::Model,
                    "routes/w (expected = model):\n  expected [x]",
                ),
            ];
            groups.step(&suite("c", 34, mode), "one", &checks, None);
        }
        let all = groups.groups();
        assert_eq!(all.len(), 1);
        assert_eq!(
            all[0].headline(),
            "c/one: hints, routes/w, model fail identically on 1.34 × iptables, ipvs (2 runs)"
        );
        assert_eq!(all[0].likely, Likely::Implementation);
    }

    #[test]
    fn versions_modes_and_timings_do_not_split_a_group() {
        assert_eq!(
            normalize("timed out after 30.5s (12 polls) on 1.34 with nftables; image v1.34.2."),
            "timed out after <time> (<n> polls) on <version> with <mode>; image <version>."
        );
        assert_eq!(
            normalize("differs from the golden fixtures/snapshots/x.snap:120 (- golden)"),
            "differs from the golden fixtures/snapshots/x.snap:<n> (- golden)"
        );
        // Identities and counts are what differ between real failures: they stay.
        assert_eq!(
            normalize("expected [worker2, a1*2]"),
            "expected [worker2, a1*2]"
        );
        assert_eq!(normalize("a=2 b=1 10.244.1.2"), "a=2 b=1 10.244.1.2");
        let mut groups = FailureGroups::default();
        for (minor, mode) in [(30, ProxyMode::Iptables), (31, ProxyMode::Nftables)] {
            let text = format!("timed out after {minor}.0s on 1.{minor}/{}", mode.as_str());
            groups.step(
                &suite("c", minor, mode),
                "one",
                &[failed(CheckName::Converge, &text)],
                None,
            );
        }
        let all = groups.groups();
        assert_eq!(all.len(), 1);
        assert!(all[0].checks[0].varies);
        assert_eq!(all[0].likely, Likely::Unknown);
    }

    #[test]
    fn runs_are_described_by_version_ranges_and_modes() {
        let runs: Vec<SuiteId> = [
            (28, ProxyMode::Iptables),
            (28, ProxyMode::Ipvs),
            (29, ProxyMode::Iptables),
            (29, ProxyMode::Ipvs),
            (29, ProxyMode::Nftables),
            (30, ProxyMode::Iptables),
            (30, ProxyMode::Ipvs),
            (30, ProxyMode::Nftables),
        ]
        .iter()
        .map(|(m, p)| suite("c", *m, *p))
        .collect();
        assert_eq!(
            describe_runs(&runs),
            "1.28–1.30 × iptables, ipvs; 1.29–1.30 × nftables (8 runs)"
        );
        let gaps: BTreeSet<KubeVersion> = [21, 24, 25, 26, 30].map(KubeVersion::new).into();
        assert_eq!(version_ranges(&gaps), "1.21, 1.24–1.26, 1.30");
        assert_eq!(
            describe_runs(&[suite("c", 34, ProxyMode::Iptables)]),
            "1.34 × iptables (1 run)"
        );
    }

    #[test]
    fn the_next_command_explains_the_first_runs_state() {
        let mut groups = FailureGroups::default();
        groups.step(
            &suite("c", 34, ProxyMode::Ipvs),
            "two",
            &[failed(CheckName::Hints, "x")],
            None,
        );
        let group = &groups.groups()[0];
        assert_eq!(
            group.next_command(Some(Path::new("dumps"))).as_deref(),
            Some("topo-harness explain dumps/c@1.34-ipvs/02-two.yaml")
        );
        // The file does not exist here: the case is named (a built-in runs by name).
        assert_eq!(
            group.next_command(None).as_deref(),
            Some("topo-harness run c --kubernetes 1.34 --proxy-mode ipvs --dump-state states && topo-harness explain states/c@1.34-ipvs/02-two.yaml")
        );
        let mut setup = FailureGroups::default();
        setup.setup(
            &suite("c", 34, ProxyMode::Ipvs),
            "kind create cluster failed",
        );
        assert_eq!(setup.groups()[0].next_command(None), None);
        assert_eq!(shell_word("my cases/c.yaml"), "'my cases/c.yaml'");
    }

    #[test]
    fn skips_group_by_case_and_reason() {
        let a = suite("c", 21, ProxyMode::Iptables);
        let b = suite("c", 22, ProxyMode::Iptables);
        let c = suite("c", 23, ProxyMode::Iptables);
        let skipped = [
            (&a, "kind backend: cannot change CPU on 1.21"),
            (&b, "kind backend: cannot change CPU on 1.22"),
            (&c, "other"),
        ];
        let groups = group_skips(skipped.iter().map(|(s, r)| (*s, *r)));
        assert_eq!(groups.len(), 2);
        assert_eq!(
            groups[0].line(),
            "c on 1.21–1.22 × iptables (2 runs): kind backend: cannot change CPU on 1.21"
        );
    }
}
