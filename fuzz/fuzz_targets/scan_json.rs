//! The JSON walker: scanning and redacting arbitrary JSON values.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mcpwall_detect::{Engine, Surface};

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::builtin().expect("built-in rules compile"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let _ = engine().scan_json(Surface::ToolResult, &v);
    let _ = engine().redact_json(Surface::ToolResult, &mut v);
    // Redaction keeps the value serialisable JSON.
    let _ = serde_json::to_vec(&v).expect("still JSON");
});
