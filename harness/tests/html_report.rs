//! The HTML report in a real browser: `topo-harness run` writes `index.html` for seed 001 and
//! a deliberately failing case; headless Chromium renders it and the test reads the rendered
//! DOM (`--dump-dom`, after the page's script ran): the pictures' zones, nodes, endpoints and
//! routes, the failure, the filter, no JavaScript error, no horizontal overflow at 1280 px;
//! identical failures as one group, zone colours apart from the status colours, the catalog's
//! page size, and the `explain` page.
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
        let out = binary::run_into(&dir, &binary::PASS_FAIL_AND_SKIP);
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
        None => binary::missing_tool(
            "TOPO_REQUIRE_BROWSER",
            "no chromium on PATH",
            "apt-get install chromium",
        ),
    }
}

/// The DOM of the page at `path` after its script ran.
fn dom_of(chromium: &Path, path: &Path) -> String {
    text(
        &browser(
            chromium,
            &["--dump-dom"],
            &format!("file://{}", path.display()),
        )
        .stdout,
    )
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
        failures.contains("wrong-expectation/one-per-node: hints, routes/worker, routes/worker2 failed on 1.34 × iptables (1 run)"),
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
    assert!(
        html.contains("<p class=\"verdict agrees\"><span class=\"badge pass\">AGREES</span> the file's hints per zone: a: 2, b: 2; the model: the controller allocates endpoints per zone: a: 2, b: 2"),
        "{html}"
    );
    // Every port is drawn: kube-dns's three ports route alike, so they share one picture.
    assert!(
        html.contains("data-ports=\"dns, dns-tcp, metrics\""),
        "{html}"
    );
    // No run filters and no legend items that cannot apply to a dump (nothing is expected).
    assert!(!html.contains("id=\"filters\""), "{html}");
    assert!(!html.contains("differ from the expected"), "{html}");
    assert!(!html.contains("serving, terminating"), "{html}");
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

/// The key verdict is flagged: on 1.33 the same dump's hints are ones the controller would
/// remove, and the page says DISAGREES where the text report does.
#[test]
fn explain_flags_a_disagreeing_verdict() {
    let out = topo(&[
        "explain",
        "fixtures/states/kubectl-seed-001.yaml",
        "--kubernetes",
        "1.33",
        "-o",
        "html",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let html = text(&out.stdout);
    assert!(
        html.contains("<p class=\"verdict disagrees\"><span class=\"badge fail\">DISAGREES</span> the file's hints per zone: a: 2, b: 2; the model: hints should be absent: Unable to allocate"),
        "{html}"
    );
}

/// `#rrggbb` → (r, g, b).
fn rgb(hex: &str) -> (i32, i32, i32) {
    let h = hex.trim_start_matches('#');
    let c = |i: usize| i32::from_str_radix(h.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0);
    (c(0), c(2), c(4))
}

fn distance(a: &str, b: &str) -> i32 {
    let (a, b) = (rgb(a), rgb(b));
    (a.0 - b.0).abs() + (a.1 - b.1).abs() + (a.2 - b.2).abs()
}

/// Every `attr="#…"` value in `text`.
fn colours<'a>(text: &'a str, attr: &str) -> Vec<&'a str> {
    let start = format!("{attr}=\"#");
    text.match_indices(&start)
        .map(|(i, _)| &text[i + start.len() - 1..i + start.len() + 6])
        .collect()
}

/// A case that fails the same way on 24 runs is one failure group on the page: one
/// headline with the runs, one picture (on screen without opening anything), links to every
/// run; zone colours are not the failure red or the pass green; the legend shows swatches,
/// not colour codes.
#[test]
fn identical_failures_are_one_group_and_zone_colours_are_not_status_colours() {
    let dir = temp("grouped");
    let cases = dir.join("my-cases");
    std::fs::create_dir_all(&cases).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(cases.join("my-two-zones.yaml"), MY_CASE).unwrap_or_else(|e| panic!("{e}"));
    let html = dir.join("index.html");
    let out = binary::run_into(&dir, &[&cases.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let page = std::fs::read_to_string(&html).unwrap_or_default();
    let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap_or_default();
    // The summary has one row for the group too.
    assert_eq!(
        summary
            .matches("fails identically on 1.30–1.37 × iptables, ipvs, nftables (24 runs)")
            .count(),
        2,
        "a table row and its details: {summary}"
    );
    // 24 runs of one step, one distinct picture (the sim draws the same state every time).
    assert_eq!(
        page.matches("<template id=\"pic-").count(),
        1,
        "pictures are shared"
    );
    assert!(!page.contains("<details open"), "suites start closed");
    let Some(chromium) = chromium() else { return };
    let dom = dom_of(&chromium, &html);
    assert_script_ran(&dom);
    assert_eq!(count(&dom, "<section class=\"group\""), 1, "one group");
    let group = between(&dom, "<section class=\"group\"", "</section>");
    assert!(
        group.contains("my-two-zones/one-per-node: routes/b1 fails identically on 1.30–1.37 × iptables, ipvs, nftables (24 runs)"),
        "{group}"
    );
    assert!(
        group.contains("<svg class=\"topology\""),
        "the group's picture is on screen"
    );
    assert_eq!(count(group, "<a href=\"#suite-"), 24, "a link to every run");
    assert!(
        group.contains("<b>why</b>: the model check passed on this step"),
        "{group}"
    );
    assert!(
        group.contains("<b>next</b>: <code>topo-harness run "),
        "{group}"
    );
    assert!(
        group.contains(" differs\" data-node=\"b1\""),
        "b1 is outlined: {group}"
    );
    // Closed suites have not drawn their pictures: only the group's is on the page (the
    // shared template, at the end, holds the other copy).
    let shown = &dom[..dom.find("<template").unwrap_or(dom.len())];
    assert_eq!(
        count(shown, "<svg class=\"topology\""),
        1,
        "pictures are drawn when opened"
    );
    // Colours: hint rings and chips use zone colours, none of which is a status colour.
    let failure = "#c62828";
    let pass = "#2e7d32";
    let zone_fills: Vec<&str> = group
        .match_indices("<g class=\"zone\"")
        .flat_map(|(i, _)| colours(&group[i..i + 400], "fill").into_iter().take(1))
        .collect();
    assert_eq!(zone_fills.len(), 2, "{group}");
    let hint_strokes: Vec<&str> = group
        .match_indices("<circle class=\"hint\"")
        .flat_map(|(i, _)| colours(&group[i..i + 200], "stroke").into_iter().take(1))
        .collect();
    assert_eq!(hint_strokes.len(), 4, "{group}");
    for zone in zone_fills.iter().chain(&hint_strokes) {
        assert!(
            zone_fills.contains(zone),
            "a ring not in a zone's colour: {zone}"
        );
        for status in [failure, pass] {
            assert!(
                distance(zone, status) > 120,
                "zone colour {zone} is too close to the status colour {status}"
            );
        }
    }
    let outline = between(group, " differs\" data-node=\"b1\"", "/>");
    assert!(
        outline.contains(&format!("stroke=\"{failure}\"")),
        "{outline}"
    );
    // The legend explains with swatches: no colour code is written out as text.
    let legend = between(&dom, "<p class=\"legend\">", "</p>");
    let words: String = legend
        .split('<')
        .filter_map(|part| part.split_once('>').map(|(_, t)| t))
        .collect();
    assert!(
        !words.contains('#'),
        "the legend prints a colour code: {words}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The passing catalog's page stays small (each distinct picture once, drawn when its suite
/// is opened) and opens without a script error.
#[test]
fn the_catalog_page_is_small_and_opens() {
    let dir = temp("catalog");
    let html = dir.join("index.html");
    let out = binary::run_into(&dir, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let size = std::fs::metadata(&html).map(|m| m.len()).unwrap_or(0);
    // Every picture inline made this page 19 MB.
    assert!(size < 4 << 20, "the catalog's page is {size} bytes");
    let page = std::fs::read_to_string(&html).unwrap_or_default();
    let slots = page.matches("<div class=\"pic\"").count();
    let pictures = page.matches("<template id=\"pic-").count();
    assert!(
        slots > 2 * pictures,
        "{slots} pictures, {pictures} distinct"
    );
    let Some(chromium) = chromium() else { return };
    let dom = dom_of(&chromium, &html);
    assert_script_ran(&dom);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two zones, two nodes each, and a wrong expectation: b1 routes in its own zone, not to a1.
const MY_CASE: &str = "apiVersion: topo-harness/v1alpha1
kind: Case
name: my-two-zones
summary: Two zones, two nodes each; traffic should stay in its zone.
source: a team's expectation
kubernetes: \">=1.30\"
cluster:
  nodes:
    - { name: a1, zone: a }
    - { name: a2, zone: a }
    - { name: b1, zone: b }
    - { name: b2, zone: b }
service:
  annotations: { service.kubernetes.io/topology-mode: Auto }
steps:
  - name: one-per-node
    endpoints: { a1: 1, a2: 1, b1: 1, b2: 1 }
    expect:
      routes:
        a1: [a1, a2]
        b1: [a1]
";
