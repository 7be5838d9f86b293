//! Fuzz target: the case-file loader (parsing, bounds, validation) never panics, never
//! allocates from an unchecked number, and every error it returns is one line with a location.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use topo_harness::case::parse_case;

fuzz_target!(|data: &[u8]| {
    // The loader refuses invalid UTF-8 before parsing; the parser sees text only.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errors) = parse_case(text, "fuzz.yaml", Path::new("fuzz.yaml")) {
        assert!(!errors.is_empty());
        for e in errors {
            let line = e.to_string();
            assert!(!line.contains('\n'), "{line}");
        }
    }
});
