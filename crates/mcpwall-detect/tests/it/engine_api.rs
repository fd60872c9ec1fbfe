//! The engine's public API on hand-written inputs.

use mcpwall_detect::{Engine, Surface};

fn engine() -> Engine {
    Engine::builtin().expect("built-in rules compile")
}

#[test]
fn builds() {
    assert!(!engine().rules().is_empty());
}
