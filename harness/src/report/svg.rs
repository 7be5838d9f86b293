//! The topology picture of one step (or of one Service in an `explain` dump), as inline SVG:
//! zones as columns with their CPU share, nodes as boxes, the Service's endpoints as dots on
//! their node, hints as rings in the colour of the zone they are hinted for, and under each
//! node the endpoints its proxy routes to, coloured by their zone — expected and observed
//! side by side where they differ.
//!
//! Every drawn thing carries a class (`zone`, `node`, `endpoint`, `hint`, `route observed`,
//! `route expected`) so the page's script and the browser test can find it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::model::controller::topology::set_nodes;
use crate::model::{ClusterState, Endpoint, KubeVersion, Service};

/// Width of one zone column; the drawing is drawn at its natural size and shrinks to fit
/// its container (at 1280 px two zones fit unscaled).
const COLUMN: f64 = 360.0;
const PAD: f64 = 8.0;
const HEADER: f64 = 40.0;
const NODE_TITLE: f64 = 24.0;
const DOT_ROW: f64 = 28.0;
const CHIP_ROW: f64 = 22.0;
/// Approximate advance of one monospace character at the chips' font size.
const CHAR_WIDTH: f64 = 7.0;
/// Width of the "observed"/"expected" label in front of a chip row.
const LABEL_WIDTH: f64 = 66.0;

/// Zone colours, in zone-name order; zones beyond the palette reuse it. Colour-blind safe
/// (Okabe–Ito blue, orange, sky blue; a purple and an ochre) and kept apart from the status
/// colours: no red (a failure) and no green (a pass, a ready endpoint).
pub const PALETTE: [&str; 5] = ["#0072B2", "#E69F00", "#56B4E9", "#7B3294", "#A6761D"];
/// The colour of "no zone".
pub const NO_ZONE_COLOUR: &str = "#7f7f7f";
/// The status colour of a failure (a node whose routes differ from the expectation).
pub const FAILURE_COLOUR: &str = "#c62828";
/// The status colour of a pass.
pub const PASS_COLOUR: &str = "#2e7d32";

/// The text colour that reads on a chip filled with `fill` (dark on the light colours).
fn text_on(fill: &str) -> &'static str {
    match fill {
        "#E69F00" | "#56B4E9" => "#000000",
        _ => "#ffffff",
    }
}
/// The label of the column of nodes without a zone label.
const NO_ZONE: &str = "(no zone)";

/// What one picture shows.
#[derive(Clone, Copy, Debug)]
pub struct Picture<'a> {
    /// The cluster.
    pub state: &'a ClusterState,
    /// The Service whose endpoints are drawn; `None` when it does not exist (yet).
    pub service: Option<&'a Service>,
    /// The version, for which nodes count towards the CPU shares.
    pub version: KubeVersion,
    /// Node → identities (the node an endpoint runs on) its proxy routes to.
    pub routes: &'a BTreeMap<String, Vec<String>>,
    /// Node → identities expected; drawn next to `routes` for the nodes where they differ
    /// (nodes it does not name have no expectation).
    pub expected: Option<&'a BTreeMap<String, Vec<String>>>,
}

/// The colour of each zone of `state` (by zone name).
pub fn zone_colours(state: &ClusterState) -> BTreeMap<String, &'static str> {
    let mut zones: Vec<&str> = state.nodes.iter().filter_map(|n| n.zone()).collect();
    for slice in &state.slices {
        for e in &slice.endpoints {
            zones.extend(e.zone());
            zones.extend(
                e.hints
                    .iter()
                    .flat_map(|h| h.for_zones.iter().map(String::as_str)),
            );
        }
    }
    zones.sort_unstable();
    zones.dedup();
    zones
        .into_iter()
        .enumerate()
        .map(|(i, z)| (z.to_string(), PALETTE[i % PALETTE.len()]))
        .collect()
}

/// Escapes text for HTML and SVG (text and attribute values).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// How an endpoint is drawn.
fn endpoint_class(e: &Endpoint) -> (&'static str, &'static str) {
    match (e.proxy_ready(), e.proxy_serving(), e.proxy_terminating()) {
        (true, _, false) => ("ready", "ready"),
        (_, true, true) => ("serving-terminating", "serving, terminating"),
        (_, false, true) => ("terminating", "terminating, not serving"),
        (false, true, false) => ("not-ready", "not ready"),
        (false, false, false) => ("not-serving", "not ready, not serving"),
    }
}

/// The state an endpoint is drawn in: `ready`, `serving-terminating`, `terminating`,
/// `not-ready` or `not-serving` (its circle's class).
pub(crate) fn endpoint_state(e: &Endpoint) -> &'static str {
    endpoint_class(e).0
}

/// Fill and stroke of an endpoint's circle by its state.
pub(crate) fn endpoint_fill(class: &str) -> (&'static str, &'static str) {
    match class {
        "ready" => ("#2e7d32", "#1b5e20"),
        "serving-terminating" => ("#f9a825", "#8d6e00"),
        "terminating" => ("#bdbdbd", "#616161"),
        _ => ("#ffffff", "#616161"),
    }
}

/// One row of route chips under a node.
struct ChipRow<'a> {
    label: &'static str,
    class: &'static str,
    ids: &'a [String],
}

/// Lays out chips in rows of at most `width`; returns each chip's (x, row) and the row count.
fn chip_layout(ids: &[String], width: f64) -> (Vec<(f64, usize)>, usize) {
    let mut out = Vec::new();
    let (mut x, mut row) = (0.0, 0);
    for id in ids {
        let w = chip_width(id);
        if x > 0.0 && x + w > width {
            x = 0.0;
            row += 1;
        }
        out.push((x, row));
        x += w + 4.0;
    }
    (out, row + 1)
}

fn chip_width(id: &str) -> f64 {
    id.chars().count() as f64 * CHAR_WIDTH + 10.0
}

/// Draws the picture.
pub fn render(picture: &Picture<'_>) -> String {
    let state = picture.state;
    let colours = zone_colours(state);
    let capacity = set_nodes(&state.nodes, picture.version);
    // `None`: a counted node has no zone or no CPU, so the controller computes no shares.
    let ratios = capacity.ratios;
    // Columns: zones in name order, then the nodes without a zone.
    let mut columns: Vec<Option<&str>> = colours
        .keys()
        .map(String::as_str)
        .filter(|z| state.nodes.iter().any(|n| n.zone() == Some(*z)))
        .map(Some)
        .collect();
    if state.nodes.iter().any(|n| n.zone().is_none()) {
        columns.push(None);
    }
    let column_width = COLUMN;
    let width = column_width * columns.len().max(1) as f64;
    let box_width = column_width - 2.0 * PAD;
    let chips_width = box_width - LABEL_WIDTH - 2.0 * PAD;

    let endpoints: Vec<&Endpoint> = picture
        .service
        .map(|s| {
            state
                .slices_of(s)
                .flat_map(|sl| sl.endpoints.iter())
                .collect()
        })
        .unwrap_or_default();
    let zone_of_identity = |id: &str| -> Option<&str> {
        let node = id.split('#').next().unwrap_or(id);
        state.node(node).and_then(|n| n.zone())
    };

    let mut body = String::new();
    let mut column_heights = Vec::new();
    for (ci, zone) in columns.iter().enumerate() {
        let x0 = ci as f64 * column_width;
        let colour = zone
            .and_then(|z| colours.get(z).copied())
            .unwrap_or(NO_ZONE_COLOUR);
        let name = zone.unwrap_or(NO_ZONE);
        let share = match zone {
            Some(z) => match ratios.as_ref().map(|r| r.get(*z)) {
                Some(Some(r)) => format!("{:.0}% of counted CPU", r * 100.0),
                Some(None) => "CPU not counted".to_string(),
                None => "no CPU shares (node info insufficient)".to_string(),
            },
            None => "not in any zone".to_string(),
        };
        let mut col = String::new();
        let mut y = HEADER + PAD;
        for node in state.nodes.iter().filter(|n| n.zone() == *zone) {
            let on_node: Vec<&&Endpoint> = endpoints
                .iter()
                .filter(|e| e.node_name.as_deref() == Some(node.name.as_str()))
                .collect();
            let observed = picture.routes.get(&node.name);
            let expected = picture.expected.and_then(|m| m.get(&node.name));
            // A node the expectations do not cover shows only what was observed.
            let differs = expected.is_some() && expected != observed;
            let empty = Vec::new();
            let rows: Vec<ChipRow<'_>> = if differs {
                vec![
                    ChipRow {
                        label: "expected",
                        class: "route expected",
                        ids: expected.unwrap_or(&empty),
                    },
                    ChipRow {
                        label: "observed",
                        class: "route observed",
                        ids: observed.unwrap_or(&empty),
                    },
                ]
            } else {
                vec![ChipRow {
                    label: "routes to",
                    class: "route observed",
                    ids: observed.unwrap_or(&empty),
                }]
            };
            let layouts: Vec<_> = rows
                .iter()
                .map(|r| chip_layout(r.ids, chips_width))
                .collect();
            let chip_rows: usize = layouts.iter().map(|(_, n)| *n).sum();
            let height = NODE_TITLE + DOT_ROW + chip_rows as f64 * CHIP_ROW + PAD;
            let mut tags = Vec::new();
            if node.is_control_plane() {
                tags.push("control plane");
            }
            if !node.ready {
                tags.push("NotReady");
            }
            if node.zone().is_none() {
                tags.push("no zone");
            }
            let mut classes = String::from("node");
            if node.is_control_plane() {
                classes.push_str(" control-plane");
            }
            if !node.ready {
                classes.push_str(" not-ready");
            }
            if differs {
                classes.push_str(" differs");
            }
            let (stroke, dash, fill) = match (differs, node.ready) {
                (true, _) => (FAILURE_COLOUR, "", "#fff5f5"),
                (false, false) => ("#9e9e9e", " stroke-dasharray=\"5 3\"", "#f5f5f5"),
                (false, true) if node.is_control_plane() => ("#616161", "", "#eceff1"),
                (false, true) => ("#616161", "", "#ffffff"),
            };
            let bx = x0 + PAD;
            let _ = write!(
                col,
                "<g class=\"{classes}\" data-node=\"{n}\"><rect x=\"{bx}\" y=\"{y}\" width=\"{box_width}\" height=\"{height}\" rx=\"6\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{sw}\"{dash}/>",
                n = escape(&node.name),
                sw = if differs { 2.5 } else { 1.2 },
            );
            let _ = write!(
                col,
                "<text x=\"{tx}\" y=\"{ty}\" class=\"node-name\">{n}</text>",
                tx = bx + PAD,
                ty = y + 16.0,
                n = escape(&node.name),
            );
            if !tags.is_empty() {
                let _ = write!(
                    col,
                    "<text x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\" class=\"node-tags\">{t}</text>",
                    tx = bx + box_width - PAD,
                    ty = y + 16.0,
                    t = escape(&tags.join(" · ")),
                );
            }
            // Endpoints on the node.
            let dy = y + NODE_TITLE + DOT_ROW / 2.0 - 2.0;
            if on_node.is_empty() {
                let _ = write!(
                    col,
                    "<text x=\"{tx}\" y=\"{ty}\" class=\"muted\">no endpoint</text>",
                    tx = bx + PAD,
                    ty = dy + 4.0
                );
            }
            for (i, e) in on_node.iter().enumerate() {
                let cx = bx + PAD + 10.0 + i as f64 * 26.0;
                let (class, words) = endpoint_class(e);
                let (fill, stroke) = endpoint_fill(class);
                let zones: Vec<&str> = e
                    .hints
                    .iter()
                    .flat_map(|h| h.for_zones.iter().map(String::as_str))
                    .collect();
                let for_nodes: Vec<&str> = e
                    .hints
                    .iter()
                    .flat_map(|h| h.for_nodes.iter().map(String::as_str))
                    .collect();
                let mut title = format!("endpoint on {}: {words}", node.name);
                if let Some(a) = e.addresses.first() {
                    title.push_str(&format!(" ({a})"));
                }
                if zones.is_empty() && e.hints.is_none() {
                    title.push_str("; no hints");
                } else {
                    title.push_str(&format!("; hinted for zone(s) {}", zones.join(", ")));
                }
                if !for_nodes.is_empty() {
                    title.push_str(&format!("; for node(s) {}", for_nodes.join(", ")));
                }
                let _ = write!(
                    col,
                    "<g class=\"endpoint-group\"><title>{}</title>",
                    escape(&title)
                );
                for (k, z) in zones.iter().enumerate() {
                    let c = colours.get(*z).copied().unwrap_or(NO_ZONE_COLOUR);
                    let _ = write!(
                        col,
                        "<circle class=\"hint\" data-zone=\"{z}\" cx=\"{cx}\" cy=\"{dy}\" r=\"{r}\" fill=\"none\" stroke=\"{c}\" stroke-width=\"3\"/>",
                        z = escape(z),
                        r = 10.0 + 3.0 * k as f64,
                    );
                }
                let _ = write!(
                    col,
                    "<circle class=\"endpoint {class}\" cx=\"{cx}\" cy=\"{dy}\" r=\"7\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\"/></g>"
                );
            }
            if let Some(hinted) = on_node.iter().find_map(|e| {
                e.hints
                    .as_ref()
                    .filter(|h| !h.for_nodes.is_empty())
                    .map(|h| h.for_nodes.join(", "))
            }) {
                let _ = write!(
                    col,
                    "<text x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\" class=\"muted\">for node {h}</text>",
                    tx = bx + box_width - PAD,
                    ty = dy + 4.0,
                    h = escape(&hinted),
                );
            }
            // Route rows.
            let mut ry = y + NODE_TITLE + DOT_ROW;
            for (row, (chips, nrows)) in rows.iter().zip(&layouts) {
                let _ = write!(
                    col,
                    "<text x=\"{tx}\" y=\"{ty}\" class=\"row-label{warn}\">{l}</text>",
                    tx = bx + PAD,
                    ty = ry + 14.0,
                    l = row.label,
                    warn = if differs { " differs" } else { "" },
                );
                if row.ids.is_empty() {
                    let _ = write!(
                        col,
                        "<text x=\"{tx}\" y=\"{ty}\" class=\"muted\">no route</text>",
                        tx = bx + PAD + LABEL_WIDTH,
                        ty = ry + 14.0,
                    );
                }
                for (id, (cx, r)) in row.ids.iter().zip(chips) {
                    let c = zone_of_identity(id)
                        .and_then(|z| colours.get(z).copied())
                        .unwrap_or(NO_ZONE_COLOUR);
                    let x = bx + PAD + LABEL_WIDTH + cx;
                    let yy = ry + *r as f64 * CHIP_ROW + 2.0;
                    let w = chip_width(id);
                    let (rect_fill, text_fill) = if row.class == "route expected" {
                        ("#ffffff", "#212121")
                    } else {
                        (c, text_on(c))
                    };
                    let _ = write!(
                        col,
                        "<g class=\"{cls}\" data-to=\"{id}\"><rect x=\"{x}\" y=\"{yy}\" width=\"{w}\" height=\"17\" rx=\"8\" fill=\"{rect_fill}\" stroke=\"{c}\" stroke-width=\"1.5\"/><text x=\"{tx}\" y=\"{ty}\" fill=\"{text_fill}\" class=\"chip\">{id}</text></g>",
                        cls = row.class,
                        id = escape(id),
                        tx = x + 5.0,
                        ty = yy + 12.5,
                    );
                }
                ry += *nrows as f64 * CHIP_ROW;
            }
            col.push_str("</g>");
            y += height + PAD;
        }
        column_heights.push(y);
        let _ = write!(
            body,
            "<g class=\"zone\" data-zone=\"{n}\"><rect x=\"{x}\" y=\"0\" width=\"{w}\" height=\"{{COLUMN_HEIGHT}}\" fill=\"{colour}\" fill-opacity=\"0.07\" stroke=\"{colour}\" stroke-opacity=\"0.5\"/><rect x=\"{x}\" y=\"0\" width=\"{w}\" height=\"6\" fill=\"{colour}\"/><text x=\"{tx}\" y=\"24\" class=\"zone-name\" fill=\"{colour}\">{label}</text><text x=\"{sx}\" y=\"24\" text-anchor=\"end\" class=\"zone-share\">{share}</text>{col}</g>",
            n = escape(name),
            x = x0 + 1.0,
            w = column_width - 2.0,
            tx = x0 + PAD + 2.0,
            sx = x0 + column_width - PAD - 2.0,
            label = escape(&if zone.is_some() {
                format!("zone {name}")
            } else {
                name.to_string()
            }),
            share = escape(&share),
        );
    }
    let height = column_heights
        .iter()
        .copied()
        .fold(HEADER + PAD, f64::max)
        .max(HEADER + 2.0 * PAD);
    let body = body.replace("{COLUMN_HEIGHT}", &format!("{}", height - 1.0));
    let elsewhere = endpoints
        .iter()
        .filter(|e| {
            e.node_name
                .as_deref()
                .is_none_or(|n| state.node(n).is_none())
        })
        .count();
    let mut out = format!(
        "<svg class=\"topology\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {h}\" width=\"{width}\" role=\"img\" aria-label=\"topology: {z} zone column(s), {n} node(s), {e} endpoint(s)\">",
        h = height + if elsewhere > 0 { 20.0 } else { 0.0 },
        z = columns.len(),
        n = state.nodes.len(),
        e = endpoints.len(),
    );
    out.push_str(&body);
    if elsewhere > 0 {
        let _ = write!(
            out,
            "<text x=\"{PAD}\" y=\"{y}\" class=\"muted\">{elsewhere} endpoint(s) on no known node are not drawn</text>",
            y = height + 14.0
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EndpointSlice, Hints, Node};

    fn node(name: &str, zone: Option<&str>, ready: bool) -> Node {
        let mut labels = BTreeMap::new();
        if let Some(z) = zone {
            labels.insert(crate::model::LABEL_ZONE.to_string(), z.to_string());
        }
        Node {
            name: name.into(),
            labels,
            allocatable_cpu_millis: Some(1000),
            ready,
            kubelet_version: None,
        }
    }

    fn state() -> ClusterState {
        let endpoint = |node: &str, zone: &str, ready: bool, terminating: bool| Endpoint {
            addresses: vec![format!("10.0.0.{}", node.len())],
            ready: Some(ready),
            serving: Some(true),
            terminating: Some(terminating),
            node_name: Some(node.into()),
            zone: Some(zone.into()),
            hints: Some(Hints {
                for_zones: vec![zone.into()],
                for_nodes: Vec::new(),
            }),
            ..Endpoint::default()
        };
        ClusterState {
            nodes: vec![
                node("a1", Some("a"), true),
                node("b1", Some("b"), false),
                node("loose", None, true),
            ],
            services: vec![Service::new("ns", "web")],
            slices: vec![EndpointSlice {
                namespace: "ns".into(),
                name: "web-1".into(),
                service_name: Some("web".into()),
                managed_by: None,
                address_type: crate::model::AddressType::IPv4,
                ports: Vec::new(),
                endpoints: vec![
                    endpoint("a1", "a", true, false),
                    endpoint("b1", "b", false, true),
                ],
            }],
        }
    }

    fn count(svg: &str, needle: &str) -> usize {
        svg.matches(needle).count()
    }

    #[test]
    fn draws_zones_nodes_endpoints_and_marks_what_differs() {
        let state = state();
        let routes: BTreeMap<String, Vec<String>> = [
            ("a1".to_string(), vec!["a1".to_string()]),
            ("b1".to_string(), vec!["a1".to_string(), "b1".to_string()]),
            ("loose".to_string(), vec![]),
        ]
        .into();
        let mut expected = routes.clone();
        expected.insert("b1".into(), vec!["b1".into()]);
        let svg = render(&Picture {
            state: &state,
            service: state.services.first(),
            version: KubeVersion::new(34),
            routes: &routes,
            expected: Some(&expected),
        });
        assert_eq!(count(&svg, "<g class=\"zone\""), 3, "a, b and no zone");
        assert_eq!(count(&svg, "<g class=\"node"), 3);
        assert_eq!(count(&svg, "<circle class=\"endpoint ready\""), 1);
        assert_eq!(
            count(&svg, "<circle class=\"endpoint serving-terminating\""),
            1
        );
        assert_eq!(count(&svg, "<circle class=\"hint\""), 2);
        assert_eq!(count(&svg, "class=\"node not-ready differs\""), 1);
        assert_eq!(count(&svg, "<g class=\"route observed\""), 3);
        assert_eq!(count(&svg, "<g class=\"route expected\""), 1);
        assert!(svg.contains("no zone"), "{svg}");
        assert!(svg.contains("NotReady"), "{svg}");
        // A Ready node without a zone leaves the controller without CPU shares.
        assert_eq!(count(&svg, "no CPU shares"), 2, "{svg}");
    }

    #[test]
    fn zone_shares_count_only_ready_nodes() {
        let mut state = state();
        state.nodes.pop();
        state.nodes[1].ready = true;
        state.nodes.push(node("c1", Some("c"), false));
        let routes = BTreeMap::new();
        let svg = render(&Picture {
            state: &state,
            service: state.services.first(),
            version: KubeVersion::new(34),
            routes: &routes,
            expected: None,
        });
        // c1 is NotReady: a and b share the counted CPU.
        assert_eq!(count(&svg, "50% of counted CPU"), 2, "{svg}");
        assert_eq!(count(&svg, "CPU not counted"), 1, "{svg}");
        assert_eq!(count(&svg, "route expected"), 0);
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
