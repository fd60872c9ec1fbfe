//! `mcpwall analyze`.

use std::io::{BufWriter, Write as _};
use std::path::Path;

use anyhow::Context as _;
use mcpwall_detect::batch;
use mcpwall_detect::{Engine, Finding, Report, Severity, Surface};
use serde::Serialize;

use crate::Status;
use crate::cli::{AnalyzeArgs, Format, InputMode};
use crate::input;
use crate::output::{bold, dim, ok_style, severity_style};

/// A `tools/list` result with poisoned tools, used by `--demo`.
const DEMO: &str = include_str!("../../demo/tools_list.json");

#[derive(Serialize)]
struct JsonReport<'a> {
    source: String,
    surface: Surface,
    input: &'static str,
    bytes: usize,
    flagged: bool,
    score: f32,
    max_severity: Option<Severity>,
    findings: &'a [Finding],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
}

pub(crate) fn run(args: AnalyzeArgs) -> anyhow::Result<Status> {
    // Not dropped: the process ends after this command, and freeing the warmed automata (tens
    // of megabytes in many small blocks) would only delay the exit by milliseconds.
    let engine = std::mem::ManuallyDrop::new(super::engine(&args.source.rules)?);
    if let Some(path) = &args.jsonl {
        return run_batch(&engine, path, args.max_bytes);
    }
    let (source, text, surface) = if args.demo {
        (
            "built-in demo: a poisoned tools/list result".to_owned(),
            DEMO.to_owned(),
            Surface::ToolDescription,
        )
    } else {
        (
            input::name(&args.file),
            input::read_text(&args.file, args.max_bytes)?,
            args.surface,
        )
    };
    let mode = if args.demo {
        InputMode::Json
    } else {
        args.input
    };
    let json = match mode {
        InputMode::Text => None,
        InputMode::Json => Some(input::parse_json_strict(&text).with_context(|| {
            format!("{source} is not valid JSON (use --input text to scan it as text)")
        })?),
        InputMode::Auto => {
            let t = text.trim_start();
            if t.starts_with('{') || t.starts_with('[') {
                // Invalid or ambiguous JSON (duplicate keys) is scanned as text: every byte is
                // still inspected.
                input::parse_json_strict(&text).ok()
            } else {
                None
            }
        }
    };
    let report = match &json {
        Some(v) => engine.scan_json(surface, v),
        None => engine.scan(surface, &text),
    };
    let status = if report.findings.iter().any(|f| f.severity >= args.fail_on) {
        Status::Findings
    } else {
        Status::Clean
    };
    let mut out = anstream::stdout().lock();
    match args.format {
        Format::Json => {
            let r = JsonReport {
                source,
                surface,
                input: if json.is_some() { "json" } else { "text" },
                bytes: text.len(),
                flagged: report.flagged(),
                score: report.score,
                max_severity: report.max_severity(),
                findings: &report.findings,
                truncated: report.truncated,
            };
            serde_json::to_writer_pretty(&mut out, &r)?;
            writeln!(out)?;
        }
        Format::Text => print_text(
            &mut out,
            &source,
            surface,
            json.is_some(),
            text.len(),
            &report,
        )?,
    }
    Ok(status)
}

fn print_text(
    out: &mut impl std::io::Write,
    source: &str,
    surface: Surface,
    is_json: bool,
    bytes: usize,
    report: &Report,
) -> anyhow::Result<()> {
    let (d, b) = (dim(), bold());
    let verdict = if report.flagged() {
        let s = severity_style(Severity::High);
        format!("{s}FLAGGED{s:#}")
    } else if report.findings.is_empty() {
        let s = ok_style();
        format!("{s}clean{s:#}")
    } else {
        "not flagged".to_owned()
    };
    writeln!(
        out,
        "{b}{source}{b:#} {d}({} as {surface}, {bytes} bytes){d:#}: {} finding{}, score {:.2}, {verdict}",
        if is_json { "JSON" } else { "text" },
        report.findings.len(),
        if report.findings.len() == 1 { "" } else { "s" },
        report.score,
    )?;
    for f in &report.findings {
        let s = severity_style(f.severity);
        let sev = f.severity.as_str().to_uppercase();
        let place = match &f.path {
            Some(p) => format!("{p} {}..{}", f.span.start, f.span.end),
            None => format!("{}..{}", f.span.start, f.span.end),
        };
        let via = f
            .via
            .map(|v| format!(" via {}", v.as_str()))
            .unwrap_or_default();
        writeln!(
            out,
            "  {s}{sev:<8}{s:#} {b}{}{b:#} {d}[{}] confidence {:.2} at {place}{via}{d:#}",
            f.rule_id, f.category, f.confidence
        )?;
        writeln!(out, "           {}", f.message)?;
        writeln!(out, "           {d}│{d:#} {}", f.excerpt)?;
    }
    if report.truncated {
        writeln!(
            out,
            "  {d}(more findings were dropped: the report is truncated){d:#}"
        )?;
    }
    Ok(())
}

fn run_batch(engine: &Engine, path: &Path, max: u64) -> anyhow::Result<Status> {
    let records = input::read_records(path, max, r#"{"id", "kind", "text"}"#)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut any = false;
    for rec in &records {
        let v = batch::classify(engine, rec)?;
        any |= v.flagged;
        serde_json::to_writer(&mut out, &v)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(if any { Status::Findings } else { Status::Clean })
}
