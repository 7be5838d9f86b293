//! Every file under `fixtures/rules/<mode>/`: `valid-*` must parse, `invalid-*` must fail with a
//! typed error; and the `topo-harness rules` CLI maps both to exit codes 0 and 2.

use std::process::Command;

use topo_harness::observe::dataplane::{parse, ProxyMode};

fn root() -> String {
    format!("{}/../fixtures/rules", env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &str) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(format!("{}/{dir}", root()))
        .expect("fixture dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

#[test]
fn valid_fixtures_parse_and_invalid_ones_fail() {
    let mut ran = 0;
    for (dir, mode) in [
        ("iptables", ProxyMode::Iptables),
        ("nftables", ProxyMode::Nftables),
        ("ipvs", ProxyMode::Ipvs),
    ] {
        let found = files(dir);
        assert!(!found.is_empty(), "no fixtures in {dir}");
        for path in found {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let text = std::fs::read_to_string(&path).unwrap();
            let result = parse(mode, &text);
            if name.starts_with("valid-") {
                let routes = result.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(!routes.frontends.is_empty(), "{}", path.display());
            } else if name.starts_with("invalid-") {
                assert!(result.is_err(), "{} parsed", path.display());
            } else {
                panic!("{}: name it valid-* or invalid-*", path.display());
            }
            ran += 1;
        }
    }
    println!("ran {ran} rule fixtures");
    assert!(ran >= 20);
}

fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_topo-harness"))
        .args(args)
        .output()
        .expect("run topo-harness");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_rules_compares_with_the_model() {
    let dump = format!("{}/iptables/valid-overall.iptables", root());
    let state = format!("{}/state/valid-overall.yaml", root());
    // The upstream fixture was taken on node-a: it agrees with the model there…
    let (code, out, err) = cli(&[
        "rules",
        &dump,
        "--mode",
        "iptables",
        "--state",
        &state,
        "--node",
        "node-a",
        "--kubernetes",
        "1.31",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("model: node node-a agrees with the reference model"),
        "{out}"
    );
    // …but not on node-b, whose proxy must send ns2/svc2's external traffic to its local
    // endpoint instead of dropping it (externalTrafficPolicy: Local).
    let (code, out, err) = cli(&[
        "rules",
        &dump,
        "--mode",
        "iptables",
        "--state",
        &state,
        "--node",
        "node-b",
        "--kubernetes",
        "1.31",
        "-o",
        "json",
    ]);
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let d = &v["disagreements"][0];
    assert_eq!(d["frontend"], "ns2/svc2:80/tcp");
    assert_eq!(d["path"], "local");
    assert_eq!(d["expected"], serde_json::json!(["node-b"]));
    assert_eq!(d["observed"], serde_json::json!([]));
    // Without a version the comparison cannot run: bad input.
    let (code, _, err) = cli(&[
        "rules", &dump, "--mode", "iptables", "--state", &state, "--node", "node-a",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--kubernetes"), "{err}");
}

#[test]
fn cli_rules_json_with_state() {
    let dump = format!("{}/iptables/valid-overall.iptables", root());
    let state = format!("{}/state/valid-overall.yaml", root());
    let (code, out, err) = cli(&[
        "rules",
        &dump,
        "--mode",
        "iptables",
        "--state",
        &state,
        "--node",
        "node-a",
        "--kubernetes",
        "1.31",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["mode"], "iptables");
    assert_eq!(v["node"], "node-a");
    let first = &v["frontends"][0];
    assert_eq!(first["frontend"], "ns1/svc1:80/tcp");
    assert_eq!(first["kind"], "cluster-ip");
    assert_eq!(first["cluster"][0]["endpoint"], "node-a");
    assert_eq!(first["cluster"][0]["probability"], 1.0);
    assert_eq!(first["local"], serde_json::Value::Null);
    assert_eq!(first["outcome"], "route");
    assert_eq!(v["disagreements"], serde_json::json!([]));
}

#[test]
fn cli_bad_input_exits_2_with_the_line() {
    let dump = format!("{}/iptables/invalid-probability.iptables", root());
    let (code, out, err) = cli(&["rules", &dump, "--mode", "iptables"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    // One location format everywhere: FILE:LINE:COLUMN: (column of the bad value).
    assert!(err.starts_with(&format!("error: {dump}:36:")), "{err}");
    assert!(!err.contains("line 36"), "{err}");
    let (code, _, err) = cli(&["rules", "/nonexistent/dump", "--mode", "ipvs"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = cli(&["rules", &dump, "--mode", "bogus"]);
    assert_eq!(code, 2);
    let state = format!("{}/ipvs/valid-readme.ipvsadm", root());
    let (code, _, err) = cli(&["rules", &dump, "--mode", "iptables", "--state", &state]);
    assert_eq!(code, 2, "{err}");
}

/// A bad `--dport` on a rule that dispatches a Service port used to drop the frontend silently.
#[test]
fn bad_service_dport_exits_2_with_file_line_column() {
    let dir = std::env::temp_dir().join(format!("topo-dport-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for chain in ["KUBE-SERVICES", "KUBE-NODEPORTS"] {
        for bad in ["abc", "99999", "65536", "-1", "80x", "0"] {
            let dump = format!(
                "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-SVC-X - [0:0]\n:KUBE-SEP-Y - [0:0]\n\
                 -A {chain} -d 10.96.0.1/32 -p tcp -m tcp --dport {bad} -j KUBE-SVC-X\n\
                 -A KUBE-SVC-X -j KUBE-SEP-Y\n\
                 -A KUBE-SEP-Y -p tcp -m tcp -j DNAT --to-destination 10.244.0.2:80\nCOMMIT\n"
            );
            let path = dir.join("bad.iptables");
            std::fs::write(&path, &dump).unwrap();
            let file = path.to_str().unwrap();
            let (code, out, err) = cli(&["rules", file, "--mode", "iptables"]);
            assert_eq!(code, 2, "{chain} --dport {bad}: {out}{err}");
            let line6 = dump.lines().nth(5).unwrap();
            let column = line6.find(&format!("--dport {bad}")).unwrap() + 9;
            assert_eq!(
                err.trim_end(),
                format!("error: {file}:6:{column}: port `{bad}` is not a number in 1..=65535"),
                "{chain}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dumps_over_the_size_budget_are_refused_and_never_read_whole() {
    let dump = format!("{}/iptables/valid-overall.iptables", root());
    let (code, _, err) = cli(&[
        "rules",
        &dump,
        "--mode",
        "iptables",
        "--max-input-size",
        "100",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("larger than the size budget of 100 bytes"),
        "{err}"
    );
    let (code, _, _) = cli(&[
        "rules",
        &dump,
        "--mode",
        "iptables",
        "--max-input-size",
        "1M",
    ]);
    assert_eq!(code, 0);
    for mode in ["iptables", "nftables", "ipvs"] {
        let (code, _, err) = cli(&[
            "rules",
            "/dev/zero",
            "--mode",
            mode,
            "--max-input-size",
            "2M",
        ]);
        assert_eq!(code, 2, "{mode}: {err}");
        assert!(err.contains("size budget"), "{mode}: {err}");
    }
}

#[test]
fn invalid_utf8_in_a_dump_names_line_and_column() {
    let dir = std::env::temp_dir().join(format!("topo-dump-utf8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.iptables");
    std::fs::write(
        &path,
        b"*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -m comment --comment \"\xff\"\nCOMMIT\n",
    )
    .unwrap();
    let file = path.to_str().unwrap();
    let (code, _, err) = cli(&["rules", file, "--mode", "iptables"]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.trim_end(),
        format!("error: {file}:3:40: invalid UTF-8 (byte 0xff); the dump must be UTF-8 text")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
