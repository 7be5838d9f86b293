//! `nft list table ip kube-proxy` (and `ip6`), in nft's block syntax or as the `add …`
//! transaction lines kube-proxy writes (`nft -f` input, the upstream fixtures).
//!
//! Both shapes of load balancing are accepted: `numgen random mod N vmap { i : goto endpoint-… }`
//! with per-endpoint chains, and the newer `dnat … to numgen random mod N map { i : IP . port }`
//! (and a plain `dnat to IP:port`) inside the service chain.

use std::collections::HashSet;
use std::io::BufRead;
use std::net::IpAddr;

use super::error::{syntax, DataplaneError};
use super::iptables::tokenize;
use super::routes::{
    canonical_ip, parse_backend, Backend, ChainId, Dispatch, Frontend, FrontendKind, NodeRoutes,
    Outcome, Program, Role, Rule, Verdict,
};

fn role(qualified: &str) -> Role {
    let name = qualified.rsplit_once('@').map_or(qualified, |(n, _)| n);
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
    /// `chain NAME {` in kube-proxy's table.
    Chain(String),
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
    program: Program,
    cluster_ips: HashSet<IpAddr>,
    seen: bool,
}

/// Parses `nft list table ip kube-proxy` output or kube-proxy's `add …` lines.
pub fn parse_nftables(text: &str) -> Result<NodeRoutes, DataplaneError> {
    parse_nftables_reader(text.as_bytes())
}

/// Parses nftables input from a reader, one logical line at a time.
pub fn parse_nftables_reader(reader: impl BufRead) -> Result<NodeRoutes, DataplaneError> {
    let mut st = State::default();
    let mut stack: Vec<Block> = Vec::new();
    // A statement still open across lines: its text, first line, and brace scan state.
    let mut pending: Option<(String, usize, Braces)> = None;
    let mut lineno = 0;
    for line in reader.lines() {
        lineno += 1;
        let line = line.map_err(|e| syntax(lineno, format!("unreadable input: {e}")))?;
        let text = line.trim();
        if pending.is_none() && (text.is_empty() || text.starts_with('#')) {
            continue;
        }
        // Join continuation lines until braces balance (multi-line `elements = { … }`); the
        // scan state carries over, so long statements stay linear.
        let (stmt, start, braces) = match pending.take() {
            Some((mut acc, start, mut braces)) => {
                acc.push(' ');
                acc.push_str(text);
                braces.scan(text);
                (acc, start, braces)
            }
            None => {
                let mut braces = Braces::default();
                braces.scan(text);
                (text.to_string(), lineno, braces)
            }
        };
        let opens_block = stmt.ends_with('{') && is_block_opener(&stmt, stack.last());
        if !opens_block && braces.depth > 0 {
            pending = Some((stmt, start, braces));
            continue;
        }
        statement(&mut st, &mut stack, &stmt, start, opens_block)?;
    }
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
        mut program,
        cluster_ips,
        ..
    } = st;
    for v in &mut program.verdicts {
        if let Some(ip) = &v.frontend.ip {
            if cluster_ips.contains(ip) {
                v.frontend.kind = FrontendKind::ClusterIp;
            }
        }
    }
    let unqualify = |e: DataplaneError| match e {
        DataplaneError::UndefinedChain { line, chain } => DataplaneError::UndefinedChain {
            line,
            chain: chain
                .rsplit_once('@')
                .map_or(chain.clone(), |(n, _)| n.to_string()),
        },
        other => other,
    };
    program.check_targets(is_kube_chain).map_err(unqualify)?;
    program.resolve().map_err(unqualify)
}

fn is_block_opener(stmt: &str, top: Option<&Block>) -> bool {
    let first = stmt.split_whitespace().next().unwrap_or("");
    match top {
        None => first == "table",
        Some(Block::Table(_)) => true,
        Some(Block::Skip) => true,
        Some(Block::Chain(_) | Block::Set(..)) => false,
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
    let words: Vec<&str> = stmt.split_whitespace().collect();
    if opens_block {
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
                Block::Chain(qualify(&unquote(name), family))
            }
            (Some(Block::Table(Some(family))), ["set" | "map", name, "{"]) => {
                Block::Set(unquote(name), family.clone())
            }
            _ => Block::Skip,
        };
        stack.push(block);
        return Ok(());
    }
    match stack.last() {
        None => top_level(st, stmt, &words, line),
        Some(Block::Chain(name)) => {
            let name = name.clone();
            let first = words.first().copied().unwrap_or("");
            if (first == "type" && words.contains(&"hook"))
                || first == "policy"
                || first == "comment"
                || first == "devices"
            {
                return Ok(());
            }
            rule(st, &name, stmt, line)
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
fn top_level(
    st: &mut State,
    stmt: &str,
    words: &[&str],
    line: usize,
) -> Result<(), DataplaneError> {
    let (verb, object, family, table) = match words {
        [v, o, f, t, ..] => (*v, *o, *f, *t),
        _ => return Err(not_a_dump(line, stmt)),
    };
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
    let Some(name) = words.get(4).map(|n| unquote(n)) else {
        return Err(syntax(line, format!("`{verb} {object}` without a name")));
    };
    match object {
        "chain" => {
            define(&mut st.program, &qualify(&name, family), line);
            Ok(())
        }
        "rule" => {
            // The rule body starts after the 5th word.
            let body = skip_words(stmt, 5);
            rule(st, &qualify(&name, family), body, line)
        }
        "element" => elements(st, &name, family, skip_words(stmt, 5), line),
        _ => Ok(()),
    }
}

fn skip_words(stmt: &str, n: usize) -> &str {
    let mut rest = stmt.trim_start();
    for _ in 0..n {
        rest = rest
            .find(char::is_whitespace)
            .map_or("", |i| rest[i..].trim_start());
    }
    rest
}

/// Chains of the `ip` and `ip6` tables share names: keep them apart as `name@family`.
fn qualify(name: &str, family: &str) -> String {
    format!("{name}@{family}")
}

/// The family a qualified chain name belongs to.
fn family_of(qualified: &str) -> &str {
    qualified.rsplit_once('@').map_or("", |(_, f)| f)
}

fn unquote(s: &str) -> String {
    s.trim_matches('"').to_string()
}

fn define(program: &mut Program, name: &str, line: usize) -> ChainId {
    program.define(name, role(name), line)
}

/// The `{ … }` body of an anonymous or named set, split into elements.
fn element_list(text: &str) -> Vec<String> {
    let inner = text.trim();
    let inner = inner.strip_prefix('{').unwrap_or(inner);
    let inner = match inner.rfind('}') {
        Some(i) => &inner[..i],
        None => inner,
    };
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in inner.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty())
        .collect()
}

/// Splits `key … : verdict` into key parts (`.`-separated, comments dropped) and verdict words.
fn split_element(e: &str, line: usize) -> Result<(Vec<String>, Vec<String>), DataplaneError> {
    let tokens = tokenize(e, line)?;
    let mut key = Vec::new();
    let mut verdict = Vec::new();
    let mut after = false;
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        if t == "comment" && !after {
            i += 2;
            continue;
        }
        if t == ":" && !after {
            after = true;
        } else if after {
            verdict.push(t.to_string());
        } else if t != "." {
            key.push(t.to_string());
        }
        i += 1;
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
                let (key, _) = split_element(&e, line)?;
                if let Some(k) = key.first() {
                    st.cluster_ips.insert(ip(k, line)?);
                }
            }
        }
        "service-ips" | "service-nodeports" | "no-endpoint-services" | "no-endpoint-nodeports" => {
            for e in element_list(body) {
                let (key, verdict) = split_element(&e, line)?;
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
                let verdict: Vec<&str> = verdict.iter().map(String::as_str).collect();
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
                    st.program.verdicts.push(Verdict {
                        frontend,
                        outcome,
                        no_local: outcome == Outcome::Drop,
                    });
                } else if let ["goto" | "jump", target] = verdict.as_slice() {
                    let target = qualify(&unquote(target), family);
                    let target_role = role(&target);
                    let mut frontend = frontend;
                    if frontend.kind == FrontendKind::ClusterIp && target_role == Role::External {
                        frontend.kind = FrontendKind::ExternalIp;
                    }
                    let target = st.program.intern(&target, target_role, line);
                    st.program.dispatch.push(Dispatch {
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

fn modulus(words: &[&str]) -> Option<usize> {
    let i = words.iter().position(|w| *w == "mod")?;
    words.get(i + 1)?.parse().ok()
}

fn rule(st: &mut State, chain: &str, body: &str, line: usize) -> Result<(), DataplaneError> {
    let family = family_of(chain).to_string();
    let id = define(&mut st.program, chain, line);
    if let Some(rule) = parse_rule(body, line)? {
        let program = &mut st.program;
        let rule = rule.map_targets(|t| {
            let q = qualify(&t, &family);
            program.intern(&q, role(&q), line)
        });
        program.push_rule(id, rule);
    }
    Ok(())
}

fn parse_rule(body: &str, line: usize) -> Result<Option<Rule<String>>, DataplaneError> {
    // Drop a trailing `comment "…"` so it cannot be mistaken for rule words.
    let body = match body.find(" comment \"") {
        Some(i) => &body[..i],
        None => body,
    };
    let words: Vec<&str> = body.split_whitespace().collect();
    let source_conditional = words.windows(2).any(|w| w[0] == "saddr" && w[1] != "!=")
        || words.windows(2).any(|w| w == ["fib", "saddr"]);
    if words.contains(&"numgen") {
        let Some(map) = inline_map(body) else {
            return Err(syntax(line, "numgen without a map"));
        };
        let n = modulus(&words).ok_or_else(|| syntax(line, "numgen without `mod N`"))?;
        let mut slots: Vec<(usize, Vec<String>)> = Vec::new();
        for e in element_list(map) {
            let (key, value) = split_element(&e, line)?;
            let index: usize = key
                .first()
                .and_then(|k| k.parse().ok())
                .ok_or_else(|| syntax(line, format!("bad numgen slot `{e}`")))?;
            slots.push((index, value));
        }
        slots.sort_by_key(|(i, _)| *i);
        if words.contains(&"vmap") {
            let targets = slots
                .into_iter()
                .filter_map(|(_, v)| match v.as_slice() {
                    [verb, t] if verb == "goto" || verb == "jump" => Some(unquote(t)),
                    _ => None,
                })
                .collect();
            return Ok(Some(Rule::Pick {
                targets,
                modulus: n,
                line,
            }));
        }
        if words.contains(&"dnat") {
            let mut backends = Vec::new();
            for (_, v) in slots {
                let v: Vec<&str> = v.iter().map(String::as_str).filter(|w| *w != ".").collect();
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
    if let Some(i) = words.iter().position(|w| *w == "dnat") {
        let Some(to) = words[i..].iter().position(|w| *w == "to") else {
            return Err(syntax(line, "dnat without `to`"));
        };
        let Some(dest) = words.get(i + to + 1) else {
            return Err(syntax(line, "dnat without a destination"));
        };
        let b = parse_backend(dest).ok_or_else(|| DataplaneError::BadAddress {
            line,
            value: dest.to_string(),
        })?;
        return Ok(Some(Rule::Dnat(b)));
    }
    if let Some(i) = words.iter().rposition(|w| *w == "goto" || *w == "jump") {
        if let Some(target) = words.get(i + 1) {
            return Ok(Some(Rule::Jump {
                target: unquote(target),
                source_conditional,
                sticky: false,
                probability: None,
                line,
            }));
        }
    }
    if matches!(words.last(), Some(&"drop") | Some(&"reject")) && words.len() == 1 {
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
