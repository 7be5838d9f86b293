//! Fuzz target: the nftables parser and normalization never panic, whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use topo_harness::observe::dataplane::{normalize, parse, render_json, ProxyMode};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mode = ProxyMode::Nftables;
    if let Ok(routes) = parse(mode, &text) {
        let _ = render_json(mode, None, &normalize(&routes, None));
    }
});
