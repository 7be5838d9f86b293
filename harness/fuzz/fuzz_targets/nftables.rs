//! Fuzz target: the nftables parser (from text, and streamed from bytes as `rules` reads files)
//! and normalization never panic, whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use topo_harness::observe::dataplane::{normalize, parse, parse_reader, render_json, ProxyMode};

fuzz_target!(|data: &[u8]| {
    let mode = ProxyMode::Nftables;
    let text = String::from_utf8_lossy(data);
    if let Ok(routes) = parse(mode, &text) {
        let _ = render_json(mode, None, &normalize(&routes, None));
    }
    if let Ok(routes) = parse_reader(mode, data, data.len() as u64) {
        let _ = render_json(mode, None, &normalize(&routes, None));
    }
});
