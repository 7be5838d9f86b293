//! Fuzz target: the state loader (yaml input) and the analysis behind `explain` never
//! panic, whatever the input; what loads is analysed and rendered.
#![no_main]

use libfuzzer_sys::fuzz_target;
use topo_harness::explain::{to_json, to_text, GateNotes};
use topo_harness::input::load_state_str;
use topo_harness::model::analysis::analyse;
use topo_harness::model::{Environment, KubeVersion};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Steer away from the JSON reader (format is detected from the first character).
    if text.trim_start().starts_with(['{', '[']) {
        return;
    }
    run(text);
});

fn run(text: &str) {
    if let Ok(loaded) = load_state_str(text, "fuzz") {
        let env = Environment::new(loaded.version.unwrap_or(KubeVersion::new(33)));
        let analysis = analyse(&loaded.state, &env, Vec::new());
        let _ = to_json(&analysis);
        let _ = to_text(&analysis, &GateNotes::default());
    }
}
