//! Rules: loading rule packs and compiling them into one matcher.
//!
//! Every literal a rule set cares about (concept terms, pattern anchors) is found in one pass
//! over the text whatever the number of rules (see [`literals`]). A pattern runs only at or
//! around its anchors' hits; concepts are combined from the sparse
//! list of hits. Rules with no literal to anchor on use a built-in trigger (`@digits`, ...), one
//! shared linear pass.

mod cost;
mod factors;
mod follow;
mod literals;
pub(crate) mod load;
mod model;
#[cfg(test)]
mod plan_check;
mod prefix;
pub(crate) mod terms;
mod trie;

use std::collections::HashMap;
use std::sync::Arc;

use std::ops::Range;

use regex_automata::nfa::thompson;
use regex_automata::util::pool::Pool;
use regex_automata::{Anchored, Input, hybrid, meta};
use serde::Serialize;

pub(crate) use follow::{Follow, FollowCell};
pub(crate) use literals::LiteralFinder;
pub(crate) use load::{LineIndex, PackSource, parse_pack};
use model::{ConceptDef, RuleDef};
use terms::{Term, compile_term, parse_term};

use crate::error::Error;
use crate::finding::{Category, Severity};
use crate::surface::{Surface, SurfaceSet};
use crate::validate::Validator;

/// Default reach of a pattern from its anchor, in bytes.
const DEFAULT_WINDOW: usize = 256;
/// Default span within which the concepts of a combination must all occur.
const DEFAULT_WITHIN: usize = 160;
/// Largest window a rule may ask for: windows bound the work per anchor hit.
const MAX_WINDOW: usize = 4096;
/// Total bytes of literals a rule set may hold. Far below what the automaton can take, so that
/// building it on a surface's first scan cannot fail.
pub(crate) const MAX_LITERAL_BYTES: usize = 1 << 24;
/// Compiled size limit per pattern; larger patterns are rejected at load.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// Where a rule was defined.
#[derive(Clone, Debug, Serialize)]
pub struct Origin {
    /// The pack id.
    pub pack: String,
    /// File name (for built-in packs, the name inside the binary).
    pub file: String,
    /// 1-based line of the rule in the file.
    pub line: usize,
    /// Whether the rule ships with mcpwall.
    pub builtin: bool,
}

/// How a rule matches, for display.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum MatchSpec {
    /// A regular expression tried near its anchors.
    Pattern {
        pattern: String,
        anchors: Vec<String>,
    },
    /// Concepts that must occur together.
    Concepts {
        all: Vec<String>,
        within: usize,
        ordered: bool,
        min: usize,
    },
    /// A detector implemented in code.
    Detector { name: String },
    /// A YARA rule.
    Yara { namespace: String },
}

/// A rule, as users see it (`mcpwall rules show`).
#[derive(Clone, Debug, Serialize)]
pub struct Rule {
    pub id: Arc<str>,
    pub category: Category,
    pub severity: Severity,
    pub confidence: f32,
    #[serde(serialize_with = "ser_surfaces")]
    pub surfaces: SurfaceSet,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub severity_on: Vec<(Surface, Severity)>,
    pub message: Arc<str>,
    pub matcher: MatchSpec,
    pub origin: Origin,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redact_as: Option<Arc<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_entropy: Option<f32>,
    /// Severity when the sensitive value looks machine-generated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub random_severity: Option<Severity>,
    /// A match right after a negation does not count.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub negatable: bool,
    /// A match quoted as an example counts half.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub quotable: bool,
    pub examples_match: Vec<String>,
    pub examples_no_match: Vec<String>,
    /// The examples are JSON documents.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub json_examples: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    #[serde(skip)]
    pub(crate) group: Option<usize>,
    #[serde(skip)]
    pub(crate) validator: Option<Validator>,
    #[serde(skip)]
    pub(crate) allow_placeholder: bool,
    #[serde(skip)]
    pub(crate) hidden_region: bool,
}

fn ser_surfaces<S: serde::Serializer>(set: &SurfaceSet, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(set.iter().map(Surface::as_str))
}

impl Rule {
    /// The rule's severity on a surface.
    pub fn severity_for(&self, surface: Surface) -> Severity {
        self.severity_on
            .iter()
            .find(|(s, _)| *s == surface)
            .map_or(self.severity, |(_, sev)| *sev)
    }

    /// The surface used to run the rule's examples: its first surface.
    pub fn example_surface(&self) -> Surface {
        self.surfaces.iter().next().unwrap_or(Surface::ToolResult)
    }
}

/// Built-in candidate triggers for patterns without literals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Trigger {
    /// A run holding at least seven digits, with separators.
    Digits,
    /// Two capital letters and two digits starting a word (IBAN-like).
    CountryCode,
    /// A run of at least 20 base64-alphabet characters mixing case and digits.
    Token,
}

impl Trigger {
    fn parse(s: &str) -> Option<Trigger> {
        match s {
            "@digits" => Some(Trigger::Digits),
            "@country_code" => Some(Trigger::CountryCode),
            "@token" => Some(Trigger::Token),
            _ => None,
        }
    }
}

/// What a pattern's match produces.
#[derive(Clone, Debug)]
pub(crate) enum Output {
    Finding(usize),
    /// Hits of these concepts (a concept and every concept that includes it).
    Concepts(Vec<usize>),
}

/// A compiled pattern.
#[derive(Debug)]
pub(crate) struct Matcher {
    /// The rule or concept the pattern belongs to.
    pub(crate) owner: String,
    /// Compiled on first use (see [`Matcher::regex`]); `None` if it could not be.
    regex: std::sync::OnceLock<Option<meta::Regex>>,
    /// The pattern's source, parsed again for each structure built from it (see
    /// [`Matcher::hir`]): the parsed forms of all patterns were most of a built engine's memory.
    pattern: Box<str>,
    pub(crate) output: Output,
    /// Every match starts with one of the anchors (they are the pattern's literal prefixes), so
    /// the pattern runs anchored at each hit instead of over a window.
    pub(crate) anchored: bool,
    /// Bytes before an anchor hit where a match may start.
    pub(crate) back: usize,
    /// Bytes after an anchor hit where a match may end.
    pub(crate) forward: usize,
    /// Windows are searched only where a confirming literal was found (see
    /// [`AtomUse::Confirm`]).
    pub(crate) confirmed: bool,
    /// How close to its anchor a match must end or start, when close.
    pub(crate) near: Near,
    /// The pattern reversed, for [`Matcher::may_match_near`]; built on first use.
    reverse: std::sync::OnceLock<Option<Reverse>>,
    /// The forward DFA that works out [`Matcher::follow`]; built on first use.
    follow_dfa: std::sync::OnceLock<Option<hybrid::dfa::DFA>>,
    /// The pattern with its long counted repetitions left unbounded (see [`relax`]); built on
    /// first use, `None` when it has none.
    filter: std::sync::OnceLock<Option<meta::Regex>>,
}

/// The most bytes between an anchor and the end (or start) of a match for which a window is
/// first checked from that edge.
const NEAR: usize = 16;

/// For a windowed pattern whose anchor sits close to one edge of every match: at most `end`
/// bytes of a match follow the anchor, or at most `start` bytes precede it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Near {
    pub(crate) end: Option<usize>,
    pub(crate) start: Option<usize>,
}

type CacheFn = Box<
    dyn Fn() -> hybrid::dfa::Cache
        + Send
        + Sync
        + std::panic::UnwindSafe
        + std::panic::RefUnwindSafe,
>;

/// A reverse lazy DFA of a pattern, with its per-thread caches.
struct Reverse {
    dfa: hybrid::dfa::DFA,
    caches: Pool<hybrid::dfa::Cache, CacheFn>,
}

impl std::fmt::Debug for Reverse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reverse")
    }
}

fn compile_reverse(hir: &regex_syntax::hir::Hir) -> Option<Reverse> {
    let nfa = thompson::Compiler::new()
        .configure(
            thompson::Config::new()
                .reverse(true)
                .which_captures(thompson::WhichCaptures::None)
                .nfa_size_limit(Some(PATTERN_SIZE_LIMIT)),
        )
        .build_from_hir(hir)
        .ok()?;
    let dfa = hybrid::dfa::DFA::builder()
        .configure(
            hybrid::dfa::DFA::config()
                .match_kind(regex_automata::MatchKind::All)
                .cache_capacity(1 << 18)
                .skip_cache_capacity_check(true),
        )
        .build_from_nfa(nfa)
        .ok()?;
    let for_caches = dfa.clone();
    let create: CacheFn = Box::new(move || for_caches.create_cache());
    Some(Reverse {
        dfa,
        caches: Pool::new(create),
    })
}

/// Counted repetitions longer than this are left unbounded by [`relax`].
const RELAX_OVER: u32 = 8;

/// The pattern with each counted repetition of more than [`RELAX_OVER`] left unbounded above
/// (`[^.\n]{0,80}?` becomes `[^.\n]*?`): it matches wherever the pattern does, and its lazy
/// DFA needs far fewer states, which it would otherwise build for every position inside the
/// repetition. `None` when there is no such repetition.
fn relax(hir: &regex_syntax::hir::Hir) -> Option<regex_syntax::hir::Hir> {
    use regex_syntax::hir::{Capture, Hir, HirKind, Repetition};
    fn go(h: &Hir, changed: &mut bool) -> Hir {
        match h.kind() {
            HirKind::Repetition(rep) => {
                let sub = go(&rep.sub, changed);
                let max = match rep.max {
                    Some(m) if m > RELAX_OVER && m > rep.min => {
                        *changed = true;
                        None
                    }
                    other => other,
                };
                Hir::repetition(Repetition {
                    min: rep.min,
                    max,
                    greedy: rep.greedy,
                    sub: Box::new(sub),
                })
            }
            HirKind::Capture(cap) => Hir::capture(Capture {
                index: cap.index,
                name: cap.name.clone(),
                sub: Box::new(go(&cap.sub, changed)),
            }),
            HirKind::Concat(subs) => Hir::concat(subs.iter().map(|s| go(s, changed)).collect()),
            HirKind::Alternation(subs) => {
                Hir::alternation(subs.iter().map(|s| go(s, changed)).collect())
            }
            _ => h.clone(),
        }
    }
    let mut changed = false;
    let relaxed = go(hir, &mut changed);
    changed.then_some(relaxed)
}

/// Compiles a parsed pattern with the engine's settings: bytes, no Unicode classes, bounded size.
fn compile_pattern(hir: &regex_syntax::hir::Hir) -> Result<meta::Regex, Box<meta::BuildError>> {
    meta::Regex::builder()
        .configure(
            meta::Config::new()
                .utf8_empty(false)
                .auto_prefilter(false)
                .nfa_size_limit(Some(PATTERN_SIZE_LIMIT))
                .onepass_size_limit(Some(PATTERN_SIZE_LIMIT))
                .hybrid_cache_capacity(1 << 20),
        )
        .build_from_hir(hir)
        .map_err(Box::new)
}

impl Matcher {
    /// The compiled pattern. Built-in patterns compile on first use; they are all compiled in the
    /// test suite (see [`crate::Engine::warm_up`]), so `None` means a broken build.
    pub(crate) fn regex(&self) -> Option<&meta::Regex> {
        self.regex
            .get_or_init(|| compile_pattern(&self.hir()?).ok())
            .as_ref()
    }

    /// The parsed pattern, not kept: each of the structures built from it is built once.
    /// `None` only if it no longer parses, which the build rules out.
    pub(crate) fn hir(&self) -> Option<regex_syntax::hir::Hir> {
        prefix::parse_bytes(&self.pattern).ok()
    }

    /// What may follow the anchor `lit` in a match starting with it (see
    /// [`follow::follow`]); `None` when anything may.
    pub(crate) fn follow(&self, lit: &[u8]) -> Option<Follow> {
        let dfa = self
            .follow_dfa
            .get_or_init(|| follow::follow_dfa(&self.hir()?))
            .as_ref()?;
        follow::follow(dfa, lit)
    }

    /// A cheaper pattern that matches wherever this one does: a window it does not match
    /// holds no match.
    pub(crate) fn filter(&self) -> Option<&meta::Regex> {
        self.filter
            .get_or_init(|| {
                let relaxed = relax(&self.hir()?)?;
                compile_pattern(&relaxed).ok()
            })
            .as_ref()
    }

    /// Tried at each hit during the literal pass, in text order. A confirmed pattern is tried
    /// after the pass, which has found its confirming literals by then.
    pub(crate) fn tried_inline(&self) -> bool {
        self.anchored && !self.confirmed && matches!(self.output, Output::Finding(_))
    }

    /// Whether a match can cover the anchor hit `hit` within `bounds` (its window): checked
    /// from the near edge before the window is searched. A reverse search anchored at each
    /// possible end (or a forward one at each possible start) stops as soon as the text stops
    /// fitting the pattern, usually within a few bytes. False only when no match can.
    pub(crate) fn may_match_near(
        &self,
        hay: &[u8],
        hit: Range<usize>,
        bounds: Range<usize>,
    ) -> bool {
        if let Some(after) = self.near.end {
            let Some(rev) = self.reverse.get_or_init(|| compile_reverse(&self.hir()?)) else {
                return true;
            };
            let mut cache = rev.caches.get();
            let last = (hit.end + after).min(bounds.end);
            return (hit.end..=last).any(|end| {
                let input = Input::new(hay)
                    .range(bounds.start..end)
                    .anchored(Anchored::Yes);
                // A DFA that gives up (its cache thrashing) cannot rule the window out.
                !matches!(rev.dfa.try_search_rev(&mut cache, &input), Ok(None))
            });
        }
        if let Some(before) = self.near.start {
            let Some(regex) = self.regex() else {
                return true;
            };
            let first = hit.start.saturating_sub(before).max(bounds.start);
            return (first..=hit.start).any(|start| {
                regex.is_match(
                    Input::new(hay)
                        .range(start..bounds.end)
                        .anchored(Anchored::Yes),
                )
            });
        }
        true
    }

    /// Compiles the pattern now; an error means a pattern too large for the engine's limits.
    pub(crate) fn compile_now(&self) -> Result<(), String> {
        match self.regex() {
            Some(_) => Ok(()),
            None => Err(format!(
                "{}: pattern cannot be compiled within the size limit",
                self.owner
            )),
        }
    }
}

/// A combination rule over concepts.
#[derive(Debug)]
pub(crate) struct Combo {
    pub(crate) rule: usize,
    pub(crate) concepts: Vec<usize>,
    pub(crate) within: usize,
    pub(crate) ordered: bool,
    /// Distinct concepts needed: all of them unless `min` was given.
    pub(crate) min: usize,
}

/// What a rule literal means.
#[derive(Clone, Debug)]
pub(crate) enum AtomUse {
    /// A concept term (shared by every concept that includes it).
    Term { concepts: Vec<usize>, term: Term },
    /// `word`: the literal only counts where a word starts (the pattern begins with `\b`, or
    /// the rule asked for word anchors), so hits inside words need no window.
    Anchor { matcher: usize, word: bool },
    /// A literal, found where a word starts, that every match of a windowed pattern holds
    /// besides its anchor: a window without one is not searched.
    Confirm { matcher: usize },
}

/// A whole compiled rule set.
#[derive(Debug)]
pub(crate) struct RuleSet {
    pub(crate) rules: Vec<Rule>,
    pub(crate) concepts: Vec<String>,
    /// Per concept, whether a hit right after a negation is dropped.
    pub(crate) concept_negatable: Vec<bool>,
    pub(crate) matchers: Vec<Matcher>,
    pub(crate) combos: Vec<Combo>,
    /// Detector rules by detector name.
    pub(crate) detectors: Vec<(String, usize)>,
    pub(crate) triggers: Vec<(Trigger, usize)>,
    /// The first stage per group of surfaces (see [`RuleSet::finder`]), built on the group's
    /// first scan.
    finders: [std::sync::OnceLock<LiteralFinder>; 2],
    /// Per matcher, whether it is tried inline at each hit (see [`LiteralFinder::build`]).
    ordered: Vec<bool>,
    pub(crate) atoms: Vec<Vec<AtomUse>>,
    /// Per literal, its text (for profiling).
    pub(crate) literals: Vec<Vec<u8>>,
    /// Per concept, the surfaces on which some rule uses it.
    pub(crate) concept_surfaces: Vec<SurfaceSet>,
    /// Per rule, the surfaces on which a concept rule's concepts are needed (for quick skips).
    pub(crate) by_id: HashMap<Arc<str>, usize>,
}

/// Names of detectors implemented in code (see `detectors.rs`).
pub(crate) const DETECTORS: &[&str] = &[
    "signal:zero_width",
    "signal:bidi",
    "signal:tag_characters",
    "signal:variation_selectors",
    "signal:ansi_escape",
    "signal:control_characters",
    "signal:mixed_script",
    "signal:styled_text",
    "signal:combining_marks",
    "whitespace_padding",
    "encoded_payload",
    "json_depth",
];

/// Where a concept lives in the compiled set: its term uses (literal id, index of the use)
/// and its pattern matchers.
#[derive(Default)]
struct ConceptParts {
    terms: Vec<(usize, usize)>,
    matchers: Vec<usize>,
}

/// How far a pattern may reach from its anchors.
struct Reach {
    window: Option<usize>,
    before: Option<usize>,
    word_anchors: bool,
    /// Use the listed anchors whatever the planner estimates.
    listed_only: bool,
}

struct Builder {
    rules: Vec<Rule>,
    concepts: Vec<String>,
    concept_ids: HashMap<String, usize>,
    /// Each concept's compiled parts, for concepts that include it.
    concept_parts: Vec<ConceptParts>,
    concept_negatable: Vec<bool>,
    matchers: Vec<Matcher>,
    combos: Vec<Combo>,
    detectors: Vec<(String, usize)>,
    triggers: Vec<(Trigger, usize)>,
    literals: Vec<Vec<u8>>,
    literal_ids: HashMap<Vec<u8>, usize>,
    atoms: Vec<Vec<AtomUse>>,
    by_id: HashMap<Arc<str>, usize>,
}

impl RuleSet {
    /// Parses and compiles packs. Concepts are shared across packs; rule ids must be unique.
    pub(crate) fn compile(sources: &[PackSource]) -> Result<RuleSet, Error> {
        let mut b = Builder {
            rules: Vec::new(),
            concepts: Vec::new(),
            concept_ids: HashMap::new(),
            concept_parts: Vec::new(),
            concept_negatable: Vec::new(),
            matchers: Vec::new(),
            combos: Vec::new(),
            detectors: Vec::new(),
            triggers: Vec::new(),
            literals: Vec::new(),
            literal_ids: HashMap::new(),
            atoms: Vec::new(),
            by_id: HashMap::new(),
        };
        let parsed: Vec<_> = sources
            .iter()
            .map(|s| parse_pack(s).map(|p| (s, p, LineIndex::new(&s.text))))
            .collect::<Result<_, _>>()?;
        // Concepts first: rules in any pack may use concepts of any pack.
        for (src, pack, lines) in &parsed {
            for c in &pack.concept {
                let line = lines.line_of(c.span().start);
                b.add_concept(src, line, c.get_ref())?;
            }
        }
        for (src, pack, lines) in &parsed {
            for r in &pack.rule {
                let line = lines.line_of(r.span().start);
                b.add_rule(src, &pack.pack.id, line, r.get_ref())?;
            }
        }
        let ordered: Vec<bool> = b.matchers.iter().map(Matcher::tried_inline).collect();
        let literal_bytes: usize = b.literals.iter().map(Vec::len).sum();
        if literal_bytes > MAX_LITERAL_BYTES {
            return Err(Error::Automaton(format!(
                "the rules hold {literal_bytes} bytes of literals; the limit is {MAX_LITERAL_BYTES}"
            )));
        }
        let mut concept_surfaces = vec![SurfaceSet::default(); b.concepts.len()];
        for combo in &b.combos {
            let surfaces = b.rules[combo.rule].surfaces;
            for &c in &combo.concepts {
                for s in surfaces.iter() {
                    concept_surfaces[c].insert(s);
                }
            }
        }
        Ok(RuleSet {
            rules: b.rules,
            concepts: b.concepts,
            concept_negatable: b.concept_negatable,
            matchers: b.matchers,
            combos: b.combos,
            detectors: b.detectors,
            triggers: b.triggers,
            finders: Default::default(),
            ordered,
            atoms: b.atoms,
            literals: b.literals,
            concept_surfaces,
            by_id: b.by_id,
        })
    }
}

impl RuleSet {
    /// The first stage for a surface: the literals of its group's rules and concepts, each use
    /// marked with the surfaces it serves. Tool arguments have a finder of their own: their
    /// rules look for punctuation (`;`, `|`, `../`, quotes) that prose is full of, and each
    /// hit of theirs in another surface's text would be a call for nothing (6% more work on
    /// clean prose). Every other surface shares one: they share most of their literals, and a
    /// finder each cost the build time and memory of nine (about 6 MB and 7 ms each).
    pub(crate) fn finder(&self, surface: Surface) -> &LiteralFinder {
        let arguments = SurfaceSet::default().with(Surface::ToolArguments);
        let (group, members) = if surface == Surface::ToolArguments {
            (1, arguments)
        } else {
            (0, SurfaceSet::all().without(arguments))
        };
        self.finders[group].get_or_init(|| {
            let of_concepts = |cs: &[usize]| {
                cs.iter().fold(SurfaceSet::default(), |a, &c| {
                    a.union(self.concept_surfaces[c])
                })
            };
            let surfaces = |u: &AtomUse| {
                let on = match u {
                    AtomUse::Term { concepts, .. } => of_concepts(concepts),
                    AtomUse::Anchor { matcher, .. } | AtomUse::Confirm { matcher } => {
                        match &self.matchers[*matcher].output {
                            Output::Finding(r) => self.rules[*r].surfaces,
                            Output::Concepts(cs) => of_concepts(cs),
                        }
                    }
                };
                on.intersection(members)
            };
            LiteralFinder::build(&self.literals, &self.atoms, &self.ordered, surfaces)
        })
    }
}

fn rule_err(src: &PackSource, line: usize, rule: &str, message: impl Into<String>) -> Error {
    Error::Rule {
        file: src.label.clone(),
        line,
        rule: rule.to_owned(),
        message: message.into(),
    }
}

impl Builder {
    /// Registers a use of an rule literal; returns (literal id, index of the use).
    fn literal(&mut self, lit: Vec<u8>, use_: AtomUse) -> (usize, usize) {
        let id = match self.literal_ids.get(&lit) {
            Some(&id) => id,
            None => {
                let id = self.literals.len();
                self.literal_ids.insert(lit.clone(), id);
                self.literals.push(lit);
                self.atoms.push(Vec::new());
                id
            }
        };
        self.atoms[id].push(use_);
        (id, self.atoms[id].len() - 1)
    }

    /// Adds a concept term, sharing the verifier with an identical term of another concept.
    fn add_term(&mut self, lit: Vec<u8>, term: Term, concept: usize) -> (usize, usize) {
        if let Some(&id) = self.literal_ids.get(&lit) {
            for (k, u) in self.atoms[id].iter_mut().enumerate() {
                if let AtomUse::Term { concepts, term: t } = u
                    && *t == term
                {
                    if !concepts.contains(&concept) {
                        concepts.push(concept);
                    }
                    return (id, k);
                }
            }
        }
        self.literal(
            lit,
            AtomUse::Term {
                concepts: vec![concept],
                term,
            },
        )
    }

    fn add_concept(&mut self, src: &PackSource, line: usize, c: &ConceptDef) -> Result<(), Error> {
        if !valid_id(&c.id) {
            return Err(rule_err(
                src,
                line,
                &c.id,
                "concept ids use lower-case letters, digits, `_` and `.`",
            ));
        }
        if self.concept_ids.contains_key(&c.id) {
            return Err(rule_err(src, line, &c.id, "concept defined twice"));
        }
        if c.terms.is_empty() && c.patterns.is_empty() && c.include.is_empty() {
            return Err(rule_err(
                src,
                line,
                &c.id,
                "a concept needs `terms`, `patterns` or `include`",
            ));
        }
        let concept = self.concepts.len();
        self.concepts.push(c.id.clone());
        self.concept_negatable.push(c.negatable);
        self.concept_ids.insert(c.id.clone(), concept);
        let mut parts = ConceptParts::default();
        for t in &c.terms {
            let words = parse_term(t).map_err(|m| rule_err(src, line, &c.id, m))?;
            for (lit, term) in compile_term(&words) {
                parts.terms.push(self.add_term(lit, term, concept));
            }
        }
        for p in &c.patterns {
            let reach = Reach {
                window: c.window,
                before: c.window_before,
                word_anchors: c.word_anchors,
                listed_only: false,
            };
            let (m, ..) = self.add_matcher(
                src,
                line,
                &c.id,
                p,
                &c.anchors,
                reach,
                Output::Concepts(vec![concept]),
            )?;
            parts.matchers.push(m);
        }
        for inc in &c.include {
            let &i = self.concept_ids.get(inc).ok_or_else(|| {
                rule_err(src, line, &c.id, format!("unknown concept `{inc}` in `include` (include only concepts defined before)"))
            })?;
            // Reuse the included concept's verifiers and patterns: a hit counts for both.
            let (terms, matchers) = (
                self.concept_parts[i].terms.clone(),
                self.concept_parts[i].matchers.clone(),
            );
            for (lit, k) in terms {
                if let AtomUse::Term { concepts, .. } = &mut self.atoms[lit][k]
                    && !concepts.contains(&concept)
                {
                    concepts.push(concept);
                }
                parts.terms.push((lit, k));
            }
            for m in matchers {
                if let Output::Concepts(list) = &mut self.matchers[m].output
                    && !list.contains(&concept)
                {
                    list.push(concept);
                }
                parts.matchers.push(m);
            }
        }
        self.concept_parts.push(parts);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn add_matcher(
        &mut self,
        src: &PackSource,
        line: usize,
        owner: &str,
        pattern: &str,
        anchors: &[String],
        reach: Reach,
        output: Output,
    ) -> Result<(usize, Vec<String>, usize), Error> {
        let window = reach.window.unwrap_or(DEFAULT_WINDOW);
        let before = reach.before.unwrap_or(window);
        let word_anchors = reach.word_anchors;
        if window == 0 || window > MAX_WINDOW || before > MAX_WINDOW {
            return Err(rule_err(
                src,
                line,
                owner,
                format!("window must be between 1 and {MAX_WINDOW}"),
            ));
        }
        // Parsed here and dropped once the rule is planned (see [`Matcher::hir`]). Parsing all
        // patterns ahead on helper threads once made start-up a few milliseconds faster, and kept
        // about 12 MB resident: the helpers' freed pages stayed with the allocator.
        let hir = prefix::parse_bytes(pattern)
            .map_err(|e| rule_err(src, line, owner, format!("invalid pattern: {e}")))?;
        let captures = hir.properties().explicit_captures_len();
        if hir.properties().minimum_len() == Some(0) {
            return Err(rule_err(
                src,
                line,
                owner,
                "pattern matches the empty string",
            ));
        }
        // Users' patterns are compiled now, so that a pattern too large to compile is an error at
        // load naming its file and line. Built-in ones (compiled in the test suite) are compiled
        // on first use: start-up stays fast and unused rules cost nothing.
        let regex = std::sync::OnceLock::new();
        if !src.builtin {
            let r = compile_pattern(&hir).map_err(|e| {
                rule_err(src, line, owner, format!("pattern cannot be compiled: {e}"))
            })?;
            let _ = regex.set(Some(r));
        }
        let matcher = self.matchers.len();
        let mut near = Near::default();
        let plan = if reach.listed_only && !anchors.is_empty() {
            Some(Plan::Listed)
        } else {
            plan_anchors(&hir, anchors, window, before, word_anchors)
        };
        let (anchored, back, forward, shown) = match plan {
            Some(Plan::Literals {
                lits,
                at_word_start,
                anchored,
                back,
                forward,
                near: plan_near,
            }) => {
                near = plan_near;
                let shown = lits
                    .iter()
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect();
                for (p, word) in lits.into_iter().zip(at_word_start) {
                    let word = word && p.first().is_some_and(u8::is_ascii_alphanumeric);
                    self.literal(p, AtomUse::Anchor { matcher, word });
                }
                (anchored, back, forward, shown)
            }
            Some(Plan::Listed) => {
                for a in anchors {
                    if let Some(trigger) = Trigger::parse(a) {
                        self.triggers.push((trigger, matcher));
                        continue;
                    }
                    // One punctuation byte (`@` for e-mail addresses) is allowed; one letter
                    // would fire everywhere.
                    let short_ok = a.len() == 1 && a.bytes().all(|b| b.is_ascii_punctuation());
                    if a.len() < prefix::MIN_PREFIX_LEN && !short_ok {
                        return Err(rule_err(
                            src,
                            line,
                            owner,
                            format!(
                                "anchor `{a}` is shorter than {} bytes",
                                prefix::MIN_PREFIX_LEN
                            ),
                        ));
                    }
                    let word =
                        word_anchors && a.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
                    self.literal(
                        a.to_ascii_lowercase().into_bytes(),
                        AtomUse::Anchor { matcher, word },
                    );
                }
                (false, before, window, anchors.to_vec())
            }
            None => {
                return Err(rule_err(
                    src,
                    line,
                    owner,
                    "every match of the pattern must contain a literal of at least two bytes to anchor on: add `anchors` (literals, or a trigger such as `@digits`)",
                ));
            }
        };
        let anchor_lits: Vec<Vec<u8>> = shown
            .iter()
            .filter(|a| !a.starts_with('@'))
            .map(|a| a.to_ascii_lowercase().into_bytes())
            .collect();
        let triggered = shown.iter().any(|a| a.starts_with('@'));
        // A window, or an anchored try that the byte after its anchor does not rule out (after
        // "use ", any word may follow), costs hundreds of instructions: where every match also
        // holds a rarer literal, hits without one nearby are not tried at all.
        let confirm = (!triggered)
            .then(|| factors::confirming_factor(&hir, &anchor_lits, anchored))
            .flatten();
        let confirmed = confirm.is_some();
        for lit in confirm.into_iter().flat_map(|f| f.lits) {
            self.literal(lit, AtomUse::Confirm { matcher });
        }
        self.matchers.push(Matcher {
            owner: owner.to_owned(),
            regex,
            pattern: pattern.into(),
            output,
            anchored,
            back,
            forward,
            confirmed,
            near,
            reverse: std::sync::OnceLock::new(),
            follow_dfa: std::sync::OnceLock::new(),
            filter: std::sync::OnceLock::new(),
        });
        Ok((matcher, shown, captures))
    }

    fn add_rule(
        &mut self,
        src: &PackSource,
        pack: &str,
        line: usize,
        d: &RuleDef,
    ) -> Result<(), Error> {
        let err = |m: String| rule_err(src, line, &d.id, m);
        if !valid_id(&d.id) || !d.id.contains('.') {
            return Err(err(
                "rule ids look like `category.name`: lower-case letters, digits, `_` and `.`"
                    .into(),
            ));
        }
        if let Some(&prev) = self.by_id.get(d.id.as_str()) {
            let o = &self.rules[prev].origin;
            return Err(err(format!(
                "duplicate rule id (first defined at {}:{})",
                o.file, o.line
            )));
        }
        if !(0.0..=1.0).contains(&d.confidence) {
            return Err(err("confidence must be between 0 and 1".into()));
        }
        if d.message.trim().is_empty() {
            return Err(err("a rule needs a message".into()));
        }
        if d.examples_match.is_empty() || d.no_match.is_empty() {
            return Err(err(
                "every rule needs at least one `match` and one `no_match` example".into(),
            ));
        }
        let surfaces = match &d.surfaces {
            None => SurfaceSet::all(),
            Some(list) if list.iter().any(|s| s == "all") => SurfaceSet::all(),
            Some(list) => list
                .iter()
                .map(|s| s.parse::<Surface>().map_err(|e| err(e.to_string())))
                .collect::<Result<SurfaceSet, _>>()?,
        };
        let severity_on = d
            .severity_on
            .iter()
            .map(|(s, sev)| Ok((s.parse::<Surface>().map_err(|e| err(e.to_string()))?, *sev)))
            .collect::<Result<Vec<_>, Error>>()?;
        let validator = match &d.validate {
            None => None,
            Some(v) => Some(Validator::parse(v).ok_or_else(|| {
                err(format!(
                    "unknown validator `{v}` (known: {})",
                    Validator::NAMES.join(", ")
                ))
            })?),
        };
        let idx = self.rules.len();
        let id: Arc<str> = d.id.as_str().into();
        let matchers = usize::from(d.pattern.is_some())
            + usize::from(!d.all.is_empty())
            + usize::from(d.detector.is_some());
        if matchers != 1 {
            return Err(err(
                "a rule needs exactly one of `pattern`, `all` or `detector`".into(),
            ));
        }
        let matcher = if let Some(p) = &d.pattern {
            let (_, anchors, groups) = self.add_matcher(
                src,
                line,
                &d.id,
                p,
                &d.anchors,
                Reach {
                    window: d.window,
                    before: d.window_before,
                    word_anchors: d.word_anchors,
                    listed_only: d.listed_anchors_only,
                },
                Output::Finding(idx),
            )?;
            if let Some(g) = d.group
                && (g == 0 || g > groups)
            {
                return Err(err(format!("group {g} does not exist in the pattern")));
            }
            MatchSpec::Pattern {
                pattern: p.clone(),
                anchors,
            }
        } else if !d.all.is_empty() {
            if d.negatable {
                return Err(err(
                    "`negatable` applies to `pattern` rules (concepts take it too)".into(),
                ));
            }
            let mut concepts = Vec::new();
            for c in &d.all {
                let &ci = self
                    .concept_ids
                    .get(c)
                    .ok_or_else(|| err(format!("unknown concept `{c}`")))?;
                concepts.push(ci);
            }
            let within = d.within.unwrap_or(DEFAULT_WITHIN);
            if within == 0 || within > MAX_WINDOW {
                return Err(err(format!("within must be between 1 and {MAX_WINDOW}")));
            }
            let min = d.min.unwrap_or(concepts.len());
            if min == 0 || min > concepts.len() {
                return Err(err(format!(
                    "min must be between 1 and {} (the number of concepts)",
                    concepts.len()
                )));
            }
            if d.ordered && min != concepts.len() {
                return Err(err("`ordered` needs every concept (no `min`)".into()));
            }
            self.combos.push(Combo {
                rule: idx,
                concepts,
                within,
                ordered: d.ordered,
                min,
            });
            MatchSpec::Concepts {
                all: d.all.clone(),
                within,
                ordered: d.ordered,
                min,
            }
        } else {
            if d.negatable || d.quotable {
                return Err(err(
                    "`negatable` and `quotable` apply to `pattern` and `all` rules, not detectors"
                        .into(),
                ));
            }
            let name = d.detector.clone().unwrap_or_default();
            if !DETECTORS.contains(&name.as_str()) {
                return Err(err(format!(
                    "unknown detector `{name}` (known: {})",
                    DETECTORS.join(", ")
                )));
            }
            self.detectors.push((name.clone(), idx));
            MatchSpec::Detector { name }
        };
        let redact_as = if d.category.is_sensitive_data() {
            Some(
                d.redact_as
                    .clone()
                    .unwrap_or_else(|| d.id.rsplit('.').next().unwrap_or(&d.id).to_owned())
                    .into(),
            )
        } else {
            None
        };
        self.by_id.insert(id.clone(), idx);
        self.rules.push(Rule {
            id,
            category: d.category,
            severity: d.severity,
            confidence: d.confidence,
            surfaces,
            severity_on,
            message: d.message.as_str().into(),
            matcher,
            origin: Origin {
                pack: pack.to_owned(),
                file: src.label.clone(),
                line,
                builtin: src.builtin,
            },
            redact_as,
            validate: d.validate.clone(),
            min_entropy: d.min_entropy,
            random_severity: d.random_severity,
            negatable: d.negatable,
            quotable: d.quotable,
            examples_match: d.examples_match.clone(),
            examples_no_match: d.no_match.clone(),
            json_examples: d.json_examples,
            references: d.references.clone(),
            group: d.group,
            validator,
            allow_placeholder: d.allow_placeholder,
            hidden_region: d.hidden_region,
        });
        Ok(())
    }
}

/// Where a pattern is tried.
enum Plan {
    /// Around hits of these literals, one of which is in every match.
    Literals {
        lits: Vec<Vec<u8>>,
        /// Per literal, whether it only counts where a word starts.
        at_word_start: Vec<bool>,
        /// Every match starts at a literal: one anchored search per hit.
        anchored: bool,
        back: usize,
        forward: usize,
        /// Where a match can sit relative to a hit, when that is close (see [`Near`]).
        near: Near,
    },
    /// Around the rule's listed anchors and triggers.
    Listed,
}

/// Chooses the cheapest way to find a pattern's matches: its literal prefixes (one anchored
/// search per hit), a rarer set of literals inside it (a window per hit), or the anchors the
/// rule lists. `window` and `before` bound the sides of a match that the pattern leaves
/// unbounded.
fn plan_anchors(
    hir: &regex_syntax::hir::Hir,
    listed: &[String],
    window: usize,
    before: usize,
    word_anchors: bool,
) -> Option<Plan> {
    // Triggers (`@digits`) are for patterns that literals cannot anchor: keep the rule's choice.
    if listed.iter().any(|a| a.starts_with('@')) {
        return Some(Plan::Listed);
    }
    let bounded =
        |side: Option<usize>, default: usize| side.filter(|&n| n <= MAX_WINDOW).unwrap_or(default);
    let mut best: Option<(f64, Plan)> = None;
    let mut consider = |score: f64, plan: Plan| {
        if best.as_ref().is_none_or(|(s, _)| score < *s) {
            best = Some((score, plan));
        }
    };
    if !listed.is_empty() {
        let lits = listed
            .iter()
            .map(|a| a.to_ascii_lowercase().into_bytes())
            .collect();
        let f = factors::Factor::new(lits, Some(before), Some(window), word_anchors);
        consider(f.hits() * window_cost(before, window), Plan::Listed);
    }
    if let Some(lits) = prefix::literal_prefixes(hir) {
        // A rule that asked for word anchors gets them here too, as with its listed ones.
        let word = word_anchors || prefix::starts_at_word_boundary(hir);
        let longest = lits.iter().map(Vec::len).max().unwrap_or(0);
        let forward = match hir.properties().maximum_len() {
            Some(n) if n <= MAX_WINDOW => n,
            // With listed anchors the window was measured around a word inside the match;
            // the match may then be as long as both sides together.
            _ if listed.is_empty() => window.max(longest),
            _ => (before + window + 64).min(MAX_WINDOW),
        };
        let f = factors::Factor::new(lits, Some(0), Some(0), word);
        consider(
            f.hits(),
            Plan::Literals {
                at_word_start: vec![f.word; f.lits.len()],
                lits: f.lits,
                anchored: true,
                back: 0,
                forward,
                near: Near::default(),
            },
        );
    }
    if let Some(f) = factors::best_factor(hir) {
        let longest = f.lits.iter().map(Vec::len).max().unwrap_or(0);
        // The rule's reach bounds a whole match (`before` + `window` around a listed anchor),
        // and a literal inside the match may sit anywhere in it: an unbounded side of the
        // pattern gets all of that reach, not just one side of it.
        let reach = (before + window).min(MAX_WINDOW);
        let after = bounded(f.after, reach);
        let (score, plan) = if f.before == Some(0) {
            // The literals start every match: anchored, as for prefixes.
            let plan = Plan::Literals {
                anchored: true,
                back: 0,
                forward: (longest + after).min(MAX_WINDOW),
                at_word_start: f.lits.iter().map(|l| f.starts_word(l)).collect(),
                lits: f.lits.clone(),
                near: Near::default(),
            };
            (f.hits(), plan)
        } else {
            let back = bounded(f.before, reach);
            let plan = Plan::Literals {
                anchored: false,
                back,
                forward: after,
                at_word_start: f.lits.iter().map(|l| f.starts_word(l)).collect(),
                lits: f.lits.clone(),
                near: Near {
                    end: f.after.filter(|&a| a <= NEAR),
                    start: f.before.filter(|&b| b <= NEAR),
                },
            };
            // A window checked from a near edge first costs a few short anchored tries; the
            // search itself runs only where a match can be.
            let near = [f.after, f.before]
                .into_iter()
                .flatten()
                .filter(|&n| n <= NEAR)
                .min();
            let cost = match near {
                Some(n) => window_cost(back, after).min(1.0 + n as f64 / 4.0),
                None => window_cost(back, after),
            };
            (f.hits() * cost, plan)
        };
        consider(score, plan);
    }
    best.map(|(_, p)| p)
}

/// Relative work of searching a window around each hit, against one anchored try.
fn window_cost(back: usize, forward: usize) -> f64 {
    // An anchored try that fails costs about as much as searching 32 bytes.
    1.0 + (back + forward) as f64 / 32.0
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
        && !id.starts_with('.')
        && !id.ends_with('.')
}
