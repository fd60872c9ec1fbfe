//! Times the engine on inputs built to make a careless scanner slow: many hidden regions
//! before many findings, many findings deep in a large JSON value, a finding merged over a
//! whole text that holds a secret, a decoded text that repeats what the text says, text
//! smuggled in variation selectors. Each is about 1 MB; each line prints the best of three
//! scans. What a 4 MiB frame would cost is about four times as much, if the scan is linear.
//!
//! `cargo run --release -p mcpwall-detect --example adversarial`

use std::time::{Duration, Instant};

use mcpwall_detect::{Engine, Surface};
use serde_json::{Value, json};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn best(mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut fastest = Duration::MAX;
    let mut n = 0;
    for _ in 0..3 {
        let t = Instant::now();
        n = f();
        fastest = fastest.min(t.elapsed());
    }
    (fastest, n)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::builtin()?;
    let texts: Vec<(&str, String)> = vec![
        (
            "hidden comments, then findings",
            format!(
                "{}{}",
                "<!--aaaaaaaaaaaa-->".repeat(14_000),
                "id_rsa ".repeat(110_000)
            ),
        ),
        (
            "a finding merged over the text, with a secret",
            format!(
                "{} contact jane.doe@example.com {}",
                "i\u{200B}d_rsa ".repeat(50_000),
                "i\u{200B}d_rsa ".repeat(50_000)
            ),
        ),
        (
            "decoded text that repeats the text",
            "id_dsa id_r-sa ".repeat(66_000),
        ),
        (
            "findings after a long run of invisible characters",
            format!("{}{}", "\u{200B}".repeat(330_000), "id_rsa ".repeat(18)),
        ),
        (
            "text in variation selectors",
            "a\u{FE00}\u{FE00}\u{FE00}\u{FE00}".repeat(80_000),
        ),
    ];
    for (what, text) in &texts {
        let (took, n) = best(|| engine.scan(Surface::ToolResult, text).findings.len());
        print(what, text.len(), took, n);
    }
    let zeros = vec![Value::from(0); 250_000];
    let paths = vec![Value::from("id_rsa"); 500];
    let doc = json!({"a": zeros, "b": paths});
    let len = serde_json::to_vec(&doc)?.len();
    let (took, n) = best(|| engine.scan_json(Surface::ToolResult, &doc).findings.len());
    print("findings after a long JSON array", len, took, n);
    Ok(())
}

fn print(what: &str, bytes: usize, took: Duration, findings: usize) {
    #[allow(clippy::print_stdout)]
    {
        println!(
            "{what:<48} {:>5} KB {:>10.1} ms  {findings} findings",
            bytes / 1024,
            took.as_secs_f64() * 1e3
        );
    }
}
