//! Scanning and redacting arbitrary text on every surface: no panic, valid spans.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mcpwall_detect::{Engine, Surface};

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::builtin().expect("built-in rules compile"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    for surface in Surface::ALL {
        let r = engine().scan(surface, s);
        for f in &r.findings {
            assert!(f.span.end <= s.len() && s.is_char_boundary(f.span.start) && s.is_char_boundary(f.span.end));
        }
    }
    let _ = engine().redact(Surface::ToolResult, s);
});
