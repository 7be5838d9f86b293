//! The `topo-harness` binary: parse the command line, run it, exit with its code.

use clap::Parser;

fn main() -> std::process::ExitCode {
    topo_harness::cli::dispatch(topo_harness::cli::Cli::parse())
}
