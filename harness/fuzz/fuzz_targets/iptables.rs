//! Fuzz target: the iptables parser (from text, and streamed from bytes as `rules` reads files,
//! on one thread and reading ahead on a second) and normalization never panic, whatever the
//! input; both streamed readings agree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use topo_harness::observe::dataplane::{normalize, parse, parse_reader, render_json, ProxyMode};

fuzz_target!(|data: &[u8]| {
    let mode = ProxyMode::Iptables;
    let text = String::from_utf8_lossy(data);
    if let Ok(routes) = parse(mode, &text) {
        let _ = render_json(mode, None, &normalize(&routes, None));
    }
    // A known small size reads on this thread; an unknown size (0) reads ahead on a second
    // one when the machine has two cores.
    let one = parse_reader(mode, data, data.len() as u64);
    let two = parse_reader(mode, data, 0);
    assert_eq!(one, two, "one thread and two disagree");
    if let Ok(routes) = one {
        let _ = render_json(mode, None, &normalize(&routes, None));
    }
});
