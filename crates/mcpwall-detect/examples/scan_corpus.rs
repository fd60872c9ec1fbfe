//! Classifies every record of a JSON-lines corpus (the `analyze --jsonl` input) a few times in
//! one process and prints steady-state records a second, with the slowest records: the
//! batch-throughput check, without process start-up or the first pass's lazy compilation.
//!
//! `cargo run --release -p mcpwall-detect --example scan_corpus -- FILE [PASSES]`

use std::time::{Duration, Instant};

use mcpwall_detect::Engine;
use mcpwall_detect::batch::{Record, classify};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: scan_corpus FILE [PASSES]")?;
    let passes: u32 = args.next().as_deref().unwrap_or("5").parse()?;
    let records: Vec<Record> = std::fs::read_to_string(&path)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let t = Instant::now();
    let engine = Engine::builtin()?;
    let build = t.elapsed();
    let t = Instant::now();
    for r in &records {
        classify(&engine, r)?;
    }
    let first = t.elapsed();
    if passes == 0 {
        #[allow(clippy::print_stdout)]
        {
            println!(
                "{path}: {} records; engine build {build:?}; first pass {first:?} ({:.0} records/s)",
                records.len(),
                records.len() as f64 / first.as_secs_f64()
            );
        }
        return Ok(());
    }
    // Fastest time of each record over the passes: the noise of a busy machine only adds.
    let mut best = vec![Duration::MAX; records.len()];
    let mut pass_best = Duration::MAX;
    for _ in 0..passes {
        let t = Instant::now();
        for (r, b) in records.iter().zip(best.iter_mut()) {
            let s = Instant::now();
            classify(&engine, r)?;
            *b = (*b).min(s.elapsed());
        }
        pass_best = pass_best.min(t.elapsed());
    }
    let n = records.len() as f64;
    let bytes: usize = records.iter().map(|r| r.text.len()).sum();
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(best[i]));
    let sum: Duration = best.iter().sum();
    #[allow(clippy::print_stdout)]
    {
        println!(
            "{path}: {} records, {bytes} bytes; engine build {build:?}; first pass {first:?} ({:.0} records/s)",
            records.len(),
            n / first.as_secs_f64()
        );
        println!(
            "steady: fastest pass {pass_best:?} ({:.0} records/s, {:.1} MB/s); sum of per-record bests {sum:?}",
            n / pass_best.as_secs_f64(),
            bytes as f64 / pass_best.as_secs_f64() / 1e6
        );
        let mut sorted = best.clone();
        sorted.sort();
        let pct = |p: f64| sorted[((sorted.len() - 1) as f64 * p) as usize];
        println!(
            "per record: median {:?}, p90 {:?}, p99 {:?}, max {:?}",
            pct(0.5),
            pct(0.9),
            pct(0.99),
            pct(1.0)
        );
        for &i in order.iter().take(12) {
            let r = &records[i];
            println!(
                "  {:>10?} {:>6} B {:<16} {}",
                best[i],
                r.text.len(),
                r.kind,
                r.text
                    .chars()
                    .take(70)
                    .collect::<String>()
                    .replace('\n', " ")
            );
        }
    }
    Ok(())
}
