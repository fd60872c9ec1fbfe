//! The rule-pack file format (TOML), as written by people. See `docs/rules.md` for the guide.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::finding::{Category, Severity};

/// One rule-pack file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PackFile {
    pub(crate) pack: PackMeta,
    #[serde(default)]
    pub(crate) concept: Vec<Spanned<ConceptDef>>,
    #[serde(default)]
    pub(crate) rule: Vec<Spanned<RuleDef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PackMeta {
    pub(crate) id: String,
    /// For people reading the file; not used by the engine.
    #[serde(default)]
    #[allow(dead_code)]
    pub(crate) description: String,
}

/// A named set of words and phrases ("concept") that rules combine.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConceptDef {
    pub(crate) id: String,
    /// Words or phrases matched case-insensitively at word boundaries; a trailing `*` on a word
    /// accepts any continuation; words of a phrase may be separated by spaces, `_` or `-`, or
    /// written together ("system prompt" also matches `system_prompt` and `systemPrompt`).
    #[serde(default)]
    pub(crate) terms: Vec<String>,
    /// Regular expressions whose matches also count as this concept.
    #[serde(default)]
    pub(crate) patterns: Vec<String>,
    /// Literals near which `patterns` are tried; extracted from the patterns when absent.
    #[serde(default)]
    pub(crate) anchors: Vec<String>,
    /// How far (bytes) from an anchor a pattern match may reach.
    pub(crate) window: Option<usize>,
    /// How far before an anchor a match may start (default: `window`).
    pub(crate) window_before: Option<usize>,
    /// Concepts (defined earlier) whose terms and patterns also count as this concept.
    #[serde(default)]
    pub(crate) include: Vec<String>,
    /// Anchors count only where a word starts.
    #[serde(default)]
    pub(crate) word_anchors: bool,
    /// A hit right after a negation ("must not disable") does not count as this concept.
    #[serde(default)]
    pub(crate) negatable: bool,
}

/// One rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleDef {
    pub(crate) id: String,
    pub(crate) category: Category,
    pub(crate) severity: Severity,
    #[serde(default = "default_confidence")]
    pub(crate) confidence: f32,
    /// Surfaces the rule applies to; absent means all.
    #[serde(default)]
    pub(crate) surfaces: Option<Vec<String>>,
    /// Severity overrides for particular surfaces.
    #[serde(default)]
    pub(crate) severity_on: BTreeMap<String, Severity>,
    pub(crate) message: String,

    // Exactly one matcher: `pattern`, `all` or `detector`.
    /// A regular expression (Rust `regex` syntax) over the normalised text.
    pub(crate) pattern: Option<String>,
    /// Literals near which `pattern` is tried. When absent, the literal prefixes of `pattern` are
    /// used, and the pattern must have some.
    #[serde(default)]
    pub(crate) anchors: Vec<String>,
    /// How far (bytes) from an anchor a match may reach.
    pub(crate) window: Option<usize>,
    /// How far before an explicit anchor a match may start (default: `window`).
    pub(crate) window_before: Option<usize>,
    /// Explicit anchors count only where a word starts (use when every anchor of the pattern
    /// sits after a `\b`): a word anchor such as `use` then costs nothing inside `because`.
    #[serde(default)]
    pub(crate) word_anchors: bool,
    /// Search around the listed anchors even where the planner estimates another plan cheaper:
    /// for anchors rare in real text that its word-frequency model cannot know (`ipt:`, `&#`).
    #[serde(default)]
    pub(crate) listed_anchors_only: bool,
    /// Concepts that must all occur within `within` bytes of each other.
    #[serde(default)]
    pub(crate) all: Vec<String>,
    pub(crate) within: Option<usize>,
    /// The concepts of `all` must occur in the order listed.
    #[serde(default)]
    pub(crate) ordered: bool,
    /// How many distinct concepts of `all` must occur (default: all of them).
    pub(crate) min: Option<usize>,
    /// A built-in detector implemented in code (for checksummed numbers and normalisation
    /// signals).
    pub(crate) detector: Option<String>,

    // Secrets and personal data.
    /// Capture group holding the sensitive value (default: the whole match).
    pub(crate) group: Option<usize>,
    /// Type name in redaction placeholders (default: the last part of the id).
    pub(crate) redact_as: Option<String>,
    /// Minimum Shannon entropy, in bits per character, of the value.
    pub(crate) min_entropy: Option<f32>,
    /// A named format check on the value (see `validate.rs`).
    pub(crate) validate: Option<String>,
    /// Severity when the value looks machine-generated (see `validate::looks_random`): a
    /// generic `password = ...` finding is weak evidence until the value could not be a word,
    /// a name or a template.
    pub(crate) random_severity: Option<Severity>,
    /// Keep matches whose value looks like a placeholder (`xxxx`, `<token>`, `EXAMPLE`).
    #[serde(default)]
    pub(crate) allow_placeholder: bool,
    /// Marks text a human would not see; findings of other rules inside it are raised.
    #[serde(default)]
    pub(crate) hidden_region: bool,
    /// A match right after a prohibition ("never", "must not", "don't") states a rule instead
    /// of giving an order, and does not count (pattern rules only).
    #[serde(default)]
    pub(crate) negatable: bool,
    /// A match quoted as an example ("for example \"ignore all previous instructions\"") counts
    /// half (pattern rules only).
    #[serde(default)]
    pub(crate) quotable: bool,

    /// Texts the rule must match.
    #[serde(default, rename = "match")]
    pub(crate) examples_match: Vec<String>,
    /// Texts the rule must not match.
    #[serde(default)]
    pub(crate) no_match: Vec<String>,
    /// The examples are JSON documents, scanned as JSON values.
    #[serde(default)]
    pub(crate) json_examples: bool,
    /// Free-form references (CWE, papers, vendor docs).
    #[serde(default)]
    pub(crate) references: Vec<String>,
}

fn default_confidence() -> f32 {
    0.8
}
