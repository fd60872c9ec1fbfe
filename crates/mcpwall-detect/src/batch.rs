//! Batch classification of labelled or unlabelled records: the contract behind
//! `mcpwall analyze --jsonl` and `mcpwall eval`.
//!
//! Input lines are `{"id", "kind", "text"}` (plus `"label"` for evaluation). Output lines are
//! `{"id", "flagged", "score", "severity", "categories", "rules"}`, in input order. This format is
//! a stable interface: fields may be added, never renamed or removed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::{Engine, ScanOptions};
use crate::finding::{Category, CategorySet, Severity};
use crate::surface::Surface;

/// One input record.
#[derive(Debug, Clone, Deserialize)]
pub struct Record {
    /// Any JSON value; echoed back unchanged.
    #[serde(default)]
    pub id: Value,
    /// `prompt`, `tool_result`, `tool_description`, `secret`, `argument`, or a surface name.
    pub kind: String,
    pub text: String,
    /// 1 for malicious (or a real-looking secret), 0 for benign; only `eval` reads it.
    #[serde(default)]
    pub label: Option<u8>,
}

/// One output line.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub id: Value,
    pub flagged: bool,
    pub score: f32,
    /// Highest severity among findings, or `null`.
    pub severity: Option<Severity>,
    pub categories: Vec<Category>,
    pub rules: Vec<String>,
}

/// Returned when a record's `kind` is neither a batch kind nor a surface.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown kind `{0}` (expected prompt, tool_result, tool_description, secret, argument or a surface name)"
)]
pub struct UnknownKind(pub String);

/// How a record kind is scanned: on which surface, with which categories.
///
/// - `prompt`: a prompt typed to an agent → `user_prompt`, every category.
/// - `tool_result`, `tool_description`: those surfaces, every category.
/// - `argument`: `tool_arguments`, every category.
/// - `secret`: a line that may hold a credential → `config`, `secrets` only.
/// - any surface name: that surface, every category.
///
/// Personal data never flags a record on its own (its severity is low).
pub fn plan(kind: &str) -> Result<(Surface, CategorySet), UnknownKind> {
    let all = CategorySet::all();
    Ok(match kind {
        "prompt" => (Surface::UserPrompt, all),
        "argument" | "arguments" => (Surface::ToolArguments, all),
        "secret" => (Surface::Config, CategorySet::none().with(Category::Secrets)),
        other => (
            other
                .parse::<Surface>()
                .map_err(|_| UnknownKind(other.to_owned()))?,
            all,
        ),
    })
}

/// Classifies one record.
pub fn classify(engine: &Engine, record: &Record) -> Result<Verdict, UnknownKind> {
    let (surface, categories) = plan(&record.kind)?;
    let opts = ScanOptions {
        // A verdict shows no excerpt.
        excerpts: false,
        ..ScanOptions::only(categories)
    };
    let report = engine.scan_with(surface, &record.text, &opts);
    Ok(Verdict {
        id: record.id.clone(),
        flagged: report.flagged(),
        score: report.score,
        severity: report.max_severity(),
        categories: report.categories(),
        rules: report.rule_ids().into_iter().map(str::to_owned).collect(),
    })
}

/// Confusion counts and the usual rates.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Metrics {
    pub total: usize,
    pub positives: usize,
    pub negatives: usize,
    pub true_positives: usize,
    pub false_positives: usize,
    pub true_negatives: usize,
    pub false_negatives: usize,
    pub precision: f64,
    pub recall: f64,
    pub false_positive_rate: f64,
    pub f1: f64,
}

impl Metrics {
    fn add(&mut self, label: bool, flagged: bool) {
        self.total += 1;
        match (label, flagged) {
            (true, true) => self.true_positives += 1,
            (true, false) => self.false_negatives += 1,
            (false, true) => self.false_positives += 1,
            (false, false) => self.true_negatives += 1,
        }
    }

    fn finish(&mut self) {
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        self.positives = self.true_positives + self.false_negatives;
        self.negatives = self.true_negatives + self.false_positives;
        self.precision = ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        );
        self.recall = ratio(self.true_positives, self.positives);
        self.false_positive_rate = ratio(self.false_positives, self.negatives);
        self.f1 = if self.precision + self.recall == 0.0 {
            0.0
        } else {
            2.0 * self.precision * self.recall / (self.precision + self.recall)
        };
    }
}

/// A record the engine got wrong.
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    pub id: Value,
    pub score: f32,
    pub rules: Vec<String>,
    /// The start of the text, for a quick look.
    pub excerpt: String,
}

/// Per-kind errors of one side.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Misses {
    /// Malicious records not flagged, lowest score first.
    pub false_negatives: Vec<Miss>,
    /// Benign records flagged, highest score first.
    pub false_positives: Vec<Miss>,
}

/// The result of an evaluation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Evaluation {
    pub overall: Metrics,
    pub by_kind: BTreeMap<String, Metrics>,
    pub misses: BTreeMap<String, Misses>,
    /// Records without a label (skipped).
    pub unlabelled: usize,
}

/// Evaluates labelled records; keeps the `worst` misses of each side per kind.
pub fn evaluate(
    engine: &Engine,
    records: &[Record],
    worst: usize,
) -> Result<Evaluation, UnknownKind> {
    let mut ev = Evaluation::default();
    let mut fns: BTreeMap<String, Vec<Miss>> = BTreeMap::new();
    let mut fps: BTreeMap<String, Vec<Miss>> = BTreeMap::new();
    for r in records {
        let Some(label) = r.label else {
            ev.unlabelled += 1;
            continue;
        };
        let v = classify(engine, r)?;
        let label = label != 0;
        ev.overall.add(label, v.flagged);
        ev.by_kind
            .entry(r.kind.clone())
            .or_default()
            .add(label, v.flagged);
        if label != v.flagged {
            let miss = Miss {
                id: v.id,
                score: v.score,
                rules: v.rules,
                excerpt: r.text.chars().take(160).collect(),
            };
            let side = if label { &mut fns } else { &mut fps };
            side.entry(r.kind.clone()).or_default().push(miss);
        }
    }
    ev.overall.finish();
    for m in ev.by_kind.values_mut() {
        m.finish();
    }
    for (kind, mut list) in fns {
        list.sort_by(|a, b| a.score.total_cmp(&b.score));
        list.truncate(worst);
        ev.misses.entry(kind).or_default().false_negatives = list;
    }
    for (kind, mut list) in fps {
        list.sort_by(|a, b| b.score.total_cmp(&a.score));
        list.truncate(worst);
        ev.misses.entry(kind).or_default().false_positives = list;
    }
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_surfaces() {
        assert_eq!(plan("prompt").unwrap().0, Surface::UserPrompt);
        assert_eq!(plan("argument").unwrap().0, Surface::ToolArguments);
        assert_eq!(plan("resource").unwrap().0, Surface::Resource);
        let (s, c) = plan("secret").unwrap();
        assert_eq!(s, Surface::Config);
        assert!(c.contains(Category::Secrets) && !c.contains(Category::PromptInjection));
        assert!(plan("nonsense").is_err());
    }

    #[test]
    fn metrics_arithmetic() {
        let mut m = Metrics::default();
        for (l, f) in [
            (true, true),
            (true, false),
            (false, false),
            (false, true),
            (true, true),
        ] {
            m.add(l, f);
        }
        m.finish();
        assert_eq!(
            (
                m.true_positives,
                m.false_negatives,
                m.false_positives,
                m.true_negatives
            ),
            (2, 1, 1, 1)
        );
        assert!((m.precision - 2.0 / 3.0).abs() < 1e-9);
        assert!((m.recall - 2.0 / 3.0).abs() < 1e-9);
        assert!((m.false_positive_rate - 0.5).abs() < 1e-9);
    }
}
