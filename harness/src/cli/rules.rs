//! `topo-harness rules FILE --mode …`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, ValueEnum};

use crate::explain::{settle_environment, ExplainRequest};
use crate::input::{load_state_file_with, parse_size, InputError, DEFAULT_MAX_INPUT_BYTES};
use crate::observe::dataplane::{
    compare_with_model, normalize, parse_reader, render_disagreements, render_text,
    write_json_with, DataplaneError, NodeRoutes, ProxyMode,
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
    /// Which proxy mode produced the dump (default: recognised from its content; give it to
    /// force one).
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
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
    /// Refuse a dump (or --state file) larger than this (bytes, or with K/M/G: `512M`);
    /// default 256M.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_input_size: Option<u64>,
}

/// Runs `rules`; returns the exit code (1 when the dump disagrees with the model).
pub fn run(args: &RulesArgs) -> i32 {
    let stdout = std::io::stdout().lock();
    match run_inner(args, stdout) {
        Ok(disagreements) => {
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

/// Reads, compares and writes the routes to `out`; whether they disagree with the model.
fn run_inner(args: &RulesArgs, mut out: impl Write) -> Result<bool, String> {
    let mode = match args.mode {
        Some(ModeArg::Iptables) => ProxyMode::Iptables,
        Some(ModeArg::Nftables) => ProxyMode::Nftables,
        Some(ModeArg::Ipvs) => ProxyMode::Ipvs,
        None => detect_mode(&args.file)?,
    };
    let budget = args.max_input_size.unwrap_or(DEFAULT_MAX_INPUT_BYTES);
    let loaded = match &args.state {
        Some(path) => Some(load_state_file_with(path, budget).map_err(|e| e.to_string())?),
        None => None,
    };
    let routes = read_dump(mode, &args.file, budget)?;
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
    let written = match args.output {
        Output::Json => {
            write_json_with(&mut out, mode, node, &normalized, disagreements.as_deref())
        }
        Output::Text => {
            let mut text = render_text(mode, node, &normalized);
            if let (Some(list), Some(node)) = (&disagreements, node) {
                text.push_str(&render_disagreements(node, list));
            }
            out.write_all(text.as_bytes())
        }
    };
    // The process ends next: freeing large route tables entry by entry would only cost time.
    std::mem::forget(normalized);
    std::mem::forget(routes);
    std::mem::forget(loaded);
    // A closed pipe (`| head`) ends the output early; that is not an error.
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(format!("writing the routes: {e}"));
        }
        _ => {}
    }
    Ok(disagreements.is_some_and(|d| !d.is_empty()))
}

/// The proxy mode whose dump `path` is, from its first line that is not blank or a comment:
/// `iptables-save` tables (`*nat`, `:CHAIN`, `-A`), an nft ruleset (`table ip …`, or an
/// `nft -f` script's `add table …`), or an IPVS listing (`IP Virtual Server`, its header, or a
/// `TCP addr:port sched` line).
fn detect_mode(path: &Path) -> Result<ProxyMode, String> {
    let origin = path.display().to_string();
    let file = File::open(path).map_err(|e| format!("cannot read {origin}: {e}"))?;
    let mut head = Vec::new();
    file.take(64 << 10)
        .read_to_end(&mut head)
        .map_err(|e| format!("cannot read {origin}: {e}"))?;
    let text = String::from_utf8_lossy(&head);
    for line in text.lines().map(str::trim) {
        if line.is_empty() || (line.starts_with('#') && !line.contains("iptables-save")) {
            continue;
        }
        let ipvs_service = ["TCP ", "UDP ", "SCTP ", "FWM "]
            .iter()
            .any(|p| line.starts_with(p));
        if line.starts_with("IP Virtual Server")
            || line.starts_with("Prot LocalAddress")
            || ipvs_service
        {
            return Ok(ProxyMode::Ipvs);
        }
        // `nft list table` prints `table ip …`; an `nft -f` script starts with `add`/`flush`.
        if [
            "table ",
            "add table ",
            "flush table ",
            "add chain ",
            "delete table ",
        ]
        .iter()
        .any(|p| line.starts_with(p))
        {
            return Ok(ProxyMode::Nftables);
        }
        if line.starts_with('*')
            || line.starts_with(':')
            || line.starts_with("-A ")
            || line.contains("iptables-save")
        {
            return Ok(ProxyMode::Iptables);
        }
        break;
    }
    Err(format!(
        "{origin}: cannot tell which proxy mode wrote this dump (expected `iptables-save` output, `nft list table ip kube-proxy` or an IPVS listing); pass --mode iptables|nftables|ipvs"
    ))
}

/// Parses the dump as it is read (never holding all of it), under the size budget. Errors
/// read `FILE:LINE:COLUMN: message`.
fn read_dump(mode: ProxyMode, path: &Path, budget: u64) -> Result<NodeRoutes, String> {
    let origin = path.display().to_string();
    let too_large = || {
        InputError::TooLarge {
            origin: origin.clone(),
            limit: budget,
        }
        .to_string()
    };
    let file = File::open(path).map_err(|e| format!("cannot read {origin}: {e}"))?;
    let size = file
        .metadata()
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map_or(0, |m| m.len());
    if size > budget {
        return Err(too_large());
    }
    let exceeded = AtomicBool::new(false);
    let reader = Budgeted {
        inner: file,
        left: budget,
        exceeded: &exceeded,
    };
    let parsed = parse_reader(mode, reader, size);
    parsed.map_err(|e| {
        if exceeded.load(Ordering::Relaxed) {
            too_large()
        } else {
            located(path, &origin, &e)
        }
    })
}

/// `FILE:LINE:COLUMN: message`: the column of the value the error is about (or of the first
/// invalid byte), else 1. Only the failing line is read again.
fn located(path: &Path, origin: &str, e: &DataplaneError) -> String {
    let line = e.line();
    let mut raw = Vec::new();
    if let Ok(file) = File::open(path) {
        let mut reader = BufReader::new(file).take(DEFAULT_MAX_INPUT_BYTES);
        for _ in 0..line {
            raw.clear();
            if reader.read_until(b'\n', &mut raw).unwrap_or(0) == 0 {
                break;
            }
        }
    }
    let text = match std::str::from_utf8(&raw) {
        Ok(text) => text,
        Err(bad) => {
            let valid = bad.valid_up_to();
            let column = crate::input::line_column(&raw[..valid]).1;
            return format!(
                "{origin}:{line}:{column}: invalid UTF-8 (byte 0x{:02x}); the dump must be UTF-8 text",
                raw.get(valid).copied().unwrap_or(0)
            );
        }
    };
    let column = e
        .value()
        .filter(|v| !v.is_empty())
        .and_then(|v| find_token(text, v))
        .or_else(|| text.find(|c: char| !c.is_whitespace()))
        .map_or(1, |at| text[..at].chars().count() + 1);
    format!("{origin}:{line}:{column}: {}", e.message())
}

/// The byte offset of `value` as a whole token of `line` (between blanks, quotes, `:` or
/// `,`), else of its first occurrence.
fn find_token(line: &str, value: &str) -> Option<usize> {
    let boundary = |c: Option<char>| {
        c.is_none_or(|c| c.is_whitespace() || matches!(c, '"' | ',' | ':' | '{' | '}'))
    };
    line.match_indices(value)
        .map(|(at, _)| at)
        .find(|&at| {
            boundary(line[..at].chars().next_back())
                && boundary(line[at + value.len()..].chars().next())
        })
        .or_else(|| line.find(value))
}

/// A reader that fails once more than `left` bytes were asked of it, remembering why. It
/// reads straight into the caller's buffer (the parsers read in large chunks themselves).
struct Budgeted<'a, R> {
    inner: R,
    left: u64,
    exceeded: &'a AtomicBool,
}

impl<R: Read> Read for Budgeted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            // At the budget: one more byte means the input is larger than allowed.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.exceeded.store(true, Ordering::Relaxed);
                    Err(std::io::Error::other("input size budget exceeded"))
                }
            };
        }
        let max = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..max])?;
        self.left = self.left.saturating_sub(n as u64);
        Ok(n)
    }
}
