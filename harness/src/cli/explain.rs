//! `topo-harness explain FILE`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::explain::{
    explain_loaded, to_text_named, write_json, EndpointNames, ExplainError, ExplainRequest,
};
use crate::input::{load_state_file_with, parse_size, DEFAULT_MAX_INPUT_BYTES};
use crate::report::html::explain_page;

/// Output formats of `explain`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    Text,
    /// The documented JSON contract.
    Json,
    /// A self-contained HTML page with a topology picture per Service.
    Html,
}

/// Arguments of `explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A `kubectl get nodes,services,endpointslices -A -o yaml|json` dump, or a compact state
    /// file; `-` reads standard input.
    pub file: PathBuf,
    /// Evaluate as this Kubernetes version (1.21–1.37); default: the highest kubelet version
    /// among the nodes.
    #[arg(long, value_name = "1.NN")]
    pub kubernetes: Option<String>,
    /// Set a feature gate, e.g. `--gate PreferSameTrafficDistribution=true` (repeatable).
    #[arg(long = "gate", value_name = "NAME=BOOL")]
    pub gates: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Refuse a state file larger than this (bytes, or with K/M/G: `512M`); default 256M.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_input_size: Option<u64>,
}

/// Whether `path` holds a case file (`kind: Case`): what `run` reads, not `explain`. Reads at
/// most `budget` bytes (a device such as /dev/zero must not be read without end).
fn is_case_file(path: &std::path::Path, budget: u64) -> bool {
    use std::io::Read;
    if crate::input::is_stdin(path) {
        return false;
    }
    let mut text = String::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(budget).read_to_string(&mut text));
    read.is_ok()
        && serde_saphyr::from_str::<serde_json::Value>(&text)
            .is_ok_and(|v| v.get("kind").and_then(|k| k.as_str()) == Some("Case"))
}

/// When `path` is a case file, says which command reads it and returns the bad-input code.
fn case_file_given(path: &std::path::Path, budget: u64) -> Option<i32> {
    is_case_file(path, budget).then(|| {
        eprintln!(
            "error: {}: this is a case file (kind: Case), not a cluster state: use `topo-harness run {}`",
            path.display(),
            path.display()
        );
        super::EXIT_BAD_INPUT
    })
}

/// Runs `explain`; returns the exit code.
pub fn run(args: &ExplainArgs) -> i32 {
    let request = ExplainRequest {
        file: &args.file,
        kubernetes: args.kubernetes.as_deref(),
        gates: &args.gates,
    };
    let budget = args.max_input_size.unwrap_or(DEFAULT_MAX_INPUT_BYTES);
    let loaded = match load_state_file_with(&args.file, budget) {
        Ok(loaded) => loaded,
        Err(e) => {
            if let Some(code) = case_file_given(&args.file, budget) {
                return code;
            }
            let e = ExplainError::from(e);
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    let (analysis, notes) = match explain_loaded(&loaded, &request) {
        Ok(r) => r,
        Err(e) => {
            if let Some(code) = case_file_given(&args.file, budget) {
                return code;
            }
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    let stdout = std::io::stdout().lock();
    let written = match args.output {
        Output::Json => write_json(&analysis, stdout),
        Output::Html => {
            let mut stdout = stdout;
            let file = args.file.display().to_string();
            stdout.write_all(explain_page(&file, &loaded.state, &analysis).as_bytes())
        }
        Output::Text => {
            let mut stdout = stdout;
            // A compact state (one `run --dump-state` wrote, or a what-if) names endpoints by
            // node, as its case does; a real cluster's dump is read by its addresses.
            let names = if loaded.format.is_compact() {
                EndpointNames::of(&loaded.state)
            } else {
                EndpointNames::default()
            };
            stdout.write_all(to_text_named(&analysis, &notes, &names).as_bytes())
        }
    };
    // The process ends here: freeing a large state object by object would only cost time.
    std::mem::forget(analysis);
    std::mem::forget(loaded);
    // A closed pipe (e.g. `| head`) is not worth more than a note.
    if let Err(e) = written {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: writing the report: {e}");
            return super::EXIT_BAD_INPUT;
        }
    }
    super::EXIT_OK
}
