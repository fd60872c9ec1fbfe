//! Loading arbitrary rule packs: an error or an engine, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcpwall_detect::Engine;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(e) = Engine::builder().without_builtin().rules_str("fuzz.toml", text).build() {
        let _ = e.check_examples(&|_| true);
    }
});
