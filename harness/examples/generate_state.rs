//! Writes a large kubectl dump (seed 004's scale) for timing `explain` against `jq`:
//! `cargo run --release --example generate_state -- big.json`.

#[path = "../benches/support/generate.rs"]
mod generate;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: generate_state OUT.json");
        std::process::exit(2);
    };
    let list = generate::kubectl_list(&generate::SEED_004);
    if let Err(e) = std::fs::write(&path, list.to_string()) {
        eprintln!("cannot write {path}: {e}");
        std::process::exit(2);
    }
}
