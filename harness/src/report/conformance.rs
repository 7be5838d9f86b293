//! The conformance report an implementation publishes (modelled on Gateway API's conformance
//! reports): who was tested (`--implementation`), on which Kubernetes versions and proxy
//! modes, and per profile (`core`, `extended`, `legacy`) a result with passed/failed/skipped
//! counts and the failed suites by name, plus the harness version and the catalog's digest so
//! the run can be reproduced. Written as YAML; its JSON Schema is
//! `harness/schema/conformance-report.json` ([`schema_json`]).
//!
//! Result of a profile: `failure` when a suite failed; `partial` when none failed but the
//! backend could not run some (skipped) or nothing ran; `success` otherwise. Suites a case
//! does not apply to (its version range, a gate locked in that version) are not tests of the
//! run and are not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{write_file, ReportError, Reporter};
use crate::case::types::CASE_API_VERSION;
use crate::case::{Case, Profile, ProxyMode};
use crate::runner::{Event, SuiteId};

/// `kind` of the report.
pub const REPORT_KIND: &str = "ConformanceReport";

/// The implementation under test (`--implementation name=…,version=…,url=…,contact=…`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Implementation {
    /// Project name, e.g. `cilium` or `kube-proxy`.
    pub name: String,
    /// The version tested.
    pub version: String,
    /// Where the project lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Who to ask about the report (GitHub handles, mail addresses).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contact: Vec<String>,
}

impl std::str::FromStr for Implementation {
    type Err = String;

    /// `name=…,version=…[,url=…][,contact=…]…` (`contact` may repeat).
    fn from_str(text: &str) -> Result<Self, String> {
        let (mut name, mut version, mut url, mut contact) = (None, None, None, Vec::new());
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(format!(
                    "--implementation: `{part}` is not key=value (expected name=…,version=…,url=…,contact=…)"
                ));
            };
            let value = value.trim().to_string();
            if value.is_empty() {
                return Err(format!("--implementation: `{key}` has no value"));
            }
            match key.trim() {
                "name" => name = Some(value),
                "version" => version = Some(value),
                "url" => url = Some(value),
                "contact" => contact.push(value),
                other => {
                    return Err(format!(
                        "--implementation: unknown key `{other}` (expected name, version, url, contact)"
                    ))
                }
            }
        }
        match (name, version) {
            (Some(name), Some(version)) => Ok(Implementation {
                name,
                version,
                url,
                contact,
            }),
            _ => Err("--implementation needs at least name=… and version=…".to_string()),
        }
    }
}

/// A profile's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProfileResult {
    /// Every suite run passed, and none was skipped by the backend.
    Success,
    /// Nothing failed, but the backend skipped some suites (or none ran).
    Partial,
    /// A suite failed.
    Failure,
}

/// Suite counts of one profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Statistics {
    /// Suites (case × version × proxy mode) whose checks all passed.
    pub passed: usize,
    /// Suites with a failed check, a timeout or a backend error.
    pub failed: usize,
    /// Suites the backend could not run.
    pub skipped: usize,
}

/// One profile's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProfileReport {
    /// The profile.
    pub name: Profile,
    /// The verdict.
    pub result: ProfileResult,
    /// Suite counts.
    pub statistics: Statistics,
    /// The failed suites, `case@1.NN/mode`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_tests: Vec<String>,
    /// The suites the backend skipped, `case@1.NN/mode`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_tests: Vec<String>,
}

/// What ran the tests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HarnessInfo {
    /// topo-harness's version.
    pub version: String,
    /// `sha256:` of the case catalog (each case's name and file, in name order).
    #[schemars(extend("pattern" = "^sha256:[0-9a-f]{64}$"))]
    pub catalog_digest: String,
    /// How many cases the catalog holds.
    pub cases: usize,
    /// The backend: `sim`, `kind` or `kubeconfig`.
    #[schemars(extend("enum" = ["sim", "kind", "kubeconfig"]))]
    pub backend: String,
}

/// The EndpointSlice controller whose slices the run judged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ControllerUnderTest {
    /// Whether kube-controller-manager's own EndpointSlice controller ran (`--controller
    /// builtin`); `false` for a cluster created without it (`--controller none`).
    pub in_tree: bool,
    /// The `endpointslice.kubernetes.io/managed-by` value of the slices judged as the
    /// controller's (`--managed-by`).
    pub managed_by: String,
}

impl Default for ControllerUnderTest {
    fn default() -> Self {
        ControllerUnderTest {
            in_tree: true,
            managed_by: crate::model::state::MANAGED_BY_CONTROLLER.to_string(),
        }
    }
}

/// The published report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "topo-harness conformance report")]
pub struct ConformanceReport {
    /// Always `topo-harness/v1alpha1`.
    #[schemars(extend("const" = "topo-harness/v1alpha1"))]
    pub api_version: String,
    /// Always `ConformanceReport`.
    #[schemars(extend("const" = "ConformanceReport"))]
    pub kind: String,
    /// When the run finished (UTC, RFC 3339).
    #[schemars(extend("pattern" = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"))]
    pub date: String,
    /// The implementation under test.
    pub implementation: Implementation,
    /// The harness and catalog that produced the report.
    pub harness: HarnessInfo,
    /// The EndpointSlice controller under test.
    pub controller: ControllerUnderTest,
    /// Kubernetes versions run, `1.NN`.
    #[schemars(extend("items" = { "type": "string", "pattern": "^1\\.[0-9]+$" }))]
    pub kubernetes_versions: Vec<String>,
    /// Proxy modes run: `iptables`, `nftables`, `ipvs`, or `own dataplane` (no kube-proxy).
    #[schemars(extend("items" = { "type": "string", "enum": ["iptables", "nftables", "ipvs", "own dataplane"] }))]
    pub proxy_modes: Vec<String>,
    /// One entry per profile that had suites in the run.
    pub profiles: Vec<ProfileReport>,
}

/// The JSON Schema of the report (what `harness/schema/conformance-report.json` holds).
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(ConformanceReport);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// `sha256:…` of a catalog: each case's name and file contents, in name order.
pub fn catalog_digest(cases: &[Case]) -> Result<String, String> {
    let mut sorted: Vec<&Case> = cases.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut hasher = Sha256::new();
    for case in sorted {
        // A built-in case is digested from the text embedded in the binary: an installed
        // tool runs anywhere, with no `cases/` beside it.
        let path = case.path.to_string_lossy();
        let embedded = crate::case::builtin_case_files()
            .iter()
            .find(|(file, _)| *file == path)
            .map(|(_, text)| text.as_bytes().to_vec());
        let bytes = match embedded {
            Some(bytes) if !case.path.exists() => bytes,
            _ => std::fs::read(&case.path)
                .map_err(|e| format!("{}: cannot read: {e}", case.path.display()))?,
        };
        hasher.update(case.name.as_bytes());
        hasher.update(b"\n");
        hasher.update(&bytes);
        hasher.update(b"\n");
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(format!("sha256:{hex}"))
}

/// `proxy mode` as the report names it.
pub fn dataplane_name(mode: ProxyMode) -> &'static str {
    match mode {
        ProxyMode::None => "own dataplane",
        other => other.as_str(),
    }
}

/// Seconds since the Unix epoch as RFC 3339 UTC (`2026-12-02T16:45:00Z`).
pub fn rfc3339(unix_secs: u64) -> String {
    let days = i64::try_from(unix_secs / 86_400).unwrap_or(0);
    let secs = unix_secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Builds the conformance report from the run's events.
pub struct ConformanceReporter {
    path: Option<PathBuf>,
    implementation: Implementation,
    harness: HarnessInfo,
    controller: ControllerUnderTest,
    /// Case name → case: its profile, and whether a skipped suite applies to it.
    cases: BTreeMap<String, Case>,
    versions: BTreeSet<crate::model::KubeVersion>,
    modes: BTreeSet<ProxyMode>,
    stats: BTreeMap<Profile, ProfileReport>,
    report: Option<ConformanceReport>,
}

impl ConformanceReporter {
    /// A reporter writing to `path` (when given) for a run of cases from `catalog` (the whole
    /// catalog loaded, which the report's digest covers); fails when a case file cannot be
    /// read for the digest.
    pub fn new(
        path: Option<PathBuf>,
        implementation: Implementation,
        catalog: &[Case],
    ) -> Result<Self, String> {
        Ok(ConformanceReporter {
            path,
            implementation,
            harness: HarnessInfo {
                version: env!("CARGO_PKG_VERSION").to_string(),
                catalog_digest: catalog_digest(catalog)?,
                cases: catalog.len(),
                backend: String::new(),
            },
            controller: ControllerUnderTest::default(),
            cases: catalog
                .iter()
                .map(|c| (c.name.clone(), c.clone()))
                .collect(),
            versions: BTreeSet::new(),
            modes: BTreeSet::new(),
            stats: BTreeMap::new(),
            report: None,
        })
    }

    /// Names the EndpointSlice controller under test (default: the in-tree one).
    pub fn with_controller(mut self, controller: ControllerUnderTest) -> Self {
        self.controller = controller;
        self
    }

    /// The report, once the run finished.
    pub fn report(&self) -> Option<&ConformanceReport> {
        self.report.as_ref()
    }

    fn entry(&mut self, suite: &SuiteId) -> &mut ProfileReport {
        let profile = self
            .cases
            .get(&suite.case)
            .map(|c| c.profile)
            .unwrap_or_default();
        self.stats.entry(profile).or_insert(ProfileReport {
            name: profile,
            result: ProfileResult::Partial,
            statistics: Statistics::default(),
            failed_tests: Vec::new(),
            skipped_tests: Vec::new(),
        })
    }

    fn finish(&mut self) -> ConformanceReport {
        let profiles = Profile::ALL
            .iter()
            .filter_map(|p| self.stats.get(p).cloned())
            .map(|mut p| {
                let s = p.statistics;
                p.result = if s.failed > 0 {
                    ProfileResult::Failure
                } else if s.skipped > 0 || s.passed == 0 {
                    ProfileResult::Partial
                } else {
                    ProfileResult::Success
                };
                p
            })
            .collect();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut modes: Vec<String> = self
            .modes
            .iter()
            .map(|m| dataplane_name(*m).to_string())
            .collect();
        modes.dedup();
        ConformanceReport {
            api_version: CASE_API_VERSION.to_string(),
            kind: REPORT_KIND.to_string(),
            date: rfc3339(now),
            implementation: self.implementation.clone(),
            harness: self.harness.clone(),
            controller: self.controller.clone(),
            kubernetes_versions: self.versions.iter().map(ToString::to_string).collect(),
            proxy_modes: modes,
            profiles,
        }
    }
}

/// The report as YAML.
pub fn to_yaml(report: &ConformanceReport) -> Result<String, ReportError> {
    serde_saphyr::to_string(report).map_err(|e| ReportError::Conformance(e.to_string()))
}

impl Reporter for ConformanceReporter {
    fn event(&mut self, event: &Event) -> Result<(), ReportError> {
        match event {
            Event::RunStarted { backend, .. } => {
                self.harness.backend = backend.as_str().to_string();
            }
            Event::SuiteSkipped { suite, .. } => {
                // Only a suite the case applies to, refused by the backend, is a skipped test.
                let applies = self
                    .cases
                    .get(&suite.case)
                    .is_some_and(|c| c.shape(suite.version, suite.proxy_mode).is_ok());
                if applies {
                    self.versions.insert(suite.version);
                    self.modes.insert(suite.proxy_mode);
                    let entry = self.entry(suite);
                    entry.statistics.skipped += 1;
                    entry.skipped_tests.push(suite.name());
                }
            }
            Event::SuiteStarted { .. }
            | Event::SuiteEnvironment { .. }
            | Event::SuitePhase { .. }
            | Event::StepFinished { .. }
            | Event::Warning { .. } => {}
            Event::SuiteFinished { suite, passed, .. } => {
                self.versions.insert(suite.version);
                self.modes.insert(suite.proxy_mode);
                let entry = self.entry(suite);
                if *passed {
                    entry.statistics.passed += 1;
                } else {
                    entry.statistics.failed += 1;
                    entry.failed_tests.push(suite.name());
                }
            }
            Event::RunFinished { .. } => {
                let report = self.finish();
                if let Some(path) = &self.path {
                    write_file(path, &to_yaml(&report)?)?;
                }
                self.report = Some(report);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_implementation_flag() {
        let i: Implementation =
            "name=cilium, version=1.18.0,url=https://cilium.io,contact=@a,contact=@b"
                .parse()
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(i.name, "cilium");
        assert_eq!(i.version, "1.18.0");
        assert_eq!(i.url.as_deref(), Some("https://cilium.io"));
        assert_eq!(i.contact, vec!["@a", "@b"]);
        for (bad, why) in [
            ("name=x", "needs at least name"),
            ("name=x,version=1,team=y", "unknown key `team`"),
            ("name=x,version", "is not key=value"),
            ("name=,version=1", "`name` has no value"),
        ] {
            let e = bad.parse::<Implementation>().err().unwrap_or_default();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    fn seed() -> Case {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../cases/seed-001-kube-dns-two-zones.yaml");
        crate::case::load_case_file(&path).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn suite(case: &Case, minor: u32, mode: ProxyMode) -> SuiteId {
        SuiteId {
            case: case.name.clone(),
            file: String::new(),
            steps: Vec::new(),
            source: case.source.clone(),
            version: crate::model::KubeVersion::new(minor),
            proxy_mode: mode,
            backend: crate::backend::BackendKind::Kind,
        }
    }

    fn run(events: &[Event], case: &Case) -> ConformanceReport {
        let implementation = "name=x,version=1".parse().unwrap_or_else(|e| panic!("{e}"));
        let mut reporter =
            ConformanceReporter::new(None, implementation, std::slice::from_ref(case))
                .unwrap_or_else(|e| panic!("{e}"));
        for e in events {
            reporter.event(e).unwrap_or_else(|e| panic!("{e}"));
        }
        reporter
            .event(&Event::RunFinished {
                counts: crate::runner::Counts::default(),
                duration: std::time::Duration::ZERO,
                timing: Default::default(),
            })
            .unwrap_or_else(|e| panic!("{e}"));
        reporter
            .report()
            .cloned()
            .unwrap_or_else(|| panic!("no report"))
    }

    #[test]
    fn a_suite_the_backend_skipped_makes_the_profile_partial() {
        let case = seed();
        let ran = suite(&case, 34, ProxyMode::Iptables);
        let refused = suite(&case, 35, ProxyMode::Iptables);
        let not_applicable = suite(&case, 21, ProxyMode::Nftables);
        assert!(case.shape(refused.version, refused.proxy_mode).is_ok());
        assert!(case
            .shape(not_applicable.version, not_applicable.proxy_mode)
            .is_err());
        let finished = |suite: &SuiteId, passed| Event::SuiteFinished {
            suite: suite.clone(),
            passed,
            error: None,
            duration: std::time::Duration::ZERO,
        };
        let skipped = |suite: &SuiteId| Event::SuiteSkipped {
            suite: suite.clone(),
            reason: "kind backend: cannot".into(),
        };
        let report = run(
            &[
                finished(&ran, true),
                skipped(&refused),
                skipped(&not_applicable),
            ],
            &case,
        );
        let core = &report.profiles[0];
        assert_eq!(core.name, Profile::Core);
        assert_eq!(core.result, ProfileResult::Partial);
        assert_eq!(
            core.statistics,
            Statistics {
                passed: 1,
                failed: 0,
                skipped: 1
            }
        );
        assert_eq!(core.skipped_tests, vec![refused.name()]);
        assert_eq!(report.kubernetes_versions, vec!["1.34", "1.35"]);
        let report = run(&[finished(&ran, true)], &case);
        assert_eq!(report.profiles[0].result, ProfileResult::Success);
        let report = run(&[finished(&ran, true), finished(&refused, false)], &case);
        assert_eq!(report.profiles[0].result, ProfileResult::Failure);
        assert_eq!(report.profiles[0].failed_tests, vec![refused.name()]);
        assert_eq!(
            report.profiles.len(),
            1,
            "profiles without suites are left out"
        );
    }

    #[test]
    fn names_proxy_mode_none_own_dataplane() {
        assert_eq!(dataplane_name(ProxyMode::None), "own dataplane");
        assert_eq!(dataplane_name(ProxyMode::Ipvs), "ipvs");
    }

    #[test]
    fn formats_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_229_296), "2026-12-02T16:34:56Z");
    }
}
