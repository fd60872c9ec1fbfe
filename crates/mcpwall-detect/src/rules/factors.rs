//! Required literals of a pattern: a set of literals one of which occurs in every match, with
//! how far a match can reach on either side of it.
//!
//! A pattern such as `\b(?:include|add|put)\b.{0,80}\b(?:in|to)\s+every\s+(?:answer|reply)` has
//! no rare prefix: anchoring it on its verbs would search a window around every "add" of a
//! text. Every match also contains "every", "answer" or "reply"; the analysis finds such
//! factors anywhere in the pattern and keeps the set that is cheapest to watch for, judged by
//! [`literal_cost`] and by the width of the window that each hit costs.

use regex_syntax::hir::{Hir, HirKind, Look};

use super::cost::literal_cost;
use super::prefix;

/// Width charged, when choosing factors, for a side of a match with no length bound.
const UNBOUNDED: usize = 512;

/// A set of literals, one of which occurs in every match.
#[derive(Clone, Debug)]
pub(crate) struct Factor {
    /// Lower-cased literals.
    pub(crate) lits: Vec<Vec<u8>>,
    /// Most bytes of a match before a literal's start; `None` when unbounded.
    pub(crate) before: Option<usize>,
    /// Most bytes of a match after a literal's end; `None` when unbounded.
    pub(crate) after: Option<usize>,
    /// Every literal starts where a word starts (`\b` precedes it in the pattern): the
    /// planner counts fewer hits for it.
    pub(crate) word: bool,
    /// The literals that may start inside a word in some match. Every other literal that begins
    /// with a letter or digit has `\b`, or a byte that is not a letter or digit, before it in
    /// every match (`\s+rules`): it is looked for at word starts only, whether or not the
    /// planner counted it cheaper.
    pub(crate) inside: Vec<Vec<u8>>,
    /// Summed [`literal_cost`] of the literals.
    pub(crate) cost: f64,
}

impl Factor {
    pub(crate) fn new(
        lits: Vec<Vec<u8>>,
        before: Option<usize>,
        after: Option<usize>,
        word: bool,
    ) -> Self {
        Factor::placed(lits, before, after, word, word)
    }

    /// A factor whose literals may be known to start words (`starts_word`) without a `\b`
    /// before them (`word`).
    fn placed(
        lits: Vec<Vec<u8>>,
        before: Option<usize>,
        after: Option<usize>,
        word: bool,
        starts_word: bool,
    ) -> Self {
        let word_first = lits.iter().all(|l| l.first().is_some_and(is_word_byte));
        let cost = lits.iter().map(|l| literal_cost(l)).sum();
        let inside = if word || starts_word {
            Vec::new()
        } else {
            lits.clone()
        };
        Factor {
            lits,
            before,
            after,
            word: word && word_first,
            inside,
            cost,
        }
    }

    /// Whether `lit`, one of the literals, starts a word in every match (see [`Factor::inside`]).
    pub(crate) fn starts_word(&self, lit: &[u8]) -> bool {
        !self.inside.iter().any(|l| l == lit)
    }

    /// Expected hits (word-start literals skip the hits inside longer words).
    pub(crate) fn hits(&self) -> f64 {
        if self.word {
            self.cost * 0.7
        } else {
            self.cost
        }
    }

    /// Expected work: hits times the window searched around each.
    pub(crate) fn score(&self) -> f64 {
        let side = |s: Option<usize>| s.unwrap_or(UNBOUNDED).min(UNBOUNDED);
        self.hits() * (1.0 + (side(self.before) + side(self.after)) as f64 / 32.0)
    }

    fn widen(mut self, before: Option<usize>, after: Option<usize>) -> Self {
        self.before = add(self.before, before);
        self.after = add(self.after, after);
        self
    }
}

fn add(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    a?.checked_add(b?)
}

fn is_word_byte(b: &u8) -> bool {
    b.is_ascii_alphanumeric() || *b == b'_'
}

fn better(a: Option<Factor>, b: Factor) -> Option<Factor> {
    match a {
        Some(a) if a.score() <= b.score() => Some(a),
        _ => Some(b),
    }
}

/// The cheapest factor of `hir`, if every match must contain a literal of at least
/// [`prefix::MIN_PREFIX_LEN`] bytes.
pub(crate) fn best_factor(hir: &Hir) -> Option<Factor> {
    best(hir, false, false)
}

/// The rarest literal set, other than `anchors`, that every match must contain (where a word
/// starts, unless the literals start with punctuation): found in the first pass, it confirms a window before the window is searched. `None`
/// when there is none, or when it is so much more frequent than the anchors that its hits
/// would cost more than the windows it saves.
///
/// `anchored`: the pattern is tried anchored at its hits. Such a try is mostly ruled out by the
/// byte after the anchor (see `follow`), and a confirming set pays only when it is much rarer
/// than the anchors.
pub(crate) fn confirming_factor(hir: &Hir, anchors: &[Vec<u8>], anchored: bool) -> Option<Factor> {
    // A hit costs a few nanoseconds, a window search hundreds; and a set as frequent as the
    // anchors is still absent from most windows.
    let worth = if anchored { 0.25 } else { 8.0 };
    let anchor_cost: f64 = worth * anchors.iter().map(|l| literal_cost(l)).sum::<f64>();
    // Anchors this rare are tried seldom: not worth the analysis (a fifth of start-up).
    if anchored && anchor_cost < RARE_ENOUGH {
        return None;
    }
    let mut anchors = anchors.to_vec();
    anchors.sort_unstable();
    required(hir, false)
        .into_iter()
        // Literals found where a word starts (the trie), or starting with punctuation, which the
        // automaton finds without slowing down much.
        .filter(|f| {
            (f.word
                || f.lits
                    .iter()
                    .all(|l| l.first().is_some_and(|b| !b.is_ascii_alphanumeric())))
                && f.lits != anchors
                && f.cost < anchor_cost
        })
        .min_by(|a, b| a.cost.total_cmp(&b.cost))
}

/// Anchors of an anchored pattern expected fewer times than this per 100 KB (a quarter of it,
/// see [`confirming_factor`]) are left unconfirmed.
const RARE_ENOUGH: f64 = 2.0;

/// Literal sets of which every match contains one (at least one literal of each set).
fn required(hir: &Hir, word_before: bool) -> Vec<Factor> {
    match hir.kind() {
        HirKind::Literal(lit) if lit.0.len() >= prefix::MIN_PREFIX_LEN => vec![Factor::new(
            vec![lit.0.to_ascii_lowercase()],
            None,
            None,
            word_before,
        )],
        HirKind::Capture(c) => required(&c.sub, word_before),
        HirKind::Repetition(rep) if rep.min > 0 => {
            required(&rep.sub, word_before && rep.max == Some(1))
        }
        HirKind::Concat(subs) => {
            let mut out = Vec::new();
            for (i, sub) in subs.iter().enumerate() {
                let wb = after_non_word(subs, i, word_before);
                out.extend(required(sub, wb));
                // Case-insensitive text is a run of classes ("[Ss][Ee][Nn][Dd]").
                let starts_run = is_text(sub) && (i == 0 || !is_text(&subs[i - 1]));
                if starts_run && let Some(lits) = prefix::sequence_prefixes(&subs[i..]) {
                    let mut lits = prefix::minimal(lits);
                    lits.sort_unstable();
                    out.push(Factor::new(lits, None, None, wb));
                }
            }
            out
        }
        HirKind::Alternation(subs) => {
            // One set per branch, the rarest; their union is required of the alternation.
            let mut lits = Vec::new();
            let mut word = true;
            for sub in subs {
                let Some(f) = required(sub, word_before)
                    .into_iter()
                    .min_by(|a, b| a.cost.total_cmp(&b.cost))
                else {
                    return Vec::new();
                };
                word &= f.word;
                lits.extend(f.lits);
            }
            let mut lits = prefix::minimal(lits);
            lits.sort_unstable();
            vec![Factor::new(lits, None, None, word)]
        }
        _ => Vec::new(),
    }
}

/// Whether the part at `subs[i]` always starts where a word may start: in every match, the byte
/// before it is not an ASCII letter or digit (`\s+`, `[:=]`, `", "`, or `\b`), looking through
/// parts that may match nothing. `word_before`: the same holds where `subs` starts.
fn after_non_word(subs: &[Hir], i: usize, word_before: bool) -> bool {
    last_byte_non_word(&subs[..i], true).unwrap_or(word_before)
}

/// Whether every non-empty match of `h` ends with a byte that is not an ASCII letter or digit.
fn nonempty_ends_non_word(h: &Hir) -> bool {
    match h.kind() {
        HirKind::Literal(lit) => lit.0.last().is_some_and(|b| !b.is_ascii_alphanumeric()),
        HirKind::Class(c) => !class_has_alnum(c),
        HirKind::Capture(c) => nonempty_ends_non_word(&c.sub),
        HirKind::Repetition(rep) => rep.max == Some(0) || nonempty_ends_non_word(&rep.sub),
        HirKind::Alternation(subs) => subs.iter().all(nonempty_ends_non_word),
        HirKind::Concat(subs) => last_byte_non_word(subs, false).unwrap_or(true),
        HirKind::Empty | HirKind::Look(_) => true,
    }
}

/// For a sequence of parts, whether the last byte they match is never a letter or digit,
/// walking back over parts that may match nothing; `None` when they may all be empty. With
/// `word_look`, a `\b` counts as such a byte (it is one for a literal that follows it).
fn last_byte_non_word(parts: &[Hir], word_look: bool) -> Option<bool> {
    for s in parts.iter().rev() {
        if word_look && is_word_look(s) {
            return Some(true);
        }
        if matches!(s.kind(), HirKind::Look(_)) {
            continue;
        }
        if !nonempty_ends_non_word(s) {
            return Some(false);
        }
        if s.properties().minimum_len().is_some_and(|n| n > 0) {
            return Some(true);
        }
    }
    None
}

fn class_has_alnum(c: &regex_syntax::hir::Class) -> bool {
    use regex_syntax::hir::Class;
    let alnum = [(b'0', b'9'), (b'A', b'Z'), (b'a', b'z')];
    let overlaps = |lo: u32, hi: u32| {
        alnum
            .iter()
            .any(|&(a, b)| lo <= u32::from(b) && u32::from(a) <= hi)
    };
    match c {
        Class::Bytes(b) => b
            .ranges()
            .iter()
            .any(|r| overlaps(u32::from(r.start()), u32::from(r.end()))),
        Class::Unicode(u) => u
            .ranges()
            .iter()
            .any(|r| overlaps(u32::from(r.start()), u32::from(r.end()))),
    }
}

fn is_word_look(h: &Hir) -> bool {
    matches!(
        h.kind(),
        HirKind::Look(Look::WordAscii | Look::WordStartAscii | Look::WordStartHalfAscii)
    )
}

/// Whether `h` is literal text a run can start with.
fn is_text(h: &Hir) -> bool {
    matches!(h.kind(), HirKind::Literal(_) | HirKind::Class(_))
}

/// `word_before`: a `\b` precedes `hir` in every match; `starts_before`: a word starts where
/// `hir` does (see [`Factor::starts_word`]).
fn best(hir: &Hir, word_before: bool, starts_before: bool) -> Option<Factor> {
    // The planner's estimates count only `\b` as a word start: counting every literal after
    // `\s+` cheaper too made it trade rare phrases for frequent verbs (concealment's "do not"
    // for "tell", "report", ...), which searched three times as much of plain prose.
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) | HirKind::Class(_) => None,
        HirKind::Literal(lit) => (lit.0.len() >= prefix::MIN_PREFIX_LEN).then(|| {
            Factor::placed(
                vec![lit.0.to_ascii_lowercase()],
                Some(0),
                Some(0),
                word_before,
                starts_before,
            )
        }),
        HirKind::Capture(c) => best(&c.sub, word_before, starts_before),
        HirKind::Repetition(rep) => {
            if rep.min == 0 {
                return None;
            }
            let once = rep.max == Some(1);
            let f = best(&rep.sub, word_before && once, starts_before && once)?;
            // The literal may sit in any of the repetitions.
            let others = rep.max.and_then(|m| {
                let n = usize::try_from(m).ok()?.saturating_sub(1);
                n.checked_mul(rep.sub.properties().maximum_len()?)
            });
            Some(f.widen(others, others))
        }
        HirKind::Alternation(subs) => {
            let mut lits = Vec::new();
            let (mut before, mut after, mut word) = (Some(0), Some(0), true);
            let mut inside = Vec::new();
            for s in subs {
                let f = best(s, word_before, starts_before)?;
                lits.extend(f.lits);
                inside.extend(f.inside);
                before = f.before.and_then(|b| before.map(|x: usize| x.max(b)));
                after = f.after.and_then(|a| after.map(|x: usize| x.max(a)));
                word &= f.word;
            }
            // Dropping "configuration" because "config" is kept moves the end of a match up to
            // the difference in length past the end of the literal that was hit.
            let longest = lits.iter().map(Vec::len).max().unwrap_or(0);
            let lits = prefix::minimal(lits);
            let shortest = lits.iter().map(Vec::len).min().unwrap_or(0);
            let after = after.map(|a| a + longest.saturating_sub(shortest));
            // A kept literal ("config") stands for those it begins ("configuration"): it may
            // start inside a word if one of them may.
            let inside = lits
                .iter()
                .filter(|k| inside.iter().any(|l| l.starts_with(k)))
                .cloned()
                .collect();
            Some(Factor {
                inside,
                ..Factor::placed(lits, before, after, word, true)
            })
        }
        HirKind::Concat(subs) => {
            let lens: Vec<Option<usize>> =
                subs.iter().map(|s| s.properties().maximum_len()).collect();
            let span = |r: std::ops::Range<usize>| {
                lens[r]
                    .iter()
                    .try_fold(0usize, |acc, l| acc.checked_add((*l)?))
            };
            let mut found: Option<Factor> = None;
            for i in 0..subs.len() {
                let wb = if i == 0 {
                    word_before
                } else {
                    is_word_look(&subs[i - 1])
                };
                let sb = after_non_word(subs, i, starts_before);
                let (before, after) = (span(0..i), span(i + 1..subs.len()));
                if let Some(f) = best(&subs[i], wb, sb) {
                    found = better(found, f.widen(before, after));
                }
                // Literal text running on from here ("send " + (the|all) + " data").
                let starts_run = is_text(&subs[i]) && (i == 0 || !is_text(&subs[i - 1]));
                if starts_run && let Some(lits) = prefix::sequence_prefixes(&subs[i..]) {
                    let shortest = lits.iter().map(Vec::len).min().unwrap_or(0);
                    let after = span(i..subs.len()).map(|l| l.saturating_sub(shortest));
                    found = better(found, Factor::placed(lits, before, after, wb, sb));
                }
            }
            found
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factor(p: &str) -> Option<Factor> {
        let hir = crate::rules::prefix::parse_bytes(p).unwrap();
        best_factor(&hir)
    }

    fn texts(f: &Factor) -> Vec<&str> {
        f.lits
            .iter()
            .map(|l| std::str::from_utf8(l).unwrap())
            .collect()
    }

    #[test]
    fn prefers_rare_words_inside_the_pattern() {
        let f = factor(r"(?i)\b(?:add|put|end)\b[^.\n]{0,20}\bverbatim\b").unwrap();
        assert_eq!(texts(&f), ["verbatim"]);
        assert_eq!(f.before, Some(3 + 20));
        assert_eq!(f.after, Some(0));
    }

    #[test]
    fn alternations_need_a_factor_on_every_branch() {
        let f = factor(r"(?i)\bsystem\s+prompt\b|\bhidden\s+instructions\b").unwrap();
        // Phrases across whitespace runs (cut at sixteen bytes) are rarer than their words.
        assert_eq!(texts(&f), ["hidden instructi", "system prompt"]);
        assert!(factor(r"(?i)\bsystem\s+prompt\b|[a-z]+@\d").is_none());
    }

    #[test]
    fn unbounded_sides_are_reported() {
        let f = factor(r"(?i)\bapi[_-]?key\s*=\s*\S+").unwrap();
        assert_eq!(texts(&f), ["api"]);
        assert_eq!(f.before, Some(0));
        assert_eq!(f.after, None);
        assert!(f.word);
    }

    #[test]
    fn a_second_rarer_set_confirms_windows() {
        let hir = crate::rules::prefix::parse_bytes(
            r"(?i)\b(?:show|print)\b.{0,40}\b(?:system|hidden)\s+prompt\b",
        )
        .unwrap();
        // Anchored on the verbs, confirmed by the rarest other set.
        let anchors = vec![b"print".to_vec(), b"show".to_vec()];
        let f = confirming_factor(&hir, &anchors, false).unwrap();
        assert_eq!(texts(&f), ["prompt"]);
        assert!(f.word);
        // "hidden" and "system" are far more frequent than "prompt": not worth watching for.
        assert!(confirming_factor(&hir, &[b"prompt".to_vec()], false).is_none());
        // A literal that may sit inside a word cannot be confirmed at word starts.
        let hir = crate::rules::prefix::parse_bytes(r"(?i)\bprint\s+\w*verbatim").unwrap();
        assert!(confirming_factor(&hir, &[b"print".to_vec()], false).is_none());
        // Whatever optional words come between, a space or comma precedes the literal.
        let hir = crate::rules::prefix::parse_bytes(
            r"(?i)\byour\s+(?:\w+[\s,-]+){0,3}?(?:guidelines|restrictions)\b",
        )
        .unwrap();
        let f = confirming_factor(&hir, &[b"your".to_vec()], false).unwrap();
        assert_eq!(texts(&f), ["guidelines", "restrictions"]);
        // ... but not when a bare word may come first.
        let hir = crate::rules::prefix::parse_bytes(
            r"(?i)\byour\s+(?:\w+[\s,-]+|\w+){0,3}?(?:guidelines|restrictions)\b",
        )
        .unwrap();
        assert!(confirming_factor(&hir, &[b"your".to_vec()], false).is_none());
        // Punctuation-first literals may sit anywhere.
        let hir =
            crate::rules::prefix::parse_bytes(r"(?i)<(?:span|div)\b[^>]{0,30}?hidden").unwrap();
        let f = confirming_factor(&hir, &[b"hidden".to_vec()], false).unwrap();
        assert_eq!(texts(&f), ["<div", "<span"]);
        // `: ?` ends with a space or a colon.
        let hir = crate::rules::prefix::parse_bytes(r"(?i)\bnote[:=] ?verbatim\b").unwrap();
        assert!(confirming_factor(&hir, &[b"note".to_vec()], false).is_some());
    }

    #[test]
    fn literals_after_non_word_bytes_start_words() {
        // `\s*` may match nothing, but `[` is no letter: "jailbreak" starts a word in every
        // match; "mode" may follow a digit.
        let f = factor(r"(?i)\[\s*(?:x\d+mode|jailbreak)\]").unwrap();
        assert_eq!(texts(&f), ["jailbreak", "mode"]);
        assert!(f.starts_word(b"jailbreak"));
        assert!(!f.starts_word(b"mode"));
        // Without a `\b` the planner does not count the hits as fewer.
        assert!(!f.word);
        // A kept literal stands for the longer ones it begins: "config" may start inside a word
        // because "configuration" may.
        let f = factor(r"(?i)(?:\s+config|x\d+configuration)=").unwrap();
        assert_eq!(texts(&f), ["config"]);
        assert!(!f.starts_word(b"config"));
        let f = factor(r"(?i)(?:\s+config|;configuration)=").unwrap();
        assert!(f.starts_word(b"config"));
    }

    #[test]
    fn optional_parts_are_not_required() {
        assert!(factor(r"(?:verbatim)?\d+").is_none());
    }
}
