//! Progress on live backends, where a suite takes minutes: on a TTY an `indicatif` spinner
//! with the suite (`[i/N] case@1.NN/mode`), its phase (setting up the cluster, applying,
//! waiting for convergence, checking, cleaning up) and the suite's elapsed time; otherwise one
//! plain line per phase. The sim runs a suite in milliseconds, so it shows nothing.
//!
//! Results are the terminal reporter's job; this reporter must see each event before it (the
//! spinner is cleared before the terminal prints a result line).

use std::io::Write;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{ReportError, Reporter};
use crate::backend::BackendKind;
use crate::runner::Event;

/// Shows what a live run is doing.
pub struct ProgressReporter<W: Write> {
    out: W,
    tty: bool,
    /// Whether the backend is live (decided when the run starts).
    live: bool,
    /// `[i/N] case@1.NN/mode` of the suite running.
    label: String,
    /// When it started.
    started: Option<Instant>,
    bar: Option<ProgressBar>,
}

impl<W: Write> ProgressReporter<W> {
    /// A reporter writing plain lines to `out`, or drawing a spinner on standard error when
    /// `tty`.
    pub fn new(out: W, tty: bool) -> Self {
        ProgressReporter {
            out,
            tty,
            live: false,
            label: String::new(),
            started: None,
            bar: None,
        }
    }

    /// The writer (for tests).
    pub fn into_inner(self) -> W {
        self.out
    }

    fn elapsed(&self) -> Duration {
        self.started.map(|s| s.elapsed()).unwrap_or_default()
    }

    fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn show(&mut self, what: &str) -> std::io::Result<()> {
        let message = format!("{} {what}", self.label);
        if !self.tty {
            return writeln!(
                self.out,
                "{message} ({:.1} s)",
                self.elapsed().as_secs_f64()
            );
        }
        let elapsed = self.elapsed();
        let bar = self.bar.get_or_insert_with(|| {
            let style = ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
                .with_style(style)
                .with_elapsed(elapsed);
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        bar.set_message(message);
        Ok(())
    }

    fn write_event(&mut self, event: &Event) -> std::io::Result<()> {
        match event {
            Event::RunStarted { backend, .. } => {
                self.live = *backend != BackendKind::Sim;
            }
            _ if !self.live => {}
            Event::SuiteStarted {
                suite,
                index,
                total,
            } => {
                self.label = format!("[{index}/{total}] {}:", suite.name());
                self.started = Some(Instant::now());
            }
            Event::SuitePhase { phase, .. } => self.show(&phase.describe())?,
            Event::SuiteEnvironment { .. } => {}
            Event::SuiteFinished { .. } => {
                self.clear();
                if !self.tty {
                    let line = format!(
                        "{} done ({:.1} s)",
                        self.label,
                        self.elapsed().as_secs_f64()
                    );
                    writeln!(self.out, "{line}")?;
                }
            }
            // The terminal prints these: the spinner makes room.
            Event::SuiteSkipped { .. }
            | Event::StepFinished { .. }
            | Event::Warning { .. }
            | Event::RunFinished { .. } => {
                self.clear();
            }
        }
        Ok(())
    }
}

impl<W: Write> Reporter for ProgressReporter<W> {
    fn event(&mut self, event: &Event) -> Result<(), ReportError> {
        self.write_event(event).map_err(ReportError::Terminal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::ProxyMode;
    use crate::model::KubeVersion;
    use crate::runner::{Counts, Phase, SuiteId};

    fn events(backend: BackendKind) -> Vec<Event> {
        let suite = SuiteId {
            case: "seed".into(),
            file: String::new(),
            steps: Vec::new(),
            source: String::new(),
            version: KubeVersion::new(34),
            proxy_mode: ProxyMode::Iptables,
            backend,
        };
        let phase = |phase| Event::SuitePhase {
            suite: suite.clone(),
            phase,
        };
        vec![
            Event::RunStarted {
                backend,
                suites: 1,
                skipped: 0,
            },
            Event::SuiteStarted {
                suite: suite.clone(),
                index: 1,
                total: 1,
            },
            phase(Phase::SettingUp),
            phase(Phase::Applying("one".into())),
            phase(Phase::Converging("one".into())),
            phase(Phase::Checking("one".into())),
            phase(Phase::CleaningUp),
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
        ]
    }

    fn run(backend: BackendKind, tty: bool) -> String {
        let mut reporter = ProgressReporter::new(Vec::new(), tty);
        for e in events(backend) {
            reporter.event(&e).unwrap_or_else(|e| panic!("{e}"));
        }
        String::from_utf8_lossy(&reporter.into_inner()).into_owned()
    }

    #[test]
    fn live_runs_without_a_tty_get_one_line_per_phase() {
        let text = run(BackendKind::Kind, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        assert!(lines[0].starts_with("[1/1] seed@1.34/iptables: setting up the cluster ("));
        assert!(lines[2].contains("step one: waiting for convergence (observing)"));
        assert!(lines[5].contains("done ("), "{text}");
        assert!(lines.iter().all(|l| l.ends_with(" s)")), "{text}");
    }

    #[test]
    fn the_runner_reports_each_phase_of_each_step() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../cases/seed-001-kube-dns-two-zones.yaml");
        let case = crate::case::load_case_file(&path).unwrap_or_else(|e| panic!("{e:?}"));
        let options = crate::runner::RunOptions {
            dump_state: None,
            versions: crate::plan::VersionSelection::Explicit(vec![KubeVersion::new(34)]),
            proxy_modes: vec![ProxyMode::Iptables],
            filter: None,
            snapshots: None,
        };
        let mut phases = Vec::new();
        crate::runner::run(
            &[case],
            &mut crate::backend::sim::SimBackend::new(),
            &options,
            &mut |e| {
                if let Event::SuitePhase { phase, .. } = e {
                    phases.push(phase.describe());
                }
            },
        );
        let mut expected = vec!["setting up the cluster".to_string()];
        for step in ["one-per-node", "one-per-zone", "one-zone-only"] {
            expected.push(format!("step {step}: applying"));
            expected.push(format!("step {step}: waiting for convergence (observing)"));
            expected.push(format!("step {step}: checking"));
        }
        expected.push("cleaning up".to_string());
        assert_eq!(phases, expected);
    }

    #[test]
    fn the_sim_and_the_tty_spinner_write_no_lines() {
        assert_eq!(run(BackendKind::Sim, false), "");
        // On a TTY the spinner draws on standard error, never into the writer.
        assert_eq!(run(BackendKind::Kubeconfig, true), "");
    }
}
