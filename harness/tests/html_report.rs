//! The HTML report in a real browser: `topo-harness run` writes `index.html` for seed 001 and
//! a deliberately failing case; headless Chromium renders it and the test reads the rendered
//! DOM (`--dump-dom`, after the page's script ran): the pictures' zones, nodes, endpoints and
//! routes, the failure, the filter, no JavaScript error, no horizontal overflow at 1280 px.
//!
//! Without a `chromium` (or `$TOPO_CHROMIUM`) the browser tests print `skipped: …` and return,
//! unless `TOPO_REQUIRE_BROWSER=1` (set by `.ci/run`), which makes them fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

#[path = "common/binary.rs"]
mod binary;

use binary::{text, topo};

fn temp(name: &str) -> PathBuf {
    binary::temp("html", name)
}

/// Runs seed 001 on 1.21 and the wrong-expectation case (1.34) once; returns `index.html`.
fn report() -> &'static Path {
    static REPORT: OnceLock<PathBuf> = OnceLock::new();
    REPORT.get_or_init(|| {
        let dir = temp("run");
        let html = dir.join("index.html");
        let out = topo(&[
            "run",
            "cases/seed-001-kube-dns-two-zones.yaml",
            "harness/tests/fixtures/wrong-cases/wrong-expectation.yaml",
            "--kubernetes",
            "1.21",
            "--kubernetes",
            "1.34",
            "--proxy-mode",
            "iptables",
            "--junit",
            &dir.join("junit.xml").to_string_lossy(),
            "--summary",
            &dir.join("summary.md").to_string_lossy(),
            "--html",
            &html.to_string_lossy(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(1),
            "the wrong case fails the run\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        html
    })
}

/// The browser, or `None` (after printing why) when the test may skip.
fn chromium() -> Option<PathBuf> {
    let candidates = std::env::var_os("TOPO_CHROMIUM")
        .map(|p| vec![PathBuf::from(p)])
        .unwrap_or_else(|| {
            ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .filter_map(|name| {
                    std::env::var_os("PATH").and_then(|paths| {
                        std::env::split_paths(&paths)
                            .map(|d| d.join(name))
                            .find(|p| p.is_file())
                    })
                })
                .collect()
        });
    match candidates.into_iter().next() {
        Some(p) => Some(p),
        None if std::env::var("TOPO_REQUIRE_BROWSER").as_deref() == Ok("1") => {
            panic!("TOPO_REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium)")
        }
        None => {
            eprintln!("skipped: no chromium on PATH (set TOPO_REQUIRE_BROWSER=1 to fail instead)");
            None
        }
    }
}

fn browser(chromium: &Path, extra: &[&str], url: &str) -> Output {
    // A profile per call: parallel tests sharing one would hand their URL to each other.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let profile = temp(&format!("profile-{n}"));
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output();
    // A profile is a few megabytes; do not leave one per call behind.
    let _ = std::fs::remove_dir_all(&profile);
    match out {
        Ok(o) => o,
        Err(e) => panic!("cannot run {}: {e}", chromium.display()),
    }
}

/// The DOM after the page's script ran.
fn dump_dom(chromium: &Path, query: &str) -> String {
    let url = format!("file://{}{query}", report().display());
    let out = browser(chromium, &["--dump-dom"], &url);
    let dom = text(&out.stdout);
    assert!(
        dom.contains("<svg class=\"topology\""),
        "chromium rendered no report for {url}:\n{}",
        text(&out.stderr)
    );
    dom
}

/// The text from `start` (which must occur) up to the first `end` after it.
fn between<'a>(haystack: &'a str, start: &str, end: &str) -> &'a str {
    let Some(from) = haystack.find(start) else {
        panic!("{start:?} is not in the page")
    };
    let rest = &haystack[from..];
    match rest[start.len()..].find(end) {
        Some(to) => &rest[..start.len() + to],
        None => rest,
    }
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// The `<section>` of one suite (`case@1.NN/mode`).
fn suite<'a>(dom: &'a str, case: &str, version: &str) -> &'a str {
    let open = dom
        .match_indices("<section ")
        .map(|(i, _)| &dom[i..])
        .find(|s| {
            let tag = &s[..s.find('>').unwrap_or(s.len())];
            tag.contains(&format!("data-case=\"{case}\""))
                && tag.contains(&format!("data-version=\"{version}\""))
        });
    match open {
        Some(s) => &s[..s.find("</section>").unwrap_or(s.len())],
        None => panic!("no suite {case}@{version} in the page"),
    }
}

fn assert_script_ran(dom: &str) {
    assert!(
        dom.contains("<div id=\"js-errors\"></div>"),
        "JavaScript errors: {}",
        between(dom, "<div id=\"js-errors\">", "</div>")
    );
    assert!(
        dom.contains(">ready</div>"),
        "the page's script did not finish: {}",
        between(dom, "<div id=\"js-status\"", "</div>")
    );
}

#[test]
fn seed_001_one_per_node_is_drawn_with_two_zones_four_nodes_and_its_routes() {
    let Some(chromium) = chromium() else { return };
    let dom = dump_dom(&chromium, "?case=seed-001&version=1.21");
    assert_script_ran(&dom);
    let seed = suite(&dom, "seed-001-kube-dns-two-zones", "1.21");
    let head = &seed[..seed.find('>').unwrap_or(0)];
    assert!(!head.contains("hidden"), "the filter hid the suite: {head}");
    assert!(
        seed.contains("<details open=\"\">"),
        "a narrow filter opens the suite"
    );
    let step = between(
        seed,
        "<div class=\"step passed\" data-step=\"one-per-node\"",
        "<div class=\"step ",
    );
    assert_eq!(count(step, "<g class=\"zone\""), 2, "zones a and b");
    assert_eq!(count(step, "<g class=\"node"), 4);
    assert_eq!(count(step, "<g class=\"node control-plane\""), 1);
    assert_eq!(count(step, "<circle class=\"endpoint ready\""), 4);
    // 1.21: every endpoint is hinted for its own zone; each node routes to its zone's two.
    assert_eq!(count(step, "<circle class=\"hint\" data-zone=\"a\""), 2);
    assert_eq!(count(step, "<circle class=\"hint\" data-zone=\"b\""), 2);
    assert_eq!(count(step, "<g class=\"route observed\""), 8);
    assert_eq!(
        count(step, "<g class=\"route observed\" data-to=\"worker3\""),
        2
    );
    assert_eq!(count(step, "route expected"), 0, "nothing differs");
    assert!(
        step.contains("50% of counted CPU"),
        "1.21 counts the control plane"
    );
    // The wrong case is filtered out by the script.
    let wrong = suite(&dom, "wrong-expectation", "1.34");
    assert!(
        wrong[..wrong.find('>').unwrap_or(0)].contains("hidden"),
        "the case filter hides other suites"
    );
    // At 1280 px nothing overflows sideways.
    let width = between(&dom, "data-scroll-width=\"", "\"");
    let width: u32 = width["data-scroll-width=\"".len()..]
        .parse()
        .unwrap_or(u32::MAX);
    assert!(width <= 1280, "the page is {width} px wide at 1280 px");
}

#[test]
fn a_failing_step_shows_expected_and_observed_routes_and_its_diff() {
    let Some(chromium) = chromium() else { return };
    let dom = dump_dom(&chromium, "?status=failed");
    assert_script_ran(&dom);
    let failures = between(&dom, "<nav id=\"failures\">", "</nav>");
    assert!(
        failures.contains("wrong-expectation@1.34/iptables"),
        "{failures}"
    );
    let wrong = suite(&dom, "wrong-expectation", "1.34");
    let step = between(
        wrong,
        "<div class=\"step failed\" data-step=\"one-per-node\"",
        "</figure>",
    );
    assert_eq!(count(step, "<g class=\"zone\""), 2);
    assert_eq!(count(step, "<g class=\"node"), 4);
    // 1.34: no hints, every node routes to all four; the case expected worker and worker2
    // to stay in their zone, so exactly those two nodes are drawn as differing.
    assert_eq!(count(step, "<circle class=\"hint\""), 0);
    assert_eq!(count(step, " differs\" data-node="), 2);
    assert_eq!(count(step, "<g class=\"route expected\""), 4);
    assert_eq!(count(step, "<g class=\"route observed\""), 16);
    let checks = between(
        wrong,
        "<div class=\"checks\">",
        "<p class=\"check passed\">",
    );
    assert!(checks.contains("✗ hints"), "{checks}");
    assert!(checks.contains("✗ routes/worker<"), "{checks}");
    assert!(
        checks.contains("unexpected: [worker2, worker3]"),
        "the diff is shown: {checks}"
    );
    let seed = suite(&dom, "seed-001-kube-dns-two-zones", "1.21");
    assert!(
        seed[..seed.find('>').unwrap_or(0)].contains("hidden"),
        "status=failed hides passed suites"
    );
}

#[test]
fn screenshot_of_seed_001_renders_at_1280_px() {
    let Some(chromium) = chromium() else { return };
    let png = temp("seed-001.png");
    let url = format!("file://{}?case=seed-001&version=1.21", report().display());
    let out = browser(
        &chromium,
        &[&format!("--screenshot={}", png.display())],
        &url,
    );
    let bytes = std::fs::read(&png).unwrap_or_else(|e| {
        panic!(
            "no screenshot at {}: {e}\n{}",
            png.display(),
            text(&out.stderr)
        )
    });
    let _ = std::fs::remove_file(&png);
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
    assert_eq!(width, 1280);
    // A blank page compresses to a few kilobytes; the pictures do not.
    assert!(bytes.len() > 30_000, "screenshot is {} bytes", bytes.len());
}

#[test]
fn the_report_is_one_self_contained_file() {
    let html = std::fs::read_to_string(report()).unwrap_or_default();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for external in [
        "src=\"http",
        "href=\"http",
        "<link",
        "@import",
        "url(",
        "src=\"//",
    ] {
        assert!(!html.contains(external), "the page loads {external}…");
    }
    // Failures first: the failed suite comes before the passed one.
    let failed = html.find("data-case=\"wrong-expectation\"");
    let passed = html.find("data-case=\"seed-001-kube-dns-two-zones\"");
    assert!(failed < passed, "{failed:?} {passed:?}");
    assert!(html.contains("<dd id=\"run-backend\">sim</dd>"));
    assert!(
        html.contains("<b class=\"fail\">2 passed, 1 failed</b>"),
        "counts"
    );
}

#[test]
fn explain_draws_the_dump_as_html() {
    let out = topo(&[
        "explain",
        "fixtures/states/kubectl-seed-001.yaml",
        "--kubernetes",
        "1.21",
        "-o",
        "html",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let html = text(&out.stdout);
    let svg = between(&html, "<svg class=\"topology\"", "</svg>");
    assert_eq!(count(svg, "<g class=\"zone\""), 2);
    assert_eq!(count(svg, "<g class=\"node"), 4);
    assert!(count(svg, "<circle class=\"endpoint") >= 1, "{svg}");
    assert!(count(svg, "<g class=\"route observed\"") >= 4, "{svg}");
    // The dump's hints (2 per zone) are drawn as rings, and the model's verdict is next to it.
    assert_eq!(count(svg, "<circle class=\"hint\""), 4, "{svg}");
    assert!(html.contains("<p>the controller allocates endpoints per zone: a: 2, b: 2</p>"));
    assert!(html.contains("<p>the file's hints per zone: a: 2, b: 2</p>"));
    let Some(chromium) = chromium() else { return };
    let file = temp("explain.html");
    std::fs::write(&file, &html).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let out = browser(
        &chromium,
        &["--dump-dom"],
        &format!("file://{}", file.display()),
    );
    let _ = std::fs::remove_file(&file);
    let dom = text(&out.stdout);
    assert_script_ran(&dom);
}
