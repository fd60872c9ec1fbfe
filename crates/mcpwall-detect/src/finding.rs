//! What a scan reports.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// How bad a finding is if it is true.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; never blocks on its own.
    Info,
    /// Weak signal, or sensitive data of little consequence.
    Low,
    /// Suspicious: enough to flag, not always enough to block.
    Medium,
    /// An attack or a leak, most likely.
    High,
    /// A live credential or an unambiguous attack.
    Critical,
}

impl Severity {
    /// Every severity, from least to most severe.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Weight of a finding of this severity in the overall score. Info and low findings are
    /// reported but never move the score: a page full of e-mail addresses is not an attack.
    pub(crate) fn weight(self) -> f32 {
        match self {
            Severity::Info | Severity::Low => 0.0,
            Severity::Medium => 0.5,
            Severity::High => 0.8,
            Severity::Critical => 0.95,
        }
    }

    pub(crate) fn raised(self) -> Severity {
        match self {
            Severity::Info => Severity::Low,
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            Severity::High | Severity::Critical => Severity::Critical,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Returned when a severity name is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity `{0}` (expected info, low, medium, high or critical)")]
pub struct UnknownSeverity(pub String);

impl FromStr for Severity {
    type Err = UnknownSeverity;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| UnknownSeverity(s.to_owned()))
    }
}

/// What kind of problem a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Category {
    /// Text that tries to override the model's instructions or persona.
    PromptInjection,
    /// A tool definition that smuggles instructions to the model.
    ToolPoisoning,
    /// A tool definition that gives orders about other tools.
    CrossToolShadowing,
    /// Text that makes the model send data somewhere.
    Exfiltration,
    /// A reference to credentials or other sensitive files.
    SensitivePath,
    /// A credential.
    Secrets,
    /// Personal data.
    Pii,
    /// Shell command injection.
    CommandInjection,
    /// Path traversal out of an intended directory.
    PathTraversal,
    /// SQL injection.
    SqlInjection,
    /// Script injection into HTML.
    Xss,
    /// Server-side request forgery: private, link-local or metadata addresses.
    Ssrf,
    /// Text hidden from a human reader: invisible characters, markup, encodings.
    HiddenContent,
}

impl Category {
    /// Every category, in a stable order.
    pub const ALL: [Category; 13] = [
        Category::PromptInjection,
        Category::ToolPoisoning,
        Category::CrossToolShadowing,
        Category::Exfiltration,
        Category::SensitivePath,
        Category::Secrets,
        Category::Pii,
        Category::CommandInjection,
        Category::PathTraversal,
        Category::SqlInjection,
        Category::Xss,
        Category::Ssrf,
        Category::HiddenContent,
    ];

    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::PromptInjection => "prompt_injection",
            Category::ToolPoisoning => "tool_poisoning",
            Category::CrossToolShadowing => "cross_tool_shadowing",
            Category::Exfiltration => "exfiltration",
            Category::SensitivePath => "sensitive_path",
            Category::Secrets => "secrets",
            Category::Pii => "pii",
            Category::CommandInjection => "command_injection",
            Category::PathTraversal => "path_traversal",
            Category::SqlInjection => "sql_injection",
            Category::Xss => "xss",
            Category::Ssrf => "ssrf",
            Category::HiddenContent => "hidden_content",
        }
    }

    /// Whether findings of this category are data to be redacted rather than an attack.
    pub fn is_sensitive_data(self) -> bool {
        matches!(self, Category::Secrets | Category::Pii)
    }

    pub(crate) fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Returned when a category name is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown category `{0}`")]
pub struct UnknownCategory(pub String);

impl FromStr for Category {
    type Err = UnknownCategory;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| UnknownCategory(s.to_owned()))
    }
}

/// A set of categories.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CategorySet(u16);

impl CategorySet {
    /// Every category.
    pub fn all() -> Self {
        CategorySet(Category::ALL.iter().fold(0, |a, c| a | c.bit()))
    }
    /// No category.
    pub fn none() -> Self {
        CategorySet(0)
    }
    /// Whether `c` is in the set.
    pub fn contains(self, c: Category) -> bool {
        self.0 & c.bit() != 0
    }
    /// The set with `c` added.
    pub fn with(self, c: Category) -> Self {
        CategorySet(self.0 | c.bit())
    }
}

impl Default for CategorySet {
    fn default() -> Self {
        CategorySet::all()
    }
}

impl FromIterator<Category> for CategorySet {
    fn from_iter<I: IntoIterator<Item = Category>>(iter: I) -> Self {
        iter.into_iter()
            .fold(CategorySet::none(), CategorySet::with)
    }
}

/// How a finding was reached when the match was not in the plain text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Via {
    /// Inside a base64-encoded segment.
    Base64,
    /// Inside a hex-encoded segment.
    Hex,
    /// Inside a percent-encoded (URL) segment.
    UrlEncoding,
    /// Inside HTML character references.
    HtmlEntities,
    /// Inside text spelled out with separated letters ("i g n o r e").
    SpacedLetters,
    /// Inside bytes smuggled in Unicode variation selectors.
    VariationSelectors,
    /// Inside text written with digits for letters ("1gn0r3").
    Leetspeak,
    /// Inside a base32-encoded segment.
    Base32,
    /// Inside 8-bit binary groups ("01001001 01100111").
    Binary,
    /// Inside Morse code.
    Morse,
    /// Inside `\uXXXX` or `\xXX` escapes.
    Escapes,
    /// Inside an Ascii85 segment (between `<~ ~>`, or bare).
    Ascii85,
    /// Inside base85 in RFC 1924's alphabet (Python's `b85encode`, git).
    Base85,
    /// Inside ROT13 text.
    Rot13,
    /// Inside text written backwards.
    Reversed,
    /// Inside words cut apart by hyphens ("i-nstruction", "li-mitations").
    SplitWords,
}

impl Via {
    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Base64 => "base64",
            Via::Hex => "hex",
            Via::UrlEncoding => "url_encoding",
            Via::HtmlEntities => "html_entities",
            Via::SpacedLetters => "spaced_letters",
            Via::VariationSelectors => "variation_selectors",
            Via::Leetspeak => "leetspeak",
            Via::Base32 => "base32",
            Via::Binary => "binary",
            Via::Morse => "morse",
            Via::Escapes => "escapes",
            Via::Ascii85 => "ascii85",
            Via::Base85 => "base85",
            Via::Rot13 => "rot13",
            Via::Reversed => "reversed",
            Via::SplitWords => "split_words",
        }
    }
}

/// One thing a scan found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// Stable rule id, such as `secrets.aws_access_key_id`.
    pub rule_id: Arc<str>,
    /// What kind of problem this is.
    pub category: Category,
    /// How bad it is if true.
    pub severity: Severity,
    /// How sure the rule is, from 0 to 1.
    pub confidence: f32,
    /// Byte range in the scanned string (the original text, not the normalised copy).
    pub span: Range<usize>,
    /// JSON path of the string that holds the finding, when a JSON value was scanned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// A short excerpt around the match: hidden characters made visible, secrets masked.
    pub excerpt: String,
    /// What the rule says about its match.
    pub message: Arc<str>,
    /// Set when the match was inside an encoded or smuggled segment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
    /// For secrets and personal data: the type name used in redaction placeholders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redact_as: Option<Arc<str>>,
    /// Index of the scanned string (walk order) when a JSON value was scanned.
    #[serde(skip)]
    pub(crate) segment: usize,
    /// The sensitive value inside `span` (what redaction replaces).
    #[serde(skip)]
    pub(crate) value: Option<Range<usize>>,
    /// The match is quoted as an example: see [`score_of`].
    #[serde(skip)]
    pub(crate) quoted: bool,
}

impl Finding {
    /// This finding's contribution to the overall score.
    pub(crate) fn weight(&self) -> f32 {
        self.severity.weight() * self.confidence.clamp(0.0, 1.0)
    }
}

/// The result of one scan.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    /// Findings ordered by position, then by severity (highest first).
    pub findings: Vec<Finding>,
    /// Overall likelihood that the input is malicious or carries a secret, from 0 to 1:
    /// `1 - Π(1 - w)` over the strongest finding of each rule, where `w` is severity weight
    /// times confidence. Info and low findings do not count.
    pub score: f32,
    /// True when the scan is incomplete: it stopped collecting findings at the configured
    /// maximum, or (never with the size limits the rule loader enforces) a matching structure
    /// could not be built. Treat such a report as not fully inspected.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// Score at and above which a report counts as flagged.
pub const FLAG_THRESHOLD: f32 = 0.5;

impl Report {
    /// Whether the overall score reaches [`FLAG_THRESHOLD`].
    pub fn flagged(&self) -> bool {
        self.score >= FLAG_THRESHOLD
    }

    /// The highest severity among the findings.
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// The distinct categories of the findings, in [`Category::ALL`] order.
    pub fn categories(&self) -> Vec<Category> {
        let set: CategorySet = self.findings.iter().map(|f| f.category).collect();
        Category::ALL
            .into_iter()
            .filter(|c| set.contains(*c))
            .collect()
    }

    /// The distinct rule ids, sorted.
    pub fn rule_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.findings.iter().map(|f| &*f.rule_id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The score the findings of `categories` alone would give (a gateway blocks on threats
    /// and redacts secrets found in the same scan).
    pub fn score_in(&self, categories: CategorySet) -> f32 {
        let these: Vec<Finding> = self
            .findings
            .iter()
            .filter(|f| categories.contains(f.category))
            .cloned()
            .collect();
        score_of(&these)
    }

    /// Recomputes [`Report::score`] from the findings.
    pub(crate) fn compute_score(&mut self) {
        self.score = score_of(&self.findings);
    }
}

pub(crate) fn score_of(findings: &[Finding]) -> f32 {
    // Strongest finding per rule: repeating one weak signal must not add up to a strong one.
    // And strongest per span: two rules reading the very same words (an English "ignore the
    // instructions" is French too) are one piece of evidence.
    let mut order: Vec<usize> = (0..findings.len()).collect();
    let key = |i: usize| {
        (
            findings[i].segment,
            findings[i].span.start,
            findings[i].span.end,
        )
    };
    order.sort_by(|&a, &b| {
        key(a)
            .cmp(&key(b))
            .then(findings[b].weight().total_cmp(&findings[a].weight()))
    });
    let mut strongest = vec![false; findings.len()];
    for (k, &i) in order.iter().enumerate() {
        // A decoded finding carries the span of the whole encoded run, not of its words:
        // findings decoded from one blob are distinct evidence.
        strongest[i] = findings[i].via.is_some() || k == 0 || key(order[k - 1]) != key(i);
    }
    // And strongest of all sensitive-path findings: naming ~/.ssh/config and id_rsa is one
    // sign (a text about sensitive files), not two; what makes it an attack (an order to read
    // or send them) is other rules' evidence.
    let mut best: Vec<(&str, f32)> = Vec::new();
    for (i, f) in findings.iter().enumerate() {
        let w = f.weight();
        if w <= 0.0 || !strongest[i] {
            continue;
        }
        let group = if f.quoted {
            // Quoted examples count once, as their strongest: the rules that read one quoted
            // attack ("You are now DAN, ignore all previous instructions") in an article or a
            // test's fixtures are one piece of evidence that it talks about attacks.
            "quoted"
        } else if f.category == Category::SensitivePath {
            "sensitive_path"
        } else {
            &f.rule_id
        };
        match best.iter_mut().find(|(id, _)| *id == group) {
            Some((_, b)) => *b = b.max(w),
            None => best.push((group, w)),
        }
    }
    let miss: f32 = best.iter().map(|(_, w)| 1.0 - w).product();
    ((1.0 - miss) * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(id: &str, severity: Severity, confidence: f32) -> Finding {
        Finding {
            rule_id: id.into(),
            category: Category::PromptInjection,
            severity,
            confidence,
            span: 0..1,
            path: None,
            excerpt: String::new(),
            message: "m".into(),
            via: None,
            redact_as: None,
            segment: 0,
            value: None,
            quoted: false,
        }
    }

    #[test]
    fn score_combines_distinct_rules_only() {
        let one = [finding("a", Severity::Medium, 0.8)];
        assert!((score_of(&one) - 0.4).abs() < 1e-6);
        let repeated = [
            finding("a", Severity::Medium, 0.8),
            finding("a", Severity::Medium, 0.8),
        ];
        assert_eq!(score_of(&repeated), score_of(&one));
        let mut b = finding("b", Severity::Medium, 0.8);
        b.span = 5..9;
        let two = [finding("a", Severity::Medium, 0.8), b.clone()];
        assert!((score_of(&two) - 0.64).abs() < 1e-6);
        // Two rules on the very same words: one piece of evidence, the stronger.
        b.span = 0..1;
        let same_words = [finding("a", Severity::Medium, 0.6), b.clone()];
        assert!((score_of(&same_words) - 0.4).abs() < 1e-6);
        // Decoded from one encoded run (the run's span for both): two pieces of evidence.
        let mut a = finding("a", Severity::Medium, 0.8);
        a.via = Some(Via::Base64);
        b.via = Some(Via::Base64);
        assert!((score_of(&[a, b]) - 0.64).abs() < 1e-6);
    }

    #[test]
    fn sensitive_paths_count_once_however_many_rules_name_them() {
        let path = |id: &str, at: usize| {
            let mut f = finding(id, Severity::Medium, 0.9);
            f.category = Category::SensitivePath;
            f.span = at..at + 4;
            f
        };
        let one = [path("sensitive_path.ssh_directory", 0)];
        let two = [
            path("sensitive_path.ssh_directory", 0),
            path("sensitive_path.ssh_private_key", 20),
        ];
        assert_eq!(score_of(&two), score_of(&one));
        // Other evidence still adds up with them.
        let mut order = finding("tool_poisoning.sensitive_file_access", Severity::High, 0.85);
        order.span = 30..40;
        let with_order = [two[0].clone(), two[1].clone(), order];
        assert!(score_of(&with_order) > score_of(&one) + 0.3);
    }

    #[test]
    fn quoted_examples_count_once_however_many_rules_read_them() {
        let quoted = |id: &str, at: usize| {
            let mut f = finding(id, Severity::High, 0.4);
            f.quoted = true;
            f.span = at..at + 10;
            f
        };
        let one = [quoted("prompt_injection.instruction_override", 0)];
        let three = [
            quoted("prompt_injection.instruction_override", 0),
            quoted("prompt_injection.jailbreak_persona", 12),
            quoted("prompt_injection.role_impersonation", 30),
        ];
        assert_eq!(score_of(&three), score_of(&one));
        // Unquoted evidence still adds up with them.
        let mut live = finding("prompt_injection.addresses_the_ai", Severity::High, 0.75);
        live.span = 50..60;
        let with_live = [three[0].clone(), three[1].clone(), live];
        assert!(score_of(&with_live) > score_of(&one) + 0.3);
    }

    #[test]
    fn low_findings_do_not_score() {
        let lows: Vec<_> = (0..20)
            .map(|i| finding(&format!("r{i}"), Severity::Low, 1.0))
            .collect();
        assert_eq!(score_of(&lows), 0.0);
    }

    #[test]
    fn names_parse() {
        for s in Severity::ALL {
            assert_eq!(s.as_str().parse::<Severity>(), Ok(s));
        }
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>(), Ok(c));
        }
        assert!(Severity::Low < Severity::High);
    }
}
