//! The reference model at seed 004's scale: loading a 10 MB kubectl dump, and analysing it.

#[path = "support/generate.rs"]
mod generate;

use criterion::{criterion_group, criterion_main, Criterion};
use topo_harness::input::load_state_str;
use topo_harness::model::analysis::analyse;
use topo_harness::model::{Environment, KubeVersion};

fn bench(c: &mut Criterion) {
    let text = generate::kubectl_list(&generate::SEED_004).to_string();
    let mut group = c.benchmark_group("seed-004-scale");
    group.sample_size(10);
    group.bench_function("load kubectl dump (10 MB JSON)", |b| {
        b.iter(|| load_state_str(&text, "bench.json").expect("loads"))
    });
    let state = load_state_str(&text, "bench.json").expect("loads").state;
    let env = Environment::new(KubeVersion::new(33));
    group.bench_function("analyse 5000 nodes, 100 services, 10000 endpoints", |b| {
        b.iter(|| analyse(&state, &env, Vec::new()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
