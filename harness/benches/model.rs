//! The reference model at seed 004's scale and beyond: loading a kubectl dump (typed pass),
//! analysing it, and writing the JSON report, at 5,000 and 20,000 nodes.

#[path = "support/generate.rs"]
mod generate;

use criterion::{criterion_group, criterion_main, Criterion};
use topo_harness::explain::write_json;
use topo_harness::input::load_state_str;
use topo_harness::model::analysis::analyse;
use topo_harness::model::{Environment, KubeVersion};

fn bench(c: &mut Criterion) {
    for nodes in [5_000, 20_000] {
        let text = generate::kubectl_list(&generate::Scale::seed_004_with(nodes)).to_string();
        let mut group = c.benchmark_group(format!("seed-004-shape-{nodes}-nodes"));
        group.sample_size(10);
        group.bench_function("load kubectl JSON dump", |b| {
            b.iter(|| load_state_str(&text, "bench.json").expect("loads"))
        });
        let state = load_state_str(&text, "bench.json").expect("loads").state;
        let env = Environment::new(KubeVersion::new(33));
        group.bench_function("analyse (100 Services)", |b| {
            b.iter(|| analyse(&state, &env, Vec::new()))
        });
        let analysis = analyse(&state, &env, Vec::new());
        group.bench_function("write the JSON report", |b| {
            b.iter(|| write_json(&analysis, std::io::sink()).expect("writes"))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
