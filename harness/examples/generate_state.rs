//! Writes a large kubectl dump (seed 004's shape) for timing `explain` against `jq`:
//! `cargo run --release --example generate_state -- big.json [NODES] [mixed] [yaml]`.
//!
//! NODES defaults to 5,000 (seed 004: 100 Services, two endpoints per node); `mixed` adds
//! node-local policies, node hints and Services without hints; `yaml` writes YAML instead.

#[path = "../benches/support/generate.rs"]
mod generate;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: generate_state OUT [NODES] [mixed] [yaml]");
        std::process::exit(2);
    };
    let (mut nodes, mut mixed, mut yaml) = (generate::SEED_004.nodes, false, false);
    for arg in &args[1..] {
        match arg.as_str() {
            "mixed" => mixed = true,
            "yaml" => yaml = true,
            n => match n.parse() {
                Ok(count) => nodes = count,
                Err(_) => {
                    eprintln!("generate_state: `{n}` is not a node count, `mixed` or `yaml`");
                    std::process::exit(2);
                }
            },
        }
    }
    let scale = generate::Scale {
        mixed,
        ..generate::Scale::seed_004_with(nodes)
    };
    let list = generate::kubectl_list(&scale);
    let text = if yaml {
        match serde_saphyr::to_string(&list) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("cannot write YAML: {e}");
                std::process::exit(2);
            }
        }
    } else {
        list.to_string()
    };
    if let Err(e) = std::fs::write(path, text) {
        eprintln!("cannot write {path}: {e}");
        std::process::exit(2);
    }
}
