//! `nft list table ip kube-proxy` (and `ip6`), in nft's block syntax or as the `add …`
//! transaction lines kube-proxy writes (`nft -f` input, the upstream fixtures).
//!
//! Both shapes of load balancing are accepted: `numgen random mod N vmap { i : goto endpoint-… }`
//! with per-endpoint chains, and the newer `dnat … to numgen random mod N map { i : IP . port }`
//! (and a plain `dnat to IP:port`) inside the service chain.
//!
//! The dump is read line by line; each table family (`ip`, `ip6`, `inet`) gets its own chain
//! program, since their chains share names.

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::Read;
use std::net::IpAddr;

use super::error::{syntax, DataplaneError};
use super::for_each_line;
use super::iptables::tokenize;
use super::routes::{
    canonical_ip, finish, parse_backend, Backend, ChainId, Dispatch, Frontend, FrontendKind,
    NodeRoutes, Outcome, Program, Role, Rule, Verdict,
};

fn role(name: &str) -> Role {
    if name.starts_with("service-") && name != "service-endpoints-check" {
        Role::Cluster
    } else if name.starts_with("local-") {
        Role::Local
    } else if name.starts_with("external-") {
        Role::External
    } else if name.starts_with("endpoint-") {
        Role::Endpoint
    } else {
        Role::Other
    }
}

fn is_kube_chain(name: &str) -> bool {
    role(name) != Role::Other
}

/// Open blocks of the block syntax.
#[derive(Debug, PartialEq)]
enum Block {
    /// `table FAMILY NAME {`; the family when it is kube-proxy's.
    Table(Option<String>),
    /// `chain NAME {` in kube-proxy's table, with the table's family.
    Chain(String, String),
    /// `set NAME {` / `map NAME {` in kube-proxy's table, with the table's family.
    Set(String, String),
    /// Anything else (foreign tables and their contents).
    Skip,
}

/// Net count of `{` minus `}` outside quotes, scanned incrementally.
#[derive(Default, Clone, Copy)]
struct Braces {
    depth: i64,
    quoted: bool,
}

impl Braces {
    fn scan(&mut self, text: &str) {
        // Most lines have no brace or quote: one branch-free pass finds that out.
        let interesting = text
            .bytes()
            .fold(false, |seen, b| seen | matches!(b, b'"' | b'{' | b'}'));
        if !interesting {
            return;
        }
        for b in text.bytes() {
            match b {
                b'"' => self.quoted = !self.quoted,
                b'{' if !self.quoted => self.depth += 1,
                b'}' if !self.quoted => self.depth -= 1,
                _ => {}
            }
        }
    }
}

#[derive(Default)]
struct State {
    /// One chain program per table family, in order of first appearance.
    programs: Vec<(String, Program)>,
    cluster_ips: HashSet<IpAddr>,
    seen: bool,
    /// The dump's size when known, to size each program's tables once.
    size_hint: usize,
}

impl State {
    /// The chain program of a table family.
    fn program(&mut self, family: &str) -> &mut Program {
        let i = match self.programs.iter().position(|(f, _)| f == family) {
            Some(i) => i,
            None => {
                let program = Program::for_dump_of(self.size_hint);
                self.programs.push((family.to_string(), program));
                self.programs.len() - 1
            }
        };
        &mut self.programs[i].1
    }

    /// Chain `name` of `family`, defined (declared or given rules) on `line`.
    fn define(&mut self, family: &str, name: &str, line: usize) -> ChainId {
        self.program(family).define(name, role(name), line)
    }

    /// Chain `name` of `family`, as a jump target.
    fn intern(&mut self, family: &str, name: &str, line: usize) -> ChainId {
        self.program(family).intern(name, role(name), line)
    }
}

/// Parses `nft list table ip kube-proxy` output or kube-proxy's `add …` lines.
pub fn parse_nftables(text: &str) -> Result<NodeRoutes, DataplaneError> {
    parse_nftables_stream(text.as_bytes(), text.len())
}

/// Parses nftables input from a reader, one logical line at a time.
pub fn parse_nftables_reader(reader: impl Read) -> Result<NodeRoutes, DataplaneError> {
    parse_nftables_stream(reader, 0)
}

/// As [`parse_nftables_reader`], with the dump's size when known (to size tables once).
pub(crate) fn parse_nftables_stream(
    reader: impl Read,
    size_hint: usize,
) -> Result<NodeRoutes, DataplaneError> {
    let mut st = State {
        size_hint,
        ..State::default()
    };
    let mut stack: Vec<Block> = Vec::new();
    // A statement still open across lines: its text, first line, and brace scan state.
    let mut pending: Option<(String, usize, Braces)> = None;
    let lineno = for_each_line(reader, |lineno, line| {
        let text = line.trim();
        if pending.is_none() && (text.is_empty() || text.starts_with('#')) {
            return Ok(());
        }
        // Join continuation lines until braces balance (multi-line `elements = { … }`); the
        // scan state carries over, so long statements stay linear.
        let (stmt, start, braces): (Cow<'_, str>, usize, Braces) = match pending.take() {
            Some((mut acc, start, mut braces)) => {
                acc.push(' ');
                acc.push_str(text);
                braces.scan(text);
                (Cow::Owned(acc), start, braces)
            }
            None => {
                let mut braces = Braces::default();
                braces.scan(text);
                (Cow::Borrowed(text), lineno, braces)
            }
        };
        let opens_block = stmt.ends_with('{') && is_block_opener(&stmt, stack.last());
        if !opens_block && braces.depth > 0 {
            pending = Some((stmt.into_owned(), start, braces));
            return Ok(());
        }
        statement(&mut st, &mut stack, &stmt, start, opens_block)
    })?;
    if let Some((_, start, _)) = pending {
        return Err(DataplaneError::Truncated {
            line: lineno,
            inside: format!("the statement started on line {start}"),
        });
    }
    if !stack.is_empty() {
        return Err(DataplaneError::Truncated {
            line: lineno,
            inside: format!("{} open block(s)", stack.len()),
        });
    }
    if !st.seen {
        return Err(DataplaneError::NotADump {
            line: lineno.max(1),
            expected: "an nftables dump of table kube-proxy",
            found: "no `table ip kube-proxy` and no `add … ip kube-proxy` lines".to_string(),
        });
    }
    let State {
        mut programs,
        cluster_ips,
        ..
    } = st;
    for (_, program) in &mut programs {
        for v in &mut program.verdicts {
            if let Some(ip) = &v.frontend.ip {
                if cluster_ips.contains(ip) {
                    v.frontend.kind = FrontendKind::ClusterIp;
                }
            }
        }
        program.settle_declarations(is_kube_chain);
    }
    // The first undefined chain in line order, over every family.
    if let Some(e) = programs
        .iter()
        .filter_map(|(_, p)| p.check_targets(is_kube_chain).err())
        .min_by_key(DataplaneError::line)
    {
        return Err(e);
    }
    let mut frontends = Vec::new();
    for (_, program) in &mut programs {
        frontends.extend(program.resolve()?.frontends);
    }
    Ok(finish(frontends))
}

fn is_block_opener(stmt: &str, top: Option<&Block>) -> bool {
    let first = stmt.split_whitespace().next().unwrap_or("");
    match top {
        None => first == "table",
        Some(Block::Table(_)) => true,
        Some(Block::Skip) => true,
        Some(Block::Chain(..) | Block::Set(..)) => false,
    }
}

fn is_kube_table(family: &str, name: &str) -> bool {
    matches!(family, "ip" | "ip6" | "inet") && name == "kube-proxy"
}

fn statement(
    st: &mut State,
    stack: &mut Vec<Block>,
    stmt: &str,
    line: usize,
    opens_block: bool,
) -> Result<(), DataplaneError> {
    if stmt == "}" {
        return match stack.pop() {
            Some(_) => Ok(()),
            None => Err(syntax(line, "`}` without an open block")),
        };
    }
    if opens_block {
        let words: Vec<&str> = stmt.split_whitespace().collect();
        let block = match (stack.last(), words.as_slice()) {
            (None, ["table", family, name, "{"]) => {
                let mine = is_kube_table(family, name);
                st.seen |= mine;
                Block::Table(mine.then(|| family.to_string()))
            }
            (None, _) => {
                return Err(not_a_dump(line, stmt));
            }
            (Some(Block::Table(Some(family))), ["chain", name, "{"]) => {
                // An empty chain block still declares the chain.
                let (name, family) = (unquote(name).to_string(), family.clone());
                st.program(&family).declare(&name, line);
                Block::Chain(name, family)
            }
            (Some(Block::Table(Some(family))), ["set" | "map", name, "{"]) => {
                Block::Set(unquote(name).to_string(), family.clone())
            }
            _ => Block::Skip,
        };
        stack.push(block);
        return Ok(());
    }
    match stack.last() {
        None => top_level(st, stmt, line),
        Some(Block::Chain(name, family)) => {
            let mut words = stmt.split_whitespace();
            let first = words.next().unwrap_or("");
            if (first == "type" && words.any(|w| w == "hook"))
                || first == "policy"
                || first == "comment"
                || first == "devices"
            {
                return Ok(());
            }
            let (name, family) = (name.clone(), family.clone());
            rule(st, &family, &name, stmt, line)
        }
        Some(Block::Set(name, family)) => {
            if let Some(rest) = stmt.strip_prefix("elements") {
                let rest = rest.trim_start().trim_start_matches('=').trim_start();
                let (name, family) = (name.clone(), family.clone());
                elements(st, &name, &family, rest, line)?;
            }
            Ok(())
        }
        Some(Block::Table(_) | Block::Skip) => Ok(()),
    }
}

fn not_a_dump(line: usize, stmt: &str) -> DataplaneError {
    DataplaneError::NotADump {
        line,
        expected: "an nftables dump of table kube-proxy",
        found: format!("`{}`", stmt.chars().take(60).collect::<String>()),
    }
}

/// `add|create|flush|delete …` lines of the transaction syntax.
fn top_level(st: &mut State, stmt: &str, line: usize) -> Result<(), DataplaneError> {
    let (verb, rest) = next_word(stmt);
    let (object, rest) = next_word(rest);
    let (family, rest) = next_word(rest);
    let (table, rest) = next_word(rest);
    if table.is_empty() {
        return Err(not_a_dump(line, stmt));
    }
    if !matches!(
        verb,
        "add" | "create" | "flush" | "delete" | "insert" | "replace"
    ) {
        return Err(not_a_dump(line, stmt));
    }
    if object == "table" {
        // `add table ip kube-proxy { … }`: family and name are words 2 and 3.
        st.seen |= is_kube_table(family, table);
        return Ok(());
    }
    if !is_kube_table(family, table) {
        return Ok(());
    }
    st.seen = true;
    if verb != "add" && verb != "create" && verb != "insert" {
        return Ok(());
    }
    let (name, body) = next_word(rest);
    if name.is_empty() {
        return Err(syntax(line, format!("`{verb} {object}` without a name")));
    }
    let name = unquote(name);
    match object {
        "chain" => {
            st.program(family).declare(name, line);
            Ok(())
        }
        // The rule body (or the elements) start after the 5th word.
        "rule" => rule(st, family, name, body, line),
        "element" => elements(st, name, family, body, line),
        _ => Ok(()),
    }
}

/// The first word of `text` (split at ASCII blanks) and what follows it, without leading
/// blanks; `""` when there is no word.
fn next_word(text: &str) -> (&str, &str) {
    let text = text.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let end = text
        .bytes()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(text.len());
    let (word, rest) = text.split_at(end);
    (
        word,
        rest.trim_start_matches(|c: char| c.is_ascii_whitespace()),
    )
}

fn unquote(s: &str) -> &str {
    s.trim_matches('"')
}

/// The `{ … }` body of an anonymous or named set, split into elements at `,` outside quotes.
fn element_list(text: &str) -> Vec<&str> {
    let inner = text.trim();
    let inner = inner.strip_prefix('{').unwrap_or(inner);
    let inner = match inner.rfind('}') {
        Some(i) => &inner[..i],
        None => inner,
    };
    let mut out = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, b) in inner.bytes().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                out.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&inner[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect()
}

/// Key parts (`.`-separated, comments dropped) and verdict words of one element.
type Element<'s> = (Vec<Cow<'s, str>>, Vec<Cow<'s, str>>);

/// Splits `key … : verdict` into key parts and verdict words.
fn split_element(e: &str, line: usize) -> Result<Element<'_>, DataplaneError> {
    let mut key = Vec::new();
    let mut verdict = Vec::new();
    let mut after = false;
    let mut skip = 0;
    for t in tokenize(e, line)? {
        if skip > 0 {
            skip -= 1;
            continue;
        }
        if t == "comment" && !after {
            skip = 1;
            continue;
        }
        if t == ":" && !after {
            after = true;
        } else if after {
            verdict.push(t);
        } else if t != "." {
            key.push(t);
        }
    }
    Ok((key, verdict))
}

fn port(text: &str, line: usize) -> Result<u16, DataplaneError> {
    text.parse().map_err(|_| DataplaneError::BadAddress {
        line,
        value: text.to_string(),
    })
}

fn ip(text: &str, line: usize) -> Result<IpAddr, DataplaneError> {
    canonical_ip(text).ok_or_else(|| DataplaneError::BadAddress {
        line,
        value: text.to_string(),
    })
}

fn elements(
    st: &mut State,
    set: &str,
    family: &str,
    body: &str,
    line: usize,
) -> Result<(), DataplaneError> {
    match set {
        "cluster-ips" => {
            for e in element_list(body) {
                let (key, _) = split_element(e, line)?;
                if let Some(k) = key.first() {
                    st.cluster_ips.insert(ip(k, line)?);
                }
            }
        }
        "service-ips" | "service-nodeports" | "no-endpoint-services" | "no-endpoint-nodeports" => {
            for e in element_list(body) {
                let (key, verdict) = split_element(e, line)?;
                let key: Vec<&str> = key.iter().map(Cow::as_ref).collect();
                let frontend = match (set, key.as_slice()) {
                    ("service-ips" | "no-endpoint-services", [a, proto, p]) => Frontend {
                        kind: FrontendKind::ClusterIp,
                        ip: Some(ip(a, line)?),
                        port: port(p, line)?,
                        protocol: proto.to_ascii_lowercase(),
                    },
                    ("service-nodeports" | "no-endpoint-nodeports", [proto, p]) => Frontend {
                        kind: FrontendKind::NodePort,
                        ip: None,
                        port: port(p, line)?,
                        protocol: proto.to_ascii_lowercase(),
                    },
                    _ => return Err(syntax(line, format!("unexpected element `{e}` in `{set}`"))),
                };
                let verdict: Vec<&str> = verdict.iter().map(Cow::as_ref).collect();
                if set.starts_with("no-endpoint") {
                    let outcome = match verdict.as_slice() {
                        ["drop"] => Outcome::Drop,
                        ["reject", ..] | ["goto" | "jump", "reject-chain"] => Outcome::Reject,
                        _ => continue,
                    };
                    let mut frontend = frontend;
                    if frontend.kind != FrontendKind::NodePort {
                        frontend.kind = FrontendKind::ExternalIp; // corrected via cluster-ips
                    }
                    st.program(family).verdicts.push(Verdict {
                        frontend,
                        outcome,
                        no_local: outcome == Outcome::Drop,
                    });
                } else if let ["goto" | "jump", target] = verdict.as_slice() {
                    let target = unquote(target);
                    let mut frontend = frontend;
                    if frontend.kind == FrontendKind::ClusterIp && role(target) == Role::External {
                        frontend.kind = FrontendKind::ExternalIp;
                    }
                    let target = st.intern(family, target, line);
                    st.program(family).dispatch.push(Dispatch {
                        frontend,
                        target,
                        line,
                    });
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// A `{ i : … , … }` map after `vmap` / `map` in a rule.
fn inline_map(body: &str) -> Option<&str> {
    let start = body.find('{')?;
    let end = body.rfind('}')?;
    (end > start).then(|| &body[start..=end])
}

/// What [`parse_rule`] needs from a rule's words, gathered in one pass without collecting
/// them.
#[derive(Default)]
struct RuleWords<'s> {
    count: usize,
    only: Option<&'s str>,
    numgen: bool,
    vmap: bool,
    /// The word after the first `mod`.
    modulus: Option<&'s str>,
    after_mod: bool,
    /// A `dnat` was seen; then a `to` after it; then the word after that `to`.
    dnat: bool,
    dnat_to: bool,
    dnat_dest: Option<&'s str>,
    /// The word after the last `goto` / `jump` (`None` when nothing follows it).
    jump: Option<&'s str>,
    after_jump: bool,
    /// Matches on the source (`saddr` not followed by `!=`, or `fib saddr`).
    source_conditional: bool,
    previous: &'s str,
}

impl<'s> RuleWords<'s> {
    fn read(body: &'s str) -> Self {
        let mut w = RuleWords::default();
        for word in body.split_ascii_whitespace() {
            w.count += 1;
            w.only = (w.count == 1).then_some(word);
            if std::mem::take(&mut w.after_mod) {
                w.modulus = Some(word);
            }
            if std::mem::take(&mut w.after_jump) {
                w.jump = Some(word);
            }
            if w.dnat_to && w.dnat_dest.is_none() {
                w.dnat_dest = Some(word);
            }
            w.source_conditional |=
                (w.previous == "saddr" && word != "!=") || (w.previous == "fib" && word == "saddr");
            match word {
                "numgen" => w.numgen = true,
                "vmap" => w.vmap = true,
                "mod" if w.modulus.is_none() => w.after_mod = true,
                // `ct status dnat` matches connections already DNAT'ed (the hairpin rule of
                // kube-proxy 1.36+): no action.
                "dnat" if w.previous != "status" => w.dnat = true,
                "to" if w.dnat && !w.dnat_to => w.dnat_to = true,
                "goto" | "jump" => {
                    w.after_jump = true;
                    w.jump = None;
                }
                _ => {}
            }
            w.previous = word;
        }
        w
    }
}

fn rule(
    st: &mut State,
    family: &str,
    chain: &str,
    body: &str,
    line: usize,
) -> Result<(), DataplaneError> {
    let id = st.define(family, chain, line);
    // Masquerade marks never change where traffic goes (kube-proxy's most common rule): the
    // chain is defined, nothing else is read.
    if body.ends_with(" jump mark-for-masquerade") && !body.contains('"') {
        return Ok(());
    }
    if let Some(rule) = parse_rule(body, line)? {
        let rule = rule.map_targets(|t| st.intern(family, &t, line));
        st.program(family).push_rule(id, rule);
    }
    Ok(())
}

fn parse_rule(body: &str, line: usize) -> Result<Option<Rule<Cow<'_, str>>>, DataplaneError> {
    // Drop a trailing `comment "…"` so it cannot be mistaken for rule words.
    let body = match body.find(" comment \"") {
        Some(i) => &body[..i],
        None => body,
    };
    let words = RuleWords::read(body);
    if words.numgen {
        let Some(map) = inline_map(body) else {
            return Err(syntax(line, "numgen without a map"));
        };
        let n = words
            .modulus
            .and_then(|m| m.parse().ok())
            .ok_or_else(|| syntax(line, "numgen without `mod N`"))?;
        let mut slots: Vec<(usize, Vec<Cow<'_, str>>)> = Vec::new();
        for e in element_list(map) {
            let (key, value) = split_element(e, line)?;
            let index: usize = key
                .first()
                .and_then(|k| k.parse().ok())
                .ok_or_else(|| syntax(line, format!("bad numgen slot `{e}`")))?;
            slots.push((index, value));
        }
        slots.sort_by_key(|(i, _)| *i);
        if words.vmap {
            let targets = slots
                .into_iter()
                .filter_map(|(_, mut v)| match v.as_slice() {
                    [verb, _] if verb == "goto" || verb == "jump" => v.pop().map(|t| match t {
                        Cow::Borrowed(t) => Cow::Borrowed(unquote(t)),
                        Cow::Owned(t) => Cow::Owned(unquote(&t).to_string()),
                    }),
                    _ => None,
                })
                .collect();
            return Ok(Some(Rule::Pick {
                targets,
                modulus: n,
                line,
            }));
        }
        if words.dnat {
            let mut backends = Vec::new();
            for (_, v) in slots {
                let v: Vec<&str> = v.iter().map(Cow::as_ref).filter(|w| *w != ".").collect();
                match v.as_slice() {
                    [a, p] => backends.push(Backend {
                        ip: ip(a, line)?,
                        port: port(p, line)?,
                    }),
                    _ => return Err(syntax(line, "bad dnat map element")),
                }
            }
            return Ok(Some(Rule::PickDnat {
                backends,
                modulus: n,
            }));
        }
        return Ok(None);
    }
    if words.dnat {
        if !words.dnat_to {
            return Err(syntax(line, "dnat without `to`"));
        }
        let Some(dest) = words.dnat_dest else {
            return Err(syntax(line, "dnat without a destination"));
        };
        let b = parse_backend(dest).ok_or_else(|| DataplaneError::BadAddress {
            line,
            value: dest.to_string(),
        })?;
        return Ok(Some(Rule::Dnat(b)));
    }
    if let Some(target) = words.jump {
        return Ok(Some(Rule::Jump {
            target: Cow::Borrowed(unquote(target)),
            source_conditional: words.source_conditional,
            sticky: false,
            probability: None,
            line,
        }));
    }
    if matches!(words.only, Some("drop" | "reject")) {
        return Ok(Some(Rule::Drop));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::dataplane::test_support::{fixture, summary};

    fn routes(path: &str) -> String {
        summary(&parse_nftables(&fixture(path)).expect(path))
    }

    /// Recorded from a real kube-proxy 1.37 (nftables mode, the local backend): one-endpoint
    /// services DNAT in the service chain itself, several go through `dnat ip to numgen … map`,
    /// and the masquerading chain matches `ct status dnat` against a hairpin set — a match,
    /// not a DNAT (it was once read as "dnat without `to`").
    #[test]
    fn kube_proxy_1_37_dumps_parse() {
        let got = routes("nftables/valid-kube-proxy-1.37-local.nft");
        assert!(
            got.contains("10.96.110.178:80/tcp  cluster-ip  route  cluster: 10.128.1.2:8080=0.5 10.128.2.2:8080=0.5"),
            "{got}"
        );
        let hairpin = "table ip kube-proxy {\n chain masquerading {\n  ct status dnat ip saddr . ip daddr . meta l4proto . th dport @hairpin-connections masquerade fully-random\n }\n}\n";
        assert!(parse_nftables(hairpin).is_ok());
    }

    const OVERALL: &str = "\
*:3001/tcp  node-port  drop  cluster: 10.180.0.2:80=1  local: (none)
*:3002/tcp  node-port  route  cluster: 10.180.0.3:80=1  local: -
*:3003/tcp  node-port  route  cluster: 10.180.0.3:80=1  local: -
1.2.3.4:80/tcp  external-ip  drop  cluster: 10.180.0.2:80=1  local: (none)
172.30.0.41:80/tcp  cluster-ip  route  cluster: 10.180.0.1:80=1  local: -
172.30.0.42:80/tcp  cluster-ip  route  cluster: 10.180.0.2:80=1  local: -
172.30.0.43:80/tcp  cluster-ip  route  cluster: 10.180.0.3:80=1  local: -
172.30.0.44:80/tcp  cluster-ip  route  cluster: 10.180.0.4:80=0.5 10.180.0.5:80=0.5  local: -
172.30.0.45:80/tcp  cluster-ip  route  cluster: 10.180.0.3:80=1  local: -
172.30.0.46:80/tcp  cluster-ip  reject  cluster: (none)  local: -
192.168.99.22:80/tcp  external-ip  drop  cluster: 10.180.0.2:80=1  local: (none)
192.168.99.33:80/tcp  external-ip  route  cluster: 10.180.0.4:80=0.5 10.180.0.5:80=0.5  local: -
5.6.7.8:80/tcp  external-ip  route  cluster: 10.180.0.3:80=1  local: -
";

    #[test]
    fn overall_fixture_as_transaction_and_as_listed() {
        assert_eq!(routes("nftables/valid-overall.nft"), OVERALL);
        assert_eq!(routes("nftables/valid-overall-listed.nft"), OVERALL);
    }

    #[test]
    fn newer_dnat_map_shape_local_chains_and_ip6() {
        assert_eq!(
            routes("nftables/valid-dnat-map.nft"),
            "*:30080/tcp  node-port  route  cluster: 10.180.1.1:8080=0.333333 10.180.1.2:8080=0.333333 10.180.2.1:8080=0.333333  local: 10.180.1.2:8080=1\n\
             172.30.0.50:80/tcp  cluster-ip  route  cluster: 10.180.1.1:8080=0.333333 10.180.1.2:8080=0.333333 10.180.2.1:8080=0.333333  local: -\n\
             172.30.0.51:53/udp  cluster-ip  route  cluster: 10.180.3.3:53=1  local: -\n\
             172.30.0.52:443/tcp  cluster-ip  route  cluster: -  local: 10.180.1.5:8443=0.5 10.180.1.6:8443=0.5\n\
             [fd00:10:96::10]:80/tcp  cluster-ip  route  cluster: [fd00:10:244::1]:8080=0.5 [fd00:10:244::2]:8080=0.5  local: -\n"
                .replace("\n             ", "\n")
        );
    }

    #[test]
    fn same_chain_names_in_ip_and_ip6_tables_stay_apart() {
        let dump = "\
add table ip kube-proxy
add table ip6 kube-proxy
add chain ip kube-proxy service-X-a/b/tcp/
add chain ip6 kube-proxy service-X-a/b/tcp/
add rule ip kube-proxy service-X-a/b/tcp/ dnat to 10.0.0.9:80
add rule ip6 kube-proxy service-X-a/b/tcp/ dnat to [fd00::9]:80
add element ip kube-proxy service-ips { 10.96.0.9 . tcp . 80 : goto service-X-a/b/tcp/ }
add element ip6 kube-proxy service-ips { fd00:96::9 . tcp . 80 : goto service-X-a/b/tcp/ }
";
        assert_eq!(
            summary(&parse_nftables(dump).unwrap()),
            "10.96.0.9:80/tcp  cluster-ip  route  cluster: 10.0.0.9:80=1  local: -\n\
             [fd00:96::9]:80/tcp  cluster-ip  route  cluster: [fd00::9]:80=1  local: -\n"
                .replace("\n             ", "\n")
        );
    }

    /// An empty `chain … { }` block declares its chain, as `:CHAIN` does in iptables: a
    /// Service whose chain has no rules drops, instead of failing as an undefined chain.
    #[test]
    fn an_empty_chain_block_declares_the_chain() {
        let dump = "\
table ip kube-proxy {
\tmap service-ips {
\t\ttype ipv4_addr . inet_proto . inet_service : verdict
\t\telements = { 10.96.0.9 . tcp . 80 : goto service-X-a/b/tcp/ }
\t}

\tchain service-X-a/b/tcp/ {
\t}
}
";
        assert_eq!(
            summary(&parse_nftables(dump).unwrap()),
            "10.96.0.9:80/tcp  cluster-ip  drop  cluster: (none)  local: -\n"
        );
    }

    #[test]
    fn bad_input_is_a_typed_error_with_the_line() {
        let err = |p: &str| parse_nftables(&fixture(p)).unwrap_err();
        assert!(matches!(
            err("nftables/invalid-truncated.nft"),
            DataplaneError::Truncated { line: 40, .. }
        ));
        assert_eq!(
            err("nftables/invalid-undefined-chain.nft"),
            DataplaneError::UndefinedChain {
                line: 148,
                chain: "endpoint-MISSING0-ns1/svc1/tcp/p80__10.180.0.1/80".into()
            }
        );
        assert!(matches!(
            parse_nftables("hello world\n").unwrap_err(),
            DataplaneError::NotADump { line: 1, .. }
        ));
        assert!(matches!(
            parse_nftables("table inet filter {\n}\n").unwrap_err(),
            DataplaneError::NotADump { .. }
        ));
        assert!(matches!(
            parse_nftables("table ip kube-proxy {\n}\n}\n").unwrap_err(),
            DataplaneError::Syntax { line: 3, .. }
        ));
        let bad_ip =
            "add element ip kube-proxy service-ips { 10.96.0.999 . tcp . 80 : goto service-x }\n";
        assert_eq!(
            parse_nftables(bad_ip).unwrap_err(),
            DataplaneError::BadAddress {
                line: 1,
                value: "10.96.0.999".into()
            }
        );
    }
}
