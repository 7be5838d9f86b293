//! `topo-harness explain FILE`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::explain::{explain_file, to_json, to_text, ExplainRequest};

/// Output formats of `explain`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    Text,
    /// The documented JSON contract.
    Json,
}

/// Arguments of `explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A `kubectl get nodes,services,endpointslices -A -o yaml|json` dump, or a compact state file.
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
}

/// Runs `explain`; returns the exit code.
pub fn run(args: &ExplainArgs) -> i32 {
    let request = ExplainRequest {
        file: &args.file,
        kubernetes: args.kubernetes.as_deref(),
        gates: &args.gates,
    };
    let (analysis, notes) = match explain_file(&request) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    let text = match args.output {
        Output::Json => {
            let mut s = to_json(&analysis).to_string();
            s.push('\n');
            s
        }
        Output::Text => to_text(&analysis, &notes),
    };
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (e.g. `| head`) is not an error worth a panic.
    let _ = stdout.write_all(text.as_bytes());
    super::EXIT_OK
}
