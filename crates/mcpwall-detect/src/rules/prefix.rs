//! Literal prefixes of a regular expression, used as anchors for the multi-pattern automaton.
//!
//! The automaton matches ASCII case-insensitively, so a class such as `[Ii]` counts as the one
//! literal byte `i`, and `(?i)ignore` has the single prefix `ignore` (where a generic extractor
//! would see 64 case variants).

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

fn usable(lits: Vec<Vec<u8>>) -> Option<Vec<Vec<u8>>> {
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
                    return Prefixes::open();
                }
            }
            Prefixes { lits, exact }
        }
    }
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
    let mut out = Vec::new();
    match class {
        Class::Bytes(c) => {
            for r in c.ranges() {
                if usize::from(r.end() - r.start()) > 8 {
                    return None;
                }
                for b in r.start()..=r.end() {
                    out.push(b.to_ascii_lowercase());
                }
            }
        }
        Class::Unicode(c) => {
            for r in c.ranges() {
                let (s, e) = (u32::from(r.start()), u32::from(r.end()));
                if e - s > 8 || e >= 0x80 {
                    return None;
                }
                for cp in s..=e {
                    out.push(u8::try_from(cp).ok()?.to_ascii_lowercase());
                }
            }
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
        assert_eq!(pre(r"(?i)\bignore\s+all"), Some(vec!["ignore".into()]));
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
}
