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
    /// Every literal starts where a word starts (`\b` precedes it in the pattern).
    pub(crate) word: bool,
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
        let word = word && lits.iter().all(|l| l.first().is_some_and(is_word_byte));
        let cost = lits.iter().map(|l| literal_cost(l)).sum();
        Factor {
            lits,
            before,
            after,
            word,
            cost,
        }
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
    best(hir, false)
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

/// `word_before`: a word boundary precedes `hir` in every match.
fn best(hir: &Hir, word_before: bool) -> Option<Factor> {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) | HirKind::Class(_) => None,
        HirKind::Literal(lit) => (lit.0.len() >= prefix::MIN_PREFIX_LEN).then(|| {
            Factor::new(
                vec![lit.0.to_ascii_lowercase()],
                Some(0),
                Some(0),
                word_before,
            )
        }),
        HirKind::Capture(c) => best(&c.sub, word_before),
        HirKind::Repetition(rep) => {
            if rep.min == 0 {
                return None;
            }
            let f = best(&rep.sub, word_before && rep.max == Some(1))?;
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
            for s in subs {
                let f = best(s, word_before)?;
                lits.extend(f.lits);
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
            Some(Factor::new(lits, before, after, word))
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
                let (before, after) = (span(0..i), span(i + 1..subs.len()));
                if let Some(f) = best(&subs[i], wb) {
                    found = better(found, f.widen(before, after));
                }
                // Literal text running on from here ("send " + (the|all) + " data").
                let starts_run = is_text(&subs[i]) && (i == 0 || !is_text(&subs[i - 1]));
                if starts_run && let Some(lits) = prefix::sequence_prefixes(&subs[i..]) {
                    let shortest = lits.iter().map(Vec::len).min().unwrap_or(0);
                    let after = span(i..subs.len()).map(|l| l.saturating_sub(shortest));
                    found = better(found, Factor::new(lits, before, after, wb));
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
        assert_eq!(texts(&f), ["instructions", "prompt"]);
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
    fn optional_parts_are_not_required() {
        assert!(factor(r"(?:verbatim)?\d+").is_none());
    }
}
