//! The scan pipeline: normalise, one literal pass, patterns in windows, concept combinations,
//! built-in detectors, bounded decoding of embedded encodings, then findings.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::LazyLock;

use regex_automata::{Anchored, Input};

use crate::decode::{self, Budget, Decoded};
use crate::engine::{Inner, ScanOptions};
use crate::excerpt::excerpt;
use crate::finding::{Category, CategorySet, Finding, Report, Via};
use crate::normalize::{NormInfo, SignalKind, normalize, normalize_into};
use crate::rules::{AtomUse, Output, Trigger};
use crate::runs::Runs;
use crate::statement::{negated_around, quoted_example};
use crate::surface::Surface;
use crate::validate::{Check, entropy, is_placeholder, looks_random};

/// One string of a document, and its place in the normalised text.
#[derive(Clone, Debug)]
pub(crate) struct Seg<'a> {
    pub(crate) orig: &'a str,
    pub(crate) norm: Range<usize>,
    pub(crate) info: NormInfo,
}

/// The unit one scan works on: one or more strings, normalised into one buffer so that the
/// literal pass reads everything at once.
#[derive(Debug)]
pub(crate) struct Doc<'a> {
    pub(crate) norm: Cow<'a, str>,
    pub(crate) segs: Vec<Seg<'a>>,
}

/// Between strings of a JSON value: no pattern or term is allowed to cross it.
const SEPARATOR: &str = "\n\n";

impl<'a> Doc<'a> {
    pub(crate) fn single(text: &'a str) -> Doc<'a> {
        let (norm, info) = normalize(text).into_parts();
        let len = norm.len();
        Doc {
            norm,
            segs: vec![Seg {
                orig: text,
                norm: 0..len,
                info,
            }],
        }
    }

    pub(crate) fn many(texts: impl ExactSizeIterator<Item = &'a str>, capacity: usize) -> Doc<'a> {
        let mut buf = String::with_capacity(capacity);
        let mut segs = Vec::with_capacity(texts.len());
        for t in texts {
            if !segs.is_empty() {
                buf.push_str(SEPARATOR);
            }
            let start = buf.len();
            let info = normalize_into(t, &mut buf);
            segs.push(Seg {
                orig: t,
                norm: start..buf.len(),
                info,
            });
        }
        Doc {
            norm: Cow::Owned(buf),
            segs,
        }
    }

    /// The segment holding normalised offset `pos`.
    pub(crate) fn seg_at(&self, pos: usize) -> usize {
        self.segs
            .partition_point(|s| s.norm.end <= pos)
            .min(self.segs.len().saturating_sub(1))
    }

    /// Maps a normalised range (document offsets) inside segment `seg` to the segment's original
    /// text.
    pub(crate) fn to_original(&self, seg: usize, r: Range<usize>) -> Range<usize> {
        let s = &self.segs[seg];
        let base = s.norm.start;
        s.info.original_span(
            s.orig,
            s.norm.len(),
            r.start.saturating_sub(base)..r.end.saturating_sub(base),
        )
    }
}

/// `scan_doc` depth for the flattened copy of a text: nothing is decoded or flattened again.
const FLATTENED: usize = usize::MAX;

/// Texts longer than this are not scanned a second time flattened.
const MAX_FLATTEN: usize = 256 * 1024;

/// Whether a text looks cut into lines of a few words each, as an evasion does: at least four
/// line breaks and at most three words per line on average.
fn cut_into_short_lines(hay: &[u8]) -> bool {
    if hay.len() > MAX_FLATTEN {
        return false;
    }
    let lines = memchr::memchr_iter(b'\n', hay).count();
    if lines < 4 {
        return false;
    }
    let most = 3 * (lines + 1);
    // Comparisons without branches, so that the count compiles to vector instructions; and
    // counted a chunk at a time, so that ordinary text (far more words than lines) stops early.
    use crate::runs::alnum;
    let mut words = usize::from(hay.first().is_some_and(|&b| alnum(b)));
    let pairs = hay.len().saturating_sub(1);
    for (a, b) in hay[..pairs].chunks(1024).zip(hay[1..].chunks(1024)) {
        words += a
            .iter()
            .zip(b)
            .map(|(&x, &y)| u32::from(!alnum(x) & alnum(y)))
            .sum::<u32>() as usize;
        if words > most {
            return false;
        }
    }
    words >= 4
}

/// Whether `hits` (sorted by id, segment, start) holds one of `id` in `seg` starting in `range`.
fn has_hit(hits: &[Hit], id: usize, seg: usize, range: Range<usize>) -> bool {
    let i = hits.partition_point(|h| (h.id, h.start) < (id, range.start));
    hits.get(i)
        .is_some_and(|h| h.id == id && h.seg == seg && h.start < range.end)
}

/// Orders hits by (id, segment, start) in linear time, as the windows of step 3 and
/// [`has_hit`] need them. Hits arrive in text order (those at word starts by their start, the
/// automaton's by their end), so a stable counting sort by id leaves each id's hits in order
/// but for the rare id that has both kinds; only those groups are sorted again. A comparison
/// sort of the whole list was 6% of a scan of 1 MB of prose.
fn order_by_id(hits: &mut Vec<Hit>, ids: usize) {
    // Starts are offsets in the whole document, whose strings come in order: (id, start) is
    // (id, segment, start), in one integer.
    let key = |h: &Hit| (h.id as u128) << 64 | h.start as u128;
    // The counting sort costs a pass over every id: below as many hits as ids, sorting is
    // cheaper (it was 6% of `analyze --jsonl` on short records).
    if hits.len() < ids.max(32) {
        hits.sort_unstable_by_key(key);
        return;
    }
    let mut next = vec![0usize; ids + 1];
    for h in hits.iter() {
        next[h.id + 1] += 1;
    }
    for i in 0..ids {
        next[i + 1] += next[i];
    }
    let bounds = next.clone();
    let mut out = hits.clone();
    for h in hits.iter() {
        out[next[h.id]] = *h;
        next[h.id] += 1;
    }
    for w in bounds.windows(2) {
        let group = &mut out[w[0]..w[1]];
        if !group.is_sorted_by_key(key) {
            group.sort_unstable_by_key(key);
        }
    }
    *hits = out;
}

/// The two-byte marks that tell whether a decoder has anything to do.
#[derive(Clone, Copy)]
enum Needle {
    Entity,
    UnicodeEscape,
    HexEscape,
    Ascii85,
    DotDash,
    DashDot,
}

/// Their searchers, built once: building one for each look was most of the cost of these looks
/// on short texts (5% of `analyze --jsonl`).
static NEEDLES: LazyLock<[memchr::memmem::Finder<'static>; 6]> =
    LazyLock::new(|| [b"&#", b"\\u", b"\\x", b"<~", b".-", b"-."].map(memchr::memmem::Finder::new));

fn has(needle: Needle, hay: &[u8]) -> bool {
    NEEDLES[needle as usize].find(hay).is_some()
}

/// A finding before it is dressed for output.
#[derive(Debug, Clone)]
pub(crate) struct Raw {
    pub(crate) rule: usize,
    pub(crate) seg: usize,
    /// In the segment's original text.
    pub(crate) span: Range<usize>,
    /// The sensitive value inside `span`, for masking and redaction.
    pub(crate) value: Option<Range<usize>>,
    pub(crate) confidence: f32,
    pub(crate) via: Option<Via>,
    pub(crate) excerpt: Option<String>,
    pub(crate) raised: bool,
    /// The sensitive value looks machine-generated (the rule's `random_severity` applies).
    pub(crate) random: bool,
    /// Quoted as an example (see [`quoted_example`]).
    pub(crate) quoted: bool,
}

#[derive(Clone, Copy, Debug)]
struct Hit {
    seg: usize,
    start: usize,
    end: usize,
    id: usize,
}

/// The share of its rule's confidence a match quoted as an example keeps (a security policy, an
/// article on attacks): evidence that needs more beside it.
const QUOTED_SHARE: f32 = 0.5;

/// Per-scan working state.
pub(crate) struct Scanner<'e> {
    pub(crate) engine: &'e Inner,
    pub(crate) surface: Surface,
    pub(crate) opts: &'e ScanOptions,
    pub(crate) budget: Budget,
    pub(crate) truncated: bool,
}

/// Findings of one (non-sensitive-data) rule closer than this are reported as one.
const MERGE_GAP: usize = 256;

/// Categories whose findings are raised when they sit in hidden text.
fn raisable(c: Category) -> bool {
    matches!(
        c,
        Category::PromptInjection
            | Category::ToolPoisoning
            | Category::CrossToolShadowing
            | Category::Exfiltration
            | Category::SensitivePath
            | Category::CommandInjection
    )
}

impl Scanner<'_> {
    pub(crate) fn applies(&self, rule: usize) -> bool {
        let r = &self.engine.set.rules[rule];
        r.surfaces.contains(self.surface) && self.opts.categories.contains(r.category)
    }

    /// Scans a document; `depth` counts decoding levels.
    pub(crate) fn scan_doc(&mut self, doc: &Doc<'_>, depth: usize, extra: &[Raw]) -> Vec<Raw> {
        let engine = self.engine;
        let set = &engine.set;
        let hay = doc.norm.as_bytes();
        let mut raws: Vec<Raw> = extra.to_vec();
        // Sized for ordinary text (a term every 32 bytes or so, capped): growing from empty
        // was a few reallocations per short record.
        let mut concept_hits: Vec<Hit> = Vec::with_capacity((hay.len() / 32).clamp(8, 4096));
        let mut anchor_hits: Vec<Hit> = Vec::new();
        let mut confirm_hits: Vec<Hit> = Vec::new();
        // Per anchored pattern that matched, the end of its last match: few in any scan, and a
        // table over every pattern cost a zeroed allocation per scan.
        let mut match_end: Vec<(usize, usize)> = Vec::new();

        // 1. One pass for every term and anchor (see `rules::literals`).
        let mut seg = 0usize;
        let finder = set.finder(self.surface);
        let surface = self.surface;
        if !finder.complete {
            self.truncated = true;
        }
        let every_category = self.opts.categories == CategorySet::all();
        let applies = |m: usize| every_category || self.matcher_applies(m);
        // The runs (step 2) are found in the same loop.
        let strings: Vec<Range<usize>> = doc.segs.iter().map(|s| s.norm.clone()).collect();
        let mut runs = Runs::default();
        finder.find_with_runs(hay, &strings, &mut runs, |s, e, slot| {
            if !slot.serves.contains(surface) {
                return;
            }
            // Hits come in order of their start, then (the few literals found anywhere) of
            // their end: the segment is usually the last one or the next.
            let segs = &doc.segs;
            if s < segs[seg].norm.start {
                seg = doc.seg_at(s);
            }
            while seg + 1 < segs.len() && segs[seg].norm.end < e {
                seg += 1;
            }
            let seg_range = &segs[seg].norm;
            if s < seg_range.start || e > seg_range.end {
                // Across a separator between two strings.
                return;
            }
            let seg_end = seg_range.end;
            for (k, u) in slot.uses.iter().enumerate() {
                if !slot.surfaces[k].contains(surface) {
                    continue;
                }
                match u {
                    // Uses of this surface's rules and concepts: only the category filter of
                    // the options is left to check.
                    AtomUse::Term { concepts, term } => {
                        if let Some((start, end)) = term.verify(hay, s, e)
                            && end <= seg_end
                            && start >= seg_range.start
                        {
                            // A term shared by concepts of other surfaces counts for this
                            // surface's only.
                            let here = concepts
                                .iter()
                                .filter(|&&c| set.concept_surfaces[c].contains(surface));
                            for &c in here {
                                concept_hits.push(Hit {
                                    seg,
                                    start,
                                    end,
                                    id: c,
                                });
                            }
                        }
                    }
                    AtomUse::Anchor { matcher, word } => {
                        // A word anchor only counts at a word start: "use" inside "because"
                        // would put a window around every such word.
                        if *word && !crate::rules::terms::boundary_before(hay, s) {
                            continue;
                        }
                        let m = &set.matchers[*matcher];
                        if m.tried_inline() {
                            // Tried at once, in text order: a hit inside the pattern's previous
                            // match adds nothing.
                            // Most tries fail on the byte after the anchor: rule those out
                            // first (at the end of a string, any continuation may match).
                            let may_follow = || {
                                e >= seg_end
                                    || slot.follow[k].allows(&hay[..seg_end], e, || {
                                        m.follow(&set.literals[slot.literal])
                                    })
                            };
                            let past_last_match = match_end
                                .iter()
                                .find(|&&(k, _)| k == *matcher)
                                .is_none_or(|&(_, end)| s >= end);
                            if past_last_match && applies(*matcher) && may_follow() {
                                let end = (s + m.forward).min(seg_end);
                                if let Some(e) = self.run_matcher(
                                    doc,
                                    *matcher,
                                    seg,
                                    s..end,
                                    true,
                                    &mut raws,
                                    &mut concept_hits,
                                ) {
                                    match match_end.iter_mut().find(|(k, _)| k == matcher) {
                                        Some(last) => last.1 = e,
                                        None => match_end.push((*matcher, e)),
                                    }
                                }
                            }
                        } else if applies(*matcher) {
                            anchor_hits.push(Hit {
                                seg,
                                start: s,
                                end: e,
                                id: *matcher,
                            });
                        }
                    }
                    AtomUse::Confirm { matcher } => {
                        if applies(*matcher) {
                            confirm_hits.push(Hit {
                                seg,
                                start: s,
                                end: e,
                                id: *matcher,
                            });
                        }
                    }
                }
            }
        });

        // 2. What literals cannot anchor, from the runs.
        for &(trigger, matcher) in &set.triggers {
            if !self.matcher_applies(matcher) {
                continue;
            }
            let mut push = |r: Range<usize>| {
                let seg = doc.seg_at(r.start);
                anchor_hits.push(Hit {
                    seg,
                    start: r.start,
                    end: r.end,
                    id: matcher,
                });
            };
            match trigger {
                Trigger::Digits => runs.digits.iter().for_each(|r| push(r.clone())),
                Trigger::CountryCode => runs.country_codes.iter().for_each(|&p| push(p..p + 4)),
                Trigger::Token => runs.tokens.iter().for_each(|t| push(t.range.clone())),
            }
        }

        // 3. Patterns, only in windows around their anchors. A concept's patterns run only
        // when some combination using the concept could still be complete.
        order_by_id(&mut anchor_hits, set.matchers.len());
        order_by_id(&mut confirm_hits, set.matchers.len());
        let wanted = self.wanted_concepts(&concept_hits, &anchor_hits);
        let mut i = 0;
        while i < anchor_hits.len() {
            let matcher = anchor_hits[i].id;
            let m = &set.matchers[matcher];
            if let Output::Concepts(cs) = &m.output
                && !cs.iter().any(|&c| wanted[c])
            {
                while i < anchor_hits.len() && anchor_hits[i].id == matcher {
                    i += 1;
                }
                continue;
            }
            let mut windows: Vec<(usize, Range<usize>)> = Vec::new();
            while i < anchor_hits.len() && anchor_hits[i].id == matcher {
                let h = anchor_hits[i];
                let seg = &doc.segs[h.seg].norm;
                if m.anchored {
                    // One anchored search per hit: the match, if any, starts at the hit.
                    let end = (h.start + m.forward).min(seg.end);
                    match windows.last() {
                        Some((_, w)) if h.start < w.end => {}
                        _ if m.confirmed
                            && !has_hit(&confirm_hits, matcher, h.seg, h.start..end) => {}
                        _ => {
                            if let Some(e) = self.run_matcher(
                                doc,
                                matcher,
                                h.seg,
                                h.start..end,
                                true,
                                &mut raws,
                                &mut concept_hits,
                            ) {
                                windows.push((h.seg, h.start..e));
                            }
                        }
                    }
                    i += 1;
                    continue;
                }
                let lo = h.start.saturating_sub(m.back).max(seg.start);
                let hi = (h.end + m.forward).min(seg.end);
                i += 1;
                if m.confirmed && !has_hit(&confirm_hits, matcher, h.seg, lo..hi) {
                    continue;
                }
                // A hit inside the window already taken only stretches it: its own check (a
                // search of up to `back` bytes) would make dense hits cost hits × back.
                let inside = windows
                    .last()
                    .is_some_and(|(s, w)| *s == h.seg && h.start < w.end);
                if !inside && !m.may_match_near(hay, h.start..h.end, lo..hi) {
                    continue;
                }
                match windows.last_mut() {
                    Some((s, w)) if *s == h.seg && lo <= w.end => w.end = w.end.max(hi),
                    _ => windows.push((h.seg, lo..hi)),
                }
            }
            if !m.anchored {
                for (seg, w) in windows {
                    self.run_matcher(doc, matcher, seg, w, false, &mut raws, &mut concept_hits);
                }
            }
        }

        // 4. Concept combinations.
        self.combine(doc, &mut concept_hits, &mut raws);

        // 5. Detectors implemented in code.
        self.detect_signals(doc, &mut raws);
        for r in &runs.padding {
            let seg = doc.seg_at(r.start);
            let span = doc.to_original(seg, r.clone());
            for &rule in &engine.padding_rules {
                if self.applies(rule) {
                    raws.push(self.raw(rule, seg, span.clone()));
                }
            }
        }

        // 6. Embedded encodings, scanned again.
        if depth < self.opts.max_decode_depth {
            self.decode_and_scan(doc, &runs, depth, &mut raws);
        }

        // 7. Text cut into short lines ("Do\nnot\ntell\nthe\nuser") reads as one sentence to
        // a model, while rules stop at line ends: scan it once more with its line breaks as
        // spaces. Same length, so every offset (and span) stays as it is.
        if depth == 0 {
            let cut: Vec<&Seg<'_>> = doc
                .segs
                .iter()
                .filter(|seg| cut_into_short_lines(&hay[seg.norm.clone()]))
                .collect();
            if !cut.is_empty() {
                // Only inside those strings: the breaks between strings of a JSON value stay.
                let mut flat = hay.to_vec();
                for seg in cut {
                    for b in &mut flat[seg.norm.clone()] {
                        if matches!(*b, b'\n' | b'\r') {
                            *b = b' ';
                        }
                    }
                }
                // Replacing ASCII bytes with ASCII bytes keeps the text UTF-8.
                if let Ok(flat) = String::from_utf8(flat) {
                    let flat_doc = Doc {
                        norm: Cow::Owned(flat),
                        segs: doc.segs.clone(),
                    };
                    raws.extend(self.scan_doc(&flat_doc, FLATTENED, &[]));
                }
            }
        }

        #[cfg(feature = "yara")]
        if let Some(y) = &engine.yara {
            y.scan(self, doc, &mut raws);
        }

        // Text after whitespace padding is hidden from a reader.
        let mut hidden: Vec<(usize, Range<usize>)> = runs
            .padding
            .iter()
            .map(|r| {
                let seg = doc.seg_at(r.start);
                let end = doc.segs[seg].orig.len();
                let span = doc.to_original(seg, r.clone());
                (seg, span.start..end)
            })
            .collect();
        hidden.extend(
            raws.iter()
                .filter(|r| set.rules[r.rule].hidden_region)
                .map(|r| (r.seg, r.span.clone())),
        );
        if !hidden.is_empty() {
            // Merged into disjoint, sorted regions per segment, so that each finding is looked
            // up (not compared with every region: thousands of short hidden comments and
            // thousands of findings after them would be quadratic).
            hidden.sort_unstable_by_key(|(s, h)| (*s, h.start));
            let mut merged: Vec<(usize, Range<usize>)> = Vec::with_capacity(hidden.len());
            for (s, h) in hidden {
                match merged.last_mut() {
                    Some((ls, lh)) if *ls == s && h.start <= lh.end => lh.end = lh.end.max(h.end),
                    _ => merged.push((s, h)),
                }
            }
            for r in raws.iter_mut() {
                let rule = &set.rules[r.rule];
                if !raisable(rule.category) || rule.hidden_region {
                    continue;
                }
                // The first region of the segment that ends after the finding starts.
                let at = merged.partition_point(|(s, h)| (*s, h.end) <= (r.seg, r.span.start));
                if merged
                    .get(at)
                    .is_some_and(|(s, h)| *s == r.seg && h.start < r.span.end)
                {
                    r.raised = true;
                }
            }
        }
        raws
    }

    fn matcher_applies(&self, matcher: usize) -> bool {
        match &self.engine.set.matchers[matcher].output {
            Output::Finding(rule) => self.applies(*rule),
            Output::Concepts(cs) => cs.iter().any(|&c| self.concept_needed(c)),
        }
    }

    /// Concepts worth matching patterns for: those of a combination that the term hits and the
    /// pattern anchors seen so far could still complete.
    fn wanted_concepts(&self, concept_hits: &[Hit], anchor_hits: &[Hit]) -> Vec<bool> {
        let set = &self.engine.set;
        let mut maybe = vec![false; set.concepts.len()];
        for h in concept_hits {
            maybe[h.id] = true;
        }
        for h in anchor_hits {
            if let Output::Concepts(cs) = &set.matchers[h.id].output {
                for &c in cs {
                    maybe[c] = true;
                }
            }
        }
        let mut wanted = vec![false; set.concepts.len()];
        for combo in &set.combos {
            if !self.applies(combo.rule)
                || combo.concepts.iter().filter(|&&c| maybe[c]).count() < combo.min
            {
                continue;
            }
            for &c in &combo.concepts {
                wanted[c] = true;
            }
        }
        wanted
    }

    /// Whether some rule that applies to this scan's surface uses the concept.
    fn concept_needed(&self, concept: usize) -> bool {
        self.engine.set.concept_surfaces[concept].contains(self.surface)
    }

    /// Whether the match of `rule` at `span` (in the normalised text) is quoted as an example;
    /// only rules marked `quotable` ask.
    fn quoted(&self, rule: usize, doc: &Doc<'_>, span: Range<usize>) -> bool {
        self.engine.set.rules[rule].quotable
            && quoted_example(doc.norm.as_bytes(), span.start, span.end)
    }

    pub(crate) fn raw(&self, rule: usize, seg: usize, span: Range<usize>) -> Raw {
        Raw {
            rule,
            seg,
            span,
            value: None,
            confidence: self.engine.set.rules[rule].confidence,
            via: None,
            excerpt: None,
            raised: false,
            random: false,
            quoted: false,
        }
    }

    /// Runs a pattern over `region` (anchored at its start when `anchored`); returns the end of
    /// the last match.
    #[allow(clippy::too_many_arguments)]
    fn run_matcher(
        &self,
        doc: &Doc<'_>,
        matcher: usize,
        seg: usize,
        region: Range<usize>,
        anchored: bool,
        raws: &mut Vec<Raw>,
        concept_hits: &mut Vec<Hit>,
    ) -> Option<usize> {
        let set = &self.engine.set;
        let m = &set.matchers[matcher];
        let hay = doc.norm.as_bytes();
        let mut input = Input::new(hay).range(region);
        if anchored {
            input = input.anchored(Anchored::Yes);
        } else if let Some(filter) = m.filter()
            && !filter.is_match(input.clone())
        {
            return None;
        }
        let mut last_end = None;
        let regex = m.regex()?;
        match &m.output {
            Output::Concepts(concepts) => {
                for mat in regex.find_iter(input) {
                    last_end = Some(mat.end());
                    for &c in concepts {
                        concept_hits.push(Hit {
                            seg,
                            start: mat.start(),
                            end: mat.end(),
                            id: c,
                        });
                    }
                    if anchored {
                        break;
                    }
                }
            }
            &Output::Finding(rule) => {
                let r = &set.rules[rule];
                let sensitive = r.category.is_sensitive_data();
                if let Some(group) = r.group {
                    // Most tries fail: find that out before allocating the capture slots.
                    if !regex.is_match(input.clone()) {
                        return None;
                    }
                    let mut caps = regex.create_captures();
                    let mut at = input.clone();
                    while at.start() < at.end() {
                        regex.search_captures(&at, &mut caps);
                        let Some(whole) = caps.get_match() else { break };
                        last_end = Some(whole.end());
                        let value = caps.get_group(group).map(|s| s.range());
                        if let Some(v) = value {
                            self.emit(doc, rule, seg, whole.range(), Some(v), sensitive, raws);
                        }
                        if anchored {
                            break;
                        }
                        let next = if whole.end() > whole.start() {
                            whole.end()
                        } else {
                            whole.end() + 1
                        };
                        at.set_start(next);
                    }
                } else {
                    let negatable = r.negatable;
                    let mut at = input.clone();
                    while at.start() < at.end() {
                        let Some(mat) = regex.search(&at) else { break };
                        // A match dropped as a statement ("don't overlook this: ignore all
                        // previous instructions") must not hide an order inside it: search on
                        // from just after its start, and let later anchors be tried.
                        if negatable && negated_around(hay, mat.start(), mat.end()) {
                            if anchored {
                                break;
                            }
                            at.set_start(mat.start() + 1);
                            continue;
                        }
                        last_end = Some(mat.end());
                        let v = sensitive.then(|| mat.range());
                        self.emit(doc, rule, seg, mat.range(), v, sensitive, raws);
                        if anchored {
                            break;
                        }
                        at.set_start(mat.end().max(mat.start() + 1));
                    }
                }
            }
        }
        last_end
    }

    /// Checks a sensitive value and records the finding.
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &self,
        doc: &Doc<'_>,
        rule: usize,
        seg: usize,
        whole: Range<usize>,
        value: Option<Range<usize>>,
        sensitive: bool,
        raws: &mut Vec<Raw>,
    ) {
        let r = &self.engine.set.rules[rule];
        let mut confidence = r.confidence;
        let quoted = self.quoted(rule, doc, whole.clone());
        if quoted {
            confidence *= QUOTED_SHARE;
        }
        let mut random = false;
        if let Some(v) = &value
            && sensitive
        {
            let Ok(text) = std::str::from_utf8(&doc.norm.as_bytes()[v.clone()]) else {
                return;
            };
            if !r.allow_placeholder && is_placeholder(text) {
                return;
            }
            if let Some(min) = r.min_entropy
                && entropy(text) < min
            {
                return;
            }
            if let Some(check) = r.validator {
                let whole_text = || doc.norm.get(whole.clone()).unwrap_or("");
                match check.check_in(text, whole_text) {
                    Check::Pass => {}
                    Check::Fail => return,
                    Check::Doubtful => confidence *= 0.5,
                }
            }
            random = r.random_severity.is_some() && looks_random(text);
            if r.random_severity.is_some() && !random {
                // A generic keyword = value whose value could be a word or a name: reported and
                // redacted, but two such (`ApiKey: "4820..."`, `Secret: "7a..."` in a schema
                // table) must not add up to a flag.
                confidence *= 0.85;
            }
        }
        let span = doc.to_original(seg, whole);
        let value = value.map(|v| doc.to_original(seg, v));
        raws.push(Raw {
            rule,
            seg,
            span,
            value,
            confidence,
            via: None,
            excerpt: None,
            raised: false,
            random,
            quoted,
        });
    }

    fn combine(&self, doc: &Doc<'_>, hits: &mut [Hit], raws: &mut Vec<Raw>) {
        let set = &self.engine.set;
        let hay = doc.norm.as_bytes();
        if hits.is_empty() {
            return;
        }
        // Hits arrive as a few runs already in this order (the word-start trie's, in order of
        // their start, then the automaton's and the patterns'): a stable sort merges the runs in
        // linear time, where an unstable one would sort them from scratch.
        hits.sort_by_key(|h| (h.seg, h.start, h.end));
        let mut present = vec![false; set.concepts.len()];
        for h in hits.iter() {
            present[h.id] = true;
        }
        let mut last: Vec<Option<(usize, usize)>> = Vec::new();
        for combo in &set.combos {
            if !self.applies(combo.rule)
                || combo.concepts.iter().filter(|&&c| present[c]).count() < combo.min
            {
                continue;
            }
            last.clear();
            last.resize(combo.concepts.len(), None);
            let mut cur_seg = usize::MAX;
            let mut done_seg = usize::MAX;
            for h in hits.iter() {
                if h.seg != cur_seg {
                    cur_seg = h.seg;
                    last.iter_mut().for_each(|l| *l = None);
                }
                if done_seg == h.seg {
                    continue;
                }
                // A negatable concept's hit right after a prohibition ("must not disable") is
                // no hit. Checked here, for the few combinations whose concepts all occur, not
                // at each of the many hits.
                if set.concept_negatable[h.id] && negated_around(hay, h.start, h.end) {
                    continue;
                }
                let mut touched = false;
                for (k, &c) in combo.concepts.iter().enumerate() {
                    if c == h.id {
                        last[k] = Some((h.start, h.end));
                        touched = true;
                    }
                }
                if !touched {
                    continue;
                }
                if combo.ordered
                    && (last.iter().any(Option::is_none)
                        || last
                            .windows(2)
                            .any(|w| matches!((w[0], w[1]), (Some(a), Some(b)) if a.0 >= b.0)))
                {
                    continue;
                }
                // Concepts seen recently enough to share a window with this hit.
                let horizon = h.end.saturating_sub(combo.within);
                let recent = || last.iter().flatten().filter(|p| p.0 >= horizon);
                if recent().count() < combo.min {
                    continue;
                }
                let lo = recent().map(|p| p.0).min().unwrap_or(h.start);
                let hi = recent().map(|p| p.1).max().unwrap_or(h.end);
                if hi - lo <= combo.within {
                    let span = doc.to_original(h.seg, lo..hi);
                    let mut raw = self.raw(combo.rule, h.seg, span);
                    if self.quoted(combo.rule, doc, lo..hi) {
                        raw.confidence *= QUOTED_SHARE;
                        raw.quoted = true;
                    }
                    raws.push(raw);
                    done_seg = h.seg;
                }
            }
        }
    }

    fn detect_signals(&self, doc: &Doc<'_>, raws: &mut Vec<Raw>) {
        for (seg_i, seg) in doc.segs.iter().enumerate() {
            for sig in &seg.info.signals {
                let rules = &self.engine.signal_rules[SignalKind::ALL
                    .iter()
                    .position(|k| *k == sig.kind)
                    .unwrap_or(0)];
                for &rule in rules {
                    if self.applies(rule) {
                        raws.push(self.raw(rule, seg_i, sig.span.clone()));
                    }
                }
            }
        }
    }

    fn decode_and_scan(&mut self, doc: &Doc<'_>, runs: &Runs, depth: usize, raws: &mut Vec<Raw>) {
        let t = &*doc.norm;
        // Bytes smuggled in variation selectors (already in original coordinates) come first
        // out of the decoding budget: they are hidden on purpose, and decoys (short base64
        // tokens) must not use the budget up before them. What the budget leaves unscanned
        // marks the report truncated.
        let mut smuggled: Vec<(usize, Range<usize>, Via, String)> = Vec::new();
        for (i, seg) in doc.segs.iter().enumerate() {
            for s in &seg.info.smuggled {
                if !self.budget.take(s.bytes.len()) {
                    self.truncated = true;
                    break;
                }
                if let Ok(text) = String::from_utf8(s.bytes.clone()) {
                    smuggled.push((i, s.span.clone(), Via::VariationSelectors, text));
                }
            }
        }
        let mut decoded: Vec<(usize, Decoded)> = Vec::new();
        for run in &runs.tokens {
            let d = decode::base64_or_hex(t, run, &mut self.budget)
                .or_else(|| decode::base32(t, run.range.clone(), &mut self.budget));
            if let Some(d) = d {
                decoded.push((doc.seg_at(run.range.start), d));
            }
        }
        for r in &runs.digits {
            if let Some(d) = decode::binary(t, r.clone(), &mut self.budget) {
                decoded.push((doc.seg_at(r.start), d));
            }
        }
        // Which decoders can have anything to do at all: one look at the whole document.
        let all = t.as_bytes();
        let (percent, entities, escapes, ascii85) = (
            memchr::memchr(b'%', all).is_some(),
            has(Needle::Entity, all),
            has(Needle::UnicodeEscape, all) || has(Needle::HexEscape, all),
            has(Needle::Ascii85, all),
        );
        let morse = has(Needle::DotDash, all) || has(Needle::DashDot, all);
        let count_in = |v: &[usize], r: &Range<usize>| {
            v.partition_point(|&p| p < r.end) - v.partition_point(|&p| p < r.start)
        };
        for (i, seg) in doc.segs.iter().enumerate() {
            let bytes = &all[seg.norm.clone()];
            let mut out = Vec::new();
            if percent && memchr::memchr(b'%', bytes).is_some() {
                decode::percent(t, seg.norm.clone(), &mut self.budget, &mut out);
            }
            if entities
                && has(Needle::Entity, bytes)
                && let Some(d) = decode::html_entities(t, seg.norm.clone(), &mut self.budget)
            {
                out.push(d);
            }
            if count_in(&runs.spaced_pairs, &seg.norm) >= 3 {
                decode::spaced_letters(t, seg.norm.clone(), &mut self.budget, &mut out);
            }
            if count_in(&runs.mixed_words, &seg.norm) >= 2 {
                let v = &runs.mixed_words;
                let mixed = &v[v.partition_point(|&p| p < seg.norm.start)..];
                decode::leetspeak(t, seg.norm.clone(), mixed, &mut self.budget, &mut out);
            }
            if memchr::memchr(b'-', bytes).is_some() {
                decode::split_words(t, seg.norm.clone(), &mut self.budget, &mut out);
            }
            if let Some(d) = decode::rot13_or_reversed(t, seg.norm.clone(), &mut self.budget) {
                out.push(d);
            }
            if morse && (has(Needle::DotDash, bytes) || has(Needle::DashDot, bytes)) {
                decode::morse(t, seg.norm.clone(), &mut self.budget, &mut out);
            }
            if escapes
                && (has(Needle::UnicodeEscape, bytes) || has(Needle::HexEscape, bytes))
                && let Some(d) = decode::escapes(t, seg.norm.clone(), &mut self.budget)
            {
                out.push(d);
            }
            if ascii85 && has(Needle::Ascii85, bytes) {
                decode::ascii85(t, seg.norm.clone(), &mut self.budget, &mut out);
            }
            decode::base85(t, seg.norm.clone(), &mut self.budget, &mut out);
            decoded.extend(out.into_iter().map(|d| (i, d)));
        }
        let mut children: Vec<(usize, Range<usize>, Via, String)> = decoded
            .into_iter()
            .map(|(seg, d)| (seg, doc.to_original(seg, d.range), d.via, d.text))
            .collect();
        children.extend(smuggled);
        if children.is_empty() {
            return;
        }
        let engine = self.engine;
        // What the text says without decoding. A decoder that leaves part of its input as it
        // was (a line read for leetspeak or cut words is mostly unchanged) finds those findings
        // again: they are neither hidden nor raised.
        // By rule, segment and words, the starts of those findings: a decoded finding is looked
        // up, not compared with every direct one of its rule.
        let mut direct: HashMap<(usize, usize, &[u8]), Vec<usize>> = HashMap::new();
        for r in raws.iter().filter(|r| r.via.is_none()) {
            if let Some(words) = doc.segs[r.seg].orig.as_bytes().get(r.span.clone()) {
                direct
                    .entry((r.rule, r.seg, words))
                    .or_default()
                    .push(r.span.start);
            }
        }
        for starts in direct.values_mut() {
            starts.sort_unstable();
        }
        for (seg, span, via, text) in children {
            let child = Doc::single(&text);
            let found = self.scan_doc(&child, depth + 1, &[]);
            let mut strongest: Option<(crate::finding::Severity, f32)> = None;
            for c in found {
                let rule = &engine.set.rules[c.rule];
                if rule.category == Category::HiddenContent && c.via.is_none() {
                    // The child's own hiding signals add nothing at the parent's level.
                    continue;
                }
                // The same rule, inside the decoded range, on the same words.
                let words = text.as_bytes().get(c.span.clone()).unwrap_or_default();
                let seen = direct.get(&(c.rule, seg, words)).is_some_and(|starts| {
                    let first = starts.partition_point(|&st| st < span.start);
                    starts
                        .get(first)
                        .is_some_and(|&st| st + words.len() <= span.end)
                });
                if seen {
                    continue;
                }
                let sev = rule.severity_for(self.surface);
                if !rule.category.is_sensitive_data() && strongest.is_none_or(|(s, _)| sev > s) {
                    strongest = Some((sev, c.confidence));
                }
                let shown = self
                    .opts
                    .excerpts
                    .then(|| excerpt(&text, c.span.clone(), c.value.as_slice()));
                raws.push(Raw {
                    rule: c.rule,
                    seg,
                    span: span.clone(),
                    value: c.value.map(|_| span.clone()),
                    confidence: c.confidence,
                    via: Some(c.via.unwrap_or(via)),
                    excerpt: Some(
                        shown.map_or_else(String::new, |e| format!("[{}] {e}", via.as_str())),
                    ),
                    raised: true,
                    random: c.random,
                    quoted: c.quoted,
                });
            }
            if let Some((sev, conf)) = strongest
                && sev >= crate::finding::Severity::Medium
            {
                for &rule in &engine.encoded_rules {
                    if self.applies(rule) {
                        let mut r = self.raw(rule, seg, span.clone());
                        r.via = Some(via);
                        r.confidence = r.confidence.max(conf);
                        raws.push(r);
                    }
                }
            }
        }
    }

    /// Turns raw findings into a report: dedup, overlap resolution for sensitive data, spans,
    /// excerpts, paths, score.
    /// The report of a scan's raw findings; `orig(seg)` is the original text of segment `seg`
    /// (the findings' segments, which need not be the scanned document's: see
    /// [`crate::Engine::scan_json_with`]).
    pub(crate) fn finish<'t>(
        &mut self,
        orig: &dyn Fn(usize) -> &'t str,
        mut raws: Vec<Raw>,
        paths: &dyn Fn(&[usize]) -> HashMap<usize, String>,
    ) -> Report {
        let engine = self.engine;
        let set = &engine.set;
        raws.sort_by(|a, b| {
            (a.seg, a.rule, a.span.start)
                .cmp(&(b.seg, b.rule, b.span.start))
                .then(b.confidence.total_cmp(&a.confidence))
        });
        // Same rule, overlapping (or, for attacks, nearby) spans: one finding.
        let mut merged: Vec<Raw> = Vec::with_capacity(raws.len());
        for r in raws {
            let gap = if set.rules[r.rule].category.is_sensitive_data() {
                0
            } else {
                MERGE_GAP
            };
            if let Some(last) = merged.last_mut()
                && last.seg == r.seg
                && last.rule == r.rule
                && r.span.start < last.span.end.max(last.span.start + 1) + gap
                && last.value.is_none() == r.value.is_none()
                && last.via == r.via
            {
                last.span.end = last.span.end.max(r.span.end);
                last.confidence = last.confidence.max(r.confidence);
                last.raised |= r.raised;
                last.random |= r.random;
                if let (Some(a), Some(b)) = (&mut last.value, &r.value) {
                    a.end = a.end.max(b.end);
                }
                continue;
            }
            merged.push(r);
        }
        // Sensitive values claimed by several rules: the most specific (highest weight) wins.
        let weight = |r: &Raw| {
            let rule = &set.rules[r.rule];
            (rule.severity_for(self.surface), r.confidence)
        };
        let mut keep = vec![true; merged.len()];
        let mut sens: Vec<usize> = (0..merged.len())
            .filter(|&i| {
                merged[i].value.is_some() && set.rules[merged[i].rule].category.is_sensitive_data()
            })
            .collect();
        sens.sort_by_key(|&i| {
            (
                merged[i].seg,
                merged[i].value.as_ref().map_or(0, |v| v.start),
            )
        });
        if !self.opts.resolve_overlaps {
            sens.clear();
        }
        for w in 0..sens.len() {
            let a = sens[w];
            for &b in &sens[w + 1..] {
                let (ra, rb) = (&merged[a], &merged[b]);
                if ra.seg != rb.seg {
                    break;
                }
                let (va, vb) = (
                    ra.value.clone().unwrap_or_default(),
                    rb.value.clone().unwrap_or_default(),
                );
                if vb.start >= va.end {
                    break;
                }
                let (wa, wb) = (weight(ra), weight(rb));
                let a_wins = wa.0 > wb.0
                    || (wa.0 == wb.0 && (wa.1 > wb.1 || (wa.1 == wb.1 && va.len() >= vb.len())));
                if a_wins {
                    keep[b] = false;
                } else {
                    keep[a] = false;
                }
            }
        }
        // Every sensitive value, by string: an excerpt masks all those in its window.
        let mut masks: Vec<(usize, Range<usize>)> = merged
            .iter()
            .filter_map(|r| r.value.clone().map(|v| (r.seg, v)))
            .collect();
        masks.sort_unstable_by_key(|(seg, v)| (*seg, v.start, v.end));
        // Overlapping claims on one value (rules that lost the overlap above) are one mask.
        masks.dedup_by(|b, a| {
            let same = a.0 == b.0 && b.1.start < a.1.end;
            if same {
                a.1.end = a.1.end.max(b.1.end);
            }
            same
        });
        let mask_ranges: Vec<Range<usize>> = masks.iter().map(|(_, v)| v.clone()).collect();
        // The JSON paths of the findings reported, in one walk of the document (a walk per
        // finding would be findings × strings).
        let mut segs: Vec<usize> = merged
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .take(self.opts.max_findings)
            .map(|(r, _)| r.seg)
            .collect();
        segs.sort_unstable();
        segs.dedup();
        let paths = paths(&segs);
        let mut findings = Vec::with_capacity(merged.len());
        for (r, k) in merged.into_iter().zip(keep) {
            if !k {
                continue;
            }
            if findings.len() >= self.opts.max_findings {
                self.truncated = true;
                break;
            }
            let rule = &set.rules[r.rule];
            let mut severity = rule.severity_for(self.surface);
            let mut confidence = r.confidence;
            if r.raised && raisable(rule.category) {
                severity = severity.raised();
                confidence = (confidence + 0.1).min(1.0);
            }
            if r.random
                && let Some(s) = rule.random_severity
            {
                severity = severity.max(s);
            }
            let excerpt = match r.excerpt {
                Some(e) => e,
                None if self.opts.excerpts => {
                    let lo = masks.partition_point(|(seg, _)| *seg < r.seg);
                    let hi = masks.partition_point(|(seg, _)| *seg <= r.seg);
                    excerpt(orig(r.seg), r.span.clone(), &mask_ranges[lo..hi])
                }
                None => String::new(),
            };
            findings.push(Finding {
                rule_id: rule.id.clone(),
                category: rule.category,
                severity,
                confidence: (confidence * 1000.0).round() / 1000.0,
                span: r.span,
                path: paths.get(&r.seg).cloned(),
                excerpt,
                message: rule.message.clone(),
                via: r.via,
                redact_as: rule.redact_as.clone(),
                segment: r.seg,
                value: r.value,
                quoted: r.quoted,
            });
        }
        findings.sort_by(|a, b| {
            (a.segment, a.span.start)
                .cmp(&(b.segment, b.span.start))
                .then(b.severity.cmp(&a.severity))
        });
        let mut report = Report {
            findings,
            score: 0.0,
            truncated: self.truncated,
        };
        report.compute_score();
        report
    }
}

/// How much work one literal of the automaton causes on a text (`mcpwall rules profile`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LiteralCost {
    /// The rule or concept the literal belongs to.
    pub owner: String,
    /// `term` (a concept's word), `prefix` (where a pattern is tried anchored) or `anchor`
    /// (around which a pattern is searched in a window).
    pub kind: &'static str,
    pub literal: String,
    /// Automaton matches (before word-boundary checks).
    pub hits: usize,
    /// Bytes of text the owning pattern had to search because of this literal (anchors only).
    pub window_bytes: usize,
}

impl Scanner<'_> {
    /// Counts what each literal costs on a document.
    pub(crate) fn profile(&self, doc: &Doc<'_>) -> Vec<LiteralCost> {
        let set = &self.engine.set;
        let hay = doc.norm.as_bytes();
        let mut hits = vec![0usize; set.literals.len()];
        // Bytes searched per (literal, windowed pattern).
        let mut windows: std::collections::HashMap<(usize, usize), usize> =
            std::collections::HashMap::new();
        let finder = set.finder(self.surface);
        // (literal, window) per anchor hit of a windowed pattern; the window's matcher in `id`.
        let mut window_hits: Vec<(usize, Hit)> = Vec::new();
        let mut confirm_hits: Vec<Hit> = Vec::new();
        finder.find(hay, |start, end, slot| {
            let p = slot.literal;
            // A literal with uses in both halves of the first stage: count the automaton's hits,
            // which are all of them.
            if !slot.serves.contains(self.surface) {
                return;
            }
            if slot.anywhere || !finder.searched_anywhere(p, self.surface) {
                hits[p] += 1;
            }
            let here = slot.uses.iter().zip(&slot.surfaces);
            for (u, _) in here.filter(|(_, on)| on.contains(self.surface)) {
                match *u {
                    AtomUse::Anchor { matcher, word }
                        if self.matcher_applies(matcher)
                            && (!word || crate::rules::terms::boundary_before(hay, start))
                            && !set.matchers[matcher].anchored =>
                    {
                        let mm = &set.matchers[matcher];
                        let window = Hit {
                            seg: 0,
                            start: start.saturating_sub(mm.back),
                            end: (end + mm.forward).min(hay.len()),
                            id: matcher,
                        };
                        if mm.may_match_near(hay, start..end, window.start..window.end) {
                            window_hits.push((p, window));
                        }
                    }
                    AtomUse::Confirm { matcher } => confirm_hits.push(Hit {
                        seg: 0,
                        start,
                        end,
                        id: matcher,
                    }),
                    _ => {}
                }
            }
        });
        // Windows that the scan would search: those of confirmed patterns only where a
        // confirming literal was found.
        confirm_hits.sort_unstable_by_key(|h| (h.id, h.start));
        for (p, w) in window_hits {
            if !set.matchers[w.id].confirmed || has_hit(&confirm_hits, w.id, 0, w.start..w.end) {
                *windows.entry((p, w.id)).or_default() += w.end - w.start;
            }
        }
        let mut out = Vec::new();
        for (p, uses) in set.atoms.iter().enumerate() {
            if hits[p] == 0 {
                continue;
            }
            for u in uses {
                let (owner, kind) = match u {
                    AtomUse::Term { concepts, .. } => {
                        if !concepts.iter().any(|&c| self.concept_needed(c)) {
                            continue;
                        }
                        let names: Vec<&str> =
                            concepts.iter().map(|&c| set.concepts[c].as_str()).collect();
                        (names.join(","), "term")
                    }
                    AtomUse::Anchor { matcher, .. } | AtomUse::Confirm { matcher } => {
                        if !self.matcher_applies(*matcher) {
                            continue;
                        }
                        let kind = if matches!(u, AtomUse::Confirm { .. }) {
                            "confirm"
                        } else if set.matchers[*matcher].anchored {
                            "prefix"
                        } else {
                            "anchor"
                        };
                        (set.matchers[*matcher].owner.clone(), kind)
                    }
                };
                out.push(LiteralCost {
                    owner,
                    kind,
                    literal: String::from_utf8_lossy(&set.literals[p]).into_owned(),
                    hits: hits[p],
                    window_bytes: match u {
                        AtomUse::Anchor { matcher, .. } => {
                            windows.get(&(p, *matcher)).copied().unwrap_or(0)
                        }
                        _ => 0,
                    },
                });
            }
        }
        out.sort_by_key(|c| std::cmp::Reverse((c.window_bytes, c.hits)));
        out
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::cut_into_short_lines;

    /// The definition, plainly.
    fn plain(hay: &[u8]) -> bool {
        let lines = hay.iter().filter(|&&b| b == b'\n').count();
        let words = hay
            .windows(2)
            .filter(|w| !w[0].is_ascii_alphanumeric() && w[1].is_ascii_alphanumeric())
            .count()
            + usize::from(hay.first().is_some_and(u8::is_ascii_alphanumeric));
        hay.len() <= super::MAX_FLATTEN && lines >= 4 && words >= 4 && words <= 3 * (lines + 1)
    }

    proptest! {
        #[test]
        fn short_lines_as_defined(hay in proptest::collection::vec(
            prop_oneof![Just(b'\n'), Just(b' '), Just(b'a'), Just(b'Z'), Just(b'7'), Just(b'_'), Just(0xc3u8), any::<u8>()],
            0..3000,
        )) {
            prop_assert_eq!(cut_into_short_lines(&hay), plain(&hay));
        }
    }

    #[test]
    fn short_lines() {
        assert!(cut_into_short_lines(b"Do\nnot\ntell\nthe\nuser"));
        assert!(!cut_into_short_lines(
            b"a b c d e f g h i j k l m n o p\n\n\n\n"
        ));
    }
}
