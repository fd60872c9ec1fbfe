//! Integration tests of the detection engine (one test binary for the crate).

mod corpus;
mod engine_api;
mod examples;
mod props;
mod user_rules;
#[cfg(feature = "yara")]
mod yara;

use std::sync::OnceLock;

use mcpwall_detect::Engine;

/// The built-in engine, compiled once for all tests.
pub(crate) fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::builtin().expect("built-in rules compile"))
}
