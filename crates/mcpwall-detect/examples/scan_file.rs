//! Scans a file repeatedly and prints the fastest time per scan: a quick, low-noise check of a
//! change's effect on speed (pair it with `perf stat -e instructions`).
//!
//! `cargo run --release -p mcpwall-detect --example scan_file -- FILE [SURFACE] [ITERATIONS]`
//!
//! A FILE ending in `.json` is parsed and scanned as a JSON value (`Engine::scan_json`).

use std::time::{Duration, Instant};

use mcpwall_detect::{Engine, Surface};

// The `mcpwall` binary's allocator, so that numbers (and instruction counts) are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: scan_file FILE [SURFACE] [ITERATIONS]")?;
    let surface: Surface = args.next().as_deref().unwrap_or("tool_result").parse()?;
    let iterations: u32 = args.next().as_deref().unwrap_or("50").parse()?;
    let text = std::fs::read_to_string(&path)?;
    let json: Option<serde_json::Value> = if path.ends_with(".json") {
        Some(serde_json::from_str(&text)?)
    } else {
        None
    };
    let engine = Engine::builtin()?;
    engine.warm_up();
    let mut best = Duration::MAX;
    let mut findings = 0;
    for _ in 0..iterations {
        let t = Instant::now();
        let report = match &json {
            Some(v) => engine.scan_json(surface, v),
            None => engine.scan(surface, &text),
        };
        best = best.min(t.elapsed());
        findings = report.findings.len();
    }
    let mbps = text.len() as f64 / best.as_secs_f64() / 1e6;
    #[allow(clippy::print_stdout)]
    {
        println!(
            "{path}: {} bytes, {findings} findings, fastest {best:?} ({mbps:.1} MB/s)",
            text.len()
        );
    }
    Ok(())
}
