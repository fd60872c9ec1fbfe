//! `mcpwall eval`.

use std::io::Write as _;

use mcpwall_detect::batch::{self, Evaluation, Metrics};

use crate::Status;
use crate::cli::EvalArgs;
use crate::input;
use crate::output::{bold, dim};

pub(crate) fn run(args: EvalArgs) -> anyhow::Result<Status> {
    // Not dropped: the process ends after this command, and freeing the warmed automata (tens
    // of megabytes in many small blocks) would only delay the exit by milliseconds.
    let engine = std::mem::ManuallyDrop::new(super::engine(&args.source.rules)?);
    let name = input::name(&args.file);
    let records = input::read_records(&args.file, u64::MAX, r#"{"id", "kind", "text", "label"}"#)?;
    let ev = batch::evaluate(&engine, &records, args.misses)?;
    let mut out = anstream::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &ev)?;
        writeln!(out)?;
    } else {
        print_text(&mut out, &name, &ev)?;
    }
    Ok(Status::Clean)
}

fn row(out: &mut impl std::io::Write, kind: &str, m: &Metrics) -> std::io::Result<()> {
    writeln!(
        out,
        "{kind:<18} {:>6} {:>6} {:>6} {:>9.3} {:>7.3} {:>7.3} {:>7.3}   tp {} fp {} tn {} fn {}",
        m.total,
        m.positives,
        m.negatives,
        m.precision,
        m.recall,
        m.false_positive_rate,
        m.f1,
        m.true_positives,
        m.false_positives,
        m.true_negatives,
        m.false_negatives
    )
}

fn print_text(out: &mut impl std::io::Write, name: &str, ev: &Evaluation) -> anyhow::Result<()> {
    let (b, d) = (bold(), dim());
    writeln!(out, "{b}{name}{b:#}: {} labelled records", ev.overall.total)?;
    if ev.unlabelled > 0 {
        writeln!(
            out,
            "{d}({} records without a label were skipped){d:#}",
            ev.unlabelled
        )?;
    }
    writeln!(
        out,
        "{b}{:<18} {:>6} {:>6} {:>6} {:>9} {:>7} {:>7} {:>7}{b:#}",
        "kind", "n", "pos", "neg", "precision", "recall", "FPR", "F1"
    )?;
    for (kind, m) in &ev.by_kind {
        row(out, kind, m)?;
    }
    row(out, "overall", &ev.overall)?;
    for (kind, misses) in &ev.misses {
        if !misses.false_negatives.is_empty() {
            writeln!(
                out,
                "\n{b}{kind}: missed (label 1, not flagged), lowest score first{b:#}"
            )?;
            for m in &misses.false_negatives {
                writeln!(out, "  {} score {:.2} {d}{:?}{d:#}", m.id, m.score, m.rules)?;
                writeln!(out, "    {d}{}{d:#}", m.excerpt.replace('\n', "⏎"))?;
            }
        }
        if !misses.false_positives.is_empty() {
            writeln!(
                out,
                "\n{b}{kind}: false alarms (label 0, flagged), highest score first{b:#}"
            )?;
            for m in &misses.false_positives {
                writeln!(out, "  {} score {:.2} {d}{:?}{d:#}", m.id, m.score, m.rules)?;
                writeln!(out, "    {d}{}{d:#}", m.excerpt.replace('\n', "⏎"))?;
            }
        }
    }
    Ok(())
}
