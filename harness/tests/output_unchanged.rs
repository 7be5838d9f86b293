//! The performance work changed no output: `explain` and `rules` give, byte for byte, what the
//! code before it gave (`fixtures/golden/`, produced by the older binary), on the shipped
//! fixtures and on generated dumps. (The text outputs were later changed on purpose and their
//! `.txt` goldens written again; see `fixtures/golden/README.md`.)

#[path = "../benches/support/generate.rs"]
#[allow(dead_code)]
mod generate;
#[path = "common/synth.rs"]
mod synth;

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn golden(name: &str) -> String {
    let path = root().join("fixtures/golden").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs the binary; returns stdout (the exit code must be 0).
fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_topo-harness"))
        .args(args)
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// JSON re-serialized without the top-level `warnings` array (added after the golden files
/// were made), so both sides go through the same writer.
fn without_warnings(json: &str) -> String {
    let mut value: serde_json::Value = serde_json::from_str(json).expect("JSON");
    if let Some(map) = value.as_object_mut() {
        map.remove("warnings");
    }
    format!("{value}\n")
}

fn assert_same_explain_json(name: &str, file: &str) {
    let got = without_warnings(&run(&["explain", file, "-o", "json"]));
    assert_same_text(name, &got, &without_warnings(&golden(name)));
}

fn assert_same(name: &str, got: &str) {
    assert_same_text(name, got, &golden(name));
}

fn assert_same_text(name: &str, got: &str, want: &str) {
    assert!(
        got == want,
        "{name}: output changed (first difference at byte {})",
        got.bytes()
            .zip(want.bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()))
    );
}

/// The generated states pinned: (file stem, nodes, mixed).
const GENERATED_STATES: [(&str, usize, bool); 2] = [
    ("generated-90", 90, false),
    ("generated-120-mixed", 120, true),
];

/// The generated rule dumps pinned: (mode, file stem, Services, endpoints each).
const GENERATED_RULES: [(&str, &str, usize, usize); 3] = [
    ("iptables", "generated-300x3.iptables", 300, 3),
    ("nftables", "generated-300x3.nft", 300, 3),
    ("ipvs", "generated-300x3.ipvsadm", 300, 3),
];

#[test]
fn explain_output_is_unchanged_on_the_shipped_states() {
    for entry in std::fs::read_dir(root().join("fixtures/states")).expect("dir") {
        let path = entry.expect("entry").path();
        let file = path.to_str().expect("UTF-8 path");
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        assert_same_explain_json(&format!("explain/{name}.json"), file);
        assert_same(&format!("explain/{name}.txt"), &run(&["explain", file]));
    }
}

#[test]
fn explain_output_is_unchanged_on_generated_dumps() {
    let dir = std::env::temp_dir().join(format!("topo-unchanged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (stem, nodes, mixed) in GENERATED_STATES {
        let scale = generate::Scale {
            mixed,
            ..generate::Scale::seed_004_with(nodes)
        };
        let path = dir.join(format!("{stem}.json"));
        std::fs::write(&path, generate::kubectl_list(&scale).to_string()).expect("write");
        let file = path.to_str().expect("UTF-8 path");
        assert_same_explain_json(&format!("explain/{stem}.json"), file);
        assert_same(&format!("explain/{stem}.txt"), &run(&["explain", file]));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rules_output_is_unchanged_on_the_shipped_dumps() {
    for mode in ["iptables", "nftables", "ipvs"] {
        for entry in std::fs::read_dir(root().join("fixtures/rules").join(mode)).expect("dir") {
            let path = entry.expect("entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).expect("name");
            if !name.starts_with("valid-") {
                continue;
            }
            let file = path.to_str().expect("UTF-8 path");
            let json = run(&["rules", file, "--mode", mode, "-o", "json"]);
            assert_same(&format!("rules/{mode}-{name}.json"), &json);
            let text = run(&["rules", file, "--mode", mode]);
            assert_same(&format!("rules/{mode}-{name}.txt"), &text);
            // Without --mode the format is recognised from the dump.
            let detected = run(&["rules", file]);
            assert_same_text(&format!("{name} (mode detected)"), &detected, &text);
        }
    }
}

#[test]
fn rules_output_is_unchanged_on_generated_dumps() {
    let dir = std::env::temp_dir().join(format!("topo-unchanged-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (mode, stem, count, per_service) in GENERATED_RULES {
        let services = synth::many(count, per_service);
        let text = match mode {
            "iptables" => synth::iptables_restore(&services),
            "nftables" => synth::nft_script(&services),
            _ => synth::ipvsadm(&services),
        };
        let path = dir.join(stem);
        std::fs::write(&path, text).expect("write");
        let file = path.to_str().expect("UTF-8 path");
        let json = run(&["rules", file, "--mode", mode, "-o", "json"]);
        assert_same(&format!("rules/{stem}.json"), &json);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Large dumps take the two-thread paths of `rules` (reading ahead, resolving and naming in
/// halves): the CLI's output on a 4,000-Service dump is what the one-thread library reading
/// of the same text gives, for every format.
#[test]
fn rules_output_on_two_threads_is_the_one_thread_output() {
    use topo_harness::observe::dataplane::{rules, OutputFormat, ProxyMode, RulesRequest};
    let dir = std::env::temp_dir().join(format!("topo-two-threads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let services = synth::many(4_000, 3);
    for (mode, proxy) in [
        ("iptables", ProxyMode::Iptables),
        ("nftables", ProxyMode::Nftables),
        ("ipvs", ProxyMode::Ipvs),
    ] {
        let text = match proxy {
            ProxyMode::Iptables => synth::iptables_restore(&services),
            ProxyMode::Nftables => synth::nft_script(&services),
            _ => synth::ipvsadm(&services),
        };
        if proxy == ProxyMode::Iptables {
            // Large enough to be read ahead (1 MiB and up).
            assert!(text.len() > 1 << 20, "{} bytes", text.len());
        }
        let path = dir.join(format!("dump.{mode}"));
        std::fs::write(&path, &text).expect("write");
        let file = path.to_str().expect("UTF-8 path");
        let json = run(&["rules", file, "--mode", mode, "-o", "json"]);
        let request = RulesRequest {
            mode: proxy,
            node: None,
            format: OutputFormat::Json,
            state: None,
        };
        let want = rules(&text, &request).expect("parses");
        assert!(want.matches("\"frontend\"").count() >= 4_000, "{mode}");
        assert_same_text(mode, &json, &want);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
