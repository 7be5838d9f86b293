//! The `topo-harness` binary: everything lives in the library's `cli` module.

fn main() {
    std::process::exit(topo_harness::cli::main());
}
