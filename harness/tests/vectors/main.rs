//! Runs every upstream test vector in `fixtures/vectors/*.yaml` through the model.
//!
//! Files are discovered at run time, so a new vector file needs no code change. An unknown
//! `kind`, a `version_model` the runner cannot place, or an input/expected field it does not
//! understand is a failure, never a skip. Prints `vectors: N passed, M failed`.

mod controller;
mod proxy;
mod support;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Deserialize;
use serde_json::Value;

/// One vector as stored in a file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    name: String,
    kind: String,
    #[serde(default)]
    #[allow(dead_code)]
    source: Option<Value>,
    input: Value,
    expected: Value,
}

/// A vector file: free-form `schema` plus the vectors.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VectorFile {
    #[serde(default)]
    #[allow(dead_code)]
    schema: Option<Value>,
    vectors: Vec<Value>,
}

fn vector_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fixtures")
        .join("vectors")
}

fn run_vector(vector: &Vector) -> Result<(), String> {
    match vector.kind.as_str() {
        "add_hints" => controller::add_hints(&vector.input, &vector.expected),
        "set_nodes" => controller::set_nodes(&vector.input, &vector.expected),
        "reconcile_topology" | "reconcile_traffic_distribution" => {
            controller::reconcile(&vector.input, &vector.expected)
        }
        "trafficdist_reconcile_hints" => controller::trafficdist(&vector.input, &vector.expected),
        "giving_receiving_zones" => controller::giving_receiving(&vector.input, &vector.expected),
        "redistribute_hints" => controller::redistribute(&vector.input, &vector.expected),
        "hints_by_zone" => controller::hints_by_zone(&vector.input, &vector.expected),
        "total_ready_endpoints" => controller::total_ready(&vector.input, &vector.expected),
        "controller_hints_enabled" => controller::hints_enabled(&vector.input, &vector.expected),
        "categorize_endpoints" => proxy::categorize(&vector.input, &vector.expected),
        "filter_endpoints_legacy" => proxy::filter_legacy(&vector.input, &vector.expected),
        "topology_keys_filter" => proxy::topology_keys(&vector.input, &vector.expected),
        other => Err(format!("unknown vector kind `{other}`")),
    }
}

fn main() -> ExitCode {
    let dir = vector_dir();
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect(),
        Err(e) => {
            eprintln!("cannot read {}: {e}", dir.display());
            println!("vectors: 0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
    };
    files.sort();
    let mut passed = 0usize;
    let mut failures: Vec<String> = Vec::new();
    for file in &files {
        let label = file.file_name().map(|n| n.to_string_lossy().into_owned());
        let label = label.unwrap_or_default();
        let parsed = std::fs::read_to_string(file)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_saphyr::from_str::<Value>(&text).map_err(|e| e.to_string()))
            .and_then(|value| {
                serde_json::from_value::<VectorFile>(value).map_err(|e| e.to_string())
            });
        let vector_file = match parsed {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{label}: cannot read the file: {e}"));
                continue;
            }
        };
        if vector_file.vectors.is_empty() {
            failures.push(format!("{label}: holds no vectors"));
        }
        for (index, raw) in vector_file.vectors.iter().enumerate() {
            let vector: Vector = match serde_json::from_value(raw.clone()) {
                Ok(v) => v,
                Err(e) => {
                    failures.push(format!("{label} :: vectors[{index}]: {e}"));
                    continue;
                }
            };
            let vector = &vector;
            match run_vector(vector) {
                Ok(()) => passed += 1,
                Err(e) => failures.push(format!(
                    "{label} :: {} ({}):\n    {}",
                    vector.name,
                    vector.kind,
                    e.replace('\n', "\n    ")
                )),
            }
        }
    }
    if files.is_empty() {
        failures.push(format!("no *.yaml vector files in {}", dir.display()));
    }
    for failure in &failures {
        println!("FAILED {failure}");
    }
    println!("vectors: {passed} passed, {} failed", failures.len());
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
