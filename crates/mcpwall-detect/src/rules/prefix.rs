//! Literal prefixes of a regular expression, used as anchors for the multi-pattern automaton.
//!
//! The automaton matches ASCII case-insensitively, so a class such as `[Ii]` counts as the one
//! literal byte `i`, and `(?i)ignore` has the single prefix `ignore` (where a generic extractor
//! would see 64 case variants).
//!
//! Whitespace that the pattern matches as a run (`\s+`, `\s`, ` +`) between two parts of a
//! prefix is one space in it: the tries of the literal pass take a space in a literal for any
//! run of whitespace (see `trie`), so `\bthe\s+assistant` has the prefix `the assistant` rather
//! than `the`.

use regex_syntax::hir::{Class, Hir, HirKind};

/// At most this many distinct prefixes per pattern; beyond it the rule must list anchors.
const MAX_PREFIXES: usize = 64;
/// Prefixes are not grown past this length.
const MAX_PREFIX_LEN: usize = 16;
/// Shorter prefixes would make the automaton fire on most text.
pub(crate) const MIN_PREFIX_LEN: usize = 2;

struct Prefixes {
    lits: Vec<Vec<u8>>,
    /// Whether each literal covers the whole of the sub-expression, so that what follows the
    /// sub-expression can extend it.
    exact: bool,
}

impl Prefixes {
    fn open() -> Self {
        Prefixes {
            lits: vec![Vec::new()],
            exact: false,
        }
    }
}

/// The literal prefixes (lower-cased) one of which starts every match of `hir`, or `None` when
/// the pattern has no usable prefix of at least [`MIN_PREFIX_LEN`] bytes.
pub(crate) fn literal_prefixes(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    usable(prefixes(hir).lits)
}

fn usable(mut lits: Vec<Vec<u8>>) -> Option<Vec<Vec<u8>>> {
    // A run of whitespace that ends a prefix says nothing about what follows it.
    for l in &mut lits {
        while l.last() == Some(&b' ') {
            l.pop();
        }
    }
    if lits.is_empty() || lits.iter().any(|l| l.len() < MIN_PREFIX_LEN) {
        return None;
    }
    Some(minimal(lits))
}

/// Sorts literals and drops those that extend another: the shorter one is found wherever the
/// longer one is.
pub(crate) fn minimal(mut lits: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    lits.sort();
    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(lits.len());
    for l in lits {
        if !kept.last().is_some_and(|k| l.starts_with(k)) {
            kept.push(l);
        }
    }
    kept
}

fn prefixes(hir: &Hir) -> Prefixes {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Prefixes {
            lits: vec![Vec::new()],
            exact: true,
        },
        HirKind::Literal(lit) => Prefixes {
            lits: vec![lit.0.to_ascii_lowercase()],
            exact: true,
        },
        HirKind::Class(class) => match class_bytes(class) {
            Some(bytes) => Prefixes {
                lits: bytes.into_iter().map(|b| vec![b]).collect(),
                exact: true,
            },
            None => Prefixes::open(),
        },
        HirKind::Capture(cap) => prefixes(&cap.sub),
        HirKind::Repetition(rep) => {
            if rep.min == 0 {
                Prefixes::open()
            } else {
                let inner = prefixes(&rep.sub);
                Prefixes {
                    lits: inner.lits,
                    exact: inner.exact && rep.min == 1 && rep.max == Some(1),
                }
            }
        }
        HirKind::Concat(subs) => seq_prefixes(subs),
        HirKind::Alternation(subs) => {
            let mut lits = Vec::new();
            let mut exact = true;
            for sub in subs {
                let p = prefixes(sub);
                exact &= p.exact;
                lits.extend(p.lits);
                if lits.len() > MAX_PREFIXES {
                    // Phrases multiply ("must be" + six verbs + three prepositions): cut them
                    // back at their spaces until the set is small enough.
                    match fewer(std::mem::take(&mut lits)) {
                        Some(l) => {
                            lits = l;
                            exact = false;
                        }
                        None => return Prefixes::open(),
                    }
                }
            }
            Prefixes { lits, exact }
        }
    }
}

/// At most [`MAX_PREFIXES`] prefixes that start every match that `lits` start: each literal
/// cut back to before its last space, until few enough; `None` when cutting is not enough.
fn fewer(mut lits: Vec<Vec<u8>>) -> Option<Vec<Vec<u8>>> {
    while lits.len() > MAX_PREFIXES {
        let mut cut = false;
        for l in &mut lits {
            if let Some(p) = l.iter().rposition(|&b| b == b' ') {
                l.truncate(p);
                cut = true;
            }
        }
        if !cut {
            return None;
        }
        lits = minimal(lits);
    }
    Some(lits)
}

/// The literal prefixes (lower-cased) of a sequence of sub-expressions matched one after the
/// other, or `None` as for [`literal_prefixes`].
pub(crate) fn sequence_prefixes(subs: &[Hir]) -> Option<Vec<Vec<u8>>> {
    usable(seq_prefixes(subs).lits)
}

fn seq_prefixes(subs: &[Hir]) -> Prefixes {
    let mut acc = Prefixes {
        lits: vec![Vec::new()],
        exact: true,
    };
    for sub in subs {
        if !acc.exact || acc.lits.iter().all(|l| l.len() >= MAX_PREFIX_LEN) {
            acc.exact = false;
            break;
        }
        if is_whitespace_run(sub) {
            // Inside a prefix only: at its start the run would be the literal's first byte,
            // and a hit there could start in the middle of the run.
            if acc.lits.iter().any(|l| l.is_empty() || l.ends_with(b" ")) {
                acc.exact = false;
                break;
            }
            for l in &mut acc.lits {
                l.push(b' ');
            }
            continue;
        }
        // One byte or one literal extends every prefix in place: most parts of a pattern are
        // (case-folded classes of one letter), and copying the set at each was most of the
        // time the planner took.
        if let Some((bytes, byte)) = single_literal(sub) {
            for l in &mut acc.lits {
                l.extend(bytes.iter().map(u8::to_ascii_lowercase));
                l.extend(byte);
            }
            continue;
        }
        let next = prefixes(sub);
        if acc.lits.len() * next.lits.len() > MAX_PREFIXES {
            acc.exact = false;
            break;
        }
        let mut lits = Vec::with_capacity(acc.lits.len() * next.lits.len());
        for a in &acc.lits {
            for b in &next.lits {
                let mut l = a.clone();
                l.extend_from_slice(b);
                lits.push(l);
            }
        }
        acc = Prefixes {
            lits,
            exact: next.exact,
        };
    }
    acc
}

/// The bytes `hir` matches when it matches exactly one literal (up to ASCII case), as
/// [`prefixes`] would give them with `exact`: a literal's bytes, or a class's one byte.
fn single_literal(hir: &Hir) -> Option<(&[u8], Option<u8>)> {
    match hir.kind() {
        HirKind::Literal(lit) => Some((&lit.0, None)),
        HirKind::Class(class) => {
            let mut one: Option<u8> = None;
            for (lo, hi) in ranges(class) {
                for b in lo..=hi {
                    let b = u8::try_from(b).ok()?;
                    if matches!(class, Class::Unicode(_)) && b >= 0x80 {
                        return None;
                    }
                    let b = b.to_ascii_lowercase();
                    match one {
                        None => one = Some(b),
                        Some(o) if o == b => {}
                        Some(_) => return None,
                    }
                }
            }
            one.map(|b| (&[][..], Some(b)))
        }
        _ => None,
    }
}

/// Whether `hir` matches one or more ASCII whitespace bytes, space among them: `\s+`, `\s`,
/// `[ \t]{1,3}`, ` +`.
fn is_whitespace_run(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Class(class) => {
            let mut has_space = false;
            for (lo, hi) in ranges(class) {
                for b in lo..=hi {
                    match u8::try_from(b) {
                        Ok(b' ') => has_space = true,
                        Ok(b'\t' | b'\n' | 0x0b | 0x0c | b'\r') => {}
                        _ => return false,
                    }
                }
            }
            has_space
        }
        HirKind::Literal(lit) => lit.0.as_ref() == b" ",
        HirKind::Repetition(rep) => {
            rep.min >= 1
                && matches!(rep.sub.kind(), HirKind::Class(_) | HirKind::Literal(_))
                && is_whitespace_run(&rep.sub)
        }
        HirKind::Capture(cap) => is_whitespace_run(&cap.sub),
        _ => false,
    }
}

/// A class's ranges as code points (bytes for a byte class).
fn ranges(class: &Class) -> impl Iterator<Item = (u32, u32)> + '_ {
    let (bytes, unicode) = match class {
        Class::Bytes(c) => (c.ranges(), &[][..]),
        Class::Unicode(c) => (&[][..], c.ranges()),
    };
    bytes
        .iter()
        .map(|r| (u32::from(r.start()), u32::from(r.end())))
        .chain(
            unicode
                .iter()
                .map(|r| (u32::from(r.start()), u32::from(r.end()))),
        )
}

/// Whether every match of `hir` starts at an ASCII word boundary (the pattern begins with `\b`
/// on every branch).
pub(crate) fn starts_at_word_boundary(hir: &Hir) -> bool {
    use regex_syntax::hir::Look;
    match hir.kind() {
        HirKind::Look(l) => matches!(
            l,
            Look::WordAscii | Look::WordUnicode | Look::WordStartAscii | Look::WordStartUnicode
        ),
        HirKind::Concat(subs) => subs.first().is_some_and(starts_at_word_boundary),
        HirKind::Capture(c) => starts_at_word_boundary(&c.sub),
        HirKind::Alternation(subs) => subs.iter().all(starts_at_word_boundary),
        _ => false,
    }
}

/// The lower-cased bytes of a small class (at most eight bytes after case folding), else `None`.
fn class_bytes(class: &Class) -> Option<Vec<u8>> {
    let unicode = matches!(class, Class::Unicode(_));
    let mut out = Vec::new();
    for (s, e) in ranges(class) {
        // Code points past ASCII are not the bytes of the same value.
        if e - s > 8 || (unicode && e >= 0x80) {
            return None;
        }
        for b in s..=e {
            out.push(u8::try_from(b).ok()?.to_ascii_lowercase());
        }
    }
    out.sort_unstable();
    out.dedup();
    // A class of several bytes extends a prefix only when they are letters or digits (`gh[pousr]_`);
    // `\s` or `[,;]` after a word says nothing useful.
    let useful = out.len() == 1 || out.iter().all(u8::is_ascii_alphanumeric);
    (out.len() <= 8 && useful).then_some(out)
}

/// Parses a pattern the way literal analysis sees it: bytes, so that case folding and classes
/// stay within ASCII, which is what the automaton matches.
pub(crate) fn parse_bytes(pattern: &str) -> Result<Hir, Box<regex_syntax::Error>> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .map_err(Box::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pre(p: &str) -> Option<Vec<String>> {
        let hir = parse_bytes(p).unwrap();
        literal_prefixes(&hir).map(|v| {
            v.into_iter()
                .map(|l| String::from_utf8(l).unwrap())
                .collect()
        })
    }

    #[test]
    fn extracts_case_folded_prefixes() {
        assert_eq!(pre(r"(?i)\bignore\s+all"), Some(vec!["ignore all".into()]));
        assert_eq!(
            pre(r"(?i)\b(?:ignore|disregard)\b"),
            Some(vec!["disregard".into(), "ignore".into()])
        );
        assert_eq!(pre(r"AKIA[0-9A-Z]{16}"), Some(vec!["akia".into()]));
        assert_eq!(
            pre(r"gh[pousr]_[A-Za-z0-9]{36}"),
            Some(vec![
                "gho_".into(),
                "ghp_".into(),
                "ghr_".into(),
                "ghs_".into(),
                "ghu_".into()
            ])
        );
    }

    #[test]
    fn refuses_patterns_without_a_prefix() {
        assert_eq!(pre(r"[a-z]+@example"), None);
        assert_eq!(pre(r"(?:abc)?def"), None);
        assert_eq!(pre(r"a|bcd"), None);
    }

    #[test]
    fn whitespace_runs_inside_a_prefix_are_one_space() {
        assert_eq!(
            pre(r"(?i)\bthe\s+(?:assistant|bot)'s"),
            Some(vec!["the assistant's".into(), "the bot's".into()])
        );
        assert_eq!(
            pre(r"(?i)(?:i\s+have|there +is)\s+a\b"),
            Some(vec!["i have a".into(), "there is a".into()])
        );
        // A trailing run is dropped; a leading one, or one that may be empty, ends the prefix.
        assert_eq!(
            pre(r"(?i)\bbefore\s+(?:you\s+)?x"),
            Some(vec!["before".into()])
        );
        assert_eq!(pre(r"\s+abc"), None);
        assert_eq!(pre(r"ab\s*cd"), Some(vec!["ab".into()]));
        assert_eq!(pre(r"ab[\s,]+cd"), Some(vec!["ab".into()]));
        // Too many phrases for one set: cut back at their spaces.
        let many = pre(
            r"(?i)\b(?:aa|bb|cc|dd|ee|ff)\s+(?:gg|hh|ii|jj|kk|ll)|\b(?:mm|nn|oo|pp|qq|rr)\s+(?:ss|tt|uu|vv|ww|xx)",
        );
        assert_eq!(many.as_ref().map(Vec::len), Some(12));
        assert!(many.unwrap().contains(&"aa".to_owned()));
    }
}
