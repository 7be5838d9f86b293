//! Real netfilter round trips: load a kube-proxy-shaped ruleset into a fresh network namespace
//! with `iptables-restore` / `nft -f`, read it back with `iptables-save` / `nft list table`, and
//! check that the parser finds the same routes in what the kernel tools print as in what was
//! loaded (the tools reorder matches, add `/32`, re-render probabilities with 11 decimals, and
//! print nft's own block syntax).
//!
//! Needs root, `ip`, `iptables-restore` and `nft`. Without them each test prints
//! `skipped: <why>` and passes, unless `TOPO_REQUIRE_NETNS=1`, where it fails.

#[path = "common/synth.rs"]
mod synth;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use synth::{iptables_restore, nft_script, SynthService};
use topo_harness::observe::dataplane::{
    normalize, parse_iptables, parse_nftables, NormalizedRoutes,
};

/// A network namespace deleted on drop, whatever happens in the test.
struct Netns {
    name: String,
}

/// Runs `argv` with optional stdin; the error carries the command line, status and output.
fn run(argv: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let mut child = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("`{}`: {e}", argv.join(" ")))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .map_err(|e| format!("`{}`: writing stdin: {e}", argv.join(" ")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("`{}`: {e}", argv.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{}` exited with {}: {}{}",
            argv.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ))
    }
}

impl Netns {
    fn create() -> Result<Netns, String> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "topo-{}-{:x}-{}",
            std::process::id(),
            nanos,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        run(&["ip", "netns", "add", &name], None)?;
        Ok(Netns { name })
    }

    fn exec(&self, argv: &[&str], stdin: Option<&str>) -> Result<String, String> {
        let mut full = vec!["ip", "netns", "exec", self.name.as_str()];
        full.extend_from_slice(argv);
        run(&full, stdin)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = run(&["ip", "netns", "del", &self.name], None) {
            eprintln!("warning: could not delete netns {}: {e}", self.name);
        }
    }
}

fn tool_missing(tools: &[&str]) -> Option<String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<std::path::PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/sbin"].map(std::path::PathBuf::from));
    tools
        .iter()
        .find(|t| !dirs.iter().any(|d| d.join(t).is_file()))
        .map(|t| format!("`{t}` not found"))
}

/// A fresh namespace, or `None` after printing why the test is skipped.
fn netns_or_skip(test: &str, tools: &[&str]) -> Option<Netns> {
    let why = match tool_missing(&["ip"]).or_else(|| tool_missing(tools)) {
        Some(why) => why,
        None => match Netns::create() {
            Ok(ns) => return Some(ns),
            Err(e) => format!("cannot create a network namespace (root needed): {e}"),
        },
    };
    if std::env::var("TOPO_REQUIRE_NETNS").as_deref() == Ok("1") {
        panic!("{test}: TOPO_REQUIRE_NETNS=1 but {why}");
    }
    // Straight to stderr: libtest captures the print macros of passing tests, and a skip
    // must never be silent.
    let _ = std::io::Write::write_fmt(
        &mut std::io::stderr(),
        format_args!("skipped: {test}: {why}\n"),
    );
    None
}

fn fixture(path: &str) -> String {
    let full = format!("{}/../fixtures/rules/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// nfacct matches need kernel counters that a fresh namespace does not have: drop them.
fn without_nfacct(rules: &str) -> String {
    rules
        .lines()
        .map(|l| match l.find(" -m nfacct --nfacct-name ") {
            Some(i) => {
                let rest = l[i + " -m nfacct --nfacct-name ".len()..].trim_start();
                let after = rest.find(' ').map_or("", |j| &rest[j..]);
                format!("{}{after}\n", &l[..i])
            }
            None => format!("{l}\n"),
        })
        .collect()
}

/// The `add …` transaction with declarations first (the upstream fixtures are sorted).
fn declarations_first(script: &str) -> String {
    let is_decl = |l: &&str| {
        ["add table", "add set", "add map", "add chain"]
            .iter()
            .any(|p| l.starts_with(p))
    };
    let mut out: Vec<&str> = script.lines().filter(is_decl).collect();
    out.extend(script.lines().filter(|l| !is_decl(l)));
    out.join("\n") + "\n"
}

fn iptables_routes(text: &str) -> NormalizedRoutes {
    normalize(
        &parse_iptables(text).unwrap_or_else(|e| panic!("{e}\n{text}")),
        None,
    )
}

fn nft_routes(text: &str) -> NormalizedRoutes {
    normalize(
        &parse_nftables(text).unwrap_or_else(|e| panic!("{e}\n{text}")),
        None,
    )
}

/// Loads `rules` with `restore`, reads them back with `save`, asserts equal routes.
fn iptables_round_trip(ns: &Netns, restore: &str, save: &str, rules: &str) -> NormalizedRoutes {
    ns.exec(&[restore], Some(rules)).unwrap();
    let saved = ns.exec(&[save, "-c"], None).unwrap();
    let expected = iptables_routes(rules);
    assert_eq!(iptables_routes(&saved), expected, "{save} output:\n{saved}");
    expected
}

fn nft_round_trip(ns: &Netns, script: &str) -> NormalizedRoutes {
    ns.exec(&["nft", "-f", "-"], Some(script)).unwrap();
    let listed = ns
        .exec(&["nft", "list", "table", "ip", "kube-proxy"], None)
        .unwrap();
    let expected = nft_routes(script);
    assert_eq!(nft_routes(&listed), expected, "nft list output:\n{listed}");
    ns.exec(&["nft", "delete", "table", "ip", "kube-proxy"], None)
        .unwrap();
    expected
}

const IPTABLES_FIXTURES: &[&str] = &[
    "iptables/valid-overall.iptables",
    "iptables/valid-itp-cluster.iptables",
    "iptables/valid-itp-local.iptables",
    "iptables/valid-itp-local-none.iptables",
    "iptables/valid-etp-local-terminating.iptables",
    "iptables/valid-kind-nginx.iptables",
    "iptables/valid-xlb-pre-1.24.iptables",
];

#[test]
fn iptables_fixtures_round_trip_nf_tables_backend() {
    let tools = ["iptables-nft-restore", "iptables-nft-save"];
    for f in IPTABLES_FIXTURES {
        // A fresh namespace each: iptables-restore only replaces the tables a dump contains.
        let Some(ns) = netns_or_skip("iptables nf_tables round trip", &tools) else {
            return;
        };
        let rules = without_nfacct(&fixture(f));
        let routes = iptables_round_trip(&ns, tools[0], tools[1], &rules);
        assert!(!routes.frontends.is_empty(), "{f}");
    }
}

#[test]
fn iptables_fixtures_round_trip_legacy_backend() {
    let tools = ["iptables-legacy-restore", "iptables-legacy-save"];
    for f in IPTABLES_FIXTURES {
        let Some(ns) = netns_or_skip("iptables legacy round trip", &tools) else {
            return;
        };
        let rules = without_nfacct(&fixture(f));
        iptables_round_trip(&ns, tools[0], tools[1], &rules);
    }
}

#[test]
fn nft_fixtures_round_trip() {
    let Some(ns) = netns_or_skip("nft round trip", &["nft"]) else {
        return;
    };
    for f in [
        "nftables/valid-overall.nft",
        "nftables/valid-overall-listed.nft",
        "nftables/valid-dnat-map.nft",
    ] {
        let text = fixture(f);
        let script = if text.starts_with("add ") {
            declarations_first(&text)
        } else {
            // A listed ruleset loads as is; keep only kube-proxy's ip table for the comparison.
            text
        };
        if f.ends_with("dnat-map.nft") {
            ns.exec(&["nft", "-f", "-"], Some(&script)).unwrap();
            let listed = ns.exec(&["nft", "list", "ruleset"], None).unwrap();
            assert_eq!(nft_routes(&listed), nft_routes(&script), "{listed}");
            ns.exec(&["nft", "flush", "ruleset"], None).unwrap();
        } else {
            nft_round_trip(&ns, &script);
        }
    }
}

fn ep(ip: &str) -> (String, u16) {
    (ip.to_string(), 8080)
}

/// Topology scenarios as one node (`worker`, zone a) sees them.
fn scenarios() -> Vec<SynthService> {
    vec![
        // Hints: 3 endpoints, two hinted for this node's zone.
        SynthService {
            namespace: "demo".into(),
            name: "hinted".into(),
            port_name: "http".into(),
            cluster_ip: "10.96.0.20".into(),
            port: 80,
            cluster: vec![ep("10.244.1.5"), ep("10.244.2.7")],
            local: None,
            node_port: 0,
        },
        // eTP=Local NodePort: cluster path over all, local path over this node's one.
        SynthService {
            namespace: "demo".into(),
            name: "etp-local".into(),
            port_name: "".into(),
            cluster_ip: "10.96.0.21".into(),
            port: 8080,
            cluster: vec![ep("10.244.1.10"), ep("10.244.1.2"), ep("10.244.3.4")],
            local: Some(vec![ep("10.244.1.10"), ep("10.244.1.2")]),
            node_port: 30021,
        },
        // eTP=Local with no local endpoint: DROP.
        SynthService {
            namespace: "demo".into(),
            name: "etp-none".into(),
            port_name: "http".into(),
            cluster_ip: "10.96.0.22".into(),
            port: 80,
            cluster: vec![ep("10.244.3.9")],
            local: Some(vec![]),
            node_port: 30022,
        },
    ]
}

fn scenario_text(routes: &NormalizedRoutes) -> Vec<String> {
    routes
        .frontends
        .iter()
        .map(|f| {
            let list = |l: &Option<Vec<topo_harness::observe::dataplane::NamedShare>>| {
                l.as_ref().map_or("-".to_string(), |l| {
                    l.iter()
                        .map(|s| format!("{}={}", s.endpoint, s.probability))
                        .collect::<Vec<_>>()
                        .join(",")
                })
            };
            format!(
                "{} {} {} {}",
                f.frontend,
                f.outcome.as_str(),
                list(&f.cluster),
                list(&f.local)
            )
        })
        .collect()
}

const SCENARIO_ROUTES: &[&str] = &[
    "*:30021/tcp route 10.244.1.10:8080=0.333333,10.244.1.2:8080=0.333333,10.244.3.4:8080=0.333333 10.244.1.10:8080=0.5,10.244.1.2:8080=0.5",
    "*:30022/tcp drop 10.244.3.9:8080=1 ",
    "10.96.0.20:80/tcp route 10.244.1.5:8080=0.5,10.244.2.7:8080=0.5 -",
    "10.96.0.21:8080/tcp route 10.244.1.10:8080=0.333333,10.244.1.2:8080=0.333333,10.244.3.4:8080=0.333333 -",
    "10.96.0.22:80/tcp route 10.244.3.9:8080=1 -",
];

#[test]
fn topology_scenarios_iptables() {
    let tools = ["iptables-nft-restore", "iptables-nft-save"];
    let Some(ns) = netns_or_skip("topology scenarios (iptables)", &tools) else {
        return;
    };
    let rules = iptables_restore(&scenarios());
    let routes = iptables_round_trip(&ns, tools[0], tools[1], &rules);
    assert_eq!(scenario_text(&routes), SCENARIO_ROUTES);
}

#[test]
fn topology_scenarios_nft() {
    let Some(ns) = netns_or_skip("topology scenarios (nft)", &["nft"]) else {
        return;
    };
    let routes = nft_round_trip(&ns, &nft_script(&scenarios()));
    assert_eq!(scenario_text(&routes), SCENARIO_ROUTES);
}

#[test]
fn missing_tools_skip_with_a_reason() {
    if std::env::var("TOPO_REQUIRE_NETNS").as_deref() == Ok("1") {
        return; // here a missing tool must fail instead, which the other tests exercise
    }
    assert!(netns_or_skip("self-check", &["topo-no-such-tool"]).is_none());
}

/// The scenarios' cluster: `hinted` has a third endpoint in zone b (on worker3) that the node's
/// rules leave out; `etp-local` has two endpoints on `worker` (this node) and one on worker3.
const SCENARIO_STATE: &str = r#"
apiVersion: v1
kind: List
items:
- kind: Service
  metadata: {namespace: demo, name: hinted}
  spec: {clusterIP: 10.96.0.20, ports: [{name: http, port: 80, protocol: TCP}]}
- kind: Service
  metadata: {namespace: demo, name: etp-local}
  spec:
    type: NodePort
    clusterIP: 10.96.0.21
    externalTrafficPolicy: Local
    ports: [{port: 8080, protocol: TCP, nodePort: 30021}]
- kind: Service
  metadata: {namespace: demo, name: etp-none}
  spec:
    type: NodePort
    clusterIP: 10.96.0.22
    externalTrafficPolicy: Local
    ports: [{name: http, port: 80, protocol: TCP, nodePort: 30022}]
- kind: EndpointSlice
  addressType: IPv4
  metadata: {namespace: demo, name: hinted-1, labels: {kubernetes.io/service-name: hinted}}
  ports: [{name: http, port: 8080, protocol: TCP}]
  endpoints:
  - {addresses: [10.244.1.5], nodeName: worker, zone: a}
  - {addresses: [10.244.2.7], nodeName: worker2, zone: a}
  - {addresses: [10.244.3.3], nodeName: worker3, zone: b}
- kind: EndpointSlice
  addressType: IPv4
  metadata: {namespace: demo, name: etp-local-1, labels: {kubernetes.io/service-name: etp-local}}
  ports: [{port: 8080, protocol: TCP}]
  endpoints:
  - {addresses: [10.244.1.2], nodeName: worker}
  - {addresses: [10.244.1.10], nodeName: worker}
  - {addresses: [10.244.3.4], nodeName: worker3}
- kind: EndpointSlice
  addressType: IPv4
  metadata: {namespace: demo, name: etp-none-1, labels: {kubernetes.io/service-name: etp-none}}
  ports: [{name: http, port: 8080, protocol: TCP}]
  endpoints:
  - {addresses: [10.244.3.9], nodeName: worker3}
"#;

#[test]
fn topology_scenarios_named_by_identity_after_read_back() {
    let tools = ["iptables-nft-restore", "iptables-nft-save"];
    let Some(ns) = netns_or_skip("topology scenarios by identity", &tools) else {
        return;
    };
    let state = topo_harness::input::load_state_str(SCENARIO_STATE, "scenario.yaml")
        .unwrap()
        .state;
    ns.exec(&[tools[0]], Some(&iptables_restore(&scenarios())))
        .unwrap();
    let saved = ns.exec(&[tools[1]], None).unwrap();
    let routes = normalize(&parse_iptables(&saved).unwrap(), Some(&state));
    assert_eq!(
        scenario_text(&routes),
        [
            // eTP=Local: cluster path over all three, local path over this node's two
            // (numbered in "IP:port" string order: 10.244.1.10 before 10.244.1.2).
            "demo/etp-local:8080/tcp route worker#1=0.333333,worker#2=0.333333,worker3=0.333333 -",
            "demo/etp-local:8080/tcp route worker#1=0.333333,worker#2=0.333333,worker3=0.333333 worker#1=0.5,worker#2=0.5",
            "demo/etp-none:80/tcp route worker3=1 -",
            "demo/etp-none:80/tcp drop worker3=1 ",
            // Hints: this node routes to the two zone-a endpoints only.
            "demo/hinted:80/tcp route worker=0.5,worker2=0.5 -",
        ]
    );
    let nft = Netns::create().unwrap();
    nft.exec(&["nft", "-f", "-"], Some(&nft_script(&scenarios())))
        .unwrap();
    let listed = nft
        .exec(&["nft", "list", "table", "ip", "kube-proxy"], None)
        .unwrap();
    assert_eq!(
        normalize(&parse_nftables(&listed).unwrap(), Some(&state)),
        routes,
        "iptables and nftables agree once named"
    );
}
