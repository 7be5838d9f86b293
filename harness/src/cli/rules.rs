//! `topo-harness rules FILE --mode …`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::explain::{settle_environment, ExplainRequest};
use crate::input::load_state_file;
use crate::observe::dataplane::{
    compare_with_model, normalize, parse, render_disagreements, render_json_with, render_text,
    ProxyMode,
};

/// Proxy modes whose dumps can be read.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// `iptables-save` output.
    Iptables,
    /// `nft list table ip kube-proxy` output.
    Nftables,
    /// `ipvsadm -Ln` or `/proc/net/ip_vs`.
    Ipvs,
}

/// Output formats of `rules`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    Text,
    /// The documented JSON contract.
    Json,
}

/// Arguments of `rules`.
#[derive(Debug, Args)]
pub struct RulesArgs {
    /// The dump: `iptables-save`, `nft list table ip kube-proxy`, `ipvsadm -Ln` or /proc/net/ip_vs.
    pub file: PathBuf,
    /// Which proxy mode produced the dump.
    #[arg(long, value_enum)]
    pub mode: ModeArg,
    /// A kubectl dump (or compact state) of the cluster, to name what is seen.
    #[arg(long, value_name = "DUMP")]
    pub state: Option<PathBuf>,
    /// The node the dump was taken on; with --state, also compares with the model.
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// Kubernetes version for the comparison (default: from the state).
    #[arg(long, value_name = "1.NN")]
    pub kubernetes: Option<String>,
    /// Feature gate for the comparison, e.g. `--gate TopologyAwareHints=true` (repeatable).
    #[arg(long = "gate", value_name = "NAME=BOOL")]
    pub gates: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// Runs `rules`; returns the exit code (1 when the dump disagrees with the model).
pub fn run(args: &RulesArgs) -> i32 {
    match run_inner(args) {
        Ok((text, disagreements)) => {
            print!("{text}");
            if disagreements {
                super::EXIT_FAILED
            } else {
                super::EXIT_OK
            }
        }
        Err(message) => {
            eprintln!("error: {message}");
            super::EXIT_BAD_INPUT
        }
    }
}

fn run_inner(args: &RulesArgs) -> Result<(String, bool), String> {
    let mode = match args.mode {
        ModeArg::Iptables => ProxyMode::Iptables,
        ModeArg::Nftables => ProxyMode::Nftables,
        ModeArg::Ipvs => ProxyMode::Ipvs,
    };
    let dump = std::fs::read_to_string(&args.file)
        .map_err(|e| format!("cannot read {}: {e}", args.file.display()))?;
    let loaded = match &args.state {
        Some(path) => Some(load_state_file(path).map_err(|e| e.to_string())?),
        None => None,
    };
    // One location format everywhere: `file:line:column: message` (a dump line's column is 1).
    let routes = parse(mode, &dump).map_err(|e| {
        let text = e.to_string();
        let message = text
            .strip_prefix(&format!("line {}: ", e.line()))
            .unwrap_or(&text);
        format!("{}:{}:1: {message}", args.file.display(), e.line())
    })?;
    if let (Some(loaded), Some(node), Some(path)) = (&loaded, &args.node, &args.state) {
        // Nodes the state names: its Node objects and the endpoints' `nodeName`s.
        let mut names: Vec<&str> = loaded.state.nodes.iter().map(|n| n.name.as_str()).collect();
        let endpoint_nodes = loaded.state.slices.iter().flat_map(|s| &s.endpoints);
        names.extend(endpoint_nodes.filter_map(|e| e.node_name.as_deref()));
        names.sort_unstable();
        names.dedup();
        if !names.contains(&node.as_str()) {
            return Err(format!(
                "--node {node}: {} has no node of that name (its nodes: {})",
                path.display(),
                names.join(", ")
            ));
        }
    }
    let normalized = normalize(&routes, loaded.as_ref().map(|l| &l.state));
    let disagreements = match (&loaded, args.node.as_deref(), &args.state) {
        (Some(loaded), Some(node), Some(path)) => {
            let request = ExplainRequest {
                file: path,
                kubernetes: args.kubernetes.as_deref(),
                gates: &args.gates,
            };
            let (env, _) = settle_environment(loaded, &request).map_err(|e| e.to_string())?;
            Some(compare_with_model(
                mode,
                &normalized,
                &loaded.state,
                node,
                &env.gates,
            ))
        }
        _ => None,
    };
    let node = args.node.as_deref();
    let text = match args.output {
        Output::Json => render_json_with(mode, node, &normalized, disagreements.as_deref()),
        Output::Text => {
            let mut text = render_text(mode, node, &normalized);
            if let (Some(list), Some(node)) = (&disagreements, node) {
                text.push_str(&render_disagreements(node, list));
            }
            text
        }
    };
    Ok((text, disagreements.is_some_and(|d| !d.is_empty())))
}
