//! The engine's resident memory: once built, after a first scan on every surface (each
//! builds what that surface needs), and after classifying a JSON-lines corpus (the patterns'
//! lazily built automata grow with what they see). Linux only (it reads `/proc/self/statm`).
//!
//! `cargo run --release -p mcpwall-detect --example engine_memory -- [FILE.jsonl]`

use mcpwall_detect::batch::{Record, classify};
use mcpwall_detect::{Engine, Surface};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Resident kilobytes of this process.
fn resident_kb() -> Result<u64, Box<dyn std::error::Error>> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .ok_or("unexpected /proc/self/statm")?
        .parse()?;
    Ok(pages * 4)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let records: Vec<Record> = match std::env::args().nth(1) {
        Some(path) => std::fs::read_to_string(&path)?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let base = resident_kb()?;
    let engine = Engine::builtin()?;
    let built = resident_kb()?;
    let mut lines = vec![format!("engine built: +{} kB", built - base)];
    for &s in Surface::ALL.iter() {
        let before = resident_kb()?;
        engine.scan(s, "Please summarise the attached report for me.");
        lines.push(format!(
            "first scan on {s}: +{} kB",
            resident_kb()? - before
        ));
    }
    lines.push(format!(
        "after a first scan on every surface: +{} kB in all",
        resident_kb()? - base
    ));
    if !records.is_empty() {
        for r in &records {
            classify(&engine, r)?;
        }
        lines.push(format!(
            "after classifying {} records: +{} kB in all",
            records.len(),
            resident_kb()? - base
        ));
    }
    #[allow(clippy::print_stdout)]
    for l in lines {
        println!("{l}");
    }
    Ok(())
}
