//! Reruns the build (and so re-expands the per-case-file tests) when `cases/` changes.
fn main() {
    println!("cargo:rerun-if-changed=../cases");
    println!("cargo:rerun-if-changed=tests/fixtures");
}
