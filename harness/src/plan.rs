//! The run matrix (case × version × proxy mode) and its grouping into cluster shapes: cases
//! with equal shapes share one cluster on the kind backend.

use crate::case::{format_versions, Case, ClusterKey, ClusterShape, ProxyMode};
use crate::model::KubeVersion;

/// Versions run when none are given: 1.21 and the four newest.
pub const DEFAULT_VERSIONS: [u32; 5] = [21, 34, 35, 36, 37];

/// Which versions to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VersionSelection {
    /// [`DEFAULT_VERSIONS`].
    Default,
    /// Exactly these.
    Explicit(Vec<KubeVersion>),
    /// Every supported version each case applies to (what `cargo test` runs).
    EveryApplicable,
}

impl VersionSelection {
    /// The versions tried for `case`.
    pub fn for_case(&self, case: &Case) -> Vec<KubeVersion> {
        match self {
            VersionSelection::Default => DEFAULT_VERSIONS.map(KubeVersion::new).to_vec(),
            VersionSelection::Explicit(v) => v.clone(),
            VersionSelection::EveryApplicable => case.versions.supported(),
        }
    }
}

/// A glob over case names: `*` any run of characters, `?` one character.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// One cell of the matrix.
#[derive(Clone, Debug)]
pub struct Planned<'a> {
    /// The case.
    pub case: &'a Case,
    /// The version.
    pub version: KubeVersion,
    /// The proxy mode.
    pub proxy_mode: ProxyMode,
    /// The shape to run on, or why the cell is skipped.
    pub shape: Result<ClusterShape, String>,
}

/// The matrix of `cases` (those matching `filter`) × versions × modes. With several modes, a
/// mode that does not exist in a version (nftables before 1.29) is left out of that version's
/// cells; asked for alone, its cells are kept and say why they are skipped.
pub fn matrix<'a>(
    cases: &'a [Case],
    versions: &VersionSelection,
    modes: &[ProxyMode],
    filter: Option<&str>,
) -> Vec<Planned<'a>> {
    let mut out = Vec::new();
    for case in cases {
        if filter.is_some_and(|f| !glob_match(f, &case.name)) {
            continue;
        }
        for version in versions.for_case(case) {
            for mode in modes {
                if modes.len() > 1 && mode.unavailable(version).is_some() {
                    continue;
                }
                out.push(Planned {
                    case,
                    version,
                    proxy_mode: *mode,
                    shape: case.shape(version, *mode),
                });
            }
        }
    }
    out
}

/// The cells reordered for a backend that creates clusters: grouped by cluster key, groups in
/// the order their key first appears, cells of a group (and the skipped cells, last) in matrix
/// order. `matrix()` is case-major, so run as is a live backend would create and delete a
/// cluster at every change of shape (about 20 creates for the 9 shapes of one catalog
/// version); in this order it creates each shape exactly once, the count `plan` prints.
pub fn order_by_cluster(cells: Vec<Planned<'_>>) -> Vec<Planned<'_>> {
    let mut keys: Vec<ClusterKey> = Vec::new();
    let mut keyed: Vec<(usize, Planned<'_>)> = cells
        .into_iter()
        .map(|cell| {
            let group = match &cell.shape {
                Ok(shape) => {
                    let key = shape.cluster_key();
                    match keys.iter().position(|k| *k == key) {
                        Some(i) => i,
                        None => {
                            keys.push(key);
                            keys.len() - 1
                        }
                    }
                }
                Err(_) => usize::MAX,
            };
            (group, cell)
        })
        .collect();
    // Stable: matrix order is kept inside each group.
    keyed.sort_by_key(|(group, _)| *group);
    keyed.into_iter().map(|(_, cell)| cell).collect()
}

/// How many clusters a backend creates running `cells` in order: one per change of cluster
/// key between runnable cells.
pub fn cluster_creations(cells: &[Planned<'_>]) -> usize {
    let mut last: Option<ClusterKey> = None;
    let mut creations = 0;
    for cell in cells {
        let Ok(shape) = &cell.shape else { continue };
        let key = shape.cluster_key();
        if last.as_ref() != Some(&key) {
            creations += 1;
            last = Some(key);
        }
    }
    creations
}

/// Cases sharing one cluster.
#[derive(Clone, Debug)]
pub struct ShapeGroup {
    /// What the cluster is created with.
    pub shape: ClusterKey,
    /// Names of the cases run on it.
    pub cases: Vec<String>,
}

/// Groups the runnable cells by cluster key, in first-seen order.
pub fn group_shapes(planned: &[Planned<'_>]) -> Vec<ShapeGroup> {
    let mut groups: Vec<ShapeGroup> = Vec::new();
    for cell in planned {
        let Ok(shape) = &cell.shape else { continue };
        let shape = shape.cluster_key();
        match groups.iter_mut().find(|g| g.shape == shape) {
            Some(g) => {
                if !g.cases.contains(&cell.case.name) {
                    g.cases.push(cell.case.name.clone());
                }
            }
            None => groups.push(ShapeGroup {
                shape,
                cases: vec![cell.case.name.clone()],
            }),
        }
    }
    groups
}

/// `topo-harness list` text: each case, where it comes from (`origin`), the versions it runs
/// on, and why others are skipped.
pub fn list_text(
    cases: &[Case],
    origin: &dyn Fn(&Case) -> String,
    versions: &VersionSelection,
    modes: &[ProxyMode],
    filter: Option<&str>,
) -> String {
    let mut out = String::new();
    for case in cases {
        if filter.is_some_and(|f| !glob_match(f, &case.name)) {
            continue;
        }
        out.push_str(&format!(
            "{}  ({})\n  {}\n  source: {}\n",
            case.name,
            origin(case),
            case.summary,
            case.source
        ));
        let cells = matrix(std::slice::from_ref(case), versions, modes, None);
        let runs: Vec<KubeVersion> = cells
            .iter()
            .filter(|c| c.shape.is_ok())
            .map(|c| c.version)
            .collect();
        out.push_str(&format!(
            "  runs on: {}\n",
            if runs.is_empty() {
                "nothing in this matrix".to_string()
            } else {
                format_versions(&runs)
            }
        ));
        let mut reasons: Vec<(String, Vec<KubeVersion>)> = Vec::new();
        for cell in &cells {
            if let Err(why) = &cell.shape {
                let why = why.replace(&cell.version.to_string(), "this version");
                match reasons.iter_mut().find(|(w, _)| *w == why) {
                    Some((_, v)) => v.push(cell.version),
                    None => reasons.push((why, vec![cell.version])),
                }
            }
        }
        for (why, v) in reasons {
            out.push_str(&format!("  skipped on {}: {why}\n", format_versions(&v)));
        }
        let elsewhere: Vec<KubeVersion> = case
            .versions
            .supported()
            .into_iter()
            .filter(|v| !runs.contains(v))
            .collect();
        if !elsewhere.is_empty() {
            out.push_str(&format!(
                "  also applies to {} (not in this matrix; pass --kubernetes)\n",
                format_versions(&elsewhere)
            ));
        }
    }
    out
}

/// `topo-harness plan` text: cluster shapes in the order a live backend creates them
/// (version, proxy mode, gates, nodes and their CPU; zones and other labels are set per case),
/// the cases sharing each, the cluster count.
pub fn plan_text(planned: &[Planned<'_>]) -> String {
    let ordered = order_by_cluster(planned.to_vec());
    let planned = ordered.as_slice();
    let groups = group_shapes(planned);
    let mut out = String::new();
    for (i, g) in groups.iter().enumerate() {
        let s = &g.shape;
        let nodes: Vec<String> = s
            .nodes
            .iter()
            .map(|(name, role, cpu)| {
                let mut d = name.clone();
                if *role == crate::case::Role::ControlPlane {
                    d.push_str(" (control-plane)");
                }
                if *cpu != crate::input::DEFAULT_NODE_CPU_MILLIS {
                    d.push_str(&format!(" cpu={cpu}m"));
                }
                d
            })
            .collect();
        let gates: Vec<String> = s
            .feature_gates
            .iter()
            .map(|(g, on)| format!("{g}={on}"))
            .collect();
        out.push_str(&format!(
            "shape {}: Kubernetes {}, {} proxy{}{}{}\n  nodes: {}\n  cases ({}): {}\n{}",
            i + 1,
            s.version,
            s.proxy_mode.as_str(),
            if s.proxy_mode.has_kube_proxy() {
                ""
            } else {
                " (no kube-proxy)"
            },
            if gates.is_empty() {
                String::new()
            } else {
                format!(", gates {}", gates.join(","))
            },
            if s.max_endpoints_per_slice != 100 {
                format!(", max-endpoints-per-slice {}", s.max_endpoints_per_slice)
            } else {
                String::new()
            },
            nodes.join(", "),
            g.cases.len(),
            g.cases.join(", "),
            zones_text(planned, &g.cases)
        ));
    }
    let runnable = planned.iter().filter(|c| c.shape.is_ok()).count();
    out.push_str(&format!(
        "\n{} case runs on {} cluster shape(s): the kind backend would create {} cluster(s), in the order above, each once; {} cell(s) skipped{}\n",
        runnable,
        groups.len(),
        cluster_creations(planned),
        planned.len() - runnable,
        if planned.len() > runnable { ":" } else { "" }
    ));
    out.push_str(&skipped_text(planned));
    out
}

/// The zones the cases of one shape give its nodes (labels set per case): once when they all
/// agree, else per case.
fn zones_text(planned: &[Planned<'_>], cases: &[String]) -> String {
    let layout = |case: &Case| {
        let mut zones: Vec<(String, Vec<&str>)> = Vec::new();
        for node in &case.nodes {
            let zone = node.zone.clone().unwrap_or_else(|| "(no zone)".to_string());
            match zones.iter_mut().find(|(z, _)| *z == zone) {
                Some((_, nodes)) => nodes.push(&node.name),
                None => zones.push((zone, vec![&node.name])),
            }
        }
        zones
            .iter()
            .map(|(z, nodes)| format!("{z}: {}", nodes.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut layouts: Vec<(String, Vec<&str>)> = Vec::new();
    for name in cases {
        let Some(case) = planned.iter().map(|p| p.case).find(|c| c.name == *name) else {
            continue;
        };
        let text = layout(case);
        match layouts.iter_mut().find(|(t, _)| *t == text) {
            Some((_, names)) => names.push(&case.name),
            None => layouts.push((text, vec![&case.name])),
        }
    }
    match layouts.as_slice() {
        [] => String::new(),
        [(only, _)] => format!("  zones: {only}\n"),
        several => several
            .iter()
            .map(|(text, names)| format!("  zones for {}: {text}\n", names.join(", ")))
            .collect(),
    }
}

/// The skipped cells, one line per case and reason: `  case on 1.21–1.22 (iptables): why`.
fn skipped_text(planned: &[Planned<'_>]) -> String {
    // (case, reason, the cells skipped for it).
    type Skips<'a> = Vec<(&'a str, String, Vec<(KubeVersion, ProxyMode)>)>;
    let mut reasons: Skips<'_> = Vec::new();
    for cell in planned {
        let Err(why) = &cell.shape else { continue };
        let why = why.replace(&cell.version.to_string(), "this version");
        match reasons
            .iter_mut()
            .find(|(case, w, _)| *case == cell.case.name && *w == why)
        {
            Some((_, _, runs)) => runs.push((cell.version, cell.proxy_mode)),
            None => reasons.push((&cell.case.name, why, vec![(cell.version, cell.proxy_mode)])),
        }
    }
    let mut out = String::new();
    for (case, why, runs) in reasons {
        let mut versions: Vec<KubeVersion> = runs.iter().map(|(v, _)| *v).collect();
        versions.sort();
        versions.dedup();
        let mut modes: Vec<&str> = runs.iter().map(|(_, m)| m.as_str()).collect();
        modes.sort_unstable();
        modes.dedup();
        out.push_str(&format!(
            "  {case} on {} ({}): {why}\n",
            format_versions(&versions),
            modes.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Vec<Case> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../cases");
        let (cases, errors) = crate::case::load_catalog(&[root]);
        assert!(errors.is_empty(), "{errors:?}");
        cases
    }

    #[test]
    fn ordered_cells_create_each_shape_once() {
        let cases = catalog();
        let modes = [ProxyMode::Iptables, ProxyMode::Ipvs];
        let cells = matrix(&cases, &VersionSelection::Default, &modes, None);
        let shapes = group_shapes(&cells).len();
        // Case-major order changes shape far more often than there are shapes.
        assert!(cluster_creations(&cells) > shapes);
        let ordered = order_by_cluster(cells.clone());
        assert_eq!(ordered.len(), cells.len());
        assert_eq!(cluster_creations(&ordered), shapes);
        // Deterministic, and matrix order inside a group.
        let names = |v: &[Planned<'_>]| {
            v.iter()
                .map(|c| format!("{}@{}/{}", c.case.name, c.version, c.proxy_mode.as_str()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&ordered), names(&order_by_cluster(cells.clone())));
        let first_group: Vec<_> = ordered
            .iter()
            .take_while(|c| {
                c.shape.as_ref().ok().map(ClusterShape::cluster_key)
                    == ordered[0]
                        .shape
                        .as_ref()
                        .ok()
                        .map(ClusterShape::cluster_key)
            })
            .collect();
        let positions: Vec<usize> = first_group
            .iter()
            .map(|c| {
                cells
                    .iter()
                    .position(|d| {
                        std::ptr::eq(d.case, c.case)
                            && d.version == c.version
                            && d.proxy_mode == c.proxy_mode
                    })
                    .unwrap()
            })
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        assert!(plan_text(&cells).contains(&format!(
            "would create {shapes} cluster(s), in the order above, each once"
        )));
    }

    #[test]
    fn globs() {
        assert!(glob_match("seed-*", "seed-001"));
        assert!(glob_match("*zone*", "three-zones"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "abbc"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("x*", "seed"));
    }
}
