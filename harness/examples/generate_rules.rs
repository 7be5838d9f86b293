//! Writes kube-proxy-shaped rule dumps for timing `rules` against `grep` and
//! `iptables-restore --test`:
//! `cargo run --release --example generate_rules -- iptables|nft|ipvs OUT [SERVICES] [ENDPOINTS]`.
//!
//! Defaults: 10,000 Services with 5 endpoints each (a 25 MB iptables dump).

#[path = "../tests/common/synth.rs"]
mod synth;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(kind), Some(path)) = (args.first(), args.get(1)) else {
        eprintln!("usage: generate_rules iptables|nft|ipvs OUT [SERVICES] [ENDPOINTS]");
        std::process::exit(2);
    };
    let number = |i: usize, default: usize| match args.get(i).map(|a| a.parse::<usize>()) {
        None => default,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("generate_rules: `{}` is not a count", args[i]);
            std::process::exit(2);
        }
    };
    let services = synth::many(number(2, 10_000), number(3, 5));
    let text = match kind.as_str() {
        "iptables" => synth::iptables_restore(&services),
        "nft" => synth::nft_script(&services),
        "ipvs" => synth::ipvsadm(&services),
        other => {
            eprintln!("generate_rules: unknown dump kind `{other}`");
            std::process::exit(2);
        }
    };
    if let Err(e) = std::fs::write(path, text) {
        eprintln!("cannot write {path}: {e}");
        std::process::exit(2);
    }
}
