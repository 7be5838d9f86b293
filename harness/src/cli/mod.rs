//! The command line: argument types and one function per subcommand. `main.rs` only calls
//! [`main`].

mod explain;
mod rules;

use clap::{Parser, Subcommand};

/// Exit code: everything passed.
pub const EXIT_OK: i32 = 0;
/// Exit code: a check failed or timed out.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: bad input (files, flags).
pub const EXIT_BAD_INPUT: i32 = 2;

/// Conformance and end-to-end test harness for Kubernetes topology-aware routing.
#[derive(Debug, Parser)]
#[command(name = "topo-harness", version, about)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Explain what the reference model expects for a cluster state (hints and per-node routes).
    Explain(explain::ExplainArgs),
    /// Show the routes a node's rule dump implements (and, with --state --node, compare them
    /// with the model).
    Rules(rules::RulesArgs),
}

/// Parses the process arguments, runs the subcommand and returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_BAD_INPUT
            } else {
                EXIT_OK
            };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        Command::Explain(args) => explain::run(&args),
        Command::Rules(args) => rules::run(&args),
    }
}
