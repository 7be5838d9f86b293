//! The `topo-harness` command line: parses arguments, reads files, calls the library, and maps
//! errors to exit codes (0 ok, 1 disagreements found, 2 bad input).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use topo_harness::observe::dataplane::{self, Mode, OutputFormat, RulesRequest};

#[derive(Parser)]
#[command(
    name = "topo-harness",
    version,
    about = "Conformance harness for Kubernetes topology-aware routing"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the routes a node's rule dump implements.
    Rules {
        /// The dump: `iptables-save`, `nft list table ip kube-proxy`, `ipvsadm -Ln` or /proc/net/ip_vs.
        file: PathBuf,
        /// Which proxy mode produced the dump.
        #[arg(long, value_enum)]
        mode: ModeArg,
        /// A kubectl List (JSON or YAML) of services and endpointslices, to name what is seen.
        #[arg(long, value_name = "DUMP")]
        state: Option<PathBuf>,
        /// The node the dump was taken on.
        #[arg(long, value_name = "NAME")]
        node: Option<String>,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
        output: OutputArg,
    },
}

#[derive(Copy, Clone, ValueEnum)]
enum ModeArg {
    Iptables,
    Nftables,
    Ipvs,
}

#[derive(Copy, Clone, ValueEnum)]
enum OutputArg {
    Text,
    Json,
}

/// Exit code for bad input (flags, files, dumps).
const EXIT_BAD_INPUT: u8 = 2;

fn read(path: &PathBuf) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn run(cli: Cli) -> Result<String, String> {
    match cli.command {
        Command::Rules {
            file,
            mode,
            state,
            node,
            output,
        } => {
            let dump = read(&file)?;
            let state = match &state {
                Some(p) => Some(
                    dataplane::parse_state_list(&read(p)?)
                        .map_err(|e| format!("{}: {e}", p.display()))?,
                ),
                None => None,
            };
            let request = RulesRequest {
                mode: match mode {
                    ModeArg::Iptables => Mode::Iptables,
                    ModeArg::Nftables => Mode::Nftables,
                    ModeArg::Ipvs => Mode::Ipvs,
                },
                node: node.as_deref(),
                format: match output {
                    OutputArg::Text => OutputFormat::Text,
                    OutputArg::Json => OutputFormat::Json,
                },
                state: state.as_ref(),
            };
            dataplane::rules(&dump, &request).map_err(|e| format!("{}:{e}", file.display()))
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
