//! The common result of every parser: per service frontend, the endpoints a node sends new
//! connections to, with their share, split into the cluster and the local path.
//!
//! The iptables and nftables parsers do not build [`NodeRoutes`] themselves: they translate the
//! dump into a small chain program (`Program`, crate-internal) and `Program::resolve` walks it, so that
//! probabilities, short-circuits and drop/reject outcomes are decided in one place.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use super::error::DataplaneError;

/// What kind of address a frontend is.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FrontendKind {
    /// A Service ClusterIP.
    ClusterIp,
    /// A NodePort (any local address of the node).
    NodePort,
    /// One of `spec.externalIPs`.
    ExternalIp,
    /// A load-balancer ingress IP.
    LoadBalancer,
}

impl FrontendKind {
    /// The JSON spelling (`cluster-ip`, `node-port`, `external-ip`, `load-balancer`).
    pub fn as_str(self) -> &'static str {
        match self {
            FrontendKind::ClusterIp => "cluster-ip",
            FrontendKind::NodePort => "node-port",
            FrontendKind::ExternalIp => "external-ip",
            FrontendKind::LoadBalancer => "load-balancer",
        }
    }
}

/// What happens to a new connection to a frontend on its main path.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// It is DNATed to one of the listed endpoints.
    Route,
    /// It is dropped (no (local) endpoints, or nothing to route to).
    Drop,
    /// It is rejected (the Service has no endpoints at all).
    Reject,
}

impl Outcome {
    /// The JSON spelling (`route`, `drop`, `reject`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Route => "route",
            Outcome::Drop => "drop",
            Outcome::Reject => "reject",
        }
    }
}

/// A destination address (frontend) as the node sees it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Frontend {
    /// Its kind (as far as the dump tells; normalization corrects it from the cluster state).
    pub kind: FrontendKind,
    /// The address; `None` for a NodePort, which matches every local address.
    pub ip: Option<IpAddr>,
    /// Destination port.
    pub port: u16,
    /// Lower-case protocol (`tcp`, `udp`, `sctp`).
    pub protocol: String,
}

impl Frontend {
    /// What `Display` writes, without the formatting machinery (one per frontend of a dump).
    pub fn text(&self) -> String {
        let mut out = match self.ip {
            Some(ip) => crate::observe::identity::socket_text(ip, self.port),
            None => format!("*:{}", self.port),
        };
        out.push('/');
        out.push_str(&self.protocol);
        out
    }
}

impl fmt::Display for Frontend {
    /// `ip:port/proto` (`[ip]:port/proto` for IPv6; `*:port/proto` for a NodePort).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.ip {
            Some(ip) => write!(f, "{}/{}", SocketAddr::new(*ip, self.port), self.protocol),
            None => write!(f, "*:{}/{}", self.port, self.protocol),
        }
    }
}

/// An endpoint address (`IP:port` after DNAT).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Backend {
    /// Endpoint IP.
    pub ip: IpAddr,
    /// Endpoint (target) port.
    pub port: u16,
}

impl fmt::Display for Backend {
    /// `IP:port`, `[IP]:port` for IPv6 (kube-proxy's endpoint string).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        SocketAddr::new(self.ip, self.port).fmt(f)
    }
}

/// An endpoint with the share of new connections it receives on one path.
#[derive(Clone, Debug, PartialEq)]
pub struct Share {
    /// The endpoint.
    pub backend: Backend,
    /// Share of new connections on this path, in `[0, 1]`; the shares of a path sum to 1.
    pub probability: f64,
}

/// What one node does with new connections to one frontend.
#[derive(Clone, Debug, PartialEq)]
pub struct FrontendRoute {
    /// The destination.
    pub frontend: Frontend,
    /// Endpoints of the cluster path (cluster-wide endpoints after topology filtering); `None`
    /// when the rules have no cluster path for this frontend.
    pub cluster: Option<Vec<Share>>,
    /// Endpoints of the local path (node-local endpoints, traffic policy `Local`); `None` when
    /// the frontend has no local path; empty when it has one with no endpoints.
    pub local: Option<Vec<Share>>,
    /// What happens on the main path (local when there is one, else cluster).
    pub outcome: Outcome,
}

/// Everything one node's dump says, frontends sorted.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct NodeRoutes {
    /// One entry per frontend, sorted by frontend.
    pub frontends: Vec<FrontendRoute>,
}

/// Parses an IP in text form (optionally with a `/32` or `/128` host prefix) into canonical text.
pub(crate) fn canonical_ip(text: &str) -> Option<IpAddr> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = addr.parse().ok()?;
    match (prefix, ip) {
        (None, _) | (Some("32"), IpAddr::V4(_)) | (Some("128"), IpAddr::V6(_)) => Some(ip),
        _ => None,
    }
}

/// Parses `IP:port` / `[IPv6]:port` into a backend.
pub(crate) fn parse_backend(text: &str) -> Option<Backend> {
    let (host, port) = text.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip: IpAddr = host.parse().ok()?;
    Some(Backend { ip, port })
}

/// Adds up shares of the same backend and scales them to sum to 1 (an empty list stays empty).
pub(crate) fn normalize_shares(mut raw: Vec<(Backend, f64)>) -> Vec<Share> {
    // Paths are short: sorting and merging neighbours beats a map per path.
    raw.sort_by_key(|r| r.0);
    let mut merged: Vec<Share> = Vec::with_capacity(raw.len());
    for (backend, p) in raw {
        match merged.last_mut() {
            Some(last) if last.backend == backend => last.probability += p,
            _ => merged.push(Share {
                backend,
                probability: p,
            }),
        }
    }
    let total: f64 = merged.iter().map(|s| s.probability).sum();
    merged.retain(|s| s.probability > 0.0);
    for s in &mut merged {
        s.probability = if total > 0.0 {
            s.probability / total
        } else {
            0.0
        };
    }
    merged
}

/// A frontend's address without its kind.
fn address_of(f: &Frontend) -> (Option<IpAddr>, u16, &str) {
    (f.ip, f.port, f.protocol.as_str())
}

/// Sorts frontends and merges the duplicates a dump may hold (the two NodePort rules, one for
/// `127.0.0.0/8` and one for every address): the first definition wins.
pub(crate) fn finish(mut frontends: Vec<FrontendRoute>) -> NodeRoutes {
    // A stable sort keeps duplicates in dump order: the first of each run is the first
    // definition.
    frontends.sort_by(|a, b| a.frontend.cmp(&b.frontend));
    frontends.dedup_by(|later, first| later.frontend == first.frontend);
    NodeRoutes { frontends }
}

// ---------------------------------------------------------------------------------------------
// The chain program shared by the iptables and nftables parsers.

/// A fast, non-cryptographic hasher for chain names (the Fx hash of rustc). Dumps are local
/// files, so hash flooding is not a concern, and SipHash dominated parse time.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The hash of a chain name.
fn name_hash(name: &str) -> u64 {
    let mut hasher = FxHasher::default();
    hasher.write(name.as_bytes());
    hasher.finish()
}

/// The [`FxHasher`] hash of a value.
fn fx_hash(value: &impl Hash) -> u64 {
    let mut hasher = FxHasher::default();
    value.hash(&mut hasher);
    hasher.finish()
}

/// What a chain does in kube-proxy's scheme, from its name.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Load-balances over cluster endpoints (`KUBE-SVC-`, `service-`).
    Cluster,
    /// Load-balances over local endpoints (`KUBE-SVL-`, `local-`).
    Local,
    /// External entry (`KUBE-EXT-`, `KUBE-XLB-`, `KUBE-FW-`, `external-`).
    External,
    /// One endpoint (`KUBE-SEP-`, `endpoint-`).
    Endpoint,
    /// A drop sink (`KUBE-MARK-DROP`).
    DropSink,
    /// Anything else (marks, masquerading, foreign chains): it returns, and is skipped.
    Other,
}

/// Index of a chain in [`Program::chains`].
pub(crate) type ChainId = usize;

/// One rule of the program; `T` names jump targets (a [`ChainId`] once interned).
#[derive(Clone, Debug)]
pub(crate) enum Rule<T = ChainId> {
    /// Jump or goto another chain.
    Jump {
        target: T,
        /// The rule also matches on the source (pod CIDR, LOCAL source, affinity set): it is a
        /// short-circuit or an affinity shortcut, not taken by every new connection.
        source_conditional: bool,
        /// `-m recent --rcheck` (affinity for known clients only).
        sticky: bool,
        /// `-m statistic --probability`.
        probability: Option<f64>,
        line: usize,
    },
    /// `numgen random mod N vmap { i : goto chain }`: uniform over `modulus` slots.
    Pick {
        targets: Vec<T>,
        modulus: usize,
        line: usize,
    },
    /// DNAT to one endpoint.
    Dnat(Backend),
    /// `dnat ... to numgen random mod N map { i : ip . port }`.
    PickDnat {
        backends: Vec<Backend>,
        modulus: usize,
    },
    /// An unconditional drop or reject in the chain.
    Drop,
}

/// A rule as the program keeps it: 24 bytes (a dump holds some 100,000 rules), with chain
/// ids and lines in 32 bits and `numgen` lists in side tables of the program.
#[derive(Copy, Clone, Debug)]
enum Stored {
    /// [`Rule::Jump`]; `has_probability` tells `probability: None` (which is 1) apart.
    Jump {
        probability: f64,
        target: u32,
        line: u32,
        has_probability: bool,
        source_conditional: bool,
        sticky: bool,
    },
    /// [`Rule::Pick`]: `count` targets from `first` in [`Program::pick_targets`].
    Pick {
        modulus: u64,
        first: u32,
        count: u32,
        line: u32,
    },
    /// [`Rule::Dnat`].
    Dnat(Backend),
    /// [`Rule::PickDnat`]: `count` backends from `first` in [`Program::pick_backends`].
    PickDnat {
        modulus: u64,
        first: u32,
        count: u32,
    },
    /// [`Rule::Drop`].
    Drop,
}

// The rule list is the largest table of a program: keep its entries at 32 bytes.
const _: () = assert!(std::mem::size_of::<(u32, Stored)>() <= 32);

/// A count or index in 32 bits. Chain ids, rule indices and line numbers all stay below the
/// number of lines of a dump; a dump of more than 4 billion lines saturates (wrong line
/// numbers in messages, never a panic).
fn narrow(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A 32-bit id or line back to `usize`.
fn wide(n: u32) -> usize {
    n as usize
}

/// A `numgen` modulus in 64 bits (exact on every platform this builds for).
fn modulus64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl<T> Rule<T> {
    /// The same rule with its targets renamed.
    pub fn map_targets<U>(self, mut f: impl FnMut(T) -> U) -> Rule<U> {
        match self {
            Rule::Jump {
                target,
                source_conditional,
                sticky,
                probability,
                line,
            } => Rule::Jump {
                target: f(target),
                source_conditional,
                sticky,
                probability,
                line,
            },
            Rule::Pick {
                targets,
                modulus,
                line,
            } => Rule::Pick {
                targets: targets.into_iter().map(f).collect(),
                modulus,
                line,
            },
            Rule::Dnat(b) => Rule::Dnat(b),
            Rule::PickDnat { backends, modulus } => Rule::PickDnat { backends, modulus },
            Rule::Drop => Rule::Drop,
        }
    }
}

/// A chain of the program.
#[derive(Clone, Debug)]
pub(crate) struct Chain {
    /// Its name, in [`Program::arena`].
    name: NameRef,
    pub role: Role,
    /// Its rules: `Program::rules[first_rule..first_rule + rule_count]` once grouped.
    first_rule: u32,
    rule_count: u32,
    /// Line of its definition (or first reference while undefined).
    line: u32,
    /// Declared or given rules; `false` when only jumped to so far.
    pub defined: bool,
}

/// A dispatch entry: traffic to `frontend` goes to chain `target`.
#[derive(Clone, Debug)]
pub(crate) struct Dispatch {
    pub frontend: Frontend,
    pub target: ChainId,
    pub line: usize,
}

/// A filter verdict for a frontend without (local) endpoints.
#[derive(Clone, Debug)]
pub(crate) struct Verdict {
    pub frontend: Frontend,
    pub outcome: Outcome,
    /// `true` when it is about local endpoints only (`has no local endpoints`, nft `drop`).
    pub no_local: bool,
}

/// Where a chain name is stored in [`Program::arena`]: start and length.
type NameRef = (u32, u32);

/// A parsed dump in the shape both netfilter backends share.
#[derive(Debug, Default)]
pub(crate) struct Program {
    /// Every chain name once, back to back: one buffer instead of a string per chain, so the
    /// dump itself need not be kept (parsers stream it line by line).
    arena: String,
    /// Chain ids, hashed by their chain's name: the name is stored once, in `chains`, and a
    /// slot costs 4 bytes.
    names: hashbrown::HashTable<u32>,
    chains: Vec<Chain>,
    /// `:CHAIN` / `add chain` declarations, looked up only when a jump lands on a chain that
    /// has no rules (see [`settle_declarations`](Self::settle_declarations)): most declared
    /// chains get rules, so hashing every declaration up front is wasted work.
    declarations: Vec<(NameRef, usize)>,
    /// Every rule with its chain, in dump order. One flat list instead of a vector per chain:
    /// most chains hold a single rule. Grouped by chain before resolution.
    rules: Vec<(u32, Stored)>,
    /// The targets of `numgen` picks ([`Stored::Pick`]).
    pick_targets: Vec<u32>,
    /// The backends of `numgen` DNAT maps ([`Stored::PickDnat`]).
    pick_backends: Vec<Backend>,
    /// Whether every chain's rules are contiguous in `rules` (iptables-save and nft list
    /// group them), so that grouping needs no sort.
    scattered: bool,
    /// Jumps kept only for [`check_targets`](Self::check_targets) (rules that do not route).
    references: Vec<(ChainId, usize)>,
    pub dispatch: Vec<Dispatch>,
    pub verdicts: Vec<Verdict>,
}

/// Resolution of an external entry chain.
#[derive(Default)]
struct Paths {
    cluster: Option<Vec<Share>>,
    local: Option<Vec<Share>>,
    main_is_local: bool,
    dropped: bool,
}

const MAX_DEPTH: usize = 8;

/// Probability mass of new connections handed out by a chain's rules, in order.
struct Balancer {
    /// Share of connections no rule has taken yet.
    mass: f64,
    raw: Vec<(Backend, f64)>,
}

impl Balancer {
    fn new() -> Self {
        Balancer {
            mass: 1.0,
            raw: Vec::new(),
        }
    }

    fn exhausted(&self) -> bool {
        self.mass <= 0.0
    }

    fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// A rule taking `probability` of what is left (`-m statistic`; 1 when unconditional).
    fn take(&mut self, backend: Backend, probability: f64) {
        let reach = self.mass * probability;
        self.raw.push((backend, reach));
        self.mass -= reach;
    }

    /// `numgen random mod N`: each listed slot gets `1/N` of what is left; the rest falls
    /// through unmatched.
    fn pick(&mut self, backends: Vec<Backend>, modulus: u64) {
        let slot = self.mass / modulus.max(modulus64(backends.len())).max(1) as f64;
        self.raw.extend(backends.into_iter().map(|b| (b, slot)));
        self.mass = 0.0;
    }

    fn shares(self) -> Vec<Share> {
        normalize_shares(self.raw)
    }
}

impl Program {
    /// Stores a name in the arena.
    fn store(&mut self, name: &str) -> NameRef {
        let start = u32::try_from(self.arena.len()).unwrap_or(u32::MAX);
        self.arena.push_str(name);
        (start, u32::try_from(name.len()).unwrap_or(u32::MAX))
    }

    /// A name stored in the arena.
    fn text(&self, (start, len): NameRef) -> &str {
        let start = start as usize;
        self.arena.get(start..start + len as usize).unwrap_or("")
    }

    /// The id of chain `name`, created (undefined) on first mention.
    pub fn intern(&mut self, name: &str, role: Role, line: usize) -> ChainId {
        let hash = name_hash(name);
        if let Some(id) = self.find(hash, name) {
            return id;
        }
        let id = self.chains.len();
        let stored = self.store(name);
        let (chains, arena) = (&self.chains, &self.arena);
        self.names.insert_unique(hash, id as u32, |&i| {
            chains.get(i as usize).map_or(0, |c| {
                let (start, len) = (c.name.0 as usize, c.name.1 as usize);
                name_hash(arena.get(start..start + len).unwrap_or(""))
            })
        });
        self.chains.push(Chain {
            name: stored,
            role,
            first_rule: 0,
            rule_count: 0,
            line: narrow(line),
            defined: false,
        });
        id
    }

    /// The id of chain `name` (with hash `hash`), if it was mentioned.
    fn find(&self, hash: u64, name: &str) -> Option<ChainId> {
        self.names
            .find(hash, |&i| {
                self.chains
                    .get(i as usize)
                    .is_some_and(|c| self.text(c.name) == name)
            })
            .map(|&i| i as usize)
    }

    /// Records a declaration of chain `name` without looking it up (resolved lazily).
    pub fn declare(&mut self, name: &str, line: usize) {
        let stored = self.store(name);
        self.declarations.push((stored, line));
    }

    /// Marks declared chains that got no rule as defined, once every rule is in. Skipped when
    /// every kube-proxy chain something jumps to already has rules.
    pub fn settle_declarations(&mut self, is_kube_chain: impl Fn(&str) -> bool) {
        if !self
            .chains
            .iter()
            .any(|c| !c.defined && is_kube_chain(self.text(c.name)))
        {
            return;
        }
        for (name, line) in std::mem::take(&mut self.declarations) {
            let name = self.text(name);
            if let Some(id) = self.find(name_hash(name), name) {
                let chain = &mut self.chains[id];
                if !chain.defined {
                    chain.defined = true;
                    chain.line = narrow(line);
                }
            }
        }
    }

    /// Where chain `id` is defined: its declaration, else its first rule (error path only).
    fn definition_line(&self, id: ChainId) -> usize {
        let Some(chain) = self.chains.get(id) else {
            return 0;
        };
        self.declarations
            .iter()
            .filter(|(n, _)| self.text(*n) == self.text(chain.name))
            .map(|(_, line)| *line)
            .chain([wide(chain.line)])
            .min()
            .unwrap_or(wide(chain.line))
    }

    /// Marks chain `name` as defined (declared, or given a rule) and returns its id.
    pub fn define(&mut self, name: &str, role: Role, line: usize) -> ChainId {
        let id = self.intern(name, role, line);
        let chain = &mut self.chains[id];
        if !chain.defined {
            chain.defined = true;
            chain.line = narrow(line);
        }
        id
    }

    /// Records a jump that does not affect routing, so that its target is still checked.
    pub fn reference(&mut self, target: ChainId, line: usize) {
        self.references.push((target, line));
    }

    /// An empty program with room for what a dump of `bytes` bytes usually holds (kube-proxy
    /// writes about one rule per 100 bytes and one chain per 250). Capacity that is never
    /// touched costs no memory; regrowing large vectors copies them and doubles the peak.
    pub fn for_dump_of(bytes: usize) -> Self {
        let mut program = Program::default();
        program.rules.reserve(bytes / 64);
        program.chains.reserve(bytes / 128);
        program.declarations.reserve(bytes / 128);
        program.arena.reserve(bytes / 8);
        // Growing the table rehashes every name read so far; 5 bytes a slot is cheap to
        // reserve.
        program.names.reserve(bytes / 128, |_| 0);
        program
    }

    /// Appends a rule to a chain.
    pub fn push_rule(&mut self, chain: ChainId, rule: Rule) {
        let stored = match rule {
            Rule::Jump {
                target,
                source_conditional,
                sticky,
                probability,
                line,
            } => Stored::Jump {
                probability: probability.unwrap_or(1.0),
                target: narrow(target),
                line: narrow(line),
                has_probability: probability.is_some(),
                source_conditional,
                sticky,
            },
            Rule::Pick {
                targets,
                modulus,
                line,
            } => {
                let first = narrow(self.pick_targets.len());
                self.pick_targets.extend(targets.iter().map(|&t| narrow(t)));
                Stored::Pick {
                    modulus: modulus64(modulus),
                    first,
                    count: narrow(targets.len()),
                    line: narrow(line),
                }
            }
            Rule::Dnat(backend) => Stored::Dnat(backend),
            Rule::PickDnat { backends, modulus } => {
                let first = narrow(self.pick_backends.len());
                self.pick_backends.extend_from_slice(&backends);
                Stored::PickDnat {
                    modulus: modulus64(modulus),
                    first,
                    count: narrow(backends.len()),
                }
            }
            Rule::Drop => Stored::Drop,
        };
        let id = narrow(chain);
        let Some(c) = self.chains.get_mut(chain) else {
            return;
        };
        if c.rule_count > 0 && self.rules.last().is_some_and(|(last, _)| *last != id) {
            self.scattered = true;
        }
        if c.rule_count == 0 {
            c.first_rule = narrow(self.rules.len());
        }
        c.rule_count = c.rule_count.saturating_add(1);
        self.rules.push((id, stored));
    }

    /// The targets of a [`Stored::Pick`].
    fn picked_targets(&self, first: u32, count: u32) -> &[u32] {
        let start = wide(first);
        self.pick_targets
            .get(start..start.saturating_add(wide(count)))
            .unwrap_or_default()
    }

    /// The backends of a [`Stored::PickDnat`].
    fn picked_backends(&self, first: u32, count: u32) -> &[Backend] {
        let start = wide(first);
        self.pick_backends
            .get(start..start.saturating_add(wide(count)))
            .unwrap_or_default()
    }

    /// Makes every chain's rules contiguous (a stable sort by chain, only when some chain's
    /// rules were interleaved with another's) and records where each chain's rules start.
    fn group_rules(&mut self) {
        if !self.scattered {
            return;
        }
        self.rules.sort_by_key(|(chain, _)| *chain);
        let mut at = 0u32;
        for c in &mut self.chains {
            c.first_rule = at;
            at = at.saturating_add(c.rule_count);
        }
        self.scattered = false;
    }

    /// The rules of a chain, in order.
    fn rules_of(&self, chain: &Chain) -> impl Iterator<Item = &Stored> {
        let start = chain.first_rule as usize;
        let end = start.saturating_add(chain.rule_count as usize);
        self.rules
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .map(|(_, rule)| rule)
    }

    fn chain(&self, id: ChainId, line: usize) -> Result<&Chain, DataplaneError> {
        match self.chains.get(id) {
            Some(c) if c.defined => Ok(c),
            other => Err(DataplaneError::UndefinedChain {
                line,
                chain: other.map_or_else(String::new, |_| self.name_of(id)),
            }),
        }
    }

    /// The name of a chain.
    fn name_of(&self, id: ChainId) -> String {
        self.chains
            .get(id)
            .map_or_else(String::new, |c| self.text(c.name).to_string())
    }

    fn role_of(&self, id: ChainId) -> Role {
        self.chains.get(id).map_or(Role::Other, |c| c.role)
    }

    /// Checks that every jump to a kube-proxy chain lands on a defined chain; reports the
    /// first such jump in line order.
    pub fn check_targets(
        &self,
        is_kube_chain: impl Fn(&str) -> bool,
    ) -> Result<(), DataplaneError> {
        let mut first: Option<(usize, ChainId)> = None;
        let mut consider = |t: ChainId, line: usize| {
            let undefined = self
                .chains
                .get(t)
                .is_some_and(|c| !c.defined && is_kube_chain(self.text(c.name)));
            if undefined && first.is_none_or(|(l, _)| line < l) {
                first = Some((line, t));
            }
        };
        for d in &self.dispatch {
            consider(d.target, d.line);
        }
        for (t, line) in &self.references {
            consider(*t, *line);
        }
        for (_, rule) in &self.rules {
            match *rule {
                Stored::Jump { target, line, .. } => consider(wide(target), wide(line)),
                Stored::Pick {
                    first, count, line, ..
                } => {
                    for &t in self.picked_targets(first, count) {
                        consider(wide(t), wide(line));
                    }
                }
                _ => {}
            }
        }
        match first {
            Some((line, id)) => Err(DataplaneError::UndefinedChain {
                line,
                chain: self.name_of(id),
            }),
            None => Ok(()),
        }
    }

    /// The endpoint an endpoint chain DNATs to.
    fn endpoint(&self, id: ChainId, line: usize) -> Result<Backend, DataplaneError> {
        let chain = self.chain(id, line)?;
        self.rules_of(chain)
            .find_map(|r| match r {
                Stored::Dnat(b) => Some(*b),
                _ => None,
            })
            .ok_or_else(|| DataplaneError::Inconsistent {
                line: self.definition_line(id),
                message: format!("endpoint chain `{}` has no DNAT rule", self.name_of(id)),
            })
    }

    /// Applies a load-balancing rule (an unconditional jump to an endpoint chain, a `numgen`
    /// pick, a DNAT) to `lb`; `false` when the rule is not one.
    fn balance(&self, rule: &Stored, lb: &mut Balancer) -> Result<bool, DataplaneError> {
        match *rule {
            Stored::Jump {
                target,
                source_conditional: false,
                sticky: false,
                probability,
                line,
                ..
            } if self.role_of(wide(target)) == Role::Endpoint => {
                lb.take(self.endpoint(wide(target), wide(line))?, probability);
            }
            Stored::Pick {
                first,
                count,
                modulus,
                line,
            } => {
                let backends = self
                    .picked_targets(first, count)
                    .iter()
                    .map(|&t| self.endpoint(wide(t), wide(line)))
                    .collect::<Result<Vec<_>, _>>()?;
                lb.pick(backends, modulus);
            }
            Stored::Dnat(b) => lb.take(b, 1.0),
            Stored::PickDnat {
                first,
                count,
                modulus,
            } => lb.pick(self.picked_backends(first, count).to_vec(), modulus),
            Stored::Jump { .. } | Stored::Drop => return Ok(false),
        }
        Ok(true)
    }

    /// Shares of new connections over the endpoints a load-balancing chain reaches.
    fn distribution(&self, id: ChainId, line: usize) -> Result<Vec<Share>, DataplaneError> {
        let chain = self.chain(id, line)?;
        let mut lb = Balancer::new();
        for rule in self.rules_of(chain) {
            if lb.exhausted() || self.balance(rule, &mut lb)? {
                continue;
            }
            let drops = match *rule {
                Stored::Drop => true,
                Stored::Jump {
                    target,
                    has_probability: false,
                    source_conditional: false,
                    ..
                } => self.role_of(wide(target)) == Role::DropSink,
                _ => false,
            };
            if drops {
                break;
            }
        }
        Ok(lb.shares())
    }

    /// Walks an external entry chain (`KUBE-EXT-`, `KUBE-XLB-`, `KUBE-FW-`, `external-`).
    fn external(&self, id: ChainId, line: usize, depth: usize) -> Result<Paths, DataplaneError> {
        let chain = self.chain(id, line)?;
        if depth > MAX_DEPTH {
            return Err(DataplaneError::Inconsistent {
                line,
                message: format!(
                    "jumps nest deeper than {MAX_DEPTH} chains at `{}` (a loop?)",
                    self.name_of(id)
                ),
            });
        }
        let mut paths = Paths::default();
        let mut short_circuit = false;
        // pre-1.24 KUBE-XLB-: local endpoints listed directly in the entry chain.
        let mut local = Balancer::new();
        for rule in self.rules_of(chain) {
            if local.exhausted() {
                break;
            }
            if self.balance(rule, &mut local)? {
                continue;
            }
            match *rule {
                Stored::Jump {
                    target,
                    source_conditional,
                    line,
                    ..
                } => match self.role_of(wide(target)) {
                    Role::Cluster => {
                        paths.cluster = Some(self.distribution(wide(target), wide(line))?);
                        if source_conditional {
                            short_circuit = true;
                        } else {
                            paths.main_is_local = false;
                            break;
                        }
                    }
                    Role::Local => {
                        paths.local = Some(self.distribution(wide(target), wide(line))?);
                        if !source_conditional {
                            paths.main_is_local = true;
                            break;
                        }
                    }
                    Role::External => {
                        let sub = self.external(wide(target), wide(line), depth + 1)?;
                        paths.cluster = sub.cluster.or(paths.cluster);
                        paths.local = sub.local.or(paths.local);
                        paths.main_is_local = sub.main_is_local;
                        paths.dropped = sub.dropped;
                        return Ok(paths);
                    }
                    Role::DropSink if !source_conditional => {
                        paths.dropped = true;
                        break;
                    }
                    _ => {}
                },
                Stored::Drop => {
                    paths.dropped = true;
                    break;
                }
                _ => {}
            }
        }
        if !local.is_empty() {
            paths.local = Some(local.shares());
            paths.main_is_local = true;
        } else if short_circuit && paths.local.is_none() {
            // eTP=Local without local endpoints: the local path exists and is empty.
            paths.local = Some(Vec::new());
            paths.main_is_local = true;
        }
        Ok(paths)
    }

    /// The paths of a dispatch entry; `None` when it goes to a chain that does not route.
    fn paths(&self, d: &Dispatch) -> Result<Option<Paths>, DataplaneError> {
        Ok(Some(match self.chain(d.target, d.line)?.role {
            Role::Cluster => Paths {
                cluster: Some(self.distribution(d.target, d.line)?),
                ..Paths::default()
            },
            Role::Local => Paths {
                local: Some(self.distribution(d.target, d.line)?),
                main_is_local: true,
                ..Paths::default()
            },
            Role::External => self.external(d.target, d.line, 0)?,
            Role::Endpoint => Paths {
                cluster: Some(normalize_shares(vec![(
                    self.endpoint(d.target, d.line)?,
                    1.0,
                )])),
                ..Paths::default()
            },
            Role::DropSink => Paths {
                dropped: true,
                ..Paths::default()
            },
            Role::Other => return Ok(None),
        }))
    }

    /// Turns the program into routes.
    pub fn resolve(&mut self) -> Result<NodeRoutes, DataplaneError> {
        self.group_rules();
        // Each dispatch's paths only read the program: work them out on two threads. Errors
        // still count in dispatch order, and only for the first dispatch of a frontend.
        let all_paths = super::map_in_halves(&self.dispatch, super::HALVES_FROM, |d| self.paths(d));
        let dispatch = std::mem::take(&mut self.dispatch);
        let mut routes: Vec<FrontendRoute> = Vec::with_capacity(dispatch.len());
        // Route indices by frontend (the first dispatch wins) and by address (any kind: a
        // verdict is matched on the first route of its address, in O(1)). Both hash the
        // routes themselves, so that frontends move into the routes instead of being copied.
        let mut by_frontend = hashbrown::HashTable::<usize>::with_capacity(dispatch.len());
        let mut by_address = hashbrown::HashTable::<usize>::with_capacity(dispatch.len());
        for (d, paths) in dispatch.into_iter().zip(all_paths) {
            let hash = fx_hash(&d.frontend);
            if by_frontend
                .find(hash, |&i| routes[i].frontend == d.frontend)
                .is_some()
            {
                continue;
            }
            let Some(paths) = paths? else {
                continue;
            };
            let main = if paths.main_is_local {
                &paths.local
            } else {
                &paths.cluster
            };
            let outcome = if paths.dropped || main.as_ref().is_none_or(|m| m.is_empty()) {
                Outcome::Drop
            } else {
                Outcome::Route
            };
            let at = routes.len();
            let address = fx_hash(&address_of(&d.frontend));
            let first_of_address = by_address
                .find(address, |&i| {
                    address_of(&routes[i].frontend) == address_of(&d.frontend)
                })
                .is_none();
            routes.push(FrontendRoute {
                frontend: d.frontend,
                cluster: paths.cluster,
                local: paths.local,
                outcome,
            });
            by_frontend.insert_unique(hash, at, |&i| fx_hash(&routes[i].frontend));
            if first_of_address {
                by_address
                    .insert_unique(address, at, |&i| fx_hash(&address_of(&routes[i].frontend)));
            }
        }
        for v in &self.verdicts {
            // A verdict may name the frontend with a guessed kind: match on address first.
            let address = fx_hash(&address_of(&v.frontend));
            let found = by_address.find(address, |&i| {
                address_of(&routes[i].frontend) == address_of(&v.frontend)
            });
            let i = match found {
                Some(&i) => i,
                None => {
                    by_address.insert_unique(address, routes.len(), |&i| {
                        fx_hash(&address_of(&routes[i].frontend))
                    });
                    routes.push(FrontendRoute {
                        frontend: v.frontend.clone(),
                        cluster: None,
                        local: None,
                        outcome: v.outcome,
                    });
                    routes.len() - 1
                }
            };
            let r = &mut routes[i];
            r.outcome = v.outcome;
            if v.no_local {
                r.local.get_or_insert_with(Vec::new);
            } else {
                r.cluster.get_or_insert_with(Vec::new);
            }
        }
        // Every frontend is here once, so an unstable sort gives the order `finish`'s stable
        // one would, without its scratch buffer.
        routes.sort_unstable_by(|a, b| a.frontend.cmp(&b.frontend));
        Ok(NodeRoutes { frontends: routes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frontend_text_is_its_display() {
        for (ip, port, protocol) in [
            (Some("10.96.0.1"), 443, "tcp"),
            (Some("fd00:10:96::a"), 53, "udp"),
            (None, 30080, "sctp"),
        ] {
            let frontend = Frontend {
                kind: FrontendKind::ClusterIp,
                ip: ip.map(|ip| ip.parse().unwrap()),
                port,
                protocol: protocol.to_string(),
            };
            assert_eq!(frontend.text(), frontend.to_string());
        }
    }
}
