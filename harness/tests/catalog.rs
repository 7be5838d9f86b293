//! The whole catalog on the sim backend: one test per case file (a new file in `cases/` needs
//! no code change; `build.rs` reruns on changes there). Each case runs on every version it
//! applies to; every check must pass and the semantic snapshot must match
//! `fixtures/snapshots/<case>.snap` (update with `cargo insta review`).

use std::path::PathBuf;

use rstest::rstest;
use topo_harness::backend::sim::SimBackend;
use topo_harness::case::{load_case_file, ProxyMode};
use topo_harness::check::CheckStatus;
use topo_harness::plan::VersionSelection;
use topo_harness::runner::{run, Event, RunOptions};
use topo_harness::snapshot::{render_case, Rendered};

#[rstest]
fn case(#[files("../cases/*.yaml")] path: PathBuf) {
    let case = match load_case_file(&path) {
        Ok(c) => c,
        Err(errors) => {
            let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            panic!("{}", text.join("\n"));
        }
    };
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    assert_eq!(
        stem.as_deref(),
        Some(case.name.as_str()),
        "file name must be <name>.yaml"
    );
    let readme = std::fs::read_to_string(path.with_file_name("README.md")).unwrap_or_default();
    assert!(
        readme.contains(&format!("]({}.yaml)", case.name)),
        "cases/README.md must list {} with its source",
        case.name
    );
    let options = RunOptions {
        versions: VersionSelection::EveryApplicable,
        proxy_modes: vec![ProxyMode::Iptables],
        filter: None,
        snapshots: None,
        dump_state: None,
    };
    let mut failures = Vec::new();
    let mut emit = |event: &Event| match event {
        Event::StepFinished {
            suite,
            step,
            checks,
            ..
        } => {
            for c in checks {
                if let CheckStatus::Failed(message) = &c.status {
                    failures.push(format!("{}/{step}/{}:\n{message}", suite.name(), c.name));
                }
            }
        }
        Event::SuiteFinished {
            suite,
            error: Some(e),
            ..
        } => {
            failures.push(format!("{}: {e}", suite.name()));
        }
        _ => {}
    };
    let summary = run(
        std::slice::from_ref(&case),
        &mut SimBackend::new(),
        &options,
        &mut emit,
    );
    let ran = summary.counts.passed + summary.counts.failed;
    assert!(
        ran > 0,
        "{}: ran nothing (every version skipped)",
        case.name
    );
    let steps: Vec<String> = case.steps.iter().map(|s| s.name.clone()).collect();
    let rendered: Vec<Rendered> = summary.rendered.into_iter().map(|(_, r)| r).collect();
    let text = render_case(&case.name, &steps, &rendered);
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../../fixtures/snapshots");
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_input_file(&path);
    settings.bind(|| insta::assert_snapshot!(case.name.clone(), text));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
